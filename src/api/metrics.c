/*
 * metrics.c - GET /metrics: the metrics registry in the Prometheus text
 * format 0.0.4, with the queue depth counted at the time of the scrape.
 */
#define LOG_MODULE "api"
#include <stdlib.h>

#include "api_int.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

#define METRICS_MAX	(1024 * 1024)	/* the whole exposition */

const char *
api_hook_result(int rc)
{
	switch ((enum err)rc) {
	case ERR_AUTH:
		return "unauthorized";
	case ERR_INVALID:
		return "invalid";
	case ERR_NOTFOUND:
		return "not_found";
	case ERR_TOOBIG:
		return "too_large";
	case ERR_FAIL:
	case ERR_EXISTS:
	case ERR_BUSY:
	case ERR_UPSTREAM:
		return "error";
	}
	return "error";
}

void
api_metrics(struct http_req *req, void *arg)
{
	struct api	*api = arg;
	struct store	*st;
	struct buf	 b;
	int64_t		*ids = NULL;
	size_t		 n;

	/* Without the database the gauge keeps its last value. */
	if (store_thread_get(&st, api->db_path) == 0 &&
	    store_runs_in_state(&ids, &n, st, RUN_QUEUED) == 0)
		metrics_gauge_set(METRICS_QUEUE_DEPTH, (int64_t)n);
	else
		log_warnx("metrics: cannot count queued runs: %s", err_msg());
	free(ids);
	buf_init(&b, METRICS_MAX);
	if (metrics_format(&b) != 0) {
		buf_dispose(&b);
		log_error("metrics: %s", err_msg());
		http_reply_error(req, 500, "internal", "metrics do not fit "
		    "in %d bytes", METRICS_MAX);
		return;
	}
	http_reply_header(req, "Cache-Control", "no-store");
	n = b.len;
	http_reply_take(req, 200, "text/plain; version=0.0.4; charset=utf-8",
	    buf_steal(&b), n);
}

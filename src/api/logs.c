/*
 * logs.c - GET /api/v1/runs/{id}/steps/{name}/log[?follow=1]: a step's
 * stored log as text/plain; with follow=1 a chunked stream of what is
 * there and what is written until the step has ended.
 *
 * The file is the one the executor writes (exec_log_path); secrets are
 * masked before they reach it, so the API serves it as it is. The step
 * name must be one of the run's steps, so the path cannot be steered.
 */
#define LOG_MODULE "api"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_int.h"
#include "config.h"
#include "exec.h"
#include "log.h"
#include "util.h"

#define FOLLOW_WAIT_MS		250	/* between looks at a quiet log */
#define FOLLOW_MAX_MS		(6 * 3600 * 1000LL)

struct follow {
	struct api	*api;
	struct http_req	*req;
	int64_t		 run_id;
	char		*step;
	char		*path;
	int		 fd;		/* -1 until the file exists */
	int64_t		 started;
	bool		 ended;		/* step final: drain, then end */
};

static void
follow_free(void *p)
{
	struct follow	*f = p;

	if (f->fd >= 0)
		close(f->fd);
	free(f->step);
	free(f->path);
	free(f);
}

/* True when the step has ended (or no longer exists). */
static bool
step_ended(struct follow *f)
{
	struct store	*st;
	struct run	*run;
	bool		 ended = true;
	size_t		 i;

	if (store_thread_get(&st, f->api->db_path) != 0 ||
	    store_run_get(&run, st, f->run_id) != 0)
		return true;
	for (i = 0; i < run->nsteps; i++)
		if (strcmp(run->steps[i].name, f->step) == 0)
			ended = step_status_final(run->steps[i].status) ||
			    (run_status_final(run->status) &&
			    run->steps[i].status == STEP_PENDING);
	run_free(run);
	return ended;
}

static ssize_t
follow_read(void *arg, uint64_t pos, char *buf, size_t max)
{
	struct follow	*f = arg;
	ssize_t		 n;

	(void)pos;
	if (http_server_stopping(f->req) ||
	    time_mono_ms() - f->started > FOLLOW_MAX_MS)
		return HTTP_STREAM_END;
	if (f->fd < 0)
		f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
	if (f->fd >= 0) {
		n = read(f->fd, buf, max);
		if (n > 0)
			return n;
		if (n < 0 && errno != EINTR)
			return HTTP_STREAM_ERROR;
	}
	/* At the end of what is written: done if the step has ended. */
	if (f->ended)
		return HTTP_STREAM_END;
	if (step_ended(f)) {
		f->ended = true;	/* one more read drains the rest */
		return 0;
	}
	(void)poll(NULL, 0, FOLLOW_WAIT_MS);
	return 0;
}

void
api_step_log(struct http_req *req, void *arg)
{
	struct api	*api = arg;
	struct store	*st;
	struct run	*run;
	struct follow	*f;
	const char	*name = http_req_param(req, 1), *fv;
	char		*path, *text = NULL;
	size_t		 len = 0, i;
	int64_t		 id;
	int		 rc;
	bool		 found = false;

	if (parse_int64(&id, http_req_param(req, 0), 1, INT64_MAX) != 0) {
		http_reply_error(req, 404, "not_found", "no run %.32s",
		    http_req_param(req, 0));
		return;
	}
	if (api_store(&st, api, req) != 0)
		return;
	if ((rc = store_run_get(&run, st, id)) != 0) {
		api_reply_err(req, rc);
		return;
	}
	for (i = 0; i < run->nsteps; i++)
		found |= strcmp(run->steps[i].name, name) == 0;
	run_free(run);
	if (!found) {
		http_reply_error(req, 404, "not_found", "run %" PRId64 " has no "
		    "step %.64s", id, name);
		return;
	}
	path = exec_log_path(api->cfg->data_dir, id, name);
	fv = http_req_query(req, "follow");
	if (fv != NULL && (strcmp(fv, "1") == 0 || strcmp(fv, "true") == 0)) {
		f = xcalloc(1, sizeof(*f));
		f->api = api;
		f->req = req;
		f->run_id = id;
		f->step = xstrdup(name);
		f->path = path;
		f->fd = -1;
		f->started = time_mono_ms();
		http_reply_header(req, "X-Accel-Buffering", "no");
		http_reply_stream(req, 200, "text/plain; charset=utf-8",
		    follow_read, f, follow_free);
		return;
	}
	rc = file_read(&text, &len, path,
	    (size_t)api->cfg->log_max + 4096);
	free(path);
	if (rc == ERR_NOTFOUND) {
		http_reply(req, 200, "text/plain; charset=utf-8", "", 0);
		return;
	}
	if (rc != 0) {
		api_reply_err(req, rc);
		return;
	}
	http_reply_take(req, 200, "text/plain; charset=utf-8", text, len);
}

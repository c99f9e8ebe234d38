/*
 * source.c - GET /source/{run}.tar.gz?token=T: the commit's tree as a
 * gzip'd tar, made on the fly from the mirror, for the sandbox that runs
 * the steps (Kubernetes init containers fetch it; pods need no git
 * credentials). The token is random per run and compared in constant
 * time; a wrong token is a 404 (nothing confirms the run exists), an
 * ended run's token a 403. No byte of the tree is sent before both
 * checks passed.
 */
#define LOG_MODULE "api"
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "log.h"
#include "repo.h"
#include "util.h"

static ssize_t
source_read(void *arg, uint64_t pos, char *buf, size_t max)
{
	ssize_t	n;

	(void)pos;
	n = repo_archive_read(arg, buf, max);
	if (n > 0)
		return n;
	if (n == 0)
		return HTTP_STREAM_END;
	log_warnx("source archive failed: %s", err_msg());
	return HTTP_STREAM_ERROR;
}

static void
source_close(void *arg)
{
	repo_archive_close(arg);
}

void
api_source(struct http_req *req, void *arg)
{
	struct api		*api = arg;
	struct store		*st;
	struct run		*run = NULL;
	struct repo_archive	*a;
	const char		*param = http_req_param(req, 0), *token;
	char			*idstr = NULL, *want = NULL;
	size_t			 len = strlen(param);
	int64_t			 id;
	int			 rc;

	token = http_req_query(req, "token");
	if (len <= 7 || strcmp(param + len - 7, ".tar.gz") != 0)
		goto notfound;
	idstr = xstrndup(param, len - 7);
	if (parse_int64(&id, idstr, 1, INT64_MAX) != 0 || token == NULL ||
	    api->rc == NULL)
		goto notfound;
	if (api_store(&st, api, req) != 0)
		goto out;
	if (store_run_get(&run, st, id) != 0 ||
	    store_run_token(&want, st, id) != 0 || !ct_streq(token, want))
		goto notfound;
	if (run_status_final(run->status)) {
		http_reply_error(req, 403, "forbidden", "run %" PRId64 " has "
		    "ended; its source token has expired", id);
		goto out;
	}
	if ((rc = repo_archive_open(&a, api->rc, run->repo,
	    run->commit)) != 0) {
		api_reply_err(req, rc);
		goto out;
	}
	http_reply_header(req, "Content-Disposition",
	    "attachment; filename=\"source.tar.gz\"");
	http_reply_stream(req, 200, "application/gzip", source_read, a,
	    source_close);
	goto out;
notfound:
	http_reply_error(req, 404, "not_found", "no such source archive");
out:
	free_secret(want);
	free(idstr);
	run_free(run);
}

/*
 * runs.c - the read API: GET /api/v1/runs, /api/v1/runs/{id},
 * /api/v1/repos.
 */
#define LOG_MODULE "api"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "api_int.h"
#include "config.h"
#include "log.h"
#include "util.h"

#define RUNS_LIMIT_DEFAULT	20
#define RUNS_LIMIT_MAX		200

static int
runs_filter_parse(struct run_filter *f, const struct http_req *req)
{
	const char	*v;
	int64_t		 n;

	f->repo = http_req_query(req, "repo");
	if (f->repo != NULL && *f->repo == '\0')
		f->repo = NULL;
	f->status = -1;
	f->limit = RUNS_LIMIT_DEFAULT;
	f->before = 0;
	if ((v = http_req_query(req, "status")) != NULL && *v != '\0' &&
	    (f->status = run_status_parse(v)) < 0)
		return err_set(ERR_INVALID, "unknown status \"%.32s\" (queued, "
		    "running, succeeded, failed, cancelled, error)", v);
	if ((v = http_req_query(req, "limit")) != NULL && *v != '\0') {
		if (parse_int64(&n, v, 1, RUNS_LIMIT_MAX) != 0)
			return err_set(ERR_INVALID, "limit must be a number "
			    "from 1 to %d", RUNS_LIMIT_MAX);
		f->limit = (int)n;
	}
	if ((v = http_req_query(req, "before")) != NULL && *v != '\0') {
		if (parse_int64(&n, v, 1, INT64_MAX) != 0)
			return err_set(ERR_INVALID, "before must be a cursor "
			    "from a previous page's \"next\"");
		f->before = n;
	}
	return 0;
}

void
api_runs_list(struct http_req *req, void *arg)
{
	struct api		*api = arg;
	struct store		*st;
	struct run_filter	 f;
	struct run_list		 l = { 0 };
	cJSON			*doc, *runs;
	char			 next[32];
	size_t			 i;
	int			 rc;

	if ((rc = runs_filter_parse(&f, req)) != 0) {
		api_reply_err(req, rc);
		return;
	}
	if (api_store(&st, api, req) != 0)
		return;
	if ((rc = store_run_list(&l, st, &f)) != 0) {
		api_reply_err(req, rc);
		return;
	}
	doc = cJSON_CreateObject();
	runs = cJSON_AddArrayToObject(doc, "runs");
	for (i = 0; i < l.n; i++)
		cJSON_AddItemToArray(runs, api_run_json(l.runs[i]));
	if (l.next > 0) {
		snprintf(next, sizeof(next), "%" PRId64, l.next);
		cJSON_AddStringToObject(doc, "next", next);
	} else
		cJSON_AddNullToObject(doc, "next");
	run_list_dispose(&l);
	api_reply_json(req, 200, doc);
}

/* Parses the {id} path parameter; replies 404 and fails if bad. */
static int
run_id_param(int64_t *out, struct http_req *req, size_t i)
{
	const char	*s = http_req_param(req, i);

	if (parse_int64(out, s, 1, INT64_MAX) != 0) {
		http_reply_error(req, 404, "not_found", "no run %.32s", s);
		return ERR_NOTFOUND;
	}
	return 0;
}

void
api_run_get(struct http_req *req, void *arg)
{
	struct api	*api = arg;
	struct store	*st;
	struct run	*run;
	int64_t		 id;
	int		 rc;

	if (run_id_param(&id, req, 0) != 0)
		return;
	if (api_store(&st, api, req) != 0)
		return;
	if ((rc = store_run_get(&run, st, id)) != 0) {
		api_reply_err(req, rc);
		return;
	}
	api_reply_json(req, 200, api_run_json(run));
	run_free(run);
}

void
api_repos_list(struct http_req *req, void *arg)
{
	struct api		*api = arg;
	struct store		*st;
	struct repo_summary	*v;
	size_t			 n, i;
	cJSON			*doc, *repos, *r;
	int			 rc;

	if (api_store(&st, api, req) != 0)
		return;
	if ((rc = store_repo_list(&v, &n, st)) != 0) {
		api_reply_err(req, rc);
		return;
	}
	doc = cJSON_CreateObject();
	repos = cJSON_AddArrayToObject(doc, "repos");
	for (i = 0; i < n; i++) {
		/* Repositories dropped from the config keep their rows. */
		if (config_repo_by_name(api->cfg, v[i].name) == NULL)
			continue;
		r = cJSON_CreateObject();
		cJSON_AddStringToObject(r, "name", v[i].name);
		cJSON_AddStringToObject(r, "provider", v[i].provider);
		cJSON_AddStringToObject(r, "branch", v[i].branch);
		if (v[i].last != NULL)
			cJSON_AddItemToObject(r, "last_run",
			    api_run_json(v[i].last));
		else
			cJSON_AddNullToObject(r, "last_run");
		cJSON_AddItemToArray(repos, r);
	}
	repo_summaries_free(v, n);
	api_reply_json(req, 200, doc);
}

/*
 * api.c - the route table and the helpers every handler shares: JSON
 * replies, the error-code mapping, the per-thread store connection.
 */
#define LOG_MODULE "api"
#include "api.h"

#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "log.h"
#include "util.h"

static const struct http_route api_route_table[] = {
	{ "POST", "/hooks/github", api_hook_github },
	{ "POST", "/hooks/gitlab", api_hook_gitlab },
	{ "GET", "/api/v1/runs", api_runs_list },
	{ "GET", "/api/v1/runs/{}", api_run_get },
	{ "GET", "/api/v1/runs/{}/steps/{}/log", api_step_log },
	{ "POST", "/api/v1/runs/{}/cancel", api_run_cancel },
	{ "POST", "/api/v1/runs/{}/rerun", api_run_rerun },
	{ "POST", "/api/v1/repos/{}/{}/runs", api_repo_run },
	{ "GET", "/source/{}", api_source },
	{ "GET", "/api/v1/repos", api_repos_list },
	{ "GET", "/api/v1/events", api_events },
	{ "GET", "/api/v1/openapi.json", api_openapi },
	{ "GET", "/badge/{}/{}", api_badge },
	{ "GET", "/metrics", api_metrics },
	{ "GET", "/healthz", api_healthz },
	{ "GET", "/readyz", api_readyz },
	/* Last: the status page's files, "/" included. */
	{ "GET", "/", api_static },
	{ "GET", "/static/*", api_static },
};

int
api_new(struct api **out, const struct config *cfg, const char *db_path)
{
	struct api	*api;

	api = xcalloc(1, sizeof(*api));
	api->cfg = cfg;
	api->db_path = xstrdup(db_path);
	/* Ids grow across restarts: an old Last-Event-ID gets a reset. */
	api->events = events_new(EVENTS_RING_DEFAULT, EVENTS_SUBS_DEFAULT,
	    time_now_ms());
	api->group = store_group_new(db_path, api_hooks_committed, api);
	pthread_mutex_init(&api->publish_mtx, NULL);
	*out = api;
	return 0;
}

void
api_free(struct api *api)
{
	if (api == NULL)
		return;
	events_free(api->events);
	store_group_free(api->group);
	pthread_mutex_destroy(&api->publish_mtx);
	free(api->db_path);
	free(api);
}

void
api_set_wake(struct api *api, api_wake_fn *fn, void *arg)
{
	api->wake = fn;
	api->wake_arg = arg;
}

void
api_set_notify(struct api *api, api_notify_fn *fn, void *arg)
{
	api->notify = fn;
	api->notify_arg = arg;
}

void
api_set_repo_cache(struct api *api, struct repo_cache *rc)
{
	api->rc = rc;
}

const struct http_route *
api_routes(size_t *n_out)
{
	*n_out = sizeof(api_route_table) / sizeof(api_route_table[0]);
	return api_route_table;
}

void
api_reply_json(struct http_req *req, int status, cJSON *doc)
{
	char	*text, *fixed;

	text = cJSON_PrintUnformatted(doc);
	cJSON_Delete(doc);
	ASSERT(text != NULL);
	if ((fixed = utf8_fix(text)) != NULL) {
		free(text);
		text = fixed;
	}
	http_reply_take(req, status, "application/json", text, strlen(text));
}

void
api_reply_err(struct http_req *req, int rc)
{
	int		 status = 500;
	const char	*code = "internal";

	switch ((enum err)rc) {
	case ERR_FAIL:
		status = 500;
		code = "internal";
		break;
	case ERR_INVALID:
		status = 400;
		code = "invalid_argument";
		break;
	case ERR_AUTH:
		status = 401;
		code = "unauthorized";
		break;
	case ERR_NOTFOUND:
		status = 404;
		code = "not_found";
		break;
	case ERR_EXISTS:
		status = 409;
		code = "conflict";
		break;
	case ERR_TOOBIG:
		status = 413;
		code = "too_large";
		break;
	case ERR_BUSY:
		status = 503;
		code = "unavailable";
		http_reply_header(req, "Retry-After", "1");
		break;
	case ERR_UPSTREAM:
		status = 502;
		code = "upstream";
		break;
	}
	if (status == 500)
		log_error("internal error: %s", err_msg());
	http_reply_error(req, status, code, "%s", err_msg());
}

int
api_store(struct store **out, struct api *api, struct http_req *req)
{
	int	rc;

	if ((rc = store_thread_get(out, api->db_path)) != 0) {
		log_error("cannot open database: %s", err_msg());
		http_reply_error(req, 503, "unavailable",
		    "database unavailable");
	}
	return rc;
}

void
api_healthz(struct http_req *req, void *arg)
{
	(void)arg;
	http_reply(req, 200, "application/json", "{\"status\":\"ok\"}", 15);
}

void
api_readyz(struct http_req *req, void *arg)
{
	struct api	*api = arg;
	struct store	*st;
	cJSON		*doc, *checks;
	bool		 ok = true;

	doc = cJSON_CreateObject();
	checks = cJSON_AddObjectToObject(doc, "checks");
	if (store_thread_get(&st, api->db_path) != 0 || store_ping(st) != 0) {
		ok = false;
		cJSON_AddStringToObject(checks, "database", err_msg());
	} else
		cJSON_AddStringToObject(checks, "database", "ok");
	cJSON_AddStringToObject(doc, "status", ok ? "ready" : "not ready");
	api_reply_json(req, ok ? 200 : 503, doc);
}

/*
 * control.c - the mutating API: cancel, rerun and manual runs. Each
 * needs a Bearer token from api_tokens (401 without one, 403 with a
 * wrong one), compared in constant time.
 */
#define LOG_MODULE "api"
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_int.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

/* 0 if the request carries a configured token; else replies 401/403. */
static int
api_auth(struct http_req *req, struct api *api)
{
	const char	*h = http_req_header(req, "Authorization");
	bool		 ok = false;
	size_t		 i;

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0 || h[7] == '\0') {
		http_reply_header(req, "WWW-Authenticate",
		    "Bearer realm=\"ferry\"");
		http_reply_error(req, 401, "unauthorized",
		    "this call needs an Authorization: Bearer <token> header");
		return ERR_AUTH;
	}
	h += 7;
	/* Every token is compared, so timing does not tell which matched. */
	for (i = 0; i < api->cfg->napi_tokens; i++)
		ok |= ct_streq(h, api->cfg->api_tokens[i]);
	if (!ok) {
		log_info("rejected API call: %s %s: invalid bearer token",
		    http_req_method(req), http_req_path(req));
		http_reply_error(req, 403, "forbidden", api->cfg->napi_tokens ?
		    "invalid token" : "no api_tokens are configured");
		return ERR_AUTH;
	}
	return 0;
}

static int
path_run_id(int64_t *out, struct http_req *req)
{
	if (parse_int64(out, http_req_param(req, 0), 1, INT64_MAX) != 0) {
		http_reply_error(req, 404, "not_found", "no run %.32s",
		    http_req_param(req, 0));
		return ERR_NOTFOUND;
	}
	return 0;
}

static void
reply_run_id(struct http_req *req, int status, int64_t id,
    const char *state)
{
	cJSON	*doc = cJSON_CreateObject();

	cJSON_AddNumberToObject(doc, "run_id", (double)id);
	if (state != NULL)
		cJSON_AddStringToObject(doc, "status", state);
	api_reply_json(req, status, doc);
}

void
api_run_cancel(struct http_req *req, void *arg)
{
	struct api	*api = arg;
	struct store	*st;
	enum run_status	 was;
	int64_t		 id;
	int		 rc;

	if (api_auth(req, api) != 0 || path_run_id(&id, req) != 0 ||
	    api_store(&st, api, req) != 0)
		return;
	rc = store_run_cancel(&was, st, id, "cancelled through the API");
	if (rc == ERR_INVALID) {
		http_reply_error(req, 409, "conflict", "%s", err_msg());
		return;
	}
	if (rc != 0) {
		api_reply_err(req, rc);
		return;
	}
	log_info("run=%" PRId64 " cancel requested through the API (%s)",
	    id, was == RUN_CANCELLED ? "was queued" : "running");
	if (was == RUN_CANCELLED)
		metrics_inc(METRICS_RUNS, "cancelled", NULL);
	if (api->wake != NULL)
		api->wake(api->wake_arg);
	if (api->notify != NULL)
		api->notify(api->notify_arg, id);
	reply_run_id(req, 202, id, was == RUN_CANCELLED ? "cancelled" :
	    "cancelling");
}

/* Enqueues a copy of template as trigger; replies 201. */
static void
enqueue_reply(struct http_req *req, struct api *api, struct store *st,
    struct run *r)
{
	int64_t	id;
	int	rc;

	if ((rc = store_run_enqueue(&id, st, r)) != 0) {
		api_reply_err(req, rc);
		return;
	}
	log_info("run=%" PRId64 " repo=%s commit=%.12s queued (%s)", id,
	    r->repo, r->commit, r->trigger);
	if (api->notify != NULL)
		api->notify(api->notify_arg, id);
	if (api->wake != NULL)
		api->wake(api->wake_arg);
	reply_run_id(req, 201, id, NULL);
}

void
api_run_rerun(struct http_req *req, void *arg)
{
	struct api	*api = arg;
	struct store	*st;
	struct run	*run, r;
	int64_t		 id;
	int		 rc;

	if (api_auth(req, api) != 0 || path_run_id(&id, req) != 0 ||
	    api_store(&st, api, req) != 0)
		return;
	if ((rc = store_run_get(&run, st, id)) != 0) {
		api_reply_err(req, rc);
		return;
	}
	if (config_repo_by_name(api->cfg, run->repo) == NULL) {
		http_reply_error(req, 409, "conflict", "repository %s is no "
		    "longer configured", run->repo);
		run_free(run);
		return;
	}
	memset(&r, 0, sizeof(r));
	r = *run;
	r.steps = NULL;
	r.nsteps = 0;
	r.delivery_id = NULL;
	r.trigger = "rerun";
	enqueue_reply(req, api, st, &r);
	run_free(run);
}

static bool
is_sha(const char *s)
{
	size_t	i;

	for (i = 0; s[i]; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return i == 40;
}

void
api_repo_run(struct http_req *req, void *arg)
{
	struct api			*api = arg;
	const struct config_repo	*repo;
	struct store			*st;
	struct run			 r;
	const char			*body;
	cJSON				*doc, *commit;
	char				*name, sha[41];
	size_t				 len, i;

	if (api_auth(req, api) != 0)
		return;
	name = xasprintf("%s/%s", http_req_param(req, 0),
	    http_req_param(req, 1));
	repo = config_repo_by_name(api->cfg, name);
	free(name);
	if (repo == NULL) {
		http_reply_error(req, 404, "not_found", "repository %s/%s is "
		    "not configured", http_req_param(req, 0),
		    http_req_param(req, 1));
		return;
	}
	body = http_req_body(req, &len);
	doc = cJSON_ParseWithLength(body, len);
	commit = cJSON_GetObjectItemCaseSensitive(doc, "commit");
	if (doc == NULL || !cJSON_IsObject(doc) || !cJSON_IsString(commit) ||
	    !is_sha(commit->valuestring)) {
		cJSON_Delete(doc);
		http_reply_error(req, 400, "invalid_argument", "the body must "
		    "be {\"commit\": \"<40 hex digit sha>\"}");
		return;
	}
	for (i = 0; i < 40; i++)
		sha[i] = (char)tolower((unsigned char)commit->valuestring[i]);
	sha[40] = '\0';
	cJSON_Delete(doc);
	if (api_store(&st, api, req) != 0)
		return;
	memset(&r, 0, sizeof(r));
	r.repo = repo->name;
	r.provider = (char *)config_provider_name(repo->provider);
	r.branch = repo->branch;
	r.commit = sha;
	r.message = "";
	r.author = "";
	r.pusher = "api";
	r.trigger = "manual";
	enqueue_reply(req, api, st, &r);
}

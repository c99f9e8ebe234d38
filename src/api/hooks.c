/*
 * hooks.c - POST /hooks/github and /hooks/gitlab (SPEC.md "HTTP
 * interface", webhook table).
 *
 * DESIGN: the order of checks decides which answer a bad request gets,
 * and nothing is stored before all of them passed: event header (400),
 * a missing or malformed signature or token (401), body shape (400),
 * repository name (400) and whether it is configured (404), the
 * signature or token over the raw body (401), event type (200
 * ignored), push fields (400), branch rules (200 ignored), and only then
 * one transaction that records the delivery and the run; 202 is sent
 * after it committed. The HTTP thread never waits on the network.
 */
#define LOG_MODULE "hook"
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "config.h"
#include "hook.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

#define DELIVERY_ID_MAX	128

/* A delivery id is short printable ASCII without spaces, or absent. */
static int
delivery_id_check(const char *id)
{
	const char	*p;

	if (id == NULL)
		return 0;
	if (*id == '\0' || strlen(id) > DELIVERY_ID_MAX)
		goto bad;
	for (p = id; *p; p++)
		if (!isgraph((unsigned char)*p))
			goto bad;
	return 0;
bad:
	return err_set(ERR_INVALID, "delivery id header must be 1 to %d "
	    "printable characters", DELIVERY_ID_MAX);
}

static void
reply_ignored(struct http_req *req, const char *provider, const char *id,
    const char *why)
{
	cJSON	*doc = cJSON_CreateObject();

	log_info("provider=%s delivery=%s ignored: %s", provider,
	    id ? id : "-", why);
	metrics_inc(METRICS_WEBHOOKS, provider, "ignored");
	cJSON_AddStringToObject(doc, "ignored", why);
	api_reply_json(req, 200, doc);
}

static void
reply_reject(struct http_req *req, const char *provider, const char *id,
    int rc)
{
	log_info("provider=%s delivery=%s rejected (%s): %s", provider,
	    id ? id : "-", err_name(rc), err_msg());
	metrics_inc(METRICS_WEBHOOKS, provider, api_hook_result(rc));
	api_reply_err(req, rc);
}

/* cancel_superseded: the new run replaces the branch's queued ones. */
static void
supersede(struct api *api, const struct config_repo *repo,
    const char *branch, int64_t id)
{
	struct store	*st;
	int		 n = 0;

	if (store_thread_get(&st, api->db_path) != 0 ||
	    store_runs_supersede(&n, st, repo->name, branch, id) != 0)
		log_warnx("repo=%s cannot cancel superseded runs: %s",
		    repo->name, err_msg());
	else if (n > 0)
		log_info("repo=%s run=%" PRId64 " cancelled %d queued run(s) "
		    "it supersedes", repo->name, id, n);
	while (n-- > 0)
		metrics_inc(METRICS_RUNS, "cancelled", NULL);
}

void
api_hooks_committed(void *arg, const int64_t *ids, size_t n)
{
	struct api	*api = arg;
	size_t		 i;

	for (i = 0; i < n && api->notify != NULL; i++)
		api->notify(api->notify_arg, ids[i]);
	if (api->wake != NULL)
		api->wake(api->wake_arg);
}

/*
 * Records the run and answers 202, or 200 for a known delivery. The
 * group commit's leader tells the sinks and the workers about the new
 * run (api_hooks_committed).
 */
static void
hook_enqueue(struct http_req *req, struct api *api,
    const struct config_repo *repo, const struct push *p,
    const char *delivery_id)
{
	struct run	 r = { 0 };
	cJSON		*doc;
	int64_t		 id = 0;
	int		 rc;
	const char	*provider = config_provider_name(repo->provider);

	r.repo = repo->name;
	r.provider = (char *)provider;
	r.branch = p->branch;
	r.commit = p->after;
	r.message = p->message;
	r.author = p->author;
	r.pusher = p->pusher;
	r.compare_url = p->compare_url;
	r.delivery_id = (char *)delivery_id;
	r.trigger = "push";
	rc = store_group_enqueue(&id, api->group, &r);
	if (rc == ERR_EXISTS) {
		log_info("provider=%s delivery=%s run=%" PRId64
		    " duplicate delivery", provider, delivery_id, id);
		metrics_inc(METRICS_WEBHOOKS, provider, "duplicate");
		doc = cJSON_CreateObject();
		cJSON_AddNumberToObject(doc, "run_id", (double)id);
		cJSON_AddBoolToObject(doc, "duplicate", 1);
		api_reply_json(req, 200, doc);
		return;
	}
	if (rc != 0) {
		log_warnx("provider=%s delivery=%s repo=%s not recorded: %s",
		    provider, delivery_id ? delivery_id : "-", repo->name,
		    err_msg());
		metrics_inc(METRICS_WEBHOOKS, provider, api_hook_result(rc));
		api_reply_err(req, rc);
		return;
	}
	log_info("provider=%s delivery=%s run=%" PRId64 " repo=%s commit=%.12s"
	    " queued", provider, delivery_id ? delivery_id : "-", id,
	    repo->name, p->after);
	if (repo->cancel_superseded)
		supersede(api, repo, p->branch, id);
	metrics_inc(METRICS_WEBHOOKS, provider, "accepted");
	doc = cJSON_CreateObject();
	cJSON_AddNumberToObject(doc, "run_id", (double)id);
	api_reply_json(req, 202, doc);
}

/* The push rules shared by both providers, then the enqueue. */
static void
hook_push(struct http_req *req, struct api *api,
    const struct config_repo *repo, const struct push *p,
    const char *delivery_id)
{
	char	why[256];

	if (hook_push_ignored(why, sizeof(why), p, repo->branch)) {
		reply_ignored(req, config_provider_name(repo->provider),
		    delivery_id, why);
		return;
	}
	hook_enqueue(req, api, repo, p, delivery_id);
}

void
api_hook_github(struct http_req *req, void *arg)
{
	struct api			*api = arg;
	const struct config_repo	*repo;
	struct push			*p = NULL;
	struct hook_doc			*hd = NULL;
	cJSON				*doc;
	const char			*event, *id, *body;
	char				*json = NULL, why[128];
	size_t				 len, jlen;
	int				 rc;

	event = http_req_header(req, "X-GitHub-Event");
	id = http_req_header(req, "X-GitHub-Delivery");
	body = http_req_body(req, &len);
	if (event == NULL || *event == '\0') {
		rc = err_set(ERR_INVALID, "missing X-GitHub-Event header");
		goto reject;
	}
	if ((rc = delivery_id_check(id)) != 0)
		goto reject;
	/* No usable signature: 401 before the body is even parsed. */
	if ((rc = hook_github_sig_check(http_req_header(req,
	    "X-Hub-Signature-256"))) != 0)
		goto reject;
	if ((rc = hook_github_body(&json, &jlen,
	    http_req_header(req, "Content-Type"), body, len)) != 0)
		goto reject;
	if ((rc = hook_github_doc(&hd, json, jlen)) != 0)
		goto reject;
	repo = config_repo_find(api->cfg, PROVIDER_GITHUB, hook_doc_repo(hd));
	if (repo == NULL) {
		rc = err_set(ERR_NOTFOUND, "repository %.200s is not "
		    "configured", hook_doc_repo(hd));
		goto reject;
	}
	if ((rc = hook_github_verify(repo->secret,
	    http_req_header(req, "X-Hub-Signature-256"), body, len)) != 0)
		goto reject;
	if (strcmp(event, "ping") == 0) {
		log_info("provider=github delivery=%s repo=%s ping",
		    id ? id : "-", repo->name);
		metrics_inc(METRICS_WEBHOOKS, "github", "ignored");
		doc = cJSON_CreateObject();
		cJSON_AddTrueToObject(doc, "ok");
		api_reply_json(req, 200, doc);
		goto out;
	}
	if (strcmp(event, "push") != 0) {
		snprintf(why, sizeof(why), "event %.64s is not handled",
		    event);
		reply_ignored(req, "github", id, why);
		goto out;
	}
	if ((rc = hook_doc_push(&p, hd)) != 0)
		goto reject;
	hook_push(req, api, repo, p, id);
	goto out;
reject:
	reply_reject(req, "github", id, rc);
out:
	push_free(p);
	hook_doc_free(hd);
	free(json);
}

void
api_hook_gitlab(struct http_req *req, void *arg)
{
	struct api			*api = arg;
	const struct config_repo	*repo;
	struct push			*p = NULL;
	struct hook_doc			*hd = NULL;
	const char			*event, *id, *body;
	char				 why[128];
	size_t				 len;
	int				 rc;

	event = http_req_header(req, "X-Gitlab-Event");
	/* Idempotency-Key survives GitLab's retries of one event. */
	if ((id = http_req_header(req, "Idempotency-Key")) == NULL)
		id = http_req_header(req, "X-Gitlab-Event-UUID");
	body = http_req_body(req, &len);
	if (event == NULL || *event == '\0') {
		rc = err_set(ERR_INVALID, "missing X-Gitlab-Event header");
		goto reject;
	}
	if ((rc = delivery_id_check(id)) != 0)
		goto reject;
	if (http_req_header(req, "X-Gitlab-Token") == NULL) {
		rc = err_set(ERR_AUTH, "missing token");
		goto reject;
	}
	if ((rc = hook_gitlab_doc(&hd, body, len)) != 0)
		goto reject;
	repo = config_repo_find(api->cfg, PROVIDER_GITLAB, hook_doc_repo(hd));
	if (repo == NULL) {
		rc = err_set(ERR_NOTFOUND, "repository %.200s is not "
		    "configured", hook_doc_repo(hd));
		goto reject;
	}
	if ((rc = hook_gitlab_verify(repo->secret,
	    http_req_header(req, "X-Gitlab-Token"))) != 0)
		goto reject;
	if (strcmp(event, "Tag Push Hook") == 0) {
		reply_ignored(req, "gitlab", id, "tag push");
		goto out;
	}
	if (strcmp(event, "Push Hook") != 0) {
		snprintf(why, sizeof(why), "event %.64s is not handled",
		    event);
		reply_ignored(req, "gitlab", id, why);
		goto out;
	}
	if ((rc = hook_doc_push(&p, hd)) != 0)
		goto reject;
	hook_push(req, api, repo, p, id);
	goto out;
reject:
	reply_reject(req, "gitlab", id, rc);
out:
	push_free(p);
	hook_doc_free(hd);
}

/*
 * api_int.h - what the api module's files share. Not a public header.
 */
#ifndef FERRY_API_INT_H
#define FERRY_API_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "api.h"
#include "events.h"
#include "http.h"
#include "store.h"

struct api {
	const struct config	*cfg;
	char			*db_path;
	api_wake_fn		*wake;		/* worker wake-up */
	void			*wake_arg;
	api_notify_fn		*notify;	/* a run changed */
	void			*notify_arg;
	struct repo_cache	*rc;		/* source archives; borrowed */
	struct events		*events;	/* live stream; owned */
	struct store_group	*group;		/* webhook commits */
	/* Orders api_run_changed's read-then-publish (events.c). */
	pthread_mutex_t		 publish_mtx;
};

/* Handlers (arg is the struct api). */
void	 api_hook_github(struct http_req *req, void *arg);
void	 api_hook_gitlab(struct http_req *req, void *arg);
void	 api_runs_list(struct http_req *req, void *arg);
void	 api_run_get(struct http_req *req, void *arg);
void	 api_repos_list(struct http_req *req, void *arg);
void	 api_healthz(struct http_req *req, void *arg);
void	 api_readyz(struct http_req *req, void *arg);
void	 api_run_cancel(struct http_req *req, void *arg);
void	 api_run_rerun(struct http_req *req, void *arg);
void	 api_repo_run(struct http_req *req, void *arg);
void	 api_step_log(struct http_req *req, void *arg);
void	 api_source(struct http_req *req, void *arg);
void	 api_events(struct http_req *req, void *arg);	/* events.c */
void	 api_metrics(struct http_req *req, void *arg);	/* metrics.c */
void	 api_badge(struct http_req *req, void *arg);	/* badge.c */
void	 api_openapi(struct http_req *req, void *arg);	/* openapi.c */
void	 api_static(struct http_req *req, void *arg);	/* static.c */

/*
 * After a group commit of webhook runs (hooks.c): tells the sinks that
 * each run changed, then wakes the workers once.
 */
void	 api_hooks_committed(void *arg, const int64_t *ids, size_t n);

/* Replies with the JSON document, which it frees. */
void	 api_reply_json(struct http_req *req, int status, cJSON *doc);
/*
 * Replies with the HTTP status and API error code for an enum err
 * (the one switch that maps them), the message from err_msg().
 */
void	 api_reply_err(struct http_req *req, int rc);
/* This thread's store connection, or replies 503 and returns rc. */
int	 api_store(struct store **out, struct api *api, struct http_req *req);

/*
 * The result label of ferry_webhooks_total for a rejected webhook
 * (metrics.c): unauthorized, invalid, not_found, too_large or error.
 */
const char	*api_hook_result(int rc);

/* JSON of a run (with its steps when it has them loaded). */
cJSON	*api_run_json(const struct run *run);

#endif

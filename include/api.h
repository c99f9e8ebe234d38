/*
 * api.h - ferry's HTTP handlers: /hooks/github, /hooks/gitlab,
 * the /api/v1 endpoints, /healthz, /readyz. Bridges http (transport), hook
 * (verification, parsing), store (runs) and config.
 *
 * A struct api is created by main before the HTTP server starts and
 * freed after it stopped; handlers run on connection threads and only
 * read it (config is immutable; counters are atomic). Each connection
 * thread uses its own store connection (store_thread_get).
 */
#ifndef FERRY_API_H
#define FERRY_API_H

#include <stddef.h>
#include <stdint.h>

struct api;
struct config;
struct http_route;

struct repo_cache;

typedef void api_wake_fn(void *arg);
typedef void api_notify_fn(void *arg, int64_t run_id);

/* db_path is copied; cfg is borrowed and must outlive the api. */
int	 api_new(struct api **out, const struct config *cfg,
	    const char *db_path);
void	 api_free(struct api *api);
/* Called after every enqueued run (worker wake-up); may be unset. */
void	 api_set_wake(struct api *api, api_wake_fn *fn, void *arg);
/* Called when the API created or cancelled a run; may be unset. */
void	 api_set_notify(struct api *api, api_notify_fn *fn, void *arg);
/* The mirrors that source archives are made from (borrowed). */
void	 api_set_repo_cache(struct api *api, struct repo_cache *rc);
/*
 * A run or one of its steps changed (created, started, ended): publishes
 * it to the live event stream. Any thread; cheap.
 */
void	 api_run_changed(struct api *api, int64_t run_id);
/* The route table to pass to http_server_start with the api as arg. */
const struct http_route *api_routes(size_t *n_out);

#endif

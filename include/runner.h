/*
 * runner.h - one run's state machine: fetch the commit, read and plan
 * its pipeline, drive the executor over the step DAG, record every step
 * and the run's end. Runs on the worker threads: runner_work() is the
 * pool's work function and claims one run from the store.
 *
 * A struct runner is shared by every worker (created by main before the
 * pool starts, freed after it stopped); it borrows the config, the repo
 * cache and the executor. Each worker thread has a struct runner_ctx
 * with its own store connection.
 */
#ifndef FERRY_RUNNER_H
#define FERRY_RUNNER_H

#include <stdint.h>

struct config;
struct config_repo;
struct exec;
struct pipeline;
struct repo_cache;
struct runner;
struct store;

/* Called when a run or step changes (events, later); may be NULL. */
typedef void runner_notify_fn(void *arg, int64_t run_id);

int	 runner_new(struct runner **out, const struct config *cfg,
	    const char *db_path, struct repo_cache *rc, struct exec *ex);
void	 runner_free(struct runner *r);
void	 runner_set_notify(struct runner *r, runner_notify_fn *fn, void *arg);

/*
 * Start-up recovery, on the main thread before the workers start: runs
 * left 'running' by a dead server are re-queued once; a run interrupted
 * a second time ends as 'error'. With an executor whose steps outlive
 * ferry (exec_can_attach), they are queued with their steps kept, and
 * the worker that claims them follows those steps again. *requeued_out / *failed_out count them.
 */
int	 runner_recover(int *requeued_out, int *failed_out, struct runner *r,
	    struct store *st);

/*
 * Fetches commit sha of repo into the mirror and reads and validates its
 * pipeline file against the server's bounds. 0 and *out (the caller's,
 * pipeline_free); or the error code with *reason_out (the caller's)
 * saying why in words for a run's reason: "no .ferry.yml at 9f1c2ab",
 * "commit ... not found in acme/shop after fetch", or "invalid
 * .ferry.yml at 9f1c2ab:" followed by one "FILE:LINE:COL: message" line
 * per problem. Any thread.
 */
int	 runner_pipeline_load(struct pipeline **out, char **reason_out,
	    const struct config *cfg, struct repo_cache *cache,
	    const struct config_repo *repo, const char *sha);

/* Tells running runs to wind down (cancel their steps, re-queue). */
void	 runner_stop_begin(struct runner *r);

/* The worker pool's hooks (arg of ctx_new is the struct runner). */
void	*runner_ctx_new(void *arg, int index);
int	 runner_work(void *ctx);
void	 runner_ctx_free(void *ctx);

#endif

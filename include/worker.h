/*
 * worker.h - a pool of N threads that call a work function until it says
 * there is nothing to do, then sleep until woken (worker_wake) or until
 * a slow safety-net poll. It knows nothing of runs: the runs table is the
 * queue and the work function claims from it.
 *
 * worker_pool_start/stop are called by main; worker_wake from any
 * thread (the HTTP threads after an enqueue). Each thread builds its own
 * context with ctx_new in its own thread and frees it there.
 */
#ifndef FERRY_WORKER_H
#define FERRY_WORKER_H

#include <stdbool.h>

struct worker_pool;

/* Builds a thread's context (its store connection, ...); NULL: exit. */
typedef void	*worker_ctx_new_fn(void *arg, int index);
/* Does one unit of work: 1 if it did some (look again), 0 if none. */
typedef int	 worker_run_fn(void *ctx);
typedef void	 worker_ctx_free_fn(void *ctx);

struct worker_opts {
	int			 threads;	/* >= 1 */
	int			 poll_ms;	/* safety-net poll; 2000 */
	worker_ctx_new_fn	*ctx_new;
	worker_run_fn		*run;
	worker_ctx_free_fn	*ctx_free;
	void			*arg;		/* passed to ctx_new */
};

/* Starts the threads. ERR_FAIL if a thread cannot be created. */
int	 worker_pool_start(struct worker_pool **out,
	    const struct worker_opts *o);
/* Wakes one sleeping worker (all if several runs may be waiting). */
void	 worker_wake(struct worker_pool *wp);
/* True once stop has begun: long work should wind down. */
bool	 worker_pool_stopping(const struct worker_pool *wp);
/* Sets the stop flag, wakes and joins every thread, frees. NULL ok. */
void	 worker_pool_stop(struct worker_pool *wp);

#endif

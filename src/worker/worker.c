/*
 * worker.c - the pool. A wake-up only shortens the workers' sleep: the
 * work function always looks at the real queue, so a lost wake-up costs
 * at most one poll interval, never a run.
 */
#define LOG_MODULE "worker"
#include "worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "util.h"

struct worker_pool {
	struct worker_opts	 o;
	pthread_t		*threads;
	int			 nstarted;
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cv;
	unsigned int		 pending;	/* wake-ups not yet taken */
	atomic_bool		 stopping;
};

struct worker_arg {
	struct worker_pool	*wp;
	int			 index;
};

static void *
worker_main(void *p)
{
	struct worker_arg	*wa = p;
	struct worker_pool	*wp = wa->wp;
	void			*ctx;

	ctx = wp->o.ctx_new(wp->o.arg, wa->index);
	free(wa);
	if (ctx == NULL) {
		log_error("worker context could not be created; thread exits");
		return NULL;
	}
	while (!atomic_load(&wp->stopping)) {
		if (wp->o.run(ctx) == 1)
			continue;
		pthread_mutex_lock(&wp->mtx);
		if (wp->pending == 0 && !atomic_load(&wp->stopping))
			cond_wait_ms(&wp->cv, &wp->mtx, wp->o.poll_ms);
		if (wp->pending > 0)
			wp->pending--;
		pthread_mutex_unlock(&wp->mtx);
	}
	wp->o.ctx_free(ctx);
	return NULL;
}

int
worker_pool_start(struct worker_pool **out, const struct worker_opts *o)
{
	struct worker_pool	*wp;
	struct worker_arg	*wa;
	int			 i, e;

	ASSERT(o->threads >= 1 && o->run != NULL && o->ctx_new != NULL);
	*out = NULL;
	wp = xcalloc(1, sizeof(*wp));
	wp->o = *o;
	if (wp->o.poll_ms <= 0)
		wp->o.poll_ms = 2000;
	pthread_mutex_init(&wp->mtx, NULL);
	cond_init_mono(&wp->cv);
	atomic_init(&wp->stopping, false);
	wp->threads = xcalloc((size_t)o->threads, sizeof(pthread_t));
	for (i = 0; i < o->threads; i++) {
		wa = xmalloc(sizeof(*wa));
		wa->wp = wp;
		wa->index = i;
		if ((e = pthread_create(&wp->threads[i], NULL, worker_main,
		    wa)) != 0) {
			free(wa);
			worker_pool_stop(wp);
			return err_set(ERR_FAIL, "cannot start worker thread: "
			    "%s", strerror(e));
		}
		wp->nstarted++;
	}
	*out = wp;
	return 0;
}

void
worker_wake(struct worker_pool *wp)
{
	if (wp == NULL)
		return;
	pthread_mutex_lock(&wp->mtx);
	if (wp->pending < (unsigned int)wp->o.threads)
		wp->pending++;
	pthread_cond_signal(&wp->cv);
	pthread_mutex_unlock(&wp->mtx);
}

bool
worker_pool_stopping(const struct worker_pool *wp)
{
	return atomic_load(&((struct worker_pool *)wp)->stopping);
}

void
worker_pool_stop(struct worker_pool *wp)
{
	int	i;

	if (wp == NULL)
		return;
	pthread_mutex_lock(&wp->mtx);
	atomic_store(&wp->stopping, true);
	pthread_cond_broadcast(&wp->cv);
	pthread_mutex_unlock(&wp->mtx);
	for (i = 0; i < wp->nstarted; i++)
		pthread_join(wp->threads[i], NULL);
	pthread_cond_destroy(&wp->cv);
	pthread_mutex_destroy(&wp->mtx);
	free(wp->threads);
	free(wp);
}

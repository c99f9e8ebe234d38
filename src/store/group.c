/*
 * group.c - group commit of enqueues (store.h, store_group_enqueue).
 *
 * DESIGN
 * One COMMIT per webhook caps ingest at what one writer can commit a
 * second, and 64 threads each taking SQLite's write lock in turn spend
 * their time in its busy handler's sleeps. Here a caller appends its
 * enqueue to a list and waits; whoever finds no leader becomes it,
 * takes up to GROUP_MAX waiting enqueues, runs them in one BEGIN
 * IMMEDIATE ... COMMIT on the group's connection, marks each done with
 * its result and wakes its caller (each waits on its own condition, so
 * a commit wakes only the callers it served), then wakes the oldest
 * caller still waiting, who leads the next commit. There is no extra
 * thread and no added delay: a lone caller is its own leader at once;
 * under load, the enqueues that arrived during one commit share the
 * next.
 *
 * Items live on their callers' stacks; a caller returns only after its
 * item is done, which the leader sets under the mutex after the last
 * touch of the item.
 */
#include "store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "store_int.h"
#include "util.h"

#define GROUP_MAX	256
#define GROUP_MSG_MAX	256

struct group_item {
	const struct run	*run;
	int64_t			 now;		/* its created_at */
	int64_t			 id;
	int			 rc;
	bool			 done;
	pthread_cond_t		 cond;		/* done, or lead */
	char			 msg[GROUP_MSG_MAX];
	struct group_item	*next;
};

struct store_group {
	pthread_mutex_t		 mtx;
	struct group_item	*head;
	struct group_item	**tailp;
	bool			 leading;	/* a commit runs */
	store_group_fn		*fn;
	void			*arg;
	char			*path;
	struct store		*st;		/* the leaders' */
};

struct store_group *
store_group_new(const char *path, store_group_fn *fn, void *arg)
{
	struct store_group	*g = xcalloc(1, sizeof(*g));

	ASSERT(path != NULL);
	g->path = xstrdup(path);
	g->fn = fn;
	g->arg = arg;
	ASSERT(pthread_mutex_init(&g->mtx, NULL) == 0);
	g->tailp = &g->head;
	return g;
}

void
store_group_free(struct store_group *g)
{
	if (g == NULL)
		return;
	ASSERT(g->head == NULL && !g->leading);
	if (g->st != NULL) {
		store_adopt(g->st);
		store_close(g->st);
	}
	pthread_mutex_destroy(&g->mtx);
	free(g->path);
	free(g);
}

static void
item_fail(struct group_item *it, int rc)
{
	it->rc = rc;
	it->id = 0;
	snprintf(it->msg, sizeof(it->msg), "%s", err_msg());
}

/*
 * Runs the batch's enqueues in one transaction on the group's
 * connection, which the leader adopts (opening it the first time): one
 * connection for every commit keeps its page cache warm, where each
 * HTTP thread's own would find its cache outdated by the others'
 * writes. Each item gets its result; an unexpected error gives every
 * item that error.
 */
static void
group_commit(struct store_group *g, struct group_item *batch)
{
	struct group_item	*it;
	struct store		*st;
	int			 rc;

	if (g->st == NULL) {
		if ((rc = store_open(&g->st, g->path)) != 0) {
			for (it = batch; it != NULL; it = it->next)
				item_fail(it, rc);
			return;
		}
	} else
		store_adopt(g->st);
	st = g->st;
	if ((rc = tx_begin(st)) != 0)
		goto fail;
	for (it = batch; it != NULL; it = it->next) {
		rc = store_enqueue_tx(&it->id, st, it->run, it->now);
		if (rc == ERR_NOTFOUND || rc == ERR_INVALID ||
		    rc == ERR_EXISTS) {
			it->rc = rc;
			snprintf(it->msg, sizeof(it->msg), "%s", err_msg());
			continue;
		}
		if (rc != 0)
			goto fail;
		it->rc = 0;
	}
	if ((rc = tx_commit(st)) != 0)
		goto fail;
	return;
fail:
	tx_rollback(st);
	for (it = batch; it != NULL; it = it->next)
		item_fail(it, rc);
}

/* Detaches up to GROUP_MAX waiting items. Under the mutex. */
static struct group_item *
group_take(struct store_group *g)
{
	struct group_item	*batch = g->head, *it = batch;
	size_t			 n = 1;

	ASSERT(batch != NULL);
	while (it->next != NULL && n < GROUP_MAX) {
		it = it->next;
		n++;
	}
	g->head = it->next;
	if (g->head == NULL)
		g->tailp = &g->head;
	it->next = NULL;
	return batch;
}

/*
 * Marks the batch's items done and wakes their callers, collecting the
 * ids of the runs it committed into ids. Under the mutex; an item's
 * next pointer is read before done lets its caller return.
 */
static size_t
group_done(int64_t *ids, struct group_item *batch)
{
	struct group_item	*it;
	size_t			 n = 0;

	while ((it = batch) != NULL) {
		batch = it->next;
		if (it->rc == 0)
			ids[n++] = it->id;
		it->done = true;
		pthread_cond_signal(&it->cond);
	}
	return n;
}

int
store_group_enqueue(int64_t *id_out, struct store_group *g,
    const struct run *r)
{
	struct group_item	 self = { 0 }, *batch;
	int64_t			 ids[GROUP_MAX];
	size_t			 n;

	self.run = r;
	self.now = time_now_ms();
	ASSERT(pthread_cond_init(&self.cond, NULL) == 0);
	*id_out = 0;
	pthread_mutex_lock(&g->mtx);
	*g->tailp = &self;
	g->tailp = &self.next;
	while (!self.done) {
		if (g->leading) {
			pthread_cond_wait(&self.cond, &g->mtx);
			continue;
		}
		g->leading = true;
		batch = group_take(g);
		pthread_mutex_unlock(&g->mtx);
		group_commit(g, batch);
		pthread_mutex_lock(&g->mtx);
		n = group_done(ids, batch);
		g->leading = false;
		/* The oldest caller still waiting leads the next commit. */
		if (g->head != NULL)
			pthread_cond_signal(&g->head->cond);
		if (n > 0 && g->fn != NULL) {
			pthread_mutex_unlock(&g->mtx);
			g->fn(g->arg, ids, n);
			pthread_mutex_lock(&g->mtx);
		}
	}
	pthread_mutex_unlock(&g->mtx);
	pthread_cond_destroy(&self.cond);
	*id_out = self.id;
	if (self.rc != 0)
		return err_set(self.rc, "%s", self.msg);
	return 0;
}

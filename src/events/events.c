/*
 * events.c - the event ring (see events.h).
 *
 * DESIGN: one mutex (ev->mtx) guards the ring slots, next_id, the
 * subscriber count and the closed flag; one condition variable
 * (CLOCK_MONOTONIC) is broadcast on every publish and on close. The lock
 * is held only for bookkeeping: a publisher formats its chunk before it
 * takes the lock and frees the slot's previous chunk after it let go; a
 * reader takes a reference to the chunk under the lock and copies it
 * out after. Chunks are immutable once published and reference counted
 * (atomically), so a slot can be reused while a slow reader still
 * copies the event that was in it. Nothing here calls out while holding
 * the lock.
 *
 * Event id i lives in slot (i - first_id) % cap while it is among the
 * last cap ids; next_id is the id the next publish gets. A reader's
 * cursor is the id it saw last. events_skip() uses up an id without a
 * slot: the ring then starts after it (oldest_id), as if every event up
 * to it had been pushed out.
 */
#include "events.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

/* One published event, shared by the ring and readers copying it. */
struct ev_chunk {
	atomic_int	 refs;
	int64_t		 id;
	size_t		 len;		/* of text, without the NUL */
	char		 text[];	/* "event: ...\ndata: ...\n\n" */
};

struct events {
	pthread_mutex_t		  mtx;
	pthread_cond_t		  cv;		/* publish or close */
	struct ev_chunk		**ring;		/* cap slots, NULL if unused */
	size_t			  cap;
	size_t			  max_subs;
	size_t			  nsubs;
	int64_t			  first_id;
	int64_t			  next_id;
	int64_t			  skipped;	/* newest skipped id */
	int64_t			  left_ms;	/* last unsubscribe */
	bool			  closed;
};

struct events_sub {
	struct events	*ev;
	int64_t		 cursor;	/* id of the last event seen */
};

static void
chunk_unref(struct ev_chunk *c)
{
	if (c != NULL && atomic_fetch_sub(&c->refs, 1) == 1)
		free(c);
}

struct events *
events_new(size_t ring, size_t max_subs, int64_t first_id)
{
	struct events		*ev;

	ASSERT(ring >= 1 && max_subs >= 1 && first_id >= 1);
	ev = xcalloc(1, sizeof(*ev));
	ev->ring = xcalloc(ring, sizeof(*ev->ring));
	ev->cap = ring;
	ev->max_subs = max_subs;
	ev->first_id = first_id;
	ev->next_id = first_id;
	pthread_mutex_init(&ev->mtx, NULL);
	cond_init_mono(&ev->cv);
	return ev;
}

void
events_free(struct events *ev)
{
	size_t	i;

	if (ev == NULL)
		return;
	ASSERT(ev->nsubs == 0);
	for (i = 0; i < ev->cap; i++)
		chunk_unref(ev->ring[i]);
	free(ev->ring);
	pthread_cond_destroy(&ev->cv);
	pthread_mutex_destroy(&ev->mtx);
	free(ev);
}

/* "event: type\n", a "data: " line per line of data, and a blank line. */
static struct ev_chunk *
chunk_format(const char *type, const char *data)
{
	struct ev_chunk	*c;
	struct buf	 b;
	const char	*p, *nl;
	size_t		 n;

	buf_init(&b, SIZE_MAX / 2);
	(void)buf_printf(&b, "event: %s\n", type);
	p = data;
	do {
		nl = strchr(p, '\n');
		n = nl != NULL ? (size_t)(nl - p) : strlen(p);
		(void)buf_puts(&b, "data: ");
		while (n > 0 && p[n - 1] == '\r')
			n--;
		(void)buf_append(&b, p, n);
		(void)buf_puts(&b, "\n");
		p = nl != NULL ? nl + 1 : NULL;
	} while (p != NULL);
	(void)buf_puts(&b, "\n");
	c = xmalloc(sizeof(*c) + b.len + 1);
	atomic_init(&c->refs, 1);
	c->id = 0;
	c->len = b.len;
	memcpy(c->text, b.data, b.len + 1);
	buf_dispose(&b);
	return c;
}

int64_t
events_publish(struct events *ev, const char *type, const char *data)
{
	struct ev_chunk	*c, *old;
	size_t		 slot;
	int64_t		 id;

	ASSERT(type != NULL && *type != '\0' && strpbrk(type, "\r\n:") ==
	    NULL);
	ASSERT(data != NULL);
	c = chunk_format(type, data);
	pthread_mutex_lock(&ev->mtx);
	id = ev->next_id++;
	c->id = id;
	slot = (size_t)((id - ev->first_id) % (int64_t)ev->cap);
	old = ev->ring[slot];
	ev->ring[slot] = c;
	pthread_cond_broadcast(&ev->cv);
	pthread_mutex_unlock(&ev->mtx);
	chunk_unref(old);
	return id;
}

int64_t
events_skip(struct events *ev)
{
	int64_t	id;

	pthread_mutex_lock(&ev->mtx);
	id = ev->next_id++;
	ev->skipped = id;
	pthread_mutex_unlock(&ev->mtx);
	return id;
}

int64_t
events_last_id(struct events *ev)
{
	int64_t	id;

	pthread_mutex_lock(&ev->mtx);
	id = ev->next_id - 1;
	pthread_mutex_unlock(&ev->mtx);
	return id;
}

size_t
events_subscribers(struct events *ev)
{
	size_t	n;

	pthread_mutex_lock(&ev->mtx);
	n = ev->nsubs;
	pthread_mutex_unlock(&ev->mtx);
	return n;
}

bool
events_watched(struct events *ev, int64_t within_ms)
{
	bool	watched;

	pthread_mutex_lock(&ev->mtx);
	watched = ev->nsubs > 0 || (ev->left_ms != 0 &&
	    time_mono_ms() - ev->left_ms < within_ms);
	pthread_mutex_unlock(&ev->mtx);
	return watched;
}

int
events_subscribe(struct events_sub **out, struct events *ev, int64_t after)
{
	struct events_sub	*sub;

	*out = NULL;
	pthread_mutex_lock(&ev->mtx);
	if (ev->nsubs >= ev->max_subs) {
		pthread_mutex_unlock(&ev->mtx);
		return err_set(ERR_BUSY, "too many event stream clients "
		    "(at most %zu)", ev->max_subs);
	}
	ev->nsubs++;
	if (after < 0)
		after = ev->next_id - 1;
	pthread_mutex_unlock(&ev->mtx);
	sub = xcalloc(1, sizeof(*sub));
	sub->ev = ev;
	sub->cursor = after;
	*out = sub;
	return 0;
}

void
events_unsubscribe(struct events_sub *sub)
{
	struct events	*ev;

	if (sub == NULL)
		return;
	ev = sub->ev;
	pthread_mutex_lock(&ev->mtx);
	ASSERT(ev->nsubs > 0);
	ev->nsubs--;
	ev->left_ms = time_mono_ms();
	pthread_mutex_unlock(&ev->mtx);
	free(sub);
}

void
events_close(struct events *ev)
{
	pthread_mutex_lock(&ev->mtx);
	ev->closed = true;
	pthread_cond_broadcast(&ev->cv);
	pthread_mutex_unlock(&ev->mtx);
}

/* The oldest id still in the ring. Needs ev->mtx. */
static int64_t
oldest_id(const struct events *ev)
{
	int64_t	o = ev->next_id - (int64_t)ev->cap;

	if (o < ev->first_id)
		o = ev->first_id;
	return o > ev->skipped ? o : ev->skipped + 1;
}

enum events_next
events_next(char **text_out, size_t *len_out, int64_t *id_out,
    struct events_sub *sub, int64_t timeout_ms)
{
	struct events	*ev = sub->ev;
	struct ev_chunk	*c = NULL;
	int64_t		 deadline = 0;
	enum events_next r;
	char		 head[32];
	char		*text;
	int		 hl;
	size_t		 slot;

	*text_out = NULL;
	if (len_out != NULL)
		*len_out = 0;
	if (id_out != NULL)
		*id_out = 0;
	if (timeout_ms > 0)
		deadline = time_mono_ms() + timeout_ms;
	pthread_mutex_lock(&ev->mtx);
	for (;;) {
		if (ev->closed) {
			r = EVENTS_CLOSED;
			break;
		}
		if (sub->cursor >= ev->next_id ||
		    sub->cursor + 1 < oldest_id(ev)) {
			sub->cursor = ev->next_id - 1;
			r = EVENTS_RESET;
			break;
		}
		if (sub->cursor + 1 < ev->next_id) {
			sub->cursor++;
			slot = (size_t)((sub->cursor - ev->first_id) %
			    (int64_t)ev->cap);
			c = ev->ring[slot];
			ASSERT(c != NULL && c->id == sub->cursor);
			atomic_fetch_add(&c->refs, 1);
			r = EVENTS_EVENT;
			break;
		}
		if (timeout_ms <= 0 || time_mono_ms() >= deadline) {
			r = EVENTS_TIMEOUT;
			break;
		}
		cond_wait_ms(&ev->cv, &ev->mtx, deadline - time_mono_ms());
	}
	pthread_mutex_unlock(&ev->mtx);
	if (c == NULL)
		return r;
	hl = snprintf(head, sizeof(head), "id: %" PRId64 "\n", c->id);
	ASSERT(hl > 0 && (size_t)hl < sizeof(head));
	text = xmalloc((size_t)hl + c->len + 1);
	memcpy(text, head, (size_t)hl);
	memcpy(text + hl, c->text, c->len + 1);
	*text_out = text;
	if (len_out != NULL)
		*len_out = (size_t)hl + c->len;
	if (id_out != NULL)
		*id_out = c->id;
	chunk_unref(c);
	return r;
}

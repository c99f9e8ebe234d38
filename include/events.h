/*
 * events.h - fan-out of run and step changes to Server-Sent Events
 * clients: one ring of the last events, many readers, each at its own
 * cursor. Pure: no store, no HTTP, no JSON.
 *
 * Every event gets the next id (int64, strictly increasing, no gaps)
 * and is kept as a preformatted SSE chunk ("event: <type>\ndata:
 * ...\n\n"; the reader gets it with its "id: <n>\n" line first). The
 * ring keeps the last `ring` events; a reader whose cursor fell out of
 * it is told so (EVENTS_RESET) and moved to the newest event, since it
 * must refetch the whole state anyway. Publishing never waits for a
 * reader: it replaces the oldest slot.
 *
 * Threads: every function may be called from any thread, concurrently
 * (publishers are the workers and HTTP threads, readers the SSE
 * connection threads). A struct events_sub belongs to the one thread
 * reading from it. The events object owns its ring; events_free()
 * requires that every subscriber has unsubscribed.
 */
#ifndef FERRY_EVENTS_H
#define FERRY_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct events;
struct events_sub;

#define EVENTS_RING_DEFAULT	1024	/* events kept for resuming */
#define EVENTS_SUBS_DEFAULT	256	/* readers at once */

/*
 * A ring of ring (>= 1) events, at most max_subs (>= 1) subscribers.
 * The first event gets first_id (>= 1): seeding it from the clock makes
 * ids grow across restarts, so a client's Last-Event-ID from an earlier
 * process is older than the ring and gets a reset. Cannot fail.
 */
struct events	*events_new(size_t ring, size_t max_subs, int64_t first_id);
/* Accepts NULL. Every subscriber must be gone. */
void		 events_free(struct events *ev);

/*
 * Publishes one event of type (a non-empty word without newlines, e.g.
 * "run") with data (one line per data: field; "\r" is dropped). Returns
 * its id. Never blocks on readers.
 */
int64_t		 events_publish(struct events *ev, const char *type,
		    const char *data);
/*
 * Counts an event that is not kept: for a publisher that found no
 * subscriber, so that building the event's data is saved. The id is
 * used up, and a reader whose cursor is before it (one that comes back
 * with an older Last-Event-ID, or subscribed meanwhile) gets
 * EVENTS_RESET instead of a history with a hole in it. Returns the id.
 */
int64_t		 events_skip(struct events *ev);
/* The id of the newest event, first_id - 1 if none yet. */
int64_t		 events_last_id(struct events *ev);
/* How many subscribers there are now. */
size_t		 events_subscribers(struct events *ev);
/*
 * Whether events may be read: a subscriber is there now, or one left
 * less than within_ms ago (it may come back with its Last-Event-ID).
 */
bool		 events_watched(struct events *ev, int64_t within_ms);

/*
 * Subscribes. after is the id of the last event the reader has seen
 * (from Last-Event-ID): the first events_next() returns the event after
 * it, or EVENTS_RESET when that one is no longer in the ring (or after
 * is newer than any event: a client of an earlier process). after < 0:
 * only events published from now on. *out is the caller's, freed with
 * events_unsubscribe(). ERR_BUSY (nothing to free) when max_subs
 * readers are subscribed already.
 */
int	 events_subscribe(struct events_sub **out, struct events *ev,
	    int64_t after);
/* Accepts NULL. */
void	 events_unsubscribe(struct events_sub *sub);

enum events_next {
	EVENTS_EVENT,	/* *text_out holds the next event */
	EVENTS_TIMEOUT,	/* nothing new within the timeout */
	EVENTS_RESET,	/* events were lost; the cursor is now the newest */
	EVENTS_CLOSED,	/* events_close() was called */
};

/*
 * The next event after sub's cursor, waiting up to timeout_ms (0: do
 * not wait) for one to be published. On EVENTS_EVENT *text_out is the
 * whole SSE chunk, "id: <n>\nevent: ...\n\n", NUL-terminated, *len_out
 * its length (may be NULL) and *id_out (may be NULL) its id; the caller
 * frees *text_out. Otherwise *text_out is NULL.
 */
enum events_next events_next(char **text_out, size_t *len_out,
		    int64_t *id_out, struct events_sub *sub,
		    int64_t timeout_ms);

/*
 * Wakes every reader and makes events_next() return EVENTS_CLOSED from
 * now on (shutdown). Publishing still works.
 */
void	 events_close(struct events *ev);

#endif

/*
 * events.c - the live event stream: api_run_changed() publishes a run's
 * state, GET /api/v1/events streams it to browsers as Server-Sent
 * Events.
 *
 * Each event is
 *
 *	id: <n>
 *	event: run
 *	data: {"run": <the run object of GET /api/v1/runs/{id}>}
 *
 * carrying the whole run with its steps, so a client just replaces its
 * copy. A stream starts with "retry: 2000"; a client that reconnects
 * with Last-Event-ID (or ?last_event_id=) gets every event after that
 * id still in the ring, in order, or first "event: reset" with "data:
 * {}" when some were lost (or the id is from an earlier process), after
 * which it refetches /api/v1/runs. A ": ping" comment goes out after 10
 * s of silence so proxies keep the connection and dead peers are found:
 * sooner than the server's own idle timeout (15 s), which would
 * otherwise cut a quiet stream.
 *
 * DESIGN: api_run_changed() is called from workers and HTTP threads;
 * it reads the run and publishes under api->publish_mtx, so events
 * leave in the order their reads happened and the last event of a run
 * always shows a state read after its last change (without the lock a
 * stale read could be published after a fresh one). The lock covers one
 * short read of a WAL database, which writers never block.
 */
#define LOG_MODULE "api"
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "log.h"
#include "util.h"

#define SSE_WAIT_MS		1000	/* longest block in the callback */
#define SSE_PING_MS		10000	/* silence before a heartbeat */
/* How long events are kept after the last client left. */
#define SSE_REPLAY_MS		(5 * 60 * 1000)

static const char SSE_HELLO[] = "retry: 2000\n\n";
static const char SSE_RESET[] = "event: reset\ndata: {}\n\n";
static const char SSE_PING[] = ": ping\n\n";

void
api_run_changed(struct api *api, int64_t run_id)
{
	struct store	*st;
	struct run	*run;
	cJSON		*doc;
	char		*text;

	if (api == NULL || api->events == NULL)
		return;
	/*
	 * Nobody listens, nor left in the last SSE_REPLAY_MS: the id is
	 * used up instead, and a client that comes back later with an
	 * older Last-Event-ID is told to refetch (a reset). A client that
	 * lost its connection for a moment still gets the events it
	 * missed. Saves the read and the JSON of every webhook's run on a
	 * server nobody watches.
	 */
	if (!events_watched(api->events, SSE_REPLAY_MS)) {
		(void)events_skip(api->events);
		return;
	}
	pthread_mutex_lock(&api->publish_mtx);
	if (store_thread_get(&st, api->db_path) != 0 ||
	    store_run_get(&run, st, run_id) != 0) {
		pthread_mutex_unlock(&api->publish_mtx);
		log_warnx("run=%" PRId64 " not published: %s", run_id,
		    err_msg());
		return;
	}
	doc = cJSON_CreateObject();
	cJSON_AddItemToObject(doc, "run", api_run_json(run));
	run_free(run);
	text = cJSON_PrintUnformatted(doc);
	cJSON_Delete(doc);
	ASSERT(text != NULL);
	(void)events_publish(api->events, "run", text);
	pthread_mutex_unlock(&api->publish_mtx);
	free(text);
}

/* One SSE client. */
struct sse {
	struct http_req		*req;
	struct events_sub	*sub;
	char			*out;		/* bytes still to send */
	size_t			 len;
	size_t			 off;
	bool			 owned;		/* out is ours to free */
	int64_t			 last_ms;	/* when bytes last went out */
};

static void
sse_free(void *p)
{
	struct sse	*s = p;

	if (s->owned)
		free(s->out);
	events_unsubscribe(s->sub);
	free(s);
}

static void
sse_set(struct sse *s, char *text, size_t len, bool owned)
{
	s->out = text;
	s->len = len;
	s->off = 0;
	s->owned = owned;
}

static ssize_t
sse_read(void *arg, uint64_t pos, char *buf, size_t max)
{
	struct sse	*s = arg;
	char		*text;
	size_t		 n;

	(void)pos;
	if (s->out == NULL) {
		if (http_server_stopping(s->req))
			return HTTP_STREAM_END;
		switch (events_next(&text, &n, NULL, s->sub, SSE_WAIT_MS)) {
		case EVENTS_EVENT:
			sse_set(s, text, n, true);
			break;
		case EVENTS_RESET:
			sse_set(s, (char *)SSE_RESET, sizeof(SSE_RESET) - 1,
			    false);
			break;
		case EVENTS_CLOSED:
			return HTTP_STREAM_END;
		case EVENTS_TIMEOUT:
			if (time_mono_ms() - s->last_ms < SSE_PING_MS)
				return 0;
			sse_set(s, (char *)SSE_PING, sizeof(SSE_PING) - 1,
			    false);
			break;
		}
	}
	/* An event may be larger than the server's block: send it in parts. */
	n = s->len - s->off;
	if (n > max)
		n = max;
	memcpy(buf, s->out + s->off, n);
	s->off += n;
	if (s->off == s->len) {
		if (s->owned)
			free(s->out);
		s->out = NULL;
		s->owned = false;
	}
	s->last_ms = time_mono_ms();
	return (ssize_t)n;
}

void
api_events(struct http_req *req, void *arg)
{
	struct api	*api = arg;
	struct sse	*s;
	const char	*v;
	int64_t		 after = -1;
	int		 rc;

	v = http_req_header(req, "Last-Event-ID");
	if (v == NULL || *v == '\0')
		v = http_req_query(req, "last_event_id");
	/* An id we cannot read is a client in an unknown state: reset. */
	if (v != NULL && *v != '\0' &&
	    parse_int64(&after, v, 0, INT64_MAX) != 0)
		after = 0;
	s = xcalloc(1, sizeof(*s));
	if ((rc = events_subscribe(&s->sub, api->events, after)) != 0) {
		free(s);
		log_warnx("event stream refused: %s", err_msg());
		api_reply_err(req, rc);
		return;
	}
	s->req = req;
	s->last_ms = time_mono_ms();
	sse_set(s, (char *)SSE_HELLO, sizeof(SSE_HELLO) - 1, false);
	http_reply_header(req, "Cache-Control", "no-store");
	http_reply_header(req, "X-Accel-Buffering", "no");
	http_reply_stream(req, 200, "text/event-stream", sse_read, s,
	    sse_free);
}

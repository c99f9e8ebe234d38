/*
 * watch.c - the API's long-lived answers: watches (newline-delimited
 * JSON events) and container logs, delivered to callbacks as they
 * arrive.
 *
 * DESIGN: a watch is one HTTP request with timeoutSeconds; the server
 * ends it and the caller calls again from the last resourceVersion seen
 * (BOOKMARK events keep it fresh while nothing changes). A version the
 * server no longer has is 410 Gone, either as the answer or as an ERROR
 * event in the stream; both come back as w->gone so the caller relists.
 * The whole-request timeout of a watch is its timeoutSeconds plus a
 * margin, so a server that forgets to end it cannot hold a thread
 * forever. Followed logs have no such bound (a step may be silent for
 * its whole timeout): their cancel callback ends them.
 */
#define LOG_MODULE "kube"
#include "kube.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "kube_int.h"
#include "log.h"
#include "util.h"

#define WATCH_TIMEOUT_S		300
#define WATCH_MARGIN_S		30
#define EVENT_MAX		((size_t)16 * 1024 * 1024)

struct watch_ctx {
	struct kube_watch	*w;
	kube_event_fn		*fn;
	void			*arg;
	struct buf		 line;		/* the event being received */
	int			 rc;		/* ERR_* that stopped it */
	bool			 stop;		/* fn asked to stop */
	struct kube_status	 st;		/* of an ERROR event */
};

static void
set_version(struct kube_watch *w, const cJSON *obj)
{
	const char	*rv = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(obj, "metadata"),
	    "resourceVersion"));

	if (rv != NULL && strlen(rv) < sizeof(w->resource_version))
		(void)snprintf(w->resource_version,
		    sizeof(w->resource_version), "%s", rv);
}

/* One complete line of the stream. 0 to go on, nonzero to stop. */
static int
on_event(struct watch_ctx *c, const char *text, size_t len)
{
	cJSON		*ev, *obj;
	const char	*type;
	char		*st;
	int		 ret = 0;

	while (len > 0 && (text[len - 1] == '\r' || text[len - 1] == ' '))
		len--;
	if (len == 0)
		return 0;
	if ((ev = cJSON_ParseWithLength(text, len)) == NULL) {
		c->rc = err_set(ERR_UPSTREAM, "watch %s: an event is not "
		    "JSON", kube_kind_plural(c->w->kind));
		return 1;
	}
	type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev,
	    "type"));
	obj = cJSON_GetObjectItemCaseSensitive(ev, "object");
	if (type == NULL || !cJSON_IsObject(obj)) {
		c->rc = err_set(ERR_UPSTREAM, "watch %s: an event has no type "
		    "or object", kube_kind_plural(c->w->kind));
		ret = 1;
	} else if (strcmp(type, "ERROR") == 0) {
		st = cJSON_PrintUnformatted(obj);
		kube_status_parse(&c->st, 500, st, strlen(st));
		free(st);
		if (c->st.code == 410) {
			c->w->gone = true;
			c->w->resource_version[0] = '\0';
		}
		c->rc = ERR_UPSTREAM;
		ret = 1;
	} else if (strcmp(type, "BOOKMARK") == 0) {
		set_version(c->w, obj);
	} else if (strcmp(type, "ADDED") != 0 &&
	    strcmp(type, "MODIFIED") != 0 && strcmp(type, "DELETED") != 0) {
		/* Not one of the API's event types: passed over. */
		log_debug("watch %s: an event of unknown type %.32s ignored",
		    kube_kind_plural(c->w->kind), type);
	} else {
		set_version(c->w, obj);
		if (c->fn(c->arg, type, obj) != 0) {
			c->stop = true;
			ret = 1;
		}
	}
	cJSON_Delete(ev);
	return ret;
}

static int
watch_sink(void *arg, const char *data, size_t len)
{
	struct watch_ctx	*c = arg;
	const char		*nl;
	size_t			 n;

	while (len > 0) {
		nl = memchr(data, '\n', len);
		n = nl != NULL ? (size_t)(nl - data) : len;
		if (buf_append(&c->line, data, n) != 0) {
			c->rc = err_set(ERR_TOOBIG, "watch %s: an event is "
			    "larger than %zu bytes",
			    kube_kind_plural(c->w->kind), c->line.max);
			return 1;
		}
		if (nl == NULL)
			break;
		if (on_event(c, c->line.data != NULL ? c->line.data : "",
		    c->line.len) != 0)
			return 1;
		buf_reset(&c->line);
		data = nl + 1;
		len -= n + 1;
	}
	return 0;
}

static void
watch_ctx_init(struct watch_ctx *c, struct kube_watch *w, kube_event_fn *fn,
    void *arg)
{
	memset(c, 0, sizeof(*c));
	c->w = w;
	c->fn = fn;
	c->arg = arg;
	buf_init(&c->line, EVENT_MAX);
}

/*
 * The end of a stream that the server ended or the sink stopped
 * (stopped): the error an event carried, or the last event if it came
 * without its newline. 0 or the ERR_*.
 */
static int
watch_end(struct watch_ctx *c, const char *what, bool stopped)
{
	if (c->rc == 0 && !c->stop && !stopped && c->line.len > 0)
		(void)on_event(c, c->line.data, c->line.len);
	if (c->rc == 0)
		return 0;
	if (c->st.code != 0)
		return kube_fail_status(&c->st, what);
	return c->rc;
}

int
kube_watch_parse(struct kube_watch *w, kube_event_fn *fn, void *arg,
    const char *const *pieces, const size_t *lens, size_t n)
{
	struct watch_ctx	 c;
	char			*what;
	size_t			 i;
	bool			 stopped = false;
	int			 rc;

	w->gone = false;
	watch_ctx_init(&c, w, fn, arg);
	what = xasprintf("watch %s", kube_kind_plural(w->kind));
	for (i = 0; i < n && !stopped; i++)
		stopped = watch_sink(&c, pieces[i], lens[i]) != 0;
	rc = watch_end(&c, what, stopped);
	buf_dispose(&c.line);
	free(what);
	return rc;
}

int
kube_watch(struct kube *k, struct kube_watch *w, kube_event_fn *fn,
    void *arg)
{
	struct watch_ctx	 c;
	struct kube_xfer	 x;
	struct buf		 q;
	char			*path, *url, *what, t[32];
	int			 timeout_s, rc;

	w->gone = false;
	timeout_s = w->timeout_s > 0 ? w->timeout_s : WATCH_TIMEOUT_S;
	watch_ctx_init(&c, w, fn, arg);
	path = kube_path(w->kind, w->ns, NULL);
	what = xasprintf("watch %s%s%s", kube_kind_plural(w->kind),
	    w->ns != NULL ? " in " : "", w->ns != NULL ? w->ns : "");
	buf_init(&q, 4096);
	kube_query_add(&q, "watch", "1");
	kube_query_add(&q, "allowWatchBookmarks", "true");
	(void)snprintf(t, sizeof(t), "%d", timeout_s);
	kube_query_add(&q, "timeoutSeconds", t);
	if (w->resource_version[0] != '\0')
		kube_query_add(&q, "resourceVersion", w->resource_version);
	if (w->selector != NULL && *w->selector != '\0')
		kube_query_add(&q, "labelSelector", w->selector);
	url = kube_url(k, path, q.data);
	kube_xfer_init(&x, "GET", url);
	x.timeout_ms = (int64_t)(timeout_s + WATCH_MARGIN_S) * 1000;
	x.sink = watch_sink;
	x.sink_arg = &c;
	x.cancel = w->cancel;
	x.cancel_arg = w->cancel_arg;
	rc = kube_call(k, &x, what);
	if (rc != 0) {
		if (kube_status_last()->code == 410) {
			w->gone = true;
			w->resource_version[0] = '\0';
		}
		if (x.streamed && !w->gone)
			rc = err_set(ERR_UPSTREAM, "%s: the stream broke: %s",
			    what, kube_status_last()->message);
	} else
		rc = watch_end(&c, what, x.stopped);
	kube_xfer_dispose(&x);
	buf_dispose(&c.line);
	buf_dispose(&q);
	free(url);
	free(what);
	free(path);
	return rc;
}

struct log_ctx {
	kube_data_fn	*fn;
	void		*arg;
};

static int
log_sink(void *arg, const char *data, size_t len)
{
	struct log_ctx	*c = arg;

	return c->fn(c->arg, data, len);
}

int
kube_log_stream(struct kube *k, const char *ns, const char *pod,
    const struct kube_log_opts *o, kube_data_fn *fn, void *arg)
{
	struct kube_log_opts	 none;
	struct log_ctx		 c;
	struct kube_xfer	 x;
	struct buf		 q;
	char			*base, *path, *url, *what, n[32];
	int			 rc;

	if (o == NULL) {
		memset(&none, 0, sizeof(none));
		o = &none;
	}
	c.fn = fn;
	c.arg = arg;
	base = kube_path(KUBE_POD, ns, pod);
	path = xasprintf("%s/log", base);
	what = xasprintf("log of pod %s/%s%s%s", ns, pod,
	    o->container != NULL ? " container " : "",
	    o->container != NULL ? o->container : "");
	buf_init(&q, 4096);
	if (o->container != NULL)
		kube_query_add(&q, "container", o->container);
	if (o->follow)
		kube_query_add(&q, "follow", "true");
	if (o->timestamps)
		kube_query_add(&q, "timestamps", "true");
	if (o->since_time != NULL)
		kube_query_add(&q, "sinceTime", o->since_time);
	if (o->limit_bytes > 0) {
		(void)snprintf(n, sizeof(n), "%lld", (long long)o->limit_bytes);
		kube_query_add(&q, "limitBytes", n);
	}
	url = kube_url(k, path, q.data);
	kube_xfer_init(&x, "GET", url);
	x.unbounded = o->follow;
	x.sink = log_sink;
	x.sink_arg = &c;
	x.cancel = o->cancel;
	x.cancel_arg = o->cancel_arg;
	rc = kube_call(k, &x, what);
	kube_xfer_dispose(&x);
	buf_dispose(&q);
	free(url);
	free(what);
	free(path);
	free(base);
	return rc;
}

/*
 * http.c - ferry's HTTP server on libmicrohttpd 0.9.75.
 *
 * DESIGN
 *
 * libmicrohttpd runs one thread per connection. Three of its callbacks
 * carry our state:
 *
 *  - the connection notifier allocates a struct http_conn per socket
 *    (its fd and the deadline of the request in progress) and links it
 *    into the server's list, which the reaper walks;
 *  - the URI log callback, called once per request as soon as the
 *    request line has arrived, allocates the struct http_req that
 *    libmicrohttpd hands back as con_cls; it also sees the raw,
 *    undecoded URI, which routing needs (the url given to the access
 *    handler is already percent-decoded, so "%2F" would become a slash);
 *  - the completion notifier frees the request (aborted ones included).
 *
 * Deadlines. libmicrohttpd's connection timeout only measures idle
 * time, so a client sending a byte a second would hold a thread forever.
 * Each connection carries deadline_ms: request_timeout after it opened
 * for its first request; after a response, idle + request timeout (an
 * idle keep-alive connection is closed by libmicrohttpd's idle timeout
 * well before, and a request that starts trickling in later is cut
 * within request_timeout of its request line, at the latest). The reaper
 * thread wakes every 250 ms and shuts down (shutdown(2), so the
 * connection thread sees EOF and cleans up) sockets past their deadline,
 * except those serving a stream. libmicrohttpd notifies "closed" before
 * it closes the socket, so the fd in the list is always still ours.
 *
 * Bodies are appended to a struct buf whose ceiling is max_body. A
 * Content-Length above it is answered with 413 at once (libmicrohttpd
 * then skips the body and closes the connection). A chunked body that
 * outgrows it is dropped and the rest of the upload discarded as it
 * streams in; libmicrohttpd 0.9.75 only accepts a response once the
 * upload is complete, so the 413 follows the last chunk (the request
 * deadline bounds how long that may take). Memory stays at max_body.
 *
 * Streams: libmicrohttpd forbids a content reader returning 0 in
 * internal-thread modes (it would busy-wait), so the stream adapter
 * loops on the handler's callback itself until it has bytes, the stream
 * ends, the server stops or the peer has gone away.
 *
 * Replies are queued from the handler, on its connection thread, before
 * it returns (no suspend/resume): a handler that returns without one
 * gets a 500. MHD_OPTION_LISTENING_ADDRESS_REUSE is left unset: its
 * value 1 means SO_REUSEPORT, which would let a second ferry listen on
 * the same port; libmicrohttpd sets SO_REUSEADDR by default, enough for
 * a quick restart.
 */
#include "http.h"

#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#define LOG_MODULE "http"
#include "log.h"
#include "util.h"

#define HTTP_REAPER_MS		250
#define HTTP_STREAM_BLOCK	4096
#define HTTP_MEMORY_LIMIT	(32 * 1024)
#define HTTP_STOP_WAIT_MAX_MS	30000
#define HTTP_MAX_PARAMS		16

/* One accepted socket; fields after fd are guarded by srv->mtx. */
struct http_conn {
	struct http_conn	*prev;
	struct http_conn	*next;
	int			 fd;
	int64_t			 opened_ms;	/* monotonic */
	int64_t			 deadline_ms;	/* cut after this */
	unsigned int		 nrequests;	/* begun so far */
	bool			 streaming;	/* no deadline */
	bool			 cut;		/* shut down */
};

struct http_hdr {
	char	*name;
	char	*value;
};

struct http_req {
	struct http_server	*srv;
	struct MHD_Connection	*mc;
	struct http_conn	*conn;		/* or NULL */
	char			*method;	/* set by the handler */
	char			*raw_path;	/* as sent, no query */
	char			*path;		/* percent-decoded */
	char			**params;	/* decoded */
	size_t			 nparams;
	struct buf		 body;
	struct http_hdr		*hdrs;		/* for the reply */
	size_t			 nhdrs;
	int64_t			 start_ms;
	int			 status;	/* 0: no reply yet */
	bool			 begun;		/* handler called */
	bool			 too_big;	/* body dropped */
	bool			 replied;
	bool			 queue_failed;
};

struct http_server {
	struct MHD_Daemon	*daemon;
	const struct http_route	*routes;
	size_t			 nroutes;
	void			*arg;
	size_t			 max_body;
	int64_t			 request_timeout_ms;
	int64_t			 idle_timeout_ms;
	int			 port;
	atomic_bool		 stopping;

	pthread_mutex_t		 mtx;
	pthread_cond_t		 cv;		/* reaper, stop */
	struct http_conn	*conns;		/* list, under mtx */
	size_t			 active;	/* requests open */
	bool			 reaper_stop;
	bool			 reaper_started;
	pthread_t		 reaper;
};

struct http_stream {
	struct http_server	*srv;
	int			 fd;		/* -1 if unknown */
	http_stream_fn		*fn;
	void			*arg;
	void			(*free_fn)(void *);
};

static size_t	url_decode(char *s, bool form);
static void	req_free(struct http_req *req);

static void
http_sleep_ms(long ms)
{
	struct timespec	ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		continue;
}

/*
 * libmicrohttpd's error messages, into ferry's log. Those about clients
 * going away or misbehaving are routine and only logged at debug level.
 */
static void
http_mhd_log(void *cls, const char *fmt, va_list ap)
{
	static const char	*routine[] = {
		"Closing connection",
		"connection closure",
		"Connection socket is closed",
		"onnection reset",
		"timed out",
		"Error processing request",
	};
	char			 line[512];
	size_t			 i, n;

	(void)cls;
	vsnprintf(line, sizeof line, fmt, ap);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	for (i = 0; i < sizeof routine / sizeof routine[0]; i++) {
		if (strstr(line, routine[i]) != NULL) {
			log_debug("libmicrohttpd: %s", line);
			return;
		}
	}
	log_warnx("libmicrohttpd: %s", line);
}

static void *
http_reaper_main(void *arg)
{
	struct http_server	*srv = arg;
	struct http_conn	*c;
	int64_t			 now;

	pthread_mutex_lock(&srv->mtx);
	while (!srv->reaper_stop) {
		cond_wait_ms(&srv->cv, &srv->mtx, HTTP_REAPER_MS);
		now = time_mono_ms();
		for (c = srv->conns; c != NULL; c = c->next) {
			if (c->streaming || c->cut || now < c->deadline_ms)
				continue;
			/* The fd is open until the closed notification. */
			shutdown(c->fd, SHUT_RDWR);
			c->cut = true;
			log_debug("connection fd=%d cut after %lld ms", c->fd,
			    (long long)(now - c->opened_ms));
		}
	}
	pthread_mutex_unlock(&srv->mtx);
	return NULL;
}

static void
http_notify_connection(void *cls, struct MHD_Connection *mc,
    void **socket_context, enum MHD_ConnectionNotificationCode toe)
{
	struct http_server		*srv = cls;
	struct http_conn		*c;
	const union MHD_ConnectionInfo	*ci;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		c = xcalloc(1, sizeof *c);
		c->fd = -1;
		ci = MHD_get_connection_info(mc,
		    MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci != NULL)
			c->fd = ci->connect_fd;
		c->opened_ms = time_mono_ms();
		c->deadline_ms = c->opened_ms + srv->request_timeout_ms;
		pthread_mutex_lock(&srv->mtx);
		c->next = srv->conns;
		if (srv->conns != NULL)
			srv->conns->prev = c;
		srv->conns = c;
		pthread_mutex_unlock(&srv->mtx);
		*socket_context = c;
		return;
	}
	if ((c = *socket_context) == NULL)
		return;
	pthread_mutex_lock(&srv->mtx);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&srv->mtx);
	free(c);
	*socket_context = NULL;
}

/* Allocates a request and counts it in flight; uri is raw. */
static struct http_req *
req_new(struct http_server *srv, struct MHD_Connection *mc, const char *uri)
{
	struct http_req			*req;
	const union MHD_ConnectionInfo	*ci;
	struct http_conn		*c = NULL;
	int64_t				 now = time_mono_ms();
	size_t				 n;

	req = xcalloc(1, sizeof *req);
	req->srv = srv;
	req->mc = mc;
	n = strcspn(uri, "?#");
	req->raw_path = xstrndup(uri, n);
	req->path = xstrdup(req->raw_path);
	http_url_decode(req->path, false);
	buf_init(&req->body, srv->max_body);
	req->start_ms = now;

	ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (ci != NULL)
		c = ci->socket_context;
	pthread_mutex_lock(&srv->mtx);
	if (c != NULL) {
		req->conn = c;
		if (c->nrequests++ == 0)
			req->start_ms = c->opened_ms;
		else if (now + srv->request_timeout_ms < c->deadline_ms)
			c->deadline_ms = now + srv->request_timeout_ms;
	}
	srv->active++;
	pthread_mutex_unlock(&srv->mtx);
	return req;
}

static void *
http_uri_log(void *cls, const char *uri, struct MHD_Connection *mc)
{
	return req_new(cls, mc, uri != NULL ? uri : "/");
}

static void
http_notify_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct http_server	*srv = cls;
	struct http_req		*req = *con_cls;
	struct http_conn	*c;

	(void)mc;
	if (req == NULL)
		return;
	*con_cls = NULL;
	log_debug("%s %s %d %lldms%s", req->method != NULL ? req->method :
	    "-", req->raw_path, req->status,
	    (long long)(time_mono_ms() - req->start_ms),
	    toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted");
	pthread_mutex_lock(&srv->mtx);
	if ((c = req->conn) != NULL) {
		c->streaming = false;
		c->deadline_ms = time_mono_ms() + srv->idle_timeout_ms +
		    srv->request_timeout_ms;
	}
	ASSERT(srv->active > 0);
	srv->active--;
	/*
	 * Only http_server_stop waits for active to fall (the reaper
	 * shares cv and must not wake on every request); it sets stopping
	 * before it takes mtx to look at active, so none is missed.
	 */
	if (srv->active == 0 && atomic_load(&srv->stopping))
		pthread_cond_broadcast(&srv->cv);
	pthread_mutex_unlock(&srv->mtx);
	req_free(req);
}

static void
req_free(struct http_req *req)
{
	size_t	i;

	if (req == NULL)
		return;
	for (i = 0; i < req->nparams; i++)
		free(req->params[i]);
	free(req->params);
	for (i = 0; i < req->nhdrs; i++) {
		free(req->hdrs[i].name);
		free(req->hdrs[i].value);
	}
	free(req->hdrs);
	buf_dispose(&req->body);
	free(req->method);
	free(req->raw_path);
	free(req->path);
	free(req);
}

/* Percent-decodes s in place; returns the decoded length (NULs count). */
static size_t
url_decode(char *s, bool form)
{
	static const char	 hex[] = "0123456789abcdef";
	const char		*hi, *lo;
	size_t			 r, w;

	for (r = w = 0; s[r] != '\0'; r++, w++) {
		if (s[r] == '+' && form)
			s[w] = ' ';
		else if (s[r] == '%' && s[r + 1] != '\0' && s[r + 2] != '\0' &&
		    (hi = strchr(hex, s[r + 1] | 0x20)) != NULL &&
		    (lo = strchr(hex, s[r + 2] | 0x20)) != NULL) {
			s[w] = (char)(((hi - hex) << 4) | (lo - hex));
			r += 2;
		} else
			s[w] = s[r];
	}
	s[w] = '\0';
	return w;
}

void
http_url_decode(char *s, bool form)
{
	ASSERT(s != NULL);
	url_decode(s, form);
}

/*
 * Decodes one raw path segment of n bytes into a new string, or returns
 * NULL if the decoded segment could escape its place: "." or "..", or a
 * '/' or NUL byte inside.
 */
static char *
segment_decode(const char *raw, size_t n)
{
	char	*s;
	size_t	 len;

	s = xstrndup(raw, n);
	len = url_decode(s, false);
	if (len != strlen(s) || strchr(s, '/') != NULL ||
	    strcmp(s, ".") == 0 || strcmp(s, "..") == 0) {
		free(s);
		return NULL;
	}
	return s;
}

/* The rest of a path for a final "*", decoded segment by segment. */
static char *
rest_decode(const char *raw)
{
	struct buf	 b;
	const char	*end;
	char		*seg;
	size_t		 n;

	buf_init(&b, SIZE_MAX - 1);
	for (;;) {
		end = strchr(raw, '/');
		n = end != NULL ? (size_t)(end - raw) : strlen(raw);
		if ((seg = segment_decode(raw, n)) == NULL) {
			buf_dispose(&b);
			return NULL;
		}
		buf_puts(&b, seg);
		free(seg);
		if (end == NULL)
			break;
		buf_puts(&b, "/");
		raw = end + 1;
	}
	return buf_steal(&b);
}

static void
params_free(char **params, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(params[i]);
	free(params);
}

/*
 * Matches a raw path against a pattern. On a match, *params_out holds
 * the decoded parameters (caller frees) and *n_out their count.
 */
static bool
route_match(char ***params_out, size_t *n_out, const char *pattern,
    const char *path)
{
	char		**params = NULL, *seg;
	size_t		  n = 0, plen, slen;
	const char	 *pe, *se;

	*params_out = NULL;
	*n_out = 0;
	if (pattern[0] != '/' || path[0] != '/')
		return false;
	pattern++;
	path++;
	for (;;) {
		pe = strchr(pattern, '/');
		plen = pe != NULL ? (size_t)(pe - pattern) : strlen(pattern);
		if (pe == NULL && plen == 1 && pattern[0] == '*') {
			if ((seg = rest_decode(path)) == NULL)
				goto fail;
			goto push_last;
		}
		se = strchr(path, '/');
		slen = se != NULL ? (size_t)(se - path) : strlen(path);
		if ((seg = segment_decode(path, slen)) == NULL)
			goto fail;
		if (plen == 2 && pattern[0] == '{' && pattern[1] == '}') {
			if (seg[0] == '\0' || n == HTTP_MAX_PARAMS) {
				free(seg);
				goto fail;
			}
			if (pe == NULL && se == NULL)
				goto push_last;
			params = xreallocarray(params, n + 1, sizeof *params);
			params[n++] = seg;
		} else {
			if (strlen(seg) != plen ||
			    memcmp(seg, pattern, plen) != 0) {
				free(seg);
				goto fail;
			}
			free(seg);
			if (pe == NULL && se == NULL)
				goto done;
		}
		if (pe == NULL || se == NULL)
			goto fail;
		pattern = pe + 1;
		path = se + 1;
	}
push_last:
	params = xreallocarray(params, n + 1, sizeof *params);
	params[n++] = seg;
done:
	*params_out = params;
	*n_out = n;
	return true;
fail:
	params_free(params, n);
	return false;
}

/* Queues resp with the common headers; consumes resp. */
static void
reply_queue(struct http_req *req, int status, const char *ctype,
    struct MHD_Response *resp)
{
	struct http_server	*srv = req->srv;
	bool			 have_cc = false;
	size_t			 i;

	req->replied = true;
	req->status = status;
	if (resp == NULL) {
		log_error("cannot create a response for %s %s", req->method,
		    req->raw_path);
		req->queue_failed = true;
		return;
	}
	if (ctype != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		    ctype);
	for (i = 0; i < req->nhdrs; i++) {
		if (strcasecmp(req->hdrs[i].name, "Cache-Control") == 0)
			have_cc = true;
		if (MHD_add_response_header(resp, req->hdrs[i].name,
		    req->hdrs[i].value) != MHD_YES)
			log_warnx("bad response header %s", req->hdrs[i].name);
	}
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (!have_cc)
		MHD_add_response_header(resp, "Cache-Control", "no-store");
	if (atomic_load(&srv->stopping))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION,
		    "close");
	if (MHD_queue_response(req->mc, (unsigned int)status, resp) !=
	    MHD_YES) {
		log_error("cannot queue a response for %s %s", req->method,
		    req->raw_path);
		req->queue_failed = true;
	}
	MHD_destroy_response(resp);
}

/* A second reply is a handler bug; it is logged and ignored. */
static bool
reply_twice(struct http_req *req)
{
	if (!req->replied)
		return false;
	log_error("second reply to %s %s ignored", req->method,
	    req->raw_path);
	return true;
}

void
http_reply_header(struct http_req *req, const char *name, const char *value)
{
	ASSERT(req != NULL && name != NULL && value != NULL);
	if (req->replied) {
		log_error("header %s after the reply to %s %s", name,
		    req->method, req->raw_path);
		return;
	}
	req->hdrs = xreallocarray(req->hdrs, req->nhdrs + 1,
	    sizeof *req->hdrs);
	req->hdrs[req->nhdrs].name = xstrdup(name);
	req->hdrs[req->nhdrs].value = xstrdup(value);
	req->nhdrs++;
}

void
http_reply(struct http_req *req, int status, const char *ctype,
    const void *body, size_t len)
{
	struct MHD_Response	*resp;

	ASSERT(req != NULL && (body != NULL || len == 0));
	if (reply_twice(req))
		return;
	resp = MHD_create_response_from_buffer(len, (void *)(uintptr_t)body,
	    MHD_RESPMEM_MUST_COPY);
	reply_queue(req, status, ctype, resp);
}

void
http_reply_take(struct http_req *req, int status, const char *ctype,
    char *body, size_t len)
{
	struct MHD_Response	*resp;

	ASSERT(req != NULL && (body != NULL || len == 0));
	if (reply_twice(req)) {
		free(body);
		return;
	}
	if (body == NULL)
		body = xstrdup("");
	resp = MHD_create_response_from_buffer_with_free_callback(len, body,
	    free);
	if (resp == NULL)
		free(body);
	reply_queue(req, status, ctype, resp);
}

/* {"error":{"code":..,"message":..}} as a new string. */
static char *
error_body(const char *code, const char *msg)
{
	cJSON	*root, *err;
	char	*s, *out, *fixed;

	fixed = utf8_fix(msg);
	root = cJSON_CreateObject();
	err = cJSON_AddObjectToObject(root, "error");
	cJSON_AddStringToObject(err, "code", code);
	cJSON_AddStringToObject(err, "message", fixed != NULL ? fixed : msg);
	free(fixed);
	s = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	ASSERT(s != NULL);
	out = xstrdup(s);
	cJSON_free(s);
	return out;
}

void
http_reply_error(struct http_req *req, int status, const char *code,
    const char *fmt, ...)
{
	va_list	 ap;
	char	*msg, *body;
	int	 n;

	ASSERT(req != NULL && code != NULL && fmt != NULL);
	if (reply_twice(req))
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	ASSERT(n >= 0);
	msg = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(msg, (size_t)n + 1, fmt, ap);
	va_end(ap);
	body = error_body(code, msg);
	free(msg);
	http_reply_take(req, status, "application/json", body, strlen(body));
}

/* True when the peer has closed or reset the connection. */
static bool
peer_gone(int fd)
{
	char	c;
	ssize_t	n;

	if (fd < 0)
		return false;
	n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == 0)
		return true;
	return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
	    errno != EINTR;
}

static ssize_t
http_stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct http_stream	*st = cls;
	ssize_t			 n;
	int64_t			 t0;

	for (;;) {
		if (atomic_load(&st->srv->stopping))
			return MHD_CONTENT_READER_END_OF_STREAM;
		t0 = time_mono_ms();
		n = st->fn(st->arg, pos, buf, max);
		if (n > 0) {
			ASSERT((size_t)n <= max);
			return n;
		}
		if (n == HTTP_STREAM_END)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (n < 0)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (peer_gone(st->fd))
			return MHD_CONTENT_READER_END_WITH_ERROR;
		/* A callback that does not block must not make us spin. */
		if (time_mono_ms() - t0 < 10)
			http_sleep_ms(50);
	}
}

static void
http_stream_free(void *cls)
{
	struct http_stream	*st = cls;

	if (st->free_fn != NULL)
		st->free_fn(st->arg);
	free(st);
}

void
http_reply_stream(struct http_req *req, int status, const char *ctype,
    http_stream_fn *fn, void *arg, void (*free_fn)(void *))
{
	struct http_server	*srv;
	struct http_stream	*st;
	struct MHD_Response	*resp;

	ASSERT(req != NULL && fn != NULL);
	if (reply_twice(req)) {
		if (free_fn != NULL)
			free_fn(arg);
		return;
	}
	srv = req->srv;
	st = xcalloc(1, sizeof *st);
	st->srv = srv;
	st->fd = req->conn != NULL ? req->conn->fd : -1;
	st->fn = fn;
	st->arg = arg;
	st->free_fn = free_fn;
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN,
	    HTTP_STREAM_BLOCK, http_stream_read, st, http_stream_free);
	if (resp == NULL) {
		http_stream_free(st);
		reply_queue(req, status, ctype, NULL);
		return;
	}
	if (req->conn != NULL) {
		pthread_mutex_lock(&srv->mtx);
		req->conn->streaming = true;
		pthread_mutex_unlock(&srv->mtx);
	}
	reply_queue(req, status, ctype, resp);
}

bool
http_server_stopping(const struct http_req *req)
{
	ASSERT(req != NULL);
	return atomic_load(&req->srv->stopping);
}

/* Appends method to an Allow list unless it is there already. */
static void
allow_add(struct buf *allow, const char *method)
{
	const char	*p = allow->data;
	size_t		 n = strlen(method), tok;

	while (p != NULL && *p != '\0') {
		tok = strcspn(p, ",");
		if (tok == n && strncmp(p, method, n) == 0)
			return;
		p += tok;
		p += strspn(p, ", ");
	}
	if (allow->len > 0)
		buf_puts(allow, ", ");
	buf_puts(allow, method);
}

/* Routes the complete request and calls its handler. */
static void
http_dispatch(struct http_server *srv, struct http_req *req)
{
	const struct http_route	*r;
	struct buf		 allow;
	char			**params;
	size_t			 i, n;
	bool			 head;

	head = strcmp(req->method, MHD_HTTP_METHOD_HEAD) == 0;
	buf_init(&allow, 4096);
	for (i = 0; i < srv->nroutes; i++) {
		r = &srv->routes[i];
		if (!route_match(&params, &n, r->pattern, req->raw_path))
			continue;
		if (strcmp(r->method, req->method) == 0 ||
		    (head && strcmp(r->method, MHD_HTTP_METHOD_GET) == 0)) {
			buf_dispose(&allow);
			req->params = params;
			req->nparams = n;
			r->fn(req, srv->arg);
			if (!req->replied) {
				log_error("handler for %s %s did not reply",
				    req->method, req->raw_path);
				http_reply_error(req, 500, "internal",
				    "internal error");
			}
			return;
		}
		params_free(params, n);
		allow_add(&allow, r->method);
		if (strcmp(r->method, MHD_HTTP_METHOD_GET) == 0)
			allow_add(&allow, MHD_HTTP_METHOD_HEAD);
	}
	if (allow.len > 0) {
		http_reply_header(req, "Allow", allow.data);
		http_reply_error(req, 405, "method_not_allowed",
		    "method %s not allowed for %s", req->method, req->path);
	} else
		http_reply_error(req, 404, "not_found", "no route for %s %s",
		    req->method, req->path);
	buf_dispose(&allow);
}

static void
reply_too_large(struct http_req *req)
{
	http_reply_error(req, 413, "too_large", "body exceeds %zu bytes",
	    req->srv->max_body);
}

static enum MHD_Result
http_access(void *cls, struct MHD_Connection *mc, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct http_server	*srv = cls;
	struct http_req		*req = *con_cls;
	const char		*cl;
	int64_t			 len;

	(void)version;
	if (req == NULL)	/* no URI log call: cannot happen */
		*con_cls = req = req_new(srv, mc, url);
	if (!req->begun) {
		req->begun = true;
		req->mc = mc;
		req->method = xstrdup(method);
		cl = MHD_lookup_connection_value(mc, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl == NULL || parse_int64(&len, cl, 0, INT64_MAX) != 0)
			len = -1;
		if (len >= 0 && (uint64_t)len > srv->max_body) {
			reply_too_large(req);
			return req->queue_failed ? MHD_NO : MHD_YES;
		}
		/* One allocation for the announced body, not a doubling. */
		if (len > 0)
			(void)buf_reserve(&req->body, (size_t)len);
		return MHD_YES;
	}
	if (req->replied)	/* early 413: nothing more to do */
		return req->queue_failed ? MHD_NO : MHD_YES;
	if (*upload_data_size > 0) {
		if (!req->too_big && buf_append(&req->body, upload_data,
		    *upload_data_size) != 0) {
			req->too_big = true;
			buf_dispose(&req->body);
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (req->too_big)
		reply_too_large(req);
	else
		http_dispatch(srv, req);
	return req->queue_failed ? MHD_NO : MHD_YES;
}

/* Fills ss with host:port; "", NULL and "0.0.0.0" are any IPv4. */
static int
http_resolve(struct sockaddr_storage *ss, unsigned int *flags,
    const char *host, int port)
{
	struct addrinfo	 hints, *res = NULL;
	char		*h;
	size_t		 n;
	int		 rc;

	memset(ss, 0, sizeof *ss);
	if (host == NULL || host[0] == '\0') {
		struct sockaddr_in	*sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		sin->sin_port = htons((uint16_t)port);
		return 0;
	}
	n = strlen(host);
	if (host[0] == '[' && n > 2 && host[n - 1] == ']')
		h = xstrndup(host + 1, n - 2);
	else
		h = xstrdup(host);
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	rc = getaddrinfo(h, NULL, &hints, &res);
	free(h);
	if (rc != 0 || res == NULL) {
		if (res != NULL)
			freeaddrinfo(res);
		return err_set(ERR_FAIL, "cannot resolve %s: %s", host,
		    gai_strerror(rc));
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	if (ss->ss_family == AF_INET6) {
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
		*flags |= MHD_USE_IPv6;
	} else
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	return 0;
}

int
http_server_start(struct http_server **out, const struct http_opts *opts,
    const struct http_route *routes, size_t nroutes, void *arg)
{
	struct http_server		*srv;
	struct sockaddr_storage		 ss;
	const union MHD_DaemonInfo	*di;
	unsigned int			 flags, idle_s;
	int				 rc;

	ASSERT(out != NULL && opts != NULL && (routes != NULL ||
	    nroutes == 0));
	*out = NULL;
	if (opts->port < 0 || opts->port > 65535)
		return err_set(ERR_INVALID, "bad port %d", opts->port);
	if (opts->request_timeout_ms <= 0 || opts->idle_timeout_ms <= 0 ||
	    opts->max_connections <= 0)
		return err_set(ERR_INVALID, "timeouts and max_connections "
		    "must be positive");
	flags = MHD_USE_THREAD_PER_CONNECTION |
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC |
	    MHD_USE_ERROR_LOG;
	if ((rc = http_resolve(&ss, &flags, opts->host, opts->port)) != 0)
		return rc;

	srv = xcalloc(1, sizeof *srv);
	srv->routes = routes;
	srv->nroutes = nroutes;
	srv->arg = arg;
	srv->max_body = opts->max_body;
	srv->request_timeout_ms = opts->request_timeout_ms;
	srv->idle_timeout_ms = opts->idle_timeout_ms;
	atomic_init(&srv->stopping, false);
	pthread_mutex_init(&srv->mtx, NULL);
	cond_init_mono(&srv->cv);

	idle_s = (unsigned int)((opts->idle_timeout_ms + 999) / 1000);
	srv->daemon = MHD_start_daemon(flags, (uint16_t)opts->port,
	    NULL, NULL, http_access, srv,
	    MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, srv,
	    MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)&ss,
	    MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned int)opts->max_connections,
	    MHD_OPTION_CONNECTION_TIMEOUT, idle_s,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_MEMORY_LIMIT,
	    MHD_OPTION_NOTIFY_CONNECTION, http_notify_connection, srv,
	    MHD_OPTION_NOTIFY_COMPLETED, http_notify_completed, srv,
	    MHD_OPTION_URI_LOG_CALLBACK, http_uri_log, srv,
	    MHD_OPTION_END);
	if (srv->daemon == NULL) {
		rc = err_set(ERR_FAIL, "cannot listen on %s:%d",
		    opts->host != NULL && opts->host[0] != '\0' ?
		    opts->host : "*", opts->port);
		goto fail;
	}
	di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = di != NULL ? di->port : opts->port;
	if (pthread_create(&srv->reaper, NULL, http_reaper_main, srv) != 0) {
		rc = err_set(ERR_FAIL, "cannot start the reaper thread");
		goto fail;
	}
	srv->reaper_started = true;
	*out = srv;
	return 0;
fail:
	if (srv->daemon != NULL)
		MHD_stop_daemon(srv->daemon);
	pthread_cond_destroy(&srv->cv);
	pthread_mutex_destroy(&srv->mtx);
	free(srv);
	return rc;
}

int
http_server_port(const struct http_server *srv)
{
	ASSERT(srv != NULL);
	return srv->port;
}

void
http_server_stop(struct http_server *srv)
{
	MHD_socket	lfd;
	int64_t		wait_ms, deadline;

	if (srv == NULL)
		return;
	lfd = MHD_quiesce_daemon(srv->daemon);
	atomic_store(&srv->stopping, true);

	/* Let requests in flight finish; streams see the flag and end. */
	wait_ms = srv->request_timeout_ms + HTTP_REAPER_MS;
	if (wait_ms > HTTP_STOP_WAIT_MAX_MS)
		wait_ms = HTTP_STOP_WAIT_MAX_MS;
	deadline = time_mono_ms() + wait_ms;
	pthread_mutex_lock(&srv->mtx);
	while (srv->active > 0 && time_mono_ms() < deadline)
		cond_wait_ms(&srv->cv, &srv->mtx,
		    deadline - time_mono_ms());
	pthread_mutex_unlock(&srv->mtx);

	MHD_stop_daemon(srv->daemon);
	if (lfd != MHD_INVALID_SOCKET)
		close(lfd);

	if (srv->reaper_started) {
		pthread_mutex_lock(&srv->mtx);
		srv->reaper_stop = true;
		pthread_cond_broadcast(&srv->cv);
		pthread_mutex_unlock(&srv->mtx);
		pthread_join(srv->reaper, NULL);
	}
	ASSERT(srv->conns == NULL);
	pthread_cond_destroy(&srv->cv);
	pthread_mutex_destroy(&srv->mtx);
	free(srv);
}

const char *
http_req_method(const struct http_req *req)
{
	return req->method;
}

const char *
http_req_path(const struct http_req *req)
{
	return req->path;
}

const char *
http_req_header(const struct http_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->mc, MHD_HEADER_KIND, name);
}

const char *
http_req_query(const struct http_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->mc, MHD_GET_ARGUMENT_KIND,
	    name);
}

const char *
http_req_param(const struct http_req *req, size_t i)
{
	return i < req->nparams ? req->params[i] : NULL;
}

const char *
http_req_body(const struct http_req *req, size_t *len_out)
{
	if (len_out != NULL)
		*len_out = req->body.len;
	return req->body.data != NULL ? req->body.data : "";
}

int64_t
http_req_start_ms(const struct http_req *req)
{
	return req->start_ms;
}

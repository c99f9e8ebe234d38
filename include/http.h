/*
 * http.h - ferry's HTTP server on libmicrohttpd, knowing nothing of
 * runs: routes, bounded request bodies, replies, streaming.
 *
 * DESIGN: one thread per connection (libmicrohttpd's
 * MHD_USE_THREAD_PER_CONNECTION), bounded by max_connections, so a
 * handler or a stream callback may block briefly without stalling other
 * clients. Idle connections time out (idle_timeout_ms); a reaper thread
 * also cuts any connection whose request has lasted request_timeout_ms
 * in total (a client trickling a byte a second is cut off), except
 * connections that are serving a stream (SSE, log follow).
 *
 * Handlers run on connection threads. A struct http_req and everything
 * borrowed from it live until the response has been sent (the completion
 * callback frees it, aborted requests included). Each request gets
 * exactly one http_reply*() call.
 */
#ifndef FERRY_HTTP_H
#define FERRY_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

struct http_server;
struct http_req;

typedef void http_handler_fn(struct http_req *req, void *arg);

struct http_route {
	const char	*method;	/* "GET", "POST"; GET also serves HEAD */
	/*
	 * "/api/v1/runs/{}/steps/{}/log": "{}" matches one non-empty
	 * segment (percent-decoded, available via http_req_param). A final
	 * "*" matches the rest of the path, including slashes (param too).
	 */
	const char	*pattern;
	http_handler_fn	*fn;
};

struct http_opts {
	const char	*host;		/* NULL or "" : all interfaces */
	int		 port;		/* 0: an ephemeral port */
	size_t		 max_body;	/* larger bodies get 413 */
	int64_t		 request_timeout_ms; /* whole request; 30 s */
	int64_t		 idle_timeout_ms;    /* no bytes moving; 15 s */
	int		 max_connections;    /* 1024 */
};

/*
 * Starts listening and serving. Routes are tried in order; the first
 * whose pattern matches the path and whose method matches is called with
 * arg once the whole body has arrived. No match: 404 (405 when only the
 * method differs), JSON error body. ERR_FAIL if it cannot listen.
 * The routes array must outlive the server.
 */
int	 http_server_start(struct http_server **out,
	    const struct http_opts *opts, const struct http_route *routes,
	    size_t nroutes, void *arg);
/* The bound port (useful with port 0). */
int	 http_server_port(const struct http_server *srv);
/*
 * Stops accepting, lets in-flight requests finish (streams are told to
 * end), joins every thread and frees. Accepts NULL.
 */
void	 http_server_stop(struct http_server *srv);

/* Request accessors; results are borrowed from req. */
const char	*http_req_method(const struct http_req *req);
const char	*http_req_path(const struct http_req *req);	/* decoded */
const char	*http_req_header(const struct http_req *req, const char *name);
const char	*http_req_query(const struct http_req *req, const char *name);
const char	*http_req_param(const struct http_req *req, size_t i);
const char	*http_req_body(const struct http_req *req, size_t *len_out);
/* Monotonic ms when the request's first byte arrived. */
int64_t		 http_req_start_ms(const struct http_req *req);

/* Adds a response header; call before the reply. Both are copied. */
void	 http_reply_header(struct http_req *req, const char *name,
	    const char *value);
/* Replies with a copy of body. */
void	 http_reply(struct http_req *req, int status, const char *ctype,
	    const void *body, size_t len);
/* Replies with body, which the server frees with free(). */
void	 http_reply_take(struct http_req *req, int status, const char *ctype,
	    char *body, size_t len);
/* {"error": {"code": code, "message": ...}} with the status. */
void	 http_reply_error(struct http_req *req, int status, const char *code,
	    const char *fmt, ...) PRINTFLIKE(4, 5);

/*
 * Streaming replies (chunked). fn is called on the connection thread
 * for more bytes: it returns how many it wrote into buf (1..max),
 * HTTP_STREAM_END when done, HTTP_STREAM_ERROR to abort. It may block
 * for up to about a second waiting for data, and should then return 0
 * (nothing yet; it is called again) - it must check
 * http_server_stopping() so shutdown is not held up. free_fn(arg) runs
 * once when the response is finished or aborted.
 */
#define HTTP_STREAM_END		(-1)
#define HTTP_STREAM_ERROR	(-2)
typedef ssize_t http_stream_fn(void *arg, uint64_t pos, char *buf,
	    size_t max);
void	 http_reply_stream(struct http_req *req, int status, const char *ctype,
	    http_stream_fn *fn, void *arg, void (*free_fn)(void *));
/* True once http_server_stop() has begun (for stream callbacks). */
bool	 http_server_stopping(const struct http_req *req);

/* Percent-decodes s in place ('+' is a space when form is true). */
void	 http_url_decode(char *s, bool form);

#endif

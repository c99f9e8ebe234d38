/*
 * httpc.h - a small HTTP client over libcurl for ferry's outgoing calls
 * (commit statuses, notifications, later the cluster API).
 *
 * A struct httpc is one libcurl easy handle: it keeps its connections
 * alive between requests and belongs to the thread that made it (every
 * call asserts the owner). Every request is bounded: a connect timeout,
 * a whole-request timeout, a ceiling on the response body kept, no
 * redirects followed (so a token header never travels to another host),
 * http and https only. An optional cancel callback, polled while a
 * request runs, lets a stopping thread abandon it early.
 *
 * httpc_global_init() runs on the main thread before any thread uses
 * httpc (libcurl's global state); it may be called more than once,
 * each call paired with httpc_global_cleanup().
 */
#ifndef FERRY_HTTPC_H
#define FERRY_HTTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct httpc;

/* Nonzero to abandon the request in flight. */
typedef int httpc_cancel_fn(void *arg);

struct httpc_opts {
	int64_t		 timeout_ms;	/* whole request; <= 0: 10 s */
	int64_t		 connect_timeout_ms; /* <= 0: 5 s */
	size_t		 max_body;	/* response bytes kept; 0: 64 KiB */
	const char	*user_agent;	/* NULL: "ferry" */
	httpc_cancel_fn	*cancel;	/* may be NULL */
	void		*cancel_arg;
};

struct httpc_response {
	long	 status;	/* HTTP status, e.g. 201 */
	char	*body;		/* owned, NUL-terminated ("" if none) */
	size_t	 len;		/* bytes in body */
	bool	 truncated;	/* the body went past max_body: cut there */
	/* Retry-After (seconds or an HTTP date) in ms from now; -1: none. */
	int64_t	 retry_after_ms;
};

int	 httpc_global_init(void);
void	 httpc_global_cleanup(void);

/* A handle for this thread; o may be NULL (defaults). httpc_free. */
int	 httpc_new(struct httpc **out, const struct httpc_opts *o);
void	 httpc_free(struct httpc *h);

/*
 * Sends method to url with the headers ("Name: value" strings; they may
 * hold tokens: httpc never logs them) and body (may be NULL; len bytes).
 * Any answer from the server, whatever its status, is a success: *out
 * gets the status and the body (the caller disposes of it). A failure
 * to get an answer (DNS, connect, TLS, timeout, reset, cancel) returns
 * ERR_UPSTREAM with curl's reason; a bad URL or method ERR_INVALID.
 */
int	 httpc_request(struct httpc_response *out, struct httpc *h,
	    const char *method, const char *url, const char *const *headers,
	    size_t nheaders, const char *body, size_t len);
void	 httpc_response_dispose(struct httpc_response *r);

#endif

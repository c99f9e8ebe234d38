/*
 * kube_int.h - what the kube module's files share and nobody else sees:
 * the client's struct, one HTTP exchange with the API server, the error
 * translation and small parsers.
 */
#ifndef FERRY_KUBE_INT_H
#define FERRY_KUBE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <curl/curl.h>

#include "kube.h"
#include "util.h"

struct kube {
	struct kube_config	*cfg;		/* owned, immutable */
	struct kube_opts	 o;		/* defaults filled in */
	char			*user_agent;
	char			*base;		/* URL prefix requests use */
	char			*connect_to;	/* tls-server-name: or NULL */
	CURLSH			*share;		/* connections, DNS, TLS */
	pthread_mutex_t		 share_mtx[CURL_LOCK_DATA_LAST];
	pthread_mutex_t		 tok_mtx;	/* guards the fields below */
	char			*tok;		/* token file's content */
	dev_t			 tok_dev;
	ino_t			 tok_ino;
	off_t			 tok_size;
	int64_t			 tok_mtime_ns;
};

/*
 * Receives a successful (2xx) answer's bytes as they arrive, for
 * streams; nonzero stops the transfer (then kube_exchange returns 0 with
 * stopped set).
 */
typedef int kube_sink_fn(void *arg, const char *data, size_t len);

/* One request to the API server, one attempt. */
struct kube_xfer {
	const char	*method;	/* "GET", "POST" ... */
	const char	*url;		/* absolute */
	const char	*ctype;		/* body's Content-Type, or NULL */
	const char	*body;		/* may be NULL */
	size_t		 len;
	bool		 unbounded;	/* no whole-request timeout */
	int64_t		 timeout_ms;	/* > 0: overrides the default */
	kube_sink_fn	*sink;		/* NULL: keep the body */
	void		*sink_arg;
	kube_cancel_fn	*cancel;	/* may be NULL */
	void		*cancel_arg;
	/* Out. */
	long		 code;		/* HTTP status; 0: no answer */
	struct buf	 resp;		/* the kept body (non-2xx always) */
	int64_t		 retry_after_ms; /* -1: none */
	bool		 stopped;	/* sink or cancel stopped it */
	bool		 streamed;	/* some bytes reached the sink */
};

void	 kube_xfer_init(struct kube_xfer *x, const char *method,
	    const char *url);
void	 kube_xfer_dispose(struct kube_xfer *x);
/*
 * Runs x once: 0 when the server answered (whatever the status) or the
 * sink/cancel stopped it; ERR_UPSTREAM when there was no answer (curl's
 * reason in the message). Counts the answer in the metrics.
 */
int	 kube_exchange(struct kube *k, struct kube_xfer *x);
/*
 * Runs x with the retry policy until an answer is final: returns 0 for a
 * 2xx, else the translated error (see kube.h) with the Status recorded
 * for this thread. what names the call in messages ("create jobs
 * ns/name"). x's outputs describe the last attempt.
 */
int	 kube_call(struct kube *k, struct kube_xfer *x, const char *what);
/* The err code and message for a failed answer (records the Status). */
int	 kube_fail(const struct kube_xfer *x, const char *what);
/* The same from an already parsed Status. */
int	 kube_fail_status(const struct kube_status *st, const char *what);

/* "base + path + ?query" (query may be NULL or ""). Caller frees. */
char	*kube_url(const struct kube *k, const char *path, const char *query);
/* Appends "&name=<percent-encoded value>" (or "?..." first) to b. */
void	 kube_query_add(struct buf *b, const char *name, const char *value);

/* Decodes base64 (whitespace ignored); *out NUL-terminated, caller's. */
int	 kube_b64_decode(char **out, size_t *len_out, const char *s);

/*
 * Splits "scheme://host[:port][/path]" ("[v6]" hosts too) into its
 * parts: *host_out the caller's, *port_out the port or the scheme's
 * default (80/443), *https_out. ERR_INVALID for anything else.
 */
int	 kube_url_split(char **host_out, int *port_out, bool *https_out,
	    const char *url);

#endif

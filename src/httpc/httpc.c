/*
 * httpc.c - libcurl easy handles with bounded requests.
 *
 * DESIGN
 * Each request starts from curl_easy_reset(), which keeps the handle's
 * live connections and DNS cache but forgets every option, so nothing a
 * previous request set (a body, a custom method) leaks into the next;
 * the options are applied again from scratch. The response body goes
 * into a struct buf with a ceiling: past it the write callback keeps what
 * fits, marks the response truncated and stops the transfer, which is
 * then still reported as an answer (the status line has arrived). The
 * header list may hold tokens: it is wiped before it is freed.
 */
#include "httpc.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#define LOG_MODULE "httpc"
#include "err.h"
#include "log.h"
#include "util.h"

#define HTTPC_TIMEOUT_MS	10000
#define HTTPC_CONNECT_MS	5000
#define HTTPC_MAX_BODY		(64 * 1024)

struct httpc {
	CURL		*curl;
	pthread_t	 owner;
	int64_t		 timeout_ms;
	int64_t		 connect_timeout_ms;
	size_t		 max_body;
	char		*user_agent;
	httpc_cancel_fn	*cancel;
	void		*cancel_arg;
	/* The request in flight. */
	struct buf	 body;
	bool		 truncated;
	char		 errbuf[CURL_ERROR_SIZE];
};

#define HTTPC_OWNED(h)	do {						\
	ASSERT((h) != NULL);						\
	ASSERT(pthread_equal((h)->owner, pthread_self()));		\
} while (0)

int
httpc_global_init(void)
{
	CURLcode	rc;

	if ((rc = curl_global_init(CURL_GLOBAL_DEFAULT)) != CURLE_OK)
		return err_set(ERR_FAIL, "libcurl: %s",
		    curl_easy_strerror(rc));
	return 0;
}

void
httpc_global_cleanup(void)
{
	curl_global_cleanup();
}

int
httpc_new(struct httpc **out, const struct httpc_opts *o)
{
	struct httpc	*h;

	*out = NULL;
	h = xcalloc(1, sizeof(*h));
	h->owner = pthread_self();
	if ((h->curl = curl_easy_init()) == NULL) {
		free(h);
		return err_set(ERR_FAIL, "libcurl: cannot make a handle");
	}
	h->timeout_ms = HTTPC_TIMEOUT_MS;
	h->connect_timeout_ms = HTTPC_CONNECT_MS;
	h->max_body = HTTPC_MAX_BODY;
	if (o != NULL) {
		if (o->timeout_ms > 0)
			h->timeout_ms = o->timeout_ms;
		if (o->connect_timeout_ms > 0)
			h->connect_timeout_ms = o->connect_timeout_ms;
		if (o->max_body > 0)
			h->max_body = o->max_body;
		h->cancel = o->cancel;
		h->cancel_arg = o->cancel_arg;
	}
	h->user_agent = xstrdup(o != NULL && o->user_agent != NULL ?
	    o->user_agent : "ferry");
	*out = h;
	return 0;
}

void
httpc_free(struct httpc *h)
{
	if (h == NULL)
		return;
	HTTPC_OWNED(h);
	curl_easy_cleanup(h->curl);
	buf_dispose(&h->body);
	free(h->user_agent);
	free(h);
}

void
httpc_response_dispose(struct httpc_response *r)
{
	if (r == NULL)
		return;
	free(r->body);
	memset(r, 0, sizeof(*r));
}

static size_t
httpc_write(char *p, size_t size, size_t n, void *arg)
{
	struct httpc	*h = arg;
	size_t		 len = size * n, room;

	room = h->body.max - h->body.len;
	if (len <= room) {
		ASSERT(buf_append(&h->body, p, len) == 0);
		return len;
	}
	ASSERT(buf_append(&h->body, p, room) == 0);
	h->truncated = true;
	return 0;	/* stops the transfer: CURLE_WRITE_ERROR */
}

static int
httpc_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct httpc	*h = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return h->cancel(h->cancel_arg) ? 1 : 0;
}

/* Wipes every header (tokens) before freeing the list. */
static void
headers_free(struct curl_slist *l)
{
	struct curl_slist	*i;

	for (i = l; i != NULL; i = i->next)
		wipe(i->data, strlen(i->data));
	curl_slist_free_all(l);
}

static bool
method_ok(const char *m)
{
	const char	*p;

	if (*m == '\0' || strlen(m) > 16)
		return false;
	for (p = m; *p != '\0'; p++)
		if (*p < 'A' || *p > 'Z')
			return false;
	return true;
}

static bool
url_ok(const char *url)
{
	return strncmp(url, "http://", 7) == 0 ||
	    strncmp(url, "https://", 8) == 0;
}

/* The options of one request; a failed setopt is a bug (or no memory). */
#define SETOPT(h, opt, val)						\
	ASSERT(curl_easy_setopt((h)->curl, (opt), (val)) == CURLE_OK)

static void
httpc_setup(struct httpc *h, const char *method, const char *url,
    struct curl_slist *hdrs, const char *body, size_t len)
{
	curl_easy_reset(h->curl);
	SETOPT(h, CURLOPT_URL, url);
	SETOPT(h, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	SETOPT(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	SETOPT(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SETOPT(h, CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(h, CURLOPT_TIMEOUT_MS, (long)h->timeout_ms);
	SETOPT(h, CURLOPT_CONNECTTIMEOUT_MS, (long)h->connect_timeout_ms);
	SETOPT(h, CURLOPT_USERAGENT, h->user_agent);
	SETOPT(h, CURLOPT_HTTPHEADER, hdrs);
	SETOPT(h, CURLOPT_WRITEFUNCTION, httpc_write);
	SETOPT(h, CURLOPT_WRITEDATA, h);
	SETOPT(h, CURLOPT_ERRORBUFFER, h->errbuf);
	if (h->cancel != NULL) {
		SETOPT(h, CURLOPT_XFERINFOFUNCTION, httpc_progress);
		SETOPT(h, CURLOPT_XFERINFODATA, h);
		SETOPT(h, CURLOPT_NOPROGRESS, 0L);
	}
	if (strcmp(method, "GET") == 0 && body == NULL)
		SETOPT(h, CURLOPT_HTTPGET, 1L);
	else if (strcmp(method, "HEAD") == 0)
		SETOPT(h, CURLOPT_NOBODY, 1L);
	else {
		if (strcmp(method, "POST") != 0)
			SETOPT(h, CURLOPT_CUSTOMREQUEST, method);
		SETOPT(h, CURLOPT_POST, 1L);
		SETOPT(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		SETOPT(h, CURLOPT_POSTFIELDS, body != NULL ? body : "");
	}
}

int
httpc_request(struct httpc_response *out, struct httpc *h, const char *method,
    const char *url, const char *const *headers, size_t nheaders,
    const char *body, size_t len)
{
	struct curl_slist	*hdrs = NULL, *l;
	CURLcode		 cc;
	curl_off_t		 retry_s = 0;
	long			 status = 0;
	size_t			 i;
	int			 rc;

	HTTPC_OWNED(h);
	ASSERT(method != NULL && url != NULL);
	ASSERT(body != NULL || len == 0);
	memset(out, 0, sizeof(*out));
	if (!method_ok(method))
		return err_set(ERR_INVALID, "bad http method");
	if (!url_ok(url))
		return err_set(ERR_INVALID, "url must be http or https");
	for (i = 0; i < nheaders; i++) {
		if ((l = curl_slist_append(hdrs, headers[i])) == NULL) {
			headers_free(hdrs);
			return err_set(ERR_FAIL, "libcurl: out of memory");
		}
		hdrs = l;
	}
	/* No 100-continue round trip (and its 1 s wait on old servers). */
	if ((l = curl_slist_append(hdrs, "Expect:")) == NULL) {
		headers_free(hdrs);
		return err_set(ERR_FAIL, "libcurl: out of memory");
	}
	hdrs = l;
	buf_dispose(&h->body);
	buf_init(&h->body, h->max_body);
	h->truncated = false;
	h->errbuf[0] = '\0';
	httpc_setup(h, method, url, hdrs, body, len);
	cc = curl_easy_perform(h->curl);
	(void)curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
	/* libcurl parses both forms; 0 when there is none. */
	if (curl_easy_getinfo(h->curl, CURLINFO_RETRY_AFTER, &retry_s) !=
	    CURLE_OK)
		retry_s = 0;
	/* The handle must not point at the caller's headers and body. */
	curl_easy_reset(h->curl);
	headers_free(hdrs);
	if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && h->truncated)) {
		if (cc == CURLE_ABORTED_BY_CALLBACK)
			rc = err_set(ERR_UPSTREAM, "request cancelled");
		else
			rc = err_set(ERR_UPSTREAM, "%s",
			    h->errbuf[0] != '\0' ? h->errbuf :
			    curl_easy_strerror(cc));
		buf_dispose(&h->body);
		return rc;
	}
	if (status == 0) {
		buf_dispose(&h->body);
		return err_set(ERR_UPSTREAM, "no http status in the answer");
	}
	out->status = status;
	out->retry_after_ms = retry_s > 0 && retry_s < INT64_MAX / 1000 ?
	    (int64_t)retry_s * 1000 : -1;
	out->len = h->body.len;
	out->body = buf_steal(&h->body);
	out->truncated = h->truncated;
	return 0;
}

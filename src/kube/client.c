/*
 * client.c - ferry's calls to the Kubernetes API over libcurl.
 *
 * DESIGN: a struct kube is shared by every thread. Each call makes its
 * own curl easy handle (cheap) attached to one curl share that holds the
 * connection cache, DNS and TLS sessions, so a worker's next call reuses
 * a warm connection whichever thread made it, and calls on several
 * threads never wait for one another except for the share's short
 * locks. Every call is bounded (connect and whole-request timeouts,
 * response ceiling); only watches and followed logs run long, and they
 * have a cancel callback instead.
 *
 * Retries follow one pure policy (kube_retry_delay_ms): connection
 * failures, 429 (after Retry-After) and 5xx back off exponentially with
 * jitter; 4xx never, except 409 Conflict that is not AlreadyExists. A
 * create that meets AlreadyExists adopts the object: the first try may
 * have succeeded with its answer lost.
 *
 * The bearer token of a tokenFile (the in-cluster projected token is
 * rotated by the kubelet) is re-read whenever the file's identity, size
 * or mtime changes. Neither token nor key ever reaches a log line.
 */
#define LOG_MODULE "kube"
#include "kube.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "ferry_version.h"
#include "kube_int.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

#define DEF_TIMEOUT_MS		(30 * 1000)
#define DEF_CONNECT_MS		(5 * 1000)
#define DEF_ATTEMPTS		6
#define DEF_BACKOFF_MS		200
#define DEF_BACKOFF_MAX_MS	(10 * 1000)
#define DEF_MAX_BODY		((size_t)64 * 1024 * 1024)
#define RETRY_AFTER_MAX_MS	(60 * 1000)
#define TOKEN_MAX		(64 * 1024)
#define LIST_PAGE		"500"

static _Thread_local struct kube_status last_status;

static const struct {
	const char	*prefix;	/* URL prefix of the group/version */
	const char	*api_version;
	const char	*kind;
	const char	*plural;
	bool		 namespaced;
} kinds[KUBE_KIND_COUNT] = {
	[KUBE_NAMESPACE] = { "/api/v1", "v1", "Namespace", "namespaces",
	    false },
	[KUBE_SERVICEACCOUNT] = { "/api/v1", "v1", "ServiceAccount",
	    "serviceaccounts", true },
	[KUBE_RESOURCEQUOTA] = { "/api/v1", "v1", "ResourceQuota",
	    "resourcequotas", true },
	[KUBE_LIMITRANGE] = { "/api/v1", "v1", "LimitRange", "limitranges",
	    true },
	[KUBE_NETWORKPOLICY] = { "/apis/networking.k8s.io/v1",
	    "networking.k8s.io/v1", "NetworkPolicy", "networkpolicies",
	    true },
	[KUBE_SECRET] = { "/api/v1", "v1", "Secret", "secrets", true },
	[KUBE_ROLEBINDING] = { "/apis/rbac.authorization.k8s.io/v1",
	    "rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings",
	    true },
	[KUBE_JOB] = { "/apis/batch/v1", "batch/v1", "Job", "jobs", true },
	[KUBE_POD] = { "/api/v1", "v1", "Pod", "pods", true },
	[KUBE_EVENT] = { "/api/v1", "v1", "Event", "events", true },
};

const char *
kube_kind_plural(enum kube_kind kind)
{
	ASSERT(kind >= 0 && kind < KUBE_KIND_COUNT);
	return kinds[kind].plural;
}

int
kube_kind_of(const char *api_version, const char *kind)
{
	int	i;

	if (api_version == NULL || kind == NULL)
		return -1;
	for (i = 0; i < KUBE_KIND_COUNT; i++)
		if (strcmp(kinds[i].api_version, api_version) == 0 &&
		    strcmp(kinds[i].kind, kind) == 0)
			return i;
	return -1;
}

/* Appends s percent-encoded (RFC 3986 unreserved bytes kept). */
static void
pct_append(struct buf *b, const char *s)
{
	char	hex[4];

	for (; *s != '\0'; s++) {
		unsigned char	c = (unsigned char)*s;

		if (isalnum(c) || c == '-' || c == '.' || c == '_' ||
		    c == '~')
			(void)buf_append(b, s, 1);
		else {
			(void)snprintf(hex, sizeof(hex), "%%%02X", c);
			(void)buf_append(b, hex, 3);
		}
	}
}

char *
kube_path(enum kube_kind kind, const char *ns, const char *name)
{
	struct buf	b;

	ASSERT(kind >= 0 && kind < KUBE_KIND_COUNT);
	buf_init(&b, 4096);
	(void)buf_puts(&b, kinds[kind].prefix);
	if (kinds[kind].namespaced && ns != NULL) {
		(void)buf_puts(&b, "/namespaces/");
		pct_append(&b, ns);
	}
	(void)buf_printf(&b, "/%s", kinds[kind].plural);
	if (name != NULL) {
		(void)buf_puts(&b, "/");
		pct_append(&b, name);
	}
	return buf_steal(&b);
}

void
kube_query_add(struct buf *b, const char *name, const char *value)
{
	(void)buf_printf(b, "%s%s=", b->len == 0 ? "?" : "&", name);
	pct_append(b, value);
}

char *
kube_url(const struct kube *k, const char *path, const char *query)
{
	return xasprintf("%s%s%s", k->base, path, query != NULL ? query : "");
}

/* Status */

static const char *
reason_of(long code)
{
	switch (code) {
	case 400:	return "BadRequest";
	case 401:	return "Unauthorized";
	case 403:	return "Forbidden";
	case 404:	return "NotFound";
	case 405:	return "MethodNotAllowed";
	case 406:	return "NotAcceptable";
	case 409:	return "Conflict";
	case 410:	return "Gone";
	case 413:	return "RequestEntityTooLarge";
	case 415:	return "UnsupportedMediaType";
	case 422:	return "Invalid";
	case 429:	return "TooManyRequests";
	case 500:	return "InternalError";
	case 503:	return "ServiceUnavailable";
	case 504:	return "Timeout";
	case 0:		return "NoAnswer";
	default:	return code >= 500 ? "InternalError" : "Unknown";
	}
}

/* Copies src into a fixed field, cut at the first newline. */
static void
field_copy(char *dst, size_t dstsz, const char *src, size_t len)
{
	size_t	n = 0;

	while (n < len && n + 1 < dstsz && src[n] != '\n' && src[n] != '\0')
		n++;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

void
kube_status_parse(struct kube_status *out, long http_code, const char *body,
    size_t len)
{
	cJSON		*j = NULL, *f;
	const char	*s;

	memset(out, 0, sizeof(*out));
	out->code = http_code;
	if (body != NULL && len > 0)
		j = cJSON_ParseWithLength(body, len);
	s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "kind"));
	if (s != NULL && strcmp(s, "Status") == 0) {
		f = cJSON_GetObjectItemCaseSensitive(j, "code");
		if (cJSON_IsNumber(f) && f->valuedouble >= 100 &&
		    f->valuedouble < 600)
			out->code = (long)f->valuedouble;
		s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j,
		    "reason"));
		if (s != NULL && *s != '\0')
			field_copy(out->reason, sizeof(out->reason), s,
			    strlen(s));
		s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j,
		    "message"));
		if (s != NULL)
			field_copy(out->message, sizeof(out->message), s,
			    strlen(s));
	} else if (body != NULL && len > 0)
		field_copy(out->message, sizeof(out->message), body, len);
	if (out->reason[0] == '\0')
		field_copy(out->reason, sizeof(out->reason),
		    reason_of(out->code), strlen(reason_of(out->code)));
	cJSON_Delete(j);
}

const struct kube_status *
kube_status_last(void)
{
	return &last_status;
}

int
kube_fail_status(const struct kube_status *st, const char *what)
{
	int	code;

	last_status = *st;
	switch (st->code) {
	case 400:
	case 422:
		code = ERR_INVALID;
		break;
	case 401:
	case 403:
		code = ERR_AUTH;
		break;
	case 404:
		code = ERR_NOTFOUND;
		break;
	case 409:
		code = ERR_EXISTS;
		break;
	default:
		code = ERR_UPSTREAM;
		break;
	}
	if (st->message[0] != '\0')
		return err_set(code, "%s: %s: %s", what, st->reason,
		    st->message);
	return err_set(code, "%s: %s (HTTP %ld)", what, st->reason, st->code);
}

int
kube_fail(const struct kube_xfer *x, const char *what)
{
	struct kube_status	st;

	kube_status_parse(&st, x->code, x->resp.data, x->resp.len);
	return kube_fail_status(&st, what);
}

/* Retry policy */

int64_t
kube_retry_after_parse(const char *value)
{
	int64_t	s;

	if (value == NULL)
		return -1;
	while (*value == ' ' || *value == '\t')
		value++;
	if (parse_int64(&s, value, 0, 24 * 3600) != 0) {
		err_clear();
		return -1;
	}
	return s * 1000;
}

int64_t
kube_retry_delay_ms(const struct kube_opts *o, int attempt, long code,
    const char *reason, int64_t retry_after_ms, uint32_t rnd)
{
	int64_t	base = o != NULL && o->backoff_ms > 0 ? o->backoff_ms :
	    DEF_BACKOFF_MS;
	int64_t	cap = o != NULL && o->backoff_max_ms > 0 ? o->backoff_max_ms :
	    DEF_BACKOFF_MAX_MS;
	int	max = o != NULL && o->max_attempts > 0 ? o->max_attempts :
	    DEF_ATTEMPTS;
	int64_t	d, half;
	int	i;

	if (attempt >= max)
		return -1;
	if (code >= 200 && code < 300)
		return -1;
	if (code >= 400 && code < 500 && code != 429 && code != 409)
		return -1;
	if (code == 409 && reason != NULL &&
	    strcmp(reason, "AlreadyExists") == 0)
		return -1;
	if (code >= 300 && code < 400)
		return -1;
	d = base;
	for (i = 1; i < attempt && d < cap; i++)
		d *= 2;
	if (d > cap)
		d = cap;
	half = d / 2;
	d = half + (int64_t)(rnd % (uint32_t)(d - half + 1));
	if (code == 429 && retry_after_ms >= 0) {
		if (retry_after_ms > RETRY_AFTER_MAX_MS)
			retry_after_ms = RETRY_AFTER_MAX_MS;
		if (d < retry_after_ms)
			d = retry_after_ms;
	} else if (retry_after_ms > d && code >= 500)
		d = retry_after_ms > RETRY_AFTER_MAX_MS ? RETRY_AFTER_MAX_MS :
		    retry_after_ms;
	return d;
}

/* The client */

static void
share_lock(CURL *h, curl_lock_data data, curl_lock_access access,
    void *arg)
{
	struct kube	*k = arg;

	(void)h;
	(void)access;
	pthread_mutex_lock(&k->share_mtx[data]);
}

static void
share_unlock(CURL *h, curl_lock_data data, void *arg)
{
	struct kube	*k = arg;

	(void)h;
	pthread_mutex_unlock(&k->share_mtx[data]);
}

const struct kube_config *
kube_config_of(const struct kube *k)
{
	return k->cfg;
}

int
kube_new(struct kube **out, struct kube_config *cfg,
    const struct kube_opts *o)
{
	struct kube	*k;
	char		*host = NULL;
	int		 port, i;
	bool		 https;

	*out = NULL;
	if (cfg == NULL || cfg->server == NULL ||
	    kube_url_split(&host, &port, &https, cfg->server) != 0) {
		kube_config_free(cfg);
		return err_set(ERR_INVALID, "kubernetes server URL must be "
		    "http:// or https://");
	}
	k = xcalloc(1, sizeof(*k));
	k->cfg = cfg;
	if (o != NULL)
		k->o = *o;
	if (k->o.timeout_ms <= 0)
		k->o.timeout_ms = DEF_TIMEOUT_MS;
	if (k->o.connect_timeout_ms <= 0)
		k->o.connect_timeout_ms = DEF_CONNECT_MS;
	if (k->o.max_attempts <= 0)
		k->o.max_attempts = DEF_ATTEMPTS;
	if (k->o.backoff_ms <= 0)
		k->o.backoff_ms = DEF_BACKOFF_MS;
	if (k->o.backoff_max_ms <= 0)
		k->o.backoff_max_ms = DEF_BACKOFF_MAX_MS;
	if (k->o.max_body == 0)
		k->o.max_body = DEF_MAX_BODY;
	k->user_agent = o != NULL && o->user_agent != NULL ?
	    xstrdup(o->user_agent) : xstrdup("ferry/" FERRY_VERSION);
	k->o.user_agent = k->user_agent;
	if (cfg->tls_server_name != NULL && https) {
		/* Name the server as the certificate does, connect to the
		   address the kubeconfig gives. */
		k->base = xasprintf("https://%s:%d", cfg->tls_server_name,
		    port);
		k->connect_to = xasprintf("%s:%d:%s:%d", cfg->tls_server_name,
		    port, host, port);
	} else
		k->base = xstrdup(cfg->server);
	free(host);
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&k->share_mtx[i], NULL);
	pthread_mutex_init(&k->tok_mtx, NULL);
	if ((k->share = curl_share_init()) == NULL ||
	    curl_share_setopt(k->share, CURLSHOPT_LOCKFUNC, share_lock) !=
	    CURLSHE_OK ||
	    curl_share_setopt(k->share, CURLSHOPT_UNLOCKFUNC, share_unlock) !=
	    CURLSHE_OK ||
	    curl_share_setopt(k->share, CURLSHOPT_USERDATA, k) != CURLSHE_OK ||
	    curl_share_setopt(k->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) !=
	    CURLSHE_OK ||
	    curl_share_setopt(k->share, CURLSHOPT_SHARE,
	    CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK ||
	    curl_share_setopt(k->share, CURLSHOPT_SHARE,
	    CURL_LOCK_DATA_CONNECT) != CURLSHE_OK) {
		kube_free(k);
		return err_set(ERR_FAIL, "libcurl cannot share connections");
	}
	*out = k;
	return 0;
}

void
kube_free(struct kube *k)
{
	int	i;

	if (k == NULL)
		return;
	if (k->share != NULL)
		curl_share_cleanup(k->share);
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&k->share_mtx[i]);
	pthread_mutex_destroy(&k->tok_mtx);
	free_secret(k->tok);
	free(k->user_agent);
	free(k->base);
	free(k->connect_to);
	kube_config_free(k->cfg);
	free(k);
}

/*
 * The bearer token for the next request (caller frees with free_secret),
 * or NULL when there is none. A token file is re-read when it changed;
 * if it cannot be read, the last content read (or the inline token) is
 * used and the failure logged once per change.
 */
static char *
bearer(struct kube *k)
{
	struct stat	 st;
	char		*t, *tok = NULL;
	size_t		 len;
	int64_t		 mt;

	if (k->cfg->token_file == NULL)
		return k->cfg->token != NULL ? xstrdup(k->cfg->token) : NULL;
	pthread_mutex_lock(&k->tok_mtx);
	if (stat(k->cfg->token_file, &st) == 0) {
		mt = (int64_t)st.st_mtim.tv_sec * 1000000000 +
		    st.st_mtim.tv_nsec;
		if (k->tok == NULL || st.st_dev != k->tok_dev ||
		    st.st_ino != k->tok_ino || st.st_size != k->tok_size ||
		    mt != k->tok_mtime_ns) {
			if (file_read(&t, &len, k->cfg->token_file,
			    TOKEN_MAX) == 0) {
				while (len > 0 && isspace((unsigned char)
				    t[len - 1]))
					t[--len] = '\0';
				free_secret(k->tok);
				k->tok = t;
				k->tok_dev = st.st_dev;
				k->tok_ino = st.st_ino;
				k->tok_size = st.st_size;
				k->tok_mtime_ns = mt;
			} else
				log_warnx("token file %s: %s",
				    k->cfg->token_file, err_msg());
		}
	}
	if (k->tok != NULL && k->tok[0] != '\0')
		tok = xstrdup(k->tok);
	else if (k->cfg->token != NULL)
		tok = xstrdup(k->cfg->token);
	pthread_mutex_unlock(&k->tok_mtx);
	return tok;
}

void
kube_xfer_init(struct kube_xfer *x, const char *method, const char *url)
{
	memset(x, 0, sizeof(*x));
	x->method = method;
	x->url = url;
	x->retry_after_ms = -1;
	buf_init(&x->resp, DEF_MAX_BODY);
}

void
kube_xfer_dispose(struct kube_xfer *x)
{
	buf_dispose(&x->resp);
}

struct xfer_ctx {
	struct kube_xfer	*x;
	CURL			*h;
	bool			 toobig;
};

static size_t
on_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer_ctx		*c = arg;
	struct kube_xfer	*x = c->x;
	size_t			 n = size * nmemb;
	long			 code = 0;

	curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &code);
	if (x->sink != NULL && code >= 200 && code < 300) {
		x->streamed = true;
		if (x->sink(x->sink_arg, data, n) != 0) {
			x->stopped = true;
			return 0;
		}
		return n;
	}
	if (buf_append(&x->resp, data, n) != 0) {
		c->toobig = true;
		return 0;
	}
	return n;
}

static size_t
on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer_ctx	*c = arg;
	size_t		 n = size * nmemb;
	char		 line[64];

	if (n > 12 && n < sizeof(line) &&
	    strncasecmp(data, "Retry-After:", 12) == 0) {
		memcpy(line, data + 12, n - 12);
		line[n - 12] = '\0';
		line[strcspn(line, "\r\n")] = '\0';
		c->x->retry_after_ms = kube_retry_after_parse(line);
	}
	return n;
}

static int
on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut,
    curl_off_t un)
{
	struct xfer_ctx	*c = arg;

	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	if (c->x->cancel != NULL && c->x->cancel(c->x->cancel_arg) != 0) {
		c->x->stopped = true;
		return 1;
	}
	return 0;
}

static void
slist_wipe_free(struct curl_slist *l)
{
	struct curl_slist	*p;

	for (p = l; p != NULL; p = p->next)
		wipe(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

static void
metrics_count(long code)
{
	char	s[16];

	if (code == 0) {
		metrics_inc(METRICS_KUBE_REQUESTS, "error", NULL);
		return;
	}
	(void)snprintf(s, sizeof(s), "%ld", code);
	metrics_inc(METRICS_KUBE_REQUESTS, s, NULL);
}

/* TLS and authentication options of one handle. */
static int
setup_tls(struct kube *k, CURL *h)
{
	const struct kube_config	*c = k->cfg;
	struct curl_blob		 blob;
	CURLcode			 e = CURLE_OK;

	if (c->insecure) {
		e |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		e |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	} else {
		e |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
		e |= curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	}
	if (c->ca_data != NULL) {
		blob.data = c->ca_data;
		blob.len = c->ca_len;
		blob.flags = CURL_BLOB_COPY;
		e |= curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
	} else if (c->ca_file != NULL)
		e |= curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
	if (c->cert_data != NULL) {
		blob.data = c->cert_data;
		blob.len = c->cert_len;
		blob.flags = CURL_BLOB_COPY;
		e |= curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &blob);
		e |= curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
	} else if (c->cert_file != NULL)
		e |= curl_easy_setopt(h, CURLOPT_SSLCERT, c->cert_file);
	if (c->key_data != NULL) {
		blob.data = c->key_data;
		blob.len = c->key_len;
		blob.flags = CURL_BLOB_COPY;
		e |= curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &blob);
		e |= curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
	} else if (c->key_file != NULL)
		e |= curl_easy_setopt(h, CURLOPT_SSLKEY, c->key_file);
	return e == CURLE_OK ? 0 : err_set(ERR_FAIL, "libcurl refused the "
	    "TLS options");
}

int
kube_exchange(struct kube *k, struct kube_xfer *x)
{
	struct xfer_ctx		 c;
	struct curl_slist	*hdrs = NULL, *cto = NULL;
	char			 errbuf[CURL_ERROR_SIZE], *tok, *auth;
	CURL			*h;
	CURLcode		 e = CURLE_OK, res;
	int			 rc = 0;

	x->code = 0;
	x->retry_after_ms = -1;
	x->stopped = false;
	x->streamed = false;
	buf_reset(&x->resp);
	if ((h = curl_easy_init()) == NULL)
		return err_set(ERR_FAIL, "libcurl cannot make a handle");
	memset(&c, 0, sizeof(c));
	c.x = x;
	c.h = h;
	errbuf[0] = '\0';
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	if (x->ctype != NULL) {
		auth = xasprintf("Content-Type: %s", x->ctype);
		hdrs = curl_slist_append(hdrs, auth);
		free(auth);
	}
	if ((tok = bearer(k)) != NULL) {
		auth = xasprintf("Authorization: Bearer %s", tok);
		hdrs = curl_slist_append(hdrs, auth);
		free_secret(auth);
		free_secret(tok);
	}
	e |= curl_easy_setopt(h, CURLOPT_SHARE, k->share);
	e |= curl_easy_setopt(h, CURLOPT_URL, x->url);
	e |= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	e |= curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	e |= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	e |= curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	e |= curl_easy_setopt(h, CURLOPT_USERAGENT, k->user_agent);
	e |= curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	e |= curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	e |= curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)k->o.connect_timeout_ms);
	if (!x->unbounded)
		e |= curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)
		    (x->timeout_ms > 0 ? x->timeout_ms : k->o.timeout_ms));
	e |= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	e |= curl_easy_setopt(h, CURLOPT_WRITEDATA, &c);
	e |= curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	e |= curl_easy_setopt(h, CURLOPT_HEADERDATA, &c);
	if (x->cancel != NULL) {
		e |= curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION,
		    on_progress);
		e |= curl_easy_setopt(h, CURLOPT_XFERINFODATA, &c);
		e |= curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	}
	if (k->connect_to != NULL) {
		cto = curl_slist_append(NULL, k->connect_to);
		e |= curl_easy_setopt(h, CURLOPT_CONNECT_TO, cto);
	}
	if (strcmp(x->method, "GET") != 0)
		e |= curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, x->method);
	if (x->body != NULL) {
		e |= curl_easy_setopt(h, CURLOPT_POSTFIELDS, x->body);
		e |= curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)x->len);
	}
	if (e != CURLE_OK || setup_tls(k, h) != 0) {
		rc = err_set(ERR_FAIL, "libcurl refused the request options");
		goto out;
	}
	res = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &x->code);
	if (x->stopped) {
		rc = 0;
	} else if (c.toobig) {
		rc = err_set(ERR_TOOBIG, "answer larger than %zu bytes",
		    x->resp.max);
	} else if (res != CURLE_OK) {
		/* An answer that broke off mid-body is no answer. */
		x->code = 0;
		rc = err_set(ERR_UPSTREAM, "%s", errbuf[0] != '\0' ? errbuf :
		    curl_easy_strerror(res));
	}
	metrics_count(x->code);
out:
	curl_easy_cleanup(h);
	slist_wipe_free(hdrs);
	curl_slist_free_all(cto);
	return rc;
}

static void
sleep_ms(int64_t ms)
{
	struct timespec	ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int
kube_call(struct kube *k, struct kube_xfer *x, const char *what)
{
	struct kube_status	st;
	int64_t			delay;
	int			attempt, rc;

	for (attempt = 1;; attempt++) {
		rc = kube_exchange(k, x);
		if (rc != 0 && rc != ERR_UPSTREAM) {
			(void)snprintf(st.message, sizeof(st.message), "%s",
			    err_msg());
			return err_set(rc, "%s: %s", what, st.message);
		}
		if (x->stopped || (x->code >= 200 && x->code < 300))
			return 0;
		if (rc == ERR_UPSTREAM) {
			memset(&st, 0, sizeof(st));
			(void)snprintf(st.reason, sizeof(st.reason), "%s",
			    "NoAnswer");
			(void)snprintf(st.message, sizeof(st.message), "%s",
			    err_msg());
		} else
			kube_status_parse(&st, x->code, x->resp.data,
			    x->resp.len);
		/* A stream that already delivered bytes is not replayed. */
		delay = x->streamed ? -1 : kube_retry_delay_ms(&k->o, attempt,
		    st.code, st.reason, x->retry_after_ms, arc4random());
		if (delay < 0)
			return kube_fail_status(&st, what);
		log_debug("%s: %s (HTTP %ld); retry %d in %lld ms", what,
		    st.reason, st.code, attempt, (long long)delay);
		sleep_ms(delay);
	}
}

/* Typed calls */

static char *
json_print(const cJSON *j)
{
	char	*s = cJSON_PrintUnformatted(j);

	ASSERT(s != NULL);
	return s;
}

/* Parses a successful answer's body into *out (if out). */
static int
take_json(cJSON **out, const struct kube_xfer *x, const char *what)
{
	cJSON	*j;

	if (out == NULL)
		return 0;
	j = cJSON_ParseWithLength(x->resp.data != NULL ? x->resp.data : "",
	    x->resp.len);
	if (j == NULL)
		return err_set(ERR_UPSTREAM, "%s: the answer is not JSON",
		    what);
	*out = j;
	return 0;
}

static const char *
meta_str(const cJSON *obj, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(obj, "metadata"), key));
}

int
kube_create(cJSON **out, bool *adopted_out, struct kube *k,
    const cJSON *obj)
{
	struct kube_xfer	 x;
	struct buf		 q;
	const char		*av, *kd, *ns, *name;
	char			*path, *url, *body, *what;
	int			 kind, rc;

	if (out != NULL)
		*out = NULL;
	if (adopted_out != NULL)
		*adopted_out = false;
	av = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj,
	    "apiVersion"));
	kd = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj,
	    "kind"));
	ns = meta_str(obj, "namespace");
	name = meta_str(obj, "name");
	if ((kind = kube_kind_of(av, kd)) < 0 || name == NULL ||
	    (kinds[kind].namespaced && ns == NULL))
		return err_set(ERR_INVALID, "create: not an object ferry "
		    "makes (%s %s)", av ? av : "?", kd ? kd : "?");
	what = xasprintf("create %s %s%s%s", kinds[kind].plural,
	    kinds[kind].namespaced ? ns : "", kinds[kind].namespaced ? "/" :
	    "", name);
	path = kube_path((enum kube_kind)kind, ns, NULL);
	buf_init(&q, 1024);
	kube_query_add(&q, "fieldManager", "ferry");
	kube_query_add(&q, "fieldValidation", "Strict");
	url = kube_url(k, path, q.data);
	body = json_print(obj);
	kube_xfer_init(&x, "POST", url);
	x.ctype = "application/json";
	x.body = body;
	x.len = strlen(body);
	rc = kube_call(k, &x, what);
	if (rc == 0)
		rc = take_json(out, &x, what);
	else if (rc == ERR_EXISTS &&
	    strcmp(kube_status_last()->reason, "AlreadyExists") == 0) {
		log_debug("%s: already exists; adopted", what);
		if (adopted_out != NULL)
			*adopted_out = true;
		err_clear();
		rc = out != NULL ? kube_get(out, k, (enum kube_kind)kind, ns,
		    name) : 0;
	}
	kube_xfer_dispose(&x);
	free(body);
	free(url);
	buf_dispose(&q);
	free(path);
	free(what);
	return rc;
}

static char *
what_of(const char *verb, enum kube_kind kind, const char *ns,
    const char *name)
{
	if (name == NULL)
		return !kinds[kind].namespaced || ns == NULL ?
		    xasprintf("%s %s", verb, kinds[kind].plural) :
		    xasprintf("%s %s in %s", verb, kinds[kind].plural, ns);
	if (!kinds[kind].namespaced || ns == NULL)
		return xasprintf("%s %s %s", verb, kinds[kind].plural, name);
	return xasprintf("%s %s %s/%s", verb, kinds[kind].plural, ns, name);
}

int
kube_get(cJSON **out, struct kube *k, enum kube_kind kind, const char *ns,
    const char *name)
{
	struct kube_xfer	 x;
	char			*path, *url, *what;
	int			 rc;

	*out = NULL;
	ASSERT(name != NULL);
	what = what_of("get", kind, ns, name);
	path = kube_path(kind, ns, name);
	url = kube_url(k, path, NULL);
	kube_xfer_init(&x, "GET", url);
	if ((rc = kube_call(k, &x, what)) == 0)
		rc = take_json(out, &x, what);
	kube_xfer_dispose(&x);
	free(url);
	free(path);
	free(what);
	return rc;
}

int
kube_list(cJSON **out, struct kube *k, enum kube_kind kind, const char *ns,
    const char *selector)
{
	struct kube_xfer	 x;
	struct buf		 q;
	cJSON			*list = NULL, *page = NULL, *items, *it;
	char			*path, *url, *what, *cont = NULL;
	const char		*c;
	int			 rc;

	*out = NULL;
	what = what_of("list", kind, ns, NULL);
	path = kube_path(kind, ns, NULL);
	for (;;) {
		buf_init(&q, 4096);
		kube_query_add(&q, "limit", LIST_PAGE);
		if (selector != NULL && *selector != '\0')
			kube_query_add(&q, "labelSelector", selector);
		if (cont != NULL)
			kube_query_add(&q, "continue", cont);
		url = kube_url(k, path, q.data);
		buf_dispose(&q);
		kube_xfer_init(&x, "GET", url);
		rc = kube_call(k, &x, what);
		if (rc == 0)
			rc = take_json(&page, &x, what);
		kube_xfer_dispose(&x);
		free(url);
		if (rc != 0)
			break;
		if (list == NULL) {
			list = page;
			if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(
			    list, "items")))
				cJSON_AddItemToObject(list, "items",
				    cJSON_CreateArray());
		} else {
			items = cJSON_GetObjectItemCaseSensitive(list,
			    "items");
			while ((it = cJSON_DetachItemFromArray(
			    cJSON_GetObjectItemCaseSensitive(page, "items"),
			    0)) != NULL)
				cJSON_AddItemToArray(items, it);
		}
		c = meta_str(page, "continue");
		free(cont);
		cont = c != NULL && *c != '\0' ? xstrdup(c) : NULL;
		if (page != list)
			cJSON_Delete(page);
		page = NULL;
		if (cont == NULL)
			break;
	}
	if (rc == 0) {
		cJSON_DeleteItemFromObjectCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(list, "metadata"),
		    "continue");
		*out = list;
		list = NULL;
	}
	cJSON_Delete(list);
	free(cont);
	free(path);
	free(what);
	return rc;
}

int
kube_patch(cJSON **out, struct kube *k, enum kube_kind kind, const char *ns,
    const char *name, enum kube_patch type, const cJSON *patch)
{
	static const char *const ctypes[] = {
		[KUBE_PATCH_MERGE] = "application/merge-patch+json",
		[KUBE_PATCH_STRATEGIC] =
		    "application/strategic-merge-patch+json",
		[KUBE_PATCH_JSON] = "application/json-patch+json",
	};
	struct kube_xfer	 x;
	struct buf		 q;
	char			*path, *url, *what, *body;
	int			 rc;

	if (out != NULL)
		*out = NULL;
	ASSERT(name != NULL && (int)type >= 0 && type <= KUBE_PATCH_JSON);
	what = what_of("patch", kind, ns, name);
	path = kube_path(kind, ns, name);
	buf_init(&q, 1024);
	kube_query_add(&q, "fieldManager", "ferry");
	url = kube_url(k, path, q.data);
	body = json_print(patch);
	kube_xfer_init(&x, "PATCH", url);
	x.ctype = ctypes[type];
	x.body = body;
	x.len = strlen(body);
	if ((rc = kube_call(k, &x, what)) == 0)
		rc = take_json(out, &x, what);
	kube_xfer_dispose(&x);
	free(body);
	free(url);
	buf_dispose(&q);
	free(path);
	free(what);
	return rc;
}

int
kube_delete(struct kube *k, enum kube_kind kind, const char *ns,
    const char *name, enum kube_propagation prop, int64_t grace_s)
{
	static const char *const props[] = {
		[KUBE_PROPAGATE_DEFAULT] = NULL,
		[KUBE_PROPAGATE_BACKGROUND] = "Background",
		[KUBE_PROPAGATE_FOREGROUND] = "Foreground",
		[KUBE_PROPAGATE_ORPHAN] = "Orphan",
	};
	struct kube_xfer	 x;
	struct buf		 q;
	char			*path, *url, *what, g[32];
	int			 rc;

	ASSERT(name != NULL && (int)prop >= 0 && prop <= KUBE_PROPAGATE_ORPHAN);
	what = what_of("delete", kind, ns, name);
	path = kube_path(kind, ns, name);
	buf_init(&q, 1024);
	if (props[prop] != NULL)
		kube_query_add(&q, "propagationPolicy", props[prop]);
	if (grace_s >= 0) {
		(void)snprintf(g, sizeof(g), "%lld", (long long)grace_s);
		kube_query_add(&q, "gracePeriodSeconds", g);
	}
	url = kube_url(k, path, q.data);
	kube_xfer_init(&x, "DELETE", url);
	rc = kube_call(k, &x, what);
	if (rc == ERR_NOTFOUND) {
		err_clear();
		rc = 0;
	}
	kube_xfer_dispose(&x);
	free(url);
	buf_dispose(&q);
	free(path);
	free(what);
	return rc;
}

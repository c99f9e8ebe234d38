/*
 * test_http.c - the HTTP server, driven over real loopback sockets with
 * hand-written requests (so trickling, oversized and chunked requests
 * are exact). Every wait is bounded.
 */
#include "http.h"

#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "util.h"

#define IO_TIMEOUT_MS	10000

static struct http_server	*srv;
static atomic_int		 handler_calls;
static atomic_int		 stream_frees;
static atomic_int		 last_produced;

/* ---- test handlers ---------------------------------------------- */

static void
h_params(struct http_req *req, void *arg)
{
	char		*s;
	const char	*q;

	(void)arg;
	q = http_req_query(req, "q");
	s = xasprintf("%s|%s|%s|%s", http_req_param(req, 0),
	    http_req_param(req, 1), q != NULL ? q : "(null)",
	    http_req_param(req, 2) == NULL ? "end" : "more");
	http_reply_take(req, 200, "text/plain", s, strlen(s));
}

static void
h_files(struct http_req *req, void *arg)
{
	const char	*p = http_req_param(req, 0);

	(void)arg;
	http_reply(req, 200, "text/plain", p, strlen(p));
}

static void
h_echo(struct http_req *req, void *arg)
{
	const char	*body;
	size_t		 len;
	const char	*h;

	(void)arg;
	atomic_fetch_add(&handler_calls, 1);
	body = http_req_body(req, &len);
	h = http_req_header(req, "x-test");
	if (h != NULL)
		http_reply_header(req, "X-Echo", h);
	http_reply(req, 200, "application/octet-stream", body, len);
}

static void
h_noreply(struct http_req *req, void *arg)
{
	(void)req;
	(void)arg;
}

static void
h_error(struct http_req *req, void *arg)
{
	(void)arg;
	http_reply_error(req, 409, "conflict", "say \"%s\"\n\\%d", "hi", 7);
}

static void
h_cache(struct http_req *req, void *arg)
{
	(void)arg;
	http_reply_header(req, "Cache-Control", "max-age=60");
	http_reply(req, 200, "text/plain", "ok", 2);
}

static void
h_ping(struct http_req *req, void *arg)
{
	(void)arg;
	http_reply(req, 200, "text/plain", "pong", 4);
}

struct stream_state {
	struct http_req	*req;
	int		 i;
};

static void
stream_free(void *arg)
{
	atomic_fetch_add(&stream_frees, 1);
	free(arg);
}

static void
sleep_ms(long ms)
{
	struct timespec	ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static ssize_t
copy_out(char *buf, size_t max, const char *s)
{
	size_t	n = strlen(s);

	ck_assert_uint_le(n, max);
	memcpy(buf, s, n);
	return (ssize_t)n;
}

static ssize_t
stream_chunks(void *arg, uint64_t pos, char *buf, size_t max)
{
	struct stream_state	*st = arg;

	(void)pos;
	switch (st->i++) {
	case 0:
		return copy_out(buf, max, "first\n");
	case 1:
		sleep_ms(300);
		return 0;	/* nothing yet */
	case 2:
		return copy_out(buf, max, "second\n");
	case 3:
		sleep_ms(300);
		atomic_store(&last_produced, 1);
		return copy_out(buf, max, "last\n");
	default:
		return HTTP_STREAM_END;
	}
}

static ssize_t
stream_forever(void *arg, uint64_t pos, char *buf, size_t max)
{
	struct stream_state	*st = arg;

	(void)pos;
	if (st->i++ == 0)
		return copy_out(buf, max, "hello\n");
	sleep_ms(200);
	if (http_server_stopping(st->req))
		return HTTP_STREAM_END;
	return 0;
}

static void
h_stream(struct http_req *req, void *arg)
{
	struct stream_state	*st = xcalloc(1, sizeof *st);

	(void)arg;
	st->req = req;
	http_reply_stream(req, 200, "text/plain", stream_chunks, st,
	    stream_free);
}

static void
h_forever(struct http_req *req, void *arg)
{
	struct stream_state	*st = xcalloc(1, sizeof *st);

	(void)arg;
	st->req = req;
	http_reply_stream(req, 200, "text/event-stream", stream_forever, st,
	    stream_free);
}

static const struct http_route routes[] = {
	{ "GET", "/hello/{}/x/{}", h_params },
	{ "DELETE", "/hello/{}/x/{}", h_params },
	{ "GET", "/files/*", h_files },
	{ "GET", "/one/{}", h_files },
	{ "POST", "/echo", h_echo },
	{ "GET", "/noreply", h_noreply },
	{ "GET", "/error", h_error },
	{ "GET", "/cache", h_cache },
	{ "GET", "/ping", h_ping },
	{ "GET", "/stream", h_stream },
	{ "GET", "/forever", h_forever },
};

/* ---- server and client helpers ---------------------------------- */

static void
opts_default(struct http_opts *o)
{
	memset(o, 0, sizeof *o);
	o->host = "127.0.0.1";
	o->port = 0;
	o->max_body = 64 * 1024;
	o->request_timeout_ms = 10000;
	o->idle_timeout_ms = 5000;
	o->max_connections = 64;
}

static void
server_start(const struct http_opts *o)
{
	ck_assert_ptr_null(srv);
	ck_assert_int_eq(http_server_start(&srv, o, routes,
	    sizeof routes / sizeof routes[0], NULL), 0);
	ck_assert_int_gt(http_server_port(srv), 0);
}

static void
setup(void)
{
	struct http_opts	o;

	atomic_store(&handler_calls, 0);
	atomic_store(&stream_frees, 0);
	atomic_store(&last_produced, 0);
	opts_default(&o);
	server_start(&o);
}

static void
setup_none(void)
{
	atomic_store(&handler_calls, 0);
	atomic_store(&stream_frees, 0);
}

static void
teardown(void)
{
	http_server_stop(srv);
	srv = NULL;
}

static int
conn_open(void)
{
	struct sockaddr_in	sin;
	int			fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)http_server_port(srv));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	return fd;
}

static int
send_all(int fd, const void *p, size_t n)
{
	const char	*c = p;
	ssize_t		 w;

	while (n > 0) {
		w = send(fd, c, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static void
send_str(int fd, const char *s)
{
	ck_assert_int_eq(send_all(fd, s, strlen(s)), 0);
}

static const char *
find(const char *hay, size_t hlen, const char *needle)
{
	size_t	nlen = strlen(needle), i;

	for (i = 0; i + nlen <= hlen; i++)
		if (memcmp(hay + i, needle, nlen) == 0)
			return hay + i;
	return NULL;
}

/* Reads once into b: bytes read, 0 on EOF or reset, -1 on timeout. */
static ssize_t
read_some(int fd, struct buf *b, int64_t deadline)
{
	char		tmp[16384];
	struct pollfd	pfd;
	ssize_t		n;
	int64_t		left;

	for (;;) {
		if ((left = deadline - time_mono_ms()) <= 0)
			return -1;
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		n = recv(fd, tmp, sizeof tmp, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == ECONNRESET ? 0 : -1;
		if (n > 0)
			ck_assert_int_eq(buf_append(b, tmp, (size_t)n), 0);
		return n;
	}
}

/*
 * Reads into b until it holds needle (1), the peer closed (0), or
 * timeout_ms passed (-1).
 */
static int
read_until(int fd, struct buf *b, const char *needle, int timeout_ms)
{
	int64_t	deadline = time_mono_ms() + timeout_ms;
	ssize_t	n;

	for (;;) {
		if (needle != NULL && b->data != NULL &&
		    find(b->data, b->len, needle) != NULL)
			return 1;
		if ((n = read_some(fd, b, deadline)) <= 0)
			return (int)n;
	}
}

struct resp {
	int	 status;
	char	*head;		/* status line and headers */
	char	*body;
	size_t	 len;
};

static void
resp_free(struct resp *r)
{
	free(r->head);
	free(r->body);
	memset(r, 0, sizeof *r);
}

/* A response header's value (first match), copied into out. */
static bool
resp_header(const struct resp *r, const char *name, char *out, size_t sz)
{
	const char	*p = r->head;
	size_t		 nlen = strlen(name), vlen;

	while ((p = strstr(p, "\r\n")) != NULL) {
		p += 2;
		if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
			p += nlen + 1;
			while (*p == ' ')
				p++;
			vlen = strcspn(p, "\r");
			if (vlen >= sz)
				vlen = sz - 1;
			memcpy(out, p, vlen);
			out[vlen] = '\0';
			return true;
		}
	}
	return false;
}

/* Reads one response (Content-Length, chunked, or until EOF). */
static int
resp_read(struct resp *r, int fd, bool head_only)
{
	struct buf	 b, body;
	const char	*eoh, *p, *end;
	char		 v[64];
	size_t		 hlen, need, n;
	int64_t		 cl, deadline;

	memset(r, 0, sizeof *r);
	buf_init(&b, 256 * 1024 * 1024);
	if (read_until(fd, &b, "\r\n\r\n", IO_TIMEOUT_MS) != 1) {
		buf_dispose(&b);
		return -1;
	}
	eoh = find(b.data, b.len, "\r\n\r\n");
	hlen = (size_t)(eoh - b.data) + 4;
	r->head = xstrndup(b.data, hlen - 2);
	if (sscanf(r->head, "HTTP/1.%*d %d", &r->status) != 1)
		r->status = -1;
	buf_init(&body, 256 * 1024 * 1024);
	if (head_only) {
		/* nothing */
	} else if (resp_header(r, "Transfer-Encoding", v, sizeof v) &&
	    strcasecmp(v, "chunked") == 0) {
		/* Simplistic: the whole stream, then decode. */
		for (;;) {
			p = b.data + hlen;
			if (find(p, b.len - hlen, "\r\n0\r\n\r\n") != NULL ||
			    strncmp(p, "0\r\n\r\n", 5) == 0)
				break;
			if (read_until(fd, &b, "\r\n0\r\n\r\n",
			    IO_TIMEOUT_MS) != 1)
				break;
		}
		p = b.data + hlen;
		end = b.data + b.len;
		while (p < end) {
			n = strtoul(p, NULL, 16);
			if ((p = strstr(p, "\r\n")) == NULL || n == 0)
				break;
			p += 2;
			if ((size_t)(end - p) < n + 2)
				break;
			buf_append(&body, p, n);
			p += n + 2;
		}
	} else if (resp_header(r, "Content-Length", v, sizeof v) &&
	    parse_int64(&cl, v, 0, INT32_MAX) == 0) {
		need = hlen + (size_t)cl;
		deadline = time_mono_ms() + IO_TIMEOUT_MS;
		while (b.len < need && read_some(fd, &b, deadline) > 0)
			continue;
		if (b.len >= need)
			buf_append(&body, b.data + hlen, (size_t)cl);
		else
			r->status = -2;
	} else {
		read_until(fd, &b, NULL, IO_TIMEOUT_MS);
		buf_append(&body, b.data + hlen, b.len - hlen);
	}
	r->len = body.len;
	r->body = buf_steal(&body);
	buf_dispose(&b);
	return 0;
}

/* One request on a fresh connection. */
static void
roundtrip(struct resp *r, const char *req, bool head_only)
{
	int	fd = conn_open();

	send_str(fd, req);
	ck_assert_int_eq(resp_read(r, fd, head_only), 0);
	close(fd);
}

/* True once the peer closes fd (EOF or reset) within timeout_ms. */
static bool
wait_closed(int fd, int timeout_ms)
{
	struct buf	b;
	int		rc;

	buf_init(&b, 1024 * 1024);
	rc = read_until(fd, &b, NULL, timeout_ms);
	buf_dispose(&b);
	return rc == 0;
}

static long
rss_kib(void)
{
	char	*s, *p;
	size_t	 len;
	long	 kib = -1;

	ck_assert_int_eq(file_read(&s, &len, "/proc/self/status", 65536), 0);
	if ((p = strstr(s, "VmRSS:")) != NULL)
		kib = strtol(p + 6, NULL, 10);
	free(s);
	ck_assert_int_gt(kib, 0);
	return kib;
}

static void
assert_json_error(const struct resp *r, const char *code, const char *msg)
{
	cJSON		*root, *err, *c, *m;
	char		 ct[64];

	ck_assert(resp_header(r, "Content-Type", ct, sizeof ct));
	ck_assert_str_eq(ct, "application/json");
	root = cJSON_ParseWithLength(r->body, r->len);
	ck_assert_ptr_nonnull(root);
	err = cJSON_GetObjectItemCaseSensitive(root, "error");
	ck_assert_ptr_nonnull(err);
	c = cJSON_GetObjectItemCaseSensitive(err, "code");
	m = cJSON_GetObjectItemCaseSensitive(err, "message");
	ck_assert(cJSON_IsString(c) && cJSON_IsString(m));
	ck_assert_str_eq(c->valuestring, code);
	if (msg != NULL)
		ck_assert_str_eq(m->valuestring, msg);
	cJSON_Delete(root);
}

/* ---- tests ------------------------------------------------------ */

START_TEST(url_decode_forms)
{
	char	a[] = "a%20b+c%2f%zz%4", b[] = "a+b%2B", c[] = "%41%6a";

	http_url_decode(a, false);
	ck_assert_str_eq(a, "a b+c/%zz%4");
	http_url_decode(b, true);
	ck_assert_str_eq(b, "a b+");
	http_url_decode(c, false);
	ck_assert_str_eq(c, "Aj");
}
END_TEST

START_TEST(route_params_decoded)
{
	struct resp	r;

	roundtrip(&r, "GET /hello/a%20b/x/%C3%A9t%C3%A9?q=1%262+3 HTTP/1.1\r\n"
	    "Host: t\r\nConnection: close\r\n\r\n", false);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "a b|\xc3\xa9t\xc3\xa9|1&2 3|end");
	resp_free(&r);

	/* An empty segment does not match "{}". */
	roundtrip(&r, "GET /hello//x/b HTTP/1.1\r\nHost: t\r\n"
	    "Connection: close\r\n\r\n", false);
	ck_assert_int_eq(r.status, 404);
	resp_free(&r);
}
END_TEST

START_TEST(route_query_absent)
{
	struct resp	r;

	roundtrip(&r, "GET /hello/a/x/b HTTP/1.1\r\nHost: t\r\n"
	    "Connection: close\r\n\r\n", false);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "a|b|(null)|end");
	resp_free(&r);
}
END_TEST

START_TEST(route_wildcard)
{
	struct resp	r;

	roundtrip(&r, "GET /files/a/b%20c/d.txt HTTP/1.1\r\nHost: t\r\n"
	    "Connection: close\r\n\r\n", false);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "a/b c/d.txt");
	resp_free(&r);
}
END_TEST

START_TEST(route_traversal_rejected)
{
	static const char	*bad[] = {
		"GET /files/%2e%2e/x HTTP/1.1\r\n",
		"GET /files/a/%2E%2E/%2e%2e/etc HTTP/1.1\r\n",
		"GET /files/../x HTTP/1.1\r\n",
		"GET /files/a%2Fb HTTP/1.1\r\n",
		"GET /files/a%00b HTTP/1.1\r\n",
		"GET /one/%2e%2e HTTP/1.1\r\n",
		"GET /one/%2e HTTP/1.1\r\n",
		"GET /one/a%2f..%2fb HTTP/1.1\r\n",
		"GET /hello/a/x/c%2Fd HTTP/1.1\r\n",
	};
	struct resp		 r;
	char			*req;
	size_t			 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		req = xasprintf("%sHost: t\r\nConnection: close\r\n\r\n",
		    bad[i]);
		roundtrip(&r, req, false);
		free(req);
		ck_assert_msg(r.status == 404 || r.status == 400,
		    "%s -> %d", bad[i], r.status);
		resp_free(&r);
	}
	/* A harmless encoded dot still matches. */
	roundtrip(&r, "GET /one/a%2eb HTTP/1.1\r\nHost: t\r\n"
	    "Connection: close\r\n\r\n", false);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "a.b");
	resp_free(&r);
}
END_TEST

START_TEST(not_found_json)
{
	struct resp	r;
	char		v[64];

	roundtrip(&r, "GET /nope HTTP/1.1\r\nHost: t\r\n"
	    "Connection: close\r\n\r\n", false);
	ck_assert_int_eq(r.status, 404);
	ck_assert_str_eq(r.body, "{\"error\":{\"code\":\"not_found\","
	    "\"message\":\"no route for GET /nope\"}}");
	assert_json_error(&r, "not_found", "no route for GET /nope");
	ck_assert(resp_header(&r, "X-Content-Type-Options", v, sizeof v));
	ck_assert_str_eq(v, "nosniff");
	ck_assert(resp_header(&r, "Cache-Control", v, sizeof v));
	ck_assert_str_eq(v, "no-store");
	resp_free(&r);
}
END_TEST

START_TEST(method_not_allowed)
{
	struct resp	r;
	char		v[128];

	roundtrip(&r, "PUT /hello/a/x/b HTTP/1.1\r\nHost: t\r\n"
	    "Content-Length: 0\r\nConnection: close\r\n\r\n", false);
	ck_assert_int_eq(r.status, 405);
	ck_assert(resp_header(&r, "Allow", v, sizeof v));
	ck_assert_str_eq(v, "GET, HEAD, DELETE");
	assert_json_error(&r, "method_not_allowed", NULL);
	resp_free(&r);

	/* The second route for the same pattern serves DELETE. */
	roundtrip(&r, "DELETE /hello/a/x/b HTTP/1.1\r\nHost: t\r\n"
	    "Connection: close\r\n\r\n", false);
	ck_assert_int_eq(r.status, 200);
	resp_free(&r);
}
END_TEST

START_TEST(head_served_by_get)
{
	struct resp	r;
	char		v[64];
	int		fd;

	fd = conn_open();
	send_str(fd, "HEAD /ping HTTP/1.1\r\nHost: t\r\n\r\n");
	ck_assert_int_eq(resp_read(&r, fd, true), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert(resp_header(&r, "Content-Length", v, sizeof v));
	ck_assert_str_eq(v, "4");
	resp_free(&r);
	/* No body followed: the next response is next on the wire. */
	send_str(fd, "GET /ping HTTP/1.1\r\nHost: t\r\n\r\n");
	ck_assert_int_eq(resp_read(&r, fd, false), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "pong");
	resp_free(&r);
	close(fd);
}
END_TEST

START_TEST(error_json_escaped)
{
	struct resp	r;

	roundtrip(&r, "GET /error HTTP/1.1\r\nHost: t\r\n"
	    "Connection: close\r\n\r\n", false);
	ck_assert_int_eq(r.status, 409);
	assert_json_error(&r, "conflict", "say \"hi\"\n\\7");
	resp_free(&r);
}
END_TEST

START_TEST(handler_cache_control_kept)
{
	struct resp	r;
	char		v[64];

	roundtrip(&r, "GET /cache HTTP/1.1\r\nHost: t\r\n"
	    "Connection: close\r\n\r\n", false);
	ck_assert_int_eq(r.status, 200);
	ck_assert(resp_header(&r, "Cache-Control", v, sizeof v));
	ck_assert_str_eq(v, "max-age=60");
	ck_assert(strstr(r.head, "no-store") == NULL);
	ck_assert(resp_header(&r, "X-Content-Type-Options", v, sizeof v));
	resp_free(&r);
}
END_TEST

START_TEST(handler_without_reply_500)
{
	struct resp	r;

	roundtrip(&r, "GET /noreply HTTP/1.1\r\nHost: t\r\n"
	    "Connection: close\r\n\r\n", false);
	ck_assert_int_eq(r.status, 500);
	assert_json_error(&r, "internal", NULL);
	resp_free(&r);
}
END_TEST

START_TEST(post_body_binary)
{
	struct resp	 r;
	char		*req, v[64];
	unsigned char	 body[10000];
	size_t		 i;
	int		 fd;

	for (i = 0; i < sizeof body; i++)
		body[i] = (unsigned char)(i * 7 % 256);	/* has NULs */
	fd = conn_open();
	req = xasprintf("POST /echo HTTP/1.1\r\nHost: t\r\nX-Test: yes\r\n"
	    "Content-Length: %zu\r\n\r\n", sizeof body);
	send_str(fd, req);
	free(req);
	ck_assert_int_eq(send_all(fd, body, sizeof body), 0);
	ck_assert_int_eq(resp_read(&r, fd, false), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_uint_eq(r.len, sizeof body);
	ck_assert(memcmp(r.body, body, sizeof body) == 0);
	ck_assert(resp_header(&r, "X-Echo", v, sizeof v));
	ck_assert_str_eq(v, "yes");
	resp_free(&r);
	close(fd);

	/* Chunked, with a NUL inside. */
	{
		static const char	chunked[] = "POST /echo HTTP/1.1\r\n"
		    "Host: t\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "3\r\na\0b\r\n2\r\ncd\r\n0\r\n\r\n";

		fd = conn_open();
		ck_assert_int_eq(send_all(fd, chunked, sizeof chunked - 1),
		    0);
		ck_assert_int_eq(resp_read(&r, fd, false), 0);
		ck_assert_int_eq(r.status, 200);
		ck_assert_uint_eq(r.len, 5);
		ck_assert(memcmp(r.body, "a\0bcd", 5) == 0);
		resp_free(&r);
		close(fd);
	}
	ck_assert_int_eq(atomic_load(&handler_calls), 2);
}
END_TEST

START_TEST(body_too_large_by_length)
{
	struct resp	r;
	int		fd;
	int64_t		t0;

	fd = conn_open();
	t0 = time_mono_ms();
	/* The body is never sent: the 413 must not wait for it. */
	send_str(fd, "POST /echo HTTP/1.1\r\nHost: t\r\n"
	    "Content-Length: 65537\r\n\r\n");
	ck_assert_int_eq(resp_read(&r, fd, false), 0);
	ck_assert_int_lt(time_mono_ms() - t0, 3000);
	ck_assert_int_eq(r.status, 413);
	assert_json_error(&r, "too_large", "body exceeds 65536 bytes");
	resp_free(&r);
	close(fd);
	ck_assert_int_eq(atomic_load(&handler_calls), 0);

	/* Expect: 100-continue gets the 413 instead of a 100. */
	fd = conn_open();
	send_str(fd, "POST /echo HTTP/1.1\r\nHost: t\r\n"
	    "Expect: 100-continue\r\nContent-Length: 1000000\r\n\r\n");
	ck_assert_int_eq(resp_read(&r, fd, false), 0);
	ck_assert_int_eq(r.status, 413);
	resp_free(&r);
	close(fd);
	ck_assert_int_eq(atomic_load(&handler_calls), 0);

	/* Exactly max_body is fine. */
	{
		char	*body = xcalloc(1, 65536), *req;

		fd = conn_open();
		req = xasprintf("POST /echo HTTP/1.1\r\nHost: t\r\n"
		    "Content-Length: 65536\r\n\r\n");
		send_str(fd, req);
		ck_assert_int_eq(send_all(fd, body, 65536), 0);
		ck_assert_int_eq(resp_read(&r, fd, false), 0);
		ck_assert_int_eq(r.status, 200);
		ck_assert_uint_eq(r.len, 65536);
		resp_free(&r);
		close(fd);
		free(req);
		free(body);
	}
	ck_assert_int_eq(atomic_load(&handler_calls), 1);
}
END_TEST

START_TEST(body_too_large_chunked)
{
	struct resp	 r;
	char		 chunk[40000], *hdr;
	int		 fd, i;

	memset(chunk, 'x', sizeof chunk);
	fd = conn_open();
	send_str(fd, "POST /echo HTTP/1.1\r\nHost: t\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n");
	hdr = xasprintf("%zx\r\n", sizeof chunk);
	for (i = 0; i < 3; i++) {
		send_str(fd, hdr);
		ck_assert_int_eq(send_all(fd, chunk, sizeof chunk), 0);
		send_str(fd, "\r\n");
	}
	free(hdr);
	send_str(fd, "0\r\n\r\n");
	ck_assert_int_eq(resp_read(&r, fd, false), 0);
	ck_assert_int_eq(r.status, 413);
	assert_json_error(&r, "too_large", "body exceeds 65536 bytes");
	resp_free(&r);
	close(fd);
	ck_assert_int_eq(atomic_load(&handler_calls), 0);
}
END_TEST

/*
 * Sends a 64 MiB body (announced or chunked) as fast as the server
 * takes it, watching for the response; returns the status.
 */
static int
flood(bool chunked, int64_t *ms_out)
{
	static char	 chunk[65536];
	struct resp	 r;
	struct pollfd	 pfd;
	size_t		 sent = 0, total = 64u * 1024 * 1024;
	int64_t		 t0 = time_mono_ms();
	char		*hdr;
	int		 fd, status;

	memset(chunk, 'y', sizeof chunk);
	fd = conn_open();
	if (chunked)
		send_str(fd, "POST /echo HTTP/1.1\r\nHost: t\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n");
	else {
		hdr = xasprintf("POST /echo HTTP/1.1\r\nHost: t\r\n"
		    "Content-Length: %zu\r\n\r\n", total);
		send_str(fd, hdr);
		free(hdr);
	}
	hdr = xasprintf("%zx\r\n", sizeof chunk);
	while (sent < total && time_mono_ms() - t0 < 60000) {
		pfd.fd = fd;
		pfd.events = POLLIN | POLLOUT;
		ck_assert_int_gt(poll(&pfd, 1, 5000), 0);
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR))
			break;		/* the answer is there */
		if (chunked && send_all(fd, hdr, strlen(hdr)) != 0)
			break;
		if (send_all(fd, chunk, sizeof chunk) != 0)
			break;
		if (chunked && send_all(fd, "\r\n", 2) != 0)
			break;
		sent += sizeof chunk;
	}
	if (chunked && sent >= total)
		send_all(fd, "0\r\n\r\n", 5);
	free(hdr);
	ck_assert_int_eq(resp_read(&r, fd, false), 0);
	*ms_out = time_mono_ms() - t0;
	status = r.status;
	resp_free(&r);
	close(fd);
	return status;
}

START_TEST(body_flood_memory_flat)
{
	long	before, after;
	int64_t	ms;

	before = rss_kib();
	ck_assert_int_eq(flood(false, &ms), 413);
	ck_assert_int_lt(ms, 5000);
	ck_assert_int_eq(flood(true, &ms), 413);
	ck_assert_int_lt(ms, 30000);
	after = rss_kib();
	ck_assert_msg(after - before < 16 * 1024, "rss grew %ld KiB",
	    after - before);
	ck_assert_int_eq(atomic_load(&handler_calls), 0);
}
END_TEST

START_TEST(trickle_cut_by_request_timeout)
{
	static const char	 req[] = "GET /hello/a/x/b HTTP/1.1\r\n"
	    "Host: t\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
	struct http_opts	 o;
	struct pollfd		 pfd;
	int64_t			 t0, el;
	size_t			 i;
	int			 fd;
	bool			 closed = false;

	opts_default(&o);
	o.request_timeout_ms = 1000;
	o.idle_timeout_ms = 2000;
	server_start(&o);
	fd = conn_open();
	t0 = time_mono_ms();
	for (i = 0; i < sizeof req - 1 && time_mono_ms() - t0 < 6000; i++) {
		if (send(fd, req + i, 1, MSG_NOSIGNAL) != 1) {
			closed = true;
			break;
		}
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 200) > 0) {
			closed = wait_closed(fd, 1000);
			break;
		}
	}
	el = time_mono_ms() - t0;
	close(fd);
	ck_assert_msg(closed, "connection still open after %lld ms",
	    (long long)el);
	ck_assert_int_ge(el, 900);
	ck_assert_int_lt(el, 3000);

	/* A trickled body is cut too. */
	fd = conn_open();
	send_str(fd, "POST /echo HTTP/1.1\r\nHost: t\r\n"
	    "Content-Length: 1000\r\n\r\n");
	t0 = time_mono_ms();
	closed = false;
	for (i = 0; i < 1000 && time_mono_ms() - t0 < 6000; i++) {
		if (send(fd, "z", 1, MSG_NOSIGNAL) != 1) {
			closed = true;
			break;
		}
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 200) > 0) {
			closed = wait_closed(fd, 1000);
			break;
		}
	}
	el = time_mono_ms() - t0;
	close(fd);
	ck_assert(closed);
	ck_assert_int_lt(el, 3000);
	ck_assert_int_eq(atomic_load(&handler_calls), 0);
}
END_TEST

/*
 * The next request on a keep-alive connection may trickle for at most
 * idle + request timeout after the previous response.
 */
START_TEST(trickle_keepalive_cut)
{
	static const char	 req[] = "GET /hello/a/x/b HTTP/1.1\r\n"
	    "Host: t\r\n\r\n";
	struct http_opts	 o;
	struct resp		 r;
	struct pollfd		 pfd;
	int64_t			 t0, el;
	size_t			 i;
	int			 fd;
	bool			 closed = false;

	opts_default(&o);
	o.request_timeout_ms = 1000;
	o.idle_timeout_ms = 1000;
	server_start(&o);
	fd = conn_open();
	send_str(fd, "GET /ping HTTP/1.1\r\nHost: t\r\n\r\n");
	ck_assert_int_eq(resp_read(&r, fd, false), 0);
	ck_assert_int_eq(r.status, 200);
	resp_free(&r);
	t0 = time_mono_ms();
	for (i = 0; i < sizeof req - 1 && time_mono_ms() - t0 < 8000; i++) {
		if (send(fd, req + i, 1, MSG_NOSIGNAL) != 1) {
			closed = true;
			break;
		}
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 200) > 0) {
			closed = wait_closed(fd, 1000);
			break;
		}
	}
	el = time_mono_ms() - t0;
	close(fd);
	ck_assert_msg(closed, "connection still open after %lld ms",
	    (long long)el);
	ck_assert_int_lt(el, 3000);
}
END_TEST

START_TEST(idle_keepalive_closed)
{
	struct http_opts	o;
	struct resp		r;
	int64_t			t0, el;
	int			fd;

	opts_default(&o);
	o.request_timeout_ms = 30000;
	o.idle_timeout_ms = 1000;
	server_start(&o);
	fd = conn_open();
	send_str(fd, "GET /ping HTTP/1.1\r\nHost: t\r\n\r\n");
	ck_assert_int_eq(resp_read(&r, fd, false), 0);
	ck_assert_int_eq(r.status, 200);
	resp_free(&r);
	t0 = time_mono_ms();
	ck_assert(wait_closed(fd, 5000));
	el = time_mono_ms() - t0;
	ck_assert_int_ge(el, 500);
	ck_assert_int_lt(el, 3500);
	close(fd);
}
END_TEST

START_TEST(huge_header_rejected)
{
	struct resp	 r;
	char		*big, *req;
	size_t		 n = 100 * 1024;
	int		 fd;

	big = xmalloc(n + 1);
	memset(big, 'h', n);
	big[n] = '\0';
	req = xasprintf("GET /ping HTTP/1.1\r\nHost: t\r\nX-Big: %s\r\n\r\n",
	    big);
	fd = conn_open();
	send_all(fd, req, strlen(req));	/* may fail once answered */
	ck_assert_int_eq(resp_read(&r, fd, false), 0);
	ck_assert_msg(r.status >= 400 && r.status < 500, "status %d",
	    r.status);
	resp_free(&r);
	close(fd);
	free(req);
	free(big);

	roundtrip(&r, "GET /ping HTTP/1.1\r\nHost: t\r\n"
	    "Connection: close\r\n\r\n", false);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "pong");
	resp_free(&r);
}
END_TEST

START_TEST(stream_chunks_incremental)
{
	struct buf	 b;
	struct resp	 r;
	int		 fd;
	int64_t		 t0;

	fd = conn_open();
	send_str(fd, "GET /stream HTTP/1.1\r\nHost: t\r\n\r\n");
	buf_init(&b, 1024 * 1024);
	ck_assert_int_eq(read_until(fd, &b, "first\n", IO_TIMEOUT_MS), 1);
	/* The first chunk arrived before the last one was produced. */
	ck_assert_int_eq(atomic_load(&last_produced), 0);
	ck_assert(find(b.data, b.len, "Transfer-Encoding: chunked") !=
	    NULL);
	ck_assert(find(b.data, b.len, "nosniff") != NULL);
	ck_assert_int_eq(read_until(fd, &b, "\r\n0\r\n\r\n", IO_TIMEOUT_MS),
	    1);
	ck_assert_int_eq(atomic_load(&last_produced), 1);
	ck_assert(find(b.data, b.len, "second\n") != NULL);
	ck_assert(find(b.data, b.len, "last\n") != NULL);
	buf_dispose(&b);

	/* free_fn once, and the connection is still usable. */
	t0 = time_mono_ms();
	while (atomic_load(&stream_frees) == 0 && time_mono_ms() - t0 < 5000)
		sleep_ms(10);
	ck_assert_int_eq(atomic_load(&stream_frees), 1);
	send_str(fd, "GET /ping HTTP/1.1\r\nHost: t\r\n\r\n");
	ck_assert_int_eq(resp_read(&r, fd, false), 0);
	ck_assert_int_eq(r.status, 200);
	resp_free(&r);
	close(fd);
	ck_assert_int_eq(atomic_load(&stream_frees), 1);
}
END_TEST

START_TEST(stream_head_and_http10)
{
	struct resp	r;
	int64_t		t0;
	int		fd;

	fd = conn_open();
	send_str(fd, "HEAD /stream HTTP/1.1\r\nHost: t\r\n\r\n");
	ck_assert_int_eq(resp_read(&r, fd, true), 0);
	ck_assert_int_eq(r.status, 200);
	resp_free(&r);
	close(fd);
	t0 = time_mono_ms();
	while (atomic_load(&stream_frees) < 1 && time_mono_ms() - t0 < 5000)
		sleep_ms(10);
	ck_assert_int_eq(atomic_load(&stream_frees), 1);

	/* HTTP/1.0 has no chunks: the body ends with the connection. */
	roundtrip(&r, "GET /stream HTTP/1.0\r\n\r\n", false);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "first\nsecond\nlast\n");
	resp_free(&r);
	t0 = time_mono_ms();
	while (atomic_load(&stream_frees) < 2 && time_mono_ms() - t0 < 5000)
		sleep_ms(10);
	ck_assert_int_eq(atomic_load(&stream_frees), 2);
}
END_TEST

START_TEST(stream_client_gone_frees)
{
	struct buf	 b;
	int		 fd;
	int64_t		 t0;

	fd = conn_open();
	send_str(fd, "GET /forever HTTP/1.1\r\nHost: t\r\n\r\n");
	buf_init(&b, 1024 * 1024);
	ck_assert_int_eq(read_until(fd, &b, "hello\n", IO_TIMEOUT_MS), 1);
	buf_dispose(&b);
	close(fd);
	t0 = time_mono_ms();
	while (atomic_load(&stream_frees) == 0 && time_mono_ms() - t0 < 5000)
		sleep_ms(10);
	ck_assert_int_eq(atomic_load(&stream_frees), 1);
}
END_TEST

START_TEST(stream_not_cut_by_request_timeout)
{
	struct http_opts	o;
	struct buf		b;
	int			fd;

	opts_default(&o);
	o.request_timeout_ms = 500;
	o.idle_timeout_ms = 5000;
	server_start(&o);
	fd = conn_open();
	send_str(fd, "GET /forever HTTP/1.1\r\nHost: t\r\n\r\n");
	buf_init(&b, 1024 * 1024);
	ck_assert_int_eq(read_until(fd, &b, "hello\n", IO_TIMEOUT_MS), 1);
	/* Well past the request timeout, the stream is still open. */
	ck_assert_int_eq(read_until(fd, &b, NULL, 1500), -1);
	buf_dispose(&b);
	close(fd);
}
END_TEST

START_TEST(stop_with_open_stream)
{
	struct http_opts	o;
	struct buf		b;
	int64_t			t0;
	int			fd;

	opts_default(&o);
	server_start(&o);
	fd = conn_open();
	send_str(fd, "GET /forever HTTP/1.1\r\nHost: t\r\n\r\n");
	buf_init(&b, 1024 * 1024);
	ck_assert_int_eq(read_until(fd, &b, "hello\n", IO_TIMEOUT_MS), 1);
	t0 = time_mono_ms();
	http_server_stop(srv);
	srv = NULL;
	ck_assert_int_lt(time_mono_ms() - t0, 3000);
	ck_assert_int_eq(atomic_load(&stream_frees), 1);
	/* The client sees the stream end. */
	ck_assert(read_until(fd, &b, NULL, 2000) == 0);
	buf_dispose(&b);
	close(fd);
}
END_TEST

START_TEST(stop_accepts_null)
{
	http_server_stop(NULL);
}
END_TEST

START_TEST(start_bad_address)
{
	struct http_opts	 o;
	struct http_server	*s = (void *)1;
	struct http_server	*busy;

	opts_default(&o);
	o.host = "192.0.2.1";	/* not ours: cannot bind */
	ck_assert_int_eq(http_server_start(&s, &o, routes, 1, NULL),
	    ERR_FAIL);
	ck_assert_ptr_null(s);

	/* Port in use. */
	opts_default(&o);
	ck_assert_int_eq(http_server_start(&busy, &o, routes, 1, NULL), 0);
	o.port = http_server_port(busy);
	ck_assert_int_eq(http_server_start(&s, &o, routes, 1, NULL),
	    ERR_FAIL);
	http_server_stop(busy);
}
END_TEST

START_TEST(restart_same_port)
{
	struct http_opts	o;
	struct resp		r;
	int			port;

	opts_default(&o);
	server_start(&o);
	/* The server closes first, leaving its side in TIME_WAIT. */
	roundtrip(&r, "GET /ping HTTP/1.1\r\nHost: t\r\n"
	    "Connection: close\r\n\r\n", false);
	ck_assert_int_eq(r.status, 200);
	resp_free(&r);
	port = http_server_port(srv);
	http_server_stop(srv);
	srv = NULL;
	o.port = port;
	server_start(&o);
	ck_assert_int_eq(http_server_port(srv), port);
	roundtrip(&r, "GET /ping HTTP/1.1\r\nHost: t\r\n"
	    "Connection: close\r\n\r\n", false);
	ck_assert_int_eq(r.status, 200);
	resp_free(&r);
}
END_TEST

START_TEST(start_ipv6_loopback)
{
	struct http_opts	 o;
	struct http_server	*s;

	opts_default(&o);
	o.host = "::1";
	if (http_server_start(&s, &o, routes, 1, NULL) != 0)
		return;		/* no IPv6 here */
	ck_assert_int_gt(http_server_port(s), 0);
	http_server_stop(s);
}
END_TEST

static TCase *
tc(const char *name, const TTest *t, bool fixture)
{
	TCase	*c = tcase_create(name);

	if (fixture)
		tcase_add_checked_fixture(c, setup, teardown);
	else
		tcase_add_checked_fixture(c, setup_none, teardown);
	tcase_set_timeout(c, 60);
	tcase_add_test(c, t);
	return c;
}

Suite *
test_suite(void)
{
	Suite	*s = suite_create("http");

	suite_add_tcase(s, tc("url_decode", url_decode_forms, false));
	suite_add_tcase(s, tc("params", route_params_decoded, true));
	suite_add_tcase(s, tc("query", route_query_absent, true));
	suite_add_tcase(s, tc("wildcard", route_wildcard, true));
	suite_add_tcase(s, tc("traversal", route_traversal_rejected, true));
	suite_add_tcase(s, tc("not_found", not_found_json, true));
	suite_add_tcase(s, tc("method", method_not_allowed, true));
	suite_add_tcase(s, tc("head", head_served_by_get, true));
	suite_add_tcase(s, tc("error_json", error_json_escaped, true));
	suite_add_tcase(s, tc("cache_control", handler_cache_control_kept,
	    true));
	suite_add_tcase(s, tc("no_reply", handler_without_reply_500, true));
	suite_add_tcase(s, tc("body", post_body_binary, true));
	suite_add_tcase(s, tc("too_large_length", body_too_large_by_length,
	    true));
	suite_add_tcase(s, tc("too_large_chunked", body_too_large_chunked,
	    true));
	suite_add_tcase(s, tc("flood", body_flood_memory_flat, true));
	suite_add_tcase(s, tc("trickle", trickle_cut_by_request_timeout,
	    false));
	suite_add_tcase(s, tc("trickle_keepalive", trickle_keepalive_cut,
	    false));
	suite_add_tcase(s, tc("idle", idle_keepalive_closed, false));
	suite_add_tcase(s, tc("huge_header", huge_header_rejected, true));
	suite_add_tcase(s, tc("stream", stream_chunks_incremental, true));
	suite_add_tcase(s, tc("stream_head", stream_head_and_http10, true));
	suite_add_tcase(s, tc("stream_gone", stream_client_gone_frees, true));
	suite_add_tcase(s, tc("stream_no_cut",
	    stream_not_cut_by_request_timeout, false));
	suite_add_tcase(s, tc("stop_stream", stop_with_open_stream, false));
	suite_add_tcase(s, tc("stop_null", stop_accepts_null, false));
	suite_add_tcase(s, tc("start_fail", start_bad_address, false));
	suite_add_tcase(s, tc("restart", restart_same_port, false));
	suite_add_tcase(s, tc("ipv6", start_ipv6_loopback, false));
	return s;
}

/*
 * httpc tests against a tiny HTTP server on a loopback socket, run by a
 * thread of the test: it records the request it got and answers one
 * canned response (or nothing at all, to test timeouts and cancel).
 */
#define _GNU_SOURCE	/* strcasestr */
#include <check.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "err.h"
#include "httpc.h"
#include "util.h"

enum mode {
	ANSWER,		/* send canned */
	SILENT,		/* read, never answer, until the client goes */
};

static int		 lfd = -1;
static int		 port;
static pthread_t	 srv;
static enum mode	 mode;
static char		*canned;
static size_t		 canned_len;
static char		 request[65536];
static size_t		 request_len;

/* Reads the request head and its Content-Length body. */
static void
read_request(int fd)
{
	char	*end, *cl;
	size_t	 want = 0;
	ssize_t	 n;

	request_len = 0;
	for (;;) {
		n = read(fd, request + request_len,
		    sizeof(request) - 1 - request_len);
		if (n <= 0)
			return;
		request_len += (size_t)n;
		request[request_len] = '\0';
		if ((end = strstr(request, "\r\n\r\n")) == NULL)
			continue;
		if ((cl = strcasestr(request, "Content-Length:")) != NULL &&
		    cl < end)
			want = (size_t)strtoul(cl + 15, NULL, 10);
		if (request_len >= (size_t)(end + 4 - request) + want)
			return;
	}
}

static void *
serve(void *arg)
{
	char	 junk[256];
	size_t	 off;
	ssize_t	 n;
	int	 fd;

	(void)arg;
	if ((fd = accept(lfd, NULL, NULL)) == -1)
		return NULL;
	read_request(fd);
	if (mode == ANSWER) {
		for (off = 0; off < canned_len; off += (size_t)n) {
			n = write(fd, canned + off, canned_len - off);
			if (n <= 0)
				break;
		}
	} else
		while (read(fd, junk, sizeof(junk)) > 0)
			;
	close(fd);
	return NULL;
}

static void
start(enum mode m, const char *response, size_t len)
{
	struct sockaddr_in	sa;
	socklen_t		sl = sizeof(sa);

	mode = m;
	canned = response ? xstrndup(response, len) : NULL;
	canned_len = len;
	ck_assert_int_ne(lfd = socket(AF_INET, SOCK_STREAM, 0), -1);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(lfd, 4), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
	port = ntohs(sa.sin_port);
	ck_assert_int_eq(pthread_create(&srv, NULL, serve, NULL), 0);
}

static void
stop(void)
{
	pthread_join(srv, NULL);
	close(lfd);
	free(canned);
}

static char *
url(const char *path)
{
	return xasprintf("http://127.0.0.1:%d%s", port, path);
}

static void
setup(void)
{
	ck_assert_int_eq(httpc_global_init(), 0);
}

static void
teardown(void)
{
	httpc_global_cleanup();
}

START_TEST(post_sends_headers_and_body)
{
	static const char	 resp[] = "HTTP/1.1 201 Created\r\n"
	    "Content-Length: 11\r\nConnection: close\r\n\r\nhello world";
	struct httpc_opts	 o = { .user_agent = "ferry-test" };
	const char		*hdr[] = { "X-Test: one",
	    "Content-Type: application/json" };
	struct httpc_response	 r;
	struct httpc		*h;
	char			*u;

	start(ANSWER, resp, sizeof(resp) - 1);
	ck_assert_int_eq(httpc_new(&h, &o), 0);
	u = url("/repos/a/b/statuses/abc");
	ck_assert_int_eq(httpc_request(&r, h, "POST", u, hdr, 2,
	    "{\"state\":\"success\"}", 19), 0);
	stop();
	ck_assert_int_eq(r.status, 201);
	ck_assert_str_eq(r.body, "hello world");
	ck_assert_uint_eq(r.len, 11);
	ck_assert(!r.truncated);
	ck_assert(strncmp(request, "POST /repos/a/b/statuses/abc HTTP/1.1\r\n",
	    39) == 0);
	ck_assert_ptr_nonnull(strstr(request, "\r\nX-Test: one\r\n"));
	ck_assert_ptr_nonnull(strstr(request,
	    "\r\nUser-Agent: ferry-test\r\n"));
	ck_assert_ptr_nonnull(strstr(request, "\r\nContent-Length: 19\r\n"));
	ck_assert_ptr_null(strcasestr(request, "Expect:"));
	ck_assert_str_eq(strstr(request, "\r\n\r\n") + 4,
	    "{\"state\":\"success\"}");
	httpc_response_dispose(&r);
	httpc_free(h);
	free(u);
}
END_TEST

START_TEST(body_is_capped)
{
	struct httpc_opts	 o = { .max_body = 1024 };
	struct httpc_response	 r;
	struct httpc		*h;
	struct buf		 b;
	char			*u;
	int			 i;

	buf_init(&b, SIZE_MAX);
	ck_assert_int_eq(buf_printf(&b, "HTTP/1.1 200 OK\r\nContent-Length: "
	    "%d\r\nConnection: close\r\n\r\n", 100000), 0);
	for (i = 0; i < 100000; i++)
		ck_assert_int_eq(buf_append(&b, "x", 1), 0);
	start(ANSWER, b.data, b.len);
	buf_dispose(&b);
	ck_assert_int_eq(httpc_new(&h, &o), 0);
	u = url("/big");
	ck_assert_int_eq(httpc_request(&r, h, "GET", u, NULL, 0, NULL, 0), 0);
	stop();
	ck_assert_int_eq(r.status, 200);
	ck_assert(r.truncated);
	ck_assert_uint_eq(r.len, 1024);
	ck_assert_uint_eq(strlen(r.body), 1024);
	httpc_response_dispose(&r);
	httpc_free(h);
	free(u);
}
END_TEST

START_TEST(redirect_not_followed)
{
	static const char	 resp[] = "HTTP/1.1 302 Found\r\n"
	    "Location: http://127.0.0.1:1/elsewhere\r\nContent-Length: 0\r\n"
	    "Connection: close\r\n\r\n";
	struct httpc_response	 r;
	struct httpc		*h;
	char			*u;

	start(ANSWER, resp, sizeof(resp) - 1);
	ck_assert_int_eq(httpc_new(&h, NULL), 0);
	u = url("/moved");
	ck_assert_int_eq(httpc_request(&r, h, "POST", u, NULL, 0, "x", 1), 0);
	stop();
	ck_assert_int_eq(r.status, 302);
	ck_assert_str_eq(r.body, "");
	ck_assert_ptr_nonnull(strstr(request, "User-Agent: ferry\r\n"));
	httpc_response_dispose(&r);
	httpc_free(h);
	free(u);
}
END_TEST

/* Retry-After in seconds, or absent; the date form is libcurl's. */
START_TEST(retry_after_is_read)
{
	static const char	 slow[] = "HTTP/1.1 429 Too Many Requests\r\n"
	    "Retry-After: 120\r\nContent-Length: 0\r\n"
	    "Connection: close\r\n\r\n";
	static const char	 none[] = "HTTP/1.1 503 Service Unavailable\r\n"
	    "Content-Length: 0\r\nConnection: close\r\n\r\n";
	struct httpc_response	 r;
	struct httpc		*h;
	char			*u;

	ck_assert_int_eq(httpc_new(&h, NULL), 0);
	start(ANSWER, slow, sizeof(slow) - 1);
	u = url("/statuses");
	ck_assert_int_eq(httpc_request(&r, h, "POST", u, NULL, 0, "x", 1), 0);
	stop();
	free(u);
	ck_assert_int_eq(r.status, 429);
	ck_assert_int_eq(r.retry_after_ms, 120000);
	httpc_response_dispose(&r);
	start(ANSWER, none, sizeof(none) - 1);
	u = url("/statuses");
	ck_assert_int_eq(httpc_request(&r, h, "POST", u, NULL, 0, "x", 1), 0);
	stop();
	ck_assert_int_eq(r.status, 503);
	ck_assert_int_eq(r.retry_after_ms, -1);
	httpc_response_dispose(&r);
	httpc_free(h);
	free(u);
}
END_TEST

START_TEST(timeout_is_bounded)
{
	struct httpc_opts	 o = { .timeout_ms = 300 };
	struct httpc_response	 r;
	struct httpc		*h;
	int64_t			 t0;
	char			*u;

	start(SILENT, NULL, 0);
	ck_assert_int_eq(httpc_new(&h, &o), 0);
	u = url("/slow");
	t0 = time_mono_ms();
	ck_assert_int_eq(httpc_request(&r, h, "POST", u, NULL, 0, "{}", 2),
	    ERR_UPSTREAM);
	ck_assert_int_lt(time_mono_ms() - t0, 3000);
	ck_assert_int_eq(r.status, 0);
	ck_assert_ptr_null(r.body);
	httpc_free(h);	/* closes the connection: the server returns */
	stop();
	free(u);
}
END_TEST

static int
cancel_now(void *arg)
{
	(void)arg;
	return 1;
}

START_TEST(cancel_stops_a_request)
{
	struct httpc_opts	 o = { .timeout_ms = 20000,
	    .cancel = cancel_now };
	struct httpc_response	 r;
	struct httpc		*h;
	int64_t			 t0;
	char			*u;

	start(SILENT, NULL, 0);
	ck_assert_int_eq(httpc_new(&h, &o), 0);
	u = url("/hang");
	t0 = time_mono_ms();
	ck_assert_int_eq(httpc_request(&r, h, "POST", u, NULL, 0, "{}", 2),
	    ERR_UPSTREAM);
	ck_assert_str_eq(err_msg(), "request cancelled");
	ck_assert_int_lt(time_mono_ms() - t0, 3000);
	httpc_free(h);
	/* The server may not even have been reached: unblock its accept. */
	shutdown(lfd, SHUT_RDWR);
	stop();
	free(u);
}
END_TEST

START_TEST(refused_and_invalid)
{
	struct httpc_response	 r;
	struct httpc		*h;

	ck_assert_int_eq(httpc_new(&h, NULL), 0);
	/* Port 1 on loopback: nothing listens there. */
	ck_assert_int_eq(httpc_request(&r, h, "POST", "http://127.0.0.1:1/x",
	    NULL, 0, "{}", 2), ERR_UPSTREAM);
	ck_assert_int_eq(httpc_request(&r, h, "POST", "file:///etc/passwd",
	    NULL, 0, NULL, 0), ERR_INVALID);
	ck_assert_int_eq(httpc_request(&r, h, "GET", "ftp://127.0.0.1/x",
	    NULL, 0, NULL, 0), ERR_INVALID);
	ck_assert_int_eq(httpc_request(&r, h, "post", "http://127.0.0.1:1/",
	    NULL, 0, NULL, 0), ERR_INVALID);
	ck_assert_int_eq(httpc_request(&r, h, "GET /x HTTP/1.1\r\n",
	    "http://127.0.0.1:1/", NULL, 0, NULL, 0), ERR_INVALID);
	httpc_free(h);
}
END_TEST

Suite *
test_suite(void)
{
	Suite	*s = suite_create("httpc");
	TCase	*tc;

	tc = tcase_create("request");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, post_sends_headers_and_body);
	tcase_add_test(tc, body_is_capped);
	tcase_add_test(tc, redirect_not_followed);
	tcase_add_test(tc, retry_after_is_read);
	suite_add_tcase(s, tc);

	tc = tcase_create("failures");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, timeout_is_bounded);
	tcase_add_test(tc, cancel_stops_a_request);
	tcase_add_test(tc, refused_and_invalid);
	suite_add_tcase(s, tc);
	return s;
}

/*
 * loadgen.c - an open-loop load generator for bench/run's "latency at a
 * fixed rate" figure (wrk is closed-loop: a slow answer delays the next
 * request, which hides the very latency being measured; wrk2 is not in
 * Debian).
 *
 *   loadgen -p PORT -r RATE -d SECONDS -b BODYFILE -s HEXSIG
 *       [-c MAXCONN] [-t TAG] [-n] [-u PATH]
 *
 * Request i is due at start + i/RATE, whatever happened to the ones
 * before it; its latency is measured from that due time to the last
 * byte of the answer, so time spent waiting for a free connection
 * counts (no coordinated omission). Each request is a signed GitHub
 * push (the same body and signature) with its own X-GitHub-Delivery,
 * "TAG-i", so every one is a new run. Keep-alive connections are
 * reused, at most MAXCONN (64) at once; -n opens a new connection per
 * request instead, as a forge delivering webhooks does.
 *
 * Bounded: 127.0.0.1 only, at most 60 s of sending, then at most 5 s
 * for the answers still owed; whatever is unanswered then is counted
 * as a timeout. Prints one line of key=value results on stdout.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>

#define LG_MAX_SECONDS	60
#define LG_DRAIN_NS	5000000000LL
#define LG_RBUF		8192
#define LG_HDR		1024
#define LG_MAXCONN_MAX	1024

enum conn_state { C_FREE, C_CONNECTING, C_IDLE, C_WRITING, C_READING };

struct conn {
	int		 fd;
	enum conn_state	 state;
	int64_t		 req;		/* index of the request in flight */
	int64_t		 sent_ns;
	char		 hdr[LG_HDR];
	size_t		 hdrlen;
	size_t		 off;		/* bytes of hdr + body written */
	char		 rbuf[LG_RBUF];
	size_t		 rlen;
};

static struct conn	*conns;
static int		 maxconn = 64, nopen, epfd, port;
static int		 newconn;	/* -n: a connection per request */
static const char	*body, *sig, *tag = "lg", *path = "/hooks/github";
static size_t		 bodylen;
static double		*lat_due, *lat_sent;
static int64_t		 ndone, nlat, nok, nbad, nerr;
static int64_t		 dispatched;
static int64_t		 start_ns;
static double		 rate;

static void
die(const char *msg)
{
	fprintf(stderr, "loadgen: %s: %s\n", msg, strerror(errno));
	exit(1);
}

static int64_t
now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t
due_ns(int64_t i)
{
	return start_ns + (int64_t)((double)i * 1e9 / rate);
}

static char *
slurp(const char *file, size_t *len)
{
	FILE	*f;
	char	*buf;
	long	 n;

	if ((f = fopen(file, "rb")) == NULL)
		die(file);
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0)
		die(file);
	rewind(f);
	if ((buf = malloc((size_t)n + 1)) == NULL)
		die("malloc");
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		die(file);
	fclose(f);
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

static void
conn_close(struct conn *c)
{
	if (c->fd >= 0) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
		nopen--;
	}
	c->fd = -1;
	c->state = C_FREE;
	c->rlen = 0;
}

static void
conn_watch(struct conn *c, uint32_t events, int op)
{
	struct epoll_event	ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.ptr = c;
	if (epoll_ctl(epfd, op, c->fd, &ev) != 0)
		die("epoll_ctl");
}

static void
conn_open(struct conn *c)
{
	struct sockaddr_in	sin;
	int			one = 1;

	if ((c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) < 0)
		die("socket");
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	nopen++;
	c->rlen = 0;
	if (connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 &&
	    errno != EINPROGRESS)
		die("connect");
	c->state = C_CONNECTING;
	conn_watch(c, EPOLLOUT, EPOLL_CTL_ADD);
}

static void
request_failed(struct conn *c)
{
	nerr++;
	ndone++;
	conn_close(c);
}

/* Writes what it can of the request; then waits for the answer. */
static void
conn_write(struct conn *c)
{
	struct iovec	iov[2];
	size_t		total = c->hdrlen + bodylen;
	ssize_t		n;
	int		niov = 0;

	while (c->off < total) {
		niov = 0;
		if (c->off < c->hdrlen) {
			iov[niov].iov_base = c->hdr + c->off;
			iov[niov++].iov_len = c->hdrlen - c->off;
			iov[niov].iov_base = (char *)body;
			iov[niov++].iov_len = bodylen;
		} else {
			iov[niov].iov_base = (char *)body +
			    (c->off - c->hdrlen);
			iov[niov++].iov_len = total - c->off;
		}
		n = writev(c->fd, iov, niov);
		if (n < 0 && errno == EAGAIN) {
			c->state = C_WRITING;
			conn_watch(c, EPOLLOUT, EPOLL_CTL_MOD);
			return;
		}
		if (n <= 0) {
			request_failed(c);
			return;
		}
		c->off += (size_t)n;
	}
	c->state = C_READING;
	conn_watch(c, EPOLLIN, EPOLL_CTL_MOD);
}

static void
conn_send(struct conn *c, int64_t i)
{
	int	n;

	n = snprintf(c->hdr, sizeof(c->hdr),
	    "POST %s HTTP/1.1\r\n"
	    "Host: 127.0.0.1:%d\r\n"
	    "User-Agent: GitHub-Hookshot/ferry-bench\r\n"
	    "Content-Type: application/json\r\n"
	    "X-GitHub-Event: push\r\n"
	    "X-GitHub-Delivery: %s-%" PRId64 "\r\n"
	    "X-Hub-Signature-256: sha256=%s\r\n"
	    "Content-Length: %zu\r\n"
	    "%s"
	    "\r\n", path, port, tag, i, sig, bodylen,
	    newconn ? "Connection: close\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(c->hdr)) {
		fprintf(stderr, "loadgen: request header too long\n");
		exit(1);
	}
	c->hdrlen = (size_t)n;
	c->off = 0;
	c->req = i;
	c->sent_ns = now_ns();
	c->rlen = 0;
	conn_write(c);
}

/* The answer's total length once its head is in, else 0. */
static size_t
answer_len(const struct conn *c, int *status)
{
	const char	*end, *p;
	size_t		 head, cl = 0;

	end = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
	if (end == NULL)
		return 0;
	head = (size_t)(end - c->rbuf) + 4;
	if (c->rlen < 12 || strncmp(c->rbuf, "HTTP/1.", 7) != 0)
		return (size_t)-1;
	*status = atoi(c->rbuf + 9);
	for (p = c->rbuf; p < end; p++) {
		if ((p == c->rbuf || p[-1] == '\n') &&
		    strncasecmp(p, "Content-Length:", 15) == 0) {
			cl = strtoul(p + 15, NULL, 10);
			break;
		}
	}
	return head + cl;
}

static void
conn_read(struct conn *c)
{
	ssize_t	n;
	size_t	need;
	int	status = 0;
	int64_t	t;

	for (;;) {
		if (c->rlen == sizeof(c->rbuf) - 1) {
			request_failed(c);
			return;
		}
		n = read(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - 1 -
		    c->rlen);
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			request_failed(c);
			return;
		}
		c->rlen += (size_t)n;
		need = answer_len(c, &status);
		if (need == (size_t)-1 || need >= sizeof(c->rbuf)) {
			request_failed(c);
			return;
		}
		if (need > 0 && c->rlen >= need)
			break;
	}
	t = now_ns();
	lat_due[nlat] = (double)(t - due_ns(c->req)) / 1e6;
	lat_sent[nlat++] = (double)(t - c->sent_ns) / 1e6;
	ndone++;
	if (status == 202)
		nok++;
	else
		nbad++;
	if (newconn || memmem(c->rbuf, need, "onnection: close", 16)) {
		conn_close(c);
		return;
	}
	c->rlen = 0;
	c->state = C_IDLE;
	conn_watch(c, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_MOD);
}

/* Sends the requests that are due on connections that are free. */
static void
dispatch(int64_t due)
{
	int	i;

	while (dispatched < due) {
		struct conn	*c = NULL;

		for (i = 0; i < maxconn; i++)
			if (conns[i].state == C_IDLE) {
				c = &conns[i];
				break;
			}
		if (c == NULL) {
			/* Open one more; it sends once connected. */
			for (i = 0; i < maxconn; i++)
				if (conns[i].state == C_FREE) {
					conn_open(&conns[i]);
					break;
				}
			return;
		}
		conn_send(c, dispatched++);
	}
}

static int
cmp_double(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
pct(const double *v, int64_t n, double p)
{
	int64_t	i;

	if (n == 0)
		return 0;
	i = (int64_t)(p / 100.0 * (double)n);
	if (i >= n)
		i = n - 1;
	return v[i];
}

static void
usage(void)
{
	fprintf(stderr, "usage: loadgen -p PORT -r RATE -d SECONDS "
	    "-b BODYFILE -s HEXSIG [-c MAXCONN] [-t TAG] [-n] [-u PATH]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct epoll_event	 evs[64];
	struct itimerspec	 its;
	struct conn		*c;
	int64_t			 total, due, t, end_ns, next;
	double			 seconds = 0;
	const char		*bodyfile = NULL;
	int			 ch, i, n, tfd, pending;

	while ((ch = getopt(argc, argv, "p:r:d:b:s:c:t:nu:")) != -1) {
		switch (ch) {
		case 'p':
			port = atoi(optarg);
			break;
		case 'r':
			rate = strtod(optarg, NULL);
			break;
		case 'd':
			seconds = strtod(optarg, NULL);
			break;
		case 'b':
			bodyfile = optarg;
			break;
		case 's':
			sig = optarg;
			break;
		case 'c':
			maxconn = atoi(optarg);
			break;
		case 't':
			tag = optarg;
			break;
		case 'n':
			newconn = 1;
			break;
		case 'u':
			path = optarg;
			break;
		default:
			usage();
		}
	}
	if (port < 1 || port > 65535 || rate <= 0 || rate > 100000 ||
	    seconds <= 0 || seconds > LG_MAX_SECONDS || bodyfile == NULL ||
	    sig == NULL || maxconn < 1 || maxconn > LG_MAXCONN_MAX)
		usage();
	body = slurp(bodyfile, &bodylen);
	total = (int64_t)(rate * seconds);
	lat_due = calloc((size_t)total + 1, sizeof(double));
	lat_sent = calloc((size_t)total + 1, sizeof(double));
	conns = calloc((size_t)maxconn, sizeof(*conns));
	if (lat_due == NULL || lat_sent == NULL || conns == NULL)
		die("calloc");
	for (i = 0; i < maxconn; i++) {
		conns[i].fd = -1;
		conns[i].state = C_FREE;
	}
	if ((epfd = epoll_create1(0)) < 0)
		die("epoll_create1");
	if ((tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK)) < 0)
		die("timerfd_create");
	{
		struct epoll_event	ev = { .events = EPOLLIN };

		ev.data.ptr = NULL;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &ev) != 0)
			die("epoll_ctl");
	}
	/* Keep-alive: open the pool before the clock starts. */
	if (!newconn) {
		for (i = 0; i < maxconn && i < 16; i++)
			conn_open(&conns[i]);
	}
	start_ns = now_ns() + 50000000LL;
	end_ns = start_ns + (int64_t)(seconds * 1e9);
	for (;;) {
		t = now_ns();
		due = t < start_ns ? 0 : (int64_t)((double)(t - start_ns) *
		    rate / 1e9) + 1;
		if (due > total)
			due = total;
		dispatch(due);
		if (dispatched == total && ndone == total)
			break;
		if (t > end_ns + LG_DRAIN_NS)
			break;
		/* Arm the timer for the next due request. */
		memset(&its, 0, sizeof(its));
		if (dispatched < total && dispatched >= due) {
			next = due_ns(dispatched);
			its.it_value.tv_sec = next / 1000000000LL;
			its.it_value.tv_nsec = next % 1000000000LL;
		} else {
			/* backlog or drain: look again in 1 ms */
			next = t + 1000000LL;
			its.it_value.tv_sec = next / 1000000000LL;
			its.it_value.tv_nsec = next % 1000000000LL;
		}
		timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
		n = epoll_wait(epfd, evs, 64, 100);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (i = 0; i < n; i++) {
			c = evs[i].data.ptr;
			if (c == NULL) {
				uint64_t	x;

				if (read(tfd, &x, sizeof(x)) < 0 &&
				    errno != EAGAIN)
					die("timerfd read");
				continue;
			}
			switch (c->state) {
			case C_CONNECTING:
				if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
					conn_close(c);
					nerr++;
					break;
				}
				c->state = C_IDLE;
				conn_watch(c, EPOLLIN | EPOLLRDHUP,
				    EPOLL_CTL_MOD);
				if (dispatched < due)
					conn_send(c, dispatched++);
				break;
			case C_WRITING:
				conn_write(c);
				break;
			case C_READING:
				conn_read(c);
				break;
			case C_IDLE:
				/* the server closed a kept-alive one */
				conn_close(c);
				break;
			case C_FREE:
				break;
			}
		}
	}
	pending = (int)(total - ndone);
	qsort(lat_due, (size_t)nlat, sizeof(double), cmp_double);
	qsort(lat_sent, (size_t)nlat, sizeof(double), cmp_double);
	printf("rate=%.0f seconds=%.1f sent=%" PRId64 " done=%" PRId64
	    " ok=%" PRId64 " non202=%" PRId64 " errors=%" PRId64
	    " timeouts=%d conns=%s"
	    " p50=%.3f p90=%.3f p99=%.3f p999=%.3f max=%.3f"
	    " sent_p50=%.3f sent_p99=%.3f\n",
	    rate, seconds, dispatched, ndone - nerr, nok, nbad, nerr, pending,
	    newconn ? "per-request" : "keep-alive",
	    pct(lat_due, nlat, 50), pct(lat_due, nlat, 90),
	    pct(lat_due, nlat, 99), pct(lat_due, nlat, 99.9),
	    nlat ? lat_due[nlat - 1] : 0,
	    pct(lat_sent, nlat, 50), pct(lat_sent, nlat, 99));
	return 0;
}

/*
 * DESIGN
 *
 * libgit2 1.5 has no network timeouts: its socket stream connects and
 * reads with blocking calls, so a host that accepts a connection and then
 * says nothing would hold a worker forever. This file replaces that
 * stream (git_stream_register, GIT_STREAM_STANDARD); libgit2's TLS stream
 * is layered on top of whatever socket stream is registered, so https
 * gets the same bounds. The socket is non-blocking and every connect,
 * read and write polls until the calling thread's deadline, set by
 * repo.c around each fetch. Without a deadline each wait is bounded by
 * REPO_STREAM_IDLE_MS instead.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <git2.h>
#include <git2/sys/stream.h>

#include "repo_int.h"
#include "util.h"

#define REPO_STREAM_IDLE_MS	300000

struct repo_stream {
	git_stream	 parent;	/* first: libgit2 casts to it */
	char		*host;		/* owned */
	char		*port;		/* owned */
	int		 fd;		/* -1 until connected */
	int64_t		 deadline;	/* monotonic ms; 0: idle timeout */
};

static __thread int64_t	repo_stream_deadline;

void
repo_stream_deadline_set(int64_t deadline_ms)
{
	repo_stream_deadline = deadline_ms;
}

/* Milliseconds poll() may wait, or -1 (error set) when time is up. */
static int
stream_wait_ms(const struct repo_stream *st)
{
	int64_t	left;

	if (st->deadline == 0)
		return REPO_STREAM_IDLE_MS;
	left = st->deadline - time_mono_ms();
	if (left <= 0) {
		git_error_set_str(GIT_ERROR_NET, "timed out");
		return -1;
	}
	return left > INT32_MAX ? INT32_MAX : (int)left;
}

/* Waits for events on the socket; 0, or -1 with a libgit2 error set. */
static int
stream_poll(struct repo_stream *st, short events)
{
	struct pollfd	pfd;
	int		ms, n;

	for (;;) {
		if ((ms = stream_wait_ms(st)) < 0)
			return -1;
		pfd.fd = st->fd;
		pfd.events = events;
		pfd.revents = 0;
		n = poll(&pfd, 1, ms);
		if (n > 0)
			return 0;
		if (n == 0) {
			git_error_set_str(GIT_ERROR_NET, "timed out");
			return -1;
		}
		if (errno != EINTR) {
			git_error_set(GIT_ERROR_NET, "poll: %s",
			    strerror(errno));
			return -1;
		}
	}
}

static int
stream_connect_one(struct repo_stream *st, const struct addrinfo *ai)
{
	int		soerr = 0;
	socklen_t	solen = sizeof(soerr);

	st->fd = socket(ai->ai_family,
	    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (st->fd == -1) {
		git_error_set(GIT_ERROR_NET, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(st->fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EINTR) {
		soerr = errno;
		goto fail;
	}
	if (stream_poll(st, POLLOUT) != 0)
		goto fail_set;
	if (getsockopt(st->fd, SOL_SOCKET, SO_ERROR, &soerr, &solen) != 0)
		soerr = errno;
	if (soerr == 0)
		return 0;
fail:
	git_error_set(GIT_ERROR_NET, "failed to connect to %s port %s: %s",
	    st->host, st->port, strerror(soerr));
fail_set:
	close(st->fd);
	st->fd = -1;
	return -1;
}

static int
stream_connect(git_stream *stream)
{
	struct repo_stream	*st = (struct repo_stream *)stream;
	struct addrinfo		 hints, *res = NULL, *ai;
	int			 error;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((error = getaddrinfo(st->host, st->port, &hints, &res)) != 0) {
		git_error_set(GIT_ERROR_NET,
		    "failed to resolve address for %s: %s", st->host,
		    gai_strerror(error));
		return -1;
	}
	error = -1;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if ((error = stream_connect_one(st, ai)) == 0)
			break;
		if (st->deadline != 0 && time_mono_ms() >= st->deadline)
			break;
	}
	freeaddrinfo(res);
	return error;
}

static ssize_t
stream_read(git_stream *stream, void *data, size_t len)
{
	struct repo_stream	*st = (struct repo_stream *)stream;
	ssize_t			 n;

	for (;;) {
		n = recv(st->fd, data, len, 0);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			break;
		if (stream_poll(st, POLLIN) != 0)
			return -1;
	}
	git_error_set(GIT_ERROR_NET, "error receiving data from socket: %s",
	    strerror(errno));
	return -1;
}

static ssize_t
stream_write(git_stream *stream, const char *data, size_t len, int flags)
{
	struct repo_stream	*st = (struct repo_stream *)stream;
	ssize_t			 n;

	(void)flags;
	for (;;) {
		n = send(st->fd, data, len, MSG_NOSIGNAL);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			break;
		if (stream_poll(st, POLLOUT) != 0)
			return -1;
	}
	git_error_set(GIT_ERROR_NET, "error sending data to socket: %s",
	    strerror(errno));
	return -1;
}

static int
stream_close(git_stream *stream)
{
	struct repo_stream	*st = (struct repo_stream *)stream;

	if (st->fd != -1)
		close(st->fd);
	st->fd = -1;
	return 0;
}

static void
stream_free(git_stream *stream)
{
	struct repo_stream	*st = (struct repo_stream *)stream;

	if (st == NULL)
		return;
	stream_close(stream);
	free(st->host);
	free(st->port);
	free(st);
}

static int
stream_new(git_stream **out, const char *host, const char *port)
{
	struct repo_stream	*st;

	st = xcalloc(1, sizeof(*st));
	st->parent.version = GIT_STREAM_VERSION;
	st->parent.connect = stream_connect;
	st->parent.read = stream_read;
	st->parent.write = stream_write;
	st->parent.close = stream_close;
	st->parent.free = stream_free;
	st->host = xstrdup(host);
	st->port = xstrdup(port != NULL ? port : "80");
	st->fd = -1;
	st->deadline = repo_stream_deadline;
	*out = &st->parent;
	return 0;
}

int
repo_stream_register(void)
{
	git_stream_registration	reg;

	memset(&reg, 0, sizeof(reg));
	reg.version = GIT_STREAM_VERSION;
	reg.init = stream_new;
	if (git_stream_register(GIT_STREAM_STANDARD, &reg) != 0)
		return repo_git_err(ERR_FAIL, "register socket stream");
	return 0;
}

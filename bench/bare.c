/*
 * bare.c - the ceiling for bench/run's ingest figure: a libmicrohttpd
 * server that does what any webhook receiver must (read the whole body,
 * answer 202 with a small JSON body) and nothing else: no routing, no
 * signature, no JSON parse, no database.
 *
 *   bare [-e] PORT
 *
 * By default it uses the same libmicrohttpd threading model as ferry's
 * src/http (a thread per connection, an internal poll() listener), so
 * the ratio ferry/bare is the cost of ferry's own work. -e selects
 * MHD's fastest model instead (epoll, a pool of nproc threads), shown
 * for reference. Listens on 127.0.0.1 only; stops on SIGINT/SIGTERM.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <microhttpd.h>

#define BARE_MAX_BODY	(1024 * 1024)

struct body {
	char	*data;
	size_t	 len;
	size_t	 cap;
	int	 toobig;
};

static atomic_long	 nreq;
static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void
completed(void *cls, struct MHD_Connection *c, void **ctx,
    enum MHD_RequestTerminationCode toe)
{
	struct body	*b = *ctx;

	(void)cls;
	(void)c;
	(void)toe;
	if (b != NULL) {
		free(b->data);
		free(b);
		*ctx = NULL;
	}
}

static enum MHD_Result
reply(struct MHD_Connection *c, unsigned int status, const char *text)
{
	struct MHD_Response	*r;
	enum MHD_Result		 ret;

	r = MHD_create_response_from_buffer(strlen(text), (void *)text,
	    MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
handler(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *data,
    size_t *size, void **ctx)
{
	struct body	*b = *ctx;
	char		 text[64];
	long		 n;

	(void)cls;
	(void)url;
	(void)method;
	(void)version;
	if (b == NULL) {
		b = calloc(1, sizeof(*b));
		if (b == NULL)
			return MHD_NO;
		*ctx = b;
		return MHD_YES;
	}
	if (*size > 0) {
		if (b->len + *size > BARE_MAX_BODY)
			b->toobig = 1;
		else {
			if (b->len + *size > b->cap) {
				b->cap = b->len + *size > 2 * b->cap ?
				    b->len + *size : 2 * b->cap;
				b->data = realloc(b->data, b->cap);
				if (b->data == NULL)
					return MHD_NO;
			}
			memcpy(b->data + b->len, data, *size);
			b->len += *size;
		}
		*size = 0;
		return MHD_YES;
	}
	if (b->toobig)
		return reply(c, 413, "{\"error\":\"too big\"}");
	n = atomic_fetch_add(&nreq, 1) + 1;
	snprintf(text, sizeof(text), "{\"run_id\": %ld}", n);
	return reply(c, 202, text);
}

int
main(int argc, char **argv)
{
	struct MHD_Daemon	*d;
	struct sockaddr_in	 sin;
	unsigned int		 flags;
	long			 port, nthreads;
	int			 epoll = 0;
	char			*end;

	if (argc == 3 && strcmp(argv[1], "-e") == 0) {
		epoll = 1;
		argv++;
		argc--;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: bare [-e] PORT\n");
		return 2;
	}
	port = strtol(argv[1], &end, 10);
	if (*end != '\0' || port < 1 || port > 65535) {
		fprintf(stderr, "bare: bad port %s\n", argv[1]);
		return 2;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	nthreads = sysconf(_SC_NPROCESSORS_ONLN);
	if (nthreads < 1)
		nthreads = 1;
	if (epoll) {
		flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
		d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL,
		    handler, NULL,
		    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
		    MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)nthreads,
		    MHD_OPTION_CONNECTION_LIMIT, 1024u,
		    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32 * 1024,
		    MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
		    MHD_OPTION_END);
	} else {
		flags = MHD_USE_THREAD_PER_CONNECTION |
		    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
		    MHD_USE_ITC | MHD_USE_ERROR_LOG;
		d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL,
		    handler, NULL,
		    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
		    MHD_OPTION_CONNECTION_LIMIT, 1024u,
		    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32 * 1024,
		    MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
		    MHD_OPTION_END);
	}
	if (d == NULL) {
		fprintf(stderr, "bare: cannot listen on 127.0.0.1:%ld\n",
		    port);
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	while (!stop)
		pause();
	MHD_stop_daemon(d);
	printf("bare: %ld requests\n", (long)atomic_load(&nreq));
	return 0;
}

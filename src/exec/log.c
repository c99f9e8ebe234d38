/*
 * DESIGN
 *
 * A step log is a file that grows while the step runs, so the API can
 * serve it (and follow it) as it is produced. Each exec_log_write()
 * masks secrets, applies the cap and write(2)s what it may at once.
 *
 * Masking across writes: a secret may arrive split over two writes
 * ("sup" then "ersecret"). The last (longest secret - 1) bytes of what
 * came in are therefore held back: any occurrence that starts before
 * that tail lies wholly inside what we have, so it can be decided now;
 * one starting in the tail is decided with the next write (or at
 * close, when the tail is flushed). The file lags the step by at most
 * that many bytes.
 *
 * The cap counts the bytes that reach the file after masking. Once it
 * is reached, one marker line is written and everything else dropped.
 */
#define LOG_MODULE "exec"
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exec_int.h"
#include "log.h"
#include "util.h"

#define LOG_MASK	"****"

struct exec_log {
	pthread_mutex_t	 mtx;
	int		 fd;
	char		*path;		/* for messages */
	int64_t		 max;		/* cap on bytes in the file */
	int64_t		 written;	/* bytes in the file, marker excluded */
	bool		 truncated;	/* marker written, rest dropped */
	bool		 failed;	/* a write failed; logged once */
	char		**secrets;	/* owned, wiped at close */
	size_t		*lens;
	size_t		 nsecrets;
	size_t		 hold_max;	/* longest secret - 1 */
	char		*pending;	/* held-back tail, then new data */
	size_t		 npending;
	size_t		 cap;		/* allocated size of pending */
};

static void
log_put(struct exec_log *log, const char *p, size_t n)
{
	ssize_t	w;

	while (n > 0 && !log->failed) {
		w = write(log->fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			log_warn("cannot write %s", log->path);
			log->failed = true;
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

/* Writes masked output, applying the cap. Needs the lock. */
static void
log_emit(struct exec_log *log, const char *p, size_t n)
{
	char	marker[64];
	size_t	room;
	int	len;

	if (log->truncated || n == 0)
		return;
	room = (size_t)(log->max - log->written);
	if (n <= room) {
		log_put(log, p, n);
		log->written += (int64_t)n;
		return;
	}
	log_put(log, p, room);
	log->written += (int64_t)room;
	len = snprintf(marker, sizeof marker,
	    "\n[log truncated at %" PRId64 " bytes]\n", log->max);
	ASSERT(len > 0 && (size_t)len < sizeof marker);
	log_put(log, marker, (size_t)len);
	log->truncated = true;
}

/* Length of the secret starting at p (longest first), or 0. */
static size_t
log_match(const struct exec_log *log, const char *p, size_t avail)
{
	size_t	i;

	for (i = 0; i < log->nsecrets; i++) {
		if (log->lens[i] <= avail &&
		    memcmp(p, log->secrets[i], log->lens[i]) == 0)
			return log->lens[i];
	}
	return 0;
}

/*
 * Masks and emits pending[0..upto) plus any secret that starts there;
 * keeps the rest as the new held-back tail. Needs the lock.
 */
static void
log_drain(struct exec_log *log, size_t upto)
{
	const char	*p = log->pending;
	size_t		 i = 0, start = 0, m;

	while (i < upto) {
		m = log_match(log, p + i, log->npending - i);
		if (m == 0) {
			i++;
			continue;
		}
		log_emit(log, p + start, i - start);
		log_emit(log, LOG_MASK, sizeof LOG_MASK - 1);
		i += m;
		start = i;
	}
	log_emit(log, p + start, i - start);
	wipe(log->pending, i);
	memmove(log->pending, log->pending + i, log->npending - i);
	log->npending -= i;
}

static int
log_secret_cmp(const void *a, const void *b)
{
	size_t	la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);

	return la < lb ? 1 : la > lb ? -1 : 0;
}

static int
log_open(struct exec_log **out, const char *path, int64_t max,
    const char *const *secrets, size_t nsecrets, bool append)
{
	struct exec_log	*log;
	struct stat	 sb;
	char		*dir, *slash;
	size_t		 i;
	int		 fd, rc;

	*out = NULL;
	ASSERT(path != NULL && max > 0);
	dir = xstrdup(path);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if ((rc = mkdir_p(dir, 0750)) != 0) {
			free(dir);
			return rc;
		}
	}
	free(dir);
	fd = open(path, O_WRONLY | O_CREAT | (append ? 0 : O_TRUNC) |
	    O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0)
		return err_set(ERR_FAIL, "cannot open %s: %s", path,
		    strerror(errno));

	log = xcalloc(1, sizeof *log);
	/* Appending: what is there counts towards the cap. */
	if (append && fstat(fd, &sb) == 0)
		log->written = sb.st_size < max ? sb.st_size : max;
	log->truncated = append && log->written >= max;
	pthread_mutex_init(&log->mtx, NULL);
	log->fd = fd;
	log->path = xstrdup(path);
	log->max = max;
	log->secrets = xcalloc(nsecrets ? nsecrets : 1, sizeof *log->secrets);
	for (i = 0; i < nsecrets; i++) {
		if (secrets[i] == NULL || secrets[i][0] == '\0')
			continue;
		log->secrets[log->nsecrets++] = xstrdup(secrets[i]);
	}
	/* Longest first, so "abc" wins over "ab" at the same place. */
	qsort(log->secrets, log->nsecrets, sizeof *log->secrets,
	    log_secret_cmp);
	log->lens = xcalloc(log->nsecrets ? log->nsecrets : 1,
	    sizeof *log->lens);
	for (i = 0; i < log->nsecrets; i++)
		log->lens[i] = strlen(log->secrets[i]);
	log->hold_max = log->nsecrets ? log->lens[0] - 1 : 0;
	*out = log;
	return 0;
}

int
exec_log_open(struct exec_log **out, const char *path, int64_t max,
    const char *const *secrets, size_t nsecrets)
{
	return log_open(out, path, max, secrets, nsecrets, false);
}

int
exec_log_reopen(struct exec_log **out, const char *path, int64_t max,
    const char *const *secrets, size_t nsecrets)
{
	return log_open(out, path, max, secrets, nsecrets, true);
}

void
exec_log_write(struct exec_log *log, const char *data, size_t len)
{
	size_t	need;

	ASSERT(log != NULL);
	if (len == 0)
		return;
	pthread_mutex_lock(&log->mtx);
	if (log->truncated) {
		pthread_mutex_unlock(&log->mtx);
		return;
	}
	if (log->nsecrets == 0) {
		log_emit(log, data, len);
		pthread_mutex_unlock(&log->mtx);
		return;
	}
	need = log->npending + len;
	if (need > log->cap) {
		char	*p = xmalloc(need);

		if (log->npending > 0)
			memcpy(p, log->pending, log->npending);
		if (log->pending != NULL)
			wipe(log->pending, log->cap);
		free(log->pending);
		log->pending = p;
		log->cap = need;
	}
	memcpy(log->pending + log->npending, data, len);
	log->npending = need;
	if (log->npending > log->hold_max)
		log_drain(log, log->npending - log->hold_max);
	pthread_mutex_unlock(&log->mtx);
}

void
exec_log_close(struct exec_log *log)
{
	size_t	i;

	if (log == NULL)
		return;
	pthread_mutex_lock(&log->mtx);
	if (log->npending > 0)
		log_drain(log, log->npending);
	pthread_mutex_unlock(&log->mtx);
	if (close(log->fd) != 0 && !log->failed)
		log_warn("cannot close %s", log->path);
	for (i = 0; i < log->nsecrets; i++)
		free_secret(log->secrets[i]);
	free(log->secrets);
	free(log->lens);
	if (log->pending != NULL)
		wipe(log->pending, log->cap);
	free(log->pending);
	free(log->path);
	pthread_mutex_destroy(&log->mtx);
	free(log);
}

char *
exec_log_path(const char *data_dir, int64_t run_id, const char *step)
{
	ASSERT(data_dir != NULL && step != NULL);
	return xasprintf("%s/logs/%" PRId64 "/%s.log", data_dir, run_id, step);
}

/*
 * report.c - commit statuses and notifications, through the outbox.
 *
 * DESIGN
 * Two halves that share only the database and a condition variable.
 *
 * report_run_changed() runs on whichever thread changed a run (a worker,
 * an HTTP thread cancelling it). It reads the run and the state last
 * queued for it on that thread's own connection; when the run became
 * running or ended and that state was not queued yet, it builds the
 * request bodies (and, for a failure, reads the tail of the failed
 * step's log) and stores them with the new state in one transaction
 * (store_outbox_enqueue), then signals the sender. Step changes of a
 * running run cost two indexed reads and no write.
 *
 * The sender thread owns its store connection and one httpc handle. It
 * takes the oldest due row, adds the token from the config (tokens never
 * reach SQLite), POSTs it, and deletes the row on 2xx or on an answer
 * that retrying cannot fix, or reschedules it with exponential backoff
 * and jitter. A newer commit status for the same commit replaces an
 * unsent one, so a forge that was down for a while gets the final state,
 * not the history. It sleeps until the next row is due, at most
 * REPORT_POLL_MS, or until signalled. A row is deleted only after its
 * answer: kill -9 during a send means one duplicate POST after restart,
 * never a lost one. At start-up every queued row is made due at once and
 * the runs that changed in the last hour without being queued (ferry
 * died in between; recovery ended them before report started) are
 * queued.
 */
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#define LOG_MODULE "report"
#include "err.h"
#include "httpc.h"
#include "log.h"
#include "util.h"

#define REPORT_POLL_MS		30000	/* sender's longest sleep */
#define REPORT_TIMEOUT_MS	10000	/* one request, whole */
#define REPORT_CONNECT_MS	5000
#define REPORT_BACKOFF_BASE_MS	1000
#define REPORT_BACKOFF_MAX_MS	(10 * 60 * 1000)
#define REPORT_RETRY_AFTER_MAX_MS (60 * 60 * 1000) /* a server's wish */
#define REPORT_DESC_MAX		140	/* GitHub's limit */
#define REPORT_TAIL_LINES	20
#define REPORT_TAIL_BYTES	4096
#define REPORT_SWEEP_MS		(60 * 60 * 1000)
#define REPORT_SWEEP_RUNS	200
#define REPORT_CONTEXT		"ferry"

struct report {
	const struct config	*cfg;
	char			*db_path;
	bool			 active;	/* some repo reports anything */
	bool			 started;	/* the thread runs */
	bool			 curl_init;
	pthread_t		 thread;
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cv;		/* CLOCK_MONOTONIC */
	bool			 pending;	/* under mtx: look again */
	atomic_bool		 stopping;
	uint64_t		 rand;		/* sender's xorshift state */
};

/* --- pure parts ----------------------------------------------------------- */

enum report_event
report_transition(int prev, enum run_status cur)
{
	bool	was_failing = prev == RUN_FAILED || prev == RUN_ERROR;

	switch (cur) {
	case RUN_FAILED:
	case RUN_ERROR:
		return was_failing ? REPORT_NONE : REPORT_FAILING;
	case RUN_SUCCEEDED:
		return was_failing ? REPORT_RECOVERED : REPORT_NONE;
	case RUN_QUEUED:
	case RUN_RUNNING:
	case RUN_CANCELLED:
		return REPORT_NONE;
	}
	return REPORT_NONE;
}

const char *
report_event_name(enum report_event ev)
{
	switch (ev) {
	case REPORT_NONE:
		return NULL;
	case REPORT_FAILING:
		return "failing";
	case REPORT_RECOVERED:
		return "recovered";
	}
	return NULL;
}

const char *
report_github_state(enum run_status s)
{
	switch (s) {
	case RUN_QUEUED:
		return NULL;
	case RUN_RUNNING:
		return "pending";
	case RUN_SUCCEEDED:
		return "success";
	case RUN_FAILED:
		return "failure";
	case RUN_CANCELLED:
	case RUN_ERROR:
		return "error";
	}
	return NULL;
}

const char *
report_gitlab_state(enum run_status s)
{
	switch (s) {
	case RUN_QUEUED:
		return NULL;
	case RUN_RUNNING:
		return "running";
	case RUN_SUCCEEDED:
		return "success";
	case RUN_FAILED:
	case RUN_ERROR:
		return "failed";
	case RUN_CANCELLED:
		return "canceled";
	}
	return NULL;
}

/* Percent-encodes s but for RFC 3986 unreserved bytes (and keep). */
static void
url_encode(struct buf *b, const char *s, char keep)
{
	static const char	 hex[] = "0123456789ABCDEF";
	const unsigned char	*p;
	char			 e[3];

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
		    *p == '.' || *p == '~' || (keep != '\0' && *p == keep)) {
			ASSERT(buf_append(b, p, 1) == 0);
			continue;
		}
		e[0] = '%';
		e[1] = hex[*p >> 4];
		e[2] = hex[*p & 0xf];
		ASSERT(buf_append(b, e, 3) == 0);
	}
}

char *
report_status_url(const struct config_repo *repo, const char *sha)
{
	struct buf	b;

	ASSERT(repo->api_url != NULL && sha != NULL);
	buf_init(&b, SIZE_MAX);
	ASSERT(buf_puts(&b, repo->api_url) == 0);
	if (repo->provider == PROVIDER_GITHUB) {
		ASSERT(buf_puts(&b, "/repos/") == 0);
		url_encode(&b, repo->name, '/');
	} else {
		ASSERT(buf_puts(&b, "/projects/") == 0);
		url_encode(&b, repo->name, '\0');
	}
	ASSERT(buf_puts(&b, "/statuses/") == 0);
	url_encode(&b, sha, '\0');
	return buf_steal(&b);
}

char *
report_run_url(const char *public_url, int64_t run_id)
{
	return xasprintf("%s/#/runs/%" PRId64, public_url ? public_url : "",
	    run_id);
}

/* Length of the valid UTF-8 sequence at p (of n bytes), or 0. */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	size_t	len, i;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
	} else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	/* Overlong forms, surrogates, past U+10FFFF. */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

/*
 * Appends s (n bytes) as valid UTF-8: a byte that starts no valid
 * sequence becomes '?'. one_line: control characters become spaces.
 */
static void
utf8_append(struct buf *b, const char *s, size_t n, bool one_line)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i = 0, len;

	while (i < n) {
		len = utf8_len(p + i, n - i);
		if (len == 0) {
			ASSERT(buf_append(b, "?", 1) == 0);
			i++;
			continue;
		}
		if (len == 1 && one_line && (p[i] < 0x20 || p[i] == 0x7f))
			ASSERT(buf_append(b, " ", 1) == 0);
		else if (len == 1 && p[i] == '\0')
			ASSERT(buf_append(b, "?", 1) == 0);
		else
			ASSERT(buf_append(b, p + i, len) == 0);
		i += len;
	}
}

/* Cuts valid UTF-8 s to at most max bytes, ending in "..." if cut. */
static void
utf8_truncate(char *s, size_t max)
{
	size_t	n = strlen(s), cut;

	ASSERT(max > 3);
	if (n <= max)
		return;
	cut = max - 3;
	while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
		cut--;
	memcpy(s + cut, "...", 4);
}

char *
report_description(const struct run *run)
{
	struct buf	 b;
	char		*line, dur[32];
	const char	*what = NULL;

	switch (run->status) {
	case RUN_QUEUED:
		what = "is queued";
		break;
	case RUN_RUNNING:
		what = "is running";
		break;
	case RUN_SUCCEEDED:
		what = "succeeded";
		break;
	case RUN_FAILED:
		what = "failed";
		break;
	case RUN_CANCELLED:
		what = "cancelled";
		break;
	case RUN_ERROR:
		what = "error";
		break;
	}
	ASSERT(what != NULL);
	if (run->status == RUN_SUCCEEDED && run->started_at > 0 &&
	    run->finished_at >= run->started_at) {
		format_duration(dur, sizeof(dur),
		    run->finished_at - run->started_at);
		line = xasprintf("Run %" PRId64 " succeeded in %s", run->id,
		    dur);
	} else if (run_status_final(run->status) && run->reason != NULL &&
	    *run->reason != '\0' && run->status != RUN_SUCCEEDED)
		line = xasprintf("Run %" PRId64 " %s: %s", run->id, what,
		    run->reason);
	else
		line = xasprintf("Run %" PRId64 " %s", run->id, what);
	buf_init(&b, SIZE_MAX);
	utf8_append(&b, line, strlen(line), true);
	free(line);
	line = buf_steal(&b);
	utf8_truncate(line, REPORT_DESC_MAX);
	return line;
}

/* cJSON's text as an xmalloc'd string; frees the tree. */
static char *
json_finish(cJSON *o)
{
	char	*p, *s;

	p = cJSON_PrintUnformatted(o);
	ASSERT(p != NULL);
	s = xstrdup(p);
	cJSON_free(p);
	cJSON_Delete(o);
	return s;
}

static void
json_str(cJSON *o, const char *k, const char *v)
{
	if (v == NULL)
		ASSERT(cJSON_AddNullToObject(o, k) != NULL);
	else
		ASSERT(cJSON_AddStringToObject(o, k, v) != NULL);
}

char *
report_status_body(enum config_provider provider, const struct run *run,
    const char *public_url)
{
	cJSON		*o = cJSON_CreateObject();
	char		*url, *desc;
	const char	*state;

	ASSERT(o != NULL);
	state = provider == PROVIDER_GITHUB ?
	    report_github_state(run->status) :
	    report_gitlab_state(run->status);
	ASSERT(state != NULL);
	url = report_run_url(public_url, run->id);
	desc = report_description(run);
	json_str(o, "state", state);
	json_str(o, "target_url", url);
	json_str(o, "description", desc);
	json_str(o, provider == PROVIDER_GITHUB ? "context" : "name",
	    REPORT_CONTEXT);
	free(url);
	free(desc);
	return json_finish(o);
}

const struct step *
report_failed_step(const struct run *run)
{
	size_t	i;

	for (i = 0; i < run->nsteps; i++)
		if (run->steps[i].status == STEP_FAILED ||
		    run->steps[i].status == STEP_ERROR)
			return &run->steps[i];
	return NULL;
}

/* The first line of a commit message, valid UTF-8. */
static char *
first_line(const char *s)
{
	struct buf	b;
	size_t		n;

	if (s == NULL)
		return NULL;
	n = strcspn(s, "\r\n");
	buf_init(&b, SIZE_MAX);
	utf8_append(&b, s, n, true);
	return buf_steal(&b);
}

/* s as valid UTF-8 (NULL stays NULL). */
static char *
clean(const char *s, bool one_line)
{
	struct buf	b;

	if (s == NULL)
		return NULL;
	buf_init(&b, SIZE_MAX);
	utf8_append(&b, s, strlen(s), one_line);
	return buf_steal(&b);
}

char *
report_notify_body(const struct run *run, enum report_event ev,
    const char *public_url, const char *log_tail)
{
	cJSON			*o = cJSON_CreateObject();
	const struct step	*fs = report_failed_step(run);
	struct buf		 t;
	char			*url, *msg, *author, *reason, *tail, sha[13];

	ASSERT(o != NULL && ev != REPORT_NONE);
	url = report_run_url(public_url, run->id);
	msg = first_line(run->message);
	author = clean(run->author, true);
	reason = clean(run->reason, false);
	tail = clean(log_tail, false);
	snprintf(sha, sizeof(sha), "%.12s", run->commit ? run->commit : "");

	buf_init(&t, SIZE_MAX);
	if (ev == REPORT_FAILING) {
		ASSERT(buf_printf(&t, "%s %s is failing: run %" PRId64 " %s",
		    run->repo, run->branch, run->id,
		    run->status == RUN_ERROR ? "ended in error" : "failed") ==
		    0);
		if (fs != NULL)
			ASSERT(buf_printf(&t, " at step %s", fs->name) == 0);
		if (reason != NULL)
			ASSERT(buf_printf(&t, " (%s)", reason) == 0);
	} else
		ASSERT(buf_printf(&t, "%s %s recovered: run %" PRId64
		    " succeeded", run->repo, run->branch, run->id) == 0);
	ASSERT(buf_printf(&t, "\nCommit %s", sha) == 0);
	if (author != NULL && *author != '\0')
		ASSERT(buf_printf(&t, " by %s", author) == 0);
	if (msg != NULL && *msg != '\0')
		ASSERT(buf_printf(&t, ": %s", msg) == 0);
	ASSERT(buf_printf(&t, "\n%s", url) == 0);
	if (ev == REPORT_FAILING && tail != NULL && *tail != '\0')
		ASSERT(buf_printf(&t, "\n```\n%s\n```", tail) == 0);

	json_str(o, "event", report_event_name(ev));
	json_str(o, "repo", run->repo);
	json_str(o, "branch", run->branch);
	json_str(o, "status", run_status_name(run->status));
	ASSERT(cJSON_AddNumberToObject(o, "run_id", (double)run->id) != NULL);
	json_str(o, "run_url", url);
	json_str(o, "commit", run->commit);
	json_str(o, "message", msg);
	json_str(o, "author", author);
	json_str(o, "failed_step", fs != NULL ? fs->name : NULL);
	json_str(o, "reason", reason);
	json_str(o, "log_tail", ev == REPORT_FAILING ? tail : NULL);
	json_str(o, "text", t.data);
	buf_dispose(&t);
	free(url);
	free(msg);
	free(author);
	free(reason);
	free(tail);
	return json_finish(o);
}

int
report_log_tail(char **out, const char *path, int max_lines,
    size_t max_bytes)
{
	struct stat	 sb;
	struct buf	 b;
	char		*data = NULL, *p, *end;
	off_t		 from = 0;
	ssize_t		 n;
	size_t		 len = 0;
	int		 fd, lines;

	ASSERT(max_lines > 0 && max_bytes > 0);
	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return err_set(ERR_NOTFOUND, "no log file");
		return err_set(ERR_FAIL, "cannot open the log: %s",
		    strerror(errno));
	}
	if (fstat(fd, &sb) == -1) {
		close(fd);
		return err_set(ERR_FAIL, "cannot stat the log: %s",
		    strerror(errno));
	}
	if ((uint64_t)sb.st_size > max_bytes)
		from = sb.st_size - (off_t)max_bytes;
	data = xmalloc(max_bytes + 1);
	while (len < max_bytes) {
		n = pread(fd, data + len, max_bytes - len,
		    from + (off_t)len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			close(fd);
			free(data);
			return err_set(ERR_FAIL, "cannot read the log: %s",
			    strerror(errno));
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	data[len] = '\0';
	p = data;
	end = data + len;
	/* Started in the middle of the file: drop the partial line. */
	if (from > 0 && (p = memchr(data, '\n', len)) != NULL)
		p++;
	else if (from > 0)
		p = data;
	while (end > p && (end[-1] == '\n' || end[-1] == '\r'))
		end--;
	/* Walk back over max_lines line ends. */
	lines = 0;
	for (char *q = end; q > p; q--) {
		if (q[-1] == '\n' && ++lines == max_lines) {
			p = q;
			break;
		}
	}
	buf_init(&b, SIZE_MAX);
	utf8_append(&b, p, (size_t)(end - p), false);
	free(data);
	*out = buf_steal(&b);
	return 0;
}

enum report_outcome
report_outcome(int rc, long status)
{
	if (rc == ERR_INVALID)
		return REPORT_DROP;
	if (rc != 0)
		return REPORT_RETRY;
	if (status >= 200 && status <= 299)
		return REPORT_SENT;
	if (status == 408 || status == 429 || status >= 500)
		return REPORT_RETRY;
	return REPORT_DROP;
}

int64_t
report_backoff_ms(int attempts, double jitter)
{
	int64_t	d = REPORT_BACKOFF_BASE_MS;
	int	i;

	ASSERT(attempts >= 1);
	if (jitter < 0)
		jitter = 0;
	if (jitter >= 1)
		jitter = 0.999999;
	for (i = 1; i < attempts && d < REPORT_BACKOFF_MAX_MS; i++)
		d *= 2;
	if (d > REPORT_BACKOFF_MAX_MS)
		d = REPORT_BACKOFF_MAX_MS;
	return d / 2 + (int64_t)((double)(d / 2) * jitter);
}

int64_t
report_retry_delay_ms(int attempts, double jitter, int64_t retry_after_ms)
{
	int64_t	d = report_backoff_ms(attempts, jitter);

	if (retry_after_ms > REPORT_RETRY_AFTER_MAX_MS)
		retry_after_ms = REPORT_RETRY_AFTER_MAX_MS;
	return retry_after_ms > d ? retry_after_ms : d;
}

/* --- queueing (the caller's thread) --------------------------------------- */

static bool
repo_reports(const struct config_repo *repo)
{
	return repo->status_token != NULL || repo->nnotify > 0;
}

/* The failed step's log tail, or NULL. */
static char *
failed_tail(const struct config *cfg, const struct run *run)
{
	const struct step	*fs = report_failed_step(run);
	char			*path, *tail = NULL;

	if (fs == NULL)
		return NULL;
	path = xasprintf("%s/logs/%" PRId64 "/%s.log", cfg->data_dir,
	    run->id, fs->name);
	if (report_log_tail(&tail, path, REPORT_TAIL_LINES,
	    REPORT_TAIL_BYTES) == ERR_FAIL)
		log_warnx("run=%" PRId64 " step=%s: %s", run->id, fs->name,
		    err_msg());
	free(path);
	return tail;
}

static void
items_dispose(struct outbox_item *items, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		free(items[i].kind);
		free(items[i].provider);
		free(items[i].repo);
		free(items[i].url);
		free(items[i].body);
	}
	free(items);
}

int
report_enqueue(bool *queued_out, struct store *st, const struct config *cfg,
    int64_t run_id)
{
	const struct config_repo	*repo;
	struct outbox_item		*items = NULL, *it;
	struct run			*run = NULL;
	enum report_event		 ev = REPORT_NONE;
	char				*body = NULL, *tail;
	bool				 queued = false;
	size_t				 n = 0, i;
	int				 rc, have, prev;

	if (queued_out != NULL)
		*queued_out = false;
	if ((rc = store_run_get(&run, st, run_id)) != 0)
		return rc;
	if (run->status == RUN_QUEUED)
		goto out;
	repo = config_repo_by_name(cfg, run->repo);
	if (repo == NULL || !repo_reports(repo))
		goto out;
	if ((rc = store_report_state(&have, st, run_id)) != 0)
		goto out;
	if (have == (int)run->status ||
	    (have >= 0 && run_status_final((enum run_status)have)))
		goto out;

	items = xcalloc(1 + repo->nnotify, sizeof(*items));
	/* A run cancelled before it started never showed up: stay quiet. */
	if (repo->status_token != NULL &&
	    !(run->status == RUN_CANCELLED && have < 0)) {
		it = &items[n++];
		it->kind = xstrdup("status");
		it->provider = xstrdup(config_provider_name(repo->provider));
		it->run_id = run->id;
		it->repo = xstrdup(repo->name);
		it->url = report_status_url(repo, run->commit);
		it->body = report_status_body(repo->provider, run,
		    cfg->public_url);
	}
	if (run_status_final(run->status) && repo->nnotify > 0 &&
	    strcmp(run->branch, repo->branch) == 0) {
		if ((rc = store_report_previous(&prev, st, run->repo,
		    run->branch, run->id)) != 0)
			goto out;
		ev = report_transition(prev, run->status);
	}
	if (ev != REPORT_NONE) {
		tail = ev == REPORT_FAILING ? failed_tail(cfg, run) : NULL;
		body = report_notify_body(run, ev, cfg->public_url, tail);
		free(tail);
		for (i = 0; i < repo->nnotify; i++) {
			it = &items[n++];
			it->kind = xstrdup("notify");
			it->run_id = run->id;
			it->repo = xstrdup(repo->name);
			it->url = xstrdup(repo->notify[i]);
			it->body = xstrdup(body);
		}
	}
	/* Nothing to send for a start: no need to remember it either. */
	if (n == 0 && run->status == RUN_RUNNING)
		goto out;
	if ((rc = store_outbox_enqueue(&queued, st, run->id, run->status,
	    items, n)) != 0)
		goto out;
	if (queued && n > 0) {
		log_debug("run=%" PRId64 " repo=%s %s: %zu report(s) queued",
		    run->id, run->repo, run_status_name(run->status), n);
		if (ev != REPORT_NONE)
			log_info("run=%" PRId64 " repo=%s branch=%s %s",
			    run->id, run->repo, run->branch,
			    report_event_name(ev));
	}
	if (queued_out != NULL)
		*queued_out = queued && n > 0;
out:
	free(body);
	items_dispose(items, n);
	run_free(run);
	return rc;
}

void
report_run_changed(struct report *rep, int64_t run_id)
{
	struct store	*st;
	bool		 queued;

	if (rep == NULL || !rep->active)
		return;
	if (store_thread_get(&st, rep->db_path) != 0 ||
	    report_enqueue(&queued, st, rep->cfg, run_id) != 0) {
		log_warnx("run=%" PRId64 " cannot queue its reports: %s",
		    run_id, err_msg());
		return;
	}
	if (!queued)
		return;
	pthread_mutex_lock(&rep->mtx);
	rep->pending = true;
	pthread_cond_signal(&rep->cv);
	pthread_mutex_unlock(&rep->mtx);
}

/* --- sending (the sender thread) ------------------------------------------ */

/* "scheme://host[:port]" of url: a hook URL's path may be its secret. */
static char *
url_origin(const char *url)
{
	const char	*p = strstr(url, "://"), *host, *at;
	size_t		 n;

	if (p == NULL)
		return xstrdup("?");
	host = p + 3;
	n = strcspn(host, "/?#");
	/* Never user:password@ either. */
	while ((at = memchr(host, '@', n)) != NULL) {
		n -= (size_t)(at + 1 - host);
		host = at + 1;
	}
	return xasprintf("%.*s://%.*s", (int)(p - url), url, (int)n, host);
}

static double
sender_jitter(struct report *rep)
{
	uint64_t	x = rep->rand;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rep->rand = x;
	return (double)(x >> 11) / (double)(UINT64_C(1) << 53);
}

static int
sender_cancelled(void *arg)
{
	struct report	*rep = arg;

	return atomic_load(&rep->stopping);
}

/* What a log line calls the item, without secrets. */
static char *
item_what(const struct outbox_item *it)
{
	char	*origin, *s;

	if (strcmp(it->kind, "status") == 0)
		return xasprintf("%s commit status", it->provider ?
		    it->provider : "?");
	origin = url_origin(it->url);
	s = xasprintf("notification to %s", origin);
	free(origin);
	return s;
}

static void
deliver(struct report *rep, struct store *st, struct httpc *h,
    const struct outbox_item *it)
{
	const struct config_repo	*repo;
	struct httpc_response		 resp;
	enum report_outcome		 oc;
	const char			*hdr[5];
	char				*auth = NULL, *what, *why = NULL;
	size_t				 nh = 0;
	int64_t				 delay;
	int				 rc, attempts;

	what = item_what(it);
	hdr[nh++] = "Content-Type: application/json";
	if (strcmp(it->kind, "status") == 0) {
		repo = config_repo_by_name(rep->cfg, it->repo);
		if (repo == NULL || repo->status_token == NULL) {
			log_warnx("run=%" PRId64 " repo=%s %s dropped: the "
			    "repository has no status_token any more",
			    it->run_id, it->repo, what);
			(void)store_outbox_delete(st, it->id);
			free(what);
			return;
		}
		if (it->provider != NULL &&
		    strcmp(it->provider, "gitlab") == 0)
			auth = xasprintf("PRIVATE-TOKEN: %s",
			    repo->status_token);
		else {
			auth = xasprintf("Authorization: Bearer %s",
			    repo->status_token);
			hdr[nh++] = "Accept: application/vnd.github+json";
			hdr[nh++] = "X-GitHub-Api-Version: 2022-11-28";
		}
		hdr[nh++] = auth;
	}
	rc = httpc_request(&resp, h, "POST", it->url, hdr, nh, it->body,
	    strlen(it->body));
	free_secret(auth);
	if (rc != 0 && atomic_load(&rep->stopping)) {
		/* Abandoned by report_stop: the next start sends it. */
		free(what);
		return;
	}
	oc = report_outcome(rc, resp.status);
	switch (oc) {
	case REPORT_SENT:
		log_info("run=%" PRId64 " repo=%s %s sent (HTTP %ld)",
		    it->run_id, it->repo, what, resp.status);
		rc = store_outbox_delete(st, it->id);
		break;
	case REPORT_DROP:
		if (rc != 0)
			log_warnx("run=%" PRId64 " repo=%s %s dropped: %s",
			    it->run_id, it->repo, what, err_msg());
		else
			log_warnx("run=%" PRId64 " repo=%s %s rejected with "
			    "HTTP %ld; dropped", it->run_id, it->repo, what,
			    resp.status);
		rc = store_outbox_delete(st, it->id);
		break;
	case REPORT_RETRY:
		why = rc != 0 ? xstrdup(err_msg()) :
		    xasprintf("HTTP %ld", resp.status);
		attempts = it->attempts + 1;
		if (attempts >= REPORT_MAX_ATTEMPTS) {
			log_warnx("run=%" PRId64 " repo=%s %s dropped after "
			    "%d attempts: %s", it->run_id, it->repo, what,
			    attempts, why);
			rc = store_outbox_delete(st, it->id);
			break;
		}
		/* A 429 or 503 may say how long to stay away. */
		delay = report_retry_delay_ms(attempts, sender_jitter(rep),
		    rc == 0 ? resp.retry_after_ms : -1);
		log_warnx("run=%" PRId64 " repo=%s %s failed (%s); attempt "
		    "%d in %" PRId64 " ms", it->run_id, it->repo, what, why,
		    attempts + 1, delay);
		rc = store_outbox_retry(st, it->id, time_now_ms() + delay,
		    why);
		break;
	}
	if (rc != 0)
		log_warnx("run=%" PRId64 " cannot update the outbox: %s",
		    it->run_id, err_msg());
	free(why);
	free(what);
	httpc_response_dispose(&resp);
}

/* Waits up to ms for a signal; false when stopping. */
static bool
sender_wait(struct report *rep, int64_t ms)
{
	pthread_mutex_lock(&rep->mtx);
	if (!rep->pending && !atomic_load(&rep->stopping) && ms > 0)
		cond_wait_ms(&rep->cv, &rep->mtx, ms);
	rep->pending = false;
	pthread_mutex_unlock(&rep->mtx);
	return !atomic_load(&rep->stopping);
}

static void *
sender_main(void *arg)
{
	struct report		*rep = arg;
	struct store		*st = NULL;
	struct httpc		*h = NULL;
	struct outbox_item	*it;
	struct httpc_opts	 o;
	int64_t			 now, at, wait;
	int			 rc;

	memset(&o, 0, sizeof(o));
	o.timeout_ms = REPORT_TIMEOUT_MS;
	o.connect_timeout_ms = REPORT_CONNECT_MS;
	o.user_agent = "ferry";
	o.cancel = sender_cancelled;
	o.cancel_arg = rep;
	while (st == NULL || h == NULL) {
		if ((st == NULL && store_open(&st, rep->db_path) != 0) ||
		    (h == NULL && httpc_new(&h, &o) != 0)) {
			log_error("sender cannot start: %s; retrying",
			    err_msg());
			if (!sender_wait(rep, REPORT_POLL_MS))
				goto out;
		}
	}
	while (!atomic_load(&rep->stopping)) {
		now = time_now_ms();
		rc = store_outbox_next(&it, st, now);
		if (rc == 0) {
			deliver(rep, st, h, it);
			outbox_item_free(it);
			continue;
		}
		wait = REPORT_POLL_MS;
		if (rc != ERR_NOTFOUND)
			log_warnx("outbox: %s", err_msg());
		else if (store_outbox_wake_at(&at, st) == 0 && at != 0) {
			/* At least 50 ms: a row held back behind another. */
			wait = at - now;
			if (wait < 50)
				wait = 50;
			if (wait > REPORT_POLL_MS)
				wait = REPORT_POLL_MS;
		}
		(void)sender_wait(rep, wait);
	}
out:
	httpc_free(h);
	store_close(st);
	return NULL;
}

/* On the main thread: rows made due now, and what was never queued. */
static void
report_recover(struct report *rep)
{
	struct store	*st;
	int64_t		*ids = NULL;
	size_t		 n = 0, i;
	int		 due = 0;

	if (store_thread_get(&st, rep->db_path) != 0 ||
	    store_outbox_rewind(&due, st, time_now_ms()) != 0 ||
	    store_report_unreported(&ids, &n, st,
	    time_now_ms() - REPORT_SWEEP_MS, REPORT_SWEEP_RUNS) != 0) {
		log_warnx("cannot look at the outbox: %s", err_msg());
		return;
	}
	for (i = 0; i < n; i++)
		if (report_enqueue(NULL, st, rep->cfg, ids[i]) != 0)
			log_warnx("run=%" PRId64 " cannot queue its reports: "
			    "%s", ids[i], err_msg());
	free(ids);
	if (due > 0)
		log_info("%d queued report(s) from before the restart", due);
}

int
report_start(struct report **out, const struct config *cfg,
    const char *db_path)
{
	struct report		*rep;
	size_t			 i;
	int			 rc;

	*out = NULL;
	rep = xcalloc(1, sizeof(*rep));
	rep->cfg = cfg;
	rep->db_path = xstrdup(db_path);
	rep->rand = (uint64_t)time_now_ms() ^ ((uint64_t)getpid() << 32) ^
	    UINT64_C(0x9e3779b97f4a7c15);
	atomic_init(&rep->stopping, false);
	pthread_mutex_init(&rep->mtx, NULL);
	cond_init_mono(&rep->cv);
	for (i = 0; i < cfg->nrepos; i++)
		if (repo_reports(&cfg->repos[i]))
			rep->active = true;
	if (!rep->active) {
		*out = rep;
		return 0;
	}
	if ((rc = httpc_global_init()) != 0) {
		report_stop(rep);
		return rc;
	}
	rep->curl_init = true;
	report_recover(rep);
	if ((rc = pthread_create(&rep->thread, NULL, sender_main, rep)) != 0) {
		report_stop(rep);
		return err_set(ERR_FAIL, "cannot start the report sender: %s",
		    strerror(rc));
	}
	rep->started = true;
	*out = rep;
	return 0;
}

void
report_stop(struct report *rep)
{
	if (rep == NULL)
		return;
	if (rep->started) {
		pthread_mutex_lock(&rep->mtx);
		atomic_store(&rep->stopping, true);
		rep->pending = true;
		pthread_cond_signal(&rep->cv);
		pthread_mutex_unlock(&rep->mtx);
		pthread_join(rep->thread, NULL);
	}
	if (rep->curl_init)
		httpc_global_cleanup();
	pthread_cond_destroy(&rep->cv);
	pthread_mutex_destroy(&rep->mtx);
	free(rep->db_path);
	free(rep);
}

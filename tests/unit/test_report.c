/*
 * Report tests: the pure builders (URLs, bodies, descriptions,
 * transitions, backoff, outcomes, log tails) and the queueing half
 * (report_enqueue and the outbox in the store) against a real SQLite
 * file in a fresh directory. No network: the sender thread is not
 * started here (tests/integration/test_report.sh drives it).
 */
#define _XOPEN_SOURCE 700	/* nftw */
#include <check.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "err.h"
#define LOG_MODULE "test"
#include "log.h"
#include "report.h"
#include "store.h"
#include "util.h"

/* --- helpers -------------------------------------------------------------- */

static void
step_init(struct step *s, const char *name, enum step_status status)
{
	memset(s, 0, sizeof(*s));
	s->name = xstrdup(name);
	s->needs = xstrdup("");
	s->status = status;
	s->exit_code = -1;
}

/* A run as the store would return it. */
static struct run *
run_make(int64_t id, enum run_status status, const char *reason)
{
	struct run	*r = xcalloc(1, sizeof(*r));

	r->id = id;
	r->repo = xstrdup("acme/shop");
	r->provider = xstrdup("github");
	r->branch = xstrdup("master");
	r->commit = xstrdup("9f1c2ab3d4e5f60718293a4b5c6d7e8f90a1b2c3");
	r->message = xstrdup("Fix cart\n\nLonger body.");
	r->author = xstrdup("Jane Doe");
	r->trigger = xstrdup("push");
	r->status = status;
	r->reason = reason ? xstrdup(reason) : NULL;
	r->created_at = 1000;
	r->started_at = 2000;
	r->finished_at = run_status_final(status) ? 10123 : 0;
	r->nsteps = 2;
	r->steps = xcalloc(2, sizeof(*r->steps));
	step_init(&r->steps[0], "build", STEP_SUCCEEDED);
	step_init(&r->steps[1], "test", status == RUN_FAILED ? STEP_FAILED :
	    STEP_SUCCEEDED);
	return r;
}

static cJSON *
parse(const char *s)
{
	cJSON	*o = cJSON_Parse(s);

	ck_assert_msg(o != NULL, "bad JSON: %s", s);
	return o;
}

static const char *
jstr(const cJSON *o, const char *k)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, k);

	ck_assert_msg(v != NULL, "no key %s", k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool
valid_utf8(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	int			 n, i;

	while (*p) {
		if (*p < 0x80)
			n = 0;
		else if ((*p & 0xe0) == 0xc0)
			n = 1;
		else if ((*p & 0xf0) == 0xe0)
			n = 2;
		else if ((*p & 0xf8) == 0xf0)
			n = 3;
		else
			return false;
		for (i = 1; i <= n; i++)
			if ((p[i] & 0xc0) != 0x80)
				return false;
		p += n + 1;
	}
	return true;
}

/* --- transitions ---------------------------------------------------------- */

START_TEST(transition_table)
{
	/* First failure, after a success or as the first run. */
	ck_assert_int_eq(report_transition(RUN_SUCCEEDED, RUN_FAILED),
	    REPORT_FAILING);
	ck_assert_int_eq(report_transition(-1, RUN_FAILED), REPORT_FAILING);
	ck_assert_int_eq(report_transition(RUN_SUCCEEDED, RUN_ERROR),
	    REPORT_FAILING);
	/* While it keeps failing: nothing. */
	ck_assert_int_eq(report_transition(RUN_FAILED, RUN_FAILED),
	    REPORT_NONE);
	ck_assert_int_eq(report_transition(RUN_ERROR, RUN_FAILED),
	    REPORT_NONE);
	ck_assert_int_eq(report_transition(RUN_FAILED, RUN_ERROR),
	    REPORT_NONE);
	/* Recovery. */
	ck_assert_int_eq(report_transition(RUN_FAILED, RUN_SUCCEEDED),
	    REPORT_RECOVERED);
	ck_assert_int_eq(report_transition(RUN_ERROR, RUN_SUCCEEDED),
	    REPORT_RECOVERED);
	/* Passing stays quiet; cancelled and unfinished say nothing. */
	ck_assert_int_eq(report_transition(RUN_SUCCEEDED, RUN_SUCCEEDED),
	    REPORT_NONE);
	ck_assert_int_eq(report_transition(-1, RUN_SUCCEEDED), REPORT_NONE);
	ck_assert_int_eq(report_transition(RUN_FAILED, RUN_CANCELLED),
	    REPORT_NONE);
	ck_assert_int_eq(report_transition(RUN_SUCCEEDED, RUN_RUNNING),
	    REPORT_NONE);
	ck_assert_str_eq(report_event_name(REPORT_FAILING), "failing");
	ck_assert_str_eq(report_event_name(REPORT_RECOVERED), "recovered");
	ck_assert_ptr_null(report_event_name(REPORT_NONE));
}
END_TEST

START_TEST(provider_states)
{
	ck_assert_str_eq(report_github_state(RUN_RUNNING), "pending");
	ck_assert_str_eq(report_github_state(RUN_SUCCEEDED), "success");
	ck_assert_str_eq(report_github_state(RUN_FAILED), "failure");
	ck_assert_str_eq(report_github_state(RUN_ERROR), "error");
	ck_assert_str_eq(report_github_state(RUN_CANCELLED), "error");
	ck_assert_ptr_null(report_github_state(RUN_QUEUED));
	ck_assert_str_eq(report_gitlab_state(RUN_RUNNING), "running");
	ck_assert_str_eq(report_gitlab_state(RUN_SUCCEEDED), "success");
	ck_assert_str_eq(report_gitlab_state(RUN_FAILED), "failed");
	ck_assert_str_eq(report_gitlab_state(RUN_ERROR), "failed");
	ck_assert_str_eq(report_gitlab_state(RUN_CANCELLED), "canceled");
	ck_assert_ptr_null(report_gitlab_state(RUN_QUEUED));
}
END_TEST

/* --- URLs and bodies ------------------------------------------------------ */

START_TEST(status_urls)
{
	struct config_repo	 r;
	char			*u;

	memset(&r, 0, sizeof(r));
	r.name = "acme/shop";
	r.provider = PROVIDER_GITHUB;
	r.api_url = "https://ghe.example/api/v3";
	u = report_status_url(&r, "abc123");
	ck_assert_str_eq(u,
	    "https://ghe.example/api/v3/repos/acme/shop/statuses/abc123");
	free(u);
	r.name = "group/sub group/blog";
	r.provider = PROVIDER_GITLAB;
	r.api_url = "https://gitlab.com/api/v4";
	u = report_status_url(&r, "abc123");
	ck_assert_str_eq(u, "https://gitlab.com/api/v4/projects/"
	    "group%2Fsub%20group%2Fblog/statuses/abc123");
	free(u);
	u = report_run_url("https://ferry.example", 42);
	ck_assert_str_eq(u, "https://ferry.example/#/runs/42");
	free(u);
}
END_TEST

START_TEST(description_short_and_valid)
{
	struct run	*r;
	char		*d, reason[400];
	size_t		 i;

	r = run_make(42, RUN_RUNNING, NULL);
	d = report_description(r);
	ck_assert_str_eq(d, "Run 42 is running");
	free(d);
	r->status = RUN_SUCCEEDED;
	r->finished_at = r->started_at + 8000;
	d = report_description(r);
	ck_assert_str_eq(d, "Run 42 succeeded in 8s");
	free(d);
	r->status = RUN_CANCELLED;
	d = report_description(r);
	ck_assert_str_eq(d, "Run 42 cancelled");
	free(d);
	/* A long multi-line reason of 2-byte characters: cut, still UTF-8. */
	for (i = 0; i + 2 < sizeof(reason); i += 2)
		memcpy(reason + i, "\xc3\xa9", 2);
	reason[i] = '\0';
	reason[10] = '\n';
	reason[11] = 'x';
	run_free(r);
	r = run_make(7, RUN_ERROR, reason);
	d = report_description(r);
	ck_assert_uint_le(strlen(d), 140);
	ck_assert_uint_ge(strlen(d), 130);
	ck_assert(valid_utf8(d));
	ck_assert_ptr_null(strchr(d, '\n'));
	ck_assert_str_eq(d + strlen(d) - 3, "...");
	ck_assert(strncmp(d, "Run 7 error: ", 13) == 0);
	free(d);
	run_free(r);
}
END_TEST

START_TEST(status_body_github)
{
	struct run	*r;
	char		*b;
	cJSON		*o;

	r = run_make(42, RUN_FAILED, "step test exited with 2");
	b = report_status_body(PROVIDER_GITHUB, r, "https://ferry.example");
	o = parse(b);
	ck_assert_str_eq(jstr(o, "state"), "failure");
	ck_assert_str_eq(jstr(o, "target_url"),
	    "https://ferry.example/#/runs/42");
	ck_assert_str_eq(jstr(o, "description"),
	    "Run 42 failed: step test exited with 2");
	ck_assert_str_eq(jstr(o, "context"), "ferry");
	ck_assert_ptr_null(cJSON_GetObjectItem(o, "name"));
	cJSON_Delete(o);
	free(b);
	run_free(r);
}
END_TEST

START_TEST(status_body_gitlab)
{
	struct run	*r = run_make(9, RUN_RUNNING, NULL);
	char		*b;
	cJSON		*o;

	b = report_status_body(PROVIDER_GITLAB, r, "http://ci:8080");
	o = parse(b);
	ck_assert_str_eq(jstr(o, "state"), "running");
	ck_assert_str_eq(jstr(o, "target_url"), "http://ci:8080/#/runs/9");
	ck_assert_str_eq(jstr(o, "name"), "ferry");
	ck_assert_ptr_null(cJSON_GetObjectItem(o, "context"));
	cJSON_Delete(o);
	free(b);
	run_free(r);
}
END_TEST

START_TEST(notify_body_failing)
{
	struct run	*r;
	const char	*text;
	char		*b;
	cJSON		*o;

	r = run_make(42, RUN_FAILED, "step test exited with 2");
	ck_assert_str_eq(report_failed_step(r)->name, "test");
	b = report_notify_body(r, REPORT_FAILING, "https://ferry.example",
	    "make: *** [check] Error 2\nbad \xff byte");
	o = parse(b);
	ck_assert_str_eq(jstr(o, "event"), "failing");
	ck_assert_str_eq(jstr(o, "repo"), "acme/shop");
	ck_assert_str_eq(jstr(o, "branch"), "master");
	ck_assert_str_eq(jstr(o, "status"), "failed");
	ck_assert_int_eq(cJSON_GetObjectItem(o, "run_id")->valueint, 42);
	ck_assert_str_eq(jstr(o, "run_url"), "https://ferry.example/#/runs/42");
	ck_assert_str_eq(jstr(o, "commit"), r->commit);
	ck_assert_str_eq(jstr(o, "message"), "Fix cart");
	ck_assert_str_eq(jstr(o, "author"), "Jane Doe");
	ck_assert_str_eq(jstr(o, "failed_step"), "test");
	ck_assert_str_eq(jstr(o, "reason"), "step test exited with 2");
	ck_assert_str_eq(jstr(o, "log_tail"),
	    "make: *** [check] Error 2\nbad ? byte");
	text = jstr(o, "text");
	ck_assert_ptr_nonnull(strstr(text,
	    "acme/shop master is failing: run 42 failed at step test"));
	ck_assert_ptr_nonnull(strstr(text, "Commit 9f1c2ab3d4e5 by Jane Doe: "
	    "Fix cart"));
	ck_assert_ptr_nonnull(strstr(text, "https://ferry.example/#/runs/42"));
	ck_assert_ptr_nonnull(strstr(text, "```\nmake: *** [check] Error 2"));
	cJSON_Delete(o);
	free(b);
	run_free(r);
}
END_TEST

START_TEST(notify_body_recovered)
{
	struct run	*r = run_make(43, RUN_SUCCEEDED, NULL);
	char		*b;
	cJSON		*o;

	ck_assert_ptr_null(report_failed_step(r));
	b = report_notify_body(r, REPORT_RECOVERED, "http://x", NULL);
	o = parse(b);
	ck_assert_str_eq(jstr(o, "event"), "recovered");
	ck_assert_ptr_null(jstr(o, "failed_step"));
	ck_assert_ptr_null(jstr(o, "log_tail"));
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(o, "reason")));
	ck_assert_ptr_nonnull(strstr(jstr(o, "text"),
	    "acme/shop master recovered: run 43 succeeded"));
	ck_assert_ptr_null(strstr(jstr(o, "text"), "```"));
	cJSON_Delete(o);
	free(b);
	run_free(r);
}
END_TEST

/* --- log tails ------------------------------------------------------------ */

static char	tmpdir[PATH_MAX - 64];

static void
tmp_setup(void)
{
	log_set_level(LOGL_ERROR);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ferry-report-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
tmp_teardown(void)
{
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *
write_file(const char *name, const char *text)
{
	char	*path = xasprintf("%s/%s", tmpdir, name);
	FILE	*f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	return path;
}

START_TEST(log_tail_last_lines)
{
	struct buf	 b;
	char		*path, *t;
	int		 i;

	buf_init(&b, SIZE_MAX);
	for (i = 1; i <= 30; i++)
		ck_assert_int_eq(buf_printf(&b, "line %d\n", i), 0);
	path = write_file("a.log", b.data);
	buf_dispose(&b);
	ck_assert_int_eq(report_log_tail(&t, path, 20, 4096), 0);
	ck_assert(strncmp(t, "line 11\nline 12\n", 16) == 0);
	ck_assert_str_eq(t + strlen(t) - 7, "line 30");
	free(t);
	ck_assert_int_eq(report_log_tail(&t, path, 1, 4096), 0);
	ck_assert_str_eq(t, "line 30");
	free(t);
	/* Only the last 20 bytes: the partial first line is dropped. */
	ck_assert_int_eq(report_log_tail(&t, path, 20, 20), 0);
	ck_assert_str_eq(t, "line 29\nline 30");
	free(t);
	free(path);
}
END_TEST

START_TEST(log_tail_edges)
{
	char	*path, *t, *missing;

	path = write_file("empty.log", "");
	ck_assert_int_eq(report_log_tail(&t, path, 20, 4096), 0);
	ck_assert_str_eq(t, "");
	free(t);
	free(path);
	path = write_file("noeol.log", "one\ntwo");
	ck_assert_int_eq(report_log_tail(&t, path, 20, 4096), 0);
	ck_assert_str_eq(t, "one\ntwo");
	free(t);
	free(path);
	path = write_file("bin.log", "ok\n\xc3(\xf0\x9f\x98\x80\n");
	ck_assert_int_eq(report_log_tail(&t, path, 20, 4096), 0);
	ck_assert_str_eq(t, "ok\n?(\xf0\x9f\x98\x80");
	free(t);
	free(path);
	missing = xasprintf("%s/none.log", tmpdir);
	ck_assert_int_eq(report_log_tail(&t, missing, 20, 4096),
	    ERR_NOTFOUND);
	ck_assert_ptr_null(t);
	free(missing);
}
END_TEST

/* --- retry policy --------------------------------------------------------- */

/* A server's Retry-After wins when longer than the backoff, up to 1 h. */
START_TEST(retry_after_lengthens_the_wait)
{
	ck_assert_int_eq(report_retry_delay_ms(1, 0, -1), 500);
	ck_assert_int_eq(report_retry_delay_ms(1, 0, 0), 500);
	ck_assert_int_eq(report_retry_delay_ms(1, 0, 120000), 120000);
	ck_assert_int_eq(report_retry_delay_ms(4, 0, 100), 4000);
	ck_assert_int_eq(report_retry_delay_ms(1, 0, 86400000),
	    60 * 60 * 1000);
}
END_TEST

START_TEST(backoff_grows_and_caps)
{
	int64_t	prev = 0, lo, hi;
	int	i;

	ck_assert_int_eq(report_backoff_ms(1, 0), 500);
	ck_assert_int_ge(report_backoff_ms(1, 0.9999), 999);
	ck_assert_int_le(report_backoff_ms(1, 0.9999), 1000);
	ck_assert_int_eq(report_backoff_ms(2, 0), 1000);
	ck_assert_int_eq(report_backoff_ms(4, 0), 4000);
	for (i = 1; i < 40; i++) {
		lo = report_backoff_ms(i, 0);
		hi = report_backoff_ms(i, 0.999);
		ck_assert_int_ge(lo, prev);
		ck_assert_int_ge(hi, lo);
		ck_assert_int_le(hi, 10 * 60 * 1000);
		prev = lo;
	}
	ck_assert_int_eq(report_backoff_ms(30, 0), 5 * 60 * 1000);
	/* Out-of-range jitter is clamped, never negative or past the cap. */
	ck_assert_int_eq(report_backoff_ms(1, -3), 500);
	ck_assert_int_le(report_backoff_ms(1, 7), 1000);
}
END_TEST

START_TEST(outcome_classes)
{
	ck_assert_int_eq(report_outcome(0, 201), REPORT_SENT);
	ck_assert_int_eq(report_outcome(0, 200), REPORT_SENT);
	ck_assert_int_eq(report_outcome(0, 502), REPORT_RETRY);
	ck_assert_int_eq(report_outcome(0, 500), REPORT_RETRY);
	ck_assert_int_eq(report_outcome(0, 429), REPORT_RETRY);
	ck_assert_int_eq(report_outcome(0, 408), REPORT_RETRY);
	ck_assert_int_eq(report_outcome(ERR_UPSTREAM, 0), REPORT_RETRY);
	ck_assert_int_eq(report_outcome(0, 401), REPORT_DROP);
	ck_assert_int_eq(report_outcome(0, 404), REPORT_DROP);
	ck_assert_int_eq(report_outcome(0, 422), REPORT_DROP);
	ck_assert_int_eq(report_outcome(0, 301), REPORT_DROP);
	ck_assert_int_eq(report_outcome(ERR_INVALID, 0), REPORT_DROP);
}
END_TEST

/* --- queueing: report_enqueue and the outbox ------------------------------ */

static struct store	*st;
static struct config	*cfg;
static char		 dbpath[PATH_MAX];

static const char CONFIG[] =
    "data_dir: %s\n"
    "public_url: https://ferry.example/\n"
    "repos:\n"
    "  - name: acme/shop\n"
    "    provider: github\n"
    "    clone_url: /nonexistent\n"
    "    secret: env:TEST_REPORT_SECRET\n"
    "    status_token: env:TEST_REPORT_TOKEN\n"
    "    api_url: http://127.0.0.1:9/api/v3\n"
    "    notify: [http://127.0.0.1:9/hook/one, http://127.0.0.1:9/hook/two]\n"
    "  - name: group/blog\n"
    "    provider: gitlab\n"
    "    clone_url: /nonexistent\n"
    "    secret: env:TEST_REPORT_SECRET\n"
    "    branch: main\n"
    "    status_token: env:TEST_REPORT_TOKEN\n"
    "  - name: quiet/repo\n"
    "    provider: github\n"
    "    clone_url: /nonexistent\n"
    "    secret: env:TEST_REPORT_SECRET\n";

static void
db_setup(void)
{
	char	*text;

	tmp_setup();
	setenv("TEST_REPORT_SECRET", "hook-secret", 1);
	setenv("TEST_REPORT_TOKEN", "tok-SECRET-123", 1);
	text = xasprintf(CONFIG, tmpdir);
	ck_assert_msg(config_parse(&cfg, "test.yml", text, strlen(text)) == 0,
	    "%s", err_msg());
	free(text);
	snprintf(dbpath, sizeof(dbpath), "%s/ferry.db", tmpdir);
	ck_assert_int_eq(store_open(&st, dbpath), 0);
	ck_assert_int_eq(store_migrate(st, NULL), 0);
	ck_assert_int_eq(store_repo_ensure(st, "acme/shop", "github",
	    "master"), 0);
	ck_assert_int_eq(store_repo_ensure(st, "group/blog", "gitlab",
	    "main"), 0);
	ck_assert_int_eq(store_repo_ensure(st, "quiet/repo", "github",
	    "master"), 0);
}

static void
db_teardown(void)
{
	store_close(st);
	config_free(cfg);
	tmp_teardown();
}

static int64_t
enqueue_run(const char *repo, const char *branch, const char *sha)
{
	struct run	r;
	int64_t		id;

	memset(&r, 0, sizeof(r));
	r.repo = (char *)repo;
	r.branch = (char *)branch;
	r.commit = (char *)sha;
	r.message = (char *)"msg";
	r.author = (char *)"Jane Doe";
	ck_assert_int_eq(store_run_enqueue(&id, st, &r), 0);
	return id;
}

/* Claims the next run (it must be id): it becomes running. */
static void
claim(int64_t id)
{
	struct run	*run;

	ck_assert_int_eq(store_run_claim(&run, st, NULL), 0);
	ck_assert_int_eq(run->id, id);
	run_free(run);
}

static int
outbox_n(void)
{
	int	n;

	ck_assert_int_eq(store_outbox_count(&n, st), 0);
	return n;
}

static bool
changed(int64_t id)
{
	bool	q;

	ck_assert_msg(report_enqueue(&q, st, cfg, id) == 0, "%s", err_msg());
	return q;
}

/* Takes the next due item (it must exist) and deletes it. */
static struct outbox_item *
take(void)
{
	struct outbox_item	*it;

	ck_assert_msg(store_outbox_next(&it, st, time_now_ms()) == 0, "%s",
	    err_msg());
	ck_assert_int_eq(store_outbox_delete(st, it->id), 0);
	return it;
}

START_TEST(enqueue_once_per_state)
{
	struct outbox_item	*it;
	struct step		 plan[1];
	cJSON			*o;
	int64_t			 id;

	id = enqueue_run("acme/shop", "master", "aaaa");
	ck_assert(!changed(id));	/* queued: nothing */
	claim(id);
	ck_assert(changed(id));
	ck_assert(!changed(id));	/* the same state again */
	memset(plan, 0, sizeof(plan));
	plan[0].name = (char *)"build";
	ck_assert_int_eq(store_steps_plan(st, id, plan, 1), 0);
	ck_assert_int_eq(store_step_update(st, id, "build", STEP_RUNNING, -1,
	    NULL), 0);
	ck_assert(!changed(id));	/* a step change of a running run */
	ck_assert_int_eq(outbox_n(), 1);
	ck_assert_int_eq(store_step_update(st, id, "build", STEP_SUCCEEDED, 0,
	    NULL), 0);
	ck_assert_int_eq(store_run_finish(st, id, RUN_SUCCEEDED, NULL), 0);
	ck_assert(changed(id));
	ck_assert(!changed(id));
	/* The unsent pending status was replaced by the final one. */
	ck_assert_int_eq(outbox_n(), 1);
	it = take();
	ck_assert_str_eq(it->kind, "status");
	ck_assert_str_eq(it->provider, "github");
	ck_assert_str_eq(it->repo, "acme/shop");
	ck_assert_int_eq(it->run_id, id);
	ck_assert_str_eq(it->url,
	    "http://127.0.0.1:9/api/v3/repos/acme/shop/statuses/aaaa");
	ck_assert_int_eq(it->attempts, 0);
	o = parse(it->body);
	ck_assert_str_eq(jstr(o, "state"), "success");
	cJSON_Delete(o);
	/* The token never reaches the database. */
	ck_assert_ptr_null(strstr(it->body, "tok-SECRET"));
	outbox_item_free(it);
	ck_assert_int_eq(outbox_n(), 0);
}
END_TEST

START_TEST(enqueue_notifications)
{
	struct outbox_item	*it;
	struct step		 plan[1];
	cJSON			*o;
	char			*dir, *log;
	FILE			*f;
	int64_t			 a, b, c, d;

	/* Run a succeeds: no notification (nothing was failing). */
	a = enqueue_run("acme/shop", "master", "aaaa");
	claim(a);
	ck_assert_int_eq(store_run_finish(st, a, RUN_SUCCEEDED, NULL), 0);
	ck_assert(changed(a));
	it = take();
	ck_assert_str_eq(it->kind, "status");
	outbox_item_free(it);
	ck_assert_int_eq(outbox_n(), 0);

	/* Run b fails at step test: status + one notification per URL. */
	b = enqueue_run("acme/shop", "master", "bbbb");
	claim(b);
	memset(plan, 0, sizeof(plan));
	plan[0].name = (char *)"test";
	ck_assert_int_eq(store_steps_plan(st, b, plan, 1), 0);
	ck_assert_int_eq(store_step_update(st, b, "test", STEP_FAILED, 2,
	    "exited with 2"), 0);
	dir = xasprintf("%s/logs/%" PRId64, tmpdir, b);
	ck_assert_int_eq(mkdir_p(dir, 0700), 0);
	log = xasprintf("%s/test.log", dir);
	ck_assert_ptr_nonnull(f = fopen(log, "w"));
	fputs("compiling\nassertion failed: cart total\n", f);
	fclose(f);
	free(log);
	free(dir);
	ck_assert_int_eq(store_run_finish(st, b, RUN_FAILED,
	    "step test exited with 2"), 0);
	ck_assert(changed(b));
	ck_assert_int_eq(outbox_n(), 3);
	it = take();
	ck_assert_str_eq(it->kind, "status");
	outbox_item_free(it);
	it = take();
	ck_assert_str_eq(it->kind, "notify");
	ck_assert_ptr_null(it->provider);
	ck_assert_str_eq(it->url, "http://127.0.0.1:9/hook/one");
	o = parse(it->body);
	ck_assert_str_eq(jstr(o, "event"), "failing");
	ck_assert_str_eq(jstr(o, "failed_step"), "test");
	ck_assert_str_eq(jstr(o, "log_tail"),
	    "compiling\nassertion failed: cart total");
	ck_assert_str_eq(jstr(o, "run_url"), "https://ferry.example/#/runs/2");
	cJSON_Delete(o);
	outbox_item_free(it);
	it = take();
	ck_assert_str_eq(it->url, "http://127.0.0.1:9/hook/two");
	outbox_item_free(it);

	/* Run c fails too: a status, no notification. */
	c = enqueue_run("acme/shop", "master", "cccc");
	claim(c);
	ck_assert_int_eq(store_run_finish(st, c, RUN_ERROR, "no .ferry.yml"),
	    0);
	ck_assert(changed(c));
	ck_assert_int_eq(outbox_n(), 1);
	it = take();
	ck_assert_str_eq(it->kind, "status");
	outbox_item_free(it);

	/* Run d succeeds: recovered. */
	d = enqueue_run("acme/shop", "master", "dddd");
	claim(d);
	ck_assert_int_eq(store_run_finish(st, d, RUN_SUCCEEDED, NULL), 0);
	ck_assert(changed(d));
	ck_assert_int_eq(outbox_n(), 3);
	outbox_item_free(take());
	it = take();
	o = parse(it->body);
	ck_assert_str_eq(jstr(o, "event"), "recovered");
	ck_assert_int_eq(cJSON_GetObjectItem(o, "run_id")->valueint, (int)d);
	cJSON_Delete(o);
	outbox_item_free(it);
	outbox_item_free(take());
	ck_assert_int_eq(outbox_n(), 0);
}
END_TEST

START_TEST(enqueue_quiet_cases)
{
	enum run_status	 s;
	int64_t		 a, b, c;
	struct outbox_item	*it;
	cJSON		*o;

	/* A repository without token or notify writes nothing at all. */
	a = enqueue_run("quiet/repo", "master", "aaaa");
	claim(a);
	ck_assert(!changed(a));
	ck_assert_int_eq(store_run_finish(st, a, RUN_FAILED, "x"), 0);
	ck_assert(!changed(a));
	ck_assert_int_eq(outbox_n(), 0);
	/* A run cancelled while queued was never shown: no status. */
	b = enqueue_run("acme/shop", "master", "bbbb");
	ck_assert_int_eq(store_run_cancel(&s, st, b, "cancelled by api"), 0);
	ck_assert_int_eq(s, RUN_CANCELLED);
	ck_assert(!changed(b));
	ck_assert_int_eq(outbox_n(), 0);
	/* A running one cancelled: GitLab canceled, to the encoded path. */
	c = enqueue_run("group/blog", "main", "cccc");
	claim(c);
	ck_assert(changed(c));
	ck_assert_int_eq(store_run_finish(st, c, RUN_CANCELLED, "by api"), 0);
	ck_assert(changed(c));
	ck_assert_int_eq(outbox_n(), 1);
	it = take();
	ck_assert_str_eq(it->provider, "gitlab");
	ck_assert_str_eq(it->url, "https://gitlab.com/api/v4/projects/"
	    "group%2Fblog/statuses/cccc");
	o = parse(it->body);
	ck_assert_str_eq(jstr(o, "state"), "canceled");
	ck_assert_str_eq(jstr(o, "name"), "ferry");
	cJSON_Delete(o);
	outbox_item_free(it);
}
END_TEST

START_TEST(outbox_order_and_retry)
{
	struct outbox_item	 items[3], *it;
	bool			 q;
	int64_t			 a, b, now, at;
	int			 n;

	a = enqueue_run("acme/shop", "master", "aaaa");
	b = enqueue_run("acme/shop", "master", "bbbb");
	memset(items, 0, sizeof(items));
	items[0].kind = (char *)"notify";
	items[0].run_id = a;
	items[0].repo = (char *)"acme/shop";
	items[0].url = (char *)"http://h/1";
	items[0].body = (char *)"{\"n\":1}";
	items[1] = items[0];
	items[1].url = (char *)"http://h/2";
	items[1].body = (char *)"{\"n\":2}";
	ck_assert_int_eq(store_outbox_enqueue(&q, st, a, RUN_FAILED, items,
	    2), 0);
	ck_assert(q);
	/* The same state again, or any state after a final one: nothing. */
	ck_assert_int_eq(store_outbox_enqueue(&q, st, a, RUN_FAILED, items,
	    2), 0);
	ck_assert(!q);
	ck_assert_int_eq(store_outbox_enqueue(&q, st, a, RUN_RUNNING, items,
	    2), 0);
	ck_assert(!q);
	items[2] = items[0];
	items[2].run_id = b;
	items[2].body = (char *)"{\"n\":3}";
	ck_assert_int_eq(store_outbox_enqueue(&q, st, b, RUN_SUCCEEDED,
	    &items[2], 1), 0);
	ck_assert(q);
	ck_assert_int_eq(store_report_state(&n, st, b), 0);
	ck_assert_int_eq(n, RUN_SUCCEEDED);

	/* http://h/1's first row fails: its second waits behind it. */
	now = time_now_ms();
	ck_assert_int_eq(store_outbox_next(&it, st, now), 0);
	ck_assert_str_eq(it->body, "{\"n\":1}");
	ck_assert_int_eq(store_outbox_retry(st, it->id, now + 60000,
	    "HTTP 502"), 0);
	outbox_item_free(it);
	ck_assert_int_eq(store_outbox_next(&it, st, now), 0);
	ck_assert_str_eq(it->body, "{\"n\":2}");
	ck_assert_int_eq(store_outbox_delete(st, it->id), 0);
	outbox_item_free(it);
	ck_assert_int_eq(store_outbox_next(&it, st, now), ERR_NOTFOUND);
	ck_assert_int_eq(store_outbox_wake_at(&at, st), 0);
	ck_assert_int_eq(at, now + 60000);
	/* Due later: then the retried row, with its attempt counted. */
	ck_assert_int_eq(store_outbox_next(&it, st, now + 60000), 0);
	ck_assert_str_eq(it->body, "{\"n\":1}");
	ck_assert_int_eq(it->attempts, 1);
	ck_assert_str_eq(it->last_error, "HTTP 502");
	outbox_item_free(it);
	/* A restart makes everything due now. */
	ck_assert_int_eq(store_outbox_rewind(&n, st, now), 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(store_outbox_next(&it, st, now), 0);
	ck_assert_str_eq(it->body, "{\"n\":1}");
	ck_assert_int_eq(store_outbox_delete(st, it->id), 0);
	outbox_item_free(it);
	ck_assert_int_eq(store_outbox_next(&it, st, now), 0);
	ck_assert_str_eq(it->body, "{\"n\":3}");
	outbox_item_free(it);
}
END_TEST

START_TEST(unreported_after_crash)
{
	int64_t	*ids, a, b, c;
	size_t	 n;

	a = enqueue_run("acme/shop", "master", "aaaa");
	b = enqueue_run("acme/shop", "master", "bbbb");
	c = enqueue_run("acme/shop", "master", "cccc");
	(void)c;	/* stays queued: nothing to report */
	claim(a);
	ck_assert(changed(a));
	/* a ends but ferry "dies" before queueing; b is running, unseen. */
	ck_assert_int_eq(store_run_finish(st, a, RUN_ERROR, "x"), 0);
	claim(b);
	ck_assert_int_eq(store_report_unreported(&ids, &n, st,
	    time_now_ms() - 60000, 200), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(ids[0], a);
	ck_assert_int_eq(ids[1], b);
	free(ids);
	/* Too old for the window: left alone. */
	ck_assert_int_eq(store_report_unreported(&ids, &n, st,
	    time_now_ms() + 60000, 200), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(ids);
	ck_assert(changed(a));
	ck_assert(changed(b));
	ck_assert_int_eq(store_report_unreported(&ids, &n, st, 0, 200), 0);
	ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(report_start_stop_inactive)
{
	struct report	*rep;
	struct config	*c;
	const char	*text = "data_dir: /tmp\nrepos: []\n";

	ck_assert_msg(config_parse(&c, "t.yml", text, strlen(text)) == 0,
	    "%s", err_msg());
	ck_assert_int_eq(report_start(&rep, c, dbpath), 0);
	ck_assert_ptr_nonnull(rep);
	report_run_changed(rep, 1);	/* nothing configured: no-op */
	report_run_changed(NULL, 1);
	report_stop(rep);
	report_stop(NULL);
	config_free(c);
}
END_TEST

Suite *
test_suite(void)
{
	Suite	*s = suite_create("report");
	TCase	*tc;

	tc = tcase_create("transition");
	tcase_add_test(tc, transition_table);
	tcase_add_test(tc, provider_states);
	suite_add_tcase(s, tc);

	tc = tcase_create("bodies");
	tcase_add_test(tc, status_urls);
	tcase_add_test(tc, description_short_and_valid);
	tcase_add_test(tc, status_body_github);
	tcase_add_test(tc, status_body_gitlab);
	tcase_add_test(tc, notify_body_failing);
	tcase_add_test(tc, notify_body_recovered);
	suite_add_tcase(s, tc);

	tc = tcase_create("log_tail");
	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	tcase_add_test(tc, log_tail_last_lines);
	tcase_add_test(tc, log_tail_edges);
	suite_add_tcase(s, tc);

	tc = tcase_create("retry");
	tcase_add_test(tc, backoff_grows_and_caps);
	tcase_add_test(tc, retry_after_lengthens_the_wait);
	tcase_add_test(tc, outcome_classes);
	suite_add_tcase(s, tc);

	tc = tcase_create("enqueue");
	tcase_add_checked_fixture(tc, db_setup, db_teardown);
	tcase_add_test(tc, enqueue_once_per_state);
	tcase_add_test(tc, enqueue_notifications);
	tcase_add_test(tc, enqueue_quiet_cases);
	tcase_add_test(tc, outbox_order_and_retry);
	tcase_add_test(tc, unreported_after_crash);
	tcase_add_test(tc, report_start_stop_inactive);
	suite_add_tcase(s, tc);
	return s;
}

/*
 * Store tests: real SQLite files in a fresh mkdtemp() directory per test
 * (the checked fixture), :memory: where a file adds nothing. The tests
 * go through include/store.h; sqlite3 is used directly only to look at
 * or tamper with the file the way an operator or an older ferry could.
 */
#include <check.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "err.h"
#define LOG_MODULE "test"
#include "log.h"
#include "store.h"
#include "util.h"

static char		 tmpdir[PATH_MAX - 64];
static char		 dbpath[PATH_MAX];
static struct store	*st;

static void
rm_db_files(void)
{
	char	p[PATH_MAX + 16];

	snprintf(p, sizeof(p), "%s-wal", dbpath);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", dbpath);
	unlink(p);
	unlink(dbpath);
}

/* A fresh directory, a migrated ferry.db in it, two repositories. */
static void
setup(void)
{
	int	applied;

	log_set_level(LOGL_WARN);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ferry-store-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(dbpath, sizeof(dbpath), "%s/ferry.db", tmpdir);
	ck_assert_int_eq(store_open(&st, dbpath), 0);
	ck_assert_int_eq(store_migrate(st, &applied), 0);
	ck_assert_int_ge(applied, 1);
	ck_assert_int_eq(store_repo_ensure(st, "acme/shop", "github",
	    "master"), 0);
	ck_assert_int_eq(store_repo_ensure(st, "acme/blog", "gitlab",
	    "main"), 0);
}

static void
teardown(void)
{
	store_close(st);
	st = NULL;
	rm_db_files();
	rmdir(tmpdir);
}

/* SELECT count(*) ... straight from the file, on its own connection. */
static int64_t
count_rows(const char *sql)
{
	sqlite3		*db;
	sqlite3_stmt	*s;
	int64_t		 n;

	ck_assert_int_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY,
	    NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL),
	    SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
	n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return n;
}

static void
exec_sql(const char *sql)
{
	sqlite3	*db;

	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* A push of repo on branch, with delivery (NULL: none). */
static struct run
push(const char *repo, const char *branch, const char *delivery)
{
	struct run	r = { 0 };

	r.repo = (char *)repo;
	r.branch = (char *)branch;
	r.commit = "9f1c2b3a4d5e6f708192a3b4c5d6e7f809102030";
	r.message = "Fix cart";
	r.author = "Jane Doe";
	r.pusher = "jane";
	r.delivery_id = (char *)delivery;
	return r;
}

static int64_t
enqueue(const char *repo, const char *branch, const char *delivery)
{
	struct run	r = push(repo, branch, delivery);
	int64_t		id;

	ck_assert_int_eq(store_run_enqueue(&id, st, &r), 0);
	ck_assert_int_gt(id, 0);
	return id;
}

START_TEST(status_names)
{
	int	i;

	for (i = RUN_QUEUED; i <= RUN_ERROR; i++)
		ck_assert_int_eq(run_status_parse(run_status_name(i)), i);
	for (i = STEP_PENDING; i <= STEP_ERROR; i++)
		ck_assert_int_eq(step_status_parse(step_status_name(i)), i);
	ck_assert_str_eq(run_status_name(RUN_CANCELLED), "cancelled");
	ck_assert_str_eq(step_status_name(STEP_SKIPPED), "skipped");
	ck_assert_int_eq(run_status_parse("done"), -1);
	ck_assert_int_eq(run_status_parse("skipped"), -1);
	ck_assert_int_eq(run_status_parse(NULL), -1);
	ck_assert_int_eq(step_status_parse("Queued"), -1);
	ck_assert(!run_status_final(RUN_QUEUED));
	ck_assert(!run_status_final(RUN_RUNNING));
	ck_assert(run_status_final(RUN_SUCCEEDED));
	ck_assert(run_status_final(RUN_ERROR));
	ck_assert(!step_status_final(STEP_PENDING));
	ck_assert(step_status_final(STEP_SKIPPED));
}
END_TEST

START_TEST(migrate_twice_is_noop)
{
	int	applied = -1, bin, db;

	/* The fixture migrated once: the second time applies nothing. */
	ck_assert_int_eq(store_migrate(st, &applied), 0);
	ck_assert_int_eq(applied, 0);
	ck_assert_int_eq(store_schema_version(&bin, &db, st), 0);
	ck_assert_int_ge(bin, 1);
	ck_assert_int_eq(db, bin);
	ck_assert_int_eq(count_rows("SELECT count(*) FROM schema_migrations"),
	    bin);
	ck_assert_int_eq(count_rows("SELECT max(version) FROM "
	    "schema_migrations"), bin);
	ck_assert_int_eq(count_rows("SELECT count(*) FROM schema_migrations "
	    "WHERE version = 1 AND name = 'init' AND applied_at > 0"), 1);
	/* A new connection sees the same. */
	store_close(st);
	ck_assert_int_eq(store_open(&st, dbpath), 0);
	ck_assert_int_eq(store_migrate(st, NULL), 0);
	ck_assert_int_eq(count_rows("SELECT count(*) FROM schema_migrations"),
	    bin);
	/* The schema is there and in WAL mode. */
	ck_assert_int_eq(count_rows("SELECT count(*) FROM sqlite_master "
	    "WHERE type = 'table' AND name IN ('repos', 'runs', 'steps', "
	    "'deliveries')"), 4);
	ck_assert_int_eq(count_rows("SELECT journal_mode = 'wal' FROM "
	    "pragma_journal_mode"), 1);
}
END_TEST

START_TEST(migrate_fresh_memory)
{
	struct store	*m;
	int		 applied, bin, db;

	ck_assert_int_eq(store_open(&m, ":memory:"), 0);
	ck_assert_int_eq(store_schema_version(&bin, &db, m), 0);
	ck_assert_int_eq(db, 0);
	ck_assert_int_eq(store_migrate(m, &applied), 0);
	ck_assert_int_eq(applied, bin);
	ck_assert_int_eq(store_schema_version(&bin, &db, m), 0);
	ck_assert_int_eq(db, bin);
	ck_assert_int_eq(store_ping(m), 0);
	store_close(m);
}
END_TEST

START_TEST(migrate_refuses_newer)
{
	char	want[128];
	int	applied = -1, bin, db;

	exec_sql("INSERT INTO schema_migrations (version, name, applied_at) "
	    "VALUES (999, 'from_the_future', 1)");
	store_close(st);
	ck_assert_int_eq(store_open(&st, dbpath), 0);
	ck_assert_int_eq(store_migrate(st, &applied), ERR_INVALID);
	ck_assert_int_eq(applied, 0);
	ck_assert_int_eq(store_schema_version(&bin, &db, st), 0);
	ck_assert_int_eq(db, 999);
	snprintf(want, sizeof(want), "database schema version 999 is newer "
	    "than this ferry (%d)", bin);
	ck_assert_str_eq(err_msg(), want);
}
END_TEST

START_TEST(open_fails_cleanly)
{
	struct store	*x = (struct store *)1;
	char		 p[PATH_MAX + 32];

	snprintf(p, sizeof(p), "%s/no/such/dir/ferry.db", tmpdir);
	ck_assert_int_eq(store_open(&x, p), ERR_FAIL);
	ck_assert_ptr_null(x);
	ck_assert_ptr_nonnull(strstr(err_msg(), "cannot open database"));
}
END_TEST

START_TEST(ping)
{
	ck_assert_int_eq(store_ping(st), 0);
}
END_TEST

START_TEST(enqueue_get_round_trip)
{
	struct run	 r = push("acme/shop", "master", "d-1"), *got;
	int64_t		 id, before, after;

	r.provider = "github";
	r.compare_url = "https://github.com/acme/shop/compare/a...b";
	r.trigger = "manual";
	before = time_now_ms();
	ck_assert_int_eq(store_run_enqueue(&id, st, &r), 0);
	after = time_now_ms();
	ck_assert_int_gt(id, 0);
	ck_assert_int_eq(store_run_get(&got, st, id), 0);
	ck_assert_int_eq(got->id, id);
	ck_assert_str_eq(got->repo, "acme/shop");
	ck_assert_str_eq(got->provider, "github");
	ck_assert_str_eq(got->branch, "master");
	ck_assert_str_eq(got->commit, r.commit);
	ck_assert_str_eq(got->message, "Fix cart");
	ck_assert_str_eq(got->author, "Jane Doe");
	ck_assert_str_eq(got->pusher, "jane");
	ck_assert_str_eq(got->compare_url, r.compare_url);
	ck_assert_str_eq(got->delivery_id, "d-1");
	ck_assert_str_eq(got->trigger, "manual");
	ck_assert_int_eq(got->status, RUN_QUEUED);
	ck_assert_ptr_null(got->reason);
	ck_assert_int_eq(got->attempts, 0);
	ck_assert_int_ge(got->created_at, before);
	ck_assert_int_le(got->created_at, after);
	ck_assert_int_eq(got->started_at, 0);
	ck_assert_int_eq(got->finished_at, 0);
	ck_assert_uint_eq(got->nsteps, 0);
	ck_assert_ptr_null(got->steps);
	run_free(got);

	/* Defaults: no delivery, no compare URL, trigger "push". */
	r = push("acme/blog", "main", NULL);
	r.message = "multi\nline \"message\" with 'quotes' and ünïcode";
	ck_assert_int_eq(store_run_enqueue(&id, st, &r), 0);
	ck_assert_int_eq(store_run_get(&got, st, id), 0);
	ck_assert_str_eq(got->provider, "gitlab");
	ck_assert_str_eq(got->message, r.message);
	ck_assert_ptr_null(got->delivery_id);
	ck_assert_ptr_null(got->compare_url);
	ck_assert_str_eq(got->trigger, "push");
	run_free(got);
	ck_assert_int_eq(count_rows("SELECT count(*) FROM deliveries"), 1);

	got = (struct run *)1;
	ck_assert_int_eq(store_run_get(&got, st, id + 100), ERR_NOTFOUND);
	ck_assert_ptr_null(got);
}
END_TEST

START_TEST(enqueue_duplicate_delivery)
{
	struct run	r = push("acme/shop", "master", "dup-1");
	int64_t		first, id = 0;

	ck_assert_int_eq(store_run_enqueue(&first, st, &r), 0);
	/* A retry, even with other contents, is the same delivery. */
	r.commit = "0000000000000000000000000000000000000000";
	ck_assert_int_eq(store_run_enqueue(&id, st, &r), ERR_EXISTS);
	ck_assert_int_eq(id, first);
	ck_assert_int_eq(count_rows("SELECT count(*) FROM runs"), 1);
	ck_assert_int_eq(count_rows("SELECT count(*) FROM deliveries"), 1);
	ck_assert_int_eq(count_rows("SELECT count(*) FROM deliveries "
	    "WHERE provider = 'github' AND delivery_id = 'dup-1'"), 1);
	/* The connection is usable afterwards: no transaction left open. */
	ck_assert_int_gt(enqueue("acme/shop", "master", "dup-2"), first);
	ck_assert_int_eq(count_rows("SELECT count(*) FROM runs"), 2);
}
END_TEST

START_TEST(enqueue_delivery_per_provider)
{
	int64_t	a, b;

	a = enqueue("acme/shop", "master", "same-id");
	b = enqueue("acme/blog", "main", "same-id");
	ck_assert_int_ne(a, b);
	ck_assert_int_eq(count_rows("SELECT count(*) FROM deliveries "
	    "WHERE delivery_id = 'same-id'"), 2);
	ck_assert_int_eq(count_rows("SELECT count(DISTINCT provider) FROM "
	    "deliveries"), 2);
}
END_TEST

START_TEST(enqueue_unknown_repo)
{
	struct run	r = push("acme/x", "master", "d-x");
	int64_t		id = 7;

	ck_assert_int_eq(store_run_enqueue(&id, st, &r), ERR_NOTFOUND);
	ck_assert_str_eq(err_msg(), "repository acme/x is not configured");
	ck_assert_int_eq(id, 0);
	ck_assert_int_eq(count_rows("SELECT count(*) FROM runs"), 0);
	ck_assert_int_eq(count_rows("SELECT count(*) FROM deliveries"), 0);
}
END_TEST

START_TEST(enqueue_provider_mismatch)
{
	struct run	r = push("acme/shop", "master", "d-1");
	int64_t		id;

	r.provider = "gitlab";
	ck_assert_int_eq(store_run_enqueue(&id, st, &r), ERR_INVALID);
	ck_assert_int_eq(count_rows("SELECT count(*) FROM runs"), 0);
}
END_TEST

START_TEST(repo_ensure_upserts)
{
	struct repo_summary	*v;
	size_t			 n;

	ck_assert_int_eq(store_repo_ensure(st, "acme/shop", "github",
	    "release"), 0);
	ck_assert_int_eq(store_repo_ensure(st, "acme/shop", "github",
	    "release"), 0);
	ck_assert_int_eq(count_rows("SELECT count(*) FROM repos"), 2);
	ck_assert_int_eq(store_repo_list(&v, &n, st), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(v[1].name, "acme/shop");
	ck_assert_str_eq(v[1].branch, "release");
	repo_summaries_free(v, n);
	/* The CHECK on provider holds. */
	ck_assert_int_eq(store_repo_ensure(st, "acme/svn", "svn", "trunk"),
	    ERR_FAIL);
}
END_TEST

/*
 * Pages through f at limit per page; checks each page is newest first,
 * no longer than the limit, and returns every id seen in order.
 */
static size_t
list_all(int64_t *ids, size_t max, const char *repo, int status, int limit)
{
	struct run_filter	f = { repo, status, limit, 0 };
	struct run_list		l;
	size_t			i, n = 0;
	int			pages = 0;

	for (;;) {
		ck_assert_int_eq(store_run_list(&l, st, &f), 0);
		ck_assert_uint_le(l.n, (size_t)limit);
		for (i = 0; i < l.n; i++) {
			ck_assert_ptr_null(l.runs[i]->steps);
			if (repo != NULL)
				ck_assert_str_eq(l.runs[i]->repo, repo);
			if (status >= 0)
				ck_assert_int_eq(l.runs[i]->status, status);
			ck_assert_uint_lt(n, max);
			ids[n++] = l.runs[i]->id;
		}
		if (l.next != 0) {
			/* A full page, whose last id is the cursor. */
			ck_assert_uint_eq(l.n, (size_t)limit);
			ck_assert_int_eq(l.next, l.runs[l.n - 1]->id);
		}
		f.before = l.next;
		run_list_dispose(&l);
		ck_assert_int_lt(++pages, 1000);
		if (f.before == 0)
			break;
	}
	return n;
}

START_TEST(list_filters_and_paging)
{
	struct { int64_t id; const char *repo; int status; } all[60];
	int64_t		got[64], want[64];
	const char	*repos[] = { "acme/shop", "acme/blog", NULL };
	int		statuses[] = { -1, RUN_QUEUED, RUN_FAILED };
	int		limits[] = { 1, 7, 10, 200 };
	size_t		i, ri, si, li, n, nwant;
	int		j;

	for (i = 0; i < 60; i++) {
		all[i].repo = i % 3 == 0 ? "acme/blog" : "acme/shop";
		all[i].id = enqueue(all[i].repo,
		    i % 3 == 0 ? "main" : "master", NULL);
		all[i].status = RUN_QUEUED;
		if (i % 4 == 1) {
			ck_assert_int_eq(store_run_finish(st, all[i].id,
			    RUN_FAILED, "step test exited with 2"), 0);
			all[i].status = RUN_FAILED;
		}
		if (i > 0)
			ck_assert_int_gt(all[i].id, all[i - 1].id);
	}
	for (ri = 0; ri < 3; ri++)
	for (si = 0; si < 3; si++)
	for (li = 0; li < 4; li++) {
		nwant = 0;
		for (j = 59; j >= 0; j--) {
			if (repos[ri] != NULL &&
			    strcmp(all[j].repo, repos[ri]) != 0)
				continue;
			if (statuses[si] >= 0 && all[j].status != statuses[si])
				continue;
			want[nwant++] = all[j].id;
		}
		n = list_all(got, 64, repos[ri], statuses[si], limits[li]);
		ck_assert_uint_eq(n, nwant);
		for (i = 0; i < n; i++)
			ck_assert_int_eq(got[i], want[i]);
	}
}
END_TEST

START_TEST(list_limit_and_exact_pages)
{
	struct run_filter	f = { NULL, -1, 10, 0 };
	struct run_list		l;
	int64_t			ids[20];
	int			i;

	for (i = 0; i < 20; i++)
		ids[i] = enqueue("acme/shop", "master", NULL);
	ck_assert_int_eq(store_run_list(&l, st, &f), 0);
	ck_assert_uint_eq(l.n, 10);
	ck_assert_int_eq(l.runs[0]->id, ids[19]);
	ck_assert_int_eq(l.next, ids[10]);
	f.before = l.next;
	run_list_dispose(&l);
	/* Exactly the last 10: no further page. */
	ck_assert_int_eq(store_run_list(&l, st, &f), 0);
	ck_assert_uint_eq(l.n, 10);
	ck_assert_int_eq(l.runs[9]->id, ids[0]);
	ck_assert_int_eq(l.next, 0);
	run_list_dispose(&l);
	/* limit 1 over 20 runs */
	f.limit = 1;
	f.before = 0;
	ck_assert_int_eq(store_run_list(&l, st, &f), 0);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_int_eq(l.next, ids[19]);
	run_list_dispose(&l);
	/* An unknown repository lists nothing. */
	f.repo = "acme/none";
	f.limit = 200;
	ck_assert_int_eq(store_run_list(&l, st, &f), 0);
	ck_assert_uint_eq(l.n, 0);
	ck_assert_int_eq(l.next, 0);
	run_list_dispose(&l);
}
END_TEST

START_TEST(repo_list_latest_production_run)
{
	struct repo_summary	*v;
	struct step		 plan[2] = { { 0 } };
	size_t			 n;
	int64_t			 old, last;

	ck_assert_int_eq(store_repo_ensure(st, "acme/api", "github", "master"),
	    0);
	old = enqueue("acme/shop", "master", NULL);
	last = enqueue("acme/shop", "master", NULL);
	plan[0].name = "build";
	plan[1].name = "test";
	plan[1].needs = "build";
	ck_assert_int_eq(store_steps_plan(st, last, plan, 2), 0);
	/* Newer, but on another branch: not the production branch's. */
	enqueue("acme/shop", "feature", NULL);
	/* acme/blog's production branch is main; master is not it. */
	enqueue("acme/blog", "master", NULL);
	ck_assert_int_gt(last, old);

	ck_assert_int_eq(store_repo_list(&v, &n, st), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(v[0].name, "acme/api");
	ck_assert_str_eq(v[1].name, "acme/blog");
	ck_assert_str_eq(v[2].name, "acme/shop");
	ck_assert_str_eq(v[1].provider, "gitlab");
	ck_assert_str_eq(v[1].branch, "main");
	ck_assert_ptr_null(v[0].last);
	ck_assert_ptr_null(v[1].last);
	ck_assert_ptr_nonnull(v[2].last);
	ck_assert_int_eq(v[2].last->id, last);
	ck_assert_str_eq(v[2].last->branch, "master");
	ck_assert_uint_eq(v[2].last->nsteps, 2);
	ck_assert_str_eq(v[2].last->steps[1].name, "test");
	repo_summaries_free(v, n);
}
END_TEST

START_TEST(steps_plan_and_get)
{
	struct step	 plan[3] = { { 0 } };
	struct run	*run;
	int64_t		 id = enqueue("acme/shop", "master", NULL);

	plan[0].name = "build";
	plan[1].name = "test";
	plan[1].needs = "build";
	plan[2].name = "deploy";
	plan[2].needs = "build test";
	plan[2].deploy = true;
	plan[2].status = STEP_FAILED;	/* ignored: planned steps pend */
	ck_assert_int_eq(store_steps_plan(st, id, plan, 3), 0);
	ck_assert_int_eq(store_run_get(&run, st, id), 0);
	ck_assert_uint_eq(run->nsteps, 3);
	ck_assert_str_eq(run->steps[0].name, "build");
	ck_assert_str_eq(run->steps[0].needs, "");
	ck_assert(!run->steps[0].deploy);
	ck_assert_str_eq(run->steps[1].name, "test");
	ck_assert_str_eq(run->steps[1].needs, "build");
	ck_assert_str_eq(run->steps[2].name, "deploy");
	ck_assert_str_eq(run->steps[2].needs, "build test");
	ck_assert(run->steps[2].deploy);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(run->steps[i].idx, i);
		ck_assert_int_eq(run->steps[i].run_id, id);
		ck_assert_int_gt(run->steps[i].id, 0);
		ck_assert_int_eq(run->steps[i].status, STEP_PENDING);
		ck_assert_int_eq(run->steps[i].exit_code, -1);
		ck_assert_ptr_null(run->steps[i].reason);
		ck_assert_int_eq(run->steps[i].started_at, 0);
		ck_assert_int_eq(run->steps[i].finished_at, 0);
	}
	run_free(run);
	/* Planned once only, atomically. */
	ck_assert_int_eq(store_steps_plan(st, id, plan, 1), ERR_EXISTS);
	ck_assert_int_eq(count_rows("SELECT count(*) FROM steps"), 3);
	ck_assert_int_eq(store_steps_plan(st, id + 1000, plan, 1),
	    ERR_NOTFOUND);
	/* A duplicate name rolls the whole plan back. */
	id = enqueue("acme/shop", "master", NULL);
	plan[1].name = "build";
	ck_assert_int_eq(store_steps_plan(st, id, plan, 3), ERR_EXISTS);
	ck_assert_int_eq(count_rows("SELECT count(*) FROM steps"), 3);
}
END_TEST

START_TEST(step_update_times)
{
	struct step	 plan[2] = { { 0 } };
	struct run	*run;
	int64_t		 id = enqueue("acme/shop", "master", NULL), t0;

	plan[0].name = "build";
	plan[1].name = "test";
	ck_assert_int_eq(store_steps_plan(st, id, plan, 2), 0);
	t0 = time_now_ms();
	ck_assert_int_eq(store_step_update(st, id, "build", STEP_RUNNING, -1,
	    NULL), 0);
	ck_assert_int_eq(store_run_get(&run, st, id), 0);
	ck_assert_int_eq(run->steps[0].status, STEP_RUNNING);
	ck_assert_int_ge(run->steps[0].started_at, t0);
	ck_assert_int_eq(run->steps[0].finished_at, 0);
	ck_assert_int_eq(run->steps[0].exit_code, -1);
	run_free(run);
	ck_assert_int_eq(store_step_update(st, id, "build", STEP_FAILED, 2,
	    "exited with 2"), 0);
	ck_assert_int_eq(store_step_update(st, id, "test", STEP_SKIPPED, -1,
	    "build failed"), 0);
	ck_assert_int_eq(store_run_get(&run, st, id), 0);
	ck_assert_int_eq(run->steps[0].status, STEP_FAILED);
	ck_assert_int_eq(run->steps[0].exit_code, 2);
	ck_assert_str_eq(run->steps[0].reason, "exited with 2");
	ck_assert_int_ge(run->steps[0].finished_at,
	    run->steps[0].started_at);
	ck_assert_int_eq(run->steps[1].status, STEP_SKIPPED);
	ck_assert_int_eq(run->steps[1].started_at, 0);
	ck_assert_int_ge(run->steps[1].finished_at, t0);
	ck_assert_str_eq(run->steps[1].reason, "build failed");
	run_free(run);
	ck_assert_int_eq(store_step_update(st, id, "nope", STEP_RUNNING, -1,
	    NULL), ERR_NOTFOUND);
	ck_assert_int_eq(store_step_update(st, id + 1, "build", STEP_RUNNING,
	    -1, NULL), ERR_NOTFOUND);
}
END_TEST

START_TEST(run_finish)
{
	struct run	*run;
	int64_t		 id = enqueue("acme/shop", "master", NULL), t0;

	t0 = time_now_ms();
	ck_assert_int_eq(store_run_finish(st, id, RUN_FAILED,
	    "step test exited with 2"), 0);
	ck_assert_int_eq(store_run_get(&run, st, id), 0);
	ck_assert_int_eq(run->status, RUN_FAILED);
	ck_assert_str_eq(run->reason, "step test exited with 2");
	ck_assert_int_ge(run->finished_at, t0);
	run_free(run);
	/* The first end wins. */
	ck_assert_int_eq(store_run_finish(st, id, RUN_SUCCEEDED, NULL),
	    ERR_INVALID);
	ck_assert_int_eq(store_run_get(&run, st, id), 0);
	ck_assert_int_eq(run->status, RUN_FAILED);
	run_free(run);
	ck_assert_int_eq(store_run_finish(st, id + 1, RUN_CANCELLED, NULL),
	    ERR_NOTFOUND);
}
END_TEST

static int
conc_cb(void *arg, const char *repo)
{
	const int	*limits = arg;

	if (strcmp(repo, "acme/shop") == 0)
		return limits[0];
	if (strcmp(repo, "acme/blog") == 0)
		return limits[1];
	return 1;
}

static int64_t
claim(const struct store_claim_opts *o)
{
	struct run	*run;
	int64_t		 id;
	int		 rc;

	rc = store_run_claim(&run, st, o);
	if (rc == ERR_NOTFOUND) {
		ck_assert_ptr_null(run);
		return 0;
	}
	ck_assert_int_eq(rc, 0);
	ck_assert_int_eq(run->status, RUN_RUNNING);
	ck_assert_int_gt(run->started_at, 0);
	ck_assert_int_ge(run->attempts, 1);
	id = run->id;
	run_free(run);
	return id;
}

START_TEST(claim_arrival_order_and_concurrency)
{
	struct store_claim_opts	o = { conc_cb, NULL };
	struct run		*run;
	int			 limits[2] = { 1, 2 };
	int64_t			 s1, s2, s3, b1, b2, b3;

	o.arg = limits;
	ck_assert_int_eq(claim(&o), 0);
	s1 = enqueue("acme/shop", "master", NULL);
	b1 = enqueue("acme/blog", "main", NULL);
	s2 = enqueue("acme/shop", "master", NULL);
	b2 = enqueue("acme/blog", "main", NULL);
	s3 = enqueue("acme/shop", "master", NULL);
	b3 = enqueue("acme/blog", "main", NULL);
	/* Oldest first across repositories, each its own oldest. */
	ck_assert_int_eq(claim(&o), s1);
	ck_assert_int_eq(claim(&o), b1);
	/* shop is at its limit of 1; blog may run 2. */
	ck_assert_int_eq(claim(&o), b2);
	ck_assert_int_eq(claim(&o), 0);
	ck_assert_int_eq(store_run_get(&run, st, s1), 0);
	ck_assert_int_eq(run->attempts, 1);
	run_free(run);
	ck_assert_int_eq(store_run_finish(st, b1, RUN_SUCCEEDED, NULL), 0);
	ck_assert_int_eq(claim(&o), b3);
	ck_assert_int_eq(store_run_finish(st, s1, RUN_SUCCEEDED, NULL), 0);
	ck_assert_int_eq(claim(&o), s2);
	ck_assert_int_eq(claim(&o), 0);
	ck_assert_int_eq(store_run_get(&run, st, s3), 0);
	ck_assert_int_eq(run->status, RUN_QUEUED);
	run_free(run);
	/* Concurrency 0: the repository's runs wait. */
	ck_assert_int_eq(store_run_finish(st, s2, RUN_SUCCEEDED, NULL), 0);
	limits[0] = 0;
	ck_assert_int_eq(claim(&o), 0);
	/* No callback: one per repository. */
	ck_assert_int_eq(claim(NULL), s3);
}
END_TEST

START_TEST(claim_failing_repo_first)
{
	int64_t	s1, s2, b1, b2, f;

	/* blog's production branch failed last: its run goes first. */
	f = enqueue("acme/blog", "main", NULL);
	ck_assert_int_eq(claim(NULL), f);
	ck_assert_int_eq(store_run_finish(st, f, RUN_FAILED, "red"), 0);
	s1 = enqueue("acme/shop", "master", NULL);
	s2 = enqueue("acme/shop", "master", NULL);
	b1 = enqueue("acme/blog", "main", NULL);
	ck_assert_int_eq(claim(NULL), b1);
	ck_assert_int_eq(claim(NULL), s1);
	ck_assert_int_eq(store_run_finish(st, s1, RUN_SUCCEEDED, NULL), 0);
	/* b1 fixed blog: no priority any more, arrival order again. */
	ck_assert_int_eq(store_run_finish(st, b1, RUN_SUCCEEDED, NULL), 0);
	b2 = enqueue("acme/blog", "main", NULL);
	ck_assert_int_eq(claim(NULL), s2);
	ck_assert_int_eq(store_run_finish(st, s2, RUN_ERROR, "no source"), 0);
	/*
	 * shop's master is now failing (error), so a newer shop run beats
	 * b2; a later cancelled run does not clear that.
	 */
	s1 = enqueue("acme/shop", "master", NULL);
	ck_assert_int_eq(store_run_finish(st, s1, RUN_CANCELLED, NULL), 0);
	s2 = enqueue("acme/shop", "master", NULL);
	ck_assert_int_eq(claim(NULL), s2);
	ck_assert_int_eq(claim(NULL), b2);
	/* A failure on another branch does not make a repo failing. */
	ck_assert_int_eq(store_run_finish(st, s2, RUN_SUCCEEDED, NULL), 0);
	ck_assert_int_eq(store_run_finish(st, b2, RUN_SUCCEEDED, NULL), 0);
	f = enqueue("acme/blog", "feature", NULL);
	ck_assert_int_eq(claim(NULL), f);
	ck_assert_int_eq(store_run_finish(st, f, RUN_FAILED, NULL), 0);
	s1 = enqueue("acme/shop", "master", NULL);
	b1 = enqueue("acme/blog", "main", NULL);
	ck_assert_int_eq(claim(NULL), s1);
	ck_assert_int_eq(claim(NULL), b1);
}
END_TEST

START_TEST(recovery_requeue)
{
	struct step	 plan[1] = { { 0 } };
	struct run	*run;
	int64_t		*ids, a, b, c;
	size_t		 n;
	bool		 req = true;

	a = enqueue("acme/shop", "master", NULL);
	b = enqueue("acme/blog", "main", NULL);
	c = enqueue("acme/shop", "master", NULL);
	ck_assert_int_eq(claim(NULL), a);
	ck_assert_int_eq(claim(NULL), b);
	ck_assert_int_eq(store_runs_in_state(&ids, &n, st, RUN_RUNNING), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(ids[0], a);
	ck_assert_int_eq(ids[1], b);
	free(ids);
	ck_assert_int_eq(store_runs_in_state(&ids, &n, st, RUN_QUEUED), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(ids[0], c);
	free(ids);
	ck_assert_int_eq(store_runs_in_state(&ids, &n, st, RUN_FAILED), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(ids);

	plan[0].name = "build";
	ck_assert_int_eq(store_steps_plan(st, a, plan, 1), 0);
	ck_assert_int_eq(store_step_update(st, a, "build", STEP_RUNNING, -1,
	    NULL), 0);
	ck_assert_int_eq(store_run_cancel(NULL, st, a, NULL), 0);
	ck_assert_int_eq(store_run_requeue(st, a, "interrupted by a restart"),
	    0);
	ck_assert_int_eq(store_run_cancel_requested(&req, st, a), 0);
	ck_assert(!req);
	ck_assert_int_eq(store_run_get(&run, st, a), 0);
	ck_assert_int_eq(run->status, RUN_QUEUED);
	ck_assert_str_eq(run->reason, "interrupted by a restart");
	ck_assert_int_eq(run->started_at, 0);
	ck_assert_int_eq(run->attempts, 1);
	ck_assert_uint_eq(run->nsteps, 0);
	run_free(run);
	ck_assert_int_eq(store_run_requeue(st, a, NULL), ERR_INVALID);
	ck_assert_int_eq(store_run_requeue(st, c + 10, NULL), ERR_NOTFOUND);
	/* Still first in its repository's line; claimed a second time. */
	ck_assert_int_eq(claim(NULL), a);
	ck_assert_int_eq(store_run_get(&run, st, a), 0);
	ck_assert_int_eq(run->attempts, 2);
	run_free(run);
	ck_assert_int_eq(store_steps_plan(st, a, plan, 1), 0);
}
END_TEST

START_TEST(migrate_applies_missing_only)
{
	int	applied = -1, bin, db;

	/* A database left at 0001 by an older ferry. */
	exec_sql("ALTER TABLE runs DROP COLUMN cancel_requested_at;"
	    "DELETE FROM schema_migrations WHERE version > 1");
	enqueue("acme/shop", "master", "kept");
	store_close(st);
	ck_assert_int_eq(store_open(&st, dbpath), 0);
	ck_assert_int_eq(store_schema_version(&bin, &db, st), 0);
	ck_assert_int_eq(db, 1);
	ck_assert_int_ge(bin, 2);
	ck_assert_int_eq(store_migrate(st, &applied), 0);
	ck_assert_int_eq(applied, bin - 1);
	ck_assert_int_eq(count_rows("SELECT count(*) FROM schema_migrations"),
	    bin);
	ck_assert_int_eq(count_rows("SELECT count(*) FROM runs "
	    "WHERE delivery_id = 'kept' AND cancel_requested_at IS NULL"), 1);
}
END_TEST

START_TEST(migrate_failure_rolls_back)
{
	int	applied = -1;

	/* 0002 cannot apply over a column that is there already. */
	exec_sql("DELETE FROM schema_migrations WHERE version >= 2");
	store_close(st);
	ck_assert_int_eq(store_open(&st, dbpath), 0);
	ck_assert_int_eq(store_migrate(st, &applied), ERR_FAIL);
	ck_assert_int_eq(applied, 0);
	ck_assert_ptr_nonnull(strstr(err_msg(), "migration 0002_cancel: "));
	ck_assert_int_eq(count_rows("SELECT count(*) FROM schema_migrations"),
	    1);
	/* No transaction left open: the connection still writes. */
	enqueue("acme/shop", "master", NULL);
}
END_TEST

START_TEST(cancel_queued_and_running)
{
	enum run_status	 status;
	struct run	*run;
	bool		 req = true;
	int64_t		 q, r;

	r = enqueue("acme/shop", "master", NULL);
	q = enqueue("acme/shop", "master", NULL);
	ck_assert_int_eq(claim(NULL), r);
	/* Queued: cancelled at once, never claimed. */
	ck_assert_int_eq(store_run_cancel(&status, st, q, "cancelled by api"),
	    0);
	ck_assert_int_eq(status, RUN_CANCELLED);
	ck_assert_int_eq(store_run_get(&run, st, q), 0);
	ck_assert_int_eq(run->status, RUN_CANCELLED);
	ck_assert_str_eq(run->reason, "cancelled by api");
	ck_assert_int_gt(run->finished_at, 0);
	run_free(run);
	ck_assert_int_eq(store_run_cancel_requested(&req, st, q), 0);
	ck_assert(!req);
	/* Running: marked for its worker, still running. */
	ck_assert_int_eq(store_run_cancel_requested(&req, st, r), 0);
	ck_assert(!req);
	ck_assert_int_eq(store_run_cancel(&status, st, r, NULL), 0);
	ck_assert_int_eq(status, RUN_RUNNING);
	ck_assert_int_eq(store_run_cancel(NULL, st, r, NULL), 0);
	ck_assert_int_eq(store_run_cancel_requested(&req, st, r), 0);
	ck_assert(req);
	ck_assert_int_eq(store_run_finish(st, r, RUN_CANCELLED, NULL), 0);
	ck_assert_int_eq(store_run_cancel(&status, st, r, NULL), ERR_INVALID);
	ck_assert_int_eq(store_run_cancel(&status, st, q + 9, NULL),
	    ERR_NOTFOUND);
	ck_assert_int_eq(store_run_cancel_requested(&req, st, q + 9),
	    ERR_NOTFOUND);
	ck_assert_int_eq(claim(NULL), 0);
}
END_TEST

START_TEST(runs_supersede)
{
	struct run	*run;
	int64_t		 running, old1, old2, other, newest;
	int		 n;

	running = enqueue("acme/shop", "master", NULL);
	ck_assert_int_eq(claim(NULL), running);
	old1 = enqueue("acme/shop", "master", NULL);
	other = enqueue("acme/shop", "feature", NULL);
	old2 = enqueue("acme/shop", "master", NULL);
	newest = enqueue("acme/shop", "master", NULL);
	ck_assert_int_eq(store_runs_supersede(&n, st, "acme/shop", "master",
	    newest), 0);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(store_run_get(&run, st, old1), 0);
	ck_assert_int_eq(run->status, RUN_CANCELLED);
	ck_assert_str_eq(run->reason, "superseded by run 5");
	ck_assert_int_gt(run->finished_at, 0);
	run_free(run);
	ck_assert_int_eq(store_run_get(&run, st, old2), 0);
	ck_assert_int_eq(run->status, RUN_CANCELLED);
	run_free(run);
	/* Another branch, a running run and the new run itself stay. */
	ck_assert_int_eq(store_run_get(&run, st, other), 0);
	ck_assert_int_eq(run->status, RUN_QUEUED);
	run_free(run);
	ck_assert_int_eq(store_run_get(&run, st, running), 0);
	ck_assert_int_eq(run->status, RUN_RUNNING);
	run_free(run);
	ck_assert_int_eq(store_run_get(&run, st, newest), 0);
	ck_assert_int_eq(run->status, RUN_QUEUED);
	run_free(run);
	ck_assert_int_eq(store_runs_supersede(&n, st, "acme/shop", "master",
	    newest), 0);
	ck_assert_int_eq(n, 0);
}
END_TEST

START_TEST(deploy_superseded)
{
	struct step	plan[2] = { { 0 } };
	int64_t		a, b, c, other, newer = -1;

	plan[0].name = "build";
	plan[1].name = "deploy";
	plan[1].deploy = true;
	a = enqueue("acme/shop", "master", NULL);
	b = enqueue("acme/shop", "master", NULL);
	other = enqueue("acme/blog", "main", NULL);
	c = enqueue("acme/shop", "master", NULL);
	ck_assert_int_eq(store_steps_plan(st, a, plan, 2), 0);
	ck_assert_int_eq(store_steps_plan(st, b, plan, 2), 0);
	ck_assert_int_eq(store_steps_plan(st, c, plan, 2), 0);
	ck_assert_int_eq(store_steps_plan(st, other, plan, 2), 0);
	ck_assert_int_eq(store_deploy_superseded(&newer, st, "acme/shop", a),
	    0);
	ck_assert_int_eq(newer, 0);
	/* Another repository's deploy and a non-deploy step do not count. */
	ck_assert_int_eq(store_step_update(st, other, "deploy",
	    STEP_SUCCEEDED, 0, NULL), 0);
	ck_assert_int_eq(store_step_update(st, c, "build", STEP_SUCCEEDED, 0,
	    NULL), 0);
	ck_assert_int_eq(store_step_update(st, b, "deploy", STEP_FAILED, 1,
	    NULL), 0);
	ck_assert_int_eq(store_deploy_superseded(&newer, st, "acme/shop", a),
	    0);
	ck_assert_int_eq(newer, 0);
	ck_assert_int_eq(store_step_update(st, b, "deploy", STEP_SUCCEEDED, 0,
	    NULL), 0);
	ck_assert_int_eq(store_step_update(st, c, "deploy", STEP_SUCCEEDED, 0,
	    NULL), 0);
	ck_assert_int_eq(store_deploy_superseded(&newer, st, "acme/shop", a),
	    0);
	ck_assert_int_eq(newer, c);
	ck_assert_int_eq(store_deploy_superseded(&newer, st, "acme/shop", c),
	    0);
	ck_assert_int_eq(newer, 0);
}
END_TEST

START_TEST(source_token)
{
	char	*tok = (char *)1;
	int64_t	 id = enqueue("acme/shop", "master", NULL);

	ck_assert_int_eq(store_run_token(&tok, st, id), ERR_NOTFOUND);
	ck_assert_ptr_null(tok);
	ck_assert_int_eq(store_run_token_set(st, id, "s3cr3t"), 0);
	ck_assert_int_eq(store_run_token(&tok, st, id), 0);
	ck_assert_str_eq(tok, "s3cr3t");
	free_secret(tok);
	ck_assert_int_eq(store_run_token_set(st, id + 1, "x"), ERR_NOTFOUND);
	ck_assert_int_eq(store_run_token(&tok, st, id + 1), ERR_NOTFOUND);
}
END_TEST

#define THREAD_RUNS	300

struct enq_thread {
	const char	*tag;
	int64_t		 ids[THREAD_RUNS];
	int		 errors;	/* other than ERR_BUSY */
	int		 busy;
	int		 thread_get;	/* use store_thread_get */
};

static void *
enq_main(void *arg)
{
	struct enq_thread	*t = arg;
	struct store		*s, *again;
	struct run		 r;
	char			 d[64];
	int			 i, rc;

	if (t->thread_get) {
		if (store_thread_get(&s, dbpath) != 0 ||
		    store_thread_get(&again, dbpath) != 0 || s != again) {
			t->errors++;
			return NULL;
		}
	} else if (store_open(&s, dbpath) != 0) {
		t->errors++;
		return NULL;
	}
	for (i = 0; i < THREAD_RUNS; i++) {
		snprintf(d, sizeof(d), "%s-%d", t->tag, i);
		r = push("acme/shop", "master", d);
		while ((rc = store_run_enqueue(&t->ids[i], s, &r)) == ERR_BUSY)
			t->busy++;
		if (rc != 0)
			t->errors++;
	}
	/* thread_get: the key's destructor closes it at thread exit. */
	if (!t->thread_get)
		store_close(s);
	return NULL;
}

START_TEST(concurrent_enqueue_threads)
{
	struct enq_thread	t[2] = { { 0 } };
	pthread_t		th[2];
	int			i, j;

	t[0].tag = "a";
	t[1].tag = "b";
	t[1].thread_get = 1;
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, enq_main, &t[i]),
		    0);
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(t[i].errors, 0);
		for (j = 0; j < THREAD_RUNS; j++)
			ck_assert_int_gt(t[i].ids[j], 0);
	}
	ck_assert_int_eq(count_rows("SELECT count(*) FROM runs"),
	    2 * THREAD_RUNS);
	ck_assert_int_eq(count_rows("SELECT count(DISTINCT id) FROM runs"),
	    2 * THREAD_RUNS);
	ck_assert_int_eq(count_rows("SELECT count(*) FROM deliveries d "
	    "JOIN runs r ON r.id = d.run_id AND r.delivery_id = "
	    "d.delivery_id"), 2 * THREAD_RUNS);
}
END_TEST

/* Group commit: threads enqueueing through one store_group at once. */
#define GROUP_THREADS	8
#define GROUP_RUNS	40

struct group_seen {
	pthread_mutex_t	 mtx;
	int64_t		 ids[GROUP_THREADS * GROUP_RUNS];
	size_t		 n;
	size_t		 calls;
	size_t		 largest;
};

struct group_thread {
	struct store_group	*g;
	int			 tag;
	int64_t			 ids[GROUP_RUNS];
	int			 rcs[GROUP_RUNS];
	char			 msgs[GROUP_RUNS][128];
};

static struct group_seen	group_seen = {
	.mtx = PTHREAD_MUTEX_INITIALIZER
};

static void
group_cb(void *arg, const int64_t *ids, size_t n)
{
	struct group_seen	*gs = arg;
	size_t			 i;

	pthread_mutex_lock(&gs->mtx);
	for (i = 0; i < n && gs->n < GROUP_THREADS * GROUP_RUNS; i++)
		gs->ids[gs->n++] = ids[i];
	gs->calls++;
	if (n > gs->largest)
		gs->largest = n;
	pthread_mutex_unlock(&gs->mtx);
}

/*
 * Run i of a thread: every 10th names an unknown repository, every
 * 7th redelivers the thread's delivery i - 1 (which succeeded unless
 * it was one of the unknown ones).
 */
static void *
group_main(void *arg)
{
	struct group_thread	*t = arg;
	struct run		 r;
	char			 d[64];
	int			 i;

	for (i = 0; i < GROUP_RUNS; i++) {
		if (i % 7 == 6)
			snprintf(d, sizeof(d), "g%d-%d", t->tag, i - 1);
		else
			snprintf(d, sizeof(d), "g%d-%d", t->tag, i);
		r = push(i % 10 == 9 ? "acme/none" : "acme/shop", "master", d);
		t->rcs[i] = store_group_enqueue(&t->ids[i], t->g, &r);
		snprintf(t->msgs[i], sizeof(t->msgs[i]), "%s", err_msg());
	}
	return NULL;
}

START_TEST(group_enqueue_threads)
{
	static struct group_thread	t[GROUP_THREADS];
	struct store_group		*g;
	pthread_t			 th[GROUP_THREADS];
	int				 i, j, ok = 0, k;
	size_t				 m;

	memset(t, 0, sizeof(t));
	g = store_group_new(dbpath, group_cb, &group_seen);
	for (i = 0; i < GROUP_THREADS; i++) {
		t[i].g = g;
		t[i].tag = i;
		ck_assert_int_eq(pthread_create(&th[i], NULL, group_main,
		    &t[i]), 0);
	}
	for (i = 0; i < GROUP_THREADS; i++)
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
	store_group_free(g);

	for (i = 0; i < GROUP_THREADS; i++) {
		for (j = 0; j < GROUP_RUNS; j++) {
			if (j % 10 == 9) {
				ck_assert_int_eq(t[i].rcs[j], ERR_NOTFOUND);
				ck_assert_int_eq(t[i].ids[j], 0);
				ck_assert_ptr_nonnull(strstr(t[i].msgs[j],
				    "acme/none"));
			} else if (j % 7 == 6 && (j - 1) % 10 != 9) {
				/* The earlier delivery's run, not a new one. */
				ck_assert_int_eq(t[i].rcs[j], ERR_EXISTS);
				ck_assert_int_eq(t[i].ids[j], t[i].ids[j - 1]);
			} else {
				ck_assert_msg(t[i].rcs[j] == 0, "%d/%d: %s",
				    i, j, t[i].msgs[j]);
				ck_assert_int_gt(t[i].ids[j], 0);
				ok++;
				/* Reported to the callback exactly once. */
				for (k = 0, m = 0; m < group_seen.n; m++)
					if (group_seen.ids[m] == t[i].ids[j])
						k++;
				ck_assert_int_eq(k, 1);
			}
		}
	}
	ck_assert_int_eq((int)group_seen.n, ok);
	ck_assert_int_le((int)group_seen.calls, ok);
	ck_assert_int_eq(count_rows("SELECT count(*) FROM runs"), ok);
	ck_assert_int_eq(count_rows("SELECT count(*) FROM deliveries"), ok);
	fprintf(stderr, "# group commit: %d runs in %zu commits, largest "
	    "%zu\n", ok, group_seen.calls, group_seen.largest);
}
END_TEST

/*
 * A connection of an exited thread is reused by the next thread, now
 * owned by it (the owner check would abort otherwise).
 */
static void *
pool_main(void *arg)
{
	struct store	**out = arg;

	if (store_thread_get(out, dbpath) != 0 || store_ping(*out) != 0)
		*out = NULL;
	return NULL;
}

START_TEST(thread_connection_reused)
{
	struct store	*a = NULL, *b = NULL;
	pthread_t	 th;

	ck_assert_int_eq(pthread_create(&th, NULL, pool_main, &a), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(pthread_create(&th, NULL, pool_main, &b), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_ptr_eq(a, b);
	store_pool_drain();
}
END_TEST

START_TEST(thread_get_per_thread)
{
	struct store	*a, *b;

	ck_assert_int_eq(store_thread_get(&a, dbpath), 0);
	ck_assert_int_eq(store_thread_get(&b, dbpath), 0);
	ck_assert_ptr_eq(a, b);
	ck_assert_ptr_ne(a, st);
	ck_assert_int_eq(store_ping(a), 0);
	store_thread_close();
	store_thread_close();
	ck_assert_int_eq(store_thread_get(&b, dbpath), 0);
	ck_assert_int_eq(store_ping(b), 0);
	store_thread_close();
}
END_TEST

static void *
foreign_main(void *arg)
{
	/* Not the owner: must abort the process. */
	store_ping(arg);
	return NULL;
}

START_TEST(owner_thread_asserted)
{
	struct store	*m;
	pthread_t	 th;

	/* In memory: the abort leaves no file behind. */
	ck_assert_int_eq(store_open(&m, ":memory:"), 0);
	ck_assert_int_eq(pthread_create(&th, NULL, foreign_main, m), 0);
	pthread_join(th, NULL);
	store_close(m);
}
END_TEST

/*
 * A child process opens its own connection, enqueues and dies without
 * closing it (how = 0: _exit; how = 1: SIGKILL from the parent once the
 * id is reported). The parent must then see the committed run.
 */
static void
crash_child(int how)
{
	struct run	*run;
	int64_t		 id = 0;
	pid_t		 pid;
	int		 fds[2], status;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct store	*c;
		struct run	 r = push("acme/shop", "master", "crash-1");

		close(fds[0]);
		if (store_open(&c, dbpath) != 0 ||
		    store_run_enqueue(&id, c, &r) != 0)
			_exit(3);
		if (write(fds[1], &id, sizeof(id)) != sizeof(id))
			_exit(4);
		if (how == 0)
			_exit(0);
		for (;;)
			pause();
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], &id, sizeof(id)), sizeof(id));
	close(fds[0]);
	if (how == 1)
		ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	if (how == 0)
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	else
		ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	ck_assert_int_gt(id, 0);
	/* Both the fixture's open connection and a new one see it. */
	ck_assert_int_eq(store_run_get(&run, st, id), 0);
	ck_assert_str_eq(run->delivery_id, "crash-1");
	run_free(run);
	store_close(st);
	ck_assert_int_eq(store_open(&st, dbpath), 0);
	ck_assert_int_eq(store_run_get(&run, st, id), 0);
	ck_assert_int_eq(run->status, RUN_QUEUED);
	run_free(run);
	ck_assert_int_eq(count_rows("SELECT count(*) FROM deliveries"), 1);
}

START_TEST(enqueue_survives_exit)
{
	crash_child(0);
}
END_TEST

START_TEST(enqueue_survives_kill)
{
	crash_child(1);
}
END_TEST

Suite *
test_suite(void)
{
	Suite	*s = suite_create("store");
	TCase	*tc;

	tc = tcase_create("status_names");
	tcase_add_test(tc, status_names);
	suite_add_tcase(s, tc);

#define FIXTURE_TCASE(name) do {					\
	tc = tcase_create(#name);					\
	tcase_add_checked_fixture(tc, setup, teardown);			\
	tcase_add_test(tc, name);					\
	suite_add_tcase(s, tc);						\
} while (0)

	FIXTURE_TCASE(migrate_twice_is_noop);
	FIXTURE_TCASE(migrate_refuses_newer);
	FIXTURE_TCASE(open_fails_cleanly);
	FIXTURE_TCASE(ping);
	FIXTURE_TCASE(enqueue_get_round_trip);
	FIXTURE_TCASE(enqueue_duplicate_delivery);
	FIXTURE_TCASE(enqueue_delivery_per_provider);
	FIXTURE_TCASE(enqueue_unknown_repo);
	FIXTURE_TCASE(enqueue_provider_mismatch);
	FIXTURE_TCASE(repo_ensure_upserts);
	FIXTURE_TCASE(list_filters_and_paging);
	FIXTURE_TCASE(list_limit_and_exact_pages);
	FIXTURE_TCASE(repo_list_latest_production_run);
	FIXTURE_TCASE(steps_plan_and_get);
	FIXTURE_TCASE(step_update_times);
	FIXTURE_TCASE(run_finish);
	FIXTURE_TCASE(claim_arrival_order_and_concurrency);
	FIXTURE_TCASE(claim_failing_repo_first);
	FIXTURE_TCASE(recovery_requeue);
	FIXTURE_TCASE(migrate_applies_missing_only);
	FIXTURE_TCASE(migrate_failure_rolls_back);
	FIXTURE_TCASE(cancel_queued_and_running);
	FIXTURE_TCASE(runs_supersede);
	FIXTURE_TCASE(deploy_superseded);
	FIXTURE_TCASE(source_token);
	FIXTURE_TCASE(concurrent_enqueue_threads);
	FIXTURE_TCASE(thread_get_per_thread);
	FIXTURE_TCASE(group_enqueue_threads);
	FIXTURE_TCASE(thread_connection_reused);
	FIXTURE_TCASE(enqueue_survives_exit);
	FIXTURE_TCASE(enqueue_survives_kill);

	tc = tcase_create("migrate_fresh_memory");
	tcase_add_test(tc, migrate_fresh_memory);
	suite_add_tcase(s, tc);

	tc = tcase_create("owner_thread_asserted");
	tcase_add_test_raise_signal(tc, owner_thread_asserted, SIGABRT);
	suite_add_tcase(s, tc);
	return s;
}

/*
 * store.c - ferry's SQLite database: the runs table is the queue.
 *
 * DESIGN
 * A struct store is one connection (SQLITE_OPEN_NOMUTEX) used only by
 * the thread that opened it; every entry point asserts so. Each query is
 * a static const char SQL_...[] beside the one function that runs it.
 * Statements are prepared once per connection, on first use, into a
 * small cache keyed by the address of their SQL text (the pointer is the
 * identity: no hashing, no string compares), and reset and unbound after
 * every use so none holds a read snapshot between calls.
 *
 * Every read-then-write (enqueue with its delivery dedupe, claim, step
 * planning, requeue) is one BEGIN IMMEDIATE transaction inside one
 * function: the write lock is taken up front, so two connections never
 * both read "not there" and then both insert, and a WAL reader is never
 * upgraded into SQLITE_BUSY_SNAPSHOT. busy_timeout makes a locked
 * database wait; past it, SQLITE_BUSY becomes ERR_BUSY.
 *
 * With journal_mode=WAL and synchronous=NORMAL a COMMIT appends to the
 * WAL without fsync: it survives the process being killed (the WAL is
 * in the OS), not the machine losing power before a checkpoint. That is
 * the usual trade for a webhook receiver doing thousands of commits a
 * second.
 */
#include "store.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#define LOG_MODULE "store"
#include "err.h"
#include "log.h"
#include "store_int.h"
#include "util.h"

#define STORE_BUSY_SQL		"PRAGMA busy_timeout = 5000"
#define STORE_NSTMT		128	/* > the SQL_ texts of store.c and outbox.c (53) */
#define STORE_OPEN_FLAGS	(SQLITE_OPEN_READWRITE | \
				 SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX)

struct store_stmt {
	const char	*sql;		/* the key: a SQL_ array's address */
	sqlite3_stmt	*stmt;
};

struct store {
	sqlite3			*db;
	pthread_t		 owner;
	bool			 writing;	/* holds store_write_mtx */
	char			*path;
	struct store_stmt	 stmts[STORE_NSTMT];
	size_t			 nstmts;
};

#define STORE_OWNED(st)	do {						\
	ASSERT((st) != NULL);						\
	ASSERT(pthread_equal((st)->owner, pthread_self()));		\
} while (0)

/* For the store's other files (outbox.c), which cannot see the struct. */
void
store_owned(struct store *st)
{
	STORE_OWNED(st);
}

void
store_adopt(struct store *st)
{
	ASSERT(st != NULL && sqlite3_get_autocommit(st->db));
	st->owner = pthread_self();
}

/*
 * Status names, as stored in the status columns (whose CHECKs list the
 * same words) and shown by the API.
 */
static const char *const run_status_names[] = {
	[RUN_QUEUED] = "queued",
	[RUN_RUNNING] = "running",
	[RUN_SUCCEEDED] = "succeeded",
	[RUN_FAILED] = "failed",
	[RUN_CANCELLED] = "cancelled",
	[RUN_ERROR] = "error",
};

static const char *const step_status_names[] = {
	[STEP_PENDING] = "pending",
	[STEP_RUNNING] = "running",
	[STEP_SUCCEEDED] = "succeeded",
	[STEP_FAILED] = "failed",
	[STEP_SKIPPED] = "skipped",
	[STEP_CANCELLED] = "cancelled",
	[STEP_ERROR] = "error",
};

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

const char *
run_status_name(enum run_status s)
{
	ASSERT((size_t)s < NITEMS(run_status_names));
	return run_status_names[s];
}

int
run_status_parse(const char *s)
{
	size_t	i;

	if (s == NULL)
		return -1;
	for (i = 0; i < NITEMS(run_status_names); i++)
		if (strcmp(s, run_status_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *
step_status_name(enum step_status s)
{
	ASSERT((size_t)s < NITEMS(step_status_names));
	return step_status_names[s];
}

int
step_status_parse(const char *s)
{
	size_t	i;

	if (s == NULL)
		return -1;
	for (i = 0; i < NITEMS(step_status_names); i++)
		if (strcmp(s, step_status_names[i]) == 0)
			return (int)i;
	return -1;
}

bool
run_status_final(enum run_status s)
{
	switch (s) {
	case RUN_QUEUED:
	case RUN_RUNNING:
		return false;
	case RUN_SUCCEEDED:
	case RUN_FAILED:
	case RUN_CANCELLED:
	case RUN_ERROR:
		return true;
	}
	ASSERT(!"bad run status");
	return false;
}

bool
step_status_final(enum step_status s)
{
	switch (s) {
	case STEP_PENDING:
	case STEP_RUNNING:
		return false;
	case STEP_SUCCEEDED:
	case STEP_FAILED:
	case STEP_SKIPPED:
	case STEP_CANCELLED:
	case STEP_ERROR:
		return true;
	}
	ASSERT(!"bad step status");
	return false;
}

static void
step_dispose(struct step *s)
{
	free(s->name);
	free(s->reason);
	free(s->needs);
}

void
run_free(struct run *run)
{
	size_t	i;

	if (run == NULL)
		return;
	free(run->repo);
	free(run->provider);
	free(run->branch);
	free(run->commit);
	free(run->message);
	free(run->author);
	free(run->pusher);
	free(run->compare_url);
	free(run->delivery_id);
	free(run->trigger);
	free(run->reason);
	for (i = 0; i < run->nsteps; i++)
		step_dispose(&run->steps[i]);
	free(run->steps);
	free(run);
}

void
run_list_dispose(struct run_list *l)
{
	size_t	i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		run_free(l->runs[i]);
	free(l->runs);
	l->runs = NULL;
	l->n = 0;
	l->next = 0;
}

void
repo_summaries_free(struct repo_summary *v, size_t n)
{
	size_t	i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].provider);
		free(v[i].branch);
		run_free(v[i].last);
	}
	free(v);
}

/*
 * SQLite's result code rc (extended codes are on) as an enum err, with
 * the connection's message. Call before resetting the statement.
 */
int
store_err(struct store *st, int rc)
{
	const char	*msg = sqlite3_errmsg(st->db);

	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return err_set(ERR_BUSY, "database is busy: %s", msg);
	case SQLITE_CONSTRAINT:
		if (rc == SQLITE_CONSTRAINT_UNIQUE ||
		    rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			return err_set(ERR_EXISTS, "database: %s", msg);
		break;
	}
	return err_set(ERR_FAIL, "database: %s", msg);
}

/* The connection's statement for sql, prepared on first use. */
int
stmt_get(sqlite3_stmt **out, struct store *st, const char *sql)
{
	sqlite3_stmt	*s;
	size_t		 i;
	int		 rc;

	*out = NULL;
	for (i = 0; i < st->nstmts; i++) {
		if (st->stmts[i].sql == sql) {
			*out = st->stmts[i].stmt;
			return 0;
		}
	}
	ASSERT(st->nstmts < STORE_NSTMT);
	rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
	    &s, NULL);
	if (rc != SQLITE_OK)
		return store_err(st, rc);
	st->stmts[st->nstmts].sql = sql;
	st->stmts[st->nstmts].stmt = s;
	st->nstmts++;
	*out = s;
	return 0;
}

/* Ready for the next use: no snapshot held, no value kept. */
void
stmt_done(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

/*
 * Binding fails only on a wrong index or a value over SQLite's 1 GB
 * limit, neither of which ferry's bounded inputs can reach: bugs.
 */
void
bind_text(sqlite3_stmt *s, int i, const char *v)
{
	int	rc;

	if (v == NULL)
		rc = sqlite3_bind_null(s, i);
	else
		rc = sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
	ASSERT(rc == SQLITE_OK);
}

void
bind_int64(sqlite3_stmt *s, int i, int64_t v)
{
	ASSERT(sqlite3_bind_int64(s, i, v) == SQLITE_OK);
}

char *
col_strdup(sqlite3_stmt *s, int i)
{
	const unsigned char	*v = sqlite3_column_text(s, i);

	return v == NULL ? NULL : xstrdup((const char *)v);
}

/* NULL (not yet) reads as 0. */
int64_t
col_time(sqlite3_stmt *s, int i)
{
	return sqlite3_column_type(s, i) == SQLITE_NULL ? 0 :
	    sqlite3_column_int64(s, i);
}

/* Runs a statement that returns no row, then resets it. */
int
stmt_exec(struct store *st, sqlite3_stmt *s)
{
	int	rc;

	rc = sqlite3_step(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		rc = store_err(st, rc);
		stmt_done(s);
		return rc;
	}
	stmt_done(s);
	return 0;
}

/*
 * The process's write transactions take turns on a mutex before BEGIN
 * IMMEDIATE. SQLite's own wait for its write lock (busy_timeout) polls
 * with sleeps of 1 to 100 ms; with dozens of HTTP threads and the
 * workers writing at once those sleeps, not the work, set the latency.
 * Waiting on a mutex, the next writer starts as soon as the last one
 * ended. busy_timeout still covers other processes (ferry migrate, a
 * sqlite3 shell).
 */
static pthread_mutex_t	store_write_mtx = PTHREAD_MUTEX_INITIALIZER;

static void
write_release(struct store *st)
{
	if (!st->writing)
		return;
	st->writing = false;
	pthread_mutex_unlock(&store_write_mtx);
}

/*
 * Runs s (bound) for its first row's first column: *out, and *found_out
 * (may be NULL) true; no row: 0 and false. Resets s.
 */
int
stmt_int64(int64_t *out, bool *found_out, struct store *st, sqlite3_stmt *s)
{
	int	rc;

	*out = 0;
	if (found_out != NULL)
		*found_out = false;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(s, 0);
		if (found_out != NULL)
			*found_out = true;
	} else if (rc != SQLITE_DONE) {
		rc = store_err(st, rc);
		stmt_done(s);
		return rc;
	}
	stmt_done(s);
	return 0;
}

static const char SQL_BEGIN[] = "BEGIN IMMEDIATE";

int
tx_begin(struct store *st)
{
	sqlite3_stmt	*s;
	int		 rc;

	ASSERT(!st->writing);
	if ((rc = stmt_get(&s, st, SQL_BEGIN)) != 0)
		return rc;
	pthread_mutex_lock(&store_write_mtx);
	st->writing = true;
	if ((rc = stmt_exec(st, s)) != 0)
		write_release(st);
	return rc;
}

static const char SQL_COMMIT[] = "COMMIT";

/* On failure the transaction stays open: the caller rolls back. */
int
tx_commit(struct store *st)
{
	sqlite3_stmt	*s;
	int		 rc;

	if ((rc = stmt_get(&s, st, SQL_COMMIT)) != 0)
		return rc;
	if ((rc = stmt_exec(st, s)) != 0)
		return rc;
	write_release(st);
	return 0;
}

static const char SQL_ROLLBACK[] = "ROLLBACK";

/*
 * Ends the open transaction, if SQLite has not already done so (it rolls
 * back by itself on some errors). Keeps the thread's error message: the
 * statement was prepared by store_open, so looking it up cannot fail.
 */
void
tx_rollback(struct store *st)
{
	sqlite3_stmt	*s;
	int		 rc;

	if (!sqlite3_get_autocommit(st->db)) {
		ASSERT(stmt_get(&s, st, SQL_ROLLBACK) == 0);
		if ((rc = sqlite3_step(s)) != SQLITE_DONE)
			log_warnx("rollback: %s", sqlite3_errmsg(st->db));
		stmt_done(s);
	}
	write_release(st);
}

/* The opening thread's pragmas; journal_mode last, as it reads back. */
static const char SQL_PRAGMAS[] =
    STORE_BUSY_SQL ";"
    "PRAGMA foreign_keys = ON;"
    "PRAGMA synchronous = NORMAL;";
static const char SQL_WAL[] = "PRAGMA journal_mode = WAL";

static int
store_configure(struct store *st)
{
	sqlite3_stmt	*s = NULL;
	const char	*mode, *file;
	int		 rc;

	sqlite3_extended_result_codes(st->db, 1);
	rc = sqlite3_exec(st->db, SQL_PRAGMAS, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return store_err(st, rc);
	rc = sqlite3_prepare_v2(st->db, SQL_WAL, -1, &s, NULL);
	if (rc != SQLITE_OK)
		return store_err(st, rc);
	if ((rc = sqlite3_step(s)) != SQLITE_ROW) {
		rc = store_err(st, rc);
		sqlite3_finalize(s);
		return rc;
	}
	mode = (const char *)sqlite3_column_text(s, 0);
	file = sqlite3_db_filename(st->db, "main");
	/* An in-memory database (tests) answers "memory": no WAL there. */
	if ((mode == NULL || strcmp(mode, "wal") != 0) &&
	    file != NULL && *file != '\0') {
		rc = err_set(ERR_FAIL, "database %s: cannot use WAL mode "
		    "(journal_mode is %s)", st->path, mode ? mode : "unknown");
		sqlite3_finalize(s);
		return rc;
	}
	sqlite3_finalize(s);
	return 0;
}

int
store_open(struct store **out, const char *path)
{
	struct store	*st;
	sqlite3_stmt	*s;
	int		 rc;

	ASSERT(path != NULL);
	*out = NULL;
	st = xcalloc(1, sizeof(*st));
	st->owner = pthread_self();
	st->path = xstrdup(path);
	rc = sqlite3_open_v2(path, &st->db, STORE_OPEN_FLAGS, NULL);
	if (rc != SQLITE_OK) {
		rc = err_set(ERR_FAIL, "cannot open database %s: %s", path,
		    st->db != NULL ? sqlite3_errmsg(st->db) :
		    sqlite3_errstr(rc));
		store_close(st);
		return rc;
	}
	if ((rc = store_configure(st)) != 0 ||
	    (rc = stmt_get(&s, st, SQL_BEGIN)) != 0 ||
	    (rc = stmt_get(&s, st, SQL_COMMIT)) != 0 ||
	    (rc = stmt_get(&s, st, SQL_ROLLBACK)) != 0) {
		store_close(st);
		return rc;
	}
	*out = st;
	return 0;
}

void
store_close(struct store *st)
{
	size_t	i;

	if (st == NULL)
		return;
	STORE_OWNED(st);
	for (i = 0; i < st->nstmts; i++)
		sqlite3_finalize(st->stmts[i].stmt);
	if (st->db != NULL && sqlite3_close(st->db) != SQLITE_OK)
		log_warnx("closing %s: %s", st->path, sqlite3_errmsg(st->db));
	free(st->path);
	free(st);
}

/*
 * One connection per thread under a key. When the thread exits, its
 * connection goes back to a small pool (or is closed when the pool is
 * full) and the next thread that needs one takes it over: an HTTP
 * server that runs a thread per client connection would otherwise open
 * and close a database connection (and prepare its statements again)
 * for every client. A connection is only ever used by one thread at a
 * time (SQLITE_OPEN_NOMUTEX allows that), and the owner moves with it.
 */
#define STORE_POOL_MAX	64

static pthread_once_t	store_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t	store_key;
static pthread_mutex_t	store_pool_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct store	*store_pool[STORE_POOL_MAX];
static size_t		 store_npool;

/* Gives st (idle, owned by this thread) to the pool, or closes it. */
static void
store_pool_put(struct store *st)
{
	STORE_OWNED(st);
	if (sqlite3_get_autocommit(st->db)) {
		pthread_mutex_lock(&store_pool_mtx);
		if (store_npool < STORE_POOL_MAX) {
			store_pool[store_npool++] = st;
			st = NULL;
		}
		pthread_mutex_unlock(&store_pool_mtx);
	}
	store_close(st);
}

/* A pooled connection to path, now owned by this thread; or NULL. */
static struct store *
store_pool_take(const char *path)
{
	struct store	*st = NULL;
	size_t		 i;

	pthread_mutex_lock(&store_pool_mtx);
	for (i = store_npool; i-- > 0;) {
		if (strcmp(store_pool[i]->path, path) != 0)
			continue;
		st = store_pool[i];
		store_pool[i] = store_pool[--store_npool];
		break;
	}
	pthread_mutex_unlock(&store_pool_mtx);
	if (st != NULL)
		st->owner = pthread_self();
	return st;
}

void
store_pool_drain(void)
{
	struct store	*st;

	for (;;) {
		pthread_mutex_lock(&store_pool_mtx);
		st = store_npool > 0 ? store_pool[--store_npool] : NULL;
		pthread_mutex_unlock(&store_pool_mtx);
		if (st == NULL)
			return;
		st->owner = pthread_self();
		store_close(st);
	}
}

static void
store_key_destroy(void *p)
{
	store_pool_put(p);
}

static void
store_key_init(void)
{
	ASSERT(pthread_key_create(&store_key, store_key_destroy) == 0);
}

int
store_thread_get(struct store **out, const char *path)
{
	struct store	*st;
	int		 rc;

	ASSERT(path != NULL);
	*out = NULL;
	ASSERT(pthread_once(&store_key_once, store_key_init) == 0);
	if ((st = pthread_getspecific(store_key)) != NULL) {
		/* One database per process. */
		ASSERT(strcmp(st->path, path) == 0);
		*out = st;
		return 0;
	}
	if ((st = store_pool_take(path)) == NULL &&
	    (rc = store_open(&st, path)) != 0)
		return rc;
	ASSERT(pthread_setspecific(store_key, st) == 0);
	*out = st;
	return 0;
}

void
store_thread_close(void)
{
	struct store	*st;

	ASSERT(pthread_once(&store_key_once, store_key_init) == 0);
	if ((st = pthread_getspecific(store_key)) == NULL)
		return;
	ASSERT(pthread_setspecific(store_key, NULL) == 0);
	store_close(st);
}

static const char SQL_PING[] = "SELECT 1";

int
store_ping(struct store *st)
{
	sqlite3_stmt	*s;
	int		 rc;

	STORE_OWNED(st);
	if ((rc = stmt_get(&s, st, SQL_PING)) != 0)
		return rc;
	if ((rc = sqlite3_step(s)) != SQLITE_ROW) {
		rc = store_err(st, rc);
		stmt_done(s);
		return rc;
	}
	stmt_done(s);
	return 0;
}

/* Migrations. */

static int
binary_version(void)
{
	ASSERT(store_nmigrations > 0);
	return store_migrations[store_nmigrations - 1].number;
}

static const char SQL_MIGRATIONS_TABLE[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " applied_at INTEGER NOT NULL)";

static int
migrations_table(struct store *st)
{
	sqlite3_stmt	*s;
	int		 rc;

	if ((rc = stmt_get(&s, st, SQL_MIGRATIONS_TABLE)) != 0)
		return rc;
	return stmt_exec(st, s);
}

static const char SQL_HAS_MIGRATIONS[] =
    "SELECT count(*) FROM sqlite_master"
    " WHERE type = 'table' AND name = 'schema_migrations'";
static const char SQL_DB_VERSION[] =
    "SELECT coalesce(max(version), 0) FROM schema_migrations";

/* The highest migration recorded; 0 for a database never migrated. */
static int
db_version(int *out, struct store *st)
{
	sqlite3_stmt	*s;
	int64_t		 v;
	int		 rc;

	*out = 0;
	if ((rc = stmt_get(&s, st, SQL_HAS_MIGRATIONS)) != 0 ||
	    (rc = stmt_int64(&v, NULL, st, s)) != 0 || v == 0)
		return rc;
	if ((rc = stmt_get(&s, st, SQL_DB_VERSION)) != 0 ||
	    (rc = stmt_int64(&v, NULL, st, s)) != 0)
		return rc;
	*out = (int)v;
	return 0;
}

static const char SQL_MIGRATION_RECORD[] =
    "INSERT INTO schema_migrations (version, name, applied_at)"
    " VALUES (?, ?, ?)";

/*
 * Applies m in its own transaction, unless another process did it first
 * (the version is read again under the write lock). *applied_out: 1 if
 * this call applied it.
 */
static int
migration_apply(int *applied_out, struct store *st,
    const struct store_migration *m)
{
	sqlite3_stmt	*s;
	char		*msg = NULL;
	int		 rc, have;

	*applied_out = 0;
	if ((rc = tx_begin(st)) != 0)
		return rc;
	if ((rc = db_version(&have, st)) != 0)
		goto fail;
	if (have >= m->number) {
		if ((rc = tx_commit(st)) != 0)
			goto fail;
		return 0;
	}
	rc = sqlite3_exec(st->db, m->sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		rc = err_set(ERR_FAIL, "migration %04d_%s: %s", m->number,
		    m->name, msg != NULL ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		goto fail;
	}
	if ((rc = stmt_get(&s, st, SQL_MIGRATION_RECORD)) != 0)
		goto fail;
	bind_int64(s, 1, m->number);
	bind_text(s, 2, m->name);
	bind_int64(s, 3, time_now_ms());
	if ((rc = stmt_exec(st, s)) != 0)
		goto fail;
	if ((rc = tx_commit(st)) != 0)
		goto fail;
	*applied_out = 1;
	log_info("migration %04d_%s applied", m->number, m->name);
	return 0;
fail:
	tx_rollback(st);
	return rc;
}

int
store_migrate(struct store *st, int *applied_out)
{
	size_t	i;
	int	rc, have, one, applied = 0;

	STORE_OWNED(st);
	if (applied_out != NULL)
		*applied_out = 0;
	if ((rc = tx_begin(st)) != 0)
		return rc;
	if ((rc = migrations_table(st)) != 0 ||
	    (rc = db_version(&have, st)) != 0 ||
	    (rc = tx_commit(st)) != 0) {
		tx_rollback(st);
		return rc;
	}
	if (have > binary_version())
		return err_set(ERR_INVALID, "database schema version %d is "
		    "newer than this ferry (%d)", have, binary_version());
	for (i = 0; i < store_nmigrations; i++) {
		if (store_migrations[i].number <= have)
			continue;
		if ((rc = migration_apply(&one, st, &store_migrations[i])) != 0)
			break;
		applied += one;
	}
	if (applied_out != NULL)
		*applied_out = applied;
	return rc;
}

int
store_schema_version(int *binary_out, int *db_out, struct store *st)
{
	STORE_OWNED(st);
	*binary_out = binary_version();
	return db_version(db_out, st);
}

/* Repositories. */

static const char SQL_REPO_ENSURE[] =
    "INSERT INTO repos (name, provider, branch, created_at)"
    " VALUES (?1, ?2, ?3, ?4)"
    " ON CONFLICT (name) DO UPDATE"
    " SET provider = excluded.provider, branch = excluded.branch";

int
store_repo_ensure(struct store *st, const char *name, const char *provider,
    const char *branch)
{
	sqlite3_stmt	*s;
	int		 rc;

	STORE_OWNED(st);
	ASSERT(name != NULL && provider != NULL && branch != NULL);
	if ((rc = stmt_get(&s, st, SQL_REPO_ENSURE)) != 0)
		return rc;
	bind_text(s, 1, name);
	bind_text(s, 2, provider);
	bind_text(s, 3, branch);
	bind_int64(s, 4, time_now_ms());
	return stmt_exec(st, s);
}

/* Reading runs and steps. */

/*
 * The columns run_read() expects, runs first: CROSS JOIN keeps runs the
 * outer loop, so the keyset pages walk a runs index backwards and stop
 * after LIMIT rows instead of visiting repos first.
 */
#define RUN_SELECT							\
	"SELECT r.id, p.name, p.provider, r.branch, r.commit_sha,"	\
	" r.message, r.author, r.pusher, r.compare_url, r.delivery_id,"	\
	" r.\"trigger\", r.status, r.reason, r.attempts, r.created_at,"	\
	" r.started_at, r.finished_at"					\
	" FROM runs r CROSS JOIN repos p ON p.id = r.repo_id "

/* A run from the current row of a RUN_SELECT statement (no steps). */
static struct run *
run_read(sqlite3_stmt *s)
{
	struct run	*run = xcalloc(1, sizeof(*run));
	int		 status;

	run->id = sqlite3_column_int64(s, 0);
	run->repo = col_strdup(s, 1);
	run->provider = col_strdup(s, 2);
	run->branch = col_strdup(s, 3);
	run->commit = col_strdup(s, 4);
	run->message = col_strdup(s, 5);
	run->author = col_strdup(s, 6);
	run->pusher = col_strdup(s, 7);
	run->compare_url = col_strdup(s, 8);
	run->delivery_id = col_strdup(s, 9);
	run->trigger = col_strdup(s, 10);
	/* The status column's CHECK admits only the names. */
	status = run_status_parse((const char *)sqlite3_column_text(s, 11));
	ASSERT(status >= 0);
	run->status = (enum run_status)status;
	run->reason = col_strdup(s, 12);
	run->attempts = sqlite3_column_int(s, 13);
	run->created_at = col_time(s, 14);
	run->started_at = col_time(s, 15);
	run->finished_at = col_time(s, 16);
	return run;
}

/*
 * Reads the one row (or none) a RUN_SELECT statement returns, then
 * resets it. *out is NULL when there is no row.
 */
static int
run_read_one(struct run **out, struct store *st, sqlite3_stmt *s)
{
	int	rc;

	*out = NULL;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*out = run_read(s);
		rc = 0;
	} else if (rc == SQLITE_DONE)
		rc = 0;
	else
		rc = store_err(st, rc);
	stmt_done(s);
	return rc;
}

static const char SQL_STEPS_LOAD[] =
    "SELECT id, run_id, idx, name, status, exit_code, reason, needs,"
    " deploy, started_at, finished_at"
    " FROM steps WHERE run_id = ? ORDER BY idx";

/* Fills run->steps, in idx order. */
static int
steps_load(struct run *run, struct store *st)
{
	sqlite3_stmt	*s;
	struct step	*step;
	size_t		 cap = 0;
	int		 rc, status;

	ASSERT(run->steps == NULL && run->nsteps == 0);
	if ((rc = stmt_get(&s, st, SQL_STEPS_LOAD)) != 0)
		return rc;
	bind_int64(s, 1, run->id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (run->nsteps == cap) {
			cap = cap == 0 ? 8 : cap * 2;
			run->steps = xreallocarray(run->steps, cap,
			    sizeof(*run->steps));
		}
		step = &run->steps[run->nsteps++];
		memset(step, 0, sizeof(*step));
		step->id = sqlite3_column_int64(s, 0);
		step->run_id = sqlite3_column_int64(s, 1);
		step->idx = sqlite3_column_int(s, 2);
		step->name = col_strdup(s, 3);
		status = step_status_parse(
		    (const char *)sqlite3_column_text(s, 4));
		ASSERT(status >= 0);
		step->status = (enum step_status)status;
		step->exit_code = sqlite3_column_type(s, 5) == SQLITE_NULL ?
		    -1 : sqlite3_column_int(s, 5);
		step->reason = col_strdup(s, 6);
		step->needs = col_strdup(s, 7);
		if (step->needs == NULL)
			step->needs = xstrdup("");
		step->deploy = sqlite3_column_int(s, 8) != 0;
		step->started_at = col_time(s, 9);
		step->finished_at = col_time(s, 10);
	}
	if (rc != SQLITE_DONE) {
		rc = store_err(st, rc);
		stmt_done(s);
		return rc;
	}
	stmt_done(s);
	return 0;
}

static const char SQL_RUN_GET[] = RUN_SELECT "WHERE r.id = ?";

/* One run with its steps; ERR_NOTFOUND. */
static int
run_load(struct run **out, struct store *st, int64_t id)
{
	struct run	*run = NULL;
	sqlite3_stmt	*s;
	int		 rc;

	*out = NULL;
	if ((rc = stmt_get(&s, st, SQL_RUN_GET)) != 0)
		return rc;
	bind_int64(s, 1, id);
	if ((rc = run_read_one(&run, st, s)) != 0)
		return rc;
	if (run == NULL)
		return err_set(ERR_NOTFOUND, "run %" PRId64 " not found", id);
	if ((rc = steps_load(run, st)) != 0)
		goto out;
	*out = run;
	run = NULL;
out:
	run_free(run);
	return rc;
}

int
store_run_get(struct run **out, struct store *st, int64_t id)
{
	STORE_OWNED(st);
	return run_load(out, st, id);
}

/*
 * The four shapes of the list, so that each uses its own index (a
 * "?3 IS NULL OR ..." condition would defeat them). ?1 is the keyset
 * bound, ?2 the row count, ?3 the repository, ?4 the status.
 */
static const char SQL_LIST[] = RUN_SELECT
    "WHERE r.id < ?1 ORDER BY r.id DESC LIMIT ?2";
static const char SQL_LIST_REPO[] = RUN_SELECT
    "WHERE r.repo_id = (SELECT id FROM repos WHERE name = ?3)"
    " AND r.id < ?1 ORDER BY r.id DESC LIMIT ?2";
static const char SQL_LIST_STATUS[] = RUN_SELECT
    "WHERE r.status = ?4 AND r.id < ?1 ORDER BY r.id DESC LIMIT ?2";
static const char SQL_LIST_REPO_STATUS[] = RUN_SELECT
    "WHERE r.repo_id = (SELECT id FROM repos WHERE name = ?3)"
    " AND r.status = ?4 AND r.id < ?1 ORDER BY r.id DESC LIMIT ?2";

int
store_run_list(struct run_list *out, struct store *st,
    const struct run_filter *f)
{
	sqlite3_stmt	*s;
	const char	*sql;
	size_t		 want;
	int		 rc;

	STORE_OWNED(st);
	ASSERT(f->limit >= 1 && f->limit <= 200);
	ASSERT(f->status >= -1 && f->status <= RUN_ERROR);
	ASSERT(f->before >= 0);
	memset(out, 0, sizeof(*out));
	if (f->repo != NULL)
		sql = f->status >= 0 ? SQL_LIST_REPO_STATUS : SQL_LIST_REPO;
	else
		sql = f->status >= 0 ? SQL_LIST_STATUS : SQL_LIST;
	if ((rc = stmt_get(&s, st, sql)) != 0)
		return rc;
	want = (size_t)f->limit;
	bind_int64(s, 1, f->before > 0 ? f->before : INT64_MAX);
	/* One row more than asked tells whether there is a next page. */
	bind_int64(s, 2, f->limit + 1);
	if (f->repo != NULL)
		bind_text(s, 3, f->repo);
	if (f->status >= 0)
		bind_text(s, 4, run_status_name((enum run_status)f->status));
	out->runs = xreallocarray(NULL, want, sizeof(*out->runs));
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (out->n == want) {
			out->next = out->runs[out->n - 1]->id;
			break;
		}
		out->runs[out->n++] = run_read(s);
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		rc = store_err(st, rc);
		stmt_done(s);
		run_list_dispose(out);
		return rc;
	}
	stmt_done(s);
	return 0;
}

static const char SQL_REPOS[] =
    "SELECT id, name, provider, branch FROM repos ORDER BY name";

/* Every repository, sorted by name, without runs; *ids_out parallel. */
static int
repos_read(struct repo_summary **out, int64_t **ids_out, size_t *n_out,
    struct store *st)
{
	struct repo_summary	*v = NULL;
	int64_t			*ids = NULL;
	sqlite3_stmt		*s;
	size_t			 n = 0, cap = 0;
	int			 rc;

	*out = NULL;
	*ids_out = NULL;
	*n_out = 0;
	if ((rc = stmt_get(&s, st, SQL_REPOS)) != 0)
		return rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap == 0 ? 8 : cap * 2;
			v = xreallocarray(v, cap, sizeof(*v));
			ids = xreallocarray(ids, cap, sizeof(*ids));
		}
		memset(&v[n], 0, sizeof(v[n]));
		ids[n] = sqlite3_column_int64(s, 0);
		v[n].name = col_strdup(s, 1);
		v[n].provider = col_strdup(s, 2);
		v[n].branch = col_strdup(s, 3);
		n++;
	}
	if (rc != SQLITE_DONE) {
		rc = store_err(st, rc);
		stmt_done(s);
		repo_summaries_free(v, n);
		free(ids);
		return rc;
	}
	stmt_done(s);
	*out = v;
	*ids_out = ids;
	*n_out = n;
	return 0;
}

static const char SQL_REPO_LAST[] = RUN_SELECT
    "WHERE r.repo_id = ? AND r.branch = ? ORDER BY r.id DESC LIMIT 1";

/* The latest run of repository repo_id on branch, with steps, or NULL. */
static int
repo_last_run(struct run **out, struct store *st, int64_t repo_id,
    const char *branch)
{
	struct run	*run = NULL;
	sqlite3_stmt	*s;
	int		 rc;

	*out = NULL;
	if ((rc = stmt_get(&s, st, SQL_REPO_LAST)) != 0)
		return rc;
	bind_int64(s, 1, repo_id);
	bind_text(s, 2, branch);
	if ((rc = run_read_one(&run, st, s)) != 0 || run == NULL)
		return rc;
	if ((rc = steps_load(run, st)) != 0) {
		run_free(run);
		return rc;
	}
	*out = run;
	return 0;
}

int
store_repo_list(struct repo_summary **out, size_t *n_out, struct store *st)
{
	struct repo_summary	*v;
	int64_t			*ids;
	size_t			 i, n;
	int			 rc;

	STORE_OWNED(st);
	*out = NULL;
	*n_out = 0;
	if ((rc = repos_read(&v, &ids, &n, st)) != 0)
		return rc;
	for (i = 0; i < n; i++) {
		rc = repo_last_run(&v[i].last, st, ids[i], v[i].branch);
		if (rc != 0) {
			repo_summaries_free(v, n);
			free(ids);
			return rc;
		}
	}
	free(ids);
	*out = v;
	*n_out = n;
	return 0;
}

/* Enqueue: the webhook's hot path. */

static const char SQL_REPO_FIND[] =
    "SELECT id, provider FROM repos WHERE name = ?";

/* Repository name's id and provider (copied into provider, size 16). */
static int
repo_find(int64_t *id_out, char *provider, size_t provider_size,
    struct store *st, const char *name)
{
	sqlite3_stmt	*s;
	const char	*p;
	int		 rc;

	*id_out = 0;
	if ((rc = stmt_get(&s, st, SQL_REPO_FIND)) != 0)
		return rc;
	bind_text(s, 1, name);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		stmt_done(s);
		return err_set(ERR_NOTFOUND, "repository %s is not configured",
		    name);
	}
	if (rc != SQLITE_ROW) {
		rc = store_err(st, rc);
		stmt_done(s);
		return rc;
	}
	*id_out = sqlite3_column_int64(s, 0);
	p = (const char *)sqlite3_column_text(s, 1);
	ASSERT(p != NULL && strlen(p) < provider_size);
	memcpy(provider, p, strlen(p) + 1);
	stmt_done(s);
	return 0;
}

static const char SQL_DELIVERY_FIND[] =
    "SELECT run_id FROM deliveries WHERE provider = ? AND delivery_id = ?";

/* *run_out: the run of that delivery, 0 if it was never seen. */
static int
delivery_find(int64_t *run_out, struct store *st, const char *provider,
    const char *delivery_id)
{
	sqlite3_stmt	*s;
	int		 rc;

	*run_out = 0;
	if ((rc = stmt_get(&s, st, SQL_DELIVERY_FIND)) != 0)
		return rc;
	bind_text(s, 1, provider);
	bind_text(s, 2, delivery_id);
	return stmt_int64(run_out, NULL, st, s);
}

static const char SQL_RUN_INSERT[] =
    "INSERT INTO runs (repo_id, branch, commit_sha, message, author,"
    " pusher, compare_url, delivery_id, \"trigger\", status, attempts,"
    " created_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'queued', 0, ?10)";

static int
run_insert(int64_t *id_out, struct store *st, int64_t repo_id,
    const struct run *r, int64_t now)
{
	sqlite3_stmt	*s;
	int		 rc;

	*id_out = 0;
	if ((rc = stmt_get(&s, st, SQL_RUN_INSERT)) != 0)
		return rc;
	bind_int64(s, 1, repo_id);
	bind_text(s, 2, r->branch);
	bind_text(s, 3, r->commit);
	bind_text(s, 4, r->message);
	bind_text(s, 5, r->author);
	bind_text(s, 6, r->pusher);
	bind_text(s, 7, r->compare_url);
	bind_text(s, 8, r->delivery_id);
	bind_text(s, 9, r->trigger != NULL ? r->trigger : "push");
	bind_int64(s, 10, now);
	if ((rc = stmt_exec(st, s)) != 0)
		return rc;
	*id_out = sqlite3_last_insert_rowid(st->db);
	return 0;
}

static const char SQL_DELIVERY_INSERT[] =
    "INSERT INTO deliveries (provider, delivery_id, run_id, received_at)"
    " VALUES (?, ?, ?, ?)";

static int
delivery_insert(struct store *st, const char *provider,
    const char *delivery_id, int64_t run_id, int64_t now)
{
	sqlite3_stmt	*s;
	int		 rc;

	if ((rc = stmt_get(&s, st, SQL_DELIVERY_INSERT)) != 0)
		return rc;
	bind_text(s, 1, provider);
	bind_text(s, 2, delivery_id);
	bind_int64(s, 3, run_id);
	bind_int64(s, 4, now);
	return stmt_exec(st, s);
}

/*
 * The reads and writes of an enqueue, inside the caller's write
 * transaction. The errors it expects (ERR_NOTFOUND, ERR_INVALID,
 * ERR_EXISTS with the earlier run in *id_out) come before anything is
 * written; any other error leaves the transaction to be rolled back.
 */
int
store_enqueue_tx(int64_t *id_out, struct store *st, const struct run *r,
    int64_t now)
{
	char		 provider[16];
	int64_t		 repo_id, id, seen;
	int		 rc;

	ASSERT(r->repo != NULL && r->branch != NULL && r->commit != NULL);
	ASSERT(r->trigger == NULL || strcmp(r->trigger, "push") == 0 ||
	    strcmp(r->trigger, "manual") == 0 ||
	    strcmp(r->trigger, "rerun") == 0);
	*id_out = 0;
	rc = repo_find(&repo_id, provider, sizeof(provider), st, r->repo);
	if (rc != 0)
		return rc;
	/* The dedupe key must be the repository's own provider. */
	if (r->provider != NULL && strcmp(r->provider, provider) != 0)
		return err_set(ERR_INVALID, "repository %s is a %s "
		    "repository, not %s", r->repo, provider, r->provider);
	if (r->delivery_id != NULL) {
		if ((rc = delivery_find(&seen, st, provider,
		    r->delivery_id)) != 0)
			return rc;
		if (seen != 0) {
			*id_out = seen;
			return err_set(ERR_EXISTS, "delivery %s was received "
			    "before (run %" PRId64 ")", r->delivery_id, seen);
		}
	}
	if ((rc = run_insert(&id, st, repo_id, r, now)) != 0)
		return rc;
	if (r->delivery_id != NULL &&
	    (rc = delivery_insert(st, provider, r->delivery_id, id, now)) != 0)
		return rc;
	*id_out = id;
	return 0;
}

int
store_run_enqueue(int64_t *id_out, struct store *st, const struct run *r)
{
	int64_t	id;
	int	rc;

	STORE_OWNED(st);
	*id_out = 0;
	if ((rc = tx_begin(st)) != 0)
		return rc;
	if ((rc = store_enqueue_tx(&id, st, r, time_now_ms())) != 0) {
		tx_rollback(st);
		if (rc == ERR_EXISTS)
			*id_out = id;
		return rc;
	}
	if ((rc = tx_commit(st)) != 0) {
		tx_rollback(st);
		return rc;
	}
	*id_out = id;
	return 0;
}

/* Steps. */

static const char SQL_RUN_STATUS[] = "SELECT status FROM runs WHERE id = ?";

/* The status of run id; ERR_NOTFOUND. */
static int
run_status_get(enum run_status *out, struct store *st, int64_t id)
{
	sqlite3_stmt	*s;
	int		 rc, status;

	if ((rc = stmt_get(&s, st, SQL_RUN_STATUS)) != 0)
		return rc;
	bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		stmt_done(s);
		return err_set(ERR_NOTFOUND, "run %" PRId64 " not found", id);
	}
	if (rc != SQLITE_ROW) {
		rc = store_err(st, rc);
		stmt_done(s);
		return rc;
	}
	status = run_status_parse((const char *)sqlite3_column_text(s, 0));
	stmt_done(s);
	ASSERT(status >= 0);
	*out = (enum run_status)status;
	return 0;
}

static const char SQL_STEPS_ANY[] =
    "SELECT EXISTS (SELECT 1 FROM steps WHERE run_id = ?)";

static int
steps_any(bool *out, struct store *st, int64_t run_id)
{
	sqlite3_stmt	*s;
	int64_t		 v;
	int		 rc;

	*out = false;
	if ((rc = stmt_get(&s, st, SQL_STEPS_ANY)) != 0)
		return rc;
	bind_int64(s, 1, run_id);
	if ((rc = stmt_int64(&v, NULL, st, s)) != 0)
		return rc;
	*out = v != 0;
	return 0;
}

static const char SQL_STEP_INSERT[] =
    "INSERT INTO steps (run_id, idx, name, status, needs, deploy)"
    " VALUES (?, ?, ?, 'pending', ?, ?)";

static int
step_insert(struct store *st, int64_t run_id, int idx, const struct step *p)
{
	sqlite3_stmt	*s;
	int		 rc;

	if ((rc = stmt_get(&s, st, SQL_STEP_INSERT)) != 0)
		return rc;
	bind_int64(s, 1, run_id);
	bind_int64(s, 2, idx);
	bind_text(s, 3, p->name);
	bind_text(s, 4, p->needs != NULL ? p->needs : "");
	bind_int64(s, 5, p->deploy ? 1 : 0);
	return stmt_exec(st, s);
}

int
store_steps_plan(struct store *st, int64_t run_id, const struct step *steps,
    size_t n)
{
	enum run_status	 status;
	bool		 any;
	size_t		 i;
	int		 rc;

	STORE_OWNED(st);
	ASSERT(n <= 10000);
	if ((rc = tx_begin(st)) != 0)
		return rc;
	if ((rc = run_status_get(&status, st, run_id)) != 0)
		goto fail;
	if ((rc = steps_any(&any, st, run_id)) != 0)
		goto fail;
	if (any) {
		rc = err_set(ERR_EXISTS, "run %" PRId64 " has steps already",
		    run_id);
		goto fail;
	}
	for (i = 0; i < n; i++) {
		ASSERT(steps[i].name != NULL);
		if ((rc = step_insert(st, run_id, (int)i, &steps[i])) != 0)
			goto fail;
	}
	if ((rc = tx_commit(st)) != 0)
		goto fail;
	return 0;
fail:
	tx_rollback(st);
	return rc;
}

static const char SQL_STEP_UPDATE[] =
    "UPDATE steps SET status = ?1, exit_code = ?2, reason = ?3,"
    " started_at = CASE WHEN ?1 = 'running'"
    "  THEN coalesce(started_at, ?4) ELSE started_at END,"
    " finished_at = CASE WHEN ?5 THEN ?4 ELSE finished_at END"
    " WHERE run_id = ?6 AND name = ?7";

int
store_step_update(struct store *st, int64_t run_id, const char *name,
    enum step_status status, int exit_code, const char *reason)
{
	sqlite3_stmt	*s;
	int		 rc;

	STORE_OWNED(st);
	ASSERT(name != NULL);
	if ((rc = stmt_get(&s, st, SQL_STEP_UPDATE)) != 0)
		return rc;
	bind_text(s, 1, step_status_name(status));
	if (exit_code < 0)
		ASSERT(sqlite3_bind_null(s, 2) == SQLITE_OK);
	else
		bind_int64(s, 2, exit_code);
	bind_text(s, 3, reason);
	bind_int64(s, 4, time_now_ms());
	bind_int64(s, 5, step_status_final(status) ? 1 : 0);
	bind_int64(s, 6, run_id);
	bind_text(s, 7, name);
	if ((rc = stmt_exec(st, s)) != 0)
		return rc;
	if (sqlite3_changes(st->db) == 0)
		return err_set(ERR_NOTFOUND, "run %" PRId64 " has no step %s",
		    run_id, name);
	return 0;
}

/* Runs. */

static const char SQL_RUN_FINISH[] =
    "UPDATE runs SET status = ?, reason = ?, finished_at = ?"
    " WHERE id = ? AND status IN ('queued', 'running')";

int
store_run_finish(struct store *st, int64_t run_id, enum run_status status,
    const char *reason)
{
	enum run_status	 now_status;
	sqlite3_stmt	*s;
	int		 rc;

	STORE_OWNED(st);
	ASSERT(run_status_final(status));
	if ((rc = stmt_get(&s, st, SQL_RUN_FINISH)) != 0)
		return rc;
	bind_text(s, 1, run_status_name(status));
	bind_text(s, 2, reason);
	bind_int64(s, 3, time_now_ms());
	bind_int64(s, 4, run_id);
	if ((rc = stmt_exec(st, s)) != 0)
		return rc;
	if (sqlite3_changes(st->db) == 1)
		return 0;
	/* Not there, or ended before: say which. */
	if ((rc = run_status_get(&now_status, st, run_id)) != 0)
		return rc;
	return err_set(ERR_INVALID, "run %" PRId64 " has already ended (%s)",
	    run_id, run_status_name(now_status));
}

/*
 * Per repository with a queued run: its oldest queued run, how many runs
 * it has running, and whether its production branch is failing (its
 * newest failed or error run is newer than its newest succeeded one).
 * Each sub-select is an index probe on runs_repo_status, newest first
 * ("+" keeps the planner off runs_repo_branch, whose backward scan for
 * the newest finished run read every queued run first: 8 ms a claim
 * with 8,000 queued, under the write lock; bench/RESULTS.md), so a
 * claim costs a few probes per configured repository however long the
 * queue or the history.
 */
static const char SQL_CLAIM_CANDIDATES[] =
    "SELECT name, next_id, running FROM ("
    " SELECT p.name AS name,"
    "  (SELECT q.id FROM runs q"
    "   WHERE q.repo_id = p.id AND q.status = 'queued'"
    "   ORDER BY q.id LIMIT 1) AS next_id,"
    "  (SELECT count(*) FROM runs x"
    "   WHERE x.repo_id = p.id AND x.status = 'running') AS running,"
    "  max(coalesce((SELECT max(f.id) FROM runs f WHERE f.repo_id = p.id"
    "   AND f.status = 'failed' AND +f.branch = p.branch), 0),"
    "  coalesce((SELECT max(e.id) FROM runs e WHERE e.repo_id = p.id"
    "   AND e.status = 'error' AND +e.branch = p.branch), 0)) >"
    "  coalesce((SELECT max(g.id) FROM runs g WHERE g.repo_id = p.id"
    "   AND g.status = 'succeeded' AND +g.branch = p.branch), 0)"
    "  AS failing"
    " FROM repos p)"
    " WHERE next_id IS NOT NULL"
    " ORDER BY failing DESC, next_id";

/* The id of the run to claim, 0 if none may start. */
static int
claim_pick(int64_t *id_out, struct store *st,
    const struct store_claim_opts *o)
{
	sqlite3_stmt	*s;
	const char	*name;
	int		 rc, limit;

	*id_out = 0;
	if ((rc = stmt_get(&s, st, SQL_CLAIM_CANDIDATES)) != 0)
		return rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		name = (const char *)sqlite3_column_text(s, 0);
		limit = 1;
		if (o != NULL && o->concurrency != NULL)
			limit = o->concurrency(o->arg, name);
		if (sqlite3_column_int64(s, 2) < limit) {
			*id_out = sqlite3_column_int64(s, 1);
			break;
		}
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		rc = store_err(st, rc);
		stmt_done(s);
		return rc;
	}
	stmt_done(s);
	return 0;
}

static const char SQL_CLAIM_MARK[] =
    "UPDATE runs SET status = 'running',"
    " started_at = coalesce(started_at, ?),"
    " finished_at = NULL, attempts = attempts + 1"
    " WHERE id = ? AND status = 'queued'";

static int
claim_mark(struct store *st, int64_t id)
{
	sqlite3_stmt	*s;
	int		 rc;

	if ((rc = stmt_get(&s, st, SQL_CLAIM_MARK)) != 0)
		return rc;
	bind_int64(s, 1, time_now_ms());
	bind_int64(s, 2, id);
	if ((rc = stmt_exec(st, s)) != 0)
		return rc;
	/* Picked under the same write lock: it is still queued. */
	ASSERT(sqlite3_changes(st->db) == 1);
	return 0;
}

int
store_run_claim(struct run **out, struct store *st,
    const struct store_claim_opts *o)
{
	struct run	*run = NULL;
	int64_t		 id;
	int		 rc;

	STORE_OWNED(st);
	*out = NULL;
	if ((rc = tx_begin(st)) != 0)
		return rc;
	if ((rc = claim_pick(&id, st, o)) != 0)
		goto fail;
	if (id == 0) {
		tx_rollback(st);
		return err_set(ERR_NOTFOUND, "no run to claim");
	}
	if ((rc = claim_mark(st, id)) != 0)
		goto fail;
	if ((rc = run_load(&run, st, id)) != 0)
		goto fail;
	if ((rc = tx_commit(st)) != 0)
		goto fail;
	*out = run;
	return 0;
fail:
	tx_rollback(st);
	run_free(run);
	return rc;
}

static const char SQL_RUNS_IN_STATE[] =
    "SELECT id FROM runs WHERE status = ? ORDER BY id";

int
store_runs_in_state(int64_t **ids_out, size_t *n_out, struct store *st,
    enum run_status status)
{
	sqlite3_stmt	*s;
	int64_t		*ids = NULL;
	size_t		 n = 0, cap = 0;
	int		 rc;

	STORE_OWNED(st);
	*ids_out = NULL;
	*n_out = 0;
	if ((rc = stmt_get(&s, st, SQL_RUNS_IN_STATE)) != 0)
		return rc;
	bind_text(s, 1, run_status_name(status));
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			ids = xreallocarray(ids, cap, sizeof(*ids));
		}
		ids[n++] = sqlite3_column_int64(s, 0);
	}
	if (rc != SQLITE_DONE) {
		rc = store_err(st, rc);
		stmt_done(s);
		free(ids);
		return rc;
	}
	stmt_done(s);
	*ids_out = ids;
	*n_out = n;
	return 0;
}

static const char SQL_STEPS_DELETE[] = "DELETE FROM steps WHERE run_id = ?";

static int
steps_delete(struct store *st, int64_t run_id)
{
	sqlite3_stmt	*s;
	int		 rc;

	if ((rc = stmt_get(&s, st, SQL_STEPS_DELETE)) != 0)
		return rc;
	bind_int64(s, 1, run_id);
	return stmt_exec(st, s);
}

static const char SQL_RUN_REQUEUE[] =
    "UPDATE runs SET status = 'queued', reason = ?, started_at = NULL,"
    " finished_at = NULL, cancel_requested_at = NULL WHERE id = ?";

int
store_run_requeue(struct store *st, int64_t run_id, const char *reason)
{
	enum run_status	 status;
	sqlite3_stmt	*s;
	int		 rc;

	STORE_OWNED(st);
	if ((rc = tx_begin(st)) != 0)
		return rc;
	if ((rc = run_status_get(&status, st, run_id)) != 0)
		goto fail;
	if (status != RUN_RUNNING) {
		rc = err_set(ERR_INVALID, "run %" PRId64 " is %s, not running",
		    run_id, run_status_name(status));
		goto fail;
	}
	if ((rc = steps_delete(st, run_id)) != 0)
		goto fail;
	if ((rc = stmt_get(&s, st, SQL_RUN_REQUEUE)) != 0)
		goto fail;
	bind_text(s, 1, reason);
	bind_int64(s, 2, run_id);
	if ((rc = stmt_exec(st, s)) != 0)
		goto fail;
	if ((rc = tx_commit(st)) != 0)
		goto fail;
	return 0;
fail:
	tx_rollback(st);
	return rc;
}

static const char SQL_RUN_RESUME[] =
    "UPDATE runs SET status = 'queued' WHERE id = ? AND status = 'running'";

int
store_run_resume(struct store *st, int64_t run_id)
{
	sqlite3_stmt	*s;
	int		 rc;

	STORE_OWNED(st);
	if ((rc = stmt_get(&s, st, SQL_RUN_RESUME)) != 0)
		return rc;
	bind_int64(s, 1, run_id);
	if ((rc = stmt_exec(st, s)) != 0)
		return rc;
	if (sqlite3_changes(st->db) == 0)
		return err_set(ERR_INVALID, "run %" PRId64 " is not running",
		    run_id);
	return 0;
}

/* Cancelling. */

static const char SQL_CANCEL_QUEUED[] =
    "UPDATE runs SET status = 'cancelled', reason = ?, finished_at = ?"
    " WHERE id = ?";

static const char SQL_CANCEL_RUNNING[] =
    "UPDATE runs SET cancel_requested_at = coalesce(cancel_requested_at, ?)"
    " WHERE id = ?";

int
store_run_cancel(enum run_status *status_out, struct store *st,
    int64_t run_id, const char *reason)
{
	enum run_status	 status;
	sqlite3_stmt	*s;
	int		 rc;

	STORE_OWNED(st);
	if (status_out != NULL)
		*status_out = RUN_QUEUED;
	if ((rc = tx_begin(st)) != 0)
		return rc;
	if ((rc = run_status_get(&status, st, run_id)) != 0)
		goto fail;
	if (run_status_final(status)) {
		rc = err_set(ERR_INVALID, "run %" PRId64 " has already ended "
		    "(%s)", run_id, run_status_name(status));
		goto fail;
	}
	if (status == RUN_QUEUED) {
		if ((rc = stmt_get(&s, st, SQL_CANCEL_QUEUED)) != 0)
			goto fail;
		bind_text(s, 1, reason);
		bind_int64(s, 2, time_now_ms());
		bind_int64(s, 3, run_id);
		status = RUN_CANCELLED;
	} else {
		if ((rc = stmt_get(&s, st, SQL_CANCEL_RUNNING)) != 0)
			goto fail;
		bind_int64(s, 1, time_now_ms());
		bind_int64(s, 2, run_id);
	}
	if ((rc = stmt_exec(st, s)) != 0)
		goto fail;
	if ((rc = tx_commit(st)) != 0)
		goto fail;
	if (status_out != NULL)
		*status_out = status;
	return 0;
fail:
	tx_rollback(st);
	return rc;
}

static const char SQL_CANCEL_REQUESTED[] =
    "SELECT cancel_requested_at IS NOT NULL FROM runs WHERE id = ?";

int
store_run_cancel_requested(bool *out, struct store *st, int64_t run_id)
{
	sqlite3_stmt	*s;
	int64_t		 v;
	bool		 found;
	int		 rc;

	STORE_OWNED(st);
	*out = false;
	if ((rc = stmt_get(&s, st, SQL_CANCEL_REQUESTED)) != 0)
		return rc;
	bind_int64(s, 1, run_id);
	if ((rc = stmt_int64(&v, &found, st, s)) != 0)
		return rc;
	if (!found)
		return err_set(ERR_NOTFOUND, "run %" PRId64 " not found",
		    run_id);
	*out = v != 0;
	return 0;
}

/*
 * Walks the repository's runs after run_id newest first (runs_repo),
 * probing each one's steps (UNIQUE (run_id, ...) index): later runs are
 * few.
 */
static const char SQL_DEPLOY_SUPERSEDED[] =
    "SELECT r.id FROM runs r CROSS JOIN steps s ON s.run_id = r.id"
    " WHERE r.repo_id = (SELECT id FROM repos WHERE name = ?1)"
    " AND r.id > ?2 AND s.deploy = 1 AND s.status = 'succeeded'"
    " ORDER BY r.id DESC LIMIT 1";

int
store_deploy_superseded(int64_t *newer_out, struct store *st,
    const char *repo, int64_t run_id)
{
	sqlite3_stmt	*s;
	int		 rc;

	STORE_OWNED(st);
	ASSERT(repo != NULL);
	*newer_out = 0;
	if ((rc = stmt_get(&s, st, SQL_DEPLOY_SUPERSEDED)) != 0)
		return rc;
	bind_text(s, 1, repo);
	bind_int64(s, 2, run_id);
	return stmt_int64(newer_out, NULL, st, s);
}

/* Source tokens. */

static const char SQL_TOKEN_SET[] =
    "UPDATE runs SET source_token = ? WHERE id = ?";

int
store_run_token_set(struct store *st, int64_t run_id, const char *token)
{
	sqlite3_stmt	*s;
	int		 rc;

	STORE_OWNED(st);
	ASSERT(token != NULL);
	if ((rc = stmt_get(&s, st, SQL_TOKEN_SET)) != 0)
		return rc;
	bind_text(s, 1, token);
	bind_int64(s, 2, run_id);
	if ((rc = stmt_exec(st, s)) != 0)
		return rc;
	if (sqlite3_changes(st->db) == 0)
		return err_set(ERR_NOTFOUND, "run %" PRId64 " not found",
		    run_id);
	return 0;
}

static const char SQL_RUNS_SUPERSEDE[] =
    "UPDATE runs SET status = 'cancelled', reason = ?, finished_at = ?"
    " WHERE status = 'queued' AND branch = ? AND id < ?"
    " AND repo_id = (SELECT id FROM repos WHERE name = ?)";

int
store_runs_supersede(int *n_out, struct store *st, const char *repo,
    const char *branch, int64_t newer_id)
{
	sqlite3_stmt	*s;
	char		*reason;
	int		 rc;

	STORE_OWNED(st);
	*n_out = 0;
	if ((rc = stmt_get(&s, st, SQL_RUNS_SUPERSEDE)) != 0)
		return rc;
	reason = xasprintf("superseded by run %" PRId64, newer_id);
	bind_text(s, 1, reason);
	bind_int64(s, 2, time_now_ms());
	bind_text(s, 3, branch);
	bind_int64(s, 4, newer_id);
	bind_text(s, 5, repo);
	rc = stmt_exec(st, s);
	free(reason);
	if (rc != 0)
		return rc;
	*n_out = sqlite3_changes(st->db);
	return 0;
}

static const char SQL_RUN_DESCRIBE[] =
    "UPDATE runs SET message = ?, author = ? WHERE id = ?";

int
store_run_describe(struct store *st, int64_t run_id, const char *message,
    const char *author)
{
	sqlite3_stmt	*s;
	int		 rc;

	STORE_OWNED(st);
	if ((rc = stmt_get(&s, st, SQL_RUN_DESCRIBE)) != 0)
		return rc;
	bind_text(s, 1, message);
	bind_text(s, 2, author);
	bind_int64(s, 3, run_id);
	if ((rc = stmt_exec(st, s)) != 0)
		return rc;
	if (sqlite3_changes(st->db) == 0)
		return err_set(ERR_NOTFOUND, "run %" PRId64 " not found",
		    run_id);
	return 0;
}

static const char SQL_TOKEN_GET[] =
    "SELECT source_token FROM runs WHERE id = ? AND source_token IS NOT NULL";

int
store_run_token(char **out, struct store *st, int64_t run_id)
{
	sqlite3_stmt	*s;
	int		 rc;

	STORE_OWNED(st);
	*out = NULL;
	if ((rc = stmt_get(&s, st, SQL_TOKEN_GET)) != 0)
		return rc;
	bind_int64(s, 1, run_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		stmt_done(s);
		return err_set(ERR_NOTFOUND, "run %" PRId64 " has no source "
		    "token", run_id);
	}
	if (rc != SQLITE_ROW) {
		rc = store_err(st, rc);
		stmt_done(s);
		return rc;
	}
	*out = col_strdup(s, 0);
	stmt_done(s);
	return 0;
}

/*
 * outbox.c - the outbox of commit statuses and notifications, and the
 * record of which run states were queued (tables outbox, run_reports of
 * migrations/0003_outbox.sql). Same conventions as store.c, whose
 * statement cache and helpers it uses (store_int.h).
 *
 * DESIGN
 * Queueing a report is a read-then-write: "was this state queued
 * already?" then insert. Two threads can announce the same change (a
 * worker ending a run, an HTTP thread cancelling it), so both happen in
 * one BEGIN IMMEDIATE transaction and the second finds the first one's
 * state. One sender reads the outbox; it takes a row only when no older
 * row for the same URL waits, so a forge sees a commit's states and a
 * hook sees "failing" and "recovered" in the order they happened.
 */
#include "store.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#define LOG_MODULE "store"
#include "err.h"
#include "log.h"
#include "store_int.h"
#include "util.h"

void
outbox_item_free(struct outbox_item *it)
{
	if (it == NULL)
		return;
	free(it->kind);
	free(it->provider);
	free(it->repo);
	free(it->url);
	free(it->body);
	free(it->last_error);
	free(it);
}

static const char SQL_REPORT_STATE[] =
    "SELECT state FROM run_reports WHERE run_id = ?";

/* Inside or outside a transaction. */
static int
report_state(int *state_out, struct store *st, int64_t run_id)
{
	sqlite3_stmt	*s;
	int		 rc;

	*state_out = -1;
	if ((rc = stmt_get(&s, st, SQL_REPORT_STATE)) != 0)
		return rc;
	bind_int64(s, 1, run_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		/* The column's CHECK admits only run status names. */
		*state_out = run_status_parse(
		    (const char *)sqlite3_column_text(s, 0));
		ASSERT(*state_out >= 0);
		rc = 0;
	} else if (rc == SQLITE_DONE)
		rc = 0;
	else
		rc = store_err(st, rc);
	stmt_done(s);
	return rc;
}

int
store_report_state(int *state_out, struct store *st, int64_t run_id)
{
	store_owned(st);
	return report_state(state_out, st, run_id);
}

static const char SQL_REPORT_PREVIOUS[] =
    "SELECT r.status FROM runs r"
    " WHERE r.repo_id = (SELECT id FROM repos WHERE name = ?1)"
    " AND r.branch = ?2 AND r.id < ?3"
    " AND r.status IN ('succeeded', 'failed', 'error')"
    " ORDER BY r.id DESC LIMIT 1";

int
store_report_previous(int *status_out, struct store *st, const char *repo,
    const char *branch, int64_t run_id)
{
	sqlite3_stmt	*s;
	int		 rc;

	store_owned(st);
	ASSERT(repo != NULL && branch != NULL);
	*status_out = -1;
	if ((rc = stmt_get(&s, st, SQL_REPORT_PREVIOUS)) != 0)
		return rc;
	bind_text(s, 1, repo);
	bind_text(s, 2, branch);
	bind_int64(s, 3, run_id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*status_out = run_status_parse(
		    (const char *)sqlite3_column_text(s, 0));
		ASSERT(*status_out >= 0);
		rc = 0;
	} else if (rc == SQLITE_DONE)
		rc = 0;
	else
		rc = store_err(st, rc);
	stmt_done(s);
	return rc;
}

static const char SQL_REPORT_SET[] =
    "INSERT INTO run_reports (run_id, state, updated_at) VALUES (?1, ?2, ?3)"
    " ON CONFLICT (run_id) DO UPDATE"
    " SET state = excluded.state, updated_at = excluded.updated_at";

static int
report_set(struct store *st, int64_t run_id, enum run_status state,
    int64_t now)
{
	sqlite3_stmt	*s;
	int		 rc;

	if ((rc = stmt_get(&s, st, SQL_REPORT_SET)) != 0)
		return rc;
	bind_int64(s, 1, run_id);
	bind_text(s, 2, run_status_name(state));
	bind_int64(s, 3, now);
	return stmt_exec(st, s);
}

static const char SQL_OUTBOX_REPLACE[] =
    "DELETE FROM outbox WHERE kind = 'status' AND url = ?";

static const char SQL_OUTBOX_INSERT[] =
    "INSERT INTO outbox (kind, provider, run_id, repo, url, body, attempts,"
    " next_attempt_at, created_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, ?7, ?7)";

static int
outbox_insert(struct store *st, const struct outbox_item *it, int64_t now)
{
	sqlite3_stmt	*s;
	int		 rc;

	if (strcmp(it->kind, "status") == 0) {
		if ((rc = stmt_get(&s, st, SQL_OUTBOX_REPLACE)) != 0)
			return rc;
		bind_text(s, 1, it->url);
		if ((rc = stmt_exec(st, s)) != 0)
			return rc;
	}
	if ((rc = stmt_get(&s, st, SQL_OUTBOX_INSERT)) != 0)
		return rc;
	bind_text(s, 1, it->kind);
	bind_text(s, 2, it->provider);
	bind_int64(s, 3, it->run_id);
	bind_text(s, 4, it->repo);
	bind_text(s, 5, it->url);
	bind_text(s, 6, it->body);
	bind_int64(s, 7, now);
	return stmt_exec(st, s);
}

int
store_outbox_enqueue(bool *queued_out, struct store *st, int64_t run_id,
    enum run_status state, const struct outbox_item *items, size_t n)
{
	int64_t	now = time_now_ms();
	size_t	i;
	int	rc, have;

	store_owned(st);
	ASSERT(state == RUN_RUNNING || run_status_final(state));
	*queued_out = false;
	for (i = 0; i < n; i++) {
		ASSERT(items[i].kind != NULL && items[i].repo != NULL &&
		    items[i].url != NULL && items[i].body != NULL);
		ASSERT(strcmp(items[i].kind, "status") == 0 ||
		    strcmp(items[i].kind, "notify") == 0);
	}
	if ((rc = tx_begin(st)) != 0)
		return rc;
	if ((rc = report_state(&have, st, run_id)) != 0)
		goto fail;
	if (have == (int)state ||
	    (have >= 0 && run_status_final((enum run_status)have))) {
		tx_rollback(st);
		return 0;
	}
	if ((rc = report_set(st, run_id, state, now)) != 0)
		goto fail;
	for (i = 0; i < n; i++)
		if ((rc = outbox_insert(st, &items[i], now)) != 0)
			goto fail;
	if ((rc = tx_commit(st)) != 0)
		goto fail;
	*queued_out = true;
	return 0;
fail:
	tx_rollback(st);
	return rc;
}

static const char SQL_OUTBOX_NEXT[] =
    "SELECT o.id, o.kind, o.provider, o.run_id, o.repo, o.url, o.body,"
    " o.attempts, o.next_attempt_at, o.last_error FROM outbox o"
    " WHERE o.next_attempt_at <= ?1"
    " AND NOT EXISTS (SELECT 1 FROM outbox p"
    "  WHERE p.url = o.url AND p.id < o.id)"
    " ORDER BY o.next_attempt_at, o.id LIMIT 1";

int
store_outbox_next(struct outbox_item **out, struct store *st, int64_t now)
{
	struct outbox_item	*it;
	sqlite3_stmt		*s;
	int			 rc;

	store_owned(st);
	*out = NULL;
	if ((rc = stmt_get(&s, st, SQL_OUTBOX_NEXT)) != 0)
		return rc;
	bind_int64(s, 1, now);
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		stmt_done(s);
		return err_set(ERR_NOTFOUND, "nothing due in the outbox");
	}
	if (rc != SQLITE_ROW) {
		rc = store_err(st, rc);
		stmt_done(s);
		return rc;
	}
	it = xcalloc(1, sizeof(*it));
	it->id = sqlite3_column_int64(s, 0);
	it->kind = col_strdup(s, 1);
	it->provider = col_strdup(s, 2);
	it->run_id = sqlite3_column_int64(s, 3);
	it->repo = col_strdup(s, 4);
	it->url = col_strdup(s, 5);
	it->body = col_strdup(s, 6);
	it->attempts = sqlite3_column_int(s, 7);
	it->next_attempt_at = col_time(s, 8);
	it->last_error = col_strdup(s, 9);
	stmt_done(s);
	*out = it;
	return 0;
}

/* Only the first row of each url: the others wait behind it anyway. */
static const char SQL_OUTBOX_WAKE[] =
    "SELECT min(o.next_attempt_at) FROM outbox o"
    " WHERE NOT EXISTS (SELECT 1 FROM outbox p"
    "  WHERE p.url = o.url AND p.id < o.id)";

int
store_outbox_wake_at(int64_t *at_out, struct store *st)
{
	sqlite3_stmt	*s;
	int		 rc;

	store_owned(st);
	*at_out = 0;
	if ((rc = stmt_get(&s, st, SQL_OUTBOX_WAKE)) != 0)
		return rc;
	if ((rc = sqlite3_step(s)) != SQLITE_ROW) {
		rc = store_err(st, rc);
		stmt_done(s);
		return rc;
	}
	*at_out = col_time(s, 0);
	stmt_done(s);
	return 0;
}

static const char SQL_OUTBOX_DELETE[] = "DELETE FROM outbox WHERE id = ?";

int
store_outbox_delete(struct store *st, int64_t id)
{
	sqlite3_stmt	*s;
	int		 rc;

	store_owned(st);
	if ((rc = stmt_get(&s, st, SQL_OUTBOX_DELETE)) != 0)
		return rc;
	bind_int64(s, 1, id);
	return stmt_exec(st, s);
}

static const char SQL_OUTBOX_RETRY[] =
    "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2,"
    " last_error = ?3 WHERE id = ?1";

int
store_outbox_retry(struct store *st, int64_t id, int64_t next_attempt_at,
    const char *last_error)
{
	sqlite3_stmt	*s;
	int		 rc;

	store_owned(st);
	if ((rc = stmt_get(&s, st, SQL_OUTBOX_RETRY)) != 0)
		return rc;
	bind_int64(s, 1, id);
	bind_int64(s, 2, next_attempt_at);
	bind_text(s, 3, last_error);
	return stmt_exec(st, s);
}

static const char SQL_OUTBOX_REWIND[] =
    "UPDATE outbox SET next_attempt_at = ?1 WHERE next_attempt_at > ?1";

int
store_outbox_rewind(int *n_out, struct store *st, int64_t now)
{
	sqlite3_stmt	*s;
	int		 rc;

	store_owned(st);
	*n_out = 0;
	if ((rc = stmt_get(&s, st, SQL_OUTBOX_REWIND)) != 0)
		return rc;
	bind_int64(s, 1, now);
	if ((rc = stmt_exec(st, s)) != 0)
		return rc;
	*n_out = sqlite3_changes(sqlite3_db_handle(s));
	return 0;
}

static const char SQL_OUTBOX_COUNT[] = "SELECT count(*) FROM outbox";

int
store_outbox_count(int *n_out, struct store *st)
{
	sqlite3_stmt	*s;
	int64_t		 n;
	int		 rc;

	store_owned(st);
	*n_out = 0;
	if ((rc = stmt_get(&s, st, SQL_OUTBOX_COUNT)) != 0 ||
	    (rc = stmt_int64(&n, NULL, st, s)) != 0)
		return rc;
	*n_out = (int)n;
	return 0;
}

/*
 * The newest ?2 runs by id (the primary key: no scan of the whole
 * table), those that changed since ?1 and whose state was not queued:
 * none recorded, or 'running' recorded for a run that has ended since.
 */
static const char SQL_REPORT_UNREPORTED[] =
    "SELECT r.id FROM"
    " (SELECT id, status, started_at, finished_at FROM runs"
    "  ORDER BY id DESC LIMIT ?2) r"
    " LEFT JOIN run_reports p ON p.run_id = r.id"
    " WHERE r.status != 'queued'"
    " AND coalesce(r.finished_at, r.started_at, 0) >= ?1"
    " AND (p.state IS NULL OR (p.state = 'running' AND"
    "  r.status != 'running'))"
    " ORDER BY r.id";

int
store_report_unreported(int64_t **ids_out, size_t *n_out, struct store *st,
    int64_t since, int limit)
{
	sqlite3_stmt	*s;
	int64_t		*ids = NULL;
	size_t		 n = 0, cap = 0;
	int		 rc;

	store_owned(st);
	ASSERT(limit > 0);
	*ids_out = NULL;
	*n_out = 0;
	if ((rc = stmt_get(&s, st, SQL_REPORT_UNREPORTED)) != 0)
		return rc;
	bind_int64(s, 1, since);
	bind_int64(s, 2, limit);
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

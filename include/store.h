/*
 * store.h - the only module that speaks SQL. One SQLite file under
 * data_dir, WAL mode; the runs table is the queue.
 *
 * A struct store is one connection and belongs to the thread that opened
 * it (SQLITE_OPEN_NOMUTEX; every call asserts the owner). Workers open
 * their own; HTTP threads use store_thread_get(), which opens one per
 * thread on first use and closes it when the thread exits. Records
 * returned through **out belong to the caller (run_free and friends).
 */
#ifndef FERRY_STORE_H
#define FERRY_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

enum run_status {
	RUN_QUEUED,
	RUN_RUNNING,
	RUN_SUCCEEDED,
	RUN_FAILED,
	RUN_CANCELLED,
	RUN_ERROR,
};

enum step_status {
	STEP_PENDING,
	STEP_RUNNING,
	STEP_SUCCEEDED,
	STEP_FAILED,
	STEP_SKIPPED,
	STEP_CANCELLED,
	STEP_ERROR,
};

struct step {
	int64_t			 id;
	int64_t			 run_id;
	int			 idx;		/* position in the pipeline file */
	char			*name;
	enum step_status	 status;
	int			 exit_code;	/* -1: none yet */
	char			*reason;	/* NULL or why it ended so */
	char			*needs;		/* space-separated step names;
						   read back: "" if none */
	bool			 deploy;	/* a deploy: true step */
	int64_t			 started_at;	/* unix ms; 0: not yet */
	int64_t			 finished_at;	/* unix ms; 0: not yet */
};

struct run {
	int64_t		 id;
	char		*repo;		/* "acme/shop" */
	char		*provider;	/* "github" | "gitlab" */
	char		*branch;
	char		*commit;	/* full sha */
	char		*message;	/* head commit message */
	char		*author;	/* head commit author name */
	char		*pusher;	/* who pushed */
	char		*compare_url;	/* NULL if none */
	char		*delivery_id;	/* NULL for manual runs */
	char		*trigger;	/* "push" | "manual" | "rerun" */
	enum run_status	 status;
	char		*reason;	/* NULL or why it ended so */
	int		 attempts;	/* times claimed by a worker */
	int64_t		 created_at;	/* unix ms, arrival */
	int64_t		 started_at;	/* unix ms; 0: not yet */
	int64_t		 finished_at;	/* unix ms; 0: not yet */
	struct step	*steps;		/* owned; in idx order */
	size_t		 nsteps;
};

/* "queued", "running", ... and back; parse gives -1 if unknown. */
const char	*run_status_name(enum run_status s);
int		 run_status_parse(const char *s);
const char	*step_status_name(enum step_status s);
int		 step_status_parse(const char *s);
bool		 run_status_final(enum run_status s);

void	 run_free(struct run *run);

/*
 * Opens (creating if needed) the database at path for this thread, with
 * WAL, foreign keys, busy_timeout and synchronous=NORMAL. Does not
 * migrate. ERR_FAIL on error.
 */
int	 store_open(struct store **out, const char *path);
void	 store_close(struct store *st);
/*
 * Applies the embedded migrations/NNNN_*.sql not yet recorded, each in
 * its own transaction. *applied_out (may be NULL) gets how many ran.
 * ERR_INVALID if the database is newer than this binary.
 */
int	 store_migrate(struct store *st, int *applied_out);
/* Highest migration number in the binary and in the database. */
int	 store_schema_version(int *binary_out, int *db_out, struct store *st);
/*
 * This thread's connection to path, opened on first use and closed by a
 * thread-exit destructor. Borrowed. The database must be migrated.
 */
int	 store_thread_get(struct store **out, const char *path);
/* A trivial query; 0 if the database answers. */
int	 store_ping(struct store *st);

/* Records a configured repository (idempotent; updates provider/branch). */
int	 store_repo_ensure(struct store *st, const char *name,
	    const char *provider, const char *branch);

/*
 * Inserts run r (id, status, times and steps ignored: it becomes
 * 'queued' at now) and, when r->delivery_id is set, the delivery row
 * UNIQUE(provider, delivery_id), in one BEGIN IMMEDIATE transaction that
 * is committed before returning 0 with the new id in *id_out.
 * ERR_EXISTS if the delivery was recorded before: *id_out is that
 * delivery's run id and nothing is written. ERR_NOTFOUND if r->repo was
 * never store_repo_ensure()d. ERR_BUSY if the database stayed locked.
 */
int	 store_run_enqueue(int64_t *id_out, struct store *st,
	    const struct run *r);

/*
 * Group commit of enqueues, for the webhook path. Threads calling
 * store_group_enqueue() at about the same time share one transaction:
 * the first caller that finds no commit in progress becomes the leader
 * and commits every enqueue waiting (its own among them, at most 256)
 * on the group's own connection to path, then wakes the others; alone,
 * a caller commits its own at once. The results are
 * store_run_enqueue()'s, and 0 is returned only once the run is
 * committed. An error other than the expected ones (ERR_NOTFOUND,
 * ERR_INVALID, ERR_EXISTS) fails every enqueue of that transaction with
 * the same error: none is written. Any thread, any number at once.
 */
struct store_group;

/*
 * Called by the leader after each commit with the ids of the runs it
 * committed (in arrival order), on the leader's thread, after the
 * waiting callers were woken: one call per transaction for what follows
 * a new run (events, reports, waking the workers).
 */
typedef void store_group_fn(void *arg, const int64_t *ids, size_t n);

struct store_group	*store_group_new(const char *path, store_group_fn *fn,
			    void *arg);
void			 store_group_free(struct store_group *g);
int			 store_group_enqueue(int64_t *id_out,
			    struct store_group *g, const struct run *r);

/* One run with its steps. ERR_NOTFOUND if there is none. */
int	 store_run_get(struct run **out, struct store *st, int64_t id);

struct run_filter {
	const char	*repo;		/* NULL: any */
	int		 status;	/* enum run_status, or -1: any */
	int		 limit;		/* 1..200 */
	int64_t		 before;	/* only ids < before; 0: no bound */
};

struct run_list {
	struct run	**runs;		/* owned, newest first, no steps */
	size_t		  n;
	int64_t		  next;		/* cursor for 'before'; 0: no more */
};

int	 store_run_list(struct run_list *out, struct store *st,
	    const struct run_filter *f);
void	 run_list_dispose(struct run_list *l);

struct repo_summary {
	char		*name;
	char		*provider;
	char		*branch;	/* production branch */
	struct run	*last;		/* latest run on branch, with steps; NULL */
};

/* Every repository, sorted by name. free with repo_summaries_free. */
int	 store_repo_list(struct repo_summary **out, size_t *n_out,
	    struct store *st);
void	 repo_summaries_free(struct repo_summary *v, size_t n);

/*
 * Stores a run's planned steps ('pending', in array order; only name,
 * needs and deploy are read; NULL needs is stored as ""), in one
 * transaction. ERR_EXISTS if the run has steps already, ERR_NOTFOUND if
 * there is no such run.
 */
int	 store_steps_plan(struct store *st, int64_t run_id,
	    const struct step *steps, size_t n);
/*
 * Ends a queued or running run: status (final), reason (may be NULL),
 * finished_at = now. ERR_NOTFOUND if there is no such run, ERR_INVALID
 * if it has ended already (a cancel and the worker's own end race; the
 * first one wins).
 */
int	 store_run_finish(struct store *st, int64_t run_id,
	    enum run_status status, const char *reason);

/*
 * The caller's configuration of a repository: how many of its runs may
 * be running at once. 0 or less: none is claimed (say, a repository no
 * longer configured). Called inside the claim's transaction: no I/O.
 */
typedef int store_concurrency_fn(void *arg, const char *repo);

struct store_claim_opts {
	store_concurrency_fn	*concurrency;	/* NULL: 1 per repository */
	void			*arg;
};

/*
 * Claims the next run to start, in one BEGIN IMMEDIATE transaction. A
 * repository offers only its oldest queued run, and only while fewer
 * than its concurrency are running (so its runs start in arrival order).
 * Among those, repositories whose production branch is failing (its
 * latest succeeded, failed or error run there is failed or error; a
 * cancelled run says nothing) come first, then the oldest run. The run
 * becomes 'running' (started_at = now unless resumed, attempts + 1) and *out gets it
 * with its steps; the caller frees it with run_free. ERR_NOTFOUND when
 * nothing can be claimed, ERR_BUSY if the database stayed locked.
 */
int	 store_run_claim(struct run **out, struct store *st,
	    const struct store_claim_opts *o);
/*
 * Sets a step's status, exit_code (-1: none) and reason (NULL: none).
 * started_at becomes now the first time it is 'running'; finished_at
 * becomes now when the status is final (succeeded, failed, skipped,
 * cancelled, error). ERR_NOTFOUND if the run has no such step.
 */
int	 store_step_update(struct store *st, int64_t run_id, const char *name,
	    enum step_status status, int exit_code, const char *reason);
/* Steps that ended: all but pending and running. */
bool	 step_status_final(enum step_status s);
/*
 * The ids of every run in state s, oldest first (start-up recovery of
 * 'running' runs). *ids_out is NULL when *n_out is 0; the caller frees
 * it.
 */
int	 store_runs_in_state(int64_t **ids_out, size_t *n_out,
	    struct store *st, enum run_status s);
/*
 * Puts a running run back in the queue (a restart interrupted it): its
 * steps are deleted, started_at cleared, reason recorded (may be NULL),
 * attempts kept. ERR_NOTFOUND if there is no such run, ERR_INVALID if
 * it is not running.
 */
int	 store_run_requeue(struct store *st, int64_t run_id,
	    const char *reason);
/*
 * Puts a running run back in the queue with its steps and times kept, so
 * the worker that claims it next follows its steps where they are (an
 * executor whose steps outlive ferry: Kubernetes). ERR_INVALID if it is
 * not running.
 */
int	 store_run_resume(struct store *st, int64_t run_id);

/*
 * Cancels run_id in one transaction: a queued run ends 'cancelled' at
 * once (reason, finished_at = now); for a running run the request is
 * recorded for its worker (store_run_cancel_requested), which ends it.
 * *status_out (may be NULL) gets the run's status afterwards: RUN_CANCELLED
 * or RUN_RUNNING. ERR_NOTFOUND if there is no such run, ERR_INVALID if
 * it has ended already.
 */
int	 store_run_cancel(enum run_status *status_out, struct store *st,
	    int64_t run_id, const char *reason);
/* *out: whether a cancel of run_id was asked for. ERR_NOTFOUND. */
int	 store_run_cancel_requested(bool *out, struct store *st,
	    int64_t run_id);
/*
 * *newer_out: the newest run of repo after run_id whose deploy step
 * succeeded, or 0 if none (a deploy of run_id would then be stale).
 */
int	 store_deploy_superseded(int64_t *newer_out, struct store *st,
	    const char *repo, int64_t run_id);

/*
 * The per-run secret that lets the run's pods fetch its source archive
 * (GET /source/{run}.tar.gz?token=): set by whoever starts the run's
 * sandbox, read by the source handler. *out is the caller's (free it
 * with free_secret). ERR_NOTFOUND if the run does not exist or has no
 * token.
 */
int	 store_run_token_set(struct store *st, int64_t run_id,
	    const char *token);
int	 store_run_token(char **out, struct store *st, int64_t run_id);

/*
 * cancel_superseded: ends every queued run of repo on branch older than
 * newer_id as 'cancelled' with the reason "superseded by run N".
 * *n_out gets how many.
 */
int	 store_runs_supersede(int *n_out, struct store *st, const char *repo,
	    const char *branch, int64_t newer_id);

/*
 * Fills in the commit message and author of a run created without a
 * webhook payload (manual runs), once the commit has been fetched.
 */
int	 store_run_describe(struct store *st, int64_t run_id,
	    const char *message, const char *author);

/*
 * Closes this thread's store_thread_get() connection now, if any (the
 * main thread's destructor never runs). The next store_thread_get()
 * opens a new one.
 */
void	 store_thread_close(void);
/*
 * Closes the connections of exited threads kept for reuse by
 * store_thread_get() (a pool of up to 64). For the end of the process.
 */
void	 store_pool_drain(void);

/*
 * The outbox (src/store/outbox.c): commit statuses and notifications
 * that report queues when a run changes and its sender thread delivers,
 * so that a restart loses none. Rows are sent oldest first per URL; a
 * token is never stored (the sender looks it up in the config).
 */
struct outbox_item {
	int64_t	 id;		/* 0 until stored */
	char	*kind;		/* "status" | "notify" */
	char	*provider;	/* "github" | "gitlab"; NULL for notify */
	int64_t	 run_id;
	char	*repo;		/* config name: the token's owner */
	char	*url;		/* where to POST */
	char	*body;		/* JSON */
	int	 attempts;	/* failed sends so far */
	int64_t	 next_attempt_at; /* unix ms */
	char	*last_error;	/* NULL, or why the last send failed */
};

void	 outbox_item_free(struct outbox_item *it);

/*
 * *state_out: the run state last queued for run_id (an enum
 * run_status: running or final), or -1 if none was.
 */
int	 store_report_state(int *state_out, struct store *st, int64_t run_id);
/*
 * *status_out: the status of the newest run of repo on branch older
 * than run_id that succeeded, failed or ended in error (queued, running
 * and cancelled runs say nothing), or -1 if there is none.
 */
int	 store_report_previous(int *status_out, struct store *st,
	    const char *repo, const char *branch, int64_t run_id);
/*
 * In one BEGIN IMMEDIATE transaction: unless the state recorded for
 * run_id is state already, or final (a run is reported running once,
 * then once final), records state (RUN_RUNNING or final) and queues the
 * n items (kind, provider, run_id, repo, url and body are read), due
 * now. A status item replaces any unsent status for the same url: the
 * newer state wins. *queued_out: whether anything was written.
 */
int	 store_outbox_enqueue(bool *queued_out, struct store *st,
	    int64_t run_id, enum run_status state,
	    const struct outbox_item *items, size_t n);
/*
 * The oldest item due at now (next_attempt_at <= now) that has no older
 * row for its url; *out is the caller's (outbox_item_free).
 * ERR_NOTFOUND if none is due.
 */
int	 store_outbox_next(struct outbox_item **out, struct store *st,
	    int64_t now);
/*
 * *at_out: the earliest next_attempt_at of a row that is first for its
 * url (the others wait behind it); 0 if the outbox is empty.
 */
int	 store_outbox_wake_at(int64_t *at_out, struct store *st);
/* Removes a row (sent or given up); a row gone already is no error. */
int	 store_outbox_delete(struct store *st, int64_t id);
/*
 * After a failed send: attempts + 1, the next attempt's time and the
 * reason. A row gone already (replaced by a newer status) is no error.
 */
int	 store_outbox_retry(struct store *st, int64_t id,
	    int64_t next_attempt_at, const char *last_error);
/* Makes every row due at now at the latest (start-up); *n_out counts. */
int	 store_outbox_rewind(int *n_out, struct store *st, int64_t now);
/* How many rows are queued. */
int	 store_outbox_count(int *n_out, struct store *st);
/*
 * Start-up: the ids (oldest first) among the newest limit runs that
 * started or ended at or after since and whose current state was never
 * queued (say, ferry died between ending a run and queueing its report,
 * or recovery ended it before report started). *ids_out is NULL when
 * *n_out is 0; the caller frees it.
 */
int	 store_report_unreported(int64_t **ids_out, size_t *n_out,
	    struct store *st, int64_t since, int limit);

#endif

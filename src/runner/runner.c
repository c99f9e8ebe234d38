/*
 * runner.c - one run from claim to end.
 *
 * DESIGN: a worker claims a run (the store picks it: arrival order per
 * repository, concurrency, failing repositories first), then, without
 * holding any transaction: makes sure the commit is in the mirror, reads
 * and validates .ferry.yml, stores the planned steps, writes the
 * commit's source archive once under data_dir/work/<run>/, and drives
 * the DAG. Steps start when their needs succeeded; the executor calls
 * back when one ends, which wakes the worker's loop; a failure marks the
 * steps that needed it 'skipped'. The loop also polls the store for a
 * cancel request and watches the stop flag. No step runs unrecorded:
 * the store says 'running' before the executor starts it.
 *
 * Deploy steps of one repository never overlap (a per-repository lock in
 * struct runner, held while the step runs) and one whose run is older
 * than a run whose deploy already succeeded is skipped.
 */
#define LOG_MODULE "runner"
#include "runner.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "exec.h"
#include "log.h"
#include "metrics.h"
#include "pipeline.h"
#include "repo.h"
#include "store.h"
#include "util.h"

#define RUNNER_TICK_MS		500	/* cancel-request poll */
#define RUNNER_CANCEL_GRACE_MS	10000	/* SIGTERM, then kill */
#define RUNNER_MAX_ATTEMPTS	2	/* claims before a restart is fatal */

struct runner {
	const struct config	*cfg;
	char			*db_path;
	struct repo_cache	*rc;
	struct exec		*ex;
	runner_notify_fn	*notify;
	void			*notify_arg;
	atomic_bool		 stopping;
	pthread_mutex_t		 deploy_mtx;
	char			**deploying;	/* repos with a deploy running */
	size_t			 ndeploying;
};

struct runner_ctx {
	struct runner	*r;
	struct store	*st;
	int		 index;
};

/* One run being executed by one worker. */
struct run_exec {
	struct runner_ctx		*ctx;
	struct run			*run;
	const struct config_repo	*repo;
	struct pipeline			*p;
	enum pipeline_state		*states;
	struct exec_task		**tasks;
	struct exec_log			**logs;
	bool				*holds_deploy;
	int64_t				*started_ms;	/* monotonic */
	char				*work_dir;
	char				*source_path;	/* local: the archive */
	char				*source_url;	/* cluster: the same */
	char				*token;		/* source token */
	bool				 resumed;	/* steps from before a
							   restart */
	bool				 begun;		/* exec_run_begin done */
	char				*submodules;	/* log note or NULL */
	pthread_mutex_t			 mtx;
	pthread_cond_t			 cv;
	int				 ended;	/* done callbacks not seen */
	bool				 cancelled;
};

int
runner_new(struct runner **out, const struct config *cfg,
    const char *db_path, struct repo_cache *rc, struct exec *ex)
{
	struct runner	*r = xcalloc(1, sizeof(*r));

	r->cfg = cfg;
	r->db_path = xstrdup(db_path);
	r->rc = rc;
	r->ex = ex;
	atomic_init(&r->stopping, false);
	pthread_mutex_init(&r->deploy_mtx, NULL);
	*out = r;
	return 0;
}

void
runner_free(struct runner *r)
{
	if (r == NULL)
		return;
	ASSERT(r->ndeploying == 0);
	free(r->deploying);
	pthread_mutex_destroy(&r->deploy_mtx);
	free(r->db_path);
	free(r);
}

void
runner_set_notify(struct runner *r, runner_notify_fn *fn, void *arg)
{
	r->notify = fn;
	r->notify_arg = arg;
}

void
runner_stop_begin(struct runner *r)
{
	atomic_store(&r->stopping, true);
}

static void
runner_notify(struct runner *r, int64_t run_id)
{
	if (r->notify != NULL)
		r->notify(r->notify_arg, run_id);
}

/* --- deploy lock ------------------------------------------------------- */

static bool
deploy_lock_try(struct runner *r, const char *repo)
{
	size_t	i;
	bool	ok = true;

	pthread_mutex_lock(&r->deploy_mtx);
	for (i = 0; i < r->ndeploying; i++)
		if (strcmp(r->deploying[i], repo) == 0)
			ok = false;
	if (ok) {
		r->deploying = xreallocarray(r->deploying, r->ndeploying + 1,
		    sizeof(char *));
		r->deploying[r->ndeploying++] = xstrdup(repo);
	}
	pthread_mutex_unlock(&r->deploy_mtx);
	return ok;
}

static void
deploy_unlock(struct runner *r, const char *repo)
{
	size_t	i;

	pthread_mutex_lock(&r->deploy_mtx);
	for (i = 0; i < r->ndeploying; i++) {
		if (strcmp(r->deploying[i], repo) != 0)
			continue;
		free(r->deploying[i]);
		r->deploying[i] = r->deploying[--r->ndeploying];
		break;
	}
	pthread_mutex_unlock(&r->deploy_mtx);
}

/* Lets go of the deploy lock if step i holds it. */
static void
deploy_release(struct run_exec *re, size_t i)
{
	if (!re->holds_deploy[i])
		return;
	deploy_unlock(re->ctx->r, re->run->repo);
	re->holds_deploy[i] = false;
}

/* --- worker hooks --------------------------------------------------------- */

void *
runner_ctx_new(void *arg, int index)
{
	struct runner		*r = arg;
	struct runner_ctx	*ctx;
	struct store		*st;

	if (store_open(&st, r->db_path) != 0) {
		log_error("worker %d: %s", index, err_msg());
		return NULL;
	}
	ctx = xcalloc(1, sizeof(*ctx));
	ctx->r = r;
	ctx->st = st;
	ctx->index = index;
	return ctx;
}

void
runner_ctx_free(void *p)
{
	struct runner_ctx	*ctx = p;

	if (ctx == NULL)
		return;
	store_close(ctx->st);
	free(ctx);
}

static int
concurrency_of(void *arg, const char *name)
{
	const struct config_repo	*repo;

	repo = config_repo_by_name(arg, name);
	return repo == NULL ? 0 : repo->concurrency;
}

/* --- helpers ---------------------------------------------------------------- */

static void
short_sha(char out[8], const char *sha)
{
	snprintf(out, 8, "%.7s", sha ? sha : "");
}

/* Ends the run; logs and notifies. */
static void
run_end(struct run_exec *re, enum run_status status, const char *reason)
{
	struct runner	*r = re->ctx->r;
	int		 rc;

	rc = store_run_finish(re->ctx->st, re->run->id, status, reason);
	if (rc != 0 && rc != ERR_INVALID)
		log_error("run=%" PRId64 " cannot record its end: %s",
		    re->run->id, err_msg());
	if (rc == 0) {
		metrics_inc(METRICS_RUNS, run_status_name(status), NULL);
		metrics_observe_ms(METRICS_RUN_DURATION, time_now_ms() -
		    re->run->started_at);
	}
	log_info("run=%" PRId64 " repo=%s commit=%.12s %s%s%s", re->run->id,
	    re->run->repo, re->run->commit, run_status_name(status),
	    reason ? ": " : "", reason ? reason : "");
	runner_notify(r, re->run->id);
}

static void
step_set(struct run_exec *re, size_t i, enum step_status s, int exit_code,
    const char *reason)
{
	const char	*name = re->p->steps[i].name;

	if (store_step_update(re->ctx->st, re->run->id, name, s, exit_code,
	    reason) != 0)
		log_error("run=%" PRId64 " step=%s cannot record %s: %s",
		    re->run->id, name, step_status_name(s), err_msg());
	log_info("run=%" PRId64 " repo=%s step=%s %s%s%s", re->run->id,
	    re->run->repo, name, step_status_name(s), reason ? ": " : "",
	    reason ? reason : "");
	runner_notify(re->ctx->r, re->run->id);
}

/* --- preparing: source, pipeline, plan --------------------------------------- */

/* A manual run learns its message and author from the commit. */
static void
describe_commit(struct run_exec *re)
{
	struct repo_commit	*c;

	if (repo_commit_info(&c, re->ctx->r->rc, re->repo->name,
	    re->run->commit) != 0)
		return;
	if (store_run_describe(re->ctx->st, re->run->id, c->message,
	    c->author) != 0)
		log_warnx("run=%" PRId64 " cannot record the commit: %s",
		    re->run->id, err_msg());
	repo_commit_free(c);
}

/* A fresh random token lets the run's sandbox fetch its source. */
static int
prepare_token(struct run_exec *re)
{
	const char	*base = re->ctx->r->cfg->public_url;
	unsigned char	 raw[32];
	char		 hex[65];
	int		 rc;

	/* A resumed run's pods already hold its token. */
	if (!re->resumed || store_run_token(&re->token, re->ctx->st,
	    re->run->id) != 0) {
		if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
			return err_set(ERR_FAIL, "getrandom: %s",
			    strerror(errno));
		hex_encode(hex, raw, sizeof(raw));
		rc = store_run_token_set(re->ctx->st, re->run->id, hex);
		wipe(raw, sizeof(raw));
		if (rc != 0) {
			wipe(hex, sizeof(hex));
			return rc;
		}
		re->token = xstrdup(hex);
		wipe(hex, sizeof(hex));
	}
	re->source_url = xasprintf("%s/source/%" PRId64 ".tar.gz?token=%s",
	    base, re->run->id, re->token);
	return 0;
}

/* The run's sandbox: the secrets its steps name, whether it deploys. */
static int
prepare_sandbox(char **reason_out, struct run_exec *re)
{
	const struct config_repo	*repo = re->repo;
	struct exec_env			*secrets;
	struct exec_run			 er;
	size_t				 i, j, k, n = 0;
	int				 rc;

	*reason_out = NULL;
	memset(&er, 0, sizeof(er));
	secrets = xcalloc(repo->nsecrets + 1, sizeof(*secrets));
	for (k = 0; k < repo->nsecrets; k++) {
		bool	named = false;

		for (i = 0; i < re->p->nsteps; i++)
			for (j = 0; j < re->p->steps[i].nsecrets; j++)
				named |= strcmp(re->p->steps[i].secrets[j],
				    repo->secrets[k].name) == 0;
		if (named)
			secrets[n++] = (struct exec_env){
			    repo->secrets[k].name, repo->secrets[k].value,
			    true };
	}
	for (i = 0; i < re->p->nsteps; i++)
		er.deploy |= re->p->steps[i].deploy;
	er.run_id = re->run->id;
	er.repo = re->run->repo;
	er.branch = re->run->branch;
	er.commit = re->run->commit;
	er.source_token = re->token;
	er.secrets = secrets;
	er.nsecrets = n;
	rc = exec_run_begin(re->ctx->r->ex, &er);
	free(secrets);
	if (rc != 0) {
		*reason_out = xasprintf("cannot prepare the sandbox: %s",
		    err_msg());
		return rc;
	}
	re->begun = true;
	return 0;
}

int
runner_pipeline_load(struct pipeline **out, char **reason_out,
    const struct config *cfg, struct repo_cache *cache,
    const struct config_repo *repo, const char *sha)
{
	struct pipeline_limits	 lim;
	struct pipeline_errors	 errs = { 0 };
	struct buf		 b;
	const char		**names;
	char			*text = NULL, short_id[8];
	size_t			 len, i;
	int			 rc;

	*out = NULL;
	*reason_out = NULL;
	short_sha(short_id, sha);
	/* The repo module's messages are the reasons users see. */
	rc = repo_ensure_commit(cache, repo->name, repo->clone_url,
	    repo->status_token, sha);
	if (rc == 0)
		rc = repo_read_file(&text, &len, cache, repo->name, sha,
		    repo->pipeline, PIPELINE_MAX_FILE);
	if (rc == ERR_TOOBIG) {
		*reason_out = xasprintf("%s at %s is larger than %d KiB",
		    repo->pipeline, short_id, PIPELINE_MAX_FILE / 1024);
		return rc;
	}
	if (rc != 0) {
		*reason_out = xstrdup(err_msg());
		return rc;
	}
	memset(&lim, 0, sizeof(lim));
	if (cfg->executor == EXECUTOR_KUBERNETES) {
		lim.quota_cpu_milli = cfg->kube.quota.cpu_milli;
		lim.quota_memory = cfg->kube.quota.memory;
	}
	names = xcalloc(repo->nsecrets + 1, sizeof(char *));
	for (i = 0; i < repo->nsecrets; i++)
		names[i] = repo->secrets[i].name;
	lim.secret_names = names;
	lim.nsecret_names = repo->nsecrets;
	rc = pipeline_parse(out, &errs, text, len, &lim);
	free(names);
	free(text);
	if (rc != 0) {
		buf_init(&b, 16 * 1024);
		(void)buf_printf(&b, "invalid %s at %s:", repo->pipeline,
		    short_id);
		for (i = 0; i < errs.n; i++)
			(void)buf_printf(&b, "\n%s:%d:%d: %s", repo->pipeline,
			    errs.v[i].line, errs.v[i].col, errs.v[i].msg);
		*reason_out = buf_steal(&b);
	}
	pipeline_errors_dispose(&errs);
	return rc;
}

static int
prepare_plan(struct run_exec *re)
{
	struct step	*steps;
	struct buf	 b;
	size_t		 i, j, n = re->p->nsteps;
	int		 rc;

	steps = xcalloc(n, sizeof(*steps));
	for (i = 0; i < n; i++) {
		const struct pipeline_step	*ps = &re->p->steps[i];

		buf_init(&b, 64 * 1024);
		for (j = 0; j < ps->nneeds; j++)
			(void)buf_printf(&b, "%s%s", j ? " " : "",
			    ps->needs[j]);
		steps[i].name = ps->name;
		steps[i].needs = buf_steal(&b);
		steps[i].deploy = ps->deploy;
	}
	rc = store_steps_plan(re->ctx->st, re->run->id, steps, n);
	for (i = 0; i < n; i++)
		free(steps[i].needs);
	free(steps);
	return rc;
}

static int
prepare_source(char **reason_out, struct run_exec *re)
{
	const struct config_repo	*repo = re->repo;
	struct repo_archive		*a;
	const char *const		*subs;
	struct buf			 b;
	size_t				 n, i;
	int				 fd, rc;

	*reason_out = NULL;
	re->work_dir = xasprintf("%s/work/run-%" PRId64,
	    re->ctx->r->cfg->data_dir, re->run->id);
	remove_tree(re->work_dir);
	if ((rc = mkdir_p(re->work_dir, 0711)) != 0)
		goto fail;
	re->source_path = xasprintf("%s/source.tar.gz", re->work_dir);
	fd = open(re->source_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644);
	if (fd < 0) {
		rc = err_set(ERR_FAIL, "cannot create %s: %s",
		    re->source_path, strerror(errno));
		goto fail;
	}
	rc = repo_archive_write_fd(fd, re->ctx->r->rc, repo->name,
	    re->run->commit);
	if (close(fd) != 0 && rc == 0)
		rc = err_set(ERR_FAIL, "cannot write %s: %s",
		    re->source_path, strerror(errno));
	if (rc != 0)
		goto fail;
	/* The submodules it left out are told in every step's log. */
	if (repo_archive_open(&a, re->ctx->r->rc, repo->name,
	    re->run->commit) == 0) {
		n = repo_archive_submodules(a, &subs);
		if (n > 0) {
			buf_init(&b, 64 * 1024);
			(void)buf_puts(&b, "ferry: submodules are not part "
			    "of the checkout:");
			for (i = 0; i < n; i++)
				(void)buf_printf(&b, " %s", subs[i]);
			(void)buf_puts(&b, "\n");
			re->submodules = buf_steal(&b);
		}
		repo_archive_close(a);
	}
	return 0;
fail:
	*reason_out = xasprintf("cannot prepare the source: %s", err_msg());
	return rc;
}

/* --- steps ------------------------------------------------------------------ */

static void
task_done(void *arg)
{
	struct run_exec	*re = arg;

	pthread_mutex_lock(&re->mtx);
	re->ended++;
	pthread_cond_signal(&re->cv);
	pthread_mutex_unlock(&re->mtx);
}

static int
step_start(struct run_exec *re, size_t i, bool attach)
{
	const struct pipeline_step	*ps = &re->p->steps[i];
	const struct config_repo	*repo = re->repo;
	struct runner			*r = re->ctx->r;
	struct exec_env			*env;
	struct exec_step		 es;
	struct buf			 script;
	const char			**secrets;
	char				*path, runid[24];
	size_t				 n = 0, j, k;
	int				 rc;

	snprintf(runid, sizeof(runid), "%" PRId64, re->run->id);
	env = xcalloc(5 + ps->nenv + ps->nsecrets, sizeof(*env));
	env[n++] = (struct exec_env){ "CI", "true", false };
	env[n++] = (struct exec_env){ "FERRY_RUN_ID", runid, false };
	env[n++] = (struct exec_env){ "FERRY_REPO", re->run->repo, false };
	env[n++] = (struct exec_env){ "FERRY_BRANCH", re->run->branch,
	    false };
	env[n++] = (struct exec_env){ "FERRY_COMMIT", re->run->commit,
	    false };
	for (j = 0; j < ps->nenv; j++)
		env[n++] = (struct exec_env){ ps->env[j].name,
		    ps->env[j].value, false };
	for (j = 0; j < ps->nsecrets; j++)
		for (k = 0; k < repo->nsecrets; k++)
			if (strcmp(ps->secrets[j], repo->secrets[k].name) == 0)
				env[n++] = (struct exec_env){
				    repo->secrets[k].name,
				    repo->secrets[k].value, true };
	/* Every secret of the repository is masked, named or not. */
	secrets = xcalloc(repo->nsecrets + 1, sizeof(char *));
	for (k = 0; k < repo->nsecrets; k++)
		secrets[k] = repo->secrets[k].value;
	path = exec_log_path(r->cfg->data_dir, re->run->id, ps->name);
	rc = (attach ? exec_log_reopen : exec_log_open)(&re->logs[i], path,
	    r->cfg->log_max, secrets, repo->nsecrets);
	free(path);
	free(secrets);
	if (rc != 0) {
		free(env);
		return rc;
	}
	if (re->submodules != NULL && !attach)
		exec_log_write(re->logs[i], re->submodules,
		    strlen(re->submodules));
	buf_init(&script, 1024 * 1024);
	for (j = 0; j < ps->ncommands; j++)
		(void)buf_printf(&script, "%s\n", ps->commands[j]);
	memset(&es, 0, sizeof(es));
	es.run_id = re->run->id;
	es.repo = re->run->repo;
	es.step = ps->name;
	es.image = ps->image;
	es.script = script.data;
	es.env = env;
	es.nenv = n;
	es.timeout_ms = ps->timeout_ms;
	es.cpu_milli = ps->cpu_milli;
	es.memory = ps->memory;
	es.deploy = ps->deploy;
	es.source_path = re->source_path;
	es.source_url = re->source_url;
	if (attach) {
		rc = exec_task_attach(&re->tasks[i], r->ex, &es, re->logs[i],
		    task_done, re);
	} else {
		step_set(re, i, STEP_RUNNING, -1, NULL);
		rc = exec_task_start(&re->tasks[i], r->ex, &es, re->logs[i],
		    task_done, re);
	}
	if (rc == 0) {
		re->started_ms[i] = time_mono_ms();
		metrics_gauge_add(METRICS_STEPS_RUNNING, 1);
	}
	buf_dispose(&script);
	free(env);
	return rc;
}

/* Maps what the executor saw to the step's status and reason. */
static enum step_status
step_outcome(char **reason_out, const struct exec_result *res)
{
	*reason_out = NULL;
	switch (res->outcome) {
	case EXEC_EXITED:
		if (res->exit_code == 0)
			return STEP_SUCCEEDED;
		*reason_out = xasprintf("exited with %d", res->exit_code);
		return STEP_FAILED;
	case EXEC_TIMEOUT:
	case EXEC_OOM:
		*reason_out = xstrdup(res->reason);
		return STEP_FAILED;
	case EXEC_CANCELLED:
		*reason_out = xstrdup(res->reason[0] ? res->reason :
		    "cancelled");
		return STEP_CANCELLED;
	case EXEC_ERROR:
		*reason_out = xstrdup(res->reason[0] ? res->reason :
		    "the executor failed");
		return STEP_ERROR;
	}
	/* NOTREACHED */
	ASSERT(!"unknown exec outcome");
	return STEP_ERROR;
}

/* Collects every task that finished. */
static void
steps_reap(struct run_exec *re)
{
	struct exec_result	 res;
	enum step_status	 s;
	char			*reason;
	size_t			 i;

	for (i = 0; i < re->p->nsteps; i++) {
		if (re->tasks[i] == NULL ||
		    exec_task_result(&res, re->tasks[i]) != 0)
			continue;
		s = step_outcome(&reason, &res);
		exec_task_free(re->tasks[i]);
		re->tasks[i] = NULL;
		metrics_gauge_add(METRICS_STEPS_RUNNING, -1);
		metrics_observe_ms(METRICS_STEP_DURATION, time_mono_ms() -
		    re->started_ms[i]);
		exec_log_close(re->logs[i]);
		re->logs[i] = NULL;
		re->states[i] = s == STEP_SUCCEEDED ? PIPELINE_DONE_OK :
		    PIPELINE_DONE_FAIL;
		step_set(re, i, s, res.outcome == EXEC_EXITED ?
		    res.exit_code : -1, reason);
		free(reason);
		/* Released only once the end is recorded: no overlap. */
		deploy_release(re, i);
	}
}

/* Marks pending steps that can never run as skipped. */
static void
steps_skip(struct run_exec *re)
{
	bool	*skip;
	char	*reason;
	size_t	 i, j;

	skip = xcalloc(re->p->nsteps, sizeof(bool));
	pipeline_skip_after_failure(skip, re->p, re->states);
	for (i = 0; i < re->p->nsteps; i++) {
		if (!skip[i])
			continue;
		reason = NULL;
		for (j = 0; j < re->p->steps[i].nneeds; j++) {
			size_t	d = re->p->steps[i].needs_idx[j];

			if (re->states[d] == PIPELINE_DONE_FAIL ||
			    re->states[d] == PIPELINE_SKIPPED) {
				reason = xasprintf("needs %s, which %s",
				    re->p->steps[d].name,
				    re->states[d] == PIPELINE_SKIPPED ?
				    "was skipped" : "did not succeed");
				break;
			}
		}
		re->states[i] = PIPELINE_SKIPPED;
		step_set(re, i, STEP_SKIPPED, -1, reason);
		free(reason);
	}
	free(skip);
}

/*
 * A deploy step may start when no other deploy of the repository runs;
 * it is skipped when a later run's deploy already succeeded. Returns 1
 * to start it, 0 to wait, -1 when it was skipped.
 */
static int
deploy_gate(struct run_exec *re, size_t i)
{
	int64_t	newer = 0;
	char	*reason;

	if (!re->p->steps[i].deploy)
		return 1;
	if (!deploy_lock_try(re->ctx->r, re->run->repo))
		return 0;
	if (store_deploy_superseded(&newer, re->ctx->st, re->run->repo,
	    re->run->id) == 0 && newer > 0) {
		deploy_unlock(re->ctx->r, re->run->repo);
		reason = xasprintf("superseded by run %" PRId64, newer);
		re->states[i] = PIPELINE_SKIPPED;
		step_set(re, i, STEP_SKIPPED, -1, reason);
		free(reason);
		return -1;
	}
	re->holds_deploy[i] = true;
	return 1;
}

static void
steps_start(struct run_exec *re)
{
	bool	*ready;
	size_t	 i;
	int	 g;

	ready = xcalloc(re->p->nsteps, sizeof(bool));
	pipeline_runnable(ready, re->p, re->states);
	for (i = 0; i < re->p->nsteps; i++) {
		if (!ready[i] || (g = deploy_gate(re, i)) <= 0)
			continue;
		re->states[i] = PIPELINE_RUNNING;
		if (step_start(re, i, false) != 0) {
			char	*reason = xasprintf("could not start: %s",
			    err_msg());

			exec_log_close(re->logs[i]);
			re->logs[i] = NULL;
			deploy_release(re, i);
			re->states[i] = PIPELINE_DONE_FAIL;
			step_set(re, i, STEP_ERROR, -1, reason);
			free(reason);
		}
	}
	free(ready);
}

static size_t
steps_running(const struct run_exec *re)
{
	size_t	i, n = 0;

	for (i = 0; i < re->p->nsteps; i++)
		n += re->tasks[i] != NULL;
	return n;
}

static void
steps_cancel(struct run_exec *re, int64_t grace_ms)
{
	size_t	i;

	for (i = 0; i < re->p->nsteps; i++)
		if (re->tasks[i] != NULL)
			exec_task_cancel(re->tasks[i], grace_ms);
}

/* Pending steps of a cancelled run become 'cancelled'. */
static void
steps_cancel_pending(struct run_exec *re)
{
	size_t	i;

	for (i = 0; i < re->p->nsteps; i++) {
		if (re->states[i] != PIPELINE_PENDING)
			continue;
		re->states[i] = PIPELINE_SKIPPED;
		step_set(re, i, STEP_CANCELLED, -1, "run cancelled");
	}
}

static bool
all_settled(const struct run_exec *re)
{
	size_t	i;

	for (i = 0; i < re->p->nsteps; i++)
		if (re->states[i] == PIPELINE_PENDING ||
		    re->states[i] == PIPELINE_RUNNING)
			return false;
	return true;
}

static void
wait_tick(struct run_exec *re)
{
	pthread_mutex_lock(&re->mtx);
	if (re->ended == 0)
		cond_wait_ms(&re->cv, &re->mtx, RUNNER_TICK_MS);
	re->ended = 0;
	pthread_mutex_unlock(&re->mtx);
}

/* The run's status and reason from its steps (after they all settled). */
static enum run_status
run_outcome(char **reason_out, struct run_exec *re)
{
	struct run	*now = NULL;
	size_t		 i;
	enum run_status	 s = RUN_SUCCEEDED;

	*reason_out = NULL;
	if (re->cancelled)
		return RUN_CANCELLED;
	if (store_run_get(&now, re->ctx->st, re->run->id) != 0)
		return RUN_ERROR;
	for (i = 0; i < now->nsteps; i++) {
		const struct step	*st = &now->steps[i];

		if (st->status == STEP_ERROR && s != RUN_ERROR) {
			free(*reason_out);
			*reason_out = xasprintf("step %s: %s", st->name,
			    st->reason ? st->reason : "error");
			s = RUN_ERROR;
		} else if (st->status == STEP_FAILED && s == RUN_SUCCEEDED) {
			*reason_out = xasprintf("step %s %s", st->name,
			    st->reason ? st->reason : "failed");
			s = RUN_FAILED;
		} else if (st->status == STEP_CANCELLED && s ==
		    RUN_SUCCEEDED) {
			*reason_out = xasprintf("step %s was cancelled",
			    st->name);
			s = RUN_CANCELLED;
		}
	}
	run_free(now);
	return s;
}

/* Removes the run's sandbox (its logs are collected by now). */
static void
sandbox_end(struct run_exec *re)
{
	if (!re->begun)
		return;
	exec_run_end(re->ctx->r->ex, re->run->id, re->run->repo);
	re->begun = false;
}

/*
 * After a restart, the stored steps say where the run was: finished
 * steps keep their result, running ones are followed again where they
 * run (or end as an error if the executor lost them).
 */
static void
steps_resume(struct run_exec *re)
{
	const struct step	*st;
	size_t			 i, j;

	for (i = 0; i < re->p->nsteps; i++) {
		st = NULL;
		for (j = 0; j < re->run->nsteps; j++)
			if (strcmp(re->run->steps[j].name,
			    re->p->steps[i].name) == 0)
				st = &re->run->steps[j];
		if (st == NULL)
			continue;
		switch (st->status) {
		case STEP_PENDING:
			break;
		case STEP_SUCCEEDED:
			re->states[i] = PIPELINE_DONE_OK;
			break;
		case STEP_SKIPPED:
			re->states[i] = PIPELINE_SKIPPED;
			break;
		case STEP_FAILED:
		case STEP_CANCELLED:
		case STEP_ERROR:
			re->states[i] = PIPELINE_DONE_FAIL;
			break;
		case STEP_RUNNING:
			re->states[i] = PIPELINE_RUNNING;
			re->started_ms[i] = time_mono_ms();
			if (re->p->steps[i].deploy &&
			    deploy_lock_try(re->ctx->r, re->run->repo))
				re->holds_deploy[i] = true;
			if (step_start(re, i, true) == 0) {
				log_info("run=%" PRId64 " step=%s reattached",
				    re->run->id, st->name);
				break;
			}
			exec_log_close(re->logs[i]);
			re->logs[i] = NULL;
			deploy_release(re, i);
			re->states[i] = PIPELINE_DONE_FAIL;
			step_set(re, i, STEP_ERROR, -1,
			    "interrupted by server restart");
			break;
		}
	}
}

/*
 * Drives the steps until they all ended. Returns true when ferry is
 * stopping and the steps were left running for the next start to
 * follow (the run is not over: its sandbox stays).
 */
static bool
run_drive(struct run_exec *re)
{
	struct runner	*r = re->ctx->r;
	enum run_status	 s;
	bool		 requested, stopping = false;
	char		*reason;
	size_t		 n = re->p->nsteps;

	re->states = xcalloc(n, sizeof(*re->states));
	re->tasks = xcalloc(n, sizeof(*re->tasks));
	re->logs = xcalloc(n, sizeof(*re->logs));
	re->holds_deploy = xcalloc(n, sizeof(bool));
	re->started_ms = xcalloc(n, sizeof(int64_t));
	if (re->resumed)
		steps_resume(re);
	for (;;) {
		steps_reap(re);
		if (!re->cancelled && !stopping) {
			steps_skip(re);
			steps_start(re);
		}
		if (all_settled(re))
			break;
		if (re->cancelled || stopping) {
			if (steps_running(re) == 0)
				break;
		}
		wait_tick(re);
		if (!re->cancelled && store_run_cancel_requested(&requested,
		    re->ctx->st, re->run->id) == 0 && requested) {
			log_info("run=%" PRId64 " cancel requested",
			    re->run->id);
			re->cancelled = true;
			steps_cancel(re, RUNNER_CANCEL_GRACE_MS);
			steps_cancel_pending(re);
		}
		if (!stopping && atomic_load(&r->stopping)) {
			stopping = true;
			/* Steps that survive ferry are followed again. */
			if (exec_can_attach(r->ex))
				break;
			steps_cancel(re, 2000);
		}
	}
	if (stopping && !re->cancelled && exec_can_attach(r->ex)) {
		if (store_run_resume(re->ctx->st, re->run->id) != 0)
			log_error("run=%" PRId64 " cannot re-queue: %s",
			    re->run->id, err_msg());
		else
			log_info("run=%" PRId64 " left running: server "
			    "shutting down", re->run->id);
		return true;
	}
	if (stopping && !re->cancelled) {
		/* ferry is stopping: the run starts over at the next start. */
		if (store_run_requeue(re->ctx->st, re->run->id,
		    "interrupted by server shutdown") != 0)
			log_error("run=%" PRId64 " cannot re-queue: %s",
			    re->run->id, err_msg());
		else
			log_info("run=%" PRId64 " re-queued: server shutting "
			    "down", re->run->id);
		return false;
	}
	if (re->cancelled)
		steps_cancel_pending(re);
	s = run_outcome(&reason, re);
	/*
	 * The result first, then the sandbox: killed in between, the run
	 * has ended and the executor's start-up sweep removes what is
	 * left; the other way round, a restart would resume a finished run
	 * into a namespace being deleted.
	 */
	run_end(re, s, reason);
	sandbox_end(re);
	free(reason);
	return false;
}

static void
run_exec_dispose(struct run_exec *re)
{
	size_t	i;

	if (re->p != NULL && re->tasks != NULL) {
		for (i = 0; i < re->p->nsteps; i++) {
			if (re->tasks[i] != NULL)
				metrics_gauge_add(METRICS_STEPS_RUNNING, -1);
			exec_task_free(re->tasks[i]);
			exec_log_close(re->logs[i]);
			if (re->holds_deploy[i])
				deploy_unlock(re->ctx->r, re->run->repo);
		}
	}
	remove_tree(re->work_dir);
	free(re->work_dir);
	free(re->source_path);
	free(re->source_url);
	free_secret(re->token);
	free(re->submodules);
	free(re->states);
	free(re->tasks);
	free(re->logs);
	free(re->holds_deploy);
	free(re->started_ms);
	pipeline_free(re->p);
	pthread_cond_destroy(&re->cv);
	pthread_mutex_destroy(&re->mtx);
}

static void
run_execute(struct runner_ctx *ctx, struct run *run)
{
	struct run_exec		 re;
	char			*reason = NULL;

	memset(&re, 0, sizeof(re));
	re.ctx = ctx;
	re.run = run;
	pthread_mutex_init(&re.mtx, NULL);
	cond_init_mono(&re.cv);
	log_info("run=%" PRId64 " repo=%s commit=%.12s started (worker %d, "
	    "attempt %d)", run->id, run->repo, run->commit, ctx->index,
	    run->attempts);
	runner_notify(ctx->r, run->id);
	re.repo = config_repo_by_name(ctx->r->cfg, run->repo);
	if (re.repo == NULL) {
		run_end(&re, RUN_ERROR, "repository is no longer configured");
		goto out;
	}
	if (runner_pipeline_load(&re.p, &reason, ctx->r->cfg, ctx->r->rc,
	    re.repo, run->commit) != 0) {
		run_end(&re, RUN_ERROR, reason);
		goto out;
	}
	if (strcmp(run->trigger, "manual") == 0)
		describe_commit(&re);
	/* Steps stored already: a run resumed after a restart. */
	re.resumed = run->nsteps > 0;
	if (!re.resumed && prepare_plan(&re) != 0) {
		reason = xasprintf("cannot store the plan: %s", err_msg());
		run_end(&re, RUN_ERROR, reason);
		goto out;
	}
	runner_notify(ctx->r, run->id);
	if (prepare_token(&re) != 0) {
		reason = xasprintf("cannot make the source token: %s",
		    err_msg());
		run_end(&re, RUN_ERROR, reason);
		goto out;
	}
	if (prepare_source(&reason, &re) != 0 ||
	    prepare_sandbox(&reason, &re) != 0) {
		run_end(&re, RUN_ERROR, reason);
		goto out;
	}
	if (run_drive(&re))
		re.begun = false;	/* left running for the next start */
out:
	sandbox_end(&re);
	free(reason);
	run_exec_dispose(&re);
}

int
runner_work(void *p)
{
	struct runner_ctx	*ctx = p;
	struct store_claim_opts	 o = { concurrency_of,
	    (void *)ctx->r->cfg };
	struct run		*run;
	int			 rc;

	if (atomic_load(&ctx->r->stopping))
		return 0;
	rc = store_run_claim(&run, ctx->st, &o);
	if (rc == ERR_NOTFOUND)
		return 0;
	if (rc != 0) {
		log_warnx("claim failed: %s", err_msg());
		return 0;
	}
	run_execute(ctx, run);
	run_free(run);
	return 1;
}

int
runner_recover(int *requeued_out, int *failed_out, struct runner *r,
    struct store *st)
{
	struct run	*run;
	int64_t		*ids = NULL;
	size_t		 n, i, j;
	int		 rc;

	*requeued_out = *failed_out = 0;
	if ((rc = store_runs_in_state(&ids, &n, st, RUN_RUNNING)) != 0)
		return rc;
	for (i = 0; i < n; i++) {
		if (store_run_get(&run, st, ids[i]) != 0)
			continue;
		if (r->ex != NULL && exec_can_attach(r->ex)) {
			/* Its steps ran on while ferry was down. */
			if (store_run_resume(st, run->id) == 0) {
				(*requeued_out)++;
				log_info("run=%" PRId64 " repo=%s will be "
				    "followed again", run->id, run->repo);
			}
		} else if (run->attempts < RUNNER_MAX_ATTEMPTS) {
			rc = store_run_requeue(st, run->id,
			    "interrupted by server restart");
			if (rc == 0) {
				(*requeued_out)++;
				log_info("run=%" PRId64 " repo=%s re-queued: "
				    "interrupted by server restart", run->id,
				    run->repo);
			}
		} else {
			for (j = 0; j < run->nsteps; j++) {
				enum step_status s = run->steps[j].status;

				if (s == STEP_RUNNING)
					(void)store_step_update(st, run->id,
					    run->steps[j].name, STEP_ERROR, -1,
					    "interrupted by server restart");
				else if (s == STEP_PENDING)
					(void)store_step_update(st, run->id,
					    run->steps[j].name, STEP_CANCELLED,
					    -1, "interrupted by server "
					    "restart");
			}
			rc = store_run_finish(st, run->id, RUN_ERROR,
			    "interrupted by server restart twice");
			if (rc == 0) {
				(*failed_out)++;
				metrics_inc(METRICS_RUNS, "error", NULL);
				log_warnx("run=%" PRId64 " repo=%s error: "
				    "interrupted by server restart twice",
				    run->id, run->repo);
			}
		}
		run_free(run);
	}
	free(ids);
	return 0;
}

/*
 * exec.h - the executor interface: where a step's commands run. Two
 * implementations sit behind it: "local" (a process sandbox on this
 * machine, src/exec/local.c) and "kubernetes" (a Job per step,
 * src/exec/kube.c).
 * The runner drives it; it knows nothing of the store or of pipelines.
 *
 * An executor (struct exec) is created by main before the workers start
 * and is shared by every worker thread: its functions are thread-safe.
 * A task (struct exec_task) is one running step; it belongs to the
 * worker that started it and is freed by that worker.
 *
 * Logs: an executor writes the step's output (stdout and stderr
 * interleaved as produced) into a struct exec_log, which masks secret
 * values (also when split across writes), caps the size with a marker
 * and appends to data_dir/logs/<run>/<step>.log as it goes.
 */
#ifndef FERRY_EXEC_H
#define FERRY_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct exec;
struct exec_task;
struct exec_log;

struct exec_env {
	const char	*name;
	const char	*value;
	bool		 secret;	/* a repository secret: masked, and
					   in Kubernetes a secretKeyRef */
};

/* One step to run. Every pointer is borrowed for the call only. */
struct exec_step {
	int64_t			 run_id;
	const char		*repo;		/* "acme/shop" */
	const char		*step;		/* step name (DNS label) */
	const char		*image;		/* NULL: executor default */
	const char		*script;	/* commands, one per line; sh -e */
	const struct exec_env	*env;		/* CI, FERRY_*, step env, secrets */
	size_t			 nenv;
	int64_t			 timeout_ms;	/* > 0 */
	int64_t			 cpu_milli;	/* 0: executor default */
	int64_t			 memory;	/* bytes; 0: executor default */
	bool			 deploy;	/* deploy: true step */
	bool			 network;	/* local: allow network */
	const char		*source_path;	/* local: the commit's .tar.gz */
	const char		*source_url;	/* kubernetes: archive URL */
};

enum exec_outcome {
	EXEC_EXITED,		/* exit_code is the status (0: success) */
	EXEC_TIMEOUT,		/* killed after timeout_ms */
	EXEC_OOM,		/* killed for memory */
	EXEC_CANCELLED,		/* exec_task_cancel() */
	EXEC_ERROR,		/* infrastructure failed; reason says how */
};

struct exec_result {
	enum exec_outcome	 outcome;
	int			 exit_code;	/* EXEC_EXITED; else -1 */
	char			 reason[256];	/* "" or words a user can act on */
};

/*
 * A run's sandbox around its steps (Kubernetes: the namespace with its
 * quota, limit range, network policies, service accounts, the Secret of
 * the secrets its steps name and, for deploy steps, the RoleBinding).
 * Every pointer is borrowed for the call only.
 */
struct exec_run {
	int64_t			 run_id;
	const char		*repo;
	const char		*branch;
	const char		*commit;
	const char		*source_token;	/* GET /source/<run>.tar.gz */
	bool			 deploy;	/* some step is deploy: true */
	const struct exec_env	*secrets;	/* those its steps name */
	size_t			 nsecrets;
};

/*
 * Prepares the run's sandbox before its first step. 0; or ERR_UPSTREAM
 * (the cluster refused: err_msg() has its message) and nothing is left
 * behind. A no-op for the local executor.
 */
int	 exec_run_begin(struct exec *ex, const struct exec_run *run);
/*
 * Removes the run's sandbox once its steps have ended (and their logs
 * are collected). Never fails: what cannot be removed now is removed by
 * the executor's own sweep later.
 */
void	 exec_run_end(struct exec *ex, int64_t run_id, const char *repo);
/* Whether tasks survive a restart of ferry (exec_task_attach works). */
bool	 exec_can_attach(const struct exec *ex);

/* Called once, from an executor thread, when a task finishes. */
typedef void exec_done_fn(void *arg);

/*
 * Starts a step. Output goes to log (borrowed; must outlive the task).
 * done(arg) is called once when the task has finished; after that
 * exec_task_result() returns 0. ERR_FAIL/ERR_UPSTREAM if it could not
 * start (nothing to free then).
 */
int	 exec_task_start(struct exec_task **out, struct exec *ex,
	    const struct exec_step *step, struct exec_log *log,
	    exec_done_fn *done, void *arg);
/*
 * Like exec_task_start for a step that was started before ferry
 * restarted: follows it where it is (its log continues in log, which
 * the caller opened for append). ERR_NOTFOUND when the step is gone;
 * the local executor always says so.
 */
int	 exec_task_attach(struct exec_task **out, struct exec *ex,
	    const struct exec_step *step, struct exec_log *log,
	    exec_done_fn *done, void *arg);
/* 0 and *out filled when finished; ERR_BUSY while still running. */
int	 exec_task_result(struct exec_result *out, struct exec_task *t);
/* SIGTERM (or the grace-period delete), then a kill after grace_ms. */
void	 exec_task_cancel(struct exec_task *t, int64_t grace_ms);
/*
 * Frees a finished task. A running one: the local executor kills it
 * first; an executor whose steps outlive ferry (exec_can_attach) only
 * stops following it, and the step runs on for exec_task_attach.
 */
void	 exec_task_free(struct exec_task *t);
/* "local" or "kubernetes". */
const char *exec_name(const struct exec *ex);
void	 exec_free(struct exec *ex);

/* The local sandbox (SPEC.md "The local sandbox"). */
struct exec_local_opts {
	const char	*work_dir;	/* workspaces go under it */
	int64_t		 default_cpu_milli;	/* when the step says 0 */
	int64_t		 default_memory;	/* bytes */
	int		 max_procs;		/* processes per step; 512 */
	int64_t		 max_file_size;		/* bytes per file; 1 GiB */
	/*
	 * Paths the steps must not see although the rest of the host is
	 * visible (read-only) to them: data_dir (other repositories'
	 * mirrors, logs, the database), the config file. A directory
	 * becomes empty, a file /dev/null. Other steps' workspaces are
	 * always hidden. Borrowed for the call.
	 */
	const char *const *hide;
	size_t		 nhide;
};
int	 exec_local_new(struct exec **out, const struct exec_local_opts *o);

/*
 * The Kubernetes sandbox (SPEC.md "The Kubernetes sandbox"): a namespace
 * per run (exec_run_begin/exec_run_end), a batch/v1 Job per step,
 * followed with watches; tasks survive a restart (exec_task_attach), and
 * exec_task_free() of a running task stops following it without
 * touching its Job. httpc_global_init() must precede exec_kube_new().
 *
 * Whether a run may still use its namespace: queued or running in the
 * store. Called from the executor's sweep thread (which may open its own
 * store connection); true when unsure.
 */
typedef bool exec_run_active_fn(void *arg, int64_t run_id);

struct config;

struct exec_kube_opts {
	/* Borrowed, outlives the executor: the kubernetes block,
	   public_url, data_dir, log_max and the repositories. */
	const struct config	*cfg;
	/* The sweep deletes the namespaces (and deploy RoleBindings) of
	   runs that are not active, at start and every sweep_ms; NULL:
	   it deletes nothing. */
	exec_run_active_fn	*run_active;
	void			*run_active_arg;
	int64_t			 sweep_ms;	/* <= 0: 60 s */
};
/*
 * Reads the kubeconfig (or the in-cluster service account) and starts
 * the sweep; checks nothing on the network. ERR_NOTFOUND/ERR_INVALID
 * for a missing or bad kubeconfig (err_msg() says which), ERR_FAIL.
 */
int	 exec_kube_new(struct exec **out, const struct exec_kube_opts *o);

/*
 * Step logs. exec_log_open creates (truncating) path and its parent
 * directories; secrets (values, borrowed for the call; copied) are
 * replaced by "****"; at most max bytes are kept, then one line
 * "[log truncated at N bytes]" and the rest is dropped.
 * Thread-safe: the executor writes from its threads while the API reads
 * the file.
 */
int	 exec_log_open(struct exec_log **out, const char *path, int64_t max,
	    const char *const *secrets, size_t nsecrets);
/* The same, appending to what path holds (a step followed again). */
int	 exec_log_reopen(struct exec_log **out, const char *path, int64_t max,
	    const char *const *secrets, size_t nsecrets);
void	 exec_log_write(struct exec_log *log, const char *data, size_t len);
/* Flushes what is held back for masking and closes. Accepts NULL. */
void	 exec_log_close(struct exec_log *log);
/* data_dir/logs/<run>/<step>.log (caller frees). */
char	*exec_log_path(const char *data_dir, int64_t run_id,
	    const char *step);

#endif

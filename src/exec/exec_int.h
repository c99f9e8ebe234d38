/*
 * exec_int.h - what the executor's files share: the ops table every
 * executor implements (exec.c dispatches through it), the sandbox's
 * child side (sandbox.c) and the cgroup helpers (cgroup.c) used by the
 * local executor (local.c).
 */
#ifndef FERRY_EXEC_INT_H
#define FERRY_EXEC_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "exec.h"

/*
 * One executor implementation. exec.c checks arguments, then calls
 * these; each has the meaning of the public function of the same name.
 * task_free gets a task of this implementation (never NULL).
 */
struct exec_ops {
	const char	*name;		/* "local", "kubernetes" */
	int	(*task_start)(struct exec_task **out, struct exec *ex,
		    const struct exec_step *step, struct exec_log *log,
		    exec_done_fn *done, void *arg);
	int	(*task_result)(struct exec_result *out, struct exec_task *t);
	void	(*task_cancel)(struct exec_task *t, int64_t grace_ms);
	void	(*task_free)(struct exec_task *t);
	void	(*free)(struct exec *ex);
	/* Optional (NULL: nothing to do / not supported). */
	int	(*run_begin)(struct exec *ex, const struct exec_run *run);
	void	(*run_end)(struct exec *ex, int64_t run_id, const char *repo);
	int	(*task_attach)(struct exec_task **out, struct exec *ex,
		    const struct exec_step *step, struct exec_log *log,
		    exec_done_fn *done, void *arg);
};

/* The first member of every executor's own struct. */
struct exec {
	const struct exec_ops	*ops;
};

/* The first member of every executor's task struct. */
struct exec_task {
	const struct exec_ops	*ops;
};

/*
 * The sandbox's child side (sandbox.c). The parent prepares a struct
 * sandbox_spec (every string and array allocated beforehand) and
 * clone()s into sandbox_init_main with new PID, mount, IPC, UTS and
 * (unless network) network namespaces. The child is PID 1 of the new
 * namespace: it waits for one byte on ctl_fd (sent once the parent has
 * put it into the task's cgroups), sets up mounts, hostname, loopback,
 * limits and the unprivileged user, reports one struct sandbox_status
 * on ctl_fd, then forks /bin/sh and reaps until the shell exits, whose
 * status becomes its own and is sent as a second status (SANDBOX_EXIT).
 * It uses only syscalls: it is a copy of a multi-threaded process and
 * must not touch malloc or locks.
 */
enum sandbox_stage {
	SANDBOX_OK,
	SANDBOX_EXIT,		/* err: the shell's exit code */
	SANDBOX_FDS,
	SANDBOX_MOUNT_PRIVATE,
	SANDBOX_OPEN_WS,
	SANDBOX_ROOT_RO,
	SANDBOX_MOUNT_PROC,
	SANDBOX_MOUNT_TMPFS,
	SANDBOX_HIDE,
	SANDBOX_MOUNT_WS,
	SANDBOX_HOSTNAME,
	SANDBOX_LOOPBACK,
	SANDBOX_CHDIR,
	SANDBOX_RLIMIT,
	SANDBOX_NO_NEW_PRIVS,
	SANDBOX_SETUID,
	SANDBOX_PDEATHSIG,
	SANDBOX_SIGNALS,
	SANDBOX_FORK,
};

struct sandbox_status {
	int32_t		 stage;		/* enum sandbox_stage */
	int32_t		 err;		/* errno at that stage */
};

struct sandbox_rlimits {
	uint64_t	 cpu_s;		/* RLIMIT_CPU */
	uint64_t	 as;		/* RLIMIT_AS; 0: unlimited */
	uint64_t	 nproc;		/* RLIMIT_NPROC */
	uint64_t	 fsize;		/* RLIMIT_FSIZE */
	uint64_t	 nofile;	/* RLIMIT_NOFILE */
};

struct sandbox_spec {
	char		 ws[4096];	/* absolute workspace path */
	const char	*work_dir;	/* absolute; hidden but for ws */
	char *const	*hide;		/* absolute paths to hide */
	const bool	*hide_dir;	/* per path: a directory */
	size_t		 nhide;
	const char	*tmpfs_opts;	/* "mode=1777,size=..." */
	char *const	*argv;		/* sh -e -c script */
	char *const	*envp;
	bool		 network;	/* keep the host's /run */
	uid_t		 uid;
	gid_t		 gid;
	struct sandbox_rlimits	 rl;
	int		 ctl_fd;	/* socket: go byte in, status out */
	int		 out_fd;	/* pipe: stdout and stderr */
};

int		 sandbox_init_main(void *arg);
/* "mount /proc" etc. for a failed stage. */
const char	*sandbox_stage_name(int stage);

/*
 * cgroups (cgroup.c): a limit on memory, processes and CPU for each
 * task where the machine offers it, v2 or v1. Detected once per
 * executor; a task whose groups cannot be made runs on rlimits alone.
 */
enum exec_cg_version {
	EXEC_CG_NONE,
	EXEC_CG_V1,
	EXEC_CG_V2,
};

enum exec_cg_ctl {
	EXEC_CG_MEMORY,
	EXEC_CG_PIDS,
	EXEC_CG_CPU,
	EXEC_CG_NCTL,
};

/*
 * Directories: in v1 one per controller (NULL where unusable); in v2
 * dir[0] holds every controller and has[] says which are enabled.
 */
struct exec_cg_root {
	enum exec_cg_version	 version;
	char			*dir[EXEC_CG_NCTL];	/* ferry's parents */
	bool			 has[EXEC_CG_NCTL];
};

/* A task's groups, laid out like the root; nothing made: all NULL. */
struct exec_cg {
	enum exec_cg_version	 version;
	char			*dir[EXEC_CG_NCTL];
	bool			 has[EXEC_CG_NCTL];
	int64_t			 memory;		/* its limit, or 0 */
};

/* Fills root (version EXEC_CG_NONE when nothing is usable). */
void	 exec_cg_root_init(struct exec_cg_root *root);
void	 exec_cg_root_dispose(struct exec_cg_root *root);
/* 0, or ERR_FAIL when the groups could not be made (none left then). */
int	 exec_cg_create(struct exec_cg *out, const struct exec_cg_root *root,
	    const char *name, int64_t memory, int64_t pids, int64_t cpu_milli);
/* Moves pid into every group of cg. */
int	 exec_cg_attach(const struct exec_cg *cg, pid_t pid);
/* Processes of the group killed by the OOM killer. */
int64_t	 exec_cg_oom_kills(const struct exec_cg *cg);
/* Removes the (empty) groups; accepts an unmade cg. */
void	 exec_cg_destroy(struct exec_cg *cg);

#endif

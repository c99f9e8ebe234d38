/*
 * DESIGN
 *
 * The local sandbox (SPEC.md "The local sandbox"). Each task has a
 * monitor thread that does everything, so exec_task_start() returns at
 * once and a slow extraction blocks nobody:
 *
 *  1. a workspace, work_dir/<run>-<step>-XXXXXX/ws (the parent 0711, ws
 *     0700 owned by the step's uid), filled by /bin/tar -xzf - running
 *     as that uid, the archive opened by us and given as its stdin;
 *  2. cgroups where the machine offers them (cgroup.c);
 *  3. clone() of the sandbox init (sandbox.c) into new PID, mount, IPC,
 *     UTS and network namespaces; the init is our direct child, so its
 *     pid stays ours until we reap it, and its parent-death signal is
 *     tied to this thread, which lives until the step has ended;
 *  4. the loop: the output pipe goes to the exec_log as it comes; at the
 *     deadline the init gets SIGKILL, which takes the whole namespace
 *     with it; a cancel sends SIGTERM (the init forwards it to every
 *     process) and SIGKILL after the grace period;
 *  5. the verdict (exit code, OOM kills), then the workspace and groups
 *     are removed and done(arg) is called.
 *
 * The monitor is the one thread that clone()s and waits for its
 * children; nothing else in ferry may wait for "any child".
 *
 * Each running task gets its own uid and gid, LOCAL_ID_BASE + slot:
 * RLIMIT_NPROC counts the processes of a real uid across the machine,
 * so steps sharing a uid could starve each other, and a step could
 * signal or ptrace another step's processes. The base is above the
 * ranges distributions and sssd hand out and below 2^31.
 *
 * Limits: RLIMIT_CPU is the timeout plus LOCAL_CPU_SLACK_S (per process;
 * the timeout itself bounds the tree); RLIMIT_AS is twice the memory
 * limit (address space runs well above resident memory: shared
 * libraries, thread stacks, malloc arenas), at least LOCAL_AS_MIN, as a
 * backstop where there is no memory cgroup, which is what really holds
 * the step to its memory; RLIMIT_NPROC and pids.max are max_procs;
 * RLIMIT_FSIZE is max_file_size; RLIMIT_NOFILE 1024; no core files.
 * The sandbox's tmpfs (/tmp etc.) are each as large as the memory limit
 * (their pages count against the step's memory cgroup) or, without
 * one, max_file_size.
 *
 * The step sees the host's filesystem read-only (its tools), except
 * work_dir (other steps' workspaces) and the paths in opts->hide
 * (data_dir, the config), which sandbox.c covers with empty tmpfs.
 *
 * The sandbox needs root (real namespaces, mounts and uid changes).
 * Without it, every step ends EXEC_ERROR with a reason saying so: a
 * user-namespace sandbox could not give each step its own uid.
 */
#define _GNU_SOURCE
#define LOG_MODULE "exec"
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec_int.h"
#include "log.h"
#include "util.h"

#define LOCAL_ID_BASE		2100000000u
#define LOCAL_SLOTS		4096
#define LOCAL_CPU_SLACK_S	5
#define LOCAL_AS_MIN		(INT64_C(64) << 20)
#define LOCAL_NOFILE		1024
#define LOCAL_MAX_PROCS		512
#define LOCAL_MAX_FILE		(INT64_C(1) << 30)
#define LOCAL_STACK		(1024 * 1024)
#define LOCAL_SETUP_MS		10000	/* the init's report */
#define LOCAL_DRAIN_MS		2000	/* output after the process ended */
#define LOCAL_POLL_MS		50	/* without pidfd */
#define LOCAL_CHUNK		65536
#define LOCAL_TAR_ERR_MAX	4096

struct exec_local {
	struct exec		 base;
	char			*work_dir;	/* absolute */
	int64_t			 default_cpu_milli;
	int64_t			 default_memory;
	int			 max_procs;
	int64_t			 max_file_size;
	char			**hide;		/* absolute */
	bool			*hide_dir;
	size_t			 nhide;
	bool			 root;		/* euid 0: can sandbox */
	struct exec_cg_root	 cg;
	pthread_mutex_t		 mtx;		/* protects slots, nslots */
	unsigned char		 slots[LOCAL_SLOTS / 8];
	int			 nslots;	/* in use */
};

struct local_task {
	struct exec_task	 base;
	struct exec_local	*ex;
	struct exec_log		*log;		/* borrowed */
	exec_done_fn		*done;
	void			*arg;

	/* Copied from the step; read only by the monitor. */
	int64_t			 run_id;
	char			*step;
	char			*source_path;	/* NULL: empty workspace */
	char			**argv;		/* sh -e -c script */
	char			**envp;		/* wiped: holds secrets */
	int64_t			 timeout_ms;
	int64_t			 memory;	/* 0: no limit */
	int64_t			 cpu_milli;
	bool			 network;

	/* The monitor's. */
	int64_t			 started;	/* monotonic ms */
	int			 slot;		/* -1: none */
	char			*dir;		/* work_dir/<run>-<step>-X */
	char			*ws;		/* dir/ws */
	struct exec_cg		 cg;

	pthread_t		 thread;
	int			 wake[2];	/* cancel -> monitor */

	pthread_mutex_t		 mtx;		/* protects what follows */
	bool			 finished;
	struct exec_result	 result;
	bool			 cancel;
	int64_t			 kill_at;	/* cancel: monotonic ms */
};

/* Why the monitor stopped a process. */
enum local_stop {
	LOCAL_RAN,
	LOCAL_TIMEOUT,
	LOCAL_CANCEL,
};

/* A process being watched, with the pipe of its output. */
struct local_watch {
	pid_t		 pid;
	bool		 group;		/* signal its process group */
	int		 fd;		/* output; -1 once at EOF */
	struct exec_log	*log;		/* output goes here, or */
	struct buf	*buf;		/* here (bounded) */
	int		 status;	/* waitpid's */
	bool		 lost;		/* no status: reaped elsewhere */
	enum local_stop	 stop;
};

static void
local_set(struct exec_result *res, enum exec_outcome outcome, int code,
    const char *fmt, ...) PRINTFLIKE(4, 5);

static void
local_set(struct exec_result *res, enum exec_outcome outcome, int code,
    const char *fmt, ...)
{
	va_list	ap;

	res->outcome = outcome;
	res->exit_code = outcome == EXEC_EXITED ? code : -1;
	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof res->reason, fmt, ap);
	va_end(ap);
}

/* "512Mi", "1Gi", "1000" */
static void
local_format_bytes(char *out, size_t outsz, int64_t n)
{
	static const char *const units[] = { "Ki", "Mi", "Gi", "Ti" };
	const char	*unit = "";
	size_t		 i;

	for (i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (n < 1024 || n % 1024 != 0)
			break;
		n /= 1024;
		unit = units[i];
	}
	snprintf(out, outsz, "%" PRId64 "%s", n, unit);
}

static int
local_slot_get(struct exec_local *ex)
{
	int	i, slot = -1;

	pthread_mutex_lock(&ex->mtx);
	for (i = 0; i < LOCAL_SLOTS; i++) {
		if (ex->slots[i / 8] & (1u << (i % 8)))
			continue;
		ex->slots[i / 8] |= (unsigned char)(1u << (i % 8));
		ex->nslots++;
		slot = i;
		break;
	}
	pthread_mutex_unlock(&ex->mtx);
	return slot;
}

static void
local_slot_put(struct exec_local *ex, int slot)
{
	if (slot < 0)
		return;
	pthread_mutex_lock(&ex->mtx);
	ASSERT(ex->slots[slot / 8] & (1u << (slot % 8)));
	ex->slots[slot / 8] &= (unsigned char)~(1u << (slot % 8));
	ex->nslots--;
	pthread_mutex_unlock(&ex->mtx);
}

static uid_t
local_uid(const struct local_task *t)
{
	return (uid_t)(LOCAL_ID_BASE + (unsigned int)t->slot);
}

static int
local_workspace(struct local_task *t, struct exec_result *res)
{
	char	*tmpl;

	tmpl = xasprintf("%s/%" PRId64 "-%s-XXXXXX", t->ex->work_dir,
	    t->run_id, t->step);
	if (mkdtemp(tmpl) == NULL) {
		local_set(res, EXEC_ERROR, -1, "cannot create a workspace "
		    "in %s: %s", t->ex->work_dir, strerror(errno));
		free(tmpl);
		return -1;
	}
	t->dir = tmpl;
	t->ws = xasprintf("%s/ws", t->dir);
	if (chmod(t->dir, 0711) != 0 || mkdir(t->ws, 0700) != 0 ||
	    chown(t->ws, local_uid(t), local_uid(t)) != 0) {
		local_set(res, EXEC_ERROR, -1, "cannot create workspace "
		    "%s: %s", t->ws, strerror(errno));
		return -1;
	}
	return 0;
}

static void
local_sink(struct local_watch *w, const char *p, size_t n)
{
	if (w->log != NULL)
		exec_log_write(w->log, p, n);
	else if (w->buf->len < w->buf->max)
		(void)buf_append(w->buf, p,
		    n < w->buf->max - w->buf->len ? n : w->buf->max -
		    w->buf->len);
}

static void
local_signal(const struct local_watch *w, int sig)
{
	if (kill(w->group ? -w->pid : w->pid, sig) != 0 && errno != ESRCH)
		log_warn("cannot signal %d", (int)w->pid);
}

/* The poll timeout: the sooner of cur (-1: none) and v (clamped at 0). */
static int64_t
local_sooner(int64_t cur, int64_t v)
{
	if (v < 0)
		v = 0;
	return cur < 0 || v < cur ? v : cur;
}

/*
 * Runs w until its process has exited and its output is read: enforces
 * the deadline and a cancel. w->status and w->stop tell the end.
 */
static void
local_watch(struct local_task *t, struct local_watch *w)
{
	struct pollfd	 pfd[3];
	char		*chunk = xmalloc(LOCAL_CHUNK);
	int64_t		 now, deadline, ms, exited_at = -1, kill_at = -1;
	bool		 exited = false, killed = false, cancel;
	ssize_t		 n;
	nfds_t		 np;
	pid_t		 r;
	int		 pidfd, i;

	deadline = t->started + t->timeout_ms;
	pidfd = (int)syscall(SYS_pidfd_open, w->pid, 0);
	w->stop = LOCAL_RAN;
	for (;;) {
		now = time_mono_ms();
		r = exited ? 0 : waitpid(w->pid, &w->status, WNOHANG);
		if (r < 0 && errno == EINTR)
			continue;
		if (r != 0) {
			if (r < 0) {
				/* Reaped behind our back (SIGCHLD ignored?). */
				log_warn("waitpid %d", (int)w->pid);
				w->lost = true;
			}
			exited = true;
			exited_at = now;
		}
		if (exited && (w->fd < 0 || now - exited_at >= LOCAL_DRAIN_MS))
			break;
		if (!exited) {
			pthread_mutex_lock(&t->mtx);
			cancel = t->cancel;
			if (cancel && w->stop != LOCAL_TIMEOUT)
				kill_at = t->kill_at;
			pthread_mutex_unlock(&t->mtx);
			if (cancel && w->stop == LOCAL_RAN) {
				w->stop = LOCAL_CANCEL;
				local_signal(w, SIGTERM);
			}
			if (w->stop == LOCAL_RAN && now >= deadline) {
				w->stop = LOCAL_TIMEOUT;
				kill_at = now;
			}
			if (kill_at >= 0 && now >= kill_at && !killed) {
				local_signal(w, SIGKILL);
				killed = true;
			}
		}

		ms = -1;	/* until something happens */
		if (exited)
			ms = local_sooner(ms, exited_at + LOCAL_DRAIN_MS - now);
		else {
			if (w->stop == LOCAL_RAN)
				ms = local_sooner(ms, deadline - now);
			if (kill_at >= 0 && !killed)
				ms = local_sooner(ms, kill_at - now);
			if (pidfd < 0)
				ms = local_sooner(ms, LOCAL_POLL_MS);
		}
		if (ms > INT_MAX)
			ms = INT_MAX;
		np = 0;
		pfd[np++] = (struct pollfd){ .fd = t->wake[0],
		    .events = POLLIN };
		if (w->fd >= 0)
			pfd[np++] = (struct pollfd){ .fd = w->fd,
			    .events = POLLIN };
		if (!exited && pidfd >= 0)
			pfd[np++] = (struct pollfd){ .fd = pidfd,
			    .events = POLLIN };
		if (poll(pfd, np, (int)ms) < 0) {
			if (errno != EINTR)
				log_warn("poll");
			continue;
		}
		for (i = 0; i < (int)np; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (pfd[i].fd == t->wake[0]) {
				while (read(t->wake[0], chunk, 64) > 0)
					;
			} else if (pfd[i].fd == w->fd) {
				n = read(w->fd, chunk, LOCAL_CHUNK);
				if (n > 0)
					local_sink(w, chunk, (size_t)n);
				else if (n == 0 || (errno != EINTR &&
				    errno != EAGAIN)) {
					close(w->fd);
					w->fd = -1;
				}
			}
		}
	}
	if (w->fd >= 0) {
		close(w->fd);
		w->fd = -1;
	}
	if (pidfd >= 0)
		close(pidfd);
	free(chunk);
}

/* The raw syscalls: see sandbox.c on glibc's setuid in a child. */
static int
local_become(uid_t uid)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
	    syscall(SYS_setgroups, 0, NULL) != 0 ||
	    syscall(SYS_setresgid, uid, uid, uid) != 0 ||
	    syscall(SYS_setresuid, uid, uid, uid) != 0)
		return -1;
	return prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
}

/* Fills the workspace: tar -xzf - as the step's uid. */
static int
local_extract(struct local_task *t, struct exec_result *res)
{
	static char *const	 env[] = { "PATH=/usr/bin:/bin", NULL };
	static char *const	 argv[] = { "tar", "-xzf", "-",
	    "--no-same-owner", NULL };
	struct local_watch	 w;
	struct buf		 err;
	struct rlimit		 fsize;
	const char		*msg;
	char			*first;
	int			 src, ep[2], nul;
	pid_t			 pid;

	if (t->source_path == NULL)
		return 0;
	if ((src = open(t->source_path, O_RDONLY | O_CLOEXEC)) < 0) {
		local_set(res, EXEC_ERROR, -1, "cannot open the source "
		    "archive: %s", strerror(errno));
		return -1;
	}
	if (pipe2(ep, O_CLOEXEC) != 0) {
		local_set(res, EXEC_ERROR, -1, "pipe: %s", strerror(errno));
		close(src);
		return -1;
	}
	fsize.rlim_cur = fsize.rlim_max = (rlim_t)t->ex->max_file_size;
	if ((pid = fork()) < 0) {
		local_set(res, EXEC_ERROR, -1, "fork: %s", strerror(errno));
		close(src);
		close(ep[0]);
		close(ep[1]);
		return -1;
	}
	if (pid == 0) {
		sigset_t	none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setpgid(0, 0);
		if (dup2(src, 0) < 0 || dup2(ep[1], 2) < 0 ||
		    (nul = open("/dev/null", O_WRONLY)) < 0 ||
		    dup2(nul, 1) < 0 || chdir(t->ws) != 0 ||
		    setrlimit(RLIMIT_FSIZE, &fsize) != 0 ||
		    local_become(local_uid(t)) != 0)
			_exit(126);
		umask(022);
		close_range(3, ~0U, 0);
		execve("/bin/tar", argv, env);
		_exit(127);
	}
	setpgid(pid, pid);	/* also here: no race with a kill */
	close(src);
	close(ep[1]);
	fcntl(ep[0], F_SETFL, O_NONBLOCK);

	buf_init(&err, LOCAL_TAR_ERR_MAX);
	memset(&w, 0, sizeof w);
	w.pid = pid;
	w.group = true;
	w.fd = ep[0];
	w.buf = &err;
	local_watch(t, &w);
	if (w.stop == LOCAL_TIMEOUT) {
		local_set(res, EXEC_TIMEOUT, -1, "timed out extracting the "
		    "source");
	} else if (w.stop == LOCAL_CANCEL) {
		local_set(res, EXEC_CANCELLED, -1, "cancelled");
	} else if (w.lost) {
		local_set(res, EXEC_ERROR, -1, "lost track of /bin/tar");
	} else if (!WIFEXITED(w.status) || WEXITSTATUS(w.status) != 0) {
		/* Its first line says it best ("gzip: stdin: not in gzip"). */
		msg = NULL;
		if (err.data != NULL) {
			first = err.data + strspn(err.data, "\n");
			first[strcspn(first, "\n")] = '\0';
			msg = first;
		}
		if (msg == NULL || *msg == '\0')
			msg = WIFEXITED(w.status) && WEXITSTATUS(w.status) >=
			    126 ? "cannot run /bin/tar" : "tar failed";
		local_set(res, EXEC_ERROR, -1, "cannot extract the source "
		    "archive: %s", msg);
	}
	buf_dispose(&err);
	return res->outcome == EXEC_EXITED ? 0 : -1;
}

/* Sends the go byte once the init is in its groups; reads its report. */
static int
local_setup(struct local_task *t, pid_t init, int ctl,
    struct exec_result *res)
{
	struct sandbox_status	st;
	struct pollfd		pfd;
	ssize_t			n;
	int			r;

	if (exec_cg_attach(&t->cg, init) != 0) {
		log_warnx("run=%" PRId64 " step=%s: %s; without cgroups",
		    t->run_id, t->step, err_msg());
		exec_cg_destroy(&t->cg);
	}
	if (send(ctl, "g", 1, MSG_NOSIGNAL) != 1) {
		local_set(res, EXEC_ERROR, -1, "sandbox: init went away: %s",
		    strerror(errno));
		return -1;
	}
	pfd.fd = ctl;
	pfd.events = POLLIN;
	do
		r = poll(&pfd, 1, LOCAL_SETUP_MS);
	while (r < 0 && errno == EINTR);
	if (r <= 0) {
		local_set(res, EXEC_ERROR, -1, "sandbox: no word from init "
		    "in %d ms", LOCAL_SETUP_MS);
		return -1;
	}
	n = recv(ctl, &st, sizeof st, MSG_WAITALL);
	if (n != (ssize_t)sizeof st) {
		local_set(res, EXEC_ERROR, -1, "sandbox: init exited while "
		    "setting up");
		return -1;
	}
	if (st.stage != SANDBOX_OK) {
		local_set(res, EXEC_ERROR, -1, "sandbox: cannot %s: %s",
		    sandbox_stage_name(st.stage), strerror(st.err));
		return -1;
	}
	return 0;
}

/* Fills the init's spec; everything it needs exists before clone(). */
static void
local_spec(struct sandbox_spec *sp, const struct local_task *t)
{
	const struct exec_local	*ex = t->ex;
	size_t			 len = strlen(t->ws);

	memset(sp, 0, sizeof *sp);
	ASSERT(len < sizeof sp->ws);
	memcpy(sp->ws, t->ws, len + 1);
	sp->work_dir = ex->work_dir;
	sp->hide = ex->hide;
	sp->hide_dir = ex->hide_dir;
	sp->nhide = ex->nhide;
	sp->argv = t->argv;
	sp->envp = t->envp;
	sp->network = t->network;
	sp->uid = local_uid(t);
	sp->gid = (gid_t)local_uid(t);
	sp->rl.cpu_s = (uint64_t)((t->timeout_ms + 999) / 1000 +
	    LOCAL_CPU_SLACK_S);
	if (t->memory > 0)
		sp->rl.as = (uint64_t)(t->memory * 2 > LOCAL_AS_MIN ?
		    t->memory * 2 : LOCAL_AS_MIN);
	sp->rl.nproc = (uint64_t)ex->max_procs;
	sp->rl.fsize = (uint64_t)ex->max_file_size;
	sp->rl.nofile = LOCAL_NOFILE;
}

/* Starts the sandbox and watches it; fills res. */
static void
local_sandbox(struct local_task *t, struct exec_result *res)
{
	struct sandbox_spec	 sp;
	struct sandbox_status	 st;
	struct local_watch	 w;
	char			*opts, lim[32], dur[32];
	void			*stack;
	int			 out[2], ctl[2], flags, code;
	pid_t			 init;

	local_spec(&sp, t);
	opts = xasprintf("mode=1777,size=%" PRId64, t->memory > 0 ?
	    t->memory : t->ex->max_file_size);
	sp.tmpfs_opts = opts;
	if (pipe2(out, O_CLOEXEC) != 0) {
		local_set(res, EXEC_ERROR, -1, "pipe: %s", strerror(errno));
		free(opts);
		return;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl) != 0) {
		local_set(res, EXEC_ERROR, -1, "socketpair: %s",
		    strerror(errno));
		close(out[0]);
		close(out[1]);
		free(opts);
		return;
	}
	sp.out_fd = out[1];
	sp.ctl_fd = ctl[1];
	flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS |
	    SIGCHLD;
	if (!t->network)
		flags |= CLONE_NEWNET;

	stack = mmap(NULL, LOCAL_STACK, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED) {
		init = -1;
		errno = ENOMEM;
	} else {
		init = clone(sandbox_init_main, (char *)stack + LOCAL_STACK,
		    flags, &sp);
		munmap(stack, LOCAL_STACK);
	}
	close(out[1]);
	close(ctl[1]);
	free(opts);
	if (init < 0) {
		local_set(res, EXEC_ERROR, -1, "sandbox: cannot create "
		    "namespaces: %s", strerror(errno));
		close(out[0]);
		close(ctl[0]);
		return;
	}
	if (local_setup(t, init, ctl[0], res) != 0) {
		close(ctl[0]);
		close(out[0]);
		kill(init, SIGKILL);
		while (waitpid(init, NULL, 0) < 0 && errno == EINTR)
			;
		return;
	}
	fcntl(out[0], F_SETFL, O_NONBLOCK);

	memset(&w, 0, sizeof w);
	w.pid = init;
	w.fd = out[0];
	w.log = t->log;
	local_watch(t, &w);

	/* The shell's code as the init sent it, else the init's status. */
	if (recv(ctl[0], &st, sizeof st, MSG_DONTWAIT) == (ssize_t)sizeof st &&
	    st.stage == SANDBOX_EXIT)
		code = st.err;
	else if (WIFEXITED(w.status))
		code = WEXITSTATUS(w.status);
	else
		code = 128 + WTERMSIG(w.status);
	close(ctl[0]);
	if (w.stop == LOCAL_TIMEOUT) {
		format_duration(dur, sizeof dur, t->timeout_ms);
		local_set(res, EXEC_TIMEOUT, -1, "timed out after %s", dur);
	} else if (w.stop == LOCAL_CANCEL) {
		local_set(res, EXEC_CANCELLED, -1, "cancelled");
	} else if (w.lost) {
		local_set(res, EXEC_ERROR, -1, "lost track of the step's "
		    "process");
	} else if (code != 0 && exec_cg_oom_kills(&t->cg) > 0) {
		local_format_bytes(lim, sizeof lim, t->cg.memory);
		local_set(res, EXEC_OOM, -1, "killed: out of memory "
		    "(limit %s)", lim);
	} else {
		local_set(res, EXEC_EXITED, code, "%s", "");
		if (code != 0)
			snprintf(res->reason, sizeof res->reason,
			    "exited with code %d", code);
	}
}

static void
local_run(struct local_task *t, struct exec_result *res)
{
	const char	*name;
	bool		 cancel;

	if (!t->ex->root) {
		local_set(res, EXEC_ERROR, -1, "the local sandbox needs root "
		    "(ferry runs as uid %u)", (unsigned int)geteuid());
		return;
	}
	if ((t->slot = local_slot_get(t->ex)) < 0) {
		local_set(res, EXEC_ERROR, -1, "more than %d steps at once",
		    LOCAL_SLOTS);
		return;
	}
	if (local_workspace(t, res) != 0 || local_extract(t, res) != 0)
		return;
	pthread_mutex_lock(&t->mtx);
	cancel = t->cancel;
	pthread_mutex_unlock(&t->mtx);
	if (cancel) {
		local_set(res, EXEC_CANCELLED, -1, "cancelled");
		return;
	}
	name = strrchr(t->dir, '/') + 1;
	if (exec_cg_create(&t->cg, &t->ex->cg, name, t->memory,
	    t->ex->max_procs, t->cpu_milli) != 0)
		log_warnx("run=%" PRId64 " step=%s: %s; without cgroups",
		    t->run_id, t->step, err_msg());
	local_sandbox(t, res);
}

static void *
local_main(void *arg)
{
	struct local_task	*t = arg;
	struct exec_result	 res;
	exec_done_fn		*done = t->done;
	void			*darg = t->arg;

	memset(&res, 0, sizeof res);
	res.outcome = EXEC_EXITED;
	local_run(t, &res);
	if (res.outcome == EXEC_ERROR)
		log_warnx("run=%" PRId64 " step=%s: %s", t->run_id, t->step,
		    res.reason);
	exec_cg_destroy(&t->cg);
	if (t->dir != NULL)
		remove_tree(t->dir);
	local_slot_put(t->ex, t->slot);
	t->slot = -1;

	pthread_mutex_lock(&t->mtx);
	t->result = res;
	t->finished = true;
	pthread_mutex_unlock(&t->mtx);
	/* t may be freed from here on (even by done itself). */
	done(darg);
	return NULL;
}

static void
local_task_dispose(struct local_task *t)
{
	size_t	i;

	for (i = 0; t->envp != NULL && t->envp[i] != NULL; i++)
		free_secret(t->envp[i]);
	free(t->envp);
	if (t->argv != NULL)
		free(t->argv[3]);
	free(t->argv);
	free(t->step);
	free(t->source_path);
	free(t->dir);
	free(t->ws);
	if (t->wake[0] >= 0)
		close(t->wake[0]);
	if (t->wake[1] >= 0)
		close(t->wake[1]);
	pthread_mutex_destroy(&t->mtx);
	free(t);
}

static bool
local_env_has(const struct exec_step *step, const char *name)
{
	size_t	i;

	for (i = 0; i < step->nenv; i++)
		if (strcmp(step->env[i].name, name) == 0)
			return true;
	return false;
}

static const struct exec_ops local_ops;

static int
local_task_start(struct exec_task **out, struct exec *base,
    const struct exec_step *step, struct exec_log *log, exec_done_fn *done,
    void *arg)
{
	struct exec_local	*ex = (struct exec_local *)base;
	struct local_task	*t;
	size_t			 i, n = 0;
	int			 rc;

	t = xcalloc(1, sizeof *t);
	t->base.ops = &local_ops;
	t->ex = ex;
	t->log = log;
	t->done = done;
	t->arg = arg;
	t->slot = -1;
	t->wake[0] = t->wake[1] = -1;
	pthread_mutex_init(&t->mtx, NULL);
	t->run_id = step->run_id;
	t->step = xstrdup(step->step);
	if (step->source_path != NULL)
		t->source_path = xstrdup(step->source_path);
	t->argv = xcalloc(5, sizeof *t->argv);
	t->argv[0] = "sh";
	t->argv[1] = "-e";
	t->argv[2] = "-c";
	t->argv[3] = xstrdup(step->script);
	t->envp = xcalloc(step->nenv + 3, sizeof *t->envp);
	for (i = 0; i < step->nenv; i++)
		t->envp[n++] = xasprintf("%s=%s", step->env[i].name,
		    step->env[i].value);
	if (!local_env_has(step, "PATH"))
		t->envp[n++] = xstrdup("PATH=/usr/local/bin:/usr/bin:/bin");
	if (!local_env_has(step, "HOME"))
		t->envp[n++] = xstrdup("HOME=/tmp");
	t->timeout_ms = step->timeout_ms;
	t->memory = step->memory > 0 ? step->memory : ex->default_memory;
	t->cpu_milli = step->cpu_milli > 0 ? step->cpu_milli :
	    ex->default_cpu_milli;
	t->network = step->network;
	t->started = time_mono_ms();

	if (pipe2(t->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
		rc = err_set(ERR_FAIL, "pipe: %s", strerror(errno));
		t->wake[0] = t->wake[1] = -1;
		local_task_dispose(t);
		return rc;
	}
	if ((rc = pthread_create(&t->thread, NULL, local_main, t)) != 0) {
		rc = err_set(ERR_FAIL, "cannot start a thread: %s",
		    strerror(rc));
		local_task_dispose(t);
		return rc;
	}
	*out = &t->base;
	return 0;
}

static int
local_task_result(struct exec_result *out, struct exec_task *base)
{
	struct local_task	*t = (struct local_task *)base;
	int			 rc = 0;

	pthread_mutex_lock(&t->mtx);
	if (t->finished)
		*out = t->result;
	else
		rc = err_set(ERR_BUSY, "step %s is still running", t->step);
	pthread_mutex_unlock(&t->mtx);
	return rc;
}

static void
local_task_cancel(struct exec_task *base, int64_t grace_ms)
{
	struct local_task	*t = (struct local_task *)base;
	int64_t			 at = time_mono_ms() + grace_ms;
	ssize_t			 n;

	pthread_mutex_lock(&t->mtx);
	if (!t->finished) {
		if (!t->cancel || at < t->kill_at)
			t->kill_at = at;
		t->cancel = true;
	}
	pthread_mutex_unlock(&t->mtx);
	n = write(t->wake[1], "c", 1);	/* full: a wake-up is pending */
	(void)n;
}

static void
local_task_free(struct exec_task *base)
{
	struct local_task	*t = (struct local_task *)base;

	if (pthread_equal(pthread_self(), t->thread)) {
		/* From done(): the thread touches t no more. */
		pthread_detach(t->thread);
	} else {
		local_task_cancel(base, 0);
		pthread_join(t->thread, NULL);
	}
	local_task_dispose(t);
}

static void
local_free(struct exec *base)
{
	struct exec_local	*ex = (struct exec_local *)base;
	size_t			 i;

	ASSERT(ex->nslots == 0);
	for (i = 0; i < ex->nhide; i++)
		free(ex->hide[i]);
	free(ex->hide);
	free(ex->hide_dir);
	exec_cg_root_dispose(&ex->cg);
	pthread_mutex_destroy(&ex->mtx);
	free(ex->work_dir);
	free(ex);
}

static const struct exec_ops local_ops = {
	.name = "local",
	.task_start = local_task_start,
	.task_result = local_task_result,
	.task_cancel = local_task_cancel,
	.task_free = local_task_free,
	.free = local_free,
};

/* Resolves the paths to hide; one that does not exist needs no hiding. */
static void
local_hide(struct exec_local *ex, const struct exec_local_opts *o)
{
	struct stat	 st;
	char		*abs;
	size_t		 i;

	ex->hide = xcalloc(o->nhide ? o->nhide : 1, sizeof *ex->hide);
	ex->hide_dir = xcalloc(o->nhide ? o->nhide : 1, sizeof *ex->hide_dir);
	for (i = 0; i < o->nhide; i++) {
		if ((abs = realpath(o->hide[i], NULL)) == NULL) {
			log_debug("not hiding %s: %s", o->hide[i],
			    strerror(errno));
			continue;
		}
		if (strcmp(abs, "/") == 0 || stat(abs, &st) != 0 ||
		    strlen(abs) >= 4096) {
			log_warnx("cannot hide %s from steps", o->hide[i]);
			free(abs);
			continue;
		}
		ex->hide_dir[ex->nhide] = S_ISDIR(st.st_mode);
		ex->hide[ex->nhide++] = abs;
	}
}

int
exec_local_new(struct exec **out, const struct exec_local_opts *o)
{
	struct exec_local	*ex;
	char			*abs;
	int			 rc;

	*out = NULL;
	ASSERT(o != NULL && o->work_dir != NULL);
	if (o->max_procs < 0 || o->max_file_size < 0 ||
	    o->default_memory < 0 || o->default_cpu_milli < 0)
		return err_set(ERR_INVALID, "negative sandbox limit");
	if ((rc = mkdir_p(o->work_dir, 0711)) != 0)
		return rc;
	if ((abs = realpath(o->work_dir, NULL)) == NULL)
		return err_set(ERR_FAIL, "cannot resolve %s: %s", o->work_dir,
		    strerror(errno));
	if (strlen(abs) > 2048) {
		free(abs);
		return err_set(ERR_INVALID, "work_dir is too long");
	}
	ex = xcalloc(1, sizeof *ex);
	ex->base.ops = &local_ops;
	ex->work_dir = xstrdup(abs);
	free(abs);
	ex->default_cpu_milli = o->default_cpu_milli;
	ex->default_memory = o->default_memory;
	ex->max_procs = o->max_procs > 0 ? o->max_procs : LOCAL_MAX_PROCS;
	ex->max_file_size = o->max_file_size > 0 ? o->max_file_size :
	    LOCAL_MAX_FILE;
	local_hide(ex, o);
	pthread_mutex_init(&ex->mtx, NULL);
	ex->root = geteuid() == 0;
	if (ex->root) {
		exec_cg_root_init(&ex->cg);
		log_info("local sandbox: work_dir=%s cgroups=%s%s%s%s",
		    ex->work_dir, ex->cg.version == EXEC_CG_V2 ? "v2" :
		    ex->cg.version == EXEC_CG_V1 ? "v1" : "none",
		    ex->cg.has[EXEC_CG_MEMORY] ? " memory" : "",
		    ex->cg.has[EXEC_CG_PIDS] ? " pids" : "",
		    ex->cg.has[EXEC_CG_CPU] ? " cpu" : "");
	} else
		log_warnx("the local sandbox needs root: every step will "
		    "fail (ferry runs as uid %u)", (unsigned int)geteuid());
	*out = &ex->base;
	return 0;
}

/*
 * DESIGN
 *
 * The child side of the local sandbox: the init (PID 1) of a step's PID
 * namespace. local.c clone()s it from the task's monitor thread with new
 * PID, mount, IPC, UTS and network namespaces, so it is a copy of a
 * multi-threaded process: another thread may have held malloc's or
 * stdio's lock at that instant, and glibc's own thread bookkeeping is
 * stale. Everything here is therefore a plain syscall on memory the
 * parent prepared (struct sandbox_spec); credentials change through
 * raw syscalls (glibc's setuid() would try to signal the parent's other
 * threads) and the shell is started with _Fork(), which takes no locks.
 *
 * Isolation, in order:
 *  - mounts private, then the whole tree read-only (mount_setattr with
 *    AT_RECURSIVE, so /work, /home and every other mount are covered;
 *    before Linux 5.12, or under valgrind, each mount of
 *    /proc/self/mountinfo in turn); the workspace is a clone of its
 *    mount taken before that, attached back read-write (nosuid, nodev);
 *  - a fresh /proc for the new PID namespace; fresh tmpfs on /tmp,
 *    /var/tmp and /dev/shm, and on /run when there is no network (it
 *    holds the host's service sockets: D-Bus, systemd, container
 *    runtimes, which the step must not reach);
 *  - an empty read-only tmpfs over each hidden directory (data_dir:
 *    other repositories' mirrors and logs) and over work_dir (other
 *    steps' workspaces), /dev/null over each hidden file;
 *  - hostname "ferry-step"; loopback up in the new network namespace;
 *  - rlimits, no_new_privs, then the step's own uid and gid with no
 *    supplementary groups; parent-death signal SIGKILL (set after the
 *    uid change, which clears it).
 * Then it forks sh -e -c <script> and reaps every process of the
 * namespace until the shell exits; its exit status is the shell's (128
 * + signal when the shell was killed), also sent on ctl_fd (an exit
 * status can be rewritten: valgrind's --error-exitcode, for one, would
 * count this copy's "leaks"). When it exits, the kernel kills
 * whatever is left in the namespace. SIGTERM, SIGINT and SIGHUP are
 * forwarded to every process of the namespace: PID 1 would otherwise
 * ignore them, and cancel relies on the step seeing SIGTERM.
 *
 * A failure before the shell starts is reported as one struct
 * sandbox_status (stage and errno) on ctl_fd, then exit 127.
 */
#define _GNU_SOURCE
#include "exec_int.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"

#define SB_HOSTNAME	"ferry-step"


/*
 * prctl(2) as a raw system call: the child is a copy of a multi-threaded
 * process, and a sanitizer's prctl interceptor takes locks (its thread
 * registry, for PR_SET_NAME) that another thread may have held at clone
 * time, which would hang the child forever.
 */
static long
sb_prctl(int option, unsigned long arg)
{
	return syscall(SYS_prctl, option, arg, 0UL, 0UL, 0UL);
}

static const char *const sb_stage_names[] = {
	[SANDBOX_OK] = "ok",
	[SANDBOX_FDS] = "set up file descriptors",
	[SANDBOX_MOUNT_PRIVATE] = "make mounts private",
	[SANDBOX_OPEN_WS] = "clone the workspace mount",
	[SANDBOX_ROOT_RO] = "make the root read-only",
	[SANDBOX_MOUNT_PROC] = "mount /proc",
	[SANDBOX_MOUNT_TMPFS] = "mount a tmpfs",
	[SANDBOX_HIDE] = "hide a path",
	[SANDBOX_MOUNT_WS] = "attach the workspace",
	[SANDBOX_HOSTNAME] = "set the hostname",
	[SANDBOX_LOOPBACK] = "bring up loopback",
	[SANDBOX_CHDIR] = "enter the workspace",
	[SANDBOX_RLIMIT] = "set resource limits",
	[SANDBOX_NO_NEW_PRIVS] = "set no_new_privs",
	[SANDBOX_SETUID] = "switch to the step user",
	[SANDBOX_PDEATHSIG] = "set the parent-death signal",
	[SANDBOX_SIGNALS] = "set up signals",
	[SANDBOX_FORK] = "start the shell",
};

const char *
sandbox_stage_name(int stage)
{
	if (stage < 0 || (size_t)stage >= sizeof sb_stage_names /
	    sizeof sb_stage_names[0] || sb_stage_names[stage] == NULL)
		return "set up";
	return sb_stage_names[stage];
}

static void NORETURN
sb_fail(int ctl, int stage)
{
	struct sandbox_status	st;
	ssize_t			n;

	st.stage = stage;
	st.err = errno;
	n = write(ctl, &st, sizeof st);
	(void)n;
	_exit(127);
}

/* Closes every descriptor from 3 up, except a and b (both >= 3). */
static void
sb_close_except(int a, int b)
{
	unsigned int	lo = (unsigned int)(a < b ? a : b);
	unsigned int	hi = (unsigned int)(a < b ? b : a);
	int		fd;

	if (close_range(hi + 1, ~0U, 0) == 0) {
		if (lo > 3)
			close_range(3, lo - 1, 0);
		if (hi > lo + 1)
			close_range(lo + 1, hi - 1, 0);
		return;
	}
	for (fd = 3; fd < 65536; fd++)		/* kernels before 5.9 */
		if (fd != a && fd != b)
			close(fd);
}

static void
sb_signals_default(void)
{
	struct sigaction	sa;
	sigset_t		all;
	int			sig;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (sig = 1; sig < NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		sigaction(sig, &sa, NULL);	/* glibc's own: EINVAL */
	}
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
}

/* mkdir -p as root; only creates inside fresh tmpfs (the rest exists). */
static int
sb_mkdir_p(const char *path)
{
	char	buf[4096];
	size_t	len = strlen(path), i;

	if (len >= sizeof buf)
		return (errno = ENAMETOOLONG, -1);
	memcpy(buf, path, len + 1);
	for (i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0755) != 0 && errno != EEXIST)
			return -1;
		buf[i] = path[i];
	}
	return 0;
}

/* Where /proc/self/mountinfo is read (the child's own copy). */
static char	sb_mountinfo[1 << 18];

/* Undoes mountinfo's octal escapes ("\040" for a space) in place. */
static void
sb_unescape(char *s)
{
	char	*w = s;

	for (; *s != '\0'; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*w++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
			    (s[3] - '0'));
			s += 3;
		} else
			*w++ = *s;
	}
	*w = '\0';
}

/*
 * Without mount_setattr (kernels before 5.12, valgrind): remounts every
 * mount but skip read-only, one by one, keeping its other flags. Only
 * the root's failure is fatal; a mount that cannot be remounted is
 * hidden under another one.
 */
static int
sb_remount_ro(const char *skip)
{
	struct statvfs	 sv;
	unsigned long	 fl;
	size_t		 len = 0, i;
	ssize_t		 n;
	char		*line, *next, *mp;
	int		 fd;

	if ((fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	while (len < sizeof sb_mountinfo - 1 && (n = read(fd,
	    sb_mountinfo + len, sizeof sb_mountinfo - 1 - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			close(fd);
			return -1;
		}
		len += (size_t)n;
	}
	close(fd);
	if (len == sizeof sb_mountinfo - 1)
		return (errno = E2BIG, -1);
	sb_mountinfo[len] = '\0';
	for (line = sb_mountinfo; *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		else
			next = line + strlen(line);
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT ... */
		for (mp = line, i = 0; i < 4 && mp != NULL; i++)
			if ((mp = strchr(mp, ' ')) != NULL)
				mp++;
		if (mp == NULL)
			continue;
		mp[strcspn(mp, " ")] = '\0';
		sb_unescape(mp);
		if (skip != NULL && strcmp(mp, skip) == 0)
			continue;
		if (statvfs(mp, &sv) != 0) {
			if (strcmp(mp, "/") == 0)
				return -1;
			continue;
		}
		fl = MS_REMOUNT | MS_BIND | MS_RDONLY;
		fl |= sv.f_flag & ST_NOSUID ? MS_NOSUID : 0;
		fl |= sv.f_flag & ST_NODEV ? MS_NODEV : 0;
		fl |= sv.f_flag & ST_NOEXEC ? MS_NOEXEC : 0;
		fl |= sv.f_flag & ST_NOATIME ? MS_NOATIME : 0;
		fl |= sv.f_flag & ST_NODIRATIME ? MS_NODIRATIME : 0;
		fl |= sv.f_flag & ST_RELATIME ? MS_RELATIME : 0;
		if (mount("none", mp, "none", fl, NULL) != 0 &&
		    strcmp(mp, "/") == 0)
			return -1;
	}
	return 0;
}

/* "/proc/self/fd/N" into out (at least 32 bytes). */
static void
sb_fd_path(char *out, int fd)
{
	static const char	prefix[] = "/proc/self/fd/";
	char			digits[16];
	size_t			n = 0;

	do
		digits[n++] = (char)('0' + fd % 10);
	while ((fd /= 10) > 0 && n < sizeof digits);
	memcpy(out, prefix, sizeof prefix - 1);
	out += sizeof prefix - 1;
	while (n > 0)
		*out++ = digits[--n];
	*out = '\0';
}

static void
sb_mounts(const struct sandbox_spec *sp, int ctl)
{
	static const char *const tmpfs_dirs[] = {
		"/tmp", "/var/tmp", "/dev/shm", "/run",
	};
	struct mount_attr	 attr;
	struct stat		 st;
	size_t			 i;
	char			 src[32];
	bool			 tree;
	uint64_t		 hidden = 0;
	int			 ws;

	if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0)
		sb_fail(ctl, SANDBOX_MOUNT_PRIVATE);
	/*
	 * Hold on to the workspace before the root goes read-only and
	 * tmpfs may hide its path: a detached clone of its mount, or
	 * (before Linux 5.2) a bind onto itself, left out of the remount.
	 */
	ws = open_tree(AT_FDCWD, sp->ws, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (!(tree = ws >= 0)) {
		if (errno != ENOSYS ||
		    mount(sp->ws, sp->ws, "none", MS_BIND | MS_REC, NULL)
		    != 0 ||
		    (ws = open(sp->ws, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
			sb_fail(ctl, SANDBOX_OPEN_WS);
	}

	memset(&attr, 0, sizeof attr);
	attr.attr_set = MOUNT_ATTR_RDONLY;
	if (mount_setattr(AT_FDCWD, "/", AT_RECURSIVE, &attr, sizeof attr)
	    != 0 && (errno != ENOSYS || sb_remount_ro(tree ? NULL : sp->ws)
	    != 0))
		sb_fail(ctl, SANDBOX_ROOT_RO);

	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
	    NULL) != 0)
		sb_fail(ctl, SANDBOX_MOUNT_PROC);
	for (i = 0; i < sizeof tmpfs_dirs / sizeof tmpfs_dirs[0]; i++) {
		if (sp->network && strcmp(tmpfs_dirs[i], "/run") == 0)
			continue;
		if (lstat(tmpfs_dirs[i], &st) != 0 || !S_ISDIR(st.st_mode))
			continue;
		if (mount("tmpfs", tmpfs_dirs[i], "tmpfs", MS_NOSUID | MS_NODEV,
		    sp->tmpfs_opts) != 0)
			sb_fail(ctl, SANDBOX_MOUNT_TMPFS);
	}

	/*
	 * Hidden paths, then work_dir (other steps' workspaces), each an
	 * empty tmpfs; read-only once the workspace's path is made in them.
	 */
	ASSERT(sp->nhide <= 64);
	for (i = 0; i < sp->nhide; i++) {
		if ((sp->hide_dir[i] ? mount("tmpfs", sp->hide[i], "tmpfs",
		    MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=64k") :
		    mount("/dev/null", sp->hide[i], "none", MS_BIND, NULL))
		    == 0) {
			hidden |= (uint64_t)1 << i;
			continue;
		}
		/* Gone under a fresh tmpfs (/tmp): nothing to hide. */
		if (errno != ENOENT)
			sb_fail(ctl, SANDBOX_HIDE);
	}
	if (sb_mkdir_p(sp->work_dir) != 0 || mount("tmpfs", sp->work_dir,
	    "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0711,size=64k")
	    != 0)
		sb_fail(ctl, SANDBOX_HIDE);

	/* Its path is gone under one of those tmpfs: make it again. */
	if (sb_mkdir_p(sp->ws) != 0)
		sb_fail(ctl, SANDBOX_MOUNT_WS);
	if (tree) {
		if (move_mount(ws, "", AT_FDCWD, sp->ws,
		    MOVE_MOUNT_F_EMPTY_PATH) != 0)
			sb_fail(ctl, SANDBOX_MOUNT_WS);
	} else {
		sb_fd_path(src, ws);
		if (mount(src, sp->ws, "none", MS_BIND, NULL) != 0)
			sb_fail(ctl, SANDBOX_MOUNT_WS);
	}
	if (mount("none", sp->ws, "none", MS_REMOUNT | MS_BIND | MS_NOSUID |
	    MS_NODEV, NULL) != 0)
		sb_fail(ctl, SANDBOX_MOUNT_WS);
	close(ws);
	for (i = 0; i <= sp->nhide; i++) {
		const char	*p = i < sp->nhide ? sp->hide[i] : sp->work_dir;

		/*
		 * Only what was mounted above: a path that was missing then
		 * may exist now, made for the workspace, but is no mount.
		 */
		if (i < sp->nhide && (!sp->hide_dir[i] ||
		    !(hidden & ((uint64_t)1 << i))))
			continue;
		if (mount("none", p, "none", MS_REMOUNT | MS_BIND | MS_RDONLY |
		    MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0 &&
		    (errno != ENOENT || i == sp->nhide))
			sb_fail(ctl, SANDBOX_HIDE);
	}
}

static void
sb_loopback(int ctl)
{
	struct ifreq	ifr;
	int		s;

	if ((s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		sb_fail(ctl, SANDBOX_LOOPBACK);
	memset(&ifr, 0, sizeof ifr);
	memcpy(ifr.ifr_name, "lo", 3);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0)
		sb_fail(ctl, SANDBOX_LOOPBACK);
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0)
		sb_fail(ctl, SANDBOX_LOOPBACK);
	close(s);
}

/* Sets soft and hard limit to v (0: none), never above the hard limit. */
static int
sb_rlimit(int res, uint64_t v)
{
	struct rlimit	rl;
	rlim_t		want = v == 0 ? RLIM_INFINITY : (rlim_t)v;

	if (getrlimit(res, &rl) != 0)
		return -1;
	if (rl.rlim_max != RLIM_INFINITY &&
	    (want == RLIM_INFINITY || want > rl.rlim_max))
		want = rl.rlim_max;
	rl.rlim_cur = rl.rlim_max = want;
	return setrlimit(res, &rl);
}

static void
sb_limits(const struct sandbox_spec *sp, int ctl)
{
	struct rlimit	none = { 0, 0 };

	struct rlimit	nofile;

	if (setrlimit(RLIMIT_CORE, &none) != 0 ||
	    sb_rlimit(RLIMIT_CPU, sp->rl.cpu_s) != 0 ||
	    sb_rlimit(RLIMIT_NPROC, sp->rl.nproc) != 0 ||
	    sb_rlimit(RLIMIT_FSIZE, sp->rl.fsize) != 0)
		sb_fail(ctl, SANDBOX_RLIMIT);
	if (sb_rlimit(RLIMIT_NOFILE, sp->rl.nofile) == 0)
		return;
	/* valgrind will not have this hard limit moved: the soft one. */
	if (errno != EPERM || getrlimit(RLIMIT_NOFILE, &nofile) != 0)
		sb_fail(ctl, SANDBOX_RLIMIT);
	if (nofile.rlim_cur > sp->rl.nofile)
		nofile.rlim_cur = sp->rl.nofile;
	if (setrlimit(RLIMIT_NOFILE, &nofile) != 0)
		sb_fail(ctl, SANDBOX_RLIMIT);
}

static void
sb_drop(const struct sandbox_spec *sp, int ctl)
{
	if (sb_prctl(PR_SET_NO_NEW_PRIVS, 1) != 0)
		sb_fail(ctl, SANDBOX_NO_NEW_PRIVS);
	if (syscall(SYS_setgroups, 0, NULL) != 0 ||
	    syscall(SYS_setresgid, sp->gid, sp->gid, sp->gid) != 0 ||
	    syscall(SYS_setresuid, sp->uid, sp->uid, sp->uid) != 0)
		sb_fail(ctl, SANDBOX_SETUID);
	if (getuid() != sp->uid || geteuid() != sp->uid)
		sb_fail(ctl, SANDBOX_SETUID);
	/*
	 * This process is a copy of ferry's memory, secrets included: the
	 * step's processes (same uid) must not read it through ptrace or
	 * /proc/1/mem. The uid change made it undumpable already; say so.
	 */
	if (sb_prctl(PR_SET_DUMPABLE, 0) != 0)
		sb_fail(ctl, SANDBOX_SETUID);
	/* Cleared by the uid change: set it now. */
	if (sb_prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
		sb_fail(ctl, SANDBOX_PDEATHSIG);
}

static void NORETURN
sb_shell(const struct sandbox_spec *sp, int out)
{
	static const char	msg[] = "ferry: cannot run /bin/sh\n";
	ssize_t			n;

	sb_signals_default();
	if (dup2(out, 1) < 0 || dup2(out, 2) < 0)
		_exit(127);
	close_range(3, ~0U, 0);
	/*
	 * The address-space limit only now: this copy of ferry may map
	 * more (a sanitizer's runtime does), the shell starts afresh.
	 */
	if (sb_rlimit(RLIMIT_AS, sp->rl.as) != 0)
		_exit(127);
	execve("/bin/sh", sp->argv, sp->envp);
	n = write(2, msg, sizeof msg - 1);
	(void)n;
	_exit(127);
}

/*
 * Reaps every process of the namespace until the shell exits, passing
 * SIGTERM, SIGINT and SIGHUP on to all of them (PID 1 would ignore
 * them otherwise). Signals arrive through a signalfd, not a handler:
 * nothing runs asynchronously in this copy of ferry (a sanitizer's
 * runtime would defer a handler until it is too late).
 */
static void NORETURN
sb_exit(int ctl, int status)
{
	struct sandbox_status	st;
	ssize_t			n;
	int			code;

	if (WIFEXITED(status))
		code = WEXITSTATUS(status);
	else
		code = 128 + WTERMSIG(status);
	st.stage = SANDBOX_EXIT;
	st.err = code;
	n = write(ctl, &st, sizeof st);
	(void)n;
	_exit(code);
}

static void NORETURN
sb_reap(int ctl, int sfd, pid_t sh)
{
	struct signalfd_siginfo	si;
	ssize_t			n;
	pid_t			w;
	int			status;

	for (;;) {
		n = read(sfd, &si, sizeof si);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof si)
			break;
		if (si.ssi_signo != SIGCHLD) {
			kill(-1, (int)si.ssi_signo);
			continue;
		}
		while ((w = waitpid(-1, &status, WNOHANG)) > 0)
			if (w == sh)
				sb_exit(ctl, status);
	}
	/* The signalfd failed: wait for the shell alone. */
	while ((w = waitpid(sh, &status, 0)) < 0 && errno == EINTR)
		;
	if (w == sh)
		sb_exit(ctl, status);
	_exit(127);
}

int
sandbox_init_main(void *arg)
{
	const struct sandbox_spec	*sp = arg;
	struct sandbox_status		 ok;
	sigset_t			 set;
	ssize_t				 n;
	pid_t				 sh;
	char				 go;
	int				 ctl, out, nul, sfd;

	/* First of all: die with ferry, even in the middle of the setup. */
	(void)sb_prctl(PR_SET_PDEATHSIG, SIGKILL);
	sb_signals_default();
	(void)sb_prctl(PR_SET_NAME, (unsigned long)"ferry-init");
	if ((ctl = fcntl(sp->ctl_fd, F_DUPFD_CLOEXEC, 3)) < 0)
		_exit(127);
	if ((out = fcntl(sp->out_fd, F_DUPFD_CLOEXEC, 3)) < 0)
		sb_fail(ctl, SANDBOX_FDS);
	if ((nul = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0 ||
	    dup2(nul, 0) < 0 || dup2(nul, 1) < 0 || dup2(nul, 2) < 0)
		sb_fail(ctl, SANDBOX_FDS);
	sb_close_except(ctl, out);

	/* Wait until the parent has put us into the task's cgroups. */
	if (read(ctl, &go, 1) != 1)
		_exit(127);

	sb_mounts(sp, ctl);
	if (sethostname(SB_HOSTNAME, sizeof SB_HOSTNAME - 1) != 0)
		sb_fail(ctl, SANDBOX_HOSTNAME);
	if (!sp->network)
		sb_loopback(ctl);
	if (chdir(sp->ws) != 0)
		sb_fail(ctl, SANDBOX_CHDIR);
	umask(022);
	sb_limits(sp, ctl);
	sb_drop(sp, ctl);

	/* Blocked before the fork: no exit or TERM can be missed. */
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0 ||
	    (sfd = signalfd(-1, &set, SFD_CLOEXEC)) < 0)
		sb_fail(ctl, SANDBOX_SIGNALS);
	if ((sh = _Fork()) < 0)
		sb_fail(ctl, SANDBOX_FORK);
	if (sh == 0)
		sb_shell(sp, out);
	close(out);
	ok.stage = SANDBOX_OK;
	ok.err = 0;
	n = write(ctl, &ok, sizeof ok);
	(void)n;
	sb_reap(ctl, sfd, sh);
}

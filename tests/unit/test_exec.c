/*
 * Tests of the exec module: the step log (masking, split secrets, cap)
 * on real files, and the local sandbox running real steps from a real
 * tar.gz made with the system tar. The sandbox needs root (as in CI);
 * without it those tests say so and pass. Every wait is bounded.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "exec.h"
#include "util.h"

#define WAIT_SLACK_MS	30000		/* beyond a step's own timeout */
#define LOG_MAX		(16 << 20)

static char		 T[PATH_MAX];	/* the test's directory, in /tmp */
static char		*archive;	/* T/src.tar.gz */
static char		*workdir;	/* T/work */
static struct exec	*ex;
static int		 nlog;		/* names T/logs/N.log */

/* Runs argv, waiting for it; returns its exit status (-1: not run). */
static int
run(const char *dir, const char *const argv[])
{
	int	status;
	pid_t	pid;

	if ((pid = fork()) == 0) {
		if (dir != NULL && chdir(dir) != 0)
			_exit(126);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
write_file(const char *path, const char *text)
{
	FILE	*f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
}

static char *
read_text(const char *path)
{
	char	*data;

	ck_assert_int_eq(file_read(&data, NULL, path, 64 << 20), 0);
	return data;
}

static void
rm_tree(const char *dir)
{
	ck_assert_int_eq(run(NULL, (const char *const[]){ "rm", "-rf", dir,
	    NULL }), 0);
}

/* Entries in dir other than . and .. */
static int
count_entries(const char *dir)
{
	DIR		*d = opendir(dir);
	struct dirent	*e;
	int		 n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void
setup(void)
{
	struct exec_local_opts	 o;
	char			*src, *sub;

	snprintf(T, sizeof T, "/tmp/ferry-exec-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(T));
	src = xasprintf("%s/src", T);
	sub = xasprintf("%s/src/sub", T);
	ck_assert_int_eq(mkdir(src, 0755), 0);
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	free(sub);
	sub = xasprintf("%s/src/hello.txt", T);
	write_file(sub, "hello from the archive\n");
	free(sub);
	sub = xasprintf("%s/src/sub/data", T);
	write_file(sub, "nested data\n");
	free(sub);
	archive = xasprintf("%s/src.tar.gz", T);
	ck_assert_int_eq(run(src, (const char *const[]){ "tar", "-czf",
	    archive, ".", NULL }), 0);
	free(src);
	workdir = xasprintf("%s/work", T);
	nlog = 0;

	memset(&o, 0, sizeof o);
	o.work_dir = workdir;
	o.max_procs = 128;
	ex = NULL;
	ck_assert_int_eq(exec_local_new(&ex, &o), 0);
}

static void
teardown(void)
{
	exec_free(ex);
	ex = NULL;
	rm_tree(T);
	free(archive);
	free(workdir);
}

static bool
need_root(void)
{
	if (geteuid() == 0)
		return true;
	fprintf(stderr, "exec: not root, sandbox test skipped\n");
	return false;
}

/* done(arg): wakes the test. */
struct waiter {
	pthread_mutex_t	 mtx;
	pthread_cond_t	 cv;
	int		 done;
};

static void
waiter_done(void *arg)
{
	struct waiter	*w = arg;

	pthread_mutex_lock(&w->mtx);
	w->done++;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mtx);
}

static void
waiter_init(struct waiter *w)
{
	pthread_mutex_init(&w->mtx, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->done = 0;
}

/* Waits until w->done reaches n, at most ms; returns w->done. */
static int
waiter_wait(struct waiter *w, int n, int64_t ms)
{
	struct timespec	ts;
	int		got;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&w->mtx);
	while (w->done < n)
		if (pthread_cond_timedwait(&w->cv, &w->mtx, &ts) != 0)
			break;
	got = w->done;
	pthread_mutex_unlock(&w->mtx);
	return got;
}

static void
step_init(struct exec_step *s, const char *script)
{
	memset(s, 0, sizeof *s);
	s->run_id = 7;
	s->repo = "acme/shop";
	s->step = "test";
	s->script = script;
	s->timeout_ms = 20000;
	s->source_path = archive;
}

/* A started step, its log and its waiter. */
struct job {
	struct exec_task	*task;
	struct exec_log		*log;
	char			*path;
	struct waiter		 w;
	int64_t			 started;
};

static void
job_start_on(struct job *j, struct exec *e, const struct exec_step *s,
    int64_t max, const char *const *secrets, size_t nsecrets)
{
	memset(j, 0, sizeof *j);
	waiter_init(&j->w);
	j->path = xasprintf("%s/logs/7/%d.log", T, nlog++);
	ck_assert_int_eq(exec_log_open(&j->log, j->path, max, secrets,
	    nsecrets), 0);
	j->started = time_mono_ms();
	ck_assert_int_eq(exec_task_start(&j->task, e, s, j->log, waiter_done,
	    &j->w), 0);
}

/* Waits for the end; fills res and the log's text (caller frees). */
static char *
job_finish(struct job *j, struct exec_result *res, int64_t timeout_ms)
{
	char	*text;

	ck_assert_int_eq(waiter_wait(&j->w, 1, timeout_ms + WAIT_SLACK_MS),
	    1);
	ck_assert_int_eq(exec_task_result(res, j->task), 0);
	exec_task_free(j->task);
	exec_log_close(j->log);
	text = read_text(j->path);
	free(j->path);
	pthread_mutex_destroy(&j->w.mtx);
	pthread_cond_destroy(&j->w.cv);
	return text;
}

static char *
run_step(const struct exec_step *s, struct exec_result *res)
{
	struct job	j;

	job_start_on(&j, ex, s, LOG_MAX, NULL, 0);
	return job_finish(&j, res, s->timeout_ms);
}

/* Waits (bounded) until the log file at path contains needle. */
static bool
log_wait_for(const char *path, const char *needle, int64_t ms)
{
	int64_t	 end = time_mono_ms() + ms;
	char	*text;
	bool	 found = false;

	while (!found && time_mono_ms() < end) {
		if (file_read(&text, NULL, path, 1 << 20) == 0) {
			found = strstr(text, needle) != NULL;
			free(text);
		}
		if (!found)
			usleep(20000);
	}
	return found;
}

/* Whether a process with needle as one of its arguments exists. */
static bool
process_with_arg(const char *needle)
{
	DIR		*d = opendir("/proc");
	struct dirent	*e;
	char		 path[300], buf[4096];
	bool		 found = false;
	ssize_t		 n, i;
	int		 fd;

	ck_assert_ptr_nonnull(d);
	while (!found && (e = readdir(d)) != NULL) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		ck_assert_int_lt(snprintf(path, sizeof path, "/proc/%s/cmdline",
		    e->d_name), (int)sizeof path);
		if ((fd = open(path, O_RDONLY)) < 0)
			continue;
		n = read(fd, buf, sizeof buf - 1);
		close(fd);
		for (i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1) {
			buf[n] = '\0';
			if (strcmp(buf + i, needle) == 0)
				found = true;
		}
	}
	closedir(d);
	return found;
}

/* ---- exec_log ---- */

START_TEST(log_path_layout)
{
	char	*p = exec_log_path("/var/ferry", 42, "build");

	ck_assert_str_eq(p, "/var/ferry/logs/42/build.log");
	free(p);
}
END_TEST

START_TEST(log_writes_as_it_goes)
{
	struct exec_log	*log;
	char		*path = xasprintf("%s/logs/1/a.log", T), *text;

	ck_assert_int_eq(exec_log_open(&log, path, 1024, NULL, 0), 0);
	exec_log_write(log, "line one\n", 9);
	text = read_text(path);		/* before close */
	ck_assert_str_eq(text, "line one\n");
	free(text);
	exec_log_write(log, "two\n", 4);
	exec_log_close(log);
	text = read_text(path);
	ck_assert_str_eq(text, "line one\ntwo\n");
	free(text);
	/* Reopening truncates. */
	ck_assert_int_eq(exec_log_open(&log, path, 1024, NULL, 0), 0);
	exec_log_close(log);
	text = read_text(path);
	ck_assert_str_eq(text, "");
	free(text);
	free(path);
}
END_TEST

START_TEST(log_masks_secrets)
{
	const char	*secrets[] = { "supersecret", "", "hunter2", "ab" };
	struct exec_log	*log;
	char		*path = xasprintf("%s/a.log", T), *text;
	const char	*in = "pw=supersecret, again supersecret; hunter2 "
	    "xab abab\n";

	ck_assert_int_eq(exec_log_open(&log, path, 1024, secrets, 4), 0);
	exec_log_write(log, in, strlen(in));
	exec_log_close(log);
	text = read_text(path);
	ck_assert_str_eq(text, "pw=****, again ****; **** x**** ********\n");
	free(text);
	free(path);
}
END_TEST

START_TEST(log_masks_split_secrets)
{
	const char	*secrets[] = { "supersecret", "tail" };
	struct exec_log	*log;
	char		*path = xasprintf("%s/a.log", T), *text;
	const char	*in = "a supersecret b supersecret c tail";
	size_t		 i, len = strlen(in);

	/* Byte by byte: every secret is split across writes. */
	ck_assert_int_eq(exec_log_open(&log, path, 1024, secrets, 2), 0);
	for (i = 0; i < len; i++)
		exec_log_write(log, in + i, 1);
	exec_log_close(log);	/* flushes the held-back "tail" */
	text = read_text(path);
	ck_assert_str_eq(text, "a **** b **** c ****");
	free(text);

	/* Split in two, with a near miss held back at the end. */
	ck_assert_int_eq(exec_log_open(&log, path, 1024, secrets, 2), 0);
	exec_log_write(log, "x sup", 5);
	exec_log_write(log, "ersecret y super", 16);
	exec_log_close(log);
	text = read_text(path);
	ck_assert_str_eq(text, "x **** y super");
	free(text);
	free(path);
}
END_TEST

START_TEST(log_caps_with_marker)
{
	struct exec_log	*log;
	char		*path = xasprintf("%s/a.log", T), *text;
	int		 i;

	ck_assert_int_eq(exec_log_open(&log, path, 10, NULL, 0), 0);
	for (i = 0; i < 5; i++)
		exec_log_write(log, "abcd", 4);
	exec_log_close(log);
	text = read_text(path);
	ck_assert_str_eq(text, "abcdabcdab\n[log truncated at 10 bytes]\n");
	free(text);

	/* With masking: the cap counts what reaches the file. */
	{
		const char	*s[] = { "secretvalue" };

		ck_assert_int_eq(exec_log_open(&log, path, 6, s, 1), 0);
		exec_log_write(log, "secretvalue", 11);
		exec_log_write(log, "secretvalue", 11);
		exec_log_close(log);
	}
	text = read_text(path);
	ck_assert_str_eq(text, "******\n[log truncated at 6 bytes]\n");
	free(text);
	free(path);
}
END_TEST

START_TEST(log_open_fails_cleanly)
{
	struct exec_log	*log = (void *)1;
	char		*path = xasprintf("%s/file/x.log", T), *f;

	f = xasprintf("%s/file", T);
	write_file(f, "not a directory");
	ck_assert_int_eq(exec_log_open(&log, path, 10, NULL, 0), ERR_FAIL);
	ck_assert_ptr_null(log);
	exec_log_close(NULL);
	free(f);
	free(path);
}
END_TEST

/* ---- the interface ---- */

START_TEST(exec_rejects_bad_steps)
{
	struct exec_step	 s;
	struct exec_task	*t = (void *)1;
	struct exec_log		*log;
	struct waiter		 w;
	struct exec_env		 env = { "A=B", "x", false };
	char			*path = xasprintf("%s/a.log", T);

	ck_assert_str_eq(exec_name(ex), "local");
	waiter_init(&w);
	ck_assert_int_eq(exec_log_open(&log, path, 10, NULL, 0), 0);
	step_init(&s, "true");
	s.timeout_ms = 0;
	ck_assert_int_eq(exec_task_start(&t, ex, &s, log, waiter_done, &w),
	    ERR_INVALID);
	ck_assert_ptr_null(t);
	step_init(&s, "true");
	s.step = "../x";
	ck_assert_int_eq(exec_task_start(&t, ex, &s, log, waiter_done, &w),
	    ERR_INVALID);
	step_init(&s, "true");
	s.env = &env;
	s.nenv = 1;
	ck_assert_int_eq(exec_task_start(&t, ex, &s, log, waiter_done, &w),
	    ERR_INVALID);
	exec_log_close(log);
	free(path);
}
END_TEST

/* ---- the local sandbox ---- */

START_TEST(local_output_in_order)
{
	struct exec_step	s;
	struct exec_result	r;
	char			*text;

	if (!need_root())
		return;
	step_init(&s, "echo out1\necho err1 >&2\necho out2\n"
	    "echo err2 >&2; echo out3");
	text = run_step(&s, &r);
	ck_assert_int_eq(r.outcome, EXEC_EXITED);
	ck_assert_int_eq(r.exit_code, 0);
	ck_assert_str_eq(r.reason, "");
	ck_assert_str_eq(text, "out1\nerr1\nout2\nerr2\nout3\n");
	free(text);
}
END_TEST

START_TEST(local_exit_code)
{
	struct exec_step	s;
	struct exec_result	r;
	char			*text;

	if (!need_root())
		return;
	step_init(&s, "echo before; exit 3");
	text = run_step(&s, &r);
	ck_assert_int_eq(r.outcome, EXEC_EXITED);
	ck_assert_int_eq(r.exit_code, 3);
	ck_assert_str_eq(text, "before\n");
	free(text);
}
END_TEST

START_TEST(local_sh_e_stops)
{
	struct exec_step	s;
	struct exec_result	r;
	char			*text;

	if (!need_root())
		return;
	step_init(&s, "echo one\nfalse\necho after");
	text = run_step(&s, &r);
	ck_assert_int_eq(r.outcome, EXEC_EXITED);
	ck_assert_int_eq(r.exit_code, 1);
	ck_assert_str_eq(text, "one\n");
	free(text);
}
END_TEST

START_TEST(local_workspace_filled_and_removed)
{
	struct exec_step	s;
	struct exec_result	r;
	char			*text;

	if (!need_root())
		return;
	step_init(&s, "cat hello.txt sub/data\n"
	    "echo made > new.txt; mkdir -p d/e; echo x > d/e/f\n"
	    "cat new.txt; chmod 000 d; touch hello.txt && echo OWNED");
	text = run_step(&s, &r);
	ck_assert_int_eq(r.outcome, EXEC_EXITED);
	ck_assert_int_eq(r.exit_code, 0);
	ck_assert_str_eq(text, "hello from the archive\nnested data\nmade\n"
	    "OWNED\n");
	free(text);
	/* Nothing left of the workspace. */
	ck_assert_int_eq(count_entries(workdir), 0);
}
END_TEST

START_TEST(local_bad_archive_is_an_error)
{
	struct exec_step	 s;
	struct exec_result	 r;
	char			*text, *bad = xasprintf("%s/bad.tar.gz", T);

	if (!need_root()) {
		free(bad);
		return;
	}
	step_init(&s, "true");
	s.source_path = "/nonexistent/src.tar.gz";
	text = run_step(&s, &r);
	ck_assert_int_eq(r.outcome, EXEC_ERROR);
	ck_assert_int_eq(r.exit_code, -1);
	ck_assert_ptr_nonnull(strstr(r.reason, "source archive"));
	free(text);

	write_file(bad, "this is not gzip");
	step_init(&s, "true");
	s.source_path = bad;
	text = run_step(&s, &r);
	ck_assert_int_eq(r.outcome, EXEC_ERROR);
	ck_assert_ptr_nonnull(strstr(r.reason, "cannot extract"));
	free(text);
	free(bad);
	ck_assert_int_eq(count_entries(workdir), 0);
}
END_TEST

START_TEST(local_timeout_kills_the_tree)
{
	struct exec_step	s;
	struct exec_result	r;
	char			*text;
	int64_t			 t0 = time_mono_ms();

	if (!need_root())
		return;
	step_init(&s, "sleep 31.4159 & sleep 31.4159");
	s.timeout_ms = 1000;
	text = run_step(&s, &r);
	ck_assert_int_eq(r.outcome, EXEC_TIMEOUT);
	ck_assert_int_eq(r.exit_code, -1);
	ck_assert_str_eq(r.reason, "timed out after 1s");
	ck_assert_int_lt(time_mono_ms() - t0, 5000);
	/* The background sleep died with the namespace. */
	ck_assert(!process_with_arg("31.4159"));
	free(text);
}
END_TEST

static int
listen_loopback(int *port)
{
	struct sockaddr_in	sa;
	socklen_t		len = sizeof sa;
	int			fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	ck_assert_int_ge(fd, 0);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(listen(fd, 8), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

START_TEST(local_no_network)
{
	struct exec_step	 s;
	struct exec_result	 r;
	char			*text, *script;
	int			 fd, port, c;

	if (!need_root())
		return;
	if (access("/bin/bash", X_OK) != 0) {
		fprintf(stderr, "exec: no /bin/bash, network test skipped\n");
		return;
	}
	fd = listen_loopback(&port);
	script = xasprintf("bash -c 'echo hi > /dev/tcp/127.0.0.1/%d' && "
	    "echo CONNECTED\n", port);
	step_init(&s, script);
	text = run_step(&s, &r);
	ck_assert_int_eq(r.outcome, EXEC_EXITED);
	ck_assert_int_ne(r.exit_code, 0);
	ck_assert_ptr_null(strstr(text, "CONNECTED"));
	ck_assert_int_lt(accept(fd, NULL, NULL), 0);
	free(text);

	/* Its own loopback is up: refused, not unreachable. */
	step_init(&s, "bash -c ': < /dev/tcp/127.0.0.1/1' || true");
	text = run_step(&s, &r);
	ck_assert_int_eq(r.exit_code, 0);
	ck_assert_msg(strstr(text, "refused") != NULL, "log: %s", text);
	free(text);

	/* With network: true the same step reaches the host. */
	step_init(&s, script);
	s.network = true;
	text = run_step(&s, &r);
	ck_assert_int_eq(r.outcome, EXEC_EXITED);
	ck_assert_int_eq(r.exit_code, 0);
	ck_assert_ptr_nonnull(strstr(text, "CONNECTED"));
	c = accept(fd, NULL, NULL);
	ck_assert_int_ge(c, 0);
	close(c);
	free(text);
	free(script);
	close(fd);
}
END_TEST

START_TEST(local_fork_bomb_is_contained)
{
	struct exec_local_opts	 o;
	struct exec		*small;
	struct exec_step	 s;
	struct exec_result	 r;
	struct job		 j;
	char			*text;
	int64_t			 t0 = time_mono_ms();

	if (!need_root())
		return;
	memset(&o, 0, sizeof o);
	o.work_dir = workdir;
	o.max_procs = 64;
	ck_assert_int_eq(exec_local_new(&small, &o), 0);
	step_init(&s, "i=0; while [ $i -lt 10000 ]; do sleep 5 & "
	    "i=$((i+1)); done; echo SURVIVED");
	s.timeout_ms = 30000;
	job_start_on(&j, small, &s, LOG_MAX, NULL, 0);
	text = job_finish(&j, &r, s.timeout_ms);
	ck_assert_int_eq(r.outcome, EXEC_EXITED);
	ck_assert_int_ne(r.exit_code, 0);
	ck_assert_ptr_null(strstr(text, "SURVIVED"));
	ck_assert_int_lt(time_mono_ms() - t0, 20000);
	/* The host can still fork. */
	ck_assert_int_eq(run(NULL, (const char *const[]){ "true", NULL }), 0);
	free(text);
	exec_free(small);
}
END_TEST

START_TEST(local_cannot_write_outside)
{
	struct exec_step	 s;
	struct exec_result	 r;
	char			 host[PATH_MAX + 32], cwd[PATH_MAX];
	char			*script, *text, *f;

	if (!need_root())
		return;
	/* Not under /tmp (the sandbox has its own): next to the test. */
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
	snprintf(host, sizeof host, "%s/ferry-exec-host-XXXXXX", cwd);
	ck_assert_ptr_nonnull(mkdtemp(host));
	ck_assert_int_eq(chmod(host, 0777), 0);
	script = xasprintf(
	    "if echo x > %s/f; then echo WROTE1; fi\n"
	    "if touch /etc/ferry-exec-test 2>&1; then echo WROTE2; fi\n"
	    "if echo x > /tmp/f; then echo TMPOK; fi\n"
	    "if echo x > inws; then echo WSOK; fi\n"
	    "echo done", host);
	step_init(&s, script);
	text = run_step(&s, &r);
	ck_assert_int_eq(r.exit_code, 0);
	ck_assert_ptr_null(strstr(text, "WROTE"));
	ck_assert_msg(strstr(text, "Read-only file system") != NULL,
	    "log: %s", text);
	ck_assert_ptr_nonnull(strstr(text, "TMPOK\nWSOK\ndone\n"));
	f = xasprintf("%s/f", host);
	ck_assert_int_ne(access(f, F_OK), 0);
	ck_assert_int_ne(access("/etc/ferry-exec-test", F_OK), 0);
	ck_assert_int_ne(access("/tmp/f", F_OK), 0);
	free(f);
	free(text);
	free(script);
	rmdir(host);
}
END_TEST

START_TEST(local_hides_paths)
{
	struct exec_local_opts	 o;
	struct exec		*e;
	struct exec_step	 sa, sb;
	struct exec_result	 r;
	struct job		 ja, jb;
	char			 h[PATH_MAX + 32], cwd[PATH_MAX];
	char			*work, *data, *conf, *f, *script, *text, *nb;
	const char		*hide[3];
	int64_t			 end;

	if (!need_root())
		return;
	/* Outside /tmp, which the sandbox replaces anyway. */
	ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
	snprintf(h, sizeof h, "%s/ferry-exec-hide-XXXXXX", cwd);
	ck_assert_ptr_nonnull(mkdtemp(h));
	ck_assert_int_eq(chmod(h, 0755), 0);
	work = xasprintf("%s/work", h);
	data = xasprintf("%s/data", h);
	conf = xasprintf("%s/ferry.yml", h);
	ck_assert_int_eq(mkdir(data, 0755), 0);
	f = xasprintf("%s/secret.txt", data);
	write_file(f, "top secret\n");
	write_file(conf, "token: abc\n");
	ck_assert_int_eq(chmod(f, 0644), 0);
	ck_assert_int_eq(chmod(conf, 0644), 0);
	hide[0] = data;
	hide[1] = conf;
	hide[2] = "/nonexistent/ferry";
	memset(&o, 0, sizeof o);
	o.work_dir = work;
	o.hide = hide;
	o.nhide = 3;
	ck_assert_int_eq(exec_local_new(&e, &o), 0);

	/* A neighbour whose workspace must stay out of sight. */
	step_init(&sa, "echo ready; sleep 30");
	sa.step = "neighbour";
	job_start_on(&ja, e, &sa, LOG_MAX, NULL, 0);
	ck_assert(log_wait_for(ja.path, "ready", 10000));
	end = time_mono_ms() + 10000;
	while (count_entries(work) < 1 && time_mono_ms() < end)
		usleep(10000);
	ck_assert_int_eq(count_entries(work), 1);

	{
		DIR		*d = opendir(work);
		struct dirent	*de;

		ck_assert_ptr_nonnull(d);
		while ((de = readdir(d)) != NULL && de->d_name[0] == '.')
			;
		ck_assert_ptr_nonnull(de);
		nb = xasprintf("%s/%s", work, de->d_name);
		closedir(d);
	}
	/*
	 * Where the test's directories lie under /tmp (a CI checkout), the
	 * sandbox's fresh /tmp hides them by leaving them out altogether:
	 * the script must pass either way.
	 */
	script = xasprintf("if test -e %s; then echo NEIGHBOUR; fi\n"
	    "cat %s/secret.txt 2>/dev/null || echo NODATA\n"
	    "cat %s 2>/dev/null || :; echo conf-end\n"
	    "ls -A %s 2>/dev/null | wc -l\n"
	    "touch %s/x 2>/dev/null || echo RO\n"
	    "cat hello.txt", nb, data, conf, data, data);
	step_init(&sb, script);
	job_start_on(&jb, e, &sb, LOG_MAX, NULL, 0);
	text = job_finish(&jb, &r, sb.timeout_ms);
	ck_assert_int_eq(r.outcome, EXEC_EXITED);
	ck_assert_int_eq(r.exit_code, 0);
	ck_assert_ptr_null(strstr(text, "secret\n"));
	ck_assert_ptr_null(strstr(text, "token"));
	ck_assert_ptr_null(strstr(text, "NEIGHBOUR"));
	ck_assert_msg(strstr(text, "NODATA\nconf-end\n0\n") != NULL,
	    "log: %s", text);
	ck_assert_ptr_nonnull(strstr(text, "RO\nhello from the archive\n"));
	free(text);

	exec_task_cancel(ja.task, 0);
	text = job_finish(&ja, &r, 10000);
	ck_assert_int_eq(r.outcome, EXEC_CANCELLED);
	free(text);
	exec_free(e);
	/* The host's files are untouched. */
	text = read_text(f);
	ck_assert_str_eq(text, "top secret\n");
	free(text);
	rm_tree(h);
	free(nb);
	free(script);
	free(f);
	free(work);
	free(data);
	free(conf);
}
END_TEST

START_TEST(local_environment_is_exact)
{
	struct exec_step	 s;
	struct exec_result	 r;
	struct exec_env		 env[] = {
		{ "CI", "true", false },
		{ "FERRY_RUN_ID", "7", false },
		{ "FOO", "bar baz", false },
	};
	char			*text, *line, *next;
	int			 n = 0;

	if (!need_root())
		return;
	setenv("FERRY_TEST_HOST_VAR", "leak", 1);
	step_init(&s, "env");
	s.env = env;
	s.nenv = 3;
	text = run_step(&s, &r);
	ck_assert_int_eq(r.exit_code, 0);
	ck_assert_ptr_null(strstr(text, "FERRY_TEST_HOST_VAR"));
	for (line = text; *line != '\0'; line = next) {
		next = strchr(line, '\n');
		ck_assert_ptr_nonnull(next);
		*next++ = '\0';
		ck_assert_msg(strcmp(line, "CI=true") == 0 ||
		    strcmp(line, "FERRY_RUN_ID=7") == 0 ||
		    strcmp(line, "FOO=bar baz") == 0 ||
		    strcmp(line, "PATH=/usr/local/bin:/usr/bin:/bin") == 0 ||
		    strcmp(line, "HOME=/tmp") == 0 ||
		    strncmp(line, "PWD=", 4) == 0, "unexpected: %s", line);
		n++;
	}
	ck_assert_int_eq(n, 6);
	free(text);
}
END_TEST

START_TEST(local_secrets_masked)
{
	const char		*secrets[] = { "supersecret" };
	struct exec_env		 env[] = { { "TOKEN", "supersecret", true } };
	struct exec_step	 s;
	struct exec_result	 r;
	struct job		 j;
	char			*text;

	if (!need_root())
		return;
	step_init(&s, "echo \"token: $TOKEN\"\n"
	    "printf 'sup'; sleep 0.2; printf 'ersecret\\n'\n"
	    "printf 'supersec' >&2; printf 'ret!\\n'");
	s.env = env;
	s.nenv = 1;
	job_start_on(&j, ex, &s, LOG_MAX, secrets, 1);
	text = job_finish(&j, &r, s.timeout_ms);
	ck_assert_int_eq(r.exit_code, 0);
	ck_assert_str_eq(text, "token: ****\n****\n****!\n");
	ck_assert_ptr_null(strstr(text, "ersecret"));
	free(text);
}
END_TEST

START_TEST(local_log_capped)
{
	struct exec_step	s;
	struct exec_result	r;
	struct job		j;
	char			*text;

	if (!need_root())
		return;
	step_init(&s, "i=0; while [ $i -lt 5000 ]; do "
	    "echo 0123456789abcdef; i=$((i+1)); done; echo END");
	job_start_on(&j, ex, &s, 1000, NULL, 0);
	text = job_finish(&j, &r, s.timeout_ms);
	ck_assert_int_eq(r.exit_code, 0);
	ck_assert_uint_eq(strlen(text), 1000 +
	    strlen("\n[log truncated at 1000 bytes]\n"));
	ck_assert_str_eq(text + 1000, "\n[log truncated at 1000 bytes]\n");
	ck_assert_ptr_null(strstr(text, "END"));
	free(text);
}
END_TEST

START_TEST(local_cancel_sends_term)
{
	struct exec_step	 s;
	struct exec_result	 r;
	struct job		 j;
	char			*text;
	int64_t			 t0;

	if (!need_root())
		return;
	step_init(&s, "trap 'echo got term; exit 0' TERM\n"
	    "echo ready; sleep 30 & wait");
	job_start_on(&j, ex, &s, LOG_MAX, NULL, 0);
	ck_assert(log_wait_for(j.path, "ready", 10000));
	ck_assert_int_eq(exec_task_result(&r, j.task), ERR_BUSY);
	t0 = time_mono_ms();
	exec_task_cancel(j.task, 10000);
	text = job_finish(&j, &r, 10000);
	ck_assert_int_lt(time_mono_ms() - t0, 5000);
	ck_assert_int_eq(r.outcome, EXEC_CANCELLED);
	ck_assert_int_eq(r.exit_code, -1);
	ck_assert_str_eq(text, "ready\ngot term\n");
	free(text);
}
END_TEST

START_TEST(local_cancel_kills_after_grace)
{
	struct exec_step	 s;
	struct exec_result	 r;
	struct job		 j;
	char			*text;
	int64_t			 t0, took;

	if (!need_root())
		return;
	step_init(&s, "trap '' TERM; echo ready; sleep 30");
	job_start_on(&j, ex, &s, LOG_MAX, NULL, 0);
	ck_assert(log_wait_for(j.path, "ready", 10000));
	t0 = time_mono_ms();
	exec_task_cancel(j.task, 700);
	text = job_finish(&j, &r, 10000);
	took = time_mono_ms() - t0;
	ck_assert_int_ge(took, 650);
	ck_assert_int_lt(took, 5000);
	ck_assert_int_eq(r.outcome, EXEC_CANCELLED);
	free(text);
}
END_TEST

START_TEST(local_free_running_task)
{
	struct exec_step	 s;
	struct job		 j;
	int64_t			 t0;

	if (!need_root())
		return;
	step_init(&s, "echo ready; sleep 30");
	job_start_on(&j, ex, &s, LOG_MAX, NULL, 0);
	ck_assert(log_wait_for(j.path, "ready", 10000));
	t0 = time_mono_ms();
	exec_task_free(j.task);
	ck_assert_int_lt(time_mono_ms() - t0, 5000);
	ck_assert_int_eq(j.w.done, 1);
	exec_log_close(j.log);
	free(j.path);
	ck_assert_int_eq(count_entries(workdir), 0);
}
END_TEST

START_TEST(local_identity)
{
	struct exec_step	 s;
	struct exec_result	 r;
	char			*text;

	if (!need_root())
		return;
	step_init(&s, "id -u; id -g; id -G; uname -n; echo pid=$$; "
	    "ls /proc | grep -c '^[0-9]'\n"
	    "if cat /proc/1/environ /proc/1/maps; then echo READ; fi");
	text = run_step(&s, &r);
	ck_assert_int_eq(r.exit_code, 0);
	ck_assert_msg(strncmp(text, "0\n", 2) != 0, "log: %s", text);
	ck_assert_msg(strstr(text, "\nferry-step\npid=2\n") != NULL, "log: %s",
	    text);
	/* The init, a copy of ferry's memory, is not readable. */
	ck_assert_ptr_null(strstr(text, "READ"));
	ck_assert_ptr_nonnull(strstr(text, "Permission denied"));
	/* uid == gid and no supplementary groups. */
	{
		char	uid[32], gid[32], groups[32];

		ck_assert_int_eq(sscanf(text, "%31s %31s %31s", uid, gid,
		    groups), 3);
		ck_assert_str_eq(uid, gid);
		ck_assert_str_eq(uid, groups);
	}
	/* Only the namespace's processes are in /proc: init, sh, ls, grep. */
	{
		char	*last = strstr(text, "pid=2\n") + 6;
		int64_t	 n;

		last[strcspn(last, "\n")] = '\0';
		ck_assert_int_eq(parse_int64(&n, last, 0, 1000), 0);
		ck_assert_int_lt(n, 10);
	}
	free(text);
}
END_TEST

START_TEST(local_memory_limit)
{
	struct exec_step	 s;
	struct exec_result	 r;
	char			*text;

	if (!need_root())
		return;
	step_init(&s, "head -c 600M /dev/zero | tail; echo SURVIVED");
	s.memory = 64 << 20;
	s.timeout_ms = 60000;
	text = run_step(&s, &r);
	ck_assert_ptr_null(strstr(text, "SURVIVED"));
	if (r.outcome == EXEC_OOM) {
		ck_assert_str_eq(r.reason,
		    "killed: out of memory (limit 64Mi)");
		ck_assert_int_eq(r.exit_code, -1);
	} else {
		fprintf(stderr, "exec: no memory cgroup? exit %d, log: %s\n",
		    r.exit_code, text);
		ck_assert_int_eq(r.outcome, EXEC_EXITED);
		ck_assert_int_ne(r.exit_code, 0);
	}
	free(text);
}
END_TEST

START_TEST(local_parallel_tasks)
{
	struct exec_step	 s1, s2;
	struct exec_result	 r1, r2;
	struct job		 j1, j2;
	char			*t1, *t2;
	int64_t			 t0 = time_mono_ms();

	if (!need_root())
		return;
	step_init(&s1, "sleep 2; echo A; id -u");
	s1.step = "a";
	step_init(&s2, "sleep 2; echo B; id -u");
	s2.step = "b";
	job_start_on(&j1, ex, &s1, LOG_MAX, NULL, 0);
	job_start_on(&j2, ex, &s2, LOG_MAX, NULL, 0);
	t1 = job_finish(&j1, &r1, s1.timeout_ms);
	t2 = job_finish(&j2, &r2, s2.timeout_ms);
	ck_assert_int_lt(time_mono_ms() - t0, 3800);
	ck_assert_int_eq(r1.exit_code, 0);
	ck_assert_int_eq(r2.exit_code, 0);
	ck_assert_int_eq(t1[0], 'A');
	ck_assert_int_eq(t2[0], 'B');
	/* Each step its own uid. */
	ck_assert_str_ne(t1 + 2, t2 + 2);
	free(t1);
	free(t2);
}
END_TEST

Suite *
test_suite(void)
{
	Suite	*s = suite_create("exec");
	TCase	*tc;

	tc = tcase_create("log");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, log_path_layout);
	tcase_add_test(tc, log_writes_as_it_goes);
	tcase_add_test(tc, log_masks_secrets);
	tcase_add_test(tc, log_masks_split_secrets);
	tcase_add_test(tc, log_caps_with_marker);
	tcase_add_test(tc, log_open_fails_cleanly);
	suite_add_tcase(s, tc);

	tc = tcase_create("interface");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, exec_rejects_bad_steps);
	suite_add_tcase(s, tc);

	tc = tcase_create("run");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, local_output_in_order);
	tcase_add_test(tc, local_exit_code);
	tcase_add_test(tc, local_sh_e_stops);
	tcase_add_test(tc, local_workspace_filled_and_removed);
	tcase_add_test(tc, local_bad_archive_is_an_error);
	tcase_add_test(tc, local_parallel_tasks);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, local_timeout_kills_the_tree);
	tcase_add_test(tc, local_fork_bomb_is_contained);
	tcase_add_test(tc, local_memory_limit);
	suite_add_tcase(s, tc);

	tc = tcase_create("isolation");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, local_no_network);
	tcase_add_test(tc, local_cannot_write_outside);
	tcase_add_test(tc, local_hides_paths);
	tcase_add_test(tc, local_environment_is_exact);
	tcase_add_test(tc, local_identity);
	suite_add_tcase(s, tc);

	tc = tcase_create("logs");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, local_secrets_masked);
	tcase_add_test(tc, local_log_capped);
	suite_add_tcase(s, tc);

	tc = tcase_create("cancel");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, local_cancel_sends_term);
	tcase_add_test(tc, local_cancel_kills_after_grace);
	tcase_add_test(tc, local_free_running_task);
	suite_add_tcase(s, tc);
	return s;
}

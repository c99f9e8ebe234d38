/*
 * Tests of the repo module against real repositories that each test
 * builds with the git CLI in a fresh temporary directory: mirrors made
 * and fetched, commits and files read from the object database, and the
 * streamed tar.gz compared with `git archive` after extracting both with
 * the system tar. Network only to 127.0.0.1; every wait is bounded.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <git2.h>

#include "err.h"
#include "repo.h"
#include "util.h"

#define TIMEOUT_MS	10000
#define BAD_SHA		"0123456789abcdef0123456789abcdef01234567"
#define GITLINK_SHA	"1111111111111111111111111111111111111111"
#define LONG90		"d123456789" "0123456789" "0123456789" \
			"0123456789" "0123456789" "0123456789" \
			"0123456789" "0123456789" "0123456789"

static char			 T[PATH_MAX];	/* the test's directory */
static char			*mirrors;	/* T/mirrors */
static char			*srcdir;	/* T/src, the "remote" */
static char			 c1[41];	/* first commit of src */
static struct repo_cache	*rc;

/* Runs argv[0] in dir (NULL: here); stdout to out (NULL: /dev/null). */
static int
run(char *out, size_t outsz, const char *dir, const char *const argv[])
{
	char	scratch[256];
	int	p[2], status;
	pid_t	pid;
	ssize_t	n;
	size_t	len = 0;

	ck_assert_int_eq(pipe(p), 0);
	if ((pid = fork()) == 0) {
		if (dir != NULL && chdir(dir) != 0)
			_exit(126);
		dup2(p[1], STDOUT_FILENO);
		close(p[0]);
		close(p[1]);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	ck_assert_int_gt(pid, 0);
	close(p[1]);
	for (;;) {
		if (out != NULL)
			n = read(p[0], out + len, outsz - 1 - len);
		else
			n = read(p[0], scratch, sizeof(scratch));
		if (n <= 0)
			break;
		if (out != NULL)
			len += (size_t)n;
	}
	close(p[0]);
	if (out != NULL) {
		out[len] = '\0';
		while (len > 0 && out[len - 1] == '\n')
			out[--len] = '\0';
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* Runs a shell script in dir with git's identity and no user config. */
static int
sh(char *out, size_t outsz, const char *dir, const char *script)
{
	char		*full;
	int		 rc_;
	const char	*argv[] = { "sh", "-ec", NULL, NULL };

	full = xasprintf("export GIT_AUTHOR_NAME='Jane Doe' "
	    "GIT_AUTHOR_EMAIL=jane@example.com GIT_COMMITTER_NAME=t "
	    "GIT_COMMITTER_EMAIL=t@e GIT_CONFIG_NOSYSTEM=1 "
	    "GIT_CONFIG_GLOBAL=/dev/null; %s", script);
	argv[2] = full;
	rc_ = run(out, outsz, dir, argv);
	free(full);
	return rc_;
}

/*
 * Makes a repository at T/<name> whose first commit holds a pipeline
 * file, an executable, symlinks, nested and long paths (prefix split and
 * pax), a larger file and a gitlink; its sha goes to sha_out.
 */
static void
make_source(const char *name, char *sha_out)
{
	char	*script, out[64];

	script = xasprintf(
	    "git init -q -b master %s && cd %s\n"
	    "printf 'steps: v1\\n' > .ferry.yml\n"
	    "printf '#!/bin/sh\\necho hi\\n' > run.sh && chmod 755 run.sh\n"
	    "ln -s run.sh link\n"
	    "mkdir -p a/b/c && echo deep > a/b/c/deep.txt\n"
	    ": > empty\n"
	    "echo spaced > 'with space.txt'\n"
	    "seq 1 100000 > big.txt\n"
	    "p=" LONG90 "/" LONG90 "/" LONG90 "\n"
	    "mkdir -p $p && echo far > $p/f.txt\n"
	    "q=prefix6789012345678901234567890123456789012345678901234567\n"
	    "mkdir -p $q && echo split > $q/" LONG90 ".txt\n"
	    "ln -s $p/f.txt longlink\n"
	    "git add -A\n"
	    "git update-index --add --cacheinfo 160000," GITLINK_SHA
	    ",vendor/sub\n"
	    "git commit -q -m 'First commit' -m 'with a body'\n"
	    "git rev-parse HEAD\n", name, name);
	ck_assert_int_eq(sh(out, sizeof(out), T, script), 0);
	free(script);
	ck_assert_uint_eq(strlen(out), 40);
	memcpy(sha_out, out, 41);
}

/* Adds a commit changing .ferry.yml to v2 in dir; its sha to sha_out. */
static void
commit_v2(const char *dir, char *sha_out)
{
	char	out[64];

	ck_assert_int_eq(sh(out, sizeof(out), dir,
	    "printf 'steps: v2\\n' > .ferry.yml\n"
	    "git commit -q -am 'Second'\n"
	    "git rev-parse HEAD\n"), 0);
	ck_assert_uint_eq(strlen(out), 40);
	memcpy(sha_out, out, 41);
}

static void
setup(void)
{
	git_libgit2_init();
	snprintf(T, sizeof(T), "/tmp/ferry-test-repo-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(T));
	mirrors = xasprintf("%s/mirrors", T);
	srcdir = xasprintf("%s/src", T);
	make_source("src", c1);
	ck_assert_int_eq(repo_cache_new(&rc, mirrors, TIMEOUT_MS), 0);
}

static void
teardown(void)
{
	const char	*argv[] = { "rm", "-rf", T, NULL };

	repo_cache_free(rc);
	rc = NULL;
	run(NULL, 0, NULL, argv);
	free(mirrors);
	free(srcdir);
	git_libgit2_shutdown();
}

static int
exists(const char *path)
{
	struct stat	st;

	return lstat(path, &st) == 0;
}

/* Entries of T/mirrors whose name starts with ".tmp-". */
static int
tmp_leftovers(void)
{
	char		 out[4096];
	const char	*argv[] = { "ls", "-A", mirrors, NULL };

	ck_assert_int_eq(run(out, sizeof(out), NULL, argv), 0);
	return strstr(out, ".tmp-") != NULL;
}

START_TEST(mirror_path_encoding)
{
	char	*p, *want;

	p = repo_mirror_path(rc, "acme/shop");
	want = xasprintf("%s/acme%%2Fshop.git", mirrors);
	ck_assert_str_eq(p, want);
	free(p);
	free(want);
	/* '%' itself is escaped, so names never collide. */
	p = repo_mirror_path(rc, "a%2Fb");
	want = xasprintf("%s/a%%252Fb.git", mirrors);
	ck_assert_str_eq(p, want);
	free(p);
	free(want);
	p = repo_mirror_path(rc, "../x.y");
	want = xasprintf("%s/%%2E.%%2Fx.y.git", mirrors);
	ck_assert_str_eq(p, want);
	free(p);
	free(want);
}
END_TEST

START_TEST(cache_new_removes_interrupted_clone)
{
	struct repo_cache	*rc2 = NULL;
	char			*junk;

	junk = xasprintf("%s/.tmp-acme%%2Fshop-abc123/objects", mirrors);
	ck_assert_int_eq(mkdir_p(junk, 0700), 0);
	ck_assert(tmp_leftovers());
	ck_assert_int_eq(repo_cache_new(&rc2, mirrors, TIMEOUT_MS), 0);
	ck_assert(!tmp_leftovers());
	repo_cache_free(rc2);
	free(junk);
}
END_TEST

START_TEST(ensure_first_use_clones)
{
	char		*path, out[128];
	const char	*bare[] = { "git", "--git-dir", NULL,
			    "rev-parse", "--is-bare-repository", NULL };
	const char	*head[] = { "git", "--git-dir", NULL,
			    "rev-parse", "refs/heads/master", NULL };

	path = repo_mirror_path(rc, "acme/shop");
	ck_assert(!exists(path));
	ck_assert_int_eq(repo_ensure_commit(rc, "acme/shop", srcdir, NULL,
	    c1), 0);
	/* A bare repository with the branch; no checkout anywhere. */
	bare[2] = head[2] = path;
	ck_assert_int_eq(run(out, sizeof(out), NULL, bare), 0);
	ck_assert_str_eq(out, "true");
	ck_assert_int_eq(run(out, sizeof(out), NULL, head), 0);
	ck_assert_str_eq(out, c1);
	ck_assert(!tmp_leftovers());
	free(path);
}
END_TEST

START_TEST(ensure_fetches_new_commit)
{
	char	c2[41], *data;
	size_t	len;

	ck_assert_int_eq(repo_ensure_commit(rc, "acme/shop", srcdir, NULL,
	    c1), 0);
	commit_v2(srcdir, c2);
	ck_assert_int_eq(repo_read_file(&data, &len, rc, "acme/shop", c2,
	    ".ferry.yml", 1024), ERR_NOTFOUND);
	ck_assert_int_eq(repo_ensure_commit(rc, "acme/shop", srcdir, NULL,
	    c2), 0);
	ck_assert_int_eq(repo_read_file(&data, &len, rc, "acme/shop", c2,
	    ".ferry.yml", 1024), 0);
	ck_assert_str_eq(data, "steps: v2\n");
	free(data);
}
END_TEST

START_TEST(ensure_present_commit_needs_no_network)
{
	char	*gone, c2[41];

	ck_assert_int_eq(repo_ensure_commit(rc, "acme/shop", srcdir, NULL,
	    c1), 0);
	commit_v2(srcdir, c2);
	gone = xasprintf("%s/gone", T);
	ck_assert_int_eq(rename(srcdir, gone), 0);
	ck_assert_int_eq(repo_ensure_commit(rc, "acme/shop", srcdir, NULL,
	    c1), 0);
	/* A missing commit does need the source, which is gone. */
	ck_assert_int_eq(repo_ensure_commit(rc, "acme/shop", srcdir, NULL,
	    c2), ERR_UPSTREAM);
	ck_assert_int_eq(strncmp(err_msg(), "fetch of acme/shop failed: ",
	    27), 0);
	free(gone);
}
END_TEST

START_TEST(ensure_unknown_commit_not_found)
{
	ck_assert_int_eq(repo_ensure_commit(rc, "acme/shop", srcdir, NULL,
	    BAD_SHA), ERR_NOTFOUND);
	ck_assert_str_eq(err_msg(),
	    "commit 0123456 not found in acme/shop after fetch");
	/* The mirror was made all the same; the next miss fetches again. */
	ck_assert_int_eq(repo_ensure_commit(rc, "acme/shop", srcdir, NULL,
	    BAD_SHA), ERR_NOTFOUND);
	ck_assert_str_eq(err_msg(),
	    "commit 0123456 not found in acme/shop after fetch");
	ck_assert_int_eq(repo_ensure_commit(rc, "acme/shop", srcdir, NULL,
	    c1), 0);
}
END_TEST

START_TEST(ensure_rejects_bad_sha)
{
	ck_assert_int_eq(repo_ensure_commit(rc, "acme/shop", srcdir, NULL,
	    "9f1c2ab"), ERR_INVALID);
	ck_assert_int_eq(repo_ensure_commit(rc, "acme/shop", srcdir, NULL,
	    "zz23456789abcdef0123456789abcdef01234567"), ERR_INVALID);
	ck_assert_str_eq(err_msg(), "invalid commit sha");
}
END_TEST

START_TEST(ensure_unreachable_is_upstream)
{
	char	*missing;
	int64_t	t0;

	missing = xasprintf("%s/no-such-repo", T);
	ck_assert_int_eq(repo_ensure_commit(rc, "acme/shop", missing, NULL,
	    c1), ERR_UPSTREAM);
	ck_assert_int_eq(strncmp(err_msg(), "fetch of acme/shop failed: ",
	    27), 0);
	ck_assert(!tmp_leftovers());
	t0 = time_mono_ms();
	ck_assert_int_eq(repo_ensure_commit(rc, "acme/shop",
	    "http://127.0.0.1:1/x.git", NULL, c1), ERR_UPSTREAM);
	ck_assert_int_lt(time_mono_ms() - t0, 5000);
	ck_assert_int_eq(strncmp(err_msg(), "fetch of acme/shop failed: ",
	    27), 0);
	ck_assert(!tmp_leftovers());
	free(missing);
}
END_TEST

START_TEST(ensure_never_leaks_credentials)
{
	ck_assert_int_eq(repo_ensure_commit(rc, "acme/shop",
	    "http://bob:pw-secret@127.0.0.1:1/x.git", "tok-secret", c1),
	    ERR_UPSTREAM);
	ck_assert_ptr_null(strstr(err_msg(), "secret"));
	ck_assert_ptr_null(strstr(err_msg(), "bob"));
}
END_TEST

/* A TCP listener on 127.0.0.1 that never accepts; returns its port. */
static int
silent_listener(int *fd_out)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);
	int			fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*fd_out = fd;
	return ntohs(sin.sin_port);
}

START_TEST(ensure_silent_server_times_out)
{
	struct repo_cache	*fast = NULL;
	char			*url;
	int64_t			 t0, took;
	int			 fd, port;

	ck_assert_int_eq(repo_cache_new(&fast, mirrors, 1000), 0);
	port = silent_listener(&fd);
	url = xasprintf("http://127.0.0.1:%d/x.git", port);
	t0 = time_mono_ms();
	ck_assert_int_eq(repo_ensure_commit(fast, "acme/shop", url, NULL,
	    c1), ERR_UPSTREAM);
	took = time_mono_ms() - t0;
	ck_assert_int_ge(took, 900);
	ck_assert_int_lt(took, 5000);
	ck_assert_str_eq(err_msg(), "fetch of acme/shop failed: "
	    "timed out after 1s");
	free(url);

	/* TLS is layered on the same bounded socket stream. */
	url = xasprintf("https://127.0.0.1:%d/x.git", port);
	t0 = time_mono_ms();
	ck_assert_int_eq(repo_ensure_commit(fast, "acme/shop", url, NULL,
	    c1), ERR_UPSTREAM);
	took = time_mono_ms() - t0;
	ck_assert_int_lt(took, 5000);
	ck_assert_str_eq(err_msg(), "fetch of acme/shop failed: "
	    "timed out after 1s");
	free(url);
	close(fd);
	repo_cache_free(fast);
}
END_TEST

/* An HTTP server that answers every request 401, recording them. */
struct deny_server {
	int		 fd;		/* listening socket */
	int		 requests;	/* requests answered */
	char		 auth[4096];	/* Authorization values seen */
	volatile int	 stop;
};

static void *
deny_main(void *arg)
{
	static const char	 reply[] = "HTTP/1.1 401 Unauthorized\r\n"
	    "WWW-Authenticate: Basic realm=\"git\"\r\n"
	    "Content-Length: 0\r\nConnection: close\r\n\r\n";
	struct deny_server	*ds = arg;
	struct pollfd		 pfd;
	struct timeval		 tv = { 2, 0 };
	char			 req[8192], *a, *e;
	size_t			 len, alen;
	ssize_t			 n;
	int			 c;

	while (!ds->stop && ds->requests < 20) {
		pfd.fd = ds->fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if ((c = accept(ds->fd, NULL, NULL)) < 0)
			continue;
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		len = 0;
		while (len < sizeof(req) - 1 &&
		    (n = read(c, req + len, sizeof(req) - 1 - len)) > 0) {
			len += (size_t)n;
			req[len] = '\0';
			if (strstr(req, "\r\n\r\n") != NULL)
				break;
		}
		req[len] = '\0';
		if ((a = strstr(req, "Authorization: ")) != NULL) {
			e = strstr(a, "\r\n");
			alen = strlen(ds->auth);
			if (e != NULL && alen + (size_t)(e - a) + 2 <
			    sizeof(ds->auth))
				memcpy(ds->auth + alen, a,
				    (size_t)(e - a) + 2);
		}
		(void)!write(c, reply, sizeof(reply) - 1);
		close(c);
		ds->requests++;
	}
	return NULL;
}

START_TEST(ensure_token_answers_auth_then_gives_up)
{
	struct deny_server	 ds;
	pthread_t		 th;
	char			*url;
	int64_t			 t0;
	int			 port;

	memset(&ds, 0, sizeof(ds));
	port = silent_listener(&ds.fd);
	ck_assert_int_eq(pthread_create(&th, NULL, deny_main, &ds), 0);
	url = xasprintf("http://127.0.0.1:%d/acme/shop.git", port);
	t0 = time_mono_ms();
	ck_assert_int_eq(repo_ensure_commit(rc, "acme/shop", url,
	    "tok-123", c1), ERR_UPSTREAM);
	ck_assert_int_lt(time_mono_ms() - t0, 5000);
	ck_assert_str_eq(err_msg(),
	    "fetch of acme/shop failed: authentication failed");
	/* Without a token there is nothing to offer. */
	ck_assert_int_eq(repo_ensure_commit(rc, "acme/shop", url, NULL, c1),
	    ERR_UPSTREAM);
	ck_assert_str_eq(err_msg(), "fetch of acme/shop failed: "
	    "authentication required and no token configured");
	ds.stop = 1;
	pthread_join(th, NULL);
	close(ds.fd);
	/* base64("x-access-token:tok-123") and ("oauth2:tok-123"). */
	ck_assert_ptr_nonnull(strstr(ds.auth,
	    "Basic eC1hY2Nlc3MtdG9rZW46dG9rLTEyMw=="));
	ck_assert_ptr_nonnull(strstr(ds.auth, "Basic b2F1dGgyOnRvay0xMjM="));
	ck_assert_int_le(ds.requests, 6);
	free(url);
}
END_TEST

struct ensure_job {
	const char	*name;
	const char	*url;
	const char	*sha;
	int		 rc;
	char		 msg[256];
};

static void *
ensure_main(void *arg)
{
	struct ensure_job	*j = arg;

	j->rc = repo_ensure_commit(rc, j->name, j->url, NULL, j->sha);
	snprintf(j->msg, sizeof(j->msg), "%s", err_msg());
	return NULL;
}

START_TEST(ensure_same_repo_from_four_threads)
{
	struct ensure_job	jobs[4];
	pthread_t		th[4];
	char			*data;
	size_t			len;
	int			i;

	for (i = 0; i < 4; i++) {
		memset(&jobs[i], 0, sizeof(jobs[i]));
		jobs[i].name = "acme/shop";
		jobs[i].url = srcdir;
		jobs[i].sha = c1;
		ck_assert_int_eq(pthread_create(&th[i], NULL, ensure_main,
		    &jobs[i]), 0);
	}
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < 4; i++)
		ck_assert_msg(jobs[i].rc == 0, "thread %d: %d %s", i,
		    jobs[i].rc, jobs[i].msg);
	ck_assert(!tmp_leftovers());
	ck_assert_int_eq(repo_read_file(&data, &len, rc, "acme/shop", c1,
	    ".ferry.yml", 1024), 0);
	ck_assert_str_eq(data, "steps: v1\n");
	free(data);
}
END_TEST

START_TEST(ensure_two_repos_in_parallel)
{
	struct ensure_job	jobs[2];
	pthread_t		th[2];
	char			other_sha[41], *other, *data;
	size_t			len;
	int			i;

	make_source("other", other_sha);
	other = xasprintf("file://%s/other", T);
	memset(jobs, 0, sizeof(jobs));
	jobs[0].name = "acme/shop";
	jobs[0].url = srcdir;
	jobs[0].sha = c1;
	jobs[1].name = "acme/other";
	jobs[1].url = other;
	jobs[1].sha = other_sha;
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, ensure_main,
		    &jobs[i]), 0);
	for (i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < 2; i++)
		ck_assert_msg(jobs[i].rc == 0, "thread %d: %d %s", i,
		    jobs[i].rc, jobs[i].msg);
	ck_assert_int_eq(repo_read_file(&data, &len, rc, "acme/other",
	    other_sha, "a/b/c/deep.txt", 1024), 0);
	ck_assert_str_eq(data, "deep\n");
	free(data);
	/* Each mirror holds only its own repository's commits. */
	commit_v2(other + 7, other_sha);
	jobs[1].rc = repo_ensure_commit(rc, "acme/other", other, NULL,
	    other_sha);
	ck_assert_int_eq(jobs[1].rc, 0);
	ck_assert_int_eq(repo_read_file(&data, &len, rc, "acme/shop",
	    other_sha, ".ferry.yml", 1024), ERR_NOTFOUND);
	free(other);
}
END_TEST

START_TEST(read_file_per_commit)
{
	char	c2[41], *data;
	size_t	len;

	commit_v2(srcdir, c2);
	ck_assert_int_eq(repo_ensure_commit(rc, "acme/shop", srcdir, NULL,
	    c2), 0);
	ck_assert_int_eq(repo_read_file(&data, &len, rc, "acme/shop", c1,
	    ".ferry.yml", 1024), 0);
	ck_assert_str_eq(data, "steps: v1\n");
	ck_assert_uint_eq(len, 10);
	free(data);
	ck_assert_int_eq(repo_read_file(&data, &len, rc, "acme/shop", c2,
	    ".ferry.yml", 1024), 0);
	ck_assert_str_eq(data, "steps: v2\n");
	free(data);
	ck_assert_int_eq(repo_read_file(&data, &len, rc, "acme/shop", c1,
	    "a/b/c/deep.txt", 5), 0);
	ck_assert_str_eq(data, "deep\n");
	free(data);
	ck_assert_int_eq(repo_read_file(&data, &len, rc, "acme/shop", c1,
	    "empty", 5), 0);
	ck_assert_uint_eq(len, 0);
	ck_assert_str_eq(data, "");
	free(data);
}
END_TEST

START_TEST(read_file_errors)
{
	char	*data = (char *)"x", msg[128];
	size_t	len = 7;

	ck_assert_int_eq(repo_read_file(&data, &len, rc, "acme/shop", c1,
	    ".ferry.yml", 1024), ERR_NOTFOUND);
	ck_assert_str_eq(err_msg(), "no mirror of acme/shop");
	ck_assert_ptr_null(data);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(repo_ensure_commit(rc, "acme/shop", srcdir, NULL,
	    c1), 0);

	ck_assert_int_eq(repo_read_file(&data, &len, rc, "acme/shop", c1,
	    "nope.yml", 1024), ERR_NOTFOUND);
	snprintf(msg, sizeof(msg), "no nope.yml at %.7s", c1);
	ck_assert_str_eq(err_msg(), msg);
	ck_assert_int_eq(repo_read_file(&data, &len, rc, "acme/shop", c1,
	    "a/b/nope/x", 1024), ERR_NOTFOUND);
	ck_assert_int_eq(repo_read_file(&data, &len, rc, "acme/shop", c1,
	    "a/b", 1024), ERR_INVALID);
	snprintf(msg, sizeof(msg), "a/b at %.7s is a directory", c1);
	ck_assert_str_eq(err_msg(), msg);
	ck_assert_int_eq(repo_read_file(&data, &len, rc, "acme/shop", c1,
	    "link", 1024), ERR_INVALID);
	ck_assert_int_eq(repo_read_file(&data, &len, rc, "acme/shop", c1,
	    "vendor/sub", 1024), ERR_INVALID);
	/* big.txt is 588895 bytes: one byte short of it is too little. */
	ck_assert_int_eq(repo_read_file(&data, &len, rc, "acme/shop", c1,
	    "big.txt", 588894), ERR_TOOBIG);
	snprintf(msg, sizeof(msg), "big.txt at %.7s is larger than 588894 "
	    "bytes", c1);
	ck_assert_str_eq(err_msg(), msg);
	ck_assert_int_eq(repo_read_file(&data, &len, rc, "acme/shop", c1,
	    "big.txt", 588895), 0);
	ck_assert_uint_eq(len, 588895);
	ck_assert_int_eq(strncmp(data, "1\n2\n3\n", 6), 0);
	free(data);
	ck_assert_int_eq(repo_read_file(&data, &len, rc, "acme/shop",
	    BAD_SHA, ".ferry.yml", 1024), ERR_NOTFOUND);
	ck_assert_str_eq(err_msg(), "commit 0123456 not found in acme/shop");
	ck_assert_int_eq(repo_read_file(&data, &len, rc, "acme/shop",
	    "abc", ".ferry.yml", 1024), ERR_INVALID);
}
END_TEST

START_TEST(commit_info_reads_metadata)
{
	struct repo_commit	*c = NULL;
	char			 when[32];
	const char		*argv[] = { "git", "log", "-1", "--format=%ct",
				    NULL, NULL };

	ck_assert_int_eq(repo_commit_info(&c, rc, "acme/shop", c1),
	    ERR_NOTFOUND);
	ck_assert_int_eq(repo_ensure_commit(rc, "acme/shop", srcdir, NULL,
	    c1), 0);
	ck_assert_int_eq(repo_commit_info(&c, rc, "acme/shop", c1), 0);
	ck_assert_str_eq(c->sha, c1);
	ck_assert_str_eq(c->message, "First commit\n\nwith a body\n");
	ck_assert_str_eq(c->summary, "First commit");
	ck_assert_str_eq(c->author, "Jane Doe");
	ck_assert_str_eq(c->author_email, "jane@example.com");
	argv[4] = c1;
	ck_assert_int_eq(run(when, sizeof(when), srcdir, argv), 0);
	ck_assert_int_eq(c->time_ms, strtoll(when, NULL, 10) * 1000);
	repo_commit_free(c);
	ck_assert_int_eq(repo_commit_info(&c, rc, "acme/shop", BAD_SHA),
	    ERR_NOTFOUND);
	ck_assert_ptr_null(c);
}
END_TEST

START_TEST(resolve_branch_fetches)
{
	char	*sha = NULL, c2[41];

	ck_assert_int_eq(repo_resolve_branch(&sha, rc, "acme/shop", srcdir,
	    NULL, "master"), 0);
	ck_assert_str_eq(sha, c1);
	free(sha);
	commit_v2(srcdir, c2);
	ck_assert_int_eq(repo_resolve_branch(&sha, rc, "acme/shop", srcdir,
	    NULL, "master"), 0);
	ck_assert_str_eq(sha, c2);
	free(sha);
	ck_assert_int_eq(repo_resolve_branch(&sha, rc, "acme/shop", srcdir,
	    NULL, "nope"), ERR_NOTFOUND);
	ck_assert_str_eq(err_msg(), "branch nope not found in acme/shop");
	ck_assert_ptr_null(sha);
	ck_assert_int_eq(repo_resolve_branch(&sha, rc, "acme/shop", srcdir,
	    NULL, "a..b"), ERR_INVALID);
}
END_TEST

/* Writes the archive of sha to T/<file>; returns its size. */
static off_t
archive_to_file(const char *file, const char *sha)
{
	struct stat	 st;
	char		*path;
	int		 fd;

	path = xasprintf("%s/%s", T, file);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(repo_archive_write_fd(fd, rc, "acme/shop", sha), 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	close(fd);
	free(path);
	return st.st_size;
}

START_TEST(archive_matches_git_archive)
{
	char	*script, out[8192];

	ck_assert_int_eq(repo_ensure_commit(rc, "acme/shop", srcdir, NULL,
	    c1), 0);
	ck_assert_int_gt(archive_to_file("ours.tar.gz", c1), 0);
	/*
	 * Both extracted by the same tar under the same umask (git archive
	 * stores 0775/0664), then compared: paths, contents, symlink
	 * targets (diff), and types and modes (the find listings).
	 */
	script = xasprintf(
	    "umask 022; mkdir ours theirs\n"
	    "gzip -t ours.tar.gz\n"
	    "tar --no-same-permissions -xzf ours.tar.gz -C ours\n"
	    "git -C src archive %s | "
	    "tar --no-same-permissions -xf - -C theirs\n"
	    "diff -r --no-dereference ours theirs\n"
	    "(cd ours && find . -printf '%%p %%y %%m %%l\\n' | sort) > l1\n"
	    "(cd theirs && find . -printf '%%p %%y %%m %%l\\n' | sort) > l2\n"
	    "cmp l1 l2\n"
	    "cat l1\n", c1);
	ck_assert_int_eq(sh(out, sizeof(out), T, script), 0);
	free(script);
	ck_assert_ptr_nonnull(strstr(out, "./run.sh f 755 \n"));
	ck_assert_ptr_nonnull(strstr(out, "./.ferry.yml f 644 \n"));
	ck_assert_ptr_nonnull(strstr(out, "./link l 777 run.sh\n"));
	ck_assert_ptr_nonnull(strstr(out, "./vendor/sub d 755 \n"));
	ck_assert_ptr_nonnull(strstr(out, "/f.txt f 644 \n"));
	ck_assert_ptr_nonnull(strstr(out, "./longlink l 777 " LONG90 "/"));
}
END_TEST

START_TEST(archive_headers_as_stored)
{
	char	*script, out[8192];

	ck_assert_int_eq(repo_ensure_commit(rc, "acme/shop", srcdir, NULL,
	    c1), 0);
	archive_to_file("ours.tar.gz", c1);
	/* The modes, owner and mtime in the headers themselves. */
	script = xasprintf("t=$(git -C src log -1 --format=%%ct %s)\n"
	    "tar -tvzf ours.tar.gz --numeric-owner --full-time "
	    "--utc > list\n"
	    "d=$(date -u -d @$t '+%%Y-%%m-%%d %%H:%%M:%%S')\n"
	    "test $(grep -c \"0/0 .* $d \" list) = $(wc -l < list)\n"
	    "cat list", c1);
	ck_assert_int_eq(sh(out, sizeof(out), T, script), 0);
	free(script);
	ck_assert_ptr_nonnull(strstr(out, "-rwxr-xr-x 0/0"));
	ck_assert_ptr_nonnull(strstr(out, "drwxr-xr-x 0/0"));
	ck_assert_ptr_nonnull(strstr(out, "lrwxrwxrwx 0/0"));
	ck_assert_ptr_nonnull(strstr(out, " .ferry.yml\n"));
	ck_assert_ptr_nonnull(strstr(out, " a/b/c/\n"));
	ck_assert_ptr_nonnull(strstr(out, " link -> run.sh\n"));
}
END_TEST

START_TEST(archive_small_reads_same_bytes)
{
	struct repo_archive	*a = NULL;
	struct buf		 got;
	char			 chunk[7], *whole, *path;
	size_t			 wlen;
	ssize_t			 n;
	int			 reads = 0;

	ck_assert_int_eq(repo_ensure_commit(rc, "acme/shop", srcdir, NULL,
	    c1), 0);
	archive_to_file("whole.tar.gz", c1);
	path = xasprintf("%s/whole.tar.gz", T);
	ck_assert_int_eq(file_read(&whole, &wlen, path, 1 << 24), 0);
	ck_assert_int_eq(repo_archive_open(&a, rc, "acme/shop", c1), 0);
	buf_init(&got, 1 << 24);
	while ((n = repo_archive_read(a, chunk, sizeof(chunk))) > 0) {
		ck_assert_int_le(n, (ssize_t)sizeof(chunk));
		ck_assert_int_eq(buf_append(&got, chunk, (size_t)n), 0);
		reads++;
	}
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(repo_archive_read(a, chunk, 1), 0);
	ck_assert_uint_eq(got.len, wlen);
	ck_assert_int_eq(memcmp(got.data, whole, wlen), 0);
	ck_assert_int_gt(reads, 100);
	repo_archive_close(a);
	buf_dispose(&got);
	free(whole);
	free(path);
}
END_TEST

START_TEST(archive_lists_submodules)
{
	struct repo_archive	*a = NULL;
	const char *const	*subs;

	ck_assert_int_eq(repo_archive_open(&a, rc, "acme/shop", c1),
	    ERR_NOTFOUND);
	ck_assert_ptr_null(a);
	ck_assert_int_eq(repo_ensure_commit(rc, "acme/shop", srcdir, NULL,
	    c1), 0);
	ck_assert_int_eq(repo_archive_open(&a, rc, "acme/shop", BAD_SHA),
	    ERR_NOTFOUND);
	ck_assert_int_eq(repo_archive_open(&a, rc, "acme/shop", c1), 0);
	/* Known at open, before any byte is read. */
	ck_assert_uint_eq(repo_archive_submodules(a, &subs), 1);
	ck_assert_str_eq(subs[0], "vendor/sub");
	repo_archive_close(a);
}
END_TEST

START_TEST(archive_to_bad_fd_fails)
{
	ck_assert_int_eq(repo_ensure_commit(rc, "acme/shop", srcdir, NULL,
	    c1), 0);
	ck_assert_int_eq(repo_archive_write_fd(-1, rc, "acme/shop", c1),
	    ERR_FAIL);
	ck_assert_int_eq(strncmp(err_msg(), "write archive: ", 15), 0);
}
END_TEST

static TCase *
tcase(const char *name)
{
	TCase	*tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	return tc;
}

Suite *
test_suite(void)
{
	Suite	*s = suite_create("repo");
	TCase	*tc;

	tc = tcase("mirror_path");
	tcase_add_test(tc, mirror_path_encoding);
	tcase_add_test(tc, cache_new_removes_interrupted_clone);
	suite_add_tcase(s, tc);

	tc = tcase("ensure_commit");
	tcase_add_test(tc, ensure_first_use_clones);
	tcase_add_test(tc, ensure_fetches_new_commit);
	tcase_add_test(tc, ensure_present_commit_needs_no_network);
	tcase_add_test(tc, ensure_unknown_commit_not_found);
	tcase_add_test(tc, ensure_rejects_bad_sha);
	suite_add_tcase(s, tc);

	tc = tcase("ensure_commit_failures");
	tcase_add_test(tc, ensure_unreachable_is_upstream);
	tcase_add_test(tc, ensure_never_leaks_credentials);
	tcase_add_test(tc, ensure_silent_server_times_out);
	tcase_add_test(tc, ensure_token_answers_auth_then_gives_up);
	suite_add_tcase(s, tc);

	tc = tcase("ensure_commit_threads");
	tcase_add_test(tc, ensure_same_repo_from_four_threads);
	tcase_add_test(tc, ensure_two_repos_in_parallel);
	suite_add_tcase(s, tc);

	tc = tcase("read_file");
	tcase_add_test(tc, read_file_per_commit);
	tcase_add_test(tc, read_file_errors);
	suite_add_tcase(s, tc);

	tc = tcase("commit_info");
	tcase_add_test(tc, commit_info_reads_metadata);
	suite_add_tcase(s, tc);

	tc = tcase("resolve_branch");
	tcase_add_test(tc, resolve_branch_fetches);
	suite_add_tcase(s, tc);

	tc = tcase("archive");
	tcase_add_test(tc, archive_matches_git_archive);
	tcase_add_test(tc, archive_headers_as_stored);
	tcase_add_test(tc, archive_small_reads_same_bytes);
	tcase_add_test(tc, archive_lists_submodules);
	tcase_add_test(tc, archive_to_bad_fd_fails);
	suite_add_tcase(s, tc);
	return s;
}

/*
 * DESIGN
 *
 * A mirror is a bare repository under mirrors_dir holding the remote's
 * branches and tags (refs/heads/ and refs/tags/, force-updated; not the
 * forge's refs/pull/ or refs/merge-requests/, which would drag in every
 * fork's objects). It is fetched through an anonymous remote, so the URL is
 * never stored and a changed clone_url simply takes effect; the token
 * only ever reaches libgit2 through the credentials callback.
 *
 * A first fetch goes into mirrors_dir/.tmp-<name>-XXXXXX, renamed into
 * place once complete: a crash mid-clone leaves only a .tmp- directory,
 * removed by the next repo_cache_new(). Fetches of one repository hold
 * that repository's lock from the table in struct repo_cache, for the
 * whole network transfer (the lock exists to serialise exactly that);
 * readers take no lock, since git writes packs and refs by rename.
 * ensure_commit first looks for the commit without the lock, so the
 * common warm case costs one repository open and one object lookup.
 */
#include "repo.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <git2.h>

#define LOG_MODULE "repo"
#include "log.h"
#include "repo_int.h"
#include "util.h"

/* Credential answers per fetch before giving up (one per user name). */
#define REPO_CRED_TRIES		2

/* One per repository name ever fetched; never freed before the cache. */
struct repo_lock {
	struct repo_lock	*next;
	char			*name;	/* owned */
	pthread_mutex_t		 mtx;	/* held for a clone or fetch */
};

struct repo_cache {
	char			*dir;		/* mirrors_dir, owned */
	int64_t			 fetch_timeout_ms; /* bound on one fetch */
	pthread_mutex_t		 mtx;		/* guards locks */
	struct repo_lock	*locks;		/* owned list */
};

/* State of one fetch, the payload of libgit2's callbacks. */
struct fetch_ctx {
	const char	*token;		/* borrowed; NULL: no credentials */
	int		 cred_tries;	/* credentials answered so far */
	int		 auth_failed;	/* credentials exhausted or missing */
	int64_t		 deadline;	/* monotonic ms */
	int		 timed_out;	/* a callback saw the deadline pass */
};

static const char *const repo_cred_users[REPO_CRED_TRIES] = {
	"x-access-token",	/* GitHub; any user works for a PAT */
	"oauth2",		/* GitLab OAuth and project tokens */
};

int
repo_git_err(int code, const char *what)
{
	const git_error	*e = git_error_last();

	return err_set(code, "%s: %s", what,
	    e != NULL && e->message != NULL ? e->message : "unknown error");
}

int
repo_sha_parse(git_oid *oid, const char *sha)
{
	size_t	i;

	for (i = 0; sha[i] != '\0'; i++) {
		if (!((sha[i] >= '0' && sha[i] <= '9') ||
		    (sha[i] >= 'a' && sha[i] <= 'f') ||
		    (sha[i] >= 'A' && sha[i] <= 'F')))
			break;
	}
	if (sha[i] != '\0' || i != GIT_OID_HEXSZ ||
	    git_oid_fromstr(oid, sha) != 0)
		return err_set(ERR_INVALID, "invalid commit sha");
	return 0;
}

char *
repo_mirror_path(const struct repo_cache *rc, const char *name)
{
	static const char	 hex[] = "0123456789ABCDEF";
	struct buf		 b;
	const unsigned char	*p;
	char			 esc[3];

	ASSERT(name != NULL && *name != '\0');
	buf_init(&b, SIZE_MAX);
	ASSERT(buf_printf(&b, "%s/", rc->dir) == 0);
	for (p = (const unsigned char *)name; *p != '\0'; p++) {
		/* A leading '.' is escaped: ".tmp-" is ours, ".." is not. */
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
		    (*p == '.' && p != (const unsigned char *)name)) {
			ASSERT(buf_append(&b, p, 1) == 0);
			continue;
		}
		esc[0] = '%';
		esc[1] = hex[*p >> 4];
		esc[2] = hex[*p & 0xf];
		ASSERT(buf_append(&b, esc, 3) == 0);
	}
	ASSERT(buf_puts(&b, ".git") == 0);
	return buf_steal(&b);
}

/* Removes path and everything below it; failures are logged. */
static void
rm_rf(const char *path)
{
	struct stat	 st;
	struct dirent	*de;
	DIR		*d;
	char		*child;

	if (lstat(path, &st) != 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		if (unlink(path) != 0)
			log_warn("unlink %s", path);
		return;
	}
	if ((d = opendir(path)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			child = xasprintf("%s/%s", path, de->d_name);
			rm_rf(child);
			free(child);
		}
		closedir(d);
	}
	if (rmdir(path) != 0)
		log_warn("rmdir %s", path);
}

int
repo_cache_new(struct repo_cache **out, const char *mirrors_dir,
    int64_t fetch_timeout_ms)
{
	struct repo_cache	*rc;
	struct dirent		*de;
	DIR			*d;
	char			*path;
	int			 error;

	*out = NULL;
	ASSERT(fetch_timeout_ms > 0);
	if (mkdir_p(mirrors_dir, 0700) != 0)
		return err_set(ERR_FAIL, "cannot make %s", mirrors_dir);
	if ((error = repo_stream_register()) != 0)
		return error;
	if ((d = opendir(mirrors_dir)) == NULL)
		return err_set(ERR_FAIL, "cannot open %s: %s", mirrors_dir,
		    strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, ".tmp-", 5) != 0)
			continue;
		path = xasprintf("%s/%s", mirrors_dir, de->d_name);
		log_info("removing interrupted clone %s", path);
		rm_rf(path);
		free(path);
	}
	closedir(d);

	rc = xcalloc(1, sizeof(*rc));
	rc->dir = xstrdup(mirrors_dir);
	rc->fetch_timeout_ms = fetch_timeout_ms;
	pthread_mutex_init(&rc->mtx, NULL);
	*out = rc;
	return 0;
}

void
repo_cache_free(struct repo_cache *rc)
{
	struct repo_lock	*l, *next;

	if (rc == NULL)
		return;
	for (l = rc->locks; l != NULL; l = next) {
		next = l->next;
		pthread_mutex_destroy(&l->mtx);
		free(l->name);
		free(l);
	}
	pthread_mutex_destroy(&rc->mtx);
	free(rc->dir);
	free(rc);
}

void
repo_commit_free(struct repo_commit *c)
{
	if (c == NULL)
		return;
	free(c->sha);
	free(c->message);
	free(c->summary);
	free(c->author);
	free(c->author_email);
	free(c);
}

/* The lock serialising fetches of name, made on first use. */
static struct repo_lock *
repo_lock_get(struct repo_cache *rc, const char *name)
{
	struct repo_lock	*l;

	pthread_mutex_lock(&rc->mtx);
	for (l = rc->locks; l != NULL; l = l->next) {
		if (strcmp(l->name, name) == 0)
			break;
	}
	if (l == NULL) {
		l = xcalloc(1, sizeof(*l));
		l->name = xstrdup(name);
		pthread_mutex_init(&l->mtx, NULL);
		l->next = rc->locks;
		rc->locks = l;
	}
	pthread_mutex_unlock(&rc->mtx);
	return l;
}

static int
repo_open_path(git_repository **out, const char *path)
{
	return git_repository_open_ext(out, path,
	    GIT_REPOSITORY_OPEN_NO_SEARCH | GIT_REPOSITORY_OPEN_BARE, NULL);
}

int
repo_mirror_open(git_repository **out, struct repo_cache *rc,
    const char *name)
{
	struct stat	 st;
	char		*path;
	int		 error = 0;

	*out = NULL;
	path = repo_mirror_path(rc, name);
	if (stat(path, &st) != 0 && errno == ENOENT)
		error = err_set(ERR_NOTFOUND, "no mirror of %s", name);
	else if (repo_open_path(out, path) != 0)
		error = repo_git_err(ERR_FAIL, "open mirror");
	free(path);
	return error;
}

int
repo_commit_lookup(git_commit **out, git_repository *repo,
    const char *name, const char *sha)
{
	git_oid	oid;
	int	error;

	*out = NULL;
	if ((error = repo_sha_parse(&oid, sha)) != 0)
		return error;
	if ((error = git_commit_lookup(out, repo, &oid)) == 0)
		return 0;
	if (error == GIT_ENOTFOUND)
		return err_set(ERR_NOTFOUND, "commit %.*s not found in %s",
		    REPO_SHORT_SHA, sha, name);
	return repo_git_err(ERR_FAIL, "read commit");
}

/* 1 if the mirror exists and holds commit oid, else 0. */
static int
repo_has_commit(git_repository *repo, const git_oid *oid)
{
	git_commit	*c = NULL;

	if (git_commit_lookup(&c, repo, oid) != 0)
		return 0;
	git_commit_free(c);
	return 1;
}

/*
 * Copies a libgit2 message for a user: one line, the token replaced, and
 * the user information of any URL ("https://user:pw@host") removed.
 */
static char *
repo_scrub(const char *msg, const char *token)
{
	struct buf	 b;
	const char	*p, *q, *at;
	size_t		 tlen = token != NULL ? strlen(token) : 0;

	buf_init(&b, SIZE_MAX);
	for (p = msg; *p != '\0';) {
		if (tlen > 0 && strncmp(p, token, tlen) == 0) {
			ASSERT(buf_puts(&b, "****") == 0);
			p += tlen;
			continue;
		}
		if (strncmp(p, "://", 3) == 0) {
			ASSERT(buf_puts(&b, "://") == 0);
			p += 3;
			at = NULL;
			for (q = p; *q != '\0' && *q != '/' && *q != ' ' &&
			    *q != '\'' && *q != '"'; q++) {
				if (*q == '@')
					at = q;
			}
			if (at != NULL)
				p = at + 1;
			continue;
		}
		ASSERT(buf_append(&b, *p == '\n' || *p == '\r' ? " " : p,
		    1) == 0);
		p++;
	}
	return buf_steal(&b);
}

static int
fetch_cred(git_credential **out, const char *url, const char *user,
    unsigned int allowed, void *payload)
{
	struct fetch_ctx	*ctx = payload;

	(void)url;
	if (time_mono_ms() >= ctx->deadline) {
		ctx->timed_out = 1;
		return GIT_EUSER;
	}
	if (ctx->token == NULL ||
	    (allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) == 0 ||
	    ctx->cred_tries >= REPO_CRED_TRIES) {
		ctx->auth_failed = 1;
		return GIT_EUSER;
	}
	if (user == NULL || *user == '\0')
		user = repo_cred_users[ctx->cred_tries];
	ctx->cred_tries++;
	return git_credential_userpass_plaintext_new(out, user, ctx->token);
}

static int
fetch_progress(const git_indexer_progress *stats, void *payload)
{
	struct fetch_ctx	*ctx = payload;

	(void)stats;
	if (time_mono_ms() < ctx->deadline)
		return 0;
	ctx->timed_out = 1;
	return GIT_EUSER;
}

static int
fetch_sideband(const char *str, int len, void *payload)
{
	struct fetch_ctx	*ctx = payload;

	(void)str;
	(void)len;
	if (time_mono_ms() < ctx->deadline)
		return 0;
	ctx->timed_out = 1;
	return GIT_EUSER;
}

/*
 * Fetches branches and tags of url into repo, within the cache's
 * timeout. ERR_UPSTREAM with a message fit for the run's reason.
 * The caller holds name's lock.
 */
static int
repo_fetch(git_repository *repo, struct repo_cache *rc, const char *name,
    const char *url, const char *token)
{
	static char	 heads[] = "+refs/heads/*:refs/heads/*";
	static char	 tags[] = "+refs/tags/*:refs/tags/*";
	char		*specv[] = { heads, tags };
	git_strarray	 specs = { specv, 2 };
	git_fetch_options opts;
	git_remote_create_options copts;
	git_remote	*remote = NULL;
	struct fetch_ctx ctx;
	const git_error	*e;
	char		*why = NULL, dur[32];
	int64_t		 start = time_mono_ms();
	int		 error;

	git_fetch_options_init(&opts, GIT_FETCH_OPTIONS_VERSION);
	memset(&ctx, 0, sizeof(ctx));
	ctx.token = token;
	ctx.deadline = start + rc->fetch_timeout_ms;
	opts.callbacks.credentials = fetch_cred;
	opts.callbacks.transfer_progress = fetch_progress;
	opts.callbacks.sideband_progress = fetch_sideband;
	opts.callbacks.payload = &ctx;
	opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
	opts.update_fetchhead = 0;

	git_error_clear();
	/*
	 * Anonymous (name NULL), and deaf to url.*.insteadOf: the URL is
	 * the configured one, and libgit2 1.5 leaks a pcre2 match per
	 * config entry while looking those up.
	 */
	git_remote_create_options_init(&copts,
	    GIT_REMOTE_CREATE_OPTIONS_VERSION);
	copts.repository = repo;
	copts.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF |
	    GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
	if ((error = git_remote_create_with_opts(&remote, url, &copts)) == 0) {
		repo_stream_deadline_set(ctx.deadline);
		error = git_remote_fetch(remote, &specs, &opts, NULL);
		repo_stream_deadline_set(0);
	}
	git_remote_free(remote);
	if (error == 0) {
		log_debug("repo=%s fetched in %lldms", name,
		    (long long)(time_mono_ms() - start));
		return 0;
	}

	if (ctx.timed_out || time_mono_ms() >= ctx.deadline) {
		format_duration(dur, sizeof(dur), rc->fetch_timeout_ms);
		why = xasprintf("timed out after %s", dur);
	} else if (ctx.auth_failed)
		why = xstrdup(token == NULL ?
		    "authentication required and no token configured" :
		    "authentication failed");
	else if (strstr(url, "://") == NULL && url[0] != '\0' &&
	    strchr(url, ':') == NULL && access(url, F_OK) != 0)
		/* libgit2 says "unsupported URL protocol" for a bad path. */
		why = xasprintf("no repository at %s", url);
	else {
		e = git_error_last();
		why = repo_scrub(e != NULL && e->message != NULL ?
		    e->message : "unknown error", token);
	}
	error = err_set(ERR_UPSTREAM, "fetch of %s failed: %s", name, why);
	free(why);
	return error;
}

/*
 * Opens name's mirror, making it with a first fetch from url when it
 * does not exist. *fetched_out is 1 when that fetch happened. The caller
 * holds name's lock.
 */
static int
repo_mirror_get(git_repository **out, int *fetched_out,
    struct repo_cache *rc, const char *name, const char *url,
    const char *token)
{
	git_repository		*tmp = NULL;
	git_repository_init_options iopts;
	char			*path = NULL, *tmpdir = NULL, *enc;
	int			 error;

	*out = NULL;
	*fetched_out = 0;
	error = repo_mirror_open(out, rc, name);
	if (error != ERR_NOTFOUND)
		return error;

	path = repo_mirror_path(rc, name);
	enc = strrchr(path, '/') + 1;
	tmpdir = xasprintf("%s/.tmp-%.*s-XXXXXX", rc->dir,
	    (int)(strlen(enc) - 4), enc);
	if (mkdtemp(tmpdir) == NULL) {
		error = err_set(ERR_FAIL, "mkdtemp %s: %s", tmpdir,
		    strerror(errno));
		free(tmpdir);
		tmpdir = NULL;
		goto out;
	}
	git_repository_init_options_init(&iopts,
	    GIT_REPOSITORY_INIT_OPTIONS_VERSION);
	iopts.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH;
	if (git_repository_init_ext(&tmp, tmpdir, &iopts) != 0) {
		error = repo_git_err(ERR_FAIL, "init mirror");
		goto out;
	}
	if ((error = repo_fetch(tmp, rc, name, url, token)) != 0)
		goto out;
	git_repository_free(tmp);
	tmp = NULL;
	if (rename(tmpdir, path) != 0) {
		/* Not ours to race with, but the other copy is as good. */
		if (errno != EEXIST && errno != ENOTEMPTY) {
			error = err_set(ERR_FAIL, "rename to %s: %s", path,
			    strerror(errno));
			goto out;
		}
	} else {
		free(tmpdir);
		tmpdir = NULL;
	}
	log_info("repo=%s mirror created", name);
	*fetched_out = 1;
	error = repo_mirror_open(out, rc, name);
out:
	git_repository_free(tmp);
	if (tmpdir != NULL) {
		rm_rf(tmpdir);
		free(tmpdir);
	}
	free(path);
	return error;
}

int
repo_ensure_commit(struct repo_cache *rc, const char *name,
    const char *url, const char *token, const char *sha)
{
	git_repository		*repo = NULL;
	struct repo_lock	*lock;
	git_oid			 oid;
	int			 error, fetched;

	ASSERT(url != NULL);
	if ((error = repo_sha_parse(&oid, sha)) != 0)
		return error;
	if (repo_mirror_open(&repo, rc, name) == 0 &&
	    repo_has_commit(repo, &oid)) {
		git_repository_free(repo);
		return 0;
	}
	git_repository_free(repo);
	repo = NULL;

	lock = repo_lock_get(rc, name);
	pthread_mutex_lock(&lock->mtx);
	if ((error = repo_mirror_get(&repo, &fetched, rc, name, url,
	    token)) != 0)
		goto out;
	/* Another thread may have fetched it while this one waited. */
	if (repo_has_commit(repo, &oid))
		goto out;
	if (!fetched &&
	    (error = repo_fetch(repo, rc, name, url, token)) != 0)
		goto out;
	if (!repo_has_commit(repo, &oid))
		error = err_set(ERR_NOTFOUND,
		    "commit %.*s not found in %s after fetch",
		    REPO_SHORT_SHA, sha, name);
out:
	pthread_mutex_unlock(&lock->mtx);
	git_repository_free(repo);
	return error;
}

int
repo_resolve_branch(char **sha_out, struct repo_cache *rc,
    const char *name, const char *url, const char *token,
    const char *branch)
{
	git_repository		*repo = NULL;
	struct repo_lock	*lock;
	git_oid			 oid;
	char			*ref, hex[GIT_OID_HEXSZ + 1];
	int			 error, fetched, valid = 0;

	*sha_out = NULL;
	ASSERT(url != NULL);
	ref = xasprintf("refs/heads/%s", branch);
	if (git_reference_name_is_valid(&valid, ref) != 0 || !valid) {
		free(ref);
		return err_set(ERR_INVALID, "invalid branch name");
	}

	lock = repo_lock_get(rc, name);
	pthread_mutex_lock(&lock->mtx);
	if ((error = repo_mirror_get(&repo, &fetched, rc, name, url,
	    token)) != 0)
		goto out;
	if (!fetched &&
	    (error = repo_fetch(repo, rc, name, url, token)) != 0)
		goto out;
	if ((error = git_reference_name_to_id(&oid, repo, ref)) != 0) {
		if (error == GIT_ENOTFOUND)
			error = err_set(ERR_NOTFOUND,
			    "branch %s not found in %s", branch, name);
		else
			error = repo_git_err(ERR_FAIL, "resolve branch");
		goto out;
	}
	git_oid_tostr(hex, sizeof(hex), &oid);
	*sha_out = xstrdup(hex);
out:
	pthread_mutex_unlock(&lock->mtx);
	git_repository_free(repo);
	free(ref);
	return error;
}

int
repo_read_file(char **out, size_t *len_out, struct repo_cache *rc,
    const char *name, const char *sha, const char *path, size_t max)
{
	git_repository		*repo = NULL;
	git_commit		*commit = NULL;
	git_tree		*tree = NULL;
	git_tree_entry		*entry = NULL;
	git_odb			*odb = NULL;
	git_blob		*blob = NULL;
	git_object_t		 type;
	git_oid			 oid;
	size_t			 size;
	char			*data;
	int			 error;

	*out = NULL;
	*len_out = 0;
	if ((error = repo_sha_parse(&oid, sha)) != 0)
		return error;
	if ((error = repo_mirror_open(&repo, rc, name)) != 0)
		goto out;
	if ((error = repo_commit_lookup(&commit, repo, name, sha)) != 0)
		goto out;
	if (git_commit_tree(&tree, commit) != 0) {
		error = repo_git_err(ERR_FAIL, "read tree");
		goto out;
	}
	if ((error = git_tree_entry_bypath(&entry, tree, path)) != 0) {
		error = err_set(ERR_NOTFOUND, "no %s at %.*s", path,
		    REPO_SHORT_SHA, sha);
		goto out;
	}
	switch (git_tree_entry_filemode(entry)) {
	case GIT_FILEMODE_BLOB:
	case GIT_FILEMODE_BLOB_EXECUTABLE:
		break;
	case GIT_FILEMODE_TREE:
		error = err_set(ERR_INVALID, "%s at %.*s is a directory",
		    path, REPO_SHORT_SHA, sha);
		goto out;
	case GIT_FILEMODE_LINK:
		error = err_set(ERR_INVALID, "%s at %.*s is a symlink",
		    path, REPO_SHORT_SHA, sha);
		goto out;
	default:
		error = err_set(ERR_INVALID, "%s at %.*s is not a file",
		    path, REPO_SHORT_SHA, sha);
		goto out;
	}
	if (git_repository_odb(&odb, repo) != 0 ||
	    git_odb_read_header(&size, &type, odb,
	    git_tree_entry_id(entry)) != 0) {
		error = repo_git_err(ERR_FAIL, "read object header");
		goto out;
	}
	if (size > max) {
		error = err_set(ERR_TOOBIG, "%s at %.*s is larger than %zu "
		    "bytes", path, REPO_SHORT_SHA, sha, max);
		goto out;
	}
	if (git_blob_lookup(&blob, repo, git_tree_entry_id(entry)) != 0) {
		error = repo_git_err(ERR_FAIL, "read blob");
		goto out;
	}
	size = (size_t)git_blob_rawsize(blob);
	data = xmalloc(size + 1);
	memcpy(data, git_blob_rawcontent(blob), size);
	data[size] = '\0';
	*out = data;
	*len_out = size;
out:
	git_blob_free(blob);
	git_odb_free(odb);
	git_tree_entry_free(entry);
	git_tree_free(tree);
	git_commit_free(commit);
	git_repository_free(repo);
	return error;
}

int
repo_commit_info(struct repo_commit **out, struct repo_cache *rc,
    const char *name, const char *sha)
{
	git_repository		*repo = NULL;
	git_commit		*commit = NULL;
	const git_signature	*author;
	struct repo_commit	*c;
	const char		*s;
	char			 hex[GIT_OID_HEXSZ + 1];
	int			 error;

	*out = NULL;
	if ((error = repo_mirror_open(&repo, rc, name)) != 0)
		goto out;
	if ((error = repo_commit_lookup(&commit, repo, name, sha)) != 0)
		goto out;
	c = xcalloc(1, sizeof(*c));
	git_oid_tostr(hex, sizeof(hex), git_commit_id(commit));
	c->sha = xstrdup(hex);
	s = git_commit_message(commit);
	c->message = xstrdup(s != NULL ? s : "");
	s = git_commit_summary(commit);
	c->summary = xstrdup(s != NULL ? s : "");
	author = git_commit_author(commit);
	c->author = xstrdup(author != NULL && author->name != NULL ?
	    author->name : "");
	c->author_email = xstrdup(author != NULL && author->email != NULL ?
	    author->email : "");
	c->time_ms = (int64_t)git_commit_time(commit) * 1000;
	*out = c;
out:
	git_commit_free(commit);
	git_repository_free(repo);
	return error;
}

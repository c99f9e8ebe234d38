/*
 * repo.h - Git mirrors with libgit2: one bare mirror per configured
 * repository under data_dir/mirrors/, created on first use and fetched
 * afterwards; reading one file of a commit straight from the object
 * database; a streaming tar.gz of a commit's tree (the source archive of
 * GET /source/{run}.tar.gz and the local executor's workspace).
 *
 * Threads: main calls git_libgit2_init() and then repo_cache_new()
 * before any thread exists (it registers libgit2's socket stream, which
 * bounds every network wait), and repo_cache_free() after they have all
 * joined. Between the two, any thread may call every other function at
 * once on the same cache: fetches of one repository are serialised by a
 * per-repository lock, different repositories fetch in parallel, and
 * readers need no lock (packs and refs are replaced atomically). A
 * struct repo_archive is used by one thread at a time.
 *
 * Ownership: the cache owns its lock table; it holds no open repository
 * between calls. Each **out result is the caller's, freed with the
 * matching _free or _close (or free() for plain strings). Tokens are used
 * for one fetch and never stored, logged or put in a message.
 */
#ifndef FERRY_REPO_H
#define FERRY_REPO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct repo_cache;
struct repo_archive;

/* A commit's metadata, for runs started through the API. */
struct repo_commit {
	char	*sha;		/* full 40 hex digits */
	char	*message;	/* full message, as stored */
	char	*summary;	/* first paragraph on one line */
	char	*author;	/* author name */
	char	*author_email;	/* author email, "" if none */
	int64_t	 time_ms;	/* committer time, unix milliseconds */
};

void	 repo_commit_free(struct repo_commit *c);

/*
 * Makes mirrors_dir (mkdir -p) and removes what an interrupted clone left
 * there. fetch_timeout_ms (> 0) bounds each clone or fetch as a whole,
 * connect and every read included. *out is the caller's
 * (repo_cache_free). ERR_FAIL if the directory cannot be made.
 * Call from main before threads start (see above).
 */
int	 repo_cache_new(struct repo_cache **out, const char *mirrors_dir,
	    int64_t fetch_timeout_ms);
void	 repo_cache_free(struct repo_cache *rc);

/*
 * The path of name's mirror: mirrors_dir/<name, '/' and other unsafe
 * bytes as %XX>.git ("acme%2Fshop.git"). The caller frees it.
 */
char	*repo_mirror_path(const struct repo_cache *rc, const char *name);

/*
 * Makes sure commit sha (40 hex digits) is in name's mirror. The mirror
 * is made on first use (into a temporary directory, renamed into place
 * once complete); a commit already present needs no network at all;
 * otherwise branches and tags are fetched from url (https://, http://,
 * file:// or a local path). token, when not NULL, answers an HTTP
 * authentication request (user "x-access-token", then "oauth2").
 * Returns 0, ERR_INVALID (sha is not 40 hex digits), ERR_UPSTREAM
 * ("fetch of acme/shop failed: <reason>", timeouts included) or
 * ERR_NOTFOUND ("commit 9f1c2ab not found in acme/shop after fetch").
 * Blocks for at most about fetch_timeout_ms, plus the wait for another
 * thread's fetch of the same repository.
 */
int	 repo_ensure_commit(struct repo_cache *rc, const char *name,
	    const char *url, const char *token, const char *sha);

/*
 * Fetches name (making the mirror if needed) and resolves branch to the
 * commit it names. *sha_out (40 hex digits) is the caller's (free).
 * ERR_UPSTREAM as above, ERR_INVALID for a malformed branch name,
 * ERR_NOTFOUND ("branch x not found in acme/shop").
 */
int	 repo_resolve_branch(char **sha_out, struct repo_cache *rc,
	    const char *name, const char *url, const char *token,
	    const char *branch);

/*
 * Reads the blob at path ("ci/.ferry.yml") in commit sha's tree from the
 * mirror, without a checkout. *out holds len_out bytes plus a NUL and is
 * the caller's (free). ERR_NOTFOUND ("no .ferry.yml at 9f1c2ab", or the
 * mirror or commit is missing), ERR_TOOBIG (larger than max bytes; the
 * blob is not loaded), ERR_INVALID (a directory, symlink or submodule,
 * or a malformed sha).
 */
int	 repo_read_file(char **out, size_t *len_out, struct repo_cache *rc,
	    const char *name, const char *sha, const char *path, size_t max);

/*
 * Commit sha's metadata from the mirror. *out is the caller's
 * (repo_commit_free). ERR_NOTFOUND, ERR_INVALID (malformed sha).
 */
int	 repo_commit_info(struct repo_commit **out, struct repo_cache *rc,
	    const char *name, const char *sha);

/*
 * A gzip'd POSIX tar of commit sha's tree, made on the fly from the
 * mirror: directories (0755), regular files (0644, or 0755 when
 * executable), symlinks; pax headers for long paths and targets; every
 * mtime the commit time. Submodules (gitlinks) become empty directories,
 * as in a fresh clone, and are listed by repo_archive_submodules().
 * Memory stays bounded: one blob is held at a time.
 *
 * repo_archive_open: *out is the caller's (repo_archive_close).
 * ERR_NOTFOUND (mirror or commit missing), ERR_INVALID (malformed sha).
 */
int	 repo_archive_open(struct repo_archive **out, struct repo_cache *rc,
	    const char *name, const char *sha);
/*
 * Writes up to max (> 0) bytes of the .tar.gz into buf. Returns the
 * count (> 0), 0 once the archive is complete, or a negative enum err
 * (ERR_FAIL: an object could not be read) after which the archive is
 * broken and every later call fails the same way.
 */
ssize_t	 repo_archive_read(struct repo_archive *a, char *buf, size_t max);
void	 repo_archive_close(struct repo_archive *a);
/*
 * Paths of the submodules the archive leaves empty, in tree order,
 * collected when the archive was opened. *names_out is borrowed: it lives
 * as long as a. Returns the count.
 */
size_t	 repo_archive_submodules(const struct repo_archive *a,
	    const char *const **names_out);

/*
 * Writes the whole .tar.gz of commit sha to fd (a file or a pipe to
 * `tar -xz`). Codes of repo_archive_open and _read, and ERR_FAIL when a
 * write fails (errno in the message).
 */
int	 repo_archive_write_fd(int fd, struct repo_cache *rc,
	    const char *name, const char *sha);

#endif

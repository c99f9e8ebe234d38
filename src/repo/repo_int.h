/*
 * repo_int.h - what repo.c shares with archive.c and stream.c; not part
 * of the public interface.
 */
#ifndef FERRY_REPO_INT_H
#define FERRY_REPO_INT_H

#include <git2.h>
#include <stdint.h>

struct repo_cache;

/* Length of an abbreviated sha in messages. */
#define REPO_SHORT_SHA	7

/*
 * Opens name's mirror. *out is the caller's (git_repository_free).
 * ERR_NOTFOUND "no mirror of acme/shop" when it does not exist yet,
 * ERR_FAIL otherwise.
 */
int	 repo_mirror_open(git_repository **out, struct repo_cache *rc,
	    const char *name);

/*
 * Parses sha (exactly 40 hex digits) into oid; ERR_INVALID otherwise.
 */
int	 repo_sha_parse(git_oid *oid, const char *sha);

/*
 * Looks commit sha up in repo. *out is the caller's (git_commit_free).
 * ERR_INVALID for a malformed sha, ERR_NOTFOUND "commit 9f1c2ab not
 * found in acme/shop".
 */
int	 repo_commit_lookup(git_commit **out, git_repository *repo,
	    const char *name, const char *sha);

/* Records "what: <git_error_last text>" with code; returns code. */
int	 repo_git_err(int code, const char *what);

/*
 * The network stream (stream.c): every connect, read and write waits at
 * most until this thread's deadline (monotonic ms, 0: the default idle
 * timeout). Registered once with libgit2 by repo_cache_new().
 */
int	 repo_stream_register(void);
void	 repo_stream_deadline_set(int64_t deadline_ms);

#endif

/*
 * DESIGN
 *
 * The source archive is produced on demand, pulled by the reader: each
 * repo_archive_read() deflates just enough tar bytes to fill the
 * caller's buffer, so the HTTP layer can hand it to libmicrohttpd chunk
 * by chunk and the local executor can pipe it to `tar -xz`, and nothing
 * is ever checked out or held whole. The tree is walked depth first with
 * an explicit stack of open trees (parents before children, entries in
 * git's order, like `git archive`); each entry becomes a header (pax
 * extended header first when ustar cannot hold it), the blob's bytes
 * straight from libgit2's buffer, and zero padding. One blob is loaded
 * at a time.
 *
 * Input to zlib is always a piece that stays valid until zlib has taken
 * all of it: the next entry is produced only once avail_in is zero.
 * Compression is zlib level 1: the archive crosses a loopback or a
 * cluster network, where speed beats the last few percent of size.
 */
#include "repo.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <git2.h>
#define ZLIB_CONST
#include <zlib.h>

#include "repo_int.h"
#include "util.h"

#define TAR_BLOCK	512
#define TAR_NAME_MAX	100
#define TAR_PREFIX_MAX	155
#define TAR_SIZE_MAX	077777777777ULL
#define ARC_CHUNK_MAX	(1U << 20)	/* largest piece given to zlib */

/* What the input side produces next. */
enum arc_stage {
	ARC_HDR,	/* headers of the current entry */
	ARC_DATA,	/* the current blob */
	ARC_PAD,	/* zero padding or the end-of-archive blocks */
	ARC_NEXT,	/* move to the next entry */
	ARC_END,	/* nothing more */
};

/* A tree being walked. */
struct arc_frame {
	git_tree	*tree;		/* owned */
	size_t		 idx;		/* next entry to emit */
	char		*prefix;	/* "" or "dir/sub/", owned */
};

struct repo_archive {
	git_repository	 *repo;		/* owned */
	int64_t		  mtime;	/* commit time, unix seconds */
	struct arc_frame *stack;	/* owned; depth used, cap allocated */
	size_t		  depth;
	size_t		  cap;
	enum arc_stage	  stage;
	int		  walked;	/* every entry and the trailer queued */
	struct buf	  hdr;		/* headers of the current entry */
	git_blob	 *blob;		/* content of the current entry */
	size_t		  data_off;	/* bytes of blob already given */
	size_t		  pad;		/* zero bytes owed after the blob */
	int		  eof;		/* tar input exhausted */
	z_stream	  z;		/* gzip deflate state */
	int		  z_done;	/* Z_STREAM_END seen */
	int		  error;	/* sticky enum err, 0 while healthy */
	char		 *errmsg;	/* its message, owned */
	char		**subs;		/* submodule paths, owned */
	size_t		  nsubs;
};

static const char	arc_zeros[2 * TAR_BLOCK];

/* Writes v as width-1 octal digits and a NUL (ustar numeric field). */
static void
tar_octal(char *dst, size_t width, uint64_t v)
{
	size_t	i;

	dst[width - 1] = '\0';
	for (i = width - 1; i > 0; i--) {
		dst[i - 1] = (char)('0' + (v & 7));
		v >>= 3;
	}
}

/* Appends one pax record "<len> key=value\n". */
static void
pax_record(struct buf *b, const char *key, const char *val, size_t vlen)
{
	size_t	base, len, d, x;

	/* The length counts its own digits: one more digit may carry. */
	base = strlen(key) + vlen + 3;	/* ' ', '=', '\n' */
	for (d = 1, x = base; x >= 10; x /= 10)
		d++;
	len = base + d;
	for (x = len; x >= 10; x /= 10)
		d--;
	if (d == 0)
		len++;
	ASSERT(buf_printf(b, "%zu %s=", len, key) == 0);
	ASSERT(buf_append(b, val, vlen) == 0);
	ASSERT(buf_append(b, "\n", 1) == 0);
}

/* Fills a 512-byte ustar header block; name/prefix already split. */
static void
tar_block(char *h, const char *name, size_t nlen, const char *prefix,
    size_t plen, char type, unsigned int mode, uint64_t size,
    int64_t mtime, const char *link, size_t llen)
{
	unsigned int	sum = 0;
	size_t		i;

	memset(h, 0, TAR_BLOCK);
	memcpy(h, name, nlen > TAR_NAME_MAX ? TAR_NAME_MAX : nlen);
	tar_octal(h + 100, 8, mode);
	tar_octal(h + 108, 8, 0);
	tar_octal(h + 116, 8, 0);
	tar_octal(h + 124, 12, size > TAR_SIZE_MAX ? 0 : size);
	tar_octal(h + 136, 12, mtime < 0 ? 0 : (uint64_t)mtime);
	h[156] = type;
	if (link != NULL)
		memcpy(h + 157, link, llen > TAR_NAME_MAX ?
		    TAR_NAME_MAX : llen);
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	if (prefix != NULL)
		memcpy(h + 345, prefix, plen > TAR_PREFIX_MAX ?
		    TAR_PREFIX_MAX : plen);
	memset(h + 148, ' ', 8);
	for (i = 0; i < TAR_BLOCK; i++)
		sum += (unsigned char)h[i];
	tar_octal(h + 148, 7, sum);	/* six digits, NUL, then the space */
}

/*
 * Appends the headers of one entry to a->hdr: a pax 'x' header when the
 * path, link target or size does not fit ustar, then the ustar header.
 */
static void
arc_header(struct repo_archive *a, const char *path, char type,
    unsigned int mode, uint64_t size, const char *link, size_t llen)
{
	struct buf	 pax;
	char		 block[TAR_BLOCK], num[32];
	const char	*name = path, *prefix = NULL;
	size_t		 len = strlen(path), nlen = len, plen = 0, i;
	int		 fits = len <= TAR_NAME_MAX;

	/* ustar: prefix '/' name, each within its field. */
	for (i = 1; !fits && i < len && i <= TAR_PREFIX_MAX; i++) {
		if (path[i] == '/' && len - i - 1 <= TAR_NAME_MAX &&
		    len - i - 1 > 0) {
			prefix = path;
			plen = i;
			name = path + i + 1;
			nlen = len - i - 1;
			fits = 1;
		}
	}

	buf_init(&pax, SIZE_MAX);
	if (!fits)
		pax_record(&pax, "path", path, len);
	if (link != NULL && llen > TAR_NAME_MAX)
		pax_record(&pax, "linkpath", link, llen);
	if (size > TAR_SIZE_MAX) {
		snprintf(num, sizeof(num), "%llu",
		    (unsigned long long)size);
		pax_record(&pax, "size", num, strlen(num));
	}
	if (pax.len > 0) {
		tar_block(block, "././@PaxHeader", 14, NULL, 0, 'x', 0644,
		    pax.len, a->mtime, NULL, 0);
		ASSERT(buf_append(&a->hdr, block, TAR_BLOCK) == 0);
		ASSERT(buf_append(&a->hdr, pax.data, pax.len) == 0);
		if (pax.len % TAR_BLOCK != 0)
			ASSERT(buf_append(&a->hdr, arc_zeros,
			    TAR_BLOCK - pax.len % TAR_BLOCK) == 0);
	}
	buf_dispose(&pax);
	tar_block(block, name, nlen, prefix, plen, type, mode, size,
	    a->mtime, link, llen);
	ASSERT(buf_append(&a->hdr, block, TAR_BLOCK) == 0);
}

static int
arc_fail(struct repo_archive *a, int code)
{
	if (a->error == 0) {
		a->error = code;
		a->errmsg = xstrdup(err_msg());
	}
	return code;
}

static void
arc_push(struct repo_archive *a, git_tree *tree, char *prefix)
{
	if (a->depth == a->cap) {
		a->cap = a->cap == 0 ? 8 : a->cap * 2;
		a->stack = xreallocarray(a->stack, a->cap,
		    sizeof(*a->stack));
	}
	a->stack[a->depth].tree = tree;
	a->stack[a->depth].idx = 0;
	a->stack[a->depth].prefix = prefix;
	a->depth++;
}

/*
 * Queues the next entry of the walk (headers, blob, padding): 1, or 0
 * once the walk is over, or a negative enum err.
 */
static int
arc_next_entry(struct repo_archive *a)
{
	struct arc_frame	*f;
	const git_tree_entry	*e;
	git_tree		*sub;
	git_blob		*blob;
	char			*path;
	uint64_t		 size;

	buf_reset(&a->hdr);
	git_blob_free(a->blob);
	a->blob = NULL;
	a->data_off = 0;
	a->pad = 0;
	while (a->depth > 0) {
		f = &a->stack[a->depth - 1];
		if (f->idx >= git_tree_entrycount(f->tree)) {
			git_tree_free(f->tree);
			free(f->prefix);
			a->depth--;
			continue;
		}
		e = git_tree_entry_byindex(f->tree, f->idx++);
		switch (git_tree_entry_filemode(e)) {
		case GIT_FILEMODE_TREE:
			if (git_tree_lookup(&sub, a->repo,
			    git_tree_entry_id(e)) != 0)
				return repo_git_err(ERR_FAIL, "read tree");
			path = xasprintf("%s%s/", f->prefix,
			    git_tree_entry_name(e));
			arc_header(a, path, '5', 0755, 0, NULL, 0);
			arc_push(a, sub, path);	/* f is stale from here */
			return 1;
		case GIT_FILEMODE_COMMIT:
			/* A submodule: empty, as in a fresh clone. */
			path = xasprintf("%s%s/", f->prefix,
			    git_tree_entry_name(e));
			arc_header(a, path, '5', 0755, 0, NULL, 0);
			free(path);
			return 1;
		case GIT_FILEMODE_BLOB:
		case GIT_FILEMODE_BLOB_EXECUTABLE:
		case GIT_FILEMODE_LINK:
			break;
		default:
			continue;
		}
		if (git_blob_lookup(&blob, a->repo,
		    git_tree_entry_id(e)) != 0)
			return repo_git_err(ERR_FAIL, "read blob");
		path = xasprintf("%s%s", f->prefix, git_tree_entry_name(e));
		size = (uint64_t)git_blob_rawsize(blob);
		if (git_tree_entry_filemode(e) == GIT_FILEMODE_LINK) {
			arc_header(a, path, '2', 0777, 0,
			    git_blob_rawcontent(blob), (size_t)size);
			git_blob_free(blob);
		} else {
			arc_header(a, path, '0', git_tree_entry_filemode(e) ==
			    GIT_FILEMODE_BLOB_EXECUTABLE ? 0755 : 0644, size,
			    NULL, 0);
			a->blob = blob;
			if (size % TAR_BLOCK != 0)
				a->pad = TAR_BLOCK - size % TAR_BLOCK;
		}
		free(path);
		return 1;
	}
	return 0;
}

/* The next piece of tar bytes: *n == 0 at the end. */
static int
arc_input(struct repo_archive *a, const void **p, size_t *n)
{
	size_t	size;
	int	error;

	for (;;) {
		switch (a->stage) {
		case ARC_HDR:
			a->stage = ARC_DATA;
			if (a->hdr.len > 0) {
				*p = a->hdr.data;
				*n = a->hdr.len;
				return 0;
			}
			break;
		case ARC_DATA:
			size = a->blob != NULL ?
			    (size_t)git_blob_rawsize(a->blob) : 0;
			if (a->data_off >= size) {
				a->stage = ARC_PAD;
				break;
			}
			*p = (const char *)git_blob_rawcontent(a->blob) +
			    a->data_off;
			*n = size - a->data_off;
			if (*n > ARC_CHUNK_MAX)
				*n = ARC_CHUNK_MAX;
			a->data_off += *n;
			return 0;
		case ARC_PAD:
			a->stage = ARC_NEXT;
			if (a->pad > 0) {
				*p = arc_zeros;
				*n = a->pad;
				return 0;
			}
			break;
		case ARC_NEXT:
			if (a->walked) {
				a->stage = ARC_END;
				break;
			}
			if ((error = arc_next_entry(a)) < 0)
				return error;
			if (error == 0) {
				/* Two zero blocks end the archive. */
				a->walked = 1;
				a->pad = sizeof(arc_zeros);
				a->stage = ARC_PAD;
				break;
			}
			a->stage = ARC_HDR;
			break;
		case ARC_END:
			*p = NULL;
			*n = 0;
			return 0;
		}
	}
}

static int
arc_collect_sub(const char *root, const git_tree_entry *e, void *payload)
{
	struct repo_archive	*a = payload;

	if (git_tree_entry_filemode(e) != GIT_FILEMODE_COMMIT)
		return 0;
	a->subs = xreallocarray(a->subs, a->nsubs + 1, sizeof(*a->subs));
	a->subs[a->nsubs++] = xasprintf("%s%s", root,
	    git_tree_entry_name(e));
	return 0;
}

int
repo_archive_open(struct repo_archive **out, struct repo_cache *rc,
    const char *name, const char *sha)
{
	struct repo_archive	*a;
	git_commit		*commit = NULL;
	git_tree		*tree = NULL;
	git_oid			 oid;
	int			 error;

	*out = NULL;
	if ((error = repo_sha_parse(&oid, sha)) != 0)
		return error;
	a = xcalloc(1, sizeof(*a));
	buf_init(&a->hdr, SIZE_MAX);
	a->stage = ARC_NEXT;
	if ((error = repo_mirror_open(&a->repo, rc, name)) != 0)
		goto out;
	if ((error = repo_commit_lookup(&commit, a->repo, name, sha)) != 0)
		goto out;
	a->mtime = git_commit_time(commit);
	if (git_commit_tree(&tree, commit) != 0) {
		error = repo_git_err(ERR_FAIL, "read tree");
		goto out;
	}
	if (git_tree_walk(tree, GIT_TREEWALK_PRE, arc_collect_sub, a) != 0) {
		error = repo_git_err(ERR_FAIL, "walk tree");
		goto out;
	}
	if (deflateInit2(&a->z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK) {
		error = err_set(ERR_FAIL, "deflateInit2 failed");
		goto out;
	}
	arc_push(a, tree, xstrdup(""));
	tree = NULL;
	*out = a;
	a = NULL;
out:
	git_tree_free(tree);
	git_commit_free(commit);
	repo_archive_close(a);
	return error;
}

ssize_t
repo_archive_read(struct repo_archive *a, char *buf, size_t max)
{
	const void	*p;
	size_t		 n;
	int		 error, zr;

	ASSERT(max > 0);
	if (a->error != 0)
		return err_set(a->error, "%s", a->errmsg);
	if (max > UINT_MAX)
		max = UINT_MAX;
	a->z.next_out = (Bytef *)buf;
	a->z.avail_out = (uInt)max;
	while (a->z.avail_out > 0 && !a->z_done) {
		if (a->z.avail_in == 0 && !a->eof) {
			if ((error = arc_input(a, &p, &n)) != 0)
				return arc_fail(a, error);
			if (n == 0)
				a->eof = 1;
			a->z.next_in = p;
			a->z.avail_in = (uInt)n;
		}
		zr = deflate(&a->z, a->eof ? Z_FINISH : Z_NO_FLUSH);
		if (zr == Z_STREAM_END)
			a->z_done = 1;
		else if (zr != Z_OK && zr != Z_BUF_ERROR)
			return arc_fail(a, err_set(ERR_FAIL,
			    "deflate failed: %d", zr));
	}
	return (ssize_t)(max - a->z.avail_out);
}

void
repo_archive_close(struct repo_archive *a)
{
	size_t	i;

	if (a == NULL)
		return;
	while (a->depth > 0) {
		a->depth--;
		git_tree_free(a->stack[a->depth].tree);
		free(a->stack[a->depth].prefix);
	}
	free(a->stack);
	git_blob_free(a->blob);
	buf_dispose(&a->hdr);
	deflateEnd(&a->z);
	for (i = 0; i < a->nsubs; i++)
		free(a->subs[i]);
	free(a->subs);
	free(a->errmsg);
	git_repository_free(a->repo);
	free(a);
}

size_t
repo_archive_submodules(const struct repo_archive *a,
    const char *const **names_out)
{
	*names_out = (const char *const *)a->subs;
	return a->nsubs;
}

int
repo_archive_write_fd(int fd, struct repo_cache *rc, const char *name,
    const char *sha)
{
	struct repo_archive	*a = NULL;
	char			*buf;
	ssize_t			 n, w;
	size_t			 off;
	int			 error;

	if ((error = repo_archive_open(&a, rc, name, sha)) != 0)
		return error;
	buf = xmalloc(65536);
	while ((n = repo_archive_read(a, buf, 65536)) > 0) {
		for (off = 0; off < (size_t)n; off += (size_t)w) {
			w = write(fd, buf + off, (size_t)n - off);
			if (w < 0 && errno == EINTR) {
				w = 0;
				continue;
			}
			if (w < 0) {
				n = err_set(ERR_FAIL, "write archive: %s",
				    strerror(errno));
				goto out;
			}
		}
	}
out:
	error = n < 0 ? (int)n : 0;
	free(buf);
	repo_archive_close(a);
	return error;
}

/*
 * util.h - allocation that cannot fail, bounded buffers, hex, time,
 * checked number parsing and constant-time comparison. No ferry
 * knowledge; every function is safe from any thread.
 */
#ifndef FERRY_UTIL_H
#define FERRY_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Allocation: abort with a message on failure, never return NULL. */
void	*xmalloc(size_t n);
void	*xcalloc(size_t nmemb, size_t size);
void	*xrealloc(void *p, size_t n);
/* Like realloc of nmemb * size, aborting on overflow. */
void	*xreallocarray(void *p, size_t nmemb, size_t size);
char	*xstrdup(const char *s);
char	*xstrndup(const char *s, size_t n);
char	*xasprintf(const char *fmt, ...) PRINTFLIKE(1, 2);
/* Zeroes n bytes in a way the compiler keeps (for secrets). */
void	 wipe(void *p, size_t n);
/* Wipes and frees a NUL-terminated secret; accepts NULL. */
void	 free_secret(char *s);

/*
 * struct buf - a growable byte buffer with a ceiling. data is always
 * NUL-terminated (the NUL is not counted in len) so text can be used as
 * a C string. The caller's storage holds the struct: buf_init/buf_dispose.
 */
struct buf {
	char	*data;	/* owned; NULL until the first append */
	size_t	 len;	/* bytes used, excluding the trailing NUL */
	size_t	 cap;	/* bytes allocated */
	size_t	 max;	/* ceiling on len; appends past it fail */
};

void	 buf_init(struct buf *b, size_t max);
void	 buf_dispose(struct buf *b);
/* Wipes the contents, then disposes (for secrets). */
void	 buf_dispose_wipe(struct buf *b);
void	 buf_reset(struct buf *b);
/*
 * Room for n more bytes (and the NUL) without another allocation: 0, or
 * ERR_TOOBIG when len + n would exceed max.
 */
int	 buf_reserve(struct buf *b, size_t n);
/* 0, or ERR_TOOBIG (nothing appended) when len would exceed max. */
int	 buf_append(struct buf *b, const void *p, size_t n);
int	 buf_puts(struct buf *b, const char *s);
int	 buf_printf(struct buf *b, const char *fmt, ...) PRINTFLIKE(2, 3);
/* Hands the data to the caller (xstrdup("") if empty); b is reset. */
char	*buf_steal(struct buf *b);

/* Writes 2n lowercase hex digits and a NUL to out (size 2n + 1). */
void	 hex_encode(char *out, const void *in, size_t n);
/* 0, or ERR_INVALID if s is not exactly 2n hex digits. */
int	 hex_decode(void *out, size_t n, const char *s);
/* The value of hex digit c (either case), or -1. */
int	 hex_digit(int c);

/*
 * A copy of s with every byte that does not start a valid UTF-8 sequence
 * (overlong forms and surrogates included) replaced by U+FFFD, or NULL
 * when s is valid already. Commit messages from git or webhooks need not
 * be UTF-8, yet the JSON ferry sends must be. The caller frees.
 */
char	*utf8_fix(const char *s);

/* Constant-time equality of two byte strings (length leaks, contents don't). */
bool	 ct_equal(const void *a, size_t alen, const void *b, size_t blen);
bool	 ct_streq(const char *a, const char *b);

/* Wall clock, unix milliseconds. */
int64_t	 time_now_ms(void);
/* Monotonic clock, milliseconds. */
int64_t	 time_mono_ms(void);
/*
 * A condition variable whose timed waits use CLOCK_MONOTONIC (a clock
 * set back or forward does not stretch them), and a wait on it of at
 * most ms milliseconds (< 0: 0) with m held.
 */
void	 cond_init_mono(pthread_cond_t *cv);
void	 cond_wait_ms(pthread_cond_t *cv, pthread_mutex_t *m, int64_t ms);
/* "2026-11-26T12:00:00.123Z" into out (at least TIME_RFC3339_LEN bytes). */
#define TIME_RFC3339_LEN	32
void	 time_format_rfc3339(char *out, size_t outsz, int64_t unix_ms);

/*
 * Checked parsers; each returns 0 or ERR_INVALID with a message.
 * parse_int64: base 10, whole string, within [min, max].
 * parse_duration_ms: "30s", "5m", "1h", "250ms", "1h30m"; bare digits are
 *   seconds. Result > 0.
 * parse_bytes: "512", "64KiB", "1MiB", "2GiB", "10MB", "1Ki", "512Mi".
 */
int	 parse_int64(int64_t *out, const char *s, int64_t min, int64_t max);
int	 parse_duration_ms(int64_t *out, const char *s);
int	 parse_bytes(int64_t *out, const char *s);

/* Formats milliseconds as "5m", "1h30m", "45s", "250ms" into out. */
void	 format_duration(char *out, size_t outsz, int64_t ms);

/* Reads a whole file (at most max bytes) into *out (NUL-terminated). */
int	 file_read(char **out, size_t *len_out, const char *path, size_t max);
/*
 * rm -rf path: never follows a symlink nor leaves path's filesystem;
 * what cannot be removed is logged. A missing path is fine.
 */
void	 remove_tree(const char *path);
/* mkdir -p with mode; 0 or ERR_FAIL. */
int	 mkdir_p(const char *path, unsigned int mode);

#endif

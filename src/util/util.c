#define LOG_MODULE "util"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static void NORETURN
oom(size_t n)
{
	log_fatal("util", 0, "out of memory allocating %zu bytes", n);
}

void *
xmalloc(size_t n)
{
	void	*p = malloc(n ? n : 1);

	if (p == NULL)
		oom(n);
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void	*p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (p == NULL)
		oom(nmemb * size);
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	void	*q = realloc(p, n ? n : 1);

	if (q == NULL)
		oom(n);
	return q;
}

void *
xreallocarray(void *p, size_t nmemb, size_t size)
{
	if (size != 0 && nmemb > SIZE_MAX / size)
		oom(SIZE_MAX);
	return xrealloc(p, nmemb * size);
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrndup(const char *s, size_t n)
{
	char	*p;
	size_t	 len = strnlen(s, n);

	p = xmalloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list	 ap;
	char	*p, one[1];
	int	 n;

	/* A one-byte buffer, not NULL: GCC's -Wformat-truncation objects. */
	va_start(ap, fmt);
	n = vsnprintf(one, sizeof(one), fmt, ap);
	va_end(ap);
	ASSERT(n >= 0);
	p = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

void
wipe(void *p, size_t n)
{
	volatile unsigned char	*v = p;

	while (n--)
		*v++ = 0;
}

void
free_secret(char *s)
{
	if (s == NULL)
		return;
	wipe(s, strlen(s));
	free(s);
}

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void
buf_dispose(struct buf *b)
{
	if (b == NULL)
		return;
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void
buf_dispose_wipe(struct buf *b)
{
	if (b == NULL)
		return;
	if (b->data != NULL)
		wipe(b->data, b->cap);
	buf_dispose(b);
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

int
buf_reserve(struct buf *b, size_t n)
{
	size_t	need, cap;

	if (n > b->max || b->len > b->max - n)
		return err_set(ERR_TOOBIG, "buffer limit of %zu bytes reached",
		    b->max);
	need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
	return 0;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	int	rc;

	if ((rc = buf_reserve(b, n)) != 0)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list	ap;
	char	one[1];
	int	n, rc;

	va_start(ap, fmt);
	n = vsnprintf(one, sizeof(one), fmt, ap);
	va_end(ap);
	ASSERT(n >= 0);
	if ((rc = buf_reserve(b, (size_t)n)) != 0)
		return rc;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

char *
buf_steal(struct buf *b)
{
	char	*p = b->data;

	if (p == NULL)
		p = xstrdup("");
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

void
hex_encode(char *out, const void *in, size_t n)
{
	static const char	 digits[] = "0123456789abcdef";
	const unsigned char	*p = in;
	size_t			 i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0xf];
	}
	out[2 * n] = '\0';
}

int
hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
hex_decode(void *out, size_t n, const char *s)
{
	unsigned char	*p = out;
	size_t		 i;
	int		 hi, lo;

	if (strlen(s) != 2 * n)
		return err_set(ERR_INVALID, "expected %zu hex digits", 2 * n);
	for (i = 0; i < n; i++) {
		hi = hex_digit((unsigned char)s[2 * i]);
		lo = hex_digit((unsigned char)s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return err_set(ERR_INVALID, "not a hex digit");
		p[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

bool
ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	const volatile unsigned char	*x = a, *y = b;
	unsigned char			 d = 0;
	size_t				 i;

	if (alen != blen)
		return false;
	for (i = 0; i < alen; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

bool
ct_streq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return false;
	return ct_equal(a, strlen(a), b, strlen(b));
}

int64_t
time_now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
time_mono_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
cond_init_mono(pthread_cond_t *cv)
{
	pthread_condattr_t	ca;

	ASSERT(pthread_condattr_init(&ca) == 0);
	ASSERT(pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0);
	ASSERT(pthread_cond_init(cv, &ca) == 0);
	pthread_condattr_destroy(&ca);
}

void
cond_wait_ms(pthread_cond_t *cv, pthread_mutex_t *m, int64_t ms)
{
	struct timespec	ts;

	if (ms < 0)
		ms = 0;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	(void)pthread_cond_timedwait(cv, m, &ts);
}

void
time_format_rfc3339(char *out, size_t outsz, int64_t unix_ms)
{
	struct tm	tm;
	time_t		secs = (time_t)(unix_ms / 1000);
	int		ms = (int)(unix_ms % 1000);
	char		tmp[24];

	ASSERT(outsz >= TIME_RFC3339_LEN);
	if (ms < 0) {
		ms += 1000;
		secs--;
	}
	gmtime_r(&secs, &tm);
	strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, outsz, "%s.%03dZ", tmp, ms);
}

int
parse_int64(int64_t *out, const char *s, int64_t min, int64_t max)
{
	char		*end;
	long long	 v;

	*out = 0;
	if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
		return err_set(ERR_INVALID, "not a number");
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return err_set(ERR_INVALID, "not a number: \"%.32s\"", s);
	if (v < min || v > max)
		return err_set(ERR_INVALID, "%lld is out of range "
		    "[%" PRId64 ", %" PRId64 "]", v, min, max);
	*out = v;
	return 0;
}

int
parse_duration_ms(int64_t *out, const char *s)
{
	const char	*p = s;
	int64_t		 total = 0, v, unit;
	int		 parts = 0;

	*out = 0;
	if (s == NULL || *s == '\0')
		return err_set(ERR_INVALID, "empty duration");
	while (*p) {
		if (!isdigit((unsigned char)*p))
			goto bad;
		v = 0;
		while (isdigit((unsigned char)*p)) {
			if (v > INT64_MAX / 10 - 10)
				goto bad;
			v = v * 10 + (*p++ - '0');
		}
		if (strncmp(p, "ms", 2) == 0) {
			unit = 1;
			p += 2;
		} else if (*p == 's') {
			unit = 1000;
			p++;
		} else if (*p == 'm') {
			unit = 60 * 1000;
			p++;
		} else if (*p == 'h') {
			unit = 3600 * 1000;
			p++;
		} else if (*p == '\0' && parts == 0) {
			unit = 1000;
		} else
			goto bad;
		if (v > (INT64_MAX / 4) / unit)
			goto bad;
		total += v * unit;
		parts++;
	}
	if (total <= 0)
		goto bad;
	*out = total;
	return 0;
bad:
	return err_set(ERR_INVALID, "invalid duration \"%.32s\" "
	    "(use e.g. 30s, 5m, 1h)", s);
}

int
parse_bytes(int64_t *out, const char *s)
{
	static const struct {
		const char	*suffix;
		int64_t		 mult;
	} units[] = {
		{ "", 1 }, { "B", 1 },
		{ "K", 1000 }, { "KB", 1000 }, { "k", 1000 }, { "kB", 1000 },
		{ "Ki", 1LL << 10 }, { "KiB", 1LL << 10 },
		{ "M", 1000000 }, { "MB", 1000000 },
		{ "Mi", 1LL << 20 }, { "MiB", 1LL << 20 },
		{ "G", 1000000000 }, { "GB", 1000000000 },
		{ "Gi", 1LL << 30 }, { "GiB", 1LL << 30 },
	};
	const char	*p = s;
	int64_t		 v = 0;
	size_t		 i;

	*out = 0;
	if (s == NULL || !isdigit((unsigned char)*p))
		goto bad;
	while (isdigit((unsigned char)*p)) {
		if (v > INT64_MAX / 10 - 10)
			goto bad;
		v = v * 10 + (*p++ - '0');
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(p, units[i].suffix) != 0)
			continue;
		if (v > INT64_MAX / units[i].mult)
			goto bad;
		*out = v * units[i].mult;
		return 0;
	}
bad:
	return err_set(ERR_INVALID, "invalid size \"%.32s\" "
	    "(use e.g. 512KiB, 1MiB, 2GiB)", s ? s : "");
}

void
format_duration(char *out, size_t outsz, int64_t ms)
{
	int64_t	h = ms / 3600000, m = ms / 60000 % 60, sec = ms / 1000 % 60;

	if (ms < 1000)
		snprintf(out, outsz, "%" PRId64 "ms", ms);
	else if (ms % 1000 != 0)
		snprintf(out, outsz, "%.1fs", (double)ms / 1000.0);
	else if (h && !m && !sec)
		snprintf(out, outsz, "%" PRId64 "h", h);
	else if (h)
		snprintf(out, outsz, "%" PRId64 "h%" PRId64 "m", h, m);
	else if (m && !sec)
		snprintf(out, outsz, "%" PRId64 "m", m);
	else if (m)
		snprintf(out, outsz, "%" PRId64 "m%" PRId64 "s", m, sec);
	else
		snprintf(out, outsz, "%" PRId64 "s", sec);
}

/* Length of the valid UTF-8 sequence at s (1 to 4 bytes), else 0. */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	size_t		len, i;
	unsigned int	cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

/*
 * s with each invalid UTF-8 byte replaced by U+FFFD, or NULL if s is
 * valid (the common case costs one scan and no allocation).
 */
char *
utf8_fix(const char *s)
{
	size_t	n = strlen(s), i = 0, o = 0, k;
	char	*out;

	while (i < n && (k = utf8_seq((const unsigned char *)s + i,
	    n - i)) != 0)
		i += k;
	if (i == n)
		return NULL;
	out = xmalloc(3 * n + 1);
	memcpy(out, s, i);
	o = i;
	while (i < n) {
		if ((k = utf8_seq((const unsigned char *)s + i, n - i)) == 0) {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		} else {
			memcpy(out + o, s + i, k);
			o += k;
			i += k;
		}
	}
	out[o] = '\0';
	return out;
}

int
file_read(char **out, size_t *len_out, const char *path, size_t max)
{
	struct buf	b;
	char		chunk[8192];
	ssize_t		n;
	int		fd, rc = 0;

	*out = NULL;
	if (len_out)
		*len_out = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return err_set(errno == ENOENT ? ERR_NOTFOUND : ERR_FAIL,
		    "cannot open %s: %s", path, strerror(errno));
	buf_init(&b, max);
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = err_set(ERR_FAIL, "cannot read %s: %s", path,
			    strerror(errno));
			break;
		}
		if (n == 0)
			break;
		if (buf_append(&b, chunk, (size_t)n) != 0) {
			rc = err_set(ERR_TOOBIG, "%s is larger than %zu bytes",
			    path, max);
			break;
		}
	}
	close(fd);
	if (rc != 0) {
		buf_dispose(&b);
		return rc;
	}
	if (len_out)
		*len_out = b.len;
	*out = buf_steal(&b);
	return 0;
}

int
mkdir_p(const char *path, unsigned int mode)
{
	char	*p, *s;
	int	 rc = 0;

	s = xstrdup(path);
	for (p = s + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char	c = *p;

		*p = '\0';
		if (mkdir(s, (mode_t)mode) != 0 && errno != EEXIST) {
			rc = err_set(ERR_FAIL, "cannot create %s: %s", s,
			    strerror(errno));
			break;
		}
		*p = c;
		if (c == '\0')
			break;
	}
	free(s);
	return rc;
}

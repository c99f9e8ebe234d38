/*
 * json.c - a strict, one-pass JSON scanner for webhook bodies, and the
 * typed field lookups github.c and gitlab.c build a struct push with.
 *
 * DESIGN
 * A 7 KB push body is parsed on an HTTP thread for every delivery and
 * ferry reads about ten of its fields. A tree of allocated nodes (one
 * per value and per string, as cJSON builds) cost more than the rest of
 * the ingest path together, so the body is scanned once into a flat
 * array of tokens, allocated once per body: type, offsets into the text,
 * and the index just past the token's subtree, which lets a lookup step
 * over a whole member value in O(1). Nothing is copied or unescaped
 * until a field is extracted.
 *
 * The scanner is RFC 8259 and strict, because the body is untrusted:
 * exactly one value, an object, with only whitespace (space, tab, CR,
 * LF) around it; strings without raw control characters, with only the
 * escapes \" \\ \/ \b \f \n \r \t and \uXXXX, surrogates in pairs, and
 * no \u0000 (ferry's strings are C strings, so "master\u0000x" could
 * otherwise read as "master"); numbers per the grammar; true, false and
 * null spelled out. It is iterative: an open container keeps its
 * parent's index in its 'next' slot until it closes, so there is no
 * stack, and nesting stops at JSON_DEPTH_MAX. Bytes that are not UTF-8
 * inside strings are accepted (hook_strcap repairs extracted values).
 *
 * What cJSON (the previous parser) accepted and this one does not:
 * numbers with leading zeros or a bare '.' ("01", "1.", "-.5"), raw
 * control characters in strings, and control characters other than the
 * four above used as whitespace. No forge sends any of them. A leading
 * UTF-8 byte order mark is still skipped, as cJSON did (RFC 8259 8.1
 * allows it), and the nesting limit is cJSON's, so every body that was
 * too deep before still is, and no body that was not now is.
 */
#include "hook.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#define JSON_SSE2	1
#endif

#include "hook_int.h"
#include "util.h"

/* cJSON's CJSON_NESTING_LIMIT: containers open at once. */
#define JSON_DEPTH_MAX	1000
/* The 'next' of the root while it is open: no parent. */
#define NO_PARENT	UINT32_MAX

#ifndef JSON_SSE2
#define ONES	0x0101010101010101ULL
#define HIGHS	0x8080808080808080ULL
#endif

static bool
is_ws(unsigned char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static const unsigned char *
skip_ws(const unsigned char *p, const unsigned char *end)
{
	while (p < end && is_ws(*p))
		p++;
	return p;
}

/* A byte that ends the plain run of a string: quote, backslash, < 0x20. */
static bool
str_special(unsigned char c)
{
	return c == '"' || c == '\\' || c < 0x20;
}

#ifdef JSON_SSE2
/* A bit per byte of the 16 at p, set for the str_special() ones. */
static unsigned int
vec_special(const unsigned char *p)
{
	const __m128i	v = _mm_loadu_si128((const void *)p);
	__m128i		m;

	m = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
	    _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));
	/* v < 0x20 unsigned: min(v, 0x1f) == v. */
	m = _mm_or_si128(m,
	    _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v));
	return (unsigned int)_mm_movemask_epi8(m);
}
#else
/*
 * Whether any of the 8 bytes in w is str_special(): the classic SWAR
 * tests for a byte less than n, (w - n*ONES) & ~w & HIGHS, and for a
 * zero byte after xoring in the byte looked for. Each is exact about
 * whether such a byte exists, so the scan can step 8 bytes at a time.
 */
static bool
word_special(uint64_t w)
{
	uint64_t	q = w ^ (ONES * '"'), b = w ^ (ONES * '\\');

	return (((w - ONES * 0x20) & ~w) | ((q - ONES) & ~q) |
	    ((b - ONES) & ~b)) & HIGHS;
}
#endif

/*
 * The first str_special() byte at or after p, or end. Most of a webhook
 * body is string bytes, so this is the scanner's inner loop: it looks
 * at 16 bytes at once with SSE2 (every x86-64), else 8 with SWAR.
 */
static const unsigned char *
skip_plain(const unsigned char *p, const unsigned char *end)
{
#ifdef JSON_SSE2
	unsigned int	m;

	while (end - p >= 16) {
		if ((m = vec_special(p)) != 0)
			return p + __builtin_ctz(m);
		p += 16;
	}
#else
	uint64_t	w;

	while (end - p >= 8) {
		memcpy(&w, p, sizeof(w));
		if (word_special(w))
			break;
		p += 8;
	}
#endif
	while (p < end && !str_special(*p))
		p++;
	return p;
}

/* The 4 hex digits at p (the caller knows they are there), or -1. */
static long
hex4(const unsigned char *p)
{
	long	v = 0;
	int	d, i;

	for (i = 0; i < 4; i++) {
		if ((d = hex_digit(p[i])) < 0)
			return -1;
		v = v << 4 | d;
	}
	return v;
}

/* The length of the literal at p (0: none), its type in *type. */
static size_t
scan_literal(enum hook_jtype *type, const unsigned char *p,
    const unsigned char *end)
{
	static const struct {
		const char	*word;
		size_t		 len;
		enum hook_jtype	 type;
	} lits[] = {
		{ "true", 4, HOOK_JBOOL },
		{ "false", 5, HOOK_JBOOL },
		{ "null", 4, HOOK_JNULL },
	};
	size_t	i;

	for (i = 0; i < sizeof(lits) / sizeof(lits[0]); i++) {
		if ((size_t)(end - p) >= lits[i].len &&
		    memcmp(p, lits[i].word, lits[i].len) == 0) {
			*type = lits[i].type;
			return lits[i].len;
		}
	}
	return 0;
}

/*
 * Scans a string whose opening quote is at p[-1]. Returns the address
 * of its closing quote, or NULL if it is malformed or unterminated;
 * *esc tells whether it has escapes.
 */
static const unsigned char *
scan_string(const unsigned char *p, const unsigned char *end, bool *esc)
{
	long	u;

	*esc = false;
	for (;;) {
		p = skip_plain(p, end);
		if (p == end || *p < 0x20)
			return NULL;
		if (*p == '"')
			return p;
		/* A backslash. */
		*esc = true;
		if (end - p < 2)
			return NULL;
		switch (p[1]) {
		case '"':
		case '\\':
		case '/':
		case 'b':
		case 'f':
		case 'n':
		case 'r':
		case 't':
			p += 2;
			break;
		case 'u':
			if (end - p < 6 || (u = hex4(p + 2)) <= 0)
				return NULL;	/* \u0000 too */
			p += 6;
			if (u >= 0xdc00 && u <= 0xdfff)
				return NULL;
			if (u < 0xd800 || u > 0xdbff)
				break;
			/* A high surrogate: a low one must follow. */
			if (end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
			    (u = hex4(p + 2)) < 0xdc00 || u > 0xdfff)
				return NULL;
			p += 6;
			break;
		default:
			return NULL;
		}
	}
}

/* Scans a number starting at p; returns its end, or NULL. */
static const unsigned char *
scan_number(const unsigned char *p, const unsigned char *end)
{
	if (p < end && *p == '-')
		p++;
	if (p == end || !is_digit(*p))
		return NULL;
	if (*p++ != '0') {
		while (p < end && is_digit(*p))
			p++;
	}
	if (p < end && *p == '.') {
		if (++p == end || !is_digit(*p))
			return NULL;
		while (p < end && is_digit(*p))
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p == end || !is_digit(*p))
			return NULL;
		while (p < end && is_digit(*p))
			p++;
	}
	return p;
}

/*
 * Doubles the token array, but not past len/2 + 2: every value takes a
 * byte, every container one more, and all but the first member of a
 * container a separator, so len bytes hold at most (len + 1) / 2 tokens.
 * A hostile body thus costs at most 8 bytes of tokens per byte, where
 * cJSON spent 64 or more per value.
 */
static void
tok_grow(struct hook_json *j)
{
	size_t	most = j->len / 2 + 2;

	j->cap = j->cap < most && j->cap * 2 > most ? most : j->cap * 2;
	j->tok = xreallocarray(j->tok, j->cap, sizeof(*j->tok));
}

static inline uint32_t
tok_add(struct hook_json *j, enum hook_jtype type, size_t start,
    size_t end)
{
	struct hook_jtok	*t;

	if (j->ntok == j->cap)
		tok_grow(j);
	t = &j->tok[j->ntok];
	t->start = (uint32_t)start;
	t->end = (uint32_t)end;
	t->next = (uint32_t)j->ntok + 1;
	t->type = (uint8_t)type;
	t->esc = 0;
	return (uint32_t)j->ntok++;
}

/*
 * Whether the text has a \u0000 escape. Backslashes only occur inside
 * strings, so skipping each escape pair is enough to tell "\\u0000" (a
 * backslash, then text) from a real NUL escape.
 */
static bool
has_nul_escape(const char *s, size_t len)
{
	const char	*p = s, *end = s + len;

	while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
		if (end - p >= 6 && p[1] == 'u' &&
		    memcmp(p + 2, "0000", 4) == 0)
			return true;
		p += 2;
		if (p >= end)
			break;
	}
	return false;
}

/*
 * The message for a rejected text, as the checks ran before: a raw NUL
 * anywhere is malformed JSON, else any \u0000 escape is named, else it
 * is malformed. Only failures pay for the second look at the text.
 */
static int
json_bad(const char *text, size_t len)
{
	if (len > 0 && memchr(text, '\0', len) == NULL &&
	    has_nul_escape(text, len))
		return err_set(ERR_INVALID, "NUL character in a JSON string");
	return err_set(ERR_INVALID, "malformed JSON");
}

int
hook_json_parse(struct hook_json *j, const char *text, size_t len)
{
	const unsigned char	*s = (const unsigned char *)text;
	const unsigned char	*p, *q, *end;
	enum hook_jtype		 type;
	uint32_t		 parent = NO_PARENT, t;
	unsigned int		 depth = 0;
	size_t			 n;
	bool			 esc;

	ASSERT(j != NULL);
	ASSERT(text != NULL || len == 0);
	memset(j, 0, sizeof(*j));
	if (len == 0)
		return json_bad(text, len);
	if (len >= UINT32_MAX)
		return err_set(ERR_TOOBIG, "JSON document over 4 GiB");
	j->text = text;
	j->len = len;
	/* Forges' payloads have a token per 13-20 bytes: one allocation. */
	j->cap = len / 12 + 32;
	j->tok = xreallocarray(NULL, j->cap, sizeof(*j->tok));
	p = s;
	end = s + len;
	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;

	/*
	 * A state machine over three labels: value (a value starts at p,
	 * after blanks), more (a value just ended: a comma, the end of the
	 * open container or the end of the text follows) and key (a member
	 * name starts at p).
	 */
value:
	p = skip_ws(p, end);
	if (p == end)
		goto bad;
	switch (*p) {
	case '{':
	case '[':
		if (depth == JSON_DEPTH_MAX)
			goto bad;
		type = *p == '{' ? HOOK_JOBJECT : HOOK_JARRAY;
		t = tok_add(j, type, (size_t)(p - s), 0);
		j->tok[t].next = parent;	/* until it closes */
		parent = t;
		depth++;
		p = skip_ws(p + 1, end);
		if (p < end && *p == (type == HOOK_JOBJECT ? '}' : ']'))
			goto close;
		if (type == HOOK_JOBJECT)
			goto key;
		goto value;
	case '"':
		t = tok_add(j, HOOK_JSTRING, (size_t)(p + 1 - s), 0);
		if ((q = scan_string(p + 1, end, &esc)) == NULL)
			goto bad;
		j->tok[t].end = (uint32_t)(q - s);
		j->tok[t].esc = esc;
		p = q + 1;
		break;
	case 't':
	case 'f':
	case 'n':
		if ((n = scan_literal(&type, p, end)) == 0)
			goto bad;
		tok_add(j, type, (size_t)(p - s), (size_t)(p + n - s));
		p += n;
		break;
	default:
		if ((q = scan_number(p, end)) == NULL)
			goto bad;
		tok_add(j, HOOK_JNUMBER, (size_t)(p - s), (size_t)(q - s));
		p = q;
		break;
	}

more:
	if (parent == NO_PARENT)
		goto done;
	p = skip_ws(p, end);
	if (p == end)
		goto bad;
	if (*p == ',') {
		p = skip_ws(p + 1, end);
		if (j->tok[parent].type == HOOK_JOBJECT)
			goto key;
		goto value;
	}
	if (*p != (j->tok[parent].type == HOOK_JOBJECT ? '}' : ']'))
		goto bad;
close:
	/* p is at the closing bracket of the innermost open container. */
	t = parent;
	parent = j->tok[t].next;
	j->tok[t].next = (uint32_t)j->ntok;
	j->tok[t].end = (uint32_t)(p + 1 - s);
	depth--;
	p++;
	goto more;

key:
	if (p == end || *p != '"')
		goto bad;
	t = tok_add(j, HOOK_JSTRING, (size_t)(p + 1 - s), 0);
	if ((q = scan_string(p + 1, end, &esc)) == NULL)
		goto bad;
	j->tok[t].end = (uint32_t)(q - s);
	j->tok[t].esc = esc;
	p = skip_ws(q + 1, end);
	if (p == end || *p != ':')
		goto bad;
	p++;
	goto value;

done:
	if (skip_ws(p, end) != end)
		goto bad;
	if (j->tok[0].type != HOOK_JOBJECT) {
		hook_json_dispose(j);
		return err_set(ERR_INVALID, "payload is not a JSON object");
	}
	return 0;
bad:
	hook_json_dispose(j);
	return json_bad(text, len);
}

void
hook_json_dispose(struct hook_json *j)
{
	if (j == NULL)
		return;
	free(j->tok);
	memset(j, 0, sizeof(*j));
}

const struct hook_jtok *
hook_json_root(const struct hook_json *j)
{
	ASSERT(j->ntok > 0);
	return &j->tok[0];
}

/*
 * Decodes the escape at *pp (a backslash; the scanner checked it) into
 * out as UTF-8 and moves *pp past it. Returns the bytes written, 1-4.
 */
static size_t
esc_decode(char out[4], const char **pp)
{
	const unsigned char	*p = (const unsigned char *)*pp;
	long			 u, lo;

	*pp += 2;
	switch (p[1]) {
	case 'b':
		out[0] = '\b';
		return 1;
	case 'f':
		out[0] = '\f';
		return 1;
	case 'n':
		out[0] = '\n';
		return 1;
	case 'r':
		out[0] = '\r';
		return 1;
	case 't':
		out[0] = '\t';
		return 1;
	case 'u':
		break;
	default:			/* " \ / */
		out[0] = (char)p[1];
		return 1;
	}
	u = hex4(p + 2);
	*pp += 4;
	if (u >= 0xd800 && u <= 0xdbff) {
		lo = hex4(p + 8);
		u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
		*pp += 6;
	}
	ASSERT(u > 0 && u <= 0x10ffff);
	if (u < 0x80) {
		out[0] = (char)u;
		return 1;
	}
	if (u < 0x800) {
		out[0] = (char)(0xc0 | u >> 6);
		out[1] = (char)(0x80 | (u & 0x3f));
		return 2;
	}
	if (u < 0x10000) {
		out[0] = (char)(0xe0 | u >> 12);
		out[1] = (char)(0x80 | (u >> 6 & 0x3f));
		out[2] = (char)(0x80 | (u & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | u >> 18);
	out[1] = (char)(0x80 | (u >> 12 & 0x3f));
	out[2] = (char)(0x80 | (u >> 6 & 0x3f));
	out[3] = (char)(0x80 | (u & 0x3f));
	return 4;
}

/* Whether string token v, unescaped, is the n bytes of want. */
static bool
str_eq(const struct hook_json *j, const struct hook_jtok *v,
    const char *want, size_t n)
{
	const char	*p = j->text + v->start, *end = j->text + v->end;
	char		 c[4];
	size_t		 k, i;

	if (!v->esc)
		return v->end - v->start == n && memcmp(p, want, n) == 0;
	while (p < end) {
		if (*p != '\\') {
			if (n == 0 || *p++ != *want)
				return false;
			want++;
			n--;
			continue;
		}
		k = esc_decode(c, &p);
		if (k > n)
			return false;
		for (i = 0; i < k; i++) {
			if (c[i] != want[i])
				return false;
		}
		want += k;
		n -= k;
	}
	return n == 0;
}

bool
hook_json_streq(const struct hook_json *j, const struct hook_jtok *v,
    const char *want)
{
	ASSERT(v->type == HOOK_JSTRING);
	return str_eq(j, v, want, strlen(want));
}

bool
hook_json_empty(const struct hook_jtok *v)
{
	ASSERT(v->type == HOOK_JSTRING);
	return v->end == v->start;
}

bool
hook_json_zero(const struct hook_json *j, const struct hook_jtok *v)
{
	const char	*p = j->text + v->start, *end = j->text + v->end;
	char		 c[4];

	ASSERT(v->type == HOOK_JSTRING);
	if (p == end)
		return false;
	while (p < end) {
		if (*p != '\\') {
			if (*p++ != '0')
				return false;
		} else if (esc_decode(c, &p) != 1 || c[0] != '0')
			return false;
	}
	return true;
}

bool
hook_json_true(const struct hook_json *j, const struct hook_jtok *v)
{
	return v != NULL && v->type == HOOK_JBOOL && j->text[v->start] == 't';
}

const struct hook_jtok *
hook_json_elem(const struct hook_json *j, const struct hook_jtok *arr,
    const struct hook_jtok *prev)
{
	size_t	i;

	ASSERT(arr->type == HOOK_JARRAY);
	i = prev == NULL ? (size_t)(arr - j->tok) + 1 : prev->next;
	return i < arr->next ? &j->tok[i] : NULL;
}

char *
hook_json_str(const struct hook_json *j, const struct hook_jtok *v,
    size_t max)
{
	const char	*p = j->text + v->start, *end = j->text + v->end;
	const char	*bs;
	char		*s;
	size_t		 o = 0;

	ASSERT(v->type == HOOK_JSTRING);
	/* Unescaping never lengthens: \uXXXX is at most 3 bytes of UTF-8. */
	s = xmalloc((size_t)(end - p) + 1);
	while (p < end) {
		if ((bs = memchr(p, '\\', (size_t)(end - p))) == NULL)
			bs = end;
		memcpy(s + o, p, (size_t)(bs - p));
		o += (size_t)(bs - p);
		p = bs;
		if (p < end)
			o += esc_decode(s + o, &p);
	}
	s[o] = '\0';
	return hook_strcap(s, max);
}

int
hook_json_get(const struct hook_jtok **out, const struct hook_json *j,
    const struct hook_jtok *obj, const char *path, enum hook_jtype want,
    bool required)
{
	const struct hook_jtok	*v = NULL;
	const char		*key, *what = "";
	size_t			 i, n;

	*out = NULL;
	ASSERT(obj->type == HOOK_JOBJECT);
	key = strrchr(path, '.');
	key = key != NULL ? key + 1 : path;
	n = strlen(key);
	/* Members are key, value pairs; the first of duplicates wins. */
	for (i = (size_t)(obj - j->tok) + 1; i < obj->next;
	    i = j->tok[i + 1].next) {
		if (str_eq(j, &j->tok[i], key, n)) {
			v = &j->tok[i + 1];
			break;
		}
	}
	if (v == NULL || (v->type == HOOK_JNULL && !required)) {
		if (required)
			return err_set(ERR_INVALID, "missing field %s", path);
		return 0;
	}
	switch (want) {
	case HOOK_JSTRING:
		what = "a string";
		break;
	case HOOK_JOBJECT:
		what = "an object";
		break;
	case HOOK_JARRAY:
		what = "an array";
		break;
	case HOOK_JBOOL:
		what = "a boolean";
		break;
	case HOOK_JNUMBER:
	case HOOK_JNULL:
		ASSERT(!"a lookup of a number or null");
		break;
	}
	if (v->type != want)
		return err_set(ERR_INVALID, "field %s must be %s", path, what);
	*out = v;
	return 0;
}

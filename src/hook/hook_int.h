/*
 * hook_int.h - what hook.c shares with json.c, github.c and gitlab.c: a
 * strict JSON scanner with typed field lookups whose errors name the
 * field, and the common parts of building a struct push.
 */
#ifndef FERRY_HOOK_INT_H
#define FERRY_HOOK_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct push;

/* Stored fields are capped: a commit message at 64 KiB, the rest 1 KiB. */
#define HOOK_MESSAGE_MAX	(64 * 1024)
#define HOOK_FIELD_MAX		1024

enum hook_jtype {
	HOOK_JSTRING,
	HOOK_JOBJECT,
	HOOK_JARRAY,
	HOOK_JBOOL,
	HOOK_JNUMBER,
	HOOK_JNULL,
};

/*
 * One value of a scanned document, or the name of an object member (a
 * string token right before its value's). Offsets are into the text.
 */
struct hook_jtok {
	/* First byte (a string's: after its quote) and past the last (a
	   string's: its closing quote). */
	uint32_t	start;
	uint32_t	end;
	uint32_t	next;	/* the first token after its subtree */
	uint8_t		type;	/* enum hook_jtype */
	uint8_t		esc;	/* a string with backslash escapes */
};

/*
 * A scanned JSON document: tok[0] is the root object and the tokens are
 * in document order, so a container's elements are the tokens from its
 * own index + 1 up to its next. The text is borrowed: it must outlive
 * the tokens' use. Owns tok (hook_json_dispose).
 */
struct hook_json {
	const char		*text;
	size_t			 len;	/* of text */
	struct hook_jtok	*tok;
	size_t			 ntok;
	size_t			 cap;	/* tokens allocated */
};

/*
 * Scans exactly len bytes of text as one JSON object (json.c says how
 * strictly). ERR_INVALID "malformed JSON", "NUL character in a JSON
 * string" (a \u0000 escape) or "payload is not a JSON object"; ERR_TOOBIG
 * past 4 GiB. On success j holds the tokens (hook_json_dispose), on
 * failure nothing.
 */
int	 hook_json_parse(struct hook_json *j, const char *text, size_t len);
void	 hook_json_dispose(struct hook_json *j);
/* The root object. */
const struct hook_jtok	*hook_json_root(const struct hook_json *j);

/*
 * Looks up the member named by the last component of path ("a.b.name"
 * -> "name") in object obj, comparing names unescaped; the first of
 * duplicate names wins. path is only used in messages. Absent or null:
 * *out is NULL, and ERR_INVALID "missing field <path>" if required.
 * Another type than want: ERR_INVALID "field <path> must be ...". A null
 * value of a required field counts as mistyped.
 */
int	 hook_json_get(const struct hook_jtok **out,
	    const struct hook_json *j,
	    const struct hook_jtok *obj, const char *path,
	    enum hook_jtype want, bool required);
/* The element of array arr after prev (NULL: the first), or NULL. */
const struct hook_jtok	*hook_json_elem(const struct hook_json *j,
			    const struct hook_jtok *arr,
			    const struct hook_jtok *prev);
/*
 * String v unescaped, with invalid UTF-8 repaired and cut to max bytes
 * as hook_strcap does. The caller frees.
 */
char	*hook_json_str(const struct hook_json *j, const struct hook_jtok *v,
	    size_t max);
/* Whether string v, unescaped, equals want. */
bool	 hook_json_streq(const struct hook_json *j,
	    const struct hook_jtok *v, const char *want);
/* Whether string v is "". */
bool	 hook_json_empty(const struct hook_jtok *v);
/* Whether string v, unescaped, is a non-empty run of '0'. */
bool	 hook_json_zero(const struct hook_json *j,
	    const struct hook_jtok *v);
/* Whether v is the literal true (v may be NULL). */
bool	 hook_json_true(const struct hook_json *j,
	    const struct hook_jtok *v);

/*
 * The provider's parts of a struct hook_doc (hook.c): the repository
 * name's token in a scanned body, and the push built from it.
 */
struct hook_provider {
	int	(*repo)(const struct hook_jtok **out,
		    const struct hook_json *j);
	int	(*push)(struct push **out, const struct hook_json *j);
};

extern const struct hook_provider	hook_github;
extern const struct hook_provider	hook_gitlab;

/*
 * Takes s and returns it with invalid UTF-8 replaced by U+FFFD, cut to
 * at most max bytes at a character boundary (maybe moved: use the
 * result, not s).
 */
char	*hook_strcap(char *s, size_t max);
/* Whether s is a non-empty run of '0' (a deleted ref's sha). */
bool	 hook_sha_zero(const char *s);

/*
 * A push that takes repo, ref and after (capped already) and has every
 * other string "" (compare_url NULL); branch and tag derived from ref.
 * Free with push_free.
 */
struct push	*hook_push_new(char *repo, char *ref, char *after);
/* Frees *field and puts s (taken) in its place. */
void		 hook_push_set(char **field, char *s);

#endif

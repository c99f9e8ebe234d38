/*
 * hook_int.h - what hook.c shares with github.c and gitlab.c: strict
 * JSON parsing and typed field lookups whose errors name the field, and
 * the common parts of building a struct push.
 */
#ifndef FERRY_HOOK_INT_H
#define FERRY_HOOK_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

struct push;

/* Stored fields are capped: a commit message at 64 KiB, the rest 1 KiB. */
#define HOOK_MESSAGE_MAX	(64 * 1024)
#define HOOK_FIELD_MAX		1024

enum hook_jtype {
	HOOK_JSTRING,
	HOOK_JOBJECT,
	HOOK_JARRAY,
	HOOK_JBOOL,
};

/*
 * Parses exactly len bytes as one JSON object: NUL bytes, trailing
 * garbage, too deep nesting and \u0000 escapes are ERR_INVALID. *out is
 * the caller's (cJSON_Delete).
 */
int	 hook_json_parse(cJSON **out, const char *json, size_t len);

/*
 * Looks up the member named by the last component of path ("a.b.name"
 * -> "name") in obj; path is only used in messages. Absent or null:
 * *out is NULL, and ERR_INVALID "missing field <path>" if required.
 * Another type than want: ERR_INVALID "field <path> must be ...". A null
 * value of a required field counts as mistyped.
 */
int	 hook_json_get(const cJSON **out, const cJSON *obj, const char *path,
	    enum hook_jtype want, bool required);

/*
 * The provider's parts of a struct hook_doc (hook.c): the repository
 * name in a parsed body (borrowed from root), and the push built from it.
 */
struct hook_provider {
	int	(*repo)(const char **out, const cJSON *root);
	int	(*push)(struct push **out, const cJSON *root);
};

extern const struct hook_provider	hook_github;
extern const struct hook_provider	hook_gitlab;

/* Parses json and finds the repository name with prov. */
int	 hook_doc_new(struct hook_doc **out, const struct hook_provider *prov,
	    const char *json, size_t len);

/*
 * A copy of s with invalid UTF-8 replaced by U+FFFD, cut to at most max
 * bytes at a character boundary.
 */
char	*hook_strcap(const char *s, size_t max);
/* Whether s is a non-empty run of '0' (a deleted ref's sha). */
bool	 hook_sha_zero(const char *s);

/*
 * A push with ref, repo and after taken from the arguments (capped) and
 * every other string "" (compare_url NULL); branch and tag derived from
 * ref. Free with push_free.
 */
struct push	*hook_push_new(const char *repo, const char *ref,
		    const char *after);
/* Replaces *field with a capped copy of s (or "" when s is NULL). */
void		 hook_push_set(char **field, const char *s, size_t max);

#endif

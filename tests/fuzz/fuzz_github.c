/*
 * fuzz_github.c - a GitHub webhook body as the HTTP thread sees it,
 * before anything is known to be genuine: the body is taken once as
 * application/json and once as application/x-www-form-urlencoded
 * (payload=), then the repository name is looked up, the push is
 * parsed and the ignore rules applied, exactly as api_hook_github()
 * does. Each JSON text is also given to cJSON, which parsed webhook
 * bodies before the strict scanner (src/hook/json.c): where the text
 * has nothing cJSON was lax about, both must say the same.
 */
#include "fuzz.h"

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "err.h"
#include "hook.h"

enum jclass { J_OK, J_MALFORMED, J_NUL, J_NOT_OBJECT };

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Whether s may use what cJSON took and strict JSON does not: a control
 * byte (raw in a string, or as whitespace), a \u escape (cJSON read a
 * bad one as U+0000), a leading zero, a '.' without digits on both
 * sides; or what cJSON 1.7.15 refused: a number over 63 characters,
 * and a byte order mark before less than 2 bytes (it skips one only in
 * 5 bytes or more, so "\xef\xbb\xbf" "4" was malformed, not a number).
 * Over-approximated on the raw bytes, strings included.
 */
static bool
lax_possible(const char *s, size_t len)
{
	size_t	i, run = 0;

	if (len <= 4 && len >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
		return true;

	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] < 0x20 && s[i] != ' ')
			return true;
		if (s[i] == '\\' && i + 1 < len && s[i + 1] == 'u')
			return true;
		if (s[i] == '0' && i + 1 < len && is_digit(s[i + 1]))
			return true;
		if (s[i] == '.' && (i == 0 || !is_digit(s[i - 1]) ||
		    i + 1 == len || !is_digit(s[i + 1])))
			return true;
		if (is_digit(s[i]) || s[i] == '.' || s[i] == 'e' ||
		    s[i] == 'E' || s[i] == '+' || s[i] == '-') {
			if (++run >= 63)
				return true;
		} else
			run = 0;
	}
	return false;
}

/* What hook.c did around cJSON: NULs, the parse, trailing bytes. */
static enum jclass
cjson_class(cJSON **out, const char *s, size_t len)
{
	cJSON		*root;
	const char	*end = NULL, *p;

	*out = NULL;
	if (len == 0 || memchr(s, '\0', len) != NULL)
		return J_MALFORMED;
	for (p = s; (p = memchr(p, '\\', (size_t)(s + len - p))) != NULL;
	    p += 2) {
		if (s + len - p >= 6 && memcmp(p, "\\u0000", 6) == 0)
			return J_NUL;
		if (s + len - p < 2)
			break;
	}
	if ((root = cJSON_ParseWithLengthOpts(s, len, &end, 0)) == NULL)
		return J_MALFORMED;
	while (end < s + len && (*end == ' ' || *end == '\t' ||
	    *end == '\n' || *end == '\r'))
		end++;
	if (end != s + len || !cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return end != s + len ? J_MALFORMED : J_NOT_OBJECT;
	}
	*out = root;
	return J_OK;
}

/* The scanner's verdict from what hook_github_repo said. */
static enum jclass
hook_class(int rc)
{
	const char	*m = err_msg();

	if (rc == 0)
		return J_OK;
	if (strcmp(m, "malformed JSON") == 0)
		return J_MALFORMED;
	if (strcmp(m, "NUL character in a JSON string") == 0)
		return J_NUL;
	if (strcmp(m, "payload is not a JSON object") == 0)
		return J_NOT_OBJECT;
	/* Valid JSON; a field is missing or wrong. */
	return J_OK;
}

static void
differ(int rc, const char *name, const char *json, size_t len)
{
	const cJSON	*repo;
	cJSON		*root;
	enum jclass	 want, got = hook_class(rc);
	const char	*full;
	char		*fixed;

	if (lax_possible(json, len))
		return;
	want = cjson_class(&root, json, len);
	FUZZ_CHECK(want == got);
	if (root == NULL)
		return;
	repo = cJSON_GetObjectItemCaseSensitive(root, "repository");
	if (cJSON_IsObject(repo))
		repo = cJSON_GetObjectItemCaseSensitive(repo, "full_name");
	/* The same name, made UTF-8; its start if it was cut at 1 KiB. */
	if (name != NULL && cJSON_IsString(repo)) {
		fixed = utf8_fix(repo->valuestring);
		full = fixed != NULL ? fixed : repo->valuestring;
		if (strlen(full) <= 1024)
			FUZZ_CHECK(strcmp(name, full) == 0);
		else
			FUZZ_CHECK(strlen(name) + 3 >= 1024 &&
			    strncmp(name, full, strlen(name)) == 0);
		free(fixed);
	}
	cJSON_Delete(root);
}

static void
one(const char *ctype, const uint8_t *data, size_t size)
{
	struct push	*p = NULL;
	char		*json = NULL, *name = NULL, why[256];
	size_t		 jlen = 0;
	bool		 ignored;
	int		 rc;

	if (hook_github_body(&json, &jlen, ctype, (const char *)data,
	    size) != 0) {
		FUZZ_CHECK(json == NULL);
		return;
	}
	FUZZ_CHECK(json != NULL);
	if ((rc = hook_github_repo(&name, json, jlen)) == 0)
		FUZZ_CHECK(name != NULL && fuzz_utf8_valid(name));
	differ(rc, name, json, jlen);
	if (hook_github_parse(&p, json, jlen) == 0) {
		FUZZ_CHECK(p != NULL && p->repo != NULL && p->ref != NULL &&
		    p->after != NULL && p->message != NULL &&
		    p->author != NULL && p->pusher != NULL);
		FUZZ_CHECK(name != NULL && strcmp(name, p->repo) == 0);
		FUZZ_CHECK_PUSH_UTF8(p);
		ignored = hook_push_ignored(why, sizeof(why), p, "master");
		FUZZ_CHECK(memchr(why, '\0', sizeof(why)) != NULL);
		/* A run is only ever made for a branch push. */
		if (!ignored)
			FUZZ_CHECK(p->branch != NULL && !p->tag &&
			    !p->deleted);
		push_free(p);
	} else
		FUZZ_CHECK(p == NULL);
	free(name);
	free(json);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one("application/json", data, size);
	one("application/x-www-form-urlencoded", data, size);
	return 0;
}

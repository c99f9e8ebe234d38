/*
 * fuzz_github.c - a GitHub webhook body as the HTTP thread sees it,
 * before anything is known to be genuine: the body is taken once as
 * application/json and once as application/x-www-form-urlencoded
 * (payload=), then the repository name is looked up, the push is
 * parsed and the ignore rules applied, exactly as api_hook_github()
 * does.
 */
#include "fuzz.h"

#include <stdbool.h>

#include "err.h"
#include "hook.h"

static void
one(const char *ctype, const uint8_t *data, size_t size)
{
	struct push	*p = NULL;
	char		*json = NULL, *name = NULL, why[256];
	size_t		 jlen = 0;
	bool		 ignored;

	if (hook_github_body(&json, &jlen, ctype, (const char *)data,
	    size) != 0) {
		FUZZ_CHECK(json == NULL);
		return;
	}
	FUZZ_CHECK(json != NULL);
	if (hook_github_repo(&name, json, jlen) == 0)
		FUZZ_CHECK(name != NULL && fuzz_utf8_valid(name));
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

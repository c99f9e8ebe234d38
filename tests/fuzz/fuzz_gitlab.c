/*
 * fuzz_gitlab.c - a GitLab Push Hook body as api_hook_gitlab() handles
 * it: repository name first (to find the token), then the push and the
 * ignore rules.
 */
#include "fuzz.h"

#include <stdbool.h>

#include "err.h"
#include "hook.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct push	*p = NULL;
	char		*name = NULL, why[256];
	bool		 ignored;

	if (hook_gitlab_repo(&name, (const char *)data, size) == 0)
		FUZZ_CHECK(name != NULL && fuzz_utf8_valid(name));
	if (hook_gitlab_parse(&p, (const char *)data, size) == 0) {
		FUZZ_CHECK(p != NULL && p->repo != NULL && p->ref != NULL &&
		    p->after != NULL && p->message != NULL &&
		    p->author != NULL && p->pusher != NULL);
		FUZZ_CHECK(name != NULL && strcmp(name, p->repo) == 0);
		FUZZ_CHECK_PUSH_UTF8(p);
		ignored = hook_push_ignored(why, sizeof(why), p, "main");
		FUZZ_CHECK(memchr(why, '\0', sizeof(why)) != NULL);
		if (!ignored)
			FUZZ_CHECK(p->branch != NULL && !p->tag &&
			    !p->deleted);
		push_free(p);
	} else
		FUZZ_CHECK(p == NULL);
	free(name);
	return 0;
}

/*
 * gitlab.c - GitLab Push Hook and Tag Push Hook JSON -> struct push.
 *
 * Required: object_kind ("push" or "tag_push"), ref, after and
 * project.path_with_namespace. The pushed sha is checkout_sha when it is
 * a string (it is null when a ref is deleted), else after; a ref is
 * deleted when after is all zeros. The head commit is the one in
 * commits[] (GitLab sends at most 20, oldest first) whose id is that
 * sha, else the last. GitLab sends no compare URL: it is built from
 * project.web_url when both shas are known.
 */
#include "hook.h"

#include <stdlib.h>
#include <string.h>

#include "hook_int.h"
#include "util.h"

static int
gitlab_repo_name(const char **out, const cJSON *root)
{
	const cJSON	*proj, *name;
	int		 rc;

	*out = NULL;
	if ((rc = hook_json_get(&proj, root, "project", HOOK_JOBJECT,
	    false)) != 0)
		return rc;
	if (proj == NULL)
		return err_set(ERR_INVALID,
		    "missing field project.path_with_namespace");
	if ((rc = hook_json_get(&name, proj, "project.path_with_namespace",
	    HOOK_JSTRING, true)) != 0)
		return rc;
	*out = name->valuestring;
	return 0;
}

/* Message and author of the commit sha (else the last one) into p. */
static int
gitlab_head(struct push *p, const cJSON *root, const char *sha)
{
	const cJSON	*commits, *c, *head = NULL, *id, *msg, *author, *name;
	int		 rc;

	if ((rc = hook_json_get(&commits, root, "commits", HOOK_JARRAY,
	    false)) != 0)
		return rc;
	if (commits == NULL)
		return 0;
	cJSON_ArrayForEach(c, commits) {
		if (!cJSON_IsObject(c))
			return err_set(ERR_INVALID,
			    "field commits[] must be an object");
		if ((rc = hook_json_get(&id, c, "commits[].id", HOOK_JSTRING,
		    false)) != 0)
			return rc;
		head = c;
		if (id != NULL && strcmp(id->valuestring, sha) == 0)
			break;
	}
	if (head == NULL)
		return 0;
	if ((rc = hook_json_get(&msg, head, "commits[].message",
	    HOOK_JSTRING, false)) != 0 ||
	    (rc = hook_json_get(&author, head, "commits[].author",
	    HOOK_JOBJECT, false)) != 0)
		return rc;
	if (msg != NULL)
		hook_push_set(&p->message, msg->valuestring, HOOK_MESSAGE_MAX);
	if (author == NULL)
		return 0;
	if ((rc = hook_json_get(&name, author, "commits[].author.name",
	    HOOK_JSTRING, false)) != 0)
		return rc;
	if (name != NULL)
		hook_push_set(&p->author, name->valuestring, HOOK_FIELD_MAX);
	return 0;
}

static int
gitlab_pusher(struct push *p, const cJSON *root)
{
	const cJSON	*name;
	int		 rc;

	if ((rc = hook_json_get(&name, root, "user_username", HOOK_JSTRING,
	    false)) != 0)
		return rc;
	if (name == NULL || name->valuestring[0] == '\0') {
		if ((rc = hook_json_get(&name, root, "user_name",
		    HOOK_JSTRING, false)) != 0)
			return rc;
	}
	if (name != NULL)
		hook_push_set(&p->pusher, name->valuestring, HOOK_FIELD_MAX);
	return 0;
}

/* project.web_url/-/compare/before...after, when all are known. */
static int
gitlab_compare(struct push *p, const cJSON *root)
{
	const cJSON	*proj, *url;
	char		*base;
	size_t		 n;
	int		 rc;

	if (p->before[0] == '\0' || hook_sha_zero(p->before) ||
	    p->after[0] == '\0' || p->deleted)
		return 0;
	if ((rc = hook_json_get(&proj, root, "project", HOOK_JOBJECT,
	    true)) != 0 ||
	    (rc = hook_json_get(&url, proj, "project.web_url", HOOK_JSTRING,
	    false)) != 0)
		return rc;
	if (url == NULL || url->valuestring[0] == '\0')
		return 0;
	base = hook_strcap(url->valuestring, HOOK_FIELD_MAX);
	n = strlen(base);
	if (base[n - 1] == '/')
		base[n - 1] = '\0';
	p->compare_url = xasprintf("%s/-/compare/%s...%s", base, p->before,
	    p->after);
	free(base);
	return 0;
}

static int
gitlab_push(struct push **out, const cJSON *root)
{
	const cJSON	*kind, *ref, *after, *before, *checkout;
	const char	*repo, *sha;
	struct push	*p = NULL;
	int		 rc;

	*out = NULL;
	if ((rc = hook_json_get(&kind, root, "object_kind", HOOK_JSTRING,
	    true)) != 0)
		goto out;
	if (strcmp(kind->valuestring, "push") != 0 &&
	    strcmp(kind->valuestring, "tag_push") != 0) {
		rc = err_set(ERR_INVALID,
		    "object_kind is not push or tag_push");
		goto out;
	}
	if ((rc = hook_json_get(&ref, root, "ref", HOOK_JSTRING, true)) != 0 ||
	    (rc = hook_json_get(&after, root, "after", HOOK_JSTRING,
	    true)) != 0 ||
	    (rc = gitlab_repo_name(&repo, root)) != 0 ||
	    (rc = hook_json_get(&before, root, "before", HOOK_JSTRING,
	    false)) != 0 ||
	    (rc = hook_json_get(&checkout, root, "checkout_sha",
	    HOOK_JSTRING, false)) != 0)
		goto out;

	sha = after->valuestring;
	if (checkout != NULL && checkout->valuestring[0] != '\0')
		sha = checkout->valuestring;
	p = hook_push_new(repo, ref->valuestring, sha);
	p->deleted = hook_sha_zero(after->valuestring);
	if (strcmp(kind->valuestring, "tag_push") == 0)
		p->tag = true;
	if (before != NULL)
		hook_push_set(&p->before, before->valuestring, HOOK_FIELD_MAX);
	if ((rc = gitlab_head(p, root, p->after)) != 0 ||
	    (rc = gitlab_pusher(p, root)) != 0 ||
	    (rc = gitlab_compare(p, root)) != 0)
		goto out;
	*out = p;
	p = NULL;
out:
	push_free(p);
	return rc;
}

const struct hook_provider	hook_gitlab = {
	.repo = gitlab_repo_name,
	.push = gitlab_push,
};

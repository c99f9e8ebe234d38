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
gitlab_repo_name(const struct hook_jtok **out, const struct hook_json *j)
{
	const struct hook_jtok	*proj;
	int			 rc;

	*out = NULL;
	if ((rc = hook_json_get(&proj, j, hook_json_root(j), "project",
	    HOOK_JOBJECT, false)) != 0)
		return rc;
	if (proj == NULL)
		return err_set(ERR_INVALID,
		    "missing field project.path_with_namespace");
	return hook_json_get(out, j, proj, "project.path_with_namespace",
	    HOOK_JSTRING, true);
}

/* Message and author of the commit sha (else the last one) into p. */
static int
gitlab_head(struct push *p, const struct hook_json *j, const char *sha)
{
	const struct hook_jtok	*commits, *c, *head = NULL, *id, *msg;
	const struct hook_jtok	*author, *name;
	int			 rc;

	if ((rc = hook_json_get(&commits, j, hook_json_root(j), "commits",
	    HOOK_JARRAY, false)) != 0)
		return rc;
	if (commits == NULL)
		return 0;
	for (c = NULL; (c = hook_json_elem(j, commits, c)) != NULL;) {
		if (c->type != HOOK_JOBJECT)
			return err_set(ERR_INVALID,
			    "field commits[] must be an object");
		if ((rc = hook_json_get(&id, j, c, "commits[].id",
		    HOOK_JSTRING, false)) != 0)
			return rc;
		head = c;
		if (id != NULL && hook_json_streq(j, id, sha))
			break;
	}
	if (head == NULL)
		return 0;
	if ((rc = hook_json_get(&msg, j, head, "commits[].message",
	    HOOK_JSTRING, false)) != 0 ||
	    (rc = hook_json_get(&author, j, head, "commits[].author",
	    HOOK_JOBJECT, false)) != 0)
		return rc;
	if (msg != NULL)
		hook_push_set(&p->message,
		    hook_json_str(j, msg, HOOK_MESSAGE_MAX));
	if (author == NULL)
		return 0;
	if ((rc = hook_json_get(&name, j, author, "commits[].author.name",
	    HOOK_JSTRING, false)) != 0)
		return rc;
	if (name != NULL)
		hook_push_set(&p->author,
		    hook_json_str(j, name, HOOK_FIELD_MAX));
	return 0;
}

static int
gitlab_pusher(struct push *p, const struct hook_json *j)
{
	const struct hook_jtok	*root = hook_json_root(j), *name;
	int			 rc;

	if ((rc = hook_json_get(&name, j, root, "user_username",
	    HOOK_JSTRING, false)) != 0)
		return rc;
	if (name == NULL || hook_json_empty(name)) {
		if ((rc = hook_json_get(&name, j, root, "user_name",
		    HOOK_JSTRING, false)) != 0)
			return rc;
	}
	if (name != NULL)
		hook_push_set(&p->pusher,
		    hook_json_str(j, name, HOOK_FIELD_MAX));
	return 0;
}

/* project.web_url/-/compare/before...after, when all are known. */
static int
gitlab_compare(struct push *p, const struct hook_json *j)
{
	const struct hook_jtok	*proj, *url;
	char			*base;
	size_t			 n;
	int			 rc;

	if (p->before[0] == '\0' || hook_sha_zero(p->before) ||
	    p->after[0] == '\0' || p->deleted)
		return 0;
	if ((rc = hook_json_get(&proj, j, hook_json_root(j), "project",
	    HOOK_JOBJECT, true)) != 0 ||
	    (rc = hook_json_get(&url, j, proj, "project.web_url",
	    HOOK_JSTRING, false)) != 0)
		return rc;
	if (url == NULL || hook_json_empty(url))
		return 0;
	base = hook_json_str(j, url, HOOK_FIELD_MAX);
	n = strlen(base);
	if (base[n - 1] == '/')
		base[n - 1] = '\0';
	p->compare_url = xasprintf("%s/-/compare/%s...%s", base, p->before,
	    p->after);
	free(base);
	return 0;
}

static int
gitlab_push(struct push **out, const struct hook_json *j)
{
	const struct hook_jtok	*root = hook_json_root(j);
	const struct hook_jtok	*kind, *ref, *after, *repo, *before;
	const struct hook_jtok	*checkout;
	const struct hook_jtok	*sha;
	struct push		*p = NULL;
	int			 rc;

	*out = NULL;
	if ((rc = hook_json_get(&kind, j, root, "object_kind", HOOK_JSTRING,
	    true)) != 0)
		goto out;
	if (!hook_json_streq(j, kind, "push") &&
	    !hook_json_streq(j, kind, "tag_push")) {
		rc = err_set(ERR_INVALID,
		    "object_kind is not push or tag_push");
		goto out;
	}
	if ((rc = hook_json_get(&ref, j, root, "ref", HOOK_JSTRING,
	    true)) != 0 ||
	    (rc = hook_json_get(&after, j, root, "after", HOOK_JSTRING,
	    true)) != 0 ||
	    (rc = gitlab_repo_name(&repo, j)) != 0 ||
	    (rc = hook_json_get(&before, j, root, "before", HOOK_JSTRING,
	    false)) != 0 ||
	    (rc = hook_json_get(&checkout, j, root, "checkout_sha",
	    HOOK_JSTRING, false)) != 0)
		goto out;

	sha = after;
	if (checkout != NULL && !hook_json_empty(checkout))
		sha = checkout;
	p = hook_push_new(hook_json_str(j, repo, HOOK_FIELD_MAX),
	    hook_json_str(j, ref, HOOK_FIELD_MAX),
	    hook_json_str(j, sha, HOOK_FIELD_MAX));
	p->deleted = hook_json_zero(j, after);
	if (hook_json_streq(j, kind, "tag_push"))
		p->tag = true;
	if (before != NULL)
		hook_push_set(&p->before,
		    hook_json_str(j, before, HOOK_FIELD_MAX));
	if ((rc = gitlab_head(p, j, p->after)) != 0 ||
	    (rc = gitlab_pusher(p, j)) != 0 ||
	    (rc = gitlab_compare(p, j)) != 0)
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

/*
 * github.c - GitHub push event JSON -> struct push.
 *
 * Required: ref, after, repository.full_name. head_commit is null for
 * deletions (and some pushes); then the last of commits[] stands in for
 * it, or message and author stay "". A ref is deleted when "deleted" is
 * true or after is all zeros. The pusher is pusher.name (GitHub's login),
 * else sender.login.
 */
#include "hook.h"

#include <stdlib.h>

#include "hook_int.h"
#include "util.h"

static int
github_repo_name(const struct hook_jtok **out, const struct hook_json *j)
{
	const struct hook_jtok	*repo;
	int			 rc;

	*out = NULL;
	if ((rc = hook_json_get(&repo, j, hook_json_root(j), "repository",
	    HOOK_JOBJECT, false)) != 0)
		return rc;
	if (repo == NULL)
		return err_set(ERR_INVALID,
		    "missing field repository.full_name");
	return hook_json_get(out, j, repo, "repository.full_name",
	    HOOK_JSTRING, true);
}

/* Field names for messages, by where the head commit came from. */
static const char *const	head_paths[] = {
	"head_commit.message", "head_commit.author", "head_commit.author.name"
};
static const char *const	last_paths[] = {
	"commits[].message", "commits[].author", "commits[].author.name"
};

/* The head commit's message and author name into p. */
static int
github_head(struct push *p, const struct hook_json *j)
{
	const struct hook_jtok	*root = hook_json_root(j);
	const struct hook_jtok	*head, *commits, *c, *msg, *author, *name;
	const char *const	*path = head_paths;
	int			 rc;

	if ((rc = hook_json_get(&head, j, root, "head_commit", HOOK_JOBJECT,
	    false)) != 0)
		return rc;
	if (head == NULL) {
		if ((rc = hook_json_get(&commits, j, root, "commits",
		    HOOK_JARRAY, false)) != 0)
			return rc;
		if (commits == NULL)
			return 0;
		for (c = NULL; (c = hook_json_elem(j, commits, c)) != NULL;)
			head = c;
		if (head == NULL)
			return 0;
		path = last_paths;
		if (head->type != HOOK_JOBJECT)
			return err_set(ERR_INVALID,
			    "field commits[] must be an object");
	}
	if ((rc = hook_json_get(&msg, j, head, path[0],
	    HOOK_JSTRING, false)) != 0 ||
	    (rc = hook_json_get(&author, j, head, path[1],
	    HOOK_JOBJECT, false)) != 0)
		return rc;
	if (msg != NULL)
		hook_push_set(&p->message,
		    hook_json_str(j, msg, HOOK_MESSAGE_MAX));
	if (author == NULL)
		return 0;
	if ((rc = hook_json_get(&name, j, author, path[2],
	    HOOK_JSTRING, false)) != 0)
		return rc;
	if (name != NULL)
		hook_push_set(&p->author,
		    hook_json_str(j, name, HOOK_FIELD_MAX));
	return 0;
}

static int
github_pusher(struct push *p, const struct hook_json *j)
{
	const struct hook_jtok	*root = hook_json_root(j), *obj, *name;
	int			 rc;

	if ((rc = hook_json_get(&obj, j, root, "pusher", HOOK_JOBJECT,
	    false)) != 0)
		return rc;
	if (obj != NULL) {
		if ((rc = hook_json_get(&name, j, obj, "pusher.name",
		    HOOK_JSTRING, false)) != 0)
			return rc;
		if (name != NULL && !hook_json_empty(name)) {
			hook_push_set(&p->pusher,
			    hook_json_str(j, name, HOOK_FIELD_MAX));
			return 0;
		}
	}
	if ((rc = hook_json_get(&obj, j, root, "sender", HOOK_JOBJECT,
	    false)) != 0)
		return rc;
	if (obj == NULL)
		return 0;
	if ((rc = hook_json_get(&name, j, obj, "sender.login", HOOK_JSTRING,
	    false)) != 0)
		return rc;
	if (name != NULL)
		hook_push_set(&p->pusher,
		    hook_json_str(j, name, HOOK_FIELD_MAX));
	return 0;
}

static int
github_push(struct push **out, const struct hook_json *j)
{
	const struct hook_jtok	*root = hook_json_root(j);
	const struct hook_jtok	*ref, *after, *repo, *before, *deleted;
	const struct hook_jtok	*compare;
	struct push		*p = NULL;
	int			 rc;

	*out = NULL;
	if ((rc = hook_json_get(&ref, j, root, "ref", HOOK_JSTRING,
	    true)) != 0 ||
	    (rc = hook_json_get(&after, j, root, "after", HOOK_JSTRING,
	    true)) != 0 ||
	    (rc = github_repo_name(&repo, j)) != 0 ||
	    (rc = hook_json_get(&before, j, root, "before", HOOK_JSTRING,
	    false)) != 0 ||
	    (rc = hook_json_get(&deleted, j, root, "deleted", HOOK_JBOOL,
	    false)) != 0 ||
	    (rc = hook_json_get(&compare, j, root, "compare", HOOK_JSTRING,
	    false)) != 0)
		return rc;

	p = hook_push_new(hook_json_str(j, repo, HOOK_FIELD_MAX),
	    hook_json_str(j, ref, HOOK_FIELD_MAX),
	    hook_json_str(j, after, HOOK_FIELD_MAX));
	if (before != NULL)
		hook_push_set(&p->before,
		    hook_json_str(j, before, HOOK_FIELD_MAX));
	if (hook_json_true(j, deleted))
		p->deleted = true;
	if (compare != NULL)
		p->compare_url = hook_json_str(j, compare, HOOK_FIELD_MAX);
	if ((rc = github_head(p, j)) != 0 ||
	    (rc = github_pusher(p, j)) != 0) {
		push_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

const struct hook_provider	hook_github = {
	.repo = github_repo_name,
	.push = github_push,
};

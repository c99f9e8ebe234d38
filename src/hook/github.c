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
github_repo_name(const char **out, const cJSON *root)
{
	const cJSON	*repo, *name;
	int		 rc;

	*out = NULL;
	if ((rc = hook_json_get(&repo, root, "repository", HOOK_JOBJECT,
	    false)) != 0)
		return rc;
	if (repo == NULL)
		return err_set(ERR_INVALID,
		    "missing field repository.full_name");
	if ((rc = hook_json_get(&name, repo, "repository.full_name",
	    HOOK_JSTRING, true)) != 0)
		return rc;
	*out = name->valuestring;
	return 0;
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
github_head(struct push *p, const cJSON *root)
{
	const cJSON		*head, *commits, *msg, *author, *name;
	const char *const	*path = head_paths;
	int			 rc, n;

	if ((rc = hook_json_get(&head, root, "head_commit", HOOK_JOBJECT,
	    false)) != 0)
		return rc;
	if (head == NULL) {
		if ((rc = hook_json_get(&commits, root, "commits",
		    HOOK_JARRAY, false)) != 0)
			return rc;
		if (commits == NULL || (n = cJSON_GetArraySize(commits)) == 0)
			return 0;
		head = cJSON_GetArrayItem(commits, n - 1);
		path = last_paths;
		if (!cJSON_IsObject(head))
			return err_set(ERR_INVALID,
			    "field commits[] must be an object");
	}
	if ((rc = hook_json_get(&msg, head, path[0],
	    HOOK_JSTRING, false)) != 0 ||
	    (rc = hook_json_get(&author, head, path[1],
	    HOOK_JOBJECT, false)) != 0)
		return rc;
	if (msg != NULL)
		hook_push_set(&p->message, msg->valuestring, HOOK_MESSAGE_MAX);
	if (author == NULL)
		return 0;
	if ((rc = hook_json_get(&name, author, path[2],
	    HOOK_JSTRING, false)) != 0)
		return rc;
	if (name != NULL)
		hook_push_set(&p->author, name->valuestring, HOOK_FIELD_MAX);
	return 0;
}

static int
github_pusher(struct push *p, const cJSON *root)
{
	const cJSON	*obj, *name;
	int		 rc;

	if ((rc = hook_json_get(&obj, root, "pusher", HOOK_JOBJECT,
	    false)) != 0)
		return rc;
	if (obj != NULL) {
		if ((rc = hook_json_get(&name, obj, "pusher.name",
		    HOOK_JSTRING, false)) != 0)
			return rc;
		if (name != NULL && name->valuestring[0] != '\0') {
			hook_push_set(&p->pusher, name->valuestring,
			    HOOK_FIELD_MAX);
			return 0;
		}
	}
	if ((rc = hook_json_get(&obj, root, "sender", HOOK_JOBJECT,
	    false)) != 0)
		return rc;
	if (obj == NULL)
		return 0;
	if ((rc = hook_json_get(&name, obj, "sender.login", HOOK_JSTRING,
	    false)) != 0)
		return rc;
	if (name != NULL)
		hook_push_set(&p->pusher, name->valuestring, HOOK_FIELD_MAX);
	return 0;
}

static int
github_push(struct push **out, const cJSON *root)
{
	const cJSON	*ref, *after, *before, *deleted, *compare;
	const char	*repo;
	struct push	*p = NULL;
	int		 rc;

	*out = NULL;
	if ((rc = hook_json_get(&ref, root, "ref", HOOK_JSTRING, true)) != 0 ||
	    (rc = hook_json_get(&after, root, "after", HOOK_JSTRING,
	    true)) != 0 ||
	    (rc = github_repo_name(&repo, root)) != 0 ||
	    (rc = hook_json_get(&before, root, "before", HOOK_JSTRING,
	    false)) != 0 ||
	    (rc = hook_json_get(&deleted, root, "deleted", HOOK_JBOOL,
	    false)) != 0 ||
	    (rc = hook_json_get(&compare, root, "compare", HOOK_JSTRING,
	    false)) != 0)
		return rc;

	p = hook_push_new(repo, ref->valuestring, after->valuestring);
	if (before != NULL)
		hook_push_set(&p->before, before->valuestring, HOOK_FIELD_MAX);
	if (cJSON_IsTrue(deleted))
		p->deleted = true;
	if (compare != NULL)
		p->compare_url = hook_strcap(compare->valuestring,
		    HOOK_FIELD_MAX);
	if ((rc = github_head(p, root)) != 0 ||
	    (rc = github_pusher(p, root)) != 0) {
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

/*
 * hook.h - GitHub and GitLab push webhooks: verify the signature or
 * token over the raw body in constant time, and parse the body into a
 * struct push. Pure: no network, no store; safe from any thread.
 */
#ifndef FERRY_HOOK_H
#define FERRY_HOOK_H

#include <stdbool.h>
#include <stddef.h>

struct push {
	char	*repo;		/* full_name / path_with_namespace */
	char	*ref;		/* "refs/heads/master", "refs/tags/v1" */
	char	*branch;	/* "master"; NULL unless ref is refs/heads/ */
	char	*before;	/* previous sha, "" if absent */
	char	*after;		/* pushed head sha (GitLab: checkout_sha) */
	char	*message;	/* head commit message, "" if none */
	char	*author;	/* head commit author name, "" if none */
	char	*pusher;	/* pusher's login/username, "" if none */
	char	*compare_url;	/* NULL if the payload has none */
	bool	 tag;		/* ref is refs/tags/... */
	bool	 deleted;	/* branch deletion (after all zeros) */
};

void	 push_free(struct push *p);

/*
 * GitHub: sig_header is X-Hub-Signature-256 ("sha256=<64 hex>"), may be
 * NULL. 0 when HMAC-SHA256(secret, body) matches; ERR_AUTH with
 * "missing signature" or "bad signature" otherwise.
 */
int	 hook_github_verify(const char *secret, const char *sig_header,
	    const char *body, size_t len);
/*
 * Whether sig_header is a well-formed "sha256=<64 hex>" header, before
 * any secret is known: 0, or ERR_AUTH as hook_github_verify says. Lets a
 * request without a usable signature get its 401 before the body is
 * parsed.
 */
int	 hook_github_sig_check(const char *sig_header);
/* GitLab: X-Gitlab-Token equals secret (constant time), else ERR_AUTH. */
int	 hook_gitlab_verify(const char *secret, const char *token_header);

/*
 * Extracts the JSON document of a GitHub body: itself for JSON, the
 * url-decoded payload= field for application/x-www-form-urlencoded.
 * *out is the caller's (free). ERR_INVALID if there is no payload.
 */
int	 hook_github_body(char **out, size_t *len_out,
	    const char *content_type, const char *body, size_t len);

/*
 * A parsed event body, so that a webhook's body is parsed once: the
 * repository name is known as soon as it is parsed (to find the secret),
 * the push is built from the same scan after the signature check. The
 * doc reads json in place: it must stay unchanged until hook_doc_free.
 * hook_*_doc: ERR_INVALID with a message for malformed JSON or a missing
 * repository name, as hook_*_repo. *out is the caller's (hook_doc_free).
 */
struct hook_doc;

int		 hook_github_doc(struct hook_doc **out, const char *json,
		    size_t len);
int		 hook_gitlab_doc(struct hook_doc **out, const char *json,
		    size_t len);
/* The repository's name, capped; owned by d. */
const char	*hook_doc_repo(const struct hook_doc *d);
/* As hook_*_parse, on the parsed body. */
int		 hook_doc_push(struct push **out, const struct hook_doc *d);
void		 hook_doc_free(struct hook_doc *d);

/*
 * Repository name of a GitHub (repository.full_name) or GitLab
 * (project.path_with_namespace) event JSON, so the right secret can be
 * found before verifying. *out is the caller's. ERR_INVALID with a
 * message for malformed JSON or a missing field.
 */
int	 hook_github_repo(char **out, const char *json, size_t len);
int	 hook_gitlab_repo(char **out, const char *json, size_t len);

/*
 * Parse push event JSON. ERR_INVALID with a message naming the missing
 * or mistyped field, or "malformed JSON", "NUL character in a JSON
 * string", "payload is not a JSON object". The JSON must be strict RFC
 * 8259 (src/hook/json.c). *out is the caller's (push_free).
 */
int	 hook_github_parse(struct push **out, const char *json, size_t len);
int	 hook_gitlab_parse(struct push **out, const char *json, size_t len);

/*
 * Whether a push should not become a run on production branch 'branch'.
 * Returns true and writes the reason into why_out (always NUL-terminated)
 * when it should be ignored: "tag push", "branch deletion", "branch
 * feature is not the production branch master", "skip requested" (head
 * commit message contains [skip ci] or [ci skip]). False: run it.
 */
bool	 hook_push_ignored(char *why_out, size_t whysz, const struct push *p,
	    const char *branch);

#endif

/*
 * kube.h - ferry's Kubernetes client and the manifests of a run's
 * sandbox (SPEC.md "The Kubernetes sandbox").
 *
 * Three parts:
 *   - configuration: a kubeconfig file (clusters, users, contexts) or the
 *     in-cluster service account, into a struct kube_config;
 *   - the client: struct kube, typed calls (create, get, list, patch,
 *     delete), watches and log streams over libcurl, with retries,
 *     backoff and the API's Status errors;
 *   - manifests: pure functions from (config, repo, run, step) to cJSON
 *     documents, and `ferry render`, which prints them without a cluster.
 *
 * Threads: a struct kube is shared by every thread once made (its
 * configuration is immutable, the token file's content is kept under a
 * lock, connections are shared through a libcurl share with locks). Each
 * call uses its own curl easy handle, so calls from several threads run
 * at once. kube_new() and kube_free() run on one thread while no call is
 * in flight; curl_global_init() (httpc_global_init()) precedes
 * kube_new(). Manifest functions are pure and safe from any thread.
 *
 * Errors: HTTP answers are translated at this boundary: 400/422 ->
 * ERR_INVALID, 401/403 -> ERR_AUTH, 404 -> ERR_NOTFOUND, 409 ->
 * ERR_EXISTS, 410/429/5xx and no answer -> ERR_UPSTREAM; the message is
 * "VERB KIND NS/NAME: Reason: message" from the API's Status object, and
 * the Status itself is kept for the calling thread (kube_status_last()).
 * Tokens and keys are never logged nor put in a message.
 *
 * Ownership: every cJSON **out is the caller's (cJSON_Delete); every
 * char **out the caller's (free).
 */
#ifndef FERRY_KUBE_H
#define FERRY_KUBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;
struct config;
struct config_kube;
struct config_repo;
struct pipeline;

struct kube;

/* Labels and names every part of ferry agrees on. */
#define KUBE_LABEL_MANAGED_BY	"app.kubernetes.io/managed-by"
#define KUBE_MANAGED_BY		"ferry"
#define KUBE_LABEL_RUN		"ferry.dev/run"
#define KUBE_LABEL_STEP		"ferry.dev/step"
#define KUBE_LABEL_DEPLOY	"ferry.dev/deploy"	/* "true": deploy pod */
#define KUBE_ANN_REPO		"ferry.dev/repo"
#define KUBE_ANN_COMMIT		"ferry.dev/commit"
#define KUBE_SA_STEP		"ferry-step"	/* every step but deploy */
#define KUBE_SA_DEPLOY		"ferry-deploy"	/* deploy: true steps */
#define KUBE_SECRET_STEPS	"ferry-secrets"	/* values steps name */
#define KUBE_SECRET_SOURCE	"ferry-source"	/* key "url": source URL */
#define KUBE_CONTAINER_SOURCE	"source"	/* init: fetches the tree */
#define KUBE_CONTAINER_STEP	"step"		/* runs the commands */
#define KUBE_WORKSPACE		"/workspace"
#define KUBE_RUN_AS		65532		/* uid and gid of pods */
#define KUBE_JOB_TTL_S		3600		/* ttlSecondsAfterFinished */
#define KUBE_GRACE_S		10		/* SIGTERM, then 10 s */
#define KUBE_NAME_MAX		63		/* DNS label */

/*
 * Configuration
 */

/* Where and how to reach the API server. Strings are owned. */
struct kube_config {
	char	*server;	/* "https://10.0.0.1:6443", no trailing / */
	char	*context;	/* kubeconfig context used; NULL in-cluster */
	char	*namespace;	/* the context's namespace; NULL if none */
	char	*ca_file;	/* certificate-authority path, or NULL */
	char	*ca_data;	/* decoded certificate-authority-data */
	size_t	 ca_len;
	char	*cert_file;	/* client-certificate path, or NULL */
	char	*cert_data;	/* decoded client-certificate-data */
	size_t	 cert_len;
	char	*key_file;	/* client-key path, or NULL */
	char	*key_data;	/* decoded client-key-data (secret) */
	size_t	 key_len;
	char	*token;		/* static bearer token (secret), or NULL */
	char	*token_file;	/* re-read whenever it changes, or NULL */
	bool	 insecure;	/* insecure-skip-tls-verify: no checks */
	char	*tls_server_name; /* tls-server-name, or NULL */
};

/*
 * Reads a kubeconfig (YAML or JSON). context NULL: current-context.
 * Relative file paths in it are relative to the file's directory.
 * Returns 0 (*out the caller's, kube_config_free), ERR_NOTFOUND (no such
 * file), ERR_INVALID with "PATH: what is missing or wrong" (unknown
 * context, cluster without server, user with exec or auth-provider,
 * certificate without key, bad base64 ...).
 */
int	 kube_config_load(struct kube_config **out, const char *path,
	    const char *context);
/* The same from text in memory; path names it and anchors relative paths. */
int	 kube_config_parse(struct kube_config **out, const char *path,
	    const char *text, size_t len, const char *context);
/*
 * The in-cluster service account: KUBERNETES_SERVICE_HOST and
 * KUBERNETES_SERVICE_PORT from the environment, token, ca.crt and
 * namespace from dir (NULL: /var/run/secrets/kubernetes.io/serviceaccount).
 * The token is read from its file on each use when it has changed.
 * ERR_NOTFOUND when not in a cluster (no host variable, no token file).
 */
int	 kube_config_incluster(struct kube_config **out, const char *dir);
/* From ferry's kubernetes block: kubeconfig if set, else in-cluster. */
int	 kube_config_from(struct kube_config **out,
	    const struct config_kube *kc);
void	 kube_config_free(struct kube_config *c);

/*
 * The client
 */

struct kube_opts {
	int64_t		 timeout_ms;	/* one request; <= 0: 30 s */
	int64_t		 connect_timeout_ms; /* <= 0: 5 s */
	int		 max_attempts;	/* tries per call; <= 0: 6 */
	int64_t		 backoff_ms;	/* first retry delay; <= 0: 200 ms */
	int64_t		 backoff_max_ms; /* ceiling; <= 0: 10 s */
	size_t		 max_body;	/* response ceiling; 0: 64 MiB */
	const char	*user_agent;	/* NULL: "ferry/VERSION" */
};

/*
 * A client for cfg (taken over: freed by kube_free, also on failure).
 * o may be NULL. Checks nothing on the network. ERR_INVALID for a
 * server URL that is not http(s)://, ERR_FAIL if libcurl refuses.
 */
int	 kube_new(struct kube **out, struct kube_config *cfg,
	    const struct kube_opts *o);
void	 kube_free(struct kube *k);
/* The configuration in use (borrowed). */
const struct kube_config *kube_config_of(const struct kube *k);

/* The objects ferry touches. */
enum kube_kind {
	KUBE_NAMESPACE,
	KUBE_SERVICEACCOUNT,
	KUBE_RESOURCEQUOTA,
	KUBE_LIMITRANGE,
	KUBE_NETWORKPOLICY,
	KUBE_SECRET,
	KUBE_ROLEBINDING,
	KUBE_JOB,
	KUBE_POD,
	KUBE_EVENT,
	KUBE_KIND_COUNT,
};

/* "jobs" (the plural of the kind, as in URLs and RBAC rules). */
const char *kube_kind_plural(enum kube_kind kind);
/* The kind of an object by its apiVersion and kind; -1 if not known. */
int	 kube_kind_of(const char *api_version, const char *kind);
/*
 * The URL path of a collection (name NULL) or of one object:
 * "/apis/batch/v1/namespaces/ns/jobs/build". ns is ignored for
 * cluster-scoped kinds; NULL for a namespaced kind lists all namespaces.
 * Caller frees.
 */
char	*kube_path(enum kube_kind kind, const char *ns, const char *name);

/* An API Status, as parsed from an error answer. */
struct kube_status {
	long	 code;		/* HTTP status or Status.code; 0: no answer */
	char	 reason[64];	/* "AlreadyExists", "NotFound", "Expired" */
	char	 message[512];	/* the API's words, cut to fit */
};

/*
 * Fills out from an answer: the Status object in body when there is one
 * (code from it, else http_code), else a reason named after the HTTP
 * status ("NotFound", "TooManyRequests", "InternalError" ...) and the
 * first line of the body as message.
 */
void	 kube_status_parse(struct kube_status *out, long http_code,
	    const char *body, size_t len);
/* The Status of this thread's last failed call (code 0 if none). */
const struct kube_status *kube_status_last(void);

/*
 * Retry policy (pure). attempt counts the tries made so far (1 after the
 * first); code is the HTTP status (0: no answer: connect, TLS, reset,
 * timeout); reason the Status reason ("" if none); retry_after_ms the
 * Retry-After header in ms (-1: none). Returns the delay before the next
 * try, or -1 to stop: never after max_attempts, never for 2xx, nor for
 * 4xx other than 409 (not AlreadyExists) and 429. The delay is
 * backoff_ms * 2^(attempt-1) capped at backoff_max_ms, with equal
 * jitter from rnd: [d/2, d]. A Retry-After is honoured (the delay is at
 * least that, at most 60 s).
 */
int64_t	 kube_retry_delay_ms(const struct kube_opts *o, int attempt,
	    long code, const char *reason, int64_t retry_after_ms,
	    uint32_t rnd);
/* "3" -> 3000; an HTTP-date or junk -> -1 (not honoured). */
int64_t	 kube_retry_after_parse(const char *value);

/*
 * Creates obj (its apiVersion, kind and metadata.namespace say where).
 * An AlreadyExists answer is adopted: a retry after a lost answer is not
 * an error; *adopted_out (may be NULL) tells which. *out (may be NULL)
 * is the created object, or the existing one (fetched) when adopted.
 */
int	 kube_create(struct cJSON **out, bool *adopted_out, struct kube *k,
	    const struct cJSON *obj);
/* One object; ERR_NOTFOUND if it does not exist. */
int	 kube_get(struct cJSON **out, struct kube *k, enum kube_kind kind,
	    const char *ns, const char *name);
/*
 * A whole list (every page merged), *out is the List with its items and
 * metadata.resourceVersion (the point a watch resumes from). ns NULL:
 * all namespaces; selector NULL: all ("ferry.dev/run=42",
 * "app.kubernetes.io/managed-by=ferry").
 */
int	 kube_list(struct cJSON **out, struct kube *k, enum kube_kind kind,
	    const char *ns, const char *selector);

enum kube_patch {
	KUBE_PATCH_MERGE,	/* application/merge-patch+json */
	KUBE_PATCH_STRATEGIC,	/* application/strategic-merge-patch+json */
	KUBE_PATCH_JSON,	/* application/json-patch+json */
};
int	 kube_patch(struct cJSON **out, struct kube *k, enum kube_kind kind,
	    const char *ns, const char *name, enum kube_patch type,
	    const struct cJSON *patch);

enum kube_propagation {
	KUBE_PROPAGATE_DEFAULT,	/* the kind's own default */
	KUBE_PROPAGATE_BACKGROUND,
	KUBE_PROPAGATE_FOREGROUND,
	KUBE_PROPAGATE_ORPHAN,
};
/*
 * Deletes one object; grace_s < 0 leaves the default grace period. An
 * object already gone (404) counts as deleted: returns 0.
 */
int	 kube_delete(struct kube *k, enum kube_kind kind, const char *ns,
	    const char *name, enum kube_propagation prop, int64_t grace_s);

/* Polled while a stream is open: nonzero abandons it. */
typedef int kube_cancel_fn(void *arg);
/*
 * One watch event: type "ADDED", "MODIFIED", "DELETED" (BOOKMARK events
 * are consumed by kube_watch and only move resource_version; events of
 * any other type are passed over). The object is borrowed for the call.
 * Nonzero stops the watch.
 */
typedef int kube_event_fn(void *arg, const char *type,
	    const struct cJSON *object);

/* A watch's inputs and its position, kept by the caller across calls. */
struct kube_watch {
	enum kube_kind	 kind;
	const char	*ns;		/* NULL: all namespaces */
	const char	*selector;	/* label selector, or NULL */
	/* In: where to resume ("" from now: after a list, its version);
	   out: the last version seen (events and bookmarks). */
	char		 resource_version[64];
	int		 timeout_s;	/* server-side timeoutSeconds; 300 */
	bool		 gone;		/* out: 410, the version expired */
	kube_cancel_fn	*cancel;	/* may be NULL */
	void		*cancel_arg;
};

/*
 * Streams events to fn until the server ends the watch (its timeout),
 * fn returns nonzero or cancel fires: all return 0; call again to
 * resume from w->resource_version. 410 Gone (the answer, or an ERROR
 * event) returns ERR_UPSTREAM with w->gone set and resource_version
 * emptied: list again, then watch from the list's version. Connection
 * failures before the stream opens are retried like other calls; a
 * stream that breaks later returns ERR_UPSTREAM (resume from
 * resource_version).
 */
int	 kube_watch(struct kube *k, struct kube_watch *w, kube_event_fn *fn,
	    void *arg);
/*
 * kube_watch's reading of the stream without the transfer, for tests
 * and fuzzing: the n pieces are a 2xx watch answer's bytes as they
 * arrive (split anywhere), then the stream ends. fn, w and the result
 * are as kube_watch's would be for that answer.
 */
int	 kube_watch_parse(struct kube_watch *w, kube_event_fn *fn, void *arg,
	    const char *const *pieces, const size_t *lens, size_t n);

/* Bytes of a log as they arrive; nonzero stops the stream. */
typedef int kube_data_fn(void *arg, const char *data, size_t len);

struct kube_log_opts {
	const char	*container;	/* NULL: the pod's only container */
	bool		 follow;	/* until the container ends */
	bool		 timestamps;	/* RFC 3339 prefix on each line */
	const char	*since_time;	/* RFC 3339, or NULL */
	int64_t		 limit_bytes;	/* 0: no limit */
	kube_cancel_fn	*cancel;	/* may be NULL */
	void		*cancel_arg;
};

/*
 * GET pods/{pod}/log: calls fn with the bytes as they arrive until the
 * log ends (with follow: the container terminated), fn returns nonzero
 * or cancel fires (all 0). Not bounded in time when following.
 */
int	 kube_log_stream(struct kube *k, const char *ns, const char *pod,
	    const struct kube_log_opts *o, kube_data_fn *fn, void *arg);

/*
 * Manifests (pure)
 */

/*
 * A run namespace's name: prefix + slug of repo + "-" + run id, a DNS
 * label of at most 63 characters for any repository name. The slug is
 * the repo name lower-cased, every run of other characters than [a-z0-9]
 * made one '-', trimmed of '-', cut so the whole fits. Caller frees.
 */
char	*kube_namespace_name(const char *prefix, const char *repo,
	    int64_t run_id);

/* What every manifest of one run is made from. All borrowed. */
struct kube_run {
	const struct config	 *cfg;	  /* kubernetes block, public_url */
	const struct config_repo *repo;
	int64_t			  run_id;
	const char		 *branch;
	const char		 *commit;  /* 40 hex digits */
	const char		 *source_token; /* the run's source token */
};

struct kube_env {
	const char	*name;
	const char	*value;
};

/* One step, as a Job. All borrowed. */
struct kube_step {
	const char		*name;	  /* DNS label */
	const char		*image;	  /* NULL: kubernetes.source_image */
	const char		*script;  /* commands, one per line; sh -e */
	/* The step's own env; CI, FERRY_RUN_ID, FERRY_REPO, FERRY_BRANCH,
	   FERRY_COMMIT and HOME are set from the run (given ones of these
	   names are ignored). */
	const struct kube_env	*env;
	size_t			 nenv;
	/* Names of the repo secrets this step asked for: each becomes an
	   env var from KUBE_SECRET_STEPS through secretKeyRef. */
	const char *const	*secrets;
	size_t			 nsecrets;
	int64_t			 timeout_ms;	/* > 0 */
	int64_t			 cpu_milli;	/* 0: kubernetes.defaults */
	int64_t			 memory;	/* 0: kubernetes.defaults */
	bool			 deploy;	/* runs as KUBE_SA_DEPLOY */
};

/* The run's namespace name (caller frees). */
char	*kube_run_namespace(const struct kube_run *r);
/* public_url + "/source/<id>.tar.gz?token=<token>" (caller frees). */
char	*kube_run_source_url(const struct kube_run *r);
/* True if the repo has deploy credentials configured (namespace, role). */
bool	 kube_run_can_deploy(const struct kube_run *r);

/*
 * The namespace with the managed-by and run labels and Pod Security
 * enforce/warn/audit = restricted.
 */
struct cJSON *kube_manifest_namespace(const struct kube_run *r);
/* ResourceQuota "ferry-quota": the server's quota as hard limits. */
struct cJSON *kube_manifest_quota(const struct kube_run *r);
/* LimitRange "ferry-limits": defaults per container, max = quota. */
struct cJSON *kube_manifest_limitrange(const struct kube_run *r);
/* NetworkPolicy "ferry-default-deny": no ingress, no egress. */
struct cJSON *kube_manifest_netpol_deny(const struct kube_run *r);
/*
 * NetworkPolicy "ferry-allow-egress": DNS to kube-system's kube-dns,
 * ferry's source endpoint (from public_url: an IP -> that /32; a
 * name.ns.svc name -> that namespace; another name -> the port to any
 * address, said in an annotation), each kubernetes.egress CIDR:port.
 * ERR_INVALID if public_url or an egress entry cannot be understood.
 */
int	 kube_manifest_netpol_egress(struct cJSON **out,
	    const struct kube_run *r);
/*
 * NetworkPolicy "ferry-allow-deploy": pods labelled ferry.dev/deploy=true
 * (deploy steps of a repo with deploy credentials) may also reach TCP 443
 * and 6443 anywhere, for the API server. Only in runs with such a step.
 */
struct cJSON *kube_manifest_netpol_deploy(const struct kube_run *r);
/* ServiceAccount name with automountServiceAccountToken: false. */
struct cJSON *kube_manifest_serviceaccount(const struct kube_run *r,
	    const char *name);
/* Secret KUBE_SECRET_SOURCE holding the source URL with its token. */
struct cJSON *kube_manifest_source_secret(const struct kube_run *r);
/*
 * Secret KUBE_SECRET_STEPS with the named repo secrets (values from the
 * config; redact: "<redacted>" instead, for render). ERR_INVALID for a
 * name the repo does not define.
 */
int	 kube_manifest_secret(struct cJSON **out, const struct kube_run *r,
	    const char *const *names, size_t n, bool redact);
/*
 * RoleBinding in the repo's deploy namespace, named after the run
 * namespace, binding KUBE_SA_DEPLOY of the run namespace to the repo's
 * deploy role (a Role). ERR_INVALID if the repo has no deploy block.
 */
int	 kube_manifest_rolebinding(struct cJSON **out,
	    const struct kube_run *r);
/*
 * The step's batch/v1 Job, named after the step. ERR_INVALID for a bad
 * step (name not a DNS label, no script, timeout <= 0).
 */
int	 kube_manifest_job(struct cJSON **out, const struct kube_run *r,
	    const struct kube_step *s);

/*
 * Appends a run's sandbox to arr, in creation order: Namespace,
 * ServiceAccounts, ResourceQuota, LimitRange, NetworkPolicies (deny,
 * egress, and deploy when deploy), Secrets (source, and the steps'
 * named secret_names when nsecrets > 0), the deploy RoleBinding. The
 * caller decides deploy (kube_run_can_deploy). On error arr holds what
 * was appended before it.
 */
int	 kube_manifests_sandbox(struct cJSON *arr, const struct kube_run *r,
	    const char *const *secret_names, size_t nsecrets, bool deploy,
	    bool redact);
/*
 * Every object the run would create, in creation order, as a cJSON
 * array: Namespace, ServiceAccounts, ResourceQuota, LimitRange,
 * NetworkPolicies (deny, egress, deploy), Secrets (source, steps), the
 * deploy RoleBinding, then one Job per
 * step in the pipeline's topological order. redact hides secret values.
 */
int	 kube_manifests_run(struct cJSON **out, const struct kube_run *r,
	    const struct pipeline *p, bool redact);

/*
 * Formats the documents of array as a YAML stream (each object a
 * "---" document) into *out (caller frees). Strings that would read
 * back as another type ("true", "8080", "") are quoted.
 */
int	 kube_yaml_format(char **out, const struct cJSON *array);

/*
 * `ferry render`'s text: every object a run run_id of p at sha on
 * branch (NULL: the repository's) would create, in creation order, as
 * YAML documents under a comment, or (json) one v1 List. Secret values
 * and the source token are placeholders. *out is the caller's.
 */
int	 kube_render(char **out, const struct config *cfg,
	    const struct config_repo *repo, const struct pipeline *p,
	    int64_t run_id, const char *branch, const char *sha, bool json);

#endif

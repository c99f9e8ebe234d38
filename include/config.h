/*
 * config.h - the server's YAML configuration (SPEC.md "Server
 * configuration") parsed into an immutable struct config.
 *
 * config_load() runs on the main thread before any other thread exists;
 * afterwards the struct is read-only and shared by every thread. It owns
 * every string it points to, secrets included (resolved from env:NAME or
 * file:PATH; plain values are refused for secret keys). config_free()
 * wipes the secrets.
 */
#ifndef FERRY_CONFIG_H
#define FERRY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum config_provider {
	PROVIDER_GITHUB,
	PROVIDER_GITLAB,
};

enum config_executor {
	EXECUTOR_LOCAL,
	EXECUTOR_KUBERNETES,
};

/* A name=value pair, e.g. a repo secret or a step env var. */
struct config_pair {
	char	*name;		/* e.g. REGISTRY_PASSWORD */
	char	*value;		/* resolved value (secret: wiped on free) */
};

struct config_resources {
	int64_t	 cpu_milli;	/* CPU in millicores; 0: not set */
	int64_t	 memory;	/* bytes; 0: not set */
	int64_t	 pods;		/* quota only; 0: not set */
};

struct config_kube {
	char			*kubeconfig;	/* path; NULL: in-cluster */
	char			*context;	/* NULL: current-context */
	char			*namespace_prefix; /* default "ferry-" */
	char			*source_image;	/* default busybox:1.36 */
	struct config_resources	 defaults;	/* per step; 500m / 512Mi */
	struct config_resources	 quota;		/* per run; 4 / 8Gi / 10 */
	char			**egress;	/* "CIDR:port" strings */
	size_t			 negress;
	int64_t			 schedule_timeout_ms;	/* default 5m */
	int64_t			 image_pull_timeout_ms;	/* default 2m */
};

struct config_repo {
	char			*name;		/* "acme/shop" */
	enum config_provider	 provider;
	char			*clone_url;	/* URL or local path */
	char			*secret;	/* webhook secret / GitLab token */
	char			*branch;	/* default "master" */
	char			*pipeline;	/* default ".ferry.yml" */
	char			*status_token;	/* NULL: no commit statuses */
	char			*api_url;	/* default per provider */
	char			**notify;	/* URLs */
	size_t			 nnotify;
	char			*deploy_namespace; /* NULL: no deploy creds */
	char			*deploy_role;
	struct config_pair	*secrets;	/* name -> resolved value */
	size_t			 nsecrets;
	int			 concurrency;	/* default 1 */
	bool			 cancel_superseded; /* default false */
};

struct config {
	char			*path;		/* the file it came from */
	char			*listen_host;	/* "127.0.0.1"; NULL: any */
	int			 listen_port;	/* 8080 */
	char			*data_dir;	/* "./var" */
	int			 workers;	/* 4 */
	char			*public_url;	/* no trailing slash */
	int64_t			 max_body;	/* bytes; 1 MiB */
	char			**api_tokens;	/* resolved bearer tokens */
	size_t			 napi_tokens;
	enum config_executor	 executor;
	struct config_kube	 kube;
	struct config_repo	*repos;
	size_t			 nrepos;

	/* Extensions beyond SPEC.md, all optional. */
	int64_t			 request_timeout_ms; /* whole request; 30s */
	int			 max_connections;    /* 1024 */
	int64_t			 log_max;	/* per step log; 16 MiB */
	int			 log_level;	/* enum log_level; info */
};

/*
 * Reads and validates path. On error returns ERR_INVALID (or
 * ERR_NOTFOUND for a missing file) with a message of the form
 * "FILE:LINE: KEY: what is wrong". *out is the caller's (config_free).
 */
int	 config_load(struct config **out, const char *path);
/* The same from text in memory; path is used in messages only. */
int	 config_parse(struct config **out, const char *path, const char *text,
	    size_t len);
void	 config_free(struct config *cfg);

/* The repo with this provider and name, or NULL. Borrowed from cfg. */
const struct config_repo *config_repo_find(const struct config *cfg,
	    enum config_provider provider, const char *name);
/* The repo with this name whatever its provider, or NULL. */
const struct config_repo *config_repo_by_name(const struct config *cfg,
	    const char *name);
/* "github" / "gitlab". */
const char *config_provider_name(enum config_provider p);

#endif

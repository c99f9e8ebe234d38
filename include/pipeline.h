/*
 * pipeline.h - a repository's pipeline file (SPEC.md "Pipeline file",
 * ".ferry.yml") parsed with libyaml into a validated struct pipeline, and
 * the pure planning functions the runner drives it with: topological
 * order, the steps runnable now, the steps a failure dooms, and the plan
 * `ferry lint` prints.
 *
 * Pure: no I/O, no globals besides err_set()'s thread-local message;
 * safe from any thread. The server's bounds (quota ceiling, the repo's
 * secret names, the default timeout) come in a struct pipeline_limits the
 * caller fills from its config, so this module does not depend on config.
 * A struct pipeline owns every string it points to and is immutable once
 * parsed; it never holds a secret's value, only its name.
 *
 * Ordering: without any `needs` key the pipeline is sequential and each
 * step is given needs = [the previous step]; with one, it is a DAG and a
 * step without needs depends on nothing. After pipeline_parse() the two
 * look the same to the planning functions, which only read needs_idx.
 */
#ifndef FERRY_PIPELINE_H
#define FERRY_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PIPELINE_MAX_FILE	(64 * 1024)	/* bytes of .ferry.yml */
#define PIPELINE_MAX_STEPS	64
#define PIPELINE_MAX_COMMANDS	256		/* per step */
#define PIPELINE_MAX_NAME	40		/* DNS-1123 label */
#define PIPELINE_MAX_ERRORS	50		/* kept per parse */
#define PIPELINE_MAX_TIMEOUT_MS	(24 * 3600 * 1000LL)
#define PIPELINE_DEFAULT_TIMEOUT_MS (3600 * 1000LL)

/* One `env:` entry of a step. */
struct pipeline_env {
	char	*name;	/* [A-Za-z_][A-Za-z0-9_]*, not CI, FERRY_* */
	char	*value;	/* the scalar as written ("" for null) */
};

struct pipeline_step {
	char		*name;		/* DNS-1123 label, unique */
	/* NULL when not given: local ignores it, kube picks a default. */
	char		*image;
	char		**commands;	/* at least one, file order */
	size_t		 ncommands;
	/* The steps this one waits for, as names and as indexes into
	   pipeline->steps; sequential default: [previous step]. */
	char		**needs;
	size_t		*needs_idx;
	size_t		 nneeds;
	bool		 deploy;	/* gets the deploy credentials */
	int64_t		 timeout_ms;	/* given, else default */
	int64_t		 cpu_milli;	/* request; 0: not set */
	int64_t		 memory;	/* request, bytes; 0: not set */
	struct pipeline_env *env;	/* file order */
	size_t		 nenv;
	/* Names only, never values; each defined for the repo. */
	char		**secrets;
	size_t		 nsecrets;
	int		 line;		/* of the step's mapping, */
	int		 col;		/* 1-based */
};

struct pipeline {
	struct pipeline_step *steps;	/* file order; owned */
	size_t		 nsteps;	/* 1..PIPELINE_MAX_STEPS */
	bool		 dag;		/* some step had a needs key */
};

/*
 * What the server allows, filled by the caller from its config (the
 * repo's secrets and kubernetes.quota). All of it is borrowed for the
 * duration of pipeline_parse() only.
 */
struct pipeline_limits {
	int64_t		 quota_cpu_milli; /* per step ceiling; 0: none */
	int64_t		 quota_memory;	/* bytes; 0: none */
	const char *const *secret_names; /* names the repo defines */
	size_t		 nsecret_names;
	int64_t		 default_timeout_ms; /* 0: 1h */
};

/* One validation problem, positioned at the offending YAML node. */
struct pipeline_error {
	int	 line;		/* 1-based */
	int	 col;		/* 1-based */
	char	*msg;		/* lower case, one line, no position */
};

/* The caller's storage; pipeline_parse() fills it. */
struct pipeline_errors {
	struct pipeline_error *v;	/* owned; by line, then column */
	size_t		 n;		/* <= PIPELINE_MAX_ERRORS */
};

/* Where a step is, as the runner tells the planning functions. */
enum pipeline_state {
	PIPELINE_PENDING,	/* not started */
	PIPELINE_RUNNING,
	PIPELINE_DONE_OK,	/* succeeded */
	PIPELINE_DONE_FAIL,	/* failed, error or cancelled */
	PIPELINE_SKIPPED,
};

/*
 * Parses and validates len bytes of text (need not be NUL-terminated).
 * lim may be NULL: then no quota, secrets are not checked against the
 * server (for `ferry lint` without a config) and the timeout default is
 * 1h. On success returns 0 and *out is the caller's (pipeline_free). On
 * failure *out is NULL and returns:
 *   ERR_INVALID  every problem found is in errs (in file order, at most
 *                PIPELINE_MAX_ERRORS), the first one also in err_msg()
 *                as "LINE:COL: message";
 *   ERR_TOOBIG   len > PIPELINE_MAX_FILE, refused unparsed; errs holds
 *                "pipeline file is larger than 64 KiB" at 1:1;
 *   ERR_FAIL     libyaml could not be initialised (errs empty).
 * errs may be NULL; if not, it is overwritten (empty on success) and the
 * caller disposes of it with pipeline_errors_dispose() in every case.
 */
int	 pipeline_parse(struct pipeline **out, struct pipeline_errors *errs,
	    const char *text, size_t len, const struct pipeline_limits *lim);
/* Frees a pipeline and all it owns; accepts NULL. */
void	 pipeline_free(struct pipeline *p);
/* Frees the entries and empties errs; accepts NULL. */
void	 pipeline_errors_dispose(struct pipeline_errors *errs);

/* Index of the step called name, or -1. */
int	 pipeline_step_index(const struct pipeline *p, const char *name);

/*
 * Topological order: order_out (p->nsteps entries) receives every step
 * index once, each after all of its needs; among steps ready at the same
 * time, file order. 0, or ERR_INVALID naming a cycle (never for a parsed
 * pipeline).
 */
int	 pipeline_order(size_t *order_out, const struct pipeline *p);

/*
 * out (p->nsteps entries): true for each PENDING step all of whose needs
 * are DONE_OK, i.e. the steps to start now. states has p->nsteps entries.
 */
void	 pipeline_runnable(bool *out, const struct pipeline *p,
	    const enum pipeline_state *states);

/*
 * out (p->nsteps entries): true for each PENDING step that needs, directly
 * or through other pending steps, a DONE_FAIL or SKIPPED step and so can
 * never run; the runner marks them skipped.
 */
void	 pipeline_skip_after_failure(bool *out, const struct pipeline *p,
	    const enum pipeline_state *states);

/*
 * The plan as text for `ferry lint`: one line per stage, a stage being
 * the steps whose needs all lie in earlier stages, in file order:
 *   "1. build\n2. test, lint (parallel)\n3. deploy [deploy]\n"
 * *out is the caller's (free). 0, or ERR_INVALID on a cycle.
 */
int	 pipeline_plan_format(char **out, const struct pipeline *p);

/*
 * Kubernetes quantities, for reuse by kube and config.
 * cpu: "250m", "1", "0.5", "2" -> millicores (> 0, whole millicores).
 * memory: "128Mi", "1Gi", "512Ki", "1000000", "1G", "1M", "1k",
 *   "1.5Gi" -> bytes (> 0; fractions rounded up to a whole byte).
 * 0, or ERR_INVALID with "invalid cpu quantity \"abc\"" / "invalid memory
 * quantity \"12Q\"".
 */
int	 pipeline_cpu_parse(int64_t *out, const char *s);
int	 pipeline_memory_parse(int64_t *out, const char *s);
/* "250m", "2" (whole cores) into out. */
void	 pipeline_cpu_format(char *out, size_t outsz, int64_t milli);
/* "128Mi", "1Gi" (the largest exact binary unit), else bytes. */
void	 pipeline_memory_format(char *out, size_t outsz, int64_t bytes);

#endif

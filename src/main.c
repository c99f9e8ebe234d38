/*
 * main.c - ferry's subcommands: serve, migrate, version (lint, plan and
 * render arrive with their modules).
 *
 * Exit codes: 0 success, 1 failure, 2 usage. main initialises libraries
 * and blocks signals before any thread exists, then sigwait()s; it tears
 * down in reverse once every thread has joined.
 */
#define LOG_MODULE "main"
#include <cjson/cJSON.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "api.h"
#include "config.h"
#include "exec.h"
#include "ferry_version.h"
#include "http.h"
#include "httpc.h"
#include "kube.h"
#include "log.h"
#include "pipeline.h"
#include "repo.h"
#include "report.h"
#include "runner.h"
#include "store.h"
#include "util.h"
#include "worker.h"

#define EXIT_USAGE	2
#define DEFAULT_CONFIG	"ferry.yml"
#define FETCH_TIMEOUT_MS	(120 * 1000)
#define LOCAL_MAX_PROCS		512
#define LOCAL_MAX_FILE		(1LL << 30)

static const char usage_main[] =
    "usage: ferry <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve     receive webhooks and run pipelines\n"
    "  migrate   apply database migrations and exit\n"
    "  lint      check a pipeline file and print its plan\n"
    "  plan      print the plan of a repository's commit\n"
    "  render    print the Kubernetes manifests a run would create\n"
    "  version   print the version\n"
    "\n"
    "Run 'ferry <command> --help' for a command's options.\n";

static const char usage_serve[] =
    "usage: ferry serve [--config FILE]\n"
    "\n"
    "Starts the server: webhooks, API and workers.\n"
    "  -c, --config FILE   server configuration (default ferry.yml,\n"
    "                      or $FERRY_CONFIG)\n";

static const char usage_migrate[] =
    "usage: ferry migrate [--config FILE]\n"
    "\n"
    "Applies the database migrations not yet applied to data_dir/ferry.db\n"
    "and exits.\n"
    "  -c, --config FILE   server configuration (default ferry.yml,\n"
    "                      or $FERRY_CONFIG)\n";

static const char usage_lint[] =
    "usage: ferry lint [FILE]\n"
    "\n"
    "Checks a pipeline file (default .ferry.yml): prints every problem as\n"
    "FILE:LINE:COL: message and exits 1, or prints the plan and exits 0.\n";

static const char usage_plan[] =
    "usage: ferry plan --config FILE --repo NAME --commit SHA\n"
    "\n"
    "Fetches the commit into the repository's mirror, reads its pipeline\n"
    "file and prints the plan, checked against the server's limits.\n";

static const char usage_render[] =
    "usage: ferry render --config FILE --repo NAME --commit SHA\n"
    "                    [--output yaml|json] [--run ID] [--branch NAME]\n"
    "\n"
    "Reads the commit's pipeline file (fetching the commit into the\n"
    "repository's mirror if needed) and prints every Kubernetes object a\n"
    "run of it would create, in creation order, without a cluster.\n"
    "Secret values and the source token are shown as placeholders.\n"
    "  -c, --config FILE    server configuration (default ferry.yml,\n"
    "                       or $FERRY_CONFIG)\n"
    "  -r, --repo NAME      repository as configured, e.g. acme/shop\n"
    "  -s, --commit SHA     commit, 40 hex digits\n"
    "  -o, --output FORMAT  yaml (default: one document per object) or\n"
    "                       json (a v1 List)\n"
    "      --run ID         run id for names and labels (default 0)\n"
    "      --branch NAME    FERRY_BRANCH (default: the repo's branch)\n";

static void *
json_malloc(size_t n)
{
	return xmalloc(n);
}

/*
 * Parses "-c FILE" / "--config FILE" / "--help". Returns 0, 1 for help
 * (usage printed) or EXIT_USAGE for bad options.
 */
static int
config_opts(const char **path_out, int argc, char **argv, const char *usage)
{
	static const struct option	opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char			*env = getenv("FERRY_CONFIG");
	int				 c;

	*path_out = env != NULL && *env != '\0' ? env : DEFAULT_CONFIG;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			*path_out = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 1;
		default:
			fputs(usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "ferry: unexpected argument %s\n",
		    argv[optind]);
		fputs(usage, stderr);
		return EXIT_USAGE;
	}
	return 0;
}

/* Loads the config and opens and migrates the database. */
static int
open_all(struct config **cfg_out, struct store **st_out, char **db_out,
    const char *path)
{
	struct config	*cfg = NULL;
	struct store	*st = NULL;
	char		*db = NULL;
	int		 applied, rc;
	size_t		 i;

	if ((rc = config_load(&cfg, path)) != 0) {
		fprintf(stderr, "ferry: %s\n", err_msg());
		return rc;
	}
	log_set_level((enum log_level)cfg->log_level);
	if ((rc = mkdir_p(cfg->data_dir, 0750)) != 0)
		goto fail;
	db = xasprintf("%s/ferry.db", cfg->data_dir);
	if ((rc = store_open(&st, db)) != 0)
		goto fail;
	if ((rc = store_migrate(st, &applied)) != 0)
		goto fail;
	if (applied > 0)
		log_info("database %s: applied %d migration(s)", db, applied);
	for (i = 0; i < cfg->nrepos; i++) {
		if ((rc = store_repo_ensure(st, cfg->repos[i].name,
		    config_provider_name(cfg->repos[i].provider),
		    cfg->repos[i].branch)) != 0)
			goto fail;
	}
	*cfg_out = cfg;
	*st_out = st;
	*db_out = db;
	return 0;
fail:
	log_error("%s", err_msg());
	store_close(st);
	free(db);
	config_free(cfg);
	return rc;
}

static int
cmd_migrate(int argc, char **argv)
{
	struct config	*cfg;
	struct store	*st;
	const char	*path;
	char		*db;
	int		 rc, bin, cur;

	if ((rc = config_opts(&path, argc, argv, usage_migrate)) != 0)
		return rc == 1 ? 0 : rc;
	if (open_all(&cfg, &st, &db, path) != 0)
		return 1;
	rc = store_schema_version(&bin, &cur, st);
	if (rc == 0)
		printf("%s: schema version %d\n", db, cur);
	store_close(st);
	free(db);
	config_free(cfg);
	return rc == 0 ? 0 : 1;
}

static void
wake_workers(void *arg)
{
	worker_wake(arg);
}

/* Where a run's changes go: the live events and the reports. */
struct notify_sinks {
	struct api	*api;
	struct report	*report;
};

static void
run_changed(void *arg, int64_t run_id)
{
	struct notify_sinks	*ns = arg;

	api_run_changed(ns->api, run_id);
	report_run_changed(ns->report, run_id);
}

/*
 * For the Kubernetes executor's sweep (its own thread): whether run_id
 * may still use its namespace. Opens this thread's store connection;
 * true when the store cannot say.
 */
static bool
kube_run_active(void *arg, int64_t run_id)
{
	const struct config	*cfg = arg;
	struct store		*st;
	struct run		*run;
	char			*db;
	bool			 active;
	int			 rc;

	db = xasprintf("%s/ferry.db", cfg->data_dir);
	rc = store_thread_get(&st, db);
	free(db);
	if (rc != 0)
		return true;
	if ((rc = store_run_get(&run, st, run_id)) != 0)
		return rc != ERR_NOTFOUND;
	active = run->status == RUN_QUEUED || run->status == RUN_RUNNING;
	run_free(run);
	return active;
}

static int
start_executor(struct exec **out, const struct config *cfg)
{
	struct exec_local_opts	o;
	struct exec_kube_opts	ko;
	const char		*hide[2];
	char			*work;
	int			 rc;

	work = xasprintf("%s/work", cfg->data_dir);
	/* Nothing runs yet: what a dead server left there is garbage. */
	remove_tree(work);
	if (cfg->executor == EXECUTOR_KUBERNETES) {
		free(work);
		memset(&ko, 0, sizeof(ko));
		ko.cfg = cfg;
		ko.run_active = kube_run_active;
		ko.run_active_arg = (void *)cfg;
		return exec_kube_new(out, &ko);
	}
	memset(&o, 0, sizeof(o));
	o.work_dir = work;
	/* Steps see the host read-only, but never ferry's own files. */
	hide[0] = cfg->data_dir;
	hide[1] = cfg->path;
	o.hide = hide;
	o.nhide = 2;
	o.default_cpu_milli = cfg->kube.defaults.cpu_milli;
	o.default_memory = cfg->kube.defaults.memory;
	o.max_procs = LOCAL_MAX_PROCS;
	o.max_file_size = LOCAL_MAX_FILE;
	rc = exec_local_new(out, &o);
	free(work);
	return rc;
}

static int
cmd_serve(int argc, char **argv)
{
	struct config		*cfg;
	struct store		*st;
	struct api		*api = NULL;
	struct http_server	*srv = NULL;
	struct repo_cache	*rc = NULL;
	struct exec		*ex = NULL;
	struct runner		*runner = NULL;
	struct worker_pool	*pool = NULL;
	struct worker_opts	 wo;
	struct report		*report = NULL;
	struct notify_sinks	 sinks = { NULL, NULL };
	struct http_opts	 ho;
	const struct http_route	*routes;
	size_t			 nroutes;
	const char		*path;
	char			*db, *dir;
	sigset_t		 set;
	int			 ret, sig, requeued, failed;

	if ((ret = config_opts(&path, argc, argv, usage_serve)) != 0)
		return ret == 1 ? 0 : ret;

	/* Threads inherit this mask: only main sees these signals. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (open_all(&cfg, &st, &db, path) != 0)
		return 1;
	ret = 1;
	/* The cluster client's libcurl, before any thread exists. */
	if (cfg->executor == EXECUTOR_KUBERNETES && httpc_global_init() != 0) {
		log_error("%s", err_msg());
		goto out;
	}
	dir = xasprintf("%s/mirrors", cfg->data_dir);
	if (repo_cache_new(&rc, dir, FETCH_TIMEOUT_MS) != 0) {
		free(dir);
		log_error("%s", err_msg());
		goto out;
	}
	free(dir);
	if (start_executor(&ex, cfg) != 0) {
		log_error("%s", err_msg());
		goto out;
	}
	runner_new(&runner, cfg, db, rc, ex);
	if (runner_recover(&requeued, &failed, runner, st) != 0) {
		log_error("recovery failed: %s", err_msg());
		goto out;
	}
	if (requeued || failed)
		log_info("recovered interrupted runs: %d re-queued, %d ended",
		    requeued, failed);
	if (report_start(&report, cfg, db) != 0) {
		log_error("%s", err_msg());
		goto out;
	}
	api_new(&api, cfg, db);
	api_set_repo_cache(api, rc);
	sinks.api = api;
	sinks.report = report;
	api_set_notify(api, run_changed, &sinks);
	runner_set_notify(runner, run_changed, &sinks);
	memset(&wo, 0, sizeof(wo));
	wo.threads = cfg->workers;
	wo.poll_ms = 2000;
	wo.ctx_new = runner_ctx_new;
	wo.run = runner_work;
	wo.ctx_free = runner_ctx_free;
	wo.arg = runner;
	if (worker_pool_start(&pool, &wo) != 0) {
		log_error("%s", err_msg());
		goto out;
	}
	api_set_wake(api, wake_workers, pool);
	memset(&ho, 0, sizeof(ho));
	ho.host = cfg->listen_host;
	ho.port = cfg->listen_port;
	ho.max_body = (size_t)cfg->max_body;
	ho.request_timeout_ms = cfg->request_timeout_ms;
	ho.idle_timeout_ms = 15000;
	ho.max_connections = cfg->max_connections;
	routes = api_routes(&nroutes);
	if (http_server_start(&srv, &ho, routes, nroutes, api) != 0) {
		log_error("%s", err_msg());
		goto out;
	}
	/* Runs queued while ferry was down. */
	worker_wake(pool);
	log_info("ferry %s listening on %s:%d executor=%s repos=%zu",
	    FERRY_VERSION, cfg->listen_host ? cfg->listen_host : "*",
	    http_server_port(srv),
	    cfg->executor == EXECUTOR_LOCAL ? "local" : "kubernetes",
	    cfg->nrepos);

	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			log_info("SIGHUP: configuration reload is not "
			    "supported; restart ferry to apply changes");
			continue;
		}
		log_info("%s: shutting down", sig == SIGINT ? "SIGINT" :
		    "SIGTERM");
		break;
	}
	ret = 0;
out:
	http_server_stop(srv);
	if (runner != NULL)
		runner_stop_begin(runner);
	worker_pool_stop(pool);
	runner_free(runner);
	report_stop(report);
	api_free(api);
	exec_free(ex);
	if (cfg->executor == EXECUTOR_KUBERNETES)
		httpc_global_cleanup();
	repo_cache_free(rc);
	store_thread_close();
	store_pool_drain();
	store_close(st);
	free(db);
	config_free(cfg);
	if (ret == 0)
		log_info("stopped");
	return ret;
}

/* Prints a pipeline's errors or plan; 0 valid, 1 invalid. */
static int
lint_text(const char *file, const char *text, size_t len,
    const struct pipeline_limits *lim)
{
	struct pipeline		*p = NULL;
	struct pipeline_errors	 errs = { 0 };
	char			*plan;
	size_t			 i;
	int			 rc;

	rc = pipeline_parse(&p, &errs, text, len, lim);
	if (rc != 0) {
		for (i = 0; i < errs.n; i++)
			printf("%s:%d:%d: %s\n", file, errs.v[i].line,
			    errs.v[i].col, errs.v[i].msg);
		pipeline_errors_dispose(&errs);
		return 1;
	}
	pipeline_errors_dispose(&errs);
	if (pipeline_plan_format(&plan, p) != 0) {
		printf("%s: %s\n", file, err_msg());
		pipeline_free(p);
		return 1;
	}
	printf("%s: %zu step%s, %s\n%s", file, p->nsteps,
	    p->nsteps == 1 ? "" : "s", p->dag ? "a DAG" : "in order", plan);
	free(plan);
	pipeline_free(p);
	return 0;
}

static int
cmd_lint(int argc, char **argv)
{
	const char	*file = ".ferry.yml";
	char		*text;
	size_t		 len;
	int		 rc;

	if (argc > 1 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)) {
		fputs(usage_lint, stdout);
		return 0;
	}
	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fputs(usage_lint, stderr);
		return EXIT_USAGE;
	}
	if (argc == 2)
		file = argv[1];
	rc = file_read(&text, &len, file, PIPELINE_MAX_FILE);
	if (rc == ERR_TOOBIG) {
		printf("%s:1:1: pipeline file is larger than %d KiB\n", file,
		    PIPELINE_MAX_FILE / 1024);
		return 1;
	}
	if (rc != 0) {
		fprintf(stderr, "ferry: %s\n", err_msg());
		return 1;
	}
	rc = lint_text(file, text, len, NULL);
	free(text);
	return rc;
}

/*
 * What plan and render share: a repository's pipeline at a commit, read
 * the way a run reads it (the mirror under data_dir, fetched if the
 * commit is missing, checked against the server's limits).
 */
struct cli_pipeline {
	struct config			*cfg;
	const struct config_repo	*repo;
	struct repo_cache		*rc;
	struct pipeline			*p;
	char				*dir;
	char				*reason;	/* why there is no p */
};

/*
 * 0 with cp->p; 1 after printing why to stderr (the config, an unknown
 * repository, the mirror), or with cp->reason for a pipeline that cannot
 * be read (the caller prints it where its command's output goes).
 */
static int
cli_pipeline_load(struct cli_pipeline *cp, const char *path,
    const char *name, const char *sha)
{
	memset(cp, 0, sizeof(*cp));
	if (config_load(&cp->cfg, path) != 0) {
		fprintf(stderr, "ferry: %s\n", err_msg());
		return 1;
	}
	log_set_level((enum log_level)cp->cfg->log_level);
	if ((cp->repo = config_repo_by_name(cp->cfg, name)) == NULL) {
		fprintf(stderr, "ferry: repository %s is not in %s\n", name,
		    path);
		return 1;
	}
	cp->dir = xasprintf("%s/mirrors", cp->cfg->data_dir);
	if (repo_cache_new(&cp->rc, cp->dir, FETCH_TIMEOUT_MS) != 0) {
		fprintf(stderr, "ferry: %s\n", err_msg());
		return 1;
	}
	if (runner_pipeline_load(&cp->p, &cp->reason, cp->cfg, cp->rc,
	    cp->repo, sha) != 0)
		return 1;
	return 0;
}

static void
cli_pipeline_dispose(struct cli_pipeline *cp)
{
	pipeline_free(cp->p);
	free(cp->reason);
	free(cp->dir);
	repo_cache_free(cp->rc);
	config_free(cp->cfg);
}

static int
cmd_plan(int argc, char **argv)
{
	static const struct option	 opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "repo", required_argument, NULL, 'r' },
		{ "commit", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_pipeline		 cp;
	const char			*path = DEFAULT_CONFIG, *name = NULL;
	const char			*sha = NULL;
	char				*plan;
	int				 c, ret = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'r':
			name = optarg;
			break;
		case 's':
			sha = optarg;
			break;
		case 'h':
			fputs(usage_plan, stdout);
			return 0;
		default:
			fputs(usage_plan, stderr);
			return EXIT_USAGE;
		}
	}
	if (name == NULL || sha == NULL || optind != argc) {
		fputs(usage_plan, stderr);
		return EXIT_USAGE;
	}
	if (cli_pipeline_load(&cp, path, name, sha) != 0) {
		if (cp.reason != NULL)
			printf("%s\n", cp.reason);
		goto out;
	}
	if (pipeline_plan_format(&plan, cp.p) != 0) {
		printf("%s\n", err_msg());
		goto out;
	}
	printf("%s@%.12s:%s: %zu step%s, %s\n%s", cp.repo->name, sha,
	    cp.repo->pipeline, cp.p->nsteps, cp.p->nsteps == 1 ? "" : "s",
	    cp.p->dag ? "a DAG" : "in order", plan);
	free(plan);
	ret = 0;
out:
	cli_pipeline_dispose(&cp);
	return ret;
}

static int
cmd_render(int argc, char **argv)
{
	static const struct option	 opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "repo", required_argument, NULL, 'r' },
		{ "commit", required_argument, NULL, 's' },
		{ "output", required_argument, NULL, 'o' },
		{ "run", required_argument, NULL, 'i' },
		{ "branch", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_pipeline		 cp;
	const char			*env = getenv("FERRY_CONFIG");
	const char			*path, *name = NULL, *sha = NULL;
	const char			*format = "yaml", *branch = NULL;
	char				*text = NULL;
	int64_t				 run_id = 0;
	int				 c, ret = 1;

	path = env != NULL && *env != '\0' ? env : DEFAULT_CONFIG;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:r:s:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'r':
			name = optarg;
			break;
		case 's':
			sha = optarg;
			break;
		case 'o':
			format = optarg;
			break;
		case 'b':
			branch = optarg;
			break;
		case 'i':
			if (parse_int64(&run_id, optarg, 0, INT64_MAX) != 0) {
				fprintf(stderr, "ferry: --run: %s\n",
				    err_msg());
				return EXIT_USAGE;
			}
			break;
		case 'h':
			fputs(usage_render, stdout);
			return 0;
		default:
			fputs(usage_render, stderr);
			return EXIT_USAGE;
		}
	}
	if (name == NULL || sha == NULL || optind != argc ||
	    (strcmp(format, "yaml") != 0 && strcmp(format, "json") != 0)) {
		if (optind != argc)
			fprintf(stderr, "ferry: unexpected argument %s\n",
			    argv[optind]);
		fputs(usage_render, stderr);
		return EXIT_USAGE;
	}
	if (cli_pipeline_load(&cp, path, name, sha) != 0) {
		if (cp.reason != NULL)
			fprintf(stderr, "ferry: %s\n", cp.reason);
		goto out;
	}
	if (kube_render(&text, cp.cfg, cp.repo, cp.p, run_id, branch, sha,
	    strcmp(format, "json") == 0) != 0) {
		fprintf(stderr, "ferry: %s\n", err_msg());
		goto out;
	}
	if (fputs(text, stdout) == EOF || fflush(stdout) != 0) {
		fprintf(stderr, "ferry: cannot write the manifests\n");
		goto out;
	}
	ret = 0;
out:
	free(text);
	cli_pipeline_dispose(&cp);
	return ret;
}

static int
cmd_version(int argc, char **argv)
{
	(void)argv;
	if (argc > 1) {
		fputs("usage: ferry version\n", argc > 1 &&
		    strcmp(argv[1], "--help") == 0 ? stdout : stderr);
		return strcmp(argv[1], "--help") == 0 ? 0 : EXIT_USAGE;
	}
	printf("ferry %s\n", FERRY_VERSION);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct {
		const char	*name;
		int		(*fn)(int, char **);
	} cmds[] = {
		{ "serve", cmd_serve },
		{ "migrate", cmd_migrate },
		{ "lint", cmd_lint },
		{ "plan", cmd_plan },
		{ "render", cmd_render },
		{ "version", cmd_version },
	};
	cJSON_Hooks	hooks = { json_malloc, free };
	size_t		i;
	int		rc;

	cJSON_InitHooks(&hooks);
	if (argc < 2) {
		fputs(usage_main, stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(usage_main, stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0)
		return cmd_version(1, argv);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[1], cmds[i].name) != 0)
			continue;
		git_libgit2_init();
		rc = cmds[i].fn(argc - 1, argv + 1);
		git_libgit2_shutdown();
		return rc;
	}
	fprintf(stderr, "ferry: unknown command \"%s\"\n", argv[1]);
	fputs(usage_main, stderr);
	return EXIT_USAGE;
}

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

#include "api.h"
#include "config.h"
#include "ferry_version.h"
#include "http.h"
#include "log.h"
#include "store.h"
#include "util.h"

#define EXIT_USAGE	2
#define DEFAULT_CONFIG	"ferry.yml"

static const char usage_main[] =
    "usage: ferry <command> [options]\n"
    "\n"
    "commands:\n"
    "  serve     receive webhooks and run pipelines\n"
    "  migrate   apply database migrations and exit\n"
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

static int
cmd_serve(int argc, char **argv)
{
	struct config		*cfg;
	struct store		*st;
	struct api		*api = NULL;
	struct http_server	*srv = NULL;
	struct http_opts	 ho;
	const struct http_route	*routes;
	size_t			 nroutes;
	const char		*path;
	char			*db;
	sigset_t		 set;
	int			 rc, sig;

	if ((rc = config_opts(&path, argc, argv, usage_serve)) != 0)
		return rc == 1 ? 0 : rc;

	/* Threads inherit this mask: only main sees these signals. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (open_all(&cfg, &st, &db, path) != 0)
		return 1;
	api_new(&api, cfg, db);
	memset(&ho, 0, sizeof(ho));
	ho.host = cfg->listen_host;
	ho.port = cfg->listen_port;
	ho.max_body = (size_t)cfg->max_body;
	ho.request_timeout_ms = cfg->request_timeout_ms;
	ho.idle_timeout_ms = cfg->request_timeout_ms;
	ho.max_connections = cfg->max_connections;
	routes = api_routes(&nroutes);
	if (http_server_start(&srv, &ho, routes, nroutes, api) != 0) {
		log_error("%s", err_msg());
		rc = 1;
		goto out;
	}
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
	rc = 0;
out:
	http_server_stop(srv);
	api_free(api);
	store_close(st);
	free(db);
	config_free(cfg);
	if (rc == 0)
		log_info("stopped");
	return rc;
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
		{ "version", cmd_version },
	};
	cJSON_Hooks	hooks = { json_malloc, free };
	size_t		i;

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
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "ferry: unknown command \"%s\"\n", argv[1]);
	fputs(usage_main, stderr);
	return EXIT_USAGE;
}

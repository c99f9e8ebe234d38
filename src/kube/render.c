/*
 * render.c - `ferry render`: every manifest a run of a repository's
 * commit would create in the cluster, printed without one.
 *
 * The pipeline is read the way a run reads it (the repository's mirror
 * under data_dir, fetched if the commit is missing, checked against the
 * server's limits), so what render prints is what the executor would
 * send. Secret values and the run's source token are never printed:
 * placeholders stand in for them.
 */
#define LOG_MODULE "render"
#include "kube.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "log.h"
#include "pipeline.h"
#include "repo.h"
#include "util.h"

#define EXIT_USAGE		2
#define FETCH_TIMEOUT_MS	(120 * 1000)
#define TOKEN_PLACEHOLDER	"<per-run token>"

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

/* The pipeline at sha, as a run would read it; reason on failure. */
static int
load_pipeline(struct pipeline **out, const struct config *cfg,
    struct repo_cache *rc, const struct config_repo *repo, const char *sha)
{
	struct pipeline_limits	 lim;
	struct pipeline_errors	 errs = { 0 };
	const char		**names;
	char			*text = NULL;
	size_t			 len, i;
	int			 ret;

	if ((ret = repo_ensure_commit(rc, repo->name, repo->clone_url,
	    repo->status_token, sha)) != 0 ||
	    (ret = repo_read_file(&text, &len, rc, repo->name, sha,
	    repo->pipeline, PIPELINE_MAX_FILE)) != 0) {
		fprintf(stderr, "ferry: %s\n", err_msg());
		return ret;
	}
	memset(&lim, 0, sizeof(lim));
	lim.quota_cpu_milli = cfg->kube.quota.cpu_milli;
	lim.quota_memory = cfg->kube.quota.memory;
	names = xcalloc(repo->nsecrets + 1, sizeof(*names));
	for (i = 0; i < repo->nsecrets; i++)
		names[i] = repo->secrets[i].name;
	lim.secret_names = names;
	lim.nsecret_names = repo->nsecrets;
	ret = pipeline_parse(out, &errs, text, len, &lim);
	if (ret != 0) {
		fprintf(stderr, "ferry: invalid %s at %.7s:\n", repo->pipeline,
		    sha);
		for (i = 0; i < errs.n; i++)
			fprintf(stderr, "%s:%d:%d: %s\n", repo->pipeline,
			    errs.v[i].line, errs.v[i].col, errs.v[i].msg);
		if (errs.n == 0)
			fprintf(stderr, "%s\n", err_msg());
	}
	pipeline_errors_dispose(&errs);
	free(names);
	free(text);
	return ret;
}

int
kube_render_main(int argc, char **argv)
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
	const struct config_repo	*repo;
	struct config			*cfg = NULL;
	struct repo_cache		*rc = NULL;
	struct pipeline			*p = NULL;
	struct kube_run			 run;
	cJSON				*docs = NULL, *list;
	const char			*path, *name = NULL, *sha = NULL;
	const char			*format = "yaml", *branch = NULL;
	const char			*env = getenv("FERRY_CONFIG");
	char				*dir = NULL, *text = NULL;
	int64_t				 run_id = 0;
	int				 c, ret = 1;

	path = env != NULL && *env != '\0' ? env : "ferry.yml";
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
	if (config_load(&cfg, path) != 0) {
		fprintf(stderr, "ferry: %s\n", err_msg());
		return 1;
	}
	log_set_level((enum log_level)cfg->log_level);
	if ((repo = config_repo_by_name(cfg, name)) == NULL) {
		fprintf(stderr, "ferry: repository %s is not in %s\n", name,
		    path);
		goto out;
	}
	dir = xasprintf("%s/mirrors", cfg->data_dir);
	if (repo_cache_new(&rc, dir, FETCH_TIMEOUT_MS) != 0) {
		fprintf(stderr, "ferry: %s\n", err_msg());
		goto out;
	}
	if (load_pipeline(&p, cfg, rc, repo, sha) != 0)
		goto out;
	memset(&run, 0, sizeof(run));
	run.cfg = cfg;
	run.repo = repo;
	run.run_id = run_id;
	run.branch = branch != NULL ? branch : repo->branch;
	run.commit = sha;
	run.source_token = TOKEN_PLACEHOLDER;
	if (kube_manifests_run(&docs, &run, p, true) != 0) {
		fprintf(stderr, "ferry: %s\n", err_msg());
		goto out;
	}
	if (strcmp(format, "json") == 0) {
		list = cJSON_CreateObject();
		cJSON_AddStringToObject(list, "apiVersion", "v1");
		cJSON_AddStringToObject(list, "kind", "List");
		cJSON_AddItemToObject(list, "items", docs);
		docs = list;
		text = cJSON_Print(list);
		ASSERT(text != NULL);
		printf("%s\n", text);
	} else {
		if (kube_yaml_format(&text, docs) != 0) {
			fprintf(stderr, "ferry: %s\n", err_msg());
			goto out;
		}
		printf("# ferry render: %s@%.12s, run %lld; secret values "
		    "and the source token\n# are placeholders.\n%s",
		    repo->name, sha, (long long)run_id, text);
	}
	if (fflush(stdout) != 0) {
		fprintf(stderr, "ferry: cannot write the manifests\n");
		goto out;
	}
	ret = 0;
out:
	free(text);
	cJSON_Delete(docs);
	pipeline_free(p);
	free(dir);
	repo_cache_free(rc);
	config_free(cfg);
	return ret;
}

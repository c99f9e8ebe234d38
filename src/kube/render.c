/*
 * render.c - what `ferry render` prints (its command line is in main.c,
 * which reads the pipeline the way a run does): every manifest a run of
 * a repository's commit would create in the cluster, without one.
 * Secret values and the run's source token are never printed:
 * placeholders stand in for them.
 */
#include "kube.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "pipeline.h"
#include "util.h"

#define TOKEN_PLACEHOLDER	"<per-run token>"

int
kube_render(char **out, const struct config *cfg,
    const struct config_repo *repo, const struct pipeline *p, int64_t run_id,
    const char *branch, const char *sha, bool json)
{
	struct kube_run	 run;
	cJSON		*docs = NULL, *list;
	char		*text = NULL;
	int		 rc;

	*out = NULL;
	memset(&run, 0, sizeof(run));
	run.cfg = cfg;
	run.repo = repo;
	run.run_id = run_id;
	run.branch = branch != NULL ? branch : repo->branch;
	run.commit = sha;
	run.source_token = TOKEN_PLACEHOLDER;
	if ((rc = kube_manifests_run(&docs, &run, p, true)) != 0)
		return rc;
	if (json) {
		list = cJSON_CreateObject();
		cJSON_AddStringToObject(list, "apiVersion", "v1");
		cJSON_AddStringToObject(list, "kind", "List");
		cJSON_AddItemToObject(list, "items", docs);
		text = cJSON_Print(list);
		cJSON_Delete(list);
		ASSERT(text != NULL);
		*out = xasprintf("%s\n", text);
		free(text);
		return 0;
	}
	rc = kube_yaml_format(&text, docs);
	cJSON_Delete(docs);
	if (rc != 0)
		return rc;
	*out = xasprintf("# ferry render: %s@%.12s, run %lld; secret values "
	    "and the source token\n# are placeholders.\n%s", repo->name, sha,
	    (long long)run_id, text);
	free(text);
	return 0;
}

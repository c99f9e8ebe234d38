/*
 * json.c - the API's JSON shape of runs and steps (SPEC.md "Run
 * object"): RFC 3339 UTC times, null for what has not happened yet.
 */
#include <stdint.h>

#include "api_int.h"
#include "util.h"

static void
json_add_time(cJSON *obj, const char *key, int64_t ms)
{
	char	ts[TIME_RFC3339_LEN];

	if (ms <= 0) {
		cJSON_AddNullToObject(obj, key);
		return;
	}
	time_format_rfc3339(ts, sizeof(ts), ms);
	cJSON_AddStringToObject(obj, key, ts);
}

static void
json_add_str(cJSON *obj, const char *key, const char *s)
{
	if (s == NULL)
		cJSON_AddNullToObject(obj, key);
	else
		cJSON_AddStringToObject(obj, key, s);
}

static void
json_add_duration(cJSON *obj, int64_t started, int64_t finished)
{
	if (started > 0 && finished >= started)
		cJSON_AddNumberToObject(obj, "duration_ms",
		    (double)(finished - started));
	else
		cJSON_AddNullToObject(obj, "duration_ms");
}

static cJSON *
api_step_json(const struct step *s)
{
	cJSON	*obj = cJSON_CreateObject();

	cJSON_AddStringToObject(obj, "name", s->name);
	cJSON_AddStringToObject(obj, "status", step_status_name(s->status));
	if (s->exit_code >= 0)
		cJSON_AddNumberToObject(obj, "exit_code", s->exit_code);
	else
		cJSON_AddNullToObject(obj, "exit_code");
	json_add_str(obj, "reason", s->reason);
	json_add_time(obj, "started_at", s->started_at);
	json_add_time(obj, "finished_at", s->finished_at);
	json_add_duration(obj, s->started_at, s->finished_at);
	return obj;
}

cJSON *
api_run_json(const struct run *run)
{
	cJSON	*obj = cJSON_CreateObject(), *steps;
	size_t	 i;

	cJSON_AddNumberToObject(obj, "id", (double)run->id);
	json_add_str(obj, "repo", run->repo);
	json_add_str(obj, "provider", run->provider);
	json_add_str(obj, "branch", run->branch);
	json_add_str(obj, "commit", run->commit);
	json_add_str(obj, "message", run->message);
	json_add_str(obj, "author", run->author);
	json_add_str(obj, "pusher", run->pusher);
	json_add_str(obj, "compare_url", run->compare_url);
	json_add_str(obj, "trigger", run->trigger);
	cJSON_AddStringToObject(obj, "status", run_status_name(run->status));
	json_add_str(obj, "reason", run->reason);
	json_add_time(obj, "created_at", run->created_at);
	json_add_time(obj, "started_at", run->started_at);
	json_add_time(obj, "finished_at", run->finished_at);
	json_add_duration(obj, run->started_at, run->finished_at);
	steps = cJSON_AddArrayToObject(obj, "steps");
	for (i = 0; i < run->nsteps; i++)
		cJSON_AddItemToArray(steps, api_step_json(&run->steps[i]));
	return obj;
}

/*
 * fuzz_pipeline.c - a repository's .ferry.yml through pipeline_parse()
 * and every planning function the runner and `ferry lint` use. The
 * first byte picks the server limits (none, or a quota and two secret
 * names) and seeds the step states; the rest is the file. A parsed
 * pipeline must satisfy what pipeline.h promises: a topological order
 * that is a permutation, runnable steps whose needs are done, and
 * needs_idx that match needs.
 */
#include "fuzz.h"

#include <stdbool.h>

#include "err.h"
#include "pipeline.h"

static const char *const secret_names[] = { "REGISTRY_PASSWORD", "TOKEN" };

static void
check_plan(const struct pipeline *p, uint8_t seed)
{
	enum pipeline_state	*st;
	size_t			*order, *pos, i, j, k;
	bool			*flags;
	char			*plan = NULL;

	FUZZ_CHECK(p->nsteps >= 1 && p->nsteps <= PIPELINE_MAX_STEPS);
	order = xcalloc(p->nsteps, sizeof(*order));
	pos = xcalloc(p->nsteps, sizeof(*pos));
	st = xcalloc(p->nsteps, sizeof(*st));
	flags = xcalloc(p->nsteps, sizeof(*flags));

	for (i = 0; i < p->nsteps; i++) {
		const struct pipeline_step *s = &p->steps[i];

		FUZZ_CHECK(s->name != NULL && s->ncommands >= 1);
		FUZZ_CHECK(strlen(s->name) <= PIPELINE_MAX_NAME);
		FUZZ_CHECK(pipeline_step_index(p, s->name) == (int)i);
		for (j = 0; j < s->nneeds; j++) {
			FUZZ_CHECK(s->needs_idx[j] < p->nsteps);
			FUZZ_CHECK(strcmp(p->steps[s->needs_idx[j]].name,
			    s->needs[j]) == 0);
		}
		pos[i] = p->nsteps;
	}
	FUZZ_CHECK(pipeline_order(order, p) == 0);
	for (i = 0; i < p->nsteps; i++) {
		FUZZ_CHECK(order[i] < p->nsteps && pos[order[i]] == p->nsteps);
		pos[order[i]] = i;
	}
	for (i = 0; i < p->nsteps; i++)
		for (j = 0; j < p->steps[i].nneeds; j++)
			FUZZ_CHECK(pos[p->steps[i].needs_idx[j]] < pos[i]);

	FUZZ_CHECK(pipeline_plan_format(&plan, p) == 0);
	FUZZ_CHECK(plan != NULL && strlen(plan) > 0);
	free(plan);

	/* Any mix of states: runnable and doomed follow the needs. */
	for (i = 0; i < p->nsteps; i++)
		st[i] = (enum pipeline_state)((seed + i * 7 + (i >> 2)) % 5);
	pipeline_runnable(flags, p, st);
	for (i = 0; i < p->nsteps; i++) {
		if (!flags[i])
			continue;
		FUZZ_CHECK(st[i] == PIPELINE_PENDING);
		for (j = 0; j < p->steps[i].nneeds; j++)
			FUZZ_CHECK(st[p->steps[i].needs_idx[j]] ==
			    PIPELINE_DONE_OK);
	}
	pipeline_skip_after_failure(flags, p, st);
	for (i = 0; i < p->nsteps; i++)
		if (flags[i])
			FUZZ_CHECK(st[i] == PIPELINE_PENDING);

	/* Run it to the end with everything succeeding: all steps start. */
	for (i = 0; i < p->nsteps; i++)
		st[i] = PIPELINE_PENDING;
	for (k = 0; k < p->nsteps; k++) {
		pipeline_runnable(flags, p, st);
		for (i = 0; i < p->nsteps; i++)
			if (flags[i])
				st[i] = PIPELINE_DONE_OK;
	}
	for (i = 0; i < p->nsteps; i++)
		FUZZ_CHECK(st[i] == PIPELINE_DONE_OK);

	free(flags);
	free(st);
	free(pos);
	free(order);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pipeline		*p = NULL;
	struct pipeline_errors	 errs = { 0 };
	struct pipeline_limits	 lim = { 0 };
	size_t			 i;
	uint8_t			 seed;
	int			 rc;

	if (size < 1)
		return 0;
	seed = data[0];
	lim.quota_cpu_milli = 2000;
	lim.quota_memory = 4LL << 30;
	lim.secret_names = secret_names;
	lim.nsecret_names = 2;
	rc = pipeline_parse(&p, &errs, (const char *)data + 1, size - 1,
	    (seed & 1) ? &lim : NULL);
	if (rc == 0) {
		FUZZ_CHECK(p != NULL && errs.n == 0);
		check_plan(p, seed);
	} else {
		FUZZ_CHECK(p == NULL);
		FUZZ_CHECK(rc == ERR_INVALID || rc == ERR_TOOBIG);
		FUZZ_CHECK(errs.n >= 1 && errs.n <= PIPELINE_MAX_ERRORS);
		for (i = 0; i < errs.n; i++) {
			FUZZ_CHECK(errs.v[i].msg != NULL);
			FUZZ_CHECK(errs.v[i].line >= 1 && errs.v[i].col >= 1);
			if (i > 0)
				FUZZ_CHECK(errs.v[i - 1].line <
				    errs.v[i].line ||
				    (errs.v[i - 1].line == errs.v[i].line &&
				    errs.v[i - 1].col <= errs.v[i].col));
		}
	}
	pipeline_errors_dispose(&errs);
	pipeline_free(p);
	return 0;
}

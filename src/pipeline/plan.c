/*
 * Planning on a parsed pipeline: pure functions of the step graph (each
 * step's needs_idx) and, for the runner, of the steps' current states.
 * At most PIPELINE_MAX_STEPS steps, so the quadratic scans below are
 * cheaper than the bookkeeping a cleverer algorithm would need.
 */
#include "pipeline.h"

#include <stdlib.h>
#include <string.h>

#include "pipeline_int.h"
#include "util.h"

int
pipeline_step_index(const struct pipeline *p, const char *name)
{
	size_t	i;

	for (i = 0; i < p->nsteps; i++)
		if (p->steps[i].name != NULL &&
		    strcmp(p->steps[i].name, name) == 0)
			return (int)i;
	return -1;
}

size_t
pipeline_toposort(size_t *order_out, bool *sorted_out,
    const struct pipeline *p)
{
	size_t	*left, n = 0, i, j, k;

	left = xcalloc(p->nsteps + 1, sizeof(*left));
	for (i = 0; i < p->nsteps; i++) {
		left[i] = p->steps[i].nneeds;
		sorted_out[i] = false;
	}
	for (;;) {
		for (i = 0; i < p->nsteps; i++)
			if (!sorted_out[i] && left[i] == 0)
				break;
		if (i == p->nsteps)
			break;
		sorted_out[i] = true;
		order_out[n++] = i;
		for (j = 0; j < p->nsteps; j++)
			for (k = 0; k < p->steps[j].nneeds; k++)
				if (p->steps[j].needs_idx[k] == i)
					left[j]--;
	}
	free(left);
	return n;
}

size_t
pipeline_cycle_next(size_t *cycle_out, bool *done, const struct pipeline *p)
{
	size_t	*path, *pos, len, cur, s, k, i, min, n = 0;
	bool	 dead;

	path = xcalloc(p->nsteps + 1, sizeof(*path));
	pos = xcalloc(p->nsteps + 1, sizeof(*pos));	/* path index + 1 */
	for (;;) {
		for (s = 0; s < p->nsteps && done[s]; s++)
			;
		if (s == p->nsteps)
			break;
		/*
		 * Follow the first need not yet done: every step left has
		 * one unless all its needs were settled, a dead end.
		 */
		len = 0;
		cur = s;
		dead = false;
		while (pos[cur] == 0) {
			path[len] = cur;
			pos[cur] = ++len;
			for (k = 0; k < p->steps[cur].nneeds; k++)
				if (!done[p->steps[cur].needs_idx[k]])
					break;
			if (k == p->steps[cur].nneeds) {
				dead = true;
				break;
			}
			cur = p->steps[cur].needs_idx[k];
		}
		if (!dead) {
			/* path[pos[cur] - 1 ..] is a cycle. */
			n = len - (pos[cur] - 1);
			min = pos[cur] - 1;
			for (i = pos[cur] - 1; i < len; i++)
				if (path[i] < path[min])
					min = i;
			for (i = 0; i < n; i++) {
				cycle_out[i] = path[pos[cur] - 1 +
				    (min - (pos[cur] - 1) + i) % n];
				done[cycle_out[i]] = true;
			}
		} else
			done[cur] = true;	/* dead end */
		for (i = 0; i < len; i++)
			pos[path[i]] = 0;
		if (n > 0)
			break;
	}
	free(pos);
	free(path);
	return n;
}

int
pipeline_order(size_t *order_out, const struct pipeline *p)
{
	struct buf	 b;
	size_t		*cycle, n, i;
	bool		*done;
	int		 rc = 0;

	done = xcalloc(p->nsteps + 1, sizeof(*done));
	if (pipeline_toposort(order_out, done, p) < p->nsteps) {
		cycle = xcalloc(p->nsteps + 1, sizeof(*cycle));
		n = pipeline_cycle_next(cycle, done, p);
		ASSERT(n > 0);
		buf_init(&b, SIZE_MAX);
		buf_puts(&b, "dependency cycle: ");
		for (i = 0; i <= n; i++)
			buf_printf(&b, "%s%s", i > 0 ? " -> " : "",
			    p->steps[cycle[i % n]].name);
		rc = err_set(ERR_INVALID, "%s", b.data);
		buf_dispose(&b);
		free(cycle);
	}
	free(done);
	return rc;
}

void
pipeline_runnable(bool *out, const struct pipeline *p,
    const enum pipeline_state *states)
{
	const struct pipeline_step	*st;
	size_t				 i, k;

	for (i = 0; i < p->nsteps; i++) {
		st = &p->steps[i];
		out[i] = states[i] == PIPELINE_PENDING;
		for (k = 0; k < st->nneeds && out[i]; k++)
			if (states[st->needs_idx[k]] != PIPELINE_DONE_OK)
				out[i] = false;
	}
}

void
pipeline_skip_after_failure(bool *out, const struct pipeline *p,
    const enum pipeline_state *states)
{
	const struct pipeline_step	*st;
	size_t				 i, k, j;
	bool				 changed = true;

	for (i = 0; i < p->nsteps; i++)
		out[i] = false;
	/* A fixpoint rather than a topological pass: safe on any graph. */
	while (changed) {
		changed = false;
		for (i = 0; i < p->nsteps; i++) {
			st = &p->steps[i];
			if (states[i] != PIPELINE_PENDING || out[i])
				continue;
			for (k = 0; k < st->nneeds; k++) {
				j = st->needs_idx[k];
				if (states[j] == PIPELINE_DONE_FAIL ||
				    states[j] == PIPELINE_SKIPPED || out[j])
					break;
			}
			if (k < st->nneeds) {
				out[i] = true;
				changed = true;
			}
		}
	}
}

int
pipeline_plan_format(char **out, const struct pipeline *p)
{
	const struct pipeline_step	*st;
	struct buf			 b;
	size_t				*order, *level, i, k, lv, nlv = 0;
	size_t				 count;
	int				 rc;

	*out = NULL;
	order = xcalloc(p->nsteps + 1, sizeof(*order));
	level = xcalloc(p->nsteps + 1, sizeof(*level));
	if ((rc = pipeline_order(order, p)) != 0)
		goto out;
	/* A step's stage is one past the latest stage of its needs. */
	for (i = 0; i < p->nsteps; i++) {
		st = &p->steps[order[i]];
		lv = 1;
		for (k = 0; k < st->nneeds; k++)
			if (level[st->needs_idx[k]] + 1 > lv)
				lv = level[st->needs_idx[k]] + 1;
		level[order[i]] = lv;
		if (lv > nlv)
			nlv = lv;
	}
	buf_init(&b, SIZE_MAX);
	for (lv = 1; lv <= nlv; lv++) {
		buf_printf(&b, "%zu. ", lv);
		count = 0;
		for (i = 0; i < p->nsteps; i++) {
			if (level[i] != lv)
				continue;
			buf_printf(&b, "%s%s%s", count > 0 ? ", " : "",
			    p->steps[i].name,
			    p->steps[i].deploy ? " [deploy]" : "");
			count++;
		}
		buf_puts(&b, count > 1 ? " (parallel)\n" : "\n");
	}
	*out = buf_steal(&b);
out:
	free(level);
	free(order);
	return rc;
}

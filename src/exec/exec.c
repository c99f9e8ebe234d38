/*
 * exec.c - the executor interface: checks what every executor relies on,
 * then dispatches through the executor's ops table (exec_int.h).
 */
#include "exec.h"

#include <stdlib.h>
#include <string.h>

#include "exec_int.h"
#include "util.h"

/* What every executor relies on in a step. */
static int
step_check(const struct exec_step *step)
{
	size_t	i;

	if (step->step == NULL || step->step[0] == '\0' ||
	    strchr(step->step, '/') != NULL)
		return err_set(ERR_INVALID, "bad step name");
	if (step->script == NULL)
		return err_set(ERR_INVALID, "step %s has no commands",
		    step->step);
	if (step->timeout_ms <= 0)
		return err_set(ERR_INVALID, "step %s has no timeout",
		    step->step);
	if (step->memory < 0 || step->cpu_milli < 0)
		return err_set(ERR_INVALID, "step %s has negative resources",
		    step->step);
	for (i = 0; i < step->nenv; i++) {
		const char	*n = step->env[i].name;

		if (n == NULL || n[0] == '\0' || strchr(n, '=') != NULL ||
		    step->env[i].value == NULL)
			return err_set(ERR_INVALID, "step %s: bad environment "
			    "variable", step->step);
	}
	return 0;
}

int
exec_task_start(struct exec_task **out, struct exec *ex,
    const struct exec_step *step, struct exec_log *log, exec_done_fn *done,
    void *arg)
{
	int	rc;

	*out = NULL;
	ASSERT(ex != NULL && ex->ops != NULL && step != NULL);
	ASSERT(log != NULL && done != NULL);
	if ((rc = step_check(step)) != 0)
		return rc;
	return ex->ops->task_start(out, ex, step, log, done, arg);
}

int
exec_task_attach(struct exec_task **out, struct exec *ex,
    const struct exec_step *step, struct exec_log *log, exec_done_fn *done,
    void *arg)
{
	int	rc;

	*out = NULL;
	ASSERT(ex != NULL && ex->ops != NULL && step != NULL);
	ASSERT(log != NULL && done != NULL);
	if (ex->ops->task_attach == NULL)
		return err_set(ERR_NOTFOUND, "the %s executor cannot "
		    "reattach to a step", ex->ops->name);
	if ((rc = step_check(step)) != 0)
		return rc;
	return ex->ops->task_attach(out, ex, step, log, done, arg);
}

bool
exec_can_attach(const struct exec *ex)
{
	ASSERT(ex != NULL && ex->ops != NULL);
	return ex->ops->task_attach != NULL;
}

int
exec_run_begin(struct exec *ex, const struct exec_run *run)
{
	ASSERT(ex != NULL && ex->ops != NULL && run != NULL);
	if (ex->ops->run_begin == NULL)
		return 0;
	return ex->ops->run_begin(ex, run);
}

void
exec_run_end(struct exec *ex, int64_t run_id, const char *repo)
{
	ASSERT(ex != NULL && ex->ops != NULL);
	if (ex->ops->run_end != NULL)
		ex->ops->run_end(ex, run_id, repo);
}

int
exec_task_result(struct exec_result *out, struct exec_task *t)
{
	ASSERT(t != NULL && t->ops != NULL);
	return t->ops->task_result(out, t);
}

void
exec_task_cancel(struct exec_task *t, int64_t grace_ms)
{
	ASSERT(t != NULL && t->ops != NULL);
	t->ops->task_cancel(t, grace_ms < 0 ? 0 : grace_ms);
}

void
exec_task_free(struct exec_task *t)
{
	if (t == NULL)
		return;
	ASSERT(t->ops != NULL);
	t->ops->task_free(t);
}

const char *
exec_name(const struct exec *ex)
{
	ASSERT(ex != NULL && ex->ops != NULL);
	return ex->ops->name;
}

void
exec_free(struct exec *ex)
{
	if (ex == NULL)
		return;
	ASSERT(ex->ops != NULL);
	ex->ops->free(ex);
}

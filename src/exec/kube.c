/*
 * DESIGN
 *
 * The Kubernetes executor (SPEC.md "The Kubernetes sandbox"): a run is a
 * namespace, a step is a batch/v1 Job in it.
 *
 * exec_run_begin() creates the namespace and everything a pod needs
 * before the first one exists (service accounts, quota, limit range,
 * network policies, the source Secret, the Secret of the secrets the
 * steps name, the deploy RoleBinding); exec_run_end() deletes the
 * namespace (which takes every Job, pod and Secret with it) and the
 * RoleBinding, which lives in the deploy namespace.
 *
 * Following: per run (struct krun) three watcher threads keep a cache of
 * the run namespace's Jobs, Pods and Events: each lists, then watches
 * from the list's resourceVersion, resumes from the last version seen
 * when a stream breaks or ends, and lists again on 410 Gone. Every
 * change wakes the run's condition variable. The watchers start with
 * the run's first task and stop at exec_run_end() (or exec_free()); they
 * are detached and hold a reference on the krun, so ending a run never
 * waits for a stream to notice.
 *
 * Per task a monitor thread creates the Job, then judges the cached Job,
 * pod and events on every wake-up (and every KX_TICK_MS for the grace
 * periods): exit code, OOM kill, eviction, the Job's DeadlineExceeded,
 * a pod refused by admission (FailedCreate events on the Job: Pod
 * Security at once, quota after schedule_timeout since it may clear),
 * unschedulable past schedule_timeout, an image failing to pull past
 * image_pull_timeout. Once the step's container has started, a logger
 * thread streams pods/log?follow=true into the exec_log; a stream that
 * breaks is opened again and the bytes already written are skipped. The
 * monitor reports the verdict only once the logger has the whole log
 * (bounded by KX_DRAIN_MS), so nothing is deleted before its log is in.
 *
 * Cancel deletes the Job (Background: its pods go too) and the step's
 * pods with the grace period; the container's output up to its end is
 * still streamed. exec_task_free() of a running task (ferry shutting
 * down) only stops following: the Job keeps running, and
 * exec_task_attach() follows it again after the restart, skipping the
 * lines the step log already holds (and the bytes of an unfinished last
 * one: exact unless a secret was masked in that very line).
 *
 * Infrastructure failures are step errors in the cluster's words, also
 * written to the step log: the source container failing (with its log),
 * a container that could not start (StartError), the Job disappearing.
 *
 * A sweep thread lists the namespaces labelled
 * app.kubernetes.io/managed-by=ferry at start and every sweep_ms, and
 * deletes those of runs that are neither followed here nor active in the
 * store (opts->run_active), with their deploy RoleBindings: runs that
 * ended while ferry was down, or whose cleanup failed.
 *
 * Locks: ex->mtx guards the run list, reference counts and the thread
 * count; each krun's mtx guards its caches and the state of its tasks.
 * No lock is held across a call to the API server.
 */
#define LOG_MODULE "exec"
#include "exec.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "exec_int.h"
#include "kube.h"
#include "log.h"
#include "util.h"

#define KX_TICK_MS		500	/* grace periods checked this often */
#define KX_WATCH_S		60	/* server-side end of one watch */
#define KX_DRAIN_MS		15000	/* log still coming after the verdict */
#define KX_SETTLE_MS		5000	/* container ended, Job not yet */
#define KX_APPEAR_MS		60000	/* a created Job must show up */
#define KX_BACKSTOP_MS		60000	/* past the step timeout: ferry kills */
#define KX_CANCEL_SLACK_MS	5000	/* past the grace period */
#define KX_SWEEP_MS		60000
#define KX_BACKOFF_MAX_MS	5000
#define KX_LOG_TRIES		20	/* log reads after the container ends */
#define KX_INIT_LOG_MAX		(64 * 1024)

enum kr_kind {
	KR_JOB,
	KR_POD,
	KR_EVENT,
	KR_NKINDS,
};

static const enum kube_kind kr_kube_kind[KR_NKINDS] = {
	[KR_JOB] = KUBE_JOB,
	[KR_POD] = KUBE_POD,
	[KR_EVENT] = KUBE_EVENT,
};

struct krun;

struct exec_kube {
	struct exec		 base;
	const struct config	*cfg;		/* borrowed */
	struct kube		*k;
	exec_run_active_fn	*run_active;
	void			*run_active_arg;
	int64_t			 sweep_ms;
	char			*prefix;	/* the namespaces' prefix */

	pthread_mutex_t		 mtx;		/* guards what follows */
	pthread_cond_t		 cv;		/* nthreads, stopping */
	struct krun		*runs;		/* followed here */
	int			 nthreads;	/* watcher threads alive */
	bool			 stopping;
	pthread_t		 sweeper;
	bool			 sweeping;	/* sweeper started */
};

/* One run followed: its namespace's Jobs, Pods and Events. */
struct krun {
	struct exec_kube	*ex;
	struct krun		*next;		/* in ex->runs */
	int64_t			 run_id;
	char			*ns;
	char			*selector;	/* ferry.dev/run=<id> */
	int			 refs;		/* under ex->mtx */
	atomic_bool		 stop;
	bool			 watching;	/* under ex->mtx */

	pthread_mutex_t		 mtx;		/* guards what follows */
	pthread_cond_t		 cv;		/* any change */
	cJSON			*cache[KR_NKINDS];	/* name -> object */
	bool			 synced[KR_NKINDS];	/* listed once */
};

struct kr_watcher {
	struct krun	*kr;
	enum kr_kind	 kind;
};

enum kt_act {
	KT_ACT_NONE,
	KT_ACT_DELETE,		/* the Job can never run: remove it */
	KT_ACT_INIT_LOG,	/* the source container failed: its log */
};

/* What the monitor has seen of its step (the monitor's own). */
struct kt_seen {
	int64_t		 started;	/* monotonic ms */
	bool		 job_seen;
	int64_t		 term_since;	/* container ended, Job not final */
	int64_t		 final_since;	/* Job final, container unknown */
	int64_t		 quota_since;
	int64_t		 unsched_since;
	int64_t		 pull_since;
	int64_t		 config_since;
	bool		 cancel_sent;
	int64_t		 cancel_at;
	int64_t		 grace_ms;
	char		 pull_msg[512];
	char		 note[1024];	/* the cluster's words, for the log */
};

struct kube_task {
	struct exec_task	 base;
	struct exec_kube	*ex;
	struct krun		*kr;		/* a reference */
	struct exec_log		*log;		/* borrowed */
	exec_done_fn		*done;
	void			*arg;
	int64_t			 run_id;
	char			*step;
	int64_t			 timeout_ms;
	cJSON			*job;		/* to create; NULL: attach */
	int64_t			 skip_lines;	/* attach: in the log already */
	int64_t			 skip_bytes;
	pthread_t		 thread;
	atomic_bool		 detach;	/* stop following, silently */
	atomic_bool		 log_abandon;	/* the logger gives up */

	/* Under kr->mtx. */
	bool			 finished;
	struct exec_result	 result;
	bool			 cancel;
	int64_t			 grace_ms;
	bool			 log_started;
	bool			 log_done;
	pthread_t		 log_thread;
	char			*log_pod;
};

static const struct exec_ops kube_ops;

/* --- small helpers --- */

static cJSON *
jget(const cJSON *o, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(o, key);
}

static const char *
jstr(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(jget(o, key));
}

static const char *
jmeta(const cJSON *o, const char *key)
{
	return jstr(jget(o, "metadata"), key);
}

static bool
streq(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static int
kx_set(struct exec_result *res, enum exec_outcome outcome, int code,
    const char *fmt, ...) PRINTFLIKE(4, 5);

/* Fills res; returns 1 (a verdict) for the callers' convenience. */
static int
kx_set(struct exec_result *res, enum exec_outcome outcome, int code,
    const char *fmt, ...)
{
	va_list	ap;

	res->outcome = outcome;
	res->exit_code = outcome == EXEC_EXITED ? code : -1;
	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
	va_end(ap);
	return 1;
}

/* The value of env var name among the step's, or NULL. */
static const char *
step_env(const struct exec_step *step, const char *name)
{
	size_t	i;

	for (i = 0; i < step->nenv; i++)
		if (strcmp(step->env[i].name, name) == 0)
			return step->env[i].value;
	return NULL;
}

/* --- runs: caches and their watchers --- */

static void
kr_free(struct krun *kr)
{
	int	i;

	for (i = 0; i < KR_NKINDS; i++)
		cJSON_Delete(kr->cache[i]);
	pthread_cond_destroy(&kr->cv);
	pthread_mutex_destroy(&kr->mtx);
	free(kr->selector);
	free(kr->ns);
	free(kr);
}

static void
kr_unref(struct krun *kr)
{
	struct exec_kube	*ex = kr->ex;
	bool			 last;

	pthread_mutex_lock(&ex->mtx);
	ASSERT(kr->refs > 0);
	last = --kr->refs == 0;
	pthread_mutex_unlock(&ex->mtx);
	if (last)
		kr_free(kr);
}

/* Stops following kr (ex->mtx held): no watcher outlives its stream. */
static void
kr_stop_locked(struct krun *kr)
{
	atomic_store(&kr->stop, true);
	pthread_mutex_lock(&kr->mtx);
	pthread_cond_broadcast(&kr->cv);
	pthread_mutex_unlock(&kr->mtx);
}

static int
kr_cancelled(void *arg)
{
	struct krun	*kr = arg;

	return atomic_load(&kr->stop);
}

/* Replaces the cache of one kind with a list's items. */
static void
kr_cache_load(struct krun *kr, enum kr_kind kind, cJSON *list)
{
	cJSON		*map = cJSON_CreateObject(), *it;
	const char	*name;

	while ((it = cJSON_DetachItemFromArray(jget(list, "items"), 0)) !=
	    NULL) {
		if ((name = jmeta(it, "name")) == NULL) {
			cJSON_Delete(it);
			continue;
		}
		cJSON_DeleteItemFromObjectCaseSensitive(map, name);
		cJSON_AddItemToObject(map, name, it);
	}
	pthread_mutex_lock(&kr->mtx);
	cJSON_Delete(kr->cache[kind]);
	kr->cache[kind] = map;
	kr->synced[kind] = true;
	pthread_cond_broadcast(&kr->cv);
	pthread_mutex_unlock(&kr->mtx);
}

static int
kr_on_event(void *arg, const char *type, const cJSON *object)
{
	struct kr_watcher	*w = arg;
	struct krun		*kr = w->kr;
	const char		*name = jmeta(object, "name");
	cJSON			*map;

	if (name == NULL)
		return 0;
	pthread_mutex_lock(&kr->mtx);
	map = kr->cache[w->kind];
	if (map == NULL)
		map = kr->cache[w->kind] = cJSON_CreateObject();
	cJSON_DeleteItemFromObjectCaseSensitive(map, name);
	if (strcmp(type, "DELETED") != 0)
		cJSON_AddItemToObject(map, name, cJSON_Duplicate(object, 1));
	pthread_cond_broadcast(&kr->cv);
	pthread_mutex_unlock(&kr->mtx);
	return atomic_load(&kr->stop);
}

/* Sleeps up to ms, or less if the run stops. */
static void
kr_pause(struct krun *kr, int64_t ms)
{
	pthread_mutex_lock(&kr->mtx);
	if (!atomic_load(&kr->stop))
		cond_wait_ms(&kr->cv, &kr->mtx, ms);
	pthread_mutex_unlock(&kr->mtx);
}

static void *
kr_watch_main(void *arg)
{
	struct kr_watcher	*w = arg;
	struct krun		*kr = w->kr;
	struct exec_kube	*ex = kr->ex;
	struct kube_watch	 kw;
	cJSON			*list;
	const char		*rv, *sel;
	int64_t			 delay;
	int			 fails = 0, rc;
	bool			 relist = true;

	sel = w->kind == KR_EVENT ? NULL : kr->selector;
	memset(&kw, 0, sizeof(kw));
	kw.kind = kr_kube_kind[w->kind];
	kw.ns = kr->ns;
	kw.selector = sel;
	kw.timeout_s = KX_WATCH_S;
	kw.cancel = kr_cancelled;
	kw.cancel_arg = kr;
	while (!atomic_load(&kr->stop)) {
		if (relist) {
			rc = kube_list(&list, ex->k, kw.kind, kr->ns, sel);
			if (rc == 0) {
				rv = jmeta(list, "resourceVersion");
				(void)snprintf(kw.resource_version,
				    sizeof(kw.resource_version), "%s",
				    rv != NULL ? rv : "");
				kr_cache_load(kr, w->kind, list);
				cJSON_Delete(list);
				relist = false;
			}
		} else
			rc = kube_watch(ex->k, &kw, kr_on_event, w);
		if (atomic_load(&kr->stop))
			break;
		if (rc == 0) {
			fails = 0;
			continue;
		}
		if (kw.gone || kw.resource_version[0] == '\0')
			relist = true;
		log_debug("run=%" PRId64 " %s: %s", kr->run_id,
		    kube_kind_plural(kw.kind), err_msg());
		delay = (int64_t)100 << (fails < 6 ? fails : 6);
		fails++;
		kr_pause(kr, delay < KX_BACKOFF_MAX_MS ? delay :
		    KX_BACKOFF_MAX_MS);
	}
	free(w);
	kr_unref(kr);
	pthread_mutex_lock(&ex->mtx);
	ex->nthreads--;
	pthread_cond_broadcast(&ex->cv);
	pthread_mutex_unlock(&ex->mtx);
	return NULL;
}

/* Starts kr's watchers (ex->mtx held). */
static int
kr_watch_start_locked(struct krun *kr)
{
	struct exec_kube	*ex = kr->ex;
	struct kr_watcher	*w;
	pthread_attr_t		 attr;
	pthread_t		 th;
	int			 i, rc = 0;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (i = 0; i < KR_NKINDS; i++) {
		w = xcalloc(1, sizeof(*w));
		w->kr = kr;
		w->kind = (enum kr_kind)i;
		kr->refs++;
		ex->nthreads++;
		if ((rc = pthread_create(&th, &attr, kr_watch_main, w)) != 0) {
			kr->refs--;
			ex->nthreads--;
			free(w);
			rc = err_set(ERR_FAIL, "cannot start a thread: %s",
			    strerror(rc));
			/* The others stop with the run. */
			break;
		}
	}
	pthread_attr_destroy(&attr);
	kr->watching = true;
	return rc;
}

/*
 * The followed run run_id (made if new, its watchers started), with a
 * reference for the caller.
 */
static int
kr_acquire(struct krun **out, struct exec_kube *ex, int64_t run_id,
    const char *repo)
{
	struct krun	*kr;
	char		 id[32];
	int		 i, rc = 0;

	*out = NULL;
	pthread_mutex_lock(&ex->mtx);
	for (kr = ex->runs; kr != NULL; kr = kr->next)
		if (kr->run_id == run_id)
			break;
	if (kr == NULL) {
		kr = xcalloc(1, sizeof(*kr));
		kr->ex = ex;
		kr->run_id = run_id;
		kr->ns = kube_namespace_name(ex->cfg->kube.namespace_prefix,
		    repo, run_id);
		(void)snprintf(id, sizeof(id), "%" PRId64, run_id);
		kr->selector = xasprintf("%s=%s", KUBE_LABEL_RUN, id);
		atomic_init(&kr->stop, false);
		pthread_mutex_init(&kr->mtx, NULL);
		cond_init_mono(&kr->cv);
		for (i = 0; i < KR_NKINDS; i++)
			kr->cache[i] = cJSON_CreateObject();
		kr->refs = 1;		/* the list's */
		kr->next = ex->runs;
		ex->runs = kr;
	}
	if (!kr->watching)
		rc = kr_watch_start_locked(kr);
	if (rc == 0) {
		kr->refs++;
		*out = kr;
	}
	pthread_mutex_unlock(&ex->mtx);
	return rc;
}

/* Stops following run_id, if it is followed. */
static void
kr_release_run(struct exec_kube *ex, int64_t run_id)
{
	struct krun	**pp, *kr = NULL;

	pthread_mutex_lock(&ex->mtx);
	for (pp = &ex->runs; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->run_id == run_id) {
			kr = *pp;
			*pp = kr->next;
			break;
		}
	}
	if (kr != NULL)
		kr_stop_locked(kr);
	pthread_mutex_unlock(&ex->mtx);
	if (kr != NULL)
		kr_unref(kr);
}

static bool
kr_followed(struct exec_kube *ex, int64_t run_id)
{
	struct krun	*kr;
	bool		 found = false;

	pthread_mutex_lock(&ex->mtx);
	for (kr = ex->runs; kr != NULL; kr = kr->next)
		found |= kr->run_id == run_id;
	pthread_mutex_unlock(&ex->mtx);
	return found;
}

/* --- judging a step from the caches (kr->mtx held) --- */

/* The step's newest pod. */
static const cJSON *
kt_pod(const struct kube_task *t)
{
	const cJSON	*p, *best = NULL;
	const char	*ts, *bts = NULL;

	cJSON_ArrayForEach(p, t->kr->cache[KR_POD]) {
		if (!streq(jstr(jget(jget(p, "metadata"), "labels"),
		    KUBE_LABEL_STEP), t->step))
			continue;
		ts = jmeta(p, "creationTimestamp");
		if (best == NULL || (ts != NULL && (bts == NULL ||
		    strcmp(ts, bts) >= 0))) {
			best = p;
			bts = ts;
		}
	}
	return best;
}

/* The status of container name in list ("containerStatuses" ...). */
static const cJSON *
kt_cstatus(const cJSON *pod, const char *list, const char *name)
{
	const cJSON	*c;

	cJSON_ArrayForEach(c, jget(jget(pod, "status"), list))
		if (streq(jstr(c, "name"), name))
			return c;
	return NULL;
}

/* The Job's Complete or Failed condition, or NULL while it runs. */
static const cJSON *
kt_job_final(const cJSON *job)
{
	const cJSON	*c;

	cJSON_ArrayForEach(c, jget(jget(job, "status"), "conditions")) {
		if (!streq(jstr(c, "status"), "True"))
			continue;
		if (streq(jstr(c, "type"), "Complete") ||
		    streq(jstr(c, "type"), "Failed"))
			return c;
	}
	return NULL;
}

/* The newest FailedCreate event of the step's Job. */
static const cJSON *
kt_failed_create(const struct kube_task *t, const char *job_uid)
{
	const cJSON	*e, *io, *best = NULL;
	const char	*ts, *bts = NULL, *uid;

	cJSON_ArrayForEach(e, t->kr->cache[KR_EVENT]) {
		if (!streq(jstr(e, "reason"), "FailedCreate"))
			continue;
		io = jget(e, "involvedObject");
		if (!streq(jstr(io, "kind"), "Job") ||
		    !streq(jstr(io, "name"), t->step))
			continue;
		uid = jstr(io, "uid");
		if (uid != NULL && job_uid != NULL && strcmp(uid, job_uid) != 0)
			continue;
		ts = jstr(e, "lastTimestamp");
		if (ts == NULL)
			ts = jstr(e, "eventTime");
		if (best == NULL || (ts != NULL && (bts == NULL ||
		    strcmp(ts, bts) >= 0))) {
			best = e;
			bts = ts;
		}
	}
	return best;
}

/* Whether the pod still runs a container (for cancel). */
static bool
kt_pod_running(const cJSON *pod)
{
	const char	*phase = jstr(jget(pod, "status"), "phase");
	const cJSON	*c;
	static const char *const lists[] = { "initContainerStatuses",
	    "containerStatuses" };
	size_t		 i;

	if (streq(phase, "Succeeded") || streq(phase, "Failed"))
		return false;
	for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		cJSON_ArrayForEach(c, jget(jget(pod, "status"), lists[i]))
			if (jget(jget(c, "state"), "running") != NULL)
				return true;
	return false;
}

/* The memory limit of the step's container, for the OOM message. */
static const char *
kt_mem_limit(const cJSON *pod, const char *name)
{
	const cJSON	*c;

	cJSON_ArrayForEach(c, jget(jget(pod, "spec"), "containers"))
		if (streq(jstr(c, "name"), name))
			return jstr(jget(jget(c, "resources"), "limits"),
			    "memory");
	return NULL;
}

static void
kt_since(int64_t *since, int64_t now)
{
	if (*since == 0)
		*since = now;
}

/* Judges a pod that has not run its step yet. 1: a verdict. */
static int
kt_eval_stuck(struct kube_task *t, struct kt_seen *s, const cJSON *pod,
    struct exec_result *res, enum kt_act *act, int64_t now)
{
	const struct config_kube	*kc = &t->ex->cfg->kube;
	static const char *const	 lists[] = { "initContainerStatuses",
	    "containerStatuses" };
	const cJSON			*c, *w;
	const char			*why, *msg, *image = NULL;
	char				 dur[32];
	bool				 pulling = false, config = false;
	size_t				 i;

	cJSON_ArrayForEach(c, jget(jget(pod, "status"), "conditions")) {
		if (!streq(jstr(c, "type"), "PodScheduled") ||
		    !streq(jstr(c, "status"), "False") ||
		    !streq(jstr(c, "reason"), "Unschedulable"))
			continue;
		kt_since(&s->unsched_since, now);
		if (now - s->unsched_since < kc->schedule_timeout_ms)
			return 0;
		msg = jstr(c, "message");
		format_duration(dur, sizeof(dur), kc->schedule_timeout_ms);
		(void)snprintf(s->note, sizeof(s->note), "%s",
		    msg != NULL ? msg : "Unschedulable");
		*act = KT_ACT_DELETE;
		return kx_set(res, EXEC_ERROR, -1, "pod unschedulable for "
		    "%s: %s", dur, s->note);
	}
	for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		cJSON_ArrayForEach(c, jget(jget(pod, "status"), lists[i])) {
			w = jget(jget(c, "state"), "waiting");
			why = jstr(w, "reason");
			msg = jstr(w, "message");
			if (why == NULL)
				continue;
			if (strcmp(why, "ErrImagePull") == 0 ||
			    strcmp(why, "ImagePullBackOff") == 0) {
				pulling = true;
				image = jstr(c, "image");
				if (msg != NULL && (strcmp(why,
				    "ErrImagePull") == 0 ||
				    s->pull_msg[0] == '\0'))
					(void)snprintf(s->pull_msg,
					    sizeof(s->pull_msg), "%s", msg);
			} else if (strcmp(why, "InvalidImageName") == 0) {
				(void)snprintf(s->note, sizeof(s->note),
				    "%s", msg != NULL ? msg : why);
				*act = KT_ACT_DELETE;
				return kx_set(res, EXEC_ERROR, -1, "invalid "
				    "image: %s", s->note);
			} else if (strcmp(why, "CreateContainerConfigError") ==
			    0) {
				config = true;
				(void)snprintf(s->note, sizeof(s->note),
				    "%s", msg != NULL ? msg : why);
			}
		}
	}
	if (pulling) {
		kt_since(&s->pull_since, now);
		if (now - s->pull_since >= kc->image_pull_timeout_ms) {
			format_duration(dur, sizeof(dur),
			    kc->image_pull_timeout_ms);
			(void)snprintf(s->note, sizeof(s->note), "%s",
			    s->pull_msg[0] != '\0' ? s->pull_msg :
			    "ImagePullBackOff");
			*act = KT_ACT_DELETE;
			return kx_set(res, EXEC_ERROR, -1, "cannot pull image "
			    "%s (failing for %s): %s", image != NULL ? image :
			    "", dur, s->note);
		}
	}
	if (config) {
		kt_since(&s->config_since, now);
		if (now - s->config_since >= kc->schedule_timeout_ms) {
			*act = KT_ACT_DELETE;
			return kx_set(res, EXEC_ERROR, -1, "the container "
			    "cannot be created: %s", s->note);
		}
	}
	return 0;
}

/*
 * Judges the step from the caches (kr->mtx held). Returns 1 with res
 * filled when it is over, else 0; *act says what to do outside the lock.
 */
static int
kt_eval(struct kube_task *t, struct kt_seen *s, struct exec_result *res,
    enum kt_act *act, int64_t now)
{
	const struct config_kube	*kc = &t->ex->cfg->kube;
	struct krun			*kr = t->kr;
	const cJSON			*job, *pod, *fin, *ics, *cs, *term, *ev;
	const char			*why, *msg, *lim;
	char				 dur[32];
	const cJSON			*code;

	*act = KT_ACT_NONE;
	job = jget(kr->cache[KR_JOB], t->step);
	pod = kt_pod(t);
	if (s->cancel_sent) {
		if (pod == NULL || !kt_pod_running(pod) ||
		    now - s->cancel_at >= s->grace_ms + KX_CANCEL_SLACK_MS)
			return kx_set(res, EXEC_CANCELLED, -1, "cancelled");
		return 0;
	}
	format_duration(dur, sizeof(dur), t->timeout_ms);
	if (job == NULL) {
		if (!kr->synced[KR_JOB])
			return 0;
		if (s->job_seen)
			return kx_set(res, EXEC_ERROR, -1, "the step's Job "
			    "was deleted from the cluster");
		if (now - s->started >= KX_APPEAR_MS)
			return kx_set(res, EXEC_ERROR, -1, "the step's Job "
			    "did not appear in the cluster");
		return 0;
	}
	s->job_seen = true;
	fin = kt_job_final(job);
	if (fin != NULL && streq(jstr(fin, "type"), "Failed") &&
	    streq(jstr(fin, "reason"), "DeadlineExceeded"))
		return kx_set(res, EXEC_TIMEOUT, -1, "timed out after %s", dur);
	if (pod != NULL) {
		why = jstr(jget(pod, "status"), "reason");
		msg = jstr(jget(pod, "status"), "message");
		if (streq(why, "Evicted"))
			return kx_set(res, EXEC_OOM, -1, "evicted: %s",
			    msg != NULL ? msg : "by the node");
		if (streq(why, "DeadlineExceeded"))
			return kx_set(res, EXEC_TIMEOUT, -1, "timed out "
			    "after %s", dur);
		ics = kt_cstatus(pod, "initContainerStatuses",
		    KUBE_CONTAINER_SOURCE);
		term = jget(jget(ics, "state"), "terminated");
		code = jget(term, "exitCode");
		if (term != NULL && cJSON_IsNumber(code) &&
		    code->valueint != 0) {
			*act = KT_ACT_INIT_LOG;
			msg = jstr(term, "message");
			(void)snprintf(s->note, sizeof(s->note), "%s",
			    msg != NULL ? msg : "");
			return kx_set(res, EXEC_ERROR, -1, "cannot fetch the "
			    "source: the %s container exited with %d%s%s",
			    KUBE_CONTAINER_SOURCE, code->valueint,
			    msg != NULL ? ": " : "", msg != NULL ? msg : "");
		}
		cs = kt_cstatus(pod, "containerStatuses", KUBE_CONTAINER_STEP);
		term = jget(jget(cs, "state"), "terminated");
		if (term != NULL) {
			/* A deadline kill shows on the Job a moment later. */
			if (fin == NULL) {
				kt_since(&s->term_since, now);
				if (now - s->term_since < KX_SETTLE_MS)
					return 0;
			}
			code = jget(term, "exitCode");
			if (streq(jstr(term, "reason"), "OOMKilled")) {
				lim = kt_mem_limit(pod, KUBE_CONTAINER_STEP);
				return kx_set(res, EXEC_OOM, -1, "killed: out "
				    "of memory (limit %s)", lim != NULL ? lim :
				    "unknown");
			}
			if (!cJSON_IsNumber(code))
				return kx_set(res, EXEC_ERROR, -1, "the "
				    "container ended without an exit code");
			/* The runtime could not run the command at all. */
			if (streq(jstr(term, "reason"), "StartError") ||
			    streq(jstr(term, "reason"),
			    "ContainerCannotRun")) {
				msg = jstr(term, "message");
				(void)snprintf(s->note, sizeof(s->note), "%s",
				    msg != NULL ? msg : "StartError");
				return kx_set(res, EXEC_ERROR, -1, "the "
				    "container could not start: %s", s->note);
			}
			if (code->valueint == 0)
				return kx_set(res, EXEC_EXITED, 0, "%s", "");
			return kx_set(res, EXEC_EXITED, code->valueint,
			    "exited with code %d", code->valueint);
		}
	}
	if (fin != NULL) {
		/* Final, but the pod's end has not reached us (yet). */
		kt_since(&s->final_since, now);
		if (now - s->final_since < KX_SETTLE_MS)
			return 0;
		if (streq(jstr(fin, "type"), "Complete"))
			return kx_set(res, EXEC_EXITED, 0, "%s", "");
		msg = jstr(fin, "message");
		return kx_set(res, EXEC_ERROR, -1, "the Job failed: %s",
		    msg != NULL ? msg : jstr(fin, "reason") != NULL ?
		    jstr(fin, "reason") : "no reason given");
	}
	if (pod == NULL) {
		ev = kt_failed_create(t, jmeta(job, "uid"));
		if (ev != NULL) {
			msg = jstr(ev, "message");
			if (msg == NULL)
				msg = "FailedCreate";
			if (strncmp(msg, "Error creating: ", 16) == 0)
				msg += 16;
			(void)snprintf(s->note, sizeof(s->note), "%s", msg);
			/* A quota may make room when other steps end. */
			if (strstr(msg, "exceeded quota") != NULL) {
				kt_since(&s->quota_since, now);
				if (now - s->quota_since <
				    kc->schedule_timeout_ms)
					return 0;
			}
			*act = KT_ACT_DELETE;
			return kx_set(res, EXEC_ERROR, -1, "the cluster "
			    "refused the pod: %s", msg);
		}
	} else if (kt_eval_stuck(t, s, pod, res, act, now))
		return 1;
	if (now - s->started >= t->timeout_ms + KX_BACKSTOP_MS) {
		*act = KT_ACT_DELETE;
		return kx_set(res, EXEC_TIMEOUT, -1, "timed out after %s", dur);
	}
	return 0;
}

/* Whether the step's container has started (its log can be read). */
static const char *
kt_log_ready(const struct kube_task *t)
{
	const cJSON	*pod = kt_pod(t), *st;

	if (pod == NULL)
		return NULL;
	st = jget(kt_cstatus(pod, "containerStatuses", KUBE_CONTAINER_STEP),
	    "state");
	if (jget(st, "running") == NULL && jget(st, "terminated") == NULL)
		return NULL;
	return jmeta(pod, "name");
}

/* Whether the pod's step container is over, or the pod gone. */
static bool
kt_log_over(const struct kube_task *t, const char *pod_name)
{
	const cJSON	*pod = jget(t->kr->cache[KR_POD], pod_name), *st;

	if (pod == NULL)
		return t->kr->synced[KR_POD];
	st = jget(kt_cstatus(pod, "containerStatuses", KUBE_CONTAINER_STEP),
	    "state");
	return jget(st, "terminated") != NULL;
}

/* --- the logger --- */

struct kt_logctx {
	struct kube_task	*t;
	int64_t			 pos;		/* in this stream */
	int64_t			 got;		/* consumed, all streams */
	int64_t			 skip_lines;
	int64_t			 skip_bytes;
};

static int
kt_log_sink(void *arg, const char *data, size_t len)
{
	struct kt_logctx	*c = arg;
	const char		*nl;
	size_t			 off = 0, n;

	/* What an earlier stream delivered already. */
	if (c->pos < c->got) {
		n = (size_t)(c->got - c->pos) < len ?
		    (size_t)(c->got - c->pos) : len;
		off = n;
		c->pos += (int64_t)n;
	}
	/* What the step log held before a restart. */
	while (off < len && (c->skip_lines > 0 || c->skip_bytes > 0)) {
		if (c->skip_lines > 0) {
			nl = memchr(data + off, '\n', len - off);
			if (nl == NULL) {
				n = len - off;
			} else {
				n = (size_t)(nl - (data + off)) + 1;
				c->skip_lines--;
			}
		} else {
			n = (int64_t)(len - off) < c->skip_bytes ? len - off :
			    (size_t)c->skip_bytes;
			c->skip_bytes -= (int64_t)n;
		}
		off += n;
		c->pos += (int64_t)n;
	}
	if (off < len) {
		exec_log_write(c->t->log, data + off, len - off);
		c->pos += (int64_t)(len - off);
	}
	if (c->pos > c->got)
		c->got = c->pos;
	return 0;
}

static int
kt_log_cancel(void *arg)
{
	struct kube_task	*t = arg;

	return atomic_load(&t->detach) || atomic_load(&t->log_abandon) ||
	    atomic_load(&t->kr->stop);
}

static void *
kt_log_main(void *arg)
{
	struct kube_task	*t = arg;
	struct krun		*kr = t->kr;
	struct kube_log_opts	 o;
	struct kt_logctx	 c;
	char			*pod, *note;
	int			 rc, tries = 0;
	bool			 over;

	pthread_mutex_lock(&kr->mtx);
	pod = xstrdup(t->log_pod);
	pthread_mutex_unlock(&kr->mtx);
	memset(&c, 0, sizeof(c));
	c.t = t;
	c.skip_lines = t->skip_lines;
	c.skip_bytes = t->skip_bytes;
	memset(&o, 0, sizeof(o));
	o.container = KUBE_CONTAINER_STEP;
	o.follow = true;
	o.cancel = kt_log_cancel;
	o.cancel_arg = t;
	for (;;) {
		c.pos = 0;
		rc = kube_log_stream(t->ex->k, kr->ns, pod, &o, kt_log_sink,
		    &c);
		if (kt_log_cancel(t))
			break;
		if (rc == ERR_NOTFOUND)
			break;		/* the pod is gone, and its log */
		pthread_mutex_lock(&kr->mtx);
		over = kt_log_over(t, pod);
		pthread_mutex_unlock(&kr->mtx);
		/* A follow that ended cleanly after the container did. */
		if (rc == 0 && over)
			break;
		if (over && ++tries > KX_LOG_TRIES) {
			note = xasprintf("\nferry: the rest of the log could "
			    "not be read: %s\n", rc != 0 ? err_msg() :
			    "the stream kept ending");
			exec_log_write(t->log, note, strlen(note));
			free(note);
			break;
		}
		log_debug("run=%" PRId64 " step=%s: log stream ended (%s); "
		    "again from byte %" PRId64, t->run_id, t->step,
		    rc != 0 ? err_msg() : "cleanly", c.got);
		kr_pause(kr, rc == 0 ? 100 : 300);
	}
	free(pod);
	pthread_mutex_lock(&kr->mtx);
	t->log_done = true;
	pthread_cond_broadcast(&kr->cv);
	pthread_mutex_unlock(&kr->mtx);
	return NULL;
}

/* --- the monitor --- */

struct kt_buf {
	struct buf	b;
};

static int
kt_buf_sink(void *arg, const char *data, size_t len)
{
	struct kt_buf	*kb = arg;

	(void)buf_append(&kb->b, data, len);	/* the rest is dropped */
	return 0;
}

/* Copies the failed source container's log into the step's. */
static void
kt_init_log(struct kube_task *t, const char *pod, const char *why)
{
	struct kube_log_opts	 o;
	struct kt_buf		 kb;
	const char		*head = "ferry: fetching the source failed:\n";

	buf_init(&kb.b, KX_INIT_LOG_MAX);
	memset(&o, 0, sizeof(o));
	o.container = KUBE_CONTAINER_SOURCE;
	o.limit_bytes = KX_INIT_LOG_MAX;
	exec_log_write(t->log, head, strlen(head));
	if (kube_log_stream(t->ex->k, t->kr->ns, pod, &o, kt_buf_sink,
	    &kb) != 0) {
		exec_log_write(t->log, err_msg(), strlen(err_msg()));
		exec_log_write(t->log, "\n", 1);
	} else if (kb.b.len > 0) {
		exec_log_write(t->log, kb.b.data, kb.b.len);
		if (kb.b.data[kb.b.len - 1] != '\n')
			exec_log_write(t->log, "\n", 1);
	}
	if (why != NULL && *why != '\0') {
		exec_log_write(t->log, why, strlen(why));
		exec_log_write(t->log, "\n", 1);
	}
	buf_dispose(&kb.b);
}

/* Deletes the step's Job and pods; grace_s < 0: their own grace. */
static void
kt_delete(struct kube_task *t, int64_t grace_s)
{
	struct krun	*kr = t->kr;
	const cJSON	*p;
	char		**pods = NULL;
	size_t		 n = 0, i;

	if (kube_delete(t->ex->k, KUBE_JOB, kr->ns, t->step,
	    KUBE_PROPAGATE_BACKGROUND, grace_s) != 0)
		log_warnx("run=%" PRId64 " step=%s: %s", t->run_id, t->step,
		    err_msg());
	pthread_mutex_lock(&kr->mtx);
	cJSON_ArrayForEach(p, kr->cache[KR_POD]) {
		if (!streq(jstr(jget(jget(p, "metadata"), "labels"),
		    KUBE_LABEL_STEP), t->step) || jmeta(p, "name") == NULL)
			continue;
		pods = xreallocarray(pods, n + 1, sizeof(*pods));
		pods[n++] = xstrdup(jmeta(p, "name"));
	}
	pthread_mutex_unlock(&kr->mtx);
	for (i = 0; i < n; i++) {
		if (kube_delete(t->ex->k, KUBE_POD, kr->ns, pods[i],
		    KUBE_PROPAGATE_DEFAULT, grace_s) != 0)
			log_warnx("run=%" PRId64 " step=%s: %s", t->run_id,
			    t->step, err_msg());
		free(pods[i]);
	}
	free(pods);
}

/* Follows the step until a verdict (0) or until told to stop (1). */
static int
kt_follow(struct kube_task *t, struct exec_result *res)
{
	struct krun	*kr = t->kr;
	struct kt_seen	*s;
	enum kt_act	 act = KT_ACT_NONE;
	const char	*ready;
	char		*pod = NULL, *note;
	int64_t		 now, verdict_at = 0, grace;
	bool		 verdict = false, detached = false;
	int		 rc;

	s = xcalloc(1, sizeof(*s));
	s->started = time_mono_ms();
	pthread_mutex_lock(&kr->mtx);
	for (;;) {
		if (atomic_load(&t->detach) || atomic_load(&kr->stop)) {
			detached = true;
			break;
		}
		now = time_mono_ms();
		if (t->cancel && !s->cancel_sent && !verdict) {
			grace = t->grace_ms;
			s->cancel_sent = true;
			s->cancel_at = now;
			s->grace_ms = grace;
			pthread_mutex_unlock(&kr->mtx);
			kt_delete(t, (grace + 999) / 1000);
			pthread_mutex_lock(&kr->mtx);
			continue;
		}
		/* Before judging: a step that ended at once has a log too. */
		if (!verdict && !t->log_started &&
		    (ready = kt_log_ready(t)) != NULL) {
			free(t->log_pod);
			t->log_pod = xstrdup(ready);
			rc = pthread_create(&t->log_thread, NULL, kt_log_main,
			    t);
			if (rc == 0)
				t->log_started = true;
			else
				log_warnx("run=%" PRId64 " step=%s: no log: "
				    "cannot start a thread: %s", t->run_id,
				    t->step, strerror(rc));
		}
		if (!verdict && kt_eval(t, s, res, &act, now)) {
			verdict = true;
			verdict_at = now;
			free(pod);
			pod = NULL;
			if ((ready = jmeta(kt_pod(t), "name")) != NULL)
				pod = xstrdup(ready);
			if (act != KT_ACT_NONE || res->outcome ==
			    EXEC_ERROR) {
				pthread_mutex_unlock(&kr->mtx);
				if (act == KT_ACT_INIT_LOG && pod != NULL)
					kt_init_log(t, pod, s->note);
				else if (res->outcome == EXEC_ERROR &&
				    s->note[0] != '\0') {
					note = xasprintf("ferry: %s\n",
					    s->note);
					exec_log_write(t->log, note,
					    strlen(note));
					free(note);
				}
				if (act == KT_ACT_DELETE)
					kt_delete(t, -1);
				pthread_mutex_lock(&kr->mtx);
			}
			continue;
		}
		if (verdict) {
			if (!t->log_started || t->log_done)
				break;
			if (now - verdict_at >= KX_DRAIN_MS) {
				atomic_store(&t->log_abandon, true);
				break;
			}
		}
		cond_wait_ms(&kr->cv, &kr->mtx, KX_TICK_MS);
	}
	pthread_mutex_unlock(&kr->mtx);
	free(pod);
	free(s);
	return detached ? 1 : 0;
}

static void *
kt_main(void *arg)
{
	struct kube_task	*t = arg;
	struct exec_result	 res;
	exec_done_fn		*done = t->done;
	void			*darg = t->arg;
	bool			 detached = false, started;

	memset(&res, 0, sizeof(res));
	res.outcome = EXEC_ERROR;
	res.exit_code = -1;
	if (t->job != NULL && kube_create(NULL, NULL, t->ex->k, t->job) !=
	    0) {
		kx_set(&res, EXEC_ERROR, -1, "cannot create the Job: %s",
		    err_msg());
		exec_log_write(t->log, "ferry: ", 7);
		exec_log_write(t->log, res.reason, strlen(res.reason));
		exec_log_write(t->log, "\n", 1);
	} else
		detached = kt_follow(t, &res) != 0;
	pthread_mutex_lock(&t->kr->mtx);
	started = t->log_started;
	pthread_mutex_unlock(&t->kr->mtx);
	if (started) {
		if (detached)
			atomic_store(&t->log_abandon, true);
		pthread_join(t->log_thread, NULL);
	}
	if (res.outcome == EXEC_ERROR && !detached)
		log_warnx("run=%" PRId64 " step=%s: %s", t->run_id, t->step,
		    res.reason);
	pthread_mutex_lock(&t->kr->mtx);
	t->log_started = false;
	if (!detached) {
		t->result = res;
		t->finished = true;
	}
	pthread_mutex_unlock(&t->kr->mtx);
	/* t may be freed from here on (even by done itself). */
	if (!detached)
		done(darg);
	return NULL;
}

static void
kt_dispose(struct kube_task *t)
{
	if (t->kr != NULL)
		kr_unref(t->kr);
	cJSON_Delete(t->job);
	free(t->log_pod);
	free(t->step);
	free(t);
}

/* Makes and starts the task; takes job over. */
static int
kt_launch(struct exec_task **out, struct exec_kube *ex,
    const struct exec_step *step, struct exec_log *log, exec_done_fn *done,
    void *arg, cJSON *job, int64_t skip_lines, int64_t skip_bytes)
{
	struct kube_task	*t;
	int			 rc;

	t = xcalloc(1, sizeof(*t));
	t->base.ops = &kube_ops;
	t->ex = ex;
	t->log = log;
	t->done = done;
	t->arg = arg;
	t->run_id = step->run_id;
	t->step = xstrdup(step->step);
	t->timeout_ms = step->timeout_ms;
	t->job = job;
	t->skip_lines = skip_lines;
	t->skip_bytes = skip_bytes;
	atomic_init(&t->detach, false);
	atomic_init(&t->log_abandon, false);
	if ((rc = kr_acquire(&t->kr, ex, step->run_id, step->repo)) != 0) {
		kt_dispose(t);
		return rc;
	}
	if ((rc = pthread_create(&t->thread, NULL, kt_main, t)) != 0) {
		rc = err_set(ERR_FAIL, "cannot start a thread: %s",
		    strerror(rc));
		kt_dispose(t);
		return rc;
	}
	*out = &t->base;
	return 0;
}

/* --- the ops --- */

static int
kx_task_start(struct exec_task **out, struct exec *base,
    const struct exec_step *step, struct exec_log *log, exec_done_fn *done,
    void *arg)
{
	struct exec_kube		*ex = (struct exec_kube *)base;
	const struct config_repo	*repo;
	struct kube_run			 r;
	struct kube_step		 ks;
	struct kube_env			*env;
	const char			**secrets;
	cJSON				*job = NULL;
	size_t				 i, ne = 0, ns = 0;
	int				 rc;

	if ((repo = config_repo_by_name(ex->cfg, step->repo)) == NULL)
		return err_set(ERR_INVALID, "repository %s is not configured",
		    step->repo);
	memset(&r, 0, sizeof(r));
	r.cfg = ex->cfg;
	r.repo = repo;
	r.run_id = step->run_id;
	r.branch = step_env(step, "FERRY_BRANCH");
	r.commit = step_env(step, "FERRY_COMMIT");
	env = xcalloc(step->nenv + 1, sizeof(*env));
	secrets = xcalloc(step->nenv + 1, sizeof(*secrets));
	for (i = 0; i < step->nenv; i++) {
		if (step->env[i].secret)
			secrets[ns++] = step->env[i].name;
		else {
			env[ne].name = step->env[i].name;
			env[ne++].value = step->env[i].value;
		}
	}
	memset(&ks, 0, sizeof(ks));
	ks.name = step->step;
	ks.image = step->image;
	ks.script = step->script;
	ks.env = env;
	ks.nenv = ne;
	ks.secrets = secrets;
	ks.nsecrets = ns;
	ks.timeout_ms = step->timeout_ms;
	ks.cpu_milli = step->cpu_milli;
	ks.memory = step->memory;
	ks.deploy = step->deploy;
	rc = kube_manifest_job(&job, &r, &ks);
	free(env);
	free(secrets);
	if (rc != 0)
		return rc;
	return kt_launch(out, ex, step, log, done, arg, job, 0, 0);
}

/*
 * How much of the step's log a previous ferry wrote: its complete lines
 * (but ferry's own note before the step's output) and the bytes of an
 * unfinished last one. The masker keeps line breaks, so counting lines
 * is exact where a secret value was replaced.
 */
static void
kx_log_done_before(int64_t *lines_out, int64_t *bytes_out,
    struct exec_kube *ex, const struct exec_step *step)
{
	static const char	 note[] = "ferry: submodules are not part";
	char			*path, *text = NULL;
	size_t			 len = 0, i, last = 0;
	int64_t			 lines = 0;

	*lines_out = *bytes_out = 0;
	path = exec_log_path(ex->cfg->data_dir, step->run_id, step->step);
	if (file_read(&text, &len, path, (size_t)ex->cfg->log_max * 2 +
	    65536) != 0) {
		err_clear();
		free(path);
		return;
	}
	free(path);
	for (i = 0; i < len; i++) {
		if (text[i] == '\n') {
			lines++;
			last = i + 1;
		}
	}
	if (len >= sizeof(note) - 1 && memcmp(text, note,
	    sizeof(note) - 1) == 0 && lines > 0)
		lines--;
	*lines_out = lines;
	*bytes_out = (int64_t)(len - last);
	free(text);
}

static int
kx_task_attach(struct exec_task **out, struct exec *base,
    const struct exec_step *step, struct exec_log *log, exec_done_fn *done,
    void *arg)
{
	struct exec_kube	*ex = (struct exec_kube *)base;
	cJSON			*job = NULL;
	char			*ns;
	int64_t			 lines, bytes;
	int			 rc;

	ns = kube_namespace_name(ex->cfg->kube.namespace_prefix, step->repo,
	    step->run_id);
	rc = kube_get(&job, ex->k, KUBE_JOB, ns, step->step);
	free(ns);
	cJSON_Delete(job);
	if (rc == ERR_NOTFOUND)
		return err_set(ERR_NOTFOUND, "the Job of step %s is gone",
		    step->step);
	if (rc != 0)
		return rc;
	kx_log_done_before(&lines, &bytes, ex, step);
	return kt_launch(out, ex, step, log, done, arg, NULL, lines, bytes);
}

static int
kx_task_result(struct exec_result *out, struct exec_task *base)
{
	struct kube_task	*t = (struct kube_task *)base;
	int			 rc = 0;

	pthread_mutex_lock(&t->kr->mtx);
	if (t->finished)
		*out = t->result;
	else
		rc = err_set(ERR_BUSY, "step %s is still running", t->step);
	pthread_mutex_unlock(&t->kr->mtx);
	return rc;
}

static void
kx_task_cancel(struct exec_task *base, int64_t grace_ms)
{
	struct kube_task	*t = (struct kube_task *)base;

	pthread_mutex_lock(&t->kr->mtx);
	if (!t->finished) {
		if (!t->cancel || grace_ms < t->grace_ms)
			t->grace_ms = grace_ms;
		t->cancel = true;
		pthread_cond_broadcast(&t->kr->cv);
	}
	pthread_mutex_unlock(&t->kr->mtx);
}

/*
 * A finished task is freed; a running one is only no longer followed:
 * its Job runs on (ferry is stopping; the next start attaches to it).
 */
static void
kx_task_free(struct exec_task *base)
{
	struct kube_task	*t = (struct kube_task *)base;

	if (pthread_equal(pthread_self(), t->thread)) {
		/* From done(): the thread touches t no more. */
		pthread_detach(t->thread);
	} else {
		atomic_store(&t->detach, true);
		pthread_mutex_lock(&t->kr->mtx);
		pthread_cond_broadcast(&t->kr->cv);
		pthread_mutex_unlock(&t->kr->mtx);
		pthread_join(t->thread, NULL);
	}
	kt_dispose(t);
}

/* Deletes a run's namespace (and its deploy RoleBinding). */
static int
kx_delete_run(struct exec_kube *ex, const char *ns,
    const struct config_repo *repo)
{
	cJSON	*obj = NULL;
	int	 rc, ret = 0;

	if (repo != NULL && repo->deploy_namespace != NULL &&
	    (rc = kube_delete(ex->k, KUBE_ROLEBINDING, repo->deploy_namespace,
	    ns, KUBE_PROPAGATE_DEFAULT, -1)) != 0) {
		log_warnx("%s", err_msg());
		ret = rc;
	}
	/* A namespace already Terminating answers a delete with 409. */
	rc = kube_get(&obj, ex->k, KUBE_NAMESPACE, NULL, ns);
	if (rc == ERR_NOTFOUND)
		return ret;
	if (rc == 0 && jmeta(obj, "deletionTimestamp") != NULL) {
		cJSON_Delete(obj);
		return ret;
	}
	cJSON_Delete(obj);
	rc = kube_delete(ex->k, KUBE_NAMESPACE, NULL, ns,
	    KUBE_PROPAGATE_BACKGROUND, -1);
	if (rc == ERR_EXISTS)
		rc = 0;
	if (rc != 0) {
		log_warnx("%s", err_msg());
		ret = rc;
	}
	return ret;
}

/* One object of a run's sandbox, created on its own thread. */
struct kx_create {
	struct kube	*k;
	cJSON		*obj;
	int		 rc;
	char		 msg[512];
	pthread_t	 thread;
	bool		 threaded;
};

static void *
kx_create_main(void *arg)
{
	struct kx_create	*c = arg;

	if ((c->rc = kube_create(NULL, NULL, c->k, c->obj)) != 0)
		(void)snprintf(c->msg, sizeof(c->msg), "%s", err_msg());
	return NULL;
}

/*
 * Creates the objects from first on, all at once: each create is a
 * round trip to the API server and an etcd write, and none of them
 * needs another (a RoleBinding may name a ServiceAccount that does not
 * exist yet), so the sandbox is ready in one round trip instead of one
 * per object. Returns after every create ended: the caller POSTs a Job
 * only once the quota, the LimitRange and the NetworkPolicies all
 * exist. The first error, by position, is the one reported.
 */
static int
kx_create_all(struct kube *k, cJSON *first)
{
	struct kx_create	*c;
	cJSON			*it;
	size_t			 i, n = 0;
	int			 rc = 0;

	for (it = first; it != NULL; it = it->next)
		n++;
	c = xcalloc(n + 1, sizeof(*c));
	for (it = first, n = 0; it != NULL; it = it->next, n++) {
		c[n].k = k;
		c[n].obj = it;
		c[n].threaded = pthread_create(&c[n].thread, NULL,
		    kx_create_main, &c[n]) == 0;
		if (!c[n].threaded)
			(void)kx_create_main(&c[n]);
	}
	for (i = 0; i < n; i++)
		if (c[i].threaded)
			pthread_join(c[i].thread, NULL);
	for (i = 0; i < n && rc == 0; i++)
		if (c[i].rc != 0)
			rc = err_set(c[i].rc, "%s", c[i].msg);
	free(c);
	return rc;
}

/*
 * Follows the run from now on (its watchers list and watch while the
 * rest of the sandbox is created), so the first Job's POST does not
 * wait behind their first lists, and nothing of it happens unseen.
 */
static void
kx_follow_early(struct exec_kube *ex, const struct exec_run *run)
{
	struct krun	*kr;

	if (kr_acquire(&kr, ex, run->run_id, run->repo) != 0) {
		log_debug("run=%" PRId64 " watchers start with its first "
		    "step: %s", run->run_id, err_msg());
		return;
	}
	kr_unref(kr);		/* the list keeps it until kx_run_end */
}

static int
kx_run_begin(struct exec *base, const struct exec_run *run)
{
	struct exec_kube		*ex = (struct exec_kube *)base;
	const struct config_repo	*repo;
	struct kube_run			 r;
	const char			**names;
	cJSON				*objs, *o, *it;
	char				*ns, *msg = NULL;
	size_t				 i;
	bool				 deploy;
	int				 rc;

	if ((repo = config_repo_by_name(ex->cfg, run->repo)) == NULL)
		return err_set(ERR_INVALID, "repository %s is not configured",
		    run->repo);
	memset(&r, 0, sizeof(r));
	r.cfg = ex->cfg;
	r.repo = repo;
	r.run_id = run->run_id;
	r.branch = run->branch;
	r.commit = run->commit;
	r.source_token = run->source_token;
	deploy = run->deploy && kube_run_can_deploy(&r);

	objs = cJSON_CreateArray();
	names = xcalloc(run->nsecrets + 1, sizeof(*names));
	for (i = 0; i < run->nsecrets; i++)
		names[i] = run->secrets[i].name;
	rc = kube_manifests_sandbox(objs, &r, names, run->nsecrets, deploy,
	    false);
	free(names);
	if (rc != 0)
		goto out;
	/* The namespace first: everything else lives in it. */
	if ((rc = kube_create(NULL, NULL, ex->k, objs->child)) == 0) {
		kx_follow_early(ex, run);
		rc = kx_create_all(ex->k, objs->child->next);
	}
	if (rc != 0) {
		/* Nothing is left behind. */
		kr_release_run(ex, run->run_id);
		msg = xstrdup(err_msg());
		ns = kube_run_namespace(&r);
		(void)kx_delete_run(ex, ns, repo);
		free(ns);
		rc = err_set(ERR_UPSTREAM, "%s", msg);
		free(msg);
	}
out:
	/* The Secrets' values. */
	cJSON_ArrayForEach(it, objs) {
		cJSON_ArrayForEach(o, jget(it, "stringData"))
			if (cJSON_IsString(o))
				wipe(o->valuestring, strlen(o->valuestring));
	}
	cJSON_Delete(objs);
	return rc;
}

static void
kx_run_end(struct exec *base, int64_t run_id, const char *repo)
{
	struct exec_kube	*ex = (struct exec_kube *)base;
	char			*ns;

	kr_release_run(ex, run_id);
	ns = kube_namespace_name(ex->cfg->kube.namespace_prefix, repo,
	    run_id);
	if (kx_delete_run(ex, ns, config_repo_by_name(ex->cfg, repo)) == 0)
		log_info("run=%" PRId64 " namespace %s deleted", run_id, ns);
	free(ns);
}

/* --- the sweep --- */

/* The run id of a ferry object whose name is ours; -1 if it is not. */
static int64_t
kx_sweep_run_of(const struct exec_kube *ex, const cJSON *obj)
{
	const char	*name = jmeta(obj, "name"), *id;
	char		*suffix;
	int64_t		 run_id;
	size_t		 nl, sl;
	bool		 ours;

	id = jstr(jget(jget(obj, "metadata"), "labels"), KUBE_LABEL_RUN);
	if (name == NULL || id == NULL || parse_int64(&run_id, id, 1,
	    INT64_MAX) != 0) {
		err_clear();
		return -1;
	}
	/* Another ferry with another prefix may share the cluster. */
	suffix = xasprintf("-%s", id);
	nl = strlen(name);
	sl = strlen(suffix);
	ours = strncmp(name, ex->prefix, strlen(ex->prefix)) == 0 &&
	    nl > sl && strcmp(name + nl - sl, suffix) == 0;
	free(suffix);
	return ours ? run_id : -1;
}

static bool
kx_sweep_keep(struct exec_kube *ex, int64_t run_id)
{
	if (kr_followed(ex, run_id))
		return true;
	if (ex->run_active == NULL)
		return true;
	return ex->run_active(ex->run_active_arg, run_id);
}

/*
 * Deletes the namespaces of ended runs, and with each the deploy
 * RoleBinding named after it (found through the repository annotation:
 * ferry may only create and delete RoleBindings where it deploys, not
 * list them).
 */
static void
kx_sweep(struct exec_kube *ex)
{
	const char	*sel = KUBE_LABEL_MANAGED_BY "=" KUBE_MANAGED_BY;
	cJSON		*list = NULL;
	const cJSON	*it;
	const char	*name, *repo;
	int64_t		 run_id;
	int		 n = 0;

	if (kube_list(&list, ex->k, KUBE_NAMESPACE, NULL, sel) != 0) {
		log_warnx("sweep: %s", err_msg());
		return;
	}
	cJSON_ArrayForEach(it, jget(list, "items")) {
		if ((run_id = kx_sweep_run_of(ex, it)) < 0 ||
		    jmeta(it, "deletionTimestamp") != NULL ||
		    kx_sweep_keep(ex, run_id))
			continue;
		name = jmeta(it, "name");
		repo = jstr(jget(jget(it, "metadata"), "annotations"),
		    KUBE_ANN_REPO);
		if (kx_delete_run(ex, name, repo != NULL ?
		    config_repo_by_name(ex->cfg, repo) : NULL) == 0) {
			log_info("run=%" PRId64 " has ended: namespace %s "
			    "deleted", run_id, name);
			n++;
		}
	}
	cJSON_Delete(list);
	if (n > 0)
		log_info("sweep: %d namespace(s) of ended runs deleted", n);
}

static void *
kx_sweep_main(void *arg)
{
	struct exec_kube	*ex = arg;

	pthread_mutex_lock(&ex->mtx);
	while (!ex->stopping) {
		pthread_mutex_unlock(&ex->mtx);
		kx_sweep(ex);
		pthread_mutex_lock(&ex->mtx);
		if (!ex->stopping)
			cond_wait_ms(&ex->cv, &ex->mtx, ex->sweep_ms);
	}
	pthread_mutex_unlock(&ex->mtx);
	return NULL;
}

static void
kx_free(struct exec *base)
{
	struct exec_kube	*ex = (struct exec_kube *)base;
	struct krun		*kr;

	pthread_mutex_lock(&ex->mtx);
	ex->stopping = true;
	pthread_cond_broadcast(&ex->cv);
	pthread_mutex_unlock(&ex->mtx);
	if (ex->sweeping)
		pthread_join(ex->sweeper, NULL);
	pthread_mutex_lock(&ex->mtx);
	while ((kr = ex->runs) != NULL) {
		ex->runs = kr->next;
		kr_stop_locked(kr);
		pthread_mutex_unlock(&ex->mtx);
		kr_unref(kr);
		pthread_mutex_lock(&ex->mtx);
	}
	while (ex->nthreads > 0)
		cond_wait_ms(&ex->cv, &ex->mtx, 1000);
	pthread_mutex_unlock(&ex->mtx);
	kube_free(ex->k);
	pthread_cond_destroy(&ex->cv);
	pthread_mutex_destroy(&ex->mtx);
	free(ex->prefix);
	free(ex);
}

static const struct exec_ops kube_ops = {
	.name = "kubernetes",
	.task_start = kx_task_start,
	.task_result = kx_task_result,
	.task_cancel = kx_task_cancel,
	.task_free = kx_task_free,
	.free = kx_free,
	.run_begin = kx_run_begin,
	.run_end = kx_run_end,
	.task_attach = kx_task_attach,
};

int
exec_kube_new(struct exec **out, const struct exec_kube_opts *o)
{
	struct exec_kube	*ex;
	struct kube_config	*kc;
	struct kube		*k;
	char			*probe;
	size_t			 n;
	int			 rc;

	*out = NULL;
	ASSERT(o != NULL && o->cfg != NULL);
	if ((rc = kube_config_from(&kc, &o->cfg->kube)) != 0)
		return rc;
	if ((rc = kube_new(&k, kc, NULL)) != 0)
		return rc;
	ex = xcalloc(1, sizeof(*ex));
	ex->base.ops = &kube_ops;
	ex->cfg = o->cfg;
	ex->k = k;
	ex->run_active = o->run_active;
	ex->run_active_arg = o->run_active_arg;
	ex->sweep_ms = o->sweep_ms > 0 ? o->sweep_ms : KX_SWEEP_MS;
	/* The prefix as namespace names carry it. */
	probe = kube_namespace_name(o->cfg->kube.namespace_prefix, "x", 1);
	n = strlen(probe) - strlen("x-1");
	ex->prefix = xstrndup(probe, n);
	free(probe);
	pthread_mutex_init(&ex->mtx, NULL);
	cond_init_mono(&ex->cv);
	if ((rc = pthread_create(&ex->sweeper, NULL, kx_sweep_main, ex)) !=
	    0) {
		rc = err_set(ERR_FAIL, "cannot start a thread: %s",
		    strerror(rc));
		kx_free(&ex->base);
		return rc;
	}
	ex->sweeping = true;
	log_info("kubernetes executor: server=%s prefix=%s",
	    kube_config_of(k)->server, ex->prefix);
	*out = &ex->base;
	return 0;
}

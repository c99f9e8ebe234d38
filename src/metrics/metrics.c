/*
 * metrics.c - the registry and its exposition (see metrics.h).
 *
 * DESIGN: the registry is a constant table indexed by enum metrics_id;
 * each metric owns a fixed array of atomic cells in static storage (one
 * per label combination; a histogram's cells are its buckets, not
 * cumulative, the last one past every bound). Updates are relaxed
 * atomic adds: no lock, no allocation. A scrape reads each cell once;
 * a histogram's count is the sum of the buckets it read, so count and
 * buckets agree even while observations land (its sum may be one
 * observation ahead, which Prometheus tolerates).
 */
#include "metrics.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ferry_version.h"
#include "util.h"

#define METRICS_N	(METRICS_STEPS_RUNNING + 1)
#define VALUES_MAX	20	/* values of one label */
#define CELLS_MAX	40	/* label combinations or buckets */

enum kind {
	KIND_COUNTER,
	KIND_GAUGE,
	KIND_HISTOGRAM,
};

struct label {
	const char	*name;
	const char	*values[VALUES_MAX];	/* NULL-terminated */
	const char	*fallback;		/* unknown values; or NULL */
};

struct metric {
	enum kind		 kind;
	const char		*name;
	const char		*help;
	const struct label	*l1;		/* NULL: no labels */
	const struct label	*l2;		/* NULL: one label or none */
	const int64_t		*le_ms;		/* histogram bounds, ms */
	const char *const	*le;		/* the same as "le" text */
	size_t			 nle;
};

static const struct label label_provider = {
	"provider", { "github", "gitlab", NULL }, NULL
};
static const struct label label_webhook_result = {
	"result", { "accepted", "duplicate", "ignored", "unauthorized",
	"invalid", "not_found", "too_large", "error", NULL }, NULL
};
static const struct label label_run_status = {
	"status", { "succeeded", "failed", "cancelled", "error", NULL }, NULL
};
static const struct label label_code = {
	"code", { "200", "201", "202", "204", "400", "401", "403", "404",
	"409", "410", "422", "429", "500", "502", "503", "504", "error",
	"other", NULL }, "other"
};
static const struct label label_report_kind = {
	"kind", { "status", "notify", NULL }, NULL
};
static const struct label label_report_result = {
	"result", { "sent", "retry", "failed", NULL }, NULL
};

static const int64_t run_le_ms[] = {
	1000, 5000, 15000, 30000, 60000, 120000, 300000, 600000, 1200000,
	1800000, 3600000
};
static const char *const run_le[] = {
	"1", "5", "15", "30", "60", "120", "300", "600", "1200", "1800",
	"3600"
};
static const int64_t step_le_ms[] = {
	100, 500, 1000, 5000, 15000, 30000, 60000, 120000, 300000, 600000,
	1800000, 3600000
};
static const char *const step_le[] = {
	"0.1", "0.5", "1", "5", "15", "30", "60", "120", "300", "600",
	"1800", "3600"
};

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

static const struct metric registry[METRICS_N] = {
	[METRICS_WEBHOOKS] = { KIND_COUNTER, "ferry_webhooks_total",
	    "Webhook deliveries by provider and answer.",
	    &label_provider, &label_webhook_result, NULL, NULL, 0 },
	[METRICS_RUNS] = { KIND_COUNTER, "ferry_runs_total",
	    "Runs that ended, by final status.",
	    &label_run_status, NULL, NULL, NULL, 0 },
	[METRICS_KUBE_REQUESTS] = { KIND_COUNTER,
	    "ferry_kube_requests_total",
	    "Kubernetes API requests by HTTP status code.",
	    &label_code, NULL, NULL, NULL, 0 },
	[METRICS_REPORTS] = { KIND_COUNTER, "ferry_reports_total",
	    "Commit statuses and notifications by kind and result.",
	    &label_report_kind, &label_report_result, NULL, NULL, 0 },
	[METRICS_RUN_DURATION] = { KIND_HISTOGRAM,
	    "ferry_run_duration_seconds",
	    "Time from a run's claim to its end.",
	    NULL, NULL, run_le_ms, run_le, NELEM(run_le_ms) },
	[METRICS_STEP_DURATION] = { KIND_HISTOGRAM,
	    "ferry_step_duration_seconds",
	    "Time from a step's start to its end.",
	    NULL, NULL, step_le_ms, step_le, NELEM(step_le_ms) },
	[METRICS_QUEUE_DEPTH] = { KIND_GAUGE, "ferry_queue_depth",
	    "Runs waiting in the queue.", NULL, NULL, NULL, NULL, 0 },
	[METRICS_STEPS_RUNNING] = { KIND_GAUGE, "ferry_steps_running",
	    "Steps running now.", NULL, NULL, NULL, NULL, 0 },
};

/* Static storage: atomics start at zero. */
static struct {
	atomic_uint_fast64_t	cell[CELLS_MAX];
	atomic_int_fast64_t	gauge;
	atomic_uint_fast64_t	sum_ms;
} state[METRICS_N];

static size_t
label_count(const struct label *l)
{
	size_t	n = 0;

	if (l == NULL)
		return 1;
	while (l->values[n] != NULL)
		n++;
	return n;
}

static size_t
label_index(const struct label *l, const char *v)
{
	size_t	i;

	if (l == NULL) {
		ASSERT(v == NULL);
		return 0;
	}
	ASSERT(v != NULL);
	for (i = 0; l->values[i] != NULL; i++)
		if (strcmp(l->values[i], v) == 0)
			return i;
	ASSERT(l->fallback != NULL);
	return label_index(l, l->fallback);
}

static const struct metric *
metric_get(enum metrics_id id, enum kind kind)
{
	ASSERT((int)id >= 0 && (int)id < METRICS_N);
	ASSERT(registry[id].kind == kind);
	return &registry[id];
}

static size_t
cell_index(const struct metric *m, const char *l1, const char *l2)
{
	size_t	i;

	i = label_index(m->l1, l1) * label_count(m->l2) +
	    label_index(m->l2, l2);
	ASSERT(i < CELLS_MAX);
	return i;
}

void
metrics_inc(enum metrics_id id, const char *l1, const char *l2)
{
	const struct metric	*m = metric_get(id, KIND_COUNTER);

	atomic_fetch_add_explicit(&state[id].cell[cell_index(m, l1, l2)], 1,
	    memory_order_relaxed);
}

uint64_t
metrics_counter(enum metrics_id id, const char *l1, const char *l2)
{
	const struct metric	*m = metric_get(id, KIND_COUNTER);

	return atomic_load_explicit(&state[id].cell[cell_index(m, l1, l2)],
	    memory_order_relaxed);
}

void
metrics_gauge_add(enum metrics_id id, int64_t delta)
{
	(void)metric_get(id, KIND_GAUGE);
	atomic_fetch_add_explicit(&state[id].gauge, delta,
	    memory_order_relaxed);
}

void
metrics_gauge_set(enum metrics_id id, int64_t value)
{
	(void)metric_get(id, KIND_GAUGE);
	atomic_store_explicit(&state[id].gauge, value, memory_order_relaxed);
}

int64_t
metrics_gauge(enum metrics_id id)
{
	(void)metric_get(id, KIND_GAUGE);
	return atomic_load_explicit(&state[id].gauge, memory_order_relaxed);
}

void
metrics_observe_ms(enum metrics_id id, int64_t ms)
{
	const struct metric	*m = metric_get(id, KIND_HISTOGRAM);
	size_t			 i;

	if (ms < 0)
		ms = 0;
	for (i = 0; i < m->nle; i++)
		if (ms <= m->le_ms[i])
			break;
	ASSERT(i < CELLS_MAX);
	atomic_fetch_add_explicit(&state[id].cell[i], 1,
	    memory_order_relaxed);
	atomic_fetch_add_explicit(&state[id].sum_ms, (uint64_t)ms,
	    memory_order_relaxed);
}

uint64_t
metrics_hist_count(enum metrics_id id, uint64_t *sum_ms_out)
{
	const struct metric	*m = metric_get(id, KIND_HISTOGRAM);
	uint64_t		 n = 0;
	size_t			 i;

	for (i = 0; i <= m->nle; i++)
		n += atomic_load_explicit(&state[id].cell[i],
		    memory_order_relaxed);
	if (sum_ms_out != NULL)
		*sum_ms_out = atomic_load_explicit(&state[id].sum_ms,
		    memory_order_relaxed);
	return n;
}

/* --- exposition --------------------------------------------------------- */

static const char *
kind_name(enum kind k)
{
	switch (k) {
	case KIND_COUNTER:
		return "counter";
	case KIND_GAUGE:
		return "gauge";
	case KIND_HISTOGRAM:
		return "histogram";
	}
	/* NOTREACHED */
	return "untyped";
}

static int
format_head(struct buf *out, const char *name, const char *help,
    const char *type)
{
	return buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

static int
format_counter(struct buf *out, int id, const struct metric *m)
{
	size_t	n1 = label_count(m->l1), n2 = label_count(m->l2), i, j;
	int	rc = 0;

	for (i = 0; i < n1 && rc == 0; i++) {
		for (j = 0; j < n2 && rc == 0; j++) {
			uint64_t v = atomic_load_explicit(
			    &state[id].cell[i * n2 + j],
			    memory_order_relaxed);

			if (m->l1 == NULL)
				rc = buf_printf(out, "%s %" PRIu64 "\n",
				    m->name, v);
			else if (m->l2 == NULL)
				rc = buf_printf(out, "%s{%s=\"%s\"} %" PRIu64
				    "\n", m->name, m->l1->name,
				    m->l1->values[i], v);
			else
				rc = buf_printf(out, "%s{%s=\"%s\",%s=\"%s\"} "
				    "%" PRIu64 "\n", m->name, m->l1->name,
				    m->l1->values[i], m->l2->name,
				    m->l2->values[j], v);
		}
	}
	return rc;
}

static int
format_histogram(struct buf *out, int id, const struct metric *m)
{
	uint64_t	cum = 0, sum;
	size_t		i;
	int		rc = 0;

	for (i = 0; i <= m->nle && rc == 0; i++) {
		cum += atomic_load_explicit(&state[id].cell[i],
		    memory_order_relaxed);
		rc = buf_printf(out, "%s_bucket{le=\"%s\"} %" PRIu64 "\n",
		    m->name, i < m->nle ? m->le[i] : "+Inf", cum);
	}
	sum = atomic_load_explicit(&state[id].sum_ms, memory_order_relaxed);
	if (rc == 0)
		rc = buf_printf(out, "%s_sum %" PRIu64 ".%03u\n%s_count %"
		    PRIu64 "\n", m->name, sum / 1000, (unsigned)(sum % 1000),
		    m->name, cum);
	return rc;
}

/* Resident set size from /proc/self/statm; false if unreadable. */
static bool
proc_rss(uint64_t *out)
{
	FILE			*f;
	unsigned long long	 size, resident;
	long			 page = sysconf(_SC_PAGESIZE);
	bool			 ok;

	if (page <= 0 || (f = fopen("/proc/self/statm", "re")) == NULL)
		return false;
	ok = fscanf(f, "%llu %llu", &size, &resident) == 2;
	fclose(f);
	*out = (uint64_t)resident * (uint64_t)page;
	return ok;
}

/* Open descriptors, not counting the one that lists them. */
static bool
proc_fds(uint64_t *out)
{
	DIR		*d;
	struct dirent	*e;
	uint64_t	 n = 0;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return false;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	*out = n > 0 ? n - 1 : 0;
	return true;
}

int
metrics_format(struct buf *out)
{
	const struct metric	*m;
	uint64_t		 v;
	int			 id, rc = 0;

	for (id = 0; id < METRICS_N && rc == 0; id++) {
		m = &registry[id];
		if ((rc = format_head(out, m->name, m->help,
		    kind_name(m->kind))) != 0)
			break;
		switch (m->kind) {
		case KIND_COUNTER:
			rc = format_counter(out, id, m);
			break;
		case KIND_GAUGE:
			rc = buf_printf(out, "%s %" PRId64 "\n", m->name,
			    (int64_t)atomic_load_explicit(&state[id].gauge,
			    memory_order_relaxed));
			break;
		case KIND_HISTOGRAM:
			rc = format_histogram(out, id, m);
			break;
		}
	}
	if (rc == 0)
		rc = format_head(out, "ferry_build_info", "The version of "
		    "ferry that is running; always 1.", "gauge");
	if (rc == 0)
		rc = buf_printf(out, "ferry_build_info{version=\"%s\"} 1\n",
		    FERRY_VERSION);
	if (rc == 0 && proc_rss(&v)) {
		rc = format_head(out, "process_resident_memory_bytes",
		    "Resident memory size in bytes.", "gauge");
		if (rc == 0)
			rc = buf_printf(out, "process_resident_memory_bytes "
			    "%" PRIu64 "\n", v);
	}
	if (rc == 0 && proc_fds(&v)) {
		rc = format_head(out, "process_open_fds",
		    "Number of open file descriptors.", "gauge");
		if (rc == 0)
			rc = buf_printf(out, "process_open_fds %" PRIu64 "\n",
			    v);
	}
	return rc;
}

/*
 * metrics.h - ferry's Prometheus metrics: a fixed registry of counters,
 * gauges and histograms whose names and label values are known at
 * compile time, rendered in the text exposition format 0.0.4.
 *
 * Every function may be called from any thread at any time (no set-up,
 * no tear-down): updates are relaxed atomic adds on static storage, with
 * no lock and no allocation, so any module may count from its hot path.
 * Depends only on util.
 *
 * The registry (label values in the order they are rendered):
 *
 *   ferry_webhooks_total{provider,result}	counter
 *	provider: github gitlab
 *	result:   accepted duplicate ignored unauthorized invalid
 *		  not_found too_large error
 *   ferry_runs_total{status}			counter, runs that ended
 *	status:   succeeded failed cancelled error
 *   ferry_kube_requests_total{code}		counter, Kubernetes API calls
 *	code:     200 201 202 204 400 401 403 404 409 410 422 429 500
 *		  502 503 504 error (no HTTP answer) other (any other code)
 *   ferry_reports_total{kind,result}		counter, commit statuses and
 *						notifications sent
 *	kind:     status notify
 *	result:   sent retry failed
 *   ferry_run_duration_seconds			histogram, claim to end
 *   ferry_step_duration_seconds		histogram, start to end
 *   ferry_queue_depth				gauge, queued runs (set by
 *						the scraper before rendering)
 *   ferry_steps_running			gauge
 *
 * metrics_format() adds ferry_build_info{version} and, read from /proc at
 * the time of the scrape, process_resident_memory_bytes and
 * process_open_fds.
 */
#ifndef FERRY_METRICS_H
#define FERRY_METRICS_H

#include <stdint.h>

#include "err.h"

struct buf;

enum metrics_id {
	METRICS_WEBHOOKS,	/* counter {provider, result} */
	METRICS_RUNS,		/* counter {status} */
	METRICS_KUBE_REQUESTS,	/* counter {code} */
	METRICS_REPORTS,	/* counter {kind, result} */
	METRICS_RUN_DURATION,	/* histogram */
	METRICS_STEP_DURATION,	/* histogram */
	METRICS_QUEUE_DEPTH,	/* gauge */
	METRICS_STEPS_RUNNING,	/* gauge */
};

/*
 * Adds one to counter id for the label values l1 and l2 (NULL where the
 * counter has fewer labels). A value not in the registry is a bug
 * (ASSERT), except for a label with a catch-all ("other" of code).
 */
void	 metrics_inc(enum metrics_id id, const char *l1, const char *l2);
/* Adds delta (may be negative) to gauge id / sets it. */
void	 metrics_gauge_add(enum metrics_id id, int64_t delta);
void	 metrics_gauge_set(enum metrics_id id, int64_t value);
/* Records one observation of ms milliseconds (< 0 counts as 0). */
void	 metrics_observe_ms(enum metrics_id id, int64_t ms);

/*
 * Appends the whole registry to out in the Prometheus text format
 * 0.0.4 (Content-Type "text/plain; version=0.0.4"), each metric with its
 * # HELP and # TYPE lines. ERR_TOOBIG if out's ceiling was hit (out
 * then holds a prefix).
 */
int	 metrics_format(struct buf *out);

/* Current values, for tests and callers that need them. */
uint64_t metrics_counter(enum metrics_id id, const char *l1,
	    const char *l2);
int64_t	 metrics_gauge(enum metrics_id id);
/* Observations so far and their sum in milliseconds. */
uint64_t metrics_hist_count(enum metrics_id id, uint64_t *sum_ms_out);

#endif

/*
 * report.h - commit statuses (GitHub, GitLab) and failure/recovery
 * notifications for runs, sent from a background queue that survives
 * restarts (the outbox table, see store.h).
 *
 * report_start() and report_stop() are called by main: start before the
 * workers start (it owns one sender thread, with its own store
 * connection and httpc handle), stop after they have stopped.
 * report_run_changed() may be called from any thread whenever a run or
 * one of its steps changed: it reads the run on the calling thread's
 * store_thread_get() connection, queues what the change calls for, and
 * wakes the sender; it never waits on the network.
 *
 * What is reported, for a repo with a status_token:
 *   run running    GitHub pending, GitLab running
 *   succeeded      success
 *   failed         GitHub failure, GitLab failed
 *   error          GitHub error, GitLab failed
 *   cancelled      GitHub error ("cancelled"), GitLab canceled; nothing
 *                  for a run cancelled before it started
 * each with context (GitHub) or name (GitLab) "ferry" and a link to the
 * run page. For each URL in a repo's notify, a JSON POST when a run of
 * the production branch fails after a success (or as its first run),
 * and when one succeeds after a failure; never for a failure after a
 * failure. Deliveries are retried with backoff on network errors, 408,
 * 429 and 5xx; other answers drop them with a warning.
 *
 * The pure parts below are exposed for the tests.
 */
#ifndef FERRY_REPORT_H
#define FERRY_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "store.h"

struct report;

/*
 * Starts the sender (only if some repo has a status_token or notify)
 * after queueing what a previous ferry left unreported. *out is freed by
 * report_stop. ERR_FAIL if the thread cannot start.
 */
int	 report_start(struct report **out, const struct config *cfg,
	    const char *db_path);
/* Any thread; rep may be NULL. Logs its own failures. */
void	 report_run_changed(struct report *rep, int64_t run_id);
/* Abandons a send in flight (kept for the next start), joins. NULL ok. */
void	 report_stop(struct report *rep);

/*
 * Queues the reports run_id's current state calls for, on st (the
 * caller's connection): the work of report_run_changed without the
 * wake-up. *queued_out (may be NULL): whether rows were written.
 */
int	 report_enqueue(bool *queued_out, struct store *st,
	    const struct config *cfg, int64_t run_id);

/* --- pure parts ----------------------------------------------------------- */

enum report_event {
	REPORT_NONE,
	REPORT_FAILING,		/* the production branch started failing */
	REPORT_RECOVERED,	/* it passes again */
};

/*
 * The notification a run ending in cur calls for, given the status of
 * the previous finished run on the branch (prev: an enum run_status, or
 * -1 if none; see store_report_previous).
 */
enum report_event report_transition(int prev, enum run_status cur);
/* "failing" / "recovered"; NULL for REPORT_NONE. */
const char	*report_event_name(enum report_event ev);

/* The provider's state word for a run status; NULL for queued. */
const char	*report_github_state(enum run_status s);
const char	*report_gitlab_state(enum run_status s);

/*
 * {api_url}/repos/{owner}/{name}/statuses/{sha} (GitHub) or
 * {api_url}/projects/{url-encoded name}/statuses/{sha} (GitLab).
 */
char	*report_status_url(const struct config_repo *repo, const char *sha);
/* public_url + "/#/runs/" + id. */
char	*report_run_url(const char *public_url, int64_t run_id);
/* One line of at most 140 bytes (valid UTF-8) saying how the run is. */
char	*report_description(const struct run *run);
/* The JSON body of a commit status for run's current status. */
char	*report_status_body(enum config_provider provider,
	    const struct run *run, const char *public_url);
/* The first failed (or error) step in file order, or NULL. */
const struct step *report_failed_step(const struct run *run);
/*
 * The JSON body of a notification: event, repo, branch, status, run_id,
 * run_url, commit, message, author, failed_step, reason, log_tail (null
 * when unknown) and a text field with the same in words, for Slack- and
 * Mattermost-style incoming webhooks. log_tail may be NULL.
 */
char	*report_notify_body(const struct run *run, enum report_event ev,
	    const char *public_url, const char *log_tail);
/*
 * The last lines (at most max_lines, from at most max_bytes at the end)
 * of the file at path, as valid UTF-8 without a trailing newline.
 * ERR_NOTFOUND if there is no such file; "" for an empty one.
 */
int	 report_log_tail(char **out, const char *path, int max_lines,
	    size_t max_bytes);

enum report_outcome {
	REPORT_SENT,		/* 2xx: done */
	REPORT_RETRY,		/* network error, 408, 429, 5xx: later */
	REPORT_DROP,		/* any other answer: give up now */
};

/* rc is httpc_request()'s result, status its HTTP status. */
enum report_outcome report_outcome(int rc, long status);
/*
 * How long to wait before attempt attempts + 1, after attempts (>= 1)
 * failed ones: 1 s doubling up to 10 min, times 0.5 + jitter / 2
 * (jitter in [0, 1)).
 */
int64_t	 report_backoff_ms(int attempts, double jitter);
/*
 * The wait before the next attempt: the backoff, or the server's
 * Retry-After (ms, <= 0: none) when that is longer, capped at an hour.
 */
int64_t	 report_retry_delay_ms(int attempts, double jitter,
	    int64_t retry_after_ms);
/* Sends after which an item is dropped. */
#define REPORT_MAX_ATTEMPTS	14

#endif

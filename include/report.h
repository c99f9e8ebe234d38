/*
 * report.h - commit statuses (GitHub, GitLab) and notifications for
 * runs, sent from a background queue that survives restarts.
 *
 * report_start/stop are called by main; report_run_changed from any
 * thread when a run changed state (it never blocks on the network).
 */
#ifndef FERRY_REPORT_H
#define FERRY_REPORT_H

#include <stdint.h>

struct config;
struct report;

int	 report_start(struct report **out, const struct config *cfg,
	    const char *db_path);
void	 report_run_changed(struct report *rep, int64_t run_id);
void	 report_stop(struct report *rep);

#endif

/*
 * Tests of the metrics registry: counters by label, the catch-all code
 * label, gauges, histogram buckets, exact counts under concurrency, and
 * the exposition, which a small checker of the Prometheus text format
 * 0.0.4 reads line by line.
 */
#include <check.h>
#include <inttypes.h>
#include <pthread.h>
#include <regex.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "util.h"

static char *
scrape(void)
{
	struct buf	b;

	buf_init(&b, 1024 * 1024);
	ck_assert_int_eq(metrics_format(&b), 0);
	return buf_steal(&b);
}

/* The value of the sample line that starts with "series ", or -1. */
static double
sample(const char *text, const char *series)
{
	const char	*p = text;
	size_t		 n = strlen(series);

	while (p != NULL && *p) {
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return -1;
}

/*
 * Checks text against the exposition format: every line is "# HELP name
 * text", "# TYPE name type" or "name{label="value",...} value"; each
 * family has one HELP and one TYPE, before its samples, which are
 * contiguous; a histogram's buckets are cumulative, end in +Inf, and
 * +Inf equals _count. Returns NULL or what is wrong (static).
 */
static const char *
exposition_check(const char *text)
{
	static char	 why[512];
	regex_t		 help, type, smp;
	regmatch_t	 m[6];
	char		*copy, *line, *nl, fam[128] = "", name[128];
	char		 seen[64][128];
	size_t		 nseen = 0, i, len;
	double		 v, prev_bucket = -1, inf = -1;
	const char	*err = NULL;
	bool		 typed = false, histo = false;

	if (text[0] == '\0' || text[strlen(text) - 1] != '\n')
		return "does not end with a newline";
	ck_assert_int_eq(regcomp(&help, "^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) "
	    "[^\n]+$", REG_EXTENDED), 0);
	ck_assert_int_eq(regcomp(&type, "^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) "
	    "(counter|gauge|histogram|summary|untyped)$", REG_EXTENDED), 0);
	ck_assert_int_eq(regcomp(&smp, "^([a-zA-Z_:][a-zA-Z0-9_:]*)"
	    "(\\{([a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\.)*\""
	    "(,[a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\.)*\")*)?\\})? "
	    "(-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?|\\+Inf|-Inf|NaN)$",
	    REG_EXTENDED), 0);
	copy = xstrdup(text);
	for (line = copy; *line != '\0' && err == NULL; line = nl + 1) {
		if ((nl = strchr(line, '\n')) == NULL)
			break;	/* NOTREACHED: text ends with one */
		*nl = '\0';
		if (regexec(&help, line, 2, m, 0) == 0) {
			len = (size_t)(m[1].rm_eo - m[1].rm_so);
			snprintf(fam, sizeof(fam), "%.*s", (int)len,
			    line + m[1].rm_so);
			for (i = 0; i < nseen; i++)
				if (strcmp(seen[i], fam) == 0)
					err = "a family appears twice";
			ck_assert_uint_lt(nseen, 64);
			snprintf(seen[nseen++], 128, "%s", fam);
			typed = false;
			histo = false;
			prev_bucket = inf = -1;
			continue;
		}
		if (regexec(&type, line, 3, m, 0) == 0) {
			len = (size_t)(m[1].rm_eo - m[1].rm_so);
			snprintf(name, sizeof(name), "%.*s", (int)len,
			    line + m[1].rm_so);
			if (strcmp(name, fam) != 0 || typed)
				err = "TYPE without its HELP";
			typed = true;
			histo = strncmp(line + m[2].rm_so, "histogram", 9) ==
			    0;
			continue;
		}
		if (line[0] == '#') {
			err = "unknown comment";
			break;
		}
		if (regexec(&smp, line, 1, m, 0) != 0) {
			err = "not a sample line";
			break;
		}
		if (!typed) {
			err = "sample before its TYPE";
			break;
		}
		len = strcspn(line, "{ ");
		if (len >= sizeof(name)) {
			err = "name too long";
			break;
		}
		memcpy(name, line, len);
		name[len] = '\0';
		v = strtod(strrchr(line, ' ') + 1, NULL);
		if (!histo) {
			if (strcmp(name, fam) != 0)
				err = "sample of another family";
			continue;
		}
		if (strncmp(name, fam, strlen(fam)) != 0) {
			err = "sample of another family";
		} else if (strcmp(name + strlen(fam), "_bucket") == 0) {
			if (v < prev_bucket)
				err = "buckets are not cumulative";
			prev_bucket = v;
			if (strstr(line, "le=\"+Inf\"") != NULL)
				inf = v;
		} else if (strcmp(name + strlen(fam), "_count") == 0) {
			if (inf < 0 || v != inf)
				err = "+Inf bucket differs from _count";
		} else if (strcmp(name + strlen(fam), "_sum") != 0)
			err = "unknown histogram sample";
	}
	if (err != NULL) {
		snprintf(why, sizeof(why), "%s: %s", err, line);
		err = why;
	}
	free(copy);
	regfree(&help);
	regfree(&type);
	regfree(&smp);
	return err;
}

START_TEST(checker_rejects_bad_text)
{
	/* The checker must be able to fail, or it proves nothing. */
	ck_assert_ptr_null(exposition_check("# HELP a_total x\n"
	    "# TYPE a_total counter\na_total{k=\"v\"} 3\n"));
	ck_assert_ptr_nonnull(exposition_check("a_total 3\n"));
	ck_assert_ptr_nonnull(exposition_check("# HELP a x\n# TYPE a gauge\n"
	    "a{k=v} 3\n"));
	ck_assert_ptr_nonnull(exposition_check("# HELP a x\n# TYPE a gauge\n"
	    "a 3 4 5\n"));
	ck_assert_ptr_nonnull(exposition_check("# HELP a x\n# TYPE a gauge\n"
	    "b 3\n"));
	ck_assert_ptr_nonnull(exposition_check("# HELP h x\n"
	    "# TYPE h histogram\nh_bucket{le=\"1\"} 2\n"
	    "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n"));
	ck_assert_ptr_nonnull(exposition_check("# HELP h x\n"
	    "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\n"
	    "h_count 1\n"));
	ck_assert_ptr_nonnull(exposition_check("# HELP a x\n# TYPE a gauge\n"
	    "a 1"));
}
END_TEST

START_TEST(exposition_is_valid)
{
	char		*text;
	const char	*why;

	metrics_inc(METRICS_WEBHOOKS, "github", "accepted");
	metrics_inc(METRICS_RUNS, "failed", NULL);
	metrics_inc(METRICS_KUBE_REQUESTS, "201", NULL);
	metrics_inc(METRICS_REPORTS, "notify", "retry");
	metrics_observe_ms(METRICS_RUN_DURATION, 12345);
	metrics_observe_ms(METRICS_STEP_DURATION, 250);
	metrics_gauge_set(METRICS_QUEUE_DEPTH, 3);
	metrics_gauge_add(METRICS_STEPS_RUNNING, -2);
	text = scrape();
	why = exposition_check(text);
	if (why != NULL)
		ck_abort_msg("%s\n%s", why, text);
	/* Every family of the registry is there, with its type. */
	ck_assert_ptr_nonnull(strstr(text, "# TYPE ferry_webhooks_total "
	    "counter\n"));
	ck_assert_ptr_nonnull(strstr(text, "# TYPE ferry_runs_total "
	    "counter\n"));
	ck_assert_ptr_nonnull(strstr(text, "# TYPE ferry_kube_requests_total"
	    " counter\n"));
	ck_assert_ptr_nonnull(strstr(text, "# TYPE ferry_reports_total "
	    "counter\n"));
	ck_assert_ptr_nonnull(strstr(text, "# TYPE ferry_run_duration_seconds"
	    " histogram\n"));
	ck_assert_ptr_nonnull(strstr(text, "# TYPE "
	    "ferry_step_duration_seconds histogram\n"));
	ck_assert_ptr_nonnull(strstr(text, "# TYPE ferry_queue_depth "
	    "gauge\n"));
	ck_assert_ptr_nonnull(strstr(text, "# TYPE ferry_steps_running "
	    "gauge\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nferry_build_info{version=\""));
	ck_assert(sample(text, "process_resident_memory_bytes") > 1024);
	ck_assert(sample(text, "process_open_fds") >= 3);
	ck_assert(sample(text, "ferry_queue_depth") == 3);
	ck_assert(sample(text, "ferry_steps_running") == -2);
	ck_assert(sample(text, "ferry_webhooks_total{provider=\"github\","
	    "result=\"accepted\"}") == 1);
	/* Series that never moved are there, at zero. */
	ck_assert(sample(text, "ferry_webhooks_total{provider=\"gitlab\","
	    "result=\"too_large\"}") == 0);
	ck_assert(sample(text, "ferry_reports_total{kind=\"notify\","
	    "result=\"retry\"}") == 1);
	ck_assert(sample(text, "ferry_kube_requests_total{code=\"201\"}") ==
	    1);
	ck_assert(sample(text, "ferry_runs_total{status=\"failed\"}") == 1);
	ck_assert(sample(text, "ferry_runs_total{status=\"succeeded\"}") == 0);
	free(text);
}
END_TEST

START_TEST(counters_by_label)
{
	int	i;

	for (i = 0; i < 3; i++)
		metrics_inc(METRICS_WEBHOOKS, "gitlab", "unauthorized");
	metrics_inc(METRICS_WEBHOOKS, "github", "unauthorized");
	ck_assert_uint_eq(metrics_counter(METRICS_WEBHOOKS, "gitlab",
	    "unauthorized"), 3);
	ck_assert_uint_eq(metrics_counter(METRICS_WEBHOOKS, "github",
	    "unauthorized"), 1);
	ck_assert_uint_eq(metrics_counter(METRICS_WEBHOOKS, "gitlab",
	    "invalid"), 0);
	ck_assert_uint_eq(metrics_counter(METRICS_WEBHOOKS, "github",
	    "error"), 0);
	metrics_inc(METRICS_REPORTS, "status", "failed");
	ck_assert_uint_eq(metrics_counter(METRICS_REPORTS, "status",
	    "failed"), 1);
	ck_assert_uint_eq(metrics_counter(METRICS_REPORTS, "notify",
	    "failed"), 0);
}
END_TEST

START_TEST(code_label_catch_all)
{
	char	*text;

	metrics_inc(METRICS_KUBE_REQUESTS, "418", NULL);
	metrics_inc(METRICS_KUBE_REQUESTS, "599", NULL);
	metrics_inc(METRICS_KUBE_REQUESTS, "error", NULL);
	metrics_inc(METRICS_KUBE_REQUESTS, "410", NULL);
	ck_assert_uint_eq(metrics_counter(METRICS_KUBE_REQUESTS, "other",
	    NULL), 2);
	ck_assert_uint_eq(metrics_counter(METRICS_KUBE_REQUESTS, "error",
	    NULL), 1);
	ck_assert_uint_eq(metrics_counter(METRICS_KUBE_REQUESTS, "410",
	    NULL), 1);
	text = scrape();
	ck_assert(sample(text, "ferry_kube_requests_total{code=\"other\"}") ==
	    2);
	ck_assert_ptr_null(strstr(text, "code=\"418\""));
	free(text);
}
END_TEST

START_TEST(unknown_label_value_is_a_bug)
{
	metrics_inc(METRICS_WEBHOOKS, "bitbucket", "accepted");
}
END_TEST

START_TEST(wrong_kind_is_a_bug)
{
	metrics_gauge_add(METRICS_RUNS, 1);
}
END_TEST

START_TEST(gauges)
{
	metrics_gauge_add(METRICS_STEPS_RUNNING, 1);
	metrics_gauge_add(METRICS_STEPS_RUNNING, 1);
	metrics_gauge_add(METRICS_STEPS_RUNNING, -1);
	ck_assert_int_eq(metrics_gauge(METRICS_STEPS_RUNNING), 1);
	metrics_gauge_set(METRICS_QUEUE_DEPTH, 42);
	metrics_gauge_set(METRICS_QUEUE_DEPTH, 7);
	ck_assert_int_eq(metrics_gauge(METRICS_QUEUE_DEPTH), 7);
}
END_TEST

START_TEST(histogram_buckets)
{
	char		*text;
	uint64_t	 sum;

	metrics_observe_ms(METRICS_STEP_DURATION, 50);		/* 0.1 */
	metrics_observe_ms(METRICS_STEP_DURATION, 100);		/* 0.1: le */
	metrics_observe_ms(METRICS_STEP_DURATION, 700);		/* 1 */
	metrics_observe_ms(METRICS_STEP_DURATION, 7200000);	/* +Inf */
	metrics_observe_ms(METRICS_STEP_DURATION, -5);		/* 0 */
	ck_assert_uint_eq(metrics_hist_count(METRICS_STEP_DURATION, &sum), 5);
	ck_assert_uint_eq(sum, 50 + 100 + 700 + 7200000);
	ck_assert_uint_eq(metrics_hist_count(METRICS_RUN_DURATION, NULL), 0);
	text = scrape();
	ck_assert(sample(text, "ferry_step_duration_seconds_bucket"
	    "{le=\"0.1\"}") == 3);
	ck_assert(sample(text, "ferry_step_duration_seconds_bucket"
	    "{le=\"0.5\"}") == 3);
	ck_assert(sample(text, "ferry_step_duration_seconds_bucket"
	    "{le=\"1\"}") == 4);
	ck_assert(sample(text, "ferry_step_duration_seconds_bucket"
	    "{le=\"3600\"}") == 4);
	ck_assert(sample(text, "ferry_step_duration_seconds_bucket"
	    "{le=\"+Inf\"}") == 5);
	ck_assert(sample(text, "ferry_step_duration_seconds_count") == 5);
	ck_assert_ptr_nonnull(strstr(text,
	    "\nferry_step_duration_seconds_sum 7200.850\n"));
	ck_assert(sample(text, "ferry_run_duration_seconds_count") == 0);
	ck_assert_ptr_null(exposition_check(text));
	free(text);
}
END_TEST

START_TEST(format_respects_the_ceiling)
{
	struct buf	b;

	buf_init(&b, 100);
	ck_assert_int_eq(metrics_format(&b), ERR_TOOBIG);
	ck_assert_uint_le(b.len, 100);
	buf_dispose(&b);
}
END_TEST

#define NTHREADS	4
#define NINC		100000

static void *
inc_main(void *arg)
{
	int	i;

	(void)arg;
	for (i = 0; i < NINC; i++) {
		metrics_inc(METRICS_RUNS, "succeeded", NULL);
		metrics_gauge_add(METRICS_STEPS_RUNNING, 1);
		metrics_observe_ms(METRICS_RUN_DURATION, 2000);
		metrics_gauge_add(METRICS_STEPS_RUNNING, -1);
	}
	return NULL;
}

START_TEST(exact_under_concurrency)
{
	pthread_t	t[NTHREADS];
	uint64_t	sum;
	int		i;

	for (i = 0; i < NTHREADS; i++)
		pthread_create(&t[i], NULL, inc_main, NULL);
	for (i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	ck_assert_uint_eq(metrics_counter(METRICS_RUNS, "succeeded", NULL),
	    NTHREADS * NINC);
	ck_assert_int_eq(metrics_gauge(METRICS_STEPS_RUNNING), 0);
	ck_assert_uint_eq(metrics_hist_count(METRICS_RUN_DURATION, &sum),
	    NTHREADS * NINC);
	ck_assert_uint_eq(sum, 2000ULL * NTHREADS * NINC);
}
END_TEST

Suite *
test_suite(void)
{
	Suite	*s = suite_create("metrics");
	TCase	*tc;

	tc = tcase_create("exposition");
	tcase_add_test(tc, checker_rejects_bad_text);
	tcase_add_test(tc, exposition_is_valid);
	tcase_add_test(tc, format_respects_the_ceiling);
	suite_add_tcase(s, tc);
	tc = tcase_create("counters");
	tcase_add_test(tc, counters_by_label);
	tcase_add_test(tc, code_label_catch_all);
	tcase_add_test_raise_signal(tc, unknown_label_value_is_a_bug,
	    SIGABRT);
	tcase_add_test_raise_signal(tc, wrong_kind_is_a_bug, SIGABRT);
	suite_add_tcase(s, tc);
	tc = tcase_create("gauges");
	tcase_add_test(tc, gauges);
	suite_add_tcase(s, tc);
	tc = tcase_create("histograms");
	tcase_add_test(tc, histogram_buckets);
	suite_add_tcase(s, tc);
	tc = tcase_create("concurrency");
	tcase_add_test(tc, exact_under_concurrency);
	suite_add_tcase(s, tc);
	return s;
}

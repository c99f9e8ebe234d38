#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "worker.h"

/* A shared queue of numbered jobs, claimed under a lock like the runs. */
struct queue {
	pthread_mutex_t	mtx;
	int		next;		/* next job to hand out */
	int		total;		/* jobs available */
	int		done[1000];	/* times each job ran */
	atomic_int	ctx_live;
	atomic_int	ctx_made;
};

static struct queue	q;

static void *
ctx_new(void *arg, int index)
{
	(void)index;
	atomic_fetch_add(&q.ctx_live, 1);
	atomic_fetch_add(&q.ctx_made, 1);
	return arg;
}

static void
ctx_free(void *ctx)
{
	(void)ctx;
	atomic_fetch_sub(&q.ctx_live, 1);
}

static int
run(void *ctx)
{
	int	job = -1;

	(void)ctx;
	pthread_mutex_lock(&q.mtx);
	if (q.next < q.total)
		job = q.next++;
	pthread_mutex_unlock(&q.mtx);
	if (job < 0)
		return 0;
	usleep(1000);
	pthread_mutex_lock(&q.mtx);
	q.done[job]++;
	pthread_mutex_unlock(&q.mtx);
	return 1;
}

static int
jobs_done(void)
{
	int	i, n = 0;

	pthread_mutex_lock(&q.mtx);
	for (i = 0; i < q.total; i++)
		n += q.done[i] > 0;
	pthread_mutex_unlock(&q.mtx);
	return n;
}

static void
setup(void)
{
	pthread_mutex_init(&q.mtx, NULL);
	q.next = q.total = 0;
	for (int i = 0; i < 1000; i++)
		q.done[i] = 0;
	atomic_init(&q.ctx_live, 0);
	atomic_init(&q.ctx_made, 0);
}

static struct worker_pool *
start(int threads, int poll_ms)
{
	struct worker_pool	*wp;
	struct worker_opts	 o = {
		.threads = threads, .poll_ms = poll_ms, .ctx_new = ctx_new,
		.run = run, .ctx_free = ctx_free, .arg = &q,
	};

	ck_assert_int_eq(worker_pool_start(&wp, &o), 0);
	return wp;
}

START_TEST(each_job_once)
{
	struct worker_pool	*wp = start(4, 60000);
	int64_t			 deadline;
	int			 i;

	pthread_mutex_lock(&q.mtx);
	q.total = 500;
	pthread_mutex_unlock(&q.mtx);
	worker_wake(wp);
	deadline = time_mono_ms() + 20000;
	while (jobs_done() < 500 && time_mono_ms() < deadline)
		usleep(5000);
	worker_pool_stop(wp);
	for (i = 0; i < 500; i++)
		ck_assert_int_eq(q.done[i], 1);
	ck_assert_int_eq(atomic_load(&q.ctx_made), 4);
	ck_assert_int_eq(atomic_load(&q.ctx_live), 0);
}
END_TEST

/* With a one-minute safety poll, only the wake-up can explain speed. */
START_TEST(wake_is_prompt)
{
	struct worker_pool	*wp = start(2, 60000);
	int64_t			 t0, deadline;

	usleep(100000);		/* both workers asleep */
	t0 = time_mono_ms();
	pthread_mutex_lock(&q.mtx);
	q.total = 1;
	pthread_mutex_unlock(&q.mtx);
	worker_wake(wp);
	deadline = t0 + 10000;
	while (jobs_done() < 1 && time_mono_ms() < deadline)
		usleep(1000);
	ck_assert_int_eq(jobs_done(), 1);
	ck_assert_int_lt(time_mono_ms() - t0, 10000);
	worker_pool_stop(wp);
}
END_TEST

/* Without a wake-up, the safety-net poll still finds the work. */
START_TEST(poll_finds_unannounced_work)
{
	struct worker_pool	*wp = start(1, 100);
	int64_t			 deadline;

	usleep(50000);
	pthread_mutex_lock(&q.mtx);
	q.total = 3;
	pthread_mutex_unlock(&q.mtx);
	deadline = time_mono_ms() + 10000;
	while (jobs_done() < 3 && time_mono_ms() < deadline)
		usleep(5000);
	ck_assert_int_eq(jobs_done(), 3);
	worker_pool_stop(wp);
}
END_TEST

START_TEST(stop_joins_sleepers)
{
	struct worker_pool	*wp = start(3, 60000);

	usleep(50000);
	worker_pool_stop(wp);	/* would hang a minute if not woken */
	ck_assert_int_eq(atomic_load(&q.ctx_live), 0);
}
END_TEST

Suite *
test_suite(void)
{
	Suite	*s = suite_create("worker");
	TCase	*tc;

	tc = tcase_create("each_job_once");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, each_job_once);
	suite_add_tcase(s, tc);
	tc = tcase_create("wake_is_prompt");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, wake_is_prompt);
	suite_add_tcase(s, tc);
	tc = tcase_create("poll_finds_unannounced_work");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, poll_finds_unannounced_work);
	suite_add_tcase(s, tc);
	tc = tcase_create("stop_joins_sleepers");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, stop_joins_sleepers);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}

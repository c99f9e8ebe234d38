/*
 * Tests of the event ring: the SSE chunk format, order, several readers,
 * resuming from a cursor, falling behind (reset), the subscriber bound,
 * waiting with a timeout, close, and publishers racing each other.
 */
#include <check.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "util.h"

/* Reads the next event, which must be there now; checks its id. */
static char *
next_now(struct events_sub *sub, int64_t want_id)
{
	char	*text;
	size_t	 len;
	int64_t	 id;

	ck_assert_int_eq(events_next(&text, &len, &id, sub, 0), EVENTS_EVENT);
	ck_assert_ptr_nonnull(text);
	ck_assert_int_eq(id, want_id);
	ck_assert_uint_eq(len, strlen(text));
	return text;
}

static void
expect_next(struct events_sub *sub, int64_t id, const char *data)
{
	char	*text = next_now(sub, id), *want;

	want = xasprintf("id: %" PRId64 "\nevent: run\ndata: %s\n\n", id,
	    data);
	ck_assert_str_eq(text, want);
	free(want);
	free(text);
}

static void
expect_status(struct events_sub *sub, enum events_next want)
{
	char	*text = (char *)"x";

	ck_assert_int_eq(events_next(&text, NULL, NULL, sub, 0), want);
	ck_assert_ptr_null(text);
}

START_TEST(format_single_and_multiline)
{
	struct events		*ev = events_new(8, 4, 100);
	struct events_sub	*sub;
	char			*text;

	ck_assert_int_eq(events_last_id(ev), 99);
	ck_assert_int_eq(events_subscribe(&sub, ev, -1), 0);
	ck_assert_int_eq(events_publish(ev, "run", "{\"a\":1}"), 100);
	ck_assert_int_eq(events_publish(ev, "log", "one\r\ntwo\nthree"), 101);
	ck_assert_int_eq(events_publish(ev, "run", ""), 102);
	ck_assert_int_eq(events_last_id(ev), 102);
	expect_next(sub, 100, "{\"a\":1}");
	text = next_now(sub, 101);
	ck_assert_str_eq(text, "id: 101\nevent: log\ndata: one\ndata: two\n"
	    "data: three\n\n");
	free(text);
	text = next_now(sub, 102);
	ck_assert_str_eq(text, "id: 102\nevent: run\ndata: \n\n");
	free(text);
	expect_status(sub, EVENTS_TIMEOUT);
	events_unsubscribe(sub);
	events_free(ev);
}
END_TEST

START_TEST(order_and_several_readers)
{
	struct events		*ev = events_new(64, 4, 1);
	struct events_sub	*a, *b;
	char			 data[16];
	int			 i;

	ck_assert_int_eq(events_subscribe(&a, ev, -1), 0);
	ck_assert_int_eq(events_subscribe(&b, ev, -1), 0);
	ck_assert_uint_eq(events_subscribers(ev), 2);
	for (i = 1; i <= 10; i++) {
		snprintf(data, sizeof(data), "%d", i);
		ck_assert_int_eq(events_publish(ev, "run", data), i);
	}
	/* Each reader sees all of them, in order, at its own pace. */
	for (i = 1; i <= 10; i++) {
		snprintf(data, sizeof(data), "%d", i);
		expect_next(a, i, data);
	}
	expect_status(a, EVENTS_TIMEOUT);
	for (i = 1; i <= 5; i++) {
		snprintf(data, sizeof(data), "%d", i);
		expect_next(b, i, data);
	}
	ck_assert_int_eq(events_publish(ev, "run", "11"), 11);
	expect_next(a, 11, "11");
	for (i = 6; i <= 11; i++) {
		snprintf(data, sizeof(data), "%d", i);
		expect_next(b, i, data);
	}
	events_unsubscribe(a);
	events_unsubscribe(b);
	ck_assert_uint_eq(events_subscribers(ev), 0);
	events_free(ev);
}
END_TEST

START_TEST(resume_from_cursor)
{
	struct events		*ev = events_new(16, 4, 1);
	struct events_sub	*sub;
	char			 data[16];
	int			 i;

	for (i = 1; i <= 10; i++) {
		snprintf(data, sizeof(data), "e%d", i);
		events_publish(ev, "run", data);
	}
	/* Last-Event-ID 6: 7..10 follow, without gaps. */
	ck_assert_int_eq(events_subscribe(&sub, ev, 6), 0);
	for (i = 7; i <= 10; i++) {
		snprintf(data, sizeof(data), "e%d", i);
		expect_next(sub, i, data);
	}
	expect_status(sub, EVENTS_TIMEOUT);
	events_unsubscribe(sub);
	/* Up to date: nothing to replay. */
	ck_assert_int_eq(events_subscribe(&sub, ev, 10), 0);
	expect_status(sub, EVENTS_TIMEOUT);
	events_unsubscribe(sub);
	/* No id: only what comes next. */
	ck_assert_int_eq(events_subscribe(&sub, ev, -1), 0);
	expect_status(sub, EVENTS_TIMEOUT);
	events_publish(ev, "run", "e11");
	expect_next(sub, 11, "e11");
	events_unsubscribe(sub);
	/* 0 with nothing lost yet (first id 1): everything. */
	ck_assert_int_eq(events_subscribe(&sub, ev, 0), 0);
	expect_next(sub, 1, "e1");
	events_unsubscribe(sub);
	events_free(ev);
}
END_TEST

START_TEST(reset_when_cursor_left_the_ring)
{
	struct events		*ev = events_new(4, 4, 1);
	struct events_sub	*sub, *slow;
	char			 data[16];
	int			 i;

	ck_assert_int_eq(events_subscribe(&slow, ev, -1), 0);
	for (i = 1; i <= 10; i++) {
		snprintf(data, sizeof(data), "e%d", i);
		events_publish(ev, "run", data);
	}
	/* 7..10 are kept: a cursor at 6 needs nothing lost. */
	ck_assert_int_eq(events_subscribe(&sub, ev, 6), 0);
	expect_next(sub, 7, "e7");
	events_unsubscribe(sub);
	/* At 5, event 6 is gone: reset, then only new events. */
	ck_assert_int_eq(events_subscribe(&sub, ev, 5), 0);
	expect_status(sub, EVENTS_RESET);
	expect_status(sub, EVENTS_TIMEOUT);
	/* A reader that fell behind while subscribed is told the same. */
	expect_status(slow, EVENTS_RESET);
	events_publish(ev, "run", "e11");
	expect_next(sub, 11, "e11");
	expect_next(slow, 11, "e11");
	events_unsubscribe(sub);
	events_unsubscribe(slow);
	events_free(ev);
}
END_TEST

/*
 * A skipped event (nobody was subscribed) uses up its id; a cursor
 * before it resets, one at or after it reads on without a hole.
 */
START_TEST(reset_after_skipped_event)
{
	struct events		*ev = events_new(16, 4, 1);
	struct events_sub	*sub;

	events_publish(ev, "run", "e1");
	events_publish(ev, "run", "e2");
	ck_assert_int_eq(events_skip(ev), 3);
	ck_assert_int_eq(events_last_id(ev), 3);
	events_publish(ev, "run", "e4");
	/* Last-Event-ID 1 or 2: event 3 is missing, so a reset. */
	ck_assert_int_eq(events_subscribe(&sub, ev, 1), 0);
	expect_status(sub, EVENTS_RESET);
	expect_status(sub, EVENTS_TIMEOUT);
	events_unsubscribe(sub);
	ck_assert_int_eq(events_subscribe(&sub, ev, 2), 0);
	expect_status(sub, EVENTS_RESET);
	events_unsubscribe(sub);
	/* At 3: nothing lost, 4 follows. */
	ck_assert_int_eq(events_subscribe(&sub, ev, 3), 0);
	expect_next(sub, 4, "e4");
	/* A subscriber's cursor before a skip resets too. */
	ck_assert_int_eq(events_skip(ev), 5);
	expect_status(sub, EVENTS_RESET);
	events_publish(ev, "run", "e6");
	expect_next(sub, 6, "e6");
	events_unsubscribe(sub);
	events_free(ev);
}
END_TEST

START_TEST(watched_while_subscribed_and_after)
{
	struct events		*ev = events_new(4, 4, 1);
	struct events_sub	*sub;

	ck_assert(!events_watched(ev, 60000));
	ck_assert_int_eq(events_subscribe(&sub, ev, -1), 0);
	ck_assert(events_watched(ev, 0));
	events_unsubscribe(sub);
	/* Gone: still watched for a while, then not. */
	ck_assert(events_watched(ev, 60000));
	ck_assert(!events_watched(ev, 0));
	events_free(ev);
}
END_TEST

START_TEST(reset_for_id_of_another_process)
{
	struct events		*ev = events_new(8, 4, 1000);
	struct events_sub	*sub;

	/* Before this process' first id, nothing published yet. */
	ck_assert_int_eq(events_subscribe(&sub, ev, 12), 0);
	expect_status(sub, EVENTS_RESET);
	events_unsubscribe(sub);
	events_publish(ev, "run", "x");
	/* Newer than anything published (a clock that went back). */
	ck_assert_int_eq(events_subscribe(&sub, ev, 5000), 0);
	expect_status(sub, EVENTS_RESET);
	expect_status(sub, EVENTS_TIMEOUT);
	events_publish(ev, "run", "y");
	expect_next(sub, 1001, "y");
	events_unsubscribe(sub);
	events_free(ev);
}
END_TEST

START_TEST(max_subscribers)
{
	struct events		*ev = events_new(4, 3, 1);
	struct events_sub	*s[3], *extra = (struct events_sub *)1;
	int			 i;

	for (i = 0; i < 3; i++)
		ck_assert_int_eq(events_subscribe(&s[i], ev, -1), 0);
	ck_assert_int_eq(events_subscribe(&extra, ev, -1), ERR_BUSY);
	ck_assert_ptr_null(extra);
	ck_assert_str_eq(err_msg(), "too many event stream clients "
	    "(at most 3)");
	events_unsubscribe(s[1]);
	ck_assert_int_eq(events_subscribe(&s[1], ev, -1), 0);
	ck_assert_int_eq(events_subscribe(&extra, ev, -1), ERR_BUSY);
	for (i = 0; i < 3; i++)
		events_unsubscribe(s[i]);
	events_unsubscribe(NULL);
	events_free(ev);
	events_free(NULL);
}
END_TEST

struct delayed {
	struct events	*ev;
	int		 delay_ms;
	bool		 close;
};

static void *
delayed_main(void *arg)
{
	struct delayed	*d = arg;
	struct timespec	 ts = { 0, d->delay_ms * 1000000L };

	nanosleep(&ts, NULL);
	if (d->close)
		events_close(d->ev);
	else
		events_publish(d->ev, "run", "late");
	return NULL;
}

START_TEST(wait_timeout_and_wakeup)
{
	struct events		*ev = events_new(4, 4, 1);
	struct events_sub	*sub;
	struct delayed		 d = { ev, 150, false };
	pthread_t		 t;
	char			*text;
	int64_t			 t0, id;

	ck_assert_int_eq(events_subscribe(&sub, ev, -1), 0);
	t0 = time_mono_ms();
	ck_assert_int_eq(events_next(&text, NULL, NULL, sub, 200),
	    EVENTS_TIMEOUT);
	ck_assert_int_ge(time_mono_ms() - t0, 190);
	ck_assert_int_lt(time_mono_ms() - t0, 2000);
	/* A publish wakes a waiting reader well before its timeout. */
	pthread_create(&t, NULL, delayed_main, &d);
	t0 = time_mono_ms();
	ck_assert_int_eq(events_next(&text, NULL, &id, sub, 5000),
	    EVENTS_EVENT);
	ck_assert_int_lt(time_mono_ms() - t0, 2500);
	ck_assert_int_eq(id, 1);
	ck_assert_str_eq(text, "id: 1\nevent: run\ndata: late\n\n");
	free(text);
	pthread_join(t, NULL);
	/* So does close, for good. */
	d.close = true;
	pthread_create(&t, NULL, delayed_main, &d);
	t0 = time_mono_ms();
	ck_assert_int_eq(events_next(&text, NULL, NULL, sub, 5000),
	    EVENTS_CLOSED);
	ck_assert_int_lt(time_mono_ms() - t0, 2500);
	pthread_join(t, NULL);
	events_publish(ev, "run", "after close");
	expect_status(sub, EVENTS_CLOSED);
	events_unsubscribe(sub);
	events_free(ev);
}
END_TEST

#define NPUB	4
#define NEACH	2000

struct pub {
	struct events	*ev;
	int		 k;
	int64_t		 ids[NEACH];
};

static void *
pub_main(void *arg)
{
	struct pub	*p = arg;
	char		 data[32];
	int		 i;

	for (i = 0; i < NEACH; i++) {
		snprintf(data, sizeof(data), "%d %d", p->k, i);
		p->ids[i] = events_publish(p->ev, "run", data);
	}
	return NULL;
}

struct reader {
	struct events_sub	*sub;
	int			 seen;
	int			 resets;
	int			 next[NPUB];	/* next i expected of each k */
	bool			 ok;
	int64_t			 last;
};

static void *
reader_main(void *arg)
{
	struct reader	*r = arg;
	char		*text, *p;
	int64_t		 id;
	int		 k, i;

	r->ok = true;
	while (r->seen < NPUB * NEACH) {
		switch (events_next(&text, NULL, &id, r->sub, 2000)) {
		case EVENTS_EVENT:
			/* Strictly increasing ids, each publisher in order. */
			if (id <= r->last)
				r->ok = false;
			r->last = id;
			p = strstr(text, "data: ");
			if (p == NULL || sscanf(p, "data: %d %d", &k, &i) !=
			    2 || k < 0 || k >= NPUB || i < r->next[k])
				r->ok = false;
			else
				r->next[k] = i + 1;
			free(text);
			r->seen++;
			break;
		case EVENTS_RESET:
			r->resets++;
			return NULL;
		case EVENTS_TIMEOUT:
		case EVENTS_CLOSED:
			return NULL;
		}
	}
	return NULL;
}

START_TEST(concurrent_publishers)
{
	struct events	*ev = events_new(NPUB * NEACH, 4, 1);
	struct pub	*p = xcalloc(NPUB, sizeof(*p));
	struct reader	 r = { 0 };
	pthread_t	 t[NPUB], rt;
	char		*seen = xcalloc(NPUB * NEACH + 1, 1);
	int		 k, i;

	ck_assert_int_eq(events_subscribe(&r.sub, ev, -1), 0);
	pthread_create(&rt, NULL, reader_main, &r);
	for (k = 0; k < NPUB; k++) {
		p[k].ev = ev;
		p[k].k = k;
		pthread_create(&t[k], NULL, pub_main, &p[k]);
	}
	for (k = 0; k < NPUB; k++)
		pthread_join(t[k], NULL);
	pthread_join(rt, NULL);
	/* Ids are 1..N, each given once, increasing per publisher. */
	for (k = 0; k < NPUB; k++) {
		for (i = 0; i < NEACH; i++) {
			ck_assert_int_ge(p[k].ids[i], 1);
			ck_assert_int_le(p[k].ids[i], NPUB * NEACH);
			ck_assert_int_eq(seen[p[k].ids[i]], 0);
			seen[p[k].ids[i]] = 1;
			if (i > 0)
				ck_assert_int_gt(p[k].ids[i], p[k].ids[i - 1]);
		}
	}
	ck_assert_int_eq(events_last_id(ev), NPUB * NEACH);
	/* The ring held everything: the reader saw all, in order. */
	ck_assert(r.ok);
	ck_assert_int_eq(r.resets, 0);
	ck_assert_int_eq(r.seen, NPUB * NEACH);
	for (k = 0; k < NPUB; k++)
		ck_assert_int_eq(r.next[k], NEACH);
	events_unsubscribe(r.sub);
	events_free(ev);
	free(seen);
	free(p);
}
END_TEST

START_TEST(publishers_never_wait_for_a_slow_reader)
{
	struct events		*ev = events_new(8, 4, 1);
	struct events_sub	*sub;
	struct pub		*p = xcalloc(NPUB, sizeof(*p));
	pthread_t		 t[NPUB];
	int64_t			 t0;
	int			 k;

	/* A reader that never reads: publishing still completes. */
	ck_assert_int_eq(events_subscribe(&sub, ev, -1), 0);
	t0 = time_mono_ms();
	for (k = 0; k < NPUB; k++) {
		p[k].ev = ev;
		p[k].k = k;
		pthread_create(&t[k], NULL, pub_main, &p[k]);
	}
	for (k = 0; k < NPUB; k++)
		pthread_join(t[k], NULL);
	ck_assert_int_lt(time_mono_ms() - t0, 20000);
	ck_assert_int_eq(events_last_id(ev), NPUB * NEACH);
	expect_status(sub, EVENTS_RESET);
	expect_status(sub, EVENTS_TIMEOUT);
	events_unsubscribe(sub);
	events_free(ev);
	free(p);
}
END_TEST

Suite *
test_suite(void)
{
	Suite	*s = suite_create("events");
	TCase	*tc;

	tc = tcase_create("format");
	tcase_add_test(tc, format_single_and_multiline);
	suite_add_tcase(s, tc);
	tc = tcase_create("order");
	tcase_add_test(tc, order_and_several_readers);
	suite_add_tcase(s, tc);
	tc = tcase_create("resume");
	tcase_add_test(tc, resume_from_cursor);
	suite_add_tcase(s, tc);
	tc = tcase_create("reset");
	tcase_add_test(tc, reset_when_cursor_left_the_ring);
	tcase_add_test(tc, reset_for_id_of_another_process);
	tcase_add_test(tc, reset_after_skipped_event);
	suite_add_tcase(s, tc);
	tc = tcase_create("subscribers");
	tcase_add_test(tc, max_subscribers);
	tcase_add_test(tc, watched_while_subscribed_and_after);
	suite_add_tcase(s, tc);
	tc = tcase_create("wait");
	tcase_add_test(tc, wait_timeout_and_wakeup);
	suite_add_tcase(s, tc);
	tc = tcase_create("concurrency");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, concurrent_publishers);
	tcase_add_test(tc, publishers_never_wait_for_a_slow_reader);
	suite_add_tcase(s, tc);
	return s;
}

/*
 * test_workpool.c — api/workpool.c: every job's fn runs once off the
 * loop thread (inline with zero threads), its done once on the loop
 * thread after it; jobs still queued when the pool is freed are run and
 * then delivered as cancelled; and several threads really run at once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "api/workpool.h"

#define NJOBS	2000

struct job {
	pthread_t	 ran_on;
	int		 ran, done, cancelled;
	long		 value, square;
};

static pthread_t	 loop_thread;
static int		 ndone;
static atomic_int	 running, most_running;

static void
enter(void)
{
	int	 now = atomic_fetch_add(&running, 1) + 1;
	int	 seen = atomic_load(&most_running);

	while (now > seen &&
	    !atomic_compare_exchange_weak(&most_running, &seen, now))
		;
}

static void
compute(struct job *j)
{
	j->ran_on = pthread_self();
	j->ran++;
	j->square = j->value * j->value;
}

static void
fn(void *arg)
{
	enter();
	compute(arg);
	atomic_fetch_sub(&running, 1);
}

/* Slow enough that two threads overlap if there are two. */
static void
slow_fn(void *arg)
{
	const struct timespec	 ms = { 0, 2000000 };

	enter();
	compute(arg);
	nanosleep(&ms, NULL);
	atomic_fetch_sub(&running, 1);
}

static void
done(void *arg, int cancelled)
{
	struct job	*j = arg;

	/* done runs on the loop thread, after fn (unless cancelled). */
	assert_true(pthread_equal(pthread_self(), loop_thread));
	if (!cancelled)
		assert_int_equal(j->ran, 1);
	assert_true(j->ran <= 1);
	j->done++;
	j->cancelled += cancelled;
	ndone++;
}

static void
on_timeout(evutil_socket_t fd, short ev, void *arg)
{
	(void)fd, (void)ev;
	event_base_loopbreak(arg);
}

/* Runs the loop until every job is delivered, or 10 s have gone. */
static void
loop_until(struct event_base *b, int want)
{
	struct timeval	 tick = { 0, 10000 };
	struct event	*t;
	int		 i;

	assert_non_null(t = evtimer_new(b, on_timeout, b));
	for (i = 0; i < 1000 && ndone < want; i++) {
		assert_int_equal(evtimer_add(t, &tick), 0);
		assert_int_not_equal(event_base_dispatch(b), -1);
	}
	event_free(t);
}

static void
run_jobs(int nthreads, work_fn f, int njobs)
{
	struct event_base	*b;
	struct workpool		*p;
	struct job		*jobs;
	char			 err[256];
	int			 i;

	ndone = 0;
	atomic_store(&most_running, 0);
	loop_thread = pthread_self();
	assert_non_null(b = event_base_new());
	assert_non_null(p = workpool_new(b, nthreads, err, sizeof(err)));
	assert_non_null(jobs = calloc(njobs, sizeof(*jobs)));
	for (i = 0; i < njobs; i++) {
		jobs[i].value = i;
		assert_int_equal(workpool_run(p, f, done, &jobs[i]), 0);
	}
	loop_until(b, njobs);
	for (i = 0; i < njobs; i++) {
		assert_int_equal(jobs[i].done, 1);
		assert_int_equal(jobs[i].cancelled, 0);
		assert_int_equal(jobs[i].square, (long)i * i);
		/* With threads, fn never runs on the loop; inline, always. */
		assert_int_equal(pthread_equal(jobs[i].ran_on, loop_thread),
		    nthreads == 0);
	}
	workpool_free(p);
	event_base_free(b);
	free(jobs);
}

static void
test_threads(void **state)
{
	(void)state;
	run_jobs(2, fn, NJOBS);
	run_jobs(WORKPOOL_MAX, fn, NJOBS);
}

static void
test_inline(void **state)
{
	(void)state;
	run_jobs(0, fn, 100);
	assert_int_equal(ndone, 100);
}

static void
test_parallel(void **state)
{
	(void)state;
	run_jobs(2, slow_fn, 40);
	assert_int_equal(atomic_load(&most_running), 2);
}

/*
 * Freed with work queued: the jobs running finish, the rest never start,
 * and every done comes once, saying cancelled.
 */
static void
test_free_cancels(void **state)
{
	struct event_base	*b;
	struct workpool		*p;
	struct job		 jobs[50];
	char			 err[256];
	int			 i, ran;

	(void)state;
	ndone = 0;
	loop_thread = pthread_self();
	memset(jobs, 0, sizeof(jobs));
	assert_non_null(b = event_base_new());
	assert_non_null(p = workpool_new(b, 1, err, sizeof(err)));
	for (i = 0; i < 50; i++)
		assert_int_equal(workpool_run(p, slow_fn, done, &jobs[i]), 0);
	{
		const struct timespec	 ms = { 0, 5000000 };

		nanosleep(&ms, NULL);	/* the thread is into the first jobs */
	}
	workpool_free(p);		/* the loop never ran */
	assert_int_equal(ndone, 50);
	for (i = 0, ran = 0; i < 50; i++) {
		assert_int_equal(jobs[i].done, 1);
		assert_int_equal(jobs[i].cancelled, 1);
		ran += jobs[i].ran;
	}
	/* 2 ms a job: some ran, most of the 100 ms of work never did. */
	assert_true(ran >= 1);
	assert_true(ran < 25);
	event_base_free(b);
}

static void
test_bad_count(void **state)
{
	struct event_base	*b;
	char			 err[256];

	(void)state;
	assert_non_null(b = event_base_new());
	assert_null(workpool_new(b, -1, err, sizeof(err)));
	assert_non_null(strstr(err, "want 0 to"));
	assert_null(workpool_new(b, WORKPOOL_MAX + 1, err, sizeof(err)));
	assert_true(workpool_default_threads() >= 1);
	assert_true(workpool_default_threads() <= WORKPOOL_MAX);
	workpool_free(NULL);
	event_base_free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_inline),
		cmocka_unit_test(test_parallel),
		cmocka_unit_test(test_free_cancels),
		cmocka_unit_test(test_bad_count),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

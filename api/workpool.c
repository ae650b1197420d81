/*
 * workpool.c — a fixed set of threads taking jobs from one queue.
 *
 * Finished jobs go on a done list, and the loop is woken once per batch:
 * when no job is left waiting to start (so no later finish is sure to
 * come), or when DONE_BATCH have finished. Under load the loop then takes
 * many at a time, and what it does with them goes on in batches too: one
 * write of many SIGN requests to the signer, whose workers and audit
 * syncs then cover more each. Woken as soon as the list was non-empty
 * (under load, about once a job), the front end spent ~10 % and the
 * signer ~25 % more CPU per certificate at c=32. A finished check waits
 * for at most DONE_BATCH - 1 others: a fraction of a millisecond.
 */
#include <sys/eventfd.h>
#include <sys/resource.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/workpool.h"

#define WORKPOOL_NICE	10
#define DONE_BATCH	16

struct work {
	work_fn		 fn;
	work_done	 done;
	void		*arg;
	struct work	*next;
};

struct workpool {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	struct work	*q, **qtail;		/* to run */
	struct work	*d, **dtail;		/* run, done not yet called */
	int		 nd;			/* on d */
	int		 woken;			/* the loop is to take d */
	int		 stop;
	int		 efd;
	struct event	*ev;
	pthread_t	 th[WORKPOOL_MAX];
	int		 nth;
};

static void
lock(struct workpool *p)
{
	if (pthread_mutex_lock(&p->mu) != 0)
		abort();
}

static void
unlock(struct workpool *p)
{
	if (pthread_mutex_unlock(&p->mu) != 0)
		abort();
}

static void *
worker(void *arg)
{
	struct workpool	*p = arg;
	struct work	*w;
	uint64_t	 one = 1;
	int		 wake;

	/*
	 * Below the loop, so that a waking loop thread gets a core at once:
	 * /health and the I/O of every connection wait on it, while a check
	 * that waits a little only delays its own request. Best effort.
	 */
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), WORKPOOL_NICE);
	for (;;) {
		lock(p);
		while (p->q == NULL && !p->stop)
			if (pthread_cond_wait(&p->cv, &p->mu) != 0)
				abort();
		if (p->stop) {		/* what is queued is cancelled unrun */
			unlock(p);
			return NULL;
		}
		w = p->q;
		if ((p->q = w->next) == NULL)
			p->qtail = &p->q;
		unlock(p);

		w->fn(w->arg);

		w->next = NULL;
		lock(p);
		*p->dtail = w;
		p->dtail = &w->next;
		/*
		 * A job still queued will finish on some thread, and that
		 * one wakes the loop if nothing else has: nothing waits
		 * for ever.
		 */
		wake = !p->woken && (p->q == NULL || ++p->nd >= DONE_BATCH);
		p->woken |= wake;
		unlock(p);
		/* A full counter only means a wakeup is pending already. */
		if (wake && write(p->efd, &one, sizeof(one)) == -1 &&
		    errno != EAGAIN)
			abort();
	}
}

/* The done list, taken whole. */
static struct work *
take_done(struct workpool *p)
{
	struct work	*w;

	lock(p);
	w = p->d;
	p->d = NULL;
	p->dtail = &p->d;
	p->nd = 0;
	p->woken = 0;
	unlock(p);
	return w;
}

static void
deliver(struct work *w, int cancelled)
{
	struct work	*next;

	for (; w != NULL; w = next) {
		next = w->next;
		w->done(w->arg, cancelled);
		free(w);
	}
}

static void
on_efd(evutil_socket_t fd, short ev, void *arg)
{
	struct workpool	*p = arg;
	uint64_t	 n;

	(void)ev;
	if (read(fd, &n, sizeof(n)) == -1 && errno != EAGAIN)
		fprintf(stderr, "p11ca-api: workpool: read: %s\n",
		    strerror(errno));
	deliver(take_done(p), 0);
}

int
workpool_default_threads(void)
{
	long	 n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > WORKPOOL_MAX ? WORKPOOL_MAX : (int)n;
}

struct workpool *
workpool_new(struct event_base *base, int nthreads, char *err, size_t errsz)
{
	struct workpool	*p;
	sigset_t	 all, old;
	int		 i, rc;

	if (nthreads < 0 || nthreads > WORKPOOL_MAX) {
		snprintf(err, errsz, "workpool: %d threads: want 0 to %d",
		    nthreads, WORKPOOL_MAX);
		return NULL;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		snprintf(err, errsz, "workpool: out of memory");
		return NULL;
	}
	p->qtail = &p->q;
	p->dtail = &p->d;
	p->efd = -1;
	if (nthreads == 0)
		return p;
	if (pthread_mutex_init(&p->mu, NULL) != 0) {
		free(p);
		snprintf(err, errsz, "workpool: pthread_mutex_init failed");
		return NULL;
	}
	if (pthread_cond_init(&p->cv, NULL) != 0) {
		pthread_mutex_destroy(&p->mu);
		free(p);
		snprintf(err, errsz, "workpool: pthread_cond_init failed");
		return NULL;
	}
	p->nth = -1;		/* the sync objects exist: destroy them */
	if ((p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1 ||
	    (p->ev = event_new(base, p->efd, EV_READ | EV_PERSIST, on_efd,
	    p)) == NULL || event_add(p->ev, NULL) == -1) {
		snprintf(err, errsz, "workpool: eventfd: %s", strerror(errno));
		workpool_free(p);
		return NULL;
	}
	/* Signals are the loop's (libevent's); the threads block them all. */
	sigfillset(&all);
	if (pthread_sigmask(SIG_SETMASK, &all, &old) != 0) {
		snprintf(err, errsz, "workpool: pthread_sigmask failed");
		workpool_free(p);
		return NULL;
	}
	p->nth = 0;
	for (i = 0; i < nthreads; i++) {
		if ((rc = pthread_create(&p->th[i], NULL, worker, p)) != 0) {
			snprintf(err, errsz, "workpool: pthread_create: %s",
			    strerror(rc));
			break;
		}
		p->nth++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (p->nth < nthreads) {
		workpool_free(p);
		return NULL;
	}
	return p;
}

int
workpool_run(struct workpool *p, work_fn fn, work_done done, void *arg)
{
	struct work	*w;

	if (p->nth == 0) {
		fn(arg);
		done(arg, 0);
		return 0;
	}
	if ((w = malloc(sizeof(*w))) == NULL)
		return -1;
	*w = (struct work){ .fn = fn, .done = done, .arg = arg };
	lock(p);
	*p->qtail = w;
	p->qtail = &w->next;
	pthread_cond_signal(&p->cv);
	unlock(p);
	return 0;
}

void
workpool_free(struct workpool *p)
{
	int	 i;

	if (p == NULL)
		return;
	if (p->nth != 0) {
		lock(p);
		p->stop = 1;
		pthread_cond_broadcast(&p->cv);
		unlock(p);
		for (i = 0; i < p->nth; i++)
			if (pthread_join(p->th[i], NULL) != 0)
				abort();
		/* Finished first, then never started: all cancelled. */
		deliver(take_done(p), 1);
		deliver(p->q, 1);
		p->q = NULL;
		p->qtail = &p->q;
		pthread_cond_destroy(&p->cv);
		pthread_mutex_destroy(&p->mu);
	}
	if (p->ev)
		event_free(p->ev);
	if (p->efd != -1)
		close(p->efd);
	free(p);
}

/*
 * workpool.h — CPU-bound, self-contained work (token and CSR signature
 * checks) on threads of its own, so that the event loop, which owns every
 * connection, the signer link and the store queue, is not the ceiling.
 *
 * A job's fn runs on a pool thread and must touch nothing but its own
 * argument and data nobody changes while it runs (OpenSSL keys, read-only
 * policy). Its done runs afterwards on the loop thread, in the order jobs
 * finish. With zero threads fn and done run at once, inline.
 */
#ifndef P11CA_WORKPOOL_H
#define P11CA_WORKPOOL_H

#include <stddef.h>

#include <event2/event.h>

#define WORKPOOL_MAX	16

struct workpool;

typedef void (*work_fn)(void *arg);
/*
 * cancelled: the pool is being freed, and fn may not have run; release
 * arg, start nothing new.
 */
typedef void (*work_done)(void *arg, int cancelled);

struct workpool	*workpool_new(struct event_base *base, int nthreads,
		    char *err, size_t errsz);
/* 0, or -1 (out of memory) having run neither fn nor done. */
int		 workpool_run(struct workpool *p, work_fn fn, work_done done,
		    void *arg);
/*
 * Lets the threads finish the jobs they are running, joins them, then
 * calls every undelivered done with cancelled set: those whose fn ran,
 * then those whose fn never will (a shutdown does no more checks than it
 * must). NULL is allowed.
 */
void		 workpool_free(struct workpool *p);
/* The number of threads a pool of "0 = automatic" gets: one per CPU. */
int		 workpool_default_threads(void);

#endif

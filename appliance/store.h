/*
 * store.h — the CA's durable state in SQLite (WAL): issued certificates
 * and used token ids. Writes are queued from the event loop to a writer
 * thread that commits them in groups (one fsync for many certificates)
 * and reports back on the loop; nothing is acknowledged before its
 * commit. PostgreSQL, for several front ends, is a second backend behind
 * this same interface later.
 */
#ifndef P11CA_STORE_H
#define P11CA_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <event2/event.h>

struct store;

struct store_cert {
	char		 serial[80];	/* lowercase hex */
	const uint8_t	*der;
	size_t		 derlen;
	char		 subject[256];
	char		 sans[2048];	/* comma-separated */
	time_t		 not_before, not_after;
	char		 provisioner[256];
	char		 jti[256];	/* also recorded as used */
};

/*
 * Every function here is for the event loop's thread (the one running
 * base); done callbacks run there too. store_close waits for the writer to
 * commit what is queued and reports it: call it at shutdown, not from a
 * done callback.
 */

/* Opens (creating and migrating) the database; the writer thread starts. */
struct store *store_open(const char *path, struct event_base *base,
	    char *err, size_t errsz);
void	store_close(struct store *s);

/*
 * Single-use token ids: 0 when jti was free and is now reserved, 1 when
 * it is used (or reserved by a request in flight), -1 on error. A
 * reservation becomes permanent with store_put_cert and is dropped with
 * store_jti_release (a request that failed before signing).
 */
int	store_jti_reserve(struct store *s, const char *jti);
void	store_jti_release(struct store *s, const char *jti);

/*
 * Queues the certificate (copied) and its jti; done(ok, arg) runs on the
 * event loop once the group holding it is committed (ok 1) or failed
 * (ok 0). Returns -1 when it cannot even be queued.
 * (Before done runs the jti is held: store_jti_release leaves it alone.
 * With ok 1 it is used for good; with ok 0 the store has released it,
 * unless the failure was that the jti is used already.)
 */
int	store_put_cert(struct store *s, const struct store_cert *c,
	    void (*done)(int ok, void *arg), void *arg);

/*
 * At most this many certificates put and not yet reported; beyond it
 * store_put_cert returns -1 (the disk is behind: answer 503).
 */
#define STORE_MAX_PENDING	16384

struct store_stats {
	uint64_t	 groups;	/* transactions begun */
	uint64_t	 commits;	/* of those, committed */
	uint64_t	 certs_ok;	/* reported with ok 1 */
	uint64_t	 certs_failed;	/* reported with ok 0 */
	char		 last_error[256]; /* the last failure (a group, a
					    checkpoint), or "" */
};

/* A snapshot of the writer's counters (tests, bench, metrics later). */
void	store_get_stats(struct store *s, struct store_stats *st);

/*
 * At most max certificates per transaction from now on; 0, the default,
 * is no limit, 1 is one transaction (one fsync) per certificate.
 */
void	store_set_group_max(struct store *s, size_t max);

#endif

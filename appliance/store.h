/*
 * store.h — the CA's durable state in SQLite (WAL): issued certificates
 * and used token ids. Writes are queued from the event loop to a writer
 * thread that commits them in groups (one fsync for many certificates)
 * and reports back on the loop; nothing is acknowledged before its
 * commit. Reads (a certificate by serial, the revoked list, the latest
 * CRL) are single indexed lookups on a read-only connection of the loop's. PostgreSQL, for several front ends, is a second backend behind
 * this same interface later.
 */
#ifndef P11CA_STORE_H
#define P11CA_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <event2/event.h>

struct store;

/*
 * A used jti is forgotten this long after its token's exp: past the
 * verifier's leeway (policy/token.h TOKEN_LEEWAY, 60 s) with room to spare.
 */
#define STORE_JTI_GRACE	300

/* Room for 64 SANs or principals of up to 255 bytes, comma-joined. */
#define STORE_SANS_MAX	(64 * 256 + 64)

/*
 * A certificate to store. It is some 17 KB, nearly all of it sans: start
 * one with store_cert_clear and copy one with store_cert_copy, which touch
 * only what is used (both name every field: keep them in step).
 */
struct store_cert {
	char		 serial[80];	/* lowercase hex */
	const uint8_t	*der;
	size_t		 derlen;
	char		 subject[256];
	char		 sans[STORE_SANS_MAX];	/* comma-separated */
	time_t		 not_before, not_after;
	char		 provisioner[256];
	char		 jti[256];	/* also recorded as used */
	time_t		 jti_exp;	/* its token's exp; 0: keep for ever */
	char		 renewed_from[80]; /* "" or the serial it renews */
	int		 ssh;		/* 1: an SSH certificate (subject is
					   its key id, sans its principals) */
	int		 ssh_type;	/* then 1 user, 2 host */
};

/* What a done callback is told. */
enum store_result {
	STORE_FAILED = 0,	/* the group failed (disk, I/O): 503 */
	STORE_OK = 1,
	STORE_DUP,		/* serial or jti used already */
	STORE_REVOKED,		/* renewed_from is revoked: nothing written */
	STORE_NOT_FOUND,	/* no such serial (to renew or revoke) */
	STORE_ALREADY,		/* revoked before */
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
 * Forgets, in memory, the used jtis whose tokens are past exp and the
 * grace (the database forgets them at the next open). The store does this
 * by itself, a slice a second; this is the whole pass at once, for tests.
 */
void	store_forget_expired(struct store *s);

/* See struct store_cert: an empty one, and a copy of what src uses. */
void	store_cert_clear(struct store_cert *c);
void	store_cert_copy(struct store_cert *dst, const struct store_cert *src);

/*
 * Queues the certificate (copied) and its jti; done(result, arg) runs on
 * the event loop once the group holding it is committed (STORE_OK) or
 * it was refused or failed (another store_result). Returns -1 when it
 * cannot even be queued. A renewal (renewed_from set) is written only if
 * the certificate it renews exists and is not revoked at that commit.
 * (Before done runs the jti is held: store_jti_release leaves it alone.
 * With STORE_OK it is used for good; otherwise the store has released it,
 * unless the refusal was that the jti is used already.)
 */
int	store_put_cert(struct store *s, const struct store_cert *c,
	    void (*done)(int result, void *arg), void *arg);

/* Revokes one certificate (X.509 or SSH), durably before done runs. */
struct store_revoke {
	char		 serial[80];
	int		 ssh;
	int		 reason;	/* RFC 5280 reasonCode */
	char		 reason_text[256];
	char		 jti[256];	/* "" or the token's, recorded used */
	time_t		 jti_exp;	/* its token's exp; 0: keep for ever */
};
int	store_put_revoke(struct store *s, const struct store_revoke *r,
	    void (*done)(int result, void *arg), void *arg);

/* Records a signed CRL; a number once written is never written again. */
int	store_put_crl(struct store *s, uint64_t number, const uint8_t *der,
	    size_t derlen, time_t this_update, time_t next_update,
	    void (*done)(int result, void *arg), void *arg);

/* One certificate as stored; der is malloc'ed (store_record_free). */
struct store_record {
	char		 serial[80];
	uint8_t		*der;
	size_t		 derlen;
	char		 subject[256];	/* SSH: key id */
	char		 sans[STORE_SANS_MAX];	/* SSH: principals */
	time_t		 not_before, not_after;
	char		 provisioner[256];
	time_t		 revoked_at;	/* 0: not revoked */
	int		 reason;
	char		 reason_text[256];
};
/* 0 found, 1 no such serial, -1 error. */
int	store_get(struct store *s, int ssh, const char *serial,
	    struct store_record *r);
void	store_record_free(struct store_record *r);

/* Revoked certificates not yet expired at now, by serial; *out malloc'ed. */
struct store_revoked {
	char		 serial[80];
	time_t		 at;
	int		 reason;
};
int	store_list_revoked(struct store *s, int ssh, time_t now,
	    struct store_revoked **out, size_t *n);

/* The CRL with the highest number: 0 found, 1 none yet, -1 error. */
struct store_crl {
	uint64_t	 number;
	uint8_t		*der;		/* malloc'ed */
	size_t		 derlen;
	time_t		 this_update, next_update;
};
int	store_latest_crl(struct store *s, struct store_crl *c);

/*
 * The principals (comma-separated, one string per certificate) of the
 * unrevoked SSH host certificates valid at now; each and *out malloc'ed.
 */
int	store_ssh_hosts(struct store *s, time_t now, char ***out, size_t *n);

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
/* store_close, and the counters once everything queued is written. */
void	store_close_stats(struct store *s, struct store_stats *st);

/*
 * At most max certificates per transaction from now on; 0, the default,
 * is no limit, 1 is one transaction (one fsync) per certificate.
 */
void	store_set_group_max(struct store *s, size_t max);

#endif

/*
 * store.c — SQLite (WAL) store with group commit.
 *
 * Two threads, one rule each:
 *
 *   event loop	 store_jti_reserve/release, store_put_cert, the result
 *		 callback and store_close. It owns the jti set and the
 *		 pending count without locks, and takes the queue mutex only
 *		 to append an item or to take the finished ones.
 *   writer	 owns the write connection. It takes everything queued since
 *		 its last commit, writes it in ONE transaction (so one WAL
 *		 fsync covers the whole group, synchronous=FULL) and hands the
 *		 group back through an eventfd the loop watches. Nothing is
 *		 reported before COMMIT has returned.
 *
 * The loop never touches the database after store_open; the writer never
 * touches libevent. A certificate whose own INSERTs break a constraint
 * (duplicate serial, used jti) is rolled back to its SAVEPOINT alone and the
 * rest of its group still commits; any other error fails the whole group
 * and the next group starts afresh.
 *
 * Used token ids are also kept in memory, a hash set filled at open, so that
 * store_jti_reserve never reads the disk: about 53 bytes plus the jti each
 * (a million 36-character jtis take 90 MB). Only jtis of tokens that could
 * still verify matter: each is recorded with the token's exp, and those
 * past it (and the leeway) are deleted at open and never loaded, and a
 * sweep of the set forgets them while the process runs, a slice a second.
 * The UNIQUE key on used_tokens.jti stays the backstop should the set ever
 * miss one (another node writing the same file): that certificate then
 * fails at its commit. Their rows go too: each group's transaction also
 * walks FORGET_PER_ITEM rows per item on along the jti key, wrapping at
 * its end, and deletes those past forgetting, so the walk outpaces the
 * inserts and the table holds about the live tokens, not all since open.
 *
 * SQLite's automatic checkpoint would run inside COMMIT, before the group
 * is acknowledged; the writer checkpoints (PASSIVE) after handing the group
 * back instead.
 */
#include <sys/eventfd.h>
#include <sys/random.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "appliance/store.h"

#define BUSY_TIMEOUT_MS	5000
#define CHECKPOINT_PAGES 1000		/* SQLite's own default */
#define STORE_MAX_DER	(1024 * 1024)
#define JSET_MIN	1024		/* slots; always a power of two */
#define SWEEP_PASS	300		/* ticks (s) for a whole pass at most */
#define FORGET_PER_ITEM	2		/* used_tokens rows walked per item */

/* What the writer says about one item. */
enum item_status {
	IT_QUEUED = 0,
	IT_OK,
	IT_DUP_SERIAL,		/* this item alone rolled back */
	IT_DUP_JTI,		/* ditto; the jti is used by someone else */
	IT_REVOKED,		/* ditto; the certificate renewed is revoked */
	IT_NOT_FOUND,		/* ditto; no such serial to revoke */
	IT_ALREADY,		/* ditto; revoked before */
	IT_FAILED,		/* its whole group failed */
};

/* What a queued item asks of the writer. */
enum item_kind {
	IK_CERT = 1,		/* INSERT a certificate (and its jti) */
	IK_REVOKE,		/* mark one revoked (and record its jti) */
	IK_CRL,			/* INSERT a signed CRL */
};

/* One queued item: a single allocation, strings after the DER. */
struct item {
	struct item	*next;
	void		(*done)(int, void *);
	void		*arg;
	enum item_kind	 kind;
	enum item_status status;
	int		 ssh;		/* SSH table rather than X.509 */
	int		 reason;	/* IK_REVOKE: reasonCode; IK_CERT: the
					   SSH certificate type */
	uint64_t	 number;	/* IK_CRL: cRLNumber */
	time_t		 not_before, not_after, issued_at;
	time_t		 forget_after;	/* the jti's; 0: never */
	size_t		 derlen;
	const char	*serial, *subject, *sans, *provisioner, *jti;
	const char	*renewed_from;	/* IK_CERT: "" or the serial renewed */
	const char	*reason_text;	/* IK_REVOKE */
	uint8_t		 buf[];
};

enum jti_state {
	J_RESERVED = 1,		/* a request in flight, not queued yet */
	J_QUEUED,		/* queued with a certificate */
	J_USED,			/* committed */
};

struct jent {
	uint32_t	 hash;
	uint8_t		 state;
	time_t		 forget;	/* J_USED: drop after this; 0: never */
	char		 s[];
};

/* Open addressing, linear probing, backward-shift deletion. */
struct jset {
	struct jent	**slot;
	size_t		 mask;		/* slots - 1 */
	size_t		 n;
	uint64_t	 key[2];	/* SipHash: clients pick jtis */
};

struct store {
	struct event_base *base;
	struct event	*ev;
	int		 efd;
	sqlite3		*db;		/* writer's after store_open */
	sqlite3_stmt	*st_begin, *st_commit, *st_rollback;
	sqlite3_stmt	*st_sp, *st_sp_release, *st_sp_rollback;
	sqlite3_stmt	*st_jti, *st_crl;
	sqlite3_stmt	*st_fscan, *st_fdel;
	char		 fcur[256];	/* writer's: the row walk's last jti */
	/* Per table: [0] certs (X.509), [1] ssh_certs. */
	sqlite3_stmt	*st_cert[2], *st_is_revoked[2], *st_revoke[2];
	int		 wal_pages;	/* writer's: WAL after its COMMIT */

	/* The loop's own read-only connection (WAL: never waits on writes). */
	sqlite3		*rdb;
	sqlite3_stmt	*rd_cert[2], *rd_revoked[2], *rd_crl, *rd_hosts;

	/* Event loop only. */
	struct jset	 jset;
	struct event	*sweep;		/* forgets expired jtis, a slice a tick */
	struct event	*kick;		/* wakes the writer: see enqueue */
	int		 kicked;
	size_t		 sweep_at;	/* the next slot it looks at */
	size_t		 pending;	/* put, not yet reported */
	int		 stopping;

	pthread_t	 thread;
	int		 thread_started;

	/* Under mu. */
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	struct item	*qhead, **qtail;	/* to write */
	struct item	*dhead, **dtail;	/* written, to report */
	int		 closing;
	size_t		 group_max;
	struct store_stats stats;
};

/*
 * Schema migrations, applied in order, each once; schema_version records
 * which ran. Append only: a released migration is never edited.
 */
static const char *const migrations[] = {
	/* 1: issued certificates and used one-time token ids */
	"CREATE TABLE certs ("
	"  serial TEXT PRIMARY KEY,"
	"  der BLOB NOT NULL,"
	"  subject TEXT,"
	"  sans TEXT,"
	"  not_before INTEGER,"
	"  not_after INTEGER,"
	"  provisioner TEXT,"
	"  jti TEXT,"
	"  issued_at INTEGER,"
	"  revoked_at INTEGER NULL,"
	"  revocation_reason INTEGER NULL);"
	/* Short rows looked up by key only: no separate rowid b-tree. */
	"CREATE TABLE used_tokens ("
	"  jti TEXT PRIMARY KEY,"
	"  used_at INTEGER) WITHOUT ROWID;",
	/* 2: revocation, renewal lineage, CRLs, SSH certificates */
	"ALTER TABLE certs ADD COLUMN renewed_from TEXT;"
	"ALTER TABLE certs ADD COLUMN revocation_text TEXT;"
	"CREATE INDEX certs_revoked ON certs (revoked_at)"
	"  WHERE revoked_at IS NOT NULL;"
	"CREATE TABLE crls ("
	"  number INTEGER PRIMARY KEY,"
	"  der BLOB NOT NULL,"
	"  this_update INTEGER NOT NULL,"
	"  next_update INTEGER NOT NULL);"
	"CREATE TABLE ssh_certs ("
	"  serial TEXT PRIMARY KEY,"
	"  der BLOB NOT NULL,"
	"  key_id TEXT,"
	"  principals TEXT,"
	"  not_before INTEGER,"
	"  not_after INTEGER,"
	"  provisioner TEXT,"
	"  jti TEXT,"
	"  issued_at INTEGER,"
	"  renewed_from TEXT,"
	"  revoked_at INTEGER NULL,"
	"  revocation_reason INTEGER NULL,"
	"  revocation_text TEXT);"
	"CREATE INDEX ssh_certs_revoked ON ssh_certs (revoked_at)"
	"  WHERE revoked_at IS NOT NULL;",
	/* 3: SSH certificate types, for /ssh/hosts and /ssh/check-host */
	"ALTER TABLE ssh_certs ADD COLUMN cert_type INTEGER;",
	/* 4: when a used token id can be forgotten (NULL: never) */
	"ALTER TABLE used_tokens ADD COLUMN forget_after INTEGER;",
};
#define NMIGRATIONS	(sizeof(migrations) / sizeof(migrations[0]))

/* SipHash-2-4 (Aumasson, Bernstein). */
#define ROTL(x, b)	(uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND do {							\
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);	\
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;				\
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;				\
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);	\
} while (0)

static uint64_t
siphash(const uint64_t k[2], const void *p, size_t len)
{
	const uint8_t	*in = p;
	uint64_t	 v0 = 0x736f6d6570736575ULL ^ k[0];
	uint64_t	 v1 = 0x646f72616e646f6dULL ^ k[1];
	uint64_t	 v2 = 0x6c7967656e657261ULL ^ k[0];
	uint64_t	 v3 = 0x7465646279746573ULL ^ k[1];
	uint64_t	 m, b = (uint64_t)len << 56;
	size_t		 i, j;

	for (i = 0; i + 8 <= len; i += 8) {
		for (m = 0, j = 0; j < 8; j++)
			m |= (uint64_t)in[i + j] << (8 * j);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (j = 0; i + j < len; j++)
		b |= (uint64_t)in[i + j] << (8 * j);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static int
jset_init(struct jset *js)
{
	memset(js, 0, sizeof(*js));
	if (getrandom(js->key, sizeof(js->key), 0) != sizeof(js->key))
		return -1;
	if ((js->slot = calloc(JSET_MIN, sizeof(*js->slot))) == NULL)
		return -1;
	js->mask = JSET_MIN - 1;
	return 0;
}

static void
jset_free(struct jset *js)
{
	size_t	 i;

	if (js->slot == NULL)
		return;
	for (i = 0; i <= js->mask; i++)
		free(js->slot[i]);
	free(js->slot);
	js->slot = NULL;
}

/* The slot holding s, or the empty slot where it would go. */
static size_t
jset_slot(const struct jset *js, const char *s, size_t len, uint32_t h)
{
	size_t	 i;

	for (i = h & js->mask; js->slot[i] != NULL; i = (i + 1) & js->mask)
		if (js->slot[i]->hash == h && strncmp(js->slot[i]->s, s,
		    len + 1) == 0)
			break;
	return i;
}

static struct jent *
jset_get(const struct jset *js, const char *s)
{
	size_t	 len = strlen(s);
	uint32_t h = (uint32_t)siphash(js->key, s, len);

	return js->slot[jset_slot(js, s, len, h)];
}

static int
jset_grow(struct jset *js)
{
	struct jent	**old = js->slot, **nw;
	size_t		  i, j, oldmask = js->mask, nslots;

	if (oldmask > SIZE_MAX / 4 / sizeof(*nw))
		return -1;
	nslots = (oldmask + 1) * 2;
	if ((nw = calloc(nslots, sizeof(*nw))) == NULL)
		return -1;
	for (i = 0; i <= oldmask; i++) {
		if (old[i] == NULL)
			continue;
		for (j = old[i]->hash & (nslots - 1); nw[j] != NULL;
		    j = (j + 1) & (nslots - 1))
			;
		nw[j] = old[i];
	}
	js->slot = nw;
	js->mask = nslots - 1;
	free(old);
	return 0;
}

/* Sets s to state, adding it when absent; NULL when out of memory. */
static struct jent *
jset_put(struct jset *js, const char *s, enum jti_state state)
{
	struct jent	*e;
	size_t		 len = strlen(s), i;
	uint32_t	 h = (uint32_t)siphash(js->key, s, len);

	i = jset_slot(js, s, len, h);
	if (js->slot[i] != NULL) {
		js->slot[i]->state = state;
		return js->slot[i];
	}
	/* Load at most 3/4: short probes on a miss, the common case. */
	if ((js->n + 1) * 4 > (js->mask + 1) * 3) {
		if (jset_grow(js) == -1)
			return NULL;
		i = jset_slot(js, s, len, h);
	}
	if ((e = malloc(sizeof(*e) + len + 1)) == NULL)
		return NULL;
	e->hash = h;
	e->state = state;
	e->forget = 0;
	memcpy(e->s, s, len + 1);
	js->slot[i] = e;
	js->n++;
	return e;
}

static void
jset_del_at(struct jset *js, size_t i)
{
	size_t	 j, home;

	free(js->slot[i]);
	js->slot[i] = NULL;
	js->n--;
	/* Pull later members of the run back over the hole. */
	for (j = (i + 1) & js->mask; js->slot[j] != NULL;
	    j = (j + 1) & js->mask) {
		home = js->slot[j]->hash & js->mask;
		/* Movable unless its home lies cyclically in (i, j]. */
		if (i <= j ? (home <= i || home > j) :
		    (home <= i && home > j)) {
			js->slot[i] = js->slot[j];
			js->slot[j] = NULL;
			i = j;
		}
	}
}

static void
jset_del(struct jset *js, const char *s)
{
	size_t	 len = strlen(s), i;
	uint32_t h = (uint32_t)siphash(js->key, s, len);

	i = jset_slot(js, s, len, h);
	if (js->slot[i] != NULL)
		jset_del_at(js, i);
}

/*
 * Looks at n slots from *at on and drops the used jtis whose tokens can no
 * longer verify (past exp and the leeway): without it the set would grow
 * for as long as the process runs. A deletion pulls a later entry back
 * into the slot, so that slot is looked at again (and counts as a step);
 * an entry the pull moves behind *at waits for the next pass.
 */
static void
jset_sweep(struct jset *js, size_t *at, size_t n, time_t now)
{
	struct jent	*e;
	size_t		 i = *at & js->mask;

	while (n-- > 0) {
		e = js->slot[i];
		if (e != NULL && e->state == J_USED && e->forget != 0 &&
		    e->forget < now)
			jset_del_at(js, i);
		else
			i = (i + 1) & js->mask;
	}
	*at = i;
}

/* Replaces SQLite's automatic checkpoint: see the top of the file. */
static int
wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct store	*s = arg;

	(void)db;
	(void)name;
	s->wal_pages = pages;
	return SQLITE_OK;
}

/* Steps a statement that returns no rows, and resets it for the next use. */
static int
step_reset(sqlite3_stmt *st)
{
	int	 rc = sqlite3_step(st);

	(void)sqlite3_reset(st);	/* repeats rc, already known */
	if (sqlite3_clear_bindings(st) != SQLITE_OK && rc == SQLITE_DONE)
		rc = SQLITE_ERROR;
	return rc;
}

static void
set_error(struct store *s, const char *what)
{
	if (pthread_mutex_lock(&s->mu) != 0)
		return;
	snprintf(s->stats.last_error, sizeof(s->stats.last_error), "%s: %s",
	    what, sqlite3_errmsg(s->db));
	pthread_mutex_unlock(&s->mu);
}

static int
bind_text(sqlite3_stmt *st, int i, const char *v)
{
	/* The item outlives the statement's use of it: no copy. */
	return sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

/*
 * Each writes one item inside the group's transaction: 0 when written, 1
 * when the item itself is refused (it->status says why; the caller rolls
 * back to its SAVEPOINT), -1 when the error is not the item's fault (the
 * group fails).
 */
static int
w_jti(struct store *s, struct item *it)
{
	sqlite3_stmt	*st = s->st_jti;
	int		 rc;

	if (it->jti[0] == '\0')
		return 0;
	if (bind_text(st, 1, it->jti) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 2, it->issued_at) != SQLITE_OK ||
	    (it->forget_after ? sqlite3_bind_int64(st, 3, it->forget_after) :
	    sqlite3_bind_null(st, 3)) != SQLITE_OK) {
		set_error(s, "bind");
		(void)sqlite3_clear_bindings(st);
		return -1;
	}
	if ((rc = step_reset(st)) == SQLITE_DONE &&
	    sqlite3_changes(s->db) == 1)
		return 0;
	if (rc != SQLITE_DONE && (rc & 0xff) != SQLITE_CONSTRAINT) {
		set_error(s, "INSERT");
		return -1;
	}
	it->status = IT_DUP_JTI;
	return 1;
}

/* Whether serial is in the table, revoked: 1 yes, 0 no, 2 absent, -1. */
static int
is_revoked(struct store *s, int ssh, const char *serial)
{
	sqlite3_stmt	*st = s->st_is_revoked[ssh];
	int		 rc, r;

	if (bind_text(st, 1, serial) != SQLITE_OK) {
		set_error(s, "bind");
		return -1;
	}
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		r = sqlite3_column_type(st, 0) != SQLITE_NULL;
	else if (rc == SQLITE_DONE)
		r = 2;
	else {
		set_error(s, "SELECT");
		r = -1;
	}
	(void)sqlite3_reset(st);
	(void)sqlite3_clear_bindings(st);
	return r;
}

static int
w_cert(struct store *s, struct item *it)
{
	sqlite3_stmt	*st = s->st_cert[it->ssh];
	int		 rc;

	/*
	 * A renewal is written only while what it renews is unrevoked, in
	 * the transaction that writes it: one writer serialises it against
	 * every revocation, so a revocation racing a renewal either lands
	 * first (the renewal is refused) or after (and the renewal was
	 * legitimately issued before it).
	 */
	if (it->renewed_from[0] != '\0') {
		if ((rc = is_revoked(s, it->ssh, it->renewed_from)) == -1)
			return -1;
		if (rc != 0) {
			it->status = rc == 1 ? IT_REVOKED : IT_NOT_FOUND;
			return 1;
		}
	}
	if (bind_text(st, 1, it->serial) != SQLITE_OK ||
	    sqlite3_bind_blob(st, 2, it->buf, (int)it->derlen,
	    SQLITE_STATIC) != SQLITE_OK ||
	    bind_text(st, 3, it->subject) != SQLITE_OK ||
	    bind_text(st, 4, it->sans) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 5, it->not_before) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 6, it->not_after) != SQLITE_OK ||
	    bind_text(st, 7, it->provisioner) != SQLITE_OK ||
	    (it->jti[0] ? bind_text(st, 8, it->jti) :
	    sqlite3_bind_null(st, 8)) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 9, it->issued_at) != SQLITE_OK ||
	    (it->renewed_from[0] ? bind_text(st, 10, it->renewed_from) :
	    sqlite3_bind_null(st, 10)) != SQLITE_OK ||
	    (it->ssh && sqlite3_bind_int(st, 11, it->reason) != SQLITE_OK)) {
		set_error(s, "bind");
		(void)sqlite3_clear_bindings(st);
		return -1;
	}
	if ((rc = step_reset(st)) != SQLITE_DONE) {
		if ((rc & 0xff) != SQLITE_CONSTRAINT) {
			set_error(s, "INSERT");
			return -1;
		}
		it->status = IT_DUP_SERIAL;
		return 1;
	}
	return w_jti(s, it);
}

static int
w_revoke(struct store *s, struct item *it)
{
	sqlite3_stmt	*st = s->st_revoke[it->ssh];
	int		 rc;

	if (sqlite3_bind_int64(st, 1, it->issued_at) != SQLITE_OK ||
	    sqlite3_bind_int(st, 2, it->reason) != SQLITE_OK ||
	    bind_text(st, 3, it->reason_text) != SQLITE_OK ||
	    bind_text(st, 4, it->serial) != SQLITE_OK) {
		set_error(s, "bind");
		(void)sqlite3_clear_bindings(st);
		return -1;
	}
	if (step_reset(st) != SQLITE_DONE) {
		set_error(s, "UPDATE");
		return -1;
	}
	if (sqlite3_changes(s->db) == 0) {
		if ((rc = is_revoked(s, it->ssh, it->serial)) == -1)
			return -1;
		it->status = rc == 2 ? IT_NOT_FOUND : IT_ALREADY;
		return 1;
	}
	return w_jti(s, it);
}

static int
w_crl(struct store *s, struct item *it)
{
	sqlite3_stmt	*st = s->st_crl;
	int		 rc;

	if (sqlite3_bind_int64(st, 1, (sqlite3_int64)it->number) !=
	    SQLITE_OK ||
	    sqlite3_bind_blob(st, 2, it->buf, (int)it->derlen,
	    SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 3, it->not_before) != SQLITE_OK ||
	    sqlite3_bind_int64(st, 4, it->not_after) != SQLITE_OK) {
		set_error(s, "bind");
		(void)sqlite3_clear_bindings(st);
		return -1;
	}
	if ((rc = step_reset(st)) == SQLITE_DONE)
		return 0;
	if ((rc & 0xff) != SQLITE_CONSTRAINT) {
		set_error(s, "INSERT");
		return -1;
	}
	it->status = IT_DUP_SERIAL;	/* that number exists: never reuse */
	return 1;
}

static int (*const writes[])(struct store *, struct item *) = {
	[IK_CERT] = w_cert,
	[IK_REVOKE] = w_revoke,
	[IK_CRL] = w_crl,
};

/*
 * One item inside the group's transaction, under its own SAVEPOINT so
 * that its refusal undoes just this one. Returns -1 when the error is not
 * the item's fault (the group fails).
 */
static int
write_item(struct store *s, struct item *it)
{
	int	 rc;

	if (step_reset(s->st_sp) != SQLITE_DONE) {
		set_error(s, "SAVEPOINT");
		return -1;
	}
	if ((rc = writes[it->kind](s, it)) == -1)
		return -1;
	if (rc == 0) {
		if (step_reset(s->st_sp_release) != SQLITE_DONE) {
			set_error(s, "RELEASE");
			return -1;
		}
		it->status = IT_OK;
		return 0;
	}
	if (step_reset(s->st_sp_rollback) != SQLITE_DONE ||
	    step_reset(s->st_sp_release) != SQLITE_DONE) {
		set_error(s, "ROLLBACK TO");
		return -1;
	}
	return 0;
}

/*
 * The next n used_tokens rows after the walk's cursor, by jti: those
 * past forgetting are deleted (as store_open deletes them), and the
 * cursor moves on, back to the start once the walk reaches the end.
 */
static int
forget_rows(struct store *s, size_t n)
{
	char		 last[sizeof(s->fcur)];
	const unsigned char *jti;
	size_t		 rows = 0;
	int		 rc;

	last[0] = '\0';
	if (sqlite3_bind_text(s->st_fscan, 1, s->fcur, -1, SQLITE_STATIC) !=
	    SQLITE_OK || sqlite3_bind_int64(s->st_fscan, 2,
	    (sqlite3_int64)n) != SQLITE_OK) {
		(void)sqlite3_reset(s->st_fscan);
		return -1;
	}
	while ((rc = sqlite3_step(s->st_fscan)) == SQLITE_ROW) {
		/* Keys are at most 255 bytes (store_put_cert's jti). */
		if ((jti = sqlite3_column_text(s->st_fscan, 0)) != NULL)
			snprintf(last, sizeof(last), "%s", (const char *)jti);
		rows++;
	}
	(void)sqlite3_reset(s->st_fscan);
	(void)sqlite3_clear_bindings(s->st_fscan);
	if (rc != SQLITE_DONE)
		return -1;
	if (rows > 0 && (sqlite3_bind_text(s->st_fdel, 1, s->fcur, -1,
	    SQLITE_STATIC) != SQLITE_OK || sqlite3_bind_text(s->st_fdel, 2,
	    last, -1, SQLITE_STATIC) != SQLITE_OK ||
	    sqlite3_bind_int64(s->st_fdel, 3, (sqlite3_int64)time(NULL)) !=
	    SQLITE_OK || step_reset(s->st_fdel) != SQLITE_DONE)) {
		(void)sqlite3_reset(s->st_fdel);
		return -1;
	}
	snprintf(s->fcur, sizeof(s->fcur), "%s", rows < n ? "" : last);
	return 0;
}

/* The whole group in one transaction: one fsync at COMMIT. */
static int
write_group(struct store *s, struct item *head)
{
	struct item	*it;
	size_t		 n = 0;

	if (step_reset(s->st_begin) != SQLITE_DONE) {
		set_error(s, "BEGIN");
		goto fail;
	}
	for (it = head; it != NULL; it = it->next, n++)
		if (write_item(s, it) == -1)
			goto fail;
	if (forget_rows(s, FORGET_PER_ITEM * n) == -1) {
		set_error(s, "forgetting used tokens");
		goto fail;
	}
	if (step_reset(s->st_commit) != SQLITE_DONE) {
		set_error(s, "COMMIT");
		goto fail;
	}
	return 0;
fail:
	/* Some errors (I/O, full) roll back by themselves; others do not. */
	if (!sqlite3_get_autocommit(s->db) &&
	    step_reset(s->st_rollback) != SQLITE_DONE)
		set_error(s, "ROLLBACK");
	for (it = head; it != NULL; it = it->next)
		it->status = IT_FAILED;
	return -1;
}

static void
wake(int efd)
{
	uint64_t	 one = 1;

	/*
	 * Fails only with EAGAIN, the counter near 2^64: the loop has a
	 * wakeup pending then anyway. (No EINTR: the writer blocks signals.)
	 */
	if (write(efd, &one, sizeof(one)) != sizeof(one))
		return;
}

static void *
writer(void *arg)
{
	struct store	*s = arg;
	struct item	*head, *it, **cut;
	size_t		 n, nok;
	int		 ok, rc;

	for (;;) {
		if (pthread_mutex_lock(&s->mu) != 0)
			abort();	/* cannot happen for a normal mutex */
		while (s->qhead == NULL && !s->closing)
			if (pthread_cond_wait(&s->cv, &s->mu) != 0)
				abort();
		if (s->qhead == NULL) {
			/* Closing, and everything queued is written. */
			pthread_mutex_unlock(&s->mu);
			break;
		}
		head = s->qhead;
		cut = &s->qhead;
		for (n = 0; *cut != NULL && (s->group_max == 0 ||
		    n < s->group_max); n++)
			cut = &(*cut)->next;
		s->qhead = *cut;
		*cut = NULL;
		if (s->qhead == NULL)
			s->qtail = &s->qhead;
		pthread_mutex_unlock(&s->mu);

		ok = write_group(s, head) == 0;

		for (nok = 0, it = head; it != NULL; it = it->next)
			nok += it->status == IT_OK;
		if (pthread_mutex_lock(&s->mu) != 0)
			abort();
		s->stats.groups++;
		s->stats.commits += ok;
		s->stats.certs_ok += nok;
		s->stats.certs_failed += n - nok;
		*s->dtail = head;
		s->dtail = cut;
		pthread_mutex_unlock(&s->mu);
		wake(s->efd);

		/*
		 * PASSIVE: never waits for readers; what it cannot copy now
		 * the next one does. A failure is not the next group's.
		 */
		if (s->wal_pages >= CHECKPOINT_PAGES) {
			s->wal_pages = 0;
			rc = sqlite3_wal_checkpoint_v2(s->db, NULL,
			    SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
			if (rc != SQLITE_OK && rc != SQLITE_BUSY)
				set_error(s, "checkpoint");
		}
	}
	return NULL;
}

/* On the loop: report finished items in the order they were put. */
static void
report(struct store *s)
{
	static const int result[] = {
		[IT_OK] = STORE_OK,
		[IT_DUP_SERIAL] = STORE_DUP,
		[IT_DUP_JTI] = STORE_DUP,
		[IT_REVOKED] = STORE_REVOKED,
		[IT_NOT_FOUND] = STORE_NOT_FOUND,
		[IT_ALREADY] = STORE_ALREADY,
		[IT_FAILED] = STORE_FAILED,
	};
	struct item	*head, *it;
	struct jent	*e;
	int		 ok;

	if (pthread_mutex_lock(&s->mu) != 0)
		abort();
	head = s->dhead;
	s->dhead = NULL;
	s->dtail = &s->dhead;
	pthread_mutex_unlock(&s->mu);

	while ((it = head) != NULL) {
		head = it->next;
		ok = it->status == IT_OK;
		if (it->jti[0] != '\0') {
			e = jset_get(&s->jset, it->jti);
			if (ok || it->status == IT_DUP_JTI) {
				/*
				 * Used for good. On ENOMEM the UNIQUE key
				 * still refuses it at the next commit.
				 */
				if ((e = jset_put(&s->jset, it->jti,
				    J_USED)) != NULL)
					e->forget = it->forget_after;
			} else if (e != NULL && e->state != J_USED)
				jset_del(&s->jset, it->jti);
		}
		s->pending--;
		it->done(it->status < sizeof(result) / sizeof(result[0]) ?
		    result[it->status] : STORE_FAILED, it->arg);
		free(it);
	}
}

/*
 * The writer is woken once the loop has done what it has to do now (the
 * kick is an active event: it runs after the callbacks already due), not
 * per item: the answers of one read from the signer go into one group,
 * instead of the first alone and the rest into the next.
 */
static void
on_kick(evutil_socket_t fd, short what, void *arg)
{
	struct store	*s = arg;

	(void)fd, (void)what;
	s->kicked = 0;
	if (pthread_mutex_lock(&s->mu) != 0)
		abort();
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/*
 * Once a second, a slice of the jti set: a whole pass within SWEEP_PASS
 * seconds, and each slice short (a few thousand slots), so the loop is
 * never held up for the sake of memory.
 */
static void
on_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct store	*s = arg;
	size_t		 n = (s->jset.mask + 1) / SWEEP_PASS;

	(void)fd, (void)what;
	jset_sweep(&s->jset, &s->sweep_at, n < JSET_MIN ? JSET_MIN : n,
	    time(NULL));
}

void
store_forget_expired(struct store *s)
{
	/* Twice the slots: each deletion is a step that does not advance. */
	s->sweep_at = 0;
	jset_sweep(&s->jset, &s->sweep_at, 2 * (s->jset.mask + 1), time(NULL));
}

static void
on_efd(evutil_socket_t fd, short what, void *arg)
{
	struct store	*s = arg;
	uint64_t	 v;

	(void)what;
	/* EAGAIN is a spurious wakeup: the list is empty, that is fine. */
	if (read(fd, &v, sizeof(v)) == -1 && errno != EAGAIN)
		return;
	report(s);
}

static int
db_exec(sqlite3 *db, const char *sql, const char *path, char *err,
    size_t errsz)
{
	char	*msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errsz, "%s: %s", path,
		    msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* Runs sql, expecting one row with a text column 0 equal to want. */
static int
pragma_is(sqlite3 *db, const char *sql, const char *want)
{
	sqlite3_stmt		*st;
	const unsigned char	*v;
	int			 ok = 0;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW &&
	    (v = sqlite3_column_text(st, 0)) != NULL &&
	    sqlite3_stricmp((const char *)v, want) == 0)
		ok = 1;
	if (sqlite3_finalize(st) != SQLITE_OK)
		ok = 0;
	return ok;
}

static int
migrate(sqlite3 *db, const char *path, char *err, size_t errsz)
{
	sqlite3_stmt	*st = NULL;
	sqlite3_int64	 version;
	size_t		 v;
	char		 sql[96];

	if (db_exec(db, "BEGIN IMMEDIATE; CREATE TABLE IF NOT EXISTS "
	    "schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER "
	    "NOT NULL);", path, err, errsz) == -1)
		goto bad;
	if (sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(version), 0) FROM "
	    "schema_version", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		snprintf(err, errsz, "%s: %s", path, sqlite3_errmsg(db));
		goto bad;
	}
	version = sqlite3_column_int64(st, 0);
	if (sqlite3_finalize(st) != SQLITE_OK) {
		st = NULL;
		snprintf(err, errsz, "%s: %s", path, sqlite3_errmsg(db));
		goto bad;
	}
	st = NULL;
	if (version < 0 || version > (sqlite3_int64)NMIGRATIONS) {
		snprintf(err, errsz, "%s: schema version %lld is not one this "
		    "program knows (at most %zu)", path, (long long)version,
		    NMIGRATIONS);
		goto bad;
	}
	for (v = (size_t)version; v < NMIGRATIONS; v++) {
		snprintf(sql, sizeof(sql), "INSERT INTO schema_version VALUES "
		    "(%zu, %lld);", v + 1, (long long)time(NULL));
		if (db_exec(db, migrations[v], path, err, errsz) == -1 ||
		    db_exec(db, sql, path, err, errsz) == -1)
			goto bad;
	}
	if (db_exec(db, "COMMIT;", path, err, errsz) == -1)
		goto bad;
	return 0;
bad:
	if (st != NULL)
		(void)sqlite3_finalize(st);
	if (!sqlite3_get_autocommit(db))
		(void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

static int
load_jtis(struct store *s, const char *path, char *err, size_t errsz)
{
	sqlite3_stmt		*st;
	const unsigned char	*jti;
	struct jent		*e;
	int			 rc;
	char			 sql[128];

	/*
	 * A token past its exp (and the leeway) can never verify again, so
	 * its id need not be remembered: the set holds only the live ones.
	 */
	snprintf(sql, sizeof(sql), "DELETE FROM used_tokens WHERE "
	    "forget_after IS NOT NULL AND forget_after < %lld",
	    (long long)time(NULL));
	if (db_exec(s->db, sql, path, err, errsz) == -1)
		return -1;
	if (sqlite3_prepare_v2(s->db, "SELECT jti, forget_after FROM "
	    "used_tokens", -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errsz, "%s: %s", path, sqlite3_errmsg(s->db));
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((jti = sqlite3_column_text(st, 0)) == NULL)
			continue;
		if ((e = jset_put(&s->jset, (const char *)jti, J_USED)) ==
		    NULL) {
			snprintf(err, errsz, "%s: out of memory loading used "
			    "tokens", path);
			(void)sqlite3_finalize(st);
			return -1;
		}
		e->forget = (time_t)sqlite3_column_int64(st, 1); /* NULL: 0 */
	}
	if (rc != SQLITE_DONE) {
		snprintf(err, errsz, "%s: %s", path, sqlite3_errmsg(s->db));
		(void)sqlite3_finalize(st);
		return -1;
	}
	if (sqlite3_finalize(st) != SQLITE_OK) {
		snprintf(err, errsz, "%s: %s", path, sqlite3_errmsg(s->db));
		return -1;
	}
	return 0;
}

static int
prepare(struct store *s, const char *path, char *err, size_t errsz)
{
	const struct {
		sqlite3_stmt	**st;
		const char	 *sql;
	} t[] = {
		{ &s->st_begin, "BEGIN IMMEDIATE" },
		{ &s->st_commit, "COMMIT" },
		{ &s->st_rollback, "ROLLBACK" },
		{ &s->st_sp, "SAVEPOINT item" },
		{ &s->st_sp_release, "RELEASE item" },
		{ &s->st_sp_rollback, "ROLLBACK TO item" },
		{ &s->st_cert[0], "INSERT INTO certs (serial, der, subject, sans, "
		    "not_before, not_after, provisioner, jti, issued_at, "
		    "renewed_from) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
		    "?10)" },
		{ &s->st_cert[1], "INSERT INTO ssh_certs (serial, der, key_id, "
		    "principals, not_before, not_after, provisioner, jti, "
		    "issued_at, renewed_from, cert_type) VALUES (?1, ?2, ?3, "
		    "?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)" },
		{ &s->st_is_revoked[0], "SELECT revoked_at FROM certs WHERE "
		    "serial = ?1" },
		{ &s->st_is_revoked[1], "SELECT revoked_at FROM ssh_certs "
		    "WHERE serial = ?1" },
		{ &s->st_revoke[0], "UPDATE certs SET revoked_at = ?1, "
		    "revocation_reason = ?2, revocation_text = ?3 WHERE "
		    "serial = ?4 AND revoked_at IS NULL" },
		{ &s->st_revoke[1], "UPDATE ssh_certs SET revoked_at = ?1, "
		    "revocation_reason = ?2, revocation_text = ?3 WHERE "
		    "serial = ?4 AND revoked_at IS NULL" },
		/*
		 * A row whose token is past forgetting (the sweep has let its
		 * jti go from memory; the next open would delete it) is taken
		 * over; a live one is a conflict: no row changes.
		 */
		{ &s->st_jti, "INSERT INTO used_tokens (jti, used_at, "
		    "forget_after) VALUES (?1, ?2, ?3) ON CONFLICT (jti) DO "
		    "UPDATE SET used_at = excluded.used_at, forget_after = "
		    "excluded.forget_after WHERE used_tokens.forget_after IS "
		    "NOT NULL AND used_tokens.forget_after < excluded.used_at" },
		{ &s->st_fscan, "SELECT jti FROM used_tokens WHERE jti > ?1 "
		    "ORDER BY jti LIMIT ?2" },
		{ &s->st_fdel, "DELETE FROM used_tokens WHERE jti > ?1 AND "
		    "jti <= ?2 AND forget_after IS NOT NULL AND "
		    "forget_after < ?3" },
		{ &s->st_crl, "INSERT INTO crls (number, der, this_update, "
		    "next_update) VALUES (?1, ?2, ?3, ?4)" },
	};
	size_t	 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (sqlite3_prepare_v3(s->db, t[i].sql, -1,
		    SQLITE_PREPARE_PERSISTENT, t[i].st, NULL) != SQLITE_OK) {
			snprintf(err, errsz, "%s: %s", path,
			    sqlite3_errmsg(s->db));
			return -1;
		}
	return 0;
}

/*
 * The loop's reads (a certificate by serial, the revoked list, the latest
 * CRL) go through a connection of their own: in WAL a reader sees the last
 * commit and never waits on the writer, and each is one indexed lookup.
 */
static int
open_reader(struct store *s, const char *path, char *err, size_t errsz)
{
	const struct {
		sqlite3_stmt	**st;
		const char	 *sql;
	} t[] = {
		{ &s->rd_cert[0], "SELECT der, not_before, not_after, "
		    "provisioner, revoked_at, revocation_reason, "
		    "revocation_text, subject, sans FROM certs WHERE "
		    "serial = ?1" },
		{ &s->rd_cert[1], "SELECT der, not_before, not_after, "
		    "provisioner, revoked_at, revocation_reason, "
		    "revocation_text, key_id, principals FROM ssh_certs WHERE "
		    "serial = ?1" },
		{ &s->rd_revoked[0], "SELECT serial, revoked_at, "
		    "revocation_reason FROM certs WHERE revoked_at IS NOT NULL "
		    "AND not_after > ?1 ORDER BY serial" },
		{ &s->rd_revoked[1], "SELECT serial, revoked_at, "
		    "revocation_reason FROM ssh_certs WHERE revoked_at IS NOT "
		    "NULL AND not_after > ?1 ORDER BY serial" },
		{ &s->rd_crl, "SELECT number, der, this_update, next_update "
		    "FROM crls ORDER BY number DESC LIMIT 1" },
		{ &s->rd_hosts, "SELECT principals FROM ssh_certs WHERE "
		    "cert_type = 2 AND revoked_at IS NULL AND not_after > ?1 "
		    "ORDER BY issued_at" },
	};
	size_t	 i;
	int	 rc;

	rc = sqlite3_open_v2(path, &s->rdb, SQLITE_OPEN_READONLY |
	    SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK || sqlite3_busy_timeout(s->rdb, BUSY_TIMEOUT_MS) !=
	    SQLITE_OK) {
		snprintf(err, errsz, "%s: %s", path, s->rdb ?
		    sqlite3_errmsg(s->rdb) : sqlite3_errstr(rc));
		return -1;
	}
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (sqlite3_prepare_v3(s->rdb, t[i].sql, -1,
		    SQLITE_PREPARE_PERSISTENT, t[i].st, NULL) != SQLITE_OK) {
			snprintf(err, errsz, "%s: %s", path,
			    sqlite3_errmsg(s->rdb));
			return -1;
		}
	return 0;
}

/* Frees what store_open made; the writer must not be running. */
static void
destroy(struct store *s)
{
	sqlite3_stmt	*st[] = { s->st_begin, s->st_commit, s->st_rollback,
	    s->st_sp, s->st_sp_release, s->st_sp_rollback, s->st_cert[0],
	    s->st_cert[1], s->st_is_revoked[0], s->st_is_revoked[1],
	    s->st_revoke[0], s->st_revoke[1], s->st_jti, s->st_crl,
	    s->st_fscan, s->st_fdel,
	    s->rd_cert[0], s->rd_cert[1], s->rd_revoked[0], s->rd_revoked[1],
	    s->rd_crl, s->rd_hosts };
	size_t		 i;

	/* finalize repeats the statement's last error; nothing to undo. */
	for (i = 0; i < sizeof(st) / sizeof(st[0]); i++)
		(void)sqlite3_finalize(st[i]);
	if (s->db != NULL && sqlite3_close(s->db) != SQLITE_OK)
		fprintf(stderr, "store: sqlite3_close: %s\n",
		    sqlite3_errmsg(s->db));	/* a statement leaked: a bug */
	if (s->rdb != NULL && sqlite3_close(s->rdb) != SQLITE_OK)
		fprintf(stderr, "store: sqlite3_close: %s\n",
		    sqlite3_errmsg(s->rdb));
	if (s->ev != NULL)
		event_free(s->ev);
	if (s->sweep != NULL)
		event_free(s->sweep);
	if (s->kick != NULL)
		event_free(s->kick);
	if (s->efd != -1)
		close(s->efd);
	jset_free(&s->jset);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

struct store *
store_open(const char *path, struct event_base *base, char *err,
    size_t errsz)
{
	const struct timeval tick = { 1, 0 };
	struct store	*s;
	sigset_t	 all, old;
	int		 rc;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	s->efd = -1;
	s->base = base;
	s->qtail = &s->qhead;
	s->dtail = &s->dhead;
	if (pthread_mutex_init(&s->mu, NULL) != 0) {
		free(s);
		snprintf(err, errsz, "pthread_mutex_init failed");
		return NULL;
	}
	if (pthread_cond_init(&s->cv, NULL) != 0) {
		pthread_mutex_destroy(&s->mu);
		free(s);
		snprintf(err, errsz, "pthread_cond_init failed");
		return NULL;
	}
	if (jset_init(&s->jset) == -1) {
		snprintf(err, errsz, "cannot set up the token set: %s",
		    strerror(errno));
		goto bad;
	}
	/* The connection moves to the writer thread: SQLite must allow it. */
	if (!sqlite3_threadsafe()) {
		snprintf(err, errsz, "SQLite is built without thread support");
		goto bad;
	}
	/* Only one thread at a time ever uses the connection: no mutex. */
	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errsz, "%s: %s", path, s->db ?
		    sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		goto bad;
	}
	if (sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS) != SQLITE_OK) {
		snprintf(err, errsz, "%s: %s", path, sqlite3_errmsg(s->db));
		goto bad;
	}
	/* WAL: readers never block the writer; FULL: durable at COMMIT. */
	if (!pragma_is(s->db, "PRAGMA journal_mode=WAL", "wal")) {
		snprintf(err, errsz, "%s: cannot use WAL journal mode", path);
		goto bad;
	}
	if (db_exec(s->db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
	    path, err, errsz) == -1)
		goto bad;
	if (!pragma_is(s->db, "PRAGMA synchronous", "2")) {
		snprintf(err, errsz, "%s: synchronous=FULL refused", path);
		goto bad;
	}
	(void)sqlite3_wal_hook(s->db, wal_hook, s);	/* gives the old arg */
	if (migrate(s->db, path, err, errsz) == -1 ||
	    load_jtis(s, path, err, errsz) == -1 ||
	    prepare(s, path, err, errsz) == -1 ||
	    open_reader(s, path, err, errsz) == -1)
		goto bad;

	if ((s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		snprintf(err, errsz, "eventfd: %s", strerror(errno));
		goto bad;
	}
	if ((s->ev = event_new(base, s->efd, EV_READ | EV_PERSIST, on_efd,
	    s)) == NULL || event_add(s->ev, NULL) == -1 ||
	    (s->sweep = event_new(base, -1, EV_PERSIST, on_sweep, s)) ==
	    NULL || event_add(s->sweep, &tick) == -1 ||
	    (s->kick = event_new(base, -1, 0, on_kick, s)) == NULL) {
		snprintf(err, errsz, "cannot add the store's events");
		goto bad;
	}
	/* Signals are the loop's business (libevent handles them there). */
	sigfillset(&all);
	if ((rc = pthread_sigmask(SIG_SETMASK, &all, &old)) != 0) {
		snprintf(err, errsz, "pthread_sigmask: %s", strerror(rc));
		goto bad;
	}
	rc = pthread_create(&s->thread, NULL, writer, s);
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, errsz, "pthread_create: %s", strerror(rc));
		goto bad;
	}
	s->thread_started = 1;
	return s;
bad:
	destroy(s);
	return NULL;
}

/* Blocks until the queue is committed: at shutdown, not from a done(). */
void
store_close(struct store *s)
{
	store_close_stats(s, NULL);
}

void
store_close_stats(struct store *s, struct store_stats *st)
{
	if (s == NULL)
		return;
	s->stopping = 1;
	if (s->thread_started) {
		if (pthread_mutex_lock(&s->mu) != 0)
			abort();
		s->closing = 1;
		pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&s->mu);
		/* The writer commits what is queued, then returns. */
		if (pthread_join(s->thread, NULL) != 0)
			abort();
	}
	report(s);
	if (st != NULL)
		store_get_stats(s, st);
	destroy(s);
}

int
store_jti_reserve(struct store *s, const char *jti)
{
	size_t	 len;

	if (jti == NULL || (len = strlen(jti)) == 0 ||
	    len >= sizeof(((struct store_cert *)0)->jti))
		return -1;
	if (jset_get(&s->jset, jti) != NULL)
		return 1;
	return jset_put(&s->jset, jti, J_RESERVED) == NULL ? -1 : 0;
}

void
store_jti_release(struct store *s, const char *jti)
{
	struct jent	*e;

	if (jti == NULL || *jti == '\0')
		return;
	/* Queued or used jtis are the writer's to settle, not the caller's. */
	if ((e = jset_get(&s->jset, jti)) != NULL && e->state == J_RESERVED)
		jset_del(&s->jset, jti);
}

/* Length of the string in a fixed field, or -1 when it is not terminated. */
static ssize_t
field(const char *f, size_t sz)
{
	const char	*nul = memchr(f, '\0', sz);

	return nul == NULL ? -1 : nul - f;
}

enum { F_SERIAL, F_SUBJECT, F_SANS, F_PROV, F_JTI, F_RENEWED, F_REASON,
    NFIELDS };

/*
 * One allocation for the item: the DER, then each string (NULL for "")
 * that must end within its field of fsz[i] bytes; the jti is queued with
 * it (store_jti_release leaves it be). NULL when it cannot be queued.
 */
static struct item *
item_new(struct store *s, enum item_kind kind, const uint8_t *der,
    size_t derlen, const char *const f[NFIELDS], const size_t fsz[NFIELDS])
{
	const char	**dst[NFIELDS];
	struct item	*it;
	struct jent	*e;
	ssize_t		 len[NFIELDS];
	size_t		 total = 0, i;
	char		*p;

	if (s->stopping || s->pending >= STORE_MAX_PENDING ||
	    derlen > STORE_MAX_DER)
		return NULL;
	for (i = 0; i < NFIELDS; i++) {
		len[i] = f[i] == NULL ? 0 : field(f[i], fsz[i]);
		if (len[i] < 0)
			return NULL;
		total += (size_t)len[i] + 1;
	}
	if ((it = calloc(1, sizeof(*it) + derlen + total)) == NULL)
		return NULL;
	if (len[F_JTI] > 0 && ((e = jset_get(&s->jset, f[F_JTI])) == NULL ||
	    e->state == J_RESERVED) &&
	    jset_put(&s->jset, f[F_JTI], J_QUEUED) == NULL) {
		free(it);
		return NULL;
	}
	dst[F_SERIAL] = &it->serial;
	dst[F_SUBJECT] = &it->subject;
	dst[F_SANS] = &it->sans;
	dst[F_PROV] = &it->provisioner;
	dst[F_JTI] = &it->jti;
	dst[F_RENEWED] = &it->renewed_from;
	dst[F_REASON] = &it->reason_text;
	it->kind = kind;
	it->status = IT_QUEUED;
	it->issued_at = time(NULL);
	it->derlen = derlen;
	if (derlen > 0)
		memcpy(it->buf, der, derlen);
	p = (char *)it->buf + derlen;
	for (i = 0; i < NFIELDS; i++) {
		if (len[i] > 0)
			memcpy(p, f[i], (size_t)len[i]);
		p[len[i]] = '\0';
		*dst[i] = p;
		p += len[i] + 1;
	}
	return it;
}

static void
enqueue(struct store *s, struct item *it, void (*done)(int, void *),
    void *arg)
{
	it->done = done;
	it->arg = arg;
	if (pthread_mutex_lock(&s->mu) != 0)
		abort();
	*s->qtail = it;
	s->qtail = &it->next;
	pthread_mutex_unlock(&s->mu);
	s->pending++;
	if (!s->kicked) {
		s->kicked = 1;
		event_active(s->kick, 0, 0);
	}
}

void
store_cert_clear(struct store_cert *c)
{
	c->serial[0] = c->subject[0] = c->sans[0] = '\0';
	c->provisioner[0] = c->jti[0] = c->renewed_from[0] = '\0';
	c->der = NULL;
	c->derlen = 0;
	c->not_before = c->not_after = c->jti_exp = 0;
	c->ssh = c->ssh_type = 0;
}

/* A string into a buffer of the same size, up to its NUL only. */
static void
strcopy(char *dst, const char *src, size_t size)
{
	size_t	 n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

void
store_cert_copy(struct store_cert *dst, const struct store_cert *src)
{
	strcopy(dst->serial, src->serial, sizeof(dst->serial));
	strcopy(dst->subject, src->subject, sizeof(dst->subject));
	strcopy(dst->sans, src->sans, sizeof(dst->sans));
	strcopy(dst->provisioner, src->provisioner, sizeof(dst->provisioner));
	strcopy(dst->jti, src->jti, sizeof(dst->jti));
	strcopy(dst->renewed_from, src->renewed_from,
	    sizeof(dst->renewed_from));
	dst->der = src->der;
	dst->derlen = src->derlen;
	dst->not_before = src->not_before;
	dst->not_after = src->not_after;
	dst->jti_exp = src->jti_exp;
	dst->ssh = src->ssh;
	dst->ssh_type = src->ssh_type;
}

int
store_put_cert(struct store *s, const struct store_cert *c,
    void (*done)(int result, void *arg), void *arg)
{
	const char	*f[NFIELDS] = { c->serial, c->subject, c->sans,
	    c->provisioner, c->jti, c->renewed_from, NULL };
	const size_t	 fsz[NFIELDS] = { sizeof(c->serial),
	    sizeof(c->subject), sizeof(c->sans), sizeof(c->provisioner),
	    sizeof(c->jti), sizeof(c->renewed_from), 0 };
	struct item	*it;

	if (done == NULL || c->der == NULL || c->derlen == 0 ||
	    c->serial[0] == '\0' || (c->ssh != 0 && c->ssh != 1) ||
	    (it = item_new(s, IK_CERT, c->der, c->derlen, f, fsz)) == NULL)
		return -1;
	it->ssh = c->ssh;
	it->reason = c->ssh_type;	/* IK_CERT: the SSH certificate type */
	it->forget_after = c->jti_exp ? c->jti_exp + STORE_JTI_GRACE : 0;
	it->not_before = c->not_before;
	it->not_after = c->not_after;
	enqueue(s, it, done, arg);
	return 0;
}

int
store_put_revoke(struct store *s, const struct store_revoke *r,
    void (*done)(int result, void *arg), void *arg)
{
	const char	*f[NFIELDS] = { r->serial, NULL, NULL, NULL, r->jti,
	    NULL, r->reason_text };
	const size_t	 fsz[NFIELDS] = { sizeof(r->serial), 0, 0, 0,
	    sizeof(r->jti), 0, sizeof(r->reason_text) };
	struct item	*it;

	if (done == NULL || r->serial[0] == '\0' ||
	    (r->ssh != 0 && r->ssh != 1) ||
	    (it = item_new(s, IK_REVOKE, NULL, 0, f, fsz)) == NULL)
		return -1;
	it->ssh = r->ssh;
	it->reason = r->reason;
	it->forget_after = r->jti_exp ? r->jti_exp + STORE_JTI_GRACE : 0;
	enqueue(s, it, done, arg);
	return 0;
}

int
store_put_crl(struct store *s, uint64_t number, const uint8_t *der,
    size_t derlen, time_t this_update, time_t next_update,
    void (*done)(int result, void *arg), void *arg)
{
	const char	*f[NFIELDS] = { NULL };
	const size_t	 fsz[NFIELDS] = { 0 };
	struct item	*it;

	if (done == NULL || der == NULL || derlen == 0 ||
	    number > INT64_MAX ||
	    (it = item_new(s, IK_CRL, der, derlen, f, fsz)) == NULL)
		return -1;
	it->number = number;
	it->not_before = this_update;
	it->not_after = next_update;
	enqueue(s, it, done, arg);
	return 0;
}

/* Copies column i (text) into a field, truncating; "" for NULL. */
static void
col_text(sqlite3_stmt *st, int i, char *out, size_t outsz)
{
	const unsigned char	*t = sqlite3_column_text(st, i);

	snprintf(out, outsz, "%s", t == NULL ? "" : (const char *)t);
}

int
store_get(struct store *s, int ssh, const char *serial,
    struct store_record *r)
{
	sqlite3_stmt	*st;
	const void	*der;
	int		 rc, n, ret = -1;

	memset(r, 0, sizeof(*r));
	if ((ssh != 0 && ssh != 1) || serial == NULL || *serial == '\0' ||
	    strlen(serial) >= sizeof(r->serial))
		return -1;
	st = s->rd_cert[ssh];
	if (bind_text(st, 1, serial) != SQLITE_OK)
		goto out;
	if ((rc = sqlite3_step(st)) == SQLITE_DONE) {
		ret = 1;
		goto out;
	}
	if (rc != SQLITE_ROW)
		goto out;
	snprintf(r->serial, sizeof(r->serial), "%s", serial);
	der = sqlite3_column_blob(st, 0);
	n = sqlite3_column_bytes(st, 0);
	if (der == NULL || n <= 0 || (r->der = malloc(n)) == NULL)
		goto out;
	memcpy(r->der, der, n);
	r->derlen = n;
	r->not_before = sqlite3_column_int64(st, 1);
	r->not_after = sqlite3_column_int64(st, 2);
	col_text(st, 3, r->provisioner, sizeof(r->provisioner));
	r->revoked_at = sqlite3_column_type(st, 4) == SQLITE_NULL ? 0 :
	    sqlite3_column_int64(st, 4);
	r->reason = sqlite3_column_int(st, 5);
	col_text(st, 6, r->reason_text, sizeof(r->reason_text));
	col_text(st, 7, r->subject, sizeof(r->subject));
	col_text(st, 8, r->sans, sizeof(r->sans));
	ret = 0;
out:
	(void)sqlite3_reset(st);
	(void)sqlite3_clear_bindings(st);
	if (ret != 0)
		store_record_free(r);
	return ret;
}

void
store_record_free(struct store_record *r)
{
	free(r->der);
	r->der = NULL;
	r->derlen = 0;
}

int
store_list_revoked(struct store *s, int ssh, time_t now,
    struct store_revoked **out, size_t *n)
{
	sqlite3_stmt	*st;
	struct store_revoked *v = NULL, *nv;
	size_t		 len = 0, cap = 0;
	int		 rc;

	*out = NULL;
	*n = 0;
	if (ssh != 0 && ssh != 1)
		return -1;
	st = s->rd_revoked[ssh];
	if (sqlite3_bind_int64(st, 1, now) != SQLITE_OK)
		goto bad;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (len == cap) {
			cap = cap ? cap * 2 : 64;
			if ((nv = reallocarray(v, cap, sizeof(*v))) == NULL)
				goto bad;
			v = nv;
		}
		col_text(st, 0, v[len].serial, sizeof(v[len].serial));
		v[len].at = sqlite3_column_int64(st, 1);
		v[len].reason = sqlite3_column_int(st, 2);
		len++;
	}
	if (rc != SQLITE_DONE)
		goto bad;
	(void)sqlite3_reset(st);
	*out = v;
	*n = len;
	return 0;
bad:
	(void)sqlite3_reset(st);
	free(v);
	return -1;
}

int
store_latest_crl(struct store *s, struct store_crl *c)
{
	sqlite3_stmt	*st = s->rd_crl;
	const void	*der;
	int		 rc, n, ret = -1;

	memset(c, 0, sizeof(*c));
	if ((rc = sqlite3_step(st)) == SQLITE_DONE) {
		ret = 1;
		goto out;
	}
	if (rc != SQLITE_ROW)
		goto out;
	c->number = (uint64_t)sqlite3_column_int64(st, 0);
	der = sqlite3_column_blob(st, 1);
	n = sqlite3_column_bytes(st, 1);
	if (der == NULL || n <= 0 || (c->der = malloc(n)) == NULL)
		goto out;
	memcpy(c->der, der, n);
	c->derlen = n;
	c->this_update = sqlite3_column_int64(st, 2);
	c->next_update = sqlite3_column_int64(st, 3);
	ret = 0;
out:
	(void)sqlite3_reset(st);
	return ret;
}

void
store_get_stats(struct store *s, struct store_stats *st)
{
	if (pthread_mutex_lock(&s->mu) != 0)
		abort();
	*st = s->stats;
	pthread_mutex_unlock(&s->mu);
}

void
store_set_group_max(struct store *s, size_t max)
{
	if (pthread_mutex_lock(&s->mu) != 0)
		abort();
	s->group_max = max;
	pthread_mutex_unlock(&s->mu);
}

int
store_ssh_hosts(struct store *s, time_t now, char ***out, size_t *n)
{
	sqlite3_stmt	*st = s->rd_hosts;
	const unsigned char *t;
	char		**v = NULL, **nv;
	size_t		 len = 0, cap = 0, i;
	int		 rc;

	*out = NULL;
	*n = 0;
	if (sqlite3_bind_int64(st, 1, now) != SQLITE_OK)
		goto bad;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((t = sqlite3_column_text(st, 0)) == NULL)
			continue;
		if (len == cap) {
			cap = cap ? cap * 2 : 16;
			if ((nv = reallocarray(v, cap, sizeof(*v))) == NULL)
				goto bad;
			v = nv;
		}
		if ((v[len] = strdup((const char *)t)) == NULL)
			goto bad;
		len++;
	}
	if (rc != SQLITE_DONE)
		goto bad;
	(void)sqlite3_reset(st);
	*out = v;
	*n = len;
	return 0;
bad:
	(void)sqlite3_reset(st);
	for (i = 0; i < len; i++)
		free(v[i]);
	free(v);
	return -1;
}

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
 * store_jti_reserve never reads the disk. All used jtis are kept, for ever:
 * simplest and correct, at about 45 bytes plus the jti each (measured: a
 * million 36-character jtis take 80 MB). Only jtis of tokens that could
 * still verify matter, so a later migration can record each token's expiry
 * and skip expired ones at open. The UNIQUE key on used_tokens.jti stays
 * the backstop should the set ever miss one (another node writing the same
 * file): that certificate then fails at its commit.
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
#include <unistd.h>

#include <sqlite3.h>

#include "appliance/store.h"

#define BUSY_TIMEOUT_MS	5000
#define CHECKPOINT_PAGES 1000		/* SQLite's own default */
#define STORE_MAX_DER	(1024 * 1024)
#define JSET_MIN	1024		/* slots; always a power of two */

/* What the writer says about one certificate. */
enum item_status {
	IT_QUEUED = 0,
	IT_OK,
	IT_DUP_SERIAL,		/* this item alone rolled back */
	IT_DUP_JTI,		/* ditto; the jti is used by someone else */
	IT_FAILED,		/* its whole group failed */
};

/* One queued certificate: a single allocation, strings after the DER. */
struct item {
	struct item	*next;
	void		(*done)(int, void *);
	void		*arg;
	enum item_status status;
	time_t		 not_before, not_after, issued_at;
	size_t		 derlen;
	const char	*serial, *subject, *sans, *provisioner, *jti;
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
	sqlite3_stmt	*st_cert, *st_jti;
	int		 wal_pages;	/* writer's: WAL after its COMMIT */

	/* Event loop only. */
	struct jset	 jset;
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

/* Sets s to state, adding it when absent. */
static int
jset_put(struct jset *js, const char *s, enum jti_state state)
{
	struct jent	*e;
	size_t		 len = strlen(s), i;
	uint32_t	 h = (uint32_t)siphash(js->key, s, len);

	i = jset_slot(js, s, len, h);
	if (js->slot[i] != NULL) {
		js->slot[i]->state = state;
		return 0;
	}
	/* Load at most 3/4: short probes on a miss, the common case. */
	if ((js->n + 1) * 4 > (js->mask + 1) * 3) {
		if (jset_grow(js) == -1)
			return -1;
		i = jset_slot(js, s, len, h);
	}
	if ((e = malloc(sizeof(*e) + len + 1)) == NULL)
		return -1;
	e->hash = h;
	e->state = state;
	memcpy(e->s, s, len + 1);
	js->slot[i] = e;
	js->n++;
	return 0;
}

static void
jset_del(struct jset *js, const char *s)
{
	size_t	 len = strlen(s), i, j, home;
	uint32_t h = (uint32_t)siphash(js->key, s, len);

	i = jset_slot(js, s, len, h);
	if (js->slot[i] == NULL)
		return;
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
 * One certificate inside the group's transaction, under its own SAVEPOINT
 * so that a constraint failure undoes just this one. Returns -1 when the
 * error is not the item's fault (the group fails).
 */
static int
write_item(struct store *s, struct item *it)
{
	sqlite3_stmt	*st = s->st_cert;
	int		 rc;

	if (step_reset(s->st_sp) != SQLITE_DONE) {
		set_error(s, "SAVEPOINT");
		return -1;
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
	    sqlite3_bind_int64(st, 9, it->issued_at) != SQLITE_OK) {
		set_error(s, "bind");
		(void)sqlite3_clear_bindings(st);
		return -1;
	}
	rc = step_reset(st);
	it->status = IT_DUP_SERIAL;
	if (rc == SQLITE_DONE && it->jti[0]) {
		st = s->st_jti;
		if (bind_text(st, 1, it->jti) != SQLITE_OK ||
		    sqlite3_bind_int64(st, 2, it->issued_at) != SQLITE_OK) {
			set_error(s, "bind");
			(void)sqlite3_clear_bindings(st);
			return -1;
		}
		rc = step_reset(st);
		it->status = IT_DUP_JTI;
	}
	if (rc == SQLITE_DONE) {
		if (step_reset(s->st_sp_release) != SQLITE_DONE) {
			set_error(s, "RELEASE");
			return -1;
		}
		it->status = IT_OK;
		return 0;
	}
	if ((rc & 0xff) != SQLITE_CONSTRAINT) {
		set_error(s, "INSERT");
		return -1;
	}
	if (step_reset(s->st_sp_rollback) != SQLITE_DONE ||
	    step_reset(s->st_sp_release) != SQLITE_DONE) {
		set_error(s, "ROLLBACK TO");
		return -1;
	}
	return 0;
}

/* The whole group in one transaction: one fsync at COMMIT. */
static int
write_group(struct store *s, struct item *head)
{
	struct item	*it;

	if (step_reset(s->st_begin) != SQLITE_DONE) {
		set_error(s, "BEGIN");
		goto fail;
	}
	for (it = head; it != NULL; it = it->next)
		if (write_item(s, it) == -1)
			goto fail;
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
				(void)jset_put(&s->jset, it->jti, J_USED);
			} else if (e != NULL && e->state != J_USED)
				jset_del(&s->jset, it->jti);
		}
		s->pending--;
		it->done(ok, it->arg);
		free(it);
	}
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
	int			 rc;

	if (sqlite3_prepare_v2(s->db, "SELECT jti FROM used_tokens", -1, &st,
	    NULL) != SQLITE_OK) {
		snprintf(err, errsz, "%s: %s", path, sqlite3_errmsg(s->db));
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((jti = sqlite3_column_text(st, 0)) == NULL)
			continue;
		if (jset_put(&s->jset, (const char *)jti, J_USED) == -1) {
			snprintf(err, errsz, "%s: out of memory loading used "
			    "tokens", path);
			(void)sqlite3_finalize(st);
			return -1;
		}
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
		{ &s->st_cert, "INSERT INTO certs (serial, der, subject, sans, "
		    "not_before, not_after, provisioner, jti, issued_at) "
		    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)" },
		{ &s->st_jti, "INSERT INTO used_tokens (jti, used_at) "
		    "VALUES (?1, ?2)" },
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

/* Frees what store_open made; the writer must not be running. */
static void
destroy(struct store *s)
{
	sqlite3_stmt	*st[] = { s->st_begin, s->st_commit, s->st_rollback,
	    s->st_sp, s->st_sp_release, s->st_sp_rollback, s->st_cert,
	    s->st_jti };
	size_t		 i;

	/* finalize repeats the statement's last error; nothing to undo. */
	for (i = 0; i < sizeof(st) / sizeof(st[0]); i++)
		(void)sqlite3_finalize(st[i]);
	if (s->db != NULL && sqlite3_close(s->db) != SQLITE_OK)
		fprintf(stderr, "store: sqlite3_close: %s\n",
		    sqlite3_errmsg(s->db));	/* a statement leaked: a bug */
	if (s->ev != NULL)
		event_free(s->ev);
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
	    prepare(s, path, err, errsz) == -1)
		goto bad;

	if ((s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		snprintf(err, errsz, "eventfd: %s", strerror(errno));
		goto bad;
	}
	if ((s->ev = event_new(base, s->efd, EV_READ | EV_PERSIST, on_efd,
	    s)) == NULL || event_add(s->ev, NULL) == -1) {
		snprintf(err, errsz, "cannot add the store's event");
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
	return jset_put(&s->jset, jti, J_RESERVED);
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

int
store_put_cert(struct store *s, const struct store_cert *c,
    void (*done)(int ok, void *arg), void *arg)
{
	struct item	*it;
	struct jent	*e;
	ssize_t		 ls, lsu, lsa, lp, lj;
	char		*p;

	if (s->stopping || done == NULL || s->pending >= STORE_MAX_PENDING ||
	    c->der == NULL || c->derlen == 0 || c->derlen > STORE_MAX_DER ||
	    (ls = field(c->serial, sizeof(c->serial))) <= 0 ||
	    (lsu = field(c->subject, sizeof(c->subject))) < 0 ||
	    (lsa = field(c->sans, sizeof(c->sans))) < 0 ||
	    (lp = field(c->provisioner, sizeof(c->provisioner))) < 0 ||
	    (lj = field(c->jti, sizeof(c->jti))) < 0)
		return -1;
	if ((it = malloc(sizeof(*it) + c->derlen + ls + lsu + lsa + lp + lj +
	    5)) == NULL)
		return -1;
	/* The jti is queued with its certificate; release leaves it be. */
	if (lj > 0 && ((e = jset_get(&s->jset, c->jti)) == NULL ||
	    e->state == J_RESERVED) &&
	    jset_put(&s->jset, c->jti, J_QUEUED) == -1) {
		free(it);
		return -1;
	}
	it->next = NULL;
	it->done = done;
	it->arg = arg;
	it->status = IT_QUEUED;
	it->not_before = c->not_before;
	it->not_after = c->not_after;
	it->issued_at = time(NULL);
	it->derlen = c->derlen;
	memcpy(it->buf, c->der, c->derlen);
	p = (char *)it->buf + c->derlen;
	it->serial = memcpy(p, c->serial, ls + 1);
	p += ls + 1;
	it->subject = memcpy(p, c->subject, lsu + 1);
	p += lsu + 1;
	it->sans = memcpy(p, c->sans, lsa + 1);
	p += lsa + 1;
	it->provisioner = memcpy(p, c->provisioner, lp + 1);
	p += lp + 1;
	it->jti = memcpy(p, c->jti, lj + 1);

	if (pthread_mutex_lock(&s->mu) != 0)
		abort();
	*s->qtail = it;
	s->qtail = &it->next;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	s->pending++;
	return 0;
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

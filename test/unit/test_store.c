/*
 * test_store.c — the SQLite store (appliance/store.h) on a real event_base
 * and a real database file in a temporary directory: certificates put are
 * all acknowledged and their rows are there (read back with the plain
 * sqlite3 API after store_close); a duplicate serial or jti fails that
 * certificate alone; jti reserve/release/commit states; used jtis survive a
 * reopen; the writer groups many certificates per transaction; an I/O
 * error fails a whole group and the next one commits; store_close drains;
 * a process that dies right after acknowledgements leaves every
 * acknowledged certificate in the file; revocation (once, of a known
 * serial, durable), renewals refused once what they renew is revoked,
 * CRL numbers never reused, SSH certificates in their own table; used
 * jtis past their exp are forgotten in memory by the sweep, live ones not.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <sqlite3.h>

#include "appliance/store.h"

#define DERMAX	(256 * 1024)

struct fix {
	char		 dir[64];
	char		 db[96];
	struct event_base *base;
};

struct tally;

struct ack {
	struct tally	*t;
	int		 i;
	int		 res;		/* -1 until reported */
};

struct tally {
	struct event_base *base;
	struct ack	*acks;
	int		 n;		/* acks allocated */
	int		 want, got, ok;
	int		 last;		/* index of the last one reported */
	int		 disorder;
	int		 timedout;
};

static uint8_t	 derbuf[DERMAX];

static int
setup(void **state)
{
	struct fix	*fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_store.XXXXXX");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	snprintf(fx->db, sizeof(fx->db), "%s/ca.db", fx->dir);
	if ((fx->base = event_base_new()) == NULL)
		return -1;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fix	*fx = *state;
	char		 p[128];
	const char	*sfx[] = { "", "-wal", "-shm", "-journal" };
	size_t		 i;

	for (i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", fx->db, sfx[i]);
		unlink(p);
	}
	rmdir(fx->dir);
	event_base_free(fx->base);
	free(fx);
	return 0;
}

static struct tally *
tally_new(struct event_base *base, int n)
{
	struct tally	*t = calloc(1, sizeof(*t));
	int		 i;

	assert_non_null(t);
	assert_non_null(t->acks = calloc(n, sizeof(*t->acks)));
	t->base = base;
	t->n = n;
	t->last = -1;
	for (i = 0; i < n; i++) {
		t->acks[i].t = t;
		t->acks[i].i = i;
		t->acks[i].res = -1;
	}
	return t;
}

static void
tally_free(struct tally *t)
{
	free(t->acks);
	free(t);
}

static void
on_done(int ok, void *arg)
{
	struct ack	*a = arg;
	struct tally	*t = a->t;

	assert_int_equal(a->res, -1);	/* exactly once */
	a->res = ok;
	if (a->i < t->last)
		t->disorder = 1;
	t->last = a->i;
	t->got++;
	t->ok += ok == STORE_OK;
}

static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct tally	*t = arg;

	(void)fd;
	(void)what;
	t->timedout = 1;
}

/* Runs the loop until every certificate put so far is reported. */
static void
wait_all(struct tally *t)
{
	struct event	*tm;
	struct timeval	 tv = { 120, 0 };	/* a hang guard, not a timing */

	assert_non_null(tm = evtimer_new(t->base, on_timeout, t));
	assert_int_equal(evtimer_add(tm, &tv), 0);
	while (t->got < t->want && !t->timedout)
		assert_int_not_equal(event_base_loop(t->base, EVLOOP_ONCE), -1);
	event_free(tm);
	assert_false(t->timedout);
	assert_int_equal(t->got, t->want);
	assert_false(t->disorder);
}

static size_t
der_for(int i, uint8_t *der, size_t len)
{
	size_t	 k;

	if (len == 0)
		len = 300 + i % 50;
	for (k = 0; k < len; k++)
		der[k] = (uint8_t)(i * 31 + k * 7);
	return len;
}

/* Certificate i with jti (NULL: "jti-<i>"), DER in derbuf. */
static void
cert_for(struct store_cert *c, int i, const char *jti, size_t derlen)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->serial, sizeof(c->serial), "%032x", i);
	c->derlen = der_for(i, derbuf, derlen);
	c->der = derbuf;
	snprintf(c->subject, sizeof(c->subject), "CN=host%d.example.com", i);
	snprintf(c->sans, sizeof(c->sans), "host%d.example.com,10.0.%d.%d",
	    i, i / 256 % 256, i % 256);
	c->not_before = 1700000000 + i;
	c->not_after = 1700086400 + i;
	snprintf(c->provisioner, sizeof(c->provisioner), "admin@example.com");
	if (jti == NULL)
		snprintf(c->jti, sizeof(c->jti), "jti-%d", i);
	else
		snprintf(c->jti, sizeof(c->jti), "%s", jti);
}

static int
put(struct store *s, struct tally *t, int i, const char *jti, size_t derlen)
{
	struct store_cert	 c;
	int			 rc;

	assert_true(i < t->n);
	cert_for(&c, i, jti, derlen);
	if ((rc = store_put_cert(s, &c, on_done, &t->acks[i])) == 0)
		t->want++;
	return rc;
}

static struct store *
open_store(struct fix *fx)
{
	struct store	*s;
	char		 err[256] = "";

	s = store_open(fx->db, fx->base, err, sizeof(err));
	if (s == NULL)
		fail_msg("store_open: %s", err);
	return s;
}

/* The plain sqlite3 API, independent of store.c. */
static sqlite3 *
db_open(const char *path)
{
	sqlite3	*db = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE,
	    NULL), SQLITE_OK);
	return db;
}

static void
db_close(sqlite3 *db)
{
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* One integer from sql, whose only parameter (if any) is text p. */
static long long
db_int(sqlite3 *db, const char *sql, const char *p)
{
	sqlite3_stmt	*st;
	long long	 v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (p != NULL)
		assert_int_equal(sqlite3_bind_text(st, 1, p, -1,
		    SQLITE_STATIC), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
	return v;
}

/* The first column of sql's first row, copied to a static buffer. */
static const char *
db_text(sqlite3 *db, const char *sql)
{
	static char	 buf[256];
	sqlite3_stmt	*st;
	const unsigned char *v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_non_null(v = sqlite3_column_text(st, 0));
	snprintf(buf, sizeof(buf), "%s", v);
	assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
	return buf;
}

/* Certificate i's row, field by field. */
static void
check_row(sqlite3 *db, int i)
{
	struct store_cert	 c;
	sqlite3_stmt		*st;

	cert_for(&c, i, NULL, 0);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT der, subject, sans, "
	    "not_before, not_after, provisioner, jti, issued_at, revoked_at, "
	    "revocation_reason FROM certs WHERE serial = ?", -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_bind_text(st, 1, c.serial, -1,
	    SQLITE_STATIC), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_bytes(st, 0), c.derlen);
	assert_memory_equal(sqlite3_column_blob(st, 0), c.der, c.derlen);
	assert_string_equal(sqlite3_column_text(st, 1), c.subject);
	assert_string_equal(sqlite3_column_text(st, 2), c.sans);
	assert_int_equal(sqlite3_column_int64(st, 3), c.not_before);
	assert_int_equal(sqlite3_column_int64(st, 4), c.not_after);
	assert_string_equal(sqlite3_column_text(st, 5), c.provisioner);
	assert_string_equal(sqlite3_column_text(st, 6), c.jti);
	assert_true(sqlite3_column_int64(st, 7) > 1700000000);
	assert_int_equal(sqlite3_column_type(st, 8), SQLITE_NULL);
	assert_int_equal(sqlite3_column_type(st, 9), SQLITE_NULL);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
}

static int
has_serial(sqlite3 *db, const char *serial)
{
	return (int)db_int(db, "SELECT COUNT(*) FROM certs WHERE serial = ?",
	    serial);
}

static void
test_put_many(void **state)
{
	struct fix		*fx = *state;
	struct store		*s = open_store(fx);
	struct tally		*t = tally_new(fx->base, 200);
	struct store_stats	 st;
	sqlite3			*db;
	char			 jti[32];
	int			 i;

	for (i = 0; i < 200; i++) {
		snprintf(jti, sizeof(jti), "jti-%d", i);
		assert_int_equal(store_jti_reserve(s, jti), 0);
		assert_int_equal(put(s, t, i, NULL, 0), 0);
	}
	wait_all(t);
	assert_int_equal(t->ok, 200);
	store_get_stats(s, &st);
	assert_int_equal(st.certs_ok, 200);
	assert_int_equal(st.certs_failed, 0);
	assert_int_equal(st.commits, st.groups);
	assert_string_equal(st.last_error, "");
	store_close(s);

	db = db_open(fx->db);
	assert_int_equal(db_int(db, "SELECT COUNT(*) FROM certs", NULL), 200);
	assert_int_equal(db_int(db, "SELECT COUNT(*) FROM used_tokens", NULL),
	    200);
	assert_int_equal(db_int(db, "SELECT COUNT(*) FROM used_tokens WHERE "
	    "used_at > 1700000000", NULL), 200);
	assert_int_equal(db_int(db, "SELECT MAX(version) FROM schema_version",
	    NULL), 4);
	for (i = 0; i < 200; i++)
		check_row(db, i);
	db_close(db);
	tally_free(t);
}

static void
test_duplicates(void **state)
{
	struct fix		*fx = *state;
	struct store		*s = open_store(fx);
	struct tally		*t = tally_new(fx->base, 8);
	struct store_cert	 c;
	sqlite3			*db;

	assert_int_equal(store_jti_reserve(s, "a"), 0);
	assert_int_equal(store_jti_reserve(s, "b"), 0);
	assert_int_equal(store_jti_reserve(s, "c"), 0);
	/* 0, 1 with 0's serial, 2: likely one group; 1 fails either way. */
	assert_int_equal(put(s, t, 0, "a", 0), 0);
	cert_for(&c, 0, "b", 0);
	assert_int_equal(store_put_cert(s, &c, on_done, &t->acks[1]), 0);
	t->want++;
	assert_int_equal(put(s, t, 2, "c", 0), 0);
	wait_all(t);
	assert_int_equal(t->acks[0].res, 1);
	assert_int_equal(t->acks[1].res, STORE_DUP);
	assert_int_equal(t->acks[2].res, 1);
	/* The failed one's token is given back; the others are spent. */
	assert_int_equal(store_jti_reserve(s, "a"), 1);
	assert_int_equal(store_jti_reserve(s, "c"), 1);
	assert_int_equal(store_jti_reserve(s, "b"), 0);
	store_jti_release(s, "b");

	/* A serial committed by an earlier group. */
	cert_for(&c, 2, "d", 0);
	assert_int_equal(store_put_cert(s, &c, on_done, &t->acks[3]), 0);
	t->want++;
	/* A jti already used: the certificate's row goes too. */
	assert_int_equal(put(s, t, 4, "a", 0), 0);
	/* And a good one after them. */
	assert_int_equal(put(s, t, 5, "e", 0), 0);
	wait_all(t);
	assert_int_equal(t->acks[3].res, STORE_DUP);
	assert_int_equal(t->acks[4].res, STORE_DUP);
	assert_int_equal(t->acks[5].res, 1);
	assert_int_equal(store_jti_reserve(s, "d"), 0);
	assert_int_equal(store_jti_reserve(s, "a"), 1);
	store_close(s);

	db = db_open(fx->db);
	assert_int_equal(db_int(db, "SELECT COUNT(*) FROM certs", NULL), 3);
	assert_int_equal(db_int(db, "SELECT COUNT(*) FROM used_tokens", NULL),
	    3);
	assert_int_equal(db_int(db, "SELECT COUNT(*) FROM used_tokens WHERE "
	    "jti IN ('a', 'c', 'e')", NULL), 3);
	cert_for(&c, 4, NULL, 0);
	assert_int_equal(has_serial(db, c.serial), 0);
	/* Row 0 is certificate 0's, not the duplicate's. */
	assert_int_equal(db_int(db, "SELECT COUNT(*) FROM certs WHERE jti = "
	    "'a' AND serial = printf('%032x', 0)", NULL), 1);
	assert_int_equal(db_int(db, "SELECT COUNT(*) FROM certs WHERE jti = "
	    "'c' AND serial = printf('%032x', 2)", NULL), 1);
	db_close(db);
	tally_free(t);
}

static void
test_jti_states(void **state)
{
	struct fix		*fx = *state;
	struct store		*s = open_store(fx);
	struct tally		*t = tally_new(fx->base, 4);
	struct store_cert	 c;
	char			 jti[300];
	int			 i;

	assert_int_equal(store_jti_reserve(s, "x"), 0);
	assert_int_equal(store_jti_reserve(s, "x"), 1);
	store_jti_release(s, "x");
	assert_int_equal(store_jti_reserve(s, "x"), 0);
	assert_int_equal(put(s, t, 0, "x", 0), 0);
	/* Queued: in flight, and a stray release does not free it. */
	assert_int_equal(store_jti_reserve(s, "x"), 1);
	store_jti_release(s, "x");
	assert_int_equal(store_jti_reserve(s, "x"), 1);
	wait_all(t);
	assert_int_equal(t->acks[0].res, 1);
	assert_int_equal(store_jti_reserve(s, "x"), 1);
	store_jti_release(s, "x");
	assert_int_equal(store_jti_reserve(s, "x"), 1);	/* used for good */

	/* A certificate without token: no jti row, jti column NULL. */
	cert_for(&c, 1, "", 0);
	assert_int_equal(store_put_cert(s, &c, on_done, &t->acks[1]), 0);
	t->want++;
	wait_all(t);
	assert_int_equal(t->acks[1].res, 1);

	/* Bounds: what store_cert.jti can carry. */
	assert_int_equal(store_jti_reserve(s, ""), -1);
	memset(jti, 'j', sizeof(jti));
	jti[255] = '\0';
	assert_int_equal(store_jti_reserve(s, jti), 0);
	jti[255] = 'j';
	jti[256] = '\0';
	assert_int_equal(store_jti_reserve(s, jti), -1);

	/* Many, released in a pattern: growth and deletion keep the rest. */
	for (i = 0; i < 5000; i++) {
		snprintf(jti, sizeof(jti), "many-%d", i);
		assert_int_equal(store_jti_reserve(s, jti), 0);
	}
	for (i = 0; i < 5000; i += 3) {
		snprintf(jti, sizeof(jti), "many-%d", i);
		store_jti_release(s, jti);
	}
	for (i = 0; i < 5000; i++) {
		snprintf(jti, sizeof(jti), "many-%d", i);
		assert_int_equal(store_jti_reserve(s, jti), i % 3 == 0 ? 0 : 1);
	}
	assert_int_equal(store_jti_reserve(s, "x"), 1);
	store_close(s);

	{
		sqlite3	*db = db_open(fx->db);

		cert_for(&c, 1, "", 0);
		assert_int_equal(db_int(db, "SELECT COUNT(*) FROM certs WHERE "
		    "serial = ? AND jti IS NULL", c.serial), 1);
		assert_int_equal(db_int(db, "SELECT COUNT(*) FROM used_tokens",
		    NULL), 1);
		db_close(db);
	}
	tally_free(t);
}

static void
test_reopen(void **state)
{
	struct fix	*fx = *state;
	struct store	*s = open_store(fx);
	struct tally	*t = tally_new(fx->base, 50);
	sqlite3		*db;
	char		 jti[32];
	int		 i;

	for (i = 0; i < 50; i++) {
		snprintf(jti, sizeof(jti), "jti-%d", i);
		assert_int_equal(store_jti_reserve(s, jti), 0);
		assert_int_equal(put(s, t, i, NULL, 0), 0);
	}
	wait_all(t);
	assert_int_equal(t->ok, 50);
	assert_int_equal(store_jti_reserve(s, "reserved-only"), 0);
	store_close(s);

	s = open_store(fx);
	for (i = 0; i < 50; i++) {
		snprintf(jti, sizeof(jti), "jti-%d", i);
		assert_int_equal(store_jti_reserve(s, jti), 1);
	}
	/* A reservation is not a use: it does not survive. */
	assert_int_equal(store_jti_reserve(s, "reserved-only"), 0);
	assert_int_equal(store_jti_reserve(s, "jti-50"), 0);
	store_close(s);

	/* Each migration ran once. */
	db = db_open(fx->db);
	assert_int_equal(db_int(db, "SELECT COUNT(*) FROM schema_version",
	    NULL), 4);
	db_close(db);
	tally_free(t);
}

static void
test_group_commit(void **state)
{
	struct fix		*fx = *state;
	struct store		*s = open_store(fx);
	struct tally		*t = tally_new(fx->base, 1020);
	struct store_stats	 a, b;
	int			 i;

	for (i = 0; i < 1000; i++)
		assert_int_equal(put(s, t, i, NULL, 0), 0);
	wait_all(t);
	assert_int_equal(t->ok, 1000);
	store_get_stats(s, &a);
	print_message("1000 certificates in %llu transactions\n",
	    (unsigned long long)a.groups);
	assert_true(a.groups >= 1 && a.groups <= 100);
	assert_int_equal(a.commits, a.groups);
	assert_int_equal(a.certs_ok, 1000);

	/* One per transaction, when asked. */
	store_set_group_max(s, 1);
	for (i = 1000; i < 1020; i++)
		assert_int_equal(put(s, t, i, NULL, 0), 0);
	wait_all(t);
	assert_int_equal(t->ok, 1020);
	store_get_stats(s, &b);
	assert_int_equal(b.groups - a.groups, 20);
	store_close(s);
	tally_free(t);
}

struct again {
	struct store	*s;
	int		 called, ok, rc;
};

static void
on_done_put_again(int ok, void *arg)
{
	struct again		*g = arg;
	struct store_cert	 c;

	g->called++;
	g->ok = ok;
	cert_for(&c, 999, NULL, 0);
	g->rc = store_put_cert(g->s, &c, on_done_put_again, g);
}

static void
test_close_drains(void **state)
{
	struct fix		*fx = *state;
	struct store		*s = open_store(fx);
	struct tally		*t = tally_new(fx->base, 100);
	struct again		 g = { s, 0, -1, 0 };
	struct store_cert	 c;
	sqlite3			*db;
	int			 i;

	for (i = 0; i < 100; i++)
		assert_int_equal(put(s, t, i, NULL, 0), 0);
	cert_for(&c, 100, NULL, 0);
	assert_int_equal(store_put_cert(s, &c, on_done_put_again, &g), 0);
	/* The loop never runs: store_close commits and reports all. */
	store_close(s);
	assert_int_equal(t->got, 100);
	assert_int_equal(t->ok, 100);
	assert_false(t->disorder);
	assert_int_equal(g.called, 1);
	assert_int_equal(g.ok, 1);
	assert_int_equal(g.rc, -1);	/* closing: nothing new */

	db = db_open(fx->db);
	assert_int_equal(db_int(db, "SELECT COUNT(*) FROM certs", NULL), 101);
	db_close(db);
	tally_free(t);
}

static void
test_bad_input_and_limit(void **state)
{
	struct fix		*fx = *state;
	struct store		*s = open_store(fx);
	struct tally		*t = tally_new(fx->base, STORE_MAX_PENDING + 2);
	struct store_cert	 c;
	int			 i;

	assert_int_equal(store_jti_reserve(s, "held"), 0);
	cert_for(&c, 0, "held", 0);
	c.serial[0] = '\0';
	assert_int_equal(store_put_cert(s, &c, on_done, &t->acks[0]), -1);
	cert_for(&c, 0, "held", 0);
	c.der = NULL;
	assert_int_equal(store_put_cert(s, &c, on_done, &t->acks[0]), -1);
	cert_for(&c, 0, "held", 0);
	c.derlen = 0;
	assert_int_equal(store_put_cert(s, &c, on_done, &t->acks[0]), -1);
	cert_for(&c, 0, "held", 0);
	memset(c.subject, 'x', sizeof(c.subject));
	assert_int_equal(store_put_cert(s, &c, on_done, &t->acks[0]), -1);
	cert_for(&c, 0, "held", 0);
	memset(c.jti, 'x', sizeof(c.jti));
	assert_int_equal(store_put_cert(s, &c, on_done, &t->acks[0]), -1);
	/* A refused put leaves the reservation to the caller to release. */
	assert_int_equal(store_jti_reserve(s, "held"), 1);
	store_jti_release(s, "held");
	assert_int_equal(store_jti_reserve(s, "held"), 0);

	/* The loop does not run, so nothing is reported: the cap holds. */
	for (i = 0; i < STORE_MAX_PENDING; i++)
		assert_int_equal(put(s, t, i, "", 0), 0);
	assert_int_equal(put(s, t, i, "", 0), -1);
	wait_all(t);
	assert_int_equal(t->ok, STORE_MAX_PENDING);
	assert_int_equal(put(s, t, i, "", 0), 0);
	wait_all(t);
	assert_int_equal(t->ok, STORE_MAX_PENDING + 1);
	store_close(s);
	tally_free(t);
}

static void
test_io_error(void **state)
{
	struct fix		*fx = *state;
	struct store		*s = open_store(fx);
	struct tally		*t = tally_new(fx->base, 8);
	struct store_stats	 a, b;
	struct rlimit		 old, lim;
	struct stat		 sb;
	void			(*oldsig)(int);
	char			 wal[128];
	sqlite3			*db;
	int			 i;

	assert_int_equal(put(s, t, 0, NULL, 0), 0);
	wait_all(t);
	assert_int_equal(t->acks[0].res, 1);
	store_get_stats(s, &a);

	/*
	 * No write may grow a file past its present end: the WAL cannot take
	 * a frame, as on a full disk. A fresh WAL is not restarted before it
	 * is checkpointed (1000 pages), so every frame goes at its end.
	 */
	snprintf(wal, sizeof(wal), "%s-wal", fx->db);
	assert_int_equal(stat(wal, &sb), 0);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	assert_true((oldsig = signal(SIGXFSZ, SIG_IGN)) != SIG_ERR);
	lim = old;
	lim.rlim_cur = sb.st_size;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	assert_int_equal(store_jti_reserve(s, "jti-1"), 0);
	assert_int_equal(put(s, t, 1, NULL, 0), 0);
	assert_int_equal(put(s, t, 2, NULL, 100000), 0);
	assert_int_equal(put(s, t, 3, NULL, 0), 0);
	wait_all(t);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_true(signal(SIGXFSZ, oldsig) != SIG_ERR);

	for (i = 1; i <= 3; i++)
		assert_int_equal(t->acks[i].res, 0);
	store_get_stats(s, &b);
	assert_true(b.groups > a.groups);
	assert_int_equal(b.commits, a.commits);
	assert_int_equal(b.certs_failed, 3);
	assert_string_not_equal(b.last_error, "");
	print_message("I/O error reported as: %s\n", b.last_error);
	/* Given back: the client may retry with the same token. */
	assert_int_equal(store_jti_reserve(s, "jti-1"), 0);

	/* The next groups commit, the retried token too. */
	assert_int_equal(put(s, t, 4, NULL, 0), 0);
	assert_int_equal(put(s, t, 5, NULL, 100000), 0);
	assert_int_equal(put(s, t, 6, "jti-1", 0), 0);
	wait_all(t);
	for (i = 4; i <= 6; i++)
		assert_int_equal(t->acks[i].res, 1);
	assert_int_equal(store_jti_reserve(s, "jti-1"), 1);
	store_close(s);

	db = db_open(fx->db);
	assert_int_equal(db_int(db, "SELECT COUNT(*) FROM certs", NULL), 4);
	assert_string_equal(db_text(db, "PRAGMA integrity_check"), "ok");
	for (i = 1; i <= 3; i++) {
		struct store_cert	c;

		cert_for(&c, i, NULL, 0);
		assert_int_equal(has_serial(db, c.serial), 0);
	}
	check_row(db, 0);
	check_row(db, 4);
	db_close(db);
	tally_free(t);
}

/*
 * The crash: a child keeps 64 certificates in flight, writes each
 * acknowledged serial to a pipe, and _exit()s in the middle of it all. Every
 * serial it wrote must be in the file the parent then opens.
 */
#define CRASH_TOTAL	2000
#define CRASH_AFTER	300

struct child {
	struct store	*s;
	int		 fd;
	int		 put, acked;
};

/*
 * The child ends by a line on the pipe, not by its exit status: under
 * valgrind, the child's own leak report (its store is never closed, on
 * purpose) would set the status.
 */
static void
child_exit(int fd, const char *why)
{
	char	 line[64];
	int	 n = snprintf(line, sizeof(line), "%s\n", why);

	if (write(fd, line, n) != n)
		_exit(1);
	_exit(0);
}

static void
child_done(int ok, void *arg)
{
	struct child		*ch = arg;
	struct store_cert	 c;
	char			 line[40];
	int			 n;

	if (!ok)
		child_exit(ch->fd, "error: not stored");
	/* Acknowledgements come in put order: this is number acked. */
	cert_for(&c, ch->acked, NULL, 0);
	n = snprintf(line, sizeof(line), "%s\n", c.serial);
	if (write(ch->fd, line, n) != n)
		_exit(1);
	if (++ch->acked == CRASH_AFTER)
		child_exit(ch->fd, "crash");	/* with more in flight */
	if (ch->put < CRASH_TOTAL) {
		cert_for(&c, ch->put, NULL, 0);
		if (store_put_cert(ch->s, &c, child_done, ch) == -1)
			child_exit(ch->fd, "error: put");
		ch->put++;
	}
}

static void
run_child(const char *path, int fd)
{
	struct event_base	*base;
	struct store_cert	 c;
	struct child		 ch;
	char			 err[256];

	memset(&ch, 0, sizeof(ch));
	ch.fd = fd;
	if ((base = event_base_new()) == NULL ||
	    (ch.s = store_open(path, base, err, sizeof(err))) == NULL)
		child_exit(fd, "error: open");
	for (; ch.put < 64; ch.put++) {
		cert_for(&c, ch.put, NULL, 0);
		if (store_put_cert(ch.s, &c, child_done, &ch) == -1)
			child_exit(fd, "error: put");
	}
	event_base_dispatch(base);
	child_exit(fd, "error: the loop ended");
}

static void
test_crash_after_ack(void **state)
{
	struct fix		*fx = *state;
	struct store		*s;
	struct store_stats	 st;
	struct store_cert	 c;
	sqlite3			*db;
	FILE			*fp;
	char			 line[64], jti[32];
	char			(*acked)[64];
	int			 p[2], status, n = 0, i;
	pid_t			 pid;

	assert_non_null(acked = calloc(CRASH_TOTAL + 1, sizeof(*acked)));
	assert_int_equal(pipe(p), 0);
	fflush(NULL);
	assert_true((pid = fork()) != -1);
	if (pid == 0) {
		close(p[0]);
		run_child(fx->db, p[1]);
	}
	close(p[1]);
	assert_non_null(fp = fdopen(p[0], "r"));
	while (n <= CRASH_TOTAL && fgets(line, sizeof(line), fp) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		snprintf(acked[n++], sizeof(*acked), "%s", line);
	}
	fclose(fp);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_true(n > 0);
	assert_string_equal(acked[n - 1], "crash");
	assert_int_equal(n - 1, CRASH_AFTER);

	/* Every serial the child had acknowledged is in the file. */
	db = db_open(fx->db);
	for (i = 0; i < n - 1; i++)
		assert_int_equal(has_serial(db, acked[i]), 1);
	free(acked);
	/* In put order, and whole. */
	for (i = 0; i < CRASH_AFTER; i++) {
		cert_for(&c, i, NULL, 0);
		assert_int_equal(has_serial(db, c.serial), 1);
	}
	check_row(db, 0);
	check_row(db, CRASH_AFTER - 1);
	print_message("after the crash: %lld rows for %d acknowledged\n",
	    db_int(db, "SELECT COUNT(*) FROM certs", NULL), CRASH_AFTER);
	db_close(db);

	/* And the store reopens with their tokens spent. */
	s = open_store(fx);
	for (i = 0; i < CRASH_AFTER; i++) {
		snprintf(jti, sizeof(jti), "jti-%d", i);
		assert_int_equal(store_jti_reserve(s, jti), 1);
	}
	store_get_stats(s, &st);
	assert_int_equal(st.groups, 0);
	store_close(s);
}

static void
test_open_errors(void **state)
{
	struct fix	*fx = *state;
	struct store	*s;
	sqlite3		*db;
	char		 err[256] = "", path[128];

	snprintf(path, sizeof(path), "%s/no/such/dir/ca.db", fx->dir);
	assert_null(store_open(path, fx->base, err, sizeof(err)));
	assert_string_not_equal(err, "");

	/* A schema from a newer program is refused, not guessed at. */
	s = open_store(fx);
	store_close(s);
	db = db_open(fx->db);
	assert_int_equal(sqlite3_exec(db, "INSERT INTO schema_version VALUES "
	    "(99, 0)", NULL, NULL, NULL), SQLITE_OK);
	db_close(db);
	err[0] = '\0';
	assert_null(store_open(fx->db, fx->base, err, sizeof(err)));
	assert_non_null(strstr(err, "schema version 99"));
}

static void
revoke_one(struct store *s, struct tally *t, int i, int ssh,
    const char *serial, const char *jti)
{
	struct store_revoke	 r;

	memset(&r, 0, sizeof(r));
	snprintf(r.serial, sizeof(r.serial), "%s", serial);
	r.ssh = ssh;
	r.reason = 1;
	snprintf(r.reason_text, sizeof(r.reason_text), "key compromise");
	snprintf(r.jti, sizeof(r.jti), "%s", jti);
	assert_int_equal(store_put_revoke(s, &r, on_done, &t->acks[i]), 0);
	t->want++;
}

static void
test_revocation(void **state)
{
	struct fix		*fx = *state;
	struct tally		*t = tally_new(fx->base, 16);
	struct store		*s;
	struct store_cert	 c;
	struct store_record	 r;
	struct store_revoked	*rv;
	struct store_crl	 crl;
	size_t			 n;
	char			 err[256], s0[80], s1[80];
	const uint8_t		 crl1[] = { 0x30, 0x01, 0x01 };
	const uint8_t		 crl2[] = { 0x30, 0x01, 0x02 };

	assert_non_null(s = store_open(fx->db, fx->base, err, sizeof(err)));
	assert_int_equal(store_latest_crl(s, &crl), 1);
	assert_int_equal(put(s, t, 0, NULL, 0), 0);
	assert_int_equal(put(s, t, 1, NULL, 0), 0);
	wait_all(t);
	snprintf(s0, sizeof(s0), "%032x", 0);
	snprintf(s1, sizeof(s1), "%032x", 1);

	assert_int_equal(store_get(s, 0, s0, &r), 0);
	assert_int_equal(r.revoked_at, 0);
	assert_string_equal(r.subject, "CN=host0.example.com");
	assert_int_equal(r.not_after, 1700086400);
	assert_int_equal(r.derlen, der_for(0, derbuf, 0));
	assert_memory_equal(r.der, derbuf, r.derlen);
	store_record_free(&r);
	assert_int_equal(store_get(s, 0, "ffff", &r), 1);
	assert_int_equal(store_get(s, 1, s0, &r), 1);	/* not an SSH one */

	/* Once, of a known serial; the token is spent either way it lands. */
	revoke_one(s, t, 2, 0, s0, "rv-a");
	wait_all(t);
	assert_int_equal(t->acks[2].res, STORE_OK);
	revoke_one(s, t, 3, 0, s0, "rv-b");
	revoke_one(s, t, 4, 0, "abcdef", "rv-c");
	wait_all(t);
	assert_int_equal(t->acks[3].res, STORE_ALREADY);
	assert_int_equal(t->acks[4].res, STORE_NOT_FOUND);
	assert_int_equal(store_jti_reserve(s, "rv-a"), 1);
	assert_int_equal(store_jti_reserve(s, "rv-b"), 0);	/* given back */
	assert_int_equal(store_get(s, 0, s0, &r), 0);
	assert_true(r.revoked_at > 0);
	assert_int_equal(r.reason, 1);
	assert_string_equal(r.reason_text, "key compromise");
	store_record_free(&r);

	/* A renewal of the revoked one is refused, of the good one stored. */
	cert_for(&c, 5, NULL, 0);
	snprintf(c.renewed_from, sizeof(c.renewed_from), "%s", s0);
	assert_int_equal(store_put_cert(s, &c, on_done, &t->acks[5]), 0);
	cert_for(&c, 6, NULL, 0);
	snprintf(c.renewed_from, sizeof(c.renewed_from), "%s", s1);
	assert_int_equal(store_put_cert(s, &c, on_done, &t->acks[6]), 0);
	cert_for(&c, 7, NULL, 0);
	snprintf(c.renewed_from, sizeof(c.renewed_from), "%s", "0bad");
	assert_int_equal(store_put_cert(s, &c, on_done, &t->acks[7]), 0);
	t->want += 3;
	wait_all(t);
	assert_int_equal(t->acks[5].res, STORE_REVOKED);
	assert_int_equal(t->acks[6].res, STORE_OK);
	assert_int_equal(t->acks[7].res, STORE_NOT_FOUND);
	assert_int_equal(store_get(s, 0, "00000000000000000000000000000005",
	    &r), 1);
	assert_int_equal(store_jti_reserve(s, "jti-5"), 0);

	/* Only unexpired revoked certificates are listed. */
	assert_int_equal(store_list_revoked(s, 0, 0, &rv, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(rv[0].serial, s0);
	assert_int_equal(rv[0].reason, 1);
	free(rv);
	assert_int_equal(store_list_revoked(s, 0, 1800000000, &rv, &n), 0);
	assert_int_equal(n, 0);
	free(rv);

	/* SSH certificates: their own table, serials of their own. */
	cert_for(&c, 0, "ssh-jti", 0);
	c.ssh = 1;
	c.ssh_type = 2;
	c.not_after = 1900000000;
	snprintf(c.sans, sizeof(c.sans), "web1.example.com,web1");
	assert_int_equal(store_put_cert(s, &c, on_done, &t->acks[8]), 0);
	t->want++;
	wait_all(t);
	assert_int_equal(t->acks[8].res, STORE_OK);
	{
		char	**h;
		size_t	 nh;

		assert_int_equal(store_ssh_hosts(s, 1800000000, &h, &nh), 0);
		assert_int_equal(nh, 1);
		assert_string_equal(h[0], "web1.example.com,web1");
		free(h[0]);
		free(h);
		assert_int_equal(store_ssh_hosts(s, 1950000000, &h, &nh), 0);
		assert_int_equal(nh, 0);
		free(h);
	}
	revoke_one(s, t, 9, 1, s0, "");
	wait_all(t);
	assert_int_equal(t->acks[9].res, STORE_OK);
	assert_int_equal(store_list_revoked(s, 1, 0, &rv, &n), 0);
	assert_int_equal(n, 1);
	free(rv);
	{
		char	**h;
		size_t	 nh;

		/* A revoked host is no longer one. */
		assert_int_equal(store_ssh_hosts(s, 1800000000, &h, &nh), 0);
		assert_int_equal(nh, 0);
		free(h);
	}

	/* CRL numbers: the latest wins, none is written twice. */
	assert_int_equal(store_put_crl(s, 1, crl1, sizeof(crl1), 100, 200,
	    on_done, &t->acks[10]), 0);
	assert_int_equal(store_put_crl(s, 2, crl2, sizeof(crl2), 150, 250,
	    on_done, &t->acks[11]), 0);
	assert_int_equal(store_put_crl(s, 2, crl1, sizeof(crl1), 150, 250,
	    on_done, &t->acks[12]), 0);
	t->want += 3;
	wait_all(t);
	assert_int_equal(t->acks[10].res, STORE_OK);
	assert_int_equal(t->acks[11].res, STORE_OK);
	assert_int_equal(t->acks[12].res, STORE_DUP);
	assert_int_equal(store_latest_crl(s, &crl), 0);
	assert_int_equal(crl.number, 2);
	assert_int_equal(crl.this_update, 150);
	assert_int_equal(crl.next_update, 250);
	assert_memory_equal(crl.der, crl2, sizeof(crl2));
	free(crl.der);
	store_close(s);

	/* All of it durable. */
	assert_non_null(s = store_open(fx->db, fx->base, err, sizeof(err)));
	assert_int_equal(store_get(s, 0, s0, &r), 0);
	assert_true(r.revoked_at > 0);
	store_record_free(&r);
	assert_int_equal(store_latest_crl(s, &crl), 0);
	assert_int_equal(crl.number, 2);
	free(crl.der);
	assert_int_equal(store_jti_reserve(s, "rv-a"), 1);
	store_close(s);
	tally_free(t);
}

/* A token past its exp can never verify again: its jti is let go. */
static void
test_jti_expiry(void **state)
{
	struct fix		*fx = *state;
	struct tally		*t = tally_new(fx->base, 4);
	struct store		*s;
	struct store_cert	 c;
	char			 err[256];
	sqlite3			*db;

	assert_non_null(s = store_open(fx->db, fx->base, err, sizeof(err)));
	cert_for(&c, 0, "expired", 0);
	c.jti_exp = time(NULL) - STORE_JTI_GRACE - 10;
	assert_int_equal(store_put_cert(s, &c, on_done, &t->acks[0]), 0);
	cert_for(&c, 1, "live", 0);
	c.jti_exp = time(NULL) + 3600;
	assert_int_equal(store_put_cert(s, &c, on_done, &t->acks[1]), 0);
	cert_for(&c, 2, "forever", 0);
	assert_int_equal(store_put_cert(s, &c, on_done, &t->acks[2]), 0);
	t->want = 3;
	wait_all(t);
	assert_int_equal(t->ok, 3);
	/* Used until a sweep forgets it, however long ago its exp was... */
	assert_int_equal(store_jti_reserve(s, "expired"), 1);
	store_forget_expired(s);
	/* ...and then only in memory: the two live ones stay used. */
	assert_int_equal(store_jti_reserve(s, "expired"), 0);
	store_jti_release(s, "expired");
	assert_int_equal(store_jti_reserve(s, "live"), 1);
	assert_int_equal(store_jti_reserve(s, "forever"), 1);
	/* A new token may carry the forgotten jti: its row is taken over. */
	assert_int_equal(store_jti_reserve(s, "expired"), 0);
	cert_for(&c, 3, "expired", 0);
	c.jti_exp = time(NULL) + 3600;
	assert_int_equal(store_put_cert(s, &c, on_done, &t->acks[3]), 0);
	t->want++;
	wait_all(t);
	assert_int_equal(t->acks[3].res, STORE_OK);
	store_close(s);

	assert_non_null(s = store_open(fx->db, fx->base, err, sizeof(err)));
	assert_int_equal(store_jti_reserve(s, "live"), 1);
	assert_int_equal(store_jti_reserve(s, "forever"), 1);
	assert_int_equal(store_jti_reserve(s, "expired"), 1);
	store_close(s);
	db = db_open(fx->db);
	assert_int_equal(db_int(db, "SELECT COUNT(*) FROM used_tokens", NULL),
	    3);
	assert_int_equal(db_int(db, "SELECT COUNT(*) FROM used_tokens WHERE "
	    "forget_after IS NULL", NULL), 1);
	assert_int_equal(db_int(db, "SELECT COUNT(*) FROM used_tokens WHERE "
	    "jti = 'expired' AND forget_after > strftime('%s', 'now')", NULL),
	    1);
	db_close(db);
	tally_free(t);
}

/*
 * While the store runs, each group also walks the used_tokens rows and
 * deletes those past forgetting: after more certificates than the table
 * has rows, no expired row is left, and every live or kept one is.
 */
static void
test_jti_rows_forgotten(void **state)
{
	struct fix		*fx = *state;
	enum { OLD = 200, LIVE = 100, KEPT = 10, MORE = 400 };
	struct tally		*t = tally_new(fx->base, OLD + LIVE + KEPT + MORE);
	struct store		*s = open_store(fx);
	struct store_cert	 c;
	char			 jti[32];
	time_t			 now = time(NULL);
	sqlite3			*db;
	int			 i, k = 0;

	for (i = 0; i < OLD + LIVE + KEPT + MORE; i++, k++) {
		if (i < OLD)
			snprintf(jti, sizeof(jti), "old-%d", i);
		else if (i < OLD + LIVE)
			snprintf(jti, sizeof(jti), "live-%d", i);
		else if (i < OLD + LIVE + KEPT)
			snprintf(jti, sizeof(jti), "kept-%d", i);
		else
			snprintf(jti, sizeof(jti), "more-%d", i);
		cert_for(&c, k, jti, 0);
		c.jti_exp = i < OLD ? now - STORE_JTI_GRACE - 10 :
		    i < OLD + LIVE ? now + 3600 : i < OLD + LIVE + KEPT ? 0 :
		    now + 3600;
		assert_int_equal(store_put_cert(s, &c, on_done, &t->acks[i]),
		    0);
		t->want++;
		/* The old ones in groups of their own, before the rest. */
		if (i == OLD - 1 || i == OLD + LIVE + KEPT - 1)
			wait_all(t);
	}
	wait_all(t);
	assert_int_equal(t->ok, OLD + LIVE + KEPT + MORE);
	db = db_open(fx->db);
	assert_int_equal(db_int(db, "SELECT COUNT(*) FROM used_tokens WHERE "
	    "jti LIKE 'old-%'", NULL), 0);
	assert_int_equal(db_int(db, "SELECT COUNT(*) FROM used_tokens WHERE "
	    "jti LIKE 'live-%'", NULL), LIVE);
	assert_int_equal(db_int(db, "SELECT COUNT(*) FROM used_tokens WHERE "
	    "forget_after IS NULL", NULL), KEPT);
	assert_int_equal(db_int(db, "SELECT COUNT(*) FROM used_tokens WHERE "
	    "jti LIKE 'more-%'", NULL), MORE);
	/* The certificates themselves are all kept. */
	assert_int_equal(db_int(db, "SELECT COUNT(*) FROM certs", NULL),
	    OLD + LIVE + KEPT + MORE);
	db_close(db);
	/* Still used in memory until the sweep: the rows were the copy. */
	assert_int_equal(store_jti_reserve(s, "live-200"), 1);
	store_close(s);
	tally_free(t);
}

/*
 * The sweep deletes in place from an open-addressing table: across
 * thousands of jtis (long probe runs, runs wrapping the table's end),
 * exactly the expired ones are forgotten and every live one stays used.
 */
static void
test_jti_sweep_many(void **state)
{
	struct fix		*fx = *state;
	enum { N = 3000 };
	struct tally		*t = tally_new(fx->base, N);
	struct store		*s = open_store(fx);
	struct store_cert	 c;
	char			 jti[32];
	time_t			 now = time(NULL);
	int			 i, freed = 0, used = 0;

	for (i = 0; i < N; i++) {
		snprintf(jti, sizeof(jti), "sweep-%d", i);
		cert_for(&c, i, jti, 0);
		/* Two in three expired, the rest live or kept for ever. */
		c.jti_exp = i % 3 == 2 ? (i % 2 ? now + 3600 : 0) :
		    now - STORE_JTI_GRACE - 1 - i;
		assert_int_equal(store_put_cert(s, &c, on_done, &t->acks[i]),
		    0);
		t->want++;
	}
	wait_all(t);
	assert_int_equal(t->ok, N);
	store_forget_expired(s);
	for (i = 0; i < N; i++) {
		snprintf(jti, sizeof(jti), "sweep-%d", i);
		if (store_jti_reserve(s, jti) == 0) {
			assert_int_not_equal(i % 3, 2);
			store_jti_release(s, jti);
			freed++;
		} else {
			assert_int_equal(i % 3, 2);
			used++;
		}
	}
	assert_int_equal(freed, N - N / 3);
	assert_int_equal(used, N / 3);
	store_close(s);
	tally_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_put_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicates, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_jti_states, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_close_drains, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_input_and_limit,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_error, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_crash_after_ack, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_revocation, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_jti_expiry, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_jti_rows_forgotten,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_jti_sweep_many, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

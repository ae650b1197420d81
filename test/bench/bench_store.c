/*
 * bench_store.c — certificates per second through store_put_cert on this
 * disk: group commit (the default) against one transaction per certificate
 * (store_set_group_max 1), each with DEPTH certificates in flight as a busy
 * front end would have, and one at a time (a lone client: latency).
 *
 *   bench-store [dir [seconds]]	(default /var/tmp, 2 s per figure)
 *
 * Not run by make: it prints figures, it asserts nothing.
 */
#include <sys/time.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "appliance/store.h"

#define DERLEN	1100		/* a P-256 leaf with a few SANs */

struct run {
	struct event_base *base;
	struct store	*s;
	uint8_t		 der[DERLEN];
	long		 next;		/* serial of the next put */
	long		 inflight, acked, failed;
	int		 stop;
};

static double
now(void)
{
	struct timeval	 tv;

	gettimeofday(&tv, NULL);
	return tv.tv_sec + tv.tv_usec / 1e6;
}

static void on_done(int, void *);

static int
put_one(struct run *r)
{
	struct store_cert	 c;

	memset(&c, 0, sizeof(c));
	snprintf(c.serial, sizeof(c.serial), "%032lx", r->next);
	c.der = r->der;
	c.derlen = sizeof(r->der);
	snprintf(c.subject, sizeof(c.subject), "CN=host%ld.example.com",
	    r->next);
	snprintf(c.sans, sizeof(c.sans), "host%ld.example.com", r->next);
	c.not_before = time(NULL);
	c.not_after = c.not_before + 86400;
	snprintf(c.provisioner, sizeof(c.provisioner), "bench@example.com");
	snprintf(c.jti, sizeof(c.jti), "bench-%ld", r->next);
	if (store_jti_reserve(r->s, c.jti) != 0 ||
	    store_put_cert(r->s, &c, on_done, r) == -1)
		return -1;
	r->next++;
	r->inflight++;
	return 0;
}

static void
on_done(int ok, void *arg)
{
	struct run	*r = arg;

	r->inflight--;
	if (ok)
		r->acked++;
	else
		r->failed++;
	if (!r->stop && put_one(r) == -1)
		r->stop = 1;
	if (r->inflight == 0)
		event_base_loopbreak(r->base);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct run	*r = arg;

	(void)fd;
	(void)what;
	r->stop = 1;
}

static int
bench(const char *dir, double secs, const char *label, size_t group_max,
    int depth)
{
	struct run		 r;
	struct store_stats	 st;
	struct event		*tm;
	struct timeval		 tv;
	char			 tmpl[4096], db[4200], err[256];
	double			 t0, t1;
	int			 i;

	memset(&r, 0, sizeof(r));
	for (i = 0; i < DERLEN; i++)
		r.der[i] = (uint8_t)(i * 13);
	snprintf(tmpl, sizeof(tmpl), "%s/bench-store.XXXXXX", dir);
	if (mkdtemp(tmpl) == NULL) {
		perror(tmpl);
		return -1;
	}
	snprintf(db, sizeof(db), "%s/ca.db", tmpl);
	if ((r.base = event_base_new()) == NULL ||
	    (r.s = store_open(db, r.base, err, sizeof(err))) == NULL) {
		fprintf(stderr, "bench-store: %s\n", r.base ? err : "libevent");
		return -1;
	}
	store_set_group_max(r.s, group_max);
	tv.tv_sec = (time_t)secs;
	tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
	if ((tm = evtimer_new(r.base, on_timer, &r)) == NULL ||
	    evtimer_add(tm, &tv) == -1) {
		fprintf(stderr, "bench-store: timer\n");
		return -1;
	}
	t0 = now();
	for (i = 0; i < depth; i++)
		if (put_one(&r) == -1) {
			fprintf(stderr, "bench-store: put failed\n");
			return -1;
		}
	event_base_dispatch(r.base);
	t1 = now();
	store_get_stats(r.s, &st);
	/* Latency by Little's law: in flight / throughput. */
	printf("%-36s %8.0f certs/s %8ld certs %7llu commits "
	    "%6.1f certs/commit %7.2f ms latency%s\n", label,
	    r.acked / (t1 - t0), r.acked, (unsigned long long)st.commits,
	    st.commits ? (double)r.acked / st.commits : 0.0,
	    r.acked ? (t1 - t0) * 1e3 / r.acked * depth : 0.0,
	    r.failed ? "  (FAILURES)" : "");
	event_free(tm);
	store_close(r.s);
	event_base_free(r.base);
	for (i = 0; i < 3; i++) {
		const char	*sfx[] = { "", "-wal", "-shm" };

		snprintf(db, sizeof(db), "%s/ca.db%s", tmpl, sfx[i]);
		unlink(db);
	}
	rmdir(tmpl);
	return 0;
}

int
main(int argc, char **argv)
{
	const char	*dir = argc > 1 ? argv[1] : "/var/tmp";
	double		 secs = argc > 2 ? atof(argv[2]) : 2.0;

	if (secs <= 0) {
		fprintf(stderr, "usage: bench-store [dir [seconds]]\n");
		return 2;
	}
	printf("store benchmark in %s: %.1f s per figure, %ld cores, "
	    "%d-byte certificates\n", dir, secs, sysconf(_SC_NPROCESSORS_ONLN),
	    DERLEN);
	if (bench(dir, secs, "group commit, 256 in flight", 0, 256) == -1 ||
	    bench(dir, secs, "one commit per cert, 256 in flight", 1,
	    256) == -1 ||
	    bench(dir, secs, "group commit, 1 in flight", 0, 1) == -1)
		return 1;
	return 0;
}

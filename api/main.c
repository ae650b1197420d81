/*
 * main.c — p11ca-api: read ca.json, get the server's TLS certificate from
 * the signer, serve HTTPS until SIGTERM or SIGINT; re-read the
 * provisioners on SIGHUP.
 */
#include <sys/time.h>

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "api/api.h"
#include "api/signer_link.h"
#include "api/workpool.h"
#include "appliance/store.h"
#include "policy/provisioner.h"

static const char usage[] =
"usage: p11ca-api [-c CA.JSON]\n"
"\n"
"The unprivileged HTTPS front end of p11ca: step-ca's API at / and /1.0/.\n"
"It holds no CA key and no PIN: every signature is asked of p11ca-signer\n"
"over the Unix socket named in ca.json (\"signer\": {\"socket\", \"key\"}).\n"
"Unless ca.json names \"tls\": {\"crt\", \"key\"}, it issues itself a 24-hour\n"
"certificate from the intermediate at start, for every name in dnsNames.\n"
"\n"
"  -c, --config FILE  the CA configuration (default $P11CA_HOME/config/\n"
"                     ca.json, else ~/.p11ca/config/ca.json)\n"
"  -h, --help         this text\n"
"\n"
"SIGTERM or SIGINT stop it gracefully: it accepts no more connections,\n"
"answers new requests on open ones 503 (and closes them), lets the\n"
"requests in flight finish for up to 5 seconds, and exits. A second\n"
"signal exits at once; what is still in flight then is answered 503.\n"
"\n"
"SIGHUP reloads: ca.json is read again and, if it and its provisioners\n"
"are valid, authority.provisioners (and authority.claims) take effect\n"
"for the next request; open connections stay up. An invalid file is\n"
"logged and the running configuration kept. The address, dnsNames,\n"
"root, crt, db, signer and tls settings are not reloaded: a change to\n"
"them needs a restart (and is logged as such).\n"
"\n"
"While it runs its pid is in p11ca-api.pid, in the directory of the\n"
"signer socket (for `p11ca init` homes, HOME/run/p11ca-api.pid), so\n"
"that `p11ca ca provisioner add|update|remove` can signal it. The file\n"
"is removed at exit.\n";

static char pidfile[PATH_MAX];
/*
 * The document read at start. a->cfg.dns points into it (config_load
 * does not copy), and dnsNames are not reloaded, so it lives until exit;
 * documents of later reloads are freed when replaced.
 */
static cJSON *boot_json;

/* dirname(signer socket)/p11ca-api.pid; a failure is logged, not fatal. */
static void
pidfile_write(const struct ca_config *c)
{
	char	 dir[sizeof(c->signer_socket)], buf[32];
	FILE	*fp;
	int	 n;

	snprintf(dir, sizeof(dir), "%s", c->signer_socket);
	n = snprintf(pidfile, sizeof(pidfile), "%s/p11ca-api.pid",
	    dirname(dir));
	if (n < 0 || (size_t)n >= sizeof(pidfile)) {
		pidfile[0] = '\0';
		return;
	}
	snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if ((fp = fopen(pidfile, "w")) == NULL) {
		fprintf(stderr, "p11ca-api: cannot write %s: %s (reload by "
		    "SIGHUP still works)\n", pidfile, strerror(errno));
		pidfile[0] = '\0';
		return;
	}
	n = fputs(buf, fp);
	if (fclose(fp) == EOF || n == EOF)
		fprintf(stderr, "p11ca-api: cannot write %s: %s (reload by "
		    "SIGHUP still works)\n", pidfile, strerror(errno));
}

/* Names the settings that differ; only provisioners are reloaded. */
static void
log_unreloaded(const struct ca_config *o, const struct ca_config *n)
{
	static const struct {
		const char	*name;
		size_t		 off;
	} fields[] = {
		{ "root", offsetof(struct ca_config, root) },
		{ "crt", offsetof(struct ca_config, crt) },
		{ "address", offsetof(struct ca_config, address) },
		{ "db", offsetof(struct ca_config, db) },
		{ "signer.socket", offsetof(struct ca_config, signer_socket) },
		{ "signer.key", offsetof(struct ca_config, signer_key) },
		{ "tls.crt", offsetof(struct ca_config, tls_crt) },
		{ "tls.key", offsetof(struct ca_config, tls_key) },
	};
	size_t	 i;
	int	 j, dns = o->ndns != n->ndns;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strcmp((const char *)o + fields[i].off,
		    (const char *)n + fields[i].off) != 0)
			fprintf(stderr, "p11ca-api: reload: %s changed; it "
			    "takes effect only after a restart\n",
			    fields[i].name);
	for (j = 0; !dns && j < o->ndns; j++)
		dns = strcmp(o->dns[j], n->dns[j]) != 0;
	if (dns)
		fprintf(stderr, "p11ca-api: reload: dnsNames changed; it takes "
		    "effect only after a restart\n");
}

/*
 * SIGHUP. Runs on the event loop. Requests being checked on the workpool
 * hold a reference to the provisioner set they started with, so the old
 * set is only released here and goes when the last of them ends.
 */
static void
on_reload(evutil_socket_t sig, short ev, void *arg)
{
	struct api		*a = arg;
	struct ca_config	 nc;
	struct provisioner	*np = NULL;
	struct provset		*ns;
	cJSON			*oj;
	char			 err[512];
	int			 nn = 0;

	(void)sig, (void)ev;
	memset(&nc, 0, sizeof(nc));
	if (config_load(a->cfg.path, &nc, err, sizeof(err)) == -1) {
		fprintf(stderr, "p11ca-api: reload refused, keeping the running "
		    "configuration: %s\n", err);
		return;
	}
	if (provisioners_load(cJSON_GetObjectItemCaseSensitive(nc.json,
	    "authority"), &np, &nn, err, sizeof(err)) == -1)
		goto refused;
	if ((ns = provset_new(np, nn)) == NULL) {
		snprintf(err, sizeof(err), "out of memory");
		goto refused;
	}
	log_unreloaded(&a->cfg, &nc);
	oj = a->cfg.json;
	a->cfg.json = nc.json;
	a->cfg.provisioners = nc.provisioners;
	provset_release(a->provs);	/* freed when its last request ends */
	a->provs = ns;
	if (boot_json == NULL)
		boot_json = oj;
	else
		cJSON_Delete(oj);
	fprintf(stderr, "p11ca-api: reloaded %s: %d provisioner%s\n",
	    a->cfg.path, nn, nn == 1 ? "" : "s");
	return;
refused:
	fprintf(stderr, "p11ca-api: reload refused, keeping the running "
	    "configuration: %s: %s\n", a->cfg.path, err);
	config_free(&nc);
}

/*
 * SIGTERM or SIGINT: stop accepting, let the requests in flight finish
 * (checks, signer, store) for up to DRAIN_SECONDS, then give their
 * answers a moment to go out, and leave the loop. A second signal, or
 * the deadline, leaves at once; what is still in flight is answered 503
 * by the shutdown that follows (main).
 */
#define DRAIN_SECONDS	5
#define DRAIN_TICK_MS	10
#define FLUSH_MS	50

/* P11CA_API_DRAIN_SECONDS shortens the wait (0: none), for tests. */
static int
drain_seconds(void)
{
	const char	*e = getenv("P11CA_API_DRAIN_SECONDS");
	long		 n = e ? strtol(e, NULL, 10) : -1;

	return n >= 0 && n < DRAIN_SECONDS ? (int)n : DRAIN_SECONDS;
}

static struct event	*drain_ev;
static struct timeval	 drain_until;

static void
on_drain_tick(evutil_socket_t fd, short ev, void *arg)
{
	struct api	*a = arg;
	struct timeval	 now, flush = { 0, FLUSH_MS * 1000 };

	(void)fd, (void)ev;
	gettimeofday(&now, NULL);
	if (server_inflight() > 0 && timercmp(&now, &drain_until, <))
		return;
	if (server_inflight() > 0)
		fprintf(stderr, "p11ca-api: %d requests still in flight after "
		    "%d s; stopping anyway\n", server_inflight(),
		    drain_seconds());
	event_del(drain_ev);
	event_base_loopexit(a->base, &flush);
}

static void
on_stop(evutil_socket_t sig, short ev, void *arg)
{
	struct api	*a = arg;
	struct timeval	 now, d = { drain_seconds(), 0 },
			 tick = { 0, DRAIN_TICK_MS * 1000 };

	(void)sig, (void)ev;
	if (drain_ev != NULL) {
		fprintf(stderr, "p11ca-api: stopping now\n");
		event_base_loopexit(a->base, NULL);
		return;
	}
	fprintf(stderr, "p11ca-api: shutting down: %d requests in flight\n",
	    server_inflight());
	server_drain(a);
	gettimeofday(&now, NULL);
	timeradd(&now, &d, &drain_until);
	if ((drain_ev = event_new(a->base, -1, EV_PERSIST, on_drain_tick,
	    a)) == NULL || event_add(drain_ev, &tick) == -1)
		event_base_loopexit(a->base, NULL);
}

/* P11CA_API_RENEW_SECONDS shortens the period, for tests. */
static long
renew_every(void)
{
	const char	*e = getenv("P11CA_API_RENEW_SECONDS");
	long		 n = e ? strtol(e, NULL, 10) : 0;

	return n > 0 && n < TLS_RENEW_EVERY ? n : TLS_RENEW_EVERY;
}

/* The server's certificate lives 24 h: renew it after 16, retry soon. */
static void
on_renew(evutil_socket_t fd, short ev, void *arg)
{
	struct api	*a = arg;
	struct event	*self = event_base_get_running_event(a->base);
	struct timeval	 next = { renew_every(), 0 };
	char		 err[512];

	(void)fd, (void)ev;
	if (tls_renew(a, err, sizeof(err)) == -1 ||
	    ocsp_renew(a, err, sizeof(err)) == -1) {
		fprintf(stderr, "p11ca-api: server certificate renewal failed, "
		    "retrying in 5 minutes: %s\n", err);
		next.tv_sec = 300;
	} else
		fprintf(stderr, "p11ca-api: server certificate renewed\n");
	if (self)
		evtimer_add(self, &next);
}

/* authority.disableIssuedAtCheck, as step-ca's, turns the check off. */
static int
issued_at_check(const struct ca_config *c)
{
	const cJSON	*au = cJSON_GetObjectItemCaseSensitive(c->json,
	    "authority");

	return !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(au,
	    "disableIssuedAtCheck"));
}

/*
 * epoll with a changelist: an event added and deleted within one loop
 * turn (a response's write interest, once it has gone out) costs no
 * epoll_ctl at all.
 */
static struct event_base *
new_base(void)
{
	struct event_config	*ec;
	struct event_base	*b;

	if ((ec = event_config_new()) == NULL)
		return NULL;
	event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	b = event_base_new_with_config(ec);
	event_config_free(ec);
	return b;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct api a;
	struct event	*s1 = NULL, *s2 = NULL, *s3 = NULL, *renew = NULL;
	struct timeval	 renew_tv = { 0, 0 };
	char		 path[4096], err[512];
	struct provisioner *np = NULL;
	struct store_stats st;
	const char	*cfg = NULL, *h;
	int		 ch, nn = 0, rc = 1;

	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			cfg = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fputs(usage, stderr);
		return 2;
	}
	if (cfg == NULL) {
		if ((h = getenv("P11CA_HOME")) != NULL && *h)
			snprintf(path, sizeof(path), "%s/config/ca.json", h);
		else
			snprintf(path, sizeof(path), "%s/.p11ca/config/ca.json",
			    (h = getenv("HOME")) ? h : ".");
		cfg = path;
	}
	signal(SIGPIPE, SIG_IGN);
	a.started = time(NULL);
	if (config_load(cfg, &a.cfg, err, sizeof(err)) == -1 ||
	    provisioners_load(cJSON_GetObjectItemCaseSensitive(a.cfg.json,
	    "authority"), &np, &nn, err, sizeof(err)) == -1 ||
	    (a.provs = provset_new(np, nn)) == NULL ||
	    ssh_start(&a, err, sizeof(err)) == -1 ||
	    tls_setup(&a, err, sizeof(err)) == -1 ||
	    (a.base = new_base()) == NULL ||
	    (a.pool = workpool_new(a.base, a.cfg.verify_threads < 0 ?
	    workpool_default_threads() : a.cfg.verify_threads, err,
	    sizeof(err))) == NULL ||
	    (a.store = store_open(a.cfg.db, a.base, err, sizeof(err))) ==
	    NULL ||
	    (a.link = link_new(a.base, a.cfg.signer_socket)) == NULL ||
	    server_listen(&a, err, sizeof(err)) == -1 ||
	    ocsp_start(&a, err, sizeof(err)) == -1 ||
	    crl_start(&a, err, sizeof(err)) == -1) {
		fprintf(stderr, "p11ca-api: %s\n", err);
		goto out;
	}
	if (!issued_at_check(&a.cfg))
		a.started = 0;
	tls_record(&a);
	renew_tv.tv_sec = renew_every();
	if ((renew = evtimer_new(a.base, on_renew, &a)) == NULL ||
	    evtimer_add(renew, &renew_tv) == -1) {
		fprintf(stderr, "p11ca-api: cannot set up renewal\n");
		goto out;
	}
	s1 = evsignal_new(a.base, SIGTERM, on_stop, &a);
	s2 = evsignal_new(a.base, SIGINT, on_stop, &a);
	s3 = evsignal_new(a.base, SIGHUP, on_reload, &a);
	if (s1 == NULL || s2 == NULL || s3 == NULL ||
	    event_add(s1, NULL) == -1 || event_add(s2, NULL) == -1 ||
	    event_add(s3, NULL) == -1) {
		fprintf(stderr, "p11ca-api: cannot set up signal events\n");
		goto out;
	}
	/* After the listener: a pid file means "ready to be signalled". */
	pidfile_write(&a.cfg);
	fprintf(stderr, "p11ca-api: serving https://%s/ (signer %s)\n",
	    a.cfg.address, a.cfg.signer_socket);
	rc = event_base_dispatch(a.base) == -1;
out:
	if (pidfile[0] && unlink(pidfile) == -1 && errno != ENOENT)
		fprintf(stderr, "p11ca-api: cannot remove %s: %s\n", pidfile,
		    strerror(errno));
	if (s1)
		event_free(s1);
	if (s2)
		event_free(s2);
	if (s3)
		event_free(s3);
	if (renew)
		event_free(renew);
	if (drain_ev)
		event_free(drain_ev);
	/*
	 * Requests still in flight are answered, in pipeline order, while
	 * everything they touch is alive: the workpool hands its checks on
	 * (as cancelled), the link fails what the signer has not answered
	 * and signs no more, the store commits and reports what is queued.
	 * Only then go the parts their callbacks use, and the connections.
	 */
	workpool_free(a.pool);
	a.pool = NULL;
	link_shutdown(a.link);
	if (a.store) {
		store_close_stats(a.store, &st);
		fprintf(stderr, "p11ca-api: store: %llu items in %llu commits "
		    "(%llu failed)\n", (unsigned long long)
		    (st.certs_ok + st.certs_failed),
		    (unsigned long long)st.commits,
		    (unsigned long long)st.certs_failed);
	}
	ocsp_stop(&a);
	crl_stop(&a);
	ssh_stop(&a);
	server_close(&a);
	link_free(a.link);
	provset_release(a.provs);
	pbuf_free(&a.inter_json);
	free(a.inter_subject);
	free(a.inter_spki);
	if (a.base)
		event_base_free(a.base);
	SSL_CTX_free(a.ssl);
	X509_free(a.root);
	X509_free(a.inter);
	free(a.root_pem);
	free(a.inter_pem);
	config_free(&a.cfg);
	cJSON_Delete(boot_json);
	return rc;
}

/*
 * main.c — p11ca-api: read ca.json, get the server's TLS certificate from
 * the signer, serve HTTPS until SIGTERM or SIGINT.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "api/api.h"
#include "api/signer_link.h"
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
"SIGTERM or SIGINT stop it: it stops accepting and exits.\n";

static void
on_stop(evutil_socket_t sig, short ev, void *arg)
{
	struct api	*a = arg;

	(void)sig, (void)ev;
	fprintf(stderr, "p11ca-api: shutting down\n");
	event_base_loopexit(a->base, NULL);
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
	struct event	*s1, *s2;
	char		 path[4096], err[512];
	const char	*cfg = NULL, *h;
	int		 ch, rc = 1;

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
	if (config_load(cfg, &a.cfg, err, sizeof(err)) == -1 ||
	    provisioners_load(cJSON_GetObjectItemCaseSensitive(a.cfg.json,
	    "authority"), &a.provs, &a.nprovs, err, sizeof(err)) == -1 ||
	    tls_setup(&a, err, sizeof(err)) == -1 ||
	    (a.base = event_base_new()) == NULL ||
	    (a.store = store_open(a.cfg.db, a.base, err, sizeof(err))) ==
	    NULL ||
	    (a.link = link_new(a.base, a.cfg.signer_socket)) == NULL ||
	    server_listen(&a, err, sizeof(err)) == -1) {
		fprintf(stderr, "p11ca-api: %s\n", err);
		goto out;
	}
	s1 = evsignal_new(a.base, SIGTERM, on_stop, &a);
	s2 = evsignal_new(a.base, SIGINT, on_stop, &a);
	if (s1 == NULL || s2 == NULL || event_add(s1, NULL) == -1 ||
	    event_add(s2, NULL) == -1)
		goto out;
	fprintf(stderr, "p11ca-api: serving https://%s/ (signer %s)\n",
	    a.cfg.address, a.cfg.signer_socket);
	rc = event_base_dispatch(a.base) == -1;
	event_free(s1);
	event_free(s2);
out:
	if (a.http)
		evhttp_free(a.http);
	link_free(a.link);
	if (a.store)
		store_close(a.store);
	provisioners_free(a.provs, a.nprovs);
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
	return rc;
}

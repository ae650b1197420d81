/*
 * crl_serve.c — the CA's CRL: made through the signer (kind CRL_TBS) from the
 * store's revoked list, numbered strictly upwards and stored before it is
 * served, made again at start, on every revocation and renewPeriod after
 * its thisUpdate, and served at /crl (DER, or PEM on request) on both
 * listeners.
 *
 * One CRL is being made at a time; a revocation meanwhile asks for one
 * more after it, so the CRL served never lags a revocation by more than
 * one signature. Until the first is made (a signer down at start) /crl
 * answers 503.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/evp.h>

#include "api/api.h"
#include "api/signer_link.h"
#include "appliance/store.h"
#include "policy/crl.h"

#define RETRY_SECONDS	30

struct crl_job {
	struct api	*a;
	struct pbuf	 tbs, der;
	uint64_t	 number;
	time_t		 this_update, next_update;
};

static void	make(struct api *a);

int
crl_extensions(struct api *a)
{
	const char	*dp[1] = { a->cfg.crl_url };

	pbuf_init(&a->revext);
	if (a->cfg.crl_url[0] != '\0' && crl_ext_dp(&a->revext, dp, 1) == -1)
		return -1;
	if ((a->cfg.ocsp_url[0] != '\0' || a->cfg.issuer_url[0] != '\0') &&
	    crl_ext_aia(&a->revext, a->cfg.issuer_url[0] ? a->cfg.issuer_url :
	    NULL, a->cfg.ocsp_url[0] ? a->cfg.ocsp_url : NULL) == -1)
		return -1;
	return 0;
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	make(arg);
}

static void
schedule(struct api *a, long secs)
{
	struct timeval	 tv = { secs > 0 ? secs : 1, 0 };

	if (a->crl.timer != NULL && evtimer_add(a->crl.timer, &tv) == -1)
		fprintf(stderr, "p11ca-api: crl: cannot set the timer\n");
}

static void
job_done(struct crl_job *j, int ok)
{
	struct api	*a = j->a;

	pbuf_free(&j->tbs);
	pbuf_free(&j->der);
	free(j);
	a->crl.busy = 0;
	if (a->crl.again) {
		a->crl.again = 0;
		make(a);
	} else if (!ok)
		schedule(a, RETRY_SECONDS);
}

static void
on_stored(int result, void *arg)
{
	struct crl_job	*j = arg;
	struct api	*a = j->a;
	uint8_t		*der;

	if (result != STORE_OK || (der = malloc(j->der.len)) == NULL) {
		fprintf(stderr, "p11ca-api: crl %llu: cannot be stored\n",
		    (unsigned long long)j->number);
		/* A number refused as used must never be tried again. */
		if (result == STORE_DUP)
			a->crl.number = j->number;
		job_done(j, 0);
		return;
	}
	memcpy(der, j->der.data, j->der.len);
	free(a->crl.der);
	a->crl.der = der;
	a->crl.derlen = j->der.len;
	a->crl.number = j->number;
	a->crl.this_update = j->this_update;
	a->crl.next_update = j->next_update;
	schedule(a, a->cfg.crl_renew);
	job_done(j, 1);
}

static void
on_signed(int status, const uint8_t *sig, size_t siglen, const char *msg,
    void *arg)
{
	struct crl_job	*j = arg;

	if (status != PROTO_OK || crl_certlist(j->tbs.data, j->tbs.len,
	    j->a->alg, sig, siglen, &j->der) == -1 ||
	    store_put_crl(j->a->store, j->number, j->der.data, j->der.len,
	    j->this_update, j->next_update, on_stored, j) == -1) {
		fprintf(stderr, "p11ca-api: crl %llu: %s\n",
		    (unsigned long long)j->number, status != PROTO_OK ?
		    (msg ? msg : "the signer failed") : "cannot be stored");
		job_done(j, 0);
	}
}

/* Hex serial (the store's key) to bytes. */
static size_t
unhex(const char *h, uint8_t *out, size_t outsz)
{
	size_t	 n = strlen(h), i;
	unsigned int v;

	if (n % 2 || n / 2 > outsz)
		return 0;
	for (i = 0; i < n / 2; i++) {
		if (sscanf(h + 2 * i, "%2x", &v) != 1)
			return 0;
		out[i] = (uint8_t)v;
	}
	return n / 2;
}

static void
make(struct api *a)
{
	struct store_revoked *rv = NULL;
	struct crl_entry *e = NULL;
	struct crl_profile pr;
	struct crl_job	*j = NULL;
	uint8_t		*serials = NULL;
	size_t		 n = 0, i;
	time_t		 now = time(NULL);

	if (a->crl.busy) {
		a->crl.again = 1;
		return;
	}
	if (a->crl.timer != NULL)
		evtimer_del(a->crl.timer);
	if (store_list_revoked(a->store, 0, now, &rv, &n) == -1 ||
	    (n > 0 && ((e = calloc(n, sizeof(*e))) == NULL ||
	    (serials = calloc(n, 20)) == NULL)) ||
	    (j = calloc(1, sizeof(*j))) == NULL)
		goto fail;
	for (i = 0; i < n; i++) {
		e[i].serial = serials + 20 * i;
		if ((e[i].seriallen = unhex(rv[i].serial, serials + 20 * i,
		    20)) == 0)
			goto fail;
		e[i].revoked_at = rv[i].at;
		e[i].reason = rv[i].reason;
	}
	j->a = a;
	pbuf_init(&j->tbs);
	pbuf_init(&j->der);
	j->number = a->crl.number + 1;
	j->this_update = now;
	j->next_update = now + a->cfg.crl_cache;
	pr = (struct crl_profile){ .alg = a->alg, .issuer = a->inter_subject,
	    .issuerlen = a->inter_subjectlen, .issuer_spki = a->inter_spki,
	    .issuer_spkilen = a->inter_spkilen, .this_update = j->this_update,
	    .next_update = j->next_update, .number = j->number, .entries = e,
	    .nentries = n, .idp = a->cfg.crl_url[0] ? a->cfg.crl_url : NULL };
	if (crl_encode(&pr, &j->tbs) == -1)
		goto fail;
	if (link_sign(a->link, a->cfg.signer_key, KIND_CRL_TBS, a->alg,
	    j->tbs.data, j->tbs.len, on_signed, j) == -1)
		goto fail;
	a->crl.busy = 1;
	free(rv);
	free(e);
	free(serials);
	return;
fail:
	fprintf(stderr, "p11ca-api: crl: cannot make one now; retrying\n");
	if (j != NULL) {
		pbuf_free(&j->tbs);
		free(j);
	}
	free(rv);
	free(e);
	free(serials);
	schedule(a, RETRY_SECONDS);
}

int
crl_start(struct api *a, char *err, size_t errsz)
{
	struct store_crl c;
	int		 rc;

	if (!a->cfg.crl_enabled)
		return 0;
	if ((a->crl.timer = evtimer_new(a->base, on_timer, a)) == NULL) {
		snprintf(err, errsz, "crl: cannot make a timer");
		return -1;
	}
	if ((rc = store_latest_crl(a->store, &c)) == -1) {
		snprintf(err, errsz, "crl: cannot read the latest CRL");
		return -1;
	}
	if (rc == 0) {
		a->crl.der = c.der;
		a->crl.derlen = c.derlen;
		a->crl.number = c.number;
		a->crl.this_update = c.this_update;
		a->crl.next_update = c.next_update;
	}
	/*
	 * Served until a new one is made, which is at once: a revocation
	 * acknowledged just before a crash (or while the signer was down)
	 * may not be in the stored one.
	 */
	make(a);
	return 0;
}

void
crl_stop(struct api *a)
{
	if (a->crl.timer != NULL)
		event_free(a->crl.timer);
	a->crl.timer = NULL;
	free(a->crl.der);
	a->crl.der = NULL;
	pbuf_free(&a->revext);
}

void
crl_revoked(struct api *a)
{
	if (a->cfg.crl_enabled)
		make(a);
}

/* PEM when asked for by ?pem (step's flag style) or by Accept. */
static int
wants_pem(struct evhttp_request *req)
{
	const struct evhttp_uri	*u = evhttp_request_get_evhttp_uri(req);
	const char		*q = u ? evhttp_uri_get_query(u) : NULL;
	const char		*acc = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Accept");
	struct evkeyvalq	 kv;
	const char		*v;
	int			 pem = 0;

	if (acc != NULL && strstr(acc, "application/x-pem-file") != NULL)
		return 1;
	if (q == NULL || evhttp_parse_query_str(q, &kv) == -1)
		return 0;
	if ((v = evhttp_find_header(&kv, "pem")) != NULL)
		pem = *v == '\0' || strcasecmp(v, "true") == 0 ||
		    strcmp(v, "1") == 0;
	evhttp_clear_headers(&kv);
	return pem;
}

void
h_crl(struct api *a, struct evhttp_request *req, const char *rest)
{
	static const char hd[] = "-----BEGIN X509 CRL-----\n";
	static const char ft[] = "-----END X509 CRL-----\n";
	char		*pem, *p;
	size_t		 b64, i, o;

	(void)rest;
	if (!a->cfg.crl_enabled) {
		reply_error(req, 404, "not found");
		return;
	}
	if (a->crl.der == NULL) {
		reply_error(req, 503, "The CRL is not available yet; try "
		    "again.");
		return;
	}
	if (!wants_pem(req)) {
		reply_text(req, 200, "application/pkix-crl",
		    (const char *)a->crl.der, a->crl.derlen);
		return;
	}
	b64 = 4 * ((a->crl.derlen + 2) / 3);
	if ((p = malloc(b64 + 1)) == NULL || (pem = malloc(sizeof(hd) + b64 +
	    b64 / 64 + 1 + sizeof(ft))) == NULL) {
		free(p);
		reply_error(req, 500, "out of memory");
		return;
	}
	EVP_EncodeBlock((unsigned char *)p, a->crl.der, (int)a->crl.derlen);
	memcpy(pem, hd, sizeof(hd) - 1);
	o = sizeof(hd) - 1;
	for (i = 0; i < b64; i += 64) {
		memcpy(pem + o, p + i, b64 - i < 64 ? b64 - i : 64);
		o += b64 - i < 64 ? b64 - i : 64;
		pem[o++] = '\n';
	}
	memcpy(pem + o, ft, sizeof(ft) - 1);
	o += sizeof(ft) - 1;
	reply_text(req, 200, "application/x-pem-file", pem, o);
	free(p);
	free(pem);
}

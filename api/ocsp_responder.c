/*
 * ocsp_responder.c — RFC 6960 at /ocsp (POST, and GET /ocsp/{base64}) on
 * both listeners: the request read by policy/ocsp.c, each serial looked up
 * in the store, the ResponseData signed through the signer (kind OCSP_TBS)
 * by the issuing key, responderID byKey.
 *
 * With ocsp.key set the answers are signed instead by a delegated
 * responder key the signer holds (role ocsp: it may sign nothing else);
 * its certificate (id-kp-OCSPSigning, id-pkix-ocsp-nocheck, a week long)
 * is issued by the intermediate at start and with every TLS renewal, and
 * travels in each answer.
 *
 * A signed answer for one serial without a nonce is the same for everyone
 * until shortly before its nextUpdate, so it is kept (a small table keyed
 * by serial) and dropped the moment that serial is revoked. Answers with
 * a nonce are signed afresh: the nonce is the client's.
 *
 * Errors are OCSP's own (HTTP 200, an OCSPResponse with an error status),
 * as OCSP clients expect; only a body the HTTP layer refuses gets JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <openssl/evp.h>

#include "api/api.h"
#include "api/signer_link.h"
#include "appliance/store.h"
#include "hsm/client.h"
#include "policy/jose.h"
#include "policy/ocsp.h"
#include "policy/tbs.h"

#define CACHE_SLOTS	4096		/* a power of two */
#define CACHE_MARGIN	60		/* seconds before nextUpdate */
#define OCSP_MAX_BODY	8192

struct slot {
	char		 serial[80];
	uint8_t		*der;
	size_t		 derlen;
	time_t		 until;
};

struct ocsp_cache {
	struct slot	 slot[CACHE_SLOTS];
	/* The delegated responder, when there is one. */
	uint8_t		*cert, *spki;
	size_t		 certlen, spkilen;
	uint8_t		 alg;
};

#define RESPONDER_LIFETIME	(7 * 24 * 3600)

struct ocsp_job {
	struct api		*a;
	struct evhttp_request	*req;
	struct pbuf		 tbs, out;
	char			 cache_key[80];	/* "" when not cacheable */
	time_t			 until;
	uint8_t			 alg;		/* of the responder's key */
};

static const char ctype[] = "application/ocsp-response";

/* The responder certificate's own extensions: EKU OCSPSigning, nocheck. */
static const uint8_t responder_exts[] = {
	0x30, 0x13, 0x06, 0x03, 0x55, 0x1d, 0x25, 0x04, 0x0c, 0x30, 0x0a,
	0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x09,
	0x30, 0x0f, 0x06, 0x09, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30,
	0x01, 0x05, 0x04, 0x02, 0x05, 0x00,
};

/*
 * Issues the delegated responder's certificate through the signer, with
 * the blocking client (at start and every 16 hours, as the TLS one).
 */
int
ocsp_renew(struct api *a, char *err, size_t errsz)
{
	struct ocsp_cache	*c = a->ocsp;
	struct signer_client	*sc = NULL;
	struct tbs_profile	 pr;
	struct pbuf		 tbs, crt, subj;
	uint8_t			 serial[16], *spki = NULL, *sig = NULL;
	size_t			 spkilen, siglen, m, st, r;
	char			 hex[33];
	time_t			 now = time(NULL), na = now + RESPONDER_LIFETIME;
	int			 kt, rc = -1;

	if (c == NULL || a->cfg.ocsp_key[0] == '\0')
		return 0;
	pbuf_init(&tbs);
	pbuf_init(&crt);
	pbuf_init(&subj);
	if (na > a->inter_not_after)
		na = a->inter_not_after;
	if ((sc = signer_connect(a->cfg.signer_socket, err, errsz)) == NULL ||
	    signer_public_key(sc, a->cfg.ocsp_key, &kt, &spki, &spkilen, NULL,
	    err, errsz) == -1)
		goto out;
	if (x509_serial(serial, hex) == -1 ||
	    (m = der_open(&subj, 0x30)) == (size_t)-1 ||
	    (st = der_open(&subj, 0x31)) == (size_t)-1 ||
	    (r = der_open(&subj, 0x30)) == (size_t)-1 ||
	    der_put(&subj, 0x06, "\x55\x04\x03", 3) == -1 ||
	    der_put(&subj, 0x0c, "p11ca OCSP Responder", 20) == -1 ||
	    der_close(&subj, r) == -1 || der_close(&subj, st) == -1 ||
	    der_close(&subj, m) == -1) {
		snprintf(err, errsz, "out of memory");
		goto out;
	}
	pr = (struct tbs_profile){ .serial = serial, .seriallen = 16,
	    .alg = a->alg, .issuer = a->inter_subject,
	    .issuerlen = a->inter_subjectlen, .not_before = now - 60,
	    .not_after = na, .subject = subj.data, .subjectlen = subj.len,
	    .spki = spki, .spkilen = spkilen, .pathlen = -1,
	    .keyusage = TBS_KU_DIGITAL_SIGNATURE, .aki_spki = a->inter_spki,
	    .aki_spkilen = a->inter_spkilen, .extra = responder_exts,
	    .extralen = sizeof(responder_exts) };
	if (tbs_encode(&pr, &tbs) == -1 ||
	    signer_sign(sc, a->cfg.signer_key, KIND_X509_TBS, a->alg, tbs.data,
	    tbs.len, &sig, &siglen, NULL, err, errsz) == -1 ||
	    tbs_certificate(tbs.data, tbs.len, a->alg, sig, siglen, &crt) ==
	    -1)
		goto out;
	free(c->cert);
	free(c->spki);
	c->cert = crt.data;
	c->certlen = crt.len;
	pbuf_init(&crt);
	c->spki = spki;
	c->spkilen = spkilen;
	spki = NULL;
	c->alg = tbs_alg_for(kt);
	rc = 0;
out:
	signer_close(sc);
	free(spki);
	free(sig);
	pbuf_free(&tbs);
	pbuf_free(&crt);
	pbuf_free(&subj);
	return rc;
}

int
ocsp_start(struct api *a, char *err, size_t errsz)
{
	if ((a->ocsp = calloc(1, sizeof(*a->ocsp))) == NULL) {
		snprintf(err, errsz, "ocsp: out of memory");
		return -1;
	}
	return ocsp_renew(a, err, errsz);
}

void
ocsp_stop(struct api *a)
{
	size_t	 i;

	if (a->ocsp == NULL)
		return;
	for (i = 0; i < CACHE_SLOTS; i++)
		free(a->ocsp->slot[i].der);
	free(a->ocsp->cert);
	free(a->ocsp->spki);
	free(a->ocsp);
	a->ocsp = NULL;
}

static struct slot *
slot_for(struct ocsp_cache *c, const char *serial)
{
	uint32_t	 h = 2166136261u;	/* FNV-1a: serials are random */

	for (; *serial; serial++)
		h = (h ^ (uint8_t)*serial) * 16777619u;
	return &c->slot[h & (CACHE_SLOTS - 1)];
}

void
ocsp_revoked(struct api *a, const char *serial)
{
	struct slot	*s;

	if (a->ocsp == NULL)
		return;
	s = slot_for(a->ocsp, serial);
	if (strcmp(s->serial, serial) == 0) {
		free(s->der);
		memset(s, 0, sizeof(*s));
	}
}

static void
answer(struct evhttp_request *req, const struct pbuf *b)
{
	reply_text(req, 200, ctype, (const char *)b->data, b->len);
}

static void
answer_error(struct evhttp_request *req, int status)
{
	struct pbuf	 b;

	pbuf_init(&b);
	if (ocsp_error(status, &b) == -1)
		reply_error(req, 500, "out of memory");
	else
		answer(req, &b);
	pbuf_free(&b);
}

static void
job_free(struct ocsp_job *j)
{
	pbuf_free(&j->tbs);
	pbuf_free(&j->out);
	free(j);
}

static void
on_signed(int status, const uint8_t *sig, size_t siglen, const char *msg,
    void *arg)
{
	struct ocsp_job	*j = arg;
	struct slot	*s;
	uint8_t		*copy;

	if (status != PROTO_OK) {
		fprintf(stderr, "p11ca-api: ocsp: signer: %s\n", msg ? msg :
		    "failed");
		answer_error(j->req, OCSP_TRY_LATER);
		job_free(j);
		return;
	}
	if (ocsp_response(j->tbs.data, j->tbs.len, j->alg, sig, siglen,
	    j->a->ocsp->cert, j->a->ocsp->certlen, &j->out) == -1) {
		answer_error(j->req, OCSP_INTERNAL_ERROR);
		job_free(j);
		return;
	}
	/* Revoked while this was being signed: the slot was dropped, and
	 * this answer (made from the older state) must not refill it. */
	if (j->cache_key[0] && j->a->ocsp != NULL &&
	    (copy = malloc(j->out.len)) != NULL) {
		struct store_record r;

		if (store_get(j->a->store, 0, j->cache_key, &r) == 0 &&
		    r.revoked_at == 0) {
			s = slot_for(j->a->ocsp, j->cache_key);
			free(s->der);
			memcpy(copy, j->out.data, j->out.len);
			snprintf(s->serial, sizeof(s->serial), "%s",
			    j->cache_key);
			s->der = copy;
			s->derlen = j->out.len;
			s->until = j->until;
			copy = NULL;
		}
		store_record_free(&r);
		free(copy);
	}
	answer(j->req, &j->out);
	job_free(j);
}

/* The store's key of a CertID serial (16-byte serials, zero-padded). */
static int
key_of(const struct ocsp_certid *id, char out[80])
{
	uint8_t	 b[16] = { 0 };

	if (id->seriallen > 16)
		return -1;
	memcpy(b + 16 - id->seriallen, id->serial, id->seriallen);
	hex_lower(out, b, sizeof(b));
	return 0;
}

/* The request DER: a POST body, or base64 after /ocsp/ (RFC 6960 A.1). */
static uint8_t *
request_der(struct evhttp_request *req, const char *rest, size_t *len)
{
	struct evbuffer	*in = evhttp_request_get_input_buffer(req);
	uint8_t		*der = NULL;
	char		*dec;
	size_t		 n;

	if (evhttp_request_get_command(req) == EVHTTP_REQ_POST) {
		if ((n = evbuffer_get_length(in)) == 0 || n > OCSP_MAX_BODY ||
		    (der = malloc(n)) == NULL ||
		    evbuffer_copyout(in, der, n) != (ssize_t)n) {
			free(der);
			return NULL;
		}
		*len = n;
		return der;
	}
	if ((dec = evhttp_uridecode(rest, 0, &n)) == NULL)
		return NULL;
	if (jose_b64_decode(dec, n, OCSP_MAX_BODY, &der, len) == -1)
		der = NULL;
	free(dec);
	return der;
}

void
h_ocsp(struct api *a, struct evhttp_request *req, const char *rest)
{
	struct ocsp_request	 r;
	struct ocsp_single	 one[OCSP_MAX_REQUESTS];
	struct ocsp_respdata	 rd;
	struct store_record	 rec;
	struct ocsp_job		*j = NULL;
	struct slot		*s;
	uint8_t			*der;
	size_t			 len = 0, i, ours = 0;
	char			 key[80], why[160];
	time_t			 now = time(NULL);
	int			 k;

	if ((der = request_der(req, rest, &len)) == NULL) {
		answer_error(req, OCSP_MALFORMED_REQUEST);
		return;
	}
	if (ocsp_request_parse(der, len, &r, why, sizeof(why)) == -1) {
		fprintf(stderr, "p11ca-api: ocsp: %s\n", why);
		answer_error(req, OCSP_MALFORMED_REQUEST);
		goto out;
	}
	for (i = 0; i < r.nids; i++) {
		one[i] = (struct ocsp_single){ .certid = r.ids[i].raw,
		    .certidlen = r.ids[i].rawlen, .status = OCSP_UNKNOWN,
		    .this_update = now, .next_update = now +
		    a->cfg.ocsp_cache };
		if ((k = ocsp_certid_issuer(&r.ids[i], a->inter_subject,
		    a->inter_subjectlen, a->inter_spki, a->inter_spkilen)) ==
		    -1) {
			answer_error(req, OCSP_INTERNAL_ERROR);
			goto out;
		}
		if (k == 0 || key_of(&r.ids[i], key) == -1)
			continue;	/* another issuer's, or not ours */
		ours++;
		if ((k = store_get(a->store, 0, key, &rec)) == -1) {
			answer_error(req, OCSP_TRY_LATER);
			goto out;
		}
		if (k == 1)
			continue;	/* never issued here: unknown */
		one[i].status = rec.revoked_at ? OCSP_REVOKED : OCSP_GOOD;
		one[i].revoked_at = rec.revoked_at;
		one[i].reason = rec.reason;
		store_record_free(&rec);
	}
	if (ours == 0) {
		/* Not this responder's to answer (RFC 6960 2.3). */
		answer_error(req, OCSP_UNAUTHORIZED);
		goto out;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		answer_error(req, OCSP_INTERNAL_ERROR);
		goto out;
	}
	j->a = a;
	j->req = req;
	pbuf_init(&j->tbs);
	pbuf_init(&j->out);
	if (r.nids == 1 && r.nonce == NULL && one[0].status != OCSP_UNKNOWN &&
	    key_of(&r.ids[0], key) == 0) {
		s = a->ocsp ? slot_for(a->ocsp, key) : NULL;
		if (s != NULL && s->der != NULL && strcmp(s->serial, key) == 0 &&
		    now < s->until) {
			reply_text(req, 200, ctype, (const char *)s->der,
			    s->derlen);
			goto out;
		}
		snprintf(j->cache_key, sizeof(j->cache_key), "%s", key);
		j->until = one[0].next_update - CACHE_MARGIN;
	}
	/* The delegated responder, or the issuing CA itself. */
	j->alg = a->ocsp->cert ? a->ocsp->alg : a->alg;
	rd = (struct ocsp_respdata){ .responder_spki = a->ocsp->cert ?
	    a->ocsp->spki : a->inter_spki, .responder_spkilen = a->ocsp->cert ?
	    a->ocsp->spkilen : a->inter_spkilen, .produced_at = now,
	    .responses = one, .nresponses = r.nids, .nonce = r.nonce,
	    .noncelen = r.noncelen };
	if (ocsp_encode(&rd, &j->tbs) == -1) {
		answer_error(req, OCSP_INTERNAL_ERROR);
		goto out;
	}
	if (link_sign(a->link, a->ocsp->cert ? a->cfg.ocsp_key :
	    a->cfg.signer_key, KIND_OCSP_TBS, j->alg, j->tbs.data, j->tbs.len,
	    on_signed, j) == -1) {
		answer_error(req, OCSP_TRY_LATER);
		goto out;
	}
	j = NULL;	/* on_signed's */
out:
	if (j != NULL)
		job_free(j);
	free(der);
}

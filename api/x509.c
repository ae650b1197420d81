/*
 * x509.c — POST /sign: a CSR and a one-time token in, a certificate out.
 *
 *	parse the body and CSR, verify the token (policy/token.c) (both on
 *	the workpool) -> reserve its jti -> check the CSR against it ->
 *	profile and TBS -> signer (async) -> store (async, group commit) ->
 *	201
 *
 * The event loop never waits: the workpool, the signer and the store
 * answer through callbacks. A request that fails before its certificate is stored gives
 * its jti back, so the token can be retried. Messages follow step-ca's.
 */
#include <arpa/inet.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "api/api.h"
#include "api/signer_link.h"
#include "api/workpool.h"
#include "appliance/store.h"
#include "hsm/proto.h"
#include "policy/csr.h"
#include "policy/jose.h"
#include "policy/json.h"
#include "policy/tbs.h"
#include "policy/token.h"

#define BACKDATE	60

struct sign_job {
	struct api		*a;
	struct evhttp_request	*req;
	struct pbuf		 tbs;
	uint8_t			 alg;
	char			 jti[256];
	struct store_cert	 sc;
	struct pbuf		 der;
};

static void
job_free(struct sign_job *j)
{
	pbuf_free(&j->tbs);
	pbuf_free(&j->der);
	free(j);
}

/*
 * A certificate as the quoted JSON string of its PEM: 64-column lines and
 * a final newline, as step-ca sends, each newline written \n. Base64 and
 * the armour lines need no other escaping, so nothing is scanned.
 */
static int
pem_json(struct pbuf *b, const uint8_t *der, size_t n)
{
	static const char hd[] = "\"-----BEGIN CERTIFICATE-----\\n";
	static const char ft[] = "-----END CERTIFICATE-----\\n\"";
	size_t	 b64 = 4 * ((n + 2) / 3), i, k;
	char	*tmp;
	int	 rc = -1;

	if (n > INT_MAX || (tmp = malloc(b64 + 1)) == NULL)
		return -1;
	EVP_EncodeBlock((unsigned char *)tmp, der, (int)n);
	if (pbuf_add(b, hd, sizeof(hd) - 1) == -1)
		goto out;
	for (i = 0; i < b64; i += k)
		if (pbuf_add(b, tmp + i, (k = b64 - i < 64 ? b64 - i : 64)) ==
		    -1 || pbuf_add(b, "\\n", 2) == -1)
			goto out;
	rc = pbuf_add(b, ft, sizeof(ft) - 1);
out:
	free(tmp);
	return rc;
}

/*
 * A PEM text as a quoted JSON string, escaped exactly as cJSON's printer
 * does (PEM holds only base64, dashes, spaces and newlines, but still).
 */
static int
json_str(struct pbuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	char	 e[6] = { '\\', 'u', '0', '0', 0, 0 };
	size_t	 run;
	int	 rc;

	if (pbuf_add(b, "\"", 1) == -1)
		return -1;
	while (*s) {
		for (run = 0; s[run] && s[run] != '"' && s[run] != '\\' &&
		    (unsigned char)s[run] >= 0x20; run++)
			;
		if (run && pbuf_add(b, s, run) == -1)
			return -1;
		if (!*(s += run))
			break;
		switch (*s) {
		case '"': case '\\':
			rc = pbuf_add(b, (const char[]){ '\\', *s }, 2);
			break;
		case '\b': rc = pbuf_add(b, "\\b", 2); break;
		case '\f': rc = pbuf_add(b, "\\f", 2); break;
		case '\n': rc = pbuf_add(b, "\\n", 2); break;
		case '\r': rc = pbuf_add(b, "\\r", 2); break;
		case '\t': rc = pbuf_add(b, "\\t", 2); break;
		default:
			e[4] = hex[(unsigned char)*s >> 4];
			e[5] = hex[*s & 15];
			rc = pbuf_add(b, e, 6);
		}
		if (rc == -1)
			return -1;
		s++;
	}
	return pbuf_add(b, "\"", 1);
}

/*
 * step-ca's 201: {crt, ca, certChain, tlsOptions}, written out directly:
 * cJSON's printer, escaping some 4 KB character by character, cost more
 * than the rest of the answer. The intermediate's part is made once.
 */
static int
sign_answer(struct api *a, const uint8_t *der, size_t n, struct pbuf *out)
{
	static const char tls_options[] = ",\"tlsOptions\":{\"cipherSuites\":"
	    "[\"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256\","
	    "\"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\"],\"minVersion\":1.2,"
	    "\"maxVersion\":1.3,\"renegotiation\":false}}\n";
	struct pbuf	 leaf;
	int		 rc = -1;

	if (a->inter_json.len == 0 && json_str(&a->inter_json,
	    a->inter_pem) == -1) {
		pbuf_free(&a->inter_json);
		return -1;
	}
	pbuf_init(&leaf);
	if (pem_json(&leaf, der, n) == 0 &&
	    pbuf_reserve(out, 2 * leaf.len + 2 * a->inter_json.len +
	    sizeof(tls_options) + 64) == 0 &&
	    pbuf_add(out, "{\"crt\":", 7) == 0 &&
	    pbuf_add(out, leaf.data, leaf.len) == 0 &&
	    pbuf_add(out, ",\"ca\":", 6) == 0 &&
	    pbuf_add(out, a->inter_json.data, a->inter_json.len) == 0 &&
	    pbuf_add(out, ",\"certChain\":[", 14) == 0 &&
	    pbuf_add(out, leaf.data, leaf.len) == 0 &&
	    pbuf_add(out, ",", 1) == 0 &&
	    pbuf_add(out, a->inter_json.data, a->inter_json.len) == 0 &&
	    pbuf_add(out, "]", 1) == 0 &&
	    pbuf_add(out, tls_options, sizeof(tls_options) - 1) == 0)
		rc = 0;
	pbuf_free(&leaf);
	return rc;
}

static void
on_stored(int result, void *arg)
{
	struct sign_job	*j = arg;
	struct pbuf	 out;

	if (result == STORE_REVOKED || result == STORE_NOT_FOUND) {
		/* A renewal that lost its race with a revocation. */
		fprintf(stderr, "p11ca-api: renew %s: %s\n",
		    j->sc.renewed_from, result == STORE_REVOKED ?
		    "certificate revoked" : "certificate unknown");
		reply_error(j->req, 401, api_unauthorized);
		job_free(j);
		return;
	}
	if (result != STORE_OK) {
		reply_error(j->req, 500, "The certificate authority encountered "
		    "an Internal Server Error. Please see the certificate "
		    "authority logs for more info.");
		job_free(j);
		return;
	}
	pbuf_init(&out);
	if (sign_answer(j->a, j->der.data, j->der.len, &out) == -1)
		reply_error(j->req, 500, "out of memory");
	else
		reply_text(j->req, 201, "application/json",
		    (const char *)out.data, out.len);
	pbuf_free(&out);
	job_free(j);
}

static void
on_signed(int status, const uint8_t *sig, size_t siglen, const char *msg,
    void *arg)
{
	struct sign_job	*j = arg;

	if (status != PROTO_OK) {
		fprintf(stderr, "p11ca-api: sign %s: signer: %s\n", j->sc.serial,
		    msg ? msg : "failed");
		store_jti_release(j->a->store, j->jti);
		if (status == PROTO_E_REFUSED)
			reply_forbidden(j->req, "the signer refused the certificate");
		else
			reply_error(j->req, 503, "The certificate authority is "
			    "temporarily unable to sign; try again.");
		job_free(j);
		return;
	}
	if (tbs_certificate(j->tbs.data, j->tbs.len, j->alg, sig, siglen,
	    &j->der) == -1) {
		store_jti_release(j->a->store, j->jti);
		reply_error(j->req, 500, "cannot assemble the certificate");
		job_free(j);
		return;
	}
	j->sc.der = j->der.data;
	j->sc.derlen = j->der.len;
	if (store_put_cert(j->a->store, &j->sc, on_stored, j) == -1) {
		store_jti_release(j->a->store, j->jti);
		reply_error(j->req, 500, "cannot store the certificate");
		job_free(j);
	}
}

void
api_policy(const struct api *a, struct token_policy *pol)
{
	*pol = (struct token_policy){ .provs = a->provs->p, .nprovs = a->provs->n,
	    .dns = (const char *const *)a->cfg.dns, .ndns = a->cfg.ndns,
	    .root_fp = a->root_fp, .max_lifetime = a->cfg.max_token_life, .now = time(NULL),
	    .started = a->started, .issuer = a->inter };
}

void
x509_issue(struct api *a, struct evhttp_request *req, struct pbuf *tbs,
    const struct store_cert *sc)
{
	struct sign_job	*j;

	/* Not calloc: sc is 17 KB, and store_cert_copy writes what is used. */
	if ((j = malloc(sizeof(*j))) == NULL) {
		store_jti_release(a->store, sc->jti);
		pbuf_free(tbs);
		reply_error(req, 500, "out of memory");
		return;
	}
	j->a = a;
	j->req = req;
	j->alg = a->alg;
	j->tbs = *tbs;		/* moved */
	pbuf_init(tbs);
	pbuf_init(&j->der);
	store_cert_copy(&j->sc, sc);
	snprintf(j->jti, sizeof(j->jti), "%s", sc->jti);
	if (link_sign(a->link, a->cfg.signer_key, KIND_X509_TBS, a->alg,
	    j->tbs.data, j->tbs.len, on_signed, j) == -1) {
		store_jti_release(a->store, j->jti);
		reply_error(req, 503, "The certificate authority is temporarily "
		    "unable to sign; try again.");
		job_free(j);
	}
}

int
x509_serial(uint8_t serial[16], char hex[33])
{
	if (RAND_bytes(serial, 16) != 1)
		return -1;
	/* 128 random bits: DER adds a zero byte when the top bit is set. */
	hex_lower(hex, serial, 16);
	return 0;
}

static int
str_or_absent(const cJSON *o, const char *name)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, name);

	return v == NULL || cJSON_IsNull(v) || cJSON_IsString(v);
}

static const char *
member(const cJSON *o, const char *name)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A token SAN in the form the CSR reader gives: IPs in canonical text. */
static int
san_norm(const char *san, int type, char *out, size_t outsz)
{
	uint8_t	 ip[16];

	if (type != SAN_IP)
		return snprintf(out, outsz, "%s", san) < (int)outsz ? 0 : -1;
	if (inet_pton(AF_INET, san, ip) == 1)
		return inet_ntop(AF_INET, ip, out, outsz) ? 0 : -1;
	return inet_pton(AF_INET6, san, ip) == 1 &&
	    inet_ntop(AF_INET6, ip, out, outsz) ? 0 : -1;
}

static int
in_token(const struct token *t, int type, const char *v)
{
	char	 norm[256];
	int	 k;

	for (k = 0; k < t->nsans; k++)
		if (tbs_san_type(t->sans[k]) == type &&
		    san_norm(t->sans[k], type, norm, sizeof(norm)) == 0 &&
		    (type == SAN_DNS ? strcasecmp(norm, v) : strcmp(norm, v)) == 0)
			return 1;
	return 0;
}

/*
 * Per SAN type, a CSR that names any must name exactly the token's set
 * (as step-ca: sets, so order and repeats do not matter).
 */
static const char *
csr_matches(const struct csr *c, const struct token *t, char *why,
    size_t whysz)
{
	char		 norm[256];
	const char	*p;
	int		 type, i, k, any;

	for (k = 0; k < t->nsans; k++)
		for (p = t->sans[k]; *p; p++)
			if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e) {
				snprintf(why, whysz, "subject alternative "
				    "names must be printable ASCII");
				return why;
			}
	if (c->cn[0] && strcmp(c->cn, t->sub) != 0) {
		snprintf(why, whysz, "certificate request does not contain the "
		    "valid common name - got %.100s, want %.100s", c->cn,
		    t->sub);
		return why;
	}
	for (type = SAN_DNS; type <= SAN_URI; type++) {
		for (i = any = 0; i < c->nsans; i++) {
			if (c->sans[i].type != (enum san_type)type)
				continue;
			any = 1;
			if (!in_token(t, type, c->sans[i].value))
				goto mismatch;
		}
		for (k = 0; any && k < t->nsans; k++) {
			if (tbs_san_type(t->sans[k]) != type ||
			    san_norm(t->sans[k], type, norm, sizeof(norm)) == -1)
				continue;
			for (i = 0; i < c->nsans; i++)
				if (c->sans[i].type == (enum san_type)type &&
				    (type == SAN_DNS ? strcasecmp(norm,
				    c->sans[i].value) : strcmp(norm,
				    c->sans[i].value)) == 0)
					break;
			if (i == c->nsans)
				goto mismatch;
		}
	}
	return NULL;
mismatch:
	snprintf(why, whysz, "certificate request names do not match the "
	    "token's");
	return why;
}

/* The step provisioner extension: SEQUENCE { 1 (JWK), name, kid }. */
static int
prov_ext(struct pbuf *b, const struct provisioner *p)
{
	struct pbuf	 v, e;
	size_t		 m;
	uint8_t		 one = 1;
	int		 rc = -1;

	pbuf_init(&v);
	pbuf_init(&e);
	if ((m = der_open(&v, 0x30)) != (size_t)-1 &&
	    der_put_uint(&v, &one, 1) == 0 &&
	    der_put(&v, 0x04, p->name, strlen(p->name)) == 0 &&
	    der_put(&v, 0x04, p->kid, strlen(p->kid)) == 0 &&
	    der_close(&v, m) == 0 && (m = der_open(&e, 0x30)) != (size_t)-1 &&
	    der_put(&e, 0x06, "\x2b\x06\x01\x04\x01\x82\xa4\x64\xc6\x28\x40\x01",
	    12) == 0 && der_put(&e, 0x04, v.data, v.len) == 0 &&
	    der_close(&e, m) == 0)
		rc = pbuf_add(b, e.data, e.len);
	pbuf_free(&v);
	pbuf_free(&e);
	return rc;
}

static int
cn_name(struct pbuf *b, const char *cn)
{
	size_t	 a, s, r;

	if ((a = der_open(b, 0x30)) == (size_t)-1 ||
	    (s = der_open(b, 0x31)) == (size_t)-1 ||
	    (r = der_open(b, 0x30)) == (size_t)-1 ||
	    der_put(b, 0x06, "\x55\x04\x03", 3) == -1 ||
	    der_put(b, 0x0c, cn, strlen(cn)) == -1 || der_close(b, r) == -1 ||
	    der_close(b, s) == -1)
		return -1;
	return der_close(b, a);
}

/*
 * Validity from the request and the provisioner's claims, by step-ca's
 * rules: notBefore defaults to now less the backdate; a notAfter duration
 * counts from notBefore; the backdate is allowed on top of the maximum.
 */
static const char *
validity(const cJSON *body, const struct claims *cl, time_t now, time_t *nb,
    time_t *na, char *why, size_t whysz)
{
	const cJSON	*v;
	time_t		 base = now;
	long		 d, max = cl->max_tls;

	*nb = now - BACKDATE;
	if ((v = cJSON_GetObjectItemCaseSensitive(body, "notBefore")) != NULL &&
	    !cJSON_IsNull(v) && (!cJSON_IsString(v) || (*v->valuestring &&
	    time_or_duration(v->valuestring, now, nb) == -1)))
		return "invalid notBefore";
	if (cJSON_IsString(v) && *v->valuestring)
		base = *nb;		/* no backdate then */
	else
		max += BACKDATE;
	*na = base + cl->default_tls;
	if ((v = cJSON_GetObjectItemCaseSensitive(body, "notAfter")) != NULL &&
	    !cJSON_IsNull(v) && (!cJSON_IsString(v) || (*v->valuestring &&
	    time_or_duration(v->valuestring, base, na) == -1)))
		return "invalid notAfter";
	d = *na - *nb;
	if (d < cl->min_tls) {
		snprintf(why, whysz, "requested duration of %lds is less than "
		    "the authorized minimum certificate duration of %lds", d,
		    cl->min_tls);
		return why;
	}
	if (d > max) {
		snprintf(why, whysz, "requested duration of %lds is more than "
		    "the authorized maximum certificate duration of %lds", d,
		    max);
		return why;
	}
	return NULL;
}

/*
 * The request body, checked in step-ca's order; no side effects, so the
 * fuzzer drives it directly. Returns 0, or 400 with why set.
 */
int
sign_parse(const char *buf, size_t n, struct sign_req *r, char *why,
    size_t whysz)
{
	const char	*csr_pem, *err = NULL;
	char		 w[256];

	sign_req_init(r);
	r->body = json_parse(buf, n, 0);
	/* As Go's decoder: notBefore and notAfter are strings or nothing. */
	if (r->body == NULL || !cJSON_IsObject(r->body) ||
	    !str_or_absent(r->body, "notBefore") ||
	    !str_or_absent(r->body, "notAfter"))
		err = "error decoding json";
	else if ((csr_pem = member(r->body, "csr")) == NULL || *csr_pem == '\0')
		err = "missing csr";
	else if (csr_pem_to_der(csr_pem, &r->der, &r->derlen) == -1)
		err = "error decoding json";
	else if (csr_parse(r->der, r->derlen, &r->csr, w, sizeof(w)) == -1) {
		fprintf(stderr, "p11ca-api: sign: invalid csr: %s\n", w);
		err = "invalid csr";
	} else if ((r->ott = member(r->body, "ott")) == NULL || *r->ott == '\0')
		err = "missing ott";
	if (err == NULL)
		return 0;
	snprintf(why, whysz, "%s", err);
	sign_req_free(r);
	return 400;
}

void
sign_req_init(struct sign_req *r)
{
	r->body = NULL;
	r->der = NULL;
	r->derlen = 0;
	r->ott = NULL;
	csr_clear(&r->csr);
}

void
sign_req_free(struct sign_req *r)
{
	cJSON_Delete(r->body);
	free(r->der);
	sign_req_init(r);
}

/*
 * What the token allows this CSR, and the validity it may have: 0, or
 * 403 with why set. ca_not_after is the issuing CA's own notAfter.
 */
int
sign_authorize(const struct sign_req *r, const struct token *t, time_t now,
    time_t ca_not_after, time_t *nb, time_t *na, char *why, size_t whysz)
{
	const char	*w;
	char		*fp;
	int		 bad;

	if (t->cnf[0]) {
		if ((fp = jose_b64url_encode(r->csr.fp, 32)) == NULL) {
			snprintf(why, whysz, "out of memory");
			return 403;
		}
		bad = strcmp(fp, t->cnf) != 0;
		free(fp);
		if (bad) {
			snprintf(why, whysz, "certificate request does not match "
			    "the token's cnf fingerprint");
			return 403;
		}
	}
	if ((w = csr_matches(&r->csr, t, why, whysz)) != NULL ||
	    (w = validity(r->body, &t->prov->claims, now, nb, na, why,
	    whysz)) != NULL) {
		if (w != why)
			snprintf(why, whysz, "%s", w);
		return 403;
	}
	if (*na > ca_not_after) {
		snprintf(why, whysz, "requested validity ends after the CA's "
		    "own");
		return 403;
	}
	return 0;
}

/*
 * A /sign request while its token and CSR are checked: the two signature
 * verifies are most of the front end's CPU per certificate, so they run
 * on the workpool, and the loop goes on with other connections.
 */
struct sign_check {
	struct api		*a;
	struct evhttp_request	*req;
	struct provset		*provs;		/* held: pol points into it */
	struct token_policy	 pol;
	char			*body;
	size_t			 bodylen;
	struct sign_req		 r;
	struct token		 t;
	int			 status;	/* 0, or 400/401 with w */
	char			 w[512];
};

static void
check_free(struct sign_check *c)
{
	token_free(&c->t);
	sign_req_free(&c->r);
	free(c->body);
	provset_release(c->provs);
	free(c);
}

/* On a workpool thread: pure functions of c only. */
static void
sign_check(void *arg)
{
	struct sign_check	*c = arg;

	if ((c->status = sign_parse(c->body, c->bodylen, &c->r, c->w,
	    sizeof(c->w))) != 0)
		return;
	if (token_verify(c->r.ott, AUD_SIGN, &c->pol, &c->t, c->w,
	    sizeof(c->w)) == -1)
		c->status = 401;
}

/* Back on the loop: reserve the jti, apply the token, build, sign. */
static void
sign_checked(void *arg, int cancelled)
{
	struct sign_check	*c = arg;
	struct api		*a = c->a;
	struct evhttp_request	*req = c->req;
	struct token		*t = &c->t;
	struct sign_req		*r = &c->r;
	struct tbs_profile	 pr;
	struct store_cert	 sc;
	struct pbuf		 ext, subj, tbs;
	uint8_t			 serial[16];
	char			 w[512];
	time_t			 nb, na;
	int			 k, reserved = 0;

	pbuf_init(&ext);
	pbuf_init(&subj);
	pbuf_init(&tbs);
	if (cancelled) {
		fprintf(stderr, "p11ca-api: sign: cancelled: shutting down\n");
		reply_error(req, 503, "The certificate authority is shutting "
		    "down; try again.");
		goto out;
	}
	if (c->status == 400) {
		reply_bad_request(req, c->w);
		goto out;
	}
	if (c->status != 0) {
		fprintf(stderr, "p11ca-api: sign: token refused: %s\n", c->w);
		reply_error(req, 401, api_unauthorized);
		goto out;
	}
	/* Recorded only now, after the signature verified (step-ca: before). */
	if ((k = store_jti_reserve(a->store, t->jti)) != 0) {
		fprintf(stderr, "p11ca-api: sign: token %s\n", k == 1 ?
		    "already used" : "cannot be recorded");
		reply_error(req, k == 1 ? 401 : 500, k == 1 ? api_unauthorized :
		    "cannot record the token");
		goto out;
	}
	reserved = 1;
	if (sign_authorize(r, t, c->pol.now, a->inter_not_after, &nb, &na, w,
	    sizeof(w)) != 0) {
		reply_forbidden(req, w);
		goto out;
	}
	store_cert_clear(&sc);
	if (x509_serial(serial, sc.serial) == -1)
		goto oom;
	if (cn_name(&subj, t->sub) == -1 ||
	    tbs_ext_san(&ext, (const char *const *)t->sans, t->nsans) == -1 ||
	    tbs_ext_eku(&ext, EKU_SERVER_AUTH | EKU_CLIENT_AUTH) == -1 ||
	    prov_ext(&ext, t->prov) == -1 ||
	    pbuf_add(&ext, a->revext.data, a->revext.len) == -1)
		goto oom;
	pr = (struct tbs_profile){ .serial = serial, .seriallen = 16,
	    .alg = a->alg, .issuer = a->inter_subject,
	    .issuerlen = a->inter_subjectlen, .not_before = nb,
	    .not_after = na, .subject = subj.data, .subjectlen = subj.len,
	    .spki = r->csr.spki, .spkilen = r->csr.spkilen, .ca = 0,
	    .pathlen = -1, .keyusage = TBS_KU_DIGITAL_SIGNATURE |
	    (r->csr.keytype == KEYTYPE_RSA ?
	    TBS_KU_KEY_ENCIPHERMENT : 0), .aki_id = a->inter_keyid,
	    .extra = ext.data,
	    .extralen = ext.len };
	if (tbs_encode(&pr, &tbs) == -1)
		goto oom;
	snprintf(sc.jti, sizeof(sc.jti), "%s", t->jti);
	sc.jti_exp = t->exp;
	snprintf(sc.subject, sizeof(sc.subject), "CN=%.250s", t->sub);
	for (k = 0; k < t->nsans; k++)
		snprintf(sc.sans + strlen(sc.sans), sizeof(sc.sans) -
		    strlen(sc.sans), "%s%s", k ? "," : "", t->sans[k]);
	snprintf(sc.provisioner, sizeof(sc.provisioner), "%s", t->prov->name);
	sc.not_before = nb;
	sc.not_after = na;
	reserved = 0;		/* x509_issue gives it back on failure */
	x509_issue(a, req, &tbs, &sc);
	goto out;
oom:
	reply_error(req, 500, "out of memory");
out:
	if (reserved)
		store_jti_release(a->store, t->jti);
	pbuf_free(&tbs);
	pbuf_free(&ext);
	pbuf_free(&subj);
	check_free(c);
}

void
h_sign(struct api *a, struct evhttp_request *req, const char *rest)
{
	struct evbuffer		*in = evhttp_request_get_input_buffer(req);
	struct sign_check	*c;

	(void)rest;
	/* The body is copied: the thread must not read libevent's buffers. */
	if ((c = malloc(sizeof(*c))) == NULL ||
	    (c->body = malloc(evbuffer_get_length(in) + 1)) == NULL) {
		free(c);
		reply_error(req, 500, "out of memory");
		return;
	}
	/* Not calloc: the CSR in c->r is 17 KB that sign_req_init skips. */
	sign_req_init(&c->r);
	memset(&c->t, 0, sizeof(c->t));
	c->status = 0;
	c->w[0] = '\0';
	c->bodylen = evbuffer_copyout(in, c->body, evbuffer_get_length(in));
	c->a = a;
	c->req = req;
	c->provs = provset_hold(a);
	api_policy(a, &c->pol);
	if (workpool_run(a->pool, sign_check, sign_checked, c) == -1) {
		check_free(c);
		reply_error(req, 500, "out of memory");
	}
}

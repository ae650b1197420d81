/*
 * renew.c — POST /renew and POST /rekey: the same identity again, with a
 * new serial and validity (and for rekey a new public key from a CSR).
 *
 * Who asks: the certificate itself, over mTLS, or (renew only) a token
 * in the Authorization header whose x5cInsecure/x5c header carries it and
 * which its key signed (step's form, and the one that works behind a
 * TLS-terminating proxy). What is renewed is the stored certificate, not
 * the presented bytes: subject, SANs and every extension are copied from
 * it, duration too. The provisioner's claims decide: disableRenewal,
 * allowRenewalAfterExpiry. A revoked certificate is refused here and,
 * should a revocation land while this one is being signed, again by the
 * store at commit (store.h: renewed_from).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <openssl/x509.h>

#include "api/api.h"
#include "appliance/store.h"
#include "hsm/der.h"
#include "policy/csr.h"
#include "policy/json.h"
#include "policy/provisioner.h"
#include "policy/tbs.h"
#include "policy/token.h"

#define BACKDATE	60

/*
 * The certificate being renewed: from the token when there is one, else
 * the TLS client's. 0 with *leaf (a reference to free) and the jti
 * reserved in *jti; or an answer sent and -1.
 */
static int
who(struct api *a, struct evhttp_request *req, int token_ok, X509 **leaf,
    char *jti, size_t jtisz, time_t *exp)
{
	const char	*auth = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Authorization");
	struct token_policy pol;
	struct token	 t;
	X509		*peer;
	char		 w[256];
	int		 rc;

	*leaf = NULL;
	jti[0] = '\0';
	*exp = 0;
	if (token_ok && auth != NULL) {
		if (strncasecmp(auth, "Bearer ", 7) != 0) {
			reply_error(req, 401, api_unauthorized);
			return -1;
		}
		api_policy(a, &pol);
		if (token_verify_x5c(auth + 7, AUD_RENEW, &pol, &t, leaf, w,
		    sizeof(w)) == -1) {
			fprintf(stderr, "p11ca-api: renew: token refused: %s\n",
			    w);
			reply_error(req, 401, api_unauthorized);
			return -1;
		}
		rc = store_jti_reserve(a->store, t.jti);
		snprintf(jti, jtisz, "%s", t.jti);
		*exp = t.exp;
		token_free(&t);
		if (rc != 0) {
			fprintf(stderr, "p11ca-api: renew: token %s\n", rc == 1 ?
			    "already used" : "cannot be recorded");
			jti[0] = '\0';
			X509_free(*leaf);
			*leaf = NULL;
			reply_error(req, rc == 1 ? 401 : 500, rc == 1 ?
			    api_unauthorized : "cannot record the token");
			return -1;
		}
		return 0;
	}
	if ((peer = client_cert(req)) == NULL) {
		reply_bad_request(req, "missing client certificate");
		return -1;
	}
	if (X509_up_ref(peer) != 1) {
		reply_error(req, 500, "out of memory");
		return -1;
	}
	*leaf = peer;
	return 0;
}

/*
 * Renews (spki NULL) or rekeys the certificate leaf: checks it against
 * the store and its provisioner, builds the new TBS and hands it to
 * x509_issue. Answers in every case; jti is given back on failure.
 */
static void
reissue(struct api *a, struct evhttp_request *req, X509 *leaf,
    const char *jti, time_t jti_exp, const uint8_t *spki, size_t spkilen)
{
	struct store_record	 rec;
	struct store_cert	 sc;
	struct tbs_parts	 tp;
	struct tbs_profile	 pr;
	const struct provisioner *p;
	struct pbuf		 tbs;
	uint8_t			 serial[16];
	char			 key[80];
	time_t			 now = time(NULL), nb, na;
	int			 k, have = 0, parts = 0;
	const char		*why = NULL;

	pbuf_init(&tbs);
	store_cert_clear(&sc);
	if (serial_key(X509_get0_serialNumber(leaf), key) == -1 ||
	    (k = store_get(a->store, 0, key, &rec)) == 1)
		why = "certificate not issued by this CA";
	else if (k == -1) {
		reply_error(req, 503, "The certificate authority cannot read "
		    "its store now; try again.");
		goto out;
	}
	have = why == NULL;
	if (why == NULL && rec.revoked_at != 0)
		why = "certificate revoked";
	else if (why == NULL && (p = provisioner_named(a->provs->p,
	    a->provs->n, PROV_JWK, rec.provisioner)) == NULL)
		why = "provisioner of the certificate not found";
	else if (why == NULL && p->claims.disable_renewal)
		why = "renew is disabled for this provisioner";
	else if (why == NULL && now > rec.not_after &&
	    !p->claims.renew_after_expiry)
		why = "certificate expired";
	else if (why == NULL && tbs_parts(rec.der, rec.derlen, &tp) == -1)
		why = "certificate cannot be read";
	else if (why == NULL && (parts = 1) && !der_eq(tp.issuer,
	    tp.issuerlen, a->inter_subject, a->inter_subjectlen))
		why = "certificate issued by another intermediate";
	if (why != NULL) {
		fprintf(stderr, "p11ca-api: renew %s: %s\n", key, why);
		reply_error(req, 401, api_unauthorized);
		goto out;
	}
	/* Same duration, starting a minute back, as step-ca. */
	nb = now - BACKDATE;
	na = nb + (tp.not_after - tp.not_before);
	if (na > a->inter_not_after)
		na = a->inter_not_after;
	if (x509_serial(serial, sc.serial) == -1) {
		reply_error(req, 500, "out of memory");
		goto out;
	}
	pr = (struct tbs_profile){ .serial = serial, .seriallen = 16,
	    .alg = a->alg, .issuer = a->inter_subject,
	    .issuerlen = a->inter_subjectlen, .not_before = nb,
	    .not_after = na, .subject = tp.subject, .subjectlen = tp.subjectlen,
	    .spki = spki ? spki : tp.spki, .spkilen = spki ? spkilen :
	    tp.spkilen, .pathlen = -1, .aki_id = a->inter_keyid,
	    .extra = tp.extra.data,
	    .extralen = tp.extra.len };
	if (tbs_encode(&pr, &tbs) == -1) {
		reply_error(req, 500, "out of memory");
		goto out;
	}
	snprintf(sc.subject, sizeof(sc.subject), "%s", rec.subject);
	snprintf(sc.sans, sizeof(sc.sans), "%s", rec.sans);
	snprintf(sc.provisioner, sizeof(sc.provisioner), "%s",
	    rec.provisioner);
	snprintf(sc.jti, sizeof(sc.jti), "%s", jti);
	sc.jti_exp = jti_exp;
	snprintf(sc.renewed_from, sizeof(sc.renewed_from), "%s", key);
	sc.not_before = nb;
	sc.not_after = na;
	jti = NULL;		/* x509_issue's to give back now */
	x509_issue(a, req, &tbs, &sc);
out:
	if (jti != NULL && *jti != '\0')
		store_jti_release(a->store, jti);
	if (parts)
		pbuf_free(&tp.extra);
	if (have)
		store_record_free(&rec);
	pbuf_free(&tbs);
}

void
h_renew(struct api *a, struct evhttp_request *req, const char *rest)
{
	X509	*leaf;
	char	 jti[256];
	time_t	 exp;

	(void)rest;
	if (who(a, req, 1, &leaf, jti, sizeof(jti), &exp) == -1)
		return;
	reissue(a, req, leaf, jti, exp, NULL, 0);
	X509_free(leaf);
}

void
h_rekey(struct api *a, struct evhttp_request *req, const char *rest)
{
	struct evbuffer	*in = evhttp_request_get_input_buffer(req);
	struct csr	 csr;
	cJSON		*body = NULL;
	const cJSON	*pem;
	uint8_t		*der = NULL;
	size_t		 derlen;
	X509		*leaf = NULL;
	char		 jti[256], w[256];
	time_t		 exp;

	(void)rest;
	body = json_parse((const char *)evbuffer_pullup(in, -1),
	    evbuffer_get_length(in), 0);
	pem = cJSON_GetObjectItemCaseSensitive(body, "csr");
	if (body == NULL || !cJSON_IsObject(body)) {
		reply_bad_request(req, "error decoding json");
		goto out;
	}
	if (!cJSON_IsString(pem) || *pem->valuestring == '\0') {
		reply_bad_request(req, "missing csr");
		goto out;
	}
	if (csr_pem_to_der(pem->valuestring, &der, &derlen) == -1 ||
	    csr_parse(der, derlen, &csr, w, sizeof(w)) == -1) {
		reply_bad_request(req, "invalid csr");
		goto out;
	}
	/* mTLS only: a new key is a step beyond what a token may ask. */
	if (who(a, req, 0, &leaf, jti, sizeof(jti), &exp) == -1)
		goto out;
	reissue(a, req, leaf, jti, exp, csr.spki, csr.spkilen);
out:
	X509_free(leaf);
	free(der);
	cJSON_Delete(body);
}

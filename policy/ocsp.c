/*
 * ocsp.c — OCSP requests read and responses written; see ocsp.h.
 *
 * The request reader walks the DER with hsm/der.h, which already refuses
 * what is not canonical DER; here each field is checked for what RFC 6960
 * 4.1.1 says it is, and every SEQUENCE OF is bounded. Each step returns
 * NULL or the name of what was wrong, for the caller's "why".
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "hsm/der.h"
#include "policy/ocsp.h"
#include "policy/tbs.h"

#define OID_NONCE	"\x2b\x06\x01\x05\x05\x07\x30\x01\x02"
#define OID_BASIC	"\x2b\x06\x01\x05\x05\x07\x30\x01\x01"
#define MAXEXT		16	/* in one Extensions: a few are in use */

/* CertID hashAlgorithm: the OID's contents and the digest's size. */
static const struct {
	const char	*oid;
	size_t		 oidlen;
	size_t		 mdlen;
} hashes[] = {
	[OCSP_HASH_SHA1] = { "\x2b\x0e\x03\x02\x1a", 5, 20 },
	[OCSP_HASH_SHA256] = { "\x60\x86\x48\x01\x65\x03\x04\x02\x01", 9, 32 },
	[OCSP_HASH_SHA384] = { "\x60\x86\x48\x01\x65\x03\x04\x02\x02", 9, 48 },
	[OCSP_HASH_SHA512] = { "\x60\x86\x48\x01\x65\x03\x04\x02\x03", 9, 64 },
};

static const EVP_MD *
hash_md(int hash)
{
	switch (hash) {
	case OCSP_HASH_SHA1:
		return EVP_sha1();
	case OCSP_HASH_SHA256:
		return EVP_sha256();
	case OCSP_HASH_SHA384:
		return EVP_sha384();
	case OCSP_HASH_SHA512:
		return EVP_sha512();
	}
	return NULL;
}

/* An OID's contents in DER: base-128 subidentifiers, none padded. */
static int
oid_ok(const struct der_tlv *t)
{
	size_t	 i;

	if (t->len == 0 || (t->val[t->len - 1] & 0x80))
		return 0;
	for (i = 0; i < t->len; i++)
		if (t->val[i] == 0x80 && (i == 0 || !(t->val[i - 1] & 0x80)))
			return 0;
	return 1;
}

/* A BIT STRING's contents: the unused-bit count first, 0 when empty. */
static int
bits_ok(const struct der_tlv *t)
{
	return t->len > 0 && t->val[0] <= 7 && (t->len > 1 || t->val[0] == 0);
}

/* 1 when p[0..n) is exactly one DER SEQUENCE. */
static int
one_seq(const uint8_t *p, size_t n)
{
	struct der	 d;
	struct der_tlv	 t;

	der_init(&d, p, n);
	return der_expect(&d, DER_SEQUENCE, &t) == 0 && der_done(&d);
}

/*
 * Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension, inside the EXPLICIT
 * tag t. The nonce is kept when nonce is not NULL (requestExtensions);
 * any other extension is ignored, unless critical: what a client says
 * we must understand and we do not, we cannot answer.
 */
static const char *
exts(const struct der_tlv *t, const uint8_t **nonce, size_t *noncelen)
{
	struct der	 in, l, e, nv;
	struct der_tlv	 seq, ext, oid, crit, val, n, seen[MAXEXT];
	size_t		 k = 0, i;
	int		 c, rc;

	if (der_enter(t, &in) == -1 || der_expect(&in, DER_SEQUENCE, &seq) ==
	    -1 || !der_done(&in) || der_enter(&seq, &l) == -1 || der_done(&l))
		return "Extensions";
	while (!der_done(&l)) {
		if (k == MAXEXT)
			return "too many extensions";
		c = 0;
		if (der_expect(&l, DER_SEQUENCE, &ext) == -1 ||
		    der_enter(&ext, &e) == -1 ||
		    der_expect(&e, DER_OID, &oid) == -1 || !oid_ok(&oid) ||
		    (rc = der_opt(&e, DER_BOOLEAN, &crit)) == -1 ||
		    (rc == 1 && der_bool(&crit, &c) == -1) ||
		    der_expect(&e, DER_OCTETSTRING, &val) == -1 ||
		    !der_done(&e))
			return "Extension";
		for (i = 0; i < k; i++)
			if (der_eq(seen[i].val, seen[i].len, oid.val, oid.len))
				return "duplicate extension";
		seen[k++] = oid;
		if (nonce != NULL && der_eq(oid.val, oid.len, OID_NONCE, 9)) {
			/* Nonce ::= OCTET STRING (SIZE(1..32)), RFC 8954 */
			der_init(&nv, val.val, val.len);
			if (der_expect(&nv, DER_OCTETSTRING, &n) == -1 ||
			    !der_done(&nv) || n.len == 0 ||
			    n.len > OCSP_MAX_NONCE)
				return "nonce";
			*nonce = val.val;
			*noncelen = val.len;
		} else if (c)
			return "unsupported critical extension";
	}
	return NULL;
}

/*
 * CertID ::= SEQUENCE { hashAlgorithm, issuerNameHash OCTET STRING,
 * issuerKeyHash OCTET STRING, serialNumber INTEGER }. Hashes of another
 * size than the algorithm's could never match; serials are those RFC 5280
 * 4.1.2.2 allows a certificate, as the signer's guard does.
 */
static const char *
certid(const struct der_tlv *t, struct ocsp_certid *id)
{
	struct der	 in, a;
	struct der_tlv	 alg, oid, par, nh, kh, sn;
	int		 h;

	if (der_enter(t, &in) == -1 ||
	    der_expect(&in, DER_SEQUENCE, &alg) == -1 ||
	    der_enter(&alg, &a) == -1 || der_expect(&a, DER_OID, &oid) == -1)
		return "CertID hashAlgorithm";
	for (h = OCSP_HASH_SHA1; h <= OCSP_HASH_SHA512; h++)
		if (der_eq(oid.val, oid.len, hashes[h].oid, hashes[h].oidlen))
			break;
	if (h > OCSP_HASH_SHA512)
		return "unsupported CertID hash algorithm";
	if (!der_done(&a) && (der_expect(&a, DER_NULL, &par) == -1 ||
	    par.len != 0 || !der_done(&a)))
		return "CertID hash algorithm parameters";
	if (der_expect(&in, DER_OCTETSTRING, &nh) == -1 ||
	    der_expect(&in, DER_OCTETSTRING, &kh) == -1 ||
	    nh.len != hashes[h].mdlen || kh.len != hashes[h].mdlen)
		return "CertID issuer hashes";
	if (der_expect(&in, DER_INTEGER, &sn) == -1 || der_int(&sn) == -1 ||
	    !der_done(&in))
		return "CertID serialNumber";
	if (sn.val[0] & 0x80)
		return "negative serialNumber";
	if (sn.len > 21 || (sn.len == 21 && sn.val[0] != 0))
		return "serialNumber longer than 20 octets";
	id->raw = t->raw;
	id->rawlen = t->rawlen;
	id->hash = h;
	id->name_hash = nh.val;
	id->key_hash = kh.val;
	id->hashlen = nh.len;
	id->serial = sn.val;
	id->seriallen = sn.len;
	if (id->seriallen > 1 && id->serial[0] == 0) {
		id->serial++;
		id->seriallen--;
	}
	return NULL;
}

/* Request ::= SEQUENCE { reqCert, singleRequestExtensions [0] OPTIONAL } */
static const char *
request(const struct der_tlv *t, struct ocsp_certid *id)
{
	struct der	 in;
	struct der_tlv	 cid, x;
	const char	*e;
	int		 rc;

	if (der_enter(t, &in) == -1 || der_expect(&in, DER_SEQUENCE, &cid) ==
	    -1)
		return "Request";
	if ((e = certid(&cid, id)) != NULL)
		return e;
	if ((rc = der_opt(&in, DER_CTX(0), &x)) == -1)
		return "singleRequestExtensions";
	if (rc == 1 && (e = exts(&x, NULL, NULL)) != NULL)
		return e;
	return der_done(&in) ? NULL : "Request";
}

/* GeneralName's alternatives, each as its tag (RFC 5280 4.2.1.6). */
static const uint8_t gntags[] = { 0xa0, 0x81, 0x82, 0xa3, 0xa4, 0xa5, 0x86,
    0x87, 0x88 };

/*
 * Signature ::= SEQUENCE { signatureAlgorithm, signature BIT STRING,
 * certs [0] EXPLICIT SEQUENCE OF Certificate OPTIONAL }: its shape only,
 * as nothing here relies on who signed.
 */
static const char *
signature(const struct der_tlv *t)
{
	struct der	 in, s, a, c, l;
	struct der_tlv	 sig, alg, oid, par, bits, certs, seq, cert;
	int		 rc;

	if (der_enter(t, &in) == -1 || der_expect(&in, DER_SEQUENCE, &sig) ==
	    -1 || !der_done(&in) || der_enter(&sig, &s) == -1 ||
	    der_expect(&s, DER_SEQUENCE, &alg) == -1 ||
	    der_enter(&alg, &a) == -1 || der_expect(&a, DER_OID, &oid) == -1 ||
	    !oid_ok(&oid) || (!der_done(&a) && (der_read(&a, &par) == -1 ||
	    !der_done(&a))) || der_expect(&s, DER_BITSTRING, &bits) == -1 ||
	    !bits_ok(&bits) || (rc = der_opt(&s, DER_CTX(0), &certs)) == -1 ||
	    !der_done(&s))
		return "optionalSignature";
	if (rc == 0)
		return NULL;
	if (der_enter(&certs, &c) == -1 ||
	    der_expect(&c, DER_SEQUENCE, &seq) == -1 || !der_done(&c) ||
	    der_enter(&seq, &l) == -1)
		return "optionalSignature certs";
	while (!der_done(&l))
		if (der_expect(&l, DER_SEQUENCE, &cert) == -1)
			return "optionalSignature certs";
	return NULL;
}

/*
 * OCSPRequest ::= SEQUENCE { tbsRequest, optionalSignature [0] }
 * TBSRequest ::= SEQUENCE { version [0] EXPLICIT DEFAULT v1,
 *     requestorName [1] EXPLICIT GeneralName OPTIONAL,
 *     requestList SEQUENCE OF Request, requestExtensions [2] OPTIONAL }
 */
static const char *
parse(const uint8_t *der, size_t len, struct ocsp_request *r)
{
	struct der	 d, req, tbs, v, l;
	struct der_tlv	 top, t, x, y;
	const char	*e;
	int		 rc;

	der_init(&d, der, len);
	if (der_expect(&d, DER_SEQUENCE, &top) == -1 || !der_done(&d) ||
	    der_enter(&top, &req) == -1)
		return "OCSPRequest";
	if (der_expect(&req, DER_SEQUENCE, &t) == -1 ||
	    der_enter(&t, &tbs) == -1)
		return "tbsRequest";
	/* Only v1 exists; DER would leave it out, some clients do not. */
	if ((rc = der_opt(&tbs, DER_CTX(0), &x)) == -1 || (rc == 1 &&
	    (der_enter(&x, &v) == -1 || der_expect(&v, DER_INTEGER, &y) == -1 ||
	    !der_done(&v) || !der_eq(y.val, y.len, "\0", 1))))
		return "version";
	if ((rc = der_opt(&tbs, DER_CTX(1), &x)) == -1 || (rc == 1 &&
	    (der_enter(&x, &v) == -1 || der_read(&v, &y) == -1 ||
	    !der_done(&v) || memchr(gntags, y.tag, sizeof(gntags)) == NULL)))
		return "requestorName";
	if (der_expect(&tbs, DER_SEQUENCE, &x) == -1 ||
	    der_enter(&x, &l) == -1)
		return "requestList";
	while (!der_done(&l)) {
		if (r->nids == OCSP_MAX_REQUESTS)
			return "too many requests";
		if (der_expect(&l, DER_SEQUENCE, &y) == -1)
			return "Request";
		if ((e = request(&y, &r->ids[r->nids])) != NULL)
			return e;
		r->nids++;
	}
	if (r->nids == 0)
		return "empty requestList";
	if ((rc = der_opt(&tbs, DER_CTX(2), &x)) == -1)
		return "requestExtensions";
	if (rc == 1 && (e = exts(&x, &r->nonce, &r->noncelen)) != NULL)
		return e;
	if (!der_done(&tbs))
		return "tbsRequest";
	if ((rc = der_opt(&req, DER_CTX(0), &x)) == -1)
		return "optionalSignature";
	if (rc == 1 && (e = signature(&x)) != NULL)
		return e;
	r->has_signature = rc;
	return der_done(&req) ? NULL : "OCSPRequest";
}

int
ocsp_request_parse(const uint8_t *der, size_t len, struct ocsp_request *r,
    char *why, size_t whysz)
{
	const char	*e;

	memset(r, 0, sizeof(*r));
	if (why != NULL && whysz > 0)
		why[0] = '\0';
	if ((e = parse(der, len, r)) == NULL)
		return 0;
	memset(r, 0, sizeof(*r));
	if (why != NULL && whysz > 0)
		snprintf(why, whysz, "malformed OCSP request: %s", e);
	return -1;
}

int
ocsp_certid_issuer(const struct ocsp_certid *id, const uint8_t *name,
    size_t namelen, const uint8_t *spki, size_t spkilen)
{
	const EVP_MD	*md;
	struct der	 d, in;
	struct der_tlv	 t, a, bits;
	uint8_t		 h[EVP_MAX_MD_SIZE];
	unsigned int	 n;

	if ((md = hash_md(id->hash)) == NULL || name == NULL)
		return -1;
	der_init(&d, spki, spkilen);
	if (der_expect(&d, DER_SEQUENCE, &t) == -1 || !der_done(&d) ||
	    der_enter(&t, &in) == -1 ||
	    der_expect(&in, DER_SEQUENCE, &a) == -1 ||
	    der_expect(&in, DER_BITSTRING, &bits) == -1 || !der_done(&in) ||
	    bits.len < 1 || bits.val[0] != 0)
		return -1;
	if (EVP_Digest(name, namelen, h, &n, md, NULL) != 1)
		return -1;
	if (!der_eq(h, n, id->name_hash, id->hashlen))
		return 0;
	if (EVP_Digest(bits.val + 1, bits.len - 1, h, &n, md, NULL) != 1)
		return -1;
	return der_eq(h, n, id->key_hash, id->hashlen);
}

/* OCSP's times are all GeneralizedTime (RFC 6960 4.2.2.1). */
static int
put_gentime(struct pbuf *b, time_t t)
{
	struct tm	 tm;
	char		 s[64];

	if (gmtime_r(&t, &tm) == NULL || tm.tm_year < -1900 ||
	    tm.tm_year > 9999 - 1900 ||
	    snprintf(s, sizeof(s), "%04d%02d%02d%02d%02d%02dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec) != 15)
		return -1;
	return der_put(b, DER_GENTIME, s, 15);
}

/*
 * SingleResponse ::= SEQUENCE { certID, certStatus, thisUpdate,
 * nextUpdate [0] EXPLICIT OPTIONAL }; certStatus good [0] IMPLICIT NULL,
 * revoked [1] IMPLICIT { revocationTime, [0] EXPLICIT CRLReason
 * OPTIONAL }, unknown [2] IMPLICIT NULL.
 */
static int
put_single(struct pbuf *b, const struct ocsp_single *s)
{
	uint8_t	 reason[3] = { DER_ENUMERATED, 1, 0 };
	size_t	 m, x;

	if (!one_seq(s->certid, s->certidlen) ||
	    (s->next_update != 0 && s->next_update < s->this_update))
		return -1;
	if ((m = der_open(b, DER_SEQUENCE)) == (size_t)-1 ||
	    pbuf_add(b, s->certid, s->certidlen) == -1)
		return -1;
	switch (s->status) {
	case OCSP_GOOD:
		if (der_put(b, DER_CTXP(0), NULL, 0) == -1)
			return -1;
		break;
	case OCSP_REVOKED:
		if (s->reason < REASON_UNSPECIFIED ||
		    s->reason > REASON_AA_COMPROMISE || s->reason == 7)
			return -1;
		reason[2] = (uint8_t)s->reason;
		if ((x = der_open(b, DER_CTX(1))) == (size_t)-1 ||
		    put_gentime(b, s->revoked_at) == -1 ||
		    (s->reason != REASON_UNSPECIFIED &&
		    der_put(b, DER_CTX(0), reason, sizeof(reason)) == -1) ||
		    der_close(b, x) == -1)
			return -1;
		break;
	case OCSP_UNKNOWN:
		if (der_put(b, DER_CTXP(2), NULL, 0) == -1)
			return -1;
		break;
	default:
		return -1;
	}
	if (put_gentime(b, s->this_update) == -1)
		return -1;
	if (s->next_update != 0 &&
	    ((x = der_open(b, DER_CTX(0))) == (size_t)-1 ||
	    put_gentime(b, s->next_update) == -1 || der_close(b, x) == -1))
		return -1;
	return der_close(b, m);
}

/*
 * ResponseData ::= SEQUENCE { version [0] DEFAULT v1, responderID,
 * producedAt, responses SEQUENCE OF SingleResponse, responseExtensions
 * [1] EXPLICIT OPTIONAL }; responderID byName [1] EXPLICIT Name, byKey
 * [2] EXPLICIT OCTET STRING.
 */
int
ocsp_encode(const struct ocsp_respdata *rd, struct pbuf *out)
{
	uint8_t	 kid[20];
	size_t	 top, m, list, exts, ext, i;

	if (rd->responses == NULL || rd->nresponses == 0 ||
	    (rd->nonce != NULL && rd->noncelen == 0))
		return -1;
	if ((top = der_open(out, DER_SEQUENCE)) == (size_t)-1)
		return -1;
	if (rd->responder_spki != NULL) {
		if (tbs_key_id(rd->responder_spki, rd->responder_spkilen,
		    kid) == -1 || (m = der_open(out, DER_CTX(2))) ==
		    (size_t)-1 || der_put(out, DER_OCTETSTRING, kid,
		    sizeof(kid)) == -1 || der_close(out, m) == -1)
			return -1;
	} else if (!one_seq(rd->responder_name, rd->responder_namelen) ||
	    der_put(out, DER_CTX(1), rd->responder_name,
	    rd->responder_namelen) == -1)
		return -1;
	if (put_gentime(out, rd->produced_at) == -1 ||
	    (list = der_open(out, DER_SEQUENCE)) == (size_t)-1)
		return -1;
	for (i = 0; i < rd->nresponses; i++)
		if (put_single(out, &rd->responses[i]) == -1)
			return -1;
	if (der_close(out, list) == -1)
		return -1;
	if (rd->nonce != NULL &&
	    ((m = der_open(out, DER_CTX(1))) == (size_t)-1 ||
	    (exts = der_open(out, DER_SEQUENCE)) == (size_t)-1 ||
	    (ext = der_open(out, DER_SEQUENCE)) == (size_t)-1 ||
	    der_put(out, DER_OID, OID_NONCE, 9) == -1 ||
	    der_put(out, DER_OCTETSTRING, rd->nonce, rd->noncelen) == -1 ||
	    der_close(out, ext) == -1 || der_close(out, exts) == -1 ||
	    der_close(out, m) == -1))
		return -1;
	return der_close(out, top);
}

/*
 * OCSPResponse { responseStatus ENUMERATED, [0] EXPLICIT ResponseBytes {
 * responseType, response OCTET STRING } }; BasicOCSPResponse { tbs,
 * signatureAlgorithm, signature BIT STRING, certs [0] EXPLICIT SEQUENCE
 * OF Certificate OPTIONAL }.
 */
int
ocsp_response(const uint8_t *tbs, size_t tbslen, uint8_t alg,
    const uint8_t *sig, size_t siglen, const uint8_t *certs,
    size_t certslen, struct pbuf *out)
{
	struct der	 d;
	struct der_tlv	 t;
	const uint8_t	*a;
	size_t		 alen, top, rb, rbs, os, basic, bits, c, cs;
	uint8_t		 zero = 0;

	if (tbs_algid(alg, &a, &alen) == -1 || !one_seq(tbs, tbslen) ||
	    (certs != NULL && certslen == 0))
		return -1;
	der_init(&d, certs, certslen);
	while (!der_done(&d))
		if (der_expect(&d, DER_SEQUENCE, &t) == -1)
			return -1;
	if ((top = der_open(out, DER_SEQUENCE)) == (size_t)-1 ||
	    der_put(out, DER_ENUMERATED, &zero, 1) == -1 ||
	    (rb = der_open(out, DER_CTX(0))) == (size_t)-1 ||
	    (rbs = der_open(out, DER_SEQUENCE)) == (size_t)-1 ||
	    der_put(out, DER_OID, OID_BASIC, 9) == -1 ||
	    (os = der_open(out, DER_OCTETSTRING)) == (size_t)-1 ||
	    (basic = der_open(out, DER_SEQUENCE)) == (size_t)-1 ||
	    pbuf_add(out, tbs, tbslen) == -1 || pbuf_add(out, a, alen) == -1 ||
	    (bits = der_open(out, DER_BITSTRING)) == (size_t)-1 ||
	    pbuf_add(out, &zero, 1) == -1 || pbuf_add(out, sig, siglen) == -1 ||
	    der_close(out, bits) == -1)
		return -1;
	if (certs != NULL &&
	    ((c = der_open(out, DER_CTX(0))) == (size_t)-1 ||
	    (cs = der_open(out, DER_SEQUENCE)) == (size_t)-1 ||
	    pbuf_add(out, certs, certslen) == -1 ||
	    der_close(out, cs) == -1 || der_close(out, c) == -1))
		return -1;
	if (der_close(out, basic) == -1 || der_close(out, os) == -1 ||
	    der_close(out, rbs) == -1 || der_close(out, rb) == -1)
		return -1;
	return der_close(out, top);
}

int
ocsp_error(int status, struct pbuf *out)
{
	uint8_t	 s = (uint8_t)status;
	size_t	 top;

	if (status != OCSP_MALFORMED_REQUEST && status != OCSP_INTERNAL_ERROR &&
	    status != OCSP_TRY_LATER && status != OCSP_SIG_REQUIRED &&
	    status != OCSP_UNAUTHORIZED)
		return -1;
	if ((top = der_open(out, DER_SEQUENCE)) == (size_t)-1 ||
	    der_put(out, DER_ENUMERATED, &s, 1) == -1)
		return -1;
	return der_close(out, top);
}

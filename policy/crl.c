/*
 * crl.c — certificate revocation lists from pre-encoded pieces; see crl.h.
 */
#include <string.h>

#include "hsm/der.h"
#include "policy/crl.h"
#include "policy/tbs.h"

#define OID_AKI		"\x55\x1d\x23"
#define OID_CRL_NUMBER	"\x55\x1d\x14"
#define OID_REASON	"\x55\x1d\x15"
#define OID_CRL_DP	"\x55\x1d\x1f"
#define OID_IDP		"\x55\x1d\x1c"
#define OID_AIA		"\x2b\x06\x01\x05\x05\x07\x01\x01"
#define OID_AD_OCSP	"\x2b\x06\x01\x05\x05\x07\x30\x01"
#define OID_AD_CAISSUERS "\x2b\x06\x01\x05\x05\x07\x30\x02"
#define GN_URI		DER_CTXP(6)	/* uniformResourceIdentifier */

/*
 * Extension ::= SEQUENCE { extnID, critical DEFAULT FALSE, extnValue }:
 * ours are all non-critical, and DER leaves the default out.
 */
static int
put_ext(struct pbuf *b, const char *oid, size_t oidlen,
    const struct pbuf *value)
{
	size_t	 m = der_open(b, DER_SEQUENCE);

	if (m == (size_t)-1 || der_put(b, DER_OID, oid, oidlen) == -1 ||
	    der_put(b, DER_OCTETSTRING, value->data, value->len) == -1)
		return -1;
	return der_close(b, m);
}

/* An IA5String URL: what a verifier will fetch must read as it was meant. */
static int
put_uri(struct pbuf *b, const char *url)
{
	size_t	 i, n;

	if (url == NULL || (n = strlen(url)) == 0)
		return -1;
	for (i = 0; i < n; i++)
		if (url[i] <= ' ' || url[i] > '~')
			return -1;
	return der_put(b, GN_URI, url, n);
}

/* 1 when p[0..n) is exactly one DER SEQUENCE, as a Name is. */
static int
one_seq(const uint8_t *p, size_t n)
{
	struct der	 d;
	struct der_tlv	 t;

	der_init(&d, p, n);
	return der_expect(&d, DER_SEQUENCE, &t) == 0 && der_done(&d);
}

static int
valid_reason(int r)
{
	return r >= REASON_UNSPECIFIED && r <= REASON_AA_COMPROMISE && r != 7;
}

/*
 * revokedCertificates entry: SEQUENCE { userCertificate, revocationDate,
 * crlEntryExtensions OPTIONAL }. The reasonCode is left out for
 * unspecified, as RFC 5280 5.3.1 asks.
 */
static int
put_entry(struct pbuf *b, const struct crl_entry *e)
{
	const uint8_t	*s = e->serial;
	size_t		 n = e->seriallen, m, exts, ext, v;
	uint8_t		 r;

	if (s == NULL || n == 0 || !valid_reason(e->reason))
		return -1;
	while (n > 1 && s[0] == 0)
		s++, n--;
	if (n > 20)
		return -1;
	if ((m = der_open(b, DER_SEQUENCE)) == (size_t)-1 ||
	    der_put_uint(b, s, n) == -1 || der_put_time(b, e->revoked_at) == -1)
		return -1;
	if (e->reason != REASON_UNSPECIFIED) {
		r = (uint8_t)e->reason;
		if ((exts = der_open(b, DER_SEQUENCE)) == (size_t)-1 ||
		    (ext = der_open(b, DER_SEQUENCE)) == (size_t)-1 ||
		    der_put(b, DER_OID, OID_REASON, 3) == -1 ||
		    (v = der_open(b, DER_OCTETSTRING)) == (size_t)-1 ||
		    der_put(b, DER_ENUMERATED, &r, 1) == -1 ||
		    der_close(b, v) == -1 || der_close(b, ext) == -1 ||
		    der_close(b, exts) == -1)
			return -1;
	}
	return der_close(b, m);
}

/*
 * issuingDistributionPoint, critical (RFC 5280 5.2.5): a CRL that says
 * where it is published is only good for certificates that name that
 * distribution point. SEQUENCE { [0] DistributionPointName { fullName
 * [0] IMPLICIT GeneralNames { URI } } }.
 */
static int
put_idp(struct pbuf *b, const char *url)
{
	struct pbuf	 v;
	size_t		 m, e, dp, fn;
	int		 rc = -1;

	pbuf_init(&v);
	if ((m = der_open(&v, DER_SEQUENCE)) != (size_t)-1 &&
	    (dp = der_open(&v, DER_CTX(0))) != (size_t)-1 &&
	    (fn = der_open(&v, DER_CTX(0))) != (size_t)-1 &&
	    put_uri(&v, url) == 0 && der_close(&v, fn) == 0 &&
	    der_close(&v, dp) == 0 && der_close(&v, m) == 0 &&
	    (e = der_open(b, DER_SEQUENCE)) != (size_t)-1 &&
	    der_put(b, DER_OID, OID_IDP, 3) == 0 &&
	    der_put(b, DER_BOOLEAN, "\xff", 1) == 0 &&
	    der_put(b, DER_OCTETSTRING, v.data, v.len) == 0)
		rc = der_close(b, e);
	pbuf_free(&v);
	return rc;
}

/*
 * crlExtensions [0] EXPLICIT: authorityKeyIdentifier, cRLNumber, and the
 * issuingDistributionPoint when the profile names one.
 */
static int
put_crl_exts(const struct crl_profile *pr, struct pbuf *b)
{
	struct pbuf	 v;
	uint8_t		 kid[20], num[8];
	size_t		 m, ctx, exts, i;
	int		 rc = -1;

	for (i = 0; i < sizeof(num); i++)
		num[i] = (uint8_t)(pr->number >> (8 * (sizeof(num) - 1 - i)));
	pbuf_init(&v);
	if ((ctx = der_open(b, DER_CTX(0))) == (size_t)-1 ||
	    (exts = der_open(b, DER_SEQUENCE)) == (size_t)-1 ||
	    tbs_key_id(pr->issuer_spki, pr->issuer_spkilen, kid) == -1 ||
	    (m = der_open(&v, DER_SEQUENCE)) == (size_t)-1 ||
	    der_put(&v, DER_CTXP(0), kid, sizeof(kid)) == -1 ||
	    der_close(&v, m) == -1 || put_ext(b, OID_AKI, 3, &v) == -1)
		goto out;
	v.len = 0;
	if (der_put_uint(&v, num, sizeof(num)) == -1 ||
	    put_ext(b, OID_CRL_NUMBER, 3, &v) == -1 ||
	    (pr->idp != NULL && put_idp(b, pr->idp) == -1) ||
	    der_close(b, exts) == -1 || der_close(b, ctx) == -1)
		goto out;
	rc = 0;
 out:
	pbuf_free(&v);
	return rc;
}

int
crl_encode(const struct crl_profile *pr, struct pbuf *out)
{
	const uint8_t	*alg;
	size_t		 alglen, top, list, i;

	if (!one_seq(pr->issuer, pr->issuerlen) ||
	    pr->next_update < pr->this_update ||
	    (pr->nentries > 0 && pr->entries == NULL) ||
	    tbs_algid(pr->alg, &alg, &alglen) == -1)
		return -1;
	if ((top = der_open(out, DER_SEQUENCE)) == (size_t)-1 ||
	    der_put(out, DER_INTEGER, "\x01", 1) == -1 ||	/* v2 */
	    pbuf_add(out, alg, alglen) == -1 ||
	    pbuf_add(out, pr->issuer, pr->issuerlen) == -1 ||
	    der_put_time(out, pr->this_update) == -1 ||
	    der_put_time(out, pr->next_update) == -1)
		return -1;
	/* An empty SEQUENCE OF is not DER for "none": the field is absent. */
	if (pr->nentries > 0) {
		if ((list = der_open(out, DER_SEQUENCE)) == (size_t)-1)
			return -1;
		for (i = 0; i < pr->nentries; i++)
			if (put_entry(out, &pr->entries[i]) == -1)
				return -1;
		if (der_close(out, list) == -1)
			return -1;
	}
	if (put_crl_exts(pr, out) == -1)
		return -1;
	return der_close(out, top);
}

/* A CertificateList has the shape of a Certificate. */
int
crl_certlist(const uint8_t *tbs, size_t tbslen, uint8_t alg,
    const uint8_t *sig, size_t siglen, struct pbuf *out)
{
	return tbs_certificate(tbs, tbslen, alg, sig, siglen, out);
}

/*
 * CRLDistributionPoints ::= SEQUENCE OF DistributionPoint { [0]
 * DistributionPointName { fullName [0] IMPLICIT GeneralNames } }: the
 * URLs are alternative places of the one CRL, so one point holds them.
 */
int
crl_ext_dp(struct pbuf *b, const char *const *urls, int n)
{
	struct pbuf	 v;
	size_t		 dps, dp, dpn, full;
	int		 i, rc = -1;

	if (urls == NULL || n < 1)
		return -1;
	pbuf_init(&v);
	if ((dps = der_open(&v, DER_SEQUENCE)) == (size_t)-1 ||
	    (dp = der_open(&v, DER_SEQUENCE)) == (size_t)-1 ||
	    (dpn = der_open(&v, DER_CTX(0))) == (size_t)-1 ||
	    (full = der_open(&v, DER_CTX(0))) == (size_t)-1)
		goto out;
	for (i = 0; i < n; i++)
		if (put_uri(&v, urls[i]) == -1)
			goto out;
	if (der_close(&v, full) == -1 || der_close(&v, dpn) == -1 ||
	    der_close(&v, dp) == -1 || der_close(&v, dps) == -1)
		goto out;
	rc = put_ext(b, OID_CRL_DP, 3, &v);
 out:
	pbuf_free(&v);
	return rc;
}

/* AccessDescription ::= SEQUENCE { accessMethod, accessLocation } */
static int
put_access(struct pbuf *b, const char *method, const char *url)
{
	size_t	 m;

	if ((m = der_open(b, DER_SEQUENCE)) == (size_t)-1 ||
	    der_put(b, DER_OID, method, 8) == -1 || put_uri(b, url) == -1)
		return -1;
	return der_close(b, m);
}

int
crl_ext_aia(struct pbuf *b, const char *ca_issuers, const char *ocsp)
{
	struct pbuf	 v;
	size_t		 m;
	int		 rc = -1;

	if (ca_issuers == NULL && ocsp == NULL)
		return -1;
	pbuf_init(&v);
	if ((m = der_open(&v, DER_SEQUENCE)) != (size_t)-1 &&
	    (ocsp == NULL || put_access(&v, OID_AD_OCSP, ocsp) == 0) &&
	    (ca_issuers == NULL ||
	    put_access(&v, OID_AD_CAISSUERS, ca_issuers) == 0) &&
	    der_close(&v, m) == 0)
		rc = put_ext(b, OID_AIA, 8, &v);
	pbuf_free(&v);
	return rc;
}

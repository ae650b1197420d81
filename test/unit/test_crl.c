/*
 * test_crl.c — policy/crl.c: TBSCertLists encoded for P-256 and RSA-2048
 * CAs, signed with OpenSSL as the signer would, wrapped, and checked
 * independently: OpenSSL's X509_CRL API (signature, entries, reasons,
 * number, AKI), `openssl crl -text`, `openssl verify -crl_check` on a
 * revoked and a good leaf; the signer's guard accepting them for the
 * issuing key and refusing them for another; and the CRL distribution
 * point and AIA extensions in a certificate tbs_encode makes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "policy/tbs.h"
static const unsigned	 ku_digital_signature = TBS_KU_DIGITAL_SIGNATURE;

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "hsm/der.h"
#include "hsm/guard.h"
#include "hsm/proto.h"
#include "policy/crl.h"
#include "test/unit/pki.h"

static struct ca	 ec, rsa, other;
static EVP_PKEY		*leafkey;

/* Each CA's leaves: [0] revoked in the tests, [1] good. */
static X509		*ec_leaf[2], *rsa_leaf[2];

static int
setup(void **state)
{
	(void)state;
	pki_mkdir("test_crl");
	pki_ca(&ec, "P-256", "O=p11ca test/CN=EC Issuing CA", "ec.pem");
	pki_ca(&rsa, "RSA", "O=p11ca test/CN=RSA Issuing CA", "rsa.pem");
	pki_ca(&other, "P-256", "O=p11ca test/CN=Other CA", "other.pem");
	leafkey = pki_key("P-256");
	ec_leaf[0] = pki_issue(&ec, leafkey, "CN=revoked.example.com", 0);
	ec_leaf[1] = pki_issue(&ec, leafkey, "CN=good.example.com", 0);
	rsa_leaf[0] = pki_issue(&rsa, leafkey, "CN=revoked.example.com", 0);
	rsa_leaf[1] = pki_issue(&rsa, leafkey, "CN=good.example.com", 0);
	pki_write_pem("ec_revoked.pem", ec_leaf[0]);
	pki_write_pem("ec_good.pem", ec_leaf[1]);
	pki_write_pem("rsa_revoked.pem", rsa_leaf[0]);
	pki_write_pem("rsa_good.pem", rsa_leaf[1]);
	return 0;
}

static int
teardown(void **state)
{
	size_t	 i;

	(void)state;
	for (i = 0; i < 2; i++) {
		X509_free(ec_leaf[i]);
		X509_free(rsa_leaf[i]);
	}
	EVP_PKEY_free(leafkey);
	pki_ca_free(&ec);
	pki_ca_free(&rsa);
	pki_ca_free(&other);
	pki_rmdir();
	return 0;
}

/* A certificate's serial magnitude, as crl_entry wants it. */
static const uint8_t *
serial_of(X509 *x, size_t *n)
{
	const ASN1_INTEGER	*sn = X509_get0_serialNumber(x);

	*n = (size_t)ASN1_STRING_length(sn);
	return ASN1_STRING_get0_data(sn);
}

static struct crl_profile
profile(const struct ca *ca, const struct crl_entry *e, size_t n)
{
	time_t	 now = time(NULL);

	return (struct crl_profile){ .alg = ca->alg, .issuer = ca->name,
	    .issuerlen = ca->namelen, .issuer_spki = ca->spki,
	    .issuer_spkilen = ca->spkilen, .this_update = now - 60,
	    .next_update = now + 7 * DAY, .number = 42, .entries = e,
	    .nentries = n };
}

/*
 * Encodes pr, has the guard of ca's issuing key check it, signs, wraps
 * and parses the CertificateList with OpenSSL, whose signature check
 * must pass. der keeps the DER; free it and the X509_CRL.
 */
static X509_CRL *
make_crl(const struct ca *ca, const struct crl_profile *pr, struct pbuf *der)
{
	const unsigned char	*p;
	struct pbuf		 tbs;
	X509_CRL		*crl;
	uint8_t			*sig;
	size_t			 siglen;
	char			 why[160];

	pbuf_init(&tbs);
	assert_int_equal(crl_encode(pr, &tbs), 0);
	if (pki_guard(&ca->gk, KIND_CRL_TBS, pr->alg, tbs.data, tbs.len, why,
	    sizeof(why)) != 0)
		fail_msg("guard refused the CRL: %s", why);
	pki_sign(ca->key, ca->md, tbs.data, tbs.len, &sig, &siglen);
	pbuf_init(der);
	assert_int_equal(crl_certlist(tbs.data, tbs.len, pr->alg, sig, siglen,
	    der), 0);
	p = der->data;
	assert_non_null(crl = d2i_X509_CRL(NULL, &p, (long)der->len));
	assert_ptr_equal(p, der->data + der->len);
	assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(ca->cert)), 1);
	OPENSSL_free(sig);
	pbuf_free(&tbs);
	return crl;
}

static void
write_crl(const char *file, X509_CRL *crl)
{
	char	 path[256];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s", pki_dir, file);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(PEM_write_X509_CRL(f, crl), 1);
	assert_int_equal(fclose(f), 0);
}

/* The entry for serial in crl, with its date and reason as OpenSSL reads. */
static void
check_entry(X509_CRL *crl, const uint8_t *serial, size_t n, time_t when,
    int reason)
{
	X509_REVOKED		*rev;
	ASN1_ENUMERATED		*e;
	ASN1_INTEGER		*sn;
	BIGNUM			*bn;
	int			 crit;

	assert_non_null(bn = BN_bin2bn(serial, (int)n, NULL));
	assert_non_null(sn = BN_to_ASN1_INTEGER(bn, NULL));
	/* OpenSSL tells removeFromCRL (a hold lifted) apart: 2, not 1 */
	assert_int_equal(X509_CRL_get0_by_serial(crl, &rev, sn),
	    reason == REASON_REMOVE_FROM_CRL ? 2 : 1);
	assert_int_equal(pki_asn1_time(X509_REVOKED_get0_revocationDate(rev)),
	    when);
	e = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, &crit, NULL);
	if (reason == REASON_UNSPECIFIED) {
		assert_null(e);
		assert_int_equal(crit, -1);	/* absent, as customary */
		assert_int_equal(X509_REVOKED_get_ext_count(rev), 0);
	} else {
		assert_non_null(e);
		assert_int_equal(crit, 0);
		assert_int_equal(ASN1_ENUMERATED_get(e), reason);
		ASN1_ENUMERATED_free(e);
	}
	ASN1_INTEGER_free(sn);
	BN_free(bn);
}

static uint64_t
crl_number(X509_CRL *crl)
{
	ASN1_INTEGER	*n;
	uint64_t	 v;
	int		 crit;

	assert_non_null(n = X509_CRL_get_ext_d2i(crl, NID_crl_number, &crit,
	    NULL));
	assert_int_equal(crit, 0);
	assert_int_equal(ASN1_INTEGER_get_uint64(&v, n), 1);
	ASN1_INTEGER_free(n);
	return v;
}

/* The whole path for one CA: encode, guard, sign, wrap, check it all. */
static void
roundtrip(struct ca *ca, X509 **leaf, const char *tag)
{
	static const uint8_t	 one[] = { 0x01 }, padded[] = { 0, 0, 0x7f };
	uint8_t			 big[20];
	struct crl_entry	 e[4];
	struct crl_profile	 pr;
	struct pbuf		 der;
	X509_CRL		*crl;
	AUTHORITY_KEYID		*akid;
	const uint8_t		*sn;
	char			 out[16384], hex[64];
	time_t			 now = time(NULL);
	size_t			 snlen, i;
	int			 crit;

	memset(big, 0xff, sizeof(big));
	sn = serial_of(leaf[0], &snlen);
	e[0] = (struct crl_entry){ sn, snlen, now - 3600,
	    REASON_KEY_COMPROMISE };
	e[1] = (struct crl_entry){ one, sizeof(one), now - 7200,
	    REASON_UNSPECIFIED };
	e[2] = (struct crl_entry){ big, sizeof(big), now - DAY,
	    REASON_CESSATION_OF_OPERATION };
	e[3] = (struct crl_entry){ padded, sizeof(padded), now - 2 * DAY,
	    REASON_SUPERSEDED };
	pr = profile(ca, e, nitems(e));
	pr.number = 0x0123456789abcdefULL;
	crl = make_crl(ca, &pr, &der);

	assert_int_equal(X509_CRL_get_version(crl), X509_CRL_VERSION_2);
	assert_int_equal(X509_NAME_cmp(X509_CRL_get_issuer(crl),
	    X509_get_subject_name(ca->cert)), 0);
	assert_int_equal(pki_asn1_time(X509_CRL_get0_lastUpdate(crl)),
	    pr.this_update);
	assert_int_equal(pki_asn1_time(X509_CRL_get0_nextUpdate(crl)),
	    pr.next_update);
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 4);
	check_entry(crl, sn, snlen, e[0].revoked_at, REASON_KEY_COMPROMISE);
	check_entry(crl, one, sizeof(one), e[1].revoked_at, REASON_UNSPECIFIED);
	check_entry(crl, big, sizeof(big), e[2].revoked_at,
	    REASON_CESSATION_OF_OPERATION);
	check_entry(crl, padded + 2, 1, e[3].revoked_at, REASON_SUPERSEDED);
	assert_true(crl_number(crl) == 0x0123456789abcdefULL);
	assert_non_null(akid = X509_CRL_get_ext_d2i(crl,
	    NID_authority_key_identifier, &crit, NULL));
	assert_int_equal(crit, 0);
	assert_non_null(akid->keyid);
	assert_int_equal(ASN1_OCTET_STRING_cmp(akid->keyid,
	    X509_get0_subject_key_id(ca->cert)), 0);
	assert_null(akid->issuer);
	assert_null(akid->serial);
	AUTHORITY_KEYID_free(akid);

	/* The openssl command reads it the same way. */
	snprintf(out, sizeof(out), "%s.crl.der", tag);
	pki_write(out, der.data, der.len);
	assert_int_equal(pki_run(out, sizeof(out), "openssl crl -inform DER "
	    "-in %s.crl.der -noout -text -CAfile %s", tag, ca->pem), 0);
	pki_expect(out, "verify OK");
	pki_expect(out, "Version 2 (0x1)");
	pki_expect(out, "X509v3 CRL Number:");
	pki_expect(out, "81985529216486895");	/* 0x0123456789abcdef */
	pki_expect(out, "X509v3 Authority Key Identifier:");
	pki_expect(out, "Key Compromise");
	pki_expect(out, "Cessation Of Operation");
	pki_expect(out, "Superseded");
	pki_expect(out, "Serial Number: 01\n");
	pki_expect(out, "Serial Number: 7F\n");
	pki_expect(out, "Serial Number: FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
	    "FFFF");
	for (i = 0; i < snlen; i++)
		snprintf(hex + 2 * i, 3, "%02X", sn[i]);
	pki_expect(out, hex);

	snprintf(out, sizeof(out), "%s.crl.pem", tag);
	write_crl(out, crl);
	assert_int_not_equal(pki_run(out, sizeof(out), "openssl verify "
	    "-crl_check -CAfile %s -CRLfile %s.crl.pem %s_revoked.pem",
	    ca->pem, tag, tag), 0);
	pki_expect(out, "certificate revoked");
	assert_int_equal(pki_run(out, sizeof(out), "openssl verify "
	    "-crl_check -CAfile %s -CRLfile %s.crl.pem %s_good.pem",
	    ca->pem, tag, tag), 0);
	pki_expect(out, "OK");
	X509_CRL_free(crl);
	pbuf_free(&der);
}

static void
test_ec(void **state)
{
	(void)state;
	roundtrip(&ec, ec_leaf, "ec");
}

static void
test_rsa(void **state)
{
	(void)state;
	roundtrip(&rsa, rsa_leaf, "rsa");
}

/* No entries: no revokedCertificates field, and every leaf verifies. */
static void
test_empty(void **state)
{
	struct crl_profile	 pr = profile(&ec, NULL, 0);
	struct pbuf		 der;
	X509_CRL		*crl;
	char			 out[4096];

	(void)state;
	crl = make_crl(&ec, &pr, &der);
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) <= 0,
	    1);
	assert_true(crl_number(crl) == 42);
	write_crl("empty.crl.pem", crl);
	assert_int_equal(pki_run(out, sizeof(out), "openssl verify "
	    "-crl_check -CAfile ec.pem -CRLfile empty.crl.pem "
	    "ec_revoked.pem ec_good.pem"), 0);
	X509_CRL_free(crl);
	pbuf_free(&der);
}

/* cRLNumber: every size of the INTEGER up to 2^64 - 1 reads back. */
static void
test_numbers(void **state)
{
	static const uint64_t	 nums[] = { 0, 1, 127, 128, 255, 256, 65535,
	    0x7fffffffffffffffULL, 0x8000000000000000ULL, UINT64_MAX };
	struct crl_profile	 pr = profile(&ec, NULL, 0);
	struct pbuf		 der;
	X509_CRL		*crl;
	size_t			 i;

	(void)state;
	for (i = 0; i < nitems(nums); i++) {
		pr.number = nums[i];
		crl = make_crl(&ec, &pr, &der);
		assert_true(crl_number(crl) == nums[i]);
		X509_CRL_free(crl);
		pbuf_free(&der);
	}
}

/* UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 5.1.2.4). */
static void
test_times(void **state)
{
	struct crl_entry	 e = { (const uint8_t *)"\x05", 1, 0,
	    REASON_CA_COMPROMISE };
	struct crl_profile	 pr = profile(&ec, &e, 1);
	struct pbuf		 der;
	X509_CRL		*crl;

	(void)state;
	pr.this_update = 2524607999;	/* 2049-12-31 23:59:59 */
	pr.next_update = 2524608000;	/* 2050-01-01 00:00:00 */
	e.revoked_at = 2524608001;
	crl = make_crl(&ec, &pr, &der);
	assert_int_equal(ASN1_STRING_type(X509_CRL_get0_lastUpdate(crl)),
	    V_ASN1_UTCTIME);
	assert_int_equal(ASN1_STRING_type(X509_CRL_get0_nextUpdate(crl)),
	    V_ASN1_GENERALIZEDTIME);
	assert_int_equal(pki_asn1_time(X509_CRL_get0_lastUpdate(crl)),
	    pr.this_update);
	assert_int_equal(pki_asn1_time(X509_CRL_get0_nextUpdate(crl)),
	    pr.next_update);
	check_entry(crl, e.serial, 1, e.revoked_at, REASON_CA_COMPROMISE);
	X509_CRL_free(crl);
	pbuf_free(&der);
}

/* Every reason code there is reads back as itself. */
static void
test_reasons(void **state)
{
	static const int	 reasons[] = { 0, 1, 2, 3, 4, 5, 6, 8, 9, 10 };
	struct crl_entry	 e[nitems(reasons)];
	uint8_t			 sn[nitems(reasons)];
	struct crl_profile	 pr;
	struct pbuf		 der;
	X509_CRL		*crl;
	size_t			 i;

	(void)state;
	for (i = 0; i < nitems(reasons); i++) {
		sn[i] = (uint8_t)(i + 1);
		e[i] = (struct crl_entry){ &sn[i], 1, time(NULL) - 100,
		    reasons[i] };
	}
	pr = profile(&rsa, e, nitems(e));
	crl = make_crl(&rsa, &pr, &der);
	for (i = 0; i < nitems(reasons); i++)
		check_entry(crl, &sn[i], 1, e[i].revoked_at, reasons[i]);
	X509_CRL_free(crl);
	pbuf_free(&der);
}

/* A CRL of 10,000 entries: the guard takes it, OpenSSL reads them all. */
static void
test_big(void **state)
{
	enum { N = 10000 };
	struct crl_entry	*e;
	struct crl_profile	 pr;
	struct pbuf		 der;
	X509_CRL		*crl;
	uint8_t			(*sn)[16];
	size_t			 i;

	(void)state;
	assert_non_null(e = calloc(N, sizeof(*e)));
	assert_non_null(sn = calloc(N, sizeof(*sn)));
	assert_int_equal(RAND_bytes((uint8_t *)sn, N * sizeof(*sn)), 1);
	for (i = 0; i < N; i++) {
		sn[i][0] = (uint8_t)(0x40 | (sn[i][0] & 0x3f));
		e[i] = (struct crl_entry){ sn[i], sizeof(sn[i]),
		    time(NULL) - (time_t)i, (int)(i % 7) };
	}
	pr = profile(&ec, e, N);
	crl = make_crl(&ec, &pr, &der);
	assert_true(der.len > 300000);
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), N);
	for (i = 0; i < N; i += 997)
		check_entry(crl, sn[i], sizeof(sn[i]), e[i].revoked_at,
		    (int)(i % 7));
	X509_CRL_free(crl);
	pbuf_free(&der);
	free(sn);
	free(e);
}

/* What the signer must not sign for the issuing key. */
static void
test_guard_refuses(void **state)
{
	struct crl_profile	 pr = profile(&ec, NULL, 0);
	struct guard_key	 root;
	struct pbuf		 tbs;
	char			 why[160];

	(void)state;
	pbuf_init(&tbs);
	/* in another issuer's name */
	pr.issuer = other.name;
	pr.issuerlen = other.namelen;
	assert_int_equal(crl_encode(&pr, &tbs), 0);
	assert_int_equal(pki_guard(&ec.gk, KIND_CRL_TBS, ec.alg, tbs.data,
	    tbs.len, why, sizeof(why)), -1);
	pki_expect(why, "CRL issuer is not this CA");
	/* ... which is fine for that issuer */
	assert_int_equal(pki_guard(&other.gk, KIND_CRL_TBS, other.alg,
	    tbs.data, tbs.len, why, sizeof(why)), 0);
	/* a signature algorithm other than the one asked for */
	tbs.len = 0;
	pr = profile(&ec, NULL, 0);
	assert_int_equal(crl_encode(&pr, &tbs), 0);
	assert_int_equal(pki_guard(&ec.gk, KIND_CRL_TBS, ALG_ECDSA_SHA384,
	    tbs.data, tbs.len, why, sizeof(why)), -1);
	pki_expect(why, "signature algorithm is not the requested one");
	/* as another kind of payload */
	assert_int_equal(pki_guard(&ec.gk, KIND_X509_TBS, ec.alg, tbs.data,
	    tbs.len, why, sizeof(why)), -1);
	assert_int_equal(pki_guard(&ec.gk, KIND_OCSP_TBS, ec.alg, tbs.data,
	    tbs.len, why, sizeof(why)), -1);
	/* a root key outside ceremony mode */
	root = ec.gk;
	root.role = ROLE_ROOT;
	assert_int_equal(pki_guard(&root, KIND_CRL_TBS, ec.alg, tbs.data,
	    tbs.len, why, sizeof(why)), -1);
	pki_expect(why, "ceremony");
	root.ceremony = 1;
	assert_int_equal(pki_guard(&root, KIND_CRL_TBS, ec.alg, tbs.data,
	    tbs.len, why, sizeof(why)), 0);
	pbuf_free(&tbs);
}

static void
refused(const struct crl_profile *pr)
{
	struct pbuf	 tbs;

	pbuf_init(&tbs);
	assert_int_equal(crl_encode(pr, &tbs), -1);
	pbuf_free(&tbs);
}

/* Profiles that cannot be a good CRL are not encoded. */
static void
test_encode_refuses(void **state)
{
	static const uint8_t	 s21[21] = { 1 }, s21z[21] = { 0, 1 };
	struct crl_entry	 e = { (const uint8_t *)"\x01", 1, 0, 0 };
	struct crl_profile	 pr = profile(&ec, &e, 1), p;
	struct pbuf		 tbs;

	(void)state;
	p = pr, e.reason = 7, refused(&p);
	p = pr, e.reason = 11, refused(&p);
	p = pr, e.reason = -1, refused(&p);
	e.reason = REASON_KEY_COMPROMISE;
	p = pr, e.seriallen = 0, refused(&p);
	e.seriallen = 1;
	p = pr, e.serial = NULL, refused(&p);
	p = pr, e.serial = s21, e.seriallen = sizeof(s21), refused(&p);
	/* 21 octets with a leading zero are 20: fine */
	pbuf_init(&tbs);
	p = pr, e.serial = s21z, e.seriallen = sizeof(s21z);
	assert_int_equal(crl_encode(&p, &tbs), 0);
	pbuf_free(&tbs);
	e.serial = (const uint8_t *)"\x01";
	e.seriallen = 1;
	p = pr, p.next_update = p.this_update - 1, refused(&p);
	p = pr, p.alg = 0, refused(&p);
	p = pr, p.alg = ALG_RSA_PSS_SHA256, refused(&p);
	p = pr, p.alg = ALG_MAX + 1, refused(&p);
	p = pr, p.issuer_spki = (const uint8_t *)"\x30\x00", refused(&p);
	p = pr, p.issuer_spkilen = 2, refused(&p);
	p = pr, p.issuer = NULL, refused(&p);
	p = pr, p.issuer = (const uint8_t *)"\x31\x00", p.issuerlen = 2,
	    refused(&p);
	p = pr, p.issuerlen--, refused(&p);
	p = pr, p.entries = NULL, refused(&p);
	/* the same profile, as given, is fine */
	pbuf_init(&tbs);
	assert_int_equal(crl_encode(&pr, &tbs), 0);
	pbuf_free(&tbs);
}

/* The exact DER of the two helpers' extensions. */
static void
test_ext_der(void **state)
{
	static const char *const urls[] = { "http://a/b.crl", "ldap://c" };
	static const uint8_t	 dp[] = {
		0x30, 0x29, 0x06, 0x03, 0x55, 0x1d, 0x1f, 0x04, 0x22,
		0x30, 0x20, 0x30, 0x1e, 0xa0, 0x1c, 0xa0, 0x1a,
		0x86, 0x0e, 'h', 't', 't', 'p', ':', '/', '/', 'a', '/', 'b',
		'.', 'c', 'r', 'l',
		0x86, 0x08, 'l', 'd', 'a', 'p', ':', '/', '/', 'c',
	};
	static const uint8_t	 aia[] = {
		0x30, 0x24, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07,
		0x01, 0x01, 0x04, 0x18, 0x30, 0x16, 0x30, 0x14, 0x06, 0x08,
		0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02, 0x86, 0x08,
		'h', 't', 't', 'p', ':', '/', '/', 'x',
	};
	static const char *const bad[] = { "", "http://a b", "http://\x7f",
	    "http://\xc3\xa9" };
	struct pbuf		 b;
	size_t			 i;

	(void)state;
	pbuf_init(&b);
	assert_int_equal(crl_ext_dp(&b, urls, 2), 0);
	assert_memory_equal(b.data, dp, sizeof(dp));
	assert_int_equal(b.len, sizeof(dp));
	b.len = 0;
	assert_int_equal(crl_ext_aia(&b, "http://x", NULL), 0);
	assert_int_equal(b.len, sizeof(aia));
	assert_memory_equal(b.data, aia, sizeof(aia));
	b.len = 0;
	assert_int_equal(crl_ext_aia(&b, NULL, NULL), -1);
	assert_int_equal(crl_ext_dp(&b, urls, 0), -1);
	assert_int_equal(crl_ext_dp(&b, NULL, 1), -1);
	for (i = 0; i < nitems(bad); i++) {
		b.len = 0;
		assert_int_equal(crl_ext_dp(&b, &bad[i], 1), -1);
		assert_int_equal(crl_ext_aia(&b, bad[i], NULL), -1);
		assert_int_equal(crl_ext_aia(&b, NULL, bad[i]), -1);
		assert_int_equal(crl_ext_aia(&b, "http://x", bad[i]), -1);
	}
	pbuf_free(&b);
}

/*
 * A leaf made by tbs_encode with the CRL distribution point and AIA
 * extensions: OpenSSL reads them back, `openssl x509 -text` shows them,
 * and `openssl verify -crl_check` passes it until a CRL names it.
 */
static void
test_ext_in_leaf(void **state)
{
	static const char *const urls[] = { "http://crl.example.com/ec.crl",
	    "http://crl2.example.com/ec.crl" };
	static const char *const sans[] = { "leaf.example.com" };
	uint8_t			 serial[16], *subj = NULL, *spki = NULL, *sig;
	struct tbs_profile	 tp;
	struct crl_entry	 e;
	struct crl_profile	 pr;
	struct pbuf		 ext, tbs, der, crlder;
	STACK_OF(DIST_POINT)	*dps;
	AUTHORITY_INFO_ACCESS	*aia;
	ACCESS_DESCRIPTION	*ad;
	DIST_POINT		*dp;
	GENERAL_NAME		*gn;
	const unsigned char	*p;
	X509_NAME		*n;
	X509_CRL		*crl;
	X509			*x;
	char			 out[16384], why[160];
	size_t			 siglen;
	int			 subjlen, spkilen, i;

	(void)state;
	pbuf_init(&ext);
	pbuf_init(&tbs);
	pbuf_init(&der);
	assert_int_equal(crl_ext_dp(&ext, urls, 2), 0);
	assert_int_equal(crl_ext_aia(&ext, "http://ca.example.com/ec.crt",
	    "http://ocsp.example.com"), 0);
	assert_int_equal(tbs_ext_san(&ext, sans, 1), 0);
	assert_int_equal(RAND_bytes(serial, sizeof(serial)), 1);
	serial[0] = 0x42;
	n = pki_name("CN=leaf.example.com");
	assert_true((subjlen = i2d_X509_NAME(n, &subj)) > 0);
	X509_NAME_free(n);
	assert_true((spkilen = i2d_PUBKEY(leafkey, &spki)) > 0);
	tp = (struct tbs_profile){ .serial = serial,
	    .seriallen = sizeof(serial), .alg = ec.alg, .issuer = ec.name,
	    .issuerlen = ec.namelen, .not_before = time(NULL) - 60,
	    .not_after = time(NULL) + 30 * DAY, .subject = subj,
	    .subjectlen = (size_t)subjlen, .spki = spki,
	    .spkilen = (size_t)spkilen, .pathlen = -1,
	    .keyusage = ku_digital_signature, .aki_spki = ec.spki,
	    .aki_spkilen = ec.spkilen, .extra = ext.data,
	    .extralen = ext.len };
	assert_int_equal(tbs_encode(&tp, &tbs), 0);
	if (pki_guard(&ec.gk, KIND_X509_TBS, ec.alg, tbs.data, tbs.len, why,
	    sizeof(why)) != 0)
		fail_msg("guard refused the leaf: %s", why);
	pki_sign(ec.key, ec.md, tbs.data, tbs.len, &sig, &siglen);
	assert_int_equal(tbs_certificate(tbs.data, tbs.len, ec.alg, sig,
	    siglen, &der), 0);
	OPENSSL_free(sig);
	p = der.data;
	assert_non_null(x = d2i_X509(NULL, &p, (long)der.len));
	assert_int_equal(X509_verify(x, X509_get0_pubkey(ec.cert)), 1);

	assert_non_null(dps = X509_get_ext_d2i(x, NID_crl_distribution_points,
	    &i, NULL));
	assert_int_equal(i, 0);
	assert_int_equal(sk_DIST_POINT_num(dps), 1);
	dp = sk_DIST_POINT_value(dps, 0);
	assert_non_null(dp->distpoint);
	assert_int_equal(dp->distpoint->type, 0);	/* fullName */
	assert_null(dp->reasons);
	assert_null(dp->CRLissuer);
	assert_int_equal(sk_GENERAL_NAME_num(dp->distpoint->name.fullname), 2);
	for (i = 0; i < 2; i++) {
		gn = sk_GENERAL_NAME_value(dp->distpoint->name.fullname, i);
		assert_int_equal(gn->type, GEN_URI);
		assert_string_equal(ASN1_STRING_get0_data(
		    gn->d.uniformResourceIdentifier), urls[i]);
	}
	sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
	assert_non_null(aia = X509_get_ext_d2i(x, NID_info_access, &i, NULL));
	assert_int_equal(i, 0);
	assert_int_equal(sk_ACCESS_DESCRIPTION_num(aia), 2);
	ad = sk_ACCESS_DESCRIPTION_value(aia, 0);
	assert_int_equal(OBJ_obj2nid(ad->method), NID_ad_OCSP);
	assert_int_equal(ad->location->type, GEN_URI);
	assert_string_equal(ASN1_STRING_get0_data(
	    ad->location->d.uniformResourceIdentifier),
	    "http://ocsp.example.com");
	ad = sk_ACCESS_DESCRIPTION_value(aia, 1);
	assert_int_equal(OBJ_obj2nid(ad->method), NID_ad_ca_issuers);
	assert_string_equal(ASN1_STRING_get0_data(
	    ad->location->d.uniformResourceIdentifier),
	    "http://ca.example.com/ec.crt");
	AUTHORITY_INFO_ACCESS_free(aia);

	pki_write_pem("ext_leaf.pem", x);
	assert_int_equal(pki_run(out, sizeof(out), "openssl x509 -in "
	    "ext_leaf.pem -noout -text"), 0);
	pki_expect(out, "X509v3 CRL Distribution Points:");
	pki_expect(out, "URI:http://crl.example.com/ec.crl");
	pki_expect(out, "URI:http://crl2.example.com/ec.crl");
	pki_expect(out, "OCSP - URI:http://ocsp.example.com");
	pki_expect(out, "CA Issuers - URI:http://ca.example.com/ec.crt");

	/* good on a CRL that names another serial, revoked on one naming it */
	e = (struct crl_entry){ (const uint8_t *)"\x07", 1, time(NULL) - 60,
	    REASON_AFFILIATION_CHANGED };
	pr = profile(&ec, &e, 1);
	crl = make_crl(&ec, &pr, &crlder);
	write_crl("ext.crl.pem", crl);
	X509_CRL_free(crl);
	pbuf_free(&crlder);
	assert_int_equal(pki_run(out, sizeof(out), "openssl verify "
	    "-crl_check -CAfile ec.pem -CRLfile ext.crl.pem ext_leaf.pem"), 0);
	e.serial = serial;
	e.seriallen = sizeof(serial);
	crl = make_crl(&ec, &pr, &crlder);
	write_crl("ext.crl.pem", crl);
	X509_CRL_free(crl);
	pbuf_free(&crlder);
	assert_int_not_equal(pki_run(out, sizeof(out), "openssl verify "
	    "-crl_check -CAfile ec.pem -CRLfile ext.crl.pem ext_leaf.pem"), 0);
	pki_expect(out, "certificate revoked");

	X509_free(x);
	OPENSSL_free(subj);
	OPENSSL_free(spki);
	pbuf_free(&ext);
	pbuf_free(&tbs);
	pbuf_free(&der);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ec),
		cmocka_unit_test(test_rsa),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_reasons),
		cmocka_unit_test(test_big),
		cmocka_unit_test(test_guard_refuses),
		cmocka_unit_test(test_encode_refuses),
		cmocka_unit_test(test_ext_der),
		cmocka_unit_test(test_ext_in_leaf),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

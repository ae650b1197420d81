/*
 * test_guard.c — every guard rule, with payloads built by OpenSSL (TBS
 * certificates, CRLs, OCSP ResponseData) or by hand (SSH certificates,
 * odd DER), each accepted or refused for the right reason.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "hsm/guard.h"
#include "hsm/proto.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

static EVP_PKEY		*ca_pkey, *root_pkey, *leaf_pkey, *other_pkey;
static X509_NAME	*ca_name, *root_name, *leaf_name, *other_name;
static X509		*ca_cert, *other_cert;
static uint8_t		*ca_der, *root_der, *ca_spki, *root_spki, *other_spki;
static size_t		 ca_derlen, root_derlen, ca_spkilen, root_spkilen,
			 other_spkilen;
static struct guard_key	 kiss, kroot, kssh;

/* The SSH CA's public key blob: string "ssh-ed25519", string pk. */
static uint8_t		 sshpub[51];

static time_t
T(int y, int mo, int d)
{
	struct tm	 tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	return timegm(&tm);
}

/* "O=Example/CN=Issuing CA", in that (encoding) order. */
static X509_NAME *
mkname(const char *spec)
{
	X509_NAME	*n;
	char		 buf[512], *p, *kv, *eq;

	assert_true(strlen(spec) < sizeof(buf));
	strcpy(buf, spec);
	assert_non_null(n = X509_NAME_new());
	for (p = buf; (kv = strsep(&p, "/")) != NULL;) {
		assert_non_null(eq = strchr(kv, '='));
		*eq++ = '\0';
		assert_int_equal(X509_NAME_add_entry_by_txt(n, kv,
		    MBSTRING_UTF8, (unsigned char *)eq, -1, -1, 0), 1);
	}
	return n;
}

static uint8_t *
name_der(const X509_NAME *n, size_t *len)
{
	uint8_t	*der = NULL;
	int	 l;

	assert_true((l = i2d_X509_NAME(n, &der)) > 0);
	*len = l;
	return der;
}

static uint8_t *
spki_der(EVP_PKEY *k, size_t *len)
{
	uint8_t	*der = NULL;
	int	 l;

	assert_true((l = i2d_PUBKEY(k, &der)) > 0);
	*len = l;
	return der;
}

static X509 *
selfsigned(EVP_PKEY *k, X509_NAME *n)
{
	X509	*x;

	assert_non_null(x = X509_new());
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
	assert_int_equal(X509_set_issuer_name(x, n), 1);
	assert_int_equal(X509_set_subject_name(x, n), 1);
	assert_non_null(X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, NULL));
	assert_non_null(X509_time_adj_ex(X509_getm_notAfter(x), 1, 0, NULL));
	assert_int_equal(X509_set_pubkey(x, k), 1);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	return x;
}

static int
setup(void **state)
{
	static const uint8_t pk[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };

	(void)state;
	assert_non_null(ca_pkey = EVP_EC_gen("P-256"));
	assert_non_null(root_pkey = EVP_EC_gen("P-384"));
	assert_non_null(leaf_pkey = EVP_EC_gen("P-256"));
	assert_non_null(other_pkey = EVP_EC_gen("P-256"));
	ca_name = mkname("O=Example/CN=Issuing CA");
	root_name = mkname("O=Example/CN=Root CA");
	leaf_name = mkname("O=Example/CN=leaf.example.com");
	other_name = mkname("O=Example/CN=Other CA");
	ca_der = name_der(ca_name, &ca_derlen);
	root_der = name_der(root_name, &root_derlen);
	ca_spki = spki_der(ca_pkey, &ca_spkilen);
	root_spki = spki_der(root_pkey, &root_spkilen);
	other_spki = spki_der(other_pkey, &other_spkilen);
	ca_cert = selfsigned(ca_pkey, ca_name);
	other_cert = selfsigned(ca_pkey, other_name);

	kiss = (struct guard_key){ .role = ROLE_ISSUING, .subject = ca_der,
	    .subjectlen = ca_derlen, .not_before = T(2024, 1, 1),
	    .not_after = T(2030, 1, 1), .spki = ca_spki,
	    .spkilen = ca_spkilen };
	kroot = (struct guard_key){ .role = ROLE_ROOT, .ceremony = 1,
	    .subject = root_der, .subjectlen = root_derlen,
	    .not_before = T(2020, 1, 1), .not_after = T(2045, 1, 1),
	    .spki = root_spki, .spkilen = root_spkilen };
	memcpy(sshpub, "\0\0\0\x0bssh-ed25519\0\0\0\x20", 19);
	memcpy(sshpub + 19, pk, 32);
	kssh = (struct guard_key){ .role = ROLE_SSH, .sshpub = sshpub,
	    .sshpublen = sizeof(sshpub) };
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(ca_pkey);
	EVP_PKEY_free(root_pkey);
	EVP_PKEY_free(leaf_pkey);
	EVP_PKEY_free(other_pkey);
	X509_NAME_free(ca_name);
	X509_NAME_free(root_name);
	X509_NAME_free(leaf_name);
	X509_NAME_free(other_name);
	X509_free(ca_cert);
	X509_free(other_cert);
	OPENSSL_free(ca_der);
	OPENSSL_free(root_der);
	OPENSSL_free(ca_spki);
	OPENSSL_free(root_spki);
	OPENSSL_free(other_spki);
	return 0;
}

/* guard_check, with the invariants every call must keep. */
static int
check(const struct guard_key *k, uint8_t kind, uint8_t alg,
    const uint8_t *p, size_t n, struct guard_info *gi)
{
	int	 r;

	memset(gi, 'X', sizeof(*gi));	/* stale contents must be cleared */
	r = guard_check(k, kind, alg, p, n, gi);
	assert_true(r == 0 || r == -1);
	assert_non_null(memchr(gi->serial, '\0', sizeof(gi->serial)));
	assert_non_null(memchr(gi->subject, '\0', sizeof(gi->subject)));
	assert_non_null(memchr(gi->reason, '\0', sizeof(gi->reason)));
	if (r == 0)
		assert_string_equal(gi->reason, "");
	else
		assert_true(gi->reason[0] != '\0');
	return r;
}

static void
refused(const struct guard_key *k, uint8_t kind, uint8_t alg,
    const uint8_t *p, size_t n, struct guard_info *gi, const char *why)
{
	assert_int_equal(check(k, kind, alg, p, n, gi), -1);
	if (strstr(gi->reason, why) == NULL)
		fail_msg("reason \"%s\" lacks \"%s\"", gi->reason, why);
}

/* Every strict prefix, and the payload plus a trailing byte, is refused. */
static void
cut_and_pad(const struct guard_key *k, uint8_t kind, uint8_t alg,
    const uint8_t *p, size_t n)
{
	struct guard_info	 gi;
	uint8_t			*q;
	size_t			 i;

	for (i = 0; i < n; i++) {
		/* a copy of exactly i bytes, so ASan sees any overread */
		assert_non_null(q = malloc(i + 1));
		memcpy(q, p, i);
		if (check(k, kind, alg, i ? q : NULL, i, &gi) != -1)
			fail_msg("accepted a %zu of %zu byte prefix", i, n);
		free(q);
	}
	assert_non_null(q = malloc(n + 1));
	memcpy(q, p, n);
	q[n] = 0;
	refused(k, kind, alg, q, n + 1, &gi, "malformed");
	free(q);
}

/* ---- TBSCertificate ---------------------------------------------------- */

struct copt {
	X509_NAME	*issuer, *subject;
	EVP_PKEY	*pub;
	time_t		 nb, na;
	int		 signid, ptype;		/* TBS signature AlgId */
	long		 version;		/* X509_VERSION_* */
	const char	*serial;		/* hex */
	const char	*bc, *ku;		/* X509V3 config values */
	int		 rawnid;		/* an extension given as DER */
	const char	*raw;
	size_t		 rawlen;
	int		 dup;			/* add the bc extension twice */
};

static struct copt
leaf(void)
{
	return (struct copt){ ca_name, leaf_name, leaf_pkey, T(2025, 1, 1),
	    T(2026, 1, 1), NID_ecdsa_with_SHA256, V_ASN1_UNDEF, X509_VERSION_3,
	    "00c0ffee0123456789", "critical,CA:FALSE", "digitalSignature",
	    0, NULL, 0, 0 };
}

static void
add_ext(X509 *x, int nid, const char *value)
{
	X509_EXTENSION	*e;

	assert_non_null(e = X509V3_EXT_conf_nid(NULL, NULL, nid, value));
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

static void
set_time(ASN1_TIME *at, time_t t)
{
	assert_non_null(ASN1_TIME_set(at, t));
}

static uint8_t *
mkcert(const struct copt *o, size_t *len)
{
	X509		*x;
	X509_ALGOR	*alg;
	X509_EXTENSION	*e;
	ASN1_OCTET_STRING *os;
	ASN1_STRING	*param = NULL;
	BIGNUM		*bn = NULL;
	uint8_t		*der = NULL;
	int		 l;

	assert_non_null(x = X509_new());
	assert_int_equal(X509_set_version(x, o->version), 1);
	assert_true(BN_hex2bn(&bn, o->serial) > 0);
	assert_non_null(BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)));
	BN_free(bn);
	assert_int_equal(X509_set_issuer_name(x, o->issuer), 1);
	assert_int_equal(X509_set_subject_name(x, o->subject), 1);
	set_time(X509_getm_notBefore(x), o->nb);
	set_time(X509_getm_notAfter(x), o->na);
	assert_int_equal(X509_set_pubkey(x, o->pub), 1);
	if (o->bc != NULL)
		add_ext(x, NID_basic_constraints, o->bc);
	if (o->dup)
		add_ext(x, NID_basic_constraints, o->bc);
	if (o->ku != NULL)
		add_ext(x, NID_key_usage, o->ku);
	if (o->raw != NULL) {
		assert_non_null(os = ASN1_OCTET_STRING_new());
		assert_int_equal(ASN1_OCTET_STRING_set(os,
		    (const unsigned char *)o->raw, o->rawlen), 1);
		assert_non_null(e = X509_EXTENSION_create_by_NID(NULL,
		    o->rawnid, 0, os));
		assert_int_equal(X509_add_ext(x, e, -1), 1);
		X509_EXTENSION_free(e);
		ASN1_OCTET_STRING_free(os);
	}
	/* The TBS AlgId is normally set by signing; set it directly. */
	alg = (X509_ALGOR *)X509_get0_tbs_sigalg(x);
	if (o->ptype == V_ASN1_SEQUENCE) {
		assert_non_null(param = ASN1_STRING_new());
		assert_int_equal(ASN1_STRING_set(param, "\x30\x00", 2), 1);
	}
	assert_int_equal(X509_ALGOR_set0(alg, OBJ_nid2obj(o->signid),
	    o->ptype, param), 1);
	assert_true((l = i2d_re_X509_tbs(x, &der)) > 0);
	X509_free(x);
	*len = l;
	return der;
}

static void
test_cert_good(void **state)
{
	struct guard_info	 gi;
	struct copt		 o = leaf();
	uint8_t			*p;
	size_t			 n;

	(void)state;
	p = mkcert(&o, &n);
	assert_int_equal(check(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n,
	    &gi), 0);
	assert_string_equal(gi.serial, "00c0ffee0123456789");
	assert_string_equal(gi.subject, "CN=leaf.example.com,O=Example");
	/* NULL info is allowed */
	assert_int_equal(guard_check(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256,
	    p, n, NULL), 0);
	cut_and_pad(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n);
	OPENSSL_free(p);

	/* no extensions at all, and an empty basicConstraints */
	o.bc = o.ku = NULL;
	p = mkcert(&o, &n);
	assert_int_equal(check(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n,
	    &gi), 0);
	OPENSSL_free(p);
	o.bc = "pathlen:0";
	p = mkcert(&o, &n);
	assert_int_equal(check(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n,
	    &gi), 0);
	OPENSSL_free(p);
	/* cA present and FALSE, which DER would omit, is still no CA */
	o.bc = NULL;
	o.rawnid = NID_basic_constraints;
	o.raw = "\x30\x03\x01\x01\x00";
	o.rawlen = 5;
	p = mkcert(&o, &n);
	assert_int_equal(check(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n,
	    &gi), 0);
	OPENSSL_free(p);
	/* a v1 certificate */
	o = leaf();
	o.version = X509_VERSION_1;
	o.bc = o.ku = NULL;
	p = mkcert(&o, &n);
	assert_int_equal(check(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n,
	    &gi), 0);
	assert_string_equal(gi.serial, "00c0ffee0123456789");
	OPENSSL_free(p);
}

/*
 * An id-kp-OCSPSigning certificate makes its key a responder for the CA:
 * the issuing key signs one only for the signer's own ocsp key.
 */
static void
test_cert_ocsp_signing(void **state)
{
	static const char both[] = "\x30\x14"
	    "\x06\x08\x2b\x06\x01\x05\x05\x07\x03\x01"
	    "\x06\x08\x2b\x06\x01\x05\x05\x07\x03\x09";
	static const char server[] = "\x30\x0a"
	    "\x06\x08\x2b\x06\x01\x05\x05\x07\x03\x01";
	struct guard_info	 gi;
	struct guard_key	 k = kiss;
	struct copt		 o = leaf();
	uint8_t			*p, *leaf_spki;
	size_t			 n, leaf_spkilen;

	(void)state;
	leaf_spki = spki_der(leaf_pkey, &leaf_spkilen);
	o.rawnid = NID_ext_key_usage;
	o.raw = both;
	o.rawlen = sizeof(both) - 1;
	p = mkcert(&o, &n);
	refused(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "only for the signer's own ocsp key");
	k.ocsp_spki = other_spki;
	k.ocsp_spkilen = other_spkilen;
	refused(&k, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "only for the signer's own ocsp key");
	k.ocsp_spki = leaf_spki;
	k.ocsp_spkilen = leaf_spkilen;
	assert_int_equal(check(&k, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n,
	    &gi), 0);
	OPENSSL_free(p);
	/* Other purposes are any key's. */
	o.raw = server;
	o.rawlen = sizeof(server) - 1;
	p = mkcert(&o, &n);
	assert_int_equal(check(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n,
	    &gi), 0);
	OPENSSL_free(p);
	/* An extKeyUsage that cannot be read counts as OCSP signing. */
	o.raw = "\x30\x03\x04\x01\x00";
	o.rawlen = 5;
	p = mkcert(&o, &n);
	refused(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "only for the signer's own ocsp key");
	OPENSSL_free(p);
	OPENSSL_free(leaf_spki);
}

static void
test_cert_issuer(void **state)
{
	struct guard_info	 gi;
	struct guard_key	 k = kiss;
	struct copt		 o = leaf();
	uint8_t			*p;
	size_t			 n;

	(void)state;
	o.issuer = other_name;
	p = mkcert(&o, &n);
	refused(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "issuer is not this CA");
	/* refused, yet what it is was still recorded */
	assert_string_equal(gi.serial, "00c0ffee0123456789");
	assert_string_equal(gi.subject, "CN=leaf.example.com,O=Example");
	OPENSSL_free(p);

	/* a CA without a subject cannot issue */
	o = leaf();
	p = mkcert(&o, &n);
	k.subject = NULL;
	k.subjectlen = 0;
	refused(&k, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "issuer is not this CA");
	/* nor can one whose name differs by one byte */
	k = kiss;
	k.subjectlen--;
	refused(&k, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "issuer is not this CA");
	OPENSSL_free(p);

	/* a leaf naming the CA itself as subject */
	o.subject = ca_name;
	p = mkcert(&o, &n);
	refused(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "CA's own name");
	OPENSSL_free(p);
}

static void
test_cert_ca(void **state)
{
	struct guard_info	 gi;
	struct copt		 o = leaf();
	uint8_t			*p;
	size_t			 n;

	(void)state;
	o.bc = "critical,CA:TRUE";
	p = mkcert(&o, &n);
	refused(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "may not sign a CA certificate");
	assert_string_equal(gi.subject, "CN=leaf.example.com,O=Example");
	OPENSSL_free(p);
	o.bc = "CA:TRUE,pathlen:0";
	p = mkcert(&o, &n);
	refused(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "may not sign a CA certificate");
	OPENSSL_free(p);

	/* keyCertSign without basicConstraints: OpenSSL calls that a CA */
	o = leaf();
	o.bc = NULL;
	o.ku = "keyCertSign";
	p = mkcert(&o, &n);
	refused(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "may not sign a CA certificate");
	OPENSSL_free(p);
	o.ku = "digitalSignature,cRLSign";
	p = mkcert(&o, &n);
	assert_int_equal(check(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n,
	    &gi), 0);
	OPENSSL_free(p);

	/* a Netscape SSL CA cert type: BIT STRING, bit 5 */
	o.ku = NULL;
	o.rawnid = NID_netscape_cert_type;
	o.raw = "\x03\x02\x02\x04";
	o.rawlen = 4;
	p = mkcert(&o, &n);
	refused(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "may not sign a CA certificate");
	OPENSSL_free(p);
	/* SSL client + server only */
	o.raw = "\x03\x02\x06\xc0";
	p = mkcert(&o, &n);
	assert_int_equal(check(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n,
	    &gi), 0);
	OPENSSL_free(p);

	/* basicConstraints that does not parse */
	o.rawnid = NID_basic_constraints;
	o.raw = "\x30\x03\x01\x01\x01";		/* BOOLEAN 01 is not DER */
	o.rawlen = 5;
	p = mkcert(&o, &n);
	refused(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "malformed TBSCertificate: cA");
	OPENSSL_free(p);
	o.raw = "\x30\x03\x01\x01\xff\x00";	/* trailing byte */
	o.rawlen = 6;
	p = mkcert(&o, &n);
	refused(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "malformed TBSCertificate: basicConstraints");
	OPENSSL_free(p);
}

static void
test_cert_dup_ext(void **state)
{
	struct guard_info	 gi;
	struct copt		 o = leaf();
	uint8_t			*p;
	size_t			 n;

	(void)state;
	o.dup = 1;
	p = mkcert(&o, &n);
	refused(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "duplicate extension");
	OPENSSL_free(p);
}

/* Limits that bound the guard's stack: extensions and RDNs. */
static void
test_cert_limits(void **state)
{
	struct guard_info	 gi;
	struct copt		 o = leaf();
	X509			*x;
	X509_EXTENSION		*e;
	X509_NAME		*nm;
	ASN1_OBJECT		*obj;
	ASN1_OCTET_STRING	*os;
	X509_ALGOR		*alg;
	uint8_t			*p = NULL;
	char			 oid[32];
	size_t			 n;
	int			 i, l, r;

	(void)state;
	/* 64 extensions are fine, 65 are not */
	for (r = 64; r <= 65; r++) {
		assert_non_null(x = X509_new());
		assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
		assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1),
		    1);
		assert_int_equal(X509_set_issuer_name(x, ca_name), 1);
		assert_int_equal(X509_set_subject_name(x, leaf_name), 1);
		set_time(X509_getm_notBefore(x), o.nb);
		set_time(X509_getm_notAfter(x), o.na);
		assert_int_equal(X509_set_pubkey(x, leaf_pkey), 1);
		assert_non_null(os = ASN1_OCTET_STRING_new());
		assert_int_equal(ASN1_OCTET_STRING_set(os,
		    (const unsigned char *)"\x05\x00", 2), 1);
		for (i = 0; i < r; i++) {
			snprintf(oid, sizeof(oid), "1.3.6.1.4.1.99999.%d", i);
			assert_non_null(obj = OBJ_txt2obj(oid, 1));
			assert_non_null(e = X509_EXTENSION_create_by_OBJ(NULL,
			    obj, 0, os));
			assert_int_equal(X509_add_ext(x, e, -1), 1);
			X509_EXTENSION_free(e);
			ASN1_OBJECT_free(obj);
		}
		ASN1_OCTET_STRING_free(os);
		alg = (X509_ALGOR *)X509_get0_tbs_sigalg(x);
		assert_int_equal(X509_ALGOR_set0(alg,
		    OBJ_nid2obj(NID_ecdsa_with_SHA256), V_ASN1_UNDEF, NULL), 1);
		p = NULL;
		assert_true((l = i2d_re_X509_tbs(x, &p)) > 0);
		X509_free(x);
		if (r == 64)
			assert_int_equal(check(&kiss, KIND_X509_TBS,
			    ALG_ECDSA_SHA256, p, l, &gi), 0);
		else
			refused(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, p, l,
			    &gi, "too many extensions");
		OPENSSL_free(p);
	}

	/* a subject of 64 RDNs is fine, 65 are malformed */
	for (r = 64; r <= 65; r++) {
		assert_non_null(nm = X509_NAME_new());
		for (i = 0; i < r; i++)
			assert_int_equal(X509_NAME_add_entry_by_txt(nm, "DC",
			    MBSTRING_ASC, (const unsigned char *)"x", -1, -1, 0),
			    1);
		o = leaf();
		o.subject = nm;
		p = mkcert(&o, &n);
		if (r == 64)
			assert_int_equal(check(&kiss, KIND_X509_TBS,
			    ALG_ECDSA_SHA256, p, n, &gi), 0);
		else
			refused(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n,
			    &gi, "malformed TBSCertificate: subject");
		OPENSSL_free(p);
		X509_NAME_free(nm);
	}
}

static void
test_cert_validity(void **state)
{
	struct guard_info	 gi;
	struct copt		 o = leaf();
	uint8_t			*p;
	size_t			 n;

	(void)state;
	/* exactly the CA's validity is fine */
	o.nb = kiss.not_before;
	o.na = kiss.not_after;
	p = mkcert(&o, &n);
	assert_int_equal(check(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n,
	    &gi), 0);
	OPENSSL_free(p);
	o.nb = kiss.not_before - 1;
	p = mkcert(&o, &n);
	refused(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "outside the CA's validity");
	OPENSSL_free(p);
	o.nb = kiss.not_before;
	o.na = kiss.not_after + 1;
	p = mkcert(&o, &n);
	refused(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "outside the CA's validity");
	OPENSSL_free(p);
	/* GeneralizedTime, past 2049 */
	o.na = T(2051, 1, 1);
	p = mkcert(&o, &n);
	refused(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "outside the CA's validity");
	OPENSSL_free(p);
	o.nb = T(2026, 1, 1);
	o.na = T(2025, 1, 1);
	p = mkcert(&o, &n);
	refused(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "notAfter is before notBefore");
	OPENSSL_free(p);
}

static void
test_cert_serial(void **state)
{
	struct guard_info	 gi;
	struct copt		 o = leaf();
	uint8_t			*p;
	size_t			 n;

	(void)state;
	/* 20 octets, and 20 with the sign octet in front */
	o.serial = "7f0102030405060708090a0b0c0d0e0f10111213";
	p = mkcert(&o, &n);
	assert_int_equal(check(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n,
	    &gi), 0);
	assert_string_equal(gi.serial, o.serial);
	OPENSSL_free(p);
	o.serial = "ff0102030405060708090a0b0c0d0e0f10111213";
	p = mkcert(&o, &n);
	assert_int_equal(check(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n,
	    &gi), 0);
	assert_string_equal(gi.serial,
	    "00ff0102030405060708090a0b0c0d0e0f10111213");
	OPENSSL_free(p);
	o.serial = "010102030405060708090a0b0c0d0e0f1011121314";
	p = mkcert(&o, &n);
	refused(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "longer than 20 octets");
	OPENSSL_free(p);
	/* a huge serial is cut in the record, never overruns it */
	o.serial = "01020304050607080901020304050607080901020304050607080901"
	    "020304050607080901020304050607080901020304050607080901020304";
	p = mkcert(&o, &n);
	refused(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "longer than 20 octets");
	assert_int_equal(strlen(gi.serial), sizeof(gi.serial) - 1);
	assert_memory_equal(gi.serial, o.serial, sizeof(gi.serial) - 1);
	OPENSSL_free(p);
}

static void
test_cert_alg(void **state)
{
	static const struct {
		uint8_t	 alg;
		int	 nid, ptype;
	} ok[] = {
		{ ALG_ECDSA_SHA256, NID_ecdsa_with_SHA256, V_ASN1_UNDEF },
		{ ALG_ECDSA_SHA384, NID_ecdsa_with_SHA384, V_ASN1_UNDEF },
		{ ALG_ECDSA_SHA512, NID_ecdsa_with_SHA512, V_ASN1_UNDEF },
		{ ALG_RSA_PKCS1_SHA256, NID_sha256WithRSAEncryption,
		    V_ASN1_NULL },
		{ ALG_RSA_PKCS1_SHA384, NID_sha384WithRSAEncryption,
		    V_ASN1_NULL },
		{ ALG_RSA_PKCS1_SHA512, NID_sha512WithRSAEncryption,
		    V_ASN1_NULL },
		{ ALG_RSA_PKCS1_SHA256, NID_sha256WithRSAEncryption,
		    V_ASN1_UNDEF },
		{ ALG_RSA_PSS_SHA256, NID_rsassaPss, V_ASN1_SEQUENCE },
		{ ALG_RSA_PSS_SHA384, NID_rsassaPss, V_ASN1_SEQUENCE },
		{ ALG_RSA_PSS_SHA512, NID_rsassaPss, V_ASN1_UNDEF },
		{ ALG_ED25519, NID_ED25519, V_ASN1_UNDEF },
	}, bad[] = {
		{ ALG_ECDSA_SHA384, NID_ecdsa_with_SHA256, V_ASN1_UNDEF },
		{ ALG_ECDSA_SHA256, NID_ecdsa_with_SHA256, V_ASN1_NULL },
		{ ALG_RSA_PKCS1_SHA256, NID_sha384WithRSAEncryption,
		    V_ASN1_NULL },
		{ ALG_RSA_PKCS1_SHA256, NID_sha256WithRSAEncryption,
		    V_ASN1_SEQUENCE },
		{ ALG_RSA_PKCS1_SHA256, NID_rsassaPss, V_ASN1_NULL },
		{ ALG_RSA_PSS_SHA256, NID_sha256WithRSAEncryption,
		    V_ASN1_NULL },
		{ ALG_ED25519, NID_ED25519, V_ASN1_NULL },
		{ ALG_ED25519, NID_ED448, V_ASN1_UNDEF },
		{ ALG_ECDSA_SHA256, NID_ecdsa_with_SHA1, V_ASN1_UNDEF },
	};
	struct guard_info	 gi;
	struct copt		 o = leaf();
	uint8_t			*p;
	size_t			 n, i;

	(void)state;
	for (i = 0; i < nitems(ok); i++) {
		o.signid = ok[i].nid;
		o.ptype = ok[i].ptype;
		p = mkcert(&o, &n);
		if (check(&kiss, KIND_X509_TBS, ok[i].alg, p, n, &gi) != 0)
			fail_msg("ok[%zu] refused: %s", i, gi.reason);
		OPENSSL_free(p);
	}
	for (i = 0; i < nitems(bad); i++) {
		o.signid = bad[i].nid;
		o.ptype = bad[i].ptype;
		p = mkcert(&o, &n);
		refused(&kiss, KIND_X509_TBS, bad[i].alg, p, n, &gi,
		    "signature algorithm is not the requested one");
		/* the audit fields come from a whole parse */
		assert_string_equal(gi.subject,
		    "CN=leaf.example.com,O=Example");
		OPENSSL_free(p);
	}
	o = leaf();
	p = mkcert(&o, &n);
	refused(&kiss, KIND_X509_TBS, 0, p, n, &gi, "unknown signature");
	refused(&kiss, KIND_X509_TBS, ALG_MAX + 1, p, n, &gi,
	    "unknown signature");
	OPENSSL_free(p);
}

static void
test_cert_names(void **state)
{
	struct guard_info	 gi;
	struct copt		 o = leaf();
	X509_NAME		*nm;
	uint8_t			*p;
	size_t			 n;
	char			 big[400];

	(void)state;
	assert_non_null(nm = mkname("DC=org/DC=example/C=DE/ST=Bayern/"
	    "L=M\xc3\xbcnchen/O=Example, Inc./OU=Ops+Dev/"
	    "emailAddress=a@b.c/serialNumber=42/title=Boss/CN=x"));
	/* a multi-valued RDN: UID joins the CN's */
	assert_int_equal(X509_NAME_add_entry_by_txt(nm, "UID", MBSTRING_ASC,
	    (const unsigned char *)"u1", -1, -1, -1), 1);
	o.subject = nm;
	p = mkcert(&o, &n);
	assert_int_equal(check(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n,
	    &gi), 0);
	assert_string_equal(gi.subject,
	    "CN=x+0.9.2342.19200300.100.1.1=u1,2.5.4.12=Boss,serialNumber=42,"
	    "emailAddress=a@b.c,OU=Ops\\+Dev,O=Example\\, Inc.,"
	    "L=#0c084dc3bc6e6368656e,ST=Bayern,C=DE,DC=example,DC=org");
	OPENSSL_free(p);
	X509_NAME_free(nm);

	/* an empty subject */
	assert_non_null(nm = X509_NAME_new());
	o.subject = nm;
	p = mkcert(&o, &n);
	assert_int_equal(check(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n,
	    &gi), 0);
	assert_string_equal(gi.subject, "");
	OPENSSL_free(p);
	X509_NAME_free(nm);

	/* too long for the record: cut, terminated */
	memset(big, 'a', sizeof(big));
	memcpy(big, "1.2.3.4=", 8);
	big[sizeof(big) - 1] = '\0';
	nm = mkname(big);
	o.subject = nm;
	p = mkcert(&o, &n);
	assert_int_equal(check(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n,
	    &gi), 0);
	assert_int_equal(strlen(gi.subject), sizeof(gi.subject) - 1);
	assert_memory_equal(gi.subject, big, sizeof(gi.subject) - 1);
	OPENSSL_free(p);
	X509_NAME_free(nm);
}

/* A TBS's bytes with one byte changed, and the reason wanted. */
static void
mutate(const uint8_t *p, size_t n, size_t at, uint8_t v, const char *why)
{
	struct guard_info	 gi;
	uint8_t			*q;

	assert_true(at < n);
	assert_non_null(q = malloc(n));
	memcpy(q, p, n);
	q[at] = v;
	refused(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, q, n, &gi, why);
	free(q);
}

/* Offset of the first occurrence of needle in p, which must exist. */
static size_t
find(const uint8_t *p, size_t n, const void *needle, size_t len)
{
	const uint8_t	*q;

	assert_non_null(q = memmem(p, n, needle, len));
	return q - p;
}

static void
test_cert_malformed(void **state)
{
	struct copt		 o = leaf();
	uint8_t			*p;
	size_t			 n, at;

	(void)state;
	p = mkcert(&o, &n);
	/* outer tag */
	mutate(p, n, 0, 0x31, "malformed TBSCertificate");
	/* version 3 -> version 4 */
	at = find(p, n, "\xa0\x03\x02\x01\x02", 5);
	mutate(p, n, at + 4, 0x03, "malformed TBSCertificate: version");
	/* version 1 spelled out, which DER forbids */
	mutate(p, n, at + 4, 0x00, "malformed TBSCertificate: version");
	/* serial with a superfluous leading 00 */
	at = find(p, n, "\x02\x09\x00\xc0", 4);
	mutate(p, n, at + 3, 0x40, "malformed TBSCertificate: serialNumber");
	/* UTCTime -> a bad month */
	at = find(p, n, "\x17\x0d", 2);
	mutate(p, n, at + 4, '9', "malformed TBSCertificate: validity");
	mutate(p, n, at + 14, 'X', "malformed TBSCertificate: validity");
	/* the CN attribute type's OID */
	at = find(p, n, "\x06\x03\x55\x04\x03", 5);
	mutate(p, n, at + 2, 0x80, "malformed TBSCertificate: issuer");
	/* the key is not a BIT STRING */
	at = find(p, n, "\x03\x42\x00\x04", 4);
	mutate(p, n, at, 0x04, "malformed TBSCertificate: subjectPublicKey");
	/* a critical flag of 01 */
	at = find(p, n, "\x01\x01\xff", 3);
	mutate(p, n, at + 2, 0x01, "malformed TBSCertificate: critical");
	OPENSSL_free(p);

	/* extensions in a v2 certificate */
	o.version = X509_VERSION_2;
	p = mkcert(&o, &n);
	mutate(p, n, 0, 0x30, "malformed TBSCertificate: version");
	OPENSSL_free(p);
}

/* Hand-written TBSCertificates for what OpenSSL will not produce. */
static void
test_cert_handmade(void **state)
{
	/* SEQUENCE { SEQUENCE {} } — just too short */
	static const uint8_t t1[] = { 0x30, 0x02, 0x30, 0x00 };
	struct guard_info	 gi;
	struct copt		 o = leaf();
	uint8_t			*p, *q;
	size_t			 n;

	(void)state;
	refused(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, t1, sizeof(t1), &gi,
	    "malformed TBSCertificate");
	refused(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, NULL, 0, &gi,
	    "malformed TBSCertificate");

	/* append [4] {} inside the outer SEQUENCE (short lengths assumed) */
	o.bc = o.ku = NULL;
	o.version = X509_VERSION_1;
	p = mkcert(&o, &n);
	assert_true(p[1] == 0x81 && n < 250);
	assert_non_null(q = malloc(n + 2));
	memcpy(q, p, n);
	q[2] += 2;
	q[n] = 0xa4;
	q[n + 1] = 0x00;
	refused(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, q, n + 2, &gi,
	    "malformed TBSCertificate: trailing data");
	/* an issuerUniqueID, empty and so malformed, then in a v1 */
	q[n] = 0x81;
	refused(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, q, n + 2, &gi,
	    "malformed TBSCertificate: issuerUniqueID");
	free(q);
	assert_non_null(q = malloc(n + 3));
	memcpy(q, p, n);
	q[2] += 3;
	memcpy(q + n, "\x81\x01\x00", 3);
	refused(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, q, n + 3, &gi,
	    "malformed TBSCertificate: version");
	free(q);
	/* v1 spelled out as [0] INTEGER 0, which DER forbids */
	assert_non_null(q = malloc(n + 5));
	memcpy(q, p, 3);
	memcpy(q + 3, "\xa0\x03\x02\x01\x00", 5);
	memcpy(q + 8, p + 3, n - 3);
	q[2] += 5;
	refused(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, q, n + 5, &gi,
	    "malformed TBSCertificate: version");
	q[7] = 1;				/* v2 is fine */
	assert_int_equal(check(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, q,
	    n + 5, &gi), 0);
	free(q);
	OPENSSL_free(p);
}

static void
test_root(void **state)
{
	struct guard_info	 gi;
	struct guard_key	 k = kroot;
	struct copt		 o = leaf();
	uint8_t			*p;
	size_t			 n;

	(void)state;
	/* an intermediate CA signed by the root */
	o.issuer = root_name;
	o.subject = ca_name;
	o.pub = ca_pkey;
	o.bc = "critical,CA:TRUE,pathlen:0";
	o.ku = "critical,keyCertSign,cRLSign";
	o.signid = NID_ecdsa_with_SHA384;
	p = mkcert(&o, &n);
	assert_int_equal(check(&kroot, KIND_X509_TBS, ALG_ECDSA_SHA384, p, n,
	    &gi), 0);
	assert_string_equal(gi.subject, "CN=Issuing CA,O=Example");
	cut_and_pad(&kroot, KIND_X509_TBS, ALG_ECDSA_SHA384, p, n);
	/* outside ceremony mode: nothing, whatever it is */
	k.ceremony = 0;
	refused(&k, KIND_X509_TBS, ALG_ECDSA_SHA384, p, n, &gi,
	    "root key signs only in ceremony mode");
	/* the issuing key may not sign the same thing */
	OPENSSL_free(p);
	o.issuer = ca_name;
	o.signid = NID_ecdsa_with_SHA256;
	p = mkcert(&o, &n);
	refused(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "may not sign a CA certificate");
	OPENSSL_free(p);

	/* the root's validity still bounds what it signs */
	o.issuer = root_name;
	o.na = T(2046, 1, 1);
	o.signid = NID_ecdsa_with_SHA384;
	p = mkcert(&o, &n);
	refused(&kroot, KIND_X509_TBS, ALG_ECDSA_SHA384, p, n, &gi,
	    "outside the CA's validity");
	OPENSSL_free(p);

	/* an issuer that is neither the root nor self */
	o = leaf();
	o.issuer = other_name;
	o.signid = NID_ecdsa_with_SHA384;
	p = mkcert(&o, &n);
	refused(&kroot, KIND_X509_TBS, ALG_ECDSA_SHA384, p, n, &gi,
	    "issuer is not this CA");
	OPENSSL_free(p);
}

static void
test_root_selfsigned(void **state)
{
	struct guard_info	 gi;
	struct guard_key	 k = kroot;
	struct copt		 o = leaf();
	uint8_t			*p;
	size_t			 n;

	(void)state;
	/* the root certificate, before it exists: no subject known yet */
	k.subject = NULL;
	k.subjectlen = 0;
	k.not_before = k.not_after = 0;
	o.issuer = o.subject = root_name;
	o.pub = root_pkey;
	o.nb = T(2025, 1, 1);
	o.na = T(2050, 1, 1);
	o.bc = "critical,CA:TRUE";
	o.ku = "critical,keyCertSign,cRLSign";
	o.signid = NID_ecdsa_with_SHA384;
	p = mkcert(&o, &n);
	assert_int_equal(check(&k, KIND_X509_TBS, ALG_ECDSA_SHA384, p, n,
	    &gi), 0);
	assert_string_equal(gi.subject, "CN=Root CA,O=Example");
	assert_string_equal(gi.serial, "00c0ffee0123456789");
	/* also when the root already has its name (re-issue) */
	assert_int_equal(check(&kroot, KIND_X509_TBS, ALG_ECDSA_SHA384, p, n,
	    &gi), 0);
	/* but only in ceremony mode */
	k.ceremony = 0;
	refused(&k, KIND_X509_TBS, ALG_ECDSA_SHA384, p, n, &gi, "ceremony");
	OPENSSL_free(p);

	/* self-signed, but another key */
	k.ceremony = 1;
	o.pub = other_pkey;
	p = mkcert(&o, &n);
	refused(&k, KIND_X509_TBS, ALG_ECDSA_SHA384, p, n, &gi,
	    "self-signed with its key");
	OPENSSL_free(p);

	/* this key, but issuer and subject differ */
	o.pub = root_pkey;
	o.subject = other_name;
	p = mkcert(&o, &n);
	refused(&k, KIND_X509_TBS, ALG_ECDSA_SHA384, p, n, &gi,
	    "self-signed with its key");
	OPENSSL_free(p);
}

/* ---- TBSCertList ------------------------------------------------------- */

struct lopt {
	X509_NAME	*issuer;
	EVP_PKEY	*signer;
	const EVP_MD	*md;
	int		 nrevoked, next, dupext, v1;
};

static uint8_t *
mkcrl(const struct lopt *o, size_t *len)
{
	X509_CRL	*crl;
	X509_REVOKED	*r;
	ASN1_INTEGER	*serial;
	ASN1_TIME	*t;
	ASN1_ENUMERATED	*reason;
	uint8_t		*der = NULL;
	int		 i, l;

	assert_non_null(crl = X509_CRL_new());
	if (!o->v1)
		assert_int_equal(X509_CRL_set_version(crl, X509_CRL_VERSION_2),
		    1);
	assert_int_equal(X509_CRL_set_issuer_name(crl, o->issuer), 1);
	assert_non_null(t = ASN1_TIME_set(NULL, T(2025, 6, 1)));
	assert_int_equal(X509_CRL_set1_lastUpdate(crl, t), 1);
	if (o->next) {
		assert_non_null(ASN1_TIME_set(t, T(2025, 6, 8)));
		assert_int_equal(X509_CRL_set1_nextUpdate(crl, t), 1);
	}
	for (i = 0; i < o->nrevoked; i++) {
		assert_non_null(r = X509_REVOKED_new());
		assert_non_null(serial = ASN1_INTEGER_new());
		assert_int_equal(ASN1_INTEGER_set(serial, 1000 + i), 1);
		assert_int_equal(X509_REVOKED_set_serialNumber(r, serial), 1);
		assert_int_equal(X509_REVOKED_set_revocationDate(r, t), 1);
		assert_non_null(reason = ASN1_ENUMERATED_new());
		assert_int_equal(ASN1_ENUMERATED_set(reason, 1), 1);
		assert_int_equal(X509_REVOKED_add1_ext_i2d(r, NID_crl_reason,
		    reason, 0, 0), 1);
		ASN1_ENUMERATED_free(reason);
		ASN1_INTEGER_free(serial);
		assert_int_equal(X509_CRL_add0_revoked(crl, r), 1);
	}
	if (!o->v1) {
		assert_non_null(serial = ASN1_INTEGER_new());
		assert_int_equal(ASN1_INTEGER_set(serial, 7), 1);
		assert_int_equal(X509_CRL_add1_ext_i2d(crl, NID_crl_number,
		    serial, 0, 0), 1);
		if (o->dupext)
			assert_int_equal(X509_CRL_add1_ext_i2d(crl,
			    NID_crl_number, serial, 0, X509V3_ADD_APPEND), 1);
		ASN1_INTEGER_free(serial);
	}
	ASN1_TIME_free(t);
	assert_int_equal(X509_CRL_sort(crl), 1);
	/* signing is the only way to set the TBS AlgId of a CRL */
	assert_true(X509_CRL_sign(crl, o->signer, o->md) > 0);
	assert_true((l = i2d_re_X509_CRL_tbs(crl, &der)) > 0);
	X509_CRL_free(crl);
	*len = l;
	return der;
}

static void
test_crl(void **state)
{
	struct guard_info	 gi;
	struct guard_key	 k = kiss;
	struct lopt		 o = { ca_name, ca_pkey, EVP_sha256(), 3, 1, 0,
				     0 };
	uint8_t			*p;
	size_t			 n;

	(void)state;
	p = mkcrl(&o, &n);
	assert_int_equal(check(&kiss, KIND_CRL_TBS, ALG_ECDSA_SHA256, p, n,
	    &gi), 0);
	assert_string_equal(gi.subject, "CN=Issuing CA,O=Example");
	assert_string_equal(gi.serial, "");
	cut_and_pad(&kiss, KIND_CRL_TBS, ALG_ECDSA_SHA256, p, n);
	refused(&kiss, KIND_CRL_TBS, ALG_ECDSA_SHA512, p, n, &gi,
	    "TBSCertList signature algorithm is not the requested one");
	/* a CRL is not a certificate, nor the other way round */
	refused(&kiss, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "malformed TBSCertificate");
	k.subject = NULL;
	k.subjectlen = 0;
	refused(&k, KIND_CRL_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "no certificate subject");
	/* version v2 is INTEGER 1; 0 (v1 spelled out) or 2 are not */
	assert_true(p[1] == 0x81 && memcmp(p + 3, "\x02\x01\x01", 3) == 0);
	p[5] = 0;
	refused(&kiss, KIND_CRL_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "malformed TBSCertList: version");
	p[5] = 2;
	refused(&kiss, KIND_CRL_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "malformed TBSCertList: version");
	OPENSSL_free(p);

	/* v1: no version, no nextUpdate, no entries, no extensions */
	o.v1 = 1;
	o.nrevoked = 0;
	o.next = 0;
	p = mkcrl(&o, &n);
	assert_int_equal(check(&kiss, KIND_CRL_TBS, ALG_ECDSA_SHA256, p, n,
	    &gi), 0);
	OPENSSL_free(p);

	/* another issuer's name */
	o = (struct lopt){ other_name, ca_pkey, EVP_sha256(), 1, 1, 0, 0 };
	p = mkcrl(&o, &n);
	refused(&kiss, KIND_CRL_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "CRL issuer is not this CA");
	assert_string_equal(gi.subject, "CN=Other CA,O=Example");
	OPENSSL_free(p);

	o = (struct lopt){ ca_name, ca_pkey, EVP_sha256(), 1, 1, 1, 0 };
	p = mkcrl(&o, &n);
	refused(&kiss, KIND_CRL_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "duplicate extension");
	OPENSSL_free(p);
}

/* A large CRL parses in linear time; 20000 entries, well under 1 MiB. */
static void
test_crl_big(void **state)
{
	struct guard_info	 gi;
	struct lopt		 o = { ca_name, ca_pkey, EVP_sha256(), 20000, 1,
				     0, 0 };
	struct timespec		 t0, t1;
	uint8_t			*p;
	size_t			 n;

	(void)state;
	p = mkcrl(&o, &n);
	assert_true(n > 500000 && n < PROTO_MAX_FRAME);
	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &t0), 0);
	assert_int_equal(check(&kiss, KIND_CRL_TBS, ALG_ECDSA_SHA256, p, n,
	    &gi), 0);
	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &t1), 0);
	/* generous, for valgrind; it takes about a millisecond */
	assert_true(t1.tv_sec - t0.tv_sec < 5);
	OPENSSL_free(p);
}

static void
test_crl_root(void **state)
{
	struct guard_info	 gi;
	struct guard_key	 k = kroot;
	struct lopt		 o = { root_name, root_pkey, EVP_sha384(), 2,
				     1, 0, 0 };
	uint8_t			*p;
	size_t			 n;

	(void)state;
	p = mkcrl(&o, &n);
	assert_int_equal(check(&kroot, KIND_CRL_TBS, ALG_ECDSA_SHA384, p, n,
	    &gi), 0);
	assert_string_equal(gi.subject, "CN=Root CA,O=Example");
	k.ceremony = 0;
	refused(&k, KIND_CRL_TBS, ALG_ECDSA_SHA384, p, n, &gi,
	    "root key signs only in ceremony mode");
	/* a root without a subject yet cannot sign CRLs */
	k.ceremony = 1;
	k.subject = NULL;
	k.subjectlen = 0;
	refused(&k, KIND_CRL_TBS, ALG_ECDSA_SHA384, p, n, &gi,
	    "no certificate subject");
	/* the root's CRL is not the issuing CA's */
	refused(&kiss, KIND_CRL_TBS, ALG_ECDSA_SHA384, p, n, &gi,
	    "CRL issuer is not this CA");
	OPENSSL_free(p);
}

/* ---- OCSP ResponseData ------------------------------------------------- */

static uint8_t *
mkocsp(X509 *signer, unsigned long flags, int nresp, size_t *len)
{
	OCSP_BASICRESP	*bs;
	OCSP_CERTID	*id;
	ASN1_INTEGER	*serial;
	ASN1_TIME	*now, *next;
	uint8_t		*der = NULL;
	int		 i, l;

	assert_non_null(bs = OCSP_BASICRESP_new());
	assert_non_null(now = ASN1_TIME_set(NULL, T(2025, 6, 1)));
	assert_non_null(next = ASN1_TIME_set(NULL, T(2025, 6, 2)));
	for (i = 0; i < nresp; i++) {
		assert_non_null(serial = ASN1_INTEGER_new());
		assert_int_equal(ASN1_INTEGER_set(serial, 0x1234 + i), 1);
		assert_non_null(id = OCSP_cert_id_new(EVP_sha1(), ca_name,
		    X509_get0_pubkey_bitstr(ca_cert), serial));
		assert_non_null(OCSP_basic_add1_status(bs, id,
		    i % 3 == 1 ? V_OCSP_CERTSTATUS_REVOKED : i % 3 == 2 ?
		    V_OCSP_CERTSTATUS_UNKNOWN : V_OCSP_CERTSTATUS_GOOD,
		    i % 3 == 1 ? OCSP_REVOKED_STATUS_KEYCOMPROMISE : 0,
		    i % 3 == 1 ? now : NULL, now, i ? next : NULL));
		OCSP_CERTID_free(id);
		ASN1_INTEGER_free(serial);
	}
	assert_int_equal(OCSP_basic_add1_nonce(bs, NULL, 16), 1);
	assert_int_equal(OCSP_basic_sign(bs, signer, ca_pkey, EVP_sha256(),
	    NULL, flags | OCSP_NOCERTS), 1);
	assert_true((l = i2d_OCSP_RESPDATA(OCSP_resp_get0_respdata(bs),
	    &der)) > 0);
	ASN1_TIME_free(now);
	ASN1_TIME_free(next);
	OCSP_BASICRESP_free(bs);
	*len = l;
	return der;
}

static void
test_ocsp_byname(void **state)
{
	struct guard_info	 gi;
	struct guard_key	 k = kiss;
	uint8_t			*p;
	size_t			 n;

	(void)state;
	p = mkocsp(ca_cert, 0, 4, &n);
	assert_int_equal(check(&kiss, KIND_OCSP_TBS, ALG_ECDSA_SHA256, p, n,
	    &gi), 0);
	assert_string_equal(gi.subject, "CN=Issuing CA,O=Example");
	assert_string_equal(gi.serial, "1234");
	cut_and_pad(&kiss, KIND_OCSP_TBS, ALG_ECDSA_SHA256, p, n);
	/* OCSP is the issuing key's alone */
	refused(&kroot, KIND_OCSP_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "not allowed");
	refused(&kssh, KIND_OCSP_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "not allowed");
	k.subject = NULL;
	k.subjectlen = 0;
	refused(&k, KIND_OCSP_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "responder name is not this CA");
	OPENSSL_free(p);

	p = mkocsp(other_cert, 0, 1, &n);
	refused(&kiss, KIND_OCSP_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "responder name is not this CA");
	assert_string_equal(gi.subject, "CN=Other CA,O=Example");
	assert_string_equal(gi.serial, "1234");
	OPENSSL_free(p);

	/* no responses at all */
	p = mkocsp(ca_cert, 0, 0, &n);
	assert_int_equal(check(&kiss, KIND_OCSP_TBS, ALG_ECDSA_SHA256, p, n,
	    &gi), 0);
	assert_string_equal(gi.serial, "");
	OPENSSL_free(p);
}

static void
test_ocsp_bykey(void **state)
{
	struct guard_info	 gi;
	struct guard_key	 k = kiss;
	uint8_t			*p, *bad, md[SHA_DIGEST_LENGTH];
	char			 want[64];
	size_t			 n, i;

	(void)state;
	/* OpenSSL computes the hash itself, from ca_cert */
	p = mkocsp(ca_cert, OCSP_RESPID_KEY, 2, &n);
	assert_int_equal(check(&kiss, KIND_OCSP_TBS, ALG_ECDSA_SHA256, p, n,
	    &gi), 0);
	assert_string_equal(gi.serial, "1234");
	assert_int_equal(X509_pubkey_digest(ca_cert, EVP_sha1(), md, NULL), 1);
	strcpy(want, "keyHash=");
	for (i = 0; i < sizeof(md); i++)
		snprintf(want + 8 + 2 * i, 3, "%02x", md[i]);
	assert_string_equal(gi.subject, want);
	cut_and_pad(&kiss, KIND_OCSP_TBS, ALG_ECDSA_SHA256, p, n);
	/* the name does not matter for byKey */
	k.subject = NULL;
	k.subjectlen = 0;
	assert_int_equal(check(&k, KIND_OCSP_TBS, ALG_ECDSA_SHA256, p, n,
	    &gi), 0);
	/* but the key does */
	k.spki = other_spki;
	k.spkilen = other_spkilen;
	refused(&k, KIND_OCSP_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "responder key hash is not this CA's key");
	k.spki = NULL;
	k.spkilen = 0;
	refused(&k, KIND_OCSP_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "no usable public key");
	/* a key BIT STRING with unused bits has no whole-octet hash */
	assert_non_null(bad = malloc(ca_spkilen));
	memcpy(bad, ca_spki, ca_spkilen);
	assert_int_equal(bad[ca_spkilen - 66], 0x00);
	bad[ca_spkilen - 66] = 0x01;
	k.spki = bad;
	k.spkilen = ca_spkilen;
	refused(&k, KIND_OCSP_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "no usable public key");
	free(bad);
	OPENSSL_free(p);
}

/* A tiny DER writer for hand-made payloads (contents under 64 KiB). */
struct buf {
	uint8_t	 b[4096];
	size_t	 n;
};

static void
put(struct buf *b, const void *p, size_t n)
{
	assert_true(b->n + n <= sizeof(b->b));
	if (n > 0)
		memcpy(b->b + b->n, p, n);
	b->n += n;
}

static void
tlv(struct buf *b, uint8_t tag, const void *p, size_t n)
{
	uint8_t	 h[4] = { tag };

	assert_true(n < 65536);
	if (n < 0x80) {
		h[1] = n;
		put(b, h, 2);
	} else if (n < 0x100) {
		h[1] = 0x81;
		h[2] = n;
		put(b, h, 3);
	} else {
		h[1] = 0x82;
		h[2] = n >> 8;
		h[3] = n;
		put(b, h, 4);
	}
	put(b, p, n);
}

static void
wrap(struct buf *b, uint8_t tag)
{
	struct buf	 in = *b;

	b->n = 0;
	tlv(b, tag, in.b, in.n);
}

/* A ResponseData around responderID and responses; ext appended. */
static void
respdata(struct buf *out, const struct buf *rid, const struct buf *resps,
    const void *tail, size_t taillen)
{
	struct buf	 b = { .n = 0 };

	put(&b, rid->b, rid->n);
	tlv(&b, 0x18, "20250601000000Z", 15);
	tlv(&b, 0x30, resps->b, resps->n);
	put(&b, tail, taillen);
	out->n = 0;
	tlv(out, 0x30, b.b, b.n);
}

/* A delegated responder's key: OCSP answers by its own key hash, only. */
static void
test_ocsp_delegated(void **state)
{
	struct guard_info	 gi;
	struct guard_key	 k = { .role = ROLE_OCSP, .spki = ca_spki,
	    .spkilen = ca_spkilen };
	uint8_t			*p;
	size_t			 n;

	(void)state;
	p = mkocsp(ca_cert, OCSP_RESPID_KEY, 2, &n);
	assert_int_equal(check(&k, KIND_OCSP_TBS, ALG_ECDSA_SHA256, p, n,
	    &gi), 0);
	refused(&k, KIND_X509_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "not allowed for this key");
	refused(&k, KIND_CRL_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "not allowed for this key");
	refused(&k, KIND_SSH_CERT, ALG_ECDSA_SHA256, p, n, &gi,
	    "not allowed for this key");
	k.spki = other_spki;
	k.spkilen = other_spkilen;
	refused(&k, KIND_OCSP_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "responder key hash is not this CA's key");
	OPENSSL_free(p);
	/* byName needs the key's certificate, which this one has not. */
	k.spki = ca_spki;
	k.spkilen = ca_spkilen;
	p = mkocsp(ca_cert, 0, 2, &n);
	refused(&k, KIND_OCSP_TBS, ALG_ECDSA_SHA256, p, n, &gi,
	    "responder name is not this CA");
	OPENSSL_free(p);
}

static void
test_ocsp_handmade(void **state)
{
	struct guard_info	 gi;
	struct buf		 rid = { .n = 0 }, key = { .n = 0 },
				 resps = { .n = 0 }, one = { .n = 0 },
				 out = { .n = 0 }, b;
	const uint8_t		*bits;
	uint8_t			 md[SHA_DIGEST_LENGTH];
	const X509_PUBKEY	*xpk;
	int			 blen;

	(void)state;
	/* byKey, SHA-1 of the issuing key's bits, no responses */
	assert_non_null(xpk = X509_get_X509_PUBKEY(ca_cert));
	assert_int_equal(X509_PUBKEY_get0_param(NULL, &bits, &blen, NULL,
	    xpk), 1);
	assert_non_null(SHA1(bits, blen, md));
	tlv(&key, 0x04, md, sizeof(md));
	rid = key;
	wrap(&rid, 0xa2);
	respdata(&out, &rid, &resps, NULL, 0);
	assert_int_equal(check(&kiss, KIND_OCSP_TBS, ALG_ECDSA_SHA256,
	    out.b, out.n, &gi), 0);

	/* with an explicit version v1 in front */
	b = out;
	b.n = 0;
	put(&b, "\xa0\x03\x02\x01\x00", 5);
	put(&b, out.b + 2, out.n - 2);
	wrap(&b, 0x30);
	assert_int_equal(check(&kiss, KIND_OCSP_TBS, ALG_ECDSA_SHA256,
	    b.b, b.n, &gi), 0);
	b.b[6] = 1;				/* version v2 does not exist */
	refused(&kiss, KIND_OCSP_TBS, ALG_ECDSA_SHA256, b.b, b.n, &gi,
	    "malformed ResponseData: version");

	/* responderID with another tag, or both choices */
	rid = key;
	wrap(&rid, 0xa3);
	respdata(&out, &rid, &resps, NULL, 0);
	refused(&kiss, KIND_OCSP_TBS, ALG_ECDSA_SHA256, out.b, out.n, &gi,
	    "malformed ResponseData: responderID");
	rid.n = 0;
	tlv(&rid, 0xa1, ca_der, ca_derlen);
	b = key;
	wrap(&b, 0xa2);
	put(&rid, b.b, b.n);
	respdata(&out, &rid, &resps, NULL, 0);
	refused(&kiss, KIND_OCSP_TBS, ALG_ECDSA_SHA256, out.b, out.n, &gi,
	    "malformed ResponseData: producedAt");
	/* byKey holding something else than an OCTET STRING */
	rid.n = 0;
	tlv(&rid, 0x03, md, sizeof(md));
	wrap(&rid, 0xa2);
	respdata(&out, &rid, &resps, NULL, 0);
	refused(&kiss, KIND_OCSP_TBS, ALG_ECDSA_SHA256, out.b, out.n, &gi,
	    "malformed ResponseData: responderID");

	/* a SingleResponse with a bad certStatus: good [0] not empty */
	rid = key;
	wrap(&rid, 0xa2);
	tlv(&one, 0x30, "\x30\x07\x06\x05\x2b\x0e\x03\x02\x1a" "\x04\x00"
	    "\x04\x00" "\x02\x01\x05", 16);
	put(&one, "\x80\x01\x00", 3);
	tlv(&one, 0x18, "20250601000000Z", 15);
	b = one;
	wrap(&b, 0x30);
	resps = b;
	respdata(&out, &rid, &resps, NULL, 0);
	refused(&kiss, KIND_OCSP_TBS, ALG_ECDSA_SHA256, out.b, out.n, &gi,
	    "malformed ResponseData: certStatus");
	assert_string_equal(gi.serial, "05");
	/* the same with good as [0] IMPLICIT NULL is fine */
	one.n = 0;
	tlv(&one, 0x30, "\x30\x07\x06\x05\x2b\x0e\x03\x02\x1a" "\x04\x00"
	    "\x04\x00" "\x02\x01\x05", 16);
	put(&one, "\x80\x00", 2);
	tlv(&one, 0x18, "20250601000000Z", 15);
	b = one;
	wrap(&b, 0x30);
	resps = b;
	respdata(&out, &rid, &resps, NULL, 0);
	assert_int_equal(check(&kiss, KIND_OCSP_TBS, ALG_ECDSA_SHA256,
	    out.b, out.n, &gi), 0);
	assert_string_equal(gi.serial, "05");
	/* producedAt as a (valid) UTCTime is not allowed */
	b.n = 0;
	put(&b, rid.b, rid.n);
	tlv(&b, 0x17, "250601000000Z", 13);
	tlv(&b, 0x30, resps.b, resps.n);
	wrap(&b, 0x30);
	refused(&kiss, KIND_OCSP_TBS, ALG_ECDSA_SHA256, b.b, b.n, &gi,
	    "malformed ResponseData: producedAt");
	/* duplicate response extensions */
	respdata(&out, &rid, &resps, "\xa1\x12\x30\x10"
	    "\x30\x06\x06\x01\x2a\x04\x01\x00"
	    "\x30\x06\x06\x01\x2a\x04\x01\x01", 20);
	refused(&kiss, KIND_OCSP_TBS, ALG_ECDSA_SHA256, out.b, out.n, &gi,
	    "duplicate extension");
	/* and distinct ones */
	out.b[out.n - 4] = 0x2b;
	assert_int_equal(check(&kiss, KIND_OCSP_TBS, ALG_ECDSA_SHA256,
	    out.b, out.n, &gi), 0);
	/* an empty extensions SEQUENCE */
	respdata(&out, &rid, &resps, "\xa1\x02\x30\x00", 4);
	refused(&kiss, KIND_OCSP_TBS, ALG_ECDSA_SHA256, out.b, out.n, &gi,
	    "malformed ResponseData: extensions");
}

/* ---- SSH certificates -------------------------------------------------- */

static void
s_u32(struct buf *b, uint32_t v)
{
	uint8_t	 x[4] = { v >> 24, v >> 16, v >> 8, v };

	put(b, x, 4);
}

static void
s_u64(struct buf *b, uint64_t v)
{
	s_u32(b, v >> 32);
	s_u32(b, (uint32_t)v);
}

static void
s_str(struct buf *b, const void *p, size_t n)
{
	s_u32(b, n);
	put(b, p, n);
}

static void
s_cstr(struct buf *b, const char *s)
{
	s_str(b, s, strlen(s));
}

struct sopt {
	const char	*type;
	int		 keyfields;	/* 0 ed25519, 1 ecdsa, 2 rsa */
	const char	*curve;
	const char	*e;		/* mpint bytes */
	size_t		 elen;
	uint64_t	 serial;
	uint32_t	 certtype;
	const char	*keyid;
	size_t		 keyidlen;
	const uint8_t	*sigkey;
	size_t		 sigkeylen;
	size_t		 pklen;		/* ed25519 key length */
};

static struct sopt
user(void)
{
	return (struct sopt){ "ssh-ed25519-cert-v01@openssh.com", 0, NULL,
	    "\x01\x00\x01", 3, 1234, 1, "alice@example", 13, sshpub,
	    sizeof(sshpub), 32 };
}

static void
mkssh(struct buf *b, const struct sopt *o)
{
	struct buf	 l = { .n = 0 };
	uint8_t		 x[65];

	memset(x, 0x42, sizeof(x));
	b->n = 0;
	s_cstr(b, o->type);
	s_str(b, x, 32);				/* nonce */
	if (o->keyfields == 0)
		s_str(b, x, o->pklen);
	else if (o->keyfields == 1) {
		s_cstr(b, o->curve);
		x[0] = 0x04;
		s_str(b, x, 65);
	} else {
		s_str(b, o->e, o->elen);
		s_str(b, "\x00\xc1\x02\x03", 4);	/* n, needs its 00 */
	}
	s_u64(b, o->serial);
	s_u32(b, o->certtype);
	s_str(b, o->keyid, o->keyidlen);
	s_cstr(&l, "alice");
	s_cstr(&l, "root");
	s_str(b, l.b, l.n);				/* principals */
	s_u64(b, 1700000000);
	s_u64(b, UINT64_MAX);
	l.n = 0;
	s_cstr(&l, "force-command");
	s_str(&l, "\0\0\0\x04/bin", 8);
	s_str(b, l.b, l.n);				/* critical options */
	l.n = 0;
	s_cstr(&l, "permit-pty");
	s_cstr(&l, "");
	s_str(b, l.b, l.n);				/* extensions */
	s_cstr(b, "");					/* reserved */
	s_str(b, o->sigkey, o->sigkeylen);
}

static void
test_ssh_good(void **state)
{
	static const struct {
		const char	*type, *curve;
		int		 fields;
	} types[] = {
		{ "ssh-ed25519-cert-v01@openssh.com", NULL, 0 },
		{ "ecdsa-sha2-nistp256-cert-v01@openssh.com", "nistp256", 1 },
		{ "ecdsa-sha2-nistp384-cert-v01@openssh.com", "nistp384", 1 },
		{ "ecdsa-sha2-nistp521-cert-v01@openssh.com", "nistp521", 1 },
		{ "ssh-rsa-cert-v01@openssh.com", NULL, 2 },
	};
	struct guard_info	 gi;
	struct sopt		 o = user();
	struct buf		 b;
	size_t			 i;

	(void)state;
	for (i = 0; i < nitems(types); i++) {
		o.type = types[i].type;
		o.curve = types[i].curve;
		o.keyfields = types[i].fields;
		mkssh(&b, &o);
		if (check(&kssh, KIND_SSH_CERT, ALG_ED25519, b.b, b.n,
		    &gi) != 0)
			fail_msg("%s refused: %s", o.type, gi.reason);
		assert_string_equal(gi.serial, "00000000000004d2");
		assert_string_equal(gi.subject, "alice@example");
		cut_and_pad(&kssh, KIND_SSH_CERT, ALG_ED25519, b.b, b.n);
	}
	/* a host certificate, with a serial using all 64 bits */
	o = user();
	o.certtype = 2;
	o.serial = 0xfedcba9876543210ULL;
	mkssh(&b, &o);
	assert_int_equal(check(&kssh, KIND_SSH_CERT, ALG_ED25519, b.b, b.n,
	    &gi), 0);
	assert_string_equal(gi.serial, "fedcba9876543210");
}

static void
test_ssh_refused(void **state)
{
	struct guard_info	 gi;
	struct guard_key	 k = kssh;
	struct sopt		 o = user();
	struct buf		 b;
	uint8_t			 other[sizeof(sshpub)];

	(void)state;
	o.certtype = 3;
	mkssh(&b, &o);
	refused(&kssh, KIND_SSH_CERT, ALG_ED25519, b.b, b.n, &gi,
	    "neither user nor host");
	assert_string_equal(gi.subject, "alice@example");
	o.certtype = 0;
	mkssh(&b, &o);
	refused(&kssh, KIND_SSH_CERT, ALG_ED25519, b.b, b.n, &gi,
	    "neither user nor host");

	/* another CA's key, one byte off, or a prefix of ours */
	o = user();
	memcpy(other, sshpub, sizeof(other));
	other[sizeof(other) - 1] ^= 1;
	o.sigkey = other;
	mkssh(&b, &o);
	refused(&kssh, KIND_SSH_CERT, ALG_ED25519, b.b, b.n, &gi,
	    "signature key is not this CA's key");
	assert_string_equal(gi.serial, "00000000000004d2");
	o.sigkey = sshpub;
	o.sigkeylen = sizeof(sshpub) - 1;
	mkssh(&b, &o);
	refused(&kssh, KIND_SSH_CERT, ALG_ED25519, b.b, b.n, &gi,
	    "signature key is not this CA's key");
	o = user();
	mkssh(&b, &o);
	k.sshpub = NULL;
	k.sshpublen = 0;
	refused(&k, KIND_SSH_CERT, ALG_ED25519, b.b, b.n, &gi,
	    "signature key is not this CA's key");

	/* unknown and plain-key types */
	o.type = "ssh-ed25519";
	mkssh(&b, &o);
	refused(&kssh, KIND_SSH_CERT, ALG_ED25519, b.b, b.n, &gi,
	    "unsupported SSH certificate type");
	o.type = "ssh-dss-cert-v01@openssh.com";
	mkssh(&b, &o);
	refused(&kssh, KIND_SSH_CERT, ALG_ED25519, b.b, b.n, &gi,
	    "unsupported SSH certificate type");
	o.type = "ssh-ed25519-cert-v01@openssh.co";
	mkssh(&b, &o);
	refused(&kssh, KIND_SSH_CERT, ALG_ED25519, b.b, b.n, &gi,
	    "unsupported SSH certificate type");

	/* the wrong curve name for the type */
	o = user();
	o.type = "ecdsa-sha2-nistp256-cert-v01@openssh.com";
	o.keyfields = 1;
	o.curve = "nistp384";
	mkssh(&b, &o);
	refused(&kssh, KIND_SSH_CERT, ALG_ED25519, b.b, b.n, &gi,
	    "malformed SSH certificate: public key");
	/* an RSA exponent with a superfluous 00, or negative */
	o = user();
	o.type = "ssh-rsa-cert-v01@openssh.com";
	o.keyfields = 2;
	o.e = "\x00\x01\x00\x01";
	o.elen = 4;
	mkssh(&b, &o);
	refused(&kssh, KIND_SSH_CERT, ALG_ED25519, b.b, b.n, &gi,
	    "malformed SSH certificate: public key");
	o.e = "\x81";
	o.elen = 1;
	mkssh(&b, &o);
	refused(&kssh, KIND_SSH_CERT, ALG_ED25519, b.b, b.n, &gi,
	    "malformed SSH certificate: public key");

	/* SSH bodies only for SSH keys, SSH keys only for SSH bodies */
	o = user();
	mkssh(&b, &o);
	refused(&kiss, KIND_SSH_CERT, ALG_ED25519, b.b, b.n, &gi,
	    "not allowed");
	refused(&kroot, KIND_SSH_CERT, ALG_ED25519, b.b, b.n, &gi,
	    "not allowed");
	refused(&kssh, KIND_X509_TBS, ALG_ED25519, b.b, b.n, &gi,
	    "not allowed");
	refused(&kssh, KIND_CRL_TBS, ALG_ED25519, b.b, b.n, &gi,
	    "not allowed");
	refused(&kssh, 0, ALG_ED25519, b.b, b.n, &gi, "not allowed");
	refused(&kssh, KIND_MAX + 1, ALG_ED25519, b.b, b.n, &gi,
	    "not allowed");
	refused(NULL, KIND_SSH_CERT, ALG_ED25519, b.b, b.n, &gi, "no key");
	k = kssh;
	k.role = 0;
	refused(&k, KIND_SSH_CERT, ALG_ED25519, b.b, b.n, &gi, "not allowed");
}

/* Overwrites the u32 at off in b with v. */
static void
poke32(struct buf *b, size_t off, uint32_t v)
{
	b->b[off] = v >> 24;
	b->b[off + 1] = v >> 16;
	b->b[off + 2] = v >> 8;
	b->b[off + 3] = v;
}

static void
test_ssh_lengths(void **state)
{
	static const uint32_t huge[] = { 0xffffffff, 0xfffffffc, 0x80000000,
	    0x7fffffff, 65536 };
	struct guard_info	 gi;
	struct sopt		 o = user();
	struct buf		 b, c;
	size_t			 i, off;

	(void)state;
	mkssh(&b, &o);
	/* every length field made huge: type, nonce, pk, key id, ... */
	for (i = 0; i < nitems(huge); i++) {
		c = b;
		poke32(&c, 0, huge[i]);
		refused(&kssh, KIND_SSH_CERT, ALG_ED25519, c.b, c.n, &gi,
		    "malformed SSH certificate: type");
		c = b;
		poke32(&c, 36, huge[i]);
		refused(&kssh, KIND_SSH_CERT, ALG_ED25519, c.b, c.n, &gi,
		    "malformed SSH certificate: nonce");
		c = b;
		poke32(&c, 72, huge[i]);
		refused(&kssh, KIND_SSH_CERT, ALG_ED25519, c.b, c.n, &gi,
		    "malformed SSH certificate: public key");
		c = b;
		off = 72 + 4 + 32 + 8 + 4;
		poke32(&c, off, huge[i]);
		refused(&kssh, KIND_SSH_CERT, ALG_ED25519, c.b, c.n, &gi,
		    "malformed SSH certificate: type or key id");
		/* inside the principals list */
		c = b;
		off += 4 + 13 + 4;
		poke32(&c, off, huge[i]);
		refused(&kssh, KIND_SSH_CERT, ALG_ED25519, c.b, c.n, &gi,
		    "malformed SSH certificate: principals");
		/* the signature key */
		c = b;
		poke32(&c, c.n - sizeof(sshpub) - 4, huge[i]);
		refused(&kssh, KIND_SSH_CERT, ALG_ED25519, c.b, c.n, &gi,
		    "malformed SSH certificate: reserved or signature key");
	}
	/* an ed25519 key of 31 or 33 bytes, everything else intact */
	o.pklen = 31;
	mkssh(&c, &o);
	refused(&kssh, KIND_SSH_CERT, ALG_ED25519, c.b, c.n, &gi,
	    "malformed SSH certificate: public key");
	o.pklen = 33;
	mkssh(&c, &o);
	refused(&kssh, KIND_SSH_CERT, ALG_ED25519, c.b, c.n, &gi,
	    "malformed SSH certificate: public key");
}

static void
test_ssh_lists(void **state)
{
	struct guard_info	 gi;
	struct sopt		 o = user();
	struct buf		 b, l = { .n = 0 };
	size_t			 head;

	(void)state;
	mkssh(&b, &o);
	/* rebuild the tail after valid before with an odd option list */
	head = 4 + 32 + 4 + 32 + 4 + 32 + 8 + 4 + 4 + 13 + 4 + 9 + 8 + 8 + 8;
	assert_true(head < b.n);
	b.n = head;
	s_cstr(&l, "force-command");			/* name, no data */
	s_str(&b, l.b, l.n);
	s_cstr(&b, "");
	s_cstr(&b, "");
	s_str(&b, sshpub, sizeof(sshpub));
	refused(&kssh, KIND_SSH_CERT, ALG_ED25519, b.b, b.n, &gi,
	    "malformed SSH certificate: critical options or extensions");
	/* the same with empty lists is fine */
	b.n = head;
	s_cstr(&b, "");
	s_cstr(&b, "");
	s_cstr(&b, "");
	s_str(&b, sshpub, sizeof(sshpub));
	assert_int_equal(check(&kssh, KIND_SSH_CERT, ALG_ED25519, b.b, b.n,
	    &gi), 0);
	/* a key id that is not text is escaped in the record */
	o.keyid = "a\nb\\\x01\xff";
	o.keyidlen = 6;
	mkssh(&b, &o);
	assert_int_equal(check(&kssh, KIND_SSH_CERT, ALG_ED25519, b.b, b.n,
	    &gi), 0);
	assert_string_equal(gi.subject, "a\\x0ab\\x5c\\x01\\xff");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cert_good),
		cmocka_unit_test(test_cert_issuer),
		cmocka_unit_test(test_cert_ocsp_signing),
		cmocka_unit_test(test_cert_ca),
		cmocka_unit_test(test_cert_dup_ext),
		cmocka_unit_test(test_cert_limits),
		cmocka_unit_test(test_cert_validity),
		cmocka_unit_test(test_cert_serial),
		cmocka_unit_test(test_cert_alg),
		cmocka_unit_test(test_cert_names),
		cmocka_unit_test(test_cert_malformed),
		cmocka_unit_test(test_cert_handmade),
		cmocka_unit_test(test_root),
		cmocka_unit_test(test_root_selfsigned),
		cmocka_unit_test(test_crl),
		cmocka_unit_test(test_crl_big),
		cmocka_unit_test(test_crl_root),
		cmocka_unit_test(test_ocsp_byname),
		cmocka_unit_test(test_ocsp_bykey),
		cmocka_unit_test(test_ocsp_handmade),
		cmocka_unit_test(test_ocsp_delegated),
		cmocka_unit_test(test_ssh_good),
		cmocka_unit_test(test_ssh_refused),
		cmocka_unit_test(test_ssh_lengths),
		cmocka_unit_test(test_ssh_lists),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

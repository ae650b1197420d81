/*
 * test_ocsp.c — policy/ocsp.c: requests made by OpenSSL's OCSP API and by
 * `openssl ocsp -reqout` read back; responses for P-256 and RSA-2048 CAs
 * encoded, accepted by the signer's guard, signed with OpenSSL as the
 * signer would and wrapped, then checked independently with OpenSSL
 * (OCSP_basic_verify, OCSP_resp_find_status, OCSP_check_nonce) and with
 * `openssl ocsp -respin`; a delegated responder; error responses; and the
 * requests the reader must refuse, built by hand, cut short and mangled.
 *
 * Inputs to the reader are copied into heap buffers of their exact size,
 * so that an over-read is an ASan report, not a quiet pass.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

/* policy/tbs.h's DER writer makes the hand-made requests. */
#include "policy/tbs.h"

#include <openssl/ocsp.h>
#include <openssl/x509.h>

#include "hsm/der.h"
#include "hsm/guard.h"
#include "hsm/proto.h"
#include "policy/ocsp.h"
#include "test/unit/pki.h"

#define OID_SHA1	"\x2b\x0e\x03\x02\x1a"
#define OID_SHA256	"\x60\x86\x48\x01\x65\x03\x04\x02\x01"
#define OID_NONCE	"\x2b\x06\x01\x05\x05\x07\x30\x01\x02"
#define S(s)		(s), sizeof(s) - 1	/* a pointer, then its length */
#define SET(f, s)	((f) = (s), f##len = sizeof(s) - 1)

static struct ca	 ec, rsa, other;
static EVP_PKEY		*leafkey;
static X509		*ec_leaf[2], *rsa_leaf[2];	/* good, revoked */
static X509		*responder;	/* delegated, issued by ec */

static int
setup(void **state)
{
	(void)state;
	pki_mkdir("test_ocsp");
	pki_ca(&ec, "P-256", "O=p11ca test/CN=EC Issuing CA", "ec.pem");
	pki_ca(&rsa, "RSA", "O=p11ca test/CN=RSA Issuing CA", "rsa.pem");
	pki_ca(&other, "P-256", "O=p11ca test/CN=Other CA", "other.pem");
	leafkey = pki_key("P-256");
	ec_leaf[0] = pki_issue(&ec, leafkey, "CN=good.example.com", 0);
	ec_leaf[1] = pki_issue(&ec, leafkey, "CN=revoked.example.com", 0);
	rsa_leaf[0] = pki_issue(&rsa, leafkey, "CN=good.example.com", 0);
	rsa_leaf[1] = pki_issue(&rsa, leafkey, "CN=revoked.example.com", 0);
	responder = pki_issue(&ec, leafkey, "CN=EC OCSP responder", 1);
	pki_write_pem("ec_good.pem", ec_leaf[0]);
	pki_write_pem("ec_revoked.pem", ec_leaf[1]);
	pki_write_pem("rsa_good.pem", rsa_leaf[0]);
	pki_write_pem("rsa_revoked.pem", rsa_leaf[1]);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	X509_free(ec_leaf[0]);
	X509_free(ec_leaf[1]);
	X509_free(rsa_leaf[0]);
	X509_free(rsa_leaf[1]);
	X509_free(responder);
	EVP_PKEY_free(leafkey);
	pki_ca_free(&ec);
	pki_ca_free(&rsa);
	pki_ca_free(&other);
	pki_rmdir();
	return 0;
}

/*
 * ocsp_request_parse on an exact-size heap copy, with what ocsp.h
 * promises either way: pointers into the copy when accepted; a reason and
 * a zeroed *r when not. The copy is freed: a test reads r only after
 * parse_ok, which keeps it (free with free_req).
 */
static uint8_t	*copy;

static int
parse(const uint8_t *p, size_t n, struct ocsp_request *r, char *why,
    size_t whysz)
{
	const uint8_t	*end;
	size_t		 i;
	int		 rc;

	free(copy);
	assert_non_null(copy = malloc(n ? n : 1));
	if (n)
		memcpy(copy, p, n);
	memset(r, 0xa5, sizeof(*r));
	memset(why, 'X', whysz);
	rc = ocsp_request_parse(n ? copy : NULL, n, r, why, whysz);
	assert_non_null(memchr(why, '\0', whysz));
	end = copy + n;
	if (rc == -1) {
		assert_true(why[0] != '\0');
		assert_int_equal(r->nids, 0);
		assert_null(r->nonce);
		assert_int_equal(r->noncelen, 0);
		assert_int_equal(r->has_signature, 0);
		return -1;
	}
	assert_int_equal(rc, 0);
	assert_string_equal(why, "");
	assert_true(r->nids >= 1 && r->nids <= OCSP_MAX_REQUESTS);
	for (i = 0; i < r->nids; i++) {
		assert_true(r->ids[i].raw >= copy &&
		    r->ids[i].raw + r->ids[i].rawlen <= end);
		assert_true(r->ids[i].name_hash > r->ids[i].raw &&
		    r->ids[i].key_hash + r->ids[i].hashlen <= end);
		assert_true(r->ids[i].serial > r->ids[i].raw &&
		    r->ids[i].serial + r->ids[i].seriallen <= end);
		assert_true(r->ids[i].seriallen >= 1 &&
		    r->ids[i].seriallen <= 20);
		assert_true(r->ids[i].hash >= OCSP_HASH_SHA1 &&
		    r->ids[i].hash <= OCSP_HASH_SHA512);
	}
	if (r->nonce != NULL)
		assert_true(r->nonce > copy && r->nonce + r->noncelen <= end &&
		    r->noncelen >= 3 && r->noncelen <= OCSP_MAX_NONCE + 2);
	assert_true(r->has_signature == 0 || r->has_signature == 1);
	return 0;
}

static void
parse_ok(const uint8_t *p, size_t n, struct ocsp_request *r)
{
	char	 why[160];

	if (parse(p, n, r, why, sizeof(why)) != 0)
		fail_msg("refused: %s", why);
}

static void
refused(const uint8_t *p, size_t n, const char *what)
{
	struct ocsp_request	 r;
	char			 why[160];

	if (parse(p, n, &r, why, sizeof(why)) != -1)
		fail_msg("accepted, expected \"%s\"", what);
	pki_expect(why, what);
}

static uint8_t *
req_der(OCSP_REQUEST *req, size_t *n)
{
	uint8_t	*der = NULL;
	int	 l;

	assert_true((l = i2d_OCSP_REQUEST(req, &der)) > 0);
	*n = (size_t)l;
	return der;
}

static const uint8_t *
serial_of(X509 *x, size_t *n)
{
	const ASN1_INTEGER	*sn = X509_get0_serialNumber(x);

	*n = (size_t)ASN1_STRING_length(sn);
	return ASN1_STRING_get0_data(sn);
}

/* The nonce extension's extnValue as OpenSSL has it, and ours. */
static void
check_nonce(OCSP_REQUEST *req, const struct ocsp_request *r)
{
	X509_EXTENSION		*e;
	ASN1_OCTET_STRING	*v;
	int			 i;

	i = OCSP_REQUEST_get_ext_by_NID(req, NID_id_pkix_OCSP_Nonce, -1);
	if (i < 0) {
		assert_null(r->nonce);
		return;
	}
	assert_non_null(e = OCSP_REQUEST_get_ext(req, i));
	v = X509_EXTENSION_get_data(e);
	assert_non_null(r->nonce);
	assert_int_equal(r->noncelen, ASN1_STRING_length(v));
	assert_memory_equal(r->nonce, ASN1_STRING_get0_data(v), r->noncelen);
}

/* Everything about one CertID, against OpenSSL's own. */
static void
check_id(const struct ocsp_certid *id, OCSP_CERTID *oid, const struct ca *ca,
    int hash)
{
	ASN1_OCTET_STRING	*nh, *kh;
	ASN1_INTEGER		*sn;
	uint8_t			*der = NULL;
	int			 l;

	assert_true((l = i2d_OCSP_CERTID(oid, &der)) > 0);
	assert_int_equal(id->rawlen, l);
	assert_memory_equal(id->raw, der, l);
	OPENSSL_free(der);
	assert_int_equal(OCSP_id_get0_info(&nh, NULL, &kh, &sn, oid), 1);
	assert_int_equal(id->hash, hash);
	assert_int_equal(id->hashlen, ASN1_STRING_length(nh));
	assert_memory_equal(id->name_hash, ASN1_STRING_get0_data(nh),
	    id->hashlen);
	assert_memory_equal(id->key_hash, ASN1_STRING_get0_data(kh),
	    id->hashlen);
	assert_int_equal(id->seriallen, ASN1_STRING_length(sn));
	assert_memory_equal(id->serial, ASN1_STRING_get0_data(sn),
	    id->seriallen);
	assert_int_equal(ocsp_certid_issuer(id, ca->name, ca->namelen,
	    ca->spki, ca->spkilen), 1);
	assert_int_equal(ocsp_certid_issuer(id, other.name, other.namelen,
	    other.spki, other.spkilen), 0);
	/* the name alone, or the key alone, is not the issuer */
	assert_int_equal(ocsp_certid_issuer(id, ca->name, ca->namelen,
	    other.spki, other.spkilen), 0);
	assert_int_equal(ocsp_certid_issuer(id, other.name, other.namelen,
	    ca->spki, ca->spkilen), 0);
	assert_int_equal(ocsp_certid_issuer(id, ca->name, ca->namelen,
	    ca->spki, ca->spkilen - 1), -1);
}

/* A CertID for a serial the CA never issued. */
static OCSP_CERTID *
unknown_id(const EVP_MD *md, const struct ca *ca)
{
	OCSP_CERTID	*id;
	ASN1_INTEGER	*sn;

	assert_non_null(sn = ASN1_INTEGER_new());
	assert_int_equal(ASN1_INTEGER_set(sn, 0x0bad), 1);
	assert_non_null(id = OCSP_cert_id_new(md, X509_get_subject_name(
	    ca->cert), X509_get0_pubkey_bitstr(ca->cert), sn));
	ASN1_INTEGER_free(sn);
	return id;
}

/* ---- requests ----------------------------------------------------------- */

static void
test_request_api(void **state)
{
	static const struct {
		const EVP_MD	*(*md)(void);
		int		 hash;
	} mds[] = {
		{ EVP_sha1, OCSP_HASH_SHA1 }, { EVP_sha256, OCSP_HASH_SHA256 },
		{ EVP_sha384, OCSP_HASH_SHA384 },
		{ EVP_sha512, OCSP_HASH_SHA512 },
	};
	struct ca		*cas[] = { &ec, &rsa };
	X509			**leaves[] = { ec_leaf, rsa_leaf };
	struct ocsp_request	 r;
	OCSP_REQUEST		*req;
	OCSP_CERTID		*id[3];
	uint8_t			*der;
	size_t			 n, i, j, k;

	(void)state;
	for (i = 0; i < nitems(cas); i++)
		for (j = 0; j < nitems(mds); j++) {
			assert_non_null(req = OCSP_REQUEST_new());
			assert_non_null(id[0] = OCSP_cert_to_id(mds[j].md(),
			    leaves[i][0], cas[i]->cert));
			assert_non_null(id[1] = OCSP_cert_to_id(mds[j].md(),
			    leaves[i][1], cas[i]->cert));
			id[2] = unknown_id(mds[j].md(), cas[i]);
			for (k = 0; k < 3; k++)
				assert_non_null(OCSP_request_add0_id(req,
				    id[k]));
			/* with a nonce every other time */
			if (j % 2 == 0)
				assert_int_equal(OCSP_request_add1_nonce(req,
				    NULL, -1), 1);
			der = req_der(req, &n);
			parse_ok(der, n, &r);
			assert_int_equal(r.nids, 3);
			for (k = 0; k < 3; k++)
				check_id(&r.ids[k], id[k], cas[i],
				    mds[j].hash);
			check_nonce(req, &r);
			assert_int_equal(r.has_signature, 0);
			OPENSSL_free(der);
			OCSP_REQUEST_free(req);
		}
}

/* Signed requests, with a requestorName: read, the signature ignored. */
static void
test_request_signed(void **state)
{
	STACK_OF(X509)		*certs;
	struct ocsp_request	 r;
	OCSP_REQUEST		*req;
	OCSP_CERTID		*id;
	uint8_t			*der;
	size_t			 n;
	unsigned long		 flags;

	(void)state;
	assert_non_null(certs = sk_X509_new_null());
	assert_int_equal(sk_X509_push(certs, ec.cert), 1);
	for (flags = 0; flags <= OCSP_NOCERTS; flags += OCSP_NOCERTS) {
		assert_non_null(req = OCSP_REQUEST_new());
		assert_non_null(id = OCSP_cert_to_id(NULL, ec_leaf[0],
		    ec.cert));
		assert_non_null(OCSP_request_add0_id(req, id));
		assert_int_equal(OCSP_request_add1_nonce(req, NULL, 32), 1);
		assert_int_equal(OCSP_request_sign(req, ec_leaf[0], leafkey,
		    EVP_sha256(), certs, flags), 1);
		der = req_der(req, &n);
		parse_ok(der, n, &r);
		assert_int_equal(r.nids, 1);
		assert_int_equal(r.has_signature, 1);
		check_id(&r.ids[0], id, &ec, OCSP_HASH_SHA1);
		check_nonce(req, &r);
		assert_int_equal(r.noncelen, 34);
		OPENSSL_free(der);
		OCSP_REQUEST_free(req);
	}
	sk_X509_free(certs);
}

/* What `openssl ocsp -reqout` writes. */
static void
test_request_cli(void **state)
{
	struct ocsp_request	 r;
	const uint8_t		*sn;
	uint8_t			*der;
	char			 out[4096];
	size_t			 n, snlen;

	(void)state;
	assert_int_equal(pki_run(out, sizeof(out), "openssl ocsp -issuer "
	    "ec.pem -cert ec_good.pem -serial 0x0bad -reqout cli1.der"), 0);
	der = pki_read("cli1.der", &n);
	parse_ok(der, n, &r);
	assert_int_equal(r.nids, 2);
	assert_int_equal(r.ids[0].hash, OCSP_HASH_SHA1);
	assert_int_equal(r.ids[0].hashlen, 20);
	sn = serial_of(ec_leaf[0], &snlen);
	assert_int_equal(r.ids[0].seriallen, snlen);
	assert_memory_equal(r.ids[0].serial, sn, snlen);
	assert_int_equal(r.ids[1].seriallen, 2);
	assert_memory_equal(r.ids[1].serial, "\x0b\xad", 2);
	assert_int_equal(ocsp_certid_issuer(&r.ids[0], ec.name, ec.namelen,
	    ec.spki, ec.spkilen), 1);
	assert_int_equal(ocsp_certid_issuer(&r.ids[1], ec.name, ec.namelen,
	    ec.spki, ec.spkilen), 1);
	/* the default nonce: 16 octets, in an OCTET STRING */
	assert_non_null(r.nonce);
	assert_int_equal(r.noncelen, 18);
	assert_memory_equal(r.nonce, "\x04\x10", 2);
	free(der);

	assert_int_equal(pki_run(out, sizeof(out), "openssl ocsp -sha256 "
	    "-no_nonce -issuer rsa.pem -serial 12345 -serial 0x80 "
	    "-reqout cli2.der"), 0);
	der = pki_read("cli2.der", &n);
	parse_ok(der, n, &r);
	assert_int_equal(r.nids, 2);
	assert_null(r.nonce);
	assert_int_equal(r.ids[0].hash, OCSP_HASH_SHA256);
	assert_int_equal(r.ids[0].hashlen, 32);
	assert_int_equal(r.ids[0].seriallen, 2);
	assert_memory_equal(r.ids[0].serial, "\x30\x39", 2);
	/* 0x80 is 00 80 in DER: the magnitude has no sign octet */
	assert_int_equal(r.ids[1].seriallen, 1);
	assert_memory_equal(r.ids[1].serial, "\x80", 1);
	assert_int_equal(ocsp_certid_issuer(&r.ids[0], rsa.name, rsa.namelen,
	    rsa.spki, rsa.spkilen), 1);
	assert_int_equal(ocsp_certid_issuer(&r.ids[0], ec.name, ec.namelen,
	    ec.spki, ec.spkilen), 0);
	free(der);

	assert_int_equal(pki_run(out, sizeof(out), "openssl ocsp -sha512 "
	    "-issuer rsa.pem -cert rsa_revoked.pem -reqout cli3.der"), 0);
	der = pki_read("cli3.der", &n);
	parse_ok(der, n, &r);
	assert_int_equal(r.nids, 1);
	assert_int_equal(r.ids[0].hash, OCSP_HASH_SHA512);
	assert_int_equal(ocsp_certid_issuer(&r.ids[0], rsa.name, rsa.namelen,
	    rsa.spki, rsa.spkilen), 1);
	free(der);
}

/* ---- hand-made requests ------------------------------------------------- */

/* What mkreq() writes; raw pieces are TLVs (or contents, where said). */
struct ropt {
	int		 nreq;
	const char	*oid;		/* hashAlgorithm OID contents */
	size_t		 oidlen;
	const char	*params;	/* after the OID; NULL: none */
	size_t		 paramslen;
	size_t		 nhlen, khlen;	/* issuerNameHash, issuerKeyHash */
	uint8_t		 nhtag;
	const char	*serial;	/* INTEGER contents */
	size_t		 seriallen;
	const char	*cidextra;	/* appended inside CertID */
	size_t		 cidextralen;
	const char	*single;	/* [0] contents */
	size_t		 singlelen;
	const char	*version;	/* [0] contents */
	size_t		 versionlen;
	const char	*requestor;	/* [1] contents */
	size_t		 requestorlen;
	uint8_t		 listtag;
	const uint8_t	*exts;		/* [2] contents */
	size_t		 extslen;
	const char	*tbsextra;	/* appended inside TBSRequest */
	size_t		 tbsextralen;
	const char	*sig;		/* [0] contents */
	size_t		 siglen;
	const char	*extra;		/* appended inside OCSPRequest */
	size_t		 extralen;
};

static struct ropt
dflt(void)
{
	return (struct ropt){ .nreq = 1, .oid = S(OID_SHA1),
	    .params = S("\x05\x00"), .nhlen = 20, .khlen = 20,
	    .nhtag = DER_OCTETSTRING, .serial = S("\x42\x01"),
	    .listtag = DER_SEQUENCE };
}

static void
add(struct pbuf *b, const void *p, size_t n)
{
	assert_int_equal(pbuf_add(b, p, n), 0);
}

static void
put(struct pbuf *b, uint8_t tag, const void *p, size_t n)
{
	assert_int_equal(der_put(b, tag, p, n), 0);
}

static size_t
open_(struct pbuf *b, uint8_t tag)
{
	size_t	 m;

	assert_true((m = der_open(b, tag)) != (size_t)-1);
	return m;
}

static void
close_(struct pbuf *b, size_t m)
{
	assert_int_equal(der_close(b, m), 0);
}

static void
mkreq(const struct ropt *o, struct pbuf *b)
{
	uint8_t	 h[64];
	size_t	 top, tbs, list, r, cid, alg;
	int	 i;

	memset(h, 0xab, sizeof(h));
	pbuf_init(b);
	top = open_(b, DER_SEQUENCE);
	tbs = open_(b, DER_SEQUENCE);
	if (o->version)
		put(b, DER_CTX(0), o->version, o->versionlen);
	if (o->requestor)
		put(b, DER_CTX(1), o->requestor, o->requestorlen);
	list = open_(b, o->listtag);
	for (i = 0; i < o->nreq; i++) {
		r = open_(b, DER_SEQUENCE);
		cid = open_(b, DER_SEQUENCE);
		alg = open_(b, DER_SEQUENCE);
		put(b, DER_OID, o->oid, o->oidlen);
		if (o->params)
			add(b, o->params, o->paramslen);
		close_(b, alg);
		put(b, o->nhtag, h, o->nhlen);
		put(b, DER_OCTETSTRING, h, o->khlen);
		put(b, DER_INTEGER, o->serial, o->seriallen);
		if (o->cidextra)
			add(b, o->cidextra, o->cidextralen);
		close_(b, cid);
		if (o->single)
			put(b, DER_CTX(0), o->single, o->singlelen);
		close_(b, r);
	}
	close_(b, list);
	if (o->exts)
		put(b, DER_CTX(2), o->exts, o->extslen);
	if (o->tbsextra)
		add(b, o->tbsextra, o->tbsextralen);
	close_(b, tbs);
	if (o->sig)
		put(b, DER_CTX(0), o->sig, o->siglen);
	if (o->extra)
		add(b, o->extra, o->extralen);
	close_(b, top);
}

/* Extension { oid, critical (-1: absent, else the BOOLEAN octet), value } */
static void
ext(struct pbuf *b, const char *oid, size_t oidlen, int crit, const void *v,
    size_t vlen)
{
	uint8_t	 c = (uint8_t)crit;
	size_t	 m = open_(b, DER_SEQUENCE);

	put(b, DER_OID, oid, oidlen);
	if (crit != -1)
		put(b, DER_BOOLEAN, &c, 1);
	put(b, DER_OCTETSTRING, v, vlen);
	close_(b, m);
}

/* Extensions ::= SEQUENCE OF the Extension DERs in e. */
static void
exts(struct pbuf *b, const struct pbuf *e)
{
	pbuf_init(b);
	put(b, DER_SEQUENCE, e->data, e->len);
}

static int
try(const struct ropt *o, struct ocsp_request *r, char *why, size_t whysz)
{
	struct pbuf	 b;
	int		 rc;

	mkreq(o, &b);
	rc = parse(b.data, b.len, r, why, whysz);
	pbuf_free(&b);
	return rc;
}

static void
ok(const struct ropt *o, struct ocsp_request *r)
{
	char	 why[160];

	if (try(o, r, why, sizeof(why)) != 0)
		fail_msg("refused: %s", why);
}

static void
bad(const struct ropt *o, const char *what)
{
	struct ocsp_request	 r;
	char			 why[160];

	if (try(o, &r, why, sizeof(why)) != -1)
		fail_msg("accepted, expected \"%s\"", what);
	pki_expect(why, what);
}

static void
test_request_certid(void **state)
{
	char			 sn[22];	/* 00, ff, then 01 ... */
	struct ocsp_request	 r;
	struct ropt		 o;
	size_t			 i;

	(void)state;
	sn[0] = 0;
	for (i = 1; i < sizeof(sn); i++)
		sn[i] = (char)(i == 1 ? 0xff : i - 1);
	o = dflt();
	ok(&o, &r);
	assert_int_equal(r.ids[0].hash, OCSP_HASH_SHA1);
	assert_int_equal(r.ids[0].seriallen, 2);
	o.params = NULL;			/* absent parameters */
	ok(&o, &r);
	o = dflt(), o.oid = OID_SHA256, o.oidlen = 9, o.nhlen = o.khlen = 32;
	ok(&o, &r);
	assert_int_equal(r.ids[0].hash, OCSP_HASH_SHA256);
	assert_int_equal(r.ids[0].hashlen, 32);
	/* parameters other than NULL */
	o = dflt(), o.params = "\x05\x01\x00", o.paramslen = 3;
	bad(&o, "hash algorithm parameters");
	o = dflt(), o.params = "\x04\x00", o.paramslen = 2;
	bad(&o, "hash algorithm parameters");
	o = dflt(), o.params = "\x05\x00\x05\x00", o.paramslen = 4;
	bad(&o, "hash algorithm parameters");
	/* MD5, SHA-224, and an OID cut short */
	o = dflt(), SET(o.oid, "\x2a\x86\x48\x86\xf7\x0d\x02\x05");
	bad(&o, "unsupported CertID hash algorithm");
	o = dflt(), SET(o.oid, "\x60\x86\x48\x01\x65\x03\x04\x02\x04");
	o.nhlen = o.khlen = 28;
	bad(&o, "unsupported CertID hash algorithm");
	o = dflt(), SET(o.oid, "\x2b\x0e\x03\x02");
	bad(&o, "unsupported CertID hash algorithm");
	/* hashes of the wrong size, or not OCTET STRINGs */
	o = dflt(), o.nhlen = 19;
	bad(&o, "CertID issuer hashes");
	o = dflt(), o.khlen = 21;
	bad(&o, "CertID issuer hashes");
	o = dflt(), o.oid = OID_SHA256, o.oidlen = 9;
	bad(&o, "CertID issuer hashes");
	o = dflt(), o.nhtag = DER_BITSTRING;
	bad(&o, "CertID issuer hashes");
	/* serials */
	o = dflt(), SET(o.serial, "\x80");
	bad(&o, "negative serialNumber");
	o = dflt(), SET(o.serial, "\xff");
	bad(&o, "negative serialNumber");
	o = dflt(), SET(o.serial, "\x00\x7f");	/* not minimal */
	bad(&o, "CertID serialNumber");
	o = dflt(), o.serial = "", o.seriallen = 0;
	bad(&o, "CertID serialNumber");
	o = dflt(), SET(o.serial, "\x00");
	ok(&o, &r);
	assert_int_equal(r.ids[0].seriallen, 1);
	assert_int_equal(r.ids[0].serial[0], 0);
	o = dflt(), o.serial = sn, o.seriallen = 21;	/* 00 + 20 octets */
	ok(&o, &r);
	assert_int_equal(r.ids[0].seriallen, 20);
	assert_int_equal(r.ids[0].serial[0], 0xff);
	o = dflt(), o.serial = sn + 2, o.seriallen = 20;
	ok(&o, &r);
	assert_int_equal(r.ids[0].seriallen, 20);
	o = dflt(), o.serial = sn + 1, o.seriallen = 21;	/* negative */
	bad(&o, "negative serialNumber");
	sn[1] = 0x7f;
	o = dflt(), o.serial = sn + 1, o.seriallen = 21;
	bad(&o, "serialNumber longer than 20 octets");
	o = dflt(), o.serial = "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b"
	    "\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16", o.seriallen = 22;
	bad(&o, "serialNumber longer than 20 octets");
	/* more in a CertID */
	o = dflt(), SET(o.cidextra, "\x05\x00");
	bad(&o, "CertID serialNumber");
}

static void
test_request_list(void **state)
{
	struct ocsp_request	 r;
	struct ropt		 o;
	struct pbuf		 e, x;

	(void)state;
	o = dflt(), o.nreq = OCSP_MAX_REQUESTS;
	ok(&o, &r);
	assert_int_equal(r.nids, OCSP_MAX_REQUESTS);
	o.nreq = OCSP_MAX_REQUESTS + 1;
	bad(&o, "too many requests");
	o.nreq = 0;
	bad(&o, "empty requestList");
	o = dflt(), o.listtag = DER_SET;
	bad(&o, "requestList");
	/* version: v1 when present, nothing else */
	o = dflt(), SET(o.version, "\x02\x01\x00");
	ok(&o, &r);
	o.version = "\x02\x01\x01";
	bad(&o, "version");
	SET(o.version, "\x02\x02\x00\x00");
	bad(&o, "version");
	SET(o.version, "\x02\x01\x00\x05\x00");
	bad(&o, "version");
	/* requestorName: one GeneralName, whatever it is */
	o = dflt(), SET(o.requestor, "\xa4\x02\x30\x00");
	ok(&o, &r);
	SET(o.requestor, "\x82\x03" "abc");
	ok(&o, &r);
	SET(o.requestor, "\x81\x03" "a@b");
	ok(&o, &r);
	SET(o.requestor, "\x89\x00");
	bad(&o, "requestorName");
	SET(o.requestor, "\x04\x00");
	bad(&o, "requestorName");
	SET(o.requestor, "\x82\x01" "a" "\x82\x01" "b");
	bad(&o, "requestorName");
	o.requestor = "", o.requestorlen = 0;
	bad(&o, "requestorName");
	/* singleRequestExtensions: read, ignored unless critical */
	pbuf_init(&e);
	ext(&e, S("\x2b\x06\x01\x05\x05\x07\x30\x01\x07"), -1, "\x30\x00", 2);
	exts(&x, &e);
	o = dflt(), o.single = (const char *)x.data, o.singlelen = x.len;
	ok(&o, &r);
	pbuf_free(&x);
	pbuf_free(&e);
	pbuf_init(&e);
	ext(&e, S("\x2b\x06\x01\x05\x05\x07\x30\x01\x07"), 0xff, "\x30\x00",
	    2);
	exts(&x, &e);
	o = dflt(), o.single = (const char *)x.data, o.singlelen = x.len;
	bad(&o, "unsupported critical extension");
	pbuf_free(&x);
	pbuf_free(&e);
	o = dflt(), SET(o.single, "\x30\x00");
	bad(&o, "Extensions");
	/* more where nothing more may be */
	o = dflt(), SET(o.tbsextra, "\x05\x00");
	bad(&o, "tbsRequest");
	o = dflt(), SET(o.extra, "\x05\x00");
	bad(&o, "OCSPRequest");
}

/* requestExtensions of Extension DERs e[0..n) */
static void
with_exts(struct ropt *o, struct pbuf *x, const struct pbuf *e)
{
	exts(x, e);
	o->exts = x->data;
	o->extslen = x->len;
}

static void
test_request_nonce(void **state)
{
	uint8_t			 v[40], n[42];
	struct ocsp_request	 r;
	struct ropt		 o;
	struct pbuf		 e, x;
	size_t			 len, i;

	(void)state;
	memset(v, 0x5a, sizeof(v));
	/* every size RFC 8954 allows, and those beyond */
	for (len = 0; len <= 33; len++) {
		n[0] = DER_OCTETSTRING;
		n[1] = (uint8_t)len;
		memcpy(n + 2, v, len);
		pbuf_init(&e);
		ext(&e, S(OID_NONCE), -1, n, len + 2);
		o = dflt();
		with_exts(&o, &x, &e);
		if (len == 0 || len > OCSP_MAX_NONCE)
			bad(&o, "nonce");
		else {
			ok(&o, &r);
			assert_int_equal(r.noncelen, len + 2);
			assert_memory_equal(r.nonce, n, len + 2);
		}
		pbuf_free(&x);
		pbuf_free(&e);
	}
	/* not an OCTET STRING inside, or more after it */
	pbuf_init(&e);
	ext(&e, S(OID_NONCE), -1, v, 16);
	o = dflt();
	with_exts(&o, &x, &e);
	bad(&o, "nonce");
	pbuf_free(&x);
	pbuf_free(&e);
	pbuf_init(&e);
	ext(&e, S(OID_NONCE), -1, "\x04\x01\x01\x05\x00", 5);
	o = dflt();
	with_exts(&o, &x, &e);
	bad(&o, "nonce");
	pbuf_free(&x);
	pbuf_free(&e);
	/* twice */
	pbuf_init(&e);
	ext(&e, S(OID_NONCE), -1, "\x04\x01\x01", 3);
	ext(&e, S(OID_NONCE), -1, "\x04\x01\x02", 3);
	o = dflt();
	with_exts(&o, &x, &e);
	bad(&o, "duplicate extension");
	pbuf_free(&x);
	pbuf_free(&e);
	/* critical (TRUE, or FALSE written out), with others around it */
	pbuf_init(&e);
	ext(&e, S("\x2b\x06\x01\x05\x05\x07\x30\x01\x04"), 0, "\x30\x00", 2);
	ext(&e, S(OID_NONCE), 0xff, "\x04\x01\x07", 3);
	ext(&e, S("\x2b\x06\x01\x05\x05\x07\x30\x01\x08"), -1, "\x30\x00", 2);
	o = dflt();
	with_exts(&o, &x, &e);
	ok(&o, &r);
	assert_int_equal(r.noncelen, 3);
	assert_memory_equal(r.nonce, "\x04\x01\x07", 3);
	pbuf_free(&x);
	pbuf_free(&e);
	/* an unknown critical one; a BOOLEAN that is not DER; bad OIDs */
	pbuf_init(&e);
	ext(&e, S("\x2b\x06\x01\x05\x05\x07\x30\x01\x04"), 0xff, "\x30\x00", 2);
	o = dflt();
	with_exts(&o, &x, &e);
	bad(&o, "unsupported critical extension");
	pbuf_free(&x);
	pbuf_free(&e);
	pbuf_init(&e);
	ext(&e, S(OID_NONCE), 0x01, "\x04\x01\x07", 3);
	o = dflt();
	with_exts(&o, &x, &e);
	bad(&o, "Extension");
	pbuf_free(&x);
	pbuf_free(&e);
	pbuf_init(&e);
	ext(&e, S("\x2b\x80\x01"), -1, "\x05\x00", 2);
	o = dflt();
	with_exts(&o, &x, &e);
	bad(&o, "Extension");
	pbuf_free(&x);
	pbuf_free(&e);
	pbuf_init(&e);
	ext(&e, S("\x2b\x86"), -1, "\x05\x00", 2);
	o = dflt();
	with_exts(&o, &x, &e);
	bad(&o, "Extension");
	pbuf_free(&x);
	pbuf_free(&e);
	/* no extensions at all in Extensions; too many */
	pbuf_init(&e);
	o = dflt();
	with_exts(&o, &x, &e);
	bad(&o, "Extensions");
	pbuf_free(&x);
	for (i = 0; i < 17; i++) {
		v[0] = (uint8_t)(0x10 + i);
		ext(&e, (const char *)v, 1, -1, "\x05\x00", 2);
	}
	o = dflt();
	with_exts(&o, &x, &e);
	bad(&o, "too many extensions");
	pbuf_free(&x);
	pbuf_free(&e);
	/* an extension with more after extnValue */
	o = dflt();
	o.exts = (const uint8_t *)"\x30\x0a\x30\x08\x06\x01\x2a\x04\x00\x05"
	    "\x00\x00";
	o.extslen = 12;
	bad(&o, "Extension");
}

static void
test_request_signature(void **state)
{
	struct ocsp_request	 r;
	struct ropt		 o;

	(void)state;
	o = dflt();
	SET(o.sig, "\x30\x10\x30\x0a\x06\x08\x2a\x86\x48\xce\x3d\x04\x03\x02"
	    "\x03\x02\x00\xab");
	ok(&o, &r);
	assert_int_equal(r.has_signature, 1);
	/* with certs */
	SET(o.sig, "\x30\x16\x30\x0a\x06\x08\x2a\x86\x48\xce\x3d\x04\x03\x02"
	    "\x03\x02\x00\xab\xa0\x04\x30\x02\x30\x00");
	ok(&o, &r);
	/* certs that are not SEQUENCEs */
	SET(o.sig, "\x30\x16\x30\x0a\x06\x08\x2a\x86\x48\xce\x3d\x04\x03\x02"
	    "\x03\x02\x00\xab\xa0\x04\x30\x02\x05\x00");
	bad(&o, "optionalSignature certs");
	/* a BIT STRING with 8 unused bits; none at all */
	SET(o.sig, "\x30\x10\x30\x0a\x06\x08\x2a\x86\x48\xce\x3d\x04\x03\x02"
	    "\x03\x02\x08\xab");
	bad(&o, "optionalSignature");
	SET(o.sig, "\x30\x0c\x30\x0a\x06\x08\x2a\x86\x48\xce\x3d\x04\x03\x02");
	bad(&o, "optionalSignature");
	/* two Signatures; one then junk */
	SET(o.sig, "\x30\x00\x30\x00");
	bad(&o, "optionalSignature");
	SET(o.sig, "\x30\x12\x30\x0a\x06\x08\x2a\x86\x48\xce\x3d\x04\x03\x02"
	    "\x03\x02\x00\xab\x05\x00");
	bad(&o, "optionalSignature");
}

/*
 * What the reader accepts, the responder can answer: ResponseData echoing
 * each CertID and the nonce that the signer's guard accepts.
 */
static void
answerable(const struct ocsp_request *r)
{
	struct ocsp_single	 s[OCSP_MAX_REQUESTS];
	struct ocsp_respdata	 rd;
	struct pbuf		 tbs;
	char			 why[160];
	size_t			 i;

	for (i = 0; i < r->nids; i++)
		s[i] = (struct ocsp_single){ r->ids[i].raw, r->ids[i].rawlen,
		    (int)(i % 3), 1700000000, (int)(i % 3), 1700000000,
		    1700003600 };
	rd = (struct ocsp_respdata){ .responder_spki = ec.spki,
	    .responder_spkilen = ec.spkilen, .produced_at = 1700000000,
	    .responses = s, .nresponses = r->nids, .nonce = r->nonce,
	    .noncelen = r->noncelen };
	pbuf_init(&tbs);
	assert_int_equal(ocsp_encode(&rd, &tbs), 0);
	if (pki_guard(&ec.gk, KIND_OCSP_TBS, ec.alg, tbs.data, tbs.len, why,
	    sizeof(why)) != 0)
		fail_msg("guard refused the answer: %s", why);
	pbuf_free(&tbs);
}

/*
 * A real request, cut at every length, padded, its outer tag changed, and
 * each of its bytes changed: no crash, no over-read, and what is still
 * accepted is answerable.
 */
static void
test_request_mangled(void **state)
{
	static const uint8_t	 vals[] = { 0x00, 0x01, 0x02, 0x04, 0x05,
	    0x30, 0x80, 0x81, 0xa0, 0xa2, 0xff };
	STACK_OF(X509)		*certs;
	struct ocsp_request	 r;
	OCSP_REQUEST		*req;
	uint8_t			*der, *m;
	char			 why[160];
	size_t			 n, i, j, accepted = 0;

	(void)state;
	assert_non_null(certs = sk_X509_new_null());
	assert_non_null(req = OCSP_REQUEST_new());
	assert_non_null(OCSP_request_add0_id(req, OCSP_cert_to_id(NULL,
	    ec_leaf[0], ec.cert)));
	assert_non_null(OCSP_request_add0_id(req, OCSP_cert_to_id(
	    EVP_sha256(), ec_leaf[1], ec.cert)));
	assert_int_equal(OCSP_request_add1_nonce(req, NULL, -1), 1);
	assert_int_equal(OCSP_request_sign(req, ec_leaf[0], leafkey,
	    EVP_sha256(), certs, 0), 1);
	der = req_der(req, &n);
	parse_ok(der, n, &r);
	answerable(&r);
	for (i = 0; i < n; i++)
		if (parse(der, i, &r, why, sizeof(why)) != -1)
			fail_msg("accepted a %zu of %zu byte prefix", i, n);
	assert_non_null(m = malloc(n + 1));
	memcpy(m, der, n);
	m[n] = 0;
	refused(m, n + 1, "OCSPRequest");
	m[0] = DER_SET;
	refused(m, n, "OCSPRequest");
	for (i = 0; i < n; i++)
		for (j = 0; j < nitems(vals) + 1; j++) {
			memcpy(m, der, n);
			m[i] = j < nitems(vals) ? vals[j] : m[i] ^ 0x01;
			if (m[i] == der[i])
				continue;
			if (parse(m, n, &r, why, sizeof(why)) == 0) {
				answerable(&r);
				accepted++;
			}
		}
	/* changes inside the hashes, nonce and signature still parse */
	assert_true(accepted > 0);
	free(m);
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);
	sk_X509_free(certs);
}

/* ---- responses ---------------------------------------------------------- */

/*
 * Encodes rd and checks the guard of ca's issuing key on it (must be
 * expect_guard), signs it with key, and wraps it with certs.
 */
static void
respond(const struct ca *ca, const struct ocsp_respdata *rd, EVP_PKEY *key,
    const EVP_MD *md, uint8_t alg, const uint8_t *certs, size_t certslen,
    int expect_guard, struct pbuf *out)
{
	struct pbuf	 tbs;
	uint8_t		*sig;
	size_t		 siglen;
	char		 why[160];

	pbuf_init(&tbs);
	pbuf_init(out);
	assert_int_equal(ocsp_encode(rd, &tbs), 0);
	if (pki_guard(&ca->gk, KIND_OCSP_TBS, alg, tbs.data, tbs.len, why,
	    sizeof(why)) != expect_guard)
		fail_msg("guard said \"%s\"", why);
	pki_sign(key, md, tbs.data, tbs.len, &sig, &siglen);
	assert_int_equal(ocsp_response(tbs.data, tbs.len, alg, sig, siglen,
	    certs, certslen, out), 0);
	OPENSSL_free(sig);
	pbuf_free(&tbs);
}

static OCSP_BASICRESP *
basic_of(const struct pbuf *der, OCSP_RESPONSE **resp)
{
	const unsigned char	*p = der->data;
	OCSP_BASICRESP		*bs;

	assert_non_null(*resp = d2i_OCSP_RESPONSE(NULL, &p, (long)der->len));
	assert_ptr_equal(p, der->data + der->len);
	assert_int_equal(OCSP_response_status(*resp),
	    OCSP_RESPONSE_STATUS_SUCCESSFUL);
	assert_non_null(bs = OCSP_response_get1_basic(*resp));
	return bs;
}

static void
check_status(OCSP_BASICRESP *bs, OCSP_CERTID *id, int status, int reason,
    time_t revoked, time_t thisupd, time_t nextupd)
{
	ASN1_GENERALIZEDTIME	*rev, *tu, *nu;
	int			 st, rs = -2;

	rev = tu = nu = NULL;
	assert_int_equal(OCSP_resp_find_status(bs, id, &st, &rs, &rev, &tu,
	    &nu), 1);
	assert_int_equal(st, status);
	assert_int_equal(ASN1_STRING_type(tu), V_ASN1_GENERALIZEDTIME);
	assert_int_equal(pki_asn1_time(tu), thisupd);
	assert_non_null(nu);
	assert_int_equal(pki_asn1_time(nu), nextupd);
	assert_int_equal(OCSP_check_validity(tu, nu, 300, -1), 1);
	if (status == V_OCSP_CERTSTATUS_REVOKED) {
		assert_int_equal(rs, reason);
		assert_int_equal(pki_asn1_time(rev), revoked);
	} else
		assert_null(rev);
}

/*
 * One CA's whole path: a request from OpenSSL for a good, a revoked and
 * an unknown certificate, read; ResponseData by key or by name, guard,
 * signature, wrapping; OpenSSL verifies and reads each status back.
 */
static void
roundtrip(const struct ca *ca, X509 **leaf, const EVP_MD *idmd, int bykey,
    int reason)
{
	STACK_OF(X509)		*certs;
	X509_STORE		*store;
	struct ocsp_request	 r;
	struct ocsp_single	 s[3];
	struct ocsp_respdata	 rd;
	struct pbuf		 resp;
	OCSP_RESPONSE		*or;
	OCSP_BASICRESP		*bs;
	OCSP_REQUEST		*req;
	OCSP_CERTID		*id[3];
	const ASN1_OCTET_STRING	*pid;
	const X509_NAME		*pname;
	uint8_t			*der, kid[20];
	time_t			 now = time(NULL);
	size_t			 n, i;
	unsigned int		 kl;

	assert_non_null(req = OCSP_REQUEST_new());
	assert_non_null(id[0] = OCSP_cert_to_id(idmd, leaf[0], ca->cert));
	assert_non_null(id[1] = OCSP_cert_to_id(idmd, leaf[1], ca->cert));
	id[2] = unknown_id(idmd, ca);
	for (i = 0; i < 3; i++)
		assert_non_null(OCSP_request_add0_id(req, id[i]));
	assert_int_equal(OCSP_request_add1_nonce(req, NULL, -1), 1);
	der = req_der(req, &n);
	parse_ok(der, n, &r);
	assert_int_equal(r.nids, 3);
	for (i = 0; i < 3; i++)
		assert_int_equal(ocsp_certid_issuer(&r.ids[i], ca->name,
		    ca->namelen, ca->spki, ca->spkilen), 1);
	s[0] = (struct ocsp_single){ r.ids[0].raw, r.ids[0].rawlen, OCSP_GOOD,
	    0, 0, now - 60, now + 3600 };
	s[1] = (struct ocsp_single){ r.ids[1].raw, r.ids[1].rawlen,
	    OCSP_REVOKED, now - 7200, reason, now - 60, now + 3600 };
	s[2] = (struct ocsp_single){ r.ids[2].raw, r.ids[2].rawlen,
	    OCSP_UNKNOWN, 0, 0, now - 60, now + 3600 };
	rd = (struct ocsp_respdata){ .produced_at = now, .responses = s,
	    .nresponses = 3, .nonce = r.nonce, .noncelen = r.noncelen };
	if (bykey) {
		rd.responder_spki = ca->spki;
		rd.responder_spkilen = ca->spkilen;
	} else {
		rd.responder_name = ca->name;
		rd.responder_namelen = ca->namelen;
	}
	respond(ca, &rd, ca->key, ca->md, ca->alg, NULL, 0, 0, &resp);

	bs = basic_of(&resp, &or);
	assert_non_null(certs = sk_X509_new_null());
	assert_int_equal(sk_X509_push(certs, ca->cert), 1);
	assert_non_null(store = X509_STORE_new());
	assert_int_equal(X509_STORE_add_cert(store, ca->cert), 1);
	assert_int_equal(OCSP_basic_verify(bs, certs, store, 0), 1);
	assert_int_equal(OCSP_check_nonce(req, bs), 1);
	assert_int_equal(OCSP_resp_get0_id(bs, &pid, &pname), 1);
	if (bykey) {
		assert_null(pname);
		assert_int_equal(X509_pubkey_digest(ca->cert, EVP_sha1(), kid,
		    &kl), 1);
		assert_int_equal(ASN1_STRING_length(pid), kl);
		assert_memory_equal(ASN1_STRING_get0_data(pid), kid, kl);
	} else {
		assert_null(pid);
		assert_int_equal(X509_NAME_cmp(pname,
		    X509_get_subject_name(ca->cert)), 0);
	}
	assert_int_equal(pki_asn1_time(OCSP_resp_get0_produced_at(bs)), now);
	assert_int_equal(OCSP_resp_count(bs), 3);
	check_status(bs, id[0], V_OCSP_CERTSTATUS_GOOD, 0, 0, now - 60,
	    now + 3600);
	check_status(bs, id[1], V_OCSP_CERTSTATUS_REVOKED,
	    reason == REASON_UNSPECIFIED ? OCSP_REVOKED_STATUS_NOSTATUS :
	    reason, now - 7200, now - 60, now + 3600);
	check_status(bs, id[2], V_OCSP_CERTSTATUS_UNKNOWN, 0, 0, now - 60,
	    now + 3600);
	/* another CA's key does not verify it */
	X509_STORE_free(store);
	sk_X509_free(certs);
	assert_non_null(certs = sk_X509_new_null());
	assert_int_equal(sk_X509_push(certs, other.cert), 1);
	assert_non_null(store = X509_STORE_new());
	assert_int_equal(X509_STORE_add_cert(store, other.cert), 1);
	assert_true(OCSP_basic_verify(bs, certs, store, 0) <= 0);
	X509_STORE_free(store);
	sk_X509_free(certs);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(or);
	pbuf_free(&resp);
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);
}

static void
test_response_ec(void **state)
{
	(void)state;
	roundtrip(&ec, ec_leaf, EVP_sha1(), 1, REASON_KEY_COMPROMISE);
	roundtrip(&ec, ec_leaf, EVP_sha256(), 0, REASON_SUPERSEDED);
	roundtrip(&ec, ec_leaf, EVP_sha384(), 1, REASON_UNSPECIFIED);
	roundtrip(&ec, ec_leaf, EVP_sha512(), 0, REASON_AA_COMPROMISE);
}

static void
test_response_rsa(void **state)
{
	(void)state;
	roundtrip(&rsa, rsa_leaf, EVP_sha1(), 0, REASON_CA_COMPROMISE);
	roundtrip(&rsa, rsa_leaf, EVP_sha256(), 1, REASON_KEY_COMPROMISE);
	roundtrip(&rsa, rsa_leaf, EVP_sha512(), 1, REASON_CERTIFICATE_HOLD);
}

/*
 * The openssl command both ways: it asks (-reqout), we answer, and it
 * checks the answer (-reqin -respin: nonce, signature, statuses).
 */
static void
cli(const struct ca *ca, const char *tag, int bykey)
{
	struct ocsp_request	 r;
	struct ocsp_single	 s[3];
	struct ocsp_respdata	 rd;
	struct pbuf		 resp;
	uint8_t			*der;
	char			 out[16384], file[64];
	time_t			 now = time(NULL);
	size_t			 n, i;

	assert_int_equal(pki_run(out, sizeof(out), "openssl ocsp -issuer "
	    "%s -cert %s_good.pem -cert %s_revoked.pem -serial 0x0bad "
	    "-reqout %s.req", ca->pem, tag, tag, tag), 0);
	snprintf(file, sizeof(file), "%s.req", tag);
	der = pki_read(file, &n);
	parse_ok(der, n, &r);
	assert_int_equal(r.nids, 3);
	for (i = 0; i < 3; i++)
		assert_int_equal(ocsp_certid_issuer(&r.ids[i], ca->name,
		    ca->namelen, ca->spki, ca->spkilen), 1);
	s[0] = (struct ocsp_single){ r.ids[0].raw, r.ids[0].rawlen, OCSP_GOOD,
	    0, 0, now - 60, now + 3600 };
	s[1] = (struct ocsp_single){ r.ids[1].raw, r.ids[1].rawlen,
	    OCSP_REVOKED, now - 7200, REASON_KEY_COMPROMISE, now - 60,
	    now + 3600 };
	s[2] = (struct ocsp_single){ r.ids[2].raw, r.ids[2].rawlen,
	    OCSP_UNKNOWN, 0, 0, now - 60, 0 };
	rd = (struct ocsp_respdata){ .produced_at = now, .responses = s,
	    .nresponses = 3, .nonce = r.nonce, .noncelen = r.noncelen };
	if (bykey) {
		rd.responder_spki = ca->spki;
		rd.responder_spkilen = ca->spkilen;
	} else {
		rd.responder_name = ca->name;
		rd.responder_namelen = ca->namelen;
	}
	respond(ca, &rd, ca->key, ca->md, ca->alg, NULL, 0, 0, &resp);
	snprintf(file, sizeof(file), "%s.resp", tag);
	pki_write(file, resp.data, resp.len);
	assert_int_equal(pki_run(out, sizeof(out), "openssl ocsp -reqin "
	    "%s.req -respin %s.resp -issuer %s -CAfile %s -resp_text", tag,
	    tag, ca->pem, ca->pem), 0);
	pki_expect(out, "Response verify OK");
	pki_expect(out, "OCSP Response Status: successful (0x0)");
	pki_expect(out, "Response Type: Basic OCSP Response");
	pki_expect(out, "Cert Status: good");
	pki_expect(out, "Cert Status: revoked");
	pki_expect(out, "Revocation Reason: keyCompromise (0x1)");
	pki_expect(out, "Cert Status: unknown");
	pki_expect(out, "OCSP Nonce:");
	if (strstr(out, "nonce") != NULL || strstr(out, "Nonce Verify") !=
	    NULL)
		fail_msg("nonce not echoed:\n%s", out);
	if (!bykey)
		pki_expect(out, "Responder Id: O = p11ca test, CN = ");
	/* and by -cert and -serial, each status by name */
	assert_int_equal(pki_run(out, sizeof(out), "openssl ocsp -no_nonce "
	    "-issuer %s -cert %s_good.pem -cert %s_revoked.pem -serial 0x0bad "
	    "-respin %s.resp -CAfile %s", ca->pem, tag, tag, tag, ca->pem), 0);
	pki_expect(out, "Response verify OK");
	pki_expect(out, "_good.pem: good");
	pki_expect(out, "_revoked.pem: revoked");
	pki_expect(out, "Reason: keyCompromise");
	pki_expect(out, "0x0bad: unknown");
	if (strstr(out, "WARNING") != NULL)
		fail_msg("times invalid:\n%s", out);
	pbuf_free(&resp);
	free(der);
}

static void
test_response_cli(void **state)
{
	(void)state;
	cli(&ec, "ec", 1);
	cli(&rsa, "rsa", 0);
}

/*
 * A delegated responder: its own key signs, its certificate (issued by
 * the CA for OCSPSigning) travels in certs. OpenSSL accepts it trusting
 * only the CA; the CA key's guard refuses it, not being that key.
 */
static void
test_response_delegated(void **state)
{
	X509_STORE		*store;
	struct ocsp_request	 r;
	struct ocsp_single	 s;
	struct ocsp_respdata	 rd;
	struct pbuf		 resp;
	OCSP_RESPONSE		*or;
	OCSP_BASICRESP		*bs;
	OCSP_REQUEST		*req;
	OCSP_CERTID		*id;
	uint8_t			*der, *rder, *rspki = NULL;
	char			 out[16384];
	time_t			 now = time(NULL);
	size_t			 n, rn;
	int			 l;

	(void)state;
	assert_non_null(req = OCSP_REQUEST_new());
	assert_non_null(id = OCSP_cert_to_id(NULL, ec_leaf[1], ec.cert));
	assert_non_null(OCSP_request_add0_id(req, id));
	der = req_der(req, &n);
	parse_ok(der, n, &r);
	assert_null(r.nonce);
	s = (struct ocsp_single){ r.ids[0].raw, r.ids[0].rawlen, OCSP_REVOKED,
	    now - 100, REASON_PRIVILEGE_WITHDRAWN, now - 60, now + 600 };
	assert_true((l = i2d_PUBKEY(leafkey, &rspki)) > 0);
	rd = (struct ocsp_respdata){ .responder_spki = rspki,
	    .responder_spkilen = (size_t)l, .produced_at = now,
	    .responses = &s, .nresponses = 1 };
	rder = pki_x509_der(responder, &rn);
	respond(&ec, &rd, leafkey, EVP_sha256(), ALG_ECDSA_SHA256, rder, rn,
	    -1, &resp);
	bs = basic_of(&resp, &or);
	assert_int_equal(sk_X509_num(OCSP_resp_get0_certs(bs)), 1);
	assert_int_equal(X509_cmp(sk_X509_value(OCSP_resp_get0_certs(bs), 0),
	    responder), 0);
	assert_non_null(store = X509_STORE_new());
	assert_int_equal(X509_STORE_add_cert(store, ec.cert), 1);
	assert_int_equal(OCSP_basic_verify(bs, NULL, store, 0), 1);
	check_status(bs, id, V_OCSP_CERTSTATUS_REVOKED,
	    OCSP_REVOKED_STATUS_PRIVILEGEWITHDRAWN, now - 100, now - 60,
	    now + 600);
	assert_int_equal(OCSP_check_nonce(req, bs), 2);	/* neither has one */
	pki_write("delegated.resp", resp.data, resp.len);
	assert_int_equal(pki_run(out, sizeof(out), "openssl ocsp -respin "
	    "delegated.resp -CAfile ec.pem -resp_text"), 0);
	pki_expect(out, "Response verify OK");
	/* OpenSSL 3.0 has no name for privilegeWithdrawn, only its code */
	pki_expect(out, "Revocation Reason: ");
	pki_expect(out, " (0x9)\n");
	pki_expect(out, "Subject: CN=EC OCSP responder");
	X509_STORE_free(store);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(or);
	pbuf_free(&resp);
	OPENSSL_free(rder);
	OPENSSL_free(rspki);
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);
}

static void
test_response_errors(void **state)
{
	static const int	 st[] = { OCSP_MALFORMED_REQUEST,
	    OCSP_INTERNAL_ERROR, OCSP_TRY_LATER, OCSP_SIG_REQUIRED,
	    OCSP_UNAUTHORIZED };
	static const int	 nope[] = { OCSP_SUCCESSFUL, 4, 7, -1, 256 };
	static const char *const names[] = { "malformedrequest",
	    "internalerror", "trylater", "sigrequired", "unauthorized" };
	const unsigned char	*p;
	OCSP_RESPONSE		*or;
	struct pbuf		 b;
	uint8_t			 want[5] = { 0x30, 0x03, 0x0a, 0x01, 0 };
	char			 out[4096];
	size_t			 i;

	(void)state;
	for (i = 0; i < nitems(st); i++) {
		pbuf_init(&b);
		assert_int_equal(ocsp_error(st[i], &b), 0);
		want[4] = (uint8_t)st[i];
		assert_int_equal(b.len, sizeof(want));
		assert_memory_equal(b.data, want, sizeof(want));
		p = b.data;
		assert_non_null(or = d2i_OCSP_RESPONSE(NULL, &p, (long)b.len));
		assert_int_equal(OCSP_response_status(or), st[i]);
		assert_null(OCSP_response_get1_basic(or));
		OCSP_RESPONSE_free(or);
		pki_write("error.resp", b.data, b.len);
		assert_int_not_equal(pki_run(out, sizeof(out), "openssl ocsp "
		    "-respin error.resp -resp_text"), 0);
		pki_expect(out, "Responder Error: ");
		pki_expect(out, names[i]);
		pbuf_free(&b);
	}
	for (i = 0; i < nitems(nope); i++) {
		pbuf_init(&b);
		assert_int_equal(ocsp_error(nope[i], &b), -1);
		pbuf_free(&b);
	}
}

/* What the signer must not sign for the issuing key. */
static void
test_guard_refuses(void **state)
{
	struct ocsp_single	 s = { (const uint8_t *)"\x30\x3a\x30\x09\x06"
	    "\x05\x2b\x0e\x03\x02\x1a\x05\x00\x04\x14" "aaaaaaaaaaaaaaaaaaaa"
	    "\x04\x14" "bbbbbbbbbbbbbbbbbbbb" "\x02\x01\x07", 0, OCSP_GOOD, 0,
	    0, 1700000000, 0 };
	struct ocsp_respdata	 rd;
	struct guard_key	 k;
	struct pbuf		 tbs;
	char			 why[160];

	(void)state;
	s.certidlen = 60;
	rd = (struct ocsp_respdata){ .responder_name = other.name,
	    .responder_namelen = other.namelen, .produced_at = 1700000000,
	    .responses = &s, .nresponses = 1 };
	pbuf_init(&tbs);
	assert_int_equal(ocsp_encode(&rd, &tbs), 0);
	assert_int_equal(pki_guard(&ec.gk, KIND_OCSP_TBS, ec.alg, tbs.data,
	    tbs.len, why, sizeof(why)), -1);
	pki_expect(why, "responder name is not this CA");
	assert_int_equal(pki_guard(&other.gk, KIND_OCSP_TBS, other.alg,
	    tbs.data, tbs.len, why, sizeof(why)), 0);
	/* as another kind; for a root key */
	assert_int_equal(pki_guard(&other.gk, KIND_CRL_TBS, other.alg,
	    tbs.data, tbs.len, why, sizeof(why)), -1);
	k = other.gk;
	k.role = ROLE_ROOT;
	k.ceremony = 1;
	assert_int_equal(pki_guard(&k, KIND_OCSP_TBS, other.alg, tbs.data,
	    tbs.len, why, sizeof(why)), -1);
	pbuf_free(&tbs);
	/* by another key */
	rd = (struct ocsp_respdata){ .responder_spki = other.spki,
	    .responder_spkilen = other.spkilen, .produced_at = 1700000000,
	    .responses = &s, .nresponses = 1 };
	pbuf_init(&tbs);
	assert_int_equal(ocsp_encode(&rd, &tbs), 0);
	assert_int_equal(pki_guard(&ec.gk, KIND_OCSP_TBS, ec.alg, tbs.data,
	    tbs.len, why, sizeof(why)), -1);
	pki_expect(why, "responder key hash is not this CA's key");
	assert_int_equal(pki_guard(&other.gk, KIND_OCSP_TBS, other.alg,
	    tbs.data, tbs.len, why, sizeof(why)), 0);
	pbuf_free(&tbs);
}

static void
encode_refused(const struct ocsp_respdata *rd)
{
	struct pbuf	 tbs;

	pbuf_init(&tbs);
	assert_int_equal(ocsp_encode(rd, &tbs), -1);
	pbuf_free(&tbs);
}

/* What cannot be encoded is not. */
static void
test_encode_refuses(void **state)
{
	static const uint8_t	 cid[] = { 0x30, 0x00 };
	struct ocsp_single	 s0 = { cid, sizeof(cid), OCSP_REVOKED,
	    1700000000, REASON_KEY_COMPROMISE, 1700000000, 1700003600 }, s;
	struct ocsp_respdata	 rd0 = { .responder_spki = NULL,
	    .responder_name = NULL, .produced_at = 1700000000,
	    .responses = &s, .nresponses = 1 }, rd;
	struct pbuf		 b, c;

	(void)state;
	rd0.responder_name = ec.name;
	rd0.responder_namelen = ec.namelen;
	s = s0, rd = rd0;
	pbuf_init(&b);
	assert_int_equal(ocsp_encode(&rd, &b), 0);
	/* the times: GeneralizedTime, a year of four digits */
	s.this_update = -62167219200;		/* 0000-01-01 */
	s.next_update = 253402300799;		/* 9999-12-31 23:59:59 */
	b.len = 0;
	assert_int_equal(ocsp_encode(&rd, &b), 0);
	assert_non_null(memmem(b.data, b.len, "\x18\x0f" "00000101000000Z",
	    17));
	assert_non_null(memmem(b.data, b.len, "\x18\x0f" "99991231235959Z",
	    17));
	pbuf_free(&b);
	s = s0, s.next_update = 253402300800, encode_refused(&rd);
	s = s0, s.this_update = -62167219201, s.next_update = 0,
	    encode_refused(&rd);
	s = s0, rd.produced_at = 253402300800, encode_refused(&rd);
	rd = rd0;
	s = s0, s.revoked_at = 253402300800, encode_refused(&rd);
	s = s0, s.next_update = s.this_update - 1, encode_refused(&rd);
	s = s0, s.status = 3, encode_refused(&rd);
	s = s0, s.status = -1, encode_refused(&rd);
	s = s0, s.reason = 7, encode_refused(&rd);
	s = s0, s.reason = 11, encode_refused(&rd);
	s = s0, s.reason = -1, encode_refused(&rd);
	s = s0, s.certid = (const uint8_t *)"\x31\x00", encode_refused(&rd);
	s = s0, s.certid = (const uint8_t *)"\x30\x00\x05\x00",
	    s.certidlen = 4, encode_refused(&rd);
	s = s0, s.certid = (const uint8_t *)"\x30\x05", encode_refused(&rd);
	s = s0, s.certid = NULL, encode_refused(&rd);
	s = s0;
	rd = rd0, rd.nresponses = 0, encode_refused(&rd);
	rd = rd0, rd.responses = NULL, encode_refused(&rd);
	rd = rd0, rd.responder_name = NULL, encode_refused(&rd);
	rd = rd0, rd.responder_name = (const uint8_t *)"\x31\x00",
	    rd.responder_namelen = 2, encode_refused(&rd);
	rd = rd0, rd.responder_spki = (const uint8_t *)"\x30\x00",
	    rd.responder_spkilen = 2, encode_refused(&rd);
	rd = rd0, rd.nonce = (const uint8_t *)"", encode_refused(&rd);

	/* wrapping: a known algorithm, one TBS SEQUENCE, certs SEQUENCEs */
	pbuf_init(&c);
	assert_int_equal(ocsp_response(cid, 2, ALG_ED25519, cid, 2, NULL, 0,
	    &c), 0);
	assert_int_equal(ocsp_response(cid, 2, ALG_ECDSA_SHA256, cid, 2, cid,
	    2, &c), 0);
	assert_int_equal(ocsp_response(cid, 2, ALG_RSA_PSS_SHA256, cid, 2,
	    NULL, 0, &c), -1);
	assert_int_equal(ocsp_response(cid, 2, 0, cid, 2, NULL, 0, &c), -1);
	assert_int_equal(ocsp_response(cid, 1, ALG_ECDSA_SHA256, cid, 2,
	    NULL, 0, &c), -1);
	assert_int_equal(ocsp_response((const uint8_t *)"\x30\x00\x30\x00", 4,
	    ALG_ECDSA_SHA256, cid, 2, NULL, 0, &c), -1);
	assert_int_equal(ocsp_response(cid, 2, ALG_ECDSA_SHA256, cid, 2,
	    (const uint8_t *)"\x30\x00\x05\x00", 4, &c), -1);
	assert_int_equal(ocsp_response(cid, 2, ALG_ECDSA_SHA256, cid, 2, cid,
	    0, &c), -1);
	pbuf_free(&c);
}

/* The exact DER of a small ResponseData and its OCSPResponse. */
static void
test_encode_der(void **state)
{
	static const uint8_t	 cid[] = { 0x30, 0x00 };
	static const uint8_t	 want[] = {
		0x30, 0x6c,
		0xa2, 0x16, 0x04, 0x14,		/* byKey, filled in below */
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0x18, 0x0f, '2', '0', '2', '3', '1', '1', '1', '4', '2', '2',
		'1', '3', '2', '0', 'Z',
		0x30, 0x2d, 0x30, 0x2b, 0x30, 0x00,
		0xa1, 0x16, 0x18, 0x0f, '2', '0', '2', '3', '1', '1', '1', '4',
		'2', '2', '1', '3', '2', '0', 'Z', 0xa0, 0x03, 0x0a, 0x01,
		0x01,
		0x18, 0x0f, '2', '0', '2', '3', '1', '1', '1', '4', '2', '2',
		'1', '3', '2', '0', 'Z',
		0xa1, 0x12, 0x30, 0x10, 0x30, 0x0e, 0x06, 0x09, 0x2b, 0x06,
		0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02, 0x04, 0x01, 0x00,
	};
	struct ocsp_single	 s = { cid, sizeof(cid), OCSP_REVOKED,
	    1700000000, REASON_KEY_COMPROMISE, 1700000000, 0 };
	struct ocsp_respdata	 rd = { .responder_spki = ec.spki,
	    .responder_spkilen = ec.spkilen, .produced_at = 1700000000,
	    .responses = &s, .nresponses = 1,
	    .nonce = (const uint8_t *)"", .noncelen = 1 };
	uint8_t			 w[sizeof(want)];
	unsigned int		 kl;
	struct pbuf		 b;

	(void)state;
	memcpy(w, want, sizeof(w));
	assert_int_equal(X509_pubkey_digest(ec.cert, EVP_sha1(), w + 6, &kl),
	    1);
	pbuf_init(&b);
	assert_int_equal(ocsp_encode(&rd, &b), 0);
	assert_int_equal(b.len, sizeof(w));
	assert_memory_equal(b.data, w, sizeof(w));
	/* good and unknown are [0] and [2] IMPLICIT NULL */
	s.status = OCSP_GOOD;
	b.len = 0;
	assert_int_equal(ocsp_encode(&rd, &b), 0);
	assert_non_null(memmem(b.data, b.len, "\x30\x00\x80\x00\x18", 5));
	s.status = OCSP_UNKNOWN;
	b.len = 0;
	assert_int_equal(ocsp_encode(&rd, &b), 0);
	assert_non_null(memmem(b.data, b.len, "\x30\x00\x82\x00\x18", 5));
	pbuf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_api),
		cmocka_unit_test(test_request_signed),
		cmocka_unit_test(test_request_cli),
		cmocka_unit_test(test_request_certid),
		cmocka_unit_test(test_request_list),
		cmocka_unit_test(test_request_nonce),
		cmocka_unit_test(test_request_signature),
		cmocka_unit_test(test_request_mangled),
		cmocka_unit_test(test_response_ec),
		cmocka_unit_test(test_response_rsa),
		cmocka_unit_test(test_response_cli),
		cmocka_unit_test(test_response_delegated),
		cmocka_unit_test(test_response_errors),
		cmocka_unit_test(test_guard_refuses),
		cmocka_unit_test(test_encode_refuses),
		cmocka_unit_test(test_encode_der),
	};
	int	 rc;

	rc = cmocka_run_group_tests(tests, setup, teardown);
	free(copy);
	return rc;
}

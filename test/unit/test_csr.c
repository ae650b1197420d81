/*
 * test_csr.c — policy/csr.c against requests OpenSSL's X509_REQ API makes,
 * hand-built DER for what no library would write, every truncation and
 * bit flip of real requests, PEM framing, and requests python3-cryptography
 * made (test/unit/csr_vectors.h).
 *
 * Inputs are copied into heap buffers of their exact size, so that an
 * over-read is an ASan report, not a quiet pass.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>

#include <pthread.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "hsm/der.h"
#include "hsm/proto.h"
#include "policy/csr.h"
#include "test/unit/csr_vectors.h"

#define ALG_ECDSA_SHA256 "\x30\x0a\x06\x08\x2a\x86\x48\xce\x3d\x04\x03\x02"
#define ALG_RSA_SHA256	"\x30\x0d\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0b\x05\x00"
#define ALG_RSA_SHA256_NOPARAMS "\x30\x0b\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0b"
#define OID_CN		"\x06\x03\x55\x04\x03"
#define OID_O		"\x06\x03\x55\x04\x0a"
#define OID_SAN		"\x06\x03\x55\x1d\x11"
#define OID_EXTREQ	"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x09\x0e"
#define OID_CHALLENGE	"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x09\x07"
#define OID_BC		"\x06\x03\x55\x1d\x13"
#define S(s)		(s), sizeof(s) - 1
#define V(s)		(s), sizeof(s) - 1

static EVP_PKEY	*p256, *p384, *p521, *k1, *rsa2048, *rsa1024, *ed25519;

/* ---- DER building, for what the X509_REQ API will not write ---- */

struct blob {
	uint8_t		 b[16384];
	size_t		 n;
};

static void
add(struct blob *b, const void *p, size_t n)
{
	assert_true(n <= sizeof(b->b) - b->n);
	if (n > 0)
		memcpy(b->b + b->n, p, n);
	b->n += n;
}

static void
add_tlv(struct blob *b, uint8_t tag, const void *p, size_t n)
{
	uint8_t	 h[4];
	size_t	 hl;

	h[0] = tag;
	if (n < 0x80) {
		h[1] = (uint8_t)n;
		hl = 2;
	} else if (n < 0x100) {
		h[1] = 0x81;
		h[2] = (uint8_t)n;
		hl = 3;
	} else {
		assert_true(n < 0x10000);
		h[1] = 0x82;
		h[2] = (uint8_t)(n >> 8);
		h[3] = (uint8_t)n;
		hl = 4;
	}
	add(b, h, hl);
	add(b, p, n);
}

/* dst += TLV(tag, src) */
static void
add_wrap(struct blob *dst, uint8_t tag, const struct blob *src)
{
	add_tlv(dst, tag, src->b, src->n);
}

/* b = TLV(tag, b) */
static void
wrap(struct blob *b, uint8_t tag)
{
	static struct blob	 t;

	t = *b;
	b->n = 0;
	add_wrap(b, tag, &t);
}

/* A Name of one RDN per (type, tag, value) triple; a NULL type ends. */
static void
name_of(struct blob *out, ...)
{
	struct blob	 atv, set;
	va_list		 ap;
	const char	*oid, *v;
	int		 tag;

	out->n = 0;
	va_start(ap, out);
	while ((oid = va_arg(ap, const char *)) != NULL) {
		tag = va_arg(ap, int);
		v = va_arg(ap, const char *);
		atv.n = 0;
		add(&atv, oid, 5);	/* all of ours are 2.5.4.x */
		add_tlv(&atv, (uint8_t)tag, v, strlen(v));
		set.n = 0;
		add_wrap(&set, 0x30, &atv);
		add_wrap(out, 0x31, &set);
	}
	va_end(ap);
	wrap(out, 0x30);
}

static void
spki_of(struct blob *out, EVP_PKEY *k)
{
	unsigned char	*p = NULL;
	int		 n;

	assert_true((n = i2d_PUBKEY(k, &p)) > 0);
	out->n = 0;
	add(out, p, (size_t)n);
	OPENSSL_free(p);
}

/* exts += Extension { oid, critical (-1: left out), OCTET STRING val } */
static void
add_ext(struct blob *exts, const char *oid, size_t oidlen, int crit,
    const void *val, size_t vallen)
{
	struct blob	 e;

	e.n = 0;
	add(&e, oid, oidlen);
	if (crit >= 0)
		add_tlv(&e, 0x01, crit ? "\xff" : "\x00", 1);
	add_tlv(&e, 0x04, val, vallen);
	add_wrap(exts, 0x30, &e);
}

/* attrs += Attribute { OID_EXTREQ, SET { SEQUENCE { exts } } } */
static void
add_extreq(struct blob *attrs, const struct blob *exts)
{
	struct blob	 a, s;

	s.n = 0;
	add_wrap(&s, 0x30, exts);
	a.n = 0;
	add(&a, S(OID_EXTREQ));
	add_wrap(&a, 0x31, &s);
	add_wrap(attrs, 0x30, &a);
}

/* A SAN extension value: GeneralNames of the given GeneralName TLVs. */
static void
gnames(struct blob *out, const void *gns, size_t n)
{
	out->n = 0;
	add_tlv(out, 0x30, gns, n);
}

/*
 * CertificationRequest of the pieces, signed by k: version (full TLV),
 * name, spki, the attributes' contents (NULL: no [0] at all), extra
 * bytes at the end of the certificationRequestInfo.
 */
static void
req_of(struct blob *out, EVP_PKEY *k, const char *ver, size_t verlen,
    const struct blob *name, const struct blob *spki,
    const struct blob *attrs, const void *extra, size_t extralen,
    const void *alg, size_t alglen, const EVP_MD *md)
{
	struct blob	 cri, sig;
	EVP_MD_CTX	*ctx;
	size_t		 siglen;

	cri.n = 0;
	add(&cri, ver, verlen);
	add(&cri, name->b, name->n);
	add(&cri, spki->b, spki->n);
	if (attrs != NULL)
		add_wrap(&cri, 0xa0, attrs);
	add(&cri, extra, extralen);
	wrap(&cri, 0x30);
	assert_non_null(ctx = EVP_MD_CTX_new());
	assert_int_equal(EVP_DigestSignInit(ctx, NULL, md, NULL, k), 1);
	sig.b[0] = 0;
	siglen = sizeof(sig.b) - 1;
	assert_int_equal(EVP_DigestSign(ctx, sig.b + 1, &siglen, cri.b,
	    cri.n), 1);
	sig.n = siglen + 1;
	EVP_MD_CTX_free(ctx);
	out->n = 0;
	add(out, cri.b, cri.n);
	add(out, alg, alglen);
	add_wrap(out, 0x03, &sig);
	wrap(out, 0x30);
}

/* The usual pieces: P-256, CN "h.example", attributes as given. */
static void
simple_req(struct blob *out, const struct blob *attrs)
{
	struct blob	 name, spki;

	name_of(&name, OID_CN, 0x0c, "h.example", NULL);
	spki_of(&spki, p256);
	req_of(out, p256, "\x02\x01\x00", 3, &name, &spki, attrs, NULL, 0,
	    S(ALG_ECDSA_SHA256), EVP_sha256());
}

/* ---- the X509_REQ API, for what real tools write ---- */

struct san_in {
	int		 type;		/* GEN_* */
	const char	*v;
	size_t		 len;		/* 0: strlen(v) */
};

static GENERAL_NAME *
gname(const struct san_in *s)
{
	GENERAL_NAME		*g;
	ASN1_STRING		*str;
	X509_NAME		*dn;
	ASN1_OBJECT		*obj;
	size_t			 len = s->len ? s->len : strlen(s->v);

	assert_non_null(g = GENERAL_NAME_new());
	switch (s->type) {
	case GEN_RID:
		assert_non_null(obj = OBJ_txt2obj(s->v, 1));
		GENERAL_NAME_set0_value(g, GEN_RID, obj);
		break;
	case GEN_DIRNAME:
		assert_non_null(dn = X509_NAME_new());
		assert_int_equal(X509_NAME_add_entry_by_txt(dn, "CN",
		    MBSTRING_UTF8, (const unsigned char *)s->v, -1, -1, 0), 1);
		GENERAL_NAME_set0_value(g, GEN_DIRNAME, dn);
		break;
	default:
		assert_non_null(str = s->type == GEN_IPADD ?
		    ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new());
		assert_int_equal(ASN1_STRING_set(str, s->v, (int)len), 1);
		GENERAL_NAME_set0_value(g, s->type, str);
		break;
	}
	return g;
}

struct req_in {
	EVP_PKEY		*key;
	const EVP_MD		*md;
	const char		*cn;		/* NULL: none */
	int			 cntype;	/* 0: MBSTRING_UTF8 */
	size_t			 cnlen;		/* with cntype */
	int			 twocn;
	const struct san_in	*sans;
	int			 nsans;
	int			 pss_salt;	/* > 0: RSASSA-PSS, this salt */
	const EVP_MD		*mgf;		/* PSS mask hash; NULL: md */
};

/* A request as OpenSSL writes it, in a malloc'd buffer of its exact size. */
static uint8_t *
make_req(const struct req_in *in, size_t *len)
{
	STACK_OF(X509_EXTENSION)	*exts;
	GENERAL_NAMES			*gens;
	X509_EXTENSION			*ext;
	X509_NAME			*name;
	X509_REQ			*req;
	EVP_MD_CTX			*ctx;
	EVP_PKEY_CTX			*pctx;
	unsigned char			*p = NULL;
	uint8_t				*out;
	int				 i, n;

	assert_non_null(req = X509_REQ_new());
	assert_int_equal(X509_REQ_set_version(req, 0), 1);
	name = X509_REQ_get_subject_name(req);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
	    (const unsigned char *)"p11ca", -1, -1, 0), 1);
	if (in->cn != NULL && in->cntype == 0)
		assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN",
		    MBSTRING_UTF8, (const unsigned char *)in->cn, -1, -1, 0),
		    1);
	else if (in->cn != NULL)
		assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN",
		    in->cntype, (const unsigned char *)in->cn,
		    (int)in->cnlen, -1, 0), 1);
	if (in->twocn)
		assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN",
		    MBSTRING_UTF8, (const unsigned char *)"second", -1, -1, 0),
		    1);
	if (in->nsans > 0) {
		assert_non_null(gens = GENERAL_NAMES_new());
		for (i = 0; i < in->nsans; i++)
			assert_true(sk_GENERAL_NAME_push(gens,
			    gname(&in->sans[i])) > 0);
		assert_non_null(ext = X509V3_EXT_i2d(NID_subject_alt_name, 0,
		    gens));
		GENERAL_NAMES_free(gens);
		assert_non_null(exts = sk_X509_EXTENSION_new_null());
		assert_true(sk_X509_EXTENSION_push(exts, ext) > 0);
		assert_int_equal(X509_REQ_add_extensions(req, exts), 1);
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	}
	assert_int_equal(X509_REQ_set_pubkey(req, in->key), 1);
	assert_non_null(ctx = EVP_MD_CTX_new());
	assert_int_equal(EVP_DigestSignInit(ctx, &pctx, in->md, NULL,
	    in->key), 1);
	if (in->pss_salt > 0) {
		assert_true(EVP_PKEY_CTX_set_rsa_padding(pctx,
		    RSA_PKCS1_PSS_PADDING) > 0);
		assert_true(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx,
		    in->pss_salt) > 0);
		assert_true(EVP_PKEY_CTX_set_rsa_mgf1_md(pctx,
		    in->mgf != NULL ? in->mgf : in->md) > 0);
	}
	assert_true(X509_REQ_sign_ctx(req, ctx) > 0);
	EVP_MD_CTX_free(ctx);
	assert_true((n = i2d_X509_REQ(req, &p)) > 0);
	assert_non_null(out = malloc((size_t)n));
	memcpy(out, p, (size_t)n);
	OPENSSL_free(p);
	X509_REQ_free(req);
	*len = (size_t)n;
	return out;
}

/*
 * csr_parse() on an exact-size heap copy of p[0..n). (libcmocka is not
 * instrumented: its assert_memory_equal() would not see a stale pointer.)
 */
static int
parse_copy(const void *p, size_t n, struct csr *c, char *why, size_t whysz)
{
	uint8_t	*b;
	int	 rc;

	assert_non_null(b = malloc(n > 0 ? n : 1));
	if (n > 0)
		memcpy(b, p, n);
	rc = csr_parse(b, n, c, why, whysz);
	/* csr.spki aliases the input: point it at the caller's bytes. */
	if (rc == 0) {
		assert_true(c->spki > b && c->spki + c->spkilen <= b + n);
		c->spki = (const uint8_t *)p + (c->spki - b);
	}
	free(b);
	return rc;
}

/* Fails with a reason containing word, and leaves nothing behind. */
static void
refused(const void *p, size_t n, const char *word)
{
	static struct csr	 c;
	char			 why[128];

	why[0] = '\0';
	memset(&c, 0xa5, sizeof(c));
	if (parse_copy(p, n, &c, why, sizeof(why)) != -1)
		fail_msg("accepted; expected a refusal for \"%s\"", word);
	if (strstr(why, word) == NULL)
		fail_msg("reason \"%s\" lacks \"%s\"", why, word);
	assert_null(c.spki);
	assert_int_equal(c.nsans, 0);
	assert_string_equal(c.cn, "");
	/* Whatever OpenSSL said about it must not linger for the next. */
	assert_int_equal(ERR_peek_error(), 0);
}

/* Accepted, and with a key OpenSSL's own SPKI decoder takes as well. */
static void
accepted(const void *p, size_t n, struct csr *c)
{
	const unsigned char	*q;
	EVP_PKEY		*pk;
	char			 why[128] = "";

	if (parse_copy(p, n, c, why, sizeof(why)) != 0)
		fail_msg("refused: %s", why);
	assert_int_equal(ERR_peek_error(), 0);
	q = c->spki;
	assert_non_null(pk = d2i_PUBKEY(NULL, &q, (long)c->spkilen));
	assert_ptr_equal(q, c->spki + c->spkilen);
	EVP_PKEY_free(pk);
}

static void
check_spki(const struct csr *c, EVP_PKEY *k)
{
	unsigned char	*p = NULL;
	int		 n;

	assert_true((n = i2d_PUBKEY(k, &p)) > 0);
	assert_int_equal(c->spkilen, (size_t)n);
	assert_memory_equal(c->spki, p, (size_t)n);
	OPENSSL_free(p);
}

/* ---- tests ---- */

static const struct san_in all_sans[] = {
	{ GEN_DNS, "host.example.com", 0 },
	{ GEN_IPADD, "\xc0\x00\x02\x07", 4 },
	{ GEN_IPADD, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16 },
	{ GEN_EMAIL, "ops@example.com", 0 },
	{ GEN_URI, "spiffe://example.com/ns/web", 0 },
	{ GEN_DNS, "*.svc.example.com", 0 },
};

static void
check_all_sans(const struct csr *c)
{
	assert_int_equal(c->nsans, 6);
	assert_int_equal(c->sans[0].type, SAN_DNS);
	assert_string_equal(c->sans[0].value, "host.example.com");
	assert_int_equal(c->sans[1].type, SAN_IP);
	assert_string_equal(c->sans[1].value, "192.0.2.7");
	assert_int_equal(c->sans[2].type, SAN_IP);
	assert_string_equal(c->sans[2].value, "2001:db8::1");
	assert_int_equal(c->sans[3].type, SAN_EMAIL);
	assert_string_equal(c->sans[3].value, "ops@example.com");
	assert_int_equal(c->sans[4].type, SAN_URI);
	assert_string_equal(c->sans[4].value, "spiffe://example.com/ns/web");
	assert_int_equal(c->sans[5].type, SAN_DNS);
	assert_string_equal(c->sans[5].value, "*.svc.example.com");
}

static void
test_ec(void **state)
{
	static const struct {
		EVP_PKEY	**key;
		const EVP_MD	*(*md)(void);
		int		 keytype;
	} cases[] = {
		{ &p256, EVP_sha256, KEYTYPE_EC_P256 },
		{ &p256, EVP_sha512, KEYTYPE_EC_P256 },
		{ &p384, EVP_sha384, KEYTYPE_EC_P384 },
		{ &p521, EVP_sha512, KEYTYPE_EC_P521 },
		{ &p521, EVP_sha256, KEYTYPE_EC_P521 },
	};
	static struct csr	 c;
	uint8_t			 fp[32], *der;
	size_t			 i, len;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct req_in in = { *cases[i].key, cases[i].md(),
		    "host.example.com", 0, 0, 0, all_sans, 6, 0, NULL };

		der = make_req(&in, &len);
		accepted(der, len, &c);
		assert_int_equal(c.keytype, cases[i].keytype);
		assert_int_equal(c.bits, 0);
		assert_string_equal(c.cn, "host.example.com");
		check_all_sans(&c);
		check_spki(&c, *cases[i].key);
		SHA256(der, len, fp);
		assert_memory_equal(c.fp, fp, 32);
		free(der);
	}
}

/*
 * Each thread keeps one key object per curve and replaces its point for
 * every CSR. A CSR signed by another key than its own must still fail
 * right after one with the signer's key, on one thread and on two at once.
 */
struct reuse_run {
	const struct blob	*good, *forged;
	int			 wrong;
};

static void *
reuse_thread(void *arg)
{
	struct reuse_run	*r = arg;
	struct csr		*c;
	int			 i;

	if ((c = malloc(sizeof(*c))) == NULL) {
		r->wrong = -1;
		return NULL;
	}
	for (i = 0; i < 150; i++) {
		if (csr_parse(r->good->b, r->good->n, c, NULL, 0) != 0)
			r->wrong++;
		if (csr_parse(r->forged->b, r->forged->n, c, NULL, 0) != -1)
			r->wrong++;
		ERR_clear_error();
	}
	free(c);
	return NULL;
}

static void
test_ec_key_reuse(void **state)
{
	static struct csr	 c;
	static struct blob	 name, spki_a, spki_b, off, a, b, forged, bad,
				 attrs;
	struct reuse_run	 runs[2];
	pthread_t		 th[2];
	EVP_PKEY		*kb;
	int			 i;

	(void)state;
	assert_non_null(kb = EVP_EC_gen("P-256"));
	attrs.n = 0;
	name_of(&name, OID_CN, 0x0c, "h", NULL);
	spki_of(&spki_a, p256);
	spki_of(&spki_b, kb);
	req_of(&a, p256, "\x02\x01\x00", 3, &name, &spki_a, &attrs, NULL, 0,
	    S(ALG_ECDSA_SHA256), EVP_sha256());
	req_of(&b, kb, "\x02\x01\x00", 3, &name, &spki_b, &attrs, NULL, 0,
	    S(ALG_ECDSA_SHA256), EVP_sha256());
	/* B's key, A's signature */
	req_of(&forged, p256, "\x02\x01\x00", 3, &name, &spki_b, &attrs, NULL,
	    0, S(ALG_ECDSA_SHA256), EVP_sha256());
	off = spki_a;
	off.b[90] ^= 1;
	req_of(&bad, p256, "\x02\x01\x00", 3, &name, &off, &attrs, NULL, 0,
	    S(ALG_ECDSA_SHA256), EVP_sha256());
	accepted(a.b, a.n, &c);
	check_spki(&c, p256);
	refused(forged.b, forged.n, "bad CSR signature");
	refused(bad.b, bad.n, "invalid public key");
	accepted(b.b, b.n, &c);
	check_spki(&c, kb);
	accepted(a.b, a.n, &c);
	check_spki(&c, p256);
	refused(forged.b, forged.n, "bad CSR signature");
	for (i = 0; i < 2; i++) {
		runs[i] = (struct reuse_run){ i ? &b : &a, &forged, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, reuse_thread,
		    &runs[i]), 0);
	}
	for (i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(runs[i].wrong, 0);
	}
	EVP_PKEY_free(kb);
}

static void
test_spki_aliases_input(void **state)
{
	static struct csr	 c;
	struct req_in		 in = { p256, EVP_sha256(), "a", 0, 0, 0, NULL,
	    0, 0, NULL };
	uint8_t			*der;
	size_t			 len;

	(void)state;
	der = make_req(&in, &len);
	assert_int_equal(csr_parse(der, len, &c, NULL, 0), 0);
	/* The certificate will carry these very bytes. */
	assert_true(c.spki > der && c.spki + c.spkilen < der + len);
	check_spki(&c, p256);
	assert_int_equal(c.nsans, 0);
	free(der);
}

static void
test_rsa(void **state)
{
	static struct csr	 c;
	static const struct {
		const EVP_MD	*(*md)(void);
		const EVP_MD	*(*mgf)(void);
		int		 salt;
	} cases[] = {
		{ EVP_sha256, NULL, 0 },
		{ EVP_sha384, NULL, 0 },
		{ EVP_sha512, NULL, 0 },
		{ EVP_sha256, NULL, 32 },	/* PSS as Go writes it */
		{ EVP_sha384, NULL, 48 },
		{ EVP_sha512, NULL, 64 },
		{ EVP_sha256, EVP_sha512, 17 },
		{ EVP_sha256, NULL, 20 },	/* OpenSSL leaves 20 out */
	};
	uint8_t			*der;
	size_t			 i, len;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct req_in in = { rsa2048, cases[i].md(), "rsa.example", 0,
		    0, 0, all_sans, 1, cases[i].salt,
		    cases[i].mgf ? cases[i].mgf() : NULL };

		der = make_req(&in, &len);
		accepted(der, len, &c);
		assert_int_equal(c.keytype, KEYTYPE_RSA);
		assert_int_equal(c.bits, 2048);
		assert_string_equal(c.cn, "rsa.example");
		assert_int_equal(c.nsans, 1);
		check_spki(&c, rsa2048);
		free(der);
	}
}

static void
test_rsa_short(void **state)
{
	struct req_in	 in = { rsa1024, EVP_sha256(), "weak", 0, 0, 0, NULL,
	    0, 0, NULL };
	uint8_t		*der;
	size_t		 len;

	(void)state;
	der = make_req(&in, &len);
	refused(der, len, "2048");
	free(der);
}

static void
test_pss_sha1_refused(void **state)
{
	struct req_in	 in = { rsa2048, EVP_sha1(), "sha1", 0, 0, 0, NULL,
	    0, 20, NULL };
	uint8_t		*der;
	size_t		 len;

	(void)state;
	der = make_req(&in, &len);
	refused(der, len, "RSASSA-PSS hash");
	free(der);
	/* SHA-256 message hash, SHA-1 mask */
	in.md = EVP_sha256();
	in.mgf = EVP_sha1();
	in.pss_salt = 32;
	der = make_req(&in, &len);
	refused(der, len, "mask");
	free(der);
}

static void
test_ed25519(void **state)
{
	static struct csr	 c;
	struct req_in		 in = { ed25519, NULL, "ed.example", 0, 0, 0,
	    all_sans, 6, 0, NULL };
	uint8_t			*der;
	size_t			 len;

	(void)state;
	der = make_req(&in, &len);
	accepted(der, len, &c);
	assert_int_equal(c.keytype, KEYTYPE_ED25519);
	assert_string_equal(c.cn, "ed.example");
	check_all_sans(&c);
	check_spki(&c, ed25519);
	free(der);
}

static void
test_other_curve(void **state)
{
	struct req_in	 in = { k1, EVP_sha256(), "k1", 0, 0, 0, NULL, 0, 0,
	    NULL };
	uint8_t		*der;
	size_t		 len;

	(void)state;
	der = make_req(&in, &len);
	refused(der, len, "unsupported EC curve");
	free(der);
}

static void
test_cn(void **state)
{
	static struct csr	 c;
	struct req_in		 in = { p256, EVP_sha256(), NULL, 0, 0, 0,
	    NULL, 0, 0, NULL };
	uint8_t			*der;
	size_t			 len;

	(void)state;
	/* none: O only */
	der = make_req(&in, &len);
	accepted(der, len, &c);
	assert_string_equal(c.cn, "");
	free(der);
	/* two */
	in.cn = "first";
	in.twocn = 1;
	der = make_req(&in, &len);
	refused(der, len, "more than one commonName");
	free(der);
	/* BMPString, converted to UTF-8: "hé€" */
	in.twocn = 0;
	in.cn = "\0h\0\xe9\x20\xac";
	in.cntype = V_ASN1_BMPSTRING;
	in.cnlen = 6;
	der = make_req(&in, &len);
	accepted(der, len, &c);
	assert_string_equal(c.cn, "h\xc3\xa9\xe2\x82\xac");
	free(der);
	/* TeletexString of ASCII, as old tools write it */
	in.cn = "t61.example";
	in.cntype = V_ASN1_T61STRING;
	in.cnlen = strlen(in.cn);
	der = make_req(&in, &len);
	accepted(der, len, &c);
	assert_string_equal(c.cn, "t61.example");
	free(der);
	/* PrintableString, IA5String */
	in.cntype = V_ASN1_PRINTABLESTRING;
	der = make_req(&in, &len);
	accepted(der, len, &c);
	assert_string_equal(c.cn, "t61.example");
	free(der);
	in.cntype = V_ASN1_IA5STRING;
	der = make_req(&in, &len);
	accepted(der, len, &c);
	assert_string_equal(c.cn, "t61.example");
	free(der);
}

static void
test_cn_values(void **state)
{
	static const struct {
		int		 tag;
		const char	*v;
		size_t		 len;
		const char	*want;	/* NULL: refused with word */
		const char	*word;
	} cases[] = {
		{ 0x0c, V("ok.example"), "ok.example", NULL },
		{ 0x0c, V(""), "", NULL },
		{ 0x0c, V("\xf0\x9f\x94\x91 key"), "\xf0\x9f\x94\x91 key", NULL },
		{ 0x0c, V("a\x01" "b"), NULL, "control" },
		{ 0x0c, V("a\0b"), NULL, "control" },
		{ 0x0c, V("a\x7f" "b"), NULL, "control" },
		{ 0x0c, V("a\nb"), NULL, "control" },
		{ 0x0c, V("\xc0\xae"), NULL, "text" },	/* overlong */
		{ 0x0c, V("\xe0\x80\xae"), NULL, "text" },	/* overlong */
		{ 0x0c, V("\xed\xa0\x80"), NULL, "text" },	/* surrogate */
		{ 0x0c, V("\xf4\x90\x80\x80"), NULL, "text" }, /* > U+10FFFF */
		{ 0x0c, V("abc\xe2\x82"), NULL, "text" },	/* cut short */
		{ 0x0c, V("\x80"), NULL, "text" },
		{ 0x13, V("caf\xc3\xa9"), NULL, "text" },	/* not 7-bit */
		{ 0x16, V("\xff"), NULL, "text" },
		{ 0x1e, V("\0h\0\xe9\x20\xac"), "h\xc3\xa9\xe2\x82\xac", NULL },
		{ 0x1e, V("\0A\xd8\0"), NULL, "malformed" }, /* surrogate */
		{ 0x1e, V("\0A\0"), NULL, "malformed" },	/* odd */
		{ 0x1e, V("\0\x01"), NULL, "control" },
		{ 0x1e, V("\0\0"), NULL, "control" },
		{ 0x1c, V("\0\0\0A"), NULL, "string type" }, /* Universal */
		{ 0x04, V("x"), NULL, "string type" },
	};
	static struct csr	 c;
	static struct blob	 req;
	struct blob		 name, spki, attrs, atv;
	char			 big[300];
	size_t			 i;

	(void)state;
	spki_of(&spki, p256);
	attrs.n = 0;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* By hand: name_of()'s strlen() would stop at a NUL. */
		atv.n = 0;
		add(&atv, OID_CN, 5);
		add_tlv(&atv, (uint8_t)cases[i].tag, cases[i].v, cases[i].len);
		wrap(&atv, 0x30);
		wrap(&atv, 0x31);
		wrap(&atv, 0x30);
		name = atv;
		req_of(&req, p256, "\x02\x01\x00", 3, &name, &spki, &attrs,
		    NULL, 0, S(ALG_ECDSA_SHA256), EVP_sha256());
		if (cases[i].want != NULL) {
			accepted(req.b, req.n, &c);
			assert_string_equal(c.cn, cases[i].want);
		} else
			refused(req.b, req.n, cases[i].word);
	}
	/* 255 bytes fit csr.cn, 256 do not; three-byte characters too */
	memset(big, 'a', sizeof(big));
	big[255] = '\0';
	name_of(&name, OID_CN, 0x0c, big, NULL);
	req_of(&req, p256, "\x02\x01\x00", 3, &name, &spki, &attrs, NULL, 0,
	    S(ALG_ECDSA_SHA256), EVP_sha256());
	accepted(req.b, req.n, &c);
	assert_int_equal(strlen(c.cn), 255);
	big[255] = 'a';
	big[256] = '\0';
	name_of(&name, OID_CN, 0x0c, big, NULL);
	req_of(&req, p256, "\x02\x01\x00", 3, &name, &spki, &attrs, NULL, 0,
	    S(ALG_ECDSA_SHA256), EVP_sha256());
	refused(req.b, req.n, "too long");
	for (i = 0; i + 3 <= 255; i += 3)
		memcpy(big + i, "\xe2\x82\xac", 3);
	memcpy(big + i, "\xe2\x82\xac", 3);	/* 256 + 2 */
	big[i + 3] = '\0';
	name_of(&name, OID_CN, 0x0c, big, NULL);
	req_of(&req, p256, "\x02\x01\x00", 3, &name, &spki, &attrs, NULL, 0,
	    S(ALG_ECDSA_SHA256), EVP_sha256());
	refused(req.b, req.n, "too long");
	/* the CN among other attributes, and multi-valued RDNs */
	name_of(&name, OID_O, 0x0c, "org", OID_CN, 0x13, "x.example", OID_O,
	    0x0c, "org2", NULL);
	req_of(&req, p256, "\x02\x01\x00", 3, &name, &spki, &attrs, NULL, 0,
	    S(ALG_ECDSA_SHA256), EVP_sha256());
	accepted(req.b, req.n, &c);
	assert_string_equal(c.cn, "x.example");
	atv.n = 0;
	add(&atv, S("\x30\x07" OID_O "\x0c\x00" "\x30\x08" OID_CN "\x0c\x01Z"));
	wrap(&atv, 0x31);
	wrap(&atv, 0x30);
	req_of(&req, p256, "\x02\x01\x00", 3, &atv, &spki, &attrs, NULL, 0,
	    S(ALG_ECDSA_SHA256), EVP_sha256());
	accepted(req.b, req.n, &c);
	assert_string_equal(c.cn, "Z");
	/* an empty RDN SET is not a Name */
	atv.n = 0;
	add(&atv, S("\x31\x00"));
	wrap(&atv, 0x30);
	req_of(&req, p256, "\x02\x01\x00", 3, &atv, &spki, &attrs, NULL, 0,
	    S(ALG_ECDSA_SHA256), EVP_sha256());
	refused(req.b, req.n, "malformed subject");
	/* an empty Name is fine */
	atv.n = 0;
	wrap(&atv, 0x30);
	req_of(&req, p256, "\x02\x01\x00", 3, &atv, &spki, &attrs, NULL, 0,
	    S(ALG_ECDSA_SHA256), EVP_sha256());
	accepted(req.b, req.n, &c);
	assert_string_equal(c.cn, "");
	/* CN in two RDNs */
	name_of(&name, OID_CN, 0x0c, "a", OID_CN, 0x0c, "b", NULL);
	req_of(&req, p256, "\x02\x01\x00", 3, &name, &spki, &attrs, NULL, 0,
	    S(ALG_ECDSA_SHA256), EVP_sha256());
	refused(req.b, req.n, "more than one commonName");
}

static void
test_sans(void **state)
{
	static const struct {
		struct san_in	 in;
		int		 type;		/* 0: refused with word */
		const char	*want;
	} cases[] = {
		{ { GEN_DNS, "a.example", 0 }, SAN_DNS, "a.example" },
		{ { GEN_EMAIL, "a@b.example", 0 }, SAN_EMAIL, "a@b.example" },
		{ { GEN_URI, "https://x/y?z=1", 0 }, SAN_URI,
		    "https://x/y?z=1" },
		{ { GEN_IPADD, "\x0a\0\0\x01", 4 }, SAN_IP, "10.0.0.1" },
		{ { GEN_IPADD, "\0\0\0\0\0\0\0\0\0\0\xff\xff\x0a\0\0\x01", 16 },
		    SAN_IP, "::ffff:10.0.0.1" },
		{ { GEN_IPADD, "\xfe\x80\0\0\0\0\0\0\0\0\0\0\0\0\0\x01", 16 },
		    SAN_IP, "fe80::1" },
		{ { GEN_IPADD, "\x0a\0\0\x01\xff\0\0\0", 8 }, 0, "iPAddress" },
		{ { GEN_IPADD, "\x0a\0\0", 3 }, 0, "iPAddress" },
		{ { GEN_RID, "1.2.3.4", 0 }, 0, "unsupported SAN type" },
		{ { GEN_DIRNAME, "dir", 0 }, 0, "unsupported SAN type" },
		{ { GEN_DNS, "a b", 0 }, 0, "printable" },
		{ { GEN_DNS, "a\0b", 3 }, 0, "printable" },
		{ { GEN_DNS, "a\tb", 0 }, 0, "printable" },
		{ { GEN_DNS, "caf\xc3\xa9", 0 }, 0, "printable" },
		{ { GEN_DNS, "a\x7f", 0 }, 0, "printable" },
	};
	static struct csr	 c;
	uint8_t			*der;
	size_t			 i, len;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct req_in in = { p256, EVP_sha256(), "h", 0, 0, 0,
		    &cases[i].in, 1, 0, NULL };

		der = make_req(&in, &len);
		if (cases[i].type != 0) {
			accepted(der, len, &c);
			assert_int_equal(c.nsans, 1);
			assert_int_equal(c.sans[0].type, cases[i].type);
			assert_string_equal(c.sans[0].value, cases[i].want);
		} else
			refused(der, len, cases[i].want);
		free(der);
	}
}

/* GeneralNames OpenSSL will not write, and the limits. */
static void
test_sans_hand(void **state)
{
	static struct csr	 c;
	static struct blob	 req, gn, exts, attrs, v;
	char			 big[300];
	int			 i;

	(void)state;
	/* empty dNSName, empty GeneralNames, otherName, constructed [2] */
	static const struct {
		const char	*gn;
		size_t		 len;
		const char	*word;
	} bad[] = {
		{ "\x82\x00", 2, "empty SAN" },
		{ "", 0, "malformed subjectAltName" },
		{ "\xa0\x09\x06\x03\x2a\x03\x04\xa0\x02\x05\x00", 11,
		    "unsupported SAN type" },
		{ "\xa2\x03\x16\x01x", 5, "unsupported SAN type" },
		{ "\x82\x05" "a.b", 5, "malformed subjectAltName" },
		{ "\x82\x01x\x00", 4, "malformed subjectAltName" },
	};
	for (i = 0; i < (int)(sizeof(bad) / sizeof(bad[0])); i++) {
		gnames(&v, bad[i].gn, bad[i].len);
		exts.n = 0;
		add_ext(&exts, S(OID_SAN), -1, v.b, v.n);
		attrs.n = 0;
		add_extreq(&attrs, &exts);
		simple_req(&req, &attrs);
		refused(req.b, req.n, bad[i].word);
	}
	/* CSR_MAX_SANS names fit, one more does not */
	gn.n = 0;
	for (i = 0; i < CSR_MAX_SANS; i++) {
		snprintf(big, sizeof(big), "h%d.example", i);
		add_tlv(&gn, 0x82, big, strlen(big));
	}
	gnames(&v, gn.b, gn.n);
	exts.n = 0;
	add_ext(&exts, S(OID_SAN), -1, v.b, v.n);
	attrs.n = 0;
	add_extreq(&attrs, &exts);
	simple_req(&req, &attrs);
	accepted(req.b, req.n, &c);
	assert_int_equal(c.nsans, CSR_MAX_SANS);
	assert_string_equal(c.sans[CSR_MAX_SANS - 1].value, "h63.example");
	add_tlv(&gn, 0x87, "\x7f\0\0\x01", 4);
	gnames(&v, gn.b, gn.n);
	exts.n = 0;
	add_ext(&exts, S(OID_SAN), -1, v.b, v.n);
	attrs.n = 0;
	add_extreq(&attrs, &exts);
	simple_req(&req, &attrs);
	refused(req.b, req.n, "too many SANs");
	/* 255 bytes fit csr_san.value, 256 do not */
	memset(big, 'd', sizeof(big));
	for (i = 255; i <= 256; i++) {
		gn.n = 0;
		add_tlv(&gn, 0x82, big, (size_t)i);
		gnames(&v, gn.b, gn.n);
		exts.n = 0;
		add_ext(&exts, S(OID_SAN), 1, v.b, v.n);	/* critical */
		attrs.n = 0;
		add_extreq(&attrs, &exts);
		simple_req(&req, &attrs);
		if (i == 255) {
			accepted(req.b, req.n, &c);
			assert_int_equal(strlen(c.sans[0].value), 255);
		} else
			refused(req.b, req.n, "SAN too long");
	}
}

static void
test_extensions(void **state)
{
	static struct csr	 c;
	static struct blob	 req, exts, attrs, v, a;

	(void)state;
	gnames(&v, S("\x82\x01x"));
	/* other extensions are skipped, but must be DER */
	exts.n = 0;
	add_ext(&exts, S(OID_BC), 1, S("\x30\x00"));
	add_ext(&exts, S(OID_SAN), -1, v.b, v.n);
	add_ext(&exts, S("\x06\x04\x2a\x03\x04\x05"), -1, S("\x04\x02hi"));
	attrs.n = 0;
	add_extreq(&attrs, &exts);
	simple_req(&req, &attrs);
	accepted(req.b, req.n, &c);
	assert_int_equal(c.nsans, 1);
	assert_string_equal(c.sans[0].value, "x");
	/* an extension's value of two TLVs, or of a bad one */
	exts.n = 0;
	add_ext(&exts, S(OID_BC), -1, S("\x30\x00\x30\x00"));
	attrs.n = 0;
	add_extreq(&attrs, &exts);
	simple_req(&req, &attrs);
	refused(req.b, req.n, "malformed extension");
	exts.n = 0;
	add_ext(&exts, S(OID_BC), -1, S("\x30\x03\x02\x81\x01"));
	attrs.n = 0;
	add_extreq(&attrs, &exts);
	simple_req(&req, &attrs);
	refused(req.b, req.n, "malformed extension");
	/* critical FALSE is spelled out only by BER */
	exts.n = 0;
	add_ext(&exts, S(OID_SAN), 0, v.b, v.n);
	attrs.n = 0;
	add_extreq(&attrs, &exts);
	simple_req(&req, &attrs);
	refused(req.b, req.n, "malformed extension");
	/* two subjectAltNames */
	exts.n = 0;
	add_ext(&exts, S(OID_SAN), -1, v.b, v.n);
	add_ext(&exts, S(OID_SAN), -1, v.b, v.n);
	attrs.n = 0;
	add_extreq(&attrs, &exts);
	simple_req(&req, &attrs);
	refused(req.b, req.n, "more than one subjectAltName");
	/* two extensionRequests */
	exts.n = 0;
	add_ext(&exts, S(OID_SAN), -1, v.b, v.n);
	attrs.n = 0;
	add_extreq(&attrs, &exts);
	add_extreq(&attrs, &exts);
	simple_req(&req, &attrs);
	refused(req.b, req.n, "more than one extensionRequest");
	/* an extensionRequest with two values */
	a.n = 0;
	add(&a, S(OID_EXTREQ "\x31\x04\x30\x00\x30\x00"));
	attrs.n = 0;
	add_wrap(&attrs, 0x30, &a);
	simple_req(&req, &attrs);
	refused(req.b, req.n, "malformed extensionRequest");
	/* an empty one is harmless */
	exts.n = 0;
	attrs.n = 0;
	add_extreq(&attrs, &exts);
	simple_req(&req, &attrs);
	accepted(req.b, req.n, &c);
	assert_int_equal(c.nsans, 0);
	/* challengePassword and friends are skipped, nested or not */
	a.n = 0;
	add(&a, S(OID_CHALLENGE "\x31\x08\x0c\x06s3cret"));
	attrs.n = 0;
	add_wrap(&attrs, 0x30, &a);
	a.n = 0;
	add(&a, S("\x06\x03\x2a\x03\x04\x31\x0a\x30\x08\xa1\x06\x30\x04\x02\x02\x01\x00"));
	add_wrap(&attrs, 0x30, &a);
	exts.n = 0;
	add_ext(&exts, S(OID_SAN), -1, v.b, v.n);
	add_extreq(&attrs, &exts);
	simple_req(&req, &attrs);
	accepted(req.b, req.n, &c);
	assert_int_equal(c.nsans, 1);
	/* ... but must still be DER all the way down */
	a.n = 0;
	add(&a, S("\x06\x03\x2a\x03\x04\x31\x06\x30\x04\xa1\x02\x30\x05"));
	attrs.n = 0;
	add_wrap(&attrs, 0x30, &a);
	simple_req(&req, &attrs);
	refused(req.b, req.n, "malformed attributes");
	/* nesting as deep as the skipper goes (the SET and 15), and deeper */
	for (int depth = 15; depth <= 16; depth++) {
		a.n = 0;
		add(&a, S("\x05\x00"));
		for (int j = 0; j < depth; j++)
			wrap(&a, 0x30);
		wrap(&a, 0x31);
		v = a;
		a.n = 0;
		add(&a, S("\x06\x03\x2a\x03\x04"));
		add(&a, v.b, v.n);
		attrs.n = 0;
		add_wrap(&attrs, 0x30, &a);
		simple_req(&req, &attrs);
		if (depth == 15)
			accepted(req.b, req.n, &c);
		else
			refused(req.b, req.n, "malformed attributes");
	}
	/* and an OID is an OID */
	a.n = 0;
	add(&a, S("\x06\x02\x2a\x83\x31\x00"));
	attrs.n = 0;
	add_wrap(&attrs, 0x30, &a);
	simple_req(&req, &attrs);
	refused(req.b, req.n, "malformed attributes");
	a.n = 0;
	add(&a, S("\x06\x02\x80\x01\x31\x00"));
	attrs.n = 0;
	add_wrap(&attrs, 0x30, &a);
	simple_req(&req, &attrs);
	refused(req.b, req.n, "malformed attributes");
}

static void
test_structure(void **state)
{
	static struct csr	 c;
	static struct blob	 req, name, spki, attrs, bad;
	struct der		 d;
	struct der_tlv		 t;

	(void)state;
	name_of(&name, OID_CN, 0x0c, "h", NULL);
	spki_of(&spki, p256);
	attrs.n = 0;
	req_of(&req, p256, "\x02\x01\x00", 3, &name, &spki, &attrs, NULL, 0,
	    S(ALG_ECDSA_SHA256), EVP_sha256());
	accepted(req.b, req.n, &c);
	/* trailing bytes after the request */
	add(&req, "\0", 1);
	refused(req.b, req.n, "malformed CSR");
	/* versions other than v1 (0), and 0 not in minimal form */
	req_of(&req, p256, "\x02\x01\x01", 3, &name, &spki, &attrs, NULL, 0,
	    S(ALG_ECDSA_SHA256), EVP_sha256());
	refused(req.b, req.n, "version");
	req_of(&req, p256, "\x02\x02\x00\x00", 4, &name, &spki, &attrs, NULL,
	    0, S(ALG_ECDSA_SHA256), EVP_sha256());
	refused(req.b, req.n, "malformed CSR");
	req_of(&req, p256, "\x0a\x01\x00", 3, &name, &spki, &attrs, NULL, 0,
	    S(ALG_ECDSA_SHA256), EVP_sha256());
	refused(req.b, req.n, "malformed CSR");
	/* no attributes at all; then a field after them, signed */
	req_of(&req, p256, "\x02\x01\x00", 3, &name, &spki, NULL, NULL, 0,
	    S(ALG_ECDSA_SHA256), EVP_sha256());
	refused(req.b, req.n, "malformed CSR");
	req_of(&req, p256, "\x02\x01\x00", 3, &name, &spki, &attrs, "\x05\x00",
	    2, S(ALG_ECDSA_SHA256), EVP_sha256());
	refused(req.b, req.n, "malformed CSR");
	/* a trailing byte inside the SPKI and inside the Name */
	bad = spki;
	add(&bad, "\0", 1);
	bad.b[1]++;
	req_of(&req, p256, "\x02\x01\x00", 3, &name, &bad, &attrs, NULL, 0,
	    S(ALG_ECDSA_SHA256), EVP_sha256());
	refused(req.b, req.n, "malformed public key");
	bad = name;
	add(&bad, "\0", 1);
	bad.b[1]++;
	req_of(&req, p256, "\x02\x01\x00", 3, &bad, &spki, &attrs, NULL, 0,
	    S(ALG_ECDSA_SHA256), EVP_sha256());
	refused(req.b, req.n, "malformed subject");
	/* signature algorithms that do not fit the key or are malformed */
	req_of(&req, p256, "\x02\x01\x00", 3, &name, &spki, &attrs, NULL, 0,
	    S(ALG_RSA_SHA256), EVP_sha256());
	refused(req.b, req.n, "does not fit the key");
	req_of(&req, p256, "\x02\x01\x00", 3, &name, &spki, &attrs, NULL, 0,
	    S("\x30\x0c\x06\x08\x2a\x86\x48\xce\x3d\x04\x03\x02\x05\x00"),
	    EVP_sha256());
	refused(req.b, req.n, "malformed signature algorithm");
	req_of(&req, p256, "\x02\x01\x00", 3, &name, &spki, &attrs, NULL, 0,
	    S("\x30\x09\x06\x07\x2a\x86\x48\xce\x3d\x04\x01"), EVP_sha1());
	refused(req.b, req.n, "unsupported signature algorithm");
	/* the signature's BIT STRING with unused bits */
	req_of(&req, p256, "\x02\x01\x00", 3, &name, &spki, &attrs, NULL, 0,
	    S(ALG_ECDSA_SHA256), EVP_sha256());
	der_init(&d, req.b, req.n);
	assert_int_equal(der_expect(&d, 0x30, &t), 0);
	assert_int_equal(der_enter(&t, &d), 0);
	assert_int_equal(der_expect(&d, 0x30, &t), 0);
	assert_int_equal(der_expect(&d, 0x30, &t), 0);
	assert_int_equal(der_expect(&d, 0x03, &t), 0);
	req.b[t.val - req.b] = 1;
	refused(req.b, req.n, "malformed signature");
	/* the signature as an OCTET STRING */
	req.b[t.val - req.b] = 0;
	req.b[t.raw - req.b] = 0x04;
	refused(req.b, req.n, "malformed CSR");
}

static void
test_rsa_sigalg_params(void **state)
{
	static struct csr	 c;
	static struct blob	 req, name, spki, attrs;

	(void)state;
	name_of(&name, OID_CN, 0x0c, "h", NULL);
	spki_of(&spki, rsa2048);
	attrs.n = 0;
	/* RFC 4055: NULL, and absent MUST be accepted as well */
	req_of(&req, rsa2048, "\x02\x01\x00", 3, &name, &spki, &attrs, NULL, 0,
	    S(ALG_RSA_SHA256), EVP_sha256());
	accepted(req.b, req.n, &c);
	req_of(&req, rsa2048, "\x02\x01\x00", 3, &name, &spki, &attrs, NULL, 0,
	    S(ALG_RSA_SHA256_NOPARAMS), EVP_sha256());
	accepted(req.b, req.n, &c);
	req_of(&req, rsa2048, "\x02\x01\x00", 3, &name, &spki, &attrs, NULL, 0,
	    S("\x30\x0d\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0b\x04\x00"),
	    EVP_sha256());
	refused(req.b, req.n, "malformed signature algorithm");
	/* a hash other than the one named */
	req_of(&req, rsa2048, "\x02\x01\x00", 3, &name, &spki, &attrs, NULL, 0,
	    S(ALG_RSA_SHA256), EVP_sha384());
	refused(req.b, req.n, "bad CSR signature");
	/* Ed25519 signature on an RSA key */
	req_of(&req, rsa2048, "\x02\x01\x00", 3, &name, &spki, &attrs, NULL, 0,
	    S("\x30\x05\x06\x03\x2b\x65\x70"), EVP_sha256());
	refused(req.b, req.n, "does not fit the key");
}

/* PSS parameters OpenSSL would not write. */
static void
test_pss_params(void **state)
{
#define PSS_HASH256 "\xa0\x0f\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x05\x00"
#define PSS_MGF256  "\xa1\x1c\x30\x1a\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x08" \
		    "\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x05\x00"
#define PSS_OID	    "\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0a"
	static const struct {
		const char	*params;	/* inside RSASSA-PSS-params */
		size_t		 len;
		const char	*word;		/* NULL: accepted */
	} cases[] = {
		{ S(PSS_HASH256 PSS_MGF256 "\xa2\x03\x02\x01\x20"), NULL },
		{ S(PSS_HASH256 PSS_MGF256 "\xa2\x03\x02\x01\x14"),
		    "malformed RSASSA-PSS" },		/* 20 spelled out */
		{ S(PSS_HASH256 PSS_MGF256), "bad CSR signature" }, /* 20 */
		{ S(PSS_HASH256 PSS_MGF256 "\xa2\x03\x02\x01\x20"
		    "\xa3\x03\x02\x01\x01"), "malformed RSASSA-PSS" },
		{ S(PSS_MGF256 "\xa2\x03\x02\x01\x20"), "RSASSA-PSS hash" },
		{ S(PSS_HASH256 "\xa2\x03\x02\x01\x20"), "mask" },
		{ S(PSS_HASH256 PSS_MGF256 "\xa2\x03\x02\x01\xe0"),
		    "malformed RSASSA-PSS" },		/* negative */
		{ S(PSS_HASH256 PSS_MGF256 "\xa2\x04\x02\x02\x10\x00"),
		    "malformed RSASSA-PSS" },		/* 4096 */
		{ S(PSS_MGF256 PSS_HASH256 "\xa2\x03\x02\x01\x20"),
		    "RSASSA-PSS hash" },		/* out of order */
		{ S(PSS_HASH256 PSS_MGF256 "\xa2\x03\x02\x01\x20\x00"),
		    "malformed signature algorithm" },	/* not even DER */
		{ S(PSS_HASH256 PSS_MGF256 "\xa2\x03\x02\x01\x20\x05\x00"),
		    "malformed RSASSA-PSS" },
	};
	static struct csr	 c;
	static struct blob	 req, name, spki, attrs, alg, p;
	EVP_MD_CTX		*ctx;
	EVP_PKEY_CTX		*pctx;
	struct blob		 cri, sig;
	size_t			 i, siglen;

	(void)state;
	name_of(&name, OID_CN, 0x0c, "pss", NULL);
	spki_of(&spki, rsa2048);
	attrs.n = 0;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		p.n = 0;
		add_tlv(&p, 0x30, cases[i].params, cases[i].len);
		alg.n = 0;
		add(&alg, S(PSS_OID));
		add(&alg, p.b, p.n);
		wrap(&alg, 0x30);
		/* req_of() signs PKCS#1; PSS-sign salt 32 here by hand */
		cri.n = 0;
		add(&cri, "\x02\x01\x00", 3);
		add(&cri, name.b, name.n);
		add(&cri, spki.b, spki.n);
		add_wrap(&cri, 0xa0, &attrs);
		wrap(&cri, 0x30);
		assert_non_null(ctx = EVP_MD_CTX_new());
		assert_int_equal(EVP_DigestSignInit(ctx, &pctx, EVP_sha256(),
		    NULL, rsa2048), 1);
		assert_true(EVP_PKEY_CTX_set_rsa_padding(pctx,
		    RSA_PKCS1_PSS_PADDING) > 0);
		assert_true(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) > 0);
		sig.b[0] = 0;
		siglen = sizeof(sig.b) - 1;
		assert_int_equal(EVP_DigestSign(ctx, sig.b + 1, &siglen,
		    cri.b, cri.n), 1);
		sig.n = siglen + 1;
		EVP_MD_CTX_free(ctx);
		req = cri;
		add(&req, alg.b, alg.n);
		add_wrap(&req, 0x03, &sig);
		wrap(&req, 0x30);
		if (cases[i].word == NULL)
			accepted(req.b, req.n, &c);
		else
			refused(req.b, req.n, cases[i].word);
	}
	/* PSS with no parameters at all */
	alg.n = 0;
	add(&alg, S(PSS_OID));
	wrap(&alg, 0x30);
	req_of(&req, rsa2048, "\x02\x01\x00", 3, &name, &spki, &attrs, NULL, 0,
	    alg.b, alg.n, EVP_sha256());
	refused(req.b, req.n, "malformed RSASSA-PSS");
}

static void
test_keys(void **state)
{
	static struct csr	 c;
	static struct blob	 req, name, spki, attrs, bad, k, rsak;
	BIGNUM			*n = NULL;
	static uint8_t		 big[1 + 16384 / 8];
	uint8_t			 nb[257];
	size_t			 i;

	(void)state;
	name_of(&name, OID_CN, 0x0c, "h", NULL);
	attrs.n = 0;
	spki_of(&spki, p256);
	assert_int_equal(spki.n, 91);
	/* compressed point: 03 22 00 02|y0 X */
	bad.n = 0;
	add(&bad, spki.b + 2, 21);
	k.n = 0;
	add(&k, "\0", 1);
	add(&k, (uint8_t []){ (uint8_t)(0x02 | (spki.b[90] & 1)) }, 1);
	add(&k, spki.b + 2 + 21 + 4, 32);
	add_wrap(&bad, 0x03, &k);
	wrap(&bad, 0x30);
	req_of(&req, p256, "\x02\x01\x00", 3, &name, &bad, &attrs, NULL, 0,
	    S(ALG_ECDSA_SHA256), EVP_sha256());
	refused(req.b, req.n, "point encoding");
	/* a point not on the curve */
	bad = spki;
	bad.b[90] ^= 1;
	req_of(&req, p256, "\x02\x01\x00", 3, &name, &bad, &attrs, NULL, 0,
	    S(ALG_ECDSA_SHA256), EVP_sha256());
	refused(req.b, req.n, "invalid public key");
	/* unused bits in the key's BIT STRING */
	bad = spki;
	bad.b[2 + 21 + 2] = 1;
	req_of(&req, p256, "\x02\x01\x00", 3, &name, &bad, &attrs, NULL, 0,
	    S(ALG_ECDSA_SHA256), EVP_sha256());
	refused(req.b, req.n, "malformed public key");
	/* a P-256 point under the P-384 OID */
	bad.n = 0;
	add(&bad, S("\x30\x10\x06\x07\x2a\x86\x48\xce\x3d\x02\x01"
	    "\x06\x05\x2b\x81\x04\x00\x22"));
	add(&bad, spki.b + 2 + 21, spki.n - 2 - 21);
	wrap(&bad, 0x30);
	req_of(&req, p256, "\x02\x01\x00", 3, &name, &bad, &attrs, NULL, 0,
	    S(ALG_ECDSA_SHA256), EVP_sha256());
	refused(req.b, req.n, "malformed");
	/* an EC key without parameters, and an unknown key algorithm */
	bad.n = 0;
	add(&bad, S("\x30\x09\x06\x07\x2a\x86\x48\xce\x3d\x02\x01"));
	add(&bad, spki.b + 2 + 21, spki.n - 2 - 21);
	wrap(&bad, 0x30);
	req_of(&req, p256, "\x02\x01\x00", 3, &name, &bad, &attrs, NULL, 0,
	    S(ALG_ECDSA_SHA256), EVP_sha256());
	refused(req.b, req.n, "unsupported EC curve");
	bad.n = 0;
	add(&bad, S("\x30\x05\x06\x03\x2b\x65\x71"));	/* Ed448 */
	add_tlv(&bad, 0x03, "\0" "0123456789012345678901234567890123456789"
	    "0123456789012345", 58);
	wrap(&bad, 0x30);
	req_of(&req, p256, "\x02\x01\x00", 3, &name, &bad, &attrs, NULL, 0,
	    S(ALG_ECDSA_SHA256), EVP_sha256());
	refused(req.b, req.n, "unsupported key type");
	/* Ed25519 with parameters, or with a short key */
	spki_of(&bad, ed25519);
	k.n = 0;
	add(&k, S("\x30\x07\x06\x03\x2b\x65\x70\x05\x00"));
	add(&k, bad.b + 2 + 7, bad.n - 2 - 7);
	wrap(&k, 0x30);
	req_of(&req, p256, "\x02\x01\x00", 3, &name, &k, &attrs, NULL, 0,
	    S(ALG_ECDSA_SHA256), EVP_sha256());
	refused(req.b, req.n, "malformed public key");
	k.n = 0;
	add(&k, S("\x30\x05\x06\x03\x2b\x65\x70\x03\x20\x00"));
	add(&k, bad.b + 2 + 7 + 3, 31);
	wrap(&k, 0x30);
	req_of(&req, p256, "\x02\x01\x00", 3, &name, &k, &attrs, NULL, 0,
	    S(ALG_ECDSA_SHA256), EVP_sha256());
	refused(req.b, req.n, "malformed public key");

	/* RSA keys by hand: the modulus of rsa2048, exponents as given */
	assert_int_equal(EVP_PKEY_get_bn_param(rsa2048, OSSL_PKEY_PARAM_RSA_N,
	    &n), 1);
	nb[0] = 0;
	assert_int_equal(BN_bn2binpad(n, nb + 1, 256), 256);
	BN_free(n);
	static const struct {
		const char	*e;
		size_t		 elen;
		int		 neg;		/* drop the modulus's 00 */
		const char	*alg;		/* key algorithm TLV */
		size_t		 alglen;
		const char	*word;		/* NULL: signature check */
	} rsa[] = {
		{ S("\x01\x00\x01"), 0, S("\x30\x0d\x06\x09\x2a\x86\x48\x86"
		    "\xf7\x0d\x01\x01\x01\x05\x00"), NULL },
		{ S("\x03"), 0, S("\x30\x0d\x06\x09\x2a\x86\x48\x86"
		    "\xf7\x0d\x01\x01\x01\x05\x00"), NULL },
		{ S("\x01"), 0, S("\x30\x0d\x06\x09\x2a\x86\x48\x86"
		    "\xf7\x0d\x01\x01\x01\x05\x00"), "exponent" },
		{ S("\x01\x00\x00"), 0, S("\x30\x0d\x06\x09\x2a\x86\x48\x86"
		    "\xf7\x0d\x01\x01\x01\x05\x00"), "exponent" },
		{ S("\x00\x80\x00\x00\x01"), 0, S("\x30\x0d\x06\x09\x2a\x86"
		    "\x48\x86\xf7\x0d\x01\x01\x01\x05\x00"), "exponent" },
		{ S("\xff"), 0, S("\x30\x0d\x06\x09\x2a\x86\x48\x86"
		    "\xf7\x0d\x01\x01\x01\x05\x00"), "exponent" },
		{ S("\x01\x00\x01"), 1, S("\x30\x0d\x06\x09\x2a\x86\x48\x86"
		    "\xf7\x0d\x01\x01\x01\x05\x00"), "malformed RSA key" },
		{ S("\x01\x00\x01"), 0, S("\x30\x0b\x06\x09\x2a\x86\x48\x86"
		    "\xf7\x0d\x01\x01\x01"), "malformed public key" },
	};
	for (i = 0; i < sizeof(rsa) / sizeof(rsa[0]); i++) {
		rsak.n = 0;
		add_tlv(&rsak, 0x02, nb + rsa[i].neg, 257 - (size_t)rsa[i].neg);
		add_tlv(&rsak, 0x02, rsa[i].e, rsa[i].elen);
		wrap(&rsak, 0x30);
		k.n = 0;
		add(&k, "\0", 1);
		add(&k, rsak.b, rsak.n);
		bad.n = 0;
		add(&bad, rsa[i].alg, rsa[i].alglen);
		add_wrap(&bad, 0x03, &k);
		wrap(&bad, 0x30);
		/* signed by the real key: right only for e = 65537 */
		req_of(&req, rsa2048, "\x02\x01\x00", 3, &name, &bad, &attrs,
		    NULL, 0, S(ALG_RSA_SHA256), EVP_sha256());
		if (i == 0) {
			accepted(req.b, req.n, &c);
			assert_int_equal(c.bits, 2048);
		} else
			refused(req.b, req.n, rsa[i].word != NULL ?
			    rsa[i].word : "bad CSR signature");
	}
	/* 16385 bits; an exponent of five octets */
	rsak.n = 0;
	memset(big, 0xff, sizeof(big));
	big[0] = 1;
	add_tlv(&rsak, 0x02, big, 1 + 16384 / 8);
	add_tlv(&rsak, 0x02, "\x01\x00\x01", 3);
	wrap(&rsak, 0x30);
	k.n = 0;
	add(&k, "\0", 1);
	add(&k, rsak.b, rsak.n);
	bad.n = 0;
	add(&bad, S("\x30\x0d\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01"
	    "\x05\x00"));
	add_wrap(&bad, 0x03, &k);
	wrap(&bad, 0x30);
	req_of(&req, rsa2048, "\x02\x01\x00", 3, &name, &bad, &attrs, NULL, 0,
	    S(ALG_RSA_SHA256), EVP_sha256());
	refused(req.b, req.n, "larger than 16384");
	rsak.n = 0;
	add_tlv(&rsak, 0x02, nb, 257);
	add_tlv(&rsak, 0x02, "\x01\x00\x00\x00\x01", 5);
	wrap(&rsak, 0x30);
	k.n = 0;
	add(&k, "\0", 1);
	add(&k, rsak.b, rsak.n);
	bad.n = 0;
	add(&bad, S("\x30\x0d\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01"
	    "\x05\x00"));
	add_wrap(&bad, 0x03, &k);
	wrap(&bad, 0x30);
	req_of(&req, rsa2048, "\x02\x01\x00", 3, &name, &bad, &attrs, NULL, 0,
	    S(ALG_RSA_SHA256), EVP_sha256());
	refused(req.b, req.n, "exponent");
	/* 2047 bits: the modulus shifted right by one */
	rsak.n = 0;
	for (i = 256; i > 1; i--)
		nb[i] = (uint8_t)(nb[i] >> 1 | nb[i - 1] << 7);
	nb[1] >>= 1;
	add_tlv(&rsak, 0x02, nb + 1, 256);
	add_tlv(&rsak, 0x02, "\x01\x00\x01", 3);
	wrap(&rsak, 0x30);
	k.n = 0;
	add(&k, "\0", 1);
	add(&k, rsak.b, rsak.n);
	bad.n = 0;
	add(&bad, S("\x30\x0d\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01"
	    "\x05\x00"));
	add_wrap(&bad, 0x03, &k);
	wrap(&bad, 0x30);
	req_of(&req, rsa2048, "\x02\x01\x00", 3, &name, &bad, &attrs, NULL, 0,
	    S(ALG_RSA_SHA256), EVP_sha256());
	refused(req.b, req.n, "shorter than 2048");
}

/* Flips a bit of the signature, then one of the signed CN. */
static void
test_tampered(void **state)
{
	static struct csr	 c;
	struct req_in		 in = { p256, EVP_sha256(), "host.example", 0,
	    0, 0, all_sans, 6, 0, NULL };
	uint8_t			*der, *p;
	size_t			 len;

	(void)state;
	der = make_req(&in, &len);
	accepted(der, len, &c);
	der[len - 1] ^= 0x01;
	refused(der, len, "bad CSR signature");
	der[len - 1] ^= 0x01;
	assert_non_null(p = memmem(der, len, "host.example", 12));
	p[0] = 'H';
	refused(der, len, "bad CSR signature");
	free(der);
}

/* Every prefix is refused; every single-bit flip is refused or harmless. */
static void
mutate(const uint8_t *der, size_t len, int flips)
{
	static struct csr	 c;
	char			 why[128];
	uint8_t			*b;
	size_t			 i;
	int			 bit;

	for (i = 0; i < len; i++) {
		why[0] = '\0';
		if (parse_copy(der, i, &c, why, sizeof(why)) != -1)
			fail_msg("prefix of %zu bytes accepted", i);
		assert_true(why[0] != '\0');
	}
	assert_int_equal(ERR_peek_error(), 0);
	if (!flips)
		return;
	assert_non_null(b = malloc(len));
	for (i = 0; i < len; i++) {
		for (bit = 0; bit < 8; bit++) {
			memcpy(b, der, len);
			b[i] ^= (uint8_t)(1 << bit);
			/* all of a request is signed or shapes what is */
			if (csr_parse(b, len, &c, why, sizeof(why)) != -1)
				fail_msg("flip of bit %d of byte %zu accepted",
				    bit, i);
		}
	}
	free(b);
	assert_int_equal(ERR_peek_error(), 0);
}

static void
test_truncations(void **state)
{
	struct req_in	 in[] = {
		{ p256, EVP_sha256(), "host.example", 0, 0, 0, all_sans, 6, 0,
		    NULL },
		{ rsa2048, EVP_sha256(), "rsa.example", 0, 0, 0, all_sans, 2,
		    32, NULL },
		{ ed25519, NULL, "ed", 0, 0, 0, all_sans, 3, 0, NULL },
	};
	uint8_t		*der;
	size_t		 i, len;

	(void)state;
	for (i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		der = make_req(&in[i], &len);
		/* Flipping RSA's 2000-odd bytes eight ways takes too long. */
		mutate(der, len, in[i].key != rsa2048);
		free(der);
	}
}

static void
test_why(void **state)
{
	static struct csr	 c;
	char			 why[8];

	(void)state;
	memset(why, 'x', sizeof(why));
	assert_int_equal(csr_parse((const uint8_t *)"\x30\x00", 2, &c, why,
	    4), -1);
	assert_string_equal(why, "mal");
	memset(why, 'x', sizeof(why));
	assert_int_equal(csr_parse((const uint8_t *)"\x30\x00", 2, &c, why,
	    0), -1);
	assert_int_equal(why[0], 'x');
	assert_int_equal(csr_parse((const uint8_t *)"\x30\x00", 2, &c, NULL,
	    0), -1);
	assert_int_equal(csr_parse(NULL, 0, &c, why, sizeof(why)), -1);
	assert_int_equal(csr_parse((const uint8_t *)"", 0, &c, why,
	    sizeof(why)), -1);
}

static char *
pem_of(const uint8_t *der, size_t len, int new_label)
{
	X509_REQ		*req;
	const unsigned char	*p = der;
	BIO			*bio;
	char			*data, *s;
	long			 n;

	assert_non_null(req = d2i_X509_REQ(NULL, &p, (long)len));
	assert_non_null(bio = BIO_new(BIO_s_mem()));
	assert_int_equal(new_label ? PEM_write_bio_X509_REQ_NEW(bio, req) :
	    PEM_write_bio_X509_REQ(bio, req), 1);
	assert_true((n = BIO_get_mem_data(bio, &data)) > 0);
	assert_non_null(s = strndup(data, (size_t)n));
	BIO_free(bio);
	X509_REQ_free(req);
	return s;
}

/* csr_pem_to_der() on an exact-size heap copy of s. */
static int
pem_copy(const char *s, uint8_t **der, size_t *len)
{
	char	*b;
	int	 rc;

	assert_non_null(b = strdup(s));
	rc = csr_pem_to_der(b, der, len);
	free(b);
	if (rc == -1) {
		assert_null(*der);
		assert_int_equal(*len, 0);
	}
	return rc;
}

static char *
xasprintf(const char *fmt, ...)
{
	va_list	 ap;
	char	*s = NULL;
	int	 r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	assert_true(r >= 0);
	return s;
}

/* s with every "from" replaced by "to" */
static char *
replace(const char *s, const char *from, const char *to)
{
	size_t	 fl = strlen(from), tl = strlen(to), n = 0;
	char	*out, *o;
	const char *p;

	for (p = s; (p = strstr(p, from)) != NULL; p += fl)
		n++;
	assert_non_null(out = malloc(strlen(s) + n * tl + 1));
	for (o = out, p = s; *p != '\0';) {
		if (strncmp(p, from, fl) == 0) {
			memcpy(o, to, tl);
			o += tl;
			p += fl;
		} else
			*o++ = *p++;
	}
	*o = '\0';
	return out;
}

static void
test_pem(void **state)
{
	struct req_in	 in = { p256, EVP_sha256(), "pem.example", 0, 0, 0,
	    all_sans, 6, 0, NULL };
	static struct csr c;
	uint8_t		*der, *out;
	size_t		 len, outlen;
	char		*pem, *pnew, *s;

	(void)state;
	der = make_req(&in, &len);
	pem = pem_of(der, len, 0);
	pnew = pem_of(der, len, 1);
	assert_non_null(strstr(pnew, "BEGIN NEW CERTIFICATE REQUEST"));

	/* the good ones */
	const char *good[] = { pem, pnew };
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(pem_copy(good[i], &out, &outlen), 0);
		assert_int_equal(outlen, len);
		assert_memory_equal(out, der, len);
		assert_int_equal(csr_parse(out, outlen, &c, NULL, 0), 0);
		free(out);
	}
	s = xasprintf(" \n\t\r\n%s\n \r\n", pem);
	assert_int_equal(pem_copy(s, &out, &outlen), 0);
	free(out);
	free(s);
	s = replace(pem, "\n", "\r\n");
	assert_int_equal(pem_copy(s, &out, &outlen), 0);
	assert_int_equal(outlen, len);
	free(out);
	free(s);
	/* no line breaks at all (JSON clients squash them) */
	s = replace(pem, "\n", "");
	assert_int_equal(pem_copy(s, &out, &outlen), 0);
	assert_memory_equal(out, der, len);
	free(out);
	free(s);

	/* wrong or mismatched labels */
	s = replace(pem, "CERTIFICATE REQUEST", "CERTIFICATE");
	assert_int_equal(pem_copy(s, &out, &outlen), -1);
	free(s);
	s = replace(pem, "END CERTIFICATE REQUEST", "END NEW CERTIFICATE "
	    "REQUEST");
	assert_int_equal(pem_copy(s, &out, &outlen), -1);
	free(s);
	s = replace(pem, "BEGIN CERTIFICATE REQUEST", "BEGIN CERTIFICATE "
	    "REQUESTS");
	assert_int_equal(pem_copy(s, &out, &outlen), -1);
	free(s);
	s = replace(pem, "-----END", "----END");
	assert_int_equal(pem_copy(s, &out, &outlen), -1);
	free(s);
	/* two blocks, text around one */
	s = xasprintf("%s%s", pem, pem);
	assert_int_equal(pem_copy(s, &out, &outlen), -1);
	free(s);
	s = xasprintf("%s%s", pem, pnew);
	assert_int_equal(pem_copy(s, &out, &outlen), -1);
	free(s);
	s = xasprintf("Certificate Request:\n%s", pem);
	assert_int_equal(pem_copy(s, &out, &outlen), -1);
	free(s);
	s = xasprintf("%sx", pem);
	assert_int_equal(pem_copy(s, &out, &outlen), -1);
	free(s);
	/* garbage in the body, headers */
	s = replace(pem, "M", "*");
	assert_int_equal(pem_copy(s, &out, &outlen), -1);
	free(s);
	s = replace(pem, "REQUEST-----\n", "REQUEST-----\nProc-Type: 4,"
	    "ENCRYPTED\n\n");
	assert_int_equal(pem_copy(s, &out, &outlen), -1);
	free(s);
	s = replace(pem, "REQUEST-----\nM", "REQUEST-----\n\x01M");
	assert_int_equal(pem_copy(s, &out, &outlen), -1);
	free(s);
	/* cut short */
	s = strdup(pem);
	s[strlen(s) / 2] = '\0';
	assert_int_equal(pem_copy(s, &out, &outlen), -1);
	free(s);
	assert_int_equal(csr_pem_to_der(NULL, &out, &outlen), -1);
	assert_int_equal(pem_copy("", &out, &outlen), -1);

	free(pem);
	free(pnew);
	free(der);
}

static void
test_pem_base64(void **state)
{
	static const struct {
		const char	*body;
		const char	*der;		/* NULL: refused */
		size_t		 len;
	} cases[] = {
		{ "MAA=", "\x30\x00", 2 },
		{ "MA==", "\x30", 1 },
		{ "MAAA", "\x30\x00\x00", 3 },
		{ "M A\nA\r\n=", "\x30\x00", 2 },
		{ "MAB=", NULL, 0 },		/* dropped bits not zero */
		{ "MB==", NULL, 0 },
		{ "MAA", NULL, 0 },		/* no padding */
		{ "MA", NULL, 0 },
		{ "M===", NULL, 0 },
		{ "====", NULL, 0 },
		{ "MAA=MAA=", NULL, 0 },	/* data after padding */
		{ "MA==MA==", NULL, 0 },
		{ "MAA==", NULL, 0 },
		{ "MA=A", NULL, 0 },
		{ "MAA-", NULL, 0 },		/* base64url is not PEM */
		{ "MAA_", NULL, 0 },
		{ "", NULL, 0 },
		{ " \n ", NULL, 0 },
	};
	uint8_t	*out;
	size_t	 i, outlen;
	char	*s;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s = xasprintf("-----BEGIN CERTIFICATE REQUEST-----\n%s\n"
		    "-----END CERTIFICATE REQUEST-----\n", cases[i].body);
		if (cases[i].der == NULL) {
			if (pem_copy(s, &out, &outlen) != -1)
				fail_msg("\"%s\" accepted", cases[i].body);
		} else {
			assert_int_equal(pem_copy(s, &out, &outlen), 0);
			assert_int_equal(outlen, cases[i].len);
			assert_memory_equal(out, cases[i].der, outlen);
			free(out);
		}
		free(s);
	}
}

static int
hexval(char ch)
{
	return ch <= '9' ? ch - '0' : ch - 'a' + 10;
}

/* Requests python3-cryptography made, and what it says they hold. */
static void
test_vectors(void **state)
{
	static struct csr	 c;
	const struct csr_vector	*v;
	uint8_t			*der, fp[32];
	size_t			 i, len;
	char			 why[128];
	int			 j;

	(void)state;
	for (i = 0; i < sizeof(csr_vectors) / sizeof(csr_vectors[0]); i++) {
		v = &csr_vectors[i];
		if (pem_copy(v->pem, &der, &len) != 0)
			fail_msg("%s: PEM refused", v->label);
		for (j = 0; j < 32; j++)
			fp[j] = (uint8_t)(hexval(v->fp[2 * j]) << 4 |
			    hexval(v->fp[2 * j + 1]));
		why[0] = '\0';
		if (v->refuse != NULL) {
			refused(der, len, v->refuse);
			free(der);
			continue;
		}
		if (parse_copy(der, len, &c, why, sizeof(why)) != 0)
			fail_msg("%s: refused: %s", v->label, why);
		assert_int_equal(c.keytype, v->keytype);
		assert_int_equal(c.bits, v->bits);
		assert_string_equal(c.cn, v->cn);
		assert_int_equal(c.nsans, v->nsans);
		for (j = 0; j < v->nsans; j++) {
			assert_int_equal(c.sans[j].type, v->sans[j].type);
			assert_string_equal(c.sans[j].value, v->sans[j].value);
		}
		assert_memory_equal(c.fp, fp, 32);
		/* the fingerprint is of the DER as sent */
		SHA256(der, len, fp);
		assert_memory_equal(c.fp, fp, 32);
		free(der);
	}
}

static int
setup(void **state)
{
	(void)state;
	p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	p521 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
	k1 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
	rsa2048 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	ed25519 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	return p256 && p384 && p521 && k1 && rsa2048 && rsa1024 && ed25519 ?
	    0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(p256);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(p521);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(rsa2048);
	EVP_PKEY_free(rsa1024);
	EVP_PKEY_free(ed25519);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ec),
		cmocka_unit_test(test_ec_key_reuse),
		cmocka_unit_test(test_spki_aliases_input),
		cmocka_unit_test(test_rsa),
		cmocka_unit_test(test_rsa_short),
		cmocka_unit_test(test_pss_sha1_refused),
		cmocka_unit_test(test_ed25519),
		cmocka_unit_test(test_other_curve),
		cmocka_unit_test(test_cn),
		cmocka_unit_test(test_cn_values),
		cmocka_unit_test(test_sans),
		cmocka_unit_test(test_sans_hand),
		cmocka_unit_test(test_extensions),
		cmocka_unit_test(test_structure),
		cmocka_unit_test(test_rsa_sigalg_params),
		cmocka_unit_test(test_pss_params),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_why),
		cmocka_unit_test(test_pem),
		cmocka_unit_test(test_pem_base64),
		cmocka_unit_test(test_vectors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

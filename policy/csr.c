/*
 * csr.c — PKCS#10 requests walked with hsm/der.c; OpenSSL only builds the
 * request's key and verifies the self-signature. See csr.h.
 *
 * The key is imported from its parts (EVP_PKEY_fromdata, raw Ed25519), not
 * with d2i_PUBKEY: OpenSSL 3.0's decoders take 150-250 us for that alone,
 * more than the DER walk, the import and the signature check together.
 * The EC import checks that the point is on the curve, as d2i_PUBKEY would.
 *
 * Each step returns NULL or a short reason, which csr_parse() hands to the
 * client as is: they name what is wrong, never echo the request's bytes.
 */
#include <arpa/inet.h>
#include <sys/socket.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#include "hsm/der.h"
#include "hsm/digest.h"
#include "hsm/proto.h"
#include "policy/csr.h"

/* A byte string literal as pointer and length; embedded NULs are fine. */
#define TLV(s)		(s), sizeof(s) - 1
#define NOTLV		NULL, 0

#define OID_CN		"\x06\x03\x55\x04\x03"
#define OID_EXTREQ	"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x09\x0e"
#define OID_SAN		"\x06\x03\x55\x1d\x11"
#define OID_ECPUBKEY	"\x06\x07\x2a\x86\x48\xce\x3d\x02\x01"
#define OID_RSA		"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01"
#define OID_PSS		"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0a"
#define OID_MGF1	"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x08"
#define OID_ED25519	"\x06\x03\x2b\x65\x70"
#define DER_NULLV	"\x05\x00"

/* Levels of TLVs allowed in what is skipped (other attributes etc.). */
#define SKIP_DEPTH	16
#define RSA_MIN_BITS	2048
/* OpenSSL refuses larger moduli at verification (RSA_MAX_MODULUS_BITS). */
#define RSA_MAX_BITS	16384
/* Go's crypto/rsa, hence step-ca, refuses exponents above 2^31 - 1. */
#define RSA_MAX_EXP	0x7fffffffu
/* RFC 8017 A.2.3: saltLength DEFAULT 20, so DER never spells out 20. */
#define PSS_DEFAULT_SALT 20

enum keyfam { FAM_EC = 1, FAM_RSA, FAM_ED };

static const struct keyalg {
	const char	*oid;		/* algorithm OID TLV */
	size_t		 oidlen;
	const char	*params;	/* parameters TLV; NULL: absent */
	size_t		 paramslen;
	int		 keytype;
	enum keyfam	 fam;
	size_t		 keylen;	/* BIT STRING payload; 0: RSAPublicKey */
	const char	*group;		/* OpenSSL's name of the curve */
} keyalgs[] = {
	/* Uncompressed points only: Go's x509, so step-ca, takes no other. */
	{ TLV(OID_ECPUBKEY), TLV("\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07"),
	    KEYTYPE_EC_P256, FAM_EC, 1 + 2 * 32, "P-256" },
	{ TLV(OID_ECPUBKEY), TLV("\x06\x05\x2b\x81\x04\x00\x22"),
	    KEYTYPE_EC_P384, FAM_EC, 1 + 2 * 48, "P-384" },
	{ TLV(OID_ECPUBKEY), TLV("\x06\x05\x2b\x81\x04\x00\x23"),
	    KEYTYPE_EC_P521, FAM_EC, 1 + 2 * 66, "P-521" },
	/* RFC 3279 2.3.1: the parameters MUST be NULL. */
	{ TLV(OID_RSA), TLV(DER_NULLV), KEYTYPE_RSA, FAM_RSA, 0, NULL },
	/* RFC 8410 3: the parameters MUST be absent. */
	{ TLV(OID_ED25519), NOTLV, KEYTYPE_ED25519, FAM_ED, 32, NULL },
};

#define NKEYALGS	(sizeof(keyalgs) / sizeof(keyalgs[0]))

/*
 * Importing an EC key by group name builds the curve afresh, Montgomery
 * contexts and all: two thirds of the import. A parameters-only key per
 * curve, made once, is duplicated instead and given the point
 * (EVP_PKEY_set1_encoded_public_key checks it is on the curve). Made
 * under pthread_once: csr_parse runs on the front end's workpool threads.
 *
 * Even the copy costs OpenSSL 3 some forty allocations, the group's among
 * them, so each thread keeps one copy per curve and only replaces its
 * point: a CSR's key lives no longer than its csr_parse, and a thread
 * parses one CSR at a time. With each key goes a context to verify with,
 * made once and initialised again for every CSR: EVP_PKEY_verify_init
 * takes the key as it is then, and costs a fifth of a new context.
 */
static EVP_PKEY		*curve_keys[NKEYALGS];
static pthread_once_t	 curves_once = PTHREAD_ONCE_INIT;
static pthread_key_t	 thread_keys;
static int		 thread_keys_ok;

struct thread_ec {
	EVP_PKEY	*key[NKEYALGS];
	EVP_PKEY_CTX	*vctx[NKEYALGS];	/* for key[i], or NULL */
};

static void
thread_keys_free(void *p)
{
	struct thread_ec	*te = p;
	size_t			 i;

	for (i = 0; i < NKEYALGS; i++) {
		EVP_PKEY_CTX_free(te->vctx[i]);
		EVP_PKEY_free(te->key[i]);
	}
	free(te);
}

static struct thread_ec *
thread_ec(void)
{
	struct thread_ec	*te;

	if (!thread_keys_ok)
		return NULL;
	if ((te = pthread_getspecific(thread_keys)) == NULL) {
		if ((te = calloc(1, sizeof(*te))) == NULL)
			return NULL;
		if (pthread_setspecific(thread_keys, te) != 0) {
			free(te);
			return NULL;
		}
	}
	return te;
}

/* This thread's key of curve i, with some earlier CSR's point; NULL: none. */
static EVP_PKEY *
thread_key(size_t i)
{
	struct thread_ec	*te = thread_ec();

	if (te == NULL)
		return NULL;
	if (te->key[i] == NULL)
		te->key[i] = EVP_PKEY_dup(curve_keys[i]);
	return te->key[i];
}

/* A context to verify with pk, when pk is this thread's key of curve i. */
static EVP_PKEY_CTX *
thread_vctx(size_t i, const EVP_PKEY *pk)
{
	struct thread_ec	*te = thread_ec();

	if (te == NULL || te->key[i] == NULL || te->key[i] != pk)
		return NULL;
	if (te->vctx[i] == NULL)
		te->vctx[i] = EVP_PKEY_CTX_new_from_pkey(NULL, te->key[i],
		    NULL);
	return te->vctx[i];
}

static void
curves_free(void)
{
	size_t	 i;

	for (i = 0; i < NKEYALGS; i++)
		EVP_PKEY_free(curve_keys[i]);
}

static void
curves_make(void)
{
	EVP_PKEY_CTX	*ctx;
	OSSL_PARAM	 op[2];
	size_t		 i;

	for (i = 0; i < NKEYALGS; i++) {
		if (keyalgs[i].fam != FAM_EC)
			continue;
		op[0] = OSSL_PARAM_construct_utf8_string(
		    OSSL_PKEY_PARAM_GROUP_NAME, (char *)keyalgs[i].group, 0);
		op[1] = OSSL_PARAM_construct_end();
		if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL)
			continue;
		if (EVP_PKEY_fromdata_init(ctx) != 1 ||
		    EVP_PKEY_fromdata(ctx, &curve_keys[i],
		    EVP_PKEY_KEY_PARAMETERS, op) != 1)
			curve_keys[i] = NULL;	/* fromdata() by name, then */
		EVP_PKEY_CTX_free(ctx);
	}
	thread_keys_ok = pthread_key_create(&thread_keys,
	    thread_keys_free) == 0;
	atexit(curves_free);
}

/* How a signatureAlgorithm's parameters must look. */
enum sigparams {
	SP_ABSENT,	/* RFC 5758 3.2 (ECDSA), RFC 8410 3 (Ed25519) */
	SP_NULL,	/* RFC 4055 5: NULL, but absent MUST be accepted too */
	SP_PSS,		/* RSASSA-PSS-params, parsed by pss_params() */
};

static const struct sigalg {
	const char	*oid;
	size_t		 oidlen;
	enum keyfam	 fam;
	enum sigparams	 params;
	const EVP_MD	*(*md)(void);	/* NULL: none (Ed25519) or PSS's */
} sigalgs[] = {
	{ TLV("\x06\x08\x2a\x86\x48\xce\x3d\x04\x03\x02"), FAM_EC, SP_ABSENT,
	    EVP_sha256 },
	{ TLV("\x06\x08\x2a\x86\x48\xce\x3d\x04\x03\x03"), FAM_EC, SP_ABSENT,
	    EVP_sha384 },
	{ TLV("\x06\x08\x2a\x86\x48\xce\x3d\x04\x03\x04"), FAM_EC, SP_ABSENT,
	    EVP_sha512 },
	{ TLV("\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0b"), FAM_RSA, SP_NULL,
	    EVP_sha256 },
	{ TLV("\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0c"), FAM_RSA, SP_NULL,
	    EVP_sha384 },
	{ TLV("\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0d"), FAM_RSA, SP_NULL,
	    EVP_sha512 },
	{ TLV(OID_PSS), FAM_RSA, SP_PSS, NULL },
	{ TLV(OID_ED25519), FAM_ED, SP_ABSENT, NULL },
};

/* The hashes RSASSA-PSS may name; SHA-1 (its default) is not one. */
static const struct hashalg {
	const char	*oid;
	size_t		 oidlen;
	const EVP_MD	*(*md)(void);
} hashalgs[] = {
	{ TLV("\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01"), EVP_sha256 },
	{ TLV("\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x02"), EVP_sha384 },
	{ TLV("\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x03"), EVP_sha512 },
};

static const struct santype {
	uint8_t		 tag;		/* GeneralName's [n] IMPLICIT */
	enum san_type	 type;
} santypes[] = {
	{ DER_CTXP(1), SAN_EMAIL },	/* rfc822Name */
	{ DER_CTXP(2), SAN_DNS },	/* dNSName */
	{ DER_CTXP(6), SAN_URI },	/* uniformResourceIdentifier */
	{ DER_CTXP(7), SAN_IP },	/* iPAddress */
};

/* How a DirectoryString's bytes become the UTF-8 of csr.cn. */
enum strconv {
	SC_ASCII,	/* 7-bit as it stands */
	SC_UTF8,	/* checked to be UTF-8 (RFC 3629) */
	SC_BMP,		/* UCS-2 big-endian, converted */
};

static const struct strtype {
	uint8_t		 tag;
	enum strconv	 conv;
} strtypes[] = {
	{ 0x0c, SC_UTF8 },	/* UTF8String */
	{ 0x13, SC_ASCII },	/* PrintableString (its '*' is left be) */
	{ 0x16, SC_ASCII },	/* IA5String */
	/* TeletexString: taken as the bytes it carries, in practice ASCII. */
	{ 0x14, SC_UTF8 },
	{ 0x1e, SC_BMP },	/* BMPString */
};

static int
is_oid(const struct der_tlv *t, const char *oid, size_t oidlen)
{
	return der_eq(t->raw, t->rawlen, oid, oidlen);
}

/*
 * 0 when t is an OID TLV of well-formed subidentifiers (base 128, no
 * leading 0x80, the last octet ending one): only such are compared.
 */
static int
oid_ok(const struct der_tlv *t)
{
	size_t	 i;

	if (t->tag != DER_OID || t->len == 0 || (t->val[t->len - 1] & 0x80))
		return -1;
	for (i = 0; i < t->len; i++)
		if (t->val[i] == 0x80 && (i == 0 || !(t->val[i - 1] & 0x80)))
			return -1;
	return 0;
}

/*
 * What is skipped must still be DER the reader accepts, all the way
 * down, so that every byte of a request has one reading.
 */
static int
skip_ok(const struct der_tlv *t, int depth)
{
	struct der	 in;
	struct der_tlv	 k;

	if (der_enter(t, &in) == -1)
		return 0;		/* primitive: its length was checked */
	if (depth == 0)
		return -1;
	while (!der_done(&in))
		if (der_read(&in, &k) == -1 || skip_ok(&k, depth - 1) == -1)
			return -1;
	return 0;
}

/*
 * AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters ANY
 * OPTIONAL }: *oid and, in *params, the parameters' TLV (empty: absent).
 */
static int
algid(const struct der_tlv *seq, struct der_tlv *oid, struct der *params)
{
	struct der	 a, rest;
	struct der_tlv	 p;

	if (seq->tag != DER_SEQUENCE || der_enter(seq, &a) == -1 ||
	    der_expect(&a, DER_OID, oid) == -1 || oid_ok(oid) == -1)
		return -1;
	rest = a;
	if (!der_done(&a) && (der_read(&a, &p) == -1 || !der_done(&a) ||
	    skip_ok(&p, SKIP_DEPTH) == -1))
		return -1;
	*params = rest;
	return 0;
}

/* Strips the sign octet off a non-negative minimal INTEGER's contents. */
static void
magnitude(const struct der_tlv *t, const uint8_t **p, size_t *n)
{
	*p = t->val;
	*n = t->len;
	if (*n > 1 && **p == 0) {
		(*p)++;
		(*n)--;
	}
}

/* An INTEGER in [0, max], as *v. */
static int
small_uint(const struct der_tlv *t, uint32_t max, uint32_t *v)
{
	const uint8_t	*p;
	size_t		 n;
	uint32_t	 x = 0;

	if (der_int(t) == -1 || (t->val[0] & 0x80))
		return -1;
	magnitude(t, &p, &n);
	if (n > 4)
		return -1;
	while (n-- > 0)
		x = x << 8 | *p++;
	if (x > max)
		return -1;
	*v = x;
	return 0;
}

/* Bytes of the well-formed UTF-8 sequence at p[0..n), or 0. */
static size_t
utf8_len(const uint8_t *p, size_t n)
{
	uint32_t	 cp;
	size_t		 k, i;

	if (p[0] < 0x80)
		return 1;
	if (p[0] < 0xc2)
		return 0;	/* continuation octet, or overlong 2-byte */
	if (p[0] < 0xe0) {
		k = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] < 0xf0) {
		k = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] < 0xf5) {
		k = 4;
		cp = p[0] & 0x07;
	} else
		return 0;
	if (n < k)
		return 0;
	for (i = 1; i < k; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((k == 3 && cp < 0x800) || (k == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return k;
}

/* The UTF-8 of a code point below 0x10000 into u; its length. */
static size_t
utf8_put(uint8_t u[3], uint32_t cp)
{
	if (cp < 0x80) {
		u[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		u[0] = (uint8_t)(0xc0 | cp >> 6);
		u[1] = (uint8_t)(0x80 | (cp & 0x3f));
		return 2;
	}
	u[0] = (uint8_t)(0xe0 | cp >> 12);
	u[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
	u[2] = (uint8_t)(0x80 | (cp & 0x3f));
	return 3;
}

/*
 * A commonName value into out as NUL-terminated UTF-8. Control
 * characters (NUL above all) are refused: the name is compared with the
 * token's and written to logs as a C string.
 */
static const char *
cn_value(const struct der_tlv *v, char *out, size_t outsz)
{
	const struct strtype	*st = NULL;
	const uint8_t		*src;
	uint8_t			 u[3];
	uint32_t		 cp;
	size_t			 i, adv, k, o = 0;

	for (i = 0; i < sizeof(strtypes) / sizeof(strtypes[0]); i++)
		if (strtypes[i].tag == v->tag)
			st = &strtypes[i];
	if (st == NULL)
		return "unsupported commonName string type";
	if (st->conv == SC_BMP && v->len % 2 != 0)
		return "malformed commonName";
	/* adv bytes of input become the k bytes at src. */
	for (i = 0; i < v->len; i += adv) {
		if (st->conv == SC_BMP) {
			adv = 2;
			cp = (uint32_t)v->val[i] << 8 | v->val[i + 1];
			if (cp >= 0xd800 && cp <= 0xdfff)
				return "malformed commonName";
			k = utf8_put(u, cp);
			src = u;
		} else {
			adv = k = st->conv == SC_ASCII ? v->val[i] < 0x80 :
			    utf8_len(v->val + i, v->len - i);
			if (k == 0)
				return "commonName is not valid text";
			cp = v->val[i];
			src = v->val + i;
		}
		if (cp < 0x20 || cp == 0x7f)
			return "control character in commonName";
		if (k > outsz - 1 - o)
			return "commonName too long";
		memcpy(out + o, src, k);
		o += k;
	}
	out[o] = '\0';
	return NULL;
}

/*
 * Name ::= SEQUENCE OF SET SIZE (1..MAX) OF SEQUENCE { type OID, value
 * ANY }. Only the commonName is kept (step-ca looks at nothing else).
 */
static const char *
parse_name(const struct der_tlv *name, struct csr *c)
{
	struct der	 n, rdn, atv;
	struct der_tlv	 set, seq, type, val;
	const char	*err;
	int		 ncn = 0;

	if (der_enter(name, &n) == -1)
		return "malformed subject";
	while (!der_done(&n)) {
		if (der_expect(&n, DER_SET, &set) == -1 ||
		    der_enter(&set, &rdn) == -1 || der_done(&rdn))
			return "malformed subject";
		while (!der_done(&rdn)) {
			if (der_expect(&rdn, DER_SEQUENCE, &seq) == -1 ||
			    der_enter(&seq, &atv) == -1 ||
			    der_expect(&atv, DER_OID, &type) == -1 ||
			    oid_ok(&type) == -1 ||
			    der_read(&atv, &val) == -1 || !der_done(&atv) ||
			    skip_ok(&val, SKIP_DEPTH) == -1)
				return "malformed subject";
			if (!is_oid(&type, TLV(OID_CN)))
				continue;
			if (ncn++ > 0)
				return "more than one commonName";
			if ((err = cn_value(&val, c->cn, sizeof(c->cn))) != NULL)
				return err;
		}
	}
	return NULL;
}

/* An unsigned big-endian (DER) integer as an OSSL_PARAM's: host order. */
static void
to_host(uint8_t *dst, const uint8_t *be, size_t n)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	memcpy(dst, be, n);
#else
	size_t	 i;

	for (i = 0; i < n; i++)
		dst[i] = be[n - 1 - i];
#endif
}

static EVP_PKEY *
fromdata(const char *type, OSSL_PARAM *params)
{
	EVP_PKEY_CTX	*ctx;
	EVP_PKEY	*pk = NULL;

	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL)) == NULL)
		return NULL;
	if (EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pk = NULL;
	EVP_PKEY_CTX_free(ctx);
	return pk;
}

/*
 * RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER },
 * checked and imported.
 */
static const char *
rsa_key(const uint8_t *p, size_t n, struct csr *c, EVP_PKEY **pk)
{
	struct der	 d, k;
	struct der_tlv	 seq, mod, exp;
	OSSL_PARAM	 op[3];
	uint8_t		 nh[RSA_MAX_BITS / 8], eh[4];
	const uint8_t	*m, *ep;
	size_t		 mlen, elen;
	uint32_t	 e;
	unsigned	 top;
	int		 bits;

	der_init(&d, p, n);
	if (der_expect(&d, DER_SEQUENCE, &seq) == -1 || !der_done(&d) ||
	    der_enter(&seq, &k) == -1 ||
	    der_expect(&k, DER_INTEGER, &mod) == -1 || der_int(&mod) == -1 ||
	    der_expect(&k, DER_INTEGER, &exp) == -1 || !der_done(&k) ||
	    (mod.val[0] & 0x80))
		return "malformed RSA key";
	if (small_uint(&exp, RSA_MAX_EXP, &e) == -1 || e < 3 || e % 2 == 0)
		return "unsupported RSA public exponent";
	magnitude(&mod, &m, &mlen);
	magnitude(&exp, &ep, &elen);
	if (mlen > RSA_MAX_BITS / 8)
		return "RSA key larger than 16384 bits";
	/* Minimal form: only a zero modulus starts with a zero octet. */
	bits = (int)(mlen - 1) * 8;
	for (top = m[0]; top != 0; top >>= 1)
		bits++;
	if (bits < RSA_MIN_BITS)
		return "RSA key shorter than 2048 bits";
	to_host(nh, m, mlen);
	to_host(eh, ep, elen);		/* small_uint(): at most 4 octets */
	op[0] = OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_RSA_N, nh, mlen);
	op[1] = OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_RSA_E, eh, elen);
	op[2] = OSSL_PARAM_construct_end();
	if ((*pk = fromdata("RSA", op)) == NULL)
		return "invalid public key";
	c->bits = bits;
	return NULL;
}

/*
 * SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier,
 * subjectPublicKey BIT STRING }, into c, and as an EVP_PKEY in *pk.
 */
static const char *
parse_spki(const struct der_tlv *spki, struct csr *c,
    const struct keyalg **kap, EVP_PKEY **pk)
{
	const struct keyalg	*ka = NULL;
	struct der		 s, params;
	struct der_tlv		 alg, oid, key;
	OSSL_PARAM		 op[3];
	const char		*err;
	size_t			 i;
	int			 known = 0;

	if (der_enter(spki, &s) == -1 ||
	    der_expect(&s, DER_SEQUENCE, &alg) == -1 ||
	    der_expect(&s, DER_BITSTRING, &key) == -1 || !der_done(&s) ||
	    algid(&alg, &oid, &params) == -1)
		return "malformed public key";
	for (i = 0; i < sizeof(keyalgs) / sizeof(keyalgs[0]); i++) {
		if (!is_oid(&oid, keyalgs[i].oid, keyalgs[i].oidlen))
			continue;
		known = 1;
		if (keyalgs[i].params == NULL ? der_done(&params) :
		    der_eq(params.p, params.n, keyalgs[i].params,
		    keyalgs[i].paramslen)) {
			ka = &keyalgs[i];
			break;
		}
	}
	if (ka == NULL && known && is_oid(&oid, TLV(OID_ECPUBKEY)))
		return "unsupported EC curve";
	if (ka == NULL)
		return known ? "malformed public key" : "unsupported key type";
	/* The first octet counts unused bits; a key has none. */
	if (key.len < 1 || key.val[0] != 0)
		return "malformed public key";
	if (ka->fam == FAM_EC && key.len > 1 && key.val[1] != 0x04)
		return "unsupported EC point encoding";
	if (ka->keylen != 0 && key.len - 1 != ka->keylen)
		return "malformed public key";
	switch (ka->fam) {
	case FAM_RSA:
		if ((err = rsa_key(key.val + 1, key.len - 1, c, pk)) != NULL)
			return err;
		break;
	case FAM_EC:
		if (pthread_once(&curves_once, curves_make) == 0 &&
		    curve_keys[ka - keyalgs] != NULL) {
			if ((*pk = thread_key(ka - keyalgs)) == NULL ||
			    EVP_PKEY_up_ref(*pk) != 1) {
				*pk = NULL;
				return "out of memory";
			}
			/* The caller's EVP_PKEY_free drops the reference. */
			if (EVP_PKEY_set1_encoded_public_key(*pk, key.val + 1,
			    key.len - 1) != 1) {
				EVP_PKEY_free(*pk);
				*pk = NULL;
				return "invalid public key";
			}
			break;
		}
		/* OSSL_PARAM's pointers are not const; nothing writes. */
		op[0] = OSSL_PARAM_construct_utf8_string(
		    OSSL_PKEY_PARAM_GROUP_NAME, (char *)ka->group, 0);
		op[1] = OSSL_PARAM_construct_octet_string(
		    OSSL_PKEY_PARAM_PUB_KEY, (void *)(key.val + 1), key.len - 1);
		op[2] = OSSL_PARAM_construct_end();
		if ((*pk = fromdata("EC", op)) == NULL)
			return "invalid public key";
		break;
	case FAM_ED:
		if ((*pk = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519",
		    NULL, key.val + 1, key.len - 1)) == NULL)
			return "invalid public key";
		break;
	}
	c->spki = spki->raw;
	c->spkilen = spki->rawlen;
	c->keytype = ka->keytype;
	*kap = ka;
	return NULL;
}

/* HashAlgorithm inside RSASSA-PSS-params; NULL or absent parameters. */
static const EVP_MD *
pss_hash(const struct der_tlv *seq)
{
	struct der_tlv	 oid;
	struct der	 params;
	size_t		 i;

	if (algid(seq, &oid, &params) == -1 || (!der_done(&params) &&
	    !der_eq(params.p, params.n, TLV(DER_NULLV))))
		return NULL;
	for (i = 0; i < sizeof(hashalgs) / sizeof(hashalgs[0]); i++)
		if (is_oid(&oid, hashalgs[i].oid, hashalgs[i].oidlen))
			return hashalgs[i].md();
	return NULL;
}

/* The single TLV [n] EXPLICIT wraps, which must be a tag. */
static int
explicit(const struct der_tlv *t, uint8_t tag, struct der_tlv *in)
{
	struct der	 d;

	return der_enter(t, &d) == -1 || der_expect(&d, tag, in) == -1 ||
	    !der_done(&d) ? -1 : 0;
}

/*
 * RSASSA-PSS-params ::= SEQUENCE { hashAlgorithm [0] DEFAULT sha1,
 * maskGenAlgorithm [1] DEFAULT mgf1SHA1, saltLength [2] INTEGER DEFAULT
 * 20, trailerField [3] DEFAULT 1 } (RFC 8017 A.2.3, EXPLICIT tags). The
 * SHA-1 defaults are refused, hence hash and mask must both be there.
 */
static const char *
pss_params(struct der *params, const EVP_MD **md, const EVP_MD **mgfmd,
    int *salt)
{
	struct der	 p, m;
	struct der_tlv	 seq, t, h, mgf, oid;
	uint32_t	 v = PSS_DEFAULT_SALT;
	int		 r;

	if (der_expect(params, DER_SEQUENCE, &seq) == -1 ||
	    !der_done(params) || der_enter(&seq, &p) == -1)
		return "malformed RSASSA-PSS parameters";
	if ((r = der_opt(&p, DER_CTX(0), &t)) == -1 ||
	    (r == 1 && explicit(&t, DER_SEQUENCE, &h) == -1))
		return "malformed RSASSA-PSS parameters";
	if (r == 0 || (*md = pss_hash(&h)) == NULL)
		return "unsupported RSASSA-PSS hash";
	if ((r = der_opt(&p, DER_CTX(1), &t)) == -1 ||
	    (r == 1 && (explicit(&t, DER_SEQUENCE, &mgf) == -1 ||
	    der_enter(&mgf, &m) == -1 || der_expect(&m, DER_OID, &oid) == -1 ||
	    der_expect(&m, DER_SEQUENCE, &h) == -1 || !der_done(&m))))
		return "malformed RSASSA-PSS parameters";
	if (r == 0 || !is_oid(&oid, TLV(OID_MGF1)) ||
	    (*mgfmd = pss_hash(&h)) == NULL)
		return "unsupported RSASSA-PSS mask generation";
	if ((r = der_opt(&p, DER_CTX(2), &t)) == -1 || (r == 1 &&
	    (explicit(&t, DER_INTEGER, &h) == -1 ||
	    small_uint(&h, 1024, &v) == -1 || v == PSS_DEFAULT_SALT)))
		return "malformed RSASSA-PSS parameters";
	/* trailerField: its only value is the default, which DER omits. */
	if (!der_done(&p))
		return "malformed RSASSA-PSS parameters";
	*salt = (int)v;
	return NULL;
}

/* ECDSA over the certificationRequestInfo with this thread's context. */
static const char *
ec_verify(EVP_PKEY_CTX *vctx, const EVP_MD *md, const struct der_tlv *sig,
    const struct der_tlv *cri)
{
	unsigned char	 d[EVP_MAX_MD_SIZE];
	unsigned int	 dl;
	const EVP_MD	*m = digest_nid(EVP_MD_get_type(md));

	if (m == NULL || EVP_PKEY_verify_init(vctx) != 1 ||
	    EVP_Digest(cri->raw, cri->rawlen, d, &dl, m, NULL) != 1)
		return "CSR signature cannot be checked";
	return EVP_PKEY_verify(vctx, sig->val + 1, sig->len - 1, d, dl) == 1 ?
	    NULL : "bad CSR signature";
}

/*
 * Checks signatureAlgorithm against the key and verifies signature over
 * the certificationRequestInfo TLV exactly as it was sent.
 */
static const char *
verify(const struct der_tlv *alg, const struct der_tlv *sig,
    const struct der_tlv *cri, const struct keyalg *ka, EVP_PKEY *pk)
{
	const struct sigalg	*sa = NULL;
	const EVP_MD		*md = NULL, *mgfmd = NULL;
	EVP_MD_CTX		*ctx = NULL;
	EVP_PKEY_CTX		*pctx = NULL;
	struct der		 params;
	struct der_tlv		 oid;
	const char		*err = NULL;
	size_t			 i;
	int			 salt = 0;

	if (algid(alg, &oid, &params) == -1)
		return "malformed signature algorithm";
	for (i = 0; i < sizeof(sigalgs) / sizeof(sigalgs[0]); i++)
		if (is_oid(&oid, sigalgs[i].oid, sigalgs[i].oidlen))
			sa = &sigalgs[i];
	if (sa == NULL)
		return "unsupported signature algorithm";
	if (sa->fam != ka->fam)
		return "signature algorithm does not fit the key";
	switch (sa->params) {
	case SP_ABSENT:
		if (!der_done(&params))
			return "malformed signature algorithm";
		break;
	case SP_NULL:
		if (!der_done(&params) &&
		    !der_eq(params.p, params.n, TLV(DER_NULLV)))
			return "malformed signature algorithm";
		break;
	case SP_PSS:
		if ((err = pss_params(&params, &md, &mgfmd, &salt)) != NULL)
			return err;
		break;
	}
	if (sa->md != NULL)
		md = sa->md();
	if (sig->len < 1 || sig->val[0] != 0)
		return "malformed signature";
	if (ka->fam == FAM_EC && sa->params == SP_ABSENT &&
	    (pctx = thread_vctx(ka - keyalgs, pk)) != NULL)
		return ec_verify(pctx, md, sig, cri);
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(ctx, &pctx, md, NULL, pk) != 1 ||
	    (sa->params == SP_PSS &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, salt) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, mgfmd) <= 0)))
		err = "CSR signature cannot be checked";
	else if (EVP_DigestVerify(ctx, sig->val + 1, sig->len - 1, cri->raw,
	    cri->rawlen) != 1)
		err = "bad CSR signature";
	EVP_MD_CTX_free(ctx);
	return err;
}

/*
 * GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName, as found in a
 * subjectAltName extension's extnValue.
 */
static const char *
parse_san(const struct der_tlv *ext, struct csr *c)
{
	const struct santype	*st;
	struct csr_san		*s;
	struct der		 d, g;
	struct der_tlv		 seq, gn;
	size_t			 i;

	der_init(&d, ext->val, ext->len);
	if (der_expect(&d, DER_SEQUENCE, &seq) == -1 || !der_done(&d) ||
	    der_enter(&seq, &g) == -1 || der_done(&g))
		return "malformed subjectAltName";
	while (!der_done(&g)) {
		if (der_read(&g, &gn) == -1)
			return "malformed subjectAltName";
		for (st = NULL, i = 0; i < sizeof(santypes) /
		    sizeof(santypes[0]); i++)
			if (santypes[i].tag == gn.tag)
				st = &santypes[i];
		if (st == NULL)
			return "unsupported SAN type";
		if (c->nsans == CSR_MAX_SANS)
			return "too many SANs";
		s = &c->sans[c->nsans];
		s->type = st->type;
		if (st->type == SAN_IP) {
			if ((gn.len != 4 && gn.len != 16) ||
			    inet_ntop(gn.len == 4 ? AF_INET : AF_INET6, gn.val,
			    s->value, sizeof(s->value)) == NULL)
				return "malformed iPAddress SAN";
		} else {
			if (gn.len == 0)
				return "empty SAN";
			if (gn.len >= sizeof(s->value))
				return "SAN too long";
			/* Visible ASCII: no NUL, space or control to hide in. */
			for (i = 0; i < gn.len; i++)
				if (gn.val[i] <= 0x20 || gn.val[i] >= 0x7f)
					return "SAN is not printable ASCII";
			memcpy(s->value, gn.val, gn.len);
			s->value[gn.len] = '\0';
		}
		c->nsans++;
	}
	return NULL;
}

/*
 * Extensions ::= SEQUENCE OF Extension; Extension ::= SEQUENCE { extnID
 * OID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }. Only
 * subjectAltName is read; the rest must merely be DER.
 */
static const char *
parse_exts(const struct der_tlv *exts, struct csr *c)
{
	struct der	 e, x, v;
	struct der_tlv	 seq, oid, crit, val, inner;
	const char	*err;
	int		 r, b, nsan = 0;

	if (der_enter(exts, &e) == -1)
		return "malformed extensionRequest";
	while (!der_done(&e)) {
		if (der_expect(&e, DER_SEQUENCE, &seq) == -1 ||
		    der_enter(&seq, &x) == -1 ||
		    der_expect(&x, DER_OID, &oid) == -1 ||
		    oid_ok(&oid) == -1 ||
		    (r = der_opt(&x, DER_BOOLEAN, &crit)) == -1 ||
		    /* DER leaves FALSE, the default, out. */
		    (r == 1 && (der_bool(&crit, &b) == -1 || !b)) ||
		    der_expect(&x, DER_OCTETSTRING, &val) == -1 ||
		    !der_done(&x))
			return "malformed extension";
		if (is_oid(&oid, TLV(OID_SAN))) {
			if (nsan++ > 0)
				return "more than one subjectAltName";
			if ((err = parse_san(&val, c)) != NULL)
				return err;
			continue;
		}
		der_init(&v, val.val, val.len);
		if (der_read(&v, &inner) == -1 || !der_done(&v) ||
		    skip_ok(&inner, SKIP_DEPTH) == -1)
			return "malformed extension";
	}
	return NULL;
}

/*
 * attributes [0] IMPLICIT SET OF Attribute; Attribute ::= SEQUENCE {
 * type OID, values SET OF ANY }. extensionRequest holds one Extensions.
 */
static const char *
parse_attrs(const struct der_tlv *attrs, struct csr *c)
{
	struct der	 a, at, vals;
	struct der_tlv	 seq, oid, set, exts;
	const char	*err;
	int		 nreq = 0;

	if (der_enter(attrs, &a) == -1)
		return "malformed attributes";
	while (!der_done(&a)) {
		if (der_expect(&a, DER_SEQUENCE, &seq) == -1 ||
		    der_enter(&seq, &at) == -1 ||
		    der_expect(&at, DER_OID, &oid) == -1 ||
		    oid_ok(&oid) == -1 ||
		    der_expect(&at, DER_SET, &set) == -1 || !der_done(&at))
			return "malformed attributes";
		if (!is_oid(&oid, TLV(OID_EXTREQ))) {
			if (skip_ok(&set, SKIP_DEPTH) == -1)
				return "malformed attributes";
			continue;
		}
		if (nreq++ > 0)
			return "more than one extensionRequest";
		if (der_enter(&set, &vals) == -1 ||
		    der_expect(&vals, DER_SEQUENCE, &exts) == -1 ||
		    !der_done(&vals))
			return "malformed extensionRequest";
		if ((err = parse_exts(&exts, c)) != NULL)
			return err;
	}
	return NULL;
}

static const char *
parse(const uint8_t *der, size_t len, struct csr *c)
{
	const struct keyalg	*ka = NULL;
	EVP_PKEY		*pk = NULL;
	struct der		 d, r, i;
	struct der_tlv		 req, cri, alg, sig, ver, name, spki, attrs;
	const char		*err;

	der_init(&d, der, len);
	if (der_expect(&d, DER_SEQUENCE, &req) == -1 || !der_done(&d) ||
	    der_enter(&req, &r) == -1 ||
	    der_expect(&r, DER_SEQUENCE, &cri) == -1 ||
	    der_expect(&r, DER_SEQUENCE, &alg) == -1 ||
	    der_expect(&r, DER_BITSTRING, &sig) == -1 || !der_done(&r) ||
	    der_enter(&cri, &i) == -1 ||
	    der_expect(&i, DER_INTEGER, &ver) == -1 || der_int(&ver) == -1)
		return "malformed CSR";
	if (ver.len != 1 || ver.val[0] != 0)
		return "unsupported CSR version";
	if (der_expect(&i, DER_SEQUENCE, &name) == -1 ||
	    der_expect(&i, DER_SEQUENCE, &spki) == -1 ||
	    der_expect(&i, DER_CTX(0), &attrs) == -1 || !der_done(&i))
		return "malformed CSR";
	/* The cheap refusals first; the signature check costs the most. */
	if ((err = parse_name(&name, c)) == NULL &&
	    (err = parse_attrs(&attrs, c)) == NULL &&
	    (err = parse_spki(&spki, c, &ka, &pk)) == NULL &&
	    (err = verify(&alg, &sig, &cri, ka, pk)) == NULL &&
	    SHA256(der, len, c->fp) == NULL)
		err = "internal error";
	EVP_PKEY_free(pk);
	return err;
}

void
csr_clear(struct csr *c)
{
	c->spki = NULL;
	c->spkilen = 0;
	c->keytype = 0;
	c->bits = 0;
	c->cn[0] = '\0';
	c->nsans = 0;
	memset(c->fp, 0, sizeof(c->fp));
}

int
csr_parse(const uint8_t *der, size_t len, struct csr *c, char *why,
    size_t whysz)
{
	const char	*err;

	csr_clear(c);
	/* err says what failed inside OpenSSL; its queue stays as it was. */
	ERR_set_mark();
	err = der == NULL ? "malformed CSR" : parse(der, len, c);
	ERR_pop_to_mark();
	if (err == NULL)
		return 0;
	/* Nothing half-read may be mistaken for a result. */
	csr_clear(c);
	if (why != NULL && whysz > 0)
		snprintf(why, whysz, "%s", err);
	return -1;
}

static const char *const pem_labels[] = {
	"CERTIFICATE REQUEST",
	"NEW CERTIFICATE REQUEST",	/* Netscape's, still written by some */
};

static int
pem_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static int
b64_val(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/*
 * Base64 in s[0..n) to out (room for n / 4 * 3 bytes): whitespace
 * anywhere, otherwise only the alphabet, padding only at the end, and
 * the bits padding drops zero, so that one DER has one PEM body.
 */
static int
b64_decode(const char *s, size_t n, uint8_t *out, size_t *outlen)
{
	uint32_t	 acc = 0;
	size_t		 i, o = 0;
	int		 v, nq = 0, pad = 0;

	for (i = 0; i < n; i++) {
		if (pem_space(s[i]))
			continue;
		if (s[i] == '=') {
			if (nq < 2)
				return -1;
			pad++;
			v = 0;
		} else if (pad > 0 || (v = b64_val(s[i])) == -1)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		if (++nq < 4)
			continue;
		if ((pad == 1 && (acc & 0xff)) || (pad == 2 && (acc & 0xffff)))
			return -1;
		out[o++] = (uint8_t)(acc >> 16);
		if (pad < 2)
			out[o++] = (uint8_t)(acc >> 8);
		if (pad < 1)
			out[o++] = (uint8_t)acc;
		nq = 0;
		acc = 0;
		if (pad > 0)
			pad = 3;	/* nothing but whitespace may follow */
	}
	if (nq != 0 || o == 0)
		return -1;
	*outlen = o;
	return 0;
}

int
csr_pem_to_der(const char *pem, uint8_t **der, size_t *len)
{
	const char	*p, *label = NULL, *body, *end;
	size_t		 i, l = 0, n;
	uint8_t		*out;

	*der = NULL;
	*len = 0;
	if (pem == NULL)
		return -1;
	for (p = pem; pem_space(*p); p++)
		;
	if (strncmp(p, "-----BEGIN ", 11) != 0)
		return -1;
	p += 11;
	for (i = 0; i < sizeof(pem_labels) / sizeof(pem_labels[0]); i++) {
		l = strlen(pem_labels[i]);
		if (strncmp(p, pem_labels[i], l) == 0 &&
		    strncmp(p + l, "-----", 5) == 0) {
			label = pem_labels[i];
			break;
		}
	}
	if (label == NULL)
		return -1;
	body = p + l + 5;
	if ((end = strstr(body, "-----END ")) == NULL)
		return -1;
	p = end + 9;
	if (strncmp(p, label, l) != 0 || strncmp(p + l, "-----", 5) != 0)
		return -1;
	/* One block, and nothing after it but whitespace. */
	for (p += l + 5; pem_space(*p); p++)
		;
	if (*p != '\0')
		return -1;
	n = (size_t)(end - body);
	if ((out = malloc(n / 4 * 3 + 1)) == NULL)
		return -1;
	if (b64_decode(body, n, out, len) == -1) {
		free(out);
		*len = 0;
		return -1;
	}
	*der = out;
	return 0;
}

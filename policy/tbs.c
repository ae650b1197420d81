/*
 * tbs.c — certificate bodies from pre-encoded pieces.
 */
#include <arpa/inet.h>

#include <string.h>

#include <openssl/evp.h>

#include "hsm/der.h"
#include "hsm/digest.h"
#include "policy/csr.h"
#include "policy/tbs.h"

/* A DER length's octets into l; their count, or 0 past 4 length octets. */
static size_t
len_octets(uint8_t l[5], size_t n)
{
	size_t	 k = 0, i;

	if (n < 0x80) {
		l[0] = (uint8_t)n;
		return 1;
	}
	for (i = n; i; i >>= 8)
		k++;
	if (k > 4)
		return 0;
	l[0] = (uint8_t)(0x80 | k);
	for (i = 0; i < k; i++)
		l[1 + i] = (uint8_t)(n >> (8 * (k - 1 - i)));
	return 1 + k;
}

static int
put_len(struct pbuf *b, size_t n)
{
	uint8_t	 l[5];
	size_t	 k = len_octets(l, n);

	return k == 0 ? -1 : pbuf_add(b, l, k);
}

int
der_put(struct pbuf *b, uint8_t tag, const void *p, size_t n)
{
	if (pbuf_add(b, &tag, 1) == -1 || put_len(b, n) == -1)
		return -1;
	return pbuf_add(b, p, n);
}

/* Leaves room for the tag; der_close() writes the length in front. */
size_t
der_open(struct pbuf *b, uint8_t tag)
{
	size_t	 mark = b->len;

	return pbuf_add(b, &tag, 1) == -1 ? (size_t)-1 : mark;
}

int
der_close(struct pbuf *b, size_t mark)
{
	uint8_t	 l[5];
	size_t	 n, k;

	if (mark == (size_t)-1 || mark >= b->len)
		return -1;
	n = b->len - mark - 1;
	/* Grown first, then shifted: pbuf_add may move the data. */
	if ((k = len_octets(l, n)) == 0 || pbuf_add(b, l, k) == -1)
		return -1;
	memmove(b->data + mark + 1 + k, b->data + mark + 1, n);
	memcpy(b->data + mark + 1, l, k);
	return 0;
}

/* UTCTime through 2049, GeneralizedTime after (RFC 5280 4.1.2.5). */
int
der_put_time(struct pbuf *b, time_t t)
{
	struct tm	 tm;
	char		 s[20];

	if (gmtime_r(&t, &tm) == NULL)
		return -1;
	if (tm.tm_year + 1900 >= 1950 && tm.tm_year + 1900 < 2050) {
		strftime(s, sizeof(s), "%y%m%d%H%M%SZ", &tm);
		return der_put(b, DER_UTCTIME, s, 13);
	}
	strftime(s, sizeof(s), "%Y%m%d%H%M%SZ", &tm);
	return der_put(b, DER_GENTIME, s, 15);
}

int
der_put_uint(struct pbuf *b, const uint8_t *p, size_t n)
{
	uint8_t	 zero = 0;
	size_t	 mark;

	while (n > 1 && p[0] == 0)
		p++, n--;
	if (n == 0)
		return -1;
	if ((mark = der_open(b, DER_INTEGER)) == (size_t)-1 ||
	    ((p[0] & 0x80) && pbuf_add(b, &zero, 1) == -1) ||
	    pbuf_add(b, p, n) == -1)
		return -1;
	return der_close(b, mark);
}

static const struct {
	const char	*der;
	size_t		 len;
} algids[] = {
	[ALG_ECDSA_SHA256] = { "\x30\x0a\x06\x08\x2a\x86\x48\xce\x3d\x04\x03\x02",
	    12 },
	[ALG_ECDSA_SHA384] = { "\x30\x0a\x06\x08\x2a\x86\x48\xce\x3d\x04\x03\x03",
	    12 },
	[ALG_ECDSA_SHA512] = { "\x30\x0a\x06\x08\x2a\x86\x48\xce\x3d\x04\x03\x04",
	    12 },
	[ALG_RSA_PKCS1_SHA256] = { "\x30\x0d\x06\x09\x2a\x86\x48\x86\xf7\x0d"
	    "\x01\x01\x0b\x05\x00", 15 },
	[ALG_RSA_PKCS1_SHA384] = { "\x30\x0d\x06\x09\x2a\x86\x48\x86\xf7\x0d"
	    "\x01\x01\x0c\x05\x00", 15 },
	[ALG_RSA_PKCS1_SHA512] = { "\x30\x0d\x06\x09\x2a\x86\x48\x86\xf7\x0d"
	    "\x01\x01\x0d\x05\x00", 15 },
	[ALG_ED25519] = { "\x30\x05\x06\x03\x2b\x65\x70", 7 },
};

int
tbs_algid(uint8_t alg, const uint8_t **der, size_t *len)
{
	if (alg >= sizeof(algids) / sizeof(algids[0]) || algids[alg].der == NULL)
		return -1;
	*der = (const uint8_t *)algids[alg].der;
	*len = algids[alg].len;
	return 0;
}

int
tbs_key_id(const uint8_t *spki, size_t spkilen, uint8_t out[20])
{
	struct der	 d, in;
	struct der_tlv	 t, a, bits;
	const EVP_MD	*sha1;
	unsigned int	 n;

	der_init(&d, spki, spkilen);
	if (der_expect(&d, DER_SEQUENCE, &t) == -1 || der_enter(&t, &in) == -1 ||
	    der_expect(&in, DER_SEQUENCE, &a) == -1 ||
	    der_expect(&in, DER_BITSTRING, &bits) == -1 || bits.len < 1)
		return -1;
	if ((sha1 = digest_nid(NID_sha1)) == NULL)
		return -1;
	return EVP_Digest(bits.val + 1, bits.len - 1, out, &n, sha1,
	    NULL) == 1 ? 0 : -1;
}

/* Extension ::= SEQUENCE { extnID, critical DEFAULT FALSE, extnValue } */
static int
put_ext(struct pbuf *b, const char *oid, size_t oidlen, int critical,
    const struct pbuf *value)
{
	size_t	 m = der_open(b, DER_SEQUENCE);

	if (m == (size_t)-1 || der_put(b, DER_OID, oid, oidlen) == -1 ||
	    (critical && der_put(b, DER_BOOLEAN, "\xff", 1) == -1) ||
	    der_put(b, DER_OCTETSTRING, value->data, value->len) == -1)
		return -1;
	return der_close(b, m);
}

int
tbs_san_type(const char *name)
{
	uint8_t		 ip[16];
	const char	*p = name;

	if (inet_pton(AF_INET, name, ip) == 1 ||
	    inet_pton(AF_INET6, name, ip) == 1)
		return SAN_IP;
	/* A URI has a scheme: a letter, then letters, digits, + - . and ':'. */
	if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) {
		while (*p && strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"
		    "QRSTUVWXYZ0123456789+-.", *p))
			p++;
		if (*p == ':' && p[1] != '\0')
			return SAN_URI;
	}
	return strchr(name, '@') ? SAN_EMAIL : SAN_DNS;
}

int
tbs_ext_san(struct pbuf *b, const char *const *names, int n)
{
	struct pbuf	 v;
	uint8_t		 ip[16];
	size_t		 m;
	int		 i, rc = -1;

	pbuf_init(&v);
	if ((m = der_open(&v, DER_SEQUENCE)) == (size_t)-1)
		goto out;
	for (i = 0; i < n; i++) {
		switch (tbs_san_type(names[i])) {
		case SAN_IP:
			rc = inet_pton(AF_INET, names[i], ip) == 1 ?
			    der_put(&v, DER_CTXP(7), ip, 4) :
			    inet_pton(AF_INET6, names[i], ip) == 1 ?
			    der_put(&v, DER_CTXP(7), ip, 16) : -1;
			break;
		case SAN_EMAIL:
			rc = der_put(&v, DER_CTXP(1), names[i], strlen(names[i]));
			break;
		case SAN_URI:
			rc = der_put(&v, DER_CTXP(6), names[i], strlen(names[i]));
			break;
		default:
			rc = der_put(&v, DER_CTXP(2), names[i], strlen(names[i]));
		}
		if (rc == -1)
			goto out;
	}
	rc = der_close(&v, m) == -1 ? -1 : put_ext(b, "\x55\x1d\x11", 3, 0, &v);
out:
	pbuf_free(&v);
	return rc;
}

int
tbs_ext_eku(struct pbuf *b, unsigned eku)
{
	struct pbuf	 v;
	size_t		 m;
	int		 rc = -1;

	pbuf_init(&v);
	if ((m = der_open(&v, DER_SEQUENCE)) != (size_t)-1 &&
	    (!(eku & EKU_SERVER_AUTH) || der_put(&v, DER_OID,
	    "\x2b\x06\x01\x05\x05\x07\x03\x01", 8) == 0) &&
	    (!(eku & EKU_CLIENT_AUTH) || der_put(&v, DER_OID,
	    "\x2b\x06\x01\x05\x05\x07\x03\x02", 8) == 0) &&
	    der_close(&v, m) == 0)
		rc = put_ext(b, "\x55\x1d\x25", 3, 0, &v);
	pbuf_free(&v);
	return rc;
}

static int
put_extensions(const struct tbs_profile *pr, struct pbuf *b)
{
	struct pbuf	 v;
	uint8_t		 kid[20], bits[3], pl;
	size_t		 m, i, nb;
	int		 rc = -1, hi = -1;

	pbuf_init(&v);
	if (pr->ca || pr->pathlen >= 0) {
		m = der_open(&v, DER_SEQUENCE);
		pl = (uint8_t)pr->pathlen;
		if ((pr->ca && der_put(&v, DER_BOOLEAN, "\xff", 1) == -1) ||
		    (pr->pathlen >= 0 && der_put_uint(&v, &pl, 1) == -1) ||
		    der_close(&v, m) == -1 ||
		    put_ext(b, "\x55\x1d\x13", 3, 1, &v) == -1)
			goto out;
		v.len = 0;
	}
	if (pr->keyusage) {
		for (i = 0; i < 9; i++)
			if (pr->keyusage & (1u << i))
				hi = (int)i;
		nb = hi >= 8 ? 2 : 1;
		bits[1] = bits[2] = 0;
		for (i = 0; i < 9; i++)
			if (pr->keyusage & (1u << i))
				bits[1 + i / 8] |= (uint8_t)(0x80 >> (i % 8));
		bits[0] = (uint8_t)(7 - (hi % 8));	/* unused trailing bits */
		if (der_put(&v, DER_BITSTRING, bits, 1 + nb) == -1 ||
		    put_ext(b, "\x55\x1d\x0f", 3, 1, &v) == -1)
			goto out;
		v.len = 0;
	}
	if (tbs_key_id(pr->spki, pr->spkilen, kid) == -1 ||
	    der_put(&v, DER_OCTETSTRING, kid, 20) == -1 ||
	    put_ext(b, "\x55\x1d\x0e", 3, 0, &v) == -1)
		goto out;
	v.len = 0;
	if (pr->aki_spki || pr->aki_id) {
		m = der_open(&v, DER_SEQUENCE);
		if ((pr->aki_id == NULL && tbs_key_id(pr->aki_spki,
		    pr->aki_spkilen, kid) == -1) ||
		    der_put(&v, DER_CTXP(0), pr->aki_id ? pr->aki_id : kid,
		    20) == -1 ||
		    der_close(&v, m) == -1 ||
		    put_ext(b, "\x55\x1d\x23", 3, 0, &v) == -1)
			goto out;
	}
	if (pbuf_add(b, pr->extra, pr->extralen) == -1)
		goto out;
	rc = 0;
out:
	pbuf_free(&v);
	return rc;
}

int
tbs_encode(const struct tbs_profile *pr, struct pbuf *out)
{
	const uint8_t	*alg;
	size_t		 alglen, top, m, ext, exts;

	if (tbs_algid(pr->alg, &alg, &alglen) == -1 ||
	    (top = der_open(out, DER_SEQUENCE)) == (size_t)-1 ||
	    der_put(out, DER_CTX(0), "\x02\x01\x02", 3) == -1 ||
	    der_put_uint(out, pr->serial, pr->seriallen) == -1 ||
	    pbuf_add(out, alg, alglen) == -1 ||
	    pbuf_add(out, pr->issuer, pr->issuerlen) == -1 ||
	    (m = der_open(out, DER_SEQUENCE)) == (size_t)-1 ||
	    der_put_time(out, pr->not_before) == -1 ||
	    der_put_time(out, pr->not_after) == -1 || der_close(out, m) == -1 ||
	    pbuf_add(out, pr->subject, pr->subjectlen) == -1 ||
	    pbuf_add(out, pr->spki, pr->spkilen) == -1 ||
	    (ext = der_open(out, DER_CTX(3))) == (size_t)-1 ||
	    (exts = der_open(out, DER_SEQUENCE)) == (size_t)-1 ||
	    put_extensions(pr, out) == -1 || der_close(out, exts) == -1 ||
	    der_close(out, ext) == -1)
		return -1;
	return der_close(out, top);
}

int
tbs_certificate(const uint8_t *tbs, size_t tbslen, uint8_t alg,
    const uint8_t *sig, size_t siglen, struct pbuf *out)
{
	const uint8_t	*a;
	size_t		 alen, top, m;
	uint8_t		 zero = 0;

	if (tbs_algid(alg, &a, &alen) == -1 ||
	    (top = der_open(out, DER_SEQUENCE)) == (size_t)-1 ||
	    pbuf_add(out, tbs, tbslen) == -1 || pbuf_add(out, a, alen) == -1 ||
	    (m = der_open(out, DER_BITSTRING)) == (size_t)-1 ||
	    pbuf_add(out, &zero, 1) == -1 || pbuf_add(out, sig, siglen) == -1 ||
	    der_close(out, m) == -1)
		return -1;
	return der_close(out, top);
}

/*
 * The pieces of an issued certificate a renewal or rekey keeps: walk
 * Certificate -> TBSCertificate and copy every extension but the two key
 * identifiers, which tbs_encode makes again from the (new) keys.
 */
int
tbs_parts(const uint8_t *cert, size_t n, struct tbs_parts *o)
{
	static const uint8_t ski[] = { 0x06, 0x03, 0x55, 0x1d, 0x0e };
	static const uint8_t aki[] = { 0x06, 0x03, 0x55, 0x1d, 0x23 };
	struct der	 d, c, t, v, e;
	struct der_tlv	 x, y, oid;

	memset(o, 0, sizeof(*o));
	pbuf_init(&o->extra);
	der_init(&d, cert, n);
	if (der_expect(&d, DER_SEQUENCE, &x) == -1 || !der_done(&d) ||
	    der_enter(&x, &c) == -1 ||
	    der_expect(&c, DER_SEQUENCE, &x) == -1 ||
	    der_enter(&x, &t) == -1 ||
	    der_expect(&t, DER_CTX(0), &x) == -1 ||		/* version */
	    der_expect(&t, DER_INTEGER, &x) == -1 ||		/* serial */
	    der_expect(&t, DER_SEQUENCE, &x) == -1 ||		/* sig alg */
	    der_expect(&t, DER_SEQUENCE, &x) == -1)		/* issuer */
		return -1;
	o->issuer = x.raw;
	o->issuerlen = x.rawlen;
	if (der_expect(&t, DER_SEQUENCE, &x) == -1 ||		/* validity */
	    der_enter(&x, &v) == -1 || der_read(&v, &y) == -1 ||
	    der_time(&y, &o->not_before) == -1 || der_read(&v, &y) == -1 ||
	    der_time(&y, &o->not_after) == -1 || !der_done(&v) ||
	    der_expect(&t, DER_SEQUENCE, &x) == -1)		/* subject */
		return -1;
	o->subject = x.raw;
	o->subjectlen = x.rawlen;
	if (der_expect(&t, DER_SEQUENCE, &x) == -1)		/* spki */
		return -1;
	o->spki = x.raw;
	o->spkilen = x.rawlen;
	if (der_expect(&t, DER_CTX(3), &x) == -1 || !der_done(&t) ||
	    der_enter(&x, &e) == -1 ||
	    der_expect(&e, DER_SEQUENCE, &x) == -1 || !der_done(&e) ||
	    der_enter(&x, &e) == -1)
		return -1;
	while (!der_done(&e)) {
		if (der_expect(&e, DER_SEQUENCE, &x) == -1 ||
		    der_enter(&x, &v) == -1 ||
		    der_expect(&v, DER_OID, &oid) == -1)
			goto bad;
		if (der_eq(oid.raw, oid.rawlen, ski, sizeof(ski)) ||
		    der_eq(oid.raw, oid.rawlen, aki, sizeof(aki)))
			continue;
		if (pbuf_add(&o->extra, x.raw, x.rawlen) == -1)
			goto bad;
	}
	return 0;
bad:
	pbuf_free(&o->extra);
	return -1;
}

/* The signature algorithm p11ca uses with a key of this KEYTYPE_*. */
uint8_t
tbs_alg_for(int keytype)
{
	return keytype == KEYTYPE_EC_P256 ? ALG_ECDSA_SHA256 :
	    keytype == KEYTYPE_EC_P384 ? ALG_ECDSA_SHA384 :
	    keytype == KEYTYPE_EC_P521 ? ALG_ECDSA_SHA512 :
	    keytype == KEYTYPE_RSA ? ALG_RSA_PKCS1_SHA256 : ALG_ED25519;
}

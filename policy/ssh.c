/*
 * ssh.c — OpenSSH keys, certificates and KRLs on the wire. See ssh.h.
 *
 * Everything is RFC 4251 framing: uint32 and uint64 big-endian, string
 * as uint32 length and bytes, mpint as a string of a minimal two's
 * complement integer. Readers take fields off a span and never look
 * outside it; each step returns NULL or a short reason, which the public
 * functions hand on as is.
 *
 * Keys are imported into OpenSSL from their parts (as policy/csr.c
 * does), which for EC checks that the point is on the curve.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#include <openssl/sha.h>

#include "hsm/proto.h"
#include "policy/jose.h"
#include "policy/ssh.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

#define ENOMEM_S	"out of memory"
/* Go's x/crypto/ssh, hence step-ca, refuses exponents of more bits. */
#define RSA_MAX_EXP_BITS 24
/* The nonce's length is free (PROTOCOL.certkeys); these bound it. */
#define NONCE_MIN	16
#define NONCE_MAX	64
#define CERT_SUFFIX	"-cert-v01@openssh.com"

#define KRL_MAGIC		"SSHKRL\n\0"
#define KRL_FORMAT_VERSION	1
#define KRL_SECTION_CERTIFICATES 1
#define KRL_SECTION_CERT_SERIAL_LIST 0x20
#define KRL_SECTION_CERT_SERIAL_RANGE 0x21
/* A run this long costs less as one range (21 bytes) than as serials. */
#define KRL_RANGE_MIN	3

/* The bytes still to be read, or a field that was read. */
struct span {
	const uint8_t	*p;
	size_t		 n;
};

static const struct keydef {
	const char	*name;		/* the plain key's type */
	const char	*certname;	/* its certificate's type */
	const char	*curve;		/* RFC 5656 identifier; NULL: not EC */
	const char	*group;		/* OpenSSL's name of the curve */
	int		 keytype;	/* KEYTYPE_* */
	int		 bits;		/* 0: the modulus's */
	size_t		 publen;	/* EC point or Ed25519 key; 0: RSA */
	const char	*sigalg;	/* what certificates are signed with */
	uint8_t		 alg;		/* the signer's ALG_* for that */
} keydefs[] = {
	{ "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256" CERT_SUFFIX,
	    "nistp256", "P-256", KEYTYPE_EC_P256, 256, 1 + 2 * 32,
	    "ecdsa-sha2-nistp256", ALG_ECDSA_SHA256 },
	{ "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp384" CERT_SUFFIX,
	    "nistp384", "P-384", KEYTYPE_EC_P384, 384, 1 + 2 * 48,
	    "ecdsa-sha2-nistp384", ALG_ECDSA_SHA384 },
	{ "ecdsa-sha2-nistp521", "ecdsa-sha2-nistp521" CERT_SUFFIX,
	    "nistp521", "P-521", KEYTYPE_EC_P521, 521, 1 + 2 * 66,
	    "ecdsa-sha2-nistp521", ALG_ECDSA_SHA512 },
	{ "ssh-ed25519", "ssh-ed25519" CERT_SUFFIX, NULL, NULL,
	    KEYTYPE_ED25519, 256, 32, "ssh-ed25519", ALG_ED25519 },
	/* OpenSSH 9.2 refuses SHA-1 (ssh-rsa) signatures by CAs. */
	{ "ssh-rsa", "ssh-rsa" CERT_SUFFIX, NULL, NULL, KEYTYPE_RSA, 0, 0,
	    "rsa-sha2-512", ALG_RSA_PKCS1_SHA512 },
};

/* The signatures a certificate may carry, and what they verify with. */
static const struct sigdef {
	const char	*name;
	int		 keytype;
	const EVP_MD	*(*md)(void);	/* NULL: Ed25519, which has its own */
} sigdefs[] = {
	{ "ecdsa-sha2-nistp256", KEYTYPE_EC_P256, EVP_sha256 },
	{ "ecdsa-sha2-nistp384", KEYTYPE_EC_P384, EVP_sha384 },
	{ "ecdsa-sha2-nistp521", KEYTYPE_EC_P521, EVP_sha512 },
	{ "ssh-ed25519", KEYTYPE_ED25519, NULL },
	{ "rsa-sha2-256", KEYTYPE_RSA, EVP_sha256 },
	{ "rsa-sha2-512", KEYTYPE_RSA, EVP_sha512 },
};

/* ssh-keygen's defaults for a user certificate, sorted by name. */
static const struct ssh_option_in user_exts[] = {
	{ "permit-X11-forwarding", NULL },
	{ "permit-agent-forwarding", NULL },
	{ "permit-port-forwarding", NULL },
	{ "permit-pty", NULL },
	{ "permit-user-rc", NULL },
};

/* ---- reading ---- */

static int
get_bytes(struct span *s, size_t n, struct span *v)
{
	if (n > s->n)
		return -1;
	v->p = s->p;
	v->n = n;
	s->p += n;
	s->n -= n;
	return 0;
}

static int
get_u32(struct span *s, uint32_t *x)
{
	struct span	 v;

	if (get_bytes(s, 4, &v) == -1)
		return -1;
	*x = (uint32_t)v.p[0] << 24 | (uint32_t)v.p[1] << 16 |
	    (uint32_t)v.p[2] << 8 | v.p[3];
	return 0;
}

static int
get_u64(struct span *s, uint64_t *x)
{
	uint32_t	 hi, lo;

	if (get_u32(s, &hi) == -1 || get_u32(s, &lo) == -1)
		return -1;
	*x = (uint64_t)hi << 32 | lo;
	return 0;
}

static int
get_str(struct span *s, struct span *v)
{
	struct span	 save = *s;
	uint32_t	 n;

	if (get_u32(s, &n) == -1 || get_bytes(s, n, v) == -1) {
		*s = save;
		return -1;
	}
	return 0;
}

static int
eq(const struct span *v, const char *str)
{
	size_t	 n = strlen(str);

	return v->n == n && memcmp(v->p, str, n) == 0;
}

/* A string as a NUL-terminated copy; -1 when it holds a NUL. */
static int
dup_cstr(const struct span *v, char **out)
{
	if (memchr(v->p, '\0', v->n) != NULL)
		return -1;
	if ((*out = malloc(v->n + 1)) == NULL)
		return -1;
	memcpy(*out, v->p, v->n);
	(*out)[v->n] = '\0';
	return 0;
}

/*
 * An mpint that must be positive, in minimal form (RFC 4251 5): its
 * magnitude, the sign octet off.
 */
static int
mpint_pos(const struct span *v, struct span *mag)
{
	if (v->n == 0 || (v->p[0] & 0x80) ||
	    (v->p[0] == 0 && (v->n == 1 || !(v->p[1] & 0x80))))
		return -1;
	*mag = *v;
	if (mag->p[0] == 0) {
		mag->p++;
		mag->n--;
	}
	return 0;
}

/* ---- writing ---- */

static int
put_u32(struct pbuf *b, uint32_t x)
{
	uint8_t	 v[4] = { x >> 24, x >> 16, x >> 8, x };

	return pbuf_add(b, v, sizeof(v));
}

static int
put_u64(struct pbuf *b, uint64_t x)
{
	return put_u32(b, (uint32_t)(x >> 32)) == -1 ? -1 :
	    put_u32(b, (uint32_t)x);
}

static int
put_str(struct pbuf *b, const void *p, size_t n)
{
	if (n > UINT32_MAX || put_u32(b, (uint32_t)n) == -1)
		return -1;
	return pbuf_add(b, p, n);
}

static int
put_cstr(struct pbuf *b, const char *s)
{
	return put_str(b, s, strlen(s));
}

/* Starts a string whose length str_close() writes once it is known. */
static size_t
str_open(struct pbuf *b)
{
	size_t	 mark = b->len;

	return put_u32(b, 0) == -1 ? (size_t)-1 : mark;
}

static int
str_close(struct pbuf *b, size_t mark)
{
	size_t	 n;

	if (mark == (size_t)-1 || b->len - mark - 4 > UINT32_MAX)
		return -1;
	n = b->len - mark - 4;
	b->data[mark] = (uint8_t)(n >> 24);
	b->data[mark + 1] = (uint8_t)(n >> 16);
	b->data[mark + 2] = (uint8_t)(n >> 8);
	b->data[mark + 3] = (uint8_t)n;
	return 0;
}

/* ---- base64: jose.c's strict padded codec ---- */

static const char *
b64_decode(const char *s, size_t n, uint8_t **out, size_t *outlen)
{
	if (n / 4 * 3 > SSH_MAX_BLOB + 2)
		return "blob too large";
	return jose_b64_decode(s, n, SSH_MAX_BLOB, out, outlen) == 0 ? NULL :
	    "malformed base64";
}

static char *
b64_encode(const uint8_t *p, size_t n)
{
	return n > SSH_MAX_BLOB * 4 ? NULL : jose_b64_encode(p, n);
}

/* ---- text lines ---- */

struct line {
	struct span	 type, b64, comment;
};

static int
is_ws(int c)
{
	return c == ' ' || c == '\t';
}

/*
 * "type base64[ comment]" and at most one line end: the fields, the
 * comment with the blanks around it off. No control character but tab.
 */
static const char *
split_line(const char *str, size_t n, struct line *l)
{
	const uint8_t	*s = (const uint8_t *)str;
	struct span	*f[2] = { &l->type, &l->b64 };
	size_t		 i = 0, j, k;

	memset(l, 0, sizeof(*l));
	if (str == NULL || n > 2 * SSH_MAX_BLOB)
		return "malformed key line";
	if (n > 0 && s[n - 1] == '\n' && --n > 0 && s[n - 1] == '\r')
		n--;
	for (j = 0; j < n; j++)
		if ((s[j] < 0x20 && s[j] != '\t') || s[j] == 0x7f)
			return "control character in key line";
	for (k = 0; k < 2; k++) {
		for (j = i; j < n && !is_ws(s[j]); j++)
			;
		if (j == i)
			return "malformed key line";
		f[k]->p = s + i;
		f[k]->n = j - i;
		for (i = j; i < n && is_ws(s[i]); i++)
			;
		if (k == 0 && i == j)
			return "malformed key line";
	}
	while (n > i && is_ws(s[n - 1]))
		n--;
	l->comment.p = s + i;
	l->comment.n = n - i;
	return NULL;
}

/* ---- keys ---- */

static const struct keydef *
keydef_by_type(int keytype)
{
	size_t	 i;

	for (i = 0; i < nitems(keydefs); i++)
		if (keydefs[i].keytype == keytype)
			return &keydefs[i];
	return NULL;
}

/* A key this module filled in, with its definition. */
static const struct keydef *
keydef_of(const struct ssh_key *k)
{
	const struct keydef	*kd;

	if (k == NULL || k->blob == NULL || k->pkey == NULL ||
	    (kd = keydef_by_type(k->keytype)) == NULL)
		return NULL;
	return kd;
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

/* A big-endian magnitude as an OSSL_PARAM's BN wants it: host order. */
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

/* ssh-rsa's fields: mpint e, mpint n. */
static const char *
rsa_fields(struct span *s, struct ssh_key *k)
{
	struct span	 ev, nv, e, m;
	OSSL_PARAM	 op[3];
	uint8_t		 nh[SSH_RSA_MAX_BITS / 8], eh[4];
	uint32_t	 x = 0;
	unsigned	 top;
	size_t		 i;
	int		 bits;

	if (get_str(s, &ev) == -1 || get_str(s, &nv) == -1 ||
	    mpint_pos(&ev, &e) == -1 || mpint_pos(&nv, &m) == -1)
		return "malformed RSA key";
	if (e.n > 3)
		return "unsupported RSA public exponent";
	for (i = 0; i < e.n; i++)
		x = x << 8 | e.p[i];
	if (x < 3 || x % 2 == 0 || x >> RSA_MAX_EXP_BITS != 0)
		return "unsupported RSA public exponent";
	if (m.n > SSH_RSA_MAX_BITS / 8)
		return "RSA key larger than 16384 bits";
	/* mpint_pos(): the magnitude's first octet is not 0. */
	bits = (int)(m.n - 1) * 8;
	for (top = m.p[0]; top != 0; top >>= 1)
		bits++;
	if (bits < SSH_RSA_MIN_BITS)
		return "RSA key shorter than 2048 bits";
	to_host(nh, m.p, m.n);
	to_host(eh, e.p, e.n);
	op[0] = OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_RSA_N, nh, m.n);
	op[1] = OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_RSA_E, eh, e.n);
	op[2] = OSSL_PARAM_construct_end();
	if ((k->pkey = fromdata("RSA", op)) == NULL)
		return "invalid public key";
	k->bits = bits;
	return NULL;
}

/*
 * The fields of a kd key that follow its type, off s, checked and
 * imported into k (all but the blob).
 */
static const char *
key_fields(struct span *s, const struct keydef *kd, struct ssh_key *k)
{
	struct span	 curve, q;
	OSSL_PARAM	 op[3];
	const char	*err;

	switch (kd->keytype) {
	case KEYTYPE_RSA:
		if ((err = rsa_fields(s, k)) != NULL)
			return err;
		break;
	case KEYTYPE_ED25519:
		if (get_str(s, &q) == -1 || q.n != kd->publen)
			return "malformed Ed25519 key";
		if ((k->pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519",
		    NULL, q.p, q.n)) == NULL)
			return "invalid public key";
		k->bits = kd->bits;
		break;
	default:
		if (get_str(s, &curve) == -1 || get_str(s, &q) == -1)
			return "malformed ECDSA key";
		if (!eq(&curve, kd->curve))
			return "ECDSA curve does not match the key type";
		/* OpenSSH reads uncompressed points only. */
		if (q.n == 0 || q.p[0] != 0x04)
			return "unsupported EC point encoding";
		if (q.n != kd->publen)
			return "malformed ECDSA key";
		/* OSSL_PARAM's pointers are not const; nothing writes. */
		op[0] = OSSL_PARAM_construct_utf8_string(
		    OSSL_PKEY_PARAM_GROUP_NAME, (char *)kd->group, 0);
		op[1] = OSSL_PARAM_construct_octet_string(
		    OSSL_PKEY_PARAM_PUB_KEY, (void *)q.p, q.n);
		op[2] = OSSL_PARAM_construct_end();
		if ((k->pkey = fromdata("EC", op)) == NULL)
			return "invalid public key: EC point not on the curve";
		k->bits = kd->bits;
		break;
	}
	k->keytype = kd->keytype;
	k->name = kd->name;
	return NULL;
}

static void
key_clear(struct ssh_key *k)
{
	EVP_PKEY_free(k->pkey);
	free(k->blob);
	free(k->comment);
	memset(k, 0, sizeof(*k));
}

/* A whole key blob into k, blob copied; k is cleared on failure. */
static const char *
key_blob(const uint8_t *p, size_t n, struct ssh_key *k)
{
	const struct keydef	*kd = NULL;
	struct span		 s = { p, n }, t;
	const char		*err;
	size_t			 i;

	memset(k, 0, sizeof(*k));
	if (n > SSH_MAX_BLOB)
		return "key blob too large";
	if (get_str(&s, &t) == -1)
		return "malformed key blob";
	for (i = 0; i < nitems(keydefs); i++)
		if (eq(&t, keydefs[i].name))
			kd = &keydefs[i];
		else if (eq(&t, keydefs[i].certname))
			return "a certificate, not a plain key";
	if (kd == NULL)
		return "unsupported key type";
	if ((err = key_fields(&s, kd, k)) == NULL && s.n != 0)
		err = "trailing data after the key";
	if (err == NULL && (k->blob = malloc(n)) == NULL)
		err = ENOMEM_S;
	if (err != NULL) {
		key_clear(k);
		return err;
	}
	memcpy(k->blob, p, n);
	k->bloblen = n;
	return NULL;
}

/* Hands err to the caller, with OpenSSL's error queue as it was. */
static int
result(const char *err, char *why, size_t whysz)
{
	ERR_pop_to_mark();
	if (err == NULL)
		return 0;
	if (why != NULL && whysz > 0)
		snprintf(why, whysz, "%s", err);
	return -1;
}

int
ssh_key_from_blob(const uint8_t *p, size_t n, struct ssh_key *k, char *why,
    size_t whysz)
{
	ERR_set_mark();
	if (p == NULL) {
		memset(k, 0, sizeof(*k));
		return result("malformed key blob", why, whysz);
	}
	return result(key_blob(p, n, k), why, whysz);
}

static const char *
key_text(const char *s, size_t n, struct ssh_key *k)
{
	struct line	 l;
	uint8_t		*blob = NULL;
	size_t		 len;
	const char	*err;

	memset(k, 0, sizeof(*k));
	if ((err = split_line(s, n, &l)) != NULL ||
	    (err = b64_decode((const char *)l.b64.p, l.b64.n, &blob,
	    &len)) != NULL)
		return err;
	err = key_blob(blob, len, k);
	free(blob);
	if (err != NULL)
		return err;
	if (!eq(&l.type, k->name))
		err = "key type does not match the blob's";
	else if (l.comment.n > 0 && dup_cstr(&l.comment, &k->comment) == -1)
		err = ENOMEM_S;
	if (err != NULL)
		key_clear(k);
	return err;
}

int
ssh_key_from_text(const char *s, size_t n, struct ssh_key *k, char *why,
    size_t whysz)
{
	ERR_set_mark();
	return result(key_text(s, n, k), why, whysz);
}

/*
 * The wire blob of an OpenSSL key onto b: the type's name, then its
 * fields (RFC 4253 6.6, RFC 5656 3.1, RFC 8709). The EC point goes out
 * uncompressed, whatever form the key was read in.
 */
static const char *
pkey_blob(const EVP_PKEY *pk, struct pbuf *b)
{
	const struct keydef	*kd = NULL;
	BIGNUM			*x = NULL, *y = NULL;
	uint8_t			 v[1 + SSH_RSA_MAX_BITS / 8];
	char			 group[64];
	const char		*err = "malformed key";
	size_t			 i, len;
	int			 nid, l, pad;

	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_ED25519:
		kd = keydef_by_type(KEYTYPE_ED25519);
		len = kd->publen;
		if (EVP_PKEY_get_raw_public_key(pk, v, &len) != 1 ||
		    len != kd->publen)
			return err;
		return put_cstr(b, kd->name) == -1 || put_str(b, v, len) == -1 ?
		    ENOMEM_S : NULL;
	case EVP_PKEY_RSA:
		kd = keydef_by_type(KEYTYPE_RSA);
		if (EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &x) != 1 ||
		    EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &y) != 1)
			break;
		if (BN_num_bytes(x) > SSH_RSA_MAX_BITS / 8 ||
		    BN_num_bytes(y) > SSH_RSA_MAX_BITS / 8) {
			err = "RSA key larger than 16384 bits";
			break;
		}
		if (put_cstr(b, kd->name) == -1) {
			err = ENOMEM_S;
			break;
		}
		/* mpint e, mpint n: a zero octet before a high bit */
		for (i = 0; i < 2; i++) {
			v[0] = 0;
			if ((l = BN_bn2bin(i == 0 ? x : y, v + 1)) <= 0)
				break;
			pad = (v[1] & 0x80) != 0;
			if (put_str(b, v + 1 - pad, (size_t)l + pad) == -1) {
				err = ENOMEM_S;
				break;
			}
		}
		if (i == 2)
			err = NULL;
		break;
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_utf8_string_param(pk,
		    OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
		    NULL) != 1 || (nid = OBJ_txt2nid(group)) == NID_undef)
			return "unsupported EC curve";
		for (i = 0; i < nitems(keydefs); i++)
			if (keydefs[i].group != NULL &&
			    EC_curve_nist2nid(keydefs[i].group) == nid)
				kd = &keydefs[i];
		if (kd == NULL)
			return "unsupported EC curve";
		len = (kd->publen - 1) / 2;
		v[0] = 0x04;
		if (EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_X,
		    &x) != 1 || EVP_PKEY_get_bn_param(pk,
		    OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1 ||
		    BN_bn2binpad(x, v + 1, (int)len) != (int)len ||
		    BN_bn2binpad(y, v + 1 + len, (int)len) != (int)len)
			break;
		err = put_cstr(b, kd->name) == -1 ||
		    put_cstr(b, kd->curve) == -1 ||
		    put_str(b, v, kd->publen) == -1 ? ENOMEM_S : NULL;
		break;
	default:
		return "unsupported key type";
	}
	BN_free(x);
	BN_free(y);
	return err;
}

int
ssh_key_from_pkey(EVP_PKEY *pk, struct ssh_key *k, char *why, size_t whysz)
{
	struct pbuf	 b;
	const char	*err;

	ERR_set_mark();
	memset(k, 0, sizeof(*k));
	if (pk == NULL)
		return result("malformed key", why, whysz);
	pbuf_init(&b);
	if ((err = pkey_blob(pk, &b)) == NULL)
		err = key_blob(b.data, b.len, k);
	pbuf_free(&b);
	return result(err, why, whysz);
}

void
ssh_key_free(struct ssh_key *k)
{
	if (k != NULL)
		key_clear(k);
}

int
ssh_fingerprint(const uint8_t *blob, size_t n, char out[SSH_FP_SIZE])
{
	uint8_t	 md[SHA256_DIGEST_LENGTH];
	char	 b[45];

	if (blob == NULL || SHA256(blob, n, md) == NULL)
		return -1;
	/* 32 bytes are 43 characters of base64 and one '=', left off. */
	EVP_EncodeBlock((unsigned char *)b, md, sizeof(md));
	snprintf(out, SSH_FP_SIZE, "SHA256:%.43s", b);
	return 0;
}

int
ssh_to_text(const uint8_t *blob, size_t n, const char *comment,
    struct pbuf *out)
{
	struct span	 s = { blob, n }, t;
	size_t		 start = out->len, i;
	char		*b64;
	int		 rc = -1;

	if (blob == NULL || get_str(&s, &t) == -1 || t.n == 0)
		return -1;
	for (i = 0; i < t.n; i++)
		if (t.p[i] <= 0x20 || t.p[i] >= 0x7f)
			return -1;
	/* What split_line() takes back. */
	for (i = 0; comment != NULL && comment[i] != '\0'; i++)
		if (((unsigned char)comment[i] < 0x20 && comment[i] != '\t') ||
		    comment[i] == 0x7f)
			return -1;
	if ((b64 = b64_encode(blob, n)) == NULL)
		return -1;
	if (pbuf_add(out, t.p, t.n) == 0 && pbuf_add(out, " ", 1) == 0 &&
	    pbuf_add(out, b64, strlen(b64)) == 0 && (comment == NULL ||
	    comment[0] == '\0' || (pbuf_add(out, " ", 1) == 0 &&
	    pbuf_add(out, comment, strlen(comment)) == 0)) &&
	    pbuf_add(out, "\n", 1) == 0)
		rc = 0;
	else
		out->len = start;
	free(b64);
	return rc;
}

int
ssh_sign_alg(const struct ssh_key *ca)
{
	const struct keydef	*kd = keydef_of(ca);

	return kd == NULL ? -1 : kd->alg;
}

/* ---- signatures ---- */

/*
 * A signature blob (string algorithm, string signature) checked to be
 * one ca could have made: its definition, and the signature proper.
 * ECDSA's is string(mpint r, mpint s), each no longer than the order.
 */
static const char *
sig_blob(const uint8_t *p, size_t n, const struct ssh_key *ca,
    const struct sigdef **sdp, struct span *sig)
{
	const struct sigdef	*sd = NULL;
	struct span		 s = { p, n }, alg, v, r, rs;
	size_t			 i, max;

	if (get_str(&s, &alg) == -1 || get_str(&s, sig) == -1 || s.n != 0)
		return "malformed signature";
	for (i = 0; i < nitems(sigdefs); i++)
		if (eq(&alg, sigdefs[i].name))
			sd = &sigdefs[i];
	if (sd == NULL)
		return eq(&alg, "ssh-rsa") ? "SHA-1 RSA signature refused" :
		    "unsupported signature algorithm";
	if (sd->keytype != ca->keytype)
		return "signature algorithm does not fit the signature key";
	switch (sd->keytype) {
	case KEYTYPE_ED25519:
		if (sig->n != 64)
			return "malformed Ed25519 signature";
		break;
	case KEYTYPE_RSA:
		/* PKCS #1 signatures are as long as the modulus. */
		if (sig->n != (size_t)(ca->bits + 7) / 8)
			return "malformed RSA signature";
		break;
	default:
		s = *sig;
		max = (size_t)(ca->bits + 7) / 8;
		if (get_str(&s, &v) == -1 || mpint_pos(&v, &r) == -1 ||
		    get_str(&s, &v) == -1 || mpint_pos(&v, &rs) == -1 ||
		    s.n != 0 || r.n > max || rs.n > max)
			return "malformed ECDSA signature";
		break;
	}
	*sdp = sd;
	return NULL;
}

/* ECDSA's string(mpint r, mpint s), checked already, as DER for OpenSSL. */
static const char *
ecdsa_der(const struct span *sig, uint8_t **der, size_t *len)
{
	struct span	 s = *sig, v, r, t;
	ECDSA_SIG	*es;
	BIGNUM		*br = NULL, *bs = NULL;
	int		 n;

	if (get_str(&s, &v) == -1 || mpint_pos(&v, &r) == -1 ||
	    get_str(&s, &v) == -1 || mpint_pos(&v, &t) == -1)
		return "malformed ECDSA signature";
	if ((es = ECDSA_SIG_new()) == NULL ||
	    (br = BN_bin2bn(r.p, (int)r.n, NULL)) == NULL ||
	    (bs = BN_bin2bn(t.p, (int)t.n, NULL)) == NULL ||
	    ECDSA_SIG_set0(es, br, bs) != 1) {
		BN_free(br);
		BN_free(bs);
		ECDSA_SIG_free(es);
		return ENOMEM_S;
	}
	*der = NULL;
	n = i2d_ECDSA_SIG(es, der);
	ECDSA_SIG_free(es);
	if (n <= 0)
		return ENOMEM_S;
	*len = (size_t)n;
	return NULL;
}

static const char *
verify(const struct ssh_cert *c)
{
	const struct sigdef	*sd;
	struct span		 sig;
	EVP_MD_CTX		*ctx;
	uint8_t			*der = NULL;
	const uint8_t		*sp;
	size_t			 sn;
	const char		*err;

	if (c->raw == NULL || c->ca.pkey == NULL)
		return "no certificate";
	if ((err = sig_blob(c->sig, c->siglen, &c->ca, &sd, &sig)) != NULL)
		return err;
	sp = sig.p;
	sn = sig.n;
	if (sd->keytype != KEYTYPE_RSA && sd->keytype != KEYTYPE_ED25519) {
		if ((err = ecdsa_der(&sig, &der, &sn)) != NULL)
			return err;
		sp = der;
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		err = ENOMEM_S;
	else if (EVP_DigestVerifyInit(ctx, NULL, sd->md != NULL ? sd->md() :
	    NULL, NULL, c->ca.pkey) != 1)
		err = "signature cannot be checked";
	else if (EVP_DigestVerify(ctx, sp, sn, c->raw, c->bodylen) != 1)
		err = "bad certificate signature";
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	return err;
}

int
ssh_cert_verify(const struct ssh_cert *c, char *why, size_t whysz)
{
	ERR_set_mark();
	return result(verify(c), why, whysz);
}

/* ---- certificate encoding ---- */

/*
 * string(name, data pairs), sorted by name, each taken once: o is
 * walked for the least name above the last one written, so a name given
 * twice is the one never reached.
 */
static const char *
put_options(struct pbuf *b, const struct ssh_option_in *o, size_t n)
{
	const char	*prev = NULL;
	size_t		 i, j, best, m, mv;

	if (n > SSH_MAX_OPTIONS)
		return "too many options";
	for (i = 0; i < n; i++)
		if (o[i].name == NULL || o[i].name[0] == '\0')
			return "empty option name";
	if ((m = str_open(b)) == (size_t)-1)
		return ENOMEM_S;
	for (j = 0; j < n; j++) {
		for (best = n, i = 0; i < n; i++)
			if ((prev == NULL || strcmp(o[i].name, prev) > 0) &&
			    (best == n || strcmp(o[i].name, o[best].name) < 0))
				best = i;
		if (best == n)
			return "option given twice";
		if (put_cstr(b, o[best].name) == -1)
			return ENOMEM_S;
		if (o[best].value == NULL) {
			if (put_str(b, NULL, 0) == -1)
				return ENOMEM_S;
		} else if ((mv = str_open(b)) == (size_t)-1 ||
		    put_cstr(b, o[best].value) == -1 || str_close(b, mv) == -1)
			return ENOMEM_S;
		prev = o[best].name;
	}
	return str_close(b, m) == -1 ? ENOMEM_S : NULL;
}

static const char *
body(const struct ssh_cert_req *r, struct pbuf *b)
{
	const struct keydef		*kd, *cd;
	const struct ssh_option_in	*ext = r->extensions;
	struct span			 s, t;
	size_t				 i, m, next = r->nextensions;
	const char			*err;

	if ((kd = keydef_of(r->key)) == NULL)
		return "no key to certify";
	if ((cd = keydef_of(r->ca)) == NULL)
		return "no signature key";
	if (r->nonce == NULL)
		return "no nonce";
	if (r->type != SSH_CERT_USER && r->type != SSH_CERT_HOST)
		return "certificate type is neither user nor host";
	if (r->key_id == NULL)
		return "no key id";
	/* OpenSSH takes no principal at all as any principal. */
	if (r->nprincipals == 0 || r->principals == NULL)
		return "no principals";
	if (r->nprincipals > SSH_MAX_PRINCIPALS)
		return "too many principals";
	for (i = 0; i < r->nprincipals; i++)
		if (r->principals[i] == NULL || r->principals[i][0] == '\0')
			return "empty principal";
	if (r->valid_after >= r->valid_before)
		return "empty validity interval";
	if (r->ncritical > 0 && r->critical == NULL)
		return "no critical options";
	if (ext == NULL) {
		ext = r->type == SSH_CERT_USER ? user_exts : NULL;
		next = r->type == SSH_CERT_USER ? nitems(user_exts) : 0;
	}
	/* The key's own fields follow its type string in the blob. */
	s.p = r->key->blob;
	s.n = r->key->bloblen;
	if (get_str(&s, &t) == -1)
		return "no key to certify";
	if (put_cstr(b, kd->certname) == -1 ||
	    put_str(b, r->nonce, SSH_NONCE_LEN) == -1 ||
	    pbuf_add(b, s.p, s.n) == -1 || put_u64(b, r->serial) == -1 ||
	    put_u32(b, r->type) == -1 || put_cstr(b, r->key_id) == -1 ||
	    (m = str_open(b)) == (size_t)-1)
		return ENOMEM_S;
	for (i = 0; i < r->nprincipals; i++)
		if (put_cstr(b, r->principals[i]) == -1)
			return ENOMEM_S;
	if (str_close(b, m) == -1 || put_u64(b, r->valid_after) == -1 ||
	    put_u64(b, r->valid_before) == -1)
		return ENOMEM_S;
	if ((err = put_options(b, r->critical, r->ncritical)) != NULL ||
	    (err = put_options(b, ext, next)) != NULL)
		return err;
	/* reserved, then the signature key */
	if (put_str(b, NULL, 0) == -1 ||
	    put_str(b, r->ca->blob, r->ca->bloblen) == -1)
		return ENOMEM_S;
	return NULL;
}

int
ssh_cert_body(const struct ssh_cert_req *r, struct pbuf *out, char *why,
    size_t whysz)
{
	size_t		 start = out->len;
	const char	*err;

	ERR_set_mark();
	if ((err = r == NULL ? "no request" : body(r, out)) != NULL)
		out->len = start;
	return result(err, why, whysz);
}

static const char *
finish(struct pbuf *b, const struct ssh_key *ca, const uint8_t *sig,
    size_t siglen)
{
	const struct keydef	*kd;
	const struct sigdef	*sd;
	struct span		 s, tail;
	const char		*err;
	size_t			 n;

	if ((kd = keydef_of(ca)) == NULL)
		return "no signature key";
	/* The body ends with string(the signature key). */
	n = ca->bloblen;
	if (b->len < n + 4)
		return "the body's signature key is not this key";
	tail.p = b->data + b->len - n - 4;
	tail.n = n + 4;
	if (get_str(&tail, &s) == -1 || tail.n != 0 || s.n != n ||
	    memcmp(s.p, ca->blob, n) != 0)
		return "the body's signature key is not this key";
	if (sig == NULL)
		return "malformed signature";
	if ((err = sig_blob(sig, siglen, ca, &sd, &s)) != NULL)
		return err;
	if (strcmp(sd->name, kd->sigalg) != 0)
		return "signature algorithm is not the one to use";
	return put_str(b, sig, siglen) == -1 ? ENOMEM_S : NULL;
}

int
ssh_cert_finish(struct pbuf *b, const struct ssh_key *ca, const uint8_t *sig,
    size_t siglen, char *why, size_t whysz)
{
	size_t		 start = b->len;
	const char	*err;

	ERR_set_mark();
	if ((err = finish(b, ca, sig, siglen)) != NULL)
		b->len = start;
	return result(err, why, whysz);
}

/* ---- certificate parsing ---- */

/*
 * string(name, data pairs) into a new array: names NUL-free, not
 * empty, each above the one before (sorted and unique, as
 * PROTOCOL.certkeys requires); data as it stands.
 */
static const char *
get_options(struct span *s, struct ssh_option **out, size_t *nout)
{
	struct span	 all, l, name, data, prev = { NULL, 0 };
	size_t		 n = 0, i;
	int		 c;

	if (get_str(s, &all) == -1)
		return "malformed options";
	for (l = all; l.n > 0; n++)
		if (get_str(&l, &name) == -1 || get_str(&l, &data) == -1)
			return "malformed options";
	if (n > SSH_MAX_OPTIONS)
		return "too many options";
	if (n == 0)
		return NULL;
	if ((*out = calloc(n, sizeof(**out))) == NULL)
		return ENOMEM_S;
	for (l = all, i = 0; i < n; i++) {
		/* Both were read above. */
		(void)get_str(&l, &name);
		(void)get_str(&l, &data);
		if (name.n == 0)
			return "empty option name";
		if (prev.p != NULL) {
			c = memcmp(prev.p, name.p, prev.n < name.n ? prev.n :
			    name.n);
			if (c > 0 || (c == 0 && prev.n >= name.n))
				return "options not sorted, or repeated";
		}
		if (dup_cstr(&name, &(*out)[i].name) == -1)
			return "malformed option name";
		(*out)[i].data = data.p;
		(*out)[i].datalen = data.n;
		*nout = i + 1;
		prev = name;
	}
	return NULL;
}

static const char *
get_principals(struct span *s, struct ssh_cert *c)
{
	struct span	 all, l, v;
	size_t		 n = 0, i;

	if (get_str(s, &all) == -1)
		return "malformed principals";
	for (l = all; l.n > 0; n++)
		if (n == SSH_MAX_PRINCIPALS)
			return "too many principals";
		else if (get_str(&l, &v) == -1)
			return "malformed principals";
	if (n == 0)
		return NULL;
	if ((c->principals = calloc(n, sizeof(*c->principals))) == NULL)
		return ENOMEM_S;
	for (l = all, i = 0; i < n; i++) {
		(void)get_str(&l, &v);
		if (v.n == 0)
			return "empty principal";
		if (dup_cstr(&v, &c->principals[i]) == -1)
			return "malformed principal";
		c->nprincipals = i + 1;
	}
	return NULL;
}

/*
 * c->raw[0..rawlen), which c owns already, into the rest of c:
 * PROTOCOL.certkeys' fields in order, nothing left over.
 */
static const char *
cert_parse(struct ssh_cert *c)
{
	const struct keydef	*kd = NULL;
	const struct sigdef	*sd;
	struct span		 s = { c->raw, c->rawlen }, t, v, sig;
	const uint8_t		*f;
	const char		*err;
	size_t			 i, fn;

	if (c->rawlen > SSH_MAX_BLOB)
		return "certificate too large";
	if (get_str(&s, &t) == -1)
		return "malformed certificate";
	for (i = 0; i < nitems(keydefs); i++)
		if (eq(&t, keydefs[i].certname))
			kd = &keydefs[i];
		else if (eq(&t, keydefs[i].name))
			return "a plain key, not a certificate";
	if (kd == NULL)
		return "unsupported certificate type";
	c->name = kd->certname;
	if (get_str(&s, &v) == -1)
		return "malformed nonce";
	if (v.n < NONCE_MIN || v.n > NONCE_MAX)
		return "unsupported nonce length";
	c->nonce = v.p;
	c->noncelen = v.n;
	f = s.p;
	if ((err = key_fields(&s, kd, &c->key)) != NULL)
		return err;
	/* The certified key as a plain key blob: string name, fields. */
	fn = (size_t)(s.p - f);
	c->key.bloblen = 4 + strlen(kd->name) + fn;
	if ((c->key.blob = malloc(c->key.bloblen)) == NULL)
		return ENOMEM_S;
	t.n = strlen(kd->name);
	c->key.blob[0] = (uint8_t)(t.n >> 24);
	c->key.blob[1] = (uint8_t)(t.n >> 16);
	c->key.blob[2] = (uint8_t)(t.n >> 8);
	c->key.blob[3] = (uint8_t)t.n;
	memcpy(c->key.blob + 4, kd->name, t.n);
	memcpy(c->key.blob + 4 + t.n, f, fn);

	if (get_u64(&s, &c->serial) == -1 || get_u32(&s, &c->type) == -1)
		return "malformed serial or type";
	if (c->type != SSH_CERT_USER && c->type != SSH_CERT_HOST)
		return "certificate type is neither user nor host";
	if (get_str(&s, &v) == -1 || dup_cstr(&v, &c->key_id) == -1)
		return "malformed key id";
	if ((err = get_principals(&s, c)) != NULL)
		return err;
	if (get_u64(&s, &c->valid_after) == -1 ||
	    get_u64(&s, &c->valid_before) == -1)
		return "malformed validity";
	if (c->valid_after >= c->valid_before)
		return "empty validity interval";
	if ((err = get_options(&s, &c->critical, &c->ncritical)) != NULL ||
	    (err = get_options(&s, &c->extensions, &c->nextensions)) != NULL)
		return err;
	if (get_str(&s, &v) == -1)
		return "malformed reserved field";
	if (v.n != 0)
		return "reserved field not empty";
	if (get_str(&s, &v) == -1)
		return "malformed signature key";
	if ((err = key_blob(v.p, v.n, &c->ca)) != NULL)
		return err;
	c->bodylen = (size_t)(s.p - c->raw);
	if (get_str(&s, &v) == -1)
		return "malformed signature";
	if (s.n != 0)
		return "trailing data after the certificate";
	if ((err = sig_blob(v.p, v.n, &c->ca, &sd, &sig)) != NULL)
		return err;
	c->sig = v.p;
	c->siglen = v.n;
	c->sigalg = sd->name;
	return NULL;
}

static void
cert_clear(struct ssh_cert *c)
{
	size_t	 i;

	key_clear(&c->key);
	key_clear(&c->ca);
	for (i = 0; i < c->nprincipals; i++)
		free(c->principals[i]);
	free(c->principals);
	for (i = 0; i < c->ncritical; i++)
		free(c->critical[i].name);
	free(c->critical);
	for (i = 0; i < c->nextensions; i++)
		free(c->extensions[i].name);
	free(c->extensions);
	free(c->key_id);
	free(c->comment);
	free(c->raw);
	memset(c, 0, sizeof(*c));
}

int
ssh_cert_from_blob(const uint8_t *p, size_t n, struct ssh_cert *c,
    char *why, size_t whysz)
{
	const char	*err = NULL;

	ERR_set_mark();
	memset(c, 0, sizeof(*c));
	if (p == NULL)
		err = "malformed certificate";
	else if (n > SSH_MAX_BLOB)
		err = "certificate too large";
	else if ((c->raw = malloc(n > 0 ? n : 1)) == NULL)
		err = ENOMEM_S;
	else {
		if (n > 0)
			memcpy(c->raw, p, n);
		c->rawlen = n;
		err = cert_parse(c);
	}
	if (err != NULL)
		cert_clear(c);
	return result(err, why, whysz);
}

static const char *
cert_text(const char *s, size_t n, struct ssh_cert *c)
{
	struct line	 l;
	const char	*err;

	if ((err = split_line(s, n, &l)) != NULL ||
	    (err = b64_decode((const char *)l.b64.p, l.b64.n, &c->raw,
	    &c->rawlen)) != NULL || (err = cert_parse(c)) != NULL)
		return err;
	if (!eq(&l.type, c->name))
		return "certificate type does not match the blob's";
	if (l.comment.n > 0 && dup_cstr(&l.comment, &c->comment) == -1)
		return ENOMEM_S;
	return NULL;
}

int
ssh_cert_from_text(const char *s, size_t n, struct ssh_cert *c, char *why,
    size_t whysz)
{
	const char	*err;

	ERR_set_mark();
	memset(c, 0, sizeof(*c));
	if ((err = cert_text(s, n, c)) != NULL)
		cert_clear(c);
	return result(err, why, whysz);
}

void
ssh_cert_free(struct ssh_cert *c)
{
	if (c != NULL)
		cert_clear(c);
}

int
ssh_cert_valid_at(const struct ssh_cert *c, uint64_t now)
{
	return c->raw != NULL && c->valid_after <= now &&
	    now < c->valid_before ? 0 : -1;
}

/* ---- KRLs ---- */

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t	 x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* One CA's KRL_SECTION_CERTIFICATES, its serials in v[0..n), sorted. */
static const char *
krl_ca(struct pbuf *b, const struct ssh_krl_ca *ca, const uint64_t *v,
    size_t n)
{
	uint8_t	 type = KRL_SECTION_CERTIFICATES;
	size_t	 m, ml = (size_t)-1, i, j;

	if (pbuf_add(b, &type, 1) == -1 || (m = str_open(b)) == (size_t)-1 ||
	    put_str(b, ca->ca, ca->calen) == -1 || put_str(b, NULL, 0) == -1)
		return ENOMEM_S;
	/* The serials outside long runs, in one list... */
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && v[j] == v[j - 1] + 1; j++)
			;
		if (j - i >= KRL_RANGE_MIN)
			continue;
		type = KRL_SECTION_CERT_SERIAL_LIST;
		if (ml == (size_t)-1 && (pbuf_add(b, &type, 1) == -1 ||
		    (ml = str_open(b)) == (size_t)-1))
			return ENOMEM_S;
		for (; i < j; i++)
			if (put_u64(b, v[i]) == -1)
				return ENOMEM_S;
	}
	if (ml != (size_t)-1 && str_close(b, ml) == -1)
		return ENOMEM_S;
	/* ...and the runs, one range each (OpenSSH reads one a section). */
	for (i = 0; i < n; i = j) {
		for (j = i + 1; j < n && v[j] == v[j - 1] + 1; j++)
			;
		type = KRL_SECTION_CERT_SERIAL_RANGE;
		if (j - i >= KRL_RANGE_MIN && (pbuf_add(b, &type, 1) == -1 ||
		    put_u32(b, 16) == -1 || put_u64(b, v[i]) == -1 ||
		    put_u64(b, v[j - 1]) == -1))
			return ENOMEM_S;
	}
	return str_close(b, m) == -1 ? ENOMEM_S : NULL;
}

static const char *
krl(const struct ssh_krl *k, struct pbuf *b)
{
	const struct ssh_krl_ca	*ca;
	struct ssh_key		 key;
	uint64_t		*v;
	size_t			 i, j, n;
	const char		*err;

	if (k->ncas > 0 && k->cas == NULL)
		return "no CAs";
	if (pbuf_add(b, KRL_MAGIC, 8) == -1 ||
	    put_u32(b, KRL_FORMAT_VERSION) == -1 ||
	    put_u64(b, k->version) == -1 || put_u64(b, k->generated) == -1 ||
	    put_u64(b, 0) == -1 || put_str(b, NULL, 0) == -1 ||
	    put_cstr(b, k->comment != NULL ? k->comment : "") == -1)
		return ENOMEM_S;
	for (i = 0; i < k->ncas; i++) {
		ca = &k->cas[i];
		/* An empty CA key means any CA; any other must be a key. */
		if (ca->calen > 0) {
			if (ca->ca == NULL ||
			    key_blob(ca->ca, ca->calen, &key) != NULL)
				return "malformed CA key";
			key_clear(&key);
		}
		if (ca->nserials > 0 && ca->serials == NULL)
			return "no serials";
		if (ca->nserials > SIZE_MAX / sizeof(*v))
			return ENOMEM_S;
		if ((v = malloc(ca->nserials > 0 ? ca->nserials * sizeof(*v) :
		    1)) == NULL)
			return ENOMEM_S;
		if (ca->nserials > 0)
			memcpy(v, ca->serials, ca->nserials * sizeof(*v));
		qsort(v, ca->nserials, sizeof(*v), cmp_u64);
		for (n = j = 0; j < ca->nserials; j++)
			if (n == 0 || v[j] != v[n - 1])
				v[n++] = v[j];
		/* OpenSSH refuses serial 0, which means "no serial". */
		err = n > 0 && v[0] == 0 ? "serial 0 cannot be revoked" :
		    krl_ca(b, ca, v, n);
		free(v);
		if (err != NULL)
			return err;
	}
	return NULL;
}

int
ssh_krl_encode(const struct ssh_krl *k, struct pbuf *out, char *why,
    size_t whysz)
{
	size_t		 start = out->len;
	const char	*err;

	ERR_set_mark();
	if ((err = k == NULL ? "no KRL" : krl(k, out)) != NULL)
		out->len = start;
	return result(err, why, whysz);
}

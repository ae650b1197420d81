/*
 * jose.c — JOSE for step-ca compatibility: base64url, JWK, thumbprints,
 * compact JWS and PBES2 JWE. See jose.h for the contract.
 */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "hsm/digest.h"
#include "policy/jose.h"
#include "policy/json.h"
#include "policy/p256.h"

#define PBES2_ALG	"PBES2-HS256+A128KW"
#define JWE_ENC		"A256GCM"
#define KEK_LEN		16
#define CEK_LEN		32
#define WRAPPED_LEN	(CEK_LEN + 8)
#define GCM_IV_LEN	12
#define GCM_TAG_LEN	16
#define P2S_LEN		16
#define P2S_MIN		8	/* RFC 7518 §4.8.1.1 */
#define P2S_MAX		256
#define CTY_MAX		64

const char *
jose_strerror(int err)
{
	switch (err) {
	case JOSE_OK:
		return "success";
	case JOSE_ERR_INTERNAL:
		return "internal error";
	case JOSE_ERR_FORMAT:
		return "malformed input";
	case JOSE_ERR_TOOBIG:
		return "input too large";
	case JOSE_ERR_ALG:
		return "algorithm refused or does not fit the key";
	case JOSE_ERR_KEY:
		return "no usable key";
	case JOSE_ERR_VERIFY:
		return "verification failed";
	case JOSE_ERR_PARAM:
		return "header parameter refused";
	}
	return "unknown error";
}

void
jose_free_secret(void *p, size_t len)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, len);
	free(p);
}

static void
free_str(char *s)
{
	if (s != NULL)
		jose_free_secret(s, strlen(s));
}

/* ---- base64url ---- */

/*
 * Branch-free character mapping, so that encoding or decoding a private
 * key does not leak its bits through table lookups or branches. All
 * operands are below 2^16, so the subtraction's sign bit is the answer.
 */
static unsigned
ct_lt(unsigned a, unsigned b)
{
	return 0U - ((a - b) >> (sizeof(unsigned) * CHAR_BIT - 1));
}

static unsigned
ct_in(unsigned c, unsigned lo, unsigned hi)
{
	return ~ct_lt(c, lo) & ct_lt(c, hi + 1);
}

static unsigned
ct_eq(unsigned a, unsigned b)
{
	return ct_lt(a ^ b, 1);
}

static char
b64_chr(unsigned v)
{
	unsigned c;

	c = ct_lt(v, 26) & (v + 'A');
	c |= ct_in(v, 26, 51) & (v - 26 + 'a');
	c |= ct_in(v, 52, 61) & (v - 52 + '0');
	c |= ct_eq(v, 62) & '-';
	c |= ct_eq(v, 63) & '_';
	return (char)c;
}

/* b64_val by table: for public input only (b64url_decode). */
static const uint16_t b64url_tab[256] = {
	0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100,
	0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100,
	0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100,
	0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x03e, 0x100, 0x100,
	0x034, 0x035, 0x036, 0x037, 0x038, 0x039, 0x03a, 0x03b, 0x03c, 0x03d, 0x100, 0x100,
	0x100, 0x100, 0x100, 0x100, 0x100, 0x000, 0x001, 0x002, 0x003, 0x004, 0x005, 0x006,
	0x007, 0x008, 0x009, 0x00a, 0x00b, 0x00c, 0x00d, 0x00e, 0x00f, 0x010, 0x011, 0x012,
	0x013, 0x014, 0x015, 0x016, 0x017, 0x018, 0x019, 0x100, 0x100, 0x100, 0x100, 0x03f,
	0x100, 0x01a, 0x01b, 0x01c, 0x01d, 0x01e, 0x01f, 0x020, 0x021, 0x022, 0x023, 0x024,
	0x025, 0x026, 0x027, 0x028, 0x029, 0x02a, 0x02b, 0x02c, 0x02d, 0x02e, 0x02f, 0x030,
	0x031, 0x032, 0x033, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100,
	0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100,
	0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100,
	0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100,
	0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100,
	0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100,
	0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100,
	0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100,
	0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100,
	0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100,
	0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100, 0x100,
	0x100, 0x100, 0x100, 0x100,
};

/* 0..63, or with bit 0x100 set for a byte outside the alphabet. */
static unsigned
b64_val(unsigned char ch)
{
	unsigned c = ch, m, ok, v;

	ok = ct_in(c, 'A', 'Z');
	v = ok & (c - 'A');
	m = ct_in(c, 'a', 'z');
	v |= m & (c - 'a' + 26);
	ok |= m;
	m = ct_in(c, '0', '9');
	v |= m & (c - '0' + 52);
	ok |= m;
	m = ct_eq(c, '-');
	v |= m & 62;
	ok |= m;
	m = ct_eq(c, '_');
	v |= m & 63;
	ok |= m;
	return (v & 63) | (~ok & 0x100);
}

static size_t
b64_enclen(size_t n)
{
	return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

/* Writes b64_enclen(inlen) characters and a NUL. */
static void
b64_encode_into(const uint8_t *p, size_t inlen, char *out)
{
	size_t i, o = 0;
	uint32_t w;

	for (i = 0; i + 3 <= inlen; i += 3) {
		w = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = b64_chr(w >> 18 & 63);
		out[o++] = b64_chr(w >> 12 & 63);
		out[o++] = b64_chr(w >> 6 & 63);
		out[o++] = b64_chr(w & 63);
	}
	if (inlen - i == 1) {
		w = (uint32_t)p[i] << 16;
		out[o++] = b64_chr(w >> 18 & 63);
		out[o++] = b64_chr(w >> 12 & 63);
	} else if (inlen - i == 2) {
		w = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		out[o++] = b64_chr(w >> 18 & 63);
		out[o++] = b64_chr(w >> 12 & 63);
		out[o++] = b64_chr(w >> 6 & 63);
	}
	out[o] = '\0';
}

char *
jose_b64url_encode(const void *in, size_t inlen)
{
	char *out;

	if ((in == NULL && inlen != 0) || inlen > SIZE_MAX / 2)
		return NULL;
	if ((out = malloc(b64_enclen(inlen) + 1)) == NULL)
		return NULL;
	b64_encode_into(in, inlen, out);
	return out;
}

/*
 * The strict decoder, two ways: secret, constant-time (b64_val), for key
 * material; or not, by table, for what arrives in the clear anyway (the
 * parts of a JWS). The flag is the caller's, never the data's.
 */
static int
b64url_decode(const char *in, size_t inlen, uint8_t **out, size_t *outlen,
    int secret)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t rem = inlen % 4, olen, i, o = 0;
	unsigned a, b, c, d, bad = 0, trail = 0;
	uint32_t w;
	uint8_t *buf;

#define B64V(ch)	(secret ? b64_val(ch) : b64url_tab[(ch)])

	if (out == NULL || outlen == NULL)
		return JOSE_ERR_INTERNAL;
	*out = NULL;
	*outlen = 0;
	if ((in == NULL && inlen != 0) || rem == 1)
		return JOSE_ERR_FORMAT;
	if (inlen > SIZE_MAX / 2)
		return JOSE_ERR_TOOBIG;
	olen = inlen / 4 * 3 + (rem ? rem - 1 : 0);
	if ((buf = malloc(olen + 1)) == NULL)
		return JOSE_ERR_INTERNAL;

	for (i = 0; i + 4 <= inlen; i += 4) {
		a = B64V(s[i]);
		b = B64V(s[i + 1]);
		c = B64V(s[i + 2]);
		d = B64V(s[i + 3]);
		bad |= a | b | c | d;
		w = (a & 63) << 18 | (b & 63) << 12 | (c & 63) << 6 | (d & 63);
		buf[o++] = (uint8_t)(w >> 16);
		buf[o++] = (uint8_t)(w >> 8);
		buf[o++] = (uint8_t)w;
	}
	if (rem == 2) {
		a = B64V(s[i]);
		b = B64V(s[i + 1]);
		bad |= a | b;
		trail = b & 0x0f;
		buf[o++] = (uint8_t)((a & 63) << 2 | (b & 63) >> 4);
	} else if (rem == 3) {
		a = B64V(s[i]);
		b = B64V(s[i + 1]);
		c = B64V(s[i + 2]);
		bad |= a | b | c;
		trail = c & 0x03;
		w = (a & 63) << 12 | (b & 63) << 6 | (c & 63);
		buf[o++] = (uint8_t)(w >> 10);
		buf[o++] = (uint8_t)(w >> 2);
	}
	if ((bad & 0x100) != 0 || trail != 0) {
		jose_free_secret(buf, olen + 1);
		return JOSE_ERR_FORMAT;
	}
	buf[olen] = '\0';
	*out = buf;
	*outlen = olen;
	return JOSE_OK;
#undef B64V
}

int
jose_b64url_decode(const char *in, size_t inlen, uint8_t **out,
    size_t *outlen)
{
	return b64url_decode(in, inlen, out, outlen, 1);
}

/* A JWS part: public, so the table's speed is safe. */
static int
jws_b64(const char *in, size_t inlen, uint8_t **out, size_t *outlen)
{
	return b64url_decode(in, inlen, out, outlen, 0);
}

/* ---- JSON ---- */

/*
 * Refuses what cJSON would read differently from Go's encoding/json:
 * invalid UTF-8 (Go substitutes U+FFFD, cJSON passes bytes through) and
 * \u0000 (cJSON ends the C string there, Go keeps the rest).
 */
static int
json_text_ok(const uint8_t *s, size_t len)
{
	size_t i = 0, n, k;
	uint32_t cp, min;
	int instr = 0;
	uint8_t ch;

	while (i < len) {
		ch = s[i];
		if (ch < 0x80) {
			if (ch == '\0')
				return 0;
			if (instr && ch == '\\') {
				if (i + 1 >= len)
					return 0;
				if (s[i + 1] == 'u' && i + 5 < len &&
				    memcmp(s + i + 2, "0000", 4) == 0)
					return 0;
				i += 2;
				continue;
			}
			if (ch == '"')
				instr = !instr;
			i++;
			continue;
		}
		if (ch >= 0xc2 && ch <= 0xdf) {
			n = 1;
			cp = ch & 0x1f;
			min = 0x80;
		} else if ((ch & 0xf0) == 0xe0) {
			n = 2;
			cp = ch & 0x0f;
			min = 0x800;
		} else if (ch >= 0xf0 && ch <= 0xf4) {
			n = 3;
			cp = ch & 0x07;
			min = 0x10000;
		} else
			return 0;
		if (len - i <= n)
			return 0;
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += n + 1;
	}
	return 1;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* 1 when no object in the tree has two members of one name. */
static int
json_nodup(const cJSON *node)
{
	const cJSON *c;
	const char **names;
	size_t n = 0, i;
	int ok = 1;

	for (c = node->child; c != NULL; c = c->next) {
		if ((cJSON_IsObject(c) || cJSON_IsArray(c)) && !json_nodup(c))
			return 0;
		n++;
	}
	if (!cJSON_IsObject(node) || n < 2)
		return 1;
	/* Sorting keeps a 64 KiB object of tiny members from costing n^2. */
	if ((names = calloc(n, sizeof(*names))) == NULL)
		return 0;
	for (i = 0, c = node->child; c != NULL; c = c->next, i++) {
		if (c->string == NULL) {
			free(names);
			return 0;
		}
		names[i] = c->string;
	}
	qsort(names, n, sizeof(*names), name_cmp);
	for (i = 1; i < n && ok; i++)
		if (strcmp(names[i - 1], names[i]) == 0)
			ok = 0;
	free(names);
	return ok;
}

cJSON *
jose_json_parse(const void *buf, size_t len)
{
	cJSON *j;
	char *s;

	if (buf == NULL || len > JOSE_MAX_COMPACT || !json_text_ok(buf, len))
		return NULL;
	if ((s = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(s, buf, len);
	s[len] = '\0';
	j = json_parse(s, len + 1, 1);
	/* The text may be a decrypted private JWK. */
	jose_free_secret(s, len + 1);
	if (j == NULL)
		return NULL;
	if (!cJSON_IsObject(j) || !json_nodup(j)) {
		jose_jwk_free(j);
		return NULL;
	}
	return j;
}

static void
json_wipe(cJSON *n)
{
	for (; n != NULL; n = n->next) {
		if (n->valuestring != NULL && !(n->type & cJSON_IsReference))
			OPENSSL_cleanse(n->valuestring, strlen(n->valuestring));
		if (n->child != NULL && !(n->type & cJSON_IsReference))
			json_wipe(n->child);
	}
}

void
jose_jwk_free(cJSON *jwk)
{
	if (jwk == NULL)
		return;
	json_wipe(jwk);
	cJSON_Delete(jwk);
}

/* The string value of member name, or NULL when absent or not a string. */
static const char *
str_member(const cJSON *o, const char *name)
{
	const cJSON *m;

	/* cJSON_GetObjectItem ignores case; JOSE names are case-sensitive. */
	m = cJSON_GetObjectItemCaseSensitive(o, name);
	if (!cJSON_IsString(m) || m->valuestring == NULL)
		return NULL;
	return m->valuestring;
}

static int
has_member(const cJSON *o, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(o, name) != NULL;
}

/* Decodes a base64url member; exactly want bytes unless want is 0. */
static int
member_bytes(const cJSON *o, const char *name, size_t want, uint8_t **out,
    size_t *outlen)
{
	const char *s;
	int rc;

	*out = NULL;
	*outlen = 0;
	if ((s = str_member(o, name)) == NULL)
		return JOSE_ERR_FORMAT;
	if ((rc = jose_b64url_decode(s, strlen(s), out, outlen)) != JOSE_OK)
		return rc;
	if ((want != 0 && *outlen != want) || *outlen == 0) {
		jose_free_secret(*out, *outlen);
		*out = NULL;
		*outlen = 0;
		return JOSE_ERR_FORMAT;
	}
	return JOSE_OK;
}

/* ---- keys and algorithms ---- */

struct curve {
	const char	*crv;		/* JOSE name */
	const char	*group;		/* OpenSSL group name */
	int		 nid;
	size_t		 size;		/* bytes per coordinate */
	const char	*alg;
};

static const struct curve curves[] = {
	{ "P-256", "prime256v1", NID_X9_62_prime256v1, 32, "ES256" },
	{ "P-384", "secp384r1", NID_secp384r1, 48, "ES384" },
	{ "P-521", "secp521r1", NID_secp521r1, 66, "ES512" },
};
#define NCURVES	(sizeof(curves) / sizeof(curves[0]))

enum { K_EC = 1, K_RSA, K_PSS, K_ED };

struct alg {
	const char	*name;
	int		 kind;
	const char	*md;		/* NULL for EdDSA */
	int		 nid;		/* curve, for K_EC */
};

static const struct alg algs[] = {
	{ "ES256", K_EC, "SHA256", NID_X9_62_prime256v1 },
	{ "ES384", K_EC, "SHA384", NID_secp384r1 },
	{ "ES512", K_EC, "SHA512", NID_secp521r1 },
	{ "RS256", K_RSA, "SHA256", 0 },
	{ "RS384", K_RSA, "SHA384", 0 },
	{ "RS512", K_RSA, "SHA512", 0 },
	{ "PS256", K_PSS, "SHA256", 0 },
	{ "PS384", K_PSS, "SHA384", 0 },
	{ "PS512", K_PSS, "SHA512", 0 },
	{ "EdDSA", K_ED, NULL, 0 },
};
#define NALGS	(sizeof(algs) / sizeof(algs[0]))

/* Only the listed names: "none", HSnnn and case variants never match. */
static const struct alg *
alg_lookup(const char *name)
{
	size_t i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < NALGS; i++)
		if (strcmp(algs[i].name, name) == 0)
			return &algs[i];
	return NULL;
}

static const struct curve *
curve_by_nid(int nid)
{
	size_t i;

	for (i = 0; i < NCURVES; i++)
		if (curves[i].nid == nid)
			return &curves[i];
	return NULL;
}

static const struct curve *
curve_by_crv(const char *crv)
{
	size_t i;

	for (i = 0; i < NCURVES; i++)
		if (strcmp(curves[i].crv, crv) == 0)
			return &curves[i];
	return NULL;
}

static const struct curve *
pkey_curve(const EVP_PKEY *pk)
{
	char name[80];
	size_t len = 0;
	int nid;

	if (!EVP_PKEY_is_a(pk, "EC"))
		return NULL;
	if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME,
	    name, sizeof(name), &len) != 1)
		return NULL;
	/* Providers may name the group "prime256v1" or "P-256". */
	if ((nid = OBJ_sn2nid(name)) == NID_undef)
		nid = EC_curve_nist2nid(name);
	return curve_by_nid(nid);
}

static int
rsa_size_ok(const EVP_PKEY *pk)
{
	int bits;

	if (!EVP_PKEY_is_a(pk, "RSA"))
		return 0;
	bits = EVP_PKEY_get_bits(pk);
	return bits >= JOSE_RSA_MIN_BITS && bits <= JOSE_RSA_MAX_BITS;
}

static int
alg_fits(const struct alg *a, const EVP_PKEY *pk)
{
	const struct curve *cv;

	if (a == NULL || pk == NULL)
		return 0;
	switch (a->kind) {
	case K_EC:
		cv = pkey_curve(pk);
		return cv != NULL && cv->nid == a->nid;
	case K_RSA:
	case K_PSS:
		return rsa_size_ok(pk);
	case K_ED:
		return EVP_PKEY_is_a(pk, "ED25519");
	}
	return 0;
}

int
jose_alg_fits_key(const char *alg, const EVP_PKEY *pk)
{
	return alg_fits(alg_lookup(alg), pk) ? JOSE_OK : JOSE_ERR_ALG;
}

const char *
jose_default_alg(const EVP_PKEY *pk)
{
	const struct curve *cv;

	if (pk == NULL)
		return NULL;
	if ((cv = pkey_curve(pk)) != NULL)
		return cv->alg;
	if (EVP_PKEY_is_a(pk, "ED25519"))
		return "EdDSA";
	if (rsa_size_ok(pk))
		return "RS256";
	return NULL;
}

/* ---- JWK ---- */

/* Key members as base64url strings; the private ones are wiped. */
struct jwkf {
	const char	*kty;
	const char	*crv;
	char		*x, *y, *n, *e;
	char		*d, *p, *q, *dp, *dq, *qi;
};

static void
jwkf_free(struct jwkf *f)
{
	free_str(f->x);
	free_str(f->y);
	free_str(f->n);
	free_str(f->e);
	free_str(f->d);
	free_str(f->p);
	free_str(f->q);
	free_str(f->dp);
	free_str(f->dq);
	free_str(f->qi);
	memset(f, 0, sizeof(*f));
}

/* Big-endian, padded to pad bytes, or minimal when pad is 0. */
static char *
bn_b64(const BIGNUM *bn, size_t pad)
{
	size_t len;
	uint8_t *buf;
	char *s = NULL;

	if (bn == NULL)
		return NULL;
	len = pad != 0 ? pad : (size_t)BN_num_bytes(bn);
	if (len == 0)
		len = 1;
	if ((buf = malloc(len)) == NULL)
		return NULL;
	if (BN_bn2binpad(bn, buf, (int)len) == (int)len)
		s = jose_b64url_encode(buf, len);
	jose_free_secret(buf, len);
	return s;
}

static BIGNUM *
pkey_bn(const EVP_PKEY *pk, const char *name)
{
	BIGNUM *bn = NULL;

	if (EVP_PKEY_get_bn_param(pk, name, &bn) != 1) {
		BN_clear_free(bn);
		return NULL;
	}
	return bn;
}

static char *
pkey_bn_b64(const EVP_PKEY *pk, const char *name, size_t pad)
{
	BIGNUM *bn;
	char *s;

	if ((bn = pkey_bn(pk, name)) == NULL)
		return NULL;
	s = bn_b64(bn, pad);
	BN_clear_free(bn);
	return s;
}

static int
ec_fields(const EVP_PKEY *pk, int priv, struct jwkf *f)
{
	const struct curve *cv;

	if ((cv = pkey_curve(pk)) == NULL)
		return -1;
	f->kty = "EC";
	f->crv = cv->crv;
	/* The coordinates, not PUB_KEY: that may come back compressed. */
	if ((f->x = pkey_bn_b64(pk, OSSL_PKEY_PARAM_EC_PUB_X, cv->size)) ==
	    NULL ||
	    (f->y = pkey_bn_b64(pk, OSSL_PKEY_PARAM_EC_PUB_Y, cv->size)) ==
	    NULL)
		return -1;
	if (priv && (f->d = pkey_bn_b64(pk, OSSL_PKEY_PARAM_PRIV_KEY,
	    cv->size)) == NULL)
		return -1;
	return 0;
}

static int
rsa_fields(const EVP_PKEY *pk, int priv, struct jwkf *f)
{
	BIGNUM *bn;

	if (!rsa_size_ok(pk))
		return -1;
	f->kty = "RSA";
	if ((f->n = pkey_bn_b64(pk, OSSL_PKEY_PARAM_RSA_N, 0)) == NULL ||
	    (f->e = pkey_bn_b64(pk, OSSL_PKEY_PARAM_RSA_E, 0)) == NULL)
		return -1;
	if (!priv)
		return 0;
	/* A JWK can carry more primes ("oth"); step never does. */
	if ((bn = pkey_bn(pk, OSSL_PKEY_PARAM_RSA_FACTOR3)) != NULL) {
		BN_clear_free(bn);
		return -1;
	}
	if ((f->d = pkey_bn_b64(pk, OSSL_PKEY_PARAM_RSA_D, 0)) == NULL ||
	    (f->p = pkey_bn_b64(pk, OSSL_PKEY_PARAM_RSA_FACTOR1, 0)) == NULL ||
	    (f->q = pkey_bn_b64(pk, OSSL_PKEY_PARAM_RSA_FACTOR2, 0)) == NULL ||
	    (f->dp = pkey_bn_b64(pk, OSSL_PKEY_PARAM_RSA_EXPONENT1, 0)) ==
	    NULL ||
	    (f->dq = pkey_bn_b64(pk, OSSL_PKEY_PARAM_RSA_EXPONENT2, 0)) ==
	    NULL ||
	    (f->qi = pkey_bn_b64(pk, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, 0)) ==
	    NULL)
		return -1;
	return 0;
}

static int
ed_fields(const EVP_PKEY *pk, int priv, struct jwkf *f)
{
	uint8_t raw[32];
	size_t len = sizeof(raw);

	if (!EVP_PKEY_is_a(pk, "ED25519"))
		return -1;
	f->kty = "OKP";
	f->crv = "Ed25519";
	if (EVP_PKEY_get_raw_public_key(pk, raw, &len) != 1 ||
	    len != sizeof(raw) ||
	    (f->x = jose_b64url_encode(raw, len)) == NULL)
		return -1;
	if (priv) {
		len = sizeof(raw);
		if (EVP_PKEY_get_raw_private_key(pk, raw, &len) != 1 ||
		    len != sizeof(raw) ||
		    (f->d = jose_b64url_encode(raw, len)) == NULL) {
			OPENSSL_cleanse(raw, sizeof(raw));
			return -1;
		}
		OPENSSL_cleanse(raw, sizeof(raw));
	}
	return 0;
}

/* Printable ASCII without '"' and '\\': copied verbatim into JSON. */
static int
json_safe(const char *s)
{
	if (s == NULL)
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e ||
		    *s == '"' || *s == '\\')
			return 0;
	return 1;
}

static int
thumbprint(const char *kty, const char *crv, const char *x, const char *y,
    const char *n, const char *e, char out[JOSE_THUMBPRINT_LEN + 1])
{
	/* RFC 7638 §3.2: the required members only, sorted by name. */
	const char *m[4][2];
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t nm, i, len = 1, o = 0;
	char *canon;
	int rc = JOSE_ERR_INTERNAL;

	if (kty == NULL)
		return JOSE_ERR_FORMAT;
	if (strcmp(kty, "EC") == 0) {
		m[0][0] = "crv", m[0][1] = crv;
		m[1][0] = "kty", m[1][1] = kty;
		m[2][0] = "x", m[2][1] = x;
		m[3][0] = "y", m[3][1] = y;
		nm = 4;
	} else if (strcmp(kty, "RSA") == 0) {
		m[0][0] = "e", m[0][1] = e;
		m[1][0] = "kty", m[1][1] = kty;
		m[2][0] = "n", m[2][1] = n;
		nm = 3;
	} else if (strcmp(kty, "OKP") == 0) {
		m[0][0] = "crv", m[0][1] = crv;
		m[1][0] = "kty", m[1][1] = kty;
		m[2][0] = "x", m[2][1] = x;
		nm = 3;
	} else
		return JOSE_ERR_KEY;
	/* Values needing no escapes keep the JSON a plain concatenation. */
	for (i = 0; i < nm; i++) {
		if (!json_safe(m[i][1]))
			return JOSE_ERR_FORMAT;
		len += strlen(m[i][0]) + strlen(m[i][1]) + 6;
		if (len > JOSE_MAX_COMPACT)
			return JOSE_ERR_TOOBIG;
	}
	if ((canon = malloc(len + 1)) == NULL)
		return JOSE_ERR_INTERNAL;
	for (i = 0; i < nm; i++) {
		canon[o++] = i == 0 ? '{' : ',';
		canon[o++] = '"';
		memcpy(canon + o, m[i][0], strlen(m[i][0]));
		o += strlen(m[i][0]);
		memcpy(canon + o, "\":\"", 3);
		o += 3;
		memcpy(canon + o, m[i][1], strlen(m[i][1]));
		o += strlen(m[i][1]);
		canon[o++] = '"';
	}
	canon[o++] = '}';
	if (o == len && EVP_Digest(canon, len, md, &mdlen, EVP_sha256(),
	    NULL) == 1 && mdlen == 32) {
		b64_encode_into(md, mdlen, out);
		rc = JOSE_OK;
	}
	free(canon);
	return rc;
}

int
jose_jwk_thumbprint(const cJSON *jwk, char out[JOSE_THUMBPRINT_LEN + 1])
{
	if (jwk == NULL || out == NULL || !cJSON_IsObject(jwk))
		return JOSE_ERR_FORMAT;
	return thumbprint(str_member(jwk, "kty"), str_member(jwk, "crv"),
	    str_member(jwk, "x"), str_member(jwk, "y"), str_member(jwk, "n"),
	    str_member(jwk, "e"), out);
}

static int
pkey_fields(const EVP_PKEY *pk, int priv, struct jwkf *f)
{
	memset(f, 0, sizeof(*f));
	if (pk == NULL)
		return -1;
	if (EVP_PKEY_is_a(pk, "EC"))
		return ec_fields(pk, priv, f);
	if (EVP_PKEY_is_a(pk, "RSA"))
		return rsa_fields(pk, priv, f);
	if (EVP_PKEY_is_a(pk, "ED25519"))
		return ed_fields(pk, priv, f);
	return -1;
}

int
jose_pkey_thumbprint(const EVP_PKEY *pk, char out[JOSE_THUMBPRINT_LEN + 1])
{
	struct jwkf f;
	int rc;

	if (out == NULL)
		return JOSE_ERR_INTERNAL;
	if (pkey_fields(pk, 0, &f) != 0)
		rc = JOSE_ERR_KEY;
	else
		rc = thumbprint(f.kty, f.crv, f.x, f.y, f.n, f.e, out);
	jwkf_free(&f);
	return rc;
}

static int
add_str(cJSON *o, const char *name, const char *val)
{
	if (val == NULL)
		return 0;
	return cJSON_AddStringToObject(o, name, val) == NULL ? -1 : 0;
}

cJSON *
jose_jwk_from_pkey(const EVP_PKEY *pk, int flags)
{
	char kid[JOSE_THUMBPRINT_LEN + 1];
	const char *use = NULL, *alg = NULL, *kidp = NULL;
	struct jwkf f;
	cJSON *o = NULL;

	if (pkey_fields(pk, flags & JOSE_JWK_PRIVATE, &f) != 0)
		goto out;
	if (flags & JOSE_JWK_STEP) {
		if (thumbprint(f.kty, f.crv, f.x, f.y, f.n, f.e, kid) !=
		    JOSE_OK || (alg = jose_default_alg(pk)) == NULL)
			goto out;
		use = "sig";
		kidp = kid;
	}
	if ((o = cJSON_CreateObject()) == NULL)
		goto out;
	/* go-jose's member order, so our output reads like step's. */
	if (add_str(o, "use", use) || add_str(o, "kty", f.kty) ||
	    add_str(o, "kid", kidp) || add_str(o, "crv", f.crv) ||
	    add_str(o, "alg", alg) || add_str(o, "x", f.x) ||
	    add_str(o, "y", f.y) || add_str(o, "n", f.n) ||
	    add_str(o, "e", f.e) || add_str(o, "d", f.d) ||
	    add_str(o, "p", f.p) || add_str(o, "q", f.q) ||
	    add_str(o, "dp", f.dp) || add_str(o, "dq", f.dq) ||
	    add_str(o, "qi", f.qi)) {
		jose_jwk_free(o);
		o = NULL;
	}
out:
	jwkf_free(&f);
	return o;
}

static EVP_PKEY *
pkey_fromdata(const char *type, int selection, OSSL_PARAM *params)
{
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *pk = NULL;

	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL)) == NULL)
		return NULL;
	if (EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pk, selection, params) != 1) {
		EVP_PKEY_free(pk);
		pk = NULL;
	}
	EVP_PKEY_CTX_free(ctx);
	return pk;
}

/* Full validation: a private key must also match its public half. */
static int
pkey_valid(EVP_PKEY *pk, int priv)
{
	EVP_PKEY_CTX *ctx;
	int r;

	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL)) == NULL)
		return 0;
	r = priv ? EVP_PKEY_check(ctx) : EVP_PKEY_public_check(ctx);
	EVP_PKEY_CTX_free(ctx);
	return r == 1;
}

static EVP_PKEY *
ec_from_jwk(const cJSON *jwk, int priv)
{
	const struct curve *cv;
	const char *crv;
	uint8_t *x = NULL, *y = NULL, *d = NULL, *pub = NULL;
	size_t xl, yl, dl = 0, publ = 0;
	BIGNUM *dbn = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY *pk = NULL;

	if ((crv = str_member(jwk, "crv")) == NULL ||
	    (cv = curve_by_crv(crv)) == NULL)
		return NULL;
	/* RFC 7518 §6.2.1.2: full-length coordinates, as go-jose insists. */
	if (member_bytes(jwk, "x", cv->size, &x, &xl) != JOSE_OK ||
	    member_bytes(jwk, "y", cv->size, &y, &yl) != JOSE_OK)
		goto out;
	publ = 1 + 2 * cv->size;
	if ((pub = malloc(publ)) == NULL)
		goto out;
	pub[0] = 0x04;
	memcpy(pub + 1, x, cv->size);
	memcpy(pub + 1 + cv->size, y, cv->size);

	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	    cv->group, 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
	    pub, publ) != 1)
		goto out;
	if (priv) {
		if (member_bytes(jwk, "d", cv->size, &d, &dl) != JOSE_OK ||
		    (dbn = BN_secure_new()) == NULL ||
		    BN_bin2bn(d, (int)dl, dbn) == NULL ||
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY,
		    dbn) != 1)
			goto out;
	}
	if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		goto out;
	pk = pkey_fromdata("EC", priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
	    params);
	if (pk != NULL && !pkey_valid(pk, priv)) {
		EVP_PKEY_free(pk);
		pk = NULL;
	}
out:
	free(x);
	free(y);
	free(pub);
	jose_free_secret(d, dl);
	BN_clear_free(dbn);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return pk;
}

/* A BIGNUM from a base64url member; secret ones live in secure memory. */
static BIGNUM *
member_bn(const cJSON *jwk, const char *name, int secret)
{
	uint8_t *b;
	size_t bl;
	BIGNUM *bn;

	if (member_bytes(jwk, name, 0, &b, &bl) != JOSE_OK)
		return NULL;
	if (bl > JOSE_RSA_MAX_BITS / 8 + 1) {
		jose_free_secret(b, bl);
		return NULL;
	}
	bn = secret ? BN_secure_new() : BN_new();
	if (bn != NULL && BN_bin2bn(b, (int)bl, bn) == NULL) {
		BN_clear_free(bn);
		bn = NULL;
	}
	if (bn != NULL && secret)
		BN_set_flags(bn, BN_FLG_CONSTTIME);
	jose_free_secret(b, bl);
	return bn;
}

/* CRT values from d, p, q, for a JWK that left them out (RFC 7518 §6.3.2). */
static int
rsa_crt(const BIGNUM *d, const BIGNUM *p, const BIGNUM *q, BIGNUM **dp,
    BIGNUM **dq, BIGNUM **qi)
{
	BN_CTX *ctx;
	BIGNUM *t;
	int ok = 0;

	if ((ctx = BN_CTX_secure_new()) == NULL)
		return 0;
	BN_CTX_start(ctx);
	if ((t = BN_CTX_get(ctx)) == NULL)
		goto out;
	if (*dp == NULL) {
		if ((*dp = BN_secure_new()) == NULL || BN_copy(t, p) == NULL ||
		    !BN_sub_word(t, 1) || !BN_mod(*dp, d, t, ctx))
			goto out;
	}
	if (*dq == NULL) {
		if ((*dq = BN_secure_new()) == NULL || BN_copy(t, q) == NULL ||
		    !BN_sub_word(t, 1) || !BN_mod(*dq, d, t, ctx))
			goto out;
	}
	if (*qi == NULL) {
		if ((*qi = BN_secure_new()) == NULL)
			goto out;
		BN_set_flags(*qi, BN_FLG_CONSTTIME);
		if (BN_mod_inverse(*qi, q, p, ctx) == NULL)
			goto out;
	}
	ok = 1;
out:
	BN_CTX_end(ctx);
	BN_CTX_free(ctx);
	return ok;
}

static EVP_PKEY *
rsa_from_jwk(const cJSON *jwk, int priv)
{
	BIGNUM *n = NULL, *e = NULL, *d = NULL, *p = NULL, *q = NULL;
	BIGNUM *dp = NULL, *dq = NULL, *qi = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY *pk = NULL;
	int bits;

	if ((n = member_bn(jwk, "n", 0)) == NULL ||
	    (e = member_bn(jwk, "e", 0)) == NULL)
		goto out;
	bits = BN_num_bits(n);
	/* Go's crypto/rsa takes odd e in 3..2^31-1; so do we. */
	if (bits < JOSE_RSA_MIN_BITS || bits > JOSE_RSA_MAX_BITS ||
	    BN_num_bits(e) < 2 || BN_num_bits(e) > 31 || !BN_is_odd(e))
		goto out;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1)
		goto out;
	if (priv) {
		if (has_member(jwk, "oth"))
			goto out;
		if ((d = member_bn(jwk, "d", 1)) == NULL ||
		    (p = member_bn(jwk, "p", 1)) == NULL ||
		    (q = member_bn(jwk, "q", 1)) == NULL)
			goto out;
		if (has_member(jwk, "dp") &&
		    (dp = member_bn(jwk, "dp", 1)) == NULL)
			goto out;
		if (has_member(jwk, "dq") &&
		    (dq = member_bn(jwk, "dq", 1)) == NULL)
			goto out;
		if (has_member(jwk, "qi") &&
		    (qi = member_bn(jwk, "qi", 1)) == NULL)
			goto out;
		if (!rsa_crt(d, p, q, &dp, &dq, &qi))
			goto out;
		if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D,
		    d) != 1 ||
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR1,
		    p) != 1 ||
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR2,
		    q) != 1 ||
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1,
		    dp) != 1 ||
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2,
		    dq) != 1 ||
		    OSSL_PARAM_BLD_push_BN(bld,
		    OSSL_PKEY_PARAM_RSA_COEFFICIENT1, qi) != 1)
			goto out;
	}
	if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		goto out;
	pk = pkey_fromdata("RSA", priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY,
	    params);
	if (pk != NULL && !pkey_valid(pk, priv)) {
		EVP_PKEY_free(pk);
		pk = NULL;
	}
out:
	BN_free(n);
	BN_free(e);
	BN_clear_free(d);
	BN_clear_free(p);
	BN_clear_free(q);
	BN_clear_free(dp);
	BN_clear_free(dq);
	BN_clear_free(qi);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return pk;
}

static EVP_PKEY *
okp_from_jwk(const cJSON *jwk, int priv)
{
	const char *crv;
	uint8_t *x = NULL, *d = NULL, pub[32];
	size_t xl = 0, dl = 0, publ = sizeof(pub);
	EVP_PKEY *pk = NULL;

	if ((crv = str_member(jwk, "crv")) == NULL ||
	    strcmp(crv, "Ed25519") != 0)
		return NULL;
	if (member_bytes(jwk, "x", 32, &x, &xl) != JOSE_OK)
		goto out;
	if (!priv) {
		pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, xl);
		goto out;
	}
	if (member_bytes(jwk, "d", 32, &d, &dl) != JOSE_OK ||
	    (pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, d,
	    dl)) == NULL)
		goto out;
	/* The seed determines the public key; x must be that one. */
	if (EVP_PKEY_get_raw_public_key(pk, pub, &publ) != 1 ||
	    publ != xl || CRYPTO_memcmp(pub, x, xl) != 0) {
		EVP_PKEY_free(pk);
		pk = NULL;
	}
out:
	free(x);
	jose_free_secret(d, dl);
	return pk;
}

EVP_PKEY *
jose_jwk_to_pkey(const cJSON *jwk, int flags)
{
	const char *kty;
	EVP_PKEY *pk = NULL;
	int priv = (flags & JOSE_JWK_PRIVATE) != 0;

	if (jwk == NULL || !cJSON_IsObject(jwk) ||
	    (kty = str_member(jwk, "kty")) == NULL)
		return NULL;
	if (strcmp(kty, "EC") == 0)
		pk = ec_from_jwk(jwk, priv);
	else if (strcmp(kty, "RSA") == 0)
		pk = rsa_from_jwk(jwk, priv);
	else if (strcmp(kty, "OKP") == 0)
		pk = okp_from_jwk(jwk, priv);
	if (pk == NULL)
		/* A hostile JWK is not worth a queue full of errors. */
		ERR_clear_error();
	return pk;
}

/* ---- JWE ---- */

static int
pbes2_kek(const void *pw, size_t pwlen, const uint8_t *p2s, size_t p2slen,
    uint32_t p2c, uint8_t kek[KEK_LEN])
{
	uint8_t salt[sizeof(PBES2_ALG) + P2S_MAX];
	/* RFC 7518 §4.8.1.1: the alg name and its NUL, then p2s. */
	size_t algl = sizeof(PBES2_ALG);
	int ok;

	if (pwlen > INT_MAX || p2slen > P2S_MAX || p2c > INT_MAX)
		return 0;
	memcpy(salt, PBES2_ALG, algl);
	memcpy(salt + algl, p2s, p2slen);
	ok = PKCS5_PBKDF2_HMAC(pwlen ? pw : "", (int)pwlen, salt,
	    (int)(algl + p2slen), (int)p2c, EVP_sha256(), KEK_LEN, kek) == 1;
	OPENSSL_cleanse(salt, sizeof(salt));
	return ok;
}

/* RFC 3394 AES-128 key wrap (enc) or unwrap with its integrity check. */
static int
aes_kw(int enc, const uint8_t kek[KEK_LEN], const uint8_t *in, size_t inlen,
    uint8_t *out, size_t *outlen)
{
	EVP_CIPHER_CTX *c;
	int l1 = 0, l2 = 0, ok = 0;

	if (inlen > INT_MAX || (c = EVP_CIPHER_CTX_new()) == NULL)
		return 0;
	EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (EVP_CipherInit_ex(c, EVP_aes_128_wrap(), NULL, kek, NULL,
	    enc) == 1 &&
	    EVP_CipherUpdate(c, out, &l1, in, (int)inlen) == 1 &&
	    EVP_CipherFinal_ex(c, out + l1, &l2) == 1) {
		*outlen = (size_t)l1 + (size_t)l2;
		ok = 1;
	}
	EVP_CIPHER_CTX_free(c);
	return ok;
}

static int
gcm(int enc, const uint8_t cek[CEK_LEN], const uint8_t iv[GCM_IV_LEN],
    const char *aad, size_t aadlen, const uint8_t *in, size_t inlen,
    uint8_t *out, uint8_t tag[GCM_TAG_LEN])
{
	EVP_CIPHER_CTX *c;
	int l = 0, lf = 0, ok = 0;

	if (aadlen > INT_MAX || inlen > INT_MAX ||
	    (c = EVP_CIPHER_CTX_new()) == NULL)
		return 0;
	if (EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL,
	    enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, GCM_IV_LEN,
	    NULL) != 1 ||
	    EVP_CipherInit_ex(c, NULL, NULL, cek, iv, enc) != 1 ||
	    EVP_CipherUpdate(c, NULL, &l, (const uint8_t *)aad,
	    (int)aadlen) != 1)
		goto out;
	if (inlen > 0 &&
	    (EVP_CipherUpdate(c, out, &l, in, (int)inlen) != 1 ||
	    (size_t)l != inlen))
		goto out;
	if (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, GCM_TAG_LEN,
	    tag) != 1)
		goto out;
	/* Decrypting, this is where the tag is compared, in constant time. */
	if (EVP_CipherFinal_ex(c, out + (inlen > 0 ? inlen : 0), &lf) != 1 ||
	    lf != 0)
		goto out;
	if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, GCM_TAG_LEN,
	    tag) != 1)
		goto out;
	ok = 1;
out:
	EVP_CIPHER_CTX_free(c);
	return ok;
}

/* Joins parts with '.', or NULL past JOSE_MAX_COMPACT. */
static char *
join(const char *const *parts, size_t n)
{
	size_t i, len = 0, o = 0, l;
	char *s;

	for (i = 0; i < n; i++) {
		len += strlen(parts[i]) + 1;
		if (len > JOSE_MAX_COMPACT + 1)
			return NULL;
	}
	if ((s = malloc(len)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		l = strlen(parts[i]);
		memcpy(s + o, parts[i], l);
		o += l;
		s[o++] = i + 1 < n ? '.' : '\0';
	}
	return s;
}

char *
jose_jwe_encrypt(const void *pw, size_t pwlen, const char *cty,
    const void *pt, size_t ptlen, uint32_t p2c)
{
	uint8_t salt[P2S_LEN], kek[KEK_LEN], cek[CEK_LEN];
	uint8_t ek[WRAPPED_LEN + 16], iv[GCM_IV_LEN], tag[GCM_TAG_LEN];
	uint8_t *ct = NULL;
	char p2s[32], hdr[256], *parts[5] = { NULL };
	char *out = NULL;
	size_t ekl = 0, i;
	int hl;

	if ((pw == NULL && pwlen != 0) || (pt == NULL && ptlen != 0) ||
	    ptlen > JOSE_MAX_COMPACT || p2c < JOSE_P2C_MIN ||
	    p2c > JOSE_P2C_MAX)
		return NULL;
	if (cty != NULL && (!json_safe(cty) || strlen(cty) > CTY_MAX))
		return NULL;
	if (RAND_bytes(salt, sizeof(salt)) != 1 ||
	    RAND_bytes(iv, sizeof(iv)) != 1 ||
	    RAND_priv_bytes(cek, sizeof(cek)) != 1)
		goto out;
	b64_encode_into(salt, sizeof(salt), p2s);
	/* Sorted members, as go-jose writes them. */
	hl = snprintf(hdr, sizeof(hdr),
	    "{\"alg\":\"%s\",%s%s%s\"enc\":\"%s\",\"p2c\":%u,\"p2s\":\"%s\"}",
	    PBES2_ALG, cty ? "\"cty\":\"" : "", cty ? cty : "",
	    cty ? "\"," : "", JWE_ENC, (unsigned)p2c, p2s);
	if (hl < 0 || (size_t)hl >= sizeof(hdr))
		goto out;
	if (!pbes2_kek(pw, pwlen, salt, sizeof(salt), p2c, kek) ||
	    !aes_kw(1, kek, cek, sizeof(cek), ek, &ekl) || ekl != WRAPPED_LEN)
		goto out;
	if ((parts[0] = jose_b64url_encode(hdr, (size_t)hl)) == NULL ||
	    (ct = malloc(ptlen + 1)) == NULL ||
	    !gcm(1, cek, iv, parts[0], strlen(parts[0]), pt, ptlen, ct, tag))
		goto out;
	if ((parts[1] = jose_b64url_encode(ek, ekl)) == NULL ||
	    (parts[2] = jose_b64url_encode(iv, sizeof(iv))) == NULL ||
	    (parts[3] = jose_b64url_encode(ct, ptlen)) == NULL ||
	    (parts[4] = jose_b64url_encode(tag, sizeof(tag))) == NULL)
		goto out;
	out = join((const char *const *)parts, 5);
out:
	OPENSSL_cleanse(kek, sizeof(kek));
	OPENSSL_cleanse(cek, sizeof(cek));
	free(ct);
	for (i = 0; i < 5; i++)
		free(parts[i]);
	return out;
}

/* Splits a compact token into exactly n parts, pointing into s. */
static int
split(const char *s, size_t len, const char **p, size_t *pl, size_t n)
{
	const char *end = s + len, *dot;
	size_t i;

	for (i = 0; i < n; i++) {
		p[i] = s;
		dot = memchr(s, '.', (size_t)(end - s));
		if (i + 1 < n) {
			if (dot == NULL)
				return JOSE_ERR_FORMAT;
			pl[i] = (size_t)(dot - s);
			s = dot + 1;
		} else {
			if (dot != NULL)
				return JOSE_ERR_FORMAT;
			pl[i] = (size_t)(end - s);
		}
	}
	return JOSE_OK;
}

static int
compact_len(const char *compact, size_t *len)
{
	if (compact == NULL)
		return JOSE_ERR_FORMAT;
	*len = strnlen(compact, JOSE_MAX_COMPACT + 1);
	if (*len > JOSE_MAX_COMPACT)
		return JOSE_ERR_TOOBIG;
	return JOSE_OK;
}

/* Decodes exactly want bytes (any length when want is 0) into out. */
static int
part_fixed(const char *s, size_t sl, size_t want, uint8_t *out)
{
	uint8_t *b;
	size_t bl;
	int rc;

	if ((rc = jose_b64url_decode(s, sl, &b, &bl)) != JOSE_OK)
		return rc;
	if (bl != want) {
		jose_free_secret(b, bl);
		return JOSE_ERR_FORMAT;
	}
	memcpy(out, b, bl);
	jose_free_secret(b, bl);
	return JOSE_OK;
}

static int
jwe_header(const cJSON *h, uint32_t cap, uint32_t *p2c, uint8_t *p2s,
    size_t *p2slen)
{
	const cJSON *c;
	const char *s;
	uint8_t *b;
	size_t bl;
	double v;

	if (has_member(h, "crit") || has_member(h, "zip"))
		return JOSE_ERR_PARAM;
	if ((s = str_member(h, "alg")) == NULL || strcmp(s, PBES2_ALG) != 0 ||
	    (s = str_member(h, "enc")) == NULL || strcmp(s, JWE_ENC) != 0)
		return JOSE_ERR_ALG;
	c = cJSON_GetObjectItemCaseSensitive(h, "p2c");
	if (!cJSON_IsNumber(c))
		return JOSE_ERR_PARAM;
	v = c->valuedouble;
	/* Refuse before deriving: the count is the attacker's CPU budget. */
	if (!(v >= JOSE_P2C_MIN && v <= cap) || (double)(uint32_t)v != v)
		return JOSE_ERR_PARAM;
	*p2c = (uint32_t)v;
	if ((s = str_member(h, "p2s")) == NULL ||
	    jose_b64url_decode(s, strlen(s), &b, &bl) != JOSE_OK)
		return JOSE_ERR_FORMAT;
	if (bl < P2S_MIN || bl > P2S_MAX) {
		free(b);
		return JOSE_ERR_PARAM;
	}
	memcpy(p2s, b, bl);
	*p2slen = bl;
	free(b);
	return JOSE_OK;
}

int
jose_jwe_decrypt(const char *compact, const void *pw, size_t pwlen,
    uint32_t max_p2c, uint8_t **ptp, size_t *ptlenp)
{
	const char *p[5];
	size_t pl[5], len, hbl = 0, ctl = 0, cekl = 0, p2slen = 0;
	uint8_t kek[KEK_LEN], cek[WRAPPED_LEN + 16], ek[WRAPPED_LEN];
	uint8_t iv[GCM_IV_LEN], tag[GCM_TAG_LEN], p2s[P2S_MAX];
	uint8_t *hb = NULL, *ct = NULL, *pt = NULL;
	uint32_t p2c = 0, cap;
	cJSON *h = NULL;
	int rc;

	if (ptp == NULL || ptlenp == NULL)
		return JOSE_ERR_INTERNAL;
	*ptp = NULL;
	*ptlenp = 0;
	if (pw == NULL && pwlen != 0)
		return JOSE_ERR_INTERNAL;
	cap = (max_p2c == 0 || max_p2c > JOSE_P2C_MAX) ? JOSE_P2C_MAX :
	    max_p2c;
	if ((rc = compact_len(compact, &len)) != JOSE_OK ||
	    (rc = split(compact, len, p, pl, 5)) != JOSE_OK)
		return rc;
	if ((rc = jose_b64url_decode(p[0], pl[0], &hb, &hbl)) != JOSE_OK)
		return rc;
	h = jose_json_parse(hb, hbl);
	free(hb);
	if (h == NULL)
		return JOSE_ERR_FORMAT;
	rc = jwe_header(h, cap, &p2c, p2s, &p2slen);
	cJSON_Delete(h);
	if (rc != JOSE_OK)
		return rc;
	if ((rc = part_fixed(p[1], pl[1], WRAPPED_LEN, ek)) != JOSE_OK ||
	    (rc = part_fixed(p[2], pl[2], GCM_IV_LEN, iv)) != JOSE_OK ||
	    (rc = part_fixed(p[4], pl[4], GCM_TAG_LEN, tag)) != JOSE_OK ||
	    (rc = jose_b64url_decode(p[3], pl[3], &ct, &ctl)) != JOSE_OK)
		return rc;

	rc = JOSE_ERR_INTERNAL;
	if ((pt = malloc(ctl + 1)) == NULL)
		goto out;
	if (!pbes2_kek(pw, pwlen, p2s, p2slen, p2c, kek))
		goto out;
	/* Unwrap's own check fails first on a wrong password. */
	rc = JOSE_ERR_VERIFY;
	if (!aes_kw(0, kek, ek, sizeof(ek), cek, &cekl) || cekl != CEK_LEN)
		goto out;
	if (!gcm(0, cek, iv, p[0], pl[0], ct, ctl, pt, tag))
		goto out;
	pt[ctl] = '\0';
	*ptp = pt;
	*ptlenp = ctl;
	pt = NULL;
	rc = JOSE_OK;
out:
	if (rc != JOSE_OK)
		ERR_clear_error();
	OPENSSL_cleanse(kek, sizeof(kek));
	OPENSSL_cleanse(cek, sizeof(cek));
	jose_free_secret(pt, ctl + 1);
	free(ct);
	return rc;
}

/* Upper bound of cJSON's unformatted print of a flat object of strings. */
static size_t
print_bound(const cJSON *o)
{
	const cJSON *c;
	size_t n = 2;

	for (c = o->child; c != NULL; c = c->next) {
		if (!cJSON_IsString(c) || c->string == NULL ||
		    c->valuestring == NULL)
			return 0;
		/* Worst case every byte is escaped as \uXXXX. */
		n += 6 * (strlen(c->string) + strlen(c->valuestring)) + 8;
	}
	return n + 16;
}

char *
jose_jwe_encrypt_key(const void *pw, size_t pwlen, const EVP_PKEY *pk,
    uint32_t p2c)
{
	cJSON *jwk;
	char *buf = NULL, *out = NULL;
	size_t bl = 0;

	if ((jwk = jose_jwk_from_pkey(pk, JOSE_JWK_PRIVATE | JOSE_JWK_STEP)) ==
	    NULL)
		return NULL;
	/*
	 * Into a buffer of our own: cJSON's growing print buffer would
	 * realloc, leaving copies of the private key behind.
	 */
	if ((bl = print_bound(jwk)) == 0 || bl > JOSE_MAX_COMPACT ||
	    (buf = calloc(1, bl)) == NULL ||
	    !cJSON_PrintPreallocated(jwk, buf, (int)bl, 0))
		goto out;
	out = jose_jwe_encrypt(pw, pwlen, "jwk+json", buf, strlen(buf), p2c);
out:
	jose_free_secret(buf, bl);
	jose_jwk_free(jwk);
	return out;
}

int
jose_jwe_decrypt_key(const char *compact, const void *pw, size_t pwlen,
    uint32_t max_p2c, EVP_PKEY **pk)
{
	uint8_t *pt = NULL;
	size_t ptlen = 0;
	cJSON *jwk;
	int rc;

	if (pk == NULL)
		return JOSE_ERR_INTERNAL;
	*pk = NULL;
	if ((rc = jose_jwe_decrypt(compact, pw, pwlen, max_p2c, &pt,
	    &ptlen)) != JOSE_OK)
		return rc;
	jwk = jose_json_parse(pt, ptlen);
	jose_free_secret(pt, ptlen);
	if (jwk == NULL)
		return JOSE_ERR_FORMAT;
	*pk = jose_jwk_to_pkey(jwk, JOSE_JWK_PRIVATE);
	jose_jwk_free(jwk);
	return *pk == NULL ? JOSE_ERR_KEY : JOSE_OK;
}

/* ---- JWS ---- */

static int
rsa_padding(EVP_PKEY_CTX *pctx, const struct alg *a)
{
	if (a->kind == K_RSA)
		return EVP_PKEY_CTX_set_rsa_padding(pctx,
		    RSA_PKCS1_PADDING) > 0 ? 0 : -1;
	if (a->kind == K_PSS) {
		/* RFC 7518 §3.5: MGF1 with the same hash, salt as long. */
		if (EVP_PKEY_CTX_set_rsa_padding(pctx,
		    RSA_PKCS1_PSS_PADDING) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx,
		    RSA_PSS_SALTLEN_DIGEST) <= 0 ||
		    EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, a->md, NULL) <= 0)
			return -1;
	}
	return 0;
}

/* DER ECDSA-Sig-Value to the fixed-size r||s of RFC 7518 §3.4. */
static int
ecdsa_raw(const uint8_t *der, size_t derlen, size_t size, uint8_t *raw)
{
	const unsigned char *pp = der;
	const BIGNUM *r, *s;
	ECDSA_SIG *es;
	int ok;

	if (derlen > LONG_MAX ||
	    (es = d2i_ECDSA_SIG(NULL, &pp, (long)derlen)) == NULL)
		return 0;
	ECDSA_SIG_get0(es, &r, &s);
	ok = BN_bn2binpad(r, raw, (int)size) == (int)size &&
	    BN_bn2binpad(s, raw + size, (int)size) == (int)size;
	ECDSA_SIG_free(es);
	return ok;
}

static int
ec_size(const struct alg *a)
{
	const struct curve *cv = curve_by_nid(a->nid);

	return cv != NULL ? (int)cv->size : 0;
}

/*
 * The fixed-size r||s of RFC 7518 §3.4 as a DER ECDSA-Sig-Value: two
 * minimal positive INTEGERs. size is at most 66 (P-521), so der needs
 * ECDSA_DER_MAX bytes. Returns the DER's length.
 */
#define ECDSA_DER_MAX	(3 + 2 * (2 + 1 + 66))

static size_t
ecdsa_der(const uint8_t *raw, size_t size, uint8_t *der)
{
	size_t o = 0, body, i, k, n[2], lead[2];
	const uint8_t *v[2] = { raw, raw + size };

	for (i = 0; i < 2; i++) {
		for (k = 0; k + 1 < size && v[i][k] == 0; k++)
			;
		v[i] += k;
		n[i] = size - k;
		lead[i] = v[i][0] & 0x80 ? 1 : 0;	/* keep it positive */
	}
	body = 4 + n[0] + lead[0] + n[1] + lead[1];
	der[o++] = 0x30;
	if (body >= 0x80)
		der[o++] = 0x81;
	der[o++] = (uint8_t)body;
	for (i = 0; i < 2; i++) {
		der[o++] = 0x02;
		der[o++] = (uint8_t)(n[i] + lead[i]);
		if (lead[i])
			der[o++] = 0;
		memcpy(der + o, v[i], n[i]);
		o += n[i];
	}
	return o;
}

/*
 * Per thread, ready verify contexts for the last few EC keys. A token's
 * key is its provisioner's, the same for many tokens, and making a
 * context per token costs OpenSSL 3 some twenty allocations and a walk of
 * its name map. Each context holds a reference to its key, so a cached
 * key outlives a provisioner reload and its address cannot be reused
 * while it is cached; the oldest is dropped when a new key comes.
 *
 * A P-256 key that has verified P256_AFTER good tokens in this thread
 * also gets a table of its multiples (p256.h), which halves the cost of
 * each later verify. The table costs ~35 ms to build, so only good
 * tokens count towards it: forged ones cannot make us build tables.
 */
#define VCTX_KEYS 4
#define P256_AFTER 1000

struct vctx {
	EVP_PKEY *pk;
	EVP_PKEY_CTX *ctx;
	struct p256_key *fast;
	unsigned good;
};

static pthread_key_t vctx_key;
static pthread_once_t vctx_once = PTHREAD_ONCE_INIT;
static int vctx_ok;

static void
vctx_clear(struct vctx *v)
{
	EVP_PKEY_CTX_free(v->ctx);
	p256_key_free(v->fast);
	*v = (struct vctx){ 0 };
}

static void
vctx_free(void *p)
{
	struct vctx *v = p;
	size_t i;

	for (i = 0; i < VCTX_KEYS; i++)
		vctx_clear(&v[i]);
	free(v);
}

static void
vctx_make(void)
{
	vctx_ok = pthread_key_create(&vctx_key, vctx_free) == 0;
}

static struct vctx *
vctx_get(EVP_PKEY *pk)
{
	struct vctx *v;
	EVP_PKEY_CTX *ctx;
	size_t i;

	if (pthread_once(&vctx_once, vctx_make) != 0 || !vctx_ok)
		return NULL;
	if ((v = pthread_getspecific(vctx_key)) == NULL) {
		if ((v = calloc(VCTX_KEYS, sizeof(*v))) == NULL)
			return NULL;
		if (pthread_setspecific(vctx_key, v) != 0) {
			free(v);
			return NULL;
		}
	}
	for (i = 0; i < VCTX_KEYS; i++)
		if (v[i].ctx != NULL && v[i].pk == pk)
			return &v[i];
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL)) == NULL)
		return NULL;
	if (EVP_PKEY_verify_init(ctx) != 1) {
		EVP_PKEY_CTX_free(ctx);
		return NULL;
	}
	vctx_clear(&v[VCTX_KEYS - 1]);
	memmove(v + 1, v, (VCTX_KEYS - 1) * sizeof(*v));
	v[0] = (struct vctx){ .pk = pk, .ctx = ctx };
	return &v[0];
}

/* ECDSA over tbs with the alg's digest: a cached context, one hash. */
static int
ec_verify(EVP_PKEY *pk, const struct alg *a, const uint8_t *tbs,
    size_t tbslen, const uint8_t *sig, size_t siglen)
{
	uint8_t der[ECDSA_DER_MAX], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	const EVP_MD *m;
	struct vctx *c;
	size_t derlen;
	int p256 = a->nid == NID_X9_62_prime256v1, rc;

	if (ec_size(a) == 0)
		return JOSE_ERR_INTERNAL;
	/* Exact length: no leading-zero or DER variants of one signature. */
	if (siglen != 2 * (size_t)ec_size(a))
		return JOSE_ERR_VERIFY;
	if ((m = digest_named(a->md)) == NULL ||
	    (c = vctx_get(pk)) == NULL ||
	    EVP_Digest(tbs, tbslen, md, &mdlen, m, NULL) != 1)
		return JOSE_ERR_INTERNAL;
	/* On an OpenSSL failure (-1) the ordinary path answers. */
	if (p256 && c->fast != NULL && mdlen == 32 &&
	    (rc = p256_verify(c->fast, md, sig)) >= 0)
		return rc == 1 ? JOSE_OK : JOSE_ERR_VERIFY;
	derlen = ecdsa_der(sig, siglen / 2, der);
	if (EVP_PKEY_verify(c->ctx, der, derlen, md, mdlen) != 1)
		return JOSE_ERR_VERIFY;
	if (p256 && c->good < P256_AFTER && ++c->good == P256_AFTER)
		c->fast = p256_key_new(pk);	/* NULL: stay on EVP */
	return JOSE_OK;
}

static int
do_sign(EVP_PKEY *pk, const struct alg *a, const uint8_t *tbs, size_t tbslen,
    uint8_t **sigp, size_t *siglenp)
{
	EVP_MD_CTX *mctx;
	EVP_PKEY_CTX *pctx = NULL;
	uint8_t *sig = NULL, *raw = NULL;
	size_t siglen, size;
	int max, ok = 0;

	if ((max = EVP_PKEY_get_size(pk)) <= 0 ||
	    (mctx = EVP_MD_CTX_new()) == NULL)
		return 0;
	siglen = (size_t)max;
	if ((sig = malloc(siglen)) == NULL ||
	    EVP_DigestSignInit_ex(mctx, &pctx, a->md, NULL, NULL, pk,
	    NULL) != 1 ||
	    rsa_padding(pctx, a) != 0 ||
	    EVP_DigestSign(mctx, sig, &siglen, tbs, tbslen) != 1)
		goto out;
	if (a->kind == K_EC) {
		size = (size_t)ec_size(a);
		if ((raw = malloc(2 * size)) == NULL ||
		    !ecdsa_raw(sig, siglen, size, raw))
			goto out;
		free(sig);
		sig = raw;
		raw = NULL;
		siglen = 2 * size;
	}
	*sigp = sig;
	*siglenp = siglen;
	sig = NULL;
	ok = 1;
out:
	free(sig);
	free(raw);
	EVP_MD_CTX_free(mctx);
	return ok;
}

static int
do_verify(EVP_PKEY *pk, const struct alg *a, const uint8_t *tbs,
    size_t tbslen, const uint8_t *sig, size_t siglen)
{
	EVP_MD_CTX *mctx = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	int rc = JOSE_ERR_VERIFY;

	/* Exact lengths: no leading-zero or DER variants of one signature. */
	switch (a->kind) {
	case K_EC:
		rc = ec_verify(pk, a, tbs, tbslen, sig, siglen);
		goto out;
	case K_RSA:
	case K_PSS:
		if (EVP_PKEY_get_size(pk) <= 0 ||
		    siglen != (size_t)EVP_PKEY_get_size(pk))
			return JOSE_ERR_VERIFY;
		break;
	case K_ED:
		if (siglen != 64)
			return JOSE_ERR_VERIFY;
		break;
	default:
		return JOSE_ERR_ALG;
	}
	rc = JOSE_ERR_INTERNAL;
	if ((mctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit_ex(mctx, &pctx, a->md, NULL, NULL, pk,
	    NULL) != 1 ||
	    rsa_padding(pctx, a) != 0)
		goto out;
	rc = EVP_DigestVerify(mctx, sig, siglen, tbs, tbslen) == 1 ?
	    JOSE_OK : JOSE_ERR_VERIFY;
out:
	if (rc != JOSE_OK)
		ERR_clear_error();
	EVP_MD_CTX_free(mctx);
	return rc;
}

char *
jose_jws_sign(EVP_PKEY *pk, const char *algname, const cJSON *extra,
    const void *payload, size_t len)
{
	const struct alg *a;
	const cJSON *c;
	cJSON *hdr = NULL, *dup;
	char *hs = NULL, *parts[3] = { NULL }, *tbs = NULL, *out = NULL;
	uint8_t *sig = NULL;
	size_t siglen = 0, tl;

	if (pk == NULL || (payload == NULL && len != 0) ||
	    len > JOSE_MAX_COMPACT)
		return NULL;
	if (algname == NULL)
		algname = jose_default_alg(pk);
	if ((a = alg_lookup(algname)) == NULL || !alg_fits(a, pk))
		return NULL;
	if (extra != NULL && !cJSON_IsObject(extra))
		return NULL;
	if ((hdr = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(hdr, "alg", a->name) == NULL)
		goto out;
	for (c = extra != NULL ? extra->child : NULL; c != NULL; c = c->next) {
		/* We would refuse our own token with these. */
		if (c->string == NULL || strcmp(c->string, "crit") == 0 ||
		    strcmp(c->string, "b64") == 0 || has_member(hdr, c->string))
			goto out;
		if ((dup = cJSON_Duplicate(c, 1)) == NULL)
			goto out;
		if (!cJSON_AddItemToObject(hdr, c->string, dup)) {
			cJSON_Delete(dup);
			goto out;
		}
	}
	if ((hs = cJSON_PrintUnformatted(hdr)) == NULL ||
	    (parts[0] = jose_b64url_encode(hs, strlen(hs))) == NULL ||
	    (parts[1] = jose_b64url_encode(payload, len)) == NULL ||
	    (tbs = join((const char *const *)parts, 2)) == NULL)
		goto out;
	tl = strlen(tbs);
	if (!do_sign(pk, a, (const uint8_t *)tbs, tl, &sig, &siglen) ||
	    (parts[2] = jose_b64url_encode(sig, siglen)) == NULL)
		goto out;
	out = join((const char *const *)parts, 3);
out:
	cJSON_Delete(hdr);
	free(hs);
	free(parts[0]);
	free(parts[1]);
	free(parts[2]);
	free(tbs);
	free(sig);
	return out;
}

struct jws {
	const char		*p[3];		/* header, payload, signature */
	size_t			 pl[3];
	cJSON			*hdr;
	const struct alg	*alg;
};

/* Everything that needs no key: structure, header, alg, crit. */
static int
jws_parse(const char *compact, struct jws *j)
{
	const cJSON *alg;
	uint8_t *hb;
	size_t len, hbl;
	int rc;

	memset(j, 0, sizeof(*j));
	if ((rc = compact_len(compact, &len)) != JOSE_OK ||
	    (rc = split(compact, len, j->p, j->pl, 3)) != JOSE_OK)
		return rc;
	if (j->pl[0] == 0 || j->pl[2] == 0)
		return JOSE_ERR_FORMAT;
	if ((rc = jws_b64(j->p[0], j->pl[0], &hb, &hbl)) != JOSE_OK)
		return rc;
	j->hdr = jose_json_parse(hb, hbl);
	free(hb);
	if (j->hdr == NULL)
		return JOSE_ERR_FORMAT;
	/*
	 * We understand no extension, and b64 (RFC 7797) would change what
	 * was signed; without crit it is malformed anyway.
	 */
	if (has_member(j->hdr, "crit") || has_member(j->hdr, "b64"))
		rc = JOSE_ERR_PARAM;
	else if (!cJSON_IsString(alg = cJSON_GetObjectItemCaseSensitive(j->hdr,
	    "alg")) || (j->alg = alg_lookup(alg->valuestring)) == NULL)
		rc = JOSE_ERR_ALG;
	if (rc != JOSE_OK) {
		cJSON_Delete(j->hdr);
		j->hdr = NULL;
	}
	return rc;
}

int
jose_jws_verify(const char *compact, EVP_PKEY *key, jose_key_lookup lookup,
    void *arg, cJSON **hdrp, uint8_t **payloadp, size_t *payloadlenp)
{
	struct jws j;
	EVP_PKEY *k = key, *owned = NULL;
	uint8_t *sig = NULL, *pl = NULL;
	size_t siglen = 0, pllen = 0, tbslen;
	int rc;

	if (hdrp != NULL)
		*hdrp = NULL;
	if (payloadp != NULL)
		*payloadp = NULL;
	if (payloadlenp != NULL)
		*payloadlenp = 0;
	if (payloadp != NULL && payloadlenp == NULL)
		return JOSE_ERR_INTERNAL;
	if ((rc = jws_parse(compact, &j)) != JOSE_OK)
		return rc;
	if ((rc = jws_b64(j.p[2], j.pl[2], &sig, &siglen)) != JOSE_OK ||
	    (rc = jws_b64(j.p[1], j.pl[1], &pl, &pllen)) != JOSE_OK)
		goto out;
	if (k == NULL && lookup != NULL)
		k = owned = lookup(j.hdr, arg);
	rc = JOSE_ERR_KEY;
	if (k == NULL)
		goto out;
	/* The header names the alg; only the key may decide it is allowed. */
	rc = JOSE_ERR_ALG;
	if (!alg_fits(j.alg, k))
		goto out;
	tbslen = j.pl[0] + 1 + j.pl[1];
	if ((rc = do_verify(k, j.alg, (const uint8_t *)compact, tbslen, sig,
	    siglen)) != JOSE_OK)
		goto out;
	if (hdrp != NULL) {
		*hdrp = j.hdr;
		j.hdr = NULL;
	}
	if (payloadp != NULL) {
		*payloadp = pl;
		*payloadlenp = pllen;
		pl = NULL;
	}
out:
	EVP_PKEY_free(owned);
	cJSON_Delete(j.hdr);
	free(sig);
	free(pl);
	return rc;
}

int
jose_jws_parse_unverified(const char *compact, cJSON **hdrp,
    cJSON **payloadp)
{
	struct jws j;
	uint8_t *b = NULL;
	size_t bl = 0;
	cJSON *payload;
	int rc;

	if (hdrp == NULL || payloadp == NULL)
		return JOSE_ERR_INTERNAL;
	*hdrp = NULL;
	*payloadp = NULL;
	if ((rc = jws_parse(compact, &j)) != JOSE_OK)
		return rc;
	if ((rc = jws_b64(j.p[2], j.pl[2], &b, &bl)) != JOSE_OK)
		goto out;
	free(b);
	if ((rc = jws_b64(j.p[1], j.pl[1], &b, &bl)) != JOSE_OK)
		goto out;
	payload = jose_json_parse(b, bl);
	free(b);
	rc = JOSE_ERR_FORMAT;
	if (payload == NULL)
		goto out;
	*hdrp = j.hdr;
	*payloadp = payload;
	j.hdr = NULL;
	rc = JOSE_OK;
out:
	cJSON_Delete(j.hdr);
	return rc;
}

/* ---- base64 (RFC 4648 §4), padded ---- */

static int
b64std_val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

char *
jose_b64_encode(const void *in, size_t inlen)
{
	char	*s;

	if (inlen > INT_MAX / 2 || (s = malloc(4 * ((inlen + 2) / 3) + 1)) ==
	    NULL)
		return NULL;
	EVP_EncodeBlock((unsigned char *)s, in, (int)inlen);
	return s;
}

int
jose_b64_decode(const char *s, size_t n, size_t max, uint8_t **out,
    size_t *outlen)
{
	uint8_t		*d;
	size_t		 i, j, o = 0, pad = 0, len;
	int		 v[4] = { 0, 0, 0, 0 };

	*out = NULL;
	*outlen = 0;
	if (s == NULL || n == 0 || n % 4 != 0)
		return -1;
	while (pad < 2 && s[n - 1 - pad] == '=')
		pad++;
	len = n / 4 * 3 - pad;
	if (len > max || (d = malloc(len > 0 ? len : 1)) == NULL)
		return -1;
	for (i = 0; i < n; i += 4) {
		for (j = 0; j < 4; j++) {
			v[j] = i + j < n - pad ?
			    b64std_val((unsigned char)s[i + j]) : 0;
			if (v[j] == -1) {
				free(d);
				return -1;
			}
		}
		d[o++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
		if (o < len)
			d[o++] = (uint8_t)(v[1] << 4 | v[2] >> 2);
		if (o < len)
			d[o++] = (uint8_t)(v[2] << 6 | v[3]);
	}
	/* The bits the padding leaves over must be 0: one text per blob. */
	if ((pad == 1 && (v[2] & 0x03)) || (pad == 2 && (v[1] & 0x0f))) {
		free(d);
		return -1;
	}
	*out = d;
	*outlen = len;
	return 0;
}

/*
 * test_jose.c — policy/jose.c against fixed vectors, its own round trips,
 * and tokens made by jwcrypto (test/unit/jose_vectors.h).
 *
 * With JOSE_INTEROP_OUT=file set, test_interop_dump also writes tokens
 * of ours for test/unit/jose_interop.py to check with jwcrypto.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/ec.h>
#include <openssl/hmac.h>

#include "policy/jose.h"
#include "test/unit/jose_vectors.h"

#define FAST_P2C	JOSE_P2C_MIN

static const char PAYLOAD[] = "{\"iss\":\"p11ca\",\"sub\":\"host.example\"}";

/* ---- helpers ---- */

static cJSON *
pj(const char *s)
{
	cJSON *j = jose_json_parse(s, strlen(s));

	assert_non_null(j);
	return j;
}

static EVP_PKEY *
jwk_key(const char *json, int flags)
{
	cJSON *j = pj(json);
	EVP_PKEY *pk = jose_jwk_to_pkey(j, flags);

	jose_jwk_free(j);
	return pk;
}

static char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	assert_true(r >= 0);
	return s;
}

static char *
b64(const void *p, size_t n)
{
	char *s = jose_b64url_encode(p, n);

	assert_non_null(s);
	return s;
}

static char *
b64s(const char *s)
{
	return b64(s, strlen(s));
}

/* The token with its first part replaced by the encoding of hdr. */
static char *
with_header(const char *token, const char *hdr)
{
	char *h = b64s(hdr), *out;

	out = xasprintf("%s%s", h, strchr(token, '.'));
	free(h);
	return out;
}

/* Offset of part n (0-based) of a compact token. */
static size_t
part_off(const char *token, int n)
{
	const char *p = token;

	while (n-- > 0) {
		p = strchr(p, '.');
		assert_non_null(p);
		p++;
	}
	return (size_t)(p - token);
}

/* Changes one character in the middle of part n, keeping it base64url. */
static char *
flip(const char *token, int n)
{
	char *t = strdup(token);
	size_t off = part_off(token, n), len;
	const char *end;

	assert_non_null(t);
	end = strchr(token + off, '.');
	len = end ? (size_t)(end - (token + off)) : strlen(token + off);
	assert_true(len >= 4);
	off += len / 2;
	t[off] = t[off] == 'A' ? 'B' : 'A';
	return t;
}

static EVP_PKEY *
gen_ec(const char *curve)
{
	EVP_PKEY *pk = EVP_EC_gen(curve);

	assert_non_null(pk);
	return pk;
}

static EVP_PKEY *
gen_ed(void)
{
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

	assert_non_null(pk);
	return pk;
}

/* The vector RSA key: importing checks its primes, too slow to repeat. */
static EVP_PKEY *rsa_key;

static EVP_PKEY *
get_rsa(void)
{
	if (rsa_key == NULL)
		rsa_key = jwk_key(JV_RSA_PRIV, JOSE_JWK_PRIVATE);
	assert_non_null(rsa_key);
	return rsa_key;
}

static EVP_PKEY *
public_of(const EVP_PKEY *pk)
{
	cJSON *j = jose_jwk_from_pkey(pk, 0);
	EVP_PKEY *pub;

	assert_non_null(j);
	assert_null(cJSON_GetObjectItemCaseSensitive(j, "d"));
	pub = jose_jwk_to_pkey(j, 0);
	assert_non_null(pub);
	cJSON_Delete(j);
	return pub;
}

/* The token with its signature cut or zero-extended by delta bytes. */
static char *
resig(const char *token, int delta)
{
	size_t off = part_off(token, 2), sl;
	uint8_t *sig, *ns;
	char *s, *out;

	assert_int_equal(jose_b64url_decode(token + off, strlen(token + off),
	    &sig, &sl), JOSE_OK);
	ns = calloc(1, sl + 1);
	assert_non_null(ns);
	memcpy(ns, sig, sl);
	s = b64(ns, (size_t)((long)sl + delta));
	out = xasprintf("%.*s%s", (int)off, token, s);
	free(sig);
	free(ns);
	free(s);
	return out;
}

/* An EdDSA token over any header at all, validly signed. */
static char *
ed_token(EVP_PKEY *pk, const char *hdr, const char *payload)
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	uint8_t sig[64];
	size_t siglen = sizeof(sig);
	char *h = b64s(hdr), *p = b64s(payload), *tbs, *s, *out;

	assert_non_null(m);
	tbs = xasprintf("%s.%s", h, p);
	assert_int_equal(EVP_DigestSignInit(m, NULL, NULL, NULL, pk), 1);
	assert_int_equal(EVP_DigestSign(m, sig, &siglen, (uint8_t *)tbs,
	    strlen(tbs)), 1);
	s = b64(sig, siglen);
	out = xasprintf("%s.%s", tbs, s);
	EVP_MD_CTX_free(m);
	free(h);
	free(p);
	free(tbs);
	free(s);
	return out;
}

static int
verify_rc(const char *token, EVP_PKEY *pk)
{
	cJSON *h = NULL;
	uint8_t *p = NULL;
	size_t pl = 0;
	int rc;

	rc = jose_jws_verify(token, pk, NULL, NULL, &h, &p, &pl);
	if (rc != JOSE_OK) {
		assert_null(h);
		assert_null(p);
	}
	cJSON_Delete(h);
	free(p);
	return rc;
}

static int
decrypt_rc(const char *token, const char *pw, uint32_t max)
{
	uint8_t *pt = NULL;
	size_t ptl = 0;
	int rc;

	rc = jose_jwe_decrypt(token, pw, strlen(pw), max, &pt, &ptl);
	if (rc != JOSE_OK)
		assert_null(pt);
	jose_free_secret(pt, ptl);
	return rc;
}

/* ---- base64url ---- */

static void
test_b64url_vectors(void **state)
{
	static const struct {
		const char *in, *out;
	} v[] = {
		{ "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" },
		{ "foobar", "Zm9vYmFy" }, { "\xfb\xff", "-_8" },
		{ "\xff\xff\xfe", "___-" },
	};
	uint8_t all[256], *d;
	size_t i, dl;
	char *s;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		s = b64s(v[i].in);
		assert_string_equal(s, v[i].out);
		free(s);
		assert_int_equal(jose_b64url_decode(v[i].out, strlen(v[i].out),
		    &d, &dl), JOSE_OK);
		assert_int_equal(dl, strlen(v[i].in));
		assert_memory_equal(d, v[i].in, dl);
		assert_int_equal(d[dl], 0);
		free(d);
	}
	for (i = 0; i < sizeof(all); i++)
		all[i] = (uint8_t)i;
	for (i = 0; i <= sizeof(all); i++) {
		s = b64(all, i);
		assert_int_equal(strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789-_"), strlen(s));
		assert_int_equal(jose_b64url_decode(s, strlen(s), &d, &dl),
		    JOSE_OK);
		assert_int_equal(dl, i);
		if (i > 0)
			assert_memory_equal(d, all, i);
		free(d);
		free(s);
	}
}

/* Standard base64: RFC 4648 vectors, padding, refusals, the size cap. */
static void
test_b64_std(void **state)
{
	static const struct { const char *in, *out; } v[] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" },
		{ "foobar", "Zm9vYmFy" }, { "\xfb\xff", "+/8=" },
	};
	static const char *const bad[] = {
		"Zg", "Zg=", "Zh==", "Zm9=", "Zm-v", "Zm_v", "Z m9", "====",
		"Zg==Zg==", "Zm9v\n",
	};
	uint8_t	*out;
	size_t	 i, n;
	char	*e;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		assert_non_null(e = jose_b64_encode(v[i].in, strlen(v[i].in)));
		assert_string_equal(e, v[i].out);
		free(e);
		if (*v[i].out == '\0')
			continue;
		assert_int_equal(jose_b64_decode(v[i].out, strlen(v[i].out),
		    64, &out, &n), 0);
		assert_int_equal(n, strlen(v[i].in));
		assert_memory_equal(out, v[i].in, n);
		free(out);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(jose_b64_decode(bad[i], strlen(bad[i]), 64,
		    &out, &n), -1);
		assert_null(out);
	}
	assert_int_equal(jose_b64_decode("Zm9vYmFy", 8, 5, &out, &n), -1);
	assert_int_equal(jose_b64_decode("Zm9vYmFy", 8, 6, &out, &n), 0);
	free(out);
	assert_int_equal(jose_b64_decode("", 0, 6, &out, &n), -1);
}

static void
test_b64url_strict(void **state)
{
	static const char *bad[] = {
		"Zg==", "Zg=", "Zm8=", "Zm+v", "Zm/v", "Zm9 v", "Zm9v\n",
		" Zm9v", "Z", "Zm9vY", "Zh", "Zm9", "Zm9vYmF", "Zm\x80v",
		"Zm.v",
	};
	uint8_t *d = (uint8_t *)1;
	size_t i, dl = 1;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(jose_b64url_decode(bad[i], strlen(bad[i]),
		    &d, &dl), JOSE_ERR_FORMAT);
		assert_null(d);
		assert_int_equal(dl, 0);
	}
	/* An embedded NUL is not part of the alphabet either. */
	assert_int_equal(jose_b64url_decode("Zm\0v", 4, &d, &dl),
	    JOSE_ERR_FORMAT);
	/* Canonical neighbours of the rejected non-canonical forms. */
	assert_int_equal(jose_b64url_decode("Zm8", 3, &d, &dl), JOSE_OK);
	free(d);
	assert_int_equal(jose_b64url_decode("Zg", 2, &d, &dl), JOSE_OK);
	free(d);
}

/* ---- JSON ---- */

static void
test_json_strict(void **state)
{
	static const char *bad[] = {
		"{\"a\":1,\"a\":2}",
		"{\"a\":{\"b\":1,\"c\":2,\"b\":3}}",
		"{\"a\":[{\"x\":1,\"x\":1}]}",
		"{}x", "{} {}", "[1]", "\"s\"", "1", "", "{",
		"{\"a\":\"\xff\"}", "{\"a\":\"\xc0\xaf\"}",
		"{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"\xe2\x82\"}",
		"{\"a\":\"x\\u0000y\"}", "{\"a\\u0000\":1}",
	};
	cJSON *j;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_null(jose_json_parse(bad[i], strlen(bad[i])));
	assert_null(jose_json_parse("{\"a\":1}\0", 8));

	/* An escaped backslash followed by u0000 is just text. */
	j = pj("{\"a\":\"\\\\u0000\",\"b\":\"\xe2\x82\xac\",\"A\":1}");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(j,
	    "a")->valuestring, "\\u0000");
	cJSON_Delete(j);
	j = pj(" {\"a\":{\"b\":1},\"b\":{\"b\":2}} \n");
	cJSON_Delete(j);
}

/* ---- JWK ---- */

static void
check_sign_with(EVP_PKEY *signer, EVP_PKEY *verifier)
{
	char *t = jose_jws_sign(signer, NULL, NULL, PAYLOAD, strlen(PAYLOAD));

	assert_non_null(t);
	assert_int_equal(verify_rc(t, verifier), JOSE_OK);
	free(t);
}

static void
roundtrip_key(EVP_PKEY *pk, const char *kty, size_t coord)
{
	cJSON *pub, *priv;
	EVP_PKEY *a, *b;
	const char *x;

	pub = jose_jwk_from_pkey(pk, 0);
	priv = jose_jwk_from_pkey(pk, JOSE_JWK_PRIVATE);
	assert_non_null(pub);
	assert_non_null(priv);
	assert_string_equal(
	    cJSON_GetObjectItemCaseSensitive(pub, "kty")->valuestring, kty);
	assert_null(cJSON_GetObjectItemCaseSensitive(pub, "d"));
	assert_null(cJSON_GetObjectItemCaseSensitive(pub, "kid"));
	assert_non_null(cJSON_GetObjectItemCaseSensitive(priv, "d"));
	if (coord != 0) {
		x = cJSON_GetObjectItemCaseSensitive(pub, "x")->valuestring;
		assert_int_equal(strlen(x), coord);
	}

	a = jose_jwk_to_pkey(pub, 0);
	assert_non_null(a);
	assert_int_equal(EVP_PKEY_eq(a, pk), 1);
	/* A private JWK read as public gives the public key only. */
	b = jose_jwk_to_pkey(priv, 0);
	assert_non_null(b);
	assert_int_equal(EVP_PKEY_eq(b, pk), 1);
	assert_null(jose_jws_sign(b, NULL, NULL, "x", 1));
	EVP_PKEY_free(b);
	assert_null(jose_jwk_to_pkey(pub, JOSE_JWK_PRIVATE));

	b = jose_jwk_to_pkey(priv, JOSE_JWK_PRIVATE);
	assert_non_null(b);
	assert_int_equal(EVP_PKEY_eq(b, pk), 1);
	check_sign_with(b, a);
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
	cJSON_Delete(pub);
	jose_jwk_free(priv);
}

static void
test_jwk_roundtrip(void **state)
{
	static const struct {
		const char *curve;
		size_t coord;
	} ec[] = { { "P-256", 43 }, { "P-384", 64 }, { "P-521", 88 } };
	EVP_PKEY *pk;
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		pk = gen_ec(ec[i].curve);
		roundtrip_key(pk, "EC", ec[i].coord);
		EVP_PKEY_free(pk);
	}
	pk = gen_ed();
	roundtrip_key(pk, "OKP", 43);
	EVP_PKEY_free(pk);
	roundtrip_key(get_rsa(), "RSA", 0);
}

/* Our encoding of jwcrypto's key must be jwcrypto's, member for member. */
static void
same_members(const char *vector, int flags)
{
	cJSON *want = pj(vector), *got;
	const cJSON *c, *g;
	EVP_PKEY *pk;

	pk = jose_jwk_to_pkey(want, flags);
	assert_non_null(pk);
	got = jose_jwk_from_pkey(pk, flags);
	assert_non_null(got);
	for (c = want->child; c != NULL; c = c->next) {
		g = cJSON_GetObjectItemCaseSensitive(got, c->string);
		assert_non_null(g);
		assert_string_equal(g->valuestring, c->valuestring);
	}
	assert_int_equal(cJSON_GetArraySize(got), cJSON_GetArraySize(want));
	EVP_PKEY_free(pk);
	jose_jwk_free(want);
	jose_jwk_free(got);
}

static void
check_thumb(const char *pubv, const char *privv, const char *want,
    int with_priv)
{
	char tp[JOSE_THUMBPRINT_LEN + 1];
	cJSON *j;
	EVP_PKEY *pk;

	j = pj(pubv);
	assert_int_equal(jose_jwk_thumbprint(j, tp), JOSE_OK);
	assert_string_equal(tp, want);
	pk = jose_jwk_to_pkey(j, 0);
	assert_non_null(pk);
	memset(tp, 0, sizeof(tp));
	assert_int_equal(jose_pkey_thumbprint(pk, tp), JOSE_OK);
	assert_string_equal(tp, want);
	EVP_PKEY_free(pk);
	cJSON_Delete(j);

	j = pj(privv);
	assert_int_equal(jose_jwk_thumbprint(j, tp), JOSE_OK);
	assert_string_equal(tp, want);
	jose_jwk_free(j);

	same_members(pubv, 0);
	if (with_priv)
		same_members(privv, JOSE_JWK_PRIVATE);
}

static void
test_jwk_vectors(void **state)
{
	(void)state;
	check_thumb(JV_EC256_PUB, JV_EC256_PRIV, JV_EC256_THUMB, 1);
	check_thumb(JV_EC384_PUB, JV_EC384_PRIV, JV_EC384_THUMB, 1);
	check_thumb(JV_EC521_PUB, JV_EC521_PRIV, JV_EC521_THUMB, 1);
	check_thumb(JV_ED_PUB, JV_ED_PRIV, JV_ED_THUMB, 1);
	check_thumb(JV_RSA_PUB, JV_RSA_PRIV, JV_RSA_THUMB, 0);
}

static void
test_thumbprint_rfc7638(void **state)
{
	/* RFC 7638 §3.1, with extra members that must not count. */
	static const char jwk[] =
	    "{\"kty\":\"RSA\",\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbW"
	    "hM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknj"
	    "hMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2Q"
	    "vzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qN"
	    "Lyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-c"
	    "sFCur-kEgU8awapJzKnqDKgw\",\"e\":\"AQAB\",\"alg\":\"RS256\","
	    "\"kid\":\"2011-04-29\"}";
	char tp[JOSE_THUMBPRINT_LEN + 1];
	cJSON *j = pj(jwk);

	(void)state;
	assert_int_equal(jose_jwk_thumbprint(j, tp), JOSE_OK);
	assert_string_equal(tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	cJSON_Delete(j);

	j = pj("{\"kty\":\"oct\",\"k\":\"AAAA\"}");
	assert_int_not_equal(jose_jwk_thumbprint(j, tp), JOSE_OK);
	cJSON_Delete(j);
	j = pj("{\"kty\":\"EC\",\"crv\":\"P-256\","
	    "\"x\":\"a\\\"b\",\"y\":\"c\"}");
	assert_int_equal(jose_jwk_thumbprint(j, tp), JOSE_ERR_FORMAT);
	cJSON_Delete(j);
	j = pj("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"ab\"}");
	assert_int_equal(jose_jwk_thumbprint(j, tp), JOSE_ERR_FORMAT);
	cJSON_Delete(j);
}

/* vector with member name replaced by value (NULL: removed). */
static EVP_PKEY *
edited_key(const char *vector, const char *name, const char *value, int flags)
{
	cJSON *j = pj(vector);
	EVP_PKEY *pk;

	if (value == NULL)
		cJSON_DeleteItemFromObjectCaseSensitive(j, name);
	else if (cJSON_GetObjectItemCaseSensitive(j, name) != NULL)
		assert_true(cJSON_ReplaceItemInObjectCaseSensitive(j, name,
		    cJSON_CreateString(value)));
	else
		assert_non_null(cJSON_AddStringToObject(j, name, value));
	pk = jose_jwk_to_pkey(j, flags);
	jose_jwk_free(j);
	return pk;
}

/* The member's base64url value with one bit of its last byte flipped. */
static char *
bitflip_member(const char *vector, const char *name)
{
	cJSON *j = pj(vector);
	const char *s = cJSON_GetObjectItemCaseSensitive(j, name)->valuestring;
	uint8_t *b;
	size_t bl;
	char *out;

	assert_int_equal(jose_b64url_decode(s, strlen(s), &b, &bl), JOSE_OK);
	b[bl - 1] ^= 1;
	out = b64(b, bl);
	free(b);
	jose_jwk_free(j);
	return out;
}

static void
test_jwk_invalid(void **state)
{
	static const char *garbage[] = {
		"{\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"AAAA\"}",
		"{\"kty\":\"oct\",\"k\":\"AAAA\"}",
		"{\"kty\":\"ec\",\"crv\":\"P-256\"}",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":1,\"y\":2}",
		"{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":"
		    "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}",
	};
	EVP_PKEY *pk;
	cJSON *a, *b;
	char *s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		a = pj(garbage[i]);
		assert_null(jose_jwk_to_pkey(a, 0));
		assert_null(jose_jwk_to_pkey(a, JOSE_JWK_PRIVATE));
		cJSON_Delete(a);
	}
	assert_null(jose_jwk_to_pkey(NULL, 0));

	/* EC: off the curve, short, padded, unknown curve, wrong curve. */
	s = bitflip_member(JV_EC256_PUB, "y");
	assert_null(edited_key(JV_EC256_PUB, "y", s, 0));
	free(s);
	assert_null(edited_key(JV_EC256_PUB, "x",
	    "7cO6S_bYyIEMV3vU9Vv5NBxYRUAWWw1k6UKNyUriNA", 0));
	assert_null(edited_key(JV_EC256_PUB, "x",
	    "7cO6S_bYyIEMV3vU9Vv5NBxYRUAWWw1k6UKNyUriNBU=", 0));
	assert_null(edited_key(JV_EC256_PUB, "crv", "P-192", 0));
	assert_null(edited_key(JV_EC256_PUB, "crv", "P-384", 0));
	assert_null(edited_key(JV_EC256_PUB, "y", NULL, 0));
	/* EC private: d of another key, d zero, d missing. */
	a = pj(JV_EC256_PRIV);
	pk = gen_ec("P-256");
	b = jose_jwk_from_pkey(pk, JOSE_JWK_PRIVATE);
	assert_non_null(b);
	assert_null(edited_key(JV_EC256_PRIV, "d",
	    cJSON_GetObjectItemCaseSensitive(b, "d")->valuestring,
	    JOSE_JWK_PRIVATE));
	EVP_PKEY_free(pk);
	jose_jwk_free(a);
	jose_jwk_free(b);
	assert_null(edited_key(JV_EC256_PRIV, "d",
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", JOSE_JWK_PRIVATE));
	assert_null(edited_key(JV_EC256_PRIV, "d", NULL, JOSE_JWK_PRIVATE));

	/* Ed25519: x not the seed's, wrong length. */
	s = bitflip_member(JV_ED_PRIV, "x");
	assert_null(edited_key(JV_ED_PRIV, "x", s, JOSE_JWK_PRIVATE));
	pk = edited_key(JV_ED_PRIV, "x", s, 0);	/* public only: fine */
	assert_non_null(pk);
	EVP_PKEY_free(pk);
	free(s);
	assert_null(edited_key(JV_ED_PUB, "x", "AAAA", 0));
	assert_null(edited_key(JV_ED_PUB, "crv", "Ed448", 0));

	/* RSA: short modulus, even modulus, bad CRT value, oth, no p. */
	assert_null(edited_key(JV_RSA_PUB, "n",
	    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1R"
	    "K7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9"
	    "yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQ", 0));
	s = bitflip_member(JV_RSA_PUB, "n");
	assert_null(edited_key(JV_RSA_PUB, "n", s, 0));
	free(s);
	/* e of 3 is weak but Go takes it; 1 and even ones are no keys. */
	pk = edited_key(JV_RSA_PUB, "e", "Aw", 0);
	assert_non_null(pk);
	EVP_PKEY_free(pk);
	assert_null(edited_key(JV_RSA_PUB, "e", "AQ", 0));
	assert_null(edited_key(JV_RSA_PUB, "e", "AQAA", 0));
	assert_null(edited_key(JV_RSA_PUB, "e", "AQAAAAE", 0));
	assert_null(edited_key(JV_RSA_PRIV, "qi", "AQ", JOSE_JWK_PRIVATE));
	assert_null(edited_key(JV_RSA_PRIV, "oth", "x", JOSE_JWK_PRIVATE));
	assert_null(edited_key(JV_RSA_PRIV, "p", NULL, JOSE_JWK_PRIVATE));
}

static void
test_jwk_rsa_crt_derived(void **state)
{
	cJSON *j = pj(JV_RSA_PRIV);
	EVP_PKEY *pk;

	(void)state;
	cJSON_DeleteItemFromObjectCaseSensitive(j, "dp");
	cJSON_DeleteItemFromObjectCaseSensitive(j, "dq");
	cJSON_DeleteItemFromObjectCaseSensitive(j, "qi");
	pk = jose_jwk_to_pkey(j, JOSE_JWK_PRIVATE);
	assert_non_null(pk);
	assert_int_equal(EVP_PKEY_eq(pk, get_rsa()), 1);
	check_sign_with(pk, get_rsa());
	EVP_PKEY_free(pk);
	jose_jwk_free(j);
}

static void
test_jwk_step_members(void **state)
{
	char tp[JOSE_THUMBPRINT_LEN + 1];
	EVP_PKEY *pk = gen_ec("P-384");
	cJSON *j;

	(void)state;
	j = jose_jwk_from_pkey(pk, JOSE_JWK_STEP);
	assert_non_null(j);
	assert_int_equal(jose_pkey_thumbprint(pk, tp), JOSE_OK);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(j,
	    "kid")->valuestring, tp);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(j,
	    "alg")->valuestring, "ES384");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(j,
	    "use")->valuestring, "sig");
	assert_null(cJSON_GetObjectItemCaseSensitive(j, "d"));
	cJSON_Delete(j);
	EVP_PKEY_free(pk);
}

/* ---- JWS ---- */

static void
sign_verify(EVP_PKEY *pk, const char *alg, size_t rawsig)
{
	cJSON *extra = pj("{\"kid\":\"k1\",\"typ\":\"JWT\"}"), *h = NULL;
	EVP_PKEY *pub = public_of(pk);
	uint8_t *p = NULL, *sig;
	size_t pl = 0, sl;
	const char *s64;
	char *t;

	t = jose_jws_sign(pk, alg, extra, PAYLOAD, strlen(PAYLOAD));
	assert_non_null(t);
	assert_int_equal(jose_jws_verify(t, pub, NULL, NULL, &h, &p, &pl),
	    JOSE_OK);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(h,
	    "alg")->valuestring, alg);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(h,
	    "kid")->valuestring, "k1");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(h,
	    "typ")->valuestring, "JWT");
	assert_int_equal(pl, strlen(PAYLOAD));
	assert_memory_equal(p, PAYLOAD, pl);
	if (rawsig != 0) {
		s64 = t + part_off(t, 2);
		assert_int_equal(jose_b64url_decode(s64, strlen(s64), &sig,
		    &sl), JOSE_OK);
		assert_int_equal(sl, rawsig);
		free(sig);
	}
	/* Tampering anywhere breaks it. */
	free(p);
	p = NULL;
	cJSON_Delete(h);
	h = NULL;
	{
		char *bad;
		int i;

		for (i = 0; i < 3; i++) {
			bad = flip(t, i);
			assert_int_not_equal(verify_rc(bad, pub), JOSE_OK);
			free(bad);
		}
	}
	free(t);
	cJSON_Delete(extra);
	EVP_PKEY_free(pub);
}

static void
test_jws_roundtrip(void **state)
{
	static const char *rsa_algs[] = {
		"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
	};
	EVP_PKEY *pk;
	size_t i;

	(void)state;
	pk = gen_ec("P-256");
	sign_verify(pk, "ES256", 64);
	EVP_PKEY_free(pk);
	pk = gen_ec("P-384");
	sign_verify(pk, "ES384", 96);
	EVP_PKEY_free(pk);
	pk = gen_ec("P-521");
	sign_verify(pk, "ES512", 132);
	EVP_PKEY_free(pk);
	pk = gen_ed();
	sign_verify(pk, "EdDSA", 64);
	EVP_PKEY_free(pk);
	for (i = 0; i < sizeof(rsa_algs) / sizeof(rsa_algs[0]); i++)
		sign_verify(get_rsa(), rsa_algs[i], 256);
}

/*
 * JWS parts are decoded by table, keys in constant time: both must take
 * the same alphabet. Every byte value in the signature's first place:
 * an alphabet byte gives a bad signature (or the good one back), any
 * other a malformed token, as jose_b64url_decode says of it.
 */
static void
test_jws_alphabet(void **state)
{
	EVP_PKEY *pk = gen_ec("P-256"), *pub = public_of(pk);
	uint8_t *b;
	size_t bl, sig;
	char *t, one[5] = "xAAA";
	int c, rc;

	(void)state;
	t = jose_jws_sign(pk, "ES256", NULL, PAYLOAD, strlen(PAYLOAD));
	assert_non_null(t);
	sig = part_off(t, 2);
	for (c = 1; c < 256; c++) {
		char *u = strdup(t), orig = t[sig];
		int in_alpha;

		assert_non_null(u);
		one[0] = (char)c;
		in_alpha = jose_b64url_decode(one, 4, &b, &bl) == JOSE_OK;
		if (in_alpha)
			free(b);
		u[sig] = (char)c;
		rc = verify_rc(u, pub);
		if (!in_alpha)
			assert_int_equal(rc, JOSE_ERR_FORMAT);
		else if ((char)c == orig)
			assert_int_equal(rc, JOSE_OK);
		else
			assert_int_equal(rc, JOSE_ERR_VERIFY);
		free(u);
	}
	free(t);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(pk);
}

/*
 * r or s with leading zero bytes, or with the top bit set, is re-encoded
 * as DER by the verifier: every case must verify, and a flipped bit must
 * not. Signs until each case has come up (1 in 256 for a zero byte).
 */
static void
test_jws_ecdsa_short_values(void **state)
{
	static const struct {
		const char *curve, *alg;
		size_t size;
	} cs[] = {
		{ "P-256", "ES256", 32 },
		{ "P-384", "ES384", 48 },
		{ "P-521", "ES512", 66 },
	};
	EVP_PKEY *pk, *pub;
	uint8_t *sig;
	size_t i, sl, tries;
	char *t, *bad;
	int seen;

	(void)state;
	for (i = 0; i < sizeof(cs) / sizeof(cs[0]); i++) {
		pk = gen_ec(cs[i].curve);
		pub = public_of(pk);
		for (seen = 0, tries = 0; seen != 15 && tries < 20000;
		    tries++) {
			t = jose_jws_sign(pk, cs[i].alg, NULL, PAYLOAD,
			    strlen(PAYLOAD));
			assert_non_null(t);
			assert_int_equal(jose_b64url_decode(t + part_off(t, 2),
			    strlen(t + part_off(t, 2)), &sig, &sl), JOSE_OK);
			assert_int_equal(sl, 2 * cs[i].size);
			seen |= (sig[0] == 0) | (sig[cs[i].size] == 0) << 1 |
			    (sig[0] & 0x80 ? 4 : 0) |
			    (sig[cs[i].size] & 0x80 ? 8 : 0);
			/* P-521's top byte is 0 or 1: its high bit never is. */
			if (cs[i].size == 66)
				seen |= 12;
			assert_int_equal(verify_rc(t, pub), JOSE_OK);
			if (tries % 64 == 0) {
				bad = flip(t, 2);
				assert_int_not_equal(verify_rc(bad, pub),
				    JOSE_OK);
				free(bad);
			}
			free(sig);
			free(t);
		}
		assert_int_equal(seen, 15);
		EVP_PKEY_free(pub);
		EVP_PKEY_free(pk);
	}
}

/*
 * The verifier keeps a context per key and thread: a token must still be
 * checked against the key it is given, through more keys than it keeps
 * and keys freed and made again.
 */
static void
test_jws_key_cache(void **state)
{
	EVP_PKEY *pk[6], *pub[6];
	char *t[6];
	int i, j, round;

	(void)state;
	for (round = 0; round < 3; round++) {
		for (i = 0; i < 6; i++) {
			pk[i] = gen_ec("P-256");
			pub[i] = public_of(pk[i]);
			t[i] = jose_jws_sign(pk[i], "ES256", NULL, PAYLOAD,
			    strlen(PAYLOAD));
			assert_non_null(t[i]);
		}
		for (i = 0; i < 6; i++)
			for (j = 0; j < 6; j++)
				assert_int_equal(verify_rc(t[i], pub[j]) ==
				    JOSE_OK, i == j);
		for (i = 0; i < 6; i++) {
			free(t[i]);
			EVP_PKEY_free(pub[i]);
			EVP_PKEY_free(pk[i]);
		}
	}
}

/*
 * After 1000 good tokens a P-256 key verifies through its own table
 * (p256.c): from then on good tokens must still pass, and a signature
 * with any one bit flipped, or made by another key, must still fail.
 */
static void
test_jws_hot_key(void **state)
{
	EVP_PKEY *pk = gen_ec("P-256"), *pub = public_of(pk);
	EVP_PKEY *other = gen_ec("P-256");
	char *t, *o, *bad, *dot;
	size_t len, i;
	int n;

	(void)state;
	t = jose_jws_sign(pk, "ES256", NULL, PAYLOAD, strlen(PAYLOAD));
	o = jose_jws_sign(other, "ES256", NULL, PAYLOAD, strlen(PAYLOAD));
	assert_non_null(t);
	assert_non_null(o);
	for (n = 0; n < 1100; n++)
		assert_int_equal(verify_rc(t, pub), JOSE_OK);
	assert_int_equal(verify_rc(o, pub), JOSE_ERR_VERIFY);
	len = strlen(t);
	assert_non_null(dot = strrchr(t, '.'));
	assert_non_null(bad = strdup(t));
	/* Every character of the signature, changed to another valid one. */
	for (i = (size_t)(dot - t) + 1; i + 1 < len; i++) {
		bad[i] = t[i] == 'A' ? 'B' : 'A';
		assert_int_equal(verify_rc(bad, pub), JOSE_ERR_VERIFY);
		bad[i] = t[i];
	}
	assert_int_equal(verify_rc(bad, pub), JOSE_OK);
	free(bad);
	for (n = 0; n < 20; n++) {
		free(t);
		t = jose_jws_sign(pk, "ES256", NULL, PAYLOAD, strlen(PAYLOAD));
		assert_non_null(t);
		assert_int_equal(verify_rc(t, pub), JOSE_OK);
	}
	free(t);
	free(o);
	EVP_PKEY_free(other);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(pk);
}

static void
test_jws_default_alg(void **state)
{
	EVP_PKEY *pk = gen_ec("P-521");
	cJSON *h, *p;
	char *t;

	(void)state;
	assert_string_equal(jose_default_alg(pk), "ES512");
	assert_string_equal(jose_default_alg(get_rsa()), "RS256");
	t = jose_jws_sign(pk, NULL, NULL, PAYLOAD, strlen(PAYLOAD));
	assert_non_null(t);
	assert_int_equal(jose_jws_parse_unverified(t, &h, &p), JOSE_OK);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(h,
	    "alg")->valuestring, "ES512");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(p,
	    "iss")->valuestring, "p11ca");
	cJSON_Delete(h);
	cJSON_Delete(p);
	free(t);
	EVP_PKEY_free(pk);
}

static void
test_jws_alg_refused(void **state)
{
	EVP_PKEY *ec = gen_ec("P-256"), *ed = gen_ed(), *rsa = get_rsa();
	uint8_t mac[32];
	unsigned int maclen = sizeof(mac);
	char *t, *bad, *tbs, *m64, *p64, *h64;
	cJSON *jwk;
	const char *x;

	(void)state;
	t = jose_jws_sign(ec, "ES256", NULL, PAYLOAD, strlen(PAYLOAD));
	assert_non_null(t);
	assert_int_equal(verify_rc(t, ec), JOSE_OK);

	/* Same token, header claiming another alg: never reaches the key. */
	bad = with_header(t, "{\"alg\":\"ES384\"}");
	assert_int_equal(verify_rc(bad, ec), JOSE_ERR_ALG);
	free(bad);
	bad = with_header(t, "{\"alg\":\"RS256\"}");
	assert_int_equal(verify_rc(bad, ec), JOSE_ERR_ALG);
	free(bad);
	bad = with_header(t, "{\"alg\":\"EdDSA\"}");
	assert_int_equal(verify_rc(bad, ec), JOSE_ERR_ALG);
	free(bad);
	bad = with_header(t, "{\"alg\":\"es256\"}");
	assert_int_equal(verify_rc(bad, ec), JOSE_ERR_ALG);
	free(bad);
	bad = with_header(t, "{\"alg\":\"ES256\"}");
	assert_int_equal(verify_rc(bad, ed), JOSE_ERR_ALG);
	assert_int_equal(verify_rc(bad, rsa), JOSE_ERR_ALG);
	free(bad);

	/* none, with and without a signature part. */
	bad = with_header(t, "{\"alg\":\"none\"}");
	assert_int_equal(verify_rc(bad, ec), JOSE_ERR_ALG);
	*strrchr(bad, '.') = '\0';
	tbs = xasprintf("%s.", bad);
	assert_int_equal(verify_rc(tbs, ec), JOSE_ERR_FORMAT);
	free(tbs);
	free(bad);

	/* HS256 keyed with the public key, the classic confusion. */
	jwk = jose_jwk_from_pkey(ec, 0);
	x = cJSON_GetObjectItemCaseSensitive(jwk, "x")->valuestring;
	h64 = b64s("{\"alg\":\"HS256\"}");
	p64 = b64s(PAYLOAD);
	tbs = xasprintf("%s.%s", h64, p64);
	assert_non_null(HMAC(EVP_sha256(), x, (int)strlen(x),
	    (uint8_t *)tbs, strlen(tbs), mac, &maclen));
	m64 = b64(mac, maclen);
	bad = xasprintf("%s.%s", tbs, m64);
	assert_int_equal(verify_rc(bad, ec), JOSE_ERR_ALG);
	assert_int_equal(verify_rc(bad, rsa), JOSE_ERR_ALG);
	free(bad);
	free(tbs);
	free(m64);
	free(h64);
	free(p64);
	cJSON_Delete(jwk);

	/* The signer refuses the same mismatches. */
	assert_null(jose_jws_sign(ec, "none", NULL, "x", 1));
	assert_null(jose_jws_sign(ec, "HS256", NULL, "x", 1));
	assert_null(jose_jws_sign(ec, "ES384", NULL, "x", 1));
	assert_null(jose_jws_sign(ec, "EdDSA", NULL, "x", 1));
	assert_null(jose_jws_sign(ed, "ES256", NULL, "x", 1));
	assert_null(jose_jws_sign(rsa, "ES256", NULL, "x", 1));
	assert_null(jose_jws_sign(ec, "RS256", NULL, "x", 1));
	assert_int_equal(jose_alg_fits_key("ES256", ec), JOSE_OK);
	assert_int_equal(jose_alg_fits_key("PS512", rsa), JOSE_OK);
	assert_int_equal(jose_alg_fits_key("EdDSA", ed), JOSE_OK);
	assert_int_equal(jose_alg_fits_key("HS256", ec), JOSE_ERR_ALG);
	assert_int_equal(jose_alg_fits_key("none", ec), JOSE_ERR_ALG);
	assert_int_equal(jose_alg_fits_key(NULL, ec), JOSE_ERR_ALG);

	free(t);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(ed);
}

static void
test_jws_header_rules(void **state)
{
	static const struct {
		const char *hdr;
		int rc;
	} v[] = {
		{ "{\"alg\":\"EdDSA\"}", JOSE_OK },
		{ "{\"alg\":\"EdDSA\",\"crit\":[\"exp\"],\"exp\":1}",
		    JOSE_ERR_PARAM },
		{ "{\"alg\":\"EdDSA\",\"crit\":[]}", JOSE_ERR_PARAM },
		{ "{\"alg\":\"EdDSA\",\"b64\":false}", JOSE_ERR_PARAM },
		{ "{\"alg\":\"EdDSA\",\"alg\":\"EdDSA\"}", JOSE_ERR_FORMAT },
		{ "{\"alg\":\"EdDSA\",\"Alg\":\"none\"}", JOSE_OK },
		{ "[\"EdDSA\"]", JOSE_ERR_FORMAT },
		{ "\"EdDSA\"", JOSE_ERR_FORMAT },
		{ "{\"alg\":\"EdDSA\"} ", JOSE_OK },
		{ "{\"alg\":\"EdDSA\"}x", JOSE_ERR_FORMAT },
		{ "{}", JOSE_ERR_ALG },
		{ "{\"alg\":1}", JOSE_ERR_ALG },
		{ "{\"alg\":null}", JOSE_ERR_ALG },
		{ "{\"alg\":\"EdDSA\\u0000\"}", JOSE_ERR_FORMAT },
	};
	EVP_PKEY *ed = gen_ed();
	char *t, *bad;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		t = ed_token(ed, v[i].hdr, PAYLOAD);
		assert_int_equal(verify_rc(t, ed), v[i].rc);
		free(t);
	}

	/* Structure. */
	t = ed_token(ed, "{\"alg\":\"EdDSA\"}", PAYLOAD);
	bad = xasprintf("%s.", t);
	assert_int_equal(verify_rc(bad, ed), JOSE_ERR_FORMAT);
	free(bad);
	bad = xasprintf("%s.AAAA.AAAA", t);
	assert_int_equal(verify_rc(bad, ed), JOSE_ERR_FORMAT);
	free(bad);
	bad = strdup(t);
	*strrchr(bad, '.') = '\0';
	assert_int_equal(verify_rc(bad, ed), JOSE_ERR_FORMAT);
	free(bad);
	bad = xasprintf("%s=", t);
	assert_int_equal(verify_rc(bad, ed), JOSE_ERR_FORMAT);
	free(bad);
	bad = xasprintf(".%s", t + part_off(t, 1));
	assert_int_equal(verify_rc(bad, ed), JOSE_ERR_FORMAT);
	free(bad);
	/* The signature one byte short, one byte long, not base64url. */
	bad = resig(t, -1);
	assert_int_equal(verify_rc(bad, ed), JOSE_ERR_VERIFY);
	free(bad);
	bad = resig(t, 1);
	assert_int_equal(verify_rc(bad, ed), JOSE_ERR_VERIFY);
	free(bad);
	bad = resig(t, 0);
	assert_int_equal(verify_rc(bad, ed), JOSE_OK);
	free(bad);
	bad = xasprintf("%s+", t);
	assert_int_equal(verify_rc(bad, ed), JOSE_ERR_FORMAT);
	free(bad);
	assert_int_equal(verify_rc("", ed), JOSE_ERR_FORMAT);
	assert_int_equal(verify_rc("..", ed), JOSE_ERR_FORMAT);
	assert_int_equal(jose_jws_verify(NULL, ed, NULL, NULL, NULL, NULL,
	    NULL), JOSE_ERR_FORMAT);
	/* Output pointers are optional. */
	assert_int_equal(jose_jws_verify(t, ed, NULL, NULL, NULL, NULL, NULL),
	    JOSE_OK);
	free(t);
	EVP_PKEY_free(ed);
}

static void
test_jws_sizes(void **state)
{
	EVP_PKEY *ed = gen_ed();
	size_t n = JOSE_MAX_COMPACT;
	char *big, *t, *pl;
	cJSON *extra;

	(void)state;
	/* A 64 KiB + 1 token is refused before anything is decoded. */
	big = malloc(n + 2);
	assert_non_null(big);
	memset(big, 'A', n + 1);
	big[n + 1] = '\0';
	big[10] = '.';
	big[20] = '.';
	assert_int_equal(verify_rc(big, ed), JOSE_ERR_TOOBIG);
	free(big);

	/* The signer will not make what the verifier would refuse. */
	pl = malloc(n);
	assert_non_null(pl);
	memset(pl, 'x', n);
	assert_null(jose_jws_sign(ed, NULL, NULL, pl, 48 * 1024));
	t = jose_jws_sign(ed, NULL, NULL, pl, 40 * 1024);
	assert_non_null(t);
	assert_int_equal(verify_rc(t, ed), JOSE_OK);
	free(t);
	free(pl);

	/* Extra header members may not override or add crit. */
	extra = pj("{\"alg\":\"none\"}");
	assert_null(jose_jws_sign(ed, NULL, extra, "x", 1));
	cJSON_Delete(extra);
	extra = pj("{\"crit\":[\"x\"],\"x\":1}");
	assert_null(jose_jws_sign(ed, NULL, extra, "x", 1));
	cJSON_Delete(extra);
	extra = cJSON_CreateArray();
	assert_null(jose_jws_sign(ed, NULL, extra, "x", 1));
	cJSON_Delete(extra);
	/* Empty payload is a payload. */
	t = jose_jws_sign(ed, NULL, NULL, NULL, 0);
	assert_non_null(t);
	assert_int_equal(verify_rc(t, ed), JOSE_OK);
	free(t);
	EVP_PKEY_free(ed);
}

static void
test_jws_ecdsa_der_refused(void **state)
{
	EVP_PKEY *ec = gen_ec("P-256");
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	uint8_t der[80];
	size_t dl = sizeof(der);
	char *h = b64s("{\"alg\":\"ES256\"}"), *p = b64s(PAYLOAD), *tbs, *s, *t;

	(void)state;
	/* A valid signature, but DER as OpenSSL makes it, not raw r||s. */
	tbs = xasprintf("%s.%s", h, p);
	assert_int_equal(EVP_DigestSignInit(m, NULL, EVP_sha256(), NULL, ec),
	    1);
	assert_int_equal(EVP_DigestSign(m, der, &dl, (uint8_t *)tbs,
	    strlen(tbs)), 1);
	s = b64(der, dl);
	t = xasprintf("%s.%s", tbs, s);
	assert_int_equal(verify_rc(t, ec), JOSE_ERR_VERIFY);
	free(t);
	free(s);
	free(tbs);
	free(h);
	free(p);
	EVP_MD_CTX_free(m);
	EVP_PKEY_free(ec);
}

struct lookup {
	const char	*kid;
	EVP_PKEY	*key;
	int		 calls;
};

static EVP_PKEY *
lookup_kid(const cJSON *hdr, void *arg)
{
	struct lookup *l = arg;
	const cJSON *kid = cJSON_GetObjectItemCaseSensitive(hdr, "kid");

	l->calls++;
	if (!cJSON_IsString(kid) || strcmp(kid->valuestring, l->kid) != 0)
		return NULL;
	assert_int_equal(EVP_PKEY_up_ref(l->key), 1);
	return l->key;
}

static void
test_jws_lookup(void **state)
{
	EVP_PKEY *pk = jwk_key(JV_EC256_PUB, 0), *other = gen_ec("P-256");
	struct lookup l = { JV_EC256_THUMB, pk, 0 };
	cJSON *h = NULL;
	uint8_t *p = NULL;
	size_t pl = 0;
	char *t;

	(void)state;
	assert_non_null(pk);
	assert_int_equal(jose_jws_verify(JV_EC256_ES256, NULL, lookup_kid, &l,
	    &h, &p, &pl), JOSE_OK);
	assert_int_equal(l.calls, 1);
	assert_int_equal(pl, strlen(JV_CLAIMS));
	assert_memory_equal(p, JV_CLAIMS, pl);
	cJSON_Delete(h);
	free(p);

	l.kid = "nope";
	assert_int_equal(jose_jws_verify(JV_EC256_ES256, NULL, lookup_kid, &l,
	    NULL, NULL, NULL), JOSE_ERR_KEY);
	assert_int_equal(jose_jws_verify(JV_EC256_ES256, NULL, NULL, NULL,
	    NULL, NULL, NULL), JOSE_ERR_KEY);
	/* The right kid but the wrong key. */
	l.kid = JV_EC256_THUMB;
	l.key = other;
	assert_int_equal(jose_jws_verify(JV_EC256_ES256, NULL, lookup_kid, &l,
	    NULL, NULL, NULL), JOSE_ERR_VERIFY);
	/* A malformed token never reaches the lookup. */
	l.calls = 0;
	t = with_header(JV_EC256_ES256, "{\"alg\":\"ES256\",\"crit\":[]}");
	assert_int_equal(jose_jws_verify(t, NULL, lookup_kid, &l, NULL,
	    NULL, NULL), JOSE_ERR_PARAM);
	free(t);
	t = xasprintf("%s=", JV_EC256_ES256);
	assert_int_equal(jose_jws_verify(t, NULL, lookup_kid, &l, NULL,
	    NULL, NULL), JOSE_ERR_FORMAT);
	free(t);
	assert_int_equal(l.calls, 0);
	EVP_PKEY_free(pk);
	EVP_PKEY_free(other);
}

static void
test_jws_unverified(void **state)
{
	EVP_PKEY *ed = gen_ed();
	cJSON *h = NULL, *p = NULL;
	char *t;

	(void)state;
	assert_int_equal(jose_jws_parse_unverified(JV_ED_EdDSA, &h, &p),
	    JOSE_OK);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(h,
	    "kid")->valuestring, JV_ED_THUMB);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(p,
	    "iss")->valuestring, "admin@example.com");
	cJSON_Delete(h);
	cJSON_Delete(p);

	/* Not verified, so a broken signature still parses. */
	t = flip(JV_ED_EdDSA, 2);
	assert_int_equal(jose_jws_parse_unverified(t, &h, &p), JOSE_OK);
	cJSON_Delete(h);
	cJSON_Delete(p);
	free(t);

	/* But the key-free checks all apply, and the payload must be JSON. */
	t = ed_token(ed, "{\"alg\":\"EdDSA\"}", "not json");
	assert_int_equal(jose_jws_parse_unverified(t, &h, &p),
	    JOSE_ERR_FORMAT);
	assert_null(h);
	assert_null(p);
	free(t);
	t = ed_token(ed, "{\"alg\":\"EdDSA\"}", "{\"a\":1,\"a\":2}");
	assert_int_equal(jose_jws_parse_unverified(t, &h, &p),
	    JOSE_ERR_FORMAT);
	free(t);
	t = ed_token(ed, "{\"alg\":\"HS256\"}", "{}");
	assert_int_equal(jose_jws_parse_unverified(t, &h, &p), JOSE_ERR_ALG);
	free(t);
	t = ed_token(ed, "{\"alg\":\"EdDSA\",\"crit\":[\"x\"]}", "{}");
	assert_int_equal(jose_jws_parse_unverified(t, &h, &p),
	    JOSE_ERR_PARAM);
	free(t);
	EVP_PKEY_free(ed);
}

static void
check_vector_jws(const char *token, const char *pubv, const char *thumb,
    const char *alg)
{
	EVP_PKEY *pk = jwk_key(pubv, 0);
	cJSON *h = NULL;
	uint8_t *p = NULL;
	size_t pl = 0;
	char *bad;

	assert_non_null(pk);
	assert_int_equal(jose_jws_verify(token, pk, NULL, NULL, &h, &p, &pl),
	    JOSE_OK);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(h,
	    "alg")->valuestring, alg);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(h,
	    "kid")->valuestring, thumb);
	assert_int_equal(pl, strlen(JV_CLAIMS));
	assert_memory_equal(p, JV_CLAIMS, pl);
	bad = flip(token, 1);
	assert_int_equal(verify_rc(bad, pk), JOSE_ERR_VERIFY);
	free(bad);
	bad = flip(token, 2);
	assert_int_equal(verify_rc(bad, pk), JOSE_ERR_VERIFY);
	free(bad);
	cJSON_Delete(h);
	free(p);
	EVP_PKEY_free(pk);
}

static void
test_jws_vectors(void **state)
{
	(void)state;
	check_vector_jws(JV_EC256_ES256, JV_EC256_PUB, JV_EC256_THUMB, "ES256");
	check_vector_jws(JV_EC384_ES384, JV_EC384_PUB, JV_EC384_THUMB, "ES384");
	check_vector_jws(JV_EC521_ES512, JV_EC521_PUB, JV_EC521_THUMB, "ES512");
	check_vector_jws(JV_ED_EdDSA, JV_ED_PUB, JV_ED_THUMB, "EdDSA");
	check_vector_jws(JV_RSA_RS256, JV_RSA_PUB, JV_RSA_THUMB, "RS256");
	check_vector_jws(JV_RSA_PS256, JV_RSA_PUB, JV_RSA_THUMB, "PS256");
	/* A token is bound to its own key. */
	{
		EVP_PKEY *pk = jwk_key(JV_EC256_PUB, 0);

		assert_int_equal(verify_rc(JV_EC384_ES384, pk), JOSE_ERR_ALG);
		EVP_PKEY_free(pk);
	}
}

/* ---- JWE ---- */

static void
test_jwe_roundtrip(void **state)
{
	static const uint8_t bin[] = { 0, 1, 2, 0, 0xff, 0x80, 0 };
	uint8_t *pt = NULL, *hb;
	size_t ptl = 0, hbl;
	cJSON *h;
	char *t;

	(void)state;
	t = jose_jwe_encrypt("pw", 2, "jwk+json", PAYLOAD, strlen(PAYLOAD),
	    FAST_P2C);
	assert_non_null(t);
	assert_int_equal(jose_jwe_decrypt(t, "pw", 2, 0, &pt, &ptl), JOSE_OK);
	assert_int_equal(ptl, strlen(PAYLOAD));
	assert_memory_equal(pt, PAYLOAD, ptl);
	assert_int_equal(pt[ptl], 0);
	jose_free_secret(pt, ptl);

	assert_int_equal(jose_b64url_decode(t, strchr(t, '.') - t, &hb, &hbl),
	    JOSE_OK);
	h = jose_json_parse(hb, hbl);
	assert_non_null(h);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(h,
	    "alg")->valuestring, "PBES2-HS256+A128KW");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(h,
	    "enc")->valuestring, "A256GCM");
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(h,
	    "cty")->valuestring, "jwk+json");
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(h,
	    "p2c")->valueint, FAST_P2C);
	assert_int_equal(strlen(cJSON_GetObjectItemCaseSensitive(h,
	    "p2s")->valuestring), 22);
	cJSON_Delete(h);
	free(hb);

	assert_int_equal(decrypt_rc(t, "pW", 0), JOSE_ERR_VERIFY);
	assert_int_equal(decrypt_rc(t, "", 0), JOSE_ERR_VERIFY);
	free(t);

	/* Binary, empty, no cty, empty password. */
	t = jose_jwe_encrypt("", 0, NULL, bin, sizeof(bin), FAST_P2C);
	assert_non_null(t);
	assert_int_equal(jose_jwe_decrypt(t, "", 0, 0, &pt, &ptl), JOSE_OK);
	assert_int_equal(ptl, sizeof(bin));
	assert_memory_equal(pt, bin, ptl);
	jose_free_secret(pt, ptl);
	free(t);
	t = jose_jwe_encrypt("pw", 2, NULL, NULL, 0, FAST_P2C);
	assert_non_null(t);
	assert_int_equal(jose_jwe_decrypt(t, "pw", 2, 0, &pt, &ptl), JOSE_OK);
	assert_int_equal(ptl, 0);
	jose_free_secret(pt, ptl);
	free(t);

	/* Two encryptions of one plaintext share nothing. */
	{
		char *a = jose_jwe_encrypt("pw", 2, NULL, "x", 1, FAST_P2C);
		char *b = jose_jwe_encrypt("pw", 2, NULL, "x", 1, FAST_P2C);

		assert_non_null(a);
		assert_non_null(b);
		assert_string_not_equal(a, b);
		free(a);
		free(b);
	}
	assert_null(jose_jwe_encrypt("pw", 2, NULL, "x", 1, JOSE_P2C_MIN - 1));
	assert_null(jose_jwe_encrypt("pw", 2, NULL, "x", 1, JOSE_P2C_MAX + 1));
	assert_null(jose_jwe_encrypt("pw", 2, "a\"b", "x", 1, FAST_P2C));
}

static void
test_jwe_tamper(void **state)
{
	char *t, *bad;
	int i;

	(void)state;
	t = jose_jwe_encrypt("pw", 2, "jwk+json", PAYLOAD, strlen(PAYLOAD),
	    FAST_P2C);
	assert_non_null(t);
	for (i = 0; i < 5; i++) {
		bad = flip(t, i);
		assert_int_not_equal(decrypt_rc(bad, "pw", 0), JOSE_OK);
		free(bad);
	}
	/* The header is authenticated even where it still parses. */
	bad = flip(t, 3);
	assert_int_equal(decrypt_rc(bad, "pw", 0), JOSE_ERR_VERIFY);
	free(bad);
	bad = flip(t, 4);
	assert_int_equal(decrypt_rc(bad, "pw", 0), JOSE_ERR_VERIFY);
	free(bad);
	bad = xasprintf("%s.", t);
	assert_int_equal(decrypt_rc(bad, "pw", 0), JOSE_ERR_FORMAT);
	free(bad);
	bad = strdup(t);
	*strrchr(bad, '.') = '\0';
	assert_int_equal(decrypt_rc(bad, "pw", 0), JOSE_ERR_FORMAT);
	free(bad);
	free(t);
}

static void
test_jwe_params(void **state)
{
	static const struct {
		const char *hdr;
		int rc;
	} v[] = {
		{ "{\"alg\":\"PBES2-HS256+A128KW\",\"enc\":\"A256GCM\","
		    "\"p2c\":999,\"p2s\":\"AAAAAAAAAAAAAAAAAAAAAA\"}",
		    JOSE_ERR_PARAM },
		{ "{\"alg\":\"PBES2-HS256+A128KW\",\"enc\":\"A256GCM\","
		    "\"p2c\":1000001,\"p2s\":\"AAAAAAAAAAAAAAAAAAAAAA\"}",
		    JOSE_ERR_PARAM },
		{ "{\"alg\":\"PBES2-HS256+A128KW\",\"enc\":\"A256GCM\","
		    "\"p2c\":1e300,\"p2s\":\"AAAAAAAAAAAAAAAAAAAAAA\"}",
		    JOSE_ERR_PARAM },
		{ "{\"alg\":\"PBES2-HS256+A128KW\",\"enc\":\"A256GCM\","
		    "\"p2c\":-1,\"p2s\":\"AAAAAAAAAAAAAAAAAAAAAA\"}",
		    JOSE_ERR_PARAM },
		{ "{\"alg\":\"PBES2-HS256+A128KW\",\"enc\":\"A256GCM\","
		    "\"p2c\":1000.5,\"p2s\":\"AAAAAAAAAAAAAAAAAAAAAA\"}",
		    JOSE_ERR_PARAM },
		{ "{\"alg\":\"PBES2-HS256+A128KW\",\"enc\":\"A256GCM\","
		    "\"p2c\":\"1000\",\"p2s\":\"AAAAAAAAAAAAAAAAAAAAAA\"}",
		    JOSE_ERR_PARAM },
		{ "{\"alg\":\"PBES2-HS256+A128KW\",\"enc\":\"A256GCM\","
		    "\"p2s\":\"AAAAAAAAAAAAAAAAAAAAAA\"}", JOSE_ERR_PARAM },
		{ "{\"alg\":\"PBES2-HS256+A128KW\",\"enc\":\"A256GCM\","
		    "\"p2c\":1000,\"p2s\":\"AAAAAA\"}", JOSE_ERR_PARAM },
		{ "{\"alg\":\"PBES2-HS256+A128KW\",\"enc\":\"A256GCM\","
		    "\"p2c\":1000}", JOSE_ERR_FORMAT },
		{ "{\"alg\":\"PBES2-HS384+A192KW\",\"enc\":\"A256GCM\","
		    "\"p2c\":1000,\"p2s\":\"AAAAAAAAAAAAAAAAAAAAAA\"}",
		    JOSE_ERR_ALG },
		{ "{\"alg\":\"PBES2-HS256+A128KW\",\"enc\":\"A128GCM\","
		    "\"p2c\":1000,\"p2s\":\"AAAAAAAAAAAAAAAAAAAAAA\"}",
		    JOSE_ERR_ALG },
		{ "{\"alg\":\"dir\",\"enc\":\"A256GCM\"}", JOSE_ERR_ALG },
		{ "{\"enc\":\"A256GCM\"}", JOSE_ERR_ALG },
		{ "{\"alg\":\"PBES2-HS256+A128KW\",\"enc\":\"A256GCM\","
		    "\"p2c\":1000,\"p2s\":\"AAAAAAAAAAAAAAAAAAAAAA\","
		    "\"crit\":[\"p2c\"]}", JOSE_ERR_PARAM },
		{ "{\"alg\":\"PBES2-HS256+A128KW\",\"enc\":\"A256GCM\","
		    "\"p2c\":1000,\"p2s\":\"AAAAAAAAAAAAAAAAAAAAAA\","
		    "\"zip\":\"DEF\"}", JOSE_ERR_PARAM },
		{ "{\"alg\":\"PBES2-HS256+A128KW\",\"enc\":\"A256GCM\","
		    "\"p2c\":1000,\"p2c\":2000000,"
		    "\"p2s\":\"AAAAAAAAAAAAAAAAAAAAAA\"}", JOSE_ERR_FORMAT },
		/* Well-formed: fails only at the authentication. */
		{ "{\"alg\":\"PBES2-HS256+A128KW\",\"enc\":\"A256GCM\","
		    "\"p2c\":1000,\"p2s\":\"AAAAAAAAAAAAAAAAAAAAAA\"}",
		    JOSE_ERR_VERIFY },
	};
	char *t, *bad;
	size_t i;

	(void)state;
	t = jose_jwe_encrypt("pw", 2, NULL, "x", 1, FAST_P2C);
	assert_non_null(t);
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		bad = with_header(t, v[i].hdr);
		assert_int_equal(decrypt_rc(bad, "pw", 0), v[i].rc);
		free(bad);
	}
	free(t);

	/* The caller's cap: a 2000-round token against caps of 1500/2000. */
	t = jose_jwe_encrypt("pw", 2, NULL, "x", 1, 2000);
	assert_non_null(t);
	assert_int_equal(decrypt_rc(t, "pw", 1500), JOSE_ERR_PARAM);
	assert_int_equal(decrypt_rc(t, "pw", 2000), JOSE_OK);
	assert_int_equal(decrypt_rc(t, "pw", JOSE_P2C_MAX + 1), JOSE_OK);
	free(t);
}

static void
test_jwe_vector(void **state)
{
	char tp[JOSE_THUMBPRINT_LEN + 1];
	uint8_t *pt = NULL;
	size_t ptl = 0;
	EVP_PKEY *pk = NULL, *want;

	(void)state;
	assert_int_equal(jose_jwe_decrypt(JV_EC256_JWE, JV_PASSWORD,
	    strlen(JV_PASSWORD), 0, &pt, &ptl), JOSE_OK);
	assert_int_equal(ptl, strlen(JV_EC256_PRIV));
	assert_memory_equal(pt, JV_EC256_PRIV, ptl);
	jose_free_secret(pt, ptl);

	assert_int_equal(jose_jwe_decrypt_key(JV_EC256_JWE, JV_PASSWORD,
	    strlen(JV_PASSWORD), 0, &pk), JOSE_OK);
	assert_non_null(pk);
	assert_int_equal(jose_pkey_thumbprint(pk, tp), JOSE_OK);
	assert_string_equal(tp, JV_EC256_THUMB);
	want = jwk_key(JV_EC256_PRIV, JOSE_JWK_PRIVATE);
	assert_int_equal(EVP_PKEY_eq(pk, want), 1);
	check_sign_with(pk, want);
	EVP_PKEY_free(want);
	EVP_PKEY_free(pk);

	pk = (EVP_PKEY *)1;
	assert_int_equal(jose_jwe_decrypt_key(JV_EC256_JWE, "passwore", 8, 0,
	    &pk), JOSE_ERR_VERIFY);
	assert_null(pk);
	/* Its p2c is 1000: a caller's cap below that refuses it unopened. */
	assert_int_equal(decrypt_rc(JV_EC256_JWE, JV_PASSWORD, 999),
	    JOSE_ERR_PARAM);
}

static void
test_jwe_key_roundtrip(void **state)
{
	char tp[JOSE_THUMBPRINT_LEN + 1];
	EVP_PKEY *keys[3], *pk;
	uint8_t *pt;
	size_t ptl, i;
	cJSON *j;
	char *t;

	(void)state;
	keys[0] = gen_ec("P-256");
	keys[1] = gen_ed();
	keys[2] = get_rsa();
	for (i = 0; i < 3; i++) {
		t = jose_jwe_encrypt_key("secret", 6, keys[i], FAST_P2C);
		assert_non_null(t);
		assert_int_equal(jose_jwe_decrypt(t, "secret", 6, 0, &pt, &ptl),
		    JOSE_OK);
		j = jose_json_parse(pt, ptl);
		jose_free_secret(pt, ptl);
		assert_non_null(j);
		assert_int_equal(jose_pkey_thumbprint(keys[i], tp), JOSE_OK);
		assert_string_equal(cJSON_GetObjectItemCaseSensitive(j,
		    "kid")->valuestring, tp);
		assert_string_equal(cJSON_GetObjectItemCaseSensitive(j,
		    "use")->valuestring, "sig");
		assert_string_equal(cJSON_GetObjectItemCaseSensitive(j,
		    "alg")->valuestring, jose_default_alg(keys[i]));
		assert_non_null(cJSON_GetObjectItemCaseSensitive(j, "d"));
		jose_jwk_free(j);

		assert_int_equal(jose_jwe_decrypt_key(t, "secret", 6, 0, &pk),
		    JOSE_OK);
		assert_int_equal(EVP_PKEY_eq(pk, keys[i]), 1);
		check_sign_with(pk, keys[i]);
		EVP_PKEY_free(pk);
		free(t);
	}
	EVP_PKEY_free(keys[0]);
	EVP_PKEY_free(keys[1]);

	/* A JWE whose plaintext is not a key. */
	t = jose_jwe_encrypt("pw", 2, NULL, "{\"kty\":\"EC\"}", 12, FAST_P2C);
	assert_non_null(t);
	assert_int_equal(jose_jwe_decrypt_key(t, "pw", 2, 0, &pk),
	    JOSE_ERR_KEY);
	free(t);
	t = jose_jwe_encrypt("pw", 2, NULL, "nope", 4, FAST_P2C);
	assert_non_null(t);
	assert_int_equal(jose_jwe_decrypt_key(t, "pw", 2, 0, &pk),
	    JOSE_ERR_FORMAT);
	free(t);
}

static void
test_strerror(void **state)
{
	int e;

	(void)state;
	for (e = JOSE_ERR_PARAM; e <= JOSE_OK; e++)
		assert_string_not_equal(jose_strerror(e), "unknown error");
	assert_string_equal(jose_strerror(42), "unknown error");
}

/* ---- material for jose_interop.py ---- */

static void
dump_jws(cJSON *arr, EVP_PKEY *pk, const char *alg)
{
	char tp[JOSE_THUMBPRINT_LEN + 1];
	cJSON *o = cJSON_CreateObject(), *extra;
	char *t;

	assert_non_null(o);
	assert_int_equal(jose_pkey_thumbprint(pk, tp), JOSE_OK);
	extra = cJSON_CreateObject();
	assert_non_null(cJSON_AddStringToObject(extra, "kid", tp));
	assert_non_null(cJSON_AddStringToObject(extra, "typ", "JWT"));
	t = jose_jws_sign(pk, alg, extra, JV_CLAIMS, strlen(JV_CLAIMS));
	assert_non_null(t);
	cJSON_AddStringToObject(o, "alg", alg);
	cJSON_AddStringToObject(o, "token", t);
	cJSON_AddStringToObject(o, "thumbprint", tp);
	cJSON_AddItemToObject(o, "jwk", jose_jwk_from_pkey(pk, 0));
	cJSON_AddItemToObject(o, "payload", pj(JV_CLAIMS));
	cJSON_AddItemToArray(arr, o);
	cJSON_Delete(extra);
	free(t);
}

static void
dump_jwe(cJSON *arr, EVP_PKEY *pk, uint32_t p2c)
{
	char tp[JOSE_THUMBPRINT_LEN + 1];
	cJSON *o = cJSON_CreateObject();
	cJSON *kty = jose_jwk_from_pkey(pk, 0);
	char *t;

	assert_non_null(o);
	assert_non_null(kty);
	assert_int_equal(jose_pkey_thumbprint(pk, tp), JOSE_OK);
	t = jose_jwe_encrypt_key(JV_PASSWORD, strlen(JV_PASSWORD), pk, p2c);
	assert_non_null(t);
	cJSON_AddStringToObject(o, "kty", cJSON_GetObjectItemCaseSensitive(kty,
	    "kty")->valuestring);
	cJSON_AddNumberToObject(o, "p2c", p2c);
	cJSON_AddStringToObject(o, "password", JV_PASSWORD);
	cJSON_AddStringToObject(o, "token", t);
	cJSON_AddStringToObject(o, "thumbprint", tp);
	cJSON_AddItemToArray(arr, o);
	cJSON_Delete(kty);
	free(t);
}

static void
test_interop_dump(void **state)
{
	static const char *rsa_algs[] = {
		"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
	};
	const char *path = getenv("JOSE_INTEROP_OUT");
	EVP_PKEY *ec[3], *ed;
	cJSON *root, *jws, *jwe;
	char *s;
	FILE *f;
	size_t i;

	(void)state;
	if (path == NULL) {
		skip();
		return;
	}
	ec[0] = gen_ec("P-256");
	ec[1] = gen_ec("P-384");
	ec[2] = gen_ec("P-521");
	ed = gen_ed();
	root = cJSON_CreateObject();
	jws = cJSON_AddArrayToObject(root, "jws");
	jwe = cJSON_AddArrayToObject(root, "jwe");
	dump_jws(jws, ec[0], "ES256");
	dump_jws(jws, ec[1], "ES384");
	dump_jws(jws, ec[2], "ES512");
	dump_jws(jws, ed, "EdDSA");
	for (i = 0; i < sizeof(rsa_algs) / sizeof(rsa_algs[0]); i++)
		dump_jws(jws, get_rsa(), rsa_algs[i]);
	for (i = 0; i < 3; i++)
		dump_jwe(jwe, ec[i], FAST_P2C);
	dump_jwe(jwe, ed, FAST_P2C);
	dump_jwe(jwe, get_rsa(), FAST_P2C);
	dump_jwe(jwe, ec[0], JOSE_P2C_DEFAULT);
	s = cJSON_Print(root);
	assert_non_null(s);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fputs(s, f) >= 0);
	assert_int_equal(fclose(f), 0);
	free(s);
	cJSON_Delete(root);
	for (i = 0; i < 3; i++)
		EVP_PKEY_free(ec[i]);
	EVP_PKEY_free(ed);
}

static int
teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(rsa_key);
	rsa_key = NULL;
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64url_vectors),
		cmocka_unit_test(test_b64url_strict),
		cmocka_unit_test(test_b64_std),
		cmocka_unit_test(test_json_strict),
		cmocka_unit_test(test_jwk_roundtrip),
		cmocka_unit_test(test_jwk_vectors),
		cmocka_unit_test(test_thumbprint_rfc7638),
		cmocka_unit_test(test_jwk_invalid),
		cmocka_unit_test(test_jwk_rsa_crt_derived),
		cmocka_unit_test(test_jwk_step_members),
		cmocka_unit_test(test_jws_roundtrip),
		cmocka_unit_test(test_jws_ecdsa_short_values),
		cmocka_unit_test(test_jws_alphabet),
		cmocka_unit_test(test_jws_key_cache),
		cmocka_unit_test(test_jws_hot_key),
		cmocka_unit_test(test_jws_default_alg),
		cmocka_unit_test(test_jws_alg_refused),
		cmocka_unit_test(test_jws_header_rules),
		cmocka_unit_test(test_jws_sizes),
		cmocka_unit_test(test_jws_ecdsa_der_refused),
		cmocka_unit_test(test_jws_lookup),
		cmocka_unit_test(test_jws_unverified),
		cmocka_unit_test(test_jws_vectors),
		cmocka_unit_test(test_jwe_roundtrip),
		cmocka_unit_test(test_jwe_tamper),
		cmocka_unit_test(test_jwe_params),
		cmocka_unit_test(test_jwe_vector),
		cmocka_unit_test(test_jwe_key_roundtrip),
		cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_interop_dump),
	};

	return cmocka_run_group_tests_name("jose", tests, NULL, teardown);
}

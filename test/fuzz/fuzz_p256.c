/*
 * fuzz_p256.c — differential libFuzzer target for policy/p256.c: the
 * tabled verifier must give OpenSSL's EVP_PKEY_verify answer for every
 * (digest, r||s) pair, against one fixed P-256 key.
 *
 * Input: 32 bytes of digest, then 64 of r||s. A random r||s never
 * verifies, so with only 32 bytes (or 32 + a 1-byte tweak) the digest is
 * signed here first: the pair then verifies, and the tweak, when given,
 * flips one bit of it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include "policy/jose.h"
#include "policy/p256.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char JWK[] =
    "{\"crv\":\"P-256\",\"kty\":\"EC\","
    "\"x\":\"MUG6Y7zgffKHrXauGP2Z__-6hxL0gpBzZsi7mi6-BYI\","
    "\"y\":\"NXdKscDNaxgQcjiKiTO42myGfYNPiDMPnmcBbrrpx74\","
    "\"d\":\"FLq7BN6Ke7IldMTCKqwKmhRqlFuVyaDsDYPzic2LMIk\"}";

static EVP_PKEY *pk;
static struct p256_key *tk;

static void
init(void)
{
	cJSON *j;

	if (pk != NULL)
		return;
	if ((j = jose_json_parse(JWK, sizeof(JWK) - 1)) == NULL ||
	    (pk = jose_jwk_to_pkey(j, JOSE_JWK_PRIVATE)) == NULL ||
	    (tk = p256_key_new(pk)) == NULL)
		abort();
	jose_jwk_free(j);
}

static int
evp_verify(const uint8_t md[32], const uint8_t rs[64])
{
	ECDSA_SIG *es;
	BIGNUM *r, *s;
	uint8_t *der = NULL;
	EVP_PKEY_CTX *c;
	int len, rc;

	r = BN_bin2bn(rs, 32, NULL);
	s = BN_bin2bn(rs + 32, 32, NULL);
	if (r == NULL || s == NULL || (es = ECDSA_SIG_new()) == NULL ||
	    ECDSA_SIG_set0(es, r, s) != 1)
		abort();
	if ((len = i2d_ECDSA_SIG(es, &der)) <= 0 ||
	    (c = EVP_PKEY_CTX_new(pk, NULL)) == NULL ||
	    EVP_PKEY_verify_init(c) != 1)
		abort();
	rc = EVP_PKEY_verify(c, der, (size_t)len, md, 32) == 1;
	EVP_PKEY_CTX_free(c);
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	return rc;
}

static void
sign_raw(const uint8_t md[32], uint8_t rs[64])
{
	uint8_t der[80];
	const uint8_t *p = der;
	size_t len = sizeof(der);
	EVP_PKEY_CTX *c;
	ECDSA_SIG *es;
	const BIGNUM *r, *s;

	if ((c = EVP_PKEY_CTX_new(pk, NULL)) == NULL ||
	    EVP_PKEY_sign_init(c) != 1 ||
	    EVP_PKEY_sign(c, der, &len, md, 32) != 1 ||
	    (es = d2i_ECDSA_SIG(NULL, &p, (long)len)) == NULL)
		abort();
	EVP_PKEY_CTX_free(c);
	ECDSA_SIG_get0(es, &r, &s);
	if (BN_bn2binpad(r, rs, 32) != 32 || BN_bn2binpad(s, rs + 32, 32) != 32)
		abort();
	ECDSA_SIG_free(es);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t md[32], rs[64];

	init();
	if (size < 32)
		return 0;
	memcpy(md, data, 32);
	if (size >= 96) {
		memcpy(rs, data + 32, 64);
	} else {
		sign_raw(md, rs);
		if (size > 32)
			rs[data[32] % 64] ^= (uint8_t)(1u << (data[32] / 64 * 2));
	}
	if (p256_verify(tk, md, rs) != evp_verify(md, rs))
		abort();
	return 0;
}

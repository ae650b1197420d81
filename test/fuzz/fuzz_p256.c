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

#include <openssl/evp.h>

#include "policy/jose.h"
#include "policy/p256.h"
#include "test/unit/ecdsa_oracle.h"

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
		if (oracle_sign(pk, md, rs) != 0)
			abort();
		if (size > 32)
			rs[data[32] % 64] ^= (uint8_t)(1u << (data[32] / 64 * 2));
	}
	if (p256_verify(tk, md, rs) != oracle_verify(pk, md, rs))
		abort();
	return 0;
}

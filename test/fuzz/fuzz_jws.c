/*
 * fuzz_jws.c — libFuzzer target for policy/jose.c: arbitrary bytes into
 * the JWS verifier (fixed P-256 key, and a kid lookup), the unverified
 * parser, the JWE decryptor (fixed password) and the JWK importer.
 *
 * The first byte picks the entry point, the rest is the input. JWE
 * decryption is capped at 2000 PBKDF2 rounds so that a hostile p2c
 * cannot stall the run; seeds should use p2c 1000.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy/jose.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_MAX_P2C	2000

static const char P256_JWK[] =
    "{\"crv\":\"P-256\",\"kty\":\"EC\","
    "\"x\":\"7cO6S_bYyIEMV3vU9Vv5NBxYRUAWWw1k6UKNyUriNBU\","
    "\"y\":\"oB4TZKGZ3ufMjVVYb0UTdolAVGGGKRidG7UlcjJ_AQY\"}";
static const char P256_KID[] = "SGPEJadhaelLfrqHwKcSq2ujl2fdeqAvo7Gv3C_K91w";

static EVP_PKEY *p256;

static void
init(void)
{
	cJSON *j;

	if (p256 != NULL)
		return;
	j = jose_json_parse(P256_JWK, sizeof(P256_JWK) - 1);
	if (j == NULL || (p256 = jose_jwk_to_pkey(j, 0)) == NULL)
		abort();
	cJSON_Delete(j);
}

static EVP_PKEY *
lookup(const cJSON *hdr, void *arg)
{
	const cJSON *kid = cJSON_GetObjectItemCaseSensitive(hdr, "kid");

	(void)arg;
	if (!cJSON_IsString(kid) || strcmp(kid->valuestring, P256_KID) != 0)
		return NULL;
	if (EVP_PKEY_up_ref(p256) != 1)
		abort();
	return p256;
}

static void
fuzz_jws(const char *s)
{
	cJSON *h = NULL, *p = NULL;
	uint8_t *pl = NULL;
	size_t pll = 0;

	if (jose_jws_verify(s, p256, NULL, NULL, &h, &pl, &pll) == JOSE_OK) {
		/* Only a seed signed by the fixed key can get here. */
		if (h == NULL || pl == NULL || pl[pll] != '\0')
			abort();
	}
	cJSON_Delete(h);
	free(pl);
	h = NULL;
	pl = NULL;
	(void)jose_jws_verify(s, NULL, lookup, NULL, &h, &pl, &pll);
	cJSON_Delete(h);
	free(pl);
	if (jose_jws_parse_unverified(s, &h, &p) == JOSE_OK) {
		if (h == NULL || p == NULL)
			abort();
		cJSON_Delete(h);
		cJSON_Delete(p);
	}
}

static void
fuzz_jwe(const char *s)
{
	uint8_t *pt = NULL;
	size_t ptl = 0;

	if (jose_jwe_decrypt(s, "password", 8, FUZZ_MAX_P2C, &pt, &ptl) ==
	    JOSE_OK && (pt == NULL || pt[ptl] != '\0'))
		abort();
	jose_free_secret(pt, ptl);
}

static void
fuzz_jwk(const uint8_t *d, size_t n)
{
	char tp[JOSE_THUMBPRINT_LEN + 1];
	uint8_t *b = NULL;
	size_t bl = 0;
	EVP_PKEY *pk;
	cJSON *j, *again;
	char *s, *e;

	if (jose_b64url_decode((const char *)d, n, &b, &bl) == JOSE_OK) {
		/* Decoding is canonical: re-encoding gives the input back. */
		if ((e = jose_b64url_encode(b, bl)) == NULL ||
		    strlen(e) != n || memcmp(e, d, n) != 0)
			abort();
		free(e);
		free(b);
	}
	if ((j = jose_json_parse(d, n)) == NULL)
		return;
	/* What we accept, printed, must be accepted again. */
	if ((s = cJSON_PrintUnformatted(j)) == NULL)
		abort();
	if ((again = jose_json_parse(s, strlen(s))) == NULL)
		abort();
	cJSON_Delete(again);
	free(s);
	(void)jose_jwk_thumbprint(j, tp);
	if ((pk = jose_jwk_to_pkey(j, 0)) != NULL) {
		if (jose_pkey_thumbprint(pk, tp) != JOSE_OK)
			abort();
		EVP_PKEY_free(pk);
	}
	if ((pk = jose_jwk_to_pkey(j, JOSE_JWK_PRIVATE)) != NULL)
		EVP_PKEY_free(pk);
	jose_jwk_free(j);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1 || size > JOSE_MAX_COMPACT + 2)
		return 0;
	init();
	if ((s = malloc(size)) == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 3) {
	case 0:
		fuzz_jws(s);
		break;
	case 1:
		fuzz_jwe(s);
		break;
	default:
		fuzz_jwk(data + 1, size - 1);
		break;
	}
	free(s);
	return 0;
}

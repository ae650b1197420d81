/*
 * test_p256.c — the tabled P-256 verifier must answer exactly as
 * OpenSSL's EVP_PKEY_verify does: on good signatures, on every bit
 * flipped, on r and s at and beyond the ends of their range, on high s,
 * on a signature whose sum point is infinity, and for other keys.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/rand.h>

#include "policy/p256.h"
#include "test/unit/ecdsa_oracle.h"

static EVP_PKEY *pk;
static struct p256_key *tk;

/* OpenSSL's answer, asserted to be an answer. */
static int
evp_verify(EVP_PKEY *key, const uint8_t md[32], const uint8_t rs[64])
{
	int rc = oracle_verify(key, md, rs);

	assert_true(rc == 0 || rc == 1);
	return rc;
}

static void
sign_raw(EVP_PKEY *key, const uint8_t md[32], uint8_t rs[64])
{
	assert_int_equal(oracle_sign(key, md, rs), 0);
}

static void
same(const uint8_t md[32], const uint8_t rs[64], int want)
{
	assert_int_equal(evp_verify(pk, md, rs), want);
	assert_int_equal(p256_verify(tk, md, rs), want);
}

static int
setup(void **state)
{
	(void)state;
	if ((pk = EVP_EC_gen("P-256")) == NULL ||
	    (tk = p256_key_new(pk)) == NULL)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	p256_key_free(tk);
	EVP_PKEY_free(pk);
	return 0;
}

static void
test_good_and_flipped(void **state)
{
	uint8_t md[32], rs[64], bad[64], mdb[32];
	int i, bit;

	(void)state;
	for (i = 0; i < 64; i++) {
		assert_int_equal(RAND_bytes(md, sizeof(md)), 1);
		sign_raw(pk, md, rs);
		same(md, rs, 1);
		/* Any one bit of r, s or the digest. */
		for (bit = i; bit < 768; bit += 64) {
			memcpy(bad, rs, 64);
			memcpy(mdb, md, 32);
			if (bit < 512)
				bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			else
				mdb[(bit - 512) / 8] ^= (uint8_t)(1u << (bit % 8));
			same(mdb, bad, 0);
		}
	}
}

/* r or s replaced by big-endian value v (32 bytes). */
static void
with(uint8_t rs[64], int which, const BIGNUM *v)
{
	assert_int_equal(BN_bn2binpad(v, rs + 32 * which, 32), 32);
}

static void
test_ranges(void **state)
{
	EC_GROUP *g;
	const BIGNUM *n;
	BIGNUM *v, *hs;
	uint8_t md[32], rs[64], t[64];
	int which;

	(void)state;
	assert_non_null(g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1));
	n = EC_GROUP_get0_order(g);
	assert_non_null(v = BN_new());
	assert_int_equal(RAND_bytes(md, sizeof(md)), 1);
	sign_raw(pk, md, rs);
	for (which = 0; which < 2; which++) {
		memcpy(t, rs, 64);
		BN_zero(v);
		with(t, which, v);
		same(md, t, 0);
		with(t, which, n);
		same(md, t, 0);
		assert_int_equal(BN_sub(v, n, BN_value_one()), 1);
		with(t, which, v);
		same(md, t, 0);
		memset(t + 32 * which, 0xff, 32);
		same(md, t, 0);
		/* Above n-1, only n up to all ones fit 32 bytes: both tried. */
	}
	/* ECDSA accepts n-s as well as s: both must. */
	memcpy(t, rs, 64);
	assert_non_null(hs = BN_bin2bn(rs + 32, 32, NULL));
	assert_int_equal(BN_sub(hs, n, hs), 1);
	with(t, 1, hs);
	same(md, t, 1);
	/* A digest of all ones is above n: reduced, still verifies. */
	memset(md, 0xff, sizeof(md));
	sign_raw(pk, md, rs);
	same(md, rs, 1);
	memset(md, 0, sizeof(md));
	sign_raw(pk, md, rs);
	same(md, rs, 1);
	BN_free(hs);
	BN_free(v);
	EC_GROUP_free(g);
}

/*
 * With e = -r*d (mod n), u1*G + u2*Q = (e + r*d)/s * G is the point at
 * infinity: a forger's corner that must be refused, not crash.
 */
static void
test_infinity(void **state)
{
	EC_GROUP *g;
	BN_CTX *bc;
	BIGNUM *d = NULL, *r, *s, *e;
	uint8_t md[32], rs[64];

	(void)state;
	assert_non_null(g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1));
	assert_non_null(bc = BN_CTX_new());
	assert_int_equal(EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_PRIV_KEY,
	    &d), 1);
	assert_non_null(r = BN_new());
	assert_non_null(s = BN_new());
	assert_non_null(e = BN_new());
	assert_int_equal(BN_rand_range(r, EC_GROUP_get0_order(g)), 1);
	assert_int_equal(BN_rand_range(s, EC_GROUP_get0_order(g)), 1);
	assert_false(BN_is_zero(r) || BN_is_zero(s));
	assert_int_equal(BN_mod_mul(e, r, d, EC_GROUP_get0_order(g), bc), 1);
	assert_int_equal(BN_mod_sub(e, EC_GROUP_get0_order(g), e,
	    EC_GROUP_get0_order(g), bc), 1);
	assert_int_equal(BN_bn2binpad(e, md, 32), 32);
	assert_int_equal(BN_bn2binpad(r, rs, 32), 32);
	assert_int_equal(BN_bn2binpad(s, rs + 32, 32), 32);
	same(md, rs, 0);
	BN_clear_free(d);
	BN_free(r);
	BN_free(s);
	BN_free(e);
	BN_CTX_free(bc);
	EC_GROUP_free(g);
}

static void
test_other_keys(void **state)
{
	EVP_PKEY *k;
	uint8_t md[32], rs[64];

	(void)state;
	/* A signature by another P-256 key. */
	assert_non_null(k = EVP_EC_gen("P-256"));
	assert_int_equal(RAND_bytes(md, sizeof(md)), 1);
	sign_raw(k, md, rs);
	same(md, rs, 0);
	EVP_PKEY_free(k);
	/* Keys it has no table for. */
	assert_non_null(k = EVP_EC_gen("P-384"));
	assert_null(p256_key_new(k));
	EVP_PKEY_free(k);
	assert_non_null(k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"));
	assert_null(p256_key_new(k));
	EVP_PKEY_free(k);
	assert_null(p256_key_new(NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_and_flipped),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_infinity),
		cmocka_unit_test(test_other_keys),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

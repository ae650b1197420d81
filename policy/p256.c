/*
 * p256.c — ECDSA P-256 verification with a table for the public key.
 * See p256.h for why.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>

#include "policy/p256.h"

struct p256_key {
	EC_GROUP *g;		/* the curve, with OpenSSL's table for G */
	EC_GROUP *gq;		/* the same curve with Q as generator */
	const BIGNUM *n;	/* the order, owned by g */
	BN_CTX *bc;
	BIGNUM *r, *s, *e, *w, *u1, *u2, *x;
	EC_POINT *p1, *p2;
};

void
p256_key_free(struct p256_key *k)
{
	if (k == NULL)
		return;
	EC_POINT_free(k->p1);
	EC_POINT_free(k->p2);
	BN_free(k->r);
	BN_free(k->s);
	BN_free(k->e);
	BN_free(k->w);
	BN_free(k->u1);
	BN_free(k->u2);
	BN_free(k->x);
	BN_CTX_free(k->bc);
	EC_GROUP_free(k->gq);
	EC_GROUP_free(k->g);
	free(k);
}

/*
 * OpenSSL 3 deprecates EC_GROUP_precompute_mult with the rest of the
 * low-level EC interface, and offers nothing in its place: EVP keys
 * never keep such a table. It is still built and used in 3.x.
 */
static int
precompute(EC_GROUP *gq, BN_CTX *bc)
{
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	return EC_GROUP_precompute_mult(gq, bc);
#pragma GCC diagnostic pop
}

struct p256_key *
p256_key_new(const EVP_PKEY *pk)
{
	struct p256_key *k;
	uint8_t pub[65];
	char curve[32];
	size_t len = 0;
	EC_POINT *q = NULL;
	int ok = 0;

	if (pk == NULL || !EVP_PKEY_is_a(pk, "EC") ||
	    EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME,
	    curve, sizeof(curve), NULL) != 1 ||
	    OBJ_txt2nid(curve) != NID_X9_62_prime256v1 ||
	    EVP_PKEY_get_octet_string_param(pk,
	    OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pub, sizeof(pub), &len) != 1) {
		ERR_clear_error();
		return NULL;
	}
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return NULL;
	if ((k->g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1)) ==
	    NULL || (k->bc = BN_CTX_new()) == NULL ||
	    (q = EC_POINT_new(k->g)) == NULL ||
	    EC_POINT_oct2point(k->g, q, pub, len, k->bc) != 1 ||
	    EC_POINT_is_at_infinity(k->g, q) ||
	    (k->gq = EC_GROUP_dup(k->g)) == NULL)
		goto out;
	k->n = EC_GROUP_get0_order(k->g);
	if (EC_GROUP_set_generator(k->gq, q, k->n, BN_value_one()) != 1 ||
	    precompute(k->gq, k->bc) != 1 ||
	    (k->r = BN_new()) == NULL || (k->s = BN_new()) == NULL ||
	    (k->e = BN_new()) == NULL || (k->w = BN_new()) == NULL ||
	    (k->u1 = BN_new()) == NULL || (k->u2 = BN_new()) == NULL ||
	    (k->x = BN_new()) == NULL ||
	    (k->p1 = EC_POINT_new(k->g)) == NULL ||
	    (k->p2 = EC_POINT_new(k->g)) == NULL)
		goto out;
	ok = 1;
out:
	EC_POINT_free(q);
	if (!ok) {
		ERR_clear_error();
		p256_key_free(k);
		return NULL;
	}
	return k;
}

/* SEC 1 §4.1.4, steps as ossl_ecdsa_simple_verify_sig takes them. */
int
p256_verify(struct p256_key *k, const uint8_t md[32], const uint8_t sig[64])
{
	if (BN_bin2bn(sig, 32, k->r) == NULL ||
	    BN_bin2bn(sig + 32, 32, k->s) == NULL ||
	    BN_bin2bn(md, 32, k->e) == NULL)
		goto fail;
	/* r and s in [1, n-1]. */
	if (BN_is_zero(k->r) || BN_is_zero(k->s) ||
	    BN_cmp(k->r, k->n) >= 0 || BN_cmp(k->s, k->n) >= 0)
		return 0;
	/*
	 * The digest is as long as the order, so e is the whole digest; it
	 * may exceed n, which BN_mod_mul reduces. u1 = e/s, u2 = r/s.
	 */
	if (BN_mod_inverse(k->w, k->s, k->n, k->bc) == NULL ||
	    BN_mod_mul(k->u1, k->e, k->w, k->n, k->bc) != 1 ||
	    BN_mod_mul(k->u2, k->r, k->w, k->n, k->bc) != 1)
		goto fail;
	/* u1*G from OpenSSL's table, u2*Q from ours. */
	if (EC_POINT_mul(k->g, k->p1, k->u1, NULL, NULL, k->bc) != 1 ||
	    EC_POINT_mul(k->gq, k->p2, k->u2, NULL, NULL, k->bc) != 1 ||
	    EC_POINT_add(k->g, k->p1, k->p1, k->p2, k->bc) != 1)
		goto fail;
	if (EC_POINT_is_at_infinity(k->g, k->p1))
		return 0;
	if (EC_POINT_get_affine_coordinates(k->g, k->p1, k->x, NULL,
	    k->bc) != 1 || BN_nnmod(k->x, k->x, k->n, k->bc) != 1)
		goto fail;
	return BN_cmp(k->x, k->r) == 0;
fail:
	ERR_clear_error();
	return -1;
}

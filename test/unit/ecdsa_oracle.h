/*
 * ecdsa_oracle.h — OpenSSL's own ECDSA, in the raw r||s form JWS uses,
 * as the oracle that policy/p256.c is held to (test_p256.c, fuzz_p256.c);
 * bench-api signs with it too. Static inline: includers take what they use.
 */
#ifndef P11CA_TEST_ECDSA_ORACLE_H
#define P11CA_TEST_ECDSA_ORACLE_H

#include <stdint.h>

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>

/* EVP_PKEY_verify's answer for r||s over the digest md: 1, 0; -1: error. */
static inline int
oracle_verify(EVP_PKEY *key, const uint8_t md[32], const uint8_t rs[64])
{
	ECDSA_SIG *es;
	BIGNUM *r = BN_bin2bn(rs, 32, NULL), *s = BN_bin2bn(rs + 32, 32, NULL);
	uint8_t *der = NULL;
	EVP_PKEY_CTX *c = NULL;
	int len, rc = -1;

	if (r == NULL || s == NULL || (es = ECDSA_SIG_new()) == NULL) {
		BN_free(r);
		BN_free(s);
		return -1;
	}
	if (ECDSA_SIG_set0(es, r, s) != 1) {
		BN_free(r);
		BN_free(s);
	} else if ((len = i2d_ECDSA_SIG(es, &der)) > 0 &&
	    (c = EVP_PKEY_CTX_new(key, NULL)) != NULL &&
	    EVP_PKEY_verify_init(c) == 1)
		rc = EVP_PKEY_verify(c, der, (size_t)len, md, 32) == 1;
	EVP_PKEY_CTX_free(c);
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	return rc;
}

/* A fresh signature of md by key as r||s: 0, or -1. */
static inline int
oracle_sign(EVP_PKEY *key, const uint8_t md[32], uint8_t rs[64])
{
	uint8_t der[80];
	const uint8_t *p = der;
	size_t len = sizeof(der);
	EVP_PKEY_CTX *c;
	ECDSA_SIG *es = NULL;
	const BIGNUM *r, *s;
	int rc = -1;

	if ((c = EVP_PKEY_CTX_new(key, NULL)) != NULL &&
	    EVP_PKEY_sign_init(c) == 1 &&
	    EVP_PKEY_sign(c, der, &len, md, 32) == 1 &&
	    (es = d2i_ECDSA_SIG(NULL, &p, (long)len)) != NULL) {
		ECDSA_SIG_get0(es, &r, &s);
		if (BN_bn2binpad(r, rs, 32) == 32 &&
		    BN_bn2binpad(s, rs + 32, 32) == 32)
			rc = 0;
	}
	ECDSA_SIG_free(es);
	EVP_PKEY_CTX_free(c);
	return rc;
}

#endif /* P11CA_TEST_ECDSA_ORACLE_H */

/*
 * p256.h — ECDSA P-256 verification against one fixed public key, with a
 * table of multiples of that key.
 *
 * A provisioner's token key signs thousands of tokens. OpenSSL's ECDSA
 * verify computes u1*G + u2*Q; u1*G uses OpenSSL's built-in table of
 * multiples of the generator, but u2*Q starts from nothing every time
 * and is two thirds of the verify. Here Q gets a table of its own,
 * built by OpenSSL (EC_GROUP_precompute_mult on a copy of the curve whose
 * generator is Q): both products then cost about what a signature does,
 * and a verify about half of OpenSSL's. Building the table takes some
 * 35 ms and 150 KB, so it pays only for a key that is used often; the
 * caller decides when (jose.c: after many good tokens from one key).
 *
 * The arithmetic is OpenSSL's; this file holds only the verification
 * equation of SEC 1 §4.1.4, with every range check OpenSSL makes.
 * test_p256 and fuzz_p256 hold it to EVP_PKEY_verify's answers.
 *
 * A p256_key is used by one thread at a time (it keeps its own BN_CTX).
 */
#ifndef P11CA_P256_H
#define P11CA_P256_H

#include <stdint.h>

#include <openssl/evp.h>

struct p256_key;

/*
 * The table for pk's public point, or NULL when pk is not a P-256 key
 * or memory runs out. pk is not kept.
 */
struct p256_key	*p256_key_new(const EVP_PKEY *pk);
void		 p256_key_free(struct p256_key *k);

/*
 * Verifies the raw signature r||s (32 bytes each, big-endian, as JWS
 * ES256 carries it) over the SHA-256 digest md. 1: valid; 0: not;
 * -1: OpenSSL failed (the caller may fall back to EVP_PKEY_verify).
 */
int		 p256_verify(struct p256_key *k, const uint8_t md[32],
		    const uint8_t sig[64]);

#endif /* P11CA_P256_H */

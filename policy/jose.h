/*
 * jose.h — the JOSE subset that step-ca speaks: base64url, JWK, RFC 7638
 * thumbprints, compact JWS (provisioner tokens) and compact PBES2 JWE
 * (a provisioner's encryptedKey, as step-cli writes it).
 *
 * Everything here is stateless and thread-safe. Inputs that come from the
 * network are bounded: no compact token or JSON document longer than
 * JOSE_MAX_COMPACT bytes is looked at.
 *
 * Memory: every pointer returned is the caller's. Plain buffers and
 * strings are released with free(); buffers that may hold secrets with
 * jose_free_secret(); cJSON trees with cJSON_Delete(), or jose_jwk_free()
 * when they may hold a private JWK; EVP_PKEYs with EVP_PKEY_free().
 *
 * Errors: int functions return JOSE_OK (0) or a negative JOSE_ERR_* code;
 * pointer functions return NULL on any failure. Verifying, decrypting
 * and importing a JWK fail routinely on hostile input, so they clear
 * OpenSSL's error queue when they fail; signing and encrypting leave it
 * for the caller to log, since their failures are ours (or the HSM's).
 */
#ifndef P11CA_JOSE_H
#define P11CA_JOSE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

/* Largest compact JWS/JWE, or JSON document, accepted or produced. */
#define JOSE_MAX_COMPACT	65536

/*
 * PBES2 iteration bounds. Below the floor a stolen encryptedKey is too
 * cheap to brute-force; above the ceiling a hostile token makes us burn
 * seconds of CPU before we can refuse it.
 */
#define JOSE_P2C_MIN		1000
#define JOSE_P2C_MAX		1000000
#define JOSE_P2C_DEFAULT	100000	/* what step-cli uses */

/* base64url of a SHA-256 digest, without the NUL. */
#define JOSE_THUMBPRINT_LEN	43

/* RSA moduli accepted anywhere, in bits. */
#define JOSE_RSA_MIN_BITS	2048
#define JOSE_RSA_MAX_BITS	8192

enum {
	JOSE_OK = 0,
	JOSE_ERR_INTERNAL = -1,	/* allocation or crypto library failure */
	JOSE_ERR_FORMAT = -2,	/* malformed encoding, JSON or structure */
	JOSE_ERR_TOOBIG = -3,	/* input over JOSE_MAX_COMPACT */
	JOSE_ERR_ALG = -4,	/* alg/enc refused, or does not fit the key */
	JOSE_ERR_KEY = -5,	/* no key found, or the key is invalid */
	JOSE_ERR_VERIFY = -6,	/* bad signature, tag, or password */
	JOSE_ERR_PARAM = -7,	/* header parameter refused: crit, zip, p2c */
};

/* A static English description of a JOSE_* code. */
const char	*jose_strerror(int err);

/*
 * Releases a buffer that may hold secret bytes after wiping len bytes of
 * it. NULL is fine.
 */
void		 jose_free_secret(void *p, size_t len);

/* ---- base64url (RFC 4648 §5, unpadded) ---- */

/*
 * Returns the NUL-terminated encoding of in[0..inlen), caller free().
 * Runs in time independent of the bytes, so it may encode secrets.
 */
char		*jose_b64url_encode(const void *in, size_t inlen);

/*
 * Decodes in[0..inlen) strictly: only [A-Za-z0-9_-], no padding, no
 * whitespace, inlen % 4 != 1, and the unused low bits of the last
 * character must be zero (so that every byte string has exactly one
 * accepted encoding and tokens are not malleable). On success *out is a
 * fresh buffer of *outlen bytes plus a NUL that is not counted; release
 * it with jose_free_secret(*out, *outlen) when it may be secret, free()
 * otherwise. Time is independent of the bytes, except on error.
 */
int		 jose_b64url_decode(const char *in, size_t inlen,
		    uint8_t **out, size_t *outlen);

/* ---- base64 (RFC 4648 §4, padded): x5c, sshpop, SSH keys, OCSP GET ---- */

/* The padded encoding of in[0..inlen), caller free(); NULL: no memory. */
char		*jose_b64_encode(const void *in, size_t inlen);

/*
 * Decodes s[0..n) strictly: padded, only [A-Za-z0-9+/], the bits the
 * padding leaves over zero (one text per byte string), at most max
 * bytes. 0 with *out (caller free()) and *outlen, or -1.
 */
int		 jose_b64_decode(const char *s, size_t n, size_t max,
		    uint8_t **out, size_t *outlen);

/* ---- JSON ---- */

/*
 * Parses buf[0..len) as one JSON object, refusing trailing data, NUL
 * bytes, over-long input and any object (at any depth) with two members
 * of the same name: cJSON keeps the first of a duplicate and Go keeps the
 * last, and a token must not mean one thing to us and another to step.
 * Returns the tree, caller cJSON_Delete() (or jose_jwk_free() if it may
 * be a private JWK), or NULL.
 */
cJSON		*jose_json_parse(const void *buf, size_t len);

/* ---- JWK (RFC 7517/7518) ---- */

#define JOSE_JWK_PRIVATE	0x01	/* include / require the private part */
#define JOSE_JWK_STEP		0x02	/* add use, alg and kid like step-cli */

/*
 * Returns the JWK of an EC P-256/P-384/P-521, RSA (two-prime) or Ed25519
 * key: kty, crv, x, y / n, e / crv, x; with JOSE_JWK_PRIVATE also d, and
 * for RSA d, p, q, dp, dq, qi. With JOSE_JWK_STEP also "use":"sig",
 * "alg" (jose_default_alg()) and "kid" (the thumbprint), which is what
 * `step crypto jwk create` writes and what step-ca expects to find in a
 * provisioner. Coordinates are padded to full length as RFC 7518
 * requires. Caller jose_jwk_free() (private) or cJSON_Delete() (public).
 */
cJSON		*jose_jwk_from_pkey(const EVP_PKEY *pk, int flags);

/*
 * Builds a key from a JWK object. Without JOSE_JWK_PRIVATE the result is
 * public only, whatever private members the JWK carries; with it the
 * private members are required (RSA dp, dq, qi may be absent and are
 * then derived). The key is checked before it is returned: EC points on
 * the curve, full-length coordinates, private and public halves matching,
 * RSA moduli of JOSE_RSA_MIN_BITS..JOSE_RSA_MAX_BITS and sane exponents.
 * Members other than the key material ("use", "kid", "alg", ...) are
 * ignored; deciding whether to trust them is the caller's business.
 * Caller EVP_PKEY_free().
 */
EVP_PKEY	*jose_jwk_to_pkey(const cJSON *jwk, int flags);

/*
 * RFC 7638 SHA-256 thumbprint of a public (or private) JWK, written to
 * out as JOSE_THUMBPRINT_LEN characters and a NUL. Only the required
 * members are hashed, exactly as they appear; the key is not otherwise
 * validated (use jose_jwk_to_pkey() for that).
 */
int		 jose_jwk_thumbprint(const cJSON *jwk,
		    char out[JOSE_THUMBPRINT_LEN + 1]);

/* The same for a key. */
int		 jose_pkey_thumbprint(const EVP_PKEY *pk,
		    char out[JOSE_THUMBPRINT_LEN + 1]);

/*
 * Wipes every string in a cJSON tree (a private JWK, a decrypted claim
 * set), then deletes it. NULL is fine.
 */
void		 jose_jwk_free(cJSON *jwk);

/*
 * The algorithm step-cli uses for a key: ES256/ES384/ES512 by curve,
 * EdDSA, RS256. NULL for an unsupported key. Static string.
 */
const char	*jose_default_alg(const EVP_PKEY *pk);

/*
 * JOSE_OK when JWS alg may be used with key pk: ESnnn only with its own
 * curve, RSnnn and PSnnn only with RSA of an accepted size, EdDSA only
 * with Ed25519. "none" and HSnnn are never accepted (JOSE_ERR_ALG).
 */
int		 jose_alg_fits_key(const char *alg, const EVP_PKEY *pk);

/* ---- JWE: PBES2-HS256+A128KW / A256GCM, compact ---- */

/*
 * Encrypts pt[0..ptlen) under a password, the way step-cli encrypts a
 * provisioner's private JWK: protected header
 *   {"alg":"PBES2-HS256+A128KW","cty":<cty>,"enc":"A256GCM",
 *    "p2c":<p2c>,"p2s":<16 random bytes>}
 * (cty omitted when NULL; it must be plain printable ASCII), a random
 * content key wrapped with AES-128-KW under PBKDF2-HMAC-SHA256, and
 * AES-256-GCM over the plaintext with the encoded header as AAD.
 * p2c must lie in JOSE_P2C_MIN..JOSE_P2C_MAX. Returns the compact
 * serialization, caller free(), or NULL.
 */
char		*jose_jwe_encrypt(const void *pw, size_t pwlen,
		    const char *cty, const void *pt, size_t ptlen,
		    uint32_t p2c);

/*
 * Decrypts a compact JWE made as above (by us, step-cli or any other
 * conforming implementation). Only alg PBES2-HS256+A128KW with enc
 * A256GCM is accepted; crit and zip are refused; p2c must lie in
 * JOSE_P2C_MIN..max_p2c (0 means JOSE_P2C_MAX, which is also the
 * ceiling). A wrong password and a tampered token both give
 * JOSE_ERR_VERIFY. On success *pt holds *ptlen bytes plus an uncounted
 * NUL; release it with jose_free_secret(*pt, *ptlen).
 */
int		 jose_jwe_decrypt(const char *compact, const void *pw,
		    size_t pwlen, uint32_t max_p2c, uint8_t **pt,
		    size_t *ptlen);

/*
 * Convenience for a provisioner's encryptedKey: the private JWK of pk
 * (with JOSE_JWK_STEP members), encrypted with cty "jwk+json". All
 * intermediate copies of the key are wiped. Caller free().
 */
char		*jose_jwe_encrypt_key(const void *pw, size_t pwlen,
		    const EVP_PKEY *pk, uint32_t p2c);

/*
 * The reverse: decrypts, parses the private JWK and builds the key,
 * wiping the plaintext. *pk is the caller's, EVP_PKEY_free().
 */
int		 jose_jwe_decrypt_key(const char *compact, const void *pw,
		    size_t pwlen, uint32_t max_p2c, EVP_PKEY **pk);

/* ---- JWS, compact ---- */

/*
 * Looks up the verification key for a parsed, not yet verified, header
 * (typically by "kid"; never trust an embedded "jwk", "jku" or "x5u").
 * Returns a key reference that jose_jws_verify() releases with
 * EVP_PKEY_free() (so up-ref a cached key), or NULL for "no such key".
 */
typedef EVP_PKEY *(*jose_key_lookup)(const cJSON *hdr, void *arg);

/*
 * Signs payload[0..len) with private key pk. alg is one of ES256,
 * ES384, ES512, RS256, RS384, RS512, PS256, PS384, PS512, EdDSA, and
 * must fit the key; NULL picks jose_default_alg(). extra, when not NULL,
 * is an object whose members (kid, typ, ...) are copied into the
 * protected header after alg; it may not hold alg, crit or b64. ECDSA
 * signatures are raw r||s as RFC 7518 §3.4 requires. Returns the compact
 * serialization, caller free(), or NULL (also when it would exceed
 * JOSE_MAX_COMPACT).
 */
char		*jose_jws_sign(EVP_PKEY *pk, const char *alg,
		    const cJSON *extra, const void *payload, size_t len);

/*
 * Verifies a compact JWS. The key is key when not NULL, else whatever
 * lookup(hdr, arg) returns. The header must be a JSON object with no
 * duplicate members and no crit; its alg must be one jose_jws_sign()
 * knows and must fit the key. On success, when wanted, *hdr is the
 * parsed header (cJSON_Delete()) and *payload the decoded payload of
 * *payloadlen bytes plus an uncounted NUL (free()). Nothing is returned
 * on failure.
 */
int		 jose_jws_verify(const char *compact, EVP_PKEY *key,
		    jose_key_lookup lookup, void *arg, cJSON **hdr,
		    uint8_t **payload, size_t *payloadlen);

/*
 * Splits and decodes a compact JWS without verifying it, applying every
 * check jose_jws_verify() makes that needs no key, so that the caller
 * can learn kid/iss before it picks a key. The payload must be a JSON
 * object (see jose_json_parse()). *hdr and *payload are the caller's,
 * cJSON_Delete(). Nothing returned here is authenticated.
 */
int		 jose_jws_parse_unverified(const char *compact, cJSON **hdr,
		    cJSON **payload);

#endif /* P11CA_JOSE_H */

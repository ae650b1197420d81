/*
 * p11.h — the PKCS#11 layer: one module, one token, one logged-in session,
 * a cache of key handles, and the recovery rule for a token that went away.
 *
 * It speaks the module's raw function list rather than libp11: the signer
 * must see the CKR_ code of each failure to decide whether to reopen and
 * retry, must C_Initialize in each forked worker, and signs pre-hashed data
 * with CKM_ECDSA; libp11 hides the first and routes signing through EVP
 * (docs/architecture.md, "Why the raw function list").
 */
#ifndef P11CA_P11_H
#define P11CA_P11_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define P11_MAX_KEYS	16
#define P11_MAX_ID	64
#define P11_ERRLEN	256

struct p11;

/* Which token to use: by label, by serial, or both. */
struct p11_token_sel {
	const char	*module;	/* path to the PKCS#11 module */
	const char	*label;		/* CKA token label, or NULL */
	const char	*serial;	/* token serial number, or NULL */
};

/* A private key found on the token, with its public half exported. */
struct p11_key {
	char		 label[64];
	uint8_t		 id[P11_MAX_ID];
	size_t		 idlen;
	int		 keytype;	/* KEYTYPE_* from hsm/proto.h */
	int		 bits;		/* RSA modulus size, EC field size */
	uint8_t		*spki;		/* SubjectPublicKeyInfo DER */
	size_t		 spkilen;
	unsigned long	 handle;	/* CK_OBJECT_HANDLE, valid per session */
};

/*
 * Loads the module, finds the token, opens a session and logs in with pin
 * (NULL: no login, public objects only). Errors name module, token and CKR.
 */
struct p11 *p11_open(const struct p11_token_sel *sel, const char *pin,
	    char *err, size_t errsz);
void	p11_close(struct p11 *p);

/*
 * Finds the private key by label and/or id (at least one), caches its
 * handle and public key, and returns a slot index for p11_sign.
 */
int	p11_key_add(struct p11 *p, const char *label, const uint8_t *id,
	    size_t idlen, char *err, size_t errsz);
const struct p11_key *p11_key_get(const struct p11 *p, int idx);

/*
 * Signs in with the given CK_MECHANISM_TYPE (with PSS parameters taken from
 * pss_hash when it is a PSS mechanism: the CKM_ of the hash, else 0).
 * On a token-gone CKR the session is reopened, login redone, handles
 * refound, and the call retried once. *outlen is in/out.
 */
int	p11_sign(struct p11 *p, int idx, unsigned long mech,
	    unsigned long pss_hash, const uint8_t *in, size_t inlen,
	    uint8_t *out, size_t *outlen, char *err, size_t errsz);

/* Key generation and token set-up, for the operator's CLI (p11_admin.c). */
enum p11_keyalg {
	P11_EC_P256 = 1, P11_EC_P384, P11_RSA2048, P11_RSA3072, P11_RSA4096,
	P11_ED25519,
};
int	p11_keyalg_from_name(const char *name);
const char *p11_keyalg_name(int alg);
int	p11_generate(struct p11 *p, int alg, const char *label,
	    const uint8_t *id, size_t idlen, char *err, size_t errsz);
int	p11_init_token(const char *module, const char *label,
	    const char *so_pin, const char *user_pin, char *err, size_t errsz);
/* Prints slots, tokens and objects with pkcs11: URIs. */
int	p11_list(const char *module, const char *pin, FILE *out, char *err,
	    size_t errsz);

/* Shared by p11.c and p11_admin.c; not for other modules. */
struct p11 *p11_load(const char *module, char *err, size_t errsz);
const char *p11_rv_name(unsigned long rv);
void	*p11_funcs(struct p11 *p);
unsigned long p11_session(struct p11 *p);
int	p11_spki(void *funcs, unsigned long sess, unsigned long pubobj,
	    struct p11_key *k, char *err, size_t errsz);

#endif

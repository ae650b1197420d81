/*
 * ssh.h — OpenSSH wire formats: public keys (RFC 4253 6.6, RFC 5656,
 * RFC 8709), certificates (PROTOCOL.certkeys) and key revocation lists
 * (PROTOCOL.krl). Pure functions: no I/O, no globals, thread-safe.
 *
 * Parsers are strict, since certificates reach them from the network
 * (SSHPOP tokens carry one): every field has one reading, lengths are
 * exact, integers minimal, nothing trails, and what OpenSSH or step-ca
 * (Go's x/crypto/ssh) would refuse is refused here too. Keys are
 * ecdsa-sha2-nistp256/384/521 (uncompressed points on the curve),
 * ssh-ed25519 and ssh-rsa (2048 to 16384 bits, odd exponent of at most
 * 24 bits, as x/crypto/ssh takes). Nothing else: no DSA, no security-key
 * (sk-*) types.
 *
 * Memory: structures filled by a parser own what they point to and are
 * released with ssh_key_free() / ssh_cert_free(), which are safe on a
 * zeroed structure and on one a parser refused (parsers leave it zeroed).
 * Encoders append to a struct pbuf (hsm/proto.h) and on failure leave it
 * as they found it.
 *
 * Errors: 0 on success, -1 on failure; when why is not NULL it then
 * holds a short English reason that names the field, never echoes input.
 * OpenSSL's error queue is left as it was.
 */
#ifndef P11CA_SSH_H
#define P11CA_SSH_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "hsm/proto.h"

#define SSH_NONCE_LEN		32	/* what the encoder writes */
/* OpenSSH's SSHKEY_CERT_MAX_PRINCIPALS */
#define SSH_MAX_PRINCIPALS	256
#define SSH_MAX_OPTIONS		64	/* critical options, or extensions */
#define SSH_MAX_BLOB		65536	/* largest key or certificate blob */
#define SSH_RSA_MIN_BITS	2048
#define SSH_RSA_MAX_BITS	16384	/* OpenSSH's SSHBUF_MAX_BIGNUM */
/* "SHA256:" and 43 characters of unpadded base64, and the NUL. */
#define SSH_FP_SIZE		51

#define SSH_CERT_USER		1
#define SSH_CERT_HOST		2

#define SSH_VALID_FOREVER	UINT64_MAX

/* ---- public keys ---- */

struct ssh_key {
	int		 keytype;	/* KEYTYPE_* of hsm/proto.h */
	int		 bits;		/* RSA: the modulus's, else the curve's */
	const char	*name;		/* "ecdsa-sha2-nistp256"...; static */
	uint8_t		*blob;		/* wire form: string name, fields */
	size_t		 bloblen;
	EVP_PKEY	*pkey;		/* the same key, for OpenSSL */
	char		*comment;	/* from text; NULL when none */
};

/*
 * A key from its wire blob (string type, then the type's fields), as
 * step-ca's /ssh/sign carries it in base64.
 */
int	ssh_key_from_blob(const uint8_t *p, size_t n, struct ssh_key *k,
	    char *why, size_t whysz);
/*
 * A key from one line of a .pub or authorized_keys file, "type base64"
 * and optionally whitespace and a comment, then at most one "\n" or
 * "\r\n"; leading key options (authorized_keys' from= etc.) are not
 * taken. The base64 is standard and padded; its type must be the line's.
 */
int	ssh_key_from_text(const char *s, size_t n, struct ssh_key *k,
	    char *why, size_t whysz);
/*
 * A key from OpenSSL, e.g. a token key's SubjectPublicKeyInfo read with
 * d2i_PUBKEY(): its blob built (EC points uncompressed) and then taken
 * as ssh_key_from_blob() takes it, so the same types and sizes only.
 */
int	ssh_key_from_pkey(EVP_PKEY *pk, struct ssh_key *k, char *why,
	    size_t whysz);
void	ssh_key_free(struct ssh_key *k);

/* OpenSSH's "SHA256:..." fingerprint of a key blob (ssh-keygen -l). */
int	ssh_fingerprint(const uint8_t *blob, size_t n, char out[SSH_FP_SIZE]);

/*
 * Appends "type base64" (and " comment" when comment is not NULL or "")
 * and "\n" for a key or certificate blob, whose first string is the
 * type: the form of .pub files and of ssh-keygen's -cert.pub.
 */
int	ssh_to_text(const uint8_t *blob, size_t n, const char *comment,
	    struct pbuf *out);

/*
 * The ALG_* of hsm/proto.h to ask the signer for with a CA key of this
 * type: the hash follows the curve (RFC 5656 6.2.1), RSA uses SHA-512
 * (rsa-sha2-512; OpenSSH 9.2 refuses SHA-1), Ed25519 has its own. -1
 * for a key that is not one of ours.
 */
int	ssh_sign_alg(const struct ssh_key *ca);

/* ---- certificates ---- */

/* A critical option or extension to encode. */
struct ssh_option_in {
	const char	*name;
	const char	*value;	/* NULL: a flag (empty data); else string */
};

struct ssh_cert_req {
	const struct ssh_key	*key;		/* the key to certify */
	const uint8_t		*nonce;		/* SSH_NONCE_LEN random bytes */
	uint64_t		 serial;
	uint32_t		 type;		/* SSH_CERT_USER or _HOST */
	const char		*key_id;
	const char *const	*principals;	/* at least one */
	size_t			 nprincipals;
	uint64_t		 valid_after;	/* seconds since the epoch */
	uint64_t		 valid_before;	/* or SSH_VALID_FOREVER */
	const struct ssh_option_in *critical;	/* any order; sorted here */
	size_t			 ncritical;
	/*
	 * NULL: the defaults, which for a user certificate are the five
	 * permit-* extensions ssh-keygen gives (X11, agent and port
	 * forwarding, pty, user-rc) and for a host certificate none. A
	 * non-NULL array with nextensions 0 means none at all.
	 */
	const struct ssh_option_in *extensions;
	size_t			 nextensions;
	const struct ssh_key	*ca;		/* the signature key */
};

/*
 * Appends the certificate body, everything the CA signs (up to, not
 * including, the signature), to out: what the signer's KIND_SSH_CERT
 * takes. Options and extensions are written sorted by name, as
 * PROTOCOL.certkeys requires; a name given twice is refused. So are
 * an empty principal list (OpenSSH would take it as "any principal"),
 * more than SSH_MAX_PRINCIPALS, an empty principal, valid_after not
 * before valid_before, and a type that is neither user nor host.
 */
int	ssh_cert_body(const struct ssh_cert_req *r, struct pbuf *out,
	    char *why, size_t whysz);

/*
 * Turns the body in b into the whole certificate by appending
 * string(sig), sig being the signer's SSH signature blob (string
 * algorithm, string signature). The blob must be well formed and its
 * algorithm be the one ssh_sign_alg() asks for with ca: the curve's
 * ecdsa-sha2-*, ssh-ed25519 (64 bytes) or rsa-sha2-512.
 */
int	ssh_cert_finish(struct pbuf *b, const struct ssh_key *ca,
	    const uint8_t *sig, size_t siglen, char *why, size_t whysz);

/* A critical option or extension as parsed: data aliases ssh_cert.raw. */
struct ssh_option {
	char		*name;
	const uint8_t	*data;		/* as it stands; for OpenSSH's own */
	size_t		 datalen;	/* options empty or string(value) */
};

struct ssh_cert {
	uint8_t		*raw;		/* the whole certificate blob */
	size_t		 rawlen;
	size_t		 bodylen;	/* raw[0..bodylen) is what was signed */
	const char	*name;		/* "...-cert-v01@openssh.com"; static */
	struct ssh_key	 key;		/* the certified key, as a plain key */
	const uint8_t	*nonce;		/* aliases raw; 16 to 64 bytes */
	size_t		 noncelen;
	uint64_t	 serial;
	uint32_t	 type;		/* SSH_CERT_USER or _HOST */
	char		*key_id;
	char		**principals;	/* none: any principal, to OpenSSH */
	size_t		 nprincipals;
	uint64_t	 valid_after;
	uint64_t	 valid_before;
	struct ssh_option *critical;	/* sorted, names unique */
	size_t		 ncritical;
	struct ssh_option *extensions;	/* sorted, names unique */
	size_t		 nextensions;
	struct ssh_key	 ca;		/* the signature key, checked */
	const uint8_t	*sig;		/* the signature blob; aliases raw */
	size_t		 siglen;
	const char	*sigalg;	/* its algorithm's name; static */
	char		*comment;	/* from text; NULL when none */
};

/*
 * A certificate from its wire blob, every field checked, the signature
 * blob's form and algorithm checked against the signature key, but the
 * signature itself not verified: see ssh_cert_verify(). Beyond what
 * OpenSSH checks: key ids, principals and option names hold no NUL
 * (OpenSSH reads them as C strings), principals are not empty, there
 * are at most SSH_MAX_OPTIONS options of each kind, valid_after is
 * before valid_before, the reserved field is empty and an RSA signature
 * is exactly as long as the modulus (OpenSSH pads shorter ones).
 */
int	ssh_cert_from_blob(const uint8_t *p, size_t n, struct ssh_cert *c,
	    char *why, size_t whysz);
/* The same from "type base64 [comment]", as ssh_key_from_text(). */
int	ssh_cert_from_text(const char *s, size_t n, struct ssh_cert *c,
	    char *why, size_t whysz);
void	ssh_cert_free(struct ssh_cert *c);

/*
 * Verifies c's signature over its body with its own signature key
 * (ecdsa-sha2-*, ssh-ed25519, rsa-sha2-256 or rsa-sha2-512). This says
 * only that the certificate is intact: whether c->ca.blob is a CA to
 * trust is the caller's to decide, by comparing it with the CA keys it
 * knows, and so are its type and validity (ssh_cert_valid_at()).
 */
int	ssh_cert_verify(const struct ssh_cert *c, char *why, size_t whysz);

/* 0 when valid_after <= now < valid_before (OpenSSH's test), else -1. */
int	ssh_cert_valid_at(const struct ssh_cert *c, uint64_t now);

/* ---- key revocation lists ---- */

/* The serials revoked for one CA. */
struct ssh_krl_ca {
	const uint8_t	*ca;		/* CA key blob; calen 0: any CA */
	size_t		 calen;
	const uint64_t	*serials;	/* any order, repeats fine; not 0 */
	size_t		 nserials;
};

struct ssh_krl {
	uint64_t		 version;	/* krl_version, increasing */
	uint64_t		 generated;	/* generated_date, Unix time */
	const char		*comment;	/* NULL: empty */
	const struct ssh_krl_ca	*cas;
	size_t			 ncas;
};

/*
 * Appends an unsigned KRL (PROTOCOL.krl, format version 1): the header,
 * then one KRL_SECTION_CERTIFICATES per CA, its serials sorted, runs of
 * three or more as KRL_SECTION_CERT_SERIAL_RANGE, the rest in one
 * KRL_SECTION_CERT_SERIAL_LIST. For sshd's RevokedKeys and ssh-keygen -Q.
 */
int	ssh_krl_encode(const struct ssh_krl *k, struct pbuf *out, char *why,
	    size_t whysz);

#endif

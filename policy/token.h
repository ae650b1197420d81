/*
 * token.h — step-compatible one-time tokens (JWS compact, JWK
 * provisioners): verification and the claims the issuing path uses.
 *
 * Order (docs/decisions.md): parse without trusting; find the provisioner
 * by iss + header kid; verify the signature with its key; only then check
 * audience, times, sub, sans, sha. The jti is NOT recorded here: the
 * caller reserves it in the store after this returns 0, so a forged token
 * can never burn a genuine one's jti (step-ca records it first).
 */
#ifndef P11CA_TOKEN_H
#define P11CA_TOKEN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/x509.h>

#include "policy/provisioner.h"

#define TOKEN_LEEWAY		60	/* seconds, as go-jose's default */
#define TOKEN_MAX_SANS		64

/* Which endpoint a token is for: the last path element of its aud. */
enum token_aud {
	AUD_SIGN = 1,		/* /1.0/sign or /sign (and ssh/sign, as step) */
	AUD_REVOKE,
	AUD_RENEW,
	AUD_REKEY,
	AUD_SSH_SIGN,
	AUD_SSH_REVOKE,
	AUD_SSH_RENEW,
	AUD_SSH_REKEY,
};

struct token {
	const struct provisioner *prov;
	char	 sub[256];
	char	 iss[256];
	char	 jti[256];	/* the claim, or hex SHA-256 of the token */
	char	*sans[TOKEN_MAX_SANS];	/* malloc'ed; [sub] when absent */
	int	 nsans;
	char	 cnf[64];	/* cnf."x5rt#S256" when present, else "" */
	time_t	 nbf, iat, exp;	/* 0 when absent (exp never is) */
	cJSON	*step;		/* the "step" claim (ssh, ...), or NULL */
};

struct token_policy {
	const struct provisioner *provs;
	int		 nprovs;
	const char *const *dns;		/* the CA's dnsNames */
	int		 ndns;
	const uint8_t	*root_fp;	/* SHA-256 of the root, 32 bytes */
	long		 max_lifetime;	/* exp - (nbf or iat), default 3600 */
	time_t		 now;
	time_t		 started;	/* the CA's start: earlier iat refused
					   (as step-ca); 0: no such check */
	X509		*issuer;	/* x5c tokens: the issuing CA */
};

/*
 * Returns 0 and fills t when the token is valid for aud, or -1 with a
 * short reason in why (for the log: clients get step-ca's generic 401).
 */
int	token_verify(const char *compact, enum token_aud aud,
	    const struct token_policy *pol, struct token *t, char *why,
	    size_t whysz);
void	token_free(struct token *t);

/*
 * A token signed by the key of a certificate this CA issued, carried in
 * its header (x5cInsecure, as step clients send for /renew, or x5c; leaf
 * first, base64 DER): iss is not a provisioner, so t->prov is NULL and
 * the caller finds the provisioner from the certificate. The leaf must be
 * signed by pol->issuer; with x5c it must also be valid now (x5cInsecure
 * leaves its expiry to the caller, for allowRenewalAfterExpiry). sub must
 * be the leaf's common name. Returns 0 with *leaf (X509_free it) or -1.
 */
int	token_verify_x5c(const char *compact, enum token_aud aud,
	    const struct token_policy *pol, struct token *t, X509 **leaf,
	    char *why, size_t whysz);

/*
 * A token signed by the key of an SSH certificate this CA issued, carried
 * in its "sshpop" header (standard base64 of the wire blob), iss naming
 * an SSHPOP provisioner: /ssh/renew, /ssh/rekey, /ssh/revoke. The
 * certificate must verify, be signed by the CA key for its type (cas[0]
 * the user key, cas[1] the host key; NULL when there is none) and be
 * valid now. Returns 0 with *cert filled (ssh_cert_free
 * it) and t->prov the SSHPOP provisioner, or -1.
 */
struct ssh_key;
struct ssh_cert;
int	token_verify_sshpop(const char *compact, enum token_aud aud,
	    const struct token_policy *pol, const struct ssh_key *const *cas,
	    int ncas, struct token *t, struct ssh_cert *cert, char *why,
	    size_t whysz);

#endif

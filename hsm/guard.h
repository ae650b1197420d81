/*
 * guard.h — what each signer key may sign, decided by parsing the payload
 * itself, never by trusting what the requester says it is. A compromised
 * front end can ask for bad leaves; it must never obtain a CA certificate,
 * a CRL or OCSP answer in another issuer's name, or an SSH certificate
 * naming a different signature key.
 */
#ifndef P11CA_GUARD_H
#define P11CA_GUARD_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum guard_role {
	ROLE_ROOT = 1,		/* signs CA certificates and CRLs, ceremony only */
	ROLE_ISSUING = 2,	/* end-entity certificates, CRLs, OCSP */
	ROLE_SSH = 3,		/* SSH certificate bodies only */
	ROLE_OCSP = 4,		/* a delegated OCSP responder: OCSP only */
};

/* Everything a guard knows about the key it protects. */
struct guard_key {
	enum guard_role	 role;
	int		 ceremony;	/* signer started in ceremony mode */
	/* The key's own certificate, when it has one (X.509 roles). */
	const uint8_t	*subject;	/* DER Name, exact bytes */
	size_t		 subjectlen;
	time_t		 not_before;
	time_t		 not_after;
	/* The key's own public key: SubjectPublicKeyInfo DER. */
	const uint8_t	*spki;
	size_t		 spkilen;
	/* SSH role: the public key in SSH wire form (string type, ...). */
	const uint8_t	*sshpub;
	size_t		 sshpublen;
	/*
	 * Issuing role: the SPKI of the signer's own ocsp-role key, the one
	 * key an id-kp-OCSPSigning certificate may be for; NULL: none may.
	 */
	const uint8_t	*ocsp_spki;
	size_t		 ocsp_spkilen;
};

/* What the guard learned, for the audit record. */
struct guard_info {
	char	serial[80];	/* hex, or "" when none was parsed */
	char	subject[256];	/* RFC 4514-like, or SSH key id */
	char	reason[160];	/* why a payload was refused */
};

/*
 * Returns 0 when key k may sign payload p of the given kind with alg, and
 * -1 with info->reason set when not. Fills serial and subject whenever it
 * got far enough to parse them, allowed or not.
 */
int	guard_check(const struct guard_key *k, uint8_t kind, uint8_t alg,
	    const uint8_t *p, size_t n, struct guard_info *info);

#endif

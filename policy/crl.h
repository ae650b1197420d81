/*
 * crl.h — encode a TBSCertList (RFC 5280 5.1) from pre-encoded pieces, as
 * tbs.h does a TBSCertificate, and wrap it with the signer's signature
 * into a CertificateList; and the two extensions that tell relying parties
 * where revocation is published (CRL distribution points, authority
 * information access), for tbs_profile.extra of the certificates issued.
 *
 * What crl_encode() writes is what the signer's guard for KIND_CRL_TBS
 * reads (hsm/guard.c): v2, the signature AlgorithmIdentifier of the
 * requested algorithm, the issuer's Name byte for byte.
 */
#ifndef P11CA_CRL_H
#define P11CA_CRL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "hsm/proto.h"

/* CRLReason (RFC 5280 5.3.1); 7 is not used. Also OCSP's (ocsp.h). */
enum crl_reason {
	REASON_UNSPECIFIED = 0,
	REASON_KEY_COMPROMISE = 1,
	REASON_CA_COMPROMISE = 2,
	REASON_AFFILIATION_CHANGED = 3,
	REASON_SUPERSEDED = 4,
	REASON_CESSATION_OF_OPERATION = 5,
	REASON_CERTIFICATE_HOLD = 6,
	REASON_REMOVE_FROM_CRL = 8,
	REASON_PRIVILEGE_WITHDRAWN = 9,
	REASON_AA_COMPROMISE = 10,
};

/* One revokedCertificates entry. */
struct crl_entry {
	const uint8_t	*serial;	/* big-endian magnitude, no sign */
	size_t		 seriallen;	/* 1..20 octets once leading 0s go */
	time_t		 revoked_at;
	int		 reason;	/* REASON_*; unspecified: not written */
};

struct crl_profile {
	uint8_t		 alg;		/* ALG_* of the issuer's signature */
	const uint8_t	*issuer;	/* DER Name, the issuer's subject */
	size_t		 issuerlen;
	const uint8_t	*issuer_spki;	/* its SubjectPublicKeyInfo, for AKI */
	size_t		 issuer_spkilen;
	time_t		 this_update;
	time_t		 next_update;	/* not before this_update */
	uint64_t	 number;	/* cRLNumber, increasing */
	const struct crl_entry *entries; /* in the order given; may be none */
	size_t		 nentries;
	const char	*idp;		/* issuingDistributionPoint URL, or
					   NULL for none */
};

/*
 * Appends the TBSCertList DER to out: version v2, signature, issuer,
 * thisUpdate, nextUpdate, revokedCertificates (absent when there are no
 * entries), crlExtensions authorityKeyIdentifier and cRLNumber. -1 on a
 * profile that cannot be encoded (unknown alg, an issuer that is not one
 * SEQUENCE, reason 7 or above 10, an empty or over-long serial,
 * nextUpdate before thisUpdate, a malformed SPKI) or when memory runs
 * out; out then holds a partial value.
 */
int	crl_encode(const struct crl_profile *pr, struct pbuf *out);

/*
 * CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm,
 * signatureValue BIT STRING }: sig as the signer returns it (DER
 * ECDSA-Sig-Value, raw RSA or Ed25519).
 */
int	crl_certlist(const uint8_t *tbs, size_t tbslen, uint8_t alg,
	    const uint8_t *sig, size_t siglen, struct pbuf *out);

/*
 * Append whole Extension DERs for tbs_profile.extra, both non-critical.
 * cRLDistributionPoints: one DistributionPoint whose fullName is the n
 * URLs (n >= 1). authorityInfoAccess: id-ad-ocsp for ocsp, then
 * id-ad-caIssuers for ca_issuers, either NULL when not published, not
 * both. URLs must be non-empty printable ASCII (IA5String); -1 otherwise.
 */
int	crl_ext_dp(struct pbuf *b, const char *const *urls, int n);
int	crl_ext_aia(struct pbuf *b, const char *ca_issuers, const char *ocsp);

#endif

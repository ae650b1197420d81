/*
 * tbs.h — encode a TBSCertificate from a profile of pre-encoded pieces
 * (names, public key, extensions) without OpenSSL's X.509 objects, and wrap
 * a TBS and the signer's signature into a Certificate. OpenSSL's high-level
 * X.509 calls cost about ten times the HSM signature (docs/architecture.md).
 */
#ifndef P11CA_TBS_H
#define P11CA_TBS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "hsm/proto.h"

/*
 * keyUsage bits (RFC 5280 4.2.1.3), as bit numbers; TBS_ because
 * OpenSSL's x509v3.h has KU_* of other values.
 */
#define TBS_KU_DIGITAL_SIGNATURE	(1u << 0)
#define TBS_KU_KEY_ENCIPHERMENT	(1u << 2)
#define TBS_KU_KEY_CERT_SIGN	(1u << 5)
#define TBS_KU_CRL_SIGN		(1u << 6)

struct tbs_profile {
	const uint8_t	*serial;	/* big-endian magnitude, no sign */
	size_t		 seriallen;
	uint8_t		 alg;		/* ALG_* of the issuer's signature */
	const uint8_t	*issuer;	/* DER Name */
	size_t		 issuerlen;
	time_t		 not_before, not_after;
	const uint8_t	*subject;	/* DER Name */
	size_t		 subjectlen;
	const uint8_t	*spki;		/* SubjectPublicKeyInfo DER */
	size_t		 spkilen;
	int		 ca;		/* basicConstraints CA:TRUE (critical) */
	int		 pathlen;	/* -1: none */
	unsigned	 keyusage;	/* TBS_KU_* bits; 0: no extension */
	const uint8_t	*aki_spki;	/* issuer's SPKI for the AKI; NULL: none */
	size_t		 aki_spkilen;
	const uint8_t	*aki_id;	/* or its key id (20 bytes), if known */
	const uint8_t	*extra;		/* more Extension DERs, concatenated */
	size_t		 extralen;
};

/* DER writing on a pbuf: a TLV, or a constructed value closed later. */
int	der_put(struct pbuf *b, uint8_t tag, const void *p, size_t n);
size_t	der_open(struct pbuf *b, uint8_t tag);
int	der_close(struct pbuf *b, size_t mark);
int	der_put_time(struct pbuf *b, time_t t);
int	der_put_uint(struct pbuf *b, const uint8_t *p, size_t n);

/* extKeyUsage bits. */
#define EKU_SERVER_AUTH		(1u << 0)
#define EKU_CLIENT_AUTH		(1u << 1)

/*
 * Appends whole Extension DERs for tbs_profile.extra: subjectAltName from
 * names (each a DNS name, an IPv4/IPv6 literal, an email or a URI, told
 * apart as step-ca does), extKeyUsage from EKU_* bits.
 */
int	tbs_ext_san(struct pbuf *b, const char *const *names, int n);
/* How a SAN string is read, as step-ca's SplitSANs: SAN_* of csr.h. */
int	tbs_san_type(const char *name);
int	tbs_ext_eku(struct pbuf *b, unsigned eku);

/* The ALG_* p11ca signs with for a key of a KEYTYPE_* (hsm/proto.h). */
uint8_t	tbs_alg_for(int keytype);
/* The AlgorithmIdentifier DER of a signature algorithm. */
int	tbs_algid(uint8_t alg, const uint8_t **der, size_t *len);
/* SHA-1 of the subjectPublicKey bits (RFC 5280 key identifier method 1). */
int	tbs_key_id(const uint8_t *spki, size_t spkilen, uint8_t out[20]);

int	tbs_encode(const struct tbs_profile *pr, struct pbuf *out);

/*
 * What renewal and rekey keep of a certificate (pointers into its DER):
 * issuer, validity, subject, public key, and extra, a copy of every
 * extension but the subject and authority key identifiers (tbs_encode
 * makes those again). Free extra with pbuf_free. Old certificates from
 * other encoders without extensions are refused.
 */
struct tbs_parts {
	const uint8_t	*issuer, *subject, *spki;
	size_t		 issuerlen, subjectlen, spkilen;
	time_t		 not_before, not_after;
	struct pbuf	 extra;
};
int	tbs_parts(const uint8_t *cert, size_t n, struct tbs_parts *o);
/* Certificate ::= SEQUENCE { tbs, algorithm, BIT STRING signature }. */
int	tbs_certificate(const uint8_t *tbs, size_t tbslen, uint8_t alg,
	    const uint8_t *sig, size_t siglen, struct pbuf *out);

#endif

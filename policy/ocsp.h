/*
 * ocsp.h — OCSP (RFC 6960) without OpenSSL's OCSP objects: a strict reader
 * for the requests anyone may send, and encoders for the ResponseData the
 * signer signs (its guard for KIND_OCSP_TBS reads exactly this shape,
 * hsm/guard.c) and the OCSPResponse that carries it or an error.
 *
 * The reader never allocates and never keeps a pointer outside the bytes
 * it is given; what it returns aliases them. Each CertID is handed back
 * as its DER too, so that the answer names the certificate with the very
 * bytes the client asked with, whatever hash it chose.
 */
#ifndef P11CA_OCSP_H
#define P11CA_OCSP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "hsm/proto.h"
#include "policy/crl.h"		/* REASON_*, shared with CRLs */

#define OCSP_MAX_REQUESTS	16	/* CertIDs in one request */
#define OCSP_MAX_NONCE		32	/* octets (RFC 8954) */

/* The hash algorithms a CertID may name. */
enum ocsp_hash {
	OCSP_HASH_SHA1 = 1,
	OCSP_HASH_SHA256 = 2,
	OCSP_HASH_SHA384 = 3,
	OCSP_HASH_SHA512 = 4,
};

/* One CertID of a request; pointers alias the request's DER. */
struct ocsp_certid {
	const uint8_t	*raw;		/* the whole CertID DER, to echo */
	size_t		 rawlen;
	int		 hash;		/* OCSP_HASH_* */
	const uint8_t	*name_hash;	/* issuerNameHash */
	const uint8_t	*key_hash;	/* issuerKeyHash */
	size_t		 hashlen;	/* of both: the hash's output size */
	const uint8_t	*serial;	/* big-endian magnitude, no 00 first */
	size_t		 seriallen;	/* 1..20 */
};

struct ocsp_request {
	struct ocsp_certid	 ids[OCSP_MAX_REQUESTS];
	size_t			 nids;		/* 1..OCSP_MAX_REQUESTS */
	/*
	 * The nonce extension's extnValue contents (a DER OCTET STRING of
	 * 1..OCSP_MAX_NONCE octets), to echo as they are; NULL when none.
	 */
	const uint8_t		*nonce;
	size_t			 noncelen;
	int			 has_signature;	/* accepted, not checked */
};

/*
 * Parses an OCSPRequest DER strictly: tbsRequest with version v1 if
 * present, requestorName (accepted, ignored), 1..OCSP_MAX_REQUESTS
 * Requests whose CertID names SHA-1, -256, -384 or -512 (parameters NULL
 * or absent) with hashes of that size and a non-negative serial of at
 * most 20 octets, singleRequestExtensions and requestExtensions (the
 * nonce read, others ignored unless critical), and optionalSignature
 * (accepted, not verified). 0 and *r filled, or -1 with why set and *r
 * zeroed: the answer is then malformedRequest.
 */
int	ocsp_request_parse(const uint8_t *der, size_t len,
	    struct ocsp_request *r, char *why, size_t whysz);

/*
 * 1 when id names the issuer whose subject is the DER Name name and
 * whose public key is the SubjectPublicKeyInfo DER spki (the hash of the
 * Name's DER, and of the subjectPublicKey BIT STRING's contents without
 * its unused-bits octet, both with id's algorithm); 0 when not; -1 when
 * spki is malformed or hashing fails.
 */
int	ocsp_certid_issuer(const struct ocsp_certid *id, const uint8_t *name,
	    size_t namelen, const uint8_t *spki, size_t spkilen);

/* CertStatus */
enum ocsp_cert_status {
	OCSP_GOOD = 0,
	OCSP_REVOKED = 1,
	OCSP_UNKNOWN = 2,
};

/* One SingleResponse. Times are written as GeneralizedTime. */
struct ocsp_single {
	const uint8_t	*certid;	/* CertID DER: ocsp_certid.raw */
	size_t		 certidlen;
	int		 status;	/* OCSP_GOOD, _REVOKED, _UNKNOWN */
	time_t		 revoked_at;	/* OCSP_REVOKED: revocationTime */
	int		 reason;	/* OCSP_REVOKED: REASON_*; unspecified
					   is left out, as on the CRL */
	time_t		 this_update;
	time_t		 next_update;	/* 0: none */
};

struct ocsp_respdata {
	/*
	 * responderID: byKey, the SHA-1 of responder_spki's subjectPublicKey,
	 * when responder_spki is set; else byName, responder_name.
	 */
	const uint8_t	*responder_spki;
	size_t		 responder_spkilen;
	const uint8_t	*responder_name;
	size_t		 responder_namelen;
	time_t		 produced_at;
	const struct ocsp_single *responses;	/* at least one */
	size_t		 nresponses;
	const uint8_t	*nonce;		/* ocsp_request.nonce; NULL: none */
	size_t		 noncelen;
};

/*
 * Appends the ResponseData DER to out (version left at its default v1;
 * the nonce, when given, echoed in responseExtensions). -1 on what cannot
 * be encoded (a certid that is not one SEQUENCE, an unknown status or
 * reason, a time outside years 0-9999, a nextUpdate before thisUpdate,
 * no responder, no responses, a malformed SPKI) or when memory runs out;
 * out then holds a partial value.
 */
int	ocsp_encode(const struct ocsp_respdata *rd, struct pbuf *out);

/*
 * OCSPResponse ::= SEQUENCE { successful, [0] ResponseBytes {
 * id-pkix-ocsp-basic, OCTET STRING BasicOCSPResponse { tbs, alg, BIT
 * STRING sig, [0] certs } } }. sig is as the signer returns it; certs are
 * whole Certificate DERs, concatenated, for a delegated responder (NULL,
 * 0: the certs field is left out).
 */
int	ocsp_response(const uint8_t *tbs, size_t tbslen, uint8_t alg,
	    const uint8_t *sig, size_t siglen, const uint8_t *certs,
	    size_t certslen, struct pbuf *out);

/* OCSPResponseStatus */
enum ocsp_resp_status {
	OCSP_SUCCESSFUL = 0,
	OCSP_MALFORMED_REQUEST = 1,
	OCSP_INTERNAL_ERROR = 2,
	OCSP_TRY_LATER = 3,
	OCSP_SIG_REQUIRED = 5,
	OCSP_UNAUTHORIZED = 6,
};

/* An OCSPResponse with an error status and no responseBytes. */
int	ocsp_error(int status, struct pbuf *out);

#endif

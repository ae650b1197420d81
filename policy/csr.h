/*
 * csr.h — a PKCS#10 certificate request read by walking its DER, not by
 * building OpenSSL X509_REQ objects (d2i_X509_REQ alone costs more than
 * the HSM signature). The request's SubjectPublicKeyInfo bytes are what
 * the certificate will carry, unchanged.
 */
#ifndef P11CA_CSR_H
#define P11CA_CSR_H

#include <stddef.h>
#include <stdint.h>

#define CSR_MAX_SANS	64

enum san_type { SAN_DNS = 1, SAN_IP, SAN_EMAIL, SAN_URI };

struct csr_san {
	enum san_type	 type;
	char		 value[256];	/* IPs in their text form */
};

struct csr {
	const uint8_t	*spki;		/* aliases the DER given to csr_parse */
	size_t		 spkilen;
	int		 keytype;	/* KEYTYPE_* of hsm/proto.h */
	int		 bits;		/* RSA modulus size */
	char		 cn[256];	/* subject commonName, or "" */
	struct csr_san	 sans[CSR_MAX_SANS];
	int		 nsans;
	uint8_t		 fp[32];	/* SHA-256 of the whole DER (cnf) */
};

/*
 * Empties c: no key, no CN, no SANs, as csr_parse leaves it on failure.
 * c is some 17 KB, nearly all of it sans, which only nsans makes valid:
 * this writes the rest only.
 */
void	csr_clear(struct csr *c);

/* PEM "CERTIFICATE REQUEST" (or "NEW CERTIFICATE REQUEST") to DER. */
int	csr_pem_to_der(const char *pem, uint8_t **der, size_t *len);

/*
 * Parses der strictly, checks its self-signature and the key policy (RSA
 * at least 2048 bits; ECDSA P-256/384/521; Ed25519). -1 with why set.
 */
int	csr_parse(const uint8_t *der, size_t len, struct csr *c, char *why,
	    size_t whysz);

#endif

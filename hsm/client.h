/*
 * client.h — a blocking client of p11ca-signer, for the operator's CLI and
 * for tests and benchmarks. The front end drives the same frames
 * (hsm/proto.h) from its event loop instead and does not use this.
 */
#ifndef P11CA_CLIENT_H
#define P11CA_CLIENT_H

#include <stddef.h>
#include <stdint.h>

struct signer_client;

struct signer_client *signer_connect(const char *path, char *err,
	    size_t errsz);
void	signer_close(struct signer_client *sc);

/*
 * Each returns 0, or -1 with err set; *status (when not NULL) receives the
 * signer's PROTO_E_* code, or PROTO_E_INTERNAL for a transport failure.
 * Returned buffers are the caller's to free().
 */
int	signer_ping(struct signer_client *sc, int *ceremony, int *nkeys,
	    char *err, size_t errsz);
int	signer_public_key(struct signer_client *sc, const char *key,
	    int *keytype, uint8_t **spki, size_t *spkilen, uint16_t *status,
	    char *err, size_t errsz);
int	signer_sign(struct signer_client *sc, const char *key, uint8_t kind,
	    uint8_t alg, const uint8_t *p, size_t n, uint8_t **sig,
	    size_t *siglen, uint16_t *status, char *err, size_t errsz);

/* Tries to connect and PING until the signer answers or timeout_ms passes. */
int	signer_wait(const char *path, int timeout_ms, char *err, size_t errsz);

#endif

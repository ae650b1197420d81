/*
 * digest.h — the SHA digests, fetched from OpenSSL once per process.
 *
 * OpenSSL 3 resolves EVP_sha256(), EVP_get_digestbyname() and a digest
 * named in an init by name on every use, a lookup that costs more than
 * hashing a TBS. These are fetched on first use (thread-safe) and freed
 * at exit; a forked child keeps its parent's.
 */
#ifndef P11CA_HSM_DIGEST_H
#define P11CA_HSM_DIGEST_H

#include <openssl/evp.h>

/* "SHA1", "SHA256", "SHA384" or "SHA512" (as OpenSSL names them); else NULL. */
const EVP_MD	*digest_named(const char *name);
/* The same by NID (NID_sha256, ..., as EVP_MD_get_type gives); else NULL. */
const EVP_MD	*digest_nid(int nid);

#endif

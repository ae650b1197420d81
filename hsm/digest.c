/*
 * digest.c — the SHA digests fetched once (see digest.h).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/obj_mac.h>

#include "hsm/digest.h"

static const struct {
	const char	*name;
	int		 nid;
} digests[] = {
	{ "SHA1", NID_sha1 },
	{ "SHA256", NID_sha256 },
	{ "SHA384", NID_sha384 },
	{ "SHA512", NID_sha512 },
};
#define NDIGESTS	(sizeof(digests) / sizeof(digests[0]))

static EVP_MD		*fetched[NDIGESTS];
static pthread_once_t	 once = PTHREAD_ONCE_INIT;

static void
digests_free(void)
{
	size_t	 i;

	for (i = 0; i < NDIGESTS; i++)
		EVP_MD_free(fetched[i]);
}

static void
digests_fetch(void)
{
	size_t	 i;

	for (i = 0; i < NDIGESTS; i++)
		fetched[i] = EVP_MD_fetch(NULL, digests[i].name, NULL);
	(void)atexit(digests_free);
}

const EVP_MD *
digest_nid(int nid)
{
	size_t	 i;

	if (pthread_once(&once, digests_fetch) != 0)
		return NULL;
	for (i = 0; i < NDIGESTS; i++)
		if (digests[i].nid == nid)
			return fetched[i];
	return NULL;
}

const EVP_MD *
digest_named(const char *name)
{
	size_t	 i;

	for (i = 0; name != NULL && i < NDIGESTS; i++)
		if (strcmp(digests[i].name, name) == 0)
			return digest_nid(digests[i].nid);
	return NULL;
}

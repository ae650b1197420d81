/*
 * fuzz_csr.c — libFuzzer target for policy/csr.c.
 *
 * The first byte picks what the rest is:
 *   0  DER for csr_parse()
 *   1  text for csr_pem_to_der(), and csr_parse() on what it decodes
 *   2  edits to one of the real requests of test/unit/csr_vectors.h:
 *      a byte choosing it, then (offset hi, offset lo, value) triples
 *   3  a splice into one: a byte choosing it, offset hi and lo, a count
 *      of bytes to cut there, then the bytes to put in their place
 * Random bytes seldom get past the outer SEQUENCE; 2 and 3 start from
 * requests that are valid, so every later check is reached. Whatever is
 * accepted must hold what csr.h promises, and its SubjectPublicKeyInfo
 * must be one OpenSSL's own decoder takes (csr.c imports keys without it).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "hsm/proto.h"
#include "policy/csr.h"
#include "test/unit/csr_vectors.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define NVEC	(sizeof(csr_vectors) / sizeof(csr_vectors[0]))

static struct {
	uint8_t	*der;
	size_t	 len;
} vec[NVEC];
static struct csr	 c;

static void
init(void)
{
	size_t	 i;

	if (vec[0].der != NULL)
		return;
	for (i = 0; i < NVEC; i++)
		if (csr_pem_to_der(csr_vectors[i].pem, &vec[i].der,
		    &vec[i].len) == -1)
			abort();
}

static void
check_str(const char *s, size_t sz)
{
	if (memchr(s, '\0', sz) == NULL)
		abort();
}

/* csr_parse() on an exact-size copy, and what csr.h promises of it. */
static void
parse(const uint8_t *p, size_t n)
{
	const unsigned char	*q;
	EVP_PKEY		*pk;
	uint8_t			*b;
	char			 why[128];
	size_t			 i, j;
	int			 rc;

	if ((b = malloc(n > 0 ? n : 1)) == NULL)
		return;
	if (n > 0)
		memcpy(b, p, n);
	why[0] = '\0';
	rc = csr_parse(b, n, &c, why, sizeof(why));
	if (rc == -1) {
		if (why[0] == '\0' || c.spki != NULL || c.nsans != 0)
			abort();
		free(b);
		return;
	}
	if (rc != 0 || c.spki < b || c.spkilen > n ||
	    c.spki + c.spkilen > b + n || c.keytype < KEYTYPE_EC_P256 ||
	    c.keytype > KEYTYPE_ED25519 ||
	    (c.keytype == KEYTYPE_RSA && c.bits < 2048) ||
	    c.nsans < 0 || c.nsans > CSR_MAX_SANS)
		abort();
	q = c.spki;
	if ((pk = d2i_PUBKEY(NULL, &q, (long)c.spkilen)) == NULL ||
	    q != c.spki + c.spkilen)
		abort();
	EVP_PKEY_free(pk);
	check_str(c.cn, sizeof(c.cn));
	for (i = 0; i < (size_t)c.nsans; i++) {
		check_str(c.sans[i].value, sizeof(c.sans[i].value));
		if (c.sans[i].type < SAN_DNS || c.sans[i].type > SAN_URI)
			abort();
		for (j = 0; c.sans[i].value[j] != '\0'; j++)
			if (c.sans[i].value[j] <= ' ' ||
			    c.sans[i].value[j] >= 0x7f)
				abort();
	}
	free(b);
}

static void
pem(const uint8_t *p, size_t n)
{
	uint8_t	*der = NULL;
	size_t	 len = 0;
	char	*s;

	if ((s = malloc(n + 1)) == NULL)
		return;
	memcpy(s, p, n);
	s[n] = '\0';
	if (csr_pem_to_der(s, &der, &len) == 0) {
		if (der == NULL || len == 0)
			abort();
		parse(der, len);
		free(der);
	} else if (der != NULL || len != 0)
		abort();
	free(s);
}

static void
edit(const uint8_t *p, size_t n)
{
	uint8_t	*b;
	size_t	 v, len, off;

	if (n < 1)
		return;
	v = p[0] % NVEC;
	len = vec[v].len;
	if ((b = malloc(len)) == NULL)
		return;
	memcpy(b, vec[v].der, len);
	for (p++, n--; n >= 3; p += 3, n -= 3) {
		off = ((size_t)p[0] << 8 | p[1]) % len;
		b[off] = p[2];
	}
	parse(b, len);
	free(b);
}

static void
splice(const uint8_t *p, size_t n)
{
	uint8_t	*b;
	size_t	 v, len, off, cut;

	if (n < 4)
		return;
	v = p[0] % NVEC;
	len = vec[v].len;
	off = ((size_t)p[1] << 8 | p[2]) % (len + 1);
	cut = p[3] % 8;
	if (cut > len - off)
		cut = len - off;
	p += 4;
	n -= 4;
	if ((b = malloc(len - cut + n + 1)) == NULL)
		return;
	memcpy(b, vec[v].der, off);
	memcpy(b + off, p, n);
	memcpy(b + off + n, vec[v].der + off + cut, len - off - cut);
	parse(b, len - cut + n);
	free(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	init();
	switch (data[0] % 4) {
	case 0:
		parse(data + 1, size - 1);
		break;
	case 1:
		pem(data + 1, size - 1);
		break;
	case 2:
		edit(data + 1, size - 1);
		break;
	default:
		splice(data + 1, size - 1);
		break;
	}
	return 0;
}

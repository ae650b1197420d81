/*
 * fuzz_x5c.c — libFuzzer target for the renew token path of
 * policy/token.c: token_verify_x5c() on arbitrary input, with an issuing
 * CA and one leaf made at start (in memory, P-256) and a fixed clock.
 *
 * The first byte picks the mode; the rest is the input. Raw: the input is
 * the compact token. Claims: the input's members replace those of a valid
 * renew token's claims, signed by the leaf's key with the leaf in
 * x5cInsecure, so that every check after the signature is reached. Cert:
 * the input is the DER put in x5cInsecure (or x5c), signed by the leaf's
 * key: the certificate parsing and the issuer checks.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "policy/jose.h"
#include "policy/token.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define NOW	1700000000

static const char BASE[] =
    "{\"aud\":\"https://ca.example.com/1.0/renew\",\"exp\":1700000300,"
    "\"iat\":1700000000,\"iss\":\"step-ca-client/1.0\",\"jti\":\"j1\","
    "\"nbf\":1700000000,\"sub\":\"leaf.example.com\"}";
static const char *const dns[] = { "ca.example.com" };

static EVP_PKEY	*ca_key, *leaf_key;
static X509	*ca, *leaf;
static char	*leaf_b64;

static X509 *
make_cert(const char *cn, EVP_PKEY *key, EVP_PKEY *signer, X509 *issuer,
    int is_ca)
{
	X509		*x = X509_new();
	X509_NAME	*n = X509_NAME_new();
	X509_EXTENSION	*e;

	if (x == NULL || n == NULL ||
	    X509_set_version(x, 2) != 1 ||
	    ASN1_INTEGER_set(X509_get_serialNumber(x), is_ca ? 1 : 2) != 1 ||
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0) != 1 ||
	    X509_set_subject_name(x, n) != 1 ||
	    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) :
	    n) != 1 ||
	    ASN1_TIME_set(X509_getm_notBefore(x), NOW - 3600) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), NOW + 3600) == NULL ||
	    X509_set_pubkey(x, key) != 1)
		abort();
	if ((e = X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints,
	    is_ca ? "critical,CA:TRUE" : "CA:FALSE")) == NULL ||
	    X509_add_ext(x, e, -1) != 1)
		abort();
	X509_EXTENSION_free(e);
	if (X509_sign(x, signer, EVP_sha256()) <= 0)
		abort();
	X509_NAME_free(n);
	return x;
}

static char *
b64(const uint8_t *p, size_t n)
{
	char	*s = malloc(4 * ((n + 2) / 3) + 1);

	if (s == NULL)
		abort();
	EVP_EncodeBlock((unsigned char *)s, p, (int)n);
	return s;
}

static void
init(void)
{
	unsigned char	*der = NULL;
	int		 n;

	if (leaf != NULL)
		return;
	if ((ca_key = EVP_EC_gen("P-256")) == NULL ||
	    (leaf_key = EVP_EC_gen("P-256")) == NULL)
		abort();
	ca = make_cert("Fuzz Intermediate CA", ca_key, ca_key, NULL, 1);
	leaf = make_cert("leaf.example.com", leaf_key, ca_key, ca, 0);
	if ((n = i2d_X509(leaf, &der)) <= 0)
		abort();
	leaf_b64 = b64(der, (size_t)n);
	OPENSSL_free(der);
}

static void
verify(const char *tok)
{
	static const struct token zero;
	const struct token_policy pol = {
		.dns = dns,
		.ndns = 1,
		.now = NOW,
		.issuer = ca,
	};
	struct token	 t;
	X509		*x = NULL;
	char		 why[128];

	if (token_verify_x5c(tok, AUD_RENEW, &pol, &t, &x, why,
	    sizeof(why)) == 0) {
		/* Only the leaf the CA signed, and only for its own name. */
		if (x == NULL || X509_cmp(x, leaf) != 0 || t.prov != NULL ||
		    strcmp(t.sub, "leaf.example.com") != 0 || t.exp == 0)
			abort();
		X509_free(x);
		token_free(&t);
	} else if (x != NULL || memcmp(&t, &zero, sizeof(t)) != 0 ||
	    why[0] == '\0')
		abort();
}

static void
sign_and_verify(const char *hdr_member, const char *cert_b64,
    const char *payload, size_t n)
{
	cJSON	*h = cJSON_CreateObject(), *arr;
	char	*tok;

	if (h == NULL || (arr = cJSON_AddArrayToObject(h, hdr_member)) ==
	    NULL || !cJSON_AddItemToArray(arr, cJSON_CreateString(cert_b64)) ||
	    cJSON_AddStringToObject(h, "typ", "JWT") == NULL)
		abort();
	if ((tok = jose_jws_sign(leaf_key, NULL, h, payload, n)) != NULL)
		verify(tok);
	free(tok);
	cJSON_Delete(h);
}

static void
claims_mode(const char *s, size_t n)
{
	cJSON	*in, *c, *m, *next;
	char	*pl = NULL;

	if ((in = jose_json_parse(s, n)) != NULL) {
		if ((c = cJSON_Parse(BASE)) == NULL)
			abort();
		for (m = in->child; m != NULL; m = next) {
			next = m->next;
			cJSON_DeleteItemFromObjectCaseSensitive(c, m->string);
			cJSON_AddItemToObject(c, m->string,
			    cJSON_DetachItemViaPointer(in, m));
		}
		pl = cJSON_PrintUnformatted(c);
		cJSON_Delete(c);
		cJSON_Delete(in);
		if (pl == NULL)
			return;
		s = pl;
		n = strlen(pl);
	}
	sign_and_verify("x5cInsecure", leaf_b64, s, n);
	free(pl);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*s, *c;

	if (size < 1 || size > JOSE_MAX_COMPACT)
		return 0;
	init();
	if ((s = malloc(size)) == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 4) {
	case 0:
		verify(s);
		break;
	case 1:
		claims_mode(s, size - 1);
		break;
	default:
		c = b64(data + 1, size - 1);
		sign_and_verify(data[0] % 4 == 2 ? "x5cInsecure" : "x5c", c,
		    BASE, sizeof(BASE) - 1);
		free(c);
	}
	free(s);
	return 0;
}

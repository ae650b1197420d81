/*
 * fuzz_sign.c — the /sign request body as an attacker sends it: JSON,
 * the PEM CSR inside it, the token, and what the token allows the CSR.
 * The first byte picks the mode: 0 the raw body; 1 a body made of a valid
 * token and CSR whose JSON members are replaced by the input's, so the
 * checks after the signature are reached too.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "api/api.h"
#include "policy/jose.h"
#include "policy/provisioner.h"
#include "policy/token.h"

#define NOW	1800000000L

static struct provisioner *provs;
static int		 nprovs;
static char		*good_body;
static const char	*dns[] = { "ca.example.com", "127.0.0.1" };
static uint8_t		 root_fp[32];

static char *
make_csr(EVP_PKEY *k)
{
	X509_REQ	*r = X509_REQ_new();
	X509_NAME	*n = X509_NAME_new();
	BIO		*b = BIO_new(BIO_s_mem());
	char		*d, *pem = NULL;
	long		 len;

	if (r && n && b && X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)"svc.example.com", -1, -1, 0) &&
	    X509_REQ_set_subject_name(r, n) && X509_REQ_set_pubkey(r, k) &&
	    X509_REQ_sign(r, k, EVP_sha256()) > 0 &&
	    PEM_write_bio_X509_REQ(b, r) && (len = BIO_get_mem_data(b, &d)) > 0
	    && (pem = malloc(len + 1)) != NULL) {
		memcpy(pem, d, len);
		pem[len] = '\0';
	}
	X509_REQ_free(r);
	X509_NAME_free(n);
	BIO_free(b);
	return pem;
}

int	LLVMFuzzerInitialize(int *argc, char ***argv);
int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	EVP_PKEY	*pk = EVP_EC_gen("P-256"), *leaf = EVP_EC_gen("P-256");
	cJSON		*auth, *arr, *p, *jwk, *claims, *hdr, *b;
	char		*payload, *tok, *csr, err[256];

	(void)argc, (void)argv;
	memset(root_fp, 0x42, sizeof(root_fp));
	auth = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(auth, "provisioners");
	p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "type", "JWK");
	cJSON_AddStringToObject(p, "name", "admin");
	jwk = jose_jwk_from_pkey(pk, JOSE_JWK_STEP);
	cJSON_AddItemToObject(p, "key", jwk);
	cJSON_AddItemToArray(arr, p);
	if (provisioners_load(auth, &provs, &nprovs, err, sizeof(err)) == -1)
		abort();
	claims = cJSON_CreateObject();
	cJSON_AddStringToObject(claims, "aud", "https://ca.example.com/1.0/sign");
	cJSON_AddNumberToObject(claims, "exp", NOW + 300);
	cJSON_AddNumberToObject(claims, "nbf", NOW);
	cJSON_AddStringToObject(claims, "iss", "admin");
	cJSON_AddStringToObject(claims, "jti", "fuzz");
	cJSON_AddStringToObject(claims, "sub", "svc.example.com");
	hdr = cJSON_CreateObject();
	cJSON_AddStringToObject(hdr, "kid", provs[0].kid);
	payload = cJSON_PrintUnformatted(claims);
	tok = jose_jws_sign(pk, "ES256", hdr, payload, strlen(payload));
	csr = make_csr(leaf);
	b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "csr", csr);
	cJSON_AddStringToObject(b, "ott", tok);
	good_body = cJSON_PrintUnformatted(b);
	if (good_body == NULL)
		abort();
	free(payload);
	free(tok);
	free(csr);
	cJSON_Delete(b);
	cJSON_Delete(hdr);
	cJSON_Delete(claims);
	cJSON_Delete(auth);
	EVP_PKEY_free(pk);
	EVP_PKEY_free(leaf);
	return 0;
}

static void
run(const char *body, size_t n)
{
	struct token_policy pol = { provs, nprovs, dns, 2, root_fp, 3600, NOW };
	struct sign_req	 r;
	struct token	 t;
	char		 why[512];
	time_t		 nb, na;

	if (sign_parse(body, n, &r, why, sizeof(why)) != 0)
		return;
	memset(&t, 0, sizeof(t));
	if (token_verify(r.ott, AUD_SIGN, &pol, &t, why, sizeof(why)) == 0) {
		if (sign_authorize(&r, &t, NOW, NOW + 86400 * 365, &nb, &na,
		    why, sizeof(why)) == 0 && (na <= nb - 86400 * 366 ||
		    na > NOW + 86400 * 365))
			abort();	/* a validity the CA must never grant */
		token_free(&t);
	}
	sign_req_free(&r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cJSON	*b, *m, *it, *d;
	char	*s, *body;

	if (size < 1)
		return 0;
	if (data[0] % 2 == 0) {
		run((const char *)data + 1, size - 1);
		return 0;
	}
	/* Merge the input's members over a body that would succeed. */
	b = cJSON_Parse(good_body);
	if ((s = malloc(size)) == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	if ((m = cJSON_Parse(s)) != NULL && cJSON_IsObject(m))
		cJSON_ArrayForEach(it, m) {
			if ((d = cJSON_Duplicate(it, 1)) == NULL)
				continue;
			if (!cJSON_ReplaceItemInObjectCaseSensitive(b,
			    it->string, d) && !cJSON_AddItemToObject(b,
			    it->string, d))
				cJSON_Delete(d);
		}
	free(s);
	cJSON_Delete(m);
	if ((body = cJSON_PrintUnformatted(b)) != NULL)
		run(body, strlen(body));
	free(body);
	cJSON_Delete(b);
	return 0;
}

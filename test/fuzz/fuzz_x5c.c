/*
 * fuzz_x5c.c — libFuzzer target for the renewal token paths of
 * policy/token.c: token_verify_x5c() (X.509 /renew) and
 * token_verify_sshpop() (/ssh/renew, /ssh/rekey, /ssh/revoke) on arbitrary
 * input, with an issuing CA and one leaf, an SSH host CA and one host
 * certificate made at start (in memory) and a fixed clock.
 *
 * The first byte picks the mode; the rest is the input. Raw: the input is
 * the compact token (to both). Claims: the input's members replace those
 * of a valid token's claims, signed by the leaf's (or the SSH
 * certificate's) key with it in the header, so that every check after
 * the signature is reached. Cert: the input is what is put in x5cInsecure
 * (or x5c, or sshpop), signed by the key: the certificate parsing and the
 * issuer checks.
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
#include "policy/provisioner.h"
#include "policy/ssh.h"
#include "policy/token.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define NOW	1700000000

static const char BASE[] =
    "{\"aud\":\"https://ca.example.com/1.0/renew\",\"exp\":1700000300,"
    "\"iat\":1700000000,\"iss\":\"step-ca-client/1.0\",\"jti\":\"j1\","
    "\"nbf\":1700000000,\"sub\":\"leaf.example.com\"}";
static const char *const dns[] = { "ca.example.com" };

static const char SSH_BASE[] =
    "{\"aud\":\"https://ca.example.com/1.0/ssh/renew\",\"exp\":1700000300,"
    "\"iat\":1700000000,\"iss\":\"sshpop\",\"jti\":\"j2\","
    "\"nbf\":1700000000,\"sub\":\"web1\"}";

static EVP_PKEY	*ca_key, *leaf_key;
static X509	*ca, *leaf;
static char	*leaf_b64;
/* The SSH side: a host CA, a host key and its certificate. */
static EVP_PKEY	*ssh_ca_pk, *host_pk;
static struct ssh_key ssh_ca, host_key;
static char	*host_cert_b64;
static int	 last_ok;	/* the last verification succeeded */
static struct provisioner *provs;
static int	 nprovs;

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

/* A host certificate for host_key by ssh_ca, signed here (Ed25519). */
static void
ssh_init(void)
{
	static const char *const principals[] = { "web1" };
	static const uint8_t nonce[SSH_NONCE_LEN];
	struct ssh_cert_req r;
	struct pbuf	 b, sig;
	EVP_MD_CTX	*md;
	uint8_t		 raw[64];
	size_t		 rawlen = sizeof(raw);
	cJSON		*j;
	char		 err[128];

	if ((ssh_ca_pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL ||
	    (host_pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")) == NULL ||
	    ssh_key_from_pkey(ssh_ca_pk, &ssh_ca, err, sizeof(err)) == -1 ||
	    ssh_key_from_pkey(host_pk, &host_key, err, sizeof(err)) == -1)
		abort();
	r = (struct ssh_cert_req){ .key = &host_key, .nonce = nonce,
	    .serial = 42, .type = SSH_CERT_HOST, .key_id = "web1",
	    .principals = principals, .nprincipals = 1,
	    .valid_after = NOW - 3600, .valid_before = NOW + 3600,
	    .ca = &ssh_ca };
	pbuf_init(&b);
	pbuf_init(&sig);
	if (ssh_cert_body(&r, &b, err, sizeof(err)) == -1 ||
	    (md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(md, NULL, NULL, NULL, ssh_ca_pk) != 1 ||
	    EVP_DigestSign(md, raw, &rawlen, b.data, b.len) != 1)
		abort();
	EVP_MD_CTX_free(md);
	/* string "ssh-ed25519", string signature: the signer's SSH form. */
	if (pbuf_add(&sig, "\0\0\0\x0bssh-ed25519\0\0\0\x40", 19) == -1 ||
	    pbuf_add(&sig, raw, sizeof(raw)) == -1 ||
	    ssh_cert_finish(&b, &ssh_ca, sig.data, sig.len, err,
	    sizeof(err)) == -1)
		abort();
	host_cert_b64 = b64(b.data, b.len);
	pbuf_free(&b);
	pbuf_free(&sig);
	if ((j = cJSON_Parse("{\"provisioners\":[{\"type\":\"SSHPOP\","
	    "\"name\":\"sshpop\",\"claims\":{\"enableSSHCA\":true}}]}")) ==
	    NULL || provisioners_load(j, &provs, &nprovs, err, sizeof(err)) ==
	    -1)
		abort();
	cJSON_Delete(j);
}

static void
init(void)
{
	unsigned char	*der = NULL;
	int		 n;

	if (leaf != NULL)
		return;
	ssh_init();
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
		last_ok = 1;
		X509_free(x);
		token_free(&t);
	} else if (x != NULL || memcmp(&t, &zero, sizeof(t)) != 0 ||
	    why[0] == '\0')
		abort();
}

static void
verify_sshpop(const char *tok)
{
	static const struct token zero;
	static const struct ssh_cert czero;
	const struct ssh_key *cas[2] = { NULL, &ssh_ca };
	const struct token_policy pol = {
		.provs = provs,
		.nprovs = nprovs,
		.dns = dns,
		.ndns = 1,
		.now = NOW,
	};
	struct token	 t;
	struct ssh_cert	 c;
	char		 why[128];

	if (token_verify_sshpop(tok, AUD_SSH_RENEW, &pol, cas, 2, &t, &c, why,
	    sizeof(why)) == 0) {
		/* Only the host certificate this CA signed. */
		if (c.serial != 42 || c.type != SSH_CERT_HOST ||
		    t.prov != &provs[0] || t.exp == 0)
			abort();
		last_ok = 1;
		ssh_cert_free(&c);
		token_free(&t);
	} else if (memcmp(&t, &zero, sizeof(t)) != 0 ||
	    memcmp(&c, &czero, sizeof(c)) != 0 || why[0] == '\0')
		abort();
}

static void
sign_and_verify(const char *hdr_member, const char *cert_b64,
    const char *payload, size_t n)
{
	cJSON	*h = cJSON_CreateObject(), *arr;
	char	*tok;
	int	 pop = strcmp(hdr_member, "sshpop") == 0;

	if (h == NULL || (pop ? cJSON_AddStringToObject(h, hdr_member,
	    cert_b64) == NULL : ((arr = cJSON_AddArrayToObject(h,
	    hdr_member)) == NULL || !cJSON_AddItemToArray(arr,
	    cJSON_CreateString(cert_b64)))) ||
	    cJSON_AddStringToObject(h, "typ", "JWT") == NULL)
		abort();
	if ((tok = jose_jws_sign(pop ? host_pk : leaf_key, NULL, h, payload,
	    n)) != NULL) {
		if (pop)
			verify_sshpop(tok);
		else
			verify(tok);
	}
	free(tok);
	cJSON_Delete(h);
}

/* The base tokens must verify, or the fuzzer explores only refusals. */
static int	self_check;

static void
claims_mode(const char *s, size_t n, int pop)
{
	cJSON	*in, *c, *m, *next;
	char	*pl = NULL;

	if ((in = jose_json_parse(s, n)) != NULL) {
		if ((c = cJSON_Parse(pop ? SSH_BASE : BASE)) == NULL)
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
	if (pop)
		sign_and_verify("sshpop", host_cert_b64, s, n);
	else
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
	if (!self_check) {
		self_check = 1;
		last_ok = 0;
		claims_mode("{}", 2, 0);
		if (!last_ok)
			abort();	/* the x5c base token is refused */
		last_ok = 0;
		claims_mode("{}", 2, 1);
		if (!last_ok)
			abort();	/* the sshpop base token is refused */
	}
	if ((s = malloc(size)) == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch (data[0] % 7) {
	case 0:
		verify(s);
		verify_sshpop(s);
		break;
	case 1:
		claims_mode(s, size - 1, 0);
		break;
	case 2:
	case 3:
		c = b64(data + 1, size - 1);
		sign_and_verify(data[0] % 7 == 2 ? "x5cInsecure" : "x5c", c,
		    BASE, sizeof(BASE) - 1);
		free(c);
		break;
	case 4:
		claims_mode(s, size - 1, 1);
		break;
	default:
		c = b64(data + 1, size - 1);
		sign_and_verify("sshpop", c, SSH_BASE, sizeof(SSH_BASE) - 1);
		free(c);
	}
	free(s);
	return 0;
}

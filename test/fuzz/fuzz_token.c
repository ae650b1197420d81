/*
 * fuzz_token.c — libFuzzer target for policy/token.c: token_verify() on
 * arbitrary input, with a fixed provisioner table, dnsNames, root and
 * clock.
 *
 * The first byte picks the audience and the mode; the rest is the input.
 * Raw mode hands the input over as a compact token: that exercises
 * parsing and provisioner lookup, but no mutation survives the
 * signature. Signed mode makes the input the claims instead: when it is
 * a JSON object its members replace those of a valid sign token's
 * claims, otherwise it is the payload as is; then it is signed with the
 * provisioner's key, so that every check after the signature is reached.
 * Two more modes feed duration_parse() and provisioners_load().
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/jose.h"
#include "policy/token.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define NOW	1700000000

static const char AUTHORITY[] =
    "{\"provisioners\":[{\"type\":\"JWK\",\"name\":\"admin@example.com\","
    "\"key\":{\"crv\":\"P-256\",\"kty\":\"EC\","
    "\"x\":\"3ljWAmMlmDmT5kajI2_pK7OYo3_YR1wCJU-5o-F0kx8\","
    "\"y\":\"nprOWq25VlxioOUnX5O9tP-KQAFuvcLlCk5cVfWkqZY\","
    "\"use\":\"sig\",\"alg\":\"ES256\","
    "\"kid\":\"W0SwnlQRwnGieF2fREqW0Ua5YXaZU88ztB6qrQvnctU\"},"
    "\"claims\":{\"enableSSHCA\":true}}]}";
static const char PRIV[] =
    "{\"crv\":\"P-256\",\"kty\":\"EC\","
    "\"d\":\"QkeRzJjNR2mG8423pOgH-iYu97jvlsOtZj-NP2qDC50\","
    "\"x\":\"3ljWAmMlmDmT5kajI2_pK7OYo3_YR1wCJU-5o-F0kx8\","
    "\"y\":\"nprOWq25VlxioOUnX5O9tP-KQAFuvcLlCk5cVfWkqZY\"}";
static const char KID[] = "W0SwnlQRwnGieF2fREqW0Ua5YXaZU88ztB6qrQvnctU";
static const char BASE[] =
    "{\"aud\":\"https://ca.example.com:9443/1.0/sign\",\"exp\":1700000300,"
    "\"iat\":1700000000,\"iss\":\"admin@example.com\",\"jti\":\"j1\","
    "\"nbf\":1700000000,\"sub\":\"svc.example.com\","
    "\"sans\":[\"svc.example.com\",\"127.0.0.1\"],"
    "\"sha\":\"554bcb1110d5a2ef3b77244be7b78ff456faf5d14193a74775443c54b31cc31a\"}";
static const uint8_t ROOT_FP[32] = {
	0x55, 0x4b, 0xcb, 0x11, 0x10, 0xd5, 0xa2, 0xef, 0x3b, 0x77, 0x24,
	0x4b, 0xe7, 0xb7, 0x8f, 0xf4, 0x56, 0xfa, 0xf5, 0xd1, 0x41, 0x93,
	0xa7, 0x47, 0x75, 0x44, 0x3c, 0x54, 0xb3, 0x1c, 0xc3, 0x1a,
};
static const char *const dns[] = { "ca.example.com", "127.0.0.1", "::1" };

static struct provisioner *provs;
static int nprovs;
static EVP_PKEY *priv;
static cJSON *hdr_extra;

static void
init(void)
{
	char err[256];
	cJSON *j;

	if (provs != NULL)
		return;
	if ((j = cJSON_Parse(AUTHORITY)) == NULL ||
	    provisioners_load(j, &provs, &nprovs, err, sizeof(err)) != 0)
		abort();
	cJSON_Delete(j);
	if ((j = cJSON_Parse(PRIV)) == NULL ||
	    (priv = jose_jwk_to_pkey(j, JOSE_JWK_PRIVATE)) == NULL)
		abort();
	jose_jwk_free(j);
	if ((hdr_extra = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(hdr_extra, "kid", KID) == NULL ||
	    cJSON_AddStringToObject(hdr_extra, "typ", "JWT") == NULL)
		abort();
}

/* What a successful verification must always hand back. */
static void
check(const struct token *t)
{
	int i;

	if (t->prov != &provs[0] || t->sub[0] == '\0' || t->jti[0] == '\0' ||
	    t->nsans < 1 || t->nsans > TOKEN_MAX_SANS || t->exp == 0 ||
	    strcmp(t->iss, provs[0].name) != 0)
		abort();
	for (i = 0; i < t->nsans; i++)
		if (t->sans[i] == NULL || t->sans[i][0] == '\0')
			abort();
	if (t->step != NULL && !cJSON_IsObject(t->step))
		abort();
}

static void
verify(const char *tok, enum token_aud aud)
{
	static const struct token zero;
	const struct token_policy pol = {
		.provs = provs,
		.nprovs = nprovs,
		.dns = dns,
		.ndns = (int)(sizeof(dns) / sizeof(dns[0])),
		.root_fp = ROOT_FP,
		.max_lifetime = 0,
		.now = NOW,
	};
	struct token t;
	char why[128];

	if (token_verify(tok, aud, &pol, &t, why, sizeof(why)) == 0) {
		check(&t);
		token_free(&t);
	} else if (memcmp(&t, &zero, sizeof(t)) != 0 || why[0] == '\0')
		abort();
}

/* The input's members over BASE, signed; or the input itself, signed. */
static void
signed_mode(const char *s, size_t n, enum token_aud aud)
{
	cJSON *in, *c, *m, *next;
	char *pl = NULL, *tok;

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
	if ((tok = jose_jws_sign(priv, NULL, hdr_extra, s, n)) != NULL)
		verify(tok, aud);
	free(tok);
	free(pl);
}

/*
 * Whatever parses must print as whole seconds and parse back the same,
 * except at the very edge, where rounding -1<<63 ns down leaves the range.
 */
static void
duration_mode(const char *s)
{
	char buf[32];
	long secs, again;

	if (duration_parse(s, &secs) != 0 || secs < -9223372036L)
		return;
	snprintf(buf, sizeof(buf), "%lds", secs);
	if (duration_parse(buf, &again) != 0 || again != secs)
		abort();
}

static void
load_mode(const char *s)
{
	struct provisioner *p = NULL;
	char err[256];
	cJSON *j;
	int n = 0, i;

	if ((j = cJSON_Parse(s)) == NULL)
		return;
	if (provisioners_load(j, &p, &n, err, sizeof(err)) == 0) {
		for (i = 0; i < n; i++)
			if ((p[i].type == PROV_JWK) != (p[i].key != NULL) ||
			    p[i].name[0] == '\0' ||
			    (p[i].type == PROV_JWK) != (p[i].kid[0] != '\0') ||
			    p[i].claims.min_tls > p[i].claims.default_tls ||
			    p[i].claims.default_tls > p[i].claims.max_tls)
				abort();
	} else if (p != NULL || n != 0 || err[0] == '\0')
		abort();
	provisioners_free(p, n);
	cJSON_Delete(j);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum token_aud aud;
	char *s;

	if (size < 1 || size > JOSE_MAX_COMPACT + 2)
		return 0;
	init();
	/* Low bits: the audience (0 is not one); bits 4-5: the mode. */
	aud = (enum token_aud)(data[0] & 0x0f) % (AUD_SSH_REKEY + 1);
	if ((s = malloc(size)) == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';
	switch ((data[0] >> 4) & 3) {
	case 0:
		verify(s, aud);
		break;
	case 1:
		signed_mode(s, size - 1, aud);
		break;
	case 2:
		duration_mode(s);
		break;
	default:
		load_mode(s);
		break;
	}
	free(s);
	return 0;
}

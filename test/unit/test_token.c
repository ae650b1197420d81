/*
 * test_token.c — policy/token.c and policy/provisioner.c: tokens minted
 * here with jose_jws_sign() and fixed keys, tokens minted by jwcrypto
 * (test/unit/token_vectors.h, from token_vectors.py), Go duration
 * syntax, and ca.json provisioner tables good and bad.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "policy/jose.h"
#include "policy/provisioner.h"
#include "policy/token.h"
#include "test/unit/token_vectors.h"

#define NOW	((time_t)TV_NOW)

static struct provisioner *provs;
static int nprovs;
static EVP_PKEY *k_admin, *k_bench, *k_ed, *k_p384;
static uint8_t root_fp[32];
static const char *const dns[] = { "ca.example.com", "127.0.0.1", "::1" };

/* ---- helpers ---- */

static char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	assert_true(r >= 0);
	return s;
}

static cJSON *
pj(const char *s)
{
	cJSON *j = cJSON_Parse(s);

	assert_non_null(j);
	return j;
}

static EVP_PKEY *
privkey(const char *json)
{
	cJSON *j = pj(json);
	EVP_PKEY *pk = jose_jwk_to_pkey(j, JOSE_JWK_PRIVATE);

	jose_jwk_free(j);
	assert_non_null(pk);
	return pk;
}

static struct token_policy
policy(void)
{
	struct token_policy p = {
		.provs = provs,
		.nprovs = nprovs,
		.dns = dns,
		.ndns = (int)(sizeof(dns) / sizeof(dns[0])),
		.root_fp = root_fp,
		.max_lifetime = 0,
		.now = NOW,
	};

	return p;
}

/* The claims step-cli puts in an X.509 sign token for admin. */
static cJSON *
claims(void)
{
	cJSON *c = cJSON_CreateObject();
	cJSON *sans;

	assert_non_null(c);
	assert_non_null(cJSON_AddStringToObject(c, "aud",
	    "https://ca.example.com:9443/1.0/sign"));
	assert_non_null(cJSON_AddNumberToObject(c, "exp", (double)NOW + 300));
	assert_non_null(cJSON_AddNumberToObject(c, "iat", (double)NOW));
	assert_non_null(cJSON_AddStringToObject(c, "iss", TV_ADMIN_ISS));
	assert_non_null(cJSON_AddStringToObject(c, "jti",
	    "5b1bce2a7e5fe5a3b2f2d7b1b0b5c0f5c8a1d1d3e4f5a6b7c8d9e0f1a2b3c4d5"));
	assert_non_null(cJSON_AddNumberToObject(c, "nbf", (double)NOW));
	assert_non_null(cJSON_AddStringToObject(c, "sub", "svc.example.com"));
	assert_non_null(sans = cJSON_AddArrayToObject(c, "sans"));
	cJSON_AddItemToArray(sans, cJSON_CreateString("svc.example.com"));
	cJSON_AddItemToArray(sans, cJSON_CreateString("127.0.0.1"));
	assert_non_null(cJSON_AddStringToObject(c, "sha", TV_ROOT_FP_HEX));
	return c;
}

/* Replaces (or, with v NULL, removes) member name of c. */
static void
set(cJSON *c, const char *name, cJSON *v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(c, name);
	if (v != NULL)
		assert_true(cJSON_AddItemToObject(c, name, v));
}

static void
set_num(cJSON *c, const char *name, double v)
{
	set(c, name, cJSON_CreateNumber(v));
}

static void
set_str(cJSON *c, const char *name, const char *v)
{
	set(c, name, cJSON_CreateString(v));
}

static void
set_raw(cJSON *c, const char *name, const char *json)
{
	set(c, name, pj(json));
}

/* Signs payload text with pk under header {alg, kid, typ}. */
static char *
mint_text(EVP_PKEY *pk, const char *kid, const char *payload)
{
	cJSON *extra = cJSON_CreateObject();
	char *tok;

	assert_non_null(extra);
	assert_non_null(cJSON_AddStringToObject(extra, "kid", kid));
	assert_non_null(cJSON_AddStringToObject(extra, "typ", "JWT"));
	tok = jose_jws_sign(pk, NULL, extra, payload, strlen(payload));
	cJSON_Delete(extra);
	assert_non_null(tok);
	return tok;
}

/* Signs c (and deletes it). */
static char *
mint_with(EVP_PKEY *pk, const char *kid, cJSON *c)
{
	char *s = cJSON_PrintUnformatted(c), *tok;

	assert_non_null(s);
	tok = mint_text(pk, kid, s);
	free(s);
	cJSON_Delete(c);
	return tok;
}

static char *
mint(cJSON *c)
{
	return mint_with(k_admin, TV_ADMIN_KID, c);
}

/* Verifies and expects success; t is the caller's to token_free(). */
static void
ok_pol(const char *tok, enum token_aud aud, const struct token_policy *p,
    struct token *t)
{
	char why[128] = "";
	int rc = token_verify(tok, aud, p, t, why, sizeof(why));

	if (rc != 0)
		print_error("unexpected failure: %s\n", why);
	assert_int_equal(rc, 0);
	assert_non_null(t->prov);
}

static void
ok(const char *tok, enum token_aud aud)
{
	struct token_policy p = policy();
	struct token t;

	ok_pol(tok, aud, &p, &t);
	token_free(&t);
}

/* Expects failure with a reason that contains want. */
static void
bad_pol(const char *tok, enum token_aud aud, const struct token_policy *p,
    const char *want)
{
	struct token t, zero;
	char why[128] = "";

	memset(&t, 0xa5, sizeof(t));
	memset(&zero, 0, sizeof(zero));
	assert_int_equal(token_verify(tok, aud, p, &t, why, sizeof(why)), -1);
	if (strstr(why, want) == NULL)
		print_error("reason \"%s\", wanted \"%s\"\n", why, want);
	assert_non_null(strstr(why, want));
	/* The contract: nothing to free after a failure. */
	assert_memory_equal(&t, &zero, sizeof(t));
	token_free(&t);
}

static void
bad(const char *tok, enum token_aud aud, const char *want)
{
	struct token_policy p = policy();

	bad_pol(tok, aud, &p, want);
}

/* Mints c with admin, expects success for AUD_SIGN, frees it all. */
static void
ok_claims(cJSON *c)
{
	char *tok = mint(c);

	ok(tok, AUD_SIGN);
	free(tok);
}

static void
bad_claims(cJSON *c, const char *want)
{
	char *tok = mint(c);

	bad(tok, AUD_SIGN, want);
	free(tok);
}

static char *
b64s(const char *s)
{
	char *e = jose_b64url_encode(s, strlen(s));

	assert_non_null(e);
	return e;
}

/* ---- fixtures ---- */

static int
setup(void **state)
{
	char err[256];
	unsigned int hi, lo;
	cJSON *a;
	int i;

	(void)state;
	a = pj(TV_AUTHORITY);
	if (provisioners_load(a, &provs, &nprovs, err, sizeof(err)) != 0) {
		print_error("provisioners_load: %s\n", err);
		cJSON_Delete(a);
		return -1;
	}
	cJSON_Delete(a);
	k_admin = privkey(TV_ADMIN_PRIV);
	k_bench = privkey(TV_BENCH_PRIV);
	k_ed = privkey(TV_ED_PRIV);
	k_p384 = privkey(TV_P384_PRIV);
	for (i = 0; i < 32; i++) {
		assert_int_equal(sscanf(TV_ROOT_FP_HEX + 2 * i, "%1x%1x", &hi,
		    &lo), 2);
		root_fp[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	provisioners_free(provs, nprovs);
	EVP_PKEY_free(k_admin);
	EVP_PKEY_free(k_bench);
	EVP_PKEY_free(k_ed);
	EVP_PKEY_free(k_p384);
	return 0;
}

/* ---- tokens: the good one, and who signed it ---- */

static void
test_valid(void **state)
{
	struct token_policy p = policy();
	struct token t;
	char *tok = mint(claims());

	(void)state;
	ok_pol(tok, AUD_SIGN, &p, &t);
	assert_ptr_equal(t.prov, &provs[0]);
	assert_string_equal(t.iss, TV_ADMIN_ISS);
	assert_string_equal(t.sub, "svc.example.com");
	assert_string_equal(t.jti,
	    "5b1bce2a7e5fe5a3b2f2d7b1b0b5c0f5c8a1d1d3e4f5a6b7c8d9e0f1a2b3c4d5");
	assert_int_equal(t.nsans, 2);
	assert_string_equal(t.sans[0], "svc.example.com");
	assert_string_equal(t.sans[1], "127.0.0.1");
	assert_int_equal(t.nbf, NOW);
	assert_int_equal(t.iat, NOW);
	assert_int_equal(t.exp, NOW + 300);
	assert_string_equal(t.cnf, "");
	assert_null(t.step);
	token_free(&t);
	/* token_free leaves nothing behind and may be called again. */
	assert_int_equal(t.nsans, 0);
	assert_null(t.sans[0]);
	token_free(&t);
	token_free(NULL);
	/* why may be NULL. */
	assert_int_equal(token_verify("x", AUD_SIGN, &p, &t, NULL, 0), -1);
	free(tok);
}

static void
test_other_provisioners(void **state)
{
	struct token_policy p = policy();
	struct token t;
	cJSON *c;
	char *tok;

	(void)state;
	c = claims();
	set_str(c, "iss", TV_BENCH_ISS);
	tok = mint_with(k_bench, TV_BENCH_KID, c);
	ok_pol(tok, AUD_SIGN, &p, &t);
	assert_ptr_equal(t.prov, &provs[1]);
	token_free(&t);
	free(tok);

	c = claims();
	set_str(c, "iss", TV_ED_ISS);
	tok = mint_with(k_ed, TV_ED_KID, c);
	ok_pol(tok, AUD_SIGN, &p, &t);
	assert_ptr_equal(t.prov, &provs[2]);
	token_free(&t);
	free(tok);

	c = claims();
	set_str(c, "iss", TV_P384_ISS);
	tok = mint_with(k_p384, TV_P384_KID, c);
	ok_pol(tok, AUD_SIGN, &p, &t);
	assert_ptr_equal(t.prov, &provs[3]);
	token_free(&t);
	free(tok);
}

static void
test_wrong_kid(void **state)
{
	char *tok = mint_with(k_admin, "no-such-kid", claims());

	(void)state;
	bad(tok, AUD_SIGN, "provisioner not found");
	free(tok);
}

static void
test_wrong_iss(void **state)
{
	cJSON *c = claims();
	char *tok;

	(void)state;
	set_str(c, "iss", "nobody@example.com");
	tok = mint(c);
	bad(tok, AUD_SIGN, "provisioner not found");
	free(tok);
	/* iss must be a string. */
	c = claims();
	set_num(c, "iss", 1);
	bad_claims(c, "no kid or no iss");
	c = claims();
	set(c, "iss", NULL);
	bad_claims(c, "no kid or no iss");
}

/* iss=A with kid=B: neither key makes it acceptable. */
static void
test_iss_kid_mismatch(void **state)
{
	char *tok;

	(void)state;
	tok = mint_with(k_bench, TV_BENCH_KID, claims());
	bad(tok, AUD_SIGN, "provisioner not found");
	free(tok);
	tok = mint_with(k_admin, TV_BENCH_KID, claims());
	bad(tok, AUD_SIGN, "provisioner not found");
	free(tok);
}

static void
test_no_kid(void **state)
{
	cJSON *c = claims();
	char *s, *tok;

	(void)state;
	s = cJSON_PrintUnformatted(c);
	cJSON_Delete(c);
	tok = jose_jws_sign(k_admin, NULL, NULL, s, strlen(s));
	assert_non_null(tok);
	bad(tok, AUD_SIGN, "no kid");
	free(tok);
	free(s);
}

/* Right iss and kid, wrong key: the signature decides. */
static void
test_other_key(void **state)
{
	char *tok = mint_with(k_bench, TV_ADMIN_KID, claims());

	(void)state;
	bad(tok, AUD_SIGN, "bad signature");
	free(tok);
	/* ES384 (P-384 key) named as admin's P-256 key. */
	tok = mint_with(k_p384, TV_ADMIN_KID, claims());
	bad(tok, AUD_SIGN, "alg does not fit");
	free(tok);
	/* EdDSA likewise. */
	tok = mint_with(k_ed, TV_ADMIN_KID, claims());
	bad(tok, AUD_SIGN, "alg does not fit");
	free(tok);
}

static void
test_tampered(void **state)
{
	char *tok = mint(claims()), *pl, *forged, *dot;
	cJSON *c;
	char *s;
	size_t n;

	(void)state;
	/* Another payload under the original signature. */
	c = claims();
	set_str(c, "sub", "evil.example.com");
	s = cJSON_PrintUnformatted(c);
	cJSON_Delete(c);
	pl = b64s(s);
	free(s);
	dot = strchr(tok, '.');
	forged = xasprintf("%.*s.%s%s", (int)(dot - tok), tok, pl,
	    strrchr(tok, '.'));
	bad(forged, AUD_SIGN, "bad signature");
	free(forged);
	free(pl);
	/* One signature character changed (keeping base64url canonical). */
	forged = strdup(tok);
	assert_non_null(forged);
	n = (size_t)(strrchr(forged, '.') - forged) + 5;
	forged[n] = forged[n] == 'A' ? 'B' : 'A';
	bad(forged, AUD_SIGN, "bad signature");
	free(forged);
	/* Truncated. */
	tok[strlen(tok) - 4] = '\0';
	bad(tok, AUD_SIGN, "");
	free(tok);
}

/* Header h over the claims, with signature sig (base64url). */
static char *
forge(const char *h, const char *sig)
{
	cJSON *c = claims();
	char *s = cJSON_PrintUnformatted(c), *hb, *pb, *out;

	cJSON_Delete(c);
	hb = b64s(h);
	pb = b64s(s);
	out = xasprintf("%s.%s.%s", hb, pb, sig);
	free(s);
	free(hb);
	free(pb);
	return out;
}

static void
test_alg_none(void **state)
{
	char *h = xasprintf("{\"alg\":\"none\",\"kid\":\"%s\",\"typ\":\"JWT\"}",
	    TV_ADMIN_KID), *tok;

	(void)state;
	tok = forge(h, "");
	bad(tok, AUD_SIGN, "malformed");
	free(tok);
	tok = forge(h, "AAAA");
	bad(tok, AUD_SIGN, "alg refused");
	free(tok);
	free(h);
}

/* HS256 keyed with the provisioner's public JWK: the classic confusion. */
static void
test_hs256(void **state)
{
	char *h = xasprintf("{\"alg\":\"HS256\",\"kid\":\"%s\",\"typ\":\"JWT\"}",
	    TV_ADMIN_KID), *tok, *tbs, *sig;
	cJSON *pub;
	char *pubs;
	uint8_t md[32];
	unsigned int mdlen = sizeof(md);

	(void)state;
	tok = forge(h, "AAAA");
	*strrchr(tok, '.') = '\0';
	tbs = tok;
	assert_non_null(pub = jose_jwk_from_pkey(k_admin, 0));
	assert_non_null(pubs = cJSON_PrintUnformatted(pub));
	assert_non_null(HMAC(EVP_sha256(), pubs, (int)strlen(pubs),
	    (const uint8_t *)tbs, strlen(tbs), md, &mdlen));
	assert_non_null(sig = jose_b64url_encode(md, mdlen));
	free(h);
	h = xasprintf("%s.%s", tbs, sig);
	bad(h, AUD_SIGN, "alg refused");
	free(h);
	free(sig);
	free(pubs);
	cJSON_Delete(pub);
	free(tok);
}

static void
test_garbage(void **state)
{
	struct token_policy p = policy();
	struct token t;
	char *big;
	char why[64];

	(void)state;
	bad("", AUD_SIGN, "malformed");
	bad("abc", AUD_SIGN, "malformed");
	bad("a.b.c", AUD_SIGN, "malformed");
	bad("..", AUD_SIGN, "malformed");
	assert_non_null(big = malloc(70000));
	memset(big, 'A', 69999);
	big[69999] = '\0';
	bad(big, AUD_SIGN, "too large");
	free(big);
	assert_int_equal(token_verify(NULL, AUD_SIGN, &p, &t, why,
	    sizeof(why)), -1);
	assert_int_equal(token_verify("a", AUD_SIGN, NULL, &t, why,
	    sizeof(why)), -1);
	assert_int_equal(token_verify("a", AUD_SIGN, &p, NULL, why,
	    sizeof(why)), -1);
	/* An empty provisioner table finds nothing. */
	big = mint(claims());
	p.provs = NULL;
	p.nprovs = 0;
	bad_pol(big, AUD_SIGN, &p, "provisioner not found");
	free(big);
}

/* ---- times ---- */

static cJSON *
timed(double nbf, double iat, double exp)
{
	cJSON *c = claims();

	set_num(c, "nbf", nbf);
	set_num(c, "iat", iat);
	set_num(c, "exp", exp);
	return c;
}

static void
test_expiry(void **state)
{
	(void)state;
	bad_claims(timed(NOW - 300, NOW - 300, NOW - 61), "expired");
	ok_claims(timed(NOW - 300, NOW - 300, NOW - 60));
	ok_claims(timed(NOW - 300, NOW - 300, NOW - 30));
	ok_claims(timed(NOW - 300, NOW - 300, NOW + 0.9));
}

static void
test_nbf_iat(void **state)
{
	(void)state;
	bad_claims(timed(NOW + 61, NOW, NOW + 300), "nbf");
	ok_claims(timed(NOW + 60, NOW, NOW + 300));
	bad_claims(timed(NOW, NOW + 61, NOW + 300), "iat");
	ok_claims(timed(NOW, NOW + 60, NOW + 300));
}

static void
test_no_exp(void **state)
{
	cJSON *c = claims();

	(void)state;
	set(c, "exp", NULL);
	bad_claims(c, "no exp");
}

static void
test_time_types(void **state)
{
	static const char *const names[] = { "exp", "nbf", "iat" };
	static const char *const vals[] = {
		"\"1700000300\"", "null", "true", "[1700000300]", "-1",
		"1e300",
	};
	size_t i, j;
	cJSON *c;

	(void)state;
	for (i = 0; i < 3; i++)
		for (j = 0; j < sizeof(vals) / sizeof(vals[0]); j++) {
			c = claims();
			set_raw(c, names[i], vals[j]);
			bad_claims(c, "NumericDate");
		}
	/* Fractions are truncated, as go-jose does. */
	c = timed(NOW + 0.5, NOW + 0.5, NOW + 300.9);
	ok_claims(c);
	/* nbf and iat are optional. */
	c = claims();
	set(c, "nbf", NULL);
	set(c, "iat", NULL);
	ok_claims(c);
}

static void
test_lifetime(void **state)
{
	struct token_policy p = policy();
	struct token t;
	cJSON *c;
	char *tok;

	(void)state;
	ok_claims(timed(NOW, NOW, NOW + 3600));
	bad_claims(timed(NOW, NOW, NOW + 3601), "lifetime");
	/* Measured from nbf, then iat, then now. */
	c = timed(NOW - 100, NOW, NOW + 3550);
	bad_claims(c, "lifetime");
	c = timed(NOW, NOW - 100, NOW + 3550);
	set(c, "nbf", NULL);
	bad_claims(c, "lifetime");
	c = timed(NOW, NOW, NOW + 3601);
	set(c, "nbf", NULL);
	set(c, "iat", NULL);
	bad_claims(c, "lifetime");
	c = timed(NOW, NOW, NOW + 3600);
	set(c, "nbf", NULL);
	set(c, "iat", NULL);
	ok_claims(c);
	/* A year, as step-ca would take. */
	bad_claims(timed(NOW, NOW, NOW + 365 * 86400.0), "lifetime");
	/* The policy's own cap. */
	p.max_lifetime = 600;
	tok = mint(timed(NOW, NOW, NOW + 601));
	bad_pol(tok, AUD_SIGN, &p, "lifetime");
	free(tok);
	tok = mint(timed(NOW, NOW, NOW + 600));
	ok_pol(tok, AUD_SIGN, &p, &t);
	token_free(&t);
	free(tok);
	/* Expiring before it starts. */
	bad_claims(timed(NOW + 50, NOW, NOW + 40), "before nbf");
	bad_claims(timed(NOW, NOW + 50, NOW + 40), "before nbf or iat");
}

/* ---- aud ---- */

static const struct aud_case {
	const char	*aud;
	enum token_aud	 want;
	int		 ok;
} aud_cases[] = {
	{ "https://ca.example.com/1.0/sign", AUD_SIGN, 1 },
	{ "https://ca.example.com/sign", AUD_SIGN, 1 },
	{ "https://ca.example.com:9443/sign", AUD_SIGN, 1 },
	{ "https://ca.example.com:1/1.0/sign", AUD_SIGN, 1 },
	{ "https://CA.Example.COM/1.0/sign", AUD_SIGN, 1 },
	{ "HTTPS://ca.example.com/1.0/sign", AUD_SIGN, 1 },
	{ "https://127.0.0.1:9000/1.0/sign", AUD_SIGN, 1 },
	{ "https://[::1]:9000/1.0/sign", AUD_SIGN, 1 },
	{ "https://[::1]/sign", AUD_SIGN, 1 },
	{ "https://[localhost]/1.0/sign", AUD_SIGN, 0 },
	{ "https://ca.example.com/1.0/ssh/sign", AUD_SIGN, 1 },
	{ "https://ca.example.com/ssh/sign", AUD_SIGN, 1 },
	{ "step-certificate-authority", AUD_SIGN, 1 },
	{ "https://other.example.com/1.0/sign", AUD_SIGN, 0 },
	{ "https://ca.example.com.evil/1.0/sign", AUD_SIGN, 0 },
	{ "https://evil/ca.example.com/1.0/sign", AUD_SIGN, 0 },
	{ "https://ca.example.co/1.0/sign", AUD_SIGN, 0 },
	{ "http://ca.example.com/1.0/sign", AUD_SIGN, 0 },
	{ "https://ca.example.com/1.0/revoke", AUD_SIGN, 0 },
	{ "https://ca.example.com/1.0/sign/", AUD_SIGN, 0 },
	{ "https://ca.example.com/1.0/sign?x=1", AUD_SIGN, 0 },
	{ "https://ca.example.com/1.0/sign#x", AUD_SIGN, 0 },
	{ "https://ca.example.com/1.0/%73ign", AUD_SIGN, 0 },
	{ "https://ca.example.com/2.0/sign", AUD_SIGN, 0 },
	{ "https://ca.example.com/1.0/1.0/sign", AUD_SIGN, 0 },
	{ "https://ca.example.com", AUD_SIGN, 0 },
	{ "https://u@ca.example.com/1.0/sign", AUD_SIGN, 0 },
	{ "https://ca.example.com:x/1.0/sign", AUD_SIGN, 0 },
	{ "https://ca.example.com:/1.0/sign", AUD_SIGN, 0 },
	{ "https://[::1/1.0/sign", AUD_SIGN, 0 },
	{ "https://::1/1.0/sign", AUD_SIGN, 0 },
	{ "https:///1.0/sign", AUD_SIGN, 0 },
	{ "", AUD_SIGN, 0 },
	{ "STEP-CERTIFICATE-AUTHORITY", AUD_SIGN, 0 },
	{ "https://ca.example.com/1.0/revoke", AUD_REVOKE, 1 },
	{ "https://ca.example.com/revoke", AUD_REVOKE, 1 },
	{ "https://ca.example.com/1.0/sign", AUD_REVOKE, 0 },
	{ "step-certificate-authority", AUD_REVOKE, 0 },
	{ "https://ca.example.com/1.0/renew", AUD_RENEW, 1 },
	{ "https://ca.example.com/1.0/rekey", AUD_REKEY, 1 },
	{ "https://ca.example.com/1.0/renew", AUD_REKEY, 0 },
	{ "https://ca.example.com/1.0/ssh/sign", AUD_SSH_SIGN, 1 },
	{ "https://ca.example.com/ssh/sign", AUD_SSH_SIGN, 1 },
	{ "https://ca.example.com/1.0/sign", AUD_SSH_SIGN, 0 },
	{ "step-certificate-authority", AUD_SSH_SIGN, 0 },
	{ "https://ca.example.com/1.0/ssh/revoke", AUD_SSH_REVOKE, 1 },
	{ "https://ca.example.com/1.0/revoke", AUD_SSH_REVOKE, 0 },
	{ "https://ca.example.com/1.0/ssh/renew", AUD_SSH_RENEW, 1 },
	{ "https://ca.example.com/1.0/ssh/rekey", AUD_SSH_REKEY, 1 },
	{ "https://ca.example.com/1.0/ssh/sign", AUD_SSH_REKEY, 0 },
};

static void
test_aud(void **state)
{
	const struct aud_case *ac;
	size_t i;
	cJSON *c;
	char *tok;

	(void)state;
	for (i = 0; i < sizeof(aud_cases) / sizeof(aud_cases[0]); i++) {
		ac = &aud_cases[i];
		c = claims();
		set_str(c, "aud", ac->aud);
		tok = mint(c);
		if (ac->ok)
			ok(tok, ac->want);
		else
			bad(tok, ac->want, "audience");
		free(tok);
	}
	/* An unknown enum value matches nothing. */
	tok = mint(claims());
	bad(tok, (enum token_aud)0, "audience");
	free(tok);
}

static void
test_aud_forms(void **state)
{
	struct token_policy p = policy();
	struct token t;
	cJSON *c;
	char *tok;

	(void)state;
	c = claims();
	set_raw(c, "aud", "[\"https://x.example/1.0/sign\","
	    "\"https://ca.example.com/1.0/sign\"]");
	ok_claims(c);
	c = claims();
	set_raw(c, "aud", "[\"https://x.example/1.0/sign\","
	    "\"https://ca.example.com/1.0/revoke\"]");
	bad_claims(c, "audience");
	c = claims();
	set_raw(c, "aud", "[]");
	bad_claims(c, "audience");
	c = claims();
	set_raw(c, "aud", "[\"https://ca.example.com/1.0/sign\", 1]");
	bad_claims(c, "aud is not");
	c = claims();
	set_raw(c, "aud", "{\"a\":\"https://ca.example.com/1.0/sign\"}");
	bad_claims(c, "aud is not");
	c = claims();
	set_raw(c, "aud", "null");
	bad_claims(c, "aud is not");
	c = claims();
	set(c, "aud", NULL);
	bad_claims(c, "audience");
	/* dnsNames written with brackets work too. */
	c = claims();
	set_str(c, "aud", "https://[fe80::1]:9000/1.0/sign");
	tok = mint(c);
	bad(tok, AUD_SIGN, "audience");
	p.dns = (const char *const[]){ "[fe80::1]" };
	p.ndns = 1;
	ok_pol(tok, AUD_SIGN, &p, &t);
	token_free(&t);
	/* No dnsNames: only the legacy audience could match. */
	p.ndns = 0;
	bad_pol(tok, AUD_SIGN, &p, "audience");
	p.dns = NULL;
	p.ndns = 3;
	bad_pol(tok, AUD_SIGN, &p, "audience");
	free(tok);
}

/* ---- sub, sans, jti ---- */

static void
test_sub(void **state)
{
	char longs[300];
	cJSON *c;

	(void)state;
	c = claims();
	set(c, "sub", NULL);
	bad_claims(c, "sub");
	c = claims();
	set_str(c, "sub", "");
	bad_claims(c, "sub");
	c = claims();
	set_num(c, "sub", 12345);
	bad_claims(c, "sub");
	c = claims();
	set_str(c, "sub", "a\nb");
	bad_claims(c, "sub");
	memset(longs, 'a', sizeof(longs));
	longs[255] = '\0';
	c = claims();
	set_str(c, "sub", longs);
	ok_claims(c);
	longs[255] = 'a';
	longs[256] = '\0';
	c = claims();
	set_str(c, "sub", longs);
	bad_claims(c, "sub");
}

static void
test_sans(void **state)
{
	struct token_policy p = policy();
	struct token t;
	cJSON *c, *a;
	char *tok;
	int i;

	(void)state;
	/* Absent: [sub]. */
	c = claims();
	set(c, "sans", NULL);
	tok = mint(c);
	ok_pol(tok, AUD_SIGN, &p, &t);
	assert_int_equal(t.nsans, 1);
	assert_string_equal(t.sans[0], "svc.example.com");
	token_free(&t);
	free(tok);
	/* Empty: [sub] as well, as step-ca (len(sans) == 0). */
	c = claims();
	set_raw(c, "sans", "[]");
	tok = mint(c);
	ok_pol(tok, AUD_SIGN, &p, &t);
	assert_int_equal(t.nsans, 1);
	assert_string_equal(t.sans[0], "svc.example.com");
	token_free(&t);
	free(tok);
	/* Given: as given, sub not added. */
	c = claims();
	set_raw(c, "sans", "[\"a.example.com\",\"10.0.0.1\","
	    "\"mail@example.com\",\"spiffe://x/y\"]");
	tok = mint(c);
	ok_pol(tok, AUD_SIGN, &p, &t);
	assert_int_equal(t.nsans, 4);
	assert_string_equal(t.sans[0], "a.example.com");
	assert_string_equal(t.sans[3], "spiffe://x/y");
	token_free(&t);
	free(tok);
	c = claims();
	set_raw(c, "sans", "[\"a\",\"\"]");
	bad_claims(c, "san");
	c = claims();
	set_raw(c, "sans", "[\"a\",1]");
	bad_claims(c, "san");
	c = claims();
	set_raw(c, "sans", "\"a.example.com\"");
	bad_claims(c, "sans");
	c = claims();
	set_raw(c, "sans", "null");
	bad_claims(c, "sans");
	/* TOKEN_MAX_SANS, and one more. */
	c = claims();
	a = cJSON_CreateArray();
	for (i = 0; i < TOKEN_MAX_SANS; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString("h.example.com"));
	set(c, "sans", a);
	tok = mint(c);
	ok_pol(tok, AUD_SIGN, &p, &t);
	assert_int_equal(t.nsans, TOKEN_MAX_SANS);
	token_free(&t);
	free(tok);
	c = claims();
	a = cJSON_CreateArray();
	for (i = 0; i <= TOKEN_MAX_SANS; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString("h.example.com"));
	set(c, "sans", a);
	bad_claims(c, "too many sans");
	/* A bad san after good ones: the good ones are freed. */
	c = claims();
	set_raw(c, "sans", "[\"a\",\"b\",\"c\",\"\"]");
	bad_claims(c, "san");
}

static void
test_jti(void **state)
{
	struct token_policy p = policy();
	struct token t;
	uint8_t md[32];
	char hex[65];
	cJSON *c;
	char *tok;
	int i;

	(void)state;
	c = claims();
	set(c, "jti", NULL);
	tok = mint(c);
	ok_pol(tok, AUD_SIGN, &p, &t);
	SHA256((const uint8_t *)tok, strlen(tok), md);
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	assert_string_equal(t.jti, hex);
	token_free(&t);
	free(tok);
	c = claims();
	set_str(c, "jti", "");
	bad_claims(c, "jti");
	c = claims();
	set_num(c, "jti", 7);
	bad_claims(c, "jti");
}

/* ---- sha, cnf, step ---- */

static void
test_sha(void **state)
{
	struct token_policy p = policy();
	char up[65];
	cJSON *c;
	char *tok;
	size_t i;

	(void)state;
	for (i = 0; i < 64; i++)
		up[i] = (char)toupper((unsigned char)TV_ROOT_FP_HEX[i]);
	up[64] = '\0';
	c = claims();
	set_str(c, "sha", up);
	ok_claims(c);
	c = claims();
	set(c, "sha", NULL);
	ok_claims(c);
	c = claims();
	up[10] = up[10] == '0' ? '1' : '0';
	set_str(c, "sha", up);
	bad_claims(c, "sha");
	c = claims();
	up[63] = '\0';
	set_str(c, "sha", up);
	bad_claims(c, "sha");
	c = claims();
	set_str(c, "sha", "zz4bcb1110d5a2ef3b77244be7b78ff456faf5d14193a7477544"
	    "3c54b31cc31a");
	bad_claims(c, "sha");
	c = claims();
	set_num(c, "sha", 1);
	bad_claims(c, "sha");
	/* No root to compare with: a sha cannot be confirmed. */
	tok = mint(claims());
	p.root_fp = NULL;
	bad_pol(tok, AUD_SIGN, &p, "sha");
	free(tok);
}

static void
test_cnf(void **state)
{
	struct token_policy p = policy();
	struct token t;
	cJSON *c;
	char *tok;

	(void)state;
	c = claims();
	set_raw(c, "cnf", "{\"x5rt#S256\":"
	    "\"PJLNhtQoBE1yGN_ZKzr4Y2U5pyqIGiyyszkoz2raDOw\"}");
	tok = mint(c);
	ok_pol(tok, AUD_SIGN, &p, &t);
	assert_string_equal(t.cnf, "PJLNhtQoBE1yGN_ZKzr4Y2U5pyqIGiyyszkoz2raDOw");
	token_free(&t);
	free(tok);
	c = claims();
	set_raw(c, "cnf", "{\"x5rt#S256\":"
	    "\"PJLNhtQoBE1yGN_ZKzr4Y2U5pyqIGiyyszkoz2raDOw\",\"jkt\":\"x\"}");
	bad_claims(c, "cnf");
	c = claims();
	set_raw(c, "cnf", "{\"jkt\":"
	    "\"PJLNhtQoBE1yGN_ZKzr4Y2U5pyqIGiyyszkoz2raDOw\"}");
	bad_claims(c, "cnf");
	c = claims();
	set_raw(c, "cnf", "{}");
	bad_claims(c, "cnf");
	c = claims();
	set_raw(c, "cnf", "\"PJLNhtQoBE1yGN_ZKzr4Y2U5pyqIGiyyszkoz2raDOw\"");
	bad_claims(c, "cnf");
	c = claims();
	set_raw(c, "cnf", "{\"x5rt#S256\":\"PJLNhtQoBE1yGN_ZKzr4Y2U5pyqIGiyy\"}");
	bad_claims(c, "cnf");
	c = claims();
	set_raw(c, "cnf", "{\"x5rt#S256\":"
	    "\"PJLNhtQoBE1yGN_ZKzr4Y2U5pyqIGiyyszkoz2raDOw=\"}");
	bad_claims(c, "cnf");
	c = claims();
	set_raw(c, "cnf", "{\"x5rt#S256\":1}");
	bad_claims(c, "cnf");
}

static void
test_step(void **state)
{
	struct token_policy p = policy();
	struct token t;
	const cJSON *ssh, *kid;
	cJSON *c;
	char *tok;

	(void)state;
	c = claims();
	set_str(c, "aud", "https://ca.example.com/1.0/ssh/sign");
	set_raw(c, "step", "{\"ssh\":{\"certType\":\"user\",\"keyID\":"
	    "\"alice\",\"principals\":[\"alice\",\"root\"],\"validAfter\":"
	    "\"\",\"validBefore\":\"\"}}");
	tok = mint(c);
	ok_pol(tok, AUD_SSH_SIGN, &p, &t);
	assert_non_null(t.step);
	ssh = cJSON_GetObjectItemCaseSensitive(t.step, "ssh");
	kid = cJSON_GetObjectItemCaseSensitive(ssh, "keyID");
	assert_true(cJSON_IsString(kid));
	assert_string_equal(kid->valuestring, "alice");
	token_free(&t);
	assert_null(t.step);
	/* The same token is good for X.509 sign, as in step-ca. */
	ok(tok, AUD_SIGN);
	free(tok);
	c = claims();
	set_raw(c, "step", "[1]");
	bad_claims(c, "step");
	c = claims();
	set_raw(c, "step", "null");
	bad_claims(c, "step");
}

/* ---- tokens made by jwcrypto ---- */

static void
test_interop(void **state)
{
	struct token_policy p = policy();
	struct token t;

	(void)state;
	/* The policy's clock is the tokens' iat, so they never go stale. */
	p.now = TV_NOW;
	ok_pol(TV_SIGN_TOKEN, AUD_SIGN, &p, &t);
	assert_ptr_equal(t.prov, &provs[0]);
	assert_string_equal(t.sub, "svc.example.com");
	assert_int_equal(t.nsans, 2);
	assert_string_equal(t.sans[1], "127.0.0.1");
	assert_int_equal(t.exp, TV_NOW + 300);
	token_free(&t);
	bad_pol(TV_SIGN_TOKEN, AUD_REVOKE, &p, "audience");

	ok_pol(TV_SSH_TOKEN, AUD_SSH_SIGN, &p, &t);
	assert_ptr_equal(t.prov, &provs[2]);
	assert_string_equal(t.jti, "ssh-jti-1");
	assert_string_equal(t.cnf, "PJLNhtQoBE1yGN_ZKzr4Y2U5pyqIGiyyszkoz2raDOw");
	assert_non_null(cJSON_GetObjectItemCaseSensitive(t.step, "ssh"));
	assert_int_equal(t.nsans, 1);
	assert_string_equal(t.sans[0], "alice");
	token_free(&t);

	ok_pol(TV_BARE_TOKEN, AUD_REVOKE, &p, &t);
	assert_ptr_equal(t.prov, &provs[3]);
	assert_string_equal(t.jti, TV_BARE_JTI);
	assert_string_equal(t.sub, "1234567890");
	assert_int_equal(t.nbf, 0);
	token_free(&t);

	p.now = TV_NOW + 361;
	bad_pol(TV_SIGN_TOKEN, AUD_SIGN, &p, "expired");
	p.now = TV_NOW - 61;
	bad_pol(TV_SIGN_TOKEN, AUD_SIGN, &p, "nbf");
}

/* ---- durations ---- */

static const struct dur_case {
	const char	*s;
	int		 ok;
	long		 secs;
} dur_cases[] = {
	/* From Go's time/time_test.go parseDurationTests. */
	{ "0", 1, 0 },
	{ "5s", 1, 5 },
	{ "30s", 1, 30 },
	{ "1478s", 1, 1478 },
	{ "-5s", 1, -5 },
	{ "+5s", 1, 5 },
	{ "-0", 1, 0 },
	{ "+0", 1, 0 },
	{ "5.0s", 1, 5 },
	{ "5.6s", 1, 5 },
	{ "5.s", 1, 5 },
	{ ".5s", 1, 0 },
	{ "1.0s", 1, 1 },
	{ "1.00s", 1, 1 },
	{ "1.004s", 1, 1 },
	{ "100.00100s", 1, 100 },
	{ "10ns", 1, 0 },
	{ "11us", 1, 0 },
	{ "12\xc2\xb5s", 1, 0 },
	{ "12\xce\xbcs", 1, 0 },
	{ "13ms", 1, 0 },
	{ "14s", 1, 14 },
	{ "15m", 1, 900 },
	{ "16h", 1, 57600 },
	{ "3h30m", 1, 12600 },
	{ "10.5s4m", 1, 250 },
	{ "-2m3.4s", 1, -124 },		/* rounded down */
	{ "1h2m3s4ms5us6ns", 1, 3723 },
	{ "39h9m14.425s", 1, 140954 },
	{ "52763797000ns", 1, 52 },
	{ "0.3333333333333333333h", 1, 1200 },
	{ "9007199254740993ns", 1, 9007199 },
	{ "9223372036854775807ns", 1, 9223372036L },
	{ "9223372036854775.807us", 1, 9223372036L },
	{ "9223372036s854ms775us807ns", 1, 9223372036L },
	{ "-9223372036854775808ns", 1, -9223372037L },
	{ "-9223372036s854ms775us808ns", 1, -9223372037L },
	{ "0.100000000000000000000h", 1, 360 },
	{ "0.830103483285477580700h", 1, 2988 },
	{ "2562047h", 1, 9223369200L },
	{ "1000ms", 1, 1 },
	{ "999ms", 1, 0 },
	{ "-1ns", 1, -1 },
	{ "24h", 1, 86400 },
	{ "720h", 1, 2592000 },
	{ "5m0s", 1, 300 },
	/* Go's failures. */
	{ "", 0, 0 },
	{ "3", 0, 0 },
	{ "-", 0, 0 },
	{ "+", 0, 0 },
	{ "s", 0, 0 },
	{ ".", 0, 0 },
	{ "-.", 0, 0 },
	{ ".s", 0, 0 },
	{ "+.s", 0, 0 },
	{ "1d", 0, 0 },
	{ "1S", 0, 0 },
	{ "1H", 0, 0 },
	{ "\x85\x85", 0, 0 },
	{ "\xff" "ff", 0, 0 },
	{ "hello \xff" "ff world", 0, 0 },
	{ "9223372036854775810ns", 0, 0 },
	{ "9223372036854775808ns", 0, 0 },
	{ "9223372036854775.808us", 0, 0 },
	{ "9223372036854ms775us808ns", 0, 0 },
	{ "-9223372036854775809ns", 0, 0 },
	{ "2562048h", 0, 0 },
	{ "3000000h", 0, 0 },
	{ "99999999999999999999s", 0, 0 },
	{ "1h ", 0, 0 },
	{ " 1h", 0, 0 },
	{ "1 h", 0, 0 },
	{ "1h-5m", 0, 0 },
	{ "--5s", 0, 0 },
	{ "0s0", 0, 0 },
	{ "00", 0, 0 },
	{ "1e3s", 0, 0 },
};

static void
test_duration(void **state)
{
	const struct dur_case *dc;
	long secs;
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(dur_cases) / sizeof(dur_cases[0]); i++) {
		dc = &dur_cases[i];
		secs = 12345;
		rc = duration_parse(dc->s, &secs);
		if (rc != (dc->ok ? 0 : -1) || (dc->ok && secs != dc->secs))
			print_error("duration \"%s\": rc %d secs %ld\n", dc->s,
			    rc, secs);
		assert_int_equal(rc, dc->ok ? 0 : -1);
		if (dc->ok)
			assert_int_equal(secs, dc->secs);
	}
	assert_int_equal(duration_parse(NULL, &secs), -1);
	assert_int_equal(duration_parse("1s", NULL), -1);
}

/* ---- provisioners ---- */

static void
test_load_vectors(void **state)
{
	const struct claims *c;

	(void)state;
	assert_int_equal(nprovs, 4);
	assert_int_equal(provs[0].type, PROV_JWK);
	assert_string_equal(provs[0].name, TV_ADMIN_ISS);
	assert_string_equal(provs[0].kid, TV_ADMIN_KID);
	assert_non_null(provs[0].key);
	/* admin: its own claims over the authority's over the defaults. */
	c = &provs[0].claims;
	assert_int_equal(c->min_tls, 300);
	assert_int_equal(c->max_tls, 48 * 3600);
	assert_int_equal(c->default_tls, 12 * 3600);
	assert_int_equal(c->enable_ssh, 1);
	assert_int_equal(c->disable_renewal, 0);
	assert_int_equal(c->renew_after_expiry, 0);
	assert_int_equal(c->default_user_ssh, 16 * 3600);
	/* bench: the authority's over the defaults. */
	c = &provs[1].claims;
	assert_int_equal(c->max_tls, 24 * 3600);
	assert_int_equal(c->default_tls, 12 * 3600);
	assert_int_equal(c->enable_ssh, 0);
	assert_int_equal(c->min_user_ssh, 300);
	assert_int_equal(c->max_user_ssh, 24 * 3600);
	assert_int_equal(c->min_host_ssh, 300);
	assert_int_equal(c->max_host_ssh, 720 * 3600);
	assert_int_equal(c->default_host_ssh, 720 * 3600);
	c = &provs[2].claims;
	assert_int_equal(c->default_user_ssh, 5400);
	assert_string_equal(provs[3].kid, TV_P384_KID);

	assert_ptr_equal(provisioner_find(provs, nprovs, TV_BENCH_ISS,
	    TV_BENCH_KID), &provs[1]);
	assert_null(provisioner_find(provs, nprovs, TV_BENCH_ISS,
	    TV_ADMIN_KID));
	assert_null(provisioner_find(provs, nprovs, NULL, TV_ADMIN_KID));
	assert_null(provisioner_find(NULL, 0, TV_BENCH_ISS, TV_BENCH_KID));
}

/* authority as `p11ca init` writes it (encryptedKey shortened). */
static const char INIT_AUTHORITY[] =
    "{\"provisioners\":[{\"type\":\"JWK\",\"name\":\"admin\",\"key\":{"
    "\"use\":\"sig\",\"kty\":\"EC\","
    "\"kid\":\"r6wHDqvk-VplEEAM8YDRERhmCprj9luv0ZNTs3FoApo\","
    "\"crv\":\"P-256\",\"alg\":\"ES256\","
    "\"x\":\"QrpBL-ZbxZ7yje_yVP7dks38l91pQimQupKSvbz-x8U\","
    "\"y\":\"OD3PdyhY1uVHmbQ9thOUbP7SgtJxaqK3waMkQrzaCyk\"},"
    "\"encryptedKey\":\"eyJhbGciOiJQQkVTMi1IUzI1NitBMTI4S1ciLCJjdHkiOiJqd2sr"
    "anNvbiIsImVuYyI6IkEyNTZHQ00iLCJwMmMiOjEwMDAwMCwicDJzIjoiQktqR3IwODZ3"
    "MW9ISURUQU5ZNjBxUSJ9.WS__v7bJFPALnfpTi5qJJqWbAJtqvPzbih6B8R1WMAQe7nr"
    "H2G9crg.pty25Nl5WVUCLMMu.J6e4raux8874WM1-pnDzJMdURI6mipfXRlrr0kUY.gi"
    "bgZUmD8f0_sILUP-a83Q\"}]}";

/* An authority with one JWK provisioner (admin's key) and extra members. */
#define KEYJ(extra) \
	"{\"kty\":\"EC\",\"crv\":\"P-256\"," \
	"\"x\":\"3ljWAmMlmDmT5kajI2_pK7OYo3_YR1wCJU-5o-F0kx8\"," \
	"\"y\":\"nprOWq25VlxioOUnX5O9tP-KQAFuvcLlCk5cVfWkqZY\"" extra "}"
#define GOODKEY KEYJ(",\"kid\":\"W0SwnlQRwnGieF2fREqW0Ua5YXaZU88ztB6qrQvnctU\"")
#define PROV(type, name, key, extra) \
	"{\"type\":\"" type "\",\"name\":\"" name "\",\"key\":" key extra "}"
#define AUTH(provs, extra) "{\"provisioners\":[" provs "]" extra "}"

static const struct load_case {
	const char	*json;
	int		 ok;
	const char	*err;
} load_cases[] = {
	{ AUTH(PROV("JWK", "a", GOODKEY, ""), ""), 1, NULL },
	{ AUTH(PROV("jwk", "a", GOODKEY, ""), ""), 1, NULL },
	{ AUTH(PROV("Jwk", "a", GOODKEY, ",\"encryptedKey\":\"x.y.z.w.v\""),
	    ""), 1, NULL },
	{ AUTH("", ""), 1, NULL },
	{ AUTH(PROV("JWK", "a", GOODKEY, ",\"claims\":null"),
	    ",\"claims\":null"), 1, NULL },
	{ AUTH(PROV("JWK", "a", GOODKEY, ",\"claims\":{\"minTLSCertDuration\":"
	    "\"1m\",\"maxTLSCertDuration\":\"1h\",\"defaultTLSCertDuration\":"
	    "\"1h\"}"), ""), 1, NULL },
	/* Same key under two names: allowed, as step-ca. */
	{ AUTH(PROV("JWK", "a", GOODKEY, "") "," PROV("JWK", "b", GOODKEY, ""),
	    ""), 1, NULL },

	{ "[]", 0, "authority" },
	{ "{}", 0, "provisioners" },
	{ "{\"provisioners\":{}}", 0, "provisioners" },
	{ AUTH("1", ""), 0, "not an object" },
	{ AUTH(PROV("JWK", "a", KEYJ(",\"kid\":\"nope\""), ""), ""), 0,
	    "thumbprint" },
	{ AUTH(PROV("JWK", "a",
	    KEYJ(",\"kid\":\"bSeActD89jvLuBwsrP88PQ5ooVztTH2NSx1PCrF_S-I\""),
	    ""), ""), 0, "thumbprint" },
	{ AUTH(PROV("JWK", "a", KEYJ(""), ""), ""), 0, "kid" },
	{ AUTH(PROV("JWK", "a", KEYJ(",\"kid\":\"\""), ""), ""), 0, "kid" },
	{ AUTH(PROV("X5C", "a", GOODKEY, ""), ""), 0, "type" },
	{ AUTH(PROV("OIDC", "a", GOODKEY, ""), ""), 0, "type" },
	{ AUTH(PROV("JWKS", "a", GOODKEY, ""), ""), 0, "type" },
	{ AUTH("{\"name\":\"a\",\"key\":" GOODKEY "}", ""), 0, "type" },
	{ AUTH(PROV("JWK", "", GOODKEY, ""), ""), 0, "name" },
	{ AUTH("{\"type\":\"JWK\",\"key\":" GOODKEY "}", ""), 0, "name" },
	{ AUTH("{\"type\":\"JWK\",\"name\":\"a\"}", ""), 0, "key" },
	{ AUTH(PROV("JWK", "a", "\"abc\"", ""), ""), 0, "key" },
	{ AUTH(PROV("JWK", "a", GOODKEY, "") "," PROV("JWK", "a", GOODKEY, ""),
	    ""), 0, "duplicate name" },
	{ AUTH(PROV("JWK", "a", GOODKEY, ",\"type\":\"JWK\""), ""), 0,
	    "duplicate member" },
	/* Go would take the last of these, matching names without case. */
	{ AUTH(PROV("JWK", "a", GOODKEY, ",\"Type\":\"OIDC\""), ""), 0,
	    "duplicate member" },
	{ AUTH("{\"Type\":\"JWK\",\"name\":\"a\",\"key\":" GOODKEY "}", ""),
	    0, "type" },
	{ AUTH(PROV("JWK", "a", KEYJ(",\"kid\":\"W0SwnlQRwnGieF2fREqW0Ua5YXaZ"
	    "U88ztB6qrQvnctU\",\"d\":\"QkeRzJjNR2mG8423pOgH-iYu97jvlsOtZj-NP2qDC5"
	    "0\""), ""), ""), 0, "private" },
	{ AUTH(PROV("JWK", "a", KEYJ(",\"kid\":\"W0SwnlQRwnGieF2fREqW0Ua5YXaZ"
	    "U88ztB6qrQvnctU\",\"use\":\"enc\""), ""), ""), 0, "use" },
	{ AUTH(PROV("JWK", "a", KEYJ(",\"kid\":\"W0SwnlQRwnGieF2fREqW0Ua5YXaZ"
	    "U88ztB6qrQvnctU\",\"alg\":\"ES384\""), ""), ""), 0, "alg" },
	{ AUTH(PROV("JWK", "a", KEYJ(",\"kid\":\"W0SwnlQRwnGieF2fREqW0Ua5YXaZ"
	    "U88ztB6qrQvnctU\",\"alg\":\"HS256\""), ""), ""), 0, "alg" },
	{ AUTH(PROV("JWK", "a", "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\","
	    "\"y\":\"AA\",\"kid\":\"x\"}", ""), ""), 0, "public JWK" },
	{ AUTH(PROV("JWK", "a", "{\"kty\":\"oct\",\"kid\":\"x\"}", ""), ""), 0,
	    "public JWK" },
	{ AUTH(PROV("JWK", "a", GOODKEY, ",\"encryptedKey\":1"), ""), 0,
	    "encryptedKey" },
	/* Claims. */
	{ AUTH(PROV("JWK", "a", GOODKEY, ",\"claims\":{\"maxTLSCertDuration\":"
	    "\"5x\"}"), ""), 0, "maxTLSCertDuration" },
	{ AUTH(PROV("JWK", "a", GOODKEY, ",\"claims\":{\"maxTLSCertDuration\":"
	    "\"5\"}"), ""), 0, "maxTLSCertDuration" },
	{ AUTH(PROV("JWK", "a", GOODKEY, ",\"claims\":{\"maxTLSCertDuration\":"
	    "3600}"), ""), 0, "maxTLSCertDuration" },
	{ AUTH(PROV("JWK", "a", GOODKEY, ",\"claims\":{\"maxTLSCertDuration\":"
	    "\"1m\"}"), ""), 0, "min <= default <= max" },
	{ AUTH(PROV("JWK", "a", GOODKEY, ",\"claims\":{\"minTLSCertDuration\":"
	    "\"25h\"}"), ""), 0, "min <= default <= max" },
	{ AUTH(PROV("JWK", "a", GOODKEY, ",\"claims\":{\"defaultTLSCertDuration\""
	    ":\"48h\"}"), ""), 0, "min <= default <= max" },
	{ AUTH(PROV("JWK", "a", GOODKEY, ",\"claims\":{\"minTLSCertDuration\":"
	    "\"0s\"}"), ""), 0, "at least 1s" },
	{ AUTH(PROV("JWK", "a", GOODKEY, ",\"claims\":{\"minTLSCertDuration\":"
	    "\"-5m\"}"), ""), 0, "at least 1s" },
	{ AUTH(PROV("JWK", "a", GOODKEY, ",\"claims\":{\"minTLSCertDuration\":"
	    "\"500ms\"}"), ""), 0, "at least 1s" },
	{ AUTH(PROV("JWK", "a", GOODKEY, ",\"claims\":{\"maxHostSSHCertDuration"
	    "\":\"1h\"}"), ""), 0, "host SSH" },
	{ AUTH(PROV("JWK", "a", GOODKEY, ",\"claims\":{\"minUserSSHCertDuration"
	    "\":\"17h\"}"), ""), 0, "user SSH" },
	{ AUTH(PROV("JWK", "a", GOODKEY, ",\"claims\":{\"enableSSHCA\":1}"),
	    ""), 0, "boolean" },
	{ AUTH(PROV("JWK", "a", GOODKEY, ",\"claims\":{\"enableSsh\":true}"),
	    ""), 0, "unknown claim" },
	{ AUTH(PROV("JWK", "a", GOODKEY, ",\"claims\":[]"), ""), 0,
	    "not an object" },
	{ AUTH(PROV("JWK", "a", GOODKEY, ",\"claims\":{\"enableSSHCA\":true,"
	    "\"enableSSHCA\":false}"), ""), 0, "duplicate" },
	{ AUTH(PROV("JWK", "a", GOODKEY, ""), ",\"claims\":{"
	    "\"maxTLSCertDuration\":\"1m\"}"), 0, "authority.claims" },
	{ AUTH(PROV("JWK", "a", GOODKEY, ""), ",\"claims\":{"
	    "\"maxTLSCertDuration\":true}"), 0, "authority.claims" },
	/* The global claims are resolved first, then the provisioner's. */
	{ AUTH(PROV("JWK", "a", GOODKEY, ",\"claims\":{\"maxTLSCertDuration\":"
	    "\"2h\"}"), ",\"claims\":{\"defaultTLSCertDuration\":\"3h\"}"), 0,
	    "min <= default <= max" },
	{ AUTH(PROV("JWK", "a", GOODKEY, ""), ",\"provisioners\":[]"), 0,
	    "duplicate" },
};

static void
test_load(void **state)
{
	struct provisioner *p = (void *)1;
	const struct load_case *lc;
	char err[256];
	cJSON *a;
	size_t i;
	int n = 99, rc;

	(void)state;
	for (i = 0; i < sizeof(load_cases) / sizeof(load_cases[0]); i++) {
		lc = &load_cases[i];
		/* As appliance/config.c parses ca.json: plain cJSON. */
		a = cJSON_Parse(lc->json);
		assert_non_null(a);
		err[0] = '\0';
		rc = provisioners_load(a, &p, &n, err, sizeof(err));
		cJSON_Delete(a);
		if (rc != (lc->ok ? 0 : -1) || (!lc->ok &&
		    strstr(err, lc->err) == NULL))
			print_error("case %zu: rc %d err \"%s\"\n", i, rc, err);
		assert_int_equal(rc, lc->ok ? 0 : -1);
		if (!lc->ok) {
			assert_null(p);
			assert_int_equal(n, 0);
			assert_non_null(strstr(err, lc->err));
		}
		provisioners_free(p, n);
	}
	assert_int_equal(provisioners_load(NULL, &p, &n, err, sizeof(err)),
	    -1);
	a = pj(AUTH(PROV("JWK", "a", GOODKEY, ""), ""));
	assert_int_equal(provisioners_load(a, NULL, &n, err, sizeof(err)), -1);
	/* err may be NULL. */
	assert_int_equal(provisioners_load(a, &p, &n, NULL, 0), 0);
	provisioners_free(p, n);
	cJSON_Delete(a);
	provisioners_free(NULL, 0);
}

static void
test_load_init(void **state)
{
	struct provisioner *p = NULL;
	char err[256];
	cJSON *a = pj(INIT_AUTHORITY);
	int n = 0;

	(void)state;
	if (provisioners_load(a, &p, &n, err, sizeof(err)) != 0)
		print_error("%s\n", err);
	assert_int_equal(n, 1);
	assert_string_equal(p[0].name, "admin");
	assert_string_equal(p[0].kid,
	    "r6wHDqvk-VplEEAM8YDRERhmCprj9luv0ZNTs3FoApo");
	assert_int_equal(p[0].claims.default_tls, 24 * 3600);
	assert_int_equal(p[0].claims.max_host_ssh, 720 * 3600);
	provisioners_free(p, n);
	cJSON_Delete(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_other_provisioners),
		cmocka_unit_test(test_wrong_kid),
		cmocka_unit_test(test_wrong_iss),
		cmocka_unit_test(test_iss_kid_mismatch),
		cmocka_unit_test(test_no_kid),
		cmocka_unit_test(test_other_key),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_alg_none),
		cmocka_unit_test(test_hs256),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_nbf_iat),
		cmocka_unit_test(test_no_exp),
		cmocka_unit_test(test_time_types),
		cmocka_unit_test(test_lifetime),
		cmocka_unit_test(test_aud),
		cmocka_unit_test(test_aud_forms),
		cmocka_unit_test(test_sub),
		cmocka_unit_test(test_sans),
		cmocka_unit_test(test_jti),
		cmocka_unit_test(test_sha),
		cmocka_unit_test(test_cnf),
		cmocka_unit_test(test_step),
		cmocka_unit_test(test_interop),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_load_vectors),
		cmocka_unit_test(test_load),
		cmocka_unit_test(test_load_init),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

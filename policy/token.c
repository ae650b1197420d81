/*
 * token.c — step-ca one-time tokens from JWK provisioners. See token.h
 * for the order of checks; the comments marked "stricter" or "laxer"
 * are the places where we differ from step-ca 0.19 (docs/decisions.md).
 *
 * Rules that hold throughout:
 * - A claim given as JSON null is a claim of the wrong type, not an
 *   absent one (stricter: Go decodes null as absent; no step client
 *   sends null).
 * - Nothing from the payload is used before the signature has been
 *   checked, except iss, which only selects the key.
 * - On failure *t is left zeroed, so the caller has nothing to free;
 *   token_free() on it is harmless all the same.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "policy/jose.h"
#include "policy/ssh.h"
#include "policy/token.h"

/* The largest compact token looked at (jose's own cap, 64 KiB). */
#define TOKEN_MAX_LEN		JOSE_MAX_COMPACT
#define TOKEN_MAX_LIFETIME	3600	/* when the policy gives none */
#define TOKEN_STR_MAX		255	/* sub, jti, each of the sans */
/* 9999-12-31T23:59:59Z, the last second X.509 can express. */
#define TOKEN_TIME_MAX		253402300799.0

#define LEGACY_AUD		"step-certificate-authority"

/*
 * The aud path(s) each endpoint accepts, after "https://host[:port]/"
 * or ".../1.0/". step-ca accepts an SSH sign audience for X.509 sign.
 */
static const struct aud_def {
	enum token_aud	 aud;
	const char	*paths[2];
	int		 legacy;	/* also "step-certificate-authority" */
} aud_defs[] = {
	{ AUD_SIGN, { "sign", "ssh/sign" }, 1 },
	{ AUD_REVOKE, { "revoke", NULL }, 0 },
	{ AUD_RENEW, { "renew", NULL }, 0 },
	{ AUD_REKEY, { "rekey", NULL }, 0 },
	{ AUD_SSH_SIGN, { "ssh/sign", NULL }, 0 },
	{ AUD_SSH_REVOKE, { "ssh/revoke", NULL }, 0 },
	{ AUD_SSH_RENEW, { "ssh/renew", NULL }, 0 },
	{ AUD_SSH_REKEY, { "ssh/rekey", NULL }, 0 },
};

/* The prefixes of an aud path: step-ca serves every route at both. */
static const char *const aud_prefixes[] = { "/1.0/", "/" };

static int
fail(char *why, size_t whysz, const char *reason)
{
	if (why != NULL && whysz > 0)
		snprintf(why, whysz, "%s", reason);
	return -1;
}

/* ---- aud ---- */

/* 1 when host[0..hlen) is dnsName, ignoring case and IPv6 brackets. */
static int
host_is(const char *host, size_t hlen, const char *dns)
{
	size_t dlen = strlen(dns);

	if (dlen >= 2 && dns[0] == '[' && dns[dlen - 1] == ']') {
		dns++;
		dlen -= 2;
	}
	return dlen == hlen && dlen > 0 && strncasecmp(host, dns, hlen) == 0;
}

/*
 * 1 when u is https://{dnsName}[:port]{prefix}{path} for one of the
 * CA's dnsNames and one of def's paths. step-ca compares the whole URL
 * with the port stripped, so userinfo, a query, a fragment, escapes or
 * a trailing slash never match there either; we refuse them outright.
 * The host is compared without regard to case (laxer: Go's url.Parse
 * keeps its case) and the scheme too (as url.Parse lower-cases it).
 */
static int
aud_url_ok(const char *u, const struct aud_def *def,
    const struct token_policy *pol)
{
	const char *host, *p, *rest;
	size_t hlen, i, n, k;
	int ok;

	if (strncasecmp(u, "https://", 8) != 0)
		return 0;
	host = u + 8;
	if (*host == '[') {
		/* Brackets are for IPv6 only (stricter: Go takes "[name]"). */
		if ((p = strchr(host, ']')) == NULL ||
		    memchr(host, ':', (size_t)(p - host)) == NULL)
			return 0;
		host++;
		hlen = (size_t)(p - host);
		p++;
	} else {
		hlen = strcspn(host, ":/");
		p = host + hlen;
	}
	if (hlen == 0)
		return 0;
	/* The port is ignored, as step-ca ignores it, but must be one. */
	if (*p == ':') {
		p++;
		for (n = 0; p[n] >= '0' && p[n] <= '9'; n++)
			;
		if (n == 0 || n > 5)
			return 0;
		p += n;
	}
	ok = 0;
	for (i = 0; pol->dns != NULL && (int)i < pol->ndns && !ok; i++)
		if (pol->dns[i] != NULL && host_is(host, hlen, pol->dns[i]))
			ok = 1;
	if (!ok)
		return 0;
	for (i = 0; i < sizeof(aud_prefixes) / sizeof(aud_prefixes[0]); i++) {
		n = strlen(aud_prefixes[i]);
		if (strncmp(p, aud_prefixes[i], n) != 0)
			continue;
		rest = p + n;
		for (k = 0; k < 2 && def->paths[k] != NULL; k++)
			if (strcmp(rest, def->paths[k]) == 0)
				return 1;
	}
	return 0;
}

/* aud is a string or an array of strings (as go-jose's jwt.Audience). */
static int
check_aud(const cJSON *aud, enum token_aud want,
    const struct token_policy *pol, const char **reason)
{
	const struct aud_def *def = NULL;
	const cJSON *a;
	size_t i;
	int match = 0;

	for (i = 0; i < sizeof(aud_defs) / sizeof(aud_defs[0]); i++)
		if (aud_defs[i].aud == want)
			def = &aud_defs[i];
	*reason = "invalid audience";
	if (def == NULL || aud == NULL)
		return -1;
	if (cJSON_IsString(aud)) {
		match = (def->legacy && strcmp(aud->valuestring,
		    LEGACY_AUD) == 0) || aud_url_ok(aud->valuestring, def, pol);
	} else if (cJSON_IsArray(aud)) {
		cJSON_ArrayForEach(a, aud) {
			if (!cJSON_IsString(a)) {
				*reason = "aud is not a string or strings";
				return -1;
			}
			if ((def->legacy && strcmp(a->valuestring,
			    LEGACY_AUD) == 0) ||
			    aud_url_ok(a->valuestring, def, pol))
				match = 1;
		}
	} else {
		*reason = "aud is not a string or strings";
		return -1;
	}
	return match ? 0 : -1;
}

/* ---- times ---- */

/*
 * A NumericDate: a JSON number, truncated to whole seconds as go-jose
 * does. Stricter: negative, non-finite or past-9999 values are refused.
 * Returns 1 when present, 0 when absent, -1 when malformed.
 */
static int
get_time(const cJSON *claims, const char *name, time_t *out)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(claims, name);
	double v;

	*out = 0;
	if (m == NULL)
		return 0;
	if (!cJSON_IsNumber(m))
		return -1;
	v = m->valuedouble;
	if (!isfinite(v) || v < 0 || v > TOKEN_TIME_MAX)
		return -1;
	*out = (time_t)v;
	return 1;
}

/*
 * go-jose's ValidateWithLeeway with one minute, plus what step-ca does
 * not check (stricter): exp is required, exp may not precede nbf or
 * iat, and exp - (nbf, else iat, else now) is capped.
 */
static int
check_times(const cJSON *claims, const struct token_policy *pol,
    struct token *t, const char **reason)
{
	long cap = pol->max_lifetime > 0 ? pol->max_lifetime :
	    TOKEN_MAX_LIFETIME;
	time_t now = pol->now, from;
	int hexp, hnbf, hiat;

	*reason = "exp, nbf or iat is not a valid NumericDate";
	if ((hexp = get_time(claims, "exp", &t->exp)) == -1 ||
	    (hnbf = get_time(claims, "nbf", &t->nbf)) == -1 ||
	    (hiat = get_time(claims, "iat", &t->iat)) == -1)
		return -1;
	*reason = "token has no exp";
	if (!hexp)
		return -1;
	*reason = "token expired";
	if (t->exp < now - TOKEN_LEEWAY)
		return -1;
	*reason = "token not yet valid (nbf)";
	if (hnbf && t->nbf > now + TOKEN_LEEWAY)
		return -1;
	*reason = "token issued in the future (iat)";
	if (hiat && t->iat > now + TOKEN_LEEWAY)
		return -1;
	*reason = "token expires before nbf or iat";
	if ((hnbf && t->exp < t->nbf) || (hiat && t->exp < t->iat))
		return -1;
	from = hnbf ? t->nbf : hiat ? t->iat : now;
	*reason = "token lifetime over the limit";
	if (t->exp - from > cap)
		return -1;
	return 0;
}

/* ---- strings ---- */

/*
 * A claim string: non-empty, at most TOKEN_STR_MAX bytes, and free of
 * control characters (stricter: these end up in logs, the store and
 * certificates, where none of them belongs).
 */
static int
str_ok(const char *s)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++)
		if ((unsigned char)s[n] < 0x20 || s[n] == 0x7f ||
		    n >= TOKEN_STR_MAX)
			return 0;
	return n > 0;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * sha: the root's SHA-256 in hex, either case. Stricter: step-ca does
 * not look at it (only the client does), but a token made for another
 * CA has no business here. Without a configured root it cannot match.
 */
static int
check_sha(const cJSON *sha, const struct token_policy *pol)
{
	const char *s;
	uint8_t fp[32];
	int i, hi, lo;

	if (!cJSON_IsString(sha) || pol->root_fp == NULL)
		return -1;
	s = sha->valuestring;
	if (strlen(s) != 2 * sizeof(fp))
		return -1;
	for (i = 0; i < (int)sizeof(fp); i++) {
		if ((hi = hexval(s[2 * i])) < 0 ||
		    (lo = hexval(s[2 * i + 1])) < 0)
			return -1;
		fp[i] = (uint8_t)(hi << 4 | lo);
	}
	return memcmp(fp, pol->root_fp, sizeof(fp)) == 0 ? 0 : -1;
}

/*
 * cnf: only {"x5rt#S256": <base64url SHA-256>}, what `step ca token
 * --cnf` writes; the caller compares it with the CSR's fingerprint.
 * Other confirmation methods (jkt, kid, x5c, ...) are refused rather than
 * ignored, so that no token we accept carries a binding we do not
 * enforce. step-ca 0.19 ignores cnf altogether.
 */
static int
check_cnf(const cJSON *cnf, struct token *t)
{
	const cJSON *m, *fp = NULL;
	uint8_t *b = NULL;
	size_t bl = 0;
	int ok;

	if (!cJSON_IsObject(cnf))
		return -1;
	for (m = cnf->child; m != NULL; m = m->next) {
		if (strcmp(m->string, "x5rt#S256") != 0)
			return -1;
		fp = m;
	}
	if (!cJSON_IsString(fp) || strlen(fp->valuestring) >= sizeof(t->cnf))
		return -1;
	if (jose_b64url_decode(fp->valuestring, strlen(fp->valuestring), &b,
	    &bl) != JOSE_OK)
		return -1;
	ok = bl == SHA256_DIGEST_LENGTH;
	free(b);
	if (!ok)
		return -1;
	memcpy(t->cnf, fp->valuestring, strlen(fp->valuestring) + 1);
	return 0;
}

/*
 * sans: an array of strings. As step-ca, an absent or empty array means
 * [sub] (it tests len(sans) == 0, so both read the same).
 */
static int
get_sans(const cJSON *claims, struct token *t, const char **reason)
{
	const cJSON *sans, *s;
	int n;

	sans = cJSON_GetObjectItemCaseSensitive(claims, "sans");
	*reason = "sans is not an array of strings";
	if (sans != NULL && !cJSON_IsArray(sans))
		return -1;
	n = sans == NULL ? 0 : cJSON_GetArraySize(sans);
	*reason = "too many sans";
	if (n > TOKEN_MAX_SANS)
		return -1;
	if (n == 0) {
		if ((t->sans[0] = strdup(t->sub)) == NULL) {
			*reason = "out of memory";
			return -1;
		}
		t->nsans = 1;
		return 0;
	}
	cJSON_ArrayForEach(s, sans) {
		*reason = "invalid san";
		if (!cJSON_IsString(s) || !str_ok(s->valuestring))
			return -1;
		if ((t->sans[t->nsans] = strdup(s->valuestring)) == NULL) {
			*reason = "out of memory";
			return -1;
		}
		t->nsans++;
	}
	return 0;
}

static void
hexsha256(const char *s, char out[2 * SHA256_DIGEST_LENGTH + 1])
{
	uint8_t md[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)s, strlen(s), md);
	hex_lower(out, md, sizeof(md));
}

/* Everything after the signature: claims is authenticated by now. */
static int
check_claims(const char *compact, const cJSON *claims, enum token_aud aud,
    const struct token_policy *pol, struct token *t, const char **reason)
{
	const cJSON *m;

	if (check_aud(cJSON_GetObjectItemCaseSensitive(claims, "aud"), aud,
	    pol, reason) == -1)
		return -1;
	if (check_times(claims, pol, t, reason) == -1)
		return -1;
	m = cJSON_GetObjectItemCaseSensitive(claims, "sub");
	*reason = "missing or invalid sub";
	if (!cJSON_IsString(m) || !str_ok(m->valuestring))
		return -1;
	memcpy(t->sub, m->valuestring, strlen(m->valuestring) + 1);
	/*
	 * Stricter: an empty jti is refused; step-ca reads "" as absent.
	 * The sha256 fallback is step-ca's reuse key for a token without one.
	 */
	if ((m = cJSON_GetObjectItemCaseSensitive(claims, "jti")) != NULL) {
		*reason = "invalid jti";
		if (!cJSON_IsString(m) || !str_ok(m->valuestring))
			return -1;
		memcpy(t->jti, m->valuestring, strlen(m->valuestring) + 1);
	} else
		hexsha256(compact, t->jti);
	if (get_sans(claims, t, reason) == -1)
		return -1;
	*reason = "sha does not match the root";
	if ((m = cJSON_GetObjectItemCaseSensitive(claims, "sha")) != NULL &&
	    check_sha(m, pol) == -1)
		return -1;
	*reason = "unsupported or invalid cnf";
	if ((m = cJSON_GetObjectItemCaseSensitive(claims, "cnf")) != NULL &&
	    check_cnf(m, t) == -1)
		return -1;
	if ((m = cJSON_GetObjectItemCaseSensitive(claims, "step")) != NULL) {
		*reason = "step is not an object";
		if (!cJSON_IsObject(m))
			return -1;
		*reason = "out of memory";
		if ((t->step = cJSON_Duplicate(m, 1)) == NULL)
			return -1;
	}
	return 0;
}

/*
 * The signature by key, then the claims, read from the verified bytes
 * only (re-parsed, which keeps that obvious), and the start-time rule:
 * 0 with *claims (the caller's to delete), or -1 with *reason.
 */
static int
verified(const char *compact, EVP_PKEY *key, enum token_aud aud,
    const struct token_policy *pol, struct token *t, cJSON **claims,
    const char **reason)
{
	uint8_t *pl = NULL;
	size_t pllen = 0;
	int jrc;

	*claims = NULL;
	if ((jrc = jose_jws_verify(compact, key, NULL, NULL, NULL, &pl,
	    &pllen)) != JOSE_OK) {
		*reason = jrc == JOSE_ERR_ALG ? "alg does not fit the key" :
		    "bad signature";
		return -1;
	}
	*claims = jose_json_parse(pl, pllen);
	free(pl);
	if (*claims == NULL) {
		*reason = "malformed claims";
		return -1;
	}
	if (check_claims(compact, *claims, aud, pol, t, reason) == -1)
		return -1;
	if (pol->started != 0 && t->iat != 0 && t->iat < pol->started) {
		*reason = "token issued before the bootstrap of certificate "
		    "authority";
		return -1;
	}
	return 0;
}

int
token_verify(const char *compact, enum token_aud aud,
    const struct token_policy *pol, struct token *t, char *why,
    size_t whysz)
{
	cJSON *hdr = NULL, *unv = NULL, *claims = NULL;
	const cJSON *kid, *iss;
	const struct provisioner *prov;
	const char *reason = "invalid token";
	int rc = -1, jrc;

	if (t == NULL)
		return fail(why, whysz, "no token to fill");
	memset(t, 0, sizeof(*t));
	if (compact == NULL || pol == NULL)
		return fail(why, whysz, "no token or policy");
	if (strnlen(compact, TOKEN_MAX_LEN + 1) > TOKEN_MAX_LEN)
		return fail(why, whysz, "token too large");

	/* 1. Untrusted: just enough to choose the key. */
	if ((jrc = jose_jws_parse_unverified(compact, &hdr, &unv)) !=
	    JOSE_OK) {
		/* none, HS256 and unknown algs are refused here already. */
		reason = jrc == JOSE_ERR_ALG ? "alg refused" : "malformed token";
		goto out;
	}
	kid = cJSON_GetObjectItemCaseSensitive(hdr, "kid");
	iss = cJSON_GetObjectItemCaseSensitive(unv, "iss");
	if (!cJSON_IsString(kid) || !cJSON_IsString(iss)) {
		reason = "token has no kid or no iss";
		goto out;
	}
	/* 2. step-ca finds provisioners by iss + ":" + kid; so do we. */
	if ((prov = provisioner_find(pol->provs, pol->nprovs, iss->valuestring,
	    kid->valuestring)) == NULL) {
		reason = "provisioner not found";
		goto out;
	}
	/* 3. The key decides which algs are acceptable; jose checks that. */
	if (verified(compact, prov->key, aud, pol, t, &claims, &reason) == -1)
		goto out;
	t->prov = prov;
	memcpy(t->iss, prov->name, sizeof(t->iss));
	rc = 0;
out:
	cJSON_Delete(hdr);
	cJSON_Delete(unv);
	cJSON_Delete(claims);
	if (rc == -1) {
		token_free(t);
		return fail(why, whysz, reason);
	}
	return 0;
}

void
token_free(struct token *t)
{
	int i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nsans && i < TOKEN_MAX_SANS; i++)
		free(t->sans[i]);
	cJSON_Delete(t->step);
	memset(t, 0, sizeof(*t));
}

/* ---- x5c tokens ---- */

/* Standard padded base64 (x5c, sshpop headers); malloc'ed, or NULL. */
static uint8_t *
b64std_decode(const char *s, size_t max, size_t *outlen)
{
	uint8_t	*out;

	return jose_b64_decode(s, strlen(s), max, &out, outlen) == 0 ? out :
	    NULL;
}

/* The first certificate of a header's x5c array (standard base64 DER). */
static X509 *
x5c_leaf(const cJSON *arr)
{
	const cJSON	*c;
	const unsigned char *p;
	unsigned char	*der;
	size_t		 n;
	X509		*x = NULL;

	if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 1 ||
	    cJSON_GetArraySize(arr) > 8)
		return NULL;
	c = cJSON_GetArrayItem(arr, 0);
	if (!cJSON_IsString(c) ||
	    (der = b64std_decode(c->valuestring, 16384, &n)) == NULL)
		return NULL;
	p = der;
	/* Exactly one certificate, nothing after it. */
	if ((x = d2i_X509(NULL, &p, (long)n)) != NULL && p != der + n) {
		X509_free(x);
		x = NULL;
	}
	free(der);
	return x;
}

int
token_verify_x5c(const char *compact, enum token_aud aud,
    const struct token_policy *pol, struct token *t, X509 **leaf,
    char *why, size_t whysz)
{
	cJSON *hdr = NULL, *unv = NULL, *claims = NULL;
	const cJSON *x5c, *iss;
	const char *reason = "invalid token";
	X509 *x = NULL;
	EVP_PKEY *ipub;
	char cn[256];
	time_t now;
	int rc = -1, jrc, insecure = 0, n;

	if (t == NULL || leaf == NULL)
		return fail(why, whysz, "no token to fill");
	memset(t, 0, sizeof(*t));
	*leaf = NULL;
	if (compact == NULL || pol == NULL || pol->issuer == NULL)
		return fail(why, whysz, "no token or policy");
	if (strnlen(compact, TOKEN_MAX_LEN + 1) > TOKEN_MAX_LEN)
		return fail(why, whysz, "token too large");
	if ((jrc = jose_jws_parse_unverified(compact, &hdr, &unv)) !=
	    JOSE_OK) {
		reason = jrc == JOSE_ERR_ALG ? "alg refused" : "malformed token";
		goto out;
	}
	if ((x5c = cJSON_GetObjectItemCaseSensitive(hdr, "x5c")) == NULL) {
		x5c = cJSON_GetObjectItemCaseSensitive(hdr, "x5cInsecure");
		insecure = 1;
	}
	if ((x = x5c_leaf(x5c)) == NULL) {
		reason = "no usable x5c or x5cInsecure certificate";
		goto out;
	}
	/* Ours: named and signed by the issuing CA, and an end entity. */
	if ((ipub = X509_get0_pubkey(pol->issuer)) == NULL ||
	    X509_check_issued(pol->issuer, x) != X509_V_OK ||
	    X509_verify(x, ipub) != 1 || X509_check_ca(x) != 0) {
		reason = "certificate not issued by this CA";
		goto out;
	}
	now = pol->now;
	if (!insecure && (X509_cmp_time(X509_get0_notAfter(x), &now) <= 0 ||
	    X509_cmp_time(X509_get0_notBefore(x), &now) > 0)) {
		reason = "x5c certificate not valid now";
		goto out;
	}
	if (verified(compact, X509_get0_pubkey(x), aud, pol, t, &claims,
	    &reason) == -1)
		goto out;
	n = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName,
	    cn, sizeof(cn));
	if (n <= 0 || strcmp(cn, t->sub) != 0) {
		reason = "sub is not the certificate's common name";
		goto out;
	}
	iss = cJSON_GetObjectItemCaseSensitive(claims, "iss");
	if (cJSON_IsString(iss))
		snprintf(t->iss, sizeof(t->iss), "%s", iss->valuestring);
	*leaf = x;
	x = NULL;
	rc = 0;
out:
	X509_free(x);
	cJSON_Delete(hdr);
	cJSON_Delete(unv);
	cJSON_Delete(claims);
	if (rc == -1) {
		token_free(t);
		return fail(why, whysz, reason);
	}
	return 0;
}

/* ---- SSHPOP tokens ---- */

int
token_verify_sshpop(const char *compact, enum token_aud aud,
    const struct token_policy *pol, const struct ssh_key *const *cas,
    int ncas, struct token *t, struct ssh_cert *cert, char *why,
    size_t whysz)
{
	cJSON *hdr = NULL, *unv = NULL, *claims = NULL;
	const cJSON *pop, *iss;
	const struct provisioner *prov;
	const char *reason = "invalid token";
	uint8_t *blob = NULL;
	size_t bloblen;
	char w[128];
	int rc = -1, jrc, i;

	if (t == NULL || cert == NULL)
		return fail(why, whysz, "no token to fill");
	memset(t, 0, sizeof(*t));
	memset(cert, 0, sizeof(*cert));
	if (compact == NULL || pol == NULL)
		return fail(why, whysz, "no token or policy");
	if (strnlen(compact, TOKEN_MAX_LEN + 1) > TOKEN_MAX_LEN)
		return fail(why, whysz, "token too large");
	if ((jrc = jose_jws_parse_unverified(compact, &hdr, &unv)) !=
	    JOSE_OK) {
		reason = jrc == JOSE_ERR_ALG ? "alg refused" : "malformed token";
		goto out;
	}
	pop = cJSON_GetObjectItemCaseSensitive(hdr, "sshpop");
	iss = cJSON_GetObjectItemCaseSensitive(unv, "iss");
	if (!cJSON_IsString(pop) || !cJSON_IsString(iss)) {
		reason = "token has no sshpop header or no iss";
		goto out;
	}
	if ((prov = provisioner_named(pol->provs, pol->nprovs, PROV_SSHPOP,
	    iss->valuestring)) == NULL) {
		reason = "SSHPOP provisioner not found";
		goto out;
	}
	if ((blob = b64std_decode(pop->valuestring, 4 * 16384, &bloblen)) ==
	    NULL || ssh_cert_from_blob(blob, bloblen, cert, w, sizeof(w)) ==
	    -1 || ssh_cert_verify(cert, w, sizeof(w)) == -1) {
		reason = "sshpop certificate unreadable or its signature bad";
		goto out;
	}
	/*
	 * Ours: signed by this CA's key for its type (cas[0] users, cas[1]
	 * hosts, as step-ca checks), and valid now.
	 */
	i = cert->type == SSH_CERT_USER ? 0 : 1;
	if (i >= ncas || cas[i] == NULL || cas[i]->bloblen != cert->ca.bloblen ||
	    memcmp(cas[i]->blob, cert->ca.blob, cert->ca.bloblen) != 0) {
		reason = "sshpop certificate not issued by this CA";
		goto out;
	}
	if (pol->now < 0 || ssh_cert_valid_at(cert, (uint64_t)pol->now) ==
	    -1) {
		reason = "sshpop certificate not valid now";
		goto out;
	}
	if (verified(compact, cert->key.pkey, aud, pol, t, &claims,
	    &reason) == -1)
		goto out;
	t->prov = prov;
	memcpy(t->iss, prov->name, sizeof(t->iss));
	rc = 0;
out:
	cJSON_Delete(hdr);
	cJSON_Delete(unv);
	cJSON_Delete(claims);
	free(blob);
	if (rc == -1) {
		token_free(t);
		ssh_cert_free(cert);
		memset(cert, 0, sizeof(*cert));
		return fail(why, whysz, reason);
	}
	return 0;
}

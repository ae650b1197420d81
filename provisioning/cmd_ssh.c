/*
 * cmd_ssh.c — p11ca ssh certificate | renew | rekey | revoke | config |
 * krl: the client side of step-ca's SSH API (POST /1.0/ssh/sign,
 * /ssh/renew, /ssh/rekey, /ssh/revoke, /ssh/config, GET /ssh/roots) and
 * of p11ca's GET /ssh/krl, with the flags of step's `ssh` commands that
 * apply.
 *
 * Keys and certificates are OpenSSH's one-line text form, read and
 * written by policy/ssh.c. Every certificate the CA sends back is parsed,
 * its signature verified and checked to certify the key asked for, with
 * the type asked for, by the CA key expected, before it is written to a
 * temporary file next to its target, synced and renamed into place: what
 * fails leaves the files as they were.
 *
 * SSHPOP tokens (renew, rekey, revoke by the certificate) are signed with
 * the certificate's private key, read as PEM or PKCS#8 (what OpenSSL
 * reads) or in OpenSSH's own format when that is not encrypted (its
 * encryption needs bcrypt_pbkdf, which OpenSSL does not have).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/pem.h>

#include "appliance/config.h"
#include "policy/jose.h"
#include "policy/provisioner.h"
#include "policy/ssh.h"
#include "provisioning/cli.h"

#define TOKEN_LIFETIME	300		/* seconds, an SSHPOP token's */
#define MAX_PRINCIPALS	64		/* what the CA takes */
#define MAX_SETS	16		/* ssh config --set */
#define KRL_MAGIC	"SSHKRL\n"	/* and its NUL: 8 bytes */

/* ---- public keys and certificates ---- */

static int
read_pub(const char *path, struct ssh_key *k)
{
	char	 why[128], *text;
	size_t	 n;
	int	 rc;

	memset(k, 0, sizeof(*k));
	if ((text = cli_slurp(path, &n)) == NULL)
		return -1;
	if ((rc = ssh_key_from_text(text, n, k, why, sizeof(why))) == -1)
		cli_err("%s: not an OpenSSH public key (%s)", path,
		    strstr(text, "-cert-v01@openssh.com") ? "it is a "
		    "certificate" : strstr(text, "PRIVATE KEY") ? "it is a "
		    "private key: give the .pub" : why);
	free(text);
	return rc;
}

static int
read_cert(const char *path, struct ssh_cert *c)
{
	char	 why[128], *text;
	size_t	 n;
	int	 rc;

	memset(c, 0, sizeof(*c));
	if ((text = cli_slurp(path, &n)) == NULL)
		return -1;
	if ((rc = ssh_cert_from_text(text, n, c, why, sizeof(why))) == -1)
		cli_err("%s: not an OpenSSH certificate (%s)", path, why);
	else if ((rc = ssh_cert_verify(c, why, sizeof(why))) == -1) {
		cli_err("%s: the certificate's signature is bad (%s)", path,
		    why);
		ssh_cert_free(c);
		memset(c, 0, sizeof(*c));
	}
	free(text);
	return rc;
}

/* id_ecdsa.pub -> id_ecdsa-cert.pub (else PUB-cert.pub), as ssh-keygen. */
static int
cert_path(const char *pub, char *out, size_t outsz)
{
	size_t	 n = strlen(pub);

	if (n > 4 && strcmp(pub + n - 4, ".pub") == 0)
		n -= 4;
	if (snprintf(out, outsz, "%.*s-cert.pub", (int)n, pub) >=
	    (int)outsz) {
		cli_err("%s: path too long", pub);
		return -1;
	}
	return 0;
}

/* ---- private keys ---- */

#define OPENSSH_BEGIN	"-----BEGIN OPENSSH PRIVATE KEY-----"
#define OPENSSH_END	"-----END OPENSSH PRIVATE KEY-----"
#define OPENSSH_MAGIC	"openssh-key-v1"	/* and its NUL */

/* A reader of SSH wire fields (RFC 4251 5). */
struct rd {
	const uint8_t	*p;
	size_t		 n;
};

static int
rd_u32(struct rd *r, uint32_t *v)
{
	if (r->n < 4)
		return -1;
	*v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 |
	    (uint32_t)r->p[2] << 8 | (uint32_t)r->p[3];
	r->p += 4;
	r->n -= 4;
	return 0;
}

static int
rd_str(struct rd *r, const uint8_t **s, size_t *len)
{
	uint32_t	 n;

	if (rd_u32(r, &n) == -1 || n > r->n)
		return -1;
	*s = r->p;
	*len = n;
	r->p += n;
	r->n -= n;
	return 0;
}

/* 1 when the next string is want (and it is read), else 0. */
static int
rd_is(struct rd *r, const char *want)
{
	struct rd	 save = *r;
	const uint8_t	*s;
	size_t		 n;

	if (rd_str(r, &s, &n) == 0 && n == strlen(want) &&
	    memcmp(s, want, n) == 0)
		return 1;
	*r = save;
	return 0;
}

/*
 * A non-negative mpint, in secure memory (so that OSSL_PARAM_BLD puts it
 * where OSSL_PARAM_free() wipes it); BN_clear_free() it.
 */
static BIGNUM *
rd_bn(struct rd *r)
{
	const uint8_t	*s;
	size_t		 n;
	BIGNUM		*bn;

	if (rd_str(r, &s, &n) == -1 || (n > 0 && (s[0] & 0x80)) ||
	    n > SSH_RSA_MAX_BITS / 8 + 1 || (bn = BN_secure_new()) == NULL)
		return NULL;
	if (BN_bin2bn(s, (int)n, bn) == NULL) {
		BN_clear_free(bn);
		return NULL;
	}
	return bn;
}

static EVP_PKEY *
from_params(const char *type, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM	*params;
	EVP_PKEY_CTX	*ctx = NULL;
	EVP_PKEY	*pk = NULL;

	if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		return NULL;
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_KEYPAIR, params) != 1)
		pk = NULL;
	OSSL_PARAM_free(params);
	EVP_PKEY_CTX_free(ctx);
	return pk;
}

static EVP_PKEY *
openssh_ecdsa(struct rd *r, const char *curve, const char *group)
{
	OSSL_PARAM_BLD	*bld;
	const uint8_t	*q;
	size_t		 qlen;
	BIGNUM		*d = NULL;
	EVP_PKEY	*pk = NULL;

	if (!rd_is(r, curve) || rd_str(r, &q, &qlen) == -1 ||
	    (d = rd_bn(r)) == NULL)
		return NULL;
	if ((bld = OSSL_PARAM_BLD_new()) != NULL &&
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	    group, 0) == 1 &&
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, q,
	    qlen) == 1 &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) == 1)
		pk = from_params("EC", bld);
	OSSL_PARAM_BLD_free(bld);
	BN_clear_free(d);
	return pk;
}

static EVP_PKEY *
openssh_rsa(struct rd *r)
{
	OSSL_PARAM_BLD	*bld = NULL;
	BIGNUM		*n = NULL, *e = NULL, *d = NULL, *iqmp = NULL;
	BIGNUM		*p = NULL, *q = NULL, *dp = NULL, *dq = NULL, *t = NULL;
	BN_CTX		*bc = NULL;
	EVP_PKEY	*pk = NULL;

	/* OpenSSH's order: n e d iqmp p q; OpenSSL wants d mod p-1, q-1. */
	if ((n = rd_bn(r)) == NULL || (e = rd_bn(r)) == NULL ||
	    (d = rd_bn(r)) == NULL || (iqmp = rd_bn(r)) == NULL ||
	    (p = rd_bn(r)) == NULL || (q = rd_bn(r)) == NULL)
		goto out;
	if ((bc = BN_CTX_secure_new()) == NULL || (t = BN_secure_new()) ==
	    NULL || (dp = BN_secure_new()) == NULL ||
	    (dq = BN_secure_new()) == NULL ||
	    BN_sub(t, p, BN_value_one()) != 1 ||
	    BN_mod(dp, d, t, bc) != 1 ||
	    BN_sub(t, q, BN_value_one()) != 1 ||
	    BN_mod(dq, d, t, bc) != 1)
		goto out;
	if ((bld = OSSL_PARAM_BLD_new()) != NULL &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) == 1 &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) == 1 &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, d) == 1 &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, p) == 1 &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, q) == 1 &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, dp) ==
	    1 &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, dq) ==
	    1 &&
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
	    iqmp) == 1)
		pk = from_params("RSA", bld);
out:
	OSSL_PARAM_BLD_free(bld);
	BN_CTX_free(bc);
	BN_free(n);
	BN_free(e);
	BN_clear_free(d);
	BN_clear_free(iqmp);
	BN_clear_free(p);
	BN_clear_free(q);
	BN_clear_free(dp);
	BN_clear_free(dq);
	BN_clear_free(t);
	return pk;
}

static EVP_PKEY *
openssh_ed25519(struct rd *r)
{
	const uint8_t	*pub, *sk;
	size_t		 plen, sklen;

	/* The secret is the 32-byte seed, then the public key again. */
	if (rd_str(r, &pub, &plen) == -1 || plen != 32 ||
	    rd_str(r, &sk, &sklen) == -1 || sklen != 64 ||
	    memcmp(sk + 32, pub, 32) != 0)
		return NULL;
	return EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, sk, 32);
}

/*
 * The one key of an unencrypted "openssh-key-v1" blob (PROTOCOL.key):
 * magic, cipher "none", kdf "none", one public key, then the private
 * section: two equal check words, the key, its comment, padding 1, 2, ...
 */
static EVP_PKEY *
openssh_blob(const char *path, const uint8_t *p, size_t n)
{
	struct rd	 r = { p, n }, pub, priv;
	const uint8_t	*cipher, *kdf, *s;
	size_t		 clen, kdflen, len, i;
	uint32_t	 nkeys, c1, c2;
	EVP_PKEY	*pk = NULL;

	if (n < sizeof(OPENSSH_MAGIC) || memcmp(p, OPENSSH_MAGIC,
	    sizeof(OPENSSH_MAGIC)) != 0)
		goto bad;
	r.p += sizeof(OPENSSH_MAGIC);
	r.n -= sizeof(OPENSSH_MAGIC);
	if (rd_str(&r, &cipher, &clen) == -1 ||
	    rd_str(&r, &kdf, &kdflen) == -1 || rd_str(&r, &s, &len) == -1 ||
	    rd_u32(&r, &nkeys) == -1 || nkeys != 1 ||
	    rd_str(&r, &s, &len) == -1)
		goto bad;
	pub = (struct rd){ s, len };
	if (clen != 4 || memcmp(cipher, "none", 4) != 0) {
		/* ssh-keygen writes Ed25519 keys in no other format. */
		if (rd_is(&pub, "ssh-ed25519"))
			cli_err("%s is an encrypted OpenSSH private key, which "
			    "p11ca cannot read: remove its passphrase "
			    "(ssh-keygen -p -N '' -f %s)", path, path);
		else
			cli_err("%s is an encrypted OpenSSH private key, which "
			    "p11ca cannot read: convert it to PKCS#8 "
			    "(ssh-keygen -p -m PKCS8 -f %s) and give its "
			    "password with --key-password-file", path, path);
		return NULL;
	}
	if (kdflen != 4 || memcmp(kdf, "none", 4) != 0 ||
	    rd_str(&r, &s, &len) == -1 || r.n != 0)
		goto bad;
	priv = (struct rd){ s, len };
	if (rd_u32(&priv, &c1) == -1 || rd_u32(&priv, &c2) == -1 || c1 != c2)
		goto bad;
	if (rd_is(&priv, "ssh-ed25519"))
		pk = openssh_ed25519(&priv);
	else if (rd_is(&priv, "ecdsa-sha2-nistp256"))
		pk = openssh_ecdsa(&priv, "nistp256", "P-256");
	else if (rd_is(&priv, "ecdsa-sha2-nistp384"))
		pk = openssh_ecdsa(&priv, "nistp384", "P-384");
	else if (rd_is(&priv, "ecdsa-sha2-nistp521"))
		pk = openssh_ecdsa(&priv, "nistp521", "P-521");
	else if (rd_is(&priv, "ssh-rsa"))
		pk = openssh_rsa(&priv);
	else {
		cli_err("%s: an OpenSSH private key of a type p11ca does not "
		    "take (ECDSA, Ed25519 and RSA only)", path);
		return NULL;
	}
	/* The comment, then padding 1, 2, 3, ... to the cipher's block. */
	if (pk == NULL || rd_str(&priv, &s, &len) == -1 || priv.n >= 256)
		goto bad;
	for (i = 0; i < priv.n; i++)
		if (priv.p[i] != (uint8_t)(i + 1))
			goto bad;
	return pk;
bad:
	EVP_PKEY_free(pk);
	ERR_clear_error();
	cli_err("%s: a damaged OpenSSH private key", path);
	return NULL;
}

static EVP_PKEY *
openssh_private(const char *path, const char *text)
{
	const char	*b, *e;
	EVP_ENCODE_CTX	*ctx;
	uint8_t		*bin;
	EVP_PKEY	*pk = NULL;
	int		 n = 0, m = 0, len;

	b = strstr(text, OPENSSH_BEGIN) + strlen(OPENSSH_BEGIN);
	if ((e = strstr(b, OPENSSH_END)) == NULL || e - b > (1 << 20)) {
		cli_err("%s: a damaged OpenSSH private key", path);
		return NULL;
	}
	if ((len = (int)(e - b)) == 0) {
		cli_err("%s: a damaged OpenSSH private key", path);
		return NULL;
	}
	if ((bin = malloc(len)) == NULL || (ctx = EVP_ENCODE_CTX_new()) ==
	    NULL) {
		free(bin);
		cli_err("out of memory");
		return NULL;
	}
	EVP_DecodeInit(ctx);
	if (EVP_DecodeUpdate(ctx, bin, &n, (const unsigned char *)b, len) !=
	    -1 && EVP_DecodeFinal(ctx, bin + n, &m) == 1)
		pk = openssh_blob(path, bin, (size_t)(n + m));
	else
		cli_err("%s: a damaged OpenSSH private key", path);
	EVP_ENCODE_CTX_free(ctx);
	OPENSSL_cleanse(bin, len);
	free(bin);
	return pk;
}

/*
 * The private key of a certificate: PEM or PKCS#8 (decrypted with pw
 * when given, else OpenSSL asks), or OpenSSH's format unencrypted.
 */
static EVP_PKEY *
read_private(const char *path, struct cli_secret *pw)
{
	EVP_PKEY	*k = NULL;
	BIO		*b;
	char		*text;
	size_t		 n;

	if ((text = cli_slurp(path, &n)) == NULL)
		return NULL;
	if (strstr(text, OPENSSH_BEGIN) != NULL)
		k = openssh_private(path, text);
	else {
		if ((b = BIO_new_mem_buf(text, (int)n)) != NULL)
			k = cli_pem_key(b, pw);
		BIO_free(b);
		if (k == NULL)
			cli_err("%s: not a private key (PEM, PKCS#8 or "
			    "unencrypted OpenSSH), or the wrong password",
			    path);
	}
	ERR_clear_error();
	OPENSSL_cleanse(text, n);
	free(text);
	return k;
}

/* The certificate in certpath and its private key, which must match. */
static int
cert_and_key(const char *certpath, const char *keypath, const char *pwfile,
    struct ssh_cert *c, EVP_PKEY **key)
{
	struct cli_secret pw;

	memset(&pw, 0, sizeof(pw));
	*key = NULL;
	if (read_cert(certpath, c) == -1)
		return -1;
	if ((pwfile != NULL && cli_secret_read(pwfile, &pw) == -1) ||
	    (*key = read_private(keypath, &pw)) == NULL)
		goto bad;
	cli_secret_free(&pw);
	if (EVP_PKEY_eq(*key, c->key.pkey) != 1) {
		ERR_clear_error();
		cli_err("%s is not the key of the certificate in %s", keypath,
		    certpath);
		goto bad;
	}
	return 0;
bad:
	cli_secret_free(&pw);
	EVP_PKEY_free(*key);
	*key = NULL;
	ssh_cert_free(c);
	memset(c, 0, sizeof(*c));
	return -1;
}

/* ---- answers ---- */

/*
 * The certificate of a 201 {"crt": base64 wire} answer, checked: its
 * signature verifies, it certifies key, is of the given type, and is
 * signed by ca when ca is not NULL. 0 with *c filled, or -1 reported.
 */
static int
answer_cert(const char *what, int status, const char *resp,
    const struct ssh_key *key, uint32_t type, const struct ssh_key *ca,
    struct ssh_cert *c)
{
	cJSON		*o = NULL;
	const cJSON	*crt;
	const char	*why = "the answer holds no certificate";
	char		 w[128];
	uint8_t		*blob = NULL;
	size_t		 n;

	memset(c, 0, sizeof(*c));
	if (status != 201 || (o = cJSON_Parse(resp)) == NULL) {
		cli_refused(what, status, resp);
		cJSON_Delete(o);
		return -1;
	}
	crt = cJSON_GetObjectItemCaseSensitive(o, "crt");
	if (!cJSON_IsString(crt) || (blob = cli_b64_decode(crt->valuestring,
	    &n)) == NULL)
		goto bad;
	if (ssh_cert_from_blob(blob, n, c, w, sizeof(w)) == -1 ||
	    ssh_cert_verify(c, w, sizeof(w)) == -1) {
		why = w;
		goto bad;
	}
	why = "the certificate is not for the key asked for";
	if (c->key.bloblen != key->bloblen || memcmp(c->key.blob, key->blob,
	    key->bloblen) != 0)
		goto bad;
	why = "the certificate is not of the type asked for";
	if (c->type != type)
		goto bad;
	why = "the certificate is signed by another CA key than the one "
	    "configured";
	if (ca != NULL && (c->ca.bloblen != ca->bloblen ||
	    memcmp(c->ca.blob, ca->blob, ca->bloblen) != 0))
		goto bad;
	free(blob);
	cJSON_Delete(o);
	return 0;
bad:
	cli_err("the CA's answer to the %s is unusable: %s", what, why);
	ssh_cert_free(c);
	memset(c, 0, sizeof(*c));
	free(blob);
	cJSON_Delete(o);
	return -1;
}

/* The certificate as a -cert.pub line, written whole or not at all. */
static int
save_cert(const char *path, const struct ssh_cert *c, const char *comment,
    mode_t mode)
{
	struct pbuf	 out;
	int		 rc = -1;

	pbuf_init(&out);
	if (ssh_to_text(c->raw, c->rawlen, comment, &out) == -1)
		cli_err("cannot write the certificate as text");
	else if ((rc = cli_write_file(path, out.data, out.len, mode)) == -1)
		cli_err("%s: %s", path, strerror(errno));
	pbuf_free(&out);
	return rc;
}

static void
fmt_time(uint64_t t, char *out, size_t outsz)
{
	struct tm	 tm;
	time_t		 tt = (time_t)t;

	if (t == SSH_VALID_FOREVER || t > (uint64_t)253402300799LL ||
	    gmtime_r(&tt, &tm) == NULL)
		snprintf(out, outsz, "forever");
	else
		strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
describe(const char *path, const struct ssh_cert *c)
{
	char	 a[32], b[32];
	size_t	 i;

	fmt_time(c->valid_after, a, sizeof(a));
	fmt_time(c->valid_before, b, sizeof(b));
	printf("Your certificate has been saved in %s.\n"
	    "  Type:       %s certificate\n"
	    "  Serial:     %llu\n"
	    "  Key ID:     \"%s\"\n"
	    "  Principals:", path, c->type == SSH_CERT_HOST ? "host" : "user",
	    (unsigned long long)c->serial, c->key_id);
	for (i = 0; i < c->nprincipals; i++)
		printf(" %s", c->principals[i]);
	printf("\n  Valid:      from %s to %s\n", a, b);
}

/* The CA key ca.json names for this type, when it is readable. */
static int
configured_ca(const struct cli_where *w, uint32_t type, struct ssh_key *k)
{
	const char	*path;
	char		 why[128], *text;
	size_t		 n;
	int		 rc;

	memset(k, 0, sizeof(*k));
	if (!w->loaded)
		return -1;
	path = type == SSH_CERT_HOST ? w->cfg.ssh_host_pub :
	    w->cfg.ssh_user_pub;
	if (*path == '\0' || (text = cli_read_file(path, &n)) == NULL)
		return -1;
	rc = ssh_key_from_text(text, n, k, why, sizeof(why));
	free(text);
	return rc;
}

/* ---- SSHPOP ---- */

/* --provisioner, else the only SSHPOP provisioner of ca.json, "sshpop". */
static const char *
sshpop_issuer(const struct cli_where *w, const char *name)
{
	const cJSON	*p, *t, *n;
	const char	*found = NULL;

	if (name != NULL || !w->loaded)
		return name ? name : "sshpop";
	cJSON_ArrayForEach(p, w->cfg.provisioners) {
		t = cJSON_GetObjectItemCaseSensitive(p, "type");
		n = cJSON_GetObjectItemCaseSensitive(p, "name");
		if (!cJSON_IsString(t) || strcasecmp(t->valuestring,
		    "SSHPOP") != 0 || !cJSON_IsString(n))
			continue;
		if (found != NULL) {
			cli_err("several SSHPOP provisioners in %s: pick one "
			    "with --provisioner", w->config);
			return NULL;
		}
		found = n->valuestring;
	}
	if (found == NULL)
		cli_err("%s has no SSHPOP provisioner (p11ca init --ssh makes "
		    "one)", w->config);
	return found;
}

/*
 * A token signed by the certificate's key: the certificate in the
 * protected header's "sshpop" (standard base64 of its wire blob), iss
 * the SSHPOP provisioner, aud CA-URL/1.0/ssh/AUD, sub the serial in
 * decimal for a revocation (the CA checks it is the one revoked), else
 * the key id (the serial when it has none).
 */
static char *
sshpop_token(const char *url, const char *aud, const char *iss,
    const struct ssh_cert *c, EVP_PKEY *key)
{
	char		 audbuf[600], sub[24], *payload = NULL;
	char		*tok = NULL, *pop = NULL;
	cJSON		*claims = NULL, *hdr = NULL;
	time_t		 now = time(NULL);

	snprintf(audbuf, sizeof(audbuf), "%s/1.0/ssh/%s", url, aud);
	snprintf(sub, sizeof(sub), "%llu", (unsigned long long)c->serial);
	if ((pop = cli_b64_encode(c->raw, c->rawlen)) == NULL ||
	    (claims = cli_claims(audbuf, iss, *c->key_id &&
	    strcmp(aud, "revoke") != 0 ? c->key_id : sub, now, now,
	    now + TOKEN_LIFETIME)) == NULL ||
	    (hdr = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(hdr, "typ", "JWT") == NULL ||
	    cJSON_AddStringToObject(hdr, "sshpop", pop) == NULL ||
	    (payload = cJSON_PrintUnformatted(claims)) == NULL)
		goto bad;
	if ((tok = jose_jws_sign(key, NULL, hdr, payload, strlen(payload))) ==
	    NULL)
		cli_err("cannot sign the SSHPOP token with this key");
	goto out;
bad:
	cli_err("cannot make the SSHPOP token");
out:
	ERR_clear_error();
	free(payload);
	free(pop);
	cJSON_Delete(claims);
	cJSON_Delete(hdr);
	return tok;
}

/* ---- p11ca ssh certificate ---- */

static const char certificate_usage[] =
"usage: p11ca ssh certificate KEY-ID PUBKEY [--principal NAME]... [--host]\n"
"                             [options]\n"
"\n"
"Has the CA certify the OpenSSH public key in PUBKEY (a .pub file, as\n"
"ssh-keygen writes it) and writes the certificate next to it, as\n"
"ssh-keygen -s does: id_ecdsa.pub gives id_ecdsa-cert.pub. This is\n"
"`step ssh certificate --sign`: the private key never leaves its owner.\n"
"\n"
"A one-time token is made from the JWK provisioner's key in ca.json\n"
"(aud CA-URL/1.0/ssh/sign, sub KEY-ID, claims.step.ssh with the\n"
"certificate type, key id, principals and validity; the provisioner must\n"
"have enableSSHCA) and sent with the key to POST /1.0/ssh/sign. The\n"
"certificate that comes back is checked before it is written: its\n"
"signature verifies, it certifies PUBKEY, has the type asked for and,\n"
"when ca.json names the CA's SSH public keys, is signed by that key.\n"
"\n"
"KEY-ID is the certificate's key id, which sshd logs. The principals are\n"
"the user names (user certificates) or host names (host certificates) it\n"
"is valid for; without --principal, KEY-ID for a host certificate, and\n"
"for a user certificate KEY-ID's local part when it is an email address\n"
"(alice@example.com: alice), else KEY-ID.\n"
"\n"
"  -n, --principal NAME  a principal (repeatable, at most 64)\n"
"  --host                a host certificate (default: a user certificate)\n"
"  --not-before T, --not-after T  the certificate's validity: RFC 3339 or\n"
"                        a duration from now (5m, 8h, -1m); default the\n"
"                        provisioner's (16h for users, 30d for hosts)\n"
"  --out FILE            write the certificate there instead\n"
"  -f, --force           overwrite the certificate file when it exists\n"
"  --token TOKEN         a token made elsewhere (p11ca ca token --ssh);\n"
"                        then no provisioner key is needed\n"
"  --issuer, --provisioner NAME, --kid KID   which JWK provisioner makes\n"
"                        the token (default: the only one)\n"
"  --password-file, --provisioner-password-file FILE  its key's password\n"
"                        (default the home's secrets/password)\n"
"  --ca-url URL          the CA (default from ca.json:\n"
"                        https://{dnsNames[0]}:{port of address})\n"
"  --root FILE           the root the CA's TLS certificate must chain to\n"
"                        (default ca.json's root)\n"
"  --ca-config FILE      ca.json (default $P11CA_HOME/config/ca.json)\n"
"  --home DIR            state directory (default $P11CA_HOME, ~/.p11ca)\n"
"\n"
"Not supported: step's key generation (make the key with ssh-keygen),\n"
"--add-user, --agent, --identity, --no-password.\n"
"\n"
"Exit status: 0 certified, 1 failed (nothing written), 2 bad usage.\n"
"\n"
"  p11ca ssh certificate alice@example.com ~/.ssh/id_ecdsa.pub\n"
"  p11ca ssh certificate --host --principal web1 --principal 10.0.0.5 \\\n"
"      web1 /etc/ssh/ssh_host_ecdsa_key.pub\n";

int
cmd_ssh_certificate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "principal", required_argument, NULL, 'n' },
		{ "host", no_argument, NULL, 'H' },
		{ "not-before", required_argument, NULL, 'b' },
		{ "not-after", required_argument, NULL, 'a' },
		{ "out", required_argument, NULL, 'o' },
		{ "token", required_argument, NULL, 't' },
		{ "issuer", required_argument, NULL, 'i' },
		{ "provisioner", required_argument, NULL, 'i' },
		{ "kid", required_argument, NULL, 'K' },
		{ "password-file", required_argument, NULL, 'p' },
		{ "provisioner-password-file", required_argument, NULL, 'p' },
		CLI_WHERE_OPTIONS,
		{ "force", no_argument, NULL, 'f' },
		{ "sign", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char	*principals[MAX_PRINCIPALS], *keyid, *pubpath;
	const char	*out = NULL, *token = NULL, *nbf = NULL, *naf = NULL;
	struct cli_tokreq tq = { .aud = "ssh/sign", .ssh = 1 };
	struct cli_where w;
	struct ssh_key	 pub, ca;
	struct ssh_cert	 c;
	char		 outbuf[PATH_MAX], local[256], *tok = NULL;
	char		*resp = NULL, *b64 = NULL;
	cJSON		*req = NULL, *arr;
	time_t		 t;
	int		 ch, i, np = 0, host = 0, force = 0, status, have_ca;
	int		 rc = 1;

	memset(&w, 0, sizeof(w));
	memset(&pub, 0, sizeof(pub));
	memset(&ca, 0, sizeof(ca));
	memset(&c, 0, sizeof(c));
	optind = 1;
	while ((ch = getopt_long(argc, argv, "n:fh", opts, NULL)) != -1) {
		if (cli_where_opt(&w, ch, optarg))
			continue;
		switch (ch) {
		case 'n':
			if (np == MAX_PRINCIPALS) {
				cli_err("at most %d principals",
				    MAX_PRINCIPALS);
				return 2;
			}
			principals[np++] = optarg;
			break;
		case 'H': host = 1; break;
		case 'b': nbf = optarg; break;
		case 'a': naf = optarg; break;
		case 'o': out = optarg; break;
		case 't': token = optarg; break;
		case 'i': tq.issuer = optarg; break;
		case 'K': tq.kid = optarg; break;
		case 'p': tq.pwfile = optarg; break;
		case 'f': force = 1; break;
		case 's': break;
		case 'h': fputs(certificate_usage, stdout); return 0;
		default: fputs(certificate_usage, stderr); return 2;
		}
	}
	if (optind != argc - 2) {
		fputs(certificate_usage, stderr);
		return 2;
	}
	keyid = argv[optind];
	pubpath = argv[optind + 1];
	if ((nbf && time_or_duration(nbf, time(NULL), &t) == -1) ||
	    (naf && time_or_duration(naf, time(NULL), &t) == -1)) {
		cli_err("--not-before/--not-after: want RFC 3339 or a "
		    "duration");
		return 2;
	}
	if (*keyid == '\0') {
		cli_err("KEY-ID is empty");
		return 2;
	}
	for (i = 0; i < np; i++)
		if (*principals[i] == '\0') {
			cli_err("--principal: an empty principal");
			return 2;
		}
	/* Without --token the body and the token say the same principals. */
	if (np == 0 && token == NULL) {
		snprintf(local, sizeof(local), "%s", keyid);
		if (!host && strchr(keyid, '@') != NULL && *keyid != '@')
			local[strcspn(local, "@")] = '\0';
		principals[np++] = local;
	}
	if (out == NULL) {
		if (cert_path(pubpath, outbuf, sizeof(outbuf)) == -1)
			return 1;
		out = outbuf;
	}
	if (read_pub(pubpath, &pub) == -1 || cli_may_write(out, force) == -1 ||
	    cli_where_load(&w, CLI_WHERE_PLAIN |
	    (token == NULL ? CLI_WHERE_CONFIG : 0)) == -1)
		goto out;
	if (token == NULL) {
		tq.home = w.home;
		tq.config = w.config;
		tq.url = w.url;
		tq.root = w.root;
		tq.subject = keyid;
		tq.host = host;
		tq.principals = principals;
		tq.nprincipals = np;
		tq.cert_nbf = nbf;
		tq.cert_exp = naf;
		if ((tok = cli_mint_token(&tq)) == NULL)
			goto out;
		token = tok;
	}
	if ((b64 = cli_b64_encode(pub.blob, pub.bloblen)) == NULL ||
	    (req = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(req, "publicKey", b64) == NULL ||
	    cJSON_AddStringToObject(req, "ott", token) == NULL ||
	    cJSON_AddStringToObject(req, "certType", host ? "host" :
	    "user") == NULL ||
	    cJSON_AddStringToObject(req, "keyID", keyid) == NULL ||
	    (arr = cJSON_AddArrayToObject(req, "principals")) == NULL ||
	    (nbf && cJSON_AddStringToObject(req, "validAfter", nbf) == NULL) ||
	    (naf && cJSON_AddStringToObject(req, "validBefore", naf) ==
	    NULL)) {
		cli_err("out of memory");
		goto out;
	}
	for (i = 0; i < np; i++)
		if (!cJSON_AddItemToArray(arr, cJSON_CreateString(
		    principals[i]))) {
			cli_err("out of memory");
			goto out;
		}
	if (cli_post_json(&w, "/1.0/ssh/sign", req, NULL, &status, &resp) ==
	    -1)
		goto out;
	have_ca = configured_ca(&w, host ? SSH_CERT_HOST : SSH_CERT_USER,
	    &ca) == 0;
	if (answer_cert("certificate request", status, resp, &pub, host ?
	    SSH_CERT_HOST : SSH_CERT_USER, have_ca ? &ca : NULL, &c) == -1 ||
	    save_cert(out, &c, pub.comment, 0644) == -1)
		goto out;
	describe(out, &c);
	rc = 0;
out:
	ssh_cert_free(&c);
	ssh_key_free(&ca);
	ssh_key_free(&pub);
	cJSON_Delete(req);
	free(b64);
	free(resp);
	free(tok);
	cli_where_free(&w);
	return rc;
}

/* ---- p11ca ssh renew, p11ca ssh rekey ---- */

static const char renew_usage[] =
"usage: p11ca ssh renew CERT KEY [--out FILE] [options]\n"
"\n"
"Renews the SSH host certificate in CERT (POST /1.0/ssh/renew), as `step\n"
"ssh renew`: the CA issues a new certificate for the same key, type, key\n"
"id and principals, with a new serial number and a validity of the same\n"
"length starting now. It replaces CERT (keeping its mode), or goes to\n"
"--out FILE; it is written to a temporary file in the same directory,\n"
"synced and renamed into place, and only once it is checked to certify\n"
"the same key under the same CA key. On any failure CERT is untouched.\n"
"\n"
"The request carries an SSHPOP token: a JWS signed by KEY, the private key\n"
"of CERT, with the certificate in its protected header (sshpop), iss the\n"
"SSHPOP provisioner, sub the key id and aud CA-URL/1.0/ssh/renew. CERT\n"
"must be valid now and not revoked. As step-ca, only host certificates\n"
"are renewed; a user gets a new one with `p11ca ssh certificate`.\n"
"\n"
"KEY is read as PEM or PKCS#8 (ssh-keygen -m PEM or -m PKCS8), or in\n"
"OpenSSH's own format when it has no passphrase (ssh-keygen -N ''). An\n"
"encrypted OpenSSH key must be converted first: ssh-keygen -p -m PKCS8\n"
"-f KEY for ECDSA and RSA, which then takes --key-password-file, or\n"
"ssh-keygen -p -N '' -f KEY (no passphrase) for Ed25519, which ssh-keygen\n"
"writes in no other format. Keys: ECDSA (P-256, P-384, P-521), Ed25519,\n"
"RSA (2048 bits or more).\n"
"\n"
"  --out, --output-file FILE  write the new certificate there, not over\n"
"                        CERT\n"
"  -f, --force           overwrite --out FILE when it exists (CERT itself\n"
"                        is always replaced)\n"
"  --key-password-file FILE  the password of KEY when it is encrypted\n"
"  --provisioner NAME    the SSHPOP provisioner (default: the only one in\n"
"                        ca.json, else sshpop)\n"
"  --ca-url URL, --root FILE, --ca-config FILE, --home DIR   as for\n"
"                        `p11ca ssh certificate`\n"
"\n"
"Exit status: 0 renewed, 1 failed (nothing written), 2 bad usage.\n"
"\n"
"  p11ca ssh renew /etc/ssh/ssh_host_ecdsa_key-cert.pub \\\n"
"      /etc/ssh/ssh_host_ecdsa_key\n";

static const char rekey_usage[] =
"usage: p11ca ssh rekey CERT KEY NEWPUB [--out FILE] [options]\n"
"\n"
"Has the CA certify a new key in place of an SSH host certificate's\n"
"(POST /1.0/ssh/rekey), as `step ssh rekey` with a key made beforehand:\n"
"the new certificate is for the public key in NEWPUB, with CERT's type,\n"
"key id and principals and a validity of the same length starting now.\n"
"It goes next to NEWPUB (new.pub: new-cert.pub) or to --out FILE,\n"
"written whole or not at all, once checked to certify NEWPUB's key under\n"
"CERT's CA key. CERT and KEY are not changed: revoke the old certificate\n"
"(p11ca ssh revoke) once the new key is in use.\n"
"\n"
"The request carries an SSHPOP token signed by KEY, CERT's private key,\n"
"with aud CA-URL/1.0/ssh/rekey (see `p11ca ssh renew --help` for the\n"
"token and the key formats read). Only host certificates are rekeyed.\n"
"\n"
"  --out, --output-file FILE  where the new certificate goes\n"
"  -f, --force           overwrite it when it exists\n"
"  --key-password-file FILE, --provisioner NAME, --ca-url URL, --root FILE,\n"
"  --ca-config FILE, --home DIR   as for `p11ca ssh renew`\n"
"\n"
"Exit status: 0 rekeyed, 1 failed (nothing written), 2 bad usage.\n"
"\n"
"  ssh-keygen -t ecdsa -N '' -f /etc/ssh/new_host_key\n"
"  p11ca ssh rekey /etc/ssh/ssh_host_ecdsa_key-cert.pub \\\n"
"      /etc/ssh/ssh_host_ecdsa_key /etc/ssh/new_host_key.pub\n";

static int
renew_or_rekey(int argc, char **argv, int rekey)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "output-file", required_argument, NULL, 'o' },
		{ "key-password-file", required_argument, NULL, 'P' },
		{ "provisioner", required_argument, NULL, 'i' },
		{ "issuer", required_argument, NULL, 'i' },
		CLI_WHERE_OPTIONS,
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char	*usage = rekey ? rekey_usage : renew_usage;
	const char	*what = rekey ? "rekey" : "renewal";
	const char	*certpath, *keypath, *out = NULL, *pwfile = NULL;
	const char	*prov = NULL, *iss;
	struct cli_where w;
	struct ssh_cert	 old, c;
	struct ssh_key	 newpub;
	EVP_PKEY	*key = NULL;
	char		 outbuf[PATH_MAX], *tok = NULL, *resp = NULL;
	char		*b64 = NULL;
	cJSON		*req = NULL;
	int		 mode = 0644;
	int		 ch, force = 0, status, rc = 1;

	memset(&w, 0, sizeof(w));
	memset(&old, 0, sizeof(old));
	memset(&c, 0, sizeof(c));
	memset(&newpub, 0, sizeof(newpub));
	optind = 1;
	while ((ch = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		if (cli_where_opt(&w, ch, optarg))
			continue;
		switch (ch) {
		case 'o': out = optarg; break;
		case 'P': pwfile = optarg; break;
		case 'i': prov = optarg; break;
		case 'f': force = 1; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind != argc - 2 - rekey) {
		fputs(usage, stderr);
		return 2;
	}
	certpath = argv[optind];
	keypath = argv[optind + 1];
	if (rekey && out == NULL) {
		if (cert_path(argv[optind + 2], outbuf, sizeof(outbuf)) == -1)
			return 1;
		out = outbuf;
	}
	if (cert_and_key(certpath, keypath, pwfile, &old, &key) == -1)
		goto out;
	if (old.type != SSH_CERT_HOST) {
		cli_err("%s is a user certificate: only host certificates are "
		    "%s (as step-ca); get a new one with p11ca ssh "
		    "certificate", certpath, rekey ? "rekeyed" : "renewed");
		goto out;
	}
	if (ssh_cert_valid_at(&old, (uint64_t)time(NULL)) == -1) {
		cli_err("%s is not valid now: the CA takes no SSHPOP token of "
		    "an expired certificate; get a new one with p11ca ssh "
		    "certificate --host", certpath);
		goto out;
	}
	if (rekey && read_pub(argv[optind + 2], &newpub) == -1)
		goto out;
	if (out != NULL && cli_may_write(out, force) == -1)
		goto out;
	if (out == NULL)
		mode = cli_mode_of(certpath, 0644);
	if (cli_where_load(&w, CLI_WHERE_PLAIN) == -1 ||
	    (iss = sshpop_issuer(&w, prov)) == NULL ||
	    (tok = sshpop_token(w.url, rekey ? "rekey" : "renew", iss, &old,
	    key)) == NULL)
		goto out;
	if ((req = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(req, "ott", tok) == NULL ||
	    (rekey && ((b64 = cli_b64_encode(newpub.blob, newpub.bloblen)) ==
	    NULL || cJSON_AddStringToObject(req, "publicKey", b64) == NULL))) {
		cli_err("out of memory");
		goto out;
	}
	if (cli_post_json(&w, rekey ? "/1.0/ssh/rekey" : "/1.0/ssh/renew", req,
	    NULL, &status, &resp) == -1 ||
	    answer_cert(what, status, resp, rekey ? &newpub : &old.key,
	    SSH_CERT_HOST, &old.ca, &c) == -1 ||
	    save_cert(out ? out : certpath, &c, rekey ? newpub.comment :
	    old.comment, mode) == -1)
		goto out;
	describe(out ? out : certpath, &c);
	rc = 0;
out:
	ssh_cert_free(&c);
	ssh_cert_free(&old);
	ssh_key_free(&newpub);
	EVP_PKEY_free(key);
	cJSON_Delete(req);
	free(b64);
	free(tok);
	free(resp);
	cli_where_free(&w);
	return rc;
}

int
cmd_ssh_renew(int argc, char **argv)
{
	return renew_or_rekey(argc, argv, 0);
}

int
cmd_ssh_rekey(int argc, char **argv)
{
	return renew_or_rekey(argc, argv, 1);
}

/* ---- p11ca ssh revoke ---- */

static const char revoke_usage[] =
"usage: p11ca ssh revoke SERIAL [--reason TEXT] [--reasonCode CODE]\n"
"                        [options]\n"
"       p11ca ssh revoke [SERIAL] --cert CERT --key KEY [options]\n"
"\n"
"Revokes the SSH certificate with serial number SERIAL (POST\n"
"/1.0/ssh/revoke), as `step ssh revoke`. The certificate can no longer\n"
"be renewed or rekeyed, and it is listed in the CA's key revocation list\n"
"(GET /1.0/ssh/krl, `p11ca ssh krl`) from now on: sshd refuses it once\n"
"that list is its RevokedKeys file.\n"
"\n"
"The request is authorized by one of:\n"
"  - a one-time token from a JWK provisioner, aud CA-URL/1.0/ssh/revoke and\n"
"    sub the serial in decimal: made here from the provisioner's key in\n"
"    ca.json (as `p11ca ca token SERIAL --ssh --revoke`), or given with\n"
"    --token;\n"
"  - the certificate itself: --cert CERT --key KEY make an SSHPOP token\n"
"    signed by KEY, aud CA-URL/1.0/ssh/revoke, sub the serial (see `p11ca\n"
"    ssh renew --help`). SERIAL may be left out then; when given it must\n"
"    be CERT's. CERT must still be valid.\n"
"\n"
"SERIAL is decimal, as ssh-keygen -L prints it, or hexadecimal with 0x.\n"
"\n"
"  --reason TEXT         why, in words (kept with the revocation)\n"
"  --reasonCode CODE     RFC 5280 reason: a number (0-10 but 7) or a name:\n"
"                        unspecified (0, default), keyCompromise,\n"
"                        cACompromise, affiliationChanged, superseded,\n"
"                        cessationOfOperation, certificateHold,\n"
"                        removeFromCRL, privilegeWithdrawn, aACompromise\n"
"  --token TOKEN         a revoke token made elsewhere\n"
"  --cert CERT, --key KEY  revoke by SSHPOP with this certificate and key\n"
"  --key-password-file FILE  the password of KEY when it is encrypted\n"
"  --issuer, --provisioner NAME  the JWK provisioner that makes the token\n"
"                        (default: the only one), or with --cert the\n"
"                        SSHPOP provisioner (default: the only one)\n"
"  --kid KID             the JWK provisioner by key id\n"
"  --password-file, --provisioner-password-file FILE  the JWK\n"
"                        provisioner key's password (default the home's\n"
"                        secrets/password)\n"
"  --ca-url URL, --root FILE, --ca-config FILE, --home DIR   as for\n"
"                        `p11ca ssh certificate`\n"
"\n"
"Exit status: 0 revoked, 1 failed, 2 bad usage.\n"
"\n"
"  p11ca ssh revoke 6094727913284011315 --reasonCode keyCompromise\n"
"  p11ca ssh revoke --cert id_ecdsa-cert.pub --key id_ecdsa\n";

/* A 64-bit serial, decimal or 0x-hexadecimal, not 0. */
static int
parse_serial(const char *s, uint64_t *v)
{
	unsigned long long	 n;
	char			*end;
	int			 hex = strncasecmp(s, "0x", 2) == 0;

	if (*s == '\0' || strspn(s + 2 * hex, hex ? "0123456789abcdefABCDEF" :
	    "0123456789") != strlen(s + 2 * hex) || s[2 * hex] == '\0')
		return -1;
	errno = 0;
	n = strtoull(s, &end, hex ? 16 : 10);
	if (errno != 0 || *end != '\0' || n == 0)
		return -1;
	*v = n;
	return 0;
}

int
cmd_ssh_revoke(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_REVOKE_OPTIONS,
		CLI_WHERE_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_tokreq tq = { .aud = "ssh/revoke" };
	struct cli_where w;
	struct ssh_cert	 c;
	struct cli_revoke r = { 0 };
	const char	*iss;
	char		 serial[24], *tok = NULL, *resp = NULL;
	cJSON		*req = NULL;
	EVP_PKEY	*key = NULL;
	uint64_t	 sn = 0;
	int		 ch, taken, status, rc = 1;

	memset(&w, 0, sizeof(w));
	memset(&c, 0, sizeof(c));
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (cli_where_opt(&w, ch, optarg))
			continue;
		if ((taken = cli_revoke_opt(&r, &tq, ch, optarg)) == -1)
			return 2;
		if (taken)
			continue;
		switch (ch) {
		case 'h': fputs(revoke_usage, stdout); return 0;
		default: fputs(revoke_usage, stderr); return 2;
		}
	}
	if (cli_revoke_args(&r, argc) == -1) {
		fputs(revoke_usage, stderr);
		return 2;
	}
	if (optind == argc - 1 && parse_serial(argv[optind], &sn) == -1) {
		cli_err("%s: not a serial number (decimal, or hexadecimal with "
		    "0x; 64 bits, not 0)", argv[optind]);
		return 2;
	}
	if (r.crt != NULL) {
		if (cert_and_key(r.crt, r.keypath, r.kpwfile, &c, &key) == -1)
			goto out;
		if (sn != 0 && sn != c.serial) {
			cli_err("%s is not the serial number of the "
			    "certificate in %s (%llu)", argv[optind], r.crt,
			    (unsigned long long)c.serial);
			goto out;
		}
		sn = c.serial;
		if (ssh_cert_valid_at(&c, (uint64_t)time(NULL)) == -1) {
			cli_err("%s is not valid now: revoke it with a token "
			    "(p11ca ssh revoke SERIAL)", r.crt);
			goto out;
		}
	}
	snprintf(serial, sizeof(serial), "%llu", (unsigned long long)sn);
	if (cli_where_load(&w, CLI_WHERE_PLAIN) == -1)
		goto out;
	if (r.crt != NULL) {
		if ((iss = sshpop_issuer(&w, tq.issuer)) == NULL ||
		    (tok = sshpop_token(w.url, "revoke", iss, &c, key)) ==
		    NULL)
			goto out;
		r.token = tok;
	} else if (r.token == NULL) {
		tq.home = w.home;
		tq.config = w.config;
		tq.url = w.url;
		tq.root = w.root;
		tq.subject = serial;
		if ((tok = cli_mint_token(&tq)) == NULL)
			goto out;
		r.token = tok;
	}
	if ((req = cli_revoke_req(&r, serial)) == NULL)
		goto out;
	if (cli_post_json(&w, "/1.0/ssh/revoke", req, NULL, &status, &resp) ==
	    -1 || cli_answer_ok("revocation", status, resp) == -1)
		goto out;
	printf("SSH certificate with serial number %s has been revoked.\n",
	    serial);
	rc = 0;
out:
	ssh_cert_free(&c);
	EVP_PKEY_free(key);
	cJSON_Delete(req);
	free(tok);
	free(resp);
	cli_where_free(&w);
	return rc;
}

/* ---- p11ca ssh config ---- */

static const char config_usage[] =
"usage: p11ca ssh config [--user | --host] [--roots | --federation]\n"
"                        [--template NAME] [--set KEY=VALUE]... [options]\n"
"\n"
"Prints the configuration the CA renders for OpenSSH (POST\n"
"/1.0/ssh/config), as `step ssh config --dry-run`: for users (default)\n"
"an ssh_config snippet and a known_hosts line that trusts the CA's host\n"
"key (@cert-authority * KEY), for hosts (--host) an sshd_config snippet\n"
"and the CA's user key for TrustedUserCAKeys. Each template is printed\n"
"after a comment line naming it and the path it is meant for; with\n"
"--template NAME only that template's content is printed, as it is, so\n"
"that it can be written to its file.\n"
"\n"
"With --roots it prints instead the CA keys to trust, one \"type base64\"\n"
"line each (GET /1.0/ssh/roots): for users the host CA keys (known_hosts\n"
"after \"@cert-authority * \"), for hosts the user CA keys (sshd's\n"
"TrustedUserCAKeys file). --federation prints the same for the CA and\n"
"those it federates with (GET /1.0/ssh/federation).\n"
"\n"
"  --user, --host        whose configuration (default --user)\n"
"  --roots               the CA keys to trust, not the templates\n"
"  --federation          the same, with federated CAs' keys\n"
"  --template NAME       only this template's content (known_hosts.tpl,\n"
"                        config.tpl; sshd_config.tpl, ca.tpl)\n"
"  --set KEY=VALUE       template data (repeatable): for hosts Key and\n"
"                        Certificate, the host key's file names in\n"
"                        /etc/ssh\n"
"  --ca-url URL, --root FILE, --ca-config FILE, --home DIR   as for\n"
"                        `p11ca ssh certificate`\n"
"\n"
"Exit status: 0 printed, 1 failed, 2 bad usage.\n"
"\n"
"  p11ca ssh config --template known_hosts.tpl >> ~/.ssh/known_hosts\n"
"  p11ca ssh config --host --roots > /etc/ssh/ca.pub\n";

/* GET /ssh/roots or /ssh/federation: the keys of one member as lines. */
static int
print_roots(struct cli_where *w, int federation, const char *member)
{
	struct cli_req	 q = { .method = "GET", .path = federation ?
	    "/1.0/ssh/federation" : "/1.0/ssh/roots" };
	struct ssh_key	 k;
	struct pbuf	 out;
	const cJSON	*arr, *it;
	cJSON		*o = NULL;
	char		 why[128], *resp = NULL;
	uint8_t		*blob;
	size_t		 n;
	int		 status, rc = -1;

	pbuf_init(&out);
	if (cli_http(w->url, w->root, &q, &status, &resp, NULL) == -1)
		return -1;
	if (status != 200 || (o = cJSON_Parse(resp)) == NULL) {
		cli_refused("request for its SSH keys", status, resp);
		goto out;
	}
	arr = cJSON_GetObjectItemCaseSensitive(o, member);
	if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0) {
		cli_err("the CA has no SSH %s CA key", strcmp(member,
		    "userKey") == 0 ? "user" : "host");
		goto out;
	}
	cJSON_ArrayForEach(it, arr) {
		if (!cJSON_IsString(it) ||
		    (blob = cli_b64_decode(it->valuestring, &n)) == NULL) {
			cli_err("the CA's answer holds a malformed %s", member);
			goto out;
		}
		if (ssh_key_from_blob(blob, n, &k, why, sizeof(why)) == -1) {
			free(blob);
			cli_err("the CA's answer holds an unusable %s: %s",
			    member, why);
			goto out;
		}
		ssh_key_free(&k);
		if (ssh_to_text(blob, n, NULL, &out) == -1) {
			free(blob);
			cli_err("out of memory");
			goto out;
		}
		free(blob);
	}
	if (fwrite(out.data, 1, out.len, stdout) != out.len ||
	    fflush(stdout) == EOF) {
		cli_err("stdout: %s", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	pbuf_free(&out);
	cJSON_Delete(o);
	free(resp);
	return rc;
}

/* The templates of a 200 {"userTemplates"|"hostTemplates": [...]}. */
static int
print_templates(const char *resp, const char *member, const char *only)
{
	const cJSON	*arr, *t, *name, *path, *type, *content, *comment;
	cJSON		*o;
	uint8_t		*text;
	size_t		 n;
	int		 found = 0, rc = -1;

	if ((o = cJSON_Parse(resp)) == NULL ||
	    !cJSON_IsArray(arr = cJSON_GetObjectItemCaseSensitive(o,
	    member))) {
		cli_err("the CA's answer holds no %s", member);
		goto out;
	}
	cJSON_ArrayForEach(t, arr) {
		name = cJSON_GetObjectItemCaseSensitive(t, "name");
		path = cJSON_GetObjectItemCaseSensitive(t, "path");
		type = cJSON_GetObjectItemCaseSensitive(t, "type");
		comment = cJSON_GetObjectItemCaseSensitive(t, "comment");
		content = cJSON_GetObjectItemCaseSensitive(t, "content");
		if (!cJSON_IsString(name) || !cJSON_IsString(content) ||
		    (text = cli_b64_decode(content->valuestring, &n)) == NULL) {
			cli_err("the CA's answer holds a malformed template");
			goto out;
		}
		if (only != NULL && strcmp(name->valuestring, only) != 0) {
			free(text);
			continue;
		}
		found = 1;
		if ((only == NULL && printf("%s %s: %s (%s)\n",
		    cJSON_IsString(comment) && *comment->valuestring ?
		    comment->valuestring : "#", name->valuestring,
		    cJSON_IsString(path) ? path->valuestring : "?",
		    cJSON_IsString(type) ? type->valuestring : "?") < 0) ||
		    fwrite(text, 1, n, stdout) != n ||
		    (only == NULL && n > 0 && text[n - 1] != '\n' &&
		    putchar('\n') == EOF)) {
			free(text);
			cli_err("stdout: %s", strerror(errno));
			goto out;
		}
		free(text);
	}
	if (only != NULL && !found) {
		cli_err("the CA sent no template named %s", only);
		goto out;
	}
	if (fflush(stdout) == EOF) {
		cli_err("stdout: %s", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	cJSON_Delete(o);
	return rc;
}

int
cmd_ssh_config(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "user", no_argument, NULL, 'U' },
		{ "host", no_argument, NULL, 'S' },
		{ "roots", no_argument, NULL, 'r' },
		{ "federation", no_argument, NULL, 'F' },
		{ "template", required_argument, NULL, 't' },
		{ "set", required_argument, NULL, 's' },
		CLI_WHERE_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_where w;
	const char	*sets[MAX_SETS], *only = NULL, *eq;
	char		 name[64], *resp = NULL;
	cJSON		*req = NULL, *data;
	int		 ch, i, nsets = 0, host = 0, user = 0, roots = 0;
	int		 fed = 0, status, rc = 1;

	memset(&w, 0, sizeof(w));
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (cli_where_opt(&w, ch, optarg))
			continue;
		switch (ch) {
		case 'U': user = 1; break;
		case 'S': host = 1; break;
		case 'r': roots = 1; break;
		case 'F': fed = 1; break;
		case 't': only = optarg; break;
		case 's':
			if (nsets == MAX_SETS || (eq = strchr(optarg, '=')) ==
			    NULL || eq == optarg || eq - optarg >=
			    (ptrdiff_t)sizeof(name)) {
				cli_err("--set %s: want KEY=VALUE (at most %d)",
				    optarg, MAX_SETS);
				return 2;
			}
			sets[nsets++] = optarg;
			break;
		case 'h': fputs(config_usage, stdout); return 0;
		default: fputs(config_usage, stderr); return 2;
		}
	}
	if (optind != argc || (host && user) || ((roots || fed) &&
	    (only || nsets))) {
		if (host && user)
			cli_err("--user or --host, not both");
		else if (optind == argc)
			cli_err("--roots and --federation print keys, not "
			    "templates: no --template or --set with them");
		fputs(config_usage, stderr);
		return 2;
	}
	if (cli_where_load(&w, CLI_WHERE_PLAIN) == -1)
		goto out;
	if (roots || fed) {
		rc = print_roots(&w, fed, host ? "userKey" : "hostKey") == -1;
		goto out;
	}
	if ((req = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(req, "type", host ? "host" : "user") ==
	    NULL || (nsets > 0 && (data = cJSON_AddObjectToObject(req,
	    "data")) == NULL))
		goto oom;
	for (i = 0; i < nsets; i++) {
		eq = strchr(sets[i], '=');
		snprintf(name, sizeof(name), "%.*s", (int)(eq - sets[i]),
		    sets[i]);
		if (cJSON_AddStringToObject(data, name, eq + 1) == NULL)
			goto oom;
	}
	if (cli_post_json(&w, "/1.0/ssh/config", req, NULL, &status,
	    &resp) == -1)
		goto out;
	if (status != 200) {
		cli_refused("configuration request", status, resp);
		goto out;
	}
	rc = print_templates(resp, host ? "hostTemplates" : "userTemplates",
	    only) == -1;
	goto out;
oom:
	cli_err("out of memory");
out:
	cJSON_Delete(req);
	free(resp);
	cli_where_free(&w);
	return rc;
}

/* ---- p11ca ssh krl ---- */

static const char krl_usage[] =
"usage: p11ca ssh krl [--out FILE] [--ca-url URL] [options]\n"
"\n"
"Fetches the CA's OpenSSH key revocation list (GET /1.0/ssh/krl): every\n"
"revoked SSH certificate that has not expired, by serial number under\n"
"each of the CA's SSH keys, in OpenSSH's binary KRL format. It is what\n"
"sshd's RevokedKeys takes and ssh-keygen -Q -f reads; the CA makes it at\n"
"each request, so a revocation is in the next list fetched. Run the\n"
"command from a timer and point RevokedKeys at --out FILE; sshd reads it\n"
"at every authentication.\n"
"\n"
"The list goes to --out FILE, written to a temporary file next to it,\n"
"synced and renamed over it, and only once it is checked to be a KRL;\n"
"on any failure FILE is untouched. Without --out it goes to standard\n"
"output, which must then not be a terminal.\n"
"\n"
"  --out, --output-file FILE  where the KRL goes (mode 0644)\n"
"  --ca-url URL          the CA: https://, or http:// for its plain\n"
"                        insecureAddress listener, which serves the KRL\n"
"                        too (no root needed)\n"
"  --root FILE, --ca-config FILE, --home DIR   as for `p11ca ssh\n"
"                        certificate`\n"
"\n"
"Exit status: 0 written, 1 failed, 2 bad usage.\n"
"\n"
"  p11ca ssh krl --out /etc/ssh/revoked_keys\n"
"  p11ca ssh krl --ca-url http://ca.internal:9080 > revoked_keys\n";

int
cmd_ssh_krl(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "output-file", required_argument, NULL, 'o' },
		CLI_WHERE_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_req	 q = { .method = "GET", .path = "/1.0/ssh/krl",
	    .accept = "application/octet-stream", .plain_ok = 1 };
	struct cli_where w;
	const char	*out = NULL;
	char		*resp = NULL;
	size_t		 n;
	int		 ch, status, rc = 1;

	memset(&w, 0, sizeof(w));
	optind = 1;
	while ((ch = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		if (cli_where_opt(&w, ch, optarg))
			continue;
		switch (ch) {
		case 'o': out = optarg; break;
		case 'h': fputs(krl_usage, stdout); return 0;
		default: fputs(krl_usage, stderr); return 2;
		}
	}
	if (optind != argc) {
		fputs(krl_usage, stderr);
		return 2;
	}
	if (out == NULL && isatty(STDOUT_FILENO)) {
		cli_err("the KRL is binary: give --out FILE or redirect "
		    "standard output");
		return 2;
	}
	if (cli_where_load(&w, CLI_WHERE_PLAIN) == -1 ||
	    cli_http(w.url, w.root, &q, &status, &resp, &n) == -1)
		goto out;
	if (status != 200) {
		cli_refused("request for its KRL", status, resp);
		goto out;
	}
	/* "SSHKRL\n\0", format version 1 (PROTOCOL.krl). */
	if (n < 12 || memcmp(resp, KRL_MAGIC, sizeof(KRL_MAGIC)) != 0 ||
	    memcmp(resp + 8, "\0\0\0\1", 4) != 0) {
		cli_err("the CA's answer is not an OpenSSH KRL");
		goto out;
	}
	if (out != NULL) {
		if (cli_write_file(out, resp, n, 0644) == -1) {
			cli_err("%s: %s", out, strerror(errno));
			goto out;
		}
		printf("The KRL (%zu bytes) has been saved in %s.\n", n, out);
	} else if (fwrite(resp, 1, n, stdout) != n || fflush(stdout) == EOF) {
		cli_err("stdout: %s", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	free(resp);
	cli_where_free(&w);
	return rc;
}

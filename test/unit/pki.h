/*
 * pki.h — a small PKI made with OpenSSL for the revocation tests
 * (test_crl.c, test_ocsp.c): CA keys and certificates, leaves they issue,
 * signatures the way the signer makes them, a scratch directory for the
 * openssl command, and running it. Included after cmocka.h. The helpers
 * are static inline: each test uses some of them.
 */
#ifndef P11CA_TEST_PKI_H
#define P11CA_TEST_PKI_H

#include <sys/wait.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "hsm/guard.h"
#include "hsm/proto.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))
#define DAY		(24 * 60 * 60)

/* An issuing CA: key, self-signed certificate, and the guard's view. */
struct ca {
	EVP_PKEY	*key;
	X509		*cert;
	uint8_t		*name;		/* subject Name DER, the cert's bytes */
	size_t		 namelen;
	uint8_t		*spki;
	size_t		 spkilen;
	uint8_t		 alg;		/* ALG_* the signer would use */
	const EVP_MD	*md;
	struct guard_key gk;		/* ROLE_ISSUING, from the cert */
	char		 pem[256];	/* the cert, in the scratch dir */
};

static char	 pki_dir[64];

/* "O=Example/CN=Issuing CA", in that (encoding) order. */
static inline X509_NAME *
pki_name(const char *spec)
{
	X509_NAME	*n;
	char		 buf[512], *p, *kv, *eq;

	assert_true(strlen(spec) < sizeof(buf));
	strcpy(buf, spec);
	assert_non_null(n = X509_NAME_new());
	for (p = buf; (kv = strsep(&p, "/")) != NULL;) {
		assert_non_null(eq = strchr(kv, '='));
		*eq++ = '\0';
		assert_int_equal(X509_NAME_add_entry_by_txt(n, kv,
		    MBSTRING_UTF8, (unsigned char *)eq, -1, -1, 0), 1);
	}
	return n;
}

static inline void
pki_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX	 v3;
	X509_EXTENSION	*e;

	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	assert_non_null(e = X509V3_EXT_conf_nid(NULL, &v3, nid, value));
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

static inline time_t
pki_asn1_time(const ASN1_TIME *at)
{
	struct tm	 tm;

	assert_int_equal(ASN1_TIME_to_tm(at, &tm), 1);
	return timegm(&tm);
}

static inline EVP_PKEY *
pki_key(const char *type)
{
	EVP_PKEY	*k;

	if (strcmp(type, "RSA") == 0)
		assert_non_null(k = EVP_RSA_gen(2048));
	else
		assert_non_null(k = EVP_EC_gen(type));
	return k;
}

/*
 * A certificate for key under subject, issued by ca (self-signed when
 * ca is NULL: a CA certificate then). serial is 16 random octets, the
 * first forced to 0x42 so that every printer writes it the same way.
 * ocsp_signing makes a delegated OCSP responder.
 */
static inline X509 *
pki_issue(const struct ca *ca, EVP_PKEY *key, const char *subject,
    int ocsp_signing)
{
	X509		*x;
	X509_NAME	*n;
	ASN1_INTEGER	*sn;
	BIGNUM		*bn;
	uint8_t		 serial[16];

	assert_int_equal(RAND_bytes(serial, sizeof(serial)), 1);
	serial[0] = 0x42;
	assert_non_null(bn = BN_bin2bn(serial, sizeof(serial), NULL));
	assert_non_null(x = X509_new());
	assert_non_null(sn = BN_to_ASN1_INTEGER(bn, NULL));
	assert_int_equal(X509_set_serialNumber(x, sn), 1);
	ASN1_INTEGER_free(sn);
	BN_free(bn);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	n = pki_name(subject);
	assert_int_equal(X509_set_subject_name(x, n), 1);
	assert_int_equal(X509_set_issuer_name(x, ca ?
	    X509_get_subject_name(ca->cert) : n), 1);
	X509_NAME_free(n);
	assert_non_null(X509_time_adj_ex(X509_getm_notBefore(x), -1, 0, NULL));
	assert_non_null(X509_time_adj_ex(X509_getm_notAfter(x), ca ? 90 :
	    3650, 0, NULL));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	pki_ext(x, ca ? ca->cert : x, NID_subject_key_identifier, "hash");
	if (ca == NULL) {
		pki_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
		pki_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		pki_ext(x, ca->cert, NID_authority_key_identifier, "keyid");
		pki_ext(x, ca->cert, NID_basic_constraints,
		    "critical,CA:FALSE");
		pki_ext(x, ca->cert, NID_key_usage,
		    "critical,digitalSignature");
		pki_ext(x, ca->cert, NID_ext_key_usage, ocsp_signing ?
		    "OCSPSigning" : "serverAuth");
	}
	assert_true(X509_sign(x, ca ? ca->key : key, EVP_sha256()) > 0);
	return x;
}

static inline uint8_t *
pki_x509_der(X509 *x, size_t *len)
{
	uint8_t	*der = NULL;
	int	 l;

	assert_true((l = i2d_X509(x, &der)) > 0);
	*len = (size_t)l;
	return der;
}

static inline void
pki_write(const char *file, const void *p, size_t n)
{
	char	 path[256];
	FILE	*f;

	assert_true(snprintf(path, sizeof(path), "%s/%s", pki_dir, file) <
	    (int)sizeof(path));
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static inline uint8_t *
pki_read(const char *file, size_t *len)
{
	char	 path[256];
	uint8_t	*p;
	FILE	*f;
	long	 n;

	assert_true(snprintf(path, sizeof(path), "%s/%s", pki_dir, file) <
	    (int)sizeof(path));
	assert_non_null(f = fopen(path, "r"));
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	assert_true((n = ftell(f)) > 0);
	rewind(f);
	assert_non_null(p = malloc((size_t)n));
	assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
	assert_int_equal(fclose(f), 0);
	*len = (size_t)n;
	return p;
}

static inline void
pki_write_pem(const char *file, X509 *x)
{
	char	 path[256];
	FILE	*f;

	assert_true(snprintf(path, sizeof(path), "%s/%s", pki_dir, file) <
	    (int)sizeof(path));
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(PEM_write_X509(f, x), 1);
	assert_int_equal(fclose(f), 0);
}

/*
 * Runs a shell command in the scratch directory; its output (stdout and
 * stderr) in out, its exit status returned.
 */
static inline int
pki_run(char *out, size_t outsz, const char *fmt, ...)
{
	va_list	 ap;
	char	 cmd[2048], rest[4096];
	FILE	*p;
	size_t	 n = 0, k;
	int	 st;

	assert_true(snprintf(cmd, sizeof(cmd), "cd %s && (", pki_dir) > 0);
	va_start(ap, fmt);
	vsnprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), fmt, ap);
	va_end(ap);
	assert_true(strlen(cmd) + 8 < sizeof(cmd));
	strcat(cmd, ") 2>&1");
	assert_non_null(p = popen(cmd, "r"));
	while (n + 1 < outsz && (k = fread(out + n, 1, outsz - 1 - n, p)) > 0)
		n += k;
	out[n] = '\0';
	/* what does not fit is read all the same: the command must not block */
	while (fread(rest, 1, sizeof(rest), p) > 0)
		;
	assert_true((st = pclose(p)) != -1);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static inline void
pki_expect(const char *out, const char *what)
{
	if (strstr(out, what) == NULL)
		fail_msg("\"%s\" not in:\n%s", what, out);
}

static inline void
pki_mkdir(const char *prefix)
{
	snprintf(pki_dir, sizeof(pki_dir), "/tmp/%s.XXXXXX", prefix);
	assert_non_null(mkdtemp(pki_dir));
}

static inline void
pki_rmdir(void)
{
	char	 out[256];

	if (pki_dir[0] != '\0')
		assert_int_equal(pki_run(out, sizeof(out), "rm -rf -- %s",
		    pki_dir), 0);
}

/* A self-signed issuing CA, and the guard's key for it. */
static inline void
pki_ca(struct ca *ca, const char *type, const char *subject, const char *pem)
{
	uint8_t	*p;
	int	 l;

	memset(ca, 0, sizeof(*ca));
	ca->key = pki_key(type);
	ca->cert = pki_issue(NULL, ca->key, subject, 0);
	p = NULL;
	assert_true((l = i2d_X509_NAME(X509_get_subject_name(ca->cert),
	    &p)) > 0);
	ca->name = p;
	ca->namelen = (size_t)l;
	p = NULL;
	assert_true((l = i2d_PUBKEY(ca->key, &p)) > 0);
	ca->spki = p;
	ca->spkilen = (size_t)l;
	if (strcmp(type, "RSA") == 0) {
		ca->alg = ALG_RSA_PKCS1_SHA256;
		ca->md = EVP_sha256();
	} else if (strcmp(type, "P-384") == 0) {
		ca->alg = ALG_ECDSA_SHA384;
		ca->md = EVP_sha384();
	} else {
		ca->alg = ALG_ECDSA_SHA256;
		ca->md = EVP_sha256();
	}
	ca->gk = (struct guard_key){ .role = ROLE_ISSUING,
	    .subject = ca->name, .subjectlen = ca->namelen,
	    .not_before = pki_asn1_time(X509_get0_notBefore(ca->cert)),
	    .not_after = pki_asn1_time(X509_get0_notAfter(ca->cert)),
	    .spki = ca->spki, .spkilen = ca->spkilen };
	snprintf(ca->pem, sizeof(ca->pem), "%s", pem);
	pki_write_pem(pem, ca->cert);
}

static inline void
pki_ca_free(struct ca *ca)
{
	EVP_PKEY_free(ca->key);
	X509_free(ca->cert);
	OPENSSL_free(ca->name);
	OPENSSL_free(ca->spki);
}

/*
 * Signs as the signer does: ECDSA gives a DER ECDSA-Sig-Value, RSA
 * PKCS#1 v1.5 the raw signature. Free *sig with OPENSSL_free.
 */
static inline void
pki_sign(EVP_PKEY *key, const EVP_MD *md, const uint8_t *tbs, size_t n,
    uint8_t **sig, size_t *siglen)
{
	EVP_MD_CTX	*c;

	assert_non_null(c = EVP_MD_CTX_new());
	assert_int_equal(EVP_DigestSignInit(c, NULL, md, NULL, key), 1);
	assert_int_equal(EVP_DigestSign(c, NULL, siglen, tbs, n), 1);
	assert_non_null(*sig = OPENSSL_malloc(*siglen));
	assert_int_equal(EVP_DigestSign(c, *sig, siglen, tbs, n), 1);
	EVP_MD_CTX_free(c);
}

/* guard_check with a reason always NUL-terminated; the reason's text. */
static inline int
pki_guard(const struct guard_key *k, uint8_t kind, uint8_t alg,
    const uint8_t *p, size_t n, char *reason, size_t reasonsz)
{
	struct guard_info	 gi;
	int			 r;

	memset(&gi, 'X', sizeof(gi));
	r = guard_check(k, kind, alg, p, n, &gi);
	assert_true(r == 0 || r == -1);
	assert_non_null(memchr(gi.reason, '\0', sizeof(gi.reason)));
	snprintf(reason, reasonsz, "%s", gi.reason);
	return r;
}

#endif

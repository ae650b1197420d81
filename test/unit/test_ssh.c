/*
 * test_ssh.c — policy/ssh.c against keys and signatures OpenSSL makes,
 * wire encodings written here independently (from the RFCs and
 * PROTOCOL.certkeys), and the real ssh-keygen: it reads (-L) and checks
 * the certificates we make, makes certificates (-s) and keys for us to
 * read, prints fingerprints (-l) and converts keys (-e) to compare with,
 * and queries (-Q) the KRLs we write. Every body is also put to the
 * signer's guard (hsm/guard.c) the way p11ca-signer would.
 *
 * Inputs to parsers are copied into heap buffers of their exact size,
 * so that an over-read is an ASan report, not a quiet pass.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/wait.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "hsm/guard.h"
#include "hsm/proto.h"
#include "policy/ssh.h"

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))
#define VA		1700000000ull	/* 2023-11-14T22:13:20 UTC */
#define VB		1900000000ull	/* 2030-03-17T17:46:40 UTC */

/* The key types, in the order of keys[]. */
enum { K256, K384, K521, KED, KRSA, NK };

static const struct {
	const char	*name;		/* the key's SSH type */
	const char	*sigalg;	/* what a CA of this type signs with */
	const char	*label;		/* ssh-keygen -L's name for it */
	int		 keytype;
	int		 bits;
	const char	*keygen;	/* ssh-keygen -t/-b for one */
} kt[NK] = {
	{ "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp256", "ECDSA",
	    KEYTYPE_EC_P256, 256, "-t ecdsa -b 256" },
	{ "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp384", "ECDSA",
	    KEYTYPE_EC_P384, 384, "-t ecdsa -b 384" },
	{ "ecdsa-sha2-nistp521", "ecdsa-sha2-nistp521", "ECDSA",
	    KEYTYPE_EC_P521, 521, "-t ecdsa -b 521" },
	{ "ssh-ed25519", "ssh-ed25519", "ED25519", KEYTYPE_ED25519, 256,
	    "-t ed25519" },
	{ "ssh-rsa", "rsa-sha2-512", "RSA", KEYTYPE_RSA, 2048,
	    "-t rsa -b 2048" },
};

static EVP_PKEY		*pk[NK], *rsa1024;
static struct pbuf	 blob[NK];	/* their wire blobs, made here */
static struct ssh_key	 sk[NK];	/* and as ssh.c reads them */
static char		 dir[] = "/tmp/test_ssh.XXXXXX";

/* ---- wire writing, independent of ssh.c ---- */

static void
t_add(struct pbuf *b, const void *p, size_t n)
{
	assert_int_equal(pbuf_add(b, p, n), 0);
}

static void
t_u32(struct pbuf *b, uint32_t x)
{
	uint8_t	 v[4] = { x >> 24, x >> 16, x >> 8, x };

	t_add(b, v, 4);
}

static void
t_u64(struct pbuf *b, uint64_t x)
{
	t_u32(b, (uint32_t)(x >> 32));
	t_u32(b, (uint32_t)x);
}

static void
t_str(struct pbuf *b, const void *p, size_t n)
{
	t_u32(b, (uint32_t)n);
	t_add(b, p, n);
}

static void
t_cstr(struct pbuf *b, const char *s)
{
	t_str(b, s, strlen(s));
}

static void
t_mpint(struct pbuf *b, const BIGNUM *bn)
{
	uint8_t	 v[1 + 2048];
	int	 n;

	assert_true(BN_num_bytes(bn) <= 2048);
	v[0] = 0;
	n = BN_bn2bin(bn, v + 1);
	if (n > 0 && (v[1] & 0x80))
		t_str(b, v, (size_t)n + 1);
	else
		t_str(b, v + 1, (size_t)n);
}

/* The SSH public key blob of k (RFC 4253 6.6, RFC 5656 3.1, RFC 8709). */
static void
t_keyblob(EVP_PKEY *k, struct pbuf *b)
{
	BIGNUM	*n = NULL, *e = NULL;
	uint8_t	 q[133];
	size_t	 ql;
	char	 name[32];

	switch (EVP_PKEY_get_base_id(k)) {
	case EVP_PKEY_ED25519:
		ql = 32;
		assert_int_equal(EVP_PKEY_get_raw_public_key(k, q, &ql), 1);
		t_cstr(b, "ssh-ed25519");
		t_str(b, q, ql);
		break;
	case EVP_PKEY_RSA:
		assert_int_equal(EVP_PKEY_get_bn_param(k,
		    OSSL_PKEY_PARAM_RSA_N, &n), 1);
		assert_int_equal(EVP_PKEY_get_bn_param(k,
		    OSSL_PKEY_PARAM_RSA_E, &e), 1);
		t_cstr(b, "ssh-rsa");
		t_mpint(b, e);
		t_mpint(b, n);
		BN_free(n);
		BN_free(e);
		break;
	default:
		assert_int_equal(EVP_PKEY_get_octet_string_param(k,
		    OSSL_PKEY_PARAM_PUB_KEY, q, sizeof(q), &ql), 1);
		snprintf(name, sizeof(name), "ecdsa-sha2-nistp%d",
		    EVP_PKEY_get_bits(k));
		t_cstr(b, name);
		t_cstr(b, name + 11);
		t_str(b, q, ql);
		break;
	}
}

/* An SSH signature blob by k over p[0..n) with algorithm alg. */
static void
t_sign(EVP_PKEY *k, const char *alg, const uint8_t *p, size_t n,
    struct pbuf *sig)
{
	EVP_MD_CTX		*ctx;
	const EVP_MD		*md = NULL;
	ECDSA_SIG		*es;
	const BIGNUM		*r, *s;
	const unsigned char	*q;
	struct pbuf		 in;
	uint8_t			*raw;
	size_t			 len;

	if (strcmp(alg, "ecdsa-sha2-nistp256") == 0 ||
	    strcmp(alg, "rsa-sha2-256") == 0)
		md = EVP_sha256();
	else if (strcmp(alg, "ecdsa-sha2-nistp384") == 0)
		md = EVP_sha384();
	else if (strcmp(alg, "ecdsa-sha2-nistp521") == 0 ||
	    strcmp(alg, "rsa-sha2-512") == 0)
		md = EVP_sha512();
	else if (strcmp(alg, "ssh-rsa") == 0)
		md = EVP_sha1();
	assert_non_null(ctx = EVP_MD_CTX_new());
	assert_int_equal(EVP_DigestSignInit(ctx, NULL, md, NULL, k), 1);
	assert_int_equal(EVP_DigestSign(ctx, NULL, &len, p, n), 1);
	assert_non_null(raw = malloc(len));
	assert_int_equal(EVP_DigestSign(ctx, raw, &len, p, n), 1);
	EVP_MD_CTX_free(ctx);
	t_cstr(sig, alg);
	if (strncmp(alg, "ecdsa", 5) == 0) {
		q = raw;
		assert_non_null(es = d2i_ECDSA_SIG(NULL, &q, (long)len));
		ECDSA_SIG_get0(es, &r, &s);
		pbuf_init(&in);
		t_mpint(&in, r);
		t_mpint(&in, s);
		t_str(sig, in.data, in.len);
		pbuf_free(&in);
		ECDSA_SIG_free(es);
	} else
		t_str(sig, raw, len);
	free(raw);
}

/* ---- certificates written field by field ---- */

enum { F_TYPE, F_NONCE, F_KEY, F_SERIAL, F_CTYPE, F_KEYID, F_PRINC, F_VA,
	F_VB, F_CRIT, F_EXTS, F_RES, F_SIGKEY, NF };

struct tcert {
	struct pbuf	 f[NF];		/* each field exactly as on the wire */
};

static const char *const user_exts[] = { "permit-X11-forwarding",
	"permit-agent-forwarding", "permit-port-forwarding", "permit-pty",
	"permit-user-rc" };

/* string(pairs) of flags (names, empty data), in the order given. */
static void
t_flags(struct pbuf *b, const char *const *names, size_t n)
{
	struct pbuf	 in;
	size_t		 i;

	pbuf_init(&in);
	for (i = 0; i < n; i++) {
		t_cstr(&in, names[i]);
		t_str(&in, NULL, 0);
	}
	t_str(b, in.data, in.len);
	pbuf_free(&in);
}

/*
 * A certificate of key subj by ca as PROTOCOL.certkeys lays it out:
 * user certificates with ssh-keygen's five extensions.
 */
static void
tc_init(struct tcert *c, int subj, int ca, const uint8_t nonce[32],
    uint64_t serial, uint32_t type, const char *id,
    const char *const *princ, size_t np)
{
	struct pbuf	 in;
	char		 name[64];
	uint32_t	 tl;
	size_t		 i;

	for (i = 0; i < NF; i++)
		pbuf_init(&c->f[i]);
	snprintf(name, sizeof(name), "%s-cert-v01@openssh.com", kt[subj].name);
	t_cstr(&c->f[F_TYPE], name);
	t_str(&c->f[F_NONCE], nonce, 32);
	tl = 4 + (uint32_t)strlen(kt[subj].name);
	t_add(&c->f[F_KEY], blob[subj].data + tl, blob[subj].len - tl);
	t_u64(&c->f[F_SERIAL], serial);
	t_u32(&c->f[F_CTYPE], type);
	t_cstr(&c->f[F_KEYID], id);
	pbuf_init(&in);
	for (i = 0; i < np; i++)
		t_cstr(&in, princ[i]);
	t_str(&c->f[F_PRINC], in.data, in.len);
	pbuf_free(&in);
	t_u64(&c->f[F_VA], VA);
	t_u64(&c->f[F_VB], VB);
	t_str(&c->f[F_CRIT], NULL, 0);
	t_flags(&c->f[F_EXTS], user_exts, type == SSH_CERT_USER ?
	    nitems(user_exts) : 0);
	t_str(&c->f[F_RES], NULL, 0);
	t_str(&c->f[F_SIGKEY], blob[ca].data, blob[ca].len);
}

static void
tc_body(const struct tcert *c, struct pbuf *out)
{
	size_t	 i;

	pbuf_init(out);
	for (i = 0; i < NF; i++)
		t_add(out, c->f[i].data, c->f[i].len);
}

static void
tc_free(struct tcert *c)
{
	size_t	 i;

	for (i = 0; i < NF; i++)
		pbuf_free(&c->f[i]);
}

/* body, then string(a signature by pk[ca] with alg): a whole cert. */
static void
t_finish(const struct pbuf *body, int ca, const char *alg, struct pbuf *out)
{
	struct pbuf	 sig;

	pbuf_init(&sig);
	t_sign(pk[ca], alg, body->data, body->len, &sig);
	pbuf_init(out);
	t_add(out, body->data, body->len);
	t_str(out, sig.data, sig.len);
	pbuf_free(&sig);
}

/* The test builder's certificate, signed as ca would. */
static void
tc_cert(const struct tcert *c, int ca, const char *alg, struct pbuf *out)
{
	struct pbuf	 body;

	tc_body(c, &body);
	t_finish(&body, ca, alg != NULL ? alg : kt[ca].sigalg, out);
	pbuf_free(&body);
}

/* ---- running ssh-keygen ---- */

/* Runs the shell command made of fmt; its output in out, exit status. */
static int
run(char *out, size_t outsz, const char *fmt, ...)
{
	char	 cmd[4096];
	va_list	 ap;
	FILE	*f;
	size_t	 n;
	int	 st;

	va_start(ap, fmt);
	assert_true((size_t)vsnprintf(cmd, sizeof(cmd), fmt, ap) <
	    sizeof(cmd));
	va_end(ap);
	assert_non_null(f = popen(cmd, "r"));
	n = fread(out, 1, outsz - 1, f);
	out[n] = '\0';
	st = pclose(f);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void
write_file(const char *path, const void *p, size_t n)
{
	FILE	*f;

	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

/* Writes p[0..n) to a new mkstemp file in dir; its name in path. */
static void
write_tmp(char path[256], const void *p, size_t n)
{
	int	 fd;

	snprintf(path, 256, "%s/tmpXXXXXX", dir);
	assert_true((fd = mkstemp(path)) != -1);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	assert_int_equal(close(fd), 0);
}

static char *
read_file(const char *path, size_t *n)
{
	FILE	*f;
	char	*s;
	long	 len;

	assert_non_null(f = fopen(path, "r"));
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	assert_true((len = ftell(f)) >= 0);
	rewind(f);
	assert_non_null(s = malloc((size_t)len + 1));
	assert_int_equal(fread(s, 1, (size_t)len, f), (size_t)len);
	s[len] = '\0';
	fclose(f);
	*n = (size_t)len;
	return s;
}

/* The blob as a .pub/-cert.pub line, written to a fresh file. */
static void
write_text(char path[256], const uint8_t *p, size_t n)
{
	struct pbuf	 t;

	pbuf_init(&t);
	assert_int_equal(ssh_to_text(p, n, "test", &t), 0);
	write_tmp(path, t.data, t.len);
	pbuf_free(&t);
}

/* ---- parsing through exact-size copies ---- */

static int
key_blob(const uint8_t *p, size_t n, struct ssh_key *k, char *why)
{
	uint8_t	*b;
	int	 rc;

	assert_non_null(b = malloc(n > 0 ? n : 1));
	if (n > 0)
		memcpy(b, p, n);
	why[0] = '\0';
	rc = ssh_key_from_blob(b, n, k, why, 128);
	free(b);
	if (rc == -1)
		assert_true(why[0] != '\0' && k->blob == NULL &&
		    k->pkey == NULL);
	return rc;
}

static int
key_text(const char *s, struct ssh_key *k, char *why)
{
	size_t	 n = strlen(s);
	char	*b;
	int	 rc;

	assert_non_null(b = malloc(n > 0 ? n : 1));
	memcpy(b, s, n);
	why[0] = '\0';
	rc = ssh_key_from_text(b, n, k, why, 128);
	free(b);
	if (rc == -1)
		assert_true(why[0] != '\0' && k->blob == NULL &&
		    k->pkey == NULL && k->comment == NULL);
	return rc;
}

static int
cert_blob(const uint8_t *p, size_t n, struct ssh_cert *c, char *why)
{
	uint8_t	*b;
	int	 rc;

	assert_non_null(b = malloc(n > 0 ? n : 1));
	if (n > 0)
		memcpy(b, p, n);
	why[0] = '\0';
	rc = ssh_cert_from_blob(b, n, c, why, 128);
	free(b);
	if (rc == -1)
		assert_true(why[0] != '\0' && c->raw == NULL &&
		    c->key.pkey == NULL && c->ca.pkey == NULL &&
		    c->principals == NULL && c->key_id == NULL);
	return rc;
}

static void
key_refused(const uint8_t *p, size_t n, const char *reason)
{
	struct ssh_key	 k;
	char		 why[128];

	assert_int_equal(key_blob(p, n, &k, why), -1);
	if (reason != NULL && strstr(why, reason) == NULL)
		fail_msg("refused for \"%s\", not \"%s\"", why, reason);
}

static void
text_refused(const char *s, const char *reason)
{
	struct ssh_key	 k;
	char		 why[128];

	if (key_text(s, &k, why) != -1)
		fail_msg("\"%s\" was taken", s);
	if (reason != NULL && strstr(why, reason) == NULL)
		fail_msg("\"%s\" refused for \"%s\", not \"%s\"", s, why,
		    reason);
}

static void
cert_refused(const struct pbuf *b, const char *reason)
{
	struct ssh_cert	 c;
	char		 why[128];

	if (cert_blob(b->data, b->len, &c, why) != -1) {
		ssh_cert_free(&c);
		fail_msg("taken, not refused for \"%s\"", reason != NULL ?
		    reason : "anything");
	}
	if (reason != NULL && strstr(why, reason) == NULL)
		fail_msg("refused for \"%s\", not \"%s\"", why, reason);
}

/* ---- setup ---- */

static int
setup(void **state)
{
	char	 why[128];
	int	 i;

	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	pk[K256] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	pk[K384] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	pk[K521] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
	pk[KED] = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	pk[KRSA] = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	if (rsa1024 == NULL)
		return -1;
	for (i = 0; i < NK; i++) {
		if (pk[i] == NULL)
			return -1;
		pbuf_init(&blob[i]);
		t_keyblob(pk[i], &blob[i]);
		if (ssh_key_from_blob(blob[i].data, blob[i].len, &sk[i], why,
		    sizeof(why)) == -1) {
			fprintf(stderr, "key %d: %s\n", i, why);
			return -1;
		}
	}
	return 0;
}

static int
teardown(void **state)
{
	char	 cmd[128];
	int	 i;

	(void)state;
	for (i = 0; i < NK; i++) {
		EVP_PKEY_free(pk[i]);
		pbuf_free(&blob[i]);
		ssh_key_free(&sk[i]);
	}
	EVP_PKEY_free(rsa1024);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- public keys ---- */

/* Our keys read back: type, size, the same key in OpenSSL, text form. */
static void
test_keys(void **state)
{
	struct ssh_key	 k;
	struct pbuf	 t;
	char		 why[128], fp[SSH_FP_SIZE], out[4096], path[256];
	char		*s;
	int		 i;

	(void)state;
	for (i = 0; i < NK; i++) {
		assert_int_equal(key_blob(blob[i].data, blob[i].len, &k, why),
		    0);
		assert_int_equal(k.keytype, kt[i].keytype);
		assert_int_equal(k.bits, kt[i].bits);
		assert_string_equal(k.name, kt[i].name);
		assert_int_equal(k.bloblen, blob[i].len);
		assert_memory_equal(k.blob, blob[i].data, blob[i].len);
		assert_int_equal(EVP_PKEY_eq(k.pkey, pk[i]), 1);
		assert_null(k.comment);
		assert_int_equal(ssh_sign_alg(&k), i == K256 ?
		    ALG_ECDSA_SHA256 : i == K384 ? ALG_ECDSA_SHA384 :
		    i == K521 ? ALG_ECDSA_SHA512 : i == KED ? ALG_ED25519 :
		    ALG_RSA_PKCS1_SHA512);

		/* The fingerprint ssh-keygen -l prints for the same key. */
		assert_int_equal(ssh_fingerprint(k.blob, k.bloblen, fp), 0);
		assert_int_equal(strlen(fp), SSH_FP_SIZE - 1);
		write_text(path, k.blob, k.bloblen);
		assert_int_equal(run(out, sizeof(out), "ssh-keygen -l -f %s "
		    "2>&1", path), 0);
		assert_non_null(strstr(out, fp));
		assert_non_null(strstr(out, kt[i].label));
		ssh_key_free(&k);

		/* The text form, back again with its comment. */
		pbuf_init(&t);
		assert_int_equal(ssh_to_text(blob[i].data, blob[i].len,
		    "alice@example with spaces", &t), 0);
		assert_int_equal(ssh_to_text(blob[i].data, blob[i].len, "",
		    &t), 0);
		t_add(&t, "", 1);
		assert_non_null(s = strchr((char *)t.data, '\n'));
		*s = '\0';
		assert_int_equal(key_text((char *)t.data, &k, why), 0);
		assert_memory_equal(k.blob, blob[i].data, blob[i].len);
		assert_string_equal(k.comment, "alice@example with spaces");
		ssh_key_free(&k);
		assert_int_equal(key_text(s + 1, &k, why), 0);
		assert_memory_equal(k.blob, blob[i].data, blob[i].len);
		assert_null(k.comment);
		ssh_key_free(&k);
		pbuf_free(&t);
	}
	/* Freeing twice, or a zeroed key, is fine. */
	ssh_key_free(&k);
	assert_int_equal(ssh_sign_alg(&k), -1);
}

/*
 * Keys ssh-keygen made, read from their .pub files: the key ssh-keygen
 * exports as PKCS#8 must be the one we imported, and the fingerprints
 * must agree.
 */
static void
test_keygen_keys(void **state)
{
	struct ssh_key	 k;
	EVP_PKEY	*x;
	FILE		*f;
	char		 why[128], fp[SSH_FP_SIZE], out[4096], path[256];
	char		 want[32];
	char		*s;
	size_t		 n;
	int		 i;

	(void)state;
	for (i = 0; i < NK; i++) {
		snprintf(path, sizeof(path), "%s/k%d", dir, i);
		assert_int_equal(run(out, sizeof(out), "ssh-keygen -q %s -N '' "
		    "-C 'comment %d' -f %s 2>&1", kt[i].keygen, i, path), 0);
		snprintf(path, sizeof(path), "%s/k%d.pub", dir, i);
		s = read_file(path, &n);
		assert_int_equal(key_text(s, &k, why), 0);
		free(s);
		assert_int_equal(k.keytype, kt[i].keytype);
		snprintf(want, sizeof(want), "comment %d", i);
		assert_string_equal(k.comment, want);
		assert_int_equal(ssh_fingerprint(k.blob, k.bloblen, fp), 0);
		assert_int_equal(run(out, sizeof(out), "ssh-keygen -l -f %s "
		    "2>&1", path), 0);
		assert_non_null(strstr(out, fp));
		/* ssh-keygen -e cannot export Ed25519 as PKCS#8. */
		if (i != KED) {
			snprintf(path, sizeof(path), "%s/k%d.pem", dir, i);
			assert_int_equal(run(out, sizeof(out), "ssh-keygen -e "
			    "-m PKCS8 -f %s/k%d.pub >%s", dir, i, path), 0);
			assert_non_null(f = fopen(path, "r"));
			assert_non_null(x = PEM_read_PUBKEY(f, NULL, NULL,
			    NULL));
			fclose(f);
			assert_int_equal(EVP_PKEY_eq(x, k.pkey), 1);
			EVP_PKEY_free(x);
		}
		ssh_key_free(&k);
	}
}

static void
test_key_truncated(void **state)
{
	struct pbuf	 b;
	size_t		 n;
	int		 i;

	(void)state;
	for (i = 0; i < NK; i++) {
		for (n = 0; n < blob[i].len; n++)
			key_refused(blob[i].data, n, NULL);
		pbuf_init(&b);
		t_add(&b, blob[i].data, blob[i].len);
		t_add(&b, "", 1);
		key_refused(b.data, b.len, "trailing data");
		pbuf_free(&b);
	}
}

static void
test_key_refused(void **state)
{
	struct pbuf	 b;
	uint8_t		 q[133], big[2050];
	size_t		 ql;
	char		 why[128];
	struct ssh_key	 k;

	(void)state;
	/* RSA under 2048 bits */
	pbuf_init(&b);
	t_keyblob(rsa1024, &b);
	key_refused(b.data, b.len, "shorter than 2048");
	pbuf_free(&b);

	/* types not taken: DSA, security keys, certificates, junk */
	pbuf_init(&b);
	t_cstr(&b, "ssh-dss");
	t_str(&b, "\x01", 1);
	key_refused(b.data, b.len, "unsupported key type");
	b.len = 0;
	t_cstr(&b, "sk-ssh-ed25519@openssh.com");
	t_add(&b, blob[KED].data + 15, 36);
	t_cstr(&b, "ssh:");
	key_refused(b.data, b.len, "unsupported key type");
	b.len = 0;
	t_cstr(&b, "ssh-ed25519-cert-v01@openssh.com");
	key_refused(b.data, b.len, "a certificate");
	b.len = 0;
	t_cstr(&b, "");
	key_refused(b.data, b.len, "unsupported key type");

	/* Ed25519 keys of 31 and 33 bytes */
	memset(q, 7, sizeof(q));
	b.len = 0;
	t_cstr(&b, "ssh-ed25519");
	t_str(&b, q, 31);
	key_refused(b.data, b.len, "Ed25519");
	b.len = 0;
	t_cstr(&b, "ssh-ed25519");
	t_str(&b, q, 33);
	key_refused(b.data, b.len, "Ed25519");

	/* An EC point off the curve; the curve of another type; compressed */
	assert_int_equal(EVP_PKEY_get_octet_string_param(pk[K256],
	    OSSL_PKEY_PARAM_PUB_KEY, q, sizeof(q), &ql), 1);
	q[ql - 1] ^= 1;
	b.len = 0;
	t_cstr(&b, "ecdsa-sha2-nistp256");
	t_cstr(&b, "nistp256");
	t_str(&b, q, ql);
	key_refused(b.data, b.len, "not on the curve");
	q[ql - 1] ^= 1;
	b.len = 0;
	t_cstr(&b, "ecdsa-sha2-nistp256");
	t_cstr(&b, "nistp384");
	t_str(&b, q, ql);
	key_refused(b.data, b.len, "curve does not match");
	b.len = 0;
	t_cstr(&b, "ecdsa-sha2-nistp384");
	t_cstr(&b, "nistp384");
	t_str(&b, q, ql);
	key_refused(b.data, b.len, "malformed ECDSA key");
	q[0] = 0x02 | (q[ql - 1] & 1);
	b.len = 0;
	t_cstr(&b, "ecdsa-sha2-nistp256");
	t_cstr(&b, "nistp256");
	t_str(&b, q, 33);
	key_refused(b.data, b.len, "point encoding");
	b.len = 0;
	t_cstr(&b, "ecdsa-sha2-nistp256");
	t_cstr(&b, "nistp256");
	t_str(&b, "\x00", 1);
	key_refused(b.data, b.len, "point encoding");

	/* RSA: exponents even, 1, over 24 bits; n not minimal, negative */
	b.len = 0;
	t_cstr(&b, "ssh-rsa");
	t_str(&b, "\x01\x00\x00", 3);
	t_add(&b, blob[KRSA].data + 11 + 4 + 3, blob[KRSA].len - 18);
	key_refused(b.data, b.len, "exponent");
	b.len = 0;
	t_cstr(&b, "ssh-rsa");
	t_str(&b, "\x01", 1);
	t_add(&b, blob[KRSA].data + 18, blob[KRSA].len - 18);
	key_refused(b.data, b.len, "exponent");
	b.len = 0;
	t_cstr(&b, "ssh-rsa");
	t_str(&b, "\x01\x00\x00\x01", 4);
	t_add(&b, blob[KRSA].data + 18, blob[KRSA].len - 18);
	key_refused(b.data, b.len, "exponent");
	/* 0xffffff, 24 bits, is as large as step-ca takes */
	b.len = 0;
	t_cstr(&b, "ssh-rsa");
	t_str(&b, "\x00\xff\xff\xff", 4);
	t_add(&b, blob[KRSA].data + 18, blob[KRSA].len - 18);
	assert_int_equal(key_blob(b.data, b.len, &k, why), 0);
	ssh_key_free(&k);
	b.len = 0;
	t_cstr(&b, "ssh-rsa");
	t_str(&b, "\x00\x01\x00\x01", 4);	/* a needless 0 */
	t_add(&b, blob[KRSA].data + 18, blob[KRSA].len - 18);
	key_refused(b.data, b.len, "malformed RSA key");
	b.len = 0;
	t_cstr(&b, "ssh-rsa");
	t_str(&b, "", 0);			/* zero */
	t_add(&b, blob[KRSA].data + 18, blob[KRSA].len - 18);
	key_refused(b.data, b.len, "malformed RSA key");
	/* the modulus without its sign octet: negative */
	b.len = 0;
	t_cstr(&b, "ssh-rsa");
	t_str(&b, "\x01\x00\x01", 3);
	t_str(&b, blob[KRSA].data + 18 + 5, 256);
	key_refused(b.data, b.len, "malformed RSA key");
	/* over 16384 bits */
	memset(big, 0x55, sizeof(big));
	b.len = 0;
	t_cstr(&b, "ssh-rsa");
	t_str(&b, "\x01\x00\x01", 3);
	t_str(&b, big, sizeof(big));
	key_refused(b.data, b.len, "larger than 16384");
	pbuf_free(&b);

	assert_int_equal(ssh_key_from_blob(NULL, 0, &k, why, sizeof(why)),
	    -1);
	assert_null(k.blob);
}

static void
test_key_text_refused(void **state)
{
#define E "ecdsa-sha2-nistp256"
	struct ssh_key	 k;
	struct pbuf	 t;
	char		 why[128], line[2048], b64[256], *p;

	(void)state;
	pbuf_init(&t);
	assert_int_equal(ssh_to_text(blob[K256].data, blob[K256].len, NULL,
	    &t), 0);
	t_add(&t, "", 1);
	assert_non_null(p = strchr((char *)t.data, ' '));
	assert_true(strlen(p + 1) < sizeof(b64));
	strcpy(b64, p + 1);
	assert_non_null(p = strchr(b64, '\n'));
	*p = '\0';
	/* Line ends: one \n or \r\n; tabs and runs of blanks between. */
	snprintf(line, sizeof(line), E " %s\r\n", b64);
	assert_int_equal(key_text(line, &k, why), 0);
	ssh_key_free(&k);
	snprintf(line, sizeof(line), E "\t \t%s  a comment  ", b64);
	assert_int_equal(key_text(line, &k, why), 0);
	assert_string_equal(k.comment, "a comment");
	ssh_key_free(&k);

	snprintf(line, sizeof(line), E " %s\n\n", b64);
	text_refused(line, "control character");
	snprintf(line, sizeof(line), E " %s\r", b64);
	text_refused(line, "control character");
	snprintf(line, sizeof(line), E " %s\n" E " %s", b64, b64);
	text_refused(line, "control character");
	snprintf(line, sizeof(line), " " E " %s", b64);
	text_refused(line, "malformed key line");
	snprintf(line, sizeof(line), E "%s", b64);
	text_refused(line, "malformed key line");
	text_refused(E, "malformed key line");
	text_refused(E " ", "malformed key line");
	text_refused("", "malformed key line");
	snprintf(line, sizeof(line), "ssh-ed25519 %s", b64);
	text_refused(line, "does not match");
	snprintf(line, sizeof(line), E " %s comment\x7f", b64);
	text_refused(line, "control character");
	/* authorized_keys options are not taken */
	snprintf(line, sizeof(line), "cert-authority " E " %s", b64);
	text_refused(line, "base64");

	/* base64: padding needed, nothing after it, canonical last bits */
	snprintf(line, sizeof(line), E " %.*s", (int)strlen(b64) - 1, b64);
	text_refused(line, "base64");
	snprintf(line, sizeof(line), E " %s=", b64);
	text_refused(line, "base64");
	snprintf(line, sizeof(line), E " %s", b64);
	assert_non_null(p = strchr(line, '='));	/* 104 bytes: one '=' */
	assert_int_equal(p[1], '\0');
	p[-1] = p[-1] == 'A' ? 'B' : p[-1] + 1;
	text_refused(line, "base64");
	snprintf(line, sizeof(line), E " %s", b64);
	line[30] = '*';
	text_refused(line, "base64");
	snprintf(line, sizeof(line), E " %s", b64);
	line[30] = '=';
	text_refused(line, "base64");
	/* a whole line with a NUL in it */
	snprintf(line, sizeof(line), E " %s x", b64);
	line[strlen(line) - 1] = '\0';
	assert_int_equal(ssh_key_from_text(line, strlen(b64) + 22, &k, why,
	    sizeof(why)), -1);
	assert_non_null(strstr(why, "control character"));
	assert_int_equal(ssh_key_from_text(NULL, 0, &k, why, sizeof(why)), -1);

	/* 136 bytes: two '=', and the last character's low 4 bits 0 */
	t.len = 0;
	assert_int_equal(ssh_to_text(blob[K384].data, blob[K384].len, NULL,
	    &t), 0);
	t_add(&t, "", 1);
	assert_non_null(p = strstr((char *)t.data, "==\n"));
	p[-1] = p[-1] == 'A' ? 'B' : p[-1] + 1;
	text_refused((char *)t.data, "base64");
	pbuf_free(&t);
#undef E
}

/* An OpenSSL key through the SPKI DER a token gives, as p11ca init reads. */
static EVP_PKEY *
spki_copy(EVP_PKEY *k, int compressed)
{
	EVP_PKEY		*dup, *x;
	unsigned char		*der = NULL;
	const unsigned char	*q;
	int			 n;

	assert_non_null(dup = EVP_PKEY_dup(k));
	if (compressed)
		assert_int_equal(EVP_PKEY_set_utf8_string_param(dup,
		    OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "compressed"),
		    1);
	assert_true((n = i2d_PUBKEY(dup, &der)) > 0);
	q = der;
	assert_non_null(x = d2i_PUBKEY(NULL, &q, n));
	OPENSSL_free(der);
	EVP_PKEY_free(dup);
	return x;
}

static void
pkey_refused(EVP_PKEY *x, const char *reason)
{
	struct ssh_key	 k;
	char		 why[128] = "";

	assert_int_equal(ssh_key_from_pkey(x, &k, why, sizeof(why)), -1);
	assert_true(k.blob == NULL && k.pkey == NULL && k.comment == NULL);
	if (strstr(why, reason) == NULL)
		fail_msg("refused for \"%s\", not \"%s\"", why, reason);
	ssh_key_free(&k);
}

/*
 * ssh_key_from_pkey: the blob is the one written here and the one
 * ssh-keygen -i makes of the PKCS#8 public key (it cannot import
 * Ed25519: there its fingerprint speaks), EC points are uncompressed
 * whatever the SPKI held, and what ssh.c would not read is refused.
 */
static void
test_key_from_pkey(void **state)
{
	struct ssh_key	 k;
	struct pbuf	 t;
	EVP_PKEY	*x;
	FILE		*f;
	char		 why[128], fp[SSH_FP_SIZE], out[4096], path[256];
	int		 i, c;

	(void)state;
	for (i = 0; i < NK; i++)
		for (c = 0; c < (i <= K521 ? 2 : 1); c++) {
			x = spki_copy(pk[i], c);
			assert_int_equal(ssh_key_from_pkey(x, &k, why,
			    sizeof(why)), 0);
			EVP_PKEY_free(x);
			assert_int_equal(k.keytype, kt[i].keytype);
			assert_int_equal(k.bits, kt[i].bits);
			assert_string_equal(k.name, kt[i].name);
			assert_int_equal(k.bloblen, blob[i].len);
			assert_memory_equal(k.blob, blob[i].data, blob[i].len);
			assert_int_equal(EVP_PKEY_eq(k.pkey, pk[i]), 1);
			assert_null(k.comment);
			assert_int_equal(ssh_fingerprint(k.blob, k.bloblen, fp),
			    0);
			write_text(path, k.blob, k.bloblen);
			assert_int_equal(run(out, sizeof(out), "ssh-keygen -l "
			    "-f %s 2>&1", path), 0);
			assert_non_null(strstr(out, fp));
			if (i != KED) {
				snprintf(path, sizeof(path), "%s/pkey%d.pem",
				    dir, i);
				assert_non_null(f = fopen(path, "w"));
				assert_int_equal(PEM_write_PUBKEY(f, pk[i]), 1);
				assert_int_equal(fclose(f), 0);
				assert_int_equal(run(out, sizeof(out),
				    "ssh-keygen -i -m PKCS8 -f %s", path), 0);
				pbuf_init(&t);
				assert_int_equal(ssh_to_text(k.blob, k.bloblen,
				    NULL, &t), 0);
				t_add(&t, "", 1);
				assert_string_equal(out, (char *)t.data);
				pbuf_free(&t);
			}
			ssh_key_free(&k);
		}

	pkey_refused(NULL, "malformed key");
	pkey_refused(rsa1024, "shorter than 2048");
	assert_non_null(x = EVP_PKEY_Q_keygen(NULL, NULL, "X25519"));
	pkey_refused(x, "unsupported key type");
	EVP_PKEY_free(x);
	assert_non_null(x = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-224"));
	pkey_refused(x, "unsupported EC curve");
	EVP_PKEY_free(x);
	assert_non_null(x = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1"));
	pkey_refused(x, "unsupported EC curve");
	EVP_PKEY_free(x);
}

/* ---- certificates we make, checked by ssh-keygen and the guard ---- */

static const struct ssh_option_in crit[] = {
	{ "source-address", "10.0.0.0/8,192.168.1.1/32" },
	{ "force-command", "/usr/bin/true" },
};

/*
 * What ssh-keygen -L says of the certificate at path, made by ca for
 * subj, with this serial, key id and principals.
 */
static void
check_keygen_L(const char *path, int subj, int ca, uint64_t serial,
    uint32_t type, const char *id, const char *const *princ, size_t np,
    const char *exts)
{
	char	 out[8192], want[512], fp[SSH_FP_SIZE];
	size_t	 i;

	if (run(out, sizeof(out), "TZ=UTC ssh-keygen -L -f %s 2>&1", path)
	    != 0)
		fail_msg("ssh-keygen -L: %s", out);
	snprintf(want, sizeof(want), "Type: %s-cert-v01@openssh.com %s "
	    "certificate\n", kt[subj].name, type == SSH_CERT_USER ? "user" :
	    "host");
	assert_non_null(strstr(out, want));
	assert_int_equal(ssh_fingerprint(blob[subj].data, blob[subj].len,
	    fp), 0);
	snprintf(want, sizeof(want), "Public key: %s-CERT %s\n",
	    kt[subj].label, fp);
	assert_non_null(strstr(out, want));
	assert_int_equal(ssh_fingerprint(blob[ca].data, blob[ca].len, fp), 0);
	snprintf(want, sizeof(want), "Signing CA: %s %s (using %s)\n",
	    kt[ca].label, fp, kt[ca].sigalg);
	if (strstr(out, want) == NULL)
		fail_msg("no \"%s\" in %s", want, out);
	snprintf(want, sizeof(want), "Key ID: \"%s\"\n", id);
	assert_non_null(strstr(out, want));
	snprintf(want, sizeof(want), "Serial: %llu\n",
	    (unsigned long long)serial);
	assert_non_null(strstr(out, want));
	assert_non_null(strstr(out, "Valid: from 2023-11-14T22:13:20 to "
	    "2030-03-17T17:46:40\n"));
	snprintf(want, sizeof(want), "Principals: \n");
	for (i = 0; i < np; i++)
		snprintf(want + strlen(want), sizeof(want) - strlen(want),
		    "                %s\n", princ[i]);
	assert_non_null(strstr(out, want));
	if (strstr(out, exts) == NULL)
		fail_msg("no \"%s\" in %s", exts, out);
}

#define USER_EXTS "Extensions: \n" \
	"                permit-X11-forwarding\n" \
	"                permit-agent-forwarding\n" \
	"                permit-port-forwarding\n" \
	"                permit-pty\n" \
	"                permit-user-rc\n"

/* guard_check() as the signer runs it for a key of role ssh. */
static int
guard(int ca, const struct pbuf *body, struct guard_info *gi)
{
	struct guard_key	 g = { .role = ROLE_SSH,
	    .sshpub = blob[ca].data, .sshpublen = blob[ca].len };

	return guard_check(&g, KIND_SSH_CERT, (uint8_t)ssh_sign_alg(&sk[ca]),
	    body->data, body->len, gi);
}

/*
 * Every key type certified by every CA key type, as user and host
 * certificates: the bytes must be the ones written here by hand, and
 * ssh-keygen must read them (which verifies the signature too).
 */
static void
test_cert_encode(void **state)
{
	static const char *const princ[] = { "alice", "root" };
	static const char *const hprinc[] = { "host.example.com", "10.1.2.3" };
	static const char *const sorted_crit[] = { "force-command",
	    "source-address" };
	struct ssh_cert_req	 r;
	struct ssh_cert		 c;
	struct guard_info	 gi;
	struct tcert		 tc;
	struct pbuf		 body, mine, sig, in;
	uint8_t			 nonce[32];
	char			 why[128], path[256], want[64], out[8192];
	uint64_t		 serial;
	size_t			 i;
	int			 subj, ca, host;

	(void)state;
	for (ca = 0; ca < NK; ca++)
	for (subj = 0; subj < NK; subj++)
	for (host = 0; host < 2; host++) {
		assert_int_equal(RAND_bytes(nonce, sizeof(nonce)), 1);
		serial = 0x1000000000ull * (uint64_t)(ca + 1) +
		    (uint64_t)(subj * 2 + host);
		memset(&r, 0, sizeof(r));
		r.key = &sk[subj];
		r.nonce = nonce;
		r.serial = serial;
		r.type = host ? SSH_CERT_HOST : SSH_CERT_USER;
		r.key_id = host ? "host.example.com" : "alice@example.com";
		r.principals = host ? hprinc : princ;
		r.nprincipals = 2;
		r.valid_after = VA;
		r.valid_before = VB;
		if (!host) {
			r.critical = crit;	/* sorted by ssh.c */
			r.ncritical = nitems(crit);
		}
		r.ca = &sk[ca];
		pbuf_init(&mine);
		assert_int_equal(ssh_cert_body(&r, &mine, why, sizeof(why)),
		    0);

		/* The same certificate, field by field. */
		tc_init(&tc, subj, ca, nonce, serial, r.type, r.key_id,
		    r.principals, 2);
		if (!host) {
			tc.f[F_CRIT].len = 0;
			pbuf_init(&in);
			for (i = 0; i < 2; i++) {
				t_cstr(&in, sorted_crit[i]);
				pbuf_init(&sig);
				t_cstr(&sig, crit[1 - i].value);
				t_str(&in, sig.data, sig.len);
				pbuf_free(&sig);
			}
			t_str(&tc.f[F_CRIT], in.data, in.len);
			pbuf_free(&in);
		}
		tc_body(&tc, &body);
		assert_int_equal(mine.len, body.len);
		assert_memory_equal(mine.data, body.data, body.len);
		tc_free(&tc);

		/* The signer would sign it, for this CA key only. */
		assert_int_equal(guard(ca, &mine, &gi), 0);
		assert_string_equal(gi.subject, r.key_id);
		snprintf(want, sizeof(want), "%016llx",
		    (unsigned long long)serial);
		assert_string_equal(gi.serial, want);
		assert_int_equal(guard((ca + 1) % NK, &mine, &gi), -1);
		assert_non_null(strstr(gi.reason, "not this CA's key"));

		/* Signed as the signer does, finished, read by ssh-keygen. */
		pbuf_init(&sig);
		t_sign(pk[ca], kt[ca].sigalg, mine.data, mine.len, &sig);
		assert_int_equal(ssh_cert_finish(&mine, &sk[ca], sig.data,
		    sig.len, why, sizeof(why)), 0);
		pbuf_free(&sig);
		write_text(path, mine.data, mine.len);
		check_keygen_L(path, subj, ca, serial, r.type, r.key_id,
		    r.principals, 2, host ? "Extensions: (none)\n" :
		    USER_EXTS);
		assert_int_equal(run(out, sizeof(out), "ssh-keygen -L -f %s",
		    path), 0);
		assert_non_null(strstr(out, host ?
		    "Critical Options: (none)\n" : "Critical Options: \n"
		    "                force-command /usr/bin/true\n"
		    "                source-address "
		    "10.0.0.0/8,192.168.1.1/32\n"));

		/* And read back by ssh.c, its signature good. */
		assert_int_equal(cert_blob(mine.data, mine.len, &c, why), 0);
		assert_int_equal(c.bodylen, body.len);
		assert_int_equal(c.serial, serial);
		assert_int_equal(c.type, r.type);
		assert_string_equal(c.key_id, r.key_id);
		assert_int_equal(c.nprincipals, 2);
		assert_string_equal(c.principals[0], r.principals[0]);
		assert_string_equal(c.principals[1], r.principals[1]);
		assert_int_equal(c.valid_after, VA);
		assert_int_equal(c.valid_before, VB);
		assert_memory_equal(c.nonce, nonce, 32);
		assert_int_equal(c.key.bloblen, blob[subj].len);
		assert_memory_equal(c.key.blob, blob[subj].data,
		    blob[subj].len);
		assert_int_equal(EVP_PKEY_eq(c.key.pkey, pk[subj]), 1);
		assert_int_equal(c.ca.bloblen, blob[ca].len);
		assert_memory_equal(c.ca.blob, blob[ca].data, blob[ca].len);
		assert_string_equal(c.sigalg, kt[ca].sigalg);
		assert_int_equal(c.ncritical, host ? 0 : 2);
		assert_int_equal(c.nextensions, host ? 0 : 5);
		for (i = 0; !host && i < 5; i++) {
			assert_string_equal(c.extensions[i].name,
			    user_exts[i]);
			assert_int_equal(c.extensions[i].datalen, 0);
		}
		if (!host) {
			assert_string_equal(c.critical[0].name,
			    "force-command");
			assert_int_equal(c.critical[0].datalen, 4 + 13);
			assert_memory_equal(c.critical[0].data,
			    "\0\0\0\x0d/usr/bin/true", 17);
		}
		assert_int_equal(ssh_cert_verify(&c, why, sizeof(why)), 0);
		/* one bit of the body flipped, and it no longer verifies */
		c.raw[c.bodylen / 2] ^= 0x10;
		assert_int_equal(ssh_cert_verify(&c, why, sizeof(why)), -1);
		assert_string_equal(why, "bad certificate signature");
		c.raw[c.bodylen / 2] ^= 0x10;
		assert_int_equal(ssh_cert_valid_at(&c, VA), 0);
		assert_int_equal(ssh_cert_valid_at(&c, VB - 1), 0);
		assert_int_equal(ssh_cert_valid_at(&c, VA - 1), -1);
		assert_int_equal(ssh_cert_valid_at(&c, VB), -1);
		ssh_cert_free(&c);
		pbuf_free(&body);
		pbuf_free(&mine);
	}
}

/* Extensions given, unsorted; none at all for a user certificate. */
static void
test_cert_extensions(void **state)
{
	static const char *const princ[] = { "alice" };
	static const struct ssh_option_in ext[] = {
		{ "permit-pty", NULL },
		{ "no-touch-required", NULL },
		{ "permit-agent-forwarding", NULL },
	};
	struct ssh_cert_req	 r;
	struct ssh_cert		 c;
	struct pbuf		 b, sig;
	uint8_t			 nonce[32] = { 1 };
	char			 why[128], path[256], out[8192];

	(void)state;
	r = (struct ssh_cert_req){ .key = &sk[KED], .nonce = nonce,
	    .serial = 7, .type = SSH_CERT_USER, .key_id = "alice",
	    .principals = princ, .nprincipals = 1, .valid_after = VA,
	    .valid_before = VB, .extensions = ext, .nextensions = 3,
	    .ca = &sk[K256] };
	pbuf_init(&b);
	assert_int_equal(ssh_cert_body(&r, &b, why, sizeof(why)), 0);
	pbuf_init(&sig);
	t_sign(pk[K256], kt[K256].sigalg, b.data, b.len, &sig);
	assert_int_equal(ssh_cert_finish(&b, &sk[K256], sig.data, sig.len,
	    why, sizeof(why)), 0);
	write_text(path, b.data, b.len);
	check_keygen_L(path, KED, K256, 7, SSH_CERT_USER, "alice", princ, 1,
	    "Extensions: \n"
	    "                no-touch-required\n"
	    "                permit-agent-forwarding\n"
	    "                permit-pty\n");
	assert_int_equal(cert_blob(b.data, b.len, &c, why), 0);
	assert_int_equal(c.nextensions, 3);
	assert_string_equal(c.extensions[0].name, "no-touch-required");
	ssh_cert_free(&c);

	/* Forever, and no extensions. */
	r.valid_after = 0;
	r.valid_before = SSH_VALID_FOREVER;
	r.nextensions = 0;
	b.len = 0;
	assert_int_equal(ssh_cert_body(&r, &b, why, sizeof(why)), 0);
	sig.len = 0;
	t_sign(pk[K256], kt[K256].sigalg, b.data, b.len, &sig);
	assert_int_equal(ssh_cert_finish(&b, &sk[K256], sig.data, sig.len,
	    why, sizeof(why)), 0);
	write_text(path, b.data, b.len);
	assert_int_equal(run(out, sizeof(out), "ssh-keygen -L -f %s", path),
	    0);
	assert_non_null(strstr(out, "Valid: forever\n"));
	assert_non_null(strstr(out, "Extensions: (none)\n"));
	assert_int_equal(cert_blob(b.data, b.len, &c, why), 0);
	assert_int_equal(c.nextensions, 0);
	assert_int_equal(ssh_cert_valid_at(&c, 0), 0);
	assert_int_equal(ssh_cert_valid_at(&c, UINT64_MAX - 1), 0);
	assert_int_equal(ssh_cert_verify(&c, why, sizeof(why)), 0);
	ssh_cert_free(&c);
	pbuf_free(&sig);
	pbuf_free(&b);
}

/* What the encoder refuses, leaving the buffer as it was. */
static void
test_cert_encode_refused(void **state)
{
	static const char *const princ[] = { "alice" };
	static const char *const empty[] = { "" };
	static const struct ssh_option_in dup[] = {
		{ "permit-pty", NULL }, { "permit-X11-forwarding", NULL },
		{ "permit-pty", NULL },
	};
	static const struct ssh_option_in noname[] = { { "", NULL } };
	static const char *many[SSH_MAX_PRINCIPALS + 1];
	static struct ssh_option_in opts[SSH_MAX_OPTIONS + 1];
	static char	 names[SSH_MAX_OPTIONS + 1][24];
	struct ssh_cert_req	 r, good;
	struct pbuf		 b;
	uint8_t			 nonce[32] = { 0 };
	char			 why[128];
	size_t			 i;

	(void)state;
	good = (struct ssh_cert_req){ .key = &sk[K384], .nonce = nonce,
	    .serial = 1, .type = SSH_CERT_USER, .key_id = "x",
	    .principals = princ, .nprincipals = 1, .valid_after = VA,
	    .valid_before = VB, .ca = &sk[KRSA] };
	pbuf_init(&b);
	t_add(&b, "prefix", 6);
#define REFUSED(what, reason) do {					\
	r = good;							\
	what;								\
	assert_int_equal(ssh_cert_body(&r, &b, why, sizeof(why)), -1);	\
	if (strstr(why, reason) == NULL)				\
		fail_msg("refused for \"%s\", not \"%s\"", why, reason);\
	assert_int_equal(b.len, 6);					\
} while (0)
	REFUSED(r.nprincipals = 0, "no principals");
	REFUSED(r.principals = NULL, "no principals");
	REFUSED(r.principals = empty, "empty principal");
	REFUSED(r.type = 0, "neither user nor host");
	REFUSED(r.type = 3, "neither user nor host");
	REFUSED(r.valid_before = VA, "empty validity");
	REFUSED(r.nonce = NULL, "no nonce");
	REFUSED(r.key_id = NULL, "no key id");
	REFUSED(r.key = NULL, "no key");
	REFUSED(r.ca = NULL, "no signature key");
	REFUSED((r.extensions = dup, r.nextensions = 3), "given twice");
	REFUSED((r.critical = dup, r.ncritical = 3), "given twice");
	REFUSED((r.critical = noname, r.ncritical = 1), "empty option name");
	for (i = 0; i < nitems(many); i++)
		many[i] = "p";
	REFUSED((r.principals = many, r.nprincipals = nitems(many)),
	    "too many principals");
	for (i = 0; i < nitems(opts); i++) {
		snprintf(names[i], sizeof(names[i]), "o%03zu", i);
		opts[i].name = names[i];
	}
	REFUSED((r.extensions = opts, r.nextensions = nitems(opts)),
	    "too many options");
	assert_int_equal(ssh_cert_body(NULL, &b, why, sizeof(why)), -1);
	/* exactly as many as OpenSSH takes */
	r = good;
	r.principals = many;
	r.nprincipals = SSH_MAX_PRINCIPALS;
	assert_int_equal(ssh_cert_body(&r, &b, why, sizeof(why)), 0);
#undef REFUSED
	pbuf_free(&b);
}

/* What ssh_cert_finish() refuses: wrong CA, algorithm, blob. */
static void
test_cert_finish_refused(void **state)
{
	static const char *const princ[] = { "alice" };
	struct ssh_cert_req	 r;
	struct pbuf		 b, sig;
	uint8_t			 nonce[32] = { 0 };
	char			 why[128];
	size_t			 len;

	(void)state;
	r = (struct ssh_cert_req){ .key = &sk[K256], .nonce = nonce,
	    .serial = 1, .type = SSH_CERT_HOST, .key_id = "x",
	    .principals = princ, .nprincipals = 1, .valid_after = VA,
	    .valid_before = VB, .ca = &sk[KRSA] };
	pbuf_init(&b);
	assert_int_equal(ssh_cert_body(&r, &b, why, sizeof(why)), 0);
	len = b.len;
	pbuf_init(&sig);
#define REFUSED(ca, reason) do {					\
	assert_int_equal(ssh_cert_finish(&b, (ca), sig.data, sig.len,	\
	    why, sizeof(why)), -1);					\
	if (strstr(why, reason) == NULL)				\
		fail_msg("refused for \"%s\", not \"%s\"", why, reason);\
	assert_int_equal(b.len, len);					\
} while (0)
	/* OpenSSH 9.2 takes no SHA-1; we make rsa-sha2-512 only. */
	t_sign(pk[KRSA], "ssh-rsa", b.data, b.len, &sig);
	REFUSED(&sk[KRSA], "SHA-1");
	sig.len = 0;
	t_sign(pk[KRSA], "rsa-sha2-256", b.data, b.len, &sig);
	REFUSED(&sk[KRSA], "not the one to use");
	sig.len = 0;
	t_sign(pk[KRSA], "rsa-sha2-512", b.data, b.len, &sig);
	REFUSED(&sk[KED], "not this key");
	t_add(&sig, "", 1);
	REFUSED(&sk[KRSA], "malformed signature");
	sig.len -= 2;
	REFUSED(&sk[KRSA], "malformed");
	sig.len = 0;
	t_sign(pk[K256], "ecdsa-sha2-nistp256", b.data, b.len, &sig);
	REFUSED(&sk[KRSA], "does not fit");
	REFUSED(NULL, "no signature key");
	sig.len = 0;
	t_sign(pk[KRSA], "rsa-sha2-512", b.data, b.len, &sig);
	assert_int_equal(ssh_cert_finish(&b, &sk[KRSA], sig.data, sig.len,
	    why, sizeof(why)), 0);
	assert_int_equal(b.len, len + 4 + sig.len);
#undef REFUSED
	pbuf_free(&sig);
	pbuf_free(&b);
}

/* ---- certificates ssh-keygen makes ---- */

/*
 * ssh-keygen -s with each CA key type (and rsa-sha2-256 for RSA) on
 * each key type: read, verified, then broken one byte at a time.
 */
static void
test_keygen_certs(void **state)
{
	static const char *const sigalgs[] = { "ecdsa-sha2-nistp256",
	    "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-ed25519",
	    "rsa-sha2-512", "rsa-sha2-256" };
	struct ssh_cert	 c, d;
	struct ssh_key	 cak, uk;
	char		 why[128], out[4096], path[256];
	char		*s, *u;
	size_t		 n, un, i;
	int		 ca, cat, subj;

	(void)state;
	/* 5: RSA again, signing with rsa-sha2-256 */
	for (ca = 0; ca < 6; ca++) {
		cat = ca < NK ? ca : KRSA;
		subj = (ca + 1) % NK;
		snprintf(path, sizeof(path), "%s/ca%d", dir, ca);
		assert_int_equal(run(out, sizeof(out), "rm -f %s %s.pub && "
		    "ssh-keygen -q %s -N '' -f %s 2>&1", path, path,
		    kt[cat].keygen, path), 0);
		snprintf(path, sizeof(path), "%s/u%d", dir, ca);
		assert_int_equal(run(out, sizeof(out), "rm -f %s %s.pub && "
		    "ssh-keygen -q %s -N '' -f %s 2>&1", path, path,
		    kt[subj].keygen, path), 0);
		assert_int_equal(run(out, sizeof(out), "ssh-keygen -q -s "
		    "%s/ca%d %s -I id -n alice -z 42 %s/u%d.pub 2>&1", dir, ca,
		    ca == 5 ? "-t rsa-sha2-256" : "", dir, ca), 0);

		snprintf(path, sizeof(path), "%s/ca%d.pub", dir, ca);
		s = read_file(path, &n);
		assert_int_equal(key_text(s, &cak, why), 0);
		free(s);
		snprintf(path, sizeof(path), "%s/u%d.pub", dir, ca);
		u = read_file(path, &un);
		assert_int_equal(key_text(u, &uk, why), 0);
		free(u);
		snprintf(path, sizeof(path), "%s/u%d-cert.pub", dir, ca);
		s = read_file(path, &n);
		why[0] = '\0';
		if (ssh_cert_from_text(s, n, &c, why, sizeof(why)) != 0)
			fail_msg("ssh-keygen's certificate: %s", why);
		free(s);
		assert_string_equal(c.key_id, "id");
		assert_int_equal(c.nprincipals, 1);
		assert_string_equal(c.principals[0], "alice");
		assert_int_equal(c.serial, 42);
		assert_int_equal(c.type, SSH_CERT_USER);
		assert_int_equal(c.valid_after, 0);
		assert_int_equal(c.valid_before, SSH_VALID_FOREVER);
		assert_int_equal(c.noncelen, 32);
		assert_int_equal(c.ncritical, 0);
		assert_int_equal(c.nextensions, nitems(user_exts));
		for (i = 0; i < nitems(user_exts); i++)
			assert_string_equal(c.extensions[i].name,
			    user_exts[i]);
		assert_int_equal(c.key.bloblen, uk.bloblen);
		assert_memory_equal(c.key.blob, uk.blob, uk.bloblen);
		assert_int_equal(c.ca.bloblen, cak.bloblen);
		assert_memory_equal(c.ca.blob, cak.blob, cak.bloblen);
		assert_string_equal(c.sigalg, sigalgs[ca]);
		assert_non_null(c.comment);
		assert_int_equal(ssh_cert_verify(&c, why, sizeof(why)), 0);

		/*
		 * Any one byte changed: refused, or read and its signature
		 * bad. The body, at least, is covered by the signature.
		 */
		for (i = 0; i < c.rawlen; i++) {
			c.raw[i] ^= 0x01;
			if (cert_blob(c.raw, c.rawlen, &d, why) == 0) {
				if (ssh_cert_verify(&d, why, sizeof(why)) == 0)
					fail_msg("byte %zu of %zu changed, "
					    "still verified", i, c.rawlen);
				assert_non_null(strstr(why, "signature"));
				ssh_cert_free(&d);
			}
			c.raw[i] ^= 0x01;
		}
		/* The signature's last byte: read, but does not verify. */
		c.raw[c.rawlen - 1] ^= 0x80;
		assert_int_equal(ssh_cert_verify(&c, why, sizeof(why)), -1);
		assert_non_null(strstr(why, "bad certificate signature"));
		c.raw[c.rawlen - 1] ^= 0x80;
		/* and one in the middle of the body */
		c.raw[c.bodylen / 2] ^= 0x04;
		assert_int_equal(ssh_cert_verify(&c, why, sizeof(why)), -1);
		ssh_cert_free(&c);
		ssh_key_free(&cak);
		ssh_key_free(&uk);
	}
	/* Freeing twice is fine; verifying nothing is refused. */
	ssh_cert_free(&c);
	assert_int_equal(ssh_cert_verify(&c, why, sizeof(why)), -1);
	assert_int_equal(ssh_cert_valid_at(&c, 1), -1);
}

/* A host certificate ssh-keygen makes, with critical options, validity. */
static void
test_keygen_host_cert(void **state)
{
	struct ssh_cert	 c;
	char		 why[128], out[4096], path[256];
	char		*s;
	size_t		 n;

	(void)state;
	assert_int_equal(run(out, sizeof(out), "cd %s && rm -f hca hca.pub "
	    "h h.pub && ssh-keygen -q -t ed25519 -N '' -f hca && ssh-keygen "
	    "-q -t ecdsa -b 384 -N '' -f h && TZ=UTC ssh-keygen -q -s hca "
	    "-I host1 -h -n h.example,h2 -V 20240101:20250101 "
	    "-O force-command=ls -O source-address=10.0.0.1/32 -z 7 h.pub "
	    "2>&1", dir), 0);
	snprintf(path, sizeof(path), "%s/h-cert.pub", dir);
	s = read_file(path, &n);
	assert_int_equal(ssh_cert_from_text(s, n, &c, why, sizeof(why)), 0);
	free(s);
	assert_int_equal(c.type, SSH_CERT_HOST);
	assert_string_equal(c.name,
	    "ecdsa-sha2-nistp384-cert-v01@openssh.com");
	assert_int_equal(c.key.keytype, KEYTYPE_EC_P384);
	assert_int_equal(c.serial, 7);
	assert_int_equal(c.nprincipals, 2);
	assert_string_equal(c.principals[1], "h2");
	assert_int_equal(c.valid_after, 1704067200);
	assert_int_equal(c.valid_before, 1735689600);
	assert_int_equal(c.ncritical, 2);
	assert_string_equal(c.critical[0].name, "force-command");
	assert_int_equal(c.critical[0].datalen, 6);
	assert_memory_equal(c.critical[0].data, "\0\0\0\2ls", 6);
	assert_string_equal(c.critical[1].name, "source-address");
	assert_int_equal(c.nextensions, 0);
	assert_int_equal(ssh_cert_verify(&c, why, sizeof(why)), 0);
	ssh_cert_free(&c);
}

/* ---- malformed certificates ---- */

/* string(n principals "p") */
static void
t_principals(struct pbuf *b, size_t n)
{
	struct pbuf	 in;
	size_t		 i;

	pbuf_init(&in);
	for (i = 0; i < n; i++)
		t_cstr(&in, "p");
	t_str(b, in.data, in.len);
	pbuf_free(&in);
}

/* string(n flags "o000", "o001"...): sorted, unique */
static void
t_nflags(struct pbuf *b, size_t n)
{
	struct pbuf	 in;
	char		 name[24];
	size_t		 i;

	pbuf_init(&in);
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "o%03zu", i);
		t_cstr(&in, name);
		t_str(&in, NULL, 0);
	}
	t_str(b, in.data, in.len);
	pbuf_free(&in);
}

static void
test_cert_refused(void **state)
{
	static const uint8_t zeros[65];
	static const char *const princ[] = { "alice" };
	static const char *const unsorted[] = { "permit-pty",
	    "permit-X11-forwarding" };
	static const char *const twice[] = { "permit-pty", "permit-pty" };
	static const char *const prefix[] = { "permit-pty", "permit-p" };
	struct tcert	 tc;
	struct ssh_cert	 c;
	struct pbuf	 b, x, in;
	uint8_t		 nonce[32] = { 9 };
	char		 why[128];
	size_t		 n;

	(void)state;
	tc_init(&tc, KRSA, K521, nonce, 5, SSH_CERT_USER, "id", princ, 1);
	tc_cert(&tc, K521, NULL, &b);
	assert_int_equal(cert_blob(b.data, b.len, &c, why), 0);
	assert_int_equal(ssh_cert_verify(&c, why, sizeof(why)), 0);
	ssh_cert_free(&c);
	pbuf_free(&b);
	/* as many options and principals as are taken */
	tc.f[F_EXTS].len = 0;
	t_nflags(&tc.f[F_EXTS], SSH_MAX_OPTIONS);
	tc.f[F_PRINC].len = 0;
	t_principals(&tc.f[F_PRINC], SSH_MAX_PRINCIPALS);
	tc_cert(&tc, K521, NULL, &b);
	assert_int_equal(cert_blob(b.data, b.len, &c, why), 0);
	assert_int_equal(c.nextensions, SSH_MAX_OPTIONS);
	assert_int_equal(c.nprincipals, SSH_MAX_PRINCIPALS);
	assert_string_equal(c.extensions[SSH_MAX_OPTIONS - 1].name, "o063");
	ssh_cert_free(&c);
	pbuf_free(&b);
	tc_free(&tc);
	tc_init(&tc, KRSA, K521, nonce, 5, SSH_CERT_USER, "id", princ, 1);
	tc_cert(&tc, K521, NULL, &b);
	/* every truncation; a byte more */
	for (n = 0; n < b.len; n++) {
		x.data = b.data;
		x.len = n;
		cert_refused(&x, NULL);
	}
	t_add(&b, "", 1);
	cert_refused(&b, "trailing data");
	pbuf_free(&b);

#define WITH(field, build, reason) do {					\
	struct tcert	 t2;						\
	size_t		 k;						\
									\
	tc_init(&t2, KRSA, K521, nonce, 5, SSH_CERT_USER, "id", princ, 1);\
	t2.f[field].len = 0;						\
	pbuf_init(&in);							\
	build;								\
	t_add(&t2.f[field], in.data, in.len);				\
	pbuf_free(&in);							\
	tc_cert(&t2, K521, NULL, &b);					\
	cert_refused(&b, reason);					\
	pbuf_free(&b);							\
	for (k = 0; k < NF; k++)					\
		pbuf_free(&t2.f[k]);					\
} while (0)
	WITH(F_EXTS, t_flags(&in, unsorted, 2), "not sorted");
	WITH(F_EXTS, t_flags(&in, twice, 2), "not sorted, or repeated");
	WITH(F_EXTS, t_flags(&in, prefix, 2), "not sorted");
	WITH(F_CRIT, t_flags(&in, unsorted, 2), "not sorted");
	WITH(F_EXTS, (t_u32(&in, 4), t_cstr(&in, "")), "malformed options");
	WITH(F_EXTS, (t_u32(&in, 8), t_str(&in, NULL, 0), t_str(&in, NULL,
	    0)), "empty option name");
	WITH(F_EXTS, (t_u32(&in, 11), t_str(&in, "a\0b", 3),
	    t_str(&in, NULL, 0)), "option name");
	WITH(F_CTYPE, t_u32(&in, 3), "neither user nor host");
	WITH(F_CTYPE, t_u32(&in, 0), "neither user nor host");
	WITH(F_RES, t_cstr(&in, "x"), "reserved field not empty");
	WITH(F_KEYID, t_str(&in, "a\0", 2), "malformed key id");
	WITH(F_PRINC, (t_u32(&in, 4), t_str(&in, NULL, 0)), "empty principal");
	WITH(F_PRINC, (t_u32(&in, 6), t_str(&in, "a\0", 2)),
	    "malformed principal");
	WITH(F_PRINC, (t_u32(&in, 5), t_u32(&in, 2), t_add(&in, "a", 1)),
	    "malformed principals");
	WITH(F_VB, t_u64(&in, VA), "empty validity");
	WITH(F_NONCE, t_str(&in, nonce, 8), "nonce length");
	WITH(F_NONCE, t_str(&in, zeros, 65), "nonce length");
	WITH(F_TYPE, t_cstr(&in, "ssh-dss-cert-v01@openssh.com"),
	    "unsupported certificate type");
	WITH(F_TYPE, t_cstr(&in, "ssh-rsa"), "a plain key");
	/* the key fields of another type */
	WITH(F_KEY, t_add(&in, blob[KED].data + 15, blob[KED].len - 15),
	    "malformed RSA key");
	/* RSA 1024 certified */
	WITH(F_KEY, (t_keyblob(rsa1024, &in), memmove(in.data, in.data + 11,
	    in.len - 11), in.len -= 11), "shorter than 2048");
	/* a signature key that is a certificate, or junk */
	WITH(F_SIGKEY, (t_u32(&in, 4 + 32),
	    t_cstr(&in, "ssh-ed25519-cert-v01@openssh.com")), "a certificate");
	WITH(F_SIGKEY, t_str(&in, blob[K521].data, blob[K521].len - 1),
	    "malformed");
	WITH(F_PRINC, t_principals(&in, SSH_MAX_PRINCIPALS + 1),
	    "too many principals");
	WITH(F_EXTS, t_nflags(&in, SSH_MAX_OPTIONS + 1), "too many options");
	WITH(F_CRIT, t_nflags(&in, SSH_MAX_OPTIONS + 1), "too many options");
#undef WITH
	tc_free(&tc);
}

/* Signature blobs that do not fit the signature key. */
static void
test_cert_sig_refused(void **state)
{
	static const char *const princ[] = { "alice" };
	struct tcert	 tc;
	struct ssh_cert	 c;
	struct pbuf	 body, b, sig;
	uint8_t		 nonce[32] = { 3 };
	char		 why[128];

	(void)state;
	/* RSA: SHA-1 refused, rsa-sha2-256 fine */
	tc_init(&tc, K256, KRSA, nonce, 5, SSH_CERT_USER, "id", princ, 1);
	tc_cert(&tc, KRSA, "ssh-rsa", &b);
	cert_refused(&b, "SHA-1");
	pbuf_free(&b);
	tc_cert(&tc, KRSA, "rsa-sha2-256", &b);
	assert_int_equal(cert_blob(b.data, b.len, &c, why), 0);
	assert_string_equal(c.sigalg, "rsa-sha2-256");
	assert_int_equal(ssh_cert_verify(&c, why, sizeof(why)), 0);
	ssh_cert_free(&c);
	pbuf_free(&b);
	tc_free(&tc);

	/* a P-384 signature on a P-256 CA's certificate */
	tc_init(&tc, KED, K256, nonce, 5, SSH_CERT_USER, "id", princ, 1);
	tc_body(&tc, &body);
	pbuf_init(&sig);
	t_sign(pk[K384], "ecdsa-sha2-nistp384", body.data, body.len, &sig);
	pbuf_init(&b);
	t_add(&b, body.data, body.len);
	t_str(&b, sig.data, sig.len);
	cert_refused(&b, "does not fit");
	/* P-256 signatures: an extra octet inside, a non-minimal r */
	sig.len = 0;
	t_cstr(&sig, "ecdsa-sha2-nistp256");
	t_u32(&sig, 4 + 1 + 4 + 1 + 1);
	t_str(&sig, "\x01", 1);
	t_str(&sig, "\x01", 1);
	t_add(&sig, "", 1);
	b.len = 0;
	t_add(&b, body.data, body.len);
	t_str(&b, sig.data, sig.len);
	cert_refused(&b, "malformed ECDSA signature");
	sig.len = 0;
	t_cstr(&sig, "ecdsa-sha2-nistp256");
	t_u32(&sig, 4 + 2 + 4 + 1);
	t_str(&sig, "\x00\x01", 2);
	t_str(&sig, "\x01", 1);
	b.len = 0;
	t_add(&b, body.data, body.len);
	t_str(&b, sig.data, sig.len);
	cert_refused(&b, "malformed ECDSA signature");
	/* a well-formed signature that is wrong: read, not verified */
	sig.len = 0;
	t_cstr(&sig, "ecdsa-sha2-nistp256");
	t_u32(&sig, 4 + 1 + 4 + 1);
	t_str(&sig, "\x01", 1);
	t_str(&sig, "\x01", 1);
	b.len = 0;
	t_add(&b, body.data, body.len);
	t_str(&b, sig.data, sig.len);
	assert_int_equal(cert_blob(b.data, b.len, &c, why), 0);
	assert_int_equal(ssh_cert_verify(&c, why, sizeof(why)), -1);
	ssh_cert_free(&c);
	/* an unknown algorithm; an Ed25519 signature of 63 bytes */
	sig.len = 0;
	t_cstr(&sig, "ecdsa-sha2-nistp255");
	t_str(&sig, NULL, 0);
	b.len = 0;
	t_add(&b, body.data, body.len);
	t_str(&b, sig.data, sig.len);
	cert_refused(&b, "unsupported signature algorithm");
	pbuf_free(&b);
	pbuf_free(&body);
	pbuf_free(&sig);
	tc_free(&tc);

	tc_init(&tc, K256, KED, nonce, 5, SSH_CERT_USER, "id", princ, 1);
	tc_body(&tc, &body);
	pbuf_init(&sig);
	t_sign(pk[KED], "ssh-ed25519", body.data, body.len, &sig);
	sig.len--;
	sig.data[18] = 63;
	pbuf_init(&b);
	t_add(&b, body.data, body.len);
	t_str(&b, sig.data, sig.len);
	cert_refused(&b, "malformed Ed25519 signature");
	pbuf_free(&b);
	pbuf_free(&body);
	pbuf_free(&sig);
	tc_free(&tc);
}

/* The text form: type must be the blob's; a key is no certificate. */
static void
test_cert_text(void **state)
{
	static const char *const princ[] = { "alice" };
	struct tcert	 tc;
	struct ssh_cert	 c;
	struct pbuf	 b, t;
	uint8_t		 nonce[32] = { 4 };
	char		 why[128], *s;

	(void)state;
	tc_init(&tc, K256, KED, nonce, 5, SSH_CERT_USER, "id", princ, 1);
	tc_cert(&tc, KED, NULL, &b);
	pbuf_init(&t);
	assert_int_equal(ssh_to_text(b.data, b.len, "cert comment", &t), 0);
	assert_int_equal(ssh_cert_from_text((char *)t.data, t.len, &c, why,
	    sizeof(why)), 0);
	assert_string_equal(c.comment, "cert comment");
	assert_int_equal(c.rawlen, b.len);
	assert_memory_equal(c.raw, b.data, b.len);
	ssh_cert_free(&c);
	/* the type of a P-384 certificate */
	t_add(&t, "", 1);
	s = strstr((char *)t.data, "nistp256");
	s[7] = '4';
	s[6] = '8';
	s[5] = '3';
	assert_int_equal(ssh_cert_from_text((char *)t.data, t.len - 1, &c, why,
	    sizeof(why)), -1);
	assert_non_null(strstr(why, "does not match"));
	assert_null(c.raw);
	/* a key line */
	t.len = 0;
	assert_int_equal(ssh_to_text(blob[K256].data, blob[K256].len, NULL,
	    &t), 0);
	assert_int_equal(ssh_cert_from_text((char *)t.data, t.len, &c, why,
	    sizeof(why)), -1);
	assert_non_null(strstr(why, "a plain key"));
	assert_int_equal(ssh_cert_from_text(NULL, 0, &c, why, sizeof(why)),
	    -1);
	assert_int_equal(ssh_cert_from_blob(NULL, 0, &c, why, sizeof(why)),
	    -1);
	/* ssh_to_text() refuses what is not a blob, or a comment with \n */
	t.len = 0;
	assert_int_equal(ssh_to_text(b.data, 3, NULL, &t), -1);
	assert_int_equal(ssh_to_text(b.data, b.len, "a\nb", &t), -1);
	assert_int_equal(t.len, 0);
	pbuf_free(&t);
	pbuf_free(&b);
	tc_free(&tc);
}

/* ---- KRLs ---- */

/* A certificate by ca with this serial, written to a file; its path. */
static void
cert_file(char path[256], int ca, uint64_t serial)
{
	static const char *const princ[] = { "alice" };
	struct ssh_cert_req	 r;
	struct pbuf		 b, sig;
	uint8_t			 nonce[32] = { 5 };
	char			 why[128];

	r = (struct ssh_cert_req){ .key = &sk[K256], .nonce = nonce,
	    .serial = serial, .type = SSH_CERT_USER, .key_id = "k",
	    .principals = princ, .nprincipals = 1, .valid_after = VA,
	    .valid_before = VB, .ca = &sk[ca] };
	pbuf_init(&b);
	assert_int_equal(ssh_cert_body(&r, &b, why, sizeof(why)), 0);
	pbuf_init(&sig);
	t_sign(pk[ca], kt[ca].sigalg, b.data, b.len, &sig);
	assert_int_equal(ssh_cert_finish(&b, &sk[ca], sig.data, sig.len, why,
	    sizeof(why)), 0);
	write_text(path, b.data, b.len);
	pbuf_free(&sig);
	pbuf_free(&b);
}

static void
test_krl(void **state)
{
	static const uint64_t ed_serials[] = { 42, 7, 5, 6, 100, 42, 8, 200,
	    201 };
	static const uint64_t any_serials[] = { 1000 };
	static const struct {
		int		 ca;
		uint64_t	 serial;
		int		 revoked;
	} q[] = {
		{ KED, 42, 1 }, { KED, 5, 1 }, { KED, 6, 1 }, { KED, 8, 1 },
		{ KED, 100, 1 }, { KED, 200, 1 }, { KED, 201, 1 },
		{ KED, 43, 0 }, { KED, 4, 0 }, { KED, 9, 0 }, { KED, 202, 0 },
		{ K256, 42, 0 }, { K256, 1000, 1 }, { KED, 1000, 1 },
		{ KRSA, 7, 1 }, { KRSA, 8, 0 },
	};
	const uint64_t	 rsa_serial = 7;
	struct ssh_krl_ca cas[3];
	struct ssh_krl	 k;
	struct pbuf	 b;
	char		 why[128], out[4096], path[256], krl[256];
	size_t		 i;

	(void)state;
	cas[0] = (struct ssh_krl_ca){ blob[KED].data, blob[KED].len,
	    ed_serials, nitems(ed_serials) };
	cas[1] = (struct ssh_krl_ca){ NULL, 0, any_serials, 1 };
	cas[2] = (struct ssh_krl_ca){ blob[KRSA].data, blob[KRSA].len,
	    &rsa_serial, 1 };
	k = (struct ssh_krl){ .version = 3, .generated = VA,
	    .comment = "test KRL", .cas = cas, .ncas = 3 };
	pbuf_init(&b);
	assert_int_equal(ssh_krl_encode(&k, &b, why, sizeof(why)), 0);
	assert_memory_equal(b.data, "SSHKRL\n\0\0\0\0\1", 12);
	snprintf(krl, sizeof(krl), "%s/krl", dir);
	write_file(krl, b.data, b.len);

	for (i = 0; i < nitems(q); i++) {
		cert_file(path, q[i].ca, q[i].serial);
		assert_int_equal(run(out, sizeof(out), "ssh-keygen -Q -f %s "
		    "%s 2>&1", krl, path), q[i].revoked);
		if (strstr(out, q[i].revoked ? ": REVOKED" : ": ok") == NULL)
			fail_msg("serial %llu: %s",
			    (unsigned long long)q[i].serial, out);
	}
	/* What ssh-keygen reads in it: lists and ranges as we meant. */
	assert_int_equal(run(out, sizeof(out), "ssh-keygen -Q -l -f %s 2>&1",
	    krl), 0);
	assert_non_null(strstr(out, "# KRL version 3\n"));
	assert_non_null(strstr(out, "# Comment: test KRL\n"));
	assert_non_null(strstr(out, "serial: 5-8\n"));
	assert_non_null(strstr(out, "serial: 42\n"));
	assert_non_null(strstr(out, "serial: 100\n"));
	assert_non_null(strstr(out, "serial: 200-201\n"));
	assert_non_null(strstr(out, "serial: 1000\n"));
	pbuf_free(&b);
}

/*
 * The bytes of ssh-keygen -k's KRL, but for the date it puts in: two
 * far apart serials (a list, for ssh-keygen too) and a long run (a
 * range); ssh-keygen would write a bitmap for close serials.
 */
static void
test_krl_bytes(void **state)
{
	static uint64_t	 serials[1002];
	struct ssh_krl_ca ca;
	struct ssh_krl	 k;
	struct pbuf	 b;
	char		 why[128], out[4096], path[256];
	char		*theirs;
	size_t		 n, i;

	(void)state;
	for (i = 0; i < 1000; i++)
		serials[i] = 5000999 - i;
	serials[1000] = 1000000;
	serials[1001] = 42;
	write_text(path, blob[KED].data, blob[KED].len);
	assert_int_equal(run(out, sizeof(out), "cd %s && printf 'serial: 42\\n"
	    "serial: 1000000\\nserial: 5000000-5000999\\n' >spec && "
	    "ssh-keygen -q -k -z 9 -f krl2 -s %s spec 2>&1", dir, path), 0);
	snprintf(path, sizeof(path), "%s/krl2", dir);
	theirs = read_file(path, &n);
	ca = (struct ssh_krl_ca){ blob[KED].data, blob[KED].len, serials,
	    nitems(serials) };
	k = (struct ssh_krl){ .version = 9, .cas = &ca, .ncas = 1 };
	pbuf_init(&b);
	assert_int_equal(ssh_krl_encode(&k, &b, why, sizeof(why)), 0);
	assert_int_equal(b.len, n);
	/* magic, format version, krl_version; generated_date; the rest */
	assert_memory_equal(b.data, theirs, 20);
	assert_memory_equal(b.data + 28, theirs + 28, n - 28);
	free(theirs);
	pbuf_free(&b);
}

static void
test_krl_refused(void **state)
{
	static const uint64_t zero[] = { 3, 0 };
	struct ssh_krl_ca ca;
	struct ssh_krl	 k;
	struct pbuf	 b;
	char		 why[128];

	(void)state;
	pbuf_init(&b);
	t_add(&b, "x", 1);
	ca = (struct ssh_krl_ca){ blob[KED].data, blob[KED].len, zero, 2 };
	k = (struct ssh_krl){ .version = 1, .cas = &ca, .ncas = 1 };
	assert_int_equal(ssh_krl_encode(&k, &b, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "serial 0"));
	assert_int_equal(b.len, 1);
	ca = (struct ssh_krl_ca){ blob[KED].data, blob[KED].len - 1, zero, 1 };
	assert_int_equal(ssh_krl_encode(&k, &b, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "malformed CA key"));
	ca = (struct ssh_krl_ca){ blob[KED].data, blob[KED].len, NULL, 1 };
	assert_int_equal(ssh_krl_encode(&k, &b, why, sizeof(why)), -1);
	assert_int_equal(b.len, 1);
	/* no CA at all: a header only, which ssh-keygen reads */
	k.ncas = 0;
	assert_int_equal(ssh_krl_encode(&k, &b, why, sizeof(why)), 0);
	assert_int_equal(b.len, 1 + 8 + 4 + 8 + 8 + 8 + 4 + 4);
	pbuf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_keygen_keys),
		cmocka_unit_test(test_key_from_pkey),
		cmocka_unit_test(test_key_truncated),
		cmocka_unit_test(test_key_refused),
		cmocka_unit_test(test_key_text_refused),
		cmocka_unit_test(test_cert_encode),
		cmocka_unit_test(test_cert_extensions),
		cmocka_unit_test(test_cert_encode_refused),
		cmocka_unit_test(test_cert_finish_refused),
		cmocka_unit_test(test_keygen_certs),
		cmocka_unit_test(test_keygen_host_cert),
		cmocka_unit_test(test_cert_refused),
		cmocka_unit_test(test_cert_sig_refused),
		cmocka_unit_test(test_cert_text),
		cmocka_unit_test(test_krl),
		cmocka_unit_test(test_krl_bytes),
		cmocka_unit_test(test_krl_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

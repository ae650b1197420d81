/*
 * worker.c — one forked process, one PKCS#11 session. It takes jobs from
 * the monitor, runs the key's guard over the payload, hashes it, has the
 * token sign, and formats the signature. SoftHSM serialises threads inside
 * a process, and a TPM wants one user, so parallelism is processes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "hsm/proto.h"
#include "hsm/audit.h"
#include "hsm/signer/signer.h"

enum keyclass { KC_EC = 1, KC_RSA, KC_ED };

/* Per algorithm: which key class, which hash, which mechanism. */
static const struct alg {
	enum keyclass	 kc;
	const char	*md;		/* OpenSSL digest name, NULL: none */
	CK_MECHANISM_TYPE mech;
	CK_MECHANISM_TYPE pss_hash;
	const char	*digestinfo;	/* PKCS#1 v1.5 DigestInfo prefix */
	const char	*sshname;	/* SSH signature name, when fixed */
} algs[] = {
	[ALG_ECDSA_SHA256] = { KC_EC, "SHA256", CKM_ECDSA, 0, NULL, NULL },
	[ALG_ECDSA_SHA384] = { KC_EC, "SHA384", CKM_ECDSA, 0, NULL, NULL },
	[ALG_ECDSA_SHA512] = { KC_EC, "SHA512", CKM_ECDSA, 0, NULL, NULL },
	[ALG_RSA_PKCS1_SHA256] = { KC_RSA, "SHA256", CKM_RSA_PKCS, 0,
	    "\x30\x31\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x05"
	    "\x00\x04\x20", "rsa-sha2-256" },
	[ALG_RSA_PKCS1_SHA384] = { KC_RSA, "SHA384", CKM_RSA_PKCS, 0,
	    "\x30\x41\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x02\x05"
	    "\x00\x04\x30", NULL },
	[ALG_RSA_PKCS1_SHA512] = { KC_RSA, "SHA512", CKM_RSA_PKCS, 0,
	    "\x30\x51\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x03\x05"
	    "\x00\x04\x40", "rsa-sha2-512" },
	[ALG_RSA_PSS_SHA256] = { KC_RSA, "SHA256", CKM_RSA_PKCS_PSS,
	    CKM_SHA256, NULL, NULL },
	[ALG_RSA_PSS_SHA384] = { KC_RSA, "SHA384", CKM_RSA_PKCS_PSS,
	    CKM_SHA384, NULL, NULL },
	[ALG_RSA_PSS_SHA512] = { KC_RSA, "SHA512", CKM_RSA_PKCS_PSS,
	    CKM_SHA512, NULL, NULL },
	[ALG_ED25519] = { KC_ED, NULL, CKM_EDDSA, 0, NULL, "ssh-ed25519" },
};

/* SSH fixes the ECDSA hash by curve (RFC 5656). */
static const struct {
	int		 keytype;
	const char	*name, *curve;
	uint8_t		 alg;
} sshcurves[] = {
	{ KEYTYPE_EC_P256, "ecdsa-sha2-nistp256", "nistp256", ALG_ECDSA_SHA256 },
	{ KEYTYPE_EC_P384, "ecdsa-sha2-nistp384", "nistp384", ALG_ECDSA_SHA384 },
	{ KEYTYPE_EC_P521, "ecdsa-sha2-nistp521", "nistp521", ALG_ECDSA_SHA512 },
};

struct wkey {
	int		 slot;		/* p11 key index */
	struct guard_key g;
	uint8_t		*subject;
	uint8_t		 sshpub[1100];
	const struct p11_key *pk;
};

static struct p11	*tok;
static struct wkey	 wkeys[P11_MAX_KEYS];
static const struct signer_conf *conf;

static enum keyclass
key_class(int keytype)
{
	return keytype == KEYTYPE_RSA ? KC_RSA :
	    keytype == KEYTYPE_ED25519 ? KC_ED : KC_EC;
}

static int
put_string(uint8_t *buf, size_t cap, size_t *off, const void *p, size_t n)
{
	if (n > cap || *off > cap - n - 4)
		return -1;
	buf[*off] = (uint8_t)(n >> 24);
	buf[*off + 1] = (uint8_t)(n >> 16);
	buf[*off + 2] = (uint8_t)(n >> 8);
	buf[*off + 3] = (uint8_t)n;
	memcpy(buf + *off + 4, p, n);
	*off += 4 + n;
	return 0;
}

/* SSH mpint: minimal big-endian, a leading zero when the top bit is set. */
static int
put_mpint(uint8_t *buf, size_t cap, size_t *off, const uint8_t *p, size_t n)
{
	uint8_t	 tmp[600];

	while (n > 0 && *p == 0)
		p++, n--;
	if (n + 1 > sizeof(tmp))
		return -1;
	tmp[0] = 0;
	memcpy(tmp + 1, p, n);
	return n && (p[0] & 0x80) ? put_string(buf, cap, off, tmp, n + 1) :
	    put_string(buf, cap, off, p, n);
}

/* The key's public half in SSH wire form, to match certificate bodies. */
static int
ssh_pubkey(const struct p11_key *k, uint8_t *out, size_t cap, size_t *len)
{
	const unsigned char *p = k->spki;
	EVP_PKEY	*pk;
	uint8_t		 pt[200], nb[600], eb[16];
	size_t		 ptlen = sizeof(pt), i;
	BIGNUM		*n = NULL, *e = NULL;
	int		 rc = -1, nl, el;

	*len = 0;
	if ((pk = d2i_PUBKEY(NULL, &p, (long)k->spkilen)) == NULL)
		return -1;
	if (k->keytype == KEYTYPE_ED25519) {
		if (EVP_PKEY_get_raw_public_key(pk, pt, &ptlen) == 1 &&
		    put_string(out, cap, len, "ssh-ed25519", 11) == 0 &&
		    put_string(out, cap, len, pt, ptlen) == 0)
			rc = 0;
	} else if (k->keytype == KEYTYPE_RSA) {
		if (EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &n) == 1 &&
		    EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &e) == 1 &&
		    (nl = BN_num_bytes(n)) <= (int)sizeof(nb) &&
		    (el = BN_num_bytes(e)) <= (int)sizeof(eb) &&
		    BN_bn2bin(n, nb) == nl && BN_bn2bin(e, eb) == el &&
		    put_string(out, cap, len, "ssh-rsa", 7) == 0 &&
		    put_mpint(out, cap, len, eb, el) == 0 &&
		    put_mpint(out, cap, len, nb, nl) == 0)
			rc = 0;
	} else {
		for (i = 0; i < sizeof(sshcurves) / sizeof(sshcurves[0]); i++)
			if (sshcurves[i].keytype == k->keytype)
				break;
		if (i < sizeof(sshcurves) / sizeof(sshcurves[0]) &&
		    EVP_PKEY_get_octet_string_param(pk,
		    OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt, sizeof(pt),
		    &ptlen) == 1 &&
		    put_string(out, cap, len, sshcurves[i].name,
		    strlen(sshcurves[i].name)) == 0 &&
		    put_string(out, cap, len, sshcurves[i].curve,
		    strlen(sshcurves[i].curve)) == 0 &&
		    put_string(out, cap, len, pt, ptlen) == 0)
			rc = 0;
	}
	BN_free(n);
	BN_free(e);
	EVP_PKEY_free(pk);
	return rc;
}

/* Reads the key's own certificate and checks it is for this very key. */
static int
load_cert(const struct key_conf *kc, struct wkey *w, char *err, size_t errsz)
{
	FILE		*fp;
	X509		*x = NULL;
	EVP_PKEY	*mine = NULL;
	const unsigned char *p = w->pk->spki;
	unsigned char	*der = NULL;
	struct tm	 tm;
	int		 n, rc = -1;

	if ((fp = fopen(kc->cert, "r")) == NULL) {
		snprintf(err, errsz, "key %s: certificate %s: %s", kc->name,
		    kc->cert, strerror(errno));
		return -1;
	}
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	if (x == NULL || (mine = d2i_PUBKEY(NULL, &p, (long)w->pk->spkilen))
	    == NULL) {
		snprintf(err, errsz, "key %s: %s is not a PEM certificate",
		    kc->name, kc->cert);
		goto out;
	}
	if (EVP_PKEY_eq(X509_get0_pubkey(x), mine) != 1) {
		snprintf(err, errsz, "key %s: certificate %s is for another "
		    "key than the token's", kc->name, kc->cert);
		goto out;
	}
	if ((n = i2d_X509_NAME(X509_get_subject_name(x), &der)) <= 0 ||
	    ASN1_TIME_to_tm(X509_get0_notBefore(x), &tm) != 1)
		goto out;
	w->g.not_before = timegm(&tm);
	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1)
		goto out;
	w->g.not_after = timegm(&tm);
	w->subject = der;
	w->g.subject = der;
	w->g.subjectlen = n;
	der = NULL;
	rc = 0;
out:
	if (rc == -1 && err[0] == '\0')
		snprintf(err, errsz, "key %s: cannot read %s", kc->name,
		    kc->cert);
	OPENSSL_free(der);
	EVP_PKEY_free(mine);
	X509_free(x);
	return rc;
}

static int
setup(const char *pin, char *err, size_t errsz)
{
	struct p11_token_sel sel = { conf->module,
	    conf->token_label[0] ? conf->token_label : NULL,
	    conf->token_serial[0] ? conf->token_serial : NULL };
	const struct key_conf *kc;
	struct wkey	*w;
	size_t		 len;
	int		 i;

	if ((tok = p11_open(&sel, pin, err, errsz)) == NULL)
		return -1;
	for (i = 0; i < conf->nkeys; i++) {
		kc = &conf->keys[i];
		w = &wkeys[i];
		w->slot = p11_key_add(tok, kc->label[0] ? kc->label : NULL,
		    kc->id, kc->idlen, err, errsz);
		if (w->slot == -1)
			return -1;
		w->pk = p11_key_get(tok, w->slot);
		w->g.role = kc->role;
		w->g.ceremony = conf->ceremony;
		w->g.spki = w->pk->spki;
		w->g.spkilen = w->pk->spkilen;
		if (kc->cert[0] && load_cert(kc, w, err, errsz) == -1)
			return -1;
		if (kc->role == ROLE_SSH) {
			if (ssh_pubkey(w->pk, w->sshpub, sizeof(w->sshpub),
			    &len) == -1) {
				snprintf(err, errsz, "key %s: no SSH form for "
				    "this key type", kc->name);
				return -1;
			}
			w->g.sshpub = w->sshpub;
			w->g.sshpublen = len;
		}
	}
	return 0;
}

/* Wraps the token's raw signature in the form the payload kind expects. */
static int
format_sig(const struct wkey *w, uint8_t kind, uint8_t alg, const uint8_t *raw,
    size_t rawlen, uint8_t *out, size_t cap, size_t *outlen)
{
	ECDSA_SIG	*es;
	BIGNUM		*r, *s;
	uint8_t		 inner[300];
	size_t		 innerlen = 0, i, half = rawlen / 2;
	unsigned char	*p = out;
	int		 n;

	*outlen = 0;
	if (algs[alg].kc != KC_EC) {
		if (kind != KIND_SSH_CERT) {
			if (rawlen > cap)
				return -1;
			memcpy(out, raw, rawlen);
			*outlen = rawlen;
			return 0;
		}
		return put_string(out, cap, outlen, algs[alg].sshname,
		    strlen(algs[alg].sshname)) == 0 ?
		    put_string(out, cap, outlen, raw, rawlen) : -1;
	}
	if (kind == KIND_SSH_CERT) {
		for (i = 0; i < sizeof(sshcurves) / sizeof(sshcurves[0]); i++)
			if (sshcurves[i].keytype == w->pk->keytype)
				break;
		if (i == sizeof(sshcurves) / sizeof(sshcurves[0]) ||
		    put_mpint(inner, sizeof(inner), &innerlen, raw, half) ||
		    put_mpint(inner, sizeof(inner), &innerlen, raw + half,
		    half) ||
		    put_string(out, cap, outlen, sshcurves[i].name,
		    strlen(sshcurves[i].name)))
			return -1;
		return put_string(out, cap, outlen, inner, innerlen);
	}
	if ((es = ECDSA_SIG_new()) == NULL)
		return -1;
	r = BN_bin2bn(raw, (int)half, NULL);
	s = BN_bin2bn(raw + half, (int)half, NULL);
	if (r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(es);
		return -1;
	}
	n = i2d_ECDSA_SIG(es, NULL);
	if (n > 0 && (size_t)n <= cap)
		n = i2d_ECDSA_SIG(es, &p);
	ECDSA_SIG_free(es);
	if (n <= 0 || (size_t)n > cap)
		return -1;
	*outlen = n;
	return 0;
}

/* Does alg fit the key (and, for SSH, the fixed hash of the curve)? */
static const char *
alg_misfit(const struct wkey *w, uint8_t kind, uint8_t alg)
{
	size_t	 i;

	if (algs[alg].kc != key_class(w->pk->keytype))
		return "algorithm does not fit the key type";
	if (kind != KIND_SSH_CERT)
		return NULL;
	if (algs[alg].kc == KC_EC) {
		for (i = 0; i < sizeof(sshcurves) / sizeof(sshcurves[0]); i++)
			if (sshcurves[i].keytype == w->pk->keytype)
				return sshcurves[i].alg == alg ? NULL :
				    "SSH fixes the hash of this curve";
		return "curve has no SSH form";
	}
	return algs[alg].sshname ? NULL : "algorithm has no SSH form";
}

/* What to sign: the digest (with DigestInfo for PKCS#1) or, for EdDSA, all. */
static int
to_be_signed(uint8_t alg, const uint8_t *p, size_t n, uint8_t *out,
    size_t *outlen)
{
	const struct alg *a = &algs[alg];
	unsigned int	 mdlen;
	size_t		 pre = 0;

	if (a->md == NULL)
		return -1;	/* EdDSA signs the message itself */
	if (a->digestinfo) {
		pre = 19;
		memcpy(out, a->digestinfo, pre);
	}
	if (EVP_Digest(p, n, out + pre, &mdlen, EVP_get_digestbyname(a->md),
	    NULL) != 1)
		return -1;
	*outlen = pre + mdlen;
	return 0;
}

static void
audit_fields(struct pbuf *b, const struct key_conf *kc,
    const struct proto_sign_req *r, const struct guard_info *gi,
    const char *result, const char *reason)
{
	char		 f[AUDIT_MAX_LINE - 200], subj[600], why[400], hex[65];
	unsigned char	 md[32];
	unsigned int	 mdlen = 0;
	int		 i, n;
	uint8_t		 l[2];

	if (EVP_Digest(r->payload, r->payloadlen, md, &mdlen, EVP_sha256(),
	    NULL) != 1)
		memset(md, 0, sizeof(md));
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	audit_escape(subj, sizeof(subj), gi->subject);
	audit_escape(why, sizeof(why), reason);
	n = snprintf(f, sizeof(f), "key=%s kind=%s alg=%s sha256=%s serial=%s "
	    "subject=%s result=%s reason=%s", kc->name,
	    proto_kind_name(r->kind), proto_alg_name(r->alg), hex,
	    gi->serial[0] ? gi->serial : "-", subj, result, why);
	if (n < 0 || (size_t)n >= sizeof(f))
		n = (int)strlen(f);
	l[0] = (uint8_t)(n >> 8), l[1] = (uint8_t)n;
	if (pbuf_add(b, l, 2) == -1 || pbuf_add(b, f, n) == -1)
		b->len = 0;
}

static void
reply(struct pbuf *out, uint8_t type, uint16_t status, uint32_t id,
    struct pbuf *body)
{
	if (proto_put_frame(out, type | PROTO_RESPONSE, status, id, body->data,
	    body->len) == -1) {
		log_msg("worker: out of memory");
		exit(WORKER_EXIT_RETRY);
	}
}

static void
do_sign(const struct proto_frame *f, struct pbuf *out)
{
	struct proto_sign_req	 r;
	struct guard_info	 gi;
	struct wkey		*w;
	const struct key_conf	*kc;
	uint8_t			 tbs[128], raw[1024], sig[1100];
	size_t			 tbslen, rawlen = sizeof(raw), siglen;
	char			 err[P11_ERRLEN];
	const char		*why;
	uint16_t		 st;
	struct pbuf		 body;
	int			 k, rc;
	uint8_t			 l[2];

	pbuf_init(&body);
	memset(&gi, 0, sizeof(gi));
	if (proto_decode_sign(f, &r) == -1 ||
	    (k = conf_key_index(conf, r.key)) == -1) {
		/* The monitor checked both; disagreeing means a bug here. */
		why = "unknown key";
		st = PROTO_E_UNKNOWN_KEY;
		l[0] = l[1] = 0;
		if (pbuf_add(&body, l, 2) == -1)
			exit(WORKER_EXIT_RETRY);
		goto error;
	}
	w = &wkeys[k];
	kc = &conf->keys[k];
	if ((why = alg_misfit(w, r.kind, r.alg)) != NULL) {
		st = PROTO_E_BAD_ALG;
		audit_fields(&body, kc, &r, &gi, "refused", why);
		goto error;
	}
	if (guard_check(&w->g, r.kind, r.alg, r.payload, r.payloadlen,
	    &gi) == -1) {
		st = PROTO_E_REFUSED;
		why = gi.reason;
		audit_fields(&body, kc, &r, &gi, "refused", why);
		goto error;
	}
	if (algs[r.alg].md)
		rc = to_be_signed(r.alg, r.payload, r.payloadlen, tbs, &tbslen);
	else
		rc = 0;
	err[0] = '\0';
	if (rc == 0)
		rc = algs[r.alg].md ?
		    p11_sign(tok, w->slot, algs[r.alg].mech,
		    algs[r.alg].pss_hash, tbs, tbslen, raw, &rawlen, err,
		    sizeof(err)) :
		    p11_sign(tok, w->slot, algs[r.alg].mech, 0, r.payload,
		    r.payloadlen, raw, &rawlen, err, sizeof(err));
	if (rc == -1 || format_sig(w, r.kind, r.alg, raw, rawlen, sig,
	    sizeof(sig), &siglen) == -1) {
		st = PROTO_E_HSM;
		why = err[0] ? err : "cannot format signature";
		log_msg("%s", why);
		audit_fields(&body, kc, &r, &gi, "failed", why);
		goto error;
	}
	OPENSSL_cleanse(raw, sizeof(raw));
	audit_fields(&body, kc, &r, &gi, "signed", "");
	l[0] = (uint8_t)(siglen >> 8), l[1] = (uint8_t)siglen;
	if (pbuf_add(&body, l, 2) == -1 || pbuf_add(&body, sig, siglen) == -1)
		exit(WORKER_EXIT_RETRY);
	reply(out, PROTO_SIGN, PROTO_OK, f->id, &body);
	pbuf_free(&body);
	return;
error:
	l[0] = (uint8_t)(strlen(why) >> 8), l[1] = (uint8_t)strlen(why);
	if (pbuf_add(&body, l, 2) == -1 || pbuf_add(&body, why,
	    strlen(why)) == -1)
		exit(WORKER_EXIT_RETRY);
	reply(out, PROTO_SIGN, st, f->id, &body);
	pbuf_free(&body);
}

static void
do_pubkey(const struct proto_frame *f, struct pbuf *out)
{
	char		 key[PROTO_MAX_KEYNAME + 1];
	const struct p11_key *pk;
	struct pbuf	 body;
	uint8_t		 hdr[5];
	int		 k;

	pbuf_init(&body);
	hdr[0] = hdr[1] = 0;	/* nothing to audit */
	if (proto_decode_pubkey(f, key, sizeof(key)) == -1 ||
	    (k = conf_key_index(conf, key)) == -1) {
		if (pbuf_add(&body, hdr, 2) == -1 ||
		    pbuf_add(&body, "\0\x0bunknown key", 13) == -1)
			exit(WORKER_EXIT_RETRY);
		reply(out, PROTO_PUBLIC_KEY, PROTO_E_UNKNOWN_KEY, f->id, &body);
	} else {
		pk = wkeys[k].pk;
		hdr[2] = (uint8_t)pk->keytype;
		hdr[3] = (uint8_t)(pk->spkilen >> 8);
		hdr[4] = (uint8_t)pk->spkilen;
		if (pbuf_add(&body, hdr, 5) == -1 ||
		    pbuf_add(&body, pk->spki, pk->spkilen) == -1)
			exit(WORKER_EXIT_RETRY);
		reply(out, PROTO_PUBLIC_KEY, PROTO_OK, f->id, &body);
	}
	pbuf_free(&body);
}

static int
write_all(int fd, struct pbuf *b)
{
	ssize_t	 w;
	size_t	 off = 0;

	while (off < b->len) {
		w = write(fd, b->data + off, b->len - off);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		off += w;
	}
	b->len = 0;
	return 0;
}

void
worker_main(const struct signer_conf *c, const char *pin, int fd)
{
	struct pbuf		 in, out;
	struct proto_frame	 f;
	char			 err[P11_ERRLEN] = "";
	uint8_t			 buf[65536];
	size_t			 used;
	ssize_t			 r;
	int			 rc;

	conf = c;
	pbuf_init(&in);
	pbuf_init(&out);
	if (setup(pin, err, sizeof(err)) == -1) {
		log_msg("worker %d: %s", (int)getpid(), err);
		proto_put_error(&out, PROTO_PING, 0, PROTO_E_HSM, err);
		(void)write_all(fd, &out);
		exit(strstr(err, "CKR_PIN_") || strstr(err, "no such key") ||
		    strstr(err, "certificate") ? WORKER_EXIT_FATAL :
		    WORKER_EXIT_RETRY);
	}
	if (proto_put_ping_resp(&out, 0, (uint8_t)c->ceremony,
	    (uint8_t)c->nkeys) == -1 || write_all(fd, &out) == -1)
		exit(WORKER_EXIT_RETRY);
	for (;;) {
		r = read(fd, buf, sizeof(buf));
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;		/* the monitor is gone */
		if (pbuf_add(&in, buf, r) == -1)
			exit(WORKER_EXIT_RETRY);
		used = 0;
		/* Answer every whole job read so far in one write. */
		while ((rc = proto_frame_next(in.data + used, in.len - used, &f,
		    &used)) == 1) {
			if (f.type == PROTO_SIGN)
				do_sign(&f, &out);
			else
				do_pubkey(&f, &out);
			pbuf_consume(&in, used);
			used = 0;
		}
		if (rc == -1 || write_all(fd, &out) == -1)
			break;
	}
	p11_close(tok);
	exit(0);
}

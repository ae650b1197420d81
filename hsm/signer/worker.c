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
#include "hsm/digest.h"
#include "hsm/signer/signer.h"

/* Per algorithm: which key type family, which hash, which mechanism. */
static const struct alg {
	int		 rsa;		/* 1 RSA, 0 EC, -1 Ed25519 */
	const char	*md;		/* digest, NULL: sign the message */
	CK_MECHANISM_TYPE mech, pss_hash;
	const char	*digestinfo;	/* PKCS#1 v1.5 DigestInfo prefix */
	const char	*sshname;	/* SSH signature name, RSA/Ed25519 */
} algs[] = {
	[ALG_ECDSA_SHA256] = { 0, "SHA256", CKM_ECDSA, 0, NULL, NULL },
	[ALG_ECDSA_SHA384] = { 0, "SHA384", CKM_ECDSA, 0, NULL, NULL },
	[ALG_ECDSA_SHA512] = { 0, "SHA512", CKM_ECDSA, 0, NULL, NULL },
	[ALG_RSA_PKCS1_SHA256] = { 1, "SHA256", CKM_RSA_PKCS, 0,
	    "\x30\x31\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x05"
	    "\x00\x04\x20", "rsa-sha2-256" },
	[ALG_RSA_PKCS1_SHA384] = { 1, "SHA384", CKM_RSA_PKCS, 0,
	    "\x30\x41\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x02\x05"
	    "\x00\x04\x30", NULL },
	[ALG_RSA_PKCS1_SHA512] = { 1, "SHA512", CKM_RSA_PKCS, 0,
	    "\x30\x51\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x03\x05"
	    "\x00\x04\x40", "rsa-sha2-512" },
	[ALG_RSA_PSS_SHA256] = { 1, "SHA256", CKM_RSA_PKCS_PSS, CKM_SHA256,
	    NULL, NULL },
	[ALG_RSA_PSS_SHA384] = { 1, "SHA384", CKM_RSA_PKCS_PSS, CKM_SHA384,
	    NULL, NULL },
	[ALG_RSA_PSS_SHA512] = { 1, "SHA512", CKM_RSA_PKCS_PSS, CKM_SHA512,
	    NULL, NULL },
	[ALG_ED25519] = { -1, NULL, CKM_EDDSA, 0, NULL, "ssh-ed25519" },
};

/* SSH names, and the hash SSH fixes for each curve (RFC 5656). */
static const struct {
	const char	*name, *curve;
	uint8_t		 alg;
} sshcurves[] = {
	[KEYTYPE_EC_P256] = { "ecdsa-sha2-nistp256", "nistp256",
	    ALG_ECDSA_SHA256 },
	[KEYTYPE_EC_P384] = { "ecdsa-sha2-nistp384", "nistp384",
	    ALG_ECDSA_SHA384 },
	[KEYTYPE_EC_P521] = { "ecdsa-sha2-nistp521", "nistp521",
	    ALG_ECDSA_SHA512 },
};

struct wkey {
	int		 slot;		/* p11 key index */
	int		 family;	/* as alg.rsa */
	const struct p11_key *pk;
	struct guard_key g;
	uint8_t		 sshpub[1100];
};

static struct p11	*tok;
static struct wkey	 wkeys[P11_MAX_KEYS];
static const struct signer_conf *conf;

static int
put_string(struct pbuf *b, const void *p, size_t n)
{
	uint8_t	 l[4] = { n >> 24, n >> 16, n >> 8, n };

	return pbuf_add(b, l, 4) == -1 ? -1 : pbuf_add(b, p, n);
}

/* SSH mpint: minimal big-endian, a leading zero when the top bit is set. */
static int
put_mpint(struct pbuf *b, const uint8_t *p, size_t n)
{
	uint8_t	 l[5];
	int	 pad;

	while (n > 0 && *p == 0)
		p++, n--;
	pad = n && (p[0] & 0x80);
	l[0] = (n + pad) >> 24, l[1] = (n + pad) >> 16, l[2] = (n + pad) >> 8;
	l[3] = n + pad, l[4] = 0;
	return pbuf_add(b, l, 4 + pad) == -1 ? -1 : pbuf_add(b, p, n);
}

/* The key's public half in SSH wire form, to match certificate bodies. */
static int
ssh_pubkey(const struct p11_key *k, struct pbuf *b)
{
	const unsigned char *p = k->spki;
	EVP_PKEY	*pk;
	uint8_t		 pt[1100], eb[600];
	size_t		 n = sizeof(pt), en;
	BIGNUM		*bn = NULL, *be = NULL;
	int		 rc = -1;

	if ((pk = d2i_PUBKEY(NULL, &p, (long)k->spkilen)) == NULL)
		return -1;
	if (k->keytype == KEYTYPE_ED25519)
		rc = EVP_PKEY_get_raw_public_key(pk, pt, &n) == 1 &&
		    put_string(b, "ssh-ed25519", 11) == 0 ?
		    put_string(b, pt, n) : -1;
	else if (k->keytype == KEYTYPE_RSA) {
		if (EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &bn) == 1 &&
		    BN_num_bytes(bn) <= (int)sizeof(pt) &&
		    (n = BN_bn2bin(bn, pt)) > 0 &&
		    EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &be) == 1 &&
		    BN_num_bytes(be) <= (int)sizeof(eb) &&
		    (en = BN_bn2bin(be, eb)) > 0)
			rc = put_string(b, "ssh-rsa", 7) == 0 &&
			    put_mpint(b, eb, en) == 0 ? put_mpint(b, pt, n) : -1;
		BN_free(bn);
		BN_free(be);
	}
	else if (k->keytype <= KEYTYPE_EC_P521)
		rc = EVP_PKEY_get_octet_string_param(pk,
		    OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt, n, &n) == 1 &&
		    put_string(b, sshcurves[k->keytype].name,
		    strlen(sshcurves[k->keytype].name)) == 0 &&
		    put_string(b, sshcurves[k->keytype].curve, 8) == 0 ?
		    put_string(b, pt, n) : -1;
	EVP_PKEY_free(pk);
	return rc;
}

/* Reads the key's own certificate and checks it is for this very key. */
static int
load_cert(const struct key_conf *kc, struct wkey *w, char *err, size_t errsz)
{
	const unsigned char *p = w->pk->spki;
	unsigned char	*der = NULL;
	EVP_PKEY	*mine;
	X509		*x = NULL;
	FILE		*fp;
	struct tm	 a, b;
	int		 n = 0;

	if ((fp = fopen(kc->cert, "r")) != NULL) {
		x = PEM_read_X509(fp, NULL, NULL, NULL);
		fclose(fp);
	}
	mine = d2i_PUBKEY(NULL, &p, (long)w->pk->spkilen);
	if (x == NULL || mine == NULL || EVP_PKEY_eq(X509_get0_pubkey(x),
	    mine) != 1 || (n = i2d_X509_NAME(X509_get_subject_name(x),
	    &der)) <= 0 || ASN1_TIME_to_tm(X509_get0_notBefore(x), &a) != 1 ||
	    ASN1_TIME_to_tm(X509_get0_notAfter(x), &b) != 1) {
		snprintf(err, errsz, "key %s: certificate %s: %s", kc->name,
		    kc->cert, x == NULL ? "cannot read it as PEM" :
		    "not for the token's key");
		n = -1;
	} else {
		w->g.subject = der;	/* kept for the worker's life */
		w->g.subjectlen = n;
		w->g.not_before = timegm(&a);
		w->g.not_after = timegm(&b);
	}
	EVP_PKEY_free(mine);
	X509_free(x);
	return n > 0 ? 0 : -1;
}

static int
setup(const char *pin, char *err, size_t errsz)
{
	struct p11_token_sel sel = { conf->module,
	    conf->token_label[0] ? conf->token_label : NULL,
	    conf->token_serial[0] ? conf->token_serial : NULL };
	const struct key_conf *kc;
	struct wkey	*w;
	struct pbuf	 b;
	int		 i;

	if ((tok = p11_open(&sel, pin, err, errsz)) == NULL)
		return -1;
	for (i = 0, kc = conf->keys, w = wkeys; i < conf->nkeys; i++, kc++, w++) {
		if ((w->slot = p11_key_add(tok, kc->label[0] ? kc->label : NULL,
		    kc->id, kc->idlen, err, errsz)) == -1)
			return -1;
		w->pk = p11_key_get(tok, w->slot);
		w->family = w->pk->keytype == KEYTYPE_RSA ? 1 :
		    w->pk->keytype == KEYTYPE_ED25519 ? -1 : 0;
		w->g = (struct guard_key){ .role = kc->role,
		    .ceremony = conf->ceremony, .spki = w->pk->spki,
		    .spkilen = w->pk->spkilen };
		if (kc->cert[0] && load_cert(kc, w, err, errsz) == -1)
			return -1;
		if (kc->role != ROLE_SSH)
			continue;
		pbuf_init(&b);
		if (ssh_pubkey(w->pk, &b) == -1 || b.len > sizeof(w->sshpub)) {
			snprintf(err, errsz, "key %s: no SSH form", kc->name);
			pbuf_free(&b);
			return -1;
		}
		memcpy(w->sshpub, b.data, b.len);
		w->g.sshpub = w->sshpub;
		w->g.sshpublen = b.len;
		pbuf_free(&b);
	}
	/* The issuing keys may certify the ocsp key, and no other, for OCSP. */
	for (i = 0; i < conf->nkeys && conf->keys[i].role != ROLE_OCSP; i++)
		;
	if (i < conf->nkeys)
		for (w = wkeys; w < wkeys + conf->nkeys; w++)
			if (w->g.role == ROLE_ISSUING) {
				w->g.ocsp_spki = wkeys[i].pk->spki;
				w->g.ocsp_spkilen = wkeys[i].pk->spkilen;
			}
	return 0;
}

/* Wraps the token's raw signature in the form the payload kind expects. */
static int
format_sig(const struct wkey *w, uint8_t kind, uint8_t alg, const uint8_t *raw,
    size_t n, struct pbuf *out)
{
	ECDSA_SIG	*es;
	BIGNUM		*r, *s;
	struct pbuf	 in;
	unsigned char	*der = NULL;
	int		 len, rc;

	if (algs[alg].rsa != 0)
		return kind != KIND_SSH_CERT ? pbuf_add(out, raw, n) :
		    put_string(out, algs[alg].sshname,
		    strlen(algs[alg].sshname)) == -1 ? -1 :
		    put_string(out, raw, n);
	if (kind == KIND_SSH_CERT) {
		pbuf_init(&in);
		rc = put_mpint(&in, raw, n / 2) == 0 &&
		    put_mpint(&in, raw + n / 2, n / 2) == 0 &&
		    put_string(out, sshcurves[w->pk->keytype].name,
		    strlen(sshcurves[w->pk->keytype].name)) == 0 ?
		    put_string(out, in.data, in.len) : -1;
		pbuf_free(&in);
		return rc;
	}
	r = BN_bin2bn(raw, (int)n / 2, NULL);
	s = BN_bin2bn(raw + n / 2, (int)n / 2, NULL);
	if ((es = ECDSA_SIG_new()) == NULL || r == NULL || s == NULL ||
	    ECDSA_SIG_set0(es, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(es);
		return -1;
	}
	len = i2d_ECDSA_SIG(es, &der);
	rc = len > 0 ? pbuf_add(out, der, len) : -1;
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	return rc;
}

/* Does alg fit the key (and, for SSH, the fixed hash of the curve)? */
static const char *
alg_misfit(const struct wkey *w, uint8_t kind, uint8_t alg)
{
	if (algs[alg].rsa != w->family)
		return "algorithm does not fit the key type";
	if (kind != KIND_SSH_CERT)
		return NULL;
	if (w->family == 0)
		return sshcurves[w->pk->keytype].alg == alg ? NULL :
		    "SSH fixes the hash of this curve";
	return algs[alg].sshname ? NULL : "algorithm has no SSH form";
}

static int
put16(struct pbuf *b, const void *p, size_t n)
{
	uint8_t	 l[2] = { n >> 8, n };

	return n > 0xffff || pbuf_add(b, l, 2) == -1 ? -1 : pbuf_add(b, p, n);
}

/* The record the monitor appends to the audit log for this job. */
static int
audit_fields(struct pbuf *b, const struct key_conf *kc,
    const struct proto_sign_req *r, const uint8_t sha256[32],
    const struct guard_info *gi, const char *result, const char *reason)
{
	char		 f[AUDIT_MAX_LINE - 200], subj[600], why[400], hex[65];
	int		 n;

	hex_lower(hex, sha256, 32);
	audit_escape(subj, sizeof(subj), gi->subject);
	audit_escape(why, sizeof(why), reason);
	n = snprintf(f, sizeof(f), "key=%s kind=%s alg=%s sha256=%s serial=%s "
	    "subject=%s result=%s reason=%s", kc->name,
	    proto_kind_name(r->kind), proto_alg_name(r->alg), hex,
	    gi->serial[0] ? gi->serial : "-", subj, result, why);
	return n < 0 || (size_t)n >= sizeof(f) ? -1 : put16(b, f, n);
}

static void
do_sign(const struct proto_frame *f, struct pbuf *body, uint16_t *st)
{
	const struct alg	*a;
	struct proto_sign_req	 r;
	struct guard_info	 gi = { "", "", "" };
	struct wkey		*w;
	const struct key_conf	*kc;
	const EVP_MD		*md;
	uint8_t			 tbs[128], raw[1024], sha256[32];
	size_t			 tbslen = 19, rawlen = sizeof(raw);
	unsigned int		 mdlen = 0;
	char			 err[P11_ERRLEN] = "signature could not be made";
	const char		*why, *result = "refused";
	struct pbuf		 sig;
	int			 k, rc;

	/* The monitor checked the frame and the key: disagreeing is a bug. */
	if (proto_decode_sign(f, &r) == -1 ||
	    (k = conf_key_index(conf, r.key)) == -1)
		exit(WORKER_EXIT_RETRY);
	w = &wkeys[k];
	kc = &conf->keys[k];
	a = &algs[r.alg];
	/* The audit record names the payload by its SHA-256, whatever alg. */
	if (EVP_Digest(r.payload, r.payloadlen, sha256, NULL,
	    digest_nid(NID_sha256), NULL) != 1)
		exit(WORKER_EXIT_RETRY);
	pbuf_init(&sig);
	if ((why = alg_misfit(w, r.kind, r.alg)) != NULL)
		*st = PROTO_E_BAD_ALG;
	else if (guard_check(&w->g, r.kind, r.alg, r.payload, r.payloadlen,
	    &gi) == -1) {
		*st = PROTO_E_REFUSED;
		why = gi.reason;
	} else {
		/* Hash here: SoftHSM 2.6 has no CKM_ECDSA_SHA256. */
		if (a->digestinfo)
			memcpy(tbs, a->digestinfo, 19);
		else
			tbslen = 0;
		md = digest_named(a->md);
		if (md != NULL && EVP_MD_get_type(md) == NID_sha256) {
			memcpy(tbs + tbslen, sha256, sizeof(sha256));
			mdlen = sizeof(sha256);
		}
		rc = a->md == NULL ? p11_sign(tok, w->slot, a->mech, 0,
		    r.payload, r.payloadlen, raw, &rawlen, err, sizeof(err)) :
		    md == NULL || (mdlen == 0 && EVP_Digest(r.payload,
		    r.payloadlen, tbs + tbslen, &mdlen, md, NULL) != 1) ? -1 :
		    p11_sign(tok, w->slot, a->mech, a->pss_hash, tbs,
		    tbslen + mdlen, raw, &rawlen, err, sizeof(err));
		if (rc == -1 || format_sig(w, r.kind, r.alg, raw, rawlen,
		    &sig) == -1) {
			*st = PROTO_E_HSM;
			why = err;
			result = "failed";
			log_msg("%s", err);
		} else
			result = "signed";
		OPENSSL_cleanse(raw, sizeof(raw));
	}
	if (audit_fields(body, kc, &r, sha256, &gi, result, why ? why : "") ==
	    -1 ||
	    (why ? put16(body, why, strlen(why)) :
	    put16(body, sig.data, sig.len)) == -1)
		exit(WORKER_EXIT_RETRY);
	pbuf_free(&sig);
}

static void
do_pubkey(const struct proto_frame *f, struct pbuf *body, uint16_t *st)
{
	const struct p11_key *pk;
	char		 key[PROTO_MAX_KEYNAME + 1];
	uint8_t		 hdr[3] = { 0, 0, 0 };	/* nothing to audit */
	int		 k;

	if (proto_decode_pubkey(f, key, sizeof(key)) == -1 ||
	    (k = conf_key_index(conf, key)) == -1)
		exit(WORKER_EXIT_RETRY);
	pk = wkeys[k].pk;
	hdr[2] = (uint8_t)pk->keytype;
	*st = PROTO_OK;
	if (pbuf_add(body, hdr, 3) == -1 ||
	    put16(body, pk->spki, pk->spkilen) == -1)
		exit(WORKER_EXIT_RETRY);
}

static int
write_all(int fd, struct pbuf *b)
{
	ssize_t	 w;
	size_t	 off = 0;

	while (off < b->len) {
		if ((w = write(fd, b->data + off, b->len - off)) == -1 &&
		    errno == EINTR)
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
	struct pbuf		 in, out, body;
	struct proto_frame	 f;
	char			 err[P11_ERRLEN] = "";
	uint8_t			 buf[65536];
	uint16_t		 st;
	size_t			 used, off;
	ssize_t			 r;
	unsigned		 n = 0;

	conf = c;
	pbuf_init(&in);
	pbuf_init(&out);
	pbuf_init(&body);
	if (setup(pin, err, sizeof(err)) == -1) {
		log_msg("worker %d: %s", (int)getpid(), err);
		proto_put_error(&out, PROTO_PING, 0, PROTO_E_HSM, err);
		(void)write_all(fd, &out);
		/* Retrying a wrong PIN would lock the token. */
		exit(strstr(err, "CKR_PIN_") || strstr(err, "no such key") ||
		    strstr(err, "certificate") ? WORKER_EXIT_FATAL :
		    WORKER_EXIT_RETRY);
	}
	if (proto_put_ping_resp(&out, 0, (uint8_t)c->ceremony,
	    (uint8_t)c->nkeys) == -1 || write_all(fd, &out) == -1)
		exit(WORKER_EXIT_RETRY);
	while ((r = read(fd, buf, sizeof(buf))) > 0 || (r == -1 &&
	    errno == EINTR)) {
		if (r > 0 && pbuf_add(&in, buf, r) == -1)
			exit(WORKER_EXIT_RETRY);
		for (off = 0; proto_frame_next(in.data + off, in.len - off, &f,
		    &used) == 1; off += used) {
			body.len = 0;
			st = PROTO_OK;
			if (f.type == PROTO_SIGN)
				do_sign(&f, &body, &st);
			else
				do_pubkey(&f, &body, &st);
			/* Answers go in small batches: their clients wait. */
			if (proto_put_frame(&out, f.type | PROTO_RESPONSE, st,
			    f.id, body.data, body.len) == -1 ||
			    (++n % 32 == 0 && write_all(fd, &out) == -1))
				exit(WORKER_EXIT_RETRY);
		}
		pbuf_consume(&in, off);
		if (write_all(fd, &out) == -1)
			break;
	}
	p11_close(tok);
	exit(0);
}

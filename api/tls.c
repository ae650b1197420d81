/*
 * tls.c — the front end's TLS: TLS 1.2 (ECDHE with AEAD only) and 1.3,
 * ALPN http/1.1, a client certificate requested but not required (mTLS
 * renew and revoke ride on the same port), and, unless ca.json names one,
 * its own certificate issued from the intermediate through the signer at
 * start, as step-ca does. Its key is a fresh software key: the front end
 * holds no other key material.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "api/api.h"
#include "appliance/store.h"
#include "hsm/client.h"
#include "hsm/proto.h"
#include "policy/tbs.h"

#define TLS_CERT_LIFETIME	(24 * 3600)

static const char tls12_ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES256-GCM-SHA384";
/*
 * TLS 1.3 in Go's order, as step-ca answers with AES hardware: AES-128
 * first (OpenSSL's own order puts AES-256 first, a third more work per
 * record for no security the CA needs), as for TLS 1.2 above.
 */
static const char tls13_suites[] =
    "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:"
    "TLS_AES_256_GCM_SHA384";

static X509 *
load_pem(const char *path, char **pem)
{
	FILE	*fp;
	X509	*x = NULL;
	BIO	*b;
	char	*d;
	long	 n;

	if ((fp = fopen(path, "r")) == NULL)
		return NULL;
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	if (x == NULL || (b = BIO_new(BIO_s_mem())) == NULL)
		return x;
	/* Re-encoded, so every PEM we send ends in exactly one newline. */
	if (PEM_write_bio_X509(b, x) == 1 && (n = BIO_get_mem_data(b, &d)) > 0 &&
	    (*pem = malloc(n + 1)) != NULL) {
		memcpy(*pem, d, n);
		(*pem)[n] = '\0';
	}
	BIO_free(b);
	return x;
}

/* The server's own leaf: CN "p11ca Online CA", the CA's names, 24 h. */
static X509 *
issue_own(struct api *a, EVP_PKEY *key, char *err, size_t errsz)
{
	struct signer_client	*sc = NULL;
	struct tbs_profile	 pr;
	struct pbuf		 tbs, crt, ext;
	unsigned char		*spki = NULL, *issuer = NULL, *ispki = NULL;
	unsigned char		*subj = NULL;
	const unsigned char	*p;
	uint8_t			 serial[16], *sig = NULL, *kspki = NULL;
	size_t			 siglen, kspkilen;
	X509_NAME		*n = NULL;
	X509			*x = NULL;
	time_t			 now = time(NULL), na;
	int			 kt, sl, il, isl, jl;

	pbuf_init(&tbs);
	pbuf_init(&crt);
	pbuf_init(&ext);
	na = now + TLS_CERT_LIFETIME;
	if (ASN1_TIME_cmp_time_t(X509_get0_notAfter(a->inter), na) < 0) {
		snprintf(err, errsz, "the intermediate expires within a day");
		goto out;
	}
	if ((sc = signer_connect(a->cfg.signer_socket, err, errsz)) == NULL ||
	    signer_public_key(sc, a->cfg.signer_key, &kt, &kspki, &kspkilen,
	    NULL, err, errsz) == -1)
		goto out;
	if ((n = X509_NAME_new()) == NULL || !X509_NAME_add_entry_by_txt(n,
	    "CN", MBSTRING_ASC, (const unsigned char *)"p11ca Online CA", -1,
	    -1, 0) || (jl = i2d_X509_NAME(n, &subj)) <= 0 ||
	    (sl = i2d_PUBKEY(key, &spki)) <= 0 ||
	    (il = i2d_X509_NAME(X509_get_subject_name(a->inter), &issuer)) <=
	    0 || (isl = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(a->inter),
	    &ispki)) <= 0 || RAND_bytes(serial, sizeof(serial)) != 1 ||
	    tbs_ext_san(&ext, (const char *const *)a->cfg.dns, a->cfg.ndns) ||
	    tbs_ext_eku(&ext, EKU_SERVER_AUTH | EKU_CLIENT_AUTH) ||
	    pbuf_add(&ext, a->revext.data, a->revext.len)) {
		snprintf(err, errsz, "cannot build the server certificate");
		goto out;
	}
	serial[0] = (serial[0] & 0x7f) | 0x40;
	a->alg = tbs_alg_for(kt);
	pr = (struct tbs_profile){ .serial = serial, .seriallen = 16,
	    .alg = a->alg, .issuer = issuer, .issuerlen = il,
	    .not_before = now - 60, .not_after = na, .subject = subj,
	    .subjectlen = jl, .spki = spki, .spkilen = sl, .pathlen = -1,
	    .keyusage = TBS_KU_DIGITAL_SIGNATURE, .aki_spki = ispki,
	    .aki_spkilen = isl, .extra = ext.data, .extralen = ext.len };
	if (tbs_encode(&pr, &tbs) == -1 ||
	    signer_sign(sc, a->cfg.signer_key, KIND_X509_TBS, pr.alg, tbs.data,
	    tbs.len, &sig, &siglen, NULL, err, errsz) == -1 ||
	    tbs_certificate(tbs.data, tbs.len, pr.alg, sig, siglen, &crt) == -1)
		goto out;
	p = crt.data;
	if ((x = d2i_X509(NULL, &p, (long)crt.len)) == NULL ||
	    X509_verify(x, X509_get0_pubkey(a->inter)) != 1) {
		snprintf(err, errsz, "the server certificate does not verify "
		    "against the intermediate: is signer key '%s' the one in "
		    "%s?", a->cfg.signer_key, a->cfg.crt);
		X509_free(x);
		x = NULL;
	}
out:
	signer_close(sc);
	X509_NAME_free(n);
	OPENSSL_free(spki);
	OPENSSL_free(issuer);
	OPENSSL_free(ispki);
	OPENSSL_free(subj);
	free(sig);
	free(kspki);
	pbuf_free(&tbs);
	pbuf_free(&crt);
	pbuf_free(&ext);
	return x;
}

static int
alpn(SSL *s, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char ours[] = "\x08http/1.1";

	(void)s, (void)arg;
	if (SSL_select_next_proto((unsigned char **)out, outlen, ours,
	    sizeof(ours) - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	return SSL_TLSEXT_ERR_OK;
}

/* The issuing key's algorithm, from the signer (the key is the token's). */
static int
key_alg(struct api *a, char *err, size_t errsz)
{
	struct signer_client	*sc;
	uint8_t			*spki = NULL;
	size_t			 n;
	int			 kt, rc = -1;

	if ((sc = signer_connect(a->cfg.signer_socket, err, errsz)) != NULL &&
	    signer_public_key(sc, a->cfg.signer_key, &kt, &spki, &n, NULL, err,
	    errsz) == 0) {
		a->alg = tbs_alg_for(kt);
		rc = 0;
	}
	free(spki);
	signer_close(sc);
	return rc;
}

/* The issuer's name and key, DER-encoded once for every TBS. */
static int
issuer_pieces(struct api *a)
{
	unsigned char	*p = NULL;
	int		 n;

	if ((n = i2d_X509_NAME(X509_get_subject_name(a->inter), &p)) <= 0 ||
	    (a->inter_subject = malloc(n)) == NULL) {
		OPENSSL_free(p);
		return -1;
	}
	memcpy(a->inter_subject, p, n);
	a->inter_subjectlen = n;
	OPENSSL_free(p);
	p = NULL;
	if ((n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(a->inter), &p)) <= 0 ||
	    (a->inter_spki = malloc(n)) == NULL) {
		OPENSSL_free(p);
		return -1;
	}
	memcpy(a->inter_spki, p, n);
	a->inter_spkilen = n;
	OPENSSL_free(p);
	return tbs_key_id(a->inter_spki, a->inter_spkilen, a->inter_keyid);
}

static void
on_recorded(int result, void *arg)
{
	(void)arg;
	if (result != STORE_OK)
		fprintf(stderr, "p11ca-api: the server certificate could not "
		    "be stored: OCSP will not know it\n");
}

/*
 * The server's own certificate names our CDP and OCSP responder, so it is
 * stored like any other: relying parties that check it must find it
 * good, not unknown. Before the store is open it waits in tls_unstored.
 */
static void
record(struct api *a, X509 *leaf)
{
	struct store_cert	 sc;
	unsigned char		*der = NULL;
	struct tm		 tm;
	int			 n, i;

	if (a->store == NULL) {
		if (X509_up_ref(leaf) == 1) {
			X509_free(a->tls_unstored);
			a->tls_unstored = leaf;
		}
		return;
	}
	memset(&sc, 0, sizeof(sc));
	if (serial_key(X509_get0_serialNumber(leaf), sc.serial) == -1 ||
	    (n = i2d_X509(leaf, &der)) <= 0) {
		on_recorded(STORE_FAILED, NULL);
		return;
	}
	sc.der = der;
	sc.derlen = (size_t)n;
	snprintf(sc.subject, sizeof(sc.subject), "CN=p11ca Online CA");
	for (i = 0; i < a->cfg.ndns; i++)
		snprintf(sc.sans + strlen(sc.sans), sizeof(sc.sans) -
		    strlen(sc.sans), "%s%s", i ? "," : "", a->cfg.dns[i]);
	if (ASN1_TIME_to_tm(X509_get0_notBefore(leaf), &tm) == 1)
		sc.not_before = timegm(&tm);
	if (ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm) == 1)
		sc.not_after = timegm(&tm);
	if (store_put_cert(a->store, &sc, on_recorded, NULL) == -1)
		on_recorded(STORE_FAILED, NULL);
	OPENSSL_free(der);
}

void
tls_record(struct api *a)
{
	X509	*x = a->tls_unstored;

	a->tls_unstored = NULL;
	if (x != NULL)
		record(a, x);
	X509_free(x);
}

/*
 * A fresh key and certificate for the server, installed for the
 * connections that start from now on. It asks the signer with the
 * blocking client: one short stall of the loop every 16 hours.
 */
int
tls_renew(struct api *a, char *err, size_t errsz)
{
	EVP_PKEY	*key;
	X509		*leaf = NULL;
	int		 rc = -1;

	if (a->cfg.tls_crt[0])
		return 0;	/* the operator's own certificate */
	if ((key = EVP_EC_gen("P-256")) != NULL &&
	    (leaf = issue_own(a, key, err, errsz)) != NULL) {
		if (SSL_CTX_use_certificate(a->ssl, leaf) == 1 &&
		    SSL_CTX_use_PrivateKey(a->ssl, key) == 1 &&
		    SSL_CTX_check_private_key(a->ssl) == 1) {
			record(a, leaf);
			rc = 0;
		}
		else
			snprintf(err, errsz, "cannot install the new server "
			    "certificate");
	}
	EVP_PKEY_free(key);
	X509_free(leaf);
	return rc;
}

int
tls_setup(struct api *a, char *err, size_t errsz)
{
	STACK_OF(X509_NAME) *cas;
	X509_STORE	*store;
	EVP_PKEY	*key = NULL;
	X509		*leaf = NULL;
	FILE		*fp;
	unsigned int	 n;

	if ((a->root = load_pem(a->cfg.root, &a->root_pem)) == NULL ||
	    (a->inter = load_pem(a->cfg.crt, &a->inter_pem)) == NULL ||
	    a->root_pem == NULL || a->inter_pem == NULL ||
	    X509_digest(a->root, EVP_sha256(), a->root_fp, &n) != 1) {
		snprintf(err, errsz, "cannot read %s or %s", a->cfg.root,
		    a->cfg.crt);
		return -1;
	}
	{
		struct tm	 tm;

		if (ASN1_TIME_to_tm(X509_get0_notAfter(a->inter), &tm) != 1) {
			snprintf(err, errsz, "bad notAfter in %s", a->cfg.crt);
			return -1;
		}
		a->inter_not_after = timegm(&tm);
	}
	if (issuer_pieces(a) == -1) {
		snprintf(err, errsz, "cannot encode the intermediate's name");
		return -1;
	}
	if (crl_extensions(a) == -1) {
		snprintf(err, errsz, "cannot encode crl.idpURL, ocsp.url or "
		    "aia.caIssuers as URLs");
		return -1;
	}
	if (a->cfg.tls_crt[0]) {
		if (key_alg(a, err, errsz) == -1)
			return -1;
		if ((fp = fopen(a->cfg.tls_key, "r")) != NULL) {
			key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
			fclose(fp);
		}
		if ((fp = fopen(a->cfg.tls_crt, "r")) != NULL) {
			leaf = PEM_read_X509(fp, NULL, NULL, NULL);
			fclose(fp);
		}
		if (key == NULL || leaf == NULL) {
			snprintf(err, errsz, "cannot read tls.crt/tls.key");
			goto bad;
		}
	} else if ((key = EVP_EC_gen("P-256")) == NULL ||
	    (leaf = issue_own(a, key, err, errsz)) == NULL)
		goto bad;
	else
		record(a, leaf);	/* once the store is open */
	if ((a->ssl = SSL_CTX_new(TLS_server_method())) == NULL ||
	    !SSL_CTX_set_min_proto_version(a->ssl, TLS1_2_VERSION) ||
	    !SSL_CTX_set_cipher_list(a->ssl, tls12_ciphers) ||
	    !SSL_CTX_set_ciphersuites(a->ssl, tls13_suites) ||
	    SSL_CTX_use_certificate(a->ssl, leaf) != 1 ||
	    SSL_CTX_use_PrivateKey(a->ssl, key) != 1 ||
	    SSL_CTX_check_private_key(a->ssl) != 1 ||
	    !SSL_CTX_add1_chain_cert(a->ssl, a->inter)) {
		snprintf(err, errsz, "TLS set-up failed: %s",
		    ERR_reason_error_string(ERR_get_error()));
		goto bad;
	}
	SSL_CTX_set_options(a->ssl, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_alpn_select_cb(a->ssl, alpn, NULL);
	/* Ask for a client certificate, verify it if given, never demand it. */
	store = SSL_CTX_get_cert_store(a->ssl);
	cas = sk_X509_NAME_new_null();
	/*
	 * Root and intermediate are both anchors, as Go's ClientCAs are in
	 * step-ca: a client may send its leaf alone.
	 */
	if (store == NULL || cas == NULL ||
	    X509_STORE_add_cert(store, a->root) != 1 ||
	    X509_STORE_add_cert(store, a->inter) != 1 ||
	    X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN) != 1 ||
	    !sk_X509_NAME_push(cas, X509_NAME_dup(X509_get_subject_name(
	    a->root))) || !sk_X509_NAME_push(cas, X509_NAME_dup(
	    X509_get_subject_name(a->inter)))) {
		sk_X509_NAME_pop_free(cas, X509_NAME_free);
		snprintf(err, errsz, "TLS client CA set-up failed");
		goto bad;
	}
	SSL_CTX_set_client_CA_list(a->ssl, cas);
	SSL_CTX_set_verify(a->ssl, SSL_VERIFY_PEER, NULL);
	EVP_PKEY_free(key);
	X509_free(leaf);
	return 0;
bad:
	EVP_PKEY_free(key);
	X509_free(leaf);
	return -1;
}

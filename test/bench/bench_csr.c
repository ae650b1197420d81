/*
 * bench_csr.c — csr_parse() against d2i_X509_REQ() + X509_REQ_verify()
 * on one P-256 request (CN and two SANs), in µs per request. Also timed
 * alone: EVP_DigestVerify, which csr_parse() makes too (the rest of its
 * time is the key import and the DER walk), and d2i_PUBKEY, which it
 * avoids (see policy/csr.c). Not run by make:
 *
 *   cc -std=c17 -D_GNU_SOURCE -O2 -I. -o bench_csr test/bench/bench_csr.c \
 *       policy/csr.c hsm/der.c -lcrypto && ./bench_csr [iterations]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "hsm/der.h"
#include "policy/csr.h"

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static _Noreturn void
die(const char *what)
{
	fprintf(stderr, "bench_csr: %s failed\n", what);
	exit(1);
}

/* A P-256 request with a CN and DNS + IP SANs, as DER. */
static unsigned char *
make_req(EVP_PKEY *k, int *len)
{
	STACK_OF(X509_EXTENSION)	*exts;
	X509_EXTENSION			*ext;
	X509_REQ			*req;
	unsigned char			*der = NULL;

	if ((req = X509_REQ_new()) == NULL ||
	    X509_REQ_set_version(req, 0) != 1 ||
	    X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req), "CN",
	    MBSTRING_UTF8, (const unsigned char *)"host.example.com", -1, -1,
	    0) != 1)
		die("X509_REQ");
	if ((ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name,
	    "DNS:host.example.com,IP:192.0.2.7")) == NULL ||
	    (exts = sk_X509_EXTENSION_new_null()) == NULL ||
	    sk_X509_EXTENSION_push(exts, ext) <= 0 ||
	    X509_REQ_add_extensions(req, exts) != 1)
		die("extensions");
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	if (X509_REQ_set_pubkey(req, k) != 1 ||
	    X509_REQ_sign(req, k, EVP_sha256()) <= 0 ||
	    (*len = i2d_X509_REQ(req, &der)) <= 0)
		die("sign");
	X509_REQ_free(req);
	return der;
}

int
main(int argc, char **argv)
{
	static struct csr	 c;
	const unsigned char	*p;
	unsigned char		*der;
	EVP_PKEY		*k, *pk;
	EVP_MD_CTX		*ctx;
	X509_REQ		*req;
	struct der		 d;
	struct der_tlv		 t, cri, sig;
	double			 t0, ours, ossl, pub, ver;
	char			 why[128];
	int			 i, n, len;

	n = argc > 1 ? atoi(argv[1]) : 20000;
	if (n <= 0 || (k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) ==
	    NULL)
		die("setup");
	der = make_req(k, &len);
	if (csr_parse(der, (size_t)len, &c, why, sizeof(why)) != 0) {
		fprintf(stderr, "bench_csr: %s\n", why);
		return 1;
	}

	t0 = now();
	for (i = 0; i < n; i++)
		if (csr_parse(der, (size_t)len, &c, why, sizeof(why)) != 0)
			die("csr_parse");
	ours = (now() - t0) / n * 1e6;

	t0 = now();
	for (i = 0; i < n; i++) {
		p = der;
		if ((req = d2i_X509_REQ(NULL, &p, len)) == NULL ||
		    X509_REQ_verify(req, X509_REQ_get0_pubkey(req)) != 1)
			die("X509_REQ_verify");
		X509_REQ_free(req);
	}
	ossl = (now() - t0) / n * 1e6;

	t0 = now();
	for (i = 0; i < n; i++) {
		p = c.spki;
		if ((pk = d2i_PUBKEY(NULL, &p, (long)c.spkilen)) == NULL)
			die("d2i_PUBKEY");
		EVP_PKEY_free(pk);
	}
	pub = (now() - t0) / n * 1e6;

	p = c.spki;
	if ((pk = d2i_PUBKEY(NULL, &p, (long)c.spkilen)) == NULL)
		die("d2i_PUBKEY");
	/* The signature alone: the CSR's own, over its CRI, as csr_parse(). */
	der_init(&d, der, (size_t)len);
	if (der_expect(&d, DER_SEQUENCE, &t) == -1 ||
	    der_enter(&t, &d) == -1 ||
	    der_expect(&d, DER_SEQUENCE, &cri) == -1 ||
	    der_expect(&d, DER_SEQUENCE, &t) == -1 ||
	    der_expect(&d, DER_BITSTRING, &sig) == -1)
		die("der");
	t0 = now();
	for (i = 0; i < n; i++) {
		if ((ctx = EVP_MD_CTX_new()) == NULL ||
		    EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pk) !=
		    1 || EVP_DigestVerify(ctx, sig.val + 1, sig.len - 1, cri.raw,
		    cri.rawlen) != 1)
			die("EVP_DigestVerify");
		EVP_MD_CTX_free(ctx);
	}
	ver = (now() - t0) / n * 1e6;
	EVP_PKEY_free(pk);

	printf("P-256 CSR, %d bytes, %d runs\n", len, n);
	printf("  csr_parse                      %8.1f us/op\n", ours);
	printf("    its EVP_DigestVerify alone   %8.1f us/op\n", ver);
	printf("  d2i_X509_REQ+X509_REQ_verify   %8.1f us/op\n", ossl);
	printf("  d2i_PUBKEY alone (not used)    %8.1f us/op\n", pub);
	OPENSSL_free(der);
	EVP_PKEY_free(k);
	return 0;
}

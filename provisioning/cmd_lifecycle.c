/*
 * cmd_lifecycle.c — what happens to a certificate after it is issued:
 * p11ca ca renew | rekey | revoke and p11ca crl inspect, the client side
 * of POST /1.0/renew, /1.0/rekey, /1.0/revoke and GET /1.0/crl, with the
 * flags of step's commands of the same names.
 *
 * Files are never half-written: new certificates and keys go to a
 * temporary file in the target's directory, are synced, then renamed
 * over it, and only after the CA's answer was checked (the new leaf
 * holds the expected key). Whatever fails leaves CRT and KEY as they were.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "appliance/config.h"
#include "policy/jose.h"
#include "provisioning/cli.h"

#define TOKEN_LIFETIME	300	/* seconds, the renewal token's */

/* ---- secrets, certificates and keys ---- */

/* Every certificate of a PEM file: the first in *leaf, the rest in *more. */
static int
read_certs(const char *path, X509 **leaf, STACK_OF(X509) **more)
{
	BIO	*b;
	X509	*x;

	*leaf = NULL;
	*more = NULL;
	if ((b = BIO_new_file(path, "r")) == NULL) {
		ERR_clear_error();
		cli_err("%s: %s", path, strerror(errno));
		return -1;
	}
	if ((*more = sk_X509_new_null()) == NULL) {
		BIO_free(b);
		cli_err("out of memory");
		return -1;
	}
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (*leaf == NULL)
			*leaf = x;
		else if (!sk_X509_push(*more, x)) {
			X509_free(x);
			cli_err("out of memory");
			goto bad;
		}
	}
	ERR_clear_error();
	BIO_free(b);
	b = NULL;
	if (*leaf == NULL) {
		cli_err("%s: no PEM certificate in it", path);
		goto bad;
	}
	return 0;
bad:
	BIO_free(b);
	X509_free(*leaf);
	sk_X509_pop_free(*more, X509_free);
	*leaf = NULL;
	*more = NULL;
	return -1;
}

static void
certs_free(X509 *leaf, STACK_OF(X509) *more)
{
	X509_free(leaf);
	sk_X509_pop_free(more, X509_free);
}

/* A PEM private key, decrypted with pw when given (else OpenSSL asks). */
static EVP_PKEY *
read_key(const char *path, struct cli_secret *pw)
{
	EVP_PKEY	*k;
	BIO		*b;

	if ((b = BIO_new_file(path, "r")) == NULL) {
		ERR_clear_error();
		cli_err("%s: %s", path, strerror(errno));
		return NULL;
	}
	k = cli_pem_key(b, pw);
	BIO_free(b);
	if (k == NULL)
		cli_err("%s: not a PEM private key, or the wrong password: %s",
		    path, ERR_reason_error_string(ERR_peek_last_error()) ?
		    ERR_reason_error_string(ERR_peek_last_error()) : "unknown");
	ERR_clear_error();
	return k;
}

/*
 * The certificates of crt and the private key in keypath, which must be
 * the leaf's; the password of pwfile (when given) stays in pw.
 */
static int
cert_and_key(const char *crt, const char *keypath, const char *pwfile,
    struct cli_secret *pw, X509 **leaf, STACK_OF(X509) **more, EVP_PKEY **key)
{
	if ((pwfile != NULL && cli_secret_read(pwfile, pw) == -1) ||
	    read_certs(crt, leaf, more) == -1 ||
	    (*key = read_key(keypath, pw)) == NULL)
		return -1;
	if (X509_check_private_key(*leaf, *key) != 1) {
		ERR_clear_error();
		cli_err("%s is not the key of the certificate in %s", keypath,
		    crt);
		return -1;
	}
	return 0;
}

/* The certificate's serial number in decimal, into out. */
static int
cert_serial(X509 *x, char *out, size_t outsz)
{
	BIGNUM	*bn;
	char	*d = NULL;
	int	 rc = -1;

	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL)) !=
	    NULL && (d = BN_bn2dec(bn)) != NULL &&
	    strlen(d) < outsz) {
		snprintf(out, outsz, "%s", d);
		rc = 0;
	}
	OPENSSL_free(d);
	BN_free(bn);
	return rc;
}

/* 1 when x is not valid at this moment. */
static int
expired(X509 *x)
{
	return X509_cmp_current_time(X509_get0_notAfter(x)) <= 0;
}

/* ---- answers ---- */

static int
append(char **buf, size_t *len, const char *s)
{
	size_t	 n = strlen(s), nl = n > 0 && s[n - 1] != '\n';
	char	*nb;

	if ((nb = realloc(*buf, *len + n + nl + 1)) == NULL)
		return -1;
	memcpy(nb + *len, s, n);
	if (nl)
		nb[*len + n] = '\n';
	*len += n + nl;
	nb[*len] = '\0';
	*buf = nb;
	return 0;
}

/*
 * The chain of a 201 {crt, ca, certChain} answer as PEM: certChain's
 * certificates one after the other (else crt, then ca). Its leaf must be
 * a certificate for pub. Caller free().
 */
static char *
chain_of(const char *what, int status, const char *resp, EVP_PKEY *pub)
{
	cJSON		*o = NULL;
	const cJSON	*arr, *it;
	const char	*why = "the answer holds no certificate";
	char		*pem = NULL;
	size_t		 len = 0;
	BIO		*b = NULL;
	X509		*x = NULL;

	if ((status != 201 && status != 200) || (o = cJSON_Parse(resp)) ==
	    NULL) {
		cli_refused(what, status, resp);
		goto bad_quiet;
	}
	arr = cJSON_GetObjectItemCaseSensitive(o, "certChain");
	if (cJSON_IsArray(arr) && cJSON_GetArraySize(arr) > 0) {
		cJSON_ArrayForEach(it, arr)
			if (!cJSON_IsString(it) ||
			    append(&pem, &len, it->valuestring) == -1)
				goto bad;
	} else {
		it = cJSON_GetObjectItemCaseSensitive(o, "crt");
		if (!cJSON_IsString(it) || append(&pem, &len,
		    it->valuestring) == -1)
			goto bad;
		it = cJSON_GetObjectItemCaseSensitive(o, "ca");
		if (cJSON_IsString(it) && append(&pem, &len,
		    it->valuestring) == -1)
			goto bad;
	}
	if ((b = BIO_new_mem_buf(pem, (int)len)) == NULL ||
	    (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL)
		goto bad;
	why = "the new certificate is not for the expected key";
	if (EVP_PKEY_eq(X509_get0_pubkey(x), pub) != 1)
		goto bad;
	X509_free(x);
	BIO_free(b);
	cJSON_Delete(o);
	return pem;
bad:
	cli_err("the CA's answer to the %s is unusable: %s", what, why);
bad_quiet:
	ERR_clear_error();
	X509_free(x);
	BIO_free(b);
	cJSON_Delete(o);
	free(pem);
	return NULL;
}

static int
parse_bool(const char *s, int *v)
{
	static const char *const yes[] = { "true", "t", "1", "yes", "y" };
	static const char *const no[] = { "false", "f", "0", "no", "n" };
	size_t	 i;

	if (s == NULL) {
		*v = 1;
		return 0;
	}
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*v = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*v = 0;
			return 0;
		}
	}
	return -1;
}

/* ---- p11ca ca renew ---- */

static const char renew_usage[] =
"usage: p11ca ca renew CRT KEY [--mtls=false] [--out FILE] [options]\n"
"\n"
"Renews the certificate in CRT (POST /1.0/renew): the CA issues a new\n"
"certificate with the same subject, names, extensions and public key, a\n"
"new serial number and a validity of the same length starting now, as\n"
"`step ca renew`. The new chain (leaf, then intermediate, PEM) replaces\n"
"CRT, or goes to --out FILE. It is written to a temporary file in the same\n"
"directory, synced and renamed into place, and only once the CA's answer\n"
"is checked to certify KEY's public key; on any failure CRT is untouched.\n"
"\n"
"The request is authenticated by mTLS: the certificate in CRT (with the\n"
"certificates after it in the file) and KEY are presented in the TLS\n"
"handshake. With --mtls=false, or when the certificate has expired (the CA\n"
"renews that only if the provisioner allows renewal after expiry), it\n"
"carries instead a token signed by KEY: Authorization: Bearer, with the\n"
"chain in the JWS header's x5cInsecure, sub the certificate's common name,\n"
"iss step-ca-client/1.0 and aud CA-URL/1.0/renew. That form passes TLS-\n"
"terminating proxies.\n"
"\n"
"  --mtls[=BOOL]         authenticate by mTLS (default true); --mtls=false\n"
"                        sends the token instead\n"
"  --out, --output-file FILE  write the new chain there, not over CRT\n"
"  --password-file FILE  the password of KEY when it is encrypted (first\n"
"                        line of FILE; otherwise OpenSSL asks for it)\n"
"  -f, --force           overwrite --out FILE when it exists. CRT itself is\n"
"                        always replaced, without a question (step asks)\n"
"  --ca-url URL          the CA (default from ca.json:\n"
"                        https://{dnsNames[0]}:{port of address})\n"
"  --root FILE           the root the CA's TLS certificate must chain to\n"
"                        (default ca.json's root)\n"
"  --ca-config FILE      ca.json (default $P11CA_HOME/config/ca.json); not\n"
"                        read when both --ca-url and --root are given\n"
"  --home DIR            state directory (default $P11CA_HOME, ~/.p11ca)\n"
"\n"
"Not supported: step's --daemon, --exec, --pid, --signal, --expires-in\n"
"and --renew-period (run the command from a timer instead).\n"
"\n"
"Exit status: 0 renewed, 1 failed (nothing written), 2 bad usage.\n"
"\n"
"  p11ca ca renew svc.crt svc.key\n"
"  p11ca ca renew --mtls=false --out new.crt svc.crt svc.key\n";

/* The x5cInsecure token of step's renew over a proxy, signed by key. */
static char *
renew_token(const char *url, X509 *leaf, STACK_OF(X509) *more,
    EVP_PKEY *key)
{
	char		 cn[256], aud[600], *payload = NULL;
	char		*tok = NULL, *b64;
	unsigned char	*der;
	cJSON		*claims = NULL, *hdr = NULL, *x5c;
	time_t		 now = time(NULL);
	X509		*x;
	int		 i, n;

	if (X509_NAME_get_text_by_NID(X509_get_subject_name(leaf),
	    NID_commonName, cn, sizeof(cn)) <= 0) {
		ERR_clear_error();
		cli_err("the certificate has no common name for the token's "
		    "sub: renew it by mTLS");
		return NULL;
	}
	snprintf(aud, sizeof(aud), "%s/1.0/renew", url);
	if ((claims = cli_claims(aud, "step-ca-client/1.0", cn, now, now,
	    now + TOKEN_LIFETIME)) == NULL)
		goto bad;
	if ((hdr = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(hdr, "typ", "JWT") == NULL ||
	    (x5c = cJSON_AddArrayToObject(hdr, "x5cInsecure")) == NULL)
		goto bad;
	/* The leaf, then what follows it in CRT (the intermediate). */
	for (i = -1; i < sk_X509_num(more); i++) {
		x = i < 0 ? leaf : sk_X509_value(more, i);
		der = NULL;
		if ((n = i2d_X509(x, &der)) <= 0)
			goto bad;
		b64 = cli_b64_encode(der, (size_t)n);
		OPENSSL_free(der);
		if (b64 == NULL)
			goto bad;
		if (!cJSON_AddItemToArray(x5c, cJSON_CreateString(b64))) {
			free(b64);
			goto bad;
		}
		free(b64);
	}
	if ((payload = cJSON_PrintUnformatted(claims)) == NULL)
		goto bad;
	if ((tok = jose_jws_sign(key, NULL, hdr, payload, strlen(payload))) ==
	    NULL)
		cli_err("cannot sign the renewal token with this key (RSA "
		    "keys need 2048 bits or more)");
	free(payload);
	cJSON_Delete(claims);
	cJSON_Delete(hdr);
	ERR_clear_error();
	return tok;
bad:
	cli_err("cannot make the renewal token");
	ERR_clear_error();
	cJSON_Delete(claims);
	cJSON_Delete(hdr);
	return NULL;
}

int
cmd_ca_renew(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mtls", optional_argument, NULL, 'm' },
		{ "out", required_argument, NULL, 'o' },
		{ "output-file", required_argument, NULL, 'o' },
		{ "password-file", required_argument, NULL, 'p' },
		CLI_WHERE_OPTIONS,
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_where w;
	struct cli_secret pw;
	struct cli_staged st = { 0 };
	struct cli_req	 q = { .method = "POST", .path = "/1.0/renew" };
	const char	*crt, *keypath, *out = NULL, *pwfile = NULL;
	char		*auth = NULL, *tok = NULL, *resp = NULL, *chain = NULL;
	X509		*leaf = NULL;
	STACK_OF(X509)	*more = NULL;
	EVP_PKEY	*key = NULL;
	int		 ch, mtls = 1, mtls_set = 0, force = 0, status, rc = 1;

	memset(&w, 0, sizeof(w));
	memset(&pw, 0, sizeof(pw));
	optind = 1;
	while ((ch = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		if (cli_where_opt(&w, ch, optarg))
			continue;
		switch (ch) {
		case 'm':
			if (parse_bool(optarg, &mtls) == -1) {
				cli_err("--mtls=%s: not a boolean", optarg);
				return 2;
			}
			mtls_set = 1;
			break;
		case 'o': out = optarg; break;
		case 'p': pwfile = optarg; break;
		case 'f': force = 1; break;
		case 'h': fputs(renew_usage, stdout); return 0;
		default: fputs(renew_usage, stderr); return 2;
		}
	}
	if (optind != argc - 2) {
		fputs(renew_usage, stderr);
		return 2;
	}
	crt = argv[optind];
	keypath = argv[optind + 1];
	if (out != NULL && strcmp(out, crt) != 0 && cli_may_write(out, force) ==
	    -1)
		return 1;
	if (out == NULL)
		out = crt;
	if (strcmp(out, keypath) == 0) {
		cli_err("the new certificate cannot go over the key %s",
		    keypath);
		return 2;
	}
	if (cli_where_load(&w, 0) == -1 || cert_and_key(crt, keypath, pwfile,
	    &pw, &leaf, &more, &key) == -1)
		goto out;
	if (expired(leaf)) {
		if (mtls_set && mtls) {
			cli_err("the certificate in %s has expired: it cannot "
			    "be presented in TLS (try --mtls=false)", crt);
			goto out;
		}
		mtls = 0;	/* as step: the token form for expired ones */
	}
	if (mtls) {
		q.cert = leaf;
		q.key = key;
		q.chain = more;
	} else {
		if ((tok = renew_token(w.url, leaf, more, key)) == NULL)
			goto out;
		if (asprintf(&auth, "Bearer %s", tok) == -1) {
			auth = NULL;
			cli_err("out of memory");
			goto out;
		}
		q.auth = auth;
	}
	if (cli_http(w.url, w.root, &q, &status, &resp, NULL) == -1 ||
	    (chain = chain_of("renewal", status, resp, key)) == NULL)
		goto out;
	if (cli_stage(&st, out, chain, strlen(chain), cli_mode_of(out,
	    0644)) == -1 || cli_commit(&st) == -1)
		goto out;
	printf("Your certificate has been saved in %s.\n", out);
	rc = 0;
out:
	cli_unstage(&st);
	cli_secret_free(&pw);
	certs_free(leaf, more);
	EVP_PKEY_free(key);
	free(auth);
	free(tok);
	free(resp);
	free(chain);
	cli_where_free(&w);
	return rc;
}

/* ---- p11ca ca rekey ---- */

static const char rekey_usage[] =
"usage: p11ca ca rekey CRT KEY [--out-cert FILE] [--out-key FILE]\n"
"                      [--kty EC|RSA|OKP] [--crv CURVE] [--size BITS]\n"
"                      [--private-key FILE] [options]\n"
"\n"
"Replaces the key of the certificate in CRT (POST /1.0/rekey), as `step\n"
"ca rekey`: makes a new key (by default of KEY's type: the same curve, or\n"
"an RSA key of the same size), a certificate request for CRT's subject and\n"
"subject alternative names signed by it, and sends the request over mTLS\n"
"with CRT and KEY. The CA issues a certificate like CRT's (same subject,\n"
"names, extensions and validity length) for the new key.\n"
"\n"
"The new chain (leaf, then intermediate) replaces CRT and the new key\n"
"(PEM, mode 0600; encrypted with the --password-file password when one is\n"
"given) replaces KEY, or they go to --out-cert and --out-key. Both are\n"
"written to temporary files first and renamed into place only once the\n"
"CA's certificate is checked to be for the new key; on any failure CRT and\n"
"KEY are untouched. The old key stops being of use: keep a copy first if\n"
"something still needs it.\n"
"\n"
"  --out-cert FILE       write the new chain there, not over CRT\n"
"  --out-key FILE        write the new key there, not over KEY\n"
"  --kty EC|RSA|OKP      the new key's type (default KEY's)\n"
"  --crv, --curve CURVE  P-256, P-384 or P-521 for EC, Ed25519 for OKP\n"
"                        (default KEY's curve, else P-256)\n"
"  --size BITS           RSA modulus (default KEY's size, else 2048)\n"
"  --private-key FILE    use this key rather than making one (KEY is then\n"
"                        rewritten only when --out-key is given)\n"
"  --password-file FILE  the password of KEY (and --private-key) when\n"
"                        encrypted; the new key is encrypted with it\n"
"  -f, --force           overwrite --out-cert and --out-key when they\n"
"                        exist (CRT and KEY themselves are always replaced)\n"
"  --ca-url URL, --root FILE, --ca-config FILE, --home DIR\n"
"                        as for `p11ca ca renew`\n"
"\n"
"Exit status: 0 rekeyed, 1 failed (nothing written), 2 bad usage.\n"
"\n"
"  p11ca ca rekey svc.crt svc.key\n"
"  p11ca ca rekey --kty RSA --size 3072 svc.crt svc.key\n";

/* A new key: kty/crv/bits when given, else of old's type. */
static EVP_PKEY *
new_key(EVP_PKEY *old, const char *kty, const char *crv, int bits)
{
	char		 group[80];
	size_t		 gl;
	EVP_PKEY	*k;

	if (kty == NULL) {
		if (EVP_PKEY_is_a(old, "RSA")) {
			kty = "RSA";
			if (bits == 0)
				bits = EVP_PKEY_get_bits(old);
		} else if (EVP_PKEY_is_a(old, "ED25519"))
			kty = "OKP";
		else if (EVP_PKEY_is_a(old, "EC")) {
			kty = "EC";
			if (crv == NULL && EVP_PKEY_get_utf8_string_param(old,
			    OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
			    &gl) == 1)
				crv = group;
		} else {
			cli_err("KEY's type is not one p11ca makes: give --kty");
			return NULL;
		}
	}
	if (strcasecmp(kty, "RSA") == 0) {
		if (bits == 0)
			bits = 2048;
		if (bits < 2048 || bits > 8192) {
			cli_err("--size %d: want 2048 to 8192 bits", bits);
			return NULL;
		}
	} else if (strcasecmp(kty, "OKP") == 0) {
		if (crv != NULL && strcasecmp(crv, "Ed25519") != 0) {
			cli_err("--crv %s: OKP keys are Ed25519", crv);
			return NULL;
		}
	} else if (strcasecmp(kty, "EC") == 0) {
		if (crv == NULL)
			crv = "P-256";
		if (strcasecmp(crv, "P-256") && strcasecmp(crv, "P-384") &&
		    strcasecmp(crv, "P-521") && strcmp(crv, "prime256v1") &&
		    strcmp(crv, "secp384r1") && strcmp(crv, "secp521r1")) {
			cli_err("--crv %s: want P-256, P-384 or P-521", crv);
			return NULL;
		}
	} else {
		cli_err("--kty %s: want EC, RSA or OKP", kty);
		return NULL;
	}
	if ((k = cli_make_key(kty, crv, bits)) == NULL)
		cli_err("cannot make a %s key", kty);
	ERR_clear_error();
	return k;
}

/* A PEM CSR for leaf's subject and SANs, signed by k. Caller free(). */
static char *
rekey_csr(X509 *leaf, EVP_PKEY *k)
{
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_REQ	*req = X509_REQ_new();
	X509_EXTENSION	*ext = NULL;
	char		*pem = NULL;
	int		 i, ok;

	ok = req && exts &&
	    X509_REQ_set_version(req, X509_REQ_VERSION_1) &&
	    X509_REQ_set_subject_name(req, X509_get_subject_name(leaf)) &&
	    X509_REQ_set_pubkey(req, k);
	if (ok && (i = X509_get_ext_by_NID(leaf, NID_subject_alt_name, -1)) >=
	    0) {
		ok = (ext = X509_EXTENSION_dup(X509_get_ext(leaf, i))) != NULL &&
		    sk_X509_EXTENSION_push(exts, ext);
		if (!ok)
			X509_EXTENSION_free(ext);
		ok = ok && X509_REQ_add_extensions(req, exts);
	}
	if (!ok || (pem = cli_req_pem(req, k)) == NULL)
		cli_err("cannot make the certificate request");
	ERR_clear_error();
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	return pem;
}

int
cmd_ca_rekey(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out-cert", required_argument, NULL, 'c' },
		{ "out-key", required_argument, NULL, 'k' },
		{ "kty", required_argument, NULL, 't' },
		{ "crv", required_argument, NULL, 'v' },
		{ "curve", required_argument, NULL, 'v' },
		{ "size", required_argument, NULL, 'z' },
		{ "private-key", required_argument, NULL, 'K' },
		{ "password-file", required_argument, NULL, 'p' },
		CLI_WHERE_OPTIONS,
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_where w;
	struct cli_secret pw;
	struct cli_staged sc = { 0 }, sk = { 0 };
	struct cli_req	 tls = { 0 };
	const char	*crt, *keypath, *outc = NULL, *outk = NULL;
	const char	*kty = NULL, *crv = NULL, *pwfile = NULL, *given = NULL;
	char		*csr = NULL, *resp = NULL, *chain = NULL, *kp, *end;
	cJSON		*req = NULL;
	X509		*leaf = NULL;
	STACK_OF(X509)	*more = NULL;
	EVP_PKEY	*key = NULL, *nk = NULL;
	BIO		*kb = NULL;
	long		 kl, v;
	int		 ch, bits = 0, force = 0, status, rc = 1, write_key;

	memset(&w, 0, sizeof(w));
	memset(&pw, 0, sizeof(pw));
	optind = 1;
	while ((ch = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		if (cli_where_opt(&w, ch, optarg))
			continue;
		switch (ch) {
		case 'c': outc = optarg; break;
		case 'k': outk = optarg; break;
		case 't': kty = optarg; break;
		case 'v': crv = optarg; break;
		case 'z':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || v <= 0 ||
			    v > 16384) {
				cli_err("--size %s: not a number of bits",
				    optarg);
				return 2;
			}
			bits = (int)v;
			break;
		case 'K': given = optarg; break;
		case 'p': pwfile = optarg; break;
		case 'f': force = 1; break;
		case 'h': fputs(rekey_usage, stdout); return 0;
		default: fputs(rekey_usage, stderr); return 2;
		}
	}
	if (optind != argc - 2) {
		fputs(rekey_usage, stderr);
		return 2;
	}
	crt = argv[optind];
	keypath = argv[optind + 1];
	write_key = given == NULL || outk != NULL;
	if ((outc != NULL && strcmp(outc, crt) != 0 &&
	    cli_may_write(outc, force) == -1) ||
	    (outk != NULL && strcmp(outk, keypath) != 0 &&
	    cli_may_write(outk, force) == -1))
		return 1;
	outc = outc ? outc : crt;
	outk = outk ? outk : keypath;
	if (write_key && strcmp(outc, outk) == 0) {
		cli_err("the new certificate and key cannot both go to %s",
		    outc);
		return 2;
	}
	if (cli_where_load(&w, 0) == -1 || cert_and_key(crt, keypath, pwfile,
	    &pw, &leaf, &more, &key) == -1)
		goto out;
	if (expired(leaf)) {
		cli_err("the certificate in %s has expired: rekey needs mTLS "
		    "with a valid certificate", crt);
		goto out;
	}
	if ((nk = given ? read_key(given, &pw) : new_key(key, kty, crv,
	    bits)) == NULL || (csr = rekey_csr(leaf, nk)) == NULL)
		goto out;
	if ((req = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(req, "csr", csr) == NULL) {
		cli_err("out of memory");
		goto out;
	}
	tls.cert = leaf;
	tls.key = key;
	tls.chain = more;
	if (cli_post_json(&w, "/1.0/rekey", req, &tls, &status, &resp) ==
	    -1 || (chain = chain_of("rekey", status, resp, nk)) == NULL)
		goto out;
	/* The key in memory that wipes itself, encrypted if KEY was. */
	if (write_key) {
		if ((kb = BIO_new(BIO_s_secmem())) == NULL ||
		    (pw.p != NULL ? PEM_write_bio_PKCS8PrivateKey(kb, nk,
		    EVP_aes_256_cbc(), pw.p, (int)pw.n, NULL, NULL) :
		    PEM_write_bio_PrivateKey(kb, nk, NULL, NULL, 0, NULL,
		    NULL)) != 1 || (kl = BIO_get_mem_data(kb, &kp)) <= 0) {
			ERR_clear_error();
			cli_err("cannot encode the new key");
			goto out;
		}
		if (cli_stage(&sk, outk, kp, (size_t)kl, 0600) == -1)
			goto out;
	}
	if (cli_stage(&sc, outc, chain, strlen(chain), cli_mode_of(outc,
	    0644)) == -1 || (write_key && cli_commit(&sk) == -1))
		goto out;
	if (cli_commit(&sc) == -1) {
		if (write_key) {
			/* Half done: say where the other half is. */
			cli_err("%s holds the new key, but the new certificate "
			    "is only in %s", outk, sc.tmp);
			sc.active = 0;
		}
		goto out;
	}
	printf("Your certificate has been saved in %s.\n", outc);
	if (write_key)
		printf("Your private key has been saved in %s.\n", outk);
	rc = 0;
out:
	cli_unstage(&sc);
	cli_unstage(&sk);
	BIO_free(kb);
	cli_secret_free(&pw);
	certs_free(leaf, more);
	EVP_PKEY_free(key);
	EVP_PKEY_free(nk);
	cJSON_Delete(req);
	free(csr);
	free(resp);
	free(chain);
	cli_where_free(&w);
	return rc;
}

/* ---- p11ca ca revoke ---- */

static const char revoke_usage[] =
"usage: p11ca ca revoke SERIAL [--reason TEXT] [--reasonCode CODE] [options]\n"
"       p11ca ca revoke [SERIAL] --cert CRT --key KEY [options]\n"
"\n"
"Revokes the certificate with serial number SERIAL (POST /1.0/revoke), as\n"
"`step ca revoke`. The revocation is passive in step's sense and active in\n"
"the CA's CRL and OCSP answers: the certificate can no longer be renewed\n"
"and is listed in the next CRL, which the CA makes at once.\n"
"\n"
"The request is authorized by one of:\n"
"  - a one-time token from a JWK provisioner, aud CA-URL/1.0/revoke and sub\n"
"    the serial in decimal: made here from the provisioner's key in ca.json\n"
"    (as `p11ca ca token SERIAL --revoke` makes it), or given with --token;\n"
"  - the certificate itself: --cert CRT --key KEY present it over mTLS.\n"
"    SERIAL may be left out then; when given it must be CRT's.\n"
"\n"
"SERIAL is decimal, as step prints it, or hexadecimal with 0x in front.\n"
"\n"
"  --reason TEXT         why, in words (kept with the revocation)\n"
"  --reasonCode CODE     RFC 5280 reason: a number (0-10 but 7) or a name:\n"
"                        unspecified (0, default), keyCompromise,\n"
"                        cACompromise, affiliationChanged, superseded,\n"
"                        cessationOfOperation, certificateHold,\n"
"                        removeFromCRL, privilegeWithdrawn, aACompromise\n"
"  --token TOKEN         a revoke token made elsewhere\n"
"  --cert CRT, --key KEY revoke by mTLS with this certificate and its key\n"
"  --key-password-file FILE  the password of KEY when it is encrypted\n"
"  --issuer, --provisioner NAME, --kid KID   which JWK provisioner makes\n"
"                        the token (default: the only one)\n"
"  --password-file, --provisioner-password-file FILE  its key's password\n"
"                        (default the home's secrets/password)\n"
"  --ca-url URL, --root FILE, --ca-config FILE, --home DIR\n"
"                        as for `p11ca ca renew` (a token made here needs\n"
"                        ca.json)\n"
"\n"
"Exit status: 0 revoked, 1 failed, 2 bad usage.\n"
"\n"
"  p11ca ca revoke 308893286343609293989051180431574390766 --reasonCode 1\n"
"  p11ca ca revoke --cert svc.crt --key svc.key --reason \"host retired\"\n";

/* A decimal or 0x-hexadecimal serial number as decimal, into out. */
static int
serial_dec(const char *in, char *out, size_t outsz)
{
	static const char hex[] = "0123456789abcdefABCDEF";
	BIGNUM		*bn = NULL;
	char		*d = NULL;
	int		 ok, rc = -1;

	if (strncasecmp(in, "0x", 2) == 0)
		ok = in[2] != '\0' && strlen(in) <= 2 + 64 &&
		    strspn(in + 2, hex) == strlen(in + 2) &&
		    BN_hex2bn(&bn, in + 2) == (int)strlen(in + 2);
	else
		ok = in[0] != '\0' && strlen(in) <= 160 &&
		    strspn(in, "0123456789") == strlen(in) &&
		    BN_dec2bn(&bn, in) == (int)strlen(in);
	if (ok && (d = BN_bn2dec(bn)) != NULL && strlen(d) < outsz) {
		snprintf(out, outsz, "%s", d);
		rc = 0;
	}
	OPENSSL_free(d);
	BN_free(bn);
	return rc;
}

int
cmd_ca_revoke(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_REVOKE_OPTIONS,
		CLI_WHERE_OPTIONS,
		{ "offline", no_argument, NULL, 'O' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_where w;
	struct cli_secret pw;
	struct cli_tokreq tq = { .aud = "revoke" };
	struct cli_req	 tls = { 0 };
	struct cli_revoke r = { 0 };
	char		 serial[200], cserial[200], *tok = NULL, *resp = NULL;
	cJSON		*req = NULL;
	X509		*leaf = NULL;
	STACK_OF(X509)	*more = NULL;
	EVP_PKEY	*key = NULL;
	int		 ch, taken, status, rc = 1;

	memset(&w, 0, sizeof(w));
	memset(&pw, 0, sizeof(pw));
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (cli_where_opt(&w, ch, optarg))
			continue;
		if ((taken = cli_revoke_opt(&r, &tq, ch, optarg)) == -1)
			return 2;
		if (taken)
			continue;
		switch (ch) {
		case 'O':
			cli_err("--offline: revocation is the CA's; p11ca "
			    "revokes only through it");
			return 2;
		case 'h': fputs(revoke_usage, stdout); return 0;
		default: fputs(revoke_usage, stderr); return 2;
		}
	}
	if (cli_revoke_args(&r, argc) == -1) {
		fputs(revoke_usage, stderr);
		return 2;
	}
	if (optind == argc - 1 && serial_dec(argv[optind], serial,
	    sizeof(serial)) == -1) {
		cli_err("%s: not a serial number (decimal, or hexadecimal "
		    "with 0x)", argv[optind]);
		return 2;
	}
	if (r.crt != NULL) {
		if (cert_and_key(r.crt, r.keypath, r.kpwfile, &pw, &leaf, &more,
		    &key) == -1)
			goto out;
		if (cert_serial(leaf, cserial, sizeof(cserial)) == -1) {
			cli_err("%s: cannot read its serial number", r.crt);
			goto out;
		}
		if (optind == argc)
			snprintf(serial, sizeof(serial), "%s", cserial);
		else if (strcmp(serial, cserial) != 0) {
			cli_err("%s is not the serial number of the "
			    "certificate in %s (%s)", argv[optind], r.crt,
			    cserial);
			goto out;
		}
		if (expired(leaf)) {
			cli_err("the certificate in %s has expired: it cannot "
			    "be presented in TLS (revoke it with a token)",
			    r.crt);
			goto out;
		}
		tls.cert = leaf;
		tls.key = key;
		tls.chain = more;
	}
	if (cli_where_load(&w, 0) == -1)
		goto out;
	if (r.crt == NULL && r.token == NULL) {
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
	if (cli_post_json(&w, "/1.0/revoke", req, &tls, &status, &resp) ==
	    -1 || cli_answer_ok("revocation", status, resp) == -1)
		goto out;
	printf("Certificate with Serial Number %s has been revoked.\n",
	    serial);
	rc = 0;
out:
	cli_secret_free(&pw);
	certs_free(leaf, more);
	EVP_PKEY_free(key);
	cJSON_Delete(req);
	free(tok);
	free(resp);
	cli_where_free(&w);
	return rc;
}

/* ---- p11ca crl inspect ---- */

static const char crl_usage[] =
"usage: p11ca crl inspect [FILE|URL] [--format text|json|pem] [--ca FILE]\n"
"                         [--insecure] [--root FILE] [options]\n"
"\n"
"Reads a certificate revocation list, checks it and prints it, as `step crl\n"
"inspect`. The CRL comes from FILE (DER or PEM; - for standard input), from\n"
"URL (http://, or https:// verified against --root), or, without either,\n"
"from the CA itself: GET CA-URL/1.0/crl over TLS verified with the root.\n"
"\n"
"The CRL is valid when its signature verifies with the public key of a\n"
"certificate in --ca FILE that is named as its issuer (and may sign CRLs),\n"
"that certificate has not expired, and the CRL's nextUpdate is still to\n"
"come. An invalid CRL is printed (valid false, and why) but the command\n"
"exits 1, unless --insecure.\n"
"\n"
"  --format FORMAT       text (default, as step's), json (step's fields:\n"
"                        version, signature_algorithm, issuer, this_update,\n"
"                        next_update, revoked_certificates with\n"
"                        serial_number in decimal and revocation_time,\n"
"                        signature with valid; and crl_number,\n"
"                        authority_key_id and each entry's reason and\n"
"                        reason_code) or pem (the CRL itself)\n"
"  --ca, --issuer FILE   the issuer's certificate(s), PEM (default the CA's\n"
"                        intermediate, $P11CA_HOME/certs/intermediate_ca.crt)\n"
"  --insecure            print and exit 0 even when the CRL is not valid,\n"
"                        or when there is no issuer certificate to check it\n"
"  --root, --roots FILE  the root an https:// server must chain to (default\n"
"                        ca.json's root)\n"
"  --ca-url URL          the CA whose CRL is fetched without FILE or URL\n"
"  --ca-config FILE, --home DIR   as for `p11ca ca renew`\n"
"\n"
"Exit status: 0 valid (or --insecure), 1 invalid or unreadable, 2 bad\n"
"usage.\n"
"\n"
"  p11ca crl inspect --format json\n"
"  p11ca crl inspect http://127.0.0.1:9080/crl\n"
"  p11ca crl inspect --ca intermediate.crt crl.der\n";

/* Go's names of signature algorithms, as step prints them. */
static const char *
sigalg_name(int nid)
{
	static const struct {
		int		 nid;
		const char	*name;
	} names[] = {
		{ NID_ecdsa_with_SHA256, "ECDSA-SHA256" },
		{ NID_ecdsa_with_SHA384, "ECDSA-SHA384" },
		{ NID_ecdsa_with_SHA512, "ECDSA-SHA512" },
		{ NID_sha256WithRSAEncryption, "SHA256-RSA" },
		{ NID_sha384WithRSAEncryption, "SHA384-RSA" },
		{ NID_sha512WithRSAEncryption, "SHA512-RSA" },
		{ NID_rsassaPss, "RSA-PSS" },
		{ NID_ED25519, "Ed25519" },
	};
	size_t	 i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].nid == nid)
			return names[i].name;
	return nid == NID_undef ? "unknown" : OBJ_nid2ln(nid);
}

/* An ASN1_TIME as RFC 3339 (json) or as Go prints UTC times (text). */
static void
fmt_time(const ASN1_TIME *t, int text, char *out, size_t outsz)
{
	struct tm	 tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1) {
		snprintf(out, outsz, "%s", text ? "none" : "");
		return;
	}
	strftime(out, outsz, text ? "%Y-%m-%d %H:%M:%S +0000 UTC" :
	    "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static char *
bn_str(const ASN1_INTEGER *ai, int hex)
{
	BIGNUM	*bn = ASN1_INTEGER_to_BN(ai, NULL);
	char	*s = bn ? (hex ? BN_bn2hex(bn) : BN_bn2dec(bn)) : NULL;

	BN_free(bn);
	/*
	 * BN_bn2hex writes whole bytes ("07B1…"); step (Go's %X) writes no
	 * leading zero ("7B1…"), and so do we.
	 */
	if (hex && s != NULL) {
		char	*d = s + (s[0] == '-');

		if (d[0] == '0' && d[1] != '\0')
			memmove(d, d + 1, strlen(d));
	}
	return s;	/* OPENSSL_free() */
}

/* The issuer as step's DistinguishedName object. */
static cJSON *
dn_json(const X509_NAME *nm)
{
	static const struct {
		int		 nid;
		const char	*key;
		int		 many;
	} keys[] = {
		{ NID_countryName, "country", 1 },
		{ NID_organizationName, "organization", 1 },
		{ NID_organizationalUnitName, "organizational_unit", 1 },
		{ NID_localityName, "locality", 1 },
		{ NID_stateOrProvinceName, "province", 1 },
		{ NID_streetAddress, "street_address", 1 },
		{ NID_postalCode, "postal_code", 1 },
		{ NID_serialNumber, "serial_number", 0 },
		{ NID_commonName, "common_name", 0 },
	};
	const X509_NAME_ENTRY *e;
	cJSON		*o = cJSON_CreateObject(), *extra = NULL, *arr;
	unsigned char	*u;
	char		 oid[128];
	const char	*key;
	size_t		 k;
	int		 i, nid, many;

	for (i = 0; o && i < X509_NAME_entry_count(nm); i++) {
		e = X509_NAME_get_entry(nm, i);
		nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
		if (ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(e)) < 0)
			continue;
		key = NULL;
		many = 1;
		for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			if (keys[k].nid == nid) {
				key = keys[k].key;
				many = keys[k].many;
			}
		if (key == NULL) {
			if (extra == NULL)
				extra = cJSON_CreateObject();
			OBJ_obj2txt(oid, sizeof(oid),
			    X509_NAME_ENTRY_get_object(e), 1);
			if ((arr = cJSON_GetObjectItemCaseSensitive(extra,
			    oid)) == NULL)
				arr = cJSON_AddArrayToObject(extra, oid);
			cJSON_AddItemToArray(arr,
			    cJSON_CreateString((char *)u));
		} else if (!many) {
			cJSON_DeleteItemFromObjectCaseSensitive(o, key);
			cJSON_AddStringToObject(o, key, (char *)u);
		} else {
			if ((arr = cJSON_GetObjectItemCaseSensitive(o, key)) ==
			    NULL)
				arr = cJSON_AddArrayToObject(o, key);
			cJSON_AddItemToArray(arr,
			    cJSON_CreateString((char *)u));
		}
		OPENSSL_free(u);
	}
	if (extra != NULL && !cJSON_AddItemToObject(o, "extra_names", extra))
		cJSON_Delete(extra);
	return o;
}

static char *
dn_text(const X509_NAME *nm)
{
	BIO	*b = BIO_new(BIO_s_mem());
	char	*d, *s = NULL;
	long	 n;

	if (b != NULL && X509_NAME_print_ex(b, nm, 0, XN_FLAG_RFC2253 &
	    ~ASN1_STRFLGS_ESC_MSB) >= 0 && (n = BIO_get_mem_data(b, &d)) >= 0)
		s = strndup(d, n);
	BIO_free(b);
	return s;
}

static int
entry_reason(const X509_REVOKED *r)
{
	ASN1_ENUMERATED	*e;
	int		 crit;
	long		 v;

	if ((e = X509_REVOKED_get_ext_d2i(r, NID_crl_reason, &crit, NULL)) ==
	    NULL)
		return -1;
	v = ASN1_ENUMERATED_get(e);
	ASN1_ENUMERATED_free(e);
	return v >= 0 && v < CLI_NREASONS ? (int)v : -1;
}

struct crl_check {
	int		 valid;
	char		 why[200];
};

/*
 * Valid when a certificate of cas named as the CRL's issuer, allowed to
 * sign CRLs and not expired, verifies its signature, and nextUpdate is to
 * come (step's rules).
 */
static void
crl_verify(X509_CRL *crl, STACK_OF(X509) *cas, struct crl_check *ck)
{
	const ASN1_TIME	*nu = X509_CRL_get0_nextUpdate(crl);
	X509		*ca;
	int		 i, named = 0;

	ck->valid = 0;
	snprintf(ck->why, sizeof(ck->why), "no issuer certificate to check "
	    "it with");
	for (i = 0; i < sk_X509_num(cas); i++) {
		ca = sk_X509_value(cas, i);
		if (X509_NAME_cmp(X509_get_subject_name(ca),
		    X509_CRL_get_issuer(crl)) != 0)
			continue;
		named = 1;
		if ((X509_get_key_usage(ca) & KU_CRL_SIGN) == 0) {
			snprintf(ck->why, sizeof(ck->why), "the issuer "
			    "certificate may not sign CRLs");
			continue;
		}
		if (X509_CRL_verify(crl, X509_get0_pubkey(ca)) != 1) {
			snprintf(ck->why, sizeof(ck->why), "Signature does not "
			    "match");
			continue;
		}
		if (X509_cmp_current_time(X509_get0_notAfter(ca)) <= 0) {
			snprintf(ck->why, sizeof(ck->why), "CA certificate has "
			    "expired");
			continue;
		}
		if (nu == NULL || X509_cmp_current_time(nu) <= 0) {
			snprintf(ck->why, sizeof(ck->why), "CRL has expired");
			continue;
		}
		ck->valid = 1;
		ck->why[0] = '\0';
		break;
	}
	if (!named && sk_X509_num(cas) > 0)
		snprintf(ck->why, sizeof(ck->why), "no issuer certificate named "
		    "as the CRL's issuer");
	ERR_clear_error();
}

static cJSON *
crl_json(X509_CRL *crl, const struct crl_check *ck)
{
	STACK_OF(X509_REVOKED) *rs = X509_CRL_get_REVOKED(crl);
	const ASN1_BIT_STRING *sig;
	const X509_ALGOR *alg;
	const X509_REVOKED *r;
	ASN1_INTEGER	*num;
	ASN1_OCTET_STRING *kid = NULL;
	AUTHORITY_KEYID	*aki;
	cJSON		*o, *arr, *e, *s;
	char		 t[64], *str, *b64;
	const char	*an;
	int		 i, rc;

	an = sigalg_name(X509_CRL_get_signature_nid(crl));
	if ((o = cJSON_CreateObject()) == NULL)
		return NULL;
	cJSON_AddNumberToObject(o, "version", X509_CRL_get_version(crl) + 1);
	cJSON_AddStringToObject(o, "signature_algorithm", an);
	cJSON_AddItemToObject(o, "issuer", dn_json(X509_CRL_get_issuer(crl)));
	if ((str = dn_text(X509_CRL_get_issuer(crl))) != NULL)
		cJSON_AddStringToObject(o, "issuer_dn", str);
	free(str);
	fmt_time(X509_CRL_get0_lastUpdate(crl), 0, t, sizeof(t));
	cJSON_AddStringToObject(o, "this_update", t);
	fmt_time(X509_CRL_get0_nextUpdate(crl), 0, t, sizeof(t));
	cJSON_AddStringToObject(o, "next_update", t);
	if ((num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL)) !=
	    NULL) {
		if ((str = bn_str(num, 0)) != NULL)
			cJSON_AddStringToObject(o, "crl_number", str);
		OPENSSL_free(str);
		ASN1_INTEGER_free(num);
	}
	if ((aki = X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier,
	    NULL, NULL)) != NULL) {
		kid = aki->keyid;
		if (kid != NULL && (str = OPENSSL_buf2hexstr(kid->data,
		    kid->length)) != NULL) {
			cJSON_AddStringToObject(o, "authority_key_id", str);
			OPENSSL_free(str);
		}
		AUTHORITY_KEYID_free(aki);
	}
	arr = cJSON_AddArrayToObject(o, "revoked_certificates");
	for (i = 0; arr && i < sk_X509_REVOKED_num(rs); i++) {
		r = sk_X509_REVOKED_value(rs, i);
		if ((e = cJSON_CreateObject()) == NULL ||
		    !cJSON_AddItemToArray(arr, e)) {
			cJSON_Delete(e);
			break;
		}
		if ((str = bn_str(X509_REVOKED_get0_serialNumber(r), 0)) !=
		    NULL)
			cJSON_AddStringToObject(e, "serial_number", str);
		OPENSSL_free(str);
		fmt_time(X509_REVOKED_get0_revocationDate(r), 0, t, sizeof(t));
		cJSON_AddStringToObject(e, "revocation_time", t);
		if ((rc = entry_reason(r)) >= 0) {
			cJSON_AddNumberToObject(e, "reason_code", rc);
			cJSON_AddStringToObject(e, "reason",
			    cli_reason_names[rc]);
		}
	}
	X509_CRL_get0_signature(crl, &sig, &alg);
	s = cJSON_AddObjectToObject(o, "signature");
	cJSON_AddStringToObject(s, "signature_algorithm", an);
	if ((b64 = cli_b64_encode(sig->data, (size_t)sig->length)) != NULL) {
		cJSON_AddStringToObject(s, "value", b64);
		free(b64);
	}
	cJSON_AddBoolToObject(s, "valid", ck->valid);
	if (ck->why[0] != '\0')
		cJSON_AddStringToObject(s, "reason", ck->why);
	return o;
}

static void
crl_text(X509_CRL *crl, const struct crl_check *ck)
{
	STACK_OF(X509_REVOKED) *rs = X509_CRL_get_REVOKED(crl);
	const ASN1_BIT_STRING *sig;
	const X509_ALGOR *alg;
	const X509_REVOKED *r;
	ASN1_INTEGER	*num;
	char		 t[64], *str, *hex;
	const char	*an = sigalg_name(X509_CRL_get_signature_nid(crl));
	int		 i, rc;

	printf("Certificate Revocation List (CRL):\n    Data:\n");
	printf("        Valid: %s\n", ck->valid ? "true" : "false");
	if (ck->why[0] != '\0')
		printf("        Reason: %s\n", ck->why);
	printf("        Version: %ld (0x%lx)\n", X509_CRL_get_version(crl) + 1,
	    X509_CRL_get_version(crl));
	printf("    Signature algorithm: %s\n", an);
	str = dn_text(X509_CRL_get_issuer(crl));
	printf("        Issuer: %s\n", str ? str : "?");
	free(str);
	fmt_time(X509_CRL_get0_lastUpdate(crl), 1, t, sizeof(t));
	printf("        Last Update: %s\n", t);
	fmt_time(X509_CRL_get0_nextUpdate(crl), 1, t, sizeof(t));
	printf("        Next Update: %s\n", t);
	printf("        CRL Extensions:\n");
	if ((num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL)) !=
	    NULL) {
		str = bn_str(num, 0);
		printf("            X509v3 CRL Number:\n                %s\n",
		    str ? str : "?");
		OPENSSL_free(str);
		ASN1_INTEGER_free(num);
	}
	if (sk_X509_REVOKED_num(rs) <= 0)
		printf("        No Revoked Certificates.\n");
	else
		printf("        Revoked Certificates:\n");
	for (i = 0; i < sk_X509_REVOKED_num(rs); i++) {
		r = sk_X509_REVOKED_value(rs, i);
		str = bn_str(X509_REVOKED_get0_serialNumber(r), 0);
		hex = bn_str(X509_REVOKED_get0_serialNumber(r), 1);
		printf("            Serial Number: %s (0x%s)\n", str ? str : "?",
		    hex ? hex : "?");
		OPENSSL_free(str);
		OPENSSL_free(hex);
		fmt_time(X509_REVOKED_get0_revocationDate(r), 1, t, sizeof(t));
		printf("                Revocation Date: %s\n", t);
		if ((rc = entry_reason(r)) >= 0)
			printf("                Reason: %s (%d)\n",
			    cli_reason_names[rc], rc);
	}
	X509_CRL_get0_signature(crl, &sig, &alg);
	printf("    Signature Algorithm: %s\n", an);
	for (i = 0; i < sig->length; i++)
		printf("%s%02x%s", i % 16 == 0 ? "        " : "", sig->data[i],
		    i == sig->length - 1 ? "\n" : i % 16 == 15 ? ":\n" : ":");
}

/* A CRL from DER or PEM bytes. */
static X509_CRL *
crl_parse(const char *what, const unsigned char *data, size_t n)
{
	const unsigned char	*p = data;
	X509_CRL		*crl = NULL;
	BIO			*b;

	if (n > 0 && memmem(data, n, "-----BEGIN X509 CRL-----", 24) != NULL) {
		if ((b = BIO_new_mem_buf(data, (int)n)) != NULL)
			crl = PEM_read_bio_X509_CRL(b, NULL, NULL, NULL);
		BIO_free(b);
	} else if (n > 0 && n < (size_t)1 << 30 &&
	    (crl = d2i_X509_CRL(NULL, &p, (long)n)) != NULL &&
	    p != data + n) {
		X509_CRL_free(crl);	/* something after it */
		crl = NULL;
	}
	if (crl == NULL)
		cli_err("%s: not a CRL (DER or PEM)", what);
	ERR_clear_error();
	return crl;
}

/* GET url (http:// or https:// verified with root): its body. */
static char *
fetch(const char *url, const char *root, size_t *n)
{
	struct cli_req	 q = { .method = "GET", .plain_ok = 1 };
	const char	*h, *slash;
	char		 base[1024], *resp = NULL;
	int		 status;

	h = strstr(url, "://") + 3;
	slash = strchr(h, '/');
	if ((size_t)(slash ? slash - url : (ptrdiff_t)strlen(url)) >=
	    sizeof(base)) {
		cli_err("%s: URL too long", url);
		return NULL;
	}
	snprintf(base, sizeof(base), "%.*s", (int)(slash ? slash - url :
	    (ptrdiff_t)strlen(url)), url);
	q.path = slash ? slash : "/";
	q.accept = "application/pkix-crl";
	if (cli_http(base, root, &q, &status, &resp, n) == -1)
		return NULL;
	if (status != 200) {
		cli_err("%s answered HTTP %d, not a CRL", url, status);
		free(resp);
		return NULL;
	}
	return resp;
}

int
cmd_crl_inspect(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'F' },
		{ "ca", required_argument, NULL, 'c' },
		{ "issuer", required_argument, NULL, 'c' },
		{ "insecure", no_argument, NULL, 'I' },
		{ "root", required_argument, NULL, CLI_OPT_ROOT },
		{ "roots", required_argument, NULL, CLI_OPT_ROOT },
		{ "ca-url", required_argument, NULL, CLI_OPT_URL },
		{ "ca-config", required_argument, NULL, CLI_OPT_CONFIG },
		{ "home", required_argument, NULL, CLI_OPT_HOME },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_where w;
	struct crl_check ck = { 0 };
	const char	*format = "text", *issuer = NULL, *src = NULL;
	char		 url[600], *data = NULL, *out = NULL;
	size_t		 n = 0;
	cJSON		*j = NULL;
	X509_CRL	*crl = NULL;
	X509		*first = NULL;
	STACK_OF(X509)	*cas = NULL;
	BIO		*b = NULL;
	int		 ch, insecure = 0, dflt, rc = 1;

	memset(&w, 0, sizeof(w));
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (cli_where_opt(&w, ch, optarg))
			continue;
		switch (ch) {
		case 'F': format = optarg; break;
		case 'c': issuer = optarg; break;
		case 'I': insecure = 1; break;
		case 'h': fputs(crl_usage, stdout); return 0;
		default: fputs(crl_usage, stderr); return 2;
		}
	}
	if (optind < argc - 1 || (strcmp(format, "text") &&
	    strcmp(format, "json") && strcmp(format, "pem"))) {
		if (optind >= argc - 1)
			cli_err("--format %s: want text, json or pem", format);
		fputs(crl_usage, stderr);
		return 2;
	}
	src = optind == argc - 1 ? argv[optind] : NULL;
	if (src == NULL) {
		if (cli_where_load(&w, 0) == -1)
			goto out;
		snprintf(url, sizeof(url), "%s/1.0/crl", w.url);
		src = url;
	}
	if (strncmp(src, "https://", 8) == 0) {
		if (w.root == NULL && cli_where_load(&w, 0) == -1)
			goto out;
		data = fetch(src, w.root, &n);
	} else if (strncmp(src, "http://", 7) == 0)
		data = fetch(src, NULL, &n);
	else if ((data = cli_read_file(strcmp(src, "-") == 0 ? "/dev/stdin" :
	    src, &n)) == NULL)
		cli_err("%s: %s", src, strerror(errno));
	if (data == NULL || (crl = crl_parse(src, (unsigned char *)data,
	    n)) == NULL)
		goto out;
	/* The issuer: every certificate of the file. */
	if ((dflt = issuer == NULL))
		issuer = cli_path(cli_home(w.home), "certs/intermediate_ca.crt");
	if (read_certs(issuer, &first, &cas) == 0) {
		if (!sk_X509_unshift(cas, first)) {
			X509_free(first);
			cli_err("out of memory");
			goto out;
		}
		first = NULL;
		crl_verify(crl, cas, &ck);
	} else if (!insecure) {
		if (dflt)
			cli_err("name the CRL's issuer with --ca FILE, or skip "
			    "the check with --insecure");
		goto out;
	} else
		snprintf(ck.why, sizeof(ck.why), "not checked: no issuer "
		    "certificate");
	if (strcmp(format, "json") == 0) {
		if ((j = crl_json(crl, &ck)) == NULL ||
		    (out = cJSON_Print(j)) == NULL) {
			cli_err("out of memory");
			goto out;
		}
		printf("%s\n", out);
	} else if (strcmp(format, "pem") == 0) {
		if ((b = BIO_new_fp(stdout, BIO_NOCLOSE)) == NULL ||
		    PEM_write_bio_X509_CRL(b, crl) != 1) {
			cli_err("cannot write the CRL");
			goto out;
		}
	} else
		crl_text(crl, &ck);
	if (fflush(stdout) == EOF) {
		cli_err("stdout: %s", strerror(errno));
		goto out;
	}
	if (!ck.valid && !insecure) {
		cli_err("the CRL is not valid: %s (checked with %s)", ck.why,
		    issuer);
		goto out;
	}
	rc = 0;
out:
	ERR_clear_error();
	BIO_free(b);
	cJSON_Delete(j);
	free(out);
	free(data);
	X509_CRL_free(crl);
	certs_free(first, cas);
	cli_where_free(&w);
	return rc;
}

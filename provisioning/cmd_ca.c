/*
 * cmd_ca.c — p11ca ca token | certificate | health | root, and p11ca
 * certificate fingerprint: the client side of the CA, with the flags of
 * `step ca token` that apply to JWK provisioners.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "appliance/config.h"
#include "hsm/proto.h"
#include "policy/jose.h"
#include "policy/provisioner.h"
#include "provisioning/cli.h"

#define MAX_SANS	64
/* ca.json is always read, and --ca-url taken as it is given. */
#define CA_WHERE	CLI_WHERE_CONFIG

static const char token_usage[] =
"usage: p11ca ca token SUBJECT [--san NAME]... [options]\n"
"\n"
"Prints a one-time token (a JWS signed by a JWK provisioner's key) that\n"
"lets the holder obtain one certificate for SUBJECT, as `step ca token`.\n"
"The token's sans are the --san names, or SUBJECT alone.\n"
"\n"
"  --kid KID                 provisioner by key id\n"
"  --issuer, --provisioner NAME   provisioner by name (default: the only\n"
"                            JWK provisioner)\n"
"  --not-before T, --not-after T  token validity: RFC 3339 or a duration\n"
"                            (default now .. 5m)\n"
"  --cert-not-before T, --cert-not-after T  certificate validity (SSH)\n"
"  --password-file FILE, --provisioner-password-file FILE\n"
"                            the provisioner key's password (default the\n"
"                            home's secrets/password)\n"
"  --key FILE                sign with this private JWK instead\n"
"  --output-file FILE        write the token there (0600), not stdout\n"
"  --revoke | --renew | --rekey | --ssh   audience of the token\n"
"  --host, --principal NAME  SSH host certificate; principals (repeatable)\n"
"  --cnf FINGERPRINT, --cnf-file CSR   bind the token to one CSR\n"
"  --ca-url URL              the CA (default https://{dnsNames[0]}:{port})\n"
"  --root FILE               root certificate (default from ca.json)\n"
"  --ca-config FILE          ca.json (default $P11CA_HOME/config/ca.json)\n"
"  --offline                 accepted: tokens are always made locally\n"
"  -f, --force               overwrite --output-file\n"
"  --home DIR                state directory\n";

static int
root_fingerprint(const char *path, char hex[65])
{
	FILE		*fp;
	X509		*x = NULL;
	unsigned char	 md[32];
	unsigned int	 n;

	if ((fp = fopen(path, "r")) != NULL) {
		x = PEM_read_X509(fp, NULL, NULL, NULL);
		fclose(fp);
	}
	if (x == NULL || X509_digest(x, EVP_sha256(), md, &n) != 1) {
		X509_free(x);
		return -1;
	}
	hex_lower(hex, md, sizeof(md));
	X509_free(x);
	return 0;
}

/* The provisioner and its private key, decrypted with the password. */
static EVP_PKEY *
provisioner_key(struct cli_where *c, const char *kid, const char *issuer,
    const char *pwfile, const char *keyfile, char *name, size_t namesz,
    char *kidout, size_t kidsz)
{
	const cJSON	*p, *k, *ek, *n, *t, *found = NULL;
	EVP_PKEY	*pk = NULL;
	cJSON		*jwk;
	char		*pw;
	size_t		 pwlen;
	int		 rc;

	cJSON_ArrayForEach(p, c->cfg.provisioners) {
		t = cJSON_GetObjectItemCaseSensitive(p, "type");
		n = cJSON_GetObjectItemCaseSensitive(p, "name");
		k = cJSON_GetObjectItemCaseSensitive(p, "key");
		if (!cJSON_IsString(t) || strcasecmp(t->valuestring, "JWK") ||
		    !cJSON_IsString(n) || k == NULL)
			continue;
		if (issuer && strcmp(n->valuestring, issuer) != 0)
			continue;
		if (kid && (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(k,
		    "kid")) || strcmp(cJSON_GetObjectItemCaseSensitive(k,
		    "kid")->valuestring, kid) != 0))
			continue;
		if (found && !kid && !issuer) {
			cli_err("several JWK provisioners: pick one with "
			    "--issuer or --kid");
			return NULL;
		}
		found = p;
	}
	if (found == NULL) {
		cli_err("no such JWK provisioner in %s", c->config);
		return NULL;
	}
	n = cJSON_GetObjectItemCaseSensitive(found, "name");
	k = cJSON_GetObjectItemCaseSensitive(found, "key");
	snprintf(name, namesz, "%s", n->valuestring);
	snprintf(kidout, kidsz, "%s", cJSON_IsString(
	    cJSON_GetObjectItemCaseSensitive(k, "kid")) ?
	    cJSON_GetObjectItemCaseSensitive(k, "kid")->valuestring : "");
	if (keyfile) {
		if ((pw = cli_read_file(keyfile, &pwlen)) == NULL ||
		    (jwk = cJSON_ParseWithLength(pw, pwlen)) == NULL) {
			cli_err("%s: not a JWK", keyfile);
			jose_free_secret(pw, pw ? pwlen : 0);
			return NULL;
		}
		jose_free_secret(pw, pwlen);
		pk = jose_jwk_to_pkey(jwk, JOSE_JWK_PRIVATE);
		jose_jwk_free(jwk);
		if (pk == NULL)
			cli_err("%s: not a private JWK", keyfile);
		return pk;
	}
	ek = cJSON_GetObjectItemCaseSensitive(found, "encryptedKey");
	if (!cJSON_IsString(ek)) {
		cli_err("provisioner '%s' has no encryptedKey: use --key", name);
		return NULL;
	}
	if (pwfile == NULL)
		pwfile = cli_path(cli_home(c->home), "secrets/password");
	if ((pw = cli_slurp(pwfile, &pwlen)) == NULL)
		return NULL;
	pw[strcspn(pw, "\r\n")] = '\0';
	rc = jose_jwe_decrypt_key(ek->valuestring, pw, strlen(pw), 0, &pk);
	jose_free_secret(pw, pwlen);
	if (rc != JOSE_OK) {
		cli_err("cannot decrypt provisioner '%s' key: %s", name,
		    jose_strerror(rc));
		return NULL;
	}
	return pk;
}

struct tokreq {
	const char	*subject, *kid, *issuer, *pwfile, *keyfile, *out;
	const char	*nbf, *exp, *cert_nbf, *cert_exp, *cnf, *cnf_file;
	const char	*sans[MAX_SANS], *principals[MAX_SANS];
	int		 nsans, nprincipals, ssh, host, force;
	const char	*aud;		/* "sign", "revoke", ... */
};

/* The token itself; also used by `p11ca ca certificate`. */
static char *
mint(struct cli_where *c, const struct tokreq *r)
{
	char		 name[256], kid[64], fp[65], aud[600], *tok;
	char		*b64;
	unsigned char	 md[32], *csr;
	cJSON		*claims = NULL, *hdr = NULL, *sans, *step, *ssh, *pr;
	EVP_PKEY	*pk;
	time_t		 now = time(NULL), nbf = now, exp = now + 300;
	size_t		 n;
	int		 i;

	if ((r->nbf && time_or_duration(r->nbf, now, &nbf) == -1) ||
	    (r->exp && time_or_duration(r->exp, now, &exp) == -1)) {
		cli_err("--not-before/--not-after: want RFC 3339 or a duration");
		return NULL;
	}
	if (root_fingerprint(c->root, fp) == -1) {
		cli_err("%s: not a PEM certificate", c->root);
		return NULL;
	}
	if ((pk = provisioner_key(c, r->kid, r->issuer, r->pwfile, r->keyfile,
	    name, sizeof(name), kid, sizeof(kid))) == NULL)
		return NULL;
	snprintf(aud, sizeof(aud), "%s/1.0/%s", c->url, r->aud);
	if ((claims = cli_claims(aud, name, r->subject, now, nbf, exp)) ==
	    NULL)
		goto bad;
	if (strcmp(r->aud, "revoke") != 0) {
		sans = cJSON_AddArrayToObject(claims, "sans");
		for (i = 0; i < r->nsans; i++)
			cJSON_AddItemToArray(sans, cJSON_CreateString(r->sans[i]));
		if (r->nsans == 0 && !r->ssh)
			cJSON_AddItemToArray(sans, cJSON_CreateString(r->subject));
	}
	cJSON_AddStringToObject(claims, "sha", fp);
	if (r->cnf || r->cnf_file) {
		if (r->cnf_file) {
			if ((csr = (unsigned char *)cli_read_file(r->cnf_file,
			    &n)) == NULL || EVP_Digest(csr, n, md, NULL,
			    EVP_sha256(), NULL) != 1) {
				free(csr);
				cli_err("--cnf-file %s: cannot read", r->cnf_file);
				goto bad;
			}
			free(csr);
			b64 = jose_b64url_encode(md, 32);
		} else
			b64 = strdup(r->cnf);
		cJSON_AddItemToObject(claims, "cnf", pr = cJSON_CreateObject());
		cJSON_AddStringToObject(pr, "x5rt#S256", b64 ? b64 : "");
		free(b64);
	}
	if (r->ssh) {
		step = cJSON_AddObjectToObject(claims, "step");
		ssh = cJSON_AddObjectToObject(step, "ssh");
		cJSON_AddStringToObject(ssh, "certType", r->host ? "host" :
		    "user");
		cJSON_AddStringToObject(ssh, "keyID", r->subject);
		pr = cJSON_AddArrayToObject(ssh, "principals");
		for (i = 0; i < r->nprincipals; i++)
			cJSON_AddItemToArray(pr,
			    cJSON_CreateString(r->principals[i]));
		if (r->nprincipals == 0)
			cJSON_AddItemToArray(pr, cJSON_CreateString(r->subject));
		cJSON_AddStringToObject(ssh, "validAfter", r->cert_nbf ?
		    r->cert_nbf : "");
		cJSON_AddStringToObject(ssh, "validBefore", r->cert_exp ?
		    r->cert_exp : "");
	}
	hdr = cJSON_CreateObject();
	cJSON_AddStringToObject(hdr, "kid", kid);
	cJSON_AddStringToObject(hdr, "typ", "JWT");
	b64 = cJSON_PrintUnformatted(claims);
	tok = b64 ? jose_jws_sign(pk, NULL, hdr, b64, strlen(b64)) : NULL;
	free(b64);
	cJSON_Delete(claims);
	cJSON_Delete(hdr);
	EVP_PKEY_free(pk);
	if (tok == NULL)
		cli_err("cannot sign the token");
	return tok;
bad:
	cJSON_Delete(claims);
	EVP_PKEY_free(pk);
	return NULL;
}

/* mint() for other commands (cli.h): `p11ca ca revoke` makes its token. */
char *
cli_mint_token(const struct cli_tokreq *q)
{
	struct tokreq	*r;
	struct cli_where *c;
	char		*tok = NULL;

	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (c = calloc(1, sizeof(*c))) == NULL) {
		free(r);
		cli_err("out of memory");
		return NULL;
	}
	c->home = q->home;
	c->config = q->config;
	c->url = q->url;
	c->root = q->root;
	r->subject = q->subject;
	r->aud = q->aud;
	r->issuer = q->issuer;
	r->kid = q->kid;
	r->pwfile = q->pwfile;
	r->keyfile = q->keyfile;
	r->ssh = q->ssh;
	r->host = q->host;
	r->cert_nbf = q->cert_nbf;
	r->cert_exp = q->cert_exp;
	if (q->nprincipals < 0 || q->nprincipals > MAX_SANS) {
		cli_err("too many principals (at most %d)", MAX_SANS);
		free(c);
		free(r);
		return NULL;
	}
	for (r->nprincipals = 0; r->nprincipals < q->nprincipals;
	    r->nprincipals++)
		r->principals[r->nprincipals] = q->principals[r->nprincipals];
	if (cli_where_load(c, CA_WHERE) == 0)
		tok = mint(c, r);
	cli_where_free(c);
	free(c);
	free(r);
	return tok;
}

static int
write_out(const char *path, const char *data, int mode, int force)
{
	if (cli_may_write(path, force) == -1)
		return -1;
	if (cli_write_file(path, data, strlen(data), mode) == -1) {
		cli_err("%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int
cmd_ca_token(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "san", required_argument, NULL, 's' },
		{ "kid", required_argument, NULL, 'k' },
		{ "issuer", required_argument, NULL, 'i' },
		{ "provisioner", required_argument, NULL, 'i' },
		{ "not-before", required_argument, NULL, 'b' },
		{ "not-after", required_argument, NULL, 'a' },
		{ "cert-not-before", required_argument, NULL, 'B' },
		{ "cert-not-after", required_argument, NULL, 'A' },
		{ "password-file", required_argument, NULL, 'p' },
		{ "provisioner-password-file", required_argument, NULL, 'p' },
		{ "output-file", required_argument, NULL, 'o' },
		{ "key", required_argument, NULL, 'K' },
		{ "offline", no_argument, NULL, 'O' },
		{ "revoke", no_argument, NULL, 'r' },
		{ "renew", no_argument, NULL, 'N' },
		{ "rekey", no_argument, NULL, 'y' },
		{ "ssh", no_argument, NULL, 'S' },
		{ "host", no_argument, NULL, 'H' },
		{ "principal", required_argument, NULL, 'P' },
		{ "cnf", required_argument, NULL, 'c' },
		{ "cnf-file", required_argument, NULL, 'C' },
		CLI_WHERE_OPTIONS,
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct tokreq r;
	static struct cli_where c;
	char	*tok;
	int	 ch, rc;

	r.aud = "sign";
	while ((ch = getopt_long(argc, argv, "fn:h", opts, NULL)) != -1) {
		if (cli_where_opt(&c, ch, optarg))
			continue;
		switch (ch) {
		case 's':
			if (r.nsans == MAX_SANS)
				return 2;
			r.sans[r.nsans++] = optarg;
			break;
		case 'P':
		case 'n':	/* step's -n, short for --principal */
			if (r.nprincipals == MAX_SANS)
				return 2;
			r.principals[r.nprincipals++] = optarg;
			break;
		case 'k': r.kid = optarg; break;
		case 'i': r.issuer = optarg; break;
		case 'b': r.nbf = optarg; break;
		case 'a': r.exp = optarg; break;
		case 'B': r.cert_nbf = optarg; break;
		case 'A': r.cert_exp = optarg; break;
		case 'p': r.pwfile = optarg; break;
		case 'o': r.out = optarg; break;
		case 'K': r.keyfile = optarg; break;
		case 'O': break;
		case 'r': r.aud = "revoke"; break;
		case 'N': r.aud = "renew"; break;
		case 'y': r.aud = "rekey"; break;
		case 'S': r.ssh = 1; break;
		case 'H': r.host = 1; break;
		case 'c': r.cnf = optarg; break;
		case 'C': r.cnf_file = optarg; break;
		case 'f': r.force = 1; break;
		case 'h': fputs(token_usage, stdout); return 0;
		default: fputs(token_usage, stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		fputs(token_usage, stderr);
		return 2;
	}
	r.subject = argv[optind];
	if (r.ssh)
		r.aud = strcmp(r.aud, "sign") == 0 ? "ssh/sign" :
		    strcmp(r.aud, "revoke") == 0 ? "ssh/revoke" :
		    strcmp(r.aud, "renew") == 0 ? "ssh/renew" : "ssh/rekey";
	if (cli_where_load(&c, CA_WHERE) == -1 || (tok = mint(&c, &r)) == NULL)
		return 1;
	if (r.out) {
		rc = write_out(r.out, tok, 0600, r.force) == -1;
	} else
		rc = printf("%s\n", tok) < 0;
	free(tok);
	cli_where_free(&c);
	return rc;
}

static const char cert_usage[] =
"usage: p11ca ca certificate SUBJECT CRT KEY [--san NAME]... [options]\n"
"\n"
"Makes a key and a certificate request for SUBJECT, gets a one-time token\n"
"from the provisioner, has the CA sign it (POST /1.0/sign), and writes the\n"
"certificate chain (leaf, then intermediate) to CRT and the key to KEY\n"
"(PEM, 0600).\n"
"\n"
"  --san NAME            subject alternative name (repeatable; default\n"
"                        SUBJECT)\n"
"  --kty EC|RSA|OKP      key type (default EC), --curve P-256|P-384,\n"
"                        --size BITS for RSA (default 2048)\n"
"  --not-before T, --not-after T  certificate validity (RFC 3339 or a\n"
"                        duration; default the provisioner's)\n"
"  --issuer, --provisioner NAME, --kid KID, --password-file FILE,\n"
"  --provisioner-password-file FILE, --ca-url URL, --root FILE,\n"
"  --ca-config FILE, --home DIR   as for `p11ca ca token`\n"
"  -f, --force           overwrite CRT and KEY\n";

static char *
make_csr(EVP_PKEY *k, const char *subject, const char *const *sans, int n)
{
	X509_REQ	*req = X509_REQ_new();
	X509_NAME	*nm = X509_NAME_new();
	GENERAL_NAMES	*gens = sk_GENERAL_NAME_new_null();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_EXTENSION	*ext = NULL;
	GENERAL_NAME	*g;
	char		*pem = NULL;
	int		 i, ok = req && nm && gens && exts;

	ok = ok && X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_UTF8,
	    (const unsigned char *)subject, -1, -1, 0) &&
	    X509_REQ_set_subject_name(req, nm) && X509_REQ_set_pubkey(req, k);
	for (i = 0; ok && i < n; i++) {
		ok = (g = a2i_GENERAL_NAME(NULL, NULL, NULL,
		    strchr(sans[i], '@') ? GEN_EMAIL : strspn(sans[i],
		    "0123456789.:abcdefABCDEF") == strlen(sans[i]) &&
		    (strchr(sans[i], '.') || strchr(sans[i], ':')) &&
		    strspn(sans[i], "0123456789.:") == strlen(sans[i]) ?
		    GEN_IPADD : GEN_DNS, sans[i], 0)) != NULL &&
		    sk_GENERAL_NAME_push(gens, g);
	}
	ok = ok && (ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens)) &&
	    sk_X509_EXTENSION_push(exts, ext) &&
	    X509_REQ_add_extensions(req, exts) &&
	    (pem = cli_req_pem(req, k)) != NULL;
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	GENERAL_NAMES_free(gens);
	X509_NAME_free(nm);
	X509_REQ_free(req);
	return ok ? pem : NULL;
}

int
cmd_ca_certificate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "san", required_argument, NULL, 's' },
		{ "kty", required_argument, NULL, 't' },
		{ "curve", required_argument, NULL, 'v' },
		{ "size", required_argument, NULL, 'z' },
		{ "not-before", required_argument, NULL, 'b' },
		{ "not-after", required_argument, NULL, 'a' },
		{ "kid", required_argument, NULL, 'k' },
		{ "issuer", required_argument, NULL, 'i' },
		{ "provisioner", required_argument, NULL, 'i' },
		{ "password-file", required_argument, NULL, 'p' },
		{ "provisioner-password-file", required_argument, NULL, 'p' },
		CLI_WHERE_OPTIONS,
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct tokreq r;
	static struct cli_where c;
	const char	*kty = "EC", *curve = "P-256", *nbf = NULL, *naf = NULL;
	const char	*crt, *keypath;
	char		*tok = NULL, *csr = NULL, *resp = NULL, *body = NULL;
	char		*chain = NULL;
	cJSON		*req = NULL, *ans = NULL, *arr, *it;
	EVP_PKEY	*k = NULL;
	BIO		*b = NULL;
	char		*kp;
	long		 kl;
	int		 ch, bits = 2048, status, rc = 1;
	size_t		 n;

	r.aud = "sign";
	while ((ch = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		if (cli_where_opt(&c, ch, optarg))
			continue;
		switch (ch) {
		case 's':
			if (r.nsans == MAX_SANS)
				return 2;
			r.sans[r.nsans++] = optarg;
			break;
		case 't': kty = optarg; break;
		case 'v': curve = optarg; break;
		case 'z': bits = atoi(optarg); break;
		case 'b': nbf = optarg; break;
		case 'a': naf = optarg; break;
		case 'k': r.kid = optarg; break;
		case 'i': r.issuer = optarg; break;
		case 'p': r.pwfile = optarg; break;
		case 'f': r.force = 1; break;
		case 'h': fputs(cert_usage, stdout); return 0;
		default: fputs(cert_usage, stderr); return 2;
		}
	}
	if (optind != argc - 3) {
		fputs(cert_usage, stderr);
		return 2;
	}
	r.subject = argv[optind];
	crt = argv[optind + 1];
	keypath = argv[optind + 2];
	if (r.nsans == 0)
		r.sans[r.nsans++] = r.subject;
	if (cli_where_load(&c, CA_WHERE) == -1 || (tok = mint(&c, &r)) == NULL)
		goto out;
	if ((k = cli_make_key(kty, curve, bits)) == NULL ||
	    (csr = make_csr(k, r.subject, r.sans, r.nsans)) == NULL) {
		cli_err("cannot make a %s key and request", kty);
		goto out;
	}
	req = cJSON_CreateObject();
	cJSON_AddStringToObject(req, "csr", csr);
	cJSON_AddStringToObject(req, "ott", tok);
	if (nbf)
		cJSON_AddStringToObject(req, "notBefore", nbf);
	if (naf)
		cJSON_AddStringToObject(req, "notAfter", naf);
	if ((body = cJSON_PrintUnformatted(req)) == NULL ||
	    cli_https(c.url, c.root, "POST", "/1.0/sign", body, &status,
	    &resp) == -1)
		goto out;
	ans = cJSON_Parse(resp);
	if (status != 201 || ans == NULL ||
	    (arr = cJSON_GetObjectItemCaseSensitive(ans, "certChain")) == NULL) {
		it = ans ? cJSON_GetObjectItemCaseSensitive(ans, "message") : NULL;
		cli_err("the CA answered %d: %s", status, cJSON_IsString(it) ?
		    it->valuestring : resp);
		goto out;
	}
	n = 0;
	cJSON_ArrayForEach(it, arr)
		if (cJSON_IsString(it))
			n += strlen(it->valuestring);
	if ((chain = calloc(1, n + 1)) == NULL)
		goto out;
	cJSON_ArrayForEach(it, arr)
		if (cJSON_IsString(it))
			strcat(chain, it->valuestring);
	if ((b = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (kl = BIO_get_mem_data(b, &kp)) <= 0 ||
	    (kp = strndup(kp, kl)) == NULL)
		goto out;
	rc = write_out(keypath, kp, 0600, r.force) == -1 ||
	    write_out(crt, chain, 0644, r.force) == -1;
	OPENSSL_cleanse(kp, kl);
	free(kp);
	if (rc == 0)
		printf("Your certificate has been saved in %s.\n"
		    "Your private key has been saved in %s.\n", crt, keypath);
out:
	BIO_free(b);
	EVP_PKEY_free(k);
	cJSON_Delete(req);
	cJSON_Delete(ans);
	free(tok);
	free(csr);
	free(body);
	free(resp);
	free(chain);
	cli_where_free(&c);
	return rc;
}

static const char health_usage[] =
"usage: p11ca ca health [--ca-url URL] [--root FILE] [--home DIR]\n"
"\n"
"Asks the CA for GET /health over TLS verified with the root; prints ok\n"
"and exits 0 when it answers {\"status\":\"ok\"}.\n";

static const char root_usage[] =
"usage: p11ca ca root FILE [--fingerprint SHA256] [--ca-url URL]\n"
"                           [--root FILE] [--home DIR] [-f]\n"
"\n"
"Downloads the CA's root certificate (GET /root/{fingerprint}) to FILE.\n"
"The fingerprint defaults to that of the configured root; the answer is\n"
"checked against it before it is written.\n";

static int
simple_get(int argc, char **argv, int is_root)
{
	static const struct option opts[] = {
		CLI_WHERE_OPTIONS,
		{ "fingerprint", required_argument, NULL, 'F' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct cli_where c;
	const char	*usage = is_root ? root_usage : health_usage;
	const char	*want = NULL;
	char		 fp[65], got[65], path[128], tmpf[] = "/tmp/p11ca.XXXXXX";
	char		*resp = NULL;
	cJSON		*o = NULL, *v;
	int		 ch, status, force = 0, rc = 1, fd;

	while ((ch = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		if (cli_where_opt(&c, ch, optarg))
			continue;
		switch (ch) {
		case 'F': want = optarg; break;
		case 'f': force = 1; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind != argc - is_root) {
		fputs(usage, stderr);
		return 2;
	}
	if (cli_where_load(&c, CA_WHERE) == -1)
		return 1;
	if (is_root) {
		if (want == NULL && root_fingerprint(c.root, fp) == 0)
			want = fp;
		if (want == NULL) {
			cli_err("no fingerprint: use --fingerprint");
			goto out;
		}
		snprintf(path, sizeof(path), "/1.0/root/%s", want);
	}
	if (cli_https(c.url, c.root, "GET", is_root ? path : "/1.0/health",
	    NULL, &status, &resp) == -1)
		goto out;
	o = cJSON_Parse(resp);
	v = o ? cJSON_GetObjectItemCaseSensitive(o, is_root ? "ca" :
	    "status") : NULL;
	if (status != 200 || !cJSON_IsString(v)) {
		cli_err("the CA answered %d: %s", status, resp);
		goto out;
	}
	if (!is_root) {
		printf("%s\n", v->valuestring);
		rc = strcmp(v->valuestring, "ok") != 0;
		goto out;
	}
	/* Check what came back is the root we asked for. */
	if ((fd = mkstemp(tmpf)) == -1 || write(fd, v->valuestring,
	    strlen(v->valuestring)) != (ssize_t)strlen(v->valuestring) ||
	    close(fd) == -1 || root_fingerprint(tmpf, got) == -1 ||
	    strcasecmp(got, want) != 0) {
		unlink(tmpf);
		cli_err("the CA sent a root whose fingerprint is not %s", want);
		goto out;
	}
	unlink(tmpf);
	rc = write_out(argv[optind], v->valuestring, 0644, force) == -1;
	if (rc == 0)
		printf("The root certificate has been saved in %s.\n",
		    argv[optind]);
out:
	cJSON_Delete(o);
	free(resp);
	cli_where_free(&c);
	return rc;
}

int
cmd_ca_health(int argc, char **argv)
{
	return simple_get(argc, argv, 0);
}

int
cmd_ca_root(int argc, char **argv)
{
	return simple_get(argc, argv, 1);
}

static const char fp_usage[] =
"usage: p11ca certificate fingerprint FILE\n"
"\n"
"Prints the SHA-256 fingerprint (hex) of the first certificate in FILE.\n";

int
cmd_certificate_fingerprint(int argc, char **argv)
{
	char	 fp[65];

	if (argc == 2 && (strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0)) {
		fputs(fp_usage, stdout);
		return 0;
	}
	if (argc != 2) {
		fputs(fp_usage, stderr);
		return 2;
	}
	if (root_fingerprint(argv[1], fp) == -1) {
		cli_err("%s: not a PEM certificate", argv[1]);
		return 1;
	}
	printf("%s\n", fp);
	return 0;
}

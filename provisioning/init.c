/*
 * init.c — p11ca init: a new CA in a state directory laid out like step's.
 *
 * Keys are generated inside the token and never leave it. Both CA
 * certificates are signed through a signer started in ceremony mode, so
 * the ceremony passes the same guards and lands in the same audit chain as
 * every later signature. Files appear only once everything they describe
 * exists; on failure what this run created is removed again.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "hsm/client.h"
#include "hsm/p11.h"
#include "hsm/proto.h"
#include "policy/jose.h"
#include "policy/ssh.h"
#include "policy/tbs.h"
#include "provisioning/cli.h"

#define DEFAULT_MODULE	"/usr/lib/softhsm/libsofthsm2.so"
#define TEN_YEARS	(10 * 365 * 86400L + 2 * 86400L)

static const char usage[] =
"usage: p11ca init [--home DIR] [--create-token] [--ssh] [options]\n"
"\n"
"Creates a certificate authority: root and intermediate keys generated in\n"
"a PKCS#11 token (sensitive, never extractable), a self-signed root (10\n"
"years, CA:TRUE pathlen 1) and an intermediate (CA:TRUE pathlen 0), both\n"
"signed through p11ca-signer in ceremony mode and recorded in its audit\n"
"log, a JWK provisioner, config/signer.conf and a step-ca-shaped\n"
"config/ca.json. Refuses to touch a home that already has a ca.json.\n"
"With --ssh it also makes an SSH certificate authority (see below).\n"
"\n"
"  --home DIR            state directory (default $P11CA_HOME, ~/.p11ca)\n"
"  --create-token        lab: create a new SoftHSM2 token in DIR/tokens with\n"
"                        random PIN and SO PIN in DIR/secrets/\n"
"  --module PATH         PKCS#11 module (default " DEFAULT_MODULE ")\n"
"  --token-label LABEL   token to use or create (default p11ca)\n"
"  --pin-file FILE       the token's user PIN (without --create-token)\n"
"  --key-type TYPE       p256 (default), p384, rsa2048, rsa3072, rsa4096,\n"
"                        ed25519; for root and intermediate\n"
"  --name NAME           CA name: \"NAME Root CA\", \"NAME Intermediate CA\"\n"
"                        (default p11ca)\n"
"  --dns NAME            DNS name or IP of the CA, repeatable (default\n"
"                        127.0.0.1 and localhost)\n"
"  --address HOST:PORT   where p11ca-api listens (default 127.0.0.1:9000)\n"
"  --insecure-address HOST:PORT\n"
"                        also serve the CRL, OCSP and the intermediate over\n"
"                        plain HTTP there (relying parties fetch them before\n"
"                        they trust the root); issued certificates then name\n"
"                        http://HOST:PORT/crl, /ocsp and /intermediate.crt\n"
"                        as CRL distribution point and AIA (default: none)\n"
"  --provisioner NAME    first JWK provisioner (default admin)\n"
"  --password-file FILE  its key's password (default: random, written to\n"
"                        DIR/secrets/password)\n"
"  --allow-uid UID       another uid the signer serves, repeatable (the\n"
"                        front end's, when it runs as its own user)\n"
"  --ssh                 also generate two SSH CA keys in the token, labels\n"
"                        ssh-user (signs user certificates) and ssh-host\n"
"                        (host certificates); signer.conf names them with\n"
"                        role=ssh, so the signer uses them for OpenSSH\n"
"                        certificate bodies whose signature key they are\n"
"                        and for nothing else. Their public keys go to\n"
"                        DIR/certs/ssh_user_ca_key.pub and\n"
"                        ssh_host_ca_key.pub (for sshd's TrustedUserCAKeys\n"
"                        and known_hosts' @cert-authority); ca.json gets an\n"
"                        \"ssh\" section, signer.sshUserKey and sshHostKey,\n"
"                        enableSSHCA on the JWK provisioner and an SSHPOP\n"
"                        provisioner 'sshpop' (host certificate renewal)\n"
"  --ssh-key-type TYPE   the SSH CA keys' type: p256 (default), p384,\n"
"                        ed25519, rsa2048, rsa3072, rsa4096; needs --ssh\n"
"  --ocsp-responder      also generate a delegated OCSP responder key\n"
"                        'ocsp' (the intermediate's type) in the token,\n"
"                        role=ocsp: the signer lets it sign OCSP answers\n"
"                        and nothing else. p11ca-api then has the\n"
"                        intermediate issue it a week-long\n"
"                        id-kp-OCSPSigning certificate at start (renewed\n"
"                        with its TLS one) and answers OCSP with it\n"
"                        (ca.json ocsp.key)\n"
"\n"
"Environment: P11CA_SIGNER names the p11ca-signer binary (default: next\n"
"to this program).\n";

struct init {
	const char	*home;
	const char	*module;
	const char	*label;
	const char	*pinfile;
	const char	*name;
	const char	*address;
	const char	*insecure;
	const char	*prov;
	const char	*pwfile;
	const char	*dns[16];
	int		 ndns;
	long		 uids[8];
	int		 nuids;
	int		 create;
	int		 keyalg;
	int		 ssh;		/* --ssh */
	int		 sshalg;	/* --ssh-key-type; 0: not given */
	int		 ocsp;		/* --ocsp-responder */
	uint8_t		 ocsp_id[8];
	char		 pin[64];
	char		 password[256];
	char		 softhsm_conf[PATH_MAX];
	uint8_t		 root_id[8], int_id[8];
	uint8_t		 ssh_id[2][8];	/* SSH_USER, SSH_HOST */
	char		 ssh_fp[2][SSH_FP_SIZE];
	int		 token_created;
	const char	*created[16];
	int		 ncreated;
	pid_t		 signer;
};

/* The two SSH CA keys: token label = signer key name, and their files. */
enum { SSH_USER, SSH_HOST };
static const struct {
	const char	*label;
	const char	*what;		/* "user", "host" */
	const char	*pub;		/* under the home */
	const char	*uri_member;	/* ca.json ssh.* */
	const char	*pub_member;
	const char	*signer_member;	/* ca.json signer.* */
} sshkeys[2] = {
	[SSH_USER] = { "ssh-user", "user", "certs/ssh_user_ca_key.pub",
	    "userKey", "userPublicKey", "sshUserKey" },
	[SSH_HOST] = { "ssh-host", "host", "certs/ssh_host_ca_key.pub",
	    "hostKey", "hostPublicKey", "sshHostKey" },
};

static void
hexid(char *out, size_t outsz, const uint8_t *id, size_t n, const char *sep)
{
	size_t	 i, o = 0;

	for (i = 0; i < n && o + 4 < outsz; i++)
		o += snprintf(out + o, outsz - o, "%s%02x", sep, id[i]);
}

static int
put_file(struct init *in, const char *rel, const void *p, size_t n, int mode)
{
	const char	*path = cli_path(in->home, rel);

	if (cli_write_file(path, p, n, mode) == -1) {
		cli_err("%s: %s", path, strerror(errno));
		return -1;
	}
	if (in->ncreated < 16)
		in->created[in->ncreated++] = rel;
	return 0;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path) == -1 && errno != ENOENT ? -1 : 0;
}

static void
undo(struct init *in)
{
	char	 tokens[PATH_MAX];
	int	 i;

	for (i = 0; i < in->ncreated; i++)
		unlink(cli_path(in->home, in->created[i]));
	if (in->token_created) {
		/* The token was ours alone: take it and its keys away. */
		snprintf(tokens, sizeof(tokens), "%s",
		    cli_path(in->home, "tokens"));
		nftw(tokens, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	}
	unlink(cli_path(in->home, "run/ceremony.conf"));
	fprintf(stderr, "p11ca: init failed; what it had created was removed\n");
}

/* Token set-up: a fresh SoftHSM token for the lab, or an existing one. */
static int
token_setup(struct init *in)
{
	char	 so[64], buf[PATH_MAX + 128], err[512], *p;
	size_t	 n;

	if (!in->create) {
		if (in->pinfile == NULL) {
			cli_err("--pin-file is required without --create-token");
			return -1;
		}
		if ((p = cli_read_file(in->pinfile, &n)) == NULL) {
			cli_err("%s: %s", in->pinfile, strerror(errno));
			return -1;
		}
		p[strcspn(p, "\r\n")] = '\0';
		snprintf(in->pin, sizeof(in->pin), "%s", p);
		OPENSSL_cleanse(p, n);
		free(p);
		return put_file(in, "secrets/pin", in->pin, strlen(in->pin),
		    0600);
	}
	cli_step("creating SoftHSM2 token '%s' in %s", in->label,
	    cli_path(in->home, "tokens"));
	snprintf(in->softhsm_conf, sizeof(in->softhsm_conf), "%s",
	    cli_path(in->home, "config/softhsm2.conf"));
	n = snprintf(buf, sizeof(buf), "# SoftHSM2 token store of this CA "
	    "(written by p11ca init)\ndirectories.tokendir = %s\n"
	    "objectstore.backend = file\nlog.level = ERROR\n",
	    cli_path(in->home, "tokens"));
	if (put_file(in, "config/softhsm2.conf", buf, n, 0644) == -1 ||
	    setenv("SOFTHSM2_CONF", in->softhsm_conf, 1) == -1)
		return -1;
	if (cli_random_secret(in->pin, 20) == -1 ||
	    cli_random_secret(so, 20) == -1)
		return -1;
	if (put_file(in, "secrets/pin", in->pin, strlen(in->pin), 0600) == -1 ||
	    put_file(in, "secrets/so-pin", so, strlen(so), 0600) == -1)
		return -1;
	if (p11_init_token(in->module, in->label, so, in->pin, err,
	    sizeof(err)) == -1) {
		OPENSSL_cleanse(so, sizeof(so));
		cli_err("%s", err);
		return -1;
	}
	OPENSSL_cleanse(so, sizeof(so));
	in->token_created = 1;
	return 0;
}

/*
 * One SSH CA key: generated in the token, its public half (the SPKI the
 * token exports) written in OpenSSH's .pub form.
 */
static int
make_ssh_key(struct init *in, struct p11 *p, int which)
{
	const struct p11_key	*k;
	const unsigned char	*q;
	struct ssh_key		 sk = { 0 };
	struct pbuf		 txt;
	EVP_PKEY		*pk = NULL;
	char			 err[512], comment[300];
	int			 idx, rc = -1;

	pbuf_init(&txt);
	cli_step("generating %s SSH %s CA key '%s' in the token",
	    p11_keyalg_name(in->sshalg), sshkeys[which].what,
	    sshkeys[which].label);
	if (p11_generate(p, in->sshalg, sshkeys[which].label,
	    in->ssh_id[which], 8, err, sizeof(err)) == -1 ||
	    (idx = p11_key_add(p, sshkeys[which].label, in->ssh_id[which], 8,
	    err, sizeof(err))) == -1) {
		cli_err("%s", err);
		return -1;
	}
	k = p11_key_get(p, idx);
	q = k->spki;
	snprintf(comment, sizeof(comment), "%s SSH %s CA", in->name,
	    sshkeys[which].what);
	if ((pk = d2i_PUBKEY(NULL, &q, (long)k->spkilen)) == NULL) {
		cli_err("%s: cannot read the token's public key",
		    sshkeys[which].label);
		goto out;
	}
	if (ssh_key_from_pkey(pk, &sk, err, sizeof(err)) == -1) {
		cli_err("%s: no SSH form of the key: %s",
		    sshkeys[which].label, err);
		goto out;
	}
	if (ssh_fingerprint(sk.blob, sk.bloblen, in->ssh_fp[which]) == -1 ||
	    ssh_to_text(sk.blob, sk.bloblen, comment, &txt) == -1) {
		cli_err("%s: cannot write the key in OpenSSH form",
		    sshkeys[which].label);
		goto out;
	}
	rc = put_file(in, sshkeys[which].pub, txt.data, txt.len, 0644);
out:
	pbuf_free(&txt);
	ssh_key_free(&sk);
	EVP_PKEY_free(pk);
	return rc;
}

static int
make_keys(struct init *in, uint8_t **int_spki, size_t *int_spkilen)
{
	struct p11_token_sel	 sel = { in->module, in->label, NULL };
	const struct p11_key	*k;
	struct p11		*p;
	char			 err[512];
	int			 idx;

	if (RAND_bytes(in->root_id, 8) != 1 || RAND_bytes(in->int_id, 8) != 1 ||
	    RAND_bytes(in->ssh_id[SSH_USER], 8) != 1 ||
	    RAND_bytes(in->ssh_id[SSH_HOST], 8) != 1)
		return -1;
	if ((p = p11_open(&sel, in->pin, err, sizeof(err))) == NULL) {
		cli_err("%s", err);
		return -1;
	}
	cli_step("generating %s root key in the token",
	    p11_keyalg_name(in->keyalg));
	if (p11_generate(p, in->keyalg, "root", in->root_id, 8, err,
	    sizeof(err)) == -1)
		goto bad;
	cli_step("generating %s intermediate key in the token",
	    p11_keyalg_name(in->keyalg));
	if (p11_generate(p, in->keyalg, "intermediate", in->int_id, 8, err,
	    sizeof(err)) == -1 ||
	    (idx = p11_key_add(p, "intermediate", in->int_id, 8, err,
	    sizeof(err))) == -1)
		goto bad;
	k = p11_key_get(p, idx);
	if ((*int_spki = malloc(k->spkilen)) == NULL) {
		snprintf(err, sizeof(err), "out of memory");
		goto bad;
	}
	memcpy(*int_spki, k->spki, k->spkilen);
	*int_spkilen = k->spkilen;
	if (in->ocsp) {
		cli_step("generating %s OCSP responder key in the token",
		    p11_keyalg_name(in->keyalg));
		if (RAND_bytes(in->ocsp_id, 8) != 1 ||
		    p11_generate(p, in->keyalg, "ocsp", in->ocsp_id, 8, err,
		    sizeof(err)) == -1) {
			free(*int_spki);
			*int_spki = NULL;
			goto bad;
		}
	}
	if (in->ssh && (make_ssh_key(in, p, SSH_USER) == -1 ||
	    make_ssh_key(in, p, SSH_HOST) == -1)) {
		free(*int_spki);
		*int_spki = NULL;
		p11_close(p);
		return -1;
	}
	p11_close(p);
	return 0;
bad:
	cli_err("%s", err);
	p11_close(p);
	return -1;
}

static int
write_signer_conf(struct init *in, const char *rel, const char *sock,
    int with_intermediate, int with_root_cert)
{
	char	 buf[8192], rid[32], iid[32], sid[32];
	size_t	 n;
	int	 i;

	hexid(rid, sizeof(rid), in->root_id, 8, "");
	hexid(iid, sizeof(iid), in->int_id, 8, "");
	n = snprintf(buf, sizeof(buf),
	    "# p11ca-signer configuration (written by p11ca init).\n"
	    "# The signer reads only this file; see docs/signer.md.\n"
	    "module %s\n", in->module);
	if (in->softhsm_conf[0])
		n += snprintf(buf + n, sizeof(buf) - n,
		    "module-env SOFTHSM2_CONF=%s\n", in->softhsm_conf);
	n += snprintf(buf + n, sizeof(buf) - n,
	    "token-label %s\npin-source file:%s\nsocket %s\n"
	    "audit-log %s\nworkers 2\nallow-uid %u\n", in->label,
	    cli_path(in->home, "secrets/pin"), sock,
	    cli_path(in->home, "audit/audit.log"), (unsigned)getuid());
	for (i = 0; i < in->nuids; i++)
		n += snprintf(buf + n, sizeof(buf) - n, "allow-uid %ld\n",
		    in->uids[i]);
	if (with_intermediate)
		n += snprintf(buf + n, sizeof(buf) - n,
		    "key intermediate role=issuing label=intermediate id=%s "
		    "cert=%s\n", iid,
		    cli_path(in->home, "certs/intermediate_ca.crt"));
	n += snprintf(buf + n, sizeof(buf) - n,
	    "key root role=root label=root id=%s%s%s\n", rid,
	    with_root_cert ? " cert=" : "",
	    with_root_cert ? cli_path(in->home, "certs/root_ca.crt") : "");
	if (in->ocsp && with_intermediate) {
		hexid(sid, sizeof(sid), in->ocsp_id, 8, "");
		n += snprintf(buf + n, sizeof(buf) - n,
		    "key ocsp role=ocsp label=ocsp id=%s\n", sid);
	}
	/* The SSH keys serve the running CA only, not the ceremony. */
	for (i = 0; in->ssh && with_intermediate && i < 2 &&
	    n < sizeof(buf); i++) {
		hexid(sid, sizeof(sid), in->ssh_id[i], 8, "");
		n += snprintf(buf + n, sizeof(buf) - n,
		    "key %s role=ssh label=%s id=%s\n", sshkeys[i].label,
		    sshkeys[i].label, sid);
	}
	if (n >= sizeof(buf))
		return -1;
	return put_file(in, rel, buf, n, 0644);
}

static const char *
signer_binary(void)
{
	static char	 buf[PATH_MAX];
	char		 self[PATH_MAX];
	const char	*e;
	ssize_t		 n;

	if ((e = getenv("P11CA_SIGNER")) != NULL && *e)
		return e;
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) <= 0)
		return "p11ca-signer";
	self[n] = '\0';
	snprintf(buf, sizeof(buf), "%s/p11ca-signer", dirname(self));
	return buf;
}

static int
ceremony_start(struct init *in, int with_root_cert)
{
	const char	*conf = cli_path(in->home, "run/ceremony.conf");
	char		 sock[PATH_MAX], err[512];
	const char	*bin = signer_binary();

	snprintf(sock, sizeof(sock), "%s", cli_path(in->home,
	    "run/ceremony.sock"));
	if (write_signer_conf(in, "run/ceremony.conf", sock, 0,
	    with_root_cert) == -1)
		return -1;
	in->ncreated--;		/* removed by ceremony_stop, not kept */
	if ((in->signer = fork()) == -1)
		return -1;
	if (in->signer == 0) {
		execl(bin, "p11ca-signer", "-c", conf, "--ceremony",
		    (char *)NULL);
		fprintf(stderr, "p11ca: cannot run %s: %s\n", bin,
		    strerror(errno));
		_exit(127);
	}
	if (signer_wait(sock, 15000, err, sizeof(err)) == -1) {
		cli_err("ceremony signer did not come up: %s", err);
		return -1;
	}
	return 0;
}

static void
ceremony_stop(struct init *in)
{
	int	 st;

	if (in->signer > 0) {
		kill(in->signer, SIGTERM);
		waitpid(in->signer, &st, 0);
		in->signer = 0;
	}
	unlink(cli_path(in->home, "run/ceremony.conf"));
}

static int
name_der(const char *o, const char *cn, uint8_t **der, size_t *len)
{
	X509_NAME	*n;
	unsigned char	*p = NULL;
	int		 l;

	if ((n = X509_NAME_new()) == NULL ||
	    !X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8,
	    (const unsigned char *)o, -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0) ||
	    (l = i2d_X509_NAME(n, &p)) <= 0) {
		X509_NAME_free(n);
		return -1;
	}
	X509_NAME_free(n);
	*der = p;
	*len = l;
	return 0;
}

static uint8_t
alg_for(int keytype)
{
	switch (keytype) {
	case KEYTYPE_EC_P256:
		return ALG_ECDSA_SHA256;
	case KEYTYPE_EC_P384:
		return ALG_ECDSA_SHA384;
	case KEYTYPE_EC_P521:
		return ALG_ECDSA_SHA512;
	case KEYTYPE_RSA:
		return ALG_RSA_PKCS1_SHA256;
	default:
		return ALG_ED25519;
	}
}

/*
 * Has the ceremony signer sign one CA certificate with the root key, and
 * checks the result with OpenSSL before anything is written.
 */
static X509 *
sign_ca(const struct tbs_profile *pr, const uint8_t *root_spki,
    size_t root_spkilen, const char *sock)
{
	struct signer_client	*sc;
	struct pbuf		 tbs, crt;
	const unsigned char	*p;
	const unsigned char	*q = root_spki;
	EVP_PKEY		*rk = NULL;
	uint8_t			*sig = NULL;
	size_t			 siglen;
	char			 err[512];
	X509			*x = NULL;

	pbuf_init(&tbs);
	pbuf_init(&crt);
	if ((sc = signer_connect(sock, err, sizeof(err))) == NULL)
		goto bad;
	if (tbs_encode(pr, &tbs) == -1) {
		snprintf(err, sizeof(err), "cannot encode certificate");
		goto bad;
	}
	if (signer_sign(sc, "root", KIND_X509_TBS, pr->alg, tbs.data, tbs.len,
	    &sig, &siglen, NULL, err, sizeof(err)) == -1)
		goto bad;
	if (tbs_certificate(tbs.data, tbs.len, pr->alg, sig, siglen, &crt) ==
	    -1) {
		snprintf(err, sizeof(err), "cannot assemble certificate");
		goto bad;
	}
	p = crt.data;
	if ((x = d2i_X509(NULL, &p, (long)crt.len)) == NULL ||
	    (rk = d2i_PUBKEY(NULL, &q, (long)root_spkilen)) == NULL ||
	    X509_verify(x, rk) != 1) {
		snprintf(err, sizeof(err), "the signed certificate does not "
		    "verify against the root key");
		X509_free(x);
		x = NULL;
		goto bad;
	}
	goto out;
bad:
	cli_err("%s", err);
out:
	EVP_PKEY_free(rk);
	free(sig);
	pbuf_free(&tbs);
	pbuf_free(&crt);
	signer_close(sc);
	return x;
}

static int
write_pem(struct init *in, const char *rel, X509 *x)
{
	BIO	*b;
	char	*data;
	long	 n;
	int	 rc = -1;

	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return -1;
	if (PEM_write_bio_X509(b, x) == 1 && (n = BIO_get_mem_data(b, &data))
	    > 0)
		rc = put_file(in, rel, data, n, 0644);
	BIO_free(b);
	return rc;
}

static int
public_key(const char *sock, const char *key, int *kt, uint8_t **spki,
    size_t *n)
{
	struct signer_client	*sc;
	char			 err[512];
	int			 rc = -1;

	if ((sc = signer_connect(sock, err, sizeof(err))) != NULL)
		rc = signer_public_key(sc, key, kt, spki, n, NULL, err,
		    sizeof(err));
	if (rc == -1)
		cli_err("%s", err);
	signer_close(sc);
	return rc;
}

/* The root and intermediate certificates, made in two ceremony runs. */
static int
ceremony(struct init *in, const uint8_t *int_spki, size_t int_spkilen,
    X509 **root, X509 **inter)
{
	char		 o[256], cn[300], sock[PATH_MAX];
	uint8_t		*rname = NULL, *iname = NULL, *rspki = NULL, serial[16];
	size_t		 rnamelen, inamelen, rspkilen;
	struct tbs_profile pr;
	time_t		 now = time(NULL);
	int		 kt, rc = -1;

	snprintf(sock, sizeof(sock), "%s", cli_path(in->home,
	    "run/ceremony.sock"));
	snprintf(o, sizeof(o), "%s", in->name);
	snprintf(cn, sizeof(cn), "%s Root CA", in->name);
	if (name_der(o, cn, &rname, &rnamelen) == -1)
		goto out;
	snprintf(cn, sizeof(cn), "%s Intermediate CA", in->name);
	if (name_der(o, cn, &iname, &inamelen) == -1)
		goto out;
	cli_step("root ceremony: signer in ceremony mode self-signs the root");
	if (ceremony_start(in, 0) == -1 ||
	    public_key(sock, "root", &kt, &rspki, &rspkilen) == -1 ||
	    RAND_bytes(serial, sizeof(serial)) != 1)
		goto out;
	serial[0] &= 0x7f;
	serial[0] |= 0x40;	/* full 16 bytes, positive */
	pr = (struct tbs_profile){ .serial = serial, .seriallen = 16,
	    .alg = alg_for(kt), .issuer = rname, .issuerlen = rnamelen,
	    .not_before = now - 60, .not_after = now + TEN_YEARS,
	    .subject = rname, .subjectlen = rnamelen, .spki = rspki,
	    .spkilen = rspkilen, .ca = 1, .pathlen = 1,
	    .keyusage = TBS_KU_KEY_CERT_SIGN | TBS_KU_CRL_SIGN, .aki_spki = rspki,
	    .aki_spkilen = rspkilen };
	if ((*root = sign_ca(&pr, rspki, rspkilen, sock)) == NULL ||
	    write_pem(in, "certs/root_ca.crt", *root) == -1)
		goto out;
	ceremony_stop(in);
	cli_step("intermediate ceremony: the root signs the intermediate");
	if (ceremony_start(in, 1) == -1 ||
	    RAND_bytes(serial, sizeof(serial)) != 1)
		goto out;
	serial[0] &= 0x7f;
	serial[0] |= 0x40;
	pr.issuer = rname;
	pr.subject = iname;
	pr.subjectlen = inamelen;
	pr.spki = int_spki;
	pr.spkilen = int_spkilen;
	pr.pathlen = 0;
	pr.keyusage = TBS_KU_DIGITAL_SIGNATURE | TBS_KU_KEY_CERT_SIGN | TBS_KU_CRL_SIGN;
	if ((*inter = sign_ca(&pr, rspki, rspkilen, sock)) == NULL ||
	    write_pem(in, "certs/intermediate_ca.crt", *inter) == -1)
		goto out;
	rc = 0;
out:
	ceremony_stop(in);
	OPENSSL_free(rname);
	OPENSSL_free(iname);
	free(rspki);
	return rc;
}

/* The first JWK provisioner: a software key, stored encrypted as step does. */
static cJSON *
provisioner(struct init *in)
{
	EVP_PKEY	*pk = NULL;
	cJSON		*p = NULL, *jwk = NULL;
	char		*jwe = NULL, *pw;
	size_t		 n;

	if (in->pwfile) {
		if ((pw = cli_read_file(in->pwfile, &n)) == NULL) {
			cli_err("%s: %s", in->pwfile, strerror(errno));
			return NULL;
		}
		pw[strcspn(pw, "\r\n")] = '\0';
		snprintf(in->password, sizeof(in->password), "%s", pw);
		OPENSSL_cleanse(pw, n);
		free(pw);
	} else if (cli_random_secret(in->password, 32) == -1)
		return NULL;
	if (put_file(in, "secrets/password", in->password,
	    strlen(in->password), 0600) == -1)
		return NULL;
	cli_step("creating JWK provisioner '%s' (key encrypted with "
	    "PBES2-HS256+A128KW, p2c %d)", in->prov, JOSE_P2C_DEFAULT);
	if ((pk = EVP_EC_gen("P-256")) == NULL ||
	    (jwk = jose_jwk_from_pkey(pk, JOSE_JWK_STEP)) == NULL ||
	    (jwe = jose_jwe_encrypt_key(in->password, strlen(in->password), pk,
	    JOSE_P2C_DEFAULT)) == NULL ||
	    (p = cJSON_CreateObject()) == NULL ||
	    !cJSON_AddStringToObject(p, "type", "JWK") ||
	    !cJSON_AddStringToObject(p, "name", in->prov)) {
		cJSON_Delete(jwk);
		cJSON_Delete(p);
		p = NULL;
		goto out;
	}
	cJSON_AddItemToObject(p, "key", jwk);
	if (!cJSON_AddStringToObject(p, "encryptedKey", jwe)) {
		cJSON_Delete(p);
		p = NULL;
	}
out:
	free(jwe);
	EVP_PKEY_free(pk);
	return p;
}

/*
 * What --ssh adds to ca.json: the "ssh" section (the keys as pkcs11:
 * URIs, as step-ca names them, and the .pub files), the signer's names
 * for the keys, enableSSHCA on the JWK provisioner and an SSHPOP one.
 */
static int
ssh_json(struct init *in, cJSON *j, cJSON *signer, cJSON *provs, cJSON *jwk)
{
	cJSON	*ssh, *claims, *pop, *c;
	char	 uri[100], id[40];
	int	 i;

	if ((ssh = cJSON_AddObjectToObject(j, "ssh")) == NULL)
		return -1;
	for (i = 0; i < 2; i++) {
		hexid(id, sizeof(id), in->ssh_id[i], 8, "%");
		snprintf(uri, sizeof(uri), "pkcs11:id=%s;object=%s", id,
		    sshkeys[i].label);
		if (!cJSON_AddStringToObject(ssh, sshkeys[i].uri_member, uri))
			return -1;
	}
	for (i = 0; i < 2; i++)
		if (!cJSON_AddStringToObject(ssh, sshkeys[i].pub_member,
		    cli_path(in->home, sshkeys[i].pub)) ||
		    !cJSON_AddStringToObject(signer, sshkeys[i].signer_member,
		    sshkeys[i].label))
			return -1;
	if ((claims = cJSON_GetObjectItemCaseSensitive(jwk, "claims")) ==
	    NULL && (claims = cJSON_AddObjectToObject(jwk, "claims")) == NULL)
		return -1;
	if (!cJSON_IsObject(claims))
		return -1;
	cJSON_DeleteItemFromObjectCaseSensitive(claims, "enableSSHCA");
	if (!cJSON_AddBoolToObject(claims, "enableSSHCA", 1))
		return -1;
	if ((pop = cJSON_CreateObject()) == NULL)
		return -1;
	if (!cJSON_AddItemToArray(provs, pop))
		cJSON_Delete(pop);
	else if (cJSON_AddStringToObject(pop, "type", "SSHPOP") &&
	    cJSON_AddStringToObject(pop, "name", "sshpop") &&
	    (c = cJSON_AddObjectToObject(pop, "claims")) != NULL &&
	    cJSON_AddBoolToObject(c, "enableSSHCA", 1))
		return 0;
	return -1;
}

static int
write_ca_json(struct init *in, cJSON *prov)
{
	cJSON		*j, *a, *arr, *kms, *db, *tls, *s;
	char		 uri[PATH_MAX + 200], iid[40], *txt;
	static const char *suites[] = {
		"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
		"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
	};
	int		 i, rc = -1;

	hexid(iid, sizeof(iid), in->int_id, 8, "%");
	if ((j = cJSON_CreateObject()) == NULL)
		return -1;
	cJSON_AddStringToObject(j, "root", cli_path(in->home,
	    "certs/root_ca.crt"));
	cJSON_AddNullToObject(j, "federatedRoots");
	cJSON_AddStringToObject(j, "crt", cli_path(in->home,
	    "certs/intermediate_ca.crt"));
	snprintf(uri, sizeof(uri), "pkcs11:id=%s;object=intermediate", iid);
	cJSON_AddStringToObject(j, "key", uri);
	kms = cJSON_AddObjectToObject(j, "kms");
	cJSON_AddStringToObject(kms, "type", "pkcs11");
	/* No pin-source here: the front end reads ca.json, the PIN is not its. */
	snprintf(uri, sizeof(uri), "pkcs11:module-path=%s;token=%s",
	    in->module, in->label);
	cJSON_AddStringToObject(kms, "uri", uri);
	cJSON_AddStringToObject(j, "address", in->address);
	if (in->insecure != NULL) {
		cJSON_AddStringToObject(j, "insecureAddress", in->insecure);
		s = cJSON_AddObjectToObject(j, "crl");
		cJSON_AddBoolToObject(s, "enabled", 1);
		cJSON_AddStringToObject(s, "cacheDuration", "24h0m0s");
		cJSON_AddStringToObject(s, "renewPeriod", "16h0m0s");
		snprintf(uri, sizeof(uri), "http://%s/crl", in->insecure);
		cJSON_AddStringToObject(s, "idpURL", uri);
		s = cJSON_AddObjectToObject(j, "ocsp");
		snprintf(uri, sizeof(uri), "http://%s/ocsp", in->insecure);
		cJSON_AddStringToObject(s, "url", uri);
		cJSON_AddStringToObject(s, "cacheDuration", "1h0m0s");
		s = cJSON_AddObjectToObject(j, "aia");
		snprintf(uri, sizeof(uri), "http://%s/intermediate.crt",
		    in->insecure);
		cJSON_AddStringToObject(s, "caIssuers", uri);
	}
	if (in->ocsp) {
		if ((s = cJSON_GetObjectItemCaseSensitive(j, "ocsp")) == NULL)
			s = cJSON_AddObjectToObject(j, "ocsp");
		cJSON_AddStringToObject(s, "key", "ocsp");
	}
	arr = cJSON_AddArrayToObject(j, "dnsNames");
	for (i = 0; i < in->ndns; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(in->dns[i]));
	cJSON_AddItemToObject(j, "logger", s = cJSON_CreateObject());
	cJSON_AddStringToObject(s, "format", "text");
	db = cJSON_AddObjectToObject(j, "db");
	cJSON_AddStringToObject(db, "type", "sqlite");
	cJSON_AddStringToObject(db, "dataSource", cli_path(in->home,
	    "db/p11ca.db"));
	s = cJSON_AddObjectToObject(j, "signer");
	cJSON_AddStringToObject(s, "socket", cli_path(in->home,
	    "run/signer.sock"));
	cJSON_AddStringToObject(s, "key", "intermediate");
	a = cJSON_AddObjectToObject(j, "authority");
	arr = cJSON_AddArrayToObject(a, "provisioners");
	cJSON_AddItemToArray(arr, prov);
	if (in->ssh && ssh_json(in, j, s, arr, prov) == -1) {
		cJSON_Delete(j);
		return -1;
	}
	tls = cJSON_AddObjectToObject(j, "tls");
	cJSON_AddItemToObject(tls, "cipherSuites",
	    cJSON_CreateStringArray(suites, 2));
	cJSON_AddNumberToObject(tls, "minVersion", 1.2);
	cJSON_AddNumberToObject(tls, "maxVersion", 1.3);
	cJSON_AddBoolToObject(tls, "renegotiation", 0);
	if ((txt = cJSON_Print(j)) != NULL) {
		rc = put_file(in, "config/ca.json", txt, strlen(txt), 0644);
		free(txt);
	}
	cJSON_Delete(j);
	return rc;
}

static void
print_summary(struct init *in, X509 *root)
{
	unsigned char	 md[32];
	unsigned int	 n = 0, i;

	if (X509_digest(root, EVP_sha256(), md, &n) != 1)
		n = 0;
	printf("\nCA '%s' is ready in %s\n  root fingerprint (SHA-256): ",
	    in->name, in->home);
	for (i = 0; i < n; i++)
		printf("%02x", md[i]);
	printf("\n  root certificate: %s\n  intermediate:     %s\n"
	    "  CA config:        %s\n  signer config:    %s\n"
	    "  audit log:        %s\n  provisioner:      %s (password in %s)\n",
	    cli_path(in->home, "certs/root_ca.crt"),
	    cli_path(in->home, "certs/intermediate_ca.crt"),
	    cli_path(in->home, "config/ca.json"),
	    cli_path(in->home, "config/signer.conf"),
	    cli_path(in->home, "audit/audit.log"), in->prov,
	    cli_path(in->home, "secrets/password"));
	for (i = 0; in->ssh && i < 2; i++)
		printf("  SSH %s CA key:  %s\n                    %s\n",
		    sshkeys[i].what, cli_path(in->home, sshkeys[i].pub),
		    in->ssh_fp[i]);
}

static int
parse(struct init *in, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "home", required_argument, NULL, 'H' },
		{ "create-token", no_argument, NULL, 'C' },
		{ "module", required_argument, NULL, 'm' },
		{ "token-label", required_argument, NULL, 'l' },
		{ "pin-file", required_argument, NULL, 'p' },
		{ "key-type", required_argument, NULL, 't' },
		{ "name", required_argument, NULL, 'n' },
		{ "dns", required_argument, NULL, 'd' },
		{ "address", required_argument, NULL, 'a' },
		{ "insecure-address", required_argument, NULL, 'I' },
		{ "provisioner", required_argument, NULL, 'P' },
		{ "password-file", required_argument, NULL, 'w' },
		{ "allow-uid", required_argument, NULL, 'u' },
		{ "ssh", no_argument, NULL, 's' },
		{ "ocsp-responder", no_argument, NULL, 'O' },
		{ "ssh-key-type", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char	*end;
	int	 ch;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'H': in->home = optarg; break;
		case 'C': in->create = 1; break;
		case 'm': in->module = optarg; break;
		case 'l': in->label = optarg; break;
		case 'p': in->pinfile = optarg; break;
		case 'n': in->name = optarg; break;
		case 'a': in->address = optarg; break;
		case 'I': in->insecure = optarg; break;
		case 'P': in->prov = optarg; break;
		case 'w': in->pwfile = optarg; break;
		case 't':
			if ((in->keyalg = p11_keyalg_from_name(optarg)) == -1) {
				cli_err("unknown key type '%s'", optarg);
				return -1;
			}
			break;
		case 's': in->ssh = 1; break;
		case 'O': in->ocsp = 1; break;
		case 'S':
			if ((in->sshalg = p11_keyalg_from_name(optarg)) == -1) {
				cli_err("unknown SSH key type '%s'", optarg);
				return -1;
			}
			break;
		case 'd':
			if (in->ndns == 16)
				return -1;
			in->dns[in->ndns++] = optarg;
			break;
		case 'u':
			in->uids[in->nuids] = strtol(optarg, &end, 10);
			if (*end || end == optarg || in->nuids == 8 ||
			    in->uids[in->nuids] < 0)
				return -1;
			in->nuids++;
			break;
		case 'h':
			fputs(usage, stdout);
			exit(0);
		default:
			return -1;
		}
	}
	if (optind != argc || strlen(in->label) > 32 || *in->name == '\0' ||
	    strchr(in->label, ' '))
		return -1;
	if (in->sshalg != 0 && !in->ssh) {
		cli_err("--ssh-key-type needs --ssh");
		return -1;
	}
	if (in->sshalg == 0)
		in->sshalg = P11_EC_P256;
	if (in->ndns == 0) {
		in->dns[in->ndns++] = "127.0.0.1";
		in->dns[in->ndns++] = "localhost";
	}
	return 0;
}

int
cmd_init(int argc, char **argv)
{
	static struct init in;
	uint8_t		*int_spki = NULL;
	size_t		 int_spkilen = 0;
	X509		*root = NULL, *inter = NULL;
	cJSON		*prov = NULL;
	char		 home[PATH_MAX];
	struct stat	 st;
	int		 rc = 1;

	in = (struct init){ .module = DEFAULT_MODULE, .label = "p11ca",
	    .name = "p11ca", .address = "127.0.0.1:9000", .prov = "admin",
	    .keyalg = P11_EC_P256 };
	if (parse(&in, argc, argv) == -1) {
		fputs(usage, stderr);
		return 2;
	}
	in.home = cli_home(in.home);
	if (cli_mkdirs(in.home) == -1 || realpath(in.home, home) == NULL)
		return 1;
	in.home = home;
	if (stat(cli_path(home, "config/ca.json"), &st) == 0) {
		cli_err("%s already holds a CA (config/ca.json): refusing to "
		    "overwrite it", home);
		return 1;
	}
	if (token_setup(&in) == -1 ||
	    make_keys(&in, &int_spki, &int_spkilen) == -1 ||
	    ceremony(&in, int_spki, int_spkilen, &root, &inter) == -1 ||
	    write_signer_conf(&in, "config/signer.conf",
	    cli_path(home, "run/signer.sock"), 1, 1) == -1 ||
	    (prov = provisioner(&in)) == NULL ||
	    write_ca_json(&in, prov) == -1) {
		undo(&in);
		goto out;
	}
	print_summary(&in, root);
	rc = 0;
out:
	OPENSSL_cleanse(in.pin, sizeof(in.pin));
	OPENSSL_cleanse(in.password, sizeof(in.password));
	free(int_spki);
	X509_free(root);
	X509_free(inter);
	return rc;
}

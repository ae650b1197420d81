/*
 * cli.h — what the p11ca command's subcommands share: the state directory
 * layout, file helpers, and the command table entry type.
 */
#ifndef P11CA_CLI_H
#define P11CA_CLI_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "appliance/config.h"

struct command {
	const char	*name;		/* "init", "hsm list", ... */
	int		(*run)(int argc, char **argv);
	const char	*summary;
};

/* $P11CA_HOME, else ~/.p11ca; --home overrides both. */
const char *cli_home(const char *override);
/* home + "/" + rel, into a static rotating buffer. */
const char *cli_path(const char *home, const char *rel);

/* Writes data to path via a temporary file, fsync and rename. */
int	cli_write_file(const char *path, const void *data, size_t n, int mode);
/* Reads a whole file (NUL-terminated; *n without it). Caller free(). */
char	*cli_read_file(const char *path, size_t *n);
/* cli_read_file, a failure reported as "path: strerror". */
char	*cli_slurp(const char *path, size_t *n);

/*
 * A file replaced whole or not at all: cli_stage writes data to a synced
 * temporary file next to path (tmp), cli_commit renames it over path,
 * cli_unstage removes what was staged and not committed. -1 reported.
 */
struct cli_staged {
	const char	*path;
	char		 tmp[PATH_MAX];
	int		 active;
};
int	cli_stage(struct cli_staged *s, const char *path, const void *data,
	    size_t n, int mode);
int	cli_commit(struct cli_staged *s);
void	cli_unstage(struct cli_staged *s);
/* The mode of an existing file (kept when it is replaced), else dflt. */
int	cli_mode_of(const char *path, int dflt);
/* -1 (reported) when path exists and may not be overwritten. */
int	cli_may_write(const char *path, int force);

/* A password file: the password is its first line. */
struct cli_secret {
	char	*p;
	size_t	 n;		/* the password's length */
	size_t	 cap;		/* what to wipe */
};
int	cli_secret_read(const char *path, struct cli_secret *s);
void	cli_secret_free(struct cli_secret *s);
/* A PEM private key from b, decrypted with pw if any (else OpenSSL asks). */
EVP_PKEY *cli_pem_key(BIO *b, struct cli_secret *pw);

/* Standard padded base64 (as Go's []byte in JSON). Caller free(). */
char	*cli_b64_encode(const void *p, size_t n);
uint8_t	*cli_b64_decode(const char *s, size_t *len);

/* A new key: RSA of bits, OKP (Ed25519), else EC on the curve crv. */
EVP_PKEY *cli_make_key(const char *kty, const char *crv, int bits);
/* req signed by k (SHA-256; Ed25519 alone) as PEM. Caller free(). */
char	*cli_req_pem(X509_REQ *req, EVP_PKEY *k);

/* RFC 5280 reasons by code (7 is NULL); a number or a name, else -1. */
#define CLI_NREASONS	11
extern const char *const cli_reason_names[CLI_NREASONS];
int	cli_reason_code(const char *s);

/*
 * Where the CA is: --ca-url, --root, --ca-config and --home, the rest
 * from ca.json. In an option table CLI_WHERE_OPTIONS, and cli_where_opt()
 * takes what getopt_long() returns for them (1), or not (0).
 */
struct cli_where {
	const char	*home, *config, *url, *root;
	struct ca_config cfg;
	int		 loaded;
	char		 confbuf[PATH_MAX];
	char		 urlbuf[512];
};
#define CLI_OPT_URL	0x1001
#define CLI_OPT_ROOT	0x1002
#define CLI_OPT_CONFIG	0x1003
#define CLI_OPT_HOME	0x1004
#define CLI_WHERE_OPTIONS \
	{ "ca-url", required_argument, NULL, CLI_OPT_URL }, \
	{ "root", required_argument, NULL, CLI_OPT_ROOT }, \
	{ "ca-config", required_argument, NULL, CLI_OPT_CONFIG }, \
	{ "home", required_argument, NULL, CLI_OPT_HOME }
int	cli_where_opt(struct cli_where *w, int ch, const char *arg);
/*
 * Fills in the URL (https://{dnsNames[0]}:{port of address}) and root
 * from ca.json when either is missing, or always with CLI_WHERE_CONFIG;
 * with CLI_WHERE_PLAIN an http:// URL needs no root. The URL then loses
 * any trailing '/' (a token's aud must not read "https://ca//1.0/sign").
 * -1 reported.
 */
#define CLI_WHERE_CONFIG	0x1
#define CLI_WHERE_PLAIN		0x2
int	cli_where_load(struct cli_where *w, int flags);
void	cli_where_free(struct cli_where *w);
/* A random secret of len printable characters (base64url alphabet). */
int	cli_random_secret(char *out, size_t len);
int	cli_mkdirs(const char *home);

/*
 * One HTTPS request to the CA at base ("https://host:port"), verified
 * against root. *resp is the body (caller frees), *status the HTTP code.
 */
int	cli_https(const char *base, const char *root, const char *method,
	    const char *path, const char *body, int *status, char **resp);

/* What cli_https cannot say: a client certificate, headers, plain HTTP. */
struct cli_req {
	const char	*method, *path;
	const char	*body;		/* JSON, or NULL */
	const char	*auth;		/* Authorization value, or NULL */
	const char	*accept;	/* Accept value, or NULL */
	X509		*cert;		/* mTLS: client certificate, */
	EVP_PKEY	*key;		/* its key */
	STACK_OF(X509)	*chain;		/* and what to send after it */
	int		 plain_ok;	/* base may be http:// */
};
/* As cli_https; *resplen (when not NULL) is the body's length. */
int	cli_http(const char *base, const char *root, const struct cli_req *q,
	    int *status, char **resp, size_t *resplen);
/*
 * POST req as JSON to the CA at w, with tls's client certificate (mTLS)
 * when tls is not NULL. -1 reported.
 */
int	cli_post_json(const struct cli_where *w, const char *path,
	    const cJSON *req, const struct cli_req *tls, int *status,
	    char **resp);
/* The CA's message of an error answer, or the answer itself. */
void	cli_refused(const char *what, int status, const char *resp);
/* 0 when the answer is 200 {"status": "ok"}, else -1 (refused). */
int	cli_answer_ok(const char *what, int status, const char *resp);
/* The claims every token has, with a random jti; NULL when out of memory. */
cJSON	*cli_claims(const char *aud, const char *iss, const char *sub,
	    time_t iat, time_t nbf, time_t exp);

/*
 * A one-time token as `p11ca ca token SUBJECT` makes it, for aud "sign",
 * "revoke", ...: home, config, url, root as --home, --ca-config,
 * --ca-url, --root (NULL: defaults); the JWK provisioner by issuer or
 * kid (NULL: the only one), its key decrypted with pwfile (NULL: the
 * home's secrets/password) or read from keyfile. Caller free(); NULL
 * with the reason printed.
 */
struct cli_tokreq {
	const char	*home, *config, *url, *root;
	const char	*subject, *aud;
	const char	*issuer, *kid, *pwfile, *keyfile;
	/*
	 * ssh: claims.step.ssh for aud "ssh/sign", as `ca token --ssh`:
	 * certType host or user, keyID the subject, these principals (none:
	 * the subject), validAfter and validBefore (NULL: "").
	 */
	int		 ssh, host;
	const char *const *principals;
	int		 nprincipals;
	const char	*cert_nbf, *cert_exp;
};
char	*cli_mint_token(const struct cli_tokreq *q);

/*
 * The flags both revoke commands take (step's): CLI_REVOKE_OPTIONS in the
 * option table; cli_revoke_opt() takes what getopt_long() returns for
 * them (1), or not (0), or -1 reported (exit 2), with --issuer, --kid and
 * --password-file into tq; cli_revoke_args() checks what is left (-1
 * reported: the usage, exit 2); cli_revoke_req() is the request body.
 */
struct cli_revoke {
	const char	*crt, *keypath, *kpwfile, *token, *reason;
	int		 code;
};
#define CLI_OPT_CERT		0x1011
#define CLI_OPT_KEY		0x1012
#define CLI_OPT_KEYPW		0x1013
#define CLI_OPT_TOKEN		0x1014
#define CLI_OPT_REASON		0x1015
#define CLI_OPT_REASONCODE	0x1016
#define CLI_OPT_ISSUER		0x1017
#define CLI_OPT_KID		0x1018
#define CLI_OPT_PWFILE		0x1019
#define CLI_REVOKE_OPTIONS \
	{ "cert", required_argument, NULL, CLI_OPT_CERT }, \
	{ "key", required_argument, NULL, CLI_OPT_KEY }, \
	{ "key-password-file", required_argument, NULL, CLI_OPT_KEYPW }, \
	{ "token", required_argument, NULL, CLI_OPT_TOKEN }, \
	{ "reason", required_argument, NULL, CLI_OPT_REASON }, \
	{ "reasonCode", required_argument, NULL, CLI_OPT_REASONCODE }, \
	{ "reason-code", required_argument, NULL, CLI_OPT_REASONCODE }, \
	{ "issuer", required_argument, NULL, CLI_OPT_ISSUER }, \
	{ "provisioner", required_argument, NULL, CLI_OPT_ISSUER }, \
	{ "kid", required_argument, NULL, CLI_OPT_KID }, \
	{ "password-file", required_argument, NULL, CLI_OPT_PWFILE }, \
	{ "provisioner-password-file", required_argument, NULL, \
	    CLI_OPT_PWFILE }
int	cli_revoke_opt(struct cli_revoke *r, struct cli_tokreq *tq, int ch,
	    const char *arg);
int	cli_revoke_args(const struct cli_revoke *r, int argc);
cJSON	*cli_revoke_req(const struct cli_revoke *r, const char *serial);

void	cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	cli_step(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

int	cmd_init(int argc, char **argv);
int	cmd_hsm_list(int argc, char **argv);
int	cmd_hsm_keygen(int argc, char **argv);
int	cmd_audit_verify(int argc, char **argv);
int	cmd_ca_token(int argc, char **argv);
int	cmd_ca_certificate(int argc, char **argv);
int	cmd_ca_health(int argc, char **argv);
int	cmd_ca_root(int argc, char **argv);
int	cmd_certificate_fingerprint(int argc, char **argv);
/* cmd_lifecycle.c */
int	cmd_ca_renew(int argc, char **argv);
int	cmd_ca_rekey(int argc, char **argv);
int	cmd_ca_revoke(int argc, char **argv);
int	cmd_crl_inspect(int argc, char **argv);
/* ca provisioner list|add|update|remove|jwe-key: its own table. */
int	cmd_ca_provisioner(int argc, char **argv);
/* cmd_ssh.c */
int	cmd_ssh_certificate(int argc, char **argv);
int	cmd_ssh_renew(int argc, char **argv);
int	cmd_ssh_rekey(int argc, char **argv);
int	cmd_ssh_revoke(int argc, char **argv);
int	cmd_ssh_config(int argc, char **argv);
int	cmd_ssh_krl(int argc, char **argv);

#endif

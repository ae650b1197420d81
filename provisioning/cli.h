/*
 * cli.h — what the p11ca command's subcommands share: the state directory
 * layout, file helpers, and the command table entry type.
 */
#ifndef P11CA_CLI_H
#define P11CA_CLI_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

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

/*
 * cli.h — what the p11ca command's subcommands share: the state directory
 * layout, file helpers, and the command table entry type.
 */
#ifndef P11CA_CLI_H
#define P11CA_CLI_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

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
/* ca provisioner list|add|update|remove|jwe-key: its own table. */
int	cmd_ca_provisioner(int argc, char **argv);

#endif

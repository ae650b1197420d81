/*
 * config.h — the CA's configuration, read from a step-ca-shaped ca.json.
 * The signer never reads this file (it has its own, docs/signer.md).
 */
#ifndef P11CA_CONFIG_H
#define P11CA_CONFIG_H

#include <limits.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#define CONFIG_MAX_DNS	16

struct ca_config {
	char		 path[PATH_MAX];
	char		 root[PATH_MAX];	/* root certificate (PEM) */
	char		 crt[PATH_MAX];		/* intermediate (PEM) */
	char		 address[256];		/* host:port to listen on */
	char		*dns[CONFIG_MAX_DNS];	/* names of the CA */
	int		 ndns;
	char		 db[PATH_MAX];		/* SQLite data source */
	char		 signer_socket[108];
	char		 signer_key[65];	/* the issuing key's name */
	/* SSH CA (docs/ssh.md): public keys, and the signer's key names. */
	char		 ssh_user_pub[PATH_MAX];	/* ssh.userPublicKey */
	char		 ssh_host_pub[PATH_MAX];	/* ssh.hostPublicKey */
	char		 signer_ssh_user[65];		/* signer.sshUserKey */
	char		 signer_ssh_host[65];		/* signer.sshHostKey */
	char		 tls_crt[PATH_MAX];	/* optional own TLS certificate */
	char		 tls_key[PATH_MAX];
	/* Revocation (docs/revocation.md); URLs "" when not configured. */
	int		 max_conn;		/* maxConnections, 1024 */
	int		 verify_threads;	/* verifyThreads, -1: auto */
	long		 max_token_life;	/* authority.maxTokenLifetime, 1h */
	char		 insecure_address[256];	/* plain HTTP: CRL, OCSP */
	int		 crl_enabled;		/* crl.enabled, default on */
	long		 crl_cache;		/* crl.cacheDuration, 24h */
	long		 crl_renew;		/* crl.renewPeriod, 16h */
	char		 crl_url[1024];		/* crl.idpURL: the CDP */
	char		 ocsp_url[1024];	/* ocsp.url: AIA OCSP */
	long		 ocsp_cache;		/* ocsp.cacheDuration, 1h */
	char		 ocsp_key[65];		/* ocsp.key: a delegated
						   responder's signer key */
	char		 issuer_url[1024];	/* aia.caIssuers */
	cJSON		*json;			/* the whole document */
	cJSON		*provisioners;		/* authority.provisioners */
};

/* Reads and checks path; -1 with err naming the file and the field. */
int	config_load(const char *path, struct ca_config *c, char *err,
	    size_t errsz);
void	config_free(struct ca_config *c);

#endif

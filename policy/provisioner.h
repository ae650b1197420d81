/*
 * provisioner.h — the provisioners of ca.json (authority.provisioners) as
 * the policy code sees them: who may mint tokens, with which key, under
 * which claims. JWK and SSHPOP exist so far; X5C, ACME and OIDC are rows
 * to come in the type table (provisioner.c).
 */
#ifndef P11CA_PROVISIONER_H
#define P11CA_PROVISIONER_H

#include <stddef.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>

enum prov_type {
	PROV_JWK = 1,
	PROV_SSHPOP,		/* no key: the token carries an SSH cert */
};

/* Durations in seconds; defaults are step-ca's. */
struct claims {
	long	 min_tls;		/* minTLSCertDuration, 5m */
	long	 max_tls;		/* maxTLSCertDuration, 24h */
	long	 default_tls;		/* defaultTLSCertDuration, 24h */
	int	 disable_renewal;	/* disableRenewal */
	int	 renew_after_expiry;	/* allowRenewalAfterExpiry */
	int	 enable_ssh;		/* enableSSHCA */
	long	 min_user_ssh, max_user_ssh, default_user_ssh;	/* 5m 24h 16h */
	long	 min_host_ssh, max_host_ssh, default_host_ssh;	/* 5m 30d 30d */
};

struct provisioner {
	enum prov_type	 type;
	char		 name[256];	/* the token's iss */
	char		 kid[64];	/* the token header's kid */
	EVP_PKEY	*key;		/* JWK: the key that verifies its tokens */
	struct claims	 claims;
};

/*
 * Builds the table from authority.provisioners (and authority.claims as
 * defaults). Refuses an unknown type, a bad key, a kid that is not the
 * key's RFC 7638 thumbprint, duplicate name+kid, or bad durations
 * ("5m", "1h30m", "24h": Go's time.ParseDuration syntax).
 */
int	provisioners_load(const cJSON *authority, struct provisioner **out,
	    int *n, char *err, size_t errsz);
void	provisioners_free(struct provisioner *p, int n);
/* A JWK provisioner by a token's iss and header kid. */
const struct provisioner *provisioner_find(const struct provisioner *p,
	    int n, const char *iss, const char *kid);
/* A provisioner of one type by name (SSHPOP tokens name theirs by iss). */
const struct provisioner *provisioner_named(const struct provisioner *p,
	    int n, enum prov_type type, const char *name);

/* Go duration ("300ms", "-1.5h", "2h45m") to seconds, rounded down. */
int	duration_parse(const char *s, long *secs);
/*
 * RFC 3339 ("2006-01-02T15:04:05Z", offsets, fractions) or a duration
 * from base, as step's --not-before/--not-after and /sign's fields.
 */
int	time_or_duration(const char *s, time_t base, time_t *t);

#endif

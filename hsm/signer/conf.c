/*
 * conf.c — the signer's own small configuration file. It names the module,
 * the token, the PIN source, the socket and who may use it, the audit log,
 * and the keys with their roles. Nothing else reaches the signer.
 *
 *	module /usr/lib/softhsm/libsofthsm2.so
 *	module-env SOFTHSM2_CONF=/var/lib/p11ca/config/softhsm2.conf
 *	token-label p11ca
 *	pin-source file:/var/lib/p11ca/secrets/pin
 *	socket /run/p11ca/signer.sock
 *	allow-uid 998
 *	audit-log /var/lib/p11ca/audit/audit.log
 *	workers 2
 *	key intermediate role=issuing label=intermediate id=02 cert=/…/intermediate_ca.crt
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "hsm/signer/signer.h"

#define STR(field)	offsetof(struct signer_conf, field), \
			    sizeof(((struct signer_conf *)0)->field)

static int	set_str(struct signer_conf *, const char *, size_t, size_t);
static int	set_uid(struct signer_conf *, const char *, size_t, size_t);
static int	set_int(struct signer_conf *, const char *, size_t, size_t);
static int	set_env(struct signer_conf *, const char *, size_t, size_t);
static int	set_key(struct signer_conf *, const char *, size_t, size_t);

static const struct directive {
	const char	*name;
	int		(*set)(struct signer_conf *, const char *, size_t,
			    size_t);
	size_t		 off, size;
	int		 required;
} directives[] = {
	{ "module", set_str, STR(module), 1 },
	{ "module-env", set_env, 0, 0, 0 },
	{ "token-label", set_str, STR(token_label), 0 },
	{ "token-serial", set_str, STR(token_serial), 0 },
	{ "pin-source", set_str, STR(pin_source), 1 },
	{ "socket", set_str, STR(socket), 1 },
	{ "audit-log", set_str, STR(audit), 1 },
	{ "allow-uid", set_uid, 0, 0, 1 },
	{ "workers", set_int, offsetof(struct signer_conf, workers), 0, 0 },
	{ "max-connections", set_int, offsetof(struct signer_conf, max_conns),
	    0, 0 },
	{ "key", set_key, 0, 0, 1 },
};
#define NDIRECTIVES (sizeof(directives) / sizeof(directives[0]))

static int
set_str(struct signer_conf *c, const char *v, size_t off, size_t size)
{
	if (strlen(v) >= size)
		return -1;
	memcpy((char *)c + off, v, strlen(v) + 1);
	return 0;
}

static int
set_uid(struct signer_conf *c, const char *v, size_t off, size_t size)
{
	char		*end;
	unsigned long	 u;

	(void)off, (void)size;
	errno = 0;
	u = strtoul(v, &end, 10);
	if (errno || *end || end == v || u > 0x7fffffff ||
	    c->nallow == SIGNER_MAX_UIDS)
		return -1;
	c->allow[c->nallow++] = (uid_t)u;
	return 0;
}

static int
set_int(struct signer_conf *c, const char *v, size_t off, size_t size)
{
	char	*end;
	long	 n;

	(void)size;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || end == v || n < 1 || n > 4096)
		return -1;
	*(int *)((char *)c + off) = (int)n;
	return 0;
}

static int
set_env(struct signer_conf *c, const char *v, size_t off, size_t size)
{
	(void)off, (void)size;
	if (c->nenv == SIGNER_MAX_ENV || strchr(v, '=') == NULL || *v == '=' ||
	    strlen(v) >= sizeof(c->env[0]))
		return -1;
	memcpy(c->env[c->nenv++], v, strlen(v) + 1);
	return 0;
}

static const struct {
	const char	*name;
	enum guard_role	 role;
} roles[] = {
	{ "root", ROLE_ROOT }, { "issuing", ROLE_ISSUING }, { "ssh", ROLE_SSH },
	{ "ocsp", ROLE_OCSP },
};

/* key NAME role=R [label=L] [id=HEX] [cert=PATH] */
static int
set_key(struct signer_conf *c, const char *v, size_t off, size_t size)
{
	struct key_conf	*k;
	char		 buf[PATH_MAX * 2], *tok, *save, *eq;
	size_t		 i;

	(void)off, (void)size;
	if (c->nkeys == P11_MAX_KEYS || strlen(v) >= sizeof(buf))
		return -1;
	k = &c->keys[c->nkeys];
	memset(k, 0, sizeof(*k));
	memcpy(buf, v, strlen(v) + 1);
	if ((tok = strtok_r(buf, " \t", &save)) == NULL ||
	    strlen(tok) >= sizeof(k->name) || strchr(tok, '=') ||
	    conf_key_index(c, tok) != -1)
		return -1;
	memcpy(k->name, tok, strlen(tok) + 1);
	while ((tok = strtok_r(NULL, " \t", &save)) != NULL) {
		if ((eq = strchr(tok, '=')) == NULL)
			return -1;
		*eq++ = '\0';
		if (strcmp(tok, "role") == 0) {
			for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
				if (strcmp(eq, roles[i].name) == 0)
					k->role = roles[i].role;
		} else if (strcmp(tok, "label") == 0 &&
		    strlen(eq) < sizeof(k->label))
			memcpy(k->label, eq, strlen(eq) + 1);
		else if (strcmp(tok, "id") == 0 && *eq &&
		    OPENSSL_hexstr2buf_ex(k->id, sizeof(k->id), &k->idlen, eq,
		    '\0') == 1)
			continue;
		else if (strcmp(tok, "cert") == 0 && strlen(eq) < sizeof(k->cert))
			memcpy(k->cert, eq, strlen(eq) + 1);
		else
			return -1;
	}
	if (k->role == 0 || (k->label[0] == '\0' && k->idlen == 0))
		return -1;
	/* An issuing key's guard compares against its own certificate. */
	if (k->role == ROLE_ISSUING && k->cert[0] == '\0')
		return -1;
	c->nkeys++;
	return 0;
}

int
conf_key_index(const struct signer_conf *c, const char *name)
{
	int	 i;

	for (i = 0; i < c->nkeys; i++)
		if (strcmp(c->keys[i].name, name) == 0)
			return i;
	return -1;
}

int
conf_load(const char *path, struct signer_conf *c, char *err, size_t errsz)
{
	FILE		*fp;
	char		 line[PATH_MAX * 2 + 64], *p, *v, *end;
	int		 lineno = 0, seen[NDIRECTIVES] = { 0 };
	size_t		 i;

	memset(c, 0, sizeof(*c));
	c->workers = 2;
	c->max_conns = 256;
	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		lineno++;
		if (strchr(line, '\n') == NULL && !feof(fp)) {
			snprintf(err, errsz, "%s:%d: line too long", path,
			    lineno);
			goto bad;
		}
		line[strcspn(line, "\r\n")] = '\0';
		for (p = line; isspace((unsigned char)*p); p++)
			;
		if (*p == '\0' || *p == '#')
			continue;
		for (end = p + strlen(p); end > p &&
		    isspace((unsigned char)end[-1]); end--)
			*(end - 1) = '\0';
		v = p + strcspn(p, " \t");
		if (*v)
			*v++ = '\0';
		while (isspace((unsigned char)*v))
			v++;
		for (i = 0; i < NDIRECTIVES; i++)
			if (strcmp(p, directives[i].name) == 0)
				break;
		if (i == NDIRECTIVES) {
			snprintf(err, errsz, "%s:%d: unknown directive '%s'",
			    path, lineno, p);
			goto bad;
		}
		if (*v == '\0' || directives[i].set(c, v, directives[i].off,
		    directives[i].size) == -1) {
			snprintf(err, errsz, "%s:%d: bad value for '%s'", path,
			    lineno, p);
			goto bad;
		}
		seen[i] = 1;
	}
	fclose(fp);
	for (i = 0; i < NDIRECTIVES; i++)
		if (directives[i].required && !seen[i]) {
			snprintf(err, errsz, "%s: '%s' is required", path,
			    directives[i].name);
			return -1;
		}
	if (c->token_label[0] == '\0' && c->token_serial[0] == '\0') {
		snprintf(err, errsz, "%s: token-label or token-serial is "
		    "required", path);
		return -1;
	}
	if (c->workers > SIGNER_MAX_WORKERS) {
		snprintf(err, errsz, "%s: at most %d workers", path,
		    SIGNER_MAX_WORKERS);
		return -1;
	}
	return 0;
bad:
	fclose(fp);
	return -1;
}

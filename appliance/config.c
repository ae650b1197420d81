/*
 * config.c — ca.json: the fields p11ca-api needs, checked once at start.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appliance/config.h"
#include "policy/json.h"
#include "policy/provisioner.h"

static char *
read_all(const char *path, size_t *n)
{
	FILE	*fp;
	char	*buf;
	long	 len;

	if ((fp = fopen(path, "r")) == NULL)
		return NULL;
	if (fseek(fp, 0, SEEK_END) == -1 || (len = ftell(fp)) < 0 ||
	    len > (4 << 20) || fseek(fp, 0, SEEK_SET) == -1 ||
	    (buf = malloc(len + 1)) == NULL) {
		fclose(fp);
		errno = EFBIG;
		return NULL;
	}
	*n = fread(buf, 1, len, fp);
	buf[*n] = '\0';
	fclose(fp);
	return buf;
}

/* Copies a string member; required ones must be there and fit. */
static int
get(const cJSON *o, const char *name, char *dst, size_t dstsz, int required)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (v == NULL || cJSON_IsNull(v)) {
		dst[0] = '\0';
		return required ? -1 : 0;
	}
	if (!cJSON_IsString(v) || strlen(v->valuestring) >= dstsz ||
	    (required && v->valuestring[0] == '\0'))
		return -1;
	memcpy(dst, v->valuestring, strlen(v->valuestring) + 1);
	return 0;
}

/* A Go duration member, or def when absent; -1 when not one. */
static int
dur(const cJSON *o, const char *name, long def, long *out)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, name);

	*out = def;
	if (v == NULL)
		return 0;
	if (!cJSON_IsString(v) || duration_parse(v->valuestring, out) == -1 ||
	    *out <= 0)
		return -1;
	return 0;
}

/* insecureAddress, crl, ocsp and aia: what a relying party is told. */
static const char *
revocation(const cJSON *o, struct ca_config *c)
{
	const cJSON	*crl, *ocsp, *aia, *v;

	v = cJSON_GetObjectItemCaseSensitive(o, "maxConnections");
	c->max_conn = 1024;
	if (v != NULL) {
		if (!cJSON_IsNumber(v) || v->valuedouble < 1 ||
		    v->valuedouble > 1000000 ||
		    v->valuedouble != (int)v->valuedouble)
			return "maxConnections";
		c->max_conn = (int)v->valuedouble;
	}
	/* -1: one per CPU; 0: checks run on the loop; 16: WORKPOOL_MAX. */
	v = cJSON_GetObjectItemCaseSensitive(o, "verifyThreads");
	c->verify_threads = -1;
	if (v != NULL) {
		if (!cJSON_IsNumber(v) || v->valuedouble < 0 ||
		    v->valuedouble > 16 ||
		    v->valuedouble != (int)v->valuedouble)
			return "verifyThreads";
		c->verify_threads = (int)v->valuedouble;
	}
	if (get(o, "insecureAddress", c->insecure_address,
	    sizeof(c->insecure_address), 0) == -1)
		return "insecureAddress";
	crl = cJSON_GetObjectItemCaseSensitive(o, "crl");
	ocsp = cJSON_GetObjectItemCaseSensitive(o, "ocsp");
	aia = cJSON_GetObjectItemCaseSensitive(o, "aia");
	if ((crl != NULL && !cJSON_IsObject(crl)) ||
	    (ocsp != NULL && !cJSON_IsObject(ocsp)) ||
	    (aia != NULL && !cJSON_IsObject(aia)))
		return "crl / ocsp / aia";
	c->crl_enabled = 1;
	if ((v = cJSON_GetObjectItemCaseSensitive(crl, "enabled")) != NULL) {
		if (!cJSON_IsBool(v))
			return "crl.enabled";
		c->crl_enabled = cJSON_IsTrue(v);
	}
	if (dur(crl, "cacheDuration", 24 * 3600, &c->crl_cache) == -1)
		return "crl.cacheDuration";
	if (dur(crl, "renewPeriod", 16 * 3600, &c->crl_renew) == -1 ||
	    c->crl_renew >= c->crl_cache)
		return "crl.renewPeriod (less than cacheDuration)";
	if (get(crl, "idpURL", c->crl_url, sizeof(c->crl_url), 0) == -1)
		return "crl.idpURL";
	if (get(ocsp, "url", c->ocsp_url, sizeof(c->ocsp_url), 0) == -1)
		return "ocsp.url";
	if (dur(ocsp, "cacheDuration", 3600, &c->ocsp_cache) == -1)
		return "ocsp.cacheDuration";
	if (get(ocsp, "key", c->ocsp_key, sizeof(c->ocsp_key), 0) == -1)
		return "ocsp.key";
	if (get(aia, "caIssuers", c->issuer_url, sizeof(c->issuer_url), 0) ==
	    -1)
		return "aia.caIssuers";
	return NULL;
}

int
config_load(const char *path, struct ca_config *c, char *err, size_t errsz)
{
	const cJSON	*o, *d, *s, *t, *a;
	const char	*bad = NULL;
	char		*text;
	size_t		 n;

	memset(c, 0, sizeof(*c));
	snprintf(c->path, sizeof(c->path), "%s", path);
	if ((text = read_all(path, &n)) == NULL) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	c->json = json_parse(text, n, 0);
	free(text);
	if ((o = c->json) == NULL || !cJSON_IsObject(o)) {
		snprintf(err, errsz, "%s: not a JSON object", path);
		config_free(c);
		return -1;
	}
	if (get(o, "root", c->root, sizeof(c->root), 1) == -1)
		bad = "root";
	else if (get(o, "crt", c->crt, sizeof(c->crt), 1) == -1)
		bad = "crt";
	else if (get(o, "address", c->address, sizeof(c->address), 1) == -1)
		bad = "address";
	else if ((d = cJSON_GetObjectItemCaseSensitive(o, "dnsNames")) == NULL ||
	    !cJSON_IsArray(d) || cJSON_GetArraySize(d) == 0 ||
	    cJSON_GetArraySize(d) > CONFIG_MAX_DNS)
		bad = "dnsNames";
	else if ((s = cJSON_GetObjectItemCaseSensitive(o, "signer")) == NULL ||
	    get(s, "socket", c->signer_socket, sizeof(c->signer_socket), 1) ||
	    get(s, "key", c->signer_key, sizeof(c->signer_key), 1))
		bad = "signer.socket / signer.key";
	else if ((a = cJSON_GetObjectItemCaseSensitive(o, "authority")) ==
	    NULL || (c->provisioners = cJSON_GetObjectItemCaseSensitive(a,
	    "provisioners")) == NULL || !cJSON_IsArray(c->provisioners))
		bad = "authority.provisioners";
	if (bad == NULL) {
		cJSON_ArrayForEach(t, d) {
			if (!cJSON_IsString(t) || t->valuestring[0] == '\0') {
				bad = "dnsNames";
				break;
			}
			c->dns[c->ndns++] = t->valuestring;
		}
	}
	if (bad == NULL && (d = cJSON_GetObjectItemCaseSensitive(o, "db")))
		if (get(d, "dataSource", c->db, sizeof(c->db), 0) == -1)
			bad = "db.dataSource";
	if (bad == NULL && (t = cJSON_GetObjectItemCaseSensitive(o, "tls")))
		if (get(t, "crt", c->tls_crt, sizeof(c->tls_crt), 0) == -1 ||
		    get(t, "key", c->tls_key, sizeof(c->tls_key), 0) == -1 ||
		    (c->tls_crt[0] != '\0') != (c->tls_key[0] != '\0'))
			bad = "tls.crt / tls.key";
	if (bad == NULL && (t = cJSON_GetObjectItemCaseSensitive(o, "ssh")))
		if (!cJSON_IsObject(t) ||
		    get(t, "userPublicKey", c->ssh_user_pub,
		    sizeof(c->ssh_user_pub), 0) == -1 ||
		    get(t, "hostPublicKey", c->ssh_host_pub,
		    sizeof(c->ssh_host_pub), 0) == -1 ||
		    get(s, "sshUserKey", c->signer_ssh_user,
		    sizeof(c->signer_ssh_user), 0) == -1 ||
		    get(s, "sshHostKey", c->signer_ssh_host,
		    sizeof(c->signer_ssh_host), 0) == -1 ||
		    (c->ssh_user_pub[0] != '\0') !=
		    (c->signer_ssh_user[0] != '\0') ||
		    (c->ssh_host_pub[0] != '\0') !=
		    (c->signer_ssh_host[0] != '\0'))
			bad = "ssh.userPublicKey / ssh.hostPublicKey with "
			    "signer.sshUserKey / signer.sshHostKey";
	if (bad == NULL && dur(a, "maxTokenLifetime", 3600,
	    &c->max_token_life) == -1)
		bad = "authority.maxTokenLifetime";
	if (bad == NULL)
		bad = revocation(o, c);
	if (bad) {
		snprintf(err, errsz, "%s: missing or invalid \"%s\"", path, bad);
		config_free(c);
		return -1;
	}
	return 0;
}

void
config_free(struct ca_config *c)
{
	cJSON_Delete(c->json);
	c->json = c->provisioners = NULL;
	c->ndns = 0;
}

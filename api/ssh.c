/*
 * ssh.c — step-ca's SSH API with the CA keys in the token: /ssh/sign
 * (JWK tokens carrying step.ssh), /ssh/renew and /ssh/rekey (SSHPOP),
 * /ssh/revoke, /ssh/roots, /ssh/federation, /ssh/config, /ssh/check-host,
 * /ssh/hosts, and /ssh/krl (p11ca's: step-ca has no KRL).
 *
 *	parse -> token -> jti -> the body against the token and the claims
 *	-> certificate body (policy/ssh.c) -> signer, SSH_CERT (async)
 *	-> store (ssh_certs, group commit) -> 201 {"crt": base64 wire}
 *
 * The signer signs a body only with the SSH key it names, and only when
 * the body's signature key is that key (hsm/guard.c). Messages and shapes
 * follow step-ca's; the differences are in docs/decisions.md.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "api/api.h"
#include "api/signer_link.h"
#include "appliance/store.h"
#include "policy/jose.h"
#include "policy/json.h"
#include "policy/provisioner.h"
#include "policy/ssh.h"
#include "policy/token.h"

#define BACKDATE	60
#define MAX_PRINCIPALS	64

struct ssh_job {
	struct api		*a;
	struct evhttp_request	*req;
	const struct ssh_key	*ca;
	struct pbuf		 body;
	struct store_cert	 sc;
};

/* ---- keys ---- */

static struct ssh_key *
load_key(const char *path, char *err, size_t errsz)
{
	struct ssh_key	*k;
	char		 buf[16384], why[128];
	size_t		 n;
	FILE		*fp;

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errsz, "%s: %m", path);
		return NULL;
	}
	n = fread(buf, 1, sizeof(buf), fp);
	fclose(fp);
	if ((k = calloc(1, sizeof(*k))) == NULL ||
	    ssh_key_from_text(buf, n, k, why, sizeof(why)) == -1) {
		snprintf(err, errsz, "%s: %s", path, k ? why : "out of memory");
		free(k);
		return NULL;
	}
	return k;
}

int
ssh_start(struct api *a, char *err, size_t errsz)
{
	if (a->cfg.ssh_user_pub[0] != '\0' &&
	    (a->ssh_user = load_key(a->cfg.ssh_user_pub, err, errsz)) == NULL)
		return -1;
	if (a->cfg.ssh_host_pub[0] != '\0' &&
	    (a->ssh_host = load_key(a->cfg.ssh_host_pub, err, errsz)) == NULL)
		return -1;
	return 0;
}

void
ssh_stop(struct api *a)
{
	if (a->ssh_user != NULL)
		ssh_key_free(a->ssh_user);
	if (a->ssh_host != NULL)
		ssh_key_free(a->ssh_host);
	free(a->ssh_user);
	free(a->ssh_host);
	a->ssh_user = a->ssh_host = NULL;
}

static char *
b64(const uint8_t *p, size_t n)
{
	return jose_b64_encode(p, n);
}

/* Standard padded base64, as Go's []byte in JSON. */
static uint8_t *
unb64(const char *s, size_t *len)
{
	uint8_t	*out;

	return jose_b64_decode(s, strlen(s), SSH_MAX_BLOB, &out, len) == 0 ?
	    out : NULL;
}

/* A public key as step sends it (base64 wire), or as a .pub line. */
static int
body_key(const char *s, struct ssh_key *k, char *why, size_t whysz)
{
	uint8_t	*blob;
	size_t	 n;
	int	 rc;

	if (strchr(s, ' ') != NULL)
		return ssh_key_from_text(s, strlen(s), k, why, whysz);
	if ((blob = unb64(s, &n)) == NULL) {
		snprintf(why, whysz, "error decoding publicKey");
		return -1;
	}
	rc = ssh_key_from_blob(blob, n, k, why, whysz);
	free(blob);
	return rc;
}

/* ---- issuing ---- */

static void
job_free(struct ssh_job *j)
{
	pbuf_free(&j->body);
	free(j);
}

static void
on_stored(int result, void *arg)
{
	struct ssh_job	*j = arg;
	cJSON		*o;
	char		*crt;

	if (result == STORE_REVOKED || result == STORE_NOT_FOUND) {
		fprintf(stderr, "p11ca-api: ssh renew %s: %s\n",
		    j->sc.renewed_from, result == STORE_REVOKED ?
		    "certificate revoked" : "certificate unknown");
		reply_error(j->req, 401, api_unauthorized);
	} else if (result != STORE_OK)
		reply_error(j->req, 500, "The certificate authority encountered "
		    "an Internal Server Error. Please see the certificate "
		    "authority logs for more info.");
	else if ((crt = b64(j->body.data, j->body.len)) == NULL ||
	    (o = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(o, "crt", crt) == NULL) {
		free(crt);
		reply_error(j->req, 500, "out of memory");
	} else {
		free(crt);
		reply_json(j->req, 201, o);
	}
	job_free(j);
}

static void
on_signed(int status, const uint8_t *sig, size_t siglen, const char *msg,
    void *arg)
{
	struct ssh_job	*j = arg;
	char		 why[128];

	if (status != PROTO_OK) {
		fprintf(stderr, "p11ca-api: ssh sign %s: signer: %s\n",
		    j->sc.serial, msg ? msg : "failed");
		store_jti_release(j->a->store, j->sc.jti);
		if (status == PROTO_E_REFUSED)
			reply_forbidden(j->req, "the signer refused the certificate");
		else
			reply_error(j->req, 503, "The certificate authority is "
			    "temporarily unable to sign; try again.");
		job_free(j);
		return;
	}
	if (ssh_cert_finish(&j->body, j->ca, sig, siglen, why,
	    sizeof(why)) == -1) {
		fprintf(stderr, "p11ca-api: ssh sign %s: %s\n", j->sc.serial,
		    why);
		store_jti_release(j->a->store, j->sc.jti);
		reply_error(j->req, 500, "cannot assemble the certificate");
		job_free(j);
		return;
	}
	j->sc.der = j->body.data;
	j->sc.derlen = j->body.len;
	if (store_put_cert(j->a->store, &j->sc, on_stored, j) == -1) {
		store_jti_release(j->a->store, j->sc.jti);
		reply_error(j->req, 500, "cannot store the certificate");
		job_free(j);
	}
}

/* What a certificate will say; everything but the key is copied. */
struct ssh_want {
	const struct provisioner *prov;
	uint32_t	 type;
	const char	*key_id;
	const char	*principals[MAX_PRINCIPALS];
	size_t		 nprincipals;
	uint64_t	 after, before;
	const char	*jti;
	time_t		 jti_exp;	/* its token's exp */
	const char	*renewed_from;	/* NULL unless a renewal or rekey */
};

/*
 * Builds the body and sends it to the signer; answers in every case (the
 * jti, reserved by the caller, is given back on failure).
 */
static void
issue(struct api *a, struct evhttp_request *req, const struct ssh_want *w,
    const struct ssh_key *key)
{
	const struct ssh_key	*ca = w->type == SSH_CERT_HOST ? a->ssh_host :
	    a->ssh_user;
	const char		*name = w->type == SSH_CERT_HOST ?
	    a->cfg.signer_ssh_host : a->cfg.signer_ssh_user;
	struct ssh_cert_req	 r;
	struct ssh_job		*j;
	uint8_t			 nonce[SSH_NONCE_LEN];
	uint64_t		 serial;
	char			 why[160];
	size_t			 i;
	int			 alg;

	if ((j = calloc(1, sizeof(*j))) == NULL) {
		store_jti_release(a->store, w->jti);
		reply_error(req, 500, "out of memory");
		return;
	}
	pbuf_init(&j->body);
	j->a = a;
	j->req = req;
	j->ca = ca;
	snprintf(j->sc.jti, sizeof(j->sc.jti), "%s", w->jti ? w->jti : "");
	j->sc.jti_exp = w->jti_exp;
	do {
		if (RAND_bytes((uint8_t *)&serial, sizeof(serial)) != 1 ||
		    RAND_bytes(nonce, sizeof(nonce)) != 1)
			goto oom;
	} while (serial == 0);		/* a KRL cannot list serial 0 */
	r = (struct ssh_cert_req){ .key = key, .nonce = nonce,
	    .serial = serial, .type = w->type, .key_id = w->key_id,
	    .principals = w->principals, .nprincipals = w->nprincipals,
	    .valid_after = w->after, .valid_before = w->before, .ca = ca };
	if ((alg = ssh_sign_alg(ca)) == -1 ||
	    ssh_cert_body(&r, &j->body, why, sizeof(why)) == -1) {
		store_jti_release(a->store, w->jti);
		reply_forbidden(req, alg == -1 ? "unsupported CA key" : why);
		job_free(j);
		return;
	}
	snprintf(j->sc.serial, sizeof(j->sc.serial), "%llu",
	    (unsigned long long)serial);
	/* What is stored must be what was signed: never truncated. */
	if ((size_t)snprintf(j->sc.subject, sizeof(j->sc.subject), "%s",
	    w->key_id) >= sizeof(j->sc.subject)) {
		store_jti_release(a->store, w->jti);
		reply_forbidden(req, "ssh certificate key id is too long");
		job_free(j);
		return;
	}
	for (i = 0; i < w->nprincipals; i++) {
		size_t	 used = strlen(j->sc.sans);

		if ((size_t)snprintf(j->sc.sans + used, sizeof(j->sc.sans) -
		    used, "%s%s", i ? "," : "", w->principals[i]) >=
		    sizeof(j->sc.sans) - used) {
			store_jti_release(a->store, w->jti);
			reply_forbidden(req, "ssh certificate principals are too "
			    "many or too long");
			job_free(j);
			return;
		}
	}
	snprintf(j->sc.provisioner, sizeof(j->sc.provisioner), "%s",
	    w->prov ? w->prov->name : "");
	snprintf(j->sc.renewed_from, sizeof(j->sc.renewed_from), "%s",
	    w->renewed_from ? w->renewed_from : "");
	j->sc.ssh = 1;
	j->sc.ssh_type = (int)w->type;
	j->sc.not_before = (time_t)w->after;
	j->sc.not_after = (time_t)w->before;
	if (link_sign(a->link, name, KIND_SSH_CERT, (uint8_t)alg,
	    j->body.data, j->body.len, on_signed, j) == -1) {
		store_jti_release(a->store, w->jti);
		reply_error(req, 503, "The certificate authority is temporarily "
		    "unable to sign; try again.");
		job_free(j);
	}
	return;
oom:
	store_jti_release(a->store, w->jti);
	reply_error(req, 500, "out of memory");
	job_free(j);
}

/* ---- /ssh/sign ---- */

static const cJSON *
str_member(const cJSON *o, const char *name, int *bad)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (v != NULL && !cJSON_IsNull(v) && !cJSON_IsString(v))
		*bad = 1;
	return cJSON_IsString(v) ? v : NULL;
}

/* A validity bound: "" or absent keeps def; RFC 3339 or a duration. */
static int
bound(const cJSON *v, time_t now, uint64_t def, uint64_t *out)
{
	time_t	 t;

	*out = def;
	if (v == NULL || *v->valuestring == '\0')
		return 0;
	if (time_or_duration(v->valuestring, now, &t) == -1 || t < 0)
		return -1;
	*out = (uint64_t)t;
	return 0;
}

static int
cert_type(const char *s, uint32_t *type)
{
	if (s == NULL || *s == '\0')
		return 0;		/* keep what it is */
	if (strcmp(s, "user") == 0)
		*type = SSH_CERT_USER;
	else if (strcmp(s, "host") == 0)
		*type = SSH_CERT_HOST;
	else
		return -1;
	return 0;
}

/* Durations by the claims: min <= before - after <= max (+ backdate). */
static const char *
check_duration(const struct claims *cl, const struct ssh_want *w,
    char *why, size_t whysz)
{
	long	 min = w->type == SSH_CERT_HOST ? cl->min_host_ssh :
	    cl->min_user_ssh;
	long	 max = w->type == SSH_CERT_HOST ? cl->max_host_ssh :
	    cl->max_user_ssh;
	uint64_t d;

	if (w->before <= w->after)
		return "validBefore is not after validAfter";
	d = w->before - w->after;
	if (d < (uint64_t)min) {
		snprintf(why, whysz, "requested duration of %llus is less than "
		    "the authorized minimum certificate duration of %lds",
		    (unsigned long long)d, min);
		return why;
	}
	if (d > (uint64_t)max + BACKDATE) {
		snprintf(why, whysz, "requested duration of %llus is more than "
		    "the authorized maximum certificate duration of %lds",
		    (unsigned long long)d, max);
		return why;
	}
	return NULL;
}

/* 1 when every string of a is in b, ignoring case (step-ca's set test). */
static int
subset(const cJSON *a, const cJSON *b)
{
	const cJSON	*x, *y;
	int		 found;

	cJSON_ArrayForEach(x, a) {
		found = 0;
		cJSON_ArrayForEach(y, b)
			found |= cJSON_IsString(x) && cJSON_IsString(y) &&
			    strcasecmp(x->valuestring, y->valuestring) == 0;
		if (!found)
			return 0;
	}
	return 1;
}

/*
 * A principal goes into OpenSSH's certificate and, comma-joined, into the
 * store that /ssh/hosts and /ssh/check-host read: printable, no comma.
 */
static int
principal_ok(const char *p)
{
	size_t	 i, n = strlen(p);

	if (n == 0 || n > 255)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] <= ' ' || p[i] == ',' ||
		    (unsigned char)p[i] == 0x7f)
			return 0;
	return 1;
}

/*
 * The body's fields that must parse before the token is looked at (400
 * as step-ca's request validation): certType, validAfter, validBefore.
 */
static const char *
body_check(const cJSON *body, time_t now)
{
	const cJSON	*bt, *va, *vb, *bp;
	uint32_t	 type = 0;
	uint64_t	 t;
	int		 bad = 0;

	bt = str_member(body, "certType", &bad);
	va = str_member(body, "validAfter", &bad);
	vb = str_member(body, "validBefore", &bad);
	bp = cJSON_GetObjectItemCaseSensitive(body, "principals");
	if (bad || (bp != NULL && !cJSON_IsNull(bp) && !cJSON_IsArray(bp)) ||
	    (str_member(body, "keyID", &bad), bad))
		return "error reading request body";
	if (cert_type(bt ? bt->valuestring : NULL, &type) == -1)
		return "unknown certType";
	if (bound(va, now, 0, &t) == -1 || bound(vb, now, 0, &t) == -1)
		return "invalid validAfter or validBefore";
	return NULL;
}

/* A validity bound given by both token and body must be the same. */
static const char *
pick_bound(const cJSON *tv, const cJSON *bv, time_t now, uint64_t *out)
{
	uint64_t	 a = 0, b = 0;

	if (bound(tv, now, 0, &a) == -1 || bound(bv, now, 0, &b) == -1)
		return "invalid validAfter or validBefore";
	if (a != 0 && b != 0 && a != b)
		return "ssh certificate validity does not match";
	*out = a ? a : b;
	return NULL;
}

/*
 * The body's certType, keyID, principals and validity against the
 * token's step.ssh, as step-ca's SignSSHOptions.match: either may leave a
 * field empty, but when both give one they must agree (403 "... does not
 * match"); body principals must be among the token's (a set, case
 * ignored), and the certificate gets the token's. The body's keyID must
 * be the token's sub, as step-ca's JWK provisioner requires.
 */
static const char *
match_token(const cJSON *tok, const cJSON *body, const char *sub,
    struct ssh_want *w, time_t now)
{
	const cJSON	*tp = cJSON_GetObjectItemCaseSensitive(tok,
	    "principals"), *bp = cJSON_GetObjectItemCaseSensitive(body,
	    "principals"), *use, *v;
	const cJSON	*tt, *bt, *tk, *bk;
	const char	*e;
	uint32_t	 ttype = 0, btype = 0;
	long		 def;
	int		 bad = 0;

	tt = str_member(tok, "certType", &bad);
	bt = str_member(body, "certType", &bad);
	tk = str_member(tok, "keyID", &bad);
	bk = str_member(body, "keyID", &bad);
	if (bad || (tp != NULL && !cJSON_IsArray(tp)) ||
	    (bp != NULL && !cJSON_IsNull(bp) && !cJSON_IsArray(bp)))
		return "malformed step.ssh or request";
	if (cert_type(tt ? tt->valuestring : NULL, &ttype) == -1 ||
	    cert_type(bt ? bt->valuestring : NULL, &btype) == -1)
		return "unknown certType";
	if (ttype && btype && ttype != btype)
		return "ssh certificate type does not match";
	w->type = ttype ? ttype : btype ? btype : SSH_CERT_USER;
	if (tk && *tk->valuestring && bk && *bk->valuestring &&
	    strcmp(tk->valuestring, bk->valuestring) != 0)
		return "ssh certificate key id does not match";
	if (bk && *bk->valuestring && strcmp(bk->valuestring, sub) != 0)
		return "ssh certificate key id does not match the token's "
		    "subject";
	w->key_id = tk && *tk->valuestring ? tk->valuestring :
	    bk ? bk->valuestring : "";
	if (strlen(w->key_id) > 255)
		return "ssh certificate key id is too long";
	if (cJSON_GetArraySize(tp) > 0 && cJSON_GetArraySize(bp) > 0 &&
	    !subset(bp, tp))
		return "ssh certificate principals does not match";
	use = cJSON_GetArraySize(tp) > 0 ? tp : bp;
	w->nprincipals = 0;
	cJSON_ArrayForEach(v, use) {
		if (!cJSON_IsString(v) || !principal_ok(v->valuestring) ||
		    w->nprincipals == MAX_PRINCIPALS)
			return "invalid principals";
		w->principals[w->nprincipals++] = v->valuestring;
	}
	/* Stricter than step-ca: a certificate for any principal is not. */
	if (w->nprincipals == 0)
		return "ssh certificate has no principals";
	if ((e = pick_bound(str_member(tok, "validAfter", &bad),
	    str_member(body, "validAfter", &bad), now, &w->after)) != NULL ||
	    (e = pick_bound(str_member(tok, "validBefore", &bad),
	    str_member(body, "validBefore", &bad), now, &w->before)) != NULL)
		return e;
	if (bad)
		return "invalid validAfter or validBefore";
	def = w->type == SSH_CERT_HOST ? w->prov->claims.default_host_ssh :
	    w->prov->claims.default_user_ssh;
	if (w->after == 0)
		w->after = (uint64_t)(now - BACKDATE);
	if (w->before == 0)
		w->before = w->after + (uint64_t)def +
		    (w->after == (uint64_t)(now - BACKDATE) ? BACKDATE : 0);
	if (w->before <= (uint64_t)now)
		return "validBefore cannot be in the past";
	return NULL;
}

void
h_ssh_sign(struct api *a, struct evhttp_request *req, const char *rest)
{
	struct evbuffer		*in = evhttp_request_get_input_buffer(req);
	struct token_policy	 pol;
	struct token		 t;
	struct ssh_key		 key;
	struct ssh_want		 w;
	cJSON			*body;
	const cJSON		*pk, *ott, *ssh;
	const char		*e;
	char			 why[256];
	int			 k, bad = 0, reserved = 0;

	(void)rest;
	memset(&t, 0, sizeof(t));
	memset(&key, 0, sizeof(key));
	memset(&w, 0, sizeof(w));
	body = json_parse((const char *)evbuffer_pullup(in, -1),
	    evbuffer_get_length(in), 0);
	if (body == NULL || !cJSON_IsObject(body)) {
		reply_bad_request(req, "error reading request body");
		goto out;
	}
	pk = str_member(body, "publicKey", &bad);
	ott = str_member(body, "ott", &bad);
	if (bad) {
		reply_bad_request(req, "error reading request body");
		goto out;
	}
	if (pk == NULL || *pk->valuestring == '\0') {
		reply_bad_request(req, "missing or empty publicKey");
		goto out;
	}
	if (ott == NULL || *ott->valuestring == '\0') {
		reply_bad_request(req, "missing or empty ott");
		goto out;
	}
	if (body_key(pk->valuestring, &key, why, sizeof(why)) == -1) {
		reply_bad_request(req, "error parsing publicKey");
		goto out;
	}
	if ((e = body_check(body, time(NULL))) != NULL) {
		reply_bad_request(req, e);
		goto out;
	}
	api_policy(a, &pol);
	if (token_verify(ott->valuestring, AUD_SSH_SIGN, &pol, &t, why,
	    sizeof(why)) == -1) {
		fprintf(stderr, "p11ca-api: ssh sign: token refused: %s\n", why);
		reply_error(req, 401, api_unauthorized);
		goto out;
	}
	ssh = t.step ? cJSON_GetObjectItemCaseSensitive(t.step, "ssh") : NULL;
	if (!cJSON_IsObject(ssh) || !t.prov->claims.enable_ssh) {
		fprintf(stderr, "p11ca-api: ssh sign: %s\n", !cJSON_IsObject(ssh) ?
		    "not an SSH provisioning token" : "SSH CA disabled for the "
		    "provisioner");
		reply_error(req, 401, api_unauthorized);
		goto out;
	}
	if ((k = store_jti_reserve(a->store, t.jti)) != 0) {
		reply_error(req, k == 1 ? 401 : 500, k == 1 ? api_unauthorized :
		    "cannot record the token");
		goto out;
	}
	reserved = 1;
	w.prov = t.prov;
	w.jti = t.jti;
	w.jti_exp = t.exp;
	if ((e = match_token(ssh, body, t.sub, &w, pol.now)) != NULL ||
	    (e = check_duration(&t.prov->claims, &w, why, sizeof(why))) !=
	    NULL) {
		reply_forbidden(req, e);
		goto out;
	}
	if ((w.type == SSH_CERT_HOST ? a->ssh_host : a->ssh_user) == NULL) {
		reply_error(req, 501, "The requested method is not implemented "
		    "by the certificate authority: no SSH CA key for this "
		    "certificate type.");
		goto out;
	}
	reserved = 0;		/* issue() gives it back on failure */
	issue(a, req, &w, &key);
out:
	if (reserved)
		store_jti_release(a->store, t.jti);
	ssh_key_free(&key);
	token_free(&t);
	cJSON_Delete(body);
}

/* ---- SSHPOP: /ssh/renew, /ssh/rekey ---- */

/*
 * The SSHPOP token of a renewal or rekey: 0 with the certificate and the
 * token (its jti reserved), or answered and -1.
 */
static int
sshpop(struct api *a, struct evhttp_request *req, const char *ott,
    enum token_aud aud, struct token *t, struct ssh_cert *c)
{
	const struct ssh_key	*cas[2] = { a->ssh_user, a->ssh_host };
	struct token_policy	 pol;
	struct store_record	 rec;
	char			 why[160], key[80];
	int			 k;

	api_policy(a, &pol);
	if (token_verify_sshpop(ott, aud, &pol, cas, 2, t, c, why,
	    sizeof(why)) == -1) {
		fprintf(stderr, "p11ca-api: sshpop: token refused: %s\n", why);
		reply_error(req, 401, api_unauthorized);
		return -1;
	}
	snprintf(key, sizeof(key), "%llu", (unsigned long long)c->serial);
	if ((k = store_get(a->store, 1, key, &rec)) == 0) {
		k = rec.revoked_at != 0 ? 2 : 0;
		store_record_free(&rec);
	}
	if (k != 0) {
		fprintf(stderr, "p11ca-api: sshpop: certificate %s %s\n", key,
		    k == 2 ? "revoked" : "unknown");
		reply_error(req, k == -1 ? 503 : 401, k == -1 ?
		    "The certificate authority cannot read its store now; try "
		    "again." : api_unauthorized);
		goto fail;
	}
	if ((k = store_jti_reserve(a->store, t->jti)) != 0) {
		reply_error(req, k == 1 ? 401 : 500, k == 1 ? api_unauthorized :
		    "cannot record the token");
		goto fail;
	}
	return 0;
fail:
	token_free(t);
	ssh_cert_free(c);
	return -1;
}

/*
 * Renew (newkey NULL) or rekey: the same type, key id and principals,
 * the same duration from now. As step-ca, only host certificates.
 */
static void
renew(struct api *a, struct evhttp_request *req, const char *rest,
    int rekey)
{
	struct evbuffer	*in = evhttp_request_get_input_buffer(req);
	struct token	 t;
	struct ssh_cert	 c;
	struct ssh_key	 key;
	struct ssh_want	 w;
	cJSON		*body;
	const cJSON	*ott, *pk = NULL;
	char		 why[160], old[80];
	time_t		 now = time(NULL);
	size_t		 i;
	int		 bad = 0, have = 0;

	(void)rest;
	memset(&key, 0, sizeof(key));
	memset(&w, 0, sizeof(w));
	body = json_parse((const char *)evbuffer_pullup(in, -1),
	    evbuffer_get_length(in), 0);
	ott = str_member(body, "ott", &bad);
	if (rekey)
		pk = str_member(body, "publicKey", &bad);
	if (body == NULL || !cJSON_IsObject(body) || bad) {
		reply_bad_request(req, "error reading request body");
		goto out;
	}
	if (ott == NULL || *ott->valuestring == '\0') {
		reply_bad_request(req, "missing or empty ott");
		goto out;
	}
	if (rekey && (pk == NULL || body_key(pk->valuestring, &key, why,
	    sizeof(why)) == -1)) {
		reply_bad_request(req, "missing or invalid publicKey");
		goto out;
	}
	if (sshpop(a, req, ott->valuestring, rekey ? AUD_SSH_REKEY :
	    AUD_SSH_RENEW, &t, &c) == -1)
		goto out;
	have = 1;
	if (c.type != SSH_CERT_HOST || c.nprincipals == 0 ||
	    c.nprincipals > MAX_PRINCIPALS) {
		fprintf(stderr, "p11ca-api: ssh %s: only host certificates "
		    "with principals\n", rekey ? "rekey" : "renew");
		store_jti_release(a->store, t.jti);
		reply_error(req, 401, api_unauthorized);
		goto out;
	}
	snprintf(old, sizeof(old), "%llu", (unsigned long long)c.serial);
	w.prov = t.prov;
	w.type = c.type;
	w.key_id = c.key_id;
	for (i = 0; i < c.nprincipals; i++)
		w.principals[i] = c.principals[i];
	w.nprincipals = c.nprincipals;
	w.after = (uint64_t)(now - BACKDATE);
	w.before = w.after + (c.valid_before - c.valid_after);
	w.jti = t.jti;
	w.jti_exp = t.exp;
	w.renewed_from = old;
	issue(a, req, &w, rekey ? &key : &c.key);
out:
	if (have) {
		token_free(&t);
		ssh_cert_free(&c);
	}
	ssh_key_free(&key);
	cJSON_Delete(body);
}

void
h_ssh_renew(struct api *a, struct evhttp_request *req, const char *rest)
{
	renew(a, req, rest, 0);
}

void
h_ssh_rekey(struct api *a, struct evhttp_request *req, const char *rest)
{
	renew(a, req, rest, 1);
}

/* ---- /ssh/revoke ---- */

struct revoke_job {
	struct api		*a;
	struct evhttp_request	*req;
	struct store_revoke	 r;
};

static void
on_revoked(int result, void *arg)
{
	struct revoke_job	*j = arg;
	cJSON			*o;
	char			 m[160];

	if (result == STORE_OK) {
		fprintf(stderr, "p11ca-api: revoked ssh %s (reason %d)\n",
		    j->r.serial, j->r.reason);
		if ((o = cJSON_CreateObject()) == NULL ||
		    cJSON_AddStringToObject(o, "status", "ok") == NULL) {
			cJSON_Delete(o);
			reply_error(j->req, 500, "out of memory");
		} else
			reply_json(j->req, 200, o);
	} else if (result == STORE_ALREADY) {
		snprintf(m, sizeof(m), "certificate with serial number '%s' is "
		    "already revoked", j->r.serial);
		reply_bad_request(j->req, m);
	} else if (result == STORE_NOT_FOUND)
		reply_error(j->req, 404, api_not_found);
	else if (result == STORE_DUP)
		reply_error(j->req, 401, api_unauthorized);
	else
		reply_error(j->req, 503, "The certificate authority cannot "
		    "record the revocation now; try again.");
	free(j);
}

void
h_ssh_revoke(struct api *a, struct evhttp_request *req, const char *rest)
{
	const struct ssh_key	*cas[2] = { a->ssh_user, a->ssh_host };
	struct evbuffer		*in = evhttp_request_get_input_buffer(req);
	struct token_policy	 pol;
	struct token		 t;
	struct ssh_cert		 c;
	struct revoke_job	*j;
	cJSON			*body;
	const cJSON		*serial, *ott, *code, *reason, *passive;
	char			 why[160], why2[160], *end;
	unsigned long long	 sn;
	int			 k, ok = 0;

	(void)rest;
	memset(&t, 0, sizeof(t));
	body = json_parse((const char *)evbuffer_pullup(in, -1),
	    evbuffer_get_length(in), 0);
	serial = cJSON_GetObjectItemCaseSensitive(body, "serial");
	ott = cJSON_GetObjectItemCaseSensitive(body, "ott");
	code = cJSON_GetObjectItemCaseSensitive(body, "reasonCode");
	reason = cJSON_GetObjectItemCaseSensitive(body, "reason");
	passive = cJSON_GetObjectItemCaseSensitive(body, "passive");
	if (body == NULL || !cJSON_IsObject(body) ||
	    (ott != NULL && !cJSON_IsString(ott)) ||
	    (code != NULL && !cJSON_IsNumber(code)) ||
	    (reason != NULL && !cJSON_IsString(reason)) ||
	    (passive != NULL && !cJSON_IsBool(passive))) {
		reply_bad_request(req, "error reading request body");
		goto out;
	}
	if (!cJSON_IsString(serial) || *serial->valuestring == '\0') {
		reply_bad_request(req, "missing serial");
		goto out;
	}
	errno = 0;
	sn = strtoull(serial->valuestring, &end, 10);
	if (*end != '\0' || errno == ERANGE || serial->valuestring[0] < '1' ||
	    serial->valuestring[0] > '9') {
		reply_bad_request(req, "invalid serial number");
		goto out;
	}
	if (code != NULL && (code->valuedouble != (int)code->valuedouble ||
	    code->valueint < 0 || code->valueint > 10 ||
	    code->valueint == 7)) {
		reply_bad_request(req, "reasonCode out of bounds");
		goto out;
	}
	if (!cJSON_IsTrue(passive)) {
		reply_error(req, 501, "The requested method is not "
		    "implemented by the certificate authority. Please see the "
		    "certificate authority logs for more info.");
		goto out;
	}
	if (ott == NULL || *ott->valuestring == '\0') {
		reply_bad_request(req, "missing ott");
		goto out;
	}
	/* A provisioner's one-time token, or the certificate's own key. */
	api_policy(a, &pol);
	if (token_verify(ott->valuestring, AUD_SSH_REVOKE, &pol, &t, why,
	    sizeof(why)) == 0) {
		/* Stricter than step-ca: the token names this serial. */
		if (strcmp(t.sub, serial->valuestring) != 0)
			snprintf(why, sizeof(why), "token sub is not the serial");
		else
			ok = 1;
	} else if (token_verify_sshpop(ott->valuestring, AUD_SSH_REVOKE, &pol,
	    cas, 2, &t, &c, why2, sizeof(why2)) == 0) {
		if (c.serial != sn)
			snprintf(why, sizeof(why), "sshpop certificate is not "
			    "the one to revoke");
		else if (strcmp(t.sub, serial->valuestring) != 0)
			snprintf(why, sizeof(why), "sshpop token sub is not the "
			    "serial");
		else
			ok = 1;
		ssh_cert_free(&c);
	} else
		fprintf(stderr, "p11ca-api: ssh revoke: not an SSHPOP token "
		    "either: %s\n", why2);
	if (!ok) {
		fprintf(stderr, "p11ca-api: ssh revoke: token refused: %s\n",
		    why);
		reply_error(req, 401, api_unauthorized);
		goto out;
	}
	if ((k = store_jti_reserve(a->store, t.jti)) != 0) {
		reply_error(req, k == 1 ? 401 : 500, k == 1 ? api_unauthorized :
		    "cannot record the token");
		goto out;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		store_jti_release(a->store, t.jti);
		reply_error(req, 500, "out of memory");
		goto out;
	}
	j->a = a;
	j->req = req;
	snprintf(j->r.serial, sizeof(j->r.serial), "%llu", sn);
	j->r.ssh = 1;
	j->r.reason = code ? code->valueint : 0;
	snprintf(j->r.reason_text, sizeof(j->r.reason_text), "%s",
	    reason ? reason->valuestring : "");
	snprintf(j->r.jti, sizeof(j->r.jti), "%s", t.jti);
	j->r.jti_exp = t.exp;
	if (store_put_revoke(a->store, &j->r, on_revoked, j) == -1) {
		store_jti_release(a->store, t.jti);
		free(j);
		reply_error(req, 503, "The certificate authority cannot record "
		    "the revocation now; try again.");
	}
out:
	token_free(&t);
	cJSON_Delete(body);
}

/* ---- keys and configuration ---- */

static int
add_key(cJSON *o, const char *name, const struct ssh_key *k)
{
	cJSON	*arr;
	char	*s;

	if (k == NULL)
		return 0;
	if ((arr = cJSON_AddArrayToObject(o, name)) == NULL ||
	    (s = b64(k->blob, k->bloblen)) == NULL)
		return -1;
	if (!cJSON_AddItemToArray(arr, cJSON_CreateString(s))) {
		free(s);
		return -1;
	}
	free(s);
	return 0;
}

/* /ssh/roots and /ssh/federation (no federated SSH CAs yet: the same). */
void
h_ssh_roots(struct api *a, struct evhttp_request *req, const char *rest)
{
	cJSON	*o;

	(void)rest;
	if (a->ssh_user == NULL && a->ssh_host == NULL) {
		reply_error(req, 404, api_not_found);
		return;
	}
	if ((o = cJSON_CreateObject()) == NULL ||
	    add_key(o, "userKey", a->ssh_user) == -1 ||
	    add_key(o, "hostKey", a->ssh_host) == -1) {
		cJSON_Delete(o);
		reply_error(req, 500, "out of memory");
		return;
	}
	reply_json(req, 200, o);
}

/* "type base64" of a key, for known_hosts and ca.pub. */
static int
key_line(const struct ssh_key *k, char *out, size_t outsz)
{
	char	*s;
	int	 n;

	if (k == NULL || (s = b64(k->blob, k->bloblen)) == NULL)
		return -1;
	n = snprintf(out, outsz, "%s %s", k->name, s);
	free(s);
	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

static int
add_template(cJSON *arr, const char *name, const char *type,
    const char *path, const char *content)
{
	cJSON	*t;
	char	*c;

	if ((t = cJSON_CreateObject()) == NULL ||
	    !cJSON_AddItemToArray(arr, t) ||
	    (c = b64((const uint8_t *)content, strlen(content))) == NULL)
		return -1;
	if (cJSON_AddStringToObject(t, "name", name) == NULL ||
	    cJSON_AddStringToObject(t, "type", type) == NULL ||
	    cJSON_AddStringToObject(t, "path", path) == NULL ||
	    cJSON_AddStringToObject(t, "comment", "#") == NULL ||
	    cJSON_AddStringToObject(t, "content", c) == NULL) {
		free(c);
		return -1;
	}
	free(c);
	return 0;
}

/* A data member of the request, or def (file names, not paths). */
static const char *
datum(const cJSON *data, const char *name, const char *def)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(data, name);

	if (!cJSON_IsString(v) || *v->valuestring == '\0' ||
	    strpbrk(v->valuestring, "/\n\r\t ") != NULL)
		return def;
	return v->valuestring;
}

/*
 * step-ca's default templates, rendered: for users an ssh_config snippet
 * and a known_hosts line trusting the host CA; for hosts an sshd_config
 * snippet and the user CA key as /etc/ssh/ca.pub.
 */
void
h_ssh_config(struct api *a, struct evhttp_request *req, const char *rest)
{
	struct evbuffer	*in = evhttp_request_get_input_buffer(req);
	cJSON		*body, *o = NULL, *arr;
	const cJSON	*type, *data;
	char		 line[4096], text[8192];
	int		 host, rc = -1;

	(void)rest;
	body = json_parse((const char *)evbuffer_pullup(in, -1),
	    evbuffer_get_length(in), 0);
	type = cJSON_GetObjectItemCaseSensitive(body, "type");
	data = cJSON_GetObjectItemCaseSensitive(body, "data");
	if (body == NULL || !cJSON_IsObject(body) ||
	    (type != NULL && !cJSON_IsString(type))) {
		reply_bad_request(req, "error reading request body");
		goto out;
	}
	if (type == NULL || *type->valuestring == '\0' ||
	    strcmp(type->valuestring, "user") == 0)
		host = 0;
	else if (strcmp(type->valuestring, "host") == 0)
		host = 1;
	else {
		snprintf(line, sizeof(line), "unsupported type %.64s",
		    type->valuestring);
		reply_bad_request(req, line);
		goto out;
	}
	if (key_line(host ? a->ssh_user : a->ssh_host, line,
	    sizeof(line)) == -1) {
		reply_error(req, 404, api_not_found);
		goto out;
	}
	if ((o = cJSON_CreateObject()) == NULL || (arr =
	    cJSON_AddArrayToObject(o, host ? "hostTemplates" :
	    "userTemplates")) == NULL)
		goto oom;
	if (host) {
		snprintf(text, sizeof(text), "Match all\n"
		    "\tTrustedUserCAKeys /etc/ssh/ca.pub\n"
		    "\tHostCertificate /etc/ssh/%s\n"
		    "\tHostKey /etc/ssh/%s\n",
		    datum(data, "Certificate", "ssh_host_ecdsa_key-cert.pub"),
		    datum(data, "Key", "ssh_host_ecdsa_key"));
		if (add_template(arr, "sshd_config.tpl", "snippet",
		    "/etc/ssh/sshd_config", text) == -1)
			goto oom;
		snprintf(text, sizeof(text), "%s\n", line);
		if (add_template(arr, "ca.tpl", "snippet", "/etc/ssh/ca.pub",
		    text) == -1)
			goto oom;
	} else {
		snprintf(text, sizeof(text), "Host *\n"
		    "\tUserKnownHostsFile ~/.ssh/known_hosts "
		    "~/.step/ssh/known_hosts\n");
		if (add_template(arr, "config.tpl", "snippet", "~/.ssh/config",
		    text) == -1)
			goto oom;
		snprintf(text, sizeof(text), "@cert-authority * %s\n", line);
		if (add_template(arr, "known_hosts.tpl", "file",
		    "ssh/known_hosts", text) == -1)
			goto oom;
	}
	reply_json(req, 200, o);
	o = NULL;
	rc = 0;
oom:
	if (rc == -1)
		reply_error(req, 500, "out of memory");
	cJSON_Delete(o);
out:
	cJSON_Delete(body);
}

/* 1 when host is one of the comma-separated principals. */
static int
among(const char *list, const char *host)
{
	size_t	 n = strlen(host);
	const char *p = list, *c;

	for (;;) {
		c = strchr(p, ',');
		if ((size_t)((c ? c : p + strlen(p)) - p) == n &&
		    strncmp(p, host, n) == 0)
			return 1;
		if (c == NULL)
			return 0;
		p = c + 1;
	}
}

void
h_ssh_check_host(struct api *a, struct evhttp_request *req,
    const char *rest)
{
	struct evbuffer	*in = evhttp_request_get_input_buffer(req);
	cJSON		*body, *o;
	const cJSON	*type, *principal;
	char		**hosts;
	size_t		 n, i;
	int		 exists = 0;

	(void)rest;
	body = json_parse((const char *)evbuffer_pullup(in, -1),
	    evbuffer_get_length(in), 0);
	type = cJSON_GetObjectItemCaseSensitive(body, "type");
	principal = cJSON_GetObjectItemCaseSensitive(body, "principal");
	if (body == NULL || !cJSON_IsObject(body)) {
		reply_bad_request(req, "error reading request body");
		goto out;
	}
	if (!cJSON_IsString(type) || strcmp(type->valuestring, "host") != 0) {
		reply_bad_request(req, "unsupported type");
		goto out;
	}
	if (!cJSON_IsString(principal) || *principal->valuestring == '\0') {
		reply_bad_request(req, "missing or empty principal");
		goto out;
	}
	if (store_ssh_hosts(a->store, time(NULL), &hosts, &n) == -1) {
		reply_error(req, 500, "cannot read the store");
		goto out;
	}
	for (i = 0; i < n; i++) {
		exists |= among(hosts[i], principal->valuestring);
		free(hosts[i]);
	}
	free(hosts);
	if ((o = cJSON_CreateObject()) == NULL ||
	    cJSON_AddBoolToObject(o, "exists", exists) == NULL) {
		cJSON_Delete(o);
		reply_error(req, 500, "out of memory");
		goto out;
	}
	reply_json(req, 200, o);
out:
	cJSON_Delete(body);
}

/* As step-ca: for a client with a certificate of this CA (mTLS). */
void
h_ssh_hosts(struct api *a, struct evhttp_request *req, const char *rest)
{
	cJSON	*o, *arr, *h;
	char	**hosts, *p, *c;
	size_t	 n, i, j;
	int	 dup;

	(void)rest;
	if (client_cert(req) == NULL) {
		reply_error(req, 401, api_unauthorized);
		return;
	}
	if (store_ssh_hosts(a->store, time(NULL), &hosts, &n) == -1) {
		reply_error(req, 500, "cannot read the store");
		return;
	}
	if ((o = cJSON_CreateObject()) == NULL ||
	    (arr = cJSON_AddArrayToObject(o, "hosts")) == NULL)
		goto oom;
	for (i = 0; i < n; i++)
		for (p = hosts[i]; p != NULL; p = c ? c + 1 : NULL) {
			if ((c = strchr(p, ',')) != NULL)
				*c = '\0';
			dup = 0;
			for (j = 0; j < (size_t)cJSON_GetArraySize(arr); j++)
				dup |= strcmp(cJSON_GetObjectItemCaseSensitive(
				    cJSON_GetArrayItem(arr, (int)j),
				    "hostname")->valuestring, p) == 0;
			if (dup || *p == '\0')
				continue;
			if ((h = cJSON_CreateObject()) == NULL ||
			    !cJSON_AddItemToArray(arr, h) ||
			    cJSON_AddStringToObject(h, "hid", "") == NULL ||
			    cJSON_AddArrayToObject(h, "host_tags") == NULL ||
			    cJSON_AddStringToObject(h, "hostname", p) == NULL)
				goto oom;
		}
	reply_json(req, 200, o);
	o = NULL;
	goto out;
oom:
	reply_error(req, 500, "out of memory");
out:
	cJSON_Delete(o);
	for (i = 0; i < n; i++)
		free(hosts[i]);
	free(hosts);
}

/*
 * GET /ssh/krl: an OpenSSH KRL of every revoked, unexpired SSH serial,
 * under each CA key (serials are random 64-bit numbers: one list serves
 * both). Made per request from the store, so a revocation is in the next
 * KRL fetched; krl_version is the time it was made.
 */
void
h_ssh_krl(struct api *a, struct evhttp_request *req, const char *rest)
{
	struct store_revoked *rv;
	struct ssh_krl_ca cas[2];
	struct ssh_krl	 krl;
	struct pbuf	 out;
	uint64_t	*serials = NULL;
	size_t		 n, i, ncas = 0;
	time_t		 now = time(NULL);
	char		 why[128], *end;

	(void)rest;
	if (a->ssh_user == NULL && a->ssh_host == NULL) {
		reply_error(req, 404, "not found");
		return;
	}
	if (store_list_revoked(a->store, 1, now, &rv, &n) == -1) {
		reply_error(req, 500, "cannot read the store");
		return;
	}
	pbuf_init(&out);
	if (n > 0 && (serials = calloc(n, sizeof(*serials))) == NULL)
		goto oom;
	for (i = 0; i < n; i++)
		serials[i] = strtoull(rv[i].serial, &end, 10);
	if (a->ssh_user != NULL)
		cas[ncas++] = (struct ssh_krl_ca){ a->ssh_user->blob,
		    a->ssh_user->bloblen, serials, n };
	if (a->ssh_host != NULL)
		cas[ncas++] = (struct ssh_krl_ca){ a->ssh_host->blob,
		    a->ssh_host->bloblen, serials, n };
	krl = (struct ssh_krl){ .version = (uint64_t)now,
	    .generated = (uint64_t)now, .comment = "p11ca", .cas = cas,
	    .ncas = n > 0 ? ncas : 0 };
	if (ssh_krl_encode(&krl, &out, why, sizeof(why)) == -1) {
		fprintf(stderr, "p11ca-api: krl: %s\n", why);
		goto oom;
	}
	reply_text(req, 200, "application/octet-stream",
	    (const char *)out.data, out.len);
	goto done;
oom:
	reply_error(req, 500, "cannot make the KRL");
done:
	pbuf_free(&out);
	free(serials);
	free(rv);
}

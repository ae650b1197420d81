/*
 * revoke.c — POST /revoke: by a one-time token (aud .../revoke, sub = the
 * serial) or by mTLS with the certificate itself. Durable before 200; then
 * the CRL is made again and the serial's cached OCSP answer dropped.
 *
 * Stricter than step-ca (docs/decisions.md): the token's sub must be the
 * serial asked for (step-ca's JWK provisioner does not compare them), and
 * an unknown serial is 404 rather than a revocation of nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "api/api.h"
#include "appliance/store.h"
#include "policy/json.h"
#include "policy/token.h"

struct revoke_job {
	struct api		*a;
	struct evhttp_request	*req;
	struct store_revoke	 r;
	char			 serial[80];	/* as the client wrote it */
};

static void
on_revoked(int result, void *arg)
{
	struct revoke_job	*j = arg;
	cJSON			*o;
	char			 m[256];

	switch (result) {
	case STORE_OK:
		fprintf(stderr, "p11ca-api: revoked %s (reason %d)\n",
		    j->r.serial, j->r.reason);
		ocsp_revoked(j->a, j->r.serial);
		crl_revoked(j->a);
		if ((o = cJSON_CreateObject()) == NULL ||
		    cJSON_AddStringToObject(o, "status", "ok") == NULL) {
			cJSON_Delete(o);
			reply_error(j->req, 500, "out of memory");
		} else
			reply_json(j->req, 200, o);
		break;
	case STORE_ALREADY:
		snprintf(m, sizeof(m), "certificate with serial number '%s' "
		    "is already revoked", j->serial);
		reply_bad_request(j->req, m);
		break;
	case STORE_NOT_FOUND:
		reply_error(j->req, 404, api_not_found);
		break;
	case STORE_DUP:
		reply_error(j->req, 401, api_unauthorized);	/* token used */
		break;
	default:
		reply_error(j->req, 503, "The certificate authority cannot "
		    "record the revocation now; try again.");
	}
	free(j);
}

void
h_revoke(struct api *a, struct evhttp_request *req, const char *rest)
{
	struct evbuffer		*in = evhttp_request_get_input_buffer(req);
	struct token_policy	 pol;
	struct token		 t;
	struct revoke_job	*j = NULL;
	cJSON			*body;
	const cJSON		*serial, *ott, *code, *reason, *passive;
	X509			*peer;
	char			 key[80], peerkey[80], w[256];
	int			 rc, reserved = 0;

	(void)rest;
	memset(&t, 0, sizeof(t));
	body = json_parse((const char *)evbuffer_pullup(in, -1),
	    evbuffer_get_length(in), 0);
	if (body == NULL || !cJSON_IsObject(body)) {
		reply_bad_request(req, "error decoding json");
		goto out;
	}
	serial = cJSON_GetObjectItemCaseSensitive(body, "serial");
	ott = cJSON_GetObjectItemCaseSensitive(body, "ott");
	code = cJSON_GetObjectItemCaseSensitive(body, "reasonCode");
	reason = cJSON_GetObjectItemCaseSensitive(body, "reason");
	passive = cJSON_GetObjectItemCaseSensitive(body, "passive");
	if ((ott != NULL && !cJSON_IsString(ott)) ||
	    (code != NULL && !cJSON_IsNumber(code)) ||
	    (reason != NULL && !cJSON_IsString(reason)) ||
	    (passive != NULL && !cJSON_IsBool(passive))) {
		reply_bad_request(req, "error decoding json");
		goto out;
	}
	if (!cJSON_IsString(serial) || *serial->valuestring == '\0') {
		reply_bad_request(req, "missing serial");
		goto out;
	}
	/* RFC 5280 5.3.1: 0-10, 7 unused. */
	if (code != NULL && (code->valuedouble != (int)code->valuedouble ||
	    code->valueint < 0 || code->valueint > 10 ||
	    code->valueint == 7)) {
		reply_bad_request(req, "reasonCode out of bounds");
		goto out;
	}
	/*
	 * As step-ca: only passive revocation (the CA's own records), and
	 * an absent passive is false, as Go decodes it.
	 */
	if (!cJSON_IsTrue(passive)) {
		reply_error(req, 501, "The requested method is not "
		    "implemented by the certificate authority. Please see the "
		    "certificate authority logs for more info.");
		goto out;
	}
	if (serial_key_dec(serial->valuestring, key) == -1) {
		reply_bad_request(req, "invalid serial number");
		goto out;
	}
	if (ott != NULL && *ott->valuestring != '\0') {
		api_policy(a, &pol);
		if (token_verify(ott->valuestring, AUD_REVOKE, &pol, &t, w,
		    sizeof(w)) == -1) {
			fprintf(stderr, "p11ca-api: revoke: token refused: "
			    "%s\n", w);
			reply_error(req, 401, api_unauthorized);
			goto out;
		}
		/* Stricter than step-ca: the token names this serial. */
		if (serial_key_dec(t.sub, peerkey) == -1 ||
		    strcmp(peerkey, key) != 0) {
			fprintf(stderr, "p11ca-api: revoke: token sub %s is not "
			    "serial %s\n", t.sub, serial->valuestring);
			reply_error(req, 401, api_unauthorized);
			goto out;
		}
		if ((rc = store_jti_reserve(a->store, t.jti)) != 0) {
			reply_error(req, rc == 1 ? 401 : 500, rc == 1 ?
			    api_unauthorized : "cannot record the token");
			goto out;
		}
		reserved = 1;
	} else if ((peer = client_cert(req)) != NULL) {
		if (serial_key(X509_get0_serialNumber(peer), peerkey) == -1 ||
		    strcmp(peerkey, key) != 0) {
			reply_bad_request(req, "serial number in client certificate "
			    "different than body");
			goto out;
		}
	} else {
		reply_bad_request(req, "missing ott or client certificate");
		goto out;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		reply_error(req, 500, "out of memory");
		goto out;
	}
	j->a = a;
	j->req = req;
	snprintf(j->serial, sizeof(j->serial), "%s", serial->valuestring);
	snprintf(j->r.serial, sizeof(j->r.serial), "%s", key);
	j->r.reason = code ? code->valueint : 0;
	snprintf(j->r.reason_text, sizeof(j->r.reason_text), "%s",
	    reason ? reason->valuestring : "");
	snprintf(j->r.jti, sizeof(j->r.jti), "%s", reserved ? t.jti : "");
	j->r.jti_exp = reserved ? t.exp : 0;
	if (store_put_revoke(a->store, &j->r, on_revoked, j) == -1) {
		free(j);
		reply_error(req, 503, "The certificate authority cannot record "
		    "the revocation now; try again.");
		goto out;
	}
	reserved = 0;	/* the store settles the jti now */
out:
	if (reserved)
		store_jti_release(a->store, t.jti);
	token_free(&t);
	cJSON_Delete(body);
}

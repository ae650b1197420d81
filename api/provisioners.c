/*
 * provisioners.c — GET /provisioners (paged as step-ca pages it) and
 * GET /provisioners/{kid}/encrypted-key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/evp.h>

#include "api/api.h"
#include "policy/provisioner.h"

/* An opaque cursor: step clients only hand it back. */
static void
cursor_of(const cJSON *p, char out[33])
{
	const cJSON	*name = cJSON_GetObjectItemCaseSensitive(p, "name");
	const cJSON	*key = cJSON_GetObjectItemCaseSensitive(p, "key");
	const cJSON	*kid = key ? cJSON_GetObjectItemCaseSensitive(key,
	    "kid") : NULL;
	unsigned char	 md[32];
	char		 in[512];

	snprintf(in, sizeof(in), "%s:%s", cJSON_IsString(name) ?
	    name->valuestring : "", cJSON_IsString(kid) ? kid->valuestring :
	    "");
	if (EVP_Digest(in, strlen(in), md, NULL, EVP_sha256(), NULL) != 1)
		memset(md, 0, sizeof(md));
	hex_lower(out, md, 16);
}

void
h_provisioners(struct api *a, struct evhttp_request *req, const char *rest)
{
	struct evkeyvalq q;
	const char	*cs, *ls, *uq;
	const cJSON	*p;
	cJSON		*o, *arr;
	char		 cur[33], msg[128], *end;
	long		 limit = 20;
	int		 i, start = 0, n, total;

	(void)rest;
	memset(&q, 0, sizeof(q));	/* evhttp_parse_query_str initialises it */
	uq = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	if (uq && evhttp_parse_query_str(uq, &q) == -1) {
		reply_error(req, 400, "bad query string");
		return;
	}
	cs = evhttp_find_header(&q, "cursor");
	if ((ls = evhttp_find_header(&q, "limit")) != NULL && *ls) {
		limit = strtol(ls, &end, 10);
		if (*end != '\0') {
			snprintf(msg, sizeof(msg), "limit '%.60s' is not an "
			    "integer.", ls);
			evhttp_clear_headers(&q);
			reply_error(req, 400, msg);
			return;
		}
		limit = limit <= 0 ? 20 : limit > 100 ? 100 : limit;
	}
	total = cJSON_GetArraySize(a->cfg.provisioners);
	/* An unknown cursor starts from the beginning, as in step-ca. */
	for (i = 0; cs && *cs && i < total; i++) {
		cursor_of(cJSON_GetArrayItem(a->cfg.provisioners, i), cur);
		if (strcmp(cur, cs) == 0) {
			start = i;
			break;
		}
	}
	evhttp_clear_headers(&q);
	o = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(o, "provisioners");
	for (i = start, n = 0; i < total && n < limit; i++, n++) {
		p = cJSON_GetArrayItem(a->cfg.provisioners, i);
		cJSON_AddItemToArray(arr, cJSON_Duplicate(p, 1));
	}
	cur[0] = '\0';
	if (i < total)
		cursor_of(cJSON_GetArrayItem(a->cfg.provisioners, i), cur);
	cJSON_AddStringToObject(o, "nextCursor", cur);
	reply_json(req, 200, o);
}

/* rest is "{kid}/encrypted-key". */
void
h_encrypted_key(struct api *a, struct evhttp_request *req, const char *rest)
{
	const char	*slash = strchr(rest, '/');
	const cJSON	*p, *key, *kid, *ek;
	cJSON		*o;
	size_t		 n;

	if (slash == NULL || strcmp(slash, "/encrypted-key") != 0) {
		reply_error(req, 404, "not found");
		return;
	}
	n = slash - rest;
	cJSON_ArrayForEach(p, a->cfg.provisioners) {
		key = cJSON_GetObjectItemCaseSensitive(p, "key");
		kid = key ? cJSON_GetObjectItemCaseSensitive(key, "kid") : NULL;
		ek = cJSON_GetObjectItemCaseSensitive(p, "encryptedKey");
		if (!cJSON_IsString(kid) || strlen(kid->valuestring) != n ||
		    strncmp(kid->valuestring, rest, n) != 0)
			continue;
		if (!cJSON_IsString(ek))
			break;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "key", ek->valuestring);
		reply_json(req, 200, o);
		return;
	}
	reply_error(req, 404, "provisioner not found or has no encrypted key");
}

/* A set holding np, with the api's reference; NULL (np freed) if no memory. */
struct provset *
provset_new(struct provisioner *np, int nn)
{
	struct provset	*s;

	if ((s = malloc(sizeof(*s))) == NULL) {
		provisioners_free(np, nn);
		return NULL;
	}
	*s = (struct provset){ .p = np, .n = nn, .refs = 1 };
	return s;
}

struct provset *
provset_hold(struct api *a)
{
	a->provs->refs++;
	return a->provs;
}

void
provset_release(struct provset *s)
{
	if (s == NULL || --s->refs > 0)
		return;
	provisioners_free(s->p, s->n);
	free(s);
}

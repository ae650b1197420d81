/*
 * ca.c — what anyone may ask the CA about itself: health, version, its
 * root (the trust anchor a client bootstraps from) and federation.
 * Status codes and shapes follow step-ca 0.19, including its 201 for
 * GET /roots and /federation, which step clients expect.
 */
#include <ctype.h>
#include <string.h>

#include "api/api.h"

void
h_health(struct api *a, struct evhttp_request *req, const char *rest)
{
	cJSON	*o = cJSON_CreateObject();

	(void)a, (void)rest;
	cJSON_AddStringToObject(o, "status", "ok");
	reply_json(req, 200, o);
}

void
h_version(struct api *a, struct evhttp_request *req, const char *rest)
{
	cJSON	*o = cJSON_CreateObject();

	(void)a, (void)rest;
	cJSON_AddStringToObject(o, "version", API_VERSION);
	reply_json(req, 200, o);
}

static cJSON *
crts(struct api *a)
{
	cJSON	*o = cJSON_CreateObject(), *arr;

	if ((arr = cJSON_AddArrayToObject(o, "crts")) != NULL)
		cJSON_AddItemToArray(arr, cJSON_CreateString(a->root_pem));
	return o;
}

void
h_roots(struct api *a, struct evhttp_request *req, const char *rest)
{
	(void)rest;
	reply_json(req, 201, crts(a));
}

void
h_federation(struct api *a, struct evhttp_request *req, const char *rest)
{
	(void)rest;
	reply_json(req, 201, crts(a));
}

void
h_roots_pem(struct api *a, struct evhttp_request *req, const char *rest)
{
	(void)rest;
	reply_text(req, 200, "application/x-pem-file", a->root_pem,
	    strlen(a->root_pem));
}

/* GET /root/{sha256}: hex, any case, dashes ignored (as step-ca). */
void
h_root(struct api *a, struct evhttp_request *req, const char *fp)
{
	static const char hex[] = "0123456789abcdef";
	cJSON		*o;
	size_t		 i, n = 0;
	int		 c;

	for (i = 0; fp[i] != '\0'; i++) {
		if (fp[i] == '-')
			continue;
		c = tolower((unsigned char)fp[i]);
		if (n >= 64 || c != hex[(a->root_fp[n / 2] >> (n % 2 ? 0 : 4)) &
		    15])
			break;
		n++;
	}
	if (fp[i] != '\0' || n != 64) {
		reply_error(req, 404, "root certificate not found");
		return;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "ca", a->root_pem);
	reply_json(req, 200, o);
}

/* The issuing CA's certificate, DER: what AIA caIssuers points at. */
void
h_intermediate(struct api *a, struct evhttp_request *req, const char *rest)
{
	unsigned char	*der = NULL;
	int		 n;

	(void)rest;
	if ((n = i2d_X509(a->inter, &der)) <= 0) {
		reply_error(req, 500, "cannot encode the certificate");
		return;
	}
	reply_text(req, 200, "application/pkix-cert", (const char *)der, n);
	OPENSSL_free(der);
}

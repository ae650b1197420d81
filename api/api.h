/*
 * api.h — p11ca-api's internals, shared by its own files only: the server
 * state, the reply helpers every handler uses, and the handlers the route
 * table (server.c) names. One file per resource family: ca.c (health,
 * version, roots, federation), provisioners.c; x509 signing, renewal,
 * SSH, ACME and the management API come as files of their own.
 */
#ifndef P11CA_API_H
#define P11CA_API_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "appliance/config.h"
#include "policy/csr.h"

struct provisioner;
struct store;
struct signer_link;

#define API_VERSION	"0.1.0"
#define API_MAX_BODY	(1 << 20)	/* JSON 413 above this */

struct api {
	struct event_base	*base;
	struct evhttp		*http;
	SSL_CTX			*ssl;
	struct ca_config	 cfg;
	X509			*root, *inter;
	char			*root_pem, *inter_pem;	/* each ends in '\n' */
	uint8_t			 root_fp[32];	/* SHA-256 of the root DER */
	/* The issuer side of every certificate, encoded once. */
	uint8_t			*inter_subject, *inter_spki;
	size_t			 inter_subjectlen, inter_spkilen;
	uint8_t			 alg;		/* ALG_* of the issuing key */
	time_t			 inter_not_after;
	struct provisioner	*provs;
	int			 nprovs;
	struct store		*store;
	struct signer_link	*link;
};

typedef void (*api_handler)(struct api *, struct evhttp_request *,
    const char *rest);

/* Replies; each sets Content-Type and ends the request. */
void	reply_json(struct evhttp_request *req, int status, cJSON *body);
void	reply_error(struct evhttp_request *req, int status, const char *msg);
void	reply_text(struct evhttp_request *req, int status, const char *type,
	    const char *body, size_t len);

/* server.c */
int	server_listen(struct api *a, char *err, size_t errsz);

/* tls.c: the server's SSL_CTX, its own certificate issued at start. */
int	tls_setup(struct api *a, char *err, size_t errsz);
int	tls_renew(struct api *a, char *err, size_t errsz);
#define TLS_RENEW_EVERY	(16 * 3600)	/* of its 24 hours */

/* ca.c */
void	h_health(struct api *, struct evhttp_request *, const char *);
void	h_version(struct api *, struct evhttp_request *, const char *);
void	h_roots(struct api *, struct evhttp_request *, const char *);
void	h_roots_pem(struct api *, struct evhttp_request *, const char *);
void	h_root(struct api *, struct evhttp_request *, const char *);
void	h_federation(struct api *, struct evhttp_request *, const char *);

/* x509.c */
struct token;
struct sign_req {
	cJSON		*body;
	uint8_t		*der;		/* the CSR */
	size_t		 derlen;
	struct csr	 csr;
	const char	*ott;		/* points into body */
};
void	h_sign(struct api *, struct evhttp_request *, const char *);
int	sign_parse(const char *buf, size_t n, struct sign_req *r, char *why,
	    size_t whysz);
void	sign_req_free(struct sign_req *r);
int	sign_authorize(const struct sign_req *r, const struct token *t,
	    time_t now, time_t ca_not_after, time_t *nb, time_t *na, char *why,
	    size_t whysz);

/* provisioners.c */
void	h_provisioners(struct api *, struct evhttp_request *, const char *);
void	h_encrypted_key(struct api *, struct evhttp_request *, const char *);

#endif

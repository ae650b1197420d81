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
#include "hsm/proto.h"
#include "policy/csr.h"

struct provisioner;
struct store;
struct signer_link;
struct token_policy;
struct store_cert;
struct ocsp_cache;
struct ssh_key;
struct workpool;

/*
 * The provisioners in force. A reload puts in a new set; the old one is
 * freed once the last request that checks its token against it (on a
 * workpool thread, x509.c) has ended.
 */
struct provset {
	struct provisioner	*p;
	int			 n;
	int			 refs;	/* the api's, plus one per such request */
};

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
	uint8_t			 inter_keyid[20];	/* for the AKI */
	uint8_t			 alg;		/* ALG_* of the issuing key */
	time_t			 inter_not_after;
	struct provset		*provs;
	struct workpool		*pool;		/* token and CSR checks */
	struct store		*store;
	struct signer_link	*link;
	time_t			 started;	/* tokens with an earlier iat: 401 */
	/* CRL distribution point and AIA, encoded once for every leaf. */
	struct pbuf		 revext;
	/* inter_pem as a quoted JSON string, for /sign answers (x509.c). */
	struct pbuf		 inter_json;
	/* Connections: bounded; the listeners pause at the bound. */
	struct evhttp		*http_plain;	/* insecureAddress: CRL, OCSP */
	struct evhttp_bound_socket *bound, *bound_plain;
	int			 nconn, max_conn;
	/* The current CRL (crl.c). */
	struct {
		uint8_t		*der;
		size_t		 derlen;
		uint64_t	 number;
		time_t		 this_update, next_update;
		int		 busy;		/* one being made */
		int		 again;		/* revoked meanwhile: once more */
		struct event	*timer;
	} crl;
	struct ocsp_cache	*ocsp;
	X509			*tls_unstored;	/* issued, store not open yet */
	/* The SSH CA's public keys (ssh.c); NULL when not configured. */
	struct ssh_key		*ssh_user, *ssh_host;
};

typedef void (*api_handler)(struct api *, struct evhttp_request *,
    const char *rest);

/* Replies; each sets Content-Type and ends the request. */
void	reply_json(struct evhttp_request *req, int status, cJSON *body);
void	reply_error(struct evhttp_request *req, int status, const char *msg);
void	reply_text(struct evhttp_request *req, int status, const char *type,
	    const char *body, size_t len);
/* step-ca's 400 "could not be completed: ..." and 403 "forbidden ...". */
void	reply_bad_request(struct evhttp_request *req, const char *detail);
void	reply_forbidden(struct evhttp_request *req, const char *detail);
/* step-ca's generic 401 and 404 messages. */
extern const char api_unauthorized[];
extern const char api_not_found[];

/* server.c */
int	server_listen(struct api *a, char *err, size_t errsz);
/*
 * A graceful stop: accept no more connections, answer new requests 503,
 * and close each connection after its answer. server_inflight() is the
 * number of requests begun and not yet answered.
 */
void	server_drain(struct api *a);
int	server_inflight(void);
void	server_close(struct api *a);

/* tls.c: the server's SSL_CTX, its own certificate issued at start. */
int	tls_setup(struct api *a, char *err, size_t errsz);
int	tls_renew(struct api *a, char *err, size_t errsz);
/* Stores the server certificate issued before the store was open. */
void	tls_record(struct api *a);
#define TLS_RENEW_EVERY	(16 * 3600)	/* of its 24 hours */

/* ca.c */
void	h_health(struct api *, struct evhttp_request *, const char *);
void	h_version(struct api *, struct evhttp_request *, const char *);
void	h_roots(struct api *, struct evhttp_request *, const char *);
void	h_roots_pem(struct api *, struct evhttp_request *, const char *);
void	h_root(struct api *, struct evhttp_request *, const char *);
void	h_federation(struct api *, struct evhttp_request *, const char *);
void	h_intermediate(struct api *, struct evhttp_request *, const char *);

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
void	sign_req_init(struct sign_req *r);	/* empty; csr_clear's size note */
void	sign_req_free(struct sign_req *r);
int	sign_authorize(const struct sign_req *r, const struct token *t,
	    time_t now, time_t ca_not_after, time_t *nb, time_t *na, char *why,
	    size_t whysz);

/*
 * provisioners.c: a set of np with the api's reference (NULL, np freed,
 * without memory); a reference to the set in force; the end of one.
 */
struct provset *provset_new(struct provisioner *np, int nn);
struct provset *provset_hold(struct api *a);
void	provset_release(struct provset *s);

/* The token policy of this CA, now. */
void	api_policy(const struct api *a, struct token_policy *pol);
/*
 * Signs tbs (taken over), stores sc with the certificate and answers 201
 * as /sign does; on any failure answers itself and gives sc->jti back.
 */
void	x509_issue(struct api *a, struct evhttp_request *req, struct pbuf *tbs,
	    const struct store_cert *sc);
/* 16 random serial bytes and their hex, the store's key. */
int	x509_serial(uint8_t serial[16], char hex[33]);

/* server.c: the client's TLS certificate, verified, or NULL (borrowed). */
X509	*client_cert(struct evhttp_request *req);
/* The store's key of a certificate serial: 0, or -1 when not ours. */
int	serial_key(const ASN1_INTEGER *serial, char out[80]);
int	serial_key_dec(const char *decimal, char out[80]);

/* renew.c */
void	h_renew(struct api *, struct evhttp_request *, const char *);
void	h_rekey(struct api *, struct evhttp_request *, const char *);

/* revoke.c */
void	h_revoke(struct api *, struct evhttp_request *, const char *);

/* crl_serve.c: the CRL kept current, made again on revocation. */
int	crl_extensions(struct api *a);	/* a->revext from the config */
int	crl_start(struct api *a, char *err, size_t errsz);
void	crl_stop(struct api *a);
void	crl_revoked(struct api *a);
void	h_crl(struct api *, struct evhttp_request *, const char *);

/* ocsp_responder.c */
int	ocsp_start(struct api *a, char *err, size_t errsz);
int	ocsp_renew(struct api *a, char *err, size_t errsz);
void	ocsp_stop(struct api *a);
void	ocsp_revoked(struct api *a, const char *serial);
void	h_ocsp(struct api *, struct evhttp_request *, const char *);

/* ssh.c: step-ca's SSH API, and the KRL. */
int	ssh_start(struct api *a, char *err, size_t errsz);
void	ssh_stop(struct api *a);
void	h_ssh_sign(struct api *, struct evhttp_request *, const char *);
void	h_ssh_renew(struct api *, struct evhttp_request *, const char *);
void	h_ssh_rekey(struct api *, struct evhttp_request *, const char *);
void	h_ssh_revoke(struct api *, struct evhttp_request *, const char *);
void	h_ssh_roots(struct api *, struct evhttp_request *, const char *);
void	h_ssh_config(struct api *, struct evhttp_request *, const char *);
void	h_ssh_check_host(struct api *, struct evhttp_request *,
	    const char *);
void	h_ssh_hosts(struct api *, struct evhttp_request *, const char *);
void	h_ssh_krl(struct api *, struct evhttp_request *, const char *);

/* provisioners.c */
void	h_provisioners(struct api *, struct evhttp_request *, const char *);
void	h_encrypted_key(struct api *, struct evhttp_request *, const char *);

#endif

/*
 * server.c — the HTTPS listener, the route table and the reply helpers.
 * Every route answers at / and at /1.0/, as step-ca's do.
 */
#include <sys/socket.h>

#include <ctype.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <openssl/bn.h>

#include "api/api.h"

/*
 * Every route of the HTTPS listener; those marked plain are also served
 * on insecureAddress, because relying parties fetch revocation before
 * they trust the root.
 */
static const struct route {
	enum evhttp_cmd_type	 method;
	const char		*path;
	int			 prefix;	/* path is followed by more */
	int			 plain;		/* also over plain HTTP */
	api_handler		 fn;
} routes[] = {
	{ EVHTTP_REQ_GET, "/health", 0, 0, h_health },
	{ EVHTTP_REQ_GET, "/version", 0, 0, h_version },
	{ EVHTTP_REQ_GET, "/roots", 0, 0, h_roots },
	{ EVHTTP_REQ_GET, "/roots.pem", 0, 0, h_roots_pem },
	{ EVHTTP_REQ_GET, "/root/", 1, 0, h_root },
	{ EVHTTP_REQ_GET, "/federation", 0, 0, h_federation },
	{ EVHTTP_REQ_GET, "/provisioners", 0, 0, h_provisioners },
	{ EVHTTP_REQ_GET, "/provisioners/", 1, 0, h_encrypted_key },
	{ EVHTTP_REQ_POST, "/sign", 0, 0, h_sign },
	{ EVHTTP_REQ_POST, "/renew", 0, 0, h_renew },
	{ EVHTTP_REQ_POST, "/rekey", 0, 0, h_rekey },
	{ EVHTTP_REQ_POST, "/revoke", 0, 0, h_revoke },
	{ EVHTTP_REQ_GET, "/crl", 0, 1, h_crl },
	{ EVHTTP_REQ_GET, "/intermediate.crt", 0, 1, h_intermediate },
	{ EVHTTP_REQ_POST, "/ocsp", 0, 1, h_ocsp },
	{ EVHTTP_REQ_GET, "/ocsp/", 1, 1, h_ocsp },
	{ EVHTTP_REQ_POST, "/ssh/sign", 0, 0, h_ssh_sign },
	{ EVHTTP_REQ_POST, "/ssh/renew", 0, 0, h_ssh_renew },
	{ EVHTTP_REQ_POST, "/ssh/rekey", 0, 0, h_ssh_rekey },
	{ EVHTTP_REQ_POST, "/ssh/revoke", 0, 0, h_ssh_revoke },
	{ EVHTTP_REQ_GET, "/ssh/roots", 0, 0, h_ssh_roots },
	{ EVHTTP_REQ_GET, "/ssh/federation", 0, 0, h_ssh_roots },
	{ EVHTTP_REQ_POST, "/ssh/config", 0, 0, h_ssh_config },
	{ EVHTTP_REQ_POST, "/ssh/check-host", 0, 0, h_ssh_check_host },
	{ EVHTTP_REQ_GET, "/ssh/hosts", 0, 0, h_ssh_hosts },
	{ EVHTTP_REQ_GET, "/ssh/krl", 0, 1, h_ssh_krl },
};

/*
 * Requests begun (dispatch) and not yet answered: every handler ends in
 * exactly one reply(), so this is what a graceful stop waits for.
 */
static int	 inflight;
static int	 draining;

static void
reply(struct evhttp_request *req, int status, const char *type,
    const void *body, size_t len)
{
	struct evbuffer	*b = evbuffer_new();
	struct evhttp_connection *evcon;
	struct bufferevent *bev;
	static const char *const reasons[] = {
		[200] = "OK", [201] = "Created", [400] = "Bad Request",
		[401] = "Unauthorized", [403] = "Forbidden",
		[404] = "Not Found", [405] = "Method Not Allowed",
		[413] = "Payload Too Large", [500] = "Internal Server Error",
		[501] = "Not Implemented", [503] = "Service Unavailable",
	};

	inflight--;
	/* Stopping: each answer is its connection's last. */
	if (draining)
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Connection", "close");

	if (b == NULL || evbuffer_add(b, body, len) == -1) {
		evbuffer_free(b);
		evhttp_send_error(req, 500, NULL);
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", type);
	evcon = evhttp_request_get_connection(req);
	evhttp_send_reply(req, status, status >= 200 && status <= 503 &&
	    reasons[status] ? reasons[status] : "Status", b);
	evbuffer_free(b);
	/*
	 * bufferevent_openssl writes only once epoll says the socket is
	 * writable: EPOLLOUT on for each answer, one more loop pass, EPOLLOUT
	 * off. Running its write event now sends the answer in this pass;
	 * the on and off then cancel in libevent's changelist, so no
	 * epoll_ctl is made. A socket that is full leaves the event pending
	 * as before. ev_write is in the public bufferevent_struct.h.
	 */
	if (evcon != NULL && (bev = evhttp_connection_get_bufferevent(evcon)) !=
	    NULL && (bufferevent_get_enabled(bev) & EV_WRITE) &&
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		event_active(&bev->ev_write, EV_WRITE, 1);
}

/* step-ca's generic texts: the reason goes to the log, not the client. */
const char api_unauthorized[] = "The request lacked necessary "
    "authorization to be completed. Please see the certificate authority "
    "logs for more info.";
const char api_not_found[] = "The requested resource could not be found. "
    "Please see the certificate authority logs for more info.";

void
reply_bad_request(struct evhttp_request *req, const char *detail)
{
	char	 m[512];

	snprintf(m, sizeof(m), "The request could not be completed: %.400s.",
	    detail);
	reply_error(req, 400, m);
}

void
reply_forbidden(struct evhttp_request *req, const char *detail)
{
	char	 m[512];

	snprintf(m, sizeof(m), "The request was forbidden by the certificate "
	    "authority: %.400s.", detail);
	reply_error(req, 403, m);
}

void
reply_text(struct evhttp_request *req, int status, const char *type,
    const char *body, size_t len)
{
	reply(req, status, type, body, len);
}

/* As step-ca's json.Encoder: compact, and a newline at the end. */
void
reply_json(struct evhttp_request *req, int status, cJSON *body)
{
	char	*s = body ? cJSON_PrintUnformatted(body) : NULL;
	size_t	 n;

	cJSON_Delete(body);
	if (s == NULL) {
		reply_error(req, 500, "out of memory");
		return;
	}
	n = strlen(s);
	s[n] = '\n';	/* cJSON leaves room: we overwrite its NUL */
	reply(req, status, "application/json", s, n + 1);
	free(s);
}

void
reply_error(struct evhttp_request *req, int status, const char *msg)
{
	char	 buf[1024];
	cJSON	*m = cJSON_CreateString(msg);
	char	*q = m ? cJSON_PrintUnformatted(m) : NULL;
	int	 n;

	n = snprintf(buf, sizeof(buf), "{\"status\":%d,\"message\":%s}\n",
	    status, q ? q : "\"error\"");
	cJSON_Delete(m);
	free(q);
	reply(req, status, "application/json", buf,
	    n > 0 && (size_t)n < sizeof(buf) ? (size_t)n : 0);
}

static void
dispatch(struct api *a, struct evhttp_request *req, int plain)
{
	const struct evhttp_uri	*u = evhttp_request_get_evhttp_uri(req);
	const char		*path = u ? evhttp_uri_get_path(u) : NULL;
	const struct route	*r;
	size_t			 i, n;
	int			 wrong_method = 0;

	inflight++;
	if (draining) {
		reply_error(req, 503, "The certificate authority is shutting "
		    "down; try again.");
		return;
	}
	if (path == NULL || *path != '/') {
		reply_error(req, 400, "bad request path");
		return;
	}
	if (strncmp(path, "/1.0/", 5) == 0)
		path += 4;
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		r = &routes[i];
		if (plain && !r->plain)
			continue;
		n = strlen(r->path);
		if (r->prefix ? strncmp(path, r->path, n) != 0 ||
		    path[n] == '\0' : strcmp(path, r->path) != 0)
			continue;
		if (evhttp_request_get_command(req) != r->method) {
			wrong_method = 1;
			continue;
		}
		if (evbuffer_get_length(evhttp_request_get_input_buffer(req)) >
		    API_MAX_BODY) {
			reply_error(req, 413, "request body too large");
			return;
		}
		r->fn(a, req, path + n);
		return;
	}
	if (wrong_method)
		reply_error(req, 405, "method not allowed");
	else
		reply_error(req, 404, "not found");
}

static void
route(struct evhttp_request *req, void *arg)
{
	dispatch(arg, req, 0);
}

static void
route_plain(struct evhttp_request *req, void *arg)
{
	dispatch(arg, req, 1);
}

/*
 * The connection bound. evhttp (libevent 2.1) has none, so each TLS
 * connection is counted from its SSL's birth to its free (ex_data's free
 * callback runs when evhttp lets the connection go, however it ends); at
 * the bound the listener stops accepting and new clients wait in the
 * kernel's backlog until one leaves.
 */
static int	 conn_idx = -1;

static struct evconnlistener *
listener(struct api *a)
{
	return a->bound ? evhttp_bound_socket_get_listener(a->bound) : NULL;
}

static void
conn_gone(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp)
{
	struct api	*a = ptr;

	(void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
	if (a == NULL)
		return;
	if (a->nconn-- == a->max_conn && !draining && listener(a) != NULL)
		(void)evconnlistener_enable(listener(a));
}

/*
 * bufferevent_openssl makes one SSL_write, so one TLS record and one
 * write(2), per evbuffer chain, and evhttp leaves a response's headers
 * and body in separate chains. Joined, an answer is one record: one TCP
 * segment and one wakeup of the client instead of two. evhttp fills the
 * buffer while writing is off, so this runs before anything is sent.
 */
#define JOIN_MAX	16384	/* one TLS record's worth of plaintext */

static void
join_chains(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	size_t	 len = evbuffer_get_length(buf);

	(void)arg;
	if (info->n_added == 0 || len > JOIN_MAX ||
	    evbuffer_peek(buf, -1, NULL, NULL, 0) < 2)
		return;
	(void)evbuffer_pullup(buf, -1);	/* NULL only on ENOMEM: sent as is */
}

/* Each connection is TLS; evhttp speaks HTTP/1.1 over it. */
static struct bufferevent *
tls_bev(struct event_base *base, void *arg)
{
	struct api		*a = arg;
	SSL			*ssl = SSL_new(a->ssl);
	struct bufferevent	*bev;

	if (ssl == NULL)
		return NULL;
	if (SSL_set_ex_data(ssl, conn_idx, a) == 1 &&
	    ++a->nconn >= a->max_conn && listener(a) != NULL)
		(void)evconnlistener_disable(listener(a));
	bev = bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev != NULL &&
	    evbuffer_add_cb(bufferevent_get_output(bev), join_chains,
	    NULL) == NULL) {
		bufferevent_free(bev);
		return NULL;
	}
	return bev;
}

X509 *
client_cert(struct evhttp_request *req)
{
	struct evhttp_connection *c = evhttp_request_get_connection(req);
	struct bufferevent	*bev = c ? evhttp_connection_get_bufferevent(c) :
	    NULL;
	SSL			*ssl = bev ? bufferevent_openssl_get_ssl(bev) :
	    NULL;

	/* Verified in the handshake against root and intermediate. */
	if (ssl == NULL || SSL_get_verify_result(ssl) != X509_V_OK)
		return NULL;
	return SSL_get0_peer_certificate(ssl);
}

/* Serials are 16 bytes here (x509_serial); the key is their hex. */
static int
bn_key(const BIGNUM *bn, char out[80])
{
	uint8_t	 b[16];

	if (BN_is_negative(bn) || BN_num_bytes(bn) > 16 ||
	    BN_bn2binpad(bn, b, sizeof(b)) != 16)
		return -1;
	hex_lower(out, b, sizeof(b));
	return 0;
}

int
serial_key(const ASN1_INTEGER *serial, char out[80])
{
	BIGNUM	*bn = ASN1_INTEGER_to_BN(serial, NULL);
	int	 rc = bn ? bn_key(bn, out) : -1;

	BN_free(bn);
	return rc;
}

int
serial_key_dec(const char *s, char out[80])
{
	BIGNUM	*bn = NULL;
	size_t	 n = strlen(s), i;
	int	 rc = -1, hex = n > 2 && s[0] == '0' && (s[1] == 'x' ||
	    s[1] == 'X');

	/* Decimal, as step sends; 0x-hex, as operators paste. */
	if (hex)
		s += 2, n -= 2;
	if (n == 0 || n > 60)
		return -1;
	for (i = 0; i < n; i++)
		if (hex ? !isxdigit((unsigned char)s[i]) :
		    !isdigit((unsigned char)s[i]))
			return -1;
	if ((hex ? BN_hex2bn(&bn, s) : BN_dec2bn(&bn, s)) == (int)n)
		rc = bn_key(bn, out);
	BN_free(bn);
	return rc;
}

/* host:port, [v6]:port or :port */
static int
split_address(const char *addr, char *host, size_t hostsz, const char **port)
{
	const char	*c;
	size_t		 n;

	if (addr[0] == '[') {
		if ((c = strchr(addr, ']')) == NULL || c[1] != ':')
			return -1;
		n = c - addr - 1;
		addr++;
		*port = c + 2;
	} else {
		if ((c = strrchr(addr, ':')) == NULL)
			return -1;
		n = c - addr;
		*port = c + 1;
	}
	if (n >= hostsz || **port == '\0')
		return -1;
	memcpy(host, addr, n);
	host[n] = '\0';
	return 0;
}

/* A listening socket on addr: TCP_NODELAY, inherited by what it accepts. */
static int
listen_on(const char *addr, char *err, size_t errsz)
{
	struct addrinfo	 hints = { .ai_flags = AI_PASSIVE,
	    .ai_socktype = SOCK_STREAM }, *ai = NULL;
	const char	*port;
	char		 host[256];
	int		 fd = -1, one = 1, rc;

	if (split_address(addr, host, sizeof(host), &port) == -1) {
		snprintf(err, errsz, "address '%s': want host:port", addr);
		return -1;
	}
	if ((rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai)) != 0) {
		snprintf(err, errsz, "address '%s': %s", addr, gai_strerror(rc));
		return -1;
	}
	/* Accepted sockets inherit TCP_NODELAY: no 40 ms Nagle stalls. */
	if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
	    listen(fd, 1024) == -1) {
		snprintf(err, errsz, "listen on %s: %m", addr);
		if (fd != -1)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

static struct evhttp *
http_new(struct api *a, int fd, int tls, struct evhttp_bound_socket **bs,
    char *err, size_t errsz)
{
	struct evhttp	*h;

	if ((h = evhttp_new(a->base)) == NULL) {
		close(fd);
		snprintf(err, errsz, "evhttp_new failed");
		return NULL;
	}
	if (tls)
		evhttp_set_bevcb(h, tls_bev, a);
	evhttp_set_gencb(h, tls ? route : route_plain, a);
	/* Slow and idle clients go; bodies far past the JSON 413 are cut. */
	evhttp_set_timeout(h, tls ? 30 : 10);
	evhttp_set_max_headers_size(h, 64 * 1024);
	evhttp_set_max_body_size(h, 2 * API_MAX_BODY);
	evhttp_set_allowed_methods(h, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
	if ((*bs = evhttp_accept_socket_with_handle(h, fd)) == NULL) {
		close(fd);
		evhttp_free(h);
		snprintf(err, errsz, "cannot serve");
		return NULL;
	}
	return h;
}

int
server_listen(struct api *a, char *err, size_t errsz)
{
	int	 fd;

	if (conn_idx == -1 && (conn_idx = SSL_get_ex_new_index(0, NULL, NULL,
	    NULL, conn_gone)) == -1) {
		snprintf(err, errsz, "SSL_get_ex_new_index failed");
		return -1;
	}
	a->max_conn = a->cfg.max_conn;
	if ((fd = listen_on(a->cfg.address, err, errsz)) == -1 ||
	    (a->http = http_new(a, fd, 1, &a->bound, err, errsz)) == NULL)
		return -1;
	if (a->cfg.insecure_address[0] == '\0')
		return 0;
	if ((fd = listen_on(a->cfg.insecure_address, err, errsz)) == -1 ||
	    (a->http_plain = http_new(a, fd, 0, &a->bound_plain, err,
	    errsz)) == NULL)
		return -1;
	return 0;
}

void
server_drain(struct api *a)
{
	draining = 1;
	if (listener(a) != NULL)
		(void)evconnlistener_disable(listener(a));
	if (a->bound_plain != NULL)
		(void)evconnlistener_disable(
		    evhttp_bound_socket_get_listener(a->bound_plain));
}

int
server_inflight(void)
{
	return inflight;
}

void
server_close(struct api *a)
{
	/* Connections freed from here on must not touch the listener. */
	a->bound = a->bound_plain = NULL;
	if (a->http)
		evhttp_free(a->http);
	if (a->http_plain)
		evhttp_free(a->http_plain);
	a->http = a->http_plain = NULL;
}

/*
 * server.c — the HTTPS listener, the route table and the reply helpers.
 * Every route answers at / and at /1.0/, as step-ca's do.
 */
#include <sys/socket.h>

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
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "api/api.h"

static const struct route {
	enum evhttp_cmd_type	 method;
	const char		*path;
	int			 prefix;	/* path is followed by more */
	api_handler		 fn;
} routes[] = {
	{ EVHTTP_REQ_GET, "/health", 0, h_health },
	{ EVHTTP_REQ_GET, "/version", 0, h_version },
	{ EVHTTP_REQ_GET, "/roots", 0, h_roots },
	{ EVHTTP_REQ_GET, "/roots.pem", 0, h_roots_pem },
	{ EVHTTP_REQ_GET, "/root/", 1, h_root },
	{ EVHTTP_REQ_GET, "/federation", 0, h_federation },
	{ EVHTTP_REQ_GET, "/provisioners", 0, h_provisioners },
	{ EVHTTP_REQ_GET, "/provisioners/", 1, h_encrypted_key },
	{ EVHTTP_REQ_POST, "/sign", 0, h_sign },
};

static void
reply(struct evhttp_request *req, int status, const char *type,
    const void *body, size_t len)
{
	struct evbuffer	*b = evbuffer_new();
	static const char *const reasons[] = {
		[200] = "OK", [201] = "Created", [400] = "Bad Request",
		[401] = "Unauthorized", [403] = "Forbidden",
		[404] = "Not Found", [405] = "Method Not Allowed",
		[413] = "Payload Too Large", [500] = "Internal Server Error",
		[501] = "Not Implemented", [503] = "Service Unavailable",
	};

	if (b == NULL || evbuffer_add(b, body, len) == -1) {
		evbuffer_free(b);
		evhttp_send_error(req, 500, NULL);
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", type);
	evhttp_send_reply(req, status, status >= 200 && status <= 503 &&
	    reasons[status] ? reasons[status] : "Status", b);
	evbuffer_free(b);
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
route(struct evhttp_request *req, void *arg)
{
	struct api		*a = arg;
	const struct evhttp_uri	*u = evhttp_request_get_evhttp_uri(req);
	const char		*path = u ? evhttp_uri_get_path(u) : NULL;
	const struct route	*r;
	size_t			 i, n;
	int			 wrong_method = 0;

	if (path == NULL || *path != '/') {
		reply_error(req, 400, "bad request path");
		return;
	}
	if (strncmp(path, "/1.0/", 5) == 0)
		path += 4;
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		r = &routes[i];
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

/* Each connection is TLS; evhttp speaks HTTP/1.1 over it. */
static struct bufferevent *
tls_bev(struct event_base *base, void *arg)
{
	struct api	*a = arg;
	SSL		*ssl = SSL_new(a->ssl);

	return ssl ? bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE) : NULL;
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

int
server_listen(struct api *a, char *err, size_t errsz)
{
	struct addrinfo	 hints = { .ai_flags = AI_PASSIVE,
	    .ai_socktype = SOCK_STREAM }, *ai = NULL;
	const char	*port;
	char		 host[256];
	int		 fd = -1, one = 1, rc;

	if (split_address(a->cfg.address, host, sizeof(host), &port) == -1) {
		snprintf(err, errsz, "address '%s': want host:port",
		    a->cfg.address);
		return -1;
	}
	if ((rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai)) != 0) {
		snprintf(err, errsz, "address '%s': %s", a->cfg.address,
		    gai_strerror(rc));
		return -1;
	}
	/* Accepted sockets inherit TCP_NODELAY: no 40 ms Nagle stalls. */
	if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
	    listen(fd, 1024) == -1) {
		snprintf(err, errsz, "listen on %s: %m", a->cfg.address);
		if (fd != -1)
			close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	if ((a->http = evhttp_new(a->base)) == NULL) {
		close(fd);
		snprintf(err, errsz, "evhttp_new failed");
		return -1;
	}
	evhttp_set_bevcb(a->http, tls_bev, a);
	evhttp_set_gencb(a->http, route, a);
	/* Slow and idle clients go; bodies far past the JSON 413 are cut. */
	evhttp_set_timeout(a->http, 30);
	evhttp_set_max_headers_size(a->http, 64 * 1024);
	evhttp_set_max_body_size(a->http, 2 * API_MAX_BODY);
	evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
	if (evhttp_accept_socket_with_handle(a->http, fd) == NULL) {
		close(fd);
		snprintf(err, errsz, "cannot serve on %s", a->cfg.address);
		return -1;
	}
	return 0;
}

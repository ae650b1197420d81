/*
 * https.c — the CLI's one request to the CA: TLS verified against the
 * CA's root only (or plain HTTP where a caller allows it, for the CRL),
 * optionally with a client certificate, HTTP/1.1, Connection: close,
 * body read to the end and checked against its Content-Length.
 */
#include <sys/socket.h>
#include <sys/time.h>

#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "provisioning/cli.h"

#define IO_TIMEOUT	30		/* seconds, each read or write */
#define MAX_ANSWER	(8u << 20)

/*
 * scheme://host[:port][/...] into host and port (default 443 or 80);
 * *tls 1 for https, 0 for http. -1 for anything else.
 */
static int
split_url(const char *url, int *tls, char *host, size_t hostsz, char *port,
    size_t portsz)
{
	const char	*h, *e, *c;
	size_t		 n;

	if (strncmp(url, "https://", 8) == 0) {
		*tls = 1;
		h = url + 8;
	} else if (strncmp(url, "http://", 7) == 0) {
		*tls = 0;
		h = url + 7;
	} else
		return -1;
	e = h + strcspn(h, "/");
	if (*h == '[') {
		if ((c = memchr(h, ']', e - h)) == NULL)
			return -1;
		n = c - h - 1;
		h++;
		c = c[1] == ':' ? c + 1 : NULL;
	} else {
		c = memchr(h, ':', e - h);
		n = (c ? c : e) - h;
	}
	if (n == 0 || n >= hostsz)
		return -1;
	memcpy(host, h, n);
	host[n] = '\0';
	n = c ? (size_t)(e - c - 1) : strlen(*tls ? "443" : "80");
	if (n == 0 || n >= portsz)
		return -1;
	memcpy(port, c ? c + 1 : *tls ? "443" : "80", n);
	port[n] = '\0';
	return 0;
}

/*
 * Why the last OpenSSL call failed: the system's reason when there is one
 * (connect: "Connection refused"), else the first queued one, else
 * fallback. Empties the queue.
 */
static const char *
ssl_reason(const char *fallback)
{
	static char	 buf[256];
	char		 fdata[128] = "";
	unsigned long	 e, first = 0, sys = 0;
	const char	*r, *data;
	int		 flags;

	while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
		if (first == 0) {
			first = e;
			/* The detail, gai_strerror's say. */
			if ((flags & ERR_TXT_STRING) && data != NULL)
				snprintf(fdata, sizeof(fdata), "%s", data);
		}
		if (sys == 0 && ERR_SYSTEM_ERROR(e))
			sys = e;
	}
	if (sys != 0)
		r = strerror(ERR_GET_REASON(sys));
	else
		r = first ? ERR_reason_error_string(first) : NULL;
	snprintf(buf, sizeof(buf), "%s%s%s", r ? r : fallback,
	    sys == 0 && *fdata ? ": " : "", sys == 0 ? fdata : "");
	return buf;
}

/*
 * Connects within IO_TIMEOUT seconds (a host that never answers must not
 * hold the command for the kernel's two minutes), then makes the socket
 * blocking again, each read and write giving up after IO_TIMEOUT.
 * 0, or -1 with the reason queued.
 */
static int
connect_within(BIO *conn)
{
	struct timeval	 tv = { IO_TIMEOUT, 0 };
	time_t		 until = time(NULL) + IO_TIMEOUT;
	int		 fd;

	BIO_set_nbio(conn, 1);
	while (BIO_do_connect(conn) <= 0)
		if (!BIO_should_retry(conn) || BIO_wait(conn, until, 100) <= 0)
			return -1;
	if (BIO_get_fd(conn, &fd) < 0 || fd < 0 || !BIO_socket_nbio(fd, 0) ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == -1) {
		ERR_raise_data(ERR_LIB_SYS, errno, "setting up the socket");
		return -1;
	}
	return 0;
}

static SSL_CTX *
make_ctx(const char *root, const struct cli_req *q)
{
	SSL_CTX	*ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)) {
		cli_err("cannot set up TLS: %s", ssl_reason("out of memory"));
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (root == NULL || SSL_CTX_load_verify_locations(ctx, root, NULL) !=
	    1) {
		ERR_clear_error();
		cli_err("cannot use %s as the CA root", root ? root : "(none)");
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	/* The client certificate, its key and the chain sent after it. */
	if (q->cert != NULL && (q->key == NULL || SSL_CTX_use_cert_and_key(ctx,
	    q->cert, q->key, q->chain, 1) != 1)) {
		cli_err("cannot use the client certificate: %s",
		    ssl_reason("no key"));
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* Status, headers off, body checked against Content-Length. */
static int
parse_answer(const char *base, char *buf, size_t len, int *status,
    size_t *bodylen)
{
	char		*end, *h, *eol;
	unsigned long	 cl = 0;
	int		 have_cl = 0;
	size_t		 hl;

	if (sscanf(buf, "HTTP/1.%*d %d", status) != 1 ||
	    (end = strstr(buf, "\r\n\r\n")) == NULL) {
		cli_err("%s: not an HTTP answer", base);
		return -1;
	}
	hl = end + 4 - buf;
	for (h = strstr(buf, "\r\n") + 2; h < end; h = eol + 2) {
		eol = strstr(h, "\r\n");
		if (strncasecmp(h, "Content-Length:", 15) == 0) {
			cl = strtoul(h + 15, NULL, 10);
			have_cl = 1;
		} else if (strncasecmp(h, "Transfer-Encoding:", 18) == 0) {
			cli_err("%s: chunked answers are not supported", base);
			return -1;
		}
	}
	*bodylen = len - hl;
	if (have_cl) {
		if (cl > *bodylen) {
			cli_err("%s: the answer was cut short (%zu of %lu "
			    "bytes)", base, *bodylen, cl);
			return -1;
		}
		*bodylen = cl;
	}
	memmove(buf, buf + hl, *bodylen);
	buf[*bodylen] = '\0';
	return 0;
}

int
cli_http(const char *base, const char *root, const struct cli_req *q,
    int *status, char **resp, size_t *resplen)
{
	char		 host[256], port[8], hp[300], *buf = NULL, *nb;
	unsigned char	 ipbuf[16];
	SSL_CTX		*ctx = NULL;
	BIO		*conn = NULL, *sb = NULL, *b;
	SSL		*ssl;
	size_t		 len = 0, cap = 0, blen;
	long		 vr;
	int		 n, tls, rc = -1;

	*resp = NULL;
	if (resplen)
		*resplen = 0;
	if (split_url(base, &tls, host, sizeof(host), port, sizeof(port)) ==
	    -1 || (!tls && !q->plain_ok)) {
		cli_err("bad CA URL '%s': want https://host[:port]", base);
		return -1;
	}
	if (!tls && q->cert != NULL) {
		cli_err("%s: a client certificate needs https", base);
		return -1;
	}
	if (strchr(host, ':'))
		snprintf(hp, sizeof(hp), "[%s]:%s", host, port);
	else
		snprintf(hp, sizeof(hp), "%s:%s", host, port);
	if (tls && (ctx = make_ctx(root, q)) == NULL)
		return -1;
	if ((conn = BIO_new_connect(hp)) == NULL)
		goto out;
	if (connect_within(conn) == -1) {
		cli_err("cannot reach %s: %s", base,
		    ssl_reason("connection failed"));
		goto out;
	}
	b = conn;
	if (tls) {
		if ((sb = BIO_new_ssl(ctx, 1)) == NULL ||
		    BIO_get_ssl(sb, &ssl) != 1 || ssl == NULL)
			goto out;
		b = BIO_push(sb, conn);
		conn = NULL;	/* sb's now */
		if (!SSL_set_tlsext_host_name(ssl, host))
			goto out;
		/* The server must be named in its certificate, by IP or DNS. */
		if (inet_pton(AF_INET, host, ipbuf) == 1 ||
		    inet_pton(AF_INET6, host, ipbuf) == 1
		    ? !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host)
		    : !X509_VERIFY_PARAM_set1_host(SSL_get0_param(ssl), host,
		    0))
			goto out;
		if (BIO_do_handshake(b) <= 0) {
			vr = SSL_get_verify_result(ssl);
			cli_err("TLS with %s failed: %s", base, vr != X509_V_OK ?
			    X509_verify_cert_error_string(vr) :
			    ssl_reason("handshake failed"));
			goto out;
		}
	}
	if (BIO_printf(b, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: p11ca\r\n"
	    "Connection: close\r\nContent-Type: application/json\r\n"
	    "%s%s%s%s%s%sContent-Length: %zu\r\n\r\n", q->method, q->path, hp,
	    q->auth ? "Authorization: " : "", q->auth ? q->auth : "",
	    q->auth ? "\r\n" : "", q->accept ? "Accept: " : "",
	    q->accept ? q->accept : "", q->accept ? "\r\n" : "",
	    q->body ? strlen(q->body) : 0) <= 0 ||
	    (q->body && *q->body && BIO_puts(b, q->body) <= 0) ||
	    BIO_flush(b) <= 0) {
		cli_err("cannot send the request to %s: %s", base,
		    ssl_reason("write failed"));
		goto out;
	}
	for (;;) {
		if (cap - len < 4096) {
			if (cap > MAX_ANSWER ||
			    (nb = realloc(buf, cap + 65536)) == NULL) {
				cli_err("%s: the answer is too large", base);
				goto out;
			}
			buf = nb;
			cap += 65536;
		}
		if ((n = BIO_read(b, buf + len, (int)(cap - len - 1))) <= 0)
			break;
		len += n;
	}
	if (len == 0) {
		cli_err("%s closed the connection without an answer: %s", base,
		    ssl_reason("no data"));
		goto out;
	}
	ERR_clear_error();
	buf[len] = '\0';
	if (parse_answer(base, buf, len, status, &blen) == -1)
		goto out;
	*resp = buf;
	if (resplen)
		*resplen = blen;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	BIO_free_all(sb);
	BIO_free_all(conn);
	SSL_CTX_free(ctx);
	return rc;
}

int
cli_https(const char *base, const char *root, const char *method,
    const char *path, const char *body, int *status, char **resp)
{
	struct cli_req	 q = { .method = method, .path = path, .body = body };

	return cli_http(base, root, &q, status, resp, NULL);
}

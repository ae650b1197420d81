/*
 * https.c — the CLI's one HTTPS request to the CA: TLS verified against
 * the CA's root only, HTTP/1.1, Connection: close, body read to the end.
 */
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "provisioning/cli.h"

/* https://host[:port][/...] into host and port (default 443). */
static int
split_url(const char *url, char *host, size_t hostsz, char *port,
    size_t portsz)
{
	const char	*h, *e, *c;
	size_t		 n;

	if (strncmp(url, "https://", 8) != 0)
		return -1;
	h = url + 8;
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
	n = c ? (size_t)(e - c - 1) : 3;
	if (n == 0 || n >= portsz)
		return -1;
	memcpy(port, c ? c + 1 : "443", n);
	port[n] = '\0';
	return 0;
}

int
cli_https(const char *base, const char *root, const char *method,
    const char *path, const char *body, int *status, char **resp)
{
	char		 host[256], port[8], hp[300], *buf = NULL, *nb;
	unsigned char	 ipbuf[16];
	SSL_CTX		*ctx = NULL;
	BIO		*b = NULL;
	SSL		*ssl;
	size_t		 len = 0, cap = 0;
	int		 n, rc = -1;

	*resp = NULL;
	if (split_url(base, host, sizeof(host), port, sizeof(port)) == -1) {
		cli_err("bad CA URL '%s': want https://host[:port]", base);
		return -1;
	}
	snprintf(hp, sizeof(hp), "%s:%s", strchr(host, ':') ? "" : host, port);
	if (strchr(host, ':'))
		snprintf(hp, sizeof(hp), "[%s]:%s", host, port);
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
	    SSL_CTX_load_verify_locations(ctx, root, NULL) != 1) {
		cli_err("cannot use %s as the CA root", root);
		goto out;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if ((b = BIO_new_ssl_connect(ctx)) == NULL ||
	    BIO_get_ssl(b, &ssl) != 1 || ssl == NULL)
		goto out;
	SSL_set_tlsext_host_name(ssl, host);
	/* The server must be named in its certificate, by IP or DNS name. */
	if (inet_pton(AF_INET, host, ipbuf) == 1 ||
	    inet_pton(AF_INET6, host, ipbuf) == 1
	    ? !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host)
	    : !X509_VERIFY_PARAM_set1_host(SSL_get0_param(ssl), host, 0))
		goto out;
	BIO_set_conn_hostname(b, hp);
	if (BIO_do_connect(b) <= 0 || BIO_do_handshake(b) <= 0) {
		cli_err("cannot reach %s: %s", base,
		    ERR_reason_error_string(ERR_get_error()));
		goto out;
	}
	if (BIO_printf(b, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: p11ca\r\n"
	    "Connection: close\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\n\r\n%s", method, path, host,
	    body ? strlen(body) : 0, body ? body : "") <= 0 ||
	    BIO_flush(b) <= 0)
		goto out;
	for (;;) {
		if (cap - len < 4096) {
			if (cap > (8u << 20) ||
			    (nb = realloc(buf, cap + 65536)) == NULL)
				goto out;
			buf = nb;
			cap += 65536;
		}
		if ((n = BIO_read(b, buf + len, (int)(cap - len - 1))) <= 0)
			break;
		len += n;
	}
	if (buf == NULL)
		goto out;
	buf[len] = '\0';
	if (sscanf(buf, "HTTP/1.%*d %d", status) != 1 ||
	    (nb = strstr(buf, "\r\n\r\n")) == NULL) {
		cli_err("%s: not an HTTP answer", base);
		goto out;
	}
	memmove(buf, nb + 4, len - (nb + 4 - buf) + 1);
	*resp = buf;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	BIO_free_all(b);
	SSL_CTX_free(ctx);
	return rc;
}

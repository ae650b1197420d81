/*
 * client.c — one request at a time over the signer's socket.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hsm/client.h"
#include "hsm/proto.h"

struct signer_client {
	int		 fd;
	uint32_t	 next_id;
	struct pbuf	 in;
};

struct signer_client *
signer_connect(const char *path, char *err, size_t errsz)
{
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	struct signer_client	*sc;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(err, errsz, "signer socket path too long: %s", path);
		return NULL;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((sc = calloc(1, sizeof(*sc))) == NULL) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	sc->next_id = 1;
	pbuf_init(&sc->in);
	if ((sc->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(sc->fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		snprintf(err, errsz, "signer at %s: %s", path, strerror(errno));
		if (sc->fd != -1)
			close(sc->fd);
		free(sc);
		return NULL;
	}
	return sc;
}

void
signer_close(struct signer_client *sc)
{
	if (sc == NULL)
		return;
	close(sc->fd);
	pbuf_free(&sc->in);
	free(sc);
}

/* Sends req and reads frames until the answer to it arrives. */
static int
roundtrip(struct signer_client *sc, struct pbuf *req, uint32_t id,
    struct proto_frame *f, size_t *used, char *err, size_t errsz)
{
	uint8_t	 buf[16384];
	size_t	 off = 0;
	ssize_t	 r;
	int	 rc;

	while (off < req->len) {
		r = write(sc->fd, req->data + off, req->len - off);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(err, errsz, "signer: write: %s",
			    strerror(errno));
			return -1;
		}
		off += r;
	}
	for (;;) {
		rc = proto_frame_next(sc->in.data, sc->in.len, f, used);
		if (rc == -1) {
			snprintf(err, errsz, "signer sent a malformed frame");
			return -1;
		}
		if (rc == 1) {
			if (f->id == id)
				return 0;
			/* A refusal at connect time carries id 0. */
			if (f->id == 0 && f->status != 0) {
				const char	*m;
				size_t		 ml;

				if (proto_decode_error(f, &m, &ml) == 0)
					snprintf(err, errsz, "signer: %.*s",
					    (int)ml, m);
				else
					snprintf(err, errsz, "signer refused");
				return -1;
			}
			pbuf_consume(&sc->in, *used);
			continue;
		}
		r = read(sc->fd, buf, sizeof(buf));
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(err, errsz, "signer closed the connection");
			return -1;
		}
		if (pbuf_add(&sc->in, buf, r) == -1) {
			snprintf(err, errsz, "out of memory");
			return -1;
		}
	}
}

static int
answer_error(const struct proto_frame *f, uint16_t *status, char *err,
    size_t errsz)
{
	const char	*m;
	size_t		 ml;

	if (status)
		*status = f->status ? f->status : PROTO_E_INTERNAL;
	if (f->status && proto_decode_error(f, &m, &ml) == 0)
		snprintf(err, errsz, "signer: %s: %.*s",
		    proto_status_name(f->status), (int)ml, m);
	else
		snprintf(err, errsz, "signer sent an unexpected answer");
	return -1;
}

static void *
dup_bytes(const uint8_t *p, size_t n)
{
	void	*d = malloc(n ? n : 1);

	if (d)
		memcpy(d, p, n);
	return d;
}

int
signer_ping(struct signer_client *sc, int *ceremony, int *nkeys, char *err,
    size_t errsz)
{
	struct proto_frame	 f;
	struct pbuf		 req;
	uint32_t		 id = sc->next_id++;
	uint8_t			 c, n;
	size_t			 used;
	int			 rc = -1;

	pbuf_init(&req);
	if (proto_put_ping(&req, id) == 0 &&
	    roundtrip(sc, &req, id, &f, &used, err, errsz) == 0) {
		if (proto_decode_ping_resp(&f, &c, &n) == 0) {
			*ceremony = c;
			*nkeys = n;
			rc = 0;
		} else
			answer_error(&f, NULL, err, errsz);
		pbuf_consume(&sc->in, used);
	}
	pbuf_free(&req);
	return rc;
}

int
signer_public_key(struct signer_client *sc, const char *key, int *keytype,
    uint8_t **spki, size_t *spkilen, uint16_t *status, char *err, size_t errsz)
{
	struct proto_frame	 f;
	struct pbuf		 req;
	uint32_t		 id = sc->next_id++;
	const uint8_t		*p;
	uint8_t			 kt;
	size_t			 used;
	int			 rc = -1;

	if (status)
		*status = PROTO_E_INTERNAL;
	pbuf_init(&req);
	if (proto_put_pubkey(&req, id, key) == -1)
		snprintf(err, errsz, "bad key name '%s'", key);
	else if (roundtrip(sc, &req, id, &f, &used, err, errsz) == 0) {
		if (proto_decode_pubkey_resp(&f, &kt, &p, spkilen) == 0) {
			*keytype = kt;
			if ((*spki = dup_bytes(p, *spkilen)) != NULL) {
				rc = 0;
				if (status)
					*status = PROTO_OK;
			}
		} else
			answer_error(&f, status, err, errsz);
		pbuf_consume(&sc->in, used);
	}
	pbuf_free(&req);
	return rc;
}

int
signer_sign(struct signer_client *sc, const char *key, uint8_t kind,
    uint8_t alg, const uint8_t *payload, size_t n, uint8_t **sig,
    size_t *siglen, uint16_t *status, char *err, size_t errsz)
{
	struct proto_frame	 f;
	struct pbuf		 req;
	uint32_t		 id = sc->next_id++;
	const uint8_t		*p;
	size_t			 used;
	int			 rc = -1;

	if (status)
		*status = PROTO_E_INTERNAL;
	pbuf_init(&req);
	if (proto_put_sign(&req, id, key, kind, alg, payload, n) == -1)
		snprintf(err, errsz, "cannot encode sign request");
	else if (roundtrip(sc, &req, id, &f, &used, err, errsz) == 0) {
		if (proto_decode_sign_resp(&f, &p, siglen) == 0) {
			if ((*sig = dup_bytes(p, *siglen)) != NULL) {
				rc = 0;
				if (status)
					*status = PROTO_OK;
			}
		} else
			answer_error(&f, status, err, errsz);
		pbuf_consume(&sc->in, used);
	}
	pbuf_free(&req);
	return rc;
}

int
signer_wait(const char *path, int timeout_ms, char *err, size_t errsz)
{
	struct signer_client	*sc;
	struct timespec		 nap = { 0, 50 * 1000 * 1000 };
	int			 waited, c, n;

	for (waited = 0; waited <= timeout_ms; waited += 50) {
		if ((sc = signer_connect(path, err, errsz)) != NULL) {
			c = signer_ping(sc, &c, &n, err, errsz);
			signer_close(sc);
			if (c == 0)
				return 0;
		}
		nanosleep(&nap, NULL);
	}
	return -1;
}

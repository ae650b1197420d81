/*
 * proto.c — encode and strictly decode the signer's frames (proto.h).
 * Both sides link this one file, so a frame is checked by the same code
 * that wrote it.
 */
#include <stdlib.h>
#include <string.h>

#include "hsm/proto.h"

/* A bounded reader: every get fails once the body is exhausted. */
struct rd {
	const uint8_t	*p;
	size_t		 n;
};

static int
get_u8(struct rd *r, uint8_t *v)
{
	if (r->n < 1)
		return -1;
	*v = r->p[0];
	r->p++, r->n--;
	return 0;
}

static int
get_len(struct rd *r, int width, size_t *v)
{
	size_t	 i, x = 0;

	if (r->n < (size_t)width)
		return -1;
	for (i = 0; i < (size_t)width; i++)
		x = (x << 8) | r->p[i];
	r->p += width, r->n -= width;
	*v = x;
	return 0;
}

static int
get_blob(struct rd *r, int width, const uint8_t **p, size_t *n)
{
	if (get_len(r, width, n) == -1 || r->n < *n)
		return -1;
	*p = r->p;
	r->p += *n, r->n -= *n;
	return 0;
}

/* Key names are printable ASCII without spaces: they land in audit lines. */
static int
get_keyname(struct rd *r, char *key, size_t keysz)
{
	const uint8_t	*p;
	size_t		 n, i;

	if (get_blob(r, 1, &p, &n) == -1 || n == 0 || n >= keysz ||
	    n > PROTO_MAX_KEYNAME)
		return -1;
	for (i = 0; i < n; i++)
		if (p[i] <= 0x20 || p[i] >= 0x7f)
			return -1;
	memcpy(key, p, n);
	key[n] = '\0';
	return 0;
}

static int
done(const struct rd *r)
{
	return r->n == 0 ? 0 : -1;
}

int
proto_frame_next(const uint8_t *buf, size_t len, struct proto_frame *f,
    size_t *used)
{
	size_t	 flen;

	if (len < 4)
		return 0;
	flen = (size_t)buf[0] << 24 | (size_t)buf[1] << 16 |
	    (size_t)buf[2] << 8 | buf[3];
	if (flen < PROTO_HDR_LEN - 4 || flen > PROTO_MAX_FRAME)
		return -1;
	if (len >= 5 && buf[4] != PROTO_VERSION)
		return -1;
	if (len < 4 + flen)
		return 0;
	f->type = buf[5];
	f->status = (uint16_t)(buf[6] << 8 | buf[7]);
	f->id = (uint32_t)buf[8] << 24 | (uint32_t)buf[9] << 16 |
	    (uint32_t)buf[10] << 8 | buf[11];
	f->body = buf + PROTO_HDR_LEN;
	f->bodylen = flen - (PROTO_HDR_LEN - 4);
	*used = 4 + flen;
	return 1;
}

static int
is_request(const struct proto_frame *f, uint8_t type)
{
	return f->type == type && f->status == 0;
}

static int
is_response(const struct proto_frame *f, uint8_t type)
{
	return f->type == (type | PROTO_RESPONSE) && f->status == PROTO_OK;
}

int
proto_decode_ping(const struct proto_frame *f)
{
	return is_request(f, PROTO_PING) && f->bodylen == 0 ? 0 : -1;
}

int
proto_decode_pubkey(const struct proto_frame *f, char *key, size_t keysz)
{
	struct rd	 r = { f->body, f->bodylen };

	if (!is_request(f, PROTO_PUBLIC_KEY) ||
	    get_keyname(&r, key, keysz) == -1)
		return -1;
	return done(&r);
}

int
proto_decode_sign(const struct proto_frame *f, struct proto_sign_req *s)
{
	struct rd	 r = { f->body, f->bodylen };

	if (!is_request(f, PROTO_SIGN) ||
	    get_keyname(&r, s->key, sizeof(s->key)) == -1 ||
	    get_u8(&r, &s->kind) == -1 || get_u8(&r, &s->alg) == -1 ||
	    get_blob(&r, 4, &s->payload, &s->payloadlen) == -1)
		return -1;
	if (s->kind < 1 || s->kind > KIND_MAX || s->alg < 1 ||
	    s->alg > ALG_MAX || s->payloadlen == 0)
		return -1;
	return done(&r);
}

int
proto_decode_ping_resp(const struct proto_frame *f, uint8_t *ceremony,
    uint8_t *nkeys)
{
	struct rd	 r = { f->body, f->bodylen };

	if (!is_response(f, PROTO_PING) || get_u8(&r, ceremony) == -1 ||
	    get_u8(&r, nkeys) == -1 || *ceremony > 1)
		return -1;
	return done(&r);
}

int
proto_decode_pubkey_resp(const struct proto_frame *f, uint8_t *keytype,
    const uint8_t **spki, size_t *spkilen)
{
	struct rd	 r = { f->body, f->bodylen };

	if (!is_response(f, PROTO_PUBLIC_KEY) || get_u8(&r, keytype) == -1 ||
	    get_blob(&r, 2, spki, spkilen) == -1 || *spkilen == 0)
		return -1;
	return done(&r);
}

int
proto_decode_sign_resp(const struct proto_frame *f, const uint8_t **sig,
    size_t *siglen)
{
	struct rd	 r = { f->body, f->bodylen };

	if (!is_response(f, PROTO_SIGN) || get_blob(&r, 2, sig, siglen) == -1 ||
	    *siglen == 0)
		return -1;
	return done(&r);
}

int
proto_decode_error(const struct proto_frame *f, const char **msg,
    size_t *msglen)
{
	struct rd	 r = { f->body, f->bodylen };
	const uint8_t	*p;

	if ((f->type & PROTO_RESPONSE) == 0 || f->status == PROTO_OK ||
	    get_blob(&r, 2, &p, msglen) == -1 || memchr(p, '\0', *msglen))
		return -1;
	*msg = (const char *)p;
	return done(&r);
}

void
pbuf_init(struct pbuf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
}

int
pbuf_reserve(struct pbuf *b, size_t n)
{
	uint8_t	*nd;
	size_t	 ncap;

	/* Doubling must not wrap. */
	if (n > SIZE_MAX / 2 || b->len > SIZE_MAX / 2 - n)
		return -1;
	if (b->len + n > b->cap) {
		ncap = b->cap ? b->cap : 256;
		while (ncap < b->len + n)
			ncap *= 2;
		if ((nd = realloc(b->data, ncap)) == NULL)
			return -1;
		b->data = nd;
		b->cap = ncap;
	}
	return 0;
}

int
pbuf_add(struct pbuf *b, const void *p, size_t n)
{
	if (pbuf_reserve(b, n) == -1)
		return -1;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

void
pbuf_consume(struct pbuf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}

void
pbuf_free(struct pbuf *b)
{
	free(b->data);
	pbuf_init(b);
}

void
hex_lower(char *out, const void *in, size_t n)
{
	static const char	 hex[] = "0123456789abcdef";
	const uint8_t		*p = in;
	size_t			 i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static int
put_be(struct pbuf *b, uint64_t v, int width)
{
	uint8_t	 x[8];
	int	 i;

	for (i = 0; i < width; i++)
		x[i] = (uint8_t)(v >> (8 * (width - 1 - i)));
	return pbuf_add(b, x, width);
}

static int
put_blob(struct pbuf *b, int width, const void *p, size_t n)
{
	return put_be(b, n, width) == -1 ? -1 : pbuf_add(b, p, n);
}

/* Writes a header whose length is patched once the body is known. */
static int
begin(struct pbuf *b, uint8_t type, uint16_t status, uint32_t id,
    size_t *start)
{
	*start = b->len;
	if (put_be(b, 0, 4) == -1 || put_be(b, PROTO_VERSION, 1) == -1 ||
	    put_be(b, type, 1) == -1 || put_be(b, status, 2) == -1 ||
	    put_be(b, id, 4) == -1)
		return -1;
	return 0;
}

static int
finish(struct pbuf *b, size_t start)
{
	size_t	 n = b->len - start - 4;

	if (n > PROTO_MAX_FRAME) {
		b->len = start;
		return -1;
	}
	b->data[start] = (uint8_t)(n >> 24);
	b->data[start + 1] = (uint8_t)(n >> 16);
	b->data[start + 2] = (uint8_t)(n >> 8);
	b->data[start + 3] = (uint8_t)n;
	return 0;
}

int
proto_put_frame(struct pbuf *b, uint8_t type, uint16_t status, uint32_t id,
    const uint8_t *body, size_t n)
{
	size_t	 s;

	if (begin(b, type, status, id, &s) == -1 || pbuf_add(b, body, n) == -1)
		return -1;
	return finish(b, s);
}

int
proto_put_ping(struct pbuf *b, uint32_t id)
{
	return proto_put_frame(b, PROTO_PING, 0, id, NULL, 0);
}

int
proto_put_pubkey(struct pbuf *b, uint32_t id, const char *key)
{
	size_t	 s, n = strlen(key);

	if (n == 0 || n > PROTO_MAX_KEYNAME ||
	    begin(b, PROTO_PUBLIC_KEY, 0, id, &s) == -1 ||
	    put_blob(b, 1, key, n) == -1)
		return -1;
	return finish(b, s);
}

int
proto_put_sign(struct pbuf *b, uint32_t id, const char *key, uint8_t kind,
    uint8_t alg, const uint8_t *p, size_t n)
{
	size_t	 s, kn = strlen(key);

	if (kn == 0 || kn > PROTO_MAX_KEYNAME || n > PROTO_MAX_FRAME ||
	    begin(b, PROTO_SIGN, 0, id, &s) == -1 ||
	    put_blob(b, 1, key, kn) == -1 || put_be(b, kind, 1) == -1 ||
	    put_be(b, alg, 1) == -1 || put_blob(b, 4, p, n) == -1)
		return -1;
	return finish(b, s);
}

int
proto_put_ping_resp(struct pbuf *b, uint32_t id, uint8_t ceremony,
    uint8_t nkeys)
{
	uint8_t	 body[2] = { ceremony, nkeys };

	return proto_put_frame(b, PROTO_PING | PROTO_RESPONSE, PROTO_OK, id,
	    body, sizeof(body));
}

int
proto_put_pubkey_resp(struct pbuf *b, uint32_t id, uint8_t keytype,
    const uint8_t *spki, size_t n)
{
	size_t	 s;

	if (n > 0xffff ||
	    begin(b, PROTO_PUBLIC_KEY | PROTO_RESPONSE, PROTO_OK, id, &s) == -1 ||
	    put_be(b, keytype, 1) == -1 || put_blob(b, 2, spki, n) == -1)
		return -1;
	return finish(b, s);
}

int
proto_put_sign_resp(struct pbuf *b, uint32_t id, const uint8_t *sig, size_t n)
{
	size_t	 s;

	if (n > 0xffff ||
	    begin(b, PROTO_SIGN | PROTO_RESPONSE, PROTO_OK, id, &s) == -1 ||
	    put_blob(b, 2, sig, n) == -1)
		return -1;
	return finish(b, s);
}

int
proto_put_error(struct pbuf *b, uint8_t reqtype, uint32_t id, uint16_t status,
    const char *msg)
{
	size_t	 s, n = strlen(msg);

	if (n > 0xffff)
		n = 0xffff;
	if (status == PROTO_OK ||
	    begin(b, reqtype | PROTO_RESPONSE, status, id, &s) == -1 ||
	    put_blob(b, 2, msg, n) == -1)
		return -1;
	return finish(b, s);
}

static const char *const status_names[] = {
	[PROTO_OK] = "ok",
	[PROTO_E_UNKNOWN_KEY] = "unknown-key",
	[PROTO_E_BAD_ALG] = "bad-algorithm",
	[PROTO_E_REFUSED] = "refused",
	[PROTO_E_HSM] = "hsm-failure",
	[PROTO_E_BUSY] = "busy",
	[PROTO_E_INTERNAL] = "internal",
	[PROTO_E_UNSUPPORTED] = "unsupported",
};

static const char *const kind_names[] = {
	[KIND_X509_TBS] = "x509",
	[KIND_CRL_TBS] = "crl",
	[KIND_OCSP_TBS] = "ocsp",
	[KIND_SSH_CERT] = "ssh",
};

static const char *const alg_names[] = {
	[ALG_ECDSA_SHA256] = "ecdsa-sha256",
	[ALG_ECDSA_SHA384] = "ecdsa-sha384",
	[ALG_ECDSA_SHA512] = "ecdsa-sha512",
	[ALG_RSA_PKCS1_SHA256] = "rsa-pkcs1-sha256",
	[ALG_RSA_PKCS1_SHA384] = "rsa-pkcs1-sha384",
	[ALG_RSA_PKCS1_SHA512] = "rsa-pkcs1-sha512",
	[ALG_RSA_PSS_SHA256] = "rsa-pss-sha256",
	[ALG_RSA_PSS_SHA384] = "rsa-pss-sha384",
	[ALG_RSA_PSS_SHA512] = "rsa-pss-sha512",
	[ALG_ED25519] = "ed25519",
};

#define NAMEOF(tab, i) \
	((i) < sizeof(tab) / sizeof(tab[0]) && tab[i] ? tab[i] : "?")

const char *
proto_status_name(uint16_t status)
{
	return NAMEOF(status_names, status);
}

const char *
proto_kind_name(uint8_t kind)
{
	return NAMEOF(kind_names, kind);
}

const char *
proto_alg_name(uint8_t alg)
{
	return NAMEOF(alg_names, alg);
}

int
proto_alg_from_name(const char *name)
{
	size_t	 i;

	for (i = 1; i < sizeof(alg_names) / sizeof(alg_names[0]); i++)
		if (alg_names[i] && strcmp(alg_names[i], name) == 0)
			return (int)i;
	return -1;
}

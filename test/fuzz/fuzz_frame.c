/*
 * fuzz_frame.c — libFuzzer target for the signer's wire codec: splits the
 * input into frames with proto_frame_next exactly as the monitor does, and
 * runs every decoder on each frame found. Whatever a decoder accepts must
 * re-encode to the very bytes it came from (the codec is canonical: one
 * meaning, one encoding), and every pointer it returns must lie inside the
 * frame. A violation aborts, so the fuzzer reports it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hsm/proto.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)	do { if (!(x)) abort(); } while (0)

static void
inside(const struct proto_frame *f, const void *p, size_t n)
{
	const uint8_t	*q = p;

	CHECK(q >= f->body && n <= f->bodylen &&
	    (size_t)(q - f->body) <= f->bodylen - n);
}

/* The frame re-encoded by an encoder must equal the original bytes. */
static void
same(struct pbuf *b, int rc, const uint8_t *orig, size_t used)
{
	CHECK(rc == 0);
	CHECK(b->len == used);
	CHECK(memcmp(b->data, orig, used) == 0);
	b->len = 0;
}

static void
decode_all(const struct proto_frame *f, const uint8_t *orig, size_t used,
    struct pbuf *b)
{
	struct proto_sign_req	 sr;
	char			 key[PROTO_MAX_KEYNAME + 1], small[8];
	char			*msgz;
	const uint8_t		*p;
	const char		*msg;
	size_t			 n, i;
	uint8_t			 a, c;

	if (proto_decode_ping(f) == 0) {
		CHECK(f->type == PROTO_PING && f->status == 0);
		same(b, proto_put_ping(b, f->id), orig, used);
	}
	if (proto_decode_pubkey(f, key, sizeof(key)) == 0) {
		n = strlen(key);
		CHECK(n >= 1 && n <= PROTO_MAX_KEYNAME);
		for (i = 0; i < n; i++)
			CHECK(key[i] > 0x20 && key[i] < 0x7f);
		same(b, proto_put_pubkey(b, f->id, key), orig, used);
	}
	/* A buffer too small for the name must be refused, not overrun. */
	if (proto_decode_pubkey(f, small, sizeof(small)) == 0)
		CHECK(strlen(small) < sizeof(small));
	memset(&sr, 0, sizeof(sr));
	if (proto_decode_sign(f, &sr) == 0) {
		n = strlen(sr.key);
		CHECK(n >= 1 && n <= PROTO_MAX_KEYNAME);
		for (i = 0; i < n; i++)
			CHECK(sr.key[i] > 0x20 && sr.key[i] < 0x7f);
		CHECK(sr.kind >= 1 && sr.kind <= KIND_MAX);
		CHECK(sr.alg >= 1 && sr.alg <= ALG_MAX);
		CHECK(sr.payloadlen > 0);
		inside(f, sr.payload, sr.payloadlen);
		CHECK(strcmp(proto_kind_name(sr.kind), "?") != 0);
		CHECK(strcmp(proto_alg_name(sr.alg), "?") != 0);
		CHECK(proto_alg_from_name(proto_alg_name(sr.alg)) == sr.alg);
		same(b, proto_put_sign(b, f->id, sr.key, sr.kind, sr.alg,
		    sr.payload, sr.payloadlen), orig, used);
	}
	if (proto_decode_ping_resp(f, &c, &a) == 0) {
		CHECK(c <= 1);
		same(b, proto_put_ping_resp(b, f->id, c, a), orig, used);
	}
	if (proto_decode_pubkey_resp(f, &a, &p, &n) == 0) {
		CHECK(n > 0);
		inside(f, p, n);
		same(b, proto_put_pubkey_resp(b, f->id, a, p, n), orig, used);
	}
	if (proto_decode_sign_resp(f, &p, &n) == 0) {
		CHECK(n > 0);
		inside(f, p, n);
		same(b, proto_put_sign_resp(b, f->id, p, n), orig, used);
	}
	if (proto_decode_error(f, &msg, &n) == 0) {
		CHECK(f->status != PROTO_OK && (f->type & PROTO_RESPONSE));
		if (n)
			inside(f, msg, n);
		CHECK(memchr(msg, '\0', n) == NULL);
		CHECK((msgz = malloc(n + 1)) != NULL);
		memcpy(msgz, msg, n);
		msgz[n] = '\0';
		same(b, proto_put_error(b, f->type & 0x7f, f->id, f->status,
		    msgz), orig, used);
		free(msgz);
		(void)proto_status_name(f->status);
	}
	/* The raw encoder reproduces any frame at all. */
	same(b, proto_put_frame(b, f->type, f->status, f->id, f->body,
	    f->bodylen), orig, used);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_frame	 f;
	struct pbuf		 b;
	size_t			 off = 0, used, i;
	int			 rc;

	pbuf_init(&b);
	while (off < size) {
		used = 0;
		rc = proto_frame_next(data + off, size - off, &f, &used);
		CHECK(rc >= -1 && rc <= 1);
		if (rc != 1) {
			/* "Need more" must stay so for every shorter prefix. */
			if (rc == 0)
				for (i = 0; i < size - off && i < 16; i++)
					CHECK(proto_frame_next(data + off, i,
					    &f, &used) == 0);
			break;
		}
		CHECK(used >= PROTO_HDR_LEN && used <= size - off);
		CHECK(used <= 4 + PROTO_MAX_FRAME);
		CHECK(f.body == data + off + PROTO_HDR_LEN);
		CHECK(f.bodylen == used - PROTO_HDR_LEN);
		decode_all(&f, data + off, used, &b);
		off += used;
	}
	pbuf_free(&b);
	return 0;
}

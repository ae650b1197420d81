/*
 * test_proto.c — the signer's wire codec (hsm/proto.h): every encoder
 * round-trips through its decoder, and every decoder refuses what the
 * header says it must (truncation, leftovers, wrong type or status, bad
 * key names, out-of-range kind or alg, empty payload). proto_frame_next is
 * checked on partial and malformed headers and on frames back to back.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "hsm/proto.h"

/* Parses exactly one whole frame out of b, which must hold nothing else. */
static void
one_frame(const struct pbuf *b, struct proto_frame *f)
{
	size_t	 used = 0;

	assert_int_equal(proto_frame_next(b->data, b->len, f, &used), 1);
	assert_int_equal(used, b->len);
}

/* Builds a raw frame by hand (not with the encoders) into buf. */
static size_t
raw_frame(uint8_t *buf, uint32_t len, uint8_t ver, uint8_t type,
    uint16_t status, uint32_t id, const uint8_t *body, size_t n)
{
	buf[0] = (uint8_t)(len >> 24);
	buf[1] = (uint8_t)(len >> 16);
	buf[2] = (uint8_t)(len >> 8);
	buf[3] = (uint8_t)len;
	buf[4] = ver;
	buf[5] = type;
	buf[6] = (uint8_t)(status >> 8);
	buf[7] = (uint8_t)status;
	buf[8] = (uint8_t)(id >> 24);
	buf[9] = (uint8_t)(id >> 16);
	buf[10] = (uint8_t)(id >> 8);
	buf[11] = (uint8_t)id;
	if (n)
		memcpy(buf + 12, body, n);
	return 12 + n;
}

/* A frame on the stack with an arbitrary body, for decoder tests. */
static struct proto_frame
mkframe(uint8_t type, uint16_t status, const uint8_t *body, size_t n)
{
	struct proto_frame f = { type, status, 7, body, n };

	return f;
}

/* A SIGN request body: str8 key, u8 kind, u8 alg, blob32 payload. */
static size_t
sign_body(uint8_t *out, const char *key, size_t keylen, uint8_t kind,
    uint8_t alg, const uint8_t *p, uint32_t n)
{
	size_t	 o = 0;

	out[o++] = (uint8_t)keylen;
	if (keylen)
		memcpy(out + o, key, keylen);
	o += keylen;
	out[o++] = kind;
	out[o++] = alg;
	out[o++] = (uint8_t)(n >> 24);
	out[o++] = (uint8_t)(n >> 16);
	out[o++] = (uint8_t)(n >> 8);
	out[o++] = (uint8_t)n;
	if (n)
		memcpy(out + o, p, n);
	return o + n;
}

/* ---- encoders and their wire form ---- */

static void
test_ping_roundtrip(void **state)
{
	struct pbuf		 b;
	struct proto_frame	 f;
	static const uint8_t	 want[] = { 0, 0, 0, 8, 1, 1, 0, 0,
	    0xde, 0xad, 0xbe, 0xef };

	(void)state;
	pbuf_init(&b);
	assert_int_equal(proto_put_ping(&b, 0xdeadbeef), 0);
	/* The exact bytes the header documents. */
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.data, want, sizeof(want));
	one_frame(&b, &f);
	assert_int_equal(f.type, PROTO_PING);
	assert_int_equal(f.status, 0);
	assert_int_equal(f.id, 0xdeadbeef);
	assert_int_equal(f.bodylen, 0);
	assert_int_equal(proto_decode_ping(&f), 0);
	pbuf_free(&b);
}

static void
test_ping_resp_roundtrip(void **state)
{
	struct pbuf		 b;
	struct proto_frame	 f;
	uint8_t			 cer = 9, nk = 9;

	(void)state;
	pbuf_init(&b);
	assert_int_equal(proto_put_ping_resp(&b, 42, 1, 3), 0);
	one_frame(&b, &f);
	assert_int_equal(f.type, PROTO_PING | PROTO_RESPONSE);
	assert_int_equal(f.status, PROTO_OK);
	assert_int_equal(f.id, 42);
	assert_int_equal(f.bodylen, 2);
	assert_int_equal(proto_decode_ping_resp(&f, &cer, &nk), 0);
	assert_int_equal(cer, 1);
	assert_int_equal(nk, 3);
	pbuf_free(&b);

	pbuf_init(&b);
	assert_int_equal(proto_put_ping_resp(&b, 43, 0, 0), 0);
	one_frame(&b, &f);
	assert_int_equal(proto_decode_ping_resp(&f, &cer, &nk), 0);
	assert_int_equal(cer, 0);
	assert_int_equal(nk, 0);
	pbuf_free(&b);
}

static void
test_pubkey_roundtrip(void **state)
{
	struct pbuf		 b;
	struct proto_frame	 f;
	char			 key[PROTO_MAX_KEYNAME + 1];
	char			 longest[PROTO_MAX_KEYNAME + 1];
	static const uint8_t	 want[] = { 0, 0, 0, 13, 1, 2, 0, 0,
	    0, 0, 0, 5, 4, 'r', 'o', 'o', 't' };

	(void)state;
	pbuf_init(&b);
	assert_int_equal(proto_put_pubkey(&b, 5, "root"), 0);
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.data, want, sizeof(want));
	one_frame(&b, &f);
	memset(key, 'x', sizeof(key));
	assert_int_equal(proto_decode_pubkey(&f, key, sizeof(key)), 0);
	assert_string_equal(key, "root");
	pbuf_free(&b);

	/* The longest allowed name, 64 bytes, with every printable class. */
	memset(longest, 'a', PROTO_MAX_KEYNAME);
	memcpy(longest, "!~Z9._-", 7);
	longest[PROTO_MAX_KEYNAME] = '\0';
	pbuf_init(&b);
	assert_int_equal(proto_put_pubkey(&b, 6, longest), 0);
	one_frame(&b, &f);
	assert_int_equal(proto_decode_pubkey(&f, key, sizeof(key)), 0);
	assert_string_equal(key, longest);
	pbuf_free(&b);
}

static void
test_pubkey_resp_roundtrip(void **state)
{
	struct pbuf		 b;
	struct proto_frame	 f;
	uint8_t			 spki[300], kt = 0;
	const uint8_t		*got = NULL;
	size_t			 gotlen = 0, i;

	(void)state;
	for (i = 0; i < sizeof(spki); i++)
		spki[i] = (uint8_t)(i * 7 + 1);
	pbuf_init(&b);
	assert_int_equal(proto_put_pubkey_resp(&b, 77, KEYTYPE_RSA, spki,
	    sizeof(spki)), 0);
	one_frame(&b, &f);
	assert_int_equal(f.type, PROTO_PUBLIC_KEY | PROTO_RESPONSE);
	assert_int_equal(f.id, 77);
	assert_int_equal(proto_decode_pubkey_resp(&f, &kt, &got, &gotlen), 0);
	assert_int_equal(kt, KEYTYPE_RSA);
	assert_int_equal(gotlen, sizeof(spki));
	assert_memory_equal(got, spki, sizeof(spki));
	pbuf_free(&b);
}

static void
test_sign_roundtrip(void **state)
{
	struct pbuf		 b;
	struct proto_frame	 f;
	struct proto_sign_req	 r;
	uint8_t			*payload;
	size_t			 n = 70000, i;

	(void)state;
	/* Bigger than 64 KiB: blob32 really is 32 bits wide. */
	payload = malloc(n);
	assert_non_null(payload);
	for (i = 0; i < n; i++)
		payload[i] = (uint8_t)(i ^ (i >> 8));
	pbuf_init(&b);
	assert_int_equal(proto_put_sign(&b, 0x01020304, "intermediate",
	    KIND_CRL_TBS, ALG_RSA_PSS_SHA384, payload, n), 0);
	one_frame(&b, &f);
	assert_int_equal(f.type, PROTO_SIGN);
	assert_int_equal(f.status, 0);
	assert_int_equal(f.id, 0x01020304);
	assert_int_equal(f.bodylen, 1 + 12 + 1 + 1 + 4 + n);
	memset(&r, 0, sizeof(r));
	assert_int_equal(proto_decode_sign(&f, &r), 0);
	assert_string_equal(r.key, "intermediate");
	assert_int_equal(r.kind, KIND_CRL_TBS);
	assert_int_equal(r.alg, ALG_RSA_PSS_SHA384);
	assert_int_equal(r.payloadlen, n);
	assert_memory_equal(r.payload, payload, n);
	pbuf_free(&b);

	/* Every kind and alg at the edges of their ranges. */
	for (i = 0; i < 4; i++) {
		uint8_t kind = i & 1 ? KIND_MAX : 1, alg = i & 2 ? ALG_MAX : 1;

		pbuf_init(&b);
		assert_int_equal(proto_put_sign(&b, (uint32_t)i, "k", kind, alg,
		    (const uint8_t *)"x", 1), 0);
		one_frame(&b, &f);
		assert_int_equal(proto_decode_sign(&f, &r), 0);
		assert_int_equal(r.kind, kind);
		assert_int_equal(r.alg, alg);
		assert_int_equal(r.payloadlen, 1);
		assert_int_equal(r.payload[0], 'x');
		pbuf_free(&b);
	}
	free(payload);
}

static void
test_sign_resp_roundtrip(void **state)
{
	struct pbuf		 b;
	struct proto_frame	 f;
	static const uint8_t	 sig[] = { 0x30, 0x06, 0x02, 0x01, 0x01, 0x02,
	    0x01, 0x02 };
	const uint8_t		*got = NULL;
	size_t			 gotlen = 0;

	(void)state;
	pbuf_init(&b);
	assert_int_equal(proto_put_sign_resp(&b, 9, sig, sizeof(sig)), 0);
	one_frame(&b, &f);
	assert_int_equal(f.type, PROTO_SIGN | PROTO_RESPONSE);
	assert_int_equal(f.status, PROTO_OK);
	assert_int_equal(f.id, 9);
	assert_int_equal(proto_decode_sign_resp(&f, &got, &gotlen), 0);
	assert_int_equal(gotlen, sizeof(sig));
	assert_memory_equal(got, sig, sizeof(sig));
	pbuf_free(&b);
}

static void
test_error_roundtrip(void **state)
{
	struct pbuf		 b;
	struct proto_frame	 f;
	const char		*msg = NULL;
	size_t			 msglen = 0;

	(void)state;
	pbuf_init(&b);
	assert_int_equal(proto_put_error(&b, PROTO_SIGN, 11, PROTO_E_REFUSED,
	    "issuer is not this CA"), 0);
	one_frame(&b, &f);
	assert_int_equal(f.type, PROTO_SIGN | PROTO_RESPONSE);
	assert_int_equal(f.status, PROTO_E_REFUSED);
	assert_int_equal(f.id, 11);
	assert_int_equal(proto_decode_error(&f, &msg, &msglen), 0);
	assert_int_equal(msglen, strlen("issuer is not this CA"));
	assert_memory_equal(msg, "issuer is not this CA", msglen);
	/* An error frame is not a success of its type. */
	{
		const uint8_t	*s;
		size_t		 sl;

		assert_int_equal(proto_decode_sign_resp(&f, &s, &sl), -1);
	}
	pbuf_free(&b);

	/* Empty message is allowed; status OK is not an error. */
	pbuf_init(&b);
	assert_int_equal(proto_put_error(&b, PROTO_PING, 0, PROTO_E_HSM, ""), 0);
	one_frame(&b, &f);
	assert_int_equal(proto_decode_error(&f, &msg, &msglen), 0);
	assert_int_equal(msglen, 0);
	assert_int_equal(proto_put_error(&b, PROTO_PING, 0, PROTO_OK, "x"), -1);
	pbuf_free(&b);
}

static void
test_put_frame_raw(void **state)
{
	struct pbuf		 b;
	struct proto_frame	 f;
	static const uint8_t	 body[] = { 1, 2, 3 };

	(void)state;
	pbuf_init(&b);
	assert_int_equal(proto_put_frame(&b, 0x55, 0x1234, 0xfffffffe, body,
	    sizeof(body)), 0);
	one_frame(&b, &f);
	assert_int_equal(f.type, 0x55);
	assert_int_equal(f.status, 0x1234);
	assert_int_equal(f.id, 0xfffffffe);
	assert_int_equal(f.bodylen, 3);
	assert_memory_equal(f.body, body, 3);
	pbuf_free(&b);
}

static void
test_encoders_refuse(void **state)
{
	struct pbuf	 b;
	char		 big[PROTO_MAX_KEYNAME + 2];
	uint8_t		*huge;

	(void)state;
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';	/* 65 characters */
	pbuf_init(&b);
	assert_int_equal(proto_put_pubkey(&b, 1, ""), -1);
	assert_int_equal(proto_put_pubkey(&b, 1, big), -1);
	assert_int_equal(proto_put_sign(&b, 1, "", 1, 1,
	    (const uint8_t *)"x", 1), -1);
	assert_int_equal(proto_put_sign(&b, 1, big, 1, 1,
	    (const uint8_t *)"x", 1), -1);
	/* Over 1 MiB: no frame could carry it. */
	huge = calloc(1, PROTO_MAX_FRAME + 1);
	assert_non_null(huge);
	assert_int_equal(proto_put_sign(&b, 1, "k", 1, 1, huge,
	    PROTO_MAX_FRAME + 1), -1);
	/* Exactly the largest payload that still fits in one frame. */
	assert_int_equal(proto_put_sign(&b, 1, "k", 1, 1, huge,
	    PROTO_MAX_FRAME - 8 - 8), 0);
	assert_int_equal(b.len, 4 + PROTO_MAX_FRAME);
	b.len = 0;
	assert_int_equal(proto_put_sign(&b, 1, "k", 1, 1, huge,
	    PROTO_MAX_FRAME - 8 - 7), -1);
	assert_int_equal(b.len, 0);	/* a refused frame leaves no bytes */
	assert_int_equal(proto_put_sign_resp(&b, 1, huge, 0x10000), -1);
	assert_int_equal(proto_put_pubkey_resp(&b, 1, 1, huge, 0x10000), -1);
	free(huge);
	pbuf_free(&b);
}

/* ---- decoders refuse ---- */

static void
test_ping_decode_refuses(void **state)
{
	struct proto_frame	 f;
	static const uint8_t	 x[1] = { 0 };
	uint8_t			 cer, nk;
	static const uint8_t	 r2[2] = { 0, 1 }, r3[3] = { 0, 1, 2 };
	static const uint8_t	 rbad[2] = { 2, 1 };

	(void)state;
	f = mkframe(PROTO_PING, 0, NULL, 0);
	assert_int_equal(proto_decode_ping(&f), 0);
	f = mkframe(PROTO_PING, 0, x, 1);		/* leftover */
	assert_int_equal(proto_decode_ping(&f), -1);
	f = mkframe(PROTO_PING, 1, NULL, 0);		/* status in request */
	assert_int_equal(proto_decode_ping(&f), -1);
	f = mkframe(PROTO_PUBLIC_KEY, 0, NULL, 0);	/* wrong type */
	assert_int_equal(proto_decode_ping(&f), -1);
	f = mkframe(PROTO_PING | PROTO_RESPONSE, 0, NULL, 0);
	assert_int_equal(proto_decode_ping(&f), -1);

	f = mkframe(PROTO_PING | PROTO_RESPONSE, 0, r2, 2);
	assert_int_equal(proto_decode_ping_resp(&f, &cer, &nk), 0);
	f = mkframe(PROTO_PING | PROTO_RESPONSE, 0, r2, 1);	/* truncated */
	assert_int_equal(proto_decode_ping_resp(&f, &cer, &nk), -1);
	f = mkframe(PROTO_PING | PROTO_RESPONSE, 0, r2, 0);
	assert_int_equal(proto_decode_ping_resp(&f, &cer, &nk), -1);
	f = mkframe(PROTO_PING | PROTO_RESPONSE, 0, r3, 3);	/* leftover */
	assert_int_equal(proto_decode_ping_resp(&f, &cer, &nk), -1);
	f = mkframe(PROTO_PING | PROTO_RESPONSE, 0, rbad, 2);	/* ceremony 2 */
	assert_int_equal(proto_decode_ping_resp(&f, &cer, &nk), -1);
	f = mkframe(PROTO_PING | PROTO_RESPONSE, PROTO_E_HSM, r2, 2);
	assert_int_equal(proto_decode_ping_resp(&f, &cer, &nk), -1);
	f = mkframe(PROTO_PING, 0, r2, 2);			/* a request */
	assert_int_equal(proto_decode_ping_resp(&f, &cer, &nk), -1);
	f = mkframe(PROTO_SIGN | PROTO_RESPONSE, 0, r2, 2);
	assert_int_equal(proto_decode_ping_resp(&f, &cer, &nk), -1);
}

/* A key name of n bytes of c, in a PUBLIC_KEY body; decoded result. */
static int
pubkey_name(const uint8_t *name, size_t n)
{
	struct proto_frame	 f;
	uint8_t			 body[300];
	char			 key[PROTO_MAX_KEYNAME + 1];

	body[0] = (uint8_t)n;
	memcpy(body + 1, name, n);
	f = mkframe(PROTO_PUBLIC_KEY, 0, body, 1 + n);
	return proto_decode_pubkey(&f, key, sizeof(key));
}

static void
test_pubkey_decode_refuses(void **state)
{
	struct proto_frame	 f;
	uint8_t			 body[300], name[256];
	char			 key[PROTO_MAX_KEYNAME + 1], small[5];
	int			 c;

	(void)state;
	memset(name, 'a', sizeof(name));
	assert_int_equal(pubkey_name(name, 1), 0);
	assert_int_equal(pubkey_name(name, PROTO_MAX_KEYNAME), 0);
	assert_int_equal(pubkey_name(name, 0), -1);		/* empty */
	assert_int_equal(pubkey_name(name, PROTO_MAX_KEYNAME + 1), -1);
	assert_int_equal(pubkey_name(name, 255), -1);
	memcpy(name, "a b", 3);
	assert_int_equal(pubkey_name(name, 3), -1);		/* space */
	/* Every control character, DEL and every byte >= 0x80. */
	for (c = 0; c < 256; c++) {
		if (c > 0x20 && c < 0x7f)
			continue;
		name[0] = 'k';
		name[1] = (uint8_t)c;
		name[2] = 'k';
		assert_int_equal(pubkey_name(name, 3), -1);
	}
	/* Every printable non-space byte is fine. */
	for (c = 0x21; c < 0x7f; c++) {
		name[0] = (uint8_t)c;
		assert_int_equal(pubkey_name(name, 1), 0);
	}

	memcpy(body, "\x04root", 5);
	f = mkframe(PROTO_PUBLIC_KEY, 0, body, 5);
	assert_int_equal(proto_decode_pubkey(&f, key, sizeof(key)), 0);
	/* Name does not fit the caller's buffer. */
	assert_int_equal(proto_decode_pubkey(&f, small, 4), -1);
	assert_int_equal(proto_decode_pubkey(&f, small, 5), 0);
	assert_string_equal(small, "root");
	f = mkframe(PROTO_PUBLIC_KEY, 0, body, 4);		/* truncated */
	assert_int_equal(proto_decode_pubkey(&f, key, sizeof(key)), -1);
	f = mkframe(PROTO_PUBLIC_KEY, 0, body, 0);
	assert_int_equal(proto_decode_pubkey(&f, key, sizeof(key)), -1);
	body[5] = 0;
	f = mkframe(PROTO_PUBLIC_KEY, 0, body, 6);		/* leftover */
	assert_int_equal(proto_decode_pubkey(&f, key, sizeof(key)), -1);
	f = mkframe(PROTO_PUBLIC_KEY, 4, body, 5);		/* status */
	assert_int_equal(proto_decode_pubkey(&f, key, sizeof(key)), -1);
	f = mkframe(PROTO_SIGN, 0, body, 5);			/* type */
	assert_int_equal(proto_decode_pubkey(&f, key, sizeof(key)), -1);
	f = mkframe(PROTO_PUBLIC_KEY | PROTO_RESPONSE, 0, body, 5);
	assert_int_equal(proto_decode_pubkey(&f, key, sizeof(key)), -1);
}

static void
test_pubkey_resp_decode_refuses(void **state)
{
	struct proto_frame	 f;
	static const uint8_t	 ok[] = { 1, 0, 2, 0x30, 0x00 };
	static const uint8_t	 empty[] = { 1, 0, 0 };
	static const uint8_t	 left[] = { 1, 0, 2, 0x30, 0x00, 0xff };
	uint8_t			 kt;
	const uint8_t		*s;
	size_t			 sl, i;

	(void)state;
	f = mkframe(PROTO_PUBLIC_KEY | PROTO_RESPONSE, 0, ok, sizeof(ok));
	assert_int_equal(proto_decode_pubkey_resp(&f, &kt, &s, &sl), 0);
	assert_int_equal(kt, 1);
	assert_int_equal(sl, 2);
	for (i = 0; i < sizeof(ok); i++) {			/* truncated */
		f = mkframe(PROTO_PUBLIC_KEY | PROTO_RESPONSE, 0, ok, i);
		assert_int_equal(proto_decode_pubkey_resp(&f, &kt, &s, &sl),
		    -1);
	}
	f = mkframe(PROTO_PUBLIC_KEY | PROTO_RESPONSE, 0, left, sizeof(left));
	assert_int_equal(proto_decode_pubkey_resp(&f, &kt, &s, &sl), -1);
	f = mkframe(PROTO_PUBLIC_KEY | PROTO_RESPONSE, 0, empty, sizeof(empty));
	assert_int_equal(proto_decode_pubkey_resp(&f, &kt, &s, &sl), -1);
	f = mkframe(PROTO_PUBLIC_KEY | PROTO_RESPONSE, 1, ok, sizeof(ok));
	assert_int_equal(proto_decode_pubkey_resp(&f, &kt, &s, &sl), -1);
	f = mkframe(PROTO_PUBLIC_KEY, 0, ok, sizeof(ok));
	assert_int_equal(proto_decode_pubkey_resp(&f, &kt, &s, &sl), -1);
	f = mkframe(PROTO_SIGN | PROTO_RESPONSE, 0, ok, sizeof(ok));
	assert_int_equal(proto_decode_pubkey_resp(&f, &kt, &s, &sl), -1);
}

static int
decode_sign_body(const uint8_t *b, size_t n, struct proto_sign_req *r)
{
	struct proto_frame f = mkframe(PROTO_SIGN, 0, b, n);

	return proto_decode_sign(&f, r);
}

static void
test_sign_decode_refuses(void **state)
{
	struct proto_frame	 f;
	struct proto_sign_req	 r;
	uint8_t			 b[400], name[100];
	size_t			 n, i;
	int			 c;

	(void)state;
	n = sign_body(b, "ca", 2, KIND_X509_TBS, ALG_ECDSA_SHA256,
	    (const uint8_t *)"abc", 3);
	assert_int_equal(decode_sign_body(b, n, &r), 0);
	assert_string_equal(r.key, "ca");
	assert_int_equal(r.payloadlen, 3);
	/* Truncated at every length. */
	for (i = 0; i < n; i++)
		assert_int_equal(decode_sign_body(b, i, &r), -1);
	/* Leftover byte. */
	b[n] = 0;
	assert_int_equal(decode_sign_body(b, n + 1, &r), -1);
	/* Payload length claims more than there is, or less. */
	b[2 + 1 + 1 + 1 + 3] = 4;
	assert_int_equal(decode_sign_body(b, n, &r), -1);
	b[2 + 1 + 1 + 1 + 3] = 2;
	assert_int_equal(decode_sign_body(b, n, &r), -1);
	b[2 + 1 + 1 + 1 + 3] = 3;
	/* Length with the top byte set: no wraparound. */
	b[2 + 1 + 1 + 1] = 0xff;
	assert_int_equal(decode_sign_body(b, n, &r), -1);
	b[2 + 1 + 1 + 1] = 0;
	assert_int_equal(decode_sign_body(b, n, &r), 0);

	/* Wrong type, nonzero status, a response. */
	f = mkframe(PROTO_PUBLIC_KEY, 0, b, n);
	assert_int_equal(proto_decode_sign(&f, &r), -1);
	f = mkframe(PROTO_SIGN, 1, b, n);
	assert_int_equal(proto_decode_sign(&f, &r), -1);
	f = mkframe(PROTO_SIGN, 0x8000, b, n);
	assert_int_equal(proto_decode_sign(&f, &r), -1);
	f = mkframe(PROTO_SIGN | PROTO_RESPONSE, 0, b, n);
	assert_int_equal(proto_decode_sign(&f, &r), -1);

	/* Kind and alg out of range. */
	n = sign_body(b, "ca", 2, 0, ALG_ECDSA_SHA256,
	    (const uint8_t *)"abc", 3);
	assert_int_equal(decode_sign_body(b, n, &r), -1);
	n = sign_body(b, "ca", 2, KIND_MAX + 1, ALG_ECDSA_SHA256,
	    (const uint8_t *)"abc", 3);
	assert_int_equal(decode_sign_body(b, n, &r), -1);
	n = sign_body(b, "ca", 2, 0xff, ALG_ECDSA_SHA256,
	    (const uint8_t *)"abc", 3);
	assert_int_equal(decode_sign_body(b, n, &r), -1);
	n = sign_body(b, "ca", 2, KIND_X509_TBS, 0,
	    (const uint8_t *)"abc", 3);
	assert_int_equal(decode_sign_body(b, n, &r), -1);
	n = sign_body(b, "ca", 2, KIND_X509_TBS, ALG_MAX + 1,
	    (const uint8_t *)"abc", 3);
	assert_int_equal(decode_sign_body(b, n, &r), -1);
	n = sign_body(b, "ca", 2, KIND_X509_TBS, 0xff,
	    (const uint8_t *)"abc", 3);
	assert_int_equal(decode_sign_body(b, n, &r), -1);
	/* Zero-length payload. */
	n = sign_body(b, "ca", 2, KIND_X509_TBS, ALG_ECDSA_SHA256, NULL, 0);
	assert_int_equal(decode_sign_body(b, n, &r), -1);

	/* Bad key names: empty, too long, space, controls, high bytes. */
	n = sign_body(b, "", 0, 1, 1, (const uint8_t *)"x", 1);
	assert_int_equal(decode_sign_body(b, n, &r), -1);
	memset(name, 'q', sizeof(name));
	n = sign_body(b, (const char *)name, PROTO_MAX_KEYNAME, 1, 1,
	    (const uint8_t *)"x", 1);
	assert_int_equal(decode_sign_body(b, n, &r), 0);
	assert_int_equal(strlen(r.key), PROTO_MAX_KEYNAME);
	n = sign_body(b, (const char *)name, PROTO_MAX_KEYNAME + 1, 1, 1,
	    (const uint8_t *)"x", 1);
	assert_int_equal(decode_sign_body(b, n, &r), -1);
	n = sign_body(b, "a b", 3, 1, 1, (const uint8_t *)"x", 1);
	assert_int_equal(decode_sign_body(b, n, &r), -1);
	for (c = 0; c < 256; c++) {
		if (c > 0x20 && c < 0x7f)
			continue;
		name[0] = (uint8_t)c;
		n = sign_body(b, (const char *)name, 2, 1, 1,
		    (const uint8_t *)"x", 1);
		assert_int_equal(decode_sign_body(b, n, &r), -1);
	}
}

static void
test_sign_resp_decode_refuses(void **state)
{
	struct proto_frame	 f;
	static const uint8_t	 ok[] = { 0, 2, 0xaa, 0xbb };
	static const uint8_t	 left[] = { 0, 2, 0xaa, 0xbb, 0 };
	static const uint8_t	 empty[] = { 0, 0 };
	const uint8_t		*s;
	size_t			 sl, i;

	(void)state;
	f = mkframe(PROTO_SIGN | PROTO_RESPONSE, 0, ok, sizeof(ok));
	assert_int_equal(proto_decode_sign_resp(&f, &s, &sl), 0);
	assert_int_equal(sl, 2);
	assert_int_equal(s[1], 0xbb);
	for (i = 0; i < sizeof(ok); i++) {
		f = mkframe(PROTO_SIGN | PROTO_RESPONSE, 0, ok, i);
		assert_int_equal(proto_decode_sign_resp(&f, &s, &sl), -1);
	}
	f = mkframe(PROTO_SIGN | PROTO_RESPONSE, 0, left, sizeof(left));
	assert_int_equal(proto_decode_sign_resp(&f, &s, &sl), -1);
	f = mkframe(PROTO_SIGN | PROTO_RESPONSE, 0, empty, sizeof(empty));
	assert_int_equal(proto_decode_sign_resp(&f, &s, &sl), -1);
	f = mkframe(PROTO_SIGN | PROTO_RESPONSE, 3, ok, sizeof(ok));
	assert_int_equal(proto_decode_sign_resp(&f, &s, &sl), -1);
	f = mkframe(PROTO_SIGN, 0, ok, sizeof(ok));
	assert_int_equal(proto_decode_sign_resp(&f, &s, &sl), -1);
	f = mkframe(PROTO_PING | PROTO_RESPONSE, 0, ok, sizeof(ok));
	assert_int_equal(proto_decode_sign_resp(&f, &s, &sl), -1);
}

static void
test_error_decode_refuses(void **state)
{
	struct proto_frame	 f;
	static const uint8_t	 ok[] = { 0, 3, 'b', 'a', 'd' };
	static const uint8_t	 nul[] = { 0, 3, 'b', 0, 'd' };
	static const uint8_t	 left[] = { 0, 3, 'b', 'a', 'd', '!' };
	const char		*m;
	size_t			 ml, i;

	(void)state;
	f = mkframe(PROTO_SIGN | PROTO_RESPONSE, PROTO_E_HSM, ok, sizeof(ok));
	assert_int_equal(proto_decode_error(&f, &m, &ml), 0);
	assert_int_equal(ml, 3);
	assert_memory_equal(m, "bad", 3);
	for (i = 0; i < sizeof(ok); i++) {
		f = mkframe(PROTO_SIGN | PROTO_RESPONSE, PROTO_E_HSM, ok, i);
		assert_int_equal(proto_decode_error(&f, &m, &ml), -1);
	}
	f = mkframe(PROTO_SIGN | PROTO_RESPONSE, PROTO_E_HSM, left,
	    sizeof(left));
	assert_int_equal(proto_decode_error(&f, &m, &ml), -1);
	f = mkframe(PROTO_SIGN | PROTO_RESPONSE, PROTO_E_HSM, nul, sizeof(nul));
	assert_int_equal(proto_decode_error(&f, &m, &ml), -1);
	f = mkframe(PROTO_SIGN | PROTO_RESPONSE, PROTO_OK, ok, sizeof(ok));
	assert_int_equal(proto_decode_error(&f, &m, &ml), -1);
	f = mkframe(PROTO_SIGN, PROTO_E_HSM, ok, sizeof(ok));	/* request */
	assert_int_equal(proto_decode_error(&f, &m, &ml), -1);
}

/* ---- proto_frame_next ---- */

static void
test_frame_partial(void **state)
{
	struct pbuf		 b;
	struct proto_frame	 f;
	size_t			 used, i;

	(void)state;
	pbuf_init(&b);
	assert_int_equal(proto_put_sign(&b, 3, "key", 1, 1,
	    (const uint8_t *)"payload", 7), 0);
	/* Every strict prefix: more bytes needed, never an error. */
	for (i = 0; i < b.len; i++) {
		used = 12345;
		assert_int_equal(proto_frame_next(b.data, i, &f, &used), 0);
		assert_int_equal(used, 12345);
	}
	assert_int_equal(proto_frame_next(b.data, b.len, &f, &used), 1);
	assert_int_equal(used, b.len);
	pbuf_free(&b);
}

static void
test_frame_bad_header(void **state)
{
	uint8_t			 buf[64];
	struct proto_frame	 f;
	size_t			 used, n;

	(void)state;
	/* Wrong version: refused as soon as the version byte is there. */
	n = raw_frame(buf, 8, 2, PROTO_PING, 0, 1, NULL, 0);
	assert_int_equal(proto_frame_next(buf, n, &f, &used), -1);
	assert_int_equal(proto_frame_next(buf, 5, &f, &used), -1);
	n = raw_frame(buf, 8, 0, PROTO_PING, 0, 1, NULL, 0);
	assert_int_equal(proto_frame_next(buf, n, &f, &used), -1);
	n = raw_frame(buf, 8, 0xff, PROTO_PING, 0, 1, NULL, 0);
	assert_int_equal(proto_frame_next(buf, n, &f, &used), -1);
	/* Length below the header size, or above the maximum. */
	n = raw_frame(buf, 7, 1, PROTO_PING, 0, 1, NULL, 0);
	assert_int_equal(proto_frame_next(buf, n, &f, &used), -1);
	assert_int_equal(proto_frame_next(buf, 4, &f, &used), -1);
	n = raw_frame(buf, 0, 1, PROTO_PING, 0, 1, NULL, 0);
	assert_int_equal(proto_frame_next(buf, n, &f, &used), -1);
	n = raw_frame(buf, PROTO_MAX_FRAME + 1, 1, PROTO_SIGN, 0, 1, NULL, 0);
	assert_int_equal(proto_frame_next(buf, n, &f, &used), -1);
	assert_int_equal(proto_frame_next(buf, 4, &f, &used), -1);
	n = raw_frame(buf, 0xffffffff, 1, PROTO_SIGN, 0, 1, NULL, 0);
	assert_int_equal(proto_frame_next(buf, n, &f, &used), -1);
	/* The largest allowed length is only "need more". */
	n = raw_frame(buf, PROTO_MAX_FRAME, 1, PROTO_SIGN, 0, 1, NULL, 0);
	assert_int_equal(proto_frame_next(buf, n, &f, &used), 0);
	/* Exactly the header, no body. */
	n = raw_frame(buf, 8, 1, PROTO_PING, 0, 0x0a0b0c0d, NULL, 0);
	assert_int_equal(proto_frame_next(buf, n, &f, &used), 1);
	assert_int_equal(used, 12);
	assert_int_equal(f.id, 0x0a0b0c0d);
	assert_int_equal(f.bodylen, 0);
	/* A header-only prefix of a long frame: need more. */
	n = raw_frame(buf, 8 + 20, 1, PROTO_SIGN, 0, 1, NULL, 0);
	assert_int_equal(proto_frame_next(buf, n, &f, &used), 0);
}

static void
test_frame_back_to_back(void **state)
{
	struct pbuf		 b;
	struct proto_frame	 f;
	struct proto_sign_req	 r;
	size_t			 used, off = 0, first;
	char			 key[PROTO_MAX_KEYNAME + 1];

	(void)state;
	pbuf_init(&b);
	assert_int_equal(proto_put_sign(&b, 100, "a", 2, 3,
	    (const uint8_t *)"xy", 2), 0);
	first = b.len;
	assert_int_equal(proto_put_pubkey(&b, 101, "bb"), 0);
	assert_int_equal(proto_put_ping(&b, 102), 0);

	assert_int_equal(proto_frame_next(b.data, b.len, &f, &used), 1);
	assert_int_equal(used, first);
	assert_int_equal(f.id, 100);
	assert_int_equal(proto_decode_sign(&f, &r), 0);
	assert_int_equal(r.payloadlen, 2);
	assert_memory_equal(r.payload, "xy", 2);
	off += used;
	assert_int_equal(proto_frame_next(b.data + off, b.len - off, &f,
	    &used), 1);
	assert_int_equal(f.id, 101);
	assert_int_equal(proto_decode_pubkey(&f, key, sizeof(key)), 0);
	assert_string_equal(key, "bb");
	off += used;
	/* The third frame, but with its last byte missing: wait. */
	assert_int_equal(proto_frame_next(b.data + off, b.len - off - 1, &f,
	    &used), 0);
	assert_int_equal(proto_frame_next(b.data + off, b.len - off, &f,
	    &used), 1);
	assert_int_equal(f.id, 102);
	assert_int_equal(proto_decode_ping(&f), 0);
	off += used;
	assert_int_equal(off, b.len);
	assert_int_equal(proto_frame_next(b.data + off, 0, &f, &used), 0);

	/* pbuf_consume drops exactly one frame. */
	pbuf_consume(&b, first);
	assert_int_equal(proto_frame_next(b.data, b.len, &f, &used), 1);
	assert_int_equal(f.id, 101);
	pbuf_consume(&b, b.len + 5);
	assert_int_equal(b.len, 0);
	pbuf_free(&b);
}

static void
test_names(void **state)
{
	int	 a;

	(void)state;
	assert_string_equal(proto_status_name(PROTO_E_REFUSED), "refused");
	assert_string_equal(proto_status_name(999), "?");
	assert_string_equal(proto_kind_name(KIND_SSH_CERT), "ssh");
	assert_string_equal(proto_kind_name(0), "?");
	assert_string_equal(proto_kind_name(KIND_MAX + 1), "?");
	assert_string_equal(proto_alg_name(ALG_RSA_PSS_SHA256),
	    "rsa-pss-sha256");
	assert_string_equal(proto_alg_name(0), "?");
	assert_string_equal(proto_alg_name(ALG_MAX + 1), "?");
	for (a = 1; a <= ALG_MAX; a++)
		assert_int_equal(proto_alg_from_name(proto_alg_name(
		    (uint8_t)a)), a);
	assert_int_equal(proto_alg_from_name("?"), -1);
	assert_int_equal(proto_alg_from_name(""), -1);
	assert_int_equal(proto_alg_from_name("ECDSA-SHA256"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ping_roundtrip),
		cmocka_unit_test(test_ping_resp_roundtrip),
		cmocka_unit_test(test_pubkey_roundtrip),
		cmocka_unit_test(test_pubkey_resp_roundtrip),
		cmocka_unit_test(test_sign_roundtrip),
		cmocka_unit_test(test_sign_resp_roundtrip),
		cmocka_unit_test(test_error_roundtrip),
		cmocka_unit_test(test_put_frame_raw),
		cmocka_unit_test(test_encoders_refuse),
		cmocka_unit_test(test_ping_decode_refuses),
		cmocka_unit_test(test_pubkey_decode_refuses),
		cmocka_unit_test(test_pubkey_resp_decode_refuses),
		cmocka_unit_test(test_sign_decode_refuses),
		cmocka_unit_test(test_sign_resp_decode_refuses),
		cmocka_unit_test(test_error_decode_refuses),
		cmocka_unit_test(test_frame_partial),
		cmocka_unit_test(test_frame_bad_header),
		cmocka_unit_test(test_frame_back_to_back),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

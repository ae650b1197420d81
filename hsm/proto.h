/*
 * proto.h — the signer's wire protocol: the whole contract between
 * p11ca-signer and its clients (the front end, the CLI, tests).
 *
 * Every message is one frame:
 *
 *   u32 len      bytes that follow this field (PROTO_HDR_LEN - 4 + body)
 *   u8  version  PROTO_VERSION
 *   u8  type     a request type, or a request type | PROTO_RESPONSE
 *   u16 status   0 in requests; a PROTO_E_* code in responses
 *   u32 id       chosen by the client, echoed in the response, so many
 *                requests may be in flight on one connection and answers
 *                may come back in any order
 *   body         type-specific, described below; no leftover bytes allowed
 *
 * All integers are big-endian. A str8 is u8 length + bytes; a blob16 is u16
 * length + bytes; a blob32 is u32 length + bytes.
 *
 *   PING        req: (empty)                 resp: u8 ceremony, u8 nkeys
 *   PUBLIC_KEY  req: str8 key                resp: u8 keytype, blob16 SPKI DER
 *   SIGN        req: str8 key, u8 kind, u8 alg, blob32 payload
 *               resp: blob16 signature
 *   any error   resp: status != 0, body: blob16 message (UTF-8, no NUL)
 *
 * Signatures are DER ECDSA-Sig-Value for X509/CRL/OCSP kinds and the SSH
 * wire signature blob (string algorithm, string signature) for SSH_CERT.
 */
#ifndef P11CA_PROTO_H
#define P11CA_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_VERSION      1
#define PROTO_HDR_LEN      12
#define PROTO_MAX_FRAME    (1u << 20)	/* 1 MiB: room for a large CRL TBS */
#define PROTO_MAX_KEYNAME  64
#define PROTO_RESPONSE     0x80

enum proto_type {
	PROTO_PING = 1,
	PROTO_PUBLIC_KEY = 2,
	PROTO_SIGN = 3,
};

/* What a payload is; the signer's guards parse each differently. */
enum proto_kind {
	KIND_X509_TBS = 1,	/* TBSCertificate DER */
	KIND_CRL_TBS = 2,	/* TBSCertList DER */
	KIND_OCSP_TBS = 3,	/* OCSP ResponseData DER */
	KIND_SSH_CERT = 4,	/* OpenSSH certificate up to its signature */
	KIND_MAX = KIND_SSH_CERT,
};

enum proto_alg {
	ALG_ECDSA_SHA256 = 1,
	ALG_ECDSA_SHA384 = 2,
	ALG_ECDSA_SHA512 = 3,
	ALG_RSA_PKCS1_SHA256 = 4,
	ALG_RSA_PKCS1_SHA384 = 5,
	ALG_RSA_PKCS1_SHA512 = 6,
	ALG_RSA_PSS_SHA256 = 7,
	ALG_RSA_PSS_SHA384 = 8,
	ALG_RSA_PSS_SHA512 = 9,
	ALG_ED25519 = 10,
	ALG_MAX = ALG_ED25519,
};

enum proto_keytype {
	KEYTYPE_EC_P256 = 1,
	KEYTYPE_EC_P384 = 2,
	KEYTYPE_EC_P521 = 3,
	KEYTYPE_RSA = 4,
	KEYTYPE_ED25519 = 5,
};

/* Response status codes: each names who is at fault, so callers map them. */
enum proto_status {
	PROTO_OK = 0,
	PROTO_E_UNKNOWN_KEY = 1,	/* no such key in the signer's table */
	PROTO_E_BAD_ALG = 2,		/* algorithm does not fit the key */
	PROTO_E_REFUSED = 3,		/* a guard refused the payload */
	PROTO_E_HSM = 4,		/* the token failed, after one retry */
	PROTO_E_BUSY = 5,		/* no worker can take the job now */
	PROTO_E_INTERNAL = 6,
	PROTO_E_UNSUPPORTED = 7,	/* request type the signer does not serve */
};

struct proto_frame {
	uint8_t		 type;
	uint16_t	 status;
	uint32_t	 id;
	const uint8_t	*body;
	size_t		 bodylen;
};

struct proto_sign_req {
	char		 key[PROTO_MAX_KEYNAME + 1];
	uint8_t		 kind;
	uint8_t		 alg;
	const uint8_t	*payload;
	size_t		 payloadlen;
};

/* A growable output buffer; frames are appended to it. */
struct pbuf {
	uint8_t		*data;
	size_t		 len;
	size_t		 cap;
};

/*
 * Finds one frame at the start of buf. Returns 1 and fills *f and *used
 * when a whole frame is there, 0 when more bytes are needed, -1 when the
 * bytes can never be a valid frame (bad version, length out of range).
 */
int	proto_frame_next(const uint8_t *buf, size_t len, struct proto_frame *f,
	    size_t *used);

/* Strict body decoders: -1 on any malformation or leftover byte. */
int	proto_decode_ping(const struct proto_frame *f);
int	proto_decode_pubkey(const struct proto_frame *f, char *key,
	    size_t keysz);
int	proto_decode_sign(const struct proto_frame *f, struct proto_sign_req *r);
int	proto_decode_ping_resp(const struct proto_frame *f, uint8_t *ceremony,
	    uint8_t *nkeys);
int	proto_decode_pubkey_resp(const struct proto_frame *f, uint8_t *keytype,
	    const uint8_t **spki, size_t *spkilen);
int	proto_decode_sign_resp(const struct proto_frame *f,
	    const uint8_t **sig, size_t *siglen);
int	proto_decode_error(const struct proto_frame *f, const char **msg,
	    size_t *msglen);

/* Encoders append one whole frame to b; -1 only when memory runs out. */
int	proto_put_ping(struct pbuf *b, uint32_t id);
int	proto_put_pubkey(struct pbuf *b, uint32_t id, const char *key);
int	proto_put_sign(struct pbuf *b, uint32_t id, const char *key,
	    uint8_t kind, uint8_t alg, const uint8_t *p, size_t n);
int	proto_put_ping_resp(struct pbuf *b, uint32_t id, uint8_t ceremony,
	    uint8_t nkeys);
int	proto_put_pubkey_resp(struct pbuf *b, uint32_t id, uint8_t keytype,
	    const uint8_t *spki, size_t n);
int	proto_put_sign_resp(struct pbuf *b, uint32_t id, const uint8_t *sig,
	    size_t n);
int	proto_put_error(struct pbuf *b, uint8_t reqtype, uint32_t id,
	    uint16_t status, const char *msg);
/* Raw frame with an arbitrary body, for internal links and tests. */
int	proto_put_frame(struct pbuf *b, uint8_t type, uint16_t status,
	    uint32_t id, const uint8_t *body, size_t n);

void	pbuf_init(struct pbuf *b);
int	pbuf_add(struct pbuf *b, const void *p, size_t n);
int	pbuf_reserve(struct pbuf *b, size_t n);	/* room for n more */
void	pbuf_consume(struct pbuf *b, size_t n);
void	pbuf_free(struct pbuf *b);

/* n bytes as 2n lowercase hex digits and a NUL: out has 2n + 1 chars. */
void	hex_lower(char *out, const void *in, size_t n);

const char *proto_status_name(uint16_t status);
const char *proto_kind_name(uint8_t kind);
const char *proto_alg_name(uint8_t alg);
int	proto_alg_from_name(const char *name);

#endif

/*
 * der.h — a small, strict DER reader for the few ASN.1 structures p11ca
 * must look inside (TBSCertificate, TBSCertList, OCSP ResponseData).
 *
 * It never allocates and never reads outside the range it is given. What
 * is not canonical DER is an error, not something to be tolerant about:
 * indefinite lengths, lengths not in their shortest form, high tag numbers
 * and times that are not YYMMDDHHMMSSZ / YYYYMMDDHHMMSSZ are all refused:
 * a blob has one reading, so what a check saw is what a verifier sees.
 *
 * Usage: der_init() a cursor over a buffer, der_read()/der_expect() TLVs
 * off its front, der_enter() a constructed TLV for a cursor over its
 * contents, and check der_done() when a structure must end. Unless said
 * otherwise below, functions return 0 on success and -1 on error.
 */
#ifndef P11CA_DER_H
#define P11CA_DER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define DER_BOOLEAN	0x01
#define DER_INTEGER	0x02
#define DER_BITSTRING	0x03
#define DER_OCTETSTRING	0x04
#define DER_NULL	0x05
#define DER_OID		0x06
#define DER_ENUMERATED	0x0a
#define DER_UTCTIME	0x17
#define DER_GENTIME	0x18
#define DER_SEQUENCE	0x30
#define DER_SET		0x31
#define DER_CTX(n)	(0xa0 | (n))	/* [n], constructed (EXPLICIT etc.) */
#define DER_CTXP(n)	(0x80 | (n))	/* [n] IMPLICIT, primitive */

/* A cursor: the bytes of one range still to be read. */
struct der {
	const uint8_t	*p;
	size_t		 n;
};

/* One TLV as it sits in the buffer; pointers alias the input. */
struct der_tlv {
	uint8_t		 tag;		/* identifier octet (tag number < 31) */
	const uint8_t	*val;		/* contents */
	size_t		 len;
	const uint8_t	*raw;		/* identifier, length and contents */
	size_t		 rawlen;
};

/* Starts a cursor over p[0..n). */
void	der_init(struct der *d, const void *p, size_t n);

/* Takes the next TLV off d; -1 when it is malformed or d is empty. */
int	der_read(struct der *d, struct der_tlv *t);

/* der_read(), and -1 as well unless the TLV's identifier octet is tag. */
int	der_expect(struct der *d, uint8_t tag, struct der_tlv *t);

/*
 * For OPTIONAL fields: 1 when the next TLV has this tag and was read into
 * *t, 0 when d is empty or the next tag differs (nothing consumed), -1
 * when it has the tag but is malformed.
 */
int	der_opt(struct der *d, uint8_t tag, struct der_tlv *t);

/* The next identifier octet, or -1 when d is empty. Consumes nothing. */
int	der_peek(const struct der *d);

/* 1 when every byte of d has been read, else 0. */
int	der_done(const struct der *d);

/* A cursor over the contents of t; -1 unless t is constructed. */
int	der_enter(const struct der_tlv *t, struct der *in);

/* 0 when t is an INTEGER in minimal two's complement form. */
int	der_int(const struct der_tlv *t);

/* 0 and *v set when t is a BOOLEAN with a DER value (00 or ff). */
int	der_bool(const struct der_tlv *t, int *v);

/*
 * 0 and *tp set (seconds since the epoch, UTC) when t is a UTCTime
 * (YYMMDDHHMMSSZ, YY < 50 meaning 20YY) or GeneralizedTime
 * (YYYYMMDDHHMMSSZ) naming a real calendar second.
 */
int	der_time(const struct der_tlv *t, time_t *tp);

/* 1 when the two byte ranges are equal; a NULL range equals nothing. */
int	der_eq(const void *a, size_t alen, const void *b, size_t blen);

#endif

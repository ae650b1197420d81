/*
 * der.c — strict DER reader; see der.h.
 */
#include <string.h>

#include "hsm/der.h"

void
der_init(struct der *d, const void *p, size_t n)
{
	d->p = p;
	d->n = p == NULL ? 0 : n;
}

int
der_read(struct der *d, struct der_tlv *t)
{
	const uint8_t	*p = d->p;
	size_t		 n = d->n, hdr, len, nb, i;

	if (n < 2)
		return -1;
	/* No structure p11ca reads uses tag numbers above 30. */
	if ((p[0] & 0x1f) == 0x1f)
		return -1;
	if (p[1] < 0x80) {
		hdr = 2;
		len = p[1];
	} else {
		/* 0x80 is BER's indefinite length; 4 bytes covers any frame. */
		nb = p[1] & 0x7f;
		if (nb == 0 || nb > 4 || n - 2 < nb || p[2] == 0)
			return -1;
		for (len = 0, i = 0; i < nb; i++)
			len = len << 8 | p[2 + i];
		if (len < 0x80)
			return -1;
		hdr = 2 + nb;
	}
	if (len > n - hdr)
		return -1;
	t->tag = p[0];
	t->raw = p;
	t->rawlen = hdr + len;
	t->val = p + hdr;
	t->len = len;
	d->p += t->rawlen;
	d->n -= t->rawlen;
	return 0;
}

int
der_expect(struct der *d, uint8_t tag, struct der_tlv *t)
{
	if (der_peek(d) != tag)
		return -1;
	return der_read(d, t);
}

int
der_opt(struct der *d, uint8_t tag, struct der_tlv *t)
{
	if (der_peek(d) != tag)
		return 0;
	return der_read(d, t) == 0 ? 1 : -1;
}

int
der_peek(const struct der *d)
{
	return d->n == 0 ? -1 : d->p[0];
}

int
der_done(const struct der *d)
{
	return d->n == 0;
}

int
der_enter(const struct der_tlv *t, struct der *in)
{
	if ((t->tag & 0x20) == 0)
		return -1;
	der_init(in, t->val, t->len);
	return 0;
}

int
der_int(const struct der_tlv *t)
{
	if (t->tag != DER_INTEGER || t->len == 0)
		return -1;
	/* A leading 00 or ff is allowed only to carry the sign bit. */
	if (t->len > 1 && ((t->val[0] == 0x00 && (t->val[1] & 0x80) == 0) ||
	    (t->val[0] == 0xff && (t->val[1] & 0x80) != 0)))
		return -1;
	return 0;
}

int
der_bool(const struct der_tlv *t, int *v)
{
	if (t->tag != DER_BOOLEAN || t->len != 1 ||
	    (t->val[0] != 0x00 && t->val[0] != 0xff))
		return -1;
	*v = t->val[0] != 0;
	return 0;
}

int
der_time(const struct der_tlv *t, time_t *tp)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
	    30, 31 };
	struct tm	 tm;
	int		 f[7], y, leap;
	size_t		 i, gen = t->tag == DER_GENTIME;

	/* DER times are in UTC, to the second: YY[YY]MMDDHHMMSS then Z. */
	if ((t->tag != DER_UTCTIME && !gen) || t->len != 13 + 2 * gen ||
	    t->val[t->len - 1] != 'Z')
		return -1;
	for (i = 0; i + 1 < t->len; i += 2) {
		if (t->val[i] < '0' || t->val[i] > '9' ||
		    t->val[i + 1] < '0' || t->val[i + 1] > '9')
			return -1;
		f[i / 2] = (t->val[i] - '0') * 10 + t->val[i + 1] - '0';
	}
	y = gen ? f[0] * 100 + f[1] : f[0] + (f[0] < 50 ? 2000 : 1900);
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = f[1 + gen] - 1;
	tm.tm_mday = f[2 + gen];
	tm.tm_hour = f[3 + gen];
	tm.tm_min = f[4 + gen];
	tm.tm_sec = f[5 + gen];
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	/* timegm() would quietly normalise 31 February; refuse it instead. */
	if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 ||
	    tm.tm_mday > mdays[tm.tm_mon] + (tm.tm_mon == 1 && leap) ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 59)
		return -1;
	/* -1 is also a real second, in 1969; otherwise time_t overflowed. */
	if ((*tp = timegm(&tm)) == (time_t)-1 && y != 1969)
		return -1;
	return 0;
}

int
der_eq(const void *a, size_t alen, const void *b, size_t blen)
{
	if (a == NULL || b == NULL || alen != blen)
		return 0;
	return alen == 0 || memcmp(a, b, alen) == 0;
}

/*
 * test_der.c — the strict DER reader: lengths, bounds, tags, integers,
 * booleans and times; and the writer's lengths, read back by the reader.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "hsm/der.h"
#include "hsm/proto.h"
#include "policy/tbs.h"

/* Reads the single TLV in p[0..n); -1 if it is bad or not alone. */
static int
read1(const void *p, size_t n, struct der_tlv *t)
{
	struct der	 d;

	der_init(&d, p, n);
	if (der_read(&d, t) == -1)
		return -1;
	return der_done(&d) ? 0 : -1;
}

static void
test_short_length(void **state)
{
	static const uint8_t ok[] = { 0x04, 0x03, 'a', 'b', 'c' };
	struct der_tlv	 t;

	(void)state;
	assert_int_equal(read1(ok, sizeof(ok), &t), 0);
	assert_int_equal(t.tag, 0x04);
	assert_int_equal(t.len, 3);
	assert_ptr_equal(t.val, ok + 2);
	assert_ptr_equal(t.raw, ok);
	assert_int_equal(t.rawlen, 5);
	assert_memory_equal(t.val, "abc", 3);
	/* zero length is fine */
	assert_int_equal(read1("\x05\x00", 2, &t), 0);
	assert_int_equal(t.len, 0);
}

static void
test_long_length(void **state)
{
	uint8_t		 buf[300];
	struct der_tlv	 t;

	(void)state;
	memset(buf, 'x', sizeof(buf));
	/* 0x81 0x80: the smallest length needing long form */
	buf[0] = 0x04;
	buf[1] = 0x81;
	buf[2] = 0x80;
	assert_int_equal(read1(buf, 3 + 0x80, &t), 0);
	assert_int_equal(t.len, 0x80);
	assert_int_equal(t.rawlen, 3 + 0x80);
	/* 0x82 0x01 0x00: 256 bytes */
	buf[1] = 0x82;
	buf[2] = 0x01;
	buf[3] = 0x00;
	assert_int_equal(read1(buf, 4 + 256, &t), 0);
	assert_int_equal(t.len, 256);
	assert_ptr_equal(t.val, buf + 4);
}

static void
test_nonminimal_length(void **state)
{
	uint8_t		 buf[300];
	struct der_tlv	 t;

	(void)state;
	memset(buf, 'x', sizeof(buf));
	buf[0] = 0x04;
	/* 0x81 0x7f: fits in short form */
	buf[1] = 0x81;
	buf[2] = 0x7f;
	assert_int_equal(read1(buf, 3 + 0x7f, &t), -1);
	/* 0x81 0x00 */
	buf[2] = 0x00;
	assert_int_equal(read1(buf, 3, &t), -1);
	/* 0x82 0x00 0x80: leading zero length octet */
	buf[1] = 0x82;
	buf[2] = 0x00;
	buf[3] = 0x80;
	assert_int_equal(read1(buf, 4 + 0x80, &t), -1);
	/* 0x82 0x00 0x05 */
	buf[3] = 0x05;
	assert_int_equal(read1(buf, 4 + 5, &t), -1);
}

static void
test_bad_lengths(void **state)
{
	struct der	 d;
	struct der_tlv	 t;
	uint8_t		*q;

	(void)state;
	/* indefinite length (BER only), also as the very last bytes */
	assert_int_equal(read1("\x30\x80\x00\x00", 4, &t), -1);
	assert_non_null(q = malloc(2));
	memcpy(q, "\x04\x80", 2);
	assert_int_equal(read1(q, 2, &t), -1);
	free(q);
	/* more than 4 length octets */
	assert_int_equal(read1("\x04\x85\x01\x00\x00\x00\x00", 7, &t), -1);
	/* length octets missing */
	assert_int_equal(read1("\x04\x82\x01", 3, &t), -1);
	assert_int_equal(read1("\x04\x81", 2, &t), -1);
	/* length past the end, including near SIZE_MAX-sized values */
	assert_int_equal(read1("\x04\x03\x61\x62", 4, &t), -1);
	assert_int_equal(read1("\x04\x84\xff\xff\xff\xff\x00", 7, &t), -1);
	assert_int_equal(read1("\x04\x84\x7f\xff\xff\xf9\x00", 7, &t), -1);
	/* fewer than two bytes */
	assert_int_equal(read1("\x04", 1, &t), -1);
	assert_int_equal(read1("", 0, &t), -1);
	der_init(&d, NULL, 5);
	assert_int_equal(der_read(&d, &t), -1);
	assert_true(der_done(&d));
	/* a failed read consumes nothing */
	der_init(&d, "\x04\x05\x61", 3);
	assert_int_equal(der_read(&d, &t), -1);
	assert_int_equal(d.n, 3);
}

static void
test_high_tag(void **state)
{
	struct der_tlv	 t;

	(void)state;
	assert_int_equal(read1("\x1f\x01\x00", 3, &t), -1);
	assert_int_equal(read1("\xbf\x81\x00\x00", 4, &t), -1);
	/* tag 30 is still a low tag number */
	assert_int_equal(read1("\x1e\x00", 2, &t), 0);
	assert_int_equal(t.tag, 0x1e);
}

static void
test_cursor(void **state)
{
	/* SEQUENCE { INTEGER 5, [0] { BOOLEAN TRUE } } then NULL */
	static const uint8_t buf[] = { 0x30, 0x08, 0x02, 0x01, 0x05, 0xa0, 0x03,
	    0x01, 0x01, 0xff, 0x05, 0x00 };
	struct der	 d, in, in2;
	struct der_tlv	 t, u;
	int		 v;

	(void)state;
	der_init(&d, buf, sizeof(buf));
	assert_int_equal(der_peek(&d), 0x30);
	assert_int_equal(der_expect(&d, DER_INTEGER, &t), -1);
	assert_int_equal(der_expect(&d, DER_SEQUENCE, &t), 0);
	assert_int_equal(der_enter(&t, &in), 0);
	assert_int_equal(der_opt(&in, DER_BOOLEAN, &u), 0);
	assert_int_equal(der_opt(&in, DER_INTEGER, &u), 1);
	assert_int_equal(u.len, 1);
	assert_int_equal(u.val[0], 5);
	/* a primitive cannot be entered */
	assert_int_equal(der_enter(&u, &in2), -1);
	assert_int_equal(der_expect(&in, DER_CTX(0), &u), 0);
	assert_int_equal(der_enter(&u, &in2), 0);
	assert_int_equal(der_read(&in2, &u), 0);
	assert_int_equal(der_bool(&u, &v), 0);
	assert_int_equal(v, 1);
	assert_true(der_done(&in2));
	assert_true(der_done(&in));
	assert_int_equal(der_peek(&in), -1);
	assert_int_equal(der_opt(&in, DER_NULL, &u), 0);
	assert_false(der_done(&d));
	assert_int_equal(der_expect(&d, DER_NULL, &t), 0);
	assert_true(der_done(&d));
	assert_int_equal(der_read(&d, &t), -1);

	/* der_opt on a matching but truncated TLV is an error, not absent */
	der_init(&d, "\x02\x05\x01", 3);
	assert_int_equal(der_opt(&d, DER_INTEGER, &t), -1);
	/* an inner TLV may not run past its parent */
	der_init(&d, "\x30\x03\x04\x05\x61\x62\x63\x64\x65", 9);
	assert_int_equal(der_read(&d, &t), 0);
	assert_int_equal(der_enter(&t, &in), 0);
	assert_int_equal(der_read(&in, &u), -1);
}

static void
test_integer(void **state)
{
	struct der_tlv	 t;

	(void)state;
	assert_int_equal(read1("\x02\x01\x00", 3, &t), 0);
	assert_int_equal(der_int(&t), 0);
	assert_int_equal(read1("\x02\x02\x00\x80", 4, &t), 0);
	assert_int_equal(der_int(&t), 0);
	assert_int_equal(read1("\x02\x02\xff\x7f", 4, &t), 0);
	assert_int_equal(der_int(&t), 0);
	assert_int_equal(read1("\x02\x01\xff", 3, &t), 0);
	assert_int_equal(der_int(&t), 0);
	/* superfluous leading 00 / ff */
	assert_int_equal(read1("\x02\x02\x00\x7f", 4, &t), 0);
	assert_int_equal(der_int(&t), -1);
	assert_int_equal(read1("\x02\x02\xff\x80", 4, &t), 0);
	assert_int_equal(der_int(&t), -1);
	/* empty, and not an INTEGER */
	assert_int_equal(read1("\x02\x00", 2, &t), 0);
	assert_int_equal(der_int(&t), -1);
	assert_int_equal(read1("\x0a\x01\x01", 3, &t), 0);
	assert_int_equal(der_int(&t), -1);
}

static void
test_boolean(void **state)
{
	struct der_tlv	 t;
	int		 v = -1;

	(void)state;
	assert_int_equal(read1("\x01\x01\x00", 3, &t), 0);
	assert_int_equal(der_bool(&t, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(read1("\x01\x01\xff", 3, &t), 0);
	assert_int_equal(der_bool(&t, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(read1("\x01\x01\x01", 3, &t), 0);
	assert_int_equal(der_bool(&t, &v), -1);
	assert_int_equal(read1("\x01\x02\xff\xff", 4, &t), 0);
	assert_int_equal(der_bool(&t, &v), -1);
	assert_int_equal(read1("\x02\x01\xff", 3, &t), 0);
	assert_int_equal(der_bool(&t, &v), -1);
}

/* der_time() of one time string; -2 sentinel in *tp on failure. */
static int
tm1(uint8_t tag, const char *s, time_t *tp)
{
	struct der_tlv	 t;

	memset(&t, 0, sizeof(t));
	t.tag = tag;
	t.val = (const uint8_t *)s;
	t.len = strlen(s);
	*tp = -2;
	return der_time(&t, tp);
}

static void
test_time_good(void **state)
{
	time_t	 t;

	(void)state;
	assert_int_equal(tm1(DER_UTCTIME, "700101000000Z", &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(tm1(DER_UTCTIME, "691231235959Z", &t), 0);
	assert_int_equal(t, -1);
	assert_int_equal(tm1(DER_GENTIME, "19700101000001Z", &t), 0);
	assert_int_equal(t, 1);
	/* the YY pivot: 49 is 2049, 50 is 1950 */
	assert_int_equal(tm1(DER_UTCTIME, "491231235959Z", &t), 0);
	assert_int_equal(t, (time_t)2524607999);
	assert_int_equal(tm1(DER_UTCTIME, "500101000000Z", &t), 0);
	assert_int_equal(t, (time_t)-631152000);
	assert_int_equal(tm1(DER_GENTIME, "20500101000000Z", &t), 0);
	assert_int_equal(t, (time_t)2524608000);
	/* leap days */
	assert_int_equal(tm1(DER_GENTIME, "20000229120000Z", &t), 0);
	assert_int_equal(t, (time_t)951825600);
	assert_int_equal(tm1(DER_UTCTIME, "240229000000Z", &t), 0);
	assert_int_equal(t, (time_t)1709164800);
	assert_int_equal(tm1(DER_GENTIME, "99991231235959Z", &t), 0);
	assert_int_equal(t, (time_t)253402300799);
}

static void
test_time_bad(void **state)
{
	static const struct {
		uint8_t		 tag;
		const char	*s;
	} bad[] = {
		{ DER_UTCTIME, "230229000000Z" },	/* not a leap year */
		{ DER_GENTIME, "19000229000000Z" },	/* century, not leap */
		{ DER_UTCTIME, "250431000000Z" },	/* April has 30 days */
		{ DER_UTCTIME, "251301000000Z" },	/* month 13 */
		{ DER_UTCTIME, "250001000000Z" },	/* month 0 */
		{ DER_UTCTIME, "250100000000Z" },	/* day 0 */
		{ DER_UTCTIME, "250101240000Z" },	/* hour 24 */
		{ DER_UTCTIME, "250101006000Z" },	/* minute 60 */
		{ DER_UTCTIME, "250101000060Z" },	/* no leap seconds */
		{ DER_UTCTIME, "2501010000Z" },		/* seconds missing */
		{ DER_UTCTIME, "250101000000" },	/* Z missing */
		{ DER_UTCTIME, "250101000000+0100" },	/* offsets */
		{ DER_UTCTIME, "2501010000000" },
		{ DER_UTCTIME, "25010100000aZ" },
		{ DER_UTCTIME, "2501-1000000Z" },
		{ DER_UTCTIME, " 50101000000Z" },
		{ DER_UTCTIME, "20250101000000Z" },	/* GeneralizedTime's */
		{ DER_GENTIME, "250101000000Z" },	/* UTCTime form */
		{ DER_GENTIME, "20250101000000.5Z" },	/* fractions */
		{ DER_GENTIME, "20250101000000z" },
		{ DER_GENTIME, "" },
		{ DER_OCTETSTRING, "250101000000Z" },	/* not a time type */
	};
	time_t	 t;
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (tm1(bad[i].tag, bad[i].s, &t) != -1)
			fail_msg("accepted bad time %s", bad[i].s);
	}
}

static void
test_eq(void **state)
{
	(void)state;
	assert_true(der_eq("abc", 3, "abc", 3));
	assert_false(der_eq("abc", 3, "abd", 3));
	assert_false(der_eq("abc", 3, "abcd", 4));
	assert_false(der_eq("abc", 3, NULL, 3));
	assert_false(der_eq(NULL, 0, NULL, 0));
	assert_true(der_eq("", 0, "x", 0));
}

/* der_open/der_close around contents of every length form, nested. */
static void
test_writer_lengths(void **state)
{
	static const size_t sizes[] = { 0, 1, 127, 128, 255, 256, 65535, 65536,
	    70000 };
	struct pbuf	 b;
	struct der_tlv	 t, in;
	struct der	 d;
	uint8_t		*body;
	size_t		 i, outer, inner;

	(void)state;
	assert_non_null(body = malloc(70000));
	for (i = 0; i < 70000; i++)
		body[i] = (uint8_t)(i * 7);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		pbuf_init(&b);
		assert_true((outer = der_open(&b, 0x30)) != (size_t)-1);
		assert_true((inner = der_open(&b, 0x04)) != (size_t)-1);
		assert_int_equal(pbuf_add(&b, body, sizes[i]), 0);
		assert_int_equal(der_close(&b, inner), 0);
		assert_int_equal(der_put(&b, 0x05, NULL, 0), 0);
		assert_int_equal(der_close(&b, outer), 0);
		/* The strict reader refuses non-minimal lengths. */
		assert_int_equal(read1(b.data, b.len, &t), 0);
		assert_int_equal(t.tag, 0x30);
		assert_int_equal(der_enter(&t, &d), 0);
		assert_int_equal(der_expect(&d, 0x04, &in), 0);
		assert_int_equal(in.len, sizes[i]);
		if (sizes[i] > 0)
			assert_memory_equal(in.val, body, sizes[i]);
		assert_int_equal(der_expect(&d, 0x05, &in), 0);
		assert_true(der_done(&d));
		pbuf_free(&b);
	}
	/* A mark that was never opened is refused. */
	pbuf_init(&b);
	assert_int_equal(der_close(&b, (size_t)-1), -1);
	assert_int_equal(der_close(&b, 0), -1);
	free(body);
}

static void
test_hex_lower(void **state)
{
	static const uint8_t in[] = { 0x00, 0x0f, 0xa5, 0xff, 0x10 };
	char		 out[2 * sizeof(in) + 1];

	(void)state;
	memset(out, 'x', sizeof(out));
	hex_lower(out, in, sizeof(in));
	assert_string_equal(out, "000fa5ff10");
	hex_lower(out, in, 0);
	assert_string_equal(out, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_short_length),
		cmocka_unit_test(test_long_length),
		cmocka_unit_test(test_nonminimal_length),
		cmocka_unit_test(test_bad_lengths),
		cmocka_unit_test(test_high_tag),
		cmocka_unit_test(test_cursor),
		cmocka_unit_test(test_integer),
		cmocka_unit_test(test_boolean),
		cmocka_unit_test(test_time_good),
		cmocka_unit_test(test_time_bad),
		cmocka_unit_test(test_eq),
		cmocka_unit_test(test_writer_lengths),
		cmocka_unit_test(test_hex_lower),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

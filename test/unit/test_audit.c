/*
 * test_audit.c — the hash-chained audit log (hsm/audit.h): records
 * appended to a temporary file verify, and any change to one record (each
 * field of it), a deleted, swapped or truncated record, is caught at that
 * very record; audit_open continues the chain across a reopen and refuses
 * a torn tail; audit_escape leaves no byte that could split a field.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "hsm/audit.h"
#include "hsm/digest.h"

#define NREC	7

struct fix {
	char	 path[64];
};

/* The log as lines (each with its newline), for tampering. */
struct lines {
	char	*line[256];
	size_t	 n;
};

static int
setup(void **state)
{
	struct fix	*fx = calloc(1, sizeof(*fx));
	int		 fd;

	if (fx == NULL)
		return -1;
	snprintf(fx->path, sizeof(fx->path), "/tmp/test_audit.XXXXXX");
	if ((fd = mkstemp(fx->path)) == -1)
		return -1;
	close(fd);
	unlink(fx->path);	/* audit_open creates it */
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fix	*fx = *state;

	unlink(fx->path);
	free(fx);
	return 0;
}

static void
write_records(const char *path, int from, int n)
{
	struct audit	*a;
	char		 err[512] = "", fields[200];
	int		 i;

	a = audit_open(path, err, sizeof(err));
	if (a == NULL)
		fail_msg("audit_open: %s", err);
	for (i = from; i < from + n; i++) {
		snprintf(fields, sizeof(fields), "key=k%d kind=x509 "
		    "alg=ecdsa-sha256 result=signed reason=-", i);
		assert_int_equal(audit_append(a, 1000 + (uid_t)i, fields), 0);
	}
	assert_int_equal(audit_sync(a), 0);
	audit_close(a);
}

/* Verifies path: returns 0/-1, with count, first bad record and why. */
static int
verify(const char *path, uint64_t *count, uint64_t *bad, char *err,
    size_t errsz)
{
	FILE	*fp = fopen(path, "r");
	int	 rc;

	assert_non_null(fp);
	err[0] = '\0';
	rc = audit_verify(fp, count, bad, err, errsz);
	fclose(fp);
	return rc;
}

static void
assert_broken_at(const char *path, uint64_t k)
{
	uint64_t	 count = 99, bad = 0;
	char		 err[256], want[32];

	assert_int_equal(verify(path, &count, &bad, err, sizeof(err)), -1);
	if (bad != k)
		fail_msg("expected record %llu to be named, got %llu (%s)",
		    (unsigned long long)k, (unsigned long long)bad, err);
	snprintf(want, sizeof(want), "record %llu:", (unsigned long long)k);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("error '%s' does not start with '%s'", err, want);
}

static void
assert_intact(const char *path, uint64_t n)
{
	uint64_t	 count = 0, bad = 99;
	char		 err[256];

	if (verify(path, &count, &bad, err, sizeof(err)) != 0)
		fail_msg("chain broken: %s", err);
	assert_int_equal(count, n);
	assert_int_equal(bad, 0);
}

static void
read_lines(const char *path, struct lines *l)
{
	FILE	*fp = fopen(path, "r");
	char	 buf[AUDIT_MAX_LINE + 8];

	assert_non_null(fp);
	l->n = 0;
	while (fgets(buf, sizeof(buf), fp) != NULL) {
		assert_true(l->n < 256);
		l->line[l->n] = strdup(buf);
		assert_non_null(l->line[l->n]);
		l->n++;
	}
	fclose(fp);
}

static void
write_lines(const char *path, const struct lines *l)
{
	FILE	*fp = fopen(path, "w");
	size_t	 i;

	assert_non_null(fp);
	for (i = 0; i < l->n; i++)
		if (l->line[i] != NULL)
			fputs(l->line[i], fp);
	assert_int_equal(fclose(fp), 0);
}

static void
free_lines(struct lines *l)
{
	size_t	 i;

	for (i = 0; i < l->n; i++)
		free(l->line[i]);
	l->n = 0;
}

static void
sha256_hex(const char *s, size_t n, char out[65])
{
	unsigned char	 md[32];
	unsigned int	 mdlen;
	int		 i;

	assert_int_equal(EVP_Digest(s, n, md, &mdlen, EVP_sha256(), NULL), 1);
	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* The offset in a line of its field: "seq", "time", "fields", "prev" or
 * "hash" (the first byte of the value). */
static size_t
field_off(const char *line, const char *which)
{
	const char	*p;

	if (strcmp(which, "seq") == 0)
		return 0;
	if (strcmp(which, "time") == 0)
		return strchr(line, ' ') - line + 1;
	if (strcmp(which, "fields") == 0) {
		p = strstr(line, "key=");
		assert_non_null(p);
		return p - line + 4;
	}
	if (strcmp(which, "prev") == 0) {
		p = strstr(line, " prev=");
		assert_non_null(p);
		return p - line + 6;
	}
	p = strstr(line, " hash=");
	assert_non_null(p);
	return p - line + 6;
}

/* A different character of the same class, so only content changes. */
static char
other(char c)
{
	if (isdigit((unsigned char)c))
		return c == '9' ? '1' : c + 1;
	if (c >= 'a' && c <= 'f')
		return c == 'f' ? 'a' : c + 1;
	return c == 'z' ? 'y' : c + 1;
}

/* ---- tests ---- */

static void
test_append_verify(void **state)
{
	struct fix	*fx = *state;
	struct lines	 l;
	struct stat	 st;
	char		 prev[65] = "0000000000000000000000000000000000000000"
	    "000000000000000000000000", calc[65], want[64];
	const char	*h;
	size_t		 i;

	write_records(fx->path, 0, NREC);
	assert_int_equal(stat(fx->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_intact(fx->path, NREC);

	/* Check the documented format independently of audit_verify. */
	read_lines(fx->path, &l);
	assert_int_equal(l.n, NREC);
	for (i = 0; i < l.n; i++) {
		const char *s = l.line[i];
		size_t len = strlen(s);

		snprintf(want, sizeof(want), "%zu ", i + 1);
		assert_true(strncmp(s, want, strlen(want)) == 0);
		/* 2024-01-02T03:04:05.123456Z */
		s += strlen(want);
		assert_true(isdigit((unsigned char)s[0]) && s[4] == '-' &&
		    s[7] == '-' && s[10] == 'T' && s[13] == ':' &&
		    s[16] == ':' && s[19] == '.' && s[26] == 'Z' &&
		    s[27] == ' ');
		snprintf(want, sizeof(want), "uid=%zu key=k%zu ", 1000 + i, i);
		assert_true(strncmp(s + 28, want, strlen(want)) == 0);
		assert_int_equal(l.line[i][len - 1], '\n');
		h = strstr(l.line[i], " hash=");
		assert_non_null(h);
		assert_int_equal((size_t)(h - l.line[i]) + 6 + 64 + 1, len);
		assert_memory_equal(h - 64, prev, 64);
		assert_memory_equal(h - 70, " prev=", 6);
		sha256_hex(l.line[i], h - l.line[i], calc);
		assert_memory_equal(h + 6, calc, 64);
		memcpy(prev, calc, 65);
	}
	free_lines(&l);
}

static void
test_empty_verifies(void **state)
{
	struct fix	*fx = *state;
	FILE		*fp;

	fp = fopen(fx->path, "w");
	assert_non_null(fp);
	fclose(fp);
	assert_intact(fx->path, 0);
}

static void
test_flip_each_field(void **state)
{
	static const char *const fields[] = { "seq", "time", "fields", "prev",
	    "hash" };
	struct fix	*fx = *state;
	struct lines	 l;
	size_t		 f, k, off;
	char		 saved;

	write_records(fx->path, 0, NREC);
	assert_intact(fx->path, NREC);
	read_lines(fx->path, &l);
	/* First, a middle and the last record, each field in turn. */
	for (k = 0; k < NREC; k += 3) {
		for (f = 0; f < 5; f++) {
			off = field_off(l.line[k], fields[f]);
			saved = l.line[k][off];
			l.line[k][off] = other(saved);
			write_lines(fx->path, &l);
			assert_broken_at(fx->path, k + 1);
			l.line[k][off] = saved;
		}
		/* The last byte of the hash, too. */
		off = strlen(l.line[k]) - 2;
		saved = l.line[k][off];
		l.line[k][off] = other(saved);
		write_lines(fx->path, &l);
		assert_broken_at(fx->path, k + 1);
		l.line[k][off] = saved;
	}
	write_lines(fx->path, &l);
	assert_intact(fx->path, NREC);
	free_lines(&l);
}

/* A record rewritten with a fresh, self-consistent hash: the next breaks. */
static void
test_rehashed_record(void **state)
{
	struct fix	*fx = *state;
	struct lines	 l;
	char		*h;
	size_t		 k = 3, off;

	write_records(fx->path, 0, NREC);
	read_lines(fx->path, &l);
	off = field_off(l.line[k - 1], "fields");
	l.line[k - 1][off] = other(l.line[k - 1][off]);
	h = strstr(l.line[k - 1], " hash=");
	sha256_hex(l.line[k - 1], h - l.line[k - 1], h + 6);
	h[70] = '\n';
	write_lines(fx->path, &l);
	assert_broken_at(fx->path, k + 1);
	free_lines(&l);
}

static void
test_delete_record(void **state)
{
	struct fix	*fx = *state;
	struct lines	 l;
	char		*saved;

	write_records(fx->path, 0, NREC);
	read_lines(fx->path, &l);
	/* Deleting record 4: what is now line 4 is record 5. */
	saved = l.line[3];
	l.line[3] = NULL;
	write_lines(fx->path, &l);
	assert_broken_at(fx->path, 4);
	l.line[3] = saved;
	/* Deleting the first record. */
	saved = l.line[0];
	l.line[0] = NULL;
	write_lines(fx->path, &l);
	assert_broken_at(fx->path, 1);
	l.line[0] = saved;
	free_lines(&l);
}

static void
test_swap_records(void **state)
{
	struct fix	*fx = *state;
	struct lines	 l;
	char		*t;

	write_records(fx->path, 0, NREC);
	read_lines(fx->path, &l);
	t = l.line[2], l.line[2] = l.line[3], l.line[3] = t;
	write_lines(fx->path, &l);
	assert_broken_at(fx->path, 3);
	t = l.line[2], l.line[2] = l.line[3], l.line[3] = t;
	/* The last two. */
	t = l.line[NREC - 2], l.line[NREC - 2] = l.line[NREC - 1],
	    l.line[NREC - 1] = t;
	write_lines(fx->path, &l);
	assert_broken_at(fx->path, NREC - 1);
	free_lines(&l);
}

/*
 * Replacing a record with one re-numbered and correctly hashed but from
 * another chain (another log's record 4) is caught by prev=.
 */
static void
test_foreign_record(void **state)
{
	struct fix	*fx = *state;
	struct lines	 a, b;
	char		 other_path[80], *t;
	uint64_t	 count, bad;
	char		 err[256];

	snprintf(other_path, sizeof(other_path), "%s.other", fx->path);
	unlink(other_path);
	write_records(fx->path, 0, NREC);
	write_records(other_path, 50, NREC);
	read_lines(fx->path, &a);
	read_lines(other_path, &b);
	t = a.line[3], a.line[3] = b.line[3], b.line[3] = t;
	write_lines(fx->path, &a);
	assert_int_equal(verify(fx->path, &count, &bad, err, sizeof(err)), -1);
	assert_int_equal(bad, 4);
	assert_non_null(strstr(err, "prev"));
	unlink(other_path);
	free_lines(&a);
	free_lines(&b);
}

static void
test_truncate_last(void **state)
{
	struct fix	*fx = *state;
	struct stat	 st;
	off_t		 cut;
	char		 err[512] = "";

	write_records(fx->path, 0, NREC);
	assert_int_equal(stat(fx->path, &st), 0);
	/* Only the newline missing, then half the last line missing. */
	assert_int_equal(truncate(fx->path, st.st_size - 1), 0);
	assert_broken_at(fx->path, NREC);
	assert_null(audit_open(fx->path, err, sizeof(err)));
	assert_non_null(strstr(err, "incomplete"));
	cut = st.st_size - 60;
	assert_int_equal(truncate(fx->path, cut), 0);
	assert_broken_at(fx->path, NREC);
	/* Cutting exactly one whole record is not detectable by design:
	 * the log is still a valid, shorter chain. */
}

static void
test_reopen_continues(void **state)
{
	struct fix	*fx = *state;
	struct lines	 l;
	const char	*h3;

	write_records(fx->path, 0, 3);
	write_records(fx->path, 3, 2);
	assert_intact(fx->path, 5);
	read_lines(fx->path, &l);
	assert_int_equal(l.n, 5);
	assert_true(strncmp(l.line[3], "4 ", 2) == 0);
	h3 = strstr(l.line[2], " hash=") + 6;
	assert_memory_equal(strstr(l.line[3], " prev=") + 6, h3, 64);
	free_lines(&l);

	/* Many reopens, past the size of one tail read. */
	{
		int i;

		for (i = 0; i < 30; i++)
			write_records(fx->path, 5 + i * 2, 2);
	}
	assert_intact(fx->path, 65);
}

static void
test_reopen_refuses_bad_tail(void **state)
{
	struct fix	*fx = *state;
	char		 err[512] = "";
	FILE		*fp;

	/* A torn write: a partial record without its newline. */
	write_records(fx->path, 0, 3);
	fp = fopen(fx->path, "a");
	assert_non_null(fp);
	fputs("4 2024-01-01T00:00:00.000000Z uid=0 key=x", fp);
	fclose(fp);
	assert_null(audit_open(fx->path, err, sizeof(err)));
	assert_non_null(strstr(err, "incomplete"));
	assert_broken_at(fx->path, 4);
}

static void
test_reopen_refuses_corrupt_last(void **state)
{
	struct fix	*fx = *state;
	struct lines	 l;
	char		 err[512] = "";
	size_t		 off;

	write_records(fx->path, 0, 3);
	read_lines(fx->path, &l);
	off = field_off(l.line[2], "fields");
	l.line[2][off] = other(l.line[2][off]);
	write_lines(fx->path, &l);
	assert_null(audit_open(fx->path, err, sizeof(err)));
	assert_non_null(strstr(err, "last record"));
	free_lines(&l);

	/* Garbage that is a whole line but not a record. */
	{
		FILE *fp = fopen(fx->path, "w");

		assert_non_null(fp);
		fputs("hello world\n", fp);
		fclose(fp);
	}
	err[0] = '\0';
	assert_null(audit_open(fx->path, err, sizeof(err)));
	assert_true(err[0] != '\0');
	assert_broken_at(fx->path, 1);
}

/* The longest record the format allows, across a reopen. */
static void
test_longest_record(void **state)
{
	struct fix	*fx = *state;
	struct audit	*a;
	char		 err[512] = "", fields[AUDIT_MAX_LINE + 10];
	size_t		 f;
	struct stat	 st, st2;

	write_records(fx->path, 0, 2);
	a = audit_open(fx->path, err, sizeof(err));
	assert_non_null(a);
	assert_int_equal(stat(fx->path, &st), 0);
	memcpy(fields, "key=", 4);
	for (f = AUDIT_MAX_LINE; f > 4; f--) {
		memset(fields + 4, 'v', f - 4);
		fields[f] = '\0';
		if (audit_append(a, 0, fields) == 0)
			break;
		/* A refused record writes nothing. */
		assert_int_equal(stat(fx->path, &st2), 0);
		assert_int_equal(st2.st_size, st.st_size);
	}
	assert_true(f > 1000);
	audit_close(a);
	assert_int_equal(stat(fx->path, &st2), 0);
	/* It is as long as a line may be: AUDIT_MAX_LINE less its NUL. */
	assert_int_equal(st2.st_size - st.st_size, AUDIT_MAX_LINE - 1);
	assert_intact(fx->path, 3);
	write_records(fx->path, 3, 1);
	assert_intact(fx->path, 4);
}

static void
test_overlong_line(void **state)
{
	struct fix	*fx = *state;
	FILE		*fp;
	size_t		 i;

	write_records(fx->path, 0, 2);
	fp = fopen(fx->path, "a");
	assert_non_null(fp);
	for (i = 0; i < 3000; i++)
		fputc('x', fp);
	fputc('\n', fp);
	fclose(fp);
	assert_broken_at(fx->path, 3);
}

static void
test_escape(void **state)
{
	char	 out[256];

	(void)state;
	audit_escape(out, sizeof(out), "plain-text_1.2/ok");
	assert_string_equal(out, "plain-text_1.2/ok");
	audit_escape(out, sizeof(out), "a b");
	assert_string_equal(out, "a%20b");
	audit_escape(out, sizeof(out), "k=v");
	assert_string_equal(out, "k%3Dv");
	audit_escape(out, sizeof(out), "100%");
	assert_string_equal(out, "100%25");
	audit_escape(out, sizeof(out), "a\nb\rc\td\x01" "e\x1f" "f\x7f");
	assert_string_equal(out, "a%0Ab%0Dc%09d%01e%1Ff%7F");
	audit_escape(out, sizeof(out), "caf\xc3\xa9 \xff");
	assert_string_equal(out, "caf%C3%A9%20%FF");
	/* A forged field cannot be smuggled into a record. */
	audit_escape(out, sizeof(out), "x result=signed prev=00");
	assert_null(strchr(out, ' '));
	assert_null(strchr(out, '='));
	/* Empty values still occupy their field. */
	audit_escape(out, sizeof(out), "");
	assert_string_equal(out, "-");
}

static void
test_escape_bounds(void **state)
{
	char	 out[16];
	size_t	 sz, len;

	(void)state;
	/* Never overruns, always terminates, never cuts an escape. */
	for (sz = 1; sz <= sizeof(out); sz++) {
		memset(out, '#', sizeof(out));
		audit_escape(out, sz, "%%%%%%%%%%%%%%%%%%%%");
		len = strlen(out);
		assert_true(len < sz);
		assert_int_equal(len % 3, 0);
		memset(out, '#', sizeof(out));
		audit_escape(out, sz, "abcdefghijklmnopqrstuvwxyz");
		assert_true(strlen(out) < sz);
		assert_true(strncmp(out, "abcdefghijklmnop", strlen(out)) == 0);
		if (sz < sizeof(out))
			assert_int_equal(out[sz], '#');
	}
	out[0] = 'z';
	audit_escape(out, 0, "abc");
	assert_int_equal(out[0], 'z');
}

static void
test_fields_with_escapes_verify(void **state)
{
	struct fix	*fx = *state;
	struct audit	*a;
	char		 err[512], esc[200], fields[300];

	a = audit_open(fx->path, err, sizeof(err));
	assert_non_null(a);
	audit_escape(esc, sizeof(esc), "CN=evil hash=0000 prev=\n");
	snprintf(fields, sizeof(fields), "key=a subject=%s result=signed", esc);
	assert_int_equal(audit_append(a, 0, fields), 0);
	assert_int_equal(audit_append(a, 0, fields), 0);
	audit_close(a);
	assert_intact(fx->path, 2);
}

/* The audit chain's SHA-256 and its siblings, fetched once, by name or NID. */
static void
test_digests(void **state)
{
	static const struct {
		const char	*name;
		int		 nid, size;
	} d[] = {
		{ "SHA1", NID_sha1, 20 }, { "SHA256", NID_sha256, 32 },
		{ "SHA384", NID_sha384, 48 }, { "SHA512", NID_sha512, 64 },
	};
	unsigned char	 md[EVP_MAX_MD_SIZE], ref[EVP_MAX_MD_SIZE];
	unsigned int	 n, rn;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(d) / sizeof(d[0]); i++) {
		assert_non_null(digest_named(d[i].name));
		assert_ptr_equal(digest_named(d[i].name), digest_nid(d[i].nid));
		assert_int_equal(EVP_MD_get_type(digest_nid(d[i].nid)),
		    d[i].nid);
		assert_int_equal(EVP_Digest("abc", 3, md, &n,
		    digest_nid(d[i].nid), NULL), 1);
		assert_int_equal(EVP_Digest("abc", 3, ref, &rn,
		    EVP_get_digestbynid(d[i].nid), NULL), 1);
		assert_int_equal(n, d[i].size);
		assert_int_equal(rn, n);
		assert_memory_equal(md, ref, n);
	}
	assert_null(digest_named("MD5"));
	assert_null(digest_named("sha256"));	/* OpenSSL's spelling only */
	assert_null(digest_named(NULL));
	assert_null(digest_nid(NID_md5));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_append_verify, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_empty_verifies, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_flip_each_field, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_rehashed_record, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_delete_record, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_swap_records, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_foreign_record, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_truncate_last, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reopen_continues, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reopen_refuses_bad_tail,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_reopen_refuses_corrupt_last, setup, teardown),
		cmocka_unit_test_setup_teardown(test_longest_record, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_overlong_line, setup,
		    teardown),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_escape_bounds),
		cmocka_unit_test(test_digests),
		cmocka_unit_test_setup_teardown(
		    test_fields_with_escapes_verify, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

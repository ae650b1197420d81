/*
 * test_json.c — json_parse() keeps cJSON's answers: the whole-text rule
 * with nul_terminated, none without, and the right tree for each of
 * several threads parsing at once. (The race it exists to prevent is
 * inside libcjson, which no sanitizer here instruments, so these tests
 * hold the wrapper's behaviour, not the lock.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "policy/json.h"

static void
test_whole_text(void **state)
{
	static const char ok[] = "{\"a\":1} \n", tail[] = "{\"a\":1} x";
	cJSON *j;

	(void)state;
	assert_non_null(j = json_parse(ok, sizeof(ok), 1));
	assert_int_equal(cJSON_GetObjectItem(j, "a")->valueint, 1);
	cJSON_Delete(j);
	/* Something after the value: refused only when the whole must be it. */
	assert_null(json_parse(tail, sizeof(tail), 1));
	assert_non_null(j = json_parse(tail, sizeof(tail) - 1, 0));
	cJSON_Delete(j);
	/* No NUL within len: refused when one is required. */
	assert_null(json_parse(ok, strlen(ok), 1));
}

static void
test_malformed(void **state)
{
	static const char *bad[] = { "", "{", "{\"a\":}", "[1,]", "nul" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_null(json_parse(bad[i], strlen(bad[i]) + 1, 1));
		assert_null(json_parse(bad[i], strlen(bad[i]), 0));
	}
	assert_null(json_parse(NULL, 0, 0));
}

#define THREADS	4
#define ROUNDS	2000

static void *
parser(void *arg)
{
	long id = (long)arg, bad = 0;
	char text[64];
	cJSON *j;
	int i, n;

	for (i = 0; i < ROUNDS; i++) {
		n = snprintf(text, sizeof(text), i % 3 ? "{\"t\":%ld,\"i\":%d}" :
		    "{\"t\":%ld,\"i\":%d", id, i);
		j = json_parse(text, (size_t)n + 1, 1);
		if (i % 3 == 0)
			bad += j != NULL;
		else
			bad += j == NULL ||
			    cJSON_GetObjectItem(j, "t")->valueint != id ||
			    cJSON_GetObjectItem(j, "i")->valueint != i;
		cJSON_Delete(j);
	}
	return (void *)bad;
}

static void
test_threads(void **state)
{
	pthread_t t[THREADS];
	void *bad;
	long i;

	(void)state;
	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, parser,
		    (void *)i), 0);
	for (i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(t[i], &bad), 0);
		assert_null(bad);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole_text),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

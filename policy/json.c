/*
 * json.c — cJSON's parser behind one lock. See json.h for why.
 */
#include <pthread.h>

#include "policy/json.h"

static pthread_mutex_t	 lock = PTHREAD_MUTEX_INITIALIZER;

cJSON *
json_parse(const char *buf, size_t len, int nul_terminated)
{
	cJSON	*j;

	/* A failed lock would mean a broken process: parse nothing. */
	if (pthread_mutex_lock(&lock) != 0)
		return NULL;
	j = cJSON_ParseWithLengthOpts(buf, len, NULL, nul_terminated);
	(void)pthread_mutex_unlock(&lock);
	return j;
}

/*
 * json.h — cJSON's parser, safe to call from several threads at once.
 *
 * Every cJSON parse writes the library's one static error position (it
 * resets it at the start and sets it on failure), so two threads
 * parsing at once race on it: undefined behaviour, however harmless
 * on x86-64. The front end parses on its event loop and on its check
 * threads at the same time, so every parse in a program with threads
 * (p11ca-api and what it links: api/, appliance/, policy/) goes through
 * here, under one lock. A parse of a request's JSON takes a few µs, so
 * the lock is rarely contended. The single-threaded CLI may call cJSON
 * directly.
 */
#ifndef P11CA_POLICY_JSON_H
#define P11CA_POLICY_JSON_H

#include <stddef.h>

#include <cjson/cJSON.h>

/*
 * cJSON_ParseWithLengthOpts(), under the lock: with nul_terminated, the
 * value must be followed by nothing but white space and a NUL within
 * len. NULL on malformed text or no memory.
 */
cJSON	*json_parse(const char *buf, size_t len, int nul_terminated);

#endif

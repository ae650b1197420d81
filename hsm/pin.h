/*
 * pin.h — where the signer gets its PIN: a file, an inherited file
 * descriptor, an environment variable (removed once read) or the terminal.
 * Never ca.json, never anything the front end can read.
 */
#ifndef P11CA_PIN_H
#define P11CA_PIN_H

#include <stddef.h>

#define PIN_MAX	128

/*
 * source: "file:PATH", "fd:N", "env:NAME" or "prompt". Fills pin (NUL-
 * terminated, trailing newline removed). Returns 0, or -1 with err set.
 * The caller wipes pin with OPENSSL_cleanse when done.
 */
int	pin_read(const char *source, char *pin, size_t pinsz, char *err,
	    size_t errsz);

#endif

/*
 * signer_link.h — asynchronous signing through p11ca-signer, for the
 * front end's event loop. A request either gets its signature or fails
 * within a second (status -1: no signer, or it did not answer in time;
 * else the signer's PROTO_E_* code with its message).
 */
#ifndef P11CA_SIGNER_LINK_H
#define P11CA_SIGNER_LINK_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

struct signer_link;

typedef void (*link_cb)(int status, const uint8_t *sig, size_t siglen,
    const char *msg, void *arg);

struct signer_link *link_new(struct event_base *base, const char *path);
/*
 * Fails every request in flight (their callbacks run now) and refuses
 * new ones; link_free does the same, then frees. At shutdown the first
 * comes before the store and the HTTP server close, the second after.
 */
void	link_shutdown(struct signer_link *l);
void	link_free(struct signer_link *l);

/*
 * Queues a SIGN request; cb runs later on the loop, exactly once. Returns
 * -1 (and cb never runs) when it cannot be sent at all.
 */
int	link_sign(struct signer_link *l, const char *key, uint8_t kind,
	    uint8_t alg, const uint8_t *p, size_t n, link_cb cb, void *arg);

#endif

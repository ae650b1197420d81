/*
 * signer.h — p11ca-signer's internals, shared by its own files only:
 * the configuration (conf.c), the monitor that owns the socket and the
 * audit log (monitor.c) and the workers that own PKCS#11 sessions
 * (worker.c). Clients see only hsm/proto.h.
 */
#ifndef P11CA_SIGNER_H
#define P11CA_SIGNER_H

#include <sys/types.h>

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "hsm/guard.h"
#include "hsm/p11.h"

#define SIGNER_MAX_UIDS		16
#define SIGNER_MAX_WORKERS	16
#define SIGNER_MAX_ENV		8

struct key_conf {
	char		 name[65];	/* what clients ask for */
	enum guard_role	 role;
	char		 label[64];	/* CKA_LABEL on the token, or "" */
	uint8_t		 id[P11_MAX_ID];/* CKA_ID, or idlen 0 */
	size_t		 idlen;
	char		 cert[PATH_MAX];/* its own certificate, or "" */
};

struct signer_conf {
	char		 module[PATH_MAX];
	char		 token_label[33];
	char		 token_serial[17];
	char		 pin_source[PATH_MAX + 8];
	char		 socket[108];
	char		 audit[PATH_MAX];
	uid_t		 allow[SIGNER_MAX_UIDS];
	int		 nallow;
	int		 workers;
	int		 max_conns;
	char		 env[SIGNER_MAX_ENV][PATH_MAX];	/* module-env NAME=V */
	int		 nenv;
	struct key_conf	 keys[P11_MAX_KEYS];
	int		 nkeys;
	int		 ceremony;
};

int	conf_load(const char *path, struct signer_conf *c, char *err,
	    size_t errsz);
int	conf_key_index(const struct signer_conf *c, const char *name);

/*
 * Internal link, monitor <-> worker: the same frames as clients use, with
 * the monitor's job id as frame id. A worker's answer to a job carries a
 * blob16 of audit fields (empty: nothing to audit) before the body that
 * goes back to the client unchanged. A worker announces itself with a
 * PING response (ready) or an error frame (could not start).
 */
#define WORKER_EXIT_RETRY	2	/* token trouble: respawn later */
#define WORKER_EXIT_FATAL	3	/* wrong PIN, bad config: never respawn */

void	worker_main(const struct signer_conf *c, const char *pin, int fd)
	    __attribute__((noreturn));
int	monitor_run(const struct signer_conf *c, const char *pin);

void	log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif

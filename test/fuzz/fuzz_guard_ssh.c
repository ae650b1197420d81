/*
 * fuzz_guard_ssh.c — guard_check() on arbitrary bytes as an OpenSSH
 * certificate body, for an SSH CA key; and the same bytes offered to
 * the SSH key as other kinds, and to an X.509 key as SSH, which must all
 * be refused. Seeds in test/fuzz/seeds/fuzz_guard_ssh are ssh-keygen
 * certificates by this CA key, their signatures cut off.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hsm/guard.h"
#include "hsm/proto.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const uint8_t ca_sshpub[] = {
	0x00, 0x00, 0x00, 0x0b, 0x73, 0x73, 0x68, 0x2d, 0x65, 0x64, 0x32, 0x35,
	0x35, 0x31, 0x39, 0x00, 0x00, 0x00, 0x20, 0xd8, 0x34, 0x90, 0xbb, 0x00,
	0x2d, 0x91, 0x2a, 0xdf, 0xf0, 0x05, 0xcf, 0xc5, 0x1c, 0xe2, 0x6f, 0xab,
	0xf3, 0x86, 0xa7, 0xcd, 0x14, 0x81, 0x22, 0x34, 0x8d, 0x75, 0x11, 0x66,
	0xbc, 0x37, 0xfa,
};

static const struct guard_key ssh = {
	.role = ROLE_SSH,
	.sshpub = ca_sshpub, .sshpublen = sizeof(ca_sshpub),
};

static const struct guard_key issuing = {
	.role = ROLE_ISSUING,
	.subject = (const uint8_t *)"\x30\x00", .subjectlen = 2,
	.not_before = 0, .not_after = 2000000000,
};

static int
run(const struct guard_key *k, uint8_t kind, uint8_t alg, const uint8_t *p,
    size_t n)
{
	struct guard_info	 gi;
	int			 r;

	memset(&gi, 0xa5, sizeof(gi));
	r = guard_check(k, kind, alg, p, n, &gi);
	if ((r != 0 && r != -1) ||
	    memchr(gi.serial, '\0', sizeof(gi.serial)) == NULL ||
	    memchr(gi.subject, '\0', sizeof(gi.subject)) == NULL ||
	    memchr(gi.reason, '\0', sizeof(gi.reason)) == NULL ||
	    (r == 0) != (gi.reason[0] == '\0'))
		abort();
	/* an accepted body ends with this CA's key, as a string */
	if (r == 0 && (kind != KIND_SSH_CERT || n < sizeof(ca_sshpub) + 4 ||
	    memcmp(p + n - sizeof(ca_sshpub), ca_sshpub,
	    sizeof(ca_sshpub)) != 0 || strlen(gi.serial) != 16))
		abort();
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *p, size_t n)
{
	uint8_t	 kind;

	run(&ssh, KIND_SSH_CERT, ALG_ED25519, p, n);
	for (kind = 0; kind <= KIND_MAX + 1; kind++)
		if (kind != KIND_SSH_CERT && run(&ssh, kind, ALG_ED25519, p,
		    n) == 0)
			abort();
	if (run(&issuing, KIND_SSH_CERT, ALG_ED25519, p, n) == 0)
		abort();
	return 0;
}

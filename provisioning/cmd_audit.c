/*
 * cmd_audit.c — p11ca audit verify FILE
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hsm/audit.h"
#include "provisioning/cli.h"

static const char usage[] =
"usage: p11ca audit verify FILE\n"
"\n"
"Checks the signer's hash-chained audit log: every record's own hash, its\n"
"link to the previous record, and the sequence numbers. Prints the number\n"
"of records when the chain is intact (exit 0); otherwise names the first\n"
"broken record and why (exit 1). Exit 2 for usage errors.\n";

int
cmd_audit_verify(int argc, char **argv)
{
	FILE		*fp;
	uint64_t	 count, bad;
	char		 err[256];
	int		 rc;

	if (argc == 2 && (strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0)) {
		fputs(usage, stdout);
		return 0;
	}
	if (argc != 2) {
		fputs(usage, stderr);
		return 2;
	}
	if ((fp = fopen(argv[1], "r")) == NULL) {
		cli_err("%s: %s", argv[1], strerror(errno));
		return 2;
	}
	rc = audit_verify(fp, &count, &bad, err, sizeof(err));
	fclose(fp);
	if (rc == -1) {
		printf("%s: BROKEN at %s\n", argv[1], err);
		return 1;
	}
	printf("%s: chain intact, %llu record(s)\n", argv[1],
	    (unsigned long long)count);
	return 0;
}

/*
 * audit_verify.c — walk a whole audit log and check its chain; for the
 * operator's `p11ca audit verify`, not linked into the signer.
 */
#include <stdio.h>
#include <string.h>

#include "hsm/audit.h"

int
audit_verify(FILE *in, uint64_t *count, uint64_t *bad, char *err, size_t errsz)
{
	char		 line[AUDIT_MAX_LINE + 2], prev[65], hash[65];
	char		 want[65];
	const char	*why;
	uint64_t	 n = 0, seq;
	size_t		 len;

	memcpy(want, audit_zero_hash, sizeof(audit_zero_hash));
	*count = *bad = 0;
	while (fgets(line, sizeof(line), in) != NULL) {
		n++;
		len = strlen(line);
		if (len == 0 || line[len - 1] != '\n') {
			why = len >= AUDIT_MAX_LINE ? "record too long" :
			    "record is incomplete (no newline)";
			goto broken;
		}
		line[--len] = '\0';
		if (memchr(line, '\0', len) != NULL) {
			why = "record contains a NUL byte";
			goto broken;
		}
		if ((why = audit_check_line(line, len, &seq, prev, hash)) != NULL)
			goto broken;
		if (seq != n) {
			why = "sequence number out of order";
			goto broken;
		}
		if (memcmp(prev, want, 64) != 0) {
			why = "prev= does not match the previous record's hash";
			goto broken;
		}
		memcpy(want, hash, sizeof(want));
	}
	if (ferror(in)) {
		snprintf(err, errsz, "read error");
		*bad = n + 1;
		return -1;
	}
	*count = n;
	return 0;
broken:
	*bad = n;
	snprintf(err, errsz, "record %llu: %s", (unsigned long long)n, why);
	return -1;
}

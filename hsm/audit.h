/*
 * audit.h — the signer's hash-chained audit log.
 *
 * One line per signature, refusal or token failure:
 *
 *   <seq> <time> uid=<uid> <fields> prev=<sha256 hex> hash=<sha256 hex>\n
 *
 * where hash is SHA-256 of the line up to (not including) " hash=", and
 * prev is the previous record's hash (64 zeros for the first). Changing,
 * removing or reordering any record breaks the chain at that record.
 */
#ifndef P11CA_AUDIT_H
#define P11CA_AUDIT_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define AUDIT_MAX_LINE	2048

struct audit;

/* Opens (creating 0600) and reads the tail to continue the chain. */
struct audit *audit_open(const char *path, char *err, size_t errsz);
/*
 * Appends one record; fields is "key=… kind=… …" (already escaped, see
 * audit_escape). The record is buffered: audit_flush writes every buffered
 * record with one write(2), audit_sync writes and fdatasyncs. Release
 * nothing a record describes before it is synced.
 */
int	audit_append(struct audit *a, uid_t uid, const char *fields);
int	audit_flush(struct audit *a);
int	audit_sync(struct audit *a);
/* The last record's sequence number, and the descriptor a syncer syncs. */
uint64_t audit_seq(const struct audit *a);
int	audit_fd(const struct audit *a);
void	audit_close(struct audit *a);

/* Escapes s for one field value: no spaces, controls, '%' or '='. */
void	audit_escape(char *dst, size_t dstsz, const char *s);

/*
 * Checks the whole chain. Returns 0 when intact (*count set), -1 when not,
 * with *bad set to the first broken record (1-based line) and why in err.
 */
int	audit_verify(FILE *in, uint64_t *count, uint64_t *bad, char *err,
	    size_t errsz);

/* Shared by audit.c and audit_verify.c: one record's own checks. */
extern const char audit_zero_hash[65];
const char *audit_check_line(const char *line, size_t n, uint64_t *seq,
	    char prev[65], char hash[65]);

#endif

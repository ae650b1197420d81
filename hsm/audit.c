/*
 * audit.c — append-only, hash-chained, fsynced audit records.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "hsm/audit.h"
#include "hsm/digest.h"
#include "hsm/proto.h"

#define AUDIT_BUF	(256 * 1024)

struct audit {
	int		 fd;
	uint64_t	 seq;
	char		 prev[65];
	int		 dirty;
	size_t		 len;		/* formatted, not yet written */
	char		 buf[AUDIT_BUF];
};

const char audit_zero_hash[65] =
    "0000000000000000000000000000000000000000000000000000000000000000";

static void
sha256_hex(const char *s, size_t n, char out[65])
{
	unsigned char	 md[32];
	unsigned int	 mdlen = 0;

	if (EVP_Digest(s, n, md, &mdlen, digest_nid(NID_sha256), NULL) != 1)
		memset(md, 0, sizeof(md));	/* cannot happen; breaks chain */
	hex_lower(out, md, sizeof(md));
}

/*
 * Splits one record line (without its newline) into seq, prev and hash and
 * checks its own hash. Returns NULL when fine, else what is wrong.
 */
const char *
audit_check_line(const char *line, size_t n, uint64_t *seq, char prev[65],
    char hash[65])
{
	const char	*h, *pv;
	char		 calc[65], *end;

	if (n < 140 || (h = strstr(line, " hash=")) == NULL ||
	    (size_t)(h - line) + 6 + 64 != n)
		return "malformed record";
	if ((size_t)(h - line) < 70 || memcmp(h - 70, " prev=", 6) != 0)
		return "malformed record (no prev=)";
	pv = h - 64;
	memcpy(prev, pv, 64);
	prev[64] = '\0';
	memcpy(hash, h + 6, 64);
	hash[64] = '\0';
	errno = 0;
	*seq = strtoull(line, &end, 10);
	if (errno || end == line || *end != ' ')
		return "malformed sequence number";
	sha256_hex(line, h - line, calc);
	if (memcmp(calc, hash, 64) != 0)
		return "record hash does not match its content";
	return NULL;
}

struct audit *
audit_open(const char *path, char *err, size_t errsz)
{
	struct audit	*a;
	struct stat	 st;
	char		 buf[AUDIT_MAX_LINE + 1], hash[65];
	const char	*why, *last;
	off_t		 off;
	ssize_t		 r;

	if ((a = calloc(1, sizeof(*a))) == NULL) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	memcpy(a->prev, audit_zero_hash, sizeof(audit_zero_hash));
	a->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (a->fd == -1 || fstat(a->fd, &st) == -1) {
		snprintf(err, errsz, "audit log %s: %s", path, strerror(errno));
		goto bad;
	}
	if (st.st_size == 0)
		return a;
	off = st.st_size > AUDIT_MAX_LINE ? st.st_size - AUDIT_MAX_LINE : 0;
	if ((r = pread(a->fd, buf, st.st_size - off, off)) <= 0) {
		snprintf(err, errsz, "audit log %s: cannot read tail", path);
		goto bad;
	}
	buf[r] = '\0';
	/* A torn last record means a crash mid-write: let a human look. */
	if (buf[r - 1] != '\n') {
		snprintf(err, errsz, "audit log %s: last record is incomplete "
		    "(crash while writing?); run 'p11ca audit verify %s'",
		    path, path);
		goto bad;
	}
	buf[r - 1] = '\0';
	last = (last = strrchr(buf, '\n')) ? last + 1 : buf;
	if ((why = audit_check_line(last, strlen(last), &a->seq, hash,
	    a->prev)) != NULL) {
		snprintf(err, errsz, "audit log %s: last record: %s; run "
		    "'p11ca audit verify %s'", path, why, path);
		goto bad;
	}
	return a;
bad:
	if (a->fd != -1)
		close(a->fd);
	free(a);
	return NULL;
}

void
audit_escape(char *dst, size_t dstsz, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t		 o = 0;
	unsigned char	 c;

	if (dstsz == 0)
		return;
	if (*s == '\0')
		s = "-";
	for (; (c = (unsigned char)*s) != '\0' && o + 4 < dstsz; s++) {
		if (c <= 0x20 || c >= 0x7f || c == '%' || c == '=') {
			dst[o++] = '%';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		} else
			dst[o++] = (char)c;
	}
	dst[o] = '\0';
}

int
audit_append(struct audit *a, uid_t uid, const char *fields)
{
	char		 ts[40], *line;
	struct timespec	 now;
	struct tm	 tm;
	int		 n;

	if (a->len + AUDIT_MAX_LINE > sizeof(a->buf) && audit_flush(a) == -1)
		return -1;
	line = a->buf + a->len;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, AUDIT_MAX_LINE, "%llu %s.%06ldZ uid=%u %s prev=%s",
	    (unsigned long long)a->seq + 1, ts, now.tv_nsec / 1000,
	    (unsigned)uid, fields, a->prev);
	if (n < 0 || (size_t)n + 6 + 64 + 1 >= AUDIT_MAX_LINE)
		return -1;
	memcpy(line + n, " hash=", 6);
	sha256_hex(line, n, line + n + 6);
	line[n + 70] = '\n';
	memcpy(a->prev, line + n + 6, 64);
	a->len += n + 71;
	a->seq++;
	return 0;
}

/* Writes what is buffered: one write(2) for many records, in order. */
int
audit_flush(struct audit *a)
{
	size_t	 off = 0;
	ssize_t	 w;

	while (off < a->len) {
		if ((w = write(a->fd, a->buf + off, a->len - off)) == -1 &&
		    errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		off += w;
	}
	a->dirty |= a->len > 0;
	a->len = 0;
	return 0;
}

int
audit_sync(struct audit *a)
{
	if (audit_flush(a) == -1)
		return -1;
	if (!a->dirty)
		return 0;
	if (fdatasync(a->fd) == -1)
		return -1;
	a->dirty = 0;
	return 0;
}

uint64_t
audit_seq(const struct audit *a)
{
	return a->seq;
}

int
audit_fd(const struct audit *a)
{
	return a->fd;
}

void
audit_close(struct audit *a)
{
	if (a == NULL)
		return;
	(void)audit_sync(a);
	close(a->fd);
	free(a);
}

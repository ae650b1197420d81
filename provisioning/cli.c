/*
 * cli.c — helpers the subcommands share.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "provisioning/cli.h"

const char *
cli_home(const char *override)
{
	static char	 buf[PATH_MAX];
	const char	*h;

	if (override)
		return override;
	if ((h = getenv("P11CA_HOME")) != NULL && *h)
		return h;
	snprintf(buf, sizeof(buf), "%s/.p11ca",
	    (h = getenv("HOME")) ? h : ".");
	return buf;
}

const char *
cli_path(const char *home, const char *rel)
{
	static char	 bufs[8][PATH_MAX];
	static int	 next;
	char		*b = bufs[next++ % 8];

	snprintf(b, PATH_MAX, "%s/%s", home, rel);
	return b;
}

int
cli_write_file(const char *path, const void *data, size_t n, int mode)
{
	char	 tmp[PATH_MAX];
	int	 fd, rc = -1;
	size_t	 off = 0;
	ssize_t	 w;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid()) >=
	    (int)sizeof(tmp))
		return -1;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)) ==
	    -1)
		return -1;
	while (off < n) {
		if ((w = write(fd, (const char *)data + off, n - off)) <= 0) {
			if (w == -1 && errno == EINTR)
				continue;
			goto out;
		}
		off += w;
	}
	if (fchmod(fd, mode) == 0 && fsync(fd) == 0 && close(fd) == 0) {
		fd = -1;
		rc = rename(tmp, path);
	}
out:
	if (fd != -1)
		close(fd);
	if (rc == -1)
		unlink(tmp);
	return rc;
}

char *
cli_read_file(const char *path, size_t *n)
{
	FILE	*fp;
	char	*buf = NULL, *nb;
	size_t	 len = 0, cap = 0, r;

	if ((fp = fopen(path, "rb")) == NULL)
		return NULL;
	for (;;) {
		if (cap - len < 4096) {
			if (cap > (64u << 20) ||
			    (nb = realloc(buf, cap + 65536)) == NULL) {
				free(buf);
				fclose(fp);
				return NULL;
			}
			buf = nb;
			cap += 65536;
		}
		if ((r = fread(buf + len, 1, cap - len - 1, fp)) == 0)
			break;
		len += r;
	}
	fclose(fp);
	buf[len] = '\0';
	if (n)
		*n = len;
	return buf;
}

int
cli_random_secret(char *out, size_t len)
{
	static const char abc[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char	 r[256];
	size_t		 i;

	if (len >= sizeof(r) || RAND_bytes(r, (int)len) != 1)
		return -1;
	for (i = 0; i < len; i++)
		out[i] = abc[r[i] & 63];
	out[len] = '\0';
	return 0;
}

int
cli_mkdirs(const char *home)
{
	static const struct {
		const char	*rel;
		int		 mode;
	} dirs[] = {
		{ "", 0755 }, { "config", 0755 }, { "certs", 0755 },
		{ "secrets", 0700 }, { "db", 0700 }, { "audit", 0700 },
		{ "run", 0755 }, { "tokens", 0700 },
	};
	size_t	 i;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (mkdir(cli_path(home, dirs[i].rel), dirs[i].mode) == -1 &&
		    errno != EEXIST) {
			cli_err("%s: %s", cli_path(home, dirs[i].rel),
			    strerror(errno));
			return -1;
		}
	return 0;
}

void
cli_err(const char *fmt, ...)
{
	va_list	 ap;

	fputs("p11ca: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void
cli_step(const char *fmt, ...)
{
	va_list	 ap;

	fputs("==> ", stdout);
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

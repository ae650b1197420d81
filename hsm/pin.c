/*
 * pin.c — read the token PIN from the one source the operator named.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "hsm/pin.h"

static int
read_fd(int fd, char *pin, size_t pinsz)
{
	size_t	 n = 0;
	ssize_t	 r;

	while (n < pinsz - 1) {
		r = read(fd, pin + n, pinsz - 1 - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += r;
		if (memchr(pin, '\n', n))
			break;
	}
	pin[n] = '\0';
	pin[strcspn(pin, "\r\n")] = '\0';
	return pin[0] ? 0 : -1;
}

static int
from_file(const char *path, char *pin, size_t pinsz, char *err, size_t errsz)
{
	struct stat	 st;
	int		 fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		snprintf(err, errsz, "PIN file %s: %s", path, strerror(errno));
		return -1;
	}
	/* A PIN others can read is a PIN others have. */
	if (fstat(fd, &st) == -1 || (st.st_mode & 077) != 0) {
		snprintf(err, errsz, "PIN file %s: must not be readable by "
		    "group or others (chmod 600)", path);
		close(fd);
		return -1;
	}
	rc = read_fd(fd, pin, pinsz);
	close(fd);
	if (rc == -1)
		snprintf(err, errsz, "PIN file %s: empty", path);
	return rc;
}

static int
from_prompt(char *pin, size_t pinsz, char *err, size_t errsz)
{
	struct termios	 old, quiet;
	int		 fd, rc, echo_off;

	if ((fd = open("/dev/tty", O_RDWR | O_CLOEXEC)) == -1) {
		snprintf(err, errsz, "PIN prompt: no terminal");
		return -1;
	}
	echo_off = tcgetattr(fd, &old) == 0;
	if (echo_off) {
		quiet = old;
		quiet.c_lflag &= ~(ECHO | ECHONL);
		echo_off = tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
	}
	/* The prompt is a courtesy; reading works without it. */
	(void)!write(fd, "Token PIN: ", 11);
	rc = read_fd(fd, pin, pinsz);
	if (echo_off)
		tcsetattr(fd, TCSAFLUSH, &old);
	(void)!write(fd, "\n", 1);
	close(fd);
	if (rc == -1)
		snprintf(err, errsz, "PIN prompt: empty PIN");
	return rc;
}

int
pin_read(const char *source, char *pin, size_t pinsz, char *err, size_t errsz)
{
	const char	*v;
	char		*end;
	long		 fd;
	int		 rc;

	if (strncmp(source, "file:", 5) == 0)
		return from_file(source + 5, pin, pinsz, err, errsz);
	if (strncmp(source, "fd:", 3) == 0) {
		fd = strtol(source + 3, &end, 10);
		if (*end != '\0' || fd < 0 || fd > 1024 || end == source + 3) {
			snprintf(err, errsz, "PIN source %s: bad descriptor",
			    source);
			return -1;
		}
		rc = read_fd((int)fd, pin, pinsz);
		close((int)fd);
		if (rc == -1)
			snprintf(err, errsz, "PIN descriptor %ld: nothing read",
			    fd);
		return rc;
	}
	if (strncmp(source, "env:", 4) == 0) {
		if ((v = getenv(source + 4)) == NULL || *v == '\0' ||
		    strlen(v) >= pinsz) {
			snprintf(err, errsz, "PIN variable %s: unset, empty or "
			    "too long", source + 4);
			return -1;
		}
		snprintf(pin, pinsz, "%s", v);
		/* Children and /proc/PID/environ must not see it. */
		OPENSSL_cleanse(getenv(source + 4), strlen(v));
		unsetenv(source + 4);
		return 0;
	}
	if (strcmp(source, "prompt") == 0)
		return from_prompt(pin, pinsz, err, errsz);
	snprintf(err, errsz, "PIN source '%s': want file:PATH, fd:N, env:NAME "
	    "or prompt", source);
	return -1;
}

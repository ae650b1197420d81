/*
 * main.c — p11ca-signer: read the configuration and the PIN, harden the
 * process, and hand over to the monitor.
 */
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "hsm/pin.h"
#include "hsm/signer/signer.h"

static const char usage[] =
"usage: p11ca-signer -c CONFIG [--ceremony] [--check]\n"
"\n"
"The privileged half of p11ca: the only process that holds the token PIN.\n"
"It serves PING, PUBLIC_KEY and SIGN requests (hsm/proto.h) on a Unix\n"
"socket to the uids its configuration allows, signs only what each key's\n"
"guard permits, and appends a hash-chained record of every signature and\n"
"refusal to its audit log before answering.\n"
"\n"
"  -c, --config FILE  the signer's configuration (see docs/signer.md)\n"
"      --ceremony     allow root keys to sign CA certificates and CRLs;\n"
"                     for offline root ceremonies only\n"
"      --check        load configuration, PIN, token and keys, then exit\n"
"  -h, --help         this text\n"
"\n"
"Signals: SIGTERM or SIGINT stop it cleanly. Exit status 0 on a clean\n"
"stop, 1 when it cannot start or its audit log cannot be written.\n";

void
log_msg(const char *fmt, ...)
{
	char		 ts[32];
	time_t		 now = time(NULL);
	struct tm	 tm;
	va_list		 ap;

	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s p11ca-signer[%d]: ", ts, (int)getpid());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "ceremony", no_argument, NULL, 'C' },
		{ "check", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct signer_conf conf;
	static char	 pin[PIN_MAX];
	const struct rlimit nocore = { 0, 0 };
	const char	*path = NULL;
	char		 err[512];
	int		 ch, ceremony = 0, check = 0, i, rc;

	while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'C':
			ceremony = 1;
			break;
		case 'k':
			check = 1;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (path == NULL || optind != argc) {
		fputs(usage, stderr);
		return 2;
	}
	/* The PIN must not end up in a core file or another's ptrace. */
	if (setrlimit(RLIMIT_CORE, &nocore) == -1 ||
	    prctl(PR_SET_DUMPABLE, 0) == -1 ||
	    mlock(pin, sizeof(pin)) == -1)
		log_msg("warning: cannot fully protect PIN memory");
	umask(077);
	if (conf_load(path, &conf, err, sizeof(err)) == -1) {
		log_msg("%s", err);
		return 1;
	}
	conf.ceremony = ceremony;
	for (i = 0; i < conf.nenv; i++)
		if (putenv(conf.env[i]) != 0) {
			log_msg("module-env: cannot set %s", conf.env[i]);
			return 1;
		}
	if (pin_read(conf.pin_source, pin, sizeof(pin), err, sizeof(err))) {
		log_msg("%s", err);
		return 1;
	}
	if (check)
		conf.workers = 1;
	rc = monitor_run(&conf, pin);
	OPENSSL_cleanse(pin, sizeof(pin));
	return rc == 0 ? 0 : 1;
}

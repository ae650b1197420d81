/*
 * cmd_provisioner.c — p11ca ca provisioner list | add | update | remove |
 * jwe-key: the provisioners of ca.json, edited as `step ca provisioner`
 * edits them (the offline, ca.json flavour), and a running p11ca-api
 * told to reload with SIGHUP.
 *
 * Every edit is: lock ca.json (flock on ca.json.lock, so that two edits
 * never lose each other's change), read it, change
 * authority.provisioners, check the whole authority with
 * provisioners_load() (the very code the front end uses, so that we never
 * write a file it would refuse at start or on reload), write atomically
 * (temporary file, fsync, rename, fsync of the directory), unlock,
 * signal. The rest of the document goes through cJSON unchanged, in its
 * order.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "policy/jose.h"
#include "policy/provisioner.h"
#include "provisioning/cli.h"

#define MAX_JWK_FILES	16
#define LOCK_WAIT_MS	30000	/* how long an edit waits for another */
#define LOCK_POLL_MS	10
#define MAX_PAGES	10000	/* of GET /provisioners, 100 a page */
#define MAX_CURSOR	128

/* The duration claims, in the order of struct claimopts.dur[]. */
enum {
	D_X509_MIN, D_X509_MAX, D_X509_DEF,
	D_USER_MIN, D_USER_MAX, D_USER_DEF,
	D_HOST_MIN, D_HOST_MAX, D_HOST_DEF,
	D_COUNT
};

static const struct durdef {
	const char	*claim;		/* its name in ca.json (step-ca's) */
	const char	*flag;		/* step's flag */
	size_t		 off;		/* in struct claims */
} durdefs[D_COUNT] = {
	[D_X509_MIN] = { "minTLSCertDuration", "--x509-min-dur",
	    offsetof(struct claims, min_tls) },
	[D_X509_MAX] = { "maxTLSCertDuration", "--x509-max-dur",
	    offsetof(struct claims, max_tls) },
	[D_X509_DEF] = { "defaultTLSCertDuration", "--x509-default-dur",
	    offsetof(struct claims, default_tls) },
	[D_USER_MIN] = { "minUserSSHCertDuration", "--ssh-user-min-dur",
	    offsetof(struct claims, min_user_ssh) },
	[D_USER_MAX] = { "maxUserSSHCertDuration", "--ssh-user-max-dur",
	    offsetof(struct claims, max_user_ssh) },
	[D_USER_DEF] = { "defaultUserSSHCertDuration", "--ssh-user-default-dur",
	    offsetof(struct claims, default_user_ssh) },
	[D_HOST_MIN] = { "minHostSSHCertDuration", "--ssh-host-min-dur",
	    offsetof(struct claims, min_host_ssh) },
	[D_HOST_MAX] = { "maxHostSSHCertDuration", "--ssh-host-max-dur",
	    offsetof(struct claims, max_host_ssh) },
	[D_HOST_DEF] = { "defaultHostSSHCertDuration", "--ssh-host-default-dur",
	    offsetof(struct claims, default_host_ssh) },
};

/* Each family must keep min <= default <= max. */
static const struct durrange {
	const char	*what;
	int		 min, def, max;
} durranges[] = {
	{ "X.509", D_X509_MIN, D_X509_DEF, D_X509_MAX },
	{ "SSH user", D_USER_MIN, D_USER_DEF, D_USER_MAX },
	{ "SSH host", D_HOST_MIN, D_HOST_DEF, D_HOST_MAX },
};

/* Option codes shared by the subcommands' getopt tables. */
enum {
	O_CONFIG = 256, O_HOME, O_TYPE, O_CREATE, O_PWFILE, O_KID,
	O_DISRENEW, O_ALLOWRENEW, O_RENEWEXP, O_SSH, O_NOSSH, O_URL,
	O_ROOT, O_HELP,
	O_DUR		/* O_DUR + D_xxx: the duration options */
};

#define COMMON_OPTS \
	{ "ca-config", required_argument, NULL, O_CONFIG }, \
	{ "home", required_argument, NULL, O_HOME }, \
	{ "help", no_argument, NULL, O_HELP }

#define CLAIM_OPTS \
	{ "x509-min-dur", required_argument, NULL, O_DUR + D_X509_MIN }, \
	{ "x509-max-dur", required_argument, NULL, O_DUR + D_X509_MAX }, \
	{ "x509-default-dur", required_argument, NULL, O_DUR + D_X509_DEF }, \
	{ "ssh-user-min-dur", required_argument, NULL, O_DUR + D_USER_MIN }, \
	{ "ssh-user-max-dur", required_argument, NULL, O_DUR + D_USER_MAX }, \
	{ "ssh-user-default-dur", required_argument, NULL, \
	    O_DUR + D_USER_DEF }, \
	{ "ssh-host-min-dur", required_argument, NULL, O_DUR + D_HOST_MIN }, \
	{ "ssh-host-max-dur", required_argument, NULL, O_DUR + D_HOST_MAX }, \
	{ "ssh-host-default-dur", required_argument, NULL, \
	    O_DUR + D_HOST_DEF }, \
	{ "min-user-cert-duration", required_argument, NULL, \
	    O_DUR + D_USER_MIN }, \
	{ "max-user-cert-duration", required_argument, NULL, \
	    O_DUR + D_USER_MAX }, \
	{ "default-user-cert-duration", required_argument, NULL, \
	    O_DUR + D_USER_DEF }, \
	{ "min-host-cert-duration", required_argument, NULL, \
	    O_DUR + D_HOST_MIN }, \
	{ "max-host-cert-duration", required_argument, NULL, \
	    O_DUR + D_HOST_MAX }, \
	{ "default-host-cert-duration", required_argument, NULL, \
	    O_DUR + D_HOST_DEF }, \
	{ "disable-renewal", optional_argument, NULL, O_DISRENEW }, \
	{ "allow-renewal", no_argument, NULL, O_ALLOWRENEW }, \
	{ "allow-renewal-after-expiry", optional_argument, NULL, \
	    O_RENEWEXP }, \
	{ "ssh", optional_argument, NULL, O_SSH }, \
	{ "no-ssh", no_argument, NULL, O_NOSSH }

#define CLAIMS_HELP \
"CLAIMS OPTIONS\n" \
"  Each option sets one member of the provisioner's \"claims\" object\n" \
"  (its ca.json name in brackets, as step-ca names it). A claim the\n" \
"  provisioner does not set is taken from authority.claims, else from\n" \
"  step-ca's default (in parentheses).\n" \
"\n" \
"  --x509-min-dur DUR         shortest X.509 certificate the provisioner\n" \
"                             may obtain [minTLSCertDuration] (5m)\n" \
"  --x509-max-dur DUR         longest X.509 certificate\n" \
"                             [maxTLSCertDuration] (24h)\n" \
"  --x509-default-dur DUR     X.509 validity when a request names no\n" \
"                             notAfter [defaultTLSCertDuration] (24h)\n" \
"  --ssh-user-min-dur DUR     shortest SSH user certificate\n" \
"                             [minUserSSHCertDuration] (5m)\n" \
"  --ssh-user-max-dur DUR     longest SSH user certificate\n" \
"                             [maxUserSSHCertDuration] (24h)\n" \
"  --ssh-user-default-dur DUR SSH user certificate validity when a\n" \
"                             request names none\n" \
"                             [defaultUserSSHCertDuration] (16h)\n" \
"  --ssh-host-min-dur DUR     shortest SSH host certificate\n" \
"                             [minHostSSHCertDuration] (5m)\n" \
"  --ssh-host-max-dur DUR     longest SSH host certificate\n" \
"                             [maxHostSSHCertDuration] (720h)\n" \
"  --ssh-host-default-dur DUR SSH host certificate validity when a\n" \
"                             request names none\n" \
"                             [defaultHostSSHCertDuration] (720h)\n" \
"  --ssh[=BOOL]               whether the provisioner may obtain SSH\n" \
"                             certificates [enableSSHCA] (false);\n" \
"                             --ssh is --ssh=true, --ssh=false disables\n" \
"  --no-ssh                   the same as --ssh=false\n" \
"  --disable-renewal[=BOOL]   refuse renewals of its certificates\n" \
"                             [disableRenewal] (false);\n" \
"                             --disable-renewal=false allows them again\n" \
"  --allow-renewal            the same as --disable-renewal=false\n" \
"  --allow-renewal-after-expiry[=BOOL]\n" \
"                             allow renewing its certificates after they\n" \
"                             expired [allowRenewalAfterExpiry] (false)\n" \
"\n" \
"  --min-user-cert-duration, --max-user-cert-duration,\n" \
"  --default-user-cert-duration, --min-host-cert-duration,\n" \
"  --max-host-cert-duration and --default-host-cert-duration are\n" \
"  synonyms of the --ssh-user-*-dur and --ssh-host-*-dur options.\n" \
"\n" \
"  DUR is a positive Go duration: \"90s\", \"5m\", \"1h30m\",\n" \
"  \"720h\" (there is no \"d\"). BOOL is true or false (or 1, t,\n" \
"  TRUE, 0, f, FALSE, as Go reads them) and must follow an \"=\":\n" \
"  in \"--ssh false\", \"false\" is an argument, not the option's\n" \
"  value.\n" \
"\n" \
"  After the edit, each family (X.509, SSH user, SSH host) must keep\n" \
"  min <= default <= max, counting the values the provisioner inherits\n" \
"  from authority.claims and step-ca's defaults. An edit that breaks\n" \
"  this is refused with the three values and where each comes from, and\n" \
"  ca.json is left as it was: --ssh-user-max-dur 1h alone is refused,\n" \
"  because the inherited default of 16h is longer; give\n" \
"  --ssh-user-default-dur as well.\n"

#define FILE_HELP \
"CONFIGURATION OPTIONS\n" \
"  --ca-config FILE        the ca.json to use (default\n" \
"                          HOME/config/ca.json)\n" \
"  --home DIR              the state directory (default $P11CA_HOME,\n" \
"                          else ~/.p11ca)\n" \
"  -h, --help              this text\n"

#define EDIT_HELP \
"CONCURRENT EDITS\n" \
"  Edits of one ca.json never lose each other's change: from reading\n" \
"  ca.json until the new file is in place, the command holds an\n" \
"  exclusive flock(2) on FILE.lock next to it (created when missing,\n" \
"  never removed; FILE is the target when ca.json is a symbolic link),\n" \
"  waiting up to 30 seconds for another edit to finish. The new ca.json\n" \
"  is written to a temporary file in the same directory with the old\n" \
"  file's mode and owner, synced, renamed over the old one, and the\n" \
"  directory is synced: a reader sees the old file or the new one,\n" \
"  never a part, and a crash loses no acknowledged edit.\n"

#define RELOAD_HELP \
"RELOAD\n" \
"  After writing ca.json the command looks for the pid file that\n" \
"  p11ca-api keeps next to its signer socket (the directory of ca.json's\n" \
"  signer.socket, file p11ca-api.pid) and sends that process SIGHUP; it\n" \
"  re-reads the provisioners without dropping connections. Without a\n" \
"  pid file it prints a hint instead: the change takes effect when\n" \
"  p11ca-api is reloaded (kill -HUP) or restarted.\n"

#define EXIT_HELP \
"EXIT STATUS\n" \
"  0 on success, 1 when the edit is refused or fails (ca.json is then\n" \
"  unchanged), 2 on a usage error.\n"

static const char provisioner_usage[] =
"usage: p11ca ca provisioner SUBCOMMAND [arguments] [options]\n"
"\n"
"Create and manage the provisioners of the CA, as `step ca provisioner`.\n"
"A provisioner (authority.provisioners in ca.json) is a JWK key pair:\n"
"its public key verifies the one-time tokens it signs, its private key,\n"
"stored as encryptedKey (a PBES2 JWE), signs them; its claims bound the\n"
"certificates it may obtain.\n"
"\n"
"SUBCOMMANDS\n"
"  list     print the provisioners as a JSON array (from ca.json, or\n"
"           from the running CA with --ca-url)\n"
"  add      add a provisioner (a new key, or the key of a JWK file)\n"
"  update   change a provisioner's claims\n"
"  remove   remove a provisioner\n"
"  jwe-key  print a provisioner's encrypted private key\n"
"\n"
"p11ca ca provisioner SUBCOMMAND --help describes each.\n";

static const char list_usage[] =
"usage: p11ca ca provisioner list [--ca-config FILE | --home DIR]\n"
"       p11ca ca provisioner list --ca-url URL [--root FILE]\n"
"                                 [--ca-config FILE | --home DIR]\n"
"\n"
"DESCRIPTION\n"
"  Prints the provisioners as a JSON array, one object per provisioner\n"
"  with its type, name, public key, encryptedKey and claims, as `step ca\n"
"  provisioner list` prints them.\n"
"\n"
"  By default they are read from authority.provisioners of ca.json.\n"
"  With --ca-url they are fetched from the running CA instead, as step\n"
"  fetches them: GET /provisioners, 100 a page, following nextCursor to\n"
"  the last page, over TLS verified with --root. The two differ when\n"
"  ca.json was edited and p11ca-api has not reloaded it yet.\n"
"\n"
"OPTIONS\n"
"  --ca-url URL            the CA, https://host[:port]\n"
"  --root FILE             the root certificate that verifies the CA\n"
"                          (default the \"root\" named in ca.json)\n"
"\n"
FILE_HELP
"\n"
"EXAMPLES\n"
"  p11ca ca provisioner list\n"
"  p11ca ca provisioner list --ca-config /etc/p11ca/config/ca.json\n"
"  p11ca ca provisioner list --ca-url https://ca.example.com \\\n"
"      --root ./root_ca.crt\n";

static const char add_usage[] =
"usage: p11ca ca provisioner add NAME --create --password-file FILE\n"
"           [claims options] [--ca-config FILE | --home DIR]\n"
"       p11ca ca provisioner add NAME JWK-FILE... [--password-file FILE]\n"
"           [claims options] [--ca-config FILE | --home DIR]\n"
"\n"
"DESCRIPTION\n"
"  Adds a JWK provisioner called NAME (the \"iss\" of its tokens; an\n"
"  e-mail address is a good choice) to ca.json.\n"
"\n"
"  With --create a new EC P-256 key is generated. The provisioner gets\n"
"  its public JWK, with kid the RFC 7638 thumbprint, use \"sig\" and alg\n"
"  ES256, and its private JWK encrypted with the password in\n"
"  --password-file (PBES2-HS256+A128KW, A256GCM, 100000 iterations), as\n"
"  `step ca provisioner add --create` stores it. A password is required:\n"
"  the key is never stored in the clear.\n"
"\n"
"  With JWK files, one provisioner NAME is added per file, with the\n"
"  public part of the file's key. When the file holds a private key it\n"
"  is stored encrypted too, which needs --password-file; a public JWK\n"
"  gives a provisioner without encryptedKey, whose tokens are signed\n"
"  with `p11ca ca token --key FILE`. The kid is always recomputed as\n"
"  the thumbprint.\n"
"\n"
"  A provisioner whose name is already in use is refused (step-ca\n"
"  refuses two provisioners with one name).\n"
"\n"
"OPTIONS\n"
"  --type TYPE             provisioner type; only JWK (the default)\n"
"  --create                generate the key\n"
"  --password-file FILE    the password that encrypts the private key\n"
"                          (first line of FILE)\n"
"\n"
CLAIMS_HELP
"\n"
FILE_HELP
"\n"
EDIT_HELP
"\n"
RELOAD_HELP
"\n"
EXIT_HELP
"\n"
"EXAMPLES\n"
"  p11ca ca provisioner add ops@example.com --create \\\n"
"      --password-file ./pw --x509-max-dur 72h\n"
"  p11ca ca provisioner add ssh@example.com --create \\\n"
"      --password-file ./pw --ssh --ssh-user-max-dur 8h \\\n"
"      --ssh-user-default-dur 4h\n"
"  p11ca ca provisioner add max@smallstep.com max-laptop.jwk \\\n"
"      --ca-config ca.json\n";

static const char update_usage[] =
"usage: p11ca ca provisioner update NAME [--kid KID] claims options...\n"
"                                   [--ca-config FILE | --home DIR]\n"
"\n"
"DESCRIPTION\n"
"  Changes the claims of the provisioner called NAME (and, with --kid,\n"
"  whose key id is KID). The named claims are set in its \"claims\"\n"
"  object; the others are left as they are.\n"
"\n"
"OPTIONS\n"
"  --kid KID               the provisioner's key id, when NAME is not\n"
"                          enough\n"
"\n"
CLAIMS_HELP
"\n"
FILE_HELP
"\n"
EDIT_HELP
"\n"
RELOAD_HELP
"\n"
EXIT_HELP
"\n"
"EXAMPLES\n"
"  p11ca ca provisioner update ops@example.com --x509-max-dur 1h\n"
"  p11ca ca provisioner update ops@example.com --disable-renewal\n"
"  p11ca ca provisioner update ops@example.com --ssh=false\n"
"  p11ca ca provisioner update ops@example.com \\\n"
"      --ssh-host-max-dur 2160h --ssh-host-default-dur 2160h\n";

static const char remove_usage[] =
"usage: p11ca ca provisioner remove NAME [--kid KID]\n"
"                                   [--ca-config FILE | --home DIR]\n"
"\n"
"DESCRIPTION\n"
"  Removes every provisioner called NAME from ca.json or, with --kid,\n"
"  only the one whose key id is KID, as `step ca provisioner remove`.\n"
"  Tokens of a removed provisioner are refused (401) once p11ca-api has\n"
"  reloaded; certificates it already obtained stay valid.\n"
"\n"
"OPTIONS\n"
"  --kid KID               remove only the provisioner with this key id\n"
"\n"
FILE_HELP
"\n"
EDIT_HELP
"\n"
RELOAD_HELP
"\n"
"EXAMPLES\n"
"  p11ca ca provisioner remove max@smallstep.com --kid 1234 \\\n"
"      --ca-config ca.json\n";

static const char jwe_usage[] =
"usage: p11ca ca provisioner jwe-key KID [--ca-url URL --root FILE]\n"
"                                    [--ca-config FILE | --home DIR]\n"
"\n"
"DESCRIPTION\n"
"  Prints the encrypted private key (a compact PBES2 JWE) of the\n"
"  provisioner whose key id is KID. By default it is read from ca.json;\n"
"  with --ca-url it is fetched from the CA (GET /1.0/provisioners/KID/\n"
"  encrypted-key) over TLS verified with --root (default the root\n"
"  certificate named in ca.json). Decrypt it with the provisioner's\n"
"  password, e.g. `step crypto jwe decrypt`.\n"
"\n"
"OPTIONS\n"
"  --ca-url URL            the CA, https://host:port\n"
"  --root FILE             the root certificate that verifies the CA\n"
"\n"
FILE_HELP
"\n"
"EXAMPLES\n"
"  p11ca ca provisioner jwe-key 1234 --ca-url https://127.0.0.1 \\\n"
"      --root ./root.crt\n";

/*
 * What claims flags asked for: dur[i] NULL and -1 are "leave alone";
 * durflag[i] is the spelling the duration was given with, for messages.
 */
struct claimopts {
	const char	*dur[D_COUNT];
	const char	*durflag[D_COUNT];
	int		 disable_renewal, renew_after_expiry, ssh;
	int		 any;
};

#define CLAIMOPTS_INIT { .disable_renewal = -1, .renew_after_expiry = -1, \
	.ssh = -1 }

/* One loaded ca.json, locked when it is to be edited. */
struct doc {
	const char	*home, *config;
	char		*real;		/* config, symbolic links resolved */
	cJSON		*json;
	cJSON		*provs;		/* authority.provisioners */
	mode_t		 mode;
	uid_t		 uid;
	gid_t		 gid;
	int		 lockfd;	/* -1: not locked */
};

#define DOC_INIT { .lockfd = -1 }

/* Go's strconv.ParseBool. */
static int
parse_bool(const char *s, int *v)
{
	static const char *const yes[] = { "1", "t", "T", "TRUE", "true",
	    "True" };
	static const char *const no[] = { "0", "f", "F", "FALSE", "false",
	    "False" };
	size_t	 i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(s, yes[i]) == 0) {
			*v = 1;
			return 0;
		}
		if (strcmp(s, no[i]) == 0) {
			*v = 0;
			return 0;
		}
	}
	return -1;
}

/*
 * Records claims option ch (spelt --name) with argument arg. Returns 1
 * when ch is a claims option, 0 when it is not, -1 when its value is
 * bad (said on stderr).
 */
static int
claim_opt(struct claimopts *co, int ch, const char *name, const char *arg)
{
	int	*b = NULL, v = 1, i;
	long	 secs;

	switch (ch) {
	case O_DISRENEW: b = &co->disable_renewal; break;
	case O_RENEWEXP: b = &co->renew_after_expiry; break;
	case O_SSH: b = &co->ssh; break;
	case O_ALLOWRENEW: b = &co->disable_renewal; v = 0; arg = NULL; break;
	case O_NOSSH: b = &co->ssh; v = 0; arg = NULL; break;
	default:
		if (ch < O_DUR || ch >= O_DUR + D_COUNT)
			return 0;
		i = ch - O_DUR;
		/* Checked here for a message that names the flag. */
		if (duration_parse(arg, &secs) == -1 || secs <= 0) {
			cli_err("--%s '%s': not a positive duration (e.g. 5m, "
			    "24h, 1h30m)", name, arg);
			return -1;
		}
		co->dur[i] = arg;
		co->durflag[i] = name;
		co->any = 1;
		return 1;
	}
	if (arg != NULL && parse_bool(arg, &v) == -1) {
		cli_err("--%s=%s: not a boolean (true or false)", name, arg);
		return -1;
	}
	*b = v;
	co->any = 1;
	return 1;
}

static int
any_duration(const struct claimopts *co)
{
	int	 i;

	for (i = 0; i < D_COUNT; i++)
		if (co->dur[i] != NULL)
			return 1;
	return 0;
}

static int
set_member(cJSON *o, const char *name, cJSON *v)
{
	if (v == NULL)
		return -1;
	if (cJSON_GetObjectItemCaseSensitive(o, name) != NULL) {
		if (cJSON_ReplaceItemInObjectCaseSensitive(o, name, v))
			return 0;
	} else if (cJSON_AddItemToObject(o, name, v))
		return 0;
	cJSON_Delete(v);
	return -1;
}

/* Sets the asked-for claims in p.claims (made when missing). */
static int
claims_set(cJSON *p, const struct claimopts *co)
{
	static const struct {
		size_t		 off;
		const char	*claim;
	} bools[] = {
		{ offsetof(struct claimopts, disable_renewal),
		    "disableRenewal" },
		{ offsetof(struct claimopts, renew_after_expiry),
		    "allowRenewalAfterExpiry" },
		{ offsetof(struct claimopts, ssh), "enableSSHCA" },
	};
	cJSON	*c;
	size_t	 i;
	int	 v;

	if (!co->any)
		return 0;
	if ((c = cJSON_GetObjectItemCaseSensitive(p, "claims")) == NULL &&
	    (c = cJSON_AddObjectToObject(p, "claims")) == NULL)
		goto oom;
	if (!cJSON_IsObject(c)) {
		cli_err("the provisioner's \"claims\" is not an object");
		return -1;
	}
	for (i = 0; i < D_COUNT; i++)
		if (co->dur[i] != NULL && set_member(c, durdefs[i].claim,
		    cJSON_CreateString(co->dur[i])) == -1)
			goto oom;
	for (i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
		v = *(const int *)(const void *)((const char *)co +
		    bools[i].off);
		if (v != -1 && set_member(c, bools[i].claim,
		    cJSON_CreateBool(v)) == -1)
			goto oom;
	}
	return 0;
oom:
	cli_err("out of memory");
	return -1;
}

static const char *
str_of(const cJSON *o, const char *name)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const char *
kid_of(const cJSON *p)
{
	const char	*k = str_of(cJSON_GetObjectItemCaseSensitive(p, "key"),
	    "kid");

	return k ? k : "";
}

/* secs as a short Go duration: "16h", "1h30m", "90s" is "1m30s". */
static const char *
fmt_dur(long secs, char *buf, size_t sz)
{
	long	 h = secs / 3600, m = secs / 60 % 60, s = secs % 60;
	int	 n = 0;

	buf[0] = '\0';
	if (h && (size_t)n < sz)
		n += snprintf(buf + n, sz - n, "%ldh", h);
	if (m && (size_t)n < sz)
		n += snprintf(buf + n, sz - n, "%ldm", m);
	if ((s || secs == 0) && (size_t)n < sz)
		snprintf(buf + n, sz - n, "%lds", s);
	return buf;
}

/*
 * Checks, before the whole document is, that p's duration claims keep
 * min <= default <= max once resolved as the front end resolves them
 * (p's "claims" over authority.claims over step-ca's defaults), so that
 * the refusal can say which value comes from where. The inherited values
 * are what provisioners_load() makes of p without its claims: the
 * defaults are the policy code's, not a copy. When that load fails the
 * check is left to doc_commit(), which reports why.
 */
static int
claims_consistent(const struct doc *d, const cJSON *p,
    const struct claimopts *co)
{
	struct provisioner *tab = NULL;
	const struct durrange *r;
	const cJSON	*gc, *pc, *m;
	const char	*src[D_COUNT], *name;
	cJSON		*a, *list, *cp, *dup = NULL;
	char		 err[256], val[3][32], from[3][80];
	long		 v[D_COUNT], secs;
	size_t		 i;
	int		 n = 0, k, idx[3], rc = -1;

	if (!any_duration(co))
		return 0;
	gc = cJSON_GetObjectItemCaseSensitive(
	    cJSON_GetObjectItemCaseSensitive(d->json, "authority"), "claims");
	if ((a = cJSON_CreateObject()) == NULL ||
	    (list = cJSON_AddArrayToObject(a, "provisioners")) == NULL ||
	    (cp = cJSON_Duplicate(p, 1)) == NULL)
		goto oom;
	if (!cJSON_AddItemToArray(list, cp)) {
		cJSON_Delete(cp);
		goto oom;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(cp, "claims");
	if (gc != NULL && ((dup = cJSON_Duplicate(gc, 1)) == NULL ||
	    !cJSON_AddItemToObject(a, "claims", dup))) {
		cJSON_Delete(dup);
		goto oom;
	}
	if (provisioners_load(a, &tab, &n, err, sizeof(err)) == -1 || n != 1) {
		provisioners_free(tab, n);
		cJSON_Delete(a);
		return 0;
	}
	pc = cJSON_GetObjectItemCaseSensitive(p, "claims");
	for (i = 0; i < D_COUNT; i++) {
		v[i] = *(const long *)(const void *)((const char *)
		    &tab[0].claims + durdefs[i].off);
		m = cJSON_GetObjectItemCaseSensitive(gc, durdefs[i].claim);
		src[i] = cJSON_IsString(m) ? "from authority.claims" :
		    "step-ca's default";
		m = cJSON_GetObjectItemCaseSensitive(pc, durdefs[i].claim);
		if (!cJSON_IsString(m))
			continue;
		if (duration_parse(m->valuestring, &secs) == -1) {
			/* doc_commit() refuses it, naming the claim. */
			rc = 0;
			goto out;
		}
		v[i] = secs;
		src[i] = co->dur[i] ? NULL : "set in its claims";
	}
	for (i = 0; i < sizeof(durranges) / sizeof(durranges[0]); i++) {
		r = &durranges[i];
		if (v[r->min] <= v[r->def] && v[r->def] <= v[r->max])
			continue;
		idx[0] = r->min;
		idx[1] = r->def;
		idx[2] = r->max;
		for (k = 0; k < 3; k++) {
			fmt_dur(v[idx[k]], val[k], sizeof(val[k]));
			if (src[idx[k]] == NULL)
				snprintf(from[k], sizeof(from[k]), "--%s",
				    co->durflag[idx[k]]);
			else
				snprintf(from[k], sizeof(from[k]), "%s",
				    src[idx[k]]);
		}
		name = str_of(p, "name");
		cli_err("provisioner '%s': %s certificate durations must keep "
		    "min <= default <= max, but would be min %s (%s), default "
		    "%s (%s), max %s (%s); %s left unchanged", name ? name :
		    "?", r->what, val[0], from[0], val[1], from[1], val[2],
		    from[2], d->config);
		goto out;
	}
	rc = 0;
out:
	provisioners_free(tab, n);
	cJSON_Delete(a);
	return rc;
oom:
	cJSON_Delete(a);
	cli_err("out of memory");
	return -1;
}

static void
sleep_ms(long ms)
{
	struct timespec	 ts = { ms / 1000, ms % 1000 * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/*
 * Takes the exclusive lock of an edit: flock(2) on REAL.lock, REAL being
 * ca.json with its symbolic links resolved (two paths to one file take
 * one lock). The lock file is never removed: removing it would let a
 * waiter lock an unlinked file while a newcomer locks a new one.
 */
static int
doc_lock(struct doc *d)
{
	struct stat	 st;
	char		 lock[PATH_MAX];
	long		 waited;

	if ((d->real = realpath(d->config, NULL)) == NULL) {
		cli_err("%s: %s", d->config, strerror(errno));
		return -1;
	}
	if (stat(d->real, &st) == -1) {
		cli_err("%s: %s", d->real, strerror(errno));
		return -1;
	}
	if ((size_t)snprintf(lock, sizeof(lock), "%s.lock", d->real) >=
	    sizeof(lock)) {
		cli_err("%s: path too long", d->real);
		return -1;
	}
	/* Whoever may read ca.json may take its lock. */
	d->lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    (st.st_mode & 0666) | 0600);
	if (d->lockfd == -1 && errno == EACCES)
		d->lockfd = open(lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (d->lockfd == -1) {
		cli_err("cannot open the lock file %s: %s", lock,
		    strerror(errno));
		return -1;
	}
	for (waited = 0; flock(d->lockfd, LOCK_EX | LOCK_NB) == -1;
	    waited += LOCK_POLL_MS) {
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK) {
			cli_err("cannot lock %s: %s", lock, strerror(errno));
			return -1;
		}
		if (waited >= LOCK_WAIT_MS) {
			cli_err("%s is still locked after %d seconds: another "
			    "edit of %s is running (or stuck); try again",
			    lock, LOCK_WAIT_MS / 1000, d->config);
			return -1;
		}
		sleep_ms(LOCK_POLL_MS);
	}
	return 0;
}

/* Reads ca.json; an edit (edit != 0) locks it first. */
static int
doc_load(struct doc *d, int edit)
{
	struct stat	 st;
	cJSON		*a;
	char		*buf;
	size_t		 n;

	if (d->config == NULL)
		d->config = cli_path(cli_home(d->home), "config/ca.json");
	if (edit && doc_lock(d) == -1)
		return -1;
	if ((buf = cli_read_file(d->real ? d->real : d->config, &n)) ==
	    NULL) {
		cli_err("%s: %s", d->config, strerror(errno));
		return -1;
	}
	if (stat(d->real ? d->real : d->config, &st) == 0) {
		d->mode = st.st_mode & 07777;
		d->uid = st.st_uid;
		d->gid = st.st_gid;
	} else {
		d->mode = 0644;
		d->uid = geteuid();
		d->gid = getegid();
	}
	/*
	 * Not jose_json_parse(): ca.json may outgrow its 64 KiB bound, and
	 * provisioners_load() refuses duplicate members where they matter.
	 */
	d->json = cJSON_ParseWithLength(buf, n);
	free(buf);
	if (d->json == NULL || !cJSON_IsObject(d->json)) {
		cli_err("%s: not a JSON object", d->config);
		goto fail;
	}
	if ((a = cJSON_GetObjectItemCaseSensitive(d->json, "authority")) ==
	    NULL || !cJSON_IsObject(a)) {
		cli_err("%s: no \"authority\" object", d->config);
		goto fail;
	}
	if ((d->provs = cJSON_GetObjectItemCaseSensitive(a, "provisioners")) ==
	    NULL && (d->provs = cJSON_AddArrayToObject(a, "provisioners")) ==
	    NULL)
		goto fail;
	if (!cJSON_IsArray(d->provs)) {
		cli_err("%s: authority.provisioners is not an array", d->config);
		goto fail;
	}
	return 0;
fail:
	cJSON_Delete(d->json);
	d->json = NULL;
	return -1;
}

/* Frees the document and releases its lock. */
static void
doc_close(struct doc *d)
{
	cJSON_Delete(d->json);
	d->json = NULL;
	d->provs = NULL;
	if (d->lockfd != -1)
		close(d->lockfd);	/* releases the flock */
	d->lockfd = -1;
	free(d->real);
	d->real = NULL;
}

/*
 * Replaces d->real with txt: a temporary file in the same directory,
 * given the old file's owner and mode, written, fsync'ed and renamed
 * over it; then the directory is fsync'ed so that the rename survives
 * a crash.
 */
static int
doc_write(const struct doc *d, const char *txt, size_t n)
{
	struct stat	 st;
	char		 tmp[PATH_MAX], dir[PATH_MAX];
	size_t		 off = 0;
	ssize_t		 w;
	int		 fd, dfd, rc = -1;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", d->real) >=
	    sizeof(tmp)) {
		cli_err("%s: path too long", d->real);
		return -1;
	}
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		cli_err("cannot create a temporary file next to %s: %s",
		    d->real, strerror(errno));
		return -1;
	}
	while (off < n) {
		if ((w = write(fd, txt + off, n - off)) == -1) {
			if (errno == EINTR)
				continue;
			cli_err("%s: %s", tmp, strerror(errno));
			goto fail;
		}
		off += (size_t)w;
	}
	if (fstat(fd, &st) == -1) {
		cli_err("%s: %s", tmp, strerror(errno));
		goto fail;
	}
	/* A root edit must not take the file away from p11ca-api's group. */
	if ((st.st_uid != d->uid || st.st_gid != d->gid) &&
	    fchown(fd, d->uid, d->gid) == -1) {
		cli_err("cannot give the new %s the owner of the old one "
		    "(uid %ld, gid %ld): %s", d->config, (long)d->uid,
		    (long)d->gid, strerror(errno));
		goto fail;
	}
	if (fchmod(fd, d->mode) == -1 || fsync(fd) == -1) {
		cli_err("%s: %s", tmp, strerror(errno));
		goto fail;
	}
	rc = close(fd);
	fd = -1;
	if (rc == -1) {
		cli_err("%s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (rename(tmp, d->real) == -1) {
		cli_err("cannot rename %s to %s: %s", tmp, d->real,
		    strerror(errno));
		rc = -1;
		goto fail;
	}
	snprintf(dir, sizeof(dir), "%s", d->real);
	if ((dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1 || fsync(dfd) == -1) {
		cli_err("%s was replaced, but syncing its directory failed: "
		    "%s", d->config, strerror(errno));
		if (dfd != -1)
			close(dfd);
		return -1;
	}
	if (close(dfd) == -1) {
		cli_err("%s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
fail:
	if (fd != -1)
		close(fd);
	unlink(tmp);
	return -1;
}

/*
 * Sends SIGHUP to the p11ca-api whose pid file sits next to the signer
 * socket of this ca.json. The process name is checked first, so that a
 * stale pid file does not make us signal whatever reused the pid.
 */
static void
reload(const struct doc *d)
{
	const char	*sock = str_of(cJSON_GetObjectItemCaseSensitive(d->json,
	    "signer"), "socket");
	char		 dir[PATH_MAX], pidfile[PATH_MAX + 16], proc[64];
	char		 comm[64], *buf, *end;
	FILE		*fp;
	size_t		 n;
	long		 pid;

	if (sock == NULL || strlen(sock) >= sizeof(dir)) {
		printf("ca.json names no signer socket: reload p11ca-api "
		    "(kill -HUP) or restart it for the change to take "
		    "effect.\n");
		return;
	}
	snprintf(dir, sizeof(dir), "%s", sock);
	snprintf(pidfile, sizeof(pidfile), "%s/p11ca-api.pid", dirname(dir));
	if ((buf = cli_read_file(pidfile, &n)) == NULL) {
		printf("No %s: if p11ca-api is running, reload it (kill -HUP "
		    "PID) or restart it for the change to take effect.\n",
		    pidfile);
		return;
	}
	pid = strtol(buf, &end, 10);
	if (end == buf || (*end != '\n' && *end != '\0') || pid <= 1) {
		free(buf);
		printf("%s holds no pid: reload p11ca-api by hand.\n", pidfile);
		return;
	}
	free(buf);
	snprintf(proc, sizeof(proc), "/proc/%ld/comm", pid);
	comm[0] = '\0';
	if ((fp = fopen(proc, "r")) != NULL) {
		if (fgets(comm, sizeof(comm), fp) == NULL)
			comm[0] = '\0';
		fclose(fp);
	}
	comm[strcspn(comm, "\n")] = '\0';
	if (strcmp(comm, "p11ca-api") != 0) {
		printf("%s names pid %ld, which is not a running p11ca-api: "
		    "nothing to reload.\n", pidfile, pid);
		return;
	}
	if (kill((pid_t)pid, SIGHUP) == -1) {
		cli_err("cannot signal p11ca-api (pid %ld): %s; reload it by "
		    "hand", pid, strerror(errno));
		return;
	}
	printf("Sent SIGHUP to p11ca-api (pid %ld): it reloads the "
	    "provisioners.\n", pid);
}

/*
 * Validates the edited document, writes it, tells the front end. The
 * caller holds the lock (doc_load(d, 1)) and releases it afterwards.
 */
static int
doc_commit(struct doc *d)
{
	struct provisioner *tab = NULL;
	char		 err[512], *txt;
	int		 n = 0, rc;

	if (d->real == NULL || d->lockfd == -1) {
		cli_err("internal error: %s is not locked", d->config);
		return -1;
	}
	if (provisioners_load(cJSON_GetObjectItemCaseSensitive(d->json,
	    "authority"), &tab, &n, err, sizeof(err)) == -1) {
		cli_err("%s left unchanged: the edit would make it invalid: %s",
		    d->config, err);
		return -1;
	}
	provisioners_free(tab, n);
	if ((txt = cJSON_Print(d->json)) == NULL) {
		cli_err("out of memory");
		return -1;
	}
	rc = doc_write(d, txt, strlen(txt));
	free(txt);
	if (rc == -1)
		return -1;
	reload(d);
	return 0;
}

static int
read_password(const char *file, char **pw, size_t *len)
{
	size_t	 n;

	if ((*pw = cli_read_file(file, &n)) == NULL) {
		cli_err("%s: %s", file, strerror(errno));
		return -1;
	}
	(*pw)[strcspn(*pw, "\r\n")] = '\0';
	if ((*len = strlen(*pw)) == 0) {
		cli_err("%s: the password is empty", file);
		jose_free_secret(*pw, n);
		*pw = NULL;
		return -1;
	}
	return 0;
}

/* A private key when the file has one, else a public key, or NULL. */
static EVP_PKEY *
jwk_file_key(const char *path, int *private)
{
	EVP_PKEY	*pk;
	cJSON		*jwk;
	char		*buf;
	size_t		 n;

	if ((buf = cli_read_file(path, &n)) == NULL) {
		cli_err("%s: %s", path, strerror(errno));
		return NULL;
	}
	jwk = jose_json_parse(buf, n);
	jose_free_secret(buf, n);
	if (jwk == NULL) {
		cli_err("%s: not a JSON object", path);
		return NULL;
	}
	*private = cJSON_GetObjectItemCaseSensitive(jwk, "d") != NULL;
	pk = jose_jwk_to_pkey(jwk, *private ? JOSE_JWK_PRIVATE : 0);
	jose_jwk_free(jwk);
	if (pk == NULL)
		cli_err("%s: not a usable JWK (EC P-256/384/521, RSA or "
		    "Ed25519)", path);
	return pk;
}

/* A new provisioner object for pk; encryptedKey when pw is set. */
static cJSON *
prov_new(const char *name, EVP_PKEY *pk, const char *pw, size_t pwlen,
    const struct claimopts *co)
{
	cJSON	*p, *jwk;
	char	*jwe = NULL;

	if ((p = cJSON_CreateObject()) == NULL)
		goto fail;
	if (!cJSON_AddStringToObject(p, "type", "JWK") ||
	    !cJSON_AddStringToObject(p, "name", name) ||
	    (jwk = jose_jwk_from_pkey(pk, JOSE_JWK_STEP)) == NULL)
		goto fail;
	if (!cJSON_AddItemToObject(p, "key", jwk)) {
		cJSON_Delete(jwk);
		goto fail;
	}
	if (pw != NULL && ((jwe = jose_jwe_encrypt_key(pw, pwlen, pk,
	    JOSE_P2C_DEFAULT)) == NULL ||
	    !cJSON_AddStringToObject(p, "encryptedKey", jwe)))
		goto fail;
	free(jwe);
	if (claims_set(p, co) == -1) {
		cJSON_Delete(p);
		return NULL;
	}
	return p;
fail:
	cli_err("cannot build the provisioner (out of memory, or the crypto "
	    "library failed)");
	free(jwe);
	cJSON_Delete(p);
	return NULL;
}

/* A cursor goes back into a query string unescaped: allow only these. */
static int
cursor_ok(const char *s)
{
	size_t	 n = strlen(s);

	return n < MAX_CURSOR && s[strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_.~")] == '\0';
}

/*
 * The CA's provisioners, all pages of GET /provisioners, as step's
 * client reads them: limit 100, follow nextCursor until it is empty.
 */
static cJSON *
remote_list(const char *url, const char *root)
{
	cJSON		*all, *o = NULL, *arr, *p;
	const char	*next;
	char		 cursor[MAX_CURSOR] = "", path[64 + MAX_CURSOR];
	char		*resp = NULL;
	int		 page, status;

	if ((all = cJSON_CreateArray()) == NULL) {
		cli_err("out of memory");
		return NULL;
	}
	for (page = 0; page < MAX_PAGES; page++) {
		snprintf(path, sizeof(path), "/provisioners?limit=100%s%s",
		    cursor[0] ? "&cursor=" : "", cursor);
		if (cli_https(url, root, "GET", path, NULL, &status, &resp) ==
		    -1)
			goto fail;
		o = cJSON_Parse(resp);
		if (status != 200) {
			cli_err("the CA answered %d: %s", status,
			    str_of(o, "message") ? str_of(o, "message") : resp);
			goto fail;
		}
		arr = cJSON_GetObjectItemCaseSensitive(o, "provisioners");
		next = str_of(o, "nextCursor");
		if (!cJSON_IsArray(arr) || (next == NULL &&
		    cJSON_GetObjectItemCaseSensitive(o, "nextCursor") != NULL)) {
			cli_err("%s: GET /provisioners: not a page of "
			    "provisioners", url);
			goto fail;
		}
		while ((p = cJSON_DetachItemFromArray(arr, 0)) != NULL) {
			if (!cJSON_IsObject(p)) {
				cJSON_Delete(p);
				cli_err("%s: GET /provisioners: a provisioner "
				    "that is not an object", url);
				goto fail;
			}
			if (!cJSON_AddItemToArray(all, p)) {
				cJSON_Delete(p);
				cli_err("out of memory");
				goto fail;
			}
		}
		if (next == NULL || next[0] == '\0') {
			cJSON_Delete(o);
			free(resp);
			return all;
		}
		if (!cursor_ok(next) || strcmp(next, cursor) == 0) {
			cli_err("%s: GET /provisioners: bad or repeated "
			    "nextCursor '%.64s'", url, next);
			goto fail;
		}
		snprintf(cursor, sizeof(cursor), "%s", next);
		cJSON_Delete(o);
		o = NULL;
		free(resp);
		resp = NULL;
	}
	cli_err("%s: GET /provisioners: more than %d pages", url, MAX_PAGES);
fail:
	cJSON_Delete(o);
	free(resp);
	cJSON_Delete(all);
	return NULL;
}

static int
pv_list(int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_OPTS,
		{ "ca-url", required_argument, NULL, O_URL },
		{ "root", required_argument, NULL, O_ROOT },
		{ NULL, 0, NULL, 0 },
	};
	struct doc	 d = DOC_INIT;
	const char	*url = NULL, *root = NULL;
	cJSON		*remote = NULL;
	char		*txt;
	int		 ch, rc = 1;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case O_CONFIG: d.config = optarg; break;
		case O_HOME: d.home = optarg; break;
		case O_URL: url = optarg; break;
		case O_ROOT: root = optarg; break;
		case 'h': case O_HELP: fputs(list_usage, stdout); return 0;
		default: fputs(list_usage, stderr); return 2;
		}
	}
	if (optind != argc) {
		fputs(list_usage, stderr);
		return 2;
	}
	if (root != NULL && url == NULL) {
		cli_err("--root needs --ca-url: without it the list is read "
		    "from ca.json");
		return 2;
	}
	if ((url == NULL || root == NULL) && doc_load(&d, 0) == -1)
		return 1;
	if (url != NULL) {
		if (root == NULL && (root = str_of(d.json, "root")) == NULL) {
			cli_err("%s names no root certificate: give --root",
			    d.config);
			goto out;
		}
		if ((remote = remote_list(url, root)) == NULL)
			goto out;
	}
	if ((txt = cJSON_Print(remote ? remote : d.provs)) == NULL) {
		cli_err("out of memory");
		goto out;
	}
	printf("%s\n", txt);
	free(txt);
	rc = 0;
out:
	cJSON_Delete(remote);
	doc_close(&d);
	return rc;
}

static int
pv_add(int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_OPTS, CLAIM_OPTS,
		{ "type", required_argument, NULL, O_TYPE },
		{ "create", no_argument, NULL, O_CREATE },
		{ "password-file", required_argument, NULL, O_PWFILE },
		{ NULL, 0, NULL, 0 },
	};
	struct claimopts co = CLAIMOPTS_INIT;
	struct doc	 d = DOC_INIT;
	const char	*type = "JWK", *pwfile = NULL, *name, *pn;
	const cJSON	*q;
	EVP_PKEY	*pk = NULL;
	cJSON		*made = NULL, *p;
	char		*pw = NULL;
	size_t		 pwlen = 0;
	int		 ch, li = 0, create = 0, i, priv, nfiles, rc = 1;

	while ((ch = getopt_long(argc, argv, "h", opts, &li)) != -1) {
		switch (claim_opt(&co, ch, ch == '?' || ch == 'h' ? "" :
		    opts[li].name, optarg)) {
		case 1: continue;
		case -1: return 2;
		}
		switch (ch) {
		case O_CONFIG: d.config = optarg; break;
		case O_HOME: d.home = optarg; break;
		case O_TYPE: type = optarg; break;
		case O_CREATE: create = 1; break;
		case O_PWFILE: pwfile = optarg; break;
		case 'h': case O_HELP: fputs(add_usage, stdout); return 0;
		default: fputs(add_usage, stderr); return 2;
		}
	}
	nfiles = argc - optind - 1;
	if (nfiles < 0 || (create && nfiles != 0) || (!create && nfiles == 0) ||
	    nfiles > MAX_JWK_FILES) {
		fputs(add_usage, stderr);
		return 2;
	}
	name = argv[optind];
	if (strcasecmp(type, "JWK") != 0) {
		cli_err("--type %s: only JWK provisioners are supported", type);
		return 1;
	}
	if (create && pwfile == NULL) {
		cli_err("--create needs --password-file: the new private key is "
		    "stored encrypted, never in the clear");
		return 1;
	}
	if (pwfile && read_password(pwfile, &pw, &pwlen) == -1)
		return 1;
	/* The slow part (key generation, PBES2) before the lock is taken. */
	if ((made = cJSON_CreateArray()) == NULL) {
		cli_err("out of memory");
		goto out;
	}
	for (i = 0; i < (create ? 1 : nfiles); i++) {
		priv = 1;
		if (create)
			pk = EVP_EC_gen("P-256");
		else
			pk = jwk_file_key(argv[optind + 1 + i], &priv);
		if (pk == NULL) {
			if (create)
				cli_err("cannot generate a P-256 key");
			goto out;
		}
		if (priv && pw == NULL) {
			cli_err("%s holds a private key: give --password-file "
			    "to store it encrypted, or add its public JWK",
			    argv[optind + 1 + i]);
			goto out;
		}
		if ((p = prov_new(name, pk, priv ? pw : NULL, pwlen, &co)) ==
		    NULL)
			goto out;
		EVP_PKEY_free(pk);
		pk = NULL;
		if (!cJSON_AddItemToArray(made, p)) {
			cJSON_Delete(p);
			cli_err("out of memory");
			goto out;
		}
	}
	if (doc_load(&d, 1) == -1)
		goto out;
	cJSON_ArrayForEach(q, d.provs)
		if ((pn = str_of(q, "name")) != NULL && strcmp(pn, name) == 0) {
			cli_err("%s already has a provisioner '%s' (kid %s): "
			    "step-ca refuses two with one name; %s left "
			    "unchanged", d.config, name, kid_of(q), d.config);
			goto out;
		}
	cJSON_ArrayForEach(q, made)
		if (claims_consistent(&d, q, &co) == -1)
			goto out;
	while ((p = cJSON_DetachItemFromArray(made, 0)) != NULL) {
		if (!cJSON_AddItemToArray(d.provs, p)) {
			cJSON_Delete(p);
			cli_err("out of memory");
			goto out;
		}
		printf("Adding provisioner '%s' (JWK, kid %s%s).\n", name,
		    kid_of(p), cJSON_GetObjectItemCaseSensitive(p,
		    "encryptedKey") ? ", encrypted private key" :
		    ", public key only");
	}
	rc = doc_commit(&d) == -1;
out:
	EVP_PKEY_free(pk);
	jose_free_secret(pw, pwlen);
	cJSON_Delete(made);
	doc_close(&d);
	return rc;
}

static int
pv_update(int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_OPTS, CLAIM_OPTS,
		{ "kid", required_argument, NULL, O_KID },
		{ NULL, 0, NULL, 0 },
	};
	struct claimopts co = CLAIMOPTS_INIT;
	struct doc	 d = DOC_INIT;
	const char	*kid = NULL, *name;
	cJSON		*p, *found = NULL;
	char		*txt;
	int		 ch, li = 0, rc = 1;

	while ((ch = getopt_long(argc, argv, "h", opts, &li)) != -1) {
		switch (claim_opt(&co, ch, ch == '?' || ch == 'h' ? "" :
		    opts[li].name, optarg)) {
		case 1: continue;
		case -1: return 2;
		}
		switch (ch) {
		case O_CONFIG: d.config = optarg; break;
		case O_HOME: d.home = optarg; break;
		case O_KID: kid = optarg; break;
		case 'h': case O_HELP: fputs(update_usage, stdout); return 0;
		default: fputs(update_usage, stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		fputs(update_usage, stderr);
		return 2;
	}
	name = argv[optind];
	if (!co.any) {
		cli_err("nothing to update: give at least one claims option");
		return 2;
	}
	if (doc_load(&d, 1) == -1)
		goto out;
	cJSON_ArrayForEach(p, d.provs) {
		if (str_of(p, "name") == NULL || strcmp(str_of(p, "name"),
		    name) != 0 || (kid && strcmp(kid_of(p), kid) != 0))
			continue;
		if (found) {
			cli_err("several provisioners named '%s': pick one "
			    "with --kid", name);
			goto out;
		}
		found = p;
	}
	if (found == NULL) {
		cli_err("no provisioner '%s'%s%s in %s", name, kid ? " with kid "
		    : "", kid ? kid : "", d.config);
		goto out;
	}
	if (claims_set(found, &co) == -1 ||
	    claims_consistent(&d, found, &co) == -1)
		goto out;
	txt = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(found,
	    "claims"));
	printf("Updating provisioner '%s' (kid %s): claims %s.\n", name,
	    kid_of(found), txt ? txt : "?");
	free(txt);
	rc = doc_commit(&d) == -1;
out:
	doc_close(&d);
	return rc;
}

static int
pv_remove(int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_OPTS,
		{ "kid", required_argument, NULL, O_KID },
		{ NULL, 0, NULL, 0 },
	};
	struct doc	 d = DOC_INIT;
	const char	*kid = NULL, *name;
	cJSON		*p;
	int		 ch, i, removed = 0, rc = 1;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case O_CONFIG: d.config = optarg; break;
		case O_HOME: d.home = optarg; break;
		case O_KID: kid = optarg; break;
		case 'h': case O_HELP: fputs(remove_usage, stdout); return 0;
		default: fputs(remove_usage, stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		fputs(remove_usage, stderr);
		return 2;
	}
	name = argv[optind];
	if (doc_load(&d, 1) == -1)
		goto out;
	for (i = cJSON_GetArraySize(d.provs) - 1; i >= 0; i--) {
		p = cJSON_GetArrayItem(d.provs, i);
		if (str_of(p, "name") == NULL || strcmp(str_of(p, "name"),
		    name) != 0 || (kid && strcmp(kid_of(p), kid) != 0))
			continue;
		printf("Removing provisioner '%s' (kid %s).\n", name,
		    kid_of(p));
		cJSON_DeleteItemFromArray(d.provs, i);
		removed++;
	}
	if (removed == 0) {
		cli_err("no provisioner '%s'%s%s in %s", name, kid ? " with kid "
		    : "", kid ? kid : "", d.config);
		goto out;
	}
	rc = doc_commit(&d) == -1;
out:
	doc_close(&d);
	return rc;
}

static int
pv_jwe_key(int argc, char **argv)
{
	static const struct option opts[] = {
		COMMON_OPTS,
		{ "ca-url", required_argument, NULL, O_URL },
		{ "root", required_argument, NULL, O_ROOT },
		{ NULL, 0, NULL, 0 },
	};
	struct doc	 d = DOC_INIT;
	const char	*url = NULL, *root = NULL, *kid, *ek;
	const cJSON	*p;
	cJSON		*o = NULL;
	char		 path[256], *resp = NULL;
	int		 ch, status, rc = 1;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case O_CONFIG: d.config = optarg; break;
		case O_HOME: d.home = optarg; break;
		case O_URL: url = optarg; break;
		case O_ROOT: root = optarg; break;
		case 'h': case O_HELP: fputs(jwe_usage, stdout); return 0;
		default: fputs(jwe_usage, stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		fputs(jwe_usage, stderr);
		return 2;
	}
	kid = argv[optind];
	/* A kid is a thumbprint: base64url only, so it is safe in a path. */
	if (kid[0] == '\0' || strlen(kid) > 128 || kid[strspn(kid,
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_")] != '\0') {
		cli_err("'%s' is not a key id (base64url characters)", kid);
		return 1;
	}
	if (url == NULL || root == NULL) {
		if (doc_load(&d, 0) == -1)
			return 1;
		if (root == NULL && (root = str_of(d.json, "root")) == NULL)
			root = "";
	}
	if (url == NULL) {
		cJSON_ArrayForEach(p, d.provs)
			if (strcmp(kid_of(p), kid) == 0 &&
			    (ek = str_of(p, "encryptedKey")) != NULL) {
				printf("%s\n", ek);
				rc = 0;
				goto out;
			}
		cli_err("no provisioner with kid %s and an encryptedKey in %s",
		    kid, d.config);
		goto out;
	}
	snprintf(path, sizeof(path), "/1.0/provisioners/%s/encrypted-key",
	    kid);
	if (cli_https(url, root, "GET", path, NULL, &status, &resp) == -1)
		goto out;
	o = cJSON_Parse(resp);
	if (status != 200 || (ek = str_of(o, "key")) == NULL) {
		cli_err("the CA answered %d: %s", status, str_of(o, "message") ?
		    str_of(o, "message") : resp);
		goto out;
	}
	printf("%s\n", ek);
	rc = 0;
out:
	cJSON_Delete(o);
	free(resp);
	doc_close(&d);
	return rc;
}

static const struct command subcommands[] = {
	{ "list", pv_list, "list the provisioners" },
	{ "add", pv_add, "add a provisioner" },
	{ "update", pv_update, "update a provisioner's claims" },
	{ "remove", pv_remove, "remove a provisioner" },
	{ "jwe-key", pv_jwe_key, "print a provisioner's encrypted key" },
};

int
cmd_ca_provisioner(int argc, char **argv)
{
	size_t	 i;

	if (argc < 2) {
		fputs(provisioner_usage, stderr);
		return 2;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(provisioner_usage, stdout);
		return 0;
	}
	for (i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (strcmp(subcommands[i].name, argv[1]) == 0)
			return subcommands[i].run(argc - 1, argv + 1);
	cli_err("unknown subcommand 'ca provisioner %s'", argv[1]);
	fputs(provisioner_usage, stderr);
	return 2;
}

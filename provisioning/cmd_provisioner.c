/*
 * cmd_provisioner.c — p11ca ca provisioner list | add | update | remove |
 * jwe-key: the provisioners of ca.json, edited as `step ca provisioner`
 * edits them (the offline, ca.json flavour), and a running p11ca-api
 * told to reload with SIGHUP.
 *
 * Every edit is: read ca.json, change authority.provisioners, check the
 * whole authority with provisioners_load() (the very code the front end
 * uses, so that we never write a file it would refuse at start or on
 * reload), write atomically, signal. The rest of the document goes
 * through cJSON unchanged, in its order.
 */
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "policy/jose.h"
#include "policy/provisioner.h"
#include "provisioning/cli.h"

#define MAX_JWK_FILES	16

/* Option codes shared by the subcommands' getopt tables. */
enum {
	O_CONFIG = 256, O_HOME, O_TYPE, O_CREATE, O_PWFILE, O_KID,
	O_MINDUR, O_MAXDUR, O_DEFDUR, O_DISRENEW, O_ALLOWRENEW, O_SSH,
	O_NOSSH, O_URL, O_ROOT, O_HELP,
};

#define COMMON_OPTS \
	{ "ca-config", required_argument, NULL, O_CONFIG }, \
	{ "home", required_argument, NULL, O_HOME }, \
	{ "help", no_argument, NULL, O_HELP }

#define CLAIM_OPTS \
	{ "x509-min-dur", required_argument, NULL, O_MINDUR }, \
	{ "x509-max-dur", required_argument, NULL, O_MAXDUR }, \
	{ "x509-default-dur", required_argument, NULL, O_DEFDUR }, \
	{ "disable-renewal", no_argument, NULL, O_DISRENEW }, \
	{ "allow-renewal", no_argument, NULL, O_ALLOWRENEW }, \
	{ "ssh", no_argument, NULL, O_SSH }, \
	{ "no-ssh", no_argument, NULL, O_NOSSH }

#define CLAIMS_HELP \
"CLAIMS OPTIONS\n" \
"  --x509-min-dur DUR      minTLSCertDuration: shortest certificate the\n" \
"                          provisioner may ask for (step-ca default 5m)\n" \
"  --x509-max-dur DUR      maxTLSCertDuration: longest (default 24h)\n" \
"  --x509-default-dur DUR  defaultTLSCertDuration: used when a request\n" \
"                          names no notAfter (default 24h)\n" \
"  --disable-renewal       disableRenewal: true\n" \
"  --allow-renewal         disableRenewal: false\n" \
"  --ssh, --no-ssh         enableSSHCA: true / false\n" \
"\n" \
"  DUR is a Go duration: \"90s\", \"5m\", \"1h30m\", \"720h\". The claims\n" \
"  must stay consistent (min <= default <= max, with the authority's\n" \
"  global claims filling what the provisioner does not set); an edit\n" \
"  that breaks them is refused and ca.json is left as it was.\n"

#define FILE_HELP \
"CONFIGURATION OPTIONS\n" \
"  --ca-config FILE        the ca.json to edit (default\n" \
"                          HOME/config/ca.json)\n" \
"  --home DIR              the state directory (default $P11CA_HOME,\n" \
"                          else ~/.p11ca)\n" \
"  -h, --help              this text\n"

#define RELOAD_HELP \
"RELOAD\n" \
"  After writing ca.json the command looks for the pid file that\n" \
"  p11ca-api keeps next to its signer socket (the directory of ca.json's\n" \
"  signer.socket, file p11ca-api.pid) and sends that process SIGHUP; it\n" \
"  re-reads the provisioners without dropping connections. Without a\n" \
"  pid file it prints a hint instead: the change takes effect when\n" \
"  p11ca-api is reloaded (kill -HUP) or restarted.\n"

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
"  list     print the provisioners as a JSON array\n"
"  add      add a provisioner (a new key, or the key of a JWK file)\n"
"  update   change a provisioner's claims\n"
"  remove   remove a provisioner\n"
"  jwe-key  print a provisioner's encrypted private key\n"
"\n"
"p11ca ca provisioner SUBCOMMAND --help describes each.\n";

static const char list_usage[] =
"usage: p11ca ca provisioner list [--ca-config FILE | --home DIR]\n"
"\n"
"DESCRIPTION\n"
"  Prints authority.provisioners of ca.json as a JSON array, one object\n"
"  per provisioner with its type, name, public key, encryptedKey and\n"
"  claims, as `step ca provisioner list` prints them.\n"
"\n"
FILE_HELP
"\n"
"EXAMPLES\n"
"  p11ca ca provisioner list\n"
"  p11ca ca provisioner list --ca-config /etc/p11ca/config/ca.json\n";

static const char add_usage[] =
"usage: p11ca ca provisioner add NAME --create --password-file FILE\n"
"                                [claims options] [--ca-config FILE | --home DIR]\n"
"       p11ca ca provisioner add NAME JWK-FILE... [--password-file FILE]\n"
"                                [claims options] [--ca-config FILE | --home DIR]\n"
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
RELOAD_HELP
"\n"
"EXAMPLES\n"
"  p11ca ca provisioner add ops@example.com --create \\\n"
"      --password-file ./pw --x509-max-dur 72h\n"
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
RELOAD_HELP
"\n"
"EXAMPLES\n"
"  p11ca ca provisioner update ops@example.com --x509-max-dur 1h\n"
"  p11ca ca provisioner update ops@example.com --disable-renewal\n";

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

/* What claims flags asked for; NULL / -1 is "leave alone". */
struct claimopts {
	const char	*min, *max, *def;
	int		 disable_renewal, ssh;
	int		 any;
};

/* One loaded ca.json. */
struct doc {
	const char	*home, *config;
	cJSON		*json;
	cJSON		*provs;		/* authority.provisioners */
	mode_t		 mode;
};

static int
claim_opt(struct claimopts *co, int ch, const char *arg)
{
	switch (ch) {
	case O_MINDUR: co->min = arg; break;
	case O_MAXDUR: co->max = arg; break;
	case O_DEFDUR: co->def = arg; break;
	case O_DISRENEW: co->disable_renewal = 1; break;
	case O_ALLOWRENEW: co->disable_renewal = 0; break;
	case O_SSH: co->ssh = 1; break;
	case O_NOSSH: co->ssh = 0; break;
	default: return 0;
	}
	co->any = 1;
	return 1;
}

static int
set_member(cJSON *o, const char *name, cJSON *v)
{
	if (v == NULL)
		return -1;
	if (cJSON_GetObjectItemCaseSensitive(o, name) != NULL)
		return cJSON_ReplaceItemInObjectCaseSensitive(o, name, v) ? 0 :
		    -1;
	return cJSON_AddItemToObject(o, name, v) ? 0 : -1;
}

/* Sets the asked-for claims in p.claims (made when missing). */
static int
claims_set(cJSON *p, const struct claimopts *co)
{
	static const struct {
		size_t		 off;
		const char	*claim, *flag;
	} durs[] = {
		{ offsetof(struct claimopts, min), "minTLSCertDuration",
		    "--x509-min-dur" },
		{ offsetof(struct claimopts, max), "maxTLSCertDuration",
		    "--x509-max-dur" },
		{ offsetof(struct claimopts, def), "defaultTLSCertDuration",
		    "--x509-default-dur" },
	};
	const char	*v;
	cJSON		*c;
	long		 secs;
	size_t		 i;

	if (!co->any)
		return 0;
	if ((c = cJSON_GetObjectItemCaseSensitive(p, "claims")) == NULL &&
	    (c = cJSON_AddObjectToObject(p, "claims")) == NULL)
		return -1;
	if (!cJSON_IsObject(c)) {
		cli_err("the provisioner's \"claims\" is not an object");
		return -1;
	}
	for (i = 0; i < sizeof(durs) / sizeof(durs[0]); i++) {
		v = *(const char *const *)((const char *)co + durs[i].off);
		if (v == NULL)
			continue;
		/* Checked here for a message that names the flag. */
		if (duration_parse(v, &secs) == -1 || secs <= 0) {
			cli_err("%s '%s': not a positive duration (e.g. 5m, "
			    "24h, 1h30m)", durs[i].flag, v);
			return -1;
		}
		if (set_member(c, durs[i].claim, cJSON_CreateString(v)) == -1)
			return -1;
	}
	if (co->disable_renewal != -1 && set_member(c, "disableRenewal",
	    cJSON_CreateBool(co->disable_renewal)) == -1)
		return -1;
	if (co->ssh != -1 && set_member(c, "enableSSHCA",
	    cJSON_CreateBool(co->ssh)) == -1)
		return -1;
	return 0;
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

static int
doc_load(struct doc *d)
{
	struct stat	 st;
	cJSON		*a;
	char		*buf;
	size_t		 n;

	if (d->config == NULL)
		d->config = cli_path(cli_home(d->home), "config/ca.json");
	if ((buf = cli_read_file(d->config, &n)) == NULL) {
		cli_err("%s: %s", d->config, strerror(errno));
		return -1;
	}
	d->mode = stat(d->config, &st) == 0 ? st.st_mode & 07777 : 0644;
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

/* Validates the edited document, writes it, tells the front end. */
static int
doc_commit(struct doc *d)
{
	struct provisioner *tab = NULL;
	char		 err[512], *txt;
	int		 n = 0, rc;

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
	rc = cli_write_file(d->config, txt, strlen(txt), (int)d->mode);
	free(txt);
	if (rc == -1) {
		cli_err("cannot write %s: %s", d->config, strerror(errno));
		return -1;
	}
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
		return NULL;
	if (!cJSON_AddStringToObject(p, "type", "JWK") ||
	    !cJSON_AddStringToObject(p, "name", name) ||
	    (jwk = jose_jwk_from_pkey(pk, JOSE_JWK_STEP)) == NULL)
		goto fail;
	cJSON_AddItemToObject(p, "key", jwk);
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

static int
pv_list(int argc, char **argv)
{
	static const struct option opts[] = { COMMON_OPTS, { NULL, 0, NULL,
	    0 } };
	struct doc	 d = { 0 };
	char		*txt;
	int		 ch;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case O_CONFIG: d.config = optarg; break;
		case O_HOME: d.home = optarg; break;
		case 'h': case O_HELP: fputs(list_usage, stdout); return 0;
		default: fputs(list_usage, stderr); return 2;
		}
	}
	if (optind != argc) {
		fputs(list_usage, stderr);
		return 2;
	}
	if (doc_load(&d) == -1)
		return 1;
	if ((txt = cJSON_Print(d.provs)) == NULL) {
		cJSON_Delete(d.json);
		return 1;
	}
	printf("%s\n", txt);
	free(txt);
	cJSON_Delete(d.json);
	return 0;
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
	struct claimopts co = { .disable_renewal = -1, .ssh = -1 };
	struct doc	 d = { 0 };
	const char	*type = "JWK", *pwfile = NULL, *name;
	EVP_PKEY	*pk = NULL;
	cJSON		*p;
	char		*pw = NULL;
	size_t		 pwlen = 0;
	int		 ch, create = 0, i, priv, nfiles, rc = 1;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (claim_opt(&co, ch, optarg))
			continue;
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
	if (doc_load(&d) == -1)
		goto out;
	for (i = 0; i < (create ? 1 : nfiles); i++) {
		priv = 1;
		if (create)
			pk = EVP_EC_gen("P-256");
		else
			pk = jwk_file_key(argv[optind + 1 + i], &priv);
		if (pk == NULL)
			goto out;
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
		printf("Adding provisioner '%s' (JWK, kid %s%s).\n", name,
		    kid_of(p), cJSON_GetObjectItemCaseSensitive(p,
		    "encryptedKey") ? ", encrypted private key" :
		    ", public key only");
		cJSON_AddItemToArray(d.provs, p);
	}
	rc = doc_commit(&d) == -1;
out:
	EVP_PKEY_free(pk);
	jose_free_secret(pw, pwlen);
	cJSON_Delete(d.json);
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
	struct claimopts co = { .disable_renewal = -1, .ssh = -1 };
	struct doc	 d = { 0 };
	const char	*kid = NULL, *name;
	cJSON		*p, *found = NULL;
	char		*txt;
	int		 ch, rc = 1;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (claim_opt(&co, ch, optarg))
			continue;
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
	if (doc_load(&d) == -1)
		return 1;
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
	if (claims_set(found, &co) == -1)
		goto out;
	txt = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(found,
	    "claims"));
	printf("Updating provisioner '%s' (kid %s): claims %s.\n", name,
	    kid_of(found), txt ? txt : "?");
	free(txt);
	rc = doc_commit(&d) == -1;
out:
	cJSON_Delete(d.json);
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
	struct doc	 d = { 0 };
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
	if (doc_load(&d) == -1)
		return 1;
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
	cJSON_Delete(d.json);
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
	struct doc	 d = { 0 };
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
		if (doc_load(&d) == -1)
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
	cJSON_Delete(d.json);
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

/*
 * cmd_hsm.c — p11ca hsm list | keygen: look into the CA's token, add keys.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "hsm/p11.h"
#include "hsm/pin.h"
#include "hsm/signer/signer.h"
#include "provisioning/cli.h"

#define DEFAULT_MODULE	"/usr/lib/softhsm/libsofthsm2.so"

static const char list_usage[] =
"usage: p11ca hsm list [--home DIR] [--module PATH] [--pin-file FILE]\n"
"\n"
"Prints every slot of the PKCS#11 module, its token, and the objects on it\n"
"with their pkcs11: URIs (RFC 7512). The module, its environment and the\n"
"PIN source come from the home's config/signer.conf when there is one;\n"
"without a PIN only public objects are listed.\n";

static const char keygen_usage[] =
"usage: p11ca hsm keygen [--home DIR] --label LABEL [--type TYPE] [--id HEX]\n"
"\n"
"Generates a key pair in the CA's token: private half sensitive and not\n"
"extractable. TYPE is p256 (default), p384, rsa2048, rsa3072, rsa4096 or\n"
"ed25519. Refuses a label or id the token already holds. The id defaults\n"
"to 8 random bytes. Prints the key's pkcs11: URI; add it to signer.conf\n"
"(key NAME role=ssh label=LABEL) for the signer to serve it.\n";

/* The token and PIN the home's signer uses, so the CLI sees the same. */
static int
home_token(const char *home, struct signer_conf *c, char *pin, size_t pinsz,
    int need_pin)
{
	char	 err[512];
	int	 i;

	if (conf_load(cli_path(home, "config/signer.conf"), c, err,
	    sizeof(err)) == -1) {
		if (need_pin) {
			cli_err("%s", err);
			return -1;
		}
		memset(c, 0, sizeof(*c));
		snprintf(c->module, sizeof(c->module), "%s", DEFAULT_MODULE);
		pin[0] = '\0';
		return 0;
	}
	for (i = 0; i < c->nenv; i++)
		putenv(c->env[i]);
	if (pin_read(c->pin_source, pin, pinsz, err, sizeof(err)) == -1) {
		if (need_pin) {
			cli_err("%s", err);
			return -1;
		}
		pin[0] = '\0';
	}
	return 0;
}

int
cmd_hsm_list(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "home", required_argument, NULL, 'H' },
		{ "module", required_argument, NULL, 'm' },
		{ "pin-file", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct signer_conf c;
	const char	*home = NULL, *module = NULL, *pinfile = NULL;
	char		 pin[PIN_MAX], src[PATH_MAX + 8], err[512];
	int		 ch, rc;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'H': home = optarg; break;
		case 'm': module = optarg; break;
		case 'p': pinfile = optarg; break;
		case 'h': fputs(list_usage, stdout); return 0;
		default: fputs(list_usage, stderr); return 2;
		}
	}
	if (optind != argc) {
		fputs(list_usage, stderr);
		return 2;
	}
	if (home_token(cli_home(home), &c, pin, sizeof(pin), 0) == -1)
		return 1;
	if (pinfile) {
		snprintf(src, sizeof(src), "file:%s", pinfile);
		if (pin_read(src, pin, sizeof(pin), err, sizeof(err)) == -1) {
			cli_err("%s", err);
			return 1;
		}
	}
	rc = p11_list(module ? module : c.module, pin[0] ? pin : NULL, stdout,
	    err, sizeof(err));
	OPENSSL_cleanse(pin, sizeof(pin));
	if (rc == -1) {
		cli_err("%s", err);
		return 1;
	}
	return 0;
}

int
cmd_hsm_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "home", required_argument, NULL, 'H' },
		{ "label", required_argument, NULL, 'l' },
		{ "type", required_argument, NULL, 't' },
		{ "id", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct signer_conf c;
	struct p11_token_sel sel;
	struct p11	*p;
	const char	*home = NULL, *label = NULL, *type = "p256", *hex = NULL;
	char		 pin[PIN_MAX], err[512];
	uint8_t		 id[32];
	size_t		 idlen = 8, i;
	int		 ch, alg, rc;

	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'H': home = optarg; break;
		case 'l': label = optarg; break;
		case 't': type = optarg; break;
		case 'i': hex = optarg; break;
		case 'h': fputs(keygen_usage, stdout); return 0;
		default: fputs(keygen_usage, stderr); return 2;
		}
	}
	if (optind != argc || label == NULL || *label == '\0') {
		fputs(keygen_usage, stderr);
		return 2;
	}
	if ((alg = p11_keyalg_from_name(type)) == -1) {
		cli_err("unknown key type '%s'", type);
		return 2;
	}
	if (hex) {
		idlen = strlen(hex) / 2;
		if (strlen(hex) % 2 || idlen == 0 || idlen > sizeof(id)) {
			cli_err("--id: want 2 to 64 hex digits");
			return 2;
		}
		for (i = 0; i < idlen; i++)
			if (sscanf(hex + 2 * i, "%2hhx", &id[i]) != 1) {
				cli_err("--id: not hex");
				return 2;
			}
	} else if (RAND_bytes(id, (int)idlen) != 1)
		return 1;
	if (home_token(cli_home(home), &c, pin, sizeof(pin), 1) == -1)
		return 1;
	sel = (struct p11_token_sel){ c.module,
	    c.token_label[0] ? c.token_label : NULL,
	    c.token_serial[0] ? c.token_serial : NULL };
	p = p11_open(&sel, pin, err, sizeof(err));
	OPENSSL_cleanse(pin, sizeof(pin));
	if (p == NULL) {
		cli_err("%s", err);
		return 1;
	}
	rc = p11_generate(p, alg, label, id, idlen, err, sizeof(err));
	p11_close(p);
	if (rc == -1) {
		cli_err("%s", err);
		return 1;
	}
	printf("pkcs11:token=%s;object=%s;id=", c.token_label, label);
	for (i = 0; i < idlen; i++)
		printf("%%%02x", id[i]);
	printf(";type=private\n");
	return 0;
}

/*
 * main.c — p11ca, the operator's command: a table of subcommands.
 */
#include <stdio.h>
#include <string.h>

#include "provisioning/cli.h"

static const struct command commands[] = {
	{ "init", cmd_init, "create a CA: token, keys, root and intermediate, "
	    "ca.json" },
	{ "hsm list", cmd_hsm_list, "print slots, tokens and key objects with "
	    "pkcs11: URIs" },
	{ "hsm keygen", cmd_hsm_keygen, "generate one more key in the CA's "
	    "token" },
	{ "audit verify", cmd_audit_verify, "check the signer's audit log "
	    "hash chain" },
	{ "ca token", cmd_ca_token, "make a one-time token for a certificate "
	    "(as step ca token)" },
	{ "ca certificate", cmd_ca_certificate, "make a key, have the CA "
	    "certify it" },
	{ "ca health", cmd_ca_health, "ask the CA whether it is healthy" },
	{ "ca renew", cmd_ca_renew, "renew a certificate (mTLS or x5c "
	    "token)" },
	{ "ca rekey", cmd_ca_rekey, "a new key and certificate for the same "
	    "identity" },
	{ "ca revoke", cmd_ca_revoke, "revoke a certificate (token or mTLS)" },
	{ "ca root", cmd_ca_root, "download and check the CA's root "
	    "certificate" },
	{ "ca provisioner", cmd_ca_provisioner, "list, add, update, remove "
	    "provisioners; print a jwe-key" },
	{ "crl inspect", cmd_crl_inspect, "fetch or read a CRL, check its "
	    "signature, print it" },
	{ "certificate fingerprint", cmd_certificate_fingerprint, "SHA-256 "
	    "fingerprint of a certificate" },
	{ "ssh certificate", cmd_ssh_certificate, "have the CA certify an "
	    "SSH public key (user or host)" },
	{ "ssh renew", cmd_ssh_renew, "renew an SSH host certificate "
	    "(SSHPOP)" },
	{ "ssh rekey", cmd_ssh_rekey, "an SSH host certificate for a new key "
	    "(SSHPOP)" },
	{ "ssh revoke", cmd_ssh_revoke, "revoke an SSH certificate (token or "
	    "SSHPOP)" },
	{ "ssh config", cmd_ssh_config, "print the CA's OpenSSH "
	    "configuration or SSH CA keys" },
	{ "ssh krl", cmd_ssh_krl, "fetch the CA's OpenSSH key revocation "
	    "list" },
};

static void
usage(FILE *out)
{
	size_t	 i;

	fputs("usage: p11ca COMMAND [options]   (p11ca COMMAND --help for "
	    "more)\n\np11ca is the operator's tool for a p11ca certificate "
	    "authority.\n\ncommands:\n", out);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-24s %s\n", commands[i].name,
		    commands[i].summary);
	fputs("\nThe state directory is --home, else $P11CA_HOME, else "
	    "~/.p11ca.\n", out);
}

int
main(int argc, char **argv)
{
	char	 two[128];
	size_t	 i;

	if (argc < 2 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	snprintf(two, sizeof(two), "%s %s", argv[1], argc > 2 ? argv[2] : "");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(commands[i].name, argv[1]) == 0)
			return commands[i].run(argc - 1, argv + 1);
		if (strcmp(commands[i].name, two) == 0)
			return commands[i].run(argc - 2, argv + 2);
	}
	fprintf(stderr, "p11ca: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 2;
}

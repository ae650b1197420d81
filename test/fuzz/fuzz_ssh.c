/*
 * fuzz_ssh.c — libFuzzer target for policy/ssh.c's parsers, which an
 * attacker reaches through SSHPOP tokens (a certificate in the JWS
 * header) and /ssh/sign requests (a public key).
 *
 * The first byte picks what the rest is:
 *   0  a certificate blob for ssh_cert_from_blob()
 *   1  a certificate line for ssh_cert_from_text()
 *   2  a key blob for ssh_key_from_blob()
 *   3  a key line for ssh_key_from_text()
 * Seeds in test/fuzz/seeds/fuzz_ssh are ssh-keygen's keys and
 * certificates of every type, in both forms. Whatever is accepted must
 * hold what ssh.h promises, read the same again, be what ssh_cert_body()
 * writes from the fields read (one reading per blob), and be a body the
 * signer's guard takes for that signature key.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hsm/guard.h"
#include "hsm/proto.h"
#include "policy/ssh.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static uint8_t *
copy(const uint8_t *p, size_t n)
{
	uint8_t	*b;

	if ((b = malloc(n > 0 ? n : 1)) != NULL && n > 0)
		memcpy(b, p, n);
	return b;
}

static void
check_why(int rc, const char *why, size_t whysz)
{
	if ((rc != 0 && rc != -1) || memchr(why, '\0', whysz) == NULL ||
	    (rc == -1 && why[0] == '\0'))
		abort();
}

/* What ssh.h promises of an accepted key, and that it reads the same. */
static void
check_key(const struct ssh_key *k)
{
	struct ssh_key	 again;
	struct pbuf	 t;
	char		 fp[SSH_FP_SIZE], why[128];

	if (k->keytype < KEYTYPE_EC_P256 || k->keytype > KEYTYPE_ED25519 ||
	    k->name == NULL || k->blob == NULL || k->pkey == NULL ||
	    k->bloblen > SSH_MAX_BLOB ||
	    (k->keytype == KEYTYPE_RSA && (k->bits < SSH_RSA_MIN_BITS ||
	    k->bits > SSH_RSA_MAX_BITS)) || ssh_sign_alg(k) == -1)
		abort();
	if (ssh_key_from_blob(k->blob, k->bloblen, &again, why,
	    sizeof(why)) != 0 || again.bloblen != k->bloblen ||
	    memcmp(again.blob, k->blob, k->bloblen) != 0 ||
	    again.keytype != k->keytype || again.bits != k->bits)
		abort();
	ssh_key_free(&again);
	if (ssh_fingerprint(k->blob, k->bloblen, fp) != 0 ||
	    strlen(fp) != SSH_FP_SIZE - 1)
		abort();
	pbuf_init(&t);
	if (ssh_to_text(k->blob, k->bloblen, k->comment, &t) != 0 ||
	    ssh_key_from_text((const char *)t.data, t.len, &again, why,
	    sizeof(why)) != 0 || again.bloblen != k->bloblen ||
	    memcmp(again.blob, k->blob, k->bloblen) != 0)
		abort();
	ssh_key_free(&again);
	pbuf_free(&t);
}

/*
 * Options as ssh_cert_body() takes them: each data empty or
 * string(value) with no NUL in the value; 0 when they are not.
 */
static int
to_in(const struct ssh_option *o, size_t n, struct ssh_option_in *in,
    char **vals)
{
	const uint8_t	*d;
	size_t		 i, len;

	for (i = 0; i < n; i++) {
		in[i].name = o[i].name;
		in[i].value = NULL;
		if (o[i].datalen == 0)
			continue;
		d = o[i].data;
		if (o[i].datalen < 4)
			return 0;
		len = (size_t)d[0] << 24 | (size_t)d[1] << 16 |
		    (size_t)d[2] << 8 | d[3];
		if (len != o[i].datalen - 4 || memchr(d + 4, '\0', len) != NULL)
			return 0;
		if ((vals[i] = malloc(len + 1)) == NULL)
			return 0;
		memcpy(vals[i], d + 4, len);
		vals[i][len] = '\0';
		in[i].value = vals[i];
	}
	return 1;
}

/* The body written again from c's fields must be c's own. */
static void
reencode(const struct ssh_cert *c)
{
	struct ssh_option_in	 crit[SSH_MAX_OPTIONS + 1];
	struct ssh_option_in	 ext[SSH_MAX_OPTIONS + 1];
	char			*cv[SSH_MAX_OPTIONS] = { 0 };
	char			*ev[SSH_MAX_OPTIONS] = { 0 };
	struct ssh_cert_req	 r;
	struct pbuf		 b;
	char			 why[128];
	size_t			 i;
	int			 rc;

	if (c->noncelen != SSH_NONCE_LEN || c->nprincipals == 0 ||
	    !to_in(c->critical, c->ncritical, crit, cv) ||
	    !to_in(c->extensions, c->nextensions, ext, ev))
		goto out;
	r = (struct ssh_cert_req){ .key = &c->key, .nonce = c->nonce,
	    .serial = c->serial, .type = c->type, .key_id = c->key_id,
	    .principals = (const char *const *)c->principals,
	    .nprincipals = c->nprincipals, .valid_after = c->valid_after,
	    .valid_before = c->valid_before, .critical = crit,
	    .ncritical = c->ncritical, .extensions = ext,
	    .nextensions = c->nextensions, .ca = &c->ca };
	pbuf_init(&b);
	if (ssh_cert_body(&r, &b, why, sizeof(why)) != 0 ||
	    b.len != c->bodylen || memcmp(b.data, c->raw, b.len) != 0)
		abort();
	/* Finishing it with the same signature, if ours, gives it back. */
	rc = ssh_cert_finish(&b, &c->ca, c->sig, c->siglen, why, sizeof(why));
	check_why(rc, why, sizeof(why));
	if (rc == 0 && (b.len != c->rawlen ||
	    memcmp(b.data, c->raw, b.len) != 0))
		abort();
	pbuf_free(&b);
out:
	for (i = 0; i < SSH_MAX_OPTIONS; i++) {
		free(cv[i]);
		free(ev[i]);
	}
}

static void
check_cert(const struct ssh_cert *c, const uint8_t *p, size_t n)
{
	struct guard_key	 g = { .role = ROLE_SSH };
	struct guard_info	 gi;
	struct ssh_cert		 again;
	struct pbuf		 t;
	char			 why[128];
	size_t			 i;
	int			 rc;

	if (c->raw == NULL || c->name == NULL || c->bodylen >= c->rawlen ||
	    c->sig < c->raw + c->bodylen || c->sig + c->siglen !=
	    c->raw + c->rawlen || c->nonce < c->raw ||
	    c->nonce + c->noncelen > c->raw + c->bodylen ||
	    c->key_id == NULL || c->sigalg == NULL ||
	    (c->type != SSH_CERT_USER && c->type != SSH_CERT_HOST) ||
	    c->valid_after >= c->valid_before ||
	    c->nprincipals > SSH_MAX_PRINCIPALS ||
	    c->ncritical > SSH_MAX_OPTIONS || c->nextensions > SSH_MAX_OPTIONS)
		abort();
	if (p != NULL && (c->rawlen != n || memcmp(c->raw, p, n) != 0))
		abort();
	for (i = 0; i < c->nprincipals; i++)
		if (c->principals[i] == NULL || c->principals[i][0] == '\0')
			abort();
	for (i = 0; i < c->ncritical; i++)
		if (c->critical[i].name[0] == '\0' || (i > 0 &&
		    strcmp(c->critical[i - 1].name, c->critical[i].name) >= 0))
			abort();
	for (i = 0; i < c->nextensions; i++)
		if (c->extensions[i].name[0] == '\0' || (i > 0 &&
		    strcmp(c->extensions[i - 1].name,
		    c->extensions[i].name) >= 0))
			abort();
	check_key(&c->key);
	check_key(&c->ca);
	rc = ssh_cert_verify(c, why, sizeof(why));
	check_why(rc, why, sizeof(why));
	(void)ssh_cert_valid_at(c, 0);

	/* The signer's guard must take what we read, for this CA key. */
	g.sshpub = c->ca.blob;
	g.sshpublen = c->ca.bloblen;
	if (guard_check(&g, KIND_SSH_CERT, (uint8_t)ssh_sign_alg(&c->ca),
	    c->raw, c->bodylen, &gi) != 0)
		abort();

	reencode(c);

	pbuf_init(&t);
	if (ssh_to_text(c->raw, c->rawlen, c->comment, &t) != 0 ||
	    ssh_cert_from_text((const char *)t.data, t.len, &again, why,
	    sizeof(why)) != 0 || again.rawlen != c->rawlen ||
	    memcmp(again.raw, c->raw, c->rawlen) != 0)
		abort();
	ssh_cert_free(&again);
	pbuf_free(&t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ssh_cert	 c;
	struct ssh_key	 k;
	uint8_t		*b;
	char		 why[128];
	size_t		 n;
	int		 rc;

	if (size < 1)
		return 0;
	n = size - 1;
	if ((b = copy(data + 1, n)) == NULL)
		return 0;
	why[0] = '\0';
	switch (data[0] % 4) {
	case 0:
	case 1:
		rc = data[0] % 4 == 0 ?
		    ssh_cert_from_blob(b, n, &c, why, sizeof(why)) :
		    ssh_cert_from_text((const char *)b, n, &c, why,
		    sizeof(why));
		check_why(rc, why, sizeof(why));
		if (rc == 0)
			check_cert(&c, data[0] % 4 == 0 ? b : NULL, n);
		else if (c.raw != NULL || c.key.pkey != NULL ||
		    c.ca.pkey != NULL || c.principals != NULL)
			abort();
		ssh_cert_free(&c);
		break;
	default:
		rc = data[0] % 4 == 2 ?
		    ssh_key_from_blob(b, n, &k, why, sizeof(why)) :
		    ssh_key_from_text((const char *)b, n, &k, why,
		    sizeof(why));
		check_why(rc, why, sizeof(why));
		if (rc == 0) {
			check_key(&k);
			if (data[0] % 4 == 2 && (k.bloblen != n ||
			    memcmp(k.blob, b, n) != 0))
				abort();
		} else if (k.blob != NULL || k.pkey != NULL)
			abort();
		ssh_key_free(&k);
		break;
	}
	free(b);
	return 0;
}

/*
 * cli.c — helpers the subcommands share.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "hsm/proto.h"
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

/* data into fd, mode as given, synced; fd is closed. -1 with errno. */
static int
sync_fd(int fd, const void *data, size_t n, int mode)
{
	size_t	 off = 0;
	ssize_t	 w;
	int	 e;

	if (fchmod(fd, mode) == -1)
		goto bad;
	while (off < n) {
		if ((w = write(fd, (const char *)data + off, n - off)) <= 0) {
			if (w == -1 && errno == EINTR)
				continue;
			goto bad;
		}
		off += w;
	}
	if (fsync(fd) == -1)
		goto bad;
	return close(fd);
bad:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

int
cli_write_file(const char *path, const void *data, size_t n, int mode)
{
	char	 tmp[PATH_MAX];
	int	 fd, e;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid()) >=
	    (int)sizeof(tmp))
		return -1;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)) ==
	    -1)
		return -1;
	if (sync_fd(fd, data, n, mode) == -1 || rename(tmp, path) == -1) {
		e = errno;
		unlink(tmp);
		errno = e;
		return -1;
	}
	return 0;
}

int
cli_stage(struct cli_staged *s, const char *path, const void *data, size_t n,
    int mode)
{
	int	 fd;

	s->path = path;
	s->active = 0;
	if (snprintf(s->tmp, sizeof(s->tmp), "%s.p11ca-XXXXXX", path) >=
	    (int)sizeof(s->tmp)) {
		cli_err("%s: path too long", path);
		return -1;
	}
	if ((fd = mkstemp(s->tmp)) == -1) {
		cli_err("cannot write next to %s: %s", path, strerror(errno));
		return -1;
	}
	if (sync_fd(fd, data, n, mode) == -1) {
		cli_err("%s: %s", s->tmp, strerror(errno));
		unlink(s->tmp);
		return -1;
	}
	s->active = 1;
	return 0;
}

int
cli_commit(struct cli_staged *s)
{
	if (rename(s->tmp, s->path) == -1) {
		cli_err("cannot replace %s: %s", s->path, strerror(errno));
		return -1;
	}
	s->active = 0;
	return 0;
}

void
cli_unstage(struct cli_staged *s)
{
	if (s->active)
		unlink(s->tmp);
	s->active = 0;
}

int
cli_mode_of(const char *path, int dflt)
{
	struct stat	 st;

	return stat(path, &st) == 0 ? (int)(st.st_mode & 0777) : dflt;
}

int
cli_may_write(const char *path, int force)
{
	struct stat	 st;

	if (!force && stat(path, &st) == 0) {
		cli_err("%s exists: use --force to overwrite it", path);
		return -1;
	}
	return 0;
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

char *
cli_slurp(const char *path, size_t *n)
{
	char	*text;

	if ((text = cli_read_file(path, n)) == NULL)
		cli_err("%s: %s", path, strerror(errno));
	return text;
}

int
cli_secret_read(const char *path, struct cli_secret *s)
{
	size_t	 n;

	memset(s, 0, sizeof(*s));
	if ((s->p = cli_slurp(path, &n)) == NULL)
		return -1;
	s->cap = n + 1;
	s->n = strcspn(s->p, "\r\n");
	return 0;
}

void
cli_secret_free(struct cli_secret *s)
{
	if (s->p != NULL) {
		OPENSSL_cleanse(s->p, s->cap);
		free(s->p);
	}
	memset(s, 0, sizeof(*s));
}

static int
pw_cb(char *buf, int size, int rwflag, void *u)
{
	const struct cli_secret *s = u;

	(void)rwflag;
	if (s->n > (size_t)size)
		return -1;
	memcpy(buf, s->p, s->n);
	return (int)s->n;
}

EVP_PKEY *
cli_pem_key(BIO *b, struct cli_secret *pw)
{
	return PEM_read_bio_PrivateKey(b, NULL, pw && pw->p ? pw_cb : NULL,
	    pw && pw->p ? pw : NULL);
}

char *
cli_b64_encode(const void *p, size_t n)
{
	char	*s;

	if (n > (size_t)1 << 24 || (s = malloc(4 * ((n + 2) / 3) + 1)) ==
	    NULL)
		return NULL;
	EVP_EncodeBlock((unsigned char *)s, p, (int)n);
	return s;
}

/* "" is empty. */
uint8_t *
cli_b64_decode(const char *s, size_t *len)
{
	size_t	 n = strlen(s), pad;
	uint8_t	*out;
	int	 k;

	if (n % 4 != 0 || n > (size_t)1 << 24)
		return NULL;
	if ((out = malloc(n / 4 * 3 + 1)) == NULL)
		return NULL;
	if (n == 0) {
		*len = 0;
		return out;
	}
	pad = (s[n - 1] == '=') + (s[n - 2] == '=');
	if ((k = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n)) <
	    (int)pad) {
		free(out);
		return NULL;
	}
	*len = (size_t)k - pad;
	return out;
}

EVP_PKEY *
cli_make_key(const char *kty, const char *crv, int bits)
{
	if (strcasecmp(kty, "RSA") == 0)
		return EVP_RSA_gen(bits);
	if (strcasecmp(kty, "OKP") == 0)
		return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	return EVP_EC_gen(crv);
}

char *
cli_req_pem(X509_REQ *req, EVP_PKEY *k)
{
	BIO	*b;
	char	*pem = NULL, *d;
	long	 len;

	if ((b = BIO_new(BIO_s_mem())) != NULL &&
	    X509_REQ_sign(req, k, EVP_PKEY_is_a(k, "ED25519") ? NULL :
	    EVP_sha256()) > 0 && PEM_write_bio_X509_REQ(b, req) == 1 &&
	    (len = BIO_get_mem_data(b, &d)) > 0 &&
	    (pem = malloc(len + 1)) != NULL) {
		memcpy(pem, d, len);
		pem[len] = '\0';
	}
	BIO_free(b);
	return pem;
}

const char *const cli_reason_names[CLI_NREASONS] = {
	"unspecified", "keyCompromise", "cACompromise", "affiliationChanged",
	"superseded", "cessationOfOperation", "certificateHold", NULL,
	"removeFromCRL", "privilegeWithdrawn", "aACompromise",
};

int
cli_reason_code(const char *s)
{
	char	*end;
	long	 v;
	int	 i;

	errno = 0;
	v = strtol(s, &end, 10);
	if (end != s && *end == '\0' && errno == 0)
		return v >= 0 && v < CLI_NREASONS && cli_reason_names[v] ?
		    (int)v : -1;
	for (i = 0; i < CLI_NREASONS; i++)
		if (cli_reason_names[i] && strcasecmp(s, cli_reason_names[i]) ==
		    0)
			return i;
	return -1;
}

int
cli_where_opt(struct cli_where *w, int ch, const char *arg)
{
	switch (ch) {
	case CLI_OPT_URL: w->url = arg; return 1;
	case CLI_OPT_ROOT: w->root = arg; return 1;
	case CLI_OPT_CONFIG: w->config = arg; return 1;
	case CLI_OPT_HOME: w->home = arg; return 1;
	}
	return 0;
}

int
cli_where_load(struct cli_where *w, int flags)
{
	char		 err[512];
	const char	*p, *d;
	size_t		 n;
	int		 need = flags & CLI_WHERE_CONFIG;
	int		 plain = (flags & CLI_WHERE_PLAIN) && w->url != NULL &&
	    strncmp(w->url, "http://", 7) == 0;

	if (need || w->url == NULL || (w->root == NULL && !plain)) {
		if (w->config == NULL) {
			snprintf(w->confbuf, sizeof(w->confbuf), "%s",
			    cli_path(cli_home(w->home), "config/ca.json"));
			w->config = w->confbuf;
		}
		if (config_load(w->config, &w->cfg, err, sizeof(err)) == -1) {
			cli_err("%s%s", err, need ? "" :
			    " (or give --ca-url and --root)");
			return -1;
		}
		w->loaded = 1;
		if (w->root == NULL)
			w->root = w->cfg.root;
		if (w->url == NULL) {
			d = w->cfg.dns[0];
			p = strrchr(w->cfg.address, ':');
			snprintf(w->urlbuf, sizeof(w->urlbuf),
			    "https://%s%s%s%s", strchr(d, ':') ? "[" : "", d,
			    strchr(d, ':') ? "]" : "", p ? p : "");
			w->url = w->urlbuf;
		}
	}
	if (w->url != w->urlbuf) {
		if (strlen(w->url) >= sizeof(w->urlbuf)) {
			cli_err("--ca-url is too long");
			return -1;
		}
		snprintf(w->urlbuf, sizeof(w->urlbuf), "%s", w->url);
		w->url = w->urlbuf;
	}
	n = strlen(w->urlbuf);
	while (n > 0 && w->urlbuf[n - 1] == '/')
		w->urlbuf[--n] = '\0';
	return 0;
}

void
cli_where_free(struct cli_where *w)
{
	if (w->loaded)
		config_free(&w->cfg);
	w->loaded = 0;
}

int
cli_post_json(const struct cli_where *w, const char *path, const cJSON *req,
    const struct cli_req *tls, int *status, char **resp)
{
	struct cli_req	 q = { 0 };
	char		*body;
	int		 rc;

	if (tls != NULL)
		q = *tls;
	q.method = "POST";
	q.path = path;
	if ((body = cJSON_PrintUnformatted(req)) == NULL) {
		cli_err("out of memory");
		return -1;
	}
	q.body = body;
	rc = cli_http(w->url, w->root, &q, status, resp, NULL);
	free(body);
	return rc;
}

void
cli_refused(const char *what, int status, const char *resp)
{
	cJSON		*o = cJSON_Parse(resp);
	const cJSON	*m = o ? cJSON_GetObjectItemCaseSensitive(o,
	    "message") : NULL;

	cli_err("the CA refused the %s (HTTP %d): %s", what, status,
	    cJSON_IsString(m) ? m->valuestring : *resp ? resp :
	    "(no message)");
	cJSON_Delete(o);
}

int
cli_answer_ok(const char *what, int status, const char *resp)
{
	cJSON		*o = cJSON_Parse(resp);
	const cJSON	*st = o ? cJSON_GetObjectItemCaseSensitive(o,
	    "status") : NULL;
	int		 ok = status == 200 && cJSON_IsString(st) &&
	    strcmp(st->valuestring, "ok") == 0;

	cJSON_Delete(o);
	if (!ok)
		cli_refused(what, status, resp);
	return ok ? 0 : -1;
}

cJSON *
cli_claims(const char *aud, const char *iss, const char *sub, time_t iat,
    time_t nbf, time_t exp)
{
	char		 jti[65];
	unsigned char	 rnd[32];
	cJSON		*claims;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return NULL;
	hex_lower(jti, rnd, sizeof(rnd));
	if ((claims = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(claims, "aud", aud) == NULL ||
	    cJSON_AddNumberToObject(claims, "exp", (double)exp) == NULL ||
	    cJSON_AddNumberToObject(claims, "iat", (double)iat) == NULL ||
	    cJSON_AddStringToObject(claims, "iss", iss) == NULL ||
	    cJSON_AddStringToObject(claims, "jti", jti) == NULL ||
	    cJSON_AddNumberToObject(claims, "nbf", (double)nbf) == NULL ||
	    cJSON_AddStringToObject(claims, "sub", sub) == NULL) {
		cJSON_Delete(claims);
		return NULL;
	}
	return claims;
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

int
cli_revoke_opt(struct cli_revoke *r, struct cli_tokreq *tq, int ch,
    const char *arg)
{
	switch (ch) {
	case CLI_OPT_CERT: r->crt = arg; return 1;
	case CLI_OPT_KEY: r->keypath = arg; return 1;
	case CLI_OPT_KEYPW: r->kpwfile = arg; return 1;
	case CLI_OPT_TOKEN: r->token = arg; return 1;
	case CLI_OPT_REASON: r->reason = arg; return 1;
	case CLI_OPT_REASONCODE:
		if ((r->code = cli_reason_code(arg)) == -1) {
			cli_err("--reasonCode %s: not an RFC 5280 reason (0-10 "
			    "but 7, or a name)", arg);
			return -1;
		}
		return 1;
	case CLI_OPT_ISSUER: tq->issuer = arg; return 1;
	case CLI_OPT_KID: tq->kid = arg; return 1;
	case CLI_OPT_PWFILE: tq->pwfile = arg; return 1;
	}
	return 0;
}

int
cli_revoke_args(const struct cli_revoke *r, int argc)
{
	if (optind < argc - 1 || (optind == argc && r->crt == NULL) ||
	    (r->crt == NULL) != (r->keypath == NULL) ||
	    (r->crt && r->token)) {
		if ((r->crt == NULL) != (r->keypath == NULL))
			cli_err("--cert and --key go together");
		else if (r->crt && r->token)
			cli_err("--token or --cert/--key, not both");
		return -1;
	}
	return 0;
}

cJSON *
cli_revoke_req(const struct cli_revoke *r, const char *serial)
{
	cJSON	*req;

	if ((req = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(req, "serial", serial) == NULL ||
	    (r->token && cJSON_AddStringToObject(req, "ott", r->token) ==
	    NULL) ||
	    cJSON_AddNumberToObject(req, "reasonCode", r->code) == NULL ||
	    (r->reason && cJSON_AddStringToObject(req, "reason",
	    r->reason) == NULL) ||
	    cJSON_AddTrueToObject(req, "passive") == NULL) {
		cli_err("out of memory");
		cJSON_Delete(req);
		return NULL;
	}
	return req;
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

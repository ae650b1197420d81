/*
 * bench_signer.c — signatures per second through p11ca-signer next to raw
 * C_Sign on the same token, in the same run, so the signer hop's cost is
 * a ratio rather than a figure compared against another machine.
 *
 *	bench-signer HOME SECONDS
 *
 * HOME is an initialised p11ca home whose signer is running. Raw C_Sign
 * uses 1 and 2 processes (SoftHSM serialises threads within a process, so
 * processes are what the signer's workers are); the signer is driven by 1
 * and 2 client threads, each on its own connection with WINDOW requests
 * in flight.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "hsm/p11.h"
#include "hsm/pin.h"
#include "hsm/proto.h"
#include "hsm/signer/signer.h"
#include "policy/tbs.h"

#define WINDOW	128

static struct signer_conf conf;
static char	 pin[PIN_MAX];
static double	 seconds;
static uint8_t	 alg;
static struct pbuf tbs;

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
die(const char *what)
{
	fprintf(stderr, "bench-signer: %s\n", what);
	exit(1);
}

struct rawctx {
	struct p11	*p;
	int		 idx;
	long		 n;
};

static void
raw_open(struct rawctx *r)
{
	struct p11_token_sel sel = { conf.module, conf.token_label, NULL };
	const struct key_conf *k = &conf.keys[conf_key_index(&conf,
	    "intermediate")];
	char		 err[512];
	int		 i;

	/* A token being opened by a sibling can briefly look absent. */
	for (i = 0; i < 5 && (r->p = p11_open(&sel, pin, err,
	    sizeof(err))) == NULL; i++)
		usleep(100000);
	if (r->p == NULL || (r->idx = p11_key_add(r->p, k->label, k->id,
	    k->idlen, err, sizeof(err))) == -1)
		die(err);
	r->n = 0;
}

/* Signs digests straight through PKCS#11 for `seconds`: what a worker does. */
static void *
raw_loop(void *arg)
{
	struct rawctx	*r = arg;
	uint8_t		 in[51], out[1024];
	size_t		 inlen = 32, outlen;
	char		 err[512];
	unsigned long	 mech = CKM_ECDSA;
	unsigned int	 mdlen;
	double		 end;

	if (alg == ALG_RSA_PKCS1_SHA256) {
		memcpy(in, "\x30\x31\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03"
		    "\x04\x02\x01\x05\x00\x04\x20", 19);
		inlen = 51;
		mech = CKM_RSA_PKCS;
	}
	end = now() + seconds;
	while (now() < end) {
		if (EVP_Digest(tbs.data, tbs.len, in + inlen - 32, &mdlen,
		    EVP_sha256(), NULL) != 1)
			die("digest");
		outlen = sizeof(out);
		if (p11_sign(r->p, r->idx, mech, 0, in, inlen, out, &outlen, err,
		    sizeof(err)) == -1)
			die(err);
		r->n++;
	}
	return NULL;
}

/*
 * Raw C_Sign/s with `procs` processes of `threads` threads each, every
 * thread on its own session. Measured in children so this process never
 * initialises the module itself.
 */
static double
raw(int procs, int threads)
{
	struct rawctx	 r[8];
	pthread_t	 t[8];
	long		*counts, total = 0;
	pid_t		 pids[8];
	int		 i, j, st;
	double		 t0;

	counts = mmap(NULL, sizeof(long) * 8, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (counts == MAP_FAILED)
		die("mmap");
	t0 = now();
	for (i = 0; i < procs; i++) {
		if ((pids[i] = fork()) != 0)
			continue;
		for (j = 0; j < threads; j++)
			raw_open(&r[j]);
		for (j = 0; j < threads; j++)
			if (pthread_create(&t[j], NULL, raw_loop, &r[j]) != 0)
				die("thread");
		for (j = 0; j < threads; j++) {
			pthread_join(t[j], NULL);
			counts[i] += r[j].n;
		}
		_exit(0);
	}
	for (i = 0; i < procs; i++) {
		waitpid(pids[i], &st, 0);
		total += counts[i];
	}
	t0 = now() - t0;
	munmap(counts, sizeof(long) * 8);
	return total / t0;
}

struct client {
	long	 done;
	long	 failed;
};

static void *
client_run(void *arg)
{
	struct client		*c = arg;
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	struct proto_frame	 f;
	struct pbuf		 out, in;
	uint8_t			 buf[65536];
	uint32_t		 id = 1;
	size_t			 used, off;
	ssize_t			 r;
	int			 fd, inflight = 0;
	double			 end;

	memcpy(sun.sun_path, conf.socket, strlen(conf.socket) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		die("connect to signer");
	pbuf_init(&out);
	pbuf_init(&in);
	end = now() + seconds;
	while (now() < end || inflight > 0) {
		while (inflight < WINDOW && now() < end) {
			if (proto_put_sign(&out, id++, "intermediate",
			    KIND_X509_TBS, alg, tbs.data, tbs.len) == -1)
				die("encode");
			inflight++;
		}
		if (out.len && write(fd, out.data, out.len) != (ssize_t)out.len)
			die("write");
		out.len = 0;
		if ((r = read(fd, buf, sizeof(buf))) <= 0)
			die("signer closed the connection");
		if (pbuf_add(&in, buf, r) == -1)
			die("memory");
		for (off = 0; proto_frame_next(in.data + off, in.len - off, &f,
		    &used) == 1; off += used) {
			if (f.status == PROTO_OK)
				c->done++;
			else
				c->failed++;
			inflight--;
		}
		pbuf_consume(&in, off);
	}
	close(fd);
	pbuf_free(&out);
	pbuf_free(&in);
	return NULL;
}

static double
via_signer(int threads, long *failed)
{
	pthread_t	 t[8];
	struct client	 c[8];
	long		 total = 0;
	double		 t0;
	int		 i;

	memset(c, 0, sizeof(c));
	t0 = now();
	for (i = 0; i < threads; i++)
		if (pthread_create(&t[i], NULL, client_run, &c[i]) != 0)
			die("thread");
	for (i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		total += c[i].done;
		*failed += c[i].failed;
	}
	return total / (now() - t0);
}

/* A leaf TBS the intermediate's guard accepts, as the front end sends. */
static void
make_tbs(const char *certpath, int keytype)
{
	FILE		*fp;
	X509		*x;
	unsigned char	*subj = NULL, *spki = NULL, *leaf = NULL;
	X509_NAME	*ln;
	uint8_t		 serial[16] = { 0x42, 1, 2, 3 };
	struct tbs_profile pr;
	int		 sl, kl, ll;

	if ((fp = fopen(certpath, "r")) == NULL ||
	    (x = PEM_read_X509(fp, NULL, NULL, NULL)) == NULL)
		die("cannot read the intermediate certificate");
	fclose(fp);
	sl = i2d_X509_NAME(X509_get_subject_name(x), &subj);
	if ((ln = X509_NAME_new()) == NULL || !X509_NAME_add_entry_by_txt(ln,
	    "CN", MBSTRING_ASC, (const unsigned char *)"bench.example", -1, -1,
	    0))
		die("name");
	ll = i2d_X509_NAME(ln, &leaf);
	kl = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &spki);
	alg = keytype == KEYTYPE_RSA ? ALG_RSA_PKCS1_SHA256 : ALG_ECDSA_SHA256;
	pr = (struct tbs_profile){ .serial = serial, .seriallen = 16,
	    .alg = alg, .issuer = subj, .issuerlen = sl,
	    .not_before = time(NULL), .not_after = time(NULL) + 86400,
	    .subject = leaf, .subjectlen = ll,
	    .spki = spki, .spkilen = kl,
	    .pathlen = -1, .keyusage = TBS_KU_DIGITAL_SIGNATURE,
	    .aki_spki = spki, .aki_spkilen = kl };
	pbuf_init(&tbs);
	if (sl <= 0 || kl <= 0 || tbs_encode(&pr, &tbs) == -1)
		die("cannot build a TBS");
	OPENSSL_free(subj);
	OPENSSL_free(spki);
	OPENSSL_free(leaf);
	X509_NAME_free(ln);
	X509_free(x);
}

int
main(int argc, char **argv)
{
	char		 path[4096], err[512], *label;
	double		 r1, r2, rp, s1, s2;
	long		 failed = 0;
	int		 i, kt;

	if (argc != 4)
		die("usage: bench-signer HOME SECONDS LABEL");
	seconds = atof(argv[2]);
	label = argv[3];
	snprintf(path, sizeof(path), "%s/config/signer.conf", argv[1]);
	if (conf_load(path, &conf, err, sizeof(err)) == -1)
		die(err);
	for (i = 0; i < conf.nenv; i++)
		putenv(conf.env[i]);
	if (pin_read(conf.pin_source, pin, sizeof(pin), err, sizeof(err)))
		die(err);
	snprintf(path, sizeof(path), "%s/certs/intermediate_ca.crt", argv[1]);
	kt = strstr(label, "RSA") ? KEYTYPE_RSA : KEYTYPE_EC_P256;
	make_tbs(path, kt);
	r1 = raw(1, 1);
	s1 = via_signer(1, &failed);
	r2 = raw(1, 2);
	rp = raw(2, 1);
	s2 = via_signer(2, &failed);
	printf("%-9s raw C_Sign: 1 thread %7.0f/s, 2 threads %7.0f/s, "
	    "2 processes %7.0f/s\n", label, r1, r2, rp);
	printf("%-9s signer, 1 client thread  %7.0f/s: %.2f x raw 1 thread "
	    "(hop cost %5.1f%%)\n", label, s1, s1 / r1, 100 * (1 - s1 / r1));
	printf("%-9s signer, 2 client threads %7.0f/s: %.2f x raw 2 threads "
	    "(hop cost %5.1f%%), %.2f x raw 2 processes\n", label, s2, s2 / r2,
	    100 * (1 - s2 / r2), s2 / rp);
	if (failed)
		printf("%-9s %ld signer requests failed\n", label, failed);
	OPENSSL_cleanse(pin, sizeof(pin));
	pbuf_free(&tbs);
	return failed ? 1 : 0;
}

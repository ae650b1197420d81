/*
 * monitor.c — the signer's hub. It owns the listening socket, every client
 * connection, the audit log and the worker processes. It checks each peer's
 * uid, checks every frame exactly, answers PING itself and hands SIGN and
 * PUBLIC_KEY to the least busy worker. An answer whose job left an audit
 * record is held until that record is on disk. A syncer process does the
 * fdatasync calls so the loop never blocks on the disk: while one sync
 * runs, records pile up, and the next sync covers them all (group commit).
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hsm/audit.h"
#include "hsm/proto.h"
#include "hsm/signer/signer.h"

#define MAX_JOBS	4096
#define CONN_INFLIGHT	512	/* per connection; then we stop reading it */
#define SYNC_WAIT_US	1000	/* longest a record waits for busy workers */

/* A descriptor with its unparsed input and its unsent output. */
struct chan {
	int		 fd;
	struct pbuf	 in, out;
};

struct conn {
	struct chan	 ch;
	uid_t		 uid;
	unsigned	 gen;		/* tells a reused slot from its past */
	int		 inflight;
	int		 closing;	/* 1: flush, then close; 2: close now */
};

struct worker {
	struct chan	 ch;
	pid_t		 pid;
	int		 ready, inflight, fatal;
	time_t		 respawn_at;
};

struct job {
	int		 used, conn, worker;
	unsigned	 gen;
	uid_t		 uid;
	uint8_t		 type;
	uint32_t	 client_id;
};

/* An answer waiting for the sync of audit record seq. */
struct held {
	int		 conn;
	unsigned	 gen;
	uint64_t	 seq;
	size_t		 len;		/* of the frame that follows */
};

static const struct signer_conf *conf;
static const char	*pin;
static struct audit	*audit;
static struct conn	*conns;
static struct worker	 workers[SIGNER_MAX_WORKERS];
static struct job	 jobs[MAX_JOBS];
static struct pbuf	 held;
static int		 nextjob, listen_fd = -1, syncer_fd = -1, sync_failed;
static unsigned		 conngen;
static uint64_t		 synced, requested;	/* audit sequence numbers */
static uint64_t		 nsyncs, first_seq;	/* for the log at shutdown */
static uint64_t		 unsynced_since;	/* µs, oldest record not asked for */
static volatile sig_atomic_t quit, child_exited;

static void
on_signal(int sig)
{
	if (sig == SIGCHLD)
		child_exited = 1;
	else
		quit = 1;
}

static void
chan_close(struct chan *ch)
{
	if (ch->fd != -1)
		close(ch->fd);
	ch->fd = -1;
	pbuf_free(&ch->in);
	pbuf_free(&ch->out);
}

/* Reads what is there; -1 when the peer is gone. */
static int
chan_read(struct chan *ch)
{
	uint8_t	 buf[65536];
	ssize_t	 r;

	if ((r = read(ch->fd, buf, sizeof(buf))) == -1 &&
	    (errno == EINTR || errno == EAGAIN))
		return 0;
	return r <= 0 ? -1 : pbuf_add(&ch->in, buf, r);
}

static int
chan_flush(struct chan *ch)
{
	ssize_t	 w;

	while (ch->out.len > 0) {
		if ((w = write(ch->fd, ch->out.data, ch->out.len)) == -1 &&
		    errno == EINTR)
			continue;
		if (w == -1 && errno == EAGAIN)
			return 0;
		if (w <= 0)
			return -1;
		pbuf_consume(&ch->out, w);
	}
	return 0;
}

static int
spawn(int i)
{
	struct worker	*w = &workers[i];
	int		 sv[2], j;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		return -1;
	if ((w->pid = fork()) == -1) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (w->pid == 0) {
		/* A worker holds its own socket and nothing else of ours. */
		close(sv[0]);
		close(listen_fd);
		close(syncer_fd);
		for (j = 0; conns && j < conf->max_conns; j++)
			close(conns[j].ch.fd);
		for (j = 0; j < conf->workers; j++)
			close(workers[j].ch.fd);
		signal(SIGCHLD, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		(void)prctl(PR_SET_NAME, "p11ca-worker");
		worker_main(conf, pin, sv[1]);
	}
	close(sv[1]);
	w->ch = (struct chan){ .fd = sv[0] };
	w->ready = w->inflight = 0;
	return fcntl(sv[0], F_SETFL, O_NONBLOCK);
}

static void
answer_error(int c, uint8_t type, uint32_t id, uint16_t status,
    const char *msg)
{
	if (proto_put_error(&conns[c].ch.out, type, id, status, msg) == -1)
		conns[c].closing = 2;
}

static int
check_ping(const struct proto_frame *f, char *key)
{
	key[0] = '\0';
	return proto_decode_ping(f);
}

static int
check_pubkey(const struct proto_frame *f, char *key)
{
	return proto_decode_pubkey(f, key, PROTO_MAX_KEYNAME + 1);
}

static int
check_sign(const struct proto_frame *f, char *key)
{
	struct proto_sign_req	 sr;

	if (proto_decode_sign(f, &sr) == -1)
		return -1;
	memcpy(key, sr.key, sizeof(sr.key));
	return 0;
}

static void
serve_ping(int c, const struct proto_frame *f)
{
	if (proto_put_ping_resp(&conns[c].ch.out, f->id,
	    (uint8_t)conf->ceremony, (uint8_t)conf->nkeys) == -1)
		conns[c].closing = 2;
}

/* Hands a request to the least busy worker; its answer comes back later. */
static void
serve_by_worker(int c, const struct proto_frame *f)
{
	struct conn	*k = &conns[c];
	int		 i, w = -1, j = -1;

	for (i = 0; i < conf->workers; i++)
		if (workers[i].ready && (w == -1 ||
		    workers[i].inflight < workers[w].inflight))
			w = i;
	for (i = 0; w != -1 && i < MAX_JOBS && j == -1; i++)
		if (!jobs[(nextjob + i) % MAX_JOBS].used)
			j = (nextjob + i) % MAX_JOBS;
	if (w == -1 || j == -1 || proto_put_frame(&workers[w].ch.out, f->type,
	    0, (uint32_t)j, f->body, f->bodylen) == -1) {
		answer_error(c, f->type, f->id, w == -1 ? PROTO_E_HSM :
		    PROTO_E_BUSY, w == -1 ? "no signer worker is running "
		    "(token unavailable?)" : "signer busy");
		return;
	}
	nextjob = (j + 1) % MAX_JOBS;
	jobs[j] = (struct job){ 1, c, w, k->gen, k->uid, f->type, f->id };
	workers[w].inflight++;
	k->inflight++;
}

/*
 * The requests the signer serves, and nothing else. Every request but
 * PING names a key the configuration knows; who may have that key sign
 * what is the worker's guard's business.
 */
static const struct request {
	uint8_t	 type;
	int	 needs_key;
	int	(*check)(const struct proto_frame *, char *);
	void	(*serve)(int, const struct proto_frame *);
} requests[] = {
	{ PROTO_PING, 0, check_ping, serve_ping },
	{ PROTO_PUBLIC_KEY, 1, check_pubkey, serve_by_worker },
	{ PROTO_SIGN, 1, check_sign, serve_by_worker },
};

static void
dispatch(int c, const struct proto_frame *f)
{
	const struct request	*rq = NULL;
	char			 key[PROTO_MAX_KEYNAME + 1];
	size_t			 i;

	for (i = 0; i < sizeof(requests) / sizeof(requests[0]); i++)
		if (requests[i].type == f->type)
			rq = &requests[i];
	if (rq == NULL)
		answer_error(c, f->type & 0x7f, f->id, PROTO_E_UNSUPPORTED,
		    "request type not served by this signer");
	else if (rq->check(f, key) == -1) {
		log_msg("uid %u: malformed frame (type %u): connection closed",
		    (unsigned)conns[c].uid, f->type);
		conns[c].closing = 2;	/* drop it, answer nothing more */
	} else if (rq->needs_key && conf_key_index(conf, key) == -1)
		answer_error(c, f->type, f->id, PROTO_E_UNKNOWN_KEY,
		    "no such key in the signer");
	else
		rq->serve(c, f);
}

static void
conn_input(int c)
{
	struct conn		*k = &conns[c];
	struct proto_frame	 f;
	size_t			 used, off = 0;
	int			 rc = 0;

	if (chan_read(&k->ch) == -1) {
		k->closing = 2;
		return;
	}
	/* Consume once per read: a batch may hold hundreds of frames. */
	while (!k->closing && (rc = proto_frame_next(k->ch.in.data + off,
	    k->ch.in.len - off, &f, &used)) == 1) {
		dispatch(c, &f);
		off += used;
	}
	pbuf_consume(&k->ch.in, off);
	if (!k->closing && rc == -1) {
		log_msg("uid %u: bad frame header: connection closed",
		    (unsigned)k->uid);
		k->closing = 2;
	}
}

/* One answer from a worker: audit it, then hold it or pass it on. */
static int
worker_answer(int w, const struct proto_frame *f)
{
	char		 fields[AUDIT_MAX_LINE];
	struct job	*jb = &jobs[f->id < MAX_JOBS ? f->id : 0];
	struct conn	*k;
	struct pbuf	*to;
	struct held	 h = { jb->conn, jb->gen, 0, 0 };
	size_t		 alen, at = 0;

	if (f->id >= MAX_JOBS || !jb->used || jb->worker != w ||
	    f->bodylen < 2 || (alen = (size_t)f->body[0] << 8 | f->body[1]) >
	    f->bodylen - 2 || alen >= sizeof(fields))
		return -1;
	k = &conns[jb->conn];
	to = &k->ch.out;
	if (alen) {
		memcpy(fields, f->body + 2, alen);
		fields[alen] = '\0';
		if (audit_append(audit, jb->uid, fields) == -1) {
			log_msg("audit log write failed: refusing to go on");
			exit(1);
		}
		h.seq = audit_seq(audit);
		to = &held;
		at = held.len;
	}
	if (k->ch.fd != -1 && k->gen == jb->gen) {
		if ((alen && pbuf_add(&held, &h, sizeof(h)) == -1) ||
		    proto_put_frame(to, f->type, f->status, jb->client_id,
		    f->body + 2 + alen, f->bodylen - 2 - alen) == -1)
			k->closing = 2;
		else if (alen) {
			h.len = held.len - at - sizeof(h);
			memcpy(held.data + at, &h, sizeof(h));
		}
		k->inflight--;
	}
	jb->used = 0;
	workers[w].inflight--;
	return 0;
}

static void
worker_input(int w)
{
	struct worker		*wk = &workers[w];
	struct proto_frame	 f;
	size_t			 used, off = 0;
	int			 rc = 0, j;

	if (chan_read(&wk->ch) == 0) {
		while ((rc = proto_frame_next(wk->ch.in.data + off,
		    wk->ch.in.len - off, &f, &used)) == 1) {
			/* The first frame says ready, or why it cannot be. */
			if (!wk->ready)
				wk->ready = f.type == (PROTO_PING |
				    PROTO_RESPONSE) && f.status == PROTO_OK;
			else if ((rc = worker_answer(w, &f)) == -1)
				break;
			off += used;
		}
		pbuf_consume(&wk->ch.in, off);
		if (rc != -1)
			return;
		log_msg("worker %d: bad answer", (int)wk->pid);
	}
	chan_close(&wk->ch);
	wk->ready = 0;
	for (j = 0; j < MAX_JOBS; j++) {
		if (!jobs[j].used || jobs[j].worker != w)
			continue;
		if (conns[jobs[j].conn].ch.fd != -1 &&
		    conns[jobs[j].conn].gen == jobs[j].gen) {
			answer_error(jobs[j].conn, jobs[j].type,
			    jobs[j].client_id, PROTO_E_HSM,
			    "signer worker exited");
			conns[jobs[j].conn].inflight--;
		}
		jobs[j].used = 0;
	}
	wk->inflight = 0;
}

static void
accept_one(void)
{
	struct ucred	 cr = { 0, (uid_t)-1, (gid_t)-1 };
	socklen_t	 crlen = sizeof(cr);
	struct pbuf	 b;
	char		 msg[80];
	int		 fd, i, ok = 0;

	if ((fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK))
	    == -1)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) == 0)
		for (i = 0; i < conf->nallow; i++)
			ok |= conf->allow[i] == cr.uid;
	if (!ok) {
		log_msg("refused connection from uid %d pid %d", (int)cr.uid,
		    (int)cr.pid);
		/* Say why once, so an operator sees it on the client side. */
		pbuf_init(&b);
		snprintf(msg, sizeof(msg), "uid %d may not use this signer",
		    (int)cr.uid);
		if (proto_put_error(&b, PROTO_PING, 0, PROTO_E_REFUSED, msg) == 0)
			(void)!write(fd, b.data, b.len);
		pbuf_free(&b);
		close(fd);
		return;
	}
	for (i = 0; i < conf->max_conns && conns[i].ch.fd != -1; i++)
		;
	if (i == conf->max_conns) {
		log_msg("too many connections: refusing uid %u",
		    (unsigned)cr.uid);
		close(fd);
		return;
	}
	conns[i] = (struct conn){ .ch = { .fd = fd }, .uid = cr.uid,
	    .gen = ++conngen };
}

static int
listen_on(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int		 fd;

	if (strlen(path) >= sizeof(sun.sun_path) || (fd = socket(AF_UNIX,
	    SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) == -1)
		return -1;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	(void)unlink(path);
	/* Anyone may connect; SO_PEERCRED decides who is served. */
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    chmod(path, 0666) == -1 || listen(fd, 128) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

static void
reap(void)
{
	pid_t	 pid;
	int	 st, i;

	child_exited = 0;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
		for (i = 0; i < conf->workers; i++) {
			if (workers[i].pid != pid)
				continue;
			workers[i].pid = -1;
			workers[i].respawn_at = time(NULL) + 1;
			/* Retrying a wrong PIN would lock the token. */
			workers[i].fatal = WIFEXITED(st) &&
			    WEXITSTATUS(st) == WORKER_EXIT_FATAL;
			log_msg("worker %d %s %d: %s", (int)pid,
			    WIFSIGNALED(st) ? "killed by signal" : "exited with",
			    WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st),
			    workers[i].fatal ? "not restarting it" : "restarting");
		}
}

/*
 * The syncer: a process that makes the audit log durable on request and
 * says up to which record. fdatasync on the shared file description
 * covers what the monitor wrote. When to ask is the monitor's choice
 * (syncer_io).
 */
static int
start_syncer(void)
{
	uint64_t	 v[64];
	ssize_t		 r;
	int		 sv[2];
	pid_t		 pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1 ||
	    (pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		close(sv[0]);
		(void)prctl(PR_SET_NAME, "p11ca-syncer");
		/* The monitor decides when we stop: it closes our socket. */
		signal(SIGTERM, SIG_IGN);
		signal(SIGINT, SIG_IGN);
		while ((r = read(sv[1], v, sizeof(v))) >= 8 ||
		    (r == -1 && errno == EINTR)) {
			if (r == -1)
				continue;
			if (fdatasync(audit_fd(audit)) == -1 ||
			    write(sv[1], &v[r / 8 - 1], 8) != 8)
				_exit(1);
		}
		_exit(0);
	}
	close(sv[1]);
	syncer_fd = sv[0];
	return 0;
}

static uint64_t
now_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int
workers_busy(void)
{
	int	 i;

	for (i = 0; i < conf->workers; i++)
		if (workers[i].inflight > 0)
			return 1;
	return 0;
}

/* No sync in flight, and records to sync: one may start (see syncer_io). */
static int
can_sync(void)
{
	return requested == synced && audit_seq(audit) > synced;
}

/*
 * Learns what is durable, releases those answers, asks for the next sync.
 * While a worker is still signing, the next sync waits for it (up to
 * SYNC_WAIT_US): its record comes within a signature's time, and a sync
 * started now would leave it for the one after. Requests arrive in
 * batches (api/workpool.c), so a sync then covers the whole batch. Each
 * sync costs the machine 150-250 us of CPU on a virtual disk, and more
 * time on a slow one; at c=32 this made them a third fewer (7.7 records
 * each instead of 4.8), c=8 and c=1 unchanged within the noise. It also
 * made the syncer's old 1 ms pause after a busy sync redundant: without
 * it syncs covered as much, and c=8 and c=32 were faster in five of
 * seven alternating rounds each.
 */
static int
syncer_io(int readable)
{
	struct held	 h;
	struct conn	*k;
	uint64_t	 v[64], seq;
	size_t		 off = 0;
	ssize_t		 r;

	if (readable) {
		if ((r = read(syncer_fd, v, sizeof(v))) < 8)
			return r == -1 && (errno == EINTR || errno == EAGAIN) ?
			    0 : -1;
		synced = v[r / 8 - 1];
		for (; off + sizeof(h) <= held.len; off += sizeof(h) + h.len) {
			memcpy(&h, held.data + off, sizeof(h));
			if (h.seq > synced)
				break;
			k = &conns[h.conn];
			if (k->ch.fd != -1 && k->gen == h.gen &&
			    pbuf_add(&k->ch.out, held.data + off + sizeof(h),
			    h.len) == -1)
				k->closing = 2;
		}
		pbuf_consume(&held, off);
	}
	/* One sync at a time; what is written meanwhile waits for the next. */
	seq = audit_seq(audit);
	if (seq > requested && unsynced_since == 0)
		unsynced_since = now_us();
	if (can_sync() && (!workers_busy() ||
	    now_us() >= unsynced_since + SYNC_WAIT_US)) {
		unsynced_since = 0;
		if (audit_flush(audit) == -1 || write(syncer_fd, &seq, 8) != 8)
			return -1;
		requested = seq;
		nsyncs++;
	}
	return 0;
}

/* Starts the workers and waits until each has logged in and found its keys. */
static int
start_workers(void)
{
	struct pollfd	 pfd;
	int		 i;

	for (i = 0; i < conf->workers; i++)
		workers[i].ch.fd = -1;
	for (i = 0; i < conf->workers; i++) {
		if (spawn(i) == -1)
			return -1;
		pfd = (struct pollfd){ workers[i].ch.fd, POLLIN, 0 };
		while (!workers[i].ready && workers[i].ch.fd != -1)
			if (poll(&pfd, 1, 30000) <= 0)
				return -1;
			else
				worker_input(i);
		if (!workers[i].ready)
			return -1;
	}
	return 0;
}

static int
setup(void)
{
	struct sigaction sa = { .sa_handler = on_signal };
	char		 err[512];
	int		 i;

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGCHLD, &sa, NULL) == -1 ||
	    sigaction(SIGTERM, &sa, NULL) == -1 ||
	    sigaction(SIGINT, &sa, NULL) == -1 ||
	    signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		return -1;
	if ((audit = audit_open(conf->audit, err, sizeof(err))) == NULL) {
		log_msg("%s", err);
		return -1;
	}
	synced = requested = first_seq = audit_seq(audit);
	if (start_syncer() == -1 || start_workers() == -1) {
		log_msg("signer workers did not start; not serving");
		return -1;
	}
	if ((conns = calloc(conf->max_conns, sizeof(*conns))) == NULL)
		return -1;
	for (i = 0; i < conf->max_conns; i++)
		conns[i].ch.fd = -1;
	if ((listen_fd = listen_on(conf->socket)) == -1) {
		log_msg("socket %s: %s", conf->socket, strerror(errno));
		return -1;
	}
	log_msg("serving %d key(s) on %s with %d worker(s)%s", conf->nkeys,
	    conf->socket, conf->workers, conf->ceremony ?
	    " in CEREMONY mode" : "");
	return 0;
}

/* A second, or until a sync waiting for the workers is due. */
static struct timespec *
poll_wait(struct timespec *ts)
{
	uint64_t	 us = 1000000, now, due;

	if (can_sync() && unsynced_since != 0) {
		now = now_us();
		due = unsynced_since + SYNC_WAIT_US;
		us = due > now ? due - now : 0;
	}
	ts->tv_sec = (time_t)(us / 1000000);
	ts->tv_nsec = (long)(us % 1000000) * 1000;
	return ts;
}

int
monitor_run(const struct signer_conf *c, const char *p)
{
	struct timespec	 ts;
	struct pollfd	 pfd[2 + SIGNER_MAX_WORKERS + 4096];
	int		 who[2 + SIGNER_MAX_WORKERS + 4096];
	int		 n, i;
	struct conn	*k;

	conf = c;
	pin = p;
	if (c->max_conns > 4096 || setup() == -1)
		return -1;
	while (!quit && !sync_failed) {
		if (child_exited)
			reap();
		/* who[]: -1 listener, -2 syncer, -3 - w worker w, else a conn. */
		n = 0;
		pfd[n] = (struct pollfd){ listen_fd, POLLIN, 0 }, who[n++] = -1;
		pfd[n] = (struct pollfd){ syncer_fd, POLLIN, 0 }, who[n++] = -2;
		for (i = 0; i < c->workers; i++) {
			if (workers[i].ch.fd == -1 && workers[i].pid == -1 &&
			    !workers[i].fatal &&
			    time(NULL) >= workers[i].respawn_at && spawn(i) == -1)
				workers[i].respawn_at = time(NULL) + 1;
			if (workers[i].ch.fd != -1) {
				pfd[n] = (struct pollfd){ workers[i].ch.fd,
				    POLLIN | (workers[i].ch.out.len ? POLLOUT :
				    0), 0 };
				who[n++] = -3 - i;
			}
		}
		for (i = 0, k = conns; i < c->max_conns; i++, k++)
			if (k->ch.fd != -1) {
				pfd[n] = (struct pollfd){ k->ch.fd, (k->closing ||
				    k->inflight >= CONN_INFLIGHT ? 0 : POLLIN) |
				    (k->ch.out.len ? POLLOUT : 0), 0 };
				who[n++] = i;
			}
		if (ppoll(pfd, n, poll_wait(&ts), NULL) == -1 &&
		    errno != EINTR) {
			log_msg("poll: %s", strerror(errno));
			break;
		}
		if (quit)
			break;
		for (i = 0; i < n; i++) {
			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (who[i] == -1)
				accept_one();
			else if (who[i] == -2)
				sync_failed |= syncer_io(1) == -1;
			else if (who[i] <= -3)
				worker_input(-3 - who[i]);
			else if (conns[who[i]].ch.fd != -1)
				conn_input(who[i]);
		}
		sync_failed |= syncer_io(0) == -1;
		for (i = 0; i < c->workers; i++)
			if (workers[i].ch.fd != -1)
				(void)chan_flush(&workers[i].ch);
		for (i = 0, k = conns; i < c->max_conns; i++, k++)
			if (k->ch.fd != -1 && (k->closing == 2 ||
			    chan_flush(&k->ch) == -1 ||
			    (k->closing && k->ch.out.len == 0)))
				chan_close(&k->ch);
	}
	if (sync_failed)
		log_msg("audit log sync failed: refusing to go on");
	/* Records per sync: how well group commit works under this load. */
	log_msg("shutting down: audit: %llu records in %llu syncs",
	    (unsigned long long)(audit_seq(audit) - first_seq),
	    (unsigned long long)nsyncs);
	close(syncer_fd);
	for (i = 0; i < c->workers; i++)
		if (workers[i].pid > 0 && kill(workers[i].pid, SIGTERM) == 0)
			waitpid(workers[i].pid, NULL, 0);
	(void)unlink(c->socket);
	audit_close(audit);
	for (i = 0; i < c->max_conns; i++)
		chan_close(&conns[i].ch);
	free(conns);
	pbuf_free(&held);
	return sync_failed ? -1 : 0;
}

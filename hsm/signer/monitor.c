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
#define CONN_INFLIGHT	512
#define SYNC_HZ		1000	/* see start_syncer() */	/* per connection; then we stop reading it */

struct conn {
	int		 fd;
	uid_t		 uid;
	unsigned	 gen;
	int		 inflight;
	int		 closing;	/* flush what is queued, then close */
	struct pbuf	 in, out;
};

struct worker {
	pid_t		 pid;
	int		 fd;
	int		 ready;
	int		 inflight;
	int		 fatal;
	time_t		 respawn_at;
	struct pbuf	 in, out;
};

struct job {
	int		 used;
	int		 conn;
	unsigned	 gen;
	int		 worker;
	uid_t		 uid;
	uint8_t		 type;
	uint32_t	 client_id;
};

static const struct signer_conf *conf;
static const char	*pin;
static struct audit	*audit;
static struct conn	*conns;
static struct worker	 workers[SIGNER_MAX_WORKERS];
static struct job	 jobs[MAX_JOBS];
static int		 nextjob;
static unsigned		 conngen;
static int		 listen_fd = -1;
static int		 syncer_fd = -1;
static uint64_t		 synced, requested;	/* audit sequence numbers */
static int		 sync_failed;
static struct pbuf	 held;		/* answers waiting for their sync */

struct held {
	int		 conn;
	unsigned	 gen;
	uint64_t	 seq;
	size_t		 len;		/* of the frame that follows */
};
static volatile sig_atomic_t quit, child_exited;

static void
on_signal(int sig)
{
	if (sig == SIGCHLD)
		child_exited = 1;
	else
		quit = 1;
}

static int
nonblock(int fd)
{
	int	 fl = fcntl(fd, F_GETFL);

	return fl == -1 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
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
		close(sv[0]);
		if (listen_fd != -1)
			close(listen_fd);
		close(syncer_fd);
		for (j = 0; conns && j < conf->max_conns; j++)
			if (conns[j].fd != -1)
				close(conns[j].fd);
		for (j = 0; j < conf->workers; j++)
			if (j != i && workers[j].fd != -1)
				close(workers[j].fd);
		signal(SIGCHLD, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		(void)prctl(PR_SET_NAME, "p11ca-worker");
		worker_main(conf, pin, sv[1]);
	}
	close(sv[1]);
	w->fd = sv[0];
	w->ready = 0;
	w->inflight = 0;
	pbuf_init(&w->in);
	pbuf_init(&w->out);
	return nonblock(w->fd);
}

static void
conn_close(int c)
{
	struct conn	*k = &conns[c];

	close(k->fd);
	k->fd = -1;
	pbuf_free(&k->in);
	pbuf_free(&k->out);
}

/* Answer on behalf of the signer itself (no worker involved). */
static void
answer_error(int c, uint8_t type, uint32_t id, uint16_t status,
    const char *msg)
{
	if (proto_put_error(&conns[c].out, type, id, status, msg) == -1)
		conns[c].closing = 1;
}

static int
pick_worker(void)
{
	int	 i, best = -1;

	for (i = 0; i < conf->workers; i++)
		if (workers[i].ready && (best == -1 ||
		    workers[i].inflight < workers[best].inflight))
			best = i;
	return best;
}

static int
new_job(void)
{
	int	 i, j;

	for (i = 0; i < MAX_JOBS; i++) {
		j = (nextjob + i) % MAX_JOBS;
		if (!jobs[j].used) {
			nextjob = (j + 1) % MAX_JOBS;
			return j;
		}
	}
	return -1;
}

/* Strict decoders that also name the key a request is about. */
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
	if (proto_put_ping_resp(&conns[c].out, f->id,
	    (uint8_t)conf->ceremony, (uint8_t)conf->nkeys) == -1)
		conns[c].closing = 2;
}

/* Hands a request to the least busy worker; its answer comes back later. */
static void
serve_by_worker(int c, const struct proto_frame *f)
{
	struct conn	*k = &conns[c];
	int		 w, j = -1;

	if ((w = pick_worker()) == -1 || (j = new_job()) == -1 ||
	    proto_put_frame(&workers[w].out, f->type, 0, (uint32_t)j, f->body,
	    f->bodylen) == -1) {
		answer_error(c, f->type, f->id, w == -1 ? PROTO_E_HSM :
		    PROTO_E_BUSY, w == -1 ? "no signer worker is running "
		    "(token unavailable?)" : "signer busy");
		return;
	}
	jobs[j] = (struct job){ 1, c, k->gen, w, k->uid, f->type, f->id };
	workers[w].inflight++;
	k->inflight++;
}

/*
 * The requests the signer serves, and nothing else. Every request names a
 * key the configuration knows, except PING; who may use a key for what is
 * the worker's guard's business.
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
	if (rq == NULL) {
		/* A well-formed frame of a type we do not serve. */
		answer_error(c, f->type & 0x7f, f->id, PROTO_E_UNSUPPORTED,
		    "request type not served by this signer");
		return;
	}
	if (rq->check(f, key) == -1) {
		log_msg("uid %u: malformed frame (type %u): connection closed",
		    (unsigned)conns[c].uid, f->type);
		conns[c].closing = 2;	/* drop it, answer nothing more */
		return;
	}
	if (rq->needs_key && conf_key_index(conf, key) == -1) {
		answer_error(c, f->type, f->id, PROTO_E_UNKNOWN_KEY,
		    "no such key in the signer");
		return;
	}
	rq->serve(c, f);
}

static void
conn_read(int c)
{
	struct conn		*k = &conns[c];
	struct proto_frame	 f;
	uint8_t			 buf[65536];
	size_t			 used;
	size_t			 off = 0;
	ssize_t			 r;
	int			 rc = 0;

	r = read(k->fd, buf, sizeof(buf));
	if (r == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (r <= 0 || pbuf_add(&k->in, buf, r) == -1) {
		conn_close(c);
		return;
	}
	/* Consume once per read: a batch may hold hundreds of frames. */
	while (!k->closing && (rc = proto_frame_next(k->in.data + off,
	    k->in.len - off, &f, &used)) == 1) {
		dispatch(c, &f);
		off += used;
	}
	pbuf_consume(&k->in, off);
	if (!k->closing && rc == -1) {
		log_msg("uid %u: bad frame header: connection closed",
		    (unsigned)k->uid);
		k->closing = 2;
	}
}

static void
fail_jobs_of(int w, const char *why)
{
	struct conn	*k;
	int		 j;

	for (j = 0; j < MAX_JOBS; j++) {
		if (!jobs[j].used || jobs[j].worker != w)
			continue;
		k = &conns[jobs[j].conn];
		if (k->fd != -1 && k->gen == jobs[j].gen) {
			answer_error(jobs[j].conn, jobs[j].type,
			    jobs[j].client_id, PROTO_E_HSM, why);
			k->inflight--;
		}
		jobs[j].used = 0;
	}
	workers[w].inflight = 0;
}

/* One answer from a worker: audit it, stage the client's response. */
static int
worker_answer(int w, const struct proto_frame *f)
{
	struct job	*jb;
	struct conn	*k;
	char		 fields[AUDIT_MAX_LINE];
	struct held	 h;
	size_t		 alen, at;
	int		 rc;

	if (f->id >= MAX_JOBS || !jobs[f->id].used ||
	    jobs[f->id].worker != w || f->bodylen < 2)
		return -1;
	jb = &jobs[f->id];
	alen = (size_t)f->body[0] << 8 | f->body[1];
	if (alen > f->bodylen - 2 || alen >= sizeof(fields))
		return -1;
	k = &conns[jb->conn];
	if (alen) {
		memcpy(fields, f->body + 2, alen);
		fields[alen] = '\0';
		if (audit_append(audit, jb->uid, fields) == -1) {
			log_msg("audit log write failed: refusing to go on");
			exit(1);
		}
	}
	if (k->fd != -1 && k->gen == jb->gen) {
		if (alen == 0)
			rc = proto_put_frame(&k->out, f->type, f->status,
			    jb->client_id, f->body + 2, f->bodylen - 2);
		else {
			h = (struct held){ jb->conn, jb->gen, audit_seq(audit),
			    0 };
			at = held.len;
			rc = pbuf_add(&held, &h, sizeof(h)) == -1 ? -1 :
			    proto_put_frame(&held, f->type, f->status,
			    jb->client_id, f->body + 2 + alen,
			    f->bodylen - 2 - alen);
			h.len = held.len - at - sizeof(h);
			if (rc == 0)
				memcpy(held.data + at, &h, sizeof(h));
		}
		if (rc == -1)
			k->closing = 2;
		k->inflight--;
	}
	jb->used = 0;
	workers[w].inflight--;
	return 0;
}

static void
worker_read(int w)
{
	struct worker		*wk = &workers[w];
	struct proto_frame	 f;
	uint8_t			 buf[65536];
	size_t			 used, off = 0;
	ssize_t			 r;
	int			 rc;

	r = read(wk->fd, buf, sizeof(buf));
	if (r == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (r <= 0 || pbuf_add(&wk->in, buf, r) == -1)
		goto gone;
	while ((rc = proto_frame_next(wk->in.data + off, wk->in.len - off, &f,
	    &used)) == 1) {
		if (!wk->ready) {
			/* First frame: ready, or why it could not start. */
			if (f.type == (PROTO_PING | PROTO_RESPONSE) &&
			    f.status == PROTO_OK)
				wk->ready = 1;
		} else if (worker_answer(w, &f) == -1) {
			log_msg("worker %d: bad answer", (int)wk->pid);
			goto gone;
		}
		off += used;
	}
	pbuf_consume(&wk->in, off);
	if (rc == -1)
		goto gone;
	return;
gone:
	close(wk->fd);
	wk->fd = -1;
	wk->ready = 0;
	fail_jobs_of(w, "signer worker exited");
	pbuf_free(&wk->in);
	pbuf_free(&wk->out);
}

static void
flush(int fd, struct pbuf *b, int *dead)
{
	ssize_t	 w;

	while (b->len > 0) {
		w = write(fd, b->data, b->len);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && errno == EAGAIN)
			return;
		if (w <= 0) {
			*dead = 1;
			return;
		}
		pbuf_consume(b, w);
	}
}

static int
uid_allowed(uid_t u)
{
	int	 i;

	for (i = 0; i < conf->nallow; i++)
		if (conf->allow[i] == u)
			return 1;
	return 0;
}

static void
accept_one(void)
{
	struct ucred	 cr = { 0, (uid_t)-1, (gid_t)-1 };
	socklen_t	 crlen = sizeof(cr);
	struct pbuf	 b;
	char		 msg[80];
	int		 fd, i;

	if ((fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK))
	    == -1)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) == -1 ||
	    !uid_allowed(cr.uid)) {
		log_msg("refused connection from uid %d pid %d",
		    crlen == sizeof(cr) ? (int)cr.uid : -1, (int)cr.pid);
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
	for (i = 0; i < conf->max_conns; i++)
		if (conns[i].fd == -1)
			break;
	if (i == conf->max_conns) {
		log_msg("too many connections: refusing uid %u",
		    (unsigned)cr.uid);
		close(fd);
		return;
	}
	memset(&conns[i], 0, sizeof(conns[i]));
	conns[i].fd = fd;
	conns[i].uid = cr.uid;
	conns[i].gen = ++conngen;
}

static int
listen_on(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int		 fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -1;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	(void)unlink(path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1)
		return -1;
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
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (i = 0; i < conf->workers; i++) {
			if (workers[i].pid != pid)
				continue;
			workers[i].pid = -1;
			if (WIFEXITED(st) &&
			    WEXITSTATUS(st) == WORKER_EXIT_FATAL) {
				workers[i].fatal = 1;
				log_msg("worker %d cannot work (see above): not "
				    "restarting it", (int)pid);
			} else
				log_msg("worker %d %s %d: restarting", (int)pid,
				    WIFSIGNALED(st) ? "killed by signal" :
				    "exited with", WIFSIGNALED(st) ? WTERMSIG(st) :
				    WEXITSTATUS(st));
			workers[i].respawn_at = time(NULL) + 1;
		}
	}
}

/*
 * The syncer: a process that makes the audit log durable on request and
 * says up to which record. fdatasync on the shared file description
 * covers what the monitor wrote.
 */
static int
start_syncer(void)
{
	const struct timespec gap = { 0, 1000000000 / SYNC_HZ };
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
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_IGN);	/* the monitor decides */
		while ((r = read(sv[1], v, sizeof(v))) >= 8 ||
		    (r == -1 && errno == EINTR)) {
			if (r == -1)
				continue;
			if (fdatasync(audit_fd(audit)) == -1 ||
			    write(sv[1], &v[r / 8 - 1], 8) != 8)
				_exit(1);
			/* At most SYNC_HZ syncs a second: bigger groups. */
			nanosleep(&gap, NULL);
		}
		_exit(0);
	}
	close(sv[1]);
	syncer_fd = sv[0];
	return 0;
}

/* Releases every held answer whose audit record is now durable. */
static void
release(void)
{
	struct held	 h;
	size_t		 off = 0;
	struct conn	*k;

	while (off + sizeof(h) <= held.len) {
		memcpy(&h, held.data + off, sizeof(h));
		if (h.seq > synced)
			break;
		k = &conns[h.conn];
		if (k->fd != -1 && k->gen == h.gen &&
		    pbuf_add(&k->out, held.data + off + sizeof(h), h.len) == -1)
			k->closing = 2;
		off += sizeof(h) + h.len;
	}
	pbuf_consume(&held, off);
}

/* One sync at a time; what is written meanwhile waits for the next. */
static int
syncer_io(int readable)
{
	uint64_t	 v[64], seq;
	ssize_t		 r;

	if (readable) {
		if ((r = read(syncer_fd, v, sizeof(v))) < 8)
			return r == -1 && (errno == EINTR || errno == EAGAIN) ?
			    0 : -1;
		synced = v[r / 8 - 1];
		release();
	}
	seq = audit_seq(audit);
	if (requested == synced && seq > synced) {
		if (audit_flush(audit) == -1 || write(syncer_fd, &seq, 8) != 8)
			return -1;
		requested = seq;
	}
	return 0;
}

/* Start the workers and wait until each has logged in and found its keys. */
static int
start_workers(void)
{
	struct pollfd	 pfd;
	int		 i;

	for (i = 0; i < conf->workers; i++)
		workers[i].fd = -1;
	for (i = 0; i < conf->workers; i++) {
		if (spawn(i) == -1)
			return -1;
		pfd = (struct pollfd){ workers[i].fd, POLLIN, 0 };
		while (!workers[i].ready && workers[i].fd != -1) {
			if (poll(&pfd, 1, 30000) <= 0)
				return -1;
			worker_read(i);
		}
		if (!workers[i].ready)
			return -1;
	}
	return 0;
}

int
monitor_run(const struct signer_conf *c, const char *p)
{
	struct sigaction sa;
	struct pollfd	*pfd;
	char		 err[512];
	int		 npfd, i, n, dead, *map;

	conf = c;
	pin = p;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGCHLD, &sa, NULL) == -1 ||
	    sigaction(SIGTERM, &sa, NULL) == -1 ||
	    sigaction(SIGINT, &sa, NULL) == -1 ||
	    signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		return -1;
	if ((audit = audit_open(c->audit, err, sizeof(err))) == NULL) {
		log_msg("%s", err);
		return -1;
	}
	synced = requested = audit_seq(audit);
	pbuf_init(&held);
	if (start_syncer() == -1 || start_workers() == -1) {
		log_msg("signer workers did not start; not serving");
		return -1;
	}
	conns = calloc(c->max_conns, sizeof(*conns));
	npfd = 2 + c->workers + c->max_conns;
	pfd = calloc(npfd, sizeof(*pfd));
	map = calloc(npfd, sizeof(*map));
	if (conns == NULL || pfd == NULL || map == NULL)
		return -1;
	for (i = 0; i < c->max_conns; i++)
		conns[i].fd = -1;
	if ((listen_fd = listen_on(c->socket)) == -1) {
		log_msg("socket %s: %s", c->socket, strerror(errno));
		return -1;
	}
	log_msg("serving %d key(s) on %s with %d worker(s)%s", c->nkeys,
	    c->socket, c->workers, c->ceremony ? " in CEREMONY mode" : "");
	while (!quit) {
		if (child_exited)
			reap();
		for (i = 0; i < c->workers; i++)
			if (workers[i].pid == -1 && !workers[i].fatal &&
			    time(NULL) >= workers[i].respawn_at &&
			    workers[i].fd == -1 && spawn(i) == -1)
				workers[i].respawn_at = time(NULL) + 1;
		n = 0;
		pfd[n] = (struct pollfd){ listen_fd, POLLIN, 0 };
		map[n++] = -1;
		pfd[n] = (struct pollfd){ syncer_fd, POLLIN, 0 };
		map[n++] = -2;
		for (i = 0; i < c->workers; i++) {
			if (workers[i].fd == -1)
				continue;
			pfd[n] = (struct pollfd){ workers[i].fd, POLLIN |
			    (workers[i].out.len ? POLLOUT : 0), 0 };
			map[n++] = 1000000 + i;
		}
		for (i = 0; i < c->max_conns; i++) {
			if (conns[i].fd == -1)
				continue;
			pfd[n] = (struct pollfd){ conns[i].fd,
			    (conns[i].closing || conns[i].inflight >=
			    CONN_INFLIGHT ? 0 : POLLIN) |
			    (conns[i].out.len ? POLLOUT : 0), 0 };
			map[n++] = i;
		}
		if (poll(pfd, n, 1000) == -1) {
			if (errno == EINTR)
				continue;
			log_msg("poll: %s", strerror(errno));
			break;
		}
		for (i = 0; i < n; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (map[i] == -1)
				accept_one();
			else if (map[i] == -2)
				sync_failed |= syncer_io(1) == -1;
			else if (map[i] >= 1000000) {
				if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
					worker_read(map[i] - 1000000);
			} else if (conns[map[i]].fd != -1 &&
			    (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				conn_read(map[i]);
		}
		if (sync_failed || syncer_io(0) == -1) {
			log_msg("audit log sync failed: refusing to go on");
			sync_failed = 1;
			break;
		}
		for (i = 0; i < c->workers; i++) {
			dead = 0;
			if (workers[i].fd != -1)
				flush(workers[i].fd, &workers[i].out, &dead);
		}
		for (i = 0; i < c->max_conns; i++) {
			if (conns[i].fd == -1)
				continue;
			if (conns[i].closing == 2) {
				conn_close(i);
				continue;
			}
			dead = 0;
			flush(conns[i].fd, &conns[i].out, &dead);
			if (dead || (conns[i].closing && conns[i].out.len == 0))
				conn_close(i);
		}
	}
	log_msg("shutting down");
	close(syncer_fd);
	for (i = 0; i < c->workers; i++)
		if (workers[i].pid > 0 && kill(workers[i].pid, SIGTERM) == 0)
			waitpid(workers[i].pid, NULL, 0);
	(void)unlink(c->socket);
	audit_close(audit);
	free(pfd);
	free(map);
	for (i = 0; i < c->max_conns; i++)
		if (conns[i].fd != -1)
			conn_close(i);
	free(conns);
	pbuf_free(&held);
	return sync_failed ? -1 : 0;
}

/*
 * signer_link.c — the front end's side of the signer socket, on the event
 * loop. Requests are pipelined on one connection with ids; every request
 * has a deadline, so a hung or absent signer turns into a quick failure
 * (503 upstream), never a hang. The link reconnects by itself.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <sys/time.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "api/signer_link.h"
#include "hsm/proto.h"

#define SLOTS		4096		/* requests in flight, at most */
#define DEADLINE_MS	1000

struct slot {
	uint32_t	 id;		/* 0: free */
	link_cb		 cb;
	void		*arg;
	struct timeval	 deadline;
};

struct signer_link {
	struct event_base	*base;
	char			 path[108];
	struct bufferevent	*bev;
	int			 up;		/* connected */
	int			 closed;	/* link_shutdown: signs no more */
	struct event		*tick;
	struct timeval		 retry_at;
	uint32_t		 next_id;
	int			 inflight;
	struct slot		 slots[SLOTS];
};

static void	link_drop(struct signer_link *, const char *);

static void
finish(struct signer_link *l, struct slot *s, int status, const uint8_t *p,
    size_t n, const char *msg)
{
	link_cb	 cb = s->cb;
	void	*arg = s->arg;

	s->id = 0;
	l->inflight--;
	cb(status, p, n, msg, arg);
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct signer_link	*l = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct proto_frame	 f;
	struct slot		*s;
	const uint8_t		*p, *sig;
	const char		*msg;
	size_t			 used, n, siglen, msglen;
	char			 m[256];
	int			 rc;

	while ((n = evbuffer_get_length(in)) >= 4) {
		/* Make the first frame contiguous, then decode it. */
		p = evbuffer_pullup(in, (ssize_t)n);
		if ((rc = proto_frame_next(p, n, &f, &used)) == 0)
			return;
		if (rc == -1) {
			link_drop(l, "signer sent a malformed frame");
			return;
		}
		s = &l->slots[f.id % SLOTS];
		if (f.id != 0 && s->id == f.id) {
			if (f.status == PROTO_OK &&
			    proto_decode_sign_resp(&f, &sig, &siglen) == 0)
				finish(l, s, PROTO_OK, sig, siglen, NULL);
			else if (f.status != PROTO_OK &&
			    proto_decode_error(&f, &msg, &msglen) == 0) {
				snprintf(m, sizeof(m), "%.*s", (int)msglen, msg);
				finish(l, s, f.status, NULL, 0, m);
			} else
				finish(l, s, PROTO_E_INTERNAL, NULL, 0,
				    "unexpected answer from the signer");
		}
		/* An answer after its deadline finds its slot gone: dropped. */
		evbuffer_drain(in, used);
	}
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct signer_link	*l = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		l->up = 1;
		return;
	}
	link_drop(l, "signer connection lost");
}

/* Fails everything in flight; the next request reconnects (after a pause). */
static void
link_drop(struct signer_link *l, const char *why)
{
	struct timeval	 now, pause = { 0, 200 * 1000 };
	int		 i;

	if (l->bev)
		bufferevent_free(l->bev);
	l->bev = NULL;
	l->up = 0;
	gettimeofday(&now, NULL);
	timeradd(&now, &pause, &l->retry_at);
	for (i = 0; i < SLOTS && l->inflight > 0; i++)
		if (l->slots[i].id)
			finish(l, &l->slots[i], -1, NULL, 0, why);
}

static int
link_connect(struct signer_link *l)
{
	struct sockaddr_un	 sun = { .sun_family = AF_UNIX };
	struct timeval		 now;

	gettimeofday(&now, NULL);
	if (timercmp(&now, &l->retry_at, <))
		return -1;
	memcpy(sun.sun_path, l->path, strlen(l->path) + 1);
	if ((l->bev = bufferevent_socket_new(l->base, -1,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL)
		return -1;
	bufferevent_setcb(l->bev, on_read, NULL, on_event, l);
	if (bufferevent_socket_connect(l->bev, (struct sockaddr *)&sun,
	    sizeof(sun)) == -1 || bufferevent_enable(l->bev, EV_READ) == -1) {
		link_drop(l, "cannot connect to the signer");
		return -1;
	}
	/* A Unix socket connects at once or not at all. */
	l->up = 1;
	return 0;
}

/* Expires requests past their deadline, so a hung signer costs 1 s. */
static void
on_tick(evutil_socket_t fd, short ev, void *arg)
{
	struct signer_link	*l = arg;
	struct timeval		 now;
	int			 i, expired = 0;

	(void)fd, (void)ev;
	gettimeofday(&now, NULL);
	for (i = 0; i < SLOTS && l->inflight > 0; i++)
		if (l->slots[i].id && timercmp(&now, &l->slots[i].deadline,
		    >)) {
			finish(l, &l->slots[i], -1, NULL, 0,
			    "the signer did not answer in time");
			expired++;
		}
	/* A signer that stopped answering may be wedged: start afresh. */
	if (expired && l->bev)
		link_drop(l, "the signer did not answer in time");
}

struct signer_link *
link_new(struct event_base *base, const char *path)
{
	struct signer_link	*l;
	struct timeval		 tv = { 0, 100 * 1000 };

	if (strlen(path) >= sizeof(l->path) ||
	    (l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	l->base = base;
	memcpy(l->path, path, strlen(path) + 1);
	l->next_id = 1;
	if ((l->tick = event_new(base, -1, EV_PERSIST, on_tick, l)) == NULL ||
	    event_add(l->tick, &tv) == -1) {
		link_free(l);
		return NULL;
	}
	return l;
}

void
link_shutdown(struct signer_link *l)
{
	if (l == NULL || l->closed)
		return;
	l->closed = 1;
	link_drop(l, "front end shutting down");
}

void
link_free(struct signer_link *l)
{
	if (l == NULL)
		return;
	link_shutdown(l);
	if (l->tick)
		event_free(l->tick);
	free(l);
}

int
link_sign(struct signer_link *l, const char *key, uint8_t kind, uint8_t alg,
    const uint8_t *p, size_t n, link_cb cb, void *arg)
{
	struct timeval	 now, dl = { DEADLINE_MS / 1000,
	    (DEADLINE_MS % 1000) * 1000 };
	struct pbuf	 b;
	struct slot	*s;
	uint32_t	 id;
	int		 rc;

	if (l->closed || (l->bev == NULL && link_connect(l) == -1))
		return -1;
	id = l->next_id++;
	if (id == 0)
		id = l->next_id++;
	s = &l->slots[id % SLOTS];
	if (s->id != 0)
		return -1;		/* SLOTS requests in flight: busy */
	pbuf_init(&b);
	rc = proto_put_sign(&b, id, key, kind, alg, p, n) == -1 ? -1 :
	    bufferevent_write(l->bev, b.data, b.len);
	pbuf_free(&b);
	if (rc == -1)
		return -1;
	gettimeofday(&now, NULL);
	timeradd(&now, &dl, &s->deadline);
	s->id = id;
	s->cb = cb;
	s->arg = arg;
	l->inflight++;
	return 0;
}

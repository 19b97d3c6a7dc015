/* SPDX-License-Identifier: MIT */
/* Named pipes: mio's src/sys/windows/named_pipe.rs, on AF_UNIX stream sockets and the
 * completion port. See lgrt/pipe.h for the shape and for where the historical bug sits. */
#define _GNU_SOURCE
#include <lgrt/pipe.h>

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <lgrt/faults.h>
#include <lgrt/sys.h>
#include <lifeguard/oracle.h>
#include <lifeguard/sched.h>

#define BUF_SIZE 4096

enum read_state { READ_NONE, READ_PENDING, READ_OK, READ_ERR };

struct inner {
  uint64_t refs;
  uint64_t ops;  /* references held by operations and packets in flight (all but the pipe's) */
  int fd;        /* the connection; -1 until a server is connected */
  int listen_fd; /* a server's listening socket; -1 for a client */
  lgrt_overlapped connect_ovl, read_ovl, event_ovl;
  lg_mutex lock; /* everything in io */
  struct {
    lgrt_port *cp;
    uint64_t token;
    bool registered;
    uint32_t generation; /* bumped at each register */
    bool connected, connecting;
    int connect_err; /* a connect that completed with an error, for the next connect call */
    bool eof_seen; /* the peer is gone: every new read fails at once */
    enum read_state read;
    bool read_armed; /* a read is armed on the port and its completion not yet consumed */
    int read_err;    /* READ_ERR: 0 = end of stream (ERROR_BROKEN_PIPE), else an errno */
    size_t len, pos;
    unsigned char buf[BUF_SIZE];
  } io;
};

struct lgrt_pipe {
  struct inner *inner;
};

static long live_inners;
static uint64_t ops_in_flight; /* every pipe's operations and packets in flight */

long lgrt_pipe_live_inners(void) { return __atomic_load_n(&live_inners, __ATOMIC_RELAXED); }

long lgrt_pipe_ops_in_flight(void) {
  return (long)__atomic_load_n(&ops_in_flight, __ATOMIC_RELAXED);
}

#define INNER_OF(ovl, field) ((struct inner *)((char *)(ovl) - offsetof(struct inner, field)))

/* The holders of an inner's references, as the reference ledger names them
 * (lifeguard/oracle.h): the user's pipe, a posted event packet, a pending read, a pending
 * connect. Each holder releases its own, once. */
static const char INNER[] = "pipe inner state";
static const char PIPE_REF[] = "pipe", EVENT_REF[] = "posted-event", READ_REF[] = "pending-read",
                  CONNECT_REF[] = "pending-connect";

/* Every reference but the pipe's own is an operation or a packet in flight, counted twice:
 * in the pipe's count and in the process's. */
static void ref(struct inner *in, const char *role) {
  lg_ref_take(&live_inners, in, INNER, role);
  __atomic_fetch_add(&in->refs, 1, __ATOMIC_RELAXED);
  if (role != PIPE_REF) {
    __atomic_fetch_add(&in->ops, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&ops_in_flight, 1, __ATOMIC_RELAXED);
  }
}

/* An operation or packet is done with the pipe: out of the pipe's count, then out of the
 * process's (a counter every pipe's completions update: a scheduling point). Its reference
 * is given back after this, by the caller. */
static void op_out(struct inner *in) {
  __atomic_fetch_sub(&in->ops, 1, __ATOMIC_ACQ_REL);
  lg_atomic_fetch_sub(&ops_in_flight, 1);
}

/* Gives back a reference taken for an operation that did not start (never the last). */
static void unref_unused(struct inner *in, const char *role) {
  lg_ref_drop(in, role);
  op_out(in);
  __atomic_sub_fetch(&in->refs, 1, __ATOMIC_ACQ_REL);
}

static void inner_free(struct inner *in);

/* The holder says it releases (the ledger), an operation counts itself out, and the count
 * goes down: the last reference frees the inner state. */
static void unref(struct inner *in, const char *role) {
  lg_ref_drop(in, role);
  if (role != PIPE_REF) op_out(in);
  if (__atomic_sub_fetch(&in->refs, 1, __ATOMIC_ACQ_REL) == 0) inner_free(in);
}

static void inner_free(struct inner *in) {
  if (in->fd >= 0) close(in->fd);
  if (in->listen_fd >= 0) close(in->listen_fd);
  lg_mutex_destroy(&in->lock);
  lg_ref_gone(in);
  free(in);
  __atomic_fetch_sub(&live_inners, 1, __ATOMIC_RELAXED);
}

/* ---- readiness out of the pipe (called with the lock held, by a caller holding a
 *      reference) ------------------------------------------------------------------- */

static void notify(struct inner *in, uint32_t readiness, lgrt_events *events) {
  if (!in->io.registered) return;
  if (events) { /* the driver's own thread, inside a completion */
    lgrt_events_push(events, in->io.token, readiness);
    return;
  }
  lgrt_packet pkt = {.key = in->io.token, .ovl = NULL, .flags = readiness, .bytes = 0};
  if (lg_fault(LG_FAULT_PIPE_POST_RAW_TOKEN)) {
    /* tokio#6369, mio 0.8.10 notify_readable/notify_writable without events:
     * cp.post(ev.to_completion_status()) -- no overlapped, the user's token as the key, and
     * nothing keeps what the token names alive until the packet is consumed. */
    lgrt_port_post(in->io.cp, &pkt);
    return;
  }
  /* mio 0.8.11 schedule_event: the packet names the event overlapped and owns a reference;
   * it also carries the registration's generation for its consumer to check. */
  pkt.ovl = &in->event_ovl;
  pkt.bytes = in->io.generation;
  bool take = !lg_fault(LG_FAULT_PIPE_POST_NO_REF); /* (planted: the packet holds nothing) */
  if (take) ref(in, EVENT_REF);
  if (lgrt_port_post(in->io.cp, &pkt) != 0 && take)
    unref_unused(in, EVENT_REF); /* the caller's reference remains */
}

static void event_done(lgrt_overlapped *ovl, const lgrt_packet *pkt, lgrt_events *out) {
  struct inner *in = INNER_OF(ovl, event_ovl);
  if (out) {
    lg_mutex_lock(&in->lock);
    bool live = in->io.registered;
    /* mio 0.8.11 checks io.token.is_some(): a pipe registered again since the post passes
     * and the old token is delivered. The fix compares the registration's generation. */
    if (live && !lg_fault(LG_FAULT_PIPE_EVENT_PRESENCE_CHECK))
      live = in->io.generation == pkt->bytes;
    if (live) lgrt_events_push(out, pkt->key, pkt->flags);
    lg_mutex_unlock(&in->lock);
  }
  unref(in, EVENT_REF); /* the reference the post took */
}

/* Arms a read, or, when the peer is gone, fails it at once and says READABLE. Returns true
 * when a read is now pending or its result is ready. */
static bool schedule_read(struct inner *in, lgrt_events *events) {
  if (in->io.read != READ_NONE) return true;
  if (!in->io.cp || !in->io.connected) return false;
  if (in->io.eof_seen) {
    /* ReadFile on a pipe whose other end is gone fails at once with ERROR_BROKEN_PIPE */
    in->io.read = READ_ERR;
    in->io.read_err = 0;
    notify(in, LGRT_READABLE, events);
    return true;
  }
  ref(in, READ_REF); /* the pending operation's */
  in->io.read = READ_PENDING;
  in->io.read_armed = true;
  int err = lgrt_port_watch(in->io.cp, in->fd, LGRT_READABLE, 0, &in->read_ovl, true);
  if (err) {
    in->io.read_armed = false;
    in->io.read = READ_ERR;
    in->io.read_err = -err;
    unref_unused(in, READ_REF);
    notify(in, LGRT_READABLE, events);
  }
  return true;
}

/* After register or connect: arm the read, say WRITABLE (and READABLE if a result waits). */
static void post_register(struct inner *in, lgrt_events *events) {
  if (!in->io.connected) return;
  bool had_result = in->io.read == READ_OK || in->io.read == READ_ERR;
  schedule_read(in, events);
  if (had_result) notify(in, LGRT_READABLE, events);
  notify(in, LGRT_WRITABLE, events);
}

static void read_done(lgrt_overlapped *ovl, const lgrt_packet *pkt, lgrt_events *out) {
  struct inner *in = INNER_OF(ovl, read_ovl);
  if (pkt->flags & LGRT_CANCELLED) {
    lg_mutex_lock(&in->lock);
    if (in->io.read == READ_PENDING && !in->io.read_armed) in->io.read = READ_NONE;
    lg_mutex_unlock(&in->lock);
    unref(in, READ_REF);
    return;
  }
  if (!out) return; /* readiness is never queued, only posted packets are drained at close */
  lg_mutex_lock(&in->lock);
  if (!in->io.read_armed) {
    /* cancelled after the port produced this completion: the cancellation packet, consumed
     * after it, owns the operation's reference */
    lg_mutex_unlock(&in->lock);
    return;
  }
  in->io.read_armed = false;
  ssize_t n = lgrt_recv(in->fd, in->io.buf, sizeof in->io.buf, MSG_DONTWAIT);
  if (n > 0) {
    in->io.read = READ_OK;
    in->io.len = (size_t)n;
    in->io.pos = 0;
    notify(in, LGRT_READABLE, out);
  } else if (n == 0) {
    in->io.eof_seen = true;
    in->io.read = READ_ERR;
    in->io.read_err = 0;
    notify(in, LGRT_READABLE | LGRT_READ_CLOSED, out);
  } else if (errno == EAGAIN || errno == EINTR) {
    in->io.read = READ_NONE;
    schedule_read(in, out);
  } else {
    in->io.read = READ_ERR;
    in->io.read_err = errno;
    notify(in, LGRT_READABLE | LGRT_ERROR, out);
  }
  lg_mutex_unlock(&in->lock);
  unref(in, READ_REF); /* the completed operation's */
}

static void connect_done(lgrt_overlapped *ovl, const lgrt_packet *pkt, lgrt_events *out) {
  struct inner *in = INNER_OF(ovl, connect_ovl);
  if ((pkt->flags & LGRT_CANCELLED) || !out) {
    if (pkt->flags & LGRT_CANCELLED) unref(in, CONNECT_REF);
    return;
  }
  lg_mutex_lock(&in->lock);
  if (!in->io.connecting) { /* cancelled meanwhile; see read_done */
    lg_mutex_unlock(&in->lock);
    return;
  }
  in->io.connecting = false;
  int fd = lgrt_accept4(in->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  int e = fd < 0 ? errno : 0;
  if (fd >= 0) {
    in->fd = fd;
    in->io.connected = true;
    post_register(in, out);
  } else if ((e == EAGAIN || e == EINTR || e == ECONNABORTED) && in->io.cp) {
    /* nobody to accept after all (or the client left): armed again */
    ref(in, CONNECT_REF);
    in->io.connecting = true;
    int err = lgrt_port_watch(in->io.cp, in->listen_fd, LGRT_READABLE, 0, &in->connect_ovl, true);
    if (err) {
      /* The watch used to be ignored here: its reference leaked and the connect stayed
       * pending for ever. Now it completes with the error. */
      in->io.connecting = false;
      unref_unused(in, CONNECT_REF);
      in->io.connect_err = -err;
      notify(in, LGRT_WRITABLE | LGRT_ERROR, out);
    }
  } else {
    /* ConnectNamedPipe's overlapped completes with the error (EMFILE, ...): the waiter wakes
     * and the next connect call returns it. The error used to be dropped, and the server
     * waited for a WRITABLE that never came (a deadlock, found by failure injection). */
    in->io.connect_err = e;
    notify(in, LGRT_WRITABLE | LGRT_ERROR, out);
  }
  lg_mutex_unlock(&in->lock);
  unref(in, CONNECT_REF);
}

/* ---- creation ----------------------------------------------------------------------- */

static struct inner *inner_new(int fd, int listen_fd) {
  struct inner *in = lgrt_calloc(1, sizeof *in);
  if (!in) return NULL;
  in->refs = 1;
  in->fd = fd;
  in->listen_fd = listen_fd;
  in->connect_ovl.done = connect_done;
  in->read_ovl.done = read_done;
  in->event_ovl.done = event_done;
  lg_mutex_init(&in->lock);
  lg_ref_take(&live_inners, in, INNER, PIPE_REF);
  __atomic_fetch_add(&live_inners, 1, __ATOMIC_RELAXED);
  return in;
}

static socklen_t pipe_addr(const char *name, struct sockaddr_un *sa) {
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  size_t n = strlen(name);
  if (n > sizeof sa->sun_path - 1) n = sizeof sa->sun_path - 1;
  memcpy(sa->sun_path + 1, name, n); /* abstract namespace: a leading NUL */
  return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

static int wrap(struct inner *in, lgrt_pipe **out) {
  lgrt_pipe *p = lgrt_malloc(sizeof *p);
  if (!p) {
    unref(in, PIPE_REF);
    return -ENOMEM;
  }
  p->inner = in;
  *out = p;
  return 0;
}

int lgrt_pipe_server_create(const char *name, lgrt_pipe **out) {
  struct sockaddr_un sa;
  socklen_t len = pipe_addr(name, &sa);
  int fd = lgrt_socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  if (lgrt_bind(fd, (struct sockaddr *)&sa, len) < 0 || lgrt_listen(fd, 16) < 0) {
    int err = -errno;
    close(fd);
    return err;
  }
  struct inner *in = inner_new(-1, fd);
  if (!in) {
    close(fd);
    return -ENOMEM;
  }
  return wrap(in, out);
}

int lgrt_pipe_client_open(const char *name, lgrt_pipe **out) {
  struct sockaddr_un sa;
  socklen_t len = pipe_addr(name, &sa);
  int fd = lgrt_socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  if (lgrt_connect(fd, (struct sockaddr *)&sa, len) < 0) {
    int err = -errno;
    close(fd);
    return err;
  }
  struct inner *in = inner_new(fd, -1);
  if (!in) {
    close(fd);
    return -ENOMEM;
  }
  in->io.connected = true;
  return wrap(in, out);
}

int lgrt_pipe_server_connect(lgrt_pipe *p) {
  struct inner *in = p->inner;
  int ret;
  lg_mutex_lock(&in->lock);
  if (in->listen_fd < 0 || in->io.connected) {
    ret = -EISCONN;
  } else if (in->io.connecting) {
    ret = -EINPROGRESS;
  } else if (in->io.connect_err) {
    ret = -in->io.connect_err; /* the armed connect completed with it */
    in->io.connect_err = 0;
  } else {
    int fd = lgrt_accept4(in->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      in->fd = fd;
      in->io.connected = true;
      post_register(in, NULL); /* mio: an immediate connect posts the registration's readiness */
      ret = 0;
    } else if (errno != EAGAIN) {
      ret = -errno;
    } else if (!in->io.cp) {
      ret = -EAGAIN; /* nothing to complete on: register first */
    } else {
      ref(in, CONNECT_REF); /* the pending connect's */
      in->io.connecting = true;
      ret = lgrt_port_watch(in->io.cp, in->listen_fd, LGRT_READABLE, 0, &in->connect_ovl, true);
      if (ret) {
        in->io.connecting = false;
        unref_unused(in, CONNECT_REF);
      } else {
        ret = -EINPROGRESS;
      }
    }
  }
  lg_mutex_unlock(&in->lock);
  return ret;
}

/* ---- I/O ---------------------------------------------------------------------------- */

ssize_t lgrt_pipe_read(lgrt_pipe *p, void *buf, size_t cap) {
  struct inner *in = p->inner;
  ssize_t ret;
  lg_mutex_lock(&in->lock);
  switch (in->io.read) {
  case READ_NONE:
    schedule_read(in, NULL);
    ret = -EAGAIN;
    break;
  case READ_PENDING:
    ret = -EAGAIN;
    break;
  case READ_OK: {
    size_t n = in->io.len - in->io.pos;
    if (n > cap) n = cap;
    memcpy(buf, in->io.buf + in->io.pos, n);
    in->io.pos += n;
    if (in->io.pos == in->io.len) {
      in->io.read = READ_NONE;
      schedule_read(in, NULL);
    }
    ret = (ssize_t)n;
    break;
  }
  default: /* READ_ERR */
    in->io.read = READ_NONE;
    if (in->io.read_err == 0) {
      /* mio: Err(ERROR_BROKEN_PIPE) reads as Ok(0) and schedules the next read, which fails
       * at once and says READABLE from user context (the second raw post of tokio#6369) */
      schedule_read(in, NULL);
      ret = 0;
    } else {
      ret = -in->io.read_err;
    }
    break;
  }
  lg_mutex_unlock(&in->lock);
  return ret;
}

ssize_t lgrt_pipe_write(lgrt_pipe *p, const void *buf, size_t len) {
  struct inner *in = p->inner;
  lg_mutex_lock(&in->lock);
  int fd = in->io.connected ? in->fd : -1;
  lg_mutex_unlock(&in->lock);
  if (fd < 0) return -ENOTCONN;
  ssize_t n = lgrt_send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
  return n < 0 ? -errno : n;
}

int lgrt_pipe_disconnect(lgrt_pipe *p) {
  struct inner *in = p->inner;
  lg_mutex_lock(&in->lock);
  int ret = in->io.connected ? (lgrt_shutdown(in->fd, SHUT_RDWR) == 0 ? 0 : -errno) : -ENOTCONN;
  lg_mutex_unlock(&in->lock);
  return ret;
}

void lgrt_pipe_drop(lgrt_pipe *p) {
  if (!p) return;
  struct inner *in = p->inner;
  lg_mutex_lock(&in->lock);
  /* NamedPipe::drop cancels pending reads and connects (CancelIoEx); each cancelled operation
   * still completes, once, and its completion releases the operation's reference. */
  if (in->io.read_armed) {
    in->io.read_armed = false;
    lgrt_port_unwatch(in->io.cp, in->fd);
    lgrt_port_post(in->io.cp, &(lgrt_packet){.ovl = &in->read_ovl, .flags = LGRT_CANCELLED});
  }
  if (in->io.connecting) {
    in->io.connecting = false;
    lgrt_port_unwatch(in->io.cp, in->listen_fd);
    lgrt_port_post(in->io.cp, &(lgrt_packet){.ovl = &in->connect_ovl, .flags = LGRT_CANCELLED});
  }
  lg_mutex_unlock(&in->lock);
  free(p);
  /* (pipe-drop-ops-check, planted: a drop that frees the pipe at once when its count of
   * operations in flight reads zero, instead of leaving it to the last reference. A
   * completion counts itself out before it gives its reference back, so the one that just
   * consumed this drop's cancellation may still be between the two: its decrement then
   * writes freed memory) */
  if (lg_fault(LG_FAULT_PIPE_DROP_OPS_CHECK) && lg_atomic_load(&in->ops) == 0) {
    lg_ref_drop(in, PIPE_REF);
    inner_free(in);
    return;
  }
  unref(in, PIPE_REF);
}

/* ---- registration ------------------------------------------------------------------- */

static int pipe_reg(void *src, lgrt_port *port, uint64_t token, uint32_t interest) {
  (void)interest;
  struct inner *in = ((lgrt_pipe *)src)->inner;
  int ret = 0;
  lg_mutex_lock(&in->lock);
  if (in->io.registered) {
    ret = -EEXIST;
  } else if (in->io.cp && in->io.cp != port) {
    ret = -EINVAL; /* one completion port per handle, as on Windows */
  } else {
    in->io.cp = port;
    in->io.token = token;
    in->io.registered = true;
    in->io.generation++;
    post_register(in, NULL); /* mio: register posts the pipe's current readiness */
  }
  lg_mutex_unlock(&in->lock);
  return ret;
}

static int pipe_dereg(void *src, lgrt_port *port) {
  (void)port;
  struct inner *in = ((lgrt_pipe *)src)->inner;
  lg_mutex_lock(&in->lock);
  int ret = in->io.registered ? 0 : -ENOENT;
  in->io.registered = false; /* mio: io.token = None; packets already posted stay posted */
  in->io.token = 0;
  lg_mutex_unlock(&in->lock);
  return ret;
}

const lgrt_source_ops lgrt_pipe_source = {pipe_reg, pipe_dereg};

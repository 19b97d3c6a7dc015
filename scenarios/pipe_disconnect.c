/* SPDX-License-Identifier: MIT */
/* Class pipe-disconnect: an I/O completion delivered to a freed registration (tokio#6369 /
 * mio 0.8.10, and its relatives).
 *
 * The runtime pieces live in runtime/{port,io,pipe}; these are the application sequences
 * that lead the driver to dispatch a stale token, each written the way the original code
 * did it (tokio's PollEvented over mio's NamedPipe). Under ASan a buggy run is a
 * heap-use-after-free whose access is in lgrt_sched_io_set_readiness (the readiness update)
 * and whose free is in lgrt_driver_release_pending (the registration set's release). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <lgrt/io.h>
#include <lgrt/pipe.h>
#include <lgrt/faults.h>
#include <lifeguard/sched.h>

#include "common/scenario.h"

#define NOINLINE __attribute__((noinline))

/* ---- helpers ------------------------------------------------------------------------ */

static void pipe_name(char *buf, size_t cap) {
  static unsigned long counter;
  snprintf(buf, cap, "lifeguard-pipe-%d-%lu", (int)getpid(), counter++);
}

/* A pipe registered with the driver: tokio's NamedPipeServer / NamedPipeClient. */
typedef struct tokio_pipe {
  lgrt_pipe *pipe;
  lgrt_registration reg;
} tokio_pipe;

static int tokio_pipe_register(tokio_pipe *t, lgrt_driver *d) {
  return lgrt_registration_new(&t->reg, d, t->pipe, &lgrt_pipe_source,
                               LGRT_READABLE | LGRT_WRITABLE);
}

/* Drop: PollEvented::drop deregisters (the object goes to the pending-release list), then
 * the mio pipe is dropped. */
static void tokio_pipe_drop(tokio_pipe *t) {
  lgrt_registration_drop(&t->reg);
  lgrt_pipe_drop(t->pipe);
  t->pipe = NULL;
}

/* Reads until data or end of stream, waiting for READABLE; returns bytes, 0 at the end. */
static ssize_t tokio_pipe_read(tokio_pipe *t, void *buf, size_t cap) {
  for (;;) {
    lgrt_registration_clear(&t->reg, LGRT_READABLE);
    ssize_t n = lgrt_pipe_read(t->pipe, buf, cap);
    if (n != -EAGAIN) return n;
    if (!(lgrt_registration_wait(&t->reg, LGRT_READABLE, -1) & LGRT_READABLE))
      return -ECANCELED; /* the driver shut down */
  }
}

/* The tail every scenario shares: consume the cancellations, close the driver, and check
 * that every pipe's inner state went away (a packet holding a reference would keep one). */
static int finish(lgrt_driver *d, long inners_before) {
  lgrt_driver_turn(d, 0);
  lgrt_driver_close(d);
  long left = lgrt_pipe_live_inners() - inners_before;
  if (left != 0) {
    fprintf(stderr, "pipe_disconnect: %ld pipe inner state(s) outlived the runtime\n", left);
    return LG_SCENARIO_SYMPTOM;
  }
  return LG_SCENARIO_CLEAN;
}

/* A step failed (`status` from lg_scenario_fail): drop what exists, close the driver. */
static int give_up(int status, lgrt_driver *d, tokio_pipe *a, tokio_pipe *b) {
  if (a) tokio_pipe_drop(a);
  if (b) tokio_pipe_drop(b);
  if (d) {
    lgrt_driver_turn(d, 0);
    lgrt_driver_close(d);
  }
  return status;
}

/* A current-thread runtime, a registered server whose connect is pending, and a client just
 * connected to it (not registered yet). On failure nothing is left open. */
static int open_pair(lgrt_driver **d, tokio_pipe *server, tokio_pipe *client) {
  if (lgrt_driver_open(d, LGRT_TOKEN_RAW, LGRT_LOOP_TASKS)) return lg_scenario_fail("driver");
  char name[64];
  pipe_name(name, sizeof name);
  if (lgrt_pipe_server_create(name, &server->pipe) || tokio_pipe_register(server, *d))
    return give_up(lg_scenario_fail("server pipe"), *d, server, NULL);
  lgrt_pipe_server_connect(server->pipe); /* pending until a client comes */
  if (lgrt_pipe_client_open(name, &client->pipe))
    return give_up(lg_scenario_fail("client pipe"), *d, server, client);
  return LG_SCENARIO_CLEAN;
}

/* ---- 1. client-open-drop: tokio#6364's repro, on a current-thread runtime ------------ */

/* `let _ = ClientOptions::new().open(name)`: the client registers (mio posts WRITABLE with
 * its token) and is dropped at once; the next turn releases its scheduled-io object and then
 * dequeues the packet. No other thread is involved: every schedule does it. */
static NOINLINE int run_client_open_drop(const lg_scenario_ctx *ctx) {
  (void)ctx;
  long inners = lgrt_pipe_live_inners();
  lgrt_driver *d;
  tokio_pipe server = {0}, client = {0};
  int err = open_pair(&d, &server, &client);
  if (err) return err;
  if (tokio_pipe_register(&client, d))
    return give_up(lg_scenario_fail("client registration"), d, &server, &client);
  tokio_pipe_drop(&client); /* `let _ =` */
  lgrt_driver_turn(d, 0);   /* release, poll, dispatch */
  tokio_pipe_drop(&server);
  return finish(d, inners);
}

/* ---- 2. disconnect-race: a multi-thread runtime ------------------------------------- */

typedef struct race {
  lgrt_driver *d;
  const char *name;
  tokio_pipe server;
  ssize_t received;
  int status;
} race;

/* The runtime's I/O driver thread: turns until shut down. */
static void driver_actor(void *p) {
  race *r = p;
  while (!lgrt_driver_is_shutdown(r->d)) lgrt_driver_turn(r->d, -1);
}

/* The server task: accept, read to the end, drop the pipe. */
static void server_task(void *p) {
  race *r = p;
  tokio_pipe *s = &r->server;
  for (;;) {
    lgrt_registration_clear(&s->reg, LGRT_WRITABLE);
    int rc = lgrt_pipe_server_connect(s->pipe);
    if (rc == 0 || rc == -EISCONN) break;
    if (rc != -EINPROGRESS && rc != -EAGAIN) {
      errno = -rc;
      r->status = lg_scenario_fail("connect");
      tokio_pipe_drop(s);
      return;
    }
    if (!(lgrt_registration_wait(&s->reg, LGRT_WRITABLE, -1) & LGRT_WRITABLE)) {
      r->status = lg_scenario_fail("connect: the runtime shut down"); /* the client failed */
      tokio_pipe_drop(s);
      return;
    }
  }
  char buf[64];
  ssize_t n;
  while ((n = tokio_pipe_read(s, buf, sizeof buf)) > 0) r->received += n;
  if (n < 0) {
    errno = (int)-n;
    r->status = lg_scenario_fail("server read");
  }
  /* the reply finds the client gone */
  if (lgrt_pipe_write(s->pipe, "bye", 3) >= 0) r->status = lg_scenario_fail("reply to a gone client");
  tokio_pipe_drop(s); /* after end of stream: the read that saw it posted READABLE */
}

/* The client: another program's plain blocking client (not registered with this runtime):
 * connect, write, disconnect. */
static void client_task(void *p) {
  race *r = p;
  lgrt_pipe *c;
  if (lgrt_pipe_client_open(r->name, &c)) {
    r->status = lg_scenario_fail("client pipe");
    lgrt_driver_shutdown(r->d); /* nobody will connect: the application stops its runtime */
    return;
  }
  if (lgrt_pipe_write(c, "hello", 5) != 5) r->status = lg_scenario_fail("client write");
  lgrt_pipe_disconnect(c);
  lgrt_pipe_drop(c);
}

static NOINLINE int run_disconnect_race(const lg_scenario_ctx *ctx) {
  (void)ctx;
  long inners = lgrt_pipe_live_inners();
  race r = {0};
  char name[64];
  pipe_name(name, sizeof name);
  r.name = name;
  if (lgrt_driver_open(&r.d, LGRT_TOKEN_RAW, LGRT_LOOP_TASKS)) return lg_scenario_fail("driver");
  if (lgrt_pipe_server_create(name, &r.server.pipe) || tokio_pipe_register(&r.server, r.d))
    return give_up(lg_scenario_fail("server pipe"), r.d, &r.server, NULL);
  lg_actor *drv = lg_spawn(driver_actor, &r, "driver");
  lg_actor *srv = lg_spawn(server_task, &r, "server");
  lg_actor *cli = lg_spawn(client_task, &r, "client");
  lg_join(srv);
  lg_join(cli);
  lgrt_driver_shutdown(r.d);
  lg_join(drv);
  if (r.status) {
    finish(r.d, inners);
    return r.status;
  }
  if (r.received != 5) {
    fprintf(stderr, "pipe_disconnect: the server read %zd bytes, not 5\n", r.received);
    return LG_SCENARIO_SYMPTOM;
  }
  return finish(r.d, inners);
}

/* ---- 3. reregister-stale-token: mio 0.8.11's residual gap ---------------------------- */

/* tokio's PollEvented::into_inner gives the mio pipe back (deregistered); a new PollEvented
 * registers it again under a new scheduled-io object. The WRITABLE posted for the first
 * registration is still queued. mio 0.8.11 delivers it because the pipe *is* registered, with
 * the first registration's token. */
static NOINLINE int run_reregister_stale_token(const lg_scenario_ctx *ctx) {
  (void)ctx;
  long inners = lgrt_pipe_live_inners();
  lgrt_driver *d;
  tokio_pipe server = {0}, client = {0};
  int err = open_pair(&d, &server, &client);
  if (err) return err;
  if (tokio_pipe_register(&client, d))
    return give_up(lg_scenario_fail("client registration"), d, &server, &client);
  lgrt_registration_drop(&client.reg);               /* into_inner: deregistered, kept */
  if (tokio_pipe_register(&client, d))
    return give_up(lg_scenario_fail("register again"), d, &server, &client);
  lgrt_driver_turn(d, 0);
  int status = LG_SCENARIO_CLEAN;
  if (!(lgrt_registration_readiness(&client.reg) & LGRT_WRITABLE)) {
    fprintf(stderr, "pipe_disconnect: the new registration never became writable\n");
    status = LG_SCENARIO_SYMPTOM;
  }
  tokio_pipe_drop(&client);
  tokio_pipe_drop(&server);
  int fin = finish(d, inners);
  return status ? status : fin;
}

/* ---- 4. handoff-race: mio 0.8.11's residual on a multi-thread runtime ----------------- */

/* A server pipe instance serves one client and is then recycled: the server task ends and
 * gives its pipe back (into_inner: deregistered, kept), the supervisor that awaited it hands
 * the pipe to the next owner task, and that one registers it again under its own
 * scheduled-io object. The server's last read found the client gone and posted READABLE for
 * the first registration. Harmful only when the driver thread stalls from waking the server
 * for that read until the next owner has registered, two hand-offs later: then its next turn
 * releases the first object and the presence check lets the old token through. A thread the
 * OS schedules is usually back in its next turn within a few hundred nanoseconds of the wake,
 * but not always: the woken server may preempt it on its core, or the machine is busy. */
typedef struct handoff {
  race r;
  lg_mutex lock;
  lg_cond given;
  lgrt_pipe *pipe; /* the pipe being handed over, deregistered */
  bool given_over;
} handoff;

/* The server task: accept, read to the end, give the (deregistered) pipe back. */
static void handoff_server(void *p) {
  handoff *h = p;
  race *r = &h->r;
  tokio_pipe *s = &r->server;
  for (;;) {
    lgrt_registration_clear(&s->reg, LGRT_WRITABLE);
    int rc = lgrt_pipe_server_connect(s->pipe);
    if (rc == 0 || rc == -EISCONN) break;
    if (rc != -EINPROGRESS && rc != -EAGAIN) {
      errno = -rc;
      r->status = lg_scenario_fail("connect");
      break;
    }
    if (!(lgrt_registration_wait(&s->reg, LGRT_WRITABLE, -1) & LGRT_WRITABLE)) {
      r->status = lg_scenario_fail("connect: the runtime shut down"); /* the client failed */
      break;
    }
  }
  char buf[64];
  ssize_t n = 0;
  while (!r->status && (n = tokio_pipe_read(s, buf, sizeof buf)) > 0) r->received += n;
  if (!r->status && n < 0) {
    errno = (int)-n;
    r->status = lg_scenario_fail("server read");
  }
  /* into_inner: deregistered, the pipe kept; given to the next owner even after a failure,
   * which drops it */
  lgrt_registration_drop(&s->reg);
}

/* The next owner: takes the pipe, registers it under a new scheduled-io object, drops it. */
static void handoff_next(void *p) {
  handoff *h = p;
  lg_mutex_lock(&h->lock);
  while (!h->given_over) lg_cond_wait(&h->given, &h->lock);
  tokio_pipe t = {h->pipe, {0}};
  h->pipe = NULL;
  lg_mutex_unlock(&h->lock);
  if (!t.pipe) return; /* the supervisor had nothing to give */
  if (tokio_pipe_register(&t, h->r.d)) {
    h->r.status = lg_scenario_fail("register the handed-over pipe");
    lgrt_pipe_drop(t.pipe);
    return;
  }
  tokio_pipe_drop(&t);
}

/* The supervisor (this actor): awaits the server task, then recycles its pipe. */
static NOINLINE int run_handoff_race(const lg_scenario_ctx *ctx) {
  (void)ctx;
  long inners = lgrt_pipe_live_inners();
  handoff h = {0};
  race *r = &h.r;
  char name[64];
  pipe_name(name, sizeof name);
  r->name = name;
  if (lgrt_driver_open(&r->d, LGRT_TOKEN_RAW, LGRT_LOOP_TASKS)) return lg_scenario_fail("driver");
  if (lgrt_pipe_server_create(name, &r->server.pipe) || tokio_pipe_register(&r->server, r->d))
    return give_up(lg_scenario_fail("server pipe"), r->d, &r->server, NULL);
  lg_mutex_init(&h.lock);
  lg_cond_init(&h.given);
  lg_actor *drv = lg_spawn(driver_actor, r, "driver");
  lg_actor *srv = lg_spawn(handoff_server, &h, "server");
  lg_actor *nxt = lg_spawn(handoff_next, &h, "next-owner");
  lg_actor *cli = lg_spawn(client_task, r, "client");
  lg_join(srv);
  lg_mutex_lock(&h.lock);
  h.pipe = r->server.pipe;
  r->server.pipe = NULL;
  h.given_over = true;
  lg_cond_signal(&h.given);
  lg_mutex_unlock(&h.lock);
  lg_join(nxt);
  lg_join(cli);
  lgrt_driver_shutdown(r->d);
  lg_join(drv);
  lg_cond_destroy(&h.given);
  lg_mutex_destroy(&h.lock);
  int fin = finish(r->d, inners);
  if (r->status) return r->status;
  if (r->received != 5) {
    fprintf(stderr, "pipe_disconnect: the server read %zd bytes, not 5\n", r->received);
    return LG_SCENARIO_SYMPTOM;
  }
  return fin;
}

/* ---- drop-cancel-race: the class's needle (two windows) ------------------------------ */

/* The server task reads the client's one request and drops its pipe while the next read is
 * armed: the drop cancels the read (its cancellation packet now holds the read's reference)
 * and gives up the pipe's own reference. With `pipe-drop-ops-check` the drop frees the inner
 * state at once when its count of operations in flight reads zero. The driver consumes the
 * cancellation on its own thread, counts it out (the pipe's count, then the process's) and
 * only then decrements the inner state's reference count. The harm needs two stalls, each a
 * few instructions long in one thread with no wake-up of the other inside: the server right
 * after its post (the driver, woken by that post, must consume the cancellation and count it
 * out before the server reads the count), and then the driver between its count and its
 * decrement while the server reads zero and frees. The decrement then writes freed memory: a
 * heap-use-after-free (ASan, or the page heap in the plain build) in `unref`, called by
 * `read_done` on the driver's thread, of the inner state freed by `lgrt_pipe_drop`. */
typedef struct cancel_app {
  lgrt_driver *d;
  tokio_pipe server;
  ssize_t received;
  int status;
} cancel_app;

static void cancel_driver(void *p) {
  cancel_app *a = p;
  while (!lgrt_driver_is_shutdown(a->d)) lgrt_driver_turn(a->d, -1);
}

/* The server task: accept, read the one request, drop the pipe (the next read is armed). */
static NOINLINE void cancel_server(void *p) {
  cancel_app *a = p;
  tokio_pipe *s = &a->server;
  for (;;) {
    lgrt_registration_clear(&s->reg, LGRT_WRITABLE);
    int rc = lgrt_pipe_server_connect(s->pipe);
    if (rc == 0 || rc == -EISCONN) break;
    if (rc != -EINPROGRESS && rc != -EAGAIN) {
      errno = -rc;
      a->status = lg_scenario_fail("connect");
      break;
    }
    if (!(lgrt_registration_wait(&s->reg, LGRT_WRITABLE, -1) & LGRT_WRITABLE)) {
      a->status = lg_scenario_fail("connect: the runtime shut down");
      break;
    }
  }
  char buf[64];
  while (!a->status && a->received < 5) {
    ssize_t n = tokio_pipe_read(s, buf, sizeof buf);
    if (n <= 0) {
      errno = n < 0 ? (int)-n : EPIPE;
      a->status = lg_scenario_fail("server read");
      break;
    }
    a->received += n;
  }
  tokio_pipe_drop(s); /* the request is served: its next read is cancelled */
}

static NOINLINE int run_drop_cancel_race(const lg_scenario_ctx *ctx) {
  (void)ctx;
  long inners = lgrt_pipe_live_inners();
  cancel_app a = {0};
  char name[64];
  pipe_name(name, sizeof name);
  if (lgrt_driver_open(&a.d, LGRT_TOKEN_RAW, LGRT_LOOP_TASKS)) return lg_scenario_fail("driver");
  if (lgrt_pipe_server_create(name, &a.server.pipe) || tokio_pipe_register(&a.server, a.d))
    return give_up(lg_scenario_fail("server pipe"), a.d, &a.server, NULL);
  lg_actor *drv = lg_spawn(cancel_driver, &a, "driver");
  lg_actor *srv = lg_spawn(cancel_server, &a, "server");
  /* this actor is the client, another program's plain blocking one: connect, send the
   * request, stay connected until the server is done with it, disconnect */
  lgrt_pipe *c = NULL;
  if (lgrt_pipe_client_open(name, &c)) {
    a.status = lg_scenario_fail("client pipe");
    lgrt_driver_shutdown(a.d); /* nobody will connect: the server task gives up */
  } else if (lgrt_pipe_write(c, "hello", 5) != 5) {
    a.status = lg_scenario_fail("client write");
    lgrt_pipe_disconnect(c); /* the server reads the end and gives up */
  }
  lg_join(srv);
  if (c) {
    lgrt_pipe_disconnect(c);
    lgrt_pipe_drop(c);
  }
  lgrt_driver_shutdown(a.d);
  lg_join(drv);
  int fin = finish(a.d, inners);
  if (a.status) return a.status;
  if (a.received != 5) {
    fprintf(stderr, "pipe_disconnect: the server read %zd bytes, not 5\n", a.received);
    return LG_SCENARIO_SYMPTOM;
  }
  return fin;
}

/* ---- 5. epoll-stale-batch: libuv#826 on a callback loop ------------------------------ */

typedef struct batch_app {
  lgrt_driver *d;
  int a[2], b[2], c[2];
  lgrt_registration ra, rb, rc;
  bool b_open, c_open;
  uint32_t c_readiness; /* what the new registration was told */
} batch_app;

static void on_c(void *arg, uint32_t readiness) {
  batch_app *app = arg;
  app->c_readiness |= readiness;
}

static void on_b(void *arg, uint32_t readiness) {
  (void)readiness;
  batch_app *app = arg;
  char buf[16];
  (void)!read(app->b[0], buf, sizeof buf);
}

/* A's callback closes B and opens C, which takes B's descriptor number when nothing holds it
 * (libuv#826: "fd closed and its number reopened inside a callback"). */
static void on_a(void *arg, uint32_t readiness) {
  (void)readiness;
  batch_app *app = arg;
  char buf[16];
  (void)!read(app->a[0], buf, sizeof buf);
  if (!app->b_open) return;
  lgrt_registration_drop(&app->rb); /* released at once: a callback loop */
  close(app->b[0]);
  close(app->b[1]);
  app->b_open = false;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, app->c) != 0) return;
  if (lgrt_registration_new(&app->rc, app->d, &app->c[0], &lgrt_fd_source, LGRT_READABLE)) {
    close(app->c[0]); /* C could not be registered: the application drops it */
    close(app->c[1]);
    return;
  }
  lgrt_registration_set_callback(&app->rc, on_c, app);
  app->c_open = true;
}

/* Drops the registrations and closes the driver and every pair still open. */
static void batch_app_close(batch_app *app) {
  lgrt_registration_drop(&app->ra);
  if (app->b_open) lgrt_registration_drop(&app->rb);
  if (app->c_open) lgrt_registration_drop(&app->rc);
  lgrt_driver_close(app->d);
  int *pairs[] = {app->a, app->b_open ? app->b : NULL, app->c_open ? app->c : NULL};
  for (int i = 0; i < 3; i++) {
    if (!pairs[i] || pairs[i][0] < 0) continue;
    close(pairs[i][0]);
    close(pairs[i][1]);
  }
}

static NOINLINE int run_epoll_stale_batch(const lg_scenario_ctx *ctx) {
  (void)ctx;
  batch_app app = {.a = {-1, -1}, .b = {-1, -1}, .c = {-1, -1}};
  if (lgrt_driver_open(&app.d, LGRT_TOKEN_RAW, LGRT_LOOP_CALLBACKS)) return lg_scenario_fail("driver");
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, app.a) ||
      socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, app.b)) {
    int status = lg_scenario_fail("socketpair");
    app.b_open = app.b[0] >= 0;
    batch_app_close(&app);
    return status;
  }
  app.b_open = true;
  if (lgrt_registration_new(&app.ra, app.d, &app.a[0], &lgrt_fd_source, LGRT_READABLE) ||
      lgrt_registration_new(&app.rb, app.d, &app.b[0], &lgrt_fd_source, LGRT_READABLE)) {
    int status = lg_scenario_fail("register");
    batch_app_close(&app);
    return status;
  }
  lgrt_registration_set_callback(&app.ra, on_a, &app);
  lgrt_registration_set_callback(&app.rb, on_b, &app);
  /* both readable: one poll returns both, in an order that is a decision */
  if (write(app.a[1], "a", 1) != 1 || write(app.b[1], "b", 1) != 1) {
    int status = lg_scenario_fail("write");
    batch_app_close(&app);
    return status;
  }
  lgrt_driver_turn(app.d, 0);
  if (app.b_open) { /* B came first in the batch; A's callback closed it afterwards */
    lgrt_driver_turn(app.d, 0);
  }
  int status = LG_SCENARIO_CLEAN;
  if (app.c_readiness) {
    /* nothing was written to C: it received B's stale event (its scheduled-io object took
     * the freed one's address) */
    fprintf(stderr, "pipe_disconnect: the new registration received a stale event (0x%x)\n",
            app.c_readiness);
    status = LG_SCENARIO_SYMPTOM;
  }
  batch_app_close(&app);
  return status;
}

/* ---- 5-7: contracts broken without a memory symptom (the functional oracles) ---------- */

/* tokio <= 1.29 with mio 0.8.10: slab tokens (slot + generation) on a callback loop, which
 * releases a dropped registration at once. A client registers (mio posts WRITABLE with its
 * token and no reference) and is dropped; a second client takes the freed slot; the turn
 * dequeues the first client's packet. With the generation compared the token is stale and
 * ignored; without it, the event goes to the second client. Nothing is freed that is used:
 * only the delivery oracle sees it (misdelivered-event). */
static NOINLINE int run_slot_reuse(const lg_scenario_ctx *ctx) {
  (void)ctx;
  long inners = lgrt_pipe_live_inners();
  lgrt_driver *d;
  if (lgrt_driver_open(&d, LGRT_TOKEN_SLOT, LGRT_LOOP_CALLBACKS)) return lg_scenario_fail("driver");
  char name[64];
  pipe_name(name, sizeof name);
  tokio_pipe server = {0}, first = {0}, second = {0};
  if (lgrt_pipe_server_create(name, &server.pipe) || tokio_pipe_register(&server, d))
    return give_up(lg_scenario_fail("server pipe"), d, &server, NULL);
  lgrt_pipe_server_connect(server.pipe);
  if (lgrt_pipe_client_open(name, &first.pipe) || tokio_pipe_register(&first, d))
    return give_up(lg_scenario_fail("first client"), d, &server, &first);
  uint64_t first_token = lgrt_registration_token(&first.reg);
  tokio_pipe_drop(&first); /* released at once: its slot is free for the next registration */
  if (lgrt_pipe_client_open(name, &second.pipe) || tokio_pipe_register(&second, d))
    return give_up(lg_scenario_fail("second client"), d, &server, &second);
  uint64_t second_token = lgrt_registration_token(&second.reg);
  if ((first_token & 0xffffffffu) != (second_token & 0xffffffffu)) {
    fprintf(stderr, "pipe_disconnect: the second client did not take the first one's slot\n");
    return give_up(LG_SCENARIO_ERROR, d, &server, &second);
  }
  lgrt_driver_turn(d, 0); /* the first client's WRITABLE, then the second's */
  tokio_pipe_drop(&second);
  tokio_pipe_drop(&server);
  return finish(d, inners);
}

/* A client registers (mio 0.8.11 posts WRITABLE naming the event overlapped, which owns a
 * reference to the pipe's inner state) and the turn consumes the packet while the client is
 * still open; its consumer releases the packet's reference. Posted without one, that release
 * takes the client's own: reported by the reference ledger at the release (over-release),
 * before the inner state is freed under the client. */
static NOINLINE int run_post_without_ref(const lg_scenario_ctx *ctx) {
  (void)ctx;
  long inners = lgrt_pipe_live_inners();
  lgrt_driver *d;
  tokio_pipe server = {0}, client = {0};
  int err = open_pair(&d, &server, &client);
  if (err) return err;
  if (tokio_pipe_register(&client, d))
    return give_up(lg_scenario_fail("client registration"), d, &server, &client);
  lgrt_driver_turn(d, 0);
  int status = LG_SCENARIO_CLEAN;
  if (!(lgrt_registration_readiness(&client.reg) & LGRT_WRITABLE)) {
    fprintf(stderr, "pipe_disconnect: the client never became writable\n");
    status = LG_SCENARIO_SYMPTOM;
  }
  tokio_pipe_drop(&client);
  tokio_pipe_drop(&server);
  int fin = finish(d, inners);
  return status ? status : fin;
}

/* A client registers and is dropped; its registration's drop must give back the user's
 * reference on the scheduled-io object, or the object outlives its driver: reported by the
 * reference ledger when the driver closes (reference-leak). */
static NOINLINE int run_drop_keeps_ref(const lg_scenario_ctx *ctx) {
  (void)ctx;
  long inners = lgrt_pipe_live_inners();
  lgrt_driver *d;
  tokio_pipe server = {0}, client = {0};
  int err = open_pair(&d, &server, &client);
  if (err) return err;
  if (tokio_pipe_register(&client, d))
    return give_up(lg_scenario_fail("client registration"), d, &server, &client);
  lgrt_driver_turn(d, 0);
  tokio_pipe_drop(&client);
  lgrt_driver_turn(d, 0);
  tokio_pipe_drop(&server);
  return finish(d, inners);
}

static const lg_scenario scenarios[] = {
    {"client-open-drop", {"pipe-post-raw-token", NULL},
     "a client opens, registers and is dropped at once; the next turn frees its object, then "
     "dequeues the WRITABLE posted with its raw token (tokio#6364)",
     run_client_open_drop},
    {"disconnect-race", {"pipe-post-raw-token", NULL},
     "driver, server and client actors: the client writes and disconnects, the server reads to "
     "the end and drops the pipe before the driver dequeues the READABLE that the end posted",
     run_disconnect_race},
    {"reregister-stale-token", {"pipe-event-presence-check", NULL},
     "with mio 0.8.11's fix: the pipe is deregistered and registered again before the packet "
     "posted for the first registration is consumed; a presence check lets its token through",
     run_reregister_stale_token},
    {"handoff-race", {"pipe-event-presence-check", NULL},
     "with mio 0.8.11's fix, on a multi-thread runtime: the server reads to the end and hands "
     "its pipe to a next owner that registers it again; if the driver stalls from waking the "
     "server until then, the READABLE posted for the first registration passes the presence "
     "check after the release",
     run_handoff_race},
    {"drop-cancel-race", {"pipe-drop-ops-check", NULL},
     "the class's needle: the server task reads one request and drops its pipe with the next "
     "read armed; the drop frees the pipe when its count of operations in flight reads zero, "
     "and the driver, which consumed the cancellation, is between its count and its decrement",
     run_drop_cancel_race},
    {"epoll-stale-batch", {"port-stale-batch", NULL},
     "a callback loop: A's callback closes B and opens C in B's descriptor number while B's "
     "event is still in the same poll batch (libuv#826)",
     run_epoll_stale_batch},
    {"slot-reuse", {"pipe-post-raw-token", "slot-generation-unchecked", NULL},
     "slab tokens on a callback loop: a client's WRITABLE is still queued when a second client "
     "takes its slot; without the generation compared, the second receives it",
     run_slot_reuse},
    {"post-without-ref", {"pipe-post-no-ref", NULL},
     "a client's registration posts WRITABLE; the turn consumes it while the client is open, "
     "and the consumer releases a reference the post did not take",
     run_post_without_ref},
    {"drop-keeps-ref", {"registration-drop-keeps-ref", NULL},
     "a client registers and is dropped; the drop keeps the user's reference on the "
     "scheduled-io object, which outlives the driver",
     run_drop_keeps_ref},
};

int main(int argc, char **argv) {
  static const lg_scenario_program program = {
      "pipe_disconnect", "pipe-disconnect", scenarios, sizeof scenarios / sizeof *scenarios};
  return lg_scenario_main(&program, argc, argv);
}

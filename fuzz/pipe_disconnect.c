/* SPDX-License-Identifier: MIT */
/* Fuzz target of the pipe-disconnect class: named-pipe operations of two task actors beside a
 * driver actor that turns the I/O driver, and the order they all run in, both from the input.
 *
 * Input: byte 0 = how many operation bytes follow (mod 48) + 48 * the driver's configuration;
 * then the operations; the rest is the schedule (one byte per decision, lg_source_bytes). An
 * operation byte names its actor (b % 2), its operation ((b / 2) % OP_COUNT) and its end
 * ((b / (2 * OP_COUNT)) % 2): each actor has a pipe name with a server end (0) and a client
 * end (1), each of which may be registered with the driver (tokio's NamedPipeServer/
 * NamedPipeClient) or not.
 *
 * The configuration (byte 0 / 48) is the driver's: bit 0 its token policy (0 raw tokens, 1
 * slot tokens), bit 1 its loop style, bit 2 (4 and 5: task loops) an early shutdown: the main
 * actor shuts the driver down once actor 0 is done, while actor 1 may still hold registrations
 * and wait on them; what is still queued is dispatched by one last turn or released when the
 * port closes. A task loop (0) is tokio's: the driver actor
 * turns the driver and the two task actors wait on readiness. A callback loop (1) is libuv's:
 * one loop actor runs both actors' operations in turn (actor 0's first, then actor 1's, ...),
 * every registration has a callback, OP_WAIT turns the loop (up to 1 ms virtual) and OP_YIELD
 * turns it without waiting; a callback that sees the peer gone (READ_CLOSED or ERROR) closes
 * its end and the other end of the same name, whose events may still be in the batch being
 * dispatched (libuv#826's shape: they must be withdrawn).
 *
 * The fixed runtime (no fault switch) is clean for every input. With LIFEGUARD_FAULTS=
 * pipe-post-raw-token (mio 0.8.10) or pipe-event-presence-check (mio 0.8.11's residual) a
 * packet can outlive the scheduled-io object its token names; ASan reports the
 * heap-use-after-free in the driver's readiness update and libFuzzer keeps the input.
 * A pipe's inner state that outlives the run (a reference never released) aborts too, and so
 * does a scheduled-io object the driver allocated and never freed. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lgrt/io.h>
#include <lgrt/pipe.h>
#include <lifeguard/fdcheck.h>
#include <lifeguard/oracle.h>
#include <lifeguard/options.h>
#include <lifeguard/report.h>
#include <lifeguard/sched.h>

#include "class_input.h"

enum {
  OP_OPEN,       /* server end: create and register it; client end: connect to the server */
  OP_REGISTER,   /* register the end (a new scheduled-io object, a new token) */
  OP_DEREGISTER, /* deregister it and keep the pipe (PollEvented::into_inner) */
  OP_CONNECT,    /* server end: ConnectNamedPipe */
  OP_WRITE,
  OP_READ,       /* one non-blocking read */
  OP_WAIT,       /* wait (1 ms virtual at most) for readiness */
  OP_DISCONNECT,
  OP_DROP,       /* deregister and drop the pipe */
  OP_YIELD,
  OP_COUNT
};

#define ACTORS 2
#define MAX_OPS 48

struct actor_state;

struct end {
  lgrt_pipe *pipe;
  lgrt_registration reg;
  int registered;
  struct actor_state *owner;
};

struct actor_state {
  lgrt_driver *d;
  int callbacks; /* the driver is a callback loop: everything runs on the loop actor */
  int early_shutdown;
  int slot_tokens; /* the driver's token policy is LGRT_TOKEN_SLOT */
  char name[64];
  lg_fuzz_ops ops;
  struct end ends[2];
};

static void end_drop(struct end *e) {
  if (e->registered) lgrt_registration_drop(&e->reg);
  e->registered = 0;
  if (e->pipe) lgrt_pipe_drop(e->pipe);
  e->pipe = NULL;
}

/* A callback loop's callback (the loop actor, inside dispatch): the peer gone closes both ends
 * of the name, like a libuv read callback that closes its handle and its partner's. */
static void on_ready(void *arg, uint32_t readiness) {
  struct end *e = arg;
  if (!(readiness & (LGRT_READ_CLOSED | LGRT_ERROR))) return;
  struct actor_state *a = e->owner;
  end_drop(&a->ends[0]);
  end_drop(&a->ends[1]);
}

/* The slot tokens one execution's driver handed out. The policy's contract (lgrt/io.h): a
 * stale token finds an empty slot or another generation. So no token is handed out twice:
 * a slot taken again comes with a new generation, else an event still queued for the
 * registration that left the slot would name the one that took it. Nothing is freed by
 * such a bug, so no memory detector sees it, and in the fixed code the pipe's own
 * generation check drops a stale event before the driver resolves it: only the tokens
 * themselves tell. (Raw tokens are addresses and are reused by design.) */
#define TOKENS_KEPT 256
static uint64_t tokens[TOKENS_KEPT];
static size_t ntokens;

static void check_token(struct actor_state *a, uint64_t token) {
  if (!a->slot_tokens) return;
  for (size_t i = 0; i < ntokens; i++) {
    if (tokens[i] == token) {
      lg_contract_fail("pipe_disconnect: slot token %#llx handed out twice: a stale event "
                       "for the registration that left the slot would name this one",
                       (unsigned long long)token);
    }
  }
  if (ntokens < TOKENS_KEPT) tokens[ntokens++] = token;
}

static void end_register(struct actor_state *a, struct end *e) {
  e->registered = lgrt_registration_new(&e->reg, a->d, e->pipe, &lgrt_pipe_source,
                                        LGRT_READABLE | LGRT_WRITABLE) == 0;
  if (e->registered) check_token(a, lgrt_registration_token(&e->reg));
  if (e->registered && a->callbacks) lgrt_registration_set_callback(&e->reg, on_ready, e);
}

static void run_op(struct actor_state *a, uint8_t b) {
  unsigned op = (b / ACTORS) % OP_COUNT;
  unsigned which = (b / (ACTORS * OP_COUNT)) & 1;
  struct end *e = &a->ends[which];
  char buf[16];
  switch (op) {
  case OP_OPEN:
    if (e->pipe) break;
    if (which == 0) {
      if (lgrt_pipe_server_create(a->name, &e->pipe) == 0) end_register(a, e);
    } else if (a->ends[0].pipe) {
      lgrt_pipe_client_open(a->name, &e->pipe);
    }
    break;
  case OP_REGISTER:
    if (e->pipe && !e->registered) end_register(a, e);
    break;
  case OP_DEREGISTER:
    if (e->registered) lgrt_registration_drop(&e->reg);
    e->registered = 0;
    break;
  case OP_CONNECT:
    if (e->pipe && which == 0) lgrt_pipe_server_connect(e->pipe);
    break;
  case OP_WRITE:
    if (e->pipe) lgrt_pipe_write(e->pipe, "x", 1);
    break;
  case OP_READ:
    if (e->pipe) {
      if (e->registered) lgrt_registration_clear(&e->reg, LGRT_READABLE);
      lgrt_pipe_read(e->pipe, buf, sizeof buf);
    }
    break;
  case OP_WAIT:
    if (a->callbacks) lgrt_driver_turn(a->d, 1000000);
    else if (e->registered) lgrt_registration_wait(&e->reg, LGRT_READABLE | LGRT_WRITABLE, 1000000);
    break;
  case OP_DISCONNECT:
    if (e->pipe) lgrt_pipe_disconnect(e->pipe);
    break;
  case OP_DROP:
    end_drop(e);
    break;
  case OP_YIELD:
    if (a->callbacks) lgrt_driver_turn(a->d, 0);
    else lg_poll_point();
    break;
  }
}

static void task_actor(void *p) {
  struct actor_state *a = p;
  for (size_t i = 0; i < a->ops.n; i++) run_op(a, a->ops.op[i]);
  end_drop(&a->ends[1]);
  end_drop(&a->ends[0]);
}

/* The callback loop's one actor: the two actors' operations in turn, then their ends. */
static void loop_actor(void *p) {
  struct actor_state *actors = p;
  for (size_t i = 0; i < actors[0].ops.n || i < actors[1].ops.n; i++)
    for (int k = 0; k < ACTORS; k++)
      if (i < actors[k].ops.n) run_op(&actors[k], actors[k].ops.op[i]);
  for (int k = 0; k < ACTORS; k++) {
    end_drop(&actors[k].ends[1]);
    end_drop(&actors[k].ends[0]);
  }
}

static void driver_actor(void *p) {
  lgrt_driver *d = p;
  while (!lgrt_driver_is_shutdown(d)) lgrt_driver_turn(d, -1);
}

struct program {
  lgrt_driver *d;
  struct actor_state actors[ACTORS];
  lgrt_token_policy policy;
  lgrt_loop_style style;
};

static void main_actor(void *p) {
  struct program *prog = p;
  /* Opened here, in the execution, so that failure injection reaches the driver's and its
   * port's error paths too (outside an execution nothing is injected). Only an injected
   * failure makes it fail. */
  if (lgrt_driver_open(&prog->d, prog->policy, prog->style) != 0) {
    if (lg_inject_count() > 0) return;
    lg_contract_fail("pipe_disconnect: the driver did not open without an injected failure");
  }
  for (int i = 0; i < ACTORS; i++) prog->actors[i].d = prog->d;
  if (prog->actors[0].callbacks) {
    lg_join(lg_spawn(loop_actor, prog->actors, "loop"));
    lgrt_driver_shutdown(prog->d);
    return;
  }
  lg_actor *drv = lg_spawn(driver_actor, prog->d, "driver");
  lg_actor *spawned[ACTORS];
  for (int i = 0; i < ACTORS; i++) spawned[i] = lg_spawn(task_actor, &prog->actors[i], "task");
  for (int i = 0; i < ACTORS; i++) {
    lg_join(spawned[i]);
    if (i == 0 && prog->actors[0].early_shutdown) lgrt_driver_shutdown(prog->d);
  }
  lgrt_driver_shutdown(prog->d);
  lg_join(drv);
}

static int pid;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  pid = (int)getpid();
  /* fdcheck stays on (a pipe closed twice would be reported), but without the descriptor
   * quarantine: it costs two system calls per close and no pipe fault here needs it. */
  if (!getenv("LIFEGUARD_OPTIONS")) lg_options_set("fd_quarantine=0");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static unsigned long run;
  if (size == 0) return 0;
  struct program prog;
  memset(&prog, 0, sizeof prog);
  unsigned config = lg_fuzz_class_config(data, size, MAX_OPS);
  lgrt_token_policy policy = config & 1 ? LGRT_TOKEN_SLOT : LGRT_TOKEN_RAW;
  lgrt_loop_style style = config & 2 ? LGRT_LOOP_CALLBACKS : LGRT_LOOP_TASKS;
  prog.policy = policy;
  prog.style = style;
  long inners = lgrt_pipe_live_inners();
  lg_fuzz_ops *ops[ACTORS];
  for (int i = 0; i < ACTORS; i++) {
    prog.actors[i].callbacks = style == LGRT_LOOP_CALLBACKS;
    prog.actors[i].early_shutdown = (config & 4) != 0;
    prog.actors[i].slot_tokens = policy == LGRT_TOKEN_SLOT;
    for (int j = 0; j < 2; j++) prog.actors[i].ends[j].owner = &prog.actors[i];
    ops[i] = &prog.actors[i].ops;
    snprintf(prog.actors[i].name, sizeof prog.actors[i].name, "lifeguard-fuzz-%d-%lu-%d",
             pid, run, i);
  }
  run++;
  ntokens = 0;
  uint64_t fds = lg_fdcheck_mark();
  lg_fuzz_run_class_input(data, size, MAX_OPS, ops, ACTORS,
                          (lg_root){main_actor, &prog, "main"}, NULL);
  if (!prog.d) { /* its open failed (injected): nothing was made, nothing may stay open */
    lg_fdcheck_leaks_since(fds, "the pipe_disconnect execution ended");
    return 0;
  }
  /* The teardown, one of two ways (by the input's length, so a replay takes the same): a
   * last turn that releases what the last drops left pending and drains the cancellations
   * still queued, then the close; or the close at once, which releases the pending
   * registrations itself and drains the queue through the port's close (lgrt/io.h: the
   * caller has dropped every registration's user side). */
  if (size % 2 == 0) {
    lgrt_driver_turn(prog.d, 0);
    /* every end was dropped and the turn released what was pending: every object is freed */
    lgrt_driver_stats st = lgrt_driver_get_stats(prog.d);
    if (st.allocated != st.freed) {
      lg_contract_fail("pipe_disconnect: %llu scheduled-io object(s) never freed",
                       (unsigned long long)(st.allocated - st.freed));
    }
  }
  lgrt_driver_close(prog.d); /* (its reference ledger: nothing of the driver is still held) */
  if (lgrt_pipe_live_inners() != inners) {
    lg_contract_fail("pipe_disconnect: %ld pipe inner state(s) outlived the run",
                     lgrt_pipe_live_inners() - inners);
  }
  /* every pipe was dropped and the driver closed: a descriptor still open was forgotten by
   * whatever opened it (an error path of a create or a connect, most often) */
  lg_fdcheck_leaks_since(fds, "the pipe_disconnect execution ended");
  return 0;
}

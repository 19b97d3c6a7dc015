/* SPDX-License-Identifier: MIT */
/* Fuzz target of the double-close class: descriptor-owning operations of three actors, and
 * the order they run in, both from the input.
 *
 * Input: byte 0 = how many operation bytes follow (mod 32); then the operations; the rest is
 * the schedule (one byte per decision, lg_source_bytes). An operation byte names its actor
 * (b % 3) and its operation ((b / 3) % OP_COUNT). Each actor owns its own objects -- two socket
 * wrappers (lg_socket, trippy's shape), two owned descriptors, a stream -- while the process's
 * descriptor table is shared, which is what makes a stale close hit somebody else.
 *
 * The fixed code (no fault switch) is clean for every input. With LIFEGUARD_FAULTS=
 * socket-close-in-drop (or socket-validate-close) the historical lines close twice; fdcheck
 * reports it and aborts, so libFuzzer keeps the input.
 *
 * LG_FUZZ_UNTIL=KIND (time-to-detect runs): reports of other kinds are counted and ignored,
 * the first report of KIND aborts (lg_check's `until`, which runs the execution with
 * halt_on_error=0). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <lgrt/net.h>
#include <lgrt/faults.h>
#include <lifeguard/fdcheck.h>
#include <lifeguard/sched.h>

#include "class_input.h"

enum {
  OP_SOCKET_OPEN,     /* wrapper slot: open a socket */
  OP_SOCKET_DESTROY,  /* wrapper slot: destroy it (the historical double close lives here) */
  OP_SOCKET_VALIDATE, /* wrapper slot: open, bind, and (historically) close explicitly */
  OP_SOCKET_SEND,     /* wrapper slot: send a datagram through it; once bound, connect it to
                         its own address, send, and take the datagram back (non-blocking) */
  OP_OWNED_OPEN,      /* owned slot: open a socket held by a tagged owner */
  OP_OWNED_DUP,       /* owned slot: own a dup of the other owned slot's descriptor */
  OP_OWNED_TRANSFER,  /* owned slots: move ownership from one to the other */
  OP_OWNED_DROP,      /* owned slot: close through its owner */
  OP_OWNED_WRITE,     /* owned slot: write to it */
  OP_STREAM,          /* stream: open a file, or close it if open */
  OP_POLL,            /* an event-loop turn: a scheduling point */
  OP_COUNT
};

#define ACTORS 3
#define MAX_OPS 32

struct actor_state {
  lg_fuzz_ops ops;
  lg_socket sock[2];
  int sock_open[2];
  int sock_empty[2]; /* its open failed, or it was destroyed: destroying it releases nothing */
  int sock_bound[2];
  lg_owned_fd owned[2];
  FILE *stream;
};

static const char *until_kind;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  until_kind = getenv("LG_FUZZ_UNTIL");
  return 0;
}

/* Releases an owned descriptor at the end: closed by its owner if it is still a live socket
 * of ours; given up if a stale close already took it (the number may be somebody else's). */
static void owned_release(lg_owned_fd *o) {
  struct stat st;
  int fd = lg_owned_fd_raw(o);
  if (fd >= 0 && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) lg_owned_fd_drop(o);
  else lg_owned_fd_take(o);
}

static void run_op(struct actor_state *a, uint8_t b) {
  unsigned op = (b / ACTORS) % OP_COUNT;
  unsigned slot = (b / (ACTORS * OP_COUNT)) & 1;
  lg_socket *s = &a->sock[slot];
  lg_owned_fd *o = &a->owned[slot], *other = &a->owned[!slot];
  switch (op) {
  case OP_SOCKET_OPEN:
    if (!a->sock_open[slot]) {
      a->sock_open[slot] = lg_socket_open(s, AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, 0) == 0;
      a->sock_empty[slot] = !a->sock_open[slot];
    }
    break;
  case OP_SOCKET_DESTROY:
    /* An open wrapper, or an empty one (a failed open, or one destroyed already): its
     * contract (lgrt/net.h) is that destroy then releases nothing, so a destroy that leaves
     * a closed descriptor behind closes it again here, and fdcheck sees it. */
    if (a->sock_open[slot] || a->sock_empty[slot]) {
      lg_socket_destroy(s);
      a->sock_open[slot] = a->sock_bound[slot] = 0;
      a->sock_empty[slot] = 1;
    }
    break;
  case OP_SOCKET_VALIDATE:
    if (a->sock_open[slot]) break;
    a->sock_empty[slot] = lg_socket_open(s, AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, 0) != 0;
    if (!a->sock_empty[slot]) {
      a->sock_open[slot] = 1;
      struct sockaddr_un addr = {.sun_family = AF_UNIX};
      /* autobind */
      a->sock_bound[slot] = lg_socket_bind(s, (struct sockaddr *)&addr, sizeof(sa_family_t)) == 0;
      /* trippy#1443: validate() closed the socket before it was dropped */
      if (lg_fault(LG_FAULT_SOCKET_VALIDATE_CLOSE)) lg_socket_close(s);
    }
    break;
  case OP_SOCKET_SEND:
    if (a->sock_open[slot]) {
      struct sockaddr_un to = {.sun_family = AF_UNIX};
      socklen_t len = sizeof to;
      /* bound: its own (autobound) address, connected; else nowhere (the send fails) */
      if (a->sock_bound[slot] &&
          getsockname(lg_owned_fd_raw(&s->inner), (struct sockaddr *)&to, &len) == 0 &&
          lg_socket_connect(s, (struct sockaddr *)&to, len) == 0) {
        lg_socket_send_to(s, "x", 1, NULL, 0);
        lg_socket_recv(s, 16);
      } else {
        lg_socket_send_to(s, "x", 1, (struct sockaddr *)&to, sizeof(sa_family_t));
      }
    }
    break;
  case OP_OWNED_OPEN:
    if (lg_owned_fd_raw(o) < 0)
      lg_owned_fd_init(o, socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), LG_OWNED_FD_TAGGED);
    break;
  case OP_OWNED_DUP:
    if (lg_owned_fd_raw(o) < 0 && lg_owned_fd_raw(other) >= 0)
      lg_owned_fd_init(o, fcntl(lg_owned_fd_raw(other), F_DUPFD_CLOEXEC, 0), LG_OWNED_FD_TAGGED);
    break;
  case OP_OWNED_TRANSFER:
    if (lg_owned_fd_raw(other) < 0 && lg_owned_fd_raw(o) >= 0) lg_owned_fd_transfer(other, o);
    break;
  case OP_OWNED_DROP:
    owned_release(o);
    break;
  case OP_OWNED_WRITE:
    if (lg_owned_fd_raw(o) >= 0) (void)!write(lg_owned_fd_raw(o), "y", 1);
    break;
  case OP_STREAM:
    if (a->stream) {
      fclose(a->stream);
      a->stream = NULL;
    } else {
      a->stream = tmpfile();
    }
    break;
  case OP_POLL:
    lg_poll_point();
    break;
  }
}

static void actor_main(void *p) {
  struct actor_state *a = p;
  for (size_t i = 0; i < a->ops.n; i++) run_op(a, a->ops.op[i]);
  lg_poll_point();
  for (int i = 0; i < 2; i++) {
    if (a->sock_open[i]) lg_socket_destroy(&a->sock[i]);
    owned_release(&a->owned[i]);
  }
  if (a->stream) fclose(a->stream);
}

struct program {
  struct actor_state actors[ACTORS];
};

static void main_actor(void *p) {
  struct program *prog = p;
  lg_actor *spawned[ACTORS];
  for (int i = 0; i < ACTORS; i++) spawned[i] = lg_spawn(actor_main, &prog->actors[i], "actor");
  for (int i = 0; i < ACTORS; i++) lg_join(spawned[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct program prog;
  memset(&prog, 0, sizeof prog);
  lg_fuzz_ops *ops[ACTORS];
  for (int i = 0; i < ACTORS; i++) {
    ops[i] = &prog.actors[i].ops;
    for (int j = 0; j < 2; j++) lg_owned_fd_init(&prog.actors[i].owned[j], -1, 0);
  }
  uint64_t fds = lg_fdcheck_mark();
  if (lg_fuzz_run_class_input(data, size, MAX_OPS, ops, ACTORS,
                              (lg_root){main_actor, &prog, "main"}, until_kind))
    abort(); /* the kind a time-to-detect run waits for */
  /* every actor destroyed what it made: a descriptor opened in the run and open now was
   * forgotten by the code that should have closed it (an error path, most often) */
  if (!until_kind) /* (a time-to-detect run goes on past its faults: not clean state) */
    lg_fdcheck_leaks_since(fds, "the double_close execution ended");
  return 0;
}

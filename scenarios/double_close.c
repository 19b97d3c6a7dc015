/* SPDX-License-Identifier: MIT */
/* Class double-close: a socket closed two or three times (trippy#1443), and its relatives.
 *
 * The application code of each scenario is written here in both versions, chosen by the
 * same fault switches the runtime uses; the socket wrapper itself lives in runtime/net. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lgrt/net.h>
#include <lgrt/faults.h>
#include <lifeguard/sched.h>

#include "common/scenario.h"

#define NOINLINE __attribute__((noinline))

/* ---- helpers ---------------------------------------------------------------------- */

static struct sockaddr_in loopback(unsigned short port) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

/* A UDP socket bound to an ephemeral loopback port: where probes are sent. */
static int peer_open(struct sockaddr_in *addr) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  *addr = loopback(0);
  socklen_t len = sizeof *addr;
  if (bind(fd, (struct sockaddr *)addr, len) != 0 ||
      getsockname(fd, (struct sockaddr *)addr, &len) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Reads one datagram without waiting; returns its length or -1. */
static ssize_t peer_take(int fd, char *buf, size_t cap) {
  return recv(fd, buf, cap, MSG_DONTWAIT);
}

/* ---- application code (trippy's net layer, in both versions) ----------------------- */

/* routing_interface_query: which local address routes to `dst`? A UDP socket is connected
 * (nothing is sent) and asked for its own address, then dropped. */
static NOINLINE int routing_interface_query(const struct sockaddr_in *dst, int owner_flags,
                                            struct sockaddr_in *src) {
  lg_socket s;
  int err = lg_socket_open(&s, AF_INET, SOCK_DGRAM, 0, owner_flags);
  if (err) return err;
  err = lg_socket_connect(&s, (const struct sockaddr *)dst, sizeof *dst);
  socklen_t len = sizeof *src;
  if (!err && getsockname(lg_owned_fd_raw(&s.inner), (struct sockaddr *)src, &len) != 0)
    err = -errno;
  lg_socket_destroy(&s);
  return err;
}

/* SourceAddr::validate: can we bind to `addr`? The historical code closed the socket
 * explicitly before dropping it. */
static NOINLINE int source_addr_validate(lg_socket *s, const struct sockaddr_in *addr) {
  int err = lg_socket_open(s, AF_INET, SOCK_DGRAM, 0, 0);
  if (err) return err;
  err = lg_socket_bind(s, (const struct sockaddr *)addr, sizeof *addr);
  /* trippy#1443: validate() called socket.close() before the socket was dropped */
  if (lg_fault(LG_FAULT_SOCKET_VALIDATE_CLOSE)) lg_socket_close(s);
  return err;
}

/* ---- scenario: wrapper-drop --------------------------------------------------------- */

static int run_wrapper_drop_as(int owner_flags) {
  struct sockaddr_in dst = loopback(9), src;
  int err = routing_interface_query(&dst, owner_flags, &src);
  if (err) {
    errno = -err;
    return lg_scenario_fail("routing_interface_query");
  }
  return LG_SCENARIO_CLEAN;
}

static int run_wrapper_drop(const lg_scenario_ctx *ctx) { return run_wrapper_drop_as(0); }

/* ---- scenario: wrapper-drop-tagged ------------------------------------------------- */

static int run_wrapper_drop_tagged(const lg_scenario_ctx *ctx) {
  return run_wrapper_drop_as(LG_OWNED_FD_TAGGED);
}

/* ---- scenario: validate-close ------------------------------------------------------- */

static int run_validate_close(const lg_scenario_ctx *ctx) {
  struct sockaddr_in addr = loopback(0);
  lg_socket s;
  int err = source_addr_validate(&s, &addr);
  lg_socket_destroy(&s);
  if (err) {
    errno = -err;
    return lg_scenario_fail("source_addr_validate");
  }
  return LG_SCENARIO_CLEAN;
}

/* ---- scenario: send-after-close ---------------------------------------------------- */

static int run_send_after_close(const lg_scenario_ctx *ctx) {
  struct sockaddr_in peer_addr;
  int peer = peer_open(&peer_addr);
  if (peer < 0) return lg_scenario_fail("peer socket");
  struct sockaddr_in src = loopback(0);
  lg_socket s;
  int status = LG_SCENARIO_CLEAN;
  int err = source_addr_validate(&s, &src);
  if (!err) { /* the probe goes out through the validated socket */
    ssize_t n = lg_socket_send_to(&s, "probe", 5, (struct sockaddr *)&peer_addr, sizeof peer_addr);
    char buf[16];
    if (n < 0 && n != -EBADF) { /* a send that failed on its own (EAGAIN, ...), not closed */
      errno = (int)-n;
      status = lg_scenario_fail("send");
    } else if (n != 5 || peer_take(peer, buf, sizeof buf) != 5) {
      fprintf(stderr, "double_close: symptom: the probe was not sent (%s)\n",
                      n < 0 ? strerror((int)-n) : "short send");
      status = LG_SCENARIO_SYMPTOM;
    }
  } else {
    errno = -err;
    status = lg_scenario_fail("source_addr_validate");
  }
  lg_socket_destroy(&s);
  close(peer);
  return status;
}

/* ---- scenario: fclose-close -------------------------------------------------------- */

struct trace_log {
  FILE *fp;
  int fd;
};

static NOINLINE int trace_log_open(struct trace_log *t) {
  t->fp = tmpfile();
  if (!t->fp) return -1;
  t->fd = fileno(t->fp);
  return 0;
}

static NOINLINE void trace_log_close(struct trace_log *t) {
  fclose(t->fp);
  /* bedrocklinux-userland#334 shape: the stream is closed, then its number once more */
  if (lg_fault(LG_FAULT_FCLOSE_THEN_CLOSE)) close(t->fd);
  t->fp = NULL;
  t->fd = -1;
}

static int run_fclose_close(const lg_scenario_ctx *ctx) {
  struct trace_log t;
  if (trace_log_open(&t) != 0) return lg_scenario_fail("tmpfile");
  fprintf(t.fp, "query %lu\n", ctx->iteration);
  trace_log_close(&t);
  return LG_SCENARIO_CLEAN;
}

/* ---- scenario: reuse-race ----------------------------------------------------------- */

/* Three actors share the process's descriptor table: the closer (the routing query, whose
 * socket the buggy destroy closes twice), a victim that opens a socket of its own, held by a
 * tagged owner, and a logger that opens a file. Where each runs relative to the others is the
 * scheduler's decision. In the harmful ordering the victim's socket takes the number the
 * closer's first close freed, the closer's second close kills it, the logger's file takes the
 * number next, and the victim's datagram is written into the logger's file. With fdcheck's
 * quarantine the number is never handed out again at once, so the stale close is reported as
 * a double-close in every ordering; with the quarantine off it is a foreign-close of the
 * victim's socket exactly in the harmful orderings. */
struct race {
  struct sockaddr_in peer_addr;
  lg_owned_fd victim;
  FILE *log;
  int closer_err;
};

static void closer_actor(void *p) {
  struct race *r = p;
  struct sockaddr_in src;
  r->closer_err = routing_interface_query(&r->peer_addr, 0, &src);
}

static NOINLINE void victim_actor(void *p) {
  struct race *r = p;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  lg_owned_fd_init(&r->victim, fd, LG_OWNED_FD_TAGGED);
  if (fd >= 0) connect(fd, (struct sockaddr *)&r->peer_addr, sizeof r->peer_addr);
  lg_poll_point(); /* the victim's event loop turns before it writes */
  if (fd >= 0) (void)!write(fd, "victim-ping", 11);
}

static void logger_actor(void *p) {
  struct race *r = p;
  lg_poll_point();
  r->log = tmpfile();
}

/* Gives the victim's socket up at the end: closed if it is still the victim's, left alone if
 * the stale close killed it and the number now belongs to somebody else. */
static void victim_release(struct race *r) {
  int fd = lg_owned_fd_raw(&r->victim);
  struct stat st;
  if (fd >= 0 && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) lg_owned_fd_drop(&r->victim);
  else lg_owned_fd_take(&r->victim);
}

static int run_reuse_race(const lg_scenario_ctx *ctx) {
  struct race r = {.victim = {.fd = -1}};
  int peer = peer_open(&r.peer_addr);
  if (peer < 0) return lg_scenario_fail("peer socket");
  lg_actor *closer = lg_spawn(closer_actor, &r, "closer");
  lg_actor *victim = lg_spawn(victim_actor, &r, "victim");
  lg_actor *logger = lg_spawn(logger_actor, &r, "logger");
  lg_join(closer);
  lg_join(victim);
  lg_join(logger);

  int status = LG_SCENARIO_CLEAN;
  char buf[32];
  if (peer_take(peer, buf, sizeof buf) != 11) {
    char text[32] = "";
    if (r.log) {
      fflush(r.log);
      ssize_t n = pread(fileno(r.log), text, sizeof text - 1, 0);
      text[n > 0 ? n : 0] = '\0';
    }
    printf("double_close: symptom: the victim's datagram never arrived%s\n",
           strstr(text, "victim-ping") ? "; it was written into the logger's file" : "");
    status = LG_SCENARIO_SYMPTOM;
  }
  victim_release(&r);
  if (r.log) fclose(r.log);
  close(peer);
  if (r.closer_err) {
    errno = -r.closer_err;
    return lg_scenario_fail("routing_interface_query");
  }
  return status;
}

/* ---- scenario: cancel-race (the class's needle) ------------------------------------- */

/* A query's probe socket is shared by the query and its receive loop, an actor of its own.
 * Cancelling tells the loop to stop and closes the socket; the loop, told to stop, closes it
 * too. Both go through a close-once guard. The planted bug's guard reads its flag, then sets
 * it: harmful only when the query stalls between the read and the write for as long as the
 * loop takes to wake up, write its log and close, and then both close the number. The loop is
 * parked on the condition variable before the cancel (the handshake below) and writes and
 * closes its log (system calls) before it closes the socket, so a thread the OS schedules
 * needs microseconds to get there, and the query's two accesses are nanoseconds apart. */
struct probe {
  int fd;
  uint64_t closed;
  lg_mutex lock;
  lg_cond cond;
  bool ready, stop;
};

static NOINLINE void probe_close_once(struct probe *p) {
  if (lg_fault(LG_FAULT_SOCKET_CLOSE_CHECK_THEN_SET)) {
    if (lg_atomic_load(&p->closed)) return; /* check ... */
    lg_atomic_store(&p->closed, 1);         /* ... then set: both may have read 0 */
  } else if (lg_atomic_exchange(&p->closed, 1)) {
    return;
  }
  close(p->fd);
}

static NOINLINE void receive_loop(void *arg) {
  struct probe *p = arg;
  int log = open("/dev/null", O_WRONLY | O_CLOEXEC); /* the loop's own log */
  lg_mutex_lock(&p->lock);
  p->ready = true;
  lg_cond_signal(&p->cond);
  while (!p->stop) lg_cond_wait(&p->cond, &p->lock);
  lg_mutex_unlock(&p->lock);
  if (log >= 0) { /* its last words: the counters go to its log, which it closes */
    dprintf(log, "receive loop: stopped\n");
    close(log);
  }
  probe_close_once(p); /* the loop's own shutdown path */
}

static NOINLINE void query_cancel(struct probe *p) {
  lg_mutex_lock(&p->lock);
  p->stop = true;
  lg_cond_signal(&p->cond);
  lg_mutex_unlock(&p->lock);
  probe_close_once(p);
}

static int run_cancel_race(const lg_scenario_ctx *ctx) {
  struct probe p = {.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
  if (p.fd < 0) return lg_scenario_fail("socket");
  lg_mutex_init(&p.lock);
  lg_cond_init(&p.cond);
  lg_actor *loop = lg_spawn(receive_loop, &p, "receive-loop");
  lg_mutex_lock(&p.lock);
  while (!p.ready) lg_cond_wait(&p.cond, &p.lock); /* the loop is parked when this returns */
  lg_mutex_unlock(&p.lock);
  query_cancel(&p);
  lg_join(loop);
  lg_cond_destroy(&p.cond);
  lg_mutex_destroy(&p.lock);
  return LG_SCENARIO_CLEAN;
}

/* ---- scenario: cancel-reuse-race (the class's needle: two windows) ------------------ */

/* cancel-race, and then the next query. After the cancel, the query's caller starts its next
 * query at once, whose probe socket (held by a tagged owner) takes the lowest free number:
 * the one the cancel just closed. The harm needs two stalls, each between two accesses a few
 * nanoseconds apart in one thread, with no wake-up of the other inside: the cancel's guard
 * stalls between its check and its set while the receive loop passes the check too, and then
 * the loop stalls between its own check and its close while the cancel closes the socket and
 * the next query opens its own. The loop's close then kills the next query's socket
 * (traildb PR #44, proxychains-ng PR #542: a second close takes another thread's new
 * socket). fdcheck reports it as a foreign-close of the tagged socket, with its quarantine
 * off (the number is handed out again at once, as the kernel does); with the quarantine on,
 * the number is never handed out again at once and the second close is a double-close as soon
 * as both pass the check. */
struct next_query {
  struct probe p;
  lg_owned_fd next;
};

/* Gives the next query's socket up: closed if it is still the query's, left alone if the
 * stale close killed it (the number may be somebody else's now). */
static void next_query_release(struct next_query *q) {
  int fd = lg_owned_fd_raw(&q->next);
  struct stat st;
  if (fd >= 0 && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) lg_owned_fd_drop(&q->next);
  else lg_owned_fd_take(&q->next);
}

static NOINLINE int next_query_open(struct next_query *q) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  lg_owned_fd_init(&q->next, fd, LG_OWNED_FD_TAGGED);
  return 0;
}

static int run_cancel_reuse_race(const lg_scenario_ctx *ctx) {
  struct next_query q = {.p = {.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)},
                         .next = {.fd = -1}};
  struct probe *p = &q.p;
  if (p->fd < 0) return lg_scenario_fail("socket");
  lg_mutex_init(&p->lock);
  lg_cond_init(&p->cond);
  lg_actor *loop = lg_spawn(receive_loop, p, "receive-loop");
  lg_mutex_lock(&p->lock);
  while (!p->ready) lg_cond_wait(&p->cond, &p->lock); /* the loop is parked when this returns */
  lg_mutex_unlock(&p->lock);
  query_cancel(p);
  int status = next_query_open(&q) ? lg_scenario_fail("next query's socket") : LG_SCENARIO_CLEAN;
  lg_join(loop);
  next_query_release(&q);
  lg_cond_destroy(&p->cond);
  lg_mutex_destroy(&p->lock);
  return status;
}

/* ---- the program -------------------------------------------------------------------- */

static const lg_scenario scenarios[] = {
    {"wrapper-drop", {"socket-close-in-drop", NULL},
     "the wrapper's destroy closes the socket, then its inner owner closes it again",
     run_wrapper_drop},
    {"validate-close", {"socket-close-in-drop", "socket-validate-close", NULL},
     "validation closes explicitly, then destroy, then the inner owner: three closes",
     run_validate_close},
    {"reuse-race", {"socket-close-in-drop", NULL},
     "another actor opens a socket between the two closes; the stale close would kill it",
     run_reuse_race},
    {"fclose-close", {"fclose-then-close", NULL},
     "a stream is closed with fclose, then its descriptor number with close",
     run_fclose_close},
    {"send-after-close", {"socket-validate-close", NULL},
     "validation closes the socket explicitly, then a probe is sent through it",
     run_send_after_close},
    {"cancel-race", {"socket-close-check-then-set", NULL},
     "a cancel and the receive loop it stops both close the shared socket through a "
     "close-once guard that checks, then sets; both pass if the cancel stalls in between",
     run_cancel_race},
    {"cancel-reuse-race", {"socket-close-check-then-set", NULL},
     "cancel-race, then the next query opens its socket: when the cancel stalls between its "
     "check and its set and the loop between its check and its close, the loop's close kills "
     "the next query's socket, which took the number",
     run_cancel_reuse_race},
    {"wrapper-drop-tagged", {"socket-close-in-drop", NULL},
     "wrapper-drop with an fdsan-tagged owner: the wrapper's close is a foreign close",
     run_wrapper_drop_tagged},
};

int main(int argc, char **argv) {
  static const lg_scenario_program program = {
      "double_close", "double-close", scenarios, sizeof scenarios / sizeof *scenarios};
  return lg_scenario_main(&program, argc, argv);
}

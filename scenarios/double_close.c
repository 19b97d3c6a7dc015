/* Class double-close: a socket closed two or three times (trippy#1443), and its relatives.
 *
 * The application code of each scenario is written here in both versions, chosen by the
 * same fault switches the runtime uses; the socket wrapper itself lives in runtime/net. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <lgrt/net.h>
#include <lgrt/point.h>
#include <lifeguard/faults.h>

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
    if (n != 5 || peer_take(peer, buf, sizeof buf) != 5) {
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

/* Three actors: the closer (the routing query, whose socket is closed twice in the buggy
 * version), a victim that opens its own socket, and a logger that opens a file afterwards.
 * Without fdcheck the stale close kills the victim's socket and the victim's next write
 * lands in the logger's file. Where the victim opens is the interleaving:
 *   0: before the closer's destroy  1: between its two closes  2: after it. */
struct race {
  int when;
  sem_t victim_open, victim_opened, victim_send;
  struct sockaddr_in peer_addr;
  int victim_fd;
  pthread_t closer_thread;
};

static void race_hold_closer(struct race *r) {
  sem_post(&r->victim_open);
  while (sem_wait(&r->victim_opened) != 0 && errno == EINTR) {}
}

static void race_point(lgrt_site site, void *arg) {
  struct race *r = arg;
  if (site == LGRT_SITE_SOCKET_DROP_FIELDS && r->when == 1 &&
      pthread_equal(pthread_self(), r->closer_thread))
    race_hold_closer(r);
}

static void *closer_main(void *arg) {
  struct race *r = arg;
  if (r->when == 0) race_hold_closer(r);
  struct sockaddr_in src;
  long err = routing_interface_query(&r->peer_addr, 0, &src);
  return (void *)err;
}

static void *victim_main(void *arg) {
  struct race *r = arg;
  while (sem_wait(&r->victim_open) != 0 && errno == EINTR) {}
  r->victim_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (r->victim_fd >= 0)
    connect(r->victim_fd, (struct sockaddr *)&r->peer_addr, sizeof r->peer_addr);
  sem_post(&r->victim_opened);
  while (sem_wait(&r->victim_send) != 0 && errno == EINTR) {}
  if (r->victim_fd >= 0) (void)!write(r->victim_fd, "victim-ping", 11);
  return NULL;
}

static int run_reuse_race(const lg_scenario_ctx *ctx) {
  struct race r = {.victim_fd = -1};
  unsigned int rs = (unsigned int)ctx->seed;
  r.when = ctx->seed == 0 ? 1 : rand_r(&rs) % 3;
  int peer = peer_open(&r.peer_addr);
  if (peer < 0) return lg_scenario_fail("peer socket");
  sem_init(&r.victim_open, 0, 0);
  sem_init(&r.victim_opened, 0, 0);
  sem_init(&r.victim_send, 0, 0);
  lgrt_set_point_hook(race_point, &r);

  pthread_t victim;
  void *closer_err = NULL;
  pthread_create(&victim, NULL, victim_main, &r);
  pthread_create(&r.closer_thread, NULL, closer_main, &r);
  pthread_join(r.closer_thread, &closer_err);
  if (r.when == 2) race_hold_closer(&r);

  /* The logger opens its file: without a quarantine it may get a number just freed. */
  FILE *log = tmpfile();
  sem_post(&r.victim_send);
  pthread_join(victim, NULL);
  lgrt_set_point_hook(NULL, NULL);

  int status = LG_SCENARIO_CLEAN;
  char buf[32];
  ssize_t got = peer_take(peer, buf, sizeof buf);
  if (got != 11) {
    char text[32] = "";
    if (log) {
      fflush(log);
      ssize_t n = pread(fileno(log), text, sizeof text - 1, 0);
      text[n > 0 ? n : 0] = '\0';
    }
    printf("double_close: symptom: the victim's datagram never arrived%s (victim fd %d)\n",
           strstr(text, "victim-ping") ? "; it was written into the logger's file" : "",
           r.victim_fd);
    status = LG_SCENARIO_SYMPTOM;
  }
  if (log) fclose(log);
  if (r.victim_fd >= 0 && status == LG_SCENARIO_CLEAN) close(r.victim_fd);
  close(peer);
  sem_destroy(&r.victim_open);
  sem_destroy(&r.victim_opened);
  sem_destroy(&r.victim_send);
  if (closer_err) {
    errno = (int)-(long)closer_err;
    return lg_scenario_fail("routing_interface_query");
  }
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
    {"wrapper-drop-tagged", {"socket-close-in-drop", NULL},
     "wrapper-drop with an fdsan-tagged owner: the wrapper's close is a foreign close",
     run_wrapper_drop_tagged},
};

int main(int argc, char **argv) {
  static const lg_scenario_program program = {
      "double_close", "double-close", scenarios, sizeof scenarios / sizeof *scenarios};
  return lg_scenario_main(&program, argc, argv);
}

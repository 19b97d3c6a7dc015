/* SPDX-License-Identifier: MIT */
/* The completion port, the I/O driver and named pipes (runtime/port, io, pipe): the
 * properties the pipe-disconnect class depends on. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <lgrt/io.h>
#include <lgrt/pipe.h>
#include <lgrt/port.h>
#include <lgrt/faults.h>

#include "capture.h"

static void setup(void) {
  capture_setup();
  lg_fault_reset();
}

TestSuite(port, .init = setup, .timeout = LG_UNIT_TIMEOUT);
TestSuite(driver, .init = setup, .timeout = LG_UNIT_TIMEOUT);
TestSuite(pipe, .init = setup, .timeout = LG_UNIT_TIMEOUT);

static void name_for(char *buf, size_t cap, const char *what) {
  snprintf(buf, cap, "lifeguard-unit-%d-%s", (int)getpid(), what);
}

/* ---- port --------------------------------------------------------------------------- */

Test(port, a_posted_packet_cannot_be_withdrawn) {
  lgrt_port *p;
  cr_assert_eq(lgrt_port_open(&p), 0);
  int sv[2];
  cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  cr_assert_eq(lgrt_port_watch(p, sv[0], LGRT_READABLE, 0x10, NULL, false), 0);
  cr_assert_eq(lgrt_port_post(p, &(lgrt_packet){0x20, NULL, LGRT_WRITABLE, 7, 0}), 0);
  cr_assert_eq(lgrt_port_unwatch(p, sv[0]), 0, "unwatching the descriptor...");
  lgrt_packet out[4];
  cr_assert_eq(lgrt_port_get_many(p, out, 4, 0), 1, "...leaves the posted packet queued");
  cr_assert_eq(out[0].key, 0x20);
  cr_assert_eq(out[0].flags, LGRT_WRITABLE);
  cr_assert_eq(out[0].bytes, 7);
  cr_assert_null(out[0].ovl);
  cr_assert_eq(lgrt_port_get_many(p, out, 4, 0), 0, "and it is consumed once");
  close(sv[0]);
  close(sv[1]);
  lgrt_port_close(p);
}

Test(port, readiness_comes_first_then_posts_in_order) {
  lgrt_port *p;
  cr_assert_eq(lgrt_port_open(&p), 0);
  int sv[2];
  cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  cr_assert_eq(lgrt_port_post(p, &(lgrt_packet){0x100, NULL, LGRT_READABLE, 0, 0}), 0);
  cr_assert_eq(lgrt_port_post(p, &(lgrt_packet){0x200, NULL, LGRT_READABLE, 0, 0}), 0);
  cr_assert_eq(lgrt_port_watch(p, sv[0], LGRT_READABLE, 0x10, NULL, false), 0);
  cr_assert_eq(write(sv[1], "x", 1), 1);
  lgrt_packet out[4];
  cr_assert_eq(lgrt_port_get_many(p, out, 4, 0), 3);
  cr_assert_eq(out[0].key, 0x10);
  cr_assert(out[0].flags & LGRT_READABLE);
  cr_assert_eq(out[1].key, 0x100);
  cr_assert_eq(out[2].key, 0x200);
  cr_assert_eq(lgrt_port_watch(p, sv[0], LGRT_READABLE, 0x11, NULL, false), -EINVAL,
               "a key with bit 0 set is refused (it marks an overlapped)");
  close(sv[0]);
  close(sv[1]);
  lgrt_port_close(p);
}

static int done_calls, done_closing;
static void count_done(lgrt_overlapped *ovl, const lgrt_packet *pkt, lgrt_events *out) {
  (void)ovl;
  (void)pkt;
  done_calls++;
  if (!out) done_closing++;
}

Test(port, oneshot_watch_completes_once_and_close_drains_overlapped_packets) {
  lgrt_port *p;
  cr_assert_eq(lgrt_port_open(&p), 0);
  int sv[2];
  cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  lgrt_overlapped ovl = {count_done};
  cr_assert_eq(lgrt_port_watch(p, sv[0], LGRT_READABLE, 0, &ovl, true), 0);
  cr_assert_eq(write(sv[1], "x", 1), 1);
  lgrt_packet out[4];
  cr_assert_eq(lgrt_port_get_many(p, out, 4, 0), 1);
  cr_assert_eq(out[0].ovl, &ovl, "the overlapped comes back, not a key");
  cr_assert_eq(lgrt_port_get_many(p, out, 4, 0), 0, "a oneshot watch is disarmed after one");
  cr_assert_eq(lgrt_port_post(p, &(lgrt_packet){0, &ovl, LGRT_CANCELLED, 0, 0}), 0);
  done_calls = done_closing = 0;
  lgrt_port_close(p);
  cr_assert_eq(done_calls, 1, "closing hands each queued overlapped packet to its callback");
  cr_assert_eq(done_closing, 1, "with no batch to add to");
  close(sv[0]);
  close(sv[1]);
}

Test(port, wake_returns_without_packets) {
  lgrt_port *p;
  cr_assert_eq(lgrt_port_open(&p), 0);
  cr_assert_eq(lgrt_port_wake(p), 0);
  lgrt_packet out[2];
  cr_assert_eq(lgrt_port_get_many(p, out, 2, -1), 0, "a wake ends an unlimited wait");
  lgrt_port_close(p);
}

/* ---- driver ------------------------------------------------------------------------- */

Test(driver, slot_tokens_make_a_stale_packet_harmless) {
  lgrt_driver *d;
  cr_assert_eq(lgrt_driver_open(&d, LGRT_TOKEN_SLOT, LGRT_LOOP_TASKS), 0);
  int sv[2];
  cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  lgrt_registration r;
  cr_assert_eq(lgrt_registration_new(&r, d, &sv[0], &lgrt_fd_source, LGRT_READABLE), 0);
  uint64_t stale = lgrt_registration_token(&r);
  cr_assert_eq(stale & 1, 0);
  lgrt_registration_drop(&r);
  /* a raw post with the dropped registration's token: tokio <= 1.29 survives it */
  cr_assert_eq(lgrt_port_post(lgrt_driver_port(d), &(lgrt_packet){stale, NULL, LGRT_WRITABLE, 0, 0}), 0);
  lgrt_registration again;
  cr_assert_eq(lgrt_registration_new(&again, d, &sv[1], &lgrt_fd_source, LGRT_READABLE), 0);
  cr_assert_neq(lgrt_registration_token(&again), stale, "a reused slot has a new generation");
  cr_assert_eq(lgrt_driver_turn(d, 0), 0);
  lgrt_driver_stats s = lgrt_driver_get_stats(d);
  cr_assert_eq(s.stale_ignored, 1);
  cr_assert_eq(s.freed, 1);
  cr_assert_eq(lgrt_registration_readiness(&again), 0, "the new registration got nothing");
  lgrt_registration_drop(&again);
  lgrt_driver_close(d);
  close(sv[0]);
  close(sv[1]);
}

Test(driver, release_waits_for_the_next_turn_in_a_task_loop) {
  lgrt_driver *d;
  cr_assert_eq(lgrt_driver_open(&d, LGRT_TOKEN_RAW, LGRT_LOOP_TASKS), 0);
  int sv[2];
  cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  lgrt_registration r;
  cr_assert_eq(lgrt_registration_new(&r, d, &sv[0], &lgrt_fd_source, LGRT_READABLE), 0);
  cr_assert_eq(write(sv[1], "x", 1), 1);
  cr_assert_eq(lgrt_driver_turn(d, 0), 1);
  cr_assert(lgrt_registration_readiness(&r) & LGRT_READABLE);
  lgrt_registration_drop(&r);
  cr_assert_eq(lgrt_driver_get_stats(d).freed, 0, "deregistered, not yet released");
  lgrt_driver_release_pending(d);
  cr_assert_eq(lgrt_driver_get_stats(d).freed, 1);
  lgrt_driver_close(d);
  close(sv[0]);
  close(sv[1]);
}

typedef struct two {
  lgrt_registration a, b;
  int sv_b[2];
  bool b_open;
  int calls_b;
} two;

static void on_b(void *arg, uint32_t readiness) {
  (void)readiness;
  ((two *)arg)->calls_b++;
}

static void on_a_closes_b(void *arg, uint32_t readiness) {
  (void)readiness;
  two *t = arg;
  if (!t->b_open) return;
  lgrt_registration_drop(&t->b);
  t->b_open = false;
}

Test(driver, a_callback_loop_withdraws_the_released_registrations_events) {
  lgrt_driver *d;
  cr_assert_eq(lgrt_driver_open(&d, LGRT_TOKEN_RAW, LGRT_LOOP_CALLBACKS), 0);
  int sa[2];
  two t = {.b_open = true};
  cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sa), 0);
  cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, t.sv_b), 0);
  cr_assert_eq(lgrt_registration_new(&t.a, d, &sa[0], &lgrt_fd_source, LGRT_READABLE), 0);
  cr_assert_eq(lgrt_registration_new(&t.b, d, &t.sv_b[0], &lgrt_fd_source, LGRT_READABLE), 0);
  lgrt_registration_set_callback(&t.a, on_a_closes_b, &t);
  lgrt_registration_set_callback(&t.b, on_b, &t);
  cr_assert_eq(write(sa[1], "a", 1), 1); /* A is ready first: the kernel lists it first */
  cr_assert_eq(write(t.sv_b[1], "b", 1), 1);
  cr_assert_eq(lgrt_driver_turn(d, 0), 1, "A dispatched; B's event withdrawn");
  lgrt_driver_stats s = lgrt_driver_get_stats(d);
  cr_assert_eq(s.withdrawn, 1);
  cr_assert_eq(s.freed, 1, "B released at once, inside A's callback");
  cr_assert_eq(t.calls_b, 0);
  lgrt_registration_drop(&t.a);
  lgrt_driver_close(d);
  close(sa[0]);
  close(sa[1]);
  close(t.sv_b[0]);
  close(t.sv_b[1]);
}

/* ---- pipes -------------------------------------------------------------------------- */

typedef struct reg_pipe {
  lgrt_pipe *pipe;
  lgrt_registration reg;
} reg_pipe;

static void reg_pipe_drop(reg_pipe *p) {
  lgrt_registration_drop(&p->reg);
  lgrt_pipe_drop(p->pipe);
}

Test(pipe, the_fixed_post_survives_register_then_drop) {
  long inners = lgrt_pipe_live_inners();
  char name[64];
  name_for(name, sizeof name, "drop");
  lgrt_driver *d;
  cr_assert_eq(lgrt_driver_open(&d, LGRT_TOKEN_RAW, LGRT_LOOP_TASKS), 0);
  reg_pipe s, c;
  cr_assert_eq(lgrt_pipe_server_create(name, &s.pipe), 0);
  cr_assert_eq(lgrt_registration_new(&s.reg, d, s.pipe, &lgrt_pipe_source, LGRT_READABLE), 0);
  cr_assert_eq(lgrt_pipe_server_connect(s.pipe), -EINPROGRESS);
  cr_assert_eq(lgrt_pipe_client_open(name, &c.pipe), 0);
  cr_assert_eq(lgrt_registration_new(&c.reg, d, c.pipe, &lgrt_pipe_source, LGRT_READABLE), 0);
  reg_pipe_drop(&c); /* tokio#6364's `let _ = open()` */
  cr_assert_geq(lgrt_driver_turn(d, 0), 1, "the server's connect completes");
  cr_assert(lgrt_registration_readiness(&s.reg) & LGRT_WRITABLE, "connected: writable");
  lgrt_driver_stats st = lgrt_driver_get_stats(d);
  cr_assert_eq(st.freed, 1, "the client's object was released before the poll");
  reg_pipe_drop(&s);
  lgrt_driver_turn(d, 0);
  lgrt_driver_close(d);
  cr_assert_eq(lgrt_pipe_live_inners(), inners, "every reference a packet took came back");
}

Test(pipe, data_then_end_of_stream_then_end_again) {
  long inners = lgrt_pipe_live_inners();
  char name[64];
  name_for(name, sizeof name, "eof");
  lgrt_driver *d;
  cr_assert_eq(lgrt_driver_open(&d, LGRT_TOKEN_RAW, LGRT_LOOP_TASKS), 0);
  reg_pipe s;
  lgrt_pipe *client;
  cr_assert_eq(lgrt_pipe_server_create(name, &s.pipe), 0);
  cr_assert_eq(lgrt_pipe_client_open(name, &client), 0);
  cr_assert_eq(lgrt_registration_new(&s.reg, d, s.pipe, &lgrt_pipe_source, LGRT_READABLE), 0);
  cr_assert_eq(lgrt_pipe_server_connect(s.pipe), 0, "a waiting client connects at once");
  cr_assert_eq(lgrt_pipe_write(client, "hi", 2), 2);
  char buf[8];
  cr_assert_eq(lgrt_pipe_read(s.pipe, buf, sizeof buf), -EAGAIN, "the read is armed, not done");
  lgrt_driver_turn(d, 0);
  cr_assert(lgrt_registration_readiness(&s.reg) & LGRT_READABLE);
  cr_assert_eq(lgrt_pipe_read(s.pipe, buf, sizeof buf), 2);
  cr_assert_eq(memcmp(buf, "hi", 2), 0);
  cr_assert_eq(lgrt_pipe_disconnect(client), 0);
  lgrt_pipe_drop(client);
  lgrt_driver_turn(d, 0);
  lgrt_registration_clear(&s.reg, LGRT_READABLE);
  cr_assert_eq(lgrt_pipe_read(s.pipe, buf, sizeof buf), 0, "end of stream; the next read is "
                                                           "armed, fails at once and posts");
  cr_assert_eq(lgrt_driver_turn(d, 0), 1, "the posted READABLE arrives");
  cr_assert(lgrt_registration_readiness(&s.reg) & LGRT_READABLE);
  cr_assert_eq(lgrt_pipe_read(s.pipe, buf, sizeof buf), 0, "and the end reads as end again");
  reg_pipe_drop(&s);
  lgrt_driver_turn(d, 0);
  lgrt_driver_close(d);
  cr_assert_eq(lgrt_pipe_live_inners(), inners);
}

/* A drop with a read armed: the cancellation packet holds the read's reference and counts as
 * an operation in flight until the driver consumes it; only then does the inner state go. */
static void drop_with_a_read_armed(const char *what) {
  long inners = lgrt_pipe_live_inners(), ops = lgrt_pipe_ops_in_flight();
  char name[64];
  name_for(name, sizeof name, what);
  lgrt_driver *d;
  cr_assert_eq(lgrt_driver_open(&d, LGRT_TOKEN_RAW, LGRT_LOOP_TASKS), 0);
  reg_pipe s;
  lgrt_pipe *client;
  cr_assert_eq(lgrt_pipe_server_create(name, &s.pipe), 0);
  cr_assert_eq(lgrt_pipe_client_open(name, &client), 0);
  cr_assert_eq(lgrt_registration_new(&s.reg, d, s.pipe, &lgrt_pipe_source, LGRT_READABLE), 0);
  cr_assert_eq(lgrt_pipe_server_connect(s.pipe), 0);
  lgrt_driver_turn(d, 0); /* the connect's WRITABLE */
  char buf[8];
  cr_assert_eq(lgrt_pipe_read(s.pipe, buf, sizeof buf), -EAGAIN, "the read is armed");
  cr_assert_eq(lgrt_pipe_ops_in_flight(), ops + 1, "the armed read is in flight");
  reg_pipe_drop(&s);
  cr_assert_eq(lgrt_pipe_ops_in_flight(), ops + 1, "its cancellation is, after the drop");
  cr_assert_eq(lgrt_pipe_live_inners(), inners + 2, "and keeps the server's inner state");
  lgrt_driver_turn(d, 0);
  cr_assert_eq(lgrt_pipe_ops_in_flight(), ops, "consumed, it is counted out");
  cr_assert_eq(lgrt_pipe_live_inners(), inners + 1, "and the server's inner state is gone");
  lgrt_pipe_drop(client);
  lgrt_driver_close(d);
  cr_assert_eq(lgrt_pipe_live_inners(), inners);
}

Test(pipe, a_cancellation_in_flight_keeps_the_dropped_pipe) { drop_with_a_read_armed("cancel"); }

/* pipe-drop-ops-check frees at once only when the count reads zero: with the cancellation
 * still queued it does not, so without a race the switch changes nothing. */
Test(pipe, the_ops_check_waits_for_a_queued_cancellation) {
  cr_assert_eq(lg_fault_set("pipe-drop-ops-check", true), 0);
  drop_with_a_read_armed("cancel-check");
}

Test(pipe, a_packet_for_an_older_registration_is_dropped_by_generation) {
  char name[64];
  name_for(name, sizeof name, "gen");
  lgrt_driver *d;
  cr_assert_eq(lgrt_driver_open(&d, LGRT_TOKEN_RAW, LGRT_LOOP_TASKS), 0);
  lgrt_pipe *server;
  reg_pipe c;
  cr_assert_eq(lgrt_pipe_server_create(name, &server), 0);
  cr_assert_eq(lgrt_pipe_client_open(name, &c.pipe), 0);
  lgrt_registration first;
  cr_assert_eq(lgrt_registration_new(&first, d, c.pipe, &lgrt_pipe_source, LGRT_WRITABLE), 0);
  lgrt_registration_drop(&first);
  cr_assert_eq(lgrt_registration_new(&c.reg, d, c.pipe, &lgrt_pipe_source, LGRT_WRITABLE), 0);
  cr_assert_eq(lgrt_driver_turn(d, 0), 1, "one WRITABLE reaches the new registration, the "
                                          "old one's is dropped by its generation");
  cr_assert(lgrt_registration_readiness(&c.reg) & LGRT_WRITABLE);
  cr_assert_eq(lgrt_driver_get_stats(d).freed, 1);
  reg_pipe_drop(&c);
  lgrt_pipe_drop(server);
  lgrt_driver_turn(d, 0);
  lgrt_driver_close(d);
}

Test(pipe, registering_twice_and_bad_names_are_errors) {
  char name[64];
  name_for(name, sizeof name, "twice");
  lgrt_driver *d;
  cr_assert_eq(lgrt_driver_open(&d, LGRT_TOKEN_RAW, LGRT_LOOP_TASKS), 0);
  lgrt_pipe *s, *dup;
  cr_assert_eq(lgrt_pipe_server_create(name, &s), 0);
  cr_assert_eq(lgrt_pipe_server_create(name, &dup), -EADDRINUSE);
  lgrt_pipe *nobody;
  char other[64];
  name_for(other, sizeof other, "nobody-listens");
  cr_assert_eq(lgrt_pipe_client_open(other, &nobody), -ECONNREFUSED);
  lgrt_registration r, r2;
  cr_assert_eq(lgrt_registration_new(&r, d, s, &lgrt_pipe_source, LGRT_READABLE), 0);
  cr_assert_eq(lgrt_registration_new(&r2, d, s, &lgrt_pipe_source, LGRT_READABLE), -EEXIST);
  lgrt_registration_drop(&r);
  lgrt_pipe_drop(s);
  lgrt_driver_turn(d, 0);
  lgrt_driver_close(d);
}

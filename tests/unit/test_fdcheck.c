/* SPDX-License-Identifier: MIT */
/* fdcheck: every kind reported with the right stacks; every clean twin silent. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <lifeguard/fdcheck.h>
#include <lifeguard/options.h>

#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include "capture.h"

#define NOINLINE __attribute__((noinline))

/* Each step in its own function, so each stack has a known top frame. */
NOINLINE int step_open(void) { return socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0); }
NOINLINE int step_close(int fd) { return close(fd); }
NOINLINE int step_close_again(int fd) { return close(fd); }
NOINLINE ssize_t step_write(int fd) { return write(fd, "x", 1); }
NOINLINE ssize_t step_read(int fd) { char c; return read(fd, &c, 1); }
NOINLINE ssize_t step_send(int fd) { return send(fd, "x", 1, MSG_NOSIGNAL); }
NOINLINE void step_tag(int fd, uint64_t tag) { android_fdsan_exchange_owner_tag(fd, 0, tag); }
NOINLINE int step_close_tagged(int fd, uint64_t tag) { return android_fdsan_close_with_tag(fd, tag); }

/* An owner tag of the kind a unique_fd-style owner at `owner` would use. */
static uint64_t tag_of(void *owner) {
  return android_fdsan_create_owner_tag(ANDROID_FDSAN_OWNER_TYPE_UNIQUE_FD, (uintptr_t)owner);
}

TestSuite(fdcheck, .init = capture_setup, .timeout = LG_UNIT_TIMEOUT);

/* ---- double-close ------------------------------------------------------------------ */

Test(fdcheck, double_close_reported_with_both_close_stacks) {
  int fd = step_open();
  cr_assert_geq(fd, 0);
  cr_assert_eq(step_close(fd), 0);
  cr_assert_eq(lg_fdcheck_state(fd), LG_FD_QUARANTINED);
  errno = 0;
  cr_assert_eq(step_close_again(fd), -1);
  cr_assert_eq(errno, EBADF);
  cr_assert_eq(capture_count, 1);
  cr_assert_report(0, "double-close");
  cr_assert_eq(capture_log[0].fd, fd);
  cr_assert_top(0, "current", "step_close_again");
  cr_assert_top(0, "close", "step_close");
  cr_assert_top(0, "open", "step_open");
  cr_assert(strstr(capture_log[0].top_file[0], "test_fdcheck.c") != NULL,
            "current stack file is %s", capture_log[0].top_file[0]);
  cr_assert_gt(capture_log[0].top_line[0], 0);
}

Test(fdcheck, single_close_is_clean) {
  int fd = step_open();
  cr_assert_eq(step_close(fd), 0);
  cr_assert_eq(capture_count, 0);
}

Test(fdcheck, double_close_reported_after_release_from_quarantine) {
  int fd = step_open();
  step_close(fd);
  cr_assert_geq(lg_fdcheck_flush_quarantine(), 1);
  cr_assert_eq(lg_fdcheck_state(fd), LG_FD_CLOSED);
  cr_assert_eq(step_close_again(fd), -1);
  cr_assert_report(0, "double-close");
  cr_assert_top(0, "close", "step_close");
}

Test(fdcheck, quarantine_keeps_a_closed_number_from_reuse) {
  int fd = step_open();
  step_close(fd);
  int next = step_open();
  cr_assert_neq(next, fd, "a closed number was handed out again at once");
  step_close(next);
  /* Released, the number is free again: the lowest-number rule may hand it out. */
  lg_fdcheck_flush_quarantine();
  cr_assert_eq(lg_fdcheck_state(fd), LG_FD_CLOSED);
  int again = step_open();
  cr_assert_leq(again, fd);
  step_close(again);
  cr_assert_eq(capture_count, 0);
}

/* Whether `fd` is open, asked of the kernel directly (fcntl is checked: a parked number
 * would be reported as a use of a closed descriptor). */
static long raw_getfd(int fd) { return syscall(SYS_fcntl, fd, F_GETFD); }

/* Full, the quarantine releases its older half in one go: the count stays between 1/2 of
 * fd_quarantine and fd_quarantine, released numbers are really closed (and reported as such),
 * parked ones still hold the placeholder, and the oldest go first. */
Test(fdcheck, full_quarantine_releases_its_older_half) {
  lg_fdcheck_flush_quarantine();
  cr_assert_eq(lg_options_set("fd_quarantine=16"), 0);
  int fds[40];
  for (int i = 0; i < 40; i++) {
    fds[i] = step_open();
    cr_assert_geq(fds[i], 0);
    step_close(fds[i]);
    size_t parked = lg_fdcheck_quarantined();
    cr_assert_leq(parked, 16);
    if (i >= 16) cr_assert_geq(parked, 8, "after %d closes only %zu parked", i + 1, parked);
  }
  size_t parked = lg_fdcheck_quarantined();
  for (int i = 0; i < 40; i++) {
    bool reused = false; /* released, then handed out again by a later open */
    for (int j = i + 1; j < 40; j++) reused |= fds[j] == fds[i];
    if (reused) continue;
    lg_fd_state st = lg_fdcheck_state(fds[i]);
    if (i < 40 - (int)parked) {
      cr_assert_eq(st, LG_FD_CLOSED, "number %d (close %d) should be released", fds[i], i);
      cr_assert_eq(raw_getfd(fds[i]), -1, "released number %d is still open", fds[i]);
    } else {
      cr_assert_eq(st, LG_FD_QUARANTINED, "number %d (close %d) should be parked", fds[i], i);
      cr_assert_geq(raw_getfd(fds[i]), 0, "parked number %d lost its placeholder", fds[i]);
    }
  }
  cr_assert_eq(capture_count, 0);
  lg_fdcheck_flush_quarantine();
  for (int i = 0; i < 40; i++) cr_assert_eq(raw_getfd(fds[i]), -1);
  cr_assert_eq(lg_options_set("fd_quarantine=64"), 0);
}

/* Closing an open descriptor takes no lock, parking and releasing included: closes go on
 * while fdcheck's lock is held (by this thread, waiting for them). */
void lg__fdcheck_hold_lock(bool hold); /* harness/src/fdcheck.c, for tests */

#define HELD_FDS 100
static int held_fds[HELD_FDS];

static void *close_held_fds(void *arg) {
  (void)arg;
  for (int i = 0; i < HELD_FDS; i++) cr_assert_eq(step_close(held_fds[i]), 0);
  return NULL;
}

Test(fdcheck, closes_go_on_while_the_lock_is_held) {
  lg_fdcheck_flush_quarantine();
  cr_assert_eq(lg_options_set("fd_quarantine=16"), 0);
  for (int i = 0; i < HELD_FDS; i++) cr_assert_geq(held_fds[i] = step_open(), 0);
  step_close(step_open()); /* the placeholder exists before the lock is held */
  lg__fdcheck_hold_lock(true);
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, close_held_fds, NULL), 0);
  pthread_join(t, NULL); /* (a close that took the lock would hang here until the timeout) */
  lg__fdcheck_hold_lock(false);
  size_t parked = lg_fdcheck_quarantined();
  cr_assert_leq(parked, 16);
  cr_assert_geq(parked, 8);
  int released = 0;
  for (int i = 0; i < HELD_FDS; i++) {
    lg_fd_state st = lg_fdcheck_state(held_fds[i]);
    cr_assert(st == LG_FD_CLOSED || st == LG_FD_QUARANTINED, "number %d in state %d",
              held_fds[i], st);
    if (st == LG_FD_CLOSED) {
      released++;
      cr_assert_eq(raw_getfd(held_fds[i]), -1, "released number %d is open", held_fds[i]);
    }
  }
  cr_assert_geq(released, HELD_FDS - 16, "the quarantine released only %d", released);
  cr_assert_eq(capture_count, 0);
  lg_fdcheck_flush_quarantine();
  cr_assert_eq(lg_options_set("fd_quarantine=64"), 0);
}

/* Threads opening, using and closing descriptors at once while a small quarantine parks and
 * releases from every thread: a release never closes a number a thread has been given since
 * (each pipe carries its own bytes intact, and nothing is reported). */
#define CHURN_THREADS 4
#define CHURN_ROUNDS 1500

static void *churn(void *arg) {
  unsigned id = (unsigned)(uintptr_t)arg;
  for (unsigned round = 0; round < CHURN_ROUNDS; round++) {
    int p[2];
    cr_assert_eq(pipe(p), 0);
    unsigned char out = (unsigned char)(id * 31 + round), in = 0;
    cr_assert_eq(write(p[1], &out, 1), 1, "thread %u round %u: %s", id, round, strerror(errno));
    cr_assert_eq(read(p[0], &in, 1), 1, "thread %u round %u: %s", id, round, strerror(errno));
    cr_assert_eq(in, out);
    cr_assert_eq(close(p[0]), 0);
    cr_assert_eq(close(p[1]), 0);
  }
  return NULL;
}

Test(fdcheck, concurrent_closes_never_release_a_live_number) {
  lg_fdcheck_flush_quarantine();
  cr_assert_eq(lg_options_set("fd_quarantine=8"), 0);
  pthread_t t[CHURN_THREADS];
  for (unsigned i = 0; i < CHURN_THREADS; i++)
    cr_assert_eq(pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)i), 0);
  for (unsigned i = 0; i < CHURN_THREADS; i++) pthread_join(t[i], NULL);
  cr_assert_eq(capture_count, 0, "clean churn reported %s", capture_log[0].kind);
  cr_assert_leq(lg_fdcheck_quarantined(), 8);
  lg_fdcheck_flush_quarantine();
  cr_assert_eq(lg_options_set("fd_quarantine=64"), 0);
}

/* A dup2 onto a parked number, while other threads' closes release parked numbers: the
 * release either comes first (the dup2 then lands on a free number) or finds the number
 * taken; it never closes the file the dup2 put there. The other threads only close (they
 * opened everything beforehand), so no one else can be given the number. */
#define CLOSERS 3
#define CLOSER_FDS 200
static int closer_fds[CLOSERS][CLOSER_FDS];

static void *close_preopened(void *arg) {
  int *fds = arg;
  for (int i = 0; i < CLOSER_FDS; i++) cr_assert_eq(close(fds[i]), 0);
  return NULL;
}

Test(fdcheck, dup2_onto_a_parked_number_survives_concurrent_releases) {
  lg_fdcheck_flush_quarantine();
  cr_assert_eq(lg_options_set("fd_quarantine=8"), 0);
  for (int c = 0; c < CLOSERS; c++)
    for (int i = 0; i < CLOSER_FDS; i++) cr_assert_geq(closer_fds[c][i] = step_open(), 0);
  int src[2], target = step_open();
  cr_assert_eq(pipe(src), 0);
  pthread_t t[CLOSERS];
  for (int c = 0; c < CLOSERS; c++)
    cr_assert_eq(pthread_create(&t[c], NULL, close_preopened, closer_fds[c]), 0);
  for (unsigned round = 0; round < CLOSERS * CLOSER_FDS; round++) {
    cr_assert_eq(close(target), 0);
    cr_assert_eq(dup2(src[1], target), target);
    unsigned char out = (unsigned char)round, in = 0;
    cr_assert_eq(write(target, &out, 1), 1, "round %u: %s", round, strerror(errno));
    cr_assert_eq(read(src[0], &in, 1), 1);
    cr_assert_eq(in, out);
  }
  for (int c = 0; c < CLOSERS; c++) pthread_join(t[c], NULL);
  cr_assert_eq(capture_count, 0, "reported %s", capture_log[0].kind);
  close(target);
  close(src[0]);
  close(src[1]);
  lg_fdcheck_flush_quarantine();
  cr_assert_eq(lg_options_set("fd_quarantine=64"), 0);
}

Test(fdcheck, without_quarantine_the_number_is_reused_at_once) {
  lg_fdcheck_flush_quarantine();
  cr_assert_eq(lg_options_set("fd_quarantine=0"), 0);
  int fd = step_open();
  step_close(fd);
  cr_assert_eq(lg_fdcheck_state(fd), LG_FD_CLOSED);
  int next = step_open();
  cr_assert_eq(next, fd, "the kernel hands out the lowest free number");
  step_close(next);
  cr_assert_eq(capture_count, 0);
}

Test(fdcheck, reuse_then_stale_close_does_not_kill_the_new_owner) {
  int a = step_open();
  step_close(a);
  int b = step_open(); /* would be `a` without the quarantine */
  step_close_again(a); /* the stale close */
  cr_assert_report(0, "double-close");
  cr_assert_eq(fcntl(b, F_GETFD), FD_CLOEXEC, "the new owner's descriptor must survive");
  step_close(b);
}

/* ---- closed-fd-use ----------------------------------------------------------------- */

Test(fdcheck, io_after_close_reported) {
  int fd = step_open();
  step_close(fd);
  errno = 0;
  cr_assert_eq(step_write(fd), -1);
  cr_assert_eq(errno, EBADF);
  cr_assert_eq(step_read(fd), -1);
  cr_assert_eq(step_send(fd), -1);
  cr_assert_eq(capture_count, 3);
  for (int i = 0; i < 3; i++) {
    cr_assert_report(i, "closed-fd-use");
    cr_assert_top(i, "close", "step_close");
    cr_assert_top(i, "open", "step_open");
  }
  cr_assert_top(0, "current", "step_write");
  cr_assert_top(1, "current", "step_read");
  cr_assert_top(2, "current", "step_send");
}

Test(fdcheck, io_on_open_descriptor_is_clean) {
  int sv[2];
  cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  cr_assert_eq(step_write(sv[0]), 1);
  cr_assert_eq(step_read(sv[1]), 1);
  step_close(sv[0]);
  step_close(sv[1]);
  cr_assert_eq(capture_count, 0);
}

Test(fdcheck, io_after_release_reported_when_number_is_free) {
  int fd = step_open();
  step_close(fd);
  lg_fdcheck_flush_quarantine();
  cr_assert_eq(step_write(fd), -1);
  cr_assert_report(0, "closed-fd-use");
  cr_assert_top(0, "current", "step_write");
}

NOINLINE int step_getfd(int fd) { return fcntl(fd, F_GETFD); }
NOINLINE int step_getfl(int fd) { return fcntl(fd, F_GETFL); }
NOINLINE int step_fstat(int fd) { struct stat st; return fstat(fd, &st); }
NOINLINE int step_dup(int fd) { return dup(fd); }

/* A validity check is a use: reported at the check, before the program sees EBADF (a
 * runtime aborts on that EBADF), whether the number is parked or released. */
Test(fdcheck, validity_check_on_parked_number_reported_at_the_check) {
  int fd = step_open();
  step_close(fd);
  cr_assert_eq(lg_fdcheck_state(fd), LG_FD_QUARANTINED);
  errno = 0;
  cr_assert_eq(step_getfl(fd), -1);
  cr_assert_eq(errno, EBADF);
  cr_assert_eq(capture_count, 1);
  cr_assert_report(0, "closed-fd-use");
  cr_assert_top(0, "current", "step_getfl");
  cr_assert_top(0, "close", "step_close");
}

/* ...except F_GETFD on a parked number, the check a runtime makes just before it closes a
 * descriptor it owns (Rust's debug builds): answered as the placeholder answers, so that the
 * close after it is reported as the double close. */
Test(fdcheck, getfd_before_close_on_parked_number_makes_the_close_the_report) {
  int fd = step_open();
  step_close(fd);
  cr_assert_eq(step_getfd(fd), 0);
  cr_assert_eq(capture_count, 0);
  step_close(fd);
  cr_assert_eq(capture_count, 1);
  cr_assert_report(0, "double-close");
  cr_assert_top(0, "close", "step_close");
}

Test(fdcheck, validity_check_on_released_number_reported_at_the_check) {
  int fd = step_open();
  step_close(fd);
  lg_fdcheck_flush_quarantine();
  errno = 0;
  cr_assert_eq(step_getfd(fd), -1);
  cr_assert_eq(errno, EBADF);
  cr_assert_report(0, "closed-fd-use");
  cr_assert_top(0, "current", "step_getfd");
}

Test(fdcheck, fstat_of_parked_number_reported_not_the_placeholder) {
  int fd = step_open();
  step_close(fd);
  errno = 0;
  cr_assert_eq(step_fstat(fd), -1, "fstat described the placeholder");
  cr_assert_eq(errno, EBADF);
  cr_assert_report(0, "closed-fd-use");
  cr_assert_top(0, "current", "step_fstat");
}

Test(fdcheck, dup_of_closed_number_reported_and_makes_nothing) {
  int fd = step_open();
  step_close(fd);
  errno = 0;
  cr_assert_eq(step_dup(fd), -1, "dup copied the placeholder");
  cr_assert_eq(errno, EBADF);
  cr_assert_report(0, "closed-fd-use");
  cr_assert_top(0, "current", "step_dup");
}

Test(fdcheck, queries_on_open_descriptors_are_clean) {
  int fd = step_open();
  cr_assert_eq(step_getfd(fd), FD_CLOEXEC);
  cr_assert_eq(step_fstat(fd), 0);
  int copy = step_dup(fd);
  cr_assert_geq(copy, 0);
  cr_assert_eq(isatty(fd), 0);
  step_close(copy);
  step_close(fd);
  cr_assert_eq(capture_count, 0);
}

/* ---- foreign-close and owner tags --------------------------------------------------- */

Test(fdcheck, foreign_close_of_tagged_descriptor_reported) {
  int owner;
  uint64_t tag = tag_of(&owner);
  int fd = step_open();
  step_tag(fd, tag);
  cr_assert_eq(android_fdsan_get_owner_tag(fd), tag);
  cr_assert_eq(step_close(fd), 0);
  cr_assert_report(0, "foreign-close");
  cr_assert_top(0, "current", "step_close");
  cr_assert_top(0, "open", "step_open");
  cr_assert_top(0, "owner", "step_tag");
  cr_assert(strstr(capture_log[0].headline, "unique_fd") != NULL, "%s", capture_log[0].headline);
}

Test(fdcheck, close_by_the_owner_is_clean) {
  int owner;
  uint64_t tag = tag_of(&owner);
  int fd = step_open();
  step_tag(fd, tag);
  cr_assert_eq(step_close_tagged(fd, tag), 0);
  cr_assert_eq(capture_count, 0);
}

Test(fdcheck, close_with_wrong_tag_reported) {
  int a, b;
  uint64_t ta = tag_of(&a);
  uint64_t tb = tag_of(&b);
  int fd = step_open();
  step_tag(fd, ta);
  step_close_tagged(fd, tb);
  cr_assert_report(0, "foreign-close");
  cr_assert_top(0, "current", "step_close_tagged");
}

Test(fdcheck, exchange_with_wrong_expected_owner_reported) {
  int a, b;
  uint64_t ta = tag_of(&a);
  uint64_t tb = tag_of(&b);
  int fd = step_open();
  step_tag(fd, ta);
  android_fdsan_exchange_owner_tag(fd, tb, 0);
  cr_assert_report(0, "owner-mismatch");
  cr_assert_eq(android_fdsan_get_owner_tag(fd), ta, "a failed exchange must not change the owner");
  step_close_tagged(fd, ta);
  cr_assert_eq(capture_count, 1);
}

Test(fdcheck, tag_api_round_trips) {
  int x;
  uint64_t tag = android_fdsan_create_owner_tag(ANDROID_FDSAN_OWNER_TYPE_FILE, (uintptr_t)&x);
  cr_assert_eq(tag >> 56, ANDROID_FDSAN_OWNER_TYPE_FILE);
  cr_assert_str_eq(android_fdsan_get_tag_type(tag), "FILE*");
  cr_assert_eq(android_fdsan_get_tag_value(tag), (uint64_t)(uintptr_t)&x);
  cr_assert_eq(android_fdsan_create_owner_tag(ANDROID_FDSAN_OWNER_TYPE_FILE, 0), 0);
  /* a type beyond fdsan's is unknown until a program names it */
  uint64_t own = android_fdsan_create_owner_tag((enum android_fdsan_owner_type)0x7e, 1);
  cr_assert_str_eq(android_fdsan_get_tag_type(own), "native object of unknown type");
  lg_fdcheck_name_owner_type(0x7e, "test owner");
  cr_assert_str_eq(android_fdsan_get_tag_type(own), "test owner");
}

/* ---- streams, directories, dup2 ---------------------------------------------------- */

NOINLINE FILE *step_fopen(void) { return tmpfile(); }
NOINLINE int step_fclose(FILE *fp) { return fclose(fp); }

Test(fdcheck, fclose_then_close_reported) {
  FILE *fp = step_fopen();
  cr_assert_not_null(fp);
  int fd = fileno(fp);
  fputs("buffered", fp);
  cr_assert_eq(step_fclose(fp), 0);
  cr_assert_eq(lg_fdcheck_state(fd), LG_FD_QUARANTINED);
  step_close_again(fd);
  cr_assert_report(0, "double-close");
  cr_assert_top(0, "current", "step_close_again");
  cr_assert_top(0, "close", "step_fclose");
  cr_assert_top(0, "open", "step_fopen");
}

Test(fdcheck, fclose_alone_is_clean_and_flushes) {
  char path[] = "/tmp/lifeguard-test-XXXXXX";
  int tmp = mkstemp(path);
  cr_assert_geq(tmp, 0);
  close(tmp);
  FILE *fp = fopen(path, "w");
  fputs("kept", fp);
  cr_assert_eq(step_fclose(fp), 0);
  FILE *in = fopen(path, "r");
  char buf[8] = "";
  cr_assert_not_null(fgets(buf, sizeof buf, in));
  cr_assert_str_eq(buf, "kept", "data buffered before fclose must reach the file");
  fclose(in);
  unlink(path);
  cr_assert_eq(capture_count, 0);
}

Test(fdcheck, close_of_stream_descriptor_is_foreign) {
  FILE *fp = step_fopen();
  int fd = fileno(fp);
  step_close(fd); /* the FILE* owns it */
  cr_assert_report(0, "foreign-close");
  cr_assert(strstr(capture_log[0].headline, "FILE*") != NULL, "%s", capture_log[0].headline);
  step_fclose(fp); /* its own close now comes second */
  cr_assert_report(1, "double-close");
  cr_assert_top(1, "current", "step_fclose");
}

NOINLINE FILE *step_fdopen(int fd) { return fdopen(fd, "w"); }

Test(fdcheck, fdopen_gives_the_descriptor_to_the_stream) {
  int fd = step_open();
  FILE *fp = step_fdopen(fd);
  cr_assert_not_null(fp);
  cr_assert_str_eq(android_fdsan_get_tag_type(android_fdsan_get_owner_tag(fd)), "FILE*");
  cr_assert_eq(step_fclose(fp), 0);
  cr_assert_eq(capture_count, 0);
}

Test(fdcheck, fdopen_then_close_of_the_number_is_foreign) {
  int fd = step_open();
  FILE *fp = step_fdopen(fd);
  step_close(fd);
  cr_assert_report(0, "foreign-close");
  cr_assert_top(0, "owner", "step_fdopen");
  cr_assert_top(0, "open", "step_open");
  step_fclose(fp);
}

Test(fdcheck, fdopen_of_an_owned_descriptor_is_owner_mismatch) {
  int owner;
  int fd = step_open();
  step_tag(fd, tag_of(&owner));
  FILE *fp = step_fdopen(fd);
  cr_assert_report(0, "owner-mismatch");
  cr_assert_top(0, "current", "step_fdopen");
  cr_assert_top(0, "owner", "step_tag");
  cr_assert_eq(android_fdsan_get_owner_tag(fd), tag_of(&owner), "the owner keeps it");
  step_fclose(fp);
}

NOINLINE DIR *step_opendir(void) { return opendir("/"); }
NOINLINE int step_closedir(DIR *d) { return closedir(d); }

Test(fdcheck, closedir_then_close_reported) {
  DIR *d = step_opendir();
  cr_assert_not_null(d);
  int fd = dirfd(d);
  cr_assert_eq(step_closedir(d), 0);
  cr_assert_eq(lg_fdcheck_state(fd), LG_FD_QUARANTINED);
  step_close_again(fd);
  cr_assert_report(0, "double-close");
  cr_assert_top(0, "close", "step_closedir");
  cr_assert_top(0, "open", "step_opendir");
}

Test(fdcheck, closedir_alone_is_clean) {
  DIR *d = step_opendir();
  cr_assert_not_null(readdir(d));
  step_closedir(d);
  cr_assert_eq(capture_count, 0);
}

NOINLINE int step_dup2(int from, int onto) { return dup2(from, onto); }

Test(fdcheck, dup2_onto_owned_descriptor_is_foreign_close) {
  int owner;
  uint64_t tag = tag_of(&owner);
  int victim = step_open(), other = step_open();
  step_tag(victim, tag);
  cr_assert_eq(step_dup2(other, victim), victim);
  cr_assert_report(0, "foreign-close");
  cr_assert_top(0, "current", "step_dup2");
  cr_assert(strstr(capture_log[0].headline, "replaced by dup2") != NULL, "%s",
            capture_log[0].headline);
  step_close(victim);
  step_close(other);
  cr_assert_eq(capture_count, 1);
}

Test(fdcheck, dup2_onto_unowned_or_parked_number_is_clean) {
  int a = step_open(), b = step_open();
  cr_assert_eq(step_dup2(a, b), b); /* redirect: closes b's old file, no owner to offend */
  step_close(b);
  cr_assert_eq(step_dup2(a, b), b); /* b was parked; the program may reuse it on purpose */
  cr_assert_eq(lg_fdcheck_state(b), LG_FD_OPEN);
  step_close(b);
  step_close(a);
  cr_assert_eq(capture_count, 0);
}

/* ---- threads, text, JSON, halting -------------------------------------------------- */

static void *close_in_thread(void *arg) {
  step_close_again((int)(intptr_t)arg);
  return NULL;
}

Test(fdcheck, cross_thread_double_close_names_both_threads) {
  int fd = step_open();
  step_close(fd);
  pthread_t t;
  pthread_create(&t, NULL, close_in_thread, (void *)(intptr_t)fd);
  pthread_join(t, NULL);
  cr_assert_report(0, "double-close");
  cr_assert_neq(capture_log[0].tids[0], capture_log[0].tids[1],
                "the second close ran on another thread");
  cr_assert_eq(capture_log[0].tids[1], gettid());
}

Test(fdcheck, text_report_has_summary_line) {
  cr_redirect_stderr();
  int fd = step_open();
  step_close(fd);
  step_close_again(fd);
  fflush(stderr);
  FILE *err = cr_get_redirected_stderr();
  char line[512];
  int saw_error = 0, saw_summary = 0, frames = 0;
  while (fgets(line, sizeof line, err)) {
    if (strstr(line, "ERROR: lifeguard: double-close on file descriptor")) saw_error = 1;
    if (strncmp(line, "SUMMARY: lifeguard: double-close ", 33) == 0 &&
        strstr(line, "in step_close_again"))
      saw_summary = 1;
    if (strstr(line, "    #0 ")) frames++;
  }
  cr_assert(saw_error, "no ERROR line");
  cr_assert(saw_summary, "no SUMMARY line naming step_close_again");
  cr_assert_eq(frames, 3, "current, close and open stacks");
}

Test(fdcheck, json_log_written) {
  char path[32];
  capture_json_start(path);
  int fd = step_open();
  step_close(fd);
  step_close_again(fd);
  char line[16384];
  capture_json_first_line(path, line, sizeof line);
  cr_assert(strstr(line, "\"kind\":\"double-close\"") != NULL, "%s", line);
  cr_assert(strstr(line, "\"close\":[{") != NULL, "%s", line);
  cr_assert(strstr(line, "\"function\":\"step_close_again\"") != NULL, "%s", line);
}

Test(fdcheck, halt_on_error_aborts, .signal = SIGABRT) {
  lg_options_set("halt_on_error=1");
  int fd = step_open();
  step_close(fd);
  step_close_again(fd);
}

Test(fdcheck, bad_option_string_rejected) {
  cr_redirect_stderr();
  cr_assert_eq(lg_options_set("no_such_option=1"), -1);
  cr_assert_eq(lg_options_set("fd_quarantine=lots"), -1);
  cr_assert_eq(lg_options_set("halt_on_error"), -1);
}

Test(fdcheck, disabled_checker_sees_nothing) {
  lg_options_set("fdcheck=0");
  int fd = step_open();
  step_close(fd);
  cr_assert_eq(step_close_again(fd), -1);
  cr_assert_eq(capture_count, 0);
}

/* ---- fd-leak ------------------------------------------------------------------------- */

Test(fdcheck, leak_since_mark_reported_with_its_open_stack) {
  int before = step_open(); /* open before the mark: not the check's business */
  uint64_t mark = lg_fdcheck_mark();
  int closed = step_open();
  int leaked = step_open();
  step_close(closed);
  cr_assert_eq(lg_fdcheck_leaks_since(mark, "the test ended"), 1);
  cr_assert_eq(capture_count, 1);
  cr_assert_report(0, "fd-leak");
  cr_assert_eq(capture_log[0].fd, leaked);
  cr_assert_top(0, "open", "step_open");
  step_close(leaked);
  step_close(before);
}

Test(fdcheck, everything_closed_since_mark_is_clean) {
  int before = step_open();
  uint64_t mark = lg_fdcheck_mark();
  int fd = step_open();
  int other = step_open();
  step_close(other);
  step_close(fd);
  cr_assert_eq(lg_fdcheck_leaks_since(mark, "the test ended"), 0);
  cr_assert_eq(capture_count, 0);
  step_close(before);
}

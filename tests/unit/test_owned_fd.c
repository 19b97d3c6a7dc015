/* SPDX-License-Identifier: MIT */
/* lg_owned_fd and lg_socket: one owner, one close. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <lgrt/net.h>
#include <lifeguard/fdcheck.h>
#include <lgrt/faults.h>

#include "capture.h"

static int new_socket(void) { return socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0); }

static void setup(void) {
  capture_setup();
  lg_fault_reset();
}

TestSuite(owned_fd, .init = setup, .timeout = LG_UNIT_TIMEOUT);

Test(owned_fd, drop_closes_exactly_once) {
  lg_owned_fd o;
  int fd = new_socket();
  cr_assert_eq(lg_owned_fd_init(&o, fd, 0), 0);
  cr_assert_eq(lg_owned_fd_raw(&o), fd);
  cr_assert_eq(lg_owned_fd_drop(&o), 0);
  cr_assert_eq(lg_owned_fd_raw(&o), -1);
  cr_assert_eq(lg_fdcheck_state(fd), LG_FD_QUARANTINED, "the descriptor was closed");
  cr_assert_eq(lg_owned_fd_drop(&o), 0, "a second drop is a no-op");
  cr_assert_eq(capture_count, 0);
}

Test(owned_fd, owner_type_is_named_in_reports) {
  /* the runtime names its owner type for fdcheck; fdcheck itself knows only fdsan's */
  uint64_t tag = android_fdsan_create_owner_tag(LG_FDSAN_OWNER_TYPE_OWNED_FD, 1);
  cr_assert_str_eq(android_fdsan_get_tag_type(tag), "lg_owned_fd");
}

Test(owned_fd, init_rejects_negative_descriptor) {
  lg_owned_fd o;
  cr_assert_eq(lg_owned_fd_init(&o, -1, 0), -EBADF);
  cr_assert_eq(lg_owned_fd_raw(&o), -1);
  cr_assert_eq(lg_owned_fd_drop(&o), 0);
}

Test(owned_fd, take_gives_ownership_up) {
  lg_owned_fd o;
  int fd = new_socket();
  lg_owned_fd_init(&o, fd, LG_OWNED_FD_TAGGED);
  cr_assert_eq(lg_owned_fd_take(&o), fd);
  cr_assert_eq(android_fdsan_get_owner_tag(fd), 0, "taken descriptors are unowned");
  lg_owned_fd_drop(&o);
  cr_assert_eq(fcntl(fd, F_GETFD), FD_CLOEXEC, "drop after take must not close");
  cr_assert_eq(close(fd), 0);
  cr_assert_eq(capture_count, 0);
}

Test(owned_fd, transfer_moves_ownership) {
  lg_owned_fd a, b;
  int fd = new_socket();
  lg_owned_fd_init(&a, fd, LG_OWNED_FD_TAGGED);
  uint64_t tag_a = android_fdsan_get_owner_tag(fd);
  cr_assert_eq(android_fdsan_get_tag_value(tag_a), (uint64_t)(uintptr_t)&a);
  lg_owned_fd_transfer(&b, &a);
  cr_assert_eq(lg_owned_fd_raw(&a), -1);
  cr_assert_eq(lg_owned_fd_raw(&b), fd);
  cr_assert_eq(android_fdsan_get_tag_value(android_fdsan_get_owner_tag(fd)),
               (uint64_t)(uintptr_t)&b, "the tag follows the owner");
  lg_owned_fd_drop(&a);
  cr_assert_eq(fcntl(fd, F_GETFD), FD_CLOEXEC);
  lg_owned_fd_drop(&b);
  cr_assert_eq(lg_fdcheck_state(fd), LG_FD_QUARANTINED);
  cr_assert_eq(capture_count, 0);
}

Test(owned_fd, tagged_owner_reports_a_borrower_close) {
  lg_owned_fd o;
  int fd = new_socket();
  lg_owned_fd_init(&o, fd, LG_OWNED_FD_TAGGED);
  close(lg_owned_fd_raw(&o)); /* the borrower closes what it does not own */
  cr_assert_report(0, "foreign-close");
  cr_assert(strstr(capture_log[0].headline, "lg_owned_fd") != NULL, "%s", capture_log[0].headline);
  lg_owned_fd_drop(&o);
  cr_assert_report(1, "double-close");
  cr_assert_top(1, "current", "lg_owned_fd_drop");
}

Test(owned_fd, untagged_owner_reports_the_second_close) {
  lg_owned_fd o;
  int fd = new_socket();
  lg_owned_fd_init(&o, fd, 0);
  close(lg_owned_fd_raw(&o));
  cr_assert_eq(capture_count, 0, "an untagged owner cannot tell who closes");
  lg_owned_fd_drop(&o);
  cr_assert_report(0, "double-close");
  cr_assert_top(0, "current", "lg_owned_fd_drop");
}

TestSuite(socket, .init = setup, .timeout = LG_UNIT_TIMEOUT);

Test(socket, destroy_closes_once) {
  lg_socket s;
  cr_assert_eq(lg_socket_open(&s, AF_UNIX, SOCK_DGRAM, 0, 0), 0);
  int fd = lg_owned_fd_raw(&s.inner);
  lg_socket_destroy(&s);
  cr_assert_eq(lg_fdcheck_state(fd), LG_FD_QUARANTINED);
  cr_assert_eq(capture_count, 0);
}

Test(socket, close_in_drop_switch_closes_twice) {
  cr_assert_eq(lg_fault_set("socket-close-in-drop", true), 0);
  lg_socket s;
  cr_assert_eq(lg_socket_open(&s, AF_UNIX, SOCK_DGRAM, 0, 0), 0);
  lg_socket_destroy(&s);
  cr_assert_eq(capture_count, 1);
  cr_assert_report(0, "double-close");
  cr_assert_top(0, "current", "lg_owned_fd_drop");
  cr_assert_top(0, "close", "lg_socket_close");
  cr_assert_top(0, "open", "lg_socket_open");
}

Test(socket, fault_switch_names) {
  cr_assert_eq(lg_fault_set("no-such-switch", true), -1);
  cr_assert_eq(lg_fault_lookup("socket-close-in-drop"), LG_FAULT_SOCKET_CLOSE_IN_DROP);
  cr_assert_str_eq(lg_fault_origin(LG_FAULT_SOCKET_CLOSE_IN_DROP), "fujiapple852/trippy#1443");
  cr_assert(!lg_fault(LG_FAULT_SOCKET_CLOSE_IN_DROP), "switches are off by default");
}

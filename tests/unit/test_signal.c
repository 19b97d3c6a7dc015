/* SPDX-License-Identifier: MIT */
/* The SIGSEGV/SIGBUS dispatcher (harness/src/signal.c), linked in: the program's handler is
 * kept by lifeguard while the kernel keeps lifeguard's; a guard-page fault is reported before
 * that handler could see it; a fault no detector explains reaches it. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "capture.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LG_TEST_ASAN 1
#endif
#endif

#ifdef LG_TEST_ASAN
/* Under AddressSanitizer, ASan owns SIGSEGV and malloc: lifeguard's interposers are not
 * compiled and there is no page heap, so there is nothing of the dispatcher's to test. */
Test(signals, dispatcher_is_tested_without_asan) {
  cr_skip_test("the asan build has no page heap and leaves SIGSEGV to ASan; the plain tree "
               "runs these tests");
}
#else

/* The kernel's own view of an action (struct kernel_sigaction), past any interposer. */
typedef struct {
  void *handler;
  unsigned long flags;
  void *restorer;
  unsigned long mask;
} kernel_action;

static void kernel_get(int sig, kernel_action *k) {
  cr_assert_eq(syscall(SYS_rt_sigaction, sig, NULL, k, sizeof k->mask), 0);
}

static void quiet_exit(int sig) {
  (void)sig;
  _exit(7);
}

Test(signals, program_handler_kept_while_the_kernel_keeps_lifeguards,
     .timeout = LG_UNIT_TIMEOUT) {
  struct sigaction mine, old, now;
  memset(&mine, 0, sizeof mine);
  mine.sa_handler = quiet_exit;
  sigemptyset(&mine.sa_mask);
  sigaddset(&mine.sa_mask, SIGUSR1);
  for (int i = 0; i < 2; i++) {
    int sig = i ? SIGBUS : SIGSEGV;
    cr_assert_eq(sigaction(sig, &mine, &old), 0);
    cr_assert_eq(sigaction(sig, NULL, &now), 0);
    cr_assert_eq((void *)now.sa_handler, (void *)quiet_exit);
    cr_assert(sigismember(&now.sa_mask, SIGUSR1));
    kernel_action k;
    kernel_get(sig, &k);
    cr_assert_neq(k.handler, (void *)quiet_exit, "the program's handler reached the kernel");
    cr_assert_neq(k.handler, (void *)SIG_DFL);
    cr_assert((k.flags & (SA_SIGINFO | SA_ONSTACK)) == (SA_SIGINFO | SA_ONSTACK));
    cr_assert_eq(sigaction(sig, &old, &now), 0);
    cr_assert_eq((void *)now.sa_handler, (void *)quiet_exit);
    cr_assert_eq(signal(sig, SIG_DFL), old.sa_handler);
  }
}

/* (Criterion's .signal parameter hides signal() inside the test bodies below.) */
static sighandler_t set_handler(int sig, sighandler_t h) { return signal(sig, h); }

__attribute__((noinline)) static int read_byte(volatile char *p) { return p[3]; }

/* Aborts with lifeguard's heap-use-after-free report; the program's handler would exit 7. */
Test(signals, guard_fault_reported_before_program_handler, .signal = SIGABRT,
     .timeout = LG_UNIT_TIMEOUT) {
  char *p = malloc(48);
  memset(p, 1, 48);
  cr_assert_eq(set_handler(SIGSEGV, quiet_exit), SIG_DFL);
  char *stale = p;
  __asm__ volatile("" : "+r"(stale));
  free(p);
  read_byte(stale);
  cr_assert_fail("the read of a freed block did not fault");
}

/* A null dereference no detector explains: the program's handler runs (exit 7). */
Test(signals, fault_nobody_explains_reaches_program_handler, .exit_code = 7,
     .timeout = LG_UNIT_TIMEOUT) {
  set_handler(SIGSEGV, quiet_exit);
  volatile char *null = NULL;
  __asm__ volatile("" : "+r"(null));
  read_byte(null);
  cr_assert_fail("no fault");
}
#endif

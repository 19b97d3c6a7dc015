/* SPDX-License-Identifier: MIT */
/* A use after free in a program that owns a SIGSEGV handler which does not pass faults on
 * (as node's, for its WebAssembly traps): the handler is installed after the first
 * allocation, so it comes after lifeguard's. lifeguard owns the fault signals: the freed
 * block's fault is reported as heap-use-after-free before the program's handler could end the
 * process quietly. With handle_segv=0 the program's handler takes it (exit 3, no report).
 *   sig_user_handler fault|clean */
#include "seeded.h"
#include <signal.h>
#include <unistd.h>

SEEDED_FN char *make_block(size_t n) {
  char *p = malloc(n);
  memset(p, 'A', n);
  return p;
}

SEEDED_FN void release_block(char *p) { free(p); }

SEEDED_FN int use_block(char *p) {
  SEEDED_OPAQUE(p);
  return *(volatile char *)(p + 8);
}

/* Ends the process without passing the fault on: no core, no report. */
static void program_handler(int sig, siginfo_t *si, void *uc) {
  (void)sig;
  (void)si;
  (void)uc;
  static const char msg[] = "the program's own SIGSEGV handler ran\n";
  write(1, msg, sizeof msg - 1);
  _exit(3);
}

int main(int argc, char **argv) {
  int fault = seeded_mode(argc, argv);
  char *p = make_block(100);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = program_handler;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, NULL);
  sigaction(SIGBUS, &sa, NULL);
  if (fault) release_block(p);
  int c = use_block(p);
  printf("read '%c'\n", c);
  if (!fault) release_block(p);
  return 0;
}

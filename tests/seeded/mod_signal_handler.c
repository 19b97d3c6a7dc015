/* SPDX-License-Identifier: MIT */
/* A signal handler in the module: the module installs a SIGUSR1 handler and is unloaded
 * without restoring the previous one; the next SIGUSR1 calls into unmapped code. The clean
 * twin restores the handler (SIG_IGN here) before the unload. With `segv`, the same for
 * SIGSEGV, whose handlers lifeguard keeps itself (the census must still see the module's).
 *   mod_signal_handler fault|clean [segv] */
#include "module_common.h"
#include <signal.h>

static int sig = SIGUSR1;

SEEDED_FN void deliver_signal(void) { raise(sig); }

int main(int argc, char **argv) {
  int fault = seeded_mode(argc, argv);
  if (argc > 2 && !strcmp(argv[2], "segv")) sig = SIGSEGV;
  signal(sig, SIG_IGN);
  void *h = load_module();
  int (*install)(int) = (int (*)(int))module_symbol(h, "mod_install_handler");
  int (*restore)(int) = (int (*)(int))module_symbol(h, "mod_restore_handler");
  install(sig);
  deliver_signal();
  if (!fault) restore(sig);
  unload_module(h);
  deliver_signal();
  puts("done");
  return 0;
}

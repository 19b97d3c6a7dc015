/* A signal handler in the module: the module installs a SIGUSR1 handler and is unloaded
 * without restoring the previous one; the next SIGUSR1 calls into unmapped code. The clean
 * twin restores the handler (SIG_IGN here) before the unload. */
#include "module_common.h"
#include <signal.h>

SEEDED_FN void deliver_signal(void) { raise(SIGUSR1); }

int main(int argc, char **argv) {
  int fault = seeded_mode(argc, argv);
  signal(SIGUSR1, SIG_IGN);
  void *h = load_module();
  int (*install)(int) = (int (*)(int))module_symbol(h, "mod_install_handler");
  int (*restore)(int) = (int (*)(int))module_symbol(h, "mod_restore_handler");
  install(SIGUSR1);
  deliver_signal();
  if (!fault) restore(SIGUSR1);
  unload_module(h);
  deliver_signal();
  puts("done");
  return 0;
}

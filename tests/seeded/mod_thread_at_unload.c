/* A thread inside the module at dlclose: the module's worker is still running when the host
 * unloads it. The clean twin stops and joins the worker first. */
#include "module_common.h"
#include <unistd.h>

int main(int argc, char **argv) {
  int fault = seeded_mode(argc, argv);
  void *h = load_module();
  int (*start)(void) = (int (*)(void))module_symbol(h, "mod_start_thread");
  void (*stop)(void) = (void (*)(void))module_symbol(h, "mod_stop_thread");
  start();
  if (!fault) stop();
  unload_module(h);
  /* The worker, if any, wakes up in unmapped code and the report ends the process; give it
   * time to be written on a busy machine (the clean twin has nothing to wait for). */
  usleep(fault ? 5000 * 1000 : 200 * 1000);
  puts("done");
  return 0;
}

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
  usleep(200 * 1000); /* the worker, if any, wakes up in unmapped code */
  puts("done");
  return 0;
}

/* SPDX-License-Identifier: MIT */
/* A thread inside the module at dlclose: the module's worker is still running when the host
 * unloads it. The clean twin stops and joins the worker first.
 *
 * After the unload the host joins the worker instead of sleeping for a while: the worker
 * parks in the module with a 20 ms timeout, and its next wake-up returns into unmapped code,
 * whose fault (or lifeguard's report at the unload itself) ends the process. A worker that
 * somehow survives keeps the join waiting, a hang the caller's timeout names. */
#include "module_common.h"
#include <pthread.h>

int main(int argc, char **argv) {
  int fault = seeded_mode(argc, argv);
  void *h = load_module();
  int (*start)(pthread_t *) = (int (*)(pthread_t *))module_symbol(h, "mod_start_thread");
  void (*stop)(void) = (void (*)(void))module_symbol(h, "mod_stop_thread");
  pthread_t worker;
  if (start(&worker) != 0) {
    fprintf(stderr, "mod_start_thread failed\n");
    return 2;
  }
  if (!fault) stop();
  unload_module(h);
  if (fault) pthread_join(worker, NULL);
  puts("done");
  return 0;
}

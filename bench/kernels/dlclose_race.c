/* SPDX-License-Identifier: MIT */
/* dlclose racing a module's thread: the host loads a module (libkernel_dlclose_module.so,
 * next to this program), the module starts a poller thread, and the host stops the module
 * (which only tells the thread to stop and detaches it) and unloads it with dlclose while the
 * thread may still be in the module's code: when it runs again, its code is gone (a crash).
 * Clean twin: the module's stop joins its thread before dlclose. Found at: the host's
 * dlclose between the poller's unlock and its return into the module's loop, then any
 * scheduling point of the host (its sleep) that lets the poller run. */
#include "kernel.h"

#include <dlfcn.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

int main(void) {
  char path[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", path, sizeof path - 64);
  CHECK(n > 0);
  path[n] = '\0';
  strcpy(strrchr(path, '/') + 1, "libkernel_dlclose_module.so");
  void *module = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!module) {
    fprintf(stderr, "dlclose_race: %s\n", dlerror());
    return 2;
  }
  int (*start)(void) = (int (*)(void))dlsym(module, "module_start");
  void (*stop)(int) = (void (*)(int))dlsym(module, "module_stop");
  CHECK(start && stop);
  CHECK(start() == 0);
  sched_yield();
#ifdef LG_KERNEL_CLEAN
  stop(1);
#else
  stop(0);
#endif
  CHECK(dlclose(module) == 0);
  usleep(1000); /* the host goes on with its own work */
  return 0;
}

/* SPDX-License-Identifier: MIT */
/* Loading and unloading the seeded module (its path is compiled in: SEEDED_MODULE). */
#ifndef LG_SEEDED_MODULE_COMMON_H
#define LG_SEEDED_MODULE_COMMON_H

#include "seeded.h"
#include <dlfcn.h>

SEEDED_FN void *load_module(void) {
  void *h = dlopen(SEEDED_MODULE, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    fprintf(stderr, "dlopen: %s\n", dlerror());
    exit(2);
  }
  return h;
}

SEEDED_FN void *module_symbol(void *h, const char *name) {
  void *p = dlsym(h, name);
  if (!p) {
    fprintf(stderr, "dlsym %s: %s\n", name, dlerror());
    exit(2);
  }
  return p;
}

SEEDED_FN int unload_module(void *h) { return dlclose(h); }

#endif

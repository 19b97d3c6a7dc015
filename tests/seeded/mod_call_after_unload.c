/* SPDX-License-Identifier: MIT */
/* Call after dlclose: a function pointer into the module kept and called after the unload. */
#include "module_common.h"

SEEDED_FN int call_into_module(int (*fn)(int), int x) { return fn(x); }

int main(int argc, char **argv) {
  int fault = seeded_mode(argc, argv);
  void *h = load_module();
  int (*answer)(int) = (int (*)(int))module_symbol(h, "mod_answer");
  int r = call_into_module(answer, 20);
  if (fault) {
    unload_module(h);
    r = call_into_module(answer, 20);
  } else {
    answer = NULL;
    unload_module(h);
  }
  printf("answer %d\n", r);
  return 0;
}

/* SPDX-License-Identifier: MIT */
/* unwind_bench's call chain without frame pointers (built -O2 -fomit-frame-pointer). */
#include <stdint.h>

__attribute__((noinline)) uint64_t nofp_chain(int depth, uint64_t (*leaf)(void)) {
  uint64_t r = depth ? nofp_chain(depth - 1, leaf) : leaf();
  __asm__ volatile("" ::: "memory"); /* no tail call */
  return r + 1;
}

/* SPDX-License-Identifier: MIT */
/* The AFL++ driver of a fuzz target (<target>_afl, built by the afl preset with
 * afl-clang-fast): AFL++'s persistent mode with the input in shared memory, in place of
 * libAFLDriver.a. libAFLDriver runs the target once on a dummy input of its own ("##SI") in
 * every forked child before the real input; a class target drives that input too, and with a
 * fault switch on it may crash there (double_close does), so every input would seem to crash.
 *
 *   afl-fuzz -i SEEDS -o OUT -- build/afl/fuzz/<target>_afl     fuzz (persistent, shared memory)
 *   build/afl/fuzz/<target>_afl FILE...                          run each file once, in order
 *
 * Under afl-fuzz every input runs in a child forked from the fork server, so lifeguard's
 * fdcheck is told to check forked children (check_forked_children=1; by default it leaves a
 * forked child alone until exec), and its reports are not symbolized (symbolize=0: a crash
 * costs no llvm-symbolizer run; replay the input to read a symbolized report). The plugin
 * module_unload loads and unloads in every input is not instrumented (fuzz/CMakeLists.txt):
 * it is loaded after the fork server, too late for AFL++ to count it, and preloading it
 * (AFL_PRELOAD) would keep an unload from unmapping it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h> /* read(), in __AFL_FUZZ_TESTCASE_LEN */

#include <lifeguard/options.h>
#include <lifeguard/report.h>

#ifndef __AFL_FUZZ_TESTCASE_LEN
#error "fuzz/afl_main.c is built by afl-clang-fast (the afl preset)"
#endif

#define LOOP_COUNT 10000 /* inputs per forked child before the fork server forks a new one */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

__AFL_FUZZ_INIT();

/* Runs one input from a buffer of exactly its size, so that AddressSanitizer sees a read
 * past its end (the shared-memory buffer is larger). */
static void run_one(const uint8_t *data, size_t size) {
  uint8_t *copy = malloc(size ? size : 1);
  if (!copy) abort();
  memcpy(copy, data, size);
  LLVMFuzzerTestOneInput(copy, size);
  free(copy);
}

/* Runs the file at `path` once; returns 0, or -1 when it cannot be read. */
static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  size_t cap = 4096, len = 0;
  uint8_t *buf = malloc(cap);
  while (buf && (len += fread(buf + len, 1, cap - len, f)) == cap) {
    uint8_t *bigger = realloc(buf, cap *= 2);
    if (!bigger) free(buf);
    buf = bigger;
  }
  int failed = !buf || ferror(f);
  fclose(f);
  if (!failed) run_one(buf, len);
  free(buf);
  return failed ? -1 : 0;
}

/* Fuzzes under afl-fuzz (no arguments), or runs each argument's file once. */
int main(int argc, char **argv) {
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  if (argc > 1) {
    for (int i = 1; i < argc; i++) {
      if (run_file(argv[i]) != 0) {
        fprintf(stderr, "%s: cannot read %s\n", argv[0], argv[i]);
        return 2;
      }
    }
    return 0;
  }
  if (lg_options_set("check_forked_children=1:symbolize=0") != 0) return 2;
  __AFL_INIT();
  const uint8_t *buf = __AFL_FUZZ_TESTCASE_BUF;
  while (__AFL_LOOP(LOOP_COUNT)) run_one(buf, (size_t)__AFL_FUZZ_TESTCASE_LEN);
  return 0;
}

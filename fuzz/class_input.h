/* The input grammar the class fuzz targets share, and the execution it drives.
 *
 * Byte 0 = how many operation bytes follow (mod the target's max_ops) + max_ops * the
 * target's configuration (byte 0 / max_ops: which runtime configuration the execution uses,
 * 0 = the default, so an input written for the default keeps its meaning); then the operation
 * bytes, each dealt to actor (byte % nactors), which keeps them in order; the rest is the
 * schedule, one byte per decision (lg_source_bytes: when it runs out, nobody is preempted,
 * so libFuzzer's minimizer shortens schedules too). */
#ifndef LG_FUZZ_CLASS_INPUT_H
#define LG_FUZZ_CLASS_INPUT_H

#include <stddef.h>
#include <stdint.h>

#include <lifeguard/sched.h>
#include <lifeguard/source.h>

#define LG_FUZZ_OPS_CAP 64

typedef struct lg_fuzz_ops {
  uint8_t op[LG_FUZZ_OPS_CAP];
  size_t n;
} lg_fuzz_ops;

/* The configuration an input asks for: byte 0 / max_ops (0 for an empty input). */
static inline unsigned lg_fuzz_class_config(const uint8_t *data, size_t size, size_t max_ops) {
  if (size == 0) return 0;
  if (max_ops > LG_FUZZ_OPS_CAP) max_ops = LG_FUZZ_OPS_CAP;
  return data[0] / max_ops;
}

/* Deals the operations of `data` to `actors` (max_ops <= LG_FUZZ_OPS_CAP), then runs one
 * controlled execution of `root` with the schedule bytes. */
static inline void lg_fuzz_run_class_input(const uint8_t *data, size_t size, size_t max_ops,
                                           lg_fuzz_ops *const *actors, size_t nactors,
                                           lg_root root) {
  if (size == 0) return;
  if (max_ops > LG_FUZZ_OPS_CAP) max_ops = LG_FUZZ_OPS_CAP;
  size_t nops = data[0] % max_ops;
  if (nops > size - 1) nops = size - 1;
  for (size_t i = 0; i < nops; i++) {
    lg_fuzz_ops *a = actors[data[1 + i] % nactors];
    a->op[a->n++] = data[1 + i];
  }
  lg_source *src = lg_source_bytes(data + 1 + nops, size - 1 - nops);
  lg_exec_opts opts = {0};
  lg_sched_execute(&opts, src, &root, 1, NULL);
  lg_source_free(src);
}

#endif

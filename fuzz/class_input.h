/* SPDX-License-Identifier: MIT */
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

#include <lifeguard/check.h>
#include <lifeguard/sched.h>

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

/* Runs one controlled execution of `root` with the decisions `bytes` (one byte each), through
 * the check API's in-process mode (lg_check, LG_CHECK_BYTES), quietly: a report ends the
 * process as in the program, with its schedule. With `until` (a time-to-detect run), reports
 * of other kinds are gone past (halt_on_error is 0 meanwhile) and the return value says
 * whether one of kind `until` came: 1, else 0. */
static inline int lg_fuzz_run_bytes(const uint8_t *bytes, size_t nbytes, lg_root root,
                                    const char *until) {
  lg_check_opts o = {.strategy = LG_CHECK_BYTES, .mode = LG_CHECK_SCHED, .bytes = bytes,
                     .nbytes = nbytes, .quiet = 1, .until = until, .root_name = root.name};
  /* (a failure of another kind than `until` is none to a fuzz target: only reports are) */
  return lg_check(&o, root.fn, root.arg) == 1 && until;
}

/* Deals the operations of `data` to `actors` (max_ops <= LG_FUZZ_OPS_CAP), then runs one
 * controlled execution of `root` with the schedule bytes (lg_fuzz_run_bytes). Returns what
 * that returns (0 for an empty input). */
static inline int lg_fuzz_run_class_input(const uint8_t *data, size_t size, size_t max_ops,
                                          lg_fuzz_ops *const *actors, size_t nactors,
                                          lg_root root, const char *until) {
  if (size == 0) return 0;
  if (max_ops > LG_FUZZ_OPS_CAP) max_ops = LG_FUZZ_OPS_CAP;
  size_t nops = data[0] % max_ops;
  if (nops > size - 1) nops = size - 1;
  for (size_t i = 0; i < nops; i++) {
    lg_fuzz_ops *a = actors[data[1 + i] % nactors];
    a->op[a->n++] = data[1 + i];
  }
  return lg_fuzz_run_bytes(data + 1 + nops, size - 1 - nops, root, until);
}

#endif

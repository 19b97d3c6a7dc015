/* SPDX-License-Identifier: MIT */
/* The command line shared by every class program in scenarios/; the executions are run by
 * lg_check in process (LG_CHECK_SCHED, lifeguard/check.h).
 *
 *   PROGRAM --scenario NAME --variant buggy|fixed [--iterations N] [--fault NAME]...
 *           [--strategy random|pct|dfs|free] [--seed N] [--depth D] [--bound B]
 *           [--schedule STRING] [--until KIND [--budget SECONDS]]
 *   PROGRAM --list
 *
 * `buggy` turns on the scenario's fault switches, `fixed` turns every switch off (then
 * --fault adds switches by name). Each iteration is one lg_sched execution of the scenario as
 * its root actor; the strategy is the decision source (`free`: threads, the OS decides).
 * Exit status: 0 clean; 1 the scenario could not run; 2 bad usage; 3 a symptom was observed
 * that no detector reported. A detector's report aborts. */
#ifndef LG_SCENARIO_H
#define LG_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>

typedef enum lg_variant { LG_VARIANT_BUGGY, LG_VARIANT_FIXED } lg_variant;

typedef struct lg_scenario_ctx {
  lg_variant variant;
  unsigned long seed;      /* the strategy's seed */
  unsigned long iteration; /* 0-based */
} lg_scenario_ctx;

/* LG_SCENARIO_STOPPED: a step failed because lg_sched injected a failure (failure
 * injection, option inject_max) and the scenario stopped there, as an application reports the
 * error and gives up, after releasing what it held. It counts as clean: what must hold is
 * that nothing leaked or was released twice on the way out, which the detectors and the run
 * loop's descriptor count check. Never an exit status. */
enum {
  LG_SCENARIO_CLEAN = 0,
  LG_SCENARIO_ERROR = 1,
  LG_SCENARIO_SYMPTOM = 3,
  LG_SCENARIO_STOPPED = 4,
};

typedef struct lg_scenario {
  const char *name;
  const char *faults[4]; /* the switches `buggy` turns on; NULL-terminated */
  const char *about;
  int (*run)(const lg_scenario_ctx *ctx); /* returns an LG_SCENARIO_* status */
} lg_scenario;

typedef struct lg_scenario_program {
  const char *program;   /* "double_close" */
  const char *class_name; /* "double-close" */
  const lg_scenario *scenarios;
  size_t count;
} lg_scenario_program;

int lg_scenario_main(const lg_scenario_program *p, int argc, char **argv);

/* Says that the running scenario keeps `n` descriptors open by design until the process
 * exits (a pinned module's runtime): the descriptor leak check allows that many. */
void lg_scenario_keep_fds(int n);

/* A failed step inside a scenario. After an injected failure in this execution it returns
 * LG_SCENARIO_STOPPED quietly; otherwise it prints "PROGRAM: error: WHAT: strerror(errno)" and
 * returns LG_SCENARIO_ERROR. Either way the caller releases what it holds and returns it. */
int lg_scenario_fail(const char *what);

#endif

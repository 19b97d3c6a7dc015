/* SPDX-License-Identifier: MIT */
/* The check API: run a test body under many controlled schedules.
 *
 *   static void body(void *arg) { ... pthread_create, locks, condition variables ... }
 *   int main(void) { return lg_check_pct(body, NULL, 1000, 3); }
 *
 * Each execution of `test` runs in a child process forked for it, under thread control (the
 * layer `lifeguard explore` uses, harness/src/control.c): the test's ordinary pthread calls
 * (create, join, mutexes, rwlocks, spinlocks, semaphores, condition variables, barriers,
 * pthread_once, sleeps, yields) are scheduling points, exactly one thread runs at a time,
 * and a decision source picks which one goes on at each. The test needs no lg_* types.
 *
 * An execution fails when the child does not end cleanly: a lifeguard report (the page
 * heap's heap-use-after-free, fdcheck's double-close, ..., `deadlock`, `livelock`, or
 * LG_ASSERT's `assertion`), an AddressSanitizer report, a crash, or a non-zero exit. The
 * report is the child's own (with the schedule string); the check then prints on stderr
 *
 *   lifeguard: check: <kind> in execution N (<strategy>)
 *   lifeguard: check: schedule: lgs1:...
 *   lifeguard: check: replay: lg_check_replay(test, arg, "lgs1:...")
 *
 * and stops. Each function returns 0 when no execution failed and 1 when one did; -1 with one
 * line on stderr for bad arguments (a schedule string that does not parse, ...). The process
 * that calls them must not hold other threads that the child would need (fork copies the
 * calling thread only). Under `lifeguard explore` (the preload library controls the whole
 * process there) they refuse, returning -1.
 *
 * lg_check can also run a test written on the lg_sched layer (lifeguard/sched.h) in this
 * process (lg_check_opts.mode), with the same strategies, budget, `until`, result and
 * printed lines; the class programs in scenarios/ and the class fuzz targets run that way.
 * lg_check_opts.inject_max turns failure injection on in both modes (docs/check.md). */
#ifndef LIFEGUARD_CHECK_H
#define LIFEGUARD_CHECK_H

#if defined(LG_LAYER) && !defined(LG_LAYER_SEES_CHECK)
#error "a check-layer header, in a layer not above it (harness/CMakeLists.txt)"
#endif

#include <stddef.h>
#include <stdint.h>

#include <lifeguard/schedule.h>
#include <lifeguard/source.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lg_check_strategy {
  LG_CHECK_RANDOM = 0, /* a uniform pick among the runnable threads at every point */
  LG_CHECK_PCT,        /* PCT: random priorities, depth - 1 priority change points */
  LG_CHECK_DFS,        /* every schedule, depth first, up to a preemption bound */
  LG_CHECK_REPLAY,     /* one execution, following a schedule string */
  LG_CHECK_BYTES,      /* one execution, one byte of `bytes` per decision (a fuzzer's input,
                          lg_source_bytes); the in-process modes only */
} lg_check_strategy;

/* How the test runs. */
typedef enum lg_check_mode {
  LG_CHECK_FORK = 0,  /* a plain pthread test, each execution in a child forked for it, under
                         thread control (the default) */
  LG_CHECK_SCHED,     /* an lg_sched test (lifeguard/sched.h: lg_spawn, lg_mutex, ...), run in
                         this process as the root actor of one lg_sched execution per
                         iteration. A report ends the process as in the program (its report
                         carries the schedule string), unless `until` is set */
  LG_CHECK_SCHED_FREE, /* the same test free-running: it runs on the calling thread, its
                          actors are threads the OS schedules (the stress baseline); no
                          decisions, no schedule */
} lg_check_mode;

/* One execution, as the in-process modes show it to lg_check_opts.judge and .dying. */
typedef struct lg_check_execution {
  unsigned long long index;      /* 1-based */
  lg_verdict verdict;            /* lg_sched's (LG_VERDICT_OK in free mode) */
  const char *kind;              /* the kind of its first report, "" when none */
  const char *schedule;          /* its schedule string ("" in free mode; NULL in .dying
                                    from a sanitizer's report: async-signal context) */
  unsigned injected;             /* failures injected in it */
  const lg_divergence *divergence; /* replay: where it left the schedule (NULL otherwise) */
} lg_check_execution;

#define LG_CHECK_NO_BOUND UINT32_MAX

/* What lg_check found (filled when lg_check_opts.result is set). */
typedef struct lg_check_result {
  unsigned long long executions; /* executions run */
  int failed;                    /* 1 when one failed (of kind `until`, when set) */
  unsigned long long failed_execution; /* 1-based; 0 when none failed */
  char kind[64];                 /* its kind ("assertion", "heap-use-after-free", "deadlock",
                                    "signal 11", "exit status 3", ...); "" when none */
  char schedule[16384];          /* its schedule string (truncated to fit); "" when none */
  int exhausted;                 /* dfs: every schedule within the bound has run */
  int diverged;                  /* replay: the execution left the schedule */
  unsigned long long other_failures; /* with `until`: failures of other kinds, gone past */
} lg_check_result;

typedef struct lg_check_opts {
  lg_check_strategy strategy;
  unsigned long long iterations; /* random, pct: executions to run (0: 100); dfs: at most
                                    this many (0: until the search is exhausted) */
  unsigned long long seed;       /* random, pct (0: 1); execution i depends on (seed, i) only */
  unsigned depth;                /* pct's depth, >= 1 (0: 3) */
  uint32_t bound;                /* dfs's preemption bound (LG_CHECK_NO_BOUND or 0 when
                                    bound_set is 0: bound 0, 1, 2, ... until it cuts nothing) */
  int bound_set;                 /* 1: `bound` is the dfs bound, even 0 */
  const char *schedule;          /* replay: the schedule string */
  unsigned long long max_steps;  /* scheduling points per execution before a `livelock`
                                    report (0: the explore_steps option, 10,000,000; in
                                    process, lg_sched's 1,000,000) */
  double budget_seconds;         /* stop starting executions after this long (0: no limit) */
  const char *until;             /* go on past failures of other kinds until one of this
                                    kind (NULL: stop at the first failure of any kind). In
                                    process, reports do not abort meanwhile (the option
                                    halt_on_error is 0 while the check runs) */
  int quiet;                     /* 1: print nothing of its own (the child's report still) */
  lg_check_result *result;       /* optional: what was found */
  /* (the fields below came later; a zero-initialised lg_check_opts leaves them off) */
  unsigned inject_max;           /* failure injection: each execution may see up to this many
                                    injected failures, each a decision ("f" in the schedule,
                                    whose "i" token records the bound, so a replay injects
                                    the same). Points: lg_inject_at (lifeguard/sched.h) in
                                    both modes; pipe and pipe2 in the fork mode. 0: the
                                    inject_max option (default 0: off) */
  lg_check_mode mode;            /* LG_CHECK_FORK (0), LG_CHECK_SCHED, LG_CHECK_SCHED_FREE */
  const uint8_t *bytes;          /* LG_CHECK_BYTES: the decisions */
  size_t nbytes;
  /* In-process modes: after each execution, the test's own verdict on it (NULL: the
   * execution fails when lg_sched's verdict is not ok). 0: clean; > 0: failed (kind
   * "status N" unless a report gave one); < 0: the test could not run, the check stops
   * here as failed, `until` or not. Called with lg_check's `arg`. */
  int (*judge)(const lg_check_execution *e, void *arg);
  /* In-process modes with `until`: a report of that kind is about to end the process (a
   * fatal report, a sanitizer's report): called first, with the execution it ended. */
  void (*dying)(const lg_check_execution *e, void *arg);
  const char *root_name;         /* LG_CHECK_SCHED: the root actor's name (NULL: "test") */
  int seed_set;                  /* 1: `seed` is the seed, even 0 */
} lg_check_opts;

/* Runs `test(arg)` under the schedules `opts` says (NULL: random, 100 executions, seed 1).
 * Returns 0 when none failed, 1 when one did (its report and schedule printed), -1 on bad
 * options. */
int lg_check(const lg_check_opts *opts, void (*test)(void *), void *arg);

/* `iterations` executions, each a uniform random walk (seed 1). */
int lg_check_random(void (*test)(void *), void *arg, unsigned iterations);

/* `iterations` executions of PCT with depth `depth` (seed 1): a bug that needs d ordering
 * constraints is found in each execution with probability >= 1/(threads * steps^(d-1)). */
int lg_check_pct(void (*test)(void *), void *arg, unsigned iterations, unsigned depth);

/* Every schedule, depth first, with preemption bound 0, then 1, 2, ... (schedules with few
 * preemptions first), stopping after `max_executions` (0: when the search is exhausted). */
int lg_check_dfs(void (*test)(void *), void *arg, unsigned max_executions);

/* One execution following `schedule` (as a failing check printed it). Returns 1 when it
 * fails again, 0 when it runs clean; a replay that leaves the schedule (the test is not
 * deterministic under control) says at which decision. */
int lg_check_replay(void (*test)(void *), void *arg, const char *schedule);

/* Called by LG_ASSERT: reports kind `assertion` (with the schedule string inside a check)
 * and aborts the execution. */
__attribute__((noreturn)) void lg_check_assert_fail(const char *expr, const char *file, int line,
                                                    const char *func);

/* Asserts `cond` in a test body: when false, a report of kind `assertion` naming the
 * expression and its place, the schedule string, and the execution fails. Also outside a
 * check (then without a schedule), and whatever NDEBUG says. */
#define LG_ASSERT(cond)                                                                   \
  ((cond) ? (void)0 : lg_check_assert_fail(#cond, __FILE__, __LINE__, __func__))

#ifdef __cplusplus
}
#endif
#endif

/* SPDX-License-Identifier: MIT */
/* sched_bench: what lg_sched's moving parts cost, one JSON object per line on stdout:
 *
 *   {"bench": NAME, "metric": M, "value": V, "unit": U, "config": "asan|plain"}
 *
 * The benchmarks (run them all, or name some on the command line):
 *   fiber_switch      ns per one-way switch between two fibers (lg__fiber_switch)
 *   sched_4x25        a controlled execution of 4 actors x 25 steps under a seeded random
 *                     source: executions per second, ns per scheduling point
 *   sched_4x25_free   the same workload free-running (pthreads, sched_yield), the stress
 *                     baseline: executions per second, and controlled / free
 *   dfs_2x10          the complete exhaustive search over 2 actors x 10 steps: seconds,
 *                     executions (must be C(20,10) = 184756)
 *
 * Every figure is the median of 5 timed repetitions after a warm-up, on CLOCK_MONOTONIC.
 * Speed is only measured here; nothing fails because it is slow. The program exits 1 when a
 * workload does not do what it should (a wrong execution count, a verdict other than ok), and
 * 2 on bad usage. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lifeguard/sched.h>
#include <lifeguard/source.h>

#include "fiber.h" /* harness/src: the internal fiber API, linked from the static library */

#ifndef LG_BENCH_CONFIG
#define LG_BENCH_CONFIG "unknown"
#endif

#define REPS 5

/* ---- measuring and printing ------------------------------------------------------- */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The median of n values (n odd); the array is sorted in place. */
static double median(double *v, size_t n) {
  qsort(v, n, sizeof *v, cmp_double);
  return v[n / 2];
}

/* The index of the median of v[0..n) (n odd), without reordering v. */
static size_t median_index(const double *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    size_t below = 0, same = 0;
    for (size_t j = 0; j < n; j++) {
      if (v[j] < v[i]) below++;
      else if (v[j] == v[i]) same++;
    }
    if (below <= n / 2 && n / 2 < below + same) return i;
  }
  return 0;
}

static void emit(const char *bench, const char *metric, double value, int decimals,
                 const char *unit) {
  printf("{\"bench\": \"%s\", \"metric\": \"%s\", \"value\": %.*f, \"unit\": \"%s\", "
         "\"config\": \"%s\"}\n",
         bench, metric, decimals, value, unit, LG_BENCH_CONFIG);
  fflush(stdout);
}

__attribute__((noreturn, format(printf, 1, 2))) static void fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("sched_bench: error: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

/* ---- fiber_switch ------------------------------------------------------------------- */

#define SWITCHES 4000000L
#define FIBER_STACK (64 * 1024)

static lg__ctx fs_main, fs_a, fs_b;
static long fs_left; /* one-way switches still to make in this round */

/* A starts each round: it hands over to B and B hands straight back, two switches per turn,
 * until the round is done; then it returns to the main context and waits for the next. */
static void fs_a_main(void *arg) {
  (void)arg;
  lg__fiber_entered();
  for (;;) {
    while (fs_left > 0) {
      fs_left -= 2;
      lg__fiber_switch(&fs_a, &fs_b, false);
    }
    lg__fiber_switch(&fs_a, &fs_main, false);
  }
}

static void fs_b_main(void *arg) {
  (void)arg;
  lg__fiber_entered();
  for (;;) lg__fiber_switch(&fs_b, &fs_a, false);
}

/* ns per one-way switch over one round of n switches. */
static double fs_round(long n) {
  fs_left = n;
  double t0 = now_s();
  lg__fiber_switch(&fs_main, &fs_a, false);
  double t1 = now_s();
  return (t1 - t0) * 1e9 / (double)(n + 2); /* + into A and back out of it */
}

static void bench_fiber_switch(void) {
  lg__fiber_thread_ctx(&fs_main);
  if (lg__fiber_make(&fs_a, FIBER_STACK, fs_a_main, NULL) != 0 ||
      lg__fiber_make(&fs_b, FIBER_STACK, fs_b_main, NULL) != 0)
    fail("fiber_switch: cannot map a fiber stack");
  fs_round(SWITCHES / 4); /* warm-up: both stacks touched, caches and predictors primed */
  double ns[REPS];
  for (int r = 0; r < REPS; r++) ns[r] = fs_round(SWITCHES);
  emit("fiber_switch", "ns_per_switch", median(ns, REPS), 2, "ns");
  emit("fiber_switch", "switches", (double)SWITCHES, 0, "switches");
  /* Both fibers are parked inside lg__fiber_switch for good; their stacks go back. */
  lg__fiber_release(&fs_a);
  lg__fiber_release(&fs_b);
}

/* ---- the scheduler workloads --------------------------------------------------------- */

static volatile uint64_t sink; /* the "work" of a step, so the steps are not optimized away */

/* One actor: `steps` steps with a scheduling point (lg_yield) between each two. */
static void stepper(void *arg) {
  long steps = (long)(intptr_t)arg;
  for (long i = 0; i < steps; i++) {
    sink = sink + 1;
    if (i + 1 < steps) lg_yield();
  }
}

#define MAX_ROOTS 8

static size_t make_roots(lg_root *roots, size_t actors, long steps) {
  static const char *names[MAX_ROOTS] = {"a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7"};
  for (size_t i = 0; i < actors; i++)
    roots[i] = (lg_root){.fn = stepper, .arg = (void *)(intptr_t)steps, .name = names[i]};
  return actors;
}

typedef struct run_stats {
  double seconds;
  uint64_t executions;
  uint64_t points;
} run_stats;

/* Runs `execs` executions of actors x steps in `mode` (controlled: under `src`). */
static run_stats run_executions(lg_sched_mode mode, lg_source *src, size_t actors, long steps,
                                uint64_t execs) {
  lg_root roots[MAX_ROOTS];
  size_t n = make_roots(roots, actors, steps);
  lg_exec_opts o = {.mode = mode, .seed = 1};
  run_stats st = {0};
  uint64_t want_points = (uint64_t)actors * (uint64_t)(steps - 1);
  double t0 = now_s();
  for (uint64_t i = 0; i < execs; i++) {
    lg_exec_result res;
    if (!lg_sched_execute(&o, src, roots, n, &res))
      fail("the %s source ran out after %llu executions", src ? src->name : "(free)",
           (unsigned long long)i);
    if (res.verdict != LG_VERDICT_OK) fail("execution %llu ended with verdict %d",
                                           (unsigned long long)i, (int)res.verdict);
    if (mode == LG_SCHED_CONTROLLED && res.points != want_points)
      fail("execution %llu passed %llu scheduling points, expected %llu",
           (unsigned long long)i, (unsigned long long)res.points,
           (unsigned long long)want_points);
    st.points += res.points;
  }
  st.seconds = now_s() - t0;
  st.executions = execs;
  return st;
}

/* How many executions make a timed repetition of about `target_s` seconds (at least `min`),
 * judged from a warm-up of `probe` executions. */
static uint64_t size_reps(const run_stats *warm, double target_s, uint64_t min) {
  double per = warm->seconds / (double)warm->executions;
  double n = per > 0 ? target_s / per : (double)min;
  if (n < (double)min) return min;
  if (n > 1e8) n = 1e8;
  return (uint64_t)n;
}

#define ACTORS 4
#define STEPS 25
#define CONTROLLED_MIN_EXECS 20000
#define CONTROLLED_REP_S 0.5
#define FREE_MIN_EXECS 500
#define FREE_REP_S 1.0

typedef struct rate {
  double exec_per_s;
  double ns_per_point; /* controlled only */
  uint64_t executions; /* per repetition */
} rate;

static bool controlled_done;
static rate controlled_rate;

static rate measure_controlled(void) {
  if (controlled_done) return controlled_rate;
  lg_source *src = lg_source_random(0x6c69666567756172ULL);
  if (!src) fail("cannot make a random source");
  run_stats warm = run_executions(LG_SCHED_CONTROLLED, src, ACTORS, STEPS, 2000);
  uint64_t execs = size_reps(&warm, CONTROLLED_REP_S, CONTROLLED_MIN_EXECS);
  double eps[REPS], nspp[REPS];
  for (int r = 0; r < REPS; r++) {
    run_stats st = run_executions(LG_SCHED_CONTROLLED, src, ACTORS, STEPS, execs);
    eps[r] = (double)st.executions / st.seconds;
    nspp[r] = st.seconds * 1e9 / (double)st.points;
  }
  lg_source_free(src);
  size_t m = median_index(eps, REPS);
  controlled_rate = (rate){.exec_per_s = eps[m], .ns_per_point = nspp[m], .executions = execs};
  controlled_done = true;
  return controlled_rate;
}

static void bench_sched_4x25(void) {
  rate r = measure_controlled();
  emit("sched_4x25", "exec_per_sec", r.exec_per_s, 0, "exec/s");
  emit("sched_4x25", "us_per_exec", 1e6 / r.exec_per_s, 3, "us");
  emit("sched_4x25", "ns_per_point", r.ns_per_point, 2, "ns");
  emit("sched_4x25", "points_per_exec", (double)(ACTORS * (STEPS - 1)), 0, "points");
  emit("sched_4x25", "executions", (double)r.executions, 0, "executions");
}

static void bench_sched_4x25_free(void) {
  run_stats warm = run_executions(LG_SCHED_FREE, NULL, ACTORS, STEPS, 100);
  uint64_t execs = size_reps(&warm, FREE_REP_S, FREE_MIN_EXECS);
  double eps[REPS];
  for (int r = 0; r < REPS; r++) {
    run_stats st = run_executions(LG_SCHED_FREE, NULL, ACTORS, STEPS, execs);
    eps[r] = (double)st.executions / st.seconds;
  }
  double free_eps = median(eps, REPS);
  rate c = measure_controlled(); /* the same run's controlled figure, measured now if needed */
  emit("sched_4x25_free", "exec_per_sec", free_eps, 0, "exec/s");
  emit("sched_4x25_free", "us_per_exec", 1e6 / free_eps, 3, "us");
  emit("sched_4x25_free", "executions", (double)execs, 0, "executions");
  emit("sched_4x25_free", "ratio", c.exec_per_s / free_eps, 2, "controlled/free");
}

/* Contention: each step takes a shared mutex, yields while holding it, and lets it go, so the
 * other actors' lock calls block (the blocking path of the thread layer). */
static lg_mutex bench_mutex = LG_MUTEX_INIT;

static void locker(void *arg) {
  long steps = (long)(intptr_t)arg;
  for (long i = 0; i < steps; i++) {
    lg_mutex_lock(&bench_mutex);
    sink = sink + 1;
    lg_yield();
    lg_mutex_unlock(&bench_mutex);
  }
}

static run_stats run_lockers(lg_source *src, uint64_t execs) {
  lg_root roots[ACTORS];
  for (size_t i = 0; i < ACTORS; i++)
    roots[i] = (lg_root){.fn = locker, .arg = (void *)(intptr_t)STEPS, .name = "locker"};
  lg_exec_opts o = {.mode = LG_SCHED_CONTROLLED};
  run_stats st = {0};
  double t0 = now_s();
  for (uint64_t i = 0; i < execs; i++) {
    lg_exec_result res;
    if (!lg_sched_execute(&o, src, roots, ACTORS, &res) || res.verdict != LG_VERDICT_OK)
      fail("mutex execution %llu did not end ok", (unsigned long long)i);
    st.points += res.points;
  }
  st.seconds = now_s() - t0;
  st.executions = execs;
  return st;
}

static void bench_sched_4x25_mutex(void) {
  lg_source *src = lg_source_random(0x6d75746578ULL);
  if (!src) fail("cannot make a random source");
  run_stats warm = run_lockers(src, 1000);
  uint64_t execs = size_reps(&warm, CONTROLLED_REP_S, CONTROLLED_MIN_EXECS / 4);
  double eps[REPS], nspp[REPS];
  for (int r = 0; r < REPS; r++) {
    run_stats st = run_lockers(src, execs);
    eps[r] = (double)st.executions / st.seconds;
    nspp[r] = st.seconds * 1e9 / (double)st.points;
  }
  lg_source_free(src);
  size_t m = median_index(eps, REPS);
  emit("sched_4x25_mutex", "exec_per_sec", eps[m], 0, "exec/s");
  emit("sched_4x25_mutex", "ns_per_point", nspp[m], 2, "ns");
  emit("sched_4x25_mutex", "executions", (double)execs, 0, "executions");
}

#define DFS_ACTORS 2
#define DFS_STEPS 10
#define DFS_EXPECTED 184756ULL /* C(20, 10): where 10 + 10 steps can interleave */

/* One complete search; returns its seconds and checks its execution count. */
static double dfs_search(long steps, uint64_t expected) {
  lg_source *src = lg_source_dfs(UINT32_MAX);
  if (!src) fail("cannot make a dfs source");
  lg_root roots[MAX_ROOTS];
  size_t n = make_roots(roots, DFS_ACTORS, steps);
  lg_exec_opts o = {.mode = LG_SCHED_CONTROLLED};
  uint64_t execs = 0;
  double t0 = now_s();
  lg_exec_result res;
  while (lg_sched_execute(&o, src, roots, n, &res)) {
    if (res.verdict != LG_VERDICT_OK) fail("dfs execution %llu ended with verdict %d",
                                           (unsigned long long)execs, (int)res.verdict);
    execs++;
  }
  double s = now_s() - t0;
  if (!lg_source_dfs_done(src)) fail("the dfs source stopped before its search was done");
  uint64_t counted = lg_source_dfs_executions(src);
  lg_source_free(src);
  if (execs != expected || counted != expected)
    fail("the search over %d actors x %ld steps ran %llu executions (the source counted %llu); "
         "expected %llu",
         DFS_ACTORS, steps, (unsigned long long)execs, (unsigned long long)counted,
         (unsigned long long)expected);
  return s;
}

static void bench_dfs_2x10(void) {
  dfs_search(6, 924); /* warm-up: C(12, 6) executions */
  double s[REPS];
  for (int r = 0; r < REPS; r++) s[r] = dfs_search(DFS_STEPS, DFS_EXPECTED);
  double sec = median(s, REPS);
  emit("dfs_2x10", "seconds", sec, 3, "s");
  emit("dfs_2x10", "executions", (double)DFS_EXPECTED, 0, "executions");
  emit("dfs_2x10", "exec_per_sec", (double)DFS_EXPECTED / sec, 0, "exec/s");
}

/* ---- the command line ---------------------------------------------------------------- */

static const struct {
  const char *name;
  void (*run)(void);
  const char *what;
} benches[] = {
    {"fiber_switch", bench_fiber_switch,
     "ns per one-way switch between two fibers ping-ponging (lg__fiber_switch)"},
    {"sched_4x25", bench_sched_4x25,
     "controlled executions of 4 actors x 25 steps under lg_source_random: exec/s, ns/point"},
    {"sched_4x25_free", bench_sched_4x25_free,
     "the same workload free-running (pthreads, sched_yield): exec/s, controlled/free ratio"},
    {"sched_4x25_mutex", bench_sched_4x25_mutex,
     "4 actors x 25 steps contending for one mutex (a yield while holding it): exec/s, ns/point"},
    {"dfs_2x10", bench_dfs_2x10,
     "the complete exhaustive search over 2 actors x 10 steps: seconds, 184756 executions"},
};
#define NBENCH (sizeof benches / sizeof benches[0])

static void usage(FILE *out) {
  fprintf(out,
          "usage: sched_bench [--list] [NAME ...]\n"
          "Runs lg_sched's benchmarks (all of them, or those named) and prints one JSON object\n"
          "per line: {\"bench\", \"metric\", \"value\", \"unit\", \"config\"}.\n\nbenchmarks:\n");
  for (size_t i = 0; i < NBENCH; i++)
    fprintf(out, "  %-16s %s\n", benches[i].name, benches[i].what);
  fprintf(out, "\nexit status: 0 done; 1 a workload went wrong; 2 bad usage\n");
}

int main(int argc, char **argv) {
  bool selected[NBENCH] = {false};
  bool any = false;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return 0;
    }
    if (!strcmp(argv[i], "--list")) {
      for (size_t b = 0; b < NBENCH; b++) puts(benches[b].name);
      return 0;
    }
    size_t b = 0;
    while (b < NBENCH && strcmp(argv[i], benches[b].name) != 0) b++;
    if (b == NBENCH) {
      fprintf(stderr, "sched_bench: error: unknown benchmark '%s' (see 'sched_bench --list')\n",
              argv[i]);
      return 2;
    }
    selected[b] = any = true;
  }
  for (size_t b = 0; b < NBENCH; b++)
    if (!any || selected[b]) benches[b].run();
  return 0;
}

/* SPDX-License-Identifier: MIT */
/* lg_sched with real actors on fibers: search counts, replay, PCT, deadlock, livelock, time. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <lifeguard/sched.h>
#include <lifeguard/source.h>

#include "capture.h"

#define NOINLINE __attribute__((noinline))

TestSuite(sched, .init = capture_setup, .timeout = LG_UNIT_TIMEOUT);

/* ---- actors that do `segments` steps: segments-1 yields ---------------------------- */

struct stepper {
  int segments;
  int id;
  int *trace; /* shared: appended actor ids, one per segment */
  int *len;
};

static void stepper_main(void *p) {
  struct stepper *s = p;
  for (int i = 0; i < s->segments; i++) {
    s->trace[(*s->len)++] = s->id;
    if (i + 1 < s->segments) lg_yield();
  }
}

/* Runs every execution of `src` over n actors of `segments` steps; returns the count. */
static uint64_t run_all(lg_source *src, int n, int segments, uint64_t max) {
  int trace[512], len = 0;
  struct stepper st[8];
  lg_root roots[8];
  for (int i = 0; i < n; i++) {
    st[i] = (struct stepper){segments, i, trace, &len};
    roots[i] = (lg_root){stepper_main, &st[i], "stepper"};
  }
  lg_exec_opts o = {0};
  uint64_t count = 0;
  lg_exec_result r;
  while (count < max) {
    len = 0;
    if (!lg_sched_execute(&o, src, roots, (size_t)n, &r)) break;
    cr_assert_eq(r.verdict, LG_VERDICT_OK);
    cr_assert_eq(len, n * segments);
    count++;
  }
  return count;
}

static uint64_t binom(int n, int k) {
  uint64_t r = 1;
  for (int i = 1; i <= k; i++) r = r * (uint64_t)(n - k + i) / (uint64_t)i;
  return r;
}

/* Interleavings of two actors with m segments each and at most b preemptions: r alternating
 * blocks give r - 2 preemptions (the last switch leaves a finished actor). */
static uint64_t bounded_count(int m, int b) {
  uint64_t total = 0;
  for (int r = 2; r <= 2 * m && r <= b + 2; r++) {
    int j = r / 2;
    if (r % 2 == 0) total += 2 * binom(m - 1, j - 1) * binom(m - 1, j - 1);
    else total += 2 * binom(m - 1, j) * binom(m - 1, j - 1);
  }
  return total;
}

Test(sched, dfs_two_actors_ten_steps_enumerates_every_interleaving) {
  lg_source *dfs = lg_source_dfs(UINT32_MAX);
  uint64_t n = run_all(dfs, 2, 10, UINT64_MAX);
  cr_assert_eq(n, 184756, "C(20,10) = 184756, got %llu", (unsigned long long)n);
  cr_assert_eq(lg_source_dfs_executions(dfs), 184756);
  cr_assert(lg_source_dfs_done(dfs));
  lg_source_free(dfs);
}

Test(sched, dfs_preemption_bound_matches_the_formula) {
  cr_assert_eq(bounded_count(10, 18), 184756, "the formula sums to C(20,10)");
  for (int b = 0; b <= 4; b++) {
    lg_source *dfs = lg_source_dfs((uint32_t)b);
    uint64_t n = run_all(dfs, 2, 10, UINT64_MAX);
    cr_assert_eq(n, bounded_count(10, b), "bound %d: %llu executions, formula %llu", b,
                 (unsigned long long)n, (unsigned long long)bounded_count(10, b));
    lg_source_free(dfs);
  }
}

/* ---- replay ------------------------------------------------------------------------ */

struct chooser {
  int id;
  uint64_t *acc;
};

static void chooser_main(void *p) {
  struct chooser *c = p;
  for (int i = 0; i < 25; i++) {
    uint32_t k = lg_choose(3);
    *c->acc = *c->acc * 31 + (uint64_t)(c->id * 7 + (int)k);
    if (i + 1 < 25) lg_yield();
  }
}

Test(sched, random_schedules_replay_identically) {
  lg_exec_opts o = {0};
  int same = 0;
  for (uint64_t seed = 1; seed <= 100; seed++) {
    uint64_t acc1 = 0, acc2 = 0;
    struct chooser c1[4], c2[4];
    lg_root r1[4], r2[4];
    for (int i = 0; i < 4; i++) {
      c1[i] = (struct chooser){i, &acc1};
      c2[i] = (struct chooser){i, &acc2};
      r1[i] = (lg_root){chooser_main, &c1[i], "chooser"};
      r2[i] = (lg_root){chooser_main, &c2[i], "chooser"};
    }
    lg_source *rnd = lg_source_random(seed);
    lg_exec_result res;
    cr_assert(lg_sched_execute(&o, rnd, r1, 4, &res));
    char text[16384];
    lg_schedule_format(res.log, text, sizeof text);
    uint64_t h1 = lg_log_hash(res.log);
    size_t len1 = res.log->len;
    lg_decision_log parsed = {0};
    size_t pos;
    const char *msg;
    cr_assert_eq(lg_schedule_parse(text, strlen(text), &parsed, &pos, &msg), 0, "%s at %zu", msg, pos);
    lg_source *rep = lg_source_replay(&parsed);
    cr_assert(lg_sched_execute(&o, rep, r2, 4, &res));
    const lg_divergence *d = lg_source_replay_divergence(rep);
    if (!d->diverged && lg_log_hash(res.log) == h1 && res.log->len == len1 && acc1 == acc2) same++;
    lg_source_free(rep);
    lg_source_free(rnd);
    lg_log_free(&parsed);
  }
  cr_assert_eq(same, 100, "%d of 100 replays identical", same);
}

/* ---- PCT finds a depth-2 ordering bug ------------------------------------------------- */

/* The bug: actor 0's step 20 lands between actor 1's steps 5 and 6. That takes two
 * ordering constraints (depth 2); the no-preemption schedule does not hit it. */
struct window {
  int *trace, *len;
  int hit;
};

static void window_check(struct window *w) {
  int a = -1, b = -1, c = -1, s0 = 0, s1 = 0;
  for (int i = 0; i < *w->len; i++) {
    if (w->trace[i] == 0 && ++s0 == 21) b = i;
    if (w->trace[i] == 1) {
      ++s1;
      if (s1 == 6) a = i;
      if (s1 == 7) c = i;
    }
  }
  w->hit = a >= 0 && b > a && c > b;
}

/* How many of `runs` executions drawn from `src` hit the bug; *first gets the number of the
 * first run that did (-1: none). */
static int hits_in(lg_source *src, int runs, int *first) {
  int trace[512], len = 0, hits = 0;
  struct stepper st[4];
  lg_root roots[4];
  for (int i = 0; i < 4; i++) {
    st[i] = (struct stepper){25, i, trace, &len};
    roots[i] = (lg_root){stepper_main, &st[i], "stepper"};
  }
  lg_exec_opts o = {0};
  struct window w = {trace, &len, 0};
  *first = -1;
  for (int run = 1; run <= runs; run++) {
    len = 0;
    if (!lg_sched_execute(&o, src, roots, 4, NULL)) return -1;
    window_check(&w);
    hits += w.hit;
    if (w.hit && *first < 0) *first = run;
  }
  return hits;
}

static int runs_to_find(lg_source *src, int max) {
  int first;
  hits_in(src, max, &first);
  return first;
}

Test(sched, pct_depth_two_finds_the_planted_bug_within_its_bound) {
  lg_source *none = lg_source_bytes(NULL, 0);
  cr_assert_eq(runs_to_find(none, 1), -1, "the no-preemption schedule must not hit it");
  lg_source_free(none);
  /* PCT: p >= 1/(n k^(d-1)) = 1/(4*100) per run; 400 ln 100 ~ 1842 runs miss with p <= 1%. */
  lg_source *pct = lg_source_pct(1, 2, 100);
  int runs = runs_to_find(pct, 1842);
  lg_source_free(pct);
  cr_assert_gt(runs, 0, "PCT d=2 did not find the depth-2 bug in 1842 runs");
  /* The comparison, in executions: over the same number of runs PCT's guarantee gives at
   * least 20000/400 = 50 hits expected, and it must beat the random walk clearly (a PCT that
   * degraded into a random walk, or a random walk that never preempts, fails here). */
  lg_source *pct_runs = lg_source_pct(1, 2, 100), *walk_runs = lg_source_random(1);
  int first;
  int pct_hits = hits_in(pct_runs, 20000, &first), walk_hits = hits_in(walk_runs, 20000, &first);
  lg_source_free(pct_runs);
  lg_source_free(walk_runs);
  fprintf(stderr, "depth-2 bug in 20000 runs: PCT(d=2) %d hits, random walk %d hits\n",
          pct_hits, walk_hits);
  cr_assert_gt(walk_hits, 0, "the random walk never hit the bug in 20000 runs");
  cr_assert_geq(pct_hits, 25, "PCT d=2 hit the bug %d times in 20000 runs (its bound: >= 50 "
                "expected)", pct_hits);
  cr_assert_geq(pct_hits, 2 * walk_hits, "PCT d=2 (%d hits) is not clearly better than the "
                "random walk (%d hits)", pct_hits, walk_hits);
}

/* ---- deadlock, livelock ---------------------------------------------------------------- */

static lg_mutex m1 = LG_MUTEX_INIT, m2 = LG_MUTEX_INIT;

NOINLINE void lock_one_then_two(void *p) {
  lg_mutex_lock(&m1);
  lg_mutex_lock(&m2);
  lg_mutex_unlock(&m2);
  lg_mutex_unlock(&m1);
}

NOINLINE void lock_two_then_one(void *p) {
  lg_mutex_lock(&m2);
  lg_mutex_lock(&m1);
  lg_mutex_unlock(&m1);
  lg_mutex_unlock(&m2);
}

Test(sched, deadlock_names_both_waiters) {
  lg_root roots[] = {{lock_one_then_two, NULL, "left"}, {lock_two_then_one, NULL, "right"}};
  lg_source *dfs = lg_source_dfs(UINT32_MAX);
  lg_exec_opts o = {0};
  lg_exec_result r;
  int deadlocks = 0, ok = 0;
  while (lg_sched_execute(&o, dfs, roots, 2, &r)) {
    if (r.verdict == LG_VERDICT_DEADLOCK) deadlocks++;
    else if (r.verdict == LG_VERDICT_OK) ok++;
    m1.owner = m2.owner = NULL; /* an abandoned execution leaves its locks held */
  }
  lg_source_free(dfs);
  cr_assert_gt(deadlocks, 0);
  cr_assert_gt(ok, 0);
  cr_assert_report(0, "deadlock");
  const char *h = capture_log[0].headline;
  cr_assert(strstr(h, "2 actors") != NULL, "%s", h);
  cr_assert_str_eq(capture_top(0, "current"), "lock_two_then_one");
  cr_assert_str_eq(capture_top(0, "waiter1"), "lock_one_then_two");
}

Test(sched, deadlock_detail_says_who_holds_what) {
  lg_root roots[] = {{lock_one_then_two, NULL, "left"}, {lock_two_then_one, NULL, "right"}};
  /* left takes m1, right takes m2, then each asks for the other's */
  lg_decision_log log = {0};
  size_t pos;
  const char *msg;
  lg_exec_opts o = {0};
  lg_exec_result r;
  lg_source *dfs = lg_source_dfs(UINT32_MAX);
  while (lg_sched_execute(&o, dfs, roots, 2, &r) && r.verdict != LG_VERDICT_DEADLOCK) {}
  char text[4096];
  lg_schedule_format(r.log, text, sizeof text);
  lg_source_free(dfs);
  cr_assert_eq(lg_schedule_parse(text, strlen(text), &log, &pos, &msg), 0);
  m1.owner = m2.owner = NULL;
  capture_count = 0;
  lg_source *rep = lg_source_replay(&log);
  cr_assert(lg_sched_execute(&o, rep, roots, 2, &r));
  cr_assert_eq(r.verdict, LG_VERDICT_DEADLOCK, "the deadlock replays from its schedule string");
  lg_source_free(rep);
  lg_log_free(&log);
  m1.owner = m2.owner = NULL;
}

static void spin_forever(void *p) {
  for (;;) lg_yield();
}

Test(sched, step_budget_turns_livelock_into_a_report) {
  lg_root roots[] = {{spin_forever, NULL, "spinner"}};
  lg_exec_opts o = {.step_budget = 1000};
  lg_source *rnd = lg_source_random(7);
  lg_exec_result r;
  cr_assert(lg_sched_execute(&o, rnd, roots, 1, &r));
  lg_source_free(rnd);
  cr_assert_eq(r.verdict, LG_VERDICT_LIVELOCK);
  cr_assert_report(0, "livelock");
  cr_assert_str_eq(capture_top(0, "current"), "spin_forever");
}

/* ---- virtual time ------------------------------------------------------------------ */

static int order[4], norder;

static void sleeper(void *p) {
  lg_sleep((uint64_t)(uintptr_t)p);
  order[norder++] = (int)((uint64_t)(uintptr_t)p / 1000000000u);
}

Test(sched, virtual_time_orders_sleepers_and_advances_only_when_idle) {
  lg_root roots[] = {{sleeper, (void *)(uintptr_t)5000000000u, "five"},
                     {sleeper, (void *)(uintptr_t)1000000000u, "one"},
                     {sleeper, (void *)(uintptr_t)3000000000u, "three"}};
  lg_exec_opts o = {0};
  lg_source *rnd = lg_source_random(3);
  lg_exec_result r;
  norder = 0;
  cr_assert(lg_sched_execute(&o, rnd, roots, 3, &r));
  lg_source_free(rnd);
  cr_assert_eq(norder, 3);
  cr_assert_eq(order[0], 1);
  cr_assert_eq(order[1], 3);
  cr_assert_eq(order[2], 5);
  cr_assert_eq(r.virtual_ns, 5000000000u);
}

static lg_mutex tm = LG_MUTEX_INIT;
static lg_cond tc;
static int timed_result;

static void timed_waiter(void *p) {
  lg_mutex_lock(&tm);
  timed_result = lg_cond_timedwait(&tc, &tm, 2000);
  lg_mutex_unlock(&tm);
}

Test(sched, timed_wait_without_signal_times_out_in_virtual_time) {
  lg_cond_init(&tc);
  lg_root roots[] = {{timed_waiter, NULL, "waiter"}};
  lg_exec_opts o = {0};
  lg_source *rnd = lg_source_random(1);
  lg_exec_result r;
  cr_assert(lg_sched_execute(&o, rnd, roots, 1, &r));
  lg_source_free(rnd);
  cr_assert_eq(timed_result, ETIMEDOUT);
  cr_assert_eq(r.virtual_ns, 2000);
  cr_assert_eq(r.verdict, LG_VERDICT_OK);
}

/* ---- spawn/join and the free-running mode ---------------------------------------------- */

static lg_mutex cm = LG_MUTEX_INIT;
static uint64_t counter;

static void incrementer(void *p) {
  for (int i = 0; i < 100; i++) {
    lg_mutex_lock(&cm);
    counter++;
    lg_mutex_unlock(&cm);
  }
}

static void parent(void *p) {
  lg_actor *a = lg_spawn(incrementer, NULL, "inc-a");
  lg_actor *b = lg_spawn(incrementer, NULL, "inc-b");
  lg_join(a);
  lg_join(b);
}

Test(sched, spawn_join_and_mutex_controlled_and_free) {
  lg_root roots[] = {{parent, NULL, "parent"}};
  lg_exec_result r;
  lg_exec_opts controlled = {0};
  lg_source *rnd = lg_source_random(11);
  for (int i = 0; i < 20; i++) {
    counter = 0;
    cr_assert(lg_sched_execute(&controlled, rnd, roots, 1, &r));
    cr_assert_eq(r.verdict, LG_VERDICT_OK);
    cr_assert_eq(r.actors, 3);
    cr_assert_eq(counter, 200);
  }
  lg_source_free(rnd);
  lg_exec_opts free_mode = {.mode = LG_SCHED_FREE, .seed = 5};
  counter = 0;
  cr_assert(lg_sched_execute(&free_mode, NULL, roots, 1, &r));
  cr_assert_eq(counter, 200, "pthreads with real mutexes");
}

/* ---- reports from inside an actor carry the schedule ------------------------------------ */

static void yield_a_few(void *p) {
  for (int i = 0; i < 5; i++) lg_yield();
}

NOINLINE void close_twice_in_actor(void *p) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  close(fd);
  lg_yield();
  close(fd);
}

Test(sched, fault_in_actor_has_fiber_stack_and_schedule) {
  char path[32];
  capture_json_start(path);
  lg_root roots[] = {{close_twice_in_actor, NULL, "closer"}, {yield_a_few, NULL, "noise"}};
  lg_exec_opts o = {0};
  lg_source *rnd = lg_source_random(2);
  lg_exec_result r;
  lg_sched_execute(&o, rnd, roots, 2, &r);
  lg_source_free(rnd);
  cr_assert_report(0, "double-close");
  cr_assert_top(0, "current", "close_twice_in_actor");
  char line[16384];
  capture_json_first_line(path, line, sizeof line);
  cr_assert(strstr(line, "\"schedule\":\"lgs1:") != NULL, "%s", line);
}

/* ---- detached actors end with the execution, attached ones keep it going ------------------ */

static lg_mutex dm = LG_MUTEX_INIT;
static lg_cond dc;
static bool detach_it;
static int forever_woke;

static void waits_forever(void *p) {
  (void)p;
  lg_mutex_lock(&dm);
  lg_cond_wait(&dc, &dm); /* nobody signals */
  forever_woke = 1;
  lg_mutex_unlock(&dm);
}

static void spawns_a_waiter(void *p) {
  (void)p;
  lg_actor *a = lg_spawn(waits_forever, NULL, "waiter");
  lg_yield();
  if (detach_it) lg_detach(a);
}

static lg_exec_result run_spawner(bool detach) {
  lg_cond_init(&dc);
  detach_it = detach;
  lg_root roots[] = {{spawns_a_waiter, NULL, "host"}};
  lg_exec_opts o = {0};
  lg_source *rnd = lg_source_random(3);
  lg_exec_result r;
  cr_assert(lg_sched_execute(&o, rnd, roots, 1, &r));
  lg_source_free(rnd);
  return r;
}

Test(sched, detached_actor_blocked_forever_ends_with_the_execution) {
  lg_exec_result r = run_spawner(true);
  cr_assert_eq(r.verdict, LG_VERDICT_OK);
  cr_assert_eq(capture_count, 0);
  cr_assert_eq(forever_woke, 0);
}

Test(sched, attached_actor_blocked_forever_is_a_deadlock) {
  lg_exec_result r = run_spawner(false);
  cr_assert_eq(r.verdict, LG_VERDICT_DEADLOCK);
  cr_assert_report(0, "deadlock");
}

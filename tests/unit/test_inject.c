/* Failure injection as a decision of lg_sched: recorded in the schedule string with its bound,
 * replayed exactly, bounded per execution, driven by every source, off by default, and
 * nothing free-running. The runtime's own calls (lgrt/sys.h) are checked end to end by
 * tests/driver/test_inject.py. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <lgrt/sys.h>
#include <lifeguard/options.h>
#include <lifeguard/sched.h>
#include <lifeguard/schedule.h>
#include <lifeguard/source.h>

#include "capture.h"

static void reset_options(void) { lg_options_set("inject_max=0"); }

static void setup(void) {
  capture_setup();
  reset_options();
}

TestSuite(inject, .init = setup, .fini = reset_options, .timeout = LG_UNIT_TIMEOUT);

/* An actor that makes `calls` calls which can fail two ways, and a yield between them, and
 * records what each call was told (0 = the real call). */
struct caller {
  int calls;
  uint32_t got[16];
};

static void caller_main(void *p) {
  struct caller *c = p;
  for (int i = 0; i < c->calls; i++) {
    c->got[i] = lg_inject_at(2, (lg_site)(100 + i));
    lg_yield();
  }
}

static const lg_decision_log *run_one(lg_source *src, struct caller *c) {
  lg_root roots[2] = {{caller_main, c, "a"}, {caller_main, c + 1, "b"}};
  lg_exec_opts o = {.mode = LG_SCHED_CONTROLLED};
  lg_exec_result res;
  cr_assert(lg_sched_execute(&o, src, roots, 2, &res));
  return res.log;
}

static unsigned count_kind(const lg_decision_log *log, lg_choice_kind kind, bool failed) {
  unsigned n = 0;
  for (size_t i = 0; i < log->len; i++)
    if (log->d[i].kind == kind && (!failed || log->d[i].idx != 0)) n++;
  return n;
}

Test(inject, off_by_default_no_decision_and_the_string_is_unchanged) {
  struct caller c[2] = {{.calls = 6}, {.calls = 6}};
  lg_source *src = lg_source_random(7);
  const lg_decision_log *log = run_one(src, c);
  cr_assert_eq(count_kind(log, LG_CHOICE_FAIL, false), 0);
  cr_assert_eq(log->inject_max, 0);
  for (int i = 0; i < 6; i++) cr_assert_eq(c[0].got[i] + c[1].got[i], 0);
  const char *s = lg_sched_schedule_string();
  cr_assert(strchr(s, 'f') == NULL && strchr(s + 5, 'i') == NULL, "%s", s);
  lg_source_free(src);
}

Test(inject, failures_are_decisions_bounded_per_execution) {
  cr_assert_eq(lg_options_set("inject_max=2"), 0);
  lg_source *src = lg_source_dfs(UINT32_MAX);
  unsigned max_failed = 0, executions = 0, with_failure = 0;
  struct caller c[2] = {{.calls = 3}, {.calls = 3}};
  lg_root roots[2] = {{caller_main, &c[0], "a"}, {caller_main, &c[1], "b"}};
  lg_exec_opts o = {.mode = LG_SCHED_CONTROLLED};
  lg_exec_result res;
  while (executions < 200000 && lg_sched_execute(&o, src, roots, 2, &res)) {
    executions++;
    unsigned failed = count_kind(res.log, LG_CHOICE_FAIL, true);
    cr_assert_eq(failed, lg_inject_count());
    if (failed > max_failed) max_failed = failed;
    if (failed) with_failure++;
  }
  cr_assert(lg_source_dfs_done(src), "the search did not finish in %u executions", executions);
  cr_assert_eq(max_failed, 2, "the bound is 2 failures per execution, saw %u", max_failed);
  cr_assert_gt(with_failure, 0);
  lg_source_free(src);
}

Test(inject, recorded_in_the_string_and_replayed_exactly) {
  cr_assert_eq(lg_options_set("inject_max=3"), 0);
  /* a random execution that injected at least one failure */
  lg_source *src = lg_source_random(1);
  struct caller c[2];
  const lg_decision_log *log = NULL;
  for (int tries = 0; tries < 1000; tries++) {
    memset(c, 0, sizeof c);
    c[0].calls = c[1].calls = 8;
    log = run_one(src, c);
    if (count_kind(log, LG_CHOICE_FAIL, true)) break;
  }
  lg_source_free(src);
  cr_assert_gt(count_kind(log, LG_CHOICE_FAIL, true), 0);
  char text[4096];
  snprintf(text, sizeof text, "%s", lg_sched_schedule_string());
  cr_assert(strncmp(text, "lgs1:i3,", 8) == 0, "%s", text);
  cr_assert(strstr(text, ",f") != NULL, "%s", text);
  struct caller first[2];
  memcpy(first, c, sizeof c);

  /* replayed with injection off in the options: the string's bound is taken */
  cr_assert_eq(lg_options_set("inject_max=0"), 0);
  lg_decision_log parsed = {0};
  cr_assert_eq(lg_schedule_parse(text, strlen(text), &parsed, NULL, NULL), 0);
  lg_source *rep = lg_source_replay(&parsed);
  memset(c, 0, sizeof c);
  c[0].calls = c[1].calls = 8;
  run_one(rep, c);
  cr_assert_not(lg_source_replay_divergence(rep)->diverged);
  cr_assert_str_eq(lg_sched_schedule_string(), text);
  cr_assert_eq(memcmp(c, first, sizeof c), 0, "a call was told something else on replay");
  lg_source_free(rep);

  /* the same string without its failures is another execution: every call runs */
  for (size_t i = 0; i < parsed.len; i++)
    if (parsed.d[i].kind == LG_CHOICE_FAIL) parsed.d[i].idx = 0;
  rep = lg_source_replay(&parsed);
  memset(c, 0, sizeof c);
  c[0].calls = c[1].calls = 8;
  run_one(rep, c);
  for (int i = 0; i < 8; i++) cr_assert_eq(c[0].got[i] + c[1].got[i], 0);
  lg_source_free(rep);
  lg_log_free(&parsed);
}

Test(inject, fuzz_bytes_and_pct_drive_it) {
  cr_assert_eq(lg_options_set("inject_max=1"), 0);
  /* bytes: the first decision picks actor a (0), the second is a's first call, which byte 1
   * fails (1 % 3) */
  static const uint8_t fail_first[] = {0, 1};
  lg_source *src = lg_source_bytes(fail_first, sizeof fail_first);
  struct caller c[2] = {{.calls = 2}, {.calls = 2}};
  const lg_decision_log *log = run_one(src, c);
  cr_assert_eq(log->d[0].kind, LG_CHOICE_SCHEDULE);
  cr_assert_eq(log->d[1].kind, LG_CHOICE_FAIL);
  cr_assert_eq(c[0].got[0], 1);
  cr_assert_eq(count_kind(log, LG_CHOICE_FAIL, true), 1);
  lg_source_free(src);
  /* bytes used up: every call runs */
  src = lg_source_bytes(NULL, 0);
  memset(c, 0, sizeof c);
  c[0].calls = c[1].calls = 2;
  run_one(src, c);
  cr_assert_eq(lg_inject_count(), 0);
  lg_source_free(src);
  /* PCT: some execution of 200 injects, none injects twice */
  src = lg_source_pct(3, 2, 0);
  unsigned injected = 0;
  for (int i = 0; i < 200; i++) {
    memset(c, 0, sizeof c);
    c[0].calls = c[1].calls = 4;
    run_one(src, c);
    cr_assert_leq(lg_inject_count(), 1);
    injected += lg_inject_count();
  }
  cr_assert_gt(injected, 0);
  lg_source_free(src);
}

Test(inject, free_running_nothing_is_injected) {
  cr_assert_eq(lg_options_set("inject_max=5"), 0);
  for (int i = 0; i < 100; i++) cr_assert_eq(lg_inject_at(3, 42), 0);
  /* the runtime's wrapper makes the real call */
  void *p = lgrt_malloc(16);
  cr_assert_not_null(p);
  free(p);
}

/* The runtime's wrappers fail the way they say, without a system call. */
static void wrappers_main(void *p) {
  int *out = p;
  errno = 0;
  out[0] = lgrt_socket(AF_UNIX, SOCK_STREAM, 0);
  out[1] = errno;
  out[2] = lgrt_malloc(8) == NULL;
  out[3] = errno;
}

Test(inject, the_wrappers_fail_with_their_errors) {
  cr_assert_eq(lg_options_set("inject_max=2"), 0);
  static const uint8_t bytes[] = {2, 1}; /* socket: option 2 = ENFILE; malloc: option 1 */
  lg_source *src = lg_source_bytes(bytes, sizeof bytes);
  int out[4];
  lg_root root = {wrappers_main, out, "w"};
  lg_exec_opts o = {.mode = LG_SCHED_CONTROLLED};
  cr_assert(lg_sched_execute(&o, src, &root, 1, NULL));
  cr_assert_eq(out[0], -1);
  cr_assert_eq(out[1], ENFILE);
  cr_assert_eq(out[2], 1);
  cr_assert_eq(out[3], ENOMEM);
  lg_source_free(src);
}

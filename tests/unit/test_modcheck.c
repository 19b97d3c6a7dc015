/* SPDX-License-Identifier: MIT */
/* modcheck: each thing that can still use a module at its unload is reported with the right
 * kind and stacks, and its clean twin (released before the unload) is silent. The module is
 * the runtime's plugin libdrv.so; its functions are reached through its drv_entry table. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lgrt/module.h>
#include <lifeguard/modcheck.h>
#include <lifeguard/options.h>
#include <lifeguard/report.h>
#include <lifeguard/sched.h>
#include <lifeguard/source.h>

#include <criterion/criterion.h>

#include "capture.h"

#define NOINLINE __attribute__((noinline))

static void no_detach(lgrt_host *h) { (void)h; }
static unsigned no_timer(lgrt_host *h, uint64_t p, void (*fn)(void *), void *a) { return 0; }
static void no_cancel(lgrt_host *h, unsigned id) {}
static const lgrt_host_api host = {NULL, no_detach, no_timer, no_cancel};

NOINLINE static void *step_load(int flags) {
  void *h = dlopen(lgrt_drv_path(), RTLD_NOW | RTLD_LOCAL | flags);
  cr_assert_not_null(h, "dlopen: %s", dlerror());
  return h;
}

NOINLINE static int step_unload(void *h) { return dlclose(h); }

NOINLINE static unsigned step_hold(const void *fn) { return lg_modcheck_hold(fn, "test callback"); }

static const drv_api *api_of(void *h, drv_config cfg) {
  const drv_api *api = dlsym(h, "drv_entry");
  cr_assert_not_null(api);
  cr_assert_eq(api->attach(&host, &cfg), 0);
  return api;
}

static lg_modcheck_stats stats(void) {
  lg_modcheck_stats s;
  lg_modcheck_stats_get(&s);
  return s;
}

TestSuite(modcheck, .init = capture_setup, .timeout = LG_UNIT_TIMEOUT);

/* ---- callbacks held for the module ------------------------------------------------------ */

Test(modcheck, held_callback_reported_at_unload) {
  void *h = step_load(0);
  const drv_api *api = api_of(h, (drv_config){0});
  step_hold((const void *)api->submit);
  cr_assert_eq(step_unload(h), 0);
  cr_assert_eq(capture_count, 1);
  cr_assert_report(0, "unload-with-pending-callback");
  cr_assert(strstr(capture_log[0].headline, "of libdrv.so: a test callback still calls into it"),
            "%s", capture_log[0].headline);
  cr_assert_top(0, "current", "drv_submit");
  cr_assert_top(0, "registered", "step_hold");
  cr_assert_top(0, "unload", "step_unload");
  cr_assert_top(0, "load", "step_load");
}

Test(modcheck, released_callback_is_clean) {
  void *h = step_load(0);
  const drv_api *api = api_of(h, (drv_config){0});
  lg_modcheck_release(step_hold((const void *)api->submit));
  cr_assert_eq(step_unload(h), 0);
  cr_assert_eq(capture_count, 0);
  lg_modcheck_stats s = stats();
  cr_assert_eq(s.unloads, 1);
  cr_assert_eq(s.placeholders, 1);
}

/* ---- pthread keys ------------------------------------------------------------------------ */

Test(modcheck, key_destructor_reported_at_unload) {
  void *h = step_load(0);
  const drv_api *api = api_of(h, (drv_config){.thread_cache = true});
  api->thread_enter(); /* the module creates its key, with cache_free as destructor */
  cr_assert_eq(step_unload(h), 0);
  cr_assert_eq(capture_count, 1);
  cr_assert_report(0, "unload-with-pending-callback");
  cr_assert(strstr(capture_log[0].headline, "has its destructor there"), "%s",
            capture_log[0].headline);
  cr_assert_top(0, "current", "cache_free");
  cr_assert_top(0, "registered", "drv_thread_enter");
}

Test(modcheck, deleted_key_is_clean) {
  void *h = step_load(0);
  const drv_api *api = api_of(h, (drv_config){.thread_cache = true});
  api->thread_enter();
  api->shutdown(); /* deletes the key and frees every thread's entry */
  cr_assert_eq(step_unload(h), 0);
  cr_assert_eq(capture_count, 0);
}

/* ---- signal handlers ---------------------------------------------------------------------- */

Test(modcheck, signal_handler_reported_at_unload) {
  void *h = step_load(0);
  const drv_api *api = api_of(h, (drv_config){0});
  signal(SIGUSR2, (void (*)(int))api->shutdown);
  cr_assert_eq(step_unload(h), 0);
  cr_assert_eq(capture_count, 1);
  cr_assert_report(0, "unload-with-pending-callback");
  cr_assert(strstr(capture_log[0].headline, "the handler of signal 12"), "%s",
            capture_log[0].headline);
  cr_assert_top(0, "current", "drv_shutdown");
}

Test(modcheck, restored_signal_handler_is_clean) {
  void *h = step_load(0);
  const drv_api *api = api_of(h, (drv_config){0});
  signal(SIGUSR2, (void (*)(int))api->shutdown);
  signal(SIGUSR2, SIG_DFL);
  cr_assert_eq(step_unload(h), 0);
  cr_assert_eq(capture_count, 0);
}

/* ---- POSIX timers ------------------------------------------------------------------------- */

NOINLINE static timer_t step_timer(void (*fn)(union sigval)) {
  struct sigevent sev = {.sigev_notify = SIGEV_THREAD, .sigev_notify_function = fn};
  timer_t t;
  cr_assert_eq(timer_create(CLOCK_MONOTONIC, &sev, &t), 0);
  return t; /* never armed: only its registration matters */
}

Test(modcheck, sigev_thread_timer_reported_at_unload) {
  void *h = step_load(0);
  const drv_api *api = api_of(h, (drv_config){0});
  timer_t t = step_timer((void (*)(union sigval))api->shutdown);
  cr_assert_eq(step_unload(h), 0);
  cr_assert_eq(capture_count, 1);
  cr_assert_report(0, "unload-with-pending-callback");
  cr_assert(strstr(capture_log[0].headline, "a SIGEV_THREAD timer still calls into it"), "%s",
            capture_log[0].headline);
  cr_assert_top(0, "current", "drv_shutdown");
  cr_assert_top(0, "registered", "step_timer");
  timer_delete(t);
}

Test(modcheck, deleted_timer_is_clean) {
  void *h = step_load(0);
  const drv_api *api = api_of(h, (drv_config){0});
  timer_delete(step_timer((void (*)(union sigval))api->shutdown));
  cr_assert_eq(step_unload(h), 0);
  cr_assert_eq(capture_count, 0);
}

/* ---- actors under lg_sched ------------------------------------------------------------------ */

static void *actor_module;
static const drv_api *actor_api;
static bool join_first;

NOINLINE static void unloading_root(void *arg) {
  (void)arg;
  lg_actor *a = lg_spawn((lg_actor_fn)(void (*)(void))actor_api->shutdown, NULL, "plugin");
  if (join_first) lg_join(a);
  step_unload(actor_module);
  if (!join_first) lg_detach(a); /* it would start in the unmapped module */
}

/* One execution of unloading_root; an empty byte source never preempts, so the spawned actor
 * has not run when the host unloads unless the host joins it first. */
static void run_unloading_root(bool join) {
  actor_module = step_load(0);
  actor_api = api_of(actor_module, (drv_config){0});
  join_first = join;
  lg_source *src = lg_source_bytes(NULL, 0);
  lg_exec_opts o = {0};
  lg_root root = {unloading_root, NULL, "host"};
  cr_assert(lg_sched_execute(&o, src, &root, 1, NULL));
  lg_source_free(src);
}

Test(modcheck, actor_that_will_start_in_module_reported) {
  run_unloading_root(false);
  cr_assert_eq(capture_count, 1);
  cr_assert_report(0, "unload-while-running");
  cr_assert(strstr(capture_log[0].headline, "'plugin' has not started yet; it will start in "
                                            "libdrv.so+0x"),
            "%s", capture_log[0].headline);
  cr_assert_top(0, "current", "drv_shutdown");
}

Test(modcheck, joined_actor_is_clean) {
  run_unloading_root(true);
  cr_assert_eq(capture_count, 0);
}

/* ---- after the unload ----------------------------------------------------------------------- */

Test(modcheck, nodelete_module_stays_mapped_and_is_not_reported) {
  void *h = step_load(RTLD_NODELETE);
  const drv_api *api = api_of(h, (drv_config){0});
  step_hold((const void *)api->submit); /* would be reported if it were unmapped */
  cr_assert_eq(step_unload(h), 0);
  cr_assert_eq(capture_count, 0);
  lg_modcheck_stats s = stats();
  cr_assert_eq(s.unloads, 0);
  cr_assert_eq(s.retained, 1);
  cr_assert_eq(api->live_runtimes(), 0); /* still callable: it is still there */
}

Test(modcheck, second_reference_keeps_it_and_is_not_reported) {
  void *h1 = step_load(0), *h2 = step_load(0);
  const drv_api *api = api_of(h1, (drv_config){0});
  unsigned token = step_hold((const void *)api->submit);
  cr_assert_eq(step_unload(h1), 0);
  cr_assert_eq(capture_count, 0);
  cr_assert_eq(stats().unloads, 0);
  lg_modcheck_release(token);
  cr_assert_eq(step_unload(h2), 0);
  cr_assert_eq(capture_count, 0);
  cr_assert_eq(stats().unloads, 1);
}

/* A late call is fatal; the hook checks the report and leaves with a code the test expects. */
static void late_call_hook(const lg_report_view *v, void *arg) {
  (void)arg;
  const lg_report *r = v->report;
  bool ok = strcmp(r->kind, "use-after-unload") == 0 && r->fatal &&
            strstr(r->headline, "a call into libdrv.so+0x") && strstr(r->headline, "(runtimes)") &&
            v->nframes[0] >= 2 && strcmp(v->frames[0][0].function, "runtimes") == 0 &&
            strcmp(r->stacks[1].name, "unload") == 0 &&
            strcmp(v->frames[1][0].function, "step_unload") == 0;
  _exit(ok ? 42 : 43);
}

Test(modcheck, late_call_is_use_after_unload_with_module_and_function, .exit_code = 42) {
  lg_options_set("symbolize=1");
  void *h = step_load(0);
  const drv_api *api = api_of(h, (drv_config){0});
  unsigned long (*late)(void) = api->live_runtimes;
  cr_assert_eq(step_unload(h), 0);
  lg_report_set_hook(late_call_hook, NULL);
  late(); /* into the placeholder */
  cr_assert_fail("the late call returned");
}

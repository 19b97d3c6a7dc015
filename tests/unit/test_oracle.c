/* SPDX-License-Identifier: MIT */
/* The functional oracles (lifeguard/oracle.h): each breach is reported with its kind and
 * stacks, each clean twin is silent, and with oracles=0 nothing is checked. Then modcheck's
 * call check: a held callback called after its module's unload, with no placeholder to fault
 * on, is reported before the call; while the module is loaded it is not. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <lgrt/module.h>
#include <lifeguard/modcheck.h>
#include <lifeguard/options.h>
#include <lifeguard/oracle.h>

#include <criterion/criterion.h>

#include "capture.h"

#define NOINLINE __attribute__((noinline))

static void oracle_setup(void) {
  capture_setup();
  lg_options_set("oracles=1");
}

TestSuite(oracle, .init = oracle_setup, .timeout = LG_UNIT_TIMEOUT);

NOINLINE static uint64_t step_open(const char *what) {
  uint64_t h = lg_oracle_serial();
  lg_handle_open(h, what);
  return h;
}

NOINLINE static void step_close(uint64_t h, bool waits) { lg_handle_close(h, waits); }

NOINLINE static void step_deliver(uint64_t posted_for, uint64_t receiver) {
  lg_handle_deliver(posted_for, receiver, 0x40);
}

NOINLINE static void step_call(uint64_t h) {
  lg_handle_call_begin(h);
  lg_handle_call_end(h);
}

NOINLINE static void step_take(const void *owner, const void *obj, const char *role) {
  lg_ref_take(owner, obj, "test object", role);
}

NOINLINE static void step_drop(const void *obj, const char *role) { lg_ref_drop(obj, role); }

NOINLINE static size_t step_teardown(const void *owner) { return lg_ref_check(owner, "torn down"); }

/* ---- handles ------------------------------------------------------------------------------ */

Test(oracle, serials_are_fresh) {
  uint64_t a = lg_oracle_serial(), b = lg_oracle_serial();
  cr_assert_neq(a, 0);
  cr_assert_neq(a, b);
}

Test(oracle, delivery_to_another_handle_is_misdelivered) {
  uint64_t a = step_open("registration"), b = step_open("registration");
  step_close(a, false);
  step_deliver(a, b);
  cr_assert_eq(capture_count, 1);
  cr_assert_report(0, "misdelivered-event");
  cr_assert(strstr(capture_log[0].headline, "(closed since)"), "%s", capture_log[0].headline);
  cr_assert_top(0, "current", "step_deliver");
  cr_assert_top(0, "receiver", "step_open");
  cr_assert_top(0, "open", "step_open");
  cr_assert_top(0, "close", "step_close");
}

Test(oracle, delivery_posted_for_nobody_is_misdelivered) {
  uint64_t b = step_open("registration");
  step_deliver(LG_ORACLE_NOBODY, b);
  cr_assert_eq(capture_count, 1);
  cr_assert_report(0, "misdelivered-event");
  cr_assert(strstr(capture_log[0].headline, "posted when no handle had that token"), "%s",
            capture_log[0].headline);
}

Test(oracle, delivery_to_its_own_handle_is_clean) {
  uint64_t a = step_open("registration");
  step_deliver(a, a);
  step_deliver(0, a); /* not known: nothing to check */
  cr_assert_eq(capture_count, 0);
}

Test(oracle, call_after_close_is_reported) {
  uint64_t t = step_open("timer");
  step_call(t);
  step_close(t, true);
  cr_assert_eq(capture_count, 0);
  step_call(t);
  cr_assert_eq(capture_count, 1);
  cr_assert_report(0, "completion-after-close");
  cr_assert_top(0, "current", "step_call");
  cr_assert_top(0, "close", "step_close");
  cr_assert_top(0, "open", "step_open");
}

Test(oracle, close_while_a_call_runs) {
  uint64_t t = step_open("timer");
  lg_handle_call_begin(t);
  step_close(t, false); /* a close from inside its own callback: allowed */
  cr_assert_eq(capture_count, 0);
  lg_handle_call_end(t);
  uint64_t u = step_open("timer");
  lg_handle_call_begin(u);
  step_close(u, true); /* a close that promises to wait returned while the call runs */
  lg_handle_call_end(u);
  cr_assert_eq(capture_count, 1);
  cr_assert_report(0, "completion-after-close");
  cr_assert(strstr(capture_log[0].headline, "still running"), "%s", capture_log[0].headline);
  cr_assert_top(0, "current", "step_close");
}

/* ---- the reference ledger ----------------------------------------------------------------- */

Test(oracle, balanced_references_are_clean) {
  static int owner, obj;
  step_take(&owner, &obj, "a");
  step_take(&owner, &obj, "b");
  step_take(&owner, &obj, "a");
  step_drop(&obj, "a");
  step_drop(&obj, "b");
  step_drop(&obj, "a");
  cr_assert_eq(step_teardown(&owner), 0);
  lg_ref_gone(&obj);
  cr_assert_eq(capture_count, 0);
}

Test(oracle, second_release_of_a_role_is_over_release) {
  static int owner, obj;
  step_take(&owner, &obj, "holder");
  step_take(&owner, &obj, "other"); /* the object's own count would still be above zero */
  step_drop(&obj, "holder");
  cr_assert_eq(capture_count, 0);
  step_drop(&obj, "holder");
  cr_assert_eq(capture_count, 1);
  cr_assert_report(0, "over-release");
  cr_assert(strstr(capture_log[0].headline, "(1 taken, 1 released)"), "%s",
            capture_log[0].headline);
  cr_assert_top(0, "current", "step_drop");
  cr_assert_top(0, "release", "step_drop");
  cr_assert_top(0, "take", "step_take");
  step_drop(&obj, "other");
  lg_ref_gone(&obj);
}

Test(oracle, release_never_taken_is_over_release) {
  static int obj;
  step_drop(&obj, "posted");
  cr_assert_eq(capture_count, 1);
  cr_assert_report(0, "over-release");
  cr_assert(strstr(capture_log[0].headline, "(0 taken, 0 released)"), "%s",
            capture_log[0].headline);
  lg_ref_gone(&obj);
}

Test(oracle, reference_held_at_teardown_is_a_leak) {
  static int owner, other_owner, obj, kept;
  step_take(&owner, &obj, "user");
  step_take(&other_owner, &kept, "user");
  cr_assert_eq(step_teardown(&owner), 1);
  cr_assert_eq(capture_count, 1);
  cr_assert_report(0, "reference-leak");
  cr_assert(strstr(capture_log[0].headline, "1 user reference was never released when torn down"),
            "%s", capture_log[0].headline);
  cr_assert_top(0, "current", "step_teardown");
  cr_assert_top(0, "take", "step_take");
  cr_assert_eq(step_teardown(&owner), 0); /* reported once */
  step_drop(&kept, "user");               /* another owner's object is not its business */
  cr_assert_eq(step_teardown(&other_owner), 0);
  lg_ref_gone(&kept);
}

Test(oracle, gone_object_forgets_its_entries) {
  static int owner, obj;
  step_take(&owner, &obj, "user");
  step_drop(&obj, "user");
  lg_ref_gone(&obj); /* the address may now be another object's */
  step_take(&owner, &obj, "user");
  step_drop(&obj, "user");
  cr_assert_eq(step_teardown(&owner), 0);
  cr_assert_eq(capture_count, 0);
  lg_ref_gone(&obj);
}

Test(oracle, off_checks_nothing) {
  static int owner, obj;
  lg_options_set("oracles=0");
  cr_assert_not(lg_oracle_enabled());
  lg_oracle_stats before, after;
  lg_oracle_stats_get(&before);
  uint64_t a = step_open("registration"), b = step_open("registration");
  step_deliver(a, b);
  step_close(a, true);
  step_call(a);
  step_drop(&obj, "x");
  step_take(&owner, &obj, "y");
  cr_assert_eq(step_teardown(&owner), 0);
  lg_oracle_stats_get(&after);
  cr_assert_eq(capture_count, 0);
  cr_assert_eq(after.handles + after.calls + after.deliveries + after.refs + after.releases,
               before.handles + before.calls + before.deliveries + before.refs + before.releases);
  lg_options_set("oracles=1");
}

/* ---- modcheck's call check ---------------------------------------------------------------- */

static void no_detach(lgrt_host *h) { (void)h; }
static unsigned no_timer(lgrt_host *h, uint64_t p, void (*fn)(void *), void *a) {
  (void)h, (void)p, (void)fn, (void)a;
  return 0;
}
static void no_cancel(lgrt_host *h, unsigned id) { (void)h, (void)id; }
static const lgrt_host_api host = {NULL, no_detach, no_timer, no_cancel};

NOINLINE static void step_call_held(unsigned token) { lg_modcheck_call(token); }

static unsigned hold_submit(void **handle) {
  *handle = dlopen(lgrt_drv_path(), RTLD_NOW | RTLD_LOCAL);
  cr_assert_not_null(*handle, "dlopen: %s", dlerror());
  const drv_api *api = dlsym(*handle, "drv_entry");
  cr_assert_not_null(api);
  drv_config cfg = {0};
  cr_assert_eq(api->attach(&host, &cfg), 0);
  return lg_modcheck_hold((const void *)api->submit, "test callback");
}

Test(oracle, held_call_after_unload_without_placeholder) {
  lg_options_set("modcheck_census=0:modcheck_placeholders=0");
  void *h;
  unsigned token = hold_submit(&h);
  step_call_held(token); /* loaded: fine */
  cr_assert_eq(capture_count, 0);
  cr_assert_eq(dlclose(h), 0);
  step_call_held(token);
  cr_assert_eq(capture_count, 1);
  cr_assert_report(0, "call-after-unload");
  cr_assert(strstr(capture_log[0].headline, "(drv_submit)"), "%s", capture_log[0].headline);
  cr_assert_top(0, "current", "step_call_held");
  cr_assert_top(0, "registered", "hold_submit");
  lg_modcheck_release(token);
  lg_options_set("modcheck_census=1:modcheck_placeholders=256");
}

Test(oracle, held_call_with_placeholder_is_left_to_it) {
  lg_options_set("modcheck_census=0");
  void *h;
  unsigned token = hold_submit(&h);
  cr_assert_eq(dlclose(h), 0);
  step_call_held(token); /* the call itself would fault on the placeholder: use-after-unload */
  cr_assert_eq(capture_count, 0);
  lg_modcheck_release(token);
  lg_options_set("modcheck_census=1");
}

/* ---- contracts a test checks itself ------------------------------------------------------- */

/* The hook runs before lg_contract_fail's abort, even with halt_on_error=0: a report of
 * another kind or headline, or without a stack, ends the test by exit 3 instead of the
 * SIGABRT it expects; a return from lg_contract_fail ends it by exit 5. */
static void contract_hook(const lg_report_view *v, void *arg) {
  (void)arg;
  const lg_report *r = v->report;
  if (strcmp(r->kind, "contract-violation") != 0 || !strstr(r->headline, "slot 7 reused") ||
      v->nframes[0] == 0)
    _exit(3);
}

NOINLINE static void step_contract(int slot) { lg_contract_fail("slot %d reused", slot); }

Test(oracle, contract_failure_reports_its_kind_and_aborts, .signal = SIGABRT) {
  lg_report_set_hook(contract_hook, NULL);
  step_contract(7);
  _exit(5); /* lg_contract_fail returned: not reached when it keeps its promise */
}

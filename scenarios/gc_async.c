/* Class gc-async: borrowed references collected while async work is pending (napi-rs#2571,
 * and its relatives).
 *
 * Each scenario is the JavaScript of its bug, written against the managed runtime
 * (runtime/gc): objects made in a handle scope, an async native function called with them,
 * the scope closed, then the event loop run until the call completes. The loop collects on
 * the seed's timer (global.gc() every 100 ms) while the function's body awaits (its 1 s
 * sleep) on the worker; under lg_sched each loop turn may also collect, as the schedule says.
 * When the binder left an object unpinned, the sweep finalizes it and frees its native
 * object; the worker then reads freed memory, and AddressSanitizer reports a
 * heap-use-after-free whose free stack is in the finalizer and whose use stack is in the
 * worker. Without a detector, the promise's value (the sum of the lengths the body read) is
 * checked: a wrong value is a symptom no detector reported (exit 3). */
#include <stdio.h>
#include <string.h>

#include <lgrt/gc.h>
#include <lgrt/faults.h>
#include <lifeguard/sched.h>

#include "common/scenario.h"

#define NOINLINE __attribute__((noinline))

/* The native class's constructor argument; the body reads it back. */
#define TEXT "a String owned by the native object"
#define TEXT_LEN (sizeof TEXT - 1)

enum { SLOT_VALUE = 0, SLOT_RESULT = LGRT_GLOBALS - 1 };

/* `async fn example(a: Vec<&S>)` */
static const lgrt_async_fn example_vec = {"example", false, 1, {LGRT_ARG_VEC_BORROWED}};
/* `async fn example_one(a: &S)` */
static const lgrt_async_fn example_one = {"example_one", false, 1, {LGRT_ARG_BORROWED}};
/* `impl S { async fn run(&self) }` */
static const lgrt_async_fn run_method = {"run", true, 0, {LGRT_ARG_OWNED}};

static lgrt_vm *open_vm(void) {
  lgrt_vm_config cfg = {.gc_interval_ns = LGRT_VM_SEED_GC_INTERVAL_NS,
                        .work_ns = LGRT_VM_SEED_WORK_NS,
                        .gc_decisions = true};
  lgrt_vm *vm = NULL;
  if (lgrt_vm_open(&vm, &cfg) != 0) return NULL;
  return vm;
}

/* `await` every promise kept in SLOT_RESULT and check what the body read. */
static int finish(lgrt_vm *vm, uint64_t expected) {
  lgrt_vm_run(vm);
  lgrt_scope s = lgrt_scope_open(vm);
  lgrt_local p = lgrt_global_get(vm, SLOT_RESULT);
  int status = LG_SCENARIO_CLEAN;
  if (!lgrt_promise_settled(vm, p)) {
    fprintf(stderr, "gc_async: the call's promise did not settle\n");
    status = LG_SCENARIO_SYMPTOM;
  } else if (lgrt_promise_value(vm, p) != expected) {
    fprintf(stderr, "gc_async: the body read %llu bytes, not %llu: it read a freed object\n",
            (unsigned long long)lgrt_promise_value(vm, p), (unsigned long long)expected);
    status = LG_SCENARIO_SYMPTOM;
  }
  lgrt_scope_close(vm, s);
  lgrt_vm_close(vm);
  return status;
}

/* 1. The seed: `let z = getS(); example([z]);` with global.gc() running. */
static NOINLINE int run_vec_borrow(const lg_scenario_ctx *ctx) {
  (void)ctx;
  lgrt_vm *vm = open_vm();
  if (!vm) return lg_scenario_fail("vm");
  lgrt_scope s = lgrt_scope_open(vm);
  lgrt_local z = lgrt_new_wrapped(vm, TEXT);
  lgrt_local arr = lgrt_new_array(vm, &z, 1);
  lgrt_local p = lgrt_call_async(vm, &example_vec, NULL, &arr);
  if (!p) return lg_scenario_fail("example([z])");
  lgrt_global_set(vm, SLOT_RESULT, p);
  lgrt_scope_close(vm, s); /* nothing roots [z] or z now */
  return finish(vm, TEXT_LEN);
}

/* 2. napi-rs#1338: `getS().run()`: the object is unreachable once the method returned its
 * promise. */
static NOINLINE int run_this_collected(const lg_scenario_ctx *ctx) {
  (void)ctx;
  lgrt_vm *vm = open_vm();
  if (!vm) return lg_scenario_fail("vm");
  lgrt_scope s = lgrt_scope_open(vm);
  lgrt_local obj = lgrt_new_wrapped(vm, TEXT);
  lgrt_local p = lgrt_call_async(vm, &run_method, obj, NULL);
  if (!p) return lg_scenario_fail("obj.run()");
  lgrt_global_set(vm, SLOT_RESULT, p);
  lgrt_scope_close(vm, s);
  return finish(vm, TEXT_LEN);
}

/* 3. napi-rs#1575: `example_one(getS())` pinned by a reference of count 0. */
static NOINLINE int run_weak_ref(const lg_scenario_ctx *ctx) {
  (void)ctx;
  lgrt_vm *vm = open_vm();
  if (!vm) return lg_scenario_fail("vm");
  lgrt_scope s = lgrt_scope_open(vm);
  lgrt_local z = lgrt_new_wrapped(vm, TEXT);
  lgrt_local p = lgrt_call_async(vm, &example_one, NULL, &z);
  if (!p) return lg_scenario_fail("example_one(z)");
  lgrt_global_set(vm, SLOT_RESULT, p);
  lgrt_scope_close(vm, s);
  return finish(vm, TEXT_LEN);
}

/* 4. The residual gap of napi-rs PR #2589: `const arr = [z]; example(arr); arr.pop();` The
 * array is a module-level constant (rooted); its element is not, once popped. */
static NOINLINE int run_element_removed(const lg_scenario_ctx *ctx) {
  (void)ctx;
  lgrt_vm *vm = open_vm();
  if (!vm) return lg_scenario_fail("vm");
  lgrt_scope s = lgrt_scope_open(vm);
  lgrt_local z = lgrt_new_wrapped(vm, TEXT);
  lgrt_local arr = lgrt_new_array(vm, &z, 1);
  lgrt_global_set(vm, SLOT_VALUE, arr);
  lgrt_local p = lgrt_call_async(vm, &example_vec, NULL, &arr);
  if (!p) return lg_scenario_fail("example(arr)");
  lgrt_global_set(vm, SLOT_RESULT, p);
  lgrt_array_pop(vm, arr); /* the caller takes its element back, in the same tick */
  lgrt_scope_close(vm, s);
  return finish(vm, TEXT_LEN);
}

/* 5. napi-rs PR #2499: the pins are released where the body ends, on the worker. The script
 * calls `example_one(z)`, and again from a timer as long as the body's await:
 * `setTimeout(() => example_one(z), 1000)`, after which nothing else holds z. The second
 * call's pin (main actor) and the first call's release (worker) count the same reference at
 * the same moment; when the release's write lands last, the second pin is lost, z is
 * collected, and the second body reads freed memory. */
static NOINLINE int run_release_off_main(const lg_scenario_ctx *ctx) {
  (void)ctx;
  lgrt_vm *vm = open_vm();
  if (!vm) return lg_scenario_fail("vm");
  lgrt_scope s = lgrt_scope_open(vm);
  lgrt_local z = lgrt_new_wrapped(vm, TEXT);
  lgrt_global_set(vm, SLOT_VALUE, z); /* the timer's closure holds z */
  if (!lgrt_call_async(vm, &example_one, NULL, &z)) return lg_scenario_fail("example_one(z)");
  lgrt_scope_close(vm, s);
  lg_sleep(LGRT_VM_SEED_WORK_NS); /* the timer */
  s = lgrt_scope_open(vm);
  z = lgrt_global_get(vm, SLOT_VALUE);
  lgrt_local p = lgrt_call_async(vm, &example_one, NULL, &z);
  if (!p) return lg_scenario_fail("example_one(z) again");
  lgrt_global_set(vm, SLOT_RESULT, p);
  lgrt_global_set(vm, SLOT_VALUE, NULL); /* the closure is done */
  lgrt_scope_close(vm, s);
  return finish(vm, TEXT_LEN);
}

static const lg_scenario scenarios[] = {
    {"vec-borrow", {"bind-vec-borrow-unpinned", NULL},
     "napi-rs#2571: an async function takes Vec<&S>; the binder pins nothing, the collector "
     "finalizes the element while the body awaits, and the body reads the freed object",
     run_vec_borrow},
    {"this-collected", {"bind-this-unpinned", NULL},
     "napi-rs#1338: an async method's `this` is not pinned and is collected mid-call",
     run_this_collected},
    {"weak-ref", {"bind-ref-weak", NULL},
     "napi-rs#1575: the borrowed argument is pinned by a reference created with count 0, "
     "which is weak",
     run_weak_ref},
    {"element-removed", {"bind-vec-pin-array-only", NULL},
     "napi-rs PR #2589's residual: the array is pinned, not its elements; the caller pops the "
     "element and the collector takes it",
     run_element_removed},
    {"release-off-main", {"bind-release-off-main", NULL},
     "napi-rs PR #2499: the first call's pins are released on the worker and race the second "
     "call's pin of the same object on the main actor; a lost count lets the collector take it",
     run_release_off_main},
    {"unpin-one-short", {"bind-unpin-one-short", NULL},
     "vec-borrow's call, with the binder's release of its pins stopping one short: the "
     "element stays pinned for as long as the VM lives",
     run_vec_borrow},
};

int main(int argc, char **argv) {
  static const lg_scenario_program program = {
      "gc_async", "gc-async", scenarios, sizeof scenarios / sizeof *scenarios};
  return lg_scenario_main(&program, argc, argv);
}

/* SPDX-License-Identifier: MIT */
/* Fuzz target of the gc-async class: a script of the managed VM's JavaScript thread (the main
 * actor) -- objects, arrays, handle scopes, globals, persistent references, calls of async
 * native functions, collections, event-loop turns, virtual time -- beside the VM's worker,
 * which runs the bodies; the script and the interleaving both come from the input.
 *
 * Input: byte 0 = how many operation bytes follow (mod 48) + 48 * the VM's configuration
 * (below); then the operations; the rest is the schedule (one byte per decision,
 * lg_source_bytes; class_input.h). There is one script
 * actor (the heap is the main actor's alone), so every operation byte is its: the low four
 * bits are the operation (b % 16), the high four bits its operands x = (b / 16) % 4 and
 * y = b / 64. The script has four variables v0..v3 (handles in the current scope), four
 * global slots g0..g3 and four persistent references r0..r3:
 *
 *   0 NEW        vx = getS(): a new wrapped native object, text y (35, 1, 0 or 180 bytes)
 *   1 ARRAY      vx = [vy] ([] if vy is unset)
 *   2 PUSH       vx.push(vy) (a hole if vy is unset)
 *   3 POP        vx.pop()
 *   4 SET_LENGTH vx.length = y
 *   5 GET        vy = vx[0]
 *   6 GLOBAL_SET gy = vx (clears gy if vx is unset)
 *   7 GLOBAL_GET vx = gy
 *   8 CALL       an async native function on vx, by y: 0 `fn(a: S)` (owned), 1 `fn(a: &S)`,
 *                2 `fn(a: Vec<&S>)` (napi-rs#2571's signature), 3 the method `vx.run()`
 *                (`&self`); its promise is kept and its value checked at the end
 *   9 SCOPE_OPEN a nested handle scope (at most 4 deep)
 *  10 SCOPE_CLOSE close the innermost scope: its handles are dropped, the variables made in
 *                it are unset (the outermost one is reopened at once)
 *  11 GC         lgrt_gc (global.gc())
 *  12 TURN       one turn of the event loop (lgrt_vm_turn): a collection if the schedule
 *                says so, then the completions already done
 *  13 RUN        run the loop until every call made so far completed (lgrt_vm_run; each of
 *                its turns may collect, as the schedule says)
 *  14 WAIT       y = 0: a yield; else let y virtual microseconds pass (a body awaits 2 from
 *                when the worker takes it up: WAIT 2 is one body's time)
 *  15 REF        y = 0: delete rx; 1: rx = a weak reference (count 0) to vx; 2: a strong one
 *                (count 1); 3: vx = rx's object (unset if it was collected)
 *
 * At the end the script closes its scopes and runs the loop; then every kept promise must
 * have settled with the sum of the lengths its body read (else the target aborts: a wrong
 * value is a read of freed memory that no detector reported, as in a gcc build), and the VM
 * is closed (pending work waited for, every object swept and finalized).
 *
 * The VM's configuration, by byte 0 / 48 (mod 4): 0 the one described next; bit 0 turns on
 * GC-stress mode (a collection at every allocation and every loop turn, V8's --gc-interval=1);
 * bit 1 the collector's timer (every 3 us of virtual time, so that a body's 2 us wait and
 * WAIT's operand land on either side of it; RUN then also waits for the timer).
 *
 * Configuration 0: work_ns = 2 us of virtual time (time is virtual, so the seed's 1 s
 * would cost nothing more, but a small unit makes WAIT's operand meaningful: WAIT 2 lands
 * exactly on a body's end, where the worker's reads and releases race the script);
 * gc_interval_ns = 0, no GC timer: every collection is either a GC operation of the input or
 * a decision of the schedule at a loop turn (gc_decisions), so a crashing input says where
 * each collection happened and the minimizer can drop the ones that do not matter (with a
 * timer, RUN would also collect on its own while it waits, and the waits would be extra
 * scheduling points in every execution).
 *
 * The fixed VM (no fault switch) is clean for every input. With LIFEGUARD_FAULTS=
 * bind-vec-borrow-unpinned (napi-rs#2571): NEW v0, ARRAY v1=[v0], CALL Vec<&S> v1, SCOPE_CLOSE,
 * GC: nothing roots the element, the sweep finalizes it (native_finalize frees it), and the
 * worker's body reads it: ASan's heap-use-after-free in read_native. bind-this-unpinned,
 * bind-ref-weak, bind-vec-pin-array-only and bind-release-off-main break the other pins the
 * same way (see scenarios/gc_async.c).
 *
 * Seeds: corpora/gc_async/, written from scripts in words by fuzz/gc_async_seeds.py;
 * regressions: corpora/regressions/gc_async/, one per switch. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lgrt/gc.h>
#include <lifeguard/oracle.h>
#include <lifeguard/sched.h>

#include "class_input.h"

enum {
  OP_NEW,
  OP_ARRAY,
  OP_PUSH,
  OP_POP,
  OP_SET_LENGTH,
  OP_GET,
  OP_GLOBAL_SET,
  OP_GLOBAL_GET,
  OP_CALL,
  OP_SCOPE_OPEN,
  OP_SCOPE_CLOSE,
  OP_GC,
  OP_TURN,
  OP_RUN,
  OP_WAIT,
  OP_REF,
  OP_COUNT
};

#define MAX_OPS 48
#define VARS 4
#define SLOTS 4
#define REFS 4
#define MAX_DEPTH 4
#define UNIT_NS 1000u /* WAIT's unit: a virtual microsecond */

#define GC_TIMER_NS (3 * UNIT_NS) /* configurations 2 and 3: the collector's timer */

static const lgrt_vm_config configs[4] = {
    {.work_ns = 2 * UNIT_NS, .gc_interval_ns = 0, .gc_decisions = true},
    {.work_ns = 2 * UNIT_NS, .gc_interval_ns = 0, .gc_decisions = true, .gc_stress = true},
    {.work_ns = 2 * UNIT_NS, .gc_interval_ns = GC_TIMER_NS, .gc_decisions = true},
    {.work_ns = 2 * UNIT_NS, .gc_interval_ns = GC_TIMER_NS, .gc_decisions = true,
     .gc_stress = true},
};

/* Four lengths: the scenarios' text, one byte, empty (the body still reads the object's
 * length), and a longer one (180 bytes, a buffer in another size class). */
static const char long_text[] =
    "a String owned by the native object, and then some: "
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
static const char *const texts[4] = {"a String owned by the native object", "s", "", long_text};

static const lgrt_async_fn fns[4] = {
    {"owned", false, 1, {LGRT_ARG_OWNED}},          /* async fn owned(a: S) */
    {"example_one", false, 1, {LGRT_ARG_BORROWED}}, /* async fn example_one(a: &S) */
    {"example", false, 1, {LGRT_ARG_VEC_BORROWED}}, /* async fn example(a: Vec<&S>) */
    {"run", true, 0, {LGRT_ARG_OWNED}},             /* impl S { async fn run(&self) } */
};

struct var {
  lgrt_local h; /* NULL: unset */
  unsigned depth; /* the scope it was made in (1 = the outermost) */
};

struct call {
  lgrt_ref *promise; /* a strong reference: the script keeps every promise */
  uint64_t expected; /* the sum of the lengths the body must read */
};

struct script {
  lg_fuzz_ops ops;
  const lgrt_vm_config *config;
  lgrt_vm *vm;
  lgrt_scope scopes[MAX_DEPTH];
  unsigned depth;
  struct var v[VARS];
  lgrt_ref *refs[REFS];
  struct call calls[MAX_OPS];
  size_t ncalls;
};

static void set_var(struct script *s, unsigned i, lgrt_local h) {
  s->v[i] = (struct var){h, s->depth};
}

static void scope_close(struct script *s) {
  lgrt_scope_close(s->vm, s->scopes[--s->depth]);
  for (unsigned i = 0; i < VARS; i++) {
    if (s->v[i].depth <= s->depth) continue;
    /* The scope's contract (lgrt/gc.h): once it closes, its handles name nothing. A slot
     * still naming an object keeps a dangling root for whoever takes the slot next, and a
     * handle that escaped the scope would still reach an object the collector may free. */
    if (s->v[i].h && *s->v[i].h != NULL) {
      lg_contract_fail("gc_async: a handle of a closed scope still names an object");
    }
    s->v[i] = (struct var){NULL, 0};
  }
}

/* What a call's body will read, in bytes: the script's own account of its arguments. */
static uint64_t expected_read(struct script *s, const lgrt_async_fn *fn, lgrt_local h) {
  if (fn->argc == 0 || fn->kinds[0] != LGRT_ARG_VEC_BORROWED) return lgrt_unwrap(s->vm, h)->len;
  uint64_t sum = 0;
  size_t n = lgrt_array_length(s->vm, h);
  for (size_t k = 0; k < n; k++) sum += lgrt_unwrap(s->vm, lgrt_array_get(s->vm, h, k))->len;
  return sum;
}

static void call(struct script *s, lgrt_local h, unsigned kind) {
  const lgrt_async_fn *fn = &fns[kind];
  lgrt_local p = fn->method ? lgrt_call_async(s->vm, fn, h, NULL)
                            : lgrt_call_async(s->vm, fn, NULL, &h);
  if (!p) return; /* a TypeError: the wrong shape */
  s->calls[s->ncalls++] = (struct call){lgrt_ref_new(s->vm, p, 1), expected_read(s, fn, h)};
}

static void run_op(struct script *s, uint8_t b) {
  lgrt_vm *vm = s->vm;
  unsigned x = (b / OP_COUNT) % 4, y = b / (OP_COUNT * 4);
  lgrt_local vx = s->v[x].h, vy = s->v[y].h;
  switch (b % OP_COUNT) {
  case OP_NEW:
    set_var(s, x, lgrt_new_wrapped(vm, texts[y]));
    break;
  case OP_ARRAY:
    set_var(s, x, lgrt_new_array(vm, &vy, vy ? 1 : 0));
    break;
  case OP_PUSH:
    lgrt_array_push(vm, vx, vy);
    break;
  case OP_POP:
    lgrt_array_pop(vm, vx);
    break;
  case OP_SET_LENGTH:
    lgrt_array_set_length(vm, vx, y);
    break;
  case OP_GET:
    set_var(s, y, lgrt_array_get(vm, vx, 0));
    break;
  case OP_GLOBAL_SET:
    lgrt_global_set(vm, y, vx);
    break;
  case OP_GLOBAL_GET:
    set_var(s, x, lgrt_global_get(vm, y));
    break;
  case OP_CALL:
    if (vx) call(s, vx, y);
    break;
  case OP_SCOPE_OPEN:
    if (s->depth < MAX_DEPTH) s->scopes[s->depth++] = lgrt_scope_open(vm);
    break;
  case OP_SCOPE_CLOSE:
    scope_close(s);
    if (s->depth == 0) s->scopes[s->depth++] = lgrt_scope_open(vm);
    break;
  case OP_GC:
    lgrt_gc(vm);
    break;
  case OP_TURN:
    lgrt_vm_turn(vm);
    break;
  case OP_RUN:
    lgrt_vm_run(vm);
    break;
  case OP_WAIT:
    if (y == 0) lg_yield();
    else lg_sleep((uint64_t)y * UNIT_NS);
    break;
  case OP_REF:
    if (y == 3) {
      set_var(s, x, lgrt_ref_get(vm, s->refs[x]));
    } else {
      lgrt_ref_delete(vm, s->refs[x]);
      s->refs[x] = y && vx ? lgrt_ref_new(vm, vx, y - 1) : NULL;
    }
    break;
  }
}

static void script_actor(void *p) {
  struct script *s = p;
  if (lgrt_vm_open(&s->vm, s->config) != 0) {
    if (lg_inject_count() > 0) return; /* an injected failure: no VM, nothing to run */
    lg_contract_fail("gc_async: the VM did not open without an injected failure");
  }
  s->scopes[s->depth++] = lgrt_scope_open(s->vm);
  for (size_t i = 0; i < s->ops.n; i++) run_op(s, s->ops.op[i]);
  while (s->depth) scope_close(s);
  lgrt_vm_run(s->vm);
  lgrt_scope scope = lgrt_scope_open(s->vm);
  for (size_t i = 0; i < s->ncalls; i++) {
    lgrt_local p = lgrt_ref_get(s->vm, s->calls[i].promise);
    if (!lgrt_promise_settled(s->vm, p) ||
        lgrt_promise_value(s->vm, p) != s->calls[i].expected) {
      lg_contract_fail("gc_async: call %zu (%s) read %llu bytes, not %llu", i,
                       lgrt_promise_settled(s->vm, p) ? "settled" : "not settled",
                       (unsigned long long)lgrt_promise_value(s->vm, p),
                       (unsigned long long)s->calls[i].expected);
    }
    lgrt_ref_delete(s->vm, s->calls[i].promise);
  }
  lgrt_scope_close(s->vm, scope);
  for (unsigned i = 0; i < REFS; i++) lgrt_ref_delete(s->vm, s->refs[i]);
  lgrt_vm_close(s->vm);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  struct script s;
  memset(&s, 0, sizeof s);
  s.config = &configs[lg_fuzz_class_config(data, size, MAX_OPS) % 4];
  lg_fuzz_ops *ops = &s.ops;
  lg_fuzz_run_class_input(data, size, MAX_OPS, &ops, 1,
                          (lg_root){script_actor, &s, "main"}, NULL);
  return 0;
}

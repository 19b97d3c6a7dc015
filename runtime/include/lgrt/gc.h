/* SPDX-License-Identifier: MIT */
/* A small managed runtime: the shape of a JavaScript engine as a native addon sees it.
 *
 * - A mark-sweep heap. Objects are plain arrays, promises, or wrappers around a native object
 *   (an `lgrt_native`, the `struct S { String }` of a `#[napi] struct`) whose finalizer frees
 *   it when the wrapper is swept. Swept memory is really freed: a later read is a use after
 *   free that AddressSanitizer (or a page heap) sees.
 * - Roots: the handle scopes (handles live for one call), global slots (module-level
 *   variables), and persistent references with a count (count 0 is weak: it does not keep its
 *   object, and is cleared when the object is swept). A wrapper's own reference (the one
 *   `napi_wrap` makes) is shared: pinning the object counts it up, releasing counts it down.
 * - Async work: an async native function runs its body on a worker actor and completes on
 *   the main actor (the JS thread), where its promise is resolved. The binder (lgrt_call_async)
 *   decides what to pin for the worker from the function's declared argument kinds, the place
 *   where napi-rs#2571 lived.
 * - The main actor's event loop (lgrt_vm_run) collects on a timer (the seed's global.gc()
 *   every 100 ms), at every allocation and loop turn in GC-stress mode (V8's --gc-interval=1),
 *   and, under lg_sched,
 *   whenever the schedule says so: the collection is a decision.
 *
 * Only the main actor touches the heap. The worker reads the native objects the binder handed
 * it, and nothing else, unless a fault switch says otherwise. */
#ifndef LGRT_GC_H
#define LGRT_GC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lgrt_vm lgrt_vm;
typedef struct lgrt_obj lgrt_obj;
typedef struct lgrt_ref lgrt_ref;

/* A handle: a slot of the current handle scope. Valid until that scope closes; the close
 * empties every slot of the scope, so a handle of a closed scope names nothing (NULL). */
typedef lgrt_obj **lgrt_local;

/* The native object a wrapper owns (`struct S { _v1: String }`). */
typedef struct lgrt_native {
  char *buf;
  size_t len;
  uint64_t id;
} lgrt_native;

typedef struct lgrt_vm_config {
  uint64_t gc_interval_ns; /* the main loop's GC timer; 0: no timer */
  uint64_t work_ns;        /* how long an async body awaits before it reads its arguments */
  bool gc_stress;          /* collect at every allocation and every turn of the main loop
                              (also on with LGRT_GC_STRESS=1 in the environment) */
  bool gc_decisions;       /* under lg_sched, each turn asks the schedule whether to collect */
} lgrt_vm_config;

/* The seed's figures: global.gc() every 100 ms, an async body that sleeps 1 s. */
#define LGRT_VM_SEED_GC_INTERVAL_NS (100u * 1000000ull)
#define LGRT_VM_SEED_WORK_NS (1000u * 1000000ull)

/* Opens a VM on the calling actor (its main actor) and spawns its worker. */
int lgrt_vm_open(lgrt_vm **out, const lgrt_vm_config *cfg);
/* Waits for pending work, stops the worker, and frees every object (finalizers run). */
void lgrt_vm_close(lgrt_vm *vm);

/* ---- handles and scopes ---------------------------------------------------------------- */

typedef struct lgrt_scope {
  size_t mark;
} lgrt_scope;
lgrt_scope lgrt_scope_open(lgrt_vm *vm);
void lgrt_scope_close(lgrt_vm *vm, lgrt_scope s);

/* ---- objects ---------------------------------------------------------------------------- */

/* A wrapped native object holding a copy of `text` (the seed's `getS()`). */
lgrt_local lgrt_new_wrapped(lgrt_vm *vm, const char *text);
/* The native object a wrapper owns (napi_unwrap), or NULL if `h` is not a wrapper. */
lgrt_native *lgrt_unwrap(lgrt_vm *vm, lgrt_local h);
/* An array of `n` elements (each may be NULL). */
lgrt_local lgrt_new_array(lgrt_vm *vm, const lgrt_local *elems, size_t n);
size_t lgrt_array_length(lgrt_vm *vm, lgrt_local arr);
lgrt_local lgrt_array_get(lgrt_vm *vm, lgrt_local arr, size_t i); /* NULL: a hole */
void lgrt_array_push(lgrt_vm *vm, lgrt_local arr, lgrt_local elem);
void lgrt_array_pop(lgrt_vm *vm, lgrt_local arr);
void lgrt_array_set_length(lgrt_vm *vm, lgrt_local arr, size_t n); /* arr.length = n */

/* Module-level variables: slots that are roots while set. */
enum { LGRT_GLOBALS = 8 };
void lgrt_global_set(lgrt_vm *vm, unsigned slot, lgrt_local h); /* NULL clears */
lgrt_local lgrt_global_get(lgrt_vm *vm, unsigned slot);

/* ---- persistent references ------------------------------------------------------------ */

lgrt_ref *lgrt_ref_new(lgrt_vm *vm, lgrt_local h, uint32_t count);
lgrt_local lgrt_ref_get(lgrt_vm *vm, lgrt_ref *r); /* NULL once its object was collected */
void lgrt_ref_delete(lgrt_vm *vm, lgrt_ref *r);

/* ---- the collector -------------------------------------------------------------------- */

void lgrt_gc(lgrt_vm *vm);
typedef struct lgrt_gc_stats {
  uint64_t collections, swept, finalized, live;
} lgrt_gc_stats;
lgrt_gc_stats lgrt_gc_stats_get(lgrt_vm *vm);

/* ---- async native functions and the binder ------------------------------------------- */

typedef enum lgrt_arg_kind {
  LGRT_ARG_OWNED,        /* `S`: copied into the call; nothing to pin */
  LGRT_ARG_BORROWED,     /* `&S`: the worker reads the wrapper's native object */
  LGRT_ARG_VEC_BORROWED, /* `Vec<&S>`: an array; the worker reads each element's object */
} lgrt_arg_kind;

enum { LGRT_MAX_ARGS = 4 };

typedef struct lgrt_async_fn {
  const char *name;
  bool method; /* `&self`: the worker reads `this`'s native object */
  unsigned argc;
  lgrt_arg_kind kinds[LGRT_MAX_ARGS];
} lgrt_async_fn;

/* Calls an async native function: converts the arguments, pins what the binder decides, queues
 * the body for the worker, and returns the call's promise. The body awaits (work_ns), then
 * reads every native object it was given (the seed's `(*a[0]).clone()`) and returns the sum
 * of their lengths; the completion, on the main actor, releases the pins and resolves the
 * promise. NULL if an argument has the wrong shape (a TypeError). */
lgrt_local lgrt_call_async(lgrt_vm *vm, const lgrt_async_fn *fn, lgrt_local self,
                           const lgrt_local *args);

/* Promises. */
bool lgrt_promise_settled(lgrt_vm *vm, lgrt_local p);
uint64_t lgrt_promise_value(lgrt_vm *vm, lgrt_local p);

/* The main actor's event loop: runs completions (and collections) until every call made so
 * far has completed. */
void lgrt_vm_run(lgrt_vm *vm);
/* One turn of it without waiting: a collection if one is due (stress, decision), then the
 * completions already queued. Returns how many calls are still pending. */
size_t lgrt_vm_turn(lgrt_vm *vm);

#ifdef __cplusplus
}
#endif
#endif

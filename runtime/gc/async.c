/* SPDX-License-Identifier: MIT */
/* Async native functions: the binder, the worker, the completion and the main event loop. */
#include "gc_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lgrt/faults.h>
#include <lgrt/sys.h>
#include <lifeguard/oracle.h>

/* The reference ledger's name for a call's pin (lifeguard/oracle.h). */
static const char PIN_REF[] = "call-pin";
/* The references the binder creates and the completion deletes (lgrt__ref_new_held). */
static const char DEFERRED_REF[] = "call-deferred", PIN_OWN_REF[] = "call-pin-reference";

#define NOINLINE __attribute__((noinline))

typedef struct pin {
  lgrt_ref *ref;
  bool shared; /* a count on the wrapper's own reference (else a reference of the call's) */
} pin;

struct lgrt_call {
  const lgrt_async_fn *fn;
  /* what the body reads: borrowed native objects, and the call's own copies of owned ones */
  lgrt_native **reads;
  size_t nreads;
  lgrt_native **owned;
  size_t nowned;
  pin *pins;
  size_t npins;
  bool released; /* the pins were counted down already (by the worker) */
  lgrt_ref *promise;
  uint64_t result;
  lgrt_call *next;
};

/* The managed heap's allocations have no failure path: like V8's, they end the process when
 * memory runs out. So they are not failure-injection points (an injected failure could only
 * abort); the runtime's fallible allocations go through lgrt/sys.h. */
static void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size); /* lgrt-sys: infallible, aborts */
  if (!p) {
    fprintf(stderr, "lgrt: out of memory\n");
    abort();
  }
  return p;
}

/* ---- the body, on the worker ----------------------------------------------------------- */

/* gcc would otherwise pass s->buf and s->len in registers (IPA-SRA) and read them in the
 * caller; the read belongs here, in every build. */
#if defined(__GNUC__) && !defined(__clang__)
#define NOIPA __attribute__((noipa))
#else
#define NOIPA
#endif

/* `(*a[0]).clone()`: read the native object's String. */
static NOINLINE NOIPA uint64_t read_native(const lgrt_native *s) {
  size_t len = s->len;
  /* Not an injection point: Rust's clone cannot fail (it aborts when memory runs out), and
   * an injected failure here only turned the right result into 0, a symptom of nothing. It
   * fails for real when `len` was read from a freed object (a huge length): the 0 is then
   * the buggy run's silent symptom when no detector watches the heap. */
  char *copy = malloc(len + 1); /* lgrt-sys: Rust's clone, infallible */
  if (!copy) return 0;
  memcpy(copy, s->buf, len);
  copy[len] = 0;
  uint64_t n = strlen(copy);
  free(copy);
  return n;
}

static void release_pins(lgrt_call *c) {
  /* (bind-unpin-one-short, planted: the loop stops before the last pin, which then holds its
   * object for as long as the VM lives; nothing is freed early, only the ledger sees it) */
  size_t n = c->npins && lg_fault(LG_FAULT_BIND_UNPIN_ONE_SHORT) ? c->npins - 1 : c->npins;
  for (size_t i = 0; i < n; i++) {
    lg_ref_drop(c->pins[i].ref, PIN_REF);
    lgrt__ref_down(c->pins[i].ref);
  }
  c->released = true;
}

static NOINLINE void execute(lgrt_vm *vm, lgrt_call *c) {
  lg_sleep(vm->cfg.work_ns); /* the body's await: tokio::time::sleep */
  for (size_t i = 0; i < c->nreads; i++) c->result += read_native(c->reads[i]);
  if (lg_fault(LG_FAULT_BIND_RELEASE_OFF_MAIN)) {
    /* napi-rs PR #2499: the references are dropped where the future ends, on the worker.
     * Their counts are the main actor's; counted here, an update can be lost. */
    release_pins(c);
  }
}

static void worker_main(void *arg) {
  lgrt_vm *vm = arg;
  lg_mutex_lock(&vm->lock);
  for (;;) {
    while (!vm->jobs && !vm->stopping) lg_cond_wait(&vm->work_cond, &vm->lock);
    lgrt_call *c = vm->jobs;
    if (!c) break;
    vm->jobs = c->next;
    if (!vm->jobs) vm->jobs_tail = NULL;
    lg_mutex_unlock(&vm->lock);
    execute(vm, c);
    lg_mutex_lock(&vm->lock);
    c->next = NULL;
    if (vm->done_tail) vm->done_tail->next = c;
    else vm->done = c;
    vm->done_tail = c;
    lg_cond_signal(&vm->done_cond);
  }
  lg_mutex_unlock(&vm->lock);
}

/* ---- the binder, on the main actor ----------------------------------------------------- */

static void add_read(lgrt_call *c, lgrt_native *s, size_t cap) {
  if (c->nreads < cap) c->reads[c->nreads++] = s;
}

/* Pins `h` for the call: a wrapper by counting up its own reference (napi_reference_ref), an
 * array with a reference of the call's (napi_create_reference(.., 1, ..)). */
static void pin_obj(lgrt_vm *vm, lgrt_call *c, lgrt_local h) {
  lgrt_ref *wrap = lgrt__wrap_ref(*h);
  if (lg_fault(LG_FAULT_BIND_REF_WEAK)) {
    /* napi-rs#1575: the reference is created with count 0, so it is weak and pins nothing */
    c->pins[c->npins++] = (pin){lgrt_ref_new(vm, h, 0), false};
  } else if (wrap) {
    lgrt__ref_up(wrap);
    c->pins[c->npins++] = (pin){wrap, true};
  } else {
    c->pins[c->npins++] = (pin){lgrt__ref_new_held(vm, h, 1, PIN_OWN_REF), false};
  }
  /* the reference ledger: each pin is released once, when the call completes */
  lg_ref_take(vm, c->pins[c->npins - 1].ref, "persistent reference", PIN_REF);
}

static lgrt_native *copy_native(const lgrt_native *s) {
  lgrt_native *d = xcalloc(1, sizeof *d);
  d->len = s->len;
  d->buf = xcalloc(s->len + 1, 1);
  memcpy(d->buf, s->buf, s->len);
  d->id = s->id;
  return d;
}

static bool check_args(lgrt_vm *vm, const lgrt_async_fn *fn, lgrt_local self,
                       const lgrt_local *args, size_t *nreads) {
  *nreads = 0;
  if (fn->argc > LGRT_MAX_ARGS || (fn->argc && !args)) return false;
  if (fn->method) {
    if (!lgrt_unwrap(vm, self)) return false;
    ++*nreads;
  }
  for (unsigned i = 0; i < fn->argc; i++) {
    if (fn->kinds[i] == LGRT_ARG_VEC_BORROWED) {
      if (!args[i] || !*args[i] || (*args[i])->kind != OBJ_ARRAY) return false;
      lgrt_obj *a = *args[i];
      for (size_t k = 0; k < a->u.array.len; k++)
        if (!a->u.array.elems[k] || a->u.array.elems[k]->kind != OBJ_WRAPPED) return false;
      *nreads += a->u.array.len;
    } else {
      if (!lgrt_unwrap(vm, args[i])) return false;
      ++*nreads;
    }
  }
  return true;
}

lgrt_local lgrt_call_async(lgrt_vm *vm, const lgrt_async_fn *fn, lgrt_local self,
                           const lgrt_local *args) {
  size_t nreads;
  if (!fn || !check_args(vm, fn, self, args, &nreads)) return NULL; /* a TypeError */
  lgrt_call *c = xcalloc(1, sizeof *c);
  c->fn = fn;
  c->reads = xcalloc(nreads, sizeof *c->reads);
  c->owned = xcalloc(nreads, sizeof *c->owned);
  c->pins = xcalloc(nreads + fn->argc + 1, sizeof *c->pins);
  if (fn->method) {
    add_read(c, lgrt_unwrap(vm, self), nreads);
    /* napi-rs#1338: before PR #1339 an async method kept `&self` with no reference */
    if (!lg_fault(LG_FAULT_BIND_THIS_UNPINNED)) pin_obj(vm, c, self);
  }
  for (unsigned i = 0; i < fn->argc; i++) {
    switch (fn->kinds[i]) {
    case LGRT_ARG_OWNED: {
      lgrt_native *copy = copy_native(lgrt_unwrap(vm, args[i]));
      c->owned[c->nowned++] = copy;
      add_read(c, copy, nreads);
      break;
    }
    case LGRT_ARG_BORROWED:
      add_read(c, lgrt_unwrap(vm, args[i]), nreads);
      pin_obj(vm, c, args[i]);
      break;
    case LGRT_ARG_VEC_BORROWED: {
      lgrt_obj *a = *args[i];
      for (size_t k = 0; k < a->u.array.len; k++)
        add_read(c, a->u.array.elems[k]->u.wrapped.native, nreads);
      if (lg_fault(LG_FAULT_BIND_VEC_BORROW_UNPINNED)) {
        /* napi-rs#2571: `Vec<&S>` fell into the binder's plain-value branch: no reference at
         * all, yet the worker holds a raw pointer to every element's native object */
      } else if (lg_fault(LG_FAULT_BIND_VEC_PIN_ARRAY_ONLY)) {
        /* napi-rs PR #2589: the array is pinned; an element taken out of it is not */
        pin_obj(vm, c, args[i]);
      } else {
        /* pin what the worker reads: every element */
        for (size_t k = 0; k < a->u.array.len; k++) {
          lgrt_local e = lgrt__local(vm, a->u.array.elems[k]);
          pin_obj(vm, c, e);
        }
      }
      break;
    }
    }
  }
  lgrt_obj *p = lgrt__new_obj(vm, OBJ_PROMISE);
  lgrt_local ph = lgrt__local(vm, p);
  c->promise = lgrt__ref_new_held(vm, ph, 1, DEFERRED_REF); /* pending promises stay */
  lg_mutex_lock(&vm->lock);
  vm->pending++;
  if (vm->jobs_tail) vm->jobs_tail->next = c;
  else vm->jobs = c;
  vm->jobs_tail = c;
  lg_cond_signal(&vm->work_cond);
  lg_mutex_unlock(&vm->lock);
  return ph;
}

/* The completion, on the main actor: release the pins, resolve the promise. */
static NOINLINE void complete(lgrt_vm *vm, lgrt_call *c) {
  if (!c->released) release_pins(c);
  for (size_t i = 0; i < c->npins; i++)
    if (!c->pins[i].shared) lgrt_ref_delete(vm, c->pins[i].ref);
  lgrt_obj *p = c->promise->obj;
  if (p) {
    p->u.promise.settled = true;
    p->u.promise.value = c->result;
  }
  lgrt_ref_delete(vm, c->promise);
  for (size_t i = 0; i < c->nowned; i++) {
    free(c->owned[i]->buf);
    free(c->owned[i]);
  }
  free(c->owned);
  free(c->reads);
  free(c->pins);
  free(c);
  vm->pending--;
}

bool lgrt_promise_settled(lgrt_vm *vm, lgrt_local p) {
  (void)vm;
  return p && *p && (*p)->kind == OBJ_PROMISE && (*p)->u.promise.settled;
}

uint64_t lgrt_promise_value(lgrt_vm *vm, lgrt_local p) {
  return lgrt_promise_settled(vm, p) ? (*p)->u.promise.value : 0;
}

/* ---- the main event loop ---------------------------------------------------------------- */

static void collect_if_due(lgrt_vm *vm) {
  bool due = vm->cfg.gc_stress;
  if (vm->cfg.gc_interval_ns && lg_now() >= vm->next_gc_at) {
    due = true;
    vm->next_gc_at = lg_now() + vm->cfg.gc_interval_ns;
  }
  /* under lg_sched, whether the collector runs at this turn is the schedule's to say */
  if (!due && vm->cfg.gc_decisions && lg_sched_controlled()) due = lg_choose(2) == 1;
  if (due) lgrt_gc(vm);
}

size_t lgrt_vm_turn(lgrt_vm *vm) {
  collect_if_due(vm);
  lg_mutex_lock(&vm->lock);
  lgrt_call *list = vm->done;
  vm->done = vm->done_tail = NULL;
  lg_mutex_unlock(&vm->lock);
  while (list) {
    lgrt_call *next = list->next;
    complete(vm, list);
    list = next;
  }
  return vm->pending;
}

void lgrt_vm_run(lgrt_vm *vm) {
  while (lgrt_vm_turn(vm) > 0) {
    lg_mutex_lock(&vm->lock);
    while (!vm->done) {
      if (!vm->cfg.gc_interval_ns) {
        lg_cond_wait(&vm->done_cond, &vm->lock);
        continue;
      }
      uint64_t now = lg_now();
      if (now >= vm->next_gc_at) break; /* the timer is due: a turn collects */
      lg_cond_timedwait(&vm->done_cond, &vm->lock, vm->next_gc_at - now);
    }
    lg_mutex_unlock(&vm->lock);
  }
}

/* ---- open and close ----------------------------------------------------------------------- */

int lgrt_vm_open(lgrt_vm **out, const lgrt_vm_config *cfg) {
  lgrt_vm *vm = lgrt_calloc(1, sizeof *vm);
  if (!vm) return -1;
  vm->cfg = *cfg;
  /* LGRT_GC_STRESS=1 turns GC-stress mode on for any program, as an engine flag would */
  const char *stress = getenv("LGRT_GC_STRESS");
  if (stress && *stress && strcmp(stress, "0") != 0) vm->cfg.gc_stress = true;
  lgrt__heap_init(vm);
  lg_mutex_init(&vm->lock);
  lg_cond_init(&vm->work_cond);
  lg_cond_init(&vm->done_cond);
  vm->next_gc_at = lg_now() + cfg->gc_interval_ns;
  vm->worker = lgrt_spawn(worker_main, vm, "vm-worker");
  if (!vm->worker) { /* a VM without its worker used to be returned, and joined at close */
    lg_cond_destroy(&vm->work_cond);
    lg_cond_destroy(&vm->done_cond);
    lg_mutex_destroy(&vm->lock);
    free(vm);
    return -1;
  }
  *out = vm;
  return 0;
}

void lgrt_vm_close(lgrt_vm *vm) {
  if (!vm) return;
  lgrt_vm_run(vm);
  lg_mutex_lock(&vm->lock);
  vm->stopping = true;
  lg_cond_broadcast(&vm->work_cond);
  lg_mutex_unlock(&vm->lock);
  lg_join(vm->worker);
  /* every call completed: each of their pins was released */
  lg_ref_check(vm, "the VM closed");
  lgrt__heap_free(vm);
  lg_cond_destroy(&vm->work_cond);
  lg_cond_destroy(&vm->done_cond);
  lg_mutex_destroy(&vm->lock);
  free(vm);
}

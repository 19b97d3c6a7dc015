/* SPDX-License-Identifier: MIT */
/* The managed heap: objects, handle scopes, globals, persistent references, mark-sweep. */
#include "gc_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lgrt/sys.h>

#include <lifeguard/oracle.h>

#define NOINLINE __attribute__((noinline))

/* The managed heap's allocations have no failure path: like V8's, they end the process when
 * memory runs out. So they are not failure-injection points (an injected failure could only
 * abort); the runtime's fallible allocations go through lgrt/sys.h. */
static void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n, size); /* lgrt-sys: infallible, aborts */
  if (!p) {
    fprintf(stderr, "lgrt: out of memory\n");
    abort();
  }
  return p;
}

static void *xrealloc(void *p, size_t size) {
  p = realloc(p, size); /* lgrt-sys: infallible, aborts */
  if (!p) {
    fprintf(stderr, "lgrt: out of memory\n");
    abort();
  }
  return p;
}

void lgrt__heap_init(lgrt_vm *vm) {
  vm->refs.next = vm->refs.prev = &vm->refs;
}

/* ---- handles --------------------------------------------------------------------------- */

/* Handles are indices into a growing stack, so a handle is stored as a pointer to a slot
 * that does not move: slots come in fixed chunks. */
enum { CHUNK = 64 };

lgrt_local lgrt__local(lgrt_vm *vm, lgrt_obj *o) {
  if (vm->nhandles == vm->caphandles) {
    /* a new chunk; the old ones stay where they are */
    size_t chunks = vm->caphandles / CHUNK + 1;
    vm->handles = xrealloc(vm->handles, chunks * sizeof *vm->handles);
    vm->handles[chunks - 1] = xcalloc(CHUNK, sizeof(lgrt_obj *));
    vm->caphandles += CHUNK;
  }
  lgrt_obj **chunk = vm->handles[vm->nhandles / CHUNK];
  lgrt_obj **slot = &chunk[vm->nhandles % CHUNK];
  *slot = o;
  vm->nhandles++;
  return slot;
}

static lgrt_obj *handle_at(lgrt_vm *vm, size_t i) {
  return (vm->handles[i / CHUNK])[i % CHUNK];
}

lgrt_scope lgrt_scope_open(lgrt_vm *vm) {
  return (lgrt_scope){vm->nhandles};
}

void lgrt_scope_close(lgrt_vm *vm, lgrt_scope s) {
  for (size_t i = s.mark; i < vm->nhandles; i++)
    (vm->handles[i / CHUNK])[i % CHUNK] = NULL;
  vm->nhandles = s.mark;
}

/* ---- objects --------------------------------------------------------------------------- */

lgrt_obj *lgrt__new_obj(lgrt_vm *vm, obj_kind kind) {
  /* GC stress (V8's --gc-interval=1): every allocation collects first. Callers keep what
   * they still need in handles, as an engine's callers must. */
  if (vm->cfg.gc_stress) lgrt_gc(vm);
  lgrt_obj *o = xcalloc(1, sizeof *o);
  o->kind = kind;
  o->next_all = vm->all;
  vm->all = o;
  vm->stats.live++;
  return o;
}

static lgrt_obj *obj_of(lgrt_local h) {
  return h ? *h : NULL;
}

lgrt_local lgrt_new_wrapped(lgrt_vm *vm, const char *text) {
  /* Box::new(S { .. }): allocated here, so reports name the constructor */
  lgrt_native *s = calloc(1, sizeof *s); /* lgrt-sys: infallible, aborts */
  size_t len = strlen(text);
  char *buf = s ? calloc(len + 1, 1) : NULL; /* lgrt-sys: infallible, aborts */
  if (!buf) {
    fprintf(stderr, "lgrt: out of memory\n");
    abort();
  }
  s->len = len;
  s->buf = buf;
  memcpy(s->buf, text, s->len);
  s->id = ++vm->next_id;
  lgrt_obj *o = lgrt__new_obj(vm, OBJ_WRAPPED);
  o->u.wrapped.native = s;
  lgrt_local h = lgrt__local(vm, o);
  /* napi_wrap's own reference: weak, shared by every later pin of this object */
  o->u.wrapped.wrap_ref = lgrt_ref_new(vm, h, 0);
  return h;
}

lgrt_native *lgrt_unwrap(lgrt_vm *vm, lgrt_local h) {
  (void)vm;
  lgrt_obj *o = obj_of(h);
  return o && o->kind == OBJ_WRAPPED ? o->u.wrapped.native : NULL;
}

lgrt_ref *lgrt__wrap_ref(lgrt_obj *o) {
  return o->kind == OBJ_WRAPPED ? o->u.wrapped.wrap_ref : NULL;
}

lgrt_local lgrt_new_array(lgrt_vm *vm, const lgrt_local *elems, size_t n) {
  lgrt_obj *o = lgrt__new_obj(vm, OBJ_ARRAY);
  o->u.array.cap = n ? n : 4;
  o->u.array.elems = xcalloc(o->u.array.cap, sizeof(lgrt_obj *));
  for (size_t i = 0; i < n; i++) o->u.array.elems[i] = obj_of(elems[i]);
  o->u.array.len = n;
  return lgrt__local(vm, o);
}

static lgrt_obj *array_of(lgrt_local h) {
  lgrt_obj *o = obj_of(h);
  return o && o->kind == OBJ_ARRAY ? o : NULL;
}

size_t lgrt_array_length(lgrt_vm *vm, lgrt_local arr) {
  (void)vm;
  lgrt_obj *a = array_of(arr);
  return a ? a->u.array.len : 0;
}

lgrt_local lgrt_array_get(lgrt_vm *vm, lgrt_local arr, size_t i) {
  lgrt_obj *a = array_of(arr);
  if (!a || i >= a->u.array.len || !a->u.array.elems[i]) return NULL;
  return lgrt__local(vm, a->u.array.elems[i]);
}

void lgrt_array_push(lgrt_vm *vm, lgrt_local arr, lgrt_local elem) {
  (void)vm;
  lgrt_obj *a = array_of(arr);
  if (!a) return;
  if (a->u.array.len == a->u.array.cap) {
    a->u.array.cap *= 2;
    a->u.array.elems = xrealloc(a->u.array.elems, a->u.array.cap * sizeof(lgrt_obj *));
  }
  a->u.array.elems[a->u.array.len++] = obj_of(elem);
}

void lgrt_array_pop(lgrt_vm *vm, lgrt_local arr) {
  (void)vm;
  lgrt_obj *a = array_of(arr);
  if (a && a->u.array.len) a->u.array.elems[--a->u.array.len] = NULL;
}

void lgrt_array_set_length(lgrt_vm *vm, lgrt_local arr, size_t n) {
  lgrt_obj *a = array_of(arr);
  if (!a) return;
  while (a->u.array.len > n) lgrt_array_pop(vm, arr);
  while (a->u.array.len < n) lgrt_array_push(vm, arr, NULL);
}

void lgrt_global_set(lgrt_vm *vm, unsigned slot, lgrt_local h) {
  if (slot < LGRT_GLOBALS) vm->globals[slot] = obj_of(h);
}

lgrt_local lgrt_global_get(lgrt_vm *vm, unsigned slot) {
  if (slot >= LGRT_GLOBALS || !vm->globals[slot]) return NULL;
  return lgrt__local(vm, vm->globals[slot]);
}

/* ---- references ------------------------------------------------------------------------ */

lgrt_ref *lgrt_ref_new(lgrt_vm *vm, lgrt_local h, uint32_t count) {
  lgrt_ref *r = xcalloc(1, sizeof *r);
  r->obj = obj_of(h);
  r->count = count;
  r->next = vm->refs.next;
  r->prev = &vm->refs;
  vm->refs.next->prev = r;
  vm->refs.next = r;
  return r;
}

lgrt_local lgrt_ref_get(lgrt_vm *vm, lgrt_ref *r) {
  return r && r->obj ? lgrt__local(vm, r->obj) : NULL;
}

lgrt_ref *lgrt__ref_new_held(lgrt_vm *vm, lgrt_local h, uint32_t count, const char *holder) {
  lgrt_ref *r = lgrt_ref_new(vm, h, count);
  r->held_by = holder;
  lg_ref_take(vm, r, "persistent reference", holder);
  return r;
}

static void ref_unlink(lgrt_ref *r) {
  if (r->held_by) lg_ref_drop(r, r->held_by); /* its holder deleted it */
  r->prev->next = r->next;
  r->next->prev = r->prev;
  lg_ref_gone(r);
  free(r);
}

void lgrt_ref_delete(lgrt_vm *vm, lgrt_ref *r) {
  (void)vm;
  if (!r) return;
  /* a wrapper's own reference is the VM's: it stays (cleared once the wrapper is swept) until
   * the VM closes, so a pin taken on it never points at freed memory */
  if (r->obj && r->obj->kind == OBJ_WRAPPED && r->obj->u.wrapped.wrap_ref == r) return;
  ref_unlink(r);
}

/* napi_reference_ref / napi_reference_unref: a read, then a write, each a scheduling point.
 * On the main actor nothing else counts, so nothing is lost. */
void lgrt__ref_up(lgrt_ref *r) {
  uint64_t c = lg_atomic_load(&r->count);
  lg_atomic_store(&r->count, c + 1);
}

void lgrt__ref_down(lgrt_ref *r) {
  uint64_t c = lg_atomic_load(&r->count);
  if (c) lg_atomic_store(&r->count, c - 1);
}

/* ---- the collector --------------------------------------------------------------------- */

static void mark(lgrt_obj *root) {
  if (!root || root->marked) return;
  /* iterative: arrays may nest deeply */
  size_t cap = 64, n = 0;
  lgrt_obj **stack = xcalloc(cap, sizeof *stack);
  root->marked = true;
  stack[n++] = root;
  while (n) {
    lgrt_obj *o = stack[--n];
    if (o->kind != OBJ_ARRAY) continue;
    for (size_t i = 0; i < o->u.array.len; i++) {
      lgrt_obj *e = o->u.array.elems[i];
      if (!e || e->marked) continue;
      e->marked = true;
      if (n == cap) stack = xrealloc(stack, (cap *= 2) * sizeof *stack);
      stack[n++] = e;
    }
  }
  free(stack);
}

/* The wrap finalizer: drops the native object (Box<S>: its String, then itself). */
static NOINLINE void native_finalize(lgrt_native *s) {
  free(s->buf);
  free(s);
}

static NOINLINE void sweep(lgrt_vm *vm) {
  /* weak references to what dies are cleared first */
  for (lgrt_ref *r = vm->refs.next; r != &vm->refs; r = r->next)
    if (r->obj && !r->obj->marked) r->obj = NULL;
  lgrt_obj **link = &vm->all;
  while (*link) {
    lgrt_obj *o = *link;
    if (o->marked) {
      o->marked = false;
      link = &o->next_all;
      continue;
    }
    *link = o->next_all;
    if (o->kind == OBJ_WRAPPED) {
      native_finalize(o->u.wrapped.native);
      vm->stats.finalized++;
    } else if (o->kind == OBJ_ARRAY) {
      free(o->u.array.elems);
    }
    free(o);
    vm->stats.swept++;
    vm->stats.live--;
  }
}

void lgrt_gc(lgrt_vm *vm) {
  vm->stats.collections++;
  for (size_t i = 0; i < vm->nhandles; i++) mark(handle_at(vm, i));
  for (unsigned i = 0; i < LGRT_GLOBALS; i++) mark(vm->globals[i]);
  for (lgrt_ref *r = vm->refs.next; r != &vm->refs; r = r->next)
    if (r->obj && __atomic_load_n(&r->count, __ATOMIC_RELAXED) > 0) mark(r->obj);
  sweep(vm);
}

lgrt_gc_stats lgrt_gc_stats_get(lgrt_vm *vm) {
  return vm->stats;
}

/* At close: everything goes, finalizers included. */
void lgrt__heap_free(lgrt_vm *vm) {
  lgrt_scope_close(vm, (lgrt_scope){0});
  memset(vm->globals, 0, sizeof vm->globals);
  for (lgrt_ref *r = vm->refs.next; r != &vm->refs; r = r->next) r->count = 0;
  sweep(vm);
  /* what is left goes with the VM: a held one still here was reported when the VM closed */
  while (vm->refs.next != &vm->refs) {
    vm->refs.next->held_by = NULL;
    ref_unlink(vm->refs.next);
  }
  for (size_t i = 0; i < vm->caphandles / CHUNK; i++) free(vm->handles[i]);
  free(vm->handles);
}

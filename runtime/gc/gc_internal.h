/* SPDX-License-Identifier: MIT */
/* The managed runtime's insides, shared by the heap (heap.c) and async work (async.c). */
#ifndef LGRT_GC_INTERNAL_H
#define LGRT_GC_INTERNAL_H

#include <lgrt/gc.h>
#include <lifeguard/sched.h>

typedef enum obj_kind { OBJ_ARRAY, OBJ_WRAPPED, OBJ_PROMISE } obj_kind;

struct lgrt_obj {
  obj_kind kind;
  bool marked;
  lgrt_obj *next_all;  /* every object, for the sweep */
  union {
    struct { lgrt_obj **elems; size_t len, cap; } array;
    struct { lgrt_native *native; lgrt_ref *wrap_ref; } wrapped;
    struct { bool settled; uint64_t value; } promise;
  } u;
};

/* A persistent reference. `count` is read and written as two scheduling points (a plain
 * read-modify-write, not an atomic one): the runtime counts on the main actor only, and a
 * count changed anywhere else can lose an update, which lg_sched can show. */
struct lgrt_ref {
  lgrt_obj *obj;       /* NULL once collected */
  uint64_t count;      /* 0 = weak */
  lgrt_ref *prev, *next;
  const char *held_by; /* the runtime's own reference (lgrt__ref_new_held): its holder */
};

typedef struct lgrt_call lgrt_call;

struct lgrt_vm {
  lgrt_vm_config cfg;
  /* the heap */
  lgrt_obj *all;
  lgrt_obj ***handles; /* chunks of CHUNK slots: a slot never moves */
  size_t nhandles, caphandles;
  lgrt_obj *globals[LGRT_GLOBALS];
  lgrt_ref refs; /* list head */
  lgrt_gc_stats stats;
  uint64_t next_id;
  uint64_t next_gc_at;
  /* async work: the job queue (main -> worker) and the completion queue (worker -> main) */
  lg_mutex lock;
  lg_cond work_cond, done_cond;
  lgrt_call *jobs, *jobs_tail, *done, *done_tail;
  size_t pending;
  bool stopping;
  lg_actor *worker;
};

/* heap.c */
lgrt_local lgrt__local(lgrt_vm *vm, lgrt_obj *o);
lgrt_obj *lgrt__new_obj(lgrt_vm *vm, obj_kind kind);
void lgrt__ref_up(lgrt_ref *r);
void lgrt__ref_down(lgrt_ref *r);
lgrt_ref *lgrt__wrap_ref(lgrt_obj *o);
/* A reference the runtime itself creates for one holder (a call's deferred, a call's pin of
 * an array): in the reference ledger from its creation until lgrt_ref_delete, so one that
 * is never deleted is a reference-leak when the VM closes. */
lgrt_ref *lgrt__ref_new_held(lgrt_vm *vm, lgrt_local h, uint32_t count, const char *holder);
void lgrt__heap_init(lgrt_vm *vm);
void lgrt__heap_free(lgrt_vm *vm);

#endif

/* SPDX-License-Identifier: MIT */
/* Fibers: stacks of their own, switched by hand on one thread. Part of the sched layer.
 * Internal to the harness. */
#ifndef LIFEGUARD_FIBER_H
#define LIFEGUARD_FIBER_H

#if defined(LG_LAYER) && !defined(LG_LAYER_SEES_SCHED)
#error "a sched-layer header, in a layer not above it (harness/CMakeLists.txt)"
#endif

#include <stdbool.h>
#include <stddef.h>

#include "internal.h"

/* A context: a fiber, or the thread's own stack. */
typedef struct lg__ctx {
  void *sp;          /* saved stack pointer while switched out */
  void *stack_lo;    /* lowest usable address of the stack (NULL for the thread's own) */
  size_t stack_size;
  void *fake_stack;  /* ASan's fake stack of this context while switched out */
  void *mapping;     /* the stack mapping incl. guard page (fibers only) */
  size_t mapping_size;
} lg__ctx;

typedef void (*lg__fiber_fn)(void *arg);

/* Prepares `c` as a fiber that will run fn(arg) when first switched to. Its stack comes from
 * a pool of `stack_size`-byte stacks with a guard page below each. Returns 0 or -1. fn must
 * never return: it ends with lg__fiber_switch(c, other, true). */
LG_HIDDEN int lg__fiber_make(lg__ctx *c, size_t stack_size, lg__fiber_fn fn, void *arg);

/* Describes the calling thread's own stack as a context (to switch away from and back to). */
LG_HIDDEN void lg__fiber_thread_ctx(lg__ctx *c);

/* Gives a fiber's stack back to the pool. `c` must not be running. */
LG_HIDDEN void lg__fiber_release(lg__ctx *c);

/* Switches from `from` (the running context) to `to`. `from_finished` says `from` will
 * never run again (ASan then drops its fake stack). Returns when something switches back. */
LG_HIDDEN void lg__fiber_switch(lg__ctx *from, lg__ctx *to, bool from_finished);

/* To be called first thing in a fiber's entry function. */
LG_HIDDEN void lg__fiber_entered(void);

#endif

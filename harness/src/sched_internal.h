/* SPDX-License-Identifier: MIT */
/* The sched layer's internals that a higher layer uses (modcheck's census asks which actors
 * live). Not part of the public API. */
#ifndef LIFEGUARD_SCHED_INTERNAL_H
#define LIFEGUARD_SCHED_INTERNAL_H

#if defined(LG_LAYER) && !defined(LG_LAYER_SEES_SCHED)
#error "a sched-layer header, in a layer not above it (harness/CMakeLists.txt)"
/* For the check layer: where lg_inject_at and lg_inject_count go outside an lg_sched
 * execution (in a check's forked execution, to its thread control). NULL: nowhere. */
typedef uint32_t (*lg__inject_fn)(uint32_t nfail, uint16_t site);
typedef uint32_t (*lg__inject_count_fn)(void);
LG_HIDDEN void lg__sched_set_inject_hooks(lg__inject_fn inject, lg__inject_count_fn count);

#endif

#include "internal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A live actor of this thread's controlled execution, for the module-unload census. */
typedef struct lg__actor_view {
  uint32_t id;
  const char *name;
  uintptr_t fn;           /* its entry function */
  bool running;           /* the actor asking */
  bool started;           /* it has run (else only `fn` says where it will) */
  void *frame;            /* the frame it is suspended in (NULL if running or not started) */
  uintptr_t stack_lo, stack_hi;
} lg__actor_view;

/* Fills `out` with the live actors of the running controlled execution; returns the count
 * (0 when none runs on this thread). */
LG_HIDDEN size_t lg__sched_actors(lg__actor_view *out, size_t max);

/* For the check layer: where lg_inject_at and lg_inject_count go outside an lg_sched
 * execution (in a check's forked execution, to its thread control). NULL: nowhere. */
typedef uint32_t (*lg__inject_fn)(uint32_t nfail, uint16_t site);
typedef uint32_t (*lg__inject_count_fn)(void);
LG_HIDDEN void lg__sched_set_inject_hooks(lg__inject_fn inject, lg__inject_count_fn count);

#endif

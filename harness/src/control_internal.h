/* SPDX-License-Identifier: MIT */
/* The control layer's internals (control.c): thread control under `explore`. Not part of the
 * public API. */
#ifndef LIFEGUARD_CONTROL_INTERNAL_H
#define LIFEGUARD_CONTROL_INTERNAL_H

#if defined(LG_LAYER) && !defined(LG_LAYER_SEES_CONTROL)
#error "a control-layer header, in a layer not above it (harness/CMakeLists.txt)"
#endif

#include "internal.h"

#include <lifeguard/source.h>

/* Starts thread control when the options say explore=1 (the preload library's start-up,
 * before the program's constructors): the calling thread becomes actor 0. Exits with status
 * 2 and one line on a bad explore option. A no-op otherwise. */
LG_HIDDEN void lg__control_start(void);

/* For the access layer (access.c), the scheduling points at memory accesses. Site numbers
 * 240..249 are theirs. */
/* The id of the calling thread's actor when it is a controlled actor running the program's
 * code (explore on, an actor, not inside the harness), else -1. */
LG_HIDDEN int lg__control_actor(void);
/* Whether an actor other than the calling one is runnable: a scheduling point now could let
 * it run (without one, a point decides nothing). Call only when lg__control_actor() >= 0. */
LG_HIDDEN bool lg__control_others(void);
/* A scheduling point of the calling actor (lg__control_actor() >= 0) at `site`; `frame` is
 * where the program's code called from (a report's stack starts there). Returns when the
 * actor runs again. */
LG_HIDDEN void lg__control_point(unsigned site, void *frame);
/* Blocks the calling actor on `obj` until lg__control_wake(obj) or until `ns` of virtual time
 * have passed (so it never deadlocks a run), as a lock's waiter blocks. */
LG_HIDDEN void lg__control_wait(const void *obj, uint64_t ns, void *frame);
/* Makes the actors blocked on `obj` by lg__control_wait runnable. */
LG_HIDDEN void lg__control_wake(const void *obj);

/* Starts thread control for one execution of lg_check (check.c, in the child it forked):
 * the calling thread becomes actor 0, `src` decides (begin() already called for this
 * execution), `budget` scheduling points before a livelock report, up to `inject_max`
 * injected failures (0: none): pipe and pipe2 are injection points then, and so is
 * lg__control_inject. */
LG_HIDDEN void lg__control_start_check(lg_source *src, uint64_t budget, uint32_t inject_max);
/* A failure-injection decision of the calling actor, as lg_inject_at makes in lg_sched: 0
 * (make the real call) when it is not a controlled actor or the bound is spent. */
LG_HIDDEN uint32_t lg__control_inject(uint32_t nfail, uint16_t site);
/* The failures injected so far in this execution. */
LG_HIDDEN uint32_t lg__control_injected(void);

#endif

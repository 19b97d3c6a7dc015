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

/* Starts thread control for one execution of lg_check (check.c, in the child it forked):
 * the calling thread becomes actor 0, `src` decides (begin() already called for this
 * execution), `budget` scheduling points before a livelock report. */
LG_HIDDEN void lg__control_start_check(lg_source *src, uint64_t budget);

#endif

/* SPDX-License-Identifier: MIT */
/* The options of the process: a struct made from options.inc, the one table of them (see
 * there). Part of the common layer. Not part of the public API (that is
 * lifeguard/options.h). */
#ifndef LIFEGUARD_OPTIONS_INTERNAL_H
#define LIFEGUARD_OPTIONS_INTERNAL_H

#if defined(LG_LAYER) && !defined(LG_LAYER_SEES_COMMON)
#error "a common-layer header, in a layer not above it (harness/CMakeLists.txt)"
#endif

#include <stdbool.h>


#ifndef LG_HIDDEN
#define LG_HIDDEN __attribute__((visibility("hidden")))
#endif

/* The most frames a stack keeps (stack_depth's bound; the stack layer's LG_STACK_MAX is
 * checked against it in stack_internal.h). */
#define LG_OPTIONS_STACK_DEPTH_MAX 64

typedef struct lg__options {
#define LG_OPTION_BOOL(name, def, meaning) bool name;
#define LG_OPTION_INT(name, def, lo, hi, meaning) int name;
#define LG_OPTION_POW2(name, def, lo, hi, meaning) int name;
#define LG_OPTION_U64(name, def, meaning) unsigned long long name;
#define LG_OPTION_STR(name, cap, meaning) char name[cap];
#include "options.inc"
#undef LG_OPTION_BOOL
#undef LG_OPTION_INT
#undef LG_OPTION_POW2
#undef LG_OPTION_U64
#undef LG_OPTION_STR
} lg__options;

/* The process's options, parsed once on first use after the C library started (and at
 * start-up, constructor 102). Exits with status 2 and a one-line message on a malformed
 * LIFEGUARD_OPTIONS; with help=1 prints every option and exits 0. */
LG_HIDDEN const lg__options *lg__opts(void);

#endif

/* SPDX-License-Identifier: MIT */
/* The stack layer's internals (stack.c, thread.c): the depot, the walkers, the symbolizer,
 * and each thread's stack bounds. Above the common layer; includes nothing higher. Not part
 * of the public API. */
#ifndef LIFEGUARD_STACK_INTERNAL_H
#define LIFEGUARD_STACK_INTERNAL_H

#if defined(LG_LAYER) && !defined(LG_LAYER_SEES_STACK)
#error "a stack-layer header, in a layer not above it (harness/CMakeLists.txt)"
#endif

#include "internal.h"

#include <lifeguard/stack.h>
#include <pthread.h>

_Static_assert(LG_STACK_MAX == LG_OPTIONS_STACK_DEPTH_MAX,
               "the stack_depth option's bound is the depot's (options.h)");

/* Stores given pcs in the depot. */
LG_HIDDEN lg_stack_id lg__stack_put(const uintptr_t *pcs, size_t n);

/* The running thread's stack above the frame `fp` (its return address first), as
 * lg_stack_capture takes it. */
LG_HIDDEN size_t lg__stack_walk(uintptr_t fp, uintptr_t *pcs, size_t max);

/* lg_symbolize, also saying how many frames (inlined ones included) each pc gave in `counts`
 * (n entries): a report symbolizes all its stacks in one symbolizer run. It allocates
 * nothing and takes no lock a faulting thread could hold: its memory is `scratch`, of at
 * least lg__symbolize_scratch_size(n) bytes. */
LG_HIDDEN size_t lg__symbolize_each(const uintptr_t *pcs, size_t n, lg_frame *out, size_t max,
                                    size_t *counts, void *scratch, size_t scratch_cap);
LG_HIDDEN size_t lg__symbolize_scratch_size(size_t n);

/* Copies src[0, len) into dst as a string, cut to fit its capacity. */
LG_HIDDEN void lg__copy_field(char *dst, size_t cap, const char *src, size_t len);

/* Parses a frame's location s[0, len), "file:line:col" or "file:line" (the file may itself
 * hold ':'), into f's file, line and column. Without any ':' the whole is the file and it
 * returns false. */
LG_HIDDEN bool lg__parse_location(const char *s, size_t len, lg_frame *f);

/* The module holding `pc` (loaded, or unloaded as modcheck saw it): its path and load bias.
 * Lock-free and allocation-free (_dl_find_object): for a report's first, raw lines. */
LG_HIDDEN bool lg__module_of(uintptr_t pc, const char **path, uintptr_t *bias);

/* Frame pointers only, never the unwind tables (which may allocate): for the allocator's own
 * per-call decisions. */
LG_HIDDEN size_t lg__stack_walk_fp(uintptr_t fp, uintptr_t *pcs, size_t max);

/* The running thread's stack at the frame that signal context `uc` (the handler's own third
 * argument, not a copy) interrupted: the interrupted pc + 1 first, then return addresses,
 * from the unwind tables (async-signal-safe; the last frame may be a return address into
 * unreadable code, such as an unloaded module). */
LG_HIDDEN size_t lg__stack_signal(const void *uc, uintptr_t *pcs, size_t max);

/* Captures the stack of a suspended context (a fiber) from a frame of it, within its stack
 * [lo, hi) (frame pointers only: the unwind tables only describe the running stack). */
LG_HIDDEN lg_stack_id lg__stack_capture_suspended(void *frame, uintptr_t lo, uintptr_t hi);

/* Tells the stack unwinder the bounds of the stack now running (0, 0 = the thread's own). */
LG_HIDDEN void lg__stack_set_bounds(uintptr_t lo, uintptr_t hi);

/* thread.c: the running thread's stack bounds from /proc/self/maps (no lock, no malloc),
 * handed to lg__stack_set_bounds. */
LG_HIDDEN void lg__thread_find_bounds(void);

/* thread.c: starts a thread as pthread_create does (its stack bounds taken first). */
LG_HIDDEN int lg__thread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *),
                                void *arg);

/* A higher layer's pthread_create (control.c under `explore`); `caller` is the return
 * address of the program's call. It starts the thread with lg__thread_create. */
typedef int (*lg__thread_create_hook)(pthread_t *t, const pthread_attr_t *attr,
                                      void *(*fn)(void *), void *arg, void *caller);
LG_HIDDEN void lg__thread_set_create_hook(lg__thread_create_hook hook);

/* Names code that is no longer mapped: if `pc` lies in a module that was unloaded, gives its
 * path and load bias, and (when `fn` is not NULL) the name of the function there. modcheck,
 * a higher layer, registers one when it first sees a module loaded; the symbolizer asks it
 * about a pc no loaded module holds. */
typedef bool (*lg__unloaded_resolver)(uintptr_t pc, const char **path, uintptr_t *bias,
                                      char *fn, size_t fncap);
LG_HIDDEN void lg__stack_set_unloaded_resolver(lg__unloaded_resolver fn);

#endif

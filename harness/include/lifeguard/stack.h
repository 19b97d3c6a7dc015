/* SPDX-License-Identifier: MIT */
/* Stacks: cheap capture into a deduplicated depot, symbolization on demand. */
#ifndef LIFEGUARD_STACK_H
#define LIFEGUARD_STACK_H

#if defined(LG_LAYER) && !defined(LG_LAYER_SEES_STACK)
#error "a stack-layer header, in a layer not above it (harness/CMakeLists.txt)"
#endif

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LG_STACK_MAX 64

/* A stack in the depot; 0 means "no stack". Ids are stable for the life of the process. */
typedef uint32_t lg_stack_id;

/* Captures the stack of the function whose frame is `frame` (pass
 * __builtin_frame_address(0) from an interceptor): the first pc is that function's return
 * address, i.e. the call site in its caller. Returns 0 if nothing could be captured. */
lg_stack_id lg_stack_capture(void *frame);

/* The pcs (return addresses) of a stored stack; returns their count, 0 for an unknown id. */
size_t lg_stack_pcs(lg_stack_id id, const uintptr_t **pcs);

/* One symbolized frame. Inlined calls expand one pc into several frames, innermost first. */
typedef struct lg_frame {
  uintptr_t pc;          /* the address symbolized (return address - 1) */
  char module[256];      /* path of the object containing pc ("" if none) */
  uintptr_t offset;      /* pc relative to the module's load bias */
  char function[128];    /* "" if unknown */
  char file[256];        /* "" if unknown */
  int line, column;      /* 0 if unknown */
} lg_frame;

/* Symbolizes `n` pcs into at most `max` frames (llvm-symbolizer when it is there, else the
 * dynamic symbol table). Returns the number of frames written. */
size_t lg_symbolize(const uintptr_t *pcs, size_t n, lg_frame *out, size_t max);

#ifdef __cplusplus
}
#endif
#endif

/* SPDX-License-Identifier: MIT */
/* pageheap: the guard-page allocator of builds without AddressSanitizer (see docs/detectors.md). */
#ifndef LIFEGUARD_PAGEHEAP_H
#define LIFEGUARD_PAGEHEAP_H

#if defined(LG_LAYER) && !defined(LG_LAYER_SEES_PAGEHEAP)
#error "a pageheap-layer header, in a layer not above it (harness/CMakeLists.txt)"
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lg_pageheap_stats {
  bool active;               /* compiled in, enabled, and started */
  uint64_t live_blocks;      /* guarded blocks not freed */
  uint64_t live_bytes;       /* their requested sizes */
  uint64_t allocs, frees;    /* guarded blocks handed out and freed, ever */
  uint64_t quarantined_bytes;/* address space of freed blocks kept inaccessible */
  uint64_t unguarded_allocs; /* blocks glibc served because the mapping budget was reached */
  uint64_t live_limit;       /* guarded blocks allowed at once (vm.max_map_count / 4) */
  uint64_t seed;             /* the sampling seed (pageheap_seed, or drawn at start; 0: none) */
} lg_pageheap_stats;

lg_pageheap_stats lg_pageheap_stats_get(void);

/* Whether `p` is the start of a live block the page heap guards (false for glibc's blocks,
 * for unsampled ones and where the page heap is not compiled in). */
bool lg_pageheap_guarded(const void *p);

#ifdef __cplusplus
}
#endif
#endif

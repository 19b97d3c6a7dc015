/* SPDX-License-Identifier: MIT */
/* Fiber stacks and switching, with AddressSanitizer's fiber annotations. */
#define _GNU_SOURCE
#include "fiber.h"
#include "stack_internal.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LG_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define LG_ASAN 1
#endif

#ifdef LG_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

void lg__fiber_swap(void **save_sp, void *load_sp);
void lg__fiber_start(void);

/* ---- the stack pool (per thread: fibers never cross threads) ------------------------ */

#define POOL_MAX 64

struct stack_pool {
  void *mapping[POOL_MAX];
  size_t size[POOL_MAX];
  int n;
};

/* Made at the thread's first fiber release (static TLS stays small: a thread with a small
 * stack must still start under the preload library). Like the stacks it holds, it lives as
 * long as the process. */
static __thread struct stack_pool *pool;

static size_t page_size(void) { return lg__page_size(); }

int lg__fiber_make(lg__ctx *c, size_t stack_size, lg__fiber_fn fn, void *arg) {
  size_t ps = page_size();
  stack_size = (stack_size + ps - 1) & ~(ps - 1);
  size_t total = stack_size + ps;
  void *m = NULL;
  for (int i = pool ? pool->n - 1 : -1; i >= 0; i--)
    if (pool->size[i] == total) {
      m = pool->mapping[i];
      pool->mapping[i] = pool->mapping[--pool->n];
      pool->size[i] = pool->size[pool->n];
      break;
    }
  if (!m) {
    m = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
             -1, 0);
    if (m == MAP_FAILED) return -1;
    if (mprotect(m, ps, PROT_NONE) != 0) { /* the guard page: an overflow faults at once */
      munmap(m, total);
      return -1;
    }
  }
  c->mapping = m;
  c->mapping_size = total;
  c->stack_lo = (char *)m + ps;
  c->stack_size = stack_size;
  c->fake_stack = NULL;
  /* The first switch pops six registers and returns into lg__fiber_start, which must find
   * the stack 16-byte aligned so that its call gives the entry function the ABI alignment. */
  uintptr_t top = ((uintptr_t)c->stack_lo + stack_size) & ~(uintptr_t)15;
  void **sp = (void **)top;
  *--sp = (void *)lg__fiber_start; /* return address of the first swap */
  *--sp = NULL;                    /* rbp: ends frame-pointer walks */
  *--sp = NULL;                    /* rbx */
  *--sp = arg;                     /* r12 */
  *--sp = (void *)fn;              /* r13 */
  *--sp = NULL;                    /* r14 */
  *--sp = NULL;                    /* r15 */
  c->sp = sp;
  return 0;
}

void lg__fiber_thread_ctx(lg__ctx *c) {
  memset(c, 0, sizeof *c);
  pthread_attr_t attr;
  void *addr;
  size_t size;
  lg__busy++;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
      c->stack_lo = addr;
      c->stack_size = size;
    }
    pthread_attr_destroy(&attr);
  }
  lg__busy--;
}

void lg__fiber_release(lg__ctx *c) {
  if (!c->mapping) return;
#ifdef LG_ASAN
  /* Frames that never returned leave poisoned redzones behind; the next user of this stack
   * must not trip over them. */
  ASAN_UNPOISON_MEMORY_REGION(c->stack_lo, c->stack_size);
#endif
  if (!pool) {
    void *m = mmap(NULL, sizeof *pool, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (m != MAP_FAILED) pool = m;
  }
  if (pool && pool->n < POOL_MAX) {
    pool->mapping[pool->n] = c->mapping;
    pool->size[pool->n++] = c->mapping_size;
  } else {
    munmap(c->mapping, c->mapping_size);
  }
  c->mapping = NULL;
}

void lg__fiber_switch(lg__ctx *from, lg__ctx *to, bool from_finished) {
  lg__stack_set_bounds((uintptr_t)to->stack_lo, (uintptr_t)to->stack_lo + to->stack_size);
#ifdef LG_ASAN
  __sanitizer_start_switch_fiber(from_finished ? NULL : &from->fake_stack, to->stack_lo,
                                 to->stack_size);
  lg__fiber_swap(&from->sp, to->sp);
  const void *prev_lo;
  size_t prev_size;
  __sanitizer_finish_switch_fiber(from->fake_stack, &prev_lo, &prev_size);
  (void)prev_lo;
  (void)prev_size;
#else
  (void)from_finished;
  lg__fiber_swap(&from->sp, to->sp);
#endif
}

void lg__fiber_entered(void) {
#ifdef LG_ASAN
  const void *prev_lo;
  size_t prev_size;
  __sanitizer_finish_switch_fiber(NULL, &prev_lo, &prev_size);
  (void)prev_lo;
  (void)prev_size;
#endif
}

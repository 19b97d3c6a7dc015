/* SPDX-License-Identifier: MIT */
/* liblifeguard-access.a: lifeguard's own definitions of the callbacks that clang's
 * thread-sanitizer instrumentation (-fsanitize=thread) puts around loads, stores, atomics,
 * function entries and vtable pointers. `lifeguard cc` / `lifeguard c++` compile with that
 * instrumentation and link this archive instead of TSan's runtime, so that under
 * `lifeguard explore` each access can be a scheduling point (access.c, in the preload
 * library, decides which), and without explore the program runs as compiled.
 *
 * Off (no preload library, or explore not on): `hook` is NULL and every callback is one load
 * and one predictable branch; an atomic is then the atomic operation itself (below). Race
 * detection is not done here: nothing records happens-before; accesses are only places where
 * another thread may be let run.
 *
 * Atomics stay atomic: each __tsan_atomic* callback performs its operation with the compiler's
 * __atomic builtins, sequentially consistent for read-modify-writes (as strong as any order the
 * program asked for; on x86-64 every locked instruction is that anyway), loads and stores with
 * the order asked for rounded up to acquire/release unless seq_cst. 128-bit operations use
 * cmpxchg16b (this file is built with -mcx16), as clang does for them.
 *
 * Not here: bulk memory (memcpy, memset, memmove: clang 14 calls libc's for its intrinsics,
 * the __tsan_mem* forms are defined for newer compilers) is not a scheduling point; nor are
 * TSan's annotation interfaces (__tsan_acquire/release, the mutex and fiber annotations,
 * Annotate*), which are defined as no-ops so programs that call them link. */
#define _GNU_SOURCE
#include "access_internal.h"

#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

static lg_access_fn *hook;

#define ACCESS(p, info)                                                        \
  do {                                                                         \
    lg_access_fn *h_ = __atomic_load_n(&hook, __ATOMIC_RELAXED);               \
    if (__builtin_expect(h_ != NULL, 0)) h_((const volatile void *)(p), (info)); \
  } while (0)

/* Called by every instrumented module's constructor (tsan.module_ctor), once per module. */
EXPORT void __tsan_init(void) {
  static int done;
  if (done) return;
  done = 1;
  lg_access_register_fn *reg = (lg_access_register_fn *)dlsym(RTLD_DEFAULT, LG_ACCESS_REGISTER);
  if (reg) reg(&hook);
}

EXPORT void __tsan_func_entry(void *pc) { (void)pc; }
EXPORT void __tsan_func_exit(void) {}
EXPORT void __tsan_ignore_thread_begin(void) {}
EXPORT void __tsan_ignore_thread_end(void) {}

/* ---- plain loads and stores --------------------------------------------------------- */

#define PLAIN(n)                                                               \
  EXPORT void __tsan_read##n(void *p) { ACCESS(p, n); }                        \
  EXPORT void __tsan_write##n(void *p) { ACCESS(p, n | LG_ACCESS_WRITE); }     \
  EXPORT void __tsan_unaligned_read##n(void *p) { ACCESS(p, n); }              \
  EXPORT void __tsan_unaligned_write##n(void *p) { ACCESS(p, n | LG_ACCESS_WRITE); } \
  EXPORT void __tsan_volatile_read##n(void *p) { ACCESS(p, n); }               \
  EXPORT void __tsan_volatile_write##n(void *p) { ACCESS(p, n | LG_ACCESS_WRITE); } \
  EXPORT void __tsan_unaligned_volatile_read##n(void *p) { ACCESS(p, n); }     \
  EXPORT void __tsan_unaligned_volatile_write##n(void *p) { ACCESS(p, n | LG_ACCESS_WRITE); } \
  EXPORT void __tsan_read_write##n(void *p) { ACCESS(p, n | LG_ACCESS_WRITE); } \
  EXPORT void __tsan_unaligned_read_write##n(void *p) { ACCESS(p, n | LG_ACCESS_WRITE); }
PLAIN(1)
PLAIN(2)
PLAIN(4)
PLAIN(8)
PLAIN(16)

static unsigned range_info(size_t n) { return n > 16 ? 16 : n ? (unsigned)n : 1; }
EXPORT void __tsan_read_range(void *p, size_t n) { ACCESS(p, range_info(n)); }
EXPORT void __tsan_write_range(void *p, size_t n) { ACCESS(p, range_info(n) | LG_ACCESS_WRITE); }

/* The vtable pointer a constructor or destructor sets, and the one a virtual call reads. */
EXPORT void __tsan_vptr_update(void **p, void *v) {
  if (*p != v) ACCESS(p, 8 | LG_ACCESS_WRITE);
}
EXPORT void __tsan_vptr_read(void **p) { ACCESS(p, 8); }

EXPORT void *__tsan_memcpy(void *d, const void *s, size_t n) { return memcpy(d, s, n); }
EXPORT void *__tsan_memmove(void *d, const void *s, size_t n) { return memmove(d, s, n); }
EXPORT void *__tsan_memset(void *d, int c, size_t n) { return memset(d, c, n); }

/* ---- atomics ------------------------------------------------------------------------ */

typedef int morder; /* __ATOMIC_RELAXED .. __ATOMIC_SEQ_CST, as the instrumentation passes it */
typedef unsigned __int128 u128;

#define ATOMIC_INFO(n) ((n) / 8 | LG_ACCESS_ATOMIC)
#define ATOMIC_WINFO(n) ((n) / 8 | LG_ACCESS_ATOMIC | LG_ACCESS_WRITE)
#define ATOMIC_CINFO(n) ((n) / 8 | LG_ACCESS_ATOMIC | LG_ACCESS_WRITE | LG_ACCESS_CAS)

/* One width: n bits, type T, lock-free through the __atomic builtins (n <= 64). */
#define ATOMICS(n, T)                                                                     \
  EXPORT T __tsan_atomic##n##_load(const volatile T *a, morder mo) {                      \
    ACCESS(a, ATOMIC_INFO(n));                                                            \
    return mo == __ATOMIC_SEQ_CST ? __atomic_load_n(a, __ATOMIC_SEQ_CST)                  \
                                  : __atomic_load_n(a, __ATOMIC_ACQUIRE);                 \
  }                                                                                       \
  EXPORT void __tsan_atomic##n##_store(volatile T *a, T v, morder mo) {                   \
    ACCESS(a, ATOMIC_WINFO(n));                                                           \
    if (mo == __ATOMIC_SEQ_CST)                                                           \
      __atomic_store_n(a, v, __ATOMIC_SEQ_CST);                                           \
    else                                                                                  \
      __atomic_store_n(a, v, __ATOMIC_RELEASE);                                           \
  }                                                                                       \
  EXPORT T __tsan_atomic##n##_exchange(volatile T *a, T v, morder mo) {                   \
    ACCESS(a, ATOMIC_WINFO(n));                                                           \
    return __atomic_exchange_n(a, v, __ATOMIC_SEQ_CST);                                   \
  }                                                                                       \
  EXPORT T __tsan_atomic##n##_fetch_add(volatile T *a, T v, morder mo) {                  \
    ACCESS(a, ATOMIC_WINFO(n));                                                           \
    return __atomic_fetch_add(a, v, __ATOMIC_SEQ_CST);                                    \
  }                                                                                       \
  EXPORT T __tsan_atomic##n##_fetch_sub(volatile T *a, T v, morder mo) {                  \
    ACCESS(a, ATOMIC_WINFO(n));                                                           \
    return __atomic_fetch_sub(a, v, __ATOMIC_SEQ_CST);                                    \
  }                                                                                       \
  EXPORT T __tsan_atomic##n##_fetch_and(volatile T *a, T v, morder mo) {                  \
    ACCESS(a, ATOMIC_WINFO(n));                                                           \
    return __atomic_fetch_and(a, v, __ATOMIC_SEQ_CST);                                    \
  }                                                                                       \
  EXPORT T __tsan_atomic##n##_fetch_or(volatile T *a, T v, morder mo) {                   \
    ACCESS(a, ATOMIC_WINFO(n));                                                           \
    return __atomic_fetch_or(a, v, __ATOMIC_SEQ_CST);                                     \
  }                                                                                       \
  EXPORT T __tsan_atomic##n##_fetch_xor(volatile T *a, T v, morder mo) {                  \
    ACCESS(a, ATOMIC_WINFO(n));                                                           \
    return __atomic_fetch_xor(a, v, __ATOMIC_SEQ_CST);                                    \
  }                                                                                       \
  EXPORT T __tsan_atomic##n##_fetch_nand(volatile T *a, T v, morder mo) {                 \
    ACCESS(a, ATOMIC_WINFO(n));                                                           \
    return __atomic_fetch_nand(a, v, __ATOMIC_SEQ_CST);                                   \
  }                                                                                       \
  EXPORT int __tsan_atomic##n##_compare_exchange_strong(volatile T *a, T *c, T v,         \
                                                        morder mo, morder fmo) {          \
    ACCESS(a, ATOMIC_CINFO(n));                                                           \
    return __atomic_compare_exchange_n(a, c, v, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);   \
  }                                                                                       \
  EXPORT int __tsan_atomic##n##_compare_exchange_weak(volatile T *a, T *c, T v,           \
                                                      morder mo, morder fmo) {            \
    ACCESS(a, ATOMIC_CINFO(n));                                                           \
    return __atomic_compare_exchange_n(a, c, v, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);   \
  }                                                                                       \
  EXPORT T __tsan_atomic##n##_compare_exchange_val(volatile T *a, T c, T v, morder mo,    \
                                                   morder fmo) {                          \
    ACCESS(a, ATOMIC_CINFO(n));                                                           \
    __atomic_compare_exchange_n(a, &c, v, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);         \
    return c;                                                                             \
  }
ATOMICS(8, uint8_t)
ATOMICS(16, uint16_t)
ATOMICS(32, uint32_t)
ATOMICS(64, uint64_t)

/* 128 bits: every operation a cmpxchg16b loop (the __sync form is inlined with -mcx16; the
 * __atomic one would call libatomic). A load is a compare-and-swap of 0 with 0. */
static inline u128 cas128(volatile u128 *a, u128 c, u128 v) {
  return __sync_val_compare_and_swap(a, c, v);
}
#define RMW128(name, expr)                                                     \
  EXPORT u128 __tsan_atomic128_##name(volatile u128 *a, u128 v, morder mo) {   \
    ACCESS(a, ATOMIC_WINFO(128));                                              \
    u128 old = cas128(a, 0, 0);                                                \
    for (;;) {                                                                 \
      u128 seen = cas128(a, old, (expr));                                      \
      if (seen == old) return old;                                             \
      old = seen;                                                              \
    }                                                                          \
  }
RMW128(exchange, v)
RMW128(fetch_add, old + v)
RMW128(fetch_sub, old - v)
RMW128(fetch_and, old & v)
RMW128(fetch_or, old | v)
RMW128(fetch_xor, old ^ v)
RMW128(fetch_nand, ~(old & v))

EXPORT u128 __tsan_atomic128_load(const volatile u128 *a, morder mo) {
  ACCESS(a, ATOMIC_INFO(128));
  return cas128((volatile u128 *)a, 0, 0);
}
EXPORT void __tsan_atomic128_store(volatile u128 *a, u128 v, morder mo) {
  ACCESS(a, ATOMIC_WINFO(128));
  u128 old = cas128(a, 0, 0);
  for (;;) {
    u128 seen = cas128(a, old, v);
    if (seen == old) return;
    old = seen;
  }
}
EXPORT u128 __tsan_atomic128_compare_exchange_val(volatile u128 *a, u128 c, u128 v, morder mo,
                                                  morder fmo) {
  ACCESS(a, ATOMIC_CINFO(128));
  return cas128(a, c, v);
}
EXPORT int __tsan_atomic128_compare_exchange_strong(volatile u128 *a, u128 *c, u128 v,
                                                    morder mo, morder fmo) {
  ACCESS(a, ATOMIC_CINFO(128));
  u128 seen = cas128(a, *c, v);
  if (seen == *c) return 1;
  *c = seen;
  return 0;
}
EXPORT int __tsan_atomic128_compare_exchange_weak(volatile u128 *a, u128 *c, u128 v, morder mo,
                                                  morder fmo) {
  return __tsan_atomic128_compare_exchange_strong(a, c, v, mo, fmo);
}

EXPORT void __tsan_atomic_thread_fence(morder mo) {
  if (mo == __ATOMIC_SEQ_CST)
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
  else
    __atomic_thread_fence(__ATOMIC_ACQ_REL);
}
EXPORT void __tsan_atomic_signal_fence(morder mo) { __atomic_signal_fence(__ATOMIC_SEQ_CST); }

/* ---- annotations: accepted, not used ------------------------------------------------ */

EXPORT void __tsan_acquire(void *addr) { (void)addr; }
EXPORT void __tsan_release(void *addr) { (void)addr; }
EXPORT void __tsan_mutex_create(void *m, unsigned flags) {}
EXPORT void __tsan_mutex_destroy(void *m, unsigned flags) {}
EXPORT void __tsan_mutex_pre_lock(void *m, unsigned flags) {}
EXPORT void __tsan_mutex_post_lock(void *m, unsigned flags, int recursion) {}
EXPORT int __tsan_mutex_pre_unlock(void *m, unsigned flags) { return 0; }
EXPORT void __tsan_mutex_post_unlock(void *m, unsigned flags) {}
EXPORT void __tsan_mutex_pre_signal(void *addr, unsigned flags) {}
EXPORT void __tsan_mutex_post_signal(void *addr, unsigned flags) {}
EXPORT void __tsan_mutex_pre_divert(void *addr, unsigned flags) {}
EXPORT void __tsan_mutex_post_divert(void *addr, unsigned flags) {}

/* Fibers: a handle the program can pass back; switching is the program's own business. */
static char fiber_token;
EXPORT void *__tsan_get_current_fiber(void) { return &fiber_token; }
EXPORT void *__tsan_create_fiber(unsigned flags) { return &fiber_token; }
EXPORT void __tsan_destroy_fiber(void *fiber) {}
EXPORT void __tsan_switch_to_fiber(void *fiber, unsigned flags) {}
EXPORT void __tsan_set_fiber_name(void *fiber, const char *name) {}

EXPORT void AnnotateHappensBefore(const char *f, int l, const volatile void *addr) {}
EXPORT void AnnotateHappensAfter(const char *f, int l, const volatile void *addr) {}
EXPORT void AnnotateBenignRaceSized(const char *f, int l, const volatile void *addr,
                                    size_t size, const char *desc) {}
EXPORT void AnnotateBenignRace(const char *f, int l, const volatile void *addr,
                               const char *desc) {}
EXPORT void AnnotateIgnoreReadsBegin(const char *f, int l) {}
EXPORT void AnnotateIgnoreReadsEnd(const char *f, int l) {}
EXPORT void AnnotateIgnoreWritesBegin(const char *f, int l) {}
EXPORT void AnnotateIgnoreWritesEnd(const char *f, int l) {}
EXPORT void AnnotateRWLockCreate(const char *f, int l, const volatile void *lock) {}
EXPORT void AnnotateRWLockDestroy(const char *f, int l, const volatile void *lock) {}
EXPORT void AnnotateRWLockAcquired(const char *f, int l, const volatile void *lock, long w) {}
EXPORT void AnnotateRWLockReleased(const char *f, int l, const volatile void *lock, long w) {}
EXPORT void AnnotateThreadName(const char *f, int l, const char *name) {}

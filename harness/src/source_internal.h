/* Shared by the decision sources: a small fast PRNG and the no-preemption default.
 * Not part of the public API. */
#ifndef LIFEGUARD_SOURCE_INTERNAL_H
#define LIFEGUARD_SOURCE_INTERNAL_H

#if defined(LG_LAYER) && !defined(LG_LAYER_SEES_SOURCES)
#error "a sources-layer header, in a layer not above it (harness/CMakeLists.txt)"
#endif

#include <lifeguard/source.h>

#include <stdint.h>

/* splitmix64 used as a generator: one add and one mix per draw, good enough statistically
 * for picking schedules, and its whole state is one word. */
typedef struct lg__rng {
  uint64_t s;
} lg__rng;

/* The splitmix64 finalizer: a bijective 64-bit mix. */
static inline uint64_t lg__mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* The next 64 random bits. */
static inline uint64_t lg__rng_next(lg__rng *r) { return lg__mix64(r->s += 0x9e3779b97f4a7c15ull); }

/* Uniform in [0, n), n >= 1, without modulo bias (Lemire's multiply-and-reject). */
static inline uint32_t lg__rng_below(lg__rng *r, uint32_t n) {
  uint64_t m = (lg__rng_next(r) >> 32) * n;
  uint32_t low = (uint32_t)m;
  if (low < n) {
    uint32_t threshold = -n % n;
    while (low < threshold) {
      m = (lg__rng_next(r) >> 32) * n;
      low = (uint32_t)m;
    }
  }
  return (uint32_t)(m >> 32);
}

/* The generator of one execution: a function of (seed, execution, stream) only, so any
 * execution can be rerun alone. `stream` separates independent uses within an execution. */
static inline lg__rng lg__rng_for(uint64_t seed, uint64_t execution, uint32_t stream) {
  uint64_t s = lg__mix64(seed ^ 0x6a09e667f3bcc909ull);
  s = lg__mix64(s ^ lg__mix64(execution + 0x9e3779b97f4a7c15ull));
  s = lg__mix64(s ^ ((uint64_t)stream << 32 | stream));
  return (lg__rng){s};
}

/* A failure decision (LG_CHOICE_FAIL) of the random sources: the real call (option 0) except
 * once in LG_INJECT_ONE_IN, else one of the failures, uniformly. Rarer
 * than a uniform pick, so that the bound of failures per execution is not all spent on the
 * first calls and a failure can land deep in an execution. */
#define LG_INJECT_ONE_IN 8
static inline uint32_t lg__rng_fail(lg__rng *r, uint32_t n) {
  if (n < 2 || lg__rng_below(r, LG_INJECT_ONE_IN) != 0) return 0;
  return 1 + lg__rng_below(r, n - 1);
}

/* The choice that preempts nobody: the running actor, else option 0 (also for data). */
static inline uint32_t lg__no_preemption(const lg_choice *c) {
  return c->kind == LG_CHOICE_SCHEDULE && c->current < c->n ? c->current : 0;
}

/* Whether taking `idx` at `c` is a preemption. */
static inline int lg__is_preemption(const lg_choice *c, uint32_t idx) {
  return c->kind == LG_CHOICE_SCHEDULE && c->current != LG_NO_CURRENT && idx != c->current;
}

/* Executions of a dfs search that disagreed with their recorded path (the program's
 * nondeterminism). A candidate for lifeguard/source.h. */
uint64_t lg_source_dfs_nondeterminism(const lg_source *s);

#endif

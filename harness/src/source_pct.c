/* PCT (Burckhardt et al., ASPLOS'10): random actor priorities, d-1 priority change points
 * among the first k schedule decisions; the highest-priority option always runs. A bug of
 * depth d in a run of n actors and k steps is found with probability >= 1/(n k^(d-1)). */
#include "source_internal.h"

#include <stdlib.h>

/* Streams of one execution's generator: priorities and change points are drawn apart from
 * data choices, so a program's data choices do not shift its priorities. */
enum { STREAM_PRIORITY = 1, STREAM_CHANGE = 2, STREAM_DATA = 3 };

typedef struct pct_source {
  lg_source base;
  uint64_t seed;
  unsigned depth;
  uint64_t k;               /* 0 while learning it */
  bool learning;            /* this execution runs without change points to count k */
  uint64_t execution;       /* the next execution's index */
  lg__rng prio_rng, data_rng;
  uint64_t *change;         /* depth - 1 change points, each in [1, k] */
  uint64_t steps;           /* schedule decisions so far in this execution */
  /* priority of each actor id seen in this execution; 0 = not seen yet */
  uint64_t *prio;
  size_t prio_cap;
  uint32_t last_actor;      /* the actor chosen last, LG_NO_CURRENT before any */
} pct_source;

/* Prepares execution i from (seed, i): forgets the priorities, draws the change points. */
static bool pct_begin(lg_source *s) {
  pct_source *p = (pct_source *)s;
  uint64_t i = p->execution++;
  p->learning = p->k == 0;
  p->prio_rng = lg__rng_for(p->seed, i, STREAM_PRIORITY);
  p->data_rng = lg__rng_for(p->seed, i, STREAM_DATA);
  lg__rng change_rng = lg__rng_for(p->seed, i, STREAM_CHANGE);
  for (unsigned j = 0; j + 1 < p->depth; j++)
    p->change[j] = p->learning ? 0 : 1 + lg__rng_next(&change_rng) % p->k;
  for (size_t a = 0; a < p->prio_cap; a++) p->prio[a] = 0;
  p->steps = 0;
  p->last_actor = LG_NO_CURRENT;
  return true;
}

/* A fresh initial priority: random, >= depth, distinct from every priority given so far. */
static uint64_t fresh_priority(pct_source *p) {
  for (;;) {
    uint64_t v = p->depth + (lg__rng_next(&p->prio_rng) >> 2);
    bool taken = false;
    for (size_t a = 0; a < p->prio_cap && !taken; a++) taken = p->prio[a] == v;
    if (!taken) return v;
  }
}

/* The priority slot of actor `id`, assigning an initial priority on first sight. NULL when
 * the table cannot grow. */
static uint64_t *priority_of(pct_source *p, uint32_t id) {
  if (id >= p->prio_cap) {
    size_t cap = p->prio_cap ? p->prio_cap : 8;
    while (cap <= id) cap *= 2;
    uint64_t *t = realloc(p->prio, cap * sizeof *t);
    if (!t) return NULL;
    for (size_t a = p->prio_cap; a < cap; a++) t[a] = 0;
    p->prio = t;
    p->prio_cap = cap;
  }
  if (p->prio[id] == 0) p->prio[id] = fresh_priority(p);
  return &p->prio[id];
}

/* Schedule decisions: the highest priority wins, after applying a change point that falls on
 * this decision to the running actor. Data decisions: uniform; failure decisions as the
 * random source takes them. */
static uint32_t pct_choose(lg_source *s, const lg_choice *c) {
  pct_source *p = (pct_source *)s;
  if (c->kind == LG_CHOICE_FAIL) return lg__rng_fail(&p->data_rng, c->n);
  if (c->kind != LG_CHOICE_SCHEDULE || !c->actors) return lg__rng_below(&p->data_rng, c->n);

  uint64_t step = ++p->steps;
  uint32_t running = c->current < c->n ? c->actors[c->current] : p->last_actor;
  if (!p->learning && running != LG_NO_CURRENT) {
    for (unsigned j = 0; j + 1 < p->depth; j++) {
      if (p->change[j] != step) continue;
      uint64_t *slot = priority_of(p, running);
      if (slot) *slot = p->depth - 1 - j;  /* change point i = j + 1 gets d - i */
    }
  }

  uint32_t best = 0;
  uint64_t best_prio = 0;
  for (uint32_t o = 0; o < c->n; o++) {
    uint64_t *slot = priority_of(p, c->actors[o]);
    if (!slot) return lg__rng_below(&p->data_rng, c->n);  /* out of memory: degrade */
    if (*slot > best_prio) {
      best_prio = *slot;
      best = o;
    }
  }
  p->last_actor = c->actors[best];
  return best;
}

/* The learning execution's count of schedule decisions becomes k. */
static void pct_end(lg_source *s, lg_verdict v) {
  pct_source *p = (pct_source *)s;
  if (p->learning) p->k = p->steps ? p->steps : 1;
}

static void pct_destroy(lg_source *s) {
  pct_source *p = (pct_source *)s;
  free(p->change);
  free(p->prio);
  free(p);
}

/* PCT of depth `depth` (>= 1) with change points among the first `k` schedule decisions
 * (0 = learn k from a first execution). NULL when depth is 0 or out of memory. */
lg_source *lg_source_pct(uint64_t seed, unsigned depth, uint64_t k) {
  if (depth == 0) return NULL;
  pct_source *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->change = calloc(depth, sizeof *p->change);
  if (!p->change) {
    free(p);
    return NULL;
  }
  p->base = (lg_source){"pct", pct_begin, pct_choose, pct_end, pct_destroy};
  p->seed = seed;
  p->depth = depth;
  p->k = k;
  p->last_actor = LG_NO_CURRENT;
  return &p->base;
}

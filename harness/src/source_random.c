/* The seeded random source: uniform choices, one derived stream per execution. */
#include "source_internal.h"

#include <stdlib.h>

typedef struct random_source {
  lg_source base;
  uint64_t seed;
  uint64_t next_execution;  /* the execution the next begin() starts */
  lg__rng rng;
} random_source;

/* Starts the next execution with the stream of (seed, execution). Always true. */
static bool random_begin(lg_source *s) {
  random_source *r = (random_source *)s;
  r->rng = lg__rng_for(r->seed, r->next_execution++, 0);
  return true;
}

/* Uniform over the c->n options; a failure decision fails once in LG_INJECT_ONE_IN. */
static uint32_t random_choose(lg_source *s, const lg_choice *c) {
  lg__rng *rng = &((random_source *)s)->rng;
  if (c->kind == LG_CHOICE_FAIL) return lg__rng_fail(rng, c->n);
  return lg__rng_below(rng, c->n);
}

static void random_end(lg_source *s, lg_verdict v) {}

static void random_destroy(lg_source *s) { free(s); }

/* Executions execution, execution + 1, ... of the random search with `seed`. NULL when out
 * of memory. */
lg_source *lg_source_random_at(uint64_t seed, uint64_t execution) {
  random_source *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->base = (lg_source){"random", random_begin, random_choose, random_end, random_destroy};
  r->seed = seed;
  r->next_execution = execution;
  return &r->base;
}

/* The random search with `seed` from its first execution. NULL when out of memory. */
lg_source *lg_source_random(uint64_t seed) { return lg_source_random_at(seed, 0); }

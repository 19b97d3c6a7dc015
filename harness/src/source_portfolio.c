/* SPDX-License-Identifier: MIT */
/* The portfolio source: its members take turns, one execution each; finished ones drop out. */
#include "source_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct portfolio_source {
  lg_source base;
  lg_source **members;
  bool *finished;
  size_t n;
  size_t turn;         /* the member asked first by the next begin() */
  lg_source *active;   /* the member running the current execution */
} portfolio_source;

/* Gives the execution to the next member in turn that still has one. False when none has. */
static bool portfolio_begin(lg_source *s) {
  portfolio_source *p = (portfolio_source *)s;
  p->active = NULL;
  for (size_t tries = 0; tries < p->n; tries++) {
    size_t i = p->turn;
    p->turn = (p->turn + 1) % p->n;
    if (p->finished[i]) continue;
    if (p->members[i]->begin(p->members[i])) {
      p->active = p->members[i];
      return true;
    }
    p->finished[i] = true;
  }
  return false;
}

/* Asks the member running this execution. */
static uint32_t portfolio_choose(lg_source *s, const lg_choice *c) {
  portfolio_source *p = (portfolio_source *)s;
  return p->active ? p->active->choose(p->active, c) : lg__no_preemption(c);
}

static void portfolio_end(lg_source *s, lg_verdict v) {
  portfolio_source *p = (portfolio_source *)s;
  if (p->active) p->active->end(p->active, v);
  p->active = NULL;
}

/* Frees every member, finished or not. */
static void portfolio_destroy(lg_source *s) {
  portfolio_source *p = (portfolio_source *)s;
  for (size_t i = 0; i < p->n; i++) lg_source_free(p->members[i]);
  free(p->members);
  free(p->finished);
  free(p);
}

/* Round robin over `members[0..n)`, which it owns from then on (NULL entries count as
 * finished). NULL when out of memory; the members then still belong to the caller. */
lg_source *lg_source_portfolio(lg_source **members, size_t n) {
  portfolio_source *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->base = (lg_source){"portfolio", portfolio_begin, portfolio_choose, portfolio_end,
                        portfolio_destroy};
  if (n) {
    p->members = malloc(n * sizeof *p->members);
    p->finished = calloc(n, sizeof *p->finished);
    if (!p->members || !p->finished) {
      free(p->members);
      free(p->finished);
      free(p);
      return NULL;
    }
    for (size_t i = 0; i < n; i++) {
      p->members[i] = members[i];
      p->finished[i] = members[i] == NULL;
    }
  }
  p->n = n;
  return &p->base;
}

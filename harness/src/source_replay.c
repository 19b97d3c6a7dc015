/* The replay source: a logged execution's decisions in order, noting the first divergence. */
#include "source_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct replay_source {
  lg_source base;
  lg_decision *log;  /* a copy: the caller's log may go away */
  size_t len, pos;
  uint32_t inject_max;  /* the string's failure-injection bound */
  bool started;
  lg_divergence div;
} replay_source;

/* True for the one execution, false afterwards. */
static bool replay_begin(lg_source *s) {
  replay_source *r = (replay_source *)s;
  if (r->started) return false;
  r->started = true;
  r->pos = 0;
  memset(&r->div, 0, sizeof r->div);
  return true;
}

/* The logged index when it fits, else (and past the log's end) the no-preemption default. */
static uint32_t replay_choose(lg_source *s, const lg_choice *c) {
  replay_source *r = (replay_source *)s;
  size_t step = r->pos++;
  if (step >= r->len) return lg__no_preemption(c);
  const lg_decision *e = &r->log[step];
  uint32_t idx = e->idx < c->n ? e->idx : lg__no_preemption(c);
  if (!r->div.diverged && (e->kind != c->kind || e->site != c->site || e->n != c->n)) {
    r->div.diverged = true;
    r->div.step = step;
    r->div.expected = *e;
    r->div.actual = (lg_decision){(uint8_t)c->kind, c->site, c->n, idx};
  }
  return idx;
}

static void replay_end(lg_source *s, lg_verdict v) {}

static void replay_destroy(lg_source *s) {
  replay_source *r = (replay_source *)s;
  free(r->log);
  free(r);
}

/* A source that replays `log` (copied) once. NULL when out of memory. */
lg_source *lg_source_replay(const lg_decision_log *log) {
  replay_source *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->base = (lg_source){"replay", replay_begin, replay_choose, replay_end, replay_destroy};
  r->inject_max = log ? log->inject_max : 0;
  if (log && log->len) {
    r->log = malloc(log->len * sizeof *r->log);
    if (!r->log) {
      free(r);
      return NULL;
    }
    memcpy(r->log, log->d, log->len * sizeof *r->log);
    r->len = log->len;
  }
  return &r->base;
}

/* The first divergence of the execution (diverged = false when there was none), or NULL
 * when `s` is not a replay source. */
const lg_divergence *lg_source_replay_divergence(const lg_source *s) {
  if (!s || s->destroy != replay_destroy) return NULL;
  return &((const replay_source *)s)->div;
}

uint32_t lg_source_replay_inject_max(const lg_source *s) {
  if (!s || s->destroy != replay_destroy) return UINT32_MAX;
  return ((const replay_source *)s)->inject_max;
}

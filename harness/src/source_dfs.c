/* Bounded exhaustive search: depth-first over decision sequences, learning the tree as the
 * executions run (loom's Path, Shuttle's DfsScheduler). The state is the path of the last
 * execution; the next one replays it up to the deepest level with an untried allowed option,
 * takes that option, and goes on with the lowest allowed options below. */
#include "source_internal.h"

#include <stdlib.h>

typedef struct level {
  uint8_t kind;
  uint16_t site;
  uint32_t n;
  uint32_t idx;      /* the option this path takes */
  uint32_t current;  /* the running actor's index, LG_NO_CURRENT for none and for data */
  uint32_t pre;      /* preemptions taken before this level */
  bool known;        /* current and pre learned (levels read from a log learn on replay) */
} level;

typedef struct dfs_source {
  lg_source base;
  uint32_t bound;           /* preemptions allowed per execution */
  level *path;
  size_t len, cap;
  size_t forced;            /* the prefix's levels: never changed by backtracking */
  size_t replay;            /* levels the running (or next) execution replays */
  size_t depth;             /* decisions taken so far in the running execution */
  uint32_t pre;             /* preemptions so far in the running execution */
  uint64_t executions;
  uint64_t nondeterminism;  /* executions that disagreed with their recorded path */
  bool running, diverged, done, out_of_memory;
  bool pruned; /* the bound cut off some schedule: a search with a higher bound has more */
} dfs_source;

static void dfs_end(lg_source *s, lg_verdict v);

/* Whether only the running actor may run at `lv`: the execution has spent its bound. */
static bool restricted(const dfs_source *d, const level *lv) {
  return lv->kind == LG_CHOICE_SCHEDULE && lv->current != LG_NO_CURRENT && lv->pre >= d->bound;
}

static uint32_t lowest_allowed(const dfs_source *d, const level *lv) {
  return restricted(d, lv) ? lv->current : 0;
}

/* The next allowed option after lv->idx, or LG_NO_CURRENT when there is none. */
static uint32_t next_allowed(const dfs_source *d, const level *lv) {
  if (restricted(d, lv) || lv->idx + 1 >= lv->n) return LG_NO_CURRENT;
  return lv->idx + 1;
}

static int push_level(dfs_source *d, level lv) {
  if (d->len == d->cap) {
    size_t cap = d->cap ? d->cap * 2 : 64;
    level *p = realloc(d->path, cap * sizeof *p);
    if (!p) return -1;
    d->path = p;
    d->cap = cap;
  }
  d->path[d->len++] = lv;
  return 0;
}

/* Starts the next execution, which replays the path's levels first. False once the
 * tree is exhausted. */
static bool dfs_begin(lg_source *s) {
  dfs_source *d = (dfs_source *)s;
  if (d->running) dfs_end(s, LG_VERDICT_FAULT);  /* the last execution never ended */
  if (d->done) return false;
  d->replay = d->len;
  d->depth = 0;
  d->pre = 0;
  d->running = true;
  d->diverged = false;
  d->executions++;
  return true;
}

/* A replayed level that disagrees with what the program asks now: the program is not
 * deterministic. The level takes the shape asked now but keeps its recorded index, so the
 * sequence of paths still only grows (in lexicographic order) and the search still ends. */
static void relearn(dfs_source *d, level *lv, const lg_choice *c, uint32_t cur) {
  d->diverged = true;
  lv->kind = (uint8_t)c->kind;
  lv->site = c->site;
  lv->n = c->n;
  lv->current = cur;
}

/* Replays the path while it lasts, then takes the lowest allowed option of each new level. */
static uint32_t dfs_choose(lg_source *s, const lg_choice *c) {
  dfs_source *d = (dfs_source *)s;
  uint32_t cur = c->kind == LG_CHOICE_SCHEDULE && c->current < c->n ? c->current : LG_NO_CURRENT;
  size_t at = d->depth++;
  uint32_t idx;
  if (c->kind == LG_CHOICE_SCHEDULE && cur != LG_NO_CURRENT && d->pre >= d->bound && c->n > 1)
    d->pruned = true; /* only the running actor may go on: the others are cut off here */
  if (at < d->replay) {
    level *lv = &d->path[at];
    if (lv->kind != c->kind || lv->site != c->site || lv->n != c->n ||
        (lv->known && lv->current != cur))
      relearn(d, lv, c, cur);
    lv->current = cur;
    lv->pre = d->pre;
    lv->known = true;
    idx = lv->idx;
    /* after a divergence the recorded option may not exist or not be allowed any more (a
     * forced prefix is taken as given, even beyond the bound) */
    if (idx >= c->n || (at >= d->forced && restricted(d, lv) && idx != cur))
      idx = lowest_allowed(d, lv);
  } else {
    level lv = {(uint8_t)c->kind, c->site, c->n, 0, cur, d->pre, true};
    lv.idx = lowest_allowed(d, &lv);
    if (push_level(d, lv) < 0) {
      d->out_of_memory = true;  /* this execution goes on unrecorded; the search stops */
      d->depth--;
      return lg__no_preemption(c);
    }
    idx = lv.idx;
  }
  if (lg__is_preemption(c, idx)) d->pre++;
  return idx;
}

/* Backtracks: the deepest level below the prefix with an untried allowed option takes it,
 * and the levels under it are dropped. Nothing left: the search is done. */
static void dfs_end(lg_source *s, lg_verdict v) {
  dfs_source *d = (dfs_source *)s;
  if (!d->running) return;
  d->running = false;
  if (d->depth < d->replay) d->diverged = true;  /* ended before its recorded end */
  if (d->diverged) d->nondeterminism++;
  if (d->depth < d->len) d->len = d->depth;
  if (d->out_of_memory || d->len < d->forced) {
    d->done = true;
    return;
  }
  for (size_t l = d->len; l-- > d->forced;) {
    uint32_t next = next_allowed(d, &d->path[l]);
    if (next != LG_NO_CURRENT) {
      d->path[l].idx = next;
      d->len = l + 1;
      d->replay = d->len;
      return;
    }
  }
  d->done = true;
}

static void dfs_destroy(lg_source *s) {
  dfs_source *d = (dfs_source *)s;
  free(d->path);
  free(d);
}

static const dfs_source *as_dfs(const lg_source *s) {
  return s && s->destroy == dfs_destroy ? (const dfs_source *)s : NULL;
}

/* A search whose first execution starts with `start`'s decisions; the first `forced` of them
 * stay fixed. NULL when out of memory or when `start` breaks the grammar (n < 2, idx >= n). */
static lg_source *dfs_new(uint32_t bound, const lg_decision_log *start, bool forced) {
  dfs_source *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  d->base = (lg_source){"dfs", dfs_begin, dfs_choose, dfs_end, dfs_destroy};
  d->bound = bound;
  for (size_t i = 0; start && i < start->len; i++) {
    const lg_decision *e = &start->d[i];
    level lv = {e->kind, e->site, e->n, e->idx, LG_NO_CURRENT, 0, false};
    if (e->kind > LG_CHOICE_FAIL || e->n < 2 || e->idx >= e->n || push_level(d, lv) < 0) {
      dfs_destroy(&d->base);
      return NULL;
    }
  }
  d->forced = forced ? d->len : 0;
  d->replay = d->len;
  return &d->base;
}

/* The whole search, at most `preemption_bound` preemptions per execution. */
lg_source *lg_source_dfs(uint32_t preemption_bound) {
  return dfs_new(preemption_bound, NULL, false);
}

/* The subtree under `prefix`: its decisions are forced, done when the subtree is. */
lg_source *lg_source_dfs_below(uint32_t preemption_bound, const lg_decision_log *prefix) {
  return dfs_new(preemption_bound, prefix, true);
}

/* A whole search continued from a checkpoint: the checkpoint's execution runs next. */
lg_source *lg_source_dfs_resume(uint32_t preemption_bound, const lg_decision_log *checkpoint) {
  return dfs_new(preemption_bound, checkpoint, false);
}

/* Executions begun so far (0 for a source that is not a dfs). */
uint64_t lg_source_dfs_executions(const lg_source *s) {
  const dfs_source *d = as_dfs(s);
  return d ? d->executions : 0;
}

/* True once every execution of the (sub)tree has run. */
bool lg_source_dfs_done(const lg_source *s) {
  const dfs_source *d = as_dfs(s);
  return d && d->done;
}

/* Executions whose decisions disagreed with the recorded path (kind, site, n or running
 * actor), or that ended before its end: the program's nondeterminism. */
uint64_t lg_source_dfs_nondeterminism(const lg_source *s) {
  const dfs_source *d = as_dfs(s);
  return d ? d->nondeterminism : 0;
}

/* Writes the forced beginning of the next execution (the running one, if called inside an
 * execution) into `out`. Returns 0; 1 with `out` empty when the search is done (there is
 * nothing to resume); -1 when out of memory or `s` is not a dfs. */
int lg_source_dfs_checkpoint(const lg_source *s, lg_decision_log *out) {
  const dfs_source *d = as_dfs(s);
  if (!d) return -1;
  lg_log_clear(out);
  if (d->done) return 1;
  for (size_t i = 0; i < d->replay; i++) {
    const level *lv = &d->path[i];
    /* a level that diverged may keep an index past its new n: write its last option */
    lg_decision e = {lv->kind, lv->site, lv->n, lv->idx < lv->n ? lv->idx : lv->n - 1};
    if (lg_log_append(out, e) < 0) return -1;
  }
  return 0;
}

/* ---- iterative preemption bounding ---------------------------------------------------- */

/* The searches with bound 0, 1, 2, ... one after the other, until a search that the bound
 * did not cut: schedules with few preemptions come first (most bugs need one or two), and the
 * last search covers every schedule. A search repeats the schedules of the one before it. */
typedef struct icb_source {
  lg_source base;
  lg_source *cur;
  uint32_t bound;
  bool done;
} icb_source;

static bool icb_begin(lg_source *s) {
  icb_source *d = (icb_source *)s;
  while (!d->done) {
    if (d->cur->begin(d->cur)) return true;
    const dfs_source *f = as_dfs(d->cur);
    if (!f->pruned || f->out_of_memory || d->bound == UINT32_MAX) {
      d->done = true;
      break;
    }
    lg_source *next = lg_source_dfs(d->bound + 1);
    if (!next) {
      d->done = true;
      break;
    }
    lg_source_free(d->cur);
    d->cur = next;
    d->bound++;
  }
  return false;
}

static uint32_t icb_choose(lg_source *s, const lg_choice *c) {
  icb_source *d = (icb_source *)s;
  return d->cur->choose(d->cur, c);
}

static void icb_end(lg_source *s, lg_verdict v) {
  icb_source *d = (icb_source *)s;
  d->cur->end(d->cur, v);
}

static void icb_destroy(lg_source *s) {
  icb_source *d = (icb_source *)s;
  lg_source_free(d->cur);
  free(d);
}

lg_source *lg_source_dfs_iterative(void) {
  icb_source *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  d->base = (lg_source){"dfs", icb_begin, icb_choose, icb_end, icb_destroy};
  d->cur = lg_source_dfs(0);
  if (!d->cur) {
    free(d);
    return NULL;
  }
  return &d->base;
}

uint32_t lg_source_dfs_iterative_bound(const lg_source *s) {
  return s && s->destroy == icb_destroy ? ((const icb_source *)s)->bound : 0;
}

/* SPDX-License-Identifier: MIT */
/* The decision sources, driven by a tiny deterministic simulator of the scheduler.
 *
 * The simulator: N actors, each with a number of segments. Before each segment, the options
 * are the actors that still have segments, in ascending id order; `current` is the index of
 * the actor that just ran if it still has segments, else LG_NO_CURRENT (and LG_NO_CURRENT for
 * the first decision of an execution). Choices with one option are not decisions. Every
 * decision is logged, and the order in which the segments ran is kept so that tests can check
 * planted ordering bugs. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "capture.h"
#include <criterion/logging.h>

#include <lifeguard/schedule.h>
#include <lifeguard/source.h>

/* Not in source.h yet: executions of a dfs search that disagreed with their recorded path. */
uint64_t lg_source_dfs_nondeterminism(const lg_source *s);

TestSuite(sources, .timeout = LG_UNIT_TIMEOUT);

/* ---- the simulator ---------------------------------------------------------------- */

#define SIM_MAX_ACTORS 8
#define SIM_MAX_SEGMENTS 64
#define SIM_DATA_SITE 50

typedef struct sim {
  /* the program */
  unsigned nactors;
  unsigned segments[SIM_MAX_ACTORS];
  /* optional data choice (n = 3) before every segment s of data_actor with
   * (s + 1) % data_every == 0; data_every = 0: none */
  unsigned data_actor, data_every;
  /* the last execution */
  lg_decision_log log;
  unsigned preemptions;
  unsigned ran;                                          /* segments run */
  unsigned at[SIM_MAX_ACTORS][SIM_MAX_SEGMENTS];         /* when actor a ran segment s */
  unsigned trace[SIM_MAX_ACTORS * SIM_MAX_SEGMENTS];     /* which actor ran each segment */
} sim;

static sim make_sim(unsigned nactors, unsigned segments) {
  sim m;
  memset(&m, 0, sizeof m);
  m.nactors = nactors;
  for (unsigned a = 0; a < nactors; a++) m.segments[a] = segments;
  return m;
}

static uint32_t ask(lg_source *src, sim *m, lg_choice *c) {
  uint32_t idx = src->choose(src, c);
  cr_assert_lt(idx, c->n, "choose() returned %u of %u options", idx, c->n);
  lg_decision d = {(uint8_t)c->kind, c->site, c->n, idx};
  cr_assert_eq(lg_log_append(&m->log, d), 0);
  c->step++;
  return idx;
}

/* Runs one execution under `src`, whose begin() has just returned true, and calls end(). */
static void sim_run(sim *m, lg_source *src) {
  unsigned left[SIM_MAX_ACTORS];
  uint32_t options[SIM_MAX_ACTORS];
  unsigned total = 0;
  for (unsigned a = 0; a < m->nactors; a++) total += left[a] = m->segments[a];
  lg_log_clear(&m->log);
  m->preemptions = 0;
  m->ran = 0;
  uint32_t last = LG_NO_CURRENT;
  lg_choice c = {0};
  while (m->ran < total) {
    uint32_t n = 0, current = LG_NO_CURRENT;
    for (unsigned a = 0; a < m->nactors; a++) {
      if (!left[a]) continue;
      if (a == last) current = n;
      options[n++] = a;
    }
    uint32_t pick = options[0];
    if (n > 1) {
      c.kind = LG_CHOICE_SCHEDULE;
      c.site = (uint16_t)(last == LG_NO_CURRENT ? 0 : 1 + last);
      c.n = n;
      c.current = current;
      c.actors = options;
      uint32_t idx = ask(src, m, &c);
      if (current != LG_NO_CURRENT && idx != current) m->preemptions++;
      pick = options[idx];
    }
    unsigned seg = m->segments[pick] - left[pick];
    if (pick == m->data_actor && m->data_every && (seg + 1) % m->data_every == 0) {
      c.kind = LG_CHOICE_DATA;
      c.site = SIM_DATA_SITE;
      c.n = 3;
      c.current = LG_NO_CURRENT;
      c.actors = NULL;
      ask(src, m, &c);
    }
    m->at[pick][seg] = m->ran;
    m->trace[m->ran++] = pick;
    left[pick]--;
    last = pick;
  }
  src->end(src, LG_VERDICT_OK);
}

/* Runs every execution `src` offers (at most `limit`); returns how many ran. */
typedef void (*on_execution)(sim *m, void *arg);
static uint64_t sim_run_all(sim *m, lg_source *src, uint64_t limit, on_execution cb, void *arg) {
  uint64_t runs = 0;
  while (runs < limit && src->begin(src)) {
    sim_run(m, src);
    runs++;
    if (cb) cb(m, arg);
  }
  return runs;
}

/* ---- a set of 64-bit log hashes ------------------------------------------------------ */

typedef struct hash_set {
  uint64_t *slot;
  size_t mask, count, duplicates;
} hash_set;

static hash_set hs_new(unsigned log2_size) {
  hash_set h = {calloc((size_t)1 << log2_size, sizeof(uint64_t)), ((size_t)1 << log2_size) - 1,
                0, 0};
  cr_assert_not_null(h.slot);
  return h;
}

/* Adds `v`; counts it as a duplicate when it was there already. */
static void hs_add(hash_set *h, uint64_t v) {
  if (v == 0) v = 1;  /* 0 marks an empty slot */
  cr_assert_lt(h->count, h->mask / 2, "hash set too small");
  for (size_t i = v & h->mask;; i = (i + 1) & h->mask) {
    if (h->slot[i] == v) {
      h->duplicates++;
      return;
    }
    if (h->slot[i] == 0) {
      h->slot[i] = v;
      h->count++;
      return;
    }
  }
}

static void collect_hash(sim *m, void *arg) { hs_add(arg, lg_log_hash(&m->log)); }

static double now_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t binomial(unsigned n, unsigned k) {
  if (k > n) return 0;
  uint64_t r = 1;
  for (unsigned i = 1; i <= k; i++) r = r * (n - k + i) / i;
  return r;
}

/* ---- dfs ---------------------------------------------------------------------------- */

/* Test 1: 2 actors x 10 segments have C(20,10) = 184,756 interleavings, each run once. */

Test(sources, dfs_enumerates_every_interleaving_once) {
  sim m = make_sim(2, 10);
  hash_set seen = hs_new(20);
  lg_source *dfs = lg_source_dfs(UINT32_MAX);
  cr_assert_str_eq(dfs->name, "dfs");
  cr_assert_not(lg_source_dfs_done(dfs));
  double t0 = now_seconds();
  uint64_t runs = sim_run_all(&m, dfs, UINT64_MAX, collect_hash, &seen);
  double dt = now_seconds() - t0;
  cr_log_info("dfs 2x10: %llu executions in %.3f s (%.0f exec/s, simulator included)",
              (unsigned long long)runs, dt, (double)runs / dt);
  cr_assert_eq(runs, binomial(20, 10));
  cr_assert_eq(runs, 184756);
  cr_assert_eq(lg_source_dfs_executions(dfs), 184756);
  cr_assert(lg_source_dfs_done(dfs));
  cr_assert_eq(seen.count, 184756, "every decision log distinct");
  cr_assert_eq(seen.duplicates, 0);
  cr_assert_eq(lg_source_dfs_nondeterminism(dfs), 0);
  cr_assert_not(dfs->begin(dfs), "an exhausted search stays exhausted");
  lg_source_free(dfs);
  free(seen.slot);
  lg_log_free(&m.log);
}

/* The number of interleavings of two actors with 10 segments each that take at most b
 * preemptions. An interleaving is a sequence of r >= 2 alternating blocks and takes r - 2
 * preemptions (the last switch happens when an actor has finished). Splitting 10 segments
 * into j non-empty blocks: C(9, j-1) ways. r = 2j: each actor has j blocks, and either may
 * start: 2 C(9,j-1)^2. r = 2j+1: the one that starts has j+1 blocks: 2 C(9,j) C(9,j-1). */
static uint64_t interleavings_with_blocks(unsigned r) {
  unsigned j = r / 2;
  if (r % 2 == 0) return 2 * binomial(9, j - 1) * binomial(9, j - 1);
  return 2 * binomial(9, j) * binomial(9, j - 1);
}

static uint64_t interleavings_within_bound(unsigned b) {
  uint64_t total = 0;
  for (unsigned r = 2; r <= b + 2 && r <= 20; r++) total += interleavings_with_blocks(r);
  return total;
}

typedef struct bound_check {
  hash_set seen;
  unsigned bound, max_preemptions;
} bound_check;

static void check_bound(sim *m, void *arg) {
  bound_check *b = arg;
  hs_add(&b->seen, lg_log_hash(&m->log));
  if (m->preemptions > b->max_preemptions) b->max_preemptions = m->preemptions;
}

/* Test 2: a preemption bound b gives exactly the interleavings with at most b preemptions. */
Test(sources, dfs_preemption_bound_counts_match_the_formula) {
  uint64_t all = 0;
  for (unsigned r = 2; r <= 20; r++) all += interleavings_with_blocks(r);
  cr_assert_eq(all, 184756, "the formula summed over every r is C(20,10)");
  cr_assert_eq(interleavings_within_bound(18), 184756);

  sim m = make_sim(2, 10);
  for (unsigned b = 0; b <= 4; b++) {
    bound_check check = {hs_new(16), b, 0};
    lg_source *dfs = lg_source_dfs(b);
    uint64_t runs = sim_run_all(&m, dfs, UINT64_MAX, check_bound, &check);
    uint64_t want = interleavings_within_bound(b);
    cr_log_info("dfs 2x10 bound %u: %llu executions (formula %llu)", b,
                (unsigned long long)runs, (unsigned long long)want);
    cr_assert_eq(runs, want, "bound %u: %llu executions, formula %llu", b,
                 (unsigned long long)runs, (unsigned long long)want);
    cr_assert_eq(check.seen.duplicates, 0);
    cr_assert_leq(check.max_preemptions, b);
    if (b > 0) cr_assert_eq(check.max_preemptions, b, "the bound is reached");
    cr_assert(lg_source_dfs_done(dfs));
    lg_source_free(dfs);
    free(check.seen.slot);
  }
  cr_assert_eq(interleavings_within_bound(0), 2, "no preemption: one actor, then the other");
  cr_assert_eq(interleavings_within_bound(1), 2 + 2 * 9);
  lg_log_free(&m.log);
}

/* Test 3a: the subtrees under the two first decisions split the search exactly. */
Test(sources, dfs_below_prefixes_split_the_search) {
  sim m = make_sim(2, 10);
  hash_set seen = hs_new(20);
  uint64_t total = 0;
  for (uint32_t first = 0; first < 2; first++) {
    lg_decision_log prefix = {0};
    lg_log_append(&prefix, (lg_decision){LG_CHOICE_SCHEDULE, 0, 2, first});
    lg_source *dfs = lg_source_dfs_below(UINT32_MAX, &prefix);
    uint64_t runs = sim_run_all(&m, dfs, UINT64_MAX, collect_hash, &seen);
    cr_assert_eq(runs, binomial(19, 9), "each half holds C(19,9)");
    cr_assert(lg_source_dfs_done(dfs));
    total += runs;
    lg_source_free(dfs);
    lg_log_free(&prefix);
  }
  cr_assert_eq(total, 184756);
  cr_assert_eq(seen.count, 184756);
  cr_assert_eq(seen.duplicates, 0, "the subtrees are disjoint");

  /* a deeper prefix under bound 2: actor 1 runs one segment, then a preemption to actor 0
   * (one preemption left) */
  lg_decision_log prefix = {0};
  lg_log_append(&prefix, (lg_decision){LG_CHOICE_SCHEDULE, 0, 2, 1});
  lg_log_append(&prefix, (lg_decision){LG_CHOICE_SCHEDULE, 2, 2, 0});
  lg_source *dfs = lg_source_dfs_below(2, &prefix);
  uint64_t runs = sim_run_all(&m, dfs, UINT64_MAX, NULL, NULL);
  cr_assert_eq(runs, 10, "actor 0 runs 1..9 segments then is preempted, or all 10");
  free(seen.slot);
  lg_source_free(dfs);
  lg_log_free(&prefix);
  lg_log_free(&m.log);
}

/* Test 3b: a search resumed from a checkpoint continues exactly where it stopped. */
Test(sources, dfs_resume_from_checkpoint_continues_exactly) {
  sim m = make_sim(2, 10);
  hash_set seen = hs_new(20);
  lg_decision_log checkpoint = {0};

  lg_source *dfs = lg_source_dfs(UINT32_MAX);
  cr_assert_eq(lg_source_dfs_checkpoint(dfs, &checkpoint), 0);
  cr_assert_eq(checkpoint.len, 0, "before the first execution: the whole search");
  uint64_t before = sim_run_all(&m, dfs, 1000, collect_hash, &seen);
  cr_assert_eq(before, 1000);
  cr_assert_eq(lg_source_dfs_checkpoint(dfs, &checkpoint), 0);
  cr_assert_gt(checkpoint.len, 0);
  lg_source_free(dfs);

  /* the checkpoint travels as a schedule string */
  char buf[256];
  size_t need = lg_schedule_format(&checkpoint, buf, sizeof buf);
  cr_assert_lt(need, sizeof buf);
  cr_assert_eq(lg_schedule_parse(buf, need, &checkpoint, NULL, NULL), 0);
  cr_log_info("dfs checkpoint after 1000 executions: %s", buf);

  lg_source *resumed = lg_source_dfs_resume(UINT32_MAX, &checkpoint);
  cr_assert_not_null(resumed);
  uint64_t after = sim_run_all(&m, resumed, UINT64_MAX, collect_hash, &seen);
  cr_assert_eq(before + after, 184756);
  cr_assert_eq(seen.count, 184756);
  cr_assert_eq(seen.duplicates, 0);
  cr_assert(lg_source_dfs_done(resumed));
  cr_assert_eq(lg_source_dfs_checkpoint(resumed, &checkpoint), 1, "done: nothing to resume");
  cr_assert_eq(checkpoint.len, 0);
  lg_source_free(resumed);

  /* the same with a bound, and a checkpoint taken inside an execution (it reruns it) */
  hash_set bounded = hs_new(12);
  dfs = lg_source_dfs(2);
  before = sim_run_all(&m, dfs, 100, collect_hash, &bounded);
  cr_assert(dfs->begin(dfs));
  cr_assert_eq(lg_source_dfs_checkpoint(dfs, &checkpoint), 0);
  lg_source_free(dfs);
  resumed = lg_source_dfs_resume(2, &checkpoint);
  after = sim_run_all(&m, resumed, UINT64_MAX, collect_hash, &bounded);
  cr_assert_eq(before + after, interleavings_within_bound(2));
  cr_assert_eq(bounded.duplicates, 0);
  lg_source_free(resumed);

  free(bounded.slot);
  free(seen.slot);
  lg_log_free(&checkpoint);
  lg_log_free(&m.log);
}

/* A program whose shape depends on how often it ran: dfs notes the nondeterminism and still
 * finishes. */
static void flip_data(sim *m, void *arg) {
  unsigned *runs = arg;
  m->data_every = ++*runs % 2 ? 2 : 0;
}

Test(sources, dfs_notes_nondeterminism_and_still_ends) {
  sim m = make_sim(2, 3);
  lg_source *dfs = lg_source_dfs(UINT32_MAX);
  unsigned runs = 0;
  uint64_t executions = sim_run_all(&m, dfs, 100000, flip_data, &runs);
  cr_assert_lt(executions, 100000, "the search ends");
  cr_assert(lg_source_dfs_done(dfs));
  cr_assert_gt(lg_source_dfs_nondeterminism(dfs), 0);
  cr_log_info("dfs over a flaky 2x3 program: %llu executions, %llu nondeterministic",
              (unsigned long long)executions,
              (unsigned long long)lg_source_dfs_nondeterminism(dfs));
  lg_source_free(dfs);

  /* the deterministic program: no nondeterminism, C(6,3) executions */
  m.data_every = 0;
  dfs = lg_source_dfs(UINT32_MAX);
  cr_assert_eq(sim_run_all(&m, dfs, UINT64_MAX, NULL, NULL), 20);
  cr_assert_eq(lg_source_dfs_nondeterminism(dfs), 0);
  lg_source_free(dfs);
  lg_log_free(&m.log);
}

Test(sources, dfs_with_data_choices_and_three_actors) {
  /* 3 actors x 2 segments: 6!/(2!2!2!) = 90 interleavings; a data choice with 3 options
   * before each of actor 1's two segments multiplies them by 9 */
  sim m = make_sim(3, 2);
  hash_set seen = hs_new(12);
  lg_source *dfs = lg_source_dfs(UINT32_MAX);
  cr_assert_eq(sim_run_all(&m, dfs, UINT64_MAX, collect_hash, &seen), 90);
  lg_source_free(dfs);
  m.data_actor = 1;
  m.data_every = 1;
  dfs = lg_source_dfs(UINT32_MAX);
  cr_assert_eq(sim_run_all(&m, dfs, UINT64_MAX, collect_hash, &seen), 810);
  cr_assert_eq(seen.duplicates, 0);
  lg_source_free(dfs);
  free(seen.slot);
  lg_log_free(&m.log);
}

/* ---- random, replay ----------------------------------------------------------------- */

/* Test 4: random schedules survive format, parse and replay, 100 of 100. */
Test(sources, random_schedules_replay_exactly) {
  sim m = make_sim(4, 25);
  m.data_actor = 2;
  m.data_every = 5;
  lg_decision_log parsed = {0};
  char *buf = malloc(1 << 16);
  unsigned identical = 0;
  for (uint64_t seed = 1; seed <= 100; seed++) {
    lg_source *random = lg_source_random(seed);
    cr_assert_str_eq(random->name, "random");
    cr_assert(random->begin(random));
    sim_run(&m, random);
    lg_source_free(random);

    size_t need = lg_schedule_format(&m.log, buf, 1 << 16);
    cr_assert_lt(need, 1 << 16);
    size_t pos = 0;
    const char *msg = NULL;
    cr_assert_eq(lg_schedule_parse(buf, need, &parsed, &pos, &msg), 0, "seed %llu: %s at %zu",
                 (unsigned long long)seed, msg, pos);

    lg_source *replay = lg_source_replay(&parsed);
    cr_assert(replay->begin(replay));
    uint64_t want_hash = lg_log_hash(&m.log);
    size_t want_len = m.log.len;
    sim_run(&m, replay);
    const lg_divergence *div = lg_source_replay_divergence(replay);
    cr_assert_not_null(div);
    cr_assert_not(div->diverged, "seed %llu diverged at step %llu", (unsigned long long)seed,
                  (unsigned long long)div->step);
    cr_assert_not(replay->begin(replay), "a replay runs once");
    lg_source_free(replay);
    if (lg_log_hash(&m.log) == want_hash && m.log.len == want_len) identical++;
  }
  cr_log_info("random 4x25 schedules: %u of 100 replays identical", identical);
  cr_assert_eq(identical, 100);
  free(buf);
  lg_log_free(&parsed);
  lg_log_free(&m.log);
}

Test(sources, random_execution_depends_only_on_seed_and_index) {
  sim m = make_sim(4, 25);
  uint64_t hashes[10];
  lg_source *random = lg_source_random(77);
  for (int i = 0; i < 10; i++) {
    cr_assert(random->begin(random));
    sim_run(&m, random);
    hashes[i] = lg_log_hash(&m.log);
  }
  lg_source_free(random);
  for (int i = 0; i < 10; i++) {
    lg_source *at = lg_source_random_at(77, (uint64_t)i);
    cr_assert(at->begin(at));
    sim_run(&m, at);
    cr_assert_eq(lg_log_hash(&m.log), hashes[i], "execution %d reruns alone", i);
    lg_source_free(at);
  }
  cr_assert_neq(hashes[0], hashes[1]);
  lg_source *other = lg_source_random(78);
  other->begin(other);
  sim_run(&m, other);
  cr_assert_neq(lg_log_hash(&m.log), hashes[0], "another seed, another schedule");
  lg_source_free(other);
  lg_log_free(&m.log);
}

Test(sources, random_is_uniform_enough) {
  lg_source *random = lg_source_random(5);
  lg_choice c = {.kind = LG_CHOICE_DATA, .n = 3, .current = LG_NO_CURRENT};
  unsigned hits[3] = {0};
  random->begin(random);
  for (int i = 0; i < 30000; i++) hits[random->choose(random, &c)]++;
  for (int i = 0; i < 3; i++) cr_assert(hits[i] > 9500 && hits[i] < 10500, "%u", hits[i]);
  lg_source_free(random);
}

/* Test 7: a log replayed against another program reports the first mismatching decision. */
Test(sources, replay_reports_the_first_divergence) {
  /* record: 2 actors x 3 segments, alternating; decisions s0/2=0 s1/2=1 s2/2=0 s1/2=1 s2/2=0 */
  sim m = make_sim(2, 3);
  const uint8_t alternate[] = {0, 1, 0, 1, 0};
  lg_source *bytes = lg_source_bytes(alternate, sizeof alternate);
  bytes->begin(bytes);
  sim_run(&m, bytes);
  lg_source_free(bytes);
  char buf[128];
  lg_schedule_format(&m.log, buf, sizeof buf);
  cr_assert_str_eq(buf, "lgs1:s0/2=0,s1/2=1,s2/2=0,s1/2=1,s2/2=0");
  lg_decision_log recorded = {0};
  cr_assert_eq(lg_schedule_parse(buf, strlen(buf), &recorded, NULL, NULL), 0);

  /* the same program: no divergence */
  lg_source *replay = lg_source_replay(&recorded);
  cr_assert_str_eq(replay->name, "replay");
  replay->begin(replay);
  sim_run(&m, replay);
  cr_assert_not(lg_source_replay_divergence(replay)->diverged);
  lg_source_free(replay);

  /* actor 1 now makes a data choice before its second segment: step 4 is that choice */
  m.data_actor = 1;
  m.data_every = 2;
  replay = lg_source_replay(&recorded);
  replay->begin(replay);
  sim_run(&m, replay);
  const lg_divergence *div = lg_source_replay_divergence(replay);
  cr_assert(div->diverged);
  cr_assert_eq(div->step, 4);
  cr_assert_eq(div->expected.kind, LG_CHOICE_SCHEDULE);
  cr_assert_eq(div->expected.site, 2);
  cr_assert_eq(div->expected.n, 2);
  cr_assert_eq(div->expected.idx, 0);
  cr_assert_eq(div->actual.kind, LG_CHOICE_DATA);
  cr_assert_eq(div->actual.site, SIM_DATA_SITE);
  cr_assert_eq(div->actual.n, 3);
  cr_assert_eq(div->actual.idx, 0, "the logged index was taken: it fits");
  cr_assert_eq(m.log.d[4].idx, 0);
  lg_source_free(replay);

  /* a third actor: the very first decision has 3 options */
  m = (sim){.nactors = 3, .segments = {3, 3, 1}, .log = m.log};
  replay = lg_source_replay(&recorded);
  replay->begin(replay);
  sim_run(&m, replay);
  div = lg_source_replay_divergence(replay);
  cr_assert(div->diverged);
  cr_assert_eq(div->step, 0);
  cr_assert_eq(div->expected.n, 2);
  cr_assert_eq(div->actual.n, 3);
  cr_assert_eq(div->actual.kind, LG_CHOICE_SCHEDULE);
  cr_assert_eq(div->actual.site, 0);
  lg_source_free(replay);

  cr_assert_null(lg_source_replay_divergence(NULL));
  lg_source *random = lg_source_random(1);
  cr_assert_null(lg_source_replay_divergence(random), "not a replay source");
  lg_source_free(random);
  lg_log_free(&recorded);
  lg_log_free(&m.log);
}

Test(sources, replay_past_the_end_does_not_preempt) {
  sim m = make_sim(2, 5);
  lg_decision_log two = {0};
  lg_log_append(&two, (lg_decision){LG_CHOICE_SCHEDULE, 0, 2, 1});
  lg_log_append(&two, (lg_decision){LG_CHOICE_SCHEDULE, 2, 2, 0});
  lg_source *replay = lg_source_replay(&two);
  lg_log_free(&two);  /* the source keeps its own copy */
  replay->begin(replay);
  sim_run(&m, replay);
  const unsigned want[] = {1, 0, 0, 0, 0, 0, 1, 1, 1, 1};
  for (unsigned i = 0; i < 10; i++) cr_assert_eq(m.trace[i], want[i], "segment %u", i);
  cr_assert_eq(m.preemptions, 1);
  cr_assert_not(lg_source_replay_divergence(replay)->diverged);
  lg_source_free(replay);
  lg_log_free(&m.log);
}

/* ---- bytes ------------------------------------------------------------------------ */

/* Test 6: the bytes source. */
Test(sources, bytes_empty_input_never_preempts) {
  sim m = make_sim(4, 25);
  m.data_actor = 3;
  m.data_every = 4;
  lg_source *bytes = lg_source_bytes(NULL, 0);
  cr_assert_str_eq(bytes->name, "bytes");
  cr_assert(bytes->begin(bytes));
  sim_run(&m, bytes);
  cr_assert_eq(m.preemptions, 0);
  for (unsigned i = 0; i < 100; i++) cr_assert_eq(m.trace[i], i / 25, "actors run in id order");
  for (size_t i = 0; i < m.log.len; i++)
    if (m.log.d[i].kind == LG_CHOICE_DATA) cr_assert_eq(m.log.d[i].idx, 0, "data: option 0");
  cr_assert_not(bytes->begin(bytes), "one execution only");
  lg_source_free(bytes);
  lg_log_free(&m.log);
}

Test(sources, bytes_force_an_interleaving) {
  sim m = make_sim(3, 2);
  /* wanted order: 2 0 1 1 2 0. Options and current at each decision:
   *   {0,1,2} none -> idx 2 (byte 5: 5 % 3)   {0,1,2} cur 2 -> idx 0 (byte 3)
   *   {0,1,2} cur 0 -> idx 1 (byte 1)         {0,1,2} cur 1 -> idx 1 (byte 4)
   *   {0,2}   none  -> idx 1 (byte 1)         then only actor 0 is left */
  const uint8_t input[] = {5, 3, 1, 4, 1};
  lg_source *bytes = lg_source_bytes(input, sizeof input);
  bytes->begin(bytes);
  sim_run(&m, bytes);
  const unsigned want[] = {2, 0, 1, 1, 2, 0};
  for (unsigned i = 0; i < 6; i++) cr_assert_eq(m.trace[i], want[i], "segment %u", i);
  cr_assert_eq(m.log.len, 5);
  cr_assert_eq(m.preemptions, 2, "2 -> 0 and 0 -> 1 preempt; 1 -> 2 follows a finished actor");
  lg_source_free(bytes);
  lg_log_free(&m.log);
}

Test(sources, bytes_exhausted_midway_go_on_without_preemption) {
  sim m = make_sim(2, 5);
  const uint8_t input[] = {1, 0};  /* actor 1 first, then a preemption to actor 0 */
  lg_source *bytes = lg_source_bytes(input, sizeof input);
  bytes->begin(bytes);
  sim_run(&m, bytes);
  const unsigned want[] = {1, 0, 0, 0, 0, 0, 1, 1, 1, 1};
  for (unsigned i = 0; i < 10; i++) cr_assert_eq(m.trace[i], want[i], "segment %u", i);
  cr_assert_eq(m.preemptions, 1, "only the one the bytes asked for");
  lg_source_free(bytes);

  /* more options than a byte can name: b % n */
  bytes = lg_source_bytes((const uint8_t[]){255}, 1);
  bytes->begin(bytes);
  lg_choice c = {.kind = LG_CHOICE_SCHEDULE, .n = 1000, .current = 7};
  cr_assert_eq(bytes->choose(bytes, &c), 255);
  cr_assert_eq(bytes->choose(bytes, &c), 7, "exhausted: the running actor");
  c.kind = LG_CHOICE_DATA;
  c.current = LG_NO_CURRENT;
  cr_assert_eq(bytes->choose(bytes, &c), 0);
  lg_source_free(bytes);
  lg_log_free(&m.log);
}

/* ---- pct ---------------------------------------------------------------------------- */

/* Test 5. The planted bug fires iff A = (actor 1, segment 5) ran before B = (actor 0,
 * segment 20) and B ran before C = (actor 1, segment 6): actor 0 has to reach segment 20
 * exactly in the window between two consecutive segments of actor 1. Two ordering
 * constraints (A < B, B < C): the bug's depth is d = 2. It takes a preemption of actor 1
 * between A and C, so the no-preemption schedule (actors in id order: B long before A) never
 * shows it. Under PCT it takes actor 1 ranking above actor 0 (1 in 2) and the one change
 * point falling on the decision right after A (1 in k): about 1/(2k) per run. PCT's bound
 * with n = 4 actors and k = 100 steps is 1/(n k^(d-1)) = 1/400 per run, so at most 400 runs
 * expected, and 400 ln(100) = 1,842 runs miss with probability (1 - 1/400)^1842 < 1%. */
#define PCT_RUN_LIMIT 1842

static bool window_bug(const sim *m) {
  return m->at[1][5] < m->at[0][20] && m->at[0][20] < m->at[1][6];
}

/* Runs until the bug fires; returns the runs it took, 0 when not within `limit`. */
static uint64_t runs_to_find(lg_source *src, sim *m, uint64_t limit) {
  for (uint64_t run = 1; run <= limit; run++) {
    if (!src->begin(src)) return 0;
    sim_run(m, src);
    if (window_bug(m)) return run;
  }
  return 0;
}

Test(sources, pct_finds_a_depth_2_bug_within_its_bound) {
  sim m = make_sim(4, 25);

  /* the bug is not reachable without preemption */
  lg_source *bytes = lg_source_bytes(NULL, 0);
  cr_assert_eq(runs_to_find(bytes, &m, 1), 0);
  cr_assert_eq(m.preemptions, 0);
  lg_source_free(bytes);

  lg_source *pct = lg_source_pct(2024, 2, 100);
  cr_assert_str_eq(pct->name, "pct");
  uint64_t runs = runs_to_find(pct, &m, PCT_RUN_LIMIT);
  cr_log_info("pct d=2 k=100 seed 2024: found the depth-2 bug after %llu runs (bound: 400 "
              "expected, 1842 for 99%%)",
              (unsigned long long)runs);
  cr_assert_gt(runs, 0, "not found within %d runs", PCT_RUN_LIMIT);
  lg_source_free(pct);

  /* the same figure over many seeds, for PCT (given and learned k) and random */
  enum { SEEDS = 50 };
  uint64_t random_limit = 1000000;
  double sum_pct = 0, sum_learn = 0, sum_random = 0;
  unsigned found_pct = 0, found_learn = 0, found_random = 0;
  for (uint64_t seed = 1; seed <= SEEDS; seed++) {
    lg_source *p = lg_source_pct(seed, 2, 100);
    uint64_t r = runs_to_find(p, &m, PCT_RUN_LIMIT);
    if (r) found_pct++, sum_pct += (double)r;
    lg_source_free(p);
    p = lg_source_pct(seed, 2, 0);
    r = runs_to_find(p, &m, PCT_RUN_LIMIT);
    if (r) found_learn++, sum_learn += (double)r;
    lg_source_free(p);
    lg_source *rnd = lg_source_random(seed);
    r = runs_to_find(rnd, &m, random_limit);
    if (r) found_random++, sum_random += (double)r;
    lg_source_free(rnd);
  }
  cr_log_info("window bug over %d seeds: pct(d=2,k=100) found %u, mean %.1f runs; "
              "pct(d=2,k learned) found %u, mean %.1f runs; random found %u, mean %.1f runs",
              SEEDS, found_pct, found_pct ? sum_pct / found_pct : 0.0, found_learn,
              found_learn ? sum_learn / found_learn : 0.0, found_random,
              found_random ? sum_random / found_random : 0.0);
  cr_assert_geq(found_pct, SEEDS - 2, "PCT misses at most ~1%% of seeds");
  lg_log_free(&m.log);
}

Test(sources, pct_learning_run_and_determinism) {
  sim m = make_sim(4, 25);
  lg_source *a = lg_source_pct(9, 3, 0);
  lg_source *b = lg_source_pct(9, 3, 0);
  cr_assert(a->begin(a));
  sim_run(&m, a);
  cr_assert_eq(m.preemptions, 0, "the learning run has no change point");
  uint64_t preempting = 0;
  for (int i = 0; i < 200; i++) {
    cr_assert(a->begin(a));
    sim_run(&m, a);
    uint64_t h = lg_log_hash(&m.log);
    preempting += m.preemptions > 0;
    cr_assert_leq(m.preemptions, 2, "d = 3: at most 2 change points");
    if (i == 0) {
      b->begin(b);
      sim_run(&m, b);
    }
    b->begin(b);
    sim_run(&m, b);
    cr_assert_eq(lg_log_hash(&m.log), h, "same seed, same execution %d", i + 1);
  }
  cr_assert_gt(preempting, 50, "change points do preempt");
  lg_source_free(a);
  lg_source_free(b);

  /* depth 1: priorities only, never a preemption; depth 0 is refused */
  lg_source *d1 = lg_source_pct(3, 1, 0);
  for (int i = 0; i < 20; i++) {
    d1->begin(d1);
    sim_run(&m, d1);
    cr_assert_eq(m.preemptions, 0);
  }
  lg_source_free(d1);
  cr_assert_null(lg_source_pct(3, 0, 10));

  /* data choices are uniform and do not move the schedule */
  m.data_actor = 1;
  m.data_every = 3;
  lg_source *p = lg_source_pct(11, 2, 50);
  lg_source *q = lg_source_pct(11, 2, 50);
  sim n = make_sim(4, 25);
  for (int i = 0; i < 20; i++) {
    p->begin(p);
    sim_run(&m, p);
    q->begin(q);
    sim_run(&n, q);
    cr_assert_eq(memcmp(m.trace, n.trace, sizeof m.trace), 0, "execution %d", i);
  }
  lg_source_free(p);
  lg_source_free(q);
  lg_log_free(&m.log);
  lg_log_free(&n.log);
}

/* ---- portfolio ---------------------------------------------------------------------- */

/* A source that notes when it is asked, and runs `left` executions. */
typedef struct tag_source {
  lg_source base;
  int tag, left, ended;
  int *order;
  size_t *norder;
} tag_source;

static bool tag_begin(lg_source *s) {
  tag_source *t = (tag_source *)s;
  if (t->left == 0) return false;
  t->left--;
  t->order[(*t->norder)++] = t->tag;
  return true;
}
static uint32_t tag_choose(lg_source *s, const lg_choice *c) {
  return (uint32_t)((tag_source *)s)->tag % c->n;
}
static void tag_end(lg_source *s, lg_verdict v) { ((tag_source *)s)->ended++; }
static int tag_destroyed;
static void tag_destroy(lg_source *s) {
  tag_destroyed++;
  free(s);
}

static lg_source *tag_new(int tag, int left, int *order, size_t *norder) {
  tag_source *t = calloc(1, sizeof *t);
  t->base = (lg_source){"tag", tag_begin, tag_choose, tag_end, tag_destroy};
  t->tag = tag;
  t->left = left;
  t->order = order;
  t->norder = norder;
  return &t->base;
}

/* Test 9a: members take turns; one that is done drops out; done when all are. */
Test(sources, portfolio_round_robin) {
  int order[32];
  size_t norder = 0;
  lg_source *members[] = {tag_new(0, 3, order, &norder), tag_new(1, 1, order, &norder),
                          tag_new(2, 2, order, &norder)};
  tag_source *first = (tag_source *)members[0];
  lg_source *p = lg_source_portfolio(members, 3);
  cr_assert_str_eq(p->name, "portfolio");
  lg_choice c = {.kind = LG_CHOICE_SCHEDULE, .n = 5, .current = LG_NO_CURRENT};
  uint32_t chosen[8];
  int runs = 0;
  while (p->begin(p)) {
    chosen[runs] = p->choose(p, &c);
    p->end(p, LG_VERDICT_OK);
    runs++;
    cr_assert_lt(runs, 8);
  }
  const int want[] = {0, 1, 2, 0, 2, 0};
  cr_assert_eq(runs, 6);
  cr_assert_eq(norder, 6);
  for (int i = 0; i < 6; i++) {
    cr_assert_eq(order[i], want[i], "execution %d went to member %d", i, order[i]);
    cr_assert_eq(chosen[i], (uint32_t)want[i], "choose() goes to the member that runs");
  }
  cr_assert_eq(first->ended, 3, "end() goes to the member that ran");
  cr_assert_not(p->begin(p), "done stays done");
  tag_destroyed = 0;
  lg_source_free(p);
  cr_assert_eq(tag_destroyed, 3, "the portfolio owns its members");

  lg_source *empty = lg_source_portfolio(NULL, 0);
  cr_assert_not(empty->begin(empty));
  lg_source_free(empty);
}

/* Test 9b: a dfs member that has finished its search drops out; the others go on. */
Test(sources, portfolio_drops_a_finished_dfs) {
  sim m = make_sim(2, 2);
  lg_source *dfs = lg_source_dfs(UINT32_MAX);
  lg_source *members[] = {dfs, lg_source_random(3)};
  lg_source *p = lg_source_portfolio(members, 2);
  hash_set seen = hs_new(8);
  uint64_t dfs_runs_before = 0;
  for (int i = 0; i < 20; i++) {
    cr_assert(p->begin(p));
    sim_run(&m, p);
    uint64_t dfs_runs = lg_source_dfs_executions(dfs);
    bool dfs_ran = dfs_runs != dfs_runs_before;
    dfs_runs_before = dfs_runs;
    /* 2x2 has C(4,2) = 6 interleavings: dfs runs executions 0, 2, ..., 10 */
    cr_assert_eq(dfs_ran, i % 2 == 0 && i < 12, "execution %d", i);
    if (dfs_ran) hs_add(&seen, lg_log_hash(&m.log));
  }
  cr_assert_eq(lg_source_dfs_executions(dfs), 6);
  cr_assert(lg_source_dfs_done(dfs));
  cr_assert_eq(seen.count, 6);
  free(seen.slot);
  lg_source_free(p);
  lg_log_free(&m.log);
}

/* Iterative bounding: schedules with fewer preemptions first, and in the end every one. */
Test(sources, dfs_iterative_bounding_covers_everything_fewest_preemptions_first) {
  sim m = make_sim(2, 6);
  hash_set seen = hs_new(16);
  lg_source *icb = lg_source_dfs_iterative();
  cr_assert_str_eq(icb->name, "dfs");
  uint64_t runs = 0, first_with_one = 0;
  unsigned max_seen = 0;
  bool order_ok = true;
  while (icb->begin(icb)) {
    sim_run(&m, icb);
    runs++;
    hs_add(&seen, lg_log_hash(&m.log));
    if (m.preemptions == 1 && !first_with_one) first_with_one = runs;
    if (m.preemptions > lg_source_dfs_iterative_bound(icb)) order_ok = false;
    if (m.preemptions > max_seen) max_seen = m.preemptions;
  }
  cr_assert(order_ok, "no execution exceeds the bound of its search");
  cr_assert_gt(first_with_one, 2, "bound 0's two schedules (no preemption) come first");
  cr_assert_eq(seen.count, binomial(12, 6), "every interleaving, once the bound cuts nothing");
  cr_assert_eq(max_seen, 10, "up to 2*6-2 preemptions");
  cr_assert_gt(runs, seen.count, "lower bounds are repeated");
  cr_assert_not(icb->begin(icb), "finished stays finished");
  lg_source_free(icb);
  free(seen.slot);
  lg_log_free(&m.log);
}

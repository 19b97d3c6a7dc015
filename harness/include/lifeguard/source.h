/* Decision sources: where lg_sched's choices come from. One interface for fuzz bytes, seeded
 * random, PCT, bounded exhaustive search, replay, and portfolios of them.
 *
 * The scheduler calls begin() before each execution, choose() at every decision (only when
 * there are two options or more), and end() after the execution. */
#ifndef LIFEGUARD_SOURCE_H
#define LIFEGUARD_SOURCE_H

#if defined(LG_LAYER) && !defined(LG_LAYER_SEES_SOURCES)
#error "a sources-layer header, in a layer not above it (harness/CMakeLists.txt)"
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <lifeguard/schedule.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LG_NO_CURRENT UINT32_MAX

typedef struct lg_choice {
  lg_choice_kind kind;
  uint16_t site;
  uint32_t n;            /* options, >= 2 */
  /* SCHEDULE: index (among the options) of the actor that was running and can go on; taking
   * any other option is a preemption. LG_NO_CURRENT when that actor blocked or finished.
   * DATA: LG_NO_CURRENT; option 0 is the default ("nothing unusual"). */
  uint32_t current;
  /* SCHEDULE: the options' actor ids, ascending (an id is the actor's spawn order in this
   * execution, 0 = the first root). NULL for DATA. */
  const uint32_t *actors;
  uint64_t step;         /* 0-based index of this decision within the execution */
} lg_choice;

/* How an execution ended, as told to end(). */
typedef enum lg_verdict {
  LG_VERDICT_OK = 0,       /* every actor finished */
  LG_VERDICT_DEADLOCK,     /* every actor blocked */
  LG_VERDICT_LIVELOCK,     /* the step budget ran out */
  LG_VERDICT_FAULT,        /* a detector reported (when the process survives reports) */
} lg_verdict;

typedef struct lg_source lg_source;
struct lg_source {
  const char *name;  /* "bytes", "random", "pct", "dfs", "replay", "portfolio" */
  /* Prepares the next execution. Returns true to run it, false when there is nothing left
   * (a finished search, a replay already run). */
  bool (*begin)(lg_source *s);
  /* Picks an option: returns an index < c->n. */
  uint32_t (*choose)(lg_source *s, const lg_choice *c);
  void (*end)(lg_source *s, lg_verdict v);
  void (*destroy)(lg_source *s);
};

/* ---- the sources ------------------------------------------------------------------- */

/* Fuzz bytes: each decision reads one byte b and takes b % n. When the bytes run out, the
 * running actor goes on (no preemption; option 0 if there is none, and for data choices), so
 * a shorter input means fewer preemptions. One execution only. The bytes are not copied:
 * they must outlive the source. */
lg_source *lg_source_bytes(const uint8_t *data, size_t len);

/* Seeded random: uniform over the options; execution i uses a stream derived from (seed, i),
 * so any execution can be rerun alone with lg_source_random_at(seed, i). Endless. */
lg_source *lg_source_random(uint64_t seed);
lg_source *lg_source_random_at(uint64_t seed, uint64_t execution);

/* PCT with depth d (d >= 1): random actor priorities, d-1 priority change points drawn
 * uniformly among the first `k` schedule decisions. k = 0 learns it: the first execution runs
 * without change points and counts its schedule decisions. The highest-priority option runs;
 * at a change point the running actor drops below every initial priority. Data choices are
 * uniform random. Endless; execution i depends only on (seed, i). */
lg_source *lg_source_pct(uint64_t seed, unsigned depth, uint64_t k);

/* Bounded exhaustive search: depth-first over every decision sequence, allowing at most
 * `preemption_bound` preemptions per execution (UINT32_MAX = no bound). begin() returns false
 * once the tree is exhausted. */
lg_source *lg_source_dfs(uint32_t preemption_bound);
/* The same search restricted to the executions whose first decisions are `prefix` (the
 * subtree below it): disjoint prefixes split a search across processes. */
lg_source *lg_source_dfs_below(uint32_t preemption_bound, const lg_decision_log *prefix);
/* Executions run so far, and whether the search is exhausted. */
uint64_t lg_source_dfs_executions(const lg_source *s);
bool lg_source_dfs_done(const lg_source *s);
/* A checkpoint: the decisions of the next execution to run, as a log. Restarting with
 * lg_source_dfs_resume(bound, checkpoint) continues the search exactly where it stopped. */
int lg_source_dfs_checkpoint(const lg_source *s, lg_decision_log *out);
lg_source *lg_source_dfs_resume(uint32_t preemption_bound, const lg_decision_log *checkpoint);

/* Iterative preemption bounding: the whole search with bound 0, then 1, 2, ... until the
 * bound cuts nothing (then every schedule has run; begin() returns false). Schedules with
 * few preemptions come first; each search repeats the one before it. */
lg_source *lg_source_dfs_iterative(void);
/* The bound of the search running now. */
uint32_t lg_source_dfs_iterative_bound(const lg_source *s);

/* Replay: takes the logged decisions in order (one execution). Past the end of the log it
 * behaves like exhausted bytes (no preemption). The first decision whose kind, site or n
 * differ from the log is a divergence: the logged index is still taken when it fits. */
lg_source *lg_source_replay(const lg_decision_log *log);
typedef struct lg_divergence {
  bool diverged;
  uint64_t step;         /* index of the first mismatching decision */
  lg_decision expected;  /* from the log */
  lg_decision actual;    /* kind, site, n as asked this time (idx = what was taken) */
} lg_divergence;
const lg_divergence *lg_source_replay_divergence(const lg_source *s);

/* The failure-injection bound a replay source's string carries (its "i" token; 0: none). A
 * replay runs with it whatever the option inject_max says, so that it asks the same failure
 * decisions as the execution it replays. UINT32_MAX when `s` is not a replay source. */
uint32_t lg_source_replay_inject_max(const lg_source *s);

/* Portfolio: round-robin over `n` sources, one execution each in turn; a member that is done
 * drops out. Takes ownership of the members. */
lg_source *lg_source_portfolio(lg_source **members, size_t n);

/* Frees any source. */
void lg_source_free(lg_source *s);

#ifdef __cplusplus
}
#endif
#endif

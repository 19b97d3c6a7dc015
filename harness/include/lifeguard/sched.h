/* SPDX-License-Identifier: MIT */
/* lg_sched: controlled scheduling of actors, and the thread layer they use.
 *
 * An execution runs a set of root actors, and whatever they spawn, one at a time on fibers of
 * the calling thread. Every thread-layer call (spawn, join, mutex, condition variable, atomic
 * read-modify-write, yield, sleep, poll) is a scheduling point: a decision source picks which
 * runnable actor goes on. Data choices (lg_choose) come from the same source. Time is virtual
 * and advances only when nothing can run. All blocked = deadlock; too many points = livelock;
 * both are reported in lifeguard's report format with the schedule string.
 *
 * The same calls run free outside a controlled execution, or in LG_SCHED_FREE mode: actors are
 * pthreads, locks are pthread locks and the OS schedules (the stress baseline). */
#ifndef LIFEGUARD_SCHED_H
#define LIFEGUARD_SCHED_H

#if defined(LG_LAYER) && !defined(LG_LAYER_SEES_SCHED)
#error "a sched-layer header, in a layer not above it (harness/CMakeLists.txt)"
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

#include <lifeguard/schedule.h>
#include <lifeguard/source.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- sites -------------------------------------------------------------------------- */

typedef uint16_t lg_site;

/* A static id for a call site (never a return address, which moves under PIE): a nonzero
 * hash of the file's base name and the line. */
lg_site lg_site_id(const char *file, int line);

/* The site of the line it is written on, computed once. */
#define LG_SITE()                                                               \
  (__extension__({                                                              \
    static lg_site lg__site_;                                                   \
    if (__builtin_expect(lg__site_ == 0, 0)) lg__site_ = lg_site_id(__FILE__, __LINE__); \
    lg__site_;                                                                  \
  }))

/* ---- executions --------------------------------------------------------------------- */

typedef struct lg_actor lg_actor;
typedef void (*lg_actor_fn)(void *arg);

typedef enum lg_sched_mode { LG_SCHED_CONTROLLED = 0, LG_SCHED_FREE } lg_sched_mode;

typedef struct lg_root {
  lg_actor_fn fn;
  void *arg;
  const char *name;
} lg_root;

typedef struct lg_exec_opts {
  lg_sched_mode mode;
  uint64_t step_budget; /* scheduling points per execution before livelock; 0 = 1,000,000 */
  size_t stack_size;    /* per actor; 0 = 256 KiB */
  uint64_t seed;        /* free mode: seed of the data choices */
  uint32_t inject_max;  /* failure injection's bound (0: the inject_max option); a replay
                           source's string says its own */
} lg_exec_opts;

typedef struct lg_exec_result {
  lg_verdict verdict;
  uint64_t points;             /* scheduling points passed */
  uint64_t virtual_ns;         /* virtual time at the end */
  unsigned actors;             /* actors that took part */
  const lg_decision_log *log;  /* the decisions; valid until the next execution */
} lg_exec_result;

/* Runs one execution of `roots` (at most 64 actors in all): begin() on the source, the actors,
 * end(). Returns false, running nothing, when the source has nothing left. In free mode the
 * source is not asked (pass NULL) and the roots are pthreads, joined before returning. */
bool lg_sched_execute(const lg_exec_opts *o, lg_source *src, const lg_root *roots,
                      size_t nroots, lg_exec_result *res);

/* True while this thread runs a controlled execution's actor. */
bool lg_sched_controlled(void);

/* A number for the running controlled execution (1, 2, ...; 0 when none runs). Each
 * execution is a process lifetime in the model: state that outlives it in real memory (a
 * pinned module's statics) can tell that the actors it knew ended with an earlier one. */
uint64_t lg_sched_execution_id(void);

/* The schedule string of this thread's current (or last) controlled execution. */
const char *lg_sched_schedule_string(void);

/* Called once a crash is certain, before the process dies: with the text of an
 * AddressSanitizer report, or with NULL from a fatal signal (SIGSEGV, SIGABRT, ...; then only
 * async-signal-safe calls are allowed). Installs the crash writers (which print the running
 * execution's schedule) even when no controlled execution ever runs. */
typedef void (*lg_crash_hook)(const char *asan_report);
void lg_sched_set_crash_hook(lg_crash_hook fn);

/* ---- the thread layer (each call is a scheduling point) ----------------------------- */

lg_actor *lg_spawn_at(lg_actor_fn fn, void *arg, const char *name, lg_site site);
void lg_join_at(lg_actor *a, lg_site site);  /* waits for `a` to finish and forgets it */
/* Gives up joining `a`: the execution may end while it still runs or waits, the way a
 * process's exit ends threads nobody joined (a static runtime's workers). Free-running,
 * the thread is detached. `a` must not be used afterwards. */
void lg_detach(lg_actor *a);
void lg_yield_at(lg_site site);
void lg_poll_point_at(lg_site site);         /* the reactor calls this around its wait */

typedef struct lg_mutex {
  pthread_mutex_t pm;   /* free mode */
  lg_actor *owner;      /* controlled mode */
  uint32_t last_owner;  /* controlled mode: id + 1 of the previous owner (coverage) */
  uint64_t owner_execution; /* controlled mode: the execution `owner` belongs to */
} lg_mutex;
#define LG_MUTEX_INIT {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0}
void lg_mutex_init(lg_mutex *m);
void lg_mutex_destroy(lg_mutex *m);
void lg_mutex_lock_at(lg_mutex *m, lg_site site);
void lg_mutex_unlock_at(lg_mutex *m, lg_site site);

typedef struct lg_cond {
  pthread_cond_t pc;    /* free mode (CLOCK_MONOTONIC) */
} lg_cond;
void lg_cond_init(lg_cond *c);
void lg_cond_destroy(lg_cond *c);
void lg_cond_wait_at(lg_cond *c, lg_mutex *m, lg_site site);
/* Waits at most `ns` nanoseconds (virtual time when controlled); returns 0 or ETIMEDOUT. */
int lg_cond_timedwait_at(lg_cond *c, lg_mutex *m, uint64_t ns, lg_site site);
void lg_cond_signal_at(lg_cond *c, lg_site site);    /* which waiter wakes is a decision */
void lg_cond_broadcast_at(lg_cond *c, lg_site site);

/* Sequentially consistent atomics, each a scheduling point before the access. */
uint64_t lg_atomic_load_at(const uint64_t *p, lg_site site);
void lg_atomic_store_at(uint64_t *p, uint64_t v, lg_site site);
uint64_t lg_atomic_fetch_add_at(uint64_t *p, uint64_t v, lg_site site);
uint64_t lg_atomic_fetch_sub_at(uint64_t *p, uint64_t v, lg_site site);
uint64_t lg_atomic_exchange_at(uint64_t *p, uint64_t v, lg_site site);
bool lg_atomic_cas_at(uint64_t *p, uint64_t *expected, uint64_t desired, lg_site site);

void lg_sleep_at(uint64_t ns, lg_site site); /* virtual time when controlled */
uint64_t lg_now(void);                       /* ns: virtual when controlled, else monotonic */

/* A data choice among n options (e.g. which ready event goes first, a short read): returns
 * an index < n; n <= 1 returns 0 and is not a decision. Free-running: uniform random. */
uint32_t lg_choose_at(uint32_t n, lg_site site);

/* ---- failure injection --------------------------------------------------------------- */

/* A call that can fail in `nfail` ways is about to be made at `site`. Returns 0 to make the
 * real call, or i in 1..nfail to fail it the i-th way instead. It is a decision (kind
 * LG_CHOICE_FAIL, "f" in the schedule string, n = nfail + 1) only inside a controlled
 * execution whose bound (option inject_max, or a replayed string's "i" token) is not spent;
 * otherwise it returns 0 and decides nothing, so with injection off (the default) nothing
 * changes and free-running nothing is injected. */
uint32_t lg_inject_at(uint32_t nfail, lg_site site);
/* (Inside an execution of lg_check's fork mode, the check's thread control decides
 * instead, with the check's bound: the same call works in both.) */
/* The failures injected so far in this thread's current (or last) controlled execution. */
uint32_t lg_inject_count(void);

#define lg_spawn(fn, arg, name) lg_spawn_at((fn), (arg), (name), LG_SITE())
#define lg_join(a) lg_join_at((a), LG_SITE())
#define lg_yield() lg_yield_at(LG_SITE())
#define lg_poll_point() lg_poll_point_at(LG_SITE())
#define lg_mutex_lock(m) lg_mutex_lock_at((m), LG_SITE())
#define lg_mutex_unlock(m) lg_mutex_unlock_at((m), LG_SITE())
#define lg_cond_wait(c, m) lg_cond_wait_at((c), (m), LG_SITE())
#define lg_cond_timedwait(c, m, ns) lg_cond_timedwait_at((c), (m), (ns), LG_SITE())
#define lg_cond_signal(c) lg_cond_signal_at((c), LG_SITE())
#define lg_cond_broadcast(c) lg_cond_broadcast_at((c), LG_SITE())
#define lg_atomic_load(p) lg_atomic_load_at((p), LG_SITE())
#define lg_atomic_store(p, v) lg_atomic_store_at((p), (v), LG_SITE())
#define lg_atomic_fetch_add(p, v) lg_atomic_fetch_add_at((p), (v), LG_SITE())
#define lg_atomic_fetch_sub(p, v) lg_atomic_fetch_sub_at((p), (v), LG_SITE())
#define lg_atomic_exchange(p, v) lg_atomic_exchange_at((p), (v), LG_SITE())
#define lg_atomic_cas(p, e, d) lg_atomic_cas_at((p), (e), (d), LG_SITE())
#define lg_sleep(ns) lg_sleep_at((ns), LG_SITE())
#define lg_choose(n) lg_choose_at((n), LG_SITE())
#define lg_inject(nfail) lg_inject_at((nfail), LG_SITE())

#ifdef __cplusplus
}
#endif
#endif

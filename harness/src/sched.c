/* SPDX-License-Identifier: MIT */
/* lg_sched: executions of actors on fibers, one decision at every scheduling point. */
#define _GNU_SOURCE
#include "sched_internal.h"
#include "signal_internal.h"
#include "report_internal.h"
#include "stack_internal.h"

#include <lifeguard/report.h>
#include <lifeguard/sched.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fiber.h"
#include "options.h"
#include "source_internal.h"

#define MAX_ACTORS 64
#define DEFAULT_BUDGET 1000000
#define DEFAULT_STACK (256 * 1024)
#define NEVER UINT64_MAX

typedef enum { RUNNABLE, BLOCKED, DONE } actor_state;
typedef enum { WAIT_NONE, WAIT_MUTEX, WAIT_COND, WAIT_JOIN, WAIT_SLEEP } wait_kind;

struct lg_actor {
  uint32_t id;              /* spawn order in this execution */
  const char *name;         /* name_buf: the caller's string may live in a module that goes */
  char name_buf[32];
  lg_actor_fn fn;
  void *arg;
  actor_state state;
  wait_kind waiting;        /* what a BLOCKED actor waits for */
  const void *wait_obj;
  void *wait_frame;         /* the thread-layer frame it blocked in: its stack, for a
                               deadlock report, is read from there only if one is made */
  uint64_t wake_at;         /* virtual deadline of a timed wait, NEVER if none */
  bool timed_out;
  lg_site resume_site;      /* the point it is suspended at (coverage) */
  lg__ctx ctx;              /* controlled mode */
  pthread_t thread;         /* free mode */
  bool free_mode;
  bool detached;            /* the execution may end without it (lg_detach) */
  uint32_t free_state;      /* free mode: bit 0 finished, bit 1 detached (last one frees) */
};

/* One controlled execution (per thread; fibers never leave their thread). */
typedef struct sched {
  bool running;
  lg_source *src;
  lg_actor actors[MAX_ACTORS];
  uint32_t nactors;
  lg_actor *current;        /* NULL while the thread's own context runs */
  lg__ctx thread_ctx;
  bool thread_ctx_ready;
  size_t stack_size;
  uint64_t points, budget, now;
  lg_verdict verdict;
  lg_decision_log log;
  uint32_t inject_max;      /* failures this execution may see (0: injection off) */
  uint32_t injected;        /* failures injected so far */
  uint64_t execution;       /* executions begun on this thread */
  char schedule_text[16384]; /* lg_sched_schedule_string's answer */
} sched;

/* The thread's scheduler, made by its first execution. Static TLS stays small (a thread with
 * a small stack must still start under the preload library), so this is a pointer to a
 * block of its own, freed when the thread ends. */
static __thread sched *Sp;
#define S (*Sp)

static inline bool sched_running(void) { return Sp && Sp->running; }

static pthread_key_t sched_key;
static pthread_once_t sched_key_once = PTHREAD_ONCE_INIT;

static void sched_release(void *p) {
  Sp = NULL;
  free(p);
}

static void sched_key_make(void) { pthread_key_create(&sched_key, sched_release); }

static sched *sched_get(void) {
  if (Sp) return Sp;
  pthread_once(&sched_key_once, sched_key_make);
  /* from the heap, not a mapping of its own: LeakSanitizer finds what the state points to
   * (the decision log) through it */
  void *m = calloc(1, sizeof(sched));
  if (!m) {
    fprintf(stderr, "lifeguard: error: no memory for the scheduler's state\n");
    abort();
  }
  Sp = m;
  pthread_setspecific(sched_key, m);
  return Sp;
}

/* ---- interleaving coverage: libFuzzer extra counters -------------------------------- */

#define COV_PAIRS 4096
#define COV_HANDOFFS 4096
__attribute__((section("__libfuzzer_extra_counters"), used)) static uint8_t
    lg__cov[COV_PAIRS + COV_HANDOFFS];

static inline void cov_hit(size_t i) {
  if (lg__cov[i] != 255) lg__cov[i]++;
}

/* (site where one actor stopped, site where the next resumes) */
static inline void cov_switch(lg_site from, lg_site to) {
  cov_hit(((uint32_t)from * 40503u ^ to) % COV_PAIRS);
}

/* a resource passing from one actor to another */
static inline void cov_handoff(uint32_t resource, uint32_t from, uint32_t to) {
  cov_hit(COV_PAIRS + ((resource * 2654435761u) ^ (from * 97u + to)) % COV_HANDOFFS);
}

/* ---- sites -------------------------------------------------------------------------- */

lg_site lg_site_id(const char *file, int line) {
  const char *base = strrchr(file, '/');
  base = base ? base + 1 : file;
  uint32_t h = 2166136261u;
  for (; *base; base++) h = (h ^ (unsigned char)*base) * 16777619u;
  h = (h ^ (uint32_t)line) * 16777619u;
  lg_site s = (lg_site)(h ^ (h >> 16));
  return s ? s : 1;
}

/* ---- schedule string for reports and crashes ---------------------------------------- */

const char *lg_sched_schedule_string(void) {
  if (!Sp) return "";
  char *text = S.schedule_text;
  size_t need = lg_schedule_format(&S.log, text, sizeof S.schedule_text);
  if (need >= sizeof S.schedule_text) {
    static const char more[] = "...(truncated)";
    memcpy(text + sizeof S.schedule_text - sizeof more, more, sizeof more);
  }
  return text;
}

static const char *schedule_for_report(void) {
  return (sched_running() || (Sp && S.log.len)) ? lg_sched_schedule_string() : NULL;
}

bool lg_sched_controlled(void) { return sched_running(); }

uint64_t lg_sched_execution_id(void) { return sched_running() ? S.execution : 0; }

/* ---- the schedule outlives a crash -------------------------------------------------- */

/* Writes the running execution's schedule to stderr with async-signal-safe calls only: a
 * crash (ASan's report, a signal) must not lose the one artifact that reproduces it. */
static void write_schedule_now(void) {
  if (!sched_running()) return;
  static char buf[65536];
  static const char head[] = "lifeguard: schedule at the crash: ";
  size_t n = lg_schedule_format(&S.log, buf, sizeof buf - 1);
  if (n > sizeof buf - 2) n = sizeof buf - 2;
  buf[n] = '\n';
  lg__write_all(2, head, sizeof head - 1);
  lg__write_all(2, buf, n + 1);
}

static lg_crash_hook crash_hook;
static pthread_once_t crash_once = PTHREAD_ONCE_INIT;

static void on_asan_report(const char *text) {
  write_schedule_now();
  if (crash_hook) crash_hook(text);
}

/* SIGSEGV and SIGBUS belong to signal.c's dispatcher, which calls fault_dying (registered) when
 * nobody explains or handles a fault; the others are chained here. */
static const int fatal_signals[] = {SIGILL, SIGFPE, SIGABRT};
static int crash_writers_on;
static struct sigaction previous[sizeof fatal_signals / sizeof *fatal_signals];

static void on_fatal_signal(int sig, siginfo_t *info, void *uctx) {
  write_schedule_now();
  if (crash_hook) crash_hook(NULL);
  for (size_t i = 0; i < sizeof fatal_signals / sizeof *fatal_signals; i++)
    if (fatal_signals[i] == sig) {
      /* hand the signal on: to the handler that was there before (libFuzzer's, say), or to
       * the default action */
      if (!lg__signal_chain(&previous[i], sig, info, uctx)) {
        sigaction(sig, &previous[i], NULL);
        raise(sig);
      }
      return;
    }
}

/* The dispatcher's dying hook: a SIGSEGV/SIGBUS nobody handled is about to end the process:
 * writes the running execution's schedule and calls the crash hook. Async-signal-safe. */
static void fault_dying(int sig) {
  (void)sig;
  if (!__atomic_load_n(&crash_writers_on, __ATOMIC_ACQUIRE)) return;
  write_schedule_now();
  if (crash_hook) crash_hook(NULL);
}

static void install_crash_writers(void) {
  /* ASan calls back with the text of each report before the process dies, through
   * report.c, which holds its report callback (not the death callback: it has one slot, and
   * libFuzzer needs it to write the crash input) */
  if (lg__report_set_asan_text_hook(on_asan_report))
    return; /* ASan owns the fatal signals and calls back */
  __atomic_store_n(&crash_writers_on, 1, __ATOMIC_RELEASE);
  lg__signal_set_dying_hook(fault_dying);
  lg__signal_install();
  for (size_t i = 0; i < sizeof fatal_signals / sizeof *fatal_signals; i++) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fatal_signal;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(fatal_signals[i], &sa, &previous[i]);
  }
}

void lg_sched_set_crash_hook(lg_crash_hook fn) {
  crash_hook = fn;
  pthread_once(&crash_once, install_crash_writers);
}

/* ---- decisions ---------------------------------------------------------------------- */

static uint32_t decide(lg_choice_kind kind, lg_site site, uint32_t n, uint32_t current,
                       const uint32_t *ids) {
  lg_choice c = {.kind = kind, .site = site, .n = n, .current = current, .actors = ids,
                 .step = S.log.len};
  uint32_t idx = S.src->choose(S.src, &c);
  if (idx >= n) {
    fprintf(stderr, "lifeguard: error: decision source '%s' chose %u of %u options\n",
            S.src->name, idx, n);
    abort();
  }
  lg_log_append(&S.log, (lg_decision){.kind = (uint8_t)kind, .site = site, .n = n, .idx = idx});
  return idx;
}

/* ---- ending an execution from inside it -------------------------------------------- */

static void switch_to(lg_actor *from, lg_actor *to, bool from_finished) {
  S.current = to;
  lg__fiber_switch(from ? &from->ctx : &S.thread_ctx, to ? &to->ctx : &S.thread_ctx,
                   from_finished);
}

/* Leaves the execution for good: back to the thread that called lg_sched_execute. */
__attribute__((noreturn)) static void abandon(lg_actor *cur, lg_verdict v) {
  S.verdict = v;
  switch_to(cur, NULL, true);
  abort(); /* never resumed */
}

static const char *wait_name(wait_kind w) {
  switch (w) {
  case WAIT_MUTEX: return "a mutex";
  case WAIT_COND: return "a condition variable";
  case WAIT_JOIN: return "an actor to finish";
  case WAIT_SLEEP: return "time";
  default: return "nothing";
  }
}

static void describe_wait(char *out, size_t cap, const lg_actor *a) {
  int n = snprintf(out, cap, "actor %u '%s' waits for %s", a->id, a->name, wait_name(a->waiting));
  if (n < 0 || (size_t)n >= cap) return;
  if (a->waiting == WAIT_MUTEX) {
    const lg_mutex *m = a->wait_obj;
    if (m->owner)
      snprintf(out + n, cap - (size_t)n, " %p held by actor %u '%s'", a->wait_obj, m->owner->id,
               m->owner->name);
    else
      snprintf(out + n, cap - (size_t)n, " %p", a->wait_obj);
  } else if (a->waiting == WAIT_JOIN) {
    const lg_actor *t = a->wait_obj;
    snprintf(out + n, cap - (size_t)n, " (actor %u '%s')", t->id, t->name);
  } else if (a->waiting == WAIT_COND) {
    snprintf(out + n, cap - (size_t)n, " %p", a->wait_obj);
  }
}

/* Every live actor is blocked and no timed wait can end it: report who waits on what. */
__attribute__((noreturn)) static void deadlock(lg_actor *cur) {
  lg_report r = {.kind = "deadlock", .fd = -1};
  unsigned blocked = 0;
  for (uint32_t i = 0; i < S.nactors; i++) blocked += S.actors[i].state == BLOCKED;
  snprintf(r.headline, sizeof r.headline, "of %u actor%s: every live actor is blocked", blocked,
           blocked == 1 ? "" : "s");
  size_t len = 0;
  /* The actor that blocked last first, then the others by id. */
  const lg_actor *order[MAX_ACTORS];
  size_t k = 0;
  if (cur && cur->state == BLOCKED) order[k++] = cur;
  for (uint32_t i = 0; i < S.nactors; i++)
    if (S.actors[i].state == BLOCKED && &S.actors[i] != cur) order[k++] = &S.actors[i];
  for (size_t i = 0; i < k; i++) {
    char line[200];
    describe_wait(line, sizeof line, order[i]);
    int n = snprintf(r.detail + len, sizeof r.detail - len, "%s%s", i ? "\n" : "", line);
    if (n > 0 && len + (size_t)n < sizeof r.detail) len += (size_t)n;
    if (r.nstacks < LG_REPORT_MAX_STACKS) {
      static const char *names[] = {"current", "waiter1", "waiter2", "waiter3"};
      lg_report_stack *s = &r.stacks[r.nstacks];
      s->name = names[r.nstacks];
      const lg_actor *w = order[i];
      s->id = lg__stack_capture_suspended(w->wait_frame, (uintptr_t)w->ctx.stack_lo,
                                          (uintptr_t)w->ctx.stack_lo + w->ctx.stack_size);
      s->tid = (int)order[i]->id;
      s->title[0] = '\0';
      if (r.nstacks > 0)
        snprintf(s->title, sizeof s->title, "actor %u '%s' blocked here", order[i]->id,
                 order[i]->name);
      r.nstacks++;
    }
  }
  lg_report_emit(&r);
  abandon(cur, LG_VERDICT_DEADLOCK);
}

__attribute__((noreturn)) static void livelock(lg_actor *cur, void *frame) {
  lg_report r = {.kind = "livelock", .fd = -1};
  snprintf(r.headline, sizeof r.headline,
           "after %llu scheduling points (the step budget) in actor %u '%s'",
           (unsigned long long)S.budget, cur ? cur->id : 0, cur ? cur->name : "-");
  r.stacks[0] = (lg_report_stack){.name = "current", .id = lg_stack_capture(frame),
                                  .tid = cur ? (int)cur->id : 0};
  r.nstacks = 1;
  lg_report_emit(&r);
  abandon(cur, LG_VERDICT_LIVELOCK);
}

/* ---- picking the next actor ---------------------------------------------------------- */

/* Wakes the actors whose timed waits end first, moving virtual time there. False if none. */
static bool advance_time(void) {
  uint64_t t = NEVER;
  for (uint32_t i = 0; i < S.nactors; i++)
    if (S.actors[i].state == BLOCKED && S.actors[i].wake_at < t) t = S.actors[i].wake_at;
  if (t == NEVER) return false;
  S.now = t;
  for (uint32_t i = 0; i < S.nactors; i++) {
    lg_actor *a = &S.actors[i];
    if (a->state == BLOCKED && a->wake_at == t) {
      a->state = RUNNABLE;
      a->timed_out = true;
      a->wake_at = NEVER;
    }
  }
  return true;
}

/* The actor to run next after `cur` reached a point at `site` (cur_goes_on: cur could run
 * on). NULL means the execution is over (every actor finished). */
static bool attached_done(void) {
  for (uint32_t i = 0; i < S.nactors; i++)
    if (S.actors[i].state != DONE && !S.actors[i].detached) return false;
  return true;
}

static lg_actor *pick_next(lg_actor *cur, bool cur_goes_on, lg_site site) {
  for (;;) {
    if (attached_done()) { /* detached actors end with the execution, as threads at exit */
      S.verdict = LG_VERDICT_OK;
      return NULL;
    }
    uint32_t ids[MAX_ACTORS];
    lg_actor *opts[MAX_ACTORS];
    uint32_t n = 0, current = LG_NO_CURRENT;
    for (uint32_t i = 0; i < S.nactors; i++) {
      lg_actor *a = &S.actors[i];
      if (a->state != RUNNABLE) continue;
      if (a == cur && cur_goes_on) current = n;
      ids[n] = a->id;
      opts[n++] = a;
    }
    if (n == 1) return opts[0];
    if (n > 1) return opts[decide(LG_CHOICE_SCHEDULE, site, n, current, ids)];
    if (advance_time()) continue;
    deadlock(cur); /* an attached actor is blocked and nothing can wake it */
  }
}

/* A scheduling point of the running actor. `goes_on`: it is runnable (else it just blocked
 * and the caller set what it waits for). Returns when the actor is chosen to run again. */
static void reschedule(lg_site site, bool goes_on, void *frame) {
  lg_actor *cur = S.current;
  if (++S.points > S.budget) livelock(cur, frame);
  cur->resume_site = site;
  cur->wait_frame = frame;
  lg_actor *next = pick_next(cur, goes_on, site);
  if (!next) abandon(cur, LG_VERDICT_OK); /* only detached actors were left */
  if (next == cur) return;
  cov_switch(site, next->resume_site);
  switch_to(cur, next, false);
}

/* Marks the running actor blocked on `obj`, remembering where. */
static void block(wait_kind w, const void *obj, uint64_t wake_at, void *frame) {
  lg_actor *a = S.current;
  a->state = BLOCKED;
  a->waiting = w;
  a->wait_obj = obj;
  a->wait_frame = frame;
  a->wake_at = wake_at;
  a->timed_out = false;
}

static void wake(lg_actor *a) {
  a->state = RUNNABLE;
  a->waiting = WAIT_NONE;
  a->wait_obj = NULL;
  a->wake_at = NEVER;
}

/* Wakes every actor blocked on `obj` for `w`. */
static void wake_all(wait_kind w, const void *obj) {
  for (uint32_t i = 0; i < S.nactors; i++) {
    lg_actor *a = &S.actors[i];
    if (a->state == BLOCKED && a->waiting == w && a->wait_obj == obj) wake(a);
  }
}

/* ---- actors ------------------------------------------------------------------------- */

static void actor_exit(lg_actor *a) {
  a->state = DONE;
  wake_all(WAIT_JOIN, a);
  lg_actor *next = pick_next(a, false, 0);
  switch_to(a, next, true); /* to the next actor, or (NULL) back to lg_sched_execute */
  abort();
}

static void actor_main(void *p) {
  lg__fiber_entered();
  lg_actor *a = p;
  a->fn(a->arg);
  actor_exit(a);
}

static lg_actor *new_actor(lg_actor_fn fn, void *arg, const char *name) {
  if (S.nactors == MAX_ACTORS) {
    fprintf(stderr, "lifeguard: error: more than %d actors in one execution\n", MAX_ACTORS);
    abort();
  }
  lg_actor *a = &S.actors[S.nactors];
  memset(a, 0, sizeof *a);
  a->id = S.nactors++;
  snprintf(a->name_buf, sizeof a->name_buf, "%s", name ? name : "actor");
  a->name = a->name_buf;
  a->fn = fn;
  a->arg = arg;
  a->state = RUNNABLE;
  a->wake_at = NEVER;
  if (lg__fiber_make(&a->ctx, S.stack_size, actor_main, a) != 0) {
    fprintf(stderr, "lifeguard: error: cannot map a fiber stack\n");
    abort();
  }
  return a;
}

/* ---- executions --------------------------------------------------------------------- */

static void *free_actor_main(void *p) {
  lg_actor *a = p;
  a->fn(a->arg);
  if (__atomic_fetch_or(&a->free_state, 1, __ATOMIC_ACQ_REL) & 2) free(a); /* detached */
  return NULL;
}

static uint64_t free_seed;
static __thread lg__rng free_rng; /* free mode: data choices, per thread */

static bool execute_free(const lg_exec_opts *o, const lg_root *roots, size_t nroots,
                         lg_exec_result *res) {
  free_seed = o->seed;
  lg_actor *as[MAX_ACTORS];
  for (size_t i = 0; i < nroots && i < MAX_ACTORS; i++)
    as[i] = lg_spawn_at(roots[i].fn, roots[i].arg, roots[i].name, 0);
  for (size_t i = 0; i < nroots && i < MAX_ACTORS; i++) lg_join_at(as[i], 0);
  memset(res, 0, sizeof *res);
  res->verdict = LG_VERDICT_OK;
  res->actors = (unsigned)nroots;
  return true;
}

bool lg_sched_execute(const lg_exec_opts *o, lg_source *src, const lg_root *roots,
                      size_t nroots, lg_exec_result *res) {
  if (o->mode == LG_SCHED_FREE) return execute_free(o, roots, nroots, res);
  sched_get();
  if (sched_running()) {
    fprintf(stderr, "lifeguard: error: lg_sched_execute inside an execution\n");
    abort();
  }
  if (!S.thread_ctx_ready) {
    lg__fiber_thread_ctx(&S.thread_ctx);
    S.thread_ctx_ready = true;
    lg_report_set_schedule_provider(schedule_for_report);
    pthread_once(&crash_once, install_crash_writers);
  }
  if (!src->begin(src)) return false;
  S.src = src;
  S.execution++;
  S.nactors = 0;
  S.points = 0;
  S.now = 0;
  S.budget = o->step_budget ? o->step_budget : DEFAULT_BUDGET;
  S.stack_size = o->stack_size ? o->stack_size : DEFAULT_STACK;
  S.verdict = LG_VERDICT_OK;
  unsigned long reports_before = lg_report_count();
  lg_log_clear(&S.log);
  /* A replay takes the bound from its string; any other source from the option. */
  uint32_t replay_bound = lg_source_replay_inject_max(src);
  S.inject_max = replay_bound != UINT32_MAX ? replay_bound
                 : o->inject_max               ? o->inject_max
                                               : (uint32_t)lg__opts()->inject_max;
  S.injected = 0;
  S.log.inject_max = S.inject_max;
  for (size_t i = 0; i < nroots; i++) new_actor(roots[i].fn, roots[i].arg, roots[i].name);
  S.running = true;
  S.current = NULL;
  lg_actor *first = pick_next(NULL, false, 0);
  if (first) switch_to(NULL, first, false);
  /* Back on the thread's own stack: the execution is over. */
  S.running = false;
  S.current = NULL; /* (the switch back set the unwinder's bounds to this stack) */
  for (uint32_t i = 0; i < S.nactors; i++) lg__fiber_release(&S.actors[i].ctx);
  if (S.verdict == LG_VERDICT_OK && lg_report_count() != reports_before)
    S.verdict = LG_VERDICT_FAULT; /* a detector reported and the process lived on */
  if (res) {
    res->verdict = S.verdict;
    res->points = S.points;
    res->virtual_ns = S.now;
    res->actors = S.nactors;
    res->log = &S.log;
  }
  src->end(src, S.verdict);
  return true;
}

/* ---- the thread layer --------------------------------------------------------------- */

#define FRAME __builtin_frame_address(0)

lg_actor *lg_spawn_at(lg_actor_fn fn, void *arg, const char *name, lg_site site) {
  if (!sched_running()) {
    lg_actor *a = calloc(1, sizeof *a);
    a->fn = fn;
    a->arg = arg;
    snprintf(a->name_buf, sizeof a->name_buf, "%s", name ? name : "actor");
    a->name = a->name_buf;
    a->free_mode = true;
    if (pthread_create(&a->thread, NULL, free_actor_main, a) != 0) {
      fprintf(stderr, "lifeguard: error: cannot start a thread\n");
      abort();
    }
    return a;
  }
  lg_actor *a = new_actor(fn, arg, name);
  reschedule(site, true, FRAME);
  return a;
}

void lg_join_at(lg_actor *a, lg_site site) {
  if (a->free_mode) {
    pthread_join(a->thread, NULL);
    free(a);
    return;
  }
  reschedule(site, true, FRAME);
  while (a->state != DONE) {
    block(WAIT_JOIN, a, NEVER, FRAME);
    reschedule(site, false, FRAME);
  }
}

void lg_detach(lg_actor *a) {
  if (a->free_mode) {
    pthread_detach(a->thread);
    if (__atomic_fetch_or(&a->free_state, 2, __ATOMIC_ACQ_REL) & 1) free(a); /* finished */
    return;
  }
  a->detached = true;
}

size_t lg__sched_actors(lg__actor_view *out, size_t max) {
  size_t n = 0;
  if (!sched_running()) return 0;
  for (uint32_t i = 0; i < S.nactors && n < max; i++) {
    lg_actor *a = &S.actors[i];
    if (a->state == DONE) continue;
    out[n++] = (lg__actor_view){
        .id = a->id, .name = a->name, .fn = (uintptr_t)a->fn, .running = a == S.current,
        .started = a->wait_frame != NULL || a == S.current, .frame = a->wait_frame,
        .stack_lo = (uintptr_t)a->ctx.stack_lo,
        .stack_hi = (uintptr_t)a->ctx.stack_lo + a->ctx.stack_size};
  }
  return n;
}

void lg_yield_at(lg_site site) {
  if (sched_running()) reschedule(site, true, FRAME);
  else sched_yield();
}

void lg_poll_point_at(lg_site site) {
  if (sched_running()) reschedule(site, true, FRAME);
}

void lg_mutex_init(lg_mutex *m) {
  pthread_mutex_init(&m->pm, NULL);
  m->owner = NULL;
  m->last_owner = 0;
}

void lg_mutex_destroy(lg_mutex *m) { pthread_mutex_destroy(&m->pm); }

void lg_mutex_lock_at(lg_mutex *m, lg_site site) {
  if (!sched_running()) {
    pthread_mutex_lock(&m->pm);
    return;
  }
  reschedule(site, true, FRAME);
  /* An owner from an earlier execution ended with it, as a thread ends at process exit (a
   * pinned module's statics outlive executions): its lock is free. */
  while (m->owner && m->owner_execution == S.execution) {
    block(WAIT_MUTEX, m, NEVER, FRAME);
    reschedule(site, false, FRAME);
  }
  m->owner = S.current;
  m->owner_execution = S.execution;
  if (m->last_owner && m->last_owner != S.current->id + 1)
    cov_handoff(site, m->last_owner - 1, S.current->id);
  m->last_owner = S.current->id + 1;
}

void lg_mutex_unlock_at(lg_mutex *m, lg_site site) {
  if (!sched_running()) {
    pthread_mutex_unlock(&m->pm);
    return;
  }
  m->owner = NULL;
  wake_all(WAIT_MUTEX, m);
  reschedule(site, true, FRAME);
}

void lg_cond_init(lg_cond *c) {
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&c->pc, &attr);
  pthread_condattr_destroy(&attr);
}

void lg_cond_destroy(lg_cond *c) { pthread_cond_destroy(&c->pc); }

/* Releases m, waits on c (until `deadline`), takes m again. Returns true if time ran out. */
static bool cond_wait_controlled(lg_cond *c, lg_mutex *m, uint64_t deadline, lg_site site,
                                 void *frame) {
  m->owner = NULL;
  wake_all(WAIT_MUTEX, m);
  block(WAIT_COND, c, deadline, frame);
  reschedule(site, false, frame);
  bool timed_out = S.current->timed_out;
  S.current->timed_out = false;
  while (m->owner && m->owner_execution == S.execution) {
    block(WAIT_MUTEX, m, NEVER, frame);
    reschedule(site, false, frame);
  }
  m->owner = S.current;
  m->owner_execution = S.execution;
  return timed_out;
}

void lg_cond_wait_at(lg_cond *c, lg_mutex *m, lg_site site) {
  if (!sched_running()) {
    pthread_cond_wait(&c->pc, &m->pm);
    return;
  }
  cond_wait_controlled(c, m, NEVER, site, FRAME);
}

int lg_cond_timedwait_at(lg_cond *c, lg_mutex *m, uint64_t ns, lg_site site) {
  if (!sched_running()) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t t = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + ns;
    ts.tv_sec = (time_t)(t / 1000000000u);
    ts.tv_nsec = (long)(t % 1000000000u);
    return pthread_cond_timedwait(&c->pc, &m->pm, &ts);
  }
  uint64_t deadline = ns > NEVER - S.now ? NEVER - 1 : S.now + ns;
  return cond_wait_controlled(c, m, deadline, site, FRAME) ? ETIMEDOUT : 0;
}

void lg_cond_signal_at(lg_cond *c, lg_site site) {
  if (!sched_running()) {
    pthread_cond_signal(&c->pc);
    return;
  }
  reschedule(site, true, FRAME);
  lg_actor *waiters[MAX_ACTORS];
  uint32_t n = 0;
  for (uint32_t i = 0; i < S.nactors; i++)
    if (S.actors[i].state == BLOCKED && S.actors[i].waiting == WAIT_COND &&
        S.actors[i].wait_obj == c)
      waiters[n++] = &S.actors[i];
  if (n == 0) return;
  wake(waiters[n == 1 ? 0 : decide(LG_CHOICE_DATA, site, n, LG_NO_CURRENT, NULL)]);
}

void lg_cond_broadcast_at(lg_cond *c, lg_site site) {
  if (!sched_running()) {
    pthread_cond_broadcast(&c->pc);
    return;
  }
  reschedule(site, true, FRAME);
  wake_all(WAIT_COND, c);
}

/* Atomics: the point comes first, then the access happens at once. */
#define ATOMIC_POINT(site)                                                      \
  do {                                                                          \
    if (sched_running()) reschedule((site), true, FRAME);                             \
  } while (0)

uint64_t lg_atomic_load_at(const uint64_t *p, lg_site site) {
  ATOMIC_POINT(site);
  return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

void lg_atomic_store_at(uint64_t *p, uint64_t v, lg_site site) {
  ATOMIC_POINT(site);
  __atomic_store_n(p, v, __ATOMIC_SEQ_CST);
}

uint64_t lg_atomic_fetch_add_at(uint64_t *p, uint64_t v, lg_site site) {
  ATOMIC_POINT(site);
  return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
}

uint64_t lg_atomic_fetch_sub_at(uint64_t *p, uint64_t v, lg_site site) {
  ATOMIC_POINT(site);
  return __atomic_fetch_sub(p, v, __ATOMIC_SEQ_CST);
}

uint64_t lg_atomic_exchange_at(uint64_t *p, uint64_t v, lg_site site) {
  ATOMIC_POINT(site);
  return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);
}

bool lg_atomic_cas_at(uint64_t *p, uint64_t *expected, uint64_t desired, lg_site site) {
  ATOMIC_POINT(site);
  return __atomic_compare_exchange_n(p, expected, desired, false, __ATOMIC_SEQ_CST,
                                     __ATOMIC_SEQ_CST);
}

void lg_sleep_at(uint64_t ns, lg_site site) {
  if (!sched_running()) {
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    return;
  }
  block(WAIT_SLEEP, NULL, ns > NEVER - S.now ? NEVER - 1 : S.now + ns, FRAME);
  reschedule(site, false, FRAME);
}

uint64_t lg_now(void) {
  if (sched_running()) return S.now;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static lg__inject_fn inject_elsewhere;
static lg__inject_count_fn inject_count_elsewhere;

void lg__sched_set_inject_hooks(lg__inject_fn inject, lg__inject_count_fn count) {
  inject_elsewhere = inject;
  inject_count_elsewhere = count;
}

uint32_t lg_inject_at(uint32_t nfail, lg_site site) {
  if (nfail == 0) return 0;
  if (!sched_running()) return inject_elsewhere ? inject_elsewhere(nfail, site) : 0;
  if (S.injected >= S.inject_max) return 0;
  uint32_t idx = decide(LG_CHOICE_FAIL, site, nfail + 1, LG_NO_CURRENT, NULL);
  if (idx) S.injected++;
  return idx;
}

uint32_t lg_inject_count(void) {
  if (inject_count_elsewhere && !sched_running()) return inject_count_elsewhere();
  return Sp ? S.injected : 0;
}

uint32_t lg_choose_at(uint32_t n, lg_site site) {
  if (n <= 1) return 0;
  if (sched_running()) return decide(LG_CHOICE_DATA, site, n, LG_NO_CURRENT, NULL);
  if (!free_rng.s) free_rng = lg__rng_for(free_seed, (uint64_t)lg__gettid(), 0);
  return lg__rng_below(&free_rng, n);
}

/* SPDX-License-Identifier: MIT */
/* The check API (lifeguard/check.h): a test body run under many controlled schedules.
 *
 * The loop runs in the calling process and holds the decision source. Each execution is a
 * child forked for it: begin() is called here first, so the child starts with the source
 * ready for that execution; there thread control starts (control.c) with the source wrapped
 * in a recorder, which writes every choice (with what the source was shown: the options'
 * actors, the running one) to a shared mapping, so a crash cannot lose it. When the child
 * has ended, the same choices are shown to the source here in the same order: it ends up in
 * the state it would have if the execution had run in this process (dfs learns the tree,
 * pct learns its step count), and the decisions are the schedule string. Forking keeps
 * every execution's heap, descriptors and threads apart, and a report that aborts ends only
 * the child. */
#define _GNU_SOURCE
#include "control_internal.h"
#include "report_internal.h"
#include "sched_internal.h"

#include <lifeguard/check.h>
#include <lifeguard/options.h>
#include <lifeguard/report.h>
#include <lifeguard/sched.h>
#include <lifeguard/schedule.h>
#include <lifeguard/source.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REC_CAP (1u << 18)   /* choices recorded per execution */
#define ACTOR_CAP (1u << 20) /* actor ids recorded with them */
#define NO_ACTORS UINT32_MAX

/* One choice as the source saw it, and the option it took. */
typedef struct rec {
  uint8_t kind;
  uint16_t site;
  uint32_t n, current, idx;
  uint32_t actors_at; /* index of its n actor ids in shared.actors, NO_ACTORS for none */
  uint64_t step;
} rec;

/* What the child leaves for the loop: its choices and the kind of its first report. */
typedef struct shared {
  uint64_t count;      /* records written */
  uint64_t nactors;    /* actor ids written */
  int overflow;        /* a choice did not fit */
  int reported;        /* kind holds the first report's kind */
  char kind[64];
  rec recs[REC_CAP];
  uint32_t actors[ACTOR_CAP];
} shared;

static shared *Sh;

/* ---- the child ---------------------------------------------------------------------- */

typedef struct recorder {
  lg_source base;
  lg_source *inner;
} recorder;

static bool rec_begin(lg_source *s) { return true; }
static void rec_end(lg_source *s, lg_verdict v) {}
static void rec_destroy(lg_source *s) {}

static uint32_t rec_choose(lg_source *s, const lg_choice *c) {
  recorder *r = (recorder *)s;
  uint32_t idx = r->inner->choose(r->inner, c);
  if (idx >= c->n) idx = 0; /* (as control.c takes it) */
  uint64_t k = Sh->count;
  if (k >= REC_CAP || (c->actors && Sh->nactors + c->n > ACTOR_CAP)) {
    Sh->overflow = 1;
    return idx;
  }
  rec *e = &Sh->recs[k];
  *e = (rec){(uint8_t)c->kind, c->site, c->n, c->current, idx, NO_ACTORS, c->step};
  if (c->actors) {
    e->actors_at = (uint32_t)Sh->nactors;
    memcpy(&Sh->actors[Sh->nactors], c->actors, c->n * sizeof *c->actors);
    Sh->nactors += c->n;
  }
  __atomic_store_n(&Sh->count, k + 1, __ATOMIC_RELEASE);
  return idx;
}

static void note_kind(const char *kind, size_t len) {
  if (Sh->reported) return;
  if (len >= sizeof Sh->kind) len = sizeof Sh->kind - 1;
  memcpy(Sh->kind, kind, len);
  Sh->kind[len] = '\0';
  __atomic_store_n(&Sh->reported, 1, __ATOMIC_RELEASE);
}

static void on_report(const lg_report_view *v, void *arg) {
  note_kind(v->report->kind, strlen(v->report->kind));
}

/* ASan's report: its SUMMARY word, else its ERROR word ("attempting double-free": the
 * second). */
static void on_asan_text(const char *text) {
  if (!text) return;
  const char *at = strstr(text, "SUMMARY: AddressSanitizer: ");
  if (at) {
    at += strlen("SUMMARY: AddressSanitizer: ");
  } else if ((at = strstr(text, "ERROR: AddressSanitizer: "))) {
    at += strlen("ERROR: AddressSanitizer: ");
    if (strncmp(at, "attempting ", 11) == 0) at += 11;
  } else {
    return;
  }
  note_kind(at, strcspn(at, " \n"));
}

__attribute__((noreturn)) static void child(lg_source *src, uint64_t budget,
                                             uint32_t inject_max, void (*test)(void *),
                                             void *arg) {
  /* the loop's process may be killed (a test's timeout): the child goes with it */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() == 1) _exit(127);
  struct rlimit no_core = {0, 0}; /* an aborted execution is expected, not a core to keep */
  setrlimit(RLIMIT_CORE, &no_core);
  static recorder r;
  r = (recorder){{"recorder", rec_begin, rec_choose, rec_end, rec_destroy}, src};
  lg_report_set_hook(on_report, NULL);
  lg__report_set_asan_text_hook(on_asan_text);
  lg__sched_set_inject_hooks(lg__control_inject, lg__control_injected);
  lg__control_start_check(&r.base, budget, inject_max);
  test(arg);
  /* The test returned: like a program's main returning, threads it left are ended. */
  fflush(NULL);
  _exit(0);
}

/* ---- the loop ----------------------------------------------------------------------- */


static double seconds_since(const struct timespec *t0) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static int bad(const char *what) {
  fprintf(stderr, "lifeguard: error: check: %s\n", what);
  return -1;
}

/* The source `o` asks for, or NULL with *err set. */
static lg_source *make_source(const lg_check_opts *o, const char **err) {
  switch (o->strategy) {
  case LG_CHECK_RANDOM: return lg_source_random(o->seed);
  case LG_CHECK_PCT: return lg_source_pct(o->seed, o->depth, 0);
  case LG_CHECK_DFS:
    if (!o->bound_set || o->bound == LG_CHECK_NO_BOUND) return lg_source_dfs_iterative();
    return lg_source_dfs(o->bound);
  case LG_CHECK_REPLAY: {
    static char msg[200];
    lg_decision_log log = {0};
    size_t at;
    const char *why;
    if (lg_schedule_parse(o->schedule, strlen(o->schedule), &log, &at, &why) < 0) {
      snprintf(msg, sizeof msg, "bad schedule string at byte %zu: %s", at, why);
      lg_log_free(&log);
      *err = msg;
      return NULL;
    }
    lg_source *s = lg_source_replay(&log);
    lg_log_free(&log);
    return s;
  }
  case LG_CHECK_BYTES: return lg_source_bytes(o->bytes, o->nbytes);
  }
  *err = "unknown strategy";
  return NULL;
}

/* The failure-injection bound of an execution from `src`: a replayed string's own, else
 * the check's, else the option's. */
static uint32_t inject_bound(const lg_check_opts *o, const lg_source *src) {
  uint32_t replay_bound = lg_source_replay_inject_max(src);
  if (replay_bound != UINT32_MAX) return replay_bound;
  return o->inject_max ? o->inject_max : (uint32_t)lg__opts()->inject_max;
}

/* Shows the child's choices to `src`, in order, and collects them as `log`. False when the
 * source took another option somewhere than it took in the child (it cannot, but a source
 * that is not a function of its state would). */
static bool refeed(lg_source *src, lg_decision_log *log) {
  bool same = true;
  lg_log_clear(log);
  for (uint64_t k = 0; k < Sh->count; k++) {
    const rec *e = &Sh->recs[k];
    lg_choice c = {(lg_choice_kind)e->kind, e->site, e->n, e->current,
                   e->actors_at == NO_ACTORS ? NULL : &Sh->actors[e->actors_at], e->step};
    uint32_t idx = src->choose(src, &c);
    if (idx >= c.n) idx = 0;
    same &= idx == e->idx;
    (void)lg_log_append(log, (lg_decision){e->kind, e->site, e->n, e->idx});
  }
  return same;
}

/* Waits for the child; its failure kind into `kind` ("" when it ended cleanly). */
static lg_verdict outcome(pid_t pid, char *kind, size_t cap) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  kind[0] = '\0';
  if (__atomic_load_n(&Sh->reported, __ATOMIC_ACQUIRE))
    snprintf(kind, cap, "%s", Sh->kind);
  else if (WIFSIGNALED(status))
    snprintf(kind, cap, "signal %d", WTERMSIG(status));
  else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
    snprintf(kind, cap, "exit status %d", WEXITSTATUS(status));
  if (!kind[0]) return LG_VERDICT_OK;
  if (strcmp(kind, "deadlock") == 0) return LG_VERDICT_DEADLOCK;
  if (strcmp(kind, "livelock") == 0) return LG_VERDICT_LIVELOCK;
  return LG_VERDICT_FAULT;
}

static void describe(const lg_check_opts *o, char *out, size_t cap) {
  size_t n = 0;
  if (o->mode == LG_CHECK_SCHED_FREE) {
    snprintf(out, cap, "free");
    return;
  }
  switch (o->strategy) {
  case LG_CHECK_RANDOM: n = snprintf(out, cap, "random, seed %llu", o->seed); break;
  case LG_CHECK_PCT: n = snprintf(out, cap, "pct, depth %u, seed %llu", o->depth, o->seed); break;
  case LG_CHECK_DFS:
    if (!o->bound_set || o->bound == LG_CHECK_NO_BOUND) n = snprintf(out, cap, "dfs");
    else n = snprintf(out, cap, "dfs, preemption bound %u", o->bound);
    break;
  case LG_CHECK_BYTES: n = snprintf(out, cap, "bytes"); break;
  default: n = snprintf(out, cap, "replay"); break;
  }
  if (o->inject_max && n < cap)
    snprintf(out + n, cap - n, ", inject_max %u", o->inject_max);
}

static void replay_left(const lg_check_opts *o, const lg_divergence *d) {
  if (o->quiet) return;
  fprintf(stderr,
          "lifeguard: check: warning: the replay left the schedule at decision %llu: "
          "the schedule has %c%u/%u there, the test asked %c%u/%u (the test is not "
          "deterministic under control)\n",
          (unsigned long long)d->step, lg_choice_kind_letter(d->expected.kind),
          d->expected.site, d->expected.n, lg_choice_kind_letter(d->actual.kind),
          d->actual.site, d->actual.n);
}

/* The check's last lines: what failed, with its whole schedule `text`, or that nothing did.
 * Returns the check's value. */
static int conclude(const lg_check_opts *o, lg_check_result *res, int failed, const char *kind,
                    const char *text, const char *how) {
  if (failed) {
    res->failed = 1;
    res->failed_execution = res->executions;
    snprintf(res->kind, sizeof res->kind, "%s", kind);
    snprintf(res->schedule, sizeof res->schedule, "%s", text);
    if (!o->quiet) {
      fprintf(stderr, "lifeguard: check: %s in execution %llu (%s)\n", kind, res->executions,
              how);
      if (text[0]) {
        fprintf(stderr, "lifeguard: check: schedule: %s\n", text);
        fprintf(stderr, "lifeguard: check: replay: lg_check_replay(test, arg, \"%s\")\n", text);
      }
    }
  } else if (!o->quiet) {
    fprintf(stderr, "lifeguard: check: %llu execution%s (%s), no failure%s%s\n",
            res->executions, res->executions == 1 ? "" : "s", how,
            o->until ? " of kind " : "", o->until ? o->until : "");
    if (res->exhausted) fprintf(stderr, "lifeguard: check: every schedule was explored\n");
    if (res->other_failures)
      fprintf(stderr, "lifeguard: check: %llu failure%s of other kinds\n", res->other_failures,
              res->other_failures == 1 ? "" : "s");
  }
  return failed;
}

/* The fork mode: each execution a child under thread control. */
static int check_forked(const lg_check_opts *opts, void (*test)(void *), void *arg,
                        lg_check_result *res, const char *how) {
  lg_check_opts o = *opts;
  const char *err = NULL;
  lg_source *src = make_source(&o, &err);
  if (!src) return bad(err ? err : "out of memory");
  if (!Sh) {
    void *p = mmap(NULL, sizeof *Sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      lg_source_free(src);
      return bad("cannot map the shared record");
    }
    Sh = p;
  }
  uint32_t inject_max = inject_bound(&o, src);
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  lg_decision_log log = {0};
  char kind[64];
  int failed = 0;
  bool warned = false;
  for (;;) {
    if (o.iterations && res->executions >= o.iterations) break;
    if (o.budget_seconds > 0 && seconds_since(&t0) >= o.budget_seconds) break;
    if (!src->begin(src)) {
      res->exhausted = o.strategy == LG_CHECK_DFS;
      break;
    }
    Sh->count = Sh->nactors = 0;
    Sh->overflow = Sh->reported = 0;
    Sh->kind[0] = '\0';
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
      lg_source_free(src);
      lg_log_free(&log);
      return bad("fork failed");
    }
    if (pid == 0) child(src, o.max_steps, inject_max, test, arg);
    lg_verdict v = outcome(pid, kind, sizeof kind);
    bool same = refeed(src, &log);
    log.inject_max = inject_max;
    src->end(src, v);
    res->executions++;
    if ((Sh->overflow || !same) && !warned && !o.quiet) {
      fprintf(stderr, "lifeguard: check: warning: execution %llu %s\n", res->executions,
              Sh->overflow ? "made more decisions than the record holds (its schedule is cut)"
                           : "took other options than its source gave here");
      warned = true;
    }
    if (o.strategy == LG_CHECK_REPLAY) {
      const lg_divergence *d = lg_source_replay_divergence(src);
      if (d && d->diverged) {
        res->diverged = 1;
        replay_left(&o, d);
      }
    }
    if (v == LG_VERDICT_OK) continue;
    if (o.until && strcmp(kind, o.until) != 0) {
      res->other_failures++;
      continue;
    }
    failed = 1;
    break;
  }

  char small[1], *text = small;
  small[0] = '\0';
  if (failed) {
    size_t need = lg_schedule_format(&log, NULL, 0);
    text = malloc(need + 1);
    if (text) lg_schedule_format(&log, text, need + 1);
    else text = small;
  }
  conclude(&o, res, failed, kind, text, how);
  if (text != small) free(text);
  lg_log_free(&log);
  lg_source_free(src);
  return failed;
}

/* ---- the in-process modes (lg_sched) ------------------------------------------------- */

/* What the report hook notes about the running execution. */
static struct {
  const lg_check_opts *o;
  void *arg;
  unsigned long long index; /* the running execution */
  char kind[64];            /* its first report's kind */
  bool until_hit;           /* a report of kind `until` in it */
} In;

static void in_report(const lg_report_view *v, void *unused) {
  const lg_report *r = v->report;
  if (!In.kind[0]) snprintf(In.kind, sizeof In.kind, "%s", r->kind);
  if (In.o->until && strcmp(r->kind, In.o->until) == 0) In.until_hit = true;
  /* a fatal report (a call into an unloaded module) ends the process even so */
  if (r->fatal && In.until_hit && In.o->dying) {
    lg_check_execution e = {In.index, LG_VERDICT_FAULT, In.o->until,
                            lg_sched_controlled() ? lg_sched_schedule_string() : "",
                            lg_inject_count(), NULL};
    In.o->dying(&e, In.arg);
  }
}

/* A sanitizer's report, which ends the process: when it is of kind `until`, say so first. */
static void in_crash(const char *text) {
  static const char head[] = "ERROR: AddressSanitizer: ";
  const char *at = text ? strstr(text, head) : NULL;
  if (!at || !In.o || !In.o->until || !In.o->dying) return;
  at += sizeof head - 1;
  size_t n = strlen(In.o->until);
  if (strncmp(at, In.o->until, n) != 0 || (at[n] != ' ' && at[n] != '\n' && at[n] != 0)) return;
  lg_check_execution e = {In.index, LG_VERDICT_FAULT, In.o->until, NULL, 0, NULL};
  In.o->dying(&e, In.arg);
}

static int check_in_process(const lg_check_opts *opts, void (*test)(void *), void *arg,
                            lg_check_result *res, const char *how) {
  const lg_check_opts *o = opts;
  bool free_run = o->mode == LG_CHECK_SCHED_FREE;
  lg_source *src = NULL;
  if (!free_run) {
    const char *err = NULL;
    src = make_source(o, &err);
    if (!src) return bad(err ? err : "out of memory");
  }
  lg_exec_opts eo = {.mode = LG_SCHED_CONTROLLED, .step_budget = o->max_steps,
                     .inject_max = o->inject_max};
  lg_root root = {test, arg, o->root_name ? o->root_name : "test"};
  /* Reports noted (their kinds, `until`'s) where they do not end the process. */
  bool halted = lg__opts()->halt_on_error;
  if (o->until && halted) lg_options_set("halt_on_error=0");
  bool hooked = o->until || !halted;
  In.o = o;
  In.arg = arg;
  if (hooked) lg_report_set_hook(in_report, NULL);
  if (o->until && o->dying) lg_sched_set_crash_hook(in_crash);

  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int failed = 0;
  char kind[64] = "";
  for (;;) {
    if (o->iterations && res->executions >= o->iterations) break;
    if (o->budget_seconds > 0 && seconds_since(&t0) >= o->budget_seconds) break;
    In.index = res->executions + 1;
    In.kind[0] = '\0';
    In.until_hit = false;
    lg_check_execution e = {In.index, LG_VERDICT_OK, In.kind, "", 0, NULL};
    if (free_run) {
      test(arg);
    } else {
      lg_exec_result er;
      if (!lg_sched_execute(&eo, src, &root, 1, &er)) {
        res->exhausted = o->strategy == LG_CHECK_DFS;
        break;
      }
      e.verdict = er.verdict;
      e.schedule = lg_sched_schedule_string();
      e.injected = lg_inject_count();
      const lg_divergence *d = lg_source_replay_divergence(src);
      if (d && d->diverged) {
        e.divergence = d;
        res->diverged = 1;
        replay_left(o, d);
      }
    }
    res->executions++;
    int status = o->judge ? o->judge(&e, arg) : e.verdict != LG_VERDICT_OK;
    if (o->until && In.until_hit) {
      snprintf(kind, sizeof kind, "%s", o->until);
      failed = 1;
      break;
    }
    if (status == 0) continue;
    if (In.kind[0]) snprintf(kind, sizeof kind, "%s", In.kind);
    else if (e.verdict == LG_VERDICT_DEADLOCK) snprintf(kind, sizeof kind, "deadlock");
    else if (e.verdict == LG_VERDICT_LIVELOCK) snprintf(kind, sizeof kind, "livelock");
    else if (status < 0) snprintf(kind, sizeof kind, "error");
    else if (o->judge) snprintf(kind, sizeof kind, "status %d", status);
    else snprintf(kind, sizeof kind, "fault");
    if (o->until && status > 0) {
      res->other_failures++;
      continue;
    }
    failed = 1;
    break;
  }

  if (hooked) lg_report_set_hook(NULL, NULL);
  if (o->until && o->dying) lg_sched_set_crash_hook(NULL);
  if (o->until && halted) lg_options_set("halt_on_error=1");
  In.o = NULL;
  conclude(o, res, failed, kind, failed && !free_run ? lg_sched_schedule_string() : "", how);
  if (src) lg_source_free(src);
  return failed;
}

int lg_check(const lg_check_opts *opts, void (*test)(void *), void *arg) {
  lg_check_opts o = opts ? *opts : (lg_check_opts){0};
  bool in_process = o.mode == LG_CHECK_SCHED || o.mode == LG_CHECK_SCHED_FREE;
  if (!test) return bad("no test function");
  if ((unsigned)o.strategy > LG_CHECK_BYTES) return bad("unknown strategy");
  if ((unsigned)o.mode > LG_CHECK_SCHED_FREE) return bad("unknown mode");
  if (o.strategy == LG_CHECK_REPLAY && !o.schedule) return bad("replay needs a schedule string");
  if (o.strategy == LG_CHECK_BYTES && !in_process)
    return bad("the bytes strategy runs in process only (mode LG_CHECK_SCHED)");
  if (o.strategy == LG_CHECK_BYTES && !o.bytes && o.nbytes) return bad("bytes is NULL");
  if (o.budget_seconds < 0) return bad("budget_seconds must not be negative");
  if (!in_process && lg__opts()->explore)
    return bad("lg_check inside `lifeguard explore`: the process is controlled already");
  if (!o.iterations && o.strategy != LG_CHECK_DFS) o.iterations = 100;
  if (o.strategy == LG_CHECK_REPLAY || o.strategy == LG_CHECK_BYTES) o.iterations = 1;
  if (!o.seed && !o.seed_set) o.seed = 1;
  if (!o.depth) o.depth = 3;
  if (!o.max_steps && !in_process) o.max_steps = lg__opts()->explore_steps;
  lg_check_result local, *res = o.result ? o.result : &local;
  res->executions = 0;
  res->failed = 0;
  res->failed_execution = 0;
  res->kind[0] = res->schedule[0] = '\0';
  res->exhausted = res->diverged = 0;
  res->other_failures = 0;
  char how[96];
  describe(&o, how, sizeof how);
  return in_process ? check_in_process(&o, test, arg, res, how)
                    : check_forked(&o, test, arg, res, how);
}

int lg_check_random(void (*test)(void *), void *arg, unsigned iterations) {
  lg_check_opts o = {.strategy = LG_CHECK_RANDOM, .iterations = iterations};
  return lg_check(&o, test, arg);
}

int lg_check_pct(void (*test)(void *), void *arg, unsigned iterations, unsigned depth) {
  if (depth == 0) return bad("pct's depth must be at least 1");
  lg_check_opts o = {.strategy = LG_CHECK_PCT, .iterations = iterations, .depth = depth};
  return lg_check(&o, test, arg);
}

int lg_check_dfs(void (*test)(void *), void *arg, unsigned max_executions) {
  lg_check_opts o = {.strategy = LG_CHECK_DFS, .iterations = max_executions};
  return lg_check(&o, test, arg);
}

int lg_check_replay(void (*test)(void *), void *arg, const char *schedule) {
  if (!schedule) return bad("replay needs a schedule string");
  lg_check_opts o = {.strategy = LG_CHECK_REPLAY, .schedule = schedule};
  return lg_check(&o, test, arg);
}

/* ---- LG_ASSERT ---------------------------------------------------------------------- */

void lg_check_assert_fail(const char *expr, const char *file, int line, const char *func) {
  lg__busy++;
  const char *base = file ? strrchr(file, '/') : NULL;
  base = base ? base + 1 : (file ? file : "?");
  lg_report r = {.kind = "assertion", .fd = -1};
  lg__format(r.headline, sizeof r.headline, "`%s` is false at %s:%d in %s", expr ? expr : "?",
             base, line, func ? func : "?");
  r.stacks[0] = (lg_report_stack){.name = "current",
                                  .id = lg_stack_capture(__builtin_frame_address(0)),
                                  .tid = (int)lg__gettid()};
  r.nstacks = 1;
  lg__busy--;
  lg_report_emit(&r);
  abort(); /* halt_on_error=0: the test cannot go on past a false assertion */
}

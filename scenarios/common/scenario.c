/* SPDX-License-Identifier: MIT */
/* The shared command line of the class programs: the executions are lg_check's (the check
 * API's in-process mode, lifeguard/check.h), with the scenario as the root actor. */
#define _GNU_SOURCE
#include "scenario.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lgrt/faults.h>
#include <lifeguard/check.h>
#include <lifeguard/sched.h>
#include <lifeguard/schedule.h>
#include <lifeguard/source.h>

static const char *prog_name = "scenario";

int lg_scenario_fail(const char *what) {
  if (lg_inject_count() > 0) return LG_SCENARIO_STOPPED;
  fprintf(stderr, "%s: error: %s: %s\n", prog_name, what, strerror(errno));
  return LG_SCENARIO_ERROR;
}

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "%s: error: ", prog_name);
  fprintf(stderr, fmt, arg);
  fputc('\n', stderr);
  return 2;
}

static void print_help(const lg_scenario_program *p) {
  printf("usage: %s --scenario NAME --variant buggy|fixed [--iterations N] [--fault NAME]...\n"
         "       %*s [--strategy random|pct|dfs|free] [--seed N] [--depth D] [--bound B]\n"
         "       %*s [--schedule STRING] [--until KIND [--budget SECONDS]]\n"
         "       %s --list\n\n"
         "Runs one scenario of the %s class. `buggy` turns on the scenario's fault\n"
         "switches, `fixed` turns them all off. Each iteration is one execution under\n"
         "lg_sched, whose decisions come from the strategy: random (default, --seed),\n"
         "pct (--depth, default 2), dfs (every schedule: with --bound B those with at most\n"
         "B preemptions; without, bound 0, 1, 2, ... until the bound cuts nothing),\n"
         "or --schedule (replay one schedule string); `free` runs the actors as threads\n"
         "the OS schedules (the stress baseline). --until KIND keeps running until a\n"
         "report of KIND and prints how many executions it took.\n"
         "LIFEGUARD_OPTIONS=inject_max=N injects up to N failures of the runtime's calls per\n"
         "execution, each a decision of the schedule; a scenario stopped by one is clean.\n"
         "Exit status: 0 clean, 1 could not run, 2 bad usage, 3 symptom seen but not\n"
         "reported; a lifeguard report aborts (and prints the schedule).\n\n"
         "scenarios:\n",
         p->program, (int)strlen(p->program), "", (int)strlen(p->program), "", p->program,
         p->class_name);
  for (size_t i = 0; i < p->count; i++)
    printf("  %-22s %s\n", p->scenarios[i].name, p->scenarios[i].about);
}

static void print_json_string(const char *s) {
  putchar('"');
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') putchar('\\');
    putchar(*s);
  }
  putchar('"');
}

static void print_list(const lg_scenario_program *p) {
  printf("{\"program\":\"%s\",\"class\":\"%s\",\"scenarios\":[", p->program, p->class_name);
  for (size_t i = 0; i < p->count; i++) {
    const lg_scenario *s = &p->scenarios[i];
    printf("%s{\"name\":\"%s\",\"faults\":[", i ? "," : "", s->name);
    for (size_t j = 0; s->faults[j]; j++) printf("%s\"%s\"", j ? "," : "", s->faults[j]);
    printf("],\"about\":");
    print_json_string(s->about);
    printf("}");
  }
  printf("]}\n");
}

static int parse_ulong(const char *s, unsigned long *out) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || end == s || *end || s[0] == '-') return -1;
  *out = v;
  return 0;
}

/* Descriptors open in this process, not counting lifeguard's quarantine placeholders. */
static int live_descriptors(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0, self = dirfd(d);
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.' || atoi(e->d_name) == self) continue;
    char path[300], target[256];
    snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
    ssize_t len = readlink(path, target, sizeof target - 1);
    if (len < 0) continue;
    target[len] = '\0';
    if (strstr(target, "lifeguard-fd-quarantine")) continue;
    n++;
  }
  closedir(d);
  return n;
}

/* ---- the run: lg_check in process ------------------------------------------------- */

typedef enum { STRAT_RANDOM, STRAT_PCT, STRAT_DFS, STRAT_REPLAY, STRAT_FREE } strategy;

static const char *const strategy_names[] = {"random", "pct", "dfs", "replay", "free"};

typedef struct settings {
  strategy strat;
  unsigned long seed, iterations, depth, bound;
  double budget;             /* seconds; 0 = none */
  const char *until;         /* stop at the first report of this kind */
  const char *schedule;      /* --schedule */
} settings;

static double seconds_since(const struct timespec *t0) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static int fds_kept;

void lg_scenario_keep_fds(int n) { fds_kept = n; }

/* One execution's scenario, and what the run saw of all of them. */
typedef struct run_state {
  const lg_scenario_program *p;
  const lg_scenario *sc;
  lg_variant variant;
  const settings *st;
  struct timespec t0;
  int status;              /* the last execution's LG_SCENARIO_* status */
  bool stopped;            /* by an injected failure */
  unsigned long iteration; /* 0-based, the next execution's */
  unsigned long injected, stopped_count;
} run_state;

static void scenario_root(void *p) {
  run_state *r = p;
  lg_scenario_ctx ctx = {.variant = r->variant, .seed = r->st->seed, .iteration = r->iteration};
  r->stopped = false;
  r->status = r->sc->run(&ctx);
  /* Stopped by an injected failure: clean (lg_scenario_fail says so only after one). */
  if (r->status == LG_SCENARIO_STOPPED) {
    r->stopped = true;
    r->status = lg_inject_count() ? LG_SCENARIO_CLEAN : LG_SCENARIO_ERROR;
  }
}

/* lg_check's judge: the scenario's status, with the scheduler's verdict and a replay that
 * left its schedule counted as errors. Without --until the check stops at the first status
 * that is not clean; with it only an error stops it (a symptom is gone past). */
static int judge(const lg_check_execution *e, void *arg) {
  run_state *r = arg;
  r->iteration++;
  if (e->verdict == LG_VERDICT_DEADLOCK || e->verdict == LG_VERDICT_LIVELOCK)
    r->status = LG_SCENARIO_ERROR;
  if (e->injected) r->injected++;
  if (r->stopped) r->stopped_count++;
  if (e->divergence) {
    const lg_divergence *d = e->divergence;
    fprintf(stderr,
            "%s: error: the replay diverged at decision %llu: the schedule has "
            "%c%u/%u there, the program asked %c%u/%u (uncontrolled nondeterminism)\n",
            r->p->program, (unsigned long long)d->step, lg_choice_kind_letter(d->expected.kind),
            d->expected.site, d->expected.n, lg_choice_kind_letter(d->actual.kind),
            d->actual.site, d->actual.n);
    r->status = LG_SCENARIO_ERROR;
  }
  if (r->status == LG_SCENARIO_ERROR) return -1;
  if (r->st->until) return 0;
  return r->status;
}

/* lg_check's last word before a report of the --until kind ends the process (a fatal report,
 * ASan's): the ttd line. From ASan's report (no schedule) only async-signal-safe calls. */
static void dying(const lg_check_execution *e, void *arg) {
  run_state *r = arg;
  char line[256];
  int len;
  if (e->schedule) {
    printf("ttd: kind=%s found=1 executions=%llu seconds=%.6f schedule=%s\n", r->st->until,
           e->index, seconds_since(&r->t0), e->schedule[0] ? e->schedule : "-");
    fflush(stdout);
    return;
  }
  len = snprintf(line, sizeof line,
                 "ttd: kind=%s found=1 executions=%llu seconds=%.6f schedule=-\n", r->st->until,
                 e->index, seconds_since(&r->t0));
  if (len > 0) (void)!write(1, line, (size_t)len < sizeof line ? (size_t)len : sizeof line - 1);
}

/* Runs the executions through lg_check; returns the exit status. */
static int run_iterations(const lg_scenario_program *p, const lg_scenario *sc, lg_variant variant,
                          const char *variant_name, const settings *st) {
  static const lg_check_strategy strategies[] = {LG_CHECK_RANDOM, LG_CHECK_PCT, LG_CHECK_DFS,
                                                 LG_CHECK_REPLAY, LG_CHECK_RANDOM};
  static lg_check_result res;
  run_state r = {.p = p, .sc = sc, .variant = variant, .st = st};
  lg_check_opts o = {
      .strategy = strategies[st->strat],
      .mode = st->strat == STRAT_FREE ? LG_CHECK_SCHED_FREE : LG_CHECK_SCHED,
      .iterations = st->iterations,
      .seed = st->seed,
      .seed_set = 1,
      .depth = (unsigned)st->depth,
      .bound = st->bound == ULONG_MAX ? LG_CHECK_NO_BOUND : (uint32_t)st->bound,
      .bound_set = st->bound != ULONG_MAX,
      .schedule = st->schedule,
      .budget_seconds = st->budget,
      .until = st->until,
      .quiet = 1,
      .result = &res,
      .judge = judge,
      .dying = st->until ? dying : NULL,
      .root_name = sc->name,
  };
  clock_gettime(CLOCK_MONOTONIC, &r.t0);
  int before = st->until ? -1 : live_descriptors();
  int failed = lg_check(&o, scenario_root, &r);
  if (failed < 0) return LG_SCENARIO_ERROR;
  bool free_run = st->strat == STRAT_FREE;
  if (st->until) {
    if (failed && strcmp(res.kind, st->until) == 0) {
      printf("ttd: kind=%s found=1 executions=%llu seconds=%.6f schedule=%s\n", st->until,
             res.executions, seconds_since(&r.t0), free_run ? "-" : lg_sched_schedule_string());
      return 0;
    }
    if (failed) return r.status;
    printf("ttd: kind=%s found=0 executions=%llu seconds=%.6f\n", st->until, res.executions,
           seconds_since(&r.t0));
    return 1;
  }
  if (failed) {
    if (!free_run) fprintf(stderr, "%s: schedule: %s\n", p->program, lg_sched_schedule_string());
    return r.status;
  }
  int after = live_descriptors();
  if (before >= 0 && after != before && after - before != fds_kept) {
    fprintf(stderr, "%s: error: %d descriptor(s) outlived %s (%d open before, %d after)\n",
            p->program, after - before, sc->name, before, after);
    return LG_SCENARIO_ERROR;
  }
  printf("%s: %s (%s): clean, %llu execution(s), strategy %s%s", p->program, sc->name,
         variant_name, res.executions, strategy_names[st->strat],
         res.exhausted ? ", every schedule explored" : "");
  if (r.injected)
    printf(", %lu with injected failures (%lu stopped by one)", r.injected, r.stopped_count);
  printf("\n");
  return 0;
}

int lg_scenario_main(const lg_scenario_program *p, int argc, char **argv) {
  prog_name = p->program;
  static const struct option longopts[] = {
      {"scenario", required_argument, 0, 's'}, {"variant", required_argument, 0, 'v'},
      {"seed", required_argument, 0, 'S'},     {"iterations", required_argument, 0, 'n'},
      {"fault", required_argument, 0, 'f'},    {"strategy", required_argument, 0, 't'},
      {"schedule", required_argument, 0, 'r'}, {"depth", required_argument, 0, 'd'},
      {"bound", required_argument, 0, 'b'},    {"until", required_argument, 0, 'u'},
      {"budget", required_argument, 0, 'B'},   {"list", no_argument, 0, 'l'},
      {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
  const char *scenario_name = NULL, *variant_name = NULL, *strategy_name = NULL;
  const char *schedule_text = NULL;
  const char *extra_faults[16];
  size_t nextra = 0;
  settings st = {.strat = STRAT_RANDOM, .seed = 1, .iterations = 1, .depth = 2,
                 .bound = ULONG_MAX};
  lg_decision_log parsed = {0};
  opterr = 0;
  for (;;) {
    int c = getopt_long(argc, argv, ":", longopts, NULL);
    if (c == -1) break;
    switch (c) {
    case 's': scenario_name = optarg; break;
    case 'v': variant_name = optarg; break;
    case 'S':
      if (parse_ulong(optarg, &st.seed)) return usage_error("--seed wants a number, not '%s'", optarg);
      break;
    case 'n':
      if (parse_ulong(optarg, &st.iterations) || st.iterations == 0)
        return usage_error("--iterations wants a positive number, not '%s'", optarg);
      break;
    case 'd':
      if (parse_ulong(optarg, &st.depth) || st.depth == 0 || st.depth > 64)
        return usage_error("--depth wants a number from 1 to 64, not '%s'", optarg);
      break;
    case 'b':
      if (parse_ulong(optarg, &st.bound) || st.bound >= UINT32_MAX)
        return usage_error("--bound wants a preemption count, not '%s'", optarg);
      break;
    case 'B': {
      char *end;
      st.budget = strtod(optarg, &end);
      if (end == optarg || *end || !(st.budget > 0))
        return usage_error("--budget wants a positive number of seconds, not '%s'", optarg);
      break;
    }
    case 'u': st.until = optarg; break;
    case 't': strategy_name = optarg; break;
    case 'r': schedule_text = optarg; break;
    case 'f':
      if (lg_fault_lookup(optarg) == LG_FAULT__COUNT)
        return usage_error("unknown fault switch '%s'", optarg);
      if (nextra == 16) return usage_error("too many --fault options (%s)", "max 16");
      extra_faults[nextra++] = optarg;
      break;
    case 'l': print_list(p); return 0;
    case 'h': print_help(p); return 0;
    case ':': return usage_error("option '%s' needs a value", argv[optind - 1]);
    default: return usage_error("unknown option '%s' (see --help)", argv[optind - 1]);
    }
  }
  if (optind < argc) return usage_error("unexpected argument '%s'", argv[optind]);
  if (!scenario_name) return usage_error("%s", "--scenario is required (see --list)");
  if (!variant_name) return usage_error("%s", "--variant is required (buggy or fixed)");
  lg_variant variant;
  if (strcmp(variant_name, "buggy") == 0) variant = LG_VARIANT_BUGGY;
  else if (strcmp(variant_name, "fixed") == 0) variant = LG_VARIANT_FIXED;
  else return usage_error("unknown variant '%s' (buggy or fixed)", variant_name);
  const lg_scenario *sc = NULL;
  for (size_t i = 0; i < p->count; i++)
    if (strcmp(p->scenarios[i].name, scenario_name) == 0) sc = &p->scenarios[i];
  if (!sc) return usage_error("unknown scenario '%s' (see --list)", scenario_name);
  if (strategy_name) {
    size_t i = 0;
    while (i < 5 && strcmp(strategy_names[i], strategy_name) != 0) i++;
    if (i == 5) return usage_error("unknown strategy '%s' (random, pct, dfs, replay, free)", strategy_name);
    st.strat = (strategy)i;
  }
  if (schedule_text) {
    if (strategy_name && st.strat != STRAT_REPLAY)
      return usage_error("--schedule replays a schedule; it does not go with --strategy %s",
                         strategy_name);
    st.strat = STRAT_REPLAY;
    size_t pos;
    const char *why;
    int bad = lg_schedule_parse(schedule_text, strlen(schedule_text), &parsed, &pos, &why);
    lg_log_free(&parsed);
    if (bad) {
      fprintf(stderr, "%s: error: bad --schedule at character %zu: %s\n", p->program, pos + 1, why);
      return 2;
    }
    st.schedule = schedule_text;
    st.iterations = 1;
  } else if (st.strat == STRAT_REPLAY) {
    return usage_error("%s", "--strategy replay needs --schedule STRING");
  }
  lg_fault_reset();
  if (variant == LG_VARIANT_BUGGY)
    for (size_t j = 0; sc->faults[j]; j++) lg_fault_set(sc->faults[j], true);
  for (size_t j = 0; j < nextra; j++) lg_fault_set(extra_faults[j], true);
  return run_iterations(p, sc, variant, variant_name, &st);
}

/* The shared command line and run loop of the class programs. */
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
#include <lifeguard/options.h>
#include <lifeguard/report.h>
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

/* ---- strategies ------------------------------------------------------------------ */

typedef enum { STRAT_RANDOM, STRAT_PCT, STRAT_DFS, STRAT_REPLAY, STRAT_FREE } strategy;

static const char *const strategy_names[] = {"random", "pct", "dfs", "replay", "free"};

typedef struct settings {
  strategy strat;
  unsigned long seed, iterations, depth, bound;
  double budget;             /* seconds; 0 = none */
  const char *until;         /* stop at the first report of this kind */
  lg_decision_log schedule;  /* --schedule */
} settings;

static lg_source *make_source(const settings *st) {
  switch (st->strat) {
  case STRAT_RANDOM: return lg_source_random(st->seed);
  case STRAT_PCT: return lg_source_pct(st->seed, (unsigned)st->depth, 0);
  case STRAT_DFS:
    /* without --bound: bound 0, then 1, 2, ... (few preemptions first), ending with all */
    return st->bound == ULONG_MAX ? lg_source_dfs_iterative() : lg_source_dfs((uint32_t)st->bound);
  case STRAT_REPLAY: return lg_source_replay(&st->schedule);
  case STRAT_FREE: return NULL;
  }
  return NULL;
}

/* --until: reports are counted, the process goes on (halt_on_error=0). */
static const char *until_kind;
static unsigned long until_hits;

static double seconds_since(const struct timespec *t0);

/* Where the run is, for a crash that ends it: ASan's reports do not return. */
static unsigned long until_done;
static struct timespec until_t0;

static void until_hook(const lg_report_view *v, void *arg) {
  if (strcmp(v->report->kind, until_kind) == 0) until_hits++;
  /* A fatal report (a call into an unloaded module) ends the process: say now what was found */
  if (v->report->fatal && until_hits)
    printf("ttd: kind=%s found=1 executions=%lu seconds=%.6f schedule=%s\n", until_kind,
           until_done + 1, seconds_since(&until_t0),
           lg_sched_controlled() ? lg_sched_schedule_string() : "-");
  fflush(stdout);
}

/* ASan's report of the kind --until waits for ends the process: say it was found first. */
static void until_crash_hook(const char *text) {
  static const char head[] = "ERROR: AddressSanitizer: ";
  const char *at = text ? strstr(text, head) : NULL;
  if (!at) return;
  at += sizeof head - 1;
  size_t n = strlen(until_kind);
  if (strncmp(at, until_kind, n) != 0 || (at[n] != ' ' && at[n] != '\n' && at[n] != 0)) return;
  char line[256];
  int len = snprintf(line, sizeof line, "ttd: kind=%s found=1 executions=%lu seconds=%.6f schedule=-\n",
                     until_kind, until_done + 1, seconds_since(&until_t0));
  if (len > 0) (void)!write(1, line, (size_t)len < sizeof line ? (size_t)len : sizeof line - 1);
}

static double seconds_since(const struct timespec *t0) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static int fds_kept;

void lg_scenario_keep_fds(int n) { fds_kept = n; }

typedef struct root_arg {
  const lg_scenario *sc;
  lg_scenario_ctx ctx;
  int status;
  bool stopped; /* by an injected failure */
} root_arg;

static void scenario_root(void *p) {
  root_arg *a = p;
  a->status = a->sc->run(&a->ctx);
  /* Stopped by an injected failure: clean (lg_scenario_fail says so only after one). */
  if (a->status == LG_SCENARIO_STOPPED) {
    a->stopped = true;
    a->status = lg_inject_count() ? LG_SCENARIO_CLEAN : LG_SCENARIO_ERROR;
  }
}

/* Runs the iterations; returns the exit status. */
static int run_iterations(const lg_scenario_program *p, const lg_scenario *sc, lg_variant variant,
                          const char *variant_name, settings *st) {
  lg_source *src = make_source(st);
  lg_exec_opts opts = {.mode = st->strat == STRAT_FREE ? LG_SCHED_FREE : LG_SCHED_CONTROLLED,
                       .seed = st->seed};
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  until_t0 = t0;
  int before = st->until ? -1 : live_descriptors();
  unsigned long done = 0, injected = 0, stopped = 0;
  bool exhausted = false;
  for (; done < st->iterations; done++) {
    until_done = done;
    if (st->budget > 0 && seconds_since(&t0) > st->budget) break;
    root_arg a = {.sc = sc, .ctx = {.variant = variant, .seed = st->seed, .iteration = done}};
    if (st->strat == STRAT_FREE) {
      scenario_root(&a);
    } else {
      lg_root root = {scenario_root, &a, sc->name};
      lg_exec_result res;
      if (!lg_sched_execute(&opts, src, &root, 1, &res)) {
        exhausted = true;
        break;
      }
      if (res.verdict == LG_VERDICT_DEADLOCK || res.verdict == LG_VERDICT_LIVELOCK)
        a.status = LG_SCENARIO_ERROR;
      if (lg_inject_count()) injected++;
      if (a.stopped) stopped++;
      if (st->strat == STRAT_REPLAY) {
        const lg_divergence *d = lg_source_replay_divergence(src);
        if (d->diverged) {
          fprintf(stderr,
                  "%s: error: the replay diverged at decision %llu: the schedule has "
                  "%c%u/%u there, the program asked %c%u/%u (uncontrolled nondeterminism)\n",
                  p->program, (unsigned long long)d->step,
                  lg_choice_kind_letter(d->expected.kind), d->expected.site, d->expected.n,
                  lg_choice_kind_letter(d->actual.kind), d->actual.site, d->actual.n);
          a.status = LG_SCENARIO_ERROR;
        }
      }
    }
    if (st->until) {
      if (until_hits) {
        printf("ttd: kind=%s found=1 executions=%lu seconds=%.6f schedule=%s\n", st->until,
               done + 1, seconds_since(&t0),
               st->strat == STRAT_FREE ? "-" : lg_sched_schedule_string());
        lg_source_free(src);
        return 0;
      }
      if (a.status == LG_SCENARIO_ERROR) return a.status;
      continue;
    }
    if (a.status != LG_SCENARIO_CLEAN) {
      if (st->strat != STRAT_FREE)
        fprintf(stderr, "%s: schedule: %s\n", p->program, lg_sched_schedule_string());
      lg_source_free(src);
      return a.status;
    }
  }
  lg_source_free(src);
  if (st->until) {
    printf("ttd: kind=%s found=0 executions=%lu seconds=%.6f\n", st->until, done,
           seconds_since(&t0));
    return 1;
  }
  int after = live_descriptors();
  if (before >= 0 && after != before && after - before != fds_kept) {
    fprintf(stderr, "%s: error: %d descriptor(s) outlived %s (%d open before, %d after)\n",
            p->program, after - before, sc->name, before, after);
    return LG_SCENARIO_ERROR;
  }
  printf("%s: %s (%s): clean, %lu execution(s), strategy %s%s", p->program, sc->name,
         variant_name, done, strategy_names[st->strat],
         exhausted ? ", every schedule explored" : "");
  if (injected)
    printf(", %lu with injected failures (%lu stopped by one)", injected, stopped);
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
    if (lg_schedule_parse(schedule_text, strlen(schedule_text), &st.schedule, &pos, &why) != 0) {
      fprintf(stderr, "%s: error: bad --schedule at character %zu: %s\n", p->program, pos + 1, why);
      lg_log_free(&st.schedule);
      return 2;
    }
    st.iterations = 1;
  } else if (st.strat == STRAT_REPLAY) {
    return usage_error("%s", "--strategy replay needs --schedule STRING");
  }
  if (st.until) {
    until_kind = st.until;
    lg_options_set("halt_on_error=0");
    lg_report_set_hook(until_hook, NULL);
    lg_sched_set_crash_hook(until_crash_hook);
  }

  lg_fault_reset();
  if (variant == LG_VARIANT_BUGGY)
    for (size_t j = 0; sc->faults[j]; j++) lg_fault_set(sc->faults[j], true);
  for (size_t j = 0; j < nextra; j++) lg_fault_set(extra_faults[j], true);
  int status = run_iterations(p, sc, variant, variant_name, &st);
  lg_log_free(&st.schedule);
  return status;
}

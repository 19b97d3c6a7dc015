/* The shared command line and run loop of the class programs. */
#define _GNU_SOURCE
#include "scenario.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lifeguard/faults.h>

static const char *prog_name = "scenario";

int lg_scenario_fail(const char *what) {
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
  printf("usage: %s --scenario NAME --variant buggy|fixed [--seed N] [--iterations N]\n"
         "       %*s [--fault NAME]...\n"
         "       %s --list\n\n"
         "Runs one scenario of the %s class. `buggy` turns on the scenario's fault\n"
         "switches, `fixed` turns them all off. Exit status: 0 clean, 1 could not run,\n"
         "2 bad usage, 3 symptom seen but not reported; a lifeguard report aborts.\n\n"
         "scenarios:\n",
         p->program, (int)strlen(p->program), "", p->program, p->class_name);
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

int lg_scenario_main(const lg_scenario_program *p, int argc, char **argv) {
  prog_name = p->program;
  static const struct option longopts[] = {
      {"scenario", required_argument, 0, 's'}, {"variant", required_argument, 0, 'v'},
      {"seed", required_argument, 0, 'S'},     {"iterations", required_argument, 0, 'n'},
      {"fault", required_argument, 0, 'f'},    {"list", no_argument, 0, 'l'},
      {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
  const char *scenario_name = NULL, *variant_name = NULL;
  const char *extra_faults[16];
  size_t nextra = 0;
  unsigned long seed = 0, iterations = 1;
  opterr = 0;
  for (;;) {
    int c = getopt_long(argc, argv, ":", longopts, NULL);
    if (c == -1) break;
    switch (c) {
    case 's': scenario_name = optarg; break;
    case 'v': variant_name = optarg; break;
    case 'S':
      if (parse_ulong(optarg, &seed)) return usage_error("--seed wants a number, not '%s'", optarg);
      break;
    case 'n':
      if (parse_ulong(optarg, &iterations) || iterations == 0)
        return usage_error("--iterations wants a positive number, not '%s'", optarg);
      break;
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

  lg_fault_reset();
  if (variant == LG_VARIANT_BUGGY)
    for (size_t j = 0; sc->faults[j]; j++) lg_fault_set(sc->faults[j], true);
  for (size_t j = 0; j < nextra; j++) lg_fault_set(extra_faults[j], true);

  int before = live_descriptors();
  for (unsigned long it = 0; it < iterations; it++) {
    lg_scenario_ctx ctx = {.variant = variant, .seed = seed ? seed + it : 0, .iteration = it};
    int status = sc->run(&ctx);
    if (status != LG_SCENARIO_CLEAN) return status;
  }
  int after = live_descriptors();
  if (before >= 0 && after != before) {
    fprintf(stderr, "%s: error: %d descriptor(s) outlived %s (%d open before, %d after)\n",
            p->program, after - before, sc->name, before, after);
    return LG_SCENARIO_ERROR;
  }
  printf("%s: %s (%s): clean, %lu iteration(s)\n", p->program, sc->name, variant_name, iterations);
  return 0;
}

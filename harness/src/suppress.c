/* SPDX-License-Identifier: MIT */
/* Suppressions: a report whose faulting stack has a frame matching one is dropped (not
 * logged, not printed, no abort) and counted, as with ASan's suppressions. The file, named by
 * the suppressions option, has one rule per line:
 *
 *   fun:GLOB   a frame whose function name matches GLOB (fnmatch: *, ?, [...])
 *   mod:GLOB   a frame whose module matches GLOB, as a whole path or as a file name
 *   # ...      a comment; blank lines are skipped
 *
 * It is read at start-up (constructor 104, after the options): a file that cannot be read or
 * has another kind of line is a one-line error and exit status 2. A file named later by
 * lg_options_set is read at the next report. At exit the count of dropped reports is written
 * where reports go, so a run that suppressed something says so. A fatal report (a faulting
 * access the program cannot go on from) is never suppressed. */
#define _GNU_SOURCE
#include "report_internal.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct rule {
  bool module; /* mod: (else fun:) */
  char glob[256];
} rule;

static char loaded[512]; /* the file the rules come from ("": none) */
static rule *rules;
static size_t nrules;
static unsigned long suppressed;

/* Reads `path` into `out` (malloc'd rules). Returns NULL, or what is wrong (in `why`). */
static const char *read_rules(const char *path, rule **out, size_t *nout, char *why,
                              size_t cap) {
  int fd = lg__sys_open(path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return snprintf(why, cap, "cannot read suppressions file %.400s", path), why;
  size_t len = 0, room = 4096;
  char *text = malloc(room + 1);
  for (ssize_t n; text && (n = lg__sys_read(fd, text + len, room - len)) > 0;) {
    len += (size_t)n;
    if (len == room) text = realloc(text, (room *= 2) + 1);
  }
  lg__sys_close(fd);
  if (!text) return snprintf(why, cap, "out of memory reading %.400s", path), why;
  text[len] = '\0';
  rule *r = NULL;
  size_t n = 0, lineno = 0;
  const char *err = NULL;
  for (char *line = text, *next; line && !err; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = '\0';
    lineno++;
    while (*line == ' ' || *line == '\t') line++;
    size_t l = strlen(line);
    while (l && (line[l - 1] == ' ' || line[l - 1] == '\t' || line[l - 1] == '\r')) line[--l] = 0;
    if (!*line || *line == '#') continue;
    bool module = strncmp(line, "mod:", 4) == 0;
    if ((!module && strncmp(line, "fun:", 4) != 0) || !line[4] || l - 4 >= sizeof r->glob) {
      snprintf(why, cap,
               "suppressions file %.300s, line %zu: expected fun:GLOB or mod:GLOB in '%.60s'",
               path, lineno, line);
      err = why;
      break;
    }
    r = realloc(r, (n + 1) * sizeof *r);
    r[n].module = module;
    snprintf(r[n].glob, sizeof r[n].glob, "%s", line + 4);
    n++;
  }
  free(text);
  if (err) {
    free(r);
    return err;
  }
  *out = r;
  *nout = n;
  return NULL;
}

/* Makes the rules those of the suppressions option, reading the file if it changed. */
static const char *load(char *why, size_t cap) {
  const char *path = lg__opts()->suppressions;
  if (strcmp(path, loaded) == 0) return NULL;
  free(rules);
  rules = NULL;
  nrules = 0;
  loaded[0] = '\0';
  if (!path[0]) return NULL;
  const char *err = read_rules(path, &rules, &nrules, why, cap);
  if (!err) snprintf(loaded, sizeof loaded, "%s", path);
  return err;
}

__attribute__((constructor(104))) static void load_at_start(void) {
  char why[512];
  if (!lg__opts()->suppressions[0]) return;
  lg__busy++;
  const char *err = load(why, sizeof why);
  lg__busy--;
  if (err) {
    fprintf(stderr, "lifeguard: error: LIFEGUARD_OPTIONS: %s\n", err);
    _exit(2);
  }
}

static bool matches(const rule *r, const lg_frame *f) {
  if (!r->module) return f->function[0] && fnmatch(r->glob, f->function, 0) == 0;
  if (!f->module[0]) return false;
  const char *slash = strrchr(f->module, '/');
  return fnmatch(r->glob, f->module, 0) == 0 ||
         (slash && fnmatch(r->glob, slash + 1, 0) == 0);
}

bool lg__report_suppressed(const lg_report_view *v) {
  char why[512];
  const char *err = load(why, sizeof why);
  if (err) {
    char line[600];
    int n = snprintf(line, sizeof line, "lifeguard: warning: %s; no report is suppressed\n", err);
    lg__write_all(2, line, n < (int)sizeof line ? (size_t)n : sizeof line - 1);
  }
  if (!nrules || v->report->nstacks == 0 || !v->frames[0]) return false;
  for (size_t i = 0; i < v->nframes[0]; i++)
    for (size_t j = 0; j < nrules; j++)
      if (matches(&rules[j], &v->frames[0][i])) {
        __atomic_add_fetch(&suppressed, 1, __ATOMIC_RELAXED);
        return true;
      }
  return false;
}

unsigned long lg_report_suppressed_count(void) {
  return __atomic_load_n(&suppressed, __ATOMIC_RELAXED);
}

__attribute__((destructor)) static void say_suppressed(void) {
  unsigned long n = lg_report_suppressed_count();
  if (!n) return;
  char line[700];
  int len = snprintf(line, sizeof line, "lifeguard: %lu report(s) suppressed (suppressions=%s)\n",
                     n, loaded);
  lg__report_write_text(line, len < (int)sizeof line ? (size_t)len : sizeof line - 1);
}

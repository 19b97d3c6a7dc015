/* SPDX-License-Identifier: MIT */
/* LIFEGUARD_OPTIONS: the defaults, the parser and help=1, all made from options.inc. Parsed
 * once, overridable through lg_options_set(). */
#include "internal.h"

#include <lifeguard/options.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LG_OPTION_BOOL(name, def, meaning) .name = def,
#define LG_OPTION_INT(name, def, lo, hi, meaning) .name = def,
#define LG_OPTION_POW2(name, def, lo, hi, meaning) .name = def,
#define LG_OPTION_U64(name, def, meaning) .name = def,
#define LG_OPTION_STR(name, cap, meaning) .name = "",
/* The defaults of this process (the preload library changes one, see lg__opts), and the
 * options in force. */
static lg__options defaults = {
#include "options.inc"
};
static lg__options opts = {
#include "options.inc"
};
#undef LG_OPTION_BOOL
#undef LG_OPTION_INT
#undef LG_OPTION_POW2
#undef LG_OPTION_U64
#undef LG_OPTION_STR

static int parse_bool(const char *v, bool *out) {
  if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0) *out = true;
  else if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0) *out = false;
  else return -1;
  return 0;
}

static int parse_int(const char *v, int lo, int hi, bool pow2, int *out) {
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno || end == v || *end || n < lo || n > hi) return -1;
  if (pow2 && (n & (n - 1))) return -1;
  *out = (int)n;
  return 0;
}

static int parse_u64(const char *v, unsigned long long *out) {
  char *end;
  errno = 0;
  if (*v < '0' || *v > '9') return -1; /* strtoull would take a sign */
  unsigned long long n = strtoull(v, &end, 10);
  if (errno || *end) return -1;
  *out = n;
  return 0;
}

static int parse_str(const char *v, char *out, size_t cap) {
  if (strlen(v) >= cap) return -1;
  strcpy(out, v);
  return 0;
}

/* Applies one key=value; returns NULL or what is wrong (and in `hint`, what is expected). */
static const char *apply(char *item, char *hint, size_t cap) {
  char *eq = strchr(item, '=');
  if (!eq) return "expected name=value";
  *eq = '\0';
  const char *k = item, *v = eq + 1;
  hint[0] = '\0';
#define BAD(...) (snprintf(hint, cap, "expected " __VA_ARGS__), "bad value")
#define LG_OPTION_BOOL(name, def, meaning) \
  if (!strcmp(k, #name)) return parse_bool(v, &opts.name) ? BAD("0 or 1") : NULL;
#define LG_OPTION_INT(name, def, lo, hi, meaning)                                        \
  if (!strcmp(k, #name))                                                                 \
    return parse_int(v, lo, hi, false, &opts.name) ? BAD("a number from %d to %d", lo, hi) \
                                                   : NULL;
#define LG_OPTION_POW2(name, def, lo, hi, meaning)                          \
  if (!strcmp(k, #name))                                                    \
    return parse_int(v, lo, hi, true, &opts.name)                           \
               ? BAD("a power of two from %d to %d", lo, hi) : NULL;
#define LG_OPTION_U64(name, def, meaning) \
  if (!strcmp(k, #name)) return parse_u64(v, &opts.name) ? BAD("an unsigned number") : NULL;
#define LG_OPTION_STR(name, cap_, meaning)                                   \
  if (!strcmp(k, #name))                                                     \
    return parse_str(v, opts.name, sizeof opts.name)                         \
               ? BAD("at most %zu bytes", sizeof opts.name - 1) : NULL;
#include "options.inc"
#undef LG_OPTION_BOOL
#undef LG_OPTION_INT
#undef LG_OPTION_POW2
#undef LG_OPTION_U64
#undef LG_OPTION_STR
#undef BAD
  snprintf(hint, cap, "help=1 lists the options");
  return "unknown option";
}

/* help=1: every option with this process's default and its meaning, on stderr. Written with
 * lg__write_all, not stdio: the first read of the options may come from inside malloc. */
static void print_help(void) {
  char line[1024];
  int n = snprintf(line, sizeof line,
                   "lifeguard options (LIFEGUARD_OPTIONS=name=value:name=value), each shown "
                   "with its default:\n");
  lg__write_all(2, line, (size_t)n);
#define SHOW(name, fmt, value, meaning)                                                    \
  n = snprintf(line, sizeof line, "  " #name "=" fmt "\n      %s\n", value, meaning);      \
  lg__write_all(2, line, n < (int)sizeof line ? (size_t)n : sizeof line - 1);
#define LG_OPTION_BOOL(name, def, meaning) SHOW(name, "%d", (int)defaults.name, meaning)
#define LG_OPTION_INT(name, def, lo, hi, meaning) SHOW(name, "%d", defaults.name, meaning)
#define LG_OPTION_POW2(name, def, lo, hi, meaning) SHOW(name, "%d", defaults.name, meaning)
#define LG_OPTION_U64(name, def, meaning) SHOW(name, "%llu", defaults.name, meaning)
#define LG_OPTION_STR(name, cap, meaning) SHOW(name, "%s", defaults.name, meaning)
#include "options.inc"
#undef LG_OPTION_BOOL
#undef LG_OPTION_INT
#undef LG_OPTION_POW2
#undef LG_OPTION_U64
#undef LG_OPTION_STR
#undef SHOW
}

/* Parses a whole option string; on error prints one line naming the item and returns -1. */
static int parse(const char *src, const char *origin) {
  char buf[2048];
  if (strlen(src) >= sizeof buf) {
    fprintf(stderr, "lifeguard: error: %s: longer than %zu bytes\n", origin, sizeof buf - 1);
    return -1;
  }
  strcpy(buf, src);
  char *save = NULL;
  for (char *item = strtok_r(buf, ":", &save); item; item = strtok_r(NULL, ":", &save)) {
    char shown[256];
    snprintf(shown, sizeof shown, "%s", item);
    char hint[128];
    const char *why = apply(item, hint, sizeof hint);
    if (why) {
      fprintf(stderr, "lifeguard: error: %s: %s in '%s'%s%s%s\n", origin, why, shown,
              hint[0] ? " (" : "", hint, hint[0] ? ")" : "");
      return -1;
    }
  }
  if (opts.help) {
    print_help();
    _exit(0);
  }
  return 0;
}

/* Loaded at the first use after the C library has started: an interceptor may run inside
 * start-up code (AddressSanitizer's initialization creates a pthread key, and getenv does
 * not answer yet); until then the defaults answer and the environment is read later. */
static int started, loaded;
extern const char lifeguard_preload_version[] __attribute__((weak)); /* preload.c */
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;

__attribute__((constructor(101))) static void lg__options_started(void) {
  __atomic_store_n(&started, 1, __ATOMIC_RELEASE);
}

bool lg__started(void) { return __atomic_load_n(&started, __ATOMIC_ACQUIRE); }

const lg__options *lg__opts(void) {
  if (__builtin_expect(__atomic_load_n(&loaded, __ATOMIC_ACQUIRE), 1)) return &opts;
  if (!__atomic_load_n(&started, __ATOMIC_ACQUIRE)) return &opts;
  pthread_mutex_lock(&load_lock);
  if (!loaded) {
    /* Sampling by allocation site is for programs nobody built for lifeguard (preloaded,
     * often large); a program linked with it guards every block by default. */
    if (lifeguard_preload_version) defaults.pageheap_sites = opts.pageheap_sites = true;
    const char *env = getenv("LIFEGUARD_OPTIONS");
    if (env && parse(env, "LIFEGUARD_OPTIONS") != 0) _exit(2);
    __atomic_store_n(&loaded, 1, __ATOMIC_RELEASE);
  }
  pthread_mutex_unlock(&load_lock);
  return &opts;
}

/* Read at start-up, right after the constructor above: a malformed string stops the program
 * before main, and help=1 answers before the program does anything. */
__attribute__((constructor(102))) static void lg__options_load(void) { (void)lg__opts(); }

int lg_options_set(const char *options) {
  lg__opts();
  return parse(options, "lg_options_set");
}

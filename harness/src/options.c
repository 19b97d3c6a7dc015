/* LIFEGUARD_OPTIONS: parsed once, overridable through lg_options_set(). */
#include "internal.h"

#include <lifeguard/report.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static lg__options opts = {
    .log_json = "",
    .halt_on_error = true,
    .symbolize = true,
    .symbolizer = "",
    .fast_unwind = true,
    .stack_depth = 24,
    .fdcheck = true,
    .fd_quarantine = 64,
    .tag_stdio = true,
    .check_forked_children = false,
    .modcheck = true,
    .modcheck_census = true,
    .modcheck_placeholders = 256,
    .pageheap = true,
    .pageheap_quarantine_mb = 256,
    .pageheap_align = 16,
    .pageheap_sample = 1,
    .pageheap_sites = false, /* true in the preload library: see lg__opts */
    .handle_segv = true,
};

static int parse_bool(const char *v, bool *out) {
  if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0) *out = true;
  else if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0) *out = false;
  else return -1;
  return 0;
}

static int parse_int(const char *v, int lo, int hi, int *out) {
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno || end == v || *end || n < lo || n > hi) return -1;
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

/* Applies one key=value; returns NULL or a description of what is wrong. */
static const char *apply(char *item) {
  char *eq = strchr(item, '=');
  if (!eq) return "expected key=value";
  *eq = '\0';
  const char *k = item, *v = eq + 1;
  int r;
  if (!strcmp(k, "log_json")) r = parse_str(v, opts.log_json, sizeof opts.log_json);
  else if (!strcmp(k, "halt_on_error")) r = parse_bool(v, &opts.halt_on_error);
  else if (!strcmp(k, "symbolize")) r = parse_bool(v, &opts.symbolize);
  else if (!strcmp(k, "symbolizer")) r = parse_str(v, opts.symbolizer, sizeof opts.symbolizer);
  else if (!strcmp(k, "fast_unwind")) r = parse_bool(v, &opts.fast_unwind);
  else if (!strcmp(k, "stack_depth")) r = parse_int(v, 1, LG_STACK_MAX, &opts.stack_depth);
  else if (!strcmp(k, "fdcheck")) r = parse_bool(v, &opts.fdcheck);
  else if (!strcmp(k, "fd_quarantine")) r = parse_int(v, 0, 65536, &opts.fd_quarantine);
  else if (!strcmp(k, "tag_stdio")) r = parse_bool(v, &opts.tag_stdio);
  else if (!strcmp(k, "check_forked_children")) r = parse_bool(v, &opts.check_forked_children);
  else if (!strcmp(k, "modcheck")) r = parse_bool(v, &opts.modcheck);
  else if (!strcmp(k, "modcheck_census")) r = parse_bool(v, &opts.modcheck_census);
  else if (!strcmp(k, "modcheck_placeholders"))
    r = parse_int(v, 0, 4096, &opts.modcheck_placeholders);
  else if (!strcmp(k, "pageheap")) r = parse_bool(v, &opts.pageheap);
  else if (!strcmp(k, "pageheap_quarantine_mb"))
    r = parse_int(v, 0, 1 << 20, &opts.pageheap_quarantine_mb);
  else if (!strcmp(k, "pageheap_align")) {
    r = parse_int(v, 1, 4096, &opts.pageheap_align);
    if (!r && (opts.pageheap_align & (opts.pageheap_align - 1))) r = -1; /* a power of two */
  } else if (!strcmp(k, "pageheap_sites")) r = parse_bool(v, &opts.pageheap_sites);
  else if (!strcmp(k, "pageheap_sample"))
    r = parse_int(v, 1, 1 << 30, &opts.pageheap_sample);
  else if (!strcmp(k, "handle_segv")) r = parse_bool(v, &opts.handle_segv);
  else if (!strcmp(k, "pageheap_seed")) r = parse_u64(v, &opts.pageheap_seed);
  else return "unknown option";
  return r ? "bad value" : NULL;
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
    const char *why = apply(item);
    if (why) {
      fprintf(stderr, "lifeguard: error: %s: %s in '%s'\n", origin, why, shown);
      return -1;
    }
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
    if (lifeguard_preload_version) opts.pageheap_sites = true;
    const char *env = getenv("LIFEGUARD_OPTIONS");
    if (env && parse(env, "LIFEGUARD_OPTIONS") != 0) _exit(2);
    __atomic_store_n(&loaded, 1, __ATOMIC_RELEASE);
  }
  pthread_mutex_unlock(&load_lock);
  return &opts;
}

int lg_options_set(const char *options) {
  lg__opts();
  return parse(options, "lg_options_set");
}

/* The report: JSON line, hook, ASan-like text, then abort. */
#define _GNU_SOURCE
#include "report_internal.h"

#include <lifeguard/report.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;
static lg_report_hook hook;
static void *hook_arg;
static lg_schedule_provider schedule_provider;
static lg_seed_provider seed_provider;
static atomic_ulong reports;

void lg_report_set_hook(lg_report_hook h, void *arg) {
  pthread_mutex_lock(&report_lock);
  hook = h;
  hook_arg = arg;
  pthread_mutex_unlock(&report_lock);
}

void lg_report_set_schedule_provider(lg_schedule_provider fn) { schedule_provider = fn; }

void lg_report_set_seed_provider(lg_seed_provider fn) {
  __atomic_store_n(&seed_provider, fn, __ATOMIC_RELEASE);
}

/* The page heap's seed, when it has one: *has is false otherwise. */
static unsigned long long report_seed(bool *has) {
  lg_seed_provider fn = __atomic_load_n(&seed_provider, __ATOMIC_ACQUIRE);
  unsigned long long seed = 0;
  *has = fn && fn(&seed);
  return seed;
}

unsigned long lg_report_count(void) { return atomic_load(&reports); }

/* ---- a growing text buffer -------------------------------------------------------- */

typedef struct buf {
  char *p;
  size_t len, cap;
} buf;

static void bprintf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(buf *b, const char *fmt, ...) {
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = b->cap - b->len;
    int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? room : 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (b->p && (size_t)n < room) {
      b->len += (size_t)n;
      return;
    }
    b->cap = (b->cap + (size_t)n + 1) * 2;
    b->p = realloc(b->p, b->cap);
  }
}

static void bjson_str(buf *b, const char *s) {
  bprintf(b, "\"");
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') bprintf(b, "\\%c", c);
    else if (c == '\n') bprintf(b, "\\n");
    else if (c < 0x20) bprintf(b, "\\u%04x", c);
    else bprintf(b, "%c", c);
  }
  bprintf(b, "\"");
}

/* ---- formatting ------------------------------------------------------------------- */

static void text_frames(buf *b, const lg_frame *f, size_t n) {
  if (n == 0) bprintf(b, "    <no stack>\n");
  for (size_t i = 0; i < n; i++) {
    bprintf(b, "    #%zu 0x%lx in %s", i, (unsigned long)f[i].pc,
            f[i].function[0] ? f[i].function : "<unknown>");
    if (f[i].file[0]) bprintf(b, " %s:%d:%d\n", f[i].file, f[i].line, f[i].column);
    else bprintf(b, " (%s+0x%lx)\n", f[i].module[0] ? f[i].module : "<unknown module>",
                 (unsigned long)f[i].offset);
  }
}

static void json_frames(buf *b, const lg_frame *f, size_t n) {
  bprintf(b, "[");
  for (size_t i = 0; i < n; i++) {
    bprintf(b, "%s{\"pc\":\"0x%lx\",\"module\":", i ? "," : "", (unsigned long)f[i].pc);
    bjson_str(b, f[i].module);
    bprintf(b, ",\"offset\":\"0x%lx\",\"function\":", (unsigned long)f[i].offset);
    bjson_str(b, f[i].function);
    bprintf(b, ",\"file\":");
    bjson_str(b, f[i].file);
    bprintf(b, ",\"line\":%d,\"column\":%d}", f[i].line, f[i].column);
  }
  bprintf(b, "]");
}

/* Where the fault happened: the first frame of the current stack that has a source line. */
static void summary_location(buf *b, const lg_frame *f, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (f[i].file[0]) {
      bprintf(b, "%s:%d in %s", f[i].file, f[i].line, f[i].function);
      return;
    }
  if (n) bprintf(b, "(%s+0x%lx)", f[0].module, (unsigned long)f[0].offset);
  else bprintf(b, "<no stack>");
}

static void write_json(const char *path, const lg_report *r, const lg_report_view *v,
                       const char *summary, const char *schedule, bool has_seed,
                       unsigned long long seed, pid_t pid, pid_t tid) {
  buf b = {0};
  bprintf(&b, "{\"tool\":\"lifeguard\",\"version\":\"%s\",\"kind\":", LG_VERSION);
  bjson_str(&b, r->kind);
  bprintf(&b, ",\"pid\":%d,\"tid\":%d,\"fd\":%d,\"headline\":", (int)pid, (int)tid, r->fd);
  bjson_str(&b, r->headline);
  bprintf(&b, ",\"summary\":");
  bjson_str(&b, summary);
  bprintf(&b, ",\"detail\":");
  bjson_str(&b, r->detail);
  bprintf(&b, ",\"schedule\":");
  if (schedule) bjson_str(&b, schedule);
  else bprintf(&b, "null");
  bprintf(&b, ",\"pageheap_seed\":");
  if (has_seed) bprintf(&b, "%llu", seed);
  else bprintf(&b, "null");
  bprintf(&b, ",\"stacks\":{");
  for (size_t i = 0; i < r->nstacks; i++) {
    bprintf(&b, "%s", i ? "," : "");
    bjson_str(&b, r->stacks[i].name);
    bprintf(&b, ":");
    json_frames(&b, v->frames[i], v->nframes[i]);
  }
  bprintf(&b, "},\"threads\":{");
  for (size_t i = 0; i < r->nstacks; i++) {
    bprintf(&b, "%s", i ? "," : "");
    bjson_str(&b, r->stacks[i].name);
    bprintf(&b, ":%d", r->stacks[i].tid);
  }
  bprintf(&b, "}}\n");
  int fd = lg__sys_open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd >= 0) {
    lg__write_all(fd, b.p, b.len);
    lg__sys_close(fd);
  } else {
    static const char msg[] = "lifeguard: warning: cannot open log_json file\n";
    lg__write_all(2, msg, sizeof msg - 1);
  }
  free(b.p);
}

void lg_report_emit(const lg_report *r) {
  const lg__options *o = lg__opts();
  lg__busy++;
  pthread_mutex_lock(&report_lock);
  pid_t pid = getpid(), tid = lg__gettid();

  lg_report_view v = {.report = r};
  /* Every stack of the report in one symbolizer run (a run costs a process start and the
   * reading of each module's debug information, a tenth of a second or more for libc). */
  const uintptr_t *spcs[LG_REPORT_MAX_STACKS];
  size_t sn[LG_REPORT_MAX_STACKS] = {0}, total = 0;
  size_t nst = r->nstacks < LG_REPORT_MAX_STACKS ? r->nstacks : LG_REPORT_MAX_STACKS;
  for (size_t i = 0; i < nst; i++) total += sn[i] = lg_stack_pcs(r->stacks[i].id, &spcs[i]);
  uintptr_t *all = malloc((total ? total : 1) * sizeof *all);
  size_t *counts = calloc(total ? total : 1, sizeof *counts);
  size_t max = total * 4 + 1; /* room for inlined frames */
  lg_frame *storage = calloc(max, sizeof(lg_frame));
  size_t k = 0;
  for (size_t i = 0; i < nst; i++)
    for (size_t j = 0; j < sn[i] && all; j++) all[k++] = spcs[i][j];
  if (total && all && counts && storage) lg__symbolize_each(all, total, storage, max, counts);
  size_t at = 0;
  k = 0;
  for (size_t i = 0; i < nst; i++) {
    size_t frames = 0;
    for (size_t j = 0; j < sn[i] && counts; j++) frames += counts[k++];
    v.frames[i] = storage ? storage + at : NULL;
    v.nframes[i] = storage ? frames : 0;
    at += frames;
  }
  free(all);
  free(counts);
  if (!r->fatal && lg__report_suppressed(&v)) {
    free(storage);
    pthread_mutex_unlock(&report_lock);
    lg__busy--;
    return;
  }

  buf summary = {0};
  bprintf(&summary, "%s ", r->kind);
  summary_location(&summary, v.frames[0], v.nframes[0]);
  const char *schedule = schedule_provider ? schedule_provider() : NULL;
  bool has_seed;
  unsigned long long seed = report_seed(&has_seed);

  if (o->log_json[0])
    write_json(o->log_json, r, &v, summary.p, schedule, has_seed, seed, pid, tid);
  if (hook) hook(&v, hook_arg);

  buf t = {0};
  bprintf(&t, "=================================================================\n");
  bprintf(&t, "==%d==ERROR: lifeguard: %s %s (thread %d)\n", (int)pid, r->kind, r->headline,
          (int)tid);
  for (size_t i = 0; i < r->nstacks; i++) {
    if (i > 0 || r->stacks[i].title[0]) bprintf(&t, "%s:\n", r->stacks[i].title);
    text_frames(&t, v.frames[i], v.nframes[i]);
    if (i == 0 && r->detail[0]) bprintf(&t, "%s\n", r->detail);
    bprintf(&t, "\n");
  }
  if (schedule) bprintf(&t, "schedule: %s\n\n", schedule);
  if (has_seed)
    bprintf(&t, "pageheap seed: %llu (LIFEGUARD_OPTIONS=pageheap_seed=%llu replays the page "
            "heap's guard decisions)\n\n", seed, seed);
  bprintf(&t, "SUMMARY: lifeguard: %s\n", summary.p);
  if (o->halt_on_error || r->fatal) bprintf(&t, "==%d==ABORTING\n", (int)pid);
  lg__report_write_text(t.p, t.len);

  free(t.p);
  free(summary.p);
  free(storage);
  atomic_fetch_add(&reports, 1);
  pthread_mutex_unlock(&report_lock);
  lg__busy--;
  if (o->halt_on_error || r->fatal) abort();
}

/* SPDX-License-Identifier: MIT */
/* The report: first lines, JSON line, text, hook, then abort.
 *
 * A report may come from a fault handler, on a thread interrupted while it held any lock of
 * the program's or the C library's (the allocator's arena, a stream, the report's own), so
 * the whole path allocates nothing and takes no lock that such a thread may hold, the way
 * compiler-rt's sanitizer_common reports:
 *   1. the first lines, written at once with one write(2): the kind, the headline and the
 *      current stack's raw pcs as module+offset (_dl_find_object, lock-free), formatted by
 *      lg__format (format.c), as everything in a report is; with log_json, a line
 *      "begin PID TID KIND" is appended to LOG_JSON.inflight before them (the fault is in
 *      flight: see below);
 *   2. the rest, in a report slot of memory mapped once (a few are kept for reports made at
 *      the same time by different threads): every stack symbolized in one symbolizer run
 *      (stack.c: clone(CLONE_VM|CLONE_VFORK) and execve, pipes by system call), the JSON
 *      line, then "end PID TID" in LOG_JSON.inflight, then the text under a print lock (an
 *      owner word, so that two reports' texts do not interleave), then the hook, with the
 *      print lock released and the thread no longer counted as reporting (a report from the
 *      hook is a report).
 * If the symbolizer is missing or fails, the frames print as module+offset, as in phase 1.
 *
 * A report inside a report (this thread faults, or reports, while it writes one): a fault
 * ends the process by its signal with one line (signal.c asks lg__report_active); a
 * report is dropped with one line. Neither waits for anything.
 *
 * Faults in flight. A program whose main thread exits while another thread writes a report
 * would exit 0 with the report cut short. So a kernel fault is counted from the dispatcher's
 * first act until its classifiers give a verdict, and each report from its first act; the
 * exit path (an atexit handler registered when the library starts, which runs after the
 * program's own) waits for the verdicts of faults being classified, then ends the process by
 * SIGABRT when a report of another thread has begun, once that report's first lines are out
 * (system calls, nothing to wait for). It never waits for a report's end, nor for a fault
 * the program handles (its verdict comes before the program's handler runs). The
 * LOG_JSON.inflight lines let the verify driver count a report whose process ended before
 * its JSON line (by _exit from another thread, say) as a report. */
#define _GNU_SOURCE
#include "report_internal.h"

#include <lifeguard/report.h>

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static lg_report_hook hook;
static void *hook_arg;
static lg_schedule_provider schedule_provider;
static lg_seed_provider seed_provider;
static atomic_ulong reports;

/* This thread's report, while it writes one (the hook excepted). */
static __thread int reporting __attribute__((tls_model("initial-exec")));

bool lg__report_active(void) { return reporting != 0; }

void lg_report_set_hook(lg_report_hook h, void *arg) {
  __atomic_store_n(&hook_arg, arg, __ATOMIC_RELAXED);
  __atomic_store_n(&hook, h, __ATOMIC_RELEASE);
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

lg_report_stack *lg_report_add_stack(lg_report *r, const char *name, lg_stack_id id, int tid,
                                     const char *title_fmt, ...) {
  if (r->nstacks >= LG_REPORT_MAX_STACKS) return NULL;
  lg_report_stack *s = &r->stacks[r->nstacks++];
  memset(s, 0, sizeof *s);
  s->name = name;
  s->id = id;
  s->tid = tid;
  va_list ap;
  va_start(ap, title_fmt);
  lg__vformat(s->title, sizeof s->title, title_fmt, ap);
  va_end(ap);
  return s;
}

/* ---- a bounded text buffer ------------------------------------------------------------ */

/* Appends stop at the capacity (the text is cut, never overrun). bprintf formats with
 * lg__format, so it is async-signal-safe and serves the first lines as well. */
typedef struct buf {
  char *p;
  size_t len, cap;
} buf;

static void bprintf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(buf *b, const char *fmt, ...) {
  if (b->len + 1 >= b->cap) return;
  va_list ap;
  va_start(ap, fmt);
  size_t n = lg__vformat(b->p + b->len, b->cap - b->len, fmt, ap);
  va_end(ap);
  if (n > 0) b->len += n < b->cap - b->len ? n : b->cap - b->len - 1;
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

static const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

/* ---- reports in flight ---------------------------------------------------------------- */

#define INFLIGHT_SLOTS 16

typedef struct inflight {
  int tid;             /* 0: free */
  const char *kind;
  int first_lines_out; /* phase 1 written */
} inflight;

static inflight flights[INFLIGHT_SLOTS];
static int flights_open; /* reports begun and not ended, claimed slot or not */
static int faults_classifying; /* kernel faults whose classifiers run now */

void lg__report_fault_classifying(int delta) {
  __atomic_add_fetch(&faults_classifying, delta, __ATOMIC_ACQ_REL);
}

static inflight *flight_begin(const char *kind, int tid) {
  __atomic_add_fetch(&flights_open, 1, __ATOMIC_ACQ_REL);
  for (int i = 0; i < INFLIGHT_SLOTS; i++) {
    int free_tid = 0;
    if (__atomic_compare_exchange_n(&flights[i].tid, &free_tid, -1, false, __ATOMIC_ACQUIRE,
                                    __ATOMIC_RELAXED)) {
      flights[i].kind = kind;
      __atomic_store_n(&flights[i].first_lines_out, 0, __ATOMIC_RELAXED);
      __atomic_store_n(&flights[i].tid, tid, __ATOMIC_RELEASE);
      return &flights[i];
    }
  }
  return NULL; /* counted, not described */
}

static void flight_end(inflight *f) {
  if (f) __atomic_store_n(&f->tid, 0, __ATOMIC_RELEASE);
  __atomic_sub_fetch(&flights_open, 1, __ATOMIC_ACQ_REL);
}

/* The marker lines of LOG_JSON.inflight (see the header). */
static void flight_mark(const char *what, int pid, int tid, const char *kind) {
  const char *log = lg__opts()->log_json;
  if (!log[0]) return;
  char path[600], line[200];
  buf p = {path, 0, sizeof path}, l = {line, 0, sizeof line};
  bprintf(&p, "%s.inflight", log);
  bprintf(&l, "%s %d %d%s%s\n", what, pid, tid, kind ? " " : "", kind ? kind : "");
  int fd = lg__sys_open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  lg__write_all(fd, l.p, l.len);
  lg__sys_close(fd);
}

/* The exit path: see the header. Bounded: first lines are a few system calls away, and a
 * report that never gets them out (its thread stopped by a debugger?) is not waited for
 * beyond FIRST_LINES_WAIT yields. */
#define FIRST_LINES_WAIT 1000000

static void exit_while_reporting(void) {
  int self = lg__gettid();
  if (reporting) return;
  const char *kind = "fault";
  int tid = 0;
  for (long spins = 0; spins < FIRST_LINES_WAIT; spins++) {
    /* a fault being classified: reported (a flight begins) or not (the count drops) */
    bool waiting = __atomic_load_n(&faults_classifying, __ATOMIC_ACQUIRE) >
                   __atomic_load_n(&flights_open, __ATOMIC_ACQUIRE);
    for (int i = 0; i < INFLIGHT_SLOTS; i++) {
      int t = __atomic_load_n(&flights[i].tid, __ATOMIC_ACQUIRE);
      if (t <= 0 || t == self) continue;
      kind = flights[i].kind;
      tid = t;
      if (!__atomic_load_n(&flights[i].first_lines_out, __ATOMIC_ACQUIRE)) waiting = true;
    }
    if (!waiting) break;
    sched_yield();
  }
  if (__atomic_load_n(&flights_open, __ATOMIC_ACQUIRE) == 0) return; /* it ended meanwhile */
  char line[300];
  buf b = {line, 0, sizeof line};
  bprintf(&b, "==%d==lifeguard: the program is exiting while thread %d reports a %s: its report "
             "is cut short; ending by SIGABRT so the run does not pass as clean\n",
          (int)getpid(), tid, kind);
  lg__report_write_text(b.p, b.len);
  abort();
}

/* A forked child has no thread writing its parent's reports. */
static void forget_flights(void) {
  memset(flights, 0, sizeof flights);
  flights_open = 0;
  faults_classifying = 0;
}

__attribute__((constructor)) static void watch_exit(void) {
  atexit(exit_while_reporting);
  pthread_atfork(NULL, NULL, forget_flights);
}

/* ---- report slots --------------------------------------------------------------------- */

#define REPORT_SLOTS 4
#define SLOT_PCS (LG_REPORT_MAX_STACKS * LG_STACK_MAX)
#define SLOT_FRAMES (SLOT_PCS * 4) /* room for inlined frames */
#define SLOT_TEXT ((size_t)1 << 20)

typedef struct slot_mem {
  uintptr_t pcs[SLOT_PCS];
  size_t counts[SLOT_PCS];
  lg_frame frames[SLOT_FRAMES];
  char text[SLOT_TEXT];
  char scratch[]; /* lg__symbolize_scratch_size(SLOT_PCS) bytes */
} slot_mem;

static struct {
  int owner; /* tid, 0: free */
  slot_mem *mem;
} slots[REPORT_SLOTS];

static size_t slot_scratch_size(void) { return lg__symbolize_scratch_size(SLOT_PCS); }

/* A slot for this thread, its memory mapped on first use; NULL when every slot is taken by
 * this thread already (reports from hooks of reports) or cannot be mapped. Waits while
 * other threads hold all of them (they write their reports without waiting for us). */
static int slot_take(int self) {
  for (;;) {
    bool mine = false;
    for (int i = 0; i < REPORT_SLOTS; i++) {
      int free_tid = 0;
      if (__atomic_compare_exchange_n(&slots[i].owner, &free_tid, self, false,
                                      __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
        if (!slots[i].mem) {
          void *m = mmap(NULL, sizeof(slot_mem) + slot_scratch_size(), PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
          if (m == MAP_FAILED) {
            __atomic_store_n(&slots[i].owner, 0, __ATOMIC_RELEASE);
            return -1;
          }
          slots[i].mem = m;
        }
        return i;
      }
      if (free_tid == self) mine = true;
    }
    if (mine) return -1;
    sched_yield();
  }
}

static void slot_give(int i) {
  if (i >= 0) __atomic_store_n(&slots[i].owner, 0, __ATOMIC_RELEASE);
}

/* The print lock: texts of two reports do not interleave. Its holder only writes. */
static int print_owner;

static void print_lock(int self) {
  int free_tid = 0;
  while (!__atomic_compare_exchange_n(&print_owner, &free_tid, self, false, __ATOMIC_ACQUIRE,
                                      __ATOMIC_RELAXED)) {
    free_tid = 0;
    sched_yield();
  }
}

static void print_unlock(void) { __atomic_store_n(&print_owner, 0, __ATOMIC_RELEASE); }

/* ---- formatting ------------------------------------------------------------------- */

/* The pcs of stack `s` of a report: its raw pcs, else the depot's. */
static size_t stack_pcs(const lg_report_stack *s, const uintptr_t **pcs) {
  if (s->pcs && s->npcs) {
    *pcs = s->pcs;
    return s->npcs;
  }
  return lg_stack_pcs(s->id, pcs);
}

/* Phase 1: separator, ERROR line, the current stack's raw pcs. Async-signal-safe. */
static void first_lines(const lg_report *r, int pid, int tid) {
  char line[4096];
  buf b = {line, 0, sizeof line};
  bprintf(&b, "=================================================================\n"
             "==%d==ERROR: lifeguard: %s %s (thread %d)\n", pid, r->kind, r->headline, tid);
  const uintptr_t *pcs = NULL;
  size_t n = r->nstacks ? stack_pcs(&r->stacks[0], &pcs) : 0;
  if (n) bprintf(&b, "    pcs:");
  for (size_t i = 0; i < n && b.len + 300 < b.cap; i++) {
    const char *path;
    uintptr_t bias;
    if (lg__module_of(pcs[i] - 1, &path, &bias))
      bprintf(&b, " %s+0x%lx", base_name(path[0] ? path : "?"),
              (unsigned long)(pcs[i] - 1 - bias));
    else
      bprintf(&b, " 0x%lx", (unsigned long)(pcs[i] - 1));
  }
  if (n) bprintf(&b, "\n");
  lg__report_write_text(b.p, b.len);
}

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

/* Room kept free at the end of the JSON buffer, so that the line always closes. */
#define JSON_TAIL 4096

static void json_frames(buf *b, const lg_frame *f, size_t n) {
  bprintf(b, "[");
  for (size_t i = 0; i < n && b->len + JSON_TAIL < b->cap; i++) {
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

typedef struct facts {
  int pid, tid;
  const char *summary, *schedule;
  bool has_seed;
  unsigned long long seed;
} facts;

static void write_json(buf *b, const char *path, const lg_report *r, const lg_report_view *v,
                       const facts *x, const char *tool) {
  b->len = 0;
  bprintf(b, "{\"tool\":\"%s\",\"version\":\"%s\",\"kind\":", tool, LG_VERSION);
  bjson_str(b, r->kind);
  bprintf(b, ",\"pid\":%d,\"tid\":%d,\"fd\":%d,\"headline\":", x->pid, x->tid, r->fd);
  bjson_str(b, r->headline);
  bprintf(b, ",\"summary\":");
  bjson_str(b, x->summary);
  bprintf(b, ",\"detail\":");
  bjson_str(b, r->detail);
  bprintf(b, ",\"schedule\":");
  if (x->schedule) bjson_str(b, x->schedule);
  else bprintf(b, "null");
  bprintf(b, ",\"pageheap_seed\":");
  if (x->has_seed) bprintf(b, "%llu", x->seed);
  else bprintf(b, "null");
  bprintf(b, ",\"stacks\":{");
  for (size_t i = 0; i < r->nstacks; i++) {
    bprintf(b, "%s", i ? "," : "");
    bjson_str(b, r->stacks[i].name);
    bprintf(b, ":");
    json_frames(b, v->frames[i], v->nframes[i]);
  }
  bprintf(b, "},\"threads\":{");
  for (size_t i = 0; i < r->nstacks; i++) {
    bprintf(b, "%s", i ? "," : "");
    bjson_str(b, r->stacks[i].name);
    bprintf(b, ":%d", r->stacks[i].tid);
  }
  bprintf(b, "}}\n");
  int fd = lg__sys_open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd >= 0) {
    lg__write_all(fd, b->p, b->len);
    lg__sys_close(fd);
  } else {
    static const char msg[] = "lifeguard: warning: cannot open log_json file\n";
    lg__write_all(2, msg, sizeof msg - 1);
  }
}

/* The text after the first lines: the stacks, the schedule and seed, SUMMARY. */
static void write_text(buf *b, const lg_report *r, const lg_report_view *v, const facts *x,
                       bool aborting) {
  b->len = 0;
  for (size_t i = 0; i < r->nstacks; i++) {
    if (i > 0 || r->stacks[i].title[0]) bprintf(b, "%s:\n", r->stacks[i].title);
    text_frames(b, v->frames[i], v->nframes[i]);
    if (i == 0 && r->detail[0]) bprintf(b, "%s\n", r->detail);
    bprintf(b, "\n");
  }
  if (x->schedule) bprintf(b, "schedule: %s\n\n", x->schedule);
  if (x->has_seed)
    bprintf(b, "pageheap seed: %llu (LIFEGUARD_OPTIONS=pageheap_seed=%llu replays the page "
            "heap's guard decisions)\n\n", x->seed, x->seed);
  bprintf(b, "SUMMARY: lifeguard: %s\n", x->summary);
  if (aborting) bprintf(b, "==%d==ABORTING\n", x->pid);
  lg__report_write_text(b->p, b->len);
}

/* Phase 2 in slot `s`: symbolizes every stack in one run, fills the view. */
static void symbolize_all(slot_mem *s, const lg_report *r, lg_report_view *v) {
  size_t sn[LG_REPORT_MAX_STACKS] = {0}, total = 0;
  size_t nst = r->nstacks < LG_REPORT_MAX_STACKS ? r->nstacks : LG_REPORT_MAX_STACKS;
  for (size_t i = 0; i < nst; i++) {
    const uintptr_t *pcs = NULL;
    size_t n = stack_pcs(&r->stacks[i], &pcs);
    if (n > LG_STACK_MAX) n = LG_STACK_MAX;
    memcpy(s->pcs + total, pcs, n * sizeof *pcs);
    total += sn[i] = n;
  }
  if (total)
    lg__symbolize_each(s->pcs, total, s->frames, SLOT_FRAMES, s->counts, s->scratch,
                       slot_scratch_size());
  size_t at = 0, k = 0;
  for (size_t i = 0; i < nst; i++) {
    size_t frames = 0;
    for (size_t j = 0; j < sn[i]; j++) frames += s->counts[k++];
    v->frames[i] = s->frames + at;
    v->nframes[i] = frames;
    at += frames;
  }
}

void lg_report_emit(const lg_report *r) {
  const lg__options *o = lg__opts();
  int pid = getpid(), tid = lg__gettid();
  bool aborting = o->halt_on_error || r->fatal;
  if (reporting) { /* a report inside the one this thread writes: one line, no more */
    char line[300];
    buf b = {line, 0, sizeof line};
    bprintf(&b, "==%d==lifeguard: a %s report inside a report of thread %d: not written\n",
            pid, r->kind, tid);
    lg__report_write_text(b.p, b.len);
    return;
  }
  reporting = 1;
  lg__busy++;
  lg_report_view v = {.report = r};
  int si = -1;
  slot_mem *s = NULL;
  if (!r->fatal && o->suppressions[0]) {
    /* A report that may be suppressed is symbolized before anything is written (a fatal one
     * never is: its first lines go out first). Not from a fault handler, so the print lock,
     * which serialises the rules, may be waited for. */
    si = slot_take(tid);
    s = si >= 0 ? slots[si].mem : NULL;
    if (s) symbolize_all(s, r, &v);
    print_lock(tid);
    bool drop = s && lg__report_suppressed(&v);
    print_unlock();
    if (drop) {
      slot_give(si);
      reporting = 0;
      lg__busy--;
      return;
    }
  }
  inflight *f = flight_begin(r->kind, tid);
  flight_mark("begin", pid, tid, r->kind);
  first_lines(r, pid, tid);
  if (f) __atomic_store_n(&f->first_lines_out, 1, __ATOMIC_RELEASE);

  if (si < 0) {
    si = slot_take(tid);
    s = si >= 0 ? slots[si].mem : NULL;
    if (s) symbolize_all(s, r, &v);
  }
  char summary_text[1024];
  buf summary = {summary_text, 0, sizeof summary_text};
  bprintf(&summary, "%s ", r->kind);
  summary_location(&summary, v.frames[0], v.nframes[0]);
  facts x = {.pid = pid, .tid = tid, .summary = summary_text,
             .schedule = schedule_provider ? schedule_provider() : NULL};
  x.seed = report_seed(&x.has_seed);
  char fallback[2048]; /* no slot: the summary alone (the first lines have the stack) */
  buf b = s ? (buf){s->text, 0, SLOT_TEXT} : (buf){fallback, 0, sizeof fallback};
  if (o->log_json[0] && s) write_json(&b, o->log_json, r, &v, &x, "lifeguard");
  flight_mark("end", pid, tid, NULL);
  print_lock(tid);
  if (s) write_text(&b, r, &v, &x, aborting);
  else {
    b.len = 0;
    bprintf(&b, "SUMMARY: lifeguard: %s\n", summary_text);
    if (aborting) bprintf(&b, "==%d==ABORTING\n", pid);
    lg__report_write_text(b.p, b.len);
  }
  print_unlock();
  atomic_fetch_add(&reports, 1);
  if (!aborting) flight_end(f); /* (an aborting report ends with its process) */
  reporting = 0;

  lg_report_hook h = __atomic_load_n(&hook, __ATOMIC_ACQUIRE);
  if (h) h(&v, __atomic_load_n(&hook_arg, __ATOMIC_RELAXED));
  slot_give(si);
  lg__busy--;
  if (aborting) abort();
}

/* ---- AddressSanitizer's own reports ----------------------------------------------------- */

/* Under ASan, its reports go to log_json as well, as the same JSON record: "tool" is
 * "AddressSanitizer", the kind is its SUMMARY word (its ERROR word when the SUMMARY is
 * missing; "attempting double-free" says double-free), the headline the rest of its ERROR
 * line, and the stacks its text gives: the first is "current", the one after "freed by
 * thread" is "free", after "allocated by thread" "alloc" (others, such as where a thread
 * was created, are left out). ASan calls back with its report's text right before the
 * process dies (__asan_set_error_report_callback, one slot: the scheduler's crash writer is
 * called from here, lg__report_set_asan_text_hook). */
void __asan_set_error_report_callback(void (*callback)(const char *)) __attribute__((weak));

static void (*asan_text_next)(const char *);

/* One line of ASan's text: [p, end). */
typedef struct span {
  const char *p;
  size_t n;
} span;

static bool starts(span l, const char *s) {
  size_t k = strlen(s);
  return l.n >= k && memcmp(l.p, s, k) == 0;
}

static const char *find_in(span l, const char *s) {
  size_t k = strlen(s);
  for (size_t i = 0; i + k <= l.n; i++)
    if (memcmp(l.p + i, s, k) == 0) return l.p + i;
  return NULL;
}

/* `    #3 0x4f2a1b in fn file.c:12:5`, `... in fn (module+0x1a)` or
 * `    #3 0x4f2a1b  (module+0x1a)`, with an optional ` (BuildId: ...)` at the end. False for
 * any other line. */
static bool asan_frame(span l, lg_frame *f) {
  size_t i = 0;
  while (i < l.n && l.p[i] == ' ') i++;
  if (i == 0 || i >= l.n || l.p[i] != '#') return false;
  while (i < l.n && l.p[i] != ' ') i++;
  while (i < l.n && l.p[i] == ' ') i++;
  memset(f, 0, sizeof *f);
  char *end;
  char num[24];
  size_t k = 0;
  while (i < l.n && l.p[i] != ' ' && k + 1 < sizeof num) num[k++] = l.p[i++];
  num[k] = '\0';
  f->pc = (uintptr_t)strtoull(num, &end, 16);
  span rest = {l.p + i, l.n - i};
  while (rest.n && rest.p[0] == ' ') rest.p++, rest.n--;
  const char *bid = find_in(rest, " (BuildId: ");
  if (bid) rest.n = (size_t)(bid - rest.p);
  while (rest.n && rest.p[rest.n - 1] == ' ') rest.n--;
  if (starts(rest, "in ")) rest.p += 3, rest.n -= 3;
  /* the location is the last word: (module+0xoff) or file:line:col */
  size_t w = rest.n;
  while (w && rest.p[w - 1] != ' ') w--;
  span loc = {rest.p + w, rest.n - w};
  span fn = {rest.p, w ? w - 1 : 0};
  if (loc.n > 2 && loc.p[0] == '(' && loc.p[loc.n - 1] == ')') {
    const char *plus = NULL;
    for (size_t j = loc.n; j-- > 0;)
      if (loc.p[j] == '+') { plus = loc.p + j; break; }
    if (plus) {
      lg__copy_field(f->module, sizeof f->module, loc.p + 1, (size_t)(plus - loc.p - 1));
      lg__copy_field(num, sizeof num, plus + 1, (size_t)(loc.p + loc.n - 1 - plus - 1));
      f->offset = (uintptr_t)strtoull(num, &end, 16);
    }
  } else if (w) {
    if (!lg__parse_location(loc.p, loc.n, f)) {
      f->file[0] = '\0';
      fn = rest; /* a function name alone */
    }
  } else {
    fn = rest;
  }
  if (fn.n) lg__copy_field(f->function, sizeof f->function, fn.p, fn.n);
  return true;
}

static void asan_json(const char *text) {
  const char *log = lg__opts()->log_json;
  int tid = lg__gettid();
  int si = log[0] ? slot_take(tid) : -1;
  if (si < 0) return;
  slot_mem *s = slots[si].mem;
  lg_report r = {.kind = "", .fd = -1};
  lg_report_view v = {.report = &r};
  char kind[64] = "", summary[512] = "";
  size_t nframes = 0;
  int stack = -1; /* the stack the frames go to, -1: none */
  bool seen_error = false;
  for (const char *p = text; p && *p;) {
    const char *nl = strchr(p, '\n');
    span l = {p, nl ? (size_t)(nl - p) : strlen(p)};
    p = nl ? nl + 1 : NULL;
    const char *at;
    lg_frame f;
    if (!seen_error && (at = find_in(l, "ERROR: AddressSanitizer: "))) {
      seen_error = true;
      span rest = {at + 25, l.n - (size_t)(at + 25 - l.p)};
      if (starts(rest, "attempting ")) rest.p += 11, rest.n -= 11;
      size_t w = 0;
      while (w < rest.n && rest.p[w] != ' ') w++;
      lg__copy_field(kind, sizeof kind, rest.p, w);
      size_t gap = w < rest.n; /* the space after the word */
      lg__copy_field(r.headline, sizeof r.headline, rest.p + w + gap, rest.n - w - gap);
      lg_report_add_stack(&r, "current", 0, tid, "%s", "");
      stack = 0;
    } else if (seen_error && (at = find_in(l, "SUMMARY: AddressSanitizer: "))) {
      span rest = {at + 27, l.n - (size_t)(at + 27 - l.p)};
      lg__copy_field(summary, sizeof summary, rest.p, rest.n);
      size_t w = 0;
      while (w < rest.n && rest.p[w] != ' ') w++;
      if (w && w < sizeof kind) lg__copy_field(kind, sizeof kind, rest.p, w);
      break;
    } else if (seen_error && asan_frame(l, &f)) {
      if (stack < 0 || nframes == SLOT_FRAMES) continue;
      if (!v.frames[stack]) v.frames[stack] = s->frames + nframes;
      s->frames[nframes++] = f;
      v.nframes[stack]++;
    } else if (seen_error) {
      if (stack >= 0 && !v.nframes[stack]) continue; /* ("READ of size 4 ..." before it) */
      stack = -1; /* a stack ends at its first other line */
      const char *name = find_in(l, "freed by thread") ? "free"
                         : find_in(l, "allocated by thread") ? "alloc" : NULL;
      if (name && l.n && l.p[l.n - 1] == ':' &&
          lg_report_add_stack(&r, name, 0, 0, "%.*s", (int)(l.n - 1), l.p))
        stack = (int)r.nstacks - 1;
    }
  }
  if (seen_error) {
    r.kind = kind;
    facts x = {.pid = getpid(), .tid = tid, .summary = summary[0] ? summary : kind};
    buf b = {s->text, 0, SLOT_TEXT};
    write_json(&b, log, &r, &v, &x, "AddressSanitizer");
  }
  slot_give(si);
}

static void on_asan_text(const char *text) {
  lg__busy++;
  if (text) asan_json(text);
  lg__busy--;
  void (*next)(const char *) = __atomic_load_n(&asan_text_next, __ATOMIC_ACQUIRE);
  if (next) next(text);
}

bool lg__report_set_asan_text_hook(void (*fn)(const char *)) {
  __atomic_store_n(&asan_text_next, fn, __ATOMIC_RELEASE);
  return __asan_set_error_report_callback != NULL;
}

__attribute__((constructor)) static void hook_asan_reports(void) {
  if (__asan_set_error_report_callback) __asan_set_error_report_callback(on_asan_text);
}

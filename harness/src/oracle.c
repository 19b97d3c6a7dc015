/* SPDX-License-Identifier: MIT */
/* The functional oracles (lifeguard/oracle.h): a table of handles and a ledger of
 * references, each a chained hash over a fixed pool mapped once, under one lock that is held
 * only for the lookup (no stack capture, no report and no scheduling point inside it).
 *
 * Handles are keyed by their serial. A closed handle stays in the table as a tombstone, so a
 * late callback or delivery names it; when the pool is full the closed handles with no call
 * in progress are dropped (a later call of one is then not known, and not reported).
 * References are keyed by (object, role); an entry stays at count 0 until the object is
 * gone, so that a second release finds where the first one was. When the ledger's pool is
 * full, new entries are not made and a release that finds none is not reported (it cannot
 * tell), which is said once on stderr. */
#define _GNU_SOURCE
#include <lifeguard/oracle.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <lifeguard/report.h>
#include <lifeguard/stack.h>

#include "internal.h"

#define BUCKETS 4096u
#define POOL 65536u
#define NONE 0u

typedef struct hnode {
  uint64_t id;
  const char *what;
  uint32_t next; /* index + 1, NONE = end */
  bool closed;
  int calls;     /* callbacks in progress */
  lg_stack_id open_stack, close_stack;
  int open_tid, close_tid;
} hnode;

typedef struct rnode {
  const void *owner, *obj;
  const char *type, *role;
  uint32_t next;
  long count, taken, released;
  lg_stack_id take_stack, drop_stack;
  int take_tid, drop_tid;
} rnode;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t hbuckets[BUCKETS], rbuckets[BUCKETS];
static hnode *hpool;
static rnode *rpool;
static uint32_t hfree, rfree, htop, rtop; /* free lists (index + 1) and high-water marks */
static bool rfull_said;
static uint64_t next_serial;
static lg_oracle_stats stats;

static void tally(unsigned long long *counter) {
  __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

void lg_oracle_stats_get(lg_oracle_stats *out) {
  out->handles = __atomic_load_n(&stats.handles, __ATOMIC_RELAXED);
  out->calls = __atomic_load_n(&stats.calls, __ATOMIC_RELAXED);
  out->deliveries = __atomic_load_n(&stats.deliveries, __ATOMIC_RELAXED);
  out->refs = __atomic_load_n(&stats.refs, __ATOMIC_RELAXED);
  out->releases = __atomic_load_n(&stats.releases, __ATOMIC_RELAXED);
}

bool lg_oracle_enabled(void) { return lg__started() && lg__opts()->oracles; }

uint64_t lg_oracle_serial(void) { return __atomic_add_fetch(&next_serial, 1, __ATOMIC_RELAXED); }

static uint32_t hash64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return (uint32_t)x & (BUCKETS - 1);
}

/* The pools, mapped at first use; the caller holds the lock. False if the mapping failed. */
static bool pools(void) {
  if (hpool) return true;
  void *h = mmap(NULL, POOL * sizeof(hnode), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  void *r = mmap(NULL, POOL * sizeof(rnode), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (h == MAP_FAILED || r == MAP_FAILED) {
    if (h != MAP_FAILED) munmap(h, POOL * sizeof(hnode));
    if (r != MAP_FAILED) munmap(r, POOL * sizeof(rnode));
    return false;
  }
  hpool = h;
  rpool = r;
  return true;
}

/* ---- handles ------------------------------------------------------------------------- */

static hnode *hfind(uint64_t id) {
  for (uint32_t i = hbuckets[hash64(id)]; i != NONE; i = hpool[i - 1].next)
    if (hpool[i - 1].id == id) return &hpool[i - 1];
  return NULL;
}

/* Drops every closed handle with no call in progress (the pool is full). */
static void hevict(void) {
  for (uint32_t b = 0; b < BUCKETS; b++) {
    uint32_t *link = &hbuckets[b];
    while (*link != NONE) {
      hnode *n = &hpool[*link - 1];
      if (n->closed && n->calls == 0) {
        uint32_t idx = *link;
        *link = n->next;
        n->next = hfree;
        hfree = idx;
      } else {
        link = &n->next;
      }
    }
  }
}

static hnode *hnew(uint64_t id) {
  uint32_t idx = hfree;
  if (idx != NONE) {
    hfree = hpool[idx - 1].next;
  } else {
    if (htop == POOL) hevict();
    idx = hfree;
    if (idx != NONE) hfree = hpool[idx - 1].next;
    else if (htop < POOL) idx = ++htop;
    else return NULL;
  }
  hnode *n = &hpool[idx - 1];
  memset(n, 0, sizeof *n);
  n->id = id;
  uint32_t b = hash64(id);
  n->next = hbuckets[b];
  hbuckets[b] = idx;
  return n;
}

void lg_handle_open(uint64_t h, const char *what) {
  if (!h || !lg_oracle_enabled()) return;
  tally(&stats.handles);
  lg_stack_id st = lg_stack_capture(__builtin_frame_address(0));
  pthread_mutex_lock(&lock);
  hnode *n = pools() ? (hfind(h) ? NULL : hnew(h)) : NULL;
  if (n) {
    n->what = what ? what : "handle";
    n->open_stack = st;
    n->open_tid = lg__gettid();
  }
  pthread_mutex_unlock(&lock);
}

/* A report about handle `n` (a copy taken under the lock): current stack from `frame`,
 * then its close and open stacks. */
static void report_handle(const char *kind, const hnode *n, void *frame, const char *detail) {
  lg_report r = {.kind = kind, .fd = -1};
  lg__format(r.headline, sizeof r.headline, "on %s #%llu: %s", n->what,
             (unsigned long long)n->id, detail);
  lg_report_add_stack(&r, "current", 0, lg__gettid(), "%s", "");
  r.stacks[0].id = lg_stack_capture(frame);
  if (n->close_stack)
    lg_report_add_stack(&r, "close", n->close_stack, n->close_tid,
                        "%s #%llu was closed by thread %d here", n->what,
                        (unsigned long long)n->id, n->close_tid);
  if (n->open_stack)
    lg_report_add_stack(&r, "open", n->open_stack, n->open_tid,
                        "%s #%llu was opened by thread %d here", n->what,
                        (unsigned long long)n->id, n->open_tid);
  lg_report_emit(&r);
}

void lg_handle_close(uint64_t h, bool waits) {
  if (!h || !lg_oracle_enabled()) return;
  lg_stack_id st = lg_stack_capture(__builtin_frame_address(0));
  pthread_mutex_lock(&lock);
  hnode *n = hpool ? hfind(h) : NULL;
  hnode copy = {0};
  bool running = false;
  if (n) {
    n->closed = true;
    n->close_stack = st;
    n->close_tid = lg__gettid();
    running = waits && n->calls > 0;
    copy = *n;
  }
  pthread_mutex_unlock(&lock);
  if (running)
    report_handle("completion-after-close", &copy, __builtin_frame_address(0),
                  "its close returned while a callback of it was still running");
}

void lg_handle_call_begin(uint64_t h) {
  if (!h || !lg_oracle_enabled()) return;
  tally(&stats.calls);
  pthread_mutex_lock(&lock);
  hnode *n = hpool ? hfind(h) : NULL;
  hnode copy = {0};
  bool closed = false;
  if (n) {
    n->calls++;
    closed = n->closed;
    copy = *n;
  }
  pthread_mutex_unlock(&lock);
  if (closed)
    report_handle("completion-after-close", &copy, __builtin_frame_address(0),
                  "a callback of it begins after its close returned");
}

void lg_handle_call_end(uint64_t h) {
  if (!h || !lg_oracle_enabled()) return;
  pthread_mutex_lock(&lock);
  hnode *n = hpool ? hfind(h) : NULL;
  if (n && n->calls > 0) n->calls--;
  pthread_mutex_unlock(&lock);
}

void lg_handle_deliver(uint64_t posted_for, uint64_t receiver, uint64_t token) {
  if (!posted_for || !receiver || !lg_oracle_enabled()) return;
  tally(&stats.deliveries);
  if (posted_for == receiver) return;
  pthread_mutex_lock(&lock);
  hnode *to = hpool ? hfind(receiver) : NULL;
  hnode *from = hpool && posted_for != LG_ORACLE_NOBODY ? hfind(posted_for) : NULL;
  hnode tcopy = to ? *to : (hnode){.id = receiver, .what = "handle"};
  hnode fcopy = from ? *from : (hnode){.id = posted_for, .what = "handle"};
  pthread_mutex_unlock(&lock);
  /* Stamped "nobody" for a receiver that is closed: the event was produced as the receiver
   * closed (its token unbound between the readiness and the stamp, on another thread), and
   * a closed registration may still receive one (it is released at the next turn). */
  if (posted_for == LG_ORACLE_NOBODY && tcopy.closed) return;
  lg_report r = {.kind = "misdelivered-event", .fd = -1};
  if (posted_for == LG_ORACLE_NOBODY)
    lg__format(r.headline, sizeof r.headline,
               "with token 0x%llx, posted when no handle had that token, delivered to %s #%llu",
               (unsigned long long)token, tcopy.what, (unsigned long long)receiver);
  else
    lg__format(r.headline, sizeof r.headline,
               "with token 0x%llx, posted for %s #%llu%s, delivered to %s #%llu",
               (unsigned long long)token, fcopy.what, (unsigned long long)posted_for,
               fcopy.closed ? " (closed since)" : "", tcopy.what, (unsigned long long)receiver);
  lg_report_add_stack(&r, "current", 0, lg__gettid(), "%s", "");
  r.stacks[0].id = lg_stack_capture(__builtin_frame_address(0));
  if (tcopy.open_stack)
    lg_report_add_stack(&r, "receiver", tcopy.open_stack, tcopy.open_tid,
                        "%s #%llu (the receiver) was opened by thread %d here", tcopy.what,
                        (unsigned long long)receiver, tcopy.open_tid);
  if (fcopy.open_stack)
    lg_report_add_stack(&r, "open", fcopy.open_stack, fcopy.open_tid,
                        "%s #%llu (the event's) was opened by thread %d here", fcopy.what,
                        (unsigned long long)posted_for, fcopy.open_tid);
  if (fcopy.close_stack)
    lg_report_add_stack(&r, "close", fcopy.close_stack, fcopy.close_tid,
                        "%s #%llu (the event's) was closed by thread %d here", fcopy.what,
                        (unsigned long long)posted_for, fcopy.close_tid);
  lg_report_emit(&r);
}

/* ---- references ----------------------------------------------------------------------- */

static uint32_t hashp(const void *p) { return hash64((uint64_t)(uintptr_t)p); }

static rnode *rfind(const void *obj, const char *role) {
  for (uint32_t i = rbuckets[hashp(obj)]; i != NONE; i = rpool[i - 1].next) {
    rnode *n = &rpool[i - 1];
    if (n->obj == obj && (n->role == role || strcmp(n->role, role) == 0)) return n;
  }
  return NULL;
}

static rnode *rnew(const void *obj) {
  uint32_t idx = rfree;
  if (idx != NONE) rfree = rpool[idx - 1].next;
  else if (rtop < POOL) idx = ++rtop;
  else return NULL;
  rnode *n = &rpool[idx - 1];
  memset(n, 0, sizeof *n);
  n->obj = obj;
  uint32_t b = hashp(obj);
  n->next = rbuckets[b];
  rbuckets[b] = idx;
  return n;
}

void lg_ref_take(const void *owner, const void *obj, const char *type, const char *role) {
  if (!obj || !lg_oracle_enabled()) return;
  tally(&stats.refs);
  lg_stack_id st = lg_stack_capture(__builtin_frame_address(0));
  bool full = false;
  pthread_mutex_lock(&lock);
  rnode *n = NULL;
  if (pools()) {
    n = rfind(obj, role);
    if (!n && (n = rnew(obj))) n->role = role;
    full = !n && !rfull_said;
    if (full) rfull_said = true;
  }
  if (n) {
    n->owner = owner;
    n->type = type ? type : "object";
    n->count++;
    n->taken++;
    n->take_stack = st;
    n->take_tid = lg__gettid();
  }
  pthread_mutex_unlock(&lock);
  if (full)
    fprintf(stderr, "lifeguard: the reference ledger is full (%u entries): references taken "
                    "from now on are not checked\n", POOL);
}

void lg_ref_drop(const void *obj, const char *role) {
  if (!obj || !lg_oracle_enabled()) return;
  tally(&stats.releases);
  lg_stack_id st = lg_stack_capture(__builtin_frame_address(0));
  pthread_mutex_lock(&lock);
  rnode *n = hpool ? rfind(obj, role) : NULL;
  rnode copy = {0};
  bool over = false;
  if (n) {
    over = n->count == 0;
    copy = *n;
    if (!over) {
      n->count--;
      n->released++;
      n->drop_stack = st;
      n->drop_tid = lg__gettid();
    }
  } else {
    over = !rfull_said; /* never taken (unless the ledger could not record it) */
    copy = (rnode){.obj = obj, .type = "object", .role = role};
  }
  pthread_mutex_unlock(&lock);
  if (!over) return;
  lg_report r = {.kind = "over-release", .fd = -1};
  lg__format(r.headline, sizeof r.headline,
             "of a %s reference on %s %p: no %s reference is held (%ld taken, %ld released)",
             role, copy.type, obj, role, copy.taken, copy.released);
  lg_report_add_stack(&r, "current", 0, lg__gettid(), "%s", "");
  r.stacks[0].id = st;
  if (copy.drop_stack)
    lg_report_add_stack(&r, "release", copy.drop_stack, copy.drop_tid,
                        "the last %s reference was released by thread %d here", role,
                        copy.drop_tid);
  if (copy.take_stack)
    lg_report_add_stack(&r, "take", copy.take_stack, copy.take_tid,
                        "the last %s reference was taken by thread %d here", role,
                        copy.take_tid);
  lg_report_emit(&r);
}

void lg_ref_gone(const void *obj) {
  if (!obj || !lg_oracle_enabled()) return;
  pthread_mutex_lock(&lock);
  if (hpool) {
    uint32_t *link = &rbuckets[hashp(obj)];
    while (*link != NONE) {
      rnode *n = &rpool[*link - 1];
      if (n->obj == obj) {
        uint32_t idx = *link;
        *link = n->next;
        n->next = rfree;
        rfree = idx;
      } else {
        link = &n->next;
      }
    }
  }
  pthread_mutex_unlock(&lock);
}

size_t lg_ref_check(const void *owner, const char *what) {
  if (!lg_oracle_enabled()) return 0;
  lg_stack_id here = lg_stack_capture(__builtin_frame_address(0));
  size_t reported = 0;
  for (;;) {
    /* one leaked entry at a time, taken out under the lock, reported outside it */
    rnode copy = {0};
    bool found = false;
    pthread_mutex_lock(&lock);
    for (uint32_t b = 0; hpool && b < BUCKETS && !found; b++) {
      for (uint32_t *link = &rbuckets[b]; *link != NONE; link = &rpool[*link - 1].next) {
        rnode *n = &rpool[*link - 1];
        if (n->owner != owner || n->count == 0) continue;
        copy = *n;
        uint32_t idx = *link;
        *link = n->next;
        n->next = rfree;
        rfree = idx;
        found = true;
        break;
      }
    }
    pthread_mutex_unlock(&lock);
    if (!found) break;
    lg_report r = {.kind = "reference-leak", .fd = -1};
    lg__format(r.headline, sizeof r.headline,
               "on %s %p: %ld %s reference%s never released when %s (%ld taken, %ld released)",
               copy.type, copy.obj, copy.count, copy.role, copy.count == 1 ? " was" : "s were",
               what ? what : "its owner was torn down", copy.taken, copy.released);
    lg_report_add_stack(&r, "current", here, lg__gettid(), "%s", "");
    if (copy.take_stack)
      lg_report_add_stack(&r, "take", copy.take_stack, copy.take_tid,
                          "the last %s reference was taken by thread %d here", copy.role,
                          copy.take_tid);
    lg_report_emit(&r);
    reported++;
  }
  return reported;
}

void lg_contract_fail(const char *fmt, ...) {
  lg_report r = {.kind = "contract-violation", .fd = -1, .fatal = 1};
  va_list ap;
  va_start(ap, fmt);
  lg__vformat(r.headline, sizeof r.headline, fmt, ap);
  va_end(ap);
  lg_report_add_stack(&r, "current", 0, lg__gettid(), "%s", "");
  r.stacks[0].id = lg_stack_capture(__builtin_frame_address(0));
  lg_report_emit(&r);
  abort(); /* fatal reports abort in lg_report_emit; this keeps the promise if one did not */
}

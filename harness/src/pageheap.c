/* SPDX-License-Identifier: MIT */
/* pageheap: a guard-page allocator in the spirit of full page heap, for builds without
 * AddressSanitizer (linked into the `plain` build, and preloaded by liblifeguard-preload.so).
 *
 * Memory comes only from mmap. Arenas of address space are reserved inaccessible; each block
 * gets a slot of whole pages there, made readable and writable at malloc and ending
 * (right-aligned to pageheap_align) just before the next inaccessible page, so the first byte
 * past the block faults. The slack between the block's end and the page end (under 16 bytes
 * by default) is filled with a pattern that free checks. free maps fresh inaccessible pages
 * over the slot (one system call: the memory goes back to the kernel and any later access
 * faults) and puts it in a FIFO quarantine bounded in bytes of address space; a slot leaving
 * the quarantine is reused by a block of the same page count (one mprotect). So a
 * malloc/free pair costs two system calls and never unmaps.
 *
 * Each slot's metadata lives out of band (sizes, state, the allocation and free stacks in
 * the stack depot), found from any address through a page map. A fault inside an arena is
 * classified by classify_fault (the dispatcher's pageheap slot): a freed block is
 * heap-use-after-free (with its free and allocation stacks), a guard page
 * heap-buffer-overflow or -underflow (the kinds as AddressSanitizer names them, so a fault
 * has one name whichever detector finds it).
 *
 * Mappings are the scarce resource: a live block between inaccessible pages costs two VMAs,
 * and the kernel allows vm.max_map_count (65530 by default); a freed slot costs none (its
 * fresh PROT_NONE pages merge with the guard pages on either side). Live guarded blocks are
 * limited to a quarter of the mappings, and the budget is approached, not spent up front:
 * which allocations are guarded is a seeded random draw whose chance falls as the live
 * guarded population nears the budget and, with pageheap_sites (the preload library's
 * default), as the allocation's site allocates more (a site's first allocations are always
 * guarded, so code that first allocates late in a big program is). Unguarded blocks, and
 * those from before the C library started, come from glibc; free tells them apart by
 * address. */
#define _GNU_SOURCE
#include "signal_internal.h"
#include "stack_internal.h"

#include <lifeguard/pageheap.h>
#include <lifeguard/report.h>

#if defined(__SANITIZE_ADDRESS__)
#define LG_NO_PAGEHEAP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LG_NO_PAGEHEAP 1
#endif
#endif

#ifdef LG_NO_PAGEHEAP
/* AddressSanitizer owns malloc: no page heap in this build. */
lg_pageheap_stats lg_pageheap_stats_get(void) {
  return (lg_pageheap_stats){0};
}

bool lg_pageheap_guarded(const void *p) {
  (void)p;
  return false;
}
#else

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

/* The page size (sysconf at start, see start()): blocks, guards and slots are whole pages. */
static uintptr_t page_bytes;
#define PAGE page_bytes
#define ARENA_BYTES ((uintptr_t)1 << 36) /* 64 GiB of address space per arena */
#define MAX_ARENAS 16
#define PAGES_PER_ARENA (ARENA_BYTES / PAGE)
#define MAX_SLOTS (1u << 24)
#define SMALL_CLASSES 256 /* exact free lists for slots of 1..255 data pages */
#define SLACK_BYTE 0xAB
#define FRAMES 24

/* Every function of the page heap goes to one section, so a captured stack can start at the
 * first frame outside it: the caller of malloc or free, whatever was inlined where. */
#define LGPH __attribute__((section("lgph_text"), noinline))
extern const char __start_lgph_text[] __attribute__((weak)), __stop_lgph_text[] __attribute__((weak));

static bool in_pageheap(uintptr_t pc) {
  return pc > (uintptr_t)__start_lgph_text && pc <= (uintptr_t)__stop_lgph_text;
}

enum { SLOT_UNUSED = 0, SLOT_LIVE, SLOT_QUARANTINED, SLOT_FREE };

typedef struct slot {
  uintptr_t base;      /* first data page */
  uint32_t pages;      /* data pages; the page after them is never accessible */
  uint8_t state;
  uint8_t align_log2;
  uint16_t pad;
  uintptr_t user;      /* the block handed out */
  size_t size;         /* its requested size */
  lg_stack_id alloc_stack, free_stack;
  int alloc_tid, free_tid;
  uint32_t next;       /* free list or quarantine link (slot index) */
} slot;

static struct {
  pthread_mutex_t lock;
  int ready;           /* 1: arenas usable; -1: could not start (glibc serves everything) */
  uintptr_t arena[MAX_ARENAS];
  uintptr_t bump[MAX_ARENAS];
  int narenas;
  uint32_t *pagemap[MAX_ARENAS]; /* page index -> slot index + 1 (0: none) */
  slot *slots;
  uint32_t nslots;
  uint32_t free_small[SMALL_CLASSES];
  uint32_t free_large;
  uint32_t q_head, q_tail; /* quarantine FIFO, oldest first */
  size_t q_bytes;
  uint64_t live, live_bytes, live_limit, allocs, frees, degraded_allocs;
  int said_degraded;
  uint64_t seed;       /* the sampling seed (pageheap_seed, or drawn at start) */
  uint64_t streams;    /* threads that have drawn so far */
} ph = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- set-up ----------------------------------------------------------------------------- */

/* The kernel's default vm.max_map_count (DEFAULT_MAX_MAP_COUNT), for when /proc does not say. */
#define DEFAULT_MAX_MAP_COUNT 65530

/* The mappings a process may have: the page heap's budget is a share of them. */
LGPH static long read_max_map_count(void) {
  int fd = lg__sys_open("/proc/sys/vm/max_map_count", 0 /* O_RDONLY */, 0);
  if (fd < 0) return DEFAULT_MAX_MAP_COUNT;
  char buf[32];
  ssize_t n = lg__sys_read(fd, buf, sizeof buf - 1);
  lg__sys_close(fd);
  if (n <= 0) return DEFAULT_MAX_MAP_COUNT;
  buf[n] = 0;
  long v = strtol(buf, NULL, 10);
  return v > 0 ? v : DEFAULT_MAX_MAP_COUNT;
}

LGPH static void classify_fault(int sig, siginfo_t *si, void *ucv);

static void atfork_prepare(void) { pthread_mutex_lock(&ph.lock); }
static void atfork_release(void) { pthread_mutex_unlock(&ph.lock); }

LGPH static int add_arena(void) {
  if (ph.narenas == MAX_ARENAS) return -1;
  void *a = mmap(NULL, ARENA_BYTES, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (a == MAP_FAILED) return -1;
  void *pm = mmap(NULL, PAGES_PER_ARENA * sizeof(uint32_t), PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (pm == MAP_FAILED) {
    munmap(a, ARENA_BYTES);
    return -1;
  }
  ph.arena[ph.narenas] = (uintptr_t)a;
  ph.bump[ph.narenas] = (uintptr_t)a + PAGE; /* a leading guard page */
  ph.pagemap[ph.narenas] = pm;
  ph.narenas++;
  return 0;
}

static uint64_t first_seed(void);
static void map_sites(void);

/* Called with the lock held. */
LGPH static void start(void) {
  ph.ready = -1;
  page_bytes = lg__page_size();
  void *s = mmap(NULL, (size_t)MAX_SLOTS * sizeof(slot), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (s == MAP_FAILED) return;
  ph.slots = s;
  ph.nslots = 1; /* index 0 means "none" */
  if (add_arena() != 0) return;
  ph.live_limit = (uint64_t)read_max_map_count() / 4;
  ph.seed = first_seed();
  map_sites();
  ph.ready = 1;
}

/* ---- sampling ---------------------------------------------------------------------------- */

/* Each thread draws from its own stream: the seed, the thread's number (threads are numbered
 * in the order of their first allocation) and its count of allocations so far go through a
 * 64-bit mix. No lock and no shared counter on the hot path, and a single-threaded program
 * run twice with the same seed meets the same draws at the same allocations. */
static __thread uint64_t th_stream __attribute__((tls_model("initial-exec")));
static __thread uint64_t th_count __attribute__((tls_model("initial-exec")));

static inline uint64_t mix64(uint64_t z) { /* splitmix64's finalizer */
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

LGPH static uint64_t draw(void) {
  if (__builtin_expect(!th_stream, 0))
    th_stream = __atomic_add_fetch(&ph.streams, 1, __ATOMIC_RELAXED);
  uint64_t n = th_count++;
  return mix64(mix64(ph.seed ^ (th_stream * 0x9E3779B97F4A7C15ull)) + n * 0xD1B54A32D192ED03ull);
}

/* Allocation sites. Use-after-free bugs live in code that runs rarely (an addon, a plug-in,
 * an error path, a shutdown), and a program's hot sites (a runtime's start-up makes hundreds
 * of thousands of blocks from a few thousand sites) are where a guard costs most: every
 * guarded free is a remap, which in a threaded process is a TLB shootdown. So the chance of
 * a guard falls with the number of allocations n its site made before:
 *     n < SITE_FULL:  always guarded (while under the budget, whatever the chance below);
 *     after that:     max(SITE_FULL / n, 1 / SITE_FLOOR) times the chance below,
 * which guards about SITE_FULL * (1 + ln(N / SITE_FULL)) + N / SITE_FLOOR of a site's N
 * allocations: all of a cold site's, a small share of a hot one's, never none. A site is the
 * allocation's return address and the next return addresses of a short frame-pointer walk
 * (through operator new or a runtime's allocator wrapper to the code that asked; where a
 * frame has no frame pointer the walk stops early and the key is coarser, never wrong).
 * Counts live in a fixed open-addressed table updated with atomics (a lost increment under
 * contention shifts a site's count by one); when it is full, new sites share one count. */
#define SITE_FULL 4
#define SITE_FLOOR 64
#define SITE_FRAMES 3
#define SITES (1u << 16)
#define SITE_PROBES 64

typedef struct site_entry {
  uint64_t key;
  uint64_t count;
} site_entry;

static site_entry *site_table;
static uint64_t site_overflow;

LGPH static void map_sites(void) {
  void *t = mmap(NULL, SITES * sizeof(site_entry), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (t != MAP_FAILED) site_table = t; /* without it, every site shares one count */
}

LGPH static uint64_t site_key(uintptr_t site) {
  uintptr_t pcs[SITE_FRAMES + 4]; /* (the page heap's own 3 frames come first) */
  size_t n = lg__stack_walk_fp((uintptr_t)__builtin_frame_address(0), pcs, SITE_FRAMES + 4);
  size_t i = 0;
  while (i < n && in_pageheap(pcs[i])) i++;
  if (i < n && pcs[i] == site) i++; /* the return address itself comes first */
  uint64_t h = mix64(site);
  for (size_t k = 1; k < SITE_FRAMES && i < n; k++, i++) h = mix64(h ^ pcs[i]);
  return h ? h : 1;
}

/* The number of allocations the site `key` made before this one. */
LGPH static uint64_t site_seen(uint64_t key) {
  if (!site_table) return __atomic_fetch_add(&site_overflow, 1, __ATOMIC_RELAXED);
  uint32_t at = (uint32_t)(key ^ (key >> 32));
  for (uint32_t k = 0; k < SITE_PROBES; k++) {
    site_entry *e = &site_table[(at + k) & (SITES - 1)];
    uint64_t cur = __atomic_load_n(&e->key, __ATOMIC_ACQUIRE);
    if (!cur && __atomic_compare_exchange_n(&e->key, &cur, key, false, __ATOMIC_ACQ_REL,
                                            __ATOMIC_ACQUIRE))
      cur = key;
    if (cur == key) { /* a load and a store, not a locked add: a lost count is harmless */
      uint64_t n = __atomic_load_n(&e->count, __ATOMIC_RELAXED);
      __atomic_store_n(&e->count, n + 1, __ATOMIC_RELAXED);
      return n;
    }
  }
  return __atomic_fetch_add(&site_overflow, 1, __ATOMIC_RELAXED);
}

/* The chance that an allocation is guarded when `live` guarded blocks are live, B being the
 * budget: 1/N (pageheap_sample) while under FULL_SHARE of B, then falling as the square of
 * the budget left, to nothing at B:
 *     p(live) = 1/N * min(1, ((B - live) / (B * (1 - FULL_SHARE)))^2)
 * times the site's factor above (pageheap_sites=1). The budget is approached but not spent:
 * long-lived blocks of a start-up leave headroom (2 * (B - live) mappings) that a late
 * site's first allocations and later short-lived blocks use, and every guarded block freed
 * raises the chance again. A draw is taken for every allocation, guarded or not, so the draw
 * of allocation k of a thread depends only on the seed, the thread's number and k. */
#define FULL_SHARE 0.25

LGPH static bool chosen(uint64_t live, uintptr_t site) {
  uint64_t r = draw();
  double left = (double)ph.live_limit - (double)live;
  if (left <= 0) return false;
  const lg__options *o = lg__opts();
  double p = 1.0 / (double)o->pageheap_sample;
  if (o->pageheap_sites) {
    uint64_t n = site_seen(site_key(site));
    if (n < SITE_FULL) return true;
    double f = (double)SITE_FULL / (double)n;
    p *= f > 1.0 / SITE_FLOOR ? f : 1.0 / SITE_FLOOR;
  }
  double knee = (double)ph.live_limit * (1.0 - FULL_SHARE);
  if (left < knee) p *= (left / knee) * (left / knee);
  if (p >= 1.0) return true;
  return (double)(r >> 11) < p * 9007199254740992.0; /* 53 bits against p * 2^53 */
}

LGPH static bool seed_for_report(unsigned long long *out) {
  if (ph.ready != 1) return false;
  *out = ph.seed;
  return true;
}

LGPH static uint64_t first_seed(void) {
  unsigned long long s = lg__opts()->pageheap_seed;
  if (s) return s;
  uint64_t r = 0;
  if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    r = mix64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)getpid());
  }
  return r ? r : 1; /* 0 means "draw one": a seed to replay is never 0 */
}

/* Whether an allocation made at `site` (the return address into its caller) gets a guarded
 * slot; starts the page heap on first use. */
LGPH static bool wanted(uintptr_t site) {
  if (!lg__started() || lg__busy) return false; /* (lifeguard's own allocations: unguarded) */
  const lg__options *o = lg__opts();
  if (!o->pageheap) return false;
  if (__builtin_expect(ph.ready == 0, 0)) {
    pthread_mutex_lock(&ph.lock);
    if (ph.ready == 0) {
      start();
      if (ph.ready == 1) {
        pthread_atfork(atfork_prepare, atfork_release, atfork_release);
        lg_report_set_seed_provider(seed_for_report);
      }
    }
    pthread_mutex_unlock(&ph.lock);
    /* signal.c's dispatcher classifies faults in the arenas (outside the lock: installing
     * it may go through the program's own sigaction) */
    if (ph.ready == 1) {
      lg__signal_set_classifier(LG_CLASSIFIER_PAGEHEAP, classify_fault);
      lg__signal_install();
    }
  }
  if (ph.ready != 1) return false;
  return chosen(__atomic_load_n(&ph.live, __ATOMIC_RELAXED), site);
}

/* ---- slots ------------------------------------------------------------------------------ */

LGPH static int arena_of(uintptr_t a) {
  for (int i = 0; i < ph.narenas; i++)
    if (a >= ph.arena[i] && a < ph.arena[i] + ARENA_BYTES) return i;
  return -1;
}

/* The slot whose data pages hold `a`, or 0. */
LGPH static uint32_t slot_at(uintptr_t a) {
  int i = arena_of(a);
  if (i < 0) return 0;
  uint32_t v = ph.pagemap[i][(a - ph.arena[i]) / PAGE];
  return v;
}

LGPH static void map_pages(uintptr_t base, uint32_t pages, uint32_t idx) {
  int i = arena_of(base);
  uint32_t *pm = ph.pagemap[i] + (base - ph.arena[i]) / PAGE;
  for (uint32_t k = 0; k < pages; k++) pm[k] = idx;
}

/* A slot of `pages` data pages, still inaccessible; 0 when none can be had. Lock held. */
LGPH static uint32_t take_slot(uint32_t pages) {
  uint32_t idx = 0;
  if (pages < SMALL_CLASSES && ph.free_small[pages]) {
    idx = ph.free_small[pages];
    ph.free_small[pages] = ph.slots[idx].next;
    return idx;
  }
  if (pages >= SMALL_CLASSES) { /* first fit among the large, exact page count */
    for (uint32_t *link = &ph.free_large; *link; link = &ph.slots[*link].next)
      if (ph.slots[*link].pages == pages) {
        idx = *link;
        *link = ph.slots[idx].next;
        return idx;
      }
  }
  if (ph.nslots == MAX_SLOTS) return 0;
  uintptr_t need = ((uintptr_t)pages + 1) * PAGE; /* data, then its guard page */
  int a = ph.narenas - 1;
  if (ph.bump[a] + need > ph.arena[a] + ARENA_BYTES) {
    if (add_arena() != 0) return 0;
    a = ph.narenas - 1;
  }
  idx = ph.nslots++;
  slot *s = &ph.slots[idx];
  s->base = ph.bump[a];
  s->pages = pages;
  ph.bump[a] += need;
  map_pages(s->base, pages, idx);
  return idx;
}

LGPH static void give_back(uint32_t idx) {
  slot *s = &ph.slots[idx];
  s->state = SLOT_FREE;
  uint32_t *list = s->pages < SMALL_CLASSES ? &ph.free_small[s->pages] : &ph.free_large;
  s->next = *list;
  *list = idx;
}

/* Quarantine: FIFO, bounded in bytes of address space. Lock held. */
LGPH static void quarantine(uint32_t idx) {
  slot *s = &ph.slots[idx];
  s->state = SLOT_QUARANTINED;
  s->next = 0;
  if (ph.q_tail) ph.slots[ph.q_tail].next = idx;
  else ph.q_head = idx;
  ph.q_tail = idx;
  ph.q_bytes += (size_t)s->pages * PAGE;
  size_t limit = (size_t)lg__opts()->pageheap_quarantine_mb << 20;
  while (ph.q_bytes > limit && ph.q_head) {
    uint32_t old = ph.q_head;
    ph.q_head = ph.slots[old].next;
    if (!ph.q_head) ph.q_tail = 0;
    ph.q_bytes -= (size_t)ph.slots[old].pages * PAGE;
    give_back(old);
  }
}

/* ---- reports ---------------------------------------------------------------------------- */

LGPH static lg_stack_id capture(void) {
  if (lg__busy) return 0;
  uintptr_t pcs[FRAMES];
  size_t n = lg__stack_walk((uintptr_t)__builtin_frame_address(0), pcs, FRAMES);
  size_t skip = 0;
  while (skip < n && in_pageheap(pcs[skip])) skip++; /* malloc, free and their helpers */
  return n > skip ? lg__stack_put(pcs + skip, n - skip) : 0;
}

LGPH static void add_block_stacks(lg_report *r, const slot *s) {
  if (s->state != SLOT_LIVE && s->free_stack)
    lg_report_add_stack(r, "free", s->free_stack, s->free_tid, "freed by thread %d here",
                        s->free_tid);
  if (s->alloc_stack)
    lg_report_add_stack(r, "alloc", s->alloc_stack, s->alloc_tid,
                        "previously allocated by thread %d here", s->alloc_tid);
}

LGPH static void describe(lg_report *r, const slot *s, uintptr_t addr) {
  uintptr_t end = s->user + s->size;
  if (addr >= s->user && addr < end)
    lg__format(r->detail, sizeof r->detail, "%p is located %zu bytes inside of %zu-byte region [%p,%p)",
             (void *)addr, (size_t)(addr - s->user), s->size, (void *)s->user, (void *)end);
  else if (addr >= end)
    lg__format(r->detail, sizeof r->detail, "%p is located %zu bytes after %zu-byte region [%p,%p)",
             (void *)addr, (size_t)(addr - end), s->size, (void *)s->user, (void *)end);
  else
    lg__format(r->detail, sizeof r->detail, "%p is located %zu bytes before %zu-byte region [%p,%p)",
             (void *)addr, (size_t)(s->user - addr), s->size, (void *)s->user, (void *)end);
}

/* A report about a call (free, realloc): its own stack is the current one. */
LGPH static void report_call(const char *kind, const char *headline, const slot *s, uintptr_t addr) {
  lg_report r = {.kind = kind, .fd = -1};
  lg__format(r.headline, sizeof r.headline, "%s", headline);
  /* the current stack stays out of the depot: its lock may be held by this thread, which
   * a signal handler may have interrupted there */
  uintptr_t pcs[FRAMES];
  size_t n = lg__busy ? 0 : lg__stack_walk((uintptr_t)__builtin_frame_address(0), pcs, FRAMES);
  size_t skip = 0;
  while (skip < n && in_pageheap(pcs[skip])) skip++; /* free, realloc and their helpers */
  lg_report_stack *cur = lg_report_add_stack(&r, "current", 0, lg__gettid(), "%s", "");
  cur->pcs = pcs + skip;
  cur->npcs = n - skip;
  if (s) {
    describe(&r, s, addr);
    add_block_stacks(&r, s);
  }
  lg__busy++;
  lg_report_emit(&r);
  lg__busy--;
}

/* ---- the fault classifier (called by signal.c's dispatcher) ---------------------------- */

LGPH static void classify_fault(int sig, siginfo_t *si, void *ucv) {
  (void)sig;
  uintptr_t addr = (uintptr_t)si->si_addr;
  if (ph.ready != 1 || arena_of(addr) < 0) return;
  const slot *s = NULL;
  const char *kind;
  uint32_t idx = slot_at(addr);
  if (idx && ph.slots[idx].state != SLOT_LIVE) {
    s = &ph.slots[idx];
    kind = "heap-use-after-free";
  } else if (idx) {
    return; /* a live block's own page: not ours to explain */
  } else {
    /* a guard page: the block that ends just before it, or the one that starts after it */
    uintptr_t page = addr & ~(uintptr_t)(PAGE - 1);
    uint32_t before = slot_at(page - 1), after = slot_at(page + PAGE);
    const slot *b = before ? &ph.slots[before] : NULL, *a = after ? &ph.slots[after] : NULL;
    bool over = b && (!a || addr - page < PAGE / 2);
    s = over ? b : a;
    if (!s) return;
    kind = s->state != SLOT_LIVE ? "heap-use-after-free"
                                 : over ? "heap-buffer-overflow" : "heap-buffer-underflow";
  }
  const ucontext_t *u = ucv;
  uintptr_t rip = (uintptr_t)u->uc_mcontext.gregs[REG_RIP];
  uintptr_t pcs[FRAMES];
  size_t n = lg__stack_signal(u, pcs, FRAMES); /* the faulting instruction + 1 first */
  bool write = (u->uc_mcontext.gregs[REG_ERR] & 2) != 0;
  lg_report r = {.kind = kind, .fd = -1, .fatal = 1};
  lg__format(r.headline, sizeof r.headline, "on address %p at pc %p: %s of a %zu-byte block",
           (void *)addr, (void *)rip, write ? "WRITE" : "READ", s->size);
  lg_report_stack *cur = lg_report_add_stack(&r, "current", 0, lg__gettid(), "%s", "");
  cur->pcs = pcs; /* (not the depot: its lock may be held by the thread that faulted) */
  cur->npcs = n;
  describe(&r, s, addr);
  add_block_stacks(&r, s);
  lg__busy++;
  lg_report_emit(&r); /* fatal: does not return */
}

/* ---- the malloc family ------------------------------------------------------------------ */

LGPH static void *guarded(size_t size, size_t align) {
  if (!align) align = (size_t)lg__opts()->pageheap_align; /* malloc's: the option's */
  size_t rounded = (size + align - 1) & ~(align - 1);
  if (rounded < size || rounded > ((size_t)1 << 40)) return NULL;
  size_t span = rounded + (align > PAGE ? align : 0);
  uint32_t pages = (uint32_t)((span + PAGE - 1) / PAGE);
  if (!pages) pages = 1;
  lg_stack_id stack = capture();
  pthread_mutex_lock(&ph.lock);
  if (ph.live >= ph.live_limit) {
    pthread_mutex_unlock(&ph.lock);
    return NULL;
  }
  uint32_t idx = take_slot(pages);
  if (!idx) {
    pthread_mutex_unlock(&ph.lock);
    return NULL;
  }
  slot *s = &ph.slots[idx];
  s->state = SLOT_LIVE;
  __atomic_store_n(&ph.live, ph.live + 1, __ATOMIC_RELAXED); /* chosen() reads it unlocked */
  ph.live_bytes += size;
  ph.allocs++;
  pthread_mutex_unlock(&ph.lock);
  uintptr_t end = s->base + (uintptr_t)pages * PAGE;
  if (mprotect((void *)s->base, (size_t)pages * PAGE, PROT_READ | PROT_WRITE) != 0) {
    pthread_mutex_lock(&ph.lock);
    __atomic_store_n(&ph.live, ph.live - 1, __ATOMIC_RELAXED);
    give_back(idx);
    pthread_mutex_unlock(&ph.lock);
    return NULL;
  }
  /* A zero-byte block still starts inside its slot (malloc(0) returns a unique pointer that
   * free must recognize): it is placed as if one byte long, and that byte is slack. */
  s->user = (end - (size ? size : 1)) & ~(uintptr_t)(align - 1);
  s->size = size;
  s->alloc_stack = stack;
  s->alloc_tid = lg__gettid();
  s->free_stack = 0;
  memset((void *)(s->user + size), SLACK_BYTE, end - (s->user + size));
  return (void *)s->user;
}

LGPH static void say_degraded(void) {
  if (__atomic_exchange_n(&ph.said_degraded, 1, __ATOMIC_RELAXED)) return;
  char line[256];
  size_t n = lg__format(line, sizeof line,
                   "lifeguard: pageheap: %llu live guarded blocks reached the mapping budget "
                   "(a quarter of vm.max_map_count): further blocks are unguarded until some "
                   "are freed\n", (unsigned long long)ph.live_limit);
  if (n > 0) lg__write_all(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* A block from the page heap when `want` (falling back to glibc's), else from glibc. */
LGPH static void *place(size_t size, size_t align, bool want) {
  if (want) {
    void *p = guarded(size, align);
    if (p) return p;
    if (ph.live >= ph.live_limit) say_degraded();
    __atomic_fetch_add(&ph.degraded_allocs, 1, __ATOMIC_RELAXED);
  }
  return align <= 16 ? __libc_malloc(size) : __libc_memalign(align, size);
}

/* An allocation made at `site` (the return address into the caller of the malloc family). */
LGPH static void *alloc(size_t size, size_t align, uintptr_t site) {
  return place(size, align, wanted(site));
}

#define SITE ((uintptr_t)__builtin_return_address(0))

/* The slot of a block handed out by the page heap, or NULL (then it is glibc's). A pointer
 * inside an arena that is not a live block's start is reported (bad free, double free). */
LGPH static slot *owner(void *p, const char *what) {
  uintptr_t a = (uintptr_t)p;
  if (ph.ready != 1 || arena_of(a) < 0) return NULL;
  uint32_t idx = slot_at(a);
  slot *s = idx ? &ph.slots[idx] : NULL;
  if (s && s->state == SLOT_LIVE && s->user == a) return s;
  char h[200];
  if (s && s->user == a && s->state != SLOT_LIVE) {
    lg__format(h, sizeof h, "on %p: %s of a block already freed", p, what);
    report_call("double-free", h, s, a);
  } else {
    lg__format(h, sizeof h, "on %p: %s of an address that is not the start of a block", p, what);
    report_call("bad-free", h, s && s->state == SLOT_LIVE ? s : NULL, a);
  }
  return (slot *)-1; /* reported: do nothing more with it */
}

LGPH static void release(slot *s) {
  uintptr_t end = s->base + (uintptr_t)s->pages * PAGE;
  for (uintptr_t q = s->user + s->size; q < end; q++)
    if (*(unsigned char *)q != SLACK_BYTE) {
      char h[200];
      lg__format(h, sizeof h, "on %p: a write %zu bytes after the %zu-byte block, found at free",
               (void *)q, (size_t)(q - (s->user + s->size)), s->size);
      report_call("heap-buffer-overflow", h, s, q);
      break;
    }
  s->free_stack = capture();
  s->free_tid = lg__gettid();
  /* fresh inaccessible pages over the block: its memory goes back, and any access faults */
  mmap((void *)s->base, (size_t)s->pages * PAGE, PROT_NONE,
       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
  pthread_mutex_lock(&ph.lock);
  __atomic_store_n(&ph.live, ph.live - 1, __ATOMIC_RELAXED);
  ph.live_bytes -= s->size;
  ph.frees++;
  quarantine((uint32_t)(s - ph.slots));
  pthread_mutex_unlock(&ph.lock);
}

LGPH void *malloc(size_t size) {
  return alloc(size, 0, SITE);
}

LGPH void free(void *p) {
  if (!p) return;
  int saved = errno;
  slot *s = owner(p, "free");
  if (!s) __libc_free(p);
  else if (s != (slot *)-1) release(s);
  errno = saved;
}

LGPH void *calloc(size_t n, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) {
    errno = ENOMEM;
    return NULL;
  }
  void *p = alloc(total, 0, SITE);
  /* a guarded block's pages are fresh, so zero; glibc's malloc does not clear */
  if (p && (ph.ready != 1 || arena_of((uintptr_t)p) < 0)) memset(p, 0, total);
  return p;
}

LGPH static void *realloc_at(void *p, size_t size, uintptr_t site) {
  if (!p) return alloc(size, 0, site);
  slot *s = owner(p, "realloc");
  if (s == (slot *)-1) return NULL;
  if (!s) {
    if (!wanted(site)) return __libc_realloc(p, size);
    /* a glibc block moving into the page heap: its size is glibc's to know */
    size_t old = malloc_usable_size(p);
    void *q = place(size, 0, true);
    if (!q) return NULL;
    memcpy(q, p, old < size ? old : size);
    __libc_free(p);
    return q;
  }
  if (size == 0) {
    release(s);
    return NULL;
  }
  /* always move: a pointer kept across realloc then faults */
  void *q = alloc(size, 0, site);
  if (!q) return NULL;
  memcpy(q, p, s->size < size ? s->size : size);
  release(s);
  return q;
}

LGPH void *realloc(void *p, size_t size) { return realloc_at(p, size, SITE); }

LGPH void *reallocarray(void *p, size_t n, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) {
    errno = ENOMEM;
    return NULL;
  }
  return realloc_at(p, total, SITE);
}

LGPH static bool power_of_two(size_t a) { return a && !(a & (a - 1)); }

LGPH static void *memalign_at(size_t align, size_t size, uintptr_t site) {
  if (!power_of_two(align)) {
    errno = EINVAL;
    return NULL;
  }
  return alloc(size, align, site);
}

LGPH void *memalign(size_t align, size_t size) { return memalign_at(align, size, SITE); }

LGPH void *aligned_alloc(size_t align, size_t size) { return memalign_at(align, size, SITE); }

LGPH int posix_memalign(void **out, size_t align, size_t size) {
  if (!power_of_two(align) || align % sizeof(void *)) return EINVAL;
  void *p = alloc(size, align, SITE);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

LGPH void *valloc(size_t size) { return alloc(size, lg__page_size(), SITE); }

LGPH void *pvalloc(size_t size) {
  size_t page = lg__page_size();
  return alloc((size + page - 1) & ~(page - 1), page, SITE);
}

LGPH size_t malloc_usable_size(void *p) {
  if (!p) return 0;
  uintptr_t a = (uintptr_t)p;
  if (ph.ready == 1 && arena_of(a) >= 0) {
    uint32_t idx = slot_at(a);
    return idx && ph.slots[idx].state == SLOT_LIVE && ph.slots[idx].user == a
               ? ph.slots[idx].size : 0;
  }
  /* a glibc block: its chunk header holds the size (glibc 2.36 layout: size | flags, with
   * the header's 8 bytes of overhead, or 16 for an mmapped chunk) */
  size_t head = ((size_t *)p)[-1];
  size_t chunk = head & ~(size_t)7;
  return chunk ? chunk - ((head & 2) ? 16 : 8) : 0;
}

lg_pageheap_stats lg_pageheap_stats_get(void) {
  pthread_mutex_lock(&ph.lock);
  lg_pageheap_stats st = {
      .active = ph.ready == 1 && lg__opts()->pageheap, .live_blocks = ph.live,
      .live_bytes = ph.live_bytes, .allocs = ph.allocs, .frees = ph.frees,
      .quarantined_bytes = ph.q_bytes, .unguarded_allocs = ph.degraded_allocs,
      .live_limit = ph.live_limit, .seed = ph.ready == 1 ? ph.seed : 0};
  pthread_mutex_unlock(&ph.lock);
  return st;
}

bool lg_pageheap_guarded(const void *p) {
  uintptr_t a = (uintptr_t)p;
  if (ph.ready != 1 || arena_of(a) < 0) return false;
  uint32_t idx = slot_at(a);
  return idx && ph.slots[idx].state == SLOT_LIVE && ph.slots[idx].user == a;
}

#endif /* LG_NO_PAGEHEAP */

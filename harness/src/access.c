/* SPDX-License-Identifier: MIT */
/* Scheduling points at memory accesses, for programs built with `lifeguard cc` / `lifeguard
 * c++` (their loads, stores and atomics call access_rt.c's callbacks, which call on_access
 * here once explore is on). Under explore only one thread runs at a time, so a race on plain
 * memory shows only if the running thread can be stopped between two of its accesses: these
 * are the places where it can.
 *
 * Which accesses are points (race-directed: a point where another thread's access could
 * come in between and matter, none where it could not):
 *   - none while no other actor is runnable: a point would decide nothing (the shadow below
 *     is still kept);
 *   - every atomic operation: atomics are how threads talk (lock-free code, spin-waits), and
 *     they are few;
 *   - a plain access to a SHARED location: one that more than one thread has accessed in this
 *     run. The shadow keeps, per 8-byte granule, the first thread that touched it and
 *     whether another has since; an access by a second thread marks the granule shared;
 *   - a plain access to a location that only the calling thread has touched, while it is on
 *     probation: its first PROBATION accesses made while another actor was runnable. Without
 *     these, the first thread to touch a location could never be stopped inside its
 *     read-modify-write (nobody else has touched it yet), and the classic lost update, or a
 *     check-then-act on a flag, would be found only when someone else happened to touch the
 *     location first. After probation a private location costs no points. Only locations
 *     that may hold a value the thread did not put there are on probation: static storage
 *     (the writable segments of the program and its libraries) and locations whose first
 *     access in the run is a read (zeroed memory from calloc, say). A location that its
 *     first thread writes first (a local, an object it allocates and constructs, a
 *     container it grows) is being initialized, not raced on, until another thread touches
 *     it (then it is shared). Without this rule a thread that creates workers in a loop
 *     (std::thread objects, a vector that grows, each allocation in new pages under the page
 *     heap) made about ten points per worker where an unmodified build makes one, so the
 *     workers started first ran to their end before the last was created, and a schedule
 *     that needs them all at once (a lock-order cycle among five threads) was out of a
 *     random walk's reach;
 *   - every FAIR_EVERY-th plain access of a thread that made no point meanwhile: a thread
 *     that spins on a private-looking location (a plain or volatile flag no one else has
 *     touched yet) lets the others run now and then instead of holding the baton for ever.
 * And a thread that spins waits: after SPIN_LIMIT reads (loads, atomic loads, compare-
 * exchanges) of one granule with no write of its own in between, it blocks on the granule
 * until another thread writes there, or SPIN_NS of virtual time pass (so a spin never makes
 * a deadlock). A point alone would not do: a strategy that keeps choosing the spinner (pct,
 * when it has the highest priority) would spin until the step budget calls it a livelock, and
 * with no other thread runnable (the writer asleep on the virtual clock) nothing would make
 * the clock move.
 * Everything here is a function of the run's own history (the shadow is filled in the order
 * the schedule runs the accesses), so a schedule string replays to the same points.
 *
 * The shadow (below) is only read and written by the thread holding the baton (the one that
 * runs), so it takes no lock. When it is full a new location counts as shared (a point: more
 * points, never fewer). Memory reused (freed and allocated again, a dead thread's stack)
 * keeps its old first thread, so it may count as shared too early: more points again.
 * Accesses from a signal handler that interrupts the harness (an access within an access)
 * and from threads that are not actors are not points. */
#define _GNU_SOURCE
#include "access_internal.h"
#include "control_internal.h"

#include <link.h>
#include <stdint.h>
#include <sys/mman.h>

enum { SITE_READ = 240, SITE_WRITE, SITE_ATOMIC };

#define PROBATION 4
#define FAIR_EVERY 1024
#define SPIN_LIMIT 64
#define SPIN_NS 1000000u /* 1 ms of virtual time */
#define MAX_QUIET 1024 /* actors whose quiet streak is counted (control's MAX_ACTORS) */

/* The shadow: for each 4 KiB page of the program's memory that an access touched, a block of
 * 512 cells, one per 8-byte granule, found through a hash directory of pages (with the last
 * page looked up remembered: accesses come in runs on one page). Blocks are taken from a pool
 * reserved at the first access and touched as used; when it or the directory is full, a new
 * page's accesses count as shared. */
#define PAGE_SHIFT 12
#define CELLS (1u << (PAGE_SHIFT - 3))
#define MAX_BLOCKS (1u << 16) /* 256 MiB of the program's memory, 256 MiB of cells */
#define DIR_BITS 17
#define DIR_SIZE (1u << DIR_BITS)

typedef struct cell {
  uint32_t owner;  /* 1 + the actor that touched the granule first; 0: untouched */
  uint16_t count;  /* the owner's accesses on probation so far */
  uint16_t shared; /* another actor has touched it */
} cell;

typedef struct dir_entry {
  uintptr_t page; /* address >> PAGE_SHIFT, + 1; 0: a free entry */
  cell *block;
} dir_entry;

static dir_entry *dir;
static cell *pool;
static uint32_t blocks_used;
static bool shadow_failed;
static uintptr_t last_page;
static cell *last_block;
static uint32_t quiet[MAX_QUIET]; /* plain accesses since the actor's last access point */
static uintptr_t spin_on[MAX_QUIET]; /* the granule the actor reads again and again */
static uint32_t spin_reads[MAX_QUIET]; /* its reads of it since its last write (0: none) */
static uintptr_t spin_prev[MAX_QUIET]; /* the granule of its last read */
static uint32_t spinners; /* actors waiting in lg__control_wait for a granule's write */
static __thread int in_access __attribute__((tls_model("initial-exec")));

static void *reserve(size_t size) {
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

/* The cells of `page` (address >> PAGE_SHIFT, + 1), or NULL when the shadow is full. */
static cell *block_of(uintptr_t page) {
  if (page == last_page) return last_block;
  if (!dir && !shadow_failed) {
    dir = reserve((size_t)DIR_SIZE * sizeof(dir_entry));
    pool = reserve((size_t)MAX_BLOCKS * CELLS * sizeof(cell));
    shadow_failed = !dir || !pool;
  }
  if (shadow_failed) return NULL;
  uint32_t i = (uint32_t)((page * 0x9e3779b97f4a7c15ull) >> (64 - DIR_BITS));
  for (;;) {
    dir_entry *d = &dir[i];
    if (d->page == page) break;
    if (d->page == 0) {
      if (blocks_used == MAX_BLOCKS) return NULL;
      d->page = page;
      d->block = pool + (size_t)blocks_used++ * CELLS;
      break;
    }
    i = (i + 1) & (DIR_SIZE - 1);
  }
  last_page = page;
  last_block = dir[i].block;
  return last_block;
}

static cell *lookup(uintptr_t granule) {
  cell *b = block_of((granule >> (PAGE_SHIFT - 3)) + 1);
  return b ? &b[granule & (CELLS - 1)] : NULL;
}

/* Static storage: the writable PT_LOAD segments of the loaded modules, cached, read again
 * when a module was loaded since (dl_iterate_phdr's count of additions; a look at the first
 * module tells it). More segments than the cache holds: the rest count as static. */
#define MAX_STATIC 256
static struct { uintptr_t lo, hi; } statics[MAX_STATIC];
static unsigned nstatics;
static bool statics_overflow;
static unsigned long long statics_adds = ~0ull;

static int adds_of(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  *(unsigned long long *)data = info->dlpi_adds;
  return 1;
}

static int collect_statics(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  (void)data;
  for (unsigned i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W)) continue;
    if (nstatics == MAX_STATIC) {
      statics_overflow = true;
      return 1;
    }
    statics[nstatics].lo = info->dlpi_addr + ph->p_vaddr;
    statics[nstatics].hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
    nstatics++;
  }
  return 0;
}

static bool static_storage(uintptr_t addr) {
  unsigned long long adds = 0;
  dl_iterate_phdr(adds_of, &adds);
  if (adds != statics_adds) {
    statics_adds = adds;
    nstatics = 0;
    statics_overflow = false;
    dl_iterate_phdr(collect_statics, NULL);
  }
  for (unsigned i = 0; i < nstatics; i++)
    if (addr >= statics[i].lo && addr < statics[i].hi) return true;
  return statics_overflow;
}

/* Notes actor `id`'s access to `granule` (address / 8); true when it is to be a point (with
 * `others`: another actor is runnable; `first_write`: the access is a plain write, which
 * initializes a location it is the first access to). */
static bool note(uintptr_t granule, uint32_t id, bool others, bool first_write) {
  cell *g = lookup(granule);
  if (!g) return true;
  if (g->owner == 0) {
    g->owner = id + 1;
    if (first_write && !static_storage(granule << 3)) g->count = PROBATION;
  }
  if (g->shared) return true;
  if (g->owner != id + 1) {
    g->shared = 1;
    return true;
  }
  if (others && g->count < PROBATION) {
    g->count++;
    return true;
  }
  return false;
}

/* Whether actor `id`'s access to `granule` ends a spin: its SPIN_LIMIT-th read of the granule
 * with no write of its own since the first. Reads of other granules in between do not count
 * (a loop may read several), but two reads in a row of another one make it the granule
 * watched: else a granule read once before the loop (and never again) would be watched for
 * ever, and the loop's own flag never (a spinner under dfs or pct, which keep choosing it,
 * then spun until the step budget called it a livelock). */
static bool spin_ends(uint32_t id, uintptr_t granule, unsigned info) {
  if (id >= MAX_QUIET) return false;
  if ((info & LG_ACCESS_WRITE) && !(info & LG_ACCESS_CAS)) {
    spin_reads[id] = 0;
    return false;
  }
  uintptr_t prev = spin_prev[id];
  spin_prev[id] = granule;
  if (spin_reads[id] == 0 || (spin_on[id] != granule && prev == granule)) {
    spin_on[id] = granule;
    spin_reads[id] = spin_reads[id] == 0 ? 1 : 2;
    return false;
  }
  if (spin_on[id] != granule || ++spin_reads[id] < SPIN_LIMIT) return false;
  spin_reads[id] = 0;
  return true;
}

static void on_access(const volatile void *addr, unsigned info) {
  int id = lg__control_actor();
  if (id < 0 || in_access) return;
  in_access = 1;
  const void *word = (const void *)((uintptr_t)addr & ~(uintptr_t)7);
  if ((info & LG_ACCESS_WRITE) && spinners) lg__control_wake(word);
  if (spin_ends((uint32_t)id, (uintptr_t)word, info)) {
    spinners++;
    lg__control_wait(word, SPIN_NS, __builtin_frame_address(0));
    spinners--;
  }
  bool others = lg__control_others();
  bool atomic = info & LG_ACCESS_ATOMIC;
  bool yield = others && atomic;
  if (!atomic || !others) {
    unsigned size = info & LG_ACCESS_SIZE;
    if (size > 16) size = 16;
    if (size == 0) size = 1;
    uintptr_t first = (uintptr_t)addr >> 3, last = ((uintptr_t)addr + size - 1) >> 3;
    bool point = false;
    for (uintptr_t k = first; k <= last; k++)
      point |= note(k, (uint32_t)id, others, (info & LG_ACCESS_WRITE) && !atomic);
    if (others) {
      uint32_t *q = (uint32_t)id < MAX_QUIET ? &quiet[id] : NULL;
      if (point || atomic) {
        if (q) *q = 0;
      } else if (q && ++*q >= FAIR_EVERY) {
        *q = 0;
        point = true;
      }
      yield = point;
    }
  }
  if (yield) {
    unsigned site = atomic ? SITE_ATOMIC : info & LG_ACCESS_WRITE ? SITE_WRITE : SITE_READ;
    lg__control_point(site, __builtin_frame_address(0));
  }
  in_access = 0;
}

/* ---- registration ------------------------------------------------------------------- */

#define MAX_MODULES 256
static lg_access_fn **slots[MAX_MODULES];
static unsigned nslots;
static bool armed;

/* An instrumented module's __tsan_init hands over its hook (access_internal.h). Modules that
 * start before this library does are remembered and armed by arm() below. */
__attribute__((visibility("default"))) void lifeguard_access_register(lg_access_fn **slot) {
  if (armed) {
    __atomic_store_n(slot, on_access, __ATOMIC_RELAXED);
    return;
  }
  if (nslots < MAX_MODULES) slots[nslots++] = slot;
}

/* After control started (preload.c's constructor 102): when this thread is actor 0, explore
 * is on in this process and every module's accesses start calling on_access. */
__attribute__((constructor(104))) static void arm(void) {
  if (lg__control_actor() < 0) return;
  armed = true;
  for (unsigned i = 0; i < nslots; i++) __atomic_store_n(slots[i], on_access, __ATOMIC_RELAXED);
}

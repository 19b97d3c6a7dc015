/* modcheck: dlopen/dlclose seen from inside the process, a census of what still uses a
 * module when it is unmapped, and placeholders that turn a late call into a named report. */
#define _GNU_SOURCE
#include "sched_internal.h"
#include "signal_internal.h"
#include "stack_internal.h"

#include <lifeguard/modcheck.h>
#include <lifeguard/report.h>
#include <lifeguard/sched.h>


#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define MAX_MODULES 512
#define MAX_SEGS 8
#define MAX_KEYS 1024
#define MAX_TIMERS 256
#define MAX_HOLDS 1024
#define MAX_FINDINGS 8
#define FRAMES 24

typedef enum { M_FREE = 0, M_LOADED, M_UNLOADED, M_RETAINED } mstate;

typedef struct module {
  int state;                 /* mstate; read without the lock by the fault handler */
  uintptr_t lm_addr;         /* link_map l_addr while mapped */
  char path[512];
  const char *base;          /* the file name part of path */
  uintptr_t bias, lo, hi;    /* load bias; span of the PT_LOAD segments */
  uintptr_t x_lo[MAX_SEGS], x_hi[MAX_SEGS];
  int nx;                    /* executable segments */
  int opens;                 /* dlopen references counted here */
  bool nodelete, noted, placeholder;
  int unloading;             /* a dlclose of it is under way (its tid): a fault in its range
                                waits until the census has reported */
  lg_stack_id load_stack, unload_stack;
  int load_tid, unload_tid;
  unsigned long unload_serial;
  unsigned long load_serial; /* which load this record is (a slot is reused by a later one) */
} module;

static module mods[MAX_MODULES];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long serial, load_serials;
static lg_modcheck_stats stats;

static bool enabled(void) { return lg__started() && lg__opts()->modcheck; }

static bool in_text(const module *m, uintptr_t pc) {
  for (int i = 0; i < m->nx; i++)
    if (pc >= m->x_lo[i] && pc < m->x_hi[i]) return true;
  return false;
}

/* ---- what dl_iterate_phdr says ------------------------------------------------------ */

struct seg_query {
  module *m;
  const char *name;
  uintptr_t addr;
  bool found;
};

static int seg_cb(struct dl_phdr_info *info, size_t size, void *arg) {
  struct seg_query *q = arg;
  if (info->dlpi_addr != q->addr || strcmp(info->dlpi_name, q->name) != 0) return 0;
  q->found = true;
  module *m = q->m;
  if (!m) return 1;
  m->bias = info->dlpi_addr;
  m->lo = UINTPTR_MAX;
  m->hi = 0;
  m->nx = 0;
  long ps = (long)lg__page_size();
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD) continue;
    uintptr_t lo = (info->dlpi_addr + ph->p_vaddr) & ~(uintptr_t)(ps - 1);
    uintptr_t hi = (info->dlpi_addr + ph->p_vaddr + ph->p_memsz + (uintptr_t)ps - 1) &
                   ~(uintptr_t)(ps - 1);
    if (lo < m->lo) m->lo = lo;
    if (hi > m->hi) m->hi = hi;
    if ((ph->p_flags & PF_X) && m->nx < MAX_SEGS) {
      m->x_lo[m->nx] = info->dlpi_addr + ph->p_vaddr;
      m->x_hi[m->nx++] = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
    }
  }
  return 1;
}

static bool still_mapped(const module *m) {
  struct seg_query q = {.name = m->path, .addr = m->lm_addr};
  dl_iterate_phdr(seg_cb, &q);
  return q.found;
}

/* ---- symbols of a module that is gone: read from its file -------------------------- */

static bool elf_symbol(const char *path, uintptr_t off, char *out, size_t cap) {
  int fd = lg__sys_open(path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return false;
  struct stat st;
  bool found = false;
  if (fstat(fd, &st) == 0 && (size_t)st.st_size > sizeof(ElfW(Ehdr))) {
    const unsigned char *img = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (img != MAP_FAILED) {
      const ElfW(Ehdr) *eh = (const void *)img;
      size_t size = (size_t)st.st_size;
      if (memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 &&
          eh->e_shoff + (size_t)eh->e_shnum * sizeof(ElfW(Shdr)) <= size) {
        const ElfW(Shdr) *sh = (const void *)(img + eh->e_shoff);
        const ElfW(Sym) *best = NULL;
        const char *best_str = NULL;
        for (int pass = 0; pass < 2 && !best; pass++) { /* .symtab, else .dynsym */
          for (int i = 0; i < eh->e_shnum && !best; i++) {
            if (sh[i].sh_type != (pass ? SHT_DYNSYM : SHT_SYMTAB)) continue;
            if (sh[i].sh_link >= eh->e_shnum) continue;
            const ElfW(Shdr) *strs = &sh[sh[i].sh_link];
            if (sh[i].sh_offset + sh[i].sh_size > size || strs->sh_offset + strs->sh_size > size)
              continue;
            const ElfW(Sym) *sym = (const void *)(img + sh[i].sh_offset);
            size_t n = sh[i].sh_size / sizeof *sym;
            for (size_t k = 0; k < n; k++) {
              int type = ELF64_ST_TYPE(sym[k].st_info);
              if (type != STT_FUNC && type != STT_OBJECT) continue;
              if (off >= sym[k].st_value && off < sym[k].st_value + (sym[k].st_size ? sym[k].st_size : 1) &&
                  sym[k].st_name < strs->sh_size) {
                best = &sym[k];
                best_str = (const char *)img + strs->sh_offset;
                break;
              }
            }
          }
        }
        if (best) {
          lg__format(out, cap, "%s", best_str + best->st_name);
          found = true;
        }
      }
      munmap((void *)img, size);
    }
  }
  lg__sys_close(fd);
  return found;
}

/* The unloaded module whose old range holds `pc`; one that still has its placeholder first
 * (an older record of the same range may have lost its own). */
static module *unloaded_at(uintptr_t pc) {
  module *any = NULL;
  for (int i = 0; i < MAX_MODULES; i++) {
    module *m = &mods[i];
    if (__atomic_load_n(&m->state, __ATOMIC_ACQUIRE) != M_UNLOADED || pc < m->lo || pc >= m->hi)
      continue;
    if (m->placeholder) return m;
    if (!any || m->unload_serial > any->unload_serial) any = m;
  }
  return any;
}

/* The stack layer's resolver of unloaded code (lg__stack_set_unloaded_resolver). */
static bool unloaded_find(uintptr_t pc, const char **path, uintptr_t *bias, char *fn,
                          size_t fncap) {
  module *m = unloaded_at(pc);
  if (!m) return false;
  *path = m->path;
  *bias = m->bias;
  if (fn && !elf_symbol(m->path, pc - m->bias, fn, fncap) && fncap) fn[0] = '\0';
  return true;
}

/* "libdrv.so+0x1a2b (drv_heartbeat)" */
static void describe_pc(const module *m, uintptr_t pc, char *out, size_t cap) {
  char fn[128] = "";
  elf_symbol(m->path, pc - m->bias, fn, sizeof fn);
  if (fn[0]) lg__format(out, cap, "%s+0x%lx (%s)", m->base, (unsigned long)(pc - m->bias), fn);
  else lg__format(out, cap, "%s+0x%lx", m->base, (unsigned long)(pc - m->bias));
}

/* ---- registrations that point into modules ------------------------------------------ */

typedef struct hold {
  bool live;
  uintptr_t fn;
  const char *what;
  lg_stack_id stack;
  int tid;
  uintptr_t id; /* a key number, a timer id */
  int mod;      /* the module fn was in when it was held (index + 1, 0 = none), and which */
  unsigned long mod_serial; /* load of it */
} hold;

static hold keys[MAX_KEYS], timers[MAX_TIMERS], holds[MAX_HOLDS];

static unsigned hold_put(hold *table, size_t cap, uintptr_t fn, const char *what, uintptr_t id,
                         void *frame) {
  pthread_mutex_lock(&lock);
  unsigned slot = 0;
  for (size_t i = 0; i < cap; i++)
    if (!table[i].live) {
      table[i] = (hold){.live = true, .fn = fn, .what = what, .id = id, .tid = lg__gettid()};
      for (int k = 0; k < MAX_MODULES; k++)
        if ((mods[k].state == M_LOADED || mods[k].state == M_RETAINED) && in_text(&mods[k], fn)) {
          table[i].mod = k + 1;
          table[i].mod_serial = mods[k].load_serial;
          break;
        }
      slot = (unsigned)i + 1;
      break;
    }
  pthread_mutex_unlock(&lock);
  if (slot) table[slot - 1].stack = lg_stack_capture(frame); /* (outside the lock) */
  return slot;
}

static void hold_drop(hold *table, size_t cap, uintptr_t id) {
  pthread_mutex_lock(&lock);
  for (size_t i = 0; i < cap; i++)
    if (table[i].live && table[i].id == id) table[i].live = false;
  pthread_mutex_unlock(&lock);
}

unsigned lg_modcheck_hold(const void *fn, const char *what) {
  if (!enabled() || !fn) return 0;
  static unsigned long next;
  unsigned long id = __atomic_add_fetch(&next, 1, __ATOMIC_RELAXED);
  return hold_put(holds, MAX_HOLDS, (uintptr_t)fn, what ? what : "callback", id,
                  __builtin_frame_address(0))
             ? (unsigned)id
             : 0;
}

void lg_modcheck_release(unsigned token) {
  if (token) hold_drop(holds, MAX_HOLDS, token);
}

/* The functional oracle of module lifetimes: no module code runs after its unload returned.
 * A late call into a range that has its placeholder faults there and is reported as
 * use-after-unload with the faulting pc; without one (modcheck_placeholders used up or 0,
 * or the range taken by a later load, even of the same file) the call would run whatever
 * is mapped there now, so it is reported here, before it is made. */
static void add_module_stacks(lg_report *r, const module *m);

void lg_modcheck_call(unsigned token) {
  if (!token || !enabled()) return;
  pthread_mutex_lock(&lock);
  hold h = {0};
  for (size_t i = 0; i < MAX_HOLDS; i++)
    if (holds[i].live && holds[i].id == token) {
      h = holds[i];
      break;
    }
  module m = {0};
  bool late = false;
  if (h.live && h.mod) {
    const module *at = &mods[h.mod - 1];
    bool same = at->load_serial == h.mod_serial;
    late = !same || (at->state == M_UNLOADED && !at->placeholder);
    if (late && same) m = *at;
  }
  pthread_mutex_unlock(&lock);
  if (!late) return;
  lg__busy++;
  lg_report r = {.kind = "call-after-unload", .fd = -1};
  if (m.path[0]) {
    m.base = strrchr(m.path, '/') ? strrchr(m.path, '/') + 1 : m.path;
    char where[160];
    describe_pc(&m, h.fn, where, sizeof where);
    lg__format(r.headline, sizeof r.headline,
               "of %s %s: thread %d unloaded %s, and nothing keeps its old range from other "
               "code", h.what, where, m.unload_tid, m.base);
  } else {
    lg__format(r.headline, sizeof r.headline,
               "of %s %p: the module it was held in has been unloaded", h.what, (void *)h.fn);
  }
  lg_report_add_stack(&r, "current", lg_stack_capture(__builtin_frame_address(0)), lg__gettid(),
                      "%s", "");
  if (h.stack)
    lg_report_add_stack(&r, "registered", h.stack, h.tid, "the %s was registered by thread %d here",
                        h.what, h.tid);
  if (m.path[0]) add_module_stacks(&r, &m);
  lg__busy--;
  lg_report_emit(&r);
}

/* glibc's own name for it: AddressSanitizer creates a key while it starts, before a dlsym
 * lookup is safe (one there leaves the C library without its environment). */
extern int __pthread_key_create(pthread_key_t *, void (*)(void *));
LG_REAL(int, pthread_key_delete, (pthread_key_t))
LG_REAL(int, timer_create, (clockid_t, struct sigevent *, timer_t *))
LG_REAL(int, timer_delete, (timer_t))

int pthread_key_create(pthread_key_t *key, void (*dtor)(void *)) {
  int r = __pthread_key_create(key, dtor);
  if (r == 0 && dtor && !lg__busy && enabled() && *key < MAX_KEYS) {
    lg__busy++;
    hold_drop(keys, MAX_KEYS, *key);
    hold_put(keys, MAX_KEYS, (uintptr_t)dtor, "pthread key destructor", *key,
             __builtin_frame_address(0));
    lg__busy--;
  }
  return r;
}

int pthread_key_delete(pthread_key_t key) {
  if (enabled()) hold_drop(keys, MAX_KEYS, key);
  return lg__get_pthread_key_delete()(key);
}

int timer_create(clockid_t clock, struct sigevent *sev, timer_t *out) {
  int r = lg__get_timer_create()(clock, sev, out);
  if (r == 0 && sev && sev->sigev_notify == SIGEV_THREAD && !lg__busy && enabled()) {
    lg__busy++;
    hold_put(timers, MAX_TIMERS, (uintptr_t)sev->sigev_notify_function, "SIGEV_THREAD timer",
             (uintptr_t)*out, __builtin_frame_address(0));
    lg__busy--;
  }
  return r;
}

int timer_delete(timer_t t) {
  if (enabled()) hold_drop(timers, MAX_TIMERS, (uintptr_t)t);
  return lg__get_timer_delete()(t);
}

/* ---- the census: who still uses an unmapped module ----------------------------------- */

typedef struct finding {
  bool running;              /* unload-while-running (else a pending callback) */
  char line[320];
  uintptr_t pcs[FRAMES];     /* the stack to show first (return addresses, or fn + 1) */
  size_t n;
  lg_stack_id registered;    /* callbacks: where it was registered */
  int tid;
} finding;

typedef struct census {
  module *m;
  finding f[MAX_FINDINGS];
  size_t n, more;
} census;

static finding *add_finding(census *c) {
  if (c->n == MAX_FINDINGS) {
    c->more++;
    return NULL;
  }
  finding *f = &c->f[c->n++];
  memset(f, 0, sizeof *f);
  return f;
}

/* Keeps the frames from the first one inside the module: the function that runs (or will
 * return) there first. False if none is. */
static bool trim_to_module(const module *m, const uintptr_t *pcs, size_t n, finding *f) {
  size_t i = 0;
  while (i < n && !in_text(m, pcs[i] - 1)) i++;
  if (i == n) return false;
  f->n = 0;
  for (; i < n && f->n < FRAMES; i++) f->pcs[f->n++] = pcs[i];
  return true;
}

static void census_actors(census *c) {
  lg__actor_view v[64];
  size_t n = lg__sched_actors(v, 64);
  for (size_t i = 0; i < n; i++) {
    uintptr_t pcs[FRAMES];
    size_t np = 0;
    if (v[i].running) {
      continue; /* the unloading actor: its own stack is the unload stack, checked below */
    } else if (v[i].frame) {
      const uintptr_t *got;
      np = lg_stack_pcs(lg__stack_capture_suspended(v[i].frame, v[i].stack_lo, v[i].stack_hi),
                        &got);
      if (np > FRAMES) np = FRAMES;
      memcpy(pcs, got, np * sizeof *pcs);
    }
    finding tmp = {0};
    bool hit = trim_to_module(c->m, pcs, np, &tmp);
    bool entry = !hit && in_text(c->m, v[i].fn);
    if (!hit && !entry) continue;
    finding *f = add_finding(c);
    if (!f) continue;
    *f = tmp;
    f->running = true;
    f->tid = (int)v[i].id;
    char where[160];
    if (entry) {
      f->pcs[0] = v[i].fn + 1;
      f->n = 1;
      describe_pc(c->m, v[i].fn, where, sizeof where);
      lg__format(f->line, sizeof f->line, "actor %u '%s' has not started yet; it will start in %s",
               v[i].id, v[i].name, where);
    } else {
      describe_pc(c->m, f->pcs[0] - 1, where, sizeof where);
      lg__format(f->line, sizeof f->line, "actor %u '%s' is suspended inside it, in %s", v[i].id,
               v[i].name, where);
    }
  }
}

/* Threads: each other thread is stopped by a signal and walks its own stack from the
 * interrupted context through the unwind tables, so a thread blocked in libc called from the
 * module is found at the module's frame (a thread that faulted in the module while its
 * census ran has published its fault context instead: frame pointers from there, and its
 * live stack scanned when the frame chain breaks early). A probed thread waits in the
 * handler only while its stack is read: parked longer, it could hold a lock the report
 * needs. If it then runs into the unmapped range, the fault handler waits for the census to
 * finish first. */
#define MAX_PROBES 64
/* How long the census waits for one thread to take the probe signal. A thread that blocks
 * it is skipped beforehand, one that ended fails tgkill: this is for a machine so loaded
 * that the thread is not scheduled (seen at 200 ms with two build trees testing at once). */
#define PROBE_WAIT_NS 3000000000L

typedef struct probe {
  int tid;
  int captured, released;
  uintptr_t rip, rsp, rbp;
  uintptr_t pcs[FRAMES]; /* the thread's own walk of the unwind tables from the probe */
  size_t n;
} probe;

static probe probes[MAX_PROBES];
static int nprobes;

/* Threads that faulted in a module whose census is under way (dlclose unmaps before the
 * census runs, so a worker can wake into the old range first). Their fault handler waits for
 * the census, which takes such a thread's place in the module from the fault's context here
 * instead of probing it: a probe would find it in the handler, outside the module. */
typedef struct waiter {
  int state; /* 0 free, 1 being written, 2 published */
  int tid;
  const struct module *m;
  uintptr_t rip, rsp, rbp;
} waiter;

static waiter waiters[MAX_PROBES];

/* Publishes the calling thread's fault context for `m`'s census; returns its slot or NULL. */
static waiter *waiter_add(const struct module *m, const ucontext_t *u) {
  for (int i = 0; i < MAX_PROBES; i++) {
    int free_state = 0;
    if (!__atomic_compare_exchange_n(&waiters[i].state, &free_state, 1, false, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED))
      continue;
    waiter *w = &waiters[i];
    w->tid = (int)syscall(SYS_gettid);
    w->m = m;
    w->rip = (uintptr_t)u->uc_mcontext.gregs[REG_RIP];
    w->rsp = (uintptr_t)u->uc_mcontext.gregs[REG_RSP];
    w->rbp = (uintptr_t)u->uc_mcontext.gregs[REG_RBP];
    __atomic_store_n(&w->state, 2, __ATOMIC_RELEASE);
    return w;
  }
  return NULL;
}

/* The published fault context of thread `tid` in `m`, as a captured probe; false if none. */
static bool waiter_find(const struct module *m, int tid, probe *p) {
  for (int i = 0; i < MAX_PROBES; i++) {
    waiter *w = &waiters[i];
    if (__atomic_load_n(&w->state, __ATOMIC_ACQUIRE) != 2 || w->tid != tid || w->m != m)
      continue;
    p->rip = w->rip;
    p->rsp = w->rsp;
    p->rbp = w->rbp;
    p->captured = p->released = 1;
    return true;
  }
  return false;
}

static void on_probe(int sig, siginfo_t *si, void *uc) {
  (void)sig;
  (void)si;
  int self = (int)syscall(SYS_gettid);
  for (int i = 0; i < __atomic_load_n(&nprobes, __ATOMIC_ACQUIRE); i++) {
    probe *p = &probes[i];
    if (p->tid != self || __atomic_load_n(&p->captured, __ATOMIC_ACQUIRE)) continue;
    const ucontext_t *u = uc;
    p->rip = (uintptr_t)u->uc_mcontext.gregs[REG_RIP];
    p->rsp = (uintptr_t)u->uc_mcontext.gregs[REG_RSP];
    p->rbp = (uintptr_t)u->uc_mcontext.gregs[REG_RBP];
    /* The thread unwinds itself from the interrupted frame: through libc (nanosleep, poll,
     * a futex wait), built without frame pointers, back to the module's frame that called
     * it, whose return address ends the walk when the module is already unmapped. */
    p->n = lg__stack_signal(uc, p->pcs, FRAMES);
    __atomic_store_n(&p->captured, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&p->released, __ATOMIC_ACQUIRE)) sched_yield();
    return;
  }
}

/* /proc/self/maps, read once per census: the end of the mapping that holds a thread's stack. */
static char maps[1 << 20];
static size_t maps_len;

static void maps_read(void) {
  maps_len = 0;
  int fd = lg__sys_open("/proc/self/maps", O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return;
  for (;;) {
    ssize_t r = lg__sys_read(fd, maps + maps_len, sizeof maps - 1 - maps_len);
    if (r <= 0) break;
    maps_len += (size_t)r;
  }
  maps[maps_len] = '\0';
  lg__sys_close(fd);
}

static uintptr_t mapping_end(uintptr_t addr) {
  for (const char *line = maps; line < maps + maps_len;) {
    unsigned long lo, hi;
    if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && addr >= lo && addr < hi) return hi;
    const char *nl = strchr(line, '\n');
    if (!nl) break;
    line = nl + 1;
  }
  return 0;
}

/* True when thread `tid` blocks signal `sig` (it would never answer the probe). */
static bool blocks_signal(int tid, int sig) {
  char path[64], buf[2048];
  lg__format(path, sizeof path, "/proc/self/task/%d/status", tid);
  int fd = lg__sys_open(path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return true; /* gone */
  ssize_t n = lg__sys_read(fd, buf, sizeof buf - 1);
  lg__sys_close(fd);
  if (n <= 0) return true;
  buf[n] = '\0';
  const char *at = strstr(buf, "SigBlk:");
  if (!at) return false;
  unsigned long long mask = strtoull(at + 7, NULL, 16);
  return (mask >> (sig - 1)) & 1;
}

/* Reads another thread's stack, redzones and all: not for AddressSanitizer's eyes. */
__attribute__((no_sanitize("address"))) static size_t
walk_parked(const module *m, const probe *p, uintptr_t end, uintptr_t *pcs, size_t max) {
  size_t n = 0;
  pcs[n++] = p->rip + 1;
  uintptr_t fp = p->rbp;
  while (n < max && fp >= p->rsp && fp + 16 <= end && !(fp & 7)) {
    uintptr_t next = ((uintptr_t *)fp)[0], pc = ((uintptr_t *)fp)[1];
    if (pc < 4096) break;
    pcs[n++] = pc;
    if (next <= fp) break;
    fp = next;
  }
  /* A chain that never reached the module (it broke in code without frame pointers, such as
   * libc's nanosleep called from the module, whose caller's frame the chain skips): the live
   * stack's words that point into the module's text. */
  bool reached = false;
  for (size_t i = 0; i < n && !reached; i++) reached = in_text(m, pcs[i]);
  if (!reached && end)
    for (uintptr_t *w = (uintptr_t *)p->rsp; (uintptr_t)(w + 1) <= end && n < max; w++)
      if (in_text(m, *w)) pcs[n++] = *w;
  return n;
}

/* Whether a thread interrupted at `pc` was in a system call: `pc` follows a `syscall`
 * instruction (0f 05), or is one (the kernel moves the pc back onto the instruction when it
 * will restart the call after the handler). */
static bool at_syscall(uintptr_t pc) {
  struct dl_find_object d;
  if (_dl_find_object((void *)(pc - 2), &d) != 0 || _dl_find_object((void *)(pc + 1), &d) != 0)
    return false;
  const unsigned char *at = (const unsigned char *)pc;
  return (at[-2] == 0x0f && at[-1] == 0x05) || (at[0] == 0x0f && at[1] == 0x05);
}

/* Lets every thread the census probed go on. */
static void release_probes(void) {
  int n = __atomic_load_n(&nprobes, __ATOMIC_ACQUIRE);
  for (int i = 0; i < n; i++) __atomic_store_n(&probes[i].released, 1, __ATOMIC_RELEASE);
}

/* Stops every other thread in turn and records those inside `m`. */
static void census_threads(census *c) {
  int self = lg__gettid();
  DIR *d = opendir("/proc/self/task");
  if (!d) return;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_probe;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(LG_SIGNAL_PROBE, &sa, NULL);
  __atomic_store_n(&nprobes, 0, __ATOMIC_RELEASE);
  struct dirent *e;
  bool have_maps = false;
  while ((e = readdir(d)) && nprobes < MAX_PROBES) {
    int tid = atoi(e->d_name);
    if (tid <= 0 || tid == self) continue;
    probe published;
    /* (libFuzzer's helper threads block the probe; so does a thread in the fault dispatcher,
     * which has published where it faulted) */
    if (blocks_signal(tid, LG_SIGNAL_PROBE) && !waiter_find(c->m, tid, &published)) continue;
    if (!have_maps) {
      maps_read();
      have_maps = true;
    }
    probe *p = &probes[nprobes];
    memset(p, 0, sizeof *p);
    p->tid = tid;
    __atomic_store_n(&nprobes, nprobes + 1, __ATOMIC_RELEASE);
    if (!waiter_find(c->m, tid, p) && syscall(SYS_tgkill, getpid(), tid, LG_SIGNAL_PROBE) != 0)
      continue;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!__atomic_load_n(&p->captured, __ATOMIC_ACQUIRE) && !waiter_find(c->m, tid, p)) {
      clock_gettime(CLOCK_MONOTONIC, &now);
      if ((now.tv_sec - t0.tv_sec) * 1000000000L + (now.tv_nsec - t0.tv_nsec) >
          PROBE_WAIT_NS)
        break; /* it ended, or the machine is too busy to run it */
      sched_yield();
    }
    if (!__atomic_load_n(&p->captured, __ATOMIC_ACQUIRE)) {
      /* Released in advance: if the signal reaches it later, its handler returns at once
       * instead of waiting for a census that has moved on. */
      __atomic_store_n(&p->released, 1, __ATOMIC_RELEASE);
      if (syscall(SYS_tgkill, getpid(), tid, 0) == 0) {
        char line[160];
        size_t len = lg__format(line, sizeof line,
                           "lifeguard: modcheck: thread %d did not answer the census probe "
                           "within %ld ms at the unload of %s: it was not checked\n",
                           tid, PROBE_WAIT_NS / 1000000L, c->m->base);
        if (len > 0)
          lg__write_all(2, line, (size_t)len < sizeof line ? (size_t)len : sizeof line - 1);
      }
      continue;
    }
    uintptr_t pcs[FRAMES];
    size_t n = p->n; /* the probed thread's own walk; a published fault context has none */
    if (n) memcpy(pcs, p->pcs, n * sizeof *pcs);
    else n = walk_parked(c->m, p, mapping_end(p->rsp), pcs, FRAMES);
    finding tmp = {0}; /* (no registration stack: not a callback) */
    bool inside = trim_to_module(c->m, pcs, n, &tmp);
    /* A thread inside the module that the probe took out of a system call stays parked
     * until the report is out (release_probes): let go, it would restart the call on the
     * module's unmapped data (a futex there fails with EFAULT and glibc aborts) or return
     * into its code before the census has said why. In a system call it holds no lock of
     * the C library's that the report could need. */
    if (!inside || !at_syscall(p->rip)) __atomic_store_n(&p->released, 1, __ATOMIC_RELEASE);
    if (!inside) continue;
    /* A frame found by scanning the stack may be a code address rather than a return address
     * (the pc saved by a signal frame, say, when the thread took a fault at a function's
     * first instruction): no function holds the byte before it, one starts at it. */
    char fn[128];
    if (!elf_symbol(c->m->path, tmp.pcs[0] - 1 - c->m->bias, fn, sizeof fn) &&
        elf_symbol(c->m->path, tmp.pcs[0] - c->m->bias, fn, sizeof fn))
      tmp.pcs[0]++;
    finding *f = add_finding(c);
    if (!f) continue;
    *f = tmp;
    f->running = true;
    f->tid = tid;
    char where[160];
    describe_pc(c->m, f->pcs[0] - 1, where, sizeof where);
    lg__format(f->line, sizeof f->line, "thread %d is inside it, in %s", tid, where);
  }
  closedir(d);
}

/* Threads that faulted into the module while the census ran (dlclose unmaps first) and were
 * not seen by it: their published fault context is where they were at the unload. */
static void census_waiters(census *c) {
  bool have_maps = false;
  for (int i = 0; i < MAX_PROBES; i++) {
    waiter *w = &waiters[i];
    if (__atomic_load_n(&w->state, __ATOMIC_ACQUIRE) != 2 || w->m != c->m) continue;
    bool known = false;
    for (size_t k = 0; k < c->n && !known; k++) known = c->f[k].running && c->f[k].tid == w->tid;
    if (known) continue;
    if (!have_maps) {
      maps_read();
      have_maps = true;
    }
    probe p = {.tid = w->tid, .captured = 1, .released = 1, .rip = w->rip, .rsp = w->rsp,
               .rbp = w->rbp};
    uintptr_t pcs[FRAMES];
    size_t n = walk_parked(c->m, &p, mapping_end(p.rsp), pcs, FRAMES);
    finding tmp = {0};
    if (!trim_to_module(c->m, pcs, n, &tmp)) continue;
    finding *f = add_finding(c);
    if (!f) return;
    *f = tmp;
    f->running = true;
    f->tid = w->tid;
    char where[160];
    describe_pc(c->m, f->pcs[0] - 1, where, sizeof where);
    lg__format(f->line, sizeof f->line, "thread %d is inside it, in %s", w->tid, where);
  }
}

static void census_holds(census *c, hold *table, size_t cap) {
  pthread_mutex_lock(&lock);
  for (size_t i = 0; i < cap; i++) {
    if (!table[i].live || !in_text(c->m, table[i].fn)) continue;
    finding *f = add_finding(c);
    if (!f) continue;
    f->pcs[0] = table[i].fn + 1;
    f->n = 1;
    f->registered = table[i].stack;
    f->tid = table[i].tid;
    char where[160];
    describe_pc(c->m, table[i].fn, where, sizeof where);
    if (table == keys)
      lg__format(f->line, sizeof f->line,
               "pthread key %lu has its destructor there, %s: a thread that holds a value "
               "calls it when it exits", (unsigned long)table[i].id, where);
    else
      lg__format(f->line, sizeof f->line, "a %s still calls into it, %s", table[i].what, where);
  }
  pthread_mutex_unlock(&lock);
}

static void census_signals(census *c) {
  for (int sig = 1; sig < NSIG; sig++) {
    struct sigaction sa;
    if (sig == LG_SIGNAL_PROBE || sigaction(sig, NULL, &sa) != 0) continue;
    uintptr_t fn = (sa.sa_flags & SA_SIGINFO) ? (uintptr_t)sa.sa_sigaction : (uintptr_t)sa.sa_handler;
    if (!in_text(c->m, fn)) continue;
    finding *f = add_finding(c);
    if (!f) continue;
    f->pcs[0] = fn + 1;
    f->n = 1;
    char where[160];
    describe_pc(c->m, fn, where, sizeof where);
    lg__format(f->line, sizeof f->line, "the handler of signal %d (%s) is there, %s", sig,
             strsignal(sig), where);
  }
}

/* The unload and load stacks of `m`, for a report about it. */
static void add_module_stacks(lg_report *r, const module *m) {
  if (m->unload_stack)
    lg_report_add_stack(r, "unload", m->unload_stack, m->unload_tid,
                        "%s was unloaded by thread %d here", m->base, m->unload_tid);
  if (m->load_stack)
    lg_report_add_stack(r, "load", m->load_stack, m->load_tid, "%s was loaded by thread %d here",
                        m->base, m->load_tid);
}

static void report_census(census *c) {
  finding *first = NULL;
  for (size_t i = 0; i < c->n && !first; i++)
    if (c->f[i].running) first = &c->f[i];
  for (size_t i = 0; i < c->n && !first; i++) first = &c->f[i];
  if (!first) return;
  module *m = c->m;
  lg_report r = {.kind = first->running ? "unload-while-running" : "unload-with-pending-callback",
                 .fd = -1};
  lg__format(r.headline, sizeof r.headline, "of %s: %s", m->base, first->line);
  size_t len = 0;
  for (size_t i = 0; i < c->n; i++) {
    if (&c->f[i] == first) continue;
    size_t k = lg__format(r.detail + len, sizeof r.detail - len, "%salso: %s", len ? "\n" : "",
                     c->f[i].line);
    if (k > 0 && len + (size_t)k < sizeof r.detail) len += (size_t)k;
  }
  if (c->more && len + 40 < sizeof r.detail)
    lg__format(r.detail + len, sizeof r.detail - len, "%sand %zu more", len ? "\n" : "", c->more);
  lg_report_stack *cur = lg_report_add_stack(&r, "current", 0, first->tid, "%s", "");
  cur->pcs = first->pcs;
  cur->npcs = first->n;
  if (first->registered)
    lg_report_add_stack(&r, "registered", first->registered, first->tid,
                        "it was registered here (%s, thread %d)", m->base, first->tid);
  add_module_stacks(&r, m);
  lg_report_emit(&r);
}

/* ---- placeholders and the fault handler ---------------------------------------------- */

/* A module whose dlclose is under way in another thread and whose old range holds addr. */
static module *unloading_at(uintptr_t addr) {
  int self = (int)syscall(SYS_gettid);
  for (int i = 0; i < MAX_MODULES; i++) {
    module *m = &mods[i];
    int by = __atomic_load_n(&m->unloading, __ATOMIC_ACQUIRE);
    if (by && by != self && addr >= m->lo && addr < m->hi) return m;
  }
  return NULL;
}

/* Called by signal.c's dispatcher for each fault, before the page heap. It blocks the census
 * probe: a thread waiting here for a census publishes its fault context instead (waiter_add),
 * and a probe nested before that would see only the handler. The census notices the
 * published context while it waits for the probe. */
static void classify_fault(int sig, siginfo_t *si, void *uc) {
  (void)sig;
  uintptr_t addr = (uintptr_t)si->si_addr;
  module *busy = unloading_at(addr);
  if (busy) { /* unmapped before its placeholder, or its census is running: that goes first */
    waiter *w = waiter_add(busy, uc);
    while (__atomic_load_n(&busy->unloading, __ATOMIC_ACQUIRE)) sched_yield();
    if (w) __atomic_store_n(&w->state, 0, __ATOMIC_RELEASE);
  }
  module *m = unloaded_at(addr);
  if (!m || !m->placeholder) return; /* not modcheck's: the next classifier's */
  const ucontext_t *u = uc;
  uintptr_t rip = (uintptr_t)u->uc_mcontext.gregs[REG_RIP];
  uintptr_t pcs[FRAMES];
  size_t n = lg__stack_signal(u, pcs, FRAMES); /* the faulting instruction + 1 first */
  lg_report r = {.kind = "use-after-unload", .fd = -1, .fatal = 1};
  char where[160];
  describe_pc(m, addr, where, sizeof where);
  if (addr == rip)
    lg__format(r.headline, sizeof r.headline,
             "at pc %p: a call into %s, which thread %d unloaded", (void *)rip, where,
             m->unload_tid);
  else
    lg__format(r.headline, sizeof r.headline,
             "on address %p at pc %p: an access to %s, which thread %d unloaded", (void *)addr,
             (void *)rip, where, m->unload_tid);
  lg_report_stack *cur = lg_report_add_stack(&r, "current", 0, lg__gettid(), "%s", "");
  cur->pcs = pcs; /* (not the depot: its lock may be held by the thread that faulted) */
  cur->npcs = n;
  add_module_stacks(&r, m);
  lg_report_emit(&r); /* fatal: does not return */
}

static void place(module *m) {
  int limit = lg__opts()->modcheck_placeholders;
  if (limit <= 0) return;
  module *oldest = NULL;
  int count = 0;
  for (int i = 0; i < MAX_MODULES; i++)
    if (mods[i].placeholder) {
      count++;
      if (!oldest || mods[i].unload_serial < oldest->unload_serial) oldest = &mods[i];
    }
  if (count >= limit && oldest) {
    munmap((void *)oldest->lo, oldest->hi - oldest->lo);
    oldest->placeholder = false;
    stats.placeholders--;
  }
  void *p = mmap((void *)m->lo, m->hi - m->lo, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
  if (p == (void *)m->lo) {
    m->placeholder = true;
    stats.placeholders++;
  } else {
    if (p != MAP_FAILED) munmap(p, m->hi - m->lo);
    stats.placeholder_misses++; /* something took the range between the unmap and now */
  }
}

/* ---- dlopen and dlclose -------------------------------------------------------------- */

LG_REAL(void *, dlopen, (const char *, int))
LG_REAL(int, dlclose, (void *))

static module *find_live(uintptr_t addr, const char *path) {
  for (int i = 0; i < MAX_MODULES; i++) {
    module *m = &mods[i];
    if ((m->state == M_LOADED || m->state == M_RETAINED) && m->lm_addr == addr &&
        strcmp(m->path, path) == 0)
      return m;
  }
  return NULL;
}

static module *new_slot(void) {
  module *best = NULL;
  for (int i = 0; i < MAX_MODULES; i++) {
    module *m = &mods[i];
    if (m->state == M_FREE) return m;
    if (m->state == M_UNLOADED && !m->placeholder &&
        (!best || m->unload_serial < best->unload_serial))
      best = m;
  }
  return best;
}

void *dlopen(const char *file, int mode) {
  void *h = lg__get_dlopen()(file, mode);
  if (!h || !file || lg__busy || !enabled()) return h;
  struct link_map *lm = NULL;
  if (dlinfo(h, RTLD_DI_LINKMAP, &lm) != 0 || !lm || !lm->l_name || !lm->l_name[0]) return h;
  lg__busy++;
  /* placeholders are explained by the dispatcher's classifier; an unloaded module's frames
   * are named by the symbolizer through the resolver */
  lg__signal_set_classifier(LG_CLASSIFIER_MODCHECK, classify_fault);
  lg__stack_set_unloaded_resolver(unloaded_find);
  lg__signal_install();
  lg_stack_id stack = lg_stack_capture(__builtin_frame_address(0));
  pthread_mutex_lock(&lock);
  module *m = find_live(lm->l_addr, lm->l_name);
  if (!m && (m = new_slot())) {
    memset(m, 0, sizeof *m);
    lg__format(m->path, sizeof m->path, "%s", lm->l_name);
    const char *slash = strrchr(m->path, '/');
    m->base = slash ? slash + 1 : m->path;
    m->lm_addr = lm->l_addr;
    struct seg_query q = {.m = m, .name = m->path, .addr = m->lm_addr};
    dl_iterate_phdr(seg_cb, &q);
    m->load_stack = stack;
    m->load_tid = lg__gettid();
    m->load_serial = ++load_serials;
    stats.loads++;
    __atomic_store_n(&m->state, M_LOADED, __ATOMIC_RELEASE);
  }
  if (m) {
    m->opens++;
    if (mode & RTLD_NODELETE) m->nodelete = true;
    if (m->state == M_RETAINED) m->state = M_LOADED;
  }
  pthread_mutex_unlock(&lock);
  lg__busy--;
  return h;
}

int dlclose(void *h) {
  if (lg__busy || !enabled()) return lg__get_dlclose()(h);
  struct link_map *lm = NULL;
  if (dlinfo(h, RTLD_DI_LINKMAP, &lm) != 0 || !lm) return lg__get_dlclose()(h);
  pthread_mutex_lock(&lock);
  module *m = find_live(lm->l_addr, lm->l_name ? lm->l_name : "");
  pthread_mutex_unlock(&lock);
  if (!m) return lg__get_dlclose()(h);
  /* The moment of the unload is a decision: other actors may run up to it. */
  if (lg_sched_controlled()) lg_yield();
  lg__busy++;
  lg_stack_id stack = lg_stack_capture(__builtin_frame_address(0));
  lg__busy--;
  __atomic_store_n(&m->unloading, lg__gettid(), __ATOMIC_RELEASE);
  int r = lg__get_dlclose()(h);
  lg__busy++;
  pthread_mutex_lock(&lock);
  if (m->opens > 0) m->opens--;
  bool gone = r == 0 && !still_mapped(m);
  if (gone) {
    m->unload_stack = stack;
    m->unload_tid = lg__gettid();
    m->unload_serial = ++serial;
    stats.unloads++;
    place(m);
    __atomic_store_n(&m->state, M_UNLOADED, __ATOMIC_RELEASE);
  } else if (r == 0 && m->opens == 0) {
    m->state = M_RETAINED;
    stats.retained++;
  }
  bool note = !gone && r == 0 && (m->opens == 0 || m->nodelete) && !m->noted;
  if (note) m->noted = true;
  pthread_mutex_unlock(&lock);
  if (note) {
    const char *why = m->nodelete ? "it was opened with RTLD_NODELETE (pinned)"
                                  : "another object depends on it or holds it, or it has "
                                    "pending thread_local destructors";
    fprintf(stderr, "==%d==lifeguard: modcheck: note: the last dlclose of %s left it mapped: %s\n",
            (int)getpid(), m->base, why);
  }
  if (gone && lg__opts()->modcheck_census) {
    census c = {.m = m};
    census_actors(&c);
    census_threads(&c);
    census_waiters(&c);
    census_holds(&c, keys, MAX_KEYS);
    census_holds(&c, timers, MAX_TIMERS);
    census_holds(&c, holds, MAX_HOLDS);
    census_signals(&c);
    /* The unloading code itself returns into the module? (a module that unloads itself) */
    const uintptr_t *pcs;
    size_t n = lg_stack_pcs(stack, &pcs);
    finding tmp = {0};
    if (trim_to_module(m, pcs, n, &tmp)) {
      finding *f = add_finding(&c);
      if (f) {
        *f = tmp;
        f->running = true;
        f->tid = lg__gettid();
        char where[160];
        describe_pc(m, f->pcs[0] - 1, where, sizeof where);
        lg__format(f->line, sizeof f->line, "the unloading call itself returns into it, to %s",
                 where);
      }
    }
    report_census(&c);
    release_probes();
  }
  __atomic_store_n(&m->unloading, 0, __ATOMIC_RELEASE);
  lg__busy--;
  return r;
}

void lg_modcheck_stats_get(lg_modcheck_stats *out) {
  pthread_mutex_lock(&lock);
  *out = stats;
  pthread_mutex_unlock(&lock);
}

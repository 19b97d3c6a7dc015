/* SPDX-License-Identifier: MIT */
/* Stack capture, a deduplicated depot of captured stacks, and symbolization through
 * llvm-symbolizer.
 *
 * Two unwinders. Frame pointers (bounded by the thread's stack) are cheap, but a walk through
 * code built without them stops early or goes astray. The unwind tables (.eh_frame) are read
 * through libunwind, which can start at a signal context (unw_init_local2 with
 * UNW_INIT_SIGNAL_FRAME) and is async-signal-safe for local unwinding.
 *
 * A captured stack is the frame-pointer walk when that walk is known to be whole (each
 * distinct walk is checked once against the tables: the same frames, and only start-up code
 * past its end), else the tables' walk, cut after its first start-up frame as a
 * frame-pointer walk ends.
 * Reports from a signal context always use the tables, whose first frames are right even when
 * the pc is in a leaf that has not set up a frame (the frame-pointer walk from the context's
 * frame pointer starts at the caller's caller).
 *
 * Where no tables cover a pc, the unwinder reads the code there (a signal trampoline?): a
 * return address into an unloaded module would fault inside it. Each pc is checked before
 * the next step, and one whose code cannot be read ends the walk as its last frame: the
 * census needs exactly that frame (a thread blocked in libc, called from a module that is
 * gone). */
#define _GNU_SOURCE
#include "stack_internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>
#define UNW_LOCAL_ONLY
#include <libunwind.h>

/* ---- capture ---------------------------------------------------------------------- */

static __thread uintptr_t stack_lo, stack_hi;

void lg__stack_set_bounds(uintptr_t lo, uintptr_t hi) {
  stack_lo = lo;
  stack_hi = hi;
}

/* Bounds still unknown on this thread (it was not started through pthread_create, or this
 * is a fiber's first capture): thread.c finds them from /proc/self/maps, without locks. */
static void thread_stack_bounds(void) {
  stack_hi = 1; /* mark "tried" even if the lookup fails */
  lg__busy++;
  lg__thread_find_bounds();
  lg__busy--;
}

/* Walks saved frame pointers from `frame`, keeping only frames that stay inside the stack
 * [lo, hi) and grow upward, so a frame without a frame pointer ends the walk instead of
 * reading garbage. */
/* (The stack walkers read other frames' words, redzones included: not for ASan's eyes.) */
__attribute__((no_sanitize("address"))) static size_t
unwind_fp(void *frame, uintptr_t lo, uintptr_t hi, uintptr_t *pcs, size_t max) {
  size_t n = 0;
  uintptr_t fp = (uintptr_t)frame;
  while (n < max) {
    if (fp & (sizeof(void *) - 1)) break;
    if (lo && (fp < lo || fp + 2 * sizeof(void *) > hi)) break;
    uintptr_t next = ((uintptr_t *)fp)[0];
    uintptr_t pc = ((uintptr_t *)fp)[1];
    if (pc < 4096) break;
    pcs[n++] = pc;
    if (next <= fp || next - fp > (1u << 22)) break;
    fp = next;
  }
  return n;
}

/* ---- the unwind tables ------------------------------------------------------------ */

/* libunwind, opened with RTLD_LOCAL when the process starts: linked in, it would put its
 * unversioned _Unwind_* ahead of libgcc_s for every object loaded later, and the exceptions
 * of C++ code that a C program dlopens would unwind through it (its static archive is not
 * PIC, so it cannot be linked in hidden). No cache (nothing to flush when a module is
 * unloaded, no lock); none of this is found when libunwind8 is missing: stacks then come from
 * frame pointers alone. */
static struct {
  int (*init_local2)(unw_cursor_t *, unw_context_t *, int);
  int (*step)(unw_cursor_t *);
  int (*get_reg)(unw_cursor_t *, unw_regnum_t, unw_word_t *);
  int (*backtrace)(void **, int);
} uw;

__attribute__((constructor)) static void open_unwinder(void) {
  lg__busy++;
  void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
  if (h) {
    typedef int (*policy_fn)(unw_addr_space_t, unw_caching_policy_t);
    policy_fn policy = (policy_fn)dlsym(h, "_ULx86_64_set_caching_policy");
    unw_addr_space_t *space = (unw_addr_space_t *)dlsym(h, "_ULx86_64_local_addr_space");
    uw.init_local2 =
        (int (*)(unw_cursor_t *, unw_context_t *, int))dlsym(h, "_ULx86_64_init_local2");
    uw.get_reg =
        (int (*)(unw_cursor_t *, unw_regnum_t, unw_word_t *))dlsym(h, "_ULx86_64_get_reg");
    uw.backtrace = (int (*)(void **, int))dlsym(h, "unw_backtrace");
    if (policy && space) policy(*space, UNW_CACHE_NONE);
    if (uw.init_local2 && uw.get_reg && uw.backtrace)
      __atomic_store_n(&uw.step, (int (*)(unw_cursor_t *))dlsym(h, "_ULx86_64_step"),
                       __ATOMIC_RELEASE);
  }
  lg__busy--;
}

/* Whether the unwinder may read the code at return address `pc`: it looks up pc - 1 and,
 * where no tables cover it, reads the code at pc (a signal trampoline?). */
static bool code_readable(uintptr_t pc) {
  struct dl_find_object d;
  if (_dl_find_object((void *)(pc - 1), &d) == 0) return true;
  char buf[10];
  struct iovec local = {buf, sizeof buf}, remote = {(void *)(pc - 1), sizeof buf};
  return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)sizeof buf;
}

/* The unwind tables' walk from the frame that returns to `want` (a return address).
 * unw_backtrace keeps, per thread, how each pc's frame is laid out, so a stack seen before
 * costs about what a frame-pointer walk does. */
static size_t unwind_tables(uintptr_t want, uintptr_t *pcs, size_t max) {
  void *raw[LG_STACK_MAX + 8 + 16]; /* the harness's own frames come first */
  size_t n = 0, cap = max + 16 < sizeof raw / sizeof *raw ? max + 16 : sizeof raw / sizeof *raw;
  if (!max || !__atomic_load_n(&uw.step, __ATOMIC_ACQUIRE)) return 0;
  lg__busy++;
  int got = uw.backtrace(raw, (int)cap);
  lg__busy--;
  int i = 0;
  while (i < got && i < 16 && (uintptr_t)raw[i] != want) i++;
  if (i < got && (uintptr_t)raw[i] == want)
    for (; i < got && n < max; i++) pcs[n++] = (uintptr_t)raw[i];
  return n;
}

/* The unwind tables' walk from the frame that signal context `uc` interrupted: its pc + 1
 * first, then return addresses. A pc whose code cannot be read ends the walk as its last
 * frame, and sets *cut. */
static size_t unwind_signal(const ucontext_t *uc, uintptr_t *pcs, size_t max, bool *cut) {
  *cut = false;
  if (!max || !__atomic_load_n(&uw.step, __ATOMIC_ACQUIRE)) return 0;
  uintptr_t rip = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
  size_t n = 0;
  pcs[n++] = rip + 1;
  if (!code_readable(rip + 1)) {
    *cut = true;
    return n;
  }
  unw_cursor_t cur;
  lg__busy++;
  bool stop = uw.init_local2(&cur, (unw_context_t *)uc, UNW_INIT_SIGNAL_FRAME) != 0;
  while (!stop && n < max) {
    unw_word_t ip;
    if (uw.step(&cur) <= 0 || uw.get_reg(&cur, UNW_REG_IP, &ip) != 0 || ip == 0) break;
    pcs[n++] = (uintptr_t)ip;
    stop = *cut = !code_readable((uintptr_t)ip); /* checked before the next step reads it */
  }
  lg__busy--;
  return n;
}

/* ---- which frame-pointer walks are whole ---------------------------------------- */

/* A frame-pointer walk through a function without a frame pointer (one that left its
 * caller's frame pointer in place) still ends at a thread's root, but skips that function's
 * caller. So each distinct walk is checked once against the unwind tables, and the verdict
 * kept by the walk's hash: whole (the walk is the stack), or not (the tables give it).
 * Open addressing, written once per slot, read without a lock; when it is full, walks not in
 * it go to the tables every time. */
#define VERDICT_SLOTS (1u << 18)
#define VERDICT_PROBES 16
static uint64_t verdicts[VERDICT_SLOTS]; /* hash | 1 (whole) or hash & ~1 (not); 0 empty */

static uint64_t walk_hash(const uintptr_t *pcs, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ pcs[i]) * 1099511628211ull;
  return h ? h : 2;
}

/* 1: the walk is whole, 0: it is not, -1: not known yet. */
static int verdict(uint64_t h) {
  for (uint32_t i = 0; i < VERDICT_PROBES; i++) {
    uint64_t v = __atomic_load_n(&verdicts[(h + i) % VERDICT_SLOTS], __ATOMIC_ACQUIRE);
    if (!v) return -1;
    if ((v | 1) == (h | 1)) return (int)(v & 1);
  }
  return -1;
}

static void set_verdict(uint64_t h, bool whole) {
  uint64_t v = whole ? (h | 1) : (h & ~(uint64_t)1);
  for (uint32_t i = 0; i < VERDICT_PROBES; i++) {
    uint64_t empty = 0, *slot = &verdicts[(h + i) % VERDICT_SLOTS];
    if (__atomic_compare_exchange_n(slot, &empty, v, false, __ATOMIC_RELEASE, __ATOMIC_RELAXED) ||
        (empty | 1) == (h | 1))
      return;
  }
}

static struct link_map *object_of(uintptr_t pc) {
  struct dl_find_object d;
  return _dl_find_object((void *)pc, &d) == 0 ? d.dlfo_link_map : NULL;
}

/* Frames [from, n) of a whole walk are start-up code: libc's (__libc_start_main, start_thread,
 * clone3), the last one possibly the program's _start. */
static bool only_start_up(const uintptr_t *pcs, size_t from, size_t n) {
  struct link_map *libc = object_of((uintptr_t)&abort);
  for (size_t i = from; i < n; i++) {
    struct link_map *o = object_of(pcs[i] - 1);
    if (o == libc) continue;
    if (i == n - 1 && o && o->l_prev == NULL) continue; /* the main program: _start */
    return false;
  }
  return true;
}

/* A whole walk without the start-up frames past the first of them (a frame-pointer walk ends
 * there). */
static size_t trim_start_up(const uintptr_t *pcs, size_t n) {
  struct link_map *libc = object_of((uintptr_t)&abort);
  size_t keep = n;
  while (keep > 1 && only_start_up(pcs, keep - 1, n) && object_of(pcs[keep - 2] - 1) == libc)
    keep--;
  return keep;
}

/* The stack above the frame `frame` (the frame's return address first): frame pointers when
 * that walk ends at a known root, else the unwind tables. */
__attribute__((no_sanitize("address"))) static size_t
capture_pcs(void *frame, uintptr_t *pcs, size_t max) {
  if (stack_hi == 0) thread_stack_bounds();
  uintptr_t hi = stack_hi > 1 ? stack_hi : 0;
  size_t n = lg__opts()->fast_unwind ? unwind_fp(frame, stack_lo, hi, pcs, max) : 0;
  uint64_t h = n ? walk_hash(pcs, n) : 0;
  int known = n ? verdict(h) : 0;
  if (known == 1) return n;
  uintptr_t tpcs[LG_STACK_MAX + 8]; /* room to see what lies past `max` frames */
  size_t m = unwind_tables(((uintptr_t *)frame)[1], tpcs, max + 8);
  bool whole = m < max + 8;
  if (m && whole) m = trim_start_up(tpcs, m);
  if (known == -1 && m) {
    /* whole: the tables say the same, and only start-up frames lie past the walk's end (it
     * stopped there at most `max` frames in) */
    bool same = m >= n && memcmp(pcs, tpcs, n * sizeof *pcs) == 0 &&
                (n == max || (whole && only_start_up(tpcs, n, m)));
    set_verdict(h, same);
    if (same) return n;
  }
  if (m == 0) return n;
  if (m > max) m = max;
  memcpy(pcs, tpcs, m * sizeof *pcs);
  return m;
}

/* ---- depot ------------------------------------------------------------------------ */

/* Stacks are appended to one mmap'd arena and never freed; a stack's id is its offset in
 * words + 1. Identical stacks share one id (hash chains over 64k buckets). */
#define DEPOT_BYTES ((size_t)256 << 20)
#define DEPOT_BUCKETS (1u << 16)

struct depot_entry {
  uint32_t next;   /* next id in the bucket chain */
  uint32_t hash;
  uint32_t n;
  uint32_t pad;
  uintptr_t pcs[];
};

static uintptr_t *depot;       /* arena, in words */
static size_t depot_used;      /* words used */
static uint32_t depot_heads[DEPOT_BUCKETS];
static pthread_mutex_t depot_lock = PTHREAD_MUTEX_INITIALIZER;

static uint32_t hash_pcs(const uintptr_t *pcs, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ pcs[i]) * 1099511628211ull;
  return (uint32_t)(h ^ (h >> 32));
}

static struct depot_entry *depot_at(lg_stack_id id) {
  return (struct depot_entry *)(depot + (id - 1));
}

/* Looks `pcs` up without the lock: entries are immutable once a bucket head names them, and
 * heads are published with release stores, so a reader sees whole entries. Returns 0 if
 * absent. */
static lg_stack_id depot_find(uint32_t h, const uintptr_t *pcs, size_t n) {
  if (!__atomic_load_n(&depot, __ATOMIC_ACQUIRE)) return 0;
  for (uint32_t e = __atomic_load_n(&depot_heads[h % DEPOT_BUCKETS], __ATOMIC_ACQUIRE); e;
       e = depot_at(e)->next) {
    const struct depot_entry *d = depot_at(e);
    if (d->hash == h && d->n == n && memcmp(d->pcs, pcs, n * sizeof *pcs) == 0) return e;
  }
  return 0;
}

/* Returns the id of `pcs` (0 for an empty stack or a full depot), adding it if new. The
 * common case, a stack seen before, takes no lock. */
static lg_stack_id depot_put(const uintptr_t *pcs, size_t n) {
  if (n == 0) return 0;
  uint32_t h = hash_pcs(pcs, n);
  lg_stack_id id = depot_find(h, pcs, n);
  if (id) return id;
  pthread_mutex_lock(&depot_lock);
  if (!depot) {
    void *m = mmap(NULL, DEPOT_BYTES, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) goto out;
    __atomic_store_n(&depot, (uintptr_t *)m, __ATOMIC_RELEASE);
  }
  if ((id = depot_find(h, pcs, n))) goto out; /* added meanwhile by another thread */
  size_t words = sizeof(struct depot_entry) / sizeof(uintptr_t) + n;
  if ((depot_used + words) * sizeof(uintptr_t) > DEPOT_BYTES) goto out; /* full: no stack */
  id = (lg_stack_id)(depot_used + 1);
  struct depot_entry *d = depot_at(id);
  d->hash = h;
  d->n = (uint32_t)n;
  memcpy(d->pcs, pcs, n * sizeof *pcs);
  d->next = depot_heads[h % DEPOT_BUCKETS];
  __atomic_store_n(&depot_used, depot_used + words, __ATOMIC_RELEASE);
  __atomic_store_n(&depot_heads[h % DEPOT_BUCKETS], id, __ATOMIC_RELEASE);
out:
  pthread_mutex_unlock(&depot_lock);
  return id;
}

lg_stack_id lg_stack_capture(void *frame) {
  uintptr_t pcs[LG_STACK_MAX];
  return depot_put(pcs, capture_pcs(frame, pcs, (size_t)lg__opts()->stack_depth));
}

lg_stack_id lg__stack_capture_suspended(void *frame, uintptr_t lo, uintptr_t hi) {
  uintptr_t pcs[LG_STACK_MAX];
  return depot_put(pcs, unwind_fp(frame, lo, hi, pcs, (size_t)lg__opts()->stack_depth));
}

lg_stack_id lg__stack_put(const uintptr_t *pcs, size_t n) { return depot_put(pcs, n); }

size_t lg__stack_walk(uintptr_t fp, uintptr_t *pcs, size_t max) {
  return capture_pcs((void *)fp, pcs, max);
}

size_t lg__stack_walk_fp(uintptr_t fp, uintptr_t *pcs, size_t max) {
  if (stack_hi == 0) thread_stack_bounds();
  return unwind_fp((void *)fp, stack_lo, stack_hi > 1 ? stack_hi : 0, pcs, max);
}

__attribute__((no_sanitize("address"))) size_t
lg__stack_signal(const void *ucv, uintptr_t *pcs, size_t max) {
  const ucontext_t *u = ucv;
  if (!max) return 0;
  bool cut = false;
  size_t n = unwind_signal(u, pcs, max, &cut);
  if (n > 1 && !cut && n < max) return trim_start_up(pcs, n);
  if (n > 1 || (n == 1 && !cut)) return n;
  /* No tables, or the interrupted pc cannot be read (a call into an unmapped module): the
   * pc, the return address such a call just pushed, and the frame-pointer walk from there. */
  uintptr_t rip = (uintptr_t)u->uc_mcontext.gregs[REG_RIP];
  n = 0;
  pcs[n++] = rip + 1;
  uintptr_t top = *(const uintptr_t *)u->uc_mcontext.gregs[REG_RSP];
  if (cut && n < max && object_of(top - 1)) pcs[n++] = top;
  if (stack_hi == 0) thread_stack_bounds();
  n += unwind_fp((void *)u->uc_mcontext.gregs[REG_RBP], stack_lo, stack_hi > 1 ? stack_hi : 0,
                 pcs + n, max - n);
  return n;
}

size_t lg_stack_pcs(lg_stack_id id, const uintptr_t **pcs) {
  if (id == 0 || !__atomic_load_n(&depot, __ATOMIC_ACQUIRE) ||
      id > __atomic_load_n(&depot_used, __ATOMIC_ACQUIRE))
    return 0;
  struct depot_entry *d = depot_at(id);
  *pcs = d->pcs;
  return d->n;
}

/* ---- symbolization ---------------------------------------------------------------- */

/* Symbolization runs inside a report, which may come from a fault handler on a thread that
 * holds any lock of the C library's (the allocator's, a stream's): nothing here allocates
 * or takes a lock that such a thread could hold. Module lookups go through _dl_find_object
 * (lock-free), memory is the caller's scratch, the symbolizer is started with clone (the
 * child on a stack of the scratch, sharing memory until its execve, as vfork: a sanitizer's
 * vfork interceptor would walk the stack the fault handler left) and execve, and pipes, dup2
 * and waits are system calls. (dladdr takes the loader's lock, which
 * is recursive: a fault in a constructor or destructor, under that lock, still gets it.) */

static char main_path[256];

__attribute__((constructor)) static void find_main_path(void) {
  ssize_t n = readlink("/proc/self/exe", main_path, sizeof main_path - 1);
  main_path[n > 0 ? n : 0] = '\0';
}

static lg__unloaded_resolver unloaded_resolver;

void lg__stack_set_unloaded_resolver(lg__unloaded_resolver fn) {
  __atomic_store_n(&unloaded_resolver, fn, __ATOMIC_RELEASE);
}

/* The module holding `pc`: a loaded one, else one modcheck saw unloaded (whose file then
 * names the function there, into fn when it is not NULL). */
static bool module_at(uintptr_t pc, const char **path, uintptr_t *bias, char *fn, size_t fncap) {
  struct dl_find_object d;
  if (_dl_find_object((void *)pc, &d) == 0 && d.dlfo_link_map) {
    const char *name = d.dlfo_link_map->l_name;
    *path = name && name[0] ? name : main_path;
    *bias = d.dlfo_link_map->l_addr;
    return true;
  }
  lg__unloaded_resolver unloaded = __atomic_load_n(&unloaded_resolver, __ATOMIC_ACQUIRE);
  return unloaded && unloaded(pc, path, bias, fn, fncap);
}

bool lg__module_of(uintptr_t pc, const char **path, uintptr_t *bias) {
  return module_at(pc, path, bias, NULL, 0);
}

static int is_executable(const char *p) { return p[0] && access(p, X_OK) == 0; }

static const char *find_symbolizer(void) {
  static char found[512];
  static int searched;
  const lg__options *o = lg__opts();
  if (o->symbolizer[0]) return is_executable(o->symbolizer) ? o->symbolizer : NULL;
  if (searched) return found[0] ? found : NULL;
  searched = 1;
  const char *env[] = {"LLVM_SYMBOLIZER_PATH", "ASAN_SYMBOLIZER_PATH"};
  for (size_t i = 0; i < 2; i++) {
    const char *e = getenv(env[i]);
    if (e && is_executable(e)) {
      snprintf(found, sizeof found, "%s", e);
      return found;
    }
  }
  const char *names[] = {"llvm-symbolizer", "llvm-symbolizer-16", "llvm-symbolizer-15",
                         "llvm-symbolizer-14"};
  const char *path = getenv("PATH");
  if (!path) path = "/usr/local/bin:/usr/bin:/bin";
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    const char *p = path;
    while (*p) {
      size_t len = strcspn(p, ":");
      char cand[512];
      snprintf(cand, sizeof cand, "%.*s/%s", (int)len, p, names[i]);
      if (is_executable(cand)) {
        snprintf(found, sizeof found, "%s", cand);
        return found;
      }
      p += len + (p[len] == ':');
    }
  }
  return NULL;
}

/* The symbolizer is found when the library starts (getenv and the PATH walk are no work for
 * a report). */
__attribute__((constructor)) static void find_symbolizer_early(void) {
  if (lg__started() && lg__opts()->symbolize) (void)find_symbolizer();
}

typedef struct child_args {
  int in, out;
  const char *tool;
  char **argv, **env;
} child_args;

/* The symbolizer's process until its execve: system calls only. */
__attribute__((no_sanitize("address"))) static int symbolizer_child(void *p) {
  const child_args *a = p;
  syscall(SYS_dup2, a->in, 0);
  syscall(SYS_dup2, a->out, 1);
  syscall(SYS_execve, a->tool, a->argv, a->env);
  syscall(SYS_exit, 127);
  return 127;
}

/* Runs the symbolizer over a request text, its answer into out[0..cap) (NUL-terminated).
 * `env` has room for the environment's pointers, `stack` (stack_size bytes) is the child's
 * until its execve. Returns false when it could not run. */
static bool run_symbolizer(const char *tool, const char *request, size_t reqlen, char *out,
                           size_t cap, char **env, size_t envcap, char *stack,
                           size_t stack_size) {
  int in[2], res[2];
  if (syscall(SYS_pipe2, in, O_CLOEXEC) != 0) return false;
  if (syscall(SYS_pipe2, res, O_CLOEXEC) != 0) {
    lg__sys_close(in[0]);
    lg__sys_close(in[1]);
    return false;
  }
  char *argv[] = {(char *)tool, "--inlining", "--demangle", "--functions=linkage", NULL};
  /* The symbolizer runs without the preload library: under the page heap a symbolizer that
   * reads a large binary's debug information takes minutes instead of seconds. */
  extern char **environ;
  size_t k = 0;
  for (size_t i = 0; environ && environ[i] && k + 1 < envcap; i++)
    if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0) env[k++] = environ[i];
  env[k] = NULL;
  child_args args = {in[0], res[1], tool, argv, env};
  char *top = (char *)(((uintptr_t)stack + stack_size) & ~(uintptr_t)15);
  pid_t pid = clone(symbolizer_child, top, CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
  lg__sys_close(in[0]);
  lg__sys_close(res[1]);
  size_t len = 0;
  if (pid > 0) {
    lg__write_all(in[1], request, reqlen);
    lg__sys_close(in[1]);
    while (len + 1 < cap) {
      ssize_t r = lg__sys_read(res[0], out + len, cap - len - 1);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      len += (size_t)r;
    }
    int status;
    while (syscall(SYS_wait4, pid, &status, 0, NULL) < 0 && errno == EINTR) {}
  } else {
    lg__sys_close(in[1]);
  }
  out[len] = '\0';
  lg__sys_close(res[0]);
  return pid > 0;
}

void lg__copy_field(char *dst, size_t cap, const char *src, size_t len) {
  if (len >= cap) len = cap - 1;
  memcpy(dst, src, len);
  dst[len] = '\0';
}

bool lg__parse_location(const char *s, size_t len, lg_frame *f) {
  const char *end = s + len;
  const char *c2 = NULL, *c1 = NULL;
  for (const char *p = end - 1; p >= s; p--)
    if (*p == ':') {
      if (!c2) c2 = p;
      else { c1 = p; break; }
    }
  if (c1 && c2) {
    lg__copy_field(f->file, sizeof f->file, s, (size_t)(c1 - s));
    f->line = atoi(c1 + 1);
    f->column = atoi(c2 + 1);
  } else if (c2) {
    lg__copy_field(f->file, sizeof f->file, s, (size_t)(c2 - s));
    f->line = atoi(c2 + 1);
  } else {
    lg__copy_field(f->file, sizeof f->file, s, len);
  }
  if (strcmp(f->file, "??") == 0) f->file[0] = '\0';
  return c2 != NULL;
}

size_t lg_symbolize(const uintptr_t *pcs, size_t n, lg_frame *out, size_t max) {
  size_t cap = lg__symbolize_scratch_size(n);
  void *scratch = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (scratch == MAP_FAILED) return 0;
  size_t got = lg__symbolize_each(pcs, n, out, max, NULL, scratch, cap);
  munmap(scratch, cap);
  return got;
}

/* The scratch is carved as: n frames, the request (a module path and an offset per pc), the
 * environment's pointers, and the symbolizer's answer in the rest. */
#define REQ_PER_PC 300
#define ENV_SLOTS 4096
#define ANSWER_MIN (64u << 10)
#define CHILD_STACK (64u << 10)

size_t lg__symbolize_scratch_size(size_t n) {
  return n * (sizeof(lg_frame) + REQ_PER_PC) + ENV_SLOTS * sizeof(char *) + CHILD_STACK +
         ANSWER_MIN + n * 1024;
}

size_t lg__symbolize_each(const uintptr_t *pcs, size_t n, lg_frame *out, size_t max,
                          size_t *counts, void *scratch, size_t scratch_cap) {
  if (counts) memset(counts, 0, n * sizeof *counts);
  if (scratch_cap < lg__symbolize_scratch_size(n)) n = 0; /* (a caller's mistake: no frames) */
  lg__busy++;
  lg_frame *base = scratch;
  char *req = (char *)(base + n);
  size_t reqcap = n * REQ_PER_PC + 1, reqlen = 0;
  char **env = (char **)(void *)(req + ((reqcap + 15) & ~(size_t)15));
  char *child_stack = (char *)(env + ENV_SLOTS);
  char *text = child_stack + CHILD_STACK;
  size_t textcap = (size_t)((char *)scratch + scratch_cap - text);
  for (size_t i = 0; i < n; i++) {
    lg_frame *f = &base[i];
    memset(f, 0, sizeof *f);
    f->pc = pcs[i] - 1; /* return address -> the call instruction */
    const char *name;
    uintptr_t bias;
    if (module_at(f->pc, &name, &bias, f->function, sizeof f->function)) {
      lg__format(f->module, sizeof f->module, "%s", name);
      f->offset = f->pc - bias;
      size_t w = lg__format(req + reqlen, reqcap - reqlen, "\"%s\" 0x%lx\n", f->module,
                            (unsigned long)f->offset);
      if (w < reqcap - reqlen) reqlen += w;
    }
    Dl_info info;
    if (!f->function[0] && dladdr((void *)f->pc, &info) && info.dli_sname)
      lg__format(f->function, sizeof f->function, "%s", info.dli_sname);
  }
  const char *tool = lg__opts()->symbolize ? find_symbolizer() : NULL;
  bool ran = tool && reqlen && run_symbolizer(tool, req, reqlen, text, textcap, env, ENV_SLOTS,
                                                    child_stack, CHILD_STACK);
  size_t nout = 0;
  const char *p = ran ? text : NULL;
  for (size_t i = 0; i < n && nout < max; i++) {
    lg_frame *f = &base[i];
    size_t before = nout;
    if (!p || !f->module[0]) {
      out[nout++] = *f;
      if (counts) counts[i] = 1;
      continue;
    }
    /* One block per address: pairs of lines (function, location), ended by a blank line. */
    size_t first = nout;
    while (*p && *p != '\n' && nout < max) {
      size_t flen = strcspn(p, "\n");
      const char *fn = p;
      p += flen + (p[flen] == '\n');
      size_t llen = strcspn(p, "\n");
      const char *loc = p;
      p += llen + (p[llen] == '\n');
      lg_frame g = *f;
      if (!(flen == 2 && fn[0] == '?' && fn[1] == '?'))
        lg__copy_field(g.function, sizeof g.function, fn, flen);
      g.file[0] = '\0';
      g.line = g.column = 0;
      lg__parse_location(loc, llen, &g);
      out[nout++] = g;
    }
    while (*p && *p != '\n') { /* skip what did not fit */
      size_t l = strcspn(p, "\n");
      p += l + (p[l] == '\n');
    }
    if (*p == '\n') p++;
    if (nout == first && nout < max) out[nout++] = *f;
    if (counts) counts[i] = nout - before;
  }
  lg__busy--;
  return nout;
}

/* Stack capture (frame pointers, bounded by the thread's stack), a deduplicated depot of
 * captured stacks, and symbolization through llvm-symbolizer. */
#define _GNU_SOURCE
#include "internal.h"

#include <lifeguard/stack.h>

#include "fiber.h"

#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

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
static size_t unwind_fp(void *frame, uintptr_t lo, uintptr_t hi, uintptr_t *pcs, size_t max) {
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

static size_t unwind_slow(void *frame, uintptr_t *pcs, size_t max) {
  void *raw[LG_STACK_MAX + 16];
  lg__busy++;
  int got = backtrace(raw, LG_STACK_MAX + 16);
  lg__busy--;
  /* Drop the harness's own frames: start after the frame that returns into `frame`'s caller. */
  uintptr_t want = ((uintptr_t *)frame)[1];
  int start = 0;
  for (int i = 0; i < got; i++)
    if ((uintptr_t)raw[i] == want) { start = i; break; }
  size_t n = 0;
  for (int i = start; i < got && n < max; i++) pcs[n++] = (uintptr_t)raw[i];
  return n;
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
  const lg__options *o = lg__opts();
  uintptr_t pcs[LG_STACK_MAX];
  size_t max = (size_t)o->stack_depth;
  if (stack_hi == 0) thread_stack_bounds();
  size_t n = o->fast_unwind ? unwind_fp(frame, stack_lo, stack_hi, pcs, max) : 0;
  /* A walk that ends this early went through code without frame pointers (an uninstrumented
   * library): ask the unwind tables instead. */
  if (n < 3 && max >= 3) n = unwind_slow(frame, pcs, max);
  return depot_put(pcs, n);
}

lg_stack_id lg__stack_capture_suspended(void *frame, uintptr_t lo, uintptr_t hi) {
  uintptr_t pcs[LG_STACK_MAX];
  return depot_put(pcs, unwind_fp(frame, lo, hi, pcs, (size_t)lg__opts()->stack_depth));
}

lg_stack_id lg__stack_put(const uintptr_t *pcs, size_t n) { return depot_put(pcs, n); }

size_t lg__stack_walk(uintptr_t fp, uintptr_t *pcs, size_t max) {
  if (stack_hi == 0) thread_stack_bounds();
  return unwind_fp((void *)fp, stack_lo, stack_hi > 1 ? stack_hi : 0, pcs, max);
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

struct find_module {
  uintptr_t pc;
  const char *name;
  uintptr_t bias;
  int found;
};

static int find_module_cb(struct dl_phdr_info *info, size_t size, void *arg) {
  struct find_module *f = arg;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD) continue;
    uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
    if (f->pc >= lo && f->pc < lo + ph->p_memsz) {
      f->name = info->dlpi_name;
      f->bias = info->dlpi_addr;
      f->found = 1;
      return 1;
    }
  }
  return 0;
}

static const char *main_program_path(void) {
  static char path[256];
  if (!path[0]) {
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
    if (n > 0) path[n] = '\0';
  }
  return path;
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

/* Runs the symbolizer over a request text; returns its output (malloc'd) or NULL. */
static char *run_symbolizer(const char *tool, const char *request, size_t reqlen) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0) return NULL;
  if (pipe2(out, O_CLOEXEC) != 0) {
    lg__sys_close(in[0]);
    lg__sys_close(in[1]);
    return NULL;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  char *argv[] = {(char *)tool, "--inlining", "--demangle", "--functions=linkage", NULL};
  /* The symbolizer runs without the preload library: under the page heap a symbolizer that
   * reads a large binary's debug information takes minutes instead of seconds. */
  extern char **environ;
  size_t nenv = 0;
  while (environ[nenv]) nenv++;
  char **env = malloc((nenv + 1) * sizeof *env);
  size_t k = 0;
  for (size_t i = 0; env && i < nenv; i++)
    if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0) env[k++] = environ[i];
  if (env) env[k] = NULL;
  pid_t pid;
  int err = posix_spawn(&pid, tool, &fa, NULL, argv, env ? env : environ);
  free(env);
  posix_spawn_file_actions_destroy(&fa);
  lg__sys_close(in[0]);
  lg__sys_close(out[1]);
  char *buf = NULL;
  if (err == 0) {
    lg__write_all(in[1], request, reqlen);
    lg__sys_close(in[1]);
    size_t cap = 8192, len = 0;
    buf = malloc(cap);
    for (;;) {
      if (len + 1 >= cap) buf = realloc(buf, cap *= 2);
      ssize_t r = lg__sys_read(out[0], buf + len, cap - len - 1);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      len += (size_t)r;
    }
    buf[len] = '\0';
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  } else {
    lg__sys_close(in[1]);
  }
  lg__sys_close(out[0]);
  return buf;
}

static void copy_field(char *dst, size_t cap, const char *src, size_t len) {
  if (len >= cap) len = cap - 1;
  memcpy(dst, src, len);
  dst[len] = '\0';
}

/* Parses "file:line:col" (file may itself contain ':'). */
static void parse_location(const char *s, size_t len, lg_frame *f) {
  const char *end = s + len;
  const char *c2 = NULL, *c1 = NULL;
  for (const char *p = end - 1; p >= s; p--)
    if (*p == ':') {
      if (!c2) c2 = p;
      else { c1 = p; break; }
    }
  if (c1 && c2) {
    copy_field(f->file, sizeof f->file, s, (size_t)(c1 - s));
    f->line = atoi(c1 + 1);
    f->column = atoi(c2 + 1);
  } else {
    copy_field(f->file, sizeof f->file, s, len);
  }
  if (strcmp(f->file, "??") == 0) f->file[0] = '\0';
}

size_t lg_symbolize(const uintptr_t *pcs, size_t n, lg_frame *out, size_t max) {
  lg__busy++;
  lg_frame *base = calloc(n ? n : 1, sizeof *base);
  size_t reqcap = n * 300 + 1, reqlen = 0;
  char *req = malloc(reqcap);
  for (size_t i = 0; i < n; i++) {
    lg_frame *f = &base[i];
    f->pc = pcs[i] - 1; /* return address -> the call instruction */
    struct find_module fm = {.pc = f->pc};
    dl_iterate_phdr(find_module_cb, &fm);
    if (!fm.found && lg__modcheck_find(f->pc, &fm.name, &fm.bias, f->function,
                                       sizeof f->function))
      fm.found = 1; /* an unloaded module: its file still says what was there */
    if (fm.found) {
      const char *name = fm.name && fm.name[0] ? fm.name : main_program_path();
      snprintf(f->module, sizeof f->module, "%s", name);
      f->offset = f->pc - fm.bias;
      reqlen += (size_t)snprintf(req + reqlen, reqcap - reqlen, "\"%s\" 0x%lx\n", f->module,
                                 (unsigned long)f->offset);
    }
    Dl_info info;
    if (!f->function[0] && dladdr((void *)f->pc, &info) && info.dli_sname)
      snprintf(f->function, sizeof f->function, "%s", info.dli_sname);
  }
  const char *tool = lg__opts()->symbolize ? find_symbolizer() : NULL;
  char *text = (tool && reqlen) ? run_symbolizer(tool, req, reqlen) : NULL;
  size_t nout = 0;
  const char *p = text;
  for (size_t i = 0; i < n && nout < max; i++) {
    lg_frame *f = &base[i];
    if (!text || !f->module[0]) {
      out[nout++] = *f;
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
        copy_field(g.function, sizeof g.function, fn, flen);
      g.file[0] = '\0';
      g.line = g.column = 0;
      parse_location(loc, llen, &g);
      out[nout++] = g;
    }
    while (*p && *p != '\n') { /* skip what did not fit */
      size_t l = strcspn(p, "\n");
      p += l + (p[l] == '\n');
    }
    if (*p == '\n') p++;
    if (nout == first && nout < max) out[nout++] = *f;
  }
  free(text);
  free(req);
  free(base);
  lg__busy--;
  return nout;
}

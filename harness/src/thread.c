/* SPDX-License-Identifier: MIT */
/* Threads as the detectors see them: the bounds of each thread's stack, taken when the thread
 * starts, never from inside an interceptor.
 *
 * The stack walker needs the running thread's stack bounds to stop at a frame that leaves
 * it. Asking glibc for them (pthread_getattr_np) from inside malloc or close is a deadlock
 * waiting to happen: pthread_getattr_np holds the thread's own descriptor lock while it
 * allocates (its cpu set, and for the main thread the FILE of /proc/self/maps), so a program
 * that calls it (Rust's runtime does, for every thread) re-enters our malloc with the lock
 * held, and a second pthread_getattr_np from there waits for itself. So the bounds come from
 * places where no libc lock can be held:
 *   - threads started with pthread_create: the interposer below wraps the start routine and
 *     asks pthread_getattr_np before the program's code runs;
 *   - the main thread: at start-up, from /proc/self/maps (its [stack] mapping grows down to
 *     the end of the mapping below it, at most RLIMIT_STACK);
 *   - any other thread (made by clone, or started before this library was loaded): lazily,
 *     from /proc/self/maps read with raw system calls into a buffer on the stack, which
 *     takes no lock and allocates nothing.
 * While the bounds are unknown, walks run unbounded (alignment and monotonicity still end
 * them), exactly as they did before the first capture. */
#define _GNU_SOURCE
#include "stack_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/resource.h>

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);

/* ---- /proc/self/maps without libc ------------------------------------------------------ */

static bool parse_hex(const char **p, const char *end, uintptr_t *out) {
  uintptr_t v = 0;
  const char *s = *p;
  for (; s < end; s++) {
    char c = *s;
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) break;
    v = (v << 4) | (uintptr_t)d;
  }
  if (s == *p) return false;
  *p = s;
  *out = v;
  return true;
}

/* Finds the mapping that holds `addr`: its end, and the end of the mapping below it (the
 * lowest address a stack in it can grow to). False when no mapping holds it. */
static bool maps_find(uintptr_t addr, uintptr_t *below_end, uintptr_t *end) {
  int fd = lg__sys_open("/proc/self/maps", O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return false;
  char buf[2048];
  size_t have = 0;
  uintptr_t prev_end = 0;
  bool found = false;
  for (;;) {
    ssize_t r = lg__sys_read(fd, buf + have, sizeof buf - have);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    have += (size_t)r;
    const char *line = buf, *stop = buf + have;
    for (;;) {
      const char *nl = memchr(line, '\n', (size_t)(stop - line));
      if (!nl) break;
      const char *p = line;
      uintptr_t lo, hi;
      if (parse_hex(&p, nl, &lo) && p < nl && *p++ == '-' && parse_hex(&p, nl, &hi)) {
        if (addr >= lo && addr < hi) {
          *below_end = prev_end;
          *end = hi;
          found = true;
          break;
        }
        prev_end = hi;
      }
      line = nl + 1;
    }
    if (found) break;
    have = (size_t)(stop - line); /* keep a partial line for the next read */
    memmove(buf, line, have);
    if (have == sizeof buf) have = 0; /* a line longer than the buffer: drop it */
  }
  lg__sys_close(fd);
  return found;
}

/* Bounds of the stack that holds the caller's frame, from /proc/self/maps. */
static bool bounds_from_maps(uintptr_t *lo, uintptr_t *hi) {
  uintptr_t sp = (uintptr_t)__builtin_frame_address(0), below, end;
  if (!maps_find(sp, &below, &end)) return false;
  struct rlimit rl;
  uintptr_t floor = below;
  if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < end &&
      end - rl.rlim_cur > floor)
    floor = end - rl.rlim_cur;
  *lo = floor;
  *hi = end;
  return true;
}

void lg__thread_find_bounds(void) {
  uintptr_t lo, hi;
  if (bounds_from_maps(&lo, &hi)) lg__stack_set_bounds(lo, hi);
}

/* ---- threads started with pthread_create ----------------------------------------------- */

/* Asks glibc at the start of a new thread: nothing of the program runs yet, so no lock of
 * libc's can be held by this thread. Allocations inside pthread_getattr_np (its cpu set)
 * find the bounds marked as being looked up and do not ask again. */
static void bounds_at_start(void) {
  pthread_attr_t attr;
  void *addr;
  size_t size;
  lg__stack_set_bounds(0, 1); /* being looked up: walks run unbounded meanwhile */
  lg__busy++;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    if (pthread_attr_getstack(&attr, &addr, &size) == 0)
      lg__stack_set_bounds((uintptr_t)addr, (uintptr_t)addr + size);
    pthread_attr_destroy(&attr);
  }
  lg__busy--;
}

typedef struct start {
  void *(*fn)(void *);
  void *arg;
} start;

static void *thread_start(void *p) {
  start s = *(start *)p;
  __libc_free(p);
  bounds_at_start();
  return s.fn(s.arg);
}

LG_REAL(int, pthread_create,
        (pthread_t *, const pthread_attr_t *, void *(*)(void *), void *))

/* The thread hook of a higher layer (control.c, under `explore`): when set, pthread_create
 * goes through it, and it starts the thread with lg__thread_create. */
static lg__thread_create_hook create_hook;

void lg__thread_set_create_hook(lg__thread_create_hook hook) {
  __atomic_store_n(&create_hook, hook, __ATOMIC_RELEASE);
}

/* The trampoline's record comes from glibc's allocator directly: it is ours, freed by the
 * new thread before the program's code runs, and must not be a guarded block (the child
 * would free it before anything else of its own is set up). */
int lg__thread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg) {
  int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *) =
      lg__get_pthread_create();
  start *s = __libc_malloc(sizeof *s);
  if (!s) return real(t, attr, fn, arg);
  s->fn = fn;
  s->arg = arg;
  int err = real(t, attr, thread_start, s);
  if (err) __libc_free(s);
  return err;
}

int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg) {
  lg__thread_create_hook hook = __atomic_load_n(&create_hook, __ATOMIC_ACQUIRE);
  if (__builtin_expect(hook != NULL, 0))
    return hook(t, attr, fn, arg, __builtin_return_address(0));
  return lg__thread_create(t, attr, fn, arg);
}

/* The main thread: at start-up, before the program's constructors and main. */
__attribute__((constructor(101))) static void main_thread_bounds(void) {
  lg__thread_find_bounds();
}

/* SPDX-License-Identifier: MIT */
/* Descriptor calls made where the caller, libc or the program already holds a lock: each path
 * must finish, clean (a self-deadlock in an interposer hangs it; the test bounds every run).
 *   fd_locked_sections clean PATH
 * PATH:
 *   dlopen         a module's constructor makes the process's first descriptor calls, under
 *                  the dynamic loader's lock
 *   dlopen-thread  the constructor starts a thread that makes them and waits for it: that
 *                  thread's calls must not need the loader's lock
 *   stdio          the first descriptor calls are fopen and fclose; then fopencookie streams
 *                  whose callbacks make descriptor calls under the stream's lock, written
 *                  out by fflush, by fclose, and (one left open) by exit
 *   getattr        pthread_getattr_np first (for the main thread it fopens /proc/self/maps),
 *                  then descriptor calls, in main and in a thread
 *   threads        eight threads whose first calls are descriptor calls, released together,
 *                  one of them on the smallest stack
 *   fork           atfork handlers registered before lifeguard's make descriptor calls; a
 *                  thread makes descriptor calls while main forks; each child makes some
 *   signal         a signal handler that makes descriptor calls interrupts a thread that is
 *                  making descriptor calls, 2000 times */
#define _GNU_SOURCE
#include "seeded.h"
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int fail(const char *what) {
  fprintf(stderr, "fd_locked_sections: %s failed\n", what);
  return 1;
}

/* Opens, checks, reads, duplicates and closes a few descriptors; 0 when all went well. */
static int descriptor_calls(void) {
  int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  struct stat st;
  char c;
  if (fd < 0 || fstat(fd, &st) || fcntl(fd, F_GETFD) < 0 || read(fd, &c, 1) != 0) return 1;
  int copy = dup(fd);
  if (copy < 0 || close(copy) || close(fd)) return 1;
  return 0;
}

/* ---- stdio ---------------------------------------------------------------------------- */

static ssize_t cookie_write(void *cookie, const char *buf, size_t n) {
  (void)cookie;
  (void)buf;
  return descriptor_calls() ? -1 : (ssize_t)n;
}

static int cookie_close(void *cookie) {
  (void)cookie;
  return descriptor_calls();
}

static FILE *cookie_stream(void) {
  cookie_io_functions_t io = {.write = cookie_write, .close = cookie_close};
  return fopencookie(NULL, "w", io);
}

static int stdio_path(void) {
  FILE *f = fopen("/proc/self/maps", "r");
  char line[128];
  if (!f || !fgets(line, sizeof line, f) || fclose(f)) return fail("fopen/fclose");
  FILE *a = cookie_stream(), *b = cookie_stream(), *left = cookie_stream();
  if (!a || !b || !left) return fail("fopencookie");
  if (fputs("flushed", a) < 0 || fflush(a) || fclose(a)) return fail("fflush");
  if (fputs("closed", b) < 0 || fclose(b)) return fail("fclose");
  if (fputs("written out by exit", left) < 0) return fail("fputs");
  return 0; /* `left` is flushed and closed by exit, under the stream list's lock */
}

/* ---- threads -------------------------------------------------------------------------- */

static pthread_barrier_t start_line;

static void *first_calls(void *arg) {
  if (arg) { /* getattr: the thread's own attributes first */
    pthread_attr_t a;
    if (pthread_getattr_np(pthread_self(), &a)) return (void *)1;
    pthread_attr_destroy(&a);
  } else {
    pthread_barrier_wait(&start_line);
  }
  return (void *)(intptr_t)descriptor_calls();
}

static int run_thread(size_t stack, void *arg, pthread_t *t) {
  pthread_attr_t a;
  pthread_attr_init(&a);
  if (stack) pthread_attr_setstacksize(&a, stack);
  int err = pthread_create(t, &a, first_calls, arg);
  pthread_attr_destroy(&a);
  return err;
}

static int join_ok(pthread_t t) {
  void *r;
  return pthread_join(t, &r) == 0 && r == NULL;
}

static int threads_path(void) {
  pthread_t t[8];
  pthread_barrier_init(&start_line, NULL, 8);
  for (int i = 0; i < 8; i++)
    if (run_thread(i == 0 ? PTHREAD_STACK_MIN : 0, NULL, &t[i])) return fail("pthread_create");
  for (int i = 0; i < 8; i++)
    if (!join_ok(t[i])) return fail("a thread's descriptor calls");
  return 0;
}

static int getattr_path(void) {
  pthread_attr_t a;
  if (pthread_getattr_np(pthread_self(), &a)) return fail("pthread_getattr_np");
  pthread_attr_destroy(&a);
  if (descriptor_calls()) return fail("main's descriptor calls");
  pthread_t t;
  if (run_thread(0, (void *)1, &t) || !join_ok(t)) return fail("the thread's descriptor calls");
  return 0;
}

/* ---- fork ----------------------------------------------------------------------------- */

static atomic_int stop_churn;
static atomic_int handler_failures;

static void in_atfork_handler(void) {
  if (descriptor_calls()) atomic_fetch_add(&handler_failures, 1);
}

static void *churn(void *arg) {
  while (!atomic_load(&stop_churn))
    if (descriptor_calls()) return (void *)1;
  return arg;
}

static int fork_path(void) {
  /* Registered before lifeguard's own handlers exist (no descriptor call yet): the prepare
   * handler runs after lifeguard's, the parent and child handlers before. */
  if (pthread_atfork(in_atfork_handler, in_atfork_handler, in_atfork_handler))
    return fail("pthread_atfork");
  if (descriptor_calls()) return fail("descriptor calls");
  pthread_t t;
  if (pthread_create(&t, NULL, churn, NULL)) return fail("pthread_create");
  int rc = 0;
  for (int i = 0; i < 20 && rc == 0; i++) {
    pid_t pid = fork();
    if (pid < 0) rc = fail("fork");
    if (pid == 0) _exit(descriptor_calls() || atomic_load(&handler_failures) ? 3 : 0);
    int st;
    if (pid > 0 && (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)))
      rc = fail("the child");
  }
  atomic_store(&stop_churn, 1);
  if (!join_ok(t) || atomic_load(&handler_failures)) rc = fail("descriptor calls");
  return rc;
}

/* ---- signal --------------------------------------------------------------------------- */

static atomic_int handled;

static void on_signal(int sig) {
  (void)sig;
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) close(fd);
  atomic_fetch_add(&handled, 1);
}

static void *signaller(void *arg) {
  pthread_t target = *(pthread_t *)arg;
  for (int i = 1; i <= 2000; i++) {
    pthread_kill(target, SIGUSR1);
    while (atomic_load(&handled) < i) sched_yield(); /* until the handler has run */
  }
  atomic_store(&stop_churn, 1);
  return NULL;
}

static int signal_path(void) {
  struct sigaction sa = {.sa_handler = on_signal};
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGUSR1, &sa, NULL)) return fail("sigaction");
  pthread_t self = pthread_self(), t;
  if (pthread_create(&t, NULL, signaller, &self)) return fail("pthread_create");
  while (!atomic_load(&stop_churn))
    if (descriptor_calls()) return fail("descriptor calls");
  pthread_join(t, NULL);
  return 0;
}

/* ---- dlopen --------------------------------------------------------------------------- */

static int dlopen_path(int in_thread) {
  if (in_thread) setenv("FD_CTOR_MODE", "thread", 1);
  void *h = dlopen(FD_CTOR_MODULE, RTLD_NOW | RTLD_LOCAL);
  if (!h) return fail(dlerror());
  int (*module_ok)(void) = (int (*)(void))dlsym(h, "fd_ctor_module_ok");
  if (!module_ok || !module_ok()) return fail("the constructor's descriptor calls");
  return dlclose(h) ? fail("dlclose") : 0;
}

int main(int argc, char **argv) {
  seeded_mode(argc, argv);
  const char *path = argc > 2 ? argv[2] : "";
  int rc;
  if (!strcmp(path, "dlopen")) rc = dlopen_path(0);
  else if (!strcmp(path, "dlopen-thread")) rc = dlopen_path(1);
  else if (!strcmp(path, "stdio")) rc = stdio_path();
  else if (!strcmp(path, "getattr")) rc = getattr_path();
  else if (!strcmp(path, "threads")) rc = threads_path();
  else if (!strcmp(path, "fork")) rc = fork_path();
  else if (!strcmp(path, "signal")) rc = signal_path();
  else {
    fprintf(stderr, "fd_locked_sections: unknown path '%s'\n", path);
    return 2;
  }
  if (rc == 0) printf("%s: done\n", path);
  return rc;
}

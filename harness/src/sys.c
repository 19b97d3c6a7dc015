/* SPDX-License-Identifier: MIT */
/* Raw system calls and symbol lookup for the harness's own use. */
#define _GNU_SOURCE
#include "internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

__thread int lg__busy __attribute__((tls_model("initial-exec")));

lg__fd_wait_fn lg__fd_wait_hook;
void (*lg__fd_done_hook)(void);
int (*lg__fd_inject_hook)(const void *caller);

int lg__sys_close(int fd) { return (int)syscall(SYS_close, fd); }
ssize_t lg__sys_write(int fd, const void *buf, size_t n) { return syscall(SYS_write, fd, buf, n); }
ssize_t lg__sys_read(int fd, void *buf, size_t n) { return syscall(SYS_read, fd, buf, n); }
int lg__sys_open(const char *path, int flags, int mode) {
  return (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}

/* The kernel's own signal mask calls. glibc's pthread_sigmask and sigprocmask drop its
 * internal signals (SIGCANCEL, which is also the SIGEV_THREAD timers' SIGTIMER, and
 * SIGSETXID) from the set, so a save and restore through them unblocks those signals in a
 * thread that had them blocked: glibc's timer helper thread, which waits for SIGTIMER with it
 * blocked, is then killed by the next expiry. These change exactly what they are asked. */
void lg__sig_block_all(sigset_t *saved) {
  sigset_t all;
  sigfillset(&all);
  syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, saved, _NSIG / 8);
}
void lg__sig_setmask(const sigset_t *set, sigset_t *old) {
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, set, old, _NSIG / 8);
}
/* Cached per thread: reports and fdcheck ask at every open and close. A forked child (one
 * thread, a new id) forgets the parent's value. */
static __thread pid_t cached_tid;

static void forget_tid(void) { cached_tid = 0; }

static void register_forget_tid(void) { pthread_atfork(NULL, NULL, forget_tid); }

pid_t lg__gettid(void) {
  if (__builtin_expect(cached_tid == 0, 0)) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_forget_tid);
    cached_tid = (pid_t)syscall(SYS_gettid);
  }
  return cached_tid;
}

void lg__write_all(int fd, const char *buf, size_t n) {
  while (n > 0) {
    ssize_t w = lg__sys_write(fd, buf, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    buf += w;
    n -= (size_t)w;
  }
}

bool lg__signal_chain(const struct sigaction *prev, int sig, siginfo_t *si, void *uc) {
  if ((prev->sa_flags & SA_SIGINFO) && prev->sa_sigaction) {
    prev->sa_sigaction(sig, si, uc);
    return true;
  }
  if (prev->sa_handler != SIG_DFL && prev->sa_handler != SIG_IGN) {
    prev->sa_handler(sig);
    return true;
  }
  return false;
}

void *lg__real(const char *name, void *interceptor) {
  void *p = interceptor;
  if (!p) p = dlsym(RTLD_NEXT, name);
  if (!p) {
    static const char msg[] = "lifeguard: error: cannot find the real ";
    lg__write_all(2, msg, sizeof msg - 1);
    lg__write_all(2, name, strlen(name));
    lg__write_all(2, "\n", 1);
    abort();
  }
  return p;
}

static size_t page_size;

size_t lg__page_size(void) {
  size_t ps = __atomic_load_n(&page_size, __ATOMIC_RELAXED);
  if (__builtin_expect(ps == 0, 0)) {
    long v = sysconf(_SC_PAGESIZE);
    ps = v > 0 ? (size_t)v : 4096; /* sysconf cannot fail for it on Linux */
    __atomic_store_n(&page_size, ps, __ATOMIC_RELAXED);
  }
  return ps;
}

__attribute__((constructor(101))) static void read_page_size(void) { (void)lg__page_size(); }

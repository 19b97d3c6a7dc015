/* SPDX-License-Identifier: MIT */
/* The common layer's internals (sys.c, options.c): raw system calls, real-function lookup,
 * the reentrancy guard, start-up state and the options. Every layer may include this; it
 * includes nothing of a higher layer. Not part of the public API. */
#ifndef LIFEGUARD_INTERNAL_H
#define LIFEGUARD_INTERNAL_H

#if defined(LG_LAYER) && !defined(LG_LAYER_SEES_COMMON)
#error "a common-layer header, in a layer not above it (harness/CMakeLists.txt)"
#endif

#include <dlfcn.h>
#include <stdbool.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#define LG_VERSION "0.1.0"
#define LG_HIDDEN __attribute__((visibility("hidden")))

#include "options.h"

/* False while the C library is still starting (constructors not run yet): interceptors
 * called then (AddressSanitizer's start-up creates a pthread key) must only pass through;
 * a stack capture there can dlopen the unwinder before libc has its environment. */
LG_HIDDEN bool lg__started(void);

/* Per-thread reentrancy guard: while set, interceptors pass straight through (the harness's
 * own work, e.g. symbolizing or reading /proc, must not be checked). */
extern __thread int lg__busy __attribute__((tls_model("initial-exec")));

/* Raw system calls for the harness's own descriptors: never intercepted, never tracked. */
LG_HIDDEN int lg__sys_close(int fd);
LG_HIDDEN ssize_t lg__sys_write(int fd, const void *buf, size_t n);
LG_HIDDEN ssize_t lg__sys_read(int fd, void *buf, size_t n);
LG_HIDDEN int lg__sys_open(const char *path, int flags, int mode);
LG_HIDDEN void lg__write_all(int fd, const char *buf, size_t n);
/* Signal masks through the kernel's call (sys.c): blocks every signal the C library lets a
 * program block, adding to the mask (never unblocking anything), the old mask in `saved`; and
 * sets the mask to exactly `set`, glibc's internal signals included, as a restore must. */
LG_HIDDEN void lg__sig_block_all(sigset_t *saved);
LG_HIDDEN void lg__sig_setmask(const sigset_t *set, sigset_t *old);
/* format.c: snprintf for the fault path (async-signal-safe: no lock, no allocation, no
 * locale); the conversions lifeguard's reports use (d i u x X p s c, with widths, precisions
 * and the lengths h l ll z t). Returns the length the whole text would have, as snprintf. */
#include <stdarg.h>
LG_HIDDEN size_t lg__format(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
LG_HIDDEN size_t lg__vformat(char *buf, size_t cap, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
LG_HIDDEN pid_t lg__gettid(void);

/* The page size, from sysconf(_SC_PAGESIZE) (read once; async-signal-safe after the first
 * call, which start-up makes). Nothing in lifeguard assumes 4096. */
LG_HIDDEN size_t lg__page_size(void);

/* A descriptor call that may wait for another thread (read, write, recv, send, accept, connect
 * and their kin), under `explore`: fdcheck.c's interceptors call lg__fd_wait_hook before the
 * real call when it is set (control.c sets it at start-up; NULL otherwise: one load and one
 * branch). `events` is POLLIN or POLLOUT (0: connect, which cannot be polled first), `len` the
 * bytes to write, `msg_flags` the call's MSG_ flags. It returns when the call will not wait
 * for a controlled thread: 0, or 1 when the thread left control for the call (the call may
 * still block), and then the interceptor calls lg__fd_done_hook after it; or, when `chunk` says
 * the caller can split its write, 2: write at most PIPE_BUF bytes, then ask again for the rest
 * (a write that the descriptor has room for only in part would wait for a reader). */
typedef int (*lg__fd_wait_fn)(int fd, short events, size_t len, int msg_flags, bool chunk,
                              const void *caller, void *frame);
LG_HIDDEN extern lg__fd_wait_fn lg__fd_wait_hook;
LG_HIDDEN extern void (*lg__fd_done_hook)(void);

/* Failure injection at the descriptor calls that make a pair (pipe, pipe2, socketpair), in an
 * execution of lg_check with injection on: fdcheck.c's interceptors call it first when it is
 * set (control.c sets it; NULL otherwise), with their caller; it returns 0 to make the real
 * call or the errno to fail it with. */
LG_HIDDEN extern int (*lg__fd_inject_hook)(const void *caller);

/* Hands signal `sig` to `prev`, the handler that was installed before one of ours. Returns
 * false when `prev` is the default action or SIG_IGN: the caller then takes the default its
 * own way. */
LG_HIDDEN bool lg__signal_chain(const struct sigaction *prev, int sig, siginfo_t *si, void *uc);

/* The function lifeguard's interceptor of `name` calls: `interceptor` (ASan's, when the
 * program has one: a weak reference, so ASan keeps checking the buffers), else the next
 * definition after lifeguard's. Never returns NULL (aborts with a message instead).
 *
 * No lookup here may fail: a failed dlsym allocates its error message, and with ASan's slow
 * unwinder on malloc (fast_unwind_on_malloc=0, as AFL++ sets) that allocation unwinds through
 * libgcc, which calls pthread_once and pthread_mutex_lock, whose interceptors would come back
 * here before their own lookup is done: a recursion until the stack runs out. */
LG_HIDDEN void *lg__real(const char *name, void *interceptor);

/* The real `name`, looked up when the library starts (constructor 103): a first lookup made
 * later, by a thread that a module's constructor started and waits for, would wait for the
 * loader's lock that the constructor's dlopen holds. A lookup still missing at a call (an
 * interceptor called before the constructors ran) is made then. */
#define LG_REAL(ret, name, params)                                              \
  extern ret __interceptor_##name params __attribute__((weak));                 \
  static ret(*real_##name) params;                                              \
  static inline ret(*lg__get_##name(void)) params {                            \
    if (__builtin_expect(real_##name == NULL, 0))                               \
      real_##name = (ret(*) params)lg__real(#name, (void *)__interceptor_##name); \
    return real_##name;                                                         \
  }                                                                             \
  __attribute__((constructor(103))) static void lg__resolve_##name(void) {     \
    if (dlsym(RTLD_NEXT, #name)) (void)lg__get_##name();                        \
  }

#endif

/* The reference runtime's one way to the operating system: every call it makes that can fail
 * goes through here, and here each is a failure-injection point of lg_sched.
 *
 * Under a controlled execution with failure injection on (LIFEGUARD_OPTIONS=inject_max=N),
 * each call first asks lg_inject_at(k, site), a decision of the schedule ("f" in the
 * schedule string) with option 0 = make the real call and options 1..k = the ways the call
 * fails in real life, which it then does without touching the kernel (errno set, the usual
 * return), or, for a short read or write, by making the real call for one byte. The site is
 * the caller's line, so two calls of the same function are two decision sites, and the real
 * call is made from the caller's frame. Free-running,
 * or with injection off (the default), each is exactly the call it wraps.
 *
 * Which failures each call can show (only those it can return for a reason outside the
 * program: never EBADF, EFAULT or EINVAL):
 *   malloc, calloc, realloc      NULL, ENOMEM
 *   socket, eventfd,             EMFILE, ENFILE (descriptor limits)
 *   epoll_create1
 *   accept4                      EMFILE, ENFILE, EINTR, ECONNABORTED
 *   bind, listen                 EADDRINUSE
 *   connect (non-blocking unix)  ECONNREFUSED, EAGAIN (backlog full), EINTR
 *   epoll_ctl ADD                ENOMEM, ENOSPC (max_user_watches)
 *   epoll_wait                   EINTR
 *   recv                         EINTR, EAGAIN, ECONNRESET, a short read
 *   send                         EINTR, EAGAIN, EPIPE, ECONNRESET, a short write
 *   sendto (datagrams)           EINTR, EAGAIN, ENOBUFS
 *   read, write (an eventfd)     EINTR, EAGAIN
 *   shutdown                     ENOTCONN (the peer is gone)
 *   dlopen                       NULL (lgrt_dlerror() says it was injected)
 *   lg_spawn (thread creation)   NULL, EAGAIN
 *   pthread_key_create           EAGAIN (PTHREAD_KEYS_MAX), ENOMEM
 * Not injected: close (Linux releases the descriptor whatever it returns, so a failure
 * leaves nothing for the caller to act on), free, and the scheduler's own locks.
 *
 * A source file of runtime/ includes this header instead of calling libc for these: the
 * driver test tests/driver/test_inject.py fails when a runtime source calls one of them
 * directly, so every call site gets injection, not a list of examples. The wrappers are
 * macros over inline functions, so that libdrv.so, which has its own copy of the completion
 * port, needs nothing of the runtime's library: only lg_inject_at from the program that
 * loads it. Calls that are deliberately not injection points (the managed heap's allocations,
 * which abort on failure as V8's and Rust's do) say so on their line: "lgrt-sys: why". */
#ifndef LGRT_SYS_H
#define LGRT_SYS_H

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <lifeguard/sched.h>

#ifndef _GNU_SOURCE
/* <sys/socket.h> declares it only under _GNU_SOURCE; an includer need not define it. */
int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The failure to inject at `site`, among the n (<= 5) errors given (0: make the real call). */
static inline int lgrt_sys_pick(lg_site site, uint32_t n, int e1, int e2, int e3, int e4,
                                int e5) {
  uint32_t i = lg_inject_at(n, site);
  const int errs[5] = {e1, e2, e3, e4, e5};
  return i ? errs[i - 1] : 0;
}

/* Fails with `e`: errno set, -1 returned. */
static inline int lgrt_sys_errno(int e) {
  errno = e;
  return -1;
}

/* Each wrapper is a macro, so that the real call is made from the caller's own frame: the
 * stacks of reports (the open of a descriptor, an allocation) start at the runtime's
 * function, as they did before the wrapper, and the site is the caller's line. */

/* `call` unless a failure among the n errors is injected: then errno = it, -1. */
#define LGRT_SYS_INT(n, e1, e2, e3, e4, e5, call)                                         \
  (__extension__({                                                                       \
    int lgrt_e_ = lgrt_sys_pick(LG_SITE(), (n), (e1), (e2), (e3), (e4), (e5));           \
    lgrt_e_ ? lgrt_sys_errno(lgrt_e_) : (call);                                          \
  }))

/* `call` unless a failure is injected: then errno = `err` and NULL. */
#define LGRT_SYS_PTR(err, call)                                                           \
  (__extension__({                                                                       \
    int lgrt_e_ = lgrt_sys_pick(LG_SITE(), 1, (err), 0, 0, 0, 0);                         \
    lgrt_e_ ? (errno = lgrt_e_, (__typeof__(call))NULL) : (call);                         \
  }))

/* The option after the errors of a transfer: a short one, of one byte. */
#define LGRT_SYS_SHORT (-1)

/* A transfer `fn(fd, buf, len, flags)` that can fail with e1..e4 or (when len > 1) be
 * short. */
#define LGRT_SYS_XFER(fn, fd, buf, len, flags, e1, e2, e3, e4)                             \
  (__extension__({                                                                       \
    size_t lgrt_len_ = (len);                                                            \
    uint32_t lgrt_n_ = ((e4) ? 4 : 3) + (lgrt_len_ > 1);                                 \
    int lgrt_e_ = lgrt_sys_pick(LG_SITE(), lgrt_n_, (e1), (e2), (e3),                    \
                                (e4) ? (e4) : LGRT_SYS_SHORT, LGRT_SYS_SHORT);           \
    lgrt_e_ == LGRT_SYS_SHORT ? fn((fd), (buf), 1, (flags))                              \
    : lgrt_e_               ? (ssize_t)lgrt_sys_errno(lgrt_e_)                           \
                            : fn((fd), (buf), lgrt_len_, (flags));                       \
  }))

#define lgrt_malloc(size) LGRT_SYS_PTR(ENOMEM, malloc(size))
#define lgrt_calloc(n, size) LGRT_SYS_PTR(ENOMEM, calloc((n), (size)))
/* On failure the block is left as it was, as realloc does. */
#define lgrt_realloc(p, size) LGRT_SYS_PTR(ENOMEM, realloc((p), (size)))
#define lgrt_socket(d, t, p) LGRT_SYS_INT(2, EMFILE, ENFILE, 0, 0, 0, socket((d), (t), (p)))
#define lgrt_eventfd(v, f) LGRT_SYS_INT(2, EMFILE, ENFILE, 0, 0, 0, eventfd((v), (f)))
#define lgrt_epoll_create1(f) LGRT_SYS_INT(2, EMFILE, ENFILE, 0, 0, 0, epoll_create1(f))
#define lgrt_accept4(fd, a, l, f) \
  LGRT_SYS_INT(4, EMFILE, ENFILE, EINTR, ECONNABORTED, 0, accept4((fd), (a), (l), (f)))
#define lgrt_bind(fd, a, l) LGRT_SYS_INT(1, EADDRINUSE, 0, 0, 0, 0, bind((fd), (a), (l)))
#define lgrt_listen(fd, b) LGRT_SYS_INT(1, EADDRINUSE, 0, 0, 0, 0, listen((fd), (b)))
#define lgrt_connect(fd, a, l) \
  LGRT_SYS_INT(3, ECONNREFUSED, EAGAIN, EINTR, 0, 0, connect((fd), (a), (l)))
/* Only an ADD can run out of memory or of watches. */
#define lgrt_epoll_ctl(ep, op, fd, ev)                                                    \
  ((op) == EPOLL_CTL_ADD                                                                 \
       ? LGRT_SYS_INT(2, ENOMEM, ENOSPC, 0, 0, 0, epoll_ctl((ep), (op), (fd), (ev)))      \
       : epoll_ctl((ep), (op), (fd), (ev)))
#define lgrt_epoll_wait(ep, e, m, t) \
  LGRT_SYS_INT(1, EINTR, 0, 0, 0, 0, epoll_wait((ep), (e), (m), (t)))
#define lgrt_recv(fd, b, l, f) LGRT_SYS_XFER(recv, fd, b, l, f, EINTR, EAGAIN, ECONNRESET, 0)
#define lgrt_send(fd, b, l, f) LGRT_SYS_XFER(send, fd, b, l, f, EINTR, EAGAIN, EPIPE, ECONNRESET)
/* A datagram goes whole or not at all: no short write. */
#define lgrt_sendto(fd, b, l, f, to, tl) \
  LGRT_SYS_INT(3, EINTR, EAGAIN, ENOBUFS, 0, 0, sendto((fd), (b), (l), (f), (to), (tl)))
#define lgrt_read(fd, b, l) LGRT_SYS_INT(2, EINTR, EAGAIN, 0, 0, 0, read((fd), (b), (l)))
#define lgrt_write(fd, b, l) LGRT_SYS_INT(2, EINTR, EAGAIN, 0, 0, 0, write((fd), (b), (l)))
#define lgrt_shutdown(fd, how) LGRT_SYS_INT(1, ENOTCONN, 0, 0, 0, 0, shutdown((fd), (how)))
/* dlopen: NULL; lgrt_dlerror() then says the failure was injected. */
#define lgrt_dlopen(path, flags) LGRT_SYS_PTR(ENOMEM, dlopen((path), (flags)))
/* Thread creation: NULL with errno EAGAIN (pthread_create's EAGAIN). */
#define lgrt_spawn(fn, arg, name)                                                         \
  (__extension__({                                                                       \
    lg_site lgrt_site_ = LG_SITE();                                                      \
    lgrt_sys_pick(lgrt_site_, 1, EAGAIN, 0, 0, 0, 0)                                      \
        ? (errno = EAGAIN, (lg_actor *)NULL)                                             \
        : lg_spawn_at((fn), (arg), (name), lgrt_site_);                                  \
  }))
/* Returns the error, as pthread_key_create does. */
#define lgrt_pthread_key_create(k, d)                                                     \
  (__extension__({                                                                       \
    int lgrt_e_ = lgrt_sys_pick(LG_SITE(), 2, EAGAIN, ENOMEM, 0, 0, 0);                   \
    lgrt_e_ ? lgrt_e_ : pthread_key_create((k), (d));                                    \
  }))

/* What dlerror() says; after an injected dlopen failure, that it was injected. */
static inline const char *lgrt_dlerror(void) {
  const char *e = dlerror();
  return e ? e : "dlopen failed (injected)";
}

#ifdef __cplusplus
}
#endif
#endif

/* The reference runtime's one way to the operating system: every call it makes that can fail
 * goes through here, and here each is a failure-injection point of lg_sched.
 *
 * Under a controlled execution with failure injection on (LIFEGUARD_OPTIONS=inject_max=N),
 * each call first asks lg_inject_at(k, site), a decision of the schedule ("f" in the
 * schedule string) with option 0 = make the real call and options 1..k = the ways the call
 * fails in real life, which it then does without touching the kernel (errno set, the usual
 * return), or, for a short read or write, by making the real call for one byte. The site is
 * the caller's line, so two calls of the same function are two decision sites. Free-running,
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
 * directly, so every call site gets injection, not a list of examples. The functions are
 * inline so that libdrv.so, which has its own copy of the completion port, needs nothing of
 * the runtime's library: only lg_inject_at from the program that loads it. */
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

/* The failure to inject at `site`, chosen among `errs` (0: make the real call). */
static inline int lgrt_sys_fail(lg_site site, const int *errs, uint32_t n) {
  uint32_t i = lg_inject_at(n, site);
  return i ? errs[i - 1] : 0;
}

/* Fails with `e`: errno set, -1 returned. */
static inline int lgrt_sys_errno(int e) {
  errno = e;
  return -1;
}

/* The short-transfer option's value: it is the last option, after the errors. */
#define LGRT_SYS_SHORT (-1)

static inline void *lgrt_malloc_at(size_t size, lg_site site) {
  static const int errs[] = {ENOMEM};
  if (lgrt_sys_fail(site, errs, 1)) return errno = ENOMEM, (void *)NULL;
  return malloc(size);
}

static inline void *lgrt_calloc_at(size_t n, size_t size, lg_site site) {
  static const int errs[] = {ENOMEM};
  if (lgrt_sys_fail(site, errs, 1)) return errno = ENOMEM, (void *)NULL;
  return calloc(n, size);
}

/* On failure `p` is left as it was, as realloc does. */
static inline void *lgrt_realloc_at(void *p, size_t size, lg_site site) {
  static const int errs[] = {ENOMEM};
  if (lgrt_sys_fail(site, errs, 1)) return errno = ENOMEM, (void *)NULL;
  return realloc(p, size);
}

static inline int lgrt_socket_at(int domain, int type, int protocol, lg_site site) {
  static const int errs[] = {EMFILE, ENFILE};
  int e = lgrt_sys_fail(site, errs, 2);
  return e ? lgrt_sys_errno(e) : socket(domain, type, protocol);
}

static inline int lgrt_eventfd_at(unsigned initval, int flags, lg_site site) {
  static const int errs[] = {EMFILE, ENFILE};
  int e = lgrt_sys_fail(site, errs, 2);
  return e ? lgrt_sys_errno(e) : eventfd(initval, flags);
}

static inline int lgrt_epoll_create1_at(int flags, lg_site site) {
  static const int errs[] = {EMFILE, ENFILE};
  int e = lgrt_sys_fail(site, errs, 2);
  return e ? lgrt_sys_errno(e) : epoll_create1(flags);
}

static inline int lgrt_accept4_at(int fd, struct sockaddr *addr, socklen_t *len, int flags,
                                  lg_site site) {
  static const int errs[] = {EMFILE, ENFILE, EINTR, ECONNABORTED};
  int e = lgrt_sys_fail(site, errs, 4);
  return e ? lgrt_sys_errno(e) : accept4(fd, addr, len, flags);
}

static inline int lgrt_bind_at(int fd, const struct sockaddr *addr, socklen_t len,
                               lg_site site) {
  static const int errs[] = {EADDRINUSE};
  int e = lgrt_sys_fail(site, errs, 1);
  return e ? lgrt_sys_errno(e) : bind(fd, addr, len);
}

static inline int lgrt_listen_at(int fd, int backlog, lg_site site) {
  static const int errs[] = {EADDRINUSE};
  int e = lgrt_sys_fail(site, errs, 1);
  return e ? lgrt_sys_errno(e) : listen(fd, backlog);
}

static inline int lgrt_connect_at(int fd, const struct sockaddr *addr, socklen_t len,
                                  lg_site site) {
  static const int errs[] = {ECONNREFUSED, EAGAIN, EINTR};
  int e = lgrt_sys_fail(site, errs, 3);
  return e ? lgrt_sys_errno(e) : connect(fd, addr, len);
}

/* Only an ADD can run out of memory or of watches. */
static inline int lgrt_epoll_ctl_at(int epfd, int op, int fd, struct epoll_event *ev,
                                    lg_site site) {
  static const int errs[] = {ENOMEM, ENOSPC};
  int e = op == EPOLL_CTL_ADD ? lgrt_sys_fail(site, errs, 2) : 0;
  return e ? lgrt_sys_errno(e) : epoll_ctl(epfd, op, fd, ev);
}

static inline int lgrt_epoll_wait_at(int epfd, struct epoll_event *evs, int max, int timeout,
                                     lg_site site) {
  static const int errs[] = {EINTR};
  int e = lgrt_sys_fail(site, errs, 1);
  return e ? lgrt_sys_errno(e) : epoll_wait(epfd, evs, max, timeout);
}

/* A short read takes one byte (when more than one was asked for). */
static inline ssize_t lgrt_recv_at(int fd, void *buf, size_t len, int flags, lg_site site) {
  static const int errs[] = {EINTR, EAGAIN, ECONNRESET, LGRT_SYS_SHORT};
  int e = lgrt_sys_fail(site, errs, len > 1 ? 4 : 3);
  if (e == LGRT_SYS_SHORT) return recv(fd, buf, 1, flags);
  return e ? lgrt_sys_errno(e) : recv(fd, buf, len, flags);
}

/* A short write sends one byte (when more than one was asked for). */
static inline ssize_t lgrt_send_at(int fd, const void *buf, size_t len, int flags,
                                   lg_site site) {
  static const int errs[] = {EINTR, EAGAIN, EPIPE, ECONNRESET, LGRT_SYS_SHORT};
  int e = lgrt_sys_fail(site, errs, len > 1 ? 5 : 4);
  if (e == LGRT_SYS_SHORT) return send(fd, buf, 1, flags);
  return e ? lgrt_sys_errno(e) : send(fd, buf, len, flags);
}

/* A datagram goes whole or not at all: no short write. */
static inline ssize_t lgrt_sendto_at(int fd, const void *buf, size_t len, int flags,
                                     const struct sockaddr *to, socklen_t tolen, lg_site site) {
  static const int errs[] = {EINTR, EAGAIN, ENOBUFS};
  int e = lgrt_sys_fail(site, errs, 3);
  return e ? lgrt_sys_errno(e) : sendto(fd, buf, len, flags, to, tolen);
}

static inline ssize_t lgrt_read_at(int fd, void *buf, size_t len, lg_site site) {
  static const int errs[] = {EINTR, EAGAIN};
  int e = lgrt_sys_fail(site, errs, 2);
  return e ? lgrt_sys_errno(e) : read(fd, buf, len);
}

static inline ssize_t lgrt_write_at(int fd, const void *buf, size_t len, lg_site site) {
  static const int errs[] = {EINTR, EAGAIN};
  int e = lgrt_sys_fail(site, errs, 2);
  return e ? lgrt_sys_errno(e) : write(fd, buf, len);
}

static inline int lgrt_shutdown_at(int fd, int how, lg_site site) {
  static const int errs[] = {ENOTCONN};
  int e = lgrt_sys_fail(site, errs, 1);
  return e ? lgrt_sys_errno(e) : shutdown(fd, how);
}

/* What dlerror() would say; after an injected dlopen failure, that it was injected. */
static inline const char *lgrt_dlerror(void) {
  const char *e = dlerror();
  return e ? e : "dlopen failed (injected)";
}

static inline void *lgrt_dlopen_at(const char *path, int flags, lg_site site) {
  static const int errs[] = {ENOMEM};
  if (lgrt_sys_fail(site, errs, 1)) {
    (void)dlerror(); /* so that lgrt_dlerror() names the injection, not an older error */
    return NULL;
  }
  return dlopen(path, flags);
}

/* Thread creation: NULL with errno EAGAIN when it fails (pthread_create's EAGAIN). */
static inline lg_actor *lgrt_spawn_at(lg_actor_fn fn, void *arg, const char *name,
                                      lg_site site) {
  static const int errs[] = {EAGAIN};
  if (lgrt_sys_fail(site, errs, 1)) return errno = EAGAIN, (lg_actor *)NULL;
  return lg_spawn_at(fn, arg, name, site);
}

/* Returns the error, as pthread_key_create does. */
static inline int lgrt_pthread_key_create_at(pthread_key_t *key, void (*dtor)(void *),
                                             lg_site site) {
  static const int errs[] = {EAGAIN, ENOMEM};
  int e = lgrt_sys_fail(site, errs, 2);
  return e ? e : pthread_key_create(key, dtor);
}

#define lgrt_malloc(size) lgrt_malloc_at((size), LG_SITE())
#define lgrt_calloc(n, size) lgrt_calloc_at((n), (size), LG_SITE())
#define lgrt_realloc(p, size) lgrt_realloc_at((p), (size), LG_SITE())
#define lgrt_socket(d, t, p) lgrt_socket_at((d), (t), (p), LG_SITE())
#define lgrt_eventfd(v, f) lgrt_eventfd_at((v), (f), LG_SITE())
#define lgrt_epoll_create1(f) lgrt_epoll_create1_at((f), LG_SITE())
#define lgrt_accept4(fd, a, l, f) lgrt_accept4_at((fd), (a), (l), (f), LG_SITE())
#define lgrt_bind(fd, a, l) lgrt_bind_at((fd), (a), (l), LG_SITE())
#define lgrt_listen(fd, b) lgrt_listen_at((fd), (b), LG_SITE())
#define lgrt_connect(fd, a, l) lgrt_connect_at((fd), (a), (l), LG_SITE())
#define lgrt_epoll_ctl(ep, op, fd, ev) lgrt_epoll_ctl_at((ep), (op), (fd), (ev), LG_SITE())
#define lgrt_epoll_wait(ep, e, m, t) lgrt_epoll_wait_at((ep), (e), (m), (t), LG_SITE())
#define lgrt_recv(fd, b, l, f) lgrt_recv_at((fd), (b), (l), (f), LG_SITE())
#define lgrt_send(fd, b, l, f) lgrt_send_at((fd), (b), (l), (f), LG_SITE())
#define lgrt_sendto(fd, b, l, f, to, tl) lgrt_sendto_at((fd), (b), (l), (f), (to), (tl), LG_SITE())
#define lgrt_read(fd, b, l) lgrt_read_at((fd), (b), (l), LG_SITE())
#define lgrt_write(fd, b, l) lgrt_write_at((fd), (b), (l), LG_SITE())
#define lgrt_shutdown(fd, how) lgrt_shutdown_at((fd), (how), LG_SITE())
#define lgrt_dlopen(path, flags) lgrt_dlopen_at((path), (flags), LG_SITE())
#define lgrt_spawn(fn, arg, name) lgrt_spawn_at((fn), (arg), (name), LG_SITE())
#define lgrt_pthread_key_create(k, d) lgrt_pthread_key_create_at((k), (d), LG_SITE())

#ifdef __cplusplus
}
#endif
#endif

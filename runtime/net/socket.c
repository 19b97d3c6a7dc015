/* lg_socket: a wrapper with its own destroy around an inner owned socket (trippy's shape). */
#include <lgrt/net.h>

#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <lgrt/point.h>
#include <lgrt/faults.h>
#include <lgrt/sys.h>

#define RECV_BUF 2048

int lg_socket_open(lg_socket *s, int domain, int type, int protocol, int owner_flags) {
  s->event_fd = -1;
  s->buf = NULL;
  s->buf_len = 0;
  /* Empty before anything can fail: a caller destroys a socket whose open failed (a failed
   * socket() used to leave the inner owner's descriptor as the stack had it, and destroy
   * closed that number: somebody else's descriptor, found by failure injection). */
  lg_owned_fd_init(&s->inner, -1, owner_flags);
  int fd = lgrt_socket(domain, type | SOCK_CLOEXEC, protocol);
  if (fd < 0) return -errno;
  lg_owned_fd_init(&s->inner, fd, owner_flags);
  s->event_fd = lgrt_eventfd(0, EFD_CLOEXEC);
  s->buf = lgrt_malloc(RECV_BUF);
  if (s->event_fd < 0 || !s->buf) {
    int err = s->event_fd < 0 ? -errno : -ENOMEM;
    if (s->event_fd >= 0) close(s->event_fd);
    free(s->buf);
    s->event_fd = -1;
    s->buf = NULL;
    lg_owned_fd_drop(&s->inner);
    return err;
  }
  return 0;
}

int lg_socket_bind(lg_socket *s, const struct sockaddr *addr, socklen_t len) {
  return lgrt_bind(lg_owned_fd_raw(&s->inner), addr, len) == 0 ? 0 : -errno;
}

int lg_socket_connect(lg_socket *s, const struct sockaddr *addr, socklen_t len) {
  return lgrt_connect(lg_owned_fd_raw(&s->inner), addr, len) == 0 ? 0 : -errno;
}

ssize_t lg_socket_send_to(lg_socket *s, const void *data, size_t len, const struct sockaddr *to,
                          socklen_t tolen) {
  ssize_t n = lgrt_sendto(lg_owned_fd_raw(&s->inner), data, len, MSG_NOSIGNAL, to, tolen);
  return n < 0 ? -errno : n;
}

ssize_t lg_socket_recv(lg_socket *s, size_t len) {
  if (len > RECV_BUF) len = RECV_BUF;
  ssize_t n = lgrt_recv(lg_owned_fd_raw(&s->inner), s->buf, len, 0);
  if (n >= 0) s->buf_len = (size_t)n;
  return n < 0 ? -errno : n;
}

int lg_socket_close(lg_socket *s) {
  /* Closes a borrowed descriptor: the inner owner still holds it and will close it again. */
  return close(lg_owned_fd_raw(&s->inner)) == 0 ? 0 : -errno;
}

void lg_socket_destroy(lg_socket *s) {
  /* trippy#1443: SocketImpl::drop called self.close() before the socket2 field dropped. */
  if (lg_fault(LG_FAULT_SOCKET_CLOSE_IN_DROP)) lg_socket_close(s);
  if (s->event_fd >= 0) close(s->event_fd); /* WSACloseEvent: a system call */
  s->event_fd = -1;
  free(s->buf);
  s->buf = NULL;
  lgrt_point(LGRT_SITE_SOCKET_DROP_FIELDS); /* another thread may run before the field drop */
  lg_owned_fd_drop(&s->inner); /* the field drop: the one close the fixed code does */
}

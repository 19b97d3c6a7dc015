/* SPDX-License-Identifier: MIT */
/* Sockets of the reference runtime: a single-owner descriptor and a socket wrapper on it.
 *
 * lg_owned_fd is the runtime's OwnedFd/OwnedSocket: exactly one owner closes it. Ownership
 * moves explicitly (lg_owned_fd_transfer) or is given up (lg_owned_fd_take); a borrowed raw
 * descriptor (lg_owned_fd_raw) must never be closed by its borrower. With LG_OWNED_FD_TAGGED
 * the owner also registers itself with fdsan-style owner tags, so a close by anybody else is
 * reported at once as foreign-close (when lifeguard's fdcheck is linked in).
 *
 * lg_socket is shaped like trippy's Windows SocketImpl (trippy#1443): a wrapper with its own
 * destroy around an inner owned socket, an event object, and a receive buffer. */
#ifndef LGRT_NET_H
#define LGRT_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { LG_OWNED_FD_TAGGED = 1 };

/* The owner type of lg_owned_fd's tags (the top 8 bits; fdsan's own types stop at 255's
 * generic, and 0x4c is none of them). Named "lg_owned_fd" in fdcheck's reports. */
#define LG_FDSAN_OWNER_TYPE_OWNED_FD 0x4c

typedef struct lg_owned_fd {
  int fd;         /* -1 when empty */
  int flags;      /* LG_OWNED_FD_TAGGED */
  uint64_t tag;   /* owner tag while tagged (derived from this struct's address) */
} lg_owned_fd;

/* Takes ownership of `fd` (>= 0). Returns 0, or -EBADF for a negative fd. */
int lg_owned_fd_init(lg_owned_fd *o, int fd, int flags);

/* The descriptor, borrowed: valid while `o` owns it; never close it. -1 when empty. */
int lg_owned_fd_raw(const lg_owned_fd *o);

/* Gives ownership up: returns the descriptor (the caller now owns it) and leaves `o` empty. */
int lg_owned_fd_take(lg_owned_fd *o);

/* Moves ownership from `src` to `dst` (which must be empty); `src` is left empty. */
void lg_owned_fd_transfer(lg_owned_fd *dst, lg_owned_fd *src);

/* Closes the descriptor if `o` owns one and leaves `o` empty; a no-op on an empty owner.
 * Returns close()'s result, or 0 when there was nothing to close. */
int lg_owned_fd_drop(lg_owned_fd *o);

typedef struct lg_socket {
  lg_owned_fd inner;   /* socket2::Socket -> OwnedSocket: the one owner of the descriptor */
  int event_fd;        /* the OVERLAPPED's hEvent: an eventfd, closed by destroy */
  unsigned char *buf;  /* receive buffer */
  size_t buf_len;
} lg_socket;

/* Opens a socket and its event object. Returns 0 or a negative errno; after a failure `s` is
 * empty, and lg_socket_destroy on it releases nothing. */
int lg_socket_open(lg_socket *s, int domain, int type, int protocol, int owner_flags);

int lg_socket_bind(lg_socket *s, const struct sockaddr *addr, socklen_t len);
int lg_socket_connect(lg_socket *s, const struct sockaddr *addr, socklen_t len);
ssize_t lg_socket_send_to(lg_socket *s, const void *data, size_t len, const struct sockaddr *to,
                          socklen_t tolen);
ssize_t lg_socket_recv(lg_socket *s, size_t len); /* into s->buf */

/* trippy's Socket::close(): closes the raw descriptor of the inner owner *without* taking
 * it from the owner. Kept because the historical code had it; the fixed code never calls
 * it (trippy removed it in PR #1444). */
int lg_socket_close(lg_socket *s);

/* The wrapper's Drop: releases the event object and buffer, then the inner owner closes the
 * socket, exactly once. Under the switch socket-close-in-drop it closes first (the bug).
 * Afterwards `s` is empty, as after a failed open: destroying it again releases nothing. */
void lg_socket_destroy(lg_socket *s);

#ifdef __cplusplus
}
#endif
#endif

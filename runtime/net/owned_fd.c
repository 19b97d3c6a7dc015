/* SPDX-License-Identifier: MIT */
/* lg_owned_fd: one owner per descriptor. */
#include <lgrt/net.h>

#include <errno.h>
#include <unistd.h>

#include <lifeguard/fdcheck.h>

/* The owner-tag API is optional: weak references, so the runtime also links without
 * lifeguard (then tags are simply not registered). */
#pragma weak android_fdsan_create_owner_tag
#pragma weak android_fdsan_exchange_owner_tag
#pragma weak android_fdsan_close_with_tag
#pragma weak lg_fdcheck_name_owner_type

/* fdcheck's reports name this runtime's owner type. */
__attribute__((constructor)) static void name_owner_type(void) {
  if (lg_fdcheck_name_owner_type)
    lg_fdcheck_name_owner_type(LG_FDSAN_OWNER_TYPE_OWNED_FD, "lg_owned_fd");
}

static int tagging(const lg_owned_fd *o) {
  return (o->flags & LG_OWNED_FD_TAGGED) && android_fdsan_exchange_owner_tag != NULL;
}

/* Registers `o` (at its current address) as the owner of its descriptor. */
static void claim(lg_owned_fd *o, uint64_t previous) {
  o->tag = android_fdsan_create_owner_tag(LG_FDSAN_OWNER_TYPE_OWNED_FD, (uint64_t)(uintptr_t)o);
  android_fdsan_exchange_owner_tag(o->fd, previous, o->tag);
}

int lg_owned_fd_init(lg_owned_fd *o, int fd, int flags) {
  o->fd = -1;
  o->flags = flags;
  o->tag = 0;
  if (fd < 0) return -EBADF;
  o->fd = fd;
  if (tagging(o)) claim(o, 0);
  return 0;
}

int lg_owned_fd_raw(const lg_owned_fd *o) { return o->fd; }

int lg_owned_fd_take(lg_owned_fd *o) {
  int fd = o->fd;
  if (fd >= 0 && tagging(o)) android_fdsan_exchange_owner_tag(fd, o->tag, 0);
  o->fd = -1;
  o->tag = 0;
  return fd;
}

void lg_owned_fd_transfer(lg_owned_fd *dst, lg_owned_fd *src) {
  dst->fd = src->fd;
  dst->flags = src->flags;
  dst->tag = 0;
  if (dst->fd >= 0 && tagging(dst)) claim(dst, src->tag);
  else dst->tag = src->tag;
  src->fd = -1;
  src->tag = 0;
}

int lg_owned_fd_drop(lg_owned_fd *o) {
  int fd = o->fd;
  if (fd < 0) return 0;
  o->fd = -1;
  int r = tagging(o) ? android_fdsan_close_with_tag(fd, o->tag) : close(fd);
  o->tag = 0;
  return r;
}

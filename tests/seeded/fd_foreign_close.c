/* SPDX-License-Identifier: MIT */
/* Close of a descriptor owned by someone else: the owner registered it with fdsan's owner-tag
 * API, and other code closes it with a plain close(). The API is looked up as weak symbols,
 * as code written for Android's fdsan does: present when lifeguard is linked in or preloaded,
 * absent (and the tagging skipped) otherwise. */
#include "seeded.h"
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

extern uint64_t android_fdsan_create_owner_tag(int type, uint64_t tag) __attribute__((weak));
extern void android_fdsan_exchange_owner_tag(int fd, uint64_t expected, uint64_t tag)
    __attribute__((weak));
extern int android_fdsan_close_with_tag(int fd, uint64_t tag) __attribute__((weak));

struct owner {
  int fd;
  uint64_t tag;
};

SEEDED_FN void owner_open(struct owner *o) {
  o->fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  o->tag = 0;
  if (android_fdsan_create_owner_tag && android_fdsan_exchange_owner_tag) {
    o->tag = android_fdsan_create_owner_tag(3 /* UNIQUE_FD */, (uint64_t)(uintptr_t)o);
    android_fdsan_exchange_owner_tag(o->fd, 0, o->tag);
  }
}

SEEDED_FN int owner_close(struct owner *o) {
  if (o->tag && android_fdsan_close_with_tag) return android_fdsan_close_with_tag(o->fd, o->tag);
  return close(o->fd);
}

SEEDED_FN int stranger_close(int fd) { return close(fd); }

int main(int argc, char **argv) {
  int fault = seeded_mode(argc, argv);
  struct owner o;
  owner_open(&o);
  printf("descriptor %d, owner tag %#llx\n", o.fd, (unsigned long long)o.tag);
  if (fault) stranger_close(o.fd);
  else owner_close(&o);
  puts("done");
  return 0;
}

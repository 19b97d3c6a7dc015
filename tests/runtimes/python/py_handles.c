/* SPDX-License-Identifier: MIT */
/* A CPython plugin (loaded with ctypes) that owns descriptors and heap records for its
 * caller: py_handles.py drives it.
 *
 *   handle_open(path) -> fd      handle_close(fd)         the descriptor functions
 *   record_new(name) -> rec      record_free(rec)         a heap record
 *   record_checksum(rec)                                  reads a record
 *
 * Descriptor: open in handle_open, close in handle_close (twice, in the faulty script).
 * Heap: allocation in record_new, free in record_free, use in record_checksum.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

struct record {
  unsigned long serial;
  char name[40];
  unsigned char payload[200];
};

static unsigned long next_serial;
static int open_handles, live_records; /* (each named function has work after its libc call,
                                          so none is a tail call that leaves no frame) */

NOINLINE int handle_open(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  open_handles += fd >= 0;
  return fd;
}

NOINLINE int handle_close(int fd) {
  int rc = close(fd);
  open_handles -= rc == 0;
  return rc;
}

NOINLINE struct record *record_new(const char *name) {
  struct record *r = malloc(sizeof *r);
  if (!r) return NULL;
  live_records++;
  r->serial = ++next_serial;
  strncpy(r->name, name, sizeof r->name - 1);
  r->name[sizeof r->name - 1] = 0;
  for (size_t i = 0; i < sizeof r->payload; i++) r->payload[i] = (unsigned char)(i * 7 + r->serial);
  return r;
}

NOINLINE void record_free(struct record *r) {
  free(r);
  live_records--;
}

NOINLINE unsigned long record_checksum(const struct record *r) {
  unsigned long sum = r->serial;
  for (size_t i = 0; i < sizeof r->payload; i++) sum = sum * 31 + r->payload[i];
  return sum;
}

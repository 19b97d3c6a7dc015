/* SPDX-License-Identifier: MIT */
/* fdcheck: descriptor ownership and lifetime checks.
 *
 * Every descriptor creator and destroyer of libc is intercepted (open*, socket*, accept*,
 * pipe*, dup*, fcntl(F_DUPFD*), eventfd, epoll_create*, memfd_create, timerfd_create,
 * fopen/fdopen/freopen/tmpfile, opendir/fdopendir, close, close_range, fclose, closedir,
 * pclose; dup2/dup3 onto a live descriptor counts as a close). For each descriptor the
 * checker keeps its owner tag and the stacks that opened and closed it, and reports:
 *   double-close    a descriptor closed again after it was closed
 *   foreign-close   a descriptor closed by someone other than its tagged owner
 *   closed-fd-use   read/write/send/recv/dup/... on a closed descriptor, or a check of one
 *                   (fcntl(F_GETFD/F_GETFL), fstat*, statx, isatty): reported inside the
 *                   call, before the program sees its EBADF and reacts to it
 *   owner-mismatch  an ownership exchange whose expected owner is not the owner
 *
 * Quarantine: a closed number (>2) is not released at once. The close atomically replaces
 * the file with a placeholder (dup3 of an O_PATH descriptor), so I/O on it still fails with
 * EBADF, yet no new descriptor can take the number; a stale second close then hits the
 * placeholder and is reported with both close stacks, instead of silently closing somebody
 * else's descriptor. The oldest parked numbers are released past fd_quarantine (default 64).
 *
 * The owner-tag API is that of Android's fdsan, so code written for fdsan runs unchanged. */
#ifndef LIFEGUARD_FDCHECK_H
#define LIFEGUARD_FDCHECK_H

#if defined(LG_LAYER) && !defined(LG_LAYER_SEES_FDCHECK)
#error "a fdcheck-layer header, in a layer not above it (harness/CMakeLists.txt)"
#endif

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Owner types: the top 8 bits of a tag (values as in fdsan). */
enum android_fdsan_owner_type {
  ANDROID_FDSAN_OWNER_TYPE_GENERIC_00 = 0,
  ANDROID_FDSAN_OWNER_TYPE_GENERIC_FF = 255,
  ANDROID_FDSAN_OWNER_TYPE_FILE = 1,
  ANDROID_FDSAN_OWNER_TYPE_DIR = 2,
  ANDROID_FDSAN_OWNER_TYPE_UNIQUE_FD = 3,
  ANDROID_FDSAN_OWNER_TYPE_SQLITE = 4,
  ANDROID_FDSAN_OWNER_TYPE_FILEINPUTSTREAM = 5,
  ANDROID_FDSAN_OWNER_TYPE_FILEOUTPUTSTREAM = 6,
  ANDROID_FDSAN_OWNER_TYPE_RANDOMACCESSFILE = 7,
  ANDROID_FDSAN_OWNER_TYPE_PARCELFILEDESCRIPTOR = 8,
  ANDROID_FDSAN_OWNER_TYPE_ART_FDFILE = 9,
  ANDROID_FDSAN_OWNER_TYPE_DATAGRAMSOCKETIMPL = 10,
  ANDROID_FDSAN_OWNER_TYPE_SOCKETIMPL = 11,
  ANDROID_FDSAN_OWNER_TYPE_ZIPARCHIVE = 12,
  ANDROID_FDSAN_OWNER_TYPE_NATIVE_HANDLE = 13,
  ANDROID_FDSAN_OWNER_TYPE_PARCEL = 14,
};

/* A tag: the type in the top 8 bits, the owner's identity (its address) in the low 56.
 * A tag of 0 means "unowned"; plain close() closes with tag 0. */
uint64_t android_fdsan_create_owner_tag(enum android_fdsan_owner_type type, uint64_t tag);

/* Sets fd's owner to new_tag if it is expected_tag; otherwise reports owner-mismatch. */
void android_fdsan_exchange_owner_tag(int fd, uint64_t expected_tag, uint64_t new_tag);

/* Closes fd as its owner `tag`: reports foreign-close if fd is owned by another tag, and
 * double-close if fd is already closed. Returns close()'s result. */
int android_fdsan_close_with_tag(int fd, uint64_t tag);

uint64_t android_fdsan_get_owner_tag(int fd);
const char *android_fdsan_get_tag_type(uint64_t tag);
uint64_t android_fdsan_get_tag_value(uint64_t tag);

/* ---- lifeguard extensions ---------------------------------------------------------- */

/* Names an owner type that fdsan's list does not have (a program's own owner types, as the
 * top 8 bits of its tags), for reports and android_fdsan_get_tag_type. `name` must outlive
 * the process's use of it (a string literal). fdsan's own types keep their names. */
void lg_fdcheck_name_owner_type(uint8_t type, const char *name);

typedef enum lg_fd_state {
  LG_FD_UNKNOWN = 0,   /* never seen (inherited, or created by an uninterposed path) */
  LG_FD_OPEN,          /* created through an intercepted call and not closed since */
  LG_FD_QUARANTINED,   /* closed; the number is parked on the placeholder */
  LG_FD_CLOSED,        /* closed and released; the number may be reused */
} lg_fd_state;

lg_fd_state lg_fdcheck_state(int fd);

/* Descriptor leaks: a mark of the descriptors opened so far, and a check that every
 * descriptor opened (through an intercepted call) since the mark is closed now. Each one
 * still open is reported as
 *   fd-leak  a descriptor opened since the mark and not closed when `what` (e.g. "the
 *                    fuzz execution ended"), with the stack that opened it
 * and counted; returns the count (with halt_on_error=1 the first report aborts). A test calls
 * it where everything it opened since the mark must be closed again: the end of a run whose
 * objects were all destroyed. */
uint64_t lg_fdcheck_mark(void);
size_t lg_fdcheck_leaks_since(uint64_t mark, const char *what);

/* Number of parked descriptor numbers. */
size_t lg_fdcheck_quarantined(void);

/* Releases every parked number (really closes the placeholders). Returns how many. */
size_t lg_fdcheck_flush_quarantine(void);

#ifdef __cplusplus
}
#endif
#endif

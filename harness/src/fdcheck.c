/* SPDX-License-Identifier: MIT */
/* fdcheck: descriptor ownership, lifetime and quarantine. See lifeguard/fdcheck.h.
 *
 * Lock discipline. A descriptor call can come from inside a locked section of libc or of
 * the program: a module constructor runs under the dynamic loader's lock, a fopencookie
 * callback under the stream's lock, a signal handler on a thread that was in the middle of
 * one of these interceptors. So while fd_lock is held, nothing here takes another lock
 * that code outside could hold while it waits for a descriptor call: no stack capture (the
 * unwinder may load libgcc_s or read /proc/self/maps), no dlsym (the real functions are
 * looked up by constructors), no stdio (fclose and closedir run after the lock is
 * dropped), no report emission (symbolization), no intercepted call (fstat goes through
 * the system call). The thread also counts as busy while it holds fd_lock, so a signal
 * handler that interrupts it passes its descriptor calls straight through instead of
 * waiting for the lock its own thread holds.
 *
 * close of an open descriptor takes no lock, as under bionic's fdsan: one compare-and-swap
 * moves its entry from LG_FD_OPEN to FD_CLOSING, and the thread that made it owns the close
 * (the owner check, the history, parking or the real close) until it stores the outcome.
 * The quarantine takes no lock either: its FIFO is a lock-free ring, and a parked number is
 * only ever touched by the thread that moved its entry from LG_FD_QUARANTINED to FD_HELD
 * (a release closing it, a dup2 onto it, a second close deciding it is a double close), so a
 * release can never close a number the program has just been given. fd_lock is left for
 * opens, reports, and closes that find the number closed or unknown; a lock holder may wait
 * for an FD_HELD entry (its holder takes no lock) but never for an FD_CLOSING one (its owner
 * may be reporting). While a thread holds an entry it counts as busy, like a lock holder. */
#define _GNU_SOURCE
#include "internal.h"

#include <lifeguard/fdcheck.h>
#include <lifeguard/report.h>

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

/* ---- the descriptor table --------------------------------------------------------- */

struct fd_entry {
  _Atomic uint8_t state;   /* lg_fd_state */
  uint32_t generation;     /* bumped at every open of this number */
  uint64_t tag;            /* owner tag, 0 = unowned */
  const char *creator;     /* "socket", "open", "FILE*", ... */
  uint64_t opened_at;      /* the process's open count when it was opened (lg_fdcheck_mark) */
  lg_stack_id open_stack, close_stack, tag_stack;
  int open_tid, close_tid, tag_tid;
};

#define CHUNK_BITS 10
#define CHUNK_SIZE (1 << CHUNK_BITS)
#define NCHUNKS 1024 /* descriptors up to 1M */

static _Atomic(struct fd_entry *) chunks[NCHUNKS];
static pthread_mutex_t fd_lock = PTHREAD_MUTEX_INITIALIZER;

/* The entry of `fd`, or NULL. With `create`, allocates its chunk (never freed). */
static struct fd_entry *entry(int fd, bool create) {
  if (fd < 0 || fd >= NCHUNKS * CHUNK_SIZE) return NULL;
  unsigned c = (unsigned)fd >> CHUNK_BITS;
  struct fd_entry *chunk = atomic_load_explicit(&chunks[c], memory_order_acquire);
  if (!chunk) {
    if (!create) return NULL;
    void *m = mmap(NULL, CHUNK_SIZE * sizeof(struct fd_entry), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return NULL;
    struct fd_entry *expected = NULL;
    if (atomic_compare_exchange_strong(&chunks[c], &expected, (struct fd_entry *)m)) chunk = m;
    else {
      munmap(m, CHUNK_SIZE * sizeof(struct fd_entry));
      chunk = expected;
    }
  }
  return &chunk[fd & (CHUNK_SIZE - 1)];
}

static lg_fd_state state_of(const struct fd_entry *e) {
  return e ? (lg_fd_state)atomic_load_explicit(&e->state, memory_order_acquire) : LG_FD_UNKNOWN;
}

static void set_state(struct fd_entry *e, lg_fd_state s) {
  atomic_store_explicit(&e->state, (uint8_t)s, memory_order_release);
}

/* Transient states, held by one thread (not lg_fd_states; lg_fdcheck_state names the state
 * they come from): a close under way, and a parked number a thread has claimed. */
#define FD_CLOSING 0x40
#define FD_HELD 0x41

/* Claims a parked number: moves its entry from LG_FD_QUARANTINED to FD_HELD, waiting while
 * another thread holds it. False when the entry is in another state. */
static bool claim_parked(struct fd_entry *e) {
  for (;;) {
    uint8_t seen = LG_FD_QUARANTINED;
    if (atomic_compare_exchange_strong(&e->state, &seen, (uint8_t)FD_HELD)) return true;
    if (seen != FD_HELD) return false;
    sched_yield(); /* held for a few system calls at most */
  }
}

/* ---- real functions --------------------------------------------------------------- */

/* A real function, looked up by a constructor as well as on first use: dlsym takes the
 * dynamic loader's lock, which a thread inside dlopen holds while it runs a constructor
 * that may wait for this thread's descriptor call. (A function missing from this libc is
 * left to its first use.) */
#define FD_REAL(ret, name, params) LG_REAL(ret, name, params)

FD_REAL(int, close, (int))
FD_REAL(int, dup3, (int, int, int))
FD_REAL(int, fclose, (FILE *))
FD_REAL(int, closedir, (DIR *))
FD_REAL(int, fflush, (FILE *))

/* ---- set-up ----------------------------------------------------------------------- */

static int sentinel_fd = -1;    /* the placeholder parked on quarantined numbers (atomic) */
static dev_t sentinel_dev;
static ino_t sentinel_ino;

/* The holder counts as busy (see the lock discipline above). */
static void lock(void) {
  lg__busy++;
  pthread_mutex_lock(&fd_lock);
}
static void unlock(void) {
  pthread_mutex_unlock(&fd_lock);
  lg__busy--;
}

static int nofile_soft = 1024;
static void child_after_fork(void);

static void init_once(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
    nofile_soft = (int)rl.rlim_cur;
  pthread_atfork(lock, unlock, child_after_fork);
}

/* How many closed numbers may stay parked: the option, but never more than a quarter of
 * the descriptor limit (the program needs the rest). */
static int quarantine_limit(void) {
  int cap = lg__opts()->fd_quarantine;
  return cap > nofile_soft / 4 ? nofile_soft / 4 : cap;
}

static pthread_once_t init_ctl = PTHREAD_ONCE_INIT;
static bool unchecked_child; /* a forked child that has not exec'd: not checked */

/* True when calls should be checked: fdcheck on, and not the harness's own work. */
static inline bool active(void) {
  if (lg__busy || unchecked_child) return false;
  if (!lg__opts()->fdcheck) return false;
  pthread_once(&init_ctl, init_once);
  return true;
}

/* fstat without our own interceptor. */
static int sys_fstat(int fd, struct stat *st) {
  return (int)syscall(SYS_newfstatat, fd, "", st, AT_EMPTY_PATH);
}

/* Creates the placeholder: an O_PATH descriptor (read/write on it fail with EBADF) of a
 * memfd named so that /proc/self/fd shows what it is. Kept at a high number. Lock held. */
static int placeholder_fd(void) { return __atomic_load_n(&sentinel_fd, __ATOMIC_ACQUIRE); }
static void forget_placeholder(void) { __atomic_store_n(&sentinel_fd, -1, __ATOMIC_RELEASE); }

static int sentinel(void) {
  if (placeholder_fd() >= 0) return placeholder_fd();
  int fd = -1;
  int mfd = (int)syscall(SYS_memfd_create, "lifeguard-fd-quarantine", MFD_CLOEXEC);
  if (mfd >= 0) {
    char path[64];
    lg__format(path, sizeof path, "/proc/self/fd/%d", mfd);
    fd = lg__sys_open(path, O_PATH | O_CLOEXEC, 0);
    lg__sys_close(mfd);
  }
  if (fd < 0) fd = lg__sys_open("/", O_PATH | O_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct rlimit rl;
  long want = 1000;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
      (long)rl.rlim_cur - 24 < want)
    want = (long)rl.rlim_cur - 24;
  if (want > fd) {
    int high = (int)syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, want);
    if (high >= 0) {
      lg__sys_close(fd);
      fd = high;
    }
  }
  struct stat st;
  if (sys_fstat(fd, &st) != 0) {
    lg__sys_close(fd);
    return -1;
  }
  sentinel_dev = st.st_dev;
  sentinel_ino = st.st_ino;
  __atomic_store_n(&sentinel_fd, fd, __ATOMIC_RELEASE);
  return fd;
}

/* The placeholder, made under the lock the first time (the only lock a close may take). */
static int placeholder(void) {
  int fd = placeholder_fd();
  if (fd >= 0) return fd;
  lock();
  fd = sentinel();
  unlock();
  return fd;
}

/* Is the file now on `fd` our placeholder? (It may not be if something replaced it through
 * a path we do not see, e.g. a raw system call.) */
static bool holds_placeholder(int fd) {
  struct stat st;
  return placeholder_fd() >= 0 && sys_fstat(fd, &st) == 0 && st.st_dev == sentinel_dev &&
         st.st_ino == sentinel_ino;
}

static bool is_open(int fd) { return syscall(SYS_fcntl, fd, F_GETFD) >= 0; }

/* ---- quarantine FIFO -------------------------------------------------------------- */

/* A bounded multi-producer, multi-consumer ring: each slot carries a turn, and the slot of
 * position p is free for p's producer when its turn is p, and holds p's number when it is
 * p + 1; producers and consumers claim positions with a compare-and-swap on the tail and the
 * head. The turn is stored relative to the slot's index, so a ring fresh from mmap (zeros)
 * is empty and only the pages used are ever touched. */
struct parked {
  _Atomic uint64_t turn;
  int fd;
  uint32_t generation;
};
#define FIFO_MAX 65536 /* the largest fd_quarantine; a power of two */
static _Atomic(struct parked *) fifo;
static _Atomic uint64_t fifo_head, fifo_tail;
static atomic_flag releasing = ATOMIC_FLAG_INIT; /* one thread releases at a time */

static uint64_t turn_of(struct parked *slot, uint64_t index) {
  return atomic_load_explicit(&slot->turn, memory_order_acquire) + index;
}

static void set_turn(struct parked *slot, uint64_t index, uint64_t turn) {
  atomic_store_explicit(&slot->turn, turn - index, memory_order_release);
}

static struct parked *fifo_ring(void) {
  struct parked *ring = atomic_load_explicit(&fifo, memory_order_acquire);
  if (ring) return ring;
  void *m = mmap(NULL, FIFO_MAX * sizeof *ring, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) return NULL;
  if (atomic_compare_exchange_strong(&fifo, &ring, (struct parked *)m)) return m;
  munmap(m, FIFO_MAX * sizeof *ring);
  return ring;
}

/* Appends a parked number; false when the ring is full. */
static bool fifo_push(struct parked *ring, int fd, uint32_t generation) {
  uint64_t pos = atomic_load_explicit(&fifo_tail, memory_order_relaxed);
  for (;;) {
    uint64_t i = pos & (FIFO_MAX - 1);
    int64_t ahead = (int64_t)(turn_of(&ring[i], i) - pos);
    if (ahead < 0) return false;
    if (ahead > 0) pos = atomic_load_explicit(&fifo_tail, memory_order_relaxed);
    else if (atomic_compare_exchange_weak(&fifo_tail, &pos, pos + 1)) {
      ring[i].fd = fd;
      ring[i].generation = generation;
      set_turn(&ring[i], i, pos + 1);
      return true;
    }
  }
}

/* Takes the oldest parked number; false when the ring is empty (or its oldest slot is still
 * being filled). */
static bool fifo_pop(struct parked *ring, struct parked *out) {
  uint64_t pos = atomic_load_explicit(&fifo_head, memory_order_relaxed);
  for (;;) {
    uint64_t i = pos & (FIFO_MAX - 1);
    int64_t ahead = (int64_t)(turn_of(&ring[i], i) - (pos + 1));
    if (ahead < 0) return false;
    if (ahead > 0) pos = atomic_load_explicit(&fifo_head, memory_order_relaxed);
    else if (atomic_compare_exchange_weak(&fifo_head, &pos, pos + 1)) {
      out->fd = ring[i].fd;
      out->generation = ring[i].generation;
      set_turn(&ring[i], i, pos + FIFO_MAX);
      return true;
    }
  }
}

static size_t fifo_length(void) {
  return (size_t)(atomic_load(&fifo_tail) - atomic_load(&fifo_head));
}

/* Closes the numbers in `fds` (sorted ascending, each held by this thread): every run of
 * consecutive numbers with one close_range, so a batch released in the order it was parked
 * (mostly consecutive numbers, since the kernel hands out the lowest free one) costs one or
 * a few system calls instead of one per number. */
static void close_sorted(const int *fds, size_t n) {
  for (size_t i = 0; i < n;) {
    size_t j = i + 1;
    while (j < n && fds[j] == fds[j - 1] + 1) j++;
    long r = -1;
#ifdef SYS_close_range
    if (j - i > 1) r = syscall(SYS_close_range, (unsigned)fds[i], (unsigned)fds[j - 1], 0u);
#endif
    if (r != 0)
      for (size_t k = i; k < j; k++) lg__sys_close(fds[k]);
    i = j;
  }
}

/* Sorts ascending by insertion: a batch comes out of the FIFO nearly sorted already (the
 * kernel hands out the lowest free number), which makes this about linear. */
static void sort_nearly_sorted(int *v, size_t n) {
  for (size_t i = 1; i < n; i++) {
    int x = v[i];
    size_t j = i;
    for (; j > 0 && v[j - 1] > x; j--) v[j] = v[j - 1];
    v[j] = x;
  }
}

/* An entry this thread held while its number was closed: closed now, unless an open has
 * already been given the number (its entry is then open). */
static void held_closed(struct fd_entry *e) {
  uint8_t held = FD_HELD;
  atomic_compare_exchange_strong(&e->state, &held, (uint8_t)LG_FD_CLOSED);
}

/* Releases the `n` oldest parked numbers: those still parked under the generation they were
 * parked with (the others were reused or replaced meanwhile, and parked again later if at
 * all). Each is claimed before it is closed. Returns how many entries were taken. */
#define RELEASE_BATCH_MAX 1024
static size_t release_oldest(size_t n) {
  struct parked *ring = atomic_load_explicit(&fifo, memory_order_acquire);
  if (!ring) return 0;
  int fds[RELEASE_BATCH_MAX];
  size_t taken = 0;
  bool empty = false;
  lg__busy++;
  while (n > 0 && !empty) {
    size_t got = 0;
    struct parked p;
    for (; n > 0 && got < RELEASE_BATCH_MAX; n--) {
      if (!fifo_pop(ring, &p)) {
        empty = true;
        break;
      }
      taken++;
      struct fd_entry *e = entry(p.fd, false);
      if (!e || !claim_parked(e)) continue;
      if (e->generation != p.generation) set_state(e, LG_FD_QUARANTINED); /* parked again */
      else fds[got++] = p.fd;
    }
    sort_nearly_sorted(fds, got);
    close_sorted(fds, got);
    for (size_t i = 0; i < got; i++) held_closed(entry(fds[i], false));
  }
  lg__busy--;
  return taken;
}

/* Past the cap, the one thread that wins `releasing` releases the older half at once (one
 * close_range per run of consecutive numbers), so a parked number still waits at least half
 * of fd_quarantine closes; the others go on (the ring holds FIFO_MAX, far above any cap), and
 * the releaser looks again when it is done, so what they parked meanwhile is not left over
 * the cap. Releasing a quarter made the runs shorter: measured with bench fd_churn, 1.2
 * against about 0.4 extra system calls per cycle. */
static void trim_quarantine(size_t cap) {
  size_t len;
  while ((len = fifo_length()) > cap && !atomic_flag_test_and_set(&releasing)) {
    size_t taken = release_oldest(len - cap + (cap - 1) / 2);
    atomic_flag_clear(&releasing);
    if (taken == 0) break; /* the oldest slot is still being filled */
  }
}

/* Retires `fd`, whose entry this thread holds in FD_CLOSING (the number is still open, so no
 * other thread can be given it): parks the placeholder `ph` on it if the quarantine is on
 * (dup3 closes the real file and takes the number in one step), else closes it. The entry
 * ends LG_FD_QUARANTINED or LG_FD_CLOSED (or open, if an open took the number at once).
 * Returns the close's result. Takes no lock. */
static int retire(int fd, struct fd_entry *e, int ph) {
  size_t cap = (size_t)quarantine_limit();
  struct parked *ring = cap > 0 && fd > 2 && ph >= 0 && fd != ph ? fifo_ring() : NULL;
  if (ring && lg__get_dup3()(ph, fd, O_CLOEXEC) == fd) {
    uint32_t generation = e->generation;
    set_state(e, LG_FD_QUARANTINED);
    if (fifo_push(ring, fd, generation)) trim_quarantine(cap);
    else if (claim_parked(e)) { /* no room: released at once */
      lg__sys_close(fd);
      held_closed(e);
    }
    return 0;
  }
  int r = lg__get_close()(fd);
  uint8_t closing = FD_CLOSING; /* closed: unless an open has taken the number meanwhile */
  atomic_compare_exchange_strong(&e->state, &closing, (uint8_t)LG_FD_CLOSED);
  return r;
}

/* A forked child usually closes every descriptor it inherited and execs (often enumerating
 * /proc/self/fd with a DIR* whose own descriptor it closes too), so by default it is not
 * checked until exec gives it a fresh image, as fdsan does. With check_forked_children=1
 * (prefork servers) it starts with a clean view instead: parked numbers released,
 * histories and owner tags forgotten, inherited descriptors known as open, and what it
 * opens and closes itself checked as usual. Only system calls and stores here: the child
 * of a multi-threaded parent may call nothing else. The parent's lock-free closes and
 * releases may have been anywhere in their work when it forked, and their threads are gone:
 * so the child drops the ring (a fresh one is mapped at its first park), and releases every
 * number that holds the placeholder, whatever state its entry was left in. */
static void child_after_fork(void) {
  unchecked_child = !lg__opts()->check_forked_children;
  struct parked *ring = atomic_exchange(&fifo, NULL);
  if (ring) munmap(ring, FIFO_MAX * sizeof *ring);
  atomic_store(&fifo_head, 0);
  atomic_store(&fifo_tail, 0);
  atomic_flag_clear(&releasing);
  for (unsigned c = 0; c < NCHUNKS; c++) {
    struct fd_entry *chunk = atomic_load(&chunks[c]);
    for (unsigned i = 0; chunk && i < CHUNK_SIZE; i++) {
      chunk[i].tag = 0;
      chunk[i].tag_stack = 0;
      lg_fd_state s = state_of(&chunk[i]);
      if (s == LG_FD_OPEN) continue;
      int fd = (int)(c << CHUNK_BITS | i);
      if (s != LG_FD_CLOSED && s != LG_FD_UNKNOWN && holds_placeholder(fd)) lg__sys_close(fd);
      set_state(&chunk[i], LG_FD_UNKNOWN);
    }
  }
  unlock();
}

#define FRAME __builtin_frame_address(0)

/* Stack capture and report emission take locks of their own (the stack depot's, the
 * report's): the thread counts as busy meanwhile, so that a signal handler interrupting them
 * passes its descriptor calls through instead of taking those locks again. */
static lg_stack_id capture(void *frame) {
  lg__busy++;
  lg_stack_id id = lg_stack_capture(frame);
  lg__busy--;
  return id;
}

static void emit(const lg_report *r) {
  lg__busy++;
  lg_report_emit(r);
  lg__busy--;
}

/* ---- reports ---------------------------------------------------------------------- */

static const char *type_name(uint64_t tag) { return android_fdsan_get_tag_type(tag); }

static void describe_owner(char *out, size_t cap, uint64_t tag) {
  if (tag == 0) snprintf(out, cap, "unowned");
  else snprintf(out, cap, "%s 0x%llx", type_name(tag),
                (unsigned long long)android_fdsan_get_tag_value(tag));
}

/* Completes a report on `fd`: the descriptor's history (where it was closed, when `closed`;
 * where it was opened; where its owner took it, when `owner`), then, with the lock dropped
 * (a hook may use descriptors; see the lock discipline), the stack of the faulting call,
 * and emits it. Lock held on entry and on return. */
static void finish_report(lg_report *r, int fd, struct fd_entry *e, void *frame, bool closed,
                          bool owner) {
  lg_report_add_stack(r, "current", 0, lg__gettid(), "%s", "");
  if (closed && e->close_stack)
    lg_report_add_stack(r, "close", e->close_stack, e->close_tid,
              "file descriptor %d was closed by thread %d here", fd, e->close_tid);
  if (e->open_stack)
    lg_report_add_stack(r, "open", e->open_stack, e->open_tid,
              "file descriptor %d was opened (%s) by thread %d here", fd,
              e->creator ? e->creator : "?", e->open_tid);
  if (owner && e->tag_stack)
    lg_report_add_stack(r, "owner", e->tag_stack, e->tag_tid,
              "file descriptor %d was taken by its owner by thread %d here", fd, e->tag_tid);
  unlock();
  r->stacks[0].id = capture(frame);
  emit(r);
  lock();
}

static void report_double_close(int fd, struct fd_entry *e, uint64_t tag, void *frame) {
  lg_report r = {.kind = "double-close", .fd = fd};
  snprintf(r.headline, sizeof r.headline, "on file descriptor %d (%s)", fd,
           e->creator ? e->creator : "?");
  char who[96];
  describe_owner(who, sizeof who, tag);
  snprintf(r.detail, sizeof r.detail,
           "file descriptor %d was already closed; this close (as %s) %s.", fd, who,
           state_of(e) == LG_FD_QUARANTINED
               ? "hit its quarantine placeholder, so no other descriptor was closed"
               : "failed with EBADF (the number had been released and not reused)");
  finish_report(&r, fd, e, frame, true, false);
}

static void report_foreign_close(int fd, struct fd_entry *e, uint64_t tag, void *frame,
                                 const char *how) {
  lg_report r = {.kind = "foreign-close", .fd = fd};
  char owner[96], closer[96];
  describe_owner(owner, sizeof owner, e->tag);
  describe_owner(closer, sizeof closer, tag);
  snprintf(r.headline, sizeof r.headline, "on file descriptor %d (%s): owned by %s, %s as %s",
           fd, e->creator ? e->creator : "?", owner, how, closer);
  finish_report(&r, fd, e, frame, false, true);
}

/* Calls that ask about a descriptor rather than do I/O on it: how a program (or its
 * language runtime, before it closes a descriptor it owns) checks that it is still open. */
static bool is_query(const char *op) {
  return strncmp(op, "fcntl(F_GET", 11) == 0 || strncmp(op, "fstat", 5) == 0 ||
         strcmp(op, "statx") == 0 || strcmp(op, "isatty") == 0;
}

static void report_closed_use(int fd, struct fd_entry *e, const char *op, void *frame) {
  lg_report r = {.kind = "closed-fd-use", .fd = fd};
  snprintf(r.headline, sizeof r.headline, "on file descriptor %d (%s): %s after close", fd,
           e->creator ? e->creator : "?", op);
  snprintf(r.detail, sizeof r.detail, "file descriptor %d was already closed; this %s %s.%s",
           fd, op,
           state_of(e) == LG_FD_QUARANTINED
               ? "hit its quarantine placeholder and was refused with EBADF, as after a real "
                 "close"
               : "failed with EBADF (the number had been released and not reused)",
           is_query(op) ? " A check like this on a descriptor the program believes open is "
                          "often made just before it closes the descriptor again."
                        : "");
  finish_report(&r, fd, e, frame, true, false);
}

static void report_owner_mismatch(int fd, struct fd_entry *e, uint64_t expected,
                                  uint64_t new_tag, void *frame) {
  lg_report r = {.kind = "owner-mismatch", .fd = fd};
  char actual[96], exp[96], nw[96];
  describe_owner(actual, sizeof actual, e->tag);
  describe_owner(exp, sizeof exp, expected);
  describe_owner(nw, sizeof nw, new_tag);
  snprintf(r.headline, sizeof r.headline,
           "on file descriptor %d (%s): exchange to %s expected %s, but it is %s", fd,
           e->creator ? e->creator : "?", nw, exp, actual);
  finish_report(&r, fd, e, frame, false, true);
}

/* ---- bookkeeping ------------------------------------------------------------------ */

/* Records that `fd` was just created by `creator` at `stack`. Lock held. */
static uint64_t opens; /* descriptors opened so far (lock held to change it) */

static void opened_locked(int fd, const char *creator, uint64_t tag, lg_stack_id stack) {
  struct fd_entry *e = entry(fd, true);
  if (!e) return;
  e->opened_at = __atomic_add_fetch(&opens, 1, __ATOMIC_RELAXED);
  if (fd == placeholder_fd()) forget_placeholder(); /* the program replaced our placeholder */
  e->generation++;
  e->creator = creator;
  e->tag = tag;
  e->open_stack = stack;
  e->open_tid = lg__gettid();
  e->close_stack = 0;
  e->tag_stack = tag ? e->open_stack : 0;
  e->tag_tid = e->open_tid;
  set_state(e, LG_FD_OPEN);
}

static void opened(int fd, const char *creator, uint64_t tag, void *frame) {
  if (fd < 0) return;
  lg_stack_id stack = capture(frame);
  lock();
  opened_locked(fd, creator, tag, stack);
  unlock();
}

/* Records the close of the entry's descriptor (not its state). */
static void note_close(struct fd_entry *e, lg_stack_id stack) {
  e->close_stack = stack;
  e->close_tid = lg__gettid();
  __atomic_store_n(&e->tag, 0, __ATOMIC_RELEASE);
}

static void closed_locked(struct fd_entry *e, lg_fd_state now, lg_stack_id stack) {
  note_close(e, stack);
  set_state(e, now);
}

enum verdict { PROCEED, REFUSE };

/* Decides whether closing `fd` as owner `tag` may proceed, reporting what is wrong. On
 * PROCEED this thread holds the entry in FD_CLOSING (the number is live, and the close is
 * its own); on REFUSE the descriptor is not live and close must fail with EBADF. Waits out
 * another thread's close or release. Lock held (it is dropped while waiting). */
static enum verdict check_close(int fd, struct fd_entry *e, uint64_t tag, void *frame,
                                const char *how) {
  for (;;) {
    uint8_t seen = LG_FD_OPEN;
    switch (state_of(e)) {
    case LG_FD_QUARANTINED:
      if (!claim_parked(e)) continue;
      if (holds_placeholder(fd)) {
        set_state(e, LG_FD_QUARANTINED);
        report_double_close(fd, e, tag, frame);
        return REFUSE;
      }
      e->tag = 0; /* replaced behind our back: adopt it */
      set_state(e, FD_CLOSING);
      return PROCEED;
    case LG_FD_CLOSED:
      if (is_open(fd)) { /* reused through a path we do not see */
        e->tag = 0;
        e->open_stack = 0;
        set_state(e, FD_CLOSING);
        return PROCEED;
      }
      report_double_close(fd, e, tag, frame);
      return REFUSE;
    case LG_FD_UNKNOWN:
      if (!is_open(fd)) return REFUSE;
      e->tag = 0;
      set_state(e, FD_CLOSING);
      return PROCEED;
    case LG_FD_OPEN:
      if (!atomic_compare_exchange_strong(&e->state, &seen, (uint8_t)FD_CLOSING)) continue;
      if (e->tag != tag) report_foreign_close(fd, e, tag, frame, how);
      return PROCEED;
    default: /* another thread's close or release: its outcome decides this one */
      unlock();
      sched_yield();
      lock();
    }
  }
}

/* The close of `fd`, whose entry this thread holds in FD_CLOSING, its owner checked: the
 * history, then parking or the real close. Takes no lock. */
static int finish_close(int fd, struct fd_entry *e, lg_stack_id stack) {
  note_close(e, stack);
  int saved = errno;
  int r = retire(fd, e, quarantine_limit() > 0 ? placeholder() : -1);
  if (r == 0) errno = saved;
  return r;
}

/* close() and close_with_tag(). An open descriptor is claimed with one compare-and-swap, and
 * its close takes no lock unless it is reported; anything else is decided under the lock. */
static int close_as(int fd, uint64_t tag, void *frame) {
  lg_stack_id stack = capture(frame);
  struct fd_entry *e = entry(fd, true);
  if (!e) return lg__get_close()(fd);
  /* While this thread holds the entry, its signal handlers pass straight through (they
   * would otherwise wait for the close they interrupted). */
  lg__busy++;
  uint8_t seen = LG_FD_OPEN;
  int r;
  if (fd != placeholder_fd() &&
      atomic_compare_exchange_strong(&e->state, &seen, (uint8_t)FD_CLOSING)) {
    if (__atomic_load_n(&e->tag, __ATOMIC_ACQUIRE) != tag) {
      lock();
      report_foreign_close(fd, e, tag, frame, "closed");
      unlock();
    }
    r = finish_close(fd, e, stack);
  } else {
    lock();
    if (fd == placeholder_fd()) { /* the program closes everything, our placeholder too */
      forget_placeholder();
      unlock();
      r = lg__get_close()(fd);
    } else if (check_close(fd, e, tag, frame, "closed") == REFUSE) {
      unlock();
      errno = EBADF;
      r = -1;
    } else {
      unlock();
      r = finish_close(fd, e, stack);
    }
  }
  lg__busy--;
  return r;
}

/* Checks a use of `fd` before the real call. Returns -1 (errno EBADF) to refuse the call,
 * 1 if the call's EBADF must be reported afterwards, 0 otherwise. */
/* Whether `fd` is a closed number the quarantine holds a placeholder on. */
static bool parked(int fd) {
  lg_fd_state s = state_of(entry(fd, false));
  return (s == LG_FD_QUARANTINED || s == (lg_fd_state)FD_HELD) && holds_placeholder(fd);
}

static int use_before(int fd, const char *op, void *frame) {
  struct fd_entry *e = entry(fd, false);
  lg_fd_state s = state_of(e);
  if (s == LG_FD_OPEN || s == LG_FD_UNKNOWN || s == (lg_fd_state)FD_CLOSING) return 0;
  if (s == LG_FD_CLOSED) return 1;
  lock();
  int r = 0;
  if (claim_parked(e)) {
    if (holds_placeholder(fd)) {
      set_state(e, LG_FD_QUARANTINED);
      report_closed_use(fd, e, op, frame);
      r = -1;
    } else {
      set_state(e, LG_FD_OPEN); /* replaced behind our back: adopt it */
    }
  } else if (state_of(e) == LG_FD_CLOSED) {
    r = 1;
  }
  unlock();
  if (r < 0) errno = EBADF;
  return r;
}

static void use_after(int fd, const char *op, void *frame) {
  lock();
  struct fd_entry *e = entry(fd, false);
  lg_fd_state s = state_of(e);
  /* (held: a release is closing it now; lock holders never hold entries) */
  if (e && (s == LG_FD_CLOSED || s == (lg_fd_state)FD_HELD)) report_closed_use(fd, e, op, frame);
  unlock();
}

/* Records `tag` as the owner of the open descriptor of `e`. Lock held. */
static void set_owner_locked(struct fd_entry *e, uint64_t tag, lg_stack_id stack) {
  e->tag = tag;
  e->tag_stack = tag ? stack : 0;
  e->tag_tid = lg__gettid();
}

/* fdsan's exchange: `fd` passes from owner `expected` to `new_tag`; a descriptor never seen
 * open is adopted first (created elsewhere, or before lifeguard started). Lock held. */
static void exchange_locked(int fd, uint64_t expected, uint64_t new_tag, const char *creator,
                            void *frame, lg_stack_id stack) {
  struct fd_entry *e = entry(fd, true);
  if (!e) return;
  if (claim_parked(e)) {
    if (holds_placeholder(fd)) {
      set_state(e, LG_FD_QUARANTINED);
      report_closed_use(fd, e, "ownership exchange", frame);
      return;
    }
    set_state(e, LG_FD_UNKNOWN); /* replaced behind our back */
  }
  lg_fd_state s = state_of(e);
  if (s != LG_FD_OPEN && s != (lg_fd_state)FD_CLOSING) {
    opened_locked(fd, creator, 0, 0); /* its real opening was not seen */
  }
  if (e->tag != expected) report_owner_mismatch(fd, e, expected, new_tag, frame);
  else set_owner_locked(e, new_tag, stack);
}

/* ---- public API (fdsan-compatible) ------------------------------------------------ */

uint64_t android_fdsan_create_owner_tag(enum android_fdsan_owner_type type, uint64_t tag) {
  if (tag == 0) return 0;
  return ((uint64_t)(type & 0xff) << 56) | (tag & ((UINT64_C(1) << 56) - 1));
}

/* Names of owner types beyond fdsan's (lg_fdcheck_name_owner_type). */
static const char *owner_type_names[256];

void lg_fdcheck_name_owner_type(uint8_t type, const char *name) {
  __atomic_store_n(&owner_type_names[type], name, __ATOMIC_RELEASE);
}

const char *android_fdsan_get_tag_type(uint64_t tag) {
  switch (tag >> 56) {
  case ANDROID_FDSAN_OWNER_TYPE_FILE: return "FILE*";
  case ANDROID_FDSAN_OWNER_TYPE_DIR: return "DIR*";
  case ANDROID_FDSAN_OWNER_TYPE_UNIQUE_FD: return "unique_fd";
  case ANDROID_FDSAN_OWNER_TYPE_SQLITE: return "sqlite";
  case ANDROID_FDSAN_OWNER_TYPE_FILEINPUTSTREAM: return "FileInputStream";
  case ANDROID_FDSAN_OWNER_TYPE_FILEOUTPUTSTREAM: return "FileOutputStream";
  case ANDROID_FDSAN_OWNER_TYPE_RANDOMACCESSFILE: return "RandomAccessFile";
  case ANDROID_FDSAN_OWNER_TYPE_PARCELFILEDESCRIPTOR: return "ParcelFileDescriptor";
  case ANDROID_FDSAN_OWNER_TYPE_ART_FDFILE: return "ART FdFile";
  case ANDROID_FDSAN_OWNER_TYPE_DATAGRAMSOCKETIMPL: return "DatagramSocketImpl";
  case ANDROID_FDSAN_OWNER_TYPE_SOCKETIMPL: return "SocketImpl";
  case ANDROID_FDSAN_OWNER_TYPE_ZIPARCHIVE: return "ZipArchive";
  case ANDROID_FDSAN_OWNER_TYPE_NATIVE_HANDLE: return "native_handle_t";
  case ANDROID_FDSAN_OWNER_TYPE_PARCEL: return "Parcel";
  case ANDROID_FDSAN_OWNER_TYPE_GENERIC_00:
  case ANDROID_FDSAN_OWNER_TYPE_GENERIC_FF: return "generic";
  default: {
    const char *named = __atomic_load_n(&owner_type_names[tag >> 56], __ATOMIC_ACQUIRE);
    return named ? named : "native object of unknown type";
  }
  }
}

uint64_t android_fdsan_get_tag_value(uint64_t tag) {
  /* The value is sign-extended from 56 bits, so that owner addresses round-trip. */
  uint64_t v = tag & ((UINT64_C(1) << 56) - 1);
  if (v & (UINT64_C(1) << 55)) v |= UINT64_C(0xff) << 56;
  return v;
}

uint64_t android_fdsan_get_owner_tag(int fd) {
  struct fd_entry *e = entry(fd, false);
  return e && state_of(e) == LG_FD_OPEN ? e->tag : 0;
}

void android_fdsan_exchange_owner_tag(int fd, uint64_t expected_tag, uint64_t new_tag) {
  if (!active()) return;
  void *frame = FRAME;
  lg_stack_id stack = capture(frame);
  lock();
  exchange_locked(fd, expected_tag, new_tag, "adopted", frame, stack);
  unlock();
}

int android_fdsan_close_with_tag(int fd, uint64_t tag) {
  if (!active()) return lg__get_close()(fd);
  return close_as(fd, tag, __builtin_frame_address(0));
}

lg_fd_state lg_fdcheck_state(int fd) {
  lg_fd_state s = state_of(entry(fd, false));
  return s == (lg_fd_state)FD_CLOSING ? LG_FD_OPEN
         : s == (lg_fd_state)FD_HELD  ? LG_FD_QUARANTINED
                                      : s;
}

size_t lg_fdcheck_quarantined(void) { return fifo_length(); }

uint64_t lg_fdcheck_mark(void) { return __atomic_load_n(&opens, __ATOMIC_RELAXED); }

size_t lg_fdcheck_leaks_since(uint64_t mark, const char *what) {
  if (!active()) return 0;
  void *frame = FRAME;
  size_t found = 0;
  lock();
  for (unsigned c = 0; c < NCHUNKS; c++) {
    struct fd_entry *chunk = atomic_load_explicit(&chunks[c], memory_order_acquire);
    if (!chunk) continue;
    for (int i = 0; i < CHUNK_SIZE; i++) {
      struct fd_entry *e = &chunk[i];
      if (state_of(e) != LG_FD_OPEN || e->opened_at <= mark) continue;
      int fd = (int)(c * CHUNK_SIZE + (unsigned)i);
      if (fd == placeholder_fd()) continue;
      found++;
      lg_report r = {.kind = "fd-leak", .fd = fd};
      snprintf(r.headline, sizeof r.headline, "on file descriptor %d (%s): still open when %s",
               fd, e->creator ? e->creator : "?", what);
      snprintf(r.detail, sizeof r.detail,
               "file descriptor %d was opened after the mark and nothing closed it: every "
               "descriptor opened since should have been closed by %s.", fd, what);
      finish_report(&r, fd, e, frame, false, e->tag != 0);
    }
  }
  unlock();
  return found;
}

size_t lg_fdcheck_flush_quarantine(void) { return release_oldest(SIZE_MAX); }

/* For tests: holds or drops fdcheck's lock, as another thread's open or report does. */
LG_HIDDEN void lg__fdcheck_hold_lock(bool hold);
void lg__fdcheck_hold_lock(bool hold) {
  if (hold) lock();
  else unlock();
}

/* ---- interceptors: creators ------------------------------------------------------- */

/* Defines an interceptor that creates one descriptor and returns it. */
#define CREATOR(ret, name, params, args, what)                                \
  FD_REAL(ret, name, params)                                                   \
  ret name params {                                                            \
    ret fd = lg__get_##name() args;                                            \
    if (active()) opened((int)fd, what, 0, FRAME);                              \
    return fd;                                                                 \
  }

static bool needs_mode(int flags) {
  return (flags & O_CREAT) || ((flags & O_TMPFILE) == O_TMPFILE);
}

/* Reads the optional mode argument of open/openat (its last named parameter is `flags`). */
#define READ_MODE(mode, flags)                                                 \
  do {                                                                         \
    if (needs_mode(flags)) {                                                   \
      va_list ap;                                                              \
      va_start(ap, flags);                                                     \
      mode = va_arg(ap, mode_t);                                               \
      va_end(ap);                                                              \
    }                                                                          \
  } while (0)

#define OPEN_LIKE(name)                                                        \
  FD_REAL(int, name, (const char *, int, ...))                                 \
  int name(const char *path, int flags, ...) {                                 \
    mode_t mode = 0;                                                           \
    READ_MODE(mode, flags);                                                    \
    int fd = lg__get_##name()(path, flags, mode);                              \
    if (active()) opened(fd, "open", 0, FRAME);                                 \
    return fd;                                                                 \
  }
OPEN_LIKE(open)
OPEN_LIKE(open64)

#define OPENAT_LIKE(name)                                                      \
  FD_REAL(int, name, (int, const char *, int, ...))                            \
  int name(int dirfd, const char *path, int flags, ...) {                      \
    mode_t mode = 0;                                                           \
    READ_MODE(mode, flags);                                                    \
    int fd = lg__get_##name()(dirfd, path, flags, mode);                       \
    if (active()) opened(fd, "open", 0, FRAME);                                 \
    return fd;                                                                 \
  }
OPENAT_LIKE(openat)
OPENAT_LIKE(openat64)

/* The _FORTIFY_SOURCE entry points of open. */
CREATOR(int, __open_2, (const char *p, int f), (p, f), "open")
CREATOR(int, __open64_2, (const char *p, int f), (p, f), "open")
CREATOR(int, __openat_2, (int d, const char *p, int f), (d, p, f), "open")
CREATOR(int, __openat64_2, (int d, const char *p, int f), (d, p, f), "open")
CREATOR(int, creat, (const char *p, mode_t m), (p, m), "open")
CREATOR(int, creat64, (const char *p, mode_t m), (p, m), "open")
CREATOR(int, socket, (int d, int t, int p), (d, t, p), "socket")
CREATOR(int, eventfd, (unsigned int v, int f), (v, f), "eventfd")
CREATOR(int, epoll_create, (int n), (n), "epoll")
CREATOR(int, epoll_create1, (int f), (f), "epoll")
CREATOR(int, memfd_create, (const char *n, unsigned int f), (n, f), "memfd")
CREATOR(int, timerfd_create, (int c, int f), (c, f), "timerfd")
CREATOR(int, inotify_init, (void), (), "inotify")
CREATOR(int, inotify_init1, (int f), (f), "inotify")

FD_REAL(int, signalfd, (int, const sigset_t *, int))
int signalfd(int fd, const sigset_t *mask, int flags) {
  int r = lg__get_signalfd()(fd, mask, flags);
  if (fd == -1 && active()) opened(r, "signalfd", 0, FRAME);
  return r;
}

#define PAIR_CREATOR(name, params, args, what)                                 \
  FD_REAL(int, name, params)                                                   \
  int name params {                                                            \
    int (*inject)(const void *) = __atomic_load_n(&lg__fd_inject_hook, __ATOMIC_ACQUIRE); \
    int e = inject ? inject(__builtin_return_address(0)) : 0;                  \
    if (e) {                                                                   \
      errno = e;                                                               \
      return -1;                                                               \
    }                                                                          \
    int r = lg__get_##name() args;                                             \
    if (r == 0 && active()) {                                                  \
      opened(pair[0], what, 0, FRAME);                                          \
      opened(pair[1], what, 0, FRAME);                                          \
    }                                                                          \
    return r;                                                                  \
  }
PAIR_CREATOR(pipe, (int pair[2]), (pair), "pipe")
PAIR_CREATOR(pipe2, (int pair[2], int f), (pair, f), "pipe")
PAIR_CREATOR(socketpair, (int d, int t, int p, int pair[2]), (d, t, p, pair), "socketpair")

/* dup2/dup3 onto a live descriptor closes it first: that close is checked like any other. */
FD_REAL(int, dup2, (int, int))

static int dup_onto(bool is_dup3, int oldfd, int newfd, int flags, void *frame) {
  const char *what = is_dup3 ? "dup3" : "dup2";
  if (oldfd != newfd && active()) {
    if (use_before(oldfd, what, frame) < 0) return -1;
    lg_stack_id stack = capture(frame);
    lock();
    struct fd_entry *e = entry(newfd, true);
    /* A parked number is held while the program's file replaces the placeholder on it, so
     * that no release closes it meanwhile. */
    bool held = e && claim_parked(e);
    if (e && state_of(e) == LG_FD_OPEN && e->tag != 0)
      report_foreign_close(newfd, e, 0, frame, is_dup3 ? "replaced by dup3" : "replaced by dup2");
    int r = is_dup3 ? lg__get_dup3()(oldfd, newfd, flags) : lg__get_dup2()(oldfd, newfd);
    if (r >= 0) opened_locked(r, what, 0, stack);
    else if (held) set_state(e, LG_FD_QUARANTINED);
    unlock();
    return r;
  }
  return is_dup3 ? lg__get_dup3()(oldfd, newfd, flags) : lg__get_dup2()(oldfd, newfd);
}

int dup2(int oldfd, int newfd) { return dup_onto(false, oldfd, newfd, 0, FRAME); }
int dup3(int oldfd, int newfd, int flags) { return dup_onto(true, oldfd, newfd, flags, FRAME); }

/* ---- interceptors: destroyers ----------------------------------------------------- */

int close(int fd) {
  if (!active()) return lg__get_close()(fd);
  return close_as(fd, 0, FRAME);
}

FD_REAL(int, close_range, (unsigned int, unsigned int, int))
/* Calls `visit` on every entry of the numbers first..last that exists. */
static void each_entry(unsigned int first, unsigned int last, void (*visit)(struct fd_entry *, void *),
                       void *arg) {
  unsigned int end = last < (unsigned)(NCHUNKS * CHUNK_SIZE) ? last : NCHUNKS * CHUNK_SIZE - 1;
  for (unsigned int fd = first; fd <= end; fd++) {
    struct fd_entry *e = entry((int)fd, false);
    if (e) visit(e, arg);
    else fd |= CHUNK_SIZE - 1; /* skip the whole missing chunk */
    if (fd == end) break;
  }
}

/* Holds the parked numbers of the range, so that no release closes them once the kernel
 * may have given them out again. */
static void hold_parked(struct fd_entry *e, void *arg) {
  (void)arg;
  claim_parked(e);
}

static void unhold_parked(struct fd_entry *e, void *arg) {
  (void)arg;
  if (state_of(e) == (lg_fd_state)FD_HELD) set_state(e, LG_FD_QUARANTINED);
}

static void range_closed(struct fd_entry *e, void *stack) {
  lg_fd_state s = state_of(e);
  if (s == LG_FD_OPEN) closed_locked(e, LG_FD_CLOSED, *(lg_stack_id *)stack);
  else if (s == (lg_fd_state)FD_HELD) set_state(e, LG_FD_CLOSED);
}

int close_range(unsigned int first, unsigned int last, int flags) {
  if ((flags & CLOSE_RANGE_CLOEXEC) || !active()) return lg__get_close_range()(first, last, flags);
  lg_stack_id stack = capture(FRAME);
  lock();
  each_entry(first, last, hold_parked, NULL);
  int r = lg__get_close_range()(first, last, flags);
  if (r == 0) {
    int ph = placeholder_fd();
    if (ph >= 0 && (unsigned)ph >= first && (unsigned)ph <= last) forget_placeholder();
    each_entry(first, last, range_closed, &stack);
  } else {
    each_entry(first, last, unhold_parked, NULL);
  }
  unlock();
  return r;
}

static uint64_t stdio_tag(enum android_fdsan_owner_type type, void *owner) {
  return lg__opts()->tag_stdio ? android_fdsan_create_owner_tag(type, (uint64_t)(uintptr_t)owner)
                               : 0;
}

/* Closes a stream or directory whose descriptor is *fdp: checks the close as `tag`, and, when
 * the quarantine is on, swaps a placeholder copy into *fdp so that the library's own close
 * releases that copy while the real number stays parked. The library's close (`finish`)
 * runs after fd_lock is dropped: it takes the stream and stream-list locks. */
static int close_object(int fd, int *fdp, uint64_t tag, void *frame, int (*finish)(void *),
                        void *obj) {
  lg_stack_id stack = capture(frame);
  lock();
  struct fd_entry *e = entry(fd, true);
  if (!e || fd == placeholder_fd()) {
    if (fd == placeholder_fd()) forget_placeholder();
    unlock();
    return finish(obj);
  }
  bool can_swap = fdp && *fdp == fd && fd > 2 && sentinel() >= 0;
  int copy = can_swap ? (int)syscall(SYS_fcntl, placeholder_fd(), F_DUPFD_CLOEXEC, 0) : -1;
  if (check_close(fd, e, tag, frame, "closed") == REFUSE) {
    /* The object is still freed, as the library would; its close must not release a
     * parked number, so it gets the placeholder copy to close instead. */
    if (copy >= 0) *fdp = copy;
    else if (claim_parked(e)) set_state(e, LG_FD_CLOSED); /* the library closes it now */
    unlock();
    finish(obj);
    errno = EBADF;
    return EOF;
  }
  if (quarantine_limit() == 0 && copy >= 0) {
    lg__sys_close(copy);
    copy = -1;
  }
  if (copy >= 0) {
    note_close(e, stack);
    retire(fd, e, placeholder_fd()); /* closes the real file, parks the number */
    *fdp = copy;                     /* the library's close releases the copy */
  } else {
    /* The library closes the real number itself, after the lock is dropped: until then the
     * number is still open, so nothing else can be given it. */
    closed_locked(e, LG_FD_CLOSED, stack);
  }
  unlock();
  return finish(obj);
}

static int finish_fclose(void *fp) { return lg__get_fclose()(fp); }
static int finish_closedir(void *d) { return lg__get_closedir()(d); }

/* stdin, stdout and stderr exist before any code runs and own their number (0, 1, 2), not a
 * particular file: whatever unowned file the program puts there (dup2(fd, 1), or an open
 * that takes a freed 0..2) is the stream's, and fclose(stdout) at exit closes it legitimately
 * (coreutils' close_stdout after `sort -o`). So a standard stream closing its own number
 * adopts an unowned descriptor there first; one owned by someone else is still reported. */
static void std_stream_adopts(FILE *fp, int fd, uint64_t tag) {
  if (!tag || fd > 2 || fp != (fd == 0 ? stdin : fd == 1 ? stdout : stderr)) return;
  lock();
  struct fd_entry *e = entry(fd, false);
  if (e && state_of(e) == LG_FD_OPEN && e->tag == 0) e->tag = tag;
  unlock();
}

int fclose(FILE *fp) {
  if (!fp || !active()) return lg__get_fclose()(fp);
  void *frame = FRAME;
  int fd = fileno(fp);
  if (fd < 0) return lg__get_fclose()(fp);
  std_stream_adopts(fp, fd, stdio_tag(ANDROID_FDSAN_OWNER_TYPE_FILE, fp));
  /* Write out what is buffered while the descriptor is still the real file. */
  lg__busy++;
  int flushed = lg__get_fflush()(fp);
  lg__busy--;
  int r = close_object(fd, &fp->_fileno, stdio_tag(ANDROID_FDSAN_OWNER_TYPE_FILE, fp), frame,
                       finish_fclose, fp);
  return flushed == 0 ? r : EOF;
}

int closedir(DIR *d) {
  if (!active()) return lg__get_closedir()(d);
  int fd = dirfd(d);
  /* glibc's DIR begins with its descriptor; use it only when it is where we expect it. */
  int *fdp = (fd >= 0 && *(int *)d == fd) ? (int *)d : NULL;
  return close_object(fd, fdp, stdio_tag(ANDROID_FDSAN_OWNER_TYPE_DIR, d), FRAME,
                      finish_closedir, d);
}

FD_REAL(int, pclose, (FILE *))
int pclose(FILE *fp) {
  if (!fp || !active()) return lg__get_pclose()(fp);
  void *frame = FRAME;
  int fd = fileno(fp);
  lg_stack_id stack = capture(frame);
  lock();
  struct fd_entry *e = entry(fd, true);
  bool ok = e && check_close(fd, e, stdio_tag(ANDROID_FDSAN_OWNER_TYPE_FILE, fp), frame,
                             "closed") == PROCEED;
  if (ok) set_state(e, LG_FD_OPEN); /* until pclose has waited for the command */
  unlock();
  int r = lg__get_pclose()(fp);
  if (ok) {
    lock();
    closed_locked(e, LG_FD_CLOSED, stack);
    unlock();
  }
  return r;
}

/* ---- interceptors: streams and directories (creators) ---------------------------- */

static FILE *stream_opened(FILE *fp, const char *what, void *frame) {
  if (fp && active()) {
    int fd = fileno(fp);
    opened(fd, what, stdio_tag(ANDROID_FDSAN_OWNER_TYPE_FILE, fp), frame);
  }
  return fp;
}

FD_REAL(FILE *, fopen, (const char *, const char *))
FILE *fopen(const char *p, const char *m) { return stream_opened(lg__get_fopen()(p, m), "FILE*", FRAME); }
FD_REAL(FILE *, fopen64, (const char *, const char *))
FILE *fopen64(const char *p, const char *m) {
  return stream_opened(lg__get_fopen64()(p, m), "FILE*", FRAME);
}
FD_REAL(FILE *, tmpfile, (void))
FILE *tmpfile(void) { return stream_opened(lg__get_tmpfile()(), "FILE*", FRAME); }
FD_REAL(FILE *, popen, (const char *, const char *))
FILE *popen(const char *c, const char *m) { return stream_opened(lg__get_popen()(c, m), "popen", FRAME); }

/* fdopen and fdopendir: the object takes over an existing descriptor, which keeps its
 * history; taking one that another owner holds is an owner mismatch, as under fdsan. */
static void taken_by_object(int fd, enum android_fdsan_owner_type type, void *obj,
                            const char *creator, void *frame) {
  uint64_t tag = stdio_tag(type, obj);
  if (tag == 0) return;
  lg_stack_id stack = capture(frame);
  lock();
  exchange_locked(fd, 0, tag, creator, frame, stack);
  unlock();
}

FD_REAL(FILE *, fdopen, (int, const char *))
FILE *fdopen(int fd, const char *m) {
  FILE *fp = lg__get_fdopen()(fd, m);
  if (fp && active()) taken_by_object(fd, ANDROID_FDSAN_OWNER_TYPE_FILE, fp, "FILE*", FRAME);
  return fp;
}

/* freopen closes the stream's old descriptor internally and opens a new one. */
#define FREOPEN_LIKE(name)                                                     \
  FD_REAL(FILE *, name, (const char *, const char *, FILE *))                  \
  FILE *name(const char *p, const char *m, FILE *fp) {                         \
    int old = (fp && active()) ? fileno(fp) : -1;                              \
    FILE *r = lg__get_##name()(p, m, fp);                                      \
    if (old >= 0) {                                                            \
      lg_stack_id stack = capture(FRAME);                             \
      lock();                                                                  \
      struct fd_entry *e = entry(old, false);                                  \
      if (e && state_of(e) == LG_FD_OPEN) closed_locked(e, LG_FD_CLOSED, stack); \
      unlock();                                                                \
    }                                                                          \
    return stream_opened(r, "FILE*", FRAME);                                   \
  }
FREOPEN_LIKE(freopen)
FREOPEN_LIKE(freopen64)

FD_REAL(DIR *, opendir, (const char *))
DIR *opendir(const char *p) {
  DIR *d = lg__get_opendir()(p);
  if (d && active()) opened(dirfd(d), "DIR*", stdio_tag(ANDROID_FDSAN_OWNER_TYPE_DIR, d), FRAME);
  return d;
}

FD_REAL(DIR *, fdopendir, (int))
DIR *fdopendir(int fd) {
  DIR *d = lg__get_fdopendir()(fd);
  if (d && active()) taken_by_object(fd, ANDROID_FDSAN_OWNER_TYPE_DIR, d, "DIR*", FRAME);
  return d;
}

/* ---- interceptors: uses ----------------------------------------------------------- */

/* Defines an interceptor for an operation on descriptor `fd`. */
#define USE(ret, name, params, args)                                           \
  FD_REAL(ret, name, params)                                                   \
  ret name params {                                                            \
    int chk = active() ? use_before(fd, #name, FRAME) : 0;                      \
    if (chk < 0) return -1;                                                    \
    ret r = lg__get_##name() args;                                             \
    if (chk > 0 && r < 0 && errno == EBADF) {                                  \
      use_after(fd, #name, FRAME);                                             \
      errno = EBADF;                                                           \
    }                                                                          \
    return r;                                                                  \
  }

/* Under `explore`, around a call that may wait for another thread of the program: the control
 * layer's hook waits (as a controlled block) until the call will not wait, or lets the thread
 * leave control for the call (internal.h). */
static inline int wait_before(int fd, short events, size_t len, int flags, const void *caller,
                              void *frame) {
  lg__fd_wait_fn hook = __atomic_load_n(&lg__fd_wait_hook, __ATOMIC_ACQUIRE);
  return __builtin_expect(hook != NULL, 0) ? hook(fd, events, len, flags, false, caller, frame)
                                           : 0;
}

static inline void wait_after(int left) {
  if (__builtin_expect(left, 0)) {
    int e = errno;
    lg__fd_done_hook();
    errno = e;
  }
}

static size_t iov_len(const struct iovec *v, int n) {
  size_t len = 0;
  for (int i = 0; v && i < n; i++) len += v[i].iov_len;
  return len;
}

/* USE, for a call that may wait: POLLIN or POLLOUT (0: connect), the bytes it writes, its
 * MSG_ flags. */
#define USE_WAITING(ret, name, params, args, events, len, flags)               \
  FD_REAL(ret, name, params)                                                   \
  ret name params {                                                            \
    int chk = active() ? use_before(fd, #name, FRAME) : 0;                     \
    if (chk < 0) return -1;                                                    \
    int left_ = wait_before(fd, events, len, flags, __builtin_return_address(0), FRAME); \
    ret r = lg__get_##name() args;                                             \
    wait_after(left_);                                                         \
    if (chk > 0 && r < 0 && errno == EBADF) {                                  \
      use_after(fd, #name, FRAME);                                             \
      errno = EBADF;                                                           \
    }                                                                          \
    return r;                                                                  \
  }

USE_WAITING(ssize_t, read, (int fd, void *b, size_t n), (fd, b, n), POLLIN, 0, 0)

/* write and send, which under `explore` may write a large buffer in pieces (wait_before). */
#define USE_WRITING(name, params, args, rest_args, flags)                      \
  FD_REAL(ssize_t, name, params)                                               \
  ssize_t name params {                                                        \
    int chk = active() ? use_before(fd, #name, FRAME) : 0;                     \
    if (chk < 0) return -1;                                                    \
    lg__fd_wait_fn hook = __atomic_load_n(&lg__fd_wait_hook, __ATOMIC_ACQUIRE); \
    int left_ = hook ? hook(fd, POLLOUT, n, flags, true, __builtin_return_address(0), FRAME) : 0; \
    ssize_t r;                                                                 \
    if (left_ == 2) {                                                          \
      const char *p = b;                                                       \
      size_t all = n, done = 0;                                                \
      for (;;) {                                                               \
        n = all - done < PIPE_BUF ? all - done : PIPE_BUF;                     \
        b = p + done;                                                          \
        r = lg__get_##name() rest_args;                                        \
        if (r < 0) break;                                                      \
        done += (size_t)r;                                                     \
        if (done == all) break;                                                \
        left_ = hook(fd, POLLOUT, all - done, flags, true, __builtin_return_address(0), FRAME); \
        if (left_ != 2) {                                                      \
          n = all - done;                                                      \
          b = p + done;                                                        \
          r = lg__get_##name() rest_args;                                      \
          wait_after(left_);                                                   \
          if (r >= 0) done += (size_t)r;                                       \
          break;                                                               \
        }                                                                      \
      }                                                                        \
      if (done > 0) r = (ssize_t)done; /* (a later piece's error: a short write) */ \
    } else {                                                                   \
      r = lg__get_##name() args;                                               \
      wait_after(left_);                                                       \
    }                                                                          \
    if (chk > 0 && r < 0 && errno == EBADF) {                                  \
      use_after(fd, #name, FRAME);                                             \
      errno = EBADF;                                                           \
    }                                                                          \
    return r;                                                                  \
  }

USE_WRITING(write, (int fd, const void *b, size_t n), (fd, b, n), (fd, b, n), 0)
USE_WRITING(send, (int fd, const void *b, size_t n, int f), (fd, b, n, f), (fd, b, n, f), f)
USE_WAITING(ssize_t, readv, (int fd, const struct iovec *v, int n), (fd, v, n), POLLIN, 0, 0)
USE_WAITING(ssize_t, writev, (int fd, const struct iovec *v, int n), (fd, v, n), POLLOUT,
            iov_len(v, n), 0)
USE(ssize_t, pread, (int fd, void *b, size_t n, off_t o), (fd, b, n, o))
USE(ssize_t, pwrite, (int fd, const void *b, size_t n, off_t o), (fd, b, n, o))
USE(ssize_t, pread64, (int fd, void *b, size_t n, off64_t o), (fd, b, n, o))
USE(ssize_t, pwrite64, (int fd, const void *b, size_t n, off64_t o), (fd, b, n, o))
USE_WAITING(ssize_t, sendto,
            (int fd, const void *b, size_t n, int f, const struct sockaddr *a, socklen_t l),
            (fd, b, n, f, a, l), POLLOUT, n, f)
USE_WAITING(ssize_t, sendmsg, (int fd, const struct msghdr *m, int f), (fd, m, f), POLLOUT,
            m ? iov_len(m->msg_iov, (int)m->msg_iovlen) : 0, f)
USE_WAITING(ssize_t, recv, (int fd, void *b, size_t n, int f), (fd, b, n, f), POLLIN, 0, f)
USE_WAITING(ssize_t, recvfrom,
            (int fd, void *b, size_t n, int f, struct sockaddr *a, socklen_t *l),
            (fd, b, n, f, a, l), POLLIN, 0, f)
USE_WAITING(ssize_t, recvmsg, (int fd, struct msghdr *m, int f), (fd, m, f), POLLIN, 0, f)
USE_WAITING(int, connect, (int fd, const struct sockaddr *a, socklen_t l), (fd, a, l), 0, 0, 0)
USE(int, bind, (int fd, const struct sockaddr *a, socklen_t l), (fd, a, l))
USE(int, listen, (int fd, int n), (fd, n))
USE(int, shutdown, (int fd, int how), (fd, how))
USE(int, getsockopt, (int fd, int l, int o, void *v, socklen_t *n), (fd, l, o, v, n))
USE(int, setsockopt, (int fd, int l, int o, const void *v, socklen_t n), (fd, l, o, v, n))
USE(int, getsockname, (int fd, struct sockaddr *a, socklen_t *l), (fd, a, l))
USE(int, getpeername, (int fd, struct sockaddr *a, socklen_t *l), (fd, a, l))
USE(int, fsync, (int fd), (fd))
USE(int, fdatasync, (int fd), (fd))
USE(int, ftruncate, (int fd, off_t n), (fd, n))
USE(off_t, lseek, (int fd, off_t o, int w), (fd, o, w))
USE(int, epoll_ctl, (int fd, int op, int t, struct epoll_event *ev), (fd, op, t, ev))
/* The _FORTIFY_SOURCE entry points. */
USE_WAITING(ssize_t, __read_chk, (int fd, void *b, size_t n, size_t cap), (fd, b, n, cap),
            POLLIN, 0, 0)
USE_WAITING(ssize_t, __recv_chk, (int fd, void *b, size_t n, size_t cap, int f),
            (fd, b, n, cap, f), POLLIN, 0, f)
USE_WAITING(ssize_t, __recvfrom_chk,
            (int fd, void *b, size_t n, size_t cap, int f, struct sockaddr *a, socklen_t *l),
            (fd, b, n, cap, f, a, l), POLLIN, 0, f)
USE(ssize_t, __pread_chk, (int fd, void *b, size_t n, off_t o, size_t cap), (fd, b, n, o, cap))
USE(ssize_t, __pread64_chk, (int fd, void *b, size_t n, off64_t o, size_t cap), (fd, b, n, o, cap))

FD_REAL(int, ioctl, (int, unsigned long, ...))
int ioctl(int fd, unsigned long req, ...) {
  va_list ap;
  va_start(ap, req);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  int chk = active() ? use_before(fd, "ioctl", FRAME) : 0;
  if (chk < 0) return -1;
  int r = lg__get_ioctl()(fd, req, arg);
  if (chk > 0 && r < 0 && errno == EBADF) use_after(fd, "ioctl", FRAME);
  return r;
}

/* A call on descriptor `fd` that creates another one (dup, accept): checked as a use of
 * `fd`, and the new descriptor recorded. */
#define USE_CREATOR(name, params, args, what, waits)                           \
  FD_REAL(int, name, params)                                                   \
  int name params {                                                            \
    void *frame = FRAME;                                                       \
    int left_ = 0;                                                             \
    if (!active()) {                                                           \
      if (waits) left_ = wait_before(fd, POLLIN, 0, 0, __builtin_return_address(0), frame); \
      int r_ = lg__get_##name() args;                                          \
      wait_after(left_);                                                       \
      return r_;                                                               \
    }                                                                          \
    int chk = use_before(fd, #name, frame);                                    \
    if (chk < 0) return -1;                                                    \
    if (waits) left_ = wait_before(fd, POLLIN, 0, 0, __builtin_return_address(0), frame); \
    int r = lg__get_##name() args;                                             \
    wait_after(left_);                                                         \
    if (chk > 0 && r < 0 && errno == EBADF) {                                  \
      use_after(fd, #name, frame);                                             \
      errno = EBADF;                                                           \
    }                                                                          \
    opened(r, what, 0, frame);                                                 \
    return r;                                                                  \
  }
USE_CREATOR(dup, (int fd), (fd), "dup", false)
USE_CREATOR(accept, (int fd, struct sockaddr *a, socklen_t *l), (fd, a, l), "accept", true)
USE_CREATOR(accept4, (int fd, struct sockaddr *a, socklen_t *l, int f), (fd, a, l, f),
            "accept", true)

/* Queries: how a program checks a descriptor (fstat, isatty, fcntl's F_GET*). On a closed
 * number they are uses like any other, reported before the program sees their EBADF: a
 * runtime that checks a descriptor it owns before closing it (and aborts on EBADF) is told
 * by lifeguard first. On a parked number fstat would otherwise describe the placeholder. */
USE(int, fstat, (int fd, struct stat *st), (fd, st))
USE(int, fstat64, (int fd, struct stat64 *st), (fd, st))
USE(int, fstatfs, (int fd, struct statfs *st), (fd, st))
USE(int, fstatfs64, (int fd, struct statfs64 *st), (fd, st))

/* The *at calls use `dirfd` when the path is relative or empty (AT_EMPTY_PATH). */
static bool uses_dirfd(const char *path) { return !path || path[0] != '/'; }
#define USE_AT(name, params, args)                                             \
  FD_REAL(int, name, params)                                                   \
  int name params {                                                            \
    int chk = (active() && uses_dirfd(path)) ? use_before(fd, #name, FRAME) : 0;       \
    if (chk < 0) return -1;                                                    \
    int r = lg__get_##name() args;                                             \
    if (chk > 0 && r < 0 && errno == EBADF) {                                  \
      use_after(fd, #name, FRAME);                                             \
      errno = EBADF;                                                           \
    }                                                                          \
    return r;                                                                  \
  }
USE_AT(fstatat, (int fd, const char *path, struct stat *st, int f), (fd, path, st, f))
USE_AT(fstatat64, (int fd, const char *path, struct stat64 *st, int f), (fd, path, st, f))
USE_AT(statx, (int fd, const char *path, int f, unsigned int m, struct statx *st),
       (fd, path, f, m, st))

FD_REAL(int, isatty, (int))
int isatty(int fd) {
  int chk = active() ? use_before(fd, "isatty", FRAME) : 0;
  if (chk < 0) return 0;
  int r = lg__get_isatty()(fd);
  if (chk > 0 && r == 0 && errno == EBADF) {
    use_after(fd, "isatty", FRAME);
    errno = EBADF;
  }
  return r;
}

/* fcntl: F_DUPFD* create a descriptor. On a closed number every command is a use, the
 * queries F_GETFD and F_GETFL included (see the queries above). */
static const char *fcntl_op(int cmd) {
  switch (cmd) {
  case F_GETFD: return "fcntl(F_GETFD)";
  case F_SETFD: return "fcntl(F_SETFD)";
  case F_GETFL: return "fcntl(F_GETFL)";
  case F_SETFL: return "fcntl(F_SETFL)";
  case F_DUPFD: return "fcntl(F_DUPFD)";
  case F_DUPFD_CLOEXEC: return "fcntl(F_DUPFD_CLOEXEC)";
  case F_GETLK: case F_SETLK: case F_SETLKW: return "fcntl(lock)";
  default: return "fcntl";
  }
}

FD_REAL(int, fcntl, (int, int, ...))
int fcntl(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  if (!active()) return lg__get_fcntl()(fd, cmd, arg);
  void *frame = FRAME;
  const char *op = fcntl_op(cmd);
  /* fcntl(F_GETFD) on a parked number is how a runtime checks a descriptor it owns just
   * before closing it (Rust's debug builds abort on EBADF there): it is answered as the
   * placeholder answers, so the close that follows is reported as what it is, a double
   * close. Any other use of the number is still reported at once. */
  if (cmd == F_GETFD && parked(fd)) return 0;
  int chk = use_before(fd, op, frame);
  if (chk < 0) return -1;
  int r = lg__get_fcntl()(fd, cmd, arg);
  if (chk > 0 && r < 0 && errno == EBADF) {
    use_after(fd, op, frame);
    errno = EBADF;
  }
  if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)) opened(r, "dup", 0, frame);
  return r;
}

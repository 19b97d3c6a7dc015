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
 * (the owner check, the history, the real close) until it stores the outcome. Only what is
 * shared by every descriptor takes fd_lock: parking the number in the quarantine's FIFO
 * (fd_quarantine > 0), and a report. A close that finds the number closed, unknown or
 * closing by another thread goes the locked way (after the other thread's close). */
#define _GNU_SOURCE
#include "internal.h"

#include <lifeguard/fdcheck.h>
#include <lifeguard/report.h>

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
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

/* An entry whose close is under way (not an lg_fd_state: lg_fdcheck_state says open). */
#define FD_CLOSING 0x40

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

static int sentinel_fd = -1;    /* the placeholder parked on quarantined numbers */
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
static int sentinel(void) {
  if (sentinel_fd >= 0) return sentinel_fd;
  int fd = -1;
  int mfd = (int)syscall(SYS_memfd_create, "lifeguard-fd-quarantine", MFD_CLOEXEC);
  if (mfd >= 0) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", mfd);
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
  sentinel_fd = fd;
  return fd;
}

/* Is the file now on `fd` our placeholder? (It may not be if something replaced it through
 * a path we do not see, e.g. a raw system call.) */
static bool holds_placeholder(int fd) {
  struct stat st;
  return sentinel_fd >= 0 && sys_fstat(fd, &st) == 0 && st.st_dev == sentinel_dev &&
         st.st_ino == sentinel_ino;
}

static bool is_open(int fd) { return syscall(SYS_fcntl, fd, F_GETFD) >= 0; }

/* ---- quarantine FIFO -------------------------------------------------------------- */

struct parked {
  int fd;
  uint32_t generation;
};
#define FIFO_MAX 65536 /* the largest fd_quarantine */
static struct parked *fifo;
static size_t fifo_head, fifo_len;

/* Closes the numbers in `fds` (sorted ascending, each our placeholder): every run of
 * consecutive numbers with one close_range, so a batch released in the order it was parked
 * (mostly consecutive numbers, since the kernel hands out the lowest free one) costs one or
 * a few system calls instead of one per number. Lock held. */
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

/* Releases the `n` oldest parked numbers (those still holding our placeholder under the
 * same generation; the others were reused or replaced meanwhile). Lock held. */
#define RELEASE_BATCH_MAX 1024
static void release_oldest(size_t n) {
  int fds[RELEASE_BATCH_MAX];
  while (n > 0 && fifo_len > 0) {
    size_t got = 0;
    for (; n > 0 && fifo_len > 0 && got < RELEASE_BATCH_MAX; n--) {
      struct parked p = fifo[fifo_head];
      fifo_head = (fifo_head + 1) % FIFO_MAX;
      fifo_len--;
      struct fd_entry *e = entry(p.fd, false);
      if (e && state_of(e) == LG_FD_QUARANTINED && e->generation == p.generation) {
        set_state(e, LG_FD_CLOSED);
        fds[got++] = p.fd;
      }
    }
    sort_nearly_sorted(fds, got);
    close_sorted(fds, got);
  }
}

/* Parks `fd` (closing its file atomically) if the quarantine is on; else closes it.
 * Returns the close result and the state the number is now in. Lock held. */
static int park_or_close(int fd, struct fd_entry *e, lg_fd_state *now) {
  size_t cap = (size_t)quarantine_limit();
  if (cap > 0 && fd > 2 && fd != sentinel_fd && sentinel() >= 0) {
    if (!fifo) {
      void *m = mmap(NULL, FIFO_MAX * sizeof *fifo, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      fifo = m == MAP_FAILED ? NULL : m;
    }
    if (fifo && lg__get_dup3()(sentinel_fd, fd, O_CLOEXEC) == fd) {
      /* Full: release the older half at once (one close_range per run of consecutive
       * numbers), so a parked number still waits at least half of fd_quarantine closes.
       * Releasing a quarter made the runs shorter: measured with bench fd_churn, 1.2 against
       * about 0.4 extra system calls per cycle. */
      if (fifo_len >= cap) release_oldest(fifo_len - cap + 1 + (cap - 1) / 2);
      fifo[(fifo_head + fifo_len) % FIFO_MAX] = (struct parked){fd, e ? e->generation : 0};
      fifo_len++;
      *now = LG_FD_QUARANTINED;
      return 0;
    }
  }
  *now = LG_FD_CLOSED;
  return lg__get_close()(fd);
}

/* A forked child usually closes every descriptor it inherited and execs (often enumerating
 * /proc/self/fd with a DIR* whose own descriptor it closes too), so by default it is not
 * checked until exec gives it a fresh image, as fdsan does. With check_forked_children=1
 * (prefork servers) it starts with a clean view instead: parked numbers released,
 * histories and owner tags forgotten, inherited descriptors known as open, and what it
 * opens and closes itself checked as usual. Only system calls and stores here: the child
 * of a multi-threaded parent may call nothing else. */
static void child_after_fork(void) {
  unchecked_child = !lg__opts()->check_forked_children;
  for (size_t i = 0; i < fifo_len; i++) {
    struct parked p = fifo[(fifo_head + i) % FIFO_MAX];
    struct fd_entry *e = entry(p.fd, false);
    if (e && state_of(e) == LG_FD_QUARANTINED && e->generation == p.generation) {
      lg__sys_close(p.fd);
      set_state(e, LG_FD_UNKNOWN);
    }
  }
  fifo_head = fifo_len = 0;
  for (unsigned c = 0; c < NCHUNKS; c++) {
    struct fd_entry *chunk = atomic_load(&chunks[c]);
    for (unsigned i = 0; chunk && i < CHUNK_SIZE; i++) {
      chunk[i].tag = 0;
      chunk[i].tag_stack = 0;
      if (state_of(&chunk[i]) != LG_FD_OPEN) set_state(&chunk[i], LG_FD_UNKNOWN);
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
static void opened_locked(int fd, const char *creator, uint64_t tag, lg_stack_id stack) {
  struct fd_entry *e = entry(fd, true);
  if (!e) return;
  if (fd == sentinel_fd) sentinel_fd = -1; /* the program replaced our placeholder */
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

static void closed_locked(struct fd_entry *e, lg_fd_state now, lg_stack_id stack) {
  e->close_stack = stack;
  e->close_tid = lg__gettid();
  e->tag = 0;
  set_state(e, now);
}

enum verdict { PROCEED, REFUSE };

/* Decides whether closing `fd` as owner `tag` may proceed, reporting what is wrong. On
 * REFUSE the descriptor is not live and close must fail with EBADF. Lock held. */
static enum verdict check_close(int fd, struct fd_entry *e, uint64_t tag, void *frame,
                                const char *how) {
  switch (state_of(e)) {
  case LG_FD_QUARANTINED:
    if (!holds_placeholder(fd)) { /* replaced behind our back: adopt it */
      set_state(e, LG_FD_OPEN);
      e->tag = 0;
      return PROCEED;
    }
    report_double_close(fd, e, tag, frame);
    return REFUSE;
  case LG_FD_CLOSED:
    if (is_open(fd)) { /* reused through a path we do not see */
      set_state(e, LG_FD_OPEN);
      e->tag = 0;
      e->open_stack = 0;
      return PROCEED;
    }
    report_double_close(fd, e, tag, frame);
    return REFUSE;
  case LG_FD_UNKNOWN:
    if (!is_open(fd)) return REFUSE;
    e->tag = 0;
    return PROCEED;
  case LG_FD_OPEN:
    if (e->tag != tag) report_foreign_close(fd, e, tag, frame, how);
    return PROCEED;
  }
  return PROCEED;
}

/* close() and close_with_tag(): check, then park or close. */
/* The close of `fd`, whose entry this thread moved to FD_CLOSING: the number is still open,
 * so nothing else can be given it until the real close. */
static int close_claimed(int fd, struct fd_entry *e, uint64_t tag, void *frame,
                         lg_stack_id stack) {
  if (__atomic_load_n(&e->tag, __ATOMIC_ACQUIRE) != tag) {
    lock();
    report_foreign_close(fd, e, tag, frame, "closed");
    unlock();
  }
  e->close_stack = stack;
  e->close_tid = lg__gettid();
  __atomic_store_n(&e->tag, 0, __ATOMIC_RELEASE);
  int saved = errno, r;
  if (quarantine_limit() > 0) { /* the FIFO is shared by every descriptor */
    lg_fd_state now;
    lock();
    r = park_or_close(fd, e, &now);
    set_state(e, now);
    unlock();
  } else {
    r = lg__get_close()(fd);
    /* closed: unless an open has taken the number meanwhile (its entry is then open) */
    uint8_t closing = FD_CLOSING;
    atomic_compare_exchange_strong(&e->state, &closing, (uint8_t)LG_FD_CLOSED);
  }
  if (r == 0) errno = saved;
  return r;
}

static int close_as(int fd, uint64_t tag, void *frame) {
  lg_stack_id stack = capture(frame);
  struct fd_entry *e = entry(fd, true);
  if (!e) return lg__get_close()(fd);
retry:
  for (;;) {
    uint8_t seen = LG_FD_OPEN;
    if (fd != sentinel_fd && atomic_compare_exchange_strong(&e->state, &seen, (uint8_t)FD_CLOSING))
      return close_claimed(fd, e, tag, frame, stack);
    if (seen != FD_CLOSING) break;
    sched_yield(); /* another thread closes it now: its outcome decides this close's */
  }
  lock();
  if (fd == sentinel_fd) { /* the program closes everything, our placeholder included */
    sentinel_fd = -1;
    unlock();
    return lg__get_close()(fd);
  }
  if (state_of(e) == (lg_fd_state)FD_CLOSING || state_of(e) == LG_FD_OPEN) {
    unlock(); /* opened or claimed since the compare-and-swap: decide again */
    goto retry;
  }
  if (check_close(fd, e, tag, frame, "closed") == REFUSE) {
    unlock();
    errno = EBADF;
    return -1;
  }
  lg_fd_state now;
  int saved = errno;
  int r = park_or_close(fd, e, &now);
  if (r == 0) errno = saved;
  closed_locked(e, now, stack);
  unlock();
  return r;
}

/* Checks a use of `fd` before the real call. Returns -1 (errno EBADF) to refuse the call,
 * 1 if the call's EBADF must be reported afterwards, 0 otherwise. */
/* Whether `fd` is a closed number the quarantine holds a placeholder on. */
static bool parked(int fd) {
  struct fd_entry *e = entry(fd, false);
  if (state_of(e) != LG_FD_QUARANTINED) return false;
  lock();
  bool r = state_of(e) == LG_FD_QUARANTINED && holds_placeholder(fd);
  unlock();
  return r;
}

static int use_before(int fd, const char *op, void *frame) {
  struct fd_entry *e = entry(fd, false);
  lg_fd_state s = state_of(e);
  if (s == LG_FD_OPEN || s == LG_FD_UNKNOWN) return 0;
  if (s == LG_FD_CLOSED) return 1;
  lock();
  int r = 0;
  if (state_of(e) == LG_FD_QUARANTINED) {
    if (holds_placeholder(fd)) {
      report_closed_use(fd, e, op, frame);
      r = -1;
    } else {
      set_state(e, LG_FD_OPEN);
    }
  }
  unlock();
  if (r < 0) errno = EBADF;
  return r;
}

static void use_after(int fd, const char *op, void *frame) {
  lock();
  struct fd_entry *e = entry(fd, false);
  if (e && state_of(e) == LG_FD_CLOSED) report_closed_use(fd, e, op, frame);
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
  lg_fd_state s = state_of(e);
  if (s == LG_FD_QUARANTINED && holds_placeholder(fd)) {
    report_closed_use(fd, e, "ownership exchange", frame);
    return;
  }
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
  return s == (lg_fd_state)FD_CLOSING ? LG_FD_OPEN : s;
}

size_t lg_fdcheck_quarantined(void) {
  lock();
  size_t n = fifo_len;
  unlock();
  return n;
}

size_t lg_fdcheck_flush_quarantine(void) {
  lock();
  size_t n = fifo_len;
  release_oldest(fifo_len);
  unlock();
  return n;
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
    if (e && state_of(e) == LG_FD_OPEN && e->tag != 0)
      report_foreign_close(newfd, e, 0, frame, is_dup3 ? "replaced by dup3" : "replaced by dup2");
    int r = is_dup3 ? lg__get_dup3()(oldfd, newfd, flags) : lg__get_dup2()(oldfd, newfd);
    if (r >= 0) opened_locked(r, what, 0, stack);
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
int close_range(unsigned int first, unsigned int last, int flags) {
  int r = lg__get_close_range()(first, last, flags);
  if (r != 0 || (flags & CLOSE_RANGE_CLOEXEC) || !active()) return r;
  lg_stack_id stack = capture(FRAME);
  lock();
  if (sentinel_fd >= 0 && (unsigned)sentinel_fd >= first && (unsigned)sentinel_fd <= last)
    sentinel_fd = -1;
  unsigned int end = last < (unsigned)(NCHUNKS * CHUNK_SIZE) ? last : NCHUNKS * CHUNK_SIZE - 1;
  for (unsigned int fd = first; fd <= end; fd++) {
    struct fd_entry *e = entry((int)fd, false);
    if (!e) {
      fd |= CHUNK_SIZE - 1; /* skip the whole missing chunk */
      continue;
    }
    lg_fd_state s = state_of(e);
    if (s == LG_FD_OPEN) closed_locked(e, LG_FD_CLOSED, stack);
    else if (s == LG_FD_QUARANTINED) set_state(e, LG_FD_CLOSED);
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
  if (!e || fd == sentinel_fd) {
    if (fd == sentinel_fd) sentinel_fd = -1;
    unlock();
    return finish(obj);
  }
  bool can_swap = fdp && *fdp == fd && fd > 2 && sentinel() >= 0;
  int copy = can_swap ? (int)syscall(SYS_fcntl, sentinel_fd, F_DUPFD_CLOEXEC, 0) : -1;
  if (check_close(fd, e, tag, frame, "closed") == REFUSE) {
    /* The object is still freed, as the library would; its close must not release a
     * parked number, so it gets the placeholder copy to close instead. */
    if (copy >= 0) *fdp = copy;
    else if (state_of(e) == LG_FD_QUARANTINED) set_state(e, LG_FD_CLOSED);
    unlock();
    finish(obj);
    errno = EBADF;
    return EOF;
  }
  lg_fd_state now = LG_FD_CLOSED;
  if (quarantine_limit() == 0 && copy >= 0) {
    lg__sys_close(copy);
    copy = -1;
  }
  if (copy >= 0) {
    park_or_close(fd, e, &now); /* closes the real file, parks the number */
    *fdp = copy;                /* the library's close releases the copy */
  }
  /* Without a copy the library closes the real number itself, after the lock is dropped:
   * until then the number is still open, so nothing else can be given it. */
  closed_locked(e, now, stack);
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

USE(ssize_t, read, (int fd, void *b, size_t n), (fd, b, n))
USE(ssize_t, write, (int fd, const void *b, size_t n), (fd, b, n))
USE(ssize_t, readv, (int fd, const struct iovec *v, int n), (fd, v, n))
USE(ssize_t, writev, (int fd, const struct iovec *v, int n), (fd, v, n))
USE(ssize_t, pread, (int fd, void *b, size_t n, off_t o), (fd, b, n, o))
USE(ssize_t, pwrite, (int fd, const void *b, size_t n, off_t o), (fd, b, n, o))
USE(ssize_t, pread64, (int fd, void *b, size_t n, off64_t o), (fd, b, n, o))
USE(ssize_t, pwrite64, (int fd, const void *b, size_t n, off64_t o), (fd, b, n, o))
USE(ssize_t, send, (int fd, const void *b, size_t n, int f), (fd, b, n, f))
USE(ssize_t, sendto, (int fd, const void *b, size_t n, int f, const struct sockaddr *a, socklen_t l),
    (fd, b, n, f, a, l))
USE(ssize_t, sendmsg, (int fd, const struct msghdr *m, int f), (fd, m, f))
USE(ssize_t, recv, (int fd, void *b, size_t n, int f), (fd, b, n, f))
USE(ssize_t, recvfrom, (int fd, void *b, size_t n, int f, struct sockaddr *a, socklen_t *l),
    (fd, b, n, f, a, l))
USE(ssize_t, recvmsg, (int fd, struct msghdr *m, int f), (fd, m, f))
USE(int, connect, (int fd, const struct sockaddr *a, socklen_t l), (fd, a, l))
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
USE(ssize_t, __read_chk, (int fd, void *b, size_t n, size_t cap), (fd, b, n, cap))
USE(ssize_t, __recv_chk, (int fd, void *b, size_t n, size_t cap, int f), (fd, b, n, cap, f))
USE(ssize_t, __recvfrom_chk,
    (int fd, void *b, size_t n, size_t cap, int f, struct sockaddr *a, socklen_t *l),
    (fd, b, n, cap, f, a, l))
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
#define USE_CREATOR(name, params, args, what)                                  \
  FD_REAL(int, name, params)                                                   \
  int name params {                                                            \
    if (!active()) return lg__get_##name() args;                               \
    void *frame = FRAME;                                                       \
    int chk = use_before(fd, #name, frame);                                    \
    if (chk < 0) return -1;                                                    \
    int r = lg__get_##name() args;                                             \
    if (chk > 0 && r < 0 && errno == EBADF) {                                  \
      use_after(fd, #name, frame);                                             \
      errno = EBADF;                                                           \
    }                                                                          \
    opened(r, what, 0, frame);                                                 \
    return r;                                                                  \
  }
USE_CREATOR(dup, (int fd), (fd), "dup")
USE_CREATOR(accept, (int fd, struct sockaddr *a, socklen_t *l), (fd, a, l), "accept")
USE_CREATOR(accept4, (int fd, struct sockaddr *a, socklen_t *l, int f), (fd, a, l, f), "accept")

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

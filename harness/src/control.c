/* SPDX-License-Identifier: MIT */
/* Thread control of an unmodified program (`lifeguard explore`): every thread is an actor,
 * exactly one runs at a time, and at each pthread call a decision source picks who runs next.
 *
 * Off (the default, and always outside liblifeguard-preload.so) every interceptor here is one
 * load and one predictable branch in front of libc's function: `lifeguard verify` and linked-in
 * programs see libc unchanged.
 *
 * On (explore=1, started by preload.c), threads stay real threads and a baton passes between
 * them: each actor has a futex word it sleeps on, and the actor that runs wakes the one chosen
 * next before it sleeps itself (CHESS's and Fray's design: the program's own synchronization
 * is modelled, not replaced, so a program that works free works under control). They run on
 * one CPU while under control (explore_pin, "one CPU" below), so a pass is a local wake-up
 * (or, with explore_spin, on two, the thread that passed the baton spinning for it: "the
 * baton" below):
 *   - scheduling points: pthread_create, join (try, timed and clock joins too), detach,
 *     exit; mutex lock, trylock, timedlock, clocklock, unlock; rwlock and spinlock acquire
 *     (timed and clock variants too) and release; semaphore wait (timed and clock too) and
 *     post; condition variable wait, timedwait, clockwait, signal, broadcast; barrier wait;
 *     pthread_once; sched_yield; nanosleep, clock_nanosleep, usleep, sleep; and the same
 *     calls of C11 <threads.h> (thrd_*, mtx_*, cnd_*, call_once), which glibc implements with
 *     its internal pthread functions, out of the other interceptors' sight. At each one, the
 *     runnable actors are the options; with two or more the source
 *     chooses (a decision, logged); the point's site says which call it was.
 *   - locks stay the program's real locks, taken only with their trylock forms: an actor whose
 *     trylock fails blocks on the object (not runnable) until an actor releases it, then
 *     retries. Recursive and error-checking mutexes behave as glibc makes them.
 *   - condition variables are shadowed: a waiter releases the mutex, blocks on the variable
 *     until a signal (the longest waiter) or broadcast (all) makes it runnable, then retakes
 *     the mutex. No spurious wake-ups are introduced. Barriers (initialized under control)
 *     and pthread_once are shadowed too: a real wait there would hold the baton.
 *   - time is virtual: a sleep or timed wait blocks until a deadline on a virtual clock, which
 *     jumps to the earliest deadline only when no actor can run. The wall and monotonic
 *     clocks the program reads run ahead by the virtual time passed (a timed wait that
 *     timed out finds its deadline passed when it reads the clock); CPU clocks do not.
 *   - every actor blocked and no deadline pending: a `deadlock` report (who waits on what)
 *     with the schedule string. More than explore_steps points: a `livelock` report.
 *   - the decisions go to the explore_log file as they are made (a shared mapping: a crash
 *     cannot lose them), from which the driver prints the schedule string; with
 *     explore_schedule the decisions of a schedule string are followed instead.
 *
 * Descriptor calls that would wait (fdcheck.c's read, write, recv, send, accept and their kin,
 * through lg__fd_wait_hook; poll, ppoll, epoll_wait and epoll_pwait without a timeout) block
 * under control (WAIT_FD) until a zero-timeout poll says the descriptor is ready: the waiting
 * actors' descriptors are probed at every scheduling point, all those ready become runnable,
 * and the source picks among the runnable as ever, so the order in which threads see their
 * descriptors ready is the schedule's (it replays). With nobody runnable and no deadline, the
 * process waits for real for a descriptor (another process may write). Futex waits made with
 * syscall(SYS_futex) block under control on the word (WAIT_FUTEX).
 *
 * The other system calls that may wait (poll, ppoll, epoll_wait, epoll_pwait with a finite
 * timeout other than zero; select and pselect; connect; large writev and sendmsg) leave
 * control: the actor is OUTSIDE (neither runnable nor blocked) while it is in the kernel,
 * another actor runs meanwhile, and it asks to rejoin when the call returns, under a lock (the
 * one piece of state a thread without the baton changes is its own OUTSIDE -> RUNNABLE): it
 * runs at once when nobody holds the baton, else when a scheduling point picks it. A deadlock is every live actor blocked and none
 * outside; with none runnable but some outside, the baton waits for the first to come back.
 * When a rejoin happens is up to the kernel, so a schedule with threads outside replays only
 * as far as their timing repeats (a replay that leaves the schedule says where).
 *
 * A thread that holds the baton and reaches no scheduling point (a spin on a plain or atomic
 * flag, a long computation, a blocking call lifeguard does not intercept) is preempted by a
 * watchdog thread when it has used the CPU or slept in the kernel for two of the watchdog's
 * ticks (explore_preempt_ms) while another actor could run: it goes on outside control, as a
 * thread in the kernel does, and its next call rejoins (see "the watchdog" below).
 *
 * Signals: an actor's calls are controlled only while it holds the baton (C.holder) and is
 * not inside point(), so a handler that runs in a parked actor (or one in the kernel) runs
 * free; the unlocks, posts and futex wakes it makes set C.kick, and at the next point the
 * actors blocked on locks, semaphores and futex words retry. pause, sigsuspend, sigwait*, and
 * the waits for children leave control.
 *
 * Not modelled: other futex operations (they pass through), a cancelled pthread_once
 * routine, timer signals and spurious wake-ups; calls made by the harness itself (its own
 * locks) and by threads whose actor finished (thread-local destructors) pass through. A
 * thread that is not an actor (glibc's own timer and AIO threads, threads started before
 * control) is adopted at its first controlled call (adopt()). A forked child runs free (the choice made:
 * its threads are real threads under the OS scheduler, and the parent's schedule does not
 * depend on it); so does a program the process executes after a decision (the decision log
 * file exists already; before any, the new program takes it over: take_over_log). Threads
 * that the program's constructors start are actors: control starts first. */
#define _GNU_SOURCE
#include "control_internal.h"
#include "report_internal.h"
#include "stack_internal.h"
#include "source_internal.h"

#include <lifeguard/report.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <link.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <threads.h>
#include <time.h>
#include <unistd.h>

#define MAX_ACTORS 1024
#define NEVER UINT64_MAX
#define LOG_CAPACITY (1u << 20) /* decisions the log file holds */

/* Sites: which call a decision was made at (static ids, as lg_sched's). */
enum {
  SITE_CREATE = 200, SITE_JOIN, SITE_DETACH, SITE_EXIT, SITE_LOCK, SITE_TRYLOCK, SITE_UNLOCK,
  SITE_WAIT, SITE_SIGNAL, SITE_BROADCAST, SITE_YIELD, SITE_SLEEP, SITE_BLOCKED, SITE_POST,
  SITE_LEAVE, SITE_FD, SITE_PREEMPT, SITE_FD_CREATE
};

/* Where the running actor is (its `phase`), for the watchdog that preempts a thread that
 * runs too long without a scheduling point: in the program's code (PROGRAM), in the
 * harness's (HARNESS: never preempted there), or preempted (PREEMPTED: another actor holds
 * the baton; the thread asks for it back before it touches the harness's state again). */
enum { PROGRAM, HARNESS, PREEMPTED };

/* OUTSIDE: in a system call that may block (it left control; it rejoins as RUNNABLE). */
typedef enum { RUNNABLE, BLOCKED, DONE, OUTSIDE } actor_state;
/* WAIT_FD: for descriptors to be ready (the actor's pfd), as the call it makes next needs. */
typedef enum {
  WAIT_NONE, WAIT_OBJECT, WAIT_COND, WAIT_JOIN, WAIT_SLEEP, WAIT_FD, WAIT_FUTEX
} wait_kind;

typedef struct actor {
  uint32_t id;          /* creation order: 0 is the main thread */
  actor_state state;
  wait_kind waiting;
  const void *wait_obj;
  uint64_t wait_seq;    /* a condition variable's waiters are woken in this order */
  uint64_t wake_at;     /* virtual deadline of a timed block, NEVER if none */
  bool timed_out;
  pthread_t thread;
  void *frame;          /* the interceptor's frame of its latest controlled call */
  struct pollfd *pfd;   /* WAIT_FD: the descriptors, any of which ready ends the wait */
  nfds_t npfd;
  struct pollfd one;    /* WAIT_FD on one descriptor: pfd points here */
  int go;               /* the baton: GO_RUN when this actor may run (below) */
  int phase;            /* PROGRAM, HARNESS or PREEMPTED (atomic) */
  pid_t tid;            /* the kernel's id of its thread (the watchdog reads its state) */
  int pinned;           /* explore_pin: its thread runs on the one CPU now (atomic) */
  int slot;             /* explore_spin: which of the two CPUs that is (atomic; pin_start) */
  cpu_set_t own;        /* explore_pin: the CPUs the program gave it (sched_getaffinity's) */
  uint64_t ran_at;      /* the turn (C.turn) it was last chosen at */
  uint64_t yield_at;    /* the turn it yielded at (fairness, below); 0: it did not */
  bool cancelled;       /* pthread_cancel was called on it (cancellation, below) */
  bool cancel_wait;     /* its WAIT_OBJECT block is a cancellation point (sem_wait) */
  bool started;         /* its thread has begun the program's function */
  bool cancel_later;    /* cancelled before it started: glibc is told when it starts */
} actor;

/* The state of the controlled process. Only the actor holding the baton reads or writes it. */
static struct {
  actor actors[MAX_ACTORS];
  uint32_t nactors;
  lg_source *src;
  lg_decision_log log;
  uint64_t points, budget, now, seq;
  uint64_t turn;              /* scheduling points that chose an actor, for fairness */
  uint32_t streak;            /* points in a row at which the running actor went on */
  /* Taken by the baton holder while it picks the next actor and by an actor rejoining from
   * the kernel: the only state another thread changes is its own OUTSIDE -> RUNNABLE. */
  int lock;
  bool idle;                  /* nobody holds the baton: every live actor is outside */
  actor *holder;              /* the actor holding the baton (NULL when idle), atomic */
  int kick;                   /* a release made outside control (a signal handler, a thread that
                               * is not an actor): blocked actors retry (atomic) */
  bool signalled;             /* the program sent itself a signal: a handler may release */
  uint64_t preempt_ns;        /* the watchdog's tick; 0: no watchdog */
  const lg_divergence *div;  /* replay: where it left the schedule */
  uint32_t inject_max;        /* failure injection's bound (lg_check's executions; 0: off) */
  uint32_t injected;          /* failures injected so far */
  uintptr_t self_lo, self_hi; /* this library's code: its own calls are not the program's */
} C;

static bool ctl_on; /* set once, before the program's code runs */
/* explore_pin: the actors under control run on this one CPU (see "one CPU" below); with
 * explore_spin, on two: an actor on pin_sets[its slot]. */
static bool pin_on;
static cpu_set_t pin_sets[2];
static bool pin_two;
#define pin_set_of(a) (&pin_sets[__atomic_load_n(&(a)->slot, __ATOMIC_RELAXED)])
static __thread actor *me __attribute__((tls_model("initial-exec")));
/* In point() or block_on(): a signal handler that interrupts the harness there runs free. */
static __thread int in_point __attribute__((tls_model("initial-exec")));
/* This thread's actor finished: what it still runs (key destructors) runs free. */
static __thread bool retired __attribute__((tls_model("initial-exec")));
/* Adopted threads (see adopt()) finish through this key's destructor. */
static pthread_key_t adopted_key;
static bool adopted_key_made;
static pid_t watchdog_tid; /* the harness's own thread, not the program's (0: none) */

/* The decision log file: a header and 16-byte records, little-endian (the driver reads it):
 * each decision with the index of the running actor among the options (LG_NO_CURRENT when it
 * was not one), so that the driver's dfs knows which options were preemptions. */
typedef struct log_file {
  char magic[8];      /* "LGXLOG2" */
  uint64_t count;     /* decisions recorded */
  uint64_t diverged;  /* replay: 1 + the step of the first mismatch, 0 if none */
  uint64_t capacity;
  uint64_t overflow;  /* decisions that did not fit */
  uint64_t pid;
  uint64_t reserved[2];
} log_file;
typedef struct __attribute__((packed)) log_record {
  uint8_t kind, pad;
  uint16_t site;
  uint32_t n, idx, current;
} log_record;
static log_file *Lf;

/* ---- the baton ---------------------------------------------------------------------- */

/* An actor's `go`: 0 not its turn, 1 its turn, 2 not its turn and asleep on the word (or
 * about to be): only then does a pass need the system call that wakes it. (libc's syscall,
 * not the interceptor below.) */
enum { GO_WAIT, GO_RUN, GO_ASLEEP };

LG_REAL(long, syscall, (long, ...))

static void futex_wait(int *w, int val) {
  lg__get_syscall()(SYS_futex, w, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(int *w) {
  lg__get_syscall()(SYS_futex, w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void give(actor *a) {
  if (__atomic_exchange_n(&a->go, GO_RUN, __ATOMIC_ACQ_REL) == GO_ASLEEP) futex_wake(&a->go);
}

/* explore_spin: the actor that has just passed the baton is the likeliest to get it back
 * next (in a hand-off between two threads, always), so before it sleeps on its word it
 * watches the word for up to spin_ns on its CPU: a pass back in that time then costs no
 * system call on either side (give() sees GO_WAIT, not GO_ASLEEP), where a sleep and a
 * wake-up cost the kernel's switch, 3 to 4 us on the machine docs/BENCHMARKS.md measures.
 * It pays only when the two threads are on different CPUs, so spinning is off when the
 * process has one CPU or explore_pin is off, and when on, the actors run on two CPUs
 * (pin_start). At most one
 * actor spins (the latest to pass: `spinner`); one that another takes the turn from goes to
 * sleep at once, so the spin holds at most one CPU besides the baton holder's, and for a
 * bounded time. The spin only moves when a thread wakes, never what is decided: the
 * decisions are made by the holder, under the state lock, from the state alone. A spinner
 * is in the harness's code (phase HARNESS, or a parked thread the watchdog never looks at:
 * it watches the holder only), and a signal handler that interrupts it runs free (in_point)
 * as in a sleeping one. Off by default: on the shared machine docs/BENCHMARKS.md measures,
 * busy enough that the two threads seldom have a CPU each at once, it cost more than it
 * saved. */
static uint64_t spin_ns;  /* 0: off */
static actor *spinner;    /* the actor that may spin now (atomic) */
/* The spins that ended without the baton, in a row (atomic); while there are SPIN_MISSES or
 * more (the thread passed to runs long, or the machine has no second CPU to give), one pass
 * in SPIN_PROBE spins, to notice when that ends; the others sleep at once. */
#define SPIN_MISSES 4
#define SPIN_PROBE 64
static unsigned spin_missed;
static unsigned spin_probe; /* (the baton holder's) */

static int clock_real(clockid_t clock, struct timespec *ts);

static uint64_t mono_ns(void) {
  struct timespec ts;
  if (clock_real(CLOCK_MONOTONIC, &ts) != 0) return UINT64_MAX; /* (ends the spin) */
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield" ::: "memory");
#else
  __asm__ __volatile__("" ::: "memory");
#endif
}

/* Watches `a`'s word for the baton while `a` is the spinner and the budget lasts. */
static void spin(actor *a) {
  __atomic_store_n(&spinner, a, __ATOMIC_RELAXED);
  uint64_t end = 0;
  for (unsigned i = 1;; i++) {
    if (__atomic_load_n(&a->go, __ATOMIC_ACQUIRE) == GO_RUN) {
      __atomic_store_n(&spin_missed, 0, __ATOMIC_RELAXED);
      return;
    }
    if ((i & 31) == 0) {
      if (__atomic_load_n(&spinner, __ATOMIC_RELAXED) != a) return;
      uint64_t t = mono_ns();
      if (!end) {
        end = t + spin_ns;
      } else if (t >= end) {
        __atomic_fetch_add(&spin_missed, 1, __ATOMIC_RELAXED);
        actor *self = a;
        __atomic_compare_exchange_n(&spinner, &self, NULL, false, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED);
        return;
      }
    }
    spin_pause();
  }
}

static long set_affinity(pid_t tid, const cpu_set_t *set);

/* `from` passes the baton to `to`: whether it spins for it, and with explore_pin the CPU `to`
 * runs on: the other one than `from`'s when `from` spins, else the same (a wake-up on the
 * CPU the passing thread leaves, as with one CPU). A move is one system call, made only when
 * the pair that passes changes. (Called with the state lock held, as rejoin's pin is made;
 * a new actor that pins itself meanwhile may read the old slot: a spin that misses, then.) */
static bool pass_spins(const actor *from, actor *to) {
  /* (spin_ns is 0 without pin_two; `to` not pinned: a new thread not yet started, one
   * back from the kernel not yet pinned, one whose CPUs are its own) */
  if (!spin_ns || !__atomic_load_n(&from->pinned, __ATOMIC_RELAXED) ||
      !__atomic_load_n(&to->pinned, __ATOMIC_ACQUIRE))
    return false;
  bool spins = __atomic_load_n(&spin_missed, __ATOMIC_RELAXED) < SPIN_MISSES ||
               ++spin_probe % SPIN_PROBE == 0;
  int want = __atomic_load_n(&from->slot, __ATOMIC_RELAXED) ^ spins;
  if (__atomic_load_n(&to->slot, __ATOMIC_RELAXED) != want) {
    __atomic_store_n(&to->slot, want, __ATOMIC_RELAXED);
    set_affinity(to->tid, &pin_sets[want]);
  }
  return spins;
}

/* Waits for the baton (`hot`: `a` has just passed it, and may spin first). */
static void park(actor *a, bool hot) {
  if (hot && spin_ns) spin(a);
  for (;;) {
    int v = __atomic_load_n(&a->go, __ATOMIC_ACQUIRE);
    if (v == GO_RUN) break;
    if (v == GO_WAIT && !__atomic_compare_exchange_n(&a->go, &v, GO_ASLEEP, false,
                                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
      continue;
    futex_wait(&a->go, GO_ASLEEP);
  }
  __atomic_store_n(&a->go, GO_WAIT, __ATOMIC_RELAXED);
}

/* ---- one CPU ------------------------------------------------------------------------ */

/* explore_pin: only one actor runs at a time, so they all run on one CPU while under
 * control. A pass of the baton is then a wake-up on the CPU the passing thread leaves, not an
 * interrupt to another CPU and that CPU's wake from idle (or its wait for whatever runs
 * there): docs/BENCHMARKS.md measures both. The program does not see it: sched_getaffinity
 * and pthread_getaffinity_np say the CPUs it gave the thread (`own`: the process's at the
 * start, a new thread's attribute's or its creator's, or what the program set since), and
 * a thread runs on those whenever it is not under control: in a call that leaves control,
 * preempted by the watchdog, after its actor finished, in a forked child, and across an
 * exec or spawn (the new program inherits the CPUs of the thread that started it). */
static long set_affinity(pid_t tid, const cpu_set_t *set) {
  return syscall(SYS_sched_setaffinity, tid, sizeof *set, set);
}

/* The actor `a` (the calling thread's own: tid 0 then) goes onto the one CPU / back onto its
 * own CPUs. */
static void pin(actor *a, pid_t tid) {
  if (!pin_on || __atomic_load_n(&a->pinned, __ATOMIC_RELAXED)) return;
  __atomic_store_n(&a->pinned, 1, __ATOMIC_RELEASE); /* (after its tid) */
  set_affinity(tid, pin_set_of(a));
}

static void unpin(actor *a, pid_t tid) {
  if (!__atomic_load_n(&a->pinned, __ATOMIC_RELAXED)) return;
  __atomic_store_n(&a->pinned, 0, __ATOMIC_RELAXED);
  set_affinity(tid, &a->own);
}

/* Chooses the CPU (the one the calling thread, actor 0, runs on, if it is one of its own),
 * and pins actor 0. Off when the kernel refuses. With explore_spin (`two`), two CPUs, that
 * one (slot 0) and the next of its own (slot 1), and each actor is on one of them
 * (pass_spins moves them): a set of both CPUs would not do, since the kernel wakes the
 * thread passed to on the CPU of the thread that wakes it, behind the spinner. */
static void pin_start(actor *a0, bool two) {
  CPU_ZERO(&a0->own);
  if (syscall(SYS_sched_getaffinity, 0, sizeof a0->own, &a0->own) < 0) return;
  int cpu = sched_getcpu();
  if (cpu < 0 || cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &a0->own))
    for (cpu = 0; cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &a0->own); cpu++) continue;
  if (cpu >= CPU_SETSIZE) return;
  CPU_ZERO(&pin_sets[0]);
  CPU_SET(cpu, &pin_sets[0]);
  bool found = false;
  for (int i = 1; two && !found && i < CPU_SETSIZE; i++) {
    int other = (cpu + i) % CPU_SETSIZE;
    if ((found = CPU_ISSET(other, &a0->own))) {
      CPU_ZERO(&pin_sets[1]);
      CPU_SET(other, &pin_sets[1]);
    }
  }
  if (set_affinity(0, &pin_sets[0]) != 0) return;
  a0->pinned = 1;
  pin_on = true;
  pin_two = found;
}

/* ---- reports ------------------------------------------------------------------------ */

static char schedule_text[16384];

static const char *schedule_for_report(void) {
  lg_schedule_format(&C.log, schedule_text, sizeof schedule_text);
  return schedule_text;
}

static void describe_wait(char *out, size_t cap, const actor *a) {
  static const char *what[] = {"nothing", "a lock or semaphore", "a condition variable",
                               "a thread to end", "a timer", "a descriptor",
                               "a futex word"};
  if (a->waiting == WAIT_JOIN) {
    const actor *t = a->wait_obj;
    snprintf(out, cap, "actor %u waits for actor %u to end", a->id, t->id);
  } else {
    snprintf(out, cap, "actor %u waits for %s at %p", a->id, what[a->waiting], a->wait_obj);
  }
}

__attribute__((noreturn)) static void deadlock(void) {
  lg_report r = {.kind = "deadlock", .fd = -1};
  unsigned blocked = 0;
  for (uint32_t i = 0; i < C.nactors; i++) blocked += C.actors[i].state == BLOCKED;
  snprintf(r.headline, sizeof r.headline,
           "of %u thread%s under explore: every live thread is blocked", blocked,
           blocked == 1 ? "" : "s");
  size_t len = 0;
  for (uint32_t i = 0; i < C.nactors; i++) {
    if (C.actors[i].state != BLOCKED) continue;
    char line[160];
    describe_wait(line, sizeof line, &C.actors[i]);
    int n = snprintf(r.detail + len, sizeof r.detail - len, "%s%s", len ? "\n" : "", line);
    if (n > 0 && len + (size_t)n < sizeof r.detail) len += (size_t)n;
  }
  r.stacks[0] = (lg_report_stack){.name = "current", .id = lg_stack_capture(me->frame),
                                  .tid = (int)lg__gettid()};
  r.nstacks = 1;
  lg_report_emit(&r);
  abort(); /* halt_on_error=0: the program cannot go on all the same */
}

__attribute__((noreturn)) static void livelock(void) {
  lg_report r = {.kind = "livelock", .fd = -1};
  snprintf(r.headline, sizeof r.headline,
           "after %llu scheduling points (explore_steps) in thread actor %u",
           (unsigned long long)C.budget, me ? me->id : 0);
  r.stacks[0] = (lg_report_stack){.name = "current",
                                  .id = lg_stack_capture(me ? me->frame : NULL),
                                  .tid = (int)lg__gettid()};
  r.nstacks = 1;
  lg_report_emit(&r);
  abort();
}

/* ---- deciding ----------------------------------------------------------------------- */

static void record(const lg_choice *c, uint32_t idx) {
  lg_decision d = {(uint8_t)c->kind, c->site, c->n, idx};
  (void)lg_log_append(&C.log, d);
  if (!Lf) return;
  if (Lf->count < Lf->capacity) {
    log_record *rec = (log_record *)(Lf + 1) + Lf->count;
    *rec = (log_record){d.kind, 0, d.site, d.n, d.idx, c->current};
    __atomic_store_n(&Lf->count, Lf->count + 1, __ATOMIC_RELEASE);
  } else {
    Lf->overflow++;
  }
  if (C.div && C.div->diverged && !Lf->diverged) Lf->diverged = C.div->step + 1;
}

/* Wakes the timed blocks with the earliest deadline, moving virtual time there. */
static bool advance_time(void) {
  uint64_t t = NEVER;
  for (uint32_t i = 0; i < C.nactors; i++)
    if (C.actors[i].state == BLOCKED && C.actors[i].wake_at < t) t = C.actors[i].wake_at;
  if (t == NEVER) return false;
  C.now = t;
  for (uint32_t i = 0; i < C.nactors; i++) {
    actor *a = &C.actors[i];
    if (a->state == BLOCKED && a->wake_at == t) {
      a->state = RUNNABLE;
      a->timed_out = true;
      a->wake_at = NEVER;
    }
  }
  return true;
}

/* poll(2) without a wait (ms 0) or with one (ms < 0: none), not through the interceptor. */
static int sys_poll(struct pollfd *f, nfds_t n, int ms) {
  struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
  return (int)syscall(SYS_ppoll, f, n, ms < 0 ? NULL : &t, NULL, (size_t)8);
}

/* The actors waiting for descriptors whose descriptors are ready now become runnable (they
 * retry their call). Returns how many were; `*still` how many go on waiting. */
static unsigned wake_ready(unsigned *still) {
  unsigned woken = 0, waiting = 0;
  for (uint32_t i = 0; i < C.nactors; i++) {
    actor *a = &C.actors[i];
    if (a->state != BLOCKED || a->waiting != WAIT_FD) continue;
    if (sys_poll(a->pfd, a->npfd, 0) != 0) { /* ready, or an error the call will see */
      a->state = RUNNABLE;
      a->wake_at = NEVER;
      woken++;
    } else {
      waiting++;
    }
  }
  *still = waiting;
  return woken;
}

/* The descriptors the actors wait for, at most `cap` (taken with the state lock held). */
#define MAX_WATCHED 256
static nfds_t watched_fds(struct pollfd *all) {
  nfds_t k = 0;
  for (uint32_t i = 0; i < C.nactors; i++) {
    const actor *a = &C.actors[i];
    if (a->state != BLOCKED || a->waiting != WAIT_FD) continue;
    for (nfds_t j = 0; j < a->npfd && k < MAX_WATCHED; j++) all[k++] = a->pfd[j];
  }
  return k;
}

static void set_holder(actor *a) { __atomic_store_n(&C.holder, a, __ATOMIC_RELEASE); }

/* Releases were made outside control (kick): the actors blocked on a lock, a semaphore, a
 * barrier or a futex word retry (a retry that finds nothing is a block again). */
static void kicked(void) {
  __atomic_store_n(&C.kick, 0, __ATOMIC_RELAXED);
  for (uint32_t i = 0; i < C.nactors; i++) {
    actor *a = &C.actors[i];
    if (a->state == BLOCKED && (a->waiting == WAIT_OBJECT || a->waiting == WAIT_FUTEX)) {
      a->state = RUNNABLE;
      a->wake_at = NEVER;
    }
  }
}

/* Every actor is blocked, and the program has sent itself signals: a handler running in a
 * parked thread may still release one (kick). Waits a little for that (lock held: a handler
 * does not take it); true when it came. */
static bool kick_comes(void) {
  for (int i = 0; i < 100; i++) {
    if (__atomic_load_n(&C.kick, __ATOMIC_RELAXED)) return true;
    struct timespec t = {0, 1000000};
    syscall(SYS_nanosleep, &t, NULL);
  }
  return __atomic_load_n(&C.kick, __ATOMIC_RELAXED);
}

static void state_lock(void) {
  while (__atomic_exchange_n(&C.lock, 1, __ATOMIC_ACQUIRE)) syscall(SYS_sched_yield);
}

static void state_unlock(void) { __atomic_store_n(&C.lock, 0, __ATOMIC_RELEASE); }

/* Nobody holds the baton (every actor that could run is in the kernel) and some wait for
 * descriptors: watches those until one is ready (true: the baton is taken back, the state
 * lock held) or an actor comes back from the kernel and takes the baton (false). */
static bool idle_wait_fds(void) {
  for (;;) {
    state_lock();
    unsigned still;
    if (!C.idle) {
      state_unlock();
      return false;
    }
    if (wake_ready(&still)) {
      C.idle = false;
      return true;
    }
    if (!still) {
      state_unlock();
      return false;
    }
    struct pollfd all[MAX_WATCHED];
    nfds_t k = watched_fds(all);
    state_unlock();
    sys_poll(all, k, 10); /* (in slices: an actor that comes back takes the baton meanwhile) */
  }
}

/* The live threads of the process that are neither actors nor the harness's own: glibc's
 * SIGEV_THREAD timer and AIO threads (started inside the C library, not through the
 * pthread_create lifeguard sees), threads started before control, and finished actors'
 * threads still exiting. Every actor blocked while one lives is not yet a deadlock: it may
 * call in (and be adopted) and release what the actors wait for. State lock held. */
static unsigned foreign_threads(void) {
  pid_t self = lg__gettid();
  int fd = lg__sys_open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (fd < 0) return 0;
  unsigned foreign = 0;
  char buf[4096];
  for (;;) {
    long got = syscall(SYS_getdents64, fd, buf, sizeof buf);
    if (got <= 0) break;
    for (long off = 0; off < got;) {
      const struct dirent64 *d = (const void *)(buf + off);
      off += d->d_reclen;
      if (d->d_name[0] < '0' || d->d_name[0] > '9') continue;
      pid_t tid = (pid_t)strtol(d->d_name, NULL, 10);
      /* (nor the caller: an actor that finished, asking at its last point, would wait for
       * its own thread to end, for ever, instead of reporting the deadlock) */
      if (tid == watchdog_tid || tid == self) continue;
      bool actor_alive = false;
      for (uint32_t i = 0; i < C.nactors && !actor_alive; i++)
        actor_alive = C.actors[i].tid == tid && C.actors[i].state != DONE;
      foreign += !actor_alive;
    }
  }
  lg__sys_close(fd);
  return foreign;
}

/* Every actor is blocked, nobody holds the baton, and threads that are not actors live (lock
 * not held): waits for one of them to call in and take the baton (false), for a release made
 * outside control (true: the baton taken back, the state lock held), or, once none is left,
 * reports the deadlock. */
static bool idle_wait_foreign(void) {
  for (;;) {
    struct timespec t = {0, 10000000};
    syscall(SYS_nanosleep, &t, NULL);
    state_lock();
    if (!C.idle) {
      state_unlock();
      return false;
    }
    if (__atomic_load_n(&C.kick, __ATOMIC_RELAXED)) {
      /* a release made outside control (a signal handler): the blocked retry */
      C.idle = false;
      set_holder(me);
      return true;
    }
    if (!foreign_threads()) {
      C.idle = false;
      set_holder(me);
      state_unlock();
      deadlock();
    }
    state_unlock();
  }
}

/* A scheduling point of the running actor (runnable, blocked, done or leaving): picks who runs
 * next and passes the baton. Returns when `me` runs again (at once when it is done or
 * leaving). When no actor can run, virtual time moves on; when none is waiting for it
 * either but some are in the kernel, the baton is left for the first to come back. */
static void point_in(uint16_t site);

static void ctl_enter(void);

static void point(uint16_t site) {
  in_point++;
  ctl_enter();
  point_in(site);
  __atomic_store_n(&me->phase, PROGRAM, __ATOMIC_RELEASE);
  in_point--;
}

/* Fairness. A thread that yields (sched_yield, thrd_yield, a sleep of 0) or that has gone on
 * at FAIR_STREAK scheduling points in a row while others could run is demoted: it is not an
 * option while another runnable actor has not been chosen since it yielded (unless every
 * option is demoted). Without this, a strategy that keeps choosing one thread (pct's
 * highest priority, dfs's "no preemption") would spin for ever in a loop of yields or of
 * lock/unlock while the thread it waits for never runs: a false livelock, and a program that
 * ends under any fair OS scheduler would not end under control. A yield is then not a
 * preemption (the yielder is no option). As the rest, a function of the run's decisions: a
 * schedule string replays. */
#define FAIR_STREAK 1000

static bool demoted(const actor *y, const uint32_t *ids, uint32_t n) {
  if (!y->yield_at) return false;
  for (uint32_t i = 0; i < n; i++) {
    const actor *x = &C.actors[ids[i]];
    if (x != y && x->ran_at < y->yield_at) return true;
  }
  return false;
}

/* Drops the demoted options from `ids` (none when all are): returns the new count, and
 * `*current` the running actor's new index (LG_NO_CURRENT when it was dropped). */
static uint32_t fair_options(uint32_t *ids, uint32_t n, uint32_t *current) {
  bool keep[MAX_ACTORS];
  uint32_t kept = 0;
  for (uint32_t i = 0; i < n; i++) kept += keep[i] = !demoted(&C.actors[ids[i]], ids, n);
  if (kept == 0 || kept == n) return n;
  uint32_t k = 0, cur = LG_NO_CURRENT;
  for (uint32_t i = 0; i < n; i++) {
    if (!keep[i]) continue;
    if (i == *current) cur = k;
    ids[k++] = ids[i];
  }
  *current = cur;
  return k;
}

static void point_in(uint16_t site) {
  actor *self = me;
  uint64_t points = __atomic_load_n(&C.points, __ATOMIC_RELAXED) + 1;
  __atomic_store_n(&C.points, points, __ATOMIC_RELAXED);
  if (points > C.budget) livelock();
  uint32_t ids[MAX_ACTORS];
  uint32_t n, current;
  state_lock();
  for (;;) {
    unsigned fd_waiters;
    if (__atomic_load_n(&C.kick, __ATOMIC_RELAXED)) kicked();
    wake_ready(&fd_waiters);
    n = 0;
    current = LG_NO_CURRENT;
    bool outside = false;
    for (uint32_t i = 0; i < C.nactors; i++) {
      outside |= C.actors[i].state == OUTSIDE;
      if (C.actors[i].state != RUNNABLE) continue;
      if (&C.actors[i] == self) current = n;
      ids[n++] = i;
    }
    if (n > 0) break;
    if (advance_time()) continue;
    if (fd_waiters && !outside) {
      /* only a descriptor can end a wait now: one written by another process */
      struct pollfd all[MAX_WATCHED];
      nfds_t k = watched_fds(all);
      state_unlock();
      sys_poll(all, k, -1);
      state_lock();
      continue;
    }
    if (!outside && C.signalled && kick_comes()) continue;
    if (!outside && !foreign_threads()) {
      state_unlock();
      deadlock();
    }
    if (!outside) {
      /* threads that are not actors yet may still call in (adopt) and release: wait for
       * them as for actors in the kernel, while any is alive */
      C.idle = true;
      set_holder(NULL);
      state_unlock();
      if (idle_wait_foreign()) continue;
      if (self->state == BLOCKED || self->state == RUNNABLE) park(self, false);
      return;
    }
    C.idle = true;
    set_holder(NULL);
    state_unlock();
    if (fd_waiters && self->state != OUTSIDE && idle_wait_fds()) continue;
    if (self->state == BLOCKED || self->state == RUNNABLE) park(self, false);
    return;
  }
  C.turn++;
  if (current != LG_NO_CURRENT && n > 1 &&
      ((site == SITE_YIELD || site == SITE_SLEEP) || ++C.streak >= FAIR_STREAK))
    self->yield_at = C.turn;
  n = fair_options(ids, n, &current);
  uint32_t idx = 0;
  if (n > 1) {
    lg_choice c = {LG_CHOICE_SCHEDULE, site, n, current, ids, C.log.len};
    idx = C.src->choose(C.src, &c);
    if (idx >= n) idx = 0;
    record(&c, idx);
  }
  actor *next = &C.actors[ids[idx]];
  if (next != self) C.streak = 0;
  next->ran_at = C.turn;
  next->yield_at = 0;
  set_holder(next);
  bool spins = next != self && pass_spins(self, next);
  state_unlock();
  if (next == self) return;
  give(next);
  if (self->state == RUNNABLE || self->state == BLOCKED) park(self, spins);
}

/* The running actor goes into a system call that may block: another actor runs meanwhile. */
static void leave(void) {
  unpin(me, 0);
  me->state = OUTSIDE;
  point(SITE_LEAVE);
}

/* Back from the kernel: runnable again; runs at once if nobody holds the baton, else when a
 * scheduling point picks it. */
static void rejoin(void) {
  state_lock();
  pin(me, 0); /* (after the watchdog's unpin, which it makes with the lock held) */
  me->state = RUNNABLE;
  if (C.idle) {
    C.idle = false;
    set_holder(me);
    state_unlock();
  } else {
    state_unlock();
    park(me, false);
  }
  __atomic_store_n(&me->phase, PROGRAM, __ATOMIC_RELEASE);
}

/* The running actor is about to touch the harness's state: from here to its next scheduling
 * point (or ctl_leave) the watchdog leaves it alone. If the watchdog preempted it while it
 * ran the program's code, it first waits for the baton, as a thread back from the kernel
 * does (in_point meanwhile: a signal handler that runs in it then runs free). */
static void ctl_enter(void) {
  actor *self = me;
  for (;;) {
    int p = PROGRAM;
    if (__atomic_compare_exchange_n(&self->phase, &p, HARNESS, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE) ||
        p == HARNESS)
      return;
    in_point++;
    rejoin(); /* PREEMPTED: OUTSIDE -> RUNNABLE, then phase PROGRAM again */
    in_point--;
  }
}

/* The end of a section begun with ctl_enter that ends without a scheduling point (which
 * would end it): the thread is back in the program's code. Every such section ends with one
 * or the other, so a thread that spins after any call can be preempted. */
static void ctl_leave(void) { __atomic_store_n(&me->phase, PROGRAM, __ATOMIC_RELEASE); }

/* Whether the watchdog took the baton from the calling actor: its next call of the
 * program's rejoins (controlled() below). */
static inline bool preempted(void) {
  return __atomic_load_n(&me->phase, __ATOMIC_ACQUIRE) == PREEMPTED;
}

/* ---- the watchdog --------------------------------------------------------------------- */

/* A thread that runs the program's code for a long time without a scheduling point (a spin
 * on a plain flag, a loop on atomics, a system call that is not intercepted) would keep the
 * baton for ever while the thread it waits for never runs. The watchdog, a thread of the
 * harness's that is not an actor, looks every preempt_ns: when the same actor has held the
 * baton with no scheduling point for two looks in a row, is in the program's code, and
 * another actor can run, it takes the baton from it as a scheduling point of its own
 * (SITE_PREEMPT, a decision among the others): the preempted thread goes on running
 * outside control, as one in the kernel does, and rejoins at its next call. When this
 * happens depends on the machine's timing, so a schedule with preemptions replays only as
 * far as the timing repeats (the driver says where a replay left its schedule). */
static void preempt(actor *h) {
  uint32_t ids[MAX_ACTORS];
  uint32_t n = 0;
  state_lock();
  if (__atomic_load_n(&C.holder, __ATOMIC_RELAXED) != h || h->state != RUNNABLE) {
    state_unlock();
    return;
  }
  for (uint32_t i = 0; i < C.nactors; i++)
    if (C.actors[i].state == RUNNABLE && &C.actors[i] != h) ids[n++] = i;
  int p = PROGRAM;
  if (n == 0 || !__atomic_compare_exchange_n(&h->phase, &p, PREEMPTED, false, __ATOMIC_ACQ_REL,
                                             __ATOMIC_ACQUIRE)) {
    state_unlock();
    return;
  }
  h->state = OUTSIDE;
  unpin(h, h->tid); /* (before it can rejoin: that takes the state lock) */
  uint32_t idx = 0;
  if (n > 1) {
    lg_choice c = {LG_CHOICE_SCHEDULE, SITE_PREEMPT, n, LG_NO_CURRENT, ids, C.log.len};
    idx = C.src->choose(C.src, &c);
    if (idx >= n) idx = 0;
    record(&c, idx);
  }
  actor *next = &C.actors[ids[idx]];
  set_holder(next);
  state_unlock();
  give(next);
}

/* The CPU time of `a`'s thread, in ns (0 when it cannot be read). */
static uint64_t cpu_ns(const actor *a) {
  clockid_t clock;
  struct timespec ts;
  if (pthread_getcpuclockid(a->thread, &clock) != 0 || clock_gettime(clock, &ts) != 0) return 0;
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Whether `a`'s thread sleeps in the kernel (state S or D in /proc/self/task/TID/stat). */
static bool in_kernel(const actor *a) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)a->tid);
  int fd = lg__sys_open(path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return false;
  ssize_t n = lg__sys_read(fd, buf, sizeof buf - 1);
  lg__sys_close(fd);
  if (n <= 0) return false;
  buf[n] = 0;
  const char *close_paren = strrchr(buf, ')');
  return close_paren && close_paren[1] == ' ' && (close_paren[2] == 'S' || close_paren[2] == 'D');
}

/* Whether every actor has finished: main called pthread_exit and every other thread of the
 * program has ended too. The process then ends when its last thread does (glibc's exit(0)),
 * and that must not be the watchdog, which would otherwise keep it alive for ever: the
 * watchdog ends first. (No actor is left to start another; a thread adopted later runs
 * without one.) */
static bool program_over(void) {
  uint32_t n = __atomic_load_n(&C.nactors, __ATOMIC_ACQUIRE);
  for (uint32_t i = 0; i < n; i++)
    if (__atomic_load_n(&C.actors[i].state, __ATOMIC_RELAXED) != DONE) return false;
  return n > 0;
}

static void *watchdog(void *unused) {
  (void)unused;
  __atomic_store_n(&watchdog_tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL); /* the program's signals are for its threads */
  if (pin_on) set_affinity(0, &C.actors[0].own); /* (its creator's one CPU is for actors) */
  struct timespec tick = {(time_t)(C.preempt_ns / 1000000000u),
                          (long)(C.preempt_ns % 1000000000u)};
  actor *last = NULL;
  uint64_t last_points = 0, cpu_then = 0;
  unsigned still = 0;
  for (;;) {
    syscall(SYS_nanosleep, &tick, NULL);
    if (!__atomic_load_n(&ctl_on, __ATOMIC_RELAXED) || program_over()) return NULL;
    actor *h = __atomic_load_n(&C.holder, __ATOMIC_ACQUIRE);
    uint64_t points = __atomic_load_n(&C.points, __ATOMIC_RELAXED);
    if (h != last || points != last_points || !h) {
      last = h;
      last_points = points;
      still = 0;
      if (h) cpu_then = cpu_ns(h);
    } else if (++still >= 2) {
      /* Spinning (it used at least half of the two ticks' CPU time) or asleep in a call
       * lifeguard does not intercept: preempt. Runnable but not running (the machine is
       * busy): leave it, so that a loaded machine does not change the schedule. */
      uint64_t used = cpu_ns(h) - cpu_then;
      if (used >= C.preempt_ns || in_kernel(h)) preempt(h);
      still = 0;
      cpu_then = cpu_ns(h);
    }
  }
}

static void start_watchdog(void) {
  static bool started;
  if (started || C.preempt_ns == 0) return;
  started = true;
  pthread_t t;
  if (lg__thread_create(&t, NULL, watchdog, NULL) == 0) pthread_detach(t);
}

/* Cancellation (pthread_cancel): glibc acts on a deferred cancellation at its cancellation
 * points, but a controlled thread blocked at one (a condition variable's wait, a join, a
 * sleep, sem_wait, a descriptor wait) waits on its baton instead, which is none. So
 * pthread_cancel, besides glibc's, notes the target and makes it runnable when it is
 * blocked at a cancellation point; the target, at that point (or at the next one it
 * reaches), calls pthread_testcancel: glibc unwinds it (its cleanup handlers run; a
 * condition variable's waiter has its mutex back first) unless cancellation is disabled,
 * and actor_start's handler ends its actor. */
static void cancel_point(void) {
  if (!me || !me->cancelled) return;
  int saved = in_point;
  in_point = 0; /* (the cleanup handlers are the program's code) */
  pthread_testcancel();
  in_point = saved;
}

/* Blocks the running actor on `obj` until an actor releases it (or the deadline passes). */
static bool cancellable(wait_kind kind, const actor *a) {
  return kind == WAIT_COND || kind == WAIT_JOIN || kind == WAIT_SLEEP || kind == WAIT_FD ||
         (kind == WAIT_OBJECT && a->cancel_wait);
}

/* The calling actor was cancelled and cancellation is enabled: a block at a cancellation
 * point does not wait (glibc would act on it there). */
static bool cancel_pending(void) {
  if (!me->cancelled) return false;
  int state;
  pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &state);
  pthread_setcancelstate(state, NULL);
  return state == PTHREAD_CANCEL_ENABLE;
}

static void block_on(wait_kind kind, const void *obj, uint64_t wake_at) {
  if (cancellable(kind, me) && cancel_pending()) {
    if (kind != WAIT_COND) cancel_point(); /* (cond_wait: once it has the mutex back) */
    return;
  }
  in_point++;
  ctl_enter();
  me->state = BLOCKED;
  me->waiting = kind;
  me->wait_obj = obj;
  me->wait_seq = ++C.seq;
  me->wake_at = wake_at;
  me->timed_out = false;
  point(SITE_BLOCKED);
  me->waiting = WAIT_NONE;
  me->wait_obj = NULL;
  in_point--;
  /* (a condition variable's waiter acts on a cancellation once it has its mutex back) */
  if (kind != WAIT_COND && cancellable(kind, me)) cancel_point();
}

/* Makes every actor blocked on `obj` runnable (they retry). */
static void release(const void *obj) {
  ctl_enter();
  for (uint32_t i = 0; i < C.nactors; i++) {
    actor *a = &C.actors[i];
    if (a->state == BLOCKED && a->waiting == WAIT_OBJECT && a->wait_obj == obj) {
      a->state = RUNNABLE;
      a->wake_at = NEVER;
    }
  }
}

/* ---- who is asking ------------------------------------------------------------------ */

/* A call of the program's, by an actor: controlled. The harness's own calls (its locks, its
 * spin-waits), calls made while the harness works (lg__busy), and calls of threads whose
 * actor finished pass through; a thread that is not an actor yet is adopted. */
static bool adopt(void);

static inline bool controlled(const void *caller) {
  if (__builtin_expect(!ctl_on, 1)) return false;
  uintptr_t pc = (uintptr_t)caller;
  if (lg__busy || in_point || (pc >= C.self_lo && pc < C.self_hi)) return false;
  if (__builtin_expect(!me, 0) && !adopt()) return false;
  return me == __atomic_load_n(&C.holder, __ATOMIC_ACQUIRE) || preempted();
}

/* A release (unlock, post, futex wake) that passed through while control is on, made by an
 * actor that does not hold the baton: a signal handler running in a parked thread (or one in
 * the kernel). The actors it may concern retry at the next scheduling point. (Releases by
 * threads that are not actors are not noted: their timing is not the schedule's.) */
static inline void released_outside(const void *caller) {
  if (__builtin_expect(!ctl_on, 1)) return;
  uintptr_t pc = (uintptr_t)caller;
  if (me && !(pc >= C.self_lo && pc < C.self_hi) &&
      me != __atomic_load_n(&C.holder, __ATOMIC_ACQUIRE))
    __atomic_store_n(&C.kick, 1, __ATOMIC_RELAXED);
}
#define CALLER __builtin_return_address(0)
/* In an interceptor: the call is controlled; notes where the program called from (a report's
 * stack starts there, not inside the harness). */
#define CONTROLLED() (controlled(CALLER) && (me->frame = __builtin_frame_address(0), true))

/* ---- threads ------------------------------------------------------------------------ */

typedef struct start_rec {
  void *(*fn)(void *);
  void *arg;
  actor *a;
  sigset_t mask; /* the creator's: the thread starts with every signal blocked until it
                  * knows its actor, so no handler runs in it as a thread not yet an actor
                  * (which would be adopted) */
} start_rec;

/* The actor's thread is finished with the program: wake its joiners, pass the baton on. */
static void finish(void) {
  ctl_enter();
  actor *self = me;
  self->state = DONE;
  for (uint32_t i = 0; i < C.nactors; i++) {
    actor *a = &C.actors[i];
    if (a->state == BLOCKED && a->waiting == WAIT_JOIN && a->wait_obj == self)
      a->state = RUNNABLE;
  }
  bool others = false;
  for (uint32_t i = 0; i < C.nactors; i++) others |= C.actors[i].state != DONE;
  if (others) point(SITE_EXIT);
  unpin(self, 0);
  me = NULL; /* what the thread still runs (its key destructors) runs free */
  retired = true;
}

LG_REAL(int, pthread_cancel, (pthread_t))

/* The thread was cancelled (or called pthread_exit, which has finished it already). */
static void actor_unwound(void *unused) {
  (void)unused;
  if (!me) return;
  me->frame = __builtin_frame_address(0);
  if (me->state == OUTSIDE) rejoin(); /* cancelled in the kernel (pause, sigwait...) */
  finish();
}

static void *actor_start(void *p) {
  start_rec s = *(start_rec *)p;
  free(p);
  me = s.a;
  s.a->tid = lg__gettid();
  lg__sig_setmask(&s.mask, NULL);
  pin(s.a, 0); /* (inherited, unless the attribute gave it CPUs) */
  park(s.a, false);
  s.a->started = true;
  /* (told now, so that glibc does not act on it at a cancellation point of the harness's
   * own start-up code, outside control) */
  if (s.a->cancel_later) lg__get_pthread_cancel()(pthread_self());
  void *r;
  pthread_cleanup_push(actor_unwound, NULL);
  r = s.fn(s.arg);
  pthread_cleanup_pop(0);
  if (me) {
    me->frame = __builtin_frame_address(0);
    finish();
  }
  return r;
}

/* The key destructor of an adopted thread: it is leaving, as an actor's start routine that
 * returns does. */
static void adopted_exit(void *a) {
  if (me != a || !ctl_on) return;
  me->frame = __builtin_frame_address(0);
  finish();
}

/* A thread that the program did not start through the pthread_create lifeguard sees (glibc's
 * SIGEV_THREAD timer threads and AIO threads, started inside the C library; threads started
 * before control) makes a controlled call: it becomes an actor, coming in as a thread back
 * from the kernel does (phase PREEMPTED: its call waits for the baton first). It finishes at
 * pthread_exit or when it ends (a key destructor). When it comes depends on the machine's
 * timing, so a schedule with one replays only as far as that timing repeats. */
static bool adopt(void) {
  if (retired || !adopted_key_made) return false;
  in_point++;
  state_lock();
  uint32_t n = C.nactors;
  if (n == MAX_ACTORS) {
    state_unlock();
    in_point--;
    return false;
  }
  actor *a = &C.actors[n];
  *a = (actor){.id = n, .state = OUTSIDE, .wake_at = NEVER, .thread = pthread_self(),
               .tid = (pid_t)syscall(SYS_gettid), .phase = PREEMPTED, .started = true};
  if (syscall(SYS_sched_getaffinity, 0, sizeof a->own, &a->own) <= 0) CPU_ZERO(&a->own);
  __atomic_store_n(&C.nactors, n + 1, __ATOMIC_RELEASE);
  state_unlock();
  me = a;
  pthread_setspecific(adopted_key, a);
  in_point--;
  return true;
}

static int create_hook(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *),
                       void *arg, void *caller) {
  if (!controlled(caller) || C.nactors == MAX_ACTORS) {
    /* a thread that is not an actor: not on the one CPU its creator may be on */
    actor *self = ctl_on ? me : NULL;
    bool pinned = self && __atomic_load_n(&self->pinned, __ATOMIC_RELAXED);
    if (pinned) unpin(self, 0);
    int err = lg__thread_create(t, attr, fn, arg);
    if (pinned) pin(self, 0);
    return err;
  }
  me->frame = __builtin_frame_address(0);
  ctl_enter();
  start_rec *s = malloc(sizeof *s);
  if (!s) {
    ctl_leave();
    return EAGAIN;
  }
  /* the slot is taken under the lock: an adopted thread may append meanwhile */
  state_lock();
  uint32_t n = C.nactors;
  if (n == MAX_ACTORS) {
    state_unlock();
    free(s);
    ctl_leave();
    return lg__thread_create(t, attr, fn, arg);
  }
  actor *a = &C.actors[n];
  *a = (actor){.id = n, .state = RUNNABLE, .wake_at = NEVER, .own = me->own};
  __atomic_store_n(&C.nactors, n + 1, __ATOMIC_RELEASE);
  state_unlock();
  if (attr && pthread_attr_getaffinity_np(attr, sizeof a->own, &a->own) == 0 &&
      CPU_COUNT(&a->own) == 0)
    a->own = me->own; /* (the attribute sets none) */
  *s = (start_rec){.fn = fn, .arg = arg, .a = a};
  sigset_t saved;
  lg__sig_block_all(&saved);
  s->mask = saved;
  int err = lg__thread_create(t, attr, actor_start, s); /* (s is the thread's from here) */
  lg__sig_setmask(&saved, NULL);
  if (err) {
    a->state = DONE; /* a slot no thread runs */
    free(s);
    ctl_leave();
    return err;
  }
  a->thread = *t;
  start_watchdog();
  point(SITE_CREATE);
  return 0;
}

/* The actor of thread `t` (the newest: a finished thread's id can be reused), or NULL. */
static actor *actor_of(pthread_t t) {
  for (uint32_t i = C.nactors; i-- > 0;)
    if (C.actors[i].thread == t) return &C.actors[i];
  return NULL;
}

/* ---- CPU affinity as the program sees it (explore_pin) ------------------------------- */

/* The live actor of kernel thread `tid` (0: the calling thread), or NULL. */
static actor *actor_of_tid(pid_t tid) {
  if (tid == 0 || tid == lg__gettid()) return me;
  for (uint32_t i = __atomic_load_n(&C.nactors, __ATOMIC_ACQUIRE); i-- > 0;)
    if (C.actors[i].tid == tid && C.actors[i].state != DONE) return &C.actors[i];
  return NULL;
}

/* The actor of `t` when it is one and pinning is on (the calling thread: its own actor). */
static actor *pinned_actor_of(pthread_t t) {
  if (!pin_on) return NULL;
  if (pthread_equal(t, pthread_self())) return me;
  actor *a = actor_of(t);
  return a && a->state != DONE ? a : NULL;
}

/* What the program asked for, after the kernel accepted it: `a`'s own CPUs, and back onto the
 * one CPU while `a` is under control. */
static void note_own(actor *a, size_t size, const cpu_set_t *set) {
  CPU_ZERO(&a->own);
  memcpy(&a->own, set, size < sizeof a->own ? size : sizeof a->own);
  if (__atomic_load_n(&a->pinned, __ATOMIC_RELAXED))
    set_affinity(a == me ? 0 : a->tid, pin_set_of(a));
}

static void tell_own(const actor *a, size_t size, cpu_set_t *set) {
  memset(set, 0, size);
  memcpy(set, &a->own, size < sizeof a->own ? size : sizeof a->own);
}

LG_REAL(int, sched_getaffinity, (pid_t, size_t, cpu_set_t *))
int sched_getaffinity(pid_t pid, size_t size, cpu_set_t *set) {
  int r = lg__get_sched_getaffinity()(pid, size, set);
  actor *a = r == 0 && pin_on ? actor_of_tid(pid) : NULL;
  if (a) tell_own(a, size, set);
  return r;
}

LG_REAL(int, sched_setaffinity, (pid_t, size_t, const cpu_set_t *))
int sched_setaffinity(pid_t pid, size_t size, const cpu_set_t *set) {
  int r = lg__get_sched_setaffinity()(pid, size, set);
  actor *a = r == 0 && pin_on ? actor_of_tid(pid) : NULL;
  if (a) note_own(a, size, set);
  return r;
}

LG_REAL(int, pthread_getaffinity_np, (pthread_t, size_t, cpu_set_t *))
int pthread_getaffinity_np(pthread_t t, size_t size, cpu_set_t *set) {
  int r = lg__get_pthread_getaffinity_np()(t, size, set);
  actor *a = r == 0 ? pinned_actor_of(t) : NULL;
  if (a) tell_own(a, size, set);
  return r;
}

LG_REAL(int, pthread_setaffinity_np, (pthread_t, size_t, const cpu_set_t *))
int pthread_setaffinity_np(pthread_t t, size_t size, const cpu_set_t *set) {
  int r = lg__get_pthread_setaffinity_np()(t, size, set);
  actor *a = r == 0 ? pinned_actor_of(t) : NULL;
  if (a) note_own(a, size, set);
  return r;
}

/* A new program inherits the CPUs of the thread that starts it: an actor on the one CPU is
 * back on its own for the call (exec returns only when it fails). */
#define OWN_CPUS_CALL(type, call)                                              \
  do {                                                                         \
    actor *self_ = pin_on ? me : NULL;                                         \
    bool pinned_ = self_ && __atomic_load_n(&self_->pinned, __ATOMIC_RELAXED); \
    if (pinned_) unpin(self_, 0);                                              \
    type r_ = (call);                                                          \
    int e_ = errno;                                                            \
    if (pinned_) pin(self_, 0);                                                \
    errno = e_;                                                                \
    return r_;                                                                 \
  } while (0)

LG_REAL(int, execve, (const char *, char *const[], char *const[]))
int execve(const char *path, char *const argv[], char *const envp[]) {
  OWN_CPUS_CALL(int, lg__get_execve()(path, argv, envp));
}

LG_REAL(int, execv, (const char *, char *const[]))
int execv(const char *path, char *const argv[]) {
  OWN_CPUS_CALL(int, lg__get_execv()(path, argv));
}

LG_REAL(int, execvp, (const char *, char *const[]))
int execvp(const char *file, char *const argv[]) {
  OWN_CPUS_CALL(int, lg__get_execvp()(file, argv));
}

LG_REAL(int, execvpe, (const char *, char *const[], char *const[]))
int execvpe(const char *file, char *const argv[], char *const envp[]) {
  OWN_CPUS_CALL(int, lg__get_execvpe()(file, argv, envp));
}

LG_REAL(int, fexecve, (int, char *const[], char *const[]))
int fexecve(int fd, char *const argv[], char *const envp[]) {
  OWN_CPUS_CALL(int, lg__get_fexecve()(fd, argv, envp));
}

/* execl, execlp, execle: their arguments as an array, then execve or execvp. */
#define EXEC_LIST(first, with_env, call)                                       \
  do {                                                                         \
    va_list ap_;                                                               \
    size_t n_ = 1;                                                             \
    va_start(ap_, first);                                                      \
    while (va_arg(ap_, char *)) n_++;                                          \
    va_end(ap_);                                                               \
    char *argv[n_ + 1];                                                        \
    char *const *envp = NULL;                                                  \
    argv[0] = (char *)(first);                                                 \
    va_start(ap_, first);                                                      \
    for (size_t i_ = 1; i_ <= n_; i_++) argv[i_] = i_ < n_ ? va_arg(ap_, char *) : NULL; \
    if (with_env) {                                                            \
      (void)va_arg(ap_, char *); /* the list's NULL */                         \
      envp = va_arg(ap_, char *const *);                                       \
    }                                                                          \
    va_end(ap_);                                                               \
    (void)envp;                                                                \
    return call;                                                               \
  } while (0)

int execl(const char *path, const char *arg, ...) {
  EXEC_LIST(arg, false, execv(path, argv));
}

int execlp(const char *file, const char *arg, ...) {
  EXEC_LIST(arg, false, execvp(file, argv));
}

int execle(const char *path, const char *arg, ...) {
  EXEC_LIST(arg, true, execve(path, argv, envp));
}

LG_REAL(int, posix_spawn, (pid_t *, const char *, const posix_spawn_file_actions_t *,
                           const posix_spawnattr_t *, char *const[], char *const[]))
int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
                const posix_spawnattr_t *at, char *const argv[], char *const envp[]) {
  OWN_CPUS_CALL(int, lg__get_posix_spawn()(pid, path, fa, at, argv, envp));
}

LG_REAL(int, posix_spawnp, (pid_t *, const char *, const posix_spawn_file_actions_t *,
                            const posix_spawnattr_t *, char *const[], char *const[]))
int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
                 const posix_spawnattr_t *at, char *const argv[], char *const envp[]) {
  OWN_CPUS_CALL(int, lg__get_posix_spawnp()(pid, file, fa, at, argv, envp));
}

LG_REAL(int, system, (const char *))
int system(const char *command) { OWN_CPUS_CALL(int, lg__get_system()(command)); }
static bool join_wait(pthread_t t, uint64_t wake_at);

LG_REAL(int, pthread_join, (pthread_t, void **))
int pthread_join(pthread_t t, void **ret) {
  if (CONTROLLED()) join_wait(t, NEVER);
  return lg__get_pthread_join()(t, ret); /* the thread has left the program's code */
}

static uint64_t deadline_of(clockid_t clock, const struct timespec *abs);

/* Waits (a join's scheduling point, then blocked) until thread `t`'s actor is done or the
 * virtual deadline passes: false on the timeout. */
static bool join_wait(pthread_t t, uint64_t wake_at) {
  cancel_point();
  point(SITE_JOIN);
  actor *a = actor_of(t);
  while (a && a->state != DONE) {
    block_on(WAIT_JOIN, a, wake_at);
    if (me->timed_out && a->state != DONE) return false;
  }
  return true;
}

/* (the thread's actor done: the real join waits at most for the end of its thread) */
LG_REAL(int, pthread_tryjoin_np, (pthread_t, void **))
int pthread_tryjoin_np(pthread_t t, void **ret) {
  if (!CONTROLLED()) return lg__get_pthread_tryjoin_np()(t, ret);
  point(SITE_JOIN);
  actor *a = actor_of(t);
  if (a && a->state != DONE) return EBUSY;
  return lg__get_pthread_join()(t, ret);
}

LG_REAL(int, pthread_timedjoin_np, (pthread_t, void **, const struct timespec *))
int pthread_timedjoin_np(pthread_t t, void **ret, const struct timespec *abs) {
  if (!CONTROLLED() || !abs) return lg__get_pthread_timedjoin_np()(t, ret, abs);
  if (!join_wait(t, deadline_of(CLOCK_REALTIME, abs))) return ETIMEDOUT;
  return lg__get_pthread_join()(t, ret);
}

LG_REAL(int, pthread_clockjoin_np, (pthread_t, void **, clockid_t, const struct timespec *))
int pthread_clockjoin_np(pthread_t t, void **ret, clockid_t clk, const struct timespec *abs) {
  if (!CONTROLLED() || !abs) return lg__get_pthread_clockjoin_np()(t, ret, clk, abs);
  if (!join_wait(t, deadline_of(clk, abs))) return ETIMEDOUT;
  return lg__get_pthread_join()(t, ret);
}

LG_REAL(int, pthread_detach, (pthread_t))
int pthread_detach(pthread_t t) {
  int r = lg__get_pthread_detach()(t);
  if (CONTROLLED()) point(SITE_DETACH);
  return r;
}

LG_REAL(void, pthread_exit, (void *))
void pthread_exit(void *r) {
  if (CONTROLLED()) finish();
  lg__get_pthread_exit()(r);
  __builtin_unreachable();
}

/* ---- locks -------------------------------------------------------------------------- */

/* Deadline on the virtual clock for an absolute time on `clock`, as the program reads that
 * clock (shifted by the virtual time passed: see "the clocks the program reads" below). */
static int clock_real(clockid_t clock, struct timespec *ts);
static void add_ns(struct timespec *ts, uint64_t ns);
static bool shifted_clock(clockid_t clock);

static uint64_t deadline_of(clockid_t clock, const struct timespec *abs) {
  struct timespec now;
  clock_real(clock, &now);
  int64_t d = (int64_t)(abs->tv_sec - now.tv_sec) * 1000000000 + (abs->tv_nsec - now.tv_nsec);
  if (shifted_clock(clock)) d -= (int64_t)C.now; /* the program's "now" is ahead by C.now */
  return C.now + (d > 0 ? (uint64_t)d : 0);
}

/* Acquires through `try` (0 = taken, EBUSY = held), blocking on `obj` meanwhile; ETIMEDOUT
 * when `wake_at` passes first. */
#define ACQUIRE(obj, try_expr, wake_at)                                        \
  do {                                                                         \
    point(SITE_LOCK);                                                          \
    for (;;) {                                                                 \
      int r_ = (try_expr);                                                     \
      if (r_ != EBUSY && r_ != EAGAIN) return r_;                              \
      block_on(WAIT_OBJECT, (obj), (wake_at));                                 \
      if (me->timed_out) return ETIMEDOUT;                                     \
    }                                                                          \
  } while (0)

LG_REAL(int, pthread_mutex_lock, (pthread_mutex_t *))
LG_REAL(int, pthread_mutex_trylock, (pthread_mutex_t *))
LG_REAL(int, pthread_mutex_timedlock, (pthread_mutex_t *, const struct timespec *))
LG_REAL(int, pthread_mutex_unlock, (pthread_mutex_t *))

/* The mutex is held by the calling thread and relocking it is an error (error-checking). */
static bool relock_error(const pthread_mutex_t *m) {
  return (m->__data.__kind & 3) == PTHREAD_MUTEX_ERRORCHECK_NP &&
         m->__data.__owner == (int)lg__gettid();
}

static int mutex_try(pthread_mutex_t *m) {
  if (relock_error(m)) return EDEADLK;
  return lg__get_pthread_mutex_trylock()(m);
}

/* A process-shared mutex (glibc sets PTHREAD_MUTEX_PSHARED_BIT, 128, in its kind) may be
 * held by another process, whose unlock no scheduling point sees: a lock that cannot take it
 * now leaves control for the real lock (as a shared semaphore's wait does, below). */
static bool mutex_shared(const pthread_mutex_t *m) { return m->__data.__kind & 128; }

/* The real CLOCK_REALTIME time at which virtual deadline `wake_at` falls, for a wait that has
 * left control (the virtual time left, from now); returns `at`. */
static const struct timespec *real_deadline(uint64_t wake_at, struct timespec *at) {
  clock_real(CLOCK_REALTIME, at);
  add_ns(at, wake_at > C.now ? wake_at - C.now : 0);
  return at;
}

static int mutex_acquire_shared(pthread_mutex_t *m, uint64_t wake_at) {
  point(SITE_LOCK);
  int r = mutex_try(m);
  if (r != EBUSY || wake_at == C.now) return r == EBUSY ? ETIMEDOUT : r;
  leave();
  struct timespec at;
  r = wake_at == NEVER ? lg__get_pthread_mutex_lock()(m)
                       : lg__get_pthread_mutex_timedlock()(m, real_deadline(wake_at, &at));
  rejoin();
  return r;
}

/* The controlled forms, which the C11 twins (mtx_*) share. */
static int mutex_acquire(pthread_mutex_t *m, uint64_t wake_at) {
  if (mutex_shared(m)) return mutex_acquire_shared(m, wake_at);
  ACQUIRE(m, mutex_try(m), wake_at);
}

static int mutex_trylock_point(pthread_mutex_t *m) {
  point(SITE_TRYLOCK);
  return lg__get_pthread_mutex_trylock()(m);
}

int pthread_mutex_lock(pthread_mutex_t *m) {
  if (!CONTROLLED()) return lg__get_pthread_mutex_lock()(m);
  return mutex_acquire(m, NEVER);
}

int pthread_mutex_timedlock(pthread_mutex_t *m, const struct timespec *abs) {
  if (!CONTROLLED()) return lg__get_pthread_mutex_timedlock()(m, abs);
  return mutex_acquire(m, deadline_of(CLOCK_REALTIME, abs));
}

LG_REAL(int, pthread_mutex_clocklock, (pthread_mutex_t *, clockid_t, const struct timespec *))
int pthread_mutex_clocklock(pthread_mutex_t *m, clockid_t clk, const struct timespec *abs) {
  if (!CONTROLLED()) return lg__get_pthread_mutex_clocklock()(m, clk, abs);
  return mutex_acquire(m, deadline_of(clk, abs));
}

int pthread_mutex_trylock(pthread_mutex_t *m) {
  if (!CONTROLLED()) return lg__get_pthread_mutex_trylock()(m);
  return mutex_trylock_point(m);
}

/* Releases without a scheduling point (a condition variable's wait). */
static int mutex_release(pthread_mutex_t *m) {
  int r = lg__get_pthread_mutex_unlock()(m);
  if (r == 0) release(m);
  return r;
}

static int mutex_unlock_point(pthread_mutex_t *m) {
  int r = mutex_release(m);
  point(SITE_UNLOCK);
  return r;
}

int pthread_mutex_unlock(pthread_mutex_t *m) {
  if (!CONTROLLED()) {
    int r = lg__get_pthread_mutex_unlock()(m);
    released_outside(CALLER);
    return r;
  }
  return mutex_unlock_point(m);
}

LG_REAL(int, pthread_rwlock_rdlock, (pthread_rwlock_t *))
LG_REAL(int, pthread_rwlock_wrlock, (pthread_rwlock_t *))
LG_REAL(int, pthread_rwlock_tryrdlock, (pthread_rwlock_t *))
LG_REAL(int, pthread_rwlock_trywrlock, (pthread_rwlock_t *))
LG_REAL(int, pthread_rwlock_unlock, (pthread_rwlock_t *))

int pthread_rwlock_rdlock(pthread_rwlock_t *l) {
  if (!CONTROLLED()) return lg__get_pthread_rwlock_rdlock()(l);
  ACQUIRE(l, lg__get_pthread_rwlock_tryrdlock()(l), NEVER);
}

int pthread_rwlock_wrlock(pthread_rwlock_t *l) {
  if (!CONTROLLED()) return lg__get_pthread_rwlock_wrlock()(l);
  ACQUIRE(l, lg__get_pthread_rwlock_trywrlock()(l), NEVER);
}

LG_REAL(int, pthread_rwlock_timedrdlock, (pthread_rwlock_t *, const struct timespec *))
LG_REAL(int, pthread_rwlock_timedwrlock, (pthread_rwlock_t *, const struct timespec *))

int pthread_rwlock_timedrdlock(pthread_rwlock_t *l, const struct timespec *abs) {
  if (!CONTROLLED()) return lg__get_pthread_rwlock_timedrdlock()(l, abs);
  ACQUIRE(l, lg__get_pthread_rwlock_tryrdlock()(l), deadline_of(CLOCK_REALTIME, abs));
}

int pthread_rwlock_timedwrlock(pthread_rwlock_t *l, const struct timespec *abs) {
  if (!CONTROLLED()) return lg__get_pthread_rwlock_timedwrlock()(l, abs);
  ACQUIRE(l, lg__get_pthread_rwlock_trywrlock()(l), deadline_of(CLOCK_REALTIME, abs));
}

LG_REAL(int, pthread_rwlock_clockrdlock, (pthread_rwlock_t *, clockid_t, const struct timespec *))
LG_REAL(int, pthread_rwlock_clockwrlock, (pthread_rwlock_t *, clockid_t, const struct timespec *))

int pthread_rwlock_clockrdlock(pthread_rwlock_t *l, clockid_t clk, const struct timespec *abs) {
  if (!CONTROLLED()) return lg__get_pthread_rwlock_clockrdlock()(l, clk, abs);
  ACQUIRE(l, lg__get_pthread_rwlock_tryrdlock()(l), deadline_of(clk, abs));
}

int pthread_rwlock_clockwrlock(pthread_rwlock_t *l, clockid_t clk, const struct timespec *abs) {
  if (!CONTROLLED()) return lg__get_pthread_rwlock_clockwrlock()(l, clk, abs);
  ACQUIRE(l, lg__get_pthread_rwlock_trywrlock()(l), deadline_of(clk, abs));
}

int pthread_rwlock_tryrdlock(pthread_rwlock_t *l) {
  if (CONTROLLED()) point(SITE_TRYLOCK);
  return lg__get_pthread_rwlock_tryrdlock()(l);
}

int pthread_rwlock_trywrlock(pthread_rwlock_t *l) {
  if (CONTROLLED()) point(SITE_TRYLOCK);
  return lg__get_pthread_rwlock_trywrlock()(l);
}

int pthread_rwlock_unlock(pthread_rwlock_t *l) {
  if (!CONTROLLED()) {
    int r = lg__get_pthread_rwlock_unlock()(l);
    released_outside(CALLER);
    return r;
  }
  int r = lg__get_pthread_rwlock_unlock()(l);
  if (r == 0) release(l);
  point(SITE_UNLOCK);
  return r;
}

LG_REAL(int, pthread_spin_lock, (pthread_spinlock_t *))
LG_REAL(int, pthread_spin_trylock, (pthread_spinlock_t *))
LG_REAL(int, pthread_spin_unlock, (pthread_spinlock_t *))

int pthread_spin_lock(pthread_spinlock_t *l) {
  if (!CONTROLLED()) return lg__get_pthread_spin_lock()(l);
  ACQUIRE((const void *)l, lg__get_pthread_spin_trylock()(l), NEVER);
}

int pthread_spin_trylock(pthread_spinlock_t *l) {
  if (CONTROLLED()) point(SITE_TRYLOCK);
  return lg__get_pthread_spin_trylock()(l);
}

int pthread_spin_unlock(pthread_spinlock_t *l) {
  if (!CONTROLLED()) {
    int r = lg__get_pthread_spin_unlock()(l);
    released_outside(CALLER);
    return r;
  }
  int r = lg__get_pthread_spin_unlock()(l);
  release((const void *)l);
  point(SITE_UNLOCK);
  return r;
}

LG_REAL(int, sem_wait, (sem_t *))
LG_REAL(int, sem_trywait, (sem_t *))
LG_REAL(int, sem_timedwait, (sem_t *, const struct timespec *))
LG_REAL(int, sem_post, (sem_t *))

static int sem_try(sem_t *s) { return lg__get_sem_trywait()(s) == 0 ? 0 : errno; }

/* sem_* report errors through errno. */
static int sem_result(int r) {
  if (r == 0) return 0;
  errno = r;
  return -1;
}

static int sem_acquire_in(sem_t *s, uint64_t wake_at) { ACQUIRE(s, sem_try(s), wake_at); }

/* A process-shared semaphore (sem_open, or sem_init with pshared set) may be posted by another
 * process, which no scheduling point sees: Python's multiprocessing posts its SemLocks from
 * its worker processes. Blocking on it under control would wait for a post by an actor that
 * never comes (a false deadlock, or a hang while another actor holds on). glibc's sem_t is
 * its 64-bit value word and then `private`, the flag its futex calls take: 0 for a semaphore
 * of the process alone, FUTEX_PRIVATE_FLAG for a shared one (glibc's names are the other way
 * round: the flag is xor-ed into the private futex operations). */
static bool sem_shared(const sem_t *s) {
  int private_flag;
  memcpy(&private_flag, (const char *)s + sizeof(uint64_t), sizeof private_flag);
  return private_flag != 0;
}

/* A wait on a shared semaphore that cannot take it now leaves control for the real wait (as
 * a poll with a timeout does); a deadline is the virtual time left, in real time. */
static int sem_acquire_shared(sem_t *s, uint64_t wake_at) {
  point(SITE_LOCK);
  int r = sem_try(s);
  if (r != EAGAIN || wake_at == C.now) return r == EAGAIN ? ETIMEDOUT : r;
  leave();
  struct timespec at;
  r = (wake_at == NEVER ? lg__get_sem_wait()(s)
                        : lg__get_sem_timedwait()(s, real_deadline(wake_at, &at))) == 0
          ? 0
          : errno;
  rejoin();
  return r;
}

/* (a cancellation point) */
static int sem_acquire(sem_t *s, uint64_t wake_at) {
  cancel_point();
  if (sem_shared(s)) return sem_acquire_shared(s, wake_at);
  me->cancel_wait = true;
  int r = sem_acquire_in(s, wake_at);
  me->cancel_wait = false;
  return r;
}

int sem_wait(sem_t *s) {
  if (!CONTROLLED()) return lg__get_sem_wait()(s);
  return sem_result(sem_acquire(s, NEVER));
}

int sem_timedwait(sem_t *s, const struct timespec *abs) {
  if (!CONTROLLED()) return lg__get_sem_timedwait()(s, abs);
  return sem_result(sem_acquire(s, deadline_of(CLOCK_REALTIME, abs)));
}

LG_REAL(int, sem_clockwait, (sem_t *, clockid_t, const struct timespec *))
int sem_clockwait(sem_t *s, clockid_t clk, const struct timespec *abs) {
  if (!CONTROLLED()) return lg__get_sem_clockwait()(s, clk, abs);
  return sem_result(sem_acquire(s, deadline_of(clk, abs)));
}

int sem_trywait(sem_t *s) {
  if (CONTROLLED()) point(SITE_TRYLOCK);
  return lg__get_sem_trywait()(s);
}

int sem_post(sem_t *s) {
  if (!CONTROLLED()) {
    int r = lg__get_sem_post()(s);
    released_outside(CALLER);
    return r;
  }
  int r = lg__get_sem_post()(s);
  release(s);
  point(SITE_POST);
  return r;
}

/* ---- condition variables ------------------------------------------------------------ */

/* glibc has two versions of pthread_cond_*; the program's calls name the current one
 * (dlsym would give the old one). Under ASan its interceptor comes first, as lg__real says;
 * no lookup here may fail (lg__real says why). */
static void *real_cond(const char *name, void *interceptor) {
  void *p = interceptor ? interceptor : dlvsym(RTLD_NEXT, name, "GLIBC_2.3.2");
  return p ? p : lg__real(name, NULL);
}
#define COND_REAL(ret, name, params)                                           \
  extern ret __interceptor_##name params __attribute__((weak));                \
  static ret(*real_##name) params;                                             \
  static ret(*lg__get_##name(void)) params {                                   \
    if (__builtin_expect(real_##name == NULL, 0))                              \
      real_##name = (ret(*) params)real_cond(#name, (void *)__interceptor_##name); \
    return real_##name;                                                        \
  }
COND_REAL(int, pthread_cond_wait, (pthread_cond_t *, pthread_mutex_t *))
COND_REAL(int, pthread_cond_timedwait,
          (pthread_cond_t *, pthread_mutex_t *, const struct timespec *))
COND_REAL(int, pthread_cond_signal, (pthread_cond_t *))
COND_REAL(int, pthread_cond_broadcast, (pthread_cond_t *))
__attribute__((constructor(103))) static void resolve_cond(void) {
  (void)lg__get_pthread_cond_wait();
  (void)lg__get_pthread_cond_timedwait();
  (void)lg__get_pthread_cond_signal();
  (void)lg__get_pthread_cond_broadcast();
}

/* Releases `m`, waits for a signal on `c` (or the deadline), retakes `m`. */
static int cond_wait(pthread_cond_t *c, pthread_mutex_t *m, uint64_t wake_at) {
  cancel_point();
  point(SITE_WAIT);
  int r = mutex_release(m);
  if (r) return r; /* not the owner (EPERM): as glibc's error-checking mutexes say */
  block_on(WAIT_COND, c, wake_at);
  bool timed_out = me->timed_out;
  for (;;) {
    int t = mutex_try(m);
    if (t != EBUSY) break;
    block_on(WAIT_OBJECT, m, NEVER);
  }
  cancel_point();
  return timed_out ? ETIMEDOUT : 0;
}

int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m) {
  if (!CONTROLLED()) return lg__get_pthread_cond_wait()(c, m);
  return cond_wait(c, m, NEVER);
}

/* The clock a condition variable's timed waits measure: CLOCK_MONOTONIC when it was set up
 * with pthread_condattr_setclock(CLOCK_MONOTONIC) (glibc keeps that in bit 1 of __wrefs),
 * else CLOCK_REALTIME. */
static clockid_t cond_clock(const pthread_cond_t *c) {
  return __atomic_load_n(&c->__data.__wrefs, __ATOMIC_RELAXED) & 2 ? CLOCK_MONOTONIC
                                                                    : CLOCK_REALTIME;
}

int pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *abs) {
  if (!CONTROLLED()) return lg__get_pthread_cond_timedwait()(c, m, abs);
  return cond_wait(c, m, deadline_of(cond_clock(c), abs));
}

/* (libstdc++'s condition_variable waits with a steady clock through this one) */
LG_REAL(int, pthread_cond_clockwait,
        (pthread_cond_t *, pthread_mutex_t *, clockid_t, const struct timespec *))
int pthread_cond_clockwait(pthread_cond_t *c, pthread_mutex_t *m, clockid_t clk,
                           const struct timespec *abs) {
  if (!CONTROLLED()) return lg__get_pthread_cond_clockwait()(c, m, clk, abs);
  return cond_wait(c, m, deadline_of(clk, abs));
}

/* Wakes the longest waiter on `c` (all of them when `all`). */
static void cond_wake(const pthread_cond_t *c, bool all) {
  ctl_enter();
  for (;;) {
    actor *first = NULL;
    for (uint32_t i = 0; i < C.nactors; i++) {
      actor *a = &C.actors[i];
      if (a->state == BLOCKED && a->waiting == WAIT_COND && a->wait_obj == c &&
          (!first || a->wait_seq < first->wait_seq))
        first = a;
    }
    if (!first) return;
    first->state = RUNNABLE;
    first->waiting = WAIT_NONE;
    first->wake_at = NEVER;
    if (!all) return;
  }
}

/* The real signal too: a thread that is not an actor may wait on the real variable. */
/* A controlled signal (all: broadcast), which cnd_signal and cnd_broadcast share. */
static int cond_notify(pthread_cond_t *c, bool all) {
  cond_wake(c, all);
  int r = all ? lg__get_pthread_cond_broadcast()(c) : lg__get_pthread_cond_signal()(c);
  point(all ? SITE_BROADCAST : SITE_SIGNAL);
  return r;
}

int pthread_cond_signal(pthread_cond_t *c) {
  if (!CONTROLLED()) return lg__get_pthread_cond_signal()(c);
  return cond_notify(c, false);
}

int pthread_cond_broadcast(pthread_cond_t *c) {
  if (!CONTROLLED()) return lg__get_pthread_cond_broadcast()(c);
  return cond_notify(c, true);
}

/* ---- barriers and pthread_once ------------------------------------------------------- */

/* A barrier's count and arrivals, by address: barriers are shadowed whole (a real
 * pthread_barrier_wait would wait in the kernel with the baton). Set up by an init under
 * control; a barrier set up before is passed through. */
#define MAX_BARRIERS 256
typedef struct barrier_shadow {
  const pthread_barrier_t *b;
  unsigned count, arrived;
  uint64_t round;
} barrier_shadow;
static barrier_shadow barriers[MAX_BARRIERS];

static barrier_shadow *barrier_of(const pthread_barrier_t *b, bool make) {
  barrier_shadow *free_slot = NULL;
  for (size_t i = 0; i < MAX_BARRIERS; i++) {
    if (barriers[i].b == b) return &barriers[i];
    if (!barriers[i].b && !free_slot) free_slot = &barriers[i];
  }
  if (make && free_slot) free_slot->b = b;
  return make ? free_slot : NULL;
}

LG_REAL(int, pthread_barrier_init,
        (pthread_barrier_t *, const pthread_barrierattr_t *, unsigned))
LG_REAL(int, pthread_barrier_wait, (pthread_barrier_t *))
LG_REAL(int, pthread_barrier_destroy, (pthread_barrier_t *))

int pthread_barrier_init(pthread_barrier_t *b, const pthread_barrierattr_t *a, unsigned n) {
  int r = lg__get_pthread_barrier_init()(b, a, n);
  if (r == 0 && CONTROLLED()) {
    ctl_enter();
    barrier_shadow *s = barrier_of(b, true);
    if (s) *s = (barrier_shadow){b, n, 0, 0};
    ctl_leave();
  }
  return r;
}

int pthread_barrier_destroy(pthread_barrier_t *b) {
  if (CONTROLLED()) {
    ctl_enter();
    barrier_shadow *s = barrier_of(b, false);
    if (s) *s = (barrier_shadow){0};
    ctl_leave();
  }
  return lg__get_pthread_barrier_destroy()(b);
}

/* The last to arrive goes on (PTHREAD_BARRIER_SERIAL_THREAD) and releases the others. */
int pthread_barrier_wait(pthread_barrier_t *b) {
  barrier_shadow *s = CONTROLLED() ? barrier_of(b, false) : NULL;
  if (!s) return lg__get_pthread_barrier_wait()(b);
  point(SITE_WAIT);
  ctl_enter();
  if (++s->arrived == s->count) {
    s->arrived = 0;
    s->round++;
    release(s);
    point(SITE_SIGNAL);
    return PTHREAD_BARRIER_SERIAL_THREAD;
  }
  uint64_t round = s->round;
  while (s->round == round) block_on(WAIT_OBJECT, s, NEVER);
  return 0;
}

/* pthread_once: the first actor runs the routine; one that comes while it runs (the routine
 * reached a scheduling point) blocks until it is done. glibc's word: bit 0 in progress, bit 1
 * done. */
static void once_controlled(pthread_once_t *once, void (*init)(void));

LG_REAL(int, pthread_once, (pthread_once_t *, void (*)(void)))
int pthread_once(pthread_once_t *once, void (*init)(void)) {
  if (!CONTROLLED()) return lg__get_pthread_once()(once, init);
  once_controlled(once, init);
  return 0;
}

static void once_controlled(pthread_once_t *once, void (*init)(void)) {
  for (;;) {
    int v = __atomic_load_n(once, __ATOMIC_ACQUIRE);
    if (v & 2) return;
    if (!(v & 1)) break;
    block_on(WAIT_OBJECT, once, NEVER);
  }
  __atomic_store_n(once, 1, __ATOMIC_RELAXED);
  init();
  __atomic_store_n(once, 2, __ATOMIC_RELEASE);
  release(once);
  ctl_leave();
}

/* ---- C11 threads (<threads.h>) ------------------------------------------------------- */

/* glibc's thrd_*, mtx_*, cnd_* and call_once call its internal pthread functions, which the
 * interceptors above do not see: they are intercepted here, each as its pthread twin (a
 * thrd_t is a pthread_t, and glibc's mtx_t, cnd_t and once_flag are its pthread_mutex_t,
 * pthread_cond_t and pthread_once_t). mtx_timedlock and cnd_timedwait measure TIME_UTC
 * (CLOCK_REALTIME) and the variable's clock. The results are C11's (thrd_success, thrd_busy,
 * thrd_timedout, thrd_nomem, thrd_error). Outside control they are glibc's. */
static int thrd_result(int err) {
  switch (err) {
  case 0: return thrd_success;
  case EBUSY: return thrd_busy;
  case ETIMEDOUT: return thrd_timedout;
  case ENOMEM: case EAGAIN: return thrd_nomem;
  default: return thrd_error;
  }
}

typedef struct c11_start {
  thrd_start_t fn;
  void *arg;
} c11_start;

static void *c11_trampoline(void *p) {
  c11_start s = *(c11_start *)p;
  free(p);
  return (void *)(intptr_t)s.fn(s.arg);
}

LG_REAL(int, thrd_create, (thrd_t *, thrd_start_t, void *))
int thrd_create(thrd_t *t, thrd_start_t fn, void *arg) {
  if (!CONTROLLED()) return lg__get_thrd_create()(t, fn, arg);
  c11_start *s = malloc(sizeof *s);
  if (!s) return thrd_nomem;
  *s = (c11_start){fn, arg};
  pthread_t pt;
  int err = create_hook(&pt, NULL, c11_trampoline, s, CALLER);
  if (err) {
    free(s);
    return thrd_result(err);
  }
  *t = (thrd_t)pt;
  return thrd_success;
}

LG_REAL(int, thrd_join, (thrd_t, int *))
int thrd_join(thrd_t t, int *res) {
  if (!CONTROLLED()) return lg__get_thrd_join()(t, res);
  join_wait((pthread_t)t, NEVER);
  void *r;
  int err = lg__get_pthread_join()((pthread_t)t, &r);
  if (err == 0 && res) *res = (int)(intptr_t)r;
  return thrd_result(err);
}

LG_REAL(int, thrd_detach, (thrd_t))
int thrd_detach(thrd_t t) {
  int r = lg__get_thrd_detach()(t);
  if (CONTROLLED()) point(SITE_DETACH);
  return r;
}

LG_REAL(void, thrd_exit, (int))
void thrd_exit(int res) {
  if (CONTROLLED()) finish();
  lg__get_thrd_exit()(res);
  __builtin_unreachable();
}

LG_REAL(void, thrd_yield, (void))
void thrd_yield(void) {
  if (!CONTROLLED()) {
    lg__get_thrd_yield()();
    return;
  }
  point(SITE_YIELD);
}

static void virtual_sleep(uint64_t ns);
static uint64_t ns_of(const struct timespec *t);

LG_REAL(int, thrd_sleep, (const struct timespec *, struct timespec *))
int thrd_sleep(const struct timespec *req, struct timespec *rem) {
  if (!CONTROLLED() || !req || req->tv_nsec < 0 || req->tv_nsec >= 1000000000)
    return lg__get_thrd_sleep()(req, rem);
  virtual_sleep(ns_of(req));
  if (rem) *rem = (struct timespec){0, 0};
  return 0;
}

LG_REAL(int, mtx_lock, (mtx_t *))
int mtx_lock(mtx_t *m) {
  if (!CONTROLLED()) return lg__get_mtx_lock()(m);
  return thrd_result(mutex_acquire((pthread_mutex_t *)m, NEVER));
}

LG_REAL(int, mtx_timedlock, (mtx_t *, const struct timespec *))
int mtx_timedlock(mtx_t *m, const struct timespec *abs) {
  if (!CONTROLLED()) return lg__get_mtx_timedlock()(m, abs);
  return thrd_result(mutex_acquire((pthread_mutex_t *)m, deadline_of(CLOCK_REALTIME, abs)));
}

LG_REAL(int, mtx_trylock, (mtx_t *))
int mtx_trylock(mtx_t *m) {
  if (!CONTROLLED()) return lg__get_mtx_trylock()(m);
  return thrd_result(mutex_trylock_point((pthread_mutex_t *)m));
}

LG_REAL(int, mtx_unlock, (mtx_t *))
int mtx_unlock(mtx_t *m) {
  if (!CONTROLLED()) {
    int r = lg__get_mtx_unlock()(m);
    released_outside(CALLER);
    return r;
  }
  return thrd_result(mutex_unlock_point((pthread_mutex_t *)m));
}

LG_REAL(int, cnd_wait, (cnd_t *, mtx_t *))
int cnd_wait(cnd_t *c, mtx_t *m) {
  if (!CONTROLLED()) return lg__get_cnd_wait()(c, m);
  return thrd_result(cond_wait((pthread_cond_t *)c, (pthread_mutex_t *)m, NEVER));
}

LG_REAL(int, cnd_timedwait, (cnd_t *, mtx_t *, const struct timespec *))
int cnd_timedwait(cnd_t *c, mtx_t *m, const struct timespec *abs) {
  if (!CONTROLLED()) return lg__get_cnd_timedwait()(c, m, abs);
  pthread_cond_t *pc = (pthread_cond_t *)c;
  return thrd_result(cond_wait(pc, (pthread_mutex_t *)m, deadline_of(cond_clock(pc), abs)));
}

LG_REAL(int, cnd_signal, (cnd_t *))
int cnd_signal(cnd_t *c) {
  if (!CONTROLLED()) return lg__get_cnd_signal()(c);
  return thrd_result(cond_notify((pthread_cond_t *)c, false));
}

LG_REAL(int, cnd_broadcast, (cnd_t *))
int cnd_broadcast(cnd_t *c) {
  if (!CONTROLLED()) return lg__get_cnd_broadcast()(c);
  return thrd_result(cond_notify((pthread_cond_t *)c, true));
}

LG_REAL(void, call_once, (once_flag *, void (*)(void)))
void call_once(once_flag *flag, void (*fn)(void)) {
  if (!CONTROLLED()) {
    lg__get_call_once()(flag, fn);
    return;
  }
  once_controlled((pthread_once_t *)flag, fn);
}

/* ---- failure injection (lg_check's executions) -------------------------------------- */

/* A failure-injection decision of the calling actor (it holds the baton) at `site`: 0 makes
 * the real call, 1..nfail fail it that way. Decides nothing once the bound is spent. */
static uint32_t inject(uint32_t nfail, uint16_t site) {
  if (C.injected >= C.inject_max) return 0;
  in_point++;
  ctl_enter();
  state_lock();
  lg_choice c = {LG_CHOICE_FAIL, site, nfail + 1, LG_NO_CURRENT, NULL, C.log.len};
  uint32_t idx = C.src->choose(C.src, &c);
  if (idx > nfail) idx = 0;
  record(&c, idx);
  if (idx) C.injected++;
  state_unlock();
  ctl_leave();
  in_point--;
  return idx;
}

uint32_t lg__control_inject(uint32_t nfail, uint16_t site) {
  if (!ctl_on || !me || lg__busy || in_point || nfail == 0) return 0;
  if (me != __atomic_load_n(&C.holder, __ATOMIC_ACQUIRE) && !preempted()) return 0;
  return inject(nfail, site);
}

uint32_t lg__control_injected(void) { return C.injected; }

/* fdcheck's pipe, pipe2 and socketpair ask here first (lg__fd_inject_hook): they can fail
 * for want of descriptors (EMFILE, ENFILE) when called by the program's code. */
static int fd_inject(const void *caller) {
  if (!controlled(caller)) return 0;
  switch (inject(2, SITE_FD_CREATE)) {
  case 1: return EMFILE;
  case 2: return ENFILE;
  default: return 0;
  }
}

/* ---- yield and sleeps (virtual time) ------------------------------------------------ */

LG_REAL(int, sched_yield, (void))
int sched_yield(void) {
  if (!CONTROLLED()) return lg__get_sched_yield()();
  point(SITE_YIELD);
  return 0;
}

/* Sleeps `ns` of virtual time: other actors run meanwhile; the clock jumps when none can. */
static void virtual_sleep(uint64_t ns) {
  cancel_point();
  if (ns == 0) {
    point(SITE_SLEEP);
    return;
  }
  block_on(WAIT_SLEEP, NULL, C.now + ns);
}

static uint64_t ns_of(const struct timespec *t) {
  if (t->tv_sec < 0) return 0;
  return (uint64_t)t->tv_sec * 1000000000u + (uint64_t)t->tv_nsec;
}

LG_REAL(int, nanosleep, (const struct timespec *, struct timespec *))
int nanosleep(const struct timespec *req, struct timespec *rem) {
  if (!controlled(CALLER) || !req || req->tv_nsec < 0 || req->tv_nsec >= 1000000000)
    return lg__get_nanosleep()(req, rem);
  virtual_sleep(ns_of(req));
  if (rem) *rem = (struct timespec){0, 0};
  return 0;
}

LG_REAL(int, clock_nanosleep, (clockid_t, int, const struct timespec *, struct timespec *))
int clock_nanosleep(clockid_t clk, int flags, const struct timespec *req, struct timespec *rem) {
  if (!controlled(CALLER) || !req || req->tv_nsec < 0 || req->tv_nsec >= 1000000000)
    return lg__get_clock_nanosleep()(clk, flags, req, rem);
  if (flags & TIMER_ABSTIME) {
    uint64_t at = deadline_of(clk, req);
    virtual_sleep(at - C.now);
  } else {
    virtual_sleep(ns_of(req));
    if (rem) *rem = (struct timespec){0, 0};
  }
  return 0;
}

LG_REAL(int, usleep, (useconds_t))
int usleep(useconds_t us) {
  if (!CONTROLLED()) return lg__get_usleep()(us);
  virtual_sleep((uint64_t)us * 1000u);
  return 0;
}

LG_REAL(unsigned, sleep, (unsigned))
unsigned sleep(unsigned s) {
  if (!CONTROLLED()) return lg__get_sleep()(s);
  virtual_sleep((uint64_t)s * 1000000000u);
  return 0;
}

/* ---- the clocks the program reads ---------------------------------------------------- */

/* The wall and monotonic clocks run ahead, for the program, by the virtual time passed
 * (C.now): a program that reads the clock after a timed wait or a sleep (libstdc++'s
 * condition_variable::wait_until compares steady_clock::now() with its deadline, and
 * this_thread::sleep_until loops until it has passed) sees the time it waited for as
 * passed, as it would without control. The harness's own calls read the real clocks. The
 * shift stays in a forked child (its clocks do not go back); CPU-time clocks are not
 * shifted. */
static bool clock_shift; /* control was on in this process */

static bool shifted_clock(clockid_t clock) {
  switch (clock) {
  case CLOCK_REALTIME: case CLOCK_MONOTONIC: case CLOCK_MONOTONIC_RAW:
  case CLOCK_REALTIME_COARSE: case CLOCK_MONOTONIC_COARSE: case CLOCK_BOOTTIME:
  case CLOCK_REALTIME_ALARM: case CLOCK_BOOTTIME_ALARM: case CLOCK_TAI:
    return true;
  default:
    return false;
  }
}

/* The virtual time to add to a clock read by the code at `caller`: 0 for the harness's. */
static inline uint64_t shift_for(const void *caller) {
  if (__builtin_expect(!clock_shift, 1)) return 0;
  uintptr_t pc = (uintptr_t)caller;
  if (pc >= C.self_lo && pc < C.self_hi) return 0;
  return __atomic_load_n(&C.now, __ATOMIC_RELAXED);
}

static void add_ns(struct timespec *ts, uint64_t ns) {
  ts->tv_sec += (time_t)(ns / 1000000000u);
  ts->tv_nsec += (long)(ns % 1000000000u);
  if (ts->tv_nsec >= 1000000000L) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000L;
  }
}

LG_REAL(int, clock_gettime, (clockid_t, struct timespec *))
static int clock_real(clockid_t clock, struct timespec *ts) {
  return lg__get_clock_gettime()(clock, ts);
}

int clock_gettime(clockid_t clock, struct timespec *ts) {
  int r = lg__get_clock_gettime()(clock, ts);
  uint64_t shift = shift_for(CALLER);
  struct timespec *volatile out = ts; /* (declared nonnull; a bad program may pass NULL) */
  if (r == 0 && shift && out && shifted_clock(clock)) add_ns(out, shift);
  return r;
}

LG_REAL(int, gettimeofday, (struct timeval *, void *))
int gettimeofday(struct timeval *tv, void *tz) {
  int r = lg__get_gettimeofday()(tv, tz);
  uint64_t shift = shift_for(CALLER);
  struct timeval *volatile out = tv; /* (declared nonnull; NULL is allowed in practice) */
  if (r == 0 && shift && out) {
    struct timespec ts = {tv->tv_sec, tv->tv_usec * 1000L};
    add_ns(&ts, shift);
    *tv = (struct timeval){ts.tv_sec, ts.tv_nsec / 1000L};
  }
  return r;
}

LG_REAL(time_t, time, (time_t *))
time_t time(time_t *out) {
  uint64_t shift = shift_for(CALLER);
  if (!shift) return lg__get_time()(out);
  struct timespec ts;
  clock_real(CLOCK_REALTIME, &ts);
  add_ns(&ts, shift);
  if (out) *out = ts.tv_sec;
  return ts.tv_sec;
}

/* ---- system calls that may block ---------------------------------------------------- */

/* Around a call that waits in the kernel (a zero timeout does not wait: it stays inside). */
#define OUTSIDE_CALL(may_block, call)                                          \
  do {                                                                         \
    if (!(may_block)) return (call);                                           \
    leave();                                                                   \
    int e_, r_ = (call);                                                       \
    e_ = errno;                                                                \
    rejoin();                                                                  \
    errno = e_;                                                                \
    return r_;                                                                 \
  } while (0)

/* Blocks the running actor until one of `f` is ready (a controlled block: the scheduler
 * probes the descriptors at each scheduling point). */
static void block_on_fds(struct pollfd *f, nfds_t n) {
  me->pfd = f;
  me->npfd = n;
  block_on(WAIT_FD, f, NEVER);
  me->pfd = NULL;
  me->npfd = 0;
}

/* A wait without a timeout for descriptors (`probe` is the call with a zero timeout, whose
 * result it returns once it is not 0): a controlled block, so that the order in which threads
 * see their descriptors ready is the schedule's, not the kernel's. */
#define FD_WAIT_CALL(pfds, npfds, probe)                                       \
  do {                                                                         \
    for (;;) {                                                                 \
      int r_ = (probe);                                                        \
      if (r_ != 0) return r_;                                                  \
      block_on_fds((pfds), (npfds));                                           \
    }                                                                          \
  } while (0)

LG_REAL(int, poll, (struct pollfd *, nfds_t, int))
int poll(struct pollfd *f, nfds_t n, int timeout) {
  if (!CONTROLLED()) return lg__get_poll()(f, n, timeout);
  if (timeout < 0 && n > 0) FD_WAIT_CALL(f, n, lg__get_poll()(f, n, 0));
  OUTSIDE_CALL(timeout != 0, lg__get_poll()(f, n, timeout));
}

LG_REAL(int, ppoll, (struct pollfd *, nfds_t, const struct timespec *, const sigset_t *))
int ppoll(struct pollfd *f, nfds_t n, const struct timespec *t, const sigset_t *m) {
  if (!CONTROLLED()) return lg__get_ppoll()(f, n, t, m);
  static const struct timespec zero = {0, 0};
  if (!t && !m && n > 0) FD_WAIT_CALL(f, n, lg__get_ppoll()(f, n, &zero, m));
  OUTSIDE_CALL(!t || t->tv_sec || t->tv_nsec, lg__get_ppoll()(f, n, t, m));
}

LG_REAL(int, select, (int, fd_set *, fd_set *, fd_set *, struct timeval *))
int select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *t) {
  if (!CONTROLLED()) return lg__get_select()(n, r, w, e, t);
  OUTSIDE_CALL(!t || t->tv_sec || t->tv_usec, lg__get_select()(n, r, w, e, t));
}

LG_REAL(int, pselect, (int, fd_set *, fd_set *, fd_set *, const struct timespec *,
                       const sigset_t *))
int pselect(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *t, const sigset_t *m) {
  if (!CONTROLLED()) return lg__get_pselect()(n, r, w, e, t, m);
  OUTSIDE_CALL(!t || t->tv_sec || t->tv_nsec, lg__get_pselect()(n, r, w, e, t, m));
}

LG_REAL(int, epoll_wait, (int, struct epoll_event *, int, int))
int epoll_wait(int fd, struct epoll_event *ev, int n, int timeout) {
  if (!CONTROLLED()) return lg__get_epoll_wait()(fd, ev, n, timeout);
  me->one = (struct pollfd){fd, POLLIN, 0};
  if (timeout < 0) FD_WAIT_CALL(&me->one, 1, lg__get_epoll_wait()(fd, ev, n, 0));
  OUTSIDE_CALL(timeout != 0, lg__get_epoll_wait()(fd, ev, n, timeout));
}

LG_REAL(int, epoll_pwait, (int, struct epoll_event *, int, int, const sigset_t *))
int epoll_pwait(int fd, struct epoll_event *ev, int n, int timeout, const sigset_t *m) {
  if (!CONTROLLED()) return lg__get_epoll_pwait()(fd, ev, n, timeout, m);
  me->one = (struct pollfd){fd, POLLIN, 0};
  if (timeout < 0 && !m) FD_WAIT_CALL(&me->one, 1, lg__get_epoll_pwait()(fd, ev, n, 0, m));
  OUTSIDE_CALL(timeout != 0, lg__get_epoll_pwait()(fd, ev, n, timeout, m));
}

/* fdcheck.c's descriptor calls (read, write, recv, send, accept, connect and their kin), through
 * lg__fd_wait_hook: a call that would wait now (its descriptor not ready) blocks under control
 * until it is ready, then runs (it will not wait for another thread). A descriptor in
 * non-blocking mode (or MSG_DONTWAIT) gives a scheduling point instead, so that a loop of
 * retries lets the others run. A write or send of more than PIPE_BUF bytes to a pipe or a
 * stream socket (ready for some bytes, it may wait for room for the rest) is made in pieces
 * of PIPE_BUF bytes, each after its wait (a write that large is not atomic anyway); connect,
 * and the other large writes (writev, sendmsg, datagrams) leave control instead. */
static bool nonblocking(int fd, int msg_flags) {
  if (msg_flags & MSG_DONTWAIT) return true;
  long fl = syscall(SYS_fcntl, fd, F_GETFL);
  return fl >= 0 && (fl & O_NONBLOCK);
}

static bool never_waits(int fd) {
  struct stat st;
  return syscall(SYS_fstat, fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode));
}

/* Bytes written to `fd` may be written in pieces: a pipe, a FIFO, a terminal or a stream
 * socket (not one that keeps message boundaries). */
static bool in_order(int fd) {
  struct stat st;
  if (syscall(SYS_fstat, fd, &st) != 0) return false;
  if (!S_ISSOCK(st.st_mode)) return S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode);
  int type = 0;
  socklen_t len = sizeof type;
  return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
}

static int fd_wait(int fd, short events, size_t len, int msg_flags, bool chunk,
                   const void *caller, void *frame) {
  if (!controlled(caller)) return 0;
  me->frame = frame;
  if (events == 0) {
    leave();
    return 1;
  }
  for (;;) {
    me->one = (struct pollfd){fd, events, 0};
    if (sys_poll(&me->one, 1, 0) != 0) break;
    if (nonblocking(fd, msg_flags)) {
      point(SITE_FD);
      return 0;
    }
    block_on_fds(&me->one, 1);
  }
  if (events != POLLOUT || len <= PIPE_BUF || never_waits(fd)) return 0;
  if (chunk && in_order(fd)) return 2; /* in pieces that do not wait, a wait before each */
  leave();
  return 1;
}

static void fd_done(void) { rejoin(); }

/* ---- futex waits outside pthread ----------------------------------------------------- */

/* syscall(SYS_futex, ...) made by the program (libstdc++'s futures and atomic waits, a
 * hand-written lock): FUTEX_WAIT and FUTEX_WAIT_BITSET block under control on the word
 * (timeouts in virtual time) and FUTEX_WAKE and FUTEX_WAKE_BITSET make the longest waiters
 * runnable (the bitsets are not told apart). The real wake is made too, for threads that are
 * not actors. Other operations, and every other system call, pass through. A word shared
 * with another process is modelled as if it were the program's alone. */
static long futex_call(uint32_t *uaddr, int op, uint32_t val, const struct timespec *t) {
  int cmd = op & FUTEX_CMD_MASK;
  if (cmd == FUTEX_WAIT || cmd == FUTEX_WAIT_BITSET) {
    point(SITE_WAIT);
    if (__atomic_load_n(uaddr, __ATOMIC_ACQUIRE) != val) {
      errno = EAGAIN;
      return -1;
    }
    uint64_t at = NEVER;
    if (t && cmd == FUTEX_WAIT) at = C.now + (t->tv_sec < 0 ? 0 : ns_of(t));
    if (t && cmd == FUTEX_WAIT_BITSET)
      at = deadline_of(op & FUTEX_CLOCK_REALTIME ? CLOCK_REALTIME : CLOCK_MONOTONIC, t);
    block_on(WAIT_FUTEX, uaddr, at);
    if (me->timed_out) {
      errno = ETIMEDOUT;
      return -1;
    }
    return 0;
  }
  /* FUTEX_WAKE, FUTEX_WAKE_BITSET */
  long woken = 0;
  while (woken < (long)val) {
    actor *first = NULL;
    for (uint32_t i = 0; i < C.nactors; i++) {
      actor *a = &C.actors[i];
      if (a->state == BLOCKED && a->waiting == WAIT_FUTEX && a->wait_obj == uaddr &&
          (!first || a->wait_seq < first->wait_seq))
        first = a;
    }
    if (!first) break;
    first->state = RUNNABLE;
    first->waiting = WAIT_NONE;
    first->wake_at = NEVER;
    woken++;
  }
  return woken;
}

/* (Reads six arguments whatever the call takes, as libc's own syscall does: the sixth comes
 * from the caller's stack, which AddressSanitizer would call an overflow.) */
__attribute__((no_sanitize("address"))) long syscall(long nr, ...) {
  va_list ap;
  va_start(ap, nr);
  long a[6];
  for (int i = 0; i < 6; i++) a[i] = va_arg(ap, long);
  va_end(ap);
  if (nr == SYS_futex && !CONTROLLED()) {
    int cmd = (int)a[1] & FUTEX_CMD_MASK;
    if (cmd == FUTEX_WAKE || cmd == FUTEX_WAKE_BITSET) released_outside(CALLER);
  } else if (nr == SYS_futex) {
    int cmd = (int)a[1] & FUTEX_CMD_MASK;
    if (cmd == FUTEX_WAIT || cmd == FUTEX_WAIT_BITSET)
      return futex_call((uint32_t *)a[0], (int)a[1], (uint32_t)a[2],
                        (const struct timespec *)a[3]);
    if (cmd == FUTEX_WAKE || cmd == FUTEX_WAKE_BITSET) {
      long woken = futex_call((uint32_t *)a[0], (int)a[1], (uint32_t)a[2], NULL);
      long real = lg__get_syscall()(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
      point(SITE_SIGNAL);
      return woken + (real > 0 ? real : 0);
    }
  }
  return lg__get_syscall()(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

/* Waits for a signal or a child: they leave control (a signal or a child's end is not the
 * schedule's to give), unless they do not wait (WNOHANG, a zero timeout). */
LG_REAL(int, pause, (void))
int pause(void) {
  if (!CONTROLLED()) return lg__get_pause()();
  OUTSIDE_CALL(true, lg__get_pause()());
}

LG_REAL(int, sigsuspend, (const sigset_t *))
int sigsuspend(const sigset_t *m) {
  if (!CONTROLLED()) return lg__get_sigsuspend()(m);
  OUTSIDE_CALL(true, lg__get_sigsuspend()(m));
}

LG_REAL(int, sigwait, (const sigset_t *, int *))
int sigwait(const sigset_t *set, int *sig) {
  if (!CONTROLLED()) return lg__get_sigwait()(set, sig);
  OUTSIDE_CALL(true, lg__get_sigwait()(set, sig));
}

LG_REAL(int, sigwaitinfo, (const sigset_t *, siginfo_t *))
int sigwaitinfo(const sigset_t *set, siginfo_t *info) {
  if (!CONTROLLED()) return lg__get_sigwaitinfo()(set, info);
  OUTSIDE_CALL(true, lg__get_sigwaitinfo()(set, info));
}

LG_REAL(int, sigtimedwait, (const sigset_t *, siginfo_t *, const struct timespec *))
int sigtimedwait(const sigset_t *set, siginfo_t *info, const struct timespec *t) {
  if (!CONTROLLED()) return lg__get_sigtimedwait()(set, info, t);
  OUTSIDE_CALL(!t || t->tv_sec || t->tv_nsec, lg__get_sigtimedwait()(set, info, t));
}

LG_REAL(pid_t, waitpid, (pid_t, int *, int))
pid_t waitpid(pid_t pid, int *st, int opt) {
  if (!CONTROLLED()) return lg__get_waitpid()(pid, st, opt);
  OUTSIDE_CALL(!(opt & WNOHANG), lg__get_waitpid()(pid, st, opt));
}

LG_REAL(pid_t, wait, (int *))
pid_t wait(int *st) {
  if (!CONTROLLED()) return lg__get_wait()(st);
  OUTSIDE_CALL(true, lg__get_wait()(st));
}

LG_REAL(pid_t, wait4, (pid_t, int *, int, struct rusage *))
pid_t wait4(pid_t pid, int *st, int opt, struct rusage *ru) {
  if (!CONTROLLED()) return lg__get_wait4()(pid, st, opt, ru);
  OUTSIDE_CALL(!(opt & WNOHANG), lg__get_wait4()(pid, st, opt, ru));
}

LG_REAL(int, waitid, (idtype_t, id_t, siginfo_t *, int))
int waitid(idtype_t type, id_t id, siginfo_t *info, int opt) {
  if (!CONTROLLED()) return lg__get_waitid()(type, id, info, opt);
  OUTSIDE_CALL(!(opt & WNOHANG), lg__get_waitid()(type, id, info, opt));
}

int pthread_cancel(pthread_t t) {
  if (!CONTROLLED()) return lg__get_pthread_cancel()(t);
  ctl_enter();
  actor *a = actor_of(t);
  int r = 0;
  if (a && !a->started)
    a->cancel_later = true;
  else
    r = lg__get_pthread_cancel()(t);
  if (r == 0 && a && a->state != DONE) {
    a->cancelled = true;
    if (a != me && a->state == BLOCKED && cancellable(a->waiting, a)) {
      a->state = RUNNABLE;
      a->wake_at = NEVER;
    }
  }
  point(SITE_SIGNAL); /* (a thread that cancels itself acts at its next cancellation point) */
  return r;
}

/* Signals the program sends itself: noted (a deadlock waits a little for their handlers). A
 * handler that runs in an actor holding the baton is the program's code like any other; one
 * that runs in an actor that does not (parked, or in the kernel) runs free, and the releases
 * it makes are noted (released_outside). */
LG_REAL(int, pthread_kill, (pthread_t, int))
int pthread_kill(pthread_t t, int sig) {
  if (CONTROLLED() && sig) C.signalled = true;
  return lg__get_pthread_kill()(t, sig);
}

LG_REAL(int, kill, (pid_t, int))
int kill(pid_t pid, int sig) {
  if (CONTROLLED() && sig && (pid == 0 || pid == getpid() || pid == -getpgrp()))
    C.signalled = true;
  return lg__get_kill()(pid, sig);
}

LG_REAL(int, raise, (int))
int raise(int sig) {
  if (CONTROLLED() && sig) C.signalled = true;
  return lg__get_raise()(sig);
}

/* ---- start -------------------------------------------------------------------------- */

static int find_self(struct dl_phdr_info *info, size_t size, void *data) {
  uintptr_t probe = (uintptr_t)&find_self;
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
    uintptr_t a = info->dlpi_addr + ph->p_vaddr;
    if (a < lo) lo = a;
    if (a + ph->p_memsz > hi) hi = a + ph->p_memsz;
  }
  if (probe >= lo && probe < hi) {
    C.self_lo = lo;
    C.self_hi = hi;
    return 1;
  }
  return 0;
}

static void fail(const char *what) {
  fprintf(stderr, "lifeguard: error: explore: %s\n", what);
  exit(2);
}

/* A log that exists already belongs to this process when an earlier program of the same
 * process made it and then executed this one without a decision: a wrapper (`/usr/bin/env
 * python3`, a shell script that ends in `exec`, `sh -c` with one command, a version
 * manager's shim) hands control on to the program it runs. After a decision the schedule
 * belongs to the earlier program, and the new one runs free as the processes the program
 * starts do. */
static bool take_over_log(const char *path) {
  int fd = lg__sys_open(path, O_RDWR | O_CLOEXEC, 0);
  if (fd < 0) return false;
  size_t size = sizeof(log_file) + (size_t)LOG_CAPACITY * sizeof(log_record);
  struct stat st;
  void *p = MAP_FAILED;
  if (fstat(fd, &st) == 0 && (size_t)st.st_size == size)
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  lg__sys_close(fd);
  if (p == MAP_FAILED) return false;
  log_file *f = p;
  if (memcmp(f->magic, "LGXLOG2", 8) == 0 && f->pid == (uint64_t)getpid() && f->count == 0 &&
      f->overflow == 0 && f->diverged == 0) {
    Lf = f;
    return true;
  }
  munmap(p, size);
  return false;
}

/* Opens the decision log, which must not exist yet. False when it does (a process started
 * by the controlled program: it runs free), unless the log is this process's own from before
 * an exec with no decision made (take_over_log). */
static bool open_log(const char *path) {
  int fd = lg__sys_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0 && errno == EEXIST) return take_over_log(path);
  if (fd < 0) fail("cannot create the explore_log file");
  size_t size = sizeof(log_file) + (size_t)LOG_CAPACITY * sizeof(log_record);
  if (ftruncate(fd, (off_t)size) < 0) fail("cannot size the explore_log file");
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  lg__sys_close(fd);
  if (p == MAP_FAILED) fail("cannot map the explore_log file");
  Lf = p;
  memcpy(Lf->magic, "LGXLOG2", 8);
  Lf->capacity = LOG_CAPACITY;
  Lf->pid = (uint64_t)getpid();
  return true;
}

static lg_source *make_source(const lg__options *o) {
  const char *s = o->explore_strategy[0] ? o->explore_strategy : "random";
  if (strcmp(s, "random") == 0) return lg_source_random_at(o->explore_seed, o->explore_run);
  if (strcmp(s, "pct") == 0) {
    lg_source *p = lg_source_pct(o->explore_seed, (unsigned)o->explore_depth, o->explore_pct_k);
    /* execution `explore_run` of the search; with k = 0 every one is a learning run */
    for (unsigned long long i = 0; p && i < o->explore_run; i++) p->begin(p);
    return p;
  }
  /* dfs: one execution of the driver's search, which follows its prefix (explore_schedule,
   * none: empty) and goes on without preemptions; the driver learns the tree from the log */
  bool dfs = strcmp(s, "dfs") == 0;
  if (dfs && !o->explore_schedule[0]) return lg_source_replay(NULL);
  if (dfs || strcmp(s, "replay") == 0) {
    if (!o->explore_schedule[0]) fail("explore_strategy=replay needs explore_schedule=FILE");
    int fd = lg__sys_open(o->explore_schedule, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) fail("cannot open the explore_schedule file");
    size_t cap = 1 << 16, len = 0;
    char *text = malloc(cap);
    for (;;) {
      if (!text) fail("out of memory");
      ssize_t r = lg__sys_read(fd, text + len, cap - len);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      len += (size_t)r;
      if (len == cap) text = realloc(text, cap *= 2);
    }
    lg__sys_close(fd);
    while (len && (text[len - 1] == '\n' || text[len - 1] == ' ')) len--;
    lg_decision_log log = {0};
    size_t at;
    const char *msg;
    if (lg_schedule_parse(text, len, &log, &at, &msg) < 0) {
      char line[200];
      snprintf(line, sizeof line, "bad schedule string at byte %zu: %s", at, msg);
      fail(line);
    }
    free(text);
    lg_source *r = lg_source_replay(&log);
    lg_log_free(&log);
    if (r) C.div = lg_source_replay_divergence(r);
    return r;
  }
  fail("explore_strategy must be random, pct, dfs or replay");
  return NULL;
}

static void child_runs_free(void) {
  if (me) unpin(me, 0);
  ctl_on = false;
  me = NULL;
}

/* The calling thread becomes actor 0 and control is on, `src` deciding. */
static void begin_control(lg_source *src, uint64_t budget) {
  C.src = src;
  C.budget = budget;
  C.actors[0] = (actor){.id = 0, .state = RUNNABLE, .wake_at = NEVER, .started = true,
                        .thread = pthread_self(), .tid = lg__gettid()};
  C.nactors = 1;
  me = &C.actors[0];
  /* explore_spin: only on two CPUs (a spinner on the holder's one CPU would hold back the
   * thread it waits for): pin_start finds the second among the process's own, or none */
  spin_ns = (uint64_t)lg__opts()->explore_spin * 1000u;
  if (lg__opts()->explore_pin) pin_start(me, spin_ns != 0);
  if (!pin_two) spin_ns = 0; /* (not pinned, or one CPU of its own) */
  set_holder(me);
  C.preempt_ns = lg__opts()->explore_preempt_ms * 1000000u;
  lg_report_set_schedule_provider(schedule_for_report);
  lg__thread_set_create_hook(create_hook);
  lg__fd_done_hook = fd_done;
  __atomic_store_n(&lg__fd_wait_hook, fd_wait, __ATOMIC_RELEASE);
  pthread_atfork(NULL, NULL, child_runs_free);
  adopted_key_made = pthread_key_create(&adopted_key, adopted_exit) == 0;
  clock_shift = true;
  ctl_on = true;
}

void lg__control_start(void) {
  const lg__options *o = lg__opts();
  if (!o->explore) return;
  if (o->explore_log[0] && !open_log(o->explore_log)) return;
  dl_iterate_phdr(find_self, NULL);
  lg_source *src = make_source(o);
  if (!src || !src->begin(src)) fail("cannot start the decision source");
  begin_control(src, o->explore_steps);
}

/* ---- for the access layer (access.c) ------------------------------------------------ */

int lg__control_actor(void) {
  if (!ctl_on || !me || lg__busy || in_point) return -1;
  return me == __atomic_load_n(&C.holder, __ATOMIC_ACQUIRE) || preempted() ? (int)me->id : -1;
}

bool lg__control_others(void) {
  for (uint32_t i = 0; i < C.nactors; i++)
    if (&C.actors[i] != me && __atomic_load_n(&C.actors[i].state, __ATOMIC_RELAXED) == RUNNABLE)
      return true;
  return false;
}

void lg__control_point(unsigned site, void *frame) {
  me->frame = frame;
  point((uint16_t)site);
}

void lg__control_wait(const void *obj, uint64_t ns, void *frame) {
  me->frame = frame;
  block_on(WAIT_OBJECT, obj, C.now + ns);
}

void lg__control_wake(const void *obj) {
  release(obj);
  ctl_leave();
}

/* ---- lg_check's executions (check.c) ------------------------------------------------ */

/* find_self, and whether the module it found is the program itself. */
static int find_self_in(struct dl_phdr_info *info, size_t size, void *data) {
  int found = find_self(info, size, data);
  if (found) *(bool *)data = !info->dlpi_name || !info->dlpi_name[0];
  return found;
}

/* The static library's code (harness/CMakeLists.txt renames its sections) and the page
 * heap's, in a program that links it. */
extern const char __start_lifeguard_text[] __attribute__((weak));
extern const char __stop_lifeguard_text[] __attribute__((weak));
extern const char __start_lgph_text[] __attribute__((weak));
extern const char __stop_lgph_text[] __attribute__((weak));

void lg__control_start_check(lg_source *src, uint64_t budget, uint32_t inject_max) {
  C.inject_max = inject_max;
  C.injected = 0;
  C.log.inject_max = inject_max;
  if (inject_max) __atomic_store_n(&lg__fd_inject_hook, fd_inject, __ATOMIC_RELEASE);
  bool in_program = false;
  dl_iterate_phdr(find_self_in, &in_program);
  if (in_program) {
    /* Linked into the program: the harness's code is its two sections (the linker places
     * both after the program's .text, next to each other: one range holds them). */
    if (!__start_lifeguard_text || !__stop_lifeguard_text) {
      fprintf(stderr, "lifeguard: error: check: the harness's code is not in its section "
                      "lifeguard_text (link liblifeguard.a or liblifeguard.so, not its "
                      "objects)\n");
      _exit(2);
    }
    C.self_lo = (uintptr_t)__start_lifeguard_text;
    C.self_hi = (uintptr_t)__stop_lifeguard_text;
    if (__start_lgph_text && __stop_lgph_text) {
      if ((uintptr_t)__start_lgph_text < C.self_lo) C.self_lo = (uintptr_t)__start_lgph_text;
      if ((uintptr_t)__stop_lgph_text > C.self_hi) C.self_hi = (uintptr_t)__stop_lgph_text;
    }
  }
  begin_control(src, budget);
}

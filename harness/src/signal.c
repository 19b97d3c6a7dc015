/* SPDX-License-Identifier: MIT */
/* The one SIGSEGV/SIGBUS dispatcher: lifeguard owns the fault signals.
 *
 * Every detector that explains faults (modcheck's placeholders, the page heap's guard and
 * freed pages) registers a classifier (lg__signal_set_classifier), called from here in this
 * fixed order of slots:
 *   1. modcheck   a fault in a module whose dlclose is under way waits for its census; a
 *                 fault on an unloaded module's placeholder is `use-after-unload`
 *   2. pageheap   a guard page is an overflow or underflow, a freed block heap-use-after-free
 * A classifier that recognises the fault reports it and does not return (the report is
 * fatal). Only kernel-generated faults (si_code > 0) are classified: a SIGSEGV sent with kill
 * or raise carries no address. A fault nobody recognised is the program's: it goes to the
 * handler the program installed, exactly as the kernel would have run it (its own mask,
 * SA_SIGINFO or not, SA_NODEFER, SA_RESETHAND); with none, or SIG_IGN for a real fault, the
 * scheduler writes the schedule at the crash (when an execution runs) and the default action
 * ends the process: the handler is set back to SIG_DFL and the faulting instruction runs
 * again, so the process dies by the signal, with a core, at the faulting pc, as it would have.
 *
 * Ownership (handle_segv=1, the default): sigaction, signal, bsd_signal, ssignal,
 * sysv_signal, sigset and sigignore are interposed for SIGSEGV and SIGBUS. The program's
 * handler is recorded here, not given to the kernel, and the previous action the program gets
 * back is its own previous one, so code that saves and restores handlers works; the kernel
 * keeps the dispatcher. So a program (node, say) that installs a handler which does not pass
 * faults on cannot hide a guard-page fault. Other signals pass straight through. Calls made
 * before the C library has started pass through too; the handler they installed becomes the
 * recorded one when the dispatcher is installed. glibc's own internal calls do not come here
 * (they go to __libc_sigaction), and none touch SIGSEGV or SIGBUS.
 *
 * handle_segv=0 hands ownership back: the program's calls go straight to the kernel, and the
 * dispatcher, installed when a detector first needs it, chains to whatever was installed
 * before it; a program that installs its own handler afterwards takes the faults.
 *
 * The dispatcher is installed with SA_ONSTACK, so a stack overflow still reaches the
 * program's handler on the alternate stack it set (Rust's runtime does so per thread); the
 * program's handler then runs on that stack even if it did not ask for SA_ONSTACK.
 *
 * The handler path takes no lock and calls no malloc: the recorded actions are read through a
 * sequence counter, and writers (the interposers, with every signal blocked) never stop
 * half-way; the classifiers pass their stacks as raw pcs, and their reports (report.c) write
 * the first lines before anything else and allocate nothing. A fault inside a classifier or
 * a report ends the process by its signal with one line: a report inside a report never
 * waits. Under a sanitizer the interposers are not compiled (the sanitizer's runtime
 * intercepts sigaction itself) and the dispatcher only chains. */
#define _GNU_SOURCE
#include "signal_internal.h"
#include "report_internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define LG_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define LG_SANITIZED 1
#endif
#endif

#ifdef LG_SANITIZED
#define real_sigaction sigaction /* the sanitizer's interceptor */
#else
/* glibc's own implementation, bound at link time: no dlsym (which may allocate) on the way
 * to installing the dispatcher, which the page heap does while it starts. */
extern int __sigaction(int, const struct sigaction *, struct sigaction *);
#define real_sigaction __sigaction
#endif

/* The program's action for SIGSEGV (0) and SIGBUS (1). seq is odd while one is written. */
typedef struct record {
  unsigned seq;
  struct sigaction act;
} record;

static record recs[2];
static int state;  /* 0: not installed, 1: being installed, 2: installed */
#ifndef LG_SANITIZED
static bool owning; /* the interposers keep the program's handlers here (handle_segv=1) */
#endif
static __thread int in_classifier __attribute__((tls_model("initial-exec")));

static int index_of(int sig) { return sig == SIGSEGV ? 0 : sig == SIGBUS ? 1 : -1; }

static void rec_read(int i, struct sigaction *out) {
  for (;;) {
    unsigned s = __atomic_load_n(&recs[i].seq, __ATOMIC_ACQUIRE);
    if (s & 1) {
      sched_yield(); /* another thread is writing it, with its signals blocked */
      continue;
    }
    memcpy(out, &recs[i].act, sizeof *out);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (__atomic_load_n(&recs[i].seq, __ATOMIC_RELAXED) == s) return;
  }
}

static void rec_lock(int i) {
  for (;;) {
    unsigned s = __atomic_load_n(&recs[i].seq, __ATOMIC_RELAXED);
    if (!(s & 1) && __atomic_compare_exchange_n(&recs[i].seq, &s, s + 1, false,
                                                __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
      return;
    sched_yield();
  }
}

static void rec_unlock(int i) { __atomic_add_fetch(&recs[i].seq, 1, __ATOMIC_RELEASE); }

static void dispatch(int sig, siginfo_t *si, void *uc);

/* What the higher layers registered: read in the handler, so plain atomic pointers. */
static lg__fault_classifier classifiers[LG_CLASSIFIER__COUNT];
static lg__fault_dying_hook dying_hook;

void lg__signal_set_classifier(lg__classifier_slot slot, lg__fault_classifier fn) {
  __atomic_store_n(&classifiers[slot], fn, __ATOMIC_RELEASE);
}

void lg__signal_set_dying_hook(lg__fault_dying_hook fn) {
  __atomic_store_n(&dying_hook, fn, __ATOMIC_RELEASE);
}

/* The dispatcher's own action; SA_RESTART follows the program's (a SIGSEGV sent by kill can
 * interrupt a system call). */
static void ours(struct sigaction *sa, int user_flags) {
  memset(sa, 0, sizeof *sa);
  sa->sa_sigaction = dispatch;
  sa->sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER | (user_flags & SA_RESTART);
  sigemptyset(&sa->sa_mask);
  /* modcheck's census must not probe a thread inside the classifiers: one waiting there for a
   * census publishes its fault context instead */
  sigaddset(&sa->sa_mask, LG_SIGNAL_PROBE);
}

/* lifeguard's own stack for classifying faults (see classify_fault). */
#define CLASSIFY_STACK (1u << 20)
static char *classify_stack;
static int classify_stack_taken;

void lg__signal_install(void) {
  if (__atomic_load_n(&state, __ATOMIC_ACQUIRE) == 2) return;
  int expected = 0;
  if (!__atomic_compare_exchange_n(&state, &expected, 1, false, __ATOMIC_ACQ_REL,
                                   __ATOMIC_ACQUIRE)) {
    while (__atomic_load_n(&state, __ATOMIC_ACQUIRE) != 2) sched_yield();
    return;
  }
#ifndef LG_SANITIZED
  owning = lg__started() && lg__opts()->handle_segv;
#endif
  void *st = mmap(NULL, CLASSIFY_STACK, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (st != MAP_FAILED) classify_stack = st;
  sigset_t saved;
  lg__sig_block_all(&saved);
  static const int sigs[2] = {SIGSEGV, SIGBUS};
  for (int i = 0; i < 2; i++) {
    rec_lock(i);
    struct sigaction now, sa;
    real_sigaction(sigs[i], NULL, &now);
    ours(&sa, now.sa_flags);
    real_sigaction(sigs[i], &sa, &recs[i].act);
    rec_unlock(i);
  }
  lg__sig_setmask(&saved, NULL);
  __atomic_store_n(&state, 2, __ATOMIC_RELEASE);
}

/* ---- the dispatcher -------------------------------------------------------------------- */

/* A handler to call (the dispatcher itself, handed back by a program that kept it from
 * before ownership, would only call itself again: it counts as the default). */
static bool is_function(const struct sigaction *a) {
  if (a->sa_sigaction == dispatch) return false;
  return (a->sa_flags & SA_SIGINFO) ? a->sa_sigaction != NULL
                                    : a->sa_handler != SIG_DFL && a->sa_handler != SIG_IGN;
}

/* The default action: the process dies by `sig`, as it would have without lifeguard. */
static void die_by(int sig, bool kernel_fault) {
  lg__fault_dying_hook dying = __atomic_load_n(&dying_hook, __ATOMIC_ACQUIRE);
  if (dying) dying(sig);
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  real_sigaction(sig, &dfl, NULL);
  if (kernel_fault) return; /* the instruction faults again, now with no handler */
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, sig);
  pthread_sigmask(SIG_UNBLOCK, &one, NULL);
  raise(sig);
}

/* The classifiers and the report they may write need more stack than a program's alternate
 * signal stack offers (Rust gives each thread one of a few pages, and runs SIGSEGV on it):
 * they run on a stack of lifeguard's own, mapped when the dispatcher is installed and taken
 * by one faulting thread at a time (another classifies on the stack it is on). */

typedef struct classify_args {
  int sig;
  siginfo_t *si;
  void *uc;
} classify_args;

static void classify(classify_args *a) {
  for (int i = 0; i < LG_CLASSIFIER__COUNT; i++) {
    lg__fault_classifier fn = __atomic_load_n(&classifiers[i], __ATOMIC_ACQUIRE);
    if (fn) fn(a->sig, a->si, a->uc);
  }
}

/* Calls classify(a) with the stack pointer at `top` (16-byte aligned); rbp is cleared so
 * that frame-pointer walks end there. */
static void classify_on(classify_args *a, char *top) {
  __asm__ volatile("mov %%rsp, %%rbx\n\t"
                   "mov %%rbp, %%r12\n\t"
                   "mov %[top], %%rsp\n\t"
                   "xor %%ebp, %%ebp\n\t"
                   "call *%[fn]\n\t"
                   "mov %%r12, %%rbp\n\t"
                   "mov %%rbx, %%rsp\n\t"
                   : "+D"(a)
                   : [top] "r"(top), [fn] "r"(classify)
                   : "rbx", "r12", "rax", "rcx", "rdx", "rsi", "r8", "r9", "r10", "r11",
                     "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
                     "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "memory",
                     "cc");
}

static void classify_fault(int sig, siginfo_t *si, void *uc) {
  classify_args a = {sig, si, uc};
  int free_flag = 0;
  if (classify_stack && __atomic_compare_exchange_n(&classify_stack_taken, &free_flag, 1, false,
                                                    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
    classify_on(&a, classify_stack + CLASSIFY_STACK);
    __atomic_store_n(&classify_stack_taken, 0, __ATOMIC_RELEASE);
  } else {
    classify(&a);
  }
}

static void dispatch(int sig, siginfo_t *si, void *ucv) {
  int saved_errno = errno;
  int i = index_of(sig);
  bool kernel_fault = si && si->si_code > 0;
  if (kernel_fault) {
    if (in_classifier || lg__report_active()) {
      /* lifeguard's own classifier or report faulted: one line, and the fault's signal */
      static const char msg[] = "lifeguard: error: a fault inside lifeguard's fault handler "
                                "or report\n";
      lg__write_all(2, msg, sizeof msg - 1);
      in_classifier = 0;
      die_by(sig, true);
      return;
    }
    in_classifier = 1;
    lg__report_fault_classifying(1); /* (a fault a classifier claims is reported: never -1) */
    classify_fault(sig, si, ucv);
    lg__report_fault_classifying(-1);
    in_classifier = 0;
  }
  struct sigaction user;
  rec_read(i, &user);
  if (is_function(&user)) {
    if (user.sa_flags & SA_RESETHAND) { /* the kernel resets the action on delivery */
      rec_lock(i);
      if (recs[i].act.sa_handler == user.sa_handler) recs[i].act.sa_handler = SIG_DFL;
      rec_unlock(i);
    }
    /* the mask the kernel would have set: the interrupted code's, the handler's own, and
     * the signal itself unless SA_NODEFER */
    const ucontext_t *uc = ucv;
    sigset_t mask, saved;
    sigemptyset(&mask);
    mask.__val[0] = uc->uc_sigmask.__val[0]; /* the kernel saved 64 signals, no more */
    sigorset(&mask, &mask, &user.sa_mask);
    if (!(user.sa_flags & SA_NODEFER)) sigaddset(&mask, sig);
    lg__sig_setmask(&mask, &saved);
    errno = saved_errno;
    if (user.sa_flags & SA_SIGINFO) user.sa_sigaction(sig, si, ucv);
    else user.sa_handler(sig);
    saved_errno = errno;
    lg__sig_setmask(&saved, NULL);
  } else if (user.sa_handler == SIG_IGN && !kernel_fault) {
    /* a sent signal the program ignores (a real fault cannot be ignored: the kernel kills) */
  } else {
    die_by(sig, kernel_fault);
  }
  errno = saved_errno;
}

/* ---- the interposers --------------------------------------------------------------------- */

#ifndef LG_SANITIZED

/* Whether SIGSEGV/SIGBUS actions are kept here; installs the dispatcher on first need. */
static bool take(int sig) {
  if (index_of(sig) < 0 || !lg__started()) return false;
  if (__atomic_load_n(&state, __ATOMIC_ACQUIRE) != 2) {
    if (!lg__opts()->handle_segv) return false; /* not installed: nothing to keep */
    lg__signal_install();
  }
  return owning;
}

/* sigaction for a signal the dispatcher owns: records `act`, gives back the recorded one. */
static int owned_sigaction(int sig, const struct sigaction *act, struct sigaction *old) {
  int i = index_of(sig);
  struct sigaction copy;
  if (act) copy = *act; /* a bad pointer faults here, outside the blocked section */
  sigset_t saved;
  lg__sig_block_all(&saved);
  rec_lock(i);
  struct sigaction prev = recs[i].act;
  if (act) {
    recs[i].act = copy;
    if ((copy.sa_flags ^ prev.sa_flags) & SA_RESTART) {
      struct sigaction sa;
      ours(&sa, copy.sa_flags);
      real_sigaction(sig, &sa, NULL);
    }
  }
  rec_unlock(i);
  lg__sig_setmask(&saved, NULL);
  if (old) *old = prev;
  return 0;
}

__attribute__((visibility("default"))) int sigaction(int sig, const struct sigaction *act,
                                                     struct sigaction *old) {
  if (!take(sig)) return real_sigaction(sig, act, old);
  return owned_sigaction(sig, act, old);
}

/* signal() and its BSD names: the handler runs with the signal blocked, system calls restart */
static sighandler_t owned_signal(int sig, sighandler_t handler, int flags, bool mask_self) {
  if (handler == SIG_ERR) {
    errno = EINVAL;
    return SIG_ERR;
  }
  struct sigaction act, old;
  memset(&act, 0, sizeof act);
  act.sa_handler = handler;
  act.sa_flags = flags;
  sigemptyset(&act.sa_mask);
  if (mask_self) sigaddset(&act.sa_mask, sig);
  owned_sigaction(sig, &act, &old);
  return old.sa_handler;
}

LG_REAL(sighandler_t, signal, (int, sighandler_t))
LG_REAL(sighandler_t, bsd_signal, (int, sighandler_t))
LG_REAL(sighandler_t, ssignal, (int, sighandler_t))
LG_REAL(sighandler_t, sysv_signal, (int, sighandler_t))
LG_REAL(sighandler_t, __sysv_signal, (int, sighandler_t))
LG_REAL(sighandler_t, sigset, (int, sighandler_t))
LG_REAL(int, sigignore, (int))

/* (The real functions are looked up when the library starts, LG_REAL: a lookup may allocate,
 * the page heap's start installs the dispatcher, and with handle_segv=0 the program's call
 * must come after that.) */
#define LG_SIGNAL_LIKE(name, flags, mask_self)                                           \
  __attribute__((visibility("default"))) sighandler_t name(int sig, sighandler_t h) {    \
    sighandler_t (*real)(int, sighandler_t) = lg__get_##name();                          \
    if (!take(sig)) return real(sig, h);                                                 \
    return owned_signal(sig, h, flags, mask_self);                                       \
  }

LG_SIGNAL_LIKE(signal, SA_RESTART, true)
LG_SIGNAL_LIKE(bsd_signal, SA_RESTART, true)
LG_SIGNAL_LIKE(ssignal, SA_RESTART, true)
LG_SIGNAL_LIKE(sysv_signal, SA_RESETHAND | SA_NODEFER, false)
LG_SIGNAL_LIKE(__sysv_signal, SA_RESETHAND | SA_NODEFER, false)

/* System V's sigset: SIG_HOLD blocks the signal; any other disposition unblocks it. Returns
 * SIG_HOLD when the signal was blocked before. */
__attribute__((visibility("default"))) sighandler_t sigset(int sig, sighandler_t disp) {
  sighandler_t (*real)(int, sighandler_t) = lg__get_sigset();
  if (!take(sig)) return real(sig, disp);
  if (disp == SIG_ERR) {
    errno = EINVAL;
    return SIG_ERR;
  }
  sigset_t one, before;
  sigemptyset(&one);
  sigaddset(&one, sig);
  struct sigaction old;
  if (disp == SIG_HOLD) {
    pthread_sigmask(SIG_BLOCK, &one, &before);
    if (sigismember(&before, sig)) return SIG_HOLD;
    owned_sigaction(sig, NULL, &old);
    return old.sa_handler;
  }
  struct sigaction act;
  memset(&act, 0, sizeof act);
  act.sa_handler = disp;
  sigemptyset(&act.sa_mask);
  owned_sigaction(sig, &act, &old);
  pthread_sigmask(SIG_UNBLOCK, &one, &before);
  return sigismember(&before, sig) ? SIG_HOLD : old.sa_handler;
}

__attribute__((visibility("default"))) int sigignore(int sig) {
  int (*real)(int) = lg__get_sigignore();
  if (!take(sig)) return real(sig);
  struct sigaction act;
  memset(&act, 0, sizeof act);
  act.sa_handler = SIG_IGN;
  sigemptyset(&act.sa_mask);
  return owned_sigaction(sig, &act, NULL);
}


/* Signal masks set for lifeguard's own work. libunwind blocks signals around its table
 * lookups with sigprocmask(SIG_SETMASK) and restores them the same way; through glibc, both
 * drop glibc's internal signals (SIGCANCEL, the SIGEV_THREAD timers' SIGTIMER, and
 * SIGSETXID) from the set, so a stack taken in glibc's timer helper thread, which keeps
 * SIGTIMER blocked and waits for it, unblocked it, and the next expiry killed the process.
 * For the harness's own calls (lg__busy) the mask is set through the kernel with those two
 * signals left as they are; the program's own calls go to the C library unchanged. */
LG_REAL(int, sigprocmask, (int, const sigset_t *, sigset_t *))
LG_REAL(int, pthread_sigmask, (int, const sigset_t *, sigset_t *))

static int own_setmask(const sigset_t *set, sigset_t *old) {
  sigset_t now, want = *set;
  lg__sig_setmask(NULL, &now);
  /* glibc's 32 and 33, by bit: its sigaddset and sigismember refuse them */
  const unsigned long internal = 3ul << 31;
  want.__val[0] = (want.__val[0] & ~internal) | (now.__val[0] & internal);
  lg__sig_setmask(&want, old);
  return 0;
}

__attribute__((visibility("default"))) int sigprocmask(int how, const sigset_t *set,
                                                       sigset_t *old) {
  if (lg__busy && how == SIG_SETMASK && set) return own_setmask(set, old);
  return lg__get_sigprocmask()(how, set, old);
}

__attribute__((visibility("default"))) int pthread_sigmask(int how, const sigset_t *set,
                                                           sigset_t *old) {
  if (lg__busy && how == SIG_SETMASK && set) return own_setmask(set, old);
  return lg__get_pthread_sigmask()(how, set, old);
}

#endif

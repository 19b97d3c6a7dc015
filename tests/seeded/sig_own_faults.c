/* SPDX-License-Identifier: MIT */
/* A program that relies on its own SIGSEGV/SIGBUS handlers, for faults that are its own:
 * under lifeguard it must behave exactly as without it (tests/driver/test_signals.py runs
 * every mode natively, preloaded and linked, and compares). Each mode prints what it saw and
 * exits 0 when the program's expectations held, 1 when not.
 *   sig_own_faults barrier    a PROT_NONE page of its own: the handler opens it and returns
 *                             (a JIT's or a garbage collector's write barrier)
 *   sig_own_faults jump       signal() handler that siglongjmps out of a null dereference
 *   sig_own_faults saved      sigaction/signal/sysv_signal/sigset give back the previous
 *                             handlers (save and restore), SA_RESETHAND resets on delivery
 *   sig_own_faults mask       the handler runs with its own sa_mask; SA_NODEFER honoured
 *   sig_own_faults sent       raise(SIGSEGV): SIG_IGN ignores it, a handler sees SI_TKILL
 *   sig_own_faults null-handled  a null dereference nobody explains: the handler runs
 *   sig_own_faults null       the same with no handler: the process dies by SIGSEGV
 *   sig_own_faults bus        a read past the end of a mapped file: SIGBUS to its handler
 *   sig_own_faults overflow   a stack overflow, reported by its handler on the alternate
 *                             stack it set (SA_ONSTACK), as Rust's runtime does */
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define CHECK(c)                                                  \
  do {                                                            \
    if (!(c)) {                                                   \
      printf("FAILED: %s (line %d)\n", #c, __LINE__);             \
      exit(1);                                                    \
    }                                                             \
  } while (0)

static char *page;
static size_t page_size;
static volatile int handled;

static void open_page(int sig, siginfo_t *si, void *uc) {
  (void)sig;
  (void)uc;
  char *a = si->si_addr;
  if (a < page || a >= page + page_size) _exit(4); /* not ours: stop at once */
  mprotect(page, page_size, PROT_READ | PROT_WRITE);
  handled++;
}

static void reprotect(void) { mprotect(page, page_size, PROT_NONE); }

static int barrier(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = open_page;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  CHECK(sigaction(SIGSEGV, &sa, NULL) == 0);
  page = mmap(NULL, page_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(page != MAP_FAILED);
  for (int i = 0; i < 3; i++) {
    ((volatile char *)page)[i * 8] = (char)('a' + i);
    reprotect();
  }
  mprotect(page, page_size, PROT_READ);
  CHECK(handled == 3 && page[0] == 'a' && page[8] == 'b' && page[16] == 'c');
  printf("barrier: %d faults handled by the program\n", handled);
  return 0;
}

static sigjmp_buf jump_back;
static void jump_out(int sig) { siglongjmp(jump_back, sig); }

static int jump(void) {
  CHECK(signal(SIGSEGV, jump_out) == SIG_DFL);
  int caught = 0;
  for (int i = 0; i < 3; i++) {
    int sig = sigsetjmp(jump_back, 1);
    if (sig == 0) {
      volatile int *null = NULL;
      __asm__ volatile("" : "+r"(null)); /* a real load, not a trap the compiler put there */
      (void)*null;
      printf("FAILED: no fault\n");
      return 1;
    }
    CHECK(sig == SIGSEGV);
    caught++;
  }
  printf("jump: %d faults left by siglongjmp\n", caught);
  return 0;
}

static void handler_a(int sig) { (void)sig; }
static void handler_b(int sig, siginfo_t *si, void *uc) {
  (void)sig;
  (void)si;
  (void)uc;
}

static void reset_once(int sig, siginfo_t *si, void *uc) {
  open_page(sig, si, uc);
}

static int saved(void) {
  struct sigaction a, b, old, now;
  memset(&a, 0, sizeof a);
  a.sa_handler = handler_a;
  sigemptyset(&a.sa_mask);
  sigaddset(&a.sa_mask, SIGUSR2);
  a.sa_flags = SA_RESTART;
  memset(&b, 0, sizeof b);
  b.sa_sigaction = handler_b;
  b.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&b.sa_mask);
  CHECK(sigaction(SIGSEGV, NULL, &old) == 0 && old.sa_handler == SIG_DFL);
  CHECK(sigaction(SIGSEGV, &a, &old) == 0 && old.sa_handler == SIG_DFL);
  CHECK(sigaction(SIGSEGV, &b, &old) == 0 && old.sa_handler == handler_a);
  CHECK(sigismember(&old.sa_mask, SIGUSR2) && (old.sa_flags & SA_RESTART));
  CHECK(sigaction(SIGSEGV, NULL, &now) == 0 && now.sa_sigaction == handler_b);
  CHECK((now.sa_flags & (SA_SIGINFO | SA_ONSTACK)) == (SA_SIGINFO | SA_ONSTACK));
  CHECK(sigaction(SIGSEGV, &old, &now) == 0 && now.sa_sigaction == handler_b); /* restore */
  CHECK(signal(SIGSEGV, SIG_IGN) == handler_a);
  CHECK(sysv_signal(SIGSEGV, handler_a) == SIG_IGN);
  CHECK(sigaction(SIGSEGV, NULL, &now) == 0 && (now.sa_flags & SA_RESETHAND));
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations" /* old programs still call it */
  CHECK(sigset(SIGSEGV, SIG_DFL) == handler_a);
#pragma GCC diagnostic pop
  CHECK(signal(SIGBUS, handler_a) == SIG_DFL && signal(SIGBUS, SIG_DFL) == handler_a);
  /* SA_RESETHAND: the action is back to SIG_DFL once the handler has been entered */
  struct sigaction r;
  memset(&r, 0, sizeof r);
  r.sa_sigaction = reset_once;
  r.sa_flags = SA_SIGINFO | SA_RESETHAND;
  sigemptyset(&r.sa_mask);
  CHECK(sigaction(SIGSEGV, &r, NULL) == 0);
  page = mmap(NULL, page_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ((volatile char *)page)[0] = 1;
  CHECK(handled == 1);
  CHECK(sigaction(SIGSEGV, NULL, &now) == 0 && now.sa_handler == SIG_DFL);
  printf("saved: previous handlers given back, SA_RESETHAND reset on delivery\n");
  return 0;
}

static volatile int segv_blocked, usr1_blocked;

static void look_at_mask(int sig, siginfo_t *si, void *uc) {
  sigset_t now;
  pthread_sigmask(SIG_BLOCK, NULL, &now);
  segv_blocked = sigismember(&now, SIGSEGV);
  usr1_blocked = sigismember(&now, SIGUSR1);
  open_page(sig, si, uc);
}

static int mask(void) {
  page = mmap(NULL, page_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = look_at_mask;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, SIGUSR1);
  CHECK(sigaction(SIGSEGV, &sa, NULL) == 0);
  ((volatile char *)page)[0] = 1;
  CHECK(handled == 1 && segv_blocked && usr1_blocked);
  sigset_t after;
  pthread_sigmask(SIG_BLOCK, NULL, &after);
  CHECK(!sigismember(&after, SIGUSR1)); /* restored when the handler returned */
  reprotect();
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  CHECK(sigaction(SIGSEGV, &sa, NULL) == 0);
  ((volatile char *)page)[0] = 2;
  CHECK(handled == 2 && !segv_blocked && !usr1_blocked);
  printf("mask: the handler's own mask, SA_NODEFER honoured\n");
  return 0;
}

static volatile int sent_code = 1;
static void note_code(int sig, siginfo_t *si, void *uc) {
  (void)sig;
  (void)uc;
  sent_code = si->si_code;
}

static int sent(void) {
  CHECK(signal(SIGSEGV, SIG_IGN) == SIG_DFL);
  raise(SIGSEGV);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = note_code;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  CHECK(sigaction(SIGSEGV, &sa, NULL) == 0);
  raise(SIGSEGV);
  CHECK(sent_code == SI_TKILL);
  printf("sent: ignored, then delivered with SI_TKILL\n");
  return 0;
}

static void null_handler(int sig, siginfo_t *si, void *uc) {
  (void)uc;
  char line[96];
  int n = snprintf(line, sizeof line, "null-handled: signal %d at %p, in the program's handler\n",
                   sig, si->si_addr);
  write(1, line, (size_t)n);
  _exit(3);
}

static int null_deref(int with_handler) {
  if (with_handler) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = null_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGSEGV, &sa, NULL) == 0);
  }
  printf("null: dereferencing NULL\n");
  fflush(stdout);
  volatile int *null = NULL;
  __asm__ volatile("" : "+r"(null));
  (void)*null;
  printf("FAILED: no fault\n");
  return 1;
}

static void bus_handler(int sig, siginfo_t *si, void *uc) {
  (void)uc;
  char line[64];
  int n = snprintf(line, sizeof line, "bus: signal %d, code %d, in the program's handler\n", sig,
                   si->si_code);
  write(1, line, (size_t)n);
  _exit(5);
}

static int bus(void) {
  char path[] = "/tmp/lifeguard-sig-bus-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  unlink(path);
  CHECK(ftruncate(fd, 1) == 0);
  char *m = mmap(NULL, 2 * page_size, PROT_READ, MAP_SHARED, fd, 0);
  CHECK(m != MAP_FAILED);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = bus_handler;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  CHECK(sigaction(SIGBUS, &sa, NULL) == 0);
  volatile char c = m[page_size]; /* past the end of the file: SIGBUS */
  (void)c;
  printf("FAILED: no SIGBUS\n");
  return 1;
}

static void overflow_handler(int sig, siginfo_t *si, void *uc) {
  (void)si;
  (void)uc;
  char here;
  stack_t ss;
  sigaltstack(NULL, &ss);
  int on_alt = &here >= (char *)ss.ss_sp && &here < (char *)ss.ss_sp + ss.ss_size;
  char line[80];
  int n = snprintf(line, sizeof line, "overflow: signal %d, handled on the alternate stack: %s\n",
                   sig, on_alt ? "yes" : "no");
  write(1, line, (size_t)n);
  _exit(6);
}

__attribute__((noinline)) static int recurse(volatile int depth) {
  volatile char pad[512];
  pad[0] = (char)depth;
  if (depth < 0) return 0; /* never: the recursion ends in the overflow */
  return recurse(depth + 1) + pad[0];
}

static int overflow(void) {
  static char alt[64 * 1024];
  stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt};
  CHECK(sigaltstack(&ss, NULL) == 0);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = overflow_handler;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  CHECK(sigaction(SIGSEGV, &sa, NULL) == 0);
  return recurse(0);
}

int main(int argc, char **argv) {
  page_size = (size_t)sysconf(_SC_PAGESIZE);
  setvbuf(stdout, NULL, _IONBF, 0);
  const char *m = argc > 1 ? argv[1] : "";
  if (!strcmp(m, "barrier")) return barrier();
  if (!strcmp(m, "jump")) return jump();
  if (!strcmp(m, "saved")) return saved();
  if (!strcmp(m, "mask")) return mask();
  if (!strcmp(m, "sent")) return sent();
  if (!strcmp(m, "null-handled")) return null_deref(1);
  if (!strcmp(m, "null")) return null_deref(0);
  if (!strcmp(m, "bus")) return bus();
  if (!strcmp(m, "overflow")) return overflow();
  fprintf(stderr, "usage: %s barrier|jump|saved|mask|sent|null-handled|null|bus|overflow\n", argv[0]);
  return 2;
}

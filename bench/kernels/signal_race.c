/* SPDX-License-Identifier: MIT */
/* Signal handler against a thread: a worker updates a pair of counters that must stay equal,
 * in two critical sections; the mutex keeps other threads out, not a signal handler, which
 * runs on the worker itself. Main sends the worker SIGUSR1 and the handler checks the pair.
 * A handler that lands between the two updates sees them unequal. Clean twin: the worker
 * blocks SIGUSR1 around the update pair (the signal waits until both are done). Found at: the
 * main thread's pthread_kill while the worker is stopped between its two critical sections. */
#include "kernel.h"

#include <signal.h>
#include <string.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static volatile sig_atomic_t sent, received, handled;

static void on_usr1(int sig) {
  (void)sig;
  CHECK(sent == received);
  handled = 1;
}

static void *worker(void *arg) {
  (void)arg;
  sigset_t usr1, old;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  for (int i = 0; i < 3; i++) {
#ifdef LG_KERNEL_CLEAN
    pthread_sigmask(SIG_BLOCK, &usr1, &old);
#else
    (void)old;
#endif
    pthread_mutex_lock(&lock);
    sent++;
    pthread_mutex_unlock(&lock);
    pthread_mutex_lock(&lock);
    received++;
    pthread_mutex_unlock(&lock);
#ifdef LG_KERNEL_CLEAN
    pthread_sigmask(SIG_SETMASK, &old, NULL);
#endif
  }
  return NULL;
}

int main(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sigemptyset(&sa.sa_mask);
  CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
  pthread_t t = spawn(worker, NULL);
  sched_yield();
  CHECK(pthread_kill(t, SIGUSR1) == 0);
  pthread_join(t, NULL);
  return 0;
}

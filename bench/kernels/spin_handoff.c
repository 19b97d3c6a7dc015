/* SPDX-License-Identifier: MIT */
/* A clean program that waits by spinning: two threads pass a token back and forth through
 * plain volatile flags (no pthread call in the loops), while the main thread, after a
 * pthread_once, polls with no timeout in a loop on a C11 atomic until a worker says it is
 * done (calls that return at once are no scheduling points either). Correct under every schedule; under explore a
 * spinning thread reaches no scheduling point, so only the watchdog's preemption lets the
 * thread it waits for run (explore_preempt_ms=0 turns it off: the run then hangs). Prints
 * the token's last value. */
#include <poll.h>
#include <stdatomic.h>

#include "kernel.h"

#define ROUNDS 5

static volatile int turn; /* 0: ping's turn, 1: pong's */
static volatile int token;
static atomic_int done;

static void *ping(void *arg) {
  (void)arg;
  for (int i = 0; i < ROUNDS; i++) {
    while (turn != 0) {
    }
    token = token + 1;
    turn = 1;
  }
  return NULL;
}

static void *pong(void *arg) {
  (void)arg;
  for (int i = 0; i < ROUNDS; i++) {
    while (turn != 1) {
    }
    token = token * 2;
    turn = 0;
  }
  atomic_store(&done, 1);
  return NULL;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static void first(void) { token = 0; }

int main(void) {
  pthread_once(&once, first);
  pthread_t a = spawn(ping, NULL), b = spawn(pong, NULL);
  while (!atomic_load(&done)) poll(NULL, 0, 0);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  CHECK(token == 62); /* ((((1*2+1)*2+1)*2+1)*2+1)*2 */
  printf("token %d\n", token);
  return 0;
}

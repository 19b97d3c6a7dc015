/* SPDX-License-Identifier: MIT */
/* Clean: hand-offs through busy-waits, which explore must neither livelock nor hang on. A
 * consumer spins on an atomic flag that a producer sets; another spins on a volatile flag
 * that a producer sets after a sleep (virtual time under explore: the sleeper can only wake
 * when the spinner lets the clock move). In a `lifeguard cc` build a spinning thread waits
 * for a write to what it spins on (harness/src/access.c); a build without the instrumentation
 * has no scheduling point in the loops at all, so under explore its spinner never lets the
 * producer run. Prints the values handed over. */
#include "kernel.h"

#include <unistd.h>

static int atomic_ready, atomic_data;
static volatile int plain_ready;
static int plain_data;

static void *atomic_producer(void *arg) {
  (void)arg;
  atomic_data = 42;
  __atomic_store_n(&atomic_ready, 1, __ATOMIC_RELEASE);
  return NULL;
}

static void *atomic_consumer(void *arg) {
  (void)arg;
  while (!__atomic_load_n(&atomic_ready, __ATOMIC_ACQUIRE)) {
  }
  CHECK(atomic_data == 42);
  return NULL;
}

static void *sleepy_producer(void *arg) {
  (void)arg;
  usleep(2000);
  plain_data = 7;
  __atomic_thread_fence(__ATOMIC_RELEASE);
  plain_ready = 1;
  return NULL;
}

static void *plain_consumer(void *arg) {
  (void)arg;
  while (!plain_ready) {
  }
  __atomic_thread_fence(__ATOMIC_ACQUIRE);
  CHECK(plain_data == 7);
  return NULL;
}

int main(void) {
  pthread_t t[4] = {spawn(atomic_consumer, NULL), spawn(atomic_producer, NULL),
                    spawn(plain_consumer, NULL), spawn(sleepy_producer, NULL)};
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  printf("handed over %d and %d\n", atomic_data, plain_data);
  return 0;
}

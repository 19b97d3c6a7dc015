/* SPDX-License-Identifier: MIT */
/* Order violation: the worker reads the configuration that main publishes under a mutex only
 * after starting it, assuming it is there. Clean twin: published before the worker starts.
 * Found at: the worker running before main's critical section. */
#include "kernel.h"

typedef struct config {
  int workers;
} config;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const config *current;
static const config defaults = {4};

static void *worker(void *arg) {
  pthread_mutex_lock(&lock);
  const config *c = current;
  pthread_mutex_unlock(&lock);
  CHECK(c != NULL);
  return (void *)(long)c->workers;
}

static void publish(void) {
  pthread_mutex_lock(&lock);
  current = &defaults;
  pthread_mutex_unlock(&lock);
}

int main(void) {
#ifdef LG_KERNEL_CLEAN
  publish();
  pthread_t t = spawn(worker, NULL);
#else
  pthread_t t = spawn(worker, NULL);
  publish();
#endif
  void *r;
  pthread_join(t, &r);
  CHECK((long)r == 4);
  return 0;
}

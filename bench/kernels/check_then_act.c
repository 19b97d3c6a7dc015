/* SPDX-License-Identifier: MIT */
/* Check-then-act on a plain pointer: lazy initialization without a lock. Two threads can both
 * see no instance, both create one, and go on with different instances (the first one leaks).
 * Clean twin: the check and the creation under a mutex. Found at: a memory-access scheduling
 * point between the check and the store of the new instance (`lifeguard cc` builds only:
 * no pthread call lies between them). */
#include "kernel.h"

struct config {
  int value;
};

static struct config *instance;
#ifdef LG_KERNEL_CLEAN
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
#endif

static struct config *get_config(void) {
#ifdef LG_KERNEL_CLEAN
  pthread_mutex_lock(&lock);
#endif
  struct config *c = instance;
  if (!c) {
    c = malloc(sizeof *c);
    CHECK(c);
    c->value = 42;
    instance = c;
  }
#ifdef LG_KERNEL_CLEAN
  pthread_mutex_unlock(&lock);
#endif
  return c;
}

static void *user(void *arg) {
  *(struct config **)arg = get_config();
  return NULL;
}

int main(void) {
  struct config *seen[2];
  pthread_t a = spawn(user, &seen[0]), b = spawn(user, &seen[1]);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  printf("value %d\n", seen[0]->value);
  CHECK(seen[0] == seen[1]);
  free(instance);
  return 0;
}

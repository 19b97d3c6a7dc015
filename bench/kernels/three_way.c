/* SPDX-License-Identifier: MIT */
/* A bug that needs a specific interleaving of three threads (two preemptions): a publisher
 * installs a new table in two steps (marks the generation as changing, then installs and
 * marks it stable), a cacher that sees the changing generation notes it as "to refresh", and
 * an auditor that finds a "to refresh" note while the generation is still changing takes the
 * half-installed table as final. The failure needs the publisher preempted between its steps
 * with the cacher and then the auditor run in the gap: publisher step 1, cacher, auditor,
 * publisher step 2. Clean twin: the publisher installs in one critical section. */
#include "kernel.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int generation; /* 0 old, 1 changing, 2 new */
static int refresh_noted;
static int table_size = 10;

static void *publisher(void *arg) {
  (void)arg;
  pthread_mutex_lock(&lock);
  generation = 1;
#ifndef LG_KERNEL_CLEAN
  pthread_mutex_unlock(&lock);
  pthread_mutex_lock(&lock);
#endif
  table_size = 20;
  generation = 2;
  pthread_mutex_unlock(&lock);
  return NULL;
}

static void *cacher(void *arg) {
  (void)arg;
  pthread_mutex_lock(&lock);
  if (generation == 1) refresh_noted = 1;
  pthread_mutex_unlock(&lock);
  return NULL;
}

static void *auditor(void *arg) {
  (void)arg;
  pthread_mutex_lock(&lock);
  if (refresh_noted && generation == 1) CHECK(table_size == 20);
  pthread_mutex_unlock(&lock);
  return NULL;
}

int main(void) {
  pthread_t p = spawn(publisher, NULL), c = spawn(cacher, NULL), a = spawn(auditor, NULL);
  pthread_join(p, NULL);
  pthread_join(c, NULL);
  pthread_join(a, NULL);
  return 0;
}

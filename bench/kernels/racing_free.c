/* SPDX-License-Identifier: MIT */
/* Use after free by a racing free: the worker checks under the lock that the session is
 * open, then uses it after unlocking; main closes and frees it in between. Clean twin: the
 * use inside the critical section that checked. Found at: a preemption at the worker's
 * unlock (the fault is the page heap's use-after-free report). */
#include "kernel.h"

#include <string.h>

typedef struct session {
  char name[32];
  long bytes;
} session;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int closed;

static void *worker(void *arg) {
  session *s = arg;
  pthread_mutex_lock(&lock);
#ifdef LG_KERNEL_CLEAN
  if (!closed) s->bytes += (long)strlen(s->name);
  pthread_mutex_unlock(&lock);
#else
  int open = !closed;
  pthread_mutex_unlock(&lock);
  if (open) s->bytes += (long)strlen(s->name);
#endif
  return NULL;
}

int main(void) {
  session *s = calloc(1, sizeof *s);
  CHECK(s != NULL);
  strcpy(s->name, "session-1");
  pthread_t t = spawn(worker, s);
  pthread_mutex_lock(&lock);
  closed = 1;
  pthread_mutex_unlock(&lock);
  free(s);
  pthread_join(t, NULL);
  return 0;
}

/* SPDX-License-Identifier: MIT */
/* Use after free by a detach race: main hands a heap request to a detached worker and frees
 * it once the worker has said (under the lock) that it has the request; the worker still
 * writes the request's status after saying so. Clean twin: the worker writes the status
 * before it reports, and main frees the request only after that. Found at: a preemption at
 * the worker's unlock (the page heap's use-after-free report). */
#include "kernel.h"

#include <string.h>

typedef struct request {
  char path[32];
  int status;
} request;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int taken, finished;

static void *worker(void *arg) {
  request *r = arg;
  size_t n = strlen(r->path);
  pthread_mutex_lock(&lock);
#ifdef LG_KERNEL_CLEAN
  r->status = (int)n;
#endif
  taken = 1;
  pthread_cond_signal(&cv);
  pthread_mutex_unlock(&lock);
#ifndef LG_KERNEL_CLEAN
  r->status = (int)n;
#endif
  pthread_mutex_lock(&lock);
  finished = 1;
  pthread_cond_signal(&cv);
  pthread_mutex_unlock(&lock);
  return NULL;
}

int main(void) {
  request *r = calloc(1, sizeof *r);
  CHECK(r != NULL);
  strcpy(r->path, "/var/spool/job");
  pthread_t t = spawn(worker, r);
  pthread_detach(t);
  pthread_mutex_lock(&lock);
  while (!taken) pthread_cond_wait(&cv, &lock);
  pthread_mutex_unlock(&lock);
  free(r); /* the worker has it */
  pthread_mutex_lock(&lock);
  while (!finished) pthread_cond_wait(&cv, &lock);
  pthread_mutex_unlock(&lock);
  return 0;
}

/* SPDX-License-Identifier: MIT */
/* A worker ends the whole process with exit(0) while main is blocked in a join and another
 * worker waits on a condition variable that nobody will signal. Clean: the exit status is 0
 * and explore must neither call it a deadlock nor hang at exit (atexit handlers run in the
 * exiting thread while the others are parked). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
static int work_done;

static void goodbye(void) { printf("done %d\n", work_done); }

static void *waiter(void *arg) {
  (void)arg;
  pthread_mutex_lock(&lock);
  for (;;) pthread_cond_wait(&never, &lock);
  return NULL;
}

static void *quitter(void *arg) {
  (void)arg;
  pthread_mutex_lock(&lock);
  work_done = 1;
  pthread_mutex_unlock(&lock);
  exit(0);
}

int main(void) {
  atexit(goodbye);
  pthread_t w, q;
  pthread_create(&w, NULL, waiter, NULL);
  pthread_create(&q, NULL, quitter, NULL);
  pthread_join(w, NULL); /* never returns: the quitter exits the process */
  return 1;
}

/* SPDX-License-Identifier: MIT */
/* Cancellation: main cancels three workers, one waiting on a condition variable, one in
 * sem_wait, one in a sleep, and joins them. A cancelled condition-variable waiter holds the
 * mutex again when it unwinds, so it must release it in a cleanup handler. Bug: that worker
 * has none; when main cancels it while it waits, the mutex stays locked and main's final
 * lock waits for ever (a deadlock). (Cancelled before it reached the wait, it never took
 * the mutex.) SCT_CLEAN: the cleanup handler unlocks. */
#include <assert.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
static sem_t empty;
static int waiting;

static void unlock(void *m) { pthread_mutex_unlock(m); }

static void *cond_worker(void *arg) {
  (void)arg;
  pthread_mutex_lock(&lock);
#ifdef SCT_CLEAN
  pthread_cleanup_push(unlock, &lock);
#endif
  waiting++;
  for (;;) pthread_cond_wait(&never, &lock);
#ifdef SCT_CLEAN
  pthread_cleanup_pop(1);
#endif
  return NULL;
}

static void *sem_worker(void *arg) {
  (void)arg;
  sem_wait(&empty);
  return NULL;
}

static void *sleeper(void *arg) {
  (void)arg;
  for (;;) sleep(10);
  return NULL;
}

int main(void) {
  sem_init(&empty, 0, 0);
  pthread_t t[3];
  pthread_create(&t[0], NULL, cond_worker, NULL);
  pthread_create(&t[1], NULL, sem_worker, NULL);
  pthread_create(&t[2], NULL, sleeper, NULL);
  for (int i = 0; i < 3; i++) pthread_cancel(t[i]);
  for (int i = 0; i < 3; i++) {
    void *r;
    pthread_join(t[i], &r);
    assert(r == PTHREAD_CANCELED);
  }
  pthread_mutex_lock(&lock);
  printf("%d waited\n", waiting);
  pthread_mutex_unlock(&lock);
  return 0;
}

/* SPDX-License-Identifier: MIT */
/* A semaphore of one used as a lock. A thread that finds nothing to do posts it on its
 * early-return path and again at the common exit: the semaphore reaches two and two threads
 * are inside at once (an assertion).
 * SCT_CLEAN: the early-return path does not post again. */
#include <assert.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>

static sem_t sem;
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static int inside, work = 1;

static void enter(void) {
  pthread_mutex_lock(&count_lock);
  inside++;
  assert(inside == 1);
  pthread_mutex_unlock(&count_lock);
}

static void leave(void) {
  pthread_mutex_lock(&count_lock);
  inside--;
  pthread_mutex_unlock(&count_lock);
}

static void *worker(void *arg) {
  (void)arg;
  for (int round = 0; round < 2; round++) {
    sem_wait(&sem);
    enter();
    int nothing = work == 0;
    if (work > 0) work--;
    leave();
#ifndef SCT_CLEAN
    if (nothing) sem_post(&sem);
#else
    (void)nothing;
#endif
    sem_post(&sem);
  }
  return NULL;
}

int main(void) {
  sem_init(&sem, 0, 1);
  pthread_t t[3];
  for (int i = 0; i < 3; i++) pthread_create(&t[i], NULL, worker, NULL);
  for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
  sem_destroy(&sem);
  printf("ok\n");
  return 0;
}

/* SPDX-License-Identifier: MIT */
/* pthread_mutex_timedlock with a short timeout against a holder that sleeps with the lock
 * held: the impatient thread ignores ETIMEDOUT and updates the counter anyway, and one of
 * the two increments is lost (an assertion).
 * SCT_CLEAN: on ETIMEDOUT it waits for the lock (pthread_mutex_lock) before updating. */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int counter;

static void *slow(void *arg) {
  (void)arg;
  pthread_mutex_lock(&lock);
  int c = counter;
  usleep(10000);
  counter = c + 1;
  pthread_mutex_unlock(&lock);
  return NULL;
}

static void *impatient(void *arg) {
  (void)arg;
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_nsec += 1000000;
  if (until.tv_nsec >= 1000000000) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000;
  }
  int rc = pthread_mutex_timedlock(&lock, &until);
  assert(rc == 0 || rc == ETIMEDOUT);
#ifdef SCT_CLEAN
  if (rc == ETIMEDOUT) rc = pthread_mutex_lock(&lock);
#endif
  int c = counter;
  counter = c + 1;
  if (rc == 0) pthread_mutex_unlock(&lock);
  return NULL;
}

int main(void) {
  pthread_t a, b;
  pthread_create(&a, NULL, slow, NULL);
  pthread_create(&b, NULL, impatient, NULL);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  assert(counter == 2);
  printf("ok\n");
  return 0;
}

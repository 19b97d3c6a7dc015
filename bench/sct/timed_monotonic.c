/* SPDX-License-Identifier: MIT */
/* A waiter gives a producer 100 ms (pthread_cond_timedwait on a CLOCK_MONOTONIC condition
 * variable) and treats a timeout as "no result". The producer needs a lock that a logger
 * holds for a second (a sleep) when the logger gets it first. Bug: then the waiter times out
 * and the assertion that a result came fails. SCT_CLEAN: the waiter gives it 5 s, which is
 * enough; its twin then fails only if the timed wait does not run in virtual time on the
 * variable's own clock (a monotonic deadline read as a realtime one has passed long ago). */
#include <assert.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done;
static int result;

static void *logger(void *arg) {
  (void)arg;
  pthread_mutex_lock(&log_lock);
  sleep(1);
  pthread_mutex_unlock(&log_lock);
  return NULL;
}

static void *producer(void *arg) {
  (void)arg;
  pthread_mutex_lock(&log_lock);
  pthread_mutex_unlock(&log_lock);
  pthread_mutex_lock(&lock);
  result = 7;
  pthread_cond_signal(&done);
  pthread_mutex_unlock(&lock);
  return NULL;
}

int main(void) {
  pthread_condattr_t a;
  pthread_condattr_init(&a);
  pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
  pthread_cond_init(&done, &a);
  pthread_t l, p;
  pthread_create(&l, NULL, logger, NULL);
  pthread_create(&p, NULL, producer, NULL);
  struct timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
#ifdef SCT_CLEAN
  until.tv_sec += 5;
#else
  until.tv_nsec += 100 * 1000000L;
#endif
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&lock);
  int r = 0;
  while (result == 0 && r == 0) r = pthread_cond_timedwait(&done, &lock, &until);
  int got = result;
  pthread_mutex_unlock(&lock);
  pthread_join(l, NULL);
  pthread_join(p, NULL);
  assert(got == 7);
  return 0;
}

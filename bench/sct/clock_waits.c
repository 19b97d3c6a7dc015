/* SPDX-License-Identifier: MIT */
/* The clock variants of the timed waits: pthread_mutex_clocklock, pthread_rwlock_clockwrlock,
 * sem_clockwait and pthread_cond_clockwait, each on CLOCK_MONOTONIC with a 50 ms limit. A
 * holder thread keeps the mutex, the rwlock (read) and the semaphore's only token for a
 * virtual second (a sleep) when it gets them first; a timed-out writer skips its update.
 * Bug: main asserts that every update was made, which fails when the holder wins a race.
 * SCT_CLEAN: the holder does not sleep while holding them, and the waits retry on timeout. */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static sem_t token;
static int updates;

static struct timespec soon(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  t.tv_nsec += 50 * 1000000L;
  if (t.tv_nsec >= 1000000000L) {
    t.tv_sec++;
    t.tv_nsec -= 1000000000L;
  }
  return t;
}

static void *holder(void *arg) {
  (void)arg;
  pthread_mutex_lock(&m);
  pthread_rwlock_rdlock(&rw);
  sem_wait(&token);
#ifndef SCT_CLEAN
  sleep(1);
#endif
  sem_post(&token);
  pthread_rwlock_unlock(&rw);
  pthread_mutex_unlock(&m);
  return NULL;
}

static void *updater(void *arg) {
  (void)arg;
  struct timespec t = soon();
  int r;
  while ((r = pthread_mutex_clocklock(&m, CLOCK_MONOTONIC, &t)) == ETIMEDOUT) {
#ifdef SCT_CLEAN
    t = soon();
#else
    break;
#endif
  }
  if (r == 0) {
    updates++;
    pthread_mutex_unlock(&m);
  }
  t = soon();
  while ((r = pthread_rwlock_clockwrlock(&rw, CLOCK_MONOTONIC, &t)) == ETIMEDOUT) {
#ifdef SCT_CLEAN
    t = soon();
#else
    break;
#endif
  }
  if (r == 0) {
    updates++;
    pthread_rwlock_unlock(&rw);
  }
  t = soon();
  while ((r = sem_clockwait(&token, CLOCK_MONOTONIC, &t)) != 0 && errno == ETIMEDOUT) {
#ifdef SCT_CLEAN
    t = soon();
#else
    break;
#endif
  }
  if (r == 0) {
    updates++;
    sem_post(&token);
  }
  /* a wait that nobody signals: it must end by its timeout, in virtual time */
  pthread_mutex_lock(&m);
  t = soon();
  r = pthread_cond_clockwait(&cv, &m, CLOCK_MONOTONIC, &t);
  assert(r == ETIMEDOUT);
  pthread_mutex_unlock(&m);
  return NULL;
}

int main(void) {
  sem_init(&token, 0, 1);
  pthread_t h, u;
  pthread_create(&h, NULL, holder, NULL);
  pthread_create(&u, NULL, updater, NULL);
  pthread_join(h, NULL);
  pthread_join(u, NULL);
  assert(updates == 3);
  return 0;
}

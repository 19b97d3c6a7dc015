/* SPDX-License-Identifier: MIT */
/* Not a bug: a work queue under a mutex and two condition variables, four workers, a
 * timed wait and sleeps; prints the same lines under every schedule (explore's tests
 * compare its output with a free run). */
#include "kernel.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

#define JOBS 40
#define WORKERS 4

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t have_work = PTHREAD_COND_INITIALIZER, all_done = PTHREAD_COND_INITIALIZER;
static int queue[JOBS], head, tail, finished, stopping;
static long results[JOBS];

static void *worker(void *arg) {
  for (;;) {
    pthread_mutex_lock(&lock);
    while (head == tail && !stopping) pthread_cond_wait(&have_work, &lock);
    if (head == tail) {
      pthread_mutex_unlock(&lock);
      return NULL;
    }
    int job = queue[head++];
    pthread_mutex_unlock(&lock);
    long r = 0;
    for (int i = 1; i <= job; i++) r += (long)i * i;
    if (job % 7 == 0) usleep(1000);
    sched_yield();
    pthread_mutex_lock(&lock);
    results[job] = r;
    if (++finished == JOBS) pthread_cond_broadcast(&all_done);
    pthread_mutex_unlock(&lock);
  }
}

int main(void) {
  pthread_t t[WORKERS];
  for (int i = 0; i < WORKERS; i++) t[i] = spawn(worker, NULL);
  for (int j = 0; j < JOBS; j++) {
    pthread_mutex_lock(&lock);
    queue[tail++] = j;
    pthread_cond_signal(&have_work);
    pthread_mutex_unlock(&lock);
  }
  pthread_mutex_lock(&lock);
  while (finished < JOBS) {
    struct timespec at;
    clock_gettime(CLOCK_REALTIME, &at);
    at.tv_sec += 5;
    int r = pthread_cond_timedwait(&all_done, &lock, &at);
    CHECK(r == 0 || r == ETIMEDOUT);
  }
  stopping = 1;
  pthread_cond_broadcast(&have_work);
  pthread_mutex_unlock(&lock);
  for (int i = 0; i < WORKERS; i++) pthread_join(t[i], NULL);
  long sum = 0;
  for (int j = 0; j < JOBS; j++) {
    printf("job %d: %ld\n", j, results[j]);
    sum += results[j];
  }
  printf("total %ld\n", sum);
  return 0;
}

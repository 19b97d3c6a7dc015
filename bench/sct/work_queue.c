/* SPDX-License-Identifier: MIT */
/* A work queue with a stop flag: the producer queues six items, then raises the flag and
 * broadcasts. The workers leave as soon as they see the flag, even with items still queued:
 * items are left undone (an assertion in main).
 * SCT_CLEAN: a worker leaves only when the flag is up and the queue is empty. */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>

#define ITEMS 6
#define WORKERS 2

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int queue[ITEMS], head, tail, stop, done_sum;

static void *worker(void *arg) {
  (void)arg;
  pthread_mutex_lock(&lock);
  for (;;) {
    while (head == tail && !stop) pthread_cond_wait(&changed, &lock);
#ifdef SCT_CLEAN
    if (head == tail) break;
#else
    if (stop) break;
#endif
    int item = queue[head++];
    pthread_mutex_unlock(&lock);
    pthread_mutex_lock(&lock);
    done_sum += item;
  }
  pthread_mutex_unlock(&lock);
  return NULL;
}

int main(void) {
  pthread_t t[WORKERS];
  for (int i = 0; i < WORKERS; i++) pthread_create(&t[i], NULL, worker, NULL);
  for (int i = 1; i <= ITEMS; i++) {
    pthread_mutex_lock(&lock);
    queue[tail++] = i;
    pthread_cond_signal(&changed);
    pthread_mutex_unlock(&lock);
  }
  pthread_mutex_lock(&lock);
  stop = 1;
  pthread_cond_broadcast(&changed);
  pthread_mutex_unlock(&lock);
  for (int i = 0; i < WORKERS; i++) pthread_join(t[i], NULL);
  assert(done_sum == ITEMS * (ITEMS + 1) / 2);
  printf("ok\n");
  return 0;
}

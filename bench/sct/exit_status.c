/* SPDX-License-Identifier: MIT */
/* The bug shows only as the exit status: two threads add to a total, each reading it in one
 * critical section and writing it in another; main exits 3 when an addition was lost
 * (found with explore --exit-code).
 * SCT_CLEAN: each addition is one critical section. */
#include <pthread.h>
#include <stdio.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int total;

static void *adder(void *arg) {
  int amount = (int)(long)arg;
  pthread_mutex_lock(&lock);
#ifdef SCT_CLEAN
  total += amount;
#else
  int t = total;
  pthread_mutex_unlock(&lock);
  pthread_mutex_lock(&lock);
  total = t + amount;
#endif
  pthread_mutex_unlock(&lock);
  return NULL;
}

int main(void) {
  pthread_t a, b;
  pthread_create(&a, NULL, adder, (void *)5L);
  pthread_create(&b, NULL, adder, (void *)7L);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  printf("%d\n", total);
  return total == 12 ? 0 : 3;
}

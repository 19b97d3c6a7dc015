/* SPDX-License-Identifier: MIT */
/* Atomicity violation: a deposit reads the balance in one critical section and writes it in
 * another, so two deposits can both read the old balance and one is lost. Clean twin: the
 * read and the write in one critical section. Found at: a preemption between the two. */
#include "kernel.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long balance;

static void *deposit(void *arg) {
  long amount = (long)arg;
#ifdef LG_KERNEL_CLEAN
  pthread_mutex_lock(&lock);
  balance += amount;
  pthread_mutex_unlock(&lock);
#else
  pthread_mutex_lock(&lock);
  long seen = balance;
  pthread_mutex_unlock(&lock);
  pthread_mutex_lock(&lock);
  balance = seen + amount;
  pthread_mutex_unlock(&lock);
#endif
  return NULL;
}

int main(void) {
  pthread_t a = spawn(deposit, (void *)10L), b = spawn(deposit, (void *)32L);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  CHECK(balance == 42);
  return 0;
}

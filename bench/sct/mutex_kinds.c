/* SPDX-License-Identifier: MIT */
/* Recursive and error-checking mutexes. withdraw() checks the balance through a helper that
 * takes the recursive mutex again, then withdraws in a second critical section: two threads
 * can both pass the check and overdraw (an assertion). Along the way the error-checking
 * mutex must answer as glibc does: EDEADLK to its owner locking it again, EPERM to a thread
 * unlocking it without owning it (asserted in the clean twin too).
 * SCT_CLEAN: check and withdrawal in one critical section (the helper nested in it). */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

static pthread_mutex_t rec, chk;
static int balance = 10;

static int has_funds(int amount) {
  pthread_mutex_lock(&rec);
  int ok = balance >= amount;
  pthread_mutex_unlock(&rec);
  return ok;
}

static void *withdraw(void *arg) {
  (void)arg;
  assert(pthread_mutex_unlock(&chk) == EPERM);
  pthread_mutex_lock(&rec);
  int ok = has_funds(10);
#ifndef SCT_CLEAN
  pthread_mutex_unlock(&rec);
  pthread_mutex_lock(&rec);
#endif
  if (ok) balance -= 10;
  pthread_mutex_unlock(&rec);
  return NULL;
}

int main(void) {
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
  pthread_mutex_init(&rec, &a);
  pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
  pthread_mutex_init(&chk, &a);
  pthread_mutexattr_destroy(&a);
  assert(pthread_mutex_lock(&chk) == 0);
  assert(pthread_mutex_lock(&chk) == EDEADLK);
  pthread_t t[2];
  for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, withdraw, NULL);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  assert(pthread_mutex_unlock(&chk) == 0);
  assert(balance >= 0);
  printf("balance %d\n", balance);
  return 0;
}

/* SPDX-License-Identifier: MIT */
/* A bank account whose every operation takes the lock, with a wrong invariant: withdraw checks
 * the balance in one critical section and takes the money in the next. Two withdrawals that
 * both pass the check overdraw the account (assertion). The unlock between check and take is a
 * scheduling point: a plain gcc build is enough. SCT_CLEAN: check and take in one section. */
#include <assert.h>
#include <pthread.h>
#include <stdint.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long balance = 0;

static void deposit(long amount) {
  pthread_mutex_lock(&lock);
  balance += amount;
  pthread_mutex_unlock(&lock);
}

static int withdraw(long amount) {
  pthread_mutex_lock(&lock);
  int enough = balance >= amount;
#ifndef SCT_CLEAN
  pthread_mutex_unlock(&lock);
  if (!enough) return 0;
  pthread_mutex_lock(&lock);
#else
  if (!enough) {
    pthread_mutex_unlock(&lock);
    return 0;
  }
#endif
  balance -= amount;
  assert(balance >= 0);
  pthread_mutex_unlock(&lock);
  return 1;
}

static void *customer(void *arg) {
  long amount = (long)(intptr_t)arg;
  withdraw(amount);
  return NULL;
}

static void *payroll(void *arg) {
  (void)arg;
  deposit(100);
  return NULL;
}

int main(void) {
  pthread_t p, c1, c2;
  pthread_create(&p, NULL, payroll, NULL);
  pthread_create(&c1, NULL, customer, (void *)(intptr_t)70);
  pthread_create(&c2, NULL, customer, (void *)(intptr_t)60);
  pthread_join(p, NULL);
  pthread_join(c1, NULL);
  pthread_join(c2, NULL);
  return 0;
}

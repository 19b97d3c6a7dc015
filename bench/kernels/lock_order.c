/* SPDX-License-Identifier: MIT */
/* Lock-order deadlock: a transfer locks the source account then the destination, so two
 * opposite transfers can each hold one lock and wait for the other. Clean twin: locks taken
 * in address order. Found at: a preemption between the two locks. */
#include "kernel.h"

#include <stdint.h>

typedef struct account {
  pthread_mutex_t lock;
  long balance;
} account;

static account x = {PTHREAD_MUTEX_INITIALIZER, 100}, y = {PTHREAD_MUTEX_INITIALIZER, 100};

typedef struct transfer {
  account *from, *to;
  long amount;
} transfer;

static void *run(void *arg) {
  transfer *t = arg;
  account *first = t->from, *second = t->to;
#ifdef LG_KERNEL_CLEAN
  if ((uintptr_t)first > (uintptr_t)second) {
    first = t->to;
    second = t->from;
  }
#endif
  pthread_mutex_lock(&first->lock);
  pthread_mutex_lock(&second->lock);
  t->from->balance -= t->amount;
  t->to->balance += t->amount;
  pthread_mutex_unlock(&second->lock);
  pthread_mutex_unlock(&first->lock);
  return NULL;
}

int main(void) {
  transfer a = {&x, &y, 30}, b = {&y, &x, 20};
  pthread_t ta = spawn(run, &a), tb = spawn(run, &b);
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  CHECK(x.balance + y.balance == 200);
  return 0;
}

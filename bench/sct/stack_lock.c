/* SPDX-License-Identifier: MIT */
/* A bounded stack whose push and pop each take the lock, used with a wrong invariant: a
 * consumer checks that the stack is not empty before it locks to pop. Two consumers that
 * both see one element pop twice: the second pop underflows (assertion). SCT_CLEAN: the
 * check is made under the lock. */
#include <assert.h>
#include <pthread.h>
#include <stdbool.h>

#define CAP 16
static int items[CAP];
static int top;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void push(int v) {
  pthread_mutex_lock(&lock);
  assert(top < CAP);
  items[top++] = v;
  pthread_mutex_unlock(&lock);
}

static int pop(void) {
  pthread_mutex_lock(&lock);
  assert(top > 0);
  int v = items[--top];
  pthread_mutex_unlock(&lock);
  return v;
}

static bool try_pop(int *v) {
#ifdef SCT_CLEAN
  pthread_mutex_lock(&lock);
  bool ok = top > 0;
  if (ok) *v = items[--top];
  pthread_mutex_unlock(&lock);
  return ok;
#else
  if (top == 0) return false;
  *v = pop();
  return true;
#endif
}

static void *producer(void *arg) {
  (void)arg;
  for (int i = 1; i <= 2; i++) push(i);
  return NULL;
}

static void *consumer(void *arg) {
  (void)arg;
  int v, got = 0;
  for (int i = 0; i < 2; i++)
    if (try_pop(&v)) got += v;
  return (void *)(long)got;
}

int main(void) {
  pthread_t p, c[2];
  pthread_create(&p, NULL, producer, NULL);
  for (int i = 0; i < 2; i++) pthread_create(&c[i], NULL, consumer, NULL);
  pthread_join(p, NULL);
  for (int i = 0; i < 2; i++) pthread_join(c[i], NULL);
  return 0;
}

/* SPDX-License-Identifier: MIT */
/* Threads that are never joined: some detached, some not, still running (in a loop of
 * yields and locks) when main returns. Clean: main's return ends the process with status 0,
 * whatever the others were doing. */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long ticks;

static void *spinner(void *arg) {
  (void)arg;
  for (;;) {
    pthread_mutex_lock(&lock);
    ticks++;
    pthread_mutex_unlock(&lock);
    sched_yield();
  }
  return NULL;
}

int main(void) {
  for (int i = 0; i < 3; i++) {
    pthread_t t;
    pthread_create(&t, NULL, spinner, NULL);
    if (i % 2) pthread_detach(t);
  }
  pthread_mutex_lock(&lock);
  long seen = ticks;
  pthread_mutex_unlock(&lock);
  printf("main returns (%s)\n", seen >= 0 ? "ok" : "?");
  return 0;
}

/* SPDX-License-Identifier: MIT */
/* The module of the dlclose_race kernel: module_start starts a poller thread that runs this
 * module's code (a poll, then a short sleep) until module_stop asks it to stop; with a
 * nonzero `join`, module_stop also joins the thread, so no code of the module runs after it
 * returns (the clean twin's host asks for that). */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int stopping;
static long polls;
static pthread_t poller;

static int poll_once(void) {
  pthread_mutex_lock(&lock);
  int stop = stopping;
  if (!stop) polls++;
  pthread_mutex_unlock(&lock);
  return !stop;
}

static void *poll_loop(void *arg) {
  (void)arg;
  while (poll_once()) usleep(100); /* a poll every 100 us */
  return NULL;
}

int module_start(void) { return pthread_create(&poller, NULL, poll_loop, NULL); }

void module_stop(int join) {
  pthread_mutex_lock(&lock);
  stopping = 1;
  pthread_mutex_unlock(&lock);
  if (join) pthread_join(poller, NULL);
  else pthread_detach(poller);
}

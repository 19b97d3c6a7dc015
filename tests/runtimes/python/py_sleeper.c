/* SPDX-License-Identifier: MIT */
/* A CPython plugin (loaded with ctypes) that starts a thread of its own. The thread waits in
 * the plugin, or in libc called from the plugin, until the plugin's stop function tells it to
 * end. py_unload.py unloads the plugin with _ctypes.dlclose: without sleeper_stop first, the
 * thread is still in the plugin's code when its pages go (unload-while-running).
 *
 * Four ways of waiting, one per start function, each in its own thread function so the
 * report names it:
 *   sleeper_start_read       wait_for_command:  read() on a pipe (blocks in libc)
 *   sleeper_start_poll       poll_for_events:   poll() with no timeout, on a 32 KiB stack
 *   sleeper_start_nanosleep  tick_until_stopped: nanosleep() in a loop, a stop flag checked
 *   sleeper_start_condwait   wait_for_signal:   pthread_cond_wait() on the plugin's condvar
 * A start function returns once its thread is running in the plugin (a condition variable:
 * no sleeps); sleeper_stop wakes the thread (pipe byte, flag, signal) and joins it.
 */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

static pthread_t worker;
static int running;
static int wake[2] = {-1, -1};
static volatile int stop_requested;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int started;
static long ticks;

static void announce_started(void) {
  pthread_mutex_lock(&lock);
  started = 1;
  pthread_cond_broadcast(&changed);
  pthread_mutex_unlock(&lock);
}

NOINLINE void *wait_for_command(void *arg) {
  announce_started();
  char c;
  ssize_t n = read(wake[0], &c, 1);
  return (void *)(long)n;
}

NOINLINE void *poll_for_events(void *arg) {
  announce_started();
  struct pollfd p = {.fd = wake[0], .events = POLLIN};
  while (poll(&p, 1, -1) < 0) {
  }
  return NULL;
}

NOINLINE void *tick_until_stopped(void *arg) {
  announce_started();
  struct timespec period = {0, 2 * 1000 * 1000};
  while (!stop_requested) {
    nanosleep(&period, NULL);
    ticks++;
  }
  return NULL;
}

NOINLINE void *wait_for_signal(void *arg) {
  pthread_mutex_lock(&lock);
  started = 1;
  pthread_cond_broadcast(&changed);
  while (!stop_requested) pthread_cond_wait(&changed, &lock);
  pthread_mutex_unlock(&lock);
  return NULL;
}

static int start(void *(*fn)(void *), size_t stack) {
  if (running) return -1;
  if (pipe(wake) != 0) return -1;
  stop_requested = 0;
  started = 0;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  if (stack) pthread_attr_setstacksize(&attr, stack);
  int rc = pthread_create(&worker, &attr, fn, NULL);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    fprintf(stderr, "py_sleeper: pthread_create: %s\n", strerror(rc));
    return -1;
  }
  pthread_mutex_lock(&lock);
  while (!started) pthread_cond_wait(&changed, &lock);
  pthread_mutex_unlock(&lock);
  running = 1;
  return 0;
}

int sleeper_start_read(void) { return start(wait_for_command, 0); }
int sleeper_start_poll(void) { return start(poll_for_events, 32 * 1024); }
int sleeper_start_nanosleep(void) { return start(tick_until_stopped, 0); }
int sleeper_start_condwait(void) { return start(wait_for_signal, 0); }

int sleeper_stop(void) {
  if (!running) return -1;
  pthread_mutex_lock(&lock);
  stop_requested = 1;
  pthread_cond_broadcast(&changed);
  pthread_mutex_unlock(&lock);
  if (write(wake[1], "q", 1) != 1) return -1;
  pthread_join(worker, NULL);
  close(wake[0]);
  close(wake[1]);
  running = 0;
  return 0;
}

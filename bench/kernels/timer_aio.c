/* SPDX-License-Identifier: MIT */
/* Not a bug: threads the C library starts itself, not through the pthread_create a
 * preloaded library sees. A SIGEV_THREAD timer's callbacks run in glibc's notification
 * threads (started by its helper thread, which waits for the timer's signal with it
 * blocked), and lock and signal what the main thread waits on; then an AIO read, served by
 * glibc's AIO thread. Prints the same lines under every schedule. */
#include "kernel.h"

#include <aio.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TICKS 3

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ticked = PTHREAD_COND_INITIALIZER;
static int fired;

static void tick(union sigval v) {
  (void)v;
  pthread_mutex_lock(&lock);
  fired++;
  pthread_cond_broadcast(&ticked);
  pthread_mutex_unlock(&lock);
}

int main(void) {
  struct sigevent se;
  memset(&se, 0, sizeof se);
  se.sigev_notify = SIGEV_THREAD;
  se.sigev_notify_function = tick;
  timer_t timer;
  CHECK(timer_create(CLOCK_MONOTONIC, &se, &timer) == 0);
  struct itimerspec every = {{0, 2000000}, {0, 2000000}};
  CHECK(timer_settime(timer, 0, &every, NULL) == 0);
  pthread_mutex_lock(&lock);
  while (fired < TICKS) pthread_cond_wait(&ticked, &lock);
  pthread_mutex_unlock(&lock);
  CHECK(timer_delete(timer) == 0);
  printf("timer fired at least %d times\n", TICKS);

  int fd = open("/proc/self/exe", O_RDONLY);
  CHECK(fd >= 0);
  char head[4];
  struct aiocb cb;
  memset(&cb, 0, sizeof cb);
  cb.aio_fildes = fd;
  cb.aio_buf = head;
  cb.aio_nbytes = sizeof head;
  CHECK(aio_read(&cb) == 0);
  const struct aiocb *list[1] = {&cb};
  while (aio_error(&cb) == EINPROGRESS) aio_suspend(list, 1, NULL);
  CHECK(aio_return(&cb) == (ssize_t)sizeof head);
  printf("aio read %s\n", memcmp(head, "\177ELF", 4) == 0 ? "an ELF header" : "something");
  close(fd);
  return 0;
}

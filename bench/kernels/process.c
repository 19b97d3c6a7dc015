/* SPDX-License-Identifier: MIT */
/* Not a bug: what a process does besides threads, under control. A thread started by a
 * constructor before main waits for main; a signal sent to a thread blocked in sem_wait runs
 * a handler there that posts the semaphore the thread waits on; a child forked by a threaded
 * parent runs its own threads (free: the child is not controlled) while the parent waits for
 * it in waitpid. Prints the same lines under every schedule. */
#include "kernel.h"

#include <errno.h>
#include <semaphore.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static sem_t go, posted;
static pthread_t early_thread;
static int early_saw;

static void *early(void *arg) { /* started before main */
  (void)arg;
  CHECK(sem_wait(&go) == 0);
  early_saw = 1;
  return NULL;
}

__attribute__((constructor)) static void start_early(void) {
  CHECK(sem_init(&go, 0, 0) == 0);
  early_thread = spawn(early, NULL);
}

static void on_usr1(int sig) {
  (void)sig;
  sem_post(&posted); /* async-signal-safe */
}

static void *waiter(void *arg) {
  (void)arg;
  while (sem_wait(&posted) != 0) CHECK(errno == EINTR);
  return NULL;
}

static pthread_mutex_t child_lock = PTHREAD_MUTEX_INITIALIZER;
static int child_count;

/* fork copies child_lock as it is: held by the busy thread, it would stay held in the child
 * for ever. The usual cure: hold it across the fork. */
static void fork_prepare(void) { pthread_mutex_lock(&child_lock); }
static void fork_release(void) { pthread_mutex_unlock(&child_lock); }

static void *child_worker(void *arg) {
  (void)arg;
  for (int i = 0; i < 1000; i++) {
    pthread_mutex_lock(&child_lock);
    child_count++;
    pthread_mutex_unlock(&child_lock);
  }
  return NULL;
}

int main(void) {
  CHECK(sem_post(&go) == 0);
  CHECK(pthread_join(early_thread, NULL) == 0 && early_saw == 1);
  printf("constructor thread done\n");

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
  CHECK(sem_init(&posted, 0, 0) == 0);
  pthread_t w = spawn(waiter, NULL);
  sched_yield(); /* (the waiter may block on the semaphore first, or not) */
  CHECK(pthread_kill(w, SIGUSR1) == 0);
  CHECK(pthread_join(w, NULL) == 0);
  printf("signal handler posted\n");

  CHECK(pthread_atfork(fork_prepare, fork_release, fork_release) == 0);
  pthread_t busy = spawn(child_worker, NULL); /* the parent is threaded when it forks */
  fflush(stdout);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    pthread_t a = spawn(child_worker, NULL), b = spawn(child_worker, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    printf("child counted %d\n", child_count >= 2000 ? 2000 : -1);
    fflush(stdout);
    _exit(0);
  }
  int st;
  CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
  CHECK(pthread_join(busy, NULL) == 0);
  printf("parent counted %d\n", child_count);
  return 0;
}

/* SPDX-License-Identifier: MIT */
/* Close/reuse race on descriptors: a writer looks up its connection's descriptor under the
 * connection lock and writes after unlocking; a closer closes that descriptor (under the
 * lock) and a third thread opens a journal file, which the kernel may give the same number.
 * The writer's late write then goes to the journal, or fails on a closed descriptor. Clean
 * twin: the write inside the critical section that looked the descriptor up. Found at: a
 * preemption at the writer's unlock with the closer (and the opener) run before it; the
 * failure is fdcheck's closed-fd-use report (its quarantine keeps the number from being
 * reused at once) or the journal check. */
#include "kernel.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t conn_lock = PTHREAD_MUTEX_INITIALIZER;
static int conn_fd = -1;
static int journal_fd = -1;
static int out[2];

static void *writer(void *arg) {
  (void)arg;
  pthread_mutex_lock(&conn_lock);
#ifdef LG_KERNEL_CLEAN
  if (conn_fd >= 0) CHECK(write(conn_fd, "ping", 4) == 4);
  pthread_mutex_unlock(&conn_lock);
#else
  int fd = conn_fd;
  pthread_mutex_unlock(&conn_lock);
  if (fd >= 0) CHECK(write(fd, "ping", 4) == 4);
#endif
  return NULL;
}

static void *closer(void *arg) {
  (void)arg;
  pthread_mutex_lock(&conn_lock);
  close(conn_fd);
  conn_fd = -1;
  pthread_mutex_unlock(&conn_lock);
  return NULL;
}

static void *opener(void *arg) {
  char *path = arg;
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  CHECK(fd >= 0);
  pthread_mutex_lock(&conn_lock);
  journal_fd = fd;
  pthread_mutex_unlock(&conn_lock);
  return NULL;
}

int main(void) {
  char path[] = "/tmp/lg-kernel-fd-reuse-XXXXXX";
  int tmp = mkstemp(path);
  CHECK(tmp >= 0);
  close(tmp);
  CHECK(pipe(out) == 0);
  conn_fd = out[1];
  pthread_t w = spawn(writer, NULL), c = spawn(closer, NULL), o = spawn(opener, path);
  pthread_join(w, NULL);
  pthread_join(c, NULL);
  pthread_join(o, NULL);
  /* nothing but the journal's owner may have written to the journal */
  char buf[8];
  CHECK(lseek(journal_fd, 0, SEEK_SET) == 0);
  CHECK(read(journal_fd, buf, sizeof buf) == 0);
  close(journal_fd);
  close(out[0]);
  unlink(path);
  return 0;
}

/* SPDX-License-Identifier: MIT */
/* Producer/consumer over a pipe, with blocking reads and writes between threads: two
 * producers send framed records (a length byte, then the body) into one pipe and a consumer
 * reads them back. Each producer writes the frame in two write() calls, taking the sequence
 * lock between them to number the record, so the other producer's frame can land between a
 * header and its body: the consumer reads a wrong length or a garbled body. Clean twin: each
 * frame is one write() (PIPE_BUF-atomic). Found at: a preemption at a producer's sequence
 * lock, with the other producer's header written before. */
#include "kernel.h"

#include <string.h>
#include <unistd.h>

#define RECORDS 2 /* per producer */

static int chan[2];
static pthread_mutex_t seq_lock = PTHREAD_MUTEX_INITIALIZER;
static int seq;

static void read_all(int fd, char *buf, size_t n) {
  while (n > 0) {
    ssize_t r = read(fd, buf, n);
    CHECK(r > 0);
    buf += r;
    n -= (size_t)r;
  }
}

static void *producer(void *arg) {
  char tag = (char)(long)arg;
  for (int i = 0; i < RECORDS; i++) {
    char frame[8] = {6, tag, tag, tag, tag, tag, 0, 0};
#ifdef LG_KERNEL_CLEAN
    pthread_mutex_lock(&seq_lock);
    frame[6] = (char)('0' + seq++);
    pthread_mutex_unlock(&seq_lock);
    CHECK(write(chan[1], frame, 7) == 7);
#else
    CHECK(write(chan[1], frame, 1) == 1);
    pthread_mutex_lock(&seq_lock);
    frame[6] = (char)('0' + seq++);
    pthread_mutex_unlock(&seq_lock);
    CHECK(write(chan[1], frame + 1, 6) == 6);
#endif
  }
  return NULL;
}

static void *consumer(void *arg) {
  (void)arg;
  for (int i = 0; i < 2 * RECORDS; i++) {
    char len, body[6];
    read_all(chan[0], &len, 1);
    CHECK(len == 6);
    read_all(chan[0], body, 6);
    CHECK(body[0] == 'a' || body[0] == 'b');
    CHECK(memcmp(body, body + 1, 4) == 0);
  }
  return NULL;
}

int main(void) {
  CHECK(pipe(chan) == 0);
  pthread_t c = spawn(consumer, NULL);
  pthread_t a = spawn(producer, (void *)(long)'a'), b = spawn(producer, (void *)(long)'b');
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  pthread_join(c, NULL);
  close(chan[0]);
  close(chan[1]);
  return 0;
}

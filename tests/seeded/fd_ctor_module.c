/* SPDX-License-Identifier: MIT */
/* The module fd_locked_sections loads: its constructor makes descriptor calls while dlopen
 * holds the dynamic loader's lock, on the loading thread or (FD_CTOR_MODE=thread) on a thread
 * it starts and waits for, as a library that starts a worker at load time does. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int ok;

static void *descriptor_calls(void *arg) {
  int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  struct stat st;
  char buf[64];
  int p[2];
  if (fd >= 0 && fstat(fd, &st) == 0 && read(fd, buf, sizeof buf) > 0 && pipe(p) == 0) {
    int copy = dup(p[1]);
    ok = write(copy, "x", 1) == 1 && read(p[0], buf, 1) == 1 && close(copy) == 0 &&
         close(p[0]) == 0 && close(p[1]) == 0;
  }
  FILE *f = fopen("/proc/self/stat", "r");
  ok = ok && f && fgets(buf, sizeof buf, f) && fclose(f) == 0 && close(fd) == 0;
  return arg;
}

__attribute__((constructor)) static void module_start(void) {
  const char *mode = getenv("FD_CTOR_MODE");
  if (mode && !strcmp(mode, "thread")) {
    pthread_t t;
    if (pthread_create(&t, NULL, descriptor_calls, NULL) == 0) pthread_join(t, NULL);
  } else {
    descriptor_calls(NULL);
  }
}

__attribute__((visibility("default"))) int fd_ctor_module_ok(void) { return ok; }

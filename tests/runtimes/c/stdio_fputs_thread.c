/* SPDX-License-Identifier: MIT */
/* libc called on a freed object, on another thread: a logger thread writes with fputs() to a
 * FILE that the main thread has already closed (and glibc freed).
 *
 *   stdio_fputs_thread fault PATH   main closes the log, then hands the logger its last line;
 *                                   glibc's fputs locks the freed FILE: a use after free INSIDE
 *                                   libc whose stack must name write_line, on the logger thread
 *   stdio_fputs_thread clean PATH   the twin joins the logger before it closes the log
 *
 * Free: shutdown_log (fclose). Allocation: start_log (fopen). The hand-off is a pipe: the
 * logger writes only after it reads a line number from it. Built with -O2 and without frame
 * pointers (tests/runtimes/CMakeLists.txt), as most C programs are.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

struct logger {
  FILE *out;
  int commands[2]; /* main -> logger: line numbers; EOF ends the logger */
  int written;
  int closed;
};

NOINLINE FILE *start_log(const char *path) {
  FILE *f = fopen(path, "w");
  if (!f) {
    perror(path);
    exit(1);
  }
  return f;
}

NOINLINE void shutdown_log(struct logger *lg) {
  fclose(lg->out);
  lg->closed = 1;
}

NOINLINE void write_line(struct logger *lg, int n) {
  char line[64];
  snprintf(line, sizeof line, "line %d\n", n);
  fputs(line, lg->out);
  lg->written++;
}

static void *logger_main(void *arg) {
  struct logger *lg = arg;
  int n;
  while (read(lg->commands[0], &n, sizeof n) == (ssize_t)sizeof n) write_line(lg, n);
  return NULL;
}

static void send_line(struct logger *lg, int n) {
  if (write(lg->commands[1], &n, sizeof n) != (ssize_t)sizeof n) exit(1);
}

int main(int argc, char **argv) {
  if (argc != 3 || (strcmp(argv[1], "fault") && strcmp(argv[1], "clean"))) {
    fprintf(stderr, "usage: stdio_fputs_thread fault|clean PATH\n");
    return 2;
  }
  int fault = !strcmp(argv[1], "fault");
  struct logger lg = {0};
  lg.out = start_log(argv[2]);
  if (pipe(lg.commands) != 0) return 1;
  pthread_t logger;
  pthread_create(&logger, NULL, logger_main, &lg);
  for (int i = 0; i < 3; i++) send_line(&lg, i);
  if (fault) {
    shutdown_log(&lg); /* the bug: the logger still has work to do */
    send_line(&lg, 3);
    close(lg.commands[1]);
    pthread_join(logger, NULL);
  } else {
    send_line(&lg, 3);
    close(lg.commands[1]);
    pthread_join(logger, NULL);
    shutdown_log(&lg);
  }
  close(lg.commands[0]);
  printf("%d lines written\n", lg.written);
  return 0;
}

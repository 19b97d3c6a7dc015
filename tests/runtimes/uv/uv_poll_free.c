/* SPDX-License-Identifier: MIT */
/* libuv: an event delivered to a freed registration.
 *
 *   uv_poll_free fault   a watch (a uv_poll_t on a pipe) is started, then forget_watch frees it
 *                        without uv_close(); the pipe already has data, so the loop's next poll
 *                        (uv__io_poll, inside uv_run) reads the freed watcher to deliver the
 *                        event: a use after free INSIDE libuv, whose stack must reach
 *                        serve_events through libuv's frames
 *   uv_poll_free clean   the twin stops and closes the watch and frees it in the close callback
 *
 * Free: forget_watch. Allocation: make_watch. The byte is written before the loop runs. Built
 * with -O2 and without frame pointers (tests/runtimes/CMakeLists.txt).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#define NOINLINE __attribute__((noinline))

struct watch {
  uv_poll_t poll;
  int fd;
  char name[40];
};

static uv_loop_t loop;
static int events;
static int watches; /* (counted after the free, so forget_watch's free is not a tail call) */

static void on_readable(uv_poll_t *poll, int status, int ev) {
  struct watch *w = poll->data;
  char c;
  if (status == 0 && read(w->fd, &c, 1) == 1) events++;
  uv_stop(&loop);
}

static void on_closed(uv_handle_t *handle) { free(handle->data); }

NOINLINE struct watch *make_watch(int fd, const char *name) {
  struct watch *w = calloc(1, sizeof *w);
  if (!w) abort();
  w->fd = fd;
  snprintf(w->name, sizeof w->name, "%s", name);
  uv_poll_init(&loop, &w->poll, fd);
  w->poll.data = w;
  uv_poll_start(&w->poll, UV_READABLE, on_readable);
  watches++;
  return w;
}

NOINLINE void forget_watch(struct watch *w, int fault) {
  if (fault) {
    free(w); /* the bug: still registered with the loop */
  } else {
    uv_poll_stop(&w->poll);
    uv_close((uv_handle_t *)&w->poll, on_closed);
  }
  watches--;
}

NOINLINE int serve_events(void) {
  int alive = uv_run(&loop, UV_RUN_DEFAULT);
  return alive || events == 0;
}

int main(int argc, char **argv) {
  if (argc != 2 || (strcmp(argv[1], "fault") && strcmp(argv[1], "clean"))) {
    fprintf(stderr, "usage: uv_poll_free fault|clean\n");
    return 2;
  }
  int fault = !strcmp(argv[1], "fault");
  int fds[2];
  if (pipe(fds) != 0) return 1;
  uv_loop_init(&loop);
  struct watch *w = make_watch(fds[0], "control pipe");
  if (write(fds[1], "x", 1) != 1) return 1;
  forget_watch(w, fault);
  if (!serve_events()) printf("loop ended\n");
  printf("%d event(s) delivered, %d watch(es) left\n", events, watches);
  close(fds[0]);
  close(fds[1]);
  if (!fault) return uv_loop_close(&loop) == 0 ? 0 : 1;
  return 0;
}

/* SPDX-License-Identifier: MIT */
/* libuv: a timer handle freed right after uv_close(), before libuv has finished closing it.
 *
 *   uv_close_free fault   the tick callback closes the handle and frees its memory at once;
 *                         libuv's closing-handles pass (uv__finish_close, inside uv_run) then
 *                         reads the freed handle: a use after free INSIDE libuv, whose stack
 *                         must reach run_loop through libuv's frames (built without frame
 *                         pointers)
 *   uv_close_free clean   the twin frees the memory in the close callback, as libuv requires
 *
 * Free: drop_ticker (called from on_tick, called by libuv). Allocation: make_ticker.
 * Deterministic: the third tick closes the handle; nothing depends on timing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define NOINLINE __attribute__((noinline))

struct ticker {
  uv_timer_t timer;
  int ticks;
  int limit;
};

static int fault;

static void on_closed(uv_handle_t *handle) { free(handle->data); }

NOINLINE static struct ticker *make_ticker(uv_loop_t *loop, int limit) {
  struct ticker *t = calloc(1, sizeof *t);
  if (!t) abort();
  uv_timer_init(loop, &t->timer);
  t->timer.data = t;
  t->limit = limit;
  return t;
}

NOINLINE static void drop_ticker(struct ticker *t) {
  if (fault) {
    uv_close((uv_handle_t *)&t->timer, NULL);
    free(t); /* the bug: libuv still links the handle in its closing list */
  } else {
    uv_close((uv_handle_t *)&t->timer, on_closed);
  }
}

static void on_tick(uv_timer_t *timer) {
  struct ticker *t = timer->data;
  printf("tick %d\n", ++t->ticks);
  if (t->ticks == t->limit) drop_ticker(t);
}

NOINLINE static int run_loop(uv_loop_t *loop) {
  int alive = uv_run(loop, UV_RUN_DEFAULT);
  printf("loop ran\n");
  return alive;
}

int main(int argc, char **argv) {
  if (argc != 2 || (strcmp(argv[1], "fault") && strcmp(argv[1], "clean"))) {
    fprintf(stderr, "usage: uv_close_free fault|clean\n");
    return 2;
  }
  fault = !strcmp(argv[1], "fault");
  setvbuf(stdout, NULL, _IOLBF, 0);
  uv_loop_t loop;
  uv_loop_init(&loop);
  struct ticker *t = make_ticker(&loop, 3);
  uv_timer_start(&t->timer, on_tick, 1, 1);
  run_loop(&loop);
  printf("loop closed: %s\n", uv_loop_close(&loop) == 0 ? "yes" : "busy");
  return 0;
}

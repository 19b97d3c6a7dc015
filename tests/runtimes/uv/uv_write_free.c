/* SPDX-License-Identifier: MIT */
/* libuv: a write request freed while libuv still holds it.
 *
 *   uv_write_free fault   send_record frees its uv_write_t as soon as uv_write() returns; the
 *                         data went out at once, but the request sits in the stream's
 *                         completed-writes queue until the loop runs its callbacks
 *                         (uv__write_callbacks, inside uv_run): a use after free INSIDE libuv,
 *                         whose stack must reach pump_records through libuv's frames
 *   uv_write_free clean   the twin frees the request in its write callback
 *
 * Free and allocation: send_record. The stream is one end of a socketpair, the other end is
 * read back by the program; every step is ordered by the loop itself. Each write is completed
 * by the loop before the next is queued (with two queued, the second uv_write would already
 * touch the first's freed request, from send_record).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define NOINLINE __attribute__((noinline))

struct record_write {
  uv_write_t req;
  char text[48];
};

static int fault;
static int written;

static void on_written(uv_write_t *req, int status) {
  if (status == 0) written++;
  if (!fault) free(req->data);
}

NOINLINE static void send_record(uv_stream_t *stream, int n) {
  struct record_write *w = malloc(sizeof *w);
  if (!w) abort();
  w->req.data = w;
  int len = snprintf(w->text, sizeof w->text, "record %d\n", n);
  uv_buf_t buf = uv_buf_init(w->text, (unsigned)len);
  if (uv_write(&w->req, stream, &buf, 1, on_written) != 0) abort();
  if (fault) free(w); /* the bug: the request is still queued inside libuv */
}

NOINLINE static int pump_records(uv_loop_t *loop) {
  int alive = uv_run(loop, UV_RUN_DEFAULT);
  return alive + written;
}

int main(int argc, char **argv) {
  if (argc != 2 || (strcmp(argv[1], "fault") && strcmp(argv[1], "clean"))) {
    fprintf(stderr, "usage: uv_write_free fault|clean\n");
    return 2;
  }
  fault = !strcmp(argv[1], "fault");
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 1;
  uv_loop_t loop;
  uv_loop_init(&loop);
  uv_pipe_t pipe;
  uv_pipe_init(&loop, &pipe, 0);
  if (uv_pipe_open(&pipe, sv[0]) != 0) return 1;
  for (int i = 0; i < 3; i++) { /* one write in flight at a time, each completed by the loop */
    send_record((uv_stream_t *)&pipe, i);
    pump_records(&loop);
  }
  uv_close((uv_handle_t *)&pipe, NULL);
  pump_records(&loop);
  char got[256];
  ssize_t n = read(sv[1], got, sizeof got - 1);
  got[n > 0 ? n : 0] = 0;
  printf("%d writes completed\n%s", written, got);
  close(sv[1]);
  return uv_loop_close(&loop) == 0 ? 0 : 1;
}

/* SPDX-License-Identifier: MIT */
/* libuv: a TCP echo server and its client over loopback, each on its own loop and thread.
 *
 * The server (thread "server") listens on 127.0.0.1 with an ephemeral port and echoes what it
 * reads; the client (the main thread) connects, sends MESSAGES messages of different sizes,
 * waits for each echo in full before it sends the next, then shuts its side down. The server
 * sees EOF, closes the connection and its listener, and its loop ends. Nothing depends on
 * timing: the port is handed over with a semaphore, every other step follows from I/O.
 * A real program that must run clean and unchanged under `lifeguard verify`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#define MESSAGES 200

static uv_sem_t port_ready;
static int server_port;
static size_t server_bytes;
static int server_connections;

static void alloc_buffer(uv_handle_t *handle, size_t suggested, uv_buf_t *buf) {
  buf->base = malloc(suggested);
  buf->len = buf->base ? suggested : 0;
}

/* ---- server ---- */

struct echo_write {
  uv_write_t req;
  char *data;
};

static void free_handle(uv_handle_t *handle) { free(handle); }

static void on_echoed(uv_write_t *req, int status) {
  struct echo_write *w = (struct echo_write *)req;
  free(w->data);
  free(w);
}

static void on_server_read(uv_stream_t *conn, ssize_t n, const uv_buf_t *buf) {
  if (n > 0) {
    struct echo_write *w = malloc(sizeof *w);
    w->data = buf->base;
    server_bytes += (size_t)n;
    uv_buf_t out = uv_buf_init(buf->base, (unsigned)n);
    uv_write(&w->req, conn, &out, 1, on_echoed);
    return;
  }
  free(buf->base);
  if (n < 0) {
    uv_close((uv_handle_t *)conn, free_handle);
    uv_close((uv_handle_t *)conn->data, NULL); /* one client: the listener goes too */
  }
}

static void on_connection(uv_stream_t *listener, int status) {
  if (status != 0) return;
  uv_tcp_t *conn = malloc(sizeof *conn);
  uv_tcp_init(listener->loop, conn);
  conn->data = listener;
  if (uv_accept(listener, (uv_stream_t *)conn) == 0) {
    server_connections++;
    uv_read_start((uv_stream_t *)conn, alloc_buffer, on_server_read);
  } else {
    uv_close((uv_handle_t *)conn, free_handle);
  }
}

static void server_main(void *arg) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  uv_tcp_t listener;
  uv_tcp_init(&loop, &listener);
  struct sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", 0, &addr);
  if (uv_tcp_bind(&listener, (const struct sockaddr *)&addr, 0) != 0 ||
      uv_listen((uv_stream_t *)&listener, 16, on_connection) != 0) {
    fprintf(stderr, "uv_echo: cannot listen on 127.0.0.1\n");
    exit(1);
  }
  struct sockaddr_storage bound;
  int len = sizeof bound;
  uv_tcp_getsockname(&listener, (struct sockaddr *)&bound, &len);
  server_port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
  uv_sem_post(&port_ready);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
}

/* ---- client ---- */

struct client {
  uv_tcp_t tcp;
  uv_connect_t connect;
  uv_write_t write;
  uv_shutdown_t shutdown;
  char out[4096];
  size_t expected, received;
  int sent;
  unsigned long checksum;
};

static void send_next(struct client *c);

static void on_shutdown(uv_shutdown_t *req, int status) {
  uv_close((uv_handle_t *)req->handle, NULL);
}

static void on_client_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf) {
  struct client *c = stream->data;
  for (ssize_t i = 0; i < n; i++) c->checksum = c->checksum * 31 + (unsigned char)buf->base[i];
  free(buf->base);
  if (n < 0) {
    fprintf(stderr, "uv_echo: the server closed early: %s\n", uv_strerror((int)n));
    exit(1);
  }
  c->received += (size_t)n;
  if (c->received == c->expected) send_next(c);
}

static void on_client_written(uv_write_t *req, int status) {
  if (status != 0) {
    fprintf(stderr, "uv_echo: write: %s\n", uv_strerror(status));
    exit(1);
  }
}

static void send_next(struct client *c) {
  if (c->sent == MESSAGES) {
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown);
    return;
  }
  size_t len = 1 + (size_t)(c->sent * 97) % (sizeof c->out - 1);
  for (size_t i = 0; i < len; i++) c->out[i] = (char)('a' + (c->sent + i) % 26);
  c->sent++;
  c->expected += len;
  uv_buf_t buf = uv_buf_init(c->out, (unsigned)len);
  uv_write(&c->write, (uv_stream_t *)&c->tcp, &buf, 1, on_client_written);
}

static void on_connected(uv_connect_t *req, int status) {
  struct client *c = req->data;
  if (status != 0) {
    fprintf(stderr, "uv_echo: connect: %s\n", uv_strerror(status));
    exit(1);
  }
  uv_read_start((uv_stream_t *)&c->tcp, alloc_buffer, on_client_read);
  send_next(c);
}

int main(void) {
  uv_sem_init(&port_ready, 0);
  uv_thread_t server;
  uv_thread_create(&server, server_main, NULL);
  uv_sem_wait(&port_ready);

  uv_loop_t loop;
  uv_loop_init(&loop);
  struct client *c = calloc(1, sizeof *c);
  uv_tcp_init(&loop, &c->tcp);
  c->tcp.data = c;
  c->connect.data = c;
  struct sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", server_port, &addr);
  uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&addr, on_connected);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  uv_thread_join(&server);
  uv_sem_destroy(&port_ready);

  printf("client: %d messages, %zu bytes echoed, checksum %lu\n", c->sent, c->received,
         c->checksum);
  printf("server: %d connection(s), %zu bytes read\n", server_connections, server_bytes);
  int ok = c->sent == MESSAGES && c->received == c->expected;
  free(c);
  return ok ? 0 : 1;
}

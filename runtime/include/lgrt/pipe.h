/* SPDX-License-Identifier: MIT */
/* Named pipes of the reference runtime, in the shape of mio's Windows NamedPipe.
 *
 * A pipe is a handle on a reference-counted inner state (mio's Arc<Inner>) holding the
 * descriptor (an AF_UNIX stream socket; a server listens on an abstract-namespace name), the
 * overlapped operations (connect, read, event) and, under its lock, the registration (port,
 * token, generation) and the read state. Operations are overlapped-style: a read is armed on
 * the port and completes once, into the inner buffer, and each armed operation holds a
 * reference until its completion (or its cancellation packet) is consumed.
 *
 * Readiness reaches the driver two ways, as in mio:
 *   - from the driver's own thread, inside an operation's completion: pushed to the batch;
 *   - from user context (registering; a read that finds the peer gone and whose re-armed read
 *     fails at once): posted to the port.
 * mio 0.8.10 posted those with the raw token and no reference (fault switch
 * `pipe-post-raw-token`, tokio#6369). The fixed post names the inner's event overlapped and
 * owns a reference; its consumer delivers the event only if the pipe is still registered under
 * the generation it was posted for (with `pipe-event-presence-check`, only if it is registered
 * at all: mio 0.8.11's residual gap). */
#ifndef LGRT_PIPE_H
#define LGRT_PIPE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <lgrt/io.h>
#include <lgrt/port.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lgrt_pipe lgrt_pipe;

/* A server instance listening on `name` (abstract namespace). */
int lgrt_pipe_server_create(const char *name, lgrt_pipe **out);
/* ConnectNamedPipe: 0 when a client was waiting (connected now; readiness is posted if the
 * pipe is registered), -EINPROGRESS when the connect is armed (it completes as WRITABLE). */
int lgrt_pipe_server_connect(lgrt_pipe *p);
/* A client connected to `name`. */
int lgrt_pipe_client_open(const char *name, lgrt_pipe **out);

/* Bytes read (> 0), 0 at end of stream (the peer disconnected), -EAGAIN (wait for
 * READABLE), or -errno. */
ssize_t lgrt_pipe_read(lgrt_pipe *p, void *buf, size_t cap);
/* Bytes written, -EAGAIN, -EPIPE, or -errno. */
ssize_t lgrt_pipe_write(lgrt_pipe *p, const void *buf, size_t len);
/* DisconnectNamedPipe (server) / shutting the client's end: the peer reads end of stream. */
int lgrt_pipe_disconnect(lgrt_pipe *p);
/* Cancels pending operations and drops the handle's reference. */
void lgrt_pipe_drop(lgrt_pipe *p);

/* The pipe as a registration source (src = lgrt_pipe *). */
extern const lgrt_source_ops lgrt_pipe_source;

/* Inner states alive in this process (a leak check for tests). */
long lgrt_pipe_live_inners(void);
/* Operations and packets in flight in this process that hold a pipe's inner state (armed
 * reads and connects, their cancellations, posted events); for tests. */
long lgrt_pipe_ops_in_flight(void);

#ifdef __cplusplus
}
#endif
#endif

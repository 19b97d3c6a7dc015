/* The completion port of the reference runtime: readiness of watched descriptors plus a queue
 * of posted packets, consumed together by one call.
 *
 * It has the property of a Windows I/O completion port that the pipe-disconnect class is
 * about: a posted packet cannot be withdrawn. Unwatching a descriptor or deregistering the
 * object a packet names does not remove the packet; whoever consumes it must cope, and
 * whatever it points to must still be alive when it is consumed (tokio#6369).
 *
 * A packet is {key, overlapped, flags, bytes}. Packets that name an overlapped go to its
 * `done` callback when consumed (the overlapped-operation path: the callback owns whatever
 * reference the operation held); packets without one carry the key as the event's token.
 *
 * The Linux implementation (port/port_linux.c) is epoll plus an eventfd-signalled queue; a
 * Windows one would be a real IOCP behind the same calls. Under lg_sched the wait is a
 * scheduling point and waits in virtual time. */
#ifndef LGRT_PORT_H
#define LGRT_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Readiness bits (events and packets). */
enum {
  LGRT_READABLE = 1u << 0,
  LGRT_WRITABLE = 1u << 1,
  LGRT_READ_CLOSED = 1u << 2,
  LGRT_WRITE_CLOSED = 1u << 3,
  LGRT_ERROR = 1u << 4,
  LGRT_CANCELLED = 1u << 5, /* packet flag: the operation was cancelled (no I/O happened) */
};

typedef struct lgrt_port lgrt_port;
typedef struct lgrt_overlapped lgrt_overlapped;

typedef struct lgrt_packet {
  uint64_t key;         /* the token (packets without an overlapped) */
  lgrt_overlapped *ovl; /* NULL: the key is the event */
  uint32_t flags;       /* readiness bits, LGRT_CANCELLED */
  uint32_t bytes;       /* free for the poster (IOCP's bytes transferred) */
  uint64_t reg;         /* the oracle's stamp: the registration `key` was bound to when the
                           packet was posted or collected (lgrt_port_bind; 0 = not known,
                           LG_ORACLE_NOBODY = none). The port sets it; posters leave it 0. */
} lgrt_packet;

/* The events one poll produces: what the driver dispatches. */
typedef struct lgrt_event {
  uint64_t token;
  uint32_t readiness;
  bool invalid; /* withdrawn from this batch before its dispatch */
  uint64_t reg; /* the registration the event was produced for: the packet's stamp, or the
                   token's registration when it was pushed */
} lgrt_event;

typedef struct lgrt_events {
  lgrt_event *ev;
  size_t len, cap;
  lgrt_port *port; /* stamps each event with the registration its token names when it is
                      pushed (lgrt_port_bound), or NULL */
} lgrt_events;

/* Appends an event; drops it (returns false) when the batch is full. An operation's
 * completion pushes its event while its source is registered, so the stamp names the
 * registration the event is produced for. */
bool lgrt_events_push(lgrt_events *evs, uint64_t token, uint32_t readiness);

/* Called once for each consumed packet naming `ovl`. `out` is the batch to add events to, or
 * NULL when the port is closing and the callback must only release what the packet held. */
typedef void (*lgrt_overlapped_fn)(lgrt_overlapped *ovl, const lgrt_packet *pkt,
                                   lgrt_events *out);
struct lgrt_overlapped {
  lgrt_overlapped_fn done;
};

int lgrt_port_open(lgrt_port **out);
/* Consumes every packet still queued (overlapped ones with out = NULL), then frees the port. */
void lgrt_port_close(lgrt_port *p);

/* Watches `fd` for `interest` (LGRT_READABLE | LGRT_WRITABLE). Its readiness arrives as a
 * packet {key, ovl}; `key` must have bit 0 clear. `oneshot`: one packet, then the watch is
 * disarmed until watched again (an overlapped operation completes once). Watching an fd
 * already watched re-arms it with the new values. Returns 0 or -errno. */
int lgrt_port_watch(lgrt_port *p, int fd, uint32_t interest, uint64_t key, lgrt_overlapped *ovl,
                    bool oneshot);
int lgrt_port_unwatch(lgrt_port *p, int fd);

/* The delivery oracle's view of keys: which registration (an lg_oracle_serial) a key names
 * now. A driver binds a token before its source is registered and unbinds it once the source
 * is deregistered; the port stamps each packet it queues or collects with the registration
 * its key names then, and the consumer checks that the event reaches that registration
 * (lifeguard/oracle.h, misdelivered-event). No-ops when the oracles are off. */
void lgrt_port_bind(lgrt_port *p, uint64_t key, uint64_t reg);
void lgrt_port_unbind(lgrt_port *p, uint64_t key);
/* The registration `key` names now: LG_ORACLE_NOBODY when none, 0 when the oracles are off. */
uint64_t lgrt_port_bound(lgrt_port *p, uint64_t key);

/* Queues a packet (PostQueuedCompletionStatus). It cannot be withdrawn. */
int lgrt_port_post(lgrt_port *p, const lgrt_packet *pkt);

/* Wakes a waiting lgrt_port_get_many (a packet that is no event). */
int lgrt_port_wake(lgrt_port *p);

/* Waits up to `timeout_ns` (-1: no limit, 0: do not wait) for packets and returns up to `cap`
 * of them: descriptor readiness first, then posted packets in posting order. Returns the
 * count or -errno. */
ssize_t lgrt_port_get_many(lgrt_port *p, lgrt_packet *out, size_t cap, int64_t timeout_ns);

#ifdef __cplusplus
}
#endif
#endif

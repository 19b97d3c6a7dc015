/* SPDX-License-Identifier: MIT */
/* The I/O driver of the reference runtime, in tokio's shape.
 *
 * A scheduled-io object (lgrt_sched_io, tokio's ScheduledIo) holds an I/O source's readiness
 * and its waiters. It is reference counted: the driver's registration set holds one
 * reference, the user's registration (lgrt_registration, tokio's Registration inside
 * PollEvented) the other. Dropping a registration deregisters the source and moves the object
 * to the pending-release list; the driver drops the set's reference at the start of its next
 * turn. One turn is: release pending registrations, poll the completion port, dispatch each
 * event to the object its token names.
 *
 * Token policy (per driver):
 *   LGRT_TOKEN_RAW   the token is the object's address (tokio >= 1.30); a stale token is a
 *                    pointer to freed memory, so nothing may deliver one (tokio#6369).
 *   LGRT_TOKEN_SLOT  the token is a slot index and a generation (tokio <= 1.29); a stale one
 *                    finds an empty slot or another generation and is ignored.
 *
 * Loop style (per driver):
 *   LGRT_LOOP_TASKS      dispatch sets readiness and wakes waiters; tasks run elsewhere and
 *                        releases wait for the next turn (tokio).
 *   LGRT_LOOP_CALLBACKS  dispatch calls each object's callback on the loop's own thread, and a
 *                        registration dropped there is released at once (libuv-style loops).
 *                        Its events still in the current batch must then be withdrawn
 *                        (libuv#826); fault switch `port-stale-batch` leaves them. */
#ifndef LGRT_IO_H
#define LGRT_IO_H

#include <stdbool.h>
#include <stdint.h>

#include <lgrt/port.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lgrt_token_policy { LGRT_TOKEN_RAW = 0, LGRT_TOKEN_SLOT } lgrt_token_policy;
typedef enum lgrt_loop_style { LGRT_LOOP_TASKS = 0, LGRT_LOOP_CALLBACKS } lgrt_loop_style;

typedef struct lgrt_driver lgrt_driver;
typedef struct lgrt_sched_io lgrt_sched_io;

/* A callback-style loop's per-registration callback, called by dispatch. */
typedef void (*lgrt_callback_fn)(void *arg, uint32_t readiness);

int lgrt_driver_open(lgrt_driver **out, lgrt_token_policy policy, lgrt_loop_style style);
/* Releases every registration still held and closes the port. The caller has dropped every
 * registration's user side (or never will). */
void lgrt_driver_close(lgrt_driver *d);
lgrt_port *lgrt_driver_port(lgrt_driver *d);

/* One turn: release pending registrations, wait up to timeout_ns (-1 no limit) for packets,
 * dispatch them. Returns the number of events dispatched, or -errno. */
int lgrt_driver_turn(lgrt_driver *d, int64_t timeout_ns);

/* Marks the driver shut down and wakes every waiter and the port. */
void lgrt_driver_shutdown(lgrt_driver *d);
bool lgrt_driver_is_shutdown(lgrt_driver *d);

/* Counters for tests: objects allocated and freed, stale events dropped by the token policy,
 * events withdrawn from a batch. */
typedef struct lgrt_driver_stats {
  uint64_t allocated, freed, stale_ignored, withdrawn;
} lgrt_driver_stats;
lgrt_driver_stats lgrt_driver_get_stats(lgrt_driver *d);

/* ---- the source side (what mio's Source trait is) ----------------------------------- */

typedef struct lgrt_source_ops {
  /* Register `src` with `port` under `token` for `interest`; 0 or -errno. */
  int (*reg)(void *src, lgrt_port *port, uint64_t token, uint32_t interest);
  /* Deregister it; 0 or -errno. */
  int (*dereg)(void *src, lgrt_port *port);
} lgrt_source_ops;

/* A plain descriptor as a source: watched by the port, key = token, level-triggered. The
 * source pointer is an `int *` to the descriptor. */
extern const lgrt_source_ops lgrt_fd_source;

/* ---- registrations (tokio's PollEvented / Registration) ----------------------------- */

typedef struct lgrt_registration {
  lgrt_driver *driver;
  lgrt_sched_io *io;
  void *src;
  const lgrt_source_ops *ops;
} lgrt_registration;

/* Allocates a scheduled-io object in the registration set and registers `src` with its
 * token. Returns 0 or -errno (nothing allocated). */
int lgrt_registration_new(lgrt_registration *r, lgrt_driver *d, void *src,
                          const lgrt_source_ops *ops, uint32_t interest);
/* Deregisters the source, hands the object to the pending-release list and drops the user's
 * reference (PollEvented::drop). `r` is empty afterwards. */
void lgrt_registration_drop(lgrt_registration *r);

/* Waits until the readiness has a bit of `interest`, the driver shuts down (returns 0), or
 * timeout_ns passes (-1 no limit). Returns the readiness bits seen. */
uint32_t lgrt_registration_wait(lgrt_registration *r, uint32_t interest, int64_t timeout_ns);
/* The readiness now, and clearing bits of it (after a WouldBlock). */
uint32_t lgrt_registration_readiness(const lgrt_registration *r);
void lgrt_registration_clear(lgrt_registration *r, uint32_t bits);
/* Callback-style loops: dispatch calls fn(arg, readiness) after each readiness update. */
void lgrt_registration_set_callback(lgrt_registration *r, lgrt_callback_fn fn, void *arg);
uint64_t lgrt_registration_token(const lgrt_registration *r);

/* ---- the places the reports name ---------------------------------------------------- */

/* The readiness update of a dispatched event (ScheduledIo::set_readiness + wake). */
void lgrt_sched_io_set_readiness(lgrt_sched_io *io, uint32_t readiness);
/* The start of a turn (RegistrationSet::release): drops the set's references of the
 * registrations deregistered since the last turn; the last reference frees the object. */
void lgrt_driver_release_pending(lgrt_driver *d);

#ifdef __cplusplus
}
#endif
#endif

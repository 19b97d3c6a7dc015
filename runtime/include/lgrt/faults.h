/* SPDX-License-Identifier: MIT */
/* Fault switches of the reference runtime: each historical bug, off by default, on by name.
 *
 * Enabled by LIFEGUARD_FAULTS=name[,name] or lg_fault_set(). Each switch sits at the one
 * line where its bug lived, with a comment naming the original bug. */
#ifndef LGRT_FAULTS_H
#define LGRT_FAULTS_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lg_fault_id {
  /* trippy#1443: the socket wrapper's destroy closes the socket before its owned field does */
  LG_FAULT_SOCKET_CLOSE_IN_DROP,
  /* trippy#1443: SourceAddr::validate closes the socket explicitly before it is dropped */
  LG_FAULT_SOCKET_VALIDATE_CLOSE,
  /* bedrocklinux-userland#334 shape: a stream is closed, then its descriptor number again */
  LG_FAULT_FCLOSE_THEN_CLOSE,
  /* tokio#6369 / mio 0.8.10: a named pipe posts readiness with the raw token and no reference */
  LG_FAULT_PIPE_POST_RAW_TOKEN,
  /* mio 0.8.11's residual: the consumer of a posted event checks that the pipe is registered,
   * not that it is still the registration the event was posted for */
  LG_FAULT_PIPE_EVENT_PRESENCE_CHECK,
  /* libuv#826: a registration closed inside a callback keeps its stale entries in the current
   * poll batch */
  LG_FAULT_PORT_STALE_BATCH,
  /* mio#1769: a driver module keeps a multi-thread runtime in a lazily started static that is
   * never shut down; unloading the module leaves its workers running in unmapped code */
  LG_FAULT_DRIVER_STATIC_RUNTIME,
  /* tokio's shutdown_background (napi-rs#3443): the runtime is told to stop but not joined
   * before the module is unloaded */
  LG_FAULT_DRIVER_SHUTDOWN_BACKGROUND,
  /* asio#869 / OpenBLAS#2362 shape: the runtime is joined in the module's destructor, under
   * the loader lock that an ending worker needs */
  LG_FAULT_DRIVER_DESTRUCTOR_JOIN,
  /* a periodic timer registered by the module with its host is left pending at unload */
  LG_FAULT_DRIVER_PENDING_TIMER,
  /* rayon#1101 shape: a pthread key with a destructor in the module outlives the unload while
   * a thread still holds a value */
  LG_FAULT_DRIVER_KEY_DESTRUCTOR,
  /* napi-rs#2571: an async function's vector of borrowed references is not pinned (the binder
   * took `Vec<&T>` for a plain value) */
  LG_FAULT_BIND_VEC_BORROW_UNPINNED,
  /* napi-rs#1338: an async method does not pin `this` */
  LG_FAULT_BIND_THIS_UNPINNED,
  /* napi-rs#1575: a borrowed argument is pinned with a reference of count 0, which is weak */
  LG_FAULT_BIND_REF_WEAK,
  /* napi-rs PR #2589's residual: the vector's array is pinned, its elements are not */
  LG_FAULT_BIND_VEC_PIN_ARRAY_ONLY,
  /* napi-rs PR #2499: the pins are released on the worker, racing the main actor's counts */
  LG_FAULT_BIND_RELEASE_OFF_MAIN,
  /* a close-once guard that reads its flag and then sets it, where two paths race to close:
   * both can read "open" (the check-then-act of many hand-written close-once guards) */
  LG_FAULT_SOCKET_CLOSE_CHECK_THEN_SET,
  /* a runtime's shutdown skips joining its threads when their count says every one has left,
   * but a thread counts itself out before it has left the module's code (the reason
   * FreeLibraryAndExitThread exists): planted, the needle of module-unload */
  LG_FAULT_DRIVER_EXIT_COUNT_CHECK,
  /* Planted for the functional oracles: bugs that break a contract and touch no freed memory.
   * tokio <= 1.29's slab tokens without their generation: a stale token resolves to the slot's
   * next registration, which receives the old registration's event */
  LG_FAULT_SLOT_GENERATION_UNCHECKED,
  /* a registration's drop forgets to release the user's reference: the scheduled-io object
   * outlives its driver */
  LG_FAULT_REGISTRATION_DROP_KEEPS_REF,
  /* a named pipe posts an event packet without the reference its consumer releases */
  LG_FAULT_PIPE_POST_NO_REF,
  /* the host's timer cancel returns without waiting for a call of the timer in progress */
  LG_FAULT_HOST_CANCEL_NO_WAIT,
  /* the binder's release of a call's pins stops one short of the last */
  LG_FAULT_BIND_UNPIN_ONE_SHORT,
  /* A planted error-path bug, not a historical one: when the port's eventfd or its epoll
   * registration fails, the cleanup closes the epoll descriptor twice (an inline cleanup
   * followed by the shared one). Only a failed eventfd reaches it: failure injection. */
  LG_FAULT_PORT_OPEN_CLEANUP_TWICE,
  /* a pipe's drop frees its inner state at once when its count of operations in flight reads
   * zero, but a completion counts itself out before it releases its reference: the
   * completion that consumed the drop's own cancellation may still hold one (planted: the
   * needle of pipe-disconnect) */
  LG_FAULT_PIPE_DROP_OPS_CHECK,
  LG_FAULT__COUNT
} lg_fault_id;

/* True when the switch is on. Cheap: one load after the first call. */
bool lg_fault(lg_fault_id id);

/* Turns a switch on or off by name. Returns 0, or -1 for an unknown name. */
int lg_fault_set(const char *name, bool on);

/* Turns every switch off (also forgets LIFEGUARD_FAULTS). */
void lg_fault_reset(void);

/* The switch's name ("socket-close-in-drop"), and the bug it reproduces. */
const char *lg_fault_name(lg_fault_id id);
const char *lg_fault_origin(lg_fault_id id);

/* Looks a switch up by name; returns LG_FAULT__COUNT when unknown. */
lg_fault_id lg_fault_lookup(const char *name);

#ifdef __cplusplus
}
#endif
#endif

/* SPDX-License-Identifier: MIT */
/* The I/O driver: scheduled-io objects, the registration set, the pending-release list, and
 * turn() = release, poll, dispatch (tokio's runtime/io/{driver,registration_set,
 * scheduled_io}.rs, in C). */
#include <lgrt/io.h>

#include <errno.h>
#include <stdlib.h>

#include <lgrt/faults.h>
#include <lgrt/sys.h>
#include <lifeguard/oracle.h>
#include <lifeguard/sched.h>

/* The oracles' names for what this file keeps (lifeguard/oracle.h). */
static const char SCHED_IO[] = "scheduled-io", REG[] = "registration";
static const char SET_REF[] = "registration-set", USER_REF[] = "user-registration";

#define BATCH 64

struct lgrt_sched_io {
  uint64_t refs;      /* the registration set's and the user's */
  uint64_t readiness; /* LGRT_* bits, updated atomically by dispatch */
  lgrt_driver *driver;
  lg_mutex waiters;
  lg_cond wake;
  lgrt_callback_fn cb;
  void *cb_arg;
  lgrt_sched_io *prev, *next; /* in the registration set, or next in the pending list */
  uint32_t slot, generation;  /* LGRT_TOKEN_SLOT */
  uint64_t serial;            /* the registration's identity for the oracles, never reused */
};

struct slot {
  lgrt_sched_io *io;
  uint32_t generation;
};

struct lgrt_driver {
  lgrt_port *port;
  lgrt_token_policy policy;
  lgrt_loop_style style;
  lg_mutex synced; /* the set, the pending list, the slots */
  lgrt_sched_io *registrations;
  lgrt_sched_io *pending;
  struct slot *slots;
  size_t nslots;
  uint64_t shutdown;
  lgrt_event batch_ev[BATCH];
  lgrt_events batch; /* the events of the turn being dispatched */
  lgrt_driver_stats stats;
  uint64_t dispatch_for, dispatch_token; /* the event being dispatched: whom it was for */
};

static void count(uint64_t *counter) { __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED); }

int lgrt_driver_open(lgrt_driver **out, lgrt_token_policy policy, lgrt_loop_style style) {
  lgrt_driver *d = lgrt_calloc(1, sizeof *d);
  if (!d) return -ENOMEM;
  int err = lgrt_port_open(&d->port);
  if (err) {
    free(d);
    return err;
  }
  d->policy = policy;
  d->style = style;
  lg_mutex_init(&d->synced);
  d->batch = (lgrt_events){d->batch_ev, 0, BATCH, d->port};
  *out = d;
  return 0;
}

lgrt_port *lgrt_driver_port(lgrt_driver *d) { return d->port; }

lgrt_driver_stats lgrt_driver_get_stats(lgrt_driver *d) {
  lgrt_driver_stats s;
  s.allocated = __atomic_load_n(&d->stats.allocated, __ATOMIC_RELAXED);
  s.freed = __atomic_load_n(&d->stats.freed, __ATOMIC_RELAXED);
  s.stale_ignored = __atomic_load_n(&d->stats.stale_ignored, __ATOMIC_RELAXED);
  s.withdrawn = __atomic_load_n(&d->stats.withdrawn, __ATOMIC_RELAXED);
  return s;
}

static uint64_t token_of(const lgrt_driver *d, const lgrt_sched_io *io) {
  if (d->policy == LGRT_TOKEN_SLOT) return ((uint64_t)io->generation << 32) | ((uint64_t)io->slot << 1);
  /* tokio >= 1.30: ScheduledIo::token() is the address of the allocation */
  return (uint64_t)(uintptr_t)io;
}

uint64_t lgrt_registration_token(const lgrt_registration *r) { return token_of(r->driver, r->io); }

/* The object a token names, or NULL when the token policy can tell it is stale. */
static lgrt_sched_io *resolve(lgrt_driver *d, uint64_t token) {
  if (d->policy == LGRT_TOKEN_RAW) return (lgrt_sched_io *)(uintptr_t)token;
  uint32_t slot = (uint32_t)(token >> 1) & 0x7fffffffu, gen = (uint32_t)(token >> 32);
  lgrt_sched_io *io = NULL;
  lg_mutex_lock(&d->synced);
  /* (slot-generation-unchecked: the slot alone, so a stale token names the slot's next
   * registration; nothing is freed, only the oracle sees the event go to the wrong one) */
  if (slot < d->nslots && d->slots[slot].io &&
      (d->slots[slot].generation == gen || lg_fault(LG_FAULT_SLOT_GENERATION_UNCHECKED)))
    io = d->slots[slot].io;
  lg_mutex_unlock(&d->synced);
  return io;
}

/* RegistrationSet::allocate: the set's reference and the user's. */
static lgrt_sched_io *allocate(lgrt_driver *d) {
  lgrt_sched_io *io = lgrt_calloc(1, sizeof *io);
  if (!io) return NULL;
  io->refs = 2;
  io->driver = d;
  io->serial = lg_oracle_serial();
  lg_ref_take(d, io, SCHED_IO, SET_REF);
  lg_ref_take(d, io, SCHED_IO, USER_REF);
  lg_mutex_init(&io->waiters);
  lg_cond_init(&io->wake);
  lg_mutex_lock(&d->synced);
  if (d->policy == LGRT_TOKEN_SLOT) {
    size_t i = 0;
    while (i < d->nslots && d->slots[i].io) i++;
    if (i == d->nslots) {
      struct slot *s = lgrt_realloc(d->slots, (d->nslots + 1) * sizeof *s);
      if (!s) {
        lg_mutex_unlock(&d->synced);
        lg_cond_destroy(&io->wake);
        lg_mutex_destroy(&io->waiters);
        lg_ref_gone(io); /* never handed out: its two references go with it */
        free(io);
        return NULL;
      }
      d->slots = s;
      d->slots[d->nslots++] = (struct slot){NULL, 1};
    }
    d->slots[i].io = io;
    io->slot = (uint32_t)i;
    io->generation = d->slots[i].generation;
  }
  io->next = d->registrations;
  if (io->next) io->next->prev = io;
  d->registrations = io;
  lg_mutex_unlock(&d->synced);
  count(&d->stats.allocated);
  return io;
}

/* Everything but the free itself; the caller holds no lock. */
static void retire(lgrt_driver *d, lgrt_sched_io *io) {
  if (d->policy == LGRT_TOKEN_SLOT) {
    lg_mutex_lock(&d->synced);
    d->slots[io->slot].io = NULL;
    d->slots[io->slot].generation++;
    lg_mutex_unlock(&d->synced);
  }
  lg_cond_destroy(&io->wake);
  lg_mutex_destroy(&io->waiters);
  count(&d->stats.freed);
}

void lgrt_driver_release_pending(lgrt_driver *d) {
  lg_mutex_lock(&d->synced);
  lgrt_sched_io *list = d->pending;
  d->pending = NULL;
  lg_mutex_unlock(&d->synced);
  while (list) {
    lgrt_sched_io *io = list;
    list = io->next;
    lg_ref_drop(io, SET_REF);
    if (__atomic_sub_fetch(&io->refs, 1, __ATOMIC_ACQ_REL) == 0) {
      retire(d, io);
      lg_ref_gone(io);
      free(io); /* the scheduled-io object is gone; a token that names it is now stale */
    }
  }
}

__attribute__((noinline)) void lgrt_sched_io_set_readiness(lgrt_sched_io *io, uint32_t readiness) {
  /* tokio#6369: a stale raw token makes this an atomic update of freed memory */
  __atomic_fetch_or(&io->readiness, (uint64_t)readiness, __ATOMIC_ACQ_REL);
  /* the delivery oracle: the event is for the registration it was posted for */
  uint64_t serial = io->serial;
  if (io->driver->dispatch_for)
    lg_handle_deliver(io->driver->dispatch_for, serial, io->driver->dispatch_token);
  lg_mutex_lock(&io->waiters);
  lgrt_callback_fn cb = io->cb;
  void *arg = io->cb_arg;
  lg_cond_broadcast(&io->wake);
  lg_mutex_unlock(&io->waiters);
  if (cb) { /* may drop the registration: io is not touched after this */
    lg_handle_call_begin(serial);
    cb(arg, readiness);
    lg_handle_call_end(serial);
  }
}

/* Which of n ready events goes first is the kernel's (or the port's) business: a decision. */
static void order_batch(lgrt_events *b) {
  if (!lg_sched_controlled()) return;
  for (size_t i = 0; i + 1 < b->len; i++) {
    size_t j = i + lg_choose((uint32_t)(b->len - i));
    lgrt_event t = b->ev[i];
    b->ev[i] = b->ev[j];
    b->ev[j] = t;
  }
}

int lgrt_driver_turn(lgrt_driver *d, int64_t timeout_ns) {
  lgrt_driver_release_pending(d);
  lgrt_packet pkts[BATCH];
  ssize_t n = lgrt_port_get_many(d->port, pkts, BATCH, timeout_ns);
  if (n < 0) return (int)n;
  /* mio's Selector::feed_events: overlapped packets go to their operation's callback, which
   * may add an event; a packet without one is an event with the key as its token. */
  d->batch.len = 0;
  for (ssize_t i = 0; i < n; i++) {
    size_t before = d->batch.len;
    if (pkts[i].ovl)
      pkts[i].ovl->done(pkts[i].ovl, &pkts[i], &d->batch);
    else
      lgrt_events_push(&d->batch, pkts[i].key, pkts[i].flags);
    /* Each event carries the registration it is for: the one the packet was stamped with
     * when it was posted or collected, else (an operation's completion, which reads the
     * token as it pushes the event) the one lgrt_events_push stamped. */
    for (size_t k = before; k < d->batch.len; k++)
      if (pkts[i].reg && d->batch.ev[k].token == pkts[i].key) d->batch.ev[k].reg = pkts[i].reg;
  }
  order_batch(&d->batch);
  int dispatched = 0;
  for (size_t i = 0; i < d->batch.len; i++) {
    lgrt_event *e = &d->batch.ev[i];
    if (e->invalid) continue;
    lgrt_sched_io *io = resolve(d, e->token);
    if (!io) {
      count(&d->stats.stale_ignored);
      continue;
    }
    d->dispatch_for = e->reg;
    d->dispatch_token = e->token;
    lgrt_sched_io_set_readiness(io, e->readiness);
    d->dispatch_for = 0;
    dispatched++;
  }
  d->batch.len = 0;
  return dispatched;
}

void lgrt_driver_shutdown(lgrt_driver *d) {
  __atomic_store_n(&d->shutdown, 1, __ATOMIC_RELEASE);
  lg_mutex_lock(&d->synced);
  for (lgrt_sched_io *io = d->registrations; io; io = io->next) {
    lg_mutex_lock(&io->waiters);
    lg_cond_broadcast(&io->wake);
    lg_mutex_unlock(&io->waiters);
  }
  lg_mutex_unlock(&d->synced);
  lgrt_port_wake(d->port);
}

bool lgrt_driver_is_shutdown(lgrt_driver *d) {
  return __atomic_load_n(&d->shutdown, __ATOMIC_ACQUIRE) != 0;
}

void lgrt_driver_close(lgrt_driver *d) {
  if (!d) return;
  /* what the set still holds is released as if deregistered */
  lg_mutex_lock(&d->synced);
  while (d->registrations) {
    lgrt_sched_io *io = d->registrations;
    d->registrations = io->next;
    io->next = d->pending;
    d->pending = io;
  }
  lg_mutex_unlock(&d->synced);
  lgrt_driver_release_pending(d);
  /* every reference on a scheduled-io object came back: nothing of this driver is left */
  lg_ref_check(d, "the driver closed");
  lgrt_port_close(d->port);
  lg_mutex_destroy(&d->synced);
  free(d->slots);
  free(d);
}

/* ---- registrations ------------------------------------------------------------------ */

int lgrt_registration_new(lgrt_registration *r, lgrt_driver *d, void *src,
                          const lgrt_source_ops *ops, uint32_t interest) {
  lgrt_sched_io *io = allocate(d);
  *r = (lgrt_registration){d, io, src, ops};
  if (!io) return -ENOMEM; /* empty: a drop of it releases nothing */
  lg_handle_open(io->serial, REG);
  lgrt_port_bind(d->port, token_of(d, io), io->serial);
  int err = ops->reg(src, d->port, token_of(d, io), interest);
  if (err) {
    r->ops = NULL; /* nothing to deregister */
    lgrt_registration_drop(r);
  }
  return err;
}

/* libuv#826's fix (uv__platform_invalidate_fd): the events of the current batch that name a
 * registration released during its dispatch are withdrawn before they reach it. */
static void withdraw(lgrt_driver *d, uint64_t token) {
  for (size_t i = 0; i < d->batch.len; i++)
    if (!d->batch.ev[i].invalid && d->batch.ev[i].token == token) {
      d->batch.ev[i].invalid = true;
      count(&d->stats.withdrawn);
    }
}

void lgrt_registration_drop(lgrt_registration *r) {
  lgrt_driver *d = r->driver;
  lgrt_sched_io *io = r->io;
  if (!io) return;
  uint64_t token = token_of(d, io);
  if (r->ops) r->ops->dereg(r->src, d->port);
  lgrt_port_unbind(d->port, token);
  lg_handle_close(io->serial, false); /* (a callback may drop its own) */
  lg_mutex_lock(&d->synced);
  if (io->prev) io->prev->next = io->next;
  else d->registrations = io->next;
  if (io->next) io->next->prev = io->prev;
  io->prev = NULL;
  /* The user's reference goes now; the set's goes with the release, which frees it.
   * (registration-drop-keeps-ref: it does not, and the object outlives its driver) */
  if (!lg_fault(LG_FAULT_REGISTRATION_DROP_KEEPS_REF)) {
    lg_ref_drop(io, USER_REF);
    __atomic_sub_fetch(&io->refs, 1, __ATOMIC_ACQ_REL);
  }
  io->next = d->pending;
  d->pending = io;
  lg_mutex_unlock(&d->synced);
  r->io = NULL;
  if (d->style == LGRT_LOOP_CALLBACKS) {
    /* A callback loop releases at once: it is the loop's own thread, and the source is
     * deregistered, so no new event can name it. Events already in this batch still can. */
    if (!lg_fault(LG_FAULT_PORT_STALE_BATCH)) withdraw(d, token); /* libuv#826 */
    lgrt_driver_release_pending(d);
  }
}

uint32_t lgrt_registration_wait(lgrt_registration *r, uint32_t interest, int64_t timeout_ns) {
  lgrt_sched_io *io = r->io;
  uint64_t start = lg_now();
  uint32_t seen = 0;
  lg_mutex_lock(&io->waiters);
  for (;;) {
    seen = (uint32_t)__atomic_load_n(&io->readiness, __ATOMIC_ACQUIRE);
    if ((seen & interest) || lgrt_driver_is_shutdown(r->driver) || timeout_ns == 0) break;
    if (timeout_ns < 0) {
      lg_cond_wait(&io->wake, &io->waiters);
      continue;
    }
    uint64_t waited = lg_now() - start;
    if (waited >= (uint64_t)timeout_ns) break;
    lg_cond_timedwait(&io->wake, &io->waiters, (uint64_t)timeout_ns - waited);
  }
  lg_mutex_unlock(&io->waiters);
  return seen;
}

uint32_t lgrt_registration_readiness(const lgrt_registration *r) {
  return (uint32_t)__atomic_load_n(&r->io->readiness, __ATOMIC_ACQUIRE);
}

void lgrt_registration_clear(lgrt_registration *r, uint32_t bits) {
  __atomic_fetch_and(&r->io->readiness, ~(uint64_t)bits, __ATOMIC_ACQ_REL);
}

void lgrt_registration_set_callback(lgrt_registration *r, lgrt_callback_fn fn, void *arg) {
  lg_mutex_lock(&r->io->waiters);
  r->io->cb = fn;
  r->io->cb_arg = arg;
  lg_mutex_unlock(&r->io->waiters);
}

/* ---- a plain descriptor as a source ------------------------------------------------- */

static int fd_reg(void *src, lgrt_port *port, uint64_t token, uint32_t interest) {
  return lgrt_port_watch(port, *(int *)src, interest, token, NULL, false);
}

static int fd_dereg(void *src, lgrt_port *port) { return lgrt_port_unwatch(port, *(int *)src); }

const lgrt_source_ops lgrt_fd_source = {fd_reg, fd_dereg};

/* SPDX-License-Identifier: MIT */
/* The completion port on Linux: epoll for descriptor readiness, a queue for posted packets,
 * and an eventfd in the epoll set that says the queue is not empty. */
#define _GNU_SOURCE
#include <lgrt/port.h>
#include <lgrt/faults.h>
#include <lgrt/sys.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <pthread.h>

#include <lifeguard/oracle.h>
#include <lifeguard/sched.h>

/* epoll data: a key (bit 0 clear), an overlapped pointer with bit 0 set, or the eventfd. */
#define OVL_TAG 1u
#define WAKE_DATA UINT64_MAX

/* Under lg_sched a wait is cut into slices of virtual time: the kernel's readiness changes
 * only while some actor runs, so a waiter looks again after each slice. */
#define CONTROLLED_SLICE_NS 1000000u

struct lgrt_port {
  int epfd;
  int wakefd;
  lg_mutex lock; /* the queue */
  lg_cond posted;
  bool wake_pending; /* lgrt_port_wake since the last collect */
  lgrt_packet *q;    /* ring */
  size_t head, len, cap;
  /* the oracle's key -> registration table: a plain mutex, never a scheduling point (the
   * oracle must not change the schedules it checks) */
  pthread_mutex_t bind_lock;
  struct binding { uint64_t key, reg; } *binds;
  size_t nbinds, capbinds;
  bool binds_lost; /* a binding could not be kept: every lookup says "not known" */
};

bool lgrt_events_push(lgrt_events *evs, uint64_t token, uint32_t readiness) {
  if (evs->len == evs->cap) return false;
  uint64_t reg = evs->port ? lgrt_port_bound(evs->port, token) : 0;
  evs->ev[evs->len++] = (lgrt_event){token, readiness, false, reg};
  return true;
}

/* Packets the queue holds from the start. A post that needs more grows the queue and can
 * fail for memory; within this many packets in flight a post never fails, so a cancellation
 * or a readiness post (which nothing could redo) is not lost to an allocation. */
#define QUEUE_RESERVED 64

int lgrt_port_open(lgrt_port **out) {
  lgrt_port *p = lgrt_calloc(1, sizeof *p);
  if (!p) return -ENOMEM;
  p->q = lgrt_malloc(QUEUE_RESERVED * sizeof *p->q);
  if (!p->q) {
    free(p);
    return -ENOMEM;
  }
  p->cap = QUEUE_RESERVED;
  p->epfd = lgrt_epoll_create1(EPOLL_CLOEXEC);
  p->wakefd = lgrt_eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = WAKE_DATA};
  if (p->epfd < 0 || p->wakefd < 0 || lgrt_epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->wakefd, &ev) < 0) {
    int err = -errno;
    /* planted (port-open-cleanup-twice): the inline cleanup of an older error path, left in
     * front of the shared one */
    if (lg_fault(LG_FAULT_PORT_OPEN_CLEANUP_TWICE) && p->epfd >= 0) close(p->epfd);
    if (p->epfd >= 0) close(p->epfd);
    if (p->wakefd >= 0) close(p->wakefd);
    free(p->q);
    free(p);
    return err;
  }
  lg_mutex_init(&p->lock);
  lg_cond_init(&p->posted);
  pthread_mutex_init(&p->bind_lock, NULL);
  *out = p;
  return 0;
}

/* Takes up to `cap` queued packets; the caller holds the lock. */
static size_t take_posted(lgrt_port *p, lgrt_packet *out, size_t cap) {
  size_t n = 0;
  while (n < cap && p->len) {
    out[n++] = p->q[p->head];
    p->head = (p->head + 1) % p->cap;
    p->len--;
  }
  return n;
}

void lgrt_port_close(lgrt_port *p) {
  if (!p) return;
  /* Like a selector dropped with packets in flight: each overlapped releases what it held. */
  lgrt_packet pkt;
  for (;;) {
    lg_mutex_lock(&p->lock);
    size_t n = take_posted(p, &pkt, 1);
    lg_mutex_unlock(&p->lock);
    if (!n) break;
    if (pkt.ovl) pkt.ovl->done(pkt.ovl, &pkt, NULL);
  }
  close(p->epfd);
  close(p->wakefd);
  lg_cond_destroy(&p->posted);
  lg_mutex_destroy(&p->lock);
  pthread_mutex_destroy(&p->bind_lock);
  free(p->binds);
  free(p->q);
  free(p);
}

void lgrt_port_bind(lgrt_port *p, uint64_t key, uint64_t reg) {
  if (!lg_oracle_enabled()) return;
  pthread_mutex_lock(&p->bind_lock);
  size_t i = 0;
  while (i < p->nbinds && p->binds[i].key != key) i++;
  if (i == p->nbinds && p->nbinds == p->capbinds) {
    size_t cap = p->capbinds ? p->capbinds * 2 : 16;
    /* Not an injection point, as the lock above is not a scheduling point: the oracle's
     * table must not change the schedules it checks (a decision here would exist only with
     * the oracles on). */
    struct binding *b = realloc(p->binds, cap * sizeof *b); /* lgrt-sys: the oracle's own */
    if (!b) {
      /* Not checked from now on: a key missing from the table would read as "no handle",
       * a false misdelivery, so every lookup says "not known" instead. */
      p->binds_lost = true;
      pthread_mutex_unlock(&p->bind_lock);
      return;
    }
    p->binds = b;
    p->capbinds = cap;
  }
  if (i == p->nbinds) p->nbinds++;
  p->binds[i] = (struct binding){key, reg};
  pthread_mutex_unlock(&p->bind_lock);
}

void lgrt_port_unbind(lgrt_port *p, uint64_t key) {
  if (!lg_oracle_enabled()) return;
  pthread_mutex_lock(&p->bind_lock);
  for (size_t i = 0; i < p->nbinds; i++)
    if (p->binds[i].key == key) {
      p->binds[i] = p->binds[--p->nbinds];
      break;
    }
  pthread_mutex_unlock(&p->bind_lock);
}

uint64_t lgrt_port_bound(lgrt_port *p, uint64_t key) {
  if (!lg_oracle_enabled()) return 0;
  uint64_t reg = LG_ORACLE_NOBODY;
  pthread_mutex_lock(&p->bind_lock);
  if (p->binds_lost) reg = 0;
  for (size_t i = 0; !p->binds_lost && i < p->nbinds; i++)
    if (p->binds[i].key == key) {
      reg = p->binds[i].reg;
      break;
    }
  pthread_mutex_unlock(&p->bind_lock);
  return reg;
}

static uint32_t to_epoll(uint32_t interest) {
  uint32_t e = EPOLLRDHUP;
  if (interest & LGRT_READABLE) e |= EPOLLIN;
  if (interest & LGRT_WRITABLE) e |= EPOLLOUT;
  return e;
}

static uint32_t from_epoll(uint32_t e) {
  uint32_t r = 0;
  if (e & EPOLLIN) r |= LGRT_READABLE;
  if (e & EPOLLOUT) r |= LGRT_WRITABLE;
  if (e & (EPOLLRDHUP | EPOLLHUP)) r |= LGRT_READ_CLOSED | LGRT_READABLE;
  if (e & EPOLLHUP) r |= LGRT_WRITE_CLOSED;
  if (e & EPOLLERR) r |= LGRT_ERROR;
  return r;
}

int lgrt_port_watch(lgrt_port *p, int fd, uint32_t interest, uint64_t key, lgrt_overlapped *ovl,
                    bool oneshot) {
  if (!ovl && (key & OVL_TAG)) return -EINVAL;
  struct epoll_event ev = {.events = to_epoll(interest) | (oneshot ? EPOLLONESHOT : 0)};
  ev.data.u64 = ovl ? ((uint64_t)(uintptr_t)ovl | OVL_TAG) : key;
  if (lgrt_epoll_ctl(p->epfd, EPOLL_CTL_MOD, fd, &ev) == 0) return 0;
  if (errno != ENOENT) return -errno;
  return lgrt_epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : -errno;
}

int lgrt_port_unwatch(lgrt_port *p, int fd) {
  return lgrt_epoll_ctl(p->epfd, EPOLL_CTL_DEL, fd, NULL) == 0 ? 0 : -errno;
}

static void signal_posted(lgrt_port *p) {
  /* Under lg_sched every waiter is a controlled actor on the condition variable; a
   * free-running waiter sleeps in epoll_wait and wakes on the eventfd (a full counter,
   * EAGAIN, already says the same). */
  if (lg_sched_controlled()) {
    lg_cond_broadcast(&p->posted);
  } else {
    uint64_t one = 1;
    (void)!lgrt_write(p->wakefd, &one, sizeof one);
  }
}

int lgrt_port_post(lgrt_port *p, const lgrt_packet *pkt) {
  lg_mutex_lock(&p->lock);
  if (p->len == p->cap) {
    size_t cap = p->cap * 2;
    lgrt_packet *q = lgrt_malloc(cap * sizeof *q);
    if (!q) {
      lg_mutex_unlock(&p->lock);
      return -ENOMEM;
    }
    for (size_t i = 0; i < p->len; i++) q[i] = p->q[(p->head + i) % p->cap];
    free(p->q);
    p->q = q;
    p->head = 0;
    p->cap = cap;
  }
  p->q[(p->head + p->len) % p->cap] = *pkt;
  /* a packet naming a token carries the registration that token names now */
  p->q[(p->head + p->len) % p->cap].reg = pkt->key ? lgrt_port_bound(p, pkt->key) : 0;
  p->len++;
  signal_posted(p);
  lg_mutex_unlock(&p->lock);
  return 0;
}

int lgrt_port_wake(lgrt_port *p) {
  lg_mutex_lock(&p->lock);
  p->wake_pending = true;
  signal_posted(p);
  lg_mutex_unlock(&p->lock);
  return 0;
}

/* One look at the kernel (waiting up to timeout_ms) and the queue. */
static ssize_t collect(lgrt_port *p, lgrt_packet *out, size_t cap, int timeout_ms, bool *woken) {
  struct epoll_event evs[64];
  int max = cap < 64 ? (int)cap : 64;
  int n;
  do n = lgrt_epoll_wait(p->epfd, evs, max, timeout_ms);
  while (n < 0 && errno == EINTR);
  if (n < 0) return -errno;
  size_t got = 0;
  for (int i = 0; i < n; i++) {
    uint64_t d = evs[i].data.u64;
    if (d == WAKE_DATA) {
      uint64_t v;
      (void)!lgrt_read(p->wakefd, &v, sizeof v); /* a post or a wake: both are looked at below */
      continue;
    }
    lgrt_packet pkt = {.key = d, .ovl = NULL, .flags = from_epoll(evs[i].events), .bytes = 0};
    if (d & OVL_TAG) {
      pkt.key = 0;
      pkt.ovl = (lgrt_overlapped *)(uintptr_t)(d & ~(uint64_t)OVL_TAG);
    } else {
      pkt.reg = lgrt_port_bound(p, d); /* readiness now, for the registration of the key now */
    }
    out[got++] = pkt;
  }
  lg_mutex_lock(&p->lock);
  got += take_posted(p, out + got, cap - got);
  if (p->wake_pending) {
    p->wake_pending = false;
    *woken = true;
  }
  lg_mutex_unlock(&p->lock);
  return (ssize_t)got;
}

ssize_t lgrt_port_get_many(lgrt_port *p, lgrt_packet *out, size_t cap, int64_t timeout_ns) {
  if (cap == 0) return 0;
  bool woken = false;
  if (!lg_sched_controlled()) {
    int ms = timeout_ns < 0 ? -1 : (int)((timeout_ns + 999999) / 1000000);
    return collect(p, out, cap, ms, &woken);
  }
  lg_poll_point();
  uint64_t start = lg_now();
  for (;;) {
    ssize_t n = collect(p, out, cap, 0, &woken);
    if (n != 0 || woken || timeout_ns == 0) return n;
    uint64_t waited = lg_now() - start;
    if (timeout_ns > 0 && waited >= (uint64_t)timeout_ns) return 0;
    uint64_t slice = CONTROLLED_SLICE_NS;
    if (timeout_ns > 0 && (uint64_t)timeout_ns - waited < slice) slice = (uint64_t)timeout_ns - waited;
    lg_mutex_lock(&p->lock);
    if (p->len == 0 && !p->wake_pending) lg_cond_timedwait(&p->posted, &p->lock, slice);
    lg_mutex_unlock(&p->lock);
  }
}

/* SPDX-License-Identifier: MIT */
/* Chaos delays, the stress baseline of the kernel benchmark (bench/kernels/measure.py): an
 * LD_PRELOAD library that puts a random short delay (nothing, a sched_yield, or a sleep of 1
 * to 50 us) in front of pthread_create, pthread_mutex_lock/unlock and pthread_cond_wait/
 * signal/broadcast, then calls the real function (dlsym RTLD_NEXT). It perturbs the OS
 * scheduler, as chaos-mode tools do; it controls nothing and replays nothing.
 * LG_CHAOS_SEED=N seeds it (each thread draws from its own stream of that seed). Nothing of
 * lifeguard is in it. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static int (*real_create)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
static int (*real_lock)(pthread_mutex_t *);
static int (*real_unlock)(pthread_mutex_t *);
static int (*real_wait)(pthread_cond_t *, pthread_mutex_t *);
static int (*real_signal)(pthread_cond_t *);
static int (*real_broadcast)(pthread_cond_t *);

static uint64_t seed;
static uint64_t streams; /* threads that drew a stream */
static __thread uint64_t state;

__attribute__((constructor)) static void chaos_init(void) {
  const char *s = getenv("LG_CHAOS_SEED");
  seed = s ? strtoull(s, NULL, 10) : 1;
  real_create = dlsym(RTLD_NEXT, "pthread_create");
  real_lock = dlsym(RTLD_NEXT, "pthread_mutex_lock");
  real_unlock = dlsym(RTLD_NEXT, "pthread_mutex_unlock");
  real_wait = dlvsym(RTLD_NEXT, "pthread_cond_wait", "GLIBC_2.3.2");
  real_signal = dlvsym(RTLD_NEXT, "pthread_cond_signal", "GLIBC_2.3.2");
  real_broadcast = dlvsym(RTLD_NEXT, "pthread_cond_broadcast", "GLIBC_2.3.2");
  if (!real_wait) real_wait = dlsym(RTLD_NEXT, "pthread_cond_wait");
  if (!real_signal) real_signal = dlsym(RTLD_NEXT, "pthread_cond_signal");
  if (!real_broadcast) real_broadcast = dlsym(RTLD_NEXT, "pthread_cond_broadcast");
}

static uint64_t next(void) {
  if (state == 0) {
    uint64_t n = __atomic_add_fetch(&streams, 1, __ATOMIC_RELAXED);
    state = (seed + 1) * 0x9e3779b97f4a7c15ULL ^ n * 0xbf58476d1ce4e5b9ULL;
    if (state == 0) state = 1;
  }
  state ^= state << 13; /* xorshift64 */
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

static void delay(void) {
  uint64_t r = next();
  switch (r % 4) {
  case 0:
  case 1:
    break;
  case 2:
    sched_yield();
    break;
  default: {
    struct timespec t = {0, (long)(1000 + (r >> 8) % 49000)};
    nanosleep(&t, NULL);
  }
  }
}

int pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg) {
  delay();
  return real_create(t, a, fn, arg);
}

int pthread_mutex_lock(pthread_mutex_t *m) {
  if (real_lock == NULL) chaos_init();
  delay();
  return real_lock(m);
}

int pthread_mutex_unlock(pthread_mutex_t *m) {
  if (real_unlock == NULL) chaos_init();
  int r = real_unlock(m);
  delay();
  return r;
}

int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m) {
  delay();
  return real_wait(c, m);
}

int pthread_cond_signal(pthread_cond_t *c) {
  int r = real_signal(c);
  delay();
  return r;
}

int pthread_cond_broadcast(pthread_cond_t *c) {
  int r = real_broadcast(c);
  delay();
  return r;
}

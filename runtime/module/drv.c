/* SPDX-License-Identifier: MIT */
/* libdrv.so: a database driver that runs its I/O on an async runtime, loaded by a host
 * (mio#1769: mongo-odbc-driver with mongodb's `tokio-sync`, a lazily started process-global
 * tokio runtime in a static that is never dropped).
 *
 * Built as a shared object with its own copy of the completion port (runtime/port) and
 * hidden symbols, so its workers wait inside this module's code, the way tokio's workers
 * park inside mio's CompletionPort::get_many in the driver DLL. The thread layer (lg_sched)
 * and the fault switches come from the program that loads it.
 *
 * A runtime here: a port, worker actors that wait on it with a timeout (the timer wheel's
 * next deadline), and a monitor actor that posts a heartbeat task periodically (the client's
 * server monitor). Every plugin thread tells the host when it ends (DLL_THREAD_DETACH). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <lgrt/module.h>
#include <lgrt/port.h>
#include <lgrt/faults.h>
#include <lgrt/sys.h>
#include <lifeguard/sched.h>

#define EXPORT __attribute__((visibility("default")))
#define NOINLINE __attribute__((noinline))

#define WORKERS 2
#define WORKER_PARK_NS (10u * 1000000u) /* the timer wheel's next deadline */
#define HEARTBEAT_NS (5u * 1000000u)    /* the monitor's period */
#define KEY_SHUTDOWN 2u                 /* a packet that tells a worker to leave */

typedef struct drv_runtime drv_runtime;

typedef struct drv_task drv_task;
struct drv_task {
  lgrt_overlapped ovl;     /* first: the packet names the task */
  drv_runtime *rt;
  bool done;
  unsigned long *counter;  /* what the task does: count itself */
};

struct drv_runtime {
  lgrt_port *port;
  bool multi_thread;
  lg_actor *workers[WORKERS];
  lg_actor *monitor;
  lg_mutex lock;           /* done flags of tasks, stop */
  lg_cond cond;
  uint64_t stop;
  uint64_t live_workers;   /* workers that have not counted themselves out */
  uint64_t execution;      /* the lg_sched execution that started it (0 free-running) */
  unsigned long heartbeats, tasks;
  drv_task heartbeat;      /* the monitor's task */
};

struct drv_conn {
  drv_runtime *rt;         /* a current-thread runtime of its own, or the shared one */
  unsigned timer;          /* the monitor's host timer, if heartbeat */
  unsigned long heartbeats;
};

static lgrt_host_api host;
static drv_config config;
static unsigned long live_runtimes;
static uint64_t workers_ended; /* the driver's statistics: runtime workers that ended */

/* ---- the runtime ---------------------------------------------------------------------- */

static void task_done(lgrt_overlapped *ovl, const lgrt_packet *pkt, lgrt_events *out) {
  (void)ovl; (void)pkt; (void)out;
}

static NOINLINE void run_task(drv_task *t) {
  drv_runtime *rt = t->rt;
  if (t->counter) ++*t->counter;
  lg_mutex_lock(&rt->lock);
  t->done = true;
  rt->tasks++;
  lg_cond_broadcast(&rt->cond);
  lg_mutex_unlock(&rt->lock);
}

/* Handles one batch from the port; returns false when told to leave. */
static NOINLINE bool run_batch(drv_runtime *rt, const lgrt_packet *pk, ssize_t n) {
  bool go_on = true;
  for (ssize_t i = 0; i < n; i++) {
    if (pk[i].key == KEY_SHUTDOWN) go_on = false;
    else if (pk[i].ovl) run_task((drv_task *)pk[i].ovl);
  }
  return go_on;
}

/* The last steps of a worker: count itself out of the runtime (after which it touches
 * nothing of it: the runtime may be freed), tell the host (DLL_THREAD_DETACH, under the
 * loader lock), and count itself in the driver's statistics. Only then does it leave this
 * module's code. */
static NOINLINE void worker_exit(drv_runtime *rt) {
  lg_atomic_fetch_sub(&rt->live_workers, 1);
  host.thread_detach(host.host);
  lg_atomic_fetch_add(&workers_ended, 1);
}

/* A worker: park in the port's wait until work, a wakeup or the timeout, like tokio's
 * worker parking in mio's get_many. */
static NOINLINE void worker_main(void *arg) {
  drv_runtime *rt = arg;
  for (;;) {
    lgrt_packet pk[4];
    ssize_t n = lgrt_port_get_many(rt->port, pk, 4, WORKER_PARK_NS);
    if (n > 0 && !run_batch(rt, pk, n)) break;
    if (lg_atomic_load(&rt->stop)) break;
  }
  worker_exit(rt);
}

static void post_task(drv_runtime *rt, drv_task *t) {
  t->ovl.done = task_done;
  t->rt = rt;
  lgrt_port_post(rt->port, &(lgrt_packet){.key = 0, .ovl = &t->ovl});
}

/* The monitor: a heartbeat task every period until the runtime stops. */
static NOINLINE void monitor_main(void *arg) {
  drv_runtime *rt = arg;
  lg_mutex_lock(&rt->lock);
  while (!rt->stop) {
    lg_cond_timedwait(&rt->cond, &rt->lock, HEARTBEAT_NS);
    if (rt->stop) break;
    drv_task *t = &rt->heartbeat; /* one in flight at a time; freed with the runtime */
    *t = (drv_task){.counter = &rt->heartbeats};
    lg_mutex_unlock(&rt->lock);
    post_task(rt, t);
    lg_mutex_lock(&rt->lock);
    while (!t->done && !rt->stop) lg_cond_wait(&rt->cond, &rt->lock);
  }
  lg_mutex_unlock(&rt->lock);
  host.thread_detach(host.host);
}

static void runtime_shutdown_join(drv_runtime *rt);

static drv_runtime *runtime_new(bool multi_thread) {
  drv_runtime *rt = lgrt_calloc(1, sizeof *rt);
  if (!rt || lgrt_port_open(&rt->port) != 0) {
    free(rt);
    return NULL;
  }
  lg_mutex_init(&rt->lock);
  lg_cond_init(&rt->cond);
  rt->multi_thread = multi_thread;
  rt->execution = lg_sched_execution_id();
  __atomic_add_fetch(&live_runtimes, 1, __ATOMIC_RELAXED);
  if (multi_thread) {
    rt->live_workers = WORKERS; /* (those that fail to start are counted out below) */
    /* A thread that cannot be started fails the runtime: those already started are stopped
     * and joined (a NULL actor used to be kept, and joined or detached later). */
    bool started = true;
    for (int i = 0; i < WORKERS && started; i++)
      started = (rt->workers[i] = lgrt_spawn(worker_main, rt, "drv-worker")) != NULL;
    if (started) started = (rt->monitor = lgrt_spawn(monitor_main, rt, "drv-monitor")) != NULL;
    if (!started) {
      for (int i = 0; i < WORKERS; i++)
        if (!rt->workers[i]) lg_atomic_fetch_sub(&rt->live_workers, 1);
      runtime_shutdown_join(rt);
      return NULL;
    }
  }
  return rt;
}

static void runtime_free(drv_runtime *rt) {
  lgrt_port_close(rt->port);
  lg_cond_destroy(&rt->cond);
  lg_mutex_destroy(&rt->lock);
  free(rt);
  __atomic_sub_fetch(&live_runtimes, 1, __ATOMIC_RELAXED);
}

/* Tells every actor of the runtime to leave. */
static void runtime_signal(drv_runtime *rt) {
  lg_mutex_lock(&rt->lock);
  rt->stop = 1;
  lg_cond_broadcast(&rt->cond);
  lg_mutex_unlock(&rt->lock);
  for (int i = 0; i < WORKERS; i++)
    lgrt_port_post(rt->port, &(lgrt_packet){.key = KEY_SHUTDOWN});
}

/* Runtime::drop: signal, then join every worker and the monitor, then free. */
static NOINLINE void runtime_shutdown_join(drv_runtime *rt) {
  runtime_signal(rt);
  if (rt->multi_thread) {
    /* (driver-exit-count-check, planted: a fast path that skips the workers' joins when the
     * count says every worker has left; a worker counts itself out before it leaves the
     * module's code, so one may still be in it, between its count and its return, when the
     * host unloads) */
    bool gone = lg_fault(LG_FAULT_DRIVER_EXIT_COUNT_CHECK) && lg_atomic_load(&rt->live_workers) == 0;
    for (int i = 0; i < WORKERS; i++) {
      if (!rt->workers[i]) continue;
      if (gone) lg_detach(rt->workers[i]);
      else lg_join(rt->workers[i]);
    }
    if (rt->monitor) lg_join(rt->monitor);
  }
  runtime_free(rt);
}

/* Runtime::shutdown_background (= shutdown_timeout(0)): signal and return; the workers are
 * left to finish on their own, and they still run this module's code. */
static void runtime_shutdown_background(drv_runtime *rt) {
  runtime_signal(rt);
  for (int i = 0; i < WORKERS; i++) lg_detach(rt->workers[i]);
  lg_detach(rt->monitor);
  /* the runtime's memory stays with them (tokio's workers hold Arcs to it) */
}

/* block_on: runs `t` to completion. A current-thread runtime polls the port on the caller;
 * a multi-thread one hands the task to its workers and waits. */
static void block_on(drv_runtime *rt, drv_task *t) {
  post_task(rt, t);
  if (!rt->multi_thread) {
    while (!t->done) {
      lgrt_packet pk[4];
      ssize_t n = lgrt_port_get_many(rt->port, pk, 4, -1);
      if (n > 0) run_batch(rt, pk, n);
    }
    return;
  }
  lg_mutex_lock(&rt->lock);
  while (!t->done) lg_cond_wait(&rt->cond, &rt->lock);
  lg_mutex_unlock(&rt->lock);
}

/* ---- the runtimes the driver keeps ------------------------------------------------------ */

/* mongodb's `lazy_static! { static ref TOKIO_RUNTIME: Runtime = Runtime::new() }`: started by
 * the first call that needs it, kept in a static, never dropped. */
static lg_mutex global_lock = LG_MUTEX_INIT;
static drv_runtime *global_runtime;

static drv_runtime *global_runtime_get(void) {
  lg_mutex_lock(&global_lock);
  /* Under lg_sched an execution is a process lifetime: a runtime from an earlier one lost
   * its threads with it (only a pinned module lives that long). */
  if (global_runtime && global_runtime->execution != lg_sched_execution_id()) {
    runtime_free(global_runtime);
    global_runtime = NULL;
  }
  if (!global_runtime) {
    global_runtime = runtime_new(true);
    if (global_runtime) {
      for (int i = 0; i < WORKERS; i++) lg_detach(global_runtime->workers[i]);
      lg_detach(global_runtime->monitor);
    }
  }
  drv_runtime *rt = global_runtime;
  lg_mutex_unlock(&global_lock);
  return rt;
}

/* The environment's runtime (DRV_RUNTIME_OWNED): started by the first connect, stopped by
 * the driver's shutdown (SQLFreeHandle of the environment). */
static lg_mutex env_lock = LG_MUTEX_INIT;
static drv_runtime *env_runtime;

static drv_runtime *env_runtime_get(void) {
  lg_mutex_lock(&env_lock);
  if (!env_runtime) env_runtime = runtime_new(true);
  drv_runtime *rt = env_runtime;
  lg_mutex_unlock(&env_lock);
  return rt;
}

static NOINLINE void env_runtime_stop(void) {
  lg_mutex_lock(&env_lock);
  drv_runtime *rt = env_runtime;
  env_runtime = NULL;
  lg_mutex_unlock(&env_lock);
  if (!rt) return;
  if (lg_fault(LG_FAULT_DRIVER_SHUTDOWN_BACKGROUND))
    runtime_shutdown_background(rt); /* napi-rs#3443 / the "fix" that does not join */
  else
    runtime_shutdown_join(rt);
}

/* The bug of the destructor variant: the runtime is stopped (and joined) in the module's
 * destructor, which glibc runs inside dlclose, under the loader lock, where an ending worker
 * can never get the loader lock it needs (asio#869, OpenBLAS#2362). */
__attribute__((destructor)) static void drv_fini(void) {
  if (lg_fault(LG_FAULT_DRIVER_DESTRUCTOR_JOIN)) env_runtime_stop();
}

/* ---- per-thread state: a pthread key with a destructor in this module ---------------------- */

static pthread_key_t cache_key;
static bool cache_key_live;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct cache_entry {
  struct cache_entry *next, **prev; /* every thread's entry, so that shutdown frees them all */
  char data[48];
} cache_entry;
static cache_entry *caches;

/* The key's destructor: runs on a thread's exit, from glibc, if it still holds an entry. */
static NOINLINE void cache_free(void *value) {
  cache_entry *e = value;
  pthread_mutex_lock(&cache_lock);
  if ((*e->prev = e->next)) e->next->prev = e->prev;
  pthread_mutex_unlock(&cache_lock);
  free(e);
}

static void drv_thread_enter(void) {
  if (!config.thread_cache) return;
  if (!cache_key_live) {
    if (lgrt_pthread_key_create(&cache_key, cache_free) != 0) return; /* no cache, then */
    cache_key_live = true;
  }
  if (pthread_getspecific(cache_key)) return;
  cache_entry *e = lgrt_calloc(1, sizeof *e);
  if (!e) return; /* no cache for this thread (the entry used to be written through NULL) */
  pthread_mutex_lock(&cache_lock);
  if ((e->next = caches)) caches->prev = &e->next;
  e->prev = &caches;
  caches = e;
  pthread_mutex_unlock(&cache_lock);
  pthread_setspecific(cache_key, e);
}

/* ---- the driver's entry points ------------------------------------------------------------ */

static int drv_attach(const lgrt_host_api *h, const drv_config *cfg) {
  host = *h;
  config = *cfg;
  return 0;
}

static NOINLINE void heartbeat(void *arg) {
  drv_conn *c = arg;
  c->heartbeats++;
}

/* Returns whether the module is pinned now. */
static bool pin_self(void) {
  Dl_info info;
  if (!dladdr((void *)&pin_self, &info) || !info.dli_fname) return false;
  /* never closed */
  return lgrt_dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE) != NULL;
}

static int drv_connect(drv_conn **out) {
  drv_conn *c = lgrt_calloc(1, sizeof *c);
  if (!c) return -1;
  /* The global runtime outlives the unload only in a pinned module: a connect that cannot pin
   * fails (it used to go on unpinned, and the unload unmapped the runtime's workers). */
  if (config.pin && !pin_self()) {
    free(c);
    return -1;
  }
  /* mio#1769: the driver reaches for the process-global runtime (mongodb::sync) */
  if (lg_fault(LG_FAULT_DRIVER_STATIC_RUNTIME) || config.global_runtime)
    c->rt = global_runtime_get();
  else if (config.runtime == DRV_RUNTIME_OWNED)
    c->rt = env_runtime_get();
  else
    c->rt = runtime_new(false);
  if (!c->rt) {
    free(c);
    return -1;
  }
  drv_task t = {.counter = NULL};
  block_on(c->rt, &t); /* the connect's handshake */
  if (config.heartbeat) c->timer = host.timer_start(host.host, HEARTBEAT_NS, heartbeat, c);
  *out = c;
  return 0;
}

static int drv_submit(drv_conn *c, unsigned tasks) {
  for (unsigned i = 0; i < tasks; i++) {
    drv_task t = {.counter = NULL};
    block_on(c->rt, &t);
  }
  return 0;
}

static void drv_disconnect(drv_conn *c) {
  /* the monitor's timer belongs to the connection (the original left it to the runtime) */
  if (c->timer && !lg_fault(LG_FAULT_DRIVER_PENDING_TIMER)) host.timer_cancel(host.host, c->timer);
  if (!c->rt->multi_thread) runtime_free(c->rt);
  if (!c->timer || !lg_fault(LG_FAULT_DRIVER_PENDING_TIMER)) free(c);
  /* (a pending timer keeps its connection: the callback still gets it) */
}

static void drv_shutdown(void) {
  if (!lg_fault(LG_FAULT_DRIVER_DESTRUCTOR_JOIN)) env_runtime_stop();
  /* The per-thread cache: delete the key and free every thread's entry; left in place, a
   * thread that exits later calls cache_free after the unload. */
  if (cache_key_live && !lg_fault(LG_FAULT_DRIVER_KEY_DESTRUCTOR)) {
    pthread_key_delete(cache_key); /* no destructor runs for it any more */
    cache_key_live = false;
    pthread_mutex_lock(&cache_lock);
    while (caches) {
      cache_entry *e = caches;
      caches = e->next;
      free(e);
    }
    pthread_mutex_unlock(&cache_lock);
  }
}

static unsigned long runtimes(void) { return __atomic_load_n(&live_runtimes, __ATOMIC_RELAXED); }

EXPORT const drv_api drv_entry = {
    .attach = drv_attach,
    .connect = drv_connect,
    .submit = drv_submit,
    .disconnect = drv_disconnect,
    .shutdown = drv_shutdown,
    .thread_enter = drv_thread_enter,
    .live_runtimes = runtimes,
};

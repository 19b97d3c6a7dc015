/* The module host: loader lock, load/unload, and a timer service run by the host's actor. */
#define _GNU_SOURCE
#include <lgrt/module.h>
#include <lgrt/sys.h>

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lgrt/faults.h>
#include <lifeguard/modcheck.h>
#include <lifeguard/oracle.h>
#include <lifeguard/sched.h>

#define MAX_TIMERS 16

typedef struct host_timer {
  unsigned id;            /* 0 = free slot */
  uint64_t period, due;
  void (*fn)(void *);
  void *arg;
  bool running;
  unsigned hold;          /* modcheck's record that the host holds fn */
  uint64_t serial;        /* the timer's identity for the oracles: no call after its cancel */
} host_timer;

struct lgrt_host {
  lg_mutex loader;        /* the loader lock */
  lg_mutex lock;          /* timers */
  lg_cond cond;
  host_timer timers[MAX_TIMERS];
  unsigned next_id;
  bool stop;
  lg_actor *timer_actor;
  lgrt_host_api api;
};

struct lgrt_module {
  void *handle;
  const drv_api *api;
};

static void thread_detach(lgrt_host *h) {
  lg_mutex_lock(&h->loader);
  lg_mutex_unlock(&h->loader);
}

/* The timer actor: calls each due timer's callback with the lock released. */
static void timer_main(void *arg) {
  lgrt_host *h = arg;
  lg_mutex_lock(&h->lock);
  while (!h->stop) {
    host_timer *next = NULL;
    for (int i = 0; i < MAX_TIMERS; i++)
      if (h->timers[i].id && (!next || h->timers[i].due < next->due)) next = &h->timers[i];
    if (!next) {
      lg_cond_wait(&h->cond, &h->lock);
      continue;
    }
    uint64_t now = lg_now();
    if (next->due > now) {
      lg_cond_timedwait(&h->cond, &h->lock, next->due - now);
      continue;
    }
    next->running = true;
    void (*fn)(void *) = next->fn;
    void *fn_arg = next->arg;
    uint64_t serial = next->serial;
    unsigned hold = next->hold;
    lg_mutex_unlock(&h->lock);
    lg_modcheck_call(hold);         /* no module code runs after its unload returned */
    lg_handle_call_begin(serial);   /* nor a timer's callback after its cancel returned */
    fn(fn_arg);
    lg_handle_call_end(serial);
    lg_mutex_lock(&h->lock);
    next->running = false;
    next->due += next->period;
    lg_cond_broadcast(&h->cond); /* a cancel may wait for this call */
  }
  lg_mutex_unlock(&h->lock);
}

static unsigned timer_start(lgrt_host *h, uint64_t period_ns, void (*fn)(void *), void *arg) {
  lg_mutex_lock(&h->lock);
  unsigned id = 0;
  for (int i = 0; i < MAX_TIMERS; i++)
    if (!h->timers[i].id) {
      id = ++h->next_id;
      h->timers[i] = (host_timer){.id = id, .period = period_ns, .due = lg_now() + period_ns,
                                  .fn = fn, .arg = arg,
                                  .hold = lg_modcheck_hold((const void *)fn, "timer of the host"),
                                  .serial = lg_oracle_serial()};
      lg_handle_open(h->timers[i].serial, "timer of the host");
      break;
    }
  lg_cond_broadcast(&h->cond);
  lg_mutex_unlock(&h->lock);
  return id;
}

static void timer_cancel(lgrt_host *h, unsigned id) {
  uint64_t serial = 0;
  lg_mutex_lock(&h->lock);
  for (int i = 0; i < MAX_TIMERS; i++) {
    host_timer *t = &h->timers[i];
    if (t->id != id) continue;
    /* (host-cancel-no-wait, planted: a call in progress goes on after the cancel returns) */
    while (t->running && !lg_fault(LG_FAULT_HOST_CANCEL_NO_WAIT)) lg_cond_wait(&h->cond, &h->lock);
    lg_modcheck_release(t->hold);
    serial = t->serial;
    memset(t, 0, sizeof *t);
  }
  lg_cond_broadcast(&h->cond);
  lg_mutex_unlock(&h->lock);
  lg_handle_close(serial, true); /* the cancel returns: no call of it may run from now on */
}

int lgrt_host_open(lgrt_host **out) {
  lgrt_host *h = lgrt_calloc(1, sizeof *h);
  if (!h) return -1;
  lg_mutex_init(&h->loader);
  lg_mutex_init(&h->lock);
  lg_cond_init(&h->cond);
  h->api = (lgrt_host_api){.host = h, .thread_detach = thread_detach,
                           .timer_start = timer_start, .timer_cancel = timer_cancel};
  h->timer_actor = lgrt_spawn(timer_main, h, "host-timer");
  if (!h->timer_actor) { /* the host used to open without its timer service */
    lg_cond_destroy(&h->cond);
    lg_mutex_destroy(&h->lock);
    lg_mutex_destroy(&h->loader);
    free(h);
    return -1;
  }
  *out = h;
  return 0;
}

void lgrt_host_close(lgrt_host *h) {
  lg_mutex_lock(&h->lock);
  h->stop = true;
  lg_cond_broadcast(&h->cond);
  lg_mutex_unlock(&h->lock);
  lg_join(h->timer_actor);
  for (int i = 0; i < MAX_TIMERS; i++) lg_modcheck_release(h->timers[i].hold);
  lg_cond_destroy(&h->cond);
  lg_mutex_destroy(&h->lock);
  lg_mutex_destroy(&h->loader);
  free(h);
}

int lgrt_host_load(lgrt_host *h, const char *path, int flags, const drv_config *cfg,
                   lgrt_module **out) {
  if (!path) path = lgrt_drv_path();
  lgrt_module *m = lgrt_calloc(1, sizeof *m);
  if (!m) return -1;
  lg_mutex_lock(&h->loader);
  m->handle = lgrt_dlopen(path, RTLD_NOW | RTLD_LOCAL | flags);
  if (!m->handle) {
    lg_mutex_unlock(&h->loader);
    fprintf(stderr, "lgrt: cannot load %s: %s\n", path, lgrt_dlerror());
    free(m);
    return -1;
  }
  m->api = dlsym(m->handle, "drv_entry");
  lg_mutex_unlock(&h->loader);
  if (!m->api || m->api->attach(&h->api, cfg) != 0) {
    fprintf(stderr, "lgrt: %s: no drv_entry, or its attach failed\n", path);
    lgrt_host_unload(h, m);
    return -1;
  }
  *out = m;
  return 0;
}

const drv_api *lgrt_module_api(const lgrt_module *m) { return m->api; }

int lgrt_host_unload(lgrt_host *h, lgrt_module *m) {
  lg_mutex_lock(&h->loader);
  int r = dlclose(m->handle);
  lg_mutex_unlock(&h->loader);
  free(m);
  return r;
}

const char *lgrt_drv_path(void) {
  static char path[4096];
  if (path[0]) return path;
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) {
      snprintf(slash + 1, sizeof exe - (size_t)(slash + 1 - exe), "libdrv.so");
      if (access(exe, R_OK) == 0) {
        snprintf(path, sizeof path, "%s", exe);
        return path;
      }
    }
  }
  snprintf(path, sizeof path, "%s", LGRT_DRV_PATH);
  return path;
}

/* SPDX-License-Identifier: MIT */
/* Class module-unload: a plugin unloaded under its own runtime's threads (mio#1769, and its
 * relatives).
 *
 * The host (runtime/module/host.c) is a driver manager in miniature; the plugin libdrv.so
 * (runtime/module/drv.c) is a database driver with an async runtime inside. Each scenario is
 * the host's sequence of calls, written the way the seed's harness made them: load, connect,
 * work, disconnect, free the environment, unload. After its last unload the host goes on for
 * a while (LINGER), as a driver manager's process does: long enough for a worker's park
 * timeout, the monitor's period and a host timer to come due.
 *
 * Linked-in modcheck reports a buggy run at the unload, naming the module and the function
 * each leftover actor is suspended in (unload-while-running) or the callback left behind
 * (unload-with-pending-callback); with its census off, the late call itself is reported as
 * use-after-unload; AddressSanitizer alone sees a SEGV in an unknown module. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lgrt/module.h>
#include <lgrt/faults.h>
#include <lifeguard/sched.h>

#include "common/scenario.h"

#define NOINLINE __attribute__((noinline))
#define CYCLES 3
#define LINGER_NS (30u * 1000000u)

/* ---- the host's steps ------------------------------------------------------------------ */

typedef struct host_run {
  lgrt_host *host;
  drv_config cfg;
  int status;
} host_run;

static int open_host(host_run *r, drv_config cfg) {
  r->cfg = cfg;
  r->status = LG_SCENARIO_CLEAN;
  if (lgrt_host_open(&r->host) != 0) return lg_scenario_fail("host");
  return 0;
}

/* The tail of every scenario: the host process goes on, then closes. */
static int close_host(host_run *r) {
  lg_sleep(LINGER_NS);
  lgrt_host_close(r->host);
  return r->status;
}

/* A step failed with `status` (lg_scenario_fail's): the host closes and the scenario ends. */
static int stop_host(host_run *r, int status) {
  lgrt_host_close(r->host);
  return status;
}

/* One cycle of the seed's harness: load the driver, connect (an async connect inside it),
 * run a query, disconnect, free the environment, unload. */
static NOINLINE int cycle(host_run *r) {
  lgrt_module *m;
  if (lgrt_host_load(r->host, NULL, 0, &r->cfg, &m) != 0) return lg_scenario_fail("load");
  const drv_api *api = lgrt_module_api(m);
  drv_conn *c;
  if (api->connect(&c) != 0) {
    int status = lg_scenario_fail("connect");
    api->shutdown(); /* the driver manager frees the environment, then unloads */
    lgrt_host_unload(r->host, m);
    return status;
  }
  api->submit(c, 2);
  api->disconnect(c);
  api->shutdown();
  unsigned long left = api->live_runtimes();
  bool expect_none = !lg_fault(LG_FAULT_DRIVER_STATIC_RUNTIME) &&
                     !lg_fault(LG_FAULT_DRIVER_SHUTDOWN_BACKGROUND) &&
                     !lg_fault(LG_FAULT_DRIVER_DESTRUCTOR_JOIN) && !r->cfg.global_runtime;
  if (expect_none && left != 0) {
    fprintf(stderr, "module_unload: %lu runtime(s) of the driver outlived its shutdown\n", left);
    r->status = LG_SCENARIO_SYMPTOM;
  }
  if (lgrt_host_unload(r->host, m) != 0) return lg_scenario_fail("unload");
  return 0;
}

/* ---- scenarios ----------------------------------------------------------------------------- */

static NOINLINE int run_rapid_cycle(const lg_scenario_ctx *ctx) {
  host_run r;
  int status = open_host(&r, (drv_config){.runtime = DRV_RUNTIME_CURRENT_THREAD});
  if (status) return status;
  for (int i = 0; i < CYCLES; i++)
    if ((status = cycle(&r))) return stop_host(&r, status);
  return close_host(&r);
}

static NOINLINE int run_shutdown_background(const lg_scenario_ctx *ctx) {
  host_run r;
  int status = open_host(&r, (drv_config){.runtime = DRV_RUNTIME_OWNED});
  if (status) return status;
  if ((status = cycle(&r))) return stop_host(&r, status);
  return close_host(&r);
}

static NOINLINE int run_pending_timer(const lg_scenario_ctx *ctx) {
  host_run r;
  int status =
      open_host(&r, (drv_config){.runtime = DRV_RUNTIME_CURRENT_THREAD, .heartbeat = true});
  if (status) return status;
  if ((status = cycle(&r))) return stop_host(&r, status);
  return close_host(&r);
}

/* The driver's monitor timer comes due just as the host disconnects: the host's timer actor
 * is calling it when the disconnect cancels it. The cancel must wait for that call to
 * return, as it promises, before the connection it points to is freed (host-cancel-no-wait:
 * it does not). The timer and its call are in the host: the handle oracle sees a call
 * running after, or beginning after, the cancel returned (completion-after-close). */
#define HEARTBEAT_NS (5u * 1000000u) /* drv.c's monitor period */

static NOINLINE int run_timer_cancel_race(const lg_scenario_ctx *ctx) {
  host_run r;
  int status =
      open_host(&r, (drv_config){.runtime = DRV_RUNTIME_CURRENT_THREAD, .heartbeat = true});
  if (status) return status;
  lgrt_module *m;
  if (lgrt_host_load(r.host, NULL, 0, &r.cfg, &m) != 0)
    return stop_host(&r, lg_scenario_fail("load"));
  const drv_api *api = lgrt_module_api(m);
  drv_conn *c;
  if (api->connect(&c) != 0) {
    status = lg_scenario_fail("connect");
    api->shutdown(); /* the driver manager frees the environment, then unloads */
    lgrt_host_unload(r.host, m);
    return stop_host(&r, status);
  }
  lg_sleep(HEARTBEAT_NS); /* the first heartbeat and the disconnect come due together */
  api->disconnect(c);
  api->shutdown();
  if (lgrt_host_unload(r.host, m) != 0) return stop_host(&r, lg_scenario_fail("unload"));
  return close_host(&r);
}

/* A thread of the application's own pool uses the driver (which keeps a per-thread cache in
 * a pthread key), then parks until the host lets it end, after the unload. */
typedef struct app_thread {
  const drv_api *api;
  sem_t entered, leave;
} app_thread;

static void *app_thread_main(void *p) {
  app_thread *t = p;
  t->api->thread_enter();
  sem_post(&t->entered);
  while (sem_wait(&t->leave) != 0) {}
  return NULL; /* glibc runs the thread's key destructors here */
}

static NOINLINE int run_key_destructor(const lg_scenario_ctx *ctx) {
  host_run r;
  int status =
      open_host(&r, (drv_config){.runtime = DRV_RUNTIME_CURRENT_THREAD, .thread_cache = true});
  if (status) return status;
  lgrt_module *m;
  if (lgrt_host_load(r.host, NULL, 0, &r.cfg, &m) != 0)
    return stop_host(&r, lg_scenario_fail("load"));
  const drv_api *api = lgrt_module_api(m);
  app_thread t = {.api = api};
  sem_init(&t.entered, 0, 0);
  sem_init(&t.leave, 0, 0);
  pthread_t th;
  if (pthread_create(&th, NULL, app_thread_main, &t) != 0) {
    status = lg_scenario_fail("thread");
    lgrt_host_unload(r.host, m);
    return stop_host(&r, status);
  }
  while (sem_wait(&t.entered) != 0) {}
  drv_conn *c;
  if (api->connect(&c) != 0) status = lg_scenario_fail("connect");
  else api->disconnect(c);
  api->shutdown();
  if (lgrt_host_unload(r.host, m) != 0 && !status) status = lg_scenario_fail("unload");
  sem_post(&t.leave); /* the application thread ends after the unload */
  pthread_join(th, NULL);
  sem_destroy(&t.entered);
  sem_destroy(&t.leave);
  if (status) return stop_host(&r, status);
  return close_host(&r);
}

static NOINLINE int run_pinned_module(const lg_scenario_ctx *ctx) {
  host_run r;
  drv_config cfg = {.runtime = DRV_RUNTIME_CURRENT_THREAD, .global_runtime = true,
                    .pin = ctx->variant == LG_VARIANT_FIXED};
  int status = open_host(&r, cfg);
  if (status) return status;
  if (cfg.pin) lg_scenario_keep_fds(2); /* the pinned runtime's port: epoll and eventfd */
  for (int i = 0; i < CYCLES; i++)
    if ((status = cycle(&r))) return stop_host(&r, status);
  return close_host(&r);
}

static NOINLINE int run_destructor_join(const lg_scenario_ctx *ctx) {
  host_run r;
  int status = open_host(&r, (drv_config){.runtime = DRV_RUNTIME_OWNED});
  if (status) return status;
  if ((status = cycle(&r))) return stop_host(&r, status);
  return close_host(&r);
}

/* The class's needle: the environment's multi-thread runtime is shut down before the unload,
 * by a shutdown with a fast path (driver-exit-count-check) that skips joining the workers when
 * their count says every one has left. A worker counts itself out before it leaves the
 * module's code (then it tells the host, under the loader lock, and counts itself in the
 * driver's statistics, then it returns). Harmful only when the host stalls right after telling
 * the runtime to stop until every worker has counted itself out, and the last one stalls
 * between its count and its return until the host has unloaded the module: two stalls, the
 * second in a window of a few instructions with nothing inside it that wakes the host. */
static NOINLINE int run_exit_count_race(const lg_scenario_ctx *ctx) {
  host_run r;
  int status = open_host(&r, (drv_config){.runtime = DRV_RUNTIME_OWNED});
  if (status) return status;
  if ((status = cycle(&r))) return stop_host(&r, status);
  return close_host(&r);
}

static const lg_scenario scenarios[] = {
    {"rapid-cycle", {"driver-static-runtime", NULL},
     "mio#1769: load, connect, query, disconnect, free, unload, three times; the driver's "
     "connect starts a process-global runtime from a static that is never shut down, and its "
     "workers wait in the module's port code when the module is unmapped",
     run_rapid_cycle},
    {"shutdown-background", {"driver-shutdown-background", NULL},
     "the runtime is owned and shut down before the unload, but with shutdown_background: "
     "told to stop, not joined, so its workers are still in the module at the unload",
     run_shutdown_background},
    {"pending-timer", {"driver-pending-timer", NULL},
     "the driver's monitor registers a periodic timer with the host; disconnect leaves it "
     "pending, and the host's timer actor calls into the module after the unload",
     run_pending_timer},
    {"key-destructor", {"driver-key-destructor", NULL},
     "the driver keeps a per-thread cache in a pthread key whose destructor is in the module; "
     "an application thread holding a value ends after the unload",
     run_key_destructor},
    {"pinned-module", {"driver-static-runtime", NULL},
     "the static runtime of rapid-cycle, fixed the other way: the driver pins itself "
     "(RTLD_NODELETE), so dlclose leaves it mapped and its threads keep valid code",
     run_pinned_module},
    {"destructor-join", {"driver-destructor-join", NULL},
     "the runtime is stopped and joined in the module's destructor, which runs inside dlclose "
     "under the loader lock; an ending worker needs the loader lock (DLL_THREAD_DETACH)",
     run_destructor_join},
    {"exit-count-race", {"driver-exit-count-check", NULL},
     "the owned runtime's shutdown skips the workers' joins when their count reads zero; a "
     "worker counts itself out before it leaves the module, so the last one can still be in "
     "it at the unload",
     run_exit_count_race},
    {"timer-cancel-race", {"host-cancel-no-wait", NULL},
     "the driver's monitor timer comes due as the host disconnects; the cancel returns while "
     "the host's timer actor is calling it",
     run_timer_cancel_race},
};

int main(int argc, char **argv) {
  static const lg_scenario_program program = {
      "module_unload", "module-unload", scenarios, sizeof scenarios / sizeof *scenarios};
  return lg_scenario_main(&program, argc, argv);
}

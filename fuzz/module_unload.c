/* SPDX-License-Identifier: MIT */
/* Fuzz target of the module-unload class: two application actors of one host load the driver
 * plugin (libdrv.so), connect, run work, disconnect, free the environment and unload it, in
 * an order and interleaving both taken from the input.
 *
 * Input: byte 0 = how many operation bytes follow (mod 40) + 40 * the driver's configuration
 * (byte 0 / 40, configs[] below); then the operations; the rest is the schedule (one byte per
 * decision, lg_source_bytes). An operation byte names its actor (b % 2) and its operation
 * ((b / 2) % OP_COUNT); OP_WAIT waits (b / 16) % 8 + 1 ms of virtual time. Each actor holds
 * its own handle of the module (dlopen counts them), so the module is unmapped when the last
 * one is closed; the unload itself is a scheduling point.
 *
 * The two actors share one driver manager (struct dm): like an ODBC driver manager it keeps
 * the order the driver's contract asks for. A connect waits out the environment's shutdown
 * under its environment lock (SQLFreeHandle(ENV) and SQLConnect on one environment never
 * overlap), while two connects may overlap (two connection handles); a
 * shutdown while connections are open is refused (HY010, function sequence error); the last
 * unload shuts the environment down before it closes the module. So with the owned
 * multi-thread runtime (configurations 1, 3, 5) an input reaches shutdown, a reconnect that
 * starts a new runtime, and a second shutdown, all while the module stays loaded; with the
 * per-thread cache (2, 3) every connect enters the driver from a host thread; configuration 6
 * is the process-global runtime in a pinned module (configs[] below).
 *
 * The fixed driver (no fault switch) is clean for every input. With LIFEGUARD_FAULTS=
 * driver-static-runtime (mio#1769) a connect starts the process-global runtime and the last
 * unload leaves its workers in the module: modcheck reports unload-while-running and aborts;
 * with driver-pending-timer the monitor's host timer outlives the unload. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lgrt/module.h>
#include <lifeguard/fdcheck.h>
#include <lifeguard/oracle.h>
#include <lifeguard/options.h>
#include <lifeguard/report.h>
#include <lifeguard/sched.h>

#include "class_input.h"

enum {
  OP_LOAD,       /* dlopen + attach (the driver manager's LoadLibrary) */
  OP_CONNECT,    /* SQLConnect: an async connect on the driver's runtime */
  OP_SUBMIT,     /* a query: one task on the runtime */
  OP_DISCONNECT, /* SQLDisconnect */
  OP_SHUTDOWN,   /* SQLFreeHandle(ENV): the driver's shutdown */
  OP_UNLOAD,     /* disconnect if connected, then dlclose (FreeLibrary) */
  OP_WAIT,       /* let virtual time pass: timeouts, the monitor, host timers */
  OP_YIELD,
  OP_COUNT
};

#define ACTORS 2
#define MAX_OPS 40
#define LINGER_NS (30u * 1000000u)

struct app {
  lgrt_host *host;
  struct dm *dm;
  lg_fuzz_ops ops;
  lgrt_module *m;
  drv_conn *conn;
};

/* The driver's configurations (byte 0 / MAX_OPS). The last is the application that wants the
 * process-global runtime: a connect pins the module, so its runtime's workers may outlive every
 * unload. A pinned module stays mapped for the rest of the process, so that configuration
 * loads the plugin's copy libdrv-pinned.so (built beside libdrv.so): libdrv.so itself is still
 * unmapped by the last unload of every other input, where an unload fault can be seen. */
#define CONFIGS 7
#define PINNED (CONFIGS - 1)
static const drv_config configs[CONFIGS] = {
    {.runtime = DRV_RUNTIME_CURRENT_THREAD, .heartbeat = true},
    {.runtime = DRV_RUNTIME_OWNED, .heartbeat = true},
    {.runtime = DRV_RUNTIME_CURRENT_THREAD, .heartbeat = true, .thread_cache = true},
    {.runtime = DRV_RUNTIME_OWNED, .heartbeat = true, .thread_cache = true},
    {.runtime = DRV_RUNTIME_CURRENT_THREAD},
    {.runtime = DRV_RUNTIME_OWNED},
    {.runtime = DRV_RUNTIME_CURRENT_THREAD, .heartbeat = true, .global_runtime = true, .pin = true},
};

/* The plugin to load: libdrv.so, or its copy libdrv-pinned.so beside it. */
static const char *plugin_path(const drv_config *cfg) {
  static char pinned[4096];
  if (cfg != &configs[PINNED]) return NULL; /* lgrt_drv_path() */
  if (!pinned[0]) {
    snprintf(pinned, sizeof pinned, "%s", lgrt_drv_path());
    char *slash = strrchr(pinned, '/');
    size_t at = slash ? (size_t)(slash + 1 - pinned) : 0;
    snprintf(pinned + at, sizeof pinned - at, "libdrv-pinned.so");
  }
  return pinned;
}

/* The driver manager both applications go through. Only one actor runs at a time, so its
 * counters change only between scheduling points; env_lock orders connect and shutdown:
 * a connect waits out a shutdown under way, and a shutdown is refused while a connect is
 * counted. Connects are not ordered among themselves (SQLConnect on two connection handles of
 * one environment may run at once), so the driver's own locking of what connects share (its
 * lazily started runtimes) is exercised too. */
struct dm {
  const drv_config *config;
  lg_mutex env_lock;
  unsigned handles; /* module handles open */
  unsigned conns;   /* connections open or being opened */
};

static void disconnect(struct app *a) {
  if (!a->conn) return;
  lgrt_module_api(a->m)->disconnect(a->conn);
  a->conn = NULL;
  a->dm->conns--;
}

static void step_failed(const char *what);

static void dm_connect(struct app *a, const drv_api *api) {
  struct dm *dm = a->dm;
  dm->conns++;
  lg_mutex_lock(&dm->env_lock); /* a shutdown under way ends first */
  api->thread_enter(); /* a host thread enters the driver: its per-thread cache */
  lg_mutex_unlock(&dm->env_lock);
  if (api->connect(&a->conn) != 0) {
    a->conn = NULL;
    dm->conns--;
    step_failed("connect");
  }
}

/* SQLFreeHandle(ENV): refused (HY010) while a connection is open or being opened (counted
 * before a connect waits for the lock, looked at under it). */
static void shutdown_env(struct app *a, const drv_api *api) {
  struct dm *dm = a->dm;
  lg_mutex_lock(&dm->env_lock);
  if (!dm->conns) api->shutdown();
  lg_mutex_unlock(&dm->env_lock);
}

static void unload(struct app *a) {
  if (!a->m) return;
  disconnect(a);
  /* the last handle: the driver manager frees the environment before FreeLibrary */
  if (--a->dm->handles == 0) shutdown_env(a, lgrt_module_api(a->m));
  lgrt_host_unload(a->host, a->m);
  a->m = NULL;
}

/* A step of the runtime failed: only an injected failure (LIFEGUARD_OPTIONS inject_max) may
 * make one fail, and then the application goes on without what it asked for. */
static void step_failed(const char *what) {
  if (lg_inject_count() > 0) return;
  lg_contract_fail("module_unload: %s failed without an injected failure", what);
}

static void run_op(struct app *a, uint8_t b) {
  const drv_api *api = a->m ? lgrt_module_api(a->m) : NULL;
  switch ((b / ACTORS) % OP_COUNT) {
  case OP_LOAD:
    if (a->m) break;
    if (lgrt_host_load(a->host, plugin_path(a->dm->config), 0, a->dm->config, &a->m) != 0) {
      a->m = NULL;
      step_failed("load");
      break;
    }
    a->dm->handles++;
    break;
  case OP_CONNECT:
    if (api && !a->conn) dm_connect(a, api);
    break;
  case OP_SUBMIT:
    if (a->conn) api->submit(a->conn, 1);
    break;
  case OP_DISCONNECT:
    disconnect(a);
    break;
  case OP_SHUTDOWN:
    if (api) shutdown_env(a, api);
    break;
  case OP_UNLOAD:
    unload(a);
    break;
  case OP_WAIT:
    lg_sleep((uint64_t)((b / 16) % 8 + 1) * 1000000u);
    break;
  case OP_YIELD:
    lg_yield();
    break;
  }
}

static void app_actor(void *p) {
  struct app *a = p;
  for (size_t i = 0; i < a->ops.n; i++) run_op(a, a->ops.op[i]);
  unload(a);
}

struct program {
  lgrt_host *host;
  struct dm dm;
  struct app apps[ACTORS];
};

static void main_actor(void *p) {
  struct program *prog = p;
  if (lgrt_host_open(&prog->host) != 0) {
    step_failed("host");
    return;
  }
  lg_actor *spawned[ACTORS];
  for (int i = 0; i < ACTORS; i++) {
    prog->apps[i].host = prog->host;
    prog->apps[i].dm = &prog->dm;
    spawned[i] = lg_spawn(app_actor, &prog->apps[i], "app");
  }
  for (int i = 0; i < ACTORS; i++) lg_join(spawned[i]);
  lg_sleep(LINGER_NS); /* the host process goes on */
  lgrt_host_close(prog->host);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  if (!getenv("LIFEGUARD_OPTIONS")) lg_options_set("fd_quarantine=0");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  struct program prog;
  memset(&prog, 0, sizeof prog);
  prog.dm.config = &configs[lg_fuzz_class_config(data, size, MAX_OPS) % CONFIGS];
  lg_mutex_init(&prog.dm.env_lock);
  lg_fuzz_ops *ops[ACTORS];
  for (int i = 0; i < ACTORS; i++) ops[i] = &prog.apps[i].ops;
  uint64_t fds = lg_fdcheck_mark();
  lg_fuzz_run_class_input(data, size, MAX_OPS, ops, ACTORS,
                          (lg_root){main_actor, &prog, "main"}, NULL);
  lg_mutex_destroy(&prog.dm.env_lock);
  /* Every runtime was stopped and every module unloaded: a descriptor still open (a
   * runtime's port) was forgotten. Not with the pinned module, whose process-global runtime
   * is meant to outlive the execution (it is freed by the next one). */
  if (prog.dm.config != &configs[PINNED])
    lg_fdcheck_leaks_since(fds, "the module_unload execution ended");
  return 0;
}

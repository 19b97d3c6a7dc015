/* Fuzz target of the module-unload class: two application actors of one host load the driver
 * plugin (libdrv.so), connect, run work, disconnect, free the environment and unload it, in
 * an order and interleaving both taken from the input.
 *
 * Input: byte 0 = how many operation bytes follow (mod 40); then the operations; the rest is
 * the schedule (one byte per decision, lg_source_bytes). An operation byte names its actor
 * (b % 2) and its operation ((b / 2) % OP_COUNT); OP_WAIT waits (b / 16) % 8 + 1 ms of
 * virtual time. Each actor holds its own handle of the module (dlopen counts them), so the
 * module is unmapped when the last one is closed; the unload itself is a scheduling point.
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
  lg_fuzz_ops ops;
  lgrt_module *m;
  drv_conn *conn;
};

static const drv_config config = {.runtime = DRV_RUNTIME_CURRENT_THREAD, .heartbeat = true};

static void disconnect(struct app *a) {
  if (!a->conn) return;
  lgrt_module_api(a->m)->disconnect(a->conn);
  a->conn = NULL;
}

static void unload(struct app *a) {
  if (!a->m) return;
  disconnect(a);
  lgrt_host_unload(a->host, a->m);
  a->m = NULL;
}

/* A step of the runtime failed: only an injected failure (LIFEGUARD_OPTIONS inject_max) may
 * make one fail, and then the application goes on without what it asked for. */
static void step_failed(const char *what) {
  if (lg_inject_count() > 0) return;
  fprintf(stderr, "module_unload: %s failed without an injected failure\n", what);
  abort();
}

static void run_op(struct app *a, uint8_t b) {
  const drv_api *api = a->m ? lgrt_module_api(a->m) : NULL;
  switch ((b / ACTORS) % OP_COUNT) {
  case OP_LOAD:
    if (!a->m && lgrt_host_load(a->host, NULL, 0, &config, &a->m) != 0) {
      a->m = NULL;
      step_failed("load");
    }
    break;
  case OP_CONNECT:
    if (api && !a->conn && api->connect(&a->conn) != 0) {
      a->conn = NULL;
      step_failed("connect");
    }
    break;
  case OP_SUBMIT:
    if (a->conn) api->submit(a->conn, 1);
    break;
  case OP_DISCONNECT:
    disconnect(a);
    break;
  case OP_SHUTDOWN:
    if (api) api->shutdown();
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
  lg_fuzz_ops *ops[ACTORS];
  for (int i = 0; i < ACTORS; i++) ops[i] = &prog.apps[i].ops;
  lg_fuzz_run_class_input(data, size, MAX_OPS, ops, ACTORS, (lg_root){main_actor, &prog, "main"});
  return 0;
}

/* SPDX-License-Identifier: MIT */
/* Modules: a host that loads, calls and unloads a plugin shared object, and the plugin's
 * interface (`drv`, a database driver that starts an async runtime, like an ODBC driver DLL
 * that holds a tokio runtime).
 *
 * The host is an ODBC driver manager in miniature: it loads and unloads under its loader
 * lock (the Windows loader lock, which glibc's dl_load_lock mirrors), it tells the loader
 * lock when a plugin thread ends (DLL_THREAD_DETACH takes it), and it offers a timer service
 * whose callbacks it calls on its own actor (a thread-pool timer). The plugin is
 * runtime/module/drv.c with its own copy of the completion port compiled in, as mio is
 * compiled into the driver DLL: its workers wait inside the module's code. */
#ifndef LGRT_MODULE_H
#define LGRT_MODULE_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lgrt_host lgrt_host;
typedef struct lgrt_module lgrt_module;

/* What the host gives its plugin. */
typedef struct lgrt_host_api {
  lgrt_host *host;
  /* A plugin thread ends: the loader lock is taken and released (DLL_THREAD_DETACH). */
  void (*thread_detach)(lgrt_host *h);
  /* A periodic timer whose callback the host's timer actor calls; returns its id (> 0). */
  unsigned (*timer_start)(lgrt_host *h, uint64_t period_ns, void (*fn)(void *), void *arg);
  /* Cancels a timer and waits for a call of it in progress to return. */
  void (*timer_cancel)(lgrt_host *h, unsigned id);
} lgrt_host_api;

/* ---- the plugin's interface ------------------------------------------------------------ */

typedef enum drv_runtime_kind {
  DRV_RUNTIME_CURRENT_THREAD, /* per connection, runs on the caller: no threads of its own
                                 (what mongo-odbc-driver moved to) */
  DRV_RUNTIME_OWNED,          /* a multi-thread runtime the driver's environment owns and its
                                 shutdown stops */
} drv_runtime_kind;

typedef struct drv_config {
  drv_runtime_kind runtime;
  bool global_runtime; /* connect takes the process-global runtime, as driver-static-runtime
                          does (an application that wants it, e.g. with pin) */
  bool heartbeat;     /* each connection's monitor uses a host timer */
  bool thread_cache;  /* per-thread state in a pthread key with a destructor */
  bool pin;           /* connect pins the module (RTLD_NODELETE) */
} drv_config;

typedef struct drv_conn drv_conn;

/* The table the plugin exports as `drv_entry`. The fault switches driver-static-runtime,
 * driver-shutdown-background, driver-destructor-join, driver-pending-timer and
 * driver-key-destructor turn on its historical bugs. */
typedef struct drv_api {
  int (*attach)(const lgrt_host_api *host, const drv_config *cfg);
  int (*connect)(drv_conn **out);              /* SQLConnect: an async connect inside */
  int (*submit)(drv_conn *c, unsigned tasks);  /* a query: `tasks` units of async work */
  void (*disconnect)(drv_conn *c);             /* SQLDisconnect + SQLFreeHandle(DBC) */
  void (*shutdown)(void);                      /* SQLFreeHandle(ENV): stops the runtime */
  void (*thread_enter)(void);                  /* a host thread uses the driver (its cache) */
  unsigned long (*live_runtimes)(void);        /* runtimes started and not yet freed */
} drv_api;

/* ---- the host ------------------------------------------------------------------------- */

int lgrt_host_open(lgrt_host **out);
/* Stops the timer actor (joined) and frees the host. */
void lgrt_host_close(lgrt_host *h);

/* dlopen (RTLD_NOW | RTLD_LOCAL | flags) under the loader lock, then the plugin's attach.
 * `path` NULL = the plugin drv. Returns 0 or -1 with a message on stderr. */
int lgrt_host_load(lgrt_host *h, const char *path, int flags, const drv_config *cfg,
                   lgrt_module **out);
const drv_api *lgrt_module_api(const lgrt_module *m);
/* dlclose under the loader lock; frees `m`. */
int lgrt_host_unload(lgrt_host *h, lgrt_module *m);

/* The plugin file (libdrv.so): next to the running program if there is one, else where the
 * build put it. */
const char *lgrt_drv_path(void);

#ifdef __cplusplus
}
#endif
#endif

/* SPDX-License-Identifier: MIT */
/* Fault switches of the reference runtime: a table of names and a bit set. */
#include <lgrt/faults.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct {
  const char *name;
  const char *origin;
} table[LG_FAULT__COUNT] = {
    [LG_FAULT_SOCKET_CLOSE_IN_DROP] = {"socket-close-in-drop", "fujiapple852/trippy#1443"},
    [LG_FAULT_SOCKET_VALIDATE_CLOSE] = {"socket-validate-close", "fujiapple852/trippy#1443"},
    [LG_FAULT_FCLOSE_THEN_CLOSE] = {"fclose-then-close", "bedrocklinux/bedrocklinux-userland#334"},
    [LG_FAULT_PIPE_POST_RAW_TOKEN] = {"pipe-post-raw-token",
                                      "tokio-rs/tokio#6369, tokio-rs/mio#1760 (mio 0.8.10)"},
    [LG_FAULT_PIPE_EVENT_PRESENCE_CHECK] = {"pipe-event-presence-check",
                                            "tokio-rs/mio 0.8.11 event_done (io.token.is_some())"},
    [LG_FAULT_PORT_STALE_BATCH] = {"port-stale-batch", "joyent/libuv#826, libuv PR #971"},
    [LG_FAULT_DRIVER_STATIC_RUNTIME] = {"driver-static-runtime",
                                        "tokio-rs/mio#1769 (mongo-odbc-driver, mongodb tokio-sync)"},
    [LG_FAULT_DRIVER_SHUTDOWN_BACKGROUND] = {"driver-shutdown-background",
                                             "tokio Runtime::shutdown_background, napi-rs#3443"},
    [LG_FAULT_DRIVER_DESTRUCTOR_JOIN] = {"driver-destructor-join",
                                         "chriskohlhoff/asio#869, OpenMathLib/OpenBLAS#2362"},
    [LG_FAULT_DRIVER_PENDING_TIMER] = {"driver-pending-timer",
                                       "a module timer left with its host at unload (AppVerifier 0x900 class)"},
    [LG_FAULT_DRIVER_KEY_DESTRUCTOR] = {"driver-key-destructor",
                                        "rayon-rs/rayon#1101, rust-lang/rust#59629 (TLS destructor in an unloaded module)"},
    [LG_FAULT_BIND_VEC_BORROW_UNPINNED] = {"bind-vec-borrow-unpinned",
                                           "napi-rs/napi-rs#2571 (fixed by PR #2589)"},
    [LG_FAULT_BIND_THIS_UNPINNED] = {"bind-this-unpinned", "napi-rs/napi-rs#1338 (fixed by PR #1339)"},
    [LG_FAULT_BIND_REF_WEAK] = {"bind-ref-weak", "napi-rs/napi-rs#1575 (fixed by PR #1577)"},
    [LG_FAULT_BIND_VEC_PIN_ARRAY_ONLY] = {"bind-vec-pin-array-only",
                                          "napi-rs PR #2589 pins the array, not its elements"},
    [LG_FAULT_BIND_RELEASE_OFF_MAIN] = {"bind-release-off-main",
                                        "napi-rs PR #2499 (a Reference dropped off the JS thread)"},
    [LG_FAULT_SOCKET_CLOSE_CHECK_THEN_SET] = {"socket-close-check-then-set",
                                              "a planted needle: a check-then-set close-once guard"},
    [LG_FAULT_DRIVER_EXIT_COUNT_CHECK] = {"driver-exit-count-check",
                                          "a planted needle: a shutdown that trusts a count of "
                                          "threads decremented before they leave the module"},
    [LG_FAULT_SLOT_GENERATION_UNCHECKED] = {"slot-generation-unchecked",
                                            "planted: tokio <= 1.29 slab token, generation not compared"},
    [LG_FAULT_REGISTRATION_DROP_KEEPS_REF] = {"registration-drop-keeps-ref",
                                              "planted: PollEvented::drop without the user's release"},
    [LG_FAULT_PIPE_POST_NO_REF] = {"pipe-post-no-ref",
                                   "planted: an event packet posted without its reference"},
    [LG_FAULT_HOST_CANCEL_NO_WAIT] = {"host-cancel-no-wait",
                                      "planted: a timer cancel that does not wait for a call in progress"},
    [LG_FAULT_BIND_UNPIN_ONE_SHORT] = {"bind-unpin-one-short",
                                       "planted: a release loop over a call's pins that stops one short"},
    [LG_FAULT_PORT_OPEN_CLEANUP_TWICE] = {"port-open-cleanup-twice",
                                          "planted: an error path only failure injection "
                                          "reaches"},
    [LG_FAULT_PIPE_DROP_OPS_CHECK] = {"pipe-drop-ops-check",
                                      "a planted needle: a drop that frees the pipe when its "
                                      "count of operations in flight reads zero, while the "
                                      "cancellation's consumer is between its count and its "
                                      "release (mio PR #2004's one release too many)"},
};

static atomic_uint enabled;
static pthread_once_t once = PTHREAD_ONCE_INIT;

lg_fault_id lg_fault_lookup(const char *name) {
  for (int i = 0; i < LG_FAULT__COUNT; i++)
    if (strcmp(table[i].name, name) == 0) return (lg_fault_id)i;
  return LG_FAULT__COUNT;
}

static void load_env(void) {
  const char *env = getenv("LIFEGUARD_FAULTS");
  if (!env || !*env) return;
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", env);
  char *save = NULL;
  for (char *n = strtok_r(buf, ",", &save); n; n = strtok_r(NULL, ",", &save)) {
    lg_fault_id id = lg_fault_lookup(n);
    if (id == LG_FAULT__COUNT) {
      fprintf(stderr, "lifeguard: error: LIFEGUARD_FAULTS: unknown fault switch '%s'\n", n);
      _exit(2);
    }
    atomic_fetch_or(&enabled, 1u << id);
  }
}

bool lg_fault(lg_fault_id id) {
  pthread_once(&once, load_env);
  return (atomic_load_explicit(&enabled, memory_order_relaxed) >> id) & 1u;
}

int lg_fault_set(const char *name, bool on) {
  pthread_once(&once, load_env);
  lg_fault_id id = lg_fault_lookup(name);
  if (id == LG_FAULT__COUNT) return -1;
  if (on) atomic_fetch_or(&enabled, 1u << id);
  else atomic_fetch_and(&enabled, ~(1u << id));
  return 0;
}

void lg_fault_reset(void) {
  pthread_once(&once, load_env);
  atomic_store(&enabled, 0);
}

const char *lg_fault_name(lg_fault_id id) { return id < LG_FAULT__COUNT ? table[id].name : NULL; }
const char *lg_fault_origin(lg_fault_id id) {
  return id < LG_FAULT__COUNT ? table[id].origin : NULL;
}

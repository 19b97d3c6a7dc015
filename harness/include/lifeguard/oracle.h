/* SPDX-License-Identifier: MIT */
/* Functional oracles: the lifecycle contracts a runtime states, checked where it keeps them.
 *
 * Some lifecycle bugs break a runtime's contract without touching freed memory: an event
 * delivered to the registration that took a slot after the one it was posted for, a
 * reference released twice by one holder while another still holds one, a callback that
 * runs after the close of its handle returned, a reference never released. No memory
 * detector sees them. The runtime says what its contract is through these calls, at the
 * places where it keeps it, and the oracle reports a breach in lifeguard's report format:
 *
 *   misdelivered-event      an event or completion reached a handle other than the one it
 *                           was posted for (stacks: current, the receiver's open, the
 *                           intended handle's open and close)
 *   completion-after-close  a callback of a handle began after its close returned, or was
 *                           still running when the close returned (stacks: current, close,
 *                           open)
 *   over-release            a holder released a reference it did not hold (stacks: current,
 *                           the holder's last take and last release)
 *   reference-leak          a reference still held when its owner was torn down (stacks:
 *                           current = the teardown, where the reference was taken)
 *
 * Handles are named by identities that are never reused (lg_oracle_serial), so a handle
 * whose memory was freed and taken again is still told apart. References are kept in a
 * ledger per (object, role): each kind of holder (the registration set, a posted packet, a
 * pending read) has its own count, so a holder that releases twice is caught even while the
 * object's own count is still above zero.
 *
 * Every call is cheap (a hash lookup under a lock held for a few instructions; a stack
 * capture at open, close and take) and the checks are on by default: LIFEGUARD_OPTIONS
 * oracles=0 makes every call return at once. Reports go through lg_report_emit: with
 * halt_on_error=1 (the default) the first one aborts. */
#ifndef LIFEGUARD_ORACLE_H
#define LIFEGUARD_ORACLE_H

#if defined(LG_LAYER) && !defined(LG_LAYER_SEES_ORACLE)
#error "an oracle-layer header, in a layer not above it (harness/CMakeLists.txt)"
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The identity an event carries when no handle had its token when it was posted. */
#define LG_ORACLE_NOBODY UINT64_MAX

/* True when the oracles are on (the `oracles` option). */
bool lg_oracle_enabled(void);

/* A fresh identity, never 0, never LG_ORACLE_NOBODY, never handed out again. */
uint64_t lg_oracle_serial(void);

/* ---- handles: open, close, callbacks, deliveries --------------------------------------- */

/* Handle `h` (a serial) is open; `what` names its kind in reports ("registration", ...,
 * a string that lives as long as the process). */
void lg_handle_open(uint64_t h, const char *what);
/* The close of `h` returns: no callback of it may begin from now on. `waits`: the close
 * promises to wait for a callback of it in progress (a timer's cancel), so none may still be
 * running either; without it, a close made from inside the handle's own callback is fine. */
void lg_handle_close(uint64_t h, bool waits);
/* A callback or completion of `h` begins / ends. A begin on a closed handle is reported. */
void lg_handle_call_begin(uint64_t h);
void lg_handle_call_end(uint64_t h);
/* An event posted for handle `posted_for` (LG_ORACLE_NOBODY: for no open handle; 0: not
 * known, nothing is checked) is delivered to handle `receiver`: a different one is
 * reported as misdelivered-event (one posted for nobody only while the receiver is open).
 * `token` is printed with it. */
void lg_handle_deliver(uint64_t posted_for, uint64_t receiver, uint64_t token);

/* ---- references: a ledger per object and role -------------------------------------------- */

/* A holder of kind `role` takes a reference on `obj`, an object of kind `type` that belongs
 * to `owner` (whose teardown checks that every reference went back: lg_ref_check). The
 * strings live as long as the process. */
void lg_ref_take(const void *owner, const void *obj, const char *type, const char *role);
/* A holder of kind `role` releases its reference: with none held, it is an over-release. */
void lg_ref_drop(const void *obj, const char *role);
/* `obj` was destroyed (its memory may be reused): its ledger entries are forgotten. */
void lg_ref_gone(const void *obj);
/* `owner` is torn down: every reference of its objects still held is reported as a
 * reference-leak (`what` names the teardown, e.g. "the driver closed") and forgotten.
 * Returns the number reported. */
size_t lg_ref_check(const void *owner, const char *what);

/* ---- contracts a test checks itself ------------------------------------------------------ */

/* A contract of the code under test, checked by the test itself, does not hold: a report of
 * kind "contract-violation" whose headline is the formatted text (with the schedule string
 * inside an execution), then abort() whatever halt_on_error says, since the test cannot go
 * on. A fuzz target or scenario calls it where it would otherwise abort(), so its finding
 * is a lifeguard report with a kind, a stack and a schedule, not a bare signal. It reports
 * whether or not the oracles are on. */
__attribute__((noreturn, format(printf, 1, 2))) void lg_contract_fail(const char *fmt, ...);

/* What the oracles have checked in this process: the evidence that a silent run was
 * watched (tests/seeded/armed_probe.c reads it). */
typedef struct lg_oracle_stats {
  unsigned long long handles;    /* handles opened */
  unsigned long long calls;      /* callbacks begun */
  unsigned long long deliveries; /* deliveries checked */
  unsigned long long refs;       /* references taken */
  unsigned long long releases;   /* references released */
} lg_oracle_stats;
void lg_oracle_stats_get(lg_oracle_stats *out);

#ifdef __cplusplus
}
#endif
#endif

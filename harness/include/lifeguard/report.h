/* SPDX-License-Identifier: MIT */
/* The one report format of every lifeguard detector.
 *
 * Text on stderr, close to AddressSanitizer's so tools that read one read both:
 *   ==PID==ERROR: lifeguard: <kind> <headline> (thread tid)
 *       #0 0x... in function file:line:col
 *   <stack title>:
 *       #0 ...
 *   SUMMARY: lifeguard: <kind> file:line in function
 * then abort() unless LIFEGUARD_OPTIONS has halt_on_error=0. The ERROR line comes first,
 * with the current stack's raw pcs (`    pcs: module+0xoffset ...`), before anything that
 * could wait: a report is safe to make from a fault handler. With log_json=PATH the same
 * report is appended to PATH as one JSON object per line, before the stacks are printed, and
 * PATH.inflight gets "begin PID TID KIND" when the report starts and "end PID TID" once its
 * JSON line is written. */
#ifndef LIFEGUARD_REPORT_H
#define LIFEGUARD_REPORT_H

#if defined(LG_LAYER) && !defined(LG_LAYER_SEES_REPORT)
#error "a report-layer header, in a layer not above it (harness/CMakeLists.txt)"
#endif

#include <stdbool.h>
#include <stddef.h>
#include <lifeguard/stack.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LG_REPORT_MAX_STACKS 4

typedef struct lg_report_stack {
  const char *name;   /* JSON key: "current", "open", "close", "owner", ... */
  char title[160];    /* text heading, e.g. "file descriptor 5 was closed by thread 42 here" */
  lg_stack_id id;
  int tid;
  const uintptr_t *pcs;  /* or the stack's pcs themselves (npcs of them), used when set: a
                            report from a fault handler keeps its stack out of the depot */
  size_t npcs;
} lg_report_stack;

typedef struct lg_report {
  const char *kind;      /* a fault kind: "double-close", "foreign-close", ... */
  char headline[384];    /* what and where, e.g. "on file descriptor 5 (socket)" */
  int fd;                /* the descriptor concerned, or -1 */
  char detail[512];      /* extra lines printed after the current stack ("" = none) */
  size_t nstacks;        /* stacks[0] is the stack of the faulting call ("current") */
  lg_report_stack stacks[LG_REPORT_MAX_STACKS];
  int fatal;             /* the faulting context cannot go on (a call into an unloaded
                            module): abort even with halt_on_error=0 */
} lg_report;

/* A report as delivered to a hook: the same report with its stacks symbolized. */
typedef struct lg_report_view {
  const lg_report *report;
  const lg_frame *frames[LG_REPORT_MAX_STACKS];
  size_t nframes[LG_REPORT_MAX_STACKS];
} lg_report_view;

typedef void (*lg_report_hook)(const lg_report_view *view, void *arg);

/* Adds a stack to `r` (its title formatted from title_fmt); returns it, or NULL when the
 * report has LG_REPORT_MAX_STACKS already. */
lg_report_stack *lg_report_add_stack(lg_report *r, const char *name, lg_stack_id id, int tid,
                                     const char *title_fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Emits a report: first lines, JSON log, text, hook, then abort() if halt_on_error.
 * Thread-safe and async-signal-safe up to the hook; it allocates nothing. */
void lg_report_emit(const lg_report *r);

/* Installs a hook called with every report once it is printed, before the abort (NULL
 * removes it). The hook runs outside the report's lock: it may make reports itself. */
void lg_report_set_hook(lg_report_hook hook, void *arg);

/* Supplies the schedule string printed with each report (lg_sched installs one). */
typedef const char *(*lg_schedule_provider)(void);
void lg_report_set_schedule_provider(lg_schedule_provider fn);

/* Supplies the page heap's sampling seed printed with each report (the page heap installs
 * one when it starts): returns false when there is none to print. */
typedef bool (*lg_seed_provider)(unsigned long long *seed);
void lg_report_set_seed_provider(lg_seed_provider fn);

/* Number of reports emitted so far in this process. */
unsigned long lg_report_count(void);

/* Number of reports dropped by a suppression (the suppressions option) so far. */
unsigned long lg_report_suppressed_count(void);

#ifdef __cplusplus
}
#endif
#endif

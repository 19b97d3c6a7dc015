/* The one report format of every lifeguard detector.
 *
 * Text on stderr, close to AddressSanitizer's so tools that read one read both:
 *   ==PID==ERROR: lifeguard: <kind> <headline> (thread tid)
 *       #0 0x... in function file:line:col
 *   <stack title>:
 *       #0 ...
 *   SUMMARY: lifeguard: <kind> file:line in function
 * then abort() unless LIFEGUARD_OPTIONS has halt_on_error=0. With log_json=PATH the same
 * report is appended to PATH as one JSON object per line, before anything is printed. */
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

/* Emits a report: JSON log, hook, text, then abort() if halt_on_error. Thread-safe. */
void lg_report_emit(const lg_report *r);

/* Installs a hook called with every report before it is printed (NULL removes it). */
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

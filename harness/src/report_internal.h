/* SPDX-License-Identifier: MIT */
/* The report layer's internals (report.c, logfile.c, suppress.c). Above the stack layer. Not
 * part of the public API. */
#ifndef LIFEGUARD_REPORT_INTERNAL_H
#define LIFEGUARD_REPORT_INTERNAL_H

#if defined(LG_LAYER) && !defined(LG_LAYER_SEES_REPORT)
#error "a report-layer header, in a layer not above it (harness/CMakeLists.txt)"
#endif

#include "stack_internal.h"

#include <lifeguard/report.h>

/* Writes a report's text where log_path says: appended to <log_path>.<pid>, else (or when
 * that file cannot be opened, after a one-line warning) to stderr. */
LG_HIDDEN void lg__report_write_text(const char *text, size_t n);

/* Whether a suppression (the suppressions option's file) matches a frame of the report's
 * first stack, the faulting call's; a match is counted (lg_report_suppressed_count). Called
 * with the report lock held. */
LG_HIDDEN bool lg__report_suppressed(const lg_report_view *v);

/* True while this thread writes a report (the dispatcher ends a fault taken then with one
 * line instead of reporting it inside the report). */
LG_HIDDEN bool lg__report_active(void);

/* The dispatcher counts a kernel fault while its classifiers run (+1 first thing, -1 when
 * none claimed it), so that an exit in the meantime waits for its verdict. */
LG_HIDDEN void lg__report_fault_classifying(int delta);

/* Under AddressSanitizer, report.c takes ASan's report callback (it writes ASan's reports to
 * log_json) and calls `fn` after it with the same text. Returns false when ASan is not in
 * the process. */
LG_HIDDEN bool lg__report_set_asan_text_hook(void (*fn)(const char *));

#endif

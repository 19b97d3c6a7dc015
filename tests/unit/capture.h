/* SPDX-License-Identifier: MIT */
/* Test fixture: keeps the process alive across reports and records what was reported. */
#ifndef LG_TEST_CAPTURE_H
#define LG_TEST_CAPTURE_H

#include <string.h>

#include <criterion/criterion.h>
#include <lifeguard/options.h>
#include <lifeguard/report.h>

/* Every suite's per-test limit in seconds: a test that hangs fails under its own name
 * instead of the whole run being killed by CTest. Generous: the slowest test takes a few
 * seconds alone, more with the other tree's tests running beside it. */
#define LG_UNIT_TIMEOUT 120

#define CAPTURE_MAX 8

typedef struct captured {
  char kind[32];
  int fd;
  char headline[384];
  char stack_names[LG_REPORT_MAX_STACKS][16];
  char top_function[LG_REPORT_MAX_STACKS][128]; /* first frame of each stack */
  char top_file[LG_REPORT_MAX_STACKS][256];
  int top_line[LG_REPORT_MAX_STACKS];
  int tids[LG_REPORT_MAX_STACKS];
  size_t nstacks;
} captured;

extern captured capture_log[CAPTURE_MAX];
extern int capture_count;

/* .init of every test: halt_on_error=0 and the recording hook. */
void capture_setup(void);

/* Sends JSON reports to a new temporary file, whose path is written to path[32]. */
void capture_json_start(char path[32]);

/* The first line of that file (NUL-terminated in buf), then removes the file. */
void capture_json_first_line(const char *path, char *buf, size_t cap);

/* The top function of stack `name` in report `i`, or "" if that stack is absent. */
const char *capture_top(int i, const char *name);

/* Asserts report `i` has `kind` and that stack `name` starts in function `fn`. */
#define cr_assert_report(i, k)                                                                   \
  do {                                                                                           \
    cr_assert_gt(capture_count, (i), "expected report #%d (%s), got %d reports", (i), (k),       \
                 capture_count);                                                                 \
    cr_assert_str_eq(capture_log[(i)].kind, (k));                                                \
  } while (0)
#define cr_assert_top(i, name, fn) cr_assert_str_eq(capture_top((i), (name)), (fn))

#endif

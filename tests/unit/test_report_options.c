/* SPDX-License-Identifier: MIT */
/* The report's options at run time (lg_options_set): suppressions and log_path, each both
 * ways: a matching rule drops the report and counts it, another rule leaves it reported; the
 * text goes to <log_path>.<pid>. fdcheck's double-close is the report (halt_on_error=0). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lifeguard/options.h>
#include <lifeguard/report.h>

#include <criterion/criterion.h>

#include "capture.h"

#define NOINLINE __attribute__((noinline))

TestSuite(report_options, .init = capture_setup, .timeout = LG_UNIT_TIMEOUT);

NOINLINE int close_twice_here(void) {
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  cr_assert_geq(fd, 0);
  close(fd);
  return close(fd); /* the report's first frame is this function */
}

/* Writes `rules` to a new temporary file and names it in the suppressions option. */
static void use_suppressions(const char *rules, char path[64]) {
  snprintf(path, 64, "/tmp/lifeguard-supp-XXXXXX");
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  cr_assert_eq(write(fd, rules, strlen(rules)), (ssize_t)strlen(rules));
  close(fd);
  char opt[96];
  snprintf(opt, sizeof opt, "suppressions=%s", path);
  cr_assert_eq(lg_options_set(opt), 0);
}

Test(report_options, matching_suppression_drops_and_counts) {
  char path[64];
  use_suppressions("# a rule for this test\nfun:close_twice_*\n", path);
  unsigned long reports = lg_report_count();
  close_twice_here();
  unlink(path);
  cr_assert_eq(capture_count, 0, "the report was not dropped");
  cr_assert_eq(lg_report_suppressed_count(), 1);
  cr_assert_eq(lg_report_count(), reports);
}

Test(report_options, other_suppression_still_reports) {
  char path[64];
  use_suppressions("fun:close_once_*\nmod:libnothing*.so\n", path);
  close_twice_here();
  unlink(path);
  cr_assert_report(0, "double-close");
  cr_assert_top(0, "current", "close_twice_here");
  cr_assert_eq(lg_report_suppressed_count(), 0);
}

Test(report_options, log_path_gets_the_text) {
  char dir[] = "/tmp/lifeguard-log-XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  char opt[96], file[128];
  snprintf(opt, sizeof opt, "log_path=%s/report", dir);
  cr_assert_eq(lg_options_set(opt), 0);
  close_twice_here();
  cr_assert_report(0, "double-close");
  snprintf(file, sizeof file, "%s/report.%d", dir, (int)getpid());
  FILE *in = fopen(file, "r");
  cr_assert_not_null(in, "no %s", file);
  char text[4096];
  size_t n = fread(text, 1, sizeof text - 1, in);
  text[n] = '\0';
  fclose(in);
  unlink(file);
  rmdir(dir);
  cr_assert(strstr(text, "ERROR: lifeguard: double-close"), "%s", text);
  cr_assert(strstr(text, "SUMMARY: lifeguard: double-close"), "%s", text);
}

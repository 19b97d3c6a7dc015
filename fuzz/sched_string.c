/* Fuzz target: the schedule string parser (lifeguard/schedule.h).
 *
 * Any input either is rejected with a position inside it and a message, or parses to a log
 * whose formatted string parses back to the same log and formats to the same string again.
 * The canonical string is never longer than the input (runs only merge). A broken property
 * aborts, which libFuzzer and the replay main report as a crash. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lifeguard/schedule.h>

static void fail(const char *what) {
  fprintf(stderr, "sched_string: %s\n", what);
  abort();
}

static bool same_log(const lg_decision_log *a, const lg_decision_log *b) {
  if (a->len != b->len || a->inject_max != b->inject_max) return false;
  for (size_t i = 0; i < a->len; i++) {
    const lg_decision *x = &a->d[i], *y = &b->d[i];
    if (x->kind != y->kind || x->site != y->site || x->n != y->n || x->idx != y->idx)
      return false;
  }
  return true;
}

/* Formats `log` into a fresh heap string; checks the snprintf-like contract on the way. */
static char *format_checked(const lg_decision_log *log, size_t *len) {
  size_t need = lg_schedule_format(log, NULL, 0);
  char *s = malloc(need + 1);
  if (!s) fail("out of memory");
  if (lg_schedule_format(log, s, need + 1) != need || strlen(s) != need)
    fail("format length disagrees with its own answer");
  /* a truncated format is a prefix of the full one */
  char small[16];
  size_t cap = need / 2 < sizeof small ? need / 2 : sizeof small;
  if (cap > 0) {
    lg_schedule_format(log, small, cap);
    if (strlen(small) != cap - 1 || memcmp(small, s, cap - 1) != 0)
      fail("truncated format is not a prefix");
  }
  *len = need;
  return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static lg_decision_log log, back;
  size_t pos = SIZE_MAX;
  const char *msg = NULL;
  if (lg_schedule_parse((const char *)data, size, &log, &pos, &msg) != 0) {
    if (pos > size || !msg) fail("rejection without a position inside the input or a message");
    return 0;
  }
  size_t len1, len2;
  char *s1 = format_checked(&log, &len1);
  if (len1 > size) fail("the canonical string is longer than the input");
  if (lg_schedule_parse(s1, len1, &back, &pos, &msg) != 0) {
    fprintf(stderr, "sched_string: %s at %zu in %s\n", msg, pos, s1);
    fail("a formatted schedule does not parse");
  }
  if (!same_log(&log, &back)) fail("parse(format(log)) differs from log");
  if (lg_log_hash(&log) != lg_log_hash(&back)) fail("equal logs hash differently");
  char *s2 = format_checked(&back, &len2);
  if (len1 != len2 || memcmp(s1, s2, len1) != 0) fail("format is not stable");
  free(s1);
  free(s2);
  return 0;
}

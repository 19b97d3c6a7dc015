/* The decision log: every nondeterministic choice of one execution, in order, and its
 * printable form, the schedule string.
 *
 * Schedule string grammar (version 1), one line of printable ASCII:
 *   schedule  := "lgs1:" [ ( inject | token ) { "," token } ]
 *   inject    := "i" max           (failure injection was on, at most `max` failures)
 *   token     := kind site "/" n "=" idx [ "*" count ]
 *   kind      := "s" (which actor runs) | "d" (a data choice)
 *              | "f" (a call that can fail: 0 runs the real call, i >= 1 fails it the i-th way)
 *   site, n, idx, count, max := decimal, no sign, no leading zeros (except "0"); n >= 2;
 *                idx < n; count >= 2 (a token repeated count times); max >= 1
 * Example: "lgs1:s1/2=0*9,s1/2=1,d4/3=2". The empty schedule is "lgs1:". A schedule with
 * failure injection starts with its bound, which a replay takes from the string:
 * "lgs1:i2,f77/3=0,s1/2=1,f90/2=1"; an "f" token without the bound does not parse. Without
 * injection no "i" and no "f" appear, so every
 * string written before injection existed means what it meant. */
#ifndef LIFEGUARD_SCHEDULE_H
#define LIFEGUARD_SCHEDULE_H

#if defined(LG_LAYER) && !defined(LG_LAYER_SEES_SCHEDULE)
#error "a schedule-layer header, in a layer not above it (harness/CMakeLists.txt)"
#endif

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LG_SCHEDULE_VERSION 1
#define LG_SCHEDULE_PREFIX "lgs1:"

typedef enum lg_choice_kind {
  LG_CHOICE_SCHEDULE = 0,
  LG_CHOICE_DATA = 1,
  LG_CHOICE_FAIL = 2, /* failure injection: option 0 runs the real call */
} lg_choice_kind;

/* One decision. Choices with a single option are never decisions and never logged. */
typedef struct lg_decision {
  uint8_t kind;    /* lg_choice_kind */
  uint16_t site;   /* static site id */
  uint32_t n;      /* number of options, >= 2 */
  uint32_t idx;    /* the option taken, < n */
} lg_decision;

typedef struct lg_decision_log {
  lg_decision *d;
  size_t len, cap;
  /* The failure-injection bound the execution ran with (0: off), written as the "i" token.
   * Kept by lg_log_clear; set by the scheduler and by lg_schedule_parse. */
  uint32_t inject_max;
} lg_decision_log;

/* Appends one decision. Returns 0, or -1 when out of memory. */
int lg_log_append(lg_decision_log *log, lg_decision d);
void lg_log_clear(lg_decision_log *log);   /* len = 0, keeps the memory */
void lg_log_free(lg_decision_log *log);

/* A 64-bit hash of the log's decisions (FNV-1a over kind, site, n, idx; and inject_max
 * first when it is not 0). */
uint64_t lg_log_hash(const lg_decision_log *log);

/* The letter of a decision kind in a schedule string: 's', 'd', 'f' ('?' for another). */
char lg_choice_kind_letter(unsigned kind);

/* Writes the schedule string of `log` into buf (NUL-terminated, truncated to cap). Returns the
 * length the whole string needs, excluding the NUL, like snprintf. Async-signal-safe. */
size_t lg_schedule_format(const lg_decision_log *log, char *buf, size_t cap);

/* Parses a schedule string into `log` (cleared first). Returns 0, or -1 with *err_pos set to
 * the 0-based byte offset of the first bad character and *err_msg to a short static text
 * ("expected 's', 'd' or 'f'", "n must be at least 2", "index out of range", ...). On error the
 * log's contents are unspecified. */
int lg_schedule_parse(const char *s, size_t len, lg_decision_log *log, size_t *err_pos,
                      const char **err_msg);

#ifdef __cplusplus
}
#endif
#endif

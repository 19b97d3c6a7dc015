/* The decision log and the schedule string: format, parse, round trips, and every way a
 * string can be malformed, each rejected at its exact position. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "capture.h"

#include <lifeguard/schedule.h>

TestSuite(schedule, .timeout = LG_UNIT_TIMEOUT);

static lg_decision dec(lg_choice_kind kind, uint16_t site, uint32_t n, uint32_t idx) {
  return (lg_decision){(uint8_t)kind, site, n, idx};
}

static void assert_same_log(const lg_decision_log *a, const lg_decision_log *b) {
  cr_assert_eq(a->len, b->len, "lengths %zu and %zu", a->len, b->len);
  for (size_t i = 0; i < a->len; i++) {
    const lg_decision *x = &a->d[i], *y = &b->d[i];
    cr_assert(x->kind == y->kind && x->site == y->site && x->n == y->n && x->idx == y->idx,
              "decision %zu differs", i);
  }
}

/* Formats into a fresh heap string. */
static char *format_alloc(const lg_decision_log *log) {
  size_t need = lg_schedule_format(log, NULL, 0);
  char *s = malloc(need + 1);
  cr_assert_eq(lg_schedule_format(log, s, need + 1), need);
  cr_assert_eq(strlen(s), need);
  return s;
}

static int parse_str(const char *s, lg_decision_log *log) {
  size_t pos = 0;
  const char *msg = NULL;
  return lg_schedule_parse(s, strlen(s), log, &pos, &msg);
}

/* ---- the log ---------------------------------------------------------------------- */


Test(schedule, log_append_clear_free) {
  lg_decision_log log = {0};
  for (uint32_t i = 0; i < 1000; i++)
    cr_assert_eq(lg_log_append(&log, dec(LG_CHOICE_SCHEDULE, 1, 2 + i, i)), 0);
  cr_assert_eq(log.len, 1000);
  cr_assert_eq(log.d[999].idx, 999);
  cr_assert_eq(log.d[999].n, 1001);
  size_t cap = log.cap;
  lg_log_clear(&log);
  cr_assert_eq(log.len, 0);
  cr_assert_eq(log.cap, cap, "clear keeps the memory");
  lg_log_free(&log);
  cr_assert_null(log.d);
  cr_assert_eq(log.cap, 0);
}

Test(schedule, hash_is_fnv1a_over_the_fields) {
  lg_decision_log a = {0}, b = {0};
  cr_assert_eq(lg_log_hash(&a), 0xcbf29ce484222325ull, "empty log: the FNV-1a offset basis");
  lg_log_append(&a, dec(LG_CHOICE_SCHEDULE, 1, 2, 0));
  lg_log_append(&a, dec(LG_CHOICE_DATA, 4, 3, 2));
  lg_log_append(&b, dec(LG_CHOICE_SCHEDULE, 1, 2, 0));
  lg_log_append(&b, dec(LG_CHOICE_DATA, 4, 3, 2));
  cr_assert_eq(lg_log_hash(&a), lg_log_hash(&b));
  b.d[1].idx = 1;
  cr_assert_neq(lg_log_hash(&a), lg_log_hash(&b));
  b.d[1].idx = 2;
  b.d[0].site = 256;
  cr_assert_neq(lg_log_hash(&a), lg_log_hash(&b), "every byte of the site counts");

  /* one decision, by hand: kind, site (2 bytes), n (4), idx (4), little-endian */
  lg_decision_log one = {0};
  lg_log_append(&one, dec(LG_CHOICE_DATA, 0x0102, 7, 5));
  const uint8_t bytes[] = {1, 2, 1, 7, 0, 0, 0, 5, 0, 0, 0};
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < sizeof bytes; i++) h = (h ^ bytes[i]) * 0x100000001b3ull;
  cr_assert_eq(lg_log_hash(&one), h);
  lg_log_free(&a);
  lg_log_free(&b);
  lg_log_free(&one);
}

/* ---- format ----------------------------------------------------------------------- */

Test(schedule, format_known_log) {
  lg_decision_log log = {0};
  char buf[128];
  cr_assert_eq(lg_schedule_format(&log, buf, sizeof buf), 5);
  cr_assert_str_eq(buf, "lgs1:", "the empty schedule");

  for (int i = 0; i < 9; i++) lg_log_append(&log, dec(LG_CHOICE_SCHEDULE, 1, 2, 0));
  lg_log_append(&log, dec(LG_CHOICE_SCHEDULE, 1, 2, 1));
  lg_log_append(&log, dec(LG_CHOICE_DATA, 4, 3, 2));
  lg_log_append(&log, dec(LG_CHOICE_SCHEDULE, 65535, 4294967295u, 4294967294u));
  const char *want = "lgs1:s1/2=0*9,s1/2=1,d4/3=2,s65535/4294967295=4294967294";
  cr_assert_eq(lg_schedule_format(&log, buf, sizeof buf), strlen(want));
  cr_assert_str_eq(buf, want);
  lg_log_free(&log);
}

Test(schedule, format_truncates_like_snprintf) {
  lg_decision_log log = {0};
  lg_log_append(&log, dec(LG_CHOICE_SCHEDULE, 12, 3, 2));
  lg_log_append(&log, dec(LG_CHOICE_SCHEDULE, 12, 3, 2));
  const char *full = "lgs1:s12/3=2*2";
  char buf[32];
  for (size_t cap = 0; cap <= strlen(full) + 1; cap++) {
    memset(buf, '#', sizeof buf);
    cr_assert_eq(lg_schedule_format(&log, buf, cap), strlen(full));
    if (cap == 0) {
      cr_assert_eq(buf[0], '#', "cap 0 writes nothing");
      continue;
    }
    cr_assert_eq(strlen(buf), cap - 1, "cap %zu", cap);
    cr_assert_eq(strncmp(buf, full, cap - 1), 0);
    cr_assert_eq(buf[cap], '#', "nothing written past cap");
  }
  lg_log_free(&log);
}

/* ---- round trips ------------------------------------------------------------------ */

static uint64_t rng_state;
static uint32_t rnd(uint32_t n) {
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)((rng_state >> 33) % n);
}

/* A random valid log with runs of equal decisions and some extreme values. */
static void random_log(lg_decision_log *log) {
  lg_log_clear(log);
  size_t len = rnd(200);
  while (log->len < len) {
    uint32_t n = rnd(4) == 0 ? UINT32_MAX - rnd(3) : 2 + rnd(6);
    lg_decision d = dec(rnd(2) ? LG_CHOICE_DATA : LG_CHOICE_SCHEDULE,
                        (uint16_t)(rnd(3) == 0 ? 65535 - rnd(2) : rnd(20)), n, n - 1 - rnd(2));
    uint32_t repeat = rnd(3) == 0 ? 1 + rnd(12) : 1;
    for (uint32_t r = 0; r < repeat; r++) lg_log_append(log, d);
  }
}

Test(schedule, round_trip_random_logs) {
  lg_decision_log log = {0}, back = {0}, again = {0};
  rng_state = 42;
  for (int i = 0; i < 500; i++) {
    random_log(&log);
    char *s = format_alloc(&log);
    size_t pos = 99;
    const char *msg = NULL;
    cr_assert_eq(lg_schedule_parse(s, strlen(s), &back, &pos, &msg), 0, "%s: %s at %zu", s,
                 msg, pos);
    assert_same_log(&log, &back);
    cr_assert_eq(lg_log_hash(&log), lg_log_hash(&back));
    char *t = format_alloc(&back);
    cr_assert_str_eq(s, t);
    cr_assert_eq(parse_str(t, &again), 0);
    assert_same_log(&log, &again);
    free(s);
    free(t);
  }
  lg_log_free(&log);
  lg_log_free(&back);
  lg_log_free(&again);
}

Test(schedule, run_length_tokens) {
  lg_decision_log log = {0};
  cr_assert_eq(parse_str("lgs1:s0/2=1*3,d2/5=4", &log), 0);
  cr_assert_eq(log.len, 4);
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(log.d[i].kind, LG_CHOICE_SCHEDULE);
    cr_assert_eq(log.d[i].site, 0);
    cr_assert_eq(log.d[i].n, 2);
    cr_assert_eq(log.d[i].idx, 1);
  }
  cr_assert_eq(log.d[3].kind, LG_CHOICE_DATA);
  cr_assert_eq(log.d[3].site, 2);
  cr_assert_eq(log.d[3].n, 5);
  cr_assert_eq(log.d[3].idx, 4);

  /* split runs and spelled-out repeats parse to the same decisions, and format merged */
  cr_assert_eq(parse_str("lgs1:s7/3=2*2,s7/3=2,s7/3=2*2", &log), 0);
  cr_assert_eq(log.len, 5);
  char buf[64];
  lg_schedule_format(&log, buf, sizeof buf);
  cr_assert_str_eq(buf, "lgs1:s7/3=2*5");

  cr_assert_eq(parse_str("lgs1:d0/2=0*1000000", &log), 0);
  cr_assert_eq(log.len, 1000000);
  cr_assert_eq(log.d[999999].kind, LG_CHOICE_DATA);
  lg_log_free(&log);
}

Test(schedule, parse_clears_the_log_and_accepts_null_error_pointers) {
  lg_decision_log log = {0};
  lg_log_append(&log, dec(LG_CHOICE_SCHEDULE, 1, 2, 1));
  cr_assert_eq(lg_schedule_parse("lgs1:", 5, &log, NULL, NULL), 0);
  cr_assert_eq(log.len, 0);
  cr_assert_eq(lg_schedule_parse("lgs1:s1/2=3", 11, &log, NULL, NULL), -1);
  /* only `len` bytes are read: what follows does not count */
  cr_assert_eq(lg_schedule_parse("lgs1:s1/2=1,garbage", 11, &log, NULL, NULL), 0);
  cr_assert_eq(log.len, 1);
  lg_log_free(&log);
}

/* ---- failure injection ------------------------------------------------------------ */

Test(schedule, failure_decisions_and_their_bound_round_trip) {
  lg_decision_log log = {0}, back = {0};
  log.inject_max = 2;
  lg_log_append(&log, dec(LG_CHOICE_FAIL, 77, 3, 0));
  lg_log_append(&log, dec(LG_CHOICE_SCHEDULE, 1, 2, 1));
  lg_log_append(&log, dec(LG_CHOICE_FAIL, 90, 2, 1));
  lg_log_append(&log, dec(LG_CHOICE_FAIL, 90, 2, 1));
  char buf[128];
  lg_schedule_format(&log, buf, sizeof buf);
  cr_assert_str_eq(buf, "lgs1:i2,f77/3=0,s1/2=1,f90/2=1*2");
  cr_assert_eq(lg_schedule_parse(buf, strlen(buf), &back, NULL, NULL), 0);
  cr_assert_eq(back.inject_max, 2);
  cr_assert_eq(back.len, 4);
  cr_assert_eq(back.d[0].kind, LG_CHOICE_FAIL);
  cr_assert_eq(back.d[3].idx, 1);
  cr_assert_eq(lg_log_hash(&back), lg_log_hash(&log));
  /* the bound is part of the execution: the same decisions with another bound differ */
  back.inject_max = 3;
  cr_assert_neq(lg_log_hash(&back), lg_log_hash(&log));
  /* a bound alone, and a string without one, which leaves injection off */
  cr_assert_eq(lg_schedule_parse("lgs1:i5", 7, &back, NULL, NULL), 0);
  cr_assert_eq(back.inject_max, 5);
  cr_assert_eq(back.len, 0);
  cr_assert_eq(lg_schedule_parse("lgs1:s1/2=0", 11, &back, NULL, NULL), 0);
  cr_assert_eq(back.inject_max, 0);
  lg_schedule_format(&back, buf, sizeof buf);
  cr_assert_str_eq(buf, "lgs1:s1/2=0");
  lg_log_free(&log);
  lg_log_free(&back);
}

/* ---- rejection -------------------------------------------------------------------- */

typedef struct bad_case {
  const char *s;
  size_t len;  /* 0: strlen(s) */
  size_t pos;
  const char *msg;
} bad_case;

static const bad_case bad_cases[] = {
    /* the prefix */
    {"", 0, 0, "expected \"lgs1:\""},
    {"s0/2=0", 0, 0, "expected \"lgs1:\""},
    {"lgs1", 0, 0, "expected \"lgs1:\""},
    {"lgs1;s0/2=0", 0, 0, "expected \"lgs1:\""},
    {"LGS1:s0/2=0", 0, 0, "expected \"lgs1:\""},
    {"xlgs1:", 0, 0, "expected \"lgs1:\""},
    {"lgs:", 0, 0, "expected \"lgs1:\""},
    {"lgs2:s0/2=0", 0, 3, "unsupported schedule version"},
    {"lgs10:s0/2=0", 0, 3, "unsupported schedule version"},
    {"lgs0:", 0, 3, "unsupported schedule version"},
    /* kind */
    {"lgs1:x0/2=0", 0, 5, "expected 's', 'd' or 'f'"},
    {"lgs1:S0/2=0", 0, 5, "expected 's', 'd' or 'f'"},
    {"lgs1:s0/2=0,t1/2=0", 0, 12, "expected 's', 'd' or 'f'"},
    /* separators */
    {"lgs1:s0=0", 0, 7, "expected '/'"},
    {"lgs1:s/2=0", 0, 6, "expected a digit"},
    {"lgs1:s0/2", 0, 9, "expected '='"},
    {"lgs1:s0/2-0", 0, 9, "expected '='"},
    {"lgs1:s0/2=", 0, 10, "expected a digit"},
    {"lgs1:s0/2=0*", 0, 12, "expected a digit"},
    {"lgs1:s0/2=0 ", 0, 11, "expected ',' or the end"},
    {"lgs1:s0/2=0*3*2", 0, 13, "expected ',' or the end"},
    {"lgs1:s0/2=0;s0/2=1", 0, 11, "expected ',' or the end"},
    /* values */
    {"lgs1:s0/1=0", 0, 8, "n must be at least 2"},
    {"lgs1:s0/0=0", 0, 8, "n must be at least 2"},
    {"lgs1:s0/2=2", 0, 10, "index out of range"},
    {"lgs1:s3/7=4294967295", 0, 10, "index out of range"},
    {"lgs1:s0/2=0*1", 0, 12, "count must be at least 2"},
    {"lgs1:s0/2=0*0", 0, 12, "count must be at least 2"},
    /* leading zeros, in each number */
    {"lgs1:s01/2=0", 0, 6, "leading zero"},
    {"lgs1:s00/2=0", 0, 6, "leading zero"},
    {"lgs1:s0/02=0", 0, 8, "leading zero"},
    {"lgs1:s0/2=01", 0, 10, "leading zero"},
    {"lgs1:s0/2=0*02", 0, 12, "leading zero"},
    /* overflow: site is 16 bits, n, idx and count 32 */
    {"lgs1:s65536/2=0", 0, 6, "number too large"},
    {"lgs1:s0/4294967296=0", 0, 8, "number too large"},
    {"lgs1:s0/99999999999999999999999999=0", 0, 8, "number too large"},
    {"lgs1:d0/4294967295=18446744073709551616", 0, 19, "number too large"},
    {"lgs1:s0/2=0*4294967296", 0, 12, "number too large"},
    {"lgs1:s0/2=0*4294967295", 0, 12, "schedule too long"},
    /* tokens */
    {"lgs1:s0/2=0,", 0, 12, "trailing ','"},
    {"lgs1:s0/2=0,,s0/2=1", 0, 12, "empty token"},
    {"lgs1:,", 0, 5, "empty token"},
    {"lgs1:,s0/2=0", 0, 5, "empty token"},
    /* bytes that are not printable ASCII */
    {"lgs1:s0/2=0\0,s0/2=1", 19, 11, "non-printable byte"},
    {"lgs1:s0/2\0=0", 12, 9, "non-printable byte"},
    {"lgs1:\0", 6, 5, "non-printable byte"},
    {"lgs1:s0/2=\xc3\xa9", 0, 10, "non-printable byte"},
    {"lgs1:s0\xff/2=0", 0, 7, "non-printable byte"},
    {"lgs1:s0/2=0\n", 0, 11, "non-printable byte"},
    {"lgs1\0:", 6, 0, "expected \"lgs1:\""},
    /* the failure-injection bound: first, at least 1, once */
    {"lgs1:i0", 0, 6, "inject bound must be at least 1"},
    {"lgs1:i", 0, 6, "expected a digit"},
    {"lgs1:i2,", 0, 8, "trailing ','"},
    {"lgs1:i2f1/2=0", 0, 7, "expected ',' or the end"},
    {"lgs1:i2,i3", 0, 8, "'i' only as the first token"},
    {"lgs1:s0/2=0,i3", 0, 12, "'i' only as the first token"},
    {"lgs1:i4294967296", 0, 6, "number too large"},
    {"lgs1:f1/2=1", 0, 5, "'f' needs the 'i' bound first"},
    {"lgs1:s0/2=0,f1/2=0", 0, 12, "'f' needs the 'i' bound first"},
};

Test(schedule, rejects_malformed_strings_at_the_exact_position) {
  lg_decision_log log = {0};
  for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
    const bad_case *c = &bad_cases[i];
    size_t len = c->len ? c->len : strlen(c->s);
    size_t pos = 12345;
    const char *msg = NULL;
    int rc = lg_schedule_parse(c->s, len, &log, &pos, &msg);
    cr_expect_eq(rc, -1, "case %zu (\"%s\") was accepted", i, c->s);
    if (rc != -1) continue;
    cr_expect_eq(pos, c->pos, "case %zu (\"%s\"): position %zu, want %zu (%s)", i, c->s, pos,
                 c->pos, msg);
    cr_expect(msg && strcmp(msg, c->msg) == 0, "case %zu (\"%s\"): message \"%s\", want \"%s\"",
              i, c->s, msg ? msg : "(null)", c->msg);
  }
  lg_log_free(&log);
}

Test(schedule, accepts_the_limits) {
  lg_decision_log log = {0};
  /* the parser holds at most 2^22 decisions, so a short string cannot ask for gigabytes */
  cr_assert_eq(parse_str("lgs1:s65535/4294967295=4294967294*4194304", &log), 0);
  cr_assert_eq(log.len, 4194304);
  cr_assert_eq(log.d[0].site, 65535);
  cr_assert_eq(log.d[0].n, 4294967295u);
  cr_assert_eq(log.d[0].idx, 4294967294u);
  cr_assert_eq(parse_str("lgs1:s0/2=0,d0/2=1", &log), 0);
  cr_assert_eq(log.len, 2);
  size_t pos = 0;
  const char *msg = NULL;
  const char *s = "lgs1:s0/2=0*4194303,s0/2=1,d0/2=1";
  cr_assert_eq(lg_schedule_parse(s, strlen(s), &log, &pos, &msg), -1);
  cr_assert_eq(pos, 27, "the token that goes past the limit");
  cr_assert_str_eq(msg, "schedule too long");
  lg_log_free(&log);
}

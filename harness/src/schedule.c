/* The decision log and its schedule string (grammar in lifeguard/schedule.h). */
#include <lifeguard/schedule.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* A parsed schedule may hold at most this many decisions, so that a short string such as
 * "lgs1:s0/2=0*4294967295" cannot ask for gigabytes. Far above any step budget. */
#define LG_SCHEDULE_MAX_DECISIONS (1u << 22)

/* ---- the log ---------------------------------------------------------------------- */

/* Makes room for `extra` more decisions. Returns 0, or -1 when out of memory. */
static int log_reserve(lg_decision_log *log, size_t extra) {
  if (extra <= log->cap - log->len) return 0;
  size_t want = log->len + extra;
  size_t cap = log->cap ? log->cap : 16;
  while (cap < want) cap *= 2;
  lg_decision *d = realloc(log->d, cap * sizeof *d);
  if (!d) return -1;
  log->d = d;
  log->cap = cap;
  return 0;
}

/* Appends one decision. Returns 0, or -1 when out of memory. */
int lg_log_append(lg_decision_log *log, lg_decision d) {
  if (log->len == log->cap && log_reserve(log, 1) < 0) return -1;
  log->d[log->len++] = d;
  return 0;
}

/* Forgets the decisions and keeps the memory. */
void lg_log_clear(lg_decision_log *log) { log->len = 0; }

/* Releases the memory; the log is empty and reusable afterwards. */
void lg_log_free(lg_decision_log *log) {
  free(log->d);
  log->d = NULL;
  log->len = log->cap = 0;
  log->inject_max = 0;
}

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t fnv_bytes(uint64_t h, uint64_t v, int nbytes) {
  for (int i = 0; i < nbytes; i++) {
    h ^= (uint8_t)(v >> (8 * i));
    h *= FNV_PRIME;
  }
  return h;
}

/* FNV-1a over each decision's kind (1 byte), site (2), n (4) and idx (4), little-endian,
 * so the hash does not depend on the struct's padding or the host's byte order. */
uint64_t lg_log_hash(const lg_decision_log *log) {
  uint64_t h = FNV_OFFSET;
  if (log->inject_max) h = fnv_bytes(h, (uint64_t)'i' << 32 | log->inject_max, 5);
  for (size_t i = 0; i < log->len; i++) {
    const lg_decision *d = &log->d[i];
    h = fnv_bytes(h, d->kind, 1);
    h = fnv_bytes(h, d->site, 2);
    h = fnv_bytes(h, d->n, 4);
    h = fnv_bytes(h, d->idx, 4);
  }
  return h;
}

/* ---- format ----------------------------------------------------------------------- */

/* A bounded writer: counts every byte, stores those that fit (keeping room for the NUL). */
typedef struct out {
  char *buf;
  size_t cap, len;
} out;

static void put_char(out *o, char c) {
  if (o->len + 1 < o->cap) o->buf[o->len] = c;
  o->len++;
}

static void put_str(out *o, const char *s) {
  while (*s) put_char(o, *s++);
}

static void put_uint(out *o, uint64_t v) {
  char digits[20];
  int n = 0;
  do {
    digits[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n) put_char(o, digits[--n]);
}

/* The letter of a decision kind in the schedule string ('?' for none). */
char lg_choice_kind_letter(unsigned kind) {
  return kind == LG_CHOICE_SCHEDULE ? 's' : kind == LG_CHOICE_DATA ? 'd'
         : kind == LG_CHOICE_FAIL   ? 'f' : '?';
}

static bool same_decision(const lg_decision *a, const lg_decision *b) {
  return a->kind == b->kind && a->site == b->site && a->n == b->n && a->idx == b->idx;
}

/* Writes the schedule string, equal neighbours run-length encoded ("*count"). Returns the
 * full length (without the NUL) even when truncated. Only touches buf: async-signal-safe.
 * Decisions that break the grammar (kind other than s/d/f, n < 2, idx >= n) are written as
 * they are ('?' for an unknown kind) and the string will not parse. */
size_t lg_schedule_format(const lg_decision_log *log, char *buf, size_t cap) {
  out o = {buf, cap, 0};
  put_str(&o, LG_SCHEDULE_PREFIX);
  size_t i = 0;
  bool first = true;
  if (log && log->inject_max) {
    put_char(&o, 'i');
    put_uint(&o, log->inject_max);
    first = false;
  }
  while (log && i < log->len) {
    const lg_decision *d = &log->d[i];
    size_t run = 1;
    while (i + run < log->len && same_decision(d, &log->d[i + run])) run++;
    if (!first) put_char(&o, ',');
    first = false;
    put_char(&o, lg_choice_kind_letter(d->kind));
    put_uint(&o, d->site);
    put_char(&o, '/');
    put_uint(&o, d->n);
    put_char(&o, '=');
    put_uint(&o, d->idx);
    if (run > 1) {
      put_char(&o, '*');
      put_uint(&o, run);
    }
    i += run;
  }
  if (cap > 0) buf[o.len < cap ? o.len : cap - 1] = '\0';
  return o.len;
}

/* ---- parse ------------------------------------------------------------------------ */

typedef struct parser {
  const char *s;
  size_t len, pos;
  size_t err_pos;
  const char *err_msg;
} parser;

static int fail_at(parser *p, size_t pos, const char *msg) {
  p->err_pos = pos;
  p->err_msg = msg;
  return -1;
}

/* An unexpected byte (or the end) where `what` was expected. */
static int fail_expected(parser *p, const char *what) {
  if (p->pos < p->len) {
    unsigned char c = (unsigned char)p->s[p->pos];
    if (c < 0x20 || c > 0x7e) return fail_at(p, p->pos, "non-printable byte");
  }
  return fail_at(p, p->pos, what);
}

static bool at(const parser *p, char c) { return p->pos < p->len && p->s[p->pos] == c; }

static bool at_digit(const parser *p) {
  return p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9';
}

/* Reads a decimal number no larger than `max`. Errors about the number's value (leading
 * zero, too large) point at its first digit. */
static int parse_uint(parser *p, uint64_t max, uint64_t *v, size_t *start) {
  *start = p->pos;
  if (!at_digit(p)) return fail_expected(p, "expected a digit");
  if (p->s[p->pos] == '0' && p->pos + 1 < p->len && p->s[p->pos + 1] >= '0' &&
      p->s[p->pos + 1] <= '9')
    return fail_at(p, *start, "leading zero");
  uint64_t x = 0;
  while (at_digit(p)) {
    unsigned digit = (unsigned)(p->s[p->pos] - '0');
    if (x > (max - digit) / 10) return fail_at(p, *start, "number too large");
    x = x * 10 + digit;
    p->pos++;
  }
  *v = x;
  return 0;
}

static int expect_char(parser *p, char c, const char *msg) {
  if (!at(p, c)) return fail_expected(p, msg);
  p->pos++;
  return 0;
}

/* token := kind site "/" n "=" idx [ "*" count ]; appends `count` decisions. */
static int parse_token(parser *p, lg_decision_log *log) {
  lg_decision d;
  memset(&d, 0, sizeof d);
  uint64_t site, n, idx, count = 1;
  size_t site_at, n_at, idx_at, count_at;
  size_t token_at = p->pos;

  if (at(p, 's')) d.kind = LG_CHOICE_SCHEDULE;
  else if (at(p, 'd')) d.kind = LG_CHOICE_DATA;
  else if (at(p, 'f')) {
    if (!log->inject_max) return fail_at(p, p->pos, "'f' needs the 'i' bound first");
    d.kind = LG_CHOICE_FAIL;
  }
  else if (p->pos == p->len) return fail_at(p, p->pos, "trailing ','");
  else if (at(p, ',')) return fail_at(p, p->pos, "empty token");
  else if (at(p, 'i')) return fail_at(p, p->pos, "'i' only as the first token");
  else return fail_expected(p, "expected 's', 'd' or 'f'");
  p->pos++;

  if (parse_uint(p, UINT16_MAX, &site, &site_at) < 0) return -1;
  if (expect_char(p, '/', "expected '/'") < 0) return -1;
  if (parse_uint(p, UINT32_MAX, &n, &n_at) < 0) return -1;
  if (n < 2) return fail_at(p, n_at, "n must be at least 2");
  if (expect_char(p, '=', "expected '='") < 0) return -1;
  if (parse_uint(p, UINT32_MAX, &idx, &idx_at) < 0) return -1;
  if (idx >= n) return fail_at(p, idx_at, "index out of range");
  if (at(p, '*')) {
    p->pos++;
    if (parse_uint(p, UINT32_MAX, &count, &count_at) < 0) return -1;
    if (count < 2) return fail_at(p, count_at, "count must be at least 2");
  } else {
    count_at = token_at;
  }
  if (count > LG_SCHEDULE_MAX_DECISIONS - log->len)
    return fail_at(p, count_at, "schedule too long");

  d.site = (uint16_t)site;
  d.n = (uint32_t)n;
  d.idx = (uint32_t)idx;
  if (log_reserve(log, (size_t)count) < 0) return fail_at(p, token_at, "out of memory");
  for (uint64_t i = 0; i < count; i++) log->d[log->len++] = d;
  return 0;
}

/* inject := "i" max, max >= 1; followed by the end or a ',' and a token. */
static int parse_inject(parser *p, lg_decision_log *log) {
  uint64_t max;
  size_t max_at;
  p->pos++;
  if (parse_uint(p, UINT32_MAX, &max, &max_at) < 0) return -1;
  if (max < 1) return fail_at(p, max_at, "inject bound must be at least 1");
  log->inject_max = (uint32_t)max;
  if (p->pos == p->len) return 0;
  if (!at(p, ',')) return fail_expected(p, "expected ',' or the end");
  p->pos++;
  if (p->pos == p->len) return fail_at(p, p->pos, "trailing ','");
  return 0;
}

/* The prefix is one unit: anything that is not "lgs1:" is reported at offset 0, except a
 * well-formed "lgs<digits>:" of another version, reported at the version number. */
static int parse_prefix(parser *p) {
  static const char prefix[] = LG_SCHEDULE_PREFIX;
  size_t n = sizeof prefix - 1;
  if (p->len >= n && memcmp(p->s, prefix, n) == 0) {
    p->pos = n;
    return 0;
  }
  if (p->len > 3 && memcmp(p->s, "lgs", 3) == 0) {
    size_t i = 3;
    while (i < p->len && p->s[i] >= '0' && p->s[i] <= '9') i++;
    if (i > 3 && i < p->len && p->s[i] == ':')
      return fail_at(p, 3, "unsupported schedule version");
  }
  return fail_at(p, 0, "expected \"" LG_SCHEDULE_PREFIX "\"");
}

/* Parses `len` bytes of `s` into `log` (cleared first). Returns 0, or -1 with the offset of
 * the first bad byte and a static message (either pointer may be NULL). */
int lg_schedule_parse(const char *s, size_t len, lg_decision_log *log, size_t *err_pos,
                      const char **err_msg) {
  parser p = {s ? s : "", s ? len : 0, 0, 0, NULL};
  lg_log_clear(log);
  log->inject_max = 0;
  int rc = parse_prefix(&p);
  if (rc == 0 && at(&p, 'i')) rc = parse_inject(&p, log);
  if (rc == 0 && p.pos < p.len) {
    for (;;) {
      if ((rc = parse_token(&p, log)) < 0) break;
      if (p.pos == p.len) break;
      if (!at(&p, ',')) {
        rc = fail_expected(&p, "expected ',' or the end");
        break;
      }
      p.pos++;
    }
  }
  if (rc < 0) {
    if (err_pos) *err_pos = p.err_pos;
    if (err_msg) *err_msg = p.err_msg;
  }
  return rc;
}

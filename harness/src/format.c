/* SPDX-License-Identifier: MIT */
/* lg__format: snprintf for the fault path. A report is formatted from a signal handler, on
 * a thread that may hold any lock of libc's; glibc's snprintf is not on the async-signal-safe
 * list (its %s/%d paths happen not to lock or allocate today, but nothing promises that, and
 * some conversions do both). This one touches nothing but its arguments and the output.
 *
 * It knows what lifeguard's reports use: the flags '-' and '0', a width and a precision
 * (numbers or '*'), the lengths hh, h, l, ll, z, t, and the conversions d i u x X p s c %.
 * Anything else is copied as it stands. As snprintf, it returns the length the whole text
 * would have, and writes at most cap - 1 characters and a terminating NUL (when cap > 0). */
#include "internal.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct out {
  char *p;
  size_t cap, len; /* len counts every character, written or not */
} out;

static void emit(out *o, char c) {
  if (o->len + 1 < o->cap) o->p[o->len] = c;
  o->len++;
}

static void pad(out *o, char c, int n) {
  for (; n > 0; n--) emit(o, c);
}

/* `digits` (n of them, most significant first) with a sign, padded to `width`. */
static void field(out *o, const char *digits, int n, char sign, int width, int prec,
                  bool left, bool zero) {
  int body = (prec > n ? prec : n) + (sign != 0);
  if (!left && !zero) pad(o, ' ', width - body);
  if (sign) emit(o, sign);
  if (!left && zero) pad(o, '0', width - body);
  pad(o, '0', prec - n);
  for (int i = 0; i < n; i++) emit(o, digits[i]);
  if (left) pad(o, ' ', width - body);
}

static int to_digits(uint64_t v, unsigned base, bool upper, char *d) {
  const char *set = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  char rev[24];
  int n = 0;
  do {
    rev[n++] = set[v % base];
    v /= base;
  } while (v);
  for (int i = 0; i < n; i++) d[i] = rev[n - 1 - i];
  return n;
}

size_t lg__vformat(char *buf, size_t cap, const char *fmt, va_list ap) {
  out o = {buf, cap, 0};
  for (const char *f = fmt; *f; f++) {
    if (*f != '%') {
      emit(&o, *f);
      continue;
    }
    const char *start = f++;
    bool left = false, zero = false;
    for (;; f++) {
      if (*f == '-') left = true;
      else if (*f == '0') zero = true;
      else break;
    }
    int width = 0, prec = -1;
    if (*f == '*') {
      width = va_arg(ap, int);
      if (width < 0) left = true, width = -width;
      f++;
    } else {
      while (*f >= '0' && *f <= '9') width = width * 10 + (*f++ - '0');
    }
    if (*f == '.') {
      f++;
      prec = 0;
      if (*f == '*') {
        prec = va_arg(ap, int);
        f++;
      } else {
        while (*f >= '0' && *f <= '9') prec = prec * 10 + (*f++ - '0');
      }
    }
    int longs = 0; /* 0 int, 1 long, 2 long long, 3 size_t/ptrdiff_t */
    for (;; f++) {
      if (*f == 'l') longs++;
      else if (*f == 'z' || *f == 't') longs = 3;
      else if (*f != 'h') break;
    }
    char d[24];
    int n;
    switch (*f) {
    case 'd':
    case 'i': {
      long long v = longs == 0 ? va_arg(ap, int)
                  : longs == 1 ? va_arg(ap, long)
                  : longs == 2 ? va_arg(ap, long long)
                               : (long long)va_arg(ap, ptrdiff_t);
      uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
      n = to_digits(mag, 10, false, d);
      if (prec == 0 && v == 0) n = 0;
      field(&o, d, n, v < 0 ? '-' : 0, width, prec, left, zero && prec < 0);
      break;
    }
    case 'u':
    case 'x':
    case 'X': {
      uint64_t v = longs == 0 ? va_arg(ap, unsigned)
                 : longs == 1 ? va_arg(ap, unsigned long)
                 : longs == 2 ? va_arg(ap, unsigned long long)
                              : (uint64_t)va_arg(ap, size_t);
      n = to_digits(v, *f == 'u' ? 10 : 16, *f == 'X', d);
      if (prec == 0 && v == 0) n = 0;
      field(&o, d, n, 0, width, prec, left, zero && prec < 0);
      break;
    }
    case 'p': {
      uintptr_t v = (uintptr_t)va_arg(ap, void *);
      if (!v) {
        const char *nil = "(nil)";
        for (n = 0; nil[n]; n++) d[n] = nil[n];
        field(&o, d, n, 0, width, -1, left, false);
        break;
      }
      d[0] = '0';
      d[1] = 'x';
      n = 2 + to_digits(v, 16, false, d + 2);
      field(&o, d, n, 0, width, -1, left, false);
      break;
    }
    case 's': {
      const char *s = va_arg(ap, const char *);
      if (!s) s = "(null)";
      int len = 0;
      while (s[len] && (prec < 0 || len < prec)) len++;
      if (!left) pad(&o, ' ', width - len);
      for (int i = 0; i < len; i++) emit(&o, s[i]);
      if (left) pad(&o, ' ', width - len);
      break;
    }
    case 'c': {
      char c = (char)va_arg(ap, int);
      field(&o, &c, 1, 0, width, -1, left, false);
      break;
    }
    case '%':
      emit(&o, '%');
      break;
    default: /* not one of ours: the text as it stands */
      for (const char *c = start; c <= f && *c; c++) emit(&o, *c);
      if (!*f) f--;
      break;
    }
  }
  if (cap) buf[o.len < cap ? o.len : cap - 1] = '\0';
  return o.len;
}

size_t lg__format(char *buf, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  size_t n = lg__vformat(buf, cap, fmt, ap);
  va_end(ap);
  return n;
}

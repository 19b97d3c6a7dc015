/* SPDX-License-Identifier: MIT */
/* lg__format, the fault path's snprintf (harness/src/format.c): the same text as glibc's
 * snprintf for every conversion lifeguard's reports use, and the same cut at the capacity. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation" /* the cut is what is tested */
#endif

/* (internal to the harness: declared here, linked from the static library) */
size_t lg__format(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define SAME(cap, ...)                                                                      \
  do {                                                                                      \
    char want[256], got[256];                                                               \
    memset(want, 'x', sizeof want);                                                         \
    memset(got, 'x', sizeof got);                                                           \
    int wn = snprintf(want, (cap), __VA_ARGS__);                                            \
    size_t gn = lg__format(got, (cap), __VA_ARGS__);                                        \
    cr_assert_eq(gn, (size_t)wn, "%s: length %zu, snprintf says %d", #__VA_ARGS__, gn, wn);  \
    cr_assert_eq(memcmp(got, want, sizeof got), 0, "%s: '%.*s' against '%.*s'",             \
                 #__VA_ARGS__, (int)(cap), got, (int)(cap), want);                           \
  } while (0)

Test(format, conversions_match_snprintf) {
  SAME(256, "plain text, no conversion");
  SAME(256, "%d %d %d %i", 0, -1, 2147483647, -2147483647 - 1);
  SAME(256, "%u %x %X %04x %lx", 0u, 255u, 255u, 0xabu, 0xdeadbeefcafeUL);
  SAME(256, "%ld %lld %llu", -5L, -9000000000LL, 18446744073709551615ULL);
  SAME(256, "%zu %zu", (size_t)0, (size_t)4096);
  SAME(256, "%p %p", (void *)0x7ffdeadbeef0, (void *)0x10);
  SAME(256, "[%s] [%.3s] [%.*s] [%10s] [%-6s]", "abc", "abcdef", 2, "xyz", "r", "l");
  SAME(256, "%c%c 100%%", 'o', 'k');
  SAME(256, "%5d|%-5d|%05d|%.3d", 42, 42, -42, 7);
}

Test(format, cut_at_the_capacity_as_snprintf) {
  SAME(8, "%s", "a longer string than eight");
  SAME(8, "on %p: %s", (void *)0x7ffdeadbeef0, "freed");
  SAME(1, "%d", 12345);
}

Test(format, zero_capacity_writes_nothing) {
  char c = 'x';
  cr_assert_eq(lg__format(&c, 0, "%s", "abc"), 3u);
  cr_assert_eq(c, 'x');
}

/* SPDX-License-Identifier: MIT */
/* liblifeguard-preload.so: the harness's detectors for an unmodified program.
 *
 *   LD_PRELOAD=build/plain/harness/liblifeguard-preload.so LIFEGUARD_OPTIONS=... PROG
 *
 * The library is the static harness linked whole (pageheap's malloc family, fdcheck's and
 * modcheck's interceptors) plus this file. Being preloaded, its definitions come before
 * libc's in the global scope, so the program, every library it loads and libc's own internal
 * calls to malloc/free (strdup, fopen, getline, ...) reach them; close and fclose from the
 * program and its libraries too (libc's internal __close_nocancel does not: fclose is
 * intercepted instead).
 *
 * Start-up order: ld.so initializes libc first (a dependency of everything), then the
 * libraries in reverse load order, so ours before the program's own constructors but possibly
 * after libraries the program needs (libstdc++'s emergency pool, ...). Until options.c's
 * constructor(101) has run, lg__started() is false and the page heap hands every request to
 * glibc (__libc_malloc); free later tells such blocks apart by address. The constructor below
 * runs right after it and reads LIFEGUARD_OPTIONS at once, so a malformed option stops the
 * program before main rather than at its first interceptor call. */
#define _GNU_SOURCE
#include "control_internal.h"
#include "internal.h"

#if defined(__SANITIZE_ADDRESS__)
#error "liblifeguard-preload.so is not built under AddressSanitizer (ASan owns malloc)"
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#error "liblifeguard-preload.so is not built under AddressSanitizer (ASan owns malloc)"
#endif
#endif

/* Present only in the preloaded library: `nm -D` or dlsym tells a process it is there. */
__attribute__((visibility("default"))) const char lifeguard_preload_version[] = LG_VERSION;

__attribute__((constructor(102))) static void lg__preload_start(void) {
  (void)lg__opts(); /* after constructor(101): the environment is readable */
  lg__control_start(); /* explore=1: this thread becomes the first actor */
}

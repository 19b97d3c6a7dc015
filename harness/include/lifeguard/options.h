/* SPDX-License-Identifier: MIT */
/* LIFEGUARD_OPTIONS: key=value pairs separated by ':', as ASAN_OPTIONS takes them.
 *
 * The options are read from the environment once, when the library starts. A malformed
 * string (an unknown name, a value out of range, no '=') is a one-line error on stderr and
 * exit status 2; `help=1` prints every option with its default and meaning on stderr and
 * exits 0. The options and their defaults are listed in docs/options.md. */
#ifndef LIFEGUARD_OPTIONS_H
#define LIFEGUARD_OPTIONS_H

#if defined(LG_LAYER) && !defined(LG_LAYER_SEES_COMMON)
#error "a common-layer header, in a layer not above it (harness/CMakeLists.txt)"
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Overrides options at run time, same syntax as LIFEGUARD_OPTIONS (for tests and embedders).
 * Returns 0, or -1 with a one-line message on stderr for a malformed string (the options
 * before the bad item are applied). */
int lg_options_set(const char *options);

#ifdef __cplusplus
}
#endif
#endif

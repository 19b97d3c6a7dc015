/* SPDX-License-Identifier: MIT */
/* lifeguard's public API in one include: the check API (lifeguard/check.h) and every other
 * public header of the harness. A program that uses it links liblifeguard (find_package:
 * lifeguard::lifeguard; pkg-config: lifeguard). */
#ifndef LIFEGUARD_LIFEGUARD_H
#define LIFEGUARD_LIFEGUARD_H

#if defined(LG_LAYER) && !defined(LG_LAYER_SEES_CHECK)
#error "the umbrella header, in a layer not above the check layer (harness/CMakeLists.txt)"
#endif

/* The version of these headers (the project's, checked against CMakeLists.txt's at
 * configure time). */
#define LG_VERSION_MAJOR 0
#define LG_VERSION_MINOR 1
#define LG_VERSION_PATCH 0

#include <lifeguard/check.h>
#include <lifeguard/fdcheck.h>
#include <lifeguard/modcheck.h>
#include <lifeguard/options.h>
#include <lifeguard/oracle.h>
#include <lifeguard/pageheap.h>
#include <lifeguard/report.h>
#include <lifeguard/sched.h>
#include <lifeguard/schedule.h>
#include <lifeguard/source.h>
#include <lifeguard/stack.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of the library linked: "MAJOR.MINOR.PATCH" (may differ from the headers'). */
const char *lg_version(void);

#ifdef __cplusplus
}
#endif
#endif

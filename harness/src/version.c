/* SPDX-License-Identifier: MIT */
/* The library's version (lifeguard/lifeguard.h): the version of the headers it was built
 * with, which CMake checks against the project's. */
#include "internal.h"

#include <lifeguard/lifeguard.h>

#define LG__STR(x) #x
#define LG__XSTR(x) LG__STR(x)

const char *lg_version(void) {
  return LG__XSTR(LG_VERSION_MAJOR) "." LG__XSTR(LG_VERSION_MINOR) "." LG__XSTR(LG_VERSION_PATCH);
}

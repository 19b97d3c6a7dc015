/* SPDX-License-Identifier: MIT */
/* Scheduling points: a decision under lg_sched, nothing when free-running (the OS decides). */
#include <lgrt/point.h>

#include <lifeguard/sched.h>

void lgrt_point(lgrt_site site) {
  if (lg_sched_controlled()) lg_yield_at((lg_site)site);
}

/* Scheduling points: a hook call, nothing more. */
#include <lgrt/point.h>

#include <stddef.h>

static lgrt_point_hook point_hook;
static void *point_arg;

void lgrt_set_point_hook(lgrt_point_hook hook, void *arg) {
  point_hook = hook;
  point_arg = arg;
}

void lgrt_point(lgrt_site site) {
  if (point_hook) point_hook(site, point_arg);
}

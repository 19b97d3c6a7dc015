/* SPDX-License-Identifier: MIT */
/* Scheduling points of the reference runtime: the places where another actor may run (a
 * system call, a lock, a poll). Under lg_sched each is a decision; free-running, nothing. */
#ifndef LGRT_POINT_H
#define LGRT_POINT_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lgrt_site {
  /* lg_socket_destroy, between the wrapper's own cleanup and the inner owner's close */
  LGRT_SITE_SOCKET_DROP_FIELDS = 1,
} lgrt_site;

/* A scheduling point at `site`. */
void lgrt_point(lgrt_site site);

#ifdef __cplusplus
}
#endif
#endif

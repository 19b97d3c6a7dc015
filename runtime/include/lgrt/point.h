/* Scheduling points of the reference runtime: the places where another actor may run (a
 * system call, a lock, a poll). Free-running they do nothing. A scenario installs a hook to
 * force one interleaving; the controlled scheduler makes each point a decision. */
#ifndef LGRT_POINT_H
#define LGRT_POINT_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lgrt_site {
  /* lg_socket_destroy, between the wrapper's own cleanup and the inner owner's close */
  LGRT_SITE_SOCKET_DROP_FIELDS = 1,
} lgrt_site;

typedef void (*lgrt_point_hook)(lgrt_site site, void *arg);

/* Installs the hook called at every point (NULL removes it). Not thread-safe: install it
 * before the actors start. */
void lgrt_set_point_hook(lgrt_point_hook hook, void *arg);

/* A scheduling point at `site`. */
void lgrt_point(lgrt_site site);

#ifdef __cplusplus
}
#endif
#endif

/* SPDX-License-Identifier: MIT */
/* A configuration that an updater replaces while readers use it, tested with lifeguard's check
 * API: the test body is plain pthread code, and lg_check_pct runs it under 1000 controlled
 * schedules.
 *
 * The buggy reader takes the pointer under the lock but reads through it after unlocking; the
 * updater may swap and free the old configuration in between. The fixed reader copies what it
 * needs while it holds the lock.
 *
 *   config_reader buggy             heap-use-after-free found, its schedule printed: exit 1
 *   config_reader fixed             clean under every schedule tried: exit 0
 *   config_reader buggy SCHEDULE    replays one schedule (lg_check_replay) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lifeguard/lifeguard.h>

struct config {
  int timeout_ms;
};

static pthread_mutex_t config_lock = PTHREAD_MUTEX_INITIALIZER;
static struct config *current;
static int buggy;

static void *reader(void *arg) {
  int timeout;
  pthread_mutex_lock(&config_lock);
  struct config *c = current;
  if (buggy) {
    pthread_mutex_unlock(&config_lock);
    timeout = c->timeout_ms; /* the updater may have freed it by now */
  } else {
    timeout = c->timeout_ms;
    pthread_mutex_unlock(&config_lock);
  }
  LG_ASSERT(timeout == 100 || timeout == 250);
  return NULL;
}

static void *updater(void *arg) {
  struct config *next = malloc(sizeof *next);
  next->timeout_ms = 250;
  pthread_mutex_lock(&config_lock);
  struct config *old = current;
  current = next;
  pthread_mutex_unlock(&config_lock);
  free(old);
  return NULL;
}

/* The test body: run once per schedule, in a process of its own. */
static void reload_while_reading(void *arg) {
  current = malloc(sizeof *current);
  current->timeout_ms = 100;
  pthread_t r, u;
  pthread_create(&r, NULL, reader, NULL);
  pthread_create(&u, NULL, updater, NULL);
  pthread_join(r, NULL);
  pthread_join(u, NULL);
  free(current);
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3 || (strcmp(argv[1], "buggy") && strcmp(argv[1], "fixed"))) {
    fprintf(stderr, "usage: config_reader buggy|fixed [SCHEDULE]\n");
    return 2;
  }
  buggy = strcmp(argv[1], "buggy") == 0;
  if (argc == 3) return lg_check_replay(reload_while_reading, NULL, argv[2]);
  return lg_check_pct(reload_while_reading, NULL, 1000, 3);
}

/* SPDX-License-Identifier: MIT */
/* Test bodies run through the check API, each in a buggy and a fixed variant, in plain
 * pthread code (tests/driver/test_check.py):
 *
 *   check_bodies BODY buggy|fixed random|pct|dfs|replay [N|SCHEDULE]
 *
 *   uaf          a reader uses a shared pointer after unlocking while an updater swaps and
 *                frees it (fixed: it copies the value under the lock): heap-use-after-free
 *   lost-update  two threads read a counter under the lock and write it back under a second
 *                hold (fixed: one hold); LG_ASSERT(counter == 2): assertion
 *   lock-order   two threads take two mutexes in opposite orders (fixed: the same order):
 *                deadlock
 *   handoff      a producer and a consumer hand one item over a condition variable; no
 *                fixed/buggy difference (both clean): every schedule is correct
 *   flag         a thread sets a flag under a lock; the body reads it before joining the
 *                thread (fixed: after): assertion. Small enough for dfs to exhaust
 *
 * N is the iterations (random, pct; pct's depth is 3) or the dfs cap (0: until exhausted).
 * Prints one line `result: failed=F kind=K executions=E exhausted=X diverged=D schedule=S`
 * on stdout and exits with lg_check's return value (2 for -1 or bad usage). */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lifeguard/lifeguard.h>

static bool buggy;

/* ---- uaf ---------------------------------------------------------------------------- */

struct config {
  int value;
};
static pthread_mutex_t config_lock = PTHREAD_MUTEX_INITIALIZER;
static struct config *current;

static void *reader(void *arg) {
  int value;
  pthread_mutex_lock(&config_lock);
  struct config *c = current;
  if (buggy) {
    pthread_mutex_unlock(&config_lock);
    value = c->value; /* the updater may have freed it by now */
  } else {
    value = c->value;
    pthread_mutex_unlock(&config_lock);
  }
  LG_ASSERT(value == 1 || value == 2);
  return NULL;
}

static void *updater(void *arg) {
  struct config *next = malloc(sizeof *next);
  next->value = 2;
  pthread_mutex_lock(&config_lock);
  struct config *old = current;
  current = next;
  pthread_mutex_unlock(&config_lock);
  free(old);
  return NULL;
}

static void uaf(void *arg) {
  current = malloc(sizeof *current);
  current->value = 1;
  pthread_t r, u;
  pthread_create(&r, NULL, reader, NULL);
  pthread_create(&u, NULL, updater, NULL);
  pthread_join(r, NULL);
  pthread_join(u, NULL);
  free(current);
}

/* ---- lost-update -------------------------------------------------------------------- */

static pthread_mutex_t counter_lock = PTHREAD_MUTEX_INITIALIZER;
static int counter;

static void *increment(void *arg) {
  pthread_mutex_lock(&counter_lock);
  int seen = counter;
  if (buggy) {
    pthread_mutex_unlock(&counter_lock);
    pthread_mutex_lock(&counter_lock);
  }
  counter = seen + 1;
  pthread_mutex_unlock(&counter_lock);
  return NULL;
}

static void lost_update(void *arg) {
  counter = 0;
  pthread_t a, b;
  pthread_create(&a, NULL, increment, NULL);
  pthread_create(&b, NULL, increment, NULL);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  LG_ASSERT(counter == 2);
}

/* ---- lock-order --------------------------------------------------------------------- */

static pthread_mutex_t lock_a = PTHREAD_MUTEX_INITIALIZER, lock_b = PTHREAD_MUTEX_INITIALIZER;

static void *a_then_b(void *arg) {
  pthread_mutex_lock(&lock_a);
  pthread_mutex_lock(&lock_b);
  pthread_mutex_unlock(&lock_b);
  pthread_mutex_unlock(&lock_a);
  return NULL;
}

static void *b_then_a(void *arg) {
  pthread_mutex_t *first = buggy ? &lock_b : &lock_a, *second = buggy ? &lock_a : &lock_b;
  pthread_mutex_lock(first);
  pthread_mutex_lock(second);
  pthread_mutex_unlock(second);
  pthread_mutex_unlock(first);
  return NULL;
}

static void lock_order(void *arg) {
  pthread_t a, b;
  pthread_create(&a, NULL, a_then_b, NULL);
  pthread_create(&b, NULL, b_then_a, NULL);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
}

/* ---- handoff ------------------------------------------------------------------------ */

static pthread_mutex_t slot_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t slot_changed = PTHREAD_COND_INITIALIZER;
static int *slot;

static void *producer(void *arg) {
  int *item = malloc(sizeof *item);
  *item = 42;
  pthread_mutex_lock(&slot_lock);
  slot = item;
  pthread_cond_signal(&slot_changed);
  pthread_mutex_unlock(&slot_lock);
  return NULL;
}

static void *consumer(void *arg) {
  pthread_mutex_lock(&slot_lock);
  while (!slot) pthread_cond_wait(&slot_changed, &slot_lock);
  int *item = slot;
  slot = NULL;
  pthread_mutex_unlock(&slot_lock);
  LG_ASSERT(*item == 42);
  free(item);
  return NULL;
}

static void handoff(void *arg) {
  slot = NULL;
  pthread_t p, c;
  pthread_create(&c, NULL, consumer, NULL);
  pthread_create(&p, NULL, producer, NULL);
  pthread_join(p, NULL);
  pthread_join(c, NULL);
  LG_ASSERT(slot == NULL);
}

/* ---- flag --------------------------------------------------------------------------- */

static pthread_mutex_t flag_lock = PTHREAD_MUTEX_INITIALIZER;
static bool flag;

static void *set_flag(void *arg) {
  pthread_mutex_lock(&flag_lock);
  flag = true;
  pthread_mutex_unlock(&flag_lock);
  return NULL;
}

static void flag_body(void *arg) {
  flag = false;
  pthread_t t;
  pthread_create(&t, NULL, set_flag, NULL);
  if (!buggy) pthread_join(t, NULL);
  pthread_mutex_lock(&flag_lock);
  bool seen = flag;
  pthread_mutex_unlock(&flag_lock);
  LG_ASSERT(seen);
  if (buggy) pthread_join(t, NULL);
}

/* ---- main --------------------------------------------------------------------------- */

static const struct {
  const char *name;
  void (*fn)(void *);
} bodies[] = {{"uaf", uaf}, {"lost-update", lost_update}, {"lock-order", lock_order},
              {"handoff", handoff}, {"flag", flag_body}};

static int usage(void) {
  fprintf(stderr, "usage: check_bodies uaf|lost-update|lock-order|handoff|flag buggy|fixed "
                  "random|pct|dfs|replay [N|SCHEDULE]\n");
  return 2;
}

int main(int argc, char **argv) {
  if (argc < 4 || argc > 5) return usage();
  void (*body)(void *) = NULL;
  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
    if (strcmp(argv[1], bodies[i].name) == 0) body = bodies[i].fn;
  if (!body || (strcmp(argv[2], "buggy") && strcmp(argv[2], "fixed"))) return usage();
  buggy = strcmp(argv[2], "buggy") == 0;
  static lg_check_result res;
  lg_check_opts o = {.result = &res};
  if (strcmp(argv[3], "random") == 0) o.strategy = LG_CHECK_RANDOM;
  else if (strcmp(argv[3], "pct") == 0) o.strategy = LG_CHECK_PCT, o.depth = 3;
  else if (strcmp(argv[3], "dfs") == 0) o.strategy = LG_CHECK_DFS;
  else if (strcmp(argv[3], "replay") == 0) o.strategy = LG_CHECK_REPLAY;
  else return usage();
  if (o.strategy == LG_CHECK_REPLAY) {
    if (argc != 5) return usage();
    o.schedule = argv[4];
  } else if (argc == 5) {
    o.iterations = strtoull(argv[4], NULL, 10);
  }
  int r = lg_check(&o, body, NULL);
  printf("result: failed=%d kind=%s executions=%llu exhausted=%d diverged=%d schedule=%s\n",
         res.failed, res.kind[0] ? res.kind : "-", res.executions, res.exhausted, res.diverged,
         res.schedule[0] ? res.schedule : "-");
  return r < 0 ? 2 : r;
}

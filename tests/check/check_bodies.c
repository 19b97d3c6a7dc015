/* SPDX-License-Identifier: MIT */
/* Test bodies run through the check API, each in a buggy and a fixed variant, in plain
 * pthread code (tests/driver/test_check.py):
 *
 *   check_bodies [--sched] [--inject N] BODY buggy|fixed random|pct|dfs|replay [N|SCHEDULE]
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
 *   pipe-error   a worker opens a log descriptor, then a pipe; when the pipe fails, its
 *                error path closes the log descriptor but leaves its number behind (fixed:
 *                forgets it), and the cleanup closes it again: double-close, only when the
 *                pipe fails, which takes failure injection (--inject N: lg_check_opts'
 *                inject_max). With --sched the body runs on the lg_sched layer in process
 *                (LG_CHECK_SCHED) and the pipe's failure point is lg_inject; else plain
 *                pthreads in forked executions, where pipe() itself is the point
 *
 * N is the iterations (random, pct; pct's depth is 3) or the dfs cap (0: until exhausted).
 * Prints one line `result: failed=F kind=K executions=E exhausted=X diverged=D schedule=S`
 * on stdout and exits with lg_check's return value (2 for -1 or bad usage). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* ---- pipe-error --------------------------------------------------------------------- */

static bool sched_mode;

struct channel {
  int log;      /* a descriptor the channel writes its log to */
  int pipe[2];
};

/* pipe(), with lg_sched's injection point in front of it on the lg_sched layer (in forked
 * executions, pipe() is one itself). */
static int make_pipe(int fds[2]) {
  if (sched_mode) {
    uint32_t how = lg_inject(2);
    if (how) {
      errno = how == 1 ? EMFILE : ENFILE;
      return -1;
    }
  }
  return pipe(fds);
}

static int channel_open(struct channel *c) {
  c->log = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (c->log < 0) return -1;
  if (make_pipe(c->pipe) != 0) {
    close(c->log);
    if (!buggy) c->log = -1; /* buggy: the closed number stays behind */
    return -1;
  }
  return 0;
}

static void channel_close(struct channel *c) {
  if (c->log >= 0) close(c->log);
  if (c->pipe[0] >= 0) {
    close(c->pipe[0]);
    close(c->pipe[1]);
  }
}

static void channel_use(struct channel *c) {
  if (channel_open(c) == 0) {
    LG_ASSERT(write(c->pipe[1], "x", 1) == 1);
    char b;
    LG_ASSERT(read(c->pipe[0], &b, 1) == 1 && b == 'x');
  }
  channel_close(c);
}

static void *pipe_worker(void *arg) {
  channel_use(arg);
  return NULL;
}

static void pipe_sched_worker(void *arg) { channel_use(arg); }

static void pipe_error(void *arg) {
  struct channel a = {-1, {-1, -1}}, b = {-1, {-1, -1}};
  if (sched_mode) {
    lg_actor *w = lg_spawn(pipe_sched_worker, &a, "worker");
    channel_use(&b);
    lg_join(w);
  } else {
    pthread_t w;
    pthread_create(&w, NULL, pipe_worker, &a);
    channel_use(&b);
    pthread_join(w, NULL);
  }
}

/* ---- main --------------------------------------------------------------------------- */

static const struct {
  const char *name;
  void (*fn)(void *);
} bodies[] = {{"uaf", uaf}, {"lost-update", lost_update}, {"lock-order", lock_order},
              {"handoff", handoff}, {"flag", flag_body}, {"pipe-error", pipe_error}};

static int usage(void) {
  fprintf(stderr, "usage: check_bodies [--sched] [--inject N] "
                  "uaf|lost-update|lock-order|handoff|flag|pipe-error buggy|fixed "
                  "random|pct|dfs|replay [N|SCHEDULE]\n");
  return 2;
}

int main(int argc, char **argv) {
  unsigned inject_max = 0;
  while (argc > 1 && strncmp(argv[1], "--", 2) == 0) {
    if (strcmp(argv[1], "--sched") == 0) {
      sched_mode = true;
    } else if (strcmp(argv[1], "--inject") == 0 && argc > 2) {
      inject_max = (unsigned)strtoul(argv[2], NULL, 10);
      argv++, argc--;
    } else {
      return usage();
    }
    argv++, argc--;
  }
  if (argc < 4 || argc > 5) return usage();
  void (*body)(void *) = NULL;
  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
    if (strcmp(argv[1], bodies[i].name) == 0) body = bodies[i].fn;
  if (!body || (strcmp(argv[2], "buggy") && strcmp(argv[2], "fixed"))) return usage();
  buggy = strcmp(argv[2], "buggy") == 0;
  static lg_check_result res;
  lg_check_opts o = {.result = &res, .inject_max = inject_max,
                     .mode = sched_mode ? LG_CHECK_SCHED : LG_CHECK_FORK};
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

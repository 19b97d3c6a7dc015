/* SPDX-License-Identifier: MIT */
/* pthread_once bypassed by a fast path: a lazily loaded table is set up under pthread_once,
 * and the initialiser marks the table loaded before it fills it (it logs under the log lock
 * in between). A caller's fast path trusts the `loaded` flag and skips pthread_once, so it
 * can read the table while the first caller is still filling it. Clean twin: every caller
 * goes through pthread_once (which waits for the initialiser to finish). Found at: a
 * preemption at the log lock inside the initialiser. */
#include "kernel.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int loaded;
static int table[4];
static int log_lines;

static void load_table(void) {
  __atomic_store_n(&loaded, 1, __ATOMIC_RELEASE);
  pthread_mutex_lock(&log_lock);
  log_lines++;
  pthread_mutex_unlock(&log_lock);
  for (int i = 0; i < 4; i++) table[i] = i + 1;
}

static int lookup(int i) {
#ifdef LG_KERNEL_CLEAN
  pthread_once(&once, load_table);
#else
  if (!__atomic_load_n(&loaded, __ATOMIC_ACQUIRE)) pthread_once(&once, load_table);
#endif
  return table[i];
}

static void *user(void *arg) {
  long i = (long)arg;
  CHECK(lookup((int)i) == (int)i + 1);
  return NULL;
}

int main(void) {
  pthread_t a = spawn(user, (void *)1L), b = spawn(user, (void *)2L);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  CHECK(log_lines == 1);
  return 0;
}

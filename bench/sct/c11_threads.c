/* SPDX-License-Identifier: MIT */
/* C11 <threads.h>: thrd_create, mtx_lock, cnd_wait, call_once, thrd_join. A registry is set
 * up once (call_once); workers reserve a slot with check-then-act split over two critical
 * sections (mtx_lock/mtx_unlock), so two workers can take the last slot (assertion).
 * SCT_CLEAN: check and reserve in one section. glibc's thrd_* and mtx_* call its internal
 * pthread functions, not the exported ones. */
#include <assert.h>
#include <stdio.h>
#include <threads.h>

#define SLOTS 2
#define WORKERS 3

static once_flag once = ONCE_FLAG_INIT;
static mtx_t lock;
static cnd_t changed;
static int used, finished;

static void setup(void) {
  mtx_init(&lock, mtx_plain);
  cnd_init(&changed);
}

static int worker(void *arg) {
  (void)arg;
  call_once(&once, setup);
  mtx_lock(&lock);
  int room = used < SLOTS;
#ifndef SCT_CLEAN
  mtx_unlock(&lock); /* the check and the reservation in separate sections */
  mtx_lock(&lock);
#endif
  if (room) {
    used++;
    assert(used <= SLOTS);
  }
  finished++;
  cnd_broadcast(&changed);
  mtx_unlock(&lock);
  return room;
}

int main(void) {
  call_once(&once, setup);
  thrd_t t[WORKERS];
  for (int i = 0; i < WORKERS; i++) thrd_create(&t[i], worker, NULL);
  mtx_lock(&lock);
  while (finished < WORKERS) cnd_wait(&changed, &lock);
  mtx_unlock(&lock);
  int got = 0;
  for (int i = 0; i < WORKERS; i++) {
    int r;
    thrd_join(t[i], &r);
    got += r;
  }
  printf("%d reserved\n", got);
  return 0;
}

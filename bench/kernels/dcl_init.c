/* SPDX-License-Identifier: MIT */
/* Double-checked initialisation: the first caller publishes the new config object as soon as
 * it is allocated and fills it in afterwards (it registers the object under the registry lock
 * first), so a second thread whose unlocked check sees the pointer uses a half-built object.
 * Clean twin: the object is built in full, then published with a release store (read with an
 * acquire load). Found at: a preemption at the registry lock inside the initialisation. */
#include "kernel.h"

#define MAGIC 0x6c67636667L

typedef struct config {
  long magic;
  int workers;
} config;

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static config *instance;
static int registered;

static void register_object(void) {
  pthread_mutex_lock(&registry_lock);
  registered++;
  pthread_mutex_unlock(&registry_lock);
}

static config *get_config(void) {
  config *c = __atomic_load_n(&instance, __ATOMIC_ACQUIRE);
  if (c) return c;
  pthread_mutex_lock(&init_lock);
  c = instance;
  if (!c) {
    c = calloc(1, sizeof *c);
    CHECK(c != NULL);
#ifdef LG_KERNEL_CLEAN
    register_object();
    c->magic = MAGIC;
    c->workers = 4;
    __atomic_store_n(&instance, c, __ATOMIC_RELEASE);
#else
    __atomic_store_n(&instance, c, __ATOMIC_RELEASE);
    register_object();
    c->magic = MAGIC;
    c->workers = 4;
#endif
  }
  pthread_mutex_unlock(&init_lock);
  return c;
}

static void *user(void *arg) {
  (void)arg;
  config *c = get_config();
  CHECK(c->magic == MAGIC && c->workers == 4);
  return NULL;
}

int main(void) {
  pthread_t a = spawn(user, NULL), b = spawn(user, NULL);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  CHECK(registered == 1);
  free(instance);
  return 0;
}

/* SPDX-License-Identifier: MIT */
/* A pthread key destructor in the module (SSSD/sssd#6505): the module created a key with a
 * destructor in its own code and is unloaded while a thread holds a value; when that thread
 * exits, the destructor is called in unmapped code. The clean twin deletes the key first
 * (the SSSD fix). */
#include "module_common.h"
#include <pthread.h>
#include <semaphore.h>

static sem_t value_set, unloaded;
static void (*key_set)(void);

SEEDED_FN void *holder_thread(void *arg) {
  key_set();
  sem_post(&value_set);
  sem_wait(&unloaded);
  return arg; /* thread exit runs the key's destructor */
}

int main(int argc, char **argv) {
  int fault = seeded_mode(argc, argv);
  sem_init(&value_set, 0, 0);
  sem_init(&unloaded, 0, 0);
  void *h = load_module();
  int (*key_init)(void) = (int (*)(void))module_symbol(h, "mod_key_init");
  void (*key_fini)(void) = (void (*)(void))module_symbol(h, "mod_key_fini");
  key_set = (void (*)(void))module_symbol(h, "mod_key_set");
  key_init();
  pthread_t t;
  pthread_create(&t, NULL, holder_thread, NULL);
  sem_wait(&value_set);
  if (!fault) key_fini();
  unload_module(h);
  sem_post(&unloaded);
  pthread_join(t, NULL);
  puts("done");
  return 0;
}

/* SPDX-License-Identifier: MIT */
/* The module the module-unload programs load: code that outlives its unload in four ways. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MOD_FN __attribute__((visibility("default"), noinline))

/* call after dlclose */
MOD_FN int mod_answer(int x) { return x * 2 + 1; }

/* a thread inside the module */
static pthread_t worker;
static volatile int stop, started;

MOD_FN void *mod_thread_main(void *arg) {
  started = 1;
  while (!stop) usleep(20 * 1000); /* parks with a timeout, as the seed's workers did (5-20 ms) */
  return arg;
}

/* Starts the worker and waits until it runs in the module; *id gets it (the host joins it). */
MOD_FN int mod_start_thread(pthread_t *id) {
  stop = 0;
  if (pthread_create(&worker, NULL, mod_thread_main, NULL)) return -1;
  while (!started) usleep(100);
  *id = worker;
  return 0;
}

MOD_FN void mod_stop_thread(void) {
  stop = 1;
  pthread_join(worker, NULL);
}

/* a pthread key destructor */
static pthread_key_t key;

MOD_FN void mod_key_dtor(void *value) { free(value); }

MOD_FN int mod_key_init(void) { return pthread_key_create(&key, mod_key_dtor); }

MOD_FN void mod_key_set(void) { pthread_setspecific(key, malloc(16)); }

MOD_FN void mod_key_fini(void) { pthread_key_delete(key); }

/* a signal handler */
static struct sigaction previous;
static volatile sig_atomic_t signals;

MOD_FN void mod_on_signal(int sig) { signals += sig > 0; }

MOD_FN int mod_install_handler(int sig) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = mod_on_signal;
  sigemptyset(&sa.sa_mask);
  return sigaction(sig, &sa, &previous);
}

MOD_FN int mod_restore_handler(int sig) { return sigaction(sig, &previous, NULL); }

/* a destructor that reads memory the program handed it (locked_calls dlclose): it runs
 * inside dlclose, under the loader's lock */
static char *volatile read_at_unload;
static volatile char sink;

MOD_FN void mod_read_at_unload(char *p) { read_at_unload = p; }

__attribute__((destructor)) static void mod_fini(void) {
  if (read_at_unload) sink = read_at_unload[8];
}

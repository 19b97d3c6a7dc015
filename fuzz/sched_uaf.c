/* SPDX-License-Identifier: MIT */
/* A planted use-after-free race, found through schedule bytes.
 *
 * The main actor owns an object (refcount 1) and lends it to two workers. Each worker takes a
 * reference, uses the object, and drops its reference -- with a refcount update that is not
 * atomic: a load, a scheduling point, a store. When the two workers' increments interleave,
 * one is lost; the workers' drops then reach zero and free the object while the main actor
 * still holds it, and the main actor's next use is a real heap-use-after-free that ASan
 * reports. Every other ordering is clean.
 *
 * The input is the schedule: one byte per decision (lg_source_bytes). With
 * SCHED_UAF_VARIANT=fixed in the environment the updates are atomic read-modify-writes and
 * no ordering is wrong: the clean twin. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lifeguard/sched.h>

#include "class_input.h"

struct object {
  uint64_t refs;
  uint64_t data;
};

static int fixed;

static void ref(struct object *o) {
  if (fixed) {
    lg_atomic_fetch_add(&o->refs, 1);
    return;
  }
  uint64_t r = lg_atomic_load(&o->refs); /* read ... */
  lg_atomic_store(&o->refs, r + 1);      /* ... then write: not one atomic step */
}

static void unref(struct object *o) {
  uint64_t r;
  if (fixed) {
    r = lg_atomic_fetch_sub(&o->refs, 1);
  } else {
    r = lg_atomic_load(&o->refs);
    lg_atomic_store(&o->refs, r - 1);
  }
  if (r - 1 == 0) free(o);
}

static void worker(void *p) {
  struct object *o = p;
  ref(o);
  o->data++;
  unref(o);
}

static void owner(void *p) {
  struct object *o = calloc(1, sizeof *o);
  o->refs = 1;
  lg_actor *a = lg_spawn(worker, o, "worker-a");
  lg_actor *b = lg_spawn(worker, o, "worker-b");
  lg_join(a);
  lg_join(b);
  o->data++; /* the owner still holds its reference */
  unref(o);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  const char *v = getenv("SCHED_UAF_VARIANT");
  fixed = v && strcmp(v, "fixed") == 0;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lg_fuzz_run_bytes(data, size, (lg_root){owner, NULL, "owner"}, NULL);
  return 0;
}

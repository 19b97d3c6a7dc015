/* SPDX-License-Identifier: MIT */
/* ABA on a lock-free stack: pop reads the top node A and its successor B, then swings the top
 * from A to B with a compare-and-swap. If meanwhile another thread pops A, pops B (and frees
 * retires it) and pushes A back, the top is A again: the CAS succeeds and installs the retired
 * B as the top, so the stack ends with one node too many. Clean twin: the top is a (pointer, version) pair
 * swapped with a double-width CAS, so the recycled A has a new version and the stale CAS
 * fails. The window is between plain atomic loads and the CAS, with no pthread call in it:
 * explore finds it only with memory-access scheduling points (`lifeguard cc`). */
#include "kernel.h"

#include <stdint.h>

typedef struct node {
  struct node *next;
  long value;
} node;

typedef struct top {
  node *ptr;
  uintptr_t version;
} __attribute__((aligned(16))) top;

static top stack;

static void push(node *n) {
  top old = stack, want;
  do {
    n->next = old.ptr;
    want = (top){n, old.version + 1};
  } while (!__atomic_compare_exchange(&stack, &old, &want, 0, __ATOMIC_ACQ_REL,
                                      __ATOMIC_ACQUIRE));
}

static node *pop(void) {
#ifdef LG_KERNEL_CLEAN
  top old = stack, want;
  do {
    if (!old.ptr) return NULL;
    want = (top){old.ptr->next, old.version + 1};
  } while (!__atomic_compare_exchange(&stack, &old, &want, 0, __ATOMIC_ACQ_REL,
                                      __ATOMIC_ACQUIRE));
  return old.ptr;
#else
  node *old = __atomic_load_n(&stack.ptr, __ATOMIC_ACQUIRE);
  for (;;) {
    if (!old) return NULL;
    node *next = old->next;
    if (__atomic_compare_exchange_n(&stack.ptr, &old, next, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE))
      return old;
  }
#endif
}

/* Popped nodes are retired, not freed, until the threads are joined (no reclamation race). */
static node *retired[3];

static void *recycler(void *arg) {
  (void)arg;
  node *a = pop();
  node *b = pop();
  retired[1] = b;
  if (a) push(a);
  return NULL;
}

static void *popper(void *arg) {
  (void)arg;
  retired[0] = pop();
  return NULL;
}

int main(void) {
  for (long v = 3; v >= 1; v--) {
    node *n = malloc(sizeof *n);
    CHECK(n != NULL);
    n->value = v;
    push(n);
  }
  pthread_t p = spawn(popper, NULL), r = spawn(recycler, NULL);
  pthread_join(p, NULL);
  pthread_join(r, NULL);
  long seen = 0;
  for (node *n; (n = pop()) != NULL; free(n)) {
    CHECK(n != retired[0] && n != retired[1]);
    seen++;
  }
  CHECK(seen == 1);
  free(retired[0]);
  free(retired[1]);
  return 0;
}

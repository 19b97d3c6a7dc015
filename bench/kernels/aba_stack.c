/* SPDX-License-Identifier: MIT */
/* ABA on a lock-free stack: pop reads the top node A and its successor B, then swings the top
 * from A to B with a compare-and-swap. If meanwhile another thread pops A, pops B (and
 * retires it) and pushes A back, the top is A again: the CAS succeeds and installs the
 * retired B as the top, so the stack ends with one node too many. Clean twin: the top word
 * carries a version that every successful CAS bumps, so the recycled A has a new version and
 * the stale CAS fails. The window is between plain atomic loads and the CAS, with no pthread
 * call in it: explore finds it only with memory-access scheduling points (`lifeguard cc`). */
#include "kernel.h"

#include <stdint.h>

typedef struct node {
  struct node *next;
  long value;
} node;

/* The top as one 64-bit word: the node's slot in `nodes` plus 1 (0: empty) in the low 16
 * bits, a version in the rest. The bug: the version never changes, so the word names only
 * the node, and a node that comes back to the top looks as if nothing happened. */
static node *nodes[3];
static uint64_t stack;

#ifdef LG_KERNEL_CLEAN
#define BUMP (1ull << 16)
#else
#define BUMP 0ull
#endif

static uint64_t slot_of(node *n) {
  for (uint64_t i = 0; i < 3; i++)
    if (nodes[i] == n) return i + 1;
  return 0;
}

static node *node_at(uint64_t word) {
  uint64_t slot = word & 0xffff;
  return slot ? nodes[slot - 1] : NULL;
}

static void push(node *n) {
  uint64_t old = __atomic_load_n(&stack, __ATOMIC_ACQUIRE), want;
  do {
    n->next = node_at(old);
    want = ((old & ~0xffffull) + BUMP) | slot_of(n);
  } while (!__atomic_compare_exchange_n(&stack, &old, want, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE));
}

static node *pop(void) {
  uint64_t old = __atomic_load_n(&stack, __ATOMIC_ACQUIRE), want;
  node *top;
  do {
    top = node_at(old);
    if (!top) return NULL;
    want = ((old & ~0xffffull) + BUMP) | slot_of(top->next);
  } while (!__atomic_compare_exchange_n(&stack, &old, want, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE));
  return top;
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
    nodes[v - 1] = n;
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

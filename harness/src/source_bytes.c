/* SPDX-License-Identifier: MIT */
/* The fuzz-bytes source: one byte per decision; no preemption once the bytes run out. */
#include "source_internal.h"

#include <stdlib.h>

typedef struct bytes_source {
  lg_source base;
  const uint8_t *data;
  size_t len, pos;
  bool started;
} bytes_source;

/* True for the one execution, false afterwards. */
static bool bytes_begin(lg_source *s) {
  bytes_source *b = (bytes_source *)s;
  if (b->started) return false;
  b->started = true;
  b->pos = 0;
  return true;
}

/* Takes the next byte modulo n, or the no-preemption default when they are used up. */
static uint32_t bytes_choose(lg_source *s, const lg_choice *c) {
  bytes_source *b = (bytes_source *)s;
  if (b->pos < b->len) return b->data[b->pos++] % c->n;
  return lg__no_preemption(c);
}

static void bytes_end(lg_source *s, lg_verdict v) {}

static void bytes_destroy(lg_source *s) { free(s); }

/* A source over `len` bytes at `data` (not copied). NULL when out of memory. */
lg_source *lg_source_bytes(const uint8_t *data, size_t len) {
  bytes_source *b = calloc(1, sizeof *b);
  if (!b) return NULL;
  b->base = (lg_source){"bytes", bytes_begin, bytes_choose, bytes_end, bytes_destroy};
  b->data = data;
  b->len = data ? len : 0;
  return &b->base;
}

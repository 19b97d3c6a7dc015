/* SPDX-License-Identifier: MIT */
/* What every decision source shares: freeing. */
#include <lifeguard/source.h>

/* Frees any source (NULL is a no-op). */
void lg_source_free(lg_source *s) {
  if (s) s->destroy(s);
}

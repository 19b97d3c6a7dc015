/* SPDX-License-Identifier: MIT */
/* The cost of a descriptor call under `lifeguard explore`: one thread writes and reads one
 * byte through a pipe N times; prints ns per call. Run free, under the preload library, and
 * with explore=1 (docs/BENCHMARKS.md, "explore"). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 200000;
  int p[2];
  if (pipe(p)) return 1;
  char c = 'x';
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int i = 0; i < n; i++) {
    if (write(p[1], &c, 1) != 1 || read(p[0], &c, 1) != 1) return 1;
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  double ns = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / (2.0 * n);
  printf("%.0f ns per call\n", ns);
  return 0;
}

/* SPDX-License-Identifier: MIT */
/* Bad pointers handed to interposed calls while locks are held: the report must come out
 * without waiting for a lock the reporting thread holds, and without allocating.
 *   locked_calls fault|clean free|realloc|fclose|dlclose
 * free, realloc  a block released a second time (double-free) from a fopencookie close
 *                callback: glibc's fclose runs it holding the stream's lock, under
 *                lifeguard's interposed fclose;
 * fclose         a stream closed a second time: its FILE was freed by the first fclose, so
 *                the interposed fclose faults reading it (heap-use-after-free);
 * dlclose        a module's destructor, run by dlclose under the loader's lock, reads a
 *                block the program freed (heap-use-after-free).
 * The clean twin makes the same calls with good pointers. */
#define _GNU_SOURCE
#include "module_common.h"

static char *block;
static const char *how;
static int fault;

SEEDED_FN char *make_block(size_t n) {
  char *p = malloc(n);
  memset(p, 'A', n);
  return p;
}

SEEDED_FN void release_block(char *p) { free(p); }

SEEDED_FN void release_again(char *p) {
  SEEDED_OPAQUE(p);
  if (strcmp(how, "free") == 0) {
    free(p);
  } else {
    char *q = realloc(p, 200);
    SEEDED_OPAQUE(q);
    if (q) free(q);
  }
}

/* Runs inside fclose, with the stream's lock held. */
static int cookie_close(void *c) {
  (void)c;
  if (fault) {
    release_block(block);
    release_again(block); /* the second release of the same block */
  } else {
    release_again(block); /* its one release */
  }
  return 0;
}

static ssize_t cookie_write(void *c, const char *b, size_t n) {
  (void)c;
  (void)b;
  return (ssize_t)n;
}

SEEDED_FN int close_stream(FILE *fp) { return fclose(fp); }

int main(int argc, char **argv) {
  fault = seeded_mode(argc, argv);
  how = argc > 2 ? argv[2] : "";
  if (!strcmp(how, "free") || !strcmp(how, "realloc")) {
    block = make_block(100);
    cookie_io_functions_t io = {.write = cookie_write, .close = cookie_close};
    FILE *fp = fopencookie(NULL, "w", io);
    if (!fp) return 1;
    fputs("locked\n", fp);
    close_stream(fp);
  } else if (!strcmp(how, "fclose")) {
    FILE *fp = fopen("/dev/null", "r");
    if (!fp) return 1;
    close_stream(fp);
    if (fault) close_stream(fp); /* the FILE is freed memory now */
  } else if (!strcmp(how, "dlclose")) {
    block = make_block(100);
    void *h = load_module();
    ((void (*)(char *))module_symbol(h, "mod_read_at_unload"))(block);
    if (fault) release_block(block);
    unload_module(h);
    if (!fault) release_block(block);
  } else {
    fprintf(stderr, "usage: %s fault|clean free|realloc|fclose|dlclose\n", argv[0]);
    return 2;
  }
  printf("%s: done\n", argv[0]);
  return 0;
}

/* Replays inputs through a fuzz target without libFuzzer, so that gcc builds (and any build)
 * can run a corpus: each argument is a file or a directory (walked recursively, in name
 * order, skipping dot files). Prints one line per input; a failing input crashes the process
 * after its line was started, so the last line names it.
 *
 * Built with clang's source-based coverage (the coverage preset, make coverage), the profile
 * runtime writes its counters at exit. An input that crashes the process (a regression replayed
 * with its fault switch) never gets there, so the crash hook writes them first. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lifeguard/sched.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

static unsigned long inputs;

/* The profile runtime's writer: present only in a coverage build (weak, NULL elsewhere). */
extern int __llvm_profile_write_file(void) __attribute__((weak));

static void write_profile(const char *asan_report) {
  (void)asan_report;
  __llvm_profile_write_file();
}

/* Reads a whole file. Returns NULL (with errno) on failure. */
static uint8_t *read_file(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, len = 0;
  uint8_t *buf = malloc(cap);
  while (buf) {
    len += fread(buf + len, 1, cap - len, f);
    if (len < cap) break;
    uint8_t *bigger = realloc(buf, cap *= 2);
    if (!bigger) free(buf);
    buf = bigger;
  }
  int failed = ferror(f);
  fclose(f);
  if (buf && failed) {
    free(buf);
    errno = EIO;
    return NULL;
  }
  *size = len;
  return buf;
}

static int run_path(const char *path);

static int run_dir(const char *path) {
  struct dirent **names;
  int n = scandir(path, &names, NULL, alphasort);
  if (n < 0) {
    fprintf(stderr, "%s: %s\n", path, strerror(errno));
    return 1;
  }
  int rc = 0;
  for (int i = 0; i < n; i++) {
    char *child;
    if (names[i]->d_name[0] == '.') {
      /* hidden files, "." and ".." */
    } else if (asprintf(&child, "%s/%s", path, names[i]->d_name) < 0) {
      rc = 1;
    } else {
      rc |= run_path(child);
      free(child);
    }
    free(names[i]);
  }
  free(names);
  return rc;
}

static int run_path(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) {
    fprintf(stderr, "%s: %s\n", path, strerror(errno));
    return 1;
  }
  if (S_ISDIR(st.st_mode)) return run_dir(path);
  size_t size = 0;
  uint8_t *data = read_file(path, &size);
  if (!data) {
    fprintf(stderr, "%s: %s\n", path, strerror(errno));
    return 1;
  }
  printf("%s (%zu bytes): ", path, size);
  fflush(stdout);
  LLVMFuzzerTestOneInput(data, size);
  printf("ok\n");
  free(data);
  inputs++;
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s FILE_OR_DIR...\n", argv[0]);
    return 2;
  }
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  if (__llvm_profile_write_file) lg_sched_set_crash_hook(write_profile);
  int rc = 0;
  for (int i = 1; i < argc; i++) rc |= run_path(argv[i]);
  printf("replayed %lu inputs%s\n", inputs, rc ? " (some could not be read)" : "");
  return rc;
}

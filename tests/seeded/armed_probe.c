/* The armed probe: evidence that a clean run was watched. A clean twin's silence means
 * nothing if its detector was off (an option, a start-up path that skipped it, a build
 * without it), so the tests LD_PRELOAD this module after the detectors (after
 * liblifeguard-preload.so, or alone into a program that links the harness) and it asks them,
 * at exit, whether they were armed:
 *   pageheap  active, and a block this probe allocates at a new call site is guarded
 *             (a site's first allocation always is);
 *   fdcheck   a descriptor this probe opens is tracked as open;
 *   modcheck  how many dlopens it saw (a program that loads a module must show one).
 * It finds the detectors by name (dlsym), so it links none of them, and appends one JSON line
 * per process to $LIFEGUARD_ARMED_LOG (a driver process in between, such as `lifeguard
 * verify`'s Python, inherits the preload too: its line says no detector is present). Its
 * destructor runs before those of the libraries preloaded ahead of it. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lifeguard/fdcheck.h>
#include <lifeguard/modcheck.h>
#include <lifeguard/oracle.h>
#include <lifeguard/pageheap.h>

typedef lg_pageheap_stats (*pageheap_stats_fn)(void);
typedef bool (*guarded_fn)(const void *);
typedef lg_fd_state (*fd_state_fn)(int);
typedef void (*modcheck_stats_fn)(lg_modcheck_stats *);
typedef void (*oracle_stats_fn)(lg_oracle_stats *);
typedef bool (*oracle_enabled_fn)(void);

static void *find(const char *name) { return dlsym(RTLD_DEFAULT, name); }

__attribute__((noinline)) static bool probe_block_guarded(guarded_fn guarded) {
  char *p = malloc(24);
  if (!p) return false;
  memset(p, 0, 24);
  bool g = guarded && guarded(p);
  free(p);
  return g;
}

__attribute__((destructor)) static void armed_probe_report(void) {
  const char *path = getenv("LIFEGUARD_ARMED_LOG");
  if (!path || !*path) return;
  pageheap_stats_fn ph = (pageheap_stats_fn)find("lg_pageheap_stats_get");
  fd_state_fn fd_state = (fd_state_fn)find("lg_fdcheck_state");
  modcheck_stats_fn mc = (modcheck_stats_fn)find("lg_modcheck_stats_get");
  lg_pageheap_stats heap = {0};
  if (ph) heap = ph();
  bool guarded = probe_block_guarded((guarded_fn)find("lg_pageheap_guarded"));
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  bool tracked = fd >= 0 && fd_state && fd_state(fd) == LG_FD_OPEN;
  if (fd >= 0) close(fd);
  lg_modcheck_stats mod = {0};
  if (mc) mc(&mod);
  oracle_stats_fn os = (oracle_stats_fn)find("lg_oracle_stats_get");
  oracle_enabled_fn oe = (oracle_enabled_fn)find("lg_oracle_enabled");
  lg_oracle_stats ost = {0};
  if (os) os(&ost);
  unsigned long long checks = ost.handles + ost.calls + ost.deliveries + ost.refs + ost.releases;
  char exe[256];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  exe[n > 0 ? n : 0] = 0;
  for (char *c = exe; *c; c++)
    if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20) *c = '?';
  FILE *f = fopen(path, "a");
  if (!f) return;
  fprintf(f,
          "{\"pid\": %d, \"exe\": \"%s\", \"pageheap\": {\"present\": %s, \"active\": %s, \"guarded\": %s, \"allocs\": %llu}, "
          "\"fdcheck\": {\"present\": %s, \"tracked\": %s}, "
          "\"modcheck\": {\"present\": %s, \"loads\": %lu, \"unloads\": %lu}, "
          "\"oracle\": {\"present\": %s, \"enabled\": %s, \"checks\": %llu}}\n",
          (int)getpid(), exe, ph ? "true" : "false", heap.active ? "true" : "false", guarded ? "true" : "false",
          (unsigned long long)heap.allocs, fd_state ? "true" : "false",
          tracked ? "true" : "false", mc ? "true" : "false", mod.loads, mod.unloads,
          os ? "true" : "false", oe && oe() ? "true" : "false", checks);
  fclose(f);
}

/* Internal helpers shared by the harness's detectors. Not part of the public API. */
#ifndef LIFEGUARD_INTERNAL_H
#define LIFEGUARD_INTERNAL_H

#include <dlfcn.h>
#include <stdbool.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#define LG_VERSION "0.1.0"
#define LG_HIDDEN __attribute__((visibility("hidden")))

/* Options from LIFEGUARD_OPTIONS (key=value pairs separated by ':' like ASAN_OPTIONS). */
typedef struct lg__options {
  char log_json[512];     /* log_json=PATH: append one JSON object per report ("" = off) */
  bool halt_on_error;     /* halt_on_error=1: abort after the first report (default) */
  bool symbolize;         /* symbolize=1: run llvm-symbolizer on report stacks */
  char symbolizer[512];   /* symbolizer=PATH: explicit llvm-symbolizer binary */
  bool fast_unwind;       /* fast_unwind=1: frame pointers where the walk ends at a thread's
                             root, else the unwind tables (0: always the tables) */
  int stack_depth;        /* stack_depth=N: frames kept per stack (1..64) */
  bool fdcheck;           /* fdcheck=1: descriptor ownership checks */
  int fd_quarantine;      /* fd_quarantine=N: closed numbers parked before reuse (0 = off) */
  bool tag_stdio;         /* tag_stdio=1: FILE* and DIR* own their descriptor, like fdsan */
  bool check_forked_children; /* check_forked_children=0: a forked child is not checked
                                 until it execs (it often closes everything first) */
  bool modcheck;          /* modcheck=1: module load/unload checks */
  bool modcheck_census;   /* modcheck_census=1: at each unload, report what still uses it */
  int modcheck_placeholders; /* modcheck_placeholders=N: unloaded ranges kept inaccessible */
  bool pageheap;          /* pageheap=1: guard-page allocator (where it is compiled in) */
  int pageheap_quarantine_mb; /* freed blocks kept inaccessible, in MiB of address space */
  int pageheap_align;     /* pageheap_align=N: blocks end N-aligned before the guard (1:
                             exactly at it, catching 1-byte overruns; malloc promises 16) */
  int pageheap_sample;    /* pageheap_sample=N: guard with probability 1/N (1: every one
                             while the mapping budget is far; see pageheap.c) */
  unsigned long long pageheap_seed; /* pageheap_seed=N: the sampling seed (0: drawn at start) */
  bool pageheap_sites;    /* pageheap_sites=1: a site's first allocations are guarded, then
                             fewer the more it allocates (0: every allocation alike) */
  bool handle_segv;       /* handle_segv=1: lifeguard owns SIGSEGV/SIGBUS (signal.c); the
                             program's handler runs only for faults no detector explains */
} lg__options;

/* The process's options, parsed once on first use. Exits with status 2 and a one-line
 * message on a malformed LIFEGUARD_OPTIONS. */
LG_HIDDEN const lg__options *lg__opts(void);

/* False while the C library is still starting (constructors not run yet): interceptors
 * called then (AddressSanitizer's start-up creates a pthread key) must only pass through;
 * a stack capture there can dlopen the unwinder before libc has its environment. */
LG_HIDDEN bool lg__started(void);

/* Per-thread reentrancy guard: while set, interceptors pass straight through (the harness's
 * own work, e.g. symbolizing or reading /proc, must not be checked). */
extern __thread int lg__busy __attribute__((tls_model("initial-exec")));

/* Raw system calls for the harness's own descriptors: never intercepted, never tracked. */
LG_HIDDEN int lg__sys_close(int fd);
LG_HIDDEN ssize_t lg__sys_write(int fd, const void *buf, size_t n);
LG_HIDDEN ssize_t lg__sys_read(int fd, void *buf, size_t n);
LG_HIDDEN int lg__sys_open(const char *path, int flags, int mode);
LG_HIDDEN void lg__write_all(int fd, const char *buf, size_t n);
LG_HIDDEN pid_t lg__gettid(void);

/* Looks up the next definition of a libc function; under ASan prefers its interceptor so
 * ASan keeps checking the buffers. Never returns NULL (aborts with a message instead). */
/* Hands signal `sig` to `prev`, the handler that was installed before one of ours. Returns
 * false when `prev` is the default action or SIG_IGN: the caller then takes the default its
 * own way. */
LG_HIDDEN bool lg__signal_chain(const struct sigaction *prev, int sig, siginfo_t *si, void *uc);
LG_HIDDEN void *lg__real(const char *name);

/* thread.c: the running thread's stack bounds from /proc/self/maps (no lock, no malloc),
 * handed to lg__stack_set_bounds. */
LG_HIDDEN void lg__thread_find_bounds(void);

/* Stacks (stack.c): store given pcs in the depot; the running thread's stack above the frame
 * `fp` (its return address first), as lg_stack_capture takes it; the running thread's stack
 * at the frame that signal context `uc` (the handler's own third argument, not a copy)
 * interrupted: the interrupted pc + 1 first, then return addresses, from the unwind tables
 * (async-signal-safe; the last frame may be a return address into unreadable code, such as an
 * unloaded module). */
#include <lifeguard/stack.h>
LG_HIDDEN lg_stack_id lg__stack_put(const uintptr_t *pcs, size_t n);
LG_HIDDEN size_t lg__stack_walk(uintptr_t fp, uintptr_t *pcs, size_t max);
/* lg_symbolize, also saying how many frames (inlined ones included) each pc gave in `counts`
 * (n entries): a report symbolizes all its stacks in one symbolizer run. It allocates
 * nothing and takes no lock a faulting thread could hold: its memory is `scratch`, of at
 * least lg__symbolize_scratch_size(n) bytes. */
LG_HIDDEN size_t lg__symbolize_each(const uintptr_t *pcs, size_t n, lg_frame *out, size_t max,
                                    size_t *counts, void *scratch, size_t scratch_cap);
LG_HIDDEN size_t lg__symbolize_scratch_size(size_t n);
/* The module holding `pc` (loaded, or unloaded as modcheck saw it): its path and load bias.
 * Lock-free and allocation-free (_dl_find_object): for a report's first, raw lines. */
LG_HIDDEN bool lg__module_of(uintptr_t pc, const char **path, uintptr_t *bias);

/* report.c: true while this thread writes a report (the dispatcher ends a fault taken then
 * with one line instead of reporting it inside the report). */
LG_HIDDEN bool lg__report_active(void);

/* report.c: the dispatcher counts a kernel fault while its classifiers run (+1 first thing,
 * -1 when none claimed it), so that an exit in the meantime waits for its verdict. */
LG_HIDDEN void lg__report_fault_classifying(int delta);

/* report.c: under AddressSanitizer, report.c takes ASan's report callback (it writes ASan's
 * reports to log_json) and calls `fn` after it with the same text. Returns false when ASan
 * is not in the process. */
LG_HIDDEN bool lg__report_set_asan_text_hook(void (*fn)(const char *));
/* Frame pointers only, never the unwind tables (which may allocate): for the allocator's own
 * per-call decisions. */
LG_HIDDEN size_t lg__stack_walk_fp(uintptr_t fp, uintptr_t *pcs, size_t max);
LG_HIDDEN size_t lg__stack_signal(const void *uc, uintptr_t *pcs, size_t max);

/* modcheck.c: if `pc` lies in a module modcheck saw unloaded, gives its path and load bias,
 * and (when `fn` is not NULL) the name of the function there from the module's file. */
LG_HIDDEN bool lg__modcheck_find(uintptr_t pc, const char **path, uintptr_t *bias, char *fn,
                                 size_t fncap);

/* pageheap.c: classifies a fault at `addr` (SIGSEGV/SIGBUS context `uc`); reports and does
 * not return when the address is a page-heap guard, freed or quarantined block. */
LG_HIDDEN void lg__pageheap_fault(uintptr_t addr, void *uc);

/* signal.c: installs lifeguard's one SIGSEGV/SIGBUS dispatcher (once; later calls return at
 * once). Detectors call it when they first need their faults explained; the interposed
 * sigaction/signal call it when the program sets a handler (handle_segv=1). */
LG_HIDDEN void lg__signal_install(void);

/* modcheck.c: classifies a SIGSEGV/SIGBUS fault for the dispatcher: waits while the census
 * of a module being unloaded at the address runs, and reports (does not return) a fault on
 * an unloaded module's placeholder. Returns when the fault is not modcheck's. */
LG_HIDDEN void lg__modcheck_fault(int sig, siginfo_t *si, void *uc);

/* modcheck.c: the signal the census probes threads with; the dispatcher blocks it. */
LG_HIDDEN int lg__modcheck_probe_signal(void);

/* sched.c: a SIGSEGV/SIGBUS nobody handled is about to end the process: writes the running
 * execution's schedule and calls the crash hook (when lg_sched_set_crash_hook set one up).
 * Async-signal-safe. */
LG_HIDDEN void lg__sched_fault_dying(int sig);

/* The real `name`, looked up when the library starts (constructor 103): a first lookup made
 * later, by a thread that a module's constructor started and waits for, would wait for the
 * loader's lock that the constructor's dlopen holds. A lookup still missing at a call (an
 * interceptor called before the constructors ran) is made then. */
#define LG_REAL(ret, name, params)                                              \
  static ret(*real_##name) params;                                              \
  static inline ret(*lg__get_##name(void)) params {                            \
    if (__builtin_expect(real_##name == NULL, 0))                               \
      real_##name = (ret(*) params)lg__real(#name);                             \
    return real_##name;                                                         \
  }                                                                             \
  __attribute__((constructor(103))) static void lg__resolve_##name(void) {     \
    if (dlsym(RTLD_NEXT, #name)) (void)lg__get_##name();                        \
  }

#endif

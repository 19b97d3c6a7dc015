# SPDX-License-Identifier: MIT
"""`lifeguard verify`: unmodified programs under liblifeguard-preload.so.

Both ways: small programs compiled here with a real fault (use after free, double free, double
close, overflow) are reported with the right kind and exit 1, their clean twins exit 0 (or with
their own status); real programs nobody here wrote (python3, git, cmake, gcc, tar, sort) run
clean. Needs the plain tree (the preload library exists only there); skipped when this session
does not run the plain preset.
"""

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from conftest import REPO_ROOT

from lifeguard_cli.kinds import DETECTOR_OF

sys.path.insert(0, str(REPO_ROOT / "tests" / "seeded"))
import armed  # noqa: E402  (the armed probe's records)



# Each fault program with its kind, and the same program with the fault removed.
PROGRAMS = {
    "uaf": ("heap-use-after-free", r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
  char *p = strdup("a string from libc's own malloc call");
  if (argc > 1) { free(p); return p[3] == 'x'; }   /* read after free */
  int r = p[3] == 'x';
  free(p);
  return r;
}"""),
    "double-free": ("double-free", r"""
#include <stdlib.h>
int main(int argc, char **argv) {
  char *p = malloc(24);
  free(p);
  if (argc > 1) free(p);
  return 0;
}"""),
    "overflow": ("heap-buffer-overflow", r"""
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
  char *p = malloc(32);
  memset(p, 1, argc > 1 ? 64 : 32);   /* past the end, into the guard page */
  free(p);
  return 0;
}"""),
    "double-close": ("double-close", r"""
#include <fcntl.h>
#include <unistd.h>
int main(int argc, char **argv) {
  int fd = open("/dev/null", O_RDONLY);
  close(fd);
  if (argc > 1) close(fd);
  return 0;
}"""),
    "fclose-close": ("double-close", r"""
#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv) {
  FILE *f = fopen("/dev/null", "r");
  int fd = fileno(f);
  fclose(f);
  if (argc > 1) close(fd);
  return 0;
}"""),
}

# fork, exec, threads, signals, popen, stdout redirected with dup2 then fclose(stdout):
# everything must keep working and stay clean; exits 3 so the status is seen to pass through.
WORKOUT = r"""
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
static volatile sig_atomic_t hits;
static void on_usr1(int s) { (void)s; hits++; }
static void *worker(void *a) {
  for (int i = 0; i < 2000; i++) {
    char *p = malloc(1 + i % 300); memset(p, i, 1 + i % 300);
    p = realloc(p, 2 + i % 500); free(p);
  }
  free(malloc(0));
  return a;
}
int main(int argc, char **argv) {
  signal(SIGUSR1, on_usr1);
  pthread_t t[6];
  for (int i = 0; i < 6; i++) pthread_create(&t[i], NULL, worker, NULL);
  for (int i = 0; i < 100; i++) kill(getpid(), SIGUSR1);
  for (int i = 0; i < 6; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < 10; i++) {
    pid_t pid = fork();
    if (pid == 0) {
      free(malloc(100));
      if (i % 2) execl("/bin/true", "true", (char *)0);
      _exit(0);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) return 1;
  }
  char line[16] = "";
  FILE *f = popen("echo hi", "r");
  if (!f || !fgets(line, sizeof line, f) || pclose(f) != 0) return 1;
  int out = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
  dup2(out, 1);
  close(out);
  printf("hits=%d %s", (int)hits, line);
  return fclose(stdout) == 0 ? 3 : 1;
}"""

# Calls that libc makes while it holds a lock of its own, each with the thread's first
# allocations and descriptor calls inside it: pthread_getattr_np (the thread descriptor's
# lock; it allocates, and for the main thread fopens /proc/self/maps), dlopen (the loader's
# lock), fopen/fclose (stdio's list lock), a fork child, and threads with small stacks (the
# preload library's static TLS comes out of every thread's stack). Each must finish, clean.
ENTRY_PATHS = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
static void getattr(void) {
  pthread_attr_t a;
  void *addr;
  size_t size;
  if (pthread_getattr_np(pthread_self(), &a) || pthread_attr_getstack(&a, &addr, &size)) exit(4);
  pthread_attr_destroy(&a);
}
static void *in_thread(void *arg) {
  if (!strcmp(arg, "getattr")) getattr();           /* before anything else of the thread's */
  free(malloc(64));
  return arg;
}
static int thread_with_stack(size_t size, const char *what) {
  pthread_attr_t a;
  pthread_t t;
  pthread_attr_init(&a);
  if (size) pthread_attr_setstacksize(&a, size);
  int err = pthread_create(&t, &a, in_thread, (void *)what);
  pthread_attr_destroy(&a);
  if (err) { fprintf(stderr, "pthread_create: %s\n", strerror(err)); return 5; }
  return pthread_join(t, NULL) ? 6 : 0;
}
int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "";
  int rc = 0;
  if (!strcmp(path, "getattr-main")) getattr();
  else if (!strcmp(path, "getattr-thread")) rc = thread_with_stack(0, "getattr");
  else if (!strcmp(path, "stack-32k")) rc = thread_with_stack(32 * 1024, "getattr");
  else if (!strcmp(path, "stack-min")) rc = thread_with_stack(PTHREAD_STACK_MIN, "plain");
  else if (!strcmp(path, "dlopen")) {
    void *h = dlopen("libm.so.6", RTLD_NOW);
    if (!h || dlclose(h)) return 7;
  } else if (!strcmp(path, "stdio")) {
    FILE *f = fopen("/proc/self/maps", "r");
    char line[256];
    if (!f || !fgets(line, sizeof line, f) || fclose(f)) return 8;
  } else if (!strcmp(path, "fork")) {
    pid_t pid = fork();
    if (pid == 0) { getattr(); free(malloc(10)); _exit(0); }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) return 9;
  } else return 2;
  if (rc == 0) puts(path);
  return rc;
}"""


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """The fault programs and the workout, compiled with gcc (-O0 -g, frame pointers)."""
    if not shutil.which("gcc"):
        pytest.skip("gcc is not installed")
    d = tmp_path_factory.mktemp("verify-programs")
    out = {}
    for name, source in [*((n, s) for n, (_, s) in PROGRAMS.items()), ("workout", WORKOUT),
                         ("entry-paths", ENTRY_PATHS)]:
        (d / f"{name}.c").write_text(source)
        subprocess.run(["gcc", "-O0", "-g", "-fno-omit-frame-pointer", "-pthread",
                        f"{name}.c", "-o", name], cwd=d, check=True)
        out[name] = d / name
    return out


def kinds(path):
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]
    assert all(isinstance(r.get("kind"), str) for r in records), lines
    return [r["kind"] for r in records]


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_fault_is_reported_and_clean_twin_is_not(name, compiled, verify, build_root, tmp_path):
    """Both ways; the clean twin's silence is checked to be watched (the armed probe)."""
    kind = PROGRAMS[name][0]
    log = tmp_path / "faults.jsonl"
    bad = verify("--json", str(log), "--", str(compiled[name]), "fault")
    assert bad.returncode == 1, bad.stderr
    assert f"SUMMARY: lifeguard: {kind}" in bad.stderr
    assert kinds(log) == [kind]
    assert f"1 report ({kind})" in bad.stderr.splitlines()[-1]
    probe_log = tmp_path / "armed.jsonl"
    clean = verify("--json", str(log), "--", str(compiled[name]),
                   env=armed.preload(os.environ, build_root, probe_log))
    assert clean.returncode == 0, clean.stderr
    assert clean.stderr == ""
    assert kinds(log) == []
    problem = armed.problem(DETECTOR_OF[kind], armed.read(probe_log))
    assert problem is None, f"the clean twin was not watched: {problem}"


def test_keep_going_reports_every_fault(compiled, verify, tmp_path):
    log = tmp_path / "r.jsonl"
    r = verify("--keep-going", "--json", str(log), "--", str(compiled["double-close"]), "x")
    assert r.returncode == 1  # the program itself went on and exited 0
    assert "the program exited with status 0" in r.stderr
    assert kinds(log) == ["double-close"]


def test_checks_turn_detectors_off(compiled, verify):
    r = verify("--checks", "fdcheck,modcheck", "--", str(compiled["uaf"]), "x")
    assert r.returncode == 0, r.stderr  # glibc's heap: the stale read goes unnoticed
    r = verify("--checks", "pageheap", "--", str(compiled["double-close"]), "x")
    assert r.returncode == 0, r.stderr


def test_fork_exec_threads_signals_and_status(compiled, verify, tmp_path):
    out = tmp_path / "out.txt"
    r = verify("--", str(compiled["workout"]), str(out))
    assert r.returncode == 3, r.stderr
    assert r.stderr == ""
    assert out.read_text() == "hits=100 hi\n"


ENTRY_NAMES = ["getattr-main", "getattr-thread", "stack-32k", "stack-min", "dlopen", "stdio",
               "fork"]


@pytest.mark.parametrize("path", ENTRY_NAMES)
def test_calls_inside_libc_locked_sections_finish(path, compiled, verify):
    try:
        r = verify("--", str(compiled["entry-paths"]), path, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{path}: the program hung under verify (a self-deadlock in an interposer)")
    assert (r.returncode, r.stdout, r.stderr) == (0, path + "\n", "")


def test_static_tls_is_small(library):
    """Every thread's stack pays for the library's static TLS: at most 2 KiB."""
    if not shutil.which("readelf"):
        pytest.skip("readelf (binutils) is not installed")
    out = subprocess.run(["readelf", "-lW", str(library)], capture_output=True, text=True,
                         check=True).stdout
    tls = [line.split() for line in out.splitlines() if line.split()[:1] == ["TLS"]]
    assert len(tls) == 1, out
    assert int(tls[0][5], 16) <= 2048, tls[0]


def test_stdio_passes_through(verify):
    r = verify("--", "sort", "-n", input="3\n10\n2\n", stdin=None)
    assert (r.returncode, r.stdout) == (0, "2\n3\n10\n"), r.stderr
    r = verify("--", "sh", "-c", "echo to-stderr >&2; exit 7")
    assert (r.returncode, r.stderr) == (7, "to-stderr\n")
    r = verify("--", "sh", "-c", "kill -TERM $$")
    assert r.returncode == 128 + 15


@pytest.mark.parametrize("args, message", [
    ((), "no program to run"),
    (("--",), "no program to run"),
    (("--checks", "pageheap,heapcheck", "--", "true"), "unknown check 'heapcheck'"),
    (("--checks", ",", "--", "true"), "name at least one of"),
    (("--", "no-such-program-lifeguard"), "not found in PATH"),
    (("--", "/no/such/file"), "no such file"),
    (("--", "{text}"), "not executable"),
    (("--", "{script}"), "not an ELF executable or a #! script"),
    (("--sample", "0", "--", "true"), "must be a positive whole number"),
    (("--seed", "x3", "--", "true"), "must be a whole number below 2**64"),
    (("--json", "/no/such/dir/x.jsonl", "--", "true"), "its directory does not exist"),
])
def test_bad_input(args, message, verify, tmp_path):
    text, script = tmp_path / "notes.txt", tmp_path / "data"
    text.write_text("not a program\n")
    script.write_text("not a program either\n")
    script.chmod(0o755)
    r = verify(*(a.format(text=text, script=script) for a in args))
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("lifeguard: error:"), r.stderr
    assert message in r.stderr


def test_static_program_is_refused(verify, tmp_path):
    if not shutil.which("gcc"):
        pytest.skip("gcc is not installed")
    (tmp_path / "s.c").write_text("int main(void) { return 0; }\n")
    built = subprocess.run(["gcc", "-static", "s.c", "-o", "s"], cwd=tmp_path,
                           capture_output=True)
    if built.returncode != 0:
        pytest.skip("no static libc to link a static program with")
    r = verify("--", str(tmp_path / "s"))
    assert r.returncode == 2
    assert "statically linked" in r.stderr and r.stderr.count("\n") == 1


# ---- real programs nobody here wrote ---------------------------------------------------------

GIT_ENV = {"GIT_AUTHOR_NAME": "lg", "GIT_AUTHOR_EMAIL": "lg@example.invalid",
           "GIT_COMMITTER_NAME": "lg", "GIT_COMMITTER_EMAIL": "lg@example.invalid",
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}

PYTHON_WORK = ("import json, hashlib\n"
               "d = [{'a': i, 'b': str(i) * 10, 'c': [i] * 5, 'x' * (i % 50): 'y' * (i % 700)}"
               " for i in range(20000)]\n"
               "s = json.dumps(d)\n"
               "assert json.loads(s) == d\n"
               "print(hashlib.sha256(s.encode()).hexdigest()[:8])\n")


def real_programs(tmp):
    """(name, argv, cwd) of each real program, with the files they need made in `tmp`."""
    (tmp / "repo").mkdir()
    (tmp / "repo" / "a.txt").write_text("hello\n")
    (tmp / "repo" / "b.txt").write_text("".join(f"{i}\n" for i in range(1000)))
    (tmp / "hello.c").write_text('#include <stdio.h>\n#include <stdlib.h>\n'
                                 'int main(void) { char *p = malloc(10); free(p); '
                                 'puts("hello"); return 0; }\n')
    (tmp / "proj").mkdir()
    (tmp / "proj" / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.20)\nproject(t C)\nadd_executable(t main.c)\n")
    (tmp / "proj" / "main.c").write_text("int main(void) { return 0; }\n")
    lines = [f"{(i * 7919) % 5003} line {i}\n" for i in range(5000)]
    (tmp / "unsorted.txt").write_text("".join(lines))
    git = "git init -q && git add -A && git commit -qm first && git log --oneline && git status"
    return [
        ("python3", ["/usr/bin/python3", "-c", PYTHON_WORK], tmp),
        ("git", ["sh", "-c", git], tmp / "repo"),
        ("cmake-version", ["cmake", "--version"], tmp),
        ("cmake-configure", ["cmake", "-S", "proj", "-B", "proj-build"], tmp),
        ("gcc", ["gcc", "-O2", "hello.c", "-o", "hello"], tmp),
        ("tar", ["sh", "-c", "tar cf x.tar repo hello.c && mkdir ex && tar xf x.tar -C ex "
                             "&& cmp repo/b.txt ex/repo/b.txt"], tmp),
        ("sort", ["sort", "-n", "-o", "sorted.txt", "unsorted.txt"], tmp),
    ]


@pytest.mark.parametrize("index, name", list(enumerate(
    ["python3", "git", "cmake-version", "cmake-configure", "gcc", "tar", "sort"])))
def test_real_program_runs_clean(index, name, verify, tmp_path, tmp_path_factory):
    bare_dir, verify_dir = tmp_path / "bare", tmp_path / "verify"
    bare_dir.mkdir()
    verify_dir.mkdir()
    prog_name, argv, bare_cwd = real_programs(bare_dir)[index]
    assert prog_name == name
    if not shutil.which(argv[0]):
        pytest.skip(f"{argv[0]} is not installed")
    env = {**os.environ, **GIT_ENV}
    env.pop("LIFEGUARD_OPTIONS", None)
    start = time.monotonic()
    bare = subprocess.run(argv, cwd=bare_cwd, env=env, capture_output=True, text=True,
                          timeout=60)
    bare_s = time.monotonic() - start
    assert bare.returncode == 0, bare.stderr
    _, argv, cwd = real_programs(verify_dir)[index]
    log = tmp_path / "reports.jsonl"
    start = time.monotonic()
    r = verify("--json", str(log), "--", *argv, cwd=cwd, env=env)
    verify_s = time.monotonic() - start
    degraded = "mapping budget" in r.stderr
    print(f"{name}: bare {bare_s:.2f} s, verify {verify_s:.2f} s"
          + (" (page heap degraded)" if degraded else ""))
    assert kinds(log) == [], r.stderr[-3000:]
    assert r.returncode == 0, r.stderr[-3000:]
    if name == "python3":
        assert r.stdout == bare.stdout
    if name == "sort":
        assert (cwd / "sorted.txt").read_text() == (bare_cwd / "sorted.txt").read_text()


# ---- the page heap's sampling: seeded, and a budget that is never spent up front -------------

# LONG long-lived blocks from one call site (make_record), then a fault-free or faulty use of
# a late block. `guards` prints the indices of the program's own blocks the page heap guards
# (lg_pageheap_guarded, found at run time in the preloaded library), the live guarded blocks,
# the budget and how many mappings the page heap added, with every other block freed into the
# quarantine. `late-site` frees and reads a block allocated at a call site never used before;
# `late-same` the same with a block from make_record, whose chance is the sampled one.
SAMPLING = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
typedef struct { bool active; uint64_t live_blocks, live_bytes, allocs, frees, quarantined,
                 unguarded, live_limit, seed; } stats;
static int mappings(void) {
  FILE *f = fopen("/proc/self/maps", "r");
  int c, n = 0;
  while ((c = fgetc(f)) != EOF) n += c == '\n';
  fclose(f);
  return n;
}
__attribute__((noinline)) static char *make_record(int i) {
  char *r = malloc(48);
  snprintf(r, 48, "record %d", i);
  return r;
}
__attribute__((noinline)) static char *make_request(void) {
  char *r = malloc(64);
  strcpy(r, "late request");
  return r;
}
int main(int argc, char **argv) {
  int n = atoi(argv[2]);
  char **keep = calloc((size_t)n, sizeof *keep);
  int before = mappings();
  for (int i = 0; i < n; i++) keep[i] = make_record(i);
  if (!strcmp(argv[1], "guards")) {
    bool (*guarded)(const void *) = (bool (*)(const void *))dlsym(RTLD_DEFAULT, "lg_pageheap_guarded");
    stats (*get)(void) = (stats (*)(void))dlsym(RTLD_DEFAULT, "lg_pageheap_stats_get");
    if (!guarded || !get) return 3;
    for (int i = 0; i < n; i++) if (guarded(keep[i])) printf("%d ", i);
    for (int i = 0; i < n; i += 2) free(keep[i]), keep[i] = NULL;
    stats s = get();
    printf("\nlive %llu limit %llu mappings %d seed %llu\n", (unsigned long long)s.live_blocks,
           (unsigned long long)s.live_limit, mappings() - before, (unsigned long long)s.seed);
    return 0;
  }
  char *late = !strcmp(argv[1], "late-site") ? make_request() : make_record(-1);
  free(late);
  int r = argc > 3 ? late[3] : 0;   /* read after free */
  for (int i = 0; i < n; i++) free(keep[i]);
  return r == 'x';
}"""


@pytest.fixture(scope="module")
def sampling(tmp_path_factory):
    if not shutil.which("gcc"):
        pytest.skip("gcc is not installed")
    d = tmp_path_factory.mktemp("sampling")
    (d / "sampling.c").write_text(SAMPLING)
    subprocess.run(["gcc", "-O0", "-g", "-fno-omit-frame-pointer", "sampling.c", "-o", "sampling"],
                   cwd=d, check=True)
    return d / "sampling"


def guards(verify, sampling, n, options):
    """(guarded indices, live guarded, budget, mappings added, seed) of a `guards` run."""
    env = {**os.environ, "LIFEGUARD_OPTIONS": options}
    r = verify("--", str(sampling), "guards", str(n), env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    indices, summary = r.stdout.splitlines()
    words = summary.split()
    assert words[0::2] == ["live", "limit", "mappings", "seed"], summary
    live, limit, maps, seed = (int(w) for w in words[1::2])
    return [int(i) for i in indices.split()], live, limit, maps, seed


def test_same_seed_same_guards_other_seed_other_guards(verify, sampling):
    """The budget factor alone (pageheap_sites=0: one site's blocks would otherwise be
    guarded at 4/n): seeded decisions."""
    n = 12000  # past the full-guarding share (a quarter of the budget): sampled decisions
    first, live, limit, _, seed = guards(verify, sampling, n, "pageheap_sites=0:pageheap_seed=7")
    again = guards(verify, sampling, n, "pageheap_sites=0:pageheap_seed=7")[0]
    other = guards(verify, sampling, n, "pageheap_sites=0:pageheap_seed=8")[0]
    assert seed == 7
    assert first == again
    assert first != other
    # sampled, not all or nothing: the decisions depend on the seed
    assert limit // 8 < len(first) < n and limit // 8 < len(other) < n
    # unset, the seed is drawn at start and given back
    assert guards(verify, sampling, 100, "pageheap_sites=0")[4] not in (0, 7)


def test_budget_is_never_exceeded(verify, sampling):
    """50,000 long-lived blocks from one site: the guarded ones stay under the budget and cost
    two mappings each; freed (quarantined) slots cost none (their pages merge with the guard
    pages around them)."""
    indices, live, limit, maps, _ = guards(verify, sampling, 50000, "pageheap_sites=0:pageheap_seed=1")
    assert limit > 0 and live <= limit
    assert len(indices) <= limit
    # half of the program's blocks were freed: about half the guarded ones are still live
    assert abs(live - len(indices) / 2) <= 2 + len(indices) // 100 + 64
    assert maps <= 2 * live + 64, (maps, live)
    # the budget was approached (the chance fell with it), not spent
    assert len(indices) > limit // 2


def test_late_use_after_free_at_a_new_site_is_caught(verify, sampling, tmp_path):
    """After 30,000 long-lived blocks, a block allocated at a call site never used before is
    guarded whatever the seed (a site's first allocation always is)."""
    log = tmp_path / "r.jsonl"
    for seed in range(1, 6):
        r = verify("--seed", str(seed), "--json", str(log), "--", str(sampling), "late-site",
                   "30000", "fault", timeout=300)
        assert r.returncode == 1, r.stderr[-2000:]
        assert kinds(log) == ["heap-use-after-free"]
        assert f"pageheap seed: {seed} " in r.stderr
        assert json.loads(log.read_text())["pageheap_seed"] == seed
        clean = verify("--seed", str(seed), "--json", str(log), "--", str(sampling), "late-site",
                       "30000", timeout=300)
        assert clean.returncode == 0 and kinds(log) == [], clean.stderr[-2000:]


def test_the_seed_in_a_report_replays_it(verify, sampling, tmp_path):
    """A late block from the long-lived blocks' own call site is guarded by chance (about one
    run in two after 9,200 of them): each of 12 seeds gives the same outcome twice, both
    outcomes occur, a report gives its seed, and setting it reports again."""
    log = tmp_path / "r.jsonl"
    outcomes = {}
    for seed in range(1, 13):
        env = {**os.environ, "LIFEGUARD_OPTIONS": f"pageheap_sites=0:pageheap_seed={seed}"}
        runs = [verify("--json", str(log), "--", str(sampling), "late-same", "9200", "fault",
                       env=env, timeout=300).returncode for _ in range(2)]
        assert runs[0] == runs[1], (seed, runs)
        outcomes[seed] = runs[0]
    assert set(outcomes.values()) == {0, 1}, outcomes
    caught = min(seed for seed, rc in outcomes.items() if rc == 1)
    assert json.loads(log.read_text() or "{}").get("pageheap_seed") in (None, 12)
    env = {**os.environ, "LIFEGUARD_OPTIONS": f"pageheap_sites=0:pageheap_seed={caught}"}
    r = verify("--json", str(log), "--", str(sampling), "late-same", "9200", "fault", env=env,
               timeout=300)
    assert r.returncode == 1 and kinds(log) == ["heap-use-after-free"]
    assert json.loads(log.read_text())["pageheap_seed"] == caught
    # a seed drawn at start (none set) replays the same decisions when it is set
    first, _, _, _, drawn = guards(verify, sampling, 12000, "pageheap_sites=0")
    assert guards(verify, sampling, 12000, f"pageheap_sites=0:pageheap_seed={drawn}")[0] == first


def test_bad_seed_is_refused(verify):
    env = {**os.environ, "LIFEGUARD_OPTIONS": "pageheap_seed=-1"}
    r = verify("--", "true", env=env)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "bad value in 'pageheap_seed=-1'" in r.stderr


# ---- reports that must come out: from a report hook, and as the program exits ------------------

# A report hook (the preload library exports lg_report_set_hook) that reads freed memory: the
# fault inside the hook is a report of its own, after the double close that called the hook.
HOOK_FAULT = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static char *freed;
static void hook(const void *view, void *arg) {
  (void)view; (void)arg;
  printf("hook read '%c'\n", *(volatile char *)(freed + 8));
}
int main(int argc, char **argv) {
  void (*set_hook)(void (*)(const void *, void *), void *) =
      (void (*)(void (*)(const void *, void *), void *))dlsym(RTLD_DEFAULT, "lg_report_set_hook");
  if (!set_hook) { fputs("lg_report_set_hook not found: not under lifeguard\n", stderr); return 4; }
  set_hook(hook, NULL);
  freed = malloc(100);
  memset(freed, 'A', 100);
  free(freed);
  int fd = open("/dev/null", O_RDONLY);
  close(fd);
  if (argc > 1 && !strcmp(argv[1], "fault")) close(fd);
  puts("done");
  return 0;
}
"""


def test_fault_inside_the_report_hook_is_reported(verify, tmp_path):
    """The hook runs outside the report's lock: the fault it takes is reported (it used to
    wait for the lock its own thread held, until the bound below)."""
    if not shutil.which("gcc"):
        pytest.skip("gcc is not installed")
    (tmp_path / "hook.c").write_text(HOOK_FAULT)
    subprocess.run(["gcc", "-O0", "-g", "hook.c", "-o", "hook", "-ldl"], cwd=tmp_path, check=True)
    log = tmp_path / "r.jsonl"
    bad = verify("--json", str(log), "--", str(tmp_path / "hook"), "fault", timeout=60)
    assert bad.returncode == 1, bad.stderr
    assert kinds(log) == ["double-close", "heap-use-after-free"], bad.stderr
    assert "SUMMARY: lifeguard: heap-use-after-free" in bad.stderr
    clean = verify("--json", str(log), "--", str(tmp_path / "hook"), "clean", timeout=60)
    assert (clean.returncode, kinds(log)) == (0, []), clean.stderr
    assert clean.stdout == "done\n"


# A thread's fault is being reported while the main thread returns from main. The report is
# held in flight without a sleep: the symbolizer (symbolizer=PATH) is a script that writes a
# byte to the pipe the main thread waits on (READY_FD), then reads HOLD_FD, whose write end
# only this process holds (close-on-exec), so it ends when the process does.
EXIT_IN_FLIGHT = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static char *block;
__attribute__((noinline)) static void *use_block(void *arg) {
  (void)arg;
  return (void *)(long)*(volatile char *)(block + 8);
}
int main(int argc, char **argv) {
  int fault = argc > 1 && !strcmp(argv[1], "fault");
  int ready[2], hold[2];
  if (pipe2(ready, 0) || pipe2(hold, 0)) return 3;
  fcntl(ready[0], F_SETFD, FD_CLOEXEC);
  fcntl(hold[1], F_SETFD, FD_CLOEXEC);
  char num[16];
  snprintf(num, sizeof num, "%d", ready[1]);
  setenv("READY_FD", num, 1);
  snprintf(num, sizeof num, "%d", hold[0]);
  setenv("HOLD_FD", num, 1);
  block = malloc(100);
  memset(block, 'A', 100);
  if (fault) free(block);
  pthread_t t;
  if (pthread_create(&t, NULL, use_block, NULL)) return 5;
  if (fault) {
    char c;
    if (read(ready[0], &c, 1) != 1) return 6;
    puts("main returns while the report is in flight");
    fflush(stdout);
    return 0;
  }
  pthread_join(t, NULL);
  free(block);
  puts("done");
  return 0;
}
"""

HOLDING_SYMBOLIZER = """#!/bin/sh
eval "printf x >&$READY_FD"
eval "read _ <&$HOLD_FD"
"""


def test_exit_while_a_fault_is_reported_is_not_clean(verify, tmp_path):
    """The main thread returns while another thread's report waits for its symbolizer: the
    process does not exit 0 (the exit path ends it by SIGABRT once the report's first lines
    are out), and verify counts the report that never reached the JSON log."""
    if not shutil.which("gcc"):
        pytest.skip("gcc is not installed")
    (tmp_path / "inflight.c").write_text(EXIT_IN_FLIGHT)
    subprocess.run(["gcc", "-O0", "-g", "-pthread", "inflight.c", "-o", "inflight"],
                   cwd=tmp_path, check=True)
    symbolizer = tmp_path / "holding-symbolizer"
    symbolizer.write_text(HOLDING_SYMBOLIZER)
    symbolizer.chmod(0o755)
    env = dict(os.environ, LIFEGUARD_OPTIONS=f"symbolizer={symbolizer}")
    log = tmp_path / "r.jsonl"
    bad = verify("--json", str(log), "--", str(tmp_path / "inflight"), "fault", env=env,
                 timeout=60)
    assert "main returns while the report is in flight" in bad.stdout, bad.stderr
    assert bad.returncode == 1, bad.stderr
    assert "ERROR: lifeguard: heap-use-after-free" in bad.stderr
    assert "is exiting while thread" in bad.stderr
    assert "was cut short" in bad.stderr
    assert kinds(log) == ["heap-use-after-free"]
    clean = verify("--json", str(log), "--", str(tmp_path / "inflight"), "clean", env=env,
                   timeout=60)
    assert (clean.returncode, clean.stdout, kinds(log)) == (0, "done\n", []), clean.stderr

# SPDX-License-Identifier: MIT
"""lifeguard owns SIGSEGV and SIGBUS (harness/src/signal.c), both ways.

- A program's own handler that does not pass faults on cannot hide a guard-page fault: the
  use after free is reported (tests/seeded/sig_user_handler.c, also a row of test_seeded.py);
  with handle_segv=0 the program's handler takes it, as before ownership.
- A program that relies on its handlers for its own faults (tests/seeded/sig_own_faults.c: a
  write barrier on a PROT_NONE page, siglongjmp out, saved and restored handlers, masks,
  SA_RESETHAND, raised signals, SIGBUS, a stack overflow handled on the program's alternate
  stack) behaves exactly as without lifeguard, linked in and
  preloaded, with either handle_segv; a fault nobody explains runs the program's handler, or
  kills the process by SIGSEGV when there is none, as natively.
- node: its own SIGSEGV handler (WebAssembly traps) keeps working under verify, and an N-API
  addon's use after free is still reported (an addon built here with gcc against node's
  headers, when node and its headers are installed).
"""

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "seeded"))

import seeded  # noqa: E402
from lifeguard_cli import paths  # noqa: E402
from lifeguard_cli import run as runner  # noqa: E402

TIMEOUT = 60.0
REPORT = "ERROR: lifeguard:"

# mode -> (exit status natively, a line its output must hold)
OWN_FAULTS = {
    "barrier": (0, "barrier: 3 faults handled by the program"),
    "jump": (0, "jump: 3 faults left by siglongjmp"),
    "saved": (0, "saved: previous handlers given back, SA_RESETHAND reset on delivery"),
    "mask": (0, "mask: the handler's own mask, SA_NODEFER honoured"),
    "sent": (0, "sent: ignored, then delivered with SI_TKILL"),
    "null-handled": (3, "null-handled: signal 11 at (nil), in the program's handler"),
    "null": (-signal.SIGSEGV, "null: dereferencing NULL"),
    "bus": (5, "bus: signal 7, code 2, in the program's handler"),
    "overflow": (6, "overflow: signal 11, handled on the alternate stack: yes"),
}

# how a program is run: (binary form, LD_PRELOAD the library, LIFEGUARD_OPTIONS)
WAYS = {
    "linked": ("linked", False, ""),
    "preloaded": ("bare", True, ""),
    "linked-handle_segv=0": ("linked", False, "handle_segv=0"),
    "preloaded-handle_segv=0": ("bare", True, "handle_segv=0"),
}


@pytest.fixture(scope="module")
def plain(build_root, selected_configs, lifeguard_manifest):
    presets = {lifeguard_manifest.configs[c].preset for c in selected_configs}
    if "plain" not in presets:
        pytest.skip("the plain preset is not selected")
    lib = seeded.preload_library(build_root)
    if not lib.is_file():
        pytest.fail(f"{lib} is not built (cmake --build --preset plain)", pytrace=False)
    return build_root


def program(build_root, name, form):
    path = Path(build_root) / "plain" / "tests" / "seeded" / (
        f"seeded_{name}" if form == "linked" else f"seeded_{name}_bare")
    if not path.is_file():
        pytest.fail(f"{path} is not built (cmake --build --preset plain)", pytrace=False)
    return path


def run(build_root, name, args, way=None):
    """Runs a seeded program natively (way None) or one of WAYS; (status, output)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_PRELOAD", "LIFEGUARD_OPTIONS", "LIFEGUARD_FAULTS")}
    form = "bare"
    if way is not None:
        form, preload, options = WAYS[way]
        if preload:
            env["LD_PRELOAD"] = str(seeded.preload_library(build_root))
        if options:
            env["LIFEGUARD_OPTIONS"] = options
    argv = [str(program(build_root, name, form)), *args]
    status, output, timed_out, _ = runner.run_process(argv, env, TIMEOUT)
    assert not timed_out, f"{argv} ({way}) did not finish in {TIMEOUT} s:\n{output}"
    return status, output


@pytest.mark.parametrize("way", list(WAYS))
@pytest.mark.parametrize("mode", list(OWN_FAULTS))
def test_program_handles_its_own_faults_as_without_lifeguard(plain, mode, way):
    status, line = OWN_FAULTS[mode]
    native_status, native_output = run(plain, "sig_own_faults", [mode])
    assert (native_status, line in native_output) == (status, True), native_output
    got_status, got_output = run(plain, "sig_own_faults", [mode], way)
    assert REPORT not in got_output, got_output
    assert got_status == native_status, got_output
    assert got_output.splitlines() == native_output.splitlines()


@pytest.mark.parametrize("way", ["linked", "preloaded"])
def test_program_handler_cannot_hide_a_guard_page_fault(plain, way):
    status, output = run(plain, "sig_user_handler", ["fault"], way)
    assert "SUMMARY: lifeguard: heap-use-after-free" in output, output
    assert "in use_block" in output and "the program's own SIGSEGV handler" not in output
    assert status == -signal.SIGABRT, output
    status, output = run(plain, "sig_user_handler", ["clean"], way)
    assert (status, REPORT in output) == (0, False), output


@pytest.mark.parametrize("way", ["linked-handle_segv=0", "preloaded-handle_segv=0"])
def test_handle_segv_0_gives_the_fault_to_the_program(plain, way):
    status, output = run(plain, "sig_user_handler", ["fault"], way)
    assert REPORT not in output, output
    assert status == 3 and "the program's own SIGSEGV handler ran" in output, output


# ---- node: a runtime with its own SIGSEGV handler -------------------------------------------

ADDON = r"""
#include <node_api.h>
#include <stdlib.h>
#include <string.h>
#define N 1000
/* N blocks, freed, then read: with sampling, some of them are guarded */
static napi_value use_freed(napi_env env, napi_callback_info info) {
  static char *blocks[N];
  for (int i = 0; i < N; i++) { blocks[i] = malloc(64); memset(blocks[i], 'a', 64); }
  bool fault = false;
  size_t argc = 1;
  napi_value arg;
  napi_get_cb_info(env, info, &argc, &arg, NULL, NULL);
  napi_get_value_bool(env, arg, &fault);
  if (fault) for (int i = 0; i < N; i++) free(blocks[i]);
  int sum = 0;
  for (int i = 0; i < N; i++) {
    char *p = blocks[i];
    __asm__ volatile("" : "+r"(p) : : "memory");
    sum += *(volatile char *)(p + 3);
  }
  if (!fault) for (int i = 0; i < N; i++) free(blocks[i]);
  napi_value v;
  napi_create_int32(env, sum, &v);
  return v;
}
NAPI_MODULE_INIT() {
  napi_value f;
  napi_create_function(env, "useFreed", NAPI_AUTO_LENGTH, use_freed, NULL, &f);
  napi_set_named_property(env, exports, "useFreed", f);
  return exports;
}
"""

# An out-of-bounds load from a one-page WebAssembly memory, 1000 times: V8 turns the fault on
# its guard region into a RuntimeError in node's own SIGSEGV handler.
WASM_TRAPS = r"""
const b = new Uint8Array([0,0x61,0x73,0x6d,1,0,0,0, 1,6,1,0x60,1,0x7f,1,0x7f, 3,2,1,0,
  5,3,1,0,1, 7,5,1,1,0x66,0,0, 0xa,9,1,7,0,0x20,0,0x28,2,0,0xb]);
const m = new WebAssembly.Instance(new WebAssembly.Module(b));
let n = 0;
for (let i = 0; i < 1000; i++) {
  try { m.exports.f(70000 + i); } catch (e) { if (e instanceof WebAssembly.RuntimeError) n++; }
}
console.log("traps", n, "in bounds", m.exports.f(8));
"""

NODE_HEADERS = Path("/usr/include/node/node_api.h")


@pytest.fixture(scope="module")
def node(plain):
    exe = shutil.which("node")
    if not exe:
        pytest.skip("node is not installed")
    return exe


def verify(repo_root, build_root, argv, options=""):
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    env["LIFEGUARD_OPTIONS"] = options
    cmd = [sys.executable, str(repo_root / "scripts" / "lifeguard"), "verify", "--no-build",
           "--build-dir", str(build_root), "--", *argv]
    return subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=120)


def test_node_keeps_its_own_handler_for_wasm_traps(node, repo_root, plain, tmp_path):
    script = tmp_path / "traps.js"
    script.write_text(WASM_TRAPS)
    r = verify(repo_root, plain, [node, str(script)])
    assert "traps 1000 in bounds 0" in r.stdout, r.stderr
    assert REPORT not in r.stderr and r.returncode == 0, r.stderr


def test_node_addon_use_after_free_is_reported(node, repo_root, plain, tmp_path):
    if not NODE_HEADERS.is_file():
        pytest.skip(f"{NODE_HEADERS} is not installed (Debian's libnode-dev)")
    src = tmp_path / "addon.c"
    src.write_text(ADDON)
    addon = tmp_path / "addon.node"
    subprocess.run(["gcc", "-shared", "-fPIC", "-O1", "-g", "-fno-omit-frame-pointer",
                    f"-I{NODE_HEADERS.parent}", str(src), "-o", str(addon)], check=True)
    # one block in 10 guarded: the addon's 1000 blocks include guarded ones, and node's own
    # start-up does not use up the page heap's mapping budget first
    options = "pageheap_sample=10"
    call = f"console.log(require({str(addon)!r}).useFreed(%s))"
    bad = verify(repo_root, plain, [node, "-e", call % "true"], options)
    assert "SUMMARY: lifeguard: heap-use-after-free" in bad.stderr, bad.stderr[-4000:]
    assert "in use_freed" in bad.stderr and bad.returncode == 1
    good = verify(repo_root, plain, [node, "-e", call % "false"], options)
    assert REPORT not in good.stderr and good.returncode == 0, good.stderr[-4000:]
    assert good.stdout.strip() == str(97 * 1000)

# SPDX-License-Identifier: MIT
"""Every input that once found a fault stays in corpora/regressions/<target>/ and is replayed
by the gate, both ways: with its fault switch it reports its kind again; without it the
same input is clean. Each input has a sidecar <input>.json: fault, kind, and optionally
LIFEGUARD_OPTIONS (`options`), the kind a time-to-detect run stopped at (`until`) and the
configurations that can detect it (`configs`: a kind only a sanitizer reports, such as a
nightly candidate's, is the asan build's). `kind` is one word, or a table per configuration
where the detectors name it differently ({asan = heap-use-after-free, plain = use-after-free}:
ASan's report under asan, the page heap's under plain). The kind may be reported by
lifeguard or by a sanitizer."""

import json
import os
import re
import subprocess

import pytest

from conftest import REPO_ROOT

from lifeguard_cli.nightly_crashes import sidecar_kind

REGRESSIONS = REPO_ROOT / "corpora" / "regressions"


def cases():
    for sidecar in sorted(REGRESSIONS.glob("*/*.json")):
        yield pytest.param(sidecar.parent.name, sidecar.with_suffix(""), json.loads(sidecar.read_text()),
                           id=f"{sidecar.parent.name}/{sidecar.stem}")


def replay(build_root, config, target, path, fault, meta):
    binary = build_root / config.preset / "fuzz" / f"{target}_replay"
    if not binary.is_file():
        pytest.fail(f"{binary} is not built", pytrace=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIFEGUARD_", "LG_FUZZ_"))}
    env.update(config.env)
    env["ASAN_OPTIONS"] = "abort_on_error=1:detect_leaks=1"
    if fault:
        env["LIFEGUARD_FAULTS"] = fault
    if meta.get("options"):
        env["LIFEGUARD_OPTIONS"] = meta["options"]
    if meta.get("until"):
        env["LG_FUZZ_UNTIL"] = meta["until"]
    return subprocess.run([str(binary), str(path)], capture_output=True, text=True, env=env,
                          timeout=60)


@pytest.fixture(params=["asan", "plain"])
def config(request, selected_configs, lifeguard_manifest):
    if request.param not in selected_configs:
        pytest.skip(f"config {request.param} not selected")
    return lifeguard_manifest.configs[request.param]


def summary_kinds(stderr):
    return re.findall(r"^SUMMARY: (?:lifeguard|AddressSanitizer|UndefinedBehaviorSanitizer): (\S+)",
                      stderr, re.MULTILINE)


def expected_kind(meta, config):
    """The sidecar's kind under `config`; a skip (with the sidecar's own word for why) when
    its `configs` leave `config` out."""
    kind = sidecar_kind(meta, config.name)
    if config.name not in meta.get("configs", [config.name]):
        pytest.skip(f"its sidecar says only {', '.join(meta['configs'])} reports {meta['kind']}")
    if kind is None:
        pytest.skip(f"its sidecar's kind names no {config.name} word: {meta['kind']}")
    return kind


def test_there_are_regressions():
    assert list(cases()), f"no sidecars under {REGRESSIONS}"


@pytest.mark.parametrize("target,path,meta", cases())
def test_regression_reports_its_kind_again(target, path, meta, config, build_root):
    kind = expected_kind(meta, config)
    r = replay(build_root, config, target, path, meta["fault"], meta)
    assert summary_kinds(r.stderr)[:1] == [kind], r.stderr[-3000:]
    assert r.returncode != 0


@pytest.mark.parametrize("target,path,meta", cases())
def test_regression_is_clean_without_its_fault(target, path, meta, config, build_root):
    r = replay(build_root, config, target, path, None, meta)
    assert "SUMMARY:" not in r.stderr, r.stderr[-3000:]
    assert r.returncode == 0, r.stderr[-3000:]

# SPDX-License-Identifier: MIT
"""Manifest loading and strict validation: the real manifest, and one broken copy per rule."""

import pytest

from lifeguard_cli import kinds, manifest
from lifeguard_cli.errors import UsageError

MINIMAL = """\
[config.asan]
preset = "asan"
env = { ASAN_OPTIONS = "abort_on_error=1" }

[config.plain]
preset = "plain"

[[scenario]]
name = "wrapper-drop"
class = "double-close"
program = "double_close"
faults = ["socket-close-in-drop"]
configs = ["asan", "plain"]
buggy = "double-close"
fixed = "clean"
frames = { current = "lg_owned_fd_drop", close = "lg_socket_close" }
"""


def load_text(tmp_path, text):
    path = tmp_path / "m.toml"
    path.write_text(text)
    return manifest.load(path)


def test_the_real_manifest_loads(lifeguard_manifest):
    rows = lifeguard_manifest.rows()
    assert rows, "the manifest has no rows"
    ids = [row.id for row in rows]
    assert len(set(ids)) == len(ids)
    for row in rows:
        assert row.scenario.cls in kinds.CLASSES
        assert row.expected in kinds.OUTCOMES
        assert row.id == f"{row.scenario.cls}/{row.scenario.name}/{row.variant}/{row.config.name}"


def test_minimal_manifest_rows(tmp_path):
    m = load_text(tmp_path, MINIMAL)
    assert [r.id for r in m.rows()] == [
        "double-close/wrapper-drop/buggy/asan", "double-close/wrapper-drop/buggy/plain",
        "double-close/wrapper-drop/fixed/asan", "double-close/wrapper-drop/fixed/plain"]
    assert m.configs["plain"].env == {}
    assert m.configs["asan"].env == {"ASAN_OPTIONS": "abort_on_error=1"}
    buggy, fixed = m.rows()[0], m.rows()[2]
    assert buggy.frames == {"current": "lg_owned_fd_drop", "close": "lg_socket_close"}
    assert fixed.frames == {}


def test_search_gives_the_run_arguments(tmp_path):
    m = load_text(tmp_path, MINIMAL)
    assert m.scenarios[0].run_args == ["--iterations", "1"]
    m = load_text(tmp_path, MINIMAL.replace(
        'fixed = "clean"', 'fixed = "clean"\nsearch = { strategy = "dfs", iterations = 300 }'))
    assert (m.scenarios[0].search.strategy, m.scenarios[0].search.iterations) == ("dfs", 300)
    assert m.scenarios[0].run_args == ["--strategy", "dfs", "--iterations", "300"]
    m = load_text(tmp_path, MINIMAL.replace(
        'fixed = "clean"',
        'fixed = "clean"\nsearch = { strategy = "pct", iterations = 1000, depth = 3, seed = 7 }'))
    assert m.scenarios[0].run_args == ["--strategy", "pct", "--iterations", "1000",
                                       "--depth", "3", "--seed", "7"]
    m = load_text(tmp_path, MINIMAL.replace(
        'fixed = "clean"', 'fixed = "clean"\nsearch = { strategy = "dfs", iterations = 50, bound = 2 }'))
    assert m.scenarios[0].run_args == ["--strategy", "dfs", "--iterations", "50", "--bound", "2"]


def test_outcome_per_config_table(tmp_path):
    m = load_text(tmp_path, MINIMAL.replace(
        'buggy = "double-close"', 'buggy = { asan = "SEGV", plain = "use-after-unload" }'))
    assert [r.expected for r in m.rows() if r.variant == "buggy"] == ["SEGV", "use-after-unload"]


def test_an_alias_means_its_kind(tmp_path):
    """use-after-free is the page heap's old word: it means heap-use-after-free, the one name
    a use of freed heap memory has in every build."""
    m = load_text(tmp_path, MINIMAL.replace('buggy = "double-close"', 'buggy = "use-after-free"'))
    assert {r.expected for r in m.rows() if r.variant == "buggy"} == {"heap-use-after-free"}
    with pytest.raises(UsageError):
        load_text(tmp_path, MINIMAL.replace('buggy = "double-close"', 'buggy = "use-after-fre"'))


FLAT_FRAMES = 'frames = { current = "lg_owned_fd_drop", close = "lg_socket_close" }'


def buggy_frames(m):
    """{config: frames} of the manifest's buggy rows."""
    return {r.config.name: r.frames for r in m.rows() if r.variant == "buggy"}


def test_flat_frames_apply_to_every_config(tmp_path):
    m = load_text(tmp_path, MINIMAL)
    flat = {"current": "lg_owned_fd_drop", "close": "lg_socket_close"}
    assert buggy_frames(m) == {"asan": flat, "plain": flat}
    assert m.scenarios[0].frames_for("plain") == flat


def test_frames_per_config(tmp_path):
    m = load_text(tmp_path, MINIMAL.replace(FLAT_FRAMES, (
        'frames = { asan = { current = "free_site", alloc = "alloc_site" }, '
        'plain = { current = "lg_owned_fd_drop" } }')))
    assert buggy_frames(m) == {"asan": {"current": "free_site", "alloc": "alloc_site"},
                               "plain": {"current": "lg_owned_fd_drop"}}
    assert all(r.frames == {} for r in m.rows() if r.variant == "fixed")


def test_frames_per_config_left_out_config_is_not_checked(tmp_path):
    m = load_text(tmp_path, MINIMAL.replace(
        FLAT_FRAMES, 'frames = { plain = { current = "lg_owned_fd_drop" } }'))
    assert buggy_frames(m) == {"asan": {}, "plain": {"current": "lg_owned_fd_drop"}}


def test_no_frames_is_no_check(tmp_path):
    for text in (MINIMAL.replace(FLAT_FRAMES + "\n", ""), MINIMAL.replace(FLAT_FRAMES, "frames = {}")):
        m = load_text(tmp_path, text)
        assert buggy_frames(m) == {"asan": {}, "plain": {}}


def test_the_real_manifest_frames_per_config(lifeguard_manifest):
    """Both forms side by side in the real manifest: a flat row checks every config, a
    per-config row only the configs it names (asan-alone's SEGV names no functions)."""
    rows = {r.id: r for r in lifeguard_manifest.rows()}
    flat = rows["double-close/wrapper-drop/buggy/plain"]
    assert flat.frames == rows["double-close/wrapper-drop/buggy/asan"].frames != {}
    late = rows["module-unload/rapid-cycle/buggy/late-call"]
    assert late.frames["current"] == "run_task"
    assert rows["module-unload/rapid-cycle/buggy/asan"].frames["current"] == "lgrt_port_get_many"
    assert rows["module-unload/rapid-cycle/buggy/asan-alone"].frames == {}


@pytest.mark.parametrize("old, new, message", [
    ('configs = ["asan", "plain"]', 'configs = ["asan", "tsan"]', "unknown config 'tsan'"),
    ('buggy = "double-close"', 'buggy = "double-clse"', "'double-clse' is not an outcome word"),
    ('fixed = "clean"', 'fixed = "timeout"', "'timeout' is not an outcome word"),
    ('program = "double_close"\n', "", "missing key 'program'"),
    ('preset = "plain"', 'preset = "plain"\ncolour = "blue"', "unknown key 'colour'"),
    ('faults = ["socket-close-in-drop"]', 'faults = "socket-close-in-drop"', "must be an array"),
    ('faults = ["socket-close-in-drop"]', "faults = []", "must not be empty"),
    ('class = "double-close"', 'class = "double-closing"', "unknown class 'double-closing'"),
    ('name = "wrapper-drop"', "name = 7", "must be a string"),
    ('buggy = "double-close"', 'buggy = { asan = "double-close" }', "no outcome for config 'plain'"),
    ('buggy = "double-close"', 'buggy = { asan = "double-close", plain = "clean", tsan = "clean" }',
     "config 'tsan' is not in this scenario's configs"),
    ('buggy = "double-close"', "buggy = 3", "must be an outcome word or a table"),
    ('env = { ASAN_OPTIONS = "abort_on_error=1" }', "env = { ASAN_OPTIONS = 1 }", "must be a string"),
    ('frames = { current = "lg_owned_fd_drop", close = "lg_socket_close" }',
     'frames = { current = 1 }', "frames.current: must be a string"),
    ('program = "double_close"', 'program = "../../bin/sh"', "not a valid name"),
    ("[[scenario]]", "top = 1\n[[scenario]]", "unknown key 'top'"),
    ('fixed = "clean"', 'fixed = "clean"\nsearch = { strategy = "luck", iterations = 5 }',
     "search.strategy: 'luck' is not one of random, pct, dfs"),
    ('fixed = "clean"', 'fixed = "clean"\nsearch = { strategy = "pct", iterations = 0 }',
     "search.iterations: must be at least 1"),
    ('fixed = "clean"', 'fixed = "clean"\nsearch = { strategy = "pct" }', "missing key 'iterations'"),
    ('fixed = "clean"', 'fixed = "clean"\nsearch = { strategy = "random", iterations = 5, depth = 3 }',
     "search.depth: is PCT's; strategy 'random' takes none"),
    ('fixed = "clean"', 'fixed = "clean"\nsearch = { strategy = "pct", iterations = 5, depth = 0 }',
     "search.depth: must be from 1 to 64"),
    ('fixed = "clean"', 'fixed = "clean"\nsearch = { strategy = "pct", iterations = 5, bound = 1 }',
     "search.bound: is dfs's; strategy 'pct' takes none"),
    ('fixed = "clean"', 'fixed = "clean"\nsearch = { strategy = "dfs", iterations = 5, runs = 1 }',
     "unknown key 'runs'"),
    (FLAT_FRAMES, 'frames = { tsan = { current = "f" } }',
     "frames: config 'tsan' is not in this scenario's configs (asan, plain)"),
    (FLAT_FRAMES, 'frames = { asan = { current = "f" }, close = "lg_socket_close" }',
     "frames: mixes the two forms: 'asan' is a table"),
    (FLAT_FRAMES, 'frames = { current = "f", plain = { current = "g" } }',
     "but 'current' is a string"),
    (FLAT_FRAMES, 'frames = { asan = { current = 1 } }', "frames.asan.current: must be a string"),
    (FLAT_FRAMES, 'frames = { asan = { current = "" } }', "frames.asan.current: function name is empty"),
    (FLAT_FRAMES, 'frames = { asan = { Current = "f" } }', "frames.asan: 'Current' is not a valid name"),
    (FLAT_FRAMES, 'frames = { asan = {} }', "frames.asan: is empty"),
    (FLAT_FRAMES, 'frames = { current = [] }', "frames.current: must be a string, not an array"),
    (FLAT_FRAMES, 'frames = "lg_owned_fd_drop"', "frames: must be a table"),
], ids=["unknown-config", "bad-outcome", "observed-only-word", "missing-key", "unknown-key",
        "wrong-type", "empty-list", "unknown-class", "name-not-string", "table-missing-config",
        "table-extra-config", "outcome-wrong-type", "env-not-string", "frames-not-string",
        "program-path", "unknown-top-key", "search-strategy", "search-iterations",
        "search-missing-iterations", "search-depth-not-pct", "search-depth-range",
        "search-bound-not-dfs", "search-unknown-key", "frames-unknown-config", "frames-mixed-table-first",
        "frames-mixed-string-first", "frames-per-config-not-string", "frames-per-config-empty-name",
        "frames-per-config-bad-stack", "frames-per-config-empty-table", "frames-array",
        "frames-not-table"])
def test_invalid_manifest_is_one_precise_error(tmp_path, old, new, message):
    assert old in MINIMAL
    with pytest.raises(UsageError) as error:
        load_text(tmp_path, MINIMAL.replace(old, new, 1))
    text = str(error.value)
    assert message in text
    assert "m.toml" in text and "\n" not in text


def test_duplicate_scenario_names(tmp_path):
    with pytest.raises(UsageError, match="duplicate scenario name 'wrapper-drop'"):
        load_text(tmp_path, MINIMAL + MINIMAL[MINIMAL.index("[[scenario]]"):])


def test_no_configs_or_no_scenarios(tmp_path):
    with pytest.raises(UsageError, match="no \\[config.NAME\\] tables"):
        load_text(tmp_path, MINIMAL[MINIMAL.index("[[scenario]]"):])
    with pytest.raises(UsageError, match="no \\[\\[scenario\\]\\] entries"):
        load_text(tmp_path, MINIMAL[:MINIMAL.index("[[scenario]]")])


def test_invalid_toml_and_missing_file(tmp_path):
    with pytest.raises(UsageError, match="m.toml: invalid TOML: .*line 2"):
        load_text(tmp_path, "[config.asan]\npreset = \n")
    with pytest.raises(UsageError, match="does not exist"):
        manifest.load(tmp_path / "absent.toml")


@pytest.mark.parametrize("selection, message", [
    ({"classes": ["nope"]}, "unknown class 'nope'"),
    ({"classes": ["gc-async"]}, "class 'gc-async' has no scenarios"),
    ({"scenarios": ["wrapper-drp"]}, "unknown scenario 'wrapper-drp'"),
    ({"classes": ["double-close"], "scenarios": ["nope"]}, "unknown scenario 'nope'"),
    ({"configs": ["tsan"]}, "unknown config 'tsan'"),
])
def test_selection_errors(tmp_path, selection, message):
    m = load_text(tmp_path, MINIMAL)
    with pytest.raises(UsageError, match=message):
        m.select(**selection)


def test_selection_filters(tmp_path):
    m = load_text(tmp_path, MINIMAL)
    assert len(m.select()) == 4
    assert [r.id for r in m.select(configs=["plain"], variants=["fixed"])] == [
        "double-close/wrapper-drop/fixed/plain"]
    assert len(m.select(classes=["double-close"], scenarios=["wrapper-drop"])) == 4


def test_every_lifeguard_kind_names_its_detector():
    """kinds.DETECTOR_OF: the armed checks of clean twins look a fault's detector up there."""
    from lifeguard_cli.kinds import DETECTOR_OF, LIFEGUARD_KINDS
    assert sorted(DETECTOR_OF) == sorted(LIFEGUARD_KINDS)
    assert set(DETECTOR_OF.values()) == {"pageheap", "fdcheck", "modcheck", "sched", "oracle",
                                         "check"}

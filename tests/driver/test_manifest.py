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
    assert m.scenarios[0].search == ("dfs", 300)
    assert m.scenarios[0].run_args == ["--strategy", "dfs", "--iterations", "300"]


def test_outcome_per_config_table(tmp_path):
    m = load_text(tmp_path, MINIMAL.replace(
        'buggy = "double-close"', 'buggy = { asan = "heap-use-after-free", plain = "use-after-free" }'))
    assert [r.expected for r in m.rows() if r.variant == "buggy"] == [
        "heap-use-after-free", "use-after-free"]


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
], ids=["unknown-config", "bad-outcome", "observed-only-word", "missing-key", "unknown-key",
        "wrong-type", "empty-list", "unknown-class", "name-not-string", "table-missing-config",
        "table-extra-config", "outcome-wrong-type", "env-not-string", "frames-not-string",
        "program-path", "unknown-top-key", "search-strategy", "search-iterations",
        "search-missing-iterations"])
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

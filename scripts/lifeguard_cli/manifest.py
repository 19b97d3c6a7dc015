"""scenarios/manifest.toml: what every scenario must produce, read and strictly validated.

load() returns a Manifest or raises UsageError with one line naming the file, the key and the
value that is wrong. Nothing downstream re-checks types: after load() the data is trusted.
"""

import difflib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from . import kinds
from .errors import UsageError
from .paths import display

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_FAULT = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_STACK = re.compile(r"^[a-z][a-z0-9_]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_TOP_KEYS = {"config", "scenario"}
_CONFIG_REQUIRED = {"preset"}
_CONFIG_OPTIONAL = {"description", "env"}
_SCENARIO_REQUIRED = {"name", "class", "program", "faults", "configs", "buggy", "fixed"}
_SCENARIO_OPTIONAL = {"frames", "about", "search"}
_SEARCH_STRATEGIES = ("random", "pct", "dfs")
_SEARCH_OPTIONAL = {"depth", "bound", "seed"}


@dataclass(frozen=True)
class Search:
    """How a matrix run of a scenario looks for its fault: `iterations` executions chosen by
    `strategy`, with PCT's `depth`, dfs's preemption `bound` and the first `seed` when given
    (the program's defaults otherwise). The fixed variant must be clean on all of them."""

    strategy: str
    iterations: int
    depth: int = None
    bound: int = None
    seed: int = None

    @property
    def args(self):
        """The scenario program's arguments for this search."""
        args = ["--strategy", self.strategy, "--iterations", str(self.iterations)]
        for name in ("depth", "bound", "seed"):
            value = getattr(self, name)
            if value is not None:
                args += [f"--{name}", str(value)]
        return args


@dataclass(frozen=True)
class Config:
    """A build configuration: the CMake preset that builds it and the environment its runs get."""

    name: str
    preset: str
    description: str = ""
    env: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    """One scenario of one class program, with its expected outcome per variant and config."""

    name: str
    cls: str
    program: str
    faults: tuple
    configs: tuple
    buggy: dict  # config name -> outcome word
    fixed: dict  # config name -> outcome word
    frames: dict  # config name -> {stack name -> function the top frame of that stack must be in}
    about: str = ""
    search: Search = None  # how a matrix run searches; None = one random schedule

    @property
    def run_args(self):
        """The program arguments of one matrix run beyond scenario and variant."""
        if not self.search:
            return ["--iterations", "1"]
        return self.search.args

    def expected(self, variant, config_name):
        """The outcome word this scenario must produce in `variant` under `config_name`."""
        return (self.buggy if variant == "buggy" else self.fixed)[config_name]

    def frames_for(self, config_name):
        """{stack: function} to check in reports under `config_name` ({} = no check)."""
        return self.frames.get(config_name, {})


@dataclass(frozen=True)
class Row:
    """One line of the matrix: a scenario, a variant, a configuration."""

    scenario: Scenario
    variant: str
    config: Config

    @property
    def expected(self):
        return self.scenario.expected(self.variant, self.config.name)

    @property
    def frames(self):
        """The frames to check, {stack: function}: only for buggy rows that must report a
        fault, and only under a config the scenario's `frames` covers."""
        if self.variant == "buggy" and self.expected != kinds.CLEAN:
            return self.scenario.frames_for(self.config.name)
        return {}

    @property
    def id(self):
        return f"{self.scenario.cls}/{self.scenario.name}/{self.variant}/{self.config.name}"


@dataclass(frozen=True)
class Manifest:
    path: Path
    configs: dict  # name -> Config, in manifest order
    scenarios: tuple

    def rows(self):
        """Every row, in manifest order: scenario, then variant (buggy, fixed), then config."""
        return [
            Row(scenario, variant, self.configs[name])
            for scenario in self.scenarios
            for variant in kinds.VARIANTS
            for name in scenario.configs
        ]

    def select(self, classes=(), scenarios=(), configs=(), variants=()):
        """The rows matching every non-empty filter. Raises UsageError for a name the manifest
        does not know, a class with no scenarios, or a selection that leaves no rows."""
        for cls in classes:
            if cls not in kinds.CLASSES:
                raise UsageError(f"unknown class {cls!r} (classes: {', '.join(kinds.CLASSES)})")
            if not any(s.cls == cls for s in self.scenarios):
                raise UsageError(f"class {cls!r} has no scenarios in {display(self.path)} yet")
        known = {s.name: s for s in self.scenarios}
        for name in scenarios:
            if name not in known:
                raise UsageError(f"unknown scenario {name!r} in {display(self.path)}"
                                 + _did_you_mean(name, known))
            if classes and known[name].cls not in classes:
                raise UsageError(f"scenario {name!r} is in class {known[name].cls!r}, "
                                 f"not in {', '.join(classes)}")
        for name in configs:
            if name not in self.configs:
                raise UsageError(f"unknown config {name!r} in {display(self.path)} "
                                 f"(configs: {', '.join(self.configs)})")
        for variant in variants:
            if variant not in kinds.VARIANTS:
                raise UsageError(f"unknown variant {variant!r} (variants: buggy, fixed)")
        rows = [
            row for row in self.rows()
            if (not classes or row.scenario.cls in classes)
            and (not scenarios or row.scenario.name in scenarios)
            and (not configs or row.config.name in configs)
            and (not variants or row.variant in variants)
        ]
        if not rows:
            raise UsageError("no matrix rows match that selection "
                             "(no selected scenario runs under the selected configs)")
        return rows


def load(path):
    """Read and validate the manifest at `path`. Raises UsageError on any problem."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise UsageError(f"manifest {display(path)} does not exist") from None
    except OSError as e:
        raise UsageError(f"cannot read manifest {display(path)}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{display(path)}: invalid TOML: {e}") from None
    return _Validator(path).manifest(data)


def _did_you_mean(word, choices):
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _type_name(value):
    return {str: "a string", bool: "a boolean", int: "an integer", float: "a float",
            list: "an array", dict: "a table"}.get(type(value), type(value).__name__)


class _Validator:
    """Checks one manifest; every error names the file and the key path."""

    def __init__(self, path):
        self.path = path

    def fail(self, where, message):
        raise UsageError(f"{display(self.path)}: {where}: {message}")

    def keys(self, where, table, required, optional):
        for key in table:
            if key not in required | optional:
                self.fail(where, f"unknown key {key!r} (allowed: {', '.join(sorted(required | optional))})")
        for key in sorted(required):
            if key not in table:
                self.fail(where, f"missing key {key!r}")

    def typed(self, where, value, expected_type):
        # bool is a subclass of int in Python; TOML keeps them apart, and so do we.
        if not isinstance(value, expected_type) or (expected_type is int and isinstance(value, bool)):
            self.fail(where, f"must be {_type_name(expected_type())}, not {_type_name(value)} ({value!r})")
        return value

    def name(self, where, value, pattern=_NAME):
        self.typed(where, value, str)
        if not pattern.match(value):
            self.fail(where, f"{value!r} is not a valid name (expected {pattern.pattern})")
        return value

    def manifest(self, data):
        self.keys("top level", data, set(), _TOP_KEYS)
        configs_table = self.typed("config", data.get("config", {}), dict)
        if not configs_table:
            self.fail("config", "no [config.NAME] tables: at least one configuration is needed")
        configs = {name: self.config(name, table) for name, table in configs_table.items()}
        scenario_list = self.typed("scenario", data.get("scenario", []), list)
        if not scenario_list:
            self.fail("scenario", "no [[scenario]] entries")
        scenarios = []
        seen = set()
        for index, table in enumerate(scenario_list):
            scenario = self.scenario(index, table, configs)
            if scenario.name in seen:
                self.fail(f"scenario[{index}].name", f"duplicate scenario name {scenario.name!r}")
            seen.add(scenario.name)
            scenarios.append(scenario)
        return Manifest(self.path, configs, tuple(scenarios))

    def config(self, name, table):
        where = f"config.{name}"
        self.name(where, name)
        self.typed(where, table, dict)
        self.keys(where, table, _CONFIG_REQUIRED, _CONFIG_OPTIONAL)
        preset = self.name(f"{where}.preset", table["preset"])
        description = self.typed(f"{where}.description", table.get("description", ""), str)
        env = self.typed(f"{where}.env", table.get("env", {}), dict)
        for key, value in env.items():
            if not _ENV_NAME.match(key):
                self.fail(f"{where}.env", f"{key!r} is not an environment variable name")
            self.typed(f"{where}.env.{key}", value, str)
        return Config(name, preset, description, dict(env))

    def scenario(self, index, table, configs):
        where = f"scenario[{index}]"
        self.typed(where, table, dict)
        if isinstance(table.get("name"), str):
            where = f"scenario {table['name']!r}"
        self.keys(where, table, _SCENARIO_REQUIRED, _SCENARIO_OPTIONAL)
        name = self.name(f"{where}.name", table["name"])
        cls = self.typed(f"{where}.class", table["class"], str)
        if cls not in kinds.CLASSES:
            self.fail(f"{where}.class", f"unknown class {cls!r} (classes: {', '.join(kinds.CLASSES)})")
        program = self.name(f"{where}.program", table["program"])
        faults = self.string_list(f"{where}.faults", table["faults"], _FAULT)
        config_names = self.string_list(f"{where}.configs", table["configs"], _NAME)
        for config_name in config_names:
            if config_name not in configs:
                self.fail(f"{where}.configs", f"unknown config {config_name!r}"
                          f" (defined: {', '.join(configs)})")
        buggy = self.outcomes(f"{where}.buggy", table["buggy"], config_names)
        fixed = self.outcomes(f"{where}.fixed", table["fixed"], config_names)
        frames = self.frames(f"{where}.frames", table.get("frames", {}), config_names)
        about = self.typed(f"{where}.about", table.get("about", ""), str)
        search = self.search(f"{where}.search", table["search"]) if "search" in table else None
        return Scenario(name, cls, program, tuple(faults), tuple(config_names), buggy, fixed,
                        frames, about, search)

    def frames(self, where, value, config_names):
        """Either {stack = "function"} for every config, or {config = {stack = "function"}}
        for some of `config_names` (a config left out gets no frames check). Returns the
        second form: config name -> {stack: function}."""
        self.typed(where, value, dict)
        tables = [key for key, item in value.items() if isinstance(item, dict)]
        if not tables:
            stacks = self.stacks(where, value)
            return {name: dict(stacks) for name in config_names} if stacks else {}
        others = [key for key in value if key not in tables]
        if others:
            self.fail(where, f"mixes the two forms: {tables[0]!r} is a table (config = "
                             f"{{stack = \"function\"}}) but {others[0]!r} is "
                             f"{_type_name(value[others[0]])} (stack = \"function\"); "
                             f"use one form for the whole table")
        for name in value:
            if name not in config_names:
                self.fail(where, f"config {name!r} is not in this scenario's configs "
                                 f"({', '.join(config_names)})")
        per_config = {}
        for name in config_names:
            if name in value:
                stacks = self.stacks(f"{where}.{name}", value[name])
                if not stacks:
                    self.fail(f"{where}.{name}", "is empty (leave the config out of frames "
                                                 "to check no frames under it)")
                per_config[name] = stacks
        return per_config

    def stacks(self, where, table):
        """{stack = "function"}: the top frame of each named stack must be in that function."""
        for stack, function in table.items():
            self.name(where, stack, _STACK)
            self.typed(f"{where}.{stack}", function, str)
            if not function:
                self.fail(f"{where}.{stack}", "function name is empty")
        return dict(table)

    def search(self, where, table):
        """{strategy = random|pct|dfs, iterations = N[, depth = D][, bound = B][, seed = S]}:
        how a matrix run looks for the fault (a race needs more than one schedule); the
        fixed variant must pass the same search. depth is PCT's (1-64), bound dfs's
        preemption bound."""
        self.typed(where, table, dict)
        self.keys(where, table, {"strategy", "iterations"}, _SEARCH_OPTIONAL)
        strategy = self.typed(f"{where}.strategy", table["strategy"], str)
        if strategy not in _SEARCH_STRATEGIES:
            self.fail(f"{where}.strategy", f"{strategy!r} is not one of {', '.join(_SEARCH_STRATEGIES)}")
        iterations = self.typed(f"{where}.iterations", table["iterations"], int)
        if iterations < 1:
            self.fail(f"{where}.iterations", f"must be at least 1, not {iterations}")
        depth = bound = seed = None
        if "depth" in table:
            if strategy != "pct":
                self.fail(f"{where}.depth", f"is PCT's; strategy {strategy!r} takes none")
            depth = self.typed(f"{where}.depth", table["depth"], int)
            if not 1 <= depth <= 64:
                self.fail(f"{where}.depth", f"must be from 1 to 64, not {depth}")
        if "bound" in table:
            if strategy != "dfs":
                self.fail(f"{where}.bound", f"is dfs's; strategy {strategy!r} takes none")
            bound = self.typed(f"{where}.bound", table["bound"], int)
            if bound < 0:
                self.fail(f"{where}.bound", f"must be 0 or more, not {bound}")
        if "seed" in table:
            seed = self.typed(f"{where}.seed", table["seed"], int)
            if seed < 0:
                self.fail(f"{where}.seed", f"must be 0 or more, not {seed}")
        return Search(strategy, iterations, depth, bound, seed)

    def string_list(self, where, value, pattern):
        self.typed(where, value, list)
        if not value:
            self.fail(where, "must not be empty")
        for item in value:
            self.name(where, item, pattern)
        if len(set(value)) != len(value):
            self.fail(where, f"has duplicates: {value!r}")
        return value

    def outcomes(self, where, value, config_names):
        """One word for every config, or a table {config = word} covering exactly `configs`."""
        if isinstance(value, str):
            return {name: self.outcome(where, value) for name in config_names}
        if not isinstance(value, dict):
            self.fail(where, f"must be an outcome word or a table {{config = word}}, "
                             f"not {_type_name(value)} ({value!r})")
        for name in value:
            if name not in config_names:
                self.fail(where, f"config {name!r} is not in this scenario's configs "
                                 f"({', '.join(config_names)})")
        for name in config_names:
            if name not in value:
                self.fail(where, f"no outcome for config {name!r}")
        return {name: self.outcome(f"{where}.{name}", value[name]) for name in config_names}

    def outcome(self, where, word):
        self.typed(where, word, str)
        word = kinds.ALIASES.get(word, word)
        if word not in kinds.OUTCOMES:
            self.fail(where, f"{word!r} is not an outcome word (clean or a fault kind)"
                             + _did_you_mean(word, kinds.OUTCOMES))
        return word

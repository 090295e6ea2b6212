"""The records a run leaves: cases, test outputs, cell results and the run itself.

They depend on nothing of the workbench but the status enum, so a report, a
comparison or another tool can read a run folder without the build or boot
machinery. Each record turns into JSON and back (`to_json` / `from_json`); a
`run.json` written by the first wave (no state, no configs, no words) still loads.
"""
from __future__ import annotations

import enum
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .status import Status

Json = dict[str, Any]
BASE = "base"  # the column of the unchanged tree, and the change of its cells


@dataclass(frozen=True)
class Case:
    """One test case of one test binary."""

    test: str  # the binary: "cow", "probe"
    name: str  # the case, sizes included: "Basic COW after fork() ... with swapped-out, PTE-mapped THP (2048 kB)"
    status: Status
    reason: str = ""  # skip / fail reason as printed
    env_skip: bool = False  # a SKIP because the guest lacked something, not a verdict on the kernel
    group: str = ""  # "Basic COW after fork()"
    number: int = 0  # the TAP number (changes between versions: never match on it)
    evidence: str = ""  # a `# evidence: ...` line the test printed for the case (what it saw, whatever the verdict)

    @property
    def key(self) -> str:
        return f"{self.test}: {self.name}"

    def to_json(self) -> Json:
        return {"test": self.test, "name": self.name, "status": self.status.value, "reason": self.reason,
                "env_skip": self.env_skip, "group": self.group, "number": self.number} | \
            ({"evidence": self.evidence} if self.evidence else {})

    @classmethod
    def from_json(cls, d: Json) -> Case:
        return cls(test=d["test"], name=d["name"], status=Status(d["status"]), reason=d.get("reason", ""),
                   env_skip=d.get("env_skip", False), group=d.get("group", ""), number=d.get("number", 0),
                   evidence=d.get("evidence", ""))


@dataclass
class TestOutput:
    """What one test binary produced (see guest/tap.py for how its status is reached)."""

    __test__ = False  # not a pytest test class

    test: str
    status: Status
    cases: list[Case]
    plan: int | None
    complete: bool  # plan reached (or no plan but a Totals line / exit code seen)
    exit_code: int | None
    reason: str = ""  # of `1..0 # SKIP ...` or `Bail out!`; a runner's failing line; the case running when cut short
    totals: dict[str, int] | None = None
    measurements: dict[str, float] = field(default_factory=dict)  # `# [COST] label: 12.3 ms` lines, in ms

    def to_json(self) -> Json:
        return {"test": self.test, "status": self.status.value, "cases": [c.to_json() for c in self.cases],
                "plan": self.plan, "complete": self.complete, "exit_code": self.exit_code,
                "reason": self.reason, "totals": self.totals, "measurements": self.measurements}

    @classmethod
    def from_json(cls, d: Json) -> TestOutput:
        return cls(test=d["test"], status=Status(d["status"]), cases=[Case.from_json(c) for c in d["cases"]],
                   plan=d.get("plan"), complete=d.get("complete", False), exit_code=d.get("exit_code"),
                   reason=d.get("reason", ""), totals=d.get("totals"), measurements=d.get("measurements", {}))


@dataclass(frozen=True)
class Spot:
    """A line coverage speaks of: a study site (`kind` "site": its condition's line, `label` its role) or
    a line the column changed (`kind` "changed", `label` its text). A site's decisions are read from line
    counts: `after` is the first line after its if-statement, reached only when the check said exclusive
    (0: not separable, `how` says why)."""

    file: str  # "mm/madvise.c"
    line: int
    kind: str  # "site" | "changed"
    label: str
    after: int = 0
    how: str = ""
    unobservable: str = ""  # a site no user space program can observe: why (its counts get no verdict)

    @property
    def separable(self) -> bool:
        return self.kind == "site" and self.after > 0


@dataclass(frozen=True)
class Tally:
    """One spot in one window (a test, or one case of it): how often its line ran (None: gcov counts no
    code on that line) and, for a separable site, how often its check said shared and exclusive."""

    count: int | None
    shared: int | None = None
    exclusive: int | None = None

    def to_json(self) -> Json:
        return {"count": self.count} | ({"shared": self.shared, "exclusive": self.exclusive}
                                       if self.shared is not None else {})


@dataclass
class Coverage:
    """A cell's gcov counts: the profiled objects, the spots, and per test (and per case, where the
    test marks its cases: the probes) one tally per spot, in `spots` order. `missing` says why a cell
    of a coverage config has no counts (never shown as zeros)."""

    objects: list[str] = field(default_factory=list)  # "mm/madvise.o"
    spots: list[Spot] = field(default_factory=list)
    tests: dict[str, list[Tally]] = field(default_factory=dict)
    cases: dict[str, dict[str, list[Tally]]] = field(default_factory=dict)  # test -> case name -> tallies
    missing: str = ""

    def reached(self, spot: int) -> dict[str, int | None]:
        """{test: how often spot number `spot` ran in it}."""
        return {test: tallies[spot].count for test, tallies in self.tests.items()}

    def site(self, role: str) -> dict[str, Tally]:
        """{test: the tally} of the first site whose label starts with `role` ("PTE final check"), {}
        when there is none: how often it ran and how it decided, per test."""
        index = next((i for i, s in enumerate(self.spots) if s.kind == "site" and s.label.startswith(role)), None)
        return {} if index is None else {test: tallies[index] for test, tallies in self.tests.items()}

    def to_json(self) -> Json:
        return {"objects": self.objects, "spots": [asdict(s) for s in self.spots],
                "tests": {t: [x.to_json() for x in v] for t, v in self.tests.items()},
                "cases": {t: {c: [x.to_json() for x in v] for c, v in cs.items()} for t, cs in self.cases.items()},
                "missing": self.missing}

    @classmethod
    def from_json(cls, d: Json) -> Coverage:
        def tallies(v: list[Json]) -> list[Tally]:
            return [Tally(x.get("count"), x.get("shared"), x.get("exclusive")) for x in v]
        return cls(objects=list(d.get("objects", [])), spots=[Spot(**s) for s in d.get("spots", [])],
                   tests={t: tallies(v) for t, v in d.get("tests", {}).items()},
                   cases={t: {c: tallies(v) for c, v in cs.items()} for t, cs in d.get("cases", {}).items()},
                   missing=d.get("missing", ""))


@dataclass
class CellResult:
    """One cell (base x variant x config x tests, one repeat): how it ended and everything it said."""

    identity: str
    base: str
    variant: str
    commit: str
    status: Status
    config: str = ""  # the config's name, e.g. "minimal" or "minimal+debug"
    executor: str = ""  # what booted it: "vng (tcg)", a lab's name and device type
    tests: dict[str, TestOutput] = field(default_factory=dict)
    not_run: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    splat: list[str] = field(default_factory=list)
    reason: str = ""
    kernelversion: str = ""
    accel: str = ""
    repeat: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    recompiled: list[str] = field(default_factory=list)
    build_errors: list[str] = field(default_factory=list)
    dir: str = ""
    cached: bool = False
    same_code: bool = False  # its kernel is the base's, byte for byte: the base's result, under this name
    detail: str = ""  # the executor's own words on how the boot ended ("vng exited 0", a lab's job id and URL)
    earlier: list[str] = field(default_factory=list)  # why earlier boots of it in this run did not count
    guests: int = 1  # the most guests booting at once on the host while it booted, itself included
    session: str = ""  # the invocation that booted it (a cached cell keeps its own): cost rows compare within one
    phases: dict[str, float] = field(default_factory=dict)  # where its boot's seconds went (guest/script.py)
    coverage: Coverage | None = None  # gcov's counts, with a coverage config (workbench/coverage/)

    @property
    def cases(self) -> list[Case]:
        return [c for out in self.tests.values() for c in out.cases]

    @property
    def label(self) -> str:
        return self.variant + (f" #{self.repeat + 1}" if self.repeat else "")

    def to_json(self) -> Json:
        d = asdict(self)
        d["status"] = self.status.value
        d["tests"] = {k: v.to_json() for k, v in self.tests.items()}
        d["coverage"] = self.coverage.to_json() if self.coverage else None
        return d

    @classmethod
    def from_json(cls, d: Json) -> CellResult:
        d = dict(d)
        d["status"] = Status(d["status"])
        d["tests"] = {k: TestOutput.from_json(v) for k, v in d.get("tests", {}).items()}
        d["coverage"] = Coverage.from_json(d["coverage"]) if d.get("coverage") else None
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


class RunKind(str, enum.Enum):
    MATRIX = "matrix"  # base and variants
    RUN = "run"  # one cell
    BISECT = "bisect"
    CHECK = "check"  # check-variants
    SERIES = "series"  # series --boot

    def __str__(self) -> str:
        return self.value


class RunState(str, enum.Enum):
    """Where a run is. A REFUSED run never gets a folder (the prologue checks everything first)."""

    RUNNING = "running"
    INTERRUPTED = "interrupted"  # stopped by Ctrl-C, an error or a kill: what it finished is kept
    FINISHED = "finished"
    REFUSED = "refused"

    def __str__(self) -> str:
        return self.value


@dataclass
class Run:
    dir: Path
    kind: RunKind
    base: str
    commit: str
    kernelversion: str
    study: str
    tests: list[str]
    variants: list[str]  # columns: "base" first
    command: str  # reproduces the run (quoted)
    tree: str = ""
    configs: list[str] = field(default_factory=list)  # column groups, e.g. ["minimal", "minimal+debug"]
    config_hashes: dict[str, str] = field(default_factory=dict)  # config -> hash of its .config
    accel: str = ""
    executor: str = ""
    toolchain: str = ""
    same_as_base: list[str] = field(default_factory=list)
    approximate: list[str] = field(default_factory=list)
    patches: dict[str, str] = field(default_factory=dict)  # variant -> commit id
    sources: dict[str, str] = field(default_factory=dict)  # a column the user brought -> where it came from
    computes: dict[str, str] = field(default_factory=dict)  # a column whose helper is a prototype -> what it computes
    # config -> column -> {"accuracy": exact|approximate|refused, "label"}: where a prototype's C depends on an option,
    # what the column computes under that config's built .config (it wins over `approximate` and `computes` there)
    per_config: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    not_run: list[str] = field(default_factory=list)
    cells: list[CellResult] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    started: str = field(default_factory=lambda: time.strftime("%Y-%m-%d %H:%M:%S"))
    finished: str = ""
    state: RunState = RunState.RUNNING
    pid: int = field(default_factory=os.getpid)
    vm: Json = field(default_factory=dict)  # the guest settings the cells ran with
    settings: Json = field(default_factory=dict)  # every effective setting (invoke.yaml, INVOKE_*, flags)
    words: dict[str, Json] = field(default_factory=dict)  # probe -> how its verdicts read (the study's data)
    versions: dict[str, str] = field(default_factory=dict)
    extra: Json = field(default_factory=dict)  # stage-specific records (bisect steps, ...)

    def __post_init__(self) -> None:
        self.kind, self.state = RunKind(self.kind), RunState(self.state)

    @property
    def id(self) -> str:
        return self.dir.name

    @property
    def config(self) -> str:
        """The first config (the only one, for most runs)."""
        return self.configs[0] if self.configs else ""

    def cell(self, variant: str, repeat: int = 0, config: str | None = None) -> CellResult | None:
        for c in self.cells:
            if c.variant == variant and c.repeat == repeat and (config is None or c.config in (config, "")):
                return c
        return None

    def add(self, cell: CellResult) -> None:
        """Record a cell, replacing an earlier one of the same variant, config and repeat."""
        self.cells = [c for c in self.cells if (c.variant, c.config, c.repeat) != (cell.variant, cell.config,
                                                                                     cell.repeat)]
        self.cells.append(cell)

    def to_json(self) -> Json:
        d = {k: v for k, v in asdict(self).items() if k not in ("dir", "cells")}
        d.update(id=self.id, kind=self.kind.value, state=self.state.value, cells=[c.to_json() for c in self.cells])
        return d

    @classmethod
    def from_json(cls, path: Path, data: Json) -> Run:
        """A run from its run.json `data`; first-wave records (no state, `fragments`, `config_hash`) too."""
        known = set(cls.__dataclass_fields__) - {"dir", "cells", "kind", "state"}
        fields: Json = {k: v for k, v in data.items() if k in known}
        if "configs" not in data and data.get("fragments"):
            fields["configs"] = ["+".join(data["fragments"])]
        if "config_hashes" not in data and data.get("config_hash") and fields.get("configs"):
            fields["config_hashes"] = {fields["configs"][0]: data["config_hash"]}
        state = data.get("state") or (RunState.FINISHED.value if data.get("finished") else RunState.INTERRUPTED.value)
        run = cls(dir=path, kind=RunKind(data["kind"]), state=RunState(state), **fields)
        run.cells = [CellResult.from_json(c) for c in data.get("cells", [])]
        return run

    def save(self) -> None:
        """Write run.json atomically (a reader never sees half a file)."""
        write_atomic(self.dir / "run.json", json.dumps(self.to_json(), indent=1))

    @classmethod
    def load(cls, path: Path) -> Run:
        data = json.loads((path / "run.json").read_text())
        if not isinstance(data, dict):
            raise TypeError(f"run.json holds a {type(data).__name__}, not an object")
        return cls.from_json(path, data)


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)

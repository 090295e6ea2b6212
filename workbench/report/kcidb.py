"""KCIDB JSON: a run as KernelCI's common reporting database takes it (schema v5, as the
`kcidb-io` package defines it), validated with that package's own schema before it is written.

One checkout per column (the base commit, and the column's patch: `patchset_hash` over the
run's copy of it, `patchset_files` when `--patch-url` says where it is published), one build
per column and config, one test per case and boot under it: a test binary is a node
(`cow`, `probe`), each of its cases a child (`cow.<slug>`), each cost a probe measured a
`DONE` test with its number. A path part may hold only `[A-Za-z0-9_-]`, so a case name is
slugged (a repeated slug gets `-2`, `-3`) and kept whole in the test's `comment`; a probe's
verdict in the study's words is in `misc`. KCIDB has no XFAIL: it becomes `DONE` (the test ran
to its end and says nothing of the code: the kernel behaves as the test knows it to), XPASS and
a crash `FAIL`, a timeout or unreadable output `ERROR`, an infrastructure error `MISS`; the
original status is always in `misc.status`. What cannot be said (no repository URL, no patch
URL) is left out and listed in `Export.notes`.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..records import BASE, CellResult, Run, TestOutput
from ..status import Status
from ..study.words import Words
from .extra import words_of
from .model import Column, Matrix

Json = dict[str, Any]
STATUS = {Status.PASS: "PASS", Status.FAIL: "FAIL", Status.XPASS: "FAIL", Status.CRASH: "FAIL",
          Status.XFAIL: "DONE", Status.SKIP: "SKIP", Status.NOT_RUN: "SKIP", Status.ERROR: "ERROR",
          Status.TIMEOUT: "ERROR", Status.PARSE_ERROR: "ERROR", Status.NO_TESTS: "ERROR",
          Status.BUILD_FAILED: "MISS", Status.INFRA_ERROR: "MISS"}
ORIGIN = re.compile(r"^[a-z0-9_]+$")
_PART = re.compile(r"[^A-Za-z0-9_-]+")
EXCERPT = 16384  # the schema's maxLength of a log excerpt


@dataclass(frozen=True)
class KcidbOptions:
    """Who submits (`origin`, KCIDB's name of the CI system) and where a reader finds the code:
    the repository holding the base commit and the folder where `<variant>.patch` is published."""

    origin: str = "workbench"
    repo_url: str = ""
    patch_url: str = ""
    debian_repo: str = ""  # the Debian import repository: a base from it is in no public repository

    def check(self) -> None:
        if not ORIGIN.match(self.origin):
            raise UserError(f"--origin {self.origin!r}: a KCIDB origin is lower-case letters, digits and '_'",
                            "e.g. --origin my_lab (ask the KCIDB maintainers for the name you submit as).")
        if self.repo_url and not self.repo_url.startswith("https://"):
            raise UserError(f"--repo-url {self.repo_url!r}: KCIDB takes only an https:// URL of the repository",
                            "e.g. --repo-url https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git.")
        if self.patch_url and not self.patch_url.startswith(("https://", "http://")):
            raise UserError(f"--patch-url {self.patch_url!r}: the folder the patches are published in, as a URL",
                            "e.g. --patch-url https://example.org/patches/ (each column's <variant>.patch there).")


@dataclass
class Export:
    data: Json
    notes: list[str] = field(default_factory=list)  # what was left out or mapped, for the user

    @property
    def schema(self) -> str:
        return "{major}.{minor}".format(**self.data["version"])

    @property
    def text(self) -> str:
        return json.dumps(self.data, indent=1, ensure_ascii=False) + "\n"

    def counts(self) -> dict[str, int]:
        return {k: len(self.data.get(k, [])) for k in ("checkouts", "builds", "tests")}


def slug(text: str) -> str:
    """A test path part: runs of anything but [A-Za-z0-9_-] become one '_' ("with base page" ->
    "with_base_page"); never empty."""
    return _PART.sub("_", text).strip("_") or "_"


def export(m: Matrix, options: KcidbOptions, templates: Path | None = None) -> Export:
    """The run of `m` as KCIDB data, validated; a run that does not validate is refused. `templates`:
    where a first-wave run's probe words are read (see extra.words_of)."""
    options.check()
    run = m.run
    words = words_of(run, templates)
    import kcidb_io

    latest = kcidb_io.schema.LATEST
    data: Json = {"version": {"major": latest.major, "minor": latest.minor}, "checkouts": [], "builds": [], "tests": []}
    xfail = 0
    for col in m.columns:
        checkout = _checkout(run, col, options)
        data["checkouts"].append(checkout)
        if col.same_as_base and not col.same_code:
            continue  # no kernel of its own: its results are the base's checkout's
        build = _build(run, col, checkout["id"], options.origin)
        data["builds"].append(build)
        for cell in col.cells:
            tests = _tests(cell, build["id"], options.origin, words)
            xfail += sum(1 for t in tests if t["misc"]["status"] == Status.XFAIL.value)
            data["tests"] += tests
    validate(data, run)
    return Export(data, _notes(run, options, xfail))


def validate(data: Json, run: Run | None = None) -> None:
    """kcidb-io's own schema (the newest it has); a violation is refused, naming the field."""
    import jsonschema
    import kcidb_io

    try:
        kcidb_io.schema.LATEST.validate(data)
    except jsonschema.exceptions.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top)"
        what = f"run {run.id}" if run is not None else "the data"
        raise UserError(f"{what} does not make valid KCIDB data (schema v{kcidb_io.schema.LATEST.major}."
                        f"{kcidb_io.schema.LATEST.minor}): at {where}: {exc.message[:300]}",
                        "Nothing was written. Check that run's run.json (`invoke results` lists the runs that "
                        "can be read); if it is intact, this is a bug in the exporter: report it with the run.")


def patchset_hash(patches: list[Path]) -> str:
    """KCIDB's patchset hash: sha256 over the newline-terminated sha256 of each patch, in order
    (`sha256sum *.patch | cut -c-64 | sha256sum`); "" for no patch."""
    if not patches:
        return ""
    lines = "".join(hashlib.sha256(p.read_bytes()).hexdigest() + "\n" for p in patches)
    return hashlib.sha256(lines.encode()).hexdigest()


def _time(stamp: str) -> str | None:
    """run.json's local "2026-12-04 15:44:34" as RFC 3339 with this host's offset."""
    try:
        return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").astimezone().isoformat()
    except ValueError:
        return None


def _column_id(run: Run, col: Column, origin: str) -> str:
    return f"{origin}:{run.id}:{col.config or 'default'}:{col.variant}"


def _checkout(run: Run, col: Column, options: KcidbOptions) -> Json:
    patch = run.dir / "patches" / f"{col.variant}.patch"
    patches = [patch] if col.variant != BASE and not (col.same_as_base and not col.same_code) and \
        patch.is_file() else []
    out: Json = {"id": _column_id(run, col, options.origin), "origin": options.origin,
                 "git_commit_hash": run.commit, "git_commit_name": run.base,
                 "patchset_hash": patchset_hash(patches), "valid": True,
                 "comment": f"{run.study}: {col.title} at {run.base} (Linux {run.kernelversion})"}
    if options.repo_url:
        out["git_repository_url"] = options.repo_url
    if patches and options.patch_url:
        out["patchset_files"] = [{"name": p.name, "url": options.patch_url.rstrip("/") + "/" + p.name}
                                 for p in patches]
    started = _time(run.started)
    if started:
        out["start_time"] = started
    misc: Json = {"run": run.id, "study": run.study, "variant": col.variant, "config": col.config,
                  "approximate": col.approximate, "same_as_base": col.same_as_base}  # no local paths: it is public
    if col.commit:
        misc["variant_commit"] = col.commit
    for key, said in (("computes", run.computes), ("source", run.sources)):
        if col.variant in said:
            misc[key] = said[col.variant]
    if col.variant != BASE and not patches and not col.same_as_base:
        misc["patch"] = "no copy in the run folder: patchset_hash is empty although the column has a change"
    out["misc"] = misc
    return out


def _build(run: Run, col: Column, checkout_id: str, origin: str) -> Json:
    first: CellResult | None = col.cells[0] if col.cells else None
    failed = first is not None and first.status is Status.BUILD_FAILED
    out: Json = {"id": f"{checkout_id}:build", "checkout_id": checkout_id, "origin": origin,
                 "architecture": "x86_64", "config_name": col.config or "default",
                 "status": "FAIL" if failed else "PASS" if first is not None else "MISS"}
    if run.toolchain:
        out["compiler"] = run.toolchain
    if first is not None and "build" in first.timings:
        out["duration"] = first.timings["build"]
    if failed and first is not None:
        out["log_excerpt"] = "\n".join(first.build_errors)[-EXCERPT:]
    out["misc"] = {"config_hash": run.config_hashes.get(col.config, ""), "kernelversion": run.kernelversion,
                   "same_machine_code_as_base": col.same_code}
    return out


def _tests(cell: CellResult, build_id: str, origin: str, words: dict[str, Words]) -> list[Json]:
    """The cell's tests: a node per test binary, a child per case, a DONE test per cost."""
    env = {"comment": f"{cell.executor or cell.accel} guest, Linux {cell.kernelversion}",
           "misc": {k: v for k, v in cell.env.items() if k not in ("cmdline", "test_dir")}}  # no local paths
    prefix = f"{build_id}:r{cell.repeat + 1}"
    out: list[Json] = []
    for output in cell.tests.values():
        cut = not output.complete and cell.status in (Status.CRASH, Status.TIMEOUT, Status.INFRA_ERROR)
        node = _test(f"{prefix}:{slug(output.test)}", build_id, origin, slug(output.test),
                     cell.status if cut else output.status, output.test, cell)  # cut short: how the boot ended
        node["environment"] = env  # once per boot and binary: its cases ran in the same guest
        if "boot+test" in cell.timings:
            node["misc"]["boot_and_test_seconds"] = cell.timings["boot+test"]
        if output.reason:
            node["misc"]["reason"] = output.reason
        if cell.splat and (cut or output.status in (Status.CRASH, Status.TIMEOUT)):
            node["log_excerpt"] = "\n".join(cell.splat)[-EXCERPT:]
        out.append(node)
        out += _cases(output, node, words.get(output.test), cell)
    return out


def _cases(output: TestOutput, node: Json, words: Words | None, cell: CellResult) -> list[Json]:
    out: list[Json] = []
    seen: dict[str, int] = {}
    for case in output.cases:
        part = slug(case.name)
        seen[part] = seen.get(part, 0) + 1
        part += f"-{seen[part]}" if seen[part] > 1 else ""
        test = _test(f"{node['id']}:{len(out) + 1}", node["build_id"], node["origin"], f"{node['path']}.{part}",
                     case.status, case.name, cell)
        if case.reason:
            test["misc"]["reason"] = case.reason
        if case.env_skip:
            test["misc"]["environment_skip"] = True
        if words is not None:
            test["misc"]["verdict"] = words.word(case)
            mark = words.marks.get(test["misc"]["verdict"])
            if mark:
                test["misc"]["mark"] = mark
        if case.evidence:
            test["misc"]["evidence"] = case.evidence
        out.append(test)
    for label, value in output.measurements.items():
        test = _test(f"{node['id']}:cost{len(out) + 1}", node["build_id"], node["origin"],
                     f"{node['path']}.cost.{slug(label)}", Status.PASS, label, cell)
        test["status"], test["number"] = "DONE", {"value": value / 1000.0, "unit": "s", "prefix": "metric"}
        test["misc"]["status"] = "measurement"
        out.append(test)
    return out


def _test(test_id: str, build_id: str, origin: str, path: str, status: Status, comment: str,
          cell: CellResult) -> Json:
    return {"id": test_id, "build_id": build_id, "origin": origin, "path": path, "status": STATUS[status],
            "comment": comment, "misc": {"status": status.value, "boot": cell.repeat + 1}}


def _notes(run: Run, options: KcidbOptions, xfail: int) -> list[str]:
    notes = []
    debian = bool(options.debian_repo) and run.tree == options.debian_repo
    if options.repo_url and debian:
        notes.append(f"careful: git_commit_hash {run.commit[:12]} is the Debian import's own commit, which "
                     f"{options.repo_url} does not have; git_commit_name {run.base} and the builds' kernelversion "
                     f"{run.kernelversion} say which release it is")
    if not options.repo_url:
        why = ("the base is a Debian source import (an orphan commit in the cache's debian.git, in no public "
               "repository)" if debian else "no --repo-url given")
        notes.append(f"left out: git_repository_url ({why}); git_commit_hash {run.commit[:12]} and "
                     f"git_commit_name {run.base} are the run's")
    if not options.patch_url:
        notes.append("left out: patchset_files (no --patch-url: where each column's <variant>.patch is published); "
                     "patchset_hash is there")
    if xfail:
        notes.append(f"mapped: {xfail} XFAIL tests as DONE (KCIDB has no XFAIL; misc.status keeps it)")
    return notes

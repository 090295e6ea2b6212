"""JSON for other tools: the run's header, every column with its cells, every row, the totals,
the flaky cases and the study's tables (format `kernel-workbench-report`, version 2: columns
carry their config; a cell of a coverage config carries its `coverage`: spots, tallies per test and
per case)."""
from __future__ import annotations

from typing import Any

from .common import executor_of
from .extra import ExtraTable
from .model import Matrix


def to_json(m: Matrix, extras: list[ExtraTable]) -> dict[str, Any]:
    run = m.run
    return {
        "format": "kernel-workbench-report", "version": 2,
        "run": {"id": run.id, "kind": run.kind.value, "state": run.state.value, "study": run.study, "base": run.base,
                "commit": run.commit, "kernelversion": run.kernelversion, "tests": run.tests, "accel": run.accel,
                "executor": executor_of(run), "command": run.command, "configs": run.configs,
                "config_hashes": run.config_hashes, "toolchain": run.toolchain, "started": run.started,
                "finished": run.finished, "timings": run.timings, "repeats": m.repeats, "vm": run.vm},
        "columns": [{"index": c.index, "variant": c.variant, "config": c.config, "name": c.name,
                     "same_as_base": c.same_as_base, "approximate": c.approximate, "computes": c.computes, "commit": c.commit,
                     "status": c.status.value, "reason": c.reason,
                     "cells": [{"repeat": x.repeat, "status": x.status.value, "reason": x.reason, "splat": x.splat,
                                "build_errors": x.build_errors, "timings": x.timings, "env": x.env,
                                "cached": x.cached, "identity": x.identity,
                                "coverage": x.coverage.to_json() if x.coverage else None} for x in c.cells]}
                    for c in m.columns],
        "rows": [{"key": r.key, "test": r.test, "name": r.name, "differs": r.differs, "flaky": r.flaky,
                  "cells": {col.name: {"status": c.status.value, "statuses": [s.value for s in c.statuses],
                                       "label": c.label, "reason": c.reason, "env": c.env_skip,
                                       "differs": c.differs, "same_as_base": c.same_as_base,
                                       "from_cell": c.from_cell}
                            for col, c in zip(m.columns, r.cells)}} for r in m.rows],
        "totals": {c.name: {**t.counts, "env_skips": t.env_skips} for c, t in zip(m.columns, m.totals)},
        "flaky": [{"variant": f.variant, "key": f.key, "statuses": [s.value for s in f.statuses]} for f in m.flaky],
        "not_run": m.not_run,
        "extra_tables": [t.to_json() for t in extras],
    }

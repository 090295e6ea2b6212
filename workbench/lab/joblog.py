"""A LAVA job's log, as `GET /api/v0.2/jobs/N/logs/` gives it, and what the workbench reads in it.

The log is YAML written one line per record, each a flow mapping with every scalar
double-quoted (lava_common/log.py: `yaml_dump(..., default_flow_style=True, default_style='"')`):

    - {"dt": "2026-12-01T09:57:34.542", "lvl": "target", "msg": "### WORKBENCH-GUEST-START"}
    - {"dt": "...", "lvl": "results", "msg": {"case": "job", "definition": "lava", "error_msg": "...",
       "error_type": "Infrastructure", "result": "fail"}}

Nearly every line is also JSON; the rest use YAML's own escapes (`\\e`, `\\xHH`, `\\N`, ...) or
tags (`! "3568640"`), which are rewritten to JSON here (no YAML library needed). `lvl: target`
lines are the serial console, in order: `console()` rebuilds it for the same TAP parser and
splat detection a local cell's console goes through. `failure()` says why a job that did not end
Complete ended, in LAVA's own words.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_YAML_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|U[0-9a-fA-F]{8}|u[0-9a-fA-F]{4}|.)")
_JSON_ESCAPES = {'"': '\\"', "\\": "\\\\", "/": "/", "b": "\\b", "f": "\\f", "n": "\\n", "r": "\\r", "t": "\\t"}
_YAML_ONLY = {"0": "\x00", "a": "\x07", "v": "\x0b", "e": "\x1b", " ": " ", "N": "\x85", "_": "\xa0",
              "L": "\u2028", "P": "\u2029", "\t": "\t"}
_TAG = re.compile(r'(?<=[{\[,:] )!{1,2}[^\s"]*\s+(?=")')
_MSG = re.compile(r'"msg": "(.*)"\}\s*$')
_STAMP = re.compile(r"\[\s*\d+\.\d{6}\] ")
_ANSI = re.compile(r"\x1b(\[[0-9;?]*[A-Za-z]|[@-Z\\-_])")


@dataclass(frozen=True)
class Entry:
    dt: str
    lvl: str  # target, info, debug, error, results, input, feedback, exception, ...
    msg: Any  # a string, or a mapping for `results`


@dataclass(frozen=True)
class Failure:
    """Why a job did not end Complete: `kind` is fetch (a worker could not get an artifact),
    timeout (LAVA stopped an action that took too long), canceled, or other; `text` is LAVA's."""

    kind: str
    text: str


def parse(text: str) -> list[Entry]:
    """Every record of the log, in order; a line that cannot be read keeps its message as text."""
    out = []
    for line in text.splitlines():
        if not line.startswith("- "):
            continue
        record = _record(line[2:])
        if record is not None:
            out.append(Entry(str(record.get("dt", "")), str(record.get("lvl", "")), record.get("msg", "")))
    return out


def _record(body: str) -> dict[str, Any] | None:
    for attempt in (body, _to_json(body)):
        try:
            data = json.loads(attempt)
        except ValueError:
            continue
        return data if isinstance(data, dict) else None
    m = _MSG.search(body)  # keep what a target line said even if the line is beyond repair
    lvl = re.search(r'"lvl": "(\w+)"', body)
    return {"lvl": lvl.group(1) if lvl else "", "msg": m.group(1)} if m else None


def _to_json(body: str) -> str:
    """YAML's double-quoted flow style -> JSON: drop tags, rewrite YAML-only escapes."""
    body = _TAG.sub("", body)

    def escape(m: re.Match[str]) -> str:
        seq = m.group(1)
        if seq in _JSON_ESCAPES:
            return _JSON_ESCAPES[seq]
        if seq[0] in "xUu" and len(seq) > 1:
            return json.dumps(chr(int(seq[1:], 16)))[1:-1]
        return json.dumps(_YAML_ONLY.get(seq, seq))[1:-1]

    return _YAML_ESCAPE.sub(escape, body)


def console(entries: list[Entry]) -> str:
    """The serial console the job saw (the `target` lines), terminal escapes removed and the
    kernel's lines taken out of the guest's (`untangle`)."""
    lines = untangle([_ANSI.sub("", e.msg).replace('\\"', '"') for e in entries  # LAVA wrote each " as \"
                      if e.lvl == "target" and isinstance(e.msg, str)])
    return "\n".join(lines) + ("\n" if lines else "")


def untangle(lines: list[str]) -> list[str]:
    """The console as it would read if the kernel had waited for the guest's lines to end.

    The kernel prints on the serial console at once, while what the guest script prints waits
    in the tty's buffer: a kernel message can land inside a line of TAP ("... with si" +
    "[ 12.345678] clocksource: ..." / "ngle PTE of THP"). With `printk.time=1` (the job sets it)
    each kernel line starts with its time stamp: one found inside a line is moved to a line of
    its own and the two halves of the guest's line are joined again. The stamps are then
    dropped, so the console reads like a local one (which has none).
    """
    out: list[str] = []
    pending = ""  # the first half of a guest line a kernel message cut
    kernel = False  # the kernel has printed: before, a line is the firmware's ("Booting from ROM..")
    for line in lines:
        line = line.rstrip("\r")
        m = _STAMP.search(line)
        if m is None:
            out.append(pending + line)
            pending = ""
            continue
        if m.start() and kernel:
            pending += line[:m.start()]
        elif m.start():
            out.append(line[:m.start()])
        out.append(line[m.end():])  # a kernel line between two halves: the guest's line goes on after it
        kernel = True
    if pending:
        out.append(pending)
    return out


def job_result(entries: list[Entry]) -> dict[str, Any]:
    """The last `results` record of case `job` (LAVA's verdict on the job, with its error)."""
    for e in reversed(entries):
        if e.lvl == "results" and isinstance(e.msg, dict) and e.msg.get("case") == "job":
            return dict(e.msg)
    return {}


def failure(entries: list[Entry]) -> Failure | None:
    """Why the job failed, or None if LAVA's log says it passed (or says nothing)."""
    result = job_result(entries)
    errors = [str(e.msg) for e in entries if e.lvl in ("error", "exception") and isinstance(e.msg, str)]
    if result.get("result") == "pass" and not errors:
        return None
    msg = str(result.get("error_msg") or "")
    kind_text = str(result.get("error_type") or "")
    first = f"{kind_text}: {msg}" if kind_text else msg
    rest = [e for e in dict.fromkeys(errors) if e and e != msg]  # LAVA says the same thing several times
    text = " ".join("; ".join(x for x in (first, *rest[:3]) if x).split())
    if not text:
        return None if result.get("result") == "pass" else Failure("other", "LAVA logged no error")
    low = (msg + " " + " ".join(errors)).lower()
    failed = {str(e.msg.get("case")) for e in entries if e.lvl == "results" and isinstance(e.msg, dict)
              and e.msg.get("result") == "fail"}
    if "canceled" in low or "cancelled" in low or kind_text == "Canceled":
        return Failure("canceled", text)
    if failed & {"file-download", "http-download", "download-retry"} or _fetch_words(low):
        return Failure("fetch", text)
    if "timed out" in low or "timeout" in kind_text.lower():
        return Failure("timeout", text)
    return Failure("other", text)


def _fetch_words(low: str) -> bool:
    return any(w in low for w in ("unable to fetch", "does not exist", "not found", "404", "connection refused",
                                  "no such file", "unable to download", "urlerror", "validation failed: image"))

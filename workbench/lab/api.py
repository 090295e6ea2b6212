"""LAVA's REST API (v0.2) over urllib: the few calls the workbench makes.

    GET  system/whoami/          who the token belongs to (check(): a wrong token fails here)
    GET  devices/                the lab's devices, their type, state and health
    POST jobs/                   {"definition": YAML} -> {"job_ids": [N]}
    GET  jobs/N/                 state (Submitted, Scheduling, Scheduled, Running, Canceling,
                                 Finished) and health (Unknown, Complete, Incomplete, Canceled)
    GET  jobs/N/logs/            the job's log: YAML, one `- {dt, lvl, msg}` mapping a line
    GET  jobs/N/cancel/          ask LAVA to cancel it

Every request carries `Authorization: Token <token>`. The token lives in this object only (read
from the environment variable the lab declaration names): it is never part of a URL, an error
message, a log line or a record.
"""
from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InfraError, UserError
from ..settings import LabSettings

TIMEOUT = 30.0  # seconds for one request
LOOPBACK = ("127.0.0.1", "localhost", "::1")  # a lab on this host


@dataclass(frozen=True)
class Job:
    id: int
    state: str
    health: str
    device: str = ""
    submit_time: str = ""
    start_time: str = ""
    end_time: str = ""
    failure_comment: str = ""

    @property
    def finished(self) -> bool:
        return self.state == "Finished"

    @property
    def started(self) -> bool:
        return self.state in ("Running", "Canceling", "Finished") and bool(self.start_time)


def token_from_env(lab: LabSettings) -> str:
    token = os.environ.get(lab.token_env, "").strip()
    if not token:
        raise UserError(f"no API token for lab {lab.name!r}: the environment variable {lab.token_env} is not set",
                        f"Set {lab.token_env} to a token of the lab at {lab.url} ("
                        + ("`invoke lab up` prints how to get the local lab's" if lab.name == "local" else
                           "its web UI makes one: API -> Tokens") + ").")
    return token


def local_token(token_file: Path, lab: LabSettings) -> str | None:
    """The token `invoke lab up` wrote, for a lab on this host's loopback when its variable is not
    set (a remote lab's token only ever comes from its variable); None: read the variable."""
    host = urllib.parse.urlsplit(lab.url).hostname or ""
    if os.environ.get(lab.token_env, "").strip() or host not in LOOPBACK:
        return None
    try:
        return token_file.read_text().strip() or None
    except OSError:
        return None


class Client:
    """One lab's API; `token` None: read it from the lab's environment variable."""

    def __init__(self, lab: LabSettings, token: str | None = None, timeout: float = TIMEOUT) -> None:
        self.lab = lab
        self._token = token if token is not None else token_from_env(lab)
        self.timeout = timeout

    def job_url(self, job: int) -> str:
        return f"{self.lab.url.rstrip('/')}/scheduler/job/{job}"

    # --- the calls ---------------------------------------------------------------------------------
    def whoami(self) -> str:
        return str(self._json("GET", "system/whoami/").get("user", ""))

    def devices(self) -> list[dict[str, Any]]:
        return self._list("devices/?limit=500")

    def workers(self) -> list[dict[str, Any]]:
        return self._list("workers/?limit=500")

    def _list(self, first: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        path: str | None = first
        while path:
            page = self._json("GET", path)
            out += list(page.get("results", []))
            nxt = page.get("next")
            path = str(nxt).split("/api/v0.2/", 1)[-1] if nxt else None
        return out

    def submit(self, definition: str) -> int:
        reply = self._json("POST", "jobs/", {"definition": definition})
        ids = reply.get("job_ids") or []
        if not ids:
            raise InfraError(f"lab {self.lab.name!r} took the job but gave no job id: {reply}",
                             "Look at the lab's scheduler log.")
        return int(ids[0])

    def job(self, job: int) -> Job:
        d = self._json("GET", f"jobs/{job}/")
        return Job(id=int(d["id"]), state=str(d.get("state", "")), health=str(d.get("health", "")),
                   device=str(d.get("actual_device") or ""), submit_time=str(d.get("submit_time") or ""),
                   start_time=str(d.get("start_time") or ""), end_time=str(d.get("end_time") or ""),
                   failure_comment=str(d.get("failure_comment") or ""))

    def log(self, job: int) -> str:
        return self._request("GET", f"jobs/{job}/logs/").decode(errors="replace")

    def cancel(self, job: int) -> None:
        self._request("GET", f"jobs/{job}/cancel/")

    # --- plumbing ----------------------------------------------------------------------------------
    def _json(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        raw = self._request(method, path, body)
        try:
            data = json.loads(raw)
        except ValueError:
            raise InfraError(f"lab {self.lab.name!r} answered {path} with something that is not JSON: "
                             f"{raw[:200]!r}", f"Is {self.lab.url} a LAVA server (2023.01 or newer)?") from None
        return data if isinstance(data, dict) else {"results": data}

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> bytes:
        url = self.lab.api + path
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers={
            "Authorization": f"Token {self._token}", "Accept": "application/json",
            **({"Content-Type": "application/json"} if data is not None else {})})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return bytes(resp.read())
        except urllib.error.HTTPError as exc:
            raise self._refused(method, path, exc.code, exc.read().decode(errors="replace")) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            why = getattr(exc, "reason", exc)
            raise InfraError(f"lab {self.lab.name!r} at {self.lab.url} does not answer ({why})",
                             "Start it (`invoke lab up` for the local lab) or fix "
                             f"labs.{self.lab.name}.url in invoke.yaml; then run the same command again.") from None

    def _refused(self, method: str, path: str, code: int, text: str) -> Exception:
        detail = _detail(text)
        if code in (401, 403):
            return UserError(f"lab {self.lab.name!r} refused the token in {self.lab.token_env} "
                             f"(HTTP {code} on {method} {path}: {detail})",
                             f"Set {self.lab.token_env} to a valid API token of {self.lab.url}"
                             + (" (`invoke lab up` prints how to get it)." if self.lab.name == "local" else "."))
        if code == 400 and path == "jobs/":
            return InfraError(f"lab {self.lab.name!r} refused the job definition: {detail}",
                              "The job is rendered from templates/lava/qemu.yaml.j2; the lab's own words are above.")
        return InfraError(f"lab {self.lab.name!r} answered HTTP {code} on {method} {path}: {detail}",
                          "Look at the lab's server log (for the local lab: /var/log/lava-server/).")


def _detail(text: str) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        title = re.search(r"<title>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
        return " ".join((title.group(1) if title else text).split())[:300] or "(no text)"
    if isinstance(data, dict):
        return "; ".join(f"{v}" if k in ("detail", "message") else f"{k}: {v}" for k, v in data.items())[:500]
    return str(data)[:500]

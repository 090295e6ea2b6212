"""A fake LAVA server for the executor's unit tests (never used outside tests): the few REST
calls the workbench makes, on loopback, in a thread. Each submitted job finishes at once with
the next of `outcomes` (its health and a real job log captured from the local lab).

    with FakeLava(token, [("Complete", log)]) as lab:  # lab.url, lab.jobs, lab.requests
"""
from __future__ import annotations

import gzip
import http.server
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

DATA = Path(__file__).parent.parent / "data" / "lava"


def captured(name: str) -> str:
    """A real job log from the local lab (tests/data/lava/job-<name>.yaml.gz)."""
    return gzip.decompress((DATA / f"job-{name}.yaml.gz").read_bytes()).decode()


@dataclass
class FakeLava:
    token: str
    outcomes: list[tuple[str, str]]  # (health, log) of the 1st, 2nd, ... job; the last one repeats
    devices: list[dict[str, str]] = field(default_factory=lambda: [
        {"hostname": "qemu-01", "device_type": "qemu", "state": "Idle", "health": "Good"}])
    jobs: dict[int, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, Authorization)

    def __enter__(self) -> Self:
        lab = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def _answer(self, method: str) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                auth = self.headers.get("Authorization", "")
                lab.requests.append((method, self.path, auth))
                if auth != f"Token {lab.token}":
                    return self._send(403, {"detail": "Invalid token."})
                code, reply = lab.route(method, self.path.split("/api/v0.2/", 1)[-1], body)
                self._send(code, reply)

            def _send(self, code: int, reply: Any) -> None:
                data = reply.encode() if isinstance(reply, str) else json.dumps(reply).encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def route(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        if path == "system/whoami/":
            return 200, {"user": "admin"}
        if path.startswith("devices/"):
            return 200, {"results": self.devices, "next": None}
        if method == "POST" and path == "jobs/":
            number = len(self.jobs) + 1
            health, log = self.outcomes[min(number, len(self.outcomes)) - 1]
            self.jobs[number] = {"definition": json.loads(body)["definition"], "health": health, "log": log}
            return 201, {"message": "job(s) successfully submitted", "job_ids": [number]}
        number = int(path.split("/")[1])
        job = self.jobs[number]
        if path.endswith("/logs/"):
            return 200, job["log"]
        if path.endswith("/cancel/"):
            return 200, {"message": "Job cancel signal sent."}
        return 200, {"id": number, "state": "Finished", "health": job["health"], "actual_device": "qemu-01",
                     "submit_time": "2026-12-01T10:00:00.000000Z", "start_time": "2026-12-01T10:00:01.000000Z",
                     "end_time": "2026-12-01T10:00:21.000000Z"}

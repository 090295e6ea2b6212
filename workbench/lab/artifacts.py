"""Artifacts a lab's workers fetch: a cell's kernel and its initramfs, under content-addressed
names (`<cache>/artifacts/<sha256>/<name>`), so a name never changes what it holds, two cells
with the same bytes share one file, and a job submitted by an earlier process still finds its
files.

How the workers reach them is the lab declaration's `artifacts`:

- `file`: the workers are on this host: `file://<cache>/artifacts/...`;
- `file:///PATH`: they see the artifact folder at PATH (a shared mount): `file:///PATH/...`;
- `http://ADDR:PORT`: the workbench serves the folder there itself, from a thread of the
  process that submits or follows jobs (`serve()`), read-only, for as long as it runs.
"""
from __future__ import annotations

import functools
import hashlib
import http.server
import os
import shutil
import threading
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InfraError

FOLDER = "artifacts"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


@dataclass
class Publisher:
    root: Path  # <cache>/artifacts
    mode: str  # the lab's `artifacts`: file, file:///PATH or http://ADDR:PORT
    _server: http.server.ThreadingHTTPServer | None = field(default=None, repr=False)

    def publish(self, path: Path, name: str) -> str:
        """Put `path` under its content's name (a hard link when it can) and return the URL the
        workers fetch it from."""
        digest = sha256(path)
        dest = self.root / digest / name
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{name}.{os.getpid()}")
            try:
                os.link(path, tmp)
            except OSError:
                shutil.copyfile(path, tmp)
            os.chmod(tmp, 0o644)
            os.replace(tmp, dest)
        return self.url(f"{digest}/{name}")

    def url(self, relative: str) -> str:
        if self.mode == "file":
            return (self.root / relative).resolve().as_uri()
        if self.mode.startswith("file:///"):
            return self.mode.rstrip("/") + "/" + relative
        self.serve()
        return self.mode.rstrip("/") + "/" + urllib.parse.quote(relative)

    def serve(self) -> None:
        """With `http://ADDR:PORT`: serve the folder there (once per process)."""
        if self._server is not None or not self.mode.startswith("http://"):
            return
        parsed = urllib.parse.urlsplit(self.mode)
        host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.root.mkdir(parents=True, exist_ok=True)
        handler = functools.partial(_Quiet, directory=str(self.root))
        try:
            self._server = http.server.ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise InfraError(f"cannot serve the lab's artifacts at {self.mode}: {exc}",
                             "Another program has that address (is an earlier workbench still running?), or the "
                             "address is not this host's; change `artifacts` in the lab's declaration.") from None
        threading.Thread(target=self._server.serve_forever, name="artifacts", daemon=True).start()

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

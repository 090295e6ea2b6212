"""`invoke lab up` / `lab down [--purge]` / `lab status`: a LAVA lab on this host, on loopback.

It is for trying `--lab` and for the tests, not for production. `up` installs Debian's
postgresql, lava-server and lava-dispatcher (2023.01) when they are missing, starts PostgreSQL,
writes the lab's settings (`/etc/lava-server/settings.d/99-workbench.yaml`: loopback hosts only,
plain-http cookies, workers on 127.0.0.0/8 may register, events on loopback), migrates the
database with Debian's own postinst helper, starts the daemons itself (these machines have no
systemd: gunicorn, lava-publisher, lava-scheduler woken by the publisher's events, lava-worker
pinging every 2 s, so a job starts within seconds), makes the superuser, its API token, the
worker, the device type and the devices (dictionaries with `no_kvm = True`: this host's KVM does
not work). Each step is skipped when it is done already, so `up` on a running lab changes
nothing. Its state (pids, daemon output, the token, the web password) is `<cache>/lab/`, mode
700; the token is printed nowhere: `up` says how to put it into the variable the lab's
declaration names. `down` stops exactly the process groups `up` started; `--purge` also drops
LAVA's databases and roles, purges its packages and removes its settings, devices, logs, state
and system user: nothing of the lab is left (PostgreSQL's own package stays).
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InfraError, UserError
from ..proc import Runner, Say
from ..settings import LabSettings, Settings
from .api import LOOPBACK, Client
from .daemons import SYSTEM_PATH, Daemons, secret_file

LAVA = "/usr/bin/lava-server"
PACKAGES = ("postgresql", "lava-server", "lava-dispatcher")
ETC = Path("/etc/lava-server")
SETTINGS_FILE = ETC / "settings.d" / "99-workbench.yaml"
DEVICES = ETC / "dispatcher-config" / "devices"
PURGED = ("/etc/lava-server", "/etc/lava-dispatcher", "/etc/lava-dispatcher-host", "/var/lib/lava-server",
          "/var/lib/lava", "/var/log/lava-server", "/var/log/lava-dispatcher", "/tmp/lava.events")
WORKER, ADMIN, PUBLISHER_PORT, EVENT_PORT, PING = "workbench-worker", "admin", 8001, 5500, 2
ENV = {"PATH": SYSTEM_PATH, "DEBIAN_FRONTEND": "noninteractive"}


def main(settings: Settings, name: str, action: str, purge: bool, say: Say) -> str:
    lab = settings.labs.get(name)
    if lab is None:
        raise UserError(f"no lab {name!r} is declared", f"Labs in invoke.yaml: {', '.join(settings.labs) or 'none'}.")
    local = Local(settings, lab, say)
    if action == "up":
        return local.up()
    if action == "down":
        return local.down(purge)
    return local.status()


@dataclass
class Local:
    settings: Settings
    lab: LabSettings
    out: Say
    start: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.state = self.settings.cache / "lab"
        self.runner = Runner(log=self.settings.task_log("lab"), echo=self.settings.verbose, out=self.out)
        self.daemons = Daemons(self.state, self.runner, self.step)
        parsed = urllib.parse.urlsplit(self.lab.url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.devices = [f"{self.lab.device_type}-{i:02d}" for i in range(1, self.lab.devices + 1)]

    def step(self, message: str) -> None:
        self.out(f"[lab {time.monotonic() - self.start:5.1f}s] {message}")

    def run(self, argv: list[str], **kw: object) -> str:
        return self.runner.run(argv, env=ENV, cwd="/tmp", **kw).output  # type: ignore[arg-type]

    # --- up ----------------------------------------------------------------------------------------
    def up(self) -> str:
        self._require_root()
        if self.host not in LOOPBACK:
            raise UserError(f"lab {self.lab.name!r} is at {self.lab.url}: `invoke lab up` makes a lab on loopback only",
                            "Point labs.<name>.url at http://127.0.0.1:PORT/ for a local lab.")
        self.state.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state, 0o700)
        self._packages()
        self._postgres()
        changed = self._settings_file()
        self._database()
        self.daemons.start("gunicorn", ["/usr/bin/gunicorn3", "lava_server.wsgi", "--log-level", "INFO", "--log-file",
                                        "/var/log/lava-server/gunicorn.log", "-u", "lavaserver", "-g", "lavaserver",
                                        "--worker-class", "eventlet", "--workers", "2", "--bind",
                                        f"{self.host}:{self.port}"], restart=changed)
        self._wait(60, "the server to answer", self._answers)
        self.step(f"server answers {self.lab.api}")
        self.daemons.start("publisher", [LAVA, "manage", "lava-publisher", "--level", "INFO", "--log-file",
                                         "/var/log/lava-server/lava-publisher.log", "--host", self.host,
                                         "--port", str(PUBLISHER_PORT)])
        self.daemons.start("scheduler", [LAVA, "manage", "lava-scheduler", "--level", "DEBUG", "--log-file",
                                         "/var/log/lava-server/lava-scheduler.log", "--event-url",
                                         f"tcp://{self.host}:{EVENT_PORT}"], restart=changed)
        self._dictionaries()
        token = self._accounts()
        self.daemons.start("worker", ["/usr/bin/lava-worker", "--level", "DEBUG", "--url", self.lab.url, "--name",
                                      WORKER, "--token-file", str(self.state / "worker-token"), "--ping-interval",
                                      str(PING), "--log-file", "/var/log/lava-dispatcher/lava-worker.log"])
        client = Client(self.lab, token)
        self._wait(60, f"worker {WORKER} to be online", lambda: self._worker_online(client))
        states = {d["hostname"]: f"{d['state']}, {d['health']}" for d in client.devices()
                  if d.get("hostname") in self.devices}
        self.step(f"lab is up: worker {WORKER} online; devices {', '.join(f'{k} ({v})' for k, v in states.items())}")
        return self._summary()

    def _packages(self) -> None:
        missing = [p for p in PACKAGES if not self._installed(p)]
        if not missing:
            return
        self.step(f"installing {', '.join(missing)} (apt-get)")
        self.run(["apt-get", "update", "-qq"], timeout=900)
        if "postgresql" in missing:
            self.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"], timeout=900)
        self._postgres()  # running, so that lava-server's postinst creates and migrates its database
        self.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends",
                  *[p for p in missing if p != "postgresql"]], timeout=1800)
        self.step("packages installed")

    def _installed(self, package: str) -> bool:
        done = self.runner.run(["dpkg-query", "-W", "-f=${Status}", package], check=False, quiet=True)
        return "install ok installed" in done.output

    def _clusters(self) -> list[list[str]]:
        return [line.split() for line in self.run(["pg_lsclusters", "-h"], check=False).splitlines() if line.strip()]

    def _postgres(self) -> None:
        clusters = self._clusters()
        if not clusters:
            raise InfraError("PostgreSQL has no cluster", "Reinstall postgresql (apt-get install --reinstall "
                             "postgresql-15), then run `invoke lab up` again.")
        version, name, status = clusters[0][0], clusters[0][1], clusters[0][3]
        if status == "online":
            return
        self.run(["pg_ctlcluster", version, name, "start"])
        self.state.mkdir(parents=True, exist_ok=True)
        (self.state / "postgresql.started").write_text(f"{version} {name}\n")
        self.step(f"postgresql {version}/{name} started")

    def _settings_file(self) -> bool:
        text = ("# Written by the kernel workbench's `invoke lab up` (removed by `invoke lab down --purge`)\n"
                f'ALLOWED_HOSTS: ["127.0.0.1", "localhost", "[::1]"]\n'
                "# plain http on loopback: secure-only cookies would break the web login\n"
                "CSRF_COOKIE_SECURE: false\nSESSION_COOKIE_SECURE: false\n"
                "WORKER_AUTO_REGISTER: true\n"
                'WORKER_AUTO_REGISTER_NETMASK: ["127.0.0.0/8", "::1"]\n'
                "# events on loopback (LAVA's default is every interface): the scheduler starts a job at once\n"
                f'EVENT_NOTIFICATION: true\nEVENT_SOCKET: "tcp://{self.host}:{EVENT_PORT}"\n')
        old = SETTINGS_FILE.read_text() if SETTINGS_FILE.exists() else ""
        if old == text:
            return False
        SETTINGS_FILE.parent.mkdir(parents=True, exist_ok=True)
        SETTINGS_FILE.write_text(text)
        shutil.chown(SETTINGS_FILE, "lavaserver", "lavaserver")
        os.chmod(SETTINGS_FILE, 0o640)
        self.step(f"wrote {SETTINGS_FILE}")
        return True

    def _migrated(self) -> bool:
        return self.runner.run([LAVA, "manage", "migrate", "--check"], env=ENV, cwd="/tmp", check=False).ok

    def _database(self) -> None:
        if self._migrated():
            return
        self.step("configuring and migrating the database (/usr/share/lava-server/postinst.py)")
        post = ["/usr/bin/python3", "/usr/share/lava-server/postinst.py"]
        self.runner.run([*post, "--config", "--db"], env=ENV, cwd="/tmp", check=False, timeout=900)
        if not self._migrated():  # a role an earlier install left has another password: align it
            conf = (ETC / "settings.d" / "00-database.yaml").read_text()
            m = re.search(r'PASSWORD:\s*"?([^"\n]*)"?', conf)
            if m:
                self.runner.run(["su", "postgres", "-c", "psql -q"], env=ENV, cwd="/tmp",
                                input=f"ALTER ROLE lavaserver PASSWORD '{m.group(1)}';\n")
            self.runner.run([*post, "--db"], env=ENV, cwd="/tmp", timeout=900)
        self.step("database migrated")

    def _dictionaries(self) -> None:
        DEVICES.mkdir(parents=True, exist_ok=True)
        for i, dev in enumerate(self.devices, 1):
            path = DEVICES / f"{dev}.jinja2"
            path.write_text(f"{{# {dev}: written by the kernel workbench's `invoke lab up` #}}\n"
                            "{% extends 'qemu.jinja2' %}\n"
                            "{# this host's /dev/kvm does not work: no '-cpu host -enable-kvm' from the template #}\n"
                            "{% set no_kvm = True %}\n"
                            f"{{% set mac_addr = '52:54:00:12:34:{i:02x}' %}}\n")
            shutil.chown(path, "lavaserver", "lavaserver")

    def _accounts(self) -> str:
        """The superuser, its API token, the worker, the device type and the devices; the token."""
        token_file, password_file = self.state / "token", self.state / "admin-password"
        token = token_file.read_text().strip() if token_file.exists() else secrets.token_hex(32)
        password = password_file.read_text().strip() if password_file.exists() else secrets.token_urlsafe(12)
        secret_file(token_file, token)
        secret_file(password_file, password)
        script = (self.settings.templates_dir / "lava" / "ensure-lab.py").read_text()
        config = {"user": ADMIN, "worker": WORKER, "device_type": self.lab.device_type, "devices": self.devices}
        done = self.runner.run([LAVA, "manage", "shell", "-c", script], cwd="/tmp", env={
            **ENV, "WORKBENCH_LAB": json.dumps(config), "WORKBENCH_LAB_TOKEN": token,
            "WORKBENCH_LAB_PASSWORD": password}, check=False, quiet=True)
        last = done.output.strip().splitlines()[-1:] or [""]
        try:
            reply = json.loads(last[0])
        except ValueError:
            raise InfraError("LAVA's shell could not make the lab's accounts and devices:\n"
                             + "\n".join(done.output.splitlines()[-15:]), f"The command is in {self.runner.log}.") from None
        secret_file(self.state / "worker-token", str(reply["worker_token"]))
        for what in reply.get("created", []):
            self.step(f"created {what}")
        return token

    # --- down --------------------------------------------------------------------------------------
    def down(self, purge: bool) -> str:
        self._require_root()
        self.daemons.stop_all()
        started = self.state / "postgresql.started"
        if purge:
            self._purge()
        if started.exists() or purge:
            owned = started.read_text().split() if started.exists() else []
            for c in self._clusters():
                if c[3] == "online" and c[:2] == owned:
                    self.run(["pg_ctlcluster", c[0], c[1], "stop"])
                    self.step(f"postgresql {c[0]}/{c[1]} stopped")
            started.unlink(missing_ok=True)
        if purge:
            shutil.rmtree(self.state, ignore_errors=True)
        self.step("lab " + ("purged: nothing of it is left" if purge else "stopped"))
        return f"lab {self.lab.name} is down" + (" and purged" if purge else "; `invoke lab up` starts it again")

    def _purge(self) -> None:
        if shutil.which("psql", path=SYSTEM_PATH) and self._clusters():
            self._postgres()
            for db in ("lavaserver", "devel"):  # Debian's postinst also makes a `devel` database and role
                self.run(["su", "postgres", "-c", f"dropdb --if-exists {db}"], check=False)
            for role in ("lavaserver", "devel"):
                self.run(["su", "postgres", "-c", f"dropuser --if-exists {role}"], check=False)
            self.step("dropped LAVA's databases and roles")
        listed = self.run(["dpkg-query", "-W", "-f=${Package} ${Status}\\n", "lava-*"], check=False)
        packages = [line.split()[0] for line in listed.splitlines() if line.endswith(" installed")]
        if packages:
            self.run(["apt-get", "purge", "-y", "-qq", *packages], timeout=900)
            self.step(f"purged {' '.join(packages)}")
        for path in PURGED:
            shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else Path(path).unlink(missing_ok=True)
        self.run(["userdel", "lavaserver"], check=False)
        self.run(["groupdel", "lavaserver"], check=False)
        self.step("removed /etc/lava-*, /var/lib/lava*, /var/log/lava-*, the lavaserver user and the lab's state")

    # --- status and pieces -------------------------------------------------------------------------
    def status(self) -> str:
        running, answers = self.daemons.running(), self._answers()
        lines = [f"lab {self.lab.name} at {self.lab.url}: " + ("answers" if answers else "does not answer"),
                 "daemons: " + (", ".join(f"{n} (pid {p})" for n, p in running.items()) or "none running")]
        token = self.state / "token"
        if token.exists() and answers:
            devices = Client(self.lab, token.read_text().strip()).devices()
            lines.append("devices: " + (", ".join(f"{d['hostname']} ({d['device_type']}, {d['state']}, {d['health']})"
                                                  for d in devices) or "none"))
        return "\n".join(lines)

    def _summary(self) -> str:
        return "\n".join([
            (f"LAVA lab {self.lab.name!r} is up in {time.monotonic() - self.start:.1f} s: {self.lab.url} "
             f"(REST API {self.lab.api}), devices {', '.join(self.devices)}"),
            f"API token: export {self.lab.token_env}=$(cat {self.state / 'token'})",
            f"web UI:    user {ADMIN}, password in {self.state / 'admin-password'}",
            f"use it:    invoke matrix --base v6.12 --tests cow --lab {self.lab.name}",
            (f"logs:      /var/log/lava-server/, /var/log/lava-dispatcher/lava-worker.log, {self.state}/*.out; "
             f"commands in {self.runner.log}"),
            "stop it:   invoke lab down   (--purge: also remove LAVA's packages, databases, settings and devices)"])

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.lab.api, timeout=5) as resp:
                return int(resp.status) == 200
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def _worker_online(self, client: Client) -> bool:
        return any(w.get("hostname") == WORKER and w.get("state") == "Online" for w in client.workers())

    def _wait(self, seconds: float, what: str, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + seconds
        while not ready():
            if time.monotonic() > deadline:
                raise InfraError(f"the local lab did not come up: timed out waiting for {what}",
                                 f"Look at {self.state}/*.out and /var/log/lava-server/; `invoke lab down`, then up.")
            time.sleep(1)

    @staticmethod
    def _require_root() -> None:
        if os.geteuid() != 0:
            raise UserError("`invoke lab` installs packages and starts system daemons: it needs root",
                            "Run it as root (or with sudo).")

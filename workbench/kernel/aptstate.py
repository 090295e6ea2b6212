"""Debian's package lists in a private apt state: which `linux-source-X.Y` each suite has.

The host's apt configuration is only read, never changed. From its sources
(`sources.list`, `sources.list.d/*.list` and `*.sources`) we take the Debian
archive's address and, when there is one, the security archive's, with their
`Signed-By` keys; the suites looked up are the ones in `SUITES` (and the security
suites of the releases among them) on those same mirrors. Everything apt writes
goes into `<cache>/apt/` (its own sources.list, lists, package cache and an empty
dpkg status), so `apt-get update` there fetches only these lists and
`apt-get download` leaves the host's state alone. No mirror's name is written
anywhere in the project: it is read from the host each time.
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import InfraError, UserError
from ..proc import Runner

# The suites a kernel source can come from, oldest first. A release codename among them also brings
# its security suite (`<codename>-security`), where Debian puts a stable release's newer kernels.
SUITES = ("bookworm", "bookworm-backports", "trixie", "trixie-backports", "sid")
HOST_APT = Path("/etc/apt")
MAX_AGE = 24 * 3600  # seconds before the private lists are fetched again
PACKAGE = re.compile(r"linux-source-(\d+\.\d+)")


@dataclass(frozen=True)
class Source:
    """One `deb` line (or deb822 stanza's URI) of the host: where, which suites, with which options."""

    uri: str
    suites: tuple[str, ...]
    options: tuple[tuple[str, str], ...] = ()  # signed-by, trusted: kept as the host has them
    origin: str = ""  # the file it was read from

    def line(self, suites: tuple[str, ...]) -> str:
        opts = " ".join(f"{k}={v}" for k, v in self.options)
        return "\n".join(f"deb {'[' + opts + '] ' if opts else ''}{self.uri} {s} main" for s in suites)


@dataclass(frozen=True)
class Offer:
    """A version of a linux-source package in one suite."""

    series: str  # "7.3"
    version: str  # "7.3.4-1~bpo13+1"
    suite: str  # "trixie-backports"


def host_sources(etc: Path = HOST_APT) -> list[Source]:
    """Every `deb` source the host's apt reads (one-line and deb822 files), in apt's order."""
    files = [etc / "sources.list"] + sorted((etc / "sources.list.d").glob("*"))
    out: list[Source] = []
    for path in files:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if path.suffix == ".sources":
            out += _deb822(text, str(path))
        elif path.suffix == ".list" or path == etc / "sources.list":
            out += _one_line(text, str(path))
    return out


def _one_line(text: str, origin: str) -> list[Source]:
    out = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        m = re.match(r"deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)", line)
        if m:
            opts = tuple((k.lower(), v) for k, v in (o.split("=", 1) for o in (m.group(1) or "").split() if "=" in o)
                         if k.lower() in ("signed-by", "trusted"))
            out.append(Source(m.group(2), (m.group(3),), opts, origin))
    return out


def _deb822(text: str, origin: str) -> list[Source]:
    out = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = ""
        for line in stanza.splitlines():
            if line.startswith("#"):
                continue
            m = re.match(r"([A-Za-z-]+):\s*(.*)$", line)
            if m:
                key = m.group(1).lower()
                fields[key] = m.group(2).strip()
            elif key and line[:1] in (" ", "\t"):
                fields[key] += "\n" + line.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
            continue
        signed = fields.get("signed-by", "")
        opts = ((("signed-by", signed),) if signed and "\n" not in signed else ()) + \
            ((("trusted", fields["trusted"]),) if "trusted" in fields else ())
        for uri in fields.get("uris", "").split():
            out.append(Source(uri, tuple(fields.get("suites", "").split()), opts, origin))
    return out


def _codename(suite: str) -> str:
    return suite.split("-", 1)[0]


def archives(sources: list[Source]) -> tuple[Source, Source | None]:
    """The host's Debian archive (a source of one of SUITES' releases) and its security archive."""
    releases = {_codename(s) for s in SUITES}
    main = next((s for s in sources if any(_codename(x) in releases and not x.endswith("-security")
                                             for x in s.suites)), None)
    security = next((s for s in sources if any(x.endswith("-security") for x in s.suites)), None)
    if main is None:
        read = sorted({s.origin for s in sources}) or ["no sources at all"]
        raise UserError(f"the host's apt sources name no Debian archive of {', '.join(sorted(releases))} "
                        f"(read: {', '.join(read)}), so there is no mirror to look for linux-source packages on",
                        "Add a Debian mirror to /etc/apt/sources.list.d/ (e.g. a debian.sources naming "
                        "bookworm), or give a kernel tree of your own with --tree.")
    return main, security


def preferences(sources: list[Source]) -> str:
    """The host's own release first (its kernels are built for it), then the others; backports keep
    the low priority their archive gives them, so apt picks them only where nothing else has the
    package."""
    main, _ = archives(sources)
    mine = _codename(next(s for s in main.suites if _codename(s) in {_codename(x) for x in SUITES}))
    others = [s for s in SUITES if _codename(s) != mine and not s.endswith("-backports")]
    others += [f"{s}-security" for s in others if s != "sid"]
    return "".join(f"Package: *\nPin: release n={s}\nPin-Priority: 400\n\n" for s in others)


def private_sources(sources: list[Source]) -> str:
    """The private state's sources.list: SUITES on the host's Debian mirror, the releases' security
    suites on its security mirror."""
    main, security = archives(sources)
    lines = [f"# Written by the workbench from {main.origin}" + (f" and {security.origin}" if security else ""),
             main.line(SUITES)]
    if security:
        lines.append(security.line(tuple(f"{s}-security" for s in SUITES if "-" not in s and s != "sid")))
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class AptState:
    """`<cache>/apt/`: apt's files for our suites only."""

    root: Path
    runner: Runner
    etc: Path = HOST_APT

    def options(self) -> list[str]:
        r = self.root
        opts = {"Dir::State": r, "Dir::State::Lists": r / "lists", "Dir::State::status": r / "status",
                "Dir::Cache": r / "cache", "Dir::Etc::SourceList": r / "sources.list",
                "Dir::Etc::SourceParts": r / "sources.list.d", "Dir::Etc::Preferences": r / "preferences",
                "Dir::Etc::PreferencesParts": r / "preferences.d", "Acquire::Languages": "none"}
        if os.geteuid() == 0:  # apt would drop to _apt, who cannot write into root's cache
            opts["APT::Sandbox::User"] = "root"
        return [x for k, v in opts.items() for x in ("-o", f"{k}={v}")]

    def apt(self, tool: str, *args: str, check: bool = True, cwd: Path | None = None) -> str:
        return self.runner.run([tool, *self.options(), *args], check=check, quiet=True, cwd=cwd).output

    def update(self, force: bool = False) -> list[str]:
        """Write the sources, fetch the lists when they are missing, stale or for other sources;
        the suites that could not be fetched, said in apt's words."""
        host = host_sources(self.etc)
        sources = private_sources(host)
        for sub in ("lists/partial", "cache/archives/partial", "sources.list.d", "preferences.d"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "status").touch()
        (self.root / "preferences").write_text(preferences(host))
        listed = self.root / "sources.list"
        stamp = self.root / "updated"
        fresh = (listed.exists() and listed.read_text() == sources and stamp.exists()
                 and time.time() - stamp.stat().st_mtime < MAX_AGE)
        if fresh and not force:
            return []
        listed.write_text(sources)
        done = self.runner.run(["apt-get", *self.options(), "update"], check=False, quiet=True)
        if not any((self.root / "lists").glob("*_Packages*")):
            raise InfraError(f"apt-get update in {self.root} fetched no package list",
                             "Its output:\n" + "\n".join(done.output.splitlines()[-10:])
                             + "\nCheck the network and the host's apt sources, then try again.")
        stamp.write_text(time.strftime("%Y-%m-%d %H:%M:%S\n"))
        return [line for line in done.output.splitlines() if line.startswith(("E:", "Err:"))]

    def offers(self) -> list[Offer]:
        """Every linux-source-X.Y version in the private lists, newest series first."""
        names = sorted({line.split()[0] for line in
                        self.apt("apt-cache", "search", "--names-only", r"^linux-source-[0-9]+\.[0-9]+$").splitlines()
                        if PACKAGE.fullmatch(line.split()[0])})
        if not names:
            return []
        out = []
        for line in self.apt("apt-cache", "madison", *names).splitlines():
            parts = [p.strip() for p in line.split("|")]
            m = PACKAGE.fullmatch(parts[0]) if len(parts) == 3 else None
            if m and len(parts[2].split()) > 1:
                out.append(Offer(m.group(1), parts[1], parts[2].split()[1].split("/")[0]))
        return sorted(out, key=lambda o: tuple(int(x) for x in o.series.split(".")), reverse=True)

    def candidates(self, offers: list[Offer]) -> dict[str, str]:
        """{series: the version apt would pick} (its policy over every suite, `preferences()`)."""
        series = sorted({o.series for o in offers})
        if not series:
            return {}
        out = self.apt("apt-cache", "policy", *[f"linux-source-{s}" for s in series])
        picked = re.findall(r"^linux-source-(\d+\.\d+):\n(?:\s+.*\n)*?\s+Candidate:\s*(\S+)", out, re.MULTILINE)
        return dict(picked)

    def candidate(self, series: str) -> Offer:
        """The version apt would pick of `linux-source-<series>`, and its suite."""
        offers = self.offers()
        mine = [o for o in offers if o.series == series]
        version = self.candidates(mine).get(series) if mine else None
        chosen = next((o for o in mine if o.version == version), None)
        if chosen is None:
            raise UserError(f"no Debian suite this host can reach has linux-source-{series} (looked in "
                            f"{', '.join(self.suites())}); there is {describe(offers) or 'no linux-source package at all'}",
                            "Pick one of those series, e.g. `invoke tree --debian "
                            f"{offers[0].series if offers else '6.12'}` (`invoke tree --debian list` says it all).")
        return chosen

    def suites(self) -> list[str]:
        return [line.split()[-2] for line in (self.root / "sources.list").read_text().splitlines()
                if line.startswith("deb ")]

    def download(self, series: str, version: str, into: Path) -> None:
        into.mkdir(parents=True, exist_ok=True)
        self.apt("apt-get", "download", f"linux-source-{series}={version}", cwd=into)


def describe(offers: list[Offer]) -> str:
    """"7.3 (trixie-backports), 7.2 (sid, trixie-backports)": every series with the suites that have it."""
    by: dict[str, list[str]] = {}
    for o in offers:
        suites = by.setdefault(o.series, [])
        if o.suite not in suites:
            suites.append(o.suite)
    return ", ".join(f"{series} ({', '.join(suites)})" for series, suites in by.items())

"""The private apt state behind `invoke tree --debian`: the host's sources read (never changed), the
suites looked up on the host's own mirror, real apt over a fake archive on disk (no network)."""
from __future__ import annotations

import gzip
import hashlib
import shutil
from pathlib import Path

import pytest
from test_debian import fake_deb

from workbench.errors import UserError
from workbench.kernel import aptstate, debian
from workbench.kernel.aptstate import AptState
from workbench.proc import Runner
from workbench.settings import Settings

HOST_ONE_LINE = """\
# the host's classic file
deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] http://mirror.example/debian bookworm main contrib
deb-src http://mirror.example/debian bookworm main
"""
HOST_DEB822 = """\
Types: deb
# a comment inside the stanza
URIs: http://other.example/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/k.gpg

Types: deb
URIs: http://disabled.example/debian
Suites: trixie
Enabled: no
"""


def host_etc(root: Path, files: dict[str, str]) -> Path:
    etc = root / "etc-apt"
    (etc / "sources.list.d").mkdir(parents=True)
    for name, text in files.items():
        (etc / name).write_text(text)
    return etc


def test_host_sources_are_read_in_both_formats_and_disabled_or_source_entries_skipped(tmp_path):
    etc = host_etc(tmp_path, {"sources.list": HOST_ONE_LINE, "sources.list.d/sec.sources": HOST_DEB822,
                              "sources.list.d/old.list.disabled-by-someone": "deb http://x.example/ y main\n"})
    sources = aptstate.host_sources(etc)
    assert [(s.uri, s.suites) for s in sources] == [("http://mirror.example/debian", ("bookworm",)),
                                                    ("http://other.example/debian-security", ("bookworm-security",))]
    assert sources[0].options == (("signed-by", "/usr/share/keyrings/k.gpg"),)
    text = aptstate.private_sources(sources)
    # every suite on the host's own mirrors, with its keys; nothing of the host changed
    assert "deb [signed-by=/usr/share/keyrings/k.gpg] http://mirror.example/debian trixie-backports main" in text
    assert "http://mirror.example/debian sid main" in text
    assert "http://other.example/debian-security trixie-security main" in text
    assert "sid-security" not in text and "backports-security" not in text
    assert (etc / "sources.list").read_text() == HOST_ONE_LINE
    # the host's release first: the other releases pinned below it, backports left to their archive
    prefs = aptstate.preferences(sources)
    assert "n=trixie\n" in prefs and "n=sid\n" in prefs and "n=trixie-security\n" in prefs
    assert "n=bookworm" not in prefs and "backports" not in prefs


def test_a_host_without_a_debian_archive_is_a_user_error_naming_what_was_read(tmp_path):
    etc = host_etc(tmp_path, {"sources.list.d/ubuntu.list": "deb http://archive.example/ubuntu noble main\n"})
    with pytest.raises(UserError, match=r"name no Debian archive.*ubuntu\.list") as exc:
        aptstate.archives(aptstate.host_sources(etc))
    assert "--tree" in exc.value.hint


# A fake Debian archive on disk, read by the real apt through a file: URI.
PACKAGES = {"bookworm": [("6.1", "6.1.170-3")], "bookworm-backports": [("6.12", "6.12.95-1~bpo12+1")],
            "trixie": [("6.12", "6.12.117-1")], "trixie-backports": [("7.3", "7.3.4-1~bpo13+1"), ("7.2", "7.2.12-1~bpo13+1")],
            "sid": [("7.2", "7.2.13-1")]}


def fake_archive(root: Path, debs: dict[tuple[str, str], Path]) -> Path:
    archive = root / "archive"
    for suite, pkgs in PACKAGES.items():
        stanzas = []
        for series, version in pkgs:
            deb = debs.get((series, version))
            stanza = f"Package: linux-source-{series}\nVersion: {version}\nArchitecture: all\n" \
                     f"Description: Linux kernel source for version {series} with Debian patches\n"
            if deb:
                pool = archive / "pool" / deb.name
                pool.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(deb, pool)
                sha = hashlib.sha256(pool.read_bytes()).hexdigest()
                stanza += f"Filename: pool/{deb.name}\nSize: {pool.stat().st_size}\nSHA256: {sha}\n"
            else:
                stanza += f"Filename: pool/linux-source-{series}_{version}_all.deb\nSize: 1\n"
            stanzas.append(stanza)
        d = archive / "dists" / suite / "main" / "binary-amd64"
        d.mkdir(parents=True)
        (d / "Packages").write_text("\n".join(stanzas))
        with gzip.open(d / "Packages.gz", "wt") as f:
            f.write("\n".join(stanzas))
        # the Release names "all" among its architectures, as Debian's do, so apt asks for binary-all
        # too: without it apt said now and then "Err:24 file:... sid/main all Packages" (seen in CI)
        (d.parent / "binary-all").mkdir()
        (d.parent / "binary-all" / "Packages").write_text("")
        backports = "NotAutomatic: yes\nButAutomaticUpgrades: yes\n" if suite.endswith("-backports") else ""
        (archive / "dists" / suite / "Release").write_text(
            f"Origin: Debian\nLabel: Debian\nSuite: {suite}\nCodename: {suite}\n{backports}"
            "Architectures: amd64 all\nComponents: main\n")
    return archive


@pytest.fixture
def fake_host(tmp_path, monkeypatch):
    if not shutil.which("apt-get") or not shutil.which("dpkg-deb"):
        pytest.skip("needs apt and dpkg-deb (Debian)")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "nogitconfig"))
    deb = fake_deb(tmp_path / "deb", "7.3", "7.3.4-1~bpo13+1", 4)
    archive = fake_archive(tmp_path, {("7.3", "7.3.4-1~bpo13+1"): deb})
    etc = host_etc(tmp_path, {"sources.list.d/debian.sources":
                              f"Types: deb\nURIs: file:{archive}\nSuites: bookworm bookworm-updates\n"
                              "Components: main\nTrusted: yes\n"})
    monkeypatch.setattr(aptstate, "HOST_APT", etc)
    monkeypatch.setattr(AptState, "__init__", _with_etc(etc))
    return Settings.from_mapping({"cache": str(tmp_path / "cache")})


def _with_etc(etc: Path):  # AptState(root, runner) as debian.py makes it, reading the fake host
    original = AptState.__init__

    def init(self, root, runner, etc_=etc):
        original(self, root, runner, etc_)
    return init


def test_offers_and_candidates_come_from_the_private_lists(fake_host):
    state = AptState(fake_host.cache / "apt", Runner(echo=False))
    assert state.update() == []
    offers = state.offers()
    assert [(o.series, o.suite) for o in offers][:3] == [("7.3", "trixie-backports"), ("7.2", "sid"),
                                                         ("7.2", "trixie-backports")]
    picked = state.candidates(offers)
    # sid's 7.2 over the backport; the host's own release's 6.12 backport loses to trixie's 6.12
    assert picked == {"7.3": "7.3.4-1~bpo13+1", "7.2": "7.2.13-1", "6.12": "6.12.117-1", "6.1": "6.1.170-3"}
    assert state.candidate("7.3").suite == "trixie-backports"
    assert "file:" in (fake_host.cache / "apt" / "sources.list").read_text()
    with pytest.raises(UserError, match=r"has linux-source-9\.9 .*there is 7\.3 \(trixie-backports\), "
                                        r"7\.2 \(sid, trixie-backports\)") as exc:
        state.candidate("9.9")
    assert "invoke tree --debian list" in exc.value.hint


def test_tree_debian_imports_from_the_suite_that_has_it_and_lists_it(fake_host):
    said: list[str] = []
    imported = debian.import_debian("7.3", fake_host, Runner(echo=False), said.append)
    assert imported.tags == ("v7.3", "v7.3.4", "debian/7.3.4-1_bpo13+1")
    assert any("from trixie-backports" in s for s in said)
    text = debian.listing(fake_host, Runner(echo=False), said.append)
    row = next(line for line in text.splitlines() if line.strip().startswith("7.3"))
    assert row.split() == ["7.3", "*7.3.4-1~bpo13+1", "trixie-backports", "v7.3,", "v7.3.4"]
    assert "sid" in text.splitlines()[0]


@pytest.mark.kernel
def test_the_real_suites_offer_7_3_and_its_import_is_tagged():
    """The host's real mirror, through the private state in the real cache: 7.3 is there (trixie-backports
    today), and importing it gives v7.3 and its exact version (a no-op once imported)."""
    settings = Settings.from_mapping({})
    text = debian.listing(settings, Runner(echo=False), lambda s: None)
    row = next((line.split() for line in text.splitlines() if line.strip().startswith("7.3")), None)
    assert row is not None, text
    imported = debian.import_debian("7.3", settings, Runner(echo=False), lambda s: None)
    assert imported.tags[:2] == ("v7.3", f"v{imported.kernelversion}") and imported.kernelversion.startswith("7.3.")
    assert imported.package_version == row[1].lstrip("*")

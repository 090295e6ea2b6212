"""The HTML report in headless Chromium: it loads without console errors and shows the table.

Chromium writes the page's console messages to stderr with `--enable-logging=stderr --v=0`, as
`[...:INFO:CONSOLE:12] "message", source: file:///... (12)` (older builds: `CONSOLE(12)`, some
levels `ERROR:CONSOLE`); an exception reads `"Uncaught ReferenceError: ..."`. The report logs
nothing, so any console line is an error. The detector is checked on a page that does fail.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_report import real_run, report

from workbench.records import Run

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium")
TIMEOUT = 120
CASE = "cow: Basic COW after fork() ... with swapped-out, PTE-mapped THP (2048 kB)"
_CONSOLE = re.compile(r"CONSOLE[:(]|Uncaught|ERROR:CONSOLE")

needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not on PATH (apt-get install chromium)")


def chromium(tmp_path: Path, url: str, *extra: str) -> subprocess.CompletedProcess:
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0", *extra, url]
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, check=False, cwd=tmp_path)


def console_errors(stderr: str) -> list[str]:
    """The console lines of the page (chromium's own dbus/GPU noise is not the page's)."""
    return [line for line in stderr.splitlines() if _CONSOLE.search(line)]


def html_of(run: Run, path: Path) -> Path:
    path.write_text(report.render(run, "html"))
    return path


@pytest.fixture
def page(tmp_path) -> Path:
    return html_of(real_run(tmp_path / "run"), tmp_path / "report.html")


@needs_chromium
def test_the_detector_sees_console_errors(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>'
                   '<script>console.error("boom"); no_such_function();</script></body></html>')
    done = chromium(tmp_path, bad.as_uri(), "--dump-dom")
    errors = console_errors(done.stderr)
    assert any("boom" in e for e in errors) and any("Uncaught" in e for e in errors), done.stderr[-3000:]


@needs_chromium
def test_html_report_loads_without_console_errors(tmp_path, page):
    done = chromium(tmp_path, page.as_uri() + "#only-diff", "--dump-dom")
    assert done.returncode == 0, done.stderr[-3000:]
    assert console_errors(done.stderr) == [], done.stderr[-3000:]
    dom = done.stdout
    assert '<table class="matrix" id="matrix">' in dom
    assert f'<td class="case">{CASE}</td>' in dom
    assert '<a href="#col-1">[1] folio_mapcount</a>' in dom
    # the inline script ran: the #only-diff link checked the filter and set the body's class
    assert re.search(r'<body[^>]*class="only-diff"', dom), dom[:2000]


@needs_chromium
def test_html_report_screenshot(tmp_path, page):
    shot = tmp_path / "report.png"
    done = chromium(tmp_path, page.as_uri(), f"--screenshot={shot}", "--window-size=1400,1000")
    assert done.returncode == 0, done.stderr[-3000:]
    assert console_errors(done.stderr) == [], done.stderr[-3000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


@pytest.fixture
def probe_page(tmp_path) -> Path:
    from test_probe import probe_run

    return html_of(probe_run(tmp_path / "run"), tmp_path / "probe.html")


@needs_chromium
def test_html_report_draws_the_grid_and_the_chart_first(tmp_path, probe_page):
    from PIL import Image

    from workbench.report.pictures import COLOURS

    done = chromium(tmp_path, probe_page.as_uri(), "--dump-dom")
    assert done.returncode == 0 and console_errors(done.stderr) == [], done.stderr[-3000:]
    dom = done.stdout
    grid, cost, matrix = (dom.index(s) for s in ('<figure class="picture grid"><svg',
                                                 '<figure class="picture cost"><svg', 'id="matrix"'))
    assert grid < cost < matrix
    shot = tmp_path / "probe.png"
    done = chromium(tmp_path, probe_page.as_uri(), f"--screenshot={shot}", "--window-size=1400,1000")
    assert done.returncode == 0, done.stderr[-3000:]
    # the first screen shows the grid: its cells' colours are on it, as many as the words say
    colours = {hex_: n for n, (r, g, b) in Image.open(shot).convert("RGB").getcolors(1 << 20)
               for hex_ in [f"#{r:02x}{g:02x}{b:02x}"]}
    good, warn, bad = (colours.get(COLOURS[m], 0) for m in ("good", "warn", "bad"))
    assert good > warn > 10_000 and bad > 10_000, (good, warn, bad)

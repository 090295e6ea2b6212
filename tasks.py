"""Invoke tasks: parse flags, build a typed request, call the workbench package, map errors to Exit.

`invoke --list` shows them; `invoke --help TASK` shows each flag.
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path

from invoke import Collection, Exit, task

from workbench import errors
from workbench.proc import Runner
from workbench.settings import DEFAULTS, Settings


def _edge(fn):
    """Turn the workbench's errors into a one-paragraph message and a non-zero exit."""

    @functools.wraps(fn)
    def wrapper(c, *args, **kwargs):
        try:
            return fn(c, *args, **kwargs)
        except errors.WorkbenchError as exc:
            kind = "infrastructure error" if isinstance(exc, errors.InfraError) else "error"
            raise Exit(f"{kind}: {exc}", code=exc.exit_code) from None
        except KeyboardInterrupt:
            raise Exit("interrupted; finished results are on disk, run the same command to resume",
                       code=130) from None

    return wrapper


def _settings(c, **overrides) -> Settings:
    return Settings.from_mapping(dict(c.config.get("workbench", {})), **overrides)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _path(value: str | None) -> Path | None:
    return Path(value).expanduser() if value else None


@task(help={"tree": "your kernel git tree (default: workbench.tree in invoke.yaml, else the Debian import)",
            "debian": "import Debian's linux-source-X.Y package, e.g. 6.12 or 6.1, into the cache"})
@_edge
def tree(c, tree=None, debian=None):
    """Check a kernel tree (or import one from Debian) and prepare the workbench's clone of it."""
    from workbench import debian as deb
    from workbench.tree import KernelTree

    settings = _settings(c)
    runner = Runner()
    if debian:
        imported = deb.import_debian(debian, settings, runner, _say)
        _say(f"tree: {settings.cache / 'debian.git'}  base: --base v{imported.series} "
             f"(Linux {imported.kernelversion})")
        return
    kt = KernelTree.open(settings, runner, _path(tree))
    head = kt.clone.rev("origin/HEAD") or kt.clone.rev("HEAD") or "?"
    _say(f"tree: {kt.source} (Linux {kt.kernelversion(head)} at HEAD); workbench clone: {kt.clone.path}")


@task(help={"base": "tag, branch or commit of your tree to build on (e.g. v6.12)",
            "variants": "comma-separated variants (default: all of the study's)",
            "tree": "kernel git tree (default from invoke.yaml, else the Debian import)",
            "study": "study under templates/ (default: mapcount)"})
@_edge
def patches(c, base, variants=None, tree=None, study=None):
    """Render each variant at BASE, commit it in the workbench's clone, write patches/<base>/<variant>.patch."""
    from workbench import patches as wp
    from workbench import study as ws
    from workbench.tree import KernelTree

    settings = _settings(c, study=study)
    runner = Runner()
    kt = KernelTree.open(settings, runner, _path(tree))
    st = ws.load(settings.templates_dir, settings.study)
    ps = wp.render_all(kt, st, kt.resolve(base), _list(variants))
    wp.commit_all(kt, st, ps, settings.patches_dir)
    print(wp.summary(ps))


def _list(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


ns = Collection(tree, patches)
ns.configure({"workbench": DEFAULTS})

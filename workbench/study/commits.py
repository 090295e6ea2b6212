"""`invoke patches`: each variant as a commit on `workbench/<study>/<base>/<variant>` and a patch file
(`patches/<study>/<base>/<variant>.patch`).

Commits are made with plumbing in the workbench's clone (hash-object, a scratch index,
commit-tree), with the base's date and a fixed identity, so the same study at the same base
always gives the same commit ids and patches. Every patch is checked to apply at its base
(`git apply --check --cached` against a scratch index) before it is written. A variant whose
commit, branch and patch file are already what this rendering would make is not committed
again (`<clone>/workbench-commits.json` remembers them by a hash of their inputs).
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InfraError
from ..kernel.git import Git, commit_env, identity
from ..kernel.tree import Base, KernelTree
from ..records import BASE, write_atomic
from ..settings import Settings
from . import observe, sites, symbols
from .model import Study, Target
from .observe import LeftOut
from .render import Has, Rendered, named, render_variant
from .sources import Brought

MEMO = "workbench-commits.json"


@dataclass
class VariantPatch:
    variant: str
    same_as_base: bool
    commit: str | None = None
    branch: str | None = None
    patch: str | None = None
    diffstat: str = ""
    approximate: bool = False
    rendered: Rendered | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k != "rendered"}
        if self.rendered:
            d["changes"] = [asdict(c) for c in self.rendered.changes]
            d["prototypes"] = [{**asdict(p), "accuracy": p.accuracy.value} for p in self.rendered.prototypes]
            d["warnings"] = self.rendered.warnings
        return d


@dataclass(frozen=True)
class Found:
    """A site as the base has it."""

    file: str
    function: str
    role: str  # its role's label
    line: int
    expression: str
    asks: str = ""  # where the code asks the opposite of the study's question: why ("" where it asks it)


@dataclass
class PatchSet:
    base: Base
    kernelversion: str
    study: str
    files: list[str]
    sites: list[Found]
    variants: list[VariantPatch]
    signoff_from_config: bool = True
    left_out: list[LeftOut] = field(default_factory=list)  # optional targets this base lacks
    unobservable: list[Target] = field(default_factory=list)  # targets found here whose decision no program sees

    @property
    def observation(self) -> list[str]:
        """What `patches` and `check-variants` say of the unobservable and left-out targets."""
        return observe.listing(self.unobservable, self.left_out)

    def get(self, name: str) -> VariantPatch:
        return next(v for v in self.variants if v.variant == name)

    def commit_of(self, name: str) -> str:
        """The commit to build for `name` (`base` and same-as-base variants: the base)."""
        if name == BASE:
            return self.base.commit
        return self.get(name).commit or self.base.commit


def branch_name(study: str, base: Base, variant: str) -> str:
    """`workbench/<study>/<base>/<variant>`: two studies' variants of one name are two branches."""
    return f"workbench/{study}/{base.slug}/{variant}"


def patch_dir(patches_dir: Path, study: str, base: Base) -> Path:
    """`patches/<study>/<base>/`: the study's patches at that base."""
    return patches_dir / study / base.slug


def render_all(kt: KernelTree, study: Study, base: Base, variant_names: list[str] | tuple[str, ...] | None,
               context: dict[str, Any] | None = None) -> PatchSet:
    """Render the chosen variants at `base` (no commits, no files); `context` adds template variables."""
    chosen = [v.name for v in study.select(variant_names)]
    where = f"{study.name} at {base.name} (variants {', '.join(chosen)})"
    places, left_out = sites.locate_all(study, functools.partial(kt.clone.show, base.commit), where)
    files = list(dict.fromkeys(p.target.file for p in places))
    memo = kt.clone.path / "workbench-symbols"
    has = {f: Has({}, functools.partial(symbols.present, kt.clone, base.commit, file=f, memo=memo))
           for f in files}
    kver = kt.kernelversion(base.commit)
    context = {"where": where, "base": base.name, "kernelversion": kver, "file": files[0],
               "study": study.name, **named(places), **(context or {})}
    out = []
    for variant in study.select(variant_names):
        r = render_variant(study, places, variant, has, {**context, "where": f"variant {variant.name}, {where}"})
        out.append(VariantPatch(variant=variant.name, same_as_base=r.same_as_base, approximate=r.approximate,
                                rendered=r))
    site_list = [Found(s.file, s.function, s.role.label, s.line, s.text, s.asks) for p in places for s in p.sites]
    return PatchSet(base, kver, study.name, files, site_list, out, left_out=left_out,
                    unobservable=[p.target for p in places if not p.target.observe.observable])


def commit_all(kt: KernelTree, study: Study, ps: PatchSet, patches_dir: Path) -> PatchSet:
    """Commit every variant that differs from the base, write its patch, drop stale ones."""
    git = kt.clone
    name, email, from_config = identity(kt.runner)
    ps.signoff_from_config = from_config
    outdir = patch_dir(patches_dir, ps.study, ps.base)
    outdir.mkdir(parents=True, exist_ok=True)
    memo = _Memo(git)
    with tempfile.TemporaryDirectory(prefix="wb-index-") as tmp:
        index = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
        for vp in ps.variants:
            branch = branch_name(ps.study, ps.base, vp.variant)
            target = outdir / f"{vp.variant}.patch"
            if vp.same_as_base:
                if memo.ref(branch):
                    git.run("update-ref", "-d", f"refs/heads/{branch}", quiet=True)
                target.unlink(missing_ok=True)
                continue
            r = vp.rendered
            assert r is not None
            message = r.message(f"{name} <{email}>")
            files = "\0".join(f"{f}\0{text}" for f, text in r.files.items())
            key = hashlib.sha256(f"{ps.base.commit}\0{files}\0{message}".encode()).hexdigest()
            known = memo.get(key, branch, target)
            if known is None:
                known = _commit_variant(git, ps, r.files, message, index, name, email)
                git.run("update-ref", f"refs/heads/{branch}", known["commit"], quiet=True)
                write_atomic(target, known.pop("patch"))
                known["patch_sha"] = _sha(target)
                memo.put(key, known)
            vp.commit, vp.branch, vp.patch, vp.diffstat = known["commit"], branch, str(target), known["diffstat"]
    memo.save()
    doc = json.dumps(to_json(ps), indent=2) + "\n"
    summary_file = outdir / f"{ps.study}.json"
    if not summary_file.exists() or summary_file.read_text() != doc:
        write_atomic(summary_file, doc)
    return ps


def adopt(kt: KernelTree, ps: PatchSet, brought: Brought, patches_dir: Path) -> VariantPatch:
    """A change the user brought, as a column: its branch, its patch file and its diffstat."""
    git, branch = kt.clone, branch_name(ps.study, ps.base, brought.name)
    target = patch_dir(patches_dir, ps.study, ps.base) / f"{brought.name}.patch"
    target.parent.mkdir(parents=True, exist_ok=True)
    if brought.same_as_base:
        target.unlink(missing_ok=True)
        return VariantPatch(variant=brought.name, same_as_base=True)
    git.run("update-ref", f"refs/heads/{branch}", brought.commit, quiet=True)
    write_atomic(target, git.out("format-patch", "--stdout", "--no-signature", f"{ps.base.commit}..{brought.commit}")
                 + "\n")
    return VariantPatch(variant=brought.name, same_as_base=False, commit=brought.commit, branch=branch,
                        patch=str(target), diffstat=git.out("diff", "--stat=72", ps.base.commit, brought.commit))


def _commit_variant(git: Git, ps: PatchSet, files: dict[str, str], message: str, index: dict[str, str],
                    name: str, email: str) -> dict[str, str]:
    """One variant's commit on the base (every file it changes), its patch (checked to apply) and
    its diffstat."""
    date = git.out("log", "-1", "--format=%cI", ps.base.commit)
    git.run("read-tree", ps.base.commit, env=index, quiet=True)
    for file, text in files.items():
        mode = git.out("ls-tree", ps.base.commit, "--", file).split()[0]
        blob = git.out("hash-object", "-w", "--stdin", f"--path={file}", input=text)
        git.run("update-index", "--cacheinfo", f"{mode},{blob},{file}", env=index, quiet=True)
    tree = git.out("write-tree", env=index)
    commit = git.out("commit-tree", tree, "-p", ps.base.commit, "-F", "-", input=message,
                     env=commit_env(name, email, date))
    patch = git.out("format-patch", "-1", "--stdout", "--no-signature", commit) + "\n"
    git.run("read-tree", ps.base.commit, env=index, quiet=True)
    check = git.run("apply", "--check", "--cached", "-", input=patch, env=index, check=False, quiet=True)
    if check.returncode != 0:
        raise InfraError(f"the patch of {commit[:12]} does not apply at {ps.base.name}: {check.output.strip()}",
                         "This is a workbench bug; please report it with the study and base.")
    return {"commit": commit, "patch": patch, "diffstat": git.out("diff", "--stat=72", ps.base.commit, commit)}


class _Memo:
    """Variant commits made before, by a hash of their inputs; valid while the branch still points at
    the commit and the patch file is the one written then."""

    def __init__(self, git: Git) -> None:
        self.git, self.path = git, git.path / MEMO
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            data = {}
        self.data: dict[str, dict[str, str]] = data if isinstance(data, dict) else {}
        self.changed = False
        self._refs: dict[str, str] | None = None

    def ref(self, branch: str) -> str | None:
        if self._refs is None:
            listing = self.git.out("for-each-ref", "--format=%(objectname) %(refname)", "refs/heads/workbench/")
            self._refs = {ref.removeprefix("refs/heads/"): oid for oid, ref in
                          (line.split(" ", 1) for line in listing.splitlines() if " " in line)}
        return self._refs.get(branch)

    def get(self, key: str, branch: str, target: Path) -> dict[str, str] | None:
        known = self.data.get(key)
        if known and self.ref(branch) == known.get("commit") and target.exists() and _sha(target) == known.get(
                "patch_sha"):
            return dict(known)
        return None

    def put(self, key: str, entry: dict[str, str]) -> None:
        self.data[key] = entry
        self.changed = True

    def save(self) -> None:
        if self.changed:
            write_atomic(self.path, json.dumps(self.data, indent=1))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def to_json(ps: PatchSet) -> dict[str, Any]:
    return {"base": ps.base.name, "commit": ps.base.commit, "kernelversion": ps.kernelversion,
            "study": ps.study, "files": ps.files,
            "unobservable": [{"target": t.name, "file": t.file, "why": t.observe.why} for t in ps.unobservable],
            "left_out": [asdict(lo) for lo in ps.left_out],
            "sites": [{k: v for k, v in asdict(s).items() if k != "asks" or v} for s in ps.sites],
            "variants": [v.to_json() for v in ps.variants]}


def summary(ps: PatchSet) -> str:
    """What `invoke patches` prints: sites per role, prototypes, diffstat, same-as-base variants."""
    lines = [(f"{ps.study} at {ps.base.name} ({ps.base.commit[:12]}, Linux {ps.kernelversion}), "
              f"{' and '.join(ps.files)}:")]
    by_role: dict[tuple[str, str, str], list[str]] = {}
    for s in ps.sites:
        by_role.setdefault((s.file, s.function, s.role), []).append(
            f"line {s.line}: {s.expression}" + (f" [{s.asks}]" if s.asks else ""))
    for (file, function, role), found in by_role.items():
        where = f"{file}, {function}(), " if len({(s.file, s.function) for s in ps.sites}) > 1 else ""
        lines.append(f"  {where}{role}: {len(found)} site{'s' if len(found) != 1 else ''} ({'; '.join(found)})")
    lines += ps.observation
    for vp in ps.variants:
        r = vp.rendered
        if vp.same_as_base:
            lines.append(f"- {vp.variant}: same as base (no patch)")
            continue
        protos = ", ".join(f"{p.name}() [{p.accuracy}" + "".join(
            f"; {c.option}=y: {c.accuracy or 'refused'}" for c in p.configs) + "]" for p in r.prototypes) if r else ""
        lines.append(f"- {vp.variant}: {vp.patch}" + (f"  prototype: {protos}" if protos else ""))
        lines += [f"    {stat.strip()}" for stat in vp.diffstat.splitlines()]
        lines += [f"    warning: {w}" for w in (r.warnings if r else [])]
    if not ps.signoff_from_config:
        lines.append("note: git has no user.name/user.email; commits are signed off by the workbench identity")
    return "\n".join(lines)


def patches(settings: Settings, base: str, variants: tuple[str, ...] | None, tree: Path | None) -> str:
    """`invoke patches`: render, commit and write every variant at `base`; what it made, as text."""
    from ..proc import Runner
    from .model import load as load_study

    runner = Runner(log=settings.task_log("patches"), echo=settings.verbose)
    study = load_study(settings.templates_dir, settings.study)
    kt = KernelTree.open(settings, runner, tree)
    ps = commit_all(kt, study, render_all(kt, study, kt.resolve(base), variants), settings.patches_dir)
    return summary(ps)

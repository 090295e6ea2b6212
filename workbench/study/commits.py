"""`invoke patches`: each variant as a commit on `workbench/<base>/<variant>` and a patch file.

Commits are made with plumbing in the workbench's clone (hash-object, a
scratch index, commit-tree), with the base's date and a fixed identity, so the
same study at the same base always gives the same commit ids and patches.
Every patch is checked to apply at its base (`git apply --check --cached`
against a scratch index) before it is written.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import sites, symbols
from .errors import InfraError, UserError
from .git import commit_env, identity
from .render import Has, Rendered, render_variant
from .study import Study
from .tree import Base, KernelTree


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

    def to_json(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k != "rendered"}
        if self.rendered:
            d["changes"] = [asdict(c) for c in self.rendered.changes]
            d["prototypes"] = [asdict(p) for p in self.rendered.prototypes]
            d["warnings"] = self.rendered.warnings
        return d


@dataclass
class PatchSet:
    base: Base
    kernelversion: str
    study: str
    file: str
    sites: list[tuple[str, int, str]]  # (role label, line, expression at base)
    variants: list[VariantPatch]
    signoff_from_config: bool = True

    def get(self, name: str) -> VariantPatch:
        return next(v for v in self.variants if v.variant == name)

    def commit_of(self, name: str) -> str:
        """The commit to build for `name` (`base` and same-as-base variants: the base)."""
        if name == "base":
            return self.base.commit
        vp = self.get(name)
        return vp.commit or self.base.commit


def branch_name(base: Base, variant: str) -> str:
    return f"workbench/{base.slug}/{variant}"


def render_all(kt: KernelTree, study: Study, base: Base, variant_names: list[str] | None,
               context: dict | None = None) -> PatchSet:
    """Render the chosen variants at `base` (no commits, no files); `context` adds template variables."""
    chosen = [v.name for v in study.select(variant_names)]
    where = f"{study.name} at {base.name} (variants {', '.join(chosen)})"
    text = kt.clone.show(base.commit, study.file)
    if text is None:
        raise UserError(f"{where}: the base has no {study.file}",
                        "The study targets that file; pick a base that has it.")
    located = sites.locate(study, text, where)
    has = Has({}, lambda names: symbols.present(kt.clone, base.commit, names, study.file))
    kver = kt.kernelversion(base.commit)
    context = {"where": where, "base": base.name, "kernelversion": kver, "function": study.function,
               "file": study.file, "study": study.name, **(context or {})}
    out = []
    for variant in study.select(variant_names):
        r = render_variant(study, located, variant, has, {**context, "where": f"variant {variant.name}, {where}"})
        out.append(VariantPatch(variant=variant.name, same_as_base=r.same_as_base, approximate=r.approximate,
                                rendered=r))
    site_list = [(s.role.label, s.line, s.text) for s in located.sites]
    return PatchSet(base, kver, study.name, study.file, site_list, out)


def commit_all(kt: KernelTree, study: Study, ps: PatchSet, patches_dir: Path) -> PatchSet:
    """Commit every variant that differs from the base, write its patch, drop stale ones."""
    git = kt.clone
    name, email, from_config = identity(kt.runner)
    ps.signoff_from_config = from_config
    date = git.out("log", "-1", "--format=%cI", ps.base.commit)
    mode = git.out("ls-tree", ps.base.commit, "--", study.file).split()[0]
    outdir = patches_dir / ps.base.slug
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="wb-index-") as tmp:
        index = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
        for vp in ps.variants:
            branch = branch_name(ps.base, vp.variant)
            target = outdir / f"{vp.variant}.patch"
            if vp.same_as_base:
                if git.rev(f"refs/heads/{branch}"):
                    git.run("update-ref", "-d", f"refs/heads/{branch}", quiet=True)
                target.unlink(missing_ok=True)
                continue
            r = vp.rendered
            assert r is not None
            blob = git.out("hash-object", "-w", "--stdin", f"--path={study.file}", input=r.text)
            git.run("read-tree", ps.base.commit, env=index, quiet=True)
            git.run("update-index", "--cacheinfo", f"{mode},{blob},{study.file}", env=index, quiet=True)
            tree = git.out("write-tree", env=index)
            message = r.message(f"{name} <{email}>")
            commit = git.out("commit-tree", tree, "-p", ps.base.commit, "-F", "-", input=message,
                             env=commit_env(name, email, date))
            git.run("update-ref", f"refs/heads/{branch}", commit, quiet=True)
            patch = git.out("format-patch", "-1", "--stdout", "--no-signature", commit) + "\n"
            git.run("read-tree", ps.base.commit, env=index, quiet=True)
            check = git.run("apply", "--check", "--cached", "-", input=patch, env=index, check=False, quiet=True)
            if check.returncode != 0:
                raise InfraError(f"the {vp.variant} patch does not apply at {ps.base.name}: {check.output.strip()}",
                                 "This is a workbench bug; please report it with the study and base.")
            _write_atomic(target, patch)
            vp.commit, vp.branch, vp.patch = commit, branch, str(target)
            vp.diffstat = git.out("diff", "--stat=72", ps.base.commit, commit)
    _write_atomic(outdir / f"{ps.study}.json", json.dumps(to_json(ps), indent=2) + "\n")
    return ps


def to_json(ps: PatchSet) -> dict:
    return {"base": ps.base.name, "commit": ps.base.commit, "kernelversion": ps.kernelversion,
            "study": ps.study, "file": ps.file,
            "sites": [{"role": r, "line": line, "expression": e} for r, line, e in ps.sites],
            "variants": [v.to_json() for v in ps.variants]}


def _write_atomic(path: Path, content: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(content)
    os.replace(tmp, path)


def summary(ps: PatchSet) -> str:
    """What `invoke patches` prints: sites per role, prototypes, diffstat, same-as-base variants."""
    lines = [f"{ps.study} at {ps.base.name} ({ps.base.commit[:12]}, Linux {ps.kernelversion}), {ps.file}:"]
    by_role: dict[str, list[str]] = {}
    for role, line, expr in ps.sites:
        by_role.setdefault(role, []).append(f"line {line}: {expr}")
    for role, found in by_role.items():
        lines.append(f"  {role}: {len(found)} site{'s' if len(found) != 1 else ''} ({'; '.join(found)})")
    for vp in ps.variants:
        r = vp.rendered
        if vp.same_as_base:
            lines.append(f"- {vp.variant}: same as base (no patch)")
            continue
        protos = ", ".join(f"{p.name}() [{p.accuracy}]" for p in r.prototypes) if r else ""
        lines.append(f"- {vp.variant}: {vp.patch}" + (f"  prototype: {protos}" if protos else ""))
        for stat in vp.diffstat.splitlines():
            lines.append(f"    {stat.strip()}")
        for w in (r.warnings if r else []):
            lines.append(f"    warning: {w}")
    if not ps.signoff_from_config:
        lines.append("note: git has no user.name/user.email; commits are signed off by the workbench identity")
    return "\n".join(lines)

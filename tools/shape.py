#!/usr/bin/env python3
# A copy of the team's ../shared/tools/shape.py, for machines (CI) that have only this checkout;
# `invoke test` prefers ../shared/tools/shape.py when it exists.
"""The shape of a Python package: modules over 400 lines, functions over 60, import cycles.

Usage: python3 ../shared/tools/shape.py workbench      (from the project's root)
Prints one line per finding and exits 1 if there is any; prints "shape: ok" otherwise.
"""
import ast
import sys
from pathlib import Path

MAX_MODULE, MAX_FUNCTION = 400, 60


def modules(root: Path) -> dict[str, Path]:
    pkg = root.name
    found = {}
    for f in sorted(root.rglob("*.py")):
        name = ".".join((pkg,) + f.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
        found[name] = f
    return found


def imports(name: str, path: Path, tree: ast.AST, known: dict[str, Path]) -> set[str]:
    here = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = here.split(".")[: len(here.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        out |= {t for t in targets if t in known and t != name}
    return out


def cycles(graph: dict[str, set[str]]) -> set[str]:
    found, seen = set(), set()

    def visit(m: str, path: list[str]) -> None:
        for n in sorted(graph[m]):
            if n in path:
                cyc = path[path.index(n):]
                k = cyc.index(min(cyc))
                found.add(" -> ".join(cyc[k:] + cyc[:k] + [min(cyc)]))
            elif (m, n) not in seen:
                seen.add((m, n))
                visit(n, path + [n])

    for m in graph:
        visit(m, [m])
    return found


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "workbench")
    known = modules(root)
    findings, graph = [], {}
    for name, path in known.items():
        text = path.read_text()
        tree = ast.parse(text)
        graph[name] = imports(name, path, tree, known)
        lines = len(text.splitlines())
        if lines > MAX_MODULE:
            findings.append(f"module {path}: {lines} lines (> {MAX_MODULE})")
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = (node.end_lineno or node.lineno) - node.lineno + 1
                if n > MAX_FUNCTION:
                    findings.append(f"function {path}:{node.lineno} {node.name}: {n} lines (> {MAX_FUNCTION})")
    findings += [f"import cycle: {c}" for c in sorted(cycles(graph))]
    print("\n".join(findings) if findings else "shape: ok")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())

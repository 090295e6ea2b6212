"""Just enough C structure to find call sites by their place in a function, never by line number.

The kernel's C is regular enough that a masked scan works: comments, string and
character literals and preprocessor lines are blanked out (offsets kept), then
braces and parentheses are balanced on what remains. That tells, for any offset
inside a function, which blocks enclose it (`if (pmd_trans_huge(*pmd)) {`) and
which `if (...)` condition it belongs to.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

IDENT = re.compile(r"[A-Za-z_]\w*")
_TYPE_START = re.compile(
    r"\s*(?:const\s+|static\s+|volatile\s+)*"
    r"(?:struct\s+\w+|union\s+\w+|enum\s+\w+|unsigned\s+long\s+long|unsigned\s+long|unsigned\s+int|"
    r"unsigned|signed|long\s+long|long|int|short|char|bool|void|\w+_t)\b(?P<rest>.*)\Z", re.DOTALL)
_KEYWORDS = {"if", "else", "for", "while", "do", "switch", "case", "return", "goto", "break",
             "continue", "sizeof", "default", "struct", "union", "enum", "typeof"}


def mask(text: str) -> str:
    """`text` with comments, literals and preprocessor lines replaced by spaces (newlines kept)."""
    out = list(text)
    i, n = 0, len(text)
    line_start = True
    while i < n:
        c = text[i]
        if line_start and c in " \t":
            i += 1
            continue
        if line_start and c == "#":
            j = i
            while j < n:  # a directive runs to an unescaped newline
                if text[j] == "\n" and text[j - 1] != "\\":
                    break
                j += 1
            _blank(out, i, j)
            i = j
            continue
        line_start = c == "\n"
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            _blank(out, i, j)
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            _blank(out, i, j)
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            _blank(out, i + 1, min(j, n))
            i = j + 1
        else:
            i += 1
    return "".join(out)


def _blank(out: list[str], start: int, end: int) -> None:
    for k in range(start, end):
        if out[k] != "\n":
            out[k] = " "


def match_close(masked: str, open_pos: int) -> int:
    """Offset of the bracket closing the one at `open_pos` ((, [ or {)."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    opener = masked[open_pos]
    closer = pairs[opener]
    depth = 0
    for k in range(open_pos, len(masked)):
        ch = masked[k]
        if ch == opener:
            depth += 1
        elif ch == closer:
            depth -= 1
            if depth == 0:
                return k
    raise ValueError(f"unbalanced {opener!r} at offset {open_pos}")


@dataclass(frozen=True)
class Function:
    name: str
    decl_start: int  # where the definition's first line starts (the return type)
    params: tuple[int, int]  # inside the parentheses
    body: tuple[int, int]  # from '{' to its '}', inclusive


def find_function(masked: str, name: str) -> Function | None:
    """The definition (not a prototype, not a call) of function `name`."""
    for m in re.finditer(rf"\b{re.escape(name)}\s*\(", masked):
        open_paren = m.end() - 1
        try:
            close_paren = match_close(masked, open_paren)
        except ValueError:
            continue
        rest = masked[close_paren + 1:]
        stripped = rest.lstrip()
        if not stripped.startswith("{"):
            continue
        body_open = close_paren + 1 + (len(rest) - len(stripped))
        body_close = match_close(masked, body_open)
        start = max(masked.rfind(";", 0, m.start()), masked.rfind("}", 0, m.start())) + 1
        while start < m.start() and masked[start].isspace():
            start += 1
        return Function(name, start, (open_paren + 1, close_paren), (body_open, body_close))
    return None


def insertion_point(text: str, masked: str, func: Function) -> int:
    """Where a helper goes before `func`: above the comment lines attached to its definition."""
    start = text.rfind("\n", 0, func.decl_start) + 1
    while start > 0:
        prev = text.rfind("\n", 0, start - 1) + 1
        original = text[prev:start - 1]
        is_comment = (original.strip() and not masked[prev:start - 1].strip()
                      and not original.lstrip().startswith("#"))
        if not is_comment:
            break
        start = prev
    return start


def enclosing_headers(masked: str, body: tuple[int, int], pos: int) -> list[str]:
    """The headers of the blocks around `pos`, outermost first: e.g.
    ['if (pmd_trans_huge(*pmd))', 'if (next - addr != HPAGE_PMD_SIZE)']."""
    stack: list[str] = []
    boundary = body[0]
    paren = 0
    for k in range(body[0] + 1, pos):
        ch = masked[k]
        if ch == "(":
            paren += 1
        elif ch == ")":
            paren -= 1
        elif paren == 0 and ch == "{":
            stack.append(" ".join(masked[boundary + 1:k].split()))
            boundary = k
        elif paren == 0 and ch == "}":
            if stack:
                stack.pop()
            boundary = k
        elif paren == 0 and ch == ";":
            boundary = k
    return stack


def controlling_condition(masked: str, body: tuple[int, int], pos: int) -> tuple[int, int] | None:
    """The span inside the parentheses of the `if`/`while` whose condition holds `pos`."""
    depth = 0
    for k in range(pos - 1, body[0], -1):
        ch = masked[k]
        if ch == ")":
            depth += 1
        elif ch == "(":
            if depth:
                depth -= 1
                continue
            before = masked[body[0]:k].rstrip()
            word = IDENT.findall(before[-10:])
            if word and word[-1] in ("if", "while") and before.endswith(word[-1]):
                return k + 1, match_close(masked, k)
        elif ch in ";{}" and depth == 0:
            return None
    return None


def parameters(masked: str, func: Function) -> set[str]:
    names: set[str] = set()
    for param in _split_top(masked[func.params[0]:func.params[1]], ","):
        idents = [i for i in IDENT.findall(param) if i not in _KEYWORDS]
        if idents:
            names.add(idents[-1])
    return names


_ASSIGNED = re.compile(r"(?<![\w.>])([A-Za-z_]\w*)\s*=(?!=)\s*(?P<rhs>\w*)")


def valued_names(masked: str, func: Function, pos: int) -> set[str]:
    """The parameters of `func` and the names its body gives a value (other than NULL) before `pos`,
    in the order of the text: a local declared `= NULL` or uninitialised and first assigned after
    `pos` has no value there (in a loop, the previous iteration's: v6.1's hpage_collapse_scan_pmd()
    sets `folio = page_folio(page)` below its sharing check)."""
    names = parameters(masked, func)
    names.update(m.group(1) for m in _ASSIGNED.finditer(masked, func.body[0], pos) if m.group("rhs") != "NULL")
    return names


def declared_names(masked: str, func: Function) -> set[str]:
    """Parameters and local variables of `func` (a forgiving parse of its declarations)."""
    names = parameters(masked, func)
    body = masked[func.body[0] + 1:func.body[1]]
    for statement in re.split(r"[;{}]", body):
        m = _TYPE_START.match(statement)
        if not m or re.match(r"\s*(return|goto|case)\b", statement):
            continue
        for declarator in _split_top(m.group("rest"), ","):
            d = declarator.split("=", 1)[0].strip().lstrip("*").strip()
            ident = IDENT.match(d)
            if ident and ident.group(0) not in _KEYWORDS:
                names.add(ident.group(0))
    return names


def free_identifiers(expr: str) -> set[str]:
    """Identifiers in `expr` that are not called as functions: `pmd_page(orig_pmd)` -> {orig_pmd}."""
    return {m.group(0) for m in IDENT.finditer(expr)
            if not expr[m.end():].lstrip().startswith("(") and not m.group(0).isupper()}


def called_functions(expr: str) -> set[str]:
    return {m.group(1) for m in re.finditer(r"\b([A-Za-z_]\w*)\s*\(", expr) if m.group(1) not in _KEYWORDS}


def _split_top(text: str, sep: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for k, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:k])
            start = k + 1
    parts.append(text[start:])
    return [p for p in parts if p.strip()]


def line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1

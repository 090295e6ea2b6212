"""Just enough of C's expression grammar to put a predicate where another one was, meaning intact.

A variant's block writes a predicate that answers the study's question ("is this folio shared?").
At a site the code may ask it negated (`!folio_likely_mapped_shared(folio)`), ask the opposite
(`page_mapcount(page) == 1`, "is it exclusive?"), or sit between operators that bind tighter than
the predicate's own (`x == SITE`). So a predicate is negated where its site's form asks the
opposite, and put in parentheses where its loosest operator binds less tightly than its
neighbours in the code allow. Where the code around a site is not understood (a member access, a
cast-like `)`, an unknown word, `~`), the site is refused rather than rewritten on a guess.

Levels are C's precedence, tightest first: 1 primary and postfix (`f(x)`, `(a != b)`), 2 unary
(`!x`), 3 `* / %`, 4 `+ -`, 5 shifts, 6 relational, 7 `== !=`, 8 `&`, 9 `^`, 10 `|`, 11 `&&`,
12 `||`, 13 `?:`, 14 assignment, 15 `,`. A site is a truth value: `!!x` and `x` give one answer.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from . import csrc

PRIMARY, UNARY, CONDITIONAL, ASSIGNMENT, COMMA = 1, 2, 13, 14, 15
BINARY = {"*": 3, "/": 3, "%": 3, "+": 4, "-": 4, "<<": 5, ">>": 5, "<": 6, "<=": 6, ">": 6, ">=": 6,
          "==": 7, "!=": 7, "&": 8, "^": 9, "|": 10, "&&": 11, "||": 12, "?": 13, ":": 13}
ASSIGN = {"=", "+=", "-=", "*=", "/=", "%=", "&=", "^=", "|=", "<<=", ">>="}
UNARY_OPS = {"!", "~", "-", "+", "*", "&", "++", "--", "sizeof"}
OPEN = {"(", "[", "{", "}", ";", ",", "return"}  # after these (and at the start) an expression starts
CLOSE = {")", "]", "}", ";", ",", ""}  # before these (and at the end) it ends
_TOKEN = re.compile(r"\s*(\"[^\"]*\"|'[^']*'|[A-Za-z_]\w*|\d[\w.]*|<<=|>>=|->|\+\+|--|<<|>>|<=|>=|==|!=|&&|\|\||"
                    r"[-+*/%&|^]=|\S)")
_PAIRS = {"(": ")", "[": "]", "{": "}"}


class NotAnExpression(ValueError):
    """A predicate that is no C expression to this reading (an operator with nothing after it, `;`)."""


@dataclass(frozen=True)
class Context:
    """How a site stands in its code: the loosest level a predicate may have there without
    parentheses (None: not understood), and whether a `!` right before it negates it."""

    fits: int | None
    negated: bool
    before: str  # the token before the site ("" at the start of an expression), for errors
    after: str


def tokens(masked: str) -> list[str]:
    """The tokens of masked C text (comments and literals blanked: see csrc.mask)."""
    return [t for t, _ in _spans(masked)]


def _spans(masked: str) -> list[tuple[str, int]]:
    return [(m.group(1), m.start(1)) for m in _TOKEN.finditer(masked) if m.group(1)]


def _top(toks: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """The tokens outside every bracket, a bracketed group standing as its opening bracket."""
    out, depth = [], 0
    for t, at in toks:
        if depth == 0:
            out.append((t, at))
        if t in _PAIRS:
            depth += 1
        elif t in _PAIRS.values():
            depth -= 1
            if depth < 0:
                raise NotAnExpression(f"a {t!r} closes nothing")
    if depth:
        raise NotAnExpression("a bracket is not closed")
    return out


def _operand(t: str) -> bool:
    return t in _PAIRS or t[0] in "\"'" or bool(re.match(r"\w", t)) and t != "sizeof"


def level(expr: str) -> int:
    """The level of `expr`'s loosest operator outside brackets (PRIMARY for a call or a group)."""
    return _scan(expr)[0]


def _scan(expr: str) -> tuple[int, list[tuple[str, int, int]]]:
    """`expr`'s level, and its binary operators outside brackets: (token, offset, level)."""
    top = _top(_spans(csrc.mask(expr)))
    ops: list[tuple[str, int, int]] = []
    want_operand, unary = True, False
    i = 0
    while i < len(top):
        t, at = top[i]
        if want_operand:
            cast = t == "(" and i + 1 < len(top) and (_operand(top[i + 1][0]) or top[i + 1][0] in UNARY_OPS)
            if t in UNARY_OPS or cast:
                unary = unary or not ops
            elif _operand(t):
                want_operand = False
            else:
                raise NotAnExpression(f"{t!r} where an operand should be")
        elif t in ("(", "[", "++", "--"):
            pass  # a call, an index, a postfix increment
        elif t in (".", "->"):
            i += 1  # the member's name
        elif t in BINARY or t in ASSIGN or t == ",":
            ops.append((t, at, BINARY.get(t, ASSIGNMENT if t in ASSIGN else COMMA)))
            want_operand = True
        else:
            raise NotAnExpression(f"{t!r} after an operand")
        i += 1
    if want_operand:
        raise NotAnExpression("it ends with an operator" if top else "it is empty")
    return max((lv for _, _, lv in ops), default=UNARY if unary else PRIMARY), ops


def context(masked: str, lo: int, start: int, end: int, hi: int) -> Context:
    """The context of the expression at `start:end` of masked text, read between `lo` and `hi`
    (the function's body)."""
    before = tokens(masked[lo:start])
    after = tokens(masked[end:hi])[:1]
    prev, prev2 = ([""] * 2 + before)[-1], ([""] * 2 + before)[-2]
    nxt = after[0] if after else ""
    bangs = next((k for k in range(len(before)) if before[len(before) - 1 - k] != "!"), len(before))
    return Context(_min(_left(prev, prev2), _right(nxt)), bangs % 2 == 1, prev, nxt)  # `!!x` asks what x asks


def _min(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else min(a, b)


def _ends_operand(t: str) -> bool:
    return t in (")", "]") or (bool(re.match(r"[\w\"']", t)) and t not in ("return", "sizeof", "case"))


def _left(prev: str, prev2: str) -> int | None:
    if prev in OPEN or prev in ASSIGN or prev in ("", "?"):
        return ASSIGNMENT
    if prev == ":":
        return CONDITIONAL
    if prev in BINARY and _ends_operand(prev2):
        return BINARY[prev] - 1  # left-associative: only what binds tighter stays its right operand
    if prev == "!":
        return UNARY
    return None  # `~`, `-x`, a cast's `)`, a member's `.`, a word: not understood


def _right(nxt: str) -> int | None:
    if nxt in CLOSE:
        return ASSIGNMENT
    if nxt == "?":
        return BINARY["||"]
    if nxt in BINARY:
        return BINARY[nxt]
    return None


def negate(expr: str) -> str:
    """`expr` negated: `!(x)` and `!f(x)` lose their `!` (a comment after them stays), a single
    comparison turns into its converse (`a != 1` -> `a == 1`: integers, as the kernel compares), a
    primary gains a `!`, anything else is negated in parentheses."""
    masked = csrc.mask(expr)
    top = _top(_spans(masked))
    if top and top[0][0] == "!" and level(expr[masked.index("!") + 1:]) == PRIMARY:
        rest = expr[masked.index("!") + 1:]
        inner = csrc.mask(rest)
        opened = len(inner) - len(inner.lstrip())
        if inner.strip().startswith("(") and csrc.match_close(inner, opened) == len(inner.rstrip()) - 1:
            close = len(inner.rstrip()) - 1
            return " ".join((rest[opened + 1:close] + rest[close + 1:]).split())
        return " ".join(rest.split())
    loosest, ops = _scan(expr)
    compared = [(t, at) for t, at, lv in ops if lv == loosest]
    if loosest in (BINARY["<"], BINARY["=="]) and len(compared) == 1:  # `a != 1` -> `a == 1`
        t, at = compared[0]
        return expr[:at] + _CONVERSE[t] + expr[at + len(t):]
    return f"!{expr}" if loosest == PRIMARY else f"!({expr})"


_CONVERSE = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", ">": "<=", "<=": ">"}


def fit(expr: str, fits: int) -> str:
    """`expr` as it can stand where the loosest level allowed is `fits`."""
    return expr if level(expr) <= fits else f"({expr})"

"""A probe's words map verdict tokens, never the English of a reason (workbench/study/words.py)."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from workbench.guest import tap
from workbench.records import Case
from workbench.status import Status
from workbench.study import words as words_mod

ROOT = Path(__file__).resolve().parent.parent
REAL = Path(__file__).parent / "data" / "real"
MAPCOUNT = words_mod.load(ROOT / "templates" / "mapcount" / "probe" / "words.toml")
LAZYFREE = words_mod.load(ROOT / "templates" / "lazyfree" / "probe" / "words.toml")


def case(reason: str, status: Status = Status.FAIL, name: str = "MADV_PAGEOUT exclusive PTE-mapped THP (16 kB)",
         env: bool = False) -> Case:
    return Case(test="probe", name=name, status=status, reason=reason, env_skip=env)


def test_the_token_is_the_first_word_of_the_reason_in_brackets():
    assert words_mod.token(case("[missed] treated exclusive as shared (missed pageout)")) == "missed"
    assert words_mod.token(case("[caller-only] the other process's PTEs ...", Status.SKIP)) == "caller-only"
    assert words_mod.token(case("treated exclusive as shared [missed]")) == ""
    assert words_mod.token(case("[RUN] not a token")) == ""


def test_a_reworded_reason_keeps_its_word_and_prose_alone_gives_none():
    """The English after the token may change freely; without a token the status speaks."""
    assert MAPCOUNT.word(case("[missed] nothing was paged out at all")) == "missed pageout"
    assert MAPCOUNT.word(case("[missed] x", name="MADV_COLD exclusive PTE-mapped THP (16 kB)")) == \
        "missed deactivation"
    assert MAPCOUNT.word(case("treated exclusive as shared (missed pageout)")) == "fail"
    assert MAPCOUNT.word(case("[wrong] y")) == "wrong pageout"
    assert MAPCOUNT.word(case("[inconclusive] NAME: the folio split meanwhile", Status.SKIP)) == "inconclusive"
    assert MAPCOUNT.word(case("NAME: did not get a THP populated", Status.SKIP, env=True)) == "n/a (env)"
    assert MAPCOUNT.word(case("", Status.PASS)) == "correct"
    assert LAZYFREE.word(case("[loss] DATA LOSS: the child read zeros at 8 of 8 pages")) == "DATA LOSS"
    assert LAZYFREE.word(case("[caller-only] NAME: ...", Status.SKIP)) == "caller's side only"
    assert LAZYFREE.word(case("NAME: LRU state not observable", Status.SKIP)) == "skipped"


def test_every_token_the_probes_print_has_a_word():
    """The tokens of probe_common.h's verdict_token[] (those that are not a plain ok, skip or
    error) each have a rule in the words of the study whose probe prints it."""
    common = (ROOT / "templates" / "probe-common" / "probe_common.h").read_text()
    table = common.split("verdict_token[NR_VERDICTS] = {", 1)[1].split("};", 1)[0]
    tokens = set(re.findall(r'= "([a-z-]+)"', table)) - {"correct"}  # a plain ok reads by its status
    said = {r.token for w in (MAPCOUNT, LAZYFREE) for r in w.rules if r.token}
    assert tokens == said
    for words, probe in ((MAPCOUNT, "mapcount"), (LAZYFREE, "lazyfree")):
        src = (ROOT / "templates" / probe / "probe" / "probe.c").read_text()
        for token_, verdict in {"missed": "V_MISSED", "split": "V_SPLIT", "wrong": "V_WRONG", "loss": "V_LOSS",
                                "inconclusive": "V_INCONCLUSIVE", "caller-only": "V_CALLER"}.items():
            if f"set_outcome(o, {verdict}" in src or f"(o, {verdict}," in src:
                assert any(r.token == token_ for r in words.rules), f"{probe}: {token_} has no word"


def test_a_words_file_that_matches_english_is_refused(tmp_path: Path):
    bad = tmp_path / "words.toml"
    bad.write_text('title = "t"\n[[verdict]]\nreason = "exclusive as shared"\nword = "missed"\n')
    with pytest.raises(ValueError, match="match the verdict token"):
        words_mod.load(bad)


def test_a_run_recorded_before_the_tokens_still_reads_in_its_own_words():
    """Its run.json holds rules that match reasons (the words of then); its TAP has no tokens."""
    raw = tomllib.loads((REAL / "untokened-words.toml").read_text())
    old = words_mod.Words.from_json({"title": raw["title"], "rules": raw["verdict"], "actions": raw["action"]})
    out = tap.parse((REAL / "untokened-v6.1.192-base-probe.tap").read_text(), "probe", exit_code=1)
    by = {c.name: old.word(c) for c in out.cases}
    assert by["MADV_PAGEOUT PMD-mapped THP partly shared, child keeps second half (2048 kB)"] == "wrong pageout"
    assert by["MADV_COLD PTE-mapped THP partly shared, child keeps second half (2048 kB)"].startswith("split")

"""`invoke reply`: the answer on a list thread (tests/data/mail/: an RFC and a review, as `b4 mbox`
writes a thread) carrying a real run's text table: threading headers, recipients, a short quote,
prose at 72 columns and the table as it is."""
from __future__ import annotations

import email
import email.policy
import shutil
from pathlib import Path

import pytest
from test_report import real_run

from workbench import reply, report
from workbench.errors import UserError

THREAD = Path(__file__).parent / "data" / "mail" / "rfc-folio-mapcount.mbox"
ROOT = "<20261201091203.48213-1-ana.moreau@example.org>"
REVIEW = "<Z2rT4x8yQm1b@example.net>"


def compose(tmp_path: Path, **kw: str) -> reply.Reply:
    return reply.compose(real_run(tmp_path), reply.ReplyRequest(to=THREAD, sender="Dev <dev@example.com>", **kw))


def test_the_reply_threads_under_the_root_and_keeps_its_recipients(tmp_path):
    done = compose(tmp_path)
    assert done.text.startswith("From workbench Mon Sep 17 00:00:00 2001\n")  # an mbox of one, as format-patch
    msg = email.message_from_string(done.text.split("\n", 1)[1], policy=email.policy.default)
    assert msg["In-Reply-To"] == ROOT and msg["References"] == ROOT
    assert msg["Subject"] == "Re: [RFC PATCH] mm/madvise: decide sharing by folio_mapcount() in MADV_COLD/PAGEOUT"
    assert msg["To"] == "Ana Moreau <ana.moreau@example.org>"
    assert [a.addr_spec for a in msg["Cc"].addresses] == ["linux-mm@kvack.org", "akpm@linux-foundation.org",
                                                          "rui@example.net", "linux-kernel@vger.kernel.org"]
    assert msg.get_content_type() == "text/plain" and not msg.is_multipart()
    assert "answering the first" in done.notes[0]


def test_a_reply_to_the_review_references_the_whole_thread_and_does_not_re_re(tmp_path):
    msg = email.message_from_string(compose(tmp_path, msgid=REVIEW).text.split("\n", 1)[1],
                                    policy=email.policy.default)
    assert msg["In-Reply-To"] == REVIEW and msg["References"].split() == [ROOT, REVIEW]
    assert msg["Subject"].startswith("Re: [RFC PATCH]") and "Re: Re:" not in msg["Subject"]
    assert msg["To"] == "Rui Tavares <rui@example.net>"
    with pytest.raises(UserError, match="no such message in the thread"):
        compose(tmp_path / "x", msgid="<nope@example.org>")


def test_the_body_quotes_the_question_wraps_prose_at_72_and_keeps_the_table_whole(tmp_path):
    run = real_run(tmp_path)
    done = reply.compose(run, reply.ReplyRequest(to=THREAD, sender="Dev <dev@example.com>"))
    body = done.text.split("\n\n", 1)[1]
    assert "Ana Moreau wrote:\n> madvise_cold_or_pageout_pte_range() asks" in body
    assert "> and folio_likely_mapped_shared().\n\nI ran this" in body  # the question, whole
    assert "Signed-off-by" not in body and "diff --git" not in body and "> Thanks" not in body
    table = report.render(run, "text").rstrip("\n")
    assert table in body  # byte for byte: never rewrapped
    assert max(len(line) for line in table.splitlines()) > 72
    prose = body.replace(table, "")
    assert all(len(line) <= 72 for line in prose.splitlines())
    assert body.rstrip().endswith("    " + run.command)


def test_without_run_the_newest_finished_one_is_taken_and_said(tmp_path, settings):
    run = real_run(tmp_path / "src")
    run.save()
    shutil.copytree(run.dir, settings.results_dir / run.dir.name)
    said: list[str] = []
    out = reply.write(reply.ReplyRequest(to=THREAD, sender="Dev <dev@example.com>"), settings, said.append)
    assert said[0] == f"run {run.id} (the newest finished one)"
    assert out == settings.results_dir / run.id / "reply.mbox" and f"In-Reply-To: {ROOT}" in out.read_text()


def test_a_file_without_messages_is_refused(tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_text("just some notes\n")
    with pytest.raises(UserError, match="no message with a Message-ID"):
        reply.compose(real_run(tmp_path), reply.ReplyRequest(to=junk))

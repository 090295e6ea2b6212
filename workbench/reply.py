"""`invoke reply`: a run's answer on the mailing-list thread that asked for it.

The input is a saved message or a thread (an mbox, as `b4 mbox` writes it, or one message as a
mail client saves it). The reply goes to the message named by `--msgid` (default: the first of
the file, the thread's root): `In-Reply-To` its Message-ID, `References` its references and it,
`Re:` its subject, To its sender, Cc everyone it was sent to (the user's own address left out).
The body is plain text: an attribution line and a short quote of what it asked, a paragraph on
what ran, the run's text table (the rows that differ from base, the probe's verdicts, the column
labels) untouched, and the command that reproduces the run. Prose is wrapped at 72 columns; the
table and the command are never wrapped. The file starts with an mbox `From ` line, the way
`git format-patch` writes one, so `git send-email FILE` and a mail client take it as it is.
"""
from __future__ import annotations

import email.policy
import mailbox
import re
import textwrap
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from email.utils import getaddresses, parseaddr
from pathlib import Path

from . import runs
from .errors import UserError
from .kernel.git import identity
from .proc import Runner, Say
from .records import Run
from .report import render
from .settings import Settings

PROSE = 72
QUOTE_LINES = 12
FROM_LINE = "From workbench Mon Sep 17 00:00:00 2001"  # what git format-patch writes: an mbox of one


@dataclass(frozen=True)
class ReplyRequest:
    to: Path  # the saved message or thread
    msgid: str = ""  # the message to answer; "" the first of the file
    sender: str = ""  # the user's "Name <address>", "" when git has none (send-email asks)
    run: str = ""  # the run (id, prefix or folder); "" the newest finished one
    output: Path | None = None  # None: reply.mbox in the run's folder


def write(req: ReplyRequest, settings: Settings, say: Say) -> Path:
    """Compose the reply for the run asked for (or the newest finished one, said so) and write it."""
    run = runs.find_run(settings, req.run or None)
    if not req.run:
        say(f"run {run.id} (the newest finished one)")
    if not req.sender:
        name, address, from_config = identity(Runner(log=settings.task_log("reply")))
        req = ReplyRequest(**{**req.__dict__, "sender": f"{name} <{address}>" if from_config else ""})
    reply = compose(run, req, settings.templates_dir)
    out = req.output or run.dir / "reply.mbox"
    runs.write_output(out, reply.text)
    for note in reply.notes:
        say(note)
    return out


@dataclass
class Reply:
    text: str
    subject: str
    in_reply_to: str
    notes: list[str] = field(default_factory=list)


def read_thread(path: Path) -> list[Message]:
    """The messages of an mbox (b4 mbox, a mail client's export) or of a single saved message."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UserError(f"--to {path}: cannot read it ({exc.strerror})",
                        "Name the saved thread, e.g. the .mbx file `b4 mbox MSGID` writes.") from None
    if raw.startswith(b"From "):
        box = mailbox.mbox(str(path), create=False)
        messages: list[Message] = [m for m in box if m.get("Message-ID")]
    else:
        one = email.message_from_bytes(raw, policy=email.policy.default)
        messages = [one] if one.get("Message-ID") else []
    if not messages:
        raise UserError(f"--to {path}: no message with a Message-ID in it",
                        "Save the thread with `b4 mbox MSGID` or your mail client's 'save as mbox'.")
    return messages


def pick(messages: list[Message], msgid: str) -> Message:
    if not msgid:
        return messages[0]
    want = msgid.strip().strip("<>")
    for m in messages:
        if str(m.get("Message-ID", "")).strip().strip("<>") == want:
            return m
    ids = ", ".join(str(m.get("Message-ID", "")).strip() for m in messages)
    raise UserError(f"--msgid {msgid}: no such message in the thread", f"It has: {ids}.")


def compose(run: Run, req: ReplyRequest, templates: Path | None = None) -> Reply:
    """The reply to `req.to` carrying `run`."""
    messages = read_thread(req.to)
    orig = pick(messages, req.msgid)
    msgid = str(orig["Message-ID"]).strip()
    subject = _re(str(orig.get("Subject", "")))
    me = parseaddr(req.sender)[1].lower()
    to = _addresses(orig, ["Reply-To"] if orig.get("Reply-To") else ["From"], me)
    cc = [a for a in _addresses(orig, ["To", "Cc"], me) if a not in to]
    msg = EmailMessage(policy=email.policy.default.clone(max_line_length=998))  # one line a header: readable, editable
    if req.sender:
        msg["From"] = req.sender
    msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Subject"] = subject
    msg["In-Reply-To"] = msgid
    msg["References"] = " ".join([*str(orig.get("References", "")).split(), msgid])
    body = _body(run, orig, templates)
    msg.set_content(body, charset="utf-8", cte="8bit" if not body.isascii() else "7bit")
    notes = [] if req.sender else ["git has no user.name/user.email: no From line (git send-email --from sets it)"]
    if len(messages) > 1 and not req.msgid:
        notes.append(f"the thread has {len(messages)} messages: answering the first, {msgid} "
                     "(--msgid names another)")
    text = FROM_LINE + "\n" + msg.as_string()
    return Reply(text, subject, msgid, notes)


def _re(subject: str) -> str:
    subject = " ".join(subject.split())
    return subject if re.match(r"(?i)re:", subject) else f"Re: {subject}"


def _addresses(msg: Message, headers: list[str], me: str) -> list[str]:
    out: dict[str, str] = {}
    for name, addr in getaddresses([str(v) for h in headers for v in msg.get_all(h, [])]):
        if addr and addr.lower() != me and addr.lower() not in out:
            out[addr.lower()] = f"{name} <{addr}>" if name else addr
    return list(out.values())


def _body(run: Run, orig: Message, templates: Path | None) -> str:
    who = parseaddr(str(orig.get("From", "")))[0] or parseaddr(str(orig.get("From", "")))[1]
    date = str(orig.get("Date", "")).strip()
    quote, cut = asked(_text(orig))
    parts = [_wrap(f"On {date}, {who} wrote:" if date else f"{who} wrote:") + "\n"
             + "\n".join(f"> {line}".rstrip() for line in quote) + ("\n> [...]" if cut else "")]
    parts.append(_wrap(_what_ran(run)))
    parts.append(render(run, "text", templates).rstrip("\n"))  # the table: never wrapped
    parts.append(_wrap("To reproduce it, from a checkout of the workbench (the kernel tree and the "
                       "settings as recorded in the run's run.json):") + "\n\n    " + run.command)
    return "\n\n".join(parts) + "\n"


def _wrap(text: str) -> str:
    return "\n".join(textwrap.wrap(text, PROSE, break_long_words=False, break_on_hyphens=False))


def _text(msg: Message) -> str:
    """The plain-text part of a message (the first text/plain part of a multipart one)."""
    part = msg
    if msg.is_multipart():
        part = next((p for p in msg.walk() if p.get_content_type() == "text/plain"), msg)
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload.decode(part.get_content_charset() or "utf-8", errors="replace")
    return str(part.get_payload())


def asked(body: str, limit: int = QUOTE_LINES) -> tuple[list[str], bool]:
    """What the message says before its patch, the quotes of others and its signature: whole
    paragraphs while they fit in `limit` lines (at least the first, cut to `limit`), rewrapped for
    the 72 columns of the reply with its "> " prefix; a closing "Thanks, Ana" is left out. The
    flag says whether anything was cut."""
    kept: list[str] = []
    for line in body.splitlines():
        if line.startswith(("---", "diff --git", "-- ", "Signed-off-by:")) or line.rstrip() == "--":
            break
        if line.startswith(">") or re.match(r"^On .* wrote:$", line):
            continue
        kept.append(line.rstrip())
    paragraphs = [" ".join(p.split()) for p in "\n".join(kept).split("\n\n") if p.strip()]
    while len(paragraphs) > 1 and len(paragraphs[-1]) < 30:  # a greeting, a name
        paragraphs.pop()
    out: list[str] = []
    for i, para in enumerate(paragraphs):
        lines = textwrap.wrap(para, PROSE - 2, break_long_words=False, break_on_hyphens=False)
        if out and len(out) + 1 + len(lines) > limit:
            return out, True
        out += ([""] if out else []) + lines
        if len(out) > limit:
            return out[:limit], True
    return out, False


def _what_ran(run: Run) -> str:
    columns = [v for v in run.variants if v != "base"]
    state = "" if run.state.value == "finished" else f" (the run is {run.state.value}: not every cell ran)"
    return (f"I ran this through the kernel patch workbench at {run.base} (Linux {run.kernelversion}): "
            f"the unchanged base and {len(columns)} variant{'s' if len(columns) != 1 else ''} "
            f"({', '.join(columns)}), each built and booted in a guest ({run.executor or run.accel}, swap on "
            f"zram, THP {run.vm.get('thp', '?')}), with the tests {', '.join(run.tests)}{state}. Below, the "
            "cases whose status differs from the base" + (", then the probe's verdicts per scenario" if run.words
                                                           else "") + "; a column is named by its number.")

"""Every command README.md shows names a task that exists, with flags that task has, and parses."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from invoke import Parser, ParserContext

from tasks import ns

README = Path(__file__).resolve().parent.parent / "README.md"


def commands() -> list[str]:
    """The `invoke ...` and `./wb ...` commands of README.md's code blocks and inline code, with
    optional parts (`[--boot]`) written out and comments dropped."""
    text = README.read_text()
    found = [line.strip() for line in text.splitlines() if line.startswith("    ")]
    found += re.findall(r"`((?:\./wb|invoke|\.venv/bin/invoke) [^`]+)`", text)
    out = []
    for line in found:
        line = line.split("  #", 1)[0].strip()
        if not re.match(r"(\./wb|invoke|\.venv/bin/invoke)\b", line):
            continue
        if "..." not in line:  # an elided command line is not a command
            out.append(re.sub(r"\[(--[^\]]+)\]", r"\1", line).strip())
    return list(dict.fromkeys(out))


def test_the_readme_shows_commands():
    assert len(commands()) >= 15


@pytest.mark.parametrize("command", commands())
def test_every_readme_command_parses(command):
    argv = shlex.split(command)[1:]
    if not argv or argv[0] == "test" and command.startswith("./wb"):
        argv = argv or ["main"]
    if argv[0].startswith("-"):  # `invoke --list`, `invoke --help TASK`
        assert argv[0] in ("--list", "--help")
        return
    name = argv[0].replace("_", "-")
    assert name in ns.task_names, f"{command}: no task {name!r}"
    task = ns.tasks[name.replace("-", "_")] if name.replace("-", "_") in ns.tasks else ns.tasks[name]
    context = ParserContext(name=name, args=task.get_arguments())
    parser = Parser(contexts=[context])
    result = parser.parse_argv([name, *argv[1:]])
    assert result[0].name == name and not result.unparsed, f"{command}: {result.unparsed}"

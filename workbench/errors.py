"""One exception hierarchy for the whole workbench.

Every error says what went wrong and, on its last line, what to do next.
User errors are things the user can fix (a bad tag, a path that is not a
kernel tree, a template with a typo). Infrastructure errors are failures of
the machinery (a VM that did not start, a tool that is missing). The tasks
catch `WorkbenchError` once, at the edge, and turn it into `invoke.Exit`.
"""
from __future__ import annotations


class WorkbenchError(Exception):
    """Base class: `message` says what happened, `hint` what to do next."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n{self.hint}"
        return self.message


class UserError(WorkbenchError):
    """Bad input: the user can fix it."""

    exit_code = 2


class InfraError(WorkbenchError):
    """The machinery failed (a tool, the VM, the disk), not the kernel under test."""

    exit_code = 3


class MissingTool(InfraError):
    """A program the workbench needs is not installed: `invoke setup` installs it."""

    def __init__(self, what: str, why: str = "") -> None:
        super().__init__(f"{what} {'is' if ', ' not in what else 'are'} not installed" + (f", so {why}" if why else ""),
                         "Run `invoke setup` to install what the workbench needs, then `invoke doctor` to check.")


class UnknownName(UserError):
    """A name the user gave (a variant, a test, a base, a config fragment) is not one there is."""

    def __init__(self, message: str, known: list[str] | str, example: str = "") -> None:
        listing = known if isinstance(known, str) else ", ".join(known) or "none"
        super().__init__(message, f"There are: {listing}." + (f" {example}" if example else ""))
        self.known = known


class CommandFailed(InfraError):
    """An external command exited non-zero where that was not expected."""

    def __init__(self, argv: list[str], returncode: int, output_tail: str = "", hint: str = "") -> None:
        shown = " ".join(argv)
        message = f"command failed (exit {returncode}): {shown}"
        if output_tail:
            message += "\n" + output_tail.rstrip()
        super().__init__(message, hint)
        self.argv = argv
        self.returncode = returncode
        self.output_tail = output_tail


class BuildFailed(WorkbenchError):
    """The kernel (or a selftest) did not compile: a verdict on the code, not the tool."""

    def __init__(self, what: str, first_errors: list[str], log: str = "") -> None:
        lines = "\n".join(f"  {line}" for line in first_errors) or "  (no error lines found)"
        hint = f"The full log is {log}." if log else ""
        super().__init__(f"build of {what} failed; first errors:\n{lines}", hint)
        self.what = what
        self.first_errors = first_errors
        self.log = log


class Interrupted(WorkbenchError):
    """Ctrl-C: finished work is on disk, the next run resumes."""

    exit_code = 130


# The recurring causes of refusals, each with its own class so a message is written once
# and every one ends in what to do next.

def nearest(word: str, known: list[str] | tuple[str, ...] | set[str]) -> str | None:
    """The known word closest to `word` (difflib), None when none is close."""
    import difflib

    close = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.6)
    return close[0] if close else None


class UnknownKey(UserError):
    """A key no reader knows (a typo in invoke.yaml, a study file, an INVOKE_WORKBENCH_* variable)."""

    def __init__(self, key: str, where: str, known: list[str] | tuple[str, ...] | set[str], fix: str = "") -> None:
        guess = nearest(key, known)
        listing = f"Known there: {', '.join(sorted(known)) or 'none'}. " if len(known) <= 16 else ""
        hint = (f"Did you mean `{guess}`? " if guess else "") + listing
        super().__init__(f"{where}: unknown key `{key}`", hint + (fix or "Fix or remove it."))
        self.key = key
        self.guess = guess


class BadSetting(UserError):
    """A value out of its range or of the wrong kind, from a flag, invoke.yaml or the environment."""

    def __init__(self, what: str, value: object, wants: str, fix: str) -> None:
        super().__init__(f"{what} wants {wants}, not {value!r}", fix)


class DuplicateName(UserError):
    """A name given twice in one list (tests, variants, configs)."""

    def __init__(self, flag: str, names: list[str], fix: str = "") -> None:
        super().__init__(f"{flag} names {', '.join(repr(n) for n in names)} more than once",
                         fix or "Name each once.")


class TemplateError(UserError):
    """A Jinja template that cannot be loaded or rendered (syntax, missing parent or include, undefined)."""

    def __init__(self, template: str, line: int | None, what: str) -> None:
        at = f"{template}:{line}" if line else template
        super().__init__(f"{at}: template error: {what}",
                         "Fix the template there (a missing parent or include: check the name in "
                         "{% extends %} / {% include %}; an undefined name: see the variables the README lists).")


class BadFragmentLine(UserError):
    """A config fragment's line that Kconfig rejected or changed."""

    def __init__(self, fragment: str, line: str, got: str) -> None:
        super().__init__(f"config fragment {fragment}: the line `{line}` is not in the merged .config as written "
                         f"({got})", "Fix the line (`CONFIG_X=y`, `CONFIG_X=m`, `CONFIG_X=\"text\"` or "
                         "`# CONFIG_X is not set`), or add the options it depends on to the fragment.")


class NoHistory(UserError):
    """A bisection whose end is a commit with no parent: nothing lies between --good and --bad."""

    def __init__(self, what: str, alone: list[str]) -> None:
        names = list(dict.fromkeys(alone))
        super().__init__(f"{what}: {' and '.join(names)} {'has' if len(names) == 1 else 'have'} no history (a single "
                         "commit with no parent, as every Debian import of `invoke tree --debian X.Y` is), so there "
                         "are no commits between --good and --bad for git bisect to test",
                         "Bisect in a kernel tree with the history between them (--tree ~/src/linux: a clone of "
                         "Linus' or the stable tree), or plant one: clone the import (git clone "
                         "~/.cache/kernel-workbench/debian.git), commit your changes on top of its tag, and bisect "
                         "from the tag to your last commit with --tree set to that clone.")


class Busy(UserError):
    """What a command would change is held by another run."""


class RunFolderLost(InfraError):
    """A run's folder vanished under it (removed by hand or by another command)."""

    def __init__(self, folder: str) -> None:
        super().__init__(f"the run folder {folder} vanished while the run was writing to it (removed by another "
                         "command?); this run's record is lost, its finished cells are in the cell cache",
                         "Run the same command again: finished cells come from the cache.")

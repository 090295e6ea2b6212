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

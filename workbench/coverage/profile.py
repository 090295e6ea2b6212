"""The build side of coverage: which objects a run profiles, how make is told, and what a cell keeps.

A config is a coverage config when its built `.config` has `CONFIG_GCOV_KERNEL=y` (read from the
config, never from its name). Only some objects are profiled: the study's target files and every
column's changed `.c` files, fixed for the run (`objects`), each through kbuild's per-object
`GCOV_PROFILE_<object>` given on make's command line (command-line variables win over the
Makefiles, so the tree is not touched). kbuild matches that variable by the object's file name, so
its value is `y` only in the object's own folder (`variables`); `instrumented` reads each
object's `.cmd` (its compiler command line) for `-fprofile-arcs`, so what was profiled is known, not
assumed. A cell keeps its objects' `.gcno` files (gcc's notes: the lines and arcs its counters
count) and their sources beside its kernel image: the shared build directory belongs to the next
variant by the time the guest's counters are read.
"""
from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import InfraError
from ..kernel.git import Git
from ..records import Spot
from ..study.model import Study
from .spots import spots as find_spots

OPTION = "CONFIG_GCOV_KERNEL=y"
FOLDER = "coverage"  # in a cell's folder: the .gcno files, the sources, spots.json
SPOTS = "spots.json"


def enabled(dotconfig: str) -> bool:
    """Whether a built `.config` has gcov in the kernel."""
    return any(line.strip() == OPTION for line in dotconfig.splitlines())


def objects(git: Git, base: str, commits: Iterable[str], targets: Iterable[str]) -> tuple[str, ...]:
    """The objects a run profiles: the study's target files and the `.c` files any column changes."""
    files = set(targets)
    for commit in set(commits) - {base}:
        files |= set(git.out("diff", "--name-only", base, commit, "--", "*.c").split())
    return tuple(sorted(f[:-2] + ".o" for f in files if f.endswith(".c")))


def variables(objs: Iterable[str]) -> tuple[str, ...]:
    """make's command-line assignments that profile these objects (and no other). kbuild looks the
    variable up by the object's file name alone (`GCOV_PROFILE_$(target-stem).o`, `$(basetarget)` at
    6.1), so `GCOV_PROFILE_memory.o=y` would also profile arch/x86/boot/memory.o, which the boot code's
    link cannot take; the value is `y` only in the objects' own folders (`$(obj)`, the folder kbuild is
    building: `mm`), and empty elsewhere, where the folder's own `GCOV_PROFILE` decides as before."""
    folders: dict[str, list[str]] = {}
    for o in objs:
        folders.setdefault(Path(o).name, []).append(str(Path(o).parent))
    return tuple(f"GCOV_PROFILE_{name}=$(if $(filter {' '.join(sorted(set(dirs)))},$(obj)),y)"
                 for name, dirs in folders.items())


def instrumented(build: Path, obj: str) -> bool:
    """Whether the object in `build` was compiled with gcov's arcs (its `.cmd` file says how)."""
    cmd = build / Path(obj).parent / f".{Path(obj).name}.cmd"
    try:
        return "-fprofile-arcs" in cmd.read_text(errors="replace").split("\n", 1)[0]
    except OSError:
        return False


@dataclass(frozen=True)
class Profile:
    """A run's profiled objects and the study whose sites coverage speaks of."""

    objects: tuple[str, ...]
    study: Study

    @property
    def identity(self) -> tuple[str, ...]:
        """What a cell's identity takes of the profile: make's variables that profile the objects
        (the variables, not the objects' names: when how an object is profiled changes, as when
        GCOV_PROFILE_memory.o=y stopped reaching arch/x86/boot/memory.o, a cell built the old way,
        a failed link included, is not reused), and each unobservable target's why, since a cell
        keeps its spots (and the why they carry) from its build: a changed why makes new cells."""
        return variables(self.objects) + tuple(f"unobservable {t.name}: {t.observe.why}" for t in self.study.targets
                                    if not t.observe.observable)

    def keep(self, git: Git, src: Path, build: Path, base: str, commit: str, into: Path) -> None:
        """Copy each object's `.gcno` and source out of the build directory and worktree (both at
        `commit`, just built) into `into/coverage/`, with the spots of this tree (its sites and the
        lines it changes against `base`); an object make did not instrument is the machinery's error."""
        folder = into / FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        missing = [o for o in self.objects if (src / (o[:-2] + ".c")).exists() and not instrumented(build, o)]
        if missing:
            raise InfraError(f"{', '.join(missing)} built without gcov's -fprofile-arcs in {build}",
                             "kbuild did not take GCOV_PROFILE_<object>=y from make's command line at this base; "
                             "look at the object's .cmd file, or run without the coverage config.")
        found: list[Spot] = []
        for obj in self.objects:
            source = obj[:-2] + ".c"
            if not (src / source).exists():
                continue  # a column that removes the file: nothing to count there
            (folder / Path(source).parent).mkdir(parents=True, exist_ok=True)
            shutil.copy2(build / (obj[:-2] + ".gcno"), folder / (obj[:-2] + ".gcno"))
            shutil.copy2(src / source, folder / source)
            found += find_spots(self.study, git, base, commit, source, (src / source).read_text(errors="replace"))
        (folder / SPOTS).write_text(json.dumps({"objects": list(self.objects),
                                                "spots": [s.__dict__ for s in found]}, indent=1))


def kept(cell_dir: Path) -> tuple[list[str], list[Spot]] | None:
    """The objects and spots a cell kept at its build (None: it kept none)."""
    try:
        data = json.loads((cell_dir / FOLDER / SPOTS).read_text())
    except (OSError, ValueError):
        return None
    return list(data["objects"]), [Spot(**s) for s in data["spots"]]

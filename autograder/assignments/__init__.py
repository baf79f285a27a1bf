"""What grading needs to know about each assignment, declared by the assignment in one place.

Each module of this package declares one assignment with ``SPEC = Assignment(...)``: where its checks, its
reference solutions and its test catalogue live, the hidden-test cell of each graded function, the data its
kernels read, what its kernels may import ahead and how large its mutation catalogue must be. The grader
(grading/), the command line, the test set-up and the generic tests read these specs and nothing else: no rule
built from an assignment's name, module path or cell names lives anywhere but here. A new assignment is its own
files: source/<name>/, its checks module, its spec module here (and its examples and catalogue).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Assignment:
    name: str
    checks_module: str  # a module whose CHECKS maps each graded function's name to its Check
    # Where the assignment's reference solutions live (the functions its checks and the tests compare against),
    # and the module of its mutation catalogue (tests/catalogue_<a>.py: MUTANTS and CORRECT, and END_TO_END where
    # tests/test_grading_assignments.py grades it end to end). The catalogue is a test module, importable where
    # tests/ is on sys.path; the spec only names it, so that no test or benchmark builds either name from the
    # assignment's. "": none (a throwaway assignment).
    reference_module: str = ""
    catalogue_module: str = ""
    test_cells: dict = field(default_factory=dict)  # graded function -> grade id of its hidden-test cell
    # Data sets its kernels read (names in autograder.data.DATASETS): the grader prepares them and binds them
    # read-only into the sandbox; the test set-up prepares them too.
    data: tuple = ()
    # Modules its kernels may import ahead in the fork server (import time paid once per worker, not per
    # student); only libraries a student's notebook imports anyway, never the grading package.
    preload: tuple = ()
    catalogue_minimum: tuple = (0, 0)  # (mistakes, correct alternatives) its mutation catalogue holds at least
    # Seconds one honest submission takes to grade (the demo's median on 2 cores, from grading_status.json): only
    # the order of a first run's queue, longest first; later runs use each student's own last time.
    expected_seconds: float = 0.0

    def checks(self) -> dict:
        return importlib.import_module(self.checks_module).CHECKS

    def test_cell(self, function: str) -> str:
        return self.test_cells[function]


_EXTRA: dict[str, Assignment] = {}  # specs registered at run time (tests' throwaway assignments)


def register(spec: Assignment) -> Assignment:
    """Make a spec known to this process (and to processes forked from it) without a module here."""
    _EXTRA[spec.name] = spec
    return spec


def all_specs() -> dict[str, Assignment]:
    """Every declared assignment, by name, in course order."""
    found = {}
    for module in pkgutil.iter_modules(__path__):
        spec = getattr(importlib.import_module(f"{__name__}.{module.name}"), "SPEC", None)
        if isinstance(spec, Assignment):
            found[spec.name] = spec
    found.update(_EXTRA)
    return {name: found[name] for name in sorted(found, key=course_order)}


def spec(name: str) -> Assignment:
    specs = all_specs()
    if name not in specs:
        raise KeyError(f"no assignment {name!r} is declared (autograder/assignments/); known: {', '.join(specs)}")
    return specs[name]


def course_order(name: str) -> tuple:
    """a2 before a10: the numbers in a name compare as numbers."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name) if part)

"""The package's layers, as grading/__init__.py states them: imports go one way, and checks never import grading."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "autograder"


def _imports(path: Path) -> set[str]:
    """Every autograder module a file imports (relative imports resolved), as dotted names."""
    package = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("autograder"))
        elif isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            module = ".".join(base + (node.module.split(".") if node.module else []))
            if module.startswith("autograder"):
                found.add(module)
                found.update(f"{module}.{a.name}" for a in node.names)
    return found


def _files(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


ALLOWED = {
    # folder: prefixes of autograder modules it must not import (allowed exceptions listed in the next dict)
    "checks": ["autograder.grading", "autograder.term", "autograder.reports", "autograder.cli"],
    "reference": ["autograder.grading", "autograder.checks", "autograder.term", "autograder.cli"],
    "grading/judging": ["autograder.grading.orchestration", "autograder.grading.isolation", "autograder.term", "autograder.cli"],
    "grading/isolation": ["autograder.grading.orchestration", "autograder.grading.judging", "autograder.checks", "autograder.term", "autograder.cli"],
}
EXCEPTIONS = {"grading/isolation": {"autograder.grading.judging.wire", "autograder.grading.judging.wire.ANSWER_MIME"}}


@pytest.mark.parametrize("folder", list(ALLOWED))
def test_imports_go_one_way(folder):
    files = _files(folder)
    assert files, folder
    for path in files:
        for module in _imports(path) - EXCEPTIONS.get(folder, set()):
            assert not any(module == p or module.startswith(p + ".") for p in ALLOWED[folder]), f"{path.relative_to(PACKAGE)} imports {module}"


def test_the_import_reader_sees_relative_imports():
    """A guard on the guard: the isolation package does import judging's wire, relatively."""
    found = _imports(PACKAGE / "grading" / "isolation" / "kernels.py")
    assert "autograder.grading.judging.wire" in found and "autograder.grading.isolation.sandbox" in found


def _private_imports_between_assignments(path: Path) -> list[str]:
    """The private names (``from .a2_backprop import _x``) a checks module imports from another assignment's."""
    found = []
    for module in _imports(path):
        parts = module.split(".")
        if len(parts) == 4 and parts[:2] == ["autograder", "checks"] and not parts[2].startswith("_") and parts[3].startswith("_"):
            found.append(module)
    return found


def test_no_assignment_s_checks_import_another_s_private_helpers():
    """What several assignments' checks share lives in checks/_core.py (or another checks/_module.py); an
    assignment may build on another's public check (a4's relu is a1's check_relu), never on its private helpers."""
    for path in _files("checks"):
        assert not _private_imports_between_assignments(path), path.name


def test_the_private_import_reader_sees_one(monkeypatch):
    """A guard on the guard: a4 once imported a2's _momentum_steps this way."""
    path = PACKAGE / "checks" / "a9_probe.py"  # never written: its source is read from here
    source = "from .a2_backprop import _momentum_steps\nfrom .a1_helpers import check_relu\nfrom ._core import Case\n"
    read_text = Path.read_text
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: source if self == path else read_text(self, *a, **k))
    assert _private_imports_between_assignments(path) == ["autograder.checks.a2_backprop._momentum_steps"]

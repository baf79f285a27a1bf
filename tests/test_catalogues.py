"""Every assignment's checks against its mutation catalogue and its correct alternatives (no notebooks).

A catalogue (tests/catalogue_<assignment>.py) lists realistic mistakes, each with the points the check
must give, a fragment its message must contain and the mistake id(s) it must name, and correct
alternatives that must get full marks and name no mistake.
"""

import importlib
import re

import pytest

from autograder.assignments import all_specs
from autograder.checks._core import UNNAMED, Check, Failure

MINIMUM = {name: spec.catalogue_minimum for name, spec in all_specs().items()}  # (mistakes, correct alternatives)
MISTAKE_ID = re.compile(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*")  # <function>.<snake_case_mistake>


def _load(assignment):
    """(its catalogue module, its checks module), as its spec names them."""
    spec = all_specs()[assignment]
    return importlib.import_module(spec.catalogue_module), importlib.import_module(spec.checks_module)


def _functions(assignment, check, fn):
    """What the check is called with. A check needing several functions (a backward pass needs its
    forward pass) gets the catalogue entry where it names the function under test and the reference for
    the others, unless the entry is itself a tuple of all of them (a forward/backward pair with its own cache)."""
    if isinstance(fn, tuple):
        return fn
    reference = importlib.import_module(all_specs()[assignment].reference_module)
    return tuple(fn if name == check.name else getattr(reference, name) for name in check.functions)


def _grade(assignment, check, fn):
    """(score, message, mistake ids): the points the hidden-test cell gives (Check.verdict, what check(...)
    returns or raises), everything it said, and the ids of the mistakes its report names."""
    report = check.run(*_functions(assignment, check, fn))
    ids = [mistake for mistake, _, _ in report.mistakes]
    try:
        return check.verdict(report), "", ids
    except Failure as failure:
        assert failure.mistake == ids[0]  # what the cell raises names the first mistake
        return 0.0, str(failure), ids


def _name(fn):
    return "+".join(f.__name__ for f in fn) if isinstance(fn, tuple) else fn.__name__


# An assignment whose spec names no catalogue fails test_every_assignment_declares_its_reference_and_catalogue
# below, rather than the collection of this whole module.
CATALOGUED = [name for name, spec in all_specs().items() if spec.catalogue_module]
MUTANTS = [(a, *m) for a in CATALOGUED for m in _load(a)[0].MUTANTS]
CORRECT = [(a, *c) for a in CATALOGUED for c in _load(a)[0].CORRECT]


@pytest.mark.parametrize("assignment", list(MINIMUM))
def test_every_assignment_declares_its_reference_and_catalogue(assignment):
    spec = all_specs()[assignment]
    assert spec.reference_module and spec.catalogue_module, f"{assignment}'s spec names no reference or no catalogue"
    reference, catalogue = importlib.import_module(spec.reference_module), importlib.import_module(spec.catalogue_module)
    assert all(callable(getattr(reference, name, None)) for name in spec.checks()), f"{spec.reference_module} lacks a graded function"
    assert catalogue.MUTANTS and catalogue.CORRECT


@pytest.mark.parametrize("assignment, function, mutant, score, fragment, mistakes", MUTANTS, ids=[f"{m[0]}:{_name(m[2])}" for m in MUTANTS])
def test_mutant_loses_points_with_a_message_naming_the_mistake(assignment, function, mutant, score, fragment, mistakes, capsys):
    _, checks = _load(assignment)
    got, message, ids = _grade(assignment, checks.CHECKS[function], mutant)
    message += capsys.readouterr().out
    assert got == score, message
    assert got < checks.POINTS[function]
    assert fragment in message, message
    assert set(ids) == set(mistakes) and len(ids) == len(set(ids)), f"{ids} for {message}"


@pytest.mark.parametrize("assignment, function, alternative", CORRECT, ids=[f"{c[0]}:{_name(c[2])}" for c in CORRECT])
def test_correct_alternative_gets_full_marks(assignment, function, alternative, capsys):
    _, checks = _load(assignment)
    got, message, ids = _grade(assignment, checks.CHECKS[function], alternative)
    assert got == checks.POINTS[function], message + capsys.readouterr().out
    assert capsys.readouterr().out == ""
    assert ids == []


@pytest.mark.parametrize("assignment", list(MINIMUM))
def test_catalogue_is_big_enough_and_covers_every_function(assignment):
    catalogue, checks = _load(assignment)
    mistakes, alternatives = MINIMUM[assignment]
    assert len(catalogue.MUTANTS) >= mistakes and len(catalogue.CORRECT) >= alternatives
    assert {m[0] for m in catalogue.MUTANTS} | {c[0] for c in catalogue.CORRECT} == set(checks.POINTS)


@pytest.mark.parametrize("assignment", list(MINIMUM))
def test_every_failure_and_deduction_names_its_mistake(assignment, capsys):
    """Walks every mutant of the catalogue: each failure and each deduction of its check carries a well-formed id
    that names one of the check's functions, and every catalogue entry declares the ids it must produce."""
    catalogue, checks = _load(assignment)
    unnamed = []
    for function, mutant, _, _, declared in catalogue.MUTANTS:
        check = checks.CHECKS[function]
        assert declared, f"{_name(mutant)} declares no mistake id"
        for mistake, lost, message in check.run(*_functions(assignment, check, mutant)).mistakes:
            prefix = mistake.split(".")[0]
            if not MISTAKE_ID.fullmatch(mistake) or mistake.endswith(f".{UNNAMED}") or prefix not in (check.name, *check.functions):
                unnamed.append(f"{_name(mutant)}: {mistake!r} for {message[:80]!r}")
            assert lost > 0, f"{_name(mutant)}: {mistake} loses no points"
    capsys.readouterr()
    assert not unnamed, "\n".join(unnamed)


def test_every_failure_and_deduction_in_the_checks_passes_an_id():
    """The walk above sees only the paths the catalogues reach; this reads every check module: each Failure(...)
    and report.deduct(...) call passes a mistake id (or unpacks a (message, id) pair)."""
    import ast
    from pathlib import Path

    missing = []
    for path in sorted(Path(importlib.import_module("autograder.checks").__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else node.func.attr if isinstance(node.func, ast.Attribute) else ""
            needed = {"Failure": 2, "deduct": 3, "fail": 2}.get(name)
            if needed is None or (name == "fail" and path.name != "_core.py"):
                continue
            named = any(k.arg == "mistake" for k in node.keywords) or any(isinstance(a, ast.Starred) for a in node.args)
            if len(node.args) < needed and not named:
                missing.append(f"{path.name}:{node.lineno}")
    assert not missing, missing


def test_a_failure_without_an_id_is_found():
    """The walk above would see a judge that names no mistake: the id says which function, and that it is unnamed."""
    def judge(cases, outcomes, report):
        raise Failure("something is wrong")

    check = Check("toy", 1, lambda: [], judge)
    assert check.run(lambda x: x).mistakes == [(f"toy.{UNNAMED}", 1.0, "something is wrong")]


def test_a_hidden_test_cell_still_returns_a_plain_float_and_raises_an_assertion_error(capsys):
    from autograder.checks import check_softmax

    from catalogue_a1 import softmax_over_axis_0, softmax_without_max_shift

    assert type(check_softmax(softmax_without_max_shift)) is float
    assert "Subtract each row's maximum" in capsys.readouterr().out
    with pytest.raises(AssertionError) as raised:
        check_softmax(softmax_over_axis_0)
    assert raised.value.mistake == "softmax.axis0"
    with pytest.raises(AssertionError, match="softmax is not a function") as raised:
        check_softmax(3)
    assert raised.value.mistake == "softmax.not_a_function"


def test_judged_outside_the_kernel_a_non_function_has_the_same_id():
    """The verification stand-in sends an error row for every case when it is handed something that is not a
    function; judged in the grader (judging.judge_rows), that is the same mistake as check_softmax(3) names."""
    from autograder.checks import check_softmax
    from autograder.grading.judging import judge as judging, standin

    rows = standin.run_in_process("a1_helpers", "softmax", (3,))
    report = judging.judge_rows(check_softmax, rows)
    assert [mistake for mistake, _, _ in report.mistakes] == ["softmax.not_a_function"] == [m for m, _, _ in check_softmax.run(3).mistakes]
    assert report.score == 0

"""Every assignment's checks against its mutation catalogue and its correct alternatives (no notebooks).

A catalogue (tests/catalogue_<assignment>.py) lists realistic mistakes, each with the points the check
must give and a fragment its message must contain, and correct alternatives that must get full marks.
"""

import importlib

import pytest

from autograder.assignments import all_specs

MINIMUM = {name: spec.catalogue_minimum for name, spec in all_specs().items()}  # (mistakes, correct alternatives)


def _load(assignment):
    return importlib.import_module(f"catalogue_{assignment.split('_')[0]}"), importlib.import_module(all_specs()[assignment].checks_module)


def _functions(assignment, check, fn):
    """What the check is called with. A check needing several functions (a backward pass needs its
    forward pass) gets the catalogue entry where it names the function under test and the reference for
    the others, unless the entry is itself a tuple of all of them (a forward/backward pair with its own cache)."""
    if isinstance(fn, tuple):
        return fn
    reference = importlib.import_module(f"autograder.reference.{assignment}")
    return tuple(fn if name == check.name else getattr(reference, name) for name in check.functions)


def _grade(assignment, check, fn):
    """(score, message): the points a check gives and everything it said."""
    try:
        return check(*_functions(assignment, check, fn)), ""
    except AssertionError as failure:
        return 0.0, str(failure)


def _name(fn):
    return "+".join(f.__name__ for f in fn) if isinstance(fn, tuple) else fn.__name__


MUTANTS = [(a, *m) for a in MINIMUM for m in _load(a)[0].MUTANTS]
CORRECT = [(a, *c) for a in MINIMUM for c in _load(a)[0].CORRECT]


@pytest.mark.parametrize("assignment, function, mutant, score, fragment", MUTANTS, ids=[_name(m[2]) for m in MUTANTS])
def test_mutant_loses_points_with_a_message_naming_the_mistake(assignment, function, mutant, score, fragment, capsys):
    _, checks = _load(assignment)
    got, message = _grade(assignment, checks.CHECKS[function], mutant)
    message += capsys.readouterr().out
    assert got == score, message
    assert got < checks.POINTS[function]
    assert fragment in message, message


@pytest.mark.parametrize("assignment, function, alternative", CORRECT, ids=[_name(c[2]) for c in CORRECT])
def test_correct_alternative_gets_full_marks(assignment, function, alternative, capsys):
    _, checks = _load(assignment)
    got, message = _grade(assignment, checks.CHECKS[function], alternative)
    assert got == checks.POINTS[function], message + capsys.readouterr().out
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("assignment", list(MINIMUM))
def test_catalogue_is_big_enough_and_covers_every_function(assignment):
    catalogue, checks = _load(assignment)
    mistakes, alternatives = MINIMUM[assignment]
    assert len(catalogue.MUTANTS) >= mistakes and len(catalogue.CORRECT) >= alternatives
    assert {m[0] for m in catalogue.MUTANTS} | {c[0] for c in catalogue.CORRECT} == set(checks.POINTS)

"""Backward passes that write into the caller's arrays through the cache: caught in-process and through the probe.

A backward check calls the student's forward pass and hands its cache to their backward pass. A cache holds the
caller's arrays (x, params), not copies, so a backward pass that writes its mask into the cached x destroys the
caller's data. Checks with ``watch`` set (drivers made by ``_core.watch_backward``) deduct for that. The verification
stand-in (grading/standin.py) runs the same drivers from their shipped source in the student's kernel; here it runs
in this process (standin.run_in_process, its answer judged by ``judging.judge_rows``), so the shipped source, the
wire and the judging are the ones ``nnfs grade`` uses.
"""

import importlib

import pytest

from autograder.assignments import spec
from autograder.checks import _core
from autograder.grading.judging import judge as judging, standin
from test_catalogues import _functions, _load, _name

WATCHING = ("a4_mnist", "a5_cnn")
WATCHED = [(a, name) for a in WATCHING for name, check in _load(a)[1].CHECKS.items() if check.watch]
CACHE_WRITERS = [(a, *m[:4]) for a in WATCHING for m in _load(a)[0].MUTANTS if " you passed to " in m[3]]
WATCHED_RIGHT = [(a, *c) for a in WATCHING for c in _load(a)[0].CORRECT if _load(a)[1].CHECKS[c[0]].watch]


def _direct(assignment, check, fns):
    report = check.evaluate(_core.run_cases(fns if len(fns) > 1 else fns[0], check.cases(), check.convert))
    return float(round(report.score, 2)), report.notes, report.mistakes


def _probed(assignment, check, fns, monkeypatch, tmp_path):
    """(score, notes, mistakes) of the path `nnfs grade` takes: the kernel's stand-in check run on these functions
    (the same source, wire and encoding), its answer judged by ``judging.judge_rows``."""
    rows = standin.run_in_process(assignment, check.name, tuple(fns))
    report = judging.judge_rows(check, rows)
    return float(round(report.score, 2)), report.notes, report.mistakes


@pytest.mark.parametrize("assignment, name", WATCHED, ids=[n for _, n in WATCHED])
def test_reference_gets_full_marks_both_ways(assignment, name, monkeypatch, tmp_path):
    check = _load(assignment)[1].CHECKS[name]
    reference = importlib.import_module(spec(assignment).reference_module)
    fns = tuple(getattr(reference, f) for f in check.functions)
    assert _direct(assignment, check, fns) == _probed(assignment, check, fns, monkeypatch, tmp_path) == (float(check.points), [], [])


@pytest.mark.parametrize("assignment, function, mutant, score, fragment", CACHE_WRITERS, ids=[_name(m[2]) for m in CACHE_WRITERS])
def test_a_write_through_the_cache_costs_the_same_both_ways(assignment, function, mutant, score, fragment, monkeypatch, tmp_path):
    check = _load(assignment)[1].CHECKS[function]
    fns = _functions(assignment, check, mutant)
    direct = _direct(assignment, check, fns)
    assert direct == _probed(assignment, check, fns, monkeypatch, tmp_path)
    assert direct[0] == score == check.points - check.watch_points
    (note,) = direct[1]
    assert [mistake for mistake, _, _ in direct[2]] == [f"{function}.modified_forward_input"]
    assert fragment in note and "through the cache" in note and "copy before writing" in note


@pytest.mark.parametrize("assignment, function, alternative", WATCHED_RIGHT, ids=[_name(c[2]) for c in WATCHED_RIGHT])
def test_correct_backward_passes_get_full_marks_through_the_probe(assignment, function, alternative, monkeypatch, tmp_path):
    check = _load(assignment)[1].CHECKS[function]
    assert _probed(assignment, check, _functions(assignment, check, alternative), monkeypatch, tmp_path) == (float(check.points), [], [])


def test_every_assignment_with_a_cache_has_a_cache_writer_in_its_catalogue():
    assert {a for a, *_ in CACHE_WRITERS} == set(WATCHING)
    assert len(CACHE_WRITERS) >= 4


def test_a_forward_pass_changing_its_own_input_is_the_forward_check_s_business(monkeypatch, tmp_path):
    from autograder.checks import a5_cnn as checks
    from autograder.reference import a5_cnn as ref
    from catalogue_a5 import relu_forward_in_place

    fns = (relu_forward_in_place, ref.relu_backward)
    assert checks.check_relu_forward(relu_forward_in_place) == 0.5
    assert _direct("a5_cnn", checks.check_relu_backward, fns) == _probed("a5_cnn", checks.check_relu_backward, fns, monkeypatch, tmp_path) == (1.0, [], [])


def test_the_note_names_nested_arrays_by_their_path():
    note = _core.cache_write_note("mlp_backward", "mlp_forward", ("x", "params"), "case", ((0,), (1, 0, 1), (1, 2, 0)))
    assert note.startswith("mlp_backward changed the x, params[0][1], params[2][0] you passed to mlp_forward")
    assert "params['W1']" in _core.cache_write_note("cnn_backward", "cnn_forward", ("x", "params"), "case", ((1, "W1"),))


def test_watched_drivers_are_shipped_as_one_self_contained_source():
    for assignment in WATCHING:
        request = standin.request(assignment)
        for name, check in _load(assignment)[1].CHECKS.items():
            if check.watch:
                for case in check.cases():
                    source = request["functions"][case.call.__qualname__]
                    assert "def _watch_pair(" in source and f"def _{case.call.__qualname__}_unwatched(" in source


def test_a_stand_in_ships_its_own_assignment_s_helpers_and_no_other():
    """The helpers a stand-in ships are found from its assignment's own cases (``_core.shippable_helpers``), so
    their names need be unique within one assignment only, and no other assignment's code reaches the kernel."""
    from autograder.assignments import all_specs

    for assignment, spec in all_specs().items():
        module = importlib.import_module(spec.checks_module)
        shipped = standin.request(assignment)["functions"]
        assert set(shipped) == set(_core.shippable_helpers(module.CHECKS)), assignment
        assert all(getattr(module, name, None) is not None for name in shipped), assignment  # its own (or imported)

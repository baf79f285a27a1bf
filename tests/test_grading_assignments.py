"""a4_mnist and a5_cnn end to end through the sandboxed grader: the example students, the source notebook, and
catalogue entries typed into a real notebook. The same tests for every assignment whose catalogue (named by its
spec) declares END_TO_END: what grading it must give, as data next to the mistakes it types in.

One course directory (a copy of the course's files in a temporary folder, conftest.released_course) is released
once; each assignment is graded in it once for this module, by the instructor's path (coordinator, sandboxed
workers, verification), when its first test asks; the tests read what that run produced. Every notebook runs top
to bottom in quick mode on the MNIST quick subset the test session prepares (conftest.py), training runs and
studies included, as it does when an instructor grades: its speed is part of what is tested.
"""

import importlib

import pytest

from autograder.assignments import all_specs, spec
from autograder.checks import _core
from autograder.examples import ExampleStudent, example_students
from notebooks import as_cell, grade_class_with, html_text, nbgrader_meta, scores_by_direct_checks, solution_answers

A4 = "a4_mnist"
A5 = "a5_cnn"


def _end_to_end(assignment):
    """Its catalogue's END_TO_END (see tests/catalogue_a4.py), or None."""
    catalogue_module = spec(assignment).catalogue_module
    return getattr(importlib.import_module(catalogue_module), "END_TO_END", None) if catalogue_module else None


ASSIGNMENTS = [name for name in all_specs() if _end_to_end(name) is not None]


def _auto(assignment):
    """grade id of each autograded cell -> its points."""
    declared = spec(assignment)
    return {declared.test_cell(name): float(points) for name, points in importlib.import_module(declared.checks_module).POINTS.items()}


def _expected(assignment):
    """The grades each student of END_TO_END must get, autograded cell by cell."""
    e2e, auto = _end_to_end(assignment), _auto(assignment)
    expected = {student: dict(auto) for student in e2e["full_marks"]}
    expected |= {student: {cell: 0.0 for cell in auto} for student in e2e["no_marks"]}
    return expected | {student: auto | cells for student, cells in e2e["partial_marks"].items()}


def _mutant_student(assignment):
    """The source notebook's solutions with END_TO_END's catalogue entries typed into their answer cells."""
    answers = solution_answers(assignment)
    for function, fn in _end_to_end(assignment)["typed_into_the_solution"].items():
        answers[function] = as_cell(function, fn)
    return ExampleStudent("e2e-mutants", assignment, "catalogue entries in the solution", answers=answers)


@pytest.fixture(scope="module")
def graded(released_course):
    """graded(assignment) -> {student: result}. Each assignment is graded once for this module, on first use
    (a4 and a5 notebooks train: minutes each), and its results kept for the tests after."""
    results = {}

    def results_of(assignment):
        if assignment not in results:
            results[assignment] = grade_class_with(released_course, assignment, _mutant_student(assignment))
        return results[assignment]

    return results_of


def test_the_assignments_with_end_to_end_data_are_graded_here():
    assert {A4, A5} <= set(ASSIGNMENTS)  # an END_TO_END renamed away would otherwise drop their tests silently


@pytest.mark.parametrize("assignment, student", [(a, s) for a in ASSIGNMENTS for s in sorted(_expected(a))])
def test_cell_scores(graded, assignment, student):
    r = graded(assignment)[student]
    e2e, auto = _end_to_end(assignment), _auto(assignment)
    assert r.status == "graded", r.reason
    assert {k: s for k, (s, _) in r.cells.items() if k in auto} == _expected(assignment)[student]
    assert r.max_score == sum(auto.values()) + sum(e2e["manual"].values()) == e2e["total_points"]
    assert r.verified and not any("DIFFERS" in n or "UNVERIFIED" in n for n in r.notes), r.notes


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_example_student_was_graded(graded, assignment):
    assert {s.student_id for s in example_students(assignment)} <= set(graded(assignment))


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_written_answers_wait_for_a_grader_and_blank_declarations_are_flagged(graded, assignment):
    results, e2e = graded(assignment), _end_to_end(assignment)
    for student in e2e["written_answers_wait"]:
        assert f"needs manual grading: {', '.join(e2e['manual'])}" in results[student].notes
        assert results[student].score == sum(_expected(assignment)[student].values())  # the written answers are not graded yet
    for student in e2e["written_answers_left_blank"]:
        assert not any("needs manual grading" in n for n in results[student].notes)  # left blank: 0 at once
    for student in e2e["integrity_declared"]:
        assert not any("integrity" in n for n in results[student].notes)
    for student in e2e["integrity_left_blank"]:
        assert "integrity declaration left blank" in results[student].notes


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_catalogue_entries_in_a_notebook_score_as_the_checks_called_directly(graded, assignment):
    e2e, mutant = _end_to_end(assignment), _mutant_student(assignment)
    r = graded(assignment)[mutant.student_id]
    got = {k: s for k, (s, _) in r.cells.items() if k in _auto(assignment)}
    direct = scores_by_direct_checks(assignment, mutant, skip=e2e["direct_checks_skip"])
    assert got == direct == _auto(assignment) | e2e["typed_into_the_solution_partial_marks"]
    assert r.verified and not any("DIFFERS" in n for n in r.notes), r.notes


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_feedback_names_the_mistakes_and_shows_no_test_data(graded, released_course, assignment):
    e2e = _end_to_end(assignment)
    graded(assignment)
    text = html_text(released_course.feedback_html(e2e["feedback_student"], assignment).read_text())
    missing = [fragment for fragment in e2e["feedback_contains"] if fragment not in text]
    assert not missing, missing
    shown = [fragment for fragment in e2e["feedback_lacks"] if fragment in text]
    assert not shown, shown
    drivers = [name for name in _core.shippable_helpers(spec(assignment).checks()) if name in text]  # every driver, by its name
    assert not drivers, drivers


# ------------------------------------------------------------------------------------------ a5_cnn only
def test_a5_bob_skipped_the_loop_version_and_his_notebook_ran_on(graded, released_course):
    """The ungraded conv2d_forward_naive left as the release's stub: the timing cell says so instead of raising,
    and every cell after it ran (the training in Part F too)."""
    import nbformat

    graded(A5)
    assert "conv2d_forward_naive" not in next(s for s in example_students(A5) if s.student_id == "example-bob").answers
    nb = nbformat.read(str(released_course.autograded_notebook("example-bob", A5)), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    (timing,) = [c for c in code if "conv2d_forward_naive(x_batch" in c.source]
    text = "".join(o.get("text", "") for o in timing.outputs)
    assert "conv2d_forward_naive is not written yet (it is not graded)" in text and "conv2d_forward:" in text, text
    ungraded = [c for c in code[code.index(timing) :] if not nbgrader_meta(c).get("grade")]
    errors = [(c.source.splitlines()[0], o["ename"]) for c in ungraded for o in c.outputs if o.output_type == "error"]
    assert errors == [], errors
    (data,) = [c for c in code if "def mnist_folder(" in c.source]
    assert "quick mode: 2048 training, 512 validation, 1000 test images" in "".join(o.get("text", "") for o in data.outputs)

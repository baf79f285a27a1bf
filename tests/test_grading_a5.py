"""a5_cnn end to end through the sandboxed grader: the example students, the source notebook, and catalogue
mutants (two of them forward/backward pairs) inside a real notebook.

One course directory (a copy of the course's files in a temporary folder) is released and graded once for this
module, by the instructor's path (coordinator, sandboxed workers, verification); the tests read what that run
produced. Every notebook runs top to bottom in quick mode on the MNIST quick subset the test session prepares
(conftest.py), training runs and studies included, as it does when an instructor grades: its speed is part of
what is tested.
"""


import pytest

import catalogue_a5
from autograder.checks import a5_cnn as checks
from autograder.examples import ExampleStudent, example_students
from notebooks import as_cell, grade_class_with, html_text, scores_by_direct_checks, solution_answers

A5 = "a5_cnn"
AUTO = {f"{name}_tests": float(points) for name, points in checks.POINTS.items()}

# The grades the bundled examples must get, cell by cell (the demo prints these).
EXPECTED = {
    "e2e-solution": AUTO,
    "example-ada": AUTO,
    "example-carol": {k: 0.0 for k in AUTO},
    "example-bob": AUTO
    | {
        "conv2d_backward_tests": 0.0,  # crops dx at the bottom padding's offset
        "relu_forward_tests": 0.5,  # np.maximum(x, 0, out=x)
        "batch_norm_forward_tests": 0.0,  # moments over the batch axis only
        "batch_norm_backward_tests": 0.0,  # judged with that forward pass
        "max_pool_backward_tests": 0.0,  # the gradient to every tied maximum
        "dropout_forward_tests": 0.0,  # not rescaled
        "dropout_backward_tests": 0.0,  # judged with that forward pass
        "softmax_cross_entropy_with_logits_tests": 1.0,  # no max shift: nan for logits of 1e4
        "adam_update_tests": 0.0,  # no bias correction
        "cnn_forward_tests": 0.0,  # built on those layers
        "cnn_backward_tests": 0.0,
        "train_epoch_tests": 0.0,
    },
}

# Catalogue entries typed into the source notebook's solutions (entries that keep float32, so the training cells
# run as fast as the solution's): partial credit with overflow warnings in the test cell (which must not zero
# it), an input changed in place, a config changed in place (allowed), dropout from the global random state
# (judged by its properties, so the two runs agree although their masks differ; it costs cnn_forward too), and a
# forward/backward pair with its own cache: batch norm whose backward uses the training formula at inference.
MUTANTS = {
    "softmax_cross_entropy_with_logits": "softmax_cross_entropy_without_max_shift",
    "relu_forward": "relu_forward_in_place",
    "adam_update": "adam_update_cs231n_style",
    "batch_norm_forward": "batch_norm_forward_caching_xhat",
    "batch_norm_backward": "batch_norm_backward_training_formula_at_inference",
    "dropout_forward": "dropout_forward_global_random_state",
}
MUTANT_SCORES = AUTO | {
    "softmax_cross_entropy_with_logits_tests": 1.0,
    "relu_forward_tests": 0.5,
    "batch_norm_backward_tests": 2.0,
    "dropout_forward_tests": 1.0,
    "cnn_forward_tests": 1.5,  # with dropout, the same rng seed gives different logits
}


def _mutant_student(student_id, picks):
    answers = solution_answers(A5)
    for function, name in picks.items():
        answers[function] = as_cell(function, getattr(catalogue_a5, name))
    return ExampleStudent(student_id, A5, "catalogue entries in the solution", answers=answers)


MUTANT = _mutant_student("e2e-mutants", MUTANTS)


@pytest.fixture(scope="module")
def course(released_course):
    return released_course


@pytest.fixture(scope="module")
def graded(course):
    return grade_class_with(course, A5, MUTANT)


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_cell_scores(graded, student):
    r = graded[student]
    assert r.status == "graded", r.reason
    assert {k: s for k, (s, _) in r.cells.items() if k in AUTO} == EXPECTED[student]
    assert r.max_score == sum(AUTO.values())
    assert r.verified and not any("DIFFERS" in n or "UNVERIFIED" in n for n in r.notes), r.notes


def test_every_example_student_was_graded(graded):
    assert {s.student_id for s in example_students(A5)} <= set(graded)


def test_blank_integrity_declarations_are_flagged(graded):
    assert not any("integrity" in n for n in graded["example-ada"].notes)
    for student in ("example-bob", "example-carol"):
        assert "integrity declaration left blank" in graded[student].notes


def test_catalogue_entries_in_a_notebook_score_as_the_checks_called_directly(graded):
    r = graded[MUTANT.student_id]
    got = {k: s for k, (s, _) in r.cells.items() if k in AUTO}
    assert got == scores_by_direct_checks(A5, MUTANT) == MUTANT_SCORES
    assert r.verified and not any("DIFFERS" in n for n in r.notes), r.notes


def test_feedback_names_the_mistakes_and_shows_no_test_data(graded, course):
    text = html_text(course.feedback_html("example-bob", A5).read_text())
    # Hidden checks say why they fail or deduct ...
    assert "wrong axis for the batch-norm moments" in text and "you averaged over the batch axis only" in text
    assert "-1 point: softmax_cross_entropy_with_logits gives nan/inf" in text
    assert "-0.5 points: relu_forward changed its input x in place" in text
    # ... and where a visible test fails first (the hidden check then does not run), its message names the mistake
    assert "against finite differences (stride 2; SAME pads 0 above, 1 below)" in text  # conv2d_backward
    assert "ties: each window's gradient goes, whole, to ONE of its maxima" in text
    assert "inverted dropout rescales the kept units" in text
    assert "with the bias corrections the first step is the learning rate" in text
    assert "default_rng(50" not in text and "_a5_" not in text  # test data and drivers stay in the package

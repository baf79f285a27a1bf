"""a4_mnist end to end through the sandboxed grader: the example students, the source notebook, and catalogue
mutants inside a real notebook.

One course directory (a copy of the course's files in a temporary folder) is released and graded once for this
module, by the instructor's path (coordinator, sandboxed workers, verification); the tests read what that run
produced. Every notebook runs top to bottom in quick mode on the MNIST quick subset the test session prepares
(conftest.py), as it does when an instructor grades: its speed is part of what is tested.
"""


import pytest

import catalogue_a4
from autograder.checks import a4_mnist as checks
from autograder.examples import ExampleStudent, example_students
from notebooks import ROOT, as_cell, by_id, grade_class_with, html_text, read, scores_by_direct_checks, solution_answers

A4 = "a4_mnist"
AUTO = {f"{name}_tests": float(points) for name, points in checks.POINTS.items()}
MANUAL = {"results_configurations": 2.0, "results_units_early_stopping": 2.0, "results_batch_seeds_sigmoid": 3.0}

# The grades the bundled examples must get, cell by cell (the demo prints these).
EXPECTED = {
    "e2e-solution": AUTO,
    "example-ada": AUTO,
    "example-carol": {k: 0.0 for k in AUTO},
    "example-bob": AUTO
    | {
        "tanh_tests": 0.5,  # the textbook formula: nan at |x| = 1000
        "tanh_derivative_tests": 0.5,  # right, but built on that tanh
        "relu_derivative_tests": 0.5,  # 1 at exactly 0
        "sigmoid_tests": 0.5,  # e^x / (1 + e^x): nan at x = 1000
        "sigmoid_derivative_tests": 0.5,  # right, but built on that sigmoid
        "init_mlp_tests": 0.5,  # float64 biases
        "softmax_cross_entropy_tests": 1.0,  # no max shift
        "sgd_momentum_update_tests": 0.0,  # goes uphill
        "learning_rate_tests": 0.0,  # keeps halving
        "train_tests": 0.0,  # fails with that momentum step
    },
}

# Catalogue entries typed into the source notebook's solutions: partial credit with numpy warnings in the test cell
# (which must not zero it), a backward pass that fails only without hidden layers, relu'(0) = 1.
MUTANTS = {"softmax_cross_entropy": "softmax_cross_entropy_without_max_shift", "mlp_backward": "mlp_backward_output_layer_unrolled",
           "relu_derivative": "relu_derivative_one_at_zero"}
MUTANT_SCORES = AUTO | {"softmax_cross_entropy_tests": 1.0, "mlp_backward_tests": 3.0, "relu_derivative_tests": 0.5}


def _mutant_student():
    answers = solution_answers(A4)
    for function, name in MUTANTS.items():
        answers[function] = as_cell(function, getattr(catalogue_a4, name))
    return ExampleStudent("e2e-mutants", A4, "catalogue mutants in the solution", answers=answers)


@pytest.fixture(scope="module")
def course(released_course):
    return released_course


@pytest.fixture(scope="module")
def graded(course):
    return grade_class_with(course, A4, _mutant_student())


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_cell_scores(graded, student):
    r = graded[student]
    assert r.status == "graded", r.reason
    assert {k: s for k, (s, _) in r.cells.items() if k in AUTO} == EXPECTED[student]
    assert r.max_score == sum(AUTO.values()) + sum(MANUAL.values())
    assert r.verified and not any("DIFFERS" in n or "UNVERIFIED" in n for n in r.notes), r.notes


def test_every_example_student_was_graded(graded):
    assert {s.student_id for s in example_students(A4)} <= set(graded)


def test_written_answers_wait_for_a_grader_and_blank_declarations_are_flagged(graded):
    for student in ("e2e-solution", "example-ada"):
        assert f"needs manual grading: {', '.join(MANUAL)}" in graded[student].notes
        assert graded[student].score == sum(AUTO.values())  # the written answers are not graded yet
    assert not any("needs manual grading" in n for n in graded["example-carol"].notes)  # left blank: 0 at once
    for student in ("example-bob", "example-carol"):
        assert "integrity declaration left blank" in graded[student].notes


def test_catalogue_mutants_in_a_notebook_score_as_the_checks_called_directly(graded):
    got = {k: s for k, (s, _) in graded["e2e-mutants"].cells.items() if k in AUTO}
    assert got == scores_by_direct_checks(A4, _mutant_student(), skip=("data",)) == MUTANT_SCORES


def test_feedback_names_the_mistakes_and_shows_no_test_data(graded, course):
    text = html_text(course.feedback_html("example-bob", A4).read_text())
    assert "-0.5 points: relu_derivative is 1 at exactly x = 0" in text  # hidden checks say why they deduct
    assert "-0.5 points: init_mlp returned float64 arrays" in text
    assert "-1 point: softmax_cross_entropy returns nan/inf or wrong values for logits near +-800" in text
    assert "-0.5 points: sigmoid returns nan/inf or wrong values for large |x|" in text
    assert "after one step w should be [0.9, 2.1]; got [1.1 1.9]" in text  # and failed visible tests say why
    assert "check_train(train)" in text and "check_mlp_backward(mlp_forward, mlp_backward)" in text
    assert "mlxtend" not in text and "default_rng(4" not in text  # test data stays in the package


# ------------------------------------------------------------------------------------ data and settings
# Not grading runs: what the notebook's text promises about its data and settings, read from the notebooks.


def _exec_data_cells(monkeypatch, data_dir, quick):
    """Run the source notebook's setup and data cells with NNFS_QUICK and NNFS_DATA_DIR set; their namespace."""
    import matplotlib

    matplotlib.use("Agg")
    cells = by_id(read("source", A4))
    monkeypatch.setenv("NNFS_QUICK", "1" if quick else "0")
    monkeypatch.setenv("NNFS_DATA_DIR", str(data_dir))
    namespace = {}
    for grade_id in ("setup", "data"):
        exec(compile(cells[grade_id].source, grade_id, "exec"), namespace)
    return namespace


def _write_mnist_like(folder, train_rows, test_rows):
    """Files shaped like the course's, whose first pixel is the row number (so a test can tell which rows it got)."""
    import h5py
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in (("train", train_rows), ("test", test_rows)):
        x = np.zeros((rows, 784), dtype=np.float32)
        x[:, 0] = np.arange(rows)
        with h5py.File(folder / f"mnist_{split}data.hdf5", "w") as f:
            f["xdata"] = x
            f["ydata"] = np.eye(10, dtype=np.float32)[np.arange(rows) % 10]


def test_quick_mode_reads_the_first_rows_of_the_same_files(tmp_path, monkeypatch):
    _write_mnist_like(tmp_path, 6000, 1500)
    _write_mnist_like(tmp_path / "quick", 5000, 1000)  # a prepared quick subset beside them is not used
    ns = _exec_data_cells(monkeypatch, tmp_path, quick=True)
    assert ns["mnist_folder"] == tmp_path
    assert ns["x_train"][:, 0].tolist() == list(range(4000)) and ns["x_val"][:, 0].tolist() == list(range(4000, 5000))
    assert ns["x_test"][:, 0].tolist() == list(range(1000))


def test_quick_mode_falls_back_to_the_prepared_quick_subset(tmp_path, monkeypatch):
    _write_mnist_like(tmp_path / "quick", 5000, 1000)  # what `prepare_mnist.py --quick` alone leaves (the grader's data)
    ns = _exec_data_cells(monkeypatch, tmp_path, quick=True)
    assert ns["mnist_folder"] == tmp_path / "quick" and len(ns["x_train"]) == 4000 and len(ns["x_test"]) == 1000


def test_full_mode_is_the_default_and_refuses_a_subset(tmp_path, monkeypatch):
    import pytest

    _write_mnist_like(tmp_path, 6000, 1500)
    monkeypatch.delenv("NNFS_QUICK", raising=False)
    namespace = {}
    exec(compile(by_id(read("source", A4))["setup"].source, "setup", "exec"), namespace)
    assert namespace["QUICK"] is False
    with pytest.raises(ValueError, match="full mode needs all 60,000 training images"):
        _exec_data_cells(monkeypatch, tmp_path, quick=False)



def test_graded_and_studies_notebooks_tell_one_story():
    """The same learning rates, epochs, early-stopping run and patience in source/a4_mnist and the studies notebook,
    and the handout's rate translated with the handout's batch size (500), not the course's (100)."""
    import re

    import nbformat

    graded = "\n".join(c.source for c in read("source", A4).cells)
    studies = "\n".join(c.source for c in nbformat.read(str(ROOT / "instructor_notebooks" / "a4_mnist_studies.ipynb"), 4).cells)
    rates = re.search(r"for lr in \(([^)]*)\)", graded).group(1)
    assert re.search(r"LEARNING_RATES = \(([^)]*)\)", studies).group(1) == rates == "0.01, 0.03, 0.1"
    assert re.search(r"^PATIENCE = (\d+)", graded, re.M).group(1) == re.search(r"^PATIENCE = (\d+)", studies, re.M).group(1)
    assert "EPOCHS = 6 if QUICK else 12" in graded and "EPOCHS = 6 if QUICK else 12" in studies
    assert "LONG_EPOCHS = 12 if QUICK else 30" in graded and "EARLY_STOPPING_EPOCHS = 12 if QUICK else 30" in studies
    assert r"10^{-3} \times 500 = 0.5" in graded and "1e-3 × 500 = 0.5" in studies
    assert "over 100 images is" not in graded

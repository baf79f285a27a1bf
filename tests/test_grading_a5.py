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
from autograder.checks import _core, a5_cnn as checks
from autograder.examples import ExampleStudent, example_students
from notebooks import as_cell, grade_class_with, html_text, nbgrader_meta, read, scores_by_direct_checks, solution_answers

A5 = "a5_cnn"
AUTO = {f"{name}_tests": float(points) for name, points in checks.POINTS.items()}
MANUAL = {"results_regularisation": 4.0}  # Q1, the L2 and dropout studies, graded by hand

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
    assert r.max_score == sum(AUTO.values()) + sum(MANUAL.values()) == 44
    assert r.verified and not any("DIFFERS" in n or "UNVERIFIED" in n for n in r.notes), r.notes


def test_every_example_student_was_graded(graded):
    assert {s.student_id for s in example_students(A5)} <= set(graded)


def test_written_answers_wait_for_a_grader_and_blank_declarations_are_flagged(graded):
    for student in ("e2e-solution", "example-ada", "example-bob"):
        assert f"needs manual grading: {', '.join(MANUAL)}" in graded[student].notes
        assert graded[student].score == sum(EXPECTED[student].values())  # the written answer is not graded yet
    assert not any("needs manual grading" in n for n in graded["example-carol"].notes)  # left blank: 0 at once
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
    assert not any(name in text for name in _core.shippable_helpers(checks.CHECKS))  # every driver, by its name


def test_bob_skipped_the_loop_version_and_his_notebook_ran_on(graded, course):
    """The ungraded conv2d_forward_naive left as the release's stub: the timing cell says so instead of raising,
    and every cell after it ran (the training in Part F too)."""
    import nbformat

    assert "conv2d_forward_naive" not in next(s for s in example_students(A5) if s.student_id == "example-bob").answers
    nb = nbformat.read(str(course.autograded_notebook("example-bob", A5)), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    (timing,) = [c for c in code if "conv2d_forward_naive(x_batch" in c.source]
    text = "".join(o.get("text", "") for o in timing.outputs)
    assert "conv2d_forward_naive is not written yet (it is not graded)" in text and "conv2d_forward:" in text, text
    ungraded = [c for c in code[code.index(timing) :] if not nbgrader_meta(c).get("grade")]
    errors = [(c.source.splitlines()[0], o["ename"]) for c in ungraded for o in c.outputs if o.output_type == "error"]
    assert errors == [], errors
    (data,) = [c for c in code if "def mnist_folder(" in c.source]
    assert "quick mode: 2048 training, 512 validation, 1000 test images" in "".join(o.get("text", "") for o in data.outputs)


# ------------------------------------------------------------------ the release runs for a student, in this process
def _release_cells_through(marker, skip_answers=(), namespace=None):
    """Run the release's code cells in order, each answer cell holding the source's solution unless its grade id is
    in skip_answers (then the release's stub stays), test cells left out, up to and including the first cell that
    contains `marker`. Returns the namespace."""
    answers = solution_answers(A5)
    namespace = {} if namespace is None else namespace
    for cell in read("release", A5).cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type != "code" or meta.get("grade"):
            continue
        grade_id = meta.get("grade_id")
        source = answers[grade_id] if grade_id in answers and grade_id not in skip_answers else cell.source
        exec(compile(source, f"a5 release cell {cell.id}", "exec"), namespace)
        if marker in cell.source:
            return namespace
    raise AssertionError(f"no release code cell contains {marker!r}")


def test_the_untouched_loop_version_does_not_stop_run_all(monkeypatch, capsys):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    (stub,) = [c for c in read("release", A5).cells if nbgrader_meta(c).get("grade_id") == "conv2d_forward_naive"]
    assert "raise NotImplementedError()" in stub.source  # the student's starting point
    namespace = _release_cells_through("conv2d_forward_naive(x_batch", skip_answers=("conv2d_forward_naive",))
    out = capsys.readouterr().out
    assert "conv2d_forward_naive is not written yet (it is not graded)" in out and "conv2d_forward:" in out, out
    assert namespace["naive_out"] is None and namespace["fast_seconds"] > 0
    # written, it is timed and compared
    namespace = _release_cells_through("conv2d_forward_naive(x_batch")
    out = capsys.readouterr().out
    assert "loops:" in out and "the two agree: True" in out, out


# ------------------------------------------------------------------ where Part F finds the data, in which mode
def _data_cell():
    (cell,) = [c for c in read("release", A5).cells if c.cell_type == "code" and "def mnist_folder(" in c.source]
    return cell.source


def _write_mnist(folder, rows):
    """Files shaped like MNIST's whose row i has every pixel i / 1e5 and label i % 10."""
    import h5py
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    for name, n in zip(("mnist_traindata.hdf5", "mnist_testdata.hdf5"), rows):
        with h5py.File(folder / name, "w") as f:
            f["xdata"] = np.repeat(np.arange(n, dtype=np.float32)[:, None] / 1e5, 784, axis=1)
            f["ydata"] = np.eye(10, dtype=np.float32)[np.arange(n) % 10]


def _run_data_cell(quick):
    import os

    namespace = {"os": os}
    exec(compile(_data_cell(), "a5 data cell", "exec"), namespace)
    assert namespace["QUICK"] is quick
    return namespace


def _first_pixel(x):
    return [round(float(v) * 1e5) for v in x[:, 0, 0, 0]]


def test_data_full_mode_is_the_default_and_quick_mode_reads_the_first_rows_next_to_the_notebook(tmp_path, monkeypatch):
    notebook_folder = tmp_path / "student"
    _write_mnist(notebook_folder, (3000, 1200))
    monkeypatch.chdir(notebook_folder)
    monkeypatch.delenv("NNFS_DATA_DIR", raising=False)
    monkeypatch.delenv("NNFS_QUICK", raising=False)
    with pytest.raises(ValueError, match="full mode needs 60,000 .*set NNFS_QUICK=1"):  # full mode reads every row
        _run_data_cell(quick=False)
    monkeypatch.setenv("NNFS_QUICK", "1")
    ns = _run_data_cell(quick=True)
    assert ns["folder"] == "."
    assert ns["x_train"].shape == (2048, 28, 28, 1) and ns["x_train"].dtype.name == "float32"
    assert _first_pixel(ns["x_train"])[:3] == [0, 1, 2] and _first_pixel(ns["x_val"]) == list(range(2048, 2560))
    assert _first_pixel(ns["x_test"]) == list(range(1000)) and ns["y_val"].argmax(axis=1)[0] == 2048 % 10


def test_data_quick_mode_in_the_graders_folder(tmp_path, monkeypatch):
    """The grader sets NNFS_DATA_DIR to the prepared folder: quick mode slices the full files there, and where only
    the quick subset was prepared (in its quick/ subfolder, as the demo and the test session do), reads that."""
    data = tmp_path / "data"
    _write_mnist(data / "quick", (5000, 1000))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NNFS_DATA_DIR", str(data))
    monkeypatch.setenv("NNFS_QUICK", "1")
    ns = _run_data_cell(quick=True)
    assert ns["folder"] == str(data / "quick") and len(ns["x_train"]) == 2048 and len(ns["x_test"]) == 1000
    _write_mnist(data, (2600, 1000))
    ns = _run_data_cell(quick=True)
    assert ns["folder"] == str(data) and _first_pixel(ns["x_val"])[-1] == 2559
    monkeypatch.setenv("NNFS_QUICK", "0")
    (data / "mnist_traindata.hdf5").unlink()
    with pytest.raises(FileNotFoundError, match="Put the two files next to this notebook"):  # full mode never takes quick/
        _run_data_cell(quick=False)

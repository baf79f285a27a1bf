"""What the a5_cnn release does for a student, run in this process (no grading run: tests/test_grading_assignments.py
grades a5_cnn end to end): the untouched loop version does not stop Run All, and Part F finds its data.
"""

import pytest

from notebooks import nbgrader_meta, read, solution_answers

A5 = "a5_cnn"


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

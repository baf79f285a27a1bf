"""What the a4_mnist notebooks promise about their data and settings, read from the notebooks (no grading run:
tests/test_grading_assignments.py grades a4_mnist end to end).
"""

import pytest

from notebooks import ROOT, by_id, read

A4 = "a4_mnist"


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

"""The companion study notebooks, instructor_notebooks/*_studies.ipynb, read without running them (nbval runs them, in quick mode).

They are committed without outputs; their first code cell alone chooses the mode from NNFS_QUICK (full by default);
from the course package they import only the reference implementations and the MNIST loader; every figure they
make is saved under figures/<notebook>/{quick,full}/, which git ignores; every reference training run shows a
progress bar; and a4 touches the test images in one cell, so its test accuracy is reported once.
"""

import ast

import nbformat
import pytest
from notebooks import ROOT

STUDIES = ("a4_mnist_studies", "a5_cnn_studies")
COURSE_MODULES = {"autograder.reference.a4_mnist", "autograder.reference.a5_cnn", "autograder.data.mnist"}
OTHER_MODULES = {"os", "time", "math", "pathlib", "numpy", "matplotlib", "IPython", "tqdm"}


def code_cells(name):
    nb = nbformat.read(str(ROOT / "instructor_notebooks" / f"{name}.ipynb"), as_version=4)
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def calls(tree, attribute):
    """Every call in tree of a function or method named `attribute`."""
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (getattr(node.func, "attr", None) == attribute or getattr(node.func, "id", None) == attribute)
    ]


def names(tree):
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


@pytest.mark.parametrize("name", STUDIES)
def test_committed_without_outputs(name):
    for cell in code_cells(name):
        assert cell.outputs == [] and cell.execution_count is None, (
            f"{name}: cell {cell.id} has outputs; clear them before committing (the figures are saved at run time)"
        )


@pytest.mark.parametrize("name", STUDIES)
@pytest.mark.parametrize(
    "value, quick", [(None, False), ("", False), ("0", False), ("off", False), ("1", True), (" Yes ", True)]
)
def test_first_code_cell_chooses_the_mode(name, value, quick, monkeypatch):
    first, *rest = code_cells(name)
    if value is None:
        monkeypatch.delenv("NNFS_QUICK", raising=False)
    else:
        monkeypatch.setenv("NNFS_QUICK", value)
    settings = {}
    exec(compile(first.source, f"{name} first code cell", "exec"), settings)
    assert settings["QUICK"] is quick, f"{name}: NNFS_QUICK={value!r} should give QUICK={quick}"
    for cell in rest:
        assert "environ" not in cell.source, f"{name}: cell {cell.id} reads the environment; only the first cell may"


@pytest.mark.parametrize("name", STUDIES)
def test_quick_mode_trains_fewer_epochs(name, monkeypatch):
    epochs = {}
    for value in ("0", "1"):
        monkeypatch.setenv("NNFS_QUICK", value)
        settings = {}
        exec(compile(code_cells(name)[0].source, f"{name} first code cell", "exec"), settings)
        epochs[value] = settings["EPOCHS"]
    assert epochs["1"] < epochs["0"], f"{name}: quick mode should train fewer epochs than full mode"


@pytest.mark.parametrize("name", STUDIES)
def test_imports_only_the_reference_and_the_loader(name):
    for cell in code_cells(name):
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):  # the module, or the module inside a package
                package = node.module not in COURSE_MODULES
                modules = [f"{node.module}.{alias.name}" if package else node.module for alias in node.names]
            else:
                continue
            for module in modules:
                allowed = module in COURSE_MODULES or module.split(".")[0] in OTHER_MODULES
                assert allowed, f"{name}: cell {cell.id} imports {module}; studies use the reference implementations"


@pytest.mark.parametrize("name", STUDIES)
def test_every_figure_is_saved_in_its_folder(name):
    cells = code_cells(name)
    folder = f'FIGURES = Path("figures", "{name}", "quick" if QUICK else "full")'
    assert any(folder in cell.source for cell in cells), f"{name}: figures must go to {folder}"
    figures = 0
    for cell in cells:
        tree = ast.parse(cell.source)
        made = len(calls(tree, "subplots")) + len(calls(tree, "figure"))
        saved = len(calls(tree, "savefig"))
        assert saved == made, f"{name}: cell {cell.id} makes {made} figures and saves {saved}"
        figures += made
        under_figures = [node for node in ast.walk(tree) if isinstance(node, ast.BinOp) and "FIGURES" in names(node)]
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.endswith(".png"):
                inside = any(node in ast.walk(path) for path in under_figures)
                assert inside, f"{name}: {node.value} is not saved under FIGURES"
    assert figures, f"{name}: no figures"
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "/instructor_notebooks/figures/" in ignored, "the generated figures must be git-ignored: add /instructor_notebooks/figures/"


@pytest.mark.parametrize("name", STUDIES)
def test_training_runs_show_progress(name):
    for cell in code_cells(name):
        tree = ast.parse(cell.source)
        for call in calls(tree, "train"):
            keywords = {k.arg: k.value for k in call.keywords}
            shown = isinstance(keywords.get("progress"), ast.Constant) and keywords["progress"].value is True
            assert shown, f"{name}: cell {cell.id} calls train without progress=True"
        if calls(tree, "train_step"):
            assert calls(tree, "tqdm"), f"{name}: cell {cell.id} loops over train_step without a progress bar"


def test_a4_reports_the_test_accuracy_once():
    touching = [cell for cell in code_cells("a4_mnist_studies") if {"x_test", "y_test"} & names(ast.parse(cell.source))]
    assert len(touching) == 1, (
        f"the test images appear in {len(touching)} cells of a4_mnist_studies; only the final model may see them"
    )
    evaluations = calls(ast.parse(touching[0].source), "evaluate")
    assert len(evaluations) == 1, "the final model is evaluated on the test images exactly once"


def test_a5_training_loop_is_train_epoch():
    """The a5 notebook writes cnn.train_epoch's loop out (for a per-batch progress bar): it must train the same."""
    import numpy as np
    from tqdm.auto import tqdm

    from autograder.data.mnist import load_mnist
    from autograder.reference import a5_cnn as cnn

    x, y = load_mnist("train", quick=True)
    x, y = x[:330], y[:330]  # 11 batches, the last one short
    (cell,) = [cell for cell in code_cells("a5_cnn_studies") if "def train_cnn(" in cell.source]
    evaluated = {"train": (x[:100], y[:100]), "val": (x[-100:], y[-100:]), "test": (x[100:200], y[100:200])}
    notebook = {"np": np, "time": __import__("time"), "tqdm": tqdm, "cnn": cnn, "x_train": x, "y_train": y,
                "EVALUATED": evaluated, "EPOCHS": 1, "SEED": 0}
    exec(compile(cell.source, "a5_cnn_studies train_cnn cell", "exec"), notebook)
    history = notebook["train_cnn"](0.75, 0.01, "test")

    rng = np.random.default_rng(0)
    params, state = cnn.init_cnn(rng)
    params, state, _, losses = cnn.train_epoch(x, y, params, state, cnn.init_adam(params), rng, keep_prob=0.75,
                                               l2_lambda=0.01)
    assert history["objective"] == [sum(losses) / len(losses)]
    for split, (xs, ys) in evaluated.items():
        loss, accuracy = cnn.evaluate(xs, ys, params, state)
        assert history[f"{split}_loss"] == [loss] and history[f"{split}_acc"] == [accuracy], split

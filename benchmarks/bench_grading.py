#!/usr/bin/env python3
"""Grading throughput: plain `nbgrader autograde` against `nnfs grade` with --jobs 1 and --jobs 2.

    python benchmarks/bench_grading.py [--students 60] [--assignments a1_helpers a2_backprop ...]

Builds a synthetic class in a temporary course (each student a mix of the bundled example students:
correct, buggy, untouched, broken), then measures in one run: sequential plain nbgrader (one
`nbgrader autograde` command for the whole class, no sandbox, no verification, no feedback), and the
course's sandboxed grader (judging outside the kernel) with feedback, with 1 and 2 workers; plain nbgrader's generate_feedback
is timed on its own so the comparison can also be made on the same outputs. Prints notebooks per minute,
seconds per notebook and how a notebook's time splits into phases. Target: --jobs 2 at least 1.5x plain
nbgrader's throughput on 2 cores while also isolating and judging outside the kernel (issue #14: 3x on a1, 2x on a4/a5).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.assignments import spec  # noqa: E402
from autograder.examples import build_submission, example_students  # noqa: E402
from autograder.grading.orchestration import coordinator, pipeline
from autograder.grading.isolation import forkserver  # noqa: E402
from autograder.grading.orchestration.course import Course, quiet_library_warnings  # noqa: E402
from autograder.grading.isolation.sandbox import MALLOC_ENV, Limits, course_environment, support  # noqa: E402


def make_class(root: Path, assignments: list[str], n: int) -> int:
    for name in ("source", "release"):
        shutil.copytree(ROOT / name, root / name)
    shutil.copy(ROOT / "nbgrader_config.py", root)
    count = 0
    for assignment in assignments:
        models = example_students(assignment)
        release = root / "release" / assignment / f"{assignment}.ipynb"
        for i in range(n):
            model = models[i % len(models)]
            path = root / "submitted" / f"s{i:03d}" / assignment / f"{assignment}.ipynb"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(build_submission(release, model))
            count += 1
    return count


# BLAS threads per kernel. `nnfs grade` gives every graded kernel one (sandbox.course_environment); plain
# nbgrader's kernels inherit this process's environment, so by default they get the same, for a comparison
# of grading and not of BLAS settings (--plain-blas-threads as-found leaves the environment as it is).
BLAS_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def plain_nbgrader(root: Path, assignments: list[str], blas_threads: str, malloc: str) -> float:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    # The same quick mode and data folder as the graded kernels (a4 and a5 train on MNIST). The allocator
    # settings are part of what `nnfs grade` does, so plain nbgrader runs without them unless asked.
    data = tuple(sorted({name for a in assignments for name in spec(a).data}))  # MNIST for a4 and a5
    env.update({k: v for k, v in course_environment(data)[0].items() if k not in BLAS_VARIABLES and k not in MALLOC_ENV})
    if blas_threads != "as-found":
        env.update({name: blas_threads for name in BLAS_VARIABLES})
    if malloc == "ours":
        env.update(MALLOC_ENV)
    start = time.perf_counter()
    for assignment in assignments:
        subprocess.run(
            [sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force"],
            cwd=root, env=env, capture_output=True, check=True,
        )
    setup = time.perf_counter() - start
    start = time.perf_counter()
    for assignment in assignments:
        subprocess.run(
            [sys.executable, "-m", "nbgrader", "autograde", assignment, "--force"], cwd=root, env=env, capture_output=True
        )
    autograde = time.perf_counter() - start
    # The same outputs as `nnfs grade`: nbgrader's feedback HTML too (timed separately).
    start = time.perf_counter()
    for assignment in assignments:
        subprocess.run(
            [sys.executable, "-m", "nbgrader", "generate_feedback", assignment, "--force"], cwd=root, env=env, capture_output=True
        )
    return autograde, time.perf_counter() - start, setup


def ours(root: Path, assignments: list[str], jobs: int) -> tuple[float, list[dict]]:
    course = Course(root)
    # Released first, as in a real course (`nnfs release`) and as plain nbgrader's generate_assignment
    # above, which is not timed either.
    for assignment in assignments:
        pipeline.generate_release(course, assignment)
    start = time.perf_counter()
    # As `nnfs grade a4_mnist a5_cnn` does: one pool for every assignment, longest submissions first.
    results = coordinator.grade(course, assignments, jobs=jobs, limits=Limits(), force=True, progress=False, log=lambda *_: None)
    return time.perf_counter() - start, [r.timings for r in results]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=60)
    parser.add_argument("--assignments", nargs="*", default=None)
    parser.add_argument("--plain-blas-threads", default="1", help="BLAS threads of plain nbgrader's kernels, or as-found")
    parser.add_argument(
        "--plain-malloc", choices=("as-found", "ours", "both"), default="as-found",
        help="glibc allocator settings of plain nbgrader's kernels: the environment as found (nbgrader as it ships), "
        "nnfs grade's (sandbox.MALLOC_ENV), or both, one run each",
    )
    parser.add_argument(
        "--also-started-kernels", action="store_true",
        help="also --jobs 2 with every kernel started anew (NNFS_FORK_KERNELS=0), as before the fork servers",
    )
    args = parser.parse_args()
    quiet_library_warnings()  # as `nnfs grade` does: nbgrader's gradebook warns about its own internals
    assignments = args.assignments or sorted(p.name for p in (ROOT / "source").iterdir() if p.is_dir())
    sup = support()
    print(f"machine: {os.cpu_count()} cores; sandbox: {'bubblewrap' if sup.bwrap else 'NONE'}; "
          f"process cap: {'pids cgroup' if sup.pids_cgroup else 'RLIMIT_NPROC only'}")
    for warning in sup.warnings:
        print("warning:", warning)
    print("kernels: " + ("forked by the workers' fork servers" if forkserver.enabled() else "started anew (no fork server)"))
    ours_env = course_environment()[0]
    found = {name: os.environ.get(name, "unset") for name in BLAS_VARIABLES}
    plain_env = found if args.plain_blas_threads == "as-found" else {name: args.plain_blas_threads for name in BLAS_VARIABLES}
    print("BLAS threads per kernel: plain nbgrader " + ", ".join(f"{k}={v}" for k, v in plain_env.items())
          + "; nnfs grade " + ", ".join(f"{k}={ours_env[k]}" for k in BLAS_VARIABLES))
    found_malloc = ", ".join(f"{k}={os.environ.get(k, 'unset')}" for k in MALLOC_ENV)
    print(f"glibc allocator per kernel: plain nbgrader {found_malloc}"
          + (f" (and a second run with nnfs grade's)" if args.plain_malloc == "both" else " (nnfs grade's)" if args.plain_malloc == "ours" else "")
          + "; nnfs grade " + ", ".join(f"{k}={v}" for k, v in MALLOC_ENV.items()))
    rows = []
    with tempfile.TemporaryDirectory(prefix="nnfs-bench-") as tmp:
        plain_root = Path(tmp) / "plain"
        n = make_class(plain_root, assignments, args.students)
        print(f"class: {args.students} students x {len(assignments)} assignments = {n} notebooks ({', '.join(assignments)})")
        malloc_runs = ["as-found", "ours"] if args.plain_malloc == "both" else [args.plain_malloc]
        seconds, feedback, setup = plain_nbgrader(plain_root, assignments, args.plain_blas_threads, malloc_runs[0])
        which = " (nnfs grade's allocator settings)" if malloc_runs[0] == "ours" else ""
        rows.append((f"plain nbgrader autograde{which} (sequential, in-process kernel)", seconds, None))
        rows.append(("plain nbgrader autograde + generate_feedback (same outputs)", seconds + feedback, None))
        if len(malloc_runs) == 2:  # the baseline stays the first; this row shows what the allocator alone gives
            seconds, _, _ = plain_nbgrader(plain_root, assignments, args.plain_blas_threads, "ours")
            rows.append(("plain nbgrader autograde with nnfs grade's allocator settings", seconds, None))
        for jobs in (1, 2):
            root = Path(tmp) / f"jobs{jobs}"
            make_class(root, assignments, args.students)
            seconds, timings = ours(root, assignments, jobs)
            rows.append((f"nnfs grade --jobs {jobs} (sandbox, judged outside the kernel, feedback)", seconds, timings))
        if args.also_started_kernels and forkserver.enabled():
            root = Path(tmp) / "started"
            make_class(root, assignments, args.students)
            os.environ["NNFS_FORK_KERNELS"] = "0"  # the pool's workers inherit it
            try:
                seconds, timings = ours(root, assignments, 2)
            finally:
                os.environ.pop("NNFS_FORK_KERNELS")  # enabled() above: it was unset or not "0"
            rows.append(("nnfs grade --jobs 2, kernels started anew, not forked", seconds, timings))
    base, base_feedback = rows[0][1], rows[1][1]
    print(f"\n{'':62s} {'seconds':>8s} {'nb/min':>8s} {'s/nb':>6s} {'vs plain':>9s} {'vs plain+feedback':>18s}")
    for label, seconds, _ in rows:
        print(f"{label:62s} {seconds:8.1f} {60 * n / seconds:8.1f} {seconds / n:6.2f} {base / seconds:8.2f}x {base_feedback / seconds:17.2f}x")
    for label, _, timings in [row for row in rows if row[2] is not None]:
        phases = ["isolation", "startup", "execution", "feedback", "merge", "total"]
        medians = {p: statistics.median([t.get(p, 0.0) for t in timings]) for p in phases}
        print(f"\n{label}: median seconds per notebook, by phase (inside a worker; merge in the coordinator)")
        print("  " + "  ".join(f"{p} {medians[p]:.2f}" for p in phases))
    print(f"\n(plain nbgrader also spent {setup:.1f} s on generate_assignment, not counted above)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

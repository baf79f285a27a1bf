"""Grade one submission in a throwaway course directory; return plain data, write nothing shared.

``grade_task(task)`` is what a worker process (local pool or Dask) runs. The throwaway course holds only
that student's notebook, the assignment's release notebook and a gradebook of its own (built from the
template). nbgrader autogrades there in one sandboxed kernel (sandbox.py) that holds no grading package:
its hidden-test cells call a package-free stand-in (standin.py) whose answers are judged here, in this
process (judging.py). The coordinator alone merges the result into the course.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ...assignments import spec
from .course import Course, quiet_library_warnings
from .gradebook_engines import shared_engines
from .pipeline import StudentResult, _read_scores, preflight, restore_answer_cells
from ..isolation.sandbox import Limits, Sandbox, remove_at_exit, support


def _fast_tmp() -> str | None:
    """A memory-backed folder for the throwaway courses when there is one: nbgrader's gradebook commits
    fsync, and on a disk those waits were a large share of a small notebook's grading time."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


_FAST_TMP = _fast_tmp()
# This process's scratch folder: every task's throwaway course is made at the same place in it (and removed
# after), so that its gradebook has one URL and one SQLAlchemy engine for every task (gradebook_engines.py:
# the queries nbgrader runs are compiled once per worker, not once per notebook).
_SCRATCH: Path | None = None
_ENGINES: dict = {}  # the gradebook engines kept across this process's tasks


@contextmanager
def _task_folder():
    global _SCRATCH
    if _SCRATCH is None:
        _SCRATCH = Path(tempfile.mkdtemp(prefix="nnfs-grade-", dir=_FAST_TMP))
        remove_at_exit(_SCRATCH)
    folder = _SCRATCH / "task"
    shutil.rmtree(folder, ignore_errors=True)  # what a task killed half-way left
    folder.mkdir()
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class Template:
    """What every worker needs for one assignment, as plain data (it travels to Dask workers)."""

    assignment: str
    config_text: str  # the course's nbgrader_config.py
    gradebook: bytes  # a gradebook holding only this assignment (made by generate_assignment)
    release_notebook: str
    extra_files: dict = field(default_factory=dict)  # non-notebook files of source/<a>/, name -> bytes


@dataclass
class Task:
    template: Template
    student: str
    notebook: bytes
    limits: Limits = field(default_factory=Limits)
    verify: bool = True
    feedback: bool = True
    # A worker without a sandbox refuses to run student code unless this says it may (the instructor's
    # own machine, warned; a Dask cluster only with --allow-unsandboxed).
    allow_unsandboxed: bool = False


@dataclass
class WorkerResult:
    """What a worker hands the coordinator for one submission: plain data (it travels back from Dask workers)."""

    result: StudentResult  # its timings include every phase in the worker (the coordinator adds its merge)
    autograded: str | None = None  # the autograded notebook (sanitized and bounded)
    feedback: str | None = None  # the student's feedback page
    grades: dict = field(default_factory=dict)  # nbgrader's grade records of this submission, by cell
    comments: dict = field(default_factory=dict)  # nbgrader's comment records, by cell
    isolation_warnings: list = field(default_factory=list)  # what this worker's sandbox lacks


UNSANDBOXED_NOTE = "graded WITHOUT a sandbox: this student's code ran with the grader's rights"


def _write_course(root: Path, task: Task) -> Course:
    t = task.template
    root.mkdir(parents=True)
    (root / "nbgrader_config.py").write_text(t.config_text)
    (root / "gradebook.db").write_bytes(t.gradebook)
    release = root / "release" / t.assignment
    release.mkdir(parents=True)
    (release / f"{t.assignment}.ipynb").write_text(t.release_notebook)
    source = root / "source" / t.assignment
    source.mkdir(parents=True)
    for name, data in t.extra_files.items():
        (source / name).write_bytes(data)
    submitted = root / "submitted" / task.student / t.assignment
    submitted.mkdir(parents=True)
    (submitted / f"{t.assignment}.ipynb").write_bytes(task.notebook)
    return Course(root)


SOCKET_FOLDER_MAX_BYTES = 1024 * 1024  # holds the kernel's sockets (no bytes): anything more is a student's


class _Watchdog:
    """Kills the sandbox's processes when one notebook takes longer than its wall-clock limit, or when
    something writes into its socket folder, the one place a sandbox can write that the host sees (a
    memory cgroup, where there is one, bounds that too; this check bounds it everywhere)."""

    def __init__(self, seconds: float, sandbox: Sandbox):
        self.fired = self.wrote = False
        self._sandbox, self._deadline = sandbox, time.monotonic() + seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="watchdog")

    def _watch(self):
        while not self._stop.wait(0.2):
            if time.monotonic() > self._deadline:
                self.fired = True
            elif _folder_bytes(self._sandbox.sockets) > SOCKET_FOLDER_MAX_BYTES:
                self.wrote = True
            else:
                continue
            self._sandbox.kill_all()
            return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _folder_bytes(folder: Path) -> int:
    total = 0
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                total += info.st_size if entry.is_file(follow_symlinks=False) else 4096
    except OSError:
        pass
    return total


def _autograde(course: Course, task: Task, result: StudentResult, scratch: Path, timings: dict) -> dict:
    """The plain outputs of nbgrader's sandboxed run (empty when it failed: the result says why)."""
    a, student = task.template.assignment, task.student
    start = time.perf_counter()
    # Judged outside (task.verify): the kernel has no grading package, a stand-in takes its place. Else the
    # package is in the kernel and its checks judge there, as under plain nbgrader.
    try:
        sandbox, kernel = _sandboxed_kernel(task, not task.verify, scratch / "autograde")
    except Exception as exc:
        result.status = "error"
        result.reason = f"the sandboxed kernel would not start ({type(exc).__name__}: {exc}); regrade this student"
        return {}
    from ..isolation.kernels import SandboxedExecute

    SandboxedExecute.handed_over = kernel  # nbgrader's executor (made by nbgrader, in this thread) takes it
    timings["isolation"] = time.perf_counter() - start
    start = time.perf_counter()
    config = course.config()
    sandbox.configure(config)
    from nbgrader.apps import NbGraderAPI
    from nbgrader.converters.autograde import Autograde
    from nbgrader.preprocessors import Execute

    # The course's list (nbgrader_config.py) where it sets one, else nbgrader's; our sandboxed executor
    # takes Execute's place, and every other step runs as configured.
    configured = config.Autograde.get("autograde_preprocessors") or Autograde.class_traits()["autograde_preprocessors"].default()
    steps = []
    for step in configured:
        if _preprocessor(step) is not Execute:
            steps.append(step)
        elif task.verify:
            from ..judging.judge import InjectStandIn, JudgeOutside

            steps += [InjectStandIn, SandboxedExecute, JudgeOutside]
        else:
            steps.append(SandboxedExecute)
    config.Autograde.autograde_preprocessors = steps
    config.InjectStandIn.assignment = config.JudgeOutside.assignment = a

    api = NbGraderAPI(config=config)
    timings["startup"] = time.perf_counter() - start
    start = time.perf_counter()
    try:
        with _Watchdog(task.limits.notebook_seconds, sandbox) as watchdog:
            outcome = api.autograde(a, student, force=True, create=True)
    finally:
        SandboxedExecute.handed_over = None  # never left for another notebook
        closing = time.perf_counter()
        sandbox.close()
        timings["isolation"] += time.perf_counter() - closing
    timings["execution"] = time.perf_counter() - start
    out = {}
    if watchdog.fired:
        result.status = "error"
        result.reason = f"stopped after {task.limits.notebook_seconds} s (the notebook's time limit): an endless loop?"
        return out
    if watchdog.wrote:
        result.status = "error"
        result.reason = "stopped: the notebook wrote files into the grader's socket folder (outside its working folder)"
        return out
    if not outcome["success"]:
        result.status = "error"
        lines = (outcome.get("error") or outcome.get("log") or "unknown error").strip().splitlines()
        result.reason = f"nbgrader could not autograde this notebook: {lines[-1] if lines else 'unknown error'}"
        return out
    if task.verify:
        from ..judging.judge import JudgeOutside

        problems = getattr(JudgeOutside.last, "problems", [])
        if problems:
            result.notes.append("HIDDEN TESTS DID NOT RUN (those cells score 0): " + "; ".join(problems))
        result.mistakes = list(getattr(JudgeOutside.last, "mistakes", []))
    cut = getattr(SandboxedExecute.cut, "cells", [])
    if cut:
        result.notes.append(f"output cut in {len(cut)} cell(s) (over the grader's size bounds); graded on what was kept")
    _read_scores(course, result)
    out["autograded"] = course.autograded_notebook(student, a).read_text()
    return out


def _preprocessor(item):
    """A preprocessor class from a config entry (nbgrader accepts classes and dotted names alike)."""
    if isinstance(item, str):
        from traitlets.utils.importstring import import_item

        return import_item(item)
    return item


_FEEDBACK = None  # this process's FeedbackMaker (feedback.py), made on first use


def _feedback_maker():
    global _FEEDBACK
    if _FEEDBACK is None:
        from multiprocessing import util

        from .feedback import FeedbackMaker

        _FEEDBACK = FeedbackMaker()
        util.Finalize(_FEEDBACK, _FEEDBACK.close, exitpriority=10)
    return _FEEDBACK


def _feedback(course: Course, task: Task, result: StudentResult, out: dict, timings: dict) -> None:
    """The student's feedback page, made in a bounded child (feedback.py); if it cannot be made, a short
    page with the scores that says so."""
    from .feedback import FeedbackTimeout, cut_feedback_page

    start = time.perf_counter()
    a, student = result.assignment, result.student
    path = course.feedback_html(student, a)
    try:
        _feedback_maker().make(course.root, a, student, seconds=task.limits.feedback_seconds)
        if path.is_file() and path.stat().st_size <= 64 * 1024 * 1024:
            out["feedback"] = path.read_text()
        else:
            result.notes.append("feedback could not be generated")
    except FeedbackTimeout as exc:
        result.notes.append(f"feedback cut: {exc}")
        out["feedback"] = cut_feedback_page(a, student, result.score, result.max_score, result.cells, str(exc))
    except (RuntimeError, ValueError):
        result.notes.append("feedback could not be generated")
    timings["feedback"] = time.perf_counter() - start


_WARM = None  # this process's KernelsStartedAhead, made on first use


def _forget_warm_kernels() -> None:
    """In a child made by os.fork (a process pool's worker): the parent's started kernels, and the thread
    that starts them, are not the child's."""
    global _WARM, _FEEDBACK, _SCRATCH
    _WARM = _FEEDBACK = _SCRATCH = None
    _ENGINES.clear()


os.register_at_fork(after_in_child=_forget_warm_kernels)


def _warm_kernels():
    global _WARM
    from ..isolation.kernels import KernelsStartedAhead

    if _WARM is None:
        _WARM = KernelsStartedAhead()
    return _WARM


def warm_up(limits: Limits, verify: bool = True, assignment: str | None = None) -> None:
    """A new worker process's first kernels start now, and nbgrader is imported, before any task
    arrives (a process pool's initializer: this overlaps the coordinator's own set-up). Only a head
    start: if it fails, the pool must still work (an initializer that raises breaks the whole pool)."""
    try:
        quiet_library_warnings()
        kernels = _warm_kernels()
        if assignment is not None:
            needs = spec(assignment)
            kernels.prepare(limits, not verify, needs.preload, needs.data)
        _feedback_maker()._start()  # its nbgrader import overlaps the first kernel's start
        import nbgrader.apps  # noqa: F401  (about 1 s of imports, needed by the first task)
    except Exception:
        pass


def _sandboxed_kernel(task: Task, with_package: bool, root: Path):
    """(sandbox, (kernel manager, client)): a kernel started ahead of need, else one started now in ``root``."""
    from ..isolation.kernels import start_now

    needs = spec(task.template.assignment)  # what its kernels import ahead and the data they read
    taken = _warm_kernels().take(task.limits, with_package, needs.preload, needs.data)
    return taken if taken else start_now(root, task.limits, with_package, needs.preload, needs.data)


def _raw_records(course: Course, assignment: str, student: str) -> tuple[dict, dict]:
    """nbgrader's own grade and comment records, for the coordinator to copy into the course gradebook."""
    grades, comments = {}, {}
    with course.gradebook() as gb:
        for notebook in gb.find_submission(assignment, student).notebooks:
            for grade in notebook.grades:
                grades[grade.name] = {
                    "notebook": notebook.name,
                    "auto_score": grade.auto_score,
                    "manual_score": grade.manual_score,
                    "needs_manual_grade": bool(grade.needs_manual_grade),
                }
            for comment in notebook.comments:
                comments[comment.name] = {"notebook": notebook.name, "auto_comment": comment.auto_comment}
    return grades, comments


def grade_task(task: Task) -> WorkerResult:
    """Grade one submission."""
    quiet_library_warnings()
    isolation = "bwrap" if support().bwrap else "none"
    if isolation == "none" and not task.allow_unsandboxed:
        refused = StudentResult(task.student, task.template.assignment, status="error", isolation=isolation,
                                reason="not graded: this worker has no sandbox (bubblewrap); install it there, or grade with --allow-unsandboxed")
        return WorkerResult(refused, isolation_warnings=support().warnings)
    a = task.template.assignment
    timings = {}
    start = time.perf_counter()
    with _task_folder() as scratch, shared_engines(keep=_ENGINES):
        course = _write_course(scratch / "course", task)
        result = preflight(course, a, task.student)
        out = {}
        if result.status == "graded":
            result.notes += restore_answer_cells(course, a, task.student)
            out = _autograde(course, task, result, scratch, timings)
        if result.status == "graded":
            result.verified = task.verify  # judged outside the kernel
            out["grades"], out["comments"] = _raw_records(course, a, task.student)
            if task.feedback:
                _feedback(course, task, result, out, timings)
    timings["total"] = time.perf_counter() - start
    result.seconds, result.timings = timings["total"], timings
    result.isolation = isolation
    if isolation == "none" and result.status == "graded":
        result.notes.append(UNSANDBOXED_NOTE)
        if "feedback" in out:
            out["feedback"] = _with_banner(out["feedback"], UNSANDBOXED_NOTE)
    return WorkerResult(result, isolation_warnings=support().warnings, **out)


def _with_banner(html: str, text: str) -> str:
    """The feedback page with a line of (escaped) text at the top of its body."""
    import html as html_lib
    import re

    banner = f'<div style="background:#fdd;padding:0.5em;font-weight:bold">{html_lib.escape(text)}</div>'
    found = re.search(r"<body[^>]*>", html)
    return html[: found.end()] + banner + html[found.end():] if found else banner + html

"""Grade a class: tasks out to workers (a local process pool or a Dask cluster), results back in.

The coordinator is the only writer of the course's gradebook.db, autograded/, feedback/,
grading_status.json and grades.csv. It records each student as soon as their result arrives (status
file written atomically), so a run that is killed half-way can be started again: students whose
submission has not changed since they were graded are skipped, the rest are graded.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from ...assignments import all_specs
from ...files import atomic_write
from . import pipeline, runs, untrusted
from .course import Course
from .gradebook_engines import shared_engines
from .pipeline import StudentResult
from ..isolation.sandbox import Limits, say_overrides, support
from . import worker
from .worker import Task, Template, WorkerResult, grade_task


def _alembic_head() -> str:
    """The gradebook schema's version, as `alembic heads` prints it, read in-process."""
    import nbgrader
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(Path(nbgrader.__file__).parent / "alembic")).get_current_head()


def _empty_gradebook(path: Path) -> None:
    """nbgrader's empty gradebook, as its Gradebook class makes one. Made here because nbgrader runs the
    `alembic heads` command for a new database: a 2.5 s subprocess, most of a template's cost."""
    from nbgrader.api import Base
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{path}")
    try:
        Base.metadata.create_all(bind=engine)
        with engine.begin() as db:
            db.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
            db.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": _alembic_head()})
    finally:
        engine.dispose()


def make_template(course: Course, assignment: str) -> Template:
    """generate_assignment in a scratch course: a gradebook with this assignment and nothing else."""
    with tempfile.TemporaryDirectory(prefix="nnfs-template-") as tmp:
        scratch = Course(Path(tmp))
        _empty_gradebook(scratch.gradebook_path)
        shutil.copytree(course.root / "source" / assignment, scratch.root / "source" / assignment)
        config = course.root / "nbgrader_config.py"
        config_text = config.read_text() if config.is_file() else ""
        (scratch.root / "nbgrader_config.py").write_text(config_text)
        pipeline.generate_release(scratch, assignment)
        extra = {
            p.name: p.read_bytes()
            for p in (course.root / "source" / assignment).iterdir()
            if p.is_file() and p.suffix != ".ipynb"
        }
        return Template(
            assignment=assignment,
            config_text=config_text,
            gradebook=(scratch.root / "gradebook.db").read_bytes(),
            release_notebook=scratch.release_notebook(assignment).read_text(),
            extra_files=extra,
        )


def _ensure_assignment_in_gradebook(course: Course, assignment: str) -> None:
    with course.gradebook() as gb:
        known = {a.name for a in gb.assignments}
    if assignment not in known:
        pipeline.generate_release(course, assignment)


def _submissions(course: Course, assignment: str, students=None) -> list[tuple[str, str | None]]:
    """(student id, refusal or None) for each submission folder of this assignment (or the given
    students'). Folder names that are not safe ids are refused under a stand-in id (untrusted.py)."""
    folders = untrusted.submission_folders(course.root / "submitted", assignment)
    if students is not None:
        wanted = set(students)
        folders = [(name, why) for name, why in folders if name in wanted]
        folders += [(name, f"no submission folder for {untrusted.describe(name)}") for name in sorted(wanted - {n for n, _ in folders})]
    found = []
    for name, why in folders:
        if not untrusted.is_valid_student_id(name):
            found.append((untrusted.stand_in_id(name), f"the submission folder {untrusted.describe(name)} is not a valid student id "
                          "(letters, digits, '.', '_', '-' and '@', at most 64, starting with a letter or digit): rename it and grade again"))
        else:
            found.append((name, why))
    return found


class DiskFull(RuntimeError):
    """The course's disk is full: the run stops cleanly; what was recorded stays, and the next run resumes."""


def _is_disk_full(exc: BaseException) -> bool:
    """A write refused for want of space or quota: an OSError, or SQLite's SQLITE_FULL through SQLAlchemy."""
    import errno
    import sqlite3

    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    cause = getattr(exc, "orig", None)  # sqlalchemy.exc.DBAPIError wraps the driver's error
    return isinstance(cause, sqlite3.Error) and (getattr(cause, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(cause))


def _disk_full(course: Course, exc: BaseException) -> DiskFull:
    why = exc.strerror if isinstance(exc, OSError) else "database or disk is full"
    return DiskFull(f"the disk holding {course.root} is full ({why}): grading stopped. Every student "
                    "recorded so far is kept; free some space and run the same command again to go on.")


def _save(course: Course, results: list[StudentResult]) -> None:
    try:
        pipeline.save_results(course, results)
    except OSError as exc:
        if _is_disk_full(exc):
            raise _disk_full(course, exc) from None
        raise


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------------------------------ merge


def merge(course: Course, assignment: str, payload: WorkerResult) -> StudentResult:
    """Write one worker result into the course: gradebook rows, autograded notebook, feedback."""
    result = payload.result
    result.cells = {k: tuple(v) for k, v in result.cells.items()}
    student = result.student
    if result.status == "graded":
        with course.gradebook() as gb:
            gb.update_or_create_student(student)
            submission = gb.update_or_create_submission(assignment, student)
            stamp = _small_file(course, student, assignment, "timestamp.txt")
            if stamp is not None:
                from nbgrader.utils import parse_utc

                try:  # when it was submitted: formgrader shows lateness against the due date from it
                    submission.timestamp = parse_utc(stamp.strip())
                except (ValueError, TypeError, OverflowError):
                    pass
            by_name = {}
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    by_name[grade.name] = grade
                for comment in notebook.comments:
                    record = payload.comments.get(comment.name)
                    if record is not None:
                        comment.auto_comment = record["auto_comment"]
            for name, record in payload.grades.items():
                grade = by_name.get(name)
                if grade is None:
                    continue
                grade.auto_score = record["auto_score"]
                grade.needs_manual_grade = record["needs_manual_grade"]
                if name in result.cells and record["auto_score"] is not None:
                    grade.auto_score = result.cells[name][0]  # the verified score where there is one
            gb.db.commit()
            from ...term import audit

            audit.record_submission(course, submission)  # each cell whose score changed, in audit.jsonl
        if payload.autograded is not None:
            atomic_write(course.autograded_notebook(student, assignment), payload.autograded)
        if payload.feedback is not None:
            atomic_write(course.feedback_html(student, assignment), payload.feedback)
        # nbgrader's release_feedback pairs feedback with the exchange's submission through these two
        # files, which `nbgrader collect` puts beside the notebook (as nbgrader's autograde would copy them).
        for name in ("timestamp.txt", "submission_secret.txt"):
            text = _small_file(course, student, assignment, name)
            if text is not None:
                for notebook in (course.autograded_notebook(student, assignment), course.feedback_html(student, assignment)):
                    if notebook.is_file():
                        atomic_write(notebook.with_name(name), text)
    return result


def _small_file(course: Course, student: str, assignment: str, name: str) -> str | None:
    """A small text file beside the submission (read as untrusted.py reads: no links, no devices, bounded),
    or None when it is absent or refused."""
    try:
        data = untrusted.read_regular_file(course.root / "submitted", [student, assignment, name], untrusted.SMALL_FILE_MAX_BYTES)
    except untrusted.RefusedFile:
        return None
    return data.decode("utf-8", errors="replace")


# ---------------------------------------------------------------------------------------- progress


class Progress:
    def __init__(self, total: int, enabled: bool):
        self.total, self.done, self.failed, self.start = total, 0, 0, time.perf_counter()
        self.bar = None
        if enabled and total:
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, unit="nb", file=sys.stdout, dynamic_ncols=True)
            except ImportError:
                self.bar = None
        self.enabled = enabled

    def update(self, result: StudentResult) -> None:
        self.done += 1
        self.failed += result.status != "graded"
        if self.bar is not None:
            self.bar.set_postfix_str(f"failed {self.failed}", refresh=False)
            self.bar.update(1)
        elif self.enabled:
            elapsed = time.perf_counter() - self.start
            eta = elapsed / self.done * (self.total - self.done)
            print(f"[{self.done}/{self.total}] failed {self.failed}, ETA {eta:.0f} s", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# ------------------------------------------------------------------------------------------ grade


class Runner:
    """Where tasks run: ``submit(task)`` gives a future, ``as_completed(futures)`` yields them as they finish,
    ``close(wait, cancel)`` ends it. A local process pool (LocalRunner) or a Dask cluster (DaskRunner)."""

    def submit(self, task: Task):
        raise NotImplementedError

    def as_completed(self, futures):
        raise NotImplementedError

    def close(self, wait: bool = True, cancel: bool = False) -> None:
        raise NotImplementedError


class LocalRunner(Runner):
    """A local process pool. With ``warm_up`` (limits, verify, first assignment) every worker starts at once and
    starts its first kernels before any task reaches it, while the coordinator makes the templates."""

    def __init__(self, jobs: int, warm_up: tuple | None = None):
        if warm_up is None:
            self._pool = ProcessPoolExecutor(max_workers=jobs)
        else:
            self._pool = ProcessPoolExecutor(max_workers=jobs, initializer=worker.warm_up, initargs=warm_up)
            for _ in range(jobs):
                self._pool.submit(int)  # the pool starts its processes on demand: demand them now

    def submit(self, task: Task):
        return self._pool.submit(grade_task, task)

    def as_completed(self, futures):
        return as_completed(futures)

    def close(self, wait: bool = True, cancel: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=cancel)


class DaskRunner(Runner):
    """A Dask cluster's workers (each needs the course package and bubblewrap): a scheduler address, or a Client."""

    def __init__(self, scheduler):
        from distributed import Client

        self._own = isinstance(scheduler, str)
        self._client = Client(scheduler) if self._own else scheduler

    def submit(self, task: Task):
        return self._client.submit(grade_task, task, pure=False)

    def as_completed(self, futures):
        from distributed import as_completed as dask_as_completed

        return dask_as_completed(futures)

    def close(self, wait: bool = True, cancel: bool = False) -> None:
        if self._own:
            self._client.close()


def _run(runner: Runner, tasks, record) -> list:
    """Run tasks on a runner (which is closed after), calling record(task, payload) or
    record(task, error=...) for each; return the tasks whose worker process died (their pool is gone,
    so they are not recorded here)."""
    crashed = []
    try:
        futures = {runner.submit(task): task for task in tasks}
        for future in runner.as_completed(futures):
            task = futures[future]
            try:
                payload = future.result()
            except BrokenProcessPool:
                crashed.append(task)
                continue
            except Exception as exc:
                record(task, error=f"grading failed: {type(exc).__name__}: {exc}")
                continue
            record(task, payload)
    except BaseException:  # a full disk, Ctrl-C: tasks not started yet are dropped, not run
        runner.close(wait=True, cancel=True)
        raise
    runner.close(wait=True)
    return crashed


def _expected_seconds(previous: dict, student: str, assignment: str) -> float:
    """How long a submission is likely to take: from the last run that graded it, else its assignment's median
    there, else what the assignment's spec expects (0 for an assignment without one). Only an order for the
    queue: longest first, so that the last long notebook does not start when the others are done (a5's take
    three times a4's)."""
    before = previous.get((student, assignment))
    if before is not None and before.seconds:
        return before.seconds
    known = sorted(r.seconds for (_, a), r in previous.items() if a == assignment and r.seconds)
    if known:
        return known[len(known) // 2]
    declared = all_specs().get(assignment)
    return declared.expected_seconds if declared is not None else 0.0


def grade(
    course: Course,
    assignments,
    students=None,
    *,
    jobs: int | None = None,
    scheduler=None,
    limits: Limits | None = None,
    verify: bool = True,
    force: bool = False,
    progress: bool = True,
    log=print,
    allow_unsandboxed: bool = False,
) -> list[StudentResult]:
    """Grade every student (or the given ones) of one assignment, or of several in one pool (a list:
    their submissions share the workers, longest first); returns this run's results."""
    started = time.perf_counter()
    assignments = [assignments] if isinstance(assignments, str) else list(assignments)
    limits = limits or Limits()
    jobs = jobs or os.cpu_count() or 1
    for warning in support().warnings:
        log(f"WARNING: {warning}")
    say_overrides(course.file_config(), limits, log)  # what the instructor wrote, not what Course.config adds
    for assignment in assignments:
        _ensure_assignment_in_gradebook(course, assignment)
    previous = {(r.student, r.assignment): r for r in pipeline.load_results(course)}

    results, todo = [], []
    refused_in, skipped_in = Counter(), Counter()  # per assignment, for the run's figures
    for assignment in assignments:
        for student, refusal in _submissions(course, assignment, students):
            if refusal is None:
                try:
                    data = untrusted.read_regular_file(course.root / "submitted", [student, assignment, f"{assignment}.ipynb"], untrusted.NOTEBOOK_MAX_BYTES)
                except untrusted.RefusedFile as exc:
                    refusal = str(exc)
            if refusal is not None:
                refused = StudentResult(student, assignment, status="error", reason=refusal)
                results.append(refused)
                refused_in[assignment] += 1
                _save(course, [refused])
                continue
            before = previous.get((student, assignment))
            done = before is not None and before.digest == _digest(data) and (before.status != "graded" or before.verified == verify)
            if done and not force:
                skipped_in[assignment] += 1
                continue  # graded (or refused) in an earlier run, and unchanged since
            todo.append((assignment, student, data))
    # Longest first (a stable sort: in the given order where nothing is known).
    todo.sort(key=lambda item: -_expected_seconds(previous, item[1], item[0]))

    # The workers first: they start up (imports, fork servers, the first kernels of the first assignment in
    # the queue) while the first template is made. No more workers than submissions: each one's start-up is
    # about 2 s of CPU. A worker moving on to another assignment starts that one's fork server then.
    runner = None
    if todo:
        runner = DaskRunner(scheduler) if scheduler else LocalRunner(max(1, min(jobs, len(todo))), warm_up=(limits, verify, todo[0][0]))
    # Locally the instructor has been warned above; a cluster's workers are refused without a sandbox
    # unless the instructor says otherwise.
    unsandboxed_ok = allow_unsandboxed or not scheduler
    templates = {}

    def queued():
        """The tasks in queue order, each assignment's template made when its first task is queued: the
        workers start on the first assignment while the next one's template is made."""
        for a, student, data in todo:
            if a not in templates:
                templates[a] = make_template(course, a)
            yield Task(templates[a], student, data, limits, verify, allow_unsandboxed=unsandboxed_ok)

    bar = Progress(len(todo), progress)

    def record(task, payload=None, error=None):
        assignment = task.template.assignment
        start = time.perf_counter()
        try:
            result = merge(course, assignment, payload) if error is None else None
        except Exception as exc:  # one student's failure must not stop the class
            if _is_disk_full(exc):  # not theirs: recorded as their error it would never be graded again
                raise _disk_full(course, exc) from None
            error = f"merging the result failed: {type(exc).__name__}: {exc}"
        if error is not None:
            result = StudentResult(task.student, assignment, status="error", reason=error)
        result.digest = _digest(task.notebook)
        result.timings = {**result.timings, "merge": time.perf_counter() - start}
        _save(course, [result])  # on disk at once: a killed run resumes from here
        results.append(result)
        bar.update(result)

    try:
        with shared_engines():  # one engine for the course's gradebook over every merge of this run
            crashed = _run(runner, queued(), record) if todo else []
        # A worker process that died takes its pool with it: retry those students one at a time.
        for task in crashed:
            if _run(DaskRunner(scheduler) if scheduler else LocalRunner(1), [task], record):
                record(task, error="the grading worker crashed twice on this submission")
    finally:
        bar.close()
    if results:
        _save(course, results)
    # The run's own figures, for the class report (nnfs report).
    runs.record_run(course, assignments, graded=Counter(a for a, _, _ in todo), refused=refused_in,
                    skipped_unchanged=skipped_in, seconds=time.perf_counter() - started,
                    jobs=None if scheduler else min(jobs, len(todo)))
    return results

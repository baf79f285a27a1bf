"""The pieces of grading that do not run student code: release, preflight, scores, status, export.

A broken submission (invalid JSON, duplicated grade cells, a notebook nbgrader cannot grade) gets a
status and a reason; every other student is graded normally. Running the notebooks is the workers'
job (worker.py), in sandboxes; the coordinator (coordinator.py) is the only writer of the course.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from ...files import atomic_write
from .course import Course
from .untrusted import for_csv, for_terminal

INTEGRITY_CELL = "integrity"


@dataclass
class StudentResult:
    student: str
    assignment: str
    status: str = "graded"  # "graded" or "error"
    score: float | None = None
    max_score: float | None = None
    cells: dict = field(default_factory=dict)  # grade_id -> (score, max_score)
    notes: list = field(default_factory=list)  # what the instructor should know
    reason: str = ""  # why status is "error"
    seconds: float = 0.0
    timings: dict = field(default_factory=dict)  # seconds per phase: isolation, startup, execution, feedback, merge, total
    verified: bool = False  # hidden tests judged outside the kernel (nnfs grade without --no-verify)
    isolation: str = ""  # how the worker isolated this student's code: "bwrap" or "none" ("" when not run)
    digest: str = ""  # sha256 of the submitted notebook, so a re-run can skip what is already graded
    # Lateness (autograder/term): computed again from ``score`` (the raw, verified score) at every export,
    # never from a reduced score, so a penalty is never applied twice. ``final_score`` is what counts.
    seconds_late: float = 0.0
    late_penalty: float = 0.0
    # What the checks found, one dict per failure or deduction: {"cell": grade id, "function": the check's name,
    # "id": the stable mistake id (e.g. "softmax.axis0"), "points_lost": float, "message": what the student read}.
    # Only judged outside the kernel (``verified``): with --no-verify the checks judge inside the student's kernel,
    # where nothing but printed text comes back, so the list stays empty (not "no mistakes": unknown).
    mistakes: list = field(default_factory=list)


def final_score(r: StudentResult) -> float | None:
    """The score after the late penalty (never below 0); None where there is no score."""
    if r.score is None:
        return None
    return max(0.0, r.score - (r.late_penalty or 0.0))


# ------------------------------------------------------------------------------------ release


def generate_release(course: Course, assignment: str) -> Path:
    """nbgrader generate_assignment: source/<a> -> release/<a> (and the assignment in the gradebook)."""
    result = course.api().generate_assignment(assignment, force=True, create=True)
    if not result["success"]:
        raise RuntimeError(f"nbgrader generate_assignment {assignment} failed:\n{result.get('error') or result.get('log')}")
    return course.release_notebook(assignment)


# ---------------------------------------------------------------------------------- preflight


def _grade_ids(nb) -> list[str]:
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "grade_id" in c.metadata.get("nbgrader", {})]


def _cell_source(nb, grade_id):
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return cell.source
    return None


def preflight(course: Course, assignment: str, student: str) -> StudentResult:
    """Read the submission before nbgrader does: a clear reason beats a traceback in a log."""
    result = StudentResult(student, assignment)
    path = course.submitted_notebook(student, assignment)
    if not path.is_file():
        result.status, result.reason = "error", f"no {path.name} in the submission folder"
        return result
    text = path.read_bytes().decode("utf-8", errors="replace")
    try:
        json.loads(text)
    except ValueError as exc:
        result.status = "error"
        result.reason = f"{path.name} is not valid JSON ({exc}); the file is truncated or corrupt: ask for a resubmission"
        return result
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # nbformat raises several types for the many ways a notebook is wrong
        result.status = "error"
        result.reason = f"{path.name} is JSON but not a valid notebook: {str(exc).splitlines()[0]}"
        return result

    submitted = _grade_ids(nb)
    duplicated = sorted(g for g, n in Counter(submitted).items() if n > 1)
    if duplicated:
        result.status = "error"
        result.reason = f"graded cells appear more than once ({', '.join(duplicated)}): the student copied them; " \
            "remove the copies and regrade"
        return result

    release = nbformat.read(str(course.release_notebook(assignment)), as_version=4)
    expected = _grade_ids(release)
    missing = [g for g in expected if g not in submitted]
    answers = [g for g in missing if _is_answer_only(release, g)]
    tests = [g for g in missing if g not in answers]
    if tests:
        result.notes.append(f"deleted cells restored from the gradebook and graded: {', '.join(tests)}")
    if answers:
        result.notes.append(f"deleted answer cells put back empty (they score 0): {', '.join(answers)}")
    declared = _cell_source(nb, INTEGRITY_CELL)
    if INTEGRITY_CELL in expected and (declared is None or declared.strip() == _cell_source(release, INTEGRITY_CELL).strip()):
        result.notes.append("integrity declaration left blank")
    return result


def _is_answer_only(nb, grade_id) -> bool:
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade_id") == grade_id:
            return bool(meta.get("solution")) and not meta.get("grade")
    return False


NOTEBOOK_METADATA_KEPT = ("kernelspec", "language_info")
CELL_METADATA_KEPT = ("nbgrader", "deletable", "editable")


def scrub_metadata(nb, release) -> list[str]:
    """Metadata a student controls and a template might render, removed in place; notes of what was.

    nbconvert's templates write some metadata into pages unescaped (cell tags become CSS classes, the
    notebook's title the page title), and nbgrader metadata under a grade id the release does not have
    would show up in formgrader. Kept: the notebook's kernel and language, each cell's nbgrader metadata
    where its grade id is the release's, and the booleans deletable/editable."""
    notes = []
    released = set(_grade_ids(release))
    for key in [k for k in nb.metadata if k not in NOTEBOOK_METADATA_KEPT]:
        del nb.metadata[key]
    foreign = 0
    for cell in nb.cells:
        for key in [k for k in cell.metadata if k not in CELL_METADATA_KEPT]:
            del cell.metadata[key]
        for key in ("deletable", "editable"):
            if key in cell.metadata and not isinstance(cell.metadata[key], bool):
                del cell.metadata[key]
        meta = cell.metadata.get("nbgrader")
        if meta is not None and (not isinstance(meta, dict) or meta.get("grade_id") not in released):
            del cell.metadata["nbgrader"]
            foreign += 1
    if foreign:
        notes.append(f"nbgrader metadata removed from {foreign} cell(s) the release does not have")
    return notes


def restore_answer_cells(course: Course, assignment: str, student: str) -> list[str]:
    """Scrub the submission's metadata (scrub_metadata) and put deleted autograded answer cells back (as
    released: empty), in place; return notes for the instructor.

    nbgrader re-inserts deleted *test* cells after the cell that preceded them in the source; when the
    answer cell before a deleted test cell is gone too, it fails the whole notebook (KeyError), and every
    other answer of the student would be lost. With the answer cell back, the test runs and scores 0.
    """
    path = course.submitted_notebook(student, assignment)
    nb = nbformat.read(str(path), as_version=4)
    release = nbformat.read(str(course.release_notebook(assignment)), as_version=4)
    notes = scrub_metadata(nb, release)
    present = set(_grade_ids(nb))
    released = [c for c in release.cells if "grade_id" in c.metadata.get("nbgrader", {})]
    for i, cell in enumerate(released):
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        if grade_id in present or not _is_answer_only(release, grade_id):
            continue
        before = [c.metadata["nbgrader"]["grade_id"] for c in released[:i] if c.metadata["nbgrader"]["grade_id"] in present]
        position = 0
        if before:
            position = 1 + next(j for j, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == before[-1])
        nb.cells.insert(position, nbformat.from_dict(dict(cell)))
        present.add(grade_id)
    atomic_write(path, nbformat.writes(nb))
    return notes


# ---------------------------------------------------------------------------------- autograde


MANUAL_NOTE = "needs manual grading: "


def _scores_from(submission, result: StudentResult) -> None:
    result.score, result.max_score = float(submission.score), float(submission.max_score)
    result.notes = [n for n in result.notes if not n.startswith(MANUAL_NOTE)]
    for notebook in submission.notebooks:
        for grade in notebook.grades:
            result.cells[grade.name] = (float(grade.score), float(grade.max_score))
        needs_manual = [g.name for g in notebook.grades if g.needs_manual_grade and g.max_score > 0]
        if needs_manual:
            result.notes.append(MANUAL_NOTE + ", ".join(needs_manual))


def _read_scores(course: Course, result: StudentResult) -> None:
    with course.gradebook() as gb:
        _scores_from(gb.find_submission(result.assignment, result.student), result)


def with_gradebook_scores(course: Course, results: list[StudentResult]) -> list[StudentResult]:
    """Graded results with the scores the course gradebook holds now: the verified autograded scores
    the coordinator wrote, plus whatever was graded by hand in formgrader since (manual scores win)."""
    from nbgrader.api import MissingEntry

    if not results or not course.gradebook_path.is_file():
        return results
    with course.gradebook() as gb:
        for result in results:
            if result.status != "graded":
                continue
            try:
                submission = gb.find_submission(result.assignment, result.student)
            except MissingEntry:
                continue
            _scores_from(submission, result)
    return results


# ------------------------------------------------------------------------------------- record

STATUS_FILE = "grading_status.json"


def save_results(course: Course, results: list[StudentResult]) -> list[StudentResult]:
    """Merge this run's results into the course's status file; return every result on record."""
    path = course.root / STATUS_FILE
    record = load_results(course)
    merged = {(r.student, r.assignment): r for r in record}
    merged.update({(r.student, r.assignment): r for r in results})
    everything = sorted(merged.values(), key=lambda r: (r.student, r.assignment))
    atomic_write(path, json.dumps([asdict(r) for r in everything], indent=1))
    return everything


def load_results(course: Course) -> list[StudentResult]:
    path = course.root / STATUS_FILE
    if not path.is_file():
        return []
    try:
        rows = json.loads(path.read_text())
        return [StudentResult(**{**row, "cells": {k: tuple(v) for k, v in row["cells"].items()}}) for row in rows]
    except (ValueError, TypeError, KeyError) as exc:
        raise RuntimeError(f"{path} is corrupt ({exc}); delete it and regrade to rebuild it") from exc


# ------------------------------------------------------------------------------------- export


def write_grades_csv(path: Path, results: list[StudentResult], names: dict | None = None, similar: dict | None = None) -> None:
    """One row per student and assignment, with the status and notes nbgrader's export lacks. ``score`` is
    after any late penalty; ``raw_score`` before it, ``late_penalty`` the points taken off (positive);
    ``similarity`` the cluster of alike submissions the student is in (nnfs similarity), if any."""
    names, similar = names or {}, similar or {}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["student_id", "assignment", "score", "max_score", "status", "notes", "name", "raw_score", "late_penalty", "hours_late", "similarity"])
    for r in sorted(results, key=lambda r: (r.student, r.assignment)):
        final = final_score(r)
        score = "" if final is None else f"{final:g}"
        max_score = "" if r.max_score is None else f"{r.max_score:g}"
        notes = "; ".join(([r.reason] if r.reason else []) + r.notes)
        raw = "" if r.score is None else f"{r.score:g}"
        penalty = f"{r.late_penalty:g}" if r.late_penalty else ""
        late = f"{r.seconds_late / 3600:.2f}" if r.seconds_late else ""
        writer.writerow([for_csv(cell) for cell in (r.student, r.assignment, score, max_score, r.status, notes,
                                                       names.get(r.student, ""), raw, penalty, late,
                                                       similar.get((r.student, r.assignment), ""))])
    atomic_write(path, out.getvalue())


def format_table(results: list[StudentResult], names: dict | None = None, similar: dict | None = None) -> str:
    """A gradebook table: one row per student, one column per assignment (points / max, after any late
    penalty, marked "late"), with the student's name when the roster has one, and a column ``similar``
    naming the assignments where nnfs similarity put the student in a cluster (when any did)."""
    assignments = sorted({r.assignment for r in results})
    students = sorted({r.student for r in results})
    by_key = {(r.student, r.assignment): r for r in results}
    named = bool(names) and any(names.get(s) for s in students)
    flagged = {s: ", ".join(a for a in assignments if (s, a) in (similar or {})) for s in students}
    flags = any(flagged.values())
    header = ["student"] + (["name"] if named else []) + assignments + (["similar"] if flags else []) + ["notes"]
    rows = []
    for s in students:
        row, notes = [s] + ([names.get(s, "")] if named else []), []
        for a in assignments:
            r = by_key.get((s, a))
            if r is None:
                row.append("-")
            elif r.status != "graded":
                row.append("ERROR")
                notes.append(f"{a}: {r.reason}")
            else:
                row.append(f"{final_score(r):g} / {r.max_score:g}" + (" late" if r.seconds_late else ""))
            if r is not None and r.notes:
                notes.append(f"{a}: " + "; ".join(r.notes))
        rows.append(row + ([flagged[s] or "-"] if flags else []) + [" | ".join(notes)])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    widths[-1] = len(header[-1])  # let the notes run on

    def line(cells):
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()

    return for_terminal_lines("\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows]))


def for_terminal_lines(text: str) -> str:
    """Every line of a table escaped for a terminal (untrusted.for_terminal), the line breaks kept."""
    return "\n".join(for_terminal(line) for line in text.split("\n"))

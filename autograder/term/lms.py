"""Grades for a learning management system: Canvas's and Moodle's import files, and a wide CSV.

One row per student (everyone on the roster, and everyone with a result), one column per assignment,
holding the score after any late penalty. A missing submission or one in error is left blank, never 0
(an LMS reads 0 as a grade), unless ``missing_as_zero``. Every cell goes through untrusted.for_csv.

Canvas: the layout of Canvas's own gradebook export, which its import reads back (Canvas Instructor
Guide, "How do I import grades in the Gradebook?",
https://community.canvaslms.com/t5/Instructor-Guide/How-do-I-import-grades-in-the-Gradebook/ta-p/807, and
"How do I export grades in the Gradebook?", .../ta-p/809): the columns ``Student`` ("Last, First"),
``ID`` (Canvas's user id), ``SIS User ID``, ``SIS Login ID``, ``Section``, then one column per assignment
named ``Name (Canvas assignment id)``; the second row is ``Points Possible``. A column without an id
creates a new assignment when imported, so an assignment whose Canvas id is not in term.json
(``canvas_assignment_ids``) is written by name alone. Canvas matches students by ``ID`` where it is
given (it is, for a roster imported from Canvas's export) and otherwise by the SIS ids; a student from a
plain roster is written with their id as the SIS Login ID (assumed: the JupyterHub login is the SIS login).

Moodle: the user columns of Moodle's own grade export (``First name, Last name, ID number, Institution,
Department, Email address``; https://docs.moodle.org/en/Grade_export), then one column per assignment
named after it. Moodle's CSV grade import (https://docs.moodle.org/en/Grade_import) asks which column
identifies the user (choose "Email address" or "ID number") and maps each assignment column to a grade
item or a new one.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..files import atomic_write
from ..grading.orchestration.pipeline import StudentResult, final_score
from ..grading.orchestration.untrusted import for_csv
from . import store

CANVAS_USER_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
CANVAS_POINTS_ROW = "    Points Possible"  # as Canvas writes it, indented
MOODLE_USER_COLUMNS = ["First name", "Last name", "ID number", "Institution", "Department", "Email address"]


def _score(r: StudentResult | None, missing_as_zero: bool) -> str:
    if r is None or r.status != "graded" or r.score is None:
        return "0" if missing_as_zero else ""
    return f"{final_score(r):g}"


def _students(results, roster: dict) -> list[str]:
    return sorted(set(roster) | {r.student for r in results})


def _max_points(results, assignment: str, course=None) -> str:
    found = [r.max_score for r in results if r.assignment == assignment and r.max_score is not None]
    if found:
        return f"{max(found):g}"
    if course is not None and course.gradebook_path.is_file():
        with course.gradebook() as gb:
            try:
                return f"{gb.find_assignment(assignment).max_score:g}"
            except Exception:
                return ""
    return ""


def _write(path: Path, rows: list[list]) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        writer.writerow([for_csv(cell) for cell in row])
    atomic_write(Path(path), out.getvalue())


def canvas_rows(results: list[StudentResult], assignments: list[str], term: dict, missing_as_zero=False, course=None) -> list[list]:
    ids = term.get("canvas_assignment_ids", {})
    header = CANVAS_USER_COLUMNS + [f"{a} ({ids[a]})" if ids.get(a) else a for a in assignments]
    points = [CANVAS_POINTS_ROW, "", "", "", ""] + [_max_points(results, a, course) for a in assignments]
    by_key = {(r.student, r.assignment): r for r in results}
    rows = [header, points]
    for sid in _students(results, term["roster"]):
        entry = term["roster"].get(sid, {})
        last, first = entry.get("last_name", ""), entry.get("first_name", "")
        name = f"{last}, {first}" if last and first else (last or first or sid)
        sis_login = entry.get("sis_login_id") or ("" if entry.get("sis_user_id") else sid)
        rows.append([name, entry.get("lms_user_id", ""), entry.get("sis_user_id", ""), sis_login, entry.get("section", "")]
                    + [_score(by_key.get((sid, a)), missing_as_zero) for a in assignments])
    return rows


def moodle_rows(results, assignments, term: dict, missing_as_zero=False) -> list[list]:
    by_key = {(r.student, r.assignment): r for r in results}
    rows = [MOODLE_USER_COLUMNS + list(assignments)]
    for sid in _students(results, term["roster"]):
        entry = term["roster"].get(sid, {})
        rows.append([entry.get("first_name", ""), entry.get("last_name", ""), entry.get("lms_user_id", "") or sid, "",
                     entry.get("section", ""), entry.get("email", "")]
                    + [_score(by_key.get((sid, a)), missing_as_zero) for a in assignments])
    return rows


def wide_rows(results, assignments, term: dict, missing_as_zero=False) -> list[list]:
    by_key = {(r.student, r.assignment): r for r in results}
    header = ["student_id", "first_name", "last_name", "email", "section", "on_roster"]
    for a in assignments:
        header += [a, f"{a}_max", f"{a}_raw", f"{a}_late_penalty", f"{a}_hours_late", f"{a}_status"]
    header += ["total", "total_max"]
    rows = [header]
    for sid in _students(results, term["roster"]):
        entry = term["roster"].get(sid)
        row = [sid, *(((entry or {}).get(k, "")) for k in ("first_name", "last_name", "email", "section")),
               "yes" if entry is not None else "no"]
        total = total_max = 0.0
        for a in assignments:
            r = by_key.get((sid, a))
            score = _score(r, missing_as_zero)
            graded = r is not None and r.status == "graded" and r.score is not None
            row += [score, "" if r is None or r.max_score is None else f"{r.max_score:g}",
                    f"{r.score:g}" if graded else "", f"{r.late_penalty:g}" if graded and r.late_penalty else "",
                    f"{r.seconds_late / 3600:.2f}" if graded and r.seconds_late else "",
                    "missing" if r is None else r.status]
            total += float(score) if score else 0.0
            total_max += r.max_score if r is not None and r.max_score is not None else 0.0
        rows.append(row + [f"{total:g}", f"{total_max:g}"])
    return rows


def export(course, results, assignments, canvas=None, moodle=None, wide=None, missing_as_zero=False) -> list[Path]:
    term = store.load(course)
    written = []
    if canvas:
        _write(canvas, canvas_rows(results, assignments, term, missing_as_zero, course))
        written.append(Path(canvas))
    if moodle:
        _write(moodle, moodle_rows(results, assignments, term, missing_as_zero))
        written.append(Path(moodle))
    if wide:
        _write(wide, wide_rows(results, assignments, term, missing_as_zero))
        written.append(Path(wide))
    return written

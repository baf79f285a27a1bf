"""The roster: students imported from a CSV, their names in the gradebook (formgrader shows them there).

``nnfs roster import FILE --format canvas|moodle|plain`` reads one of three layouts:

- ``plain``: a header ``id,first_name,last_name,email,section`` (nbgrader's own ``nbgrader db student
  import`` columns plus ``section``; ``email``, ``section`` and ``lms_user_id`` may be left out).
- ``canvas``: Canvas's gradebook export (Grades -> Export -> Export Entire Gradebook), whose first columns
  are ``Student,ID,SIS User ID,SIS Login ID,Section`` with the name as "Last, First", followed by a
  "Points Possible" row and one column per assignment (Canvas Instructor Guide, "How do I export grades
  in the Gradebook?", https://community.canvaslms.com/t5/Instructor-Guide/How-do-I-export-grades-in-the-Gradebook/ta-p/809).
  The student id is the SIS Login ID (what a JupyterHub login usually is), else the SIS User ID; Canvas's
  own numeric ID is kept as ``lms_user_id`` for the Canvas export. The Canvas export has no email.
- ``moodle``: Moodle's gradebook export as a plain text file (Grades -> Export -> Plain text file;
  https://docs.moodle.org/en/Grade_export), whose user columns are ``First name,Last name,ID number,
  Institution,Department,Email address`` (older Moodles write ``Surname``); or a participants list with
  ``Username`` and ``Groups``. The id is the Username where there is one, else the ID number, else the
  email address. ``Groups`` (or ``Department``) is the section.

``--id-column NAME`` picks another column as the id. Everything in the file is untrusted: an id must be
a valid student id (untrusted.is_valid_student_id) or its row is refused; names are kept as written and
escaped where they are shown (for_terminal, for_csv; formgrader and feedback pages escape HTML).

Importing again updates names, emails and sections and adds new students; a student missing from the
new file stays (with every grade): nothing is ever deleted. A student who submits without being on the
roster is graded as usual and flagged "not on the roster".
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from ..grading.orchestration.untrusted import describe, is_valid_student_id
from . import store

FIELDS = ("first_name", "last_name", "email", "section", "lms_user_id", "sis_user_id", "sis_login_id")
MAX_TEXT = 128  # the gradebook's String(128) columns
MAX_FILE_BYTES = 20 * 1024 * 1024


@dataclass
class Report:
    added: list = field(default_factory=list)
    renamed: list = field(default_factory=list)  # (id, old name, new name)
    updated: list = field(default_factory=list)
    unchanged: int = 0
    kept: list = field(default_factory=list)  # on the roster before, not in this file: kept
    refused: list = field(default_factory=list)  # (row number, why)

    def lines(self) -> list[str]:
        out = [f"roster: {len(self.added)} added, {len(self.renamed)} renamed, {len(self.updated)} updated otherwise, {self.unchanged} unchanged"]
        out += [f"  renamed {i}: {old or '(no name)'} -> {new}" for i, old, new in self.renamed]
        if self.kept:
            out.append(f"  {len(self.kept)} student(s) on the roster but not in this file are kept, with their grades: {', '.join(self.kept[:10])}"
                       + (" ..." if len(self.kept) > 10 else ""))
        out += [f"  row {n} refused: {why}" for n, why in self.refused]
        return out


def _column(header: list[str], *names: str) -> str | None:
    lowered = {h.strip().lower(): h for h in header}
    for name in names:
        if name.lower() in lowered:
            return lowered[name.lower()]
    return None


def _clean(value) -> str:
    text = "" if value is None else str(value).strip()
    return text[:MAX_TEXT]


def parse(text: str, fmt: str = "plain", id_column: str | None = None) -> tuple[list[dict], list]:
    """Rows of a roster file -> ([{id, first_name, ...}], [(row number, why refused)])."""
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    refused = []

    def need(*names):
        col = _column(header, *names)
        if col is None:
            raise SystemExit(f"the {fmt} roster needs a column {names[0]!r}; its header is: {', '.join(describe(h) for h in header)}")
        return col

    if fmt == "plain":
        cols = {"id": need("id", "student_id"), "first_name": need("first_name", "first name"), "last_name": need("last_name", "last name"),
                "email": _column(header, "email"), "section": _column(header, "section"), "lms_user_id": _column(header, "lms_user_id")}
    elif fmt == "canvas":
        cols = {"student": need("Student"), "canvas_id": need("ID"), "sis_user_id": need("SIS User ID"),
                "sis_login_id": need("SIS Login ID"), "section": _column(header, "Section")}
    elif fmt == "moodle":
        cols = {"first_name": need("First name"), "last_name": need("Last name", "Surname"), "email": _column(header, "Email address"),
                "idnumber": _column(header, "ID number"), "username": _column(header, "Username"),
                "section": _column(header, "Groups", "Group", "Department")}
    else:
        raise SystemExit(f"unknown roster format {fmt!r}: canvas, moodle or plain")
    if id_column is not None:
        cols["chosen"] = need(id_column)

    rows = []
    for number, raw in enumerate(reader, start=2):
        def get(key):
            col = cols.get(key)
            return _clean(raw.get(col)) if col else ""

        if fmt == "plain":
            row = {"id": get("id"), "first_name": get("first_name"), "last_name": get("last_name"), "email": get("email"),
                   "section": get("section"), "lms_user_id": get("lms_user_id")}
        elif fmt == "canvas":
            name = get("student")
            if name.lower() in ("points possible", "") or name.lower() == "student, test":
                continue  # Canvas's second row, and its Test Student
            last, _, first = name.partition(",")
            row = {"id": get("sis_login_id") or get("sis_user_id"), "first_name": first.strip(), "last_name": last.strip(),
                   "email": "", "section": get("section"), "lms_user_id": get("canvas_id"), "sis_user_id": get("sis_user_id"),
                   "sis_login_id": get("sis_login_id")}
        else:
            row = {"id": get("username") or get("idnumber") or get("email"), "first_name": get("first_name"),
                   "last_name": get("last_name"), "email": get("email"), "section": get("section"), "lms_user_id": get("idnumber")}
        if id_column is not None:
            row["id"] = get("chosen")
        if not is_valid_student_id(row["id"]):
            refused.append((number, f"the id {describe(row['id'])} is not a valid student id (letters, digits, '.', '_', '-', '@', "
                                    "at most 64, starting with a letter or digit)"))
            continue
        rows.append(row)
    return rows, refused


def read_file(path: Path) -> str:
    data = Path(path).read_bytes()
    if len(data) > MAX_FILE_BYTES:
        raise SystemExit(f"{path} is over {MAX_FILE_BYTES // 2**20} MB: is it a roster?")
    return data.decode("utf-8-sig", errors="replace")  # Excel writes a byte-order mark


def import_rows(course, rows: list[dict], refused=()) -> Report:
    """Merge rows into term.json's roster and the gradebook's students; nothing is removed."""
    report = Report(refused=list(refused))
    term = store.load(course)
    roster = term["roster"]
    seen = set()
    with course.gradebook() as gb:
        for row in rows:
            sid = row["id"]
            if sid in seen:
                report.refused.append(("-", f"{sid} appears more than once: the last row is used"))
            seen.add(sid)
            entry = {k: row.get(k, "") for k in FIELDS}
            before = roster.get(sid)
            if before is None:
                report.added.append(sid)
            else:
                merged = {**before, **{k: v for k, v in entry.items() if v or k in ("first_name", "last_name")}}
                old_name, new_name = display_name(before), display_name(merged)
                if old_name != new_name:
                    report.renamed.append((sid, old_name, new_name))
                elif merged != before:
                    report.updated.append(sid)
                else:
                    report.unchanged += 1
                entry = merged
            roster[sid] = entry
            gb.update_or_create_student(sid, first_name=entry["first_name"] or None, last_name=entry["last_name"] or None,
                                        email=entry.get("email") or None, lms_user_id=entry.get("lms_user_id") or None)
    report.kept = sorted(set(roster) - seen)
    store.save(course, term)
    return report


def import_file(course, path: Path, fmt: str = "plain", id_column: str | None = None) -> Report:
    rows, refused = parse(read_file(path), fmt, id_column)
    return import_rows(course, rows, refused)


def display_name(entry: dict | None) -> str:
    if not entry:
        return ""
    first, last = (entry.get("first_name") or "").strip(), (entry.get("last_name") or "").strip()
    if first and last:
        return f"{last}, {first}"
    return first or last


def names(course, term: dict | None = None) -> dict:
    """{student id: "Last, First"} from the roster, else from the gradebook (students added with
    `nbgrader db student add`)."""
    term = term if term is not None else store.load(course)
    found = {}
    if course.gradebook_path.is_file():
        with course.gradebook() as gb:
            for s in gb.students:
                name = display_name({"first_name": s.first_name, "last_name": s.last_name})
                if name:
                    found[s.id] = name
    for sid, entry in term["roster"].items():
        name = display_name(entry)
        if name:
            found[sid] = name
    return found


NOT_ON_ROSTER = "not on the roster"

"""The audit trail: every score change, appended to ``audit.jsonl`` (one JSON object per line, fsync'd).

Each line: ``time`` (UTC, ISO 8601), ``by`` (the OS user, or ``--by``), ``kind`` (autograde, manual,
override, late_penalty, extension, due_date), ``student``, ``assignment``, ``cell``, ``field`` (auto,
manual, late_penalty, extension, due_date), ``old``, ``new`` and ``reason``.

Only the coordinator and the ``nnfs`` commands write it, and only by appending. Changes made in
formgrader are not reported by a hook: ``sync`` compares the gradebook's ``auto_score`` and
``manual_score`` of every cell with the last value the log recorded for it, and appends what differs
(``kind: manual`` for a manual score nobody recorded: formgrader's). The last recorded values are
rebuilt from the log itself; a process keeps them and reads only lines appended since.
"""

from __future__ import annotations

import datetime
import fcntl
import getpass
import json
import os
from pathlib import Path

from ..grading.orchestration.untrusted import for_terminal

AUDIT_FILE = "audit.jsonl"

_actor: str | None = None


def set_actor(name: str | None) -> None:
    """Who the entries of this process are by (``--by``); the OS user when not given."""
    global _actor
    _actor = name


def actor() -> str:
    if _actor:
        return _actor
    try:
        return getpass.getuser()
    except Exception:  # no user name in a container, say
        return f"uid {os.getuid()}"


def path(course) -> Path:
    return course.root / AUDIT_FILE


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


# (file, inode) -> (offset read up to, {(student, assignment, cell, field): last value})
_STATE: dict = {}


def _key(entry: dict) -> tuple:
    return (entry.get("student"), entry.get("assignment"), entry.get("cell"), entry.get("field"))


def last_values(course) -> dict:
    """{(student, assignment, cell, field): the last new value recorded}, read incrementally."""
    p = path(course)
    try:
        info = p.stat()
    except FileNotFoundError:
        return {}
    cache_key = (str(p), info.st_ino)
    offset, state = _STATE.get(cache_key, (0, {}))
    if info.st_size < offset:  # replaced by a shorter file: read it again
        offset, state = 0, {}
    with p.open("rb") as f:
        f.seek(offset)
        for line in f:
            if not line.endswith(b"\n"):
                break  # half a line (a crash while writing): read again next time
            offset += len(line)
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                state[_key(entry)] = entry.get("new")
    _STATE[cache_key] = (offset, state)
    return state


def append(course, entries: list[dict]) -> None:
    """Append entries (each gets time and by, where missing) and fsync; locked against another nnfs."""
    if not entries:
        return
    stamp, who = now(), actor()
    lines = []
    for entry in entries:
        full = {"time": stamp, "by": who, "kind": "", "student": "", "assignment": "", "cell": "", "field": "",
                "old": None, "new": None, "reason": ""}
        full.update(entry)
        lines.append(json.dumps(full, sort_keys=False) + "\n")
    data = "".join(lines).encode()
    fd = os.open(path(course), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        written = 0
        while written < len(data):
            written += os.write(fd, data[written:])
        os.fsync(fd)
    finally:
        os.close(fd)


def _num(value):
    return None if value is None else float(value)


def submission_changes(submission, previous: dict, kind_auto: str, reason_auto: str) -> list[dict]:
    """Entries for one gradebook submission's cells whose auto or manual score differs from the log."""
    entries = []
    student, assignment = submission.student.id, submission.assignment.name
    for notebook in submission.notebooks:
        for grade in notebook.grades:
            for field, value in (("auto", _num(grade.auto_score)), ("manual", _num(grade.manual_score))):
                old = previous.get((student, assignment, grade.name, field))
                if old == value or (old is None and value is None):
                    continue
                if field == "auto":
                    kind, reason = kind_auto, reason_auto
                else:
                    kind, reason = "manual", "graded by hand (formgrader), seen in the gradebook"
                entries.append({"kind": kind, "student": student, "assignment": assignment, "cell": grade.name,
                                "field": field, "old": old, "new": value, "reason": reason})
    return entries


def record_submission(course, submission, reason: str = "autograded by nnfs grade") -> None:
    """Log what changed in one submission (called by the coordinator after it wrote the verified scores)."""
    append(course, submission_changes(submission, last_values(course), "autograde", reason))


def sync(course, gb=None, reason: str = "changed in the gradebook outside nnfs") -> int:
    """Log every cell of the gradebook whose scores differ from the log (manual grades given in
    formgrader, above all); return how many entries were appended."""
    if gb is None:
        if not course.gradebook_path.is_file():
            return 0
        with course.gradebook() as opened:
            return sync(course, opened, reason)
    previous = last_values(course)
    entries = []
    for assignment in gb.assignments:
        for submission in assignment.submissions:
            entries += submission_changes(submission, previous, "autograde", reason)
    append(course, entries)
    return len(entries)


def record_value(course, kind: str, student: str, assignment: str, cell: str, field: str, new, reason: str) -> bool:
    """Log one value (a penalty, an extension, a due date, an override) if it differs from the last one."""
    old = last_values(course).get((student, assignment, cell, field))
    if old == new or (old in (None, 0) and new in (None, 0)):  # no penalty and a penalty of 0 are the same
        return False
    append(course, [{"kind": kind, "student": student, "assignment": assignment, "cell": cell, "field": field,
                     "old": old, "new": new, "reason": reason}])
    return True


def entries(course, student: str | None = None, assignment: str | None = None) -> list[dict]:
    p = path(course)
    if not p.is_file():
        return []
    found = []
    with p.open("rb") as f:
        for line in f:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if not isinstance(entry, dict):
                continue
            if student is not None and entry.get("student") not in (student, "*"):
                continue
            if assignment is not None and entry.get("assignment") != assignment:
                continue
            found.append(entry)
    return found


def _show(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def format_history(items: list[dict]) -> str:
    """One line per entry, escaped for a terminal (names, reasons and cells may be anyone's text)."""
    if not items:
        return "no recorded changes"
    lines = []
    for e in items:
        where = "/".join(str(x) for x in (e.get("assignment"), e.get("cell")) if x)
        lines.append(f"{e.get('time', '')}  {e.get('by', '')}  {e.get('kind', '')}  {e.get('student', '')}  {where}  "
                     f"{e.get('field', '')}: {_show(e.get('old'))} -> {_show(e.get('new'))}  ({e.get('reason', '')})")
    return "\n".join(for_terminal(line) for line in lines)

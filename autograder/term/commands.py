"""The term's commands on ``nnfs``: roster import, due, extend, override, history."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ..grading.orchestration.untrusted import for_terminal, is_valid_student_id
from . import audit, deadlines, roster, store


def _tz(term: dict, given: str | None) -> str:
    return given or term.get("timezone") or "UTC"


def cmd_roster(course, args) -> None:
    report = roster.import_file(course, Path(args.file), args.format, args.id_column)
    for line in report.lines():
        print(for_terminal(line))


def set_due(course, assignment: str, when: str, tz_name: str | None = None) -> dt.datetime:
    term = store.load(course)
    tz_name = _tz(term, tz_name)
    due = deadlines.parse_local(when, tz_name)
    with course.gradebook() as gb:
        try:
            old = gb.find_assignment(assignment).duedate
        except Exception:
            old = None
        gb.update_or_create_assignment(assignment, duedate=deadlines.as_naive_utc(due))
    term["due"][assignment] = {"local": when.strip(), "tz": tz_name, "utc": due.isoformat()}
    store.save(course, term)
    audit.record_value(course, "due_date", "*", assignment, "", "due_date", due.isoformat(),
                       f"due {deadlines.show(due, tz_name)}" + (f" (was {old.isoformat()} UTC)" if old else ""))
    return due


def cmd_due(course, args) -> None:
    due = set_due(course, args.assignment, args.date, args.tz)
    tz_name = store.load(course)["due"][args.assignment]["tz"]
    print(f"{args.assignment} is due {deadlines.show(due, tz_name)} ({deadlines.show(due)})")


def _due_utc(course, assignment: str) -> dt.datetime | None:
    with course.gradebook() as gb:
        try:
            due = gb.find_assignment(assignment).duedate
        except Exception:
            return None
    return None if due is None else due.replace(tzinfo=dt.timezone.utc)


def extend(course, student: str, assignment: str, hours: float | None = None, until: str | None = None, tz_name: str | None = None,
           reason: str = "") -> dt.datetime:
    """Give an extension (replacing any earlier one); return the new deadline (UTC)."""
    if not is_valid_student_id(student):
        raise SystemExit(f"{student!r} is not a valid student id")
    term = store.load(course)
    due = _due_utc(course, assignment)
    if due is None:
        raise SystemExit(f"{assignment} has no due date: set one first (nnfs due {assignment} \"YYYY-MM-DD HH:MM\" --tz ZONE)")
    if (hours is None) == (until is None):
        raise SystemExit("give either --hours N or --until DATE")
    if hours is not None:
        if hours < 0:
            raise SystemExit("--hours must be 0 or more")
        ext = {"hours": float(hours)}
    else:
        tz_name = tz_name or term["due"].get(assignment, {}).get("tz") or _tz(term, None)
        moment = deadlines.parse_local(until, tz_name)
        ext = {"until_utc": moment.isoformat(), "local": until.strip(), "tz": tz_name}
    delta = deadlines.extension_delta(ext, due)
    term["extensions"].setdefault(assignment, {})[student] = ext
    store.save(course, term)
    with course.gradebook() as gb:
        from nbgrader.api import MissingEntry

        try:
            submission = gb.find_submission(assignment, student)
            submission.extension = delta
            gb.db.commit()
        except MissingEntry:
            pass  # not submitted yet: copied onto the submission when it is graded
    deadline = due + delta
    audit.record_value(course, "extension", student, assignment, "", "extension", deadline.isoformat(),
                       reason or f"extended to {deadlines.show(deadline, term['due'].get(assignment, {}).get('tz', 'UTC'))}")
    return deadline


def cmd_extend(course, args) -> None:
    deadline = extend(course, args.student, args.assignment, args.hours, args.until, args.tz, args.reason or "")
    tz_name = store.load(course)["due"].get(args.assignment, {}).get("tz", "UTC")
    print(for_terminal(f"{args.student} may submit {args.assignment} until {deadlines.show(deadline, tz_name)}; "
                       "run nnfs export to apply it to a submission already graded (the table, grades.csv and the feedback page)"))


def override(course, student: str, assignment: str, cell: str, score: float, reason: str) -> tuple:
    """Set a cell's manual score (nbgrader's: it wins over the autograded one); return (old, new)."""
    if not reason.strip():
        raise SystemExit("say why: --reason TEXT")
    from nbgrader.api import MissingEntry

    with course.gradebook() as gb:
        audit.sync(course, gb)  # whatever formgrader changed before, logged as such first
        try:
            submission = gb.find_submission(assignment, student)
        except MissingEntry:
            raise SystemExit(f"no graded submission of {assignment} by {student}") from None
        grades = {g.name: g for nb in submission.notebooks for g in nb.grades}
        if cell not in grades:
            raise SystemExit(f"{assignment} has no graded cell {cell!r}; its cells: {', '.join(sorted(grades))}")
        grade = grades[cell]
        if not 0 <= score <= grade.max_score:
            raise SystemExit(f"{cell} is worth {grade.max_score:g} points: give a score from 0 to {grade.max_score:g}")
        old = None if grade.score is None else float(grade.score)
        previous_manual = audit.last_values(course).get((student, assignment, cell, "manual"))
        grade.manual_score = float(score)
        grade.needs_manual_grade = False
        gb.db.commit()
    audit.append(course, [{"kind": "override", "student": student, "assignment": assignment, "cell": cell, "field": "manual",
                           "old": previous_manual, "new": float(score), "reason": f"{reason} (cell score was {old if old is None else f'{old:g}'})"}])
    return old, float(score)


def cmd_override(course, args) -> None:
    old, new = override(course, args.student, args.assignment, args.cell, args.score, args.reason or "")
    print(for_terminal(f"{args.student} {args.assignment}/{args.cell}: {'-' if old is None else f'{old:g}'} -> {new:g}; "
                       "run nnfs export to update grades.csv and the exports"))


def cmd_history(course, args) -> None:
    audit.sync(course)  # a grade changed in formgrader shows up here too
    print(audit.format_history(audit.entries(course, args.student, args.assignment)))


def cmd_exchange(course, args) -> None:
    from . import exchange

    for line in exchange.init(course, args.root, args.config_dir):
        print(for_terminal(line))


def add_parsers(sub, add) -> None:
    """``add(name, fn, help)`` makes a sub-parser (cli.py's)."""
    p = add("roster", cmd_roster, "import students (id, names, email, section) from a Canvas, Moodle or plain CSV")
    p.add_argument("action", choices=["import"])
    p.add_argument("file", help="the CSV file")
    p.add_argument("--format", choices=["canvas", "moodle", "plain"], default="plain", help="the file's layout (default: plain)")
    p.add_argument("--id-column", help="the column holding the student id (default: the format's)")
    p = add("due", cmd_due, "set an assignment's due date")
    p.add_argument("assignment")
    p.add_argument("date", help='"YYYY-MM-DD HH:MM", wall time in --tz')
    p.add_argument("--tz", help="IANA time zone, e.g. Europe/London (default: term.json's timezone, else UTC)")
    p = add("extend", cmd_extend, "give a student an extension on an assignment")
    p.add_argument("student")
    p.add_argument("assignment")
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--hours", type=float, help="hours after the due date")
    when.add_argument("--until", help='a new deadline, "YYYY-MM-DD HH:MM" in --tz')
    p.add_argument("--tz", help="time zone of --until (default: the due date's zone)")
    p.add_argument("--reason", help="recorded in the audit trail")
    p = add("override", cmd_override, "set a cell's score by hand, with a reason (recorded in the audit trail)")
    p.add_argument("student")
    p.add_argument("assignment")
    p.add_argument("cell", help="the graded cell's grade id")
    p.add_argument("score", type=float)
    p.add_argument("--reason", required=True)
    p = add("exchange", cmd_exchange, "make nbgrader's exchange folder (mode 1777) where formgrader and students' nbgrader find it")
    p.add_argument("action", choices=["init"])
    p.add_argument("--root", help="use this folder instead of the one nbgrader's config names (default: nbgrader's, "
                                  "/usr/local/share/nbgrader/exchange); written into --config-dir's nbgrader_config.py")
    p.add_argument("--config-dir", help="with --root: a folder of `jupyter --paths` that every user reads (default: /etc/jupyter; "
                                        "~/.jupyter where you are the only user)")
    p = add("history", cmd_history, "every recorded score change of a student")
    p.add_argument("student")
    p.add_argument("assignment", nargs="?")

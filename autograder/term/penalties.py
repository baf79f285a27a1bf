"""Late penalties on the verified scores, and the roster flag, applied at every export.

``apply(course, results)`` runs after the results have the gradebook's scores (pipeline.with_gradebook_scores):
for each graded submission it works out the lateness from the gradebook (nbgrader's ``timestamp``,
``duedate`` and ``extension``), the penalty per notebook from the raw score with the configured
``LatePenalty``, and writes the penalty where nbgrader keeps it (``SubmittedNotebook.late_submission_penalty``:
formgrader and ``nbgrader generate_feedback`` show it). The result keeps the raw score in ``score`` and
the penalty in ``late_penalty``; nothing is ever subtracted from a stored score, so running it again gives
the same numbers. Changes of a penalty are logged in the audit trail.

The student's feedback page (``feedback/<student>/<assignment>/<assignment>.html``) gets a notice with the
same numbers (how late, the deadline, the policy, the score before and after), replacing the one an earlier
run put there: an extension or a manual grade given after grading reaches the page at the next ``nnfs
export``, without running the notebook again.
"""

from __future__ import annotations

import datetime as dt

from ..grading.orchestration.feedback import late_notice, with_late_notice
from ..grading.orchestration import untrusted
from ..files import atomic_write
from ..grading.orchestration.pipeline import StudentResult, final_score
from . import audit, deadlines, roster, store

LATE_NOTE = "late "
TIME_NOTE = "submission time "
FLAG_NOTES = (LATE_NOTE, TIME_NOTE, roster.NOT_ON_ROSTER)


def sync_due_dates(course, gb, term: dict) -> None:
    """A due date set with `nnfs due` and missing from the gradebook (a new gradebook) is put back."""
    for name, due in term["due"].items():
        try:
            assignment = gb.find_assignment(name)
        except Exception:
            continue
        if assignment.duedate is None and due.get("utc"):
            assignment.duedate = deadlines.as_naive_utc(deadlines.from_iso(due["utc"]))


def apply(course, results: list[StudentResult]) -> list[StudentResult]:
    from nbgrader.api import MissingEntry

    term = store.load(course)
    policy = deadlines.policy(course)
    on_roster = set(term["roster"])
    if not course.gradebook_path.is_file():
        return results
    with course.gradebook() as gb:
        audit.sync(course, gb)  # manual grades given in formgrader since the last command
        sync_due_dates(course, gb, term)
        for r in results:
            r.notes = [n for n in r.notes if not n.startswith(FLAG_NOTES)]
            if on_roster and r.student not in on_roster and not r.student.startswith("invalid-id-"):
                r.notes.append(f"{roster.NOT_ON_ROSTER}: graded as usual; add them with nnfs roster import")
            r.seconds_late, r.late_penalty = 0.0, 0.0
            if r.status != "graded":
                continue
            try:
                submission = gb.find_submission(r.assignment, r.student)
            except MissingEntry:
                continue
            due = submission.assignment.duedate
            tz_name = term["due"].get(r.assignment, {}).get("tz", "UTC")
            stamp = _timestamp_file(course, r.student, r.assignment)
            if stamp is not None:  # read again with its zone (deadlines.read_timestamp says why)
                moment, problem = deadlines.read_timestamp(stamp, tz_name)
                if problem:
                    r.notes.append(problem)
                if moment is not None and submission.timestamp != deadlines.as_naive_utc(moment):
                    submission.timestamp = deadlines.as_naive_utc(moment)
            ext = deadlines.extension_delta(term["extensions"].get(r.assignment, {}).get(r.student),
                                            None if due is None else due.replace(tzinfo=dt.timezone.utc))
            if submission.extension != ext and (ext is not None or submission.extension is not None):
                submission.extension = ext
            late = deadlines.seconds_late(submission.timestamp, due, ext)
            total = 0.0
            for notebook in submission.notebooks:
                penalty = deadlines.clamp(policy.late_submission_penalty(r.student, notebook.score, late), notebook.score) if late else 0.0
                stored = penalty if penalty else None
                if notebook.late_submission_penalty != stored:
                    notebook.late_submission_penalty = stored
                total += penalty
            r.seconds_late, r.late_penalty = late, total
            _update_feedback(course, r, policy, submission.timestamp, None if due is None else due + (ext or dt.timedelta(0)), ext is not None, tz_name)
            if late:
                r.notes.append(f"{LATE_NOTE}{deadlines.describe_lateness(late)}: -{total:g} point(s) ({policy.describe()}), "
                               f"{r.score:g} before the penalty")
            audit.record_value(course, "late_penalty", r.student, r.assignment, "", "late_penalty", total,
                               f"{deadlines.describe_lateness(late)} late; {policy.describe()}" if late else "on time")
        gb.db.commit()
    return results


def _update_feedback(course, r: StudentResult, policy, submitted, deadline, extended: bool, tz_name: str) -> None:
    """The late notice on the student's feedback page: put in, replaced, or taken out (on time now)."""
    page_path = course.feedback_html(r.student, r.assignment)
    if not page_path.is_file():
        return
    notice = ""
    if r.seconds_late:
        notice = late_notice(
            lateness=deadlines.describe_lateness(r.seconds_late), submitted=deadlines.show(submitted, tz_name),
            deadline=deadlines.show(deadline, tz_name), extended=extended, policy=policy.describe(),
            raw_score=r.score or 0.0, penalty=r.late_penalty, final_score=final_score(r) or 0.0, max_score=r.max_score or 0.0,
        )
    page = page_path.read_text(encoding="utf-8", errors="replace")
    updated = with_late_notice(page, notice)
    if updated != page:
        atomic_write(page_path, updated)


def _timestamp_file(course, student: str, assignment: str) -> str | None:
    """submitted/<student>/<assignment>/timestamp.txt, read as untrusted data (no links, bounded), or None."""
    try:
        data = untrusted.read_regular_file(course.root / "submitted", [student, assignment, "timestamp.txt"], untrusted.SMALL_FILE_MAX_BYTES)
    except untrusted.RefusedFile:
        return None
    return data.decode("utf-8", errors="replace")

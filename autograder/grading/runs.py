"""The grading runs' own figures: per assignment, what its last `nnfs grade` did and how long it took.

Kept beside grading_status.json in a file of its own (grading_runs.json), so the status file keeps its shape
(a list of results) and older courses without this file still load. Written by the coordinator at the end
of each run, atomically; read by the class report (autograder/reports/class_report.py).
"""

from __future__ import annotations

import datetime as dt
import json

from .course import Course
from .pipeline import _atomic_write

RUNS_FILE = "grading_runs.json"


def last_runs(course: Course) -> dict:
    """{assignment: summary of its last run}; {} when there is no file or it cannot be read (the figures
    are a convenience: a damaged file must not stop grading or a report)."""
    path = course.root / RUNS_FILE
    try:
        runs = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in runs.items() if isinstance(v, dict)} if isinstance(runs, dict) else {}


def record_run(course: Course, assignment: str, *, graded: int, refused: int, skipped_unchanged: int, seconds: float, jobs: int | None) -> None:
    """This run of one assignment, replacing its previous one: notebooks run, submissions refused before
    running (not a notebook, a link, an invalid folder name), skipped as unchanged, wall seconds, local workers used (None on a Dask cluster)."""
    runs = last_runs(course)
    runs[assignment] = {
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "graded": graded,
        "refused": refused,
        "skipped_unchanged": skipped_unchanged,
        "seconds": round(seconds, 3),
        "jobs": jobs,
    }
    _atomic_write(course.root / RUNS_FILE, json.dumps(runs, indent=1, sort_keys=True))

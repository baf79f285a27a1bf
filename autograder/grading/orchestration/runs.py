"""The grading runs' own figures: per assignment, what its last `nnfs grade` did and how long it took.

Kept beside grading_status.json in a file of its own (grading_runs.json), so the status file keeps its shape
(a list of results) and older courses without this file still load. Written by the coordinator at the end
of each run, atomically; read by the class report (autograder/reports/class_report.py).
"""

from __future__ import annotations

import datetime as dt
import json

from ...files import atomic_write
from .course import Course
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


def record_run(course: Course, assignments: list[str], *, graded: dict, refused: dict, skipped_unchanged: dict,
               seconds: float, jobs: int | None) -> None:
    """One run, for each of its assignments (replacing that assignment's previous run): per assignment the
    notebooks run, the submissions refused before running (not a notebook, a link, an invalid folder name) and
    those skipped as unchanged; for the run as a whole (its assignments share one pool of workers) its
    notebooks, wall seconds and local workers used (None on a Dask cluster)."""
    everything = last_runs(course)
    finished = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    for assignment in assignments:
        everything[assignment] = {
            "finished": finished,
            "graded": graded.get(assignment, 0),
            "refused": refused.get(assignment, 0),
            "skipped_unchanged": skipped_unchanged.get(assignment, 0),
            "run_assignments": list(assignments),
            "run_notebooks": sum(graded.values()),
            "seconds": round(seconds, 3),
            "jobs": jobs,
        }
    atomic_write(course.root / RUNS_FILE, json.dumps(everything, indent=1, sort_keys=True))

"""A graded class of a1_helpers made up as data, for the class report's tests (tests/test_report.py, tests/test_browser.py).

No kernel runs: grading_status.json is written as the coordinator writes it, each graded result with the mistakes the
checks named (the contract of issue #18: cell, function, id, points_lost, message), and the autograded notebooks are
the release with the students' answers filled in. Some of it is hostile (a student id, a message, notes, code), one
notebook is missing and one is truncated, and one result was recorded before results carried mistakes.

The numbers the report must show are worked out by hand in tests/test_report.py from the table below.
"""

from __future__ import annotations

import json
from dataclasses import asdict

from autograder.examples import ExampleStudent, build_submission
from autograder.grading.orchestration.pipeline import STATUS_FILE, StudentResult
from autograder.grading.orchestration.runs import RUNS_FILE
from hostile import HOSTILE_MARKDOWN, MARK, payload
from notebooks import copy_course

A1 = "a1_helpers"
POINTS = {"integrity": 0, "relu_tests": 1, "softmax_tests": 3, "compute_layer_tests": 1, "average_ce_tests": 2, "grad_ce_tests": 2, "accuracy_tests": 1}

HOSTILE_ID = f'x"><img src=x onerror="{MARK}()">'  # not a valid id: a status file edited by hand, or a bug upstream
HOSTILE_MESSAGE = f'softmax is wrong <script>{payload("report-message")}</script> <img src=x onerror="{payload("report-message-img")}">'
HOSTILE_CODE = (
    "def softmax(x):\n"
    f"    # </code></pre><script>{payload('report-code')}</script>\n"
    f"    # {HOSTILE_MARKDOWN['md-img-onerror']}\n"
    "    return np.exp(x) / np.exp(x).sum()  # {{ 7*7 }} {% raw %} & <b>not bold</b>\n"
)
AXIS0_CODE = "def softmax(x):\n    # by s07 (Bob Kahn), S07's own work\n    e = np.exp(x - x.max(axis=0))\n    return e / e.sum(axis=0)\n"
NAMES = {"s07": "Kahn, Bob"}


def _mistake(function, mistake_id, lost, message):
    return {"cell": f"{function}_tests", "function": function, "id": mistake_id, "points_lost": lost, "message": message}


AXIS0 = "softmax over axis 0: normalise each row (axis=1)"
CLASS = [
    # student, scores lost per cell, mistakes (None: an old record), extra fields
    ("s01", {}, [], {"seconds": 2.0}),
    ("s02", {"softmax_tests": 3, "average_ce_tests": 1},
     [_mistake("softmax", "softmax.axis0", 3, AXIS0), _mistake("average_ce", "average_ce.divided_by_nk", 1, "you averaged over N*K entries; divide by N")],
     {"seconds": 2.5}),
    ("s03", {"softmax_tests": 3}, [_mistake("softmax", "softmax.axis0", 3, AXIS0)],
     {"seconds": 2.2, "seconds_late": 90000.0, "late_penalty": 1.0, "notes": ["integrity declaration left blank"]}),
    ("s04", {"relu_tests": 1, "softmax_tests": 1.5}, None, {"seconds": 2.0, "verified": False, "isolation": "none"}),
    ("s06", {"softmax_tests": 1.5}, [_mistake("softmax", "softmax.no_shift", 1.5, "-1.5 points: softmax returns nan/inf for large logits")],
     {"seconds": 40.0}),
    ("s07", {"softmax_tests": 3}, [_mistake("softmax", "softmax.axis0", 3, AXIS0 + " (3 of 7 cases)")], {"seconds": 2.0}),
    ("mallory", {"softmax_tests": 3, "grad_ce_tests": 2}, [_mistake("softmax", "softmax.hostile", 3, HOSTILE_MESSAGE)],
     {"seconds": 2.0, "notes": [f"HIDDEN TESTS DID NOT RUN (those cells score 0): grad_ce_tests: {HOSTILE_MARKDOWN['md-img-onerror']}"]}),
]
ERRORS = [
    ("s05", "a1_helpers.ipynb is not valid JSON (Expecting value); the file is truncated or corrupt: ask for a resubmission", 1.0),
    (HOSTILE_ID, f'<script>{payload("report-reason")}</script>', 0.0),
]
CODE = {"s07": AXIS0_CODE, "mallory": HOSTILE_CODE, "s01": "def softmax(x):\n    e = np.exp(x - x.max(axis=1, keepdims=True))\n    return e / e.sum(axis=1, keepdims=True)\n",
        "s06": "def softmax(x):\n    return np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)\n"}


def records() -> list[dict]:
    rows = []
    for student, lost, mistakes, extra in CLASS:
        cells = {cell: [points - lost.get(cell, 0), points] for cell, points in POINTS.items()}
        result = StudentResult(student, A1, score=float(sum(s for s, _ in cells.values())), max_score=10.0, cells=cells,
                               verified=True, isolation="bwrap", digest="0" * 64)
        for key, value in extra.items():
            setattr(result, key, value)
        row = asdict(result)
        if mistakes is not None:
            row["mistakes"] = mistakes
        else:
            row.pop("mistakes", None)  # as recorded before results carried mistakes
        rows.append(row)
    for student, reason, seconds in ERRORS:
        row = asdict(StudentResult(student, A1, status="error", reason=reason, seconds=seconds))
        row["mistakes"] = []
        rows.append(row)
    return rows


def make_class(root, run=True):
    """A course at ``root`` with a1 graded as above; returns the Course."""
    course = copy_course(root)
    (course.root / STATUS_FILE).write_text(json.dumps(records(), indent=1))
    if run:
        run = {"finished": "2026-12-05T01:00:00+00:00", "run_assignments": [A1, "a2_backprop"], "run_notebooks": 8, "seconds": 40.0, "jobs": 2}
        (course.root / RUNS_FILE).write_text(json.dumps({A1: {**run, "graded": 6, "refused": 1, "skipped_unchanged": 2},
                                                        "a2_backprop": {**run, "graded": 2, "refused": 0, "skipped_unchanged": 0}}))
    for student, _, _, _ in CLASS:
        answers = {"softmax": CODE[student]} if student in CODE else {}
        text = build_submission(course.release_notebook(A1), ExampleStudent(student, A1, "", answers))
        path = course.autograded_notebook(student, A1)
        path.parent.mkdir(parents=True)
        if student == "s03":
            text = text[: len(text) // 2]  # truncated
        if student != "s02":  # s02's autograded notebook is missing
            path.write_text(text)
    return course

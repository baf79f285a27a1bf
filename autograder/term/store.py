"""term.json: the course file holding what nbgrader's gradebook has no place for.

::

    {"timezone": "Europe/London",                       # the default for `nnfs due` / `nnfs extend --until`
     "roster": {"s001": {"first_name": ..., "last_name": ..., "email": ..., "section": ...,
                         "lms_user_id": ..., "sis_login_id": ...}},
     "due": {"a1_helpers": {"local": "2026-12-10 23:59", "tz": "Europe/London", "utc": "2026-12-10T23:59:00+00:00"}},
     "extensions": {"a1_helpers": {"s001": {"hours": 48} or {"until_utc": ..., "local": ..., "tz": ...}}},
     "canvas_assignment_ids": {"a1_helpers": "12345"}}  # optional: Canvas's ids, for its import headers

It holds students' names and emails, so like gradebook.db it is git-ignored. Written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..files import atomic_write

TERM_FILE = "term.json"


def path(course) -> Path:
    return course.root / TERM_FILE


def load(course) -> dict:
    p = path(course)
    if not p.is_file():
        data = {}
    else:
        try:
            data = json.loads(p.read_text())
        except ValueError as exc:
            raise SystemExit(f"{p} is not valid JSON ({exc}): fix it by hand or restore it") from None
        if not isinstance(data, dict):
            raise SystemExit(f"{p} does not hold a JSON object")
    for key in ("roster", "due", "extensions", "canvas_assignment_ids"):
        if not isinstance(data.get(key), dict):
            data[key] = {}
    return data


def save(course, data: dict) -> None:
    atomic_write(path(course), json.dumps(data, indent=1, sort_keys=True) + "\n")

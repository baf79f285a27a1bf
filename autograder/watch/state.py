"""``watch/state.json``: every submission the watcher has seen and what became of it.

Written whole, to a temporary name and renamed (autograder/files.py), after every step: a watcher killed
at any moment leaves the file before or after a step, never half of one. Steps are ordered so that both are
safe to resume from (watcher.py): a submission is kept (copied) before it is recorded, recorded before it is
graded, and marked ``grading`` while it is; a ``grading`` entry found at start-up is graded again (its result
had not been recorded, so nobody saw it), at most MAX_ATTEMPTS times.

An entry::

    {"student", "assignment", "name": the inbound entry name (printable), "timestamp": ISO UTC or null,
     "seen": ISO UTC, "secret_hash": feedback page name or "", "status": ..., "attempts": int,
     "reason": str, "graded_at": ISO UTC, "score", "max_score", "not_before": ISO UTC, "page": the page last released}

status: ``queued`` (to be graded as practice), ``grading``, ``practice`` (graded, feedback released),
``waiting`` (over the rate limit until not_before), ``superseded`` (a later one of the same student came
before it was graded), ``refused`` (not gradable: the reason is the feedback), ``late`` (after the student's
deadline), ``closed`` (on time, but the deadline passed before its turn: the final grading decides), ``error``.

``finals``: ``"<assignment>/<student>" -> {"key": the submission graded, "graded_at", "score", "max_score"}``.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..files import atomic_write

MAX_ATTEMPTS = 3


class State:
    def __init__(self, path: Path):
        self.path = path
        self.entries: dict[str, dict] = {}
        self.finals: dict[str, dict] = {}
        if path.is_file():
            try:
                data = json.loads(path.read_text())
                self.entries, self.finals = dict(data["entries"]), dict(data["finals"])
            except (ValueError, KeyError, TypeError) as exc:
                raise SystemExit(f"{path} is corrupt ({exc}): the kept submissions are under {path.parent / 'submissions'}; "
                                 "restore the file from a backup, or move it away to start afresh (every submission is then seen as new)") from None

    def save(self) -> None:
        atomic_write(self.path, json.dumps({"entries": self.entries, "finals": self.finals}, indent=1, sort_keys=True))

    def resume(self) -> list[str]:
        """Entries a killed watcher left ``grading``: queued again (counting the attempt). Returns their keys."""
        again = [k for k, e in self.entries.items() if e["status"] == "grading"]
        for key in again:
            self.entries[key]["status"] = "queued"
        return again

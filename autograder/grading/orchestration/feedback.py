"""Feedback HTML for one graded submission, made in a child process with a time and memory bound.

nbconvert's conversion of a notebook to HTML runs over what the student's code printed, and some shapes
of output are slow to convert: nbconvert's ANSI filter slices the rest of a text at every escape
sequence, so a 2 MB line of ``x\\x1b[0m`` takes about 40 s, and a notebook of such lines an hour. So each
grading worker keeps one child process (``python -m autograder.grading.orchestration.feedback``) that imports nbgrader
once and makes feedback on request. A request that takes longer than ``seconds`` or more memory than
``memory_mb`` kills the child (the next request starts a new one), and the student gets a short page
made here instead, saying so, with their scores: they are graded either way.

Protocol, one JSON object per line: ``{"course": ROOT, "assignment": A, "student": S}`` on the child's
stdin, ``{"ok": true}`` or ``{"ok": false, "error": TEXT}`` on its stdout. The HTML is the file nbgrader
writes in the (throwaway) course's feedback folder.
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..isolation.sandbox import stop_process

FEEDBACK_SECONDS = 60  # an honest notebook's feedback takes about 0.2 s of CPU; a5's about 0.5 s
FEEDBACK_MEMORY_MB = 2048


class FeedbackTimeout(Exception):
    pass


class FeedbackMaker:
    """The worker's side: one child at a time, started on first use and after a kill."""

    def __init__(self, seconds: float = FEEDBACK_SECONDS, memory_mb: int = FEEDBACK_MEMORY_MB):
        self.seconds, self.memory_mb = seconds, memory_mb
        self._proc = None
        self._lock = threading.Lock()

    def _start(self):
        env = {**os.environ, "NNFS_FEEDBACK_MEMORY_MB": str(self.memory_mb)}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "autograder.grading.orchestration.feedback"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, close_fds=True,
        )

    def make(self, course_root: Path, assignment: str, student: str, seconds: float | None = None) -> None:
        """Write the feedback of one student into course_root's feedback folder, or raise (FeedbackTimeout
        when it took too long or the child died, RuntimeError when nbgrader said it failed)."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start()
            request = {"course": str(course_root), "assignment": assignment, "student": student}
            try:
                self._proc.stdin.write(json.dumps(request).encode() + b"\n")
                self._proc.stdin.flush()
                seconds = self.seconds if seconds is None else seconds
                line = self._read_line(time.monotonic() + seconds)
            except (OSError, FeedbackTimeout):
                self.close()
                raise FeedbackTimeout(f"the feedback page could not be made within {seconds:g} s and {self.memory_mb} MB") from None
            reply = json.loads(line)
            if not reply.get("ok"):
                raise RuntimeError(reply.get("error") or "feedback failed")

    def _read_line(self, deadline: float) -> bytes:
        fd, buffer = self._proc.stdout.fileno(), b""
        while not buffer.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise FeedbackTimeout()
            chunk = os.read(fd, 65536)
            if not chunk:  # the child died (its memory limit, say)
                raise FeedbackTimeout()
            buffer += chunk
        return buffer

    def close(self) -> None:
        if self._proc is not None:
            stop_process(self._proc)
            self._proc = None


def cut_feedback_page(assignment: str, student: str, score, max_score, cells: dict, reason: str) -> str:
    """The page a student gets when their feedback could not be made: their scores, and why."""
    from jinja2 import Environment

    template = Environment(autoescape=True).from_string(
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{{ assignment }} feedback</title></head><body>\n"
        "<h1>{{ assignment }}: feedback for {{ student }}</h1>\n"
        "<p><strong>Your feedback was cut:</strong> {{ reason }}. This usually means a cell printed a very large "
        "or unusual output. Your work was graded as usual; ask your instructor for the full feedback.</p>\n"
        "<p>Score: {{ score }} / {{ max_score }}</p>\n<table>\n<tr><th>cell</th><th>score</th></tr>\n"
        "{% for name, (got, out_of) in cells %}<tr><td>{{ name }}</td><td>{{ got }} / {{ out_of }}</td></tr>\n{% endfor %}"
        "</table>\n</body></html>\n"
    )
    return template.render(
        assignment=assignment, student=student, reason=reason, score=score, max_score=max_score, cells=sorted(cells.items())
    )


# The late notice: what the course's late policy took off, at the top of the page. The worker makes the page
# before the coordinator knows the deadline (extensions may come later), so every `nnfs grade` and `nnfs export`
# puts the notice in again from the raw score (term/penalties.py): replacing the previous one, never adding a
# second. It sits right after the page's <body> tag, where only this code writes; the end marker cannot occur
# inside it (its text is escaped), so the first end marker after the start marker is its end, whatever the
# student's part of the page holds.
LATE_NOTICE_START = "<!-- nnfs:late-notice -->"
LATE_NOTICE_END = "<!-- /nnfs:late-notice -->"


def late_notice(lateness: str, submitted: str, deadline: str, extended: bool, policy: str, raw_score, penalty, final_score,
                max_score) -> str:
    """The notice (HTML, every value escaped) for a late submission."""
    from jinja2 import Environment

    template = Environment(autoescape=True).from_string(
        LATE_NOTICE_START + '<div class="nnfs-late-notice" style="background:#fff3cd;border:1px solid #e0c36c;padding:0.5em 1em;margin:0.5em 0">'
        "<strong>Late submission: {{ lateness }} after the deadline.</strong>"
        "<ul><li>Submitted {{ submitted }}; the deadline was {{ deadline }}{% if extended %} (your extension included){% endif %}.</li>"
        "<li>Late policy: {{ policy }}.</li>"
        "<li>Score before the penalty: {{ raw_score }} / {{ max_score }}; penalty: &minus;{{ penalty }}; "
        "<strong>score: {{ final_score }} / {{ max_score }}</strong>.</li></ul>"
        "<p>The cell scores below are before the penalty.</p></div>" + LATE_NOTICE_END
    )
    number = lambda x: f"{float(x):g}"  # noqa: E731
    return template.render(lateness=lateness, submitted=submitted, deadline=deadline, extended=extended, policy=policy,
                           raw_score=number(raw_score), penalty=number(penalty), final_score=number(final_score),
                           max_score=number(max_score))


def with_late_notice(page: str, notice: str) -> str:
    """The page with its late notice replaced by ``notice`` ('' removes it); unchanged pages come back as they were."""
    body = re.search(r"<body[^>]*>", page)
    at = body.end() if body else 0
    rest = page[at:]
    if rest.startswith(LATE_NOTICE_START):
        end = rest.find(LATE_NOTICE_END)
        rest = rest[end + len(LATE_NOTICE_END):] if end >= 0 else rest[len(LATE_NOTICE_START):]
    return page[:at] + notice + rest


# ------------------------------------------------------------------------------------------ child


def feedback_exporter():
    """nbconvert's HTMLExporter with compiled templates kept for the life of this process.

    nbgrader makes a new exporter, and so a new Jinja environment, for every notebook: parsing and
    compiling the feedback templates again was a tenth of a small notebook's CPU. Jinja's bytecode
    cache checks each template's source checksum, so a changed template is compiled afresh."""
    from jinja2 import BytecodeCache
    from nbconvert.exporters import HTMLExporter

    class MemoryBytecodeCache(BytecodeCache):
        def __init__(self):
            self.store = {}

        def load_bytecode(self, bucket):
            if bucket.key in self.store:
                bucket.bytecode_from_string(self.store[bucket.key])

        def dump_bytecode(self, bucket):
            self.store[bucket.key] = bucket.bytecode_to_string()

    cache = MemoryBytecodeCache()

    class FeedbackExporter(HTMLExporter):
        def _create_environment(self):
            environment = super()._create_environment()
            environment.bytecode_cache = cache
            return environment

        def from_notebook_node(self, nb, resources=None, **kw):
            import nbconvert.exporters.html as html_module

            soup = html_module.BeautifulSoup
            html_module.BeautifulSoup = _soup_where_it_changes_something(soup)
            try:
                return super().from_notebook_node(nb, resources, **kw)
            finally:
                html_module.BeautifulSoup = soup

    return FeedbackExporter


def _soup_where_it_changes_something(soup_class):
    """nbconvert's HTMLExporter parses every page it made again with BeautifulSoup, to give each <img> without
    one an alt text and JupyterLab's cell wrappers (under .jp-Notebook) a tabindex, and writes it out again. On a
    page with no "<img" and no "jp-Notebook" at all (nbgrader's feedback template is the classic one, so only
    images can match) those selectors find nothing and the pass only re-spaces the markup; it was most of a
    small notebook's feedback CPU. There the page is kept as made; elsewhere nbconvert's pass runs as ever."""

    class Unchanged:
        def __init__(self, html):
            self.html = html

        def select(self, selector):
            return []

        def __str__(self):
            return self.html

    def parse(html, *args, **kwargs):
        lowered = html.lower()
        if "<img" not in lowered and "jp-notebook" not in lowered:
            return Unchanged(html)
        return soup_class(html, *args, **kwargs)

    return parse


def serve() -> None:
    import logging
    import resource
    import warnings

    memory = int(os.environ.get("NNFS_FEEDBACK_MEMORY_MB", FEEDBACK_MEMORY_MB)) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    from nbgrader.apps import NbGraderAPI

    from .course import Course
    from .gradebook_engines import shared_engines

    exporter = feedback_exporter()
    engines: dict = {}
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        request = json.loads(line)
        try:
            config = Course(Path(request["course"])).config()
            config.GenerateFeedback.exporter_class = exporter
            with shared_engines(keep=engines):  # the same worker's course each time: one engine (worker.py)
                done = NbGraderAPI(config=config).generate_feedback(request["assignment"], request["student"], force=True)
            reply = {"ok": bool(done["success"]), "error": "" if done["success"] else str(done.get("error") or done.get("log"))[-500:]}
        except Exception as exc:  # noqa: BLE001  (reported to the worker, which carries on)
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}
        out.write(json.dumps(reply).encode() + b"\n")
        out.flush()


if __name__ == "__main__":
    serve()

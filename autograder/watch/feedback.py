"""The pages a student fetches, and handing them out through nbgrader's feedback exchange.

nbgrader 0.9's ``release_feedback`` puts a page at ``<exchange>/<course>/feedback/<md5(secret + notebook id)>.html``
(``nbgrader.utils.notebook_hash``), the secret being the submission's ``submission_secret.txt``; the student's
``fetch_feedback`` (and the Assignments tab) computes the same name from its own copy of the submission and
copies the page to ``<assignment>/feedback/<timestamp>/``. The folder is 0711: a student cannot list it, and
only a student who holds a submission's secret can name its page. Pages are written under a temporary name
and renamed, as nbgrader does, so a fetch never gets half a page.

Every text on a page that came from a submission (ids, names, times, messages quoting student values) is
escaped by Jinja2's autoescape; the pages have no script.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from jinja2 import Environment

FEEDBACK_DIR_MODE = stat.S_IRWXU | stat.S_IXGRP | stat.S_IXOTH  # 0711, as release_feedback makes it

_ENV = Environment(autoescape=True)

PAGE = _ENV.from_string("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>body{font-family:sans-serif;max-width:50em;margin:2em auto}td,th{padding:.3em .8em;text-align:left;vertical-align:top}
.ok{color:#176117}.no{color:#9b1c1c}</style></head><body>
<h1>{{ title }}</h1>
<p>Submitted {{ submitted }}.{% if deadline %} Your deadline: {{ deadline }}.{% endif %}</p>
{% for line in lines %}<p>{{ line }}</p>
{% endfor %}
{% if rows %}<table><tr><th>test</th><th>result</th>{% if show_points %}<th>points</th>{% endif %}<th>what the tests found</th></tr>
{% for row in rows %}<tr><td>{{ row.cell }}</td><td class="{{ 'ok' if row.full else 'no' }}">{{ row.verdict }}</td>
{% if show_points %}<td>{{ row.points }}</td>{% endif %}<td>{% for m in row.messages %}<p>{{ m }}</p>{% endfor %}</td></tr>
{% endfor %}</table>{% endif %}
{% if show_points and total %}<p><strong>{{ total }}</strong></p>{% endif %}
</body></html>
""")


def page_name(secret: str, assignment: str) -> str:
    from nbgrader.utils import notebook_hash

    return notebook_hash(secret=secret, notebook_id=assignment)


MESSAGE_MAX_CHARS = 600  # an error's text comes from student code: bounded, and escaped on the page


def visible_errors(autograded_notebook: Path) -> dict[str, list[str]]:
    """grade id -> the errors a test cell's visible asserts raised ("AssertionError: each row of softmax should
    sum to 1 ..."), from the autograded notebook the pipeline wrote (sanitized there, escaped here)."""
    import nbformat

    try:
        nb = nbformat.read(str(autograded_notebook), as_version=4)
    except Exception:  # no notebook (an error result): nothing to show
        return {}
    found = {}
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        errors = [f"{o.get('ename', '')}: {o.get('evalue', '')}"[:MESSAGE_MAX_CHARS] for o in cell.get("outputs", [])
                  if o.get("output_type") == "error"]
        if grade_id and errors:
            found[grade_id] = errors
    return found


def _rows(result, show_points: bool, visible: dict) -> list[dict]:
    """One row per graded cell with points: full marks or not, what its visible asserts said, and the named
    mistakes of that cell."""
    rows = []
    for cell, (score, max_score) in sorted(result.cells.items()):
        if not max_score:
            continue  # the integrity declaration (0 points)
        messages = visible.get(cell, []) + [m.get("message", "") for m in result.mistakes if m.get("cell") == cell]
        if score is None:
            verdict, full = "graded by hand after the deadline", True
        elif score >= max_score:
            verdict, full = "passed", True
        else:
            verdict, full = "not yet" if not messages else "mistakes found", False
        rows.append({"cell": cell, "verdict": verdict, "full": full, "messages": messages,
                     "points": "" if score is None else f"{score:g} / {max_score:g}"})
    return rows


def practice_page(result, submitted: str, deadline: str, show_points: bool, left: str, visible: dict) -> str:
    lines = ["This is practice feedback: it does not count. Your grade comes from your last submission before your deadline, "
             "graded again after it.", left]
    if result.status != "graded":
        lines.append(f"Your notebook could not be graded: {result.reason}")
    total = f"{result.score:g} / {result.max_score:g} points" if result.score is not None and result.max_score else ""
    return PAGE.render(title=f"Practice feedback: {result.assignment}", submitted=submitted, deadline=deadline, lines=lines,
                       rows=_rows(result, show_points, visible) if result.status == "graded" else [], show_points=show_points, total=total)


def notice_page(assignment: str, title: str, submitted: str, deadline: str, *lines: str) -> str:
    return PAGE.render(title=f"{title}: {assignment}", submitted=submitted, deadline=deadline, lines=list(lines), rows=[],
                       show_points=False, total="")


def ensure_folder(exchange_course: Path) -> Path:
    """feedback/ as release_feedback makes it (0711). Made at start-up: until it exists a student's fetch_feedback
    fails ("Assignment not found") rather than finding nothing yet."""
    folder = exchange_course / "feedback"
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, FEEDBACK_DIR_MODE)
    return folder


def release(exchange_course: Path, name: str, html: str) -> Path:
    """The page at feedback/<name>.html, atomically, readable by the student who can name it."""
    folder = ensure_folder(exchange_course)
    dest = folder / f"{name}.html"
    tmp = folder / f".{name}.{os.getpid()}.tmp"
    try:
        tmp.write_text(html, encoding="utf-8")
        os.chmod(tmp, 0o644)
        tmp.replace(dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest

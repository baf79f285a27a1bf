"""The class report: what a class got wrong in one assignment, as a static page and a CSV of the same numbers.

``nnfs report [ASSIGNMENT ...]`` writes reports/<assignment>/class_report.html and class_report.csv from what
grading recorded: grading_status.json (with the gradebook's current scores, so points given in formgrader
count), the mistakes the checks named for each student, grading_runs.json (the last run's own figures), and
the autograded notebooks (one anonymised example per mistake). The page is one self-contained file: plots are
matplotlib PNGs embedded as data, there is no script and nothing is fetched, and its Content-Security-Policy
forbids scripts outright; it opens offline in any browser.

Everything a student controls reaches the page as data: their id (a folder name), their code, the notes, and
the checks' messages (which quote what the student's function returned or raised). The page is rendered by a
Jinja2 template with autoescape, never pasted together; the CSV goes through ``for_csv`` (no formulas).
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import hmac
import io
import json
import re
import secrets
import statistics
from dataclasses import dataclass, field, fields
from pathlib import Path

import nbformat

from ..files import atomic_write
from ..grading.orchestration import pipeline, runs, untrusted
from ..grading.orchestration.course import Course
from ..grading.orchestration.pipeline import StudentResult

REPORTS_DIR = "reports"
HTML_NAME, CSV_NAME = "class_report.html", "class_report.csv"
KEY_FILE = ".anonymous-labels.key"  # under reports/: what makes the anonymous labels stable from run to run

# The notes pipeline.preflight and the worker write (matched here, tested against them in tests/test_report.py).
INTEGRITY_BLANK = "integrity declaration left blank"
HIDDEN_TESTS_DID_NOT_RUN = "HIDDEN TESTS DID NOT RUN"
# "Unusually long" grading: more than LONG_FACTOR times the assignment's median time per notebook, and at least
# LONG_MARGIN seconds more than it (so a 3 s notebook next to a 1 s median is not flagged: that is noise).
LONG_FACTOR, LONG_MARGIN = 3.0, 10.0
EXAMPLE_MAX_CHARS = 20_000  # an example is one function; past this the rest is cut, and the page says so
NONE = "n/a"  # a figure with nothing to compute it from
UNNAMED = "(unnamed)"  # a recorded mistake that names no function
FULL = 1e-9  # a cell scored within this of its points is at full marks (scores are floats)


class ReportError(RuntimeError):
    """The report cannot be made (the status file is unreadable): its message says what to do."""


# ------------------------------------------------------------------------------------------- reading


@dataclass
class Record:
    result: StudentResult
    mistakes: list | None  # None: unknown (recorded before results carried mistakes, or judged in the kernel), not "none"


def _clean_mistakes(raw) -> list | None:
    """The recorded mistakes as plain dicts of the contract's fields; None when the result has none recorded."""
    if not isinstance(raw, list):
        return None
    clean = []
    for m in raw:
        if not isinstance(m, dict) or not m.get("id"):
            continue
        try:
            lost = float(m.get("points_lost") or 0.0)
        except (TypeError, ValueError):
            lost = 0.0
        clean.append({"id": str(m["id"]), "function": str(m.get("function") or ""), "cell": str(m.get("cell") or ""),
                      "points_lost": lost, "message": str(m.get("message") or "")})
    return clean


def load_records(course: Course) -> list[Record]:
    """Every result on record, with its mistakes (None where they are unknown). Read here rather than with
    pipeline.load_results, which refuses fields it does not know and, once results carry mistakes, could not tell
    a result recorded before that (mistakes unknown) from one with none."""
    path = course.root / pipeline.STATUS_FILE
    if not path.is_file():
        return []
    known = {f.name for f in fields(StudentResult)}
    try:
        rows = json.loads(path.read_text())
        records = []
        for row in rows:
            result = StudentResult(**{k: v for k, v in row.items() if k in known})
            result.cells = {str(k): (float(v[0]), float(v[1])) for k, v in result.cells.items()}
            # --no-verify: the checks judged inside the kernel, where only printed text comes back: no mistakes recorded
            judged_outside = result.verified or result.status != "graded"
            records.append(Record(result, _clean_mistakes(row.get("mistakes")) if judged_outside else None))
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        raise ReportError(f"{path} is corrupt ({exc}); delete it and regrade to rebuild it") from exc
    pipeline.with_gradebook_scores(course, [r.result for r in records])  # manual grades given since
    return records


def _release(course: Course, assignment: str):
    """The released notebook (trusted: made from source/), or the source where it is not released yet."""
    for path in (course.release_notebook(assignment), course.source_notebook(assignment)):
        if path.is_file():
            return nbformat.read(str(path), as_version=4)
    return nbformat.v4.new_notebook()


def _nbgrader(cell) -> dict:
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    found = meta.get("nbgrader") if isinstance(meta, dict) else None
    return found if isinstance(found, dict) else {}


def _solution_cells(release) -> dict[str, str]:
    """{function: grade id of the autograded answer cell that defines it}, from the release's nbgrader
    metadata (solution, not graded) and its code: the cell to show from a student's notebook."""
    found = {}
    for cell in release.cells:
        meta = _nbgrader(cell)
        if cell.cell_type == "code" and meta.get("solution") and not meta.get("grade"):
            for name in re.findall(r"^def\s+(\w+)\s*\(", cell.source, re.M):
                found.setdefault(name, meta["grade_id"])
    return found


# ------------------------------------------------------------------------------------------ anonymous


class Labels:
    """A stable anonymous label per student ("student-3fa9c1d0"): an HMAC of the id with a random key kept in
    reports/, so labels stay the same from one report to the next but cannot be recomputed from a roster."""

    def __init__(self, course: Course):
        path = course.root / REPORTS_DIR / KEY_FILE
        if not path.is_file():
            atomic_write(path, secrets.token_hex(32) + "\n")
            path.chmod(0o600)  # whoever reads it can tell which label is whose
        self.key = path.read_text().strip().encode()

    def __call__(self, student: str) -> str:
        return "student-" + hmac.new(self.key, student.encode(), hashlib.sha256).hexdigest()[:8]


def _identities(student: str, name: str) -> list[str]:
    """What would name the student in their code: their id, and their roster name ("Last, First") in both
    orders and the last name alone."""
    found = [student]
    if name:
        last, _, first = (part.strip() for part in name.partition(","))
        found += [name, f"{first} {last}".strip(), last]
    return sorted({x for x in found if len(x) >= 3}, key=len, reverse=True)


def anonymise(code: str, student: str, name: str, label: str) -> str:
    for identity in _identities(student, name):
        code = re.sub(rf"(?<![A-Za-z0-9]){re.escape(identity)}(?![A-Za-z0-9])", label, code, flags=re.I)
    return code


# ----------------------------------------------------------------------------------------- the numbers


def number(x: float) -> str:
    """Points and seconds as the page and the CSV both show them."""
    return f"{round(float(x), 2):g}"


def percent(x: float) -> str:
    return f"{round(100 * float(x), 1):g}%"


@dataclass
class Question:
    cell: str
    points: str
    students: int
    mean: str
    median: str
    zero_rate: str
    awaiting_manual: int


@dataclass
class Mistake:
    id: str
    function: str
    students: int
    share: str  # of the students graded on this function whose mistakes are known
    mean_points_lost: str
    message: str  # the most common message for this id
    example: str | None = None  # the page anchor of its anonymised example
    no_example: str = ""  # why there is none


@dataclass
class Function:
    name: str
    cell: str
    students: int
    full_marks: str
    below_full_without_mistake: int  # lost points on the cell with no named mistake (among known results)
    mistakes: list = field(default_factory=list)


@dataclass
class Example:
    anchor: str
    mistake: str
    function: str
    label: str
    cell: str
    code: str
    cut: int  # characters not shown


@dataclass
class Flag:
    kind: str  # error, unverified, no-sandbox, integrity, late, hidden-tests, slow
    text: str


@dataclass
class Look:
    student: str
    name: str
    flags: list


@dataclass
class Report:
    assignment: str
    generated: str
    summary: dict  # measure -> value (strings), the class's figures
    bins: list  # (label, students)
    questions: list
    functions: list
    examples: list
    look: list
    run: dict  # measure -> value, or {} when no run was recorded
    long_rule: str
    mistakes_unknown: int
    histogram_png: str = ""
    questions_png: str = ""


def _bins(scores: list[float], top: float) -> tuple[list[float], list[int]]:
    """Edges and counts: one bin per point up to 20 points, else 10 equal bins; the last bin holds the top."""
    import numpy as np

    count = int(top) if top <= 20 and float(top).is_integer() and top >= 1 else 10
    edges = np.linspace(0.0, max(top, 1e-9), count + 1)
    counts, _ = np.histogram(np.clip(scores, 0.0, top), bins=edges)
    return [float(e) for e in edges], [int(c) for c in counts]


def _manual_cells(result: StudentResult) -> set[str]:
    waiting = set()
    for note in result.notes:
        if note.startswith(pipeline.MANUAL_NOTE):
            waiting |= {g.strip() for g in note[len(pipeline.MANUAL_NOTE):].split(",")}
    return waiting


def _flags(result: StudentResult, median_seconds: float | None) -> list[Flag]:
    from ..term.deadlines import describe_lateness

    flags = []
    if result.status != "graded":
        return [Flag("error", result.reason or "not graded")]
    if not result.verified:
        flags.append(Flag("unverified", "not verified: the checks judged inside the student's kernel (--no-verify), "
                                        "where their code could change its own score"))
    if result.isolation == "none":
        flags.append(Flag("no-sandbox", "graded without a sandbox: their code ran with the grader's rights"))
    if any(n.startswith(INTEGRITY_BLANK) for n in result.notes):
        flags.append(Flag("integrity", "integrity declaration left blank"))
    if result.seconds_late:
        flags.append(Flag("late", f"late {describe_lateness(result.seconds_late)}: -{number(result.late_penalty)} point(s)"))
    for note in result.notes:
        if note.startswith(HIDDEN_TESTS_DID_NOT_RUN):
            flags.append(Flag("hidden-tests", note))
    if median_seconds and result.seconds > LONG_FACTOR * median_seconds and result.seconds > median_seconds + LONG_MARGIN:
        flags.append(Flag("slow", f"grading took {number(result.seconds)} s, {number(result.seconds / median_seconds)} times the median"))
    return flags


class _Notebooks:
    """Autograded notebooks, each read at most once, as untrusted data: no links followed, bounded, and any
    file that is missing or not a notebook is skipped with a reason (the report goes on)."""

    def __init__(self, course: Course, assignment: str):
        self.course, self.assignment, self.cache = course, assignment, {}

    def cell_source(self, student: str, grade_id: str) -> tuple[str | None, str]:
        if student not in self.cache:
            self.cache[student] = self._read(student)
        nb, why = self.cache[student]
        if nb is None:
            return None, why
        for cell in nb.get("cells") or []:
            if _nbgrader(cell).get("grade_id") == grade_id:
                source = cell.get("source", "")
                return ("".join(map(str, source)) if isinstance(source, list) else str(source)), ""
        return None, f"no cell {grade_id} in the autograded notebook"

    def _read(self, student: str):
        a = self.assignment
        if not untrusted.is_valid_student_id(student):  # a hand-edited status file: "../x" must not lead anywhere
            return None, f"not read: {untrusted.describe(student)} is not a valid student id"
        try:
            data = untrusted.read_regular_file(self.course.root / "autograded", [student, a, f"{a}.ipynb"], untrusted.NOTEBOOK_MAX_BYTES)
            nb = json.loads(data.decode("utf-8", errors="replace"))
        except untrusted.RefusedFile as exc:
            return None, f"autograded notebook not read: {exc}"
        except ValueError:
            return None, "the autograded notebook is not valid JSON"
        if not isinstance(nb, dict) or not isinstance(nb.get("cells", []), list):
            return None, "the autograded notebook is not a notebook"
        return nb, ""


def build(course: Course, assignment: str, records: list[Record], run: dict | None = None, names: dict | None = None) -> Report:
    """The report's numbers and lists, formatted once: the page and the CSV both show these."""
    names = names or {}
    mine = sorted((r for r in records if r.result.assignment == assignment), key=lambda r: r.result.student)
    graded = [r for r in mine if r.result.status == "graded" and r.result.score is not None]
    release = _release(course, assignment)
    order = [_nbgrader(c).get("grade_id") for c in release.cells]

    finals = [pipeline.final_score(r.result) for r in graded]
    top = max((r.result.max_score or 0.0 for r in graded), default=0.0)
    unknown = sum(r.mistakes is None for r in graded)
    summary = {"submissions": str(len(mine)), "graded": str(len(graded)), "errors": str(len(mine) - len(graded)),
               "max_points": number(top),
               "mean": number(statistics.fmean(finals)) if finals else NONE,
               "median": number(statistics.median(finals)) if finals else NONE,
               "mistakes_unknown": str(unknown)}
    edges, counts = _bins(finals, top) if graded else ([], [])
    bins = [(f"{number(lo)}-{number(hi)}", c) for lo, hi, c in zip(edges, edges[1:], counts)]
    questions = _questions(graded, order)

    examples = []
    find_example = _ExampleFinder(course, assignment, _solution_cells(release), names, examples)
    functions = [_function(name, cell, graded, find_example) for name, cell in _functions(assignment, order, graded).items()]

    seconds = [r.result.seconds for r in mine if r.result.seconds and r.result.seconds > 0]
    median_seconds = statistics.median(seconds) if seconds else None
    look = [Look(r.result.student, names.get(r.result.student, ""), flags) for r in mine if (flags := _flags(r.result, median_seconds))]
    long_rule = (f"more than {LONG_FACTOR:g} times the median time per notebook ({number(median_seconds)} s) and at least "
                 f"{LONG_MARGIN:g} s more than it" if median_seconds else "no grading times recorded")

    report = Report(assignment, dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), summary, bins, questions,
                    functions, examples, look, _run_figures(run, median_seconds), long_rule, unknown)
    report.histogram_png = _histogram_png(edges, counts, top) if graded else ""
    report.questions_png = _questions_png(questions) if questions else ""
    return report


def _questions(graded: list[Record], order: list) -> list[Question]:
    """Each graded cell with points, in the notebook's order; cells awaiting manual grading left out of its figures."""
    points_of = {g: m for r in graded for g, (_, m) in r.result.cells.items()}
    questions = []
    for cell in sorted(points_of, key=lambda g: (order.index(g) if g in order else len(order), g)):
        if points_of[cell] <= 0:
            continue  # the integrity declaration: 0 points (a blank one is flagged under "need a look")
        waiting = {r.result.student for r in graded if cell in _manual_cells(r.result)}
        scores = [r.result.cells[cell][0] for r in graded if cell in r.result.cells and r.result.student not in waiting]
        questions.append(Question(cell, number(points_of[cell]), len(scores),
                                  number(statistics.fmean(scores)) if scores else NONE,
                                  number(statistics.median(scores)) if scores else NONE,
                                  percent(sum(s <= 0 for s in scores) / len(scores)) if scores else NONE, len(waiting)))
    return questions


def _functions(assignment: str, order: list, graded: list[Record]) -> dict[str, str]:
    """{graded function: its test cell}: the assignment's checks, in the notebook's order, then any function a
    recorded mistake names that the checks no longer list."""
    from ..assignments import all_specs

    spec = all_specs().get(assignment)
    found = dict(spec.test_cells) if spec is not None else {}  # what the assignment declares
    found = dict(sorted(found.items(), key=lambda kv: order.index(kv[1]) if kv[1] in order else len(order)))
    for r in graded:
        for m in r.mistakes or []:
            found.setdefault(m["function"] or UNNAMED, m["cell"])
    return found


def _function(name: str, cell: str, graded: list[Record], find_example) -> Function:
    """One function: the share at full marks, and its named mistakes, the most common first, each with an example."""
    on_cell = [r for r in graded if cell in r.result.cells]
    known = [r for r in on_cell if r.mistakes is not None]
    full = {r.result.student for r in on_cell if r.result.cells[cell][0] >= r.result.cells[cell][1] - FULL}
    made: dict[str, list] = {}  # mistake id -> [(student, mistake)]
    for r in graded:
        for m in r.mistakes or []:
            if (m["function"] or UNNAMED) == name:
                made.setdefault(m["id"], []).append((r.result.student, m))
    named = {student for pairs in made.values() for student, _ in pairs}
    function = Function(name, cell, len(on_cell), percent(len(full) / len(on_cell)) if on_cell else NONE,
                        sum(1 for r in known if r.result.student not in full | named))
    for mistake_id, pairs in made.items():
        lost = {}
        for student, m in pairs:
            lost[student] = lost.get(student, 0.0) + m["points_lost"]
        messages = [m["message"] for _, m in pairs]
        function.mistakes.append(Mistake(mistake_id, name, len(lost), percent(len(lost) / len(known)) if known else NONE,
                                         number(statistics.fmean(lost.values())), max(sorted(set(messages)), key=messages.count)))
    function.mistakes.sort(key=lambda m: (-m.students, m.id))
    for mistake in function.mistakes:
        mistake.example, mistake.no_example = find_example(mistake, sorted({s for s, _ in made[mistake.id]}))
    return function


def _run_figures(run: dict | None, median_seconds: float | None) -> dict:
    """The last run's figures (grading_runs.json), and the median time per notebook over the results on record.
    A run grades several assignments in one pool: its seconds and seconds per notebook are the whole run's."""
    figures = {}
    try:
        if run:
            run_notebooks = int(run.get("run_notebooks", run.get("graded")) or 0)
            wall = float(run.get("seconds") or 0.0)
            figures = {"finished": str(run.get("finished", "")), "notebooks": str(int(run.get("graded") or 0)),
                       "skipped_unchanged": str(int(run.get("skipped_unchanged") or 0)), "refused": str(int(run.get("refused") or 0)),
                       "run_assignments": ", ".join(map(str, run.get("run_assignments") or [])) or NONE,
                       "run_notebooks": str(run_notebooks), "run_seconds": number(wall),
                       "seconds_per_notebook": number(wall / run_notebooks) if run_notebooks else NONE,
                       "jobs": "cluster" if run.get("jobs") is None else str(int(run["jobs"]))}
    except (TypeError, ValueError):
        figures = {}  # a summary edited by hand into nonsense: shown as no run recorded
    if median_seconds:
        figures["median_seconds_in_worker"] = number(median_seconds)
    return figures


class _ExampleFinder:
    """One anonymised example per mistake: the first of its students (in label order, so not by id) whose answer
    cell for the function can be read; the examples are collected in ``examples`` for the page's last section."""

    def __init__(self, course: Course, assignment: str, solution_cells: dict, names: dict, examples: list):
        self.notebooks, self.labels = _Notebooks(course, assignment), Labels(course)
        self.solution_cells, self.names, self.examples = solution_cells, names, examples

    def __call__(self, mistake: Mistake, students: list[str]) -> tuple[str | None, str]:
        """(the example's anchor, "") or (None, why there is none)."""
        grade_id = self.solution_cells.get(mistake.function)
        if grade_id is None:
            return None, f"the release has no answer cell defining {mistake.function}"
        reasons = []
        for student in sorted(students, key=self.labels):
            code, why = self.notebooks.cell_source(student, grade_id)
            if code is None:
                reasons.append(why)
                continue
            label = self.labels(student)
            code = anonymise(code, student, self.names.get(student, ""), label)
            anchor = f"example-{len(self.examples) + 1}"
            self.examples.append(Example(anchor, mistake.id, mistake.function, label, grade_id, code[:EXAMPLE_MAX_CHARS],
                                         max(0, len(code) - EXAMPLE_MAX_CHARS)))
            return anchor, ""
        return None, "no example: " + "; ".join(sorted(set(reasons)))


# ------------------------------------------------------------------------------------------- plots


def _png(fig) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)  # no pyplot: no global state, no display, whatever backend the machine has
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(out.getvalue()).decode("ascii")


def _histogram_png(edges: list[float], counts: list[int], top: float) -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.2))
    ax = fig.add_subplot()
    widths = [hi - lo for lo, hi in zip(edges, edges[1:])]
    ax.bar(edges[:-1], counts, width=widths, align="edge", color="#4a7bb7", edgecolor="white")
    ax.set_xlim(0, max(top, 1e-9))
    ax.set_xlabel(f"score (points of {number(top)}, after late penalties)")
    ax.set_ylabel("students")
    ax.yaxis.get_major_locator().set_params(integer=True)
    return _png(fig)


def _questions_png(questions: list[Question]) -> str:
    from matplotlib.figure import Figure

    shown = [q for q in questions if q.mean != NONE]
    fig = Figure(figsize=(7, 0.35 * len(shown) + 1.2))
    ax = fig.add_subplot()
    ax.barh([q.cell for q in shown], [100 * float(q.mean) / float(q.points) for q in shown], color="#4a7bb7")
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("mean score, % of the question's points")
    return _png(fig)


# ------------------------------------------------------------------------------------------- output


def csv_rows(report: Report) -> list[list]:
    """The page's numbers as rows of (section, item, measure, value, note)."""
    a = report.assignment
    rows = [["class", a, k, v, ""] for k, v in report.summary.items()]
    rows += [["distribution", label, "students", str(count), ""] for label, count in report.bins]
    for q in report.questions:
        rows += [["question", q.cell, k, str(getattr(q, k)), ""] for k in ("points", "students", "mean", "median", "zero_rate", "awaiting_manual")]
    for f in report.functions:
        rows += [["function", f.name, k, str(getattr(f, k)), ""] for k in ("students", "full_marks", "below_full_without_mistake")]
        for m in f.mistakes:
            rows += [["mistake", m.id, k, str(getattr(m, k)), m.message] for k in ("students", "share", "mean_points_lost")]
    rows += [["look", look.student, flag.kind, flag.text, look.name] for look in report.look for flag in look.flags]
    rows += [["run", a, k, v, ""] for k, v in report.run.items()]
    return rows


def _environment():
    from jinja2 import Environment, PackageLoader, StrictUndefined

    # autoescape for every template: everything from a student is text, whatever it holds.
    return Environment(loader=PackageLoader("autograder.reports", "templates"), autoescape=True, undefined=StrictUndefined)


def render(report: Report) -> str:
    return _environment().get_template("class_report.html.j2").render(r=report, csv_name=CSV_NAME)


def write(course: Course, assignment: str, records: list[Record] | None = None) -> tuple[Path, Path]:
    """Write reports/<assignment>/class_report.html and .csv (from ``records``, else from what is on record);
    return their paths."""
    from ..term import roster

    records = load_records(course) if records is None else records
    report = build(course, assignment, records, runs.last_runs(course).get(assignment), roster.names(course))
    folder = course.root / REPORTS_DIR / assignment
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "item", "measure", "value", "note"])
    writer.writerows([untrusted.for_csv(cell) for cell in row] for row in csv_rows(report))
    atomic_write(folder / CSV_NAME, out.getvalue())
    atomic_write(folder / HTML_NAME, render(report))
    return folder / HTML_NAME, folder / CSV_NAME

"""``nnfs similarity ASSIGNMENT``: which submissions are too alike to be independent (instructor-only).

Each submission is cut into units, one per function (or class) the student wrote in a solution cell or
a cell of their own, plus a cell's top-level code; the released template is removed. Each unit is
normalised for what copying changes cheaply: identifiers the student chose (parameters, locals, their own
helpers' names) all become one symbol, comments, docstrings and whitespace go, string literals become
S. Fingerprints that many in the class share are common idioms and ignored, as MOSS does. Comparing unit against unit (whatever its name or place) makes the order of functions
and cells irrelevant. Library names (np.exp, axis=) are kept: they tell honest alternatives apart.

The fingerprints are copydetect's (PyPI): k-grams winnowed as MOSS does (Schleimer, Wilkerson and Aiken,
2003), with the template's fingerprints removed as boilerplate, and the copied slices it reports are what
the side-by-side pages highlight. copydetect rather than Dolos because it is a Python library the course's
environment installs like any other dependency; Dolos would need Node.js on every instructor's machine
for one command. What is written here by hand is the course-specific part: finding the student's code in
a notebook, the normalisation (Python's own ast and tokenize), and which pairs to compare.

Every submission is compared with the class, with earlier terms' submissions (``--archive``: folders laid
out as submitted/) and with the reference solution (source/<a>/<a>.ipynb's solution cells): a leaked key
is a copy too. The reference's code is never shown, only the student's side of such a match.

Everything from a submission is hostile data: read without following links (untrusted.read_regular_file),
invalid student ids refused, and the pages built by Jinja2 with autoescape. A flag is a prompt to look,
not a verdict, and the pages say so.
"""

from __future__ import annotations

import ast
import bisect
import builtins
import io
import json
import multiprocessing
import os
import re
import time
import tokenize
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import nbformat
import numpy as np
from copydetect import CodeFingerprint, compare_files
from scipy import sparse

from ..files import atomic_write
from ..grading.orchestration.untrusted import NOTEBOOK_MAX_BYTES, RefusedFile, describe, is_valid_student_id, read_regular_file, submission_folders

# ---------------------------------------------------------------------------------- thresholds
# Chosen from benchmarks/bench_similarity.py (figures in benchmarks/README.md), not guessed:
# - NOISE (k) and GUARANTEE: k-grams of 35 characters of normalised code (about 12 tokens), winnowed in
#   windows of 6 (copydetect's default window). copydetect's default k of 25 let functions made of the
#   same idioms (row loops, reshapes) but sharing no line reach the threshold (5 of 1,770 such pairs);
#   at 35 none did, for one planted copy in 73 lost.
# - MIN_CHARACTERS: both units must be at least this long (normalised characters, about 75 tokens) to be
#   compared. Below it sit the canonical short functions (relu, compute_layer, a row-wise softmax with
#   its max shift: 150-185 characters) that honest students write alike: without a floor 12% of the
#   benchmark's honest pairs (two correct implementations of one function) reach the threshold, 1.9% at
#   a floor of 150 (the canonical softmax pairs), 0.6% at 200. A copy of short functions is therefore
#   never flagged on its own, only with longer ones copied alongside: 73 of the benchmark's 183 honest
#   functions are long enough to be compared.
# - THRESHOLD: the larger of the two shares (the share of a unit's fingerprinted code found in the other,
#   so dead code added on one side does not hide the copy). At 0.6 (k 35, floor 200), 2 of 315 honest
#   pairs are flagged (both one author's variants of the reference: the same im2col, the same padding
#   arithmetic) and 97-99% of planted copies that are renamed, re-commented, given dead code or all
#   three are found (82% when + and * operands are swapped too); 0.7 finds 95%, 0.5 flags 3 honest
#   pairs and 2.9% of the idiom pairs.
NOISE = 35
GUARANTEE = 40
MIN_CHARACTERS = 200
THRESHOLD = 0.6

# Fingerprints held by more than this share of the class's students (and at least COMMON_MIN_STUDENTS)
# are common idioms, ignored as MOSS's -m does (default 10 there): in the benchmark, one pair in 1,770
# of functions written from the same few idioms (row loops, reshapes, masks) reached the threshold, which
# at the scale of a class of 200 (each function against every other) made hundreds of pairs; with these
# ignored, none of that class's independent pairs was flagged and all 50 planted copies still were.
# The price: a ring of more than a tenth of the class copying one source looks like an idiom.
COMMON_SHARE = 0.1
COMMON_MIN_STUDENTS = 10

# Side-by-side pages for the most alike pairs only: a class where everyone shares a long template-like
# function would otherwise write a page per pair (20,000 for 200 students); the index still lists all.
MAX_PAGES = 300

REFERENCE = "reference"
CAVEAT = ("A flag is a prompt to look, not a verdict: students who follow the same lecture write alike, and "
          "short canonical functions are not compared at all. Read both sides, and talk to the students.")
TEMPLATES = jinja2.Environment(loader=jinja2.PackageLoader("autograder.reports", "templates"), autoescape=True,
                               undefined=jinja2.StrictUndefined)


@dataclass
class Unit:
    """One function, class or cell's top-level code of one submission, normalised and fingerprinted."""

    owner: str  # a student id, "reference", or "<archive folder>:<student id>"
    name: str  # the function's name as written (hostile text), or "<cell> (top-level code)"
    source: str  # the code as written (hostile text)
    normalised: str
    token_starts: list  # start of each normalised token in ``normalised``
    token_spans: list  # (start, end) of the same token in ``source``
    fingerprint: CodeFingerprint | None = None

    def source_slices(self, slices) -> list[tuple[int, int]]:
        """copydetect's copied slices (in the normalised text) as spans of the code as written."""
        spans = []
        for start, end in zip(*slices):
            first = max(bisect.bisect_right(self.token_starts, int(start)) - 1, 0)
            last = max(bisect.bisect_right(self.token_starts, int(end) - 1) - 1, first)
            spans.append((self.token_spans[first][0], self.token_spans[last][1]))
        return spans


@dataclass
class Submission:
    owner: str
    kind: str  # "class", "archive" or "reference"
    units: list = field(default_factory=list)
    problem: str = ""  # why it (or some of it) was not compared


@dataclass
class Match:
    """Two units found alike: the shares of each found in the other, and where (in the code as written)."""

    left: Unit
    right: Unit
    similarity: float
    shares: tuple
    shared_characters: int
    left_spans: list
    right_spans: list

    def swapped(self) -> "Match":
        return Match(self.right, self.left, self.similarity, self.shares[::-1], self.shared_characters,
                     self.right_spans, self.left_spans)


# ---------------------------------------------------------------------------------- the code in a notebook


def _blank_magics(source: str) -> str:
    """IPython's %magics and !shell lines blanked (same length, so offsets hold): they are not Python."""
    return re.sub(r"(?m)^[ \t]*[%!].*$", lambda m: " " * len(m.group()), source)


def _defined_names(tree) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


def _bound_names(tree) -> set[str]:
    """Names a piece of code binds: parameters, assignments, loop and with targets, nested defs, imports."""
    return _walk(tree)[0]


def _walk(tree) -> tuple[set[str], list[tuple[int, int, int, int]]]:
    """In one walk: the names the code binds (parameters, assignments, loop and with targets, nested defs,
    imports) and where its bare string statements are (docstrings, strings used as comments)."""
    names, strings = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if not isinstance(node.ctx, ast.Load):
                names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            strings.append((node.lineno, node.col_offset, node.end_lineno, node.end_col_offset))
    return names, strings


def normalise(source: str, keep: set[str], renamed: set[str] = frozenset(), tree=None, first_line: int = 1) -> tuple[str, list, list]:
    """The unit's code as copydetect sees it, with each token's place there and in ``source``.

    Names the code binds (parameters and locals, whatever the template calls its own variables) and
    ``renamed`` (the student's own module-level names) all become ``v`` (as copydetect's own filter does:
    numbering them in order of first use made one added variable renumber every later one), except a
    function the template defines under the same name (``keep``: the graded functions) and attributes
    (``.x``). Comments, docstrings and layout go (a token per word, INDENT/DEDENT as braces); strings
    become S. ``tree``: the source's statements already parsed, starting at ``first_line`` of the cell
    they were parsed from (saves parsing each function twice)."""
    nodes = ast.parse(source).body if tree is None else tree
    graded = {n.name for n in nodes if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))} & set(keep)
    names, strings = _walk(ast.Module(body=list(nodes), type_ignores=[]))
    rename = (names | set(renamed)) - graded
    shift = first_line - 1  # the nodes' line numbers are the cell's; the tokens' are the source's
    dropped = [(a - shift, b, c - shift, d) for a, b, c, d in strings]
    line_starts = [0]
    for line in source.splitlines(keepends=True):
        line_starts.append(line_starts[-1] + len(line))
    words, starts, spans, previous = [], [], [], ""
    position = 0
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        kind, text = tok.type, tok.string
        if kind in (tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER):
            continue
        if any((a, b) <= tok.start and tok.end <= (c, d) for a, b, c, d in dropped):
            continue
        if kind == tokenize.NEWLINE:
            if words and words[-1] in (";", "{"):
                continue  # the end of a statement that was dropped (a docstring): nothing to end
            word = ";"
        elif kind == tokenize.INDENT:
            word = "{"
        elif kind == tokenize.DEDENT:
            word = "}"
        elif kind == tokenize.NAME and text in rename and previous != ".":
            word = "v"
        elif kind == tokenize.STRING or tokenize.tok_name[kind] == "FSTRING_START":
            word = "S"
        elif tokenize.tok_name[kind] in ("FSTRING_MIDDLE", "FSTRING_END"):
            continue
        else:
            word = text
        previous = text
        begin = line_starts[tok.start[0] - 1] + tok.start[1]
        end = line_starts[tok.end[0] - 1] + tok.end[1] if kind != tokenize.DEDENT else begin
        starts.append(position)
        spans.append((begin, max(begin, end)))
        words.append(word)
        position += len(word) + 1
    return " ".join(words), starts, spans


def _template_names(release) -> set[str]:
    names = set(dir(builtins))
    for cell in release.cells:
        if cell.cell_type == "code":
            try:
                names |= _defined_names(ast.parse(_blank_magics(cell.source)))
            except SyntaxError:
                pass
    return names


def _student_cells(nb, release) -> list[tuple[str, str]]:
    """[(label, source)]: the code cells holding the student's own code. Solution cells are found by the
    release's grade ids (a student can forge metadata, not add grade ids the release lacks); code cells
    with no grade id are cells the student added. Test and read-only cells are the template's."""
    solution_ids = {c.metadata["nbgrader"]["grade_id"] for c in release.cells
                    if c.metadata.get("nbgrader", {}).get("solution") and "grade_id" in c.metadata["nbgrader"]}
    released_ids = {c.metadata.get("nbgrader", {}).get("grade_id") for c in release.cells} - {None}
    cells, added = [], 0
    for cell in nb.cells:
        if cell.get("cell_type") != "code" or not isinstance(cell.get("source"), str):
            continue
        meta = cell.get("metadata", {}).get("nbgrader", {})
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        if grade_id in solution_ids:
            cells.append((grade_id, cell.source))
        elif grade_id not in released_ids:
            added += 1
            cells.append((f"added cell {added}", cell.source))
    return cells


def units_of(owner: str, cells: list[tuple[str, str]], keep: set[str]) -> tuple[list[Unit], list[str]]:
    """The units of one submission's cells, and notes on cells that could not be read as Python."""
    parsed, notes = [], []
    for label, source in cells:
        source = _blank_magics(source)
        try:
            parsed.append((label, source, ast.parse(source)))
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:  # the last two: absurd nesting
            notes.append(f"{label}: not compared, it is not valid Python ({getattr(exc, 'msg', None) or type(exc).__name__})")
    own = set().union(*(_defined_names(tree) for _, _, tree in parsed)) - keep
    units = []
    for label, source, tree in parsed:
        lines = source.splitlines(keepends=True)
        loose = []
        for node in tree.body:
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            text = "".join(lines[first - 1: node.end_lineno])
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                units.append(_unit(owner, node.name, text, keep, own, [node], first))
            elif not isinstance(node, (ast.Import, ast.ImportFrom)):
                loose.append(text if text.endswith("\n") else text + "\n")
        if loose:  # several statements put together: parsed again as one piece
            units.append(_unit(owner, f"{label} (top-level code)", "".join(loose), keep, own))
    return [u for u in units if u is not None], notes


def _unit(owner, name, text, keep, own, nodes=None, first_line=1) -> Unit | None:
    try:
        normalised, starts, spans = normalise(text, keep, own, nodes, first_line)
    except (SyntaxError, ValueError, tokenize.TokenError, RecursionError, MemoryError):
        return None  # a statement cut out of a valid cell always parses; this is belt and braces
    return Unit(owner, name, text, normalised, starts, spans)


def read_notebook(root: Path, student: str, assignment: str):
    """A student's notebook, or a reason it cannot be read (links refused, size bounded, JSON checked)."""
    try:
        raw = read_regular_file(root, [student, assignment, f"{assignment}.ipynb"], NOTEBOOK_MAX_BYTES)
    except RefusedFile as exc:
        return None, str(exc)
    try:
        nb = nbformat.reads(raw.decode("utf-8", errors="replace"), as_version=4)
        nbformat.validate(nb)  # reads only logs a wrong shape; the code below relies on the schema
        return nb, ""
    except Exception as exc:  # nbformat raises several types for the many ways a file is not a notebook
        return None, f"not compared: {assignment}.ipynb is not a readable notebook ({str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__})"


def _read_submission(folder: Path, name: str, owner: str, assignment: str, release, keep: set, kind: str) -> Submission:
    nb, problem = read_notebook(folder, name, assignment)
    if nb is None:
        return Submission(owner, kind, problem=problem)
    units, notes = units_of(owner, _student_cells(nb, release), keep)
    return Submission(owner, kind, units, "; ".join(notes))


def collect(folder: Path, assignment: str, release, keep: set, kind: str, prefix: str = "") -> list[Submission]:
    """Every submission of the assignment in a folder laid out as submitted/ (the class, or an archive).

    Reading and normalising (most of the time for a big class) is spread over the cores; fingerprinting
    stays in this process, because copydetect hashes with Python's hash(), salted per process."""
    submissions, todo = [], []
    for name, refusal in submission_folders(folder, assignment):
        if not is_valid_student_id(name):
            submissions.append(Submission(prefix + "invalid id " + describe(name), kind, problem="refused: not a valid student id"))
        elif refusal:
            submissions.append(Submission(prefix + name, kind, problem=refusal))
        else:
            todo.append((folder, name, prefix + name, assignment, release, keep, kind))
    if len(todo) >= 40 and (os.cpu_count() or 1) > 1:
        with ProcessPoolExecutor(os.cpu_count(), mp_context=multiprocessing.get_context("fork")) as pool:
            submissions += pool.map(_read_submission, *zip(*todo), chunksize=8)
    else:
        submissions += [_read_submission(*args) for args in todo]
    return sorted(submissions, key=lambda s: s.owner)


def reference_submission(source_nb, release, keep) -> Submission:
    units, notes = units_of(REFERENCE, _student_cells(source_nb, release), keep)
    return Submission(REFERENCE, REFERENCE, units, "; ".join(notes))


# ---------------------------------------------------------------------------------- comparing


def fingerprint_of(unit: Unit, boilerplate=()) -> CodeFingerprint:
    """copydetect's winnowed fingerprints of the unit's normalised code, the template's removed."""
    return CodeFingerprint(f"{unit.owner}/{unit.name}", NOISE, GUARANTEE - NOISE + 1, boilerplate=list(boilerplate),
                           filter=False, fp=io.StringIO(unit.normalised))


def common_fingerprints(units: list[Unit], kinds: dict) -> list[int]:
    """The fingerprints that more than COMMON_SHARE of the class's students (at least COMMON_MIN_STUDENTS)
    hold: idioms, not copies."""
    students = {u.owner for u in units if kinds[u.owner] == "class"}
    limit = max(COMMON_MIN_STUDENTS, COMMON_SHARE * len(students))
    holders: dict[int, set] = {}
    for unit in units:
        if kinds[unit.owner] == "class":
            for h in unit.fingerprint.hashes:
                holders.setdefault(h, set()).add(unit.owner)
    return sorted(h for h, owners in holders.items() if len(owners) > limit)


def is_alike(left: Unit, right: Unit, similarity: float, threshold=THRESHOLD, floor=MIN_CHARACTERS) -> bool:
    """The rule, in one place for the report and the benchmark: both units at least ``floor`` normalised
    characters long, and the larger of the two shares (the share of a unit found in the other) at least
    ``threshold``."""
    return min(len(left.normalised), len(right.normalised)) >= floor and similarity >= threshold


def fingerprint(units: list[Unit], boilerplate) -> list[Unit]:
    """Fingerprint the units long enough to tell (MIN_CHARACTERS), template removed."""
    kept = []
    for unit in units:
        if len(unit.normalised) < MIN_CHARACTERS:
            continue
        unit.fingerprint = fingerprint_of(unit, boilerplate)
        if unit.fingerprint.hashes:
            kept.append(unit)
    return kept


def compare(units: list[Unit], kinds: dict, threshold: float = THRESHOLD) -> list[Match]:
    """The pairs of units (of different owners, one at least in the class) alike above the threshold.

    How many fingerprints each two units share comes from one sparse product (units x fingerprints
    times its transpose, SciPy): code written alike by many (a common line) makes counting pair by pair
    quadratic in the class. Only the pairs that share enough to possibly reach the threshold are then
    measured by copydetect's compare_files."""
    if not units:
        return []
    columns: dict[int, int] = {}
    rows, cols = [], []
    for i, unit in enumerate(units):
        for h in unit.fingerprint.hashes:
            rows.append(i)
            cols.append(columns.setdefault(h, len(columns)))
    incidence = sparse.csr_matrix((np.ones(len(rows), dtype=np.int32), (rows, cols)), shape=(len(units), len(columns)))
    shared = sparse.triu(incidence @ incidence.T, k=1).tocoo()
    sizes = np.array([len(u.fingerprint.hashes) for u in units])
    # A share of at least ``threshold`` needs about that share of the smaller unit's fingerprints; half
    # of it leaves room for winnowing's differences (compare_files measures the copied text, not counts).
    possible = shared.data >= threshold * np.minimum(sizes[shared.row], sizes[shared.col]) / 2
    matches = []
    for i, j in zip(shared.row[possible].tolist(), shared.col[possible].tolist()):
        left, right = units[i], units[j]
        if left.owner == right.owner or "class" not in (kinds[left.owner], kinds[right.owner]):
            continue
        overlap, shares, (left_slices, right_slices) = compare_files(left.fingerprint, right.fingerprint)
        # compare_files maps slices back through copydetect's own filter offsets; with filter=False there
        # are none, so the slices are in the normalised text, which Unit.source_slices maps to the source.
        similarity = float(max(shares))
        if is_alike(left, right, similarity, threshold):
            match = Match(left, right, similarity, tuple(float(s) for s in shares), int(overlap),
                          left.source_slices(left_slices), right.source_slices(right_slices))
            # The class's student on the left (the reference or archive right); two students in id order.
            if kinds[left.owner] != "class" or (kinds[right.owner] == "class" and right.owner < left.owner):
                match = match.swapped()
            matches.append(match)
    return matches


def clusters(pairs) -> list[list[str]]:
    """Connected groups of owners linked by flagged pairs (a small union-find)."""
    parent: dict[str, str] = {}

    def root(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        parent[root(a)] = root(b)
    groups: dict[str, list[str]] = {}
    for x in parent:
        groups.setdefault(root(x), []).append(x)
    return sorted((sorted(g) for g in groups.values()), key=lambda g: (-len(g), g))


# ---------------------------------------------------------------------------------- the report


def _segments(text: str, spans) -> list[tuple[str, bool]]:
    """The text cut into (piece, highlighted) for the template, which escapes every piece."""
    out, at = [], 0
    for start, end in sorted(spans):
        start = max(start, at)
        if end <= start:
            continue
        out += [(text[at:start], False), (text[start:end], True)]
        at = end
    out.append((text[at:], False))
    return [(piece, hl) for piece, hl in out if piece]


def report_folder(course_root: Path, assignment: str) -> Path:
    return course_root / "reports" / assignment / "similarity"


@dataclass
class Result:
    folder: Path
    pairs: list  # [{"left", "right", "matches": [Match], ...}]
    clusters: list
    flags: dict  # student id -> text for the table and grades.csv
    problems: list
    seconds: float
    compared: int


def template(release) -> tuple[set, list]:
    """The names the template defines (kept as written) and its code's fingerprints (boilerplate)."""
    keep = _template_names(release)
    units, _ = units_of("template", [("template", c.source) for c in release.cells if c.cell_type == "code"], keep)
    return keep, sorted({h for u in units if u.normalised for h in fingerprint_of(u).hashes})


def run(course, assignment: str, archives: list[Path] = (), threshold: float | None = None) -> Result:
    """Compare every submission of the assignment; write the report under reports/<a>/similarity/."""
    start = time.perf_counter()
    threshold = THRESHOLD if threshold is None else threshold
    release = nbformat.read(str(course.release_notebook(assignment)), as_version=4)
    keep, boilerplate = template(release)
    submissions = collect(course.root / "submitted", assignment, release, keep, "class")
    for archive in archives:
        submissions += collect(Path(archive), assignment, release, keep, "archive", prefix=f"{Path(archive).name}:")
    if course.source_notebook(assignment).is_file():
        submissions.append(reference_submission(nbformat.read(str(course.source_notebook(assignment)), as_version=4), release, keep))
    kinds = {s.owner: s.kind for s in submissions}
    units = fingerprint([u for s in submissions for u in s.units], boilerplate)
    common = common_fingerprints(units, kinds)
    if common:  # fingerprinted again without the idioms, so copydetect's shares and slices leave them out
        units = fingerprint(units, sorted(set(boilerplate) | set(common)))
    matches = compare(units, kinds, threshold)

    by_pair: dict[tuple[str, str], list[Match]] = {}
    for m in matches:
        by_pair.setdefault((m.left.owner, m.right.owner), []).append(m)
    pairs = []
    for number, ((left, right), found) in enumerate(sorted(by_pair.items(), key=lambda kv: (-max(m.similarity for m in kv[1]), kv[0])), 1):
        found.sort(key=lambda m: -m.similarity)
        pairs.append({"number": number, "left": left, "right": right, "right_kind": kinds[right], "matches": found,
                      "similarity": max(m.similarity for m in found), "shared": sum(m.shared_characters for m in found),
                      "page": f"pair-{number:03d}.html" if number <= MAX_PAGES else None})
    groups = clusters((p["left"], p["right"]) for p in pairs)
    flags = {}
    for number, group in enumerate(groups, 1):
        for owner in group:
            if kinds.get(owner) == "class":
                others = [o for o in group if o != owner]
                flags[owner] = f"cluster {number}: with {', '.join(others)}"
    problems = [(s.owner, s.problem) for s in submissions if s.problem]
    seconds = time.perf_counter() - start
    result = Result(report_folder(course.root, assignment), pairs, groups, flags, problems, seconds,
                    sum(1 for s in submissions if s.kind == "class"))
    _write(result, assignment, threshold, archives, kinds)
    return result


def _write(result: Result, assignment, threshold, archives, kinds) -> None:
    folder = result.folder
    common = {"assignment": assignment, "caveat": CAVEAT}
    for pair in result.pairs[:MAX_PAGES]:
        views = []
        for m in pair["matches"]:
            hidden = kinds[m.right.owner] == REFERENCE  # the solution key is never shown, only the student's side
            views.append({"left_name": m.left.name, "right_name": m.right.name, "similarity": m.similarity,
                          "shares": m.shares, "shared": m.shared_characters,
                          "left": _segments(m.left.source, m.left_spans),
                          "right": None if hidden else _segments(m.right.source, m.right_spans)})
        atomic_write(folder / pair["page"], TEMPLATES.get_template("similarity_pair.html").render(pair=pair, views=views, **common))
    for stale in folder.glob("pair-*.html"):
        if stale.name not in {p["page"] for p in result.pairs}:
            stale.unlink()
    atomic_write(folder / "index.html", TEMPLATES.get_template("similarity_index.html").render(
        result=result, threshold=threshold, min_characters=MIN_CHARACTERS, noise=NOISE, guarantee=GUARANTEE,
        archives=[Path(a).name for a in archives], reference=REFERENCE, max_pages=MAX_PAGES, **common))
    atomic_write(folder / "flags.json", json.dumps(result.flags, indent=1, sort_keys=True))


def load_flags(course_root: Path, assignments) -> dict[tuple[str, str], str]:
    """(student, assignment) -> the cluster a student is in, from each assignment's last similarity run,
    for the nnfs table and grades.csv. A missing or unreadable flags file means no flags, never an error."""
    flags = {}
    for assignment in assignments:
        path = report_folder(course_root, assignment) / "flags.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            flags.update({(str(s), assignment): str(text) for s, text in data.items()})
    return flags

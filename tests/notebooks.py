"""Reading source and release notebooks in tests: cells by grade id, solution and hidden regions."""

import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = re.compile(r"^[ \t]*### BEGIN SOLUTION\n(.*?)^[ \t]*### END SOLUTION\n?", re.S | re.M)
HIDDEN = re.compile(r"^### BEGIN HIDDEN TESTS\n(.*?)^### END HIDDEN TESTS\n?", re.S | re.M)


def assignments():
    return sorted(p.name for p in (ROOT / "source").iterdir() if (p / f"{p.name}.ipynb").is_file())


def read(kind, assignment):
    return nbformat.read(str(ROOT / kind / assignment / f"{assignment}.ipynb"), as_version=4)


def nbgrader_meta(cell):
    return cell.metadata.get("nbgrader", {})


def cells(nb, **flags):
    """nbgrader cells whose metadata has all the given flags, e.g. cells(nb, grade=True, solution=False)."""
    return [c for c in nb.cells if nbgrader_meta(c) and all(nbgrader_meta(c).get(k) == v for k, v in flags.items())]


def by_id(nb):
    return {nbgrader_meta(c)["grade_id"]: c for c in nb.cells if "grade_id" in nbgrader_meta(c)}


def solution_text(source):
    """The cell as the solution author wrote it, with the markers removed (what runs in the source)."""
    return re.sub(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", "", source, flags=re.M)


def autograded_functions(nb):
    """grade ids of autograded answer cells (code, solution, not graded)."""
    return [nbgrader_meta(c)["grade_id"] for c in cells(nb, solution=True, grade=False) if c.cell_type == "code"]


def copy_course(dest, with_release=True):
    """A course directory to grade in: the repository's source/, release/ and nbgrader_config.py."""
    import shutil

    from autograder.grading.orchestration.course import Course

    for name in ("source", "release") if with_release else ("source",):
        shutil.copytree(ROOT / name, dest / name)
    shutil.copy(ROOT / "nbgrader_config.py", dest / "nbgrader_config.py")
    return Course(dest)


# ------------------------------------------------------------------ end-to-end grading tests
def solution_answers(assignment):
    """grade id -> the solution of every code answer cell of the source notebook (markers removed)."""
    source = read("source", assignment)
    return {g: solution_text(c.source) for g, c in by_id(source).items() if nbgrader_meta(c).get("solution") and c.cell_type == "code"}


def as_cell(function, fn):
    """A catalogue function as a student would type it into the answer cell for `function`."""
    import inspect

    text = inspect.getsource(fn).replace(f"def {fn.__name__}(", f"def {function}(")
    return "\n".join(line for line in text.splitlines() if not line.startswith(("@", "wrong(", "right(")))


def scores_by_direct_checks(assignment, student, skip=()):
    """Per-cell scores from running the release's code cells (the student's answers in place of the answer
    cells; test cells and the grade ids in `skip` left out) in this process and calling the checks directly."""
    from autograder.assignments import spec

    declared = spec(assignment)
    namespace = {}
    for cell in read("release", assignment).cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type != "code" or not meta or meta.get("grade") or meta["grade_id"] in skip:
            continue
        exec(student.answers.get(meta["grade_id"], cell.source), namespace)
    scores = {}
    for name, check in declared.checks().items():
        try:
            scores[declared.test_cell(name)] = check(*(namespace[f] for f in check.functions))
        except AssertionError:
            scores[declared.test_cell(name)] = 0.0
    return scores


def grade_class_with(course, assignment, mutant):
    """Grade the example students, a catalogue student and the source notebook itself (as
    e2e-solution) together, with two workers; {student: result}."""
    import shutil

    from autograder.examples import build_submission, write_submissions
    from autograder.grading.orchestration import coordinator

    write_submissions(course.root, assignment)
    path = course.submitted_notebook(mutant.student_id, assignment)
    path.parent.mkdir(parents=True)
    path.write_text(build_submission(course.release_notebook(assignment), mutant))
    shutil.copytree(course.root / "source" / assignment, course.root / "submitted" / "e2e-solution" / assignment)
    results = coordinator.grade(course, assignment, jobs=2, progress=False, log=lambda *_: None)
    return {r.student: r for r in results}


def html_text(page):
    """The text of an HTML page, tags removed and entities decoded."""
    import html

    return html.unescape(re.sub(r"<[^>]+>", "", page))

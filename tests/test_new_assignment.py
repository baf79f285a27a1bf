"""A new assignment is its own files: a throwaway one, declared by a spec in a temporary folder, grades end to end.

Nothing outside the temporary folder is edited: its checks module and reference, its spec (registered in this process,
which the grading workers are forked from), its source notebook. `nnfs grade`'s path runs on it as on the
course's own assignments: release, a sandboxed kernel with the package-free stand-in, judging outside it.
"""

import textwrap

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder import assignments
from autograder.grading.orchestration import coordinator, pipeline
from notebooks import copy_course

NAME = "a9_tiny"

CHECKS = '''
import numpy as np

from autograder.checks._core import Case, Check, Failure, close
from nnfs_tiny_reference import double as reference


def _cases():
    return [Case("small", (np.array([1.0, -2.0, 3.5]),)), Case("matrix", (np.arange(6.0).reshape(2, 3),))]


def _judge(cases, outcomes, report):
    for case in cases:
        outcome = outcomes[case.name]
        if outcome.error:
            raise Failure(f"double raised on '{case.name}': {outcome.error}", mistake="double.raised")
        if not close(np.asarray(outcome.value), reference(case.args[0]), 1e-9, 1e-12):
            raise Failure(f"double({case.name}) is not twice its input: multiply by 2", mistake="double.not_doubled")


check_double = Check("double", 2, _cases, _judge)
CHECKS = {"double": check_double}
'''


def _cell(source, grade_id, **meta):
    fields = {"grade": False, "solution": False, "locked": False, "schema_version": 3, "grade_id": grade_id, **meta}
    cell = new_code_cell(source) if "markdown" not in grade_id else new_markdown_cell(source)
    cell.metadata["nbgrader"] = fields
    return cell


def _source_notebook() -> nbformat.NotebookNode:
    return new_notebook(
        cells=[
            _cell("import numpy as np", "imports", locked=True),
            _cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION", "double", solution=True),
            _cell(
                "assert double(np.array([1.0]))[0] == 2.0\n"
                "### BEGIN HIDDEN TESTS\nfrom nnfs_tiny_checks import check_double\ncheck_double(double)\n### END HIDDEN TESTS",
                "double_tests", grade=True, locked=True, points=2,
            ),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )


def _submission(release: nbformat.NotebookNode, body: str) -> str:
    nb = nbformat.from_dict(release)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "double":
            cell.source = f"def double(x):\n{textwrap.indent(body, '    ')}"
    return nbformat.writes(nb)


def test_a_throwaway_assignment_declared_by_its_spec_grades_end_to_end(tmp_path, monkeypatch):
    package = tmp_path / "own_files"
    package.mkdir()
    (package / "nnfs_tiny_checks.py").write_text(CHECKS)
    (package / "nnfs_tiny_reference.py").write_text("def double(x):\n    return 2 * x\n")
    monkeypatch.syspath_prepend(str(package))
    spec = assignments.Assignment(
        name=NAME, checks_module="nnfs_tiny_checks", test_cells={"double": "double_tests"},
        reference_module="nnfs_tiny_reference", catalogue_module="",  # no catalogue: it is thrown away after this test
    )
    monkeypatch.setattr(assignments, "_EXTRA", {NAME: spec})
    assert assignments.spec(NAME) is spec and NAME in assignments.all_specs()

    course = copy_course(tmp_path / "course")
    (course.root / "source" / NAME).mkdir(parents=True)
    nbformat.write(_source_notebook(), course.root / "source" / NAME / f"{NAME}.ipynb")
    assert course.assignments()[-1] == NAME  # a9 after a5, in course order
    pipeline.generate_release(course, NAME)
    release = nbformat.read(course.release_notebook(NAME), as_version=4)
    assert "return 2 * x" not in nbformat.writes(release)  # the solution is not released
    for student, body in {"right": "return x + x", "wrong": "return x + 1"}.items():
        folder = course.root / "submitted" / student / NAME
        folder.mkdir(parents=True)
        (folder / f"{NAME}.ipynb").write_text(_submission(release, body))

    results = {r.student: r for r in coordinator.grade(course, NAME, jobs=1, progress=False, log=lambda *_: None)}
    assert results["right"].status == results["wrong"].status == "graded"
    assert results["right"].verified and results["right"].cells["double_tests"] == (2.0, 2.0)
    # x + 1 passes the visible assert (double([1]) == 2); the hidden tests, judged here, find the mistake.
    assert results["wrong"].cells["double_tests"] == (0.0, 2.0)
    autograded = course.autograded_notebook("wrong", NAME).read_text()
    assert "multiply by 2" in autograded  # the check's message, written by the judge as the cell's error
    assert [(m["cell"], m["id"]) for m in results["wrong"].mistakes] == [("double_tests", "double.not_doubled")]
    assert "_nnfs_standin" not in autograded  # the stand-in's cell is gone again

"""Example submissions for the demo and the tests, kept as answers rather than as notebooks.

Each ``<assignment>/<student>.answers`` file holds what one student typed into the released notebook::

    ## A one-line description of the student (lines starting with '## ' are header lines)
    ## break: invalid-json          (optional: what the student did to the file itself)
    ## delete-cell: softmax_tests   (optional, repeatable)
    ## submitted: 2026-01-16 18:30:00 UTC   (optional: written as timestamp.txt, as nbgrader's exchange does)
    ### cell: relu
    def relu(x):
        return np.maximum(x, 0)

``build_submission`` fills those answers into the *current* release notebook, so the examples never go
stale when an assignment's text changes. A student with no ``### cell:`` sections submits the release
untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..files import atomic_write

HERE = Path(__file__).resolve().parent


@dataclass
class ExampleStudent:
    student_id: str
    assignment: str
    description: str
    answers: dict = field(default_factory=dict)  # grade_id -> cell source
    deleted_cells: list = field(default_factory=list)
    broken: str | None = None  # "invalid-json" or None
    submitted: str | None = None  # the submission time (timestamp.txt), or None

    @classmethod
    def parse(cls, path: Path) -> "ExampleStudent":
        header, answers, current, lines = [], {}, None, []
        for line in path.read_text().splitlines():
            if line.startswith("### cell: "):
                if current:
                    answers[current] = "\n".join(lines).strip("\n")
                current, lines = line[len("### cell: ") :].strip(), []
            elif current is None and line.startswith("## "):
                header.append(line[3:].strip())
            elif current is not None:
                lines.append(line)
        if current:
            answers[current] = "\n".join(lines).strip("\n")
        student = cls(student_id=f"example-{path.stem}", assignment=path.parent.name, description="", answers=answers)
        for item in header:
            key, _, value = item.partition(":")
            if key == "break":
                student.broken = value.strip()
            elif key == "delete-cell":
                student.deleted_cells.append(value.strip())
            elif key == "submitted":
                student.submitted = value.strip()
            else:
                student.description = (student.description + " " + item).strip()
        return student


def example_students(assignment: str | None = None) -> list[ExampleStudent]:
    folders = [HERE / assignment] if assignment else sorted(p for p in HERE.iterdir() if p.is_dir())
    return [ExampleStudent.parse(p) for folder in folders if folder.is_dir() for p in sorted(folder.glob("*.answers"))]


def build_submission(release_notebook: Path, student: ExampleStudent) -> str:
    """The text of the notebook this student would submit, starting from the release notebook."""
    nb = nbformat.read(str(release_notebook), as_version=4)
    known = {c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells}
    unknown = (set(student.answers) | set(student.deleted_cells)) - known
    if unknown:
        raise ValueError(f"{student.student_id}: no cells named {sorted(unknown)} in {release_notebook}")
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in student.answers:
            cell.source = student.answers[grade_id]
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") not in student.deleted_cells]
    text = nbformat.writes(nb)
    if student.broken == "invalid-json":
        # What a bad merge or an editor crash leaves behind: the file ends half-way through.
        text = text[: len(text) // 2]
    elif student.broken:
        raise ValueError(f"{student.student_id}: unknown break '{student.broken}'")
    return text


def write_submissions(course_root: Path, assignment: str | None = None) -> list[ExampleStudent]:
    """Write every example student's notebook to submitted/<student>/<assignment>/ under course_root."""
    students = example_students(assignment)
    for student in students:
        release = course_root / "release" / student.assignment / f"{student.assignment}.ipynb"
        target = course_root / "submitted" / student.student_id / student.assignment / f"{student.assignment}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, build_submission(release, student))
        stamp = target.with_name("timestamp.txt")
        if student.submitted:
            stamp.write_text(student.submitted + "\n")
        else:
            stamp.unlink(missing_ok=True)
    return students


ROSTER = HERE / "roster.csv"  # the example students' names, for `nnfs roster import`
DEMO_DUE = ("a1_helpers", "2026-01-15 17:00", "Europe/London")  # the demo's due date (Grace submits a1 late)


__all__ = ["ExampleStudent", "build_submission", "example_students", "write_submissions"]

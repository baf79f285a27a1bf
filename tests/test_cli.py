"""The instructor's command line: arguments and errors (grading itself is tested end to end)."""

import subprocess
import sys

import pytest

from autograder.cli import main
from notebooks import ROOT


def test_help_lists_the_commands():
    out = subprocess.run([sys.executable, "-m", "autograder", "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("demo", "release", "examples", "grade", "export", "similarity"):
        assert command in out


def test_unknown_assignment_is_a_clear_error():
    with pytest.raises(SystemExit, match="unknown assignment"):
        main(["--course", str(ROOT), "release", "a9_nothing"])


def test_a_folder_that_is_not_a_course_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--course", str(tmp_path), "export"])
    assert "is it the course root?" in capsys.readouterr().err


def test_examples_command_writes_submissions(tmp_path):
    import shutil

    for name in ("source", "release"):
        shutil.copytree(ROOT / name, tmp_path / name)
    assert main(["--course", str(tmp_path), "examples", "a1_helpers"]) == 0
    assert (tmp_path / "submitted" / "example-ada" / "a1_helpers" / "a1_helpers.ipynb").is_file()


def _folders_that_are_not_students(root):
    """A real submission beside a link to it, a real folder whose assignment folder is a link to it, and a
    folder named with markup: only the real one is a student."""
    import shutil

    from notebooks import copy_course

    course = copy_course(root)
    submitted = root / "submitted"
    real = submitted / "real-student" / "a1_helpers"
    real.mkdir(parents=True)
    shutil.copy(course.release_notebook("a1_helpers"), real / "a1_helpers.ipynb")
    (submitted / "linked-student").symlink_to(submitted / "real-student")
    (submitted / "linked-assignment").mkdir()
    (submitted / "linked-assignment" / "a1_helpers").symlink_to(real)
    hostile = submitted / "<img src=x onerror=alert(1)>" / "a1_helpers"
    hostile.mkdir(parents=True)
    shutil.copy(real / "a1_helpers.ipynb", hostile / "a1_helpers.ipynb")
    return course


def test_links_and_hostile_names_are_not_students(tmp_path):
    course = _folders_that_are_not_students(tmp_path)
    assert course.students("a1_helpers") == ["real-student"]


def test_grade_refuses_a_hostile_or_linked_student_named_on_the_command_line(tmp_path, capsys):
    """--student with markup, terminal codes, a formula, a path or a link: each refused under a safe id, nothing
    graded (the real student a path leads to included), nothing printed or exported that a terminal or a
    spreadsheet would act on."""
    import csv

    from autograder.grading.orchestration import pipeline
    from autograder.grading.orchestration.untrusted import is_valid_student_id, stand_in_id

    course = _folders_that_are_not_students(tmp_path)
    wanted = {
        "<img src=x onerror=alert(1)>": "not a valid student id",  # a folder with this name exists
        "../real-student": "not a valid student id",
        "\x1b[2J\x1b]0;owned\x07=1+1": "not a valid student id",
        "=HYPERLINK(1)": "not a valid student id",
        "linked-student": "is a link",
        "linked-assignment": "is a link",
        "nobody": "no submission folder",
    }
    argv = ["--course", str(tmp_path), "grade", "a1_helpers"]
    for name in wanted:
        argv += ["--student", name]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    for char in ("\x1b", "\x07"):
        assert char not in out + err

    record = {r.student: r for r in pipeline.load_results(course)}
    expected = {name if is_valid_student_id(name) else stand_in_id(name): why for name, why in wanted.items()}
    assert set(record) == set(expected)
    for student, why in expected.items():
        assert record[student].status == "error" and why in record[student].reason, record[student]
        assert record[student].reason.isprintable()
        assert student in out
    assert not (tmp_path / "autograded").exists() and not (tmp_path / "feedback").exists()
    with course.gradebook() as gb:
        assert gb.students == []
    with (tmp_path / "grades.csv").open(newline="") as f:
        for row in csv.reader(f):
            for cell in row:
                assert cell.isprintable() and not cell.startswith(("=", "+", "-", "@")), row

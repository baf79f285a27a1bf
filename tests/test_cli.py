"""The instructor's command line: arguments and errors (grading itself is tested end to end)."""

import subprocess
import sys

import pytest

from autograder.cli import main
from notebooks import ROOT


def test_help_lists_the_commands():
    out = subprocess.run([sys.executable, "-m", "autograder", "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("demo", "release", "examples", "grade", "export"):
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

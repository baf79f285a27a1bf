"""A full disk stops `nnfs grade` cleanly: exit code 3, a plain message, every student recorded so far kept
(grading_status.json whole, no temporary files left), and the same command, once there is space again,
grades the rest and skips what was recorded.

Where the test runs as root it grades in a real small tmpfs and fills it, so every write fails as it would
(SQLite's too); elsewhere the course's file writes fail with ENOSPC, a stand-in for it.
"""

import errno
import hashlib
import json
import os
import pathlib
import subprocess

import pytest

from autograder import cli
from autograder.checks import a1_helpers as a1_checks
from autograder.examples import write_submissions
from autograder.grading.orchestration import coordinator, pipeline
from notebooks import copy_course

A1 = "a1_helpers"
STUDENTS = ["example-ada", "example-bob", "example-carol"]
POINTS = float(sum(a1_checks.POINTS.values()))


class Disk:
    """The disk holding the course: full() and free()."""

    def __init__(self, root, monkeypatch, tmpfs):
        self.root, self.tmpfs, self.filler = root, tmpfs, root.parent / "filler"
        self.is_full = False
        if not tmpfs:
            original_text, original_bytes = pathlib.Path.write_text, pathlib.Path.write_bytes

            def refuse(original):
                def write(path, *args, **kwargs):
                    if self.is_full and path.resolve().is_relative_to(self.root):
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
                    return original(path, *args, **kwargs)

                return write

            monkeypatch.setattr(pathlib.Path, "write_text", refuse(original_text))
            monkeypatch.setattr(pathlib.Path, "write_bytes", refuse(original_bytes))

    def full(self):
        self.is_full = True
        if self.tmpfs:
            with open(self.filler, "wb", buffering=0) as f:
                for size in (1 << 20, 4096, 1):  # to the last byte tmpfs hands out
                    try:
                        while True:
                            f.write(b"\0" * size)
                    except OSError as exc:
                        assert exc.errno == errno.ENOSPC
            probe = self.root / ".probe"
            with pytest.raises(OSError):
                probe.write_text("x" * 4096)
            probe.unlink(missing_ok=True)

    def free(self):
        self.is_full = False
        self.filler.unlink(missing_ok=True)


@pytest.fixture
def disk(tmp_path, monkeypatch):
    mount = tmp_path / "disk"
    mount.mkdir()
    tmpfs = False
    if os.geteuid() == 0:
        tmpfs = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount)], capture_output=True).returncode == 0
    root = mount / "course"
    root.mkdir()
    try:
        yield Disk(root.resolve(), monkeypatch, tmpfs)
    finally:
        if tmpfs and subprocess.run(["umount", str(mount)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _files(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def _leftovers(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.name.endswith((".tmp", "-journal", "-wal")))


def _status(root):
    return {row["student"]: row for row in json.loads((root / pipeline.STATUS_FILE).read_text())}


def test_a_full_disk_stops_the_run_keeps_what_was_recorded_and_the_next_run_resumes(disk, monkeypatch, capsys):
    root = disk.root
    course = copy_course(root)
    write_submissions(root, A1)
    submitted = _files(root / "submitted")
    argv = ["--course", str(root), "grade", A1, "--jobs", "2"] + [a for s in STUDENTS for a in ("--student", s)]

    saved, merged = [], []
    save, merge = coordinator._save, coordinator.merge

    def save_then_fill(course, results):
        save(course, results)
        saved.extend(r.student for r in results)
        if len(saved) == len(results):
            disk.full()  # the first student is on record; then the disk fills up

    def merge_spy(course, assignment, payload):
        merged.append(payload.result.student)
        return merge(course, assignment, payload)

    monkeypatch.setattr(coordinator, "_save", save_then_fill)
    monkeypatch.setattr(coordinator, "merge", merge_spy)

    assert cli.main(argv) == 3
    out, err = capsys.readouterr()
    assert "disk" in err and "full" in err and "run the same command again" in err, err
    assert "Traceback" not in err + out, err
    first = saved[0]
    status = _status(root)  # valid JSON, holding the first student as recorded
    assert list(status) == [first] and status[first]["status"] == "graded", status
    assert _leftovers(root) == [], "temporary files left behind"
    assert _files(root / "submitted") == submitted  # nobody's submission touched
    recorded = dict(status[first])

    disk.free()
    merged.clear()
    code = cli.main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert sorted(merged) == sorted(set(STUDENTS) - {first}), merged  # the rest graded, the recorded one skipped
    status = _status(root)
    assert sorted(status) == sorted(STUDENTS) and all(r["status"] == "graded" for r in status.values()), status
    assert status[first]["seconds"] == recorded["seconds"] and status[first]["digest"] == recorded["digest"]
    assert status["example-ada"]["score"] == POINTS and status["example-carol"]["score"] == 0.0
    with course.gradebook() as gb:
        assert {s.id for s in gb.students} == set(STUDENTS)
        assert gb.find_submission(A1, "example-ada").score == POINTS
    assert _leftovers(root) == []
    assert (root / "grades.csv").is_file() and "example-bob" in out


def _merge_writes_fail_for(student):
    """merge's own writes (the autograded notebook, the feedback page) fail with ENOSPC for one student: a
    disk with room for the small status file but not for a feedback page."""
    original = coordinator.atomic_write

    def write(path, text):
        if student in path.parts:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return original(path, text)

    return write


def test_a_result_that_does_not_fit_is_not_recorded_as_that_students_error(tmp_path, monkeypatch, capsys):
    """The status file may still fit where a feedback page does not: the student must not be recorded as an
    error (an error on record is not graded again), the run stops as for any full disk, the next run grades them."""
    course = copy_course(tmp_path)
    write_submissions(tmp_path, A1)
    argv = ["--course", str(tmp_path), "grade", A1, "--jobs", "1", "--student", "example-ada"]
    monkeypatch.setattr(coordinator, "atomic_write", _merge_writes_fail_for("example-ada"))

    assert cli.main(argv) == 3
    out, err = capsys.readouterr()
    assert "full" in err and "Traceback" not in err + out, err
    assert not (tmp_path / pipeline.STATUS_FILE).exists() or "example-ada" not in _status(tmp_path)
    assert _leftovers(tmp_path) == []

    monkeypatch.undo()
    assert cli.main(argv) == 0
    assert _status(tmp_path)["example-ada"]["status"] == "graded"
    assert course.feedback_html("example-ada", A1).is_file()

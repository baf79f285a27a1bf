"""A grading run that stopped half-way is finished by the next one, without regrading what was done."""

from autograder.examples import write_submissions
from autograder.grading.orchestration import coordinator, pipeline
from notebooks import copy_course

A1 = "a1_helpers"


def _grade(course, students=None):
    return coordinator.grade(course, A1, students, jobs=2, progress=False, log=lambda *_: None)


def test_rerun_grades_only_what_is_missing_or_changed(tmp_path):
    course = copy_course(tmp_path)
    write_submissions(tmp_path, A1)
    everyone = course.students(A1)

    first = _grade(course, ["example-ada", "example-carol"])  # as if the run had been killed here
    assert {r.student for r in first} == {"example-ada", "example-carol"}

    second = _grade(course)
    assert {r.student for r in second} == set(everyone) - {"example-ada", "example-carol"}

    notebook = course.submitted_notebook("example-carol", A1)
    notebook.write_text(notebook.read_text().replace("YOUR ANSWER HERE", "1. I worked alone.", 1))  # a resubmission
    third = _grade(course)
    assert [r.student for r in third] == ["example-carol"]

    record = {r.student: r for r in pipeline.load_results(course)}
    assert set(record) == set(everyone)
    assert record["example-ada"].score == 10.0 and record["example-dan"].status == "error"
    assert "integrity declaration left blank" not in record["example-carol"].notes
    with course.gradebook() as gb:  # the course gradebook holds every graded student, readable
        assert gb.find_submission(A1, "example-ada").score == 10.0


def _worker_dies_on_bob(task):
    """A worker process that dies (as if killed by the OOM killer) while grading example-bob."""
    import os

    from autograder.grading.orchestration.worker import grade_task

    if task.student == "example-bob":
        os._exit(1)
    return grade_task(task)


def test_a_dead_worker_process_costs_only_its_own_student(tmp_path, monkeypatch):
    course = copy_course(tmp_path)
    write_submissions(tmp_path, A1)
    # Pool workers are forked, so they run this module's stand-in (found by reference to this module).
    monkeypatch.setattr(coordinator, "grade_task", _worker_dies_on_bob)
    results = {r.student: r for r in _grade(course, ["example-ada", "example-bob", "example-carol"])}

    assert results["example-bob"].status == "error"
    assert "crashed twice" in results["example-bob"].reason
    assert results["example-ada"].status == "graded" and results["example-ada"].score == 10.0
    assert results["example-carol"].status == "graded"
    record = {r.student: r.status for r in pipeline.load_results(course)}
    assert record == {"example-ada": "graded", "example-bob": "error", "example-carol": "graded"}

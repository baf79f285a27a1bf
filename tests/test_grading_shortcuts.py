"""The grader's shortcuts around nbgrader's slow paths give exactly what nbgrader gives.

Each shortcut exists for speed (benchmarks/bench_grading.py): the template's gradebook is made without
nbgrader's `alembic heads` subprocess, and feedback HTML comes from an exporter whose compiled
templates outlive one notebook.
"""

import json
import sqlite3

from autograder.examples import write_submissions
from autograder.grading import coordinator, pipeline
from notebooks import copy_course

A1 = "a1_helpers"


def _schema(path):
    with sqlite3.connect(path) as db:
        tables = db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").fetchall()
        version = db.execute("SELECT version_num FROM alembic_version").fetchall()
    return tables, version


def _assignment(course_or_path, assignment):
    from nbgrader.api import Gradebook

    url = course_or_path.gradebook_url if hasattr(course_or_path, "gradebook_url") else f"sqlite:///{course_or_path}"
    with Gradebook(url) as gb:
        found = gb.find_assignment(assignment)
        return [
            (nb.name, sorted((c.name, c.max_score, c.cell_type) for c in nb.grade_cells), sorted(c.name for c in nb.source_cells))
            for nb in found.notebooks
        ]


def test_template_gradebook_is_the_one_nbgrader_makes(tmp_path):
    course = copy_course(tmp_path / "course")
    pipeline.generate_release(course, A1)  # nbgrader's own new gradebook (it runs `alembic heads`)
    template = coordinator.make_template(course, A1)
    made = tmp_path / "template.db"
    made.write_bytes(template.gradebook)

    assert _schema(made) == _schema(course.gradebook_path)
    assert _assignment(made, A1) == _assignment(course, A1)


def test_feedback_is_what_nbgrader_generate_feedback_writes(tmp_path):
    course = copy_course(tmp_path)
    write_submissions(tmp_path, A1)
    # One worker, two notebooks: the second one's feedback comes from templates compiled for the first.
    results = coordinator.grade(course, A1, ["example-ada", "example-bob"], jobs=1, progress=False, log=lambda *_: None)
    assert [r.status for r in results] == ["graded", "graded"]
    ours = {s: course.feedback_html(s, A1).read_text() for s in ("example-ada", "example-bob")}

    for student, html in ours.items():
        done = course.api().generate_feedback(A1, student, force=True)  # from the merged autograded notebook
        assert done["success"], done.get("log")
        assert course.feedback_html(student, A1).read_text() == html, student


def test_sandboxed_kernels_read_the_prebuilt_matplotlib_font_cache(tmp_path):
    """A sandbox's /tmp starts empty; without the copied cache every kernel rebuilt it (about 0.25 s)."""
    import pytest
    from nbformat.v4 import new_code_cell, new_notebook
    from traitlets.config import Config

    from autograder.grading import warm
    from autograder.grading.sandbox import Limits

    sandbox, kernel = warm.start_now(tmp_path / "k", Limits(), False)
    try:
        if sandbox.isolation != "bwrap":
            pytest.skip("no bubblewrap here: kernels use the user's own matplotlib folder")
        # The cache is copied (forked kernels) or bound read-only (kernels started anew) into the sandbox's
        # own /tmp: the kernel itself checks that pyplot's import left it as it was.
        listing = "{n: os.stat('/tmp/matplotlib/' + n).st_mtime_ns for n in os.listdir('/tmp/matplotlib')}"
        nb = new_notebook(cells=[new_code_cell(
            f"import os\nbefore = {listing}\nimport matplotlib, matplotlib.pyplot as plt\n"
            f"print(matplotlib.get_cachedir())\nprint(bool(before) and before == {listing})"
        )])
        config = Config()
        sandbox.configure(config)
        warm.WarmExecute(config=config, kernel=kernel).preprocess(nb, {"metadata": {"path": str(sandbox.scratch)}})
    finally:
        sandbox.close()
    assert "".join(o.get("text", "") for o in nb.cells[0].outputs).split() == ["/tmp/matplotlib", "True"]  # read, not rebuilt


def test_a_worker_without_a_sandbox_refuses_unless_allowed(monkeypatch):
    """A worker (a cluster's, say) where bubblewrap cannot run refuses to run a student's code unless the
    task allows it (the local pool, after the instructor's warning; a cluster with --allow-unsandboxed),
    and a result graded without a sandbox says so."""
    from autograder.grading import sandbox, worker
    from autograder.grading.sandbox import Support

    monkeypatch.setattr(sandbox, "_SUPPORT", Support(False, None, ["bubblewrap (bwrap) is not installed"]))
    template = worker.Template(assignment="a1_helpers", config_text="", gradebook=b"", release_notebook="{}")
    task = worker.Task(template, "example-ada", b"{}")
    payload = worker.grade_task(task)
    result = payload["result"]
    assert result["status"] == "error" and "no sandbox" in result["reason"] and result["isolation"] == "none"
    assert "--allow-unsandboxed" in result["reason"]


def test_judging_outside_the_kernel_gives_the_scores_the_checks_give_inside(tmp_path):
    """`nnfs grade` (stand-in in the kernel, judged in the grader) and `--no-verify` (the package's checks
    judging in the kernel, as under plain nbgrader) give every cell the same score for honest work and
    realistic mistakes; only the first is marked as judged outside."""
    course = copy_course(tmp_path)
    write_submissions(tmp_path, A1)
    students = ["example-ada", "example-bob", "example-grace"]
    quiet = dict(jobs=1, progress=False, log=lambda *_: None)
    outside = {r.student: r for r in coordinator.grade(course, A1, students, **quiet)}
    inside = {r.student: r for r in coordinator.grade(course, A1, students, verify=False, force=True, **quiet)}
    for student in students:
        assert outside[student].cells == inside[student].cells, student
        assert outside[student].verified and not inside[student].verified
    assert outside["example-bob"].score < outside["example-ada"].score == 10.0
    # Mistake ids come back only from judging outside (inside, only printed text would): none for honest work.
    assert outside["example-ada"].mistakes == [] and all(r.mistakes == [] for r in inside.values())
    assert {(m["cell"], m["id"], m["points_lost"]) for m in outside["example-bob"].mistakes} == BOB_MISTAKES


# example-bob's a1 (autograder/examples/a1_helpers/bob.answers): (cell, mistake id, points lost). Three of his cells
# stop at a visible assert, before their hidden tests run: their id says so, not which mistake it was.
BOB_MISTAKES = {
    ("relu_tests", "relu.modified_input", 0.5),
    ("softmax_tests", "softmax.no_max_shift", 1.5),
    ("average_ce_tests", "average_ce.cell_failed_before_hidden_tests", 2.0),
    ("grad_ce_tests", "grad_ce.cell_failed_before_hidden_tests", 2.0),
    ("accuracy_tests", "accuracy.cell_failed_before_hidden_tests", 1.0),
}


def test_mistakes_are_stored_with_the_result_and_an_older_status_file_still_loads(tmp_path):
    """The coordinator keeps each result's mistakes in grading_status.json (not only in memory), with the cell, the
    check, the id, the points lost and the message; a grading_status.json written before mistakes existed loads."""
    course = copy_course(tmp_path)
    write_submissions(tmp_path, A1)
    coordinator.grade(course, A1, ["example-bob"], jobs=1, progress=False, log=lambda *_: None)
    (stored,) = [row for row in json.loads((course.root / pipeline.STATUS_FILE).read_text()) if row["student"] == "example-bob"]
    assert {(m["cell"], m["id"], m["points_lost"]) for m in stored["mistakes"]} == BOB_MISTAKES
    softmax = next(m for m in stored["mistakes"] if m["cell"] == "softmax_tests")
    assert softmax["function"] == "softmax" and "Subtract each row's maximum" in softmax["message"]
    assert sum(m["points_lost"] for m in stored["mistakes"]) == stored["max_score"] - stored["score"]

    del stored["mistakes"]  # as an older grader wrote it
    (course.root / pipeline.STATUS_FILE).write_text(json.dumps([stored]))
    (old,) = pipeline.load_results(course)
    assert old.mistakes == [] and old.score == stored["score"]

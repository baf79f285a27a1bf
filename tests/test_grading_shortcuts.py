"""The grader's shortcuts around nbgrader's slow paths give exactly what nbgrader gives.

Each shortcut exists for speed (benchmarks/bench_grading.py): the template's gradebook is made without
nbgrader's `alembic heads` subprocess, and feedback HTML comes from an exporter whose compiled
templates outlive one notebook.
"""

import json
import sqlite3

from autograder.assignments import all_specs
from autograder.examples import write_submissions
from autograder.grading.orchestration import coordinator, pipeline
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
        # The same document: nbconvert's own pages go through BeautifulSoup once more (feedback.py says why ours
        # skip that where it finds nothing to change), which re-spaces the markup; read both as it reads them.
        assert "<img" not in html.lower()
        assert _as_parsed(course.feedback_html(student, A1).read_text()) == _as_parsed(html), student


def _as_parsed(html: str) -> str:
    from bs4 import BeautifulSoup

    return str(BeautifulSoup(html, features="html.parser"))


def test_feedback_pages_with_images_still_get_nbconverts_alt_text():
    from autograder.grading.orchestration.feedback import _soup_where_it_changes_something
    from bs4 import BeautifulSoup

    parse = _soup_where_it_changes_something(BeautifulSoup)
    plain = "<html><body><pre>x &lt;img&gt; y</pre></body></html>"
    assert str(parse(plain, features="html.parser")) == plain and parse(plain).select("img:not([alt])") == []
    for page in ('<html><body><IMG src="data:image/png;base64,AA"></body></html>',
                 '<html><body><div class="jp-Notebook"><div class="jp-Cell-inputWrapper">x</div></div></body></html>'):
        soup = parse(page, features="html.parser")
        assert isinstance(soup, BeautifulSoup)  # nbconvert's pass runs: alt text and tabindex as it gives them
    assert len(parse('<p><img src="x"><img alt="kept" src="y"></p>', features="html.parser").select("img:not([alt])")) == 1


def test_sandboxed_kernels_read_the_prebuilt_matplotlib_font_cache(tmp_path):
    """A sandbox's /tmp starts empty; without the copied cache every kernel rebuilt it (about 0.25 s)."""
    import pytest
    from nbformat.v4 import new_code_cell, new_notebook
    from traitlets.config import Config

    from autograder.grading.isolation import kernels as warm
    from autograder.grading.isolation.sandbox import Limits

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
        warm.SandboxedExecute(config=config, kernel=kernel).preprocess(nb, {"metadata": {"path": str(sandbox.scratch)}})
    finally:
        sandbox.close()
    assert "".join(o.get("text", "") for o in nb.cells[0].outputs).split() == ["/tmp/matplotlib", "True"]  # read, not rebuilt


def test_a_worker_without_a_sandbox_refuses_unless_allowed(monkeypatch):
    """A worker (a cluster's, say) where bubblewrap cannot run refuses to run a student's code unless the
    task allows it (the local pool, after the instructor's warning; a cluster with --allow-unsandboxed),
    and a result graded without a sandbox says so."""
    from autograder.grading.isolation import sandbox
    from autograder.grading.orchestration import worker
    from autograder.grading.isolation.sandbox import Support

    monkeypatch.setattr(sandbox, "_SUPPORT", Support(False, None, ["bubblewrap (bwrap) is not installed"]))
    template = worker.Template(assignment="a1_helpers", config_text="", gradebook=b"", release_notebook="{}")
    task = worker.Task(template, "example-ada", b"{}")
    payload = worker.grade_task(task)
    result = payload.result
    assert result.status == "error" and "no sandbox" in result.reason and result.isolation == "none"
    assert "--allow-unsandboxed" in result.reason


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


def test_cached_metadata_check_refuses_what_nbgraders_refuses(tmp_path):
    """autograder.preprocessors.metadata.CheckCellMetadata (its schema validator compiled once) accepts and
    refuses the same notebooks as nbgrader's CheckCellMetadata, with the same error."""
    import copy

    import nbformat
    from nbgrader.preprocessors import CheckCellMetadata as Nbgrader

    from autograder.preprocessors.metadata import CheckCellMetadata as Cached

    course = copy_course(tmp_path)
    release = nbformat.read(course.release_notebook(A1), as_version=4)
    graded = next(i for i, c in enumerate(release.cells) if c.metadata.get("nbgrader", {}).get("grade"))

    def broken(change):
        nb = copy.deepcopy(release)
        change(nb.cells[graded].metadata["nbgrader"], nb)
        return nb

    cases = {
        "release": release,
        "points not a number": broken(lambda m, nb: m.__setitem__("points", "ten")),
        "grade_id missing": broken(lambda m, nb: m.pop("grade_id")),
        "unknown key": broken(lambda m, nb: m.__setitem__("surprise", 1)),
        "old schema": broken(lambda m, nb: m.__setitem__("schema_version", 1)),
        "newer schema": broken(lambda m, nb: m.__setitem__("schema_version", 99)),
        "duplicate grade id": broken(lambda m, nb: nb.cells.append(copy.deepcopy(nb.cells[graded]))),
    }
    for name, nb in cases.items():
        outcomes = []
        for check in (Nbgrader(), Cached()):
            try:
                check.preprocess(copy.deepcopy(nb), {})
                outcomes.append("accepted")
            except Exception as exc:  # noqa: BLE001  (the point is to compare what each raises)
                outcomes.append((type(exc).__name__, str(exc)))
        assert outcomes[0] == outcomes[1], name
        assert (outcomes[1] == "accepted") == (name == "release"), name  # each broken case is refused


def test_gradebooks_sharing_an_engine_record_what_nbgrader_records(tmp_path):
    """Inside grading's shared_engines() (one SQLAlchemy engine per gradebook file, tables checked once),
    nbgrader's own autograde writes the same grade and comment rows as without it."""
    from autograder.grading.orchestration.gradebook_engines import shared_engines

    rows = []
    for shared in (False, True):
        course = copy_course(tmp_path / f"shared-{shared}")
        write_submissions(course.root, A1)
        pipeline.generate_release(course, A1)
        if shared:
            with shared_engines():
                done = course.api().autograde(A1, "example-bob", force=True, create=True)
        else:
            done = course.api().autograde(A1, "example-bob", force=True, create=True)
        assert done["success"], done.get("log")
        with course.gradebook() as gb:
            submission = gb.find_submission(A1, "example-bob")
            rows.append((
                sorted((g.name, g.auto_score, g.needs_manual_grade) for nb in submission.notebooks for g in nb.grades),
                sorted((c.name, c.auto_comment) for nb in submission.notebooks for c in nb.comments),
            ))
    assert rows[0] == rows[1]
    scores = [score for _, score, _ in rows[0][0] if score is not None]
    assert len(scores) >= 6 and 0 < sum(scores) < 10  # Bob's realistic mistakes: some points, not all


def test_a_run_over_several_assignments_queues_the_longest_first():
    from autograder.grading.orchestration.pipeline import StudentResult

    previous = {
        ("ada", "a4_mnist"): StudentResult("ada", "a4_mnist", seconds=30.0),
        ("bob", "a4_mnist"): StudentResult("bob", "a4_mnist", seconds=10.0),
        ("ada", "a5_cnn"): StudentResult("ada", "a5_cnn", seconds=60.0),
    }
    assert coordinator._expected_seconds(previous, "ada", "a5_cnn") == 60.0  # its own last run
    assert coordinator._expected_seconds(previous, "carol", "a4_mnist") == 30.0  # the assignment's median
    # Nothing known from a run: the spec's figure, so a first run of a4 and a5 starts a5's (the longest) first.
    assert coordinator._expected_seconds(previous, "carol", "a1_helpers") == all_specs()["a1_helpers"].expected_seconds
    assert coordinator._expected_seconds({}, "ada", "a5_cnn") > coordinator._expected_seconds({}, "ada", "a4_mnist") > 0
    assert coordinator._expected_seconds({}, "ada", "a9_unknown") == 0.0


def test_several_assignments_graded_in_one_pool(tmp_path):
    """`nnfs grade a1_helpers a2_backprop`: one pool for both; each result is merged into its own assignment."""
    course = copy_course(tmp_path)
    for a in (A1, "a2_backprop"):
        write_submissions(tmp_path, a)
    results = coordinator.grade(course, [A1, "a2_backprop"], ["example-ada"], jobs=2, progress=False, log=lambda *_: None)
    assert sorted((r.assignment, r.status) for r in results) == [(A1, "graded"), ("a2_backprop", "graded")]
    by_assignment = {r.assignment: r for r in results}
    assert by_assignment[A1].score == 10.0
    assert "grad_wrt_wh_tests" in by_assignment["a2_backprop"].cells and "grad_wrt_wh_tests" not in by_assignment[A1].cells
    assert "softmax_tests" in by_assignment[A1].cells and "softmax_tests" not in by_assignment["a2_backprop"].cells
    for a in (A1, "a2_backprop"):
        assert course.autograded_notebook("example-ada", a).is_file() and course.feedback_html("example-ada", a).is_file()


def test_a_process_forked_inside_shared_engines_gets_nbgraders_own_gradebook():
    import os

    from nbgrader import api

    from autograder.grading.orchestration.gradebook_engines import shared_engines

    original = api.Gradebook.__init__
    with shared_engines():
        assert api.Gradebook.__init__ is not original
        pid = os.fork()
        if pid == 0:  # the child: nbgrader's own __init__, and a block of its own does not wait on the parent's lock
            ok = api.Gradebook.__init__ is original
            with shared_engines():
                ok = ok and api.Gradebook.__init__ is not original
            os._exit(0 if ok and api.Gradebook.__init__ is original else 1)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert api.Gradebook.__init__ is original



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


def test_a_workers_tasks_share_one_gradebook_engine_and_keep_their_own_records(tmp_path):
    """Every task of a worker makes its throwaway course at the same place, so its gradebook keeps one engine
    (queries compiled once); each task still reads and writes its own gradebook file, never the last one's."""
    from autograder.grading.orchestration import worker
    from autograder.grading.isolation.sandbox import Limits

    course = copy_course(tmp_path)
    write_submissions(tmp_path, A1)
    template = coordinator.make_template(course, A1)
    scores = {}
    for student in ("example-ada", "example-bob", "example-ada"):
        notebook = (course.root / "submitted" / student / A1 / f"{A1}.ipynb").read_bytes()
        done = worker.grade_task(worker.Task(template, student, notebook, Limits(), allow_unsandboxed=True))
        scores.setdefault(student, []).append((done.result.score, sorted(done.grades)))
    assert len(worker._ENGINES) == 1
    assert scores["example-ada"][0] == scores["example-ada"][1] and scores["example-ada"][0][0] == 10.0
    assert scores["example-bob"][0][0] == 3.0 and scores["example-bob"][0][1] == scores["example-ada"][0][1]

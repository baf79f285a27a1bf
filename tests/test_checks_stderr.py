"""Warnings in test cells: shown to the student as text, never a 0 for a correct function (no cell ever passes by it).

nbgrader scores a test cell 0 when it has any stderr output. The hidden checks capture what the student's code writes,
but the visible asserts call it directly, so a correct function that makes numpy warn zeroed its cell. The course's
autograde steps (nbgrader_config.py) run ``autograder.preprocessors.StderrAsText`` right after Execute; these tests
run it on cells, and plain ``nbgrader autograde`` on a copy of the course with realistic warning-raising code.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.utils import determine_grade

from autograder.assignments import spec
from autograder.checks import a1_helpers as a1_checks
from autograder.examples import ExampleStudent, build_submission
from autograder.preprocessors import StderrAsText
from notebooks import ROOT, by_id, nbgrader_meta, read, solution_text

A1 = "a1_helpers"


def _cell(*outputs, grade=True, solution=False, points=2):
    return nbformat.from_dict({
        "cell_type": "code", "execution_count": 1, "source": "", "outputs": list(outputs),
        "metadata": {"nbgrader": {"grade": grade, "solution": solution, "points": points, "grade_id": "t", "locked": True}},
    })


def _stream(text, name="stderr"):
    return {"output_type": "stream", "name": name, "text": text}


def _result(text):
    return {"output_type": "execute_result", "data": {"text/plain": text}, "metadata": {}, "execution_count": 1}


def _error(ename="AssertionError", evalue="relu gave [0. 0. 3.]"):
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": [f"{ename}: {evalue}"]}


def _run(cell):
    out, _ = StderrAsText().preprocess_cell(cell, {}, 0)
    return out


WARNING = "/tmp/ipykernel_1/123.py:3: DeprecationWarning: Passing more than 2 positional arguments to np.maximum\n  np.maximum(x, 0, out)\n"


def test_a_warning_becomes_prefixed_text_and_the_cell_keeps_its_points():
    cell = _cell(_stream(WARNING), _stream("relu: visible tests passed\n", "stdout"))
    assert determine_grade(cell) == (0, 2.0)  # the trap
    out = _run(cell)
    assert [o["name"] for o in out.outputs] == ["stdout", "stdout"]
    assert out.outputs[0]["text"] == "".join("[stderr] " + line + "\n" for line in WARNING.splitlines())
    assert determine_grade(out) == (2.0, 2.0)


def test_partial_credit_after_a_warning_is_still_read():
    out = _run(_cell(_stream(WARNING), _stream("-0.5 points: ...\n", "stdout"), _result("1.5")))
    assert determine_grade(out) == (1.5, 2.0)


def test_lines_split_across_chunks_get_one_prefix():
    out = _run(_cell(_stream("UserWarning: sha"), _stream("pes differ\nsecond line\n")))
    assert "".join(o["text"] for o in out.outputs) == "[stderr] UserWarning: shapes differ\n[stderr] second line\n"


@pytest.mark.parametrize(
    "outputs",
    [
        [_stream(WARNING), _error()],  # a failed visible assert after a warning
        [_error("Failure", "relu returned None"), _stream(WARNING)],  # a hidden check's Failure
        [_error("CellTimeoutError", "No reply from kernel before timeout")],
        [_stream("Traceback (most recent call last):\n  File ...\nAssertionError: wrong\n"), _result("2.0")],  # print_exc()
        [_stream(WARNING), _stream("Trace"), _stream("back (most recent call last):\n"), _stream("ValueError: x\n")],
        [_stream("F\n======\nFAIL: test_relu\nTraceback (most recent call last):\n ...\nFAILED (failures=1)\n")],  # unittest
    ],
    ids=["assert-after-warning", "check-failure", "timeout", "print-exc", "traceback-in-chunks", "unittest"],
)
def test_a_failing_cell_still_scores_zero(outputs):
    cell = _cell(*outputs)
    assert determine_grade(cell)[0] == 0
    assert determine_grade(_run(cell))[0] == 0


def test_a_traceback_on_stderr_is_left_exactly_as_it_was():
    outputs = [_stream(WARNING), _stream("Traceback (most recent call last):\n  ...\nKeyError: 'w'\n")]
    assert _run(_cell(*outputs)).outputs == _cell(*outputs).outputs


@pytest.mark.parametrize("grade, solution", [(False, True), (True, True), (False, False)], ids=["answer", "manual", "read-only"])
def test_only_autograded_test_cells_are_touched(grade, solution):
    cell = _cell(_stream(WARNING), grade=grade, solution=solution)
    assert _run(cell).outputs[0]["name"] == "stderr"


def test_it_runs_right_after_execute_in_the_course_config():
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    steps = list(config.Autograde.autograde_preprocessors)
    assert steps[steps.index("nbgrader.preprocessors.Execute") + 1] == "autograder.preprocessors.StderrAsText"


# ------------------------------------------------------------------------- plain nbgrader autograde

# Correct functions a student could well write, each of which writes to stderr while the visible asserts run:
# numpy 2 deprecations (a positional out, a deprecated alias) and a debugging print.
WARNING_BUT_RIGHT = {
    "relu": '''def relu(x):
    out = np.empty_like(x)
    np.maximum(x, 0, out)  # DeprecationWarning: a positional out
    return out''',
    "softmax": '''def softmax(x):
    rows = []
    for row in x:
        e = np.exp(row - row.max())
        rows.append(e / e.sum())
    return np.row_stack(rows)  # DeprecationWarning: row_stack is an alias of vstack''',
    "grad_ce": '''import sys

def grad_ce(target, logits):
    print("grad_ce: logits", logits.shape, file=sys.stderr)  # left in from debugging
    return (softmax(logits) - target) / target.shape[0]''',
}
# Wrong functions that warn the same way: they must still score 0.
WARNING_AND_WRONG = {
    "relu": '''def relu(x):
    out = np.empty_like(x)
    np.maximum(x, 0.01 * x, out)  # leaky: wrong for this course
    return out''',
    "grad_ce": '''import sys

def grad_ce(target, logits):
    print("grad_ce: logits", logits.shape, file=sys.stderr)
    return softmax(logits) - target  # the 1/N is missing''',
}


@pytest.fixture(scope="module")
def autograded(tmp_path_factory):
    """A copy of the course's a1 (source and nbgrader_config.py) released and autograded by plain nbgrader."""
    course = tmp_path_factory.mktemp("plain-nbgrader")
    shutil.copytree(ROOT / "source" / A1, course / "source" / A1)
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    venv_bin = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTHONWARNINGS", None)  # the kernel must warn as a student's does

    def nbgrader(*args):
        run = subprocess.run([str(venv_bin / "nbgrader"), *args], cwd=course, env=env, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    nbgrader("generate_assignment", A1, "--force")
    source = {g: solution_text(c.source) for g, c in by_id(read("source", A1)).items()
              if nbgrader_meta(c).get("solution") and c.cell_type == "code"}
    for student, answers in (("warns-right", WARNING_BUT_RIGHT), ("warns-wrong", WARNING_AND_WRONG)):
        path = course / "submitted" / student / A1 / f"{A1}.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text(build_submission(course / "release" / A1 / f"{A1}.ipynb", ExampleStudent(student, A1, "", {**source, **answers})))
    nbgrader("autograde", A1)

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        scores = {s: {g.name: g.score for g in gb.find_submission_notebook(A1, A1, s).grades if g.name.endswith("_tests")}
                  for s in ("warns-right", "warns-wrong")}
    notebooks = {s: by_id(nbformat.read(str(course / "autograded" / s / A1 / f"{A1}.ipynb"), as_version=4))
                 for s in ("warns-right", "warns-wrong")}
    return scores, notebooks


def _texts(cell, name):
    return "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream" and o.get("name") == name)


def test_correct_functions_that_warn_get_full_marks_and_see_the_warning(autograded):
    scores, notebooks = autograded
    full = {spec(A1).test_cell(name): float(points) for name, points in a1_checks.POINTS.items()}
    assert scores["warns-right"] == full
    cells = notebooks["warns-right"]
    for name, words in (("relu", "DeprecationWarning: Passing more than 2 positional arguments"),
                        ("softmax", "DeprecationWarning: `row_stack` alias is deprecated"), ("grad_ce", "grad_ce: logits (")):
        cell = cells[spec(A1).test_cell(name)]
        assert _texts(cell, "stderr") == ""
        assert "[stderr] " in _texts(cell, "stdout") and words in _texts(cell, "stdout"), cell.outputs
        assert f"{name}: visible tests passed" in _texts(cell, "stdout")


def test_wrong_functions_that_warn_still_score_zero(autograded):
    scores, notebooks = autograded
    assert scores["warns-wrong"]["relu_tests"] == 0 and scores["warns-wrong"]["grad_ce_tests"] == 0
    assert scores["warns-wrong"]["softmax_tests"] == a1_checks.POINTS["softmax"]  # the reference, untouched
    for name in ("relu", "grad_ce"):
        cell = notebooks["warns-wrong"][spec(A1).test_cell(name)]
        assert any(o["output_type"] == "error" for o in cell.outputs)
        assert "[stderr] " in _texts(cell, "stdout")  # the warning is shown there too

"""End to end through nbgrader: release, the example students, mutants in real notebooks, a broken file.

One course directory (a copy of the repository's course files in a temporary folder) is released and
graded once per test session; the tests read what that run produced.
"""

import inspect
import json
import shutil

import nbformat
import numpy as np
import pytest

import catalogue_a1
from autograder.assignments import spec
from autograder.checks import a1_helpers as a1_checks
from autograder.checks import a2_backprop as a2_checks
from autograder.checks import a3_moons as a3_checks
from autograder.examples import ExampleStudent, build_submission, example_students, write_submissions
from autograder.grading.orchestration import coordinator, pipeline
from notebooks import ROOT, by_id, nbgrader_meta, solution_text

A1 = "a1_helpers"
A2 = "a2_backprop"
A3 = "a3_moons"
A1_FUNCTIONS = list(a1_checks.POINTS)
FULL = {spec(A1).test_cell(name): float(points) for name, points in a1_checks.POINTS.items()} | {"integrity": 0.0}
A2_AUTO = {spec(A2).test_cell(name): float(points) for name, points in a2_checks.POINTS.items()}
A2_MANUAL = {"deriv_softmax_jacobian": 2.0, "deriv_dl_do": 1.0, "deriv_param_grads": 4.0}
A3_AUTO = {spec(A3).test_cell(name): float(points) for name, points in a3_checks.POINTS.items()}

# The grades the bundled examples must get, cell by cell (the demo prints these).
EXPECTED_EXAMPLES = {
    "example-ada": FULL,
    "example-grace": FULL,
    "example-eve": FULL,
    "example-heidi": FULL,  # right: copied from grace (the similarity report's example pair)
    "example-carol": {k: 0.0 for k in FULL},
    "example-bob": FULL
    | {"relu_tests": 0.5, "softmax_tests": 1.5, "average_ce_tests": 0.0, "grad_ce_tests": 0.0, "accuracy_tests": 0.0},
}


def _reference_answers():
    source = nbformat.read(str(ROOT / "source" / A1 / f"{A1}.ipynb"), as_version=4)
    return {g: solution_text(c.source) for g, c in by_id(source).items() if nbgrader_meta(c).get("solution") and c.cell_type == "code"}


def _as_cell(function, fn):
    """A catalogue function as a student would type it into the cell for `function`."""
    text = inspect.getsource(fn).replace(f"def {fn.__name__}(", f"def {function}(")
    text = "\n".join(line for line in text.splitlines() if not line.startswith("@"))
    helpers = inspect.getsource(catalogue_a1._stable_softmax) if "_stable_softmax" in text else ""
    return "import math\n\n" + helpers + "\n" + text


def _catalogue_student(student_id, picks):
    answers = _reference_answers()
    for function, fn in picks:
        answers[function] = _as_cell(function, fn)
    return ExampleStudent(student_id, A1, "e2e", answers=answers)


def _pick(names, table):
    found = {fn.__name__: (entry[0], fn) for entry in table for fn in [entry[1]]}
    return [found[n] for n in names]


ADA_ANSWERS = next(s for s in example_students(A1) if s.student_id == "example-ada").answers

E2E_MUTANTS = _pick(
    [
        "softmax_without_max_shift",  # partial credit, and overflow warnings that must not zero the cell
        "relu_in_place_with_out",
        "average_ce_naive_nan_on_zero_prediction",  # RuntimeWarnings from log(0)
        "grad_ce_takes_logits_as_probabilities",
        "accuracy_as_percentage",
    ],
    catalogue_a1.MUTANTS,
)
E2E_ALTERNATIVES = _pick(
    ["relu_python_loops", "softmax_pure_python_math", "compute_layer_einsum", "average_ce_keepdims_array", "grad_ce_log_sum_exp", "accuracy_python_loop"],
    catalogue_a1.CORRECT,
)


def _expected_by_direct_checks(student):
    """Per-cell scores from running the same cells in this process and calling the checks directly."""
    namespace = {}
    exec("import numpy as np", namespace)
    for function in A1_FUNCTIONS:
        exec(student.answers[function], namespace)
    scores = {"integrity": 0.0}
    for function in A1_FUNCTIONS:
        try:
            scores[spec(A1).test_cell(function)] = a1_checks.CHECKS[function](namespace[function])
        except AssertionError:
            scores[spec(A1).test_cell(function)] = 0.0
    return scores


@pytest.fixture(scope="session")
def course(released_course):
    return released_course


def _grade(course, assignment):
    """The instructor's path: sandboxed workers, verification, the coordinator merging."""
    return coordinator.grade(course, assignment, jobs=2, progress=False, log=lambda *_: None)


@pytest.fixture(scope="session")
def graded(course):
    root = course.root
    write_submissions(root, A1)
    extra = {
        "e2e-mutants": _catalogue_student("e2e-mutants", E2E_MUTANTS),
        "e2e-alternatives": _catalogue_student("e2e-alternatives", E2E_ALTERNATIVES),
    }
    for student in extra.values():
        path = course.submitted_notebook(student.student_id, A1)
        path.parent.mkdir(parents=True)
        path.write_text(build_submission(course.release_notebook(A1), student))

    # The instructor's own source notebook, submitted as is: must get full marks.
    shutil.copytree(root / "source" / A1, root / "submitted" / "e2e-solution" / A1)

    # A student who stripped the metadata of a test cell and emptied it, and edited another test cell.
    nb = nbformat.read(str(course.submitted_notebook("example-ada", A1)), as_version=4)
    cells = by_id(nb)
    cells["softmax_tests"].metadata.pop("nbgrader")
    cells["softmax_tests"].source = "pass"
    cells["relu_tests"].source = "print('all good')"
    cells["relu"].source = "def relu(x):\n    return x"
    # A student who deleted an answer cell and the test cell after it: nbgrader alone fails the notebook.
    deleter = ExampleStudent("e2e-deleter", A1, "", answers=dict(ADA_ANSWERS), deleted_cells=["relu", "relu_tests"])
    path = course.submitted_notebook("e2e-deleter", A1)
    path.parent.mkdir(parents=True)
    path.write_text(build_submission(course.release_notebook(A1), deleter))

    tampered = course.submitted_notebook("e2e-tampered", A1)
    tampered.parent.mkdir(parents=True)
    nbformat.write(nb, str(tampered))

    results = {r.student: r for r in _grade(course, A1)}

    later = {}
    for assignment in (A2, A3):
        write_submissions(root, assignment)
        shutil.copytree(root / "source" / assignment, root / "submitted" / "e2e-solution" / assignment)
        later[assignment] = {r.student: r for r in _grade(course, assignment)}
    return results, extra, later


@pytest.mark.parametrize("assignment", sorted(p.name for p in (ROOT / "source").iterdir() if p.is_dir()))
def test_release_is_in_sync_with_source(course, assignment):
    committed = (ROOT / "release" / assignment / f"{assignment}.ipynb").read_text()
    regenerated = course.release_notebook(assignment).read_text()
    assert regenerated == committed, "release/ is out of date: run `nnfs release` and commit release/"


def test_source_notebook_gets_full_marks(graded):
    results, *_ = graded
    assert results["e2e-solution"].cells == {k: (v, v) for k, v in FULL.items()} | {"integrity": (0.0, 0.0)}
    assert results["e2e-solution"].score == 10.0


def test_untouched_release_gets_zero_on_autograded_cells(graded):
    results, *_ = graded
    carol = results["example-carol"]
    assert carol.status == "graded" and carol.score == 0.0
    assert all(score == 0.0 for score, _ in carol.cells.values())
    assert "integrity declaration left blank" in carol.notes


@pytest.mark.parametrize("student", sorted(EXPECTED_EXAMPLES))
def test_example_students_get_exactly_the_expected_grades(graded, student):
    results, *_ = graded
    r = results[student]
    assert r.status == "graded", r.reason
    assert {k: s for k, (s, _) in r.cells.items()} == EXPECTED_EXAMPLES[student]
    assert r.score == sum(EXPECTED_EXAMPLES[student].values()) and r.max_score == 10.0


def test_example_notes(graded):
    results, *_ = graded
    assert "integrity declaration left blank" in results["example-bob"].notes
    assert not any("integrity" in n for n in results["example-ada"].notes)
    assert results["example-eve"].notes == ["deleted cells restored from the gradebook and graded: softmax_tests, grad_ce_tests"]


def test_broken_notebook_is_reported_and_does_not_stop_the_run(graded):
    results, *_ = graded
    dan = results["example-dan"]
    assert dan.status == "error" and "not valid JSON" in dan.reason and dan.score is None
    assert results["example-grace"].status == "graded"  # graded after dan, alphabetically


def test_every_example_student_was_graded_or_reported(graded):
    results, *_ = graded
    assert {s.student_id for s in example_students(A1)} <= set(results)


@pytest.mark.parametrize("student_id", ["e2e-mutants", "e2e-alternatives"])
def test_nbgrader_scores_equal_the_checks_called_directly(graded, student_id):
    results, extra, _ = graded
    expected = _expected_by_direct_checks(extra[student_id])
    got = {k: s for k, (s, _) in results[student_id].cells.items()}
    assert got == expected
    if student_id == "e2e-alternatives":
        assert got == FULL
    else:
        assert got["softmax_tests"] == 1.5 and got["relu_tests"] == 0.5 and got["average_ce_tests"] == 1.0
        assert got["grad_ce_tests"] == 0.0 and got["accuracy_tests"] == 0.0


def test_the_stored_mistakes_are_the_catalogue_s(graded, course):
    """Graded through nbgrader, the stand-in and the judging, each catalogue mistake of e2e-mutants is stored in
    grading_status.json under the id its catalogue entry declares, unless a visible assert of its cell stopped the
    cell before its hidden tests (grad_ce's and accuracy's catch these two); the correct alternatives store none."""
    stored = {(row["student"], row["assignment"]): row for row in json.loads((course.root / pipeline.STATUS_FILE).read_text())}
    declared = {entry[1].__name__: entry[4] for entry in catalogue_a1.MUTANTS}
    stopped = {"grad_ce", "accuracy"}
    want = {(spec(A1).test_cell(function), mistake) for function, fn in E2E_MUTANTS if function not in stopped for mistake in declared[fn.__name__]}
    want |= {(spec(A1).test_cell(function), f"{function}.cell_failed_before_hidden_tests") for function in stopped}
    assert {(m["cell"], m["id"]) for m in stored[("e2e-mutants", A1)]["mistakes"]} == want
    assert stored[("e2e-alternatives", A1)]["mistakes"] == []


def test_stripped_and_edited_test_cells_are_restored_and_graded(graded):
    results, *_ = graded
    r = results["e2e-tampered"]
    assert r.cells["softmax_tests"] == (3.0, 3.0)  # restored and passed: softmax itself is right
    assert r.cells["relu_tests"] == (0.0, 1.0)  # edited test replaced by the real one: relu is wrong
    assert any("restored" in n and "softmax_tests" in n for n in r.notes)


def test_feedback_is_written_and_shows_the_mistake_not_the_test_data(graded, course):
    html = course.feedback_html("example-bob", A1).read_text()
    # Hidden checks that gave partial credit say why; failed visible tests say why too.
    assert "Subtract each row" in html and "changed its input x in place" in html
    assert "divide by N (samples), not N*K" in html and "not a percentage" in html
    assert "1e4 - 3" not in html and "default_rng(202)" not in html  # test data stays in the package


def test_grades_csv_and_table(graded, course, tmp_path):
    results, *_ = graded
    everything = pipeline.save_results(course, list(results.values()))
    csv_path = tmp_path / "grades.csv"
    pipeline.write_grades_csv(csv_path, everything)
    rows = csv_path.read_text().splitlines()
    assert rows[0] == "student_id,assignment,score,max_score,status,notes,name,raw_score,late_penalty,hours_late,similarity"
    assert "example-ada,a1_helpers,10,10,graded,,,10,,," in rows
    assert any(r.startswith("example-dan,a1_helpers,,,error,") for r in rows)
    table = pipeline.format_table(everything)
    assert "example-bob" in table and "3 / 10" in table and "ERROR" in table
    assert pipeline.load_results(course) == everything


def test_numpy_scalar_and_oversized_partial_credit_are_nbgrader_traps():
    """Why checks return plain floats: nbgrader parses the text of the last expression."""
    from nbgrader.utils import determine_grade

    def cell(text, points=2):
        return nbformat.from_dict(
            {
                "cell_type": "code",
                "metadata": {"nbgrader": {"grade": True, "solution": False, "points": points, "grade_id": "t"}},
                "outputs": [{"output_type": "execute_result", "data": {"text/plain": text}, "metadata": {}, "execution_count": 1}],
                "source": "",
                "execution_count": 1,
            }
        )

    assert determine_grade(cell(repr(np.float64(0.5)))) == (2.0, 2.0)  # a numpy scalar scores full marks
    assert determine_grade(cell("True")) == (2.0, 2.0)
    with pytest.raises(ValueError):
        determine_grade(cell("3.0"))  # above the cell's points: the whole notebook fails
    partial = a1_checks.check_softmax(catalogue_a1.softmax_without_max_shift)
    assert determine_grade(cell(repr(partial), points=3)) == (1.5, 3.0)


# ----------------------------------------------------------------------------------- a2_backprop

EXPECTED_A2 = {
    "example-ada": A2_AUTO,
    "example-carol": {k: 0.0 for k in A2_AUTO},
    "example-bob": A2_AUTO
    | {"grad_wrt_wo_tests": 0.0, "grad_wrt_wh_tests": 2.5, "numerical_gradient_tests": 0.0,
       "relative_error_tests": 0.5, "scalar_backward_tests": 0.0, "momentum_update_tests": 0.0},
}


@pytest.mark.parametrize("student", ["e2e-solution", *sorted(EXPECTED_A2)])
def test_a2_autograded_cells(graded, student):
    *_, later = graded
    r = later[A2][student]
    assert r.status == "graded", r.reason
    expected = EXPECTED_A2.get(student, A2_AUTO)
    assert {k: s for k, (s, _) in r.cells.items() if k in A2_AUTO} == expected
    assert r.max_score == sum(A2_AUTO.values()) + sum(A2_MANUAL.values())


def test_a2_derivations_wait_for_a_grader_unless_left_blank(graded):
    *_, later = graded
    results = later[A2]
    for student in ("e2e-solution", "example-ada"):
        assert f"needs manual grading: {', '.join(A2_MANUAL)}" in results[student].notes
        assert results[student].score == sum(A2_AUTO.values())  # manual points are not in yet
    # nbgrader scores an unchanged answer cell 0 without asking a grader
    assert not any("needs manual grading" in n for n in results["example-carol"].notes)
    assert all(results["example-carol"].cells[k] == (0.0, v) for k, v in A2_MANUAL.items())
    assert "needs manual grading: deriv_softmax_jacobian" in results["example-bob"].notes


# -------------------------------------------------------------------------------------- a3_moons

EXPECTED_A3 = {
    "e2e-solution": A3_AUTO,
    "example-ada": A3_AUTO,
    "example-carol": {k: 0.0 for k in A3_AUTO},
    "example-bob": A3_AUTO | {"backward_tests": 0.0, "gradient_step_tests": 0.5, "train_tests": 0.0},
}


@pytest.mark.parametrize("student", sorted(EXPECTED_A3))
def test_a3_autograded_cells(graded, student):
    *_, later = graded
    r = later[A3][student]
    assert r.status == "graded", r.reason
    assert {k: s for k, (s, _) in r.cells.items() if k in A3_AUTO} == EXPECTED_A3[student]
    assert r.max_score == sum(A3_AUTO.values()) + 4.0  # the derivation is graded by hand


def test_deleting_an_answer_cell_and_its_test_costs_only_that_function(graded):
    results, *_ = graded
    r = results["e2e-deleter"]
    assert r.status == "graded", r.reason
    assert {k: s for k, (s, _) in r.cells.items()} == FULL | {"relu_tests": 0.0}
    assert "deleted answer cells put back empty (they score 0): relu" in r.notes

"""nnfs similarity: planted copies are found, honest work is not flagged, the reference and earlier terms are
compared, hostile ids and code stay text in the pages, and a broken notebook does not stop the report."""

import json
import shutil

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from autograder import cli
from autograder.examples import build_submission, example_students
from autograder.grading.orchestration import pipeline
from autograder.grading.orchestration.course import Course
from autograder.reports import similarity
from hostile import MARK, page_problems, payload
from notebooks import ROOT

A1, A3 = "a1_helpers", "a3_moons"
GRACE = next(s for s in example_students(A1) if s.student_id == "example-grace")


def course_with(tmp_path, assignment, students: dict) -> Course:
    """A course holding one assignment's source and release and these submissions {student id: notebook text}."""
    for name in ("source", "release"):
        shutil.copytree(ROOT / name / assignment, tmp_path / name / assignment)
    for student, text in students.items():
        folder = tmp_path / "submitted" / student / assignment
        folder.mkdir(parents=True)
        (folder / f"{assignment}.ipynb").write_text(text)
    return Course(tmp_path)


def release_path(assignment):
    return ROOT / "release" / assignment / f"{assignment}.ipynb"


def examples(assignment):
    return {s.student_id: build_submission(release_path(assignment), s) for s in example_students(assignment)}


def with_added_cell(text, source, blank=()):
    """The notebook with its solution cells in ``blank`` put back as released and a cell of the student's own."""
    nb = nbformat.reads(text, as_version=4)
    release = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in nbformat.read(str(release_path(A1)), as_version=4).cells}
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in blank:
            cell.source = release[grade_id]
    nb.cells.append(new_code_cell(source))
    return nbformat.writes(nb)


def test_the_example_classes_copy_is_found_and_honest_styles_are_not_flagged(tmp_path):
    course = course_with(tmp_path, A1, examples(A1))
    result = similarity.run(course, A1)
    # heidi copied grace's loops with the names changed and comments added; ada, bob and eve wrote their own
    # (dan's notebook is truncated: listed, not compared; carol's is the template: nothing to compare).
    assert [(p["left"], p["right"]) for p in result.pairs] == [("example-grace", "example-heidi")]
    assert {m.left.name for m in result.pairs[0]["matches"]} == {"softmax", "average_ce"}  # accuracy is too short to tell
    assert set(result.flags) == {"example-grace", "example-heidi"}
    assert result.flags["example-heidi"] == "cluster 1: with example-grace"
    assert [owner for owner, _ in result.problems] == ["example-dan"] and "not a readable notebook" in result.problems[0][1]
    page = (result.folder / result.pairs[0]["page"]).read_text()
    assert "<mark>" in page and "prompt to look, not a verdict" in page
    assert "prompt to look, not a verdict" in (result.folder / "index.html").read_text()
    assert json.loads((result.folder / "flags.json").read_text()) == result.flags


def test_renamed_reordered_and_recommented_copies_in_cells_of_their_own_are_found(tmp_path):
    grace = build_submission(release_path(A1), GRACE)
    # The copier leaves the graded cells as released and writes grace's three long functions, renamed,
    # re-commented and in another order, into a cell of their own, with a helper under another name.
    copied = '''
def accuracy(labels, probs):
    n_right = 0  # count the hits
    for lab, pr in zip(labels, probs):
        if np.argmax(lab) == np.argmax(pr):
            n_right += 1
    return n_right / len(labels)

def average_ce(y, p_hat):
    """my cross-entropy"""
    acc = 0.0
    for a in range(y.shape[0]):
        for b in range(y.shape[1]):
            if y[a, b] != 0:
                acc += y[a, b] * np.log(np.clip(p_hat[a, b], 1e-12, 1.0))
    return -acc / y.shape[0]

def my_softmax_helper(z):
    res = np.empty(z.shape)
    for k in range(z.shape[0]):
        zz = z[k]
        top = zz.max()
        norm = top + np.log(np.sum(np.exp(zz - top)))
        res[k] = np.exp(zz - norm)
    return res
'''
    copier = with_added_cell(build_submission(release_path(A1), example_students(A1)[0]), copied,
                             blank={"softmax", "average_ce", "accuracy"})
    course = course_with(tmp_path, A1, {"grace": grace, "copier": copier})
    result = similarity.run(course, A1)
    assert [(p["left"], p["right"]) for p in result.pairs] == [("copier", "grace")]
    assert {(m.left.name, m.right.name) for m in result.pairs[0]["matches"]} == {
        ("average_ce", "average_ce"), ("my_softmax_helper", "softmax")}


def test_a_copied_function_inside_an_otherwise_original_notebook_is_found(tmp_path):
    ada = next(s for s in example_students(A1) if s.student_id == "example-ada")
    one = type(ada)(**{**ada.__dict__, "student_id": "one", "answers": {**ada.answers, "average_ce": GRACE.answers["average_ce"].replace("total", "running")}})
    course = course_with(tmp_path, A1, {"grace": build_submission(release_path(A1), GRACE), "one": build_submission(release_path(A1), one)})
    result = similarity.run(course, A1)
    assert [[m.left.name for m in p["matches"]] for p in result.pairs] == [["average_ce"]]


def test_short_canonical_functions_written_alike_are_not_flagged(tmp_path):
    # Two students who both wrote ada's one-liners word for word: too short to tell copying from the lecture.
    ada = examples(A1)["example-ada"]
    course = course_with(tmp_path, A1, {"s1": ada, "s2": ada})
    assert similarity.run(course, A1).pairs == []


def test_a_copy_of_the_reference_solution_is_labelled_reference_and_its_code_is_not_shown(tmp_path):
    source = nbformat.read(str(ROOT / "source" / A3 / f"{A3}.ipynb"), as_version=4)
    key = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"}
    nb = nbformat.read(str(release_path(A3)), as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in key:
            cell.source = key[grade_id].replace("### BEGIN SOLUTION", "").replace("### END SOLUTION", "").replace("model", "params")
    course = course_with(tmp_path, A3, {"leaker": nbformat.writes(nb)})
    result = similarity.run(course, A3)
    assert [(p["left"], p["right"], p["right_kind"]) for p in result.pairs] == [("leaker", "reference", "reference")]
    assert result.flags == {"leaker": "cluster 1: with reference"}
    page = (result.folder / result.pairs[0]["page"]).read_text()
    assert "The reference solution is not shown here" in page
    assert page.count("<pre>") == len(result.pairs[0]["matches"])  # the student's side only
    assert "### BEGIN SOLUTION" not in page


def test_earlier_terms_are_compared_but_not_with_each_other(tmp_path):
    grace = build_submission(release_path(A1), GRACE)
    course = course_with(tmp_path, A1, {"new-student": grace})
    archive = tmp_path / "2025-fall"
    for old in ("old-grace", "old-twin"):
        (archive / old / A1).mkdir(parents=True)
        (archive / old / A1 / f"{A1}.ipynb").write_text(grace)
    result = similarity.run(course, A1, [archive])
    assert [(p["left"], p["right"], p["right_kind"]) for p in result.pairs] == [
        ("new-student", "2025-fall:old-grace", "archive"), ("new-student", "2025-fall:old-twin", "archive")]
    assert set(result.flags) == {"new-student"}  # only this term's students are flagged


def test_hostile_ids_and_code_stay_text_and_broken_notebooks_do_not_stop_the_report(tmp_path):
    hostile = f"</pre><script>{payload('similarity')}</script><img src=x onerror=\"{payload('img')}\">"
    grace = GRACE.answers
    attacker = type(GRACE)(**{**GRACE.__dict__, "student_id": "x", "answers": {
        **grace, "softmax": grace["softmax"].replace("out = np.empty(x.shape)", f"out = np.empty(x.shape)  # {hostile}"),
        "accuracy": grace["accuracy"].replace("correct = 0", f"correct = 0\n    note = {hostile!r}")}})
    students = {
        "grace": build_submission(release_path(A1), GRACE),
        "attacker": build_submission(release_path(A1), attacker),
        f"<b onmouseover=alert('{MARK}')>x": build_submission(release_path(A1), GRACE),  # an id that is markup: refused
        "truncated": build_submission(release_path(A1), GRACE)[:500],
        "not-a-notebook": json.dumps({"cells": "no"}),
        "syntax-error": with_added_cell(build_submission(release_path(A1), GRACE), "def broken(:\n    pass"),
    }
    course = course_with(tmp_path, A1, students)
    result = similarity.run(course, A1)
    assert {(p["left"], p["right"]) for p in result.pairs} == {("attacker", "grace"), ("attacker", "syntax-error"), ("grace", "syntax-error")}
    problems = dict(result.problems)
    assert "not a readable notebook" in problems["truncated"] and "not a readable notebook" in problems["not-a-notebook"]
    assert "not valid Python" in problems["syntax-error"]
    assert any(owner.startswith("invalid id ") and "not a valid student id" in why for owner, why in result.problems)
    for page in result.folder.glob("*.html"):
        text = page.read_text()
        assert page_problems(text) == [], page.name
        assert "<script>" not in text and "onerror=" not in text.replace("onerror=&#34;", "")
    attacked = next(p for p in result.pairs if p["left"] == "attacker")
    assert "&lt;script&gt;" in (result.folder / attacked["page"]).read_text()


def test_the_flags_go_into_the_table_and_grades_csv_escaped(tmp_path):
    results = [pipeline.StudentResult("s1", A1, score=10.0, max_score=10.0), pipeline.StudentResult("s2", A1, score=9.0, max_score=10.0)]
    flags = {("s1", A1): "=cmd|' /C calc'!A0 \x1b[31m"}  # flags.json is the instructor's, but escape anyway
    table = pipeline.format_table(results, None, flags)
    assert table.splitlines()[0].split() == ["student", A1, "similar", "notes"]
    assert table.splitlines()[2].split()[:4] == ["s1", "10", "/", "10"] and A1 in table.splitlines()[2]
    assert "similar" not in pipeline.format_table(results)  # no column when nothing is flagged
    pipeline.write_grades_csv(tmp_path / "grades.csv", results, None, flags)
    rows = (tmp_path / "grades.csv").read_text().splitlines()
    assert rows[0].endswith(",hours_late,similarity")
    assert rows[1].endswith(",'=cmd|' /C calc'!A0 \\x1b[31m") and rows[2].endswith(",")


def test_load_flags_ignores_missing_and_corrupt_files(tmp_path):
    folder = similarity.report_folder(tmp_path, A1)
    folder.mkdir(parents=True)
    (folder / "flags.json").write_text("{not json")
    assert similarity.load_flags(tmp_path, [A1, A3]) == {}
    (folder / "flags.json").write_text(json.dumps({"s1": "cluster 1: with s2"}))
    assert similarity.load_flags(tmp_path, [A1, A3]) == {("s1", A1): "cluster 1: with s2"}


def test_the_command(tmp_path, capsys):
    course_with(tmp_path, A1, examples(A1))
    assert cli.main(["--course", str(tmp_path), "similarity", A1]) == 0
    out = capsys.readouterr().out
    assert "cluster 1: example-grace, example-heidi" in out and "reports/a1_helpers/similarity/index.html" in out
    assert "not a verdict" in out
    with pytest.raises(SystemExit, match="unknown assignment"):
        cli.main(["--course", str(tmp_path), "similarity", "no_such_assignment"])
    with pytest.raises(SystemExit, match="between 0 and 1"):
        cli.main(["--course", str(tmp_path), "similarity", A1, "--threshold", "60"])
    shutil.rmtree(tmp_path / "release")
    with pytest.raises(SystemExit, match="not released"):
        cli.main(["--course", str(tmp_path), "similarity", A1])
    with pytest.raises(SystemExit, match="no archive folder"):
        cli.main(["--course", str(tmp_path), "similarity", A1, "--archive", str(tmp_path / "nowhere")])


def test_a_big_class_is_read_on_every_core_with_the_same_result(tmp_path):
    # 40 submissions or more are read and normalised by a process pool; the result is the one read in turn.
    students = examples(A1)
    eve = students["example-eve"]
    students.update({f"s{i:02d}": eve for i in range(40)})  # eve's short functions: nothing to flag
    result = similarity.run(course_with(tmp_path, A1, students), A1)
    assert result.compared == len(students)
    assert [(p["left"], p["right"]) for p in result.pairs] == [("example-grace", "example-heidi")]

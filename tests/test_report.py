"""The class report (`nnfs report`, autograder/reports/class_report.py) on a made-up graded class (tests/synthetic_class.py).

The expected numbers are worked out by hand from synthetic_class.CLASS. Graded (7): s01 10, s02 6, s03 7 - 1 late = 6,
s04 7.5, s06 8.5, s07 7, mallory 5; in error (2): s05 and a hostile id. softmax_tests scores: 3, 0, 0, 1.5, 1.5, 0, 0.
"""

import csv
import inspect
import io
import json
import os
from html.parser import HTMLParser

import pytest

from autograder import cli
from autograder.examples import ExampleStudent, build_submission, write_submissions
from autograder.grading.orchestration import coordinator, pipeline, runs, worker
from autograder.reports import class_report
from hostile import MARK, page_problems
from notebooks import copy_course
from synthetic_class import A1, AXIS0, AXIS0_CODE, HOSTILE_CODE, HOSTILE_ID, HOSTILE_MESSAGE, NAMES, make_class, records


@pytest.fixture
def course(tmp_path):
    return make_class(tmp_path / "course")


def build(course, **kwargs):
    return class_report.build(course, A1, class_report.load_records(course), runs.last_runs(course).get(A1), kwargs.get("names", NAMES))


def by(items, key):
    return {getattr(x, key): x for x in items}


def test_the_distribution_and_the_questions(course):
    report = build(course)
    assert report.summary == {"submissions": "9", "graded": "7", "errors": "2", "max_points": "10", "mean": "7.14",
                              "median": "7", "mistakes_unknown": "1"}
    bins = dict(report.bins)
    assert list(bins)[:2] == ["0-1", "1-2"] and len(bins) == 10
    assert {k: v for k, v in bins.items() if v} == {"5-6": 1, "6-7": 2, "7-8": 2, "8-9": 1, "9-10": 1}  # 9-10 holds the 10
    questions = by(report.questions, "cell")
    assert "integrity" not in questions  # 0 points
    assert list(questions)[:2] == ["relu_tests", "softmax_tests"]  # the notebook's order
    softmax = questions["softmax_tests"]
    assert (softmax.points, softmax.students, softmax.mean, softmax.median, softmax.zero_rate) == ("3", 7, "0.86", "0", "57.1%")
    relu = questions["relu_tests"]
    assert (relu.mean, relu.median, relu.zero_rate) == ("0.86", "1", "14.3%")
    assert report.histogram_png and report.questions_png


def test_cells_awaiting_manual_grading_are_left_out_of_their_question(tmp_path):
    rows = records()
    for row in rows[:2]:  # s01 (full) and s02 (softmax 0): s02's softmax waits for a grader
        row["notes"] = row["notes"] + ([pipeline.MANUAL_NOTE + "integrity, softmax_tests"] if row["student"] == "s02" else [])
    course = make_class(tmp_path / "course")
    (course.root / pipeline.STATUS_FILE).write_text(json.dumps(rows))
    softmax = by(build(course).questions, "cell")["softmax_tests"]
    assert (softmax.students, softmax.awaiting_manual, softmax.zero_rate) == (6, 1, "50%")  # 3, 0, 1.5, 1.5, 0, 0


def test_mistakes_ranked_with_their_message_and_an_anonymised_example(course):
    report = build(course)
    functions = by(report.functions, "name")
    assert list(functions) == ["relu", "softmax", "compute_layer", "average_ce", "grad_ce", "accuracy"]
    softmax = functions["softmax"]
    assert (softmax.students, softmax.full_marks, softmax.below_full_without_mistake) == (7, "14.3%", 0)
    ranked = [(m.id, m.students, m.share, m.mean_points_lost) for m in softmax.mistakes]
    # shares of the 6 students whose mistakes are known (s04's are not)
    assert ranked == [("softmax.axis0", 3, "50%", "3"), ("softmax.hostile", 1, "16.7%", "3"), ("softmax.no_shift", 1, "16.7%", "1.5")]
    axis0 = softmax.mistakes[0]
    assert axis0.message == AXIS0  # the most common of its messages
    # s02's notebook is missing, s03's truncated: the example is s07's, with the id and roster name replaced.
    examples = by(report.examples, "anchor")
    example = examples[axis0.example]
    assert (example.mistake, example.function, example.cell) == ("softmax.axis0", "softmax", "softmax")
    label = example.label
    assert label.startswith("student-") and label != "s07"
    assert example.code == AXIS0_CODE.replace("s07", label).replace("S07", label).replace("Bob Kahn", label)
    assert "s07" not in example.code.lower() and "Kahn" not in example.code
    assert build(course).examples[0].label == report.examples[0].label  # stable from one report to the next
    # a mistake whose only student's notebook is missing: no example, and why
    divided = functions["average_ce"].mistakes[0]
    assert divided.example is None and "not read" in divided.no_example
    # grad_ce: mallory lost its points with no named mistake (her hidden tests did not run)
    assert (functions["grad_ce"].full_marks, functions["grad_ce"].below_full_without_mistake) == ("85.7%", 1)


def test_the_students_who_need_a_look(course):
    report = build(course)
    flagged = {look.student: [f.kind for f in look.flags] for look in report.look}
    assert flagged == {
        "mallory": ["hidden-tests"],
        "s03": ["integrity", "late"],
        "s04": ["unverified", "no-sandbox"],
        "s05": ["error"],
        "s06": ["slow"],  # 40 s, median 2 s: more than 3x and 10 s more
        HOSTILE_ID: ["error"],
    }
    s03 = by(report.look, "student")["s03"]
    assert s03.flags[1].text == "late 1 d 1 h: -1 point(s)"
    assert "3 times the median" in report.long_rule and "(2 s)" in report.long_rule


def test_the_run_figures(course):
    report = build(course)
    # a1 and a2 graded in one pool: 8 notebooks (6 of them a1's) in 40 s
    assert report.run == {"finished": "2026-12-05T01:00:00+00:00", "notebooks": "6", "skipped_unchanged": "2", "refused": "1",
                          "run_assignments": "a1_helpers, a2_backprop", "run_notebooks": "8", "run_seconds": "40",
                          "seconds_per_notebook": "5", "jobs": "2", "median_seconds_in_worker": "2"}


def test_the_notes_it_flags_are_the_ones_grading_writes(tmp_path):
    course = copy_course(tmp_path / "course")
    path = course.submitted_notebook("carol", A1)
    path.parent.mkdir(parents=True)
    path.write_text(build_submission(course.release_notebook(A1), ExampleStudent("carol", A1, "")))
    assert class_report.INTEGRITY_BLANK in pipeline.preflight(course, A1, "carol").notes
    assert f'"{class_report.HIDDEN_TESTS_DID_NOT_RUN} (those cells score 0): "' in inspect.getsource(worker)


class Marked(HTMLParser):
    """Each figure the page marks (data-measure), under the nearest marked section and item, with its text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.found, self.text = [], [], {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        parent = self.stack[-1] if self.stack else {}
        context = {"section": attrs.get("data-section", parent.get("section")), "item": attrs.get("data-item", parent.get("item")),
                   "row": len(self.found) if "data-section" in attrs else parent.get("row"), "measure": attrs.get("data-measure")}
        if tag in ("img", "meta", "br", "link", "input"):
            return
        self.stack.append(context)
        if context["measure"]:
            self.found.append(context)
            self.text[id(context)] = []

    def handle_endtag(self, tag):
        if self.stack and tag not in ("img", "meta", "br", "link", "input"):
            self.stack.pop()

    def handle_data(self, data):
        for context in self.stack:
            if context.get("measure"):
                self.text[id(context)].append(data)

    def figures(self):
        return [(c["section"], c["item"], c["measure"], "".join(self.text[id(c)]).strip()) for c in self.found]

    def looks(self):
        """(student, flag kind, text) of each flag in the needs-a-look table."""
        rows = {}
        for c in self.found:
            if c["section"] == "look":
                rows.setdefault(c["row"], []).append((c["measure"], "".join(self.text[id(c)]).strip()))
        return sorted((row[0][1], kind, text) for row in rows.values() for kind, text in row[1:])


def read_written(course):
    page, table = class_report.write(course, A1)
    assert (page.parent, page.name, table.name) == (course.root / "reports" / A1, "class_report.html", "class_report.csv")
    return page.read_text(), list(csv.reader(io.StringIO(table.read_text())))


def test_the_csv_holds_the_pages_numbers(course):
    text, rows = read_written(course)
    assert rows[0] == ["section", "item", "measure", "value", "note"]
    parser = Marked()
    parser.feed(text)
    on_page = parser.figures()
    numbers = [tuple(r[:4]) for r in rows[1:] if r[0] != "look"]
    assert sorted(numbers) == sorted(f for f in on_page if f[0] != "look")
    assert ("mistake", "softmax.axis0", "students", "3") in numbers and ("question", "softmax_tests", "zero_rate", "57.1%") in numbers
    # the needs-a-look rows: the student is the row's first cell on the page (never an attribute: ids are student text)
    looks = sorted((r[1], r[2], r[3]) for r in rows[1:] if r[0] == "look" and r[1] != HOSTILE_ID)
    assert looks == [x for x in parser.looks() if x[0] != HOSTILE_ID] and len(looks) == 7
    assert ("s06", "slow", "grading took 40 s, 20 times the median") in looks
    assert text.count('data-section="look"') == 6
    # the CSV's cells are inert in a spreadsheet: the hostile reason starts with '<' (fine), a message with '-' is quoted
    no_shift = next(r for r in rows if r[1] == "softmax.no_shift")
    assert no_shift[4].startswith("'-1.5 points")


def test_no_markup_from_a_student_survives_unescaped(course):
    text, _ = read_written(course)
    assert page_problems(text) == [], page_problems(text)
    assert "<script" not in text.lower()
    assert MARK in text  # the attacker's text is on the page, as text
    assert "Content-Security-Policy" in text and "default-src 'none'" in text  # and no script would run anyway

    class Text(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.chunks = []

        def handle_data(self, data):
            self.chunks.append(data)

    reader = Text()
    reader.feed(text)
    shown = "".join(reader.chunks)
    # Every hostile string reads back exactly, as text: the code (with its template syntax untouched), the message,
    # the id, the reason and the note.
    for hostile in (HOSTILE_CODE, HOSTILE_MESSAGE, HOSTILE_ID, records()[-1]["reason"], records()[6]["notes"][0]):
        assert hostile in shown, hostile[:80]
        assert "<" in hostile and hostile not in text  # never as markup


def test_missing_linked_and_non_notebook_files_do_not_stop_the_report(course):
    s07 = course.autograded_notebook("s07", A1)
    s07.unlink()
    os.symlink(course.autograded_notebook("s01", A1), s07)  # a link: not followed
    course.autograded_notebook("s06", A1).write_text("[1, 2, 3]")  # JSON, not a notebook
    report = build(course)
    softmax = by(report.functions, "name")["softmax"]
    axis0, no_shift = (next(m for m in softmax.mistakes if m.id == i) for i in ("softmax.axis0", "softmax.no_shift"))
    assert axis0.example is None and "link" in axis0.no_example and "not valid JSON" in axis0.no_example
    assert no_shift.example is None and "not a notebook" in no_shift.no_example
    assert [e.mistake for e in report.examples] == ["softmax.hostile"]
    text, _ = read_written(course)
    assert "no example:" in text
    # an id that is a path (a hand-edited status file) leads nowhere, even to a notebook that is there
    notebooks = class_report._Notebooks(course, A1)
    assert notebooks.cell_source("s01", "softmax")[0] is not None
    code, why = notebooks.cell_source("../autograded/s01", "softmax")  # autograded/../autograded/s01/a1_helpers/...
    assert code is None and "not a valid student id" in why


def test_a_result_file_without_mistakes(tmp_path):
    """A course graded before results carried mistakes (and before lateness and isolation were recorded)."""
    course = make_class(tmp_path / "course", run=False)
    old = [{k: v for k, v in row.items() if k not in ("mistakes", "seconds_late", "late_penalty", "isolation", "digest")} for row in records()]
    (course.root / pipeline.STATUS_FILE).write_text(json.dumps(old))
    report = build(course)
    assert report.summary["mistakes_unknown"] == "7" and report.summary["mean"] == "7.29"  # no late penalty on record
    assert all(f.mistakes == [] and f.below_full_without_mistake == 0 for f in report.functions)
    assert report.run == {"median_seconds_in_worker": "2"}
    text, _ = read_written(course)
    assert 'id="mistakes-unknown"' in text and "For 7 of 7 graded submissions" in text
    assert "No run recorded" in text


def test_bins_for_points_that_are_not_whole_or_many():
    edges, counts = class_report._bins([0.0, 13.0, 26.0], 26.0)
    assert len(counts) == 10 and counts[0] == 1 and counts[-1] == 1 and sum(counts) == 3 and edges[-1] == 26.0
    edges, counts = class_report._bins([0.5, 1.0], 2.5)
    assert len(counts) == 10 and sum(counts) == 2


def test_nnfs_report_writes_each_graded_assignment_and_refuses_a_corrupt_status_file(course, capsys):
    assert cli.main(["--course", str(course.root), "report"]) == 0
    out = capsys.readouterr().out
    assert f"{A1}: class report reports/{A1}/class_report.html (numbers in class_report.csv)" in out
    assert "a2_backprop: nothing graded yet, no report" in out
    assert (course.root / "reports" / A1 / "class_report.html").is_file()
    assert not (course.root / "reports" / "a2_backprop").exists()
    (course.root / pipeline.STATUS_FILE).write_text("[{")
    with pytest.raises(SystemExit, match="is corrupt"):
        cli.main(["--course", str(course.root), "report", A1])


def test_a_grading_run_records_its_figures_and_the_report_shows_them(tmp_path):
    """Real grading, small: two a1 submissions (one right, one not a notebook) and a refused folder, in a run with a3
    (nothing submitted), then the same again (both skipped as unchanged)."""
    course = copy_course(tmp_path / "course")
    write_submissions(course.root, A1)
    keep = {"example-ada", "example-dan"}  # right, and not a notebook (an error, graded in the worker)
    for folder in (course.root / "submitted").iterdir():
        if folder.name not in keep:
            for p in sorted(folder.rglob("*"), reverse=True):
                p.unlink() if p.is_file() else p.rmdir()
            folder.rmdir()
    bad = course.root / "submitted" / "bad name!" / A1
    bad.mkdir(parents=True)
    coordinator.grade(course, [A1, "a3_moons"], jobs=2, progress=False, log=lambda *_: None)
    first, a3 = runs.last_runs(course)[A1], runs.last_runs(course)["a3_moons"]
    assert (first["graded"], first["refused"], first["skipped_unchanged"], first["jobs"]) == (2, 1, 0, 2) and first["seconds"] > 0
    assert (a3["graded"], a3["run_notebooks"], a3["run_assignments"], a3["seconds"]) == (0, 2, [A1, "a3_moons"], first["seconds"])
    coordinator.grade(course, A1, jobs=2, progress=False, log=lambda *_: None)
    second = runs.last_runs(course)[A1]
    assert (second["graded"], second["refused"], second["skipped_unchanged"], second["jobs"]) == (0, 1, 2, 0)
    report = build(course)
    assert (report.run["notebooks"], report.run["skipped_unchanged"], report.run["seconds_per_notebook"]) == ("0", "2", "n/a")
    assert report.summary["graded"] == "1" and report.summary["errors"] == "2"
    assert {look.student: [f.kind for f in look.flags] for look in report.look}.keys() >= {"example-dan"}
    (course.root / runs.RUNS_FILE).write_text("{not json")
    assert runs.last_runs(course) == {}  # a damaged figures file: no figures, no failure


@pytest.mark.parametrize("assignment", ["a1_helpers", "a2_backprop", "a3_moons", "a4_mnist", "a5_cnn"])
def test_every_assignments_functions_have_a_test_cell_and_an_answer_cell(assignment):
    """What the report reads from an assignment's declaration (its checks) and its release: each graded function's
    test cell is in the release, and so is the answer cell its example is taken from."""
    from autograder.grading.orchestration.course import Course
    from notebooks import ROOT

    release = class_report._release(Course(ROOT), assignment)
    order = [class_report._nbgrader(c).get("grade_id") for c in release.cells]
    functions = class_report._functions(assignment, order, [])
    answers = class_report._solution_cells(release)
    assert functions and all(cell in order for cell in functions.values()), functions
    assert set(functions) <= set(answers), set(functions) - set(answers)
    assert list(functions.values()) == sorted(functions.values(), key=order.index)  # the notebook's order


def test_labels_are_stable_in_a_course_and_not_a_hash_of_the_id(tmp_path):
    from autograder.grading.orchestration.course import Course

    first, second = Course(tmp_path / "one"), Course(tmp_path / "two")
    label = class_report.Labels(first)("s07")
    assert class_report.Labels(first)("s07") == label != class_report.Labels(second)("s07")  # a random key per course
    key = first.root / "reports" / class_report.KEY_FILE
    assert key.stat().st_mode & 0o777 == 0o600
    assert class_report.anonymise("s07 and S07, not s070 or as07; Bob Kahn / Kahn, Bob / KAHN", "s07", "Kahn, Bob", "L") == \
        "L and L, not s070 or as07; L / L / L"


def test_mistakes_of_a_result_judged_in_the_kernel_are_unknown_not_none(tmp_path):
    """--no-verify: the checks judged in the student's kernel and nothing but text came back, so the recorded list is
    empty though the student lost points: those mistakes are unknown."""
    rows = records()
    s02 = next(row for row in rows if row["student"] == "s02")
    s02["verified"], s02["mistakes"] = False, []
    course = make_class(tmp_path / "course")
    (course.root / pipeline.STATUS_FILE).write_text(json.dumps(rows))
    report = build(course)
    assert report.summary["mistakes_unknown"] == "2"
    softmax = by(report.functions, "name")["softmax"]
    assert [(m.id, m.students, m.share) for m in softmax.mistakes][0] == ("softmax.axis0", 2, "40%")  # s03, s07 of 5 known
    assert softmax.below_full_without_mistake == 0  # s02 is not counted as losing points for no named reason

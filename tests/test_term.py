"""The term's bookkeeping (autograder/term): roster, due dates and extensions, late penalties, LMS exports,
the audit trail. Fast: a gradebook made through nbgrader's API, no notebook is run."""

import csv
import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from autograder.cli import main
from autograder.grading.orchestration import feedback, pipeline
from autograder.grading.orchestration.coordinator import _empty_gradebook
from autograder.grading.orchestration.course import Course
from autograder.grading.orchestration.pipeline import StudentResult, final_score
from autograder.term import audit, commands, deadlines, lms, penalties, roster, store
from notebooks import ROOT

FIXTURES = ROOT / "tests" / "fixtures"
A = "a1_helpers"
UTC = dt.timezone.utc


def utc(*args):
    return dt.datetime(*args, tzinfo=UTC)


@pytest.fixture
def course(tmp_path):
    """A course with one assignment (cells relu 4 points, softmax 6) and three submissions."""
    (tmp_path / "source" / A).mkdir(parents=True)
    (tmp_path / "source" / A / f"{A}.ipynb").write_text("{}")
    shutil.copy2(ROOT / "nbgrader_config.py", tmp_path / "nbgrader_config.py")
    c = Course(tmp_path)
    _empty_gradebook(c.gradebook_path)
    with c.gradebook() as gb:
        gb.add_assignment(A)
        gb.add_notebook(A, A)
        gb.add_grade_cell("relu", A, A, max_score=4, cell_type="code")
        gb.add_grade_cell("softmax", A, A, max_score=6, cell_type="code")
        for sid in ("s001", "s002", "s003"):
            gb.add_student(sid)
            gb.add_submission(A, sid)
    return c


def set_scores(course, student, relu, softmax, timestamp=None):
    with course.gradebook() as gb:
        sub = gb.find_submission(A, student)
        if timestamp is not None:
            sub.timestamp = deadlines.as_naive_utc(timestamp)
        for g in sub.notebooks[0].grades:
            g.auto_score = relu if g.name == "relu" else softmax
            g.needs_manual_grade = False
        gb.db.commit()
        audit.record_submission(course, sub)


def results(course, *students):
    rs = [StudentResult(s, A) for s in students]
    return penalties.apply(course, pipeline.with_gradebook_scores(course, rs))


# ------------------------------------------------------------------------------- deadlines

def test_a_due_date_is_wall_time_in_its_zone_across_daylight_saving():
    assert deadlines.parse_local("2026-12-10 23:59", "Europe/London") == utc(2026, 12, 10, 23, 59)  # GMT
    assert deadlines.parse_local("2026-06-10 23:59", "Europe/London") == utc(2026, 6, 10, 22, 59)  # BST
    assert deadlines.parse_local("2026-12-10 23:59", "America/New_York") == utc(2026, 12, 11, 4, 59)
    assert deadlines.parse_local("2026-12-10", "UTC") == utc(2026, 12, 10, 23, 59, 59)
    # 01:30 on 29 March 2026 does not exist in London; on 25 October it happens twice: the later one counts.
    with pytest.raises(SystemExit, match="does not exist"):
        deadlines.parse_local("2026-03-29 01:30", "Europe/London")
    assert deadlines.parse_local("2026-10-25 01:30", "Europe/London") == utc(2026, 10, 25, 1, 30)
    with pytest.raises(SystemExit, match="unknown time zone"):
        deadlines.parse_local("2026-12-10 23:59", "Mars/Olympus")


def test_lateness_at_the_deadline_and_one_second_after():
    due = utc(2026, 12, 10, 23, 59)
    assert deadlines.seconds_late(due, due) == 0
    assert deadlines.seconds_late(due + dt.timedelta(seconds=1), due) == 1
    assert deadlines.seconds_late(None, due) == 0 and deadlines.seconds_late(due, None) == 0
    # an extension ending the day after, given as a wall time
    until = deadlines.parse_local("2026-12-11 23:59", "Europe/London")
    ext = deadlines.extension_delta({"until_utc": until.isoformat()}, due)
    assert ext == dt.timedelta(days=1)
    assert deadlines.seconds_late(until, due, ext) == 0
    assert deadlines.seconds_late(until + dt.timedelta(seconds=1), due, ext) == 1


def test_a_submission_time_in_a_summer_time_zone_is_read_in_that_zone():
    read = deadlines.read_timestamp
    assert read("2026-06-10 23:30:00.000000 UTC") == (utc(2026, 6, 10, 23, 30), "")  # nbgrader's default
    assert read("2026-06-10 23:30:00.000000 CET", "Europe/London")[0] == utc(2026, 6, 10, 21, 30)  # a zone nbgrader knows
    assert read("2026-06-10 23:30:00.000000+0100")[0] == utc(2026, 6, 10, 22, 30)
    # Names nbgrader's parse_utc reads as UTC: read in the due date's zone where it uses that name then.
    assert read("2026-06-10 23:30:00.000000 BST", "Europe/London") == (utc(2026, 6, 10, 22, 30), "")
    assert read("2026-06-10 23:30:00.000000 JST", "Asia/Tokyo") == (utc(2026, 6, 10, 14, 30), "")
    assert read("2026-10-25 01:30:00.000000 BST", "Europe/London")[0] == utc(2026, 10, 25, 0, 30)  # the first 01:30
    moment, note = read("2026-06-10 23:30:00.000000 EDT", "Europe/London")
    assert moment == utc(2026, 6, 10, 23, 30) and "zone EDT unknown: read as UTC" in note
    assert read("yesterday-ish \x1b[2J", "UTC")[0] is None and "unreadable" in read("nonsense", "UTC")[1]


def test_a_summer_time_submission_before_the_deadline_is_on_time(course):
    commands.set_due(course, A, "2026-06-10 23:59", "Europe/London")  # 22:59 UTC
    set_scores(course, "s001", 4, 6)
    set_scores(course, "s002", 4, 6)
    for student, stamp in (("s001", "2026-06-10 23:30:00.000000 BST"), ("s002", "2026-06-11 00:30:00.000000 BST")):
        folder = course.root / "submitted" / student / A
        folder.mkdir(parents=True)
        (folder / "timestamp.txt").write_text(stamp + "\n")
    rs = {r.student: r for r in results(course, "s001", "s002")}
    assert (rs["s001"].seconds_late, rs["s001"].late_penalty) == (0, 0)  # nbgrader alone would say 31 min late
    assert (rs["s002"].seconds_late, rs["s002"].late_penalty) == (31 * 60, 1)
    with course.gradebook() as gb:  # formgrader shows the same times
        assert gb.find_submission(A, "s001").timestamp == dt.datetime(2026, 6, 10, 22, 30)


def test_an_extension_in_hours_is_real_hours_over_a_clock_change():
    due = deadlines.parse_local("2026-10-24 12:00", "Europe/London")  # BST
    ext = deadlines.extension_delta({"hours": 48}, due)
    deadline = due + ext
    assert deadlines.show(deadline, "Europe/London") == "2026-10-26 11:00:00 GMT"  # the clocks went back an hour


def test_the_late_policy_methods():
    P = deadlines.LatePenalty
    assert P(penalty_method="none").late_submission_penalty("s", 8, 3600) is None
    assert P(penalty_method="zero").late_submission_penalty("s", 8, 1) == 8
    assert P(penalty_method="zero").late_submission_penalty("s", 8, 0) is None  # on time
    assert P(penalty_method="subtract", subtract_points=3).late_submission_penalty("s", 8, 1) == 3
    assert deadlines.clamp(P(penalty_method="subtract", subtract_points=3).late_submission_penalty("s", 2, 1), 2) == 2  # never below 0
    per_day = P(penalty_method="per_day", percent_per_day=10, max_percent=50, cutoff_days=7)
    assert per_day.late_submission_penalty("s", 10, 1) == 1  # one second: one started day
    assert per_day.late_submission_penalty("s", 10, 86400) == 1
    assert per_day.late_submission_penalty("s", 10, 86401) == 2
    assert per_day.late_submission_penalty("s", 10, 6 * 86400) == 5  # capped at 50 %
    assert per_day.late_submission_penalty("s", 10, 7 * 86400) == 5
    assert per_day.late_submission_penalty("s", 10, 7 * 86400 + 1) == 10  # past the cut-off: 0
    assert "10% per started day" in per_day.describe() and "0 after 7 days" in per_day.describe()


def test_the_course_policy_is_read_from_nbgrader_config(course):
    p = deadlines.policy(course)
    assert (p.penalty_method, p.percent_per_day, p.max_percent, p.cutoff_days) == ("per_day", 10, 50, 7)


# ------------------------------------------------------------------------------- penalties

def test_the_penalty_is_on_the_verified_score_and_never_applied_twice(course):
    commands.set_due(course, A, "2026-12-10 23:59", "Europe/London")
    due = utc(2026, 12, 10, 23, 59)
    set_scores(course, "s001", 4, 6, timestamp=due)  # exactly at the deadline
    set_scores(course, "s002", 4, 4, timestamp=due + dt.timedelta(seconds=1))  # one second late
    set_scores(course, "s003", 2, 0, timestamp=due + dt.timedelta(days=30))  # past the cut-off
    for _ in range(3):  # exporting again, regrading or resuming recomputes from the raw score
        rs = {r.student: r for r in results(course, "s001", "s002", "s003")}
        assert (rs["s001"].score, rs["s001"].late_penalty, final_score(rs["s001"])) == (10, 0, 10)
        assert (rs["s002"].score, rs["s002"].late_penalty, final_score(rs["s002"]), rs["s002"].seconds_late) == (8, 0.8, 7.2, 1)
        assert final_score(rs["s003"]) == 0
        assert any(n.startswith("late 1 s: -0.8 point(s)") for n in rs["s002"].notes)
        assert sum(n.startswith("late ") for n in rs["s002"].notes) == 1
    with course.gradebook() as gb:  # where nbgrader keeps it: formgrader and generate_feedback show it
        assert gb.find_submission(A, "s002").notebooks[0].late_submission_penalty == pytest.approx(0.8)
        assert gb.find_submission(A, "s001").notebooks[0].late_submission_penalty is None
    penalty_lines = [e for e in audit.entries(course, "s002") if e["kind"] == "late_penalty"]
    assert len(penalty_lines) == 1 and penalty_lines[0]["new"] == pytest.approx(0.8)


def test_an_extension_makes_a_late_submission_on_time_and_a_manual_grade_changes_the_penalty(course):
    commands.set_due(course, A, "2026-12-10 23:59", "Europe/London")
    late = utc(2026, 12, 11, 20, 0)
    set_scores(course, "s002", 4, 6, timestamp=late)
    assert results(course, "s002")[0].late_penalty == 1
    commands.extend(course, "s002", A, until="2026-12-11 23:59")  # the day after
    r = results(course, "s002")[0]
    assert (r.seconds_late, r.late_penalty, final_score(r)) == (0, 0, 10)
    with course.gradebook() as gb:
        assert gb.find_submission(A, "s002").extension == dt.timedelta(days=1)
    commands.extend(course, "s002", A, hours=2)  # replaced by a shorter one: late again
    r = results(course, "s002")[0]
    assert r.late_penalty == 1
    commands.override(course, "s002", A, "softmax", 2, "regraded after a re-mark request")
    r = results(course, "s002")[0]
    assert (r.score, r.late_penalty, final_score(r)) == (6, 0.6, 5.4)
    kinds = [e["kind"] for e in audit.entries(course, "s002", A)]
    for kind in ("autograde", "late_penalty", "extension", "override"):
        assert kind in kinds, kinds
    due_lines = [e for e in audit.entries(course, "s002", A) if e["kind"] == "due_date"]
    assert due_lines and due_lines[0]["student"] == "*"


PAGE = ("<!DOCTYPE html>\n<html><head><style>body {}</style></head>\n<body>\n<h4>a1_helpers (Score: 8.0 / 10.0)</h4>\n"
        "<body><main>the student's part: <!-- /nnfs:late-notice --> &lt;b&gt;</main></body>\n</body></html>\n")


def feedback_page(course, student):
    return course.feedback_html(student, A).read_text()


def test_the_feedback_page_shows_the_lateness_and_penalty_once_and_follows_extensions(course):
    commands.set_due(course, A, "2026-12-10 23:59", "Europe/London")
    set_scores(course, "s002", 4, 4, timestamp=utc(2026, 12, 11, 20, 0))  # 20 h 1 min late: one started day, 10 %
    set_scores(course, "s001", 4, 6, timestamp=utc(2026, 12, 10, 23, 59))  # exactly at the deadline
    for student in ("s001", "s002"):
        course.feedback_html(student, A).parent.mkdir(parents=True)
        course.feedback_html(student, A).write_text(PAGE)
    for _ in range(3):  # every export (and a regrade's or a resumed run's) puts the same one notice
        results(course, "s001", "s002")
        page = feedback_page(course, "s002")
        assert page.count("Late submission:") == 1 and page.count(feedback.LATE_NOTICE_START) == 1
        assert "Late submission: 20 h 1 min after the deadline." in page
        assert "Submitted 2026-12-11 20:00:00 GMT; the deadline was 2026-12-10 23:59:00 GMT." in page
        assert "Late policy: -10% per started day late, at most 50%; 0 after 7 days." in page
        assert "Score before the penalty: 8 / 10; penalty: &minus;0.8; <strong>score: 7.2 / 10</strong>" in page
        assert page.index("<body>") < page.index("Late submission") < page.index("<h4>")
        assert feedback_page(course, "s001") == PAGE  # on time: untouched
    commands.override(course, "s002", A, "softmax", 6, "re-marked")  # the penalty follows the new score
    results(course, "s002")
    assert "Score before the penalty: 10 / 10; penalty: &minus;1; <strong>score: 9 / 10</strong>" in feedback_page(course, "s002")
    commands.extend(course, "s002", A, until="2026-12-11 23:59")  # granted after grading: no notebook is run again
    results(course, "s002")
    assert feedback_page(course, "s002") == PAGE
    commands.extend(course, "s002", A, hours=2)
    results(course, "s002")
    page = feedback_page(course, "s002")
    assert "the deadline was 2026-12-11 01:59:00 GMT (your extension included)" in page and page.count("Late submission:") == 1
    assert feedback.with_late_notice(page, "") == PAGE


def test_the_late_notice_is_escaped():
    notice = feedback.late_notice("1 s", "<b>now</b>", "then", False, "<script>alert(1)</script>", 8, 0.8, 7.2, 10)
    assert "<script>" not in notice and "&lt;script&gt;" in notice and "&lt;b&gt;now" in notice
    assert notice.count(feedback.LATE_NOTICE_END) == 1 and notice.endswith(feedback.LATE_NOTICE_END)


def test_a_due_date_missing_from_a_new_gradebook_is_put_back(course):
    commands.set_due(course, A, "2026-12-10 23:59", "UTC")
    with course.gradebook() as gb:
        gb.find_assignment(A).duedate = None
        gb.db.commit()
    set_scores(course, "s001", 4, 6, timestamp=utc(2026, 12, 12))
    assert results(course, "s001")[0].late_penalty == 2


# ---------------------------------------------------------------------------------- roster

def test_plain_roster_import_and_a_reimport_that_renames_keeps_every_grade(course, tmp_path):
    set_scores(course, "s001", 4, 6)
    f = tmp_path / "students.csv"
    f.write_text("id,first_name,last_name,email,section\ns001,Ada,Byron,ada@example.org,A\ns002,Grace,Hopper,grace@example.org,B\n")
    report = roster.import_file(course, f)
    assert sorted(report.added) == ["s001", "s002"]
    f.write_text("id,first_name,last_name,email,section\ns001,Ada,Lovelace,ada@example.org,A\ns004,Alan,Turing,,C\n")
    report = roster.import_file(course, f)
    assert report.renamed == [("s001", "Byron, Ada", "Lovelace, Ada")] and report.added == ["s004"] and report.kept == ["s002"]
    with course.gradebook() as gb:
        s = gb.find_student("s001")
        assert (s.first_name, s.last_name, s.email) == ("Ada", "Lovelace", "ada@example.org")
        assert gb.find_submission(A, "s001").score == 10  # the grade is still there
        assert gb.find_student("s002").last_name == "Hopper"  # not in the new file: kept
    assert roster.names(course)["s001"] == "Lovelace, Ada"
    assert store.load(course)["roster"]["s004"]["section"] == "C"


def test_canvas_export_as_roster(course):
    rows, refused = roster.parse(roster.read_file(FIXTURES / "canvas_gradebook_export.csv"), "canvas")
    assert refused == []
    assert [(r["id"], r["first_name"], r["last_name"], r["lms_user_id"], r["sis_user_id"], r["section"]) for r in rows] == [
        ("s001", "Ada", "Lovelace", "4101", "1001", "NNFS 2026 Section A"),
        ("s002", "Grace", "Hopper", "4102", "1002", "NNFS 2026 Section B"),
    ]  # the Points Possible row and Canvas's Test Student are skipped
    rows, _ = roster.parse(roster.read_file(FIXTURES / "canvas_gradebook_export.csv"), "canvas", id_column="SIS User ID")
    assert [r["id"] for r in rows] == ["1001", "1002"]


def test_moodle_export_as_roster():
    rows, refused = roster.parse(roster.read_file(FIXTURES / "moodle_grade_export.csv"), "moodle")
    assert refused == []
    assert [(r["id"], r["first_name"], r["last_name"], r["email"]) for r in rows] == [
        ("student7@mail.com", "Anne", "Able", "student7@mail.com"), ("student5@mail.com", "Bobby", "Bunce", "student5@mail.com")]


def test_roster_strings_are_untrusted(course, tmp_path):
    f = tmp_path / "r.csv"
    f.write_text('id,first_name,last_name\n"<script>",A,B\n=cmd|x,C,D\nok1,"\x1b[31mRed","=HYPERLINK(1)"\n')
    report = roster.import_file(course, f)
    assert report.added == ["ok1"] and len(report.refused) == 2
    assert all(r"\x1b" not in why and "<script>" not in why or "'<script>'" in why for _, why in report.refused)
    names = roster.names(course)
    r = StudentResult("ok1", A, score=1.0, max_score=10.0)
    table = pipeline.format_table([r], names)
    assert "\x1b" not in table and r"\x1b[31mRed" in table
    out = tmp_path / "g.csv"
    pipeline.write_grades_csv(out, [r], names)
    lms.export(course, [r], [A], canvas=tmp_path / "c.csv", moodle=tmp_path / "m.csv", wide=tmp_path / "w.csv")
    for path in (out, tmp_path / "c.csv", tmp_path / "m.csv", tmp_path / "w.csv"):
        for row in csv.reader(path.open()):
            assert not any(cell[:1] in ("=", "+", "@", "-") for cell in row), (path.name, row)
            assert not any("\x1b" in cell for cell in row)


def test_a_student_not_on_the_roster_is_graded_and_flagged(course, tmp_path):
    f = tmp_path / "r.csv"
    f.write_text("id,first_name,last_name\ns001,Ada,Lovelace\n")
    roster.import_file(course, f)
    set_scores(course, "s003", 4, 6)
    r = results(course, "s003")[0]
    assert final_score(r) == 10 and any(n.startswith(roster.NOT_ON_ROSTER) for n in r.notes)
    assert not any(n.startswith(roster.NOT_ON_ROSTER) for n in results(course, "s001")[0].notes)


# ---------------------------------------------------------------------------------- exports

def _export_results(course):
    set_scores(course, "s001", 4, 6)
    rs = results(course, "s001") + [StudentResult("s002", A, status="error", reason="not valid JSON")]
    return rs


def test_canvas_export_has_canvas_header_and_blanks_for_missing_and_errors(course, tmp_path):
    roster.import_file(course, FIXTURES / "canvas_gradebook_export.csv", "canvas")
    term = store.load(course)
    term["canvas_assignment_ids"][A] = "123456"
    store.save(course, term)
    rs = _export_results(course)
    out = tmp_path / "canvas.csv"
    lms.export(course, rs + [StudentResult("s009", A, status="error", reason="x")], [A, "a2_backprop"], canvas=out)
    rows = list(csv.reader(out.open()))
    documented = next(csv.reader((FIXTURES / "canvas_gradebook_export.csv").open()))
    assert rows[0][:5] == documented[:5] == lms.CANVAS_USER_COLUMNS
    assert rows[0][5] == documented[5].replace("Assignment 1", A)  # "Name (id)", as Canvas writes it
    assert rows[0][6] == "a2_backprop"  # no Canvas id yet: Canvas creates the assignment on import
    assert rows[1][0] == "    Points Possible" and rows[1][0] == next(r for r in csv.reader((FIXTURES / "canvas_gradebook_export.csv").open()) if "Points" in r[0])[0]
    assert rows[1][5] == "10"
    body = {r[3] or r[0]: r for r in rows[2:]}
    assert body["s001"] == ["Lovelace, Ada", "4101", "1001", "s001", "NNFS 2026 Section A", "10", ""]
    assert body["s002"][5:] == ["", ""]  # an error and a missing submission: blank, never 0
    assert body["s009"][:5] == ["s009", "", "", "s009", ""]  # not on the roster: graded, exported by id
    lms.export(course, rs, [A, "a2_backprop"], canvas=out, missing_as_zero=True)
    body = {r[3]: r for r in list(csv.reader(out.open()))[2:]}
    assert body["s002"][5:] == ["0", "0"]


def test_moodle_and_wide_exports(course, tmp_path):
    roster.import_rows(course, [{"id": "s001", "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.org"},
                                {"id": "s002", "first_name": "Grace", "last_name": "Hopper", "email": "grace@example.org"}])
    rs = _export_results(course)
    lms.export(course, rs, [A], moodle=tmp_path / "m.csv", wide=tmp_path / "w.csv")
    rows = list(csv.reader((tmp_path / "m.csv").open()))
    documented = next(csv.reader((FIXTURES / "moodle_grade_export.csv").open()))
    assert [h.replace("Surname", "Last name") for h in documented[:6]] == rows[0][:6] == lms.MOODLE_USER_COLUMNS
    assert rows[0][6:] == [A]
    assert rows[1] == ["Ada", "Lovelace", "s001", "", "", "ada@example.org", "10"] and rows[2][6] == ""
    wide = list(csv.DictReader((tmp_path / "w.csv").open()))
    assert wide[0][A] == "10" and wide[0][f"{A}_status"] == "graded" and wide[1][A] == "" and wide[1][f"{A}_status"] == "error"


# ------------------------------------------------------------------------------------ audit

def test_a_grade_changed_in_formgrader_is_found_in_the_gradebook(course):
    set_scores(course, "s001", 4, 6)
    with course.gradebook() as gb:  # what formgrader does: it writes manual_score, no hook runs
        g = next(g for g in gb.find_submission(A, "s001").notebooks[0].grades if g.name == "softmax")
        g.manual_score = 5.0
        gb.db.commit()
    assert audit.sync(course) == 1
    assert audit.sync(course) == 0  # recorded once
    line = audit.entries(course, "s001")[-1]
    assert (line["kind"], line["cell"], line["field"], line["old"], line["new"]) == ("manual", "softmax", "manual", None, 5.0)
    auto = [e for e in audit.entries(course, "s001") if e["kind"] == "autograde"]
    assert {(e["cell"], e["new"]) for e in auto} == {("relu", 4.0), ("softmax", 6.0)}
    set_scores(course, "s001", 4, 6)  # graded again, same scores: nothing new
    assert len(audit.entries(course, "s001")) == 3
    raw = (course.root / "audit.jsonl").read_text().splitlines()
    assert all(set(json.loads(l)) >= {"time", "by", "student", "assignment", "cell", "old", "new", "reason"} for l in raw)


def test_the_cli_term_commands(course, tmp_path, capsys):
    f = tmp_path / "students.csv"
    f.write_text("id,first_name,last_name,email,section\ns001,Ada,Lovelace,ada@example.org,A\ns002,Grace,\x1b[2JHopper,g@example.org,B\n")
    run = lambda *a: main(["--course", str(course.root), *a])
    assert run("roster", "import", str(f)) == 0
    assert run("due", A, "2026-12-10 23:59", "--tz", "Europe/London") == 0
    assert "2026-12-10 23:59:00 GMT" in capsys.readouterr().out
    set_scores(course, "s001", 4, 6, timestamp=utc(2026, 12, 11, 12))
    set_scores(course, "s002", 4, 6, timestamp=utc(2026, 12, 11, 12))
    pipeline.save_results(course, [StudentResult(s, A, score=10.0, max_score=10.0) for s in ("s001", "s002")])
    assert run("--by", "ta-jane", "extend", "s002", A, "--hours", "24") == 0
    assert run("--by", "prof", "override", "s001", A, "relu", "3", "--reason", "hard-coded the test inputs") == 0
    assert run("export", "--canvas", str(tmp_path / "c.csv"), "--wide", str(tmp_path / "w.csv")) == 0
    out = capsys.readouterr().out
    assert "Lovelace, Ada" in out and "8.1 / 10 late" in out and "\x1b" not in out
    rows = {r["student_id"]: r for r in csv.DictReader((course.root / "grades.csv").open())}
    assert (rows["s001"]["score"], rows["s001"]["raw_score"], rows["s001"]["late_penalty"]) == ("8.1", "9", "0.9")
    assert (rows["s002"]["score"], rows["s002"]["late_penalty"]) == ("10", "")
    assert run("history", "s001", A) == 0
    history = capsys.readouterr().out
    assert "prof  override  s001  a1_helpers/relu  manual: - -> 3  (hard-coded the test inputs" in history
    assert "late_penalty" in history and "due_date" in history
    assert run("history", "s002") == 0
    assert "ta-jane  extension  s002" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="worth 4 points"):
        run("override", "s001", A, "relu", "7", "--reason", "x")


def test_the_demo_roster_and_late_example(tmp_path):
    from autograder.examples import DEMO_DUE, ROSTER, write_submissions

    shutil.copytree(ROOT / "release" / A, tmp_path / "release" / A)
    write_submissions(tmp_path, A)
    stamps = sorted(p.parent.parent.name for p in (tmp_path / "submitted").glob(f"*/{A}/timestamp.txt"))
    assert stamps == ["example-grace"]
    submitted = deadlines.parse_local("2026-01-16 18:30", "UTC")
    due = deadlines.parse_local(*DEMO_DUE[1:])
    late = deadlines.seconds_late(submitted, due)
    assert deadlines.policy(Course(ROOT)).late_submission_penalty("example-grace", 10.0, late) == 2  # README's 8 / 10
    rows, refused = roster.parse(roster.read_file(ROSTER), "plain")
    assert not refused and {r["id"] for r in rows} == {"example-ada", "example-bob", "example-carol", "example-dan", "example-eve", "example-grace", "example-heidi"}


# --------------------------------------------------------------------------------- exchange

def test_exchange_init_makes_the_folder_formgrader_and_students_find(course, tmp_path, monkeypatch):
    """`nnfs exchange init` as the guide runs it (section 1 and after the first release), and `nnfs exchange init
    --root` as its JupyterHub section does, with a private config folder in place of /etc/jupyter."""
    from autograder.term import exchange

    config_dir, root = tmp_path / "jupyter-config", tmp_path / "exchange"
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(config_dir))  # ~/.jupyter, as students' nbgrader reads it
    config_dir.mkdir()
    (config_dir / "nbgrader_config.py").write_text(f"c = get_config()\nc.Exchange.root = {str(root)!r}\n")
    assert exchange.exchange_missing(course.root)  # a fresh machine: formgrader warns
    run = lambda *a: main(["--course", str(course.root), "exchange", "init", *a])  # noqa: E731
    assert run() == 0
    assert oct(root.stat().st_mode & 0o7777) == oct(exchange.ROOT_MODE)
    assert not exchange.exchange_missing(course.root)
    inbound = root / "nnfs-course" / "inbound"  # as nbgrader's release_assignment makes it
    inbound.mkdir(parents=True)
    inbound.chmod(0o2733)
    assert run() == 0  # again, after the first release: the sticky bit on inbound
    assert oct(inbound.stat().st_mode & 0o7777) == oct(0o3733)

    other = tmp_path / "srv" / "exchange"
    for _ in range(2):  # --root writes the config every user's nbgrader reads; a second run replaces its block
        assert run("--root", str(other), "--config-dir", str(config_dir)) == 0
    text = (config_dir / "nbgrader_config.py").read_text()
    assert text.count(exchange.BLOCK_START) == 1 and text.startswith("c = get_config()\nc.Exchange.root")
    assert exchange.root_in(exchange.nbgrader_config(None)) == other == exchange.root_in(exchange.nbgrader_config(course.root))
    assert oct(other.stat().st_mode & 0o7777) == oct(exchange.ROOT_MODE) and not exchange.exchange_missing(course.root)

    with pytest.raises(SystemExit, match="nbgrader does not read config from"):
        exchange.init(course, str(other), str(tmp_path / "elsewhere"))
    # The trap: a root in the course's config only, which students' nbgrader never reads.
    course_config = course.root / "nbgrader_config.py"
    course_config.write_text(course_config.read_text() + f"\nc.Exchange.root = {str(tmp_path / 'course-only')!r}\n")
    with pytest.raises(SystemExit, match="students' nbgrader does not read that file"):
        exchange.init(course)
    assert not (tmp_path / "course-only").exists()


# ------------------------------------------------------------------- end to end (one kernel)

def test_the_demo_late_student_feedback_page_from_a_real_grading_run(tmp_path):
    """Grace, graded for real as `nnfs demo` grades her: her nbconvert-made feedback page gets the late notice
    once, a second `nnfs grade` (nothing to regrade) and `nnfs export` keep it single, and an extension granted
    afterwards takes it off at the next export without running her notebook again."""
    from autograder.cli import _demo_term
    from autograder.examples import write_submissions

    shutil.copytree(ROOT / "source" / A, tmp_path / "source" / A)
    shutil.copy2(ROOT / "nbgrader_config.py", tmp_path / "nbgrader_config.py")
    run = lambda *a: main(["--course", str(tmp_path), *a])  # noqa: E731
    assert run("release", A) == 0  # the release and the gradebook's cells, as the demo makes them
    write_submissions(tmp_path, A)
    course = Course(tmp_path)
    _demo_term(course)
    assert run("grade", A, "--student", "example-grace", "--jobs", "1") == 0
    page_path = course.feedback_html("example-grace", A)
    page = page_path.read_text()
    assert page.count("Late submission:") == 1 and "Late submission: 1 d 1 h after the deadline." in page
    assert "Score before the penalty: 10 / 10; penalty: &minus;2; <strong>score: 8 / 10</strong>" in page
    assert page.index("Late submission:") < page.index("a1_helpers (Score:")  # at the top, before nbgrader's header
    graded = pipeline.load_results(course)[0].seconds
    assert run("grade", A, "--student", "example-grace", "--jobs", "1") == 0 and run("export") == 0
    assert page_path.read_text() == page and pipeline.load_results(course)[0].seconds == graded  # not run again
    commands.extend(course, "example-grace", A, hours=48)
    assert run("export") == 0
    assert "Late submission" not in page_path.read_text() and "a1_helpers (Score: 10.0 / 10.0)" in page_path.read_text()


def test_the_shared_exchange_keeps_students_out_of_each_others_submissions(tmp_path):
    """The guide's JupyterHub table, on real accounts: the instructor (this root process) releases through
    nbgrader and runs `nnfs exchange init`; a student (uid 65534, "nobody") may fetch and submit but not list
    inbound, nor rename or delete another student's submission."""
    import os
    import subprocess
    import sys
    import tempfile

    python = Path("/usr/bin/python3")  # the course's own interpreter may sit in a folder only root can read
    if os.geteuid() != 0 or not python.is_file():
        pytest.skip("needs root, to act as a second Unix account, and /usr/bin/python3 for that account")
    shared = Path(tempfile.mkdtemp(prefix="nnfs-exchange-test-", dir="/tmp"))  # tmp_path is private to root
    try:
        shared.chmod(0o755)
        root, config_dir, course_root = shared / "exchange", tmp_path / "jupyter-config", tmp_path / "course"
        config_dir.mkdir()
        (config_dir / "nbgrader_config.py").write_text(f"c = get_config()\nc.Exchange.root = {str(root)!r}\n")
        shutil.copytree(ROOT / "source" / A, course_root / "source" / A)
        shutil.copytree(ROOT / "release" / A, course_root / "release" / A)
        shutil.copy2(ROOT / "nbgrader_config.py", course_root / "nbgrader_config.py")
        env = {**os.environ, "JUPYTER_CONFIG_DIR": str(config_dir)}
        tools = Path(sys.executable).parent
        for command in ([str(tools / "nnfs"), "exchange", "init"], [str(tools / "nbgrader"), "release_assignment", A],
                        [str(tools / "nnfs"), "exchange", "init"]):
            subprocess.run(command, cwd=course_root, env=env, check=True, capture_output=True)
        inbound = root / "nnfs-course" / "inbound"
        assert oct(inbound.stat().st_mode & 0o7777) == "0o3733"
        other = inbound / f"s001+{A}+2026-12-10 12:00:00.000000 UTC+aBcDeFgHiJkL"  # another student's, as submit makes it
        other.mkdir()
        other.chmod(0o777)
        (other / f"{A}.ipynb").write_text("{}")
        student = f"""
import os, sys
inbound, other, outbound = sys.argv[1:4]
def refused(action):
    try:
        action()
    except PermissionError:
        return True
    return False
assert open(os.path.join(outbound, "{A}.ipynb")).read()            # fetch a released assignment
assert refused(lambda: open(os.path.join(outbound, "x"), "w"))     # but not change the release
mine = os.path.join(inbound, "mallory+{A}+now+XyZ")
os.mkdir(mine); open(os.path.join(mine, "{A}.ipynb"), "w").write("{{}}")  # submit
assert refused(lambda: os.listdir(inbound))                         # not list who submitted what
assert refused(lambda: os.rename(other, mine + "-taken"))           # nor move another's submission away
assert refused(lambda: os.rmdir(other))
print("ok")
"""
        run = subprocess.run([str(python), "-c", student, str(inbound), str(other), str(root / "nnfs-course" / "outbound" / A)],
                             user=65534, group=65534, capture_output=True, text=True, cwd="/")
        assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr
    finally:
        shutil.rmtree(shared, ignore_errors=True)

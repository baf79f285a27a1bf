"""The course in JupyterLab with nbgrader's extensions, driven in a real browser, as people use it.

A copy of the course is released and its example students graded (`nnfs release / examples / grade`),
then `jupyter lab` from the course's environment serves it on loopback and Debian's Chromium (headless,
through Playwright) plays:
  a student, who opens a1, fills in relu, runs it and its visible tests, and reads nbgrader's Validate
  verdict (failing cells named; a complete notebook passes);
  an instructor, who opens formgrader from the Nbgrader menu and finds the assignment, the students and
  the graded submissions with the scores the gradebook holds;
  a hostile student, graded in the same run, whose relu cell displays every output of tests/hostile.py's
  catalogue (script, handlers, SVG, JavaScript, frames, forms, overlays, MathJax links) and whose integrity
  declaration and a free markdown cell carry every markdown attack: the instructor opens that submission in
  formgrader (as stored, and as an autograded notebook stored before the sanitizer existed would be) and the
  student opens their feedback page, and no script of theirs runs (no console mark, no dialog, no
  window.__pwned, no file written through /api/contents, no request for one), while the same script run by
  the test itself in those pages does all of that;
  submission folders whose names are the attack (markup with a handler, a quote breaking out of an attribute or
  a script's string, a spreadsheet formula, terminal codes), in the same run: `nnfs grade` refuses them under
  stand-in ids and prints and exports them inert; formgrader, which reads submitted/ itself, lists none of
  them (autograder/formgrader_guard.py) and runs none of their scripts in its lists or on the student pages
  a crafted link to each leads to.
And an instructor opens a class report (`nnfs report`) from disk, of a made-up class whose ids, messages, notes
and code carry scripts (tests/synthetic_class.py): the numbers and the ranked mistakes are there, and nothing runs.
Every step leaves a screenshot in test-output/browser/ (git-ignored) for a reviewer to look at, also the
step that failed (its name ends in -FAILED). Skips only when Playwright or Chromium cannot start here.
"""

import csv
import io
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

import nbformat
import pytest

from autograder import cli
from autograder.assignments import spec
from autograder.checks import a1_helpers as a1_checks
from autograder.examples import ROSTER, example_students
from autograder.grading.orchestration import pipeline
from autograder.grading.orchestration.untrusted import is_valid_student_id, stand_in_id
from browser import CHROMIUM_FLAGS, INSTALL_CHROMIUM, INSTALL_PLAYWRIGHT, JupyterLab, chromium_executable
from hostile import MARK, hostile_cells, hostile_student, page_problems, payload
from notebooks import ROOT, copy_course, nbgrader_meta

sync_api = pytest.importorskip("playwright.sync_api", reason=f"playwright is not installed: {INSTALL_PLAYWRIGHT}")
expect = sync_api.expect

A1 = "a1_helpers"
A1_SPEC = spec(A1)
MALLORY = "mallory"  # the hostile student
SHOTS = ROOT / "test-output" / "browser"
RELU_BODY = "return np.maximum(x, 0)"
TIMINGS = {}
GRADE_RUN = {}  # the fixture's `nnfs grade`: exit code, what it printed


def id_script(tag):
    """JavaScript for a folder name that works at every address a link to it makes: no '/', '\\', '?', '#' or
    double quote, under 255 bytes with its markup. It logs the marker, sets window.__pwned, opens a dialog
    and creates an empty file pwned-<tag> through the contents API, with the _xsrf cookie as the server asks
    of a page of its own origin."""
    return (f"__pwned=['{tag}'];console.log('{MARK}-{tag}');alert('{MARK}-{tag}');"
            f"fetch([,'api','contents','pwned-{tag}'].join(atob('Lw')),{{method:'PUT',"
            "headers:{'X-XSRFToken':document.cookie.match('_xsrf=([^;]+)')[1]},body:JSON.stringify({type:'file'})})")


# Submission folders whose name is the attack (untrusted.py refuses them: not a valid student id). Each holds
# a complete notebook, so a name that got through would be graded and shown everywhere a student id is.
HOSTILE_IDS = {
    "markup": f'<img src=x onerror="{id_script("img")}">',  # an id rendered as HTML
    "attribute": f'x"autofocus onfocus="{id_script("at")}',  # an id put in a quoted attribute (which closes it)
    "script-string": f'x";{id_script("js")};"',  # formgrader's student pages: var student_id = "{{ student_id }}"
    "formula": "=cmd|' calc'!A0",  # a spreadsheet formula in grades.csv
    "terminal": "\x1b[2J\x1b[1;31mGRADES OK\x07\r\u202eada",  # clears the screen, recolours, rings, overwrites, reorders
}
assert all(len(name.encode()) <= 255 for name in HOSTILE_IDS.values())
SLOW = 90_000  # ms: a first JupyterLab load or a Validate run on two busy cores


@contextmanager
def timed(name):
    start = time.perf_counter()
    yield
    TIMINGS[name] = time.perf_counter() - start


@pytest.fixture(scope="module")
def screenshots(request):
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    yield SHOTS
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        taken = sorted(p.name for p in SHOTS.glob("*.png"))
        times = ", ".join(f"{k} {v:.1f} s" for k, v in TIMINGS.items())
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\nbrowser screenshots ({len(taken)}) in {SHOTS}: {', '.join(taken)}")
            reporter.write_line(f"browser test timings: {times}")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Debian's Chromium, headless, with a fresh profile (a persistent context is one browser window set)."""
    executable = chromium_executable()
    if executable is None:
        pytest.skip(f"Debian's chromium is not installed: {INSTALL_CHROMIUM}")
    playwright = sync_api.sync_playwright().start()
    try:
        try:
            with timed("chromium start"):
                context = playwright.chromium.launch_persistent_context(
                    str(tmp_path_factory.mktemp("chromium-profile")),
                    executable_path=executable,
                    headless=True,
                    args=CHROMIUM_FLAGS,
                    viewport={"width": 1400, "height": 900},
                )
        except sync_api.Error as exc:
            lines = str(exc).splitlines()
            why = [line.strip(" -") for line in lines if "[err]" in line or "exitCode" in line][-5:]
            pytest.skip(f"chromium ({executable}) cannot start here: {' | '.join(lines[:1] + why)}")
        yield context
        context.close()
    finally:
        playwright.stop()


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A copy of the course: a1 released, the example students submitted and graded, as `nnfs` does it."""
    root = tmp_path_factory.mktemp("browser-course")
    course = copy_course(root, with_release=False)
    with timed("release and examples"):
        cli.main(["--course", str(root), "release", A1])
        cli.main(["--course", str(root), "examples", A1])
        cli.main(["--course", str(root), "roster", "import", str(ROSTER), "--format", "plain"])  # names for formgrader
        hostile = course.submitted_notebook(MALLORY, A1)
        hostile.parent.mkdir(parents=True)
        hostile.write_text(hostile_student(course.release_notebook(A1)))
        for name in HOSTILE_IDS.values():  # each with a complete notebook (Ada's): only its name is hostile
            folder = course.root / "submitted" / name / A1
            folder.mkdir(parents=True)
            shutil.copy(course.submitted_notebook("example-ada", A1), folder / f"{A1}.ipynb")
    out, err = io.StringIO(), io.StringIO()
    with timed("grading"), redirect_stdout(out), redirect_stderr(err):
        code = cli.main(["--course", str(root), "grade", A1, "--jobs", "2"])
    GRADE_RUN.update(code=code, stdout=out.getvalue(), stderr=err.getvalue())
    sys.stdout.write(out.getvalue())  # as the run printed it, for pytest's report
    return course


@pytest.fixture(scope="module")
def lab(course, tmp_path_factory):
    home = tmp_path_factory.mktemp("jupyter-home")
    server = JupyterLab(course.root, home)
    # The documented set-up (the guide's section 1): the exchange made by `nnfs exchange init`, here at a private
    # root named in the server's private config folder (its ~/.jupyter), so formgrader has nothing to warn about.
    environment = server._environment()
    (home / "config" / "nbgrader_config.py").write_text(f"c = get_config()\nc.Exchange.root = {str(home / 'exchange')!r}\n")
    subprocess.run([str(Path(sys.executable).with_name("nnfs")), "exchange", "init"], cwd=course.root, env=environment, check=True)
    with timed("jupyterlab start"):
        server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def page(browser, screenshots, lab):
    page = browser.new_page()
    page.set_default_timeout(30_000)
    yield page
    page.close()


@contextmanager
def step(page, name):
    """One thing a person does; the screenshot of what they see afterwards, or of the failure."""
    try:
        yield
    except BaseException:
        try:
            page.screenshot(path=str(SHOTS / f"{name}-FAILED.png"))
        except sync_api.Error:
            pass  # the page itself is gone: the original error says more
        raise
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def current_notebook(page):
    """The notebook in the active tab (other open notebooks stay in the DOM, hidden)."""
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")


def open_notebook(page, lab, path):
    page.goto(lab.url(f"lab/tree/{path}"))
    # JupyterLab first restores the tabs of the last session, then opens the path: wait for its tab.
    tab = page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current")
    expect(tab).to_have_attribute("title", re.compile(rf"^Path: {re.escape(path)}$", re.M), timeout=SLOW)
    panel = current_notebook(page)
    expect(panel.locator(".validate-button"), "nbgrader's Validate button is missing: is its lab extension enabled?").to_be_visible(timeout=SLOW)
    expect_kernel_idle(page)
    return panel


def expect_kernel_idle(page):
    """The status bar's kernel status for the current notebook (it says Connecting, Busy, ... before)."""
    expect(page.locator("#jp-main-statusbar")).to_contain_text("Python 3 (ipykernel) | Idle", timeout=SLOW)


def validate(page, panel):
    """Click Validate and return the dialog's text; the dialog is closed again."""
    panel.locator(".validate-button").click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=SLOW)
    text = dialog.locator(".jp-Dialog-body").inner_text()
    assert dialog.locator(".jp-Dialog-header").inner_text().strip() == "Validation Results", text
    return dialog, text


def grade_ids(nb):
    return [nbgrader_meta(c).get("grade_id") for c in nb.cells]


def js_number(x):
    """A score as formgrader's JavaScript prints it (rounded to 2 decimals, no trailing .0)."""
    x = round(float(x), 2)
    return str(int(x)) if x == int(x) else str(x)


def test_student_fills_in_relu_runs_its_tests_and_validates(page, lab, course):
    notebook = course.root / "student" / f"{A1}.ipynb"  # beside the course's folders, which stay untouched
    notebook.parent.mkdir()
    shutil.copy(course.release_notebook(A1), notebook)
    release = nbformat.read(str(notebook), as_version=4)
    ids = grade_ids(release)
    answered = release.cells[ids.index("relu")].source.replace("raise NotImplementedError()", RELU_BODY)

    with step(page, "01-student-opens-a1"), timed("student opens a1"):
        panel = open_notebook(page, lab, f"student/{A1}.ipynb")
        cells = panel.locator(".jp-Cell")
        expect(cells).to_have_count(len(release.cells))
        expect(page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader")).to_be_visible()

    with step(page, "02-student-writes-relu"):
        relu = cells.nth(ids.index("relu"))
        relu.locator(".cm-line", has_text="raise NotImplementedError()").click()
        page.keyboard.press("End")
        page.keyboard.press("Shift+Home")  # the line's text, after its indentation
        page.keyboard.insert_text(RELU_BODY)
        assert relu.locator(".cm-content").inner_text() == answered

    with step(page, "03-student-runs-relu-and-its-tests"), timed("student runs relu"):
        page.keyboard.press("Escape")
        # From the set-up cell (numpy) down to relu's test cell, Shift+Enter on each, as the notebook says.
        cells.nth(ids.index("setup")).locator(".jp-InputPrompt").click()
        for _ in range(ids.index("relu_tests") - ids.index("setup") + 1):
            page.keyboard.press("Shift+Enter")
        tests = cells.nth(ids.index("relu_tests"))
        tests.scroll_into_view_if_needed()
        expect(tests.locator(".jp-InputPrompt")).to_have_text("[3]:", timeout=SLOW)  # set-up 1, relu 2, tests 3
        expect(relu.locator(".jp-InputPrompt")).to_have_text("[2]:")
        expect_kernel_idle(page)
        expect(tests.locator(".jp-OutputArea-output")).to_have_text("relu: visible tests passed")
        assert tests.locator("[data-mime-type='application/vnd.jupyter.stderr']").count() == 0

    with step(page, "04-validate-names-the-unfinished-functions"), timed("validate (unfinished)"):
        dialog, verdict = validate(page, panel)
        unfinished = [name for name in a1_checks.POINTS if name != "relu"]
        assert verdict.count("The following cell failed:") == len(unfinished), verdict
        for name in unfinished:
            first_line = release.cells[ids.index(A1_SPEC.test_cell(name))].source.splitlines()[0]
            assert first_line in verdict, f"{A1_SPEC.test_cell(name)} is not named as failing:\n{verdict}"
        assert release.cells[ids.index(A1_SPEC.test_cell("relu"))].source.splitlines()[0] not in verdict, verdict
        assert "NotImplementedError" in verdict and "Success!" not in verdict
    dialog.get_by_role("button", name="Ok").click()

    saved = nbformat.read(str(notebook), as_version=4)  # Validate saves the notebook first
    assert saved.cells[ids.index("relu")].source == answered


def test_student_validates_a_complete_notebook(page, lab, course):
    ada = next(s for s in example_students(A1) if s.student_id == "example-ada")
    notebook = course.root / "student" / ada.student_id / f"{A1}.ipynb"
    notebook.parent.mkdir(parents=True)
    shutil.copy(course.submitted_notebook(ada.student_id, A1), notebook)
    complete = nbformat.read(str(notebook), as_version=4)
    ids = grade_ids(complete)

    with step(page, "05-validate-a-complete-notebook"), timed("validate (complete)"):
        panel = open_notebook(page, lab, f"student/{ada.student_id}/{A1}.ipynb")
        relu = panel.locator(".jp-Cell").nth(ids.index("relu"))
        assert relu.locator(".cm-content").inner_text() == complete.cells[ids.index("relu")].source  # ada's, not the release
        dialog, verdict = validate(page, panel)
        assert "Success! Your notebook passes all the tests." in verdict, verdict
        assert "failed" not in verdict, verdict
    dialog.get_by_role("button", name="Ok").click()


def _gradebook_scores(course):
    """Per student: the total formgrader's students page shows, and the a1 notebook's score."""
    with course.gradebook() as gb:
        totals = {s.id: f"{js_number(s.score)} / {js_number(s.max_score)}" for s in gb.students}
        notebooks = {n.student.id: f"{js_number(n.score)} / {js_number(n.max_score)}" for n in gb.notebook_submissions(A1, A1)}
    # Formgrader also lists students who only have a submission folder (example-dan's file is not a notebook,
    # so nothing of his reached the gradebook): with nothing graded, 0 / 0.
    for student in course.students(A1):
        totals.setdefault(student, "0 / 0")
    return totals, notebooks


def _submitted_folders(course, assignment="*"):
    """The names formgrader takes for students who submitted: every folder submitted/<name>/<assignment> named by
    a valid id (nbgrader lists them all; the course's formgrader_guard drops the others)."""
    folders = {p.parent.name for p in (course.root / "submitted").glob(f"*/{assignment}") if p.is_dir()}
    return sorted(name for name in folders if is_valid_student_id(name))


def _formgrader_students(course):
    """Who formgrader's student list shows: the gradebook's students and every name in submitted/."""
    with course.gradebook() as gb:
        return sorted({s.id for s in gb.students} | set(_submitted_folders(course)))


def _wait_for_rows(frame, count):
    """Formgrader fills its tables from its API after the page loads ("Loading, please wait...")."""
    expect(frame.locator("tbody tr td.score")).to_have_count(count, timeout=SLOW)


def _table(frame, key_cell):
    rows = frame.locator("tbody tr")
    return dict(zip(rows.locator(key_cell).all_inner_texts(), rows.locator("td.score").all_inner_texts()))


def test_instructor_sees_the_graded_submissions_in_formgrader(page, lab, course):
    totals, notebooks = _gradebook_scores(course)
    points = float(sum(a1_checks.POINTS.values()))
    # The gradebook itself holds a real grading run (ada right, carol untouched), so matching it means something.
    assert notebooks["example-ada"] == f"{js_number(points)} / {js_number(points)}"
    assert notebooks["example-carol"] == f"0 / {js_number(points)}"

    with step(page, "06-formgrader-assignments"), timed("instructor opens formgrader"):
        page.goto(lab.url("lab"))
        page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
        page.get_by_role("menuitem", name="Formgrader", exact=True).click()
        frame = page.frame_locator("#formgrader iframe")
        a1_row = frame.locator("tbody tr", has_text=A1)
        # Formgrader counts the folders in submitted/ named by a valid id (formgrader_guard).
        expect(a1_row.locator(".num-submissions")).to_have_text(str(len(_submitted_folders(course, A1))), timeout=SLOW)
        # No "The exchange directory ... does not exist" (or any other) warning above the assignments.
        expect(frame.locator("#warning-exchange")).to_have_count(0)
        expect(frame.locator(".alert-warning")).to_have_count(0)

    with step(page, "07-formgrader-students-and-scores"), timed("instructor reads the scores"):
        frame.get_by_role("link", name="Manage Students").click()
        _wait_for_rows(frame, len(_formgrader_students(course)))
        shown = _table(frame, "td.id")
        assert {k: v for k, v in shown.items() if k in totals} == totals  # the rest: the refused folders' names
        names = dict(frame.locator("tbody tr").evaluate_all(
            "rows => rows.map(r => [r.querySelector('td.id').textContent.trim(), r.querySelector('td.name').textContent.trim()])"))
        # The roster's names (nnfs roster import) for every student on it, not nbgrader's "None, None".
        roster = {row["id"]: f"{row['last_name']}, {row['first_name']}" for row in csv.DictReader(ROSTER.open())}
        assert {s: names.get(s) for s in roster} == roster, names

    with step(page, "08-formgrader-a1-submissions-and-scores"), timed("instructor reads the submissions"):
        frame.get_by_role("link", name="Manual Grading").click()
        frame.locator("tbody tr td a", has_text=A1).click()  # the assignment
        expect(frame.locator("thead")).to_contain_text("Notebook ID")
        frame.locator("tbody tr td a", has_text=A1).click()  # its notebook
        _wait_for_rows(frame, len(notebooks))
        frame.get_by_text("Show All Names").click()  # submissions are anonymous ("Submission #1") until then
        expect(frame.locator("tbody tr td.name a.name-shown").first).to_be_visible()
        # A submission shows its student's name where the roster has one, else the id.
        assert _table(frame, "td.name a.name-shown") == {roster.get(s, s): score for s, score in notebooks.items()}


# ---------------------------------------------------------------------------------------- a hostile student


class Marks:
    """What a script of the student's would leave in the browser: console messages and dialogs with the
    marker, and requests for pwned-*.txt. Dialogs are dismissed (an alert would block the page)."""

    def __init__(self, page):
        self.console, self.dialogs, self.requests = [], [], []
        page.on("console", lambda message: self.console.append(message.text) if MARK in message.text else None)
        page.on("dialog", self._dialog)
        page.on("request", lambda request: self.requests.append(request.url) if "pwned" in request.url else None)

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def clear(self):
        self.console.clear(), self.dialogs.clear(), self.requests.clear()

    def __bool__(self):
        return bool(self.console or self.dialogs or self.requests)

    def __repr__(self):
        return f"console={self.console[:5]} dialogs={self.dialogs[:5]} requests={self.requests[:5]}"


def _pwned_files(course):
    return sorted(str(p.relative_to(course.root)) for p in course.root.rglob("pwned-*"))


def _settle(page):
    """Let handlers fire: images fail to load (onerror), the page's own scripts and timers run."""
    page.wait_for_load_state("load")
    page.wait_for_timeout(1500)


def _expect_no_script_ran(page, course, marks, where):
    assert page.evaluate("typeof window.__pwned") == "undefined", f"{where}: window.__pwned = {page.evaluate('window.__pwned')}"
    assert not marks, f"{where}: {marks!r}"
    assert _pwned_files(course) == [], f"{where}: files written through the contents API"


def _control(page, course, marks, name, writes_file):
    """The same script, run by the test in this page, is seen by every detector: so their silence means something."""
    page.evaluate(payload(name))
    expect(page.locator("body")).to_be_visible()
    deadline = time.monotonic() + 15
    while writes_file and not (course.root / f"pwned-{name}.txt").exists() and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    page.wait_for_timeout(300)
    assert any(f"{MARK}-{name}" in text for text in marks.console), marks
    assert page.evaluate("window.__pwned") == [name]
    if writes_file:
        assert (course.root / f"pwned-{name}.txt").exists() and marks.dialogs == [f"{MARK}-{name}"], marks
        (course.root / f"pwned-{name}.txt").unlink()
    marks.clear()


def test_a_hostile_submission_runs_no_script_in_formgrader_or_its_feedback(page, lab, course):
    """Formgrader's view of the hostile student's submission and their feedback page, in Chromium."""
    with course.gradebook() as gb:
        submission = gb.find_submission_notebook(A1, A1, MALLORY)
        hidden_tests = set(A1_SPEC.test_cells.values())
        submission_id, hostile_scores = submission.id, {g.name: g.score for g in submission.grades if g.name in hidden_tests}
        ada = {g.name: g.score for g in gb.find_submission_notebook(A1, A1, "example-ada").grades if g.name in hidden_tests}
    full = {A1_SPEC.test_cell(name): float(points) for name, points in a1_checks.POINTS.items()}
    assert ada == full and hostile_scores == full  # the honest student, and the hostile one's right answers, full marks
    stored = course.autograded_notebook(MALLORY, A1)
    feedback = course.feedback_html(MALLORY, A1)
    assert page_problems(feedback.read_text()) == [] and MARK in feedback.read_text()
    marks = Marks(page)
    view = lab.url(f"formgrader/submissions/{submission_id}/")

    with step(page, "09-formgrader-hostile-submission"), timed("hostile submission in formgrader"):
        page.goto(view)
        _settle(page)
        expect(page.locator("body")).to_contain_text("My answer.")  # the student's words, as text
        expect(page.locator("body")).to_contain_text("[nnfs-course sanitizer]")  # and what was removed, said
        _expect_no_script_ran(page, course, marks, "formgrader, stored notebook")
        _control(page, course, marks, "control-formgrader", writes_file=True)

    with step(page, "10-formgrader-notebook-stored-before-the-sanitizer"):
        nb = nbformat.read(str(stored), as_version=4)
        nb.cells.extend(hostile_cells())  # as an autograded notebook stored before sanitizing would hold them
        nbformat.write(nb, str(stored))
        page.goto(view)
        _settle(page)
        expect(page.locator("body")).to_contain_text("[nnfs-course sanitizer]")
        _expect_no_script_ran(page, course, marks, "formgrader, unsanitized notebook")

    with step(page, "11-feedback-page-of-the-hostile-student"), timed("hostile feedback page"):
        page.goto(lab.url(f"files/feedback/{MALLORY}/{A1}/{A1}.html"))
        _settle(page)
        expect(page.locator("body")).to_contain_text("My answer.")
        _expect_no_script_ran(page, course, marks, "feedback page")
        # Jupyter serves /files/ in a sandbox (scripts, no same-origin, no dialogs): the control sees the mark only.
        _control(page, course, marks, "control-feedback", writes_file=False)


# ---------------------------------------------------------------------------------------- hostile folder names


def test_hostile_folder_names_are_refused_and_printed_and_exported_inert(course):
    """`nnfs grade` refused each hostile folder under a stand-in id, in the same run as everyone else: its
    table and grades.csv hold no control character and no formula, and the honest students have their scores."""
    assert GRADE_RUN["code"] == 0, GRADE_RUN["stderr"]
    record = {r.student: r for r in pipeline.load_results(course)}
    for kind, name in HOSTILE_IDS.items():
        r = record[stand_in_id(name)]
        assert r.status == "error" and "not a valid student id" in r.reason and r.reason.isprintable(), (kind, r)
    assert set(record).isdisjoint(HOSTILE_IDS.values()) and all(is_valid_student_id(s) for s in record)
    with course.gradebook() as gb:
        ids = {s.id for s in gb.students}
    assert ids.isdisjoint(HOSTILE_IDS.values()) and all(is_valid_student_id(i) for i in ids), ids
    points = sum(a1_checks.POINTS.values())
    assert record["example-ada"].score == points and record[MALLORY].score == points

    printed = GRADE_RUN["stdout"] + GRADE_RUN["stderr"]
    for char in ("\x1b", "\x07", "\u202e"):
        assert char not in printed, f"{char!r} in what nnfs grade printed"
    lines = printed.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"student\s+(name\s+)?{A1}\s+notes$", line))
    table = lines[start: lines.index("", start)]
    assert all(line.isprintable() for line in table), [line for line in table if not line.isprintable()]
    rows = {line.split()[0]: line for line in table[2:]}
    assert set(rows) == set(record), set(rows) ^ set(record)
    assert f"{points:g} / {points:g}" in rows["example-ada"]
    for name in HOSTILE_IDS.values():
        assert "ERROR" in rows[stand_in_id(name)] and "not a valid student id" in rows[stand_in_id(name)]

    with (course.root / "grades.csv").open(newline="") as f:
        cells = list(csv.reader(f))
    by_student = {row["student_id"]: row for row in csv.DictReader(io.StringIO((course.root / "grades.csv").read_text()))}
    assert set(by_student) == set(record)
    ada = by_student["example-ada"]
    assert (ada["score"], ada["max_score"], ada["status"]) == (f"{points:g}", f"{points:g}", "graded")
    for name in HOSTILE_IDS.values():
        assert by_student[stand_in_id(name)]["status"] == "error"
    for row in cells:
        for cell in row:
            assert cell.isprintable() and not set(cell) & {"\u202e"}, (row, cell)
            assert not cell.startswith(("=", "+", "-", "@", "\uff1d")), (row, cell)  # no formula a spreadsheet would run


class Watch:
    """Marks (above) per page visited: any mark, window.__pwned or file written is a problem, named by page.
    Requests for pages under formgrader/manage_students/ are the hostile names' own addresses (they hold
    'pwned'), or what a page at such an address asks relative to it: not a script's doing."""

    def __init__(self, page, lab, course):
        self.page, self.course, self.marks, self.problems = page, course, Marks(page), []
        self.ignored = lab.base + "/formgrader/manage_students/"

    def check(self, where):
        requests = [url for url in self.marks.requests if not url.startswith(self.ignored)]
        files = _pwned_files(self.course)
        pwned = self.page.evaluate("typeof window.__pwned === 'undefined' ? null : window.__pwned")
        if self.marks.console or self.marks.dialogs or requests or files or pwned is not None:
            self.problems.append(f"{where}: console={self.marks.console} dialogs={self.marks.dialogs} requests={requests} "
                                 f"window.__pwned={pwned} files={files}")
        for name in files:
            (self.course.root / name).unlink()
        self.marks.clear()


def _log_in(page, lab):
    """The login cookie, as opening JupyterLab leaves it (formgrader's pages, opened with the token, set none)."""
    page.goto(lab.url("api/status"))


def _students_list(page, lab, course):
    """Formgrader's Manage Students page, loaded: {id shown: score shown}, {id shown: its link}."""
    page.goto(lab.url("formgrader/manage_students"))
    _wait_for_rows(page, len(_formgrader_students(course)))
    _settle(page)
    links = dict(page.locator("tbody tr").evaluate_all(
        "rows => rows.map(r => [r.querySelector('td.id').textContent, r.querySelector('td.name a').href])"))
    return _table(page, "td.id"), links


def test_hostile_folder_names_run_no_script_in_formgraders_lists(page, lab, course):
    """Formgrader's student list and the assignment's submissions list, with the refused folders in submitted/
    (formgrader reads that folder itself), run none of the scripts in their names; the honest students are
    there with their scores. The same script, run by the test in the student list, leaves every mark."""
    watch = Watch(page, lab, course)
    totals, _ = _gradebook_scores(course)
    honest = {s: t for s, t in totals.items() if is_valid_student_id(s)}
    _log_in(page, lab)

    with step(page, "12-formgrader-students-with-hostile-folder-names"), timed("hostile ids: students list"):
        shown, _ = _students_list(page, lab, course)
        watch.check("students list")
        assert {s: shown.get(s) for s in honest} == honest

    with step(page, "13-formgrader-a1-submissions-with-hostile-folder-names"), timed("hostile ids: submissions list"):
        page.goto(lab.url(f"formgrader/manage_submissions/{A1}"))
        expect(page.locator("tbody tr td.student-id")).to_have_count(len(_submitted_folders(course, A1)), timeout=SLOW)
        _settle(page)
        watch.check("submissions list")
        rows = page.locator("tbody tr")
        scores = dict(zip(rows.locator("td.student-id").all_inner_texts(), rows.locator("td.score").all_inner_texts()))
        _, notebooks = _gradebook_scores(course)
        assert {s: scores.get(s) for s in notebooks} == notebooks

    with step(page, "14-formgrader-hostile-id-script-run-by-the-test"):
        page.evaluate(id_script("control-id"))
        deadline = time.monotonic() + 15
        while not (course.root / "pwned-control-id").exists() and time.monotonic() < deadline:
            page.wait_for_timeout(200)
        marks = watch.marks
        assert (course.root / "pwned-control-id").exists(), marks
        assert any(f"{MARK}-control-id" in t for t in marks.console) and marks.dialogs == [f"{MARK}-control-id"], marks
        assert page.evaluate("window.__pwned") == ["control-id"]
        (course.root / "pwned-control-id").unlink()
        marks.clear()

    assert watch.problems == [], "\n".join(watch.problems)


def test_formgrader_neither_lists_refused_folder_names_nor_runs_them_on_their_pages(page, lab, course):
    """The refused folders are not students in formgrader either (the course's nbgrader_config.py installs
    autograder/formgrader_guard.py: nbgrader 0.9.6 lists every folder of submitted/ and writes ids into its
    pages unescaped), and the student pages a crafted link leads to, for each hostile name, run none of its
    scripts."""
    from urllib.parse import quote

    watch = Watch(page, lab, course)
    _log_in(page, lab)
    with step(page, "15-formgrader-students-list-again"):
        shown, links = _students_list(page, lab, course)
        watch.check("students list")
    listed = sorted(kind for kind, name in HOSTILE_IDS.items() if name in shown)
    with timed("hostile ids: student pages"):
        for kind, name in [("ada", "example-ada")] + [(k, n) for k, n in HOSTILE_IDS.items() if "(" in n]:
            for suffix in ("", f"/{A1}"):
                with step(page, f"16-formgrader-student-page-{kind}{suffix.replace('/', '-')}"):
                    page.goto(lab.url(f"formgrader/manage_students/{quote(name, safe='')}{suffix}"))
                    _settle(page)
                    watch.check(f"student page of {kind}{suffix}")
    assert watch.problems == [] and listed == [], (f"refused folder names listed as students: {listed}\n" + "\n".join(watch.problems))


# ---------------------------------------------------------------------------------------- the class report


def test_the_class_report_shows_its_numbers_and_runs_no_script(browser, screenshots, tmp_path):
    """`nnfs report`'s page for a made-up class with hostile content (tests/synthetic_class.py: an id, a check's
    message, notes and code that carry scripts), opened from disk as an instructor would: the histogram, the
    ranked mistakes with their example, the hostile student's code as text, and no script of theirs runs. The
    same script run by the test in that page is seen (console, window.__pwned, a dialog)."""
    from autograder.reports import class_report
    from synthetic_class import A1, HOSTILE_CODE, HOSTILE_ID, HOSTILE_MESSAGE, make_class

    course = make_class(tmp_path / "course")
    page_file, _ = class_report.write(course, A1)
    page = browser.new_page()
    page.set_default_timeout(30_000)
    marks = Marks(page)
    try:
        with step(page, "17-class-report"), timed("class report"):
            page.goto(page_file.as_uri())
            _settle(page)
            assert page.evaluate("typeof window.__pwned") == "undefined" and not marks, marks
            expect(page.locator("h1")).to_have_text(f"Class report: {A1}")
            histogram = page.get_by_alt_text("histogram of the scores")
            expect(histogram).to_be_visible()
            assert histogram.evaluate("img => img.naturalWidth") > 100  # the embedded PNG decoded
            expect(page.locator('[data-section="class"] [data-measure="mean"]')).to_have_text("7.14")
            expect(page.locator('[data-section="question"][data-item="softmax_tests"] [data-measure="zero_rate"]')).to_have_text("57.1%")
            ranked = page.locator('section[data-item="softmax"] tr[data-section="mistake"]')
            expect(ranked).to_have_count(3)
            assert ranked.evaluate_all("rows => rows.map(r => r.dataset.item)") == ["softmax.axis0", "softmax.hostile", "softmax.no_shift"]
            expect(ranked.first.locator('[data-measure="students"]')).to_have_text("3")
            expect(ranked.nth(1).locator("td.message")).to_have_text(HOSTILE_MESSAGE)  # as text
            look = page.locator('tr[data-section="look"]')
            expect(look.filter(has_text=HOSTILE_ID)).to_have_count(1)
            expect(page.locator('section[data-item="average_ce"] tr[data-section="mistake"]')).to_contain_text("no example")
            page.screenshot(path=str(SHOTS / "17-class-report-whole-page.png"), full_page=True)

        with step(page, "18-class-report-example"):
            ranked.nth(1).get_by_role("link", name="an example").click()
            example = page.locator("section.example:target")
            expect(example).to_contain_text("softmax.hostile")
            expect(example).to_be_in_viewport()
            assert example.locator("pre").text_content() == HOSTILE_CODE
            _settle(page)
            assert page.evaluate("typeof window.__pwned") == "undefined" and not marks, marks

        with step(page, "19-class-report-control"):
            page.evaluate(payload("control-report"))
            page.wait_for_timeout(300)
            assert any(f"{MARK}-control-report" in text for text in marks.console), marks
            assert page.evaluate("window.__pwned") == ["control-report"] and marks.dialogs == [f"{MARK}-control-report"], marks
    finally:
        page.close()

"""docs/instructor_guide.md, run: every bash block, in order, as an instructor (and their students) would.

The semester happens in a copy of the course, with a private HOME (whose nbgrader config points the
exchange at a temporary folder), a private MNIST folder and a real Dask scheduler and workers on loopback.
Blocks are marked in the guide by an HTML comment before them:

* no marker: run in the course root;
* ``student``: run in a student's home folder (between fetching and submitting, the student's answers are
  filled in, as ada's from the bundled examples);
* ``repository``: run in the repository itself (read-only commands: set-up, the tests of an assignment);
* ``background``: a service (Dask scheduler, workers), started and left running until the end;
* ``exercised by tests/<file>``: a command another test runs (JupyterLab, in the browser test).
"""

import csv
import getpass
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.examples import build_submission, example_students
from notebooks import ROOT

GUIDE = ROOT / "docs" / "instructor_guide.md"
BLOCK = re.compile(r"(?:<!-- guide-test: (?P<mode>[^>]*?) -->\n)?```bash\n(?P<body>.*?)```", re.S)
A1 = "a1_helpers"
EXCHANGE = "/usr/local/share/nbgrader/exchange"  # nbgrader's default; the test's HOME config moves it


def guide_blocks():
    return [(m["mode"] or "course", m["body"]) for m in BLOCK.finditer(GUIDE.read_text())]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listens on port {port} after {seconds} s")


def _mnist_source():
    source = os.environ.get("NNFS_MNIST_SOURCE") or str(ROOT.parent / "shared" / "data" / "mnist")
    if not os.environ.get("NNFS_MNIST_SOURCE") and not Path(source).is_dir():
        pytest.skip("the real MNIST files are not here: set NNFS_MNIST_SOURCE to a folder or URL holding them")
    return source


def test_every_block_is_marked_with_a_known_mode():
    blocks = guide_blocks()
    assert len(blocks) >= 15
    for mode, body in blocks:
        assert mode in ("course", "student", "repository", "background") or mode.startswith("exercised by tests/"), mode
        if mode.startswith("exercised by "):
            test = ROOT / mode.removeprefix("exercised by ")
            assert test.is_file(), mode
            program = " ".join(body.split()[:2])  # e.g. "jupyter lab"
            assert program in test.read_text(), f"{test.name} does not run {program!r}"


def test_the_semester_in_the_guide_runs(tmp_path):
    source = _mnist_source()
    course, home, exchange, data = (tmp_path / name for name in ("course", "home", "exchange", "data"))
    for name in ("source", "release", "data_scripts"):
        shutil.copytree(ROOT / name, course / name)
    for name in ("nbgrader_config.py", "course", "pyproject.toml"):
        shutil.copy2(ROOT / name, course / name)
    (course / "students.csv").write_text("id,first_name,last_name,email\ns002,Grace,Hopper,grace@example.org\n")
    shutil.copy2(ROOT / "tests" / "fixtures" / "canvas_gradebook_export.csv", course / "canvas_gradebook.csv")
    # s002 hands a1 in by hand (as zip_collect would file it), after her extended deadline (due 2030-12-10 23:59
    # London + 48 h): 9 h late, one started day, 10 %.
    late = course / "submitted" / "s002" / A1
    late.mkdir(parents=True)
    ada = next(s for s in example_students(A1) if s.student_id == "example-ada")
    (late / f"{A1}.ipynb").write_text(build_submission(ROOT / "release" / A1 / f"{A1}.ipynb", ada))
    (late / "timestamp.txt").write_text("2030-12-13 09:00:00.000000 UTC\n")
    (late / "submission_secret.txt").write_text("s002-secret\n")  # nbgrader release_feedback needs it, as collect writes it
    (home / ".jupyter").mkdir(parents=True)
    (home / ".jupyter" / "nbgrader_config.py").write_text(f"c = get_config()\nc.Exchange.root = {str(exchange)!r}\n")
    (home / "student").mkdir()
    port = _free_port()
    venv_bin = Path(sys.executable).parent
    env = {
        **os.environ,
        "HOME": str(home),
        "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}",
        "VIRTUAL_ENV": str(venv_bin.parent),
        "NNFS_DATA_DIR": str(data),
        "NNFS_QUICK": "0",  # the guide says which commands are quick
        "PYTHONWARNINGS": "ignore",
    }
    env.pop("NNFS_MNIST_SOURCE", None)  # the guide passes --source itself
    substitutions = {"/path/to/mnist": source, EXCHANGE: str(exchange), "HOST": "127.0.0.1", "8786": str(port)}
    cwd_for = {"course": course, "student": home / "student", "repository": ROOT, "background": course}
    background, ran = [], []

    def fill_in_answers():
        """The student works: ada's answers into the fetched notebook."""
        fetched = home / "student" / A1 / f"{A1}.ipynb"
        ada = next(s for s in example_students(A1) if s.student_id == "example-ada")
        fetched.write_text(build_submission(fetched, ada))

    try:
        for mode, body in guide_blocks():
            for old, new in substitutions.items():
                body = body.replace(old, new)
            if mode.startswith("exercised by "):
                continue  # test_every_block_is_marked_with_a_known_mode checks that test runs it
            if mode == "background":
                background.append(subprocess.Popen(
                    ["bash", "-c", body], cwd=cwd_for[mode], env=env, start_new_session=True,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                ))
                if "scheduler" in body:
                    _wait_for_port(port)
                continue
            run = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", body], cwd=cwd_for[mode], env=env,
                capture_output=True, text=True, timeout=600,
            )
            assert run.returncode == 0, f"guide block failed ({mode}):\n{body}\n--- stdout\n{run.stdout[-3000:]}\n--- stderr\n{run.stderr[-3000:]}"
            ran.append((body, run.stdout + run.stderr))
            if "fetch_assignment" in body:
                fill_in_answers()
    finally:
        for process in background:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(process.pid, signal.SIGKILL)

    output = {body: text for body, text in ran}
    listing = next(text for body, text in output.items() if "student list" in body)
    assert "s001 (Lovelace, Ada)" in listing and "s002 (Hopper, Grace)" in listing
    assert (data / "mnist_traindata.hdf5").is_file() and (data / "quick" / "mnist_traindata.hdf5").is_file()

    student = getpass.getuser()  # nbgrader's exchange names submissions after the OS user
    rows = {(r["student_id"], r["assignment"]): r for r in csv.DictReader((course / "grades.csv").open())}
    row = rows[(student, A1)]
    assert (row["score"], row["max_score"], row["status"]) == ("10", "10", "graded"), row
    assert (course / "nbgrader_grades.csv").is_file()
    report = (course / "reports" / A1 / "class_report.html").read_text()  # nnfs report: both students graded, s002 late
    assert "Class report: a1_helpers" in report and "data:image/png;base64," in report and "late 9 h" in report
    # the term: names from Canvas's export, s002 late after her extension, a score changed by hand, the Canvas file
    late = rows[("s002", A1)]
    assert (late["name"], late["raw_score"], late["late_penalty"], late["score"]) == ("Hopper, Grace", "9.5", "0.95", "8.55"), late
    history = next(text for body, text in output.items() if "nnfs history" in body)
    assert "J. Smith  override  s002  a1_helpers/relu_tests  manual: - -> 0.5" in history
    assert "extension  s002" in history and "late_penalty" in history
    canvas = list(csv.reader((course / "canvas_grades.csv").open()))
    assert canvas[0][:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"] and canvas[1][0] == "    Points Possible"
    assert ["Hopper, Grace", "4102", "1002", "s002", "NNFS 2026 Section B"] == next(r for r in canvas if r[3] == "s002")[:5]
    # the exchange nnfs exchange init made (formgrader finds it: the guide's release and collect worked through it)
    assert oct(exchange.stat().st_mode & 0o7777) == "0o1777"
    assert oct((exchange / "nnfs-course" / "inbound").stat().st_mode & 0o7777) == "0o3733"
    # s002's feedback page says how late and what it cost, once, also after nbgrader generate_feedback rewrote it
    page = (course / "feedback" / "s002" / A1 / f"{A1}.html").read_text()
    assert page.count("Late submission:") == 1 and "Late submission: 9 h 1 min after the deadline." in page
    assert "Score before the penalty: 9.5 / 10; penalty: &minus;0.95; <strong>score: 8.55 / 10</strong>" in page
    assert "(your extension included)" in page
    feedback = list((home / "student" / A1 / "feedback").glob(f"*/{A1}.html"))
    assert len(feedback) == 1 and "(Score: 10.0 / 10.0)" in feedback[0].read_text()
    # nnfs watch --once graded the student's submission as practice (the due date is in 2030); --status says so
    watch_status = next(text for body, text in output.items() if "nnfs watch --status" in body)
    assert re.search(rf"{re.escape(student)}\s+{A1}\s+1\s+1\s", watch_status), watch_status
    dask_run = next(text for body, text in output.items() if "--scheduler" in body)
    assert "10 / 10" in dask_run  # graded again, on the Dask workers, to the same score

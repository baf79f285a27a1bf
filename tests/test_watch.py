"""nnfs watch (autograder/watch/): practice feedback through nbgrader's exchange, the rate limit, fairness,
the final grade from the last on-time submission, resuming after kill -9, and the exchange on real accounts.

Submissions are real folders in a real exchange, graded by the real sandboxed pipeline (a1, a few each):
the in-process tests make inbound entries as nbgrader submit does and drive the watcher with a clock of
their own; the last two run `nnfs watch` as a process, and the last one has students on Unix accounts of
their own run `nbgrader submit` and `nbgrader fetch_feedback`.
"""

import datetime as dt
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import catalogue_a1
from autograder.examples import ExampleStudent, build_submission
from autograder.grading.orchestration import pipeline
from autograder.term import store
from autograder.watch import feedback
from autograder.watch.watcher import FINAL_NOTE, Watcher
from notebooks import as_cell, copy_course, solution_answers

A = "a1_helpers"
COURSE_ID = "nnfs-course"
UTC = dt.timezone.utc


def notebook(course, softmax=None, broken=False) -> str:
    answers = solution_answers(A)
    if softmax is not None:
        answers["softmax"] = "import numpy as np\n\n" + as_cell("softmax", softmax)
    return build_submission(course.release_notebook(A), ExampleStudent("x", A, "", answers=answers, broken="invalid-json" if broken else None))


def submit(exchange: Path, student: str, text: str, when: dt.datetime) -> str:
    """An inbound entry as nbgrader 0.9's submit makes it; returns its secret (which names its feedback page)."""
    stamp = f"{when.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f} UTC"
    entry = exchange / COURSE_ID / "inbound" / f"{student}+{A}+{stamp}+{secrets.token_urlsafe(9)}"
    entry.mkdir(parents=True)
    (entry / f"{A}.ipynb").write_text(text)
    (entry / "timestamp.txt").write_text(stamp)
    secret = secrets.token_hex(64)
    (entry / "submission_secret.txt").write_text(secret)
    return secret


def page(exchange: Path, secret: str) -> str:
    path = exchange / COURSE_ID / "feedback" / f"{feedback.page_name(secret, A)}.html"
    return path.read_text() if path.is_file() else ""


@pytest.fixture
def course(tmp_path):
    course = copy_course(tmp_path / "course")
    # Everything here is made by root: the owner check is for the real-accounts test.
    with open(course.root / "nbgrader_config.py", "a") as fh:
        fh.write("\nc.CollectApp.check_owner = False\nc.Watch.practice_feedbacks = 2\n")
    return course


def set_due(course, when: dt.datetime):
    term = store.load(course)
    term["due"][A] = {"local": f"{when:%Y-%m-%d %H:%M:%S}", "tz": "UTC", "utc": when.isoformat()}
    store.save(course, term)


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def make_watcher(course, exchange, clock, lines):
    return Watcher(course, exchange, COURSE_ID, [A], jobs=2, now=clock, log=lines.append)


def test_practice_before_the_deadline_and_the_final_grade_from_the_last_on_time_submission(course, tmp_path):
    """One second before the deadline is on time and graded as the final; one second after is not."""
    exchange, lines = tmp_path / "exchange", []
    deadline = (dt.datetime.now(UTC) + dt.timedelta(minutes=10)).replace(microsecond=0)  # files written now: before it
    set_due(course, deadline)
    clock = Clock(deadline - dt.timedelta(minutes=5))
    wrong = submit(exchange, "s001", notebook(course, catalogue_a1.softmax_over_axis_0), deadline - dt.timedelta(minutes=6))
    watcher = make_watcher(course, exchange, clock, lines)
    assert watcher.step() == {"new": 1, "practice": 1, "finals": 0}
    first = page(exchange, wrong)
    # The visible assert that names the mistake, and what it cost (grad_ce calls softmax).
    assert "Practice feedback: a1_helpers" in first and "normalise over axis 1 (a row is a sample)" in first
    assert "<td>softmax_tests</td><td class=\"no\">mistakes found</td>" in first and "5 / 10 points" in first
    assert "it does not count" in first and "1 of 2" in first
    assert any("practice s001 a1_helpers: 5 / 10 (grad_ce.cell_failed_before_hidden_tests, softmax.cell_failed_before_hidden_tests)" in line
               for line in lines), lines

    on_time = submit(exchange, "s001", notebook(course), deadline - dt.timedelta(seconds=1))
    late = submit(exchange, "s001", notebook(course, catalogue_a1.softmax_over_axis_0), deadline + dt.timedelta(seconds=1))
    only_late = submit(exchange, "s009", notebook(course), deadline + dt.timedelta(seconds=1))  # nothing on time
    assert watcher.step() == {"new": 3, "practice": 1, "finals": 0}  # the late ones are not practice
    assert "10 / 10 points" in page(exchange, on_time) and "normalise over axis 1" not in page(exchange, on_time)
    assert page(exchange, late) == ""  # told where its grade comes from once the final is graded
    assert not course.feedback_html("s001", A).exists()  # practice never touches the real course

    clock.now = deadline + dt.timedelta(seconds=2)
    assert watcher.step() == {"new": 0, "practice": 0, "finals": 2}
    finals = {r.student: r for r in pipeline.load_results(course)}
    final = finals["s001"]
    # s009 had no on-time submission: their late one is graded, under the course's late policy (10% a started day)
    assert (finals["s009"].score, finals["s009"].late_penalty, finals["s009"].seconds_late) == (10, 1, 1)
    assert "Late submission: 1 s after the deadline." in page(exchange, only_late) and "score: 9 / 10" in page(exchange, only_late)
    assert final.score == 10 and final.seconds_late == 0  # from the submission one second before, not after
    assert any(n.startswith(FINAL_NOTE) and "(2 of 3, by nnfs watch)" in n for n in final.notes), final.notes
    assert "a1_helpers (Score: 10.0 / 10.0)" in page(exchange, on_time)  # nbgrader's feedback page, as released
    assert "arrived after your deadline" in page(exchange, late)
    assert watcher.step() == {"new": 0, "practice": 0, "finals": 0}  # graded once


def test_a_flood_from_one_student_delays_nobody_and_the_rate_limit_says_when(course, tmp_path):
    exchange, lines = tmp_path / "exchange", []
    clock = Clock(dt.datetime(2030, 1, 1, 12, tzinfo=UTC))  # no due date: practice all along
    now = dt.datetime.now(UTC)
    flood = [submit(exchange, "flood", notebook(course, catalogue_a1.softmax_over_axis_0), now + dt.timedelta(seconds=i)) for i in range(6)]
    calm = submit(exchange, "calm", notebook(course), now + dt.timedelta(seconds=3))
    watcher = make_watcher(course, exchange, clock, lines)
    assert watcher.step()["practice"] == 2  # one each: calm is graded in the first round, with flood's latest
    assert "10 / 10 points" in page(exchange, calm)
    assert "normalise over axis 1" in page(exchange, flood[-1])
    for older in flood[:-1]:
        assert "only the later one is graded" in page(exchange, older)
    state = json.loads((course.root / "watch" / "state.json").read_text())["entries"]
    assert sorted(e["status"] for e in state.values()) == ["practice"] * 2 + ["superseded"] * 5

    clock.now += dt.timedelta(hours=1)
    second = submit(exchange, "flood", notebook(course), now + dt.timedelta(seconds=10))
    assert watcher.step()["practice"] == 1 and "2 of 2" in page(exchange, second)
    clock.now += dt.timedelta(hours=1)
    third = submit(exchange, "flood", notebook(course), now + dt.timedelta(seconds=11))
    assert watcher.step()["practice"] == 0
    limited = page(exchange, third)
    assert "Next feedback at 2030-01-02 12:00:" in limited and "This submission is kept" in limited
    clock.now = dt.datetime(2030, 1, 2, 12, 0, 1, tzinfo=UTC)  # 24 h after the first of the two
    assert watcher.step()["practice"] == 1 and "Practice feedback: a1_helpers" in page(exchange, third)


def nnfs_env(tmp_path, exchange: Path) -> dict:
    """nnfs and nbgrader find the exchange as students' nbgrader would: Exchange.root in a Jupyter config folder."""
    config_dir = tmp_path / "jupyter-config"
    config_dir.mkdir(exist_ok=True)
    (config_dir / "nbgrader_config.py").write_text(f"c = get_config()\nc.Exchange.root = {str(exchange)!r}\n")
    return {**os.environ, "JUPYTER_CONFIG_DIR": str(config_dir)}


NNFS = [sys.executable, "-m", "autograder"]


def test_killed_with_sigkill_and_started_again_it_goes_on_where_it_was(course, tmp_path):
    exchange = tmp_path / "exchange"
    now = dt.datetime.now(UTC)
    secrets_of = {"s001": submit(exchange, "s001", notebook(course), now),
                  "s002": submit(exchange, "s002", notebook(course, broken=True), now),
                  "s003": submit(exchange, "s003", notebook(course, catalogue_a1.softmax_over_axis_0), now)}
    env, state_file = nnfs_env(tmp_path, exchange), course.root / "watch" / "state.json"
    log = open(tmp_path / "first.log", "w")
    first = subprocess.Popen([*NNFS, "--course", str(course.root), "watch", A, "--jobs", "1"], env=env, stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until a batch is marked as being graded
            state = json.loads(state_file.read_text())["entries"] if state_file.is_file() else {}
            if any(e["status"] == "grading" for e in state.values()):
                break
            time.sleep(0.2)
        else:
            pytest.fail("the watcher never started grading: " + (tmp_path / "first.log").read_text())
        time.sleep(1.0)  # into the grading
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the watcher, its workers and their sandboxes, at once
        first.wait()
    killed = json.loads(state_file.read_text())["entries"]
    assert len(killed) == 3 and all(e["status"] in ("grading", "practice") for e in killed.values()), killed
    interrupted = {k for k, e in killed.items() if e["status"] == "grading"}
    assert interrupted

    again = subprocess.run([*NNFS, "--course", str(course.root), "watch", A, "--once", "--jobs", "2"], env=env,
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("resuming: ") == len(interrupted)
    entries = json.loads(state_file.read_text())["entries"]
    assert {e["student"]: e["status"] for e in entries.values()} == {"s001": "practice", "s002": "practice", "s003": "practice"}
    assert all(entries[k]["attempts"] == 2 for k in interrupted)
    assert all(e["attempts"] == 1 for k, e in entries.items() if k not in interrupted)  # never graded twice
    assert "10 / 10 points" in page(exchange, secrets_of["s001"])
    assert "could not be graded" in page(exchange, secrets_of["s002"]) and "not valid JSON" in page(exchange, secrets_of["s002"])
    assert "normalise over axis 1" in page(exchange, secrets_of["s003"])

    second = subprocess.Popen([*NNFS, "--course", str(course.root), "watch", A], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:  # a second watcher on the same course is refused while the first runs
        import fcntl

        end = time.monotonic() + 60
        while time.monotonic() < end:  # until the first holds the lock
            with open(course.root / "watch" / "lock", "w") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    fcntl.flock(handle, fcntl.LOCK_UN)
                except BlockingIOError:
                    break
            time.sleep(0.2)
        refused = subprocess.run([*NNFS, "--course", str(course.root), "watch", A, "--once"], env=env, capture_output=True, text=True, timeout=120)
        assert refused.returncode != 0 and "another nnfs watch is running" in refused.stderr
    finally:
        os.killpg(second.pid, signal.SIGKILL)
        second.wait()
    before = state_file.read_text()
    third = subprocess.run([*NNFS, "--course", str(course.root), "watch", A, "--once"], env=env, capture_output=True, text=True, timeout=300)
    assert third.returncode == 0 and "practice s0" not in third.stdout and state_file.read_text() == before
    status = subprocess.run([*NNFS, "--course", str(course.root), "watch", "--status"], env=env, capture_output=True, text=True)
    assert status.returncode == 0 and "s003" in status.stdout and "final from" in status.stdout


def test_students_on_their_own_accounts_get_feedback_with_nbgrader_fetch_feedback(course, tmp_path):
    """The whole flow on real Unix accounts: root is the instructor (nnfs watch running), two students made
    with useradd run nbgrader's own submit and fetch_feedback. A wrong softmax gets its named mistake, the fix
    full marks; the second student, over the limit, reads when the next feedback comes; neither can list the
    exchange or read the other's files, change the instructor's, or submit in the other's name.

    The same flow in JupyterLab's Assignments tab, in Chromium, is tests/test_watch_browser.py."""
    python = Path("/usr/bin/python3")  # the course's interpreter lives under /root, which the students cannot read
    if os.geteuid() != 0 or not python.is_file() or shutil.which("useradd") is None:
        pytest.skip("needs root and useradd, to make two student accounts, and /usr/bin/python3 for them")
    if f"{sys.version_info.major}.{sys.version_info.minor}" != subprocess.run(
            [str(python), "-c", "import sys; print(f'{sys.version_info.major}.{sys.version_info.minor}')"], capture_output=True, text=True).stdout.strip():
        pytest.skip("/usr/bin/python3 is not the course's Python version: the students cannot use its packages")
    import tempfile

    site = next(p for p in sys.path if p.endswith("site-packages") and (Path(p) / "nbgrader").is_dir())
    shared = Path(tempfile.mkdtemp(prefix="nnfs-watch-test-", dir="/tmp"))
    names = [f"nnfsw{os.getpid() % 100000}{c}" for c in "ab"]
    made = []
    watcher = None
    try:
        shared.chmod(0o755)
        exchange = shared / "exchange"
        config_dir = shared / "jupyter-config"
        config_dir.mkdir()
        (config_dir / "nbgrader_config.py").write_text(f"c = get_config()\nc.Exchange.root = {str(exchange)!r}\n")
        with open(course.root / "nbgrader_config.py") as fh:
            config = fh.read().replace("c.CollectApp.check_owner = False", "")  # real accounts: the owner check on
        (course.root / "nbgrader_config.py").write_text(config + "\nc.Watch.poll_seconds = 1\n")  # 2 practice feedbacks a day
        env = {**os.environ, "JUPYTER_CONFIG_DIR": str(config_dir)}
        for command in (["exchange", "init"], None, ["exchange", "init"]):
            args = [*NNFS, "exchange", "init"] if command else [str(Path(sys.executable).parent / "nbgrader"), "release_assignment", A]
            subprocess.run(args, cwd=course.root, env=env, check=True, capture_output=True)
        homes = {}
        for name in names:
            homes[name] = shared / f"home-{name}"
            subprocess.run(["useradd", "--no-create-home", "--home-dir", str(homes[name]), "--shell", "/usr/sbin/nologin", name], check=True)
            made.append(name)
            homes[name].mkdir(mode=0o700)
            shutil.chown(homes[name], name, name)
        s1, s2 = names

        def student(name, *args, check=True):
            import pwd

            account = pwd.getpwnam(name)
            run = subprocess.run([str(python), *args], user=account.pw_uid, group=account.pw_gid, cwd=homes[name], capture_output=True, text=True,
                                 env={"HOME": str(homes[name]), "USER": name, "PATH": "/usr/bin:/bin", "PYTHONPATH": site,
                                      "JUPYTER_CONFIG_DIR": str(config_dir)})
            assert not check or run.returncode == 0, run.stdout + run.stderr
            return run

        def nbgrader(name, *args):
            return student(name, "-m", "nbgrader", *args, "--course", COURSE_ID)

        def hand_in(name, text):
            target = homes[name] / A / f"{A}.ipynb"
            target.write_text(text)
            shutil.chown(target, name, name)
            nbgrader(name, "submit", A)
            return time.monotonic()

        state_file = course.root / "watch" / "state.json"

        def released(name) -> int:
            """How many of the student's submissions the watcher has released a page for (state.json is
            written after the pages it records)."""
            entries = json.loads(state_file.read_text())["entries"] if state_file.is_file() else {}
            return sum(e["student"] == name and bool(e.get("page")) for e in entries.values())

        def fetched(name, count, timeout=180):
            """Run fetch_feedback until the student has `count` feedback pages; the newest page's text.
            Each fetch_feedback is a student's nbgrader start-up (seconds of CPU taken from the grading), so
            it runs once the watcher says the page is out, rather than over and over until it is."""
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                if released(name) < count:
                    time.sleep(0.2)
                    continue
                nbgrader(name, "fetch_feedback", A)
                pages = sorted((homes[name] / A / "feedback").glob(f"*/{A}.html"))
                if len(pages) >= count:
                    return pages[-1].read_text(), time.monotonic()
                time.sleep(1)
            pytest.fail(f"no feedback for {name} after {timeout} s: " + (tmp_path / "watch.log").read_text())

        log = open(tmp_path / "watch.log", "w")
        watcher = subprocess.Popen([*NNFS, "--course", str(course.root), "watch", A, "--jobs", "2"], env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        for name in names:
            nbgrader(name, "fetch_assignment", A)

        submitted = hand_in(s1, notebook(course, catalogue_a1.softmax_over_axis_0))
        wrong, arrived = fetched(s1, 1)
        latency = arrived - submitted
        print(f"\nsubmit-to-feedback latency (a1, nbgrader submit -> fetch_feedback, watcher running): {latency:.1f} s")
        assert "normalise over axis 1 (a row is a sample)" in wrong and "<td>softmax_tests</td><td class=\"no\">" in wrong
        assert latency < 120
        hand_in(s1, notebook(course))
        time.sleep(1.1)  # submit names a submission by the second: the student's next one is another
        right, _ = fetched(s1, 2)
        assert "<td>softmax_tests</td><td class=\"ok\">passed</td>\n<td>3 / 3</td>" in right and "10 / 10 points" in right

        for count in (1, 2):
            hand_in(s2, notebook(course))
            fetched(s2, count)
            time.sleep(1.1)
        hand_in(s2, notebook(course))
        limited, _ = fetched(s2, 3)
        assert "Practice feedback limit reached" in limited and "Next feedback at " in limited

        inbound, feedback_dir = exchange / COURSE_ID / "inbound", exchange / COURSE_ID / "feedback"
        probe = f"""
import os, sys
inbound, feedback, other_home, outbound, forged = sys.argv[1:6]
def refused(action):
    try:
        action()
    except PermissionError:
        return True
    return False
assert refused(lambda: os.listdir(inbound))                      # who submitted what
assert refused(lambda: os.listdir(feedback))                     # whose feedback is there
assert refused(lambda: os.listdir(other_home))                   # the other's fetched feedback and submission secrets
assert refused(lambda: open(os.path.join(feedback, "x.html"), "w"))   # a page of one's own making
assert refused(lambda: open(os.path.join(outbound, "{A}.ipynb"), "a"))  # the release
os.mkdir(forged); open(os.path.join(forged, "{A}.ipynb"), "w").write("{{}}")  # a submission in the other's name
print("ok")
"""
        forged = inbound / f"{s1}+{A}+2026-12-05 00:00:00.000000 UTC+forgedXYZabc"
        run = student(s2, "-c", probe, str(inbound), str(feedback_dir), str(homes[s1]), str(exchange / COURSE_ID / "outbound" / A), str(forged))
        assert run.stdout.strip() == "ok"
        end = time.monotonic() + 60
        while time.monotonic() < end:
            entries = json.loads(state_file.read_text())["entries"]
            refused = [e for e in entries.values() if e["status"] == "refused"]
            if refused:
                break
            time.sleep(0.5)
        assert len(refused) == 1 and refused[0]["student"] == s1 and f"by the account {s2}" in refused[0]["reason"]
        assert sum(e["student"] == s1 and e["status"] == "practice" for e in entries.values()) == 2  # s1's own two, untouched
        assert oct(feedback_dir.stat().st_mode & 0o777) == "0o711"
        print((tmp_path / "watch.log").read_text())  # the instructor's progress lines, with each latency
    finally:
        if watcher is not None:
            os.killpg(watcher.pid, signal.SIGKILL)
            watcher.wait()
        for name in made:
            subprocess.run(["userdel", name], capture_output=True)
        shutil.rmtree(shared, ignore_errors=True)


def test_lateness_counts_the_extension_and_a_backdated_timestamp_is_late_by_its_files():
    from autograder.watch.watcher import CLOCK_TOLERANCE, is_late

    due = dt.datetime(2030, 12, 10, 23, 59, tzinfo=UTC)
    extended = due + dt.timedelta(hours=48)
    entry = lambda stamp, written: {"timestamp": stamp.isoformat(), "written_at": written.isoformat()}  # noqa: E731
    assert not is_late(entry(due, due), due) and is_late(entry(due + dt.timedelta(seconds=1), due), due)
    assert not is_late(entry(due + dt.timedelta(hours=47), due + dt.timedelta(hours=47)), extended)
    backdated = entry(due - dt.timedelta(hours=1), due + CLOCK_TOLERANCE + dt.timedelta(seconds=1))  # written after it
    assert is_late(backdated, due) and not is_late(backdated, due, check_written_at=False)
    assert not is_late({"timestamp": None, "written_at": None}, due)  # no timestamp: never late, as in nnfs grade


def test_hostile_inbound_entries_are_refused_without_following_them(course, tmp_path):
    """Read without grading: a link posing as a submission, an id that is not one, a notebook that is a link."""
    exchange, lines = tmp_path / "exchange", []
    inbound = exchange / COURSE_ID / "inbound"
    secret = submit(exchange, "s001", notebook(course), dt.datetime.now(UTC))
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / f"{A}.ipynb").write_text("the instructor's file")
    (inbound / f"s002+{A}+2030-01-01 00:00:00.000000 UTC+linklinklink").symlink_to(tmp_path / "elsewhere")
    bad_id = inbound / f"\x1b[2J<img src=x onerror=alert(1)>+{A}+2030-01-01 00:00:00.000000 UTC+badidbadidxx"
    bad_id.mkdir()
    (bad_id / f"{A}.ipynb").write_text(notebook(course))
    linked = inbound / f"s003+{A}+2030-01-01 00:00:00.000000 UTC+linkednotebk"
    linked.mkdir()
    (linked / f"{A}.ipynb").symlink_to(tmp_path / "elsewhere" / f"{A}.ipynb")
    (linked / "submission_secret.txt").write_text("s003-secret")
    watcher = make_watcher(course, exchange, Clock(dt.datetime.now(UTC)), lines)
    assert watcher.scan(store.load(course)) == 4
    entries = {e["student"]: e for e in watcher.state.entries.values()}
    assert entries["s001"]["status"] == "queued"
    assert {s: e["status"] for s, e in entries.items() if s != "s001"} == {"s002": "refused", "s003": "refused",
                                                                           next(s for s in entries if s.startswith("invalid-id-")): "refused"}
    assert "a symbolic link" in entries["s003"]["reason"] or "link" in entries["s003"]["reason"]
    assert "Not graded" in page(exchange, "s003-secret") and "the instructor's file" not in page(exchange, "s003-secret")
    kept = course.root / "watch" / "submissions"
    assert not any(p.is_symlink() for p in kept.rglob("*"))
    assert "the instructor's file" not in "".join(p.read_text() for p in kept.rglob("*") if p.is_file())
    assert lines and all("\x1b" not in line for line in lines)  # terminal codes from a name are printed escaped
    assert page(exchange, secret) == ""  # queued, not graded by scan


def test_practice_graded_on_a_dask_cluster(course, tmp_path):
    distributed = pytest.importorskip("distributed", reason="the Dask extra is not installed (pip install -e .[dask])")
    exchange, lines = tmp_path / "exchange", []
    secret = submit(exchange, "s001", notebook(course, catalogue_a1.softmax_over_axis_0), dt.datetime.now(UTC))
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        watcher = Watcher(course, exchange, COURSE_ID, [A], scheduler=cluster.scheduler_address, now=Clock(dt.datetime.now(UTC)), log=lines.append)
        assert watcher.step()["practice"] == 1
    assert "normalise over axis 1" in page(exchange, secret)


def test_practice_page_without_points_and_with_hostile_text_escaped():
    """c.Watch.hide_points: the verdicts and the named mistakes stay, the points go. Text from the student's
    code (an error's message) is escaped."""
    result = pipeline.StudentResult("s001", A, score=7.0, max_score=10.0,
                                    cells={"softmax_tests": (0.0, 3.0), "relu_tests": (1.0, 1.0), "integrity": (0.0, 0.0)},
                                    mistakes=[{"cell": "softmax_tests", "id": "softmax.axis0", "message": "softmax normalises over axis 0"}])
    visible = {"relu_tests": ["AssertionError: <script>alert(1)</script>"]}
    hidden = feedback.practice_page(result, "2030-01-01 10:00:00 UTC", "", False, "1 of 3", visible)
    shown = feedback.practice_page(result, "2030-01-01 10:00:00 UTC", "", True, "1 of 3", visible)
    assert "softmax normalises over axis 0" in hidden and "mistakes found" in hidden and "integrity" not in hidden
    assert "points" not in hidden.replace("Practice feedback", "") and "0 / 3" not in hidden
    assert "<th>points</th>" in shown and "0 / 3" in shown and "7 / 10 points" in shown
    assert "<script>alert" not in shown and "&lt;script&gt;alert(1)&lt;/script&gt;" in shown

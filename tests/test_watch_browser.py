"""nnfs watch seen by a student in JupyterLab's Assignments tab (nbgrader's lab extension), in Chromium.

The student fetches a1 and submits from the Assignment List; `nnfs watch` (running, as the instructor would
run it) grades it; the student presses Fetch Feedback and opens the page: a wrong softmax's named mistake,
then full marks for softmax after the fix, then, over the rate limit (2 here), "Next feedback at".
What the student types is written into the fetched notebook on disk (typing in the editor is what
tests/test_browser.py's relu test does). Here one JupyterLab, so one student: a second student over the
limit, on an account of their own, is tests/test_watch.py's real-accounts test (nbgrader's CLI).
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import catalogue_a1
from browser import CHROMIUM_FLAGS, INSTALL_CHROMIUM, INSTALL_PLAYWRIGHT, JupyterLab, chromium_executable
from notebooks import ROOT, copy_course
from test_watch import A, notebook

sync_api = pytest.importorskip("playwright.sync_api", reason=f"playwright is not installed: {INSTALL_PLAYWRIGHT}")
expect = sync_api.expect
SHOTS = ROOT / "test-output" / "browser-watch"
SLOW = 120_000


def test_the_assignments_tab_submits_and_fetches_practice_feedback(tmp_path):
    executable = chromium_executable()
    if executable is None:
        pytest.skip(f"Debian's chromium is not installed: {INSTALL_CHROMIUM}")
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    course = copy_course(tmp_path / "course")
    with open(course.root / "nbgrader_config.py", "a") as fh:
        fh.write("\nc.Watch.practice_feedbacks = 2\nc.Watch.poll_seconds = 1\n")
    student_dir, home = tmp_path / "student", tmp_path / "home"
    student_dir.mkdir()
    lab = JupyterLab(student_dir, home)
    env = lab._environment()  # the private Jupyter config folder: instructor and student find the same exchange there
    (home / "config" / "nbgrader_config.py").write_text(f"c = get_config()\nc.Exchange.root = {str(tmp_path / 'exchange')!r}\n")
    tools = Path(sys.executable).parent
    for command in ([tools / "nnfs", "exchange", "init"], [tools / "nbgrader", "release_assignment", A], [tools / "nnfs", "exchange", "init"]):
        subprocess.run([str(c) for c in command], cwd=course.root, env=env, check=True, capture_output=True)
    log = open(tmp_path / "watch.log", "w")
    watcher = subprocess.Popen([str(tools / "nnfs"), "--course", str(course.root), "watch", A, "--jobs", "2"], env=env,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    playwright = sync_api.sync_playwright().start()
    try:
        lab.start()
        try:
            context = playwright.chromium.launch_persistent_context(str(tmp_path / "profile"), executable_path=executable,
                                                                    headless=True, args=CHROMIUM_FLAGS, viewport={"width": 1400, "height": 900})
        except sync_api.Error as exc:
            pytest.skip(f"chromium ({executable}) cannot start here: {str(exc).splitlines()[0]}")
        page = context.new_page()
        page.set_default_timeout(SLOW)
        page.goto(lab.url("lab"))
        page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader").click()
        page.get_by_role("menuitem", name="Assignment List").click()
        panel = page.locator("#nbgrader-assignment-list")
        expect(panel).to_contain_text(A, timeout=SLOW)
        page.screenshot(path=str(SHOTS / "1-assignment-list.png"))
        panel.get_by_role("button", name="Fetch", exact=True).click()
        fetched = student_dir / A / f"{A}.ipynb"
        expect(panel.get_by_role("button", name="Submit")).to_be_visible(timeout=SLOW)
        assert fetched.is_file()

        def submit_and_read(text, count, shot):
            fetched.write_text(text)  # the student's work, saved
            panel.get_by_role("button", name="Submit").first.click()
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:  # until the watcher has released this submission's page
                expect(panel.get_by_role("button", name="Fetch Feedback").first).to_be_visible(timeout=SLOW)
                panel.get_by_role("button", name="Fetch Feedback").first.click()
                time.sleep(2)
                pages = sorted((student_dir / A / "feedback").glob(f"*/{A}.html"))
                if len(pages) >= count:
                    break
            else:
                pytest.fail("no feedback after 180 s:\n" + (tmp_path / "watch.log").read_text())
            page.screenshot(path=str(SHOTS / f"{shot}-assignment-list.png"))
            expect(panel).to_contain_text("(view feedback)", timeout=SLOW)
            view = context.new_page()
            view.goto(lab.url(f"files/{pages[-1].relative_to(student_dir).as_posix()}"))
            text = view.locator("body").inner_text()
            view.screenshot(path=str(SHOTS / f"{shot}-feedback.png"), full_page=True)
            view.close()
            time.sleep(1.1)  # nbgrader names a submission by the second
            return text

        wrong = submit_and_read(notebook(course, catalogue_a1.softmax_over_axis_0), 1, "2-wrong-softmax")
        assert "Practice feedback: a1_helpers" in wrong and "normalise over axis 1 (a row is a sample)" in wrong
        right = submit_and_read(notebook(course), 2, "3-fixed")
        assert "softmax_tests\tpassed\t3 / 3" in right and "10 / 10 points" in right
        limited = submit_and_read(notebook(course), 3, "4-over-the-limit")
        assert "Practice feedback limit reached" in limited and "Next feedback at " in limited
    finally:
        playwright.stop()
        lab.stop()
        os.killpg(watcher.pid, signal.SIGKILL)
        watcher.wait()

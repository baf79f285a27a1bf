"""Submissions that attack the grader, graded in one sandboxed run beside honest students.

Every attack must fail to raise its score and to touch anything outside its sandbox, and the honest
students in the same run must get exactly their marks. One grading run (session fixture) serves all the
tests; each test reads its own student's result.
"""

import hashlib
import os
import shutil
import socket
import threading
from pathlib import Path

import pytest

from autograder.examples import ExampleStudent, build_submission, example_students
from autograder.grading.orchestration import coordinator
from autograder.grading.orchestration.course import Course
from autograder.grading.isolation.sandbox import Limits, support
from notebooks import ROOT

A1 = "a1_helpers"
pytestmark = pytest.mark.skipif(not support().bwrap, reason="bubblewrap cannot run here: " + "; ".join(support().warnings))

ADA = next(s for s in example_students(A1) if s.student_id == "example-ada")
RIGHT_RELU = ADA.answers["relu"]
WRONG_SOFTMAX = "def softmax(x):\n    return np.ones_like(x) / x.shape[1]\n"  # rows sum to 1, values wrong


def _attacker(name, **cells):
    return ExampleStudent(f"attack-{name}", A1, name, answers={**ADA.answers, **cells})


class _Listener:
    """A TCP server on loopback that counts connections (none may arrive from a sandbox)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
                self.connections += 1
                conn.close()
            except OSError:
                pass

    def close(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()


def _fingerprint(root: Path) -> dict:
    """sha256 of every regular file under root, links and special files left alone (not followed)."""
    found = {}
    for folder, _, files in os.walk(root):
        for name in files:
            p = Path(folder, name)
            if p.is_symlink() or not p.is_file() or {"autograded", "feedback"} & set(p.parts) or name in ("grading_status.json", "grades.csv"):
                continue
            found[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return found


HOSTILE_IDS = {
    "markup": "<img src=x onerror=alert(1)>",
    "formula": '=HYPERLINK("evil","click")',
    "terminal": "\x1b[2J\x1b[31mred\x07",
    "bidi": "ada\u202egpj.exe",
    "dot": ".hidden",
}


def _plant_hostile_folders(course, secret_source):
    """Submission folders a collection step (unzip, tar, cp -a, rsync -a) can produce: links to the
    instructor's source notebook, to a classmate's notebook or folder, to a device; a FIFO; link files
    beside a real notebook; folder names that are markup, formulas or terminal codes."""
    submitted = course.root / "submitted"
    ada = course.submitted_notebook("example-ada", A1)
    release = course.release_notebook(A1)
    for name, target in (("link-to-source", secret_source), ("link-to-classmate", ada), ("link-to-device", Path("/dev/zero"))):
        folder = submitted / f"attack-{name}" / A1
        folder.mkdir(parents=True)
        (folder / f"{A1}.ipynb").symlink_to(target)
    (submitted / "attack-link-folder").symlink_to(submitted / "example-ada")
    folder = submitted / "attack-link-assignment-folder"
    folder.mkdir()
    (folder / A1).symlink_to(ada.parent)
    fifo = submitted / "attack-fifo" / A1
    fifo.mkdir(parents=True)
    os.mkfifo(fifo / f"{A1}.ipynb")
    # A real notebook (Ada's answers) with its timestamp and secret as links to files it must not copy.
    beside = submitted / "attack-link-timestamp" / A1
    beside.mkdir(parents=True)
    shutil.copy(ada, beside / f"{A1}.ipynb")
    (beside / "timestamp.txt").symlink_to(secret_source)
    (beside / "submission_secret.txt").symlink_to(Path("/etc/passwd"))
    for name in HOSTILE_IDS.values():
        folder = submitted / name / A1
        folder.mkdir(parents=True)
        shutil.copy(release, folder / f"{A1}.ipynb")
    # Metadata a template would render: a title, tags that become CSS classes, nbgrader metadata for a
    # grade id the release does not have.
    import nbformat

    path = course.submitted_notebook("attack-hostile-metadata", A1)
    nb = nbformat.read(str(path), as_version=4)
    nb.metadata["title"] = "<script>alert(1)</script>"
    nb.cells[0].metadata["tags"] = ['x" onmouseover="alert(1)']
    nb.cells.append(nbformat.v4.new_code_cell("print(1)", metadata={"nbgrader": {
        "grade": True, "solution": False, "locked": True, "points": 100, "grade_id": "<img src=x onerror=alert(1)>", "schema_version": 3}}))
    path.write_text(nbformat.writes(nb))


@pytest.fixture(scope="module", params=["forked-kernels", "kernels-started-anew"])
def attacked(request, tmp_path_factory):
    """The whole class graded once with kernels from the workers' fork servers, once without (the way
    kernels start when a fork server cannot): every attack must fail both ways."""
    root = tmp_path_factory.mktemp("attacked-course")
    shutil.copytree(ROOT / "source", root / "source")
    shutil.copy(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    course = Course(root)
    course.release_notebook(A1).parent.mkdir(parents=True)
    shutil.copy(ROOT / "release" / A1 / f"{A1}.ipynb", course.release_notebook(A1))
    listener = _Listener()
    secret_source = root / "source" / A1 / f"{A1}.ipynb"
    gradebook = root / "gradebook.db"
    other = root / "submitted" / "example-ada" / A1 / f"{A1}.ipynb"
    attackers = [
        ADA,
        next(s for s in example_students(A1) if s.student_id == "example-grace"),
        _attacker("loop", relu=RIGHT_RELU + "\nwhile True:\n    pass\n"),
        _attacker(
            "loop-ignoring-interrupts",
            relu=RIGHT_RELU + "\nimport signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n",
        ),
        _attacker("os-exit", relu=RIGHT_RELU + "\nimport os\nos._exit(1)\n"),
        _attacker("sys-exit", relu=RIGHT_RELU + "\nimport sys\nsys.exit(0)\n"),
        _attacker("memory", relu=RIGHT_RELU + "\nhoard = np.ones(50 * 10**9 // 8)\n"),
        _attacker(
            "fork-bomb",
            relu=RIGHT_RELU
            + "\nimport os, time\nchildren = []\ntry:\n    while len(children) < 100000:\n        pid = os.fork()\n"
            "        if pid == 0:\n            time.sleep(600)\n            os._exit(0)\n        children.append(pid)\n"
            "except OSError as exc:\n    print('fork refused after', len(children), 'children')\n",
        ),
        _attacker(
            "read-secrets",
            relu=RIGHT_RELU
            + "\nimport glob\nfor path in ['../../../source/a1_helpers/a1_helpers.ipynb', '../../../gradebook.db', "
            f"{str(secret_source)!r}, {str(gradebook)!r}]:\n    try:\n        print('LEAKED', open(path).read()[:2000])\n"
            "    except OSError as exc:\n        print('refused', type(exc).__name__)\n"
            "print(glob.glob('../../../**', recursive=True)[:20])\n",
        ),
        _attacker(
            "write-outside",
            relu=RIGHT_RELU
            + f"\nfor path in [{str(gradebook)!r}, {str(other)!r}, '../../../gradebook.db']:\n    try:\n"
            "        open(path, 'w').write('owned')\n        print('WROTE', path)\n    except OSError as exc:\n"
            "        print('refused', type(exc).__name__)\n",
        ),
        _attacker(
            "network",
            relu=RIGHT_RELU
            + f"\nimport socket\ntry:\n    socket.create_connection(('127.0.0.1', {listener.port}), timeout=3)\n"
            "    print('CONNECTED')\nexcept OSError as exc:\n    print('refused', exc)\n",
        ),
        _attacker(
            "patch-numpy-and-checks",
            softmax=WRONG_SOFTMAX
            + "\nimport numpy.testing\nnp.allclose = lambda *a, **k: True\nnp.isclose = lambda a, b, **k: np.ones(np.shape(a), bool)\n"
            "numpy.testing.assert_allclose = lambda *a, **k: None\n"
            "import autograder.checks, autograder.checks.a1_helpers as _c\n"
            "autograder.checks.check_softmax = _c.check_softmax = lambda fn: 3.0\n",
        ),
        _attacker(
            "always-equal",
            softmax="class Sneaky(np.ndarray):\n    def __eq__(self, other):\n        return np.ones(np.shape(self), bool)\n\n\n"
            "def softmax(x):\n    return np.zeros_like(x).view(Sneaky)\n",
        ),
        _attacker(
            "hide-tracebacks",
            softmax=WRONG_SOFTMAX
            + "\nimport sys\nip = get_ipython()\nip.showtraceback = lambda *a, **k: None\nip._showtraceback = lambda *a, **k: None\n"
            "sys.displayhook = lambda value: print(3.0)\n",
        ),
        _attacker("print-a-score", softmax=WRONG_SOFTMAX + "\nprint(3.0)\n"),
        _attacker(
            "patch-checks-and-dodge-verification",
            softmax=WRONG_SOFTMAX
            + "\ntry:\n    import autograder.checks, autograder.checks.a1_helpers as _c\n"
            "    autograder.checks.check_softmax = _c.check_softmax = lambda fn: 3.0\n"
            "except ImportError:  # no grading package: this must be the verification run\n"
            "    import os\n    os._exit(0)\n",
        ),
        _attacker(
            "fill-memory-folders",
            relu=RIGHT_RELU
            + "\nimport os\nfor folder in ['/tmp', '/dev/shm', '.']:\n    written = 0\n    try:\n        for i in range(100):\n"
            "            with open(os.path.join(folder, f'fill{i}'), 'wb') as f:\n                for _ in range(64):\n"
            "                    f.write(b'x' * 2**20)\n                    written += 2**20\n    except OSError as exc:\n"
            "        pass\n    print('WROTE', folder, written // 2**20)\n"
            "    for i in range(100):\n        try:\n            os.remove(os.path.join(folder, f'fill{i}'))\n"
            "        except OSError:\n            pass\n",
        ),
        _attacker(
            "write-socket-folder",
            relu=RIGHT_RELU
            + "\nimport json, os\nfrom ipykernel import get_connection_file\nfolder = os.path.dirname(json.load(open(get_connection_file()))['ip'])\n"
            "for i in range(20):\n    with open(os.path.join(folder, f'junk{i}'), 'wb') as f:\n        f.write(b'x' * 2**24)\n",
        ),
        _attacker("flood-output", relu=RIGHT_RELU + "\nfor _ in range(40):\n    print('x' * 2**20)\n"),
        _attacker(
            "flood-then-fail",
            softmax=WRONG_SOFTMAX + "\nimport os\n_real_softmax = softmax\n\n\ndef softmax(x):\n"
            "    for _ in range(8):\n        os.write(1, b'y' * 2**20)\n    return _real_softmax(x)\n",
        ),
        _attacker("slow-feedback", relu=RIGHT_RELU + "\nfor _ in range(2):\n    print('x\\x1b[0m' * 380000)\n"),
        _attacker(
            "forge-probe-answer",
            relu="def relu(x):\n    return x\n\n\nimport json, os\n"
            "for name in ['probe_out.json', '/tmp/probe_out.json']:\n    try:\n        open(name, 'w').write(json.dumps({'relu': []}))\n"
            "        os.chmod(name, 0o444)\n    except OSError:\n        pass\ntry:\n    os.chmod('.', 0o555)\nexcept OSError:\n    pass\n"
            "from IPython.display import publish_display_data\npublish_display_data({'text/x-nnfs-check-answer': '{}'})\n",
        ),
        _attacker(
            "answer-twice",
            relu="from IPython.display import publish_display_data\n\n\ndef relu(x):\n"
            "    publish_display_data({'text/x-nnfs-check-answer': '{}'})\n    return np.maximum(x, 0)\n",
        ),
        _attacker(
            "look-for-the-package",
            relu=RIGHT_RELU
            + "\nimport importlib, sys\nfor name in ['autograder.reference', 'autograder.reference.a1_helpers', 'autograder.checks._core', "
            "'autograder.checks.a2_backprop', 'autograder.grading']:\n    try:\n        importlib.import_module(name)\n"
            "        print('FOUND', name)\n    except ImportError:\n        print('MISSING', name)\n"
            "print('FOUND' if any('reference' in m for m in sys.modules) else 'no reference module')\n",
        ),
        _attacker(
            "hostile-metadata",
            relu=RIGHT_RELU,
        ),
    ]
    for student in attackers:
        path = course.submitted_notebook(student.student_id, A1)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(build_submission(course.release_notebook(A1), student))
    _plant_hostile_folders(course, secret_source)
    before = _fingerprint(root)
    limits = Limits(cell_seconds=10, notebook_seconds=60, feedback_seconds=20)
    forking = os.environ.get("NNFS_FORK_KERNELS")
    os.environ["NNFS_FORK_KERNELS"] = "1" if request.param == "forked-kernels" else "0"  # the pool's workers inherit it
    try:
        results = coordinator.grade(course, A1, jobs=2, limits=limits, progress=False, log=lambda *_: None)
    finally:
        if forking is None:
            os.environ.pop("NNFS_FORK_KERNELS")
        else:
            os.environ["NNFS_FORK_KERNELS"] = forking
    listener.close()
    return {r.student: r for r in results}, before, _fingerprint(root), listener.connections, course


FULL = 10.0


def _outputs(course, student):
    """Everything the student's cells printed while nbgrader graded them."""
    import nbformat

    nb = nbformat.read(str(course.autograded_notebook(student, A1)), as_version=4)
    return "\n".join(
        o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) + o.get("evalue", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
    )


def _softmax_score(r):
    return r.cells["softmax_tests"][0]


def test_honest_students_in_the_same_run_get_their_marks(attacked):
    results, *_ = attacked
    for student in ("example-ada", "example-grace"):
        assert results[student].status == "graded" and results[student].score == FULL, results[student]
        assert not any("DIFFERS" in n for n in results[student].notes)


def test_nothing_outside_the_sandboxes_changed(attacked):
    _, before, after, *_ = attacked
    changed = [k for k in before if before[k] != after.get(k)]
    assert changed == [k for k in changed if k in ("gradebook.db",)]  # only the coordinator's own writes
    assert all(after.get(k) for k in before if "submitted" in k), "a submission disappeared"
    assert before.get("submitted/example-ada/a1_helpers/a1_helpers.ipynb") == after.get("submitted/example-ada/a1_helpers/a1_helpers.ipynb")


@pytest.mark.parametrize("name", ["loop", "sys-exit", "memory", "fork-bomb"])
def test_misbehaving_code_costs_at_most_its_own_points(attacked, name):
    results, *_ = attacked
    r = results[f"attack-{name}"]
    assert r.status == "graded", r.reason
    assert r.score <= FULL
    assert r.cells["softmax_tests"] == (3.0, 3.0)  # later cells still ran and were graded


def test_a_loop_that_ignores_interrupts_is_stopped_by_the_notebook_limit(attacked):
    results, *_ = attacked
    r = results["attack-loop-ignoring-interrupts"]
    assert r.status in ("graded", "error")
    assert (r.score or 0) <= FULL
    if r.status == "error":
        assert "time limit" in r.reason or "nbgrader could not autograde" in r.reason


def test_killing_the_kernel_fails_only_that_notebook(attacked):
    results, *_ = attacked
    r = results["attack-os-exit"]
    assert r.status == "error" or r.score <= FULL


def test_fork_bomb_hits_the_process_cap(attacked):
    results, *_, course = attacked
    text = _outputs(course, "attack-fork-bomb")
    assert "fork refused after" in text


def test_secrets_cannot_be_read(attacked):
    results, *_, course = attacked
    text = _outputs(course, "attack-read-secrets")
    assert "LEAKED" not in text and "BEGIN SOLUTION" not in text and "SQLite" not in text
    assert text.count("refused") >= 4


def test_nothing_outside_can_be_written(attacked):
    results, *_, course = attacked
    text = _outputs(course, "attack-write-outside")
    # The real gradebook and another student's notebook, by their real paths: refused. (A relative
    # '../../../gradebook.db' lands in the sandbox's private /tmp and vanishes with it; the fingerprint
    # test above shows no real file changed.)
    assert f"WROTE {course.root / 'gradebook.db'}" not in text and "WROTE " + str(course.root / "submitted") not in text
    assert text.count("refused") >= 2


def test_no_network(attacked):
    results, _, _, connections, course = attacked
    assert connections == 0
    assert "CONNECTED" not in _outputs(course, "attack-network")


@pytest.mark.parametrize("name", ["patch-numpy-and-checks", "always-equal", "hide-tracebacks", "print-a-score"])
def test_cheats_do_not_raise_the_score(attacked, name):
    results, *_ = attacked
    r = results[f"attack-{name}"]
    assert r.status == "graded", r.reason
    assert _softmax_score(r) == 0.0, r
    assert r.cells["grad_ce_tests"][0] == 0.0  # grad_ce calls the same wrong softmax
    # At most what the other cells earn (less where a patch also broke the student's own visible asserts).
    assert r.score <= FULL - 3.0 - 2.0
    assert r.verified


def test_a_patched_check_scores_nothing_and_is_flagged(attacked):
    """The stand-in's check_softmax replaced by `lambda fn: 3.0`: its 3.0 is never read as a score; the
    cell shows that its hidden tests did not run, and the instructor's notes say so."""
    results, *_, course = attacked
    r = results["attack-patch-numpy-and-checks"]
    assert _softmax_score(r) == 0.0
    assert any(n.startswith("HIDDEN TESTS DID NOT RUN") and "softmax_tests" in n for n in r.notes), r.notes
    assert {"cell": "softmax_tests", "id": "softmax.hidden_tests_not_run"}.items() <= next(m for m in r.mistakes if m["cell"] == "softmax_tests").items()
    import nbformat

    nb = nbformat.read(str(course.autograded_notebook(r.student, A1)), as_version=4)
    (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "softmax_tests"]
    assert not any(o.output_type == "execute_result" for o in cell.outputs)  # the fake 3.0 is gone
    assert any(o.output_type == "error" and "did not run" in o.evalue for o in cell.outputs)


def test_feedback_and_gradebook_show_the_verified_score(attacked):
    results, *_, course = attacked
    r = results["attack-patch-numpy-and-checks"]
    html = course.feedback_html(r.student, A1).read_text()
    assert f"(Score: {float(round(r.score, 2))} / {FULL})" in html  # the total students read
    assert "(Score: 0.0 / 3.0)" in html  # the softmax test cell, which nbgrader had scored 3
    with course.gradebook() as gb:
        assert gb.find_submission(A1, r.student).score == r.score


def test_the_kernel_holds_no_grading_package(attacked):
    """Under nnfs grade the kernel has only the stand-in: no reference, no checks' judges, no other
    assignment's data; so this student's imports find nothing to patch but the stand-in itself."""
    results, *_, course = attacked
    r = results["attack-patch-checks-and-dodge-verification"]
    assert r.status == "graded", r.reason
    assert _softmax_score(r) == 0.0 and r.score <= FULL - 3.0 - 2.0, r
    text = _outputs(course, "attack-look-for-the-package")
    assert "FOUND" not in text and "MISSING autograder.reference" in text and "MISSING autograder.checks._core" in text, text


# ------------------------------------------------------------------ what students control beyond code


@pytest.mark.parametrize("name", ["link-to-source", "link-to-classmate", "link-to-device", "link-folder", "link-assignment-folder", "fifo"])
def test_links_and_special_files_in_submissions_are_refused_not_followed(attacked, name):
    results, *_, course = attacked
    r = results[f"attack-{name}"]
    assert r.status == "error" and r.score is None, r
    assert "link" in r.reason or "FIFO" in r.reason or "device" in r.reason, r.reason
    assert not course.autograded_notebook(r.student, A1).exists() and not course.feedback_html(r.student, A1).exists()


def test_linked_timestamp_and_secret_are_not_copied(attacked):
    results, *_, course = attacked
    r = results["attack-link-timestamp"]
    assert r.status == "graded" and r.score == FULL, r  # graded on its own (real) notebook
    for folder in (course.autograded_notebook(r.student, A1).parent, course.feedback_html(r.student, A1).parent):
        assert not (folder / "timestamp.txt").exists() and not (folder / "submission_secret.txt").exists()


def test_hostile_folder_names_are_refused_under_safe_ids(attacked, tmp_path):
    from autograder.grading.orchestration import pipeline
    from autograder.grading.orchestration.untrusted import is_valid_student_id, stand_in_id

    results, *_, course = attacked
    for name in HOSTILE_IDS.values():
        r = results[stand_in_id(name)]
        assert r.status == "error" and "not a valid student id" in r.reason, r
        assert r.reason.isascii() and r.reason.isprintable(), r.reason  # named, escaped (ascii())
    assert not any(name in results for name in HOSTILE_IDS.values())
    with course.gradebook() as gb:
        ids = {s.id for s in gb.students}
    assert ids.isdisjoint(HOSTILE_IDS.values()) and all(is_valid_student_id(i) for i in ids), ids
    table = pipeline.format_table(list(results.values()))
    assert "\x1b" not in table and "\u202e" not in table and "\x07" not in table
    csv_path = tmp_path / "grades.csv"
    pipeline.write_grades_csv(csv_path, list(results.values()))
    import csv

    for row in csv.reader(csv_path.open()):
        assert not any(cell[:1] in ("=", "+", "@", "-") for cell in row), row


def test_memory_backed_folders_and_disk_are_bounded(attacked):
    results, *_, course = attacked
    r = results["attack-fill-memory-folders"]
    assert r.status == "graded" and r.score == FULL, r  # the student's own work still counts
    written = {line.split()[1]: int(line.split()[2]) for line in _outputs(course, r.student).splitlines() if line.startswith("WROTE")}
    limits = Limits()
    assert written["/tmp"] <= limits.tmp_mb and written["/dev/shm"] <= limits.shm_mb, written
    assert written["."] <= limits.tmp_mb, written  # the working folder lives in /tmp


def test_writing_into_the_socket_folder_stops_that_notebook(attacked):
    results, *_ = attacked
    r = results["attack-write-socket-folder"]
    assert r.status == "error" or r.score < FULL, r


def test_a_flood_of_output_is_cut_and_graded(attacked):
    results, *_, course = attacked
    r = results["attack-flood-output"]
    assert r.status == "graded" and r.score == FULL, r
    assert any("output cut" in n for n in r.notes), r.notes
    assert course.autograded_notebook(r.student, A1).stat().st_size < 20 * 2**20
    assert "output cut by the grader" in _outputs(course, r.student)


def test_a_flood_cannot_hide_a_failure(attacked):
    results, *_ = attacked
    r = results["attack-flood-then-fail"]
    assert r.status == "graded" and _softmax_score(r) == 0.0, r


def test_slow_feedback_is_bounded_and_the_student_graded(attacked):
    """Output that nbconvert converts slowly (its ANSI filter is quadratic in escape sequences): the
    student is graded; the feedback is made within its bound, or cut with a page that says so."""
    from autograder.grading.orchestration.feedback import FeedbackMaker, FeedbackTimeout, cut_feedback_page

    results, *_, course = attacked
    r = results["attack-slow-feedback"]
    assert r.status == "graded" and r.score == FULL, r
    html = course.feedback_html(r.student, A1).read_text()
    if any(n.startswith("feedback cut") for n in r.notes):
        assert "Your feedback was cut" in html and f"Score: {r.score} / {r.max_score}" in html
    maker = FeedbackMaker(seconds=0.5)
    try:
        with pytest.raises(FeedbackTimeout):  # the same page under a tight bound: the child is killed
            maker.make(course.root, A1, r.student)
        maker.make(course.root, A1, "example-ada", seconds=120)  # and the next request gets a new one
    finally:
        maker.close()
    page = cut_feedback_page(A1, "<b>x</b>", 1.0, 10.0, {"<i>cell</i>": (1.0, 1.0)}, "<script>alert(1)</script>")
    assert "<b>" not in page and "<i>" not in page and "<script>" not in page and "&lt;script&gt;" in page


def test_a_forged_probe_answer_is_never_read(attacked):
    results, *_ = attacked
    r = results["attack-forge-probe-answer"]
    assert r.status == "graded" and r.cells["relu_tests"][0] == 0.0, r
    assert r.verified


def test_answers_sent_by_the_student_score_nothing(attacked):
    results, *_ = attacked
    r = results["attack-answer-twice"]
    assert r.cells["relu_tests"][0] == 0.0, r
    assert any(n.startswith("HIDDEN TESTS DID NOT RUN") and "relu_tests" in n for n in r.notes), r.notes
    assert r.score == FULL - 1.0  # the other cells, which its relu does not reach, keep their points
    assert [(m["cell"], m["id"], m["points_lost"]) for m in r.mistakes] == [("relu_tests", "relu.hidden_tests_not_run", 1.0)]


def test_hostile_metadata_is_scrubbed(attacked):
    import nbformat

    results, *_, course = attacked
    r = results["attack-hostile-metadata"]
    assert r.status == "graded" and r.score == FULL and r.max_score == FULL, r
    nb = nbformat.read(str(course.autograded_notebook(r.student, A1)), as_version=4)
    text = nbformat.writes(nb)
    assert "onerror" not in text and "onmouseover" not in text and "<script>" not in text


def test_every_result_says_how_it_was_isolated(attacked):
    results, *_ = attacked
    graded = [r for r in results.values() if r.status == "graded"]
    assert graded and all(r.isolation == "bwrap" for r in graded)

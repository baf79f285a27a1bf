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
from autograder.grading import coordinator
from autograder.grading.course import Course
from autograder.grading.sandbox import Limits, support
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
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "autograded" not in p.parts and "feedback" not in p.parts and p.name != "grading_status.json"
    }


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
    ]
    for student in attackers:
        path = course.submitted_notebook(student.student_id, A1)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(build_submission(course.release_notebook(A1), student))
    before = _fingerprint(root)
    limits = Limits(cell_seconds=10, notebook_seconds=60)
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
    assert r.score == FULL - 3.0 - 2.0
    assert r.verified


def test_a_cheat_that_fooled_nbgrader_is_caught_and_flagged(attacked):
    results, *_ = attacked
    notes = " ".join(results["attack-patch-numpy-and-checks"].notes)
    # In the kernel the patched check returned 3.0 and nbgrader believed it; the verified run did not.
    assert "VERIFIED SCORE DIFFERS" in notes and "softmax_tests: nbgrader 3, verified 0" in notes, notes


def test_feedback_and_gradebook_show_the_verified_score(attacked):
    results, *_, course = attacked
    r = results["attack-patch-numpy-and-checks"]
    html = course.feedback_html(r.student, A1).read_text()
    assert f"(Score: {float(round(r.score, 2))} / {FULL})" in html  # the total students read
    assert "(Score: 0.0 / 3.0)" in html  # the softmax test cell, which nbgrader had scored 3
    with course.gradebook() as gb:
        assert gb.find_submission(A1, r.student).score == r.score


def test_dodging_the_verification_run_scores_nothing_and_is_flagged(attacked):
    results, *_ = attacked
    r = results["attack-patch-checks-and-dodge-verification"]
    assert r.status == "graded", r.reason
    assert all(r.cells[f"{name}_tests"][0] == 0.0 for name in ("relu", "softmax", "compute_layer", "accuracy"))
    assert any(n.startswith("UNVERIFIED") for n in r.notes), r.notes

"""Kernels forked from a worker's fork server (forkserver.py) are as isolated as kernels started anew,
and a student cannot tell them apart from one.

Two kernels of the same server are used at once here, as a worker does (one student's kernel runs while
the next student's waits): nothing of one may be visible or reachable from the other.
"""

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell, new_notebook
from traitlets.config import Config

from autograder.assignments import all_specs
from autograder.grading.isolation import forkserver, kernels as warm
from autograder.grading.isolation.sandbox import Limits, support

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not forkserver.enabled(), reason="no bubblewrap or pidfd here: kernels are not forked")


def _run(kernel_pair, *sources):
    """Each source in its own cell of one notebook; the text each cell printed."""
    sandbox, kernel = kernel_pair
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    config = Config()
    sandbox.configure(config)
    warm.SandboxedExecute(config=config, kernel=kernel).preprocess(nb, {"metadata": {"path": str(sandbox.scratch)}})
    return ["".join(o.get("text", "") for o in c.outputs) for c in nb.cells]


def _run_and_keep(kernel_pair, source):
    """What one cell printed, leaving the kernel running (nbgrader's executor shuts it down after a notebook)."""
    import asyncio

    _, (_, client) = kernel_pair
    printed = []

    def hook(message):
        if message["msg_type"] == "stream":
            printed.append(message["content"]["text"])

    reply = asyncio.run(client.execute_interactive(source, timeout=60, output_hook=hook))
    assert reply["content"]["status"] == "ok", reply["content"]
    return "".join(printed)


def _start(tmp_path, name, with_package=False):
    pair = warm.start_now(tmp_path / name, Limits(), with_package)
    return pair


DESCRIBE = r"""
import importlib, json, os, resource, signal, sys
for name in PRELOAD:  # as the notebook will: then the forked kernel, which has them already, must not differ
    importlib.import_module(name)
described = {
    "path": sys.path, "cwd": os.getcwd(), "argv0": sys.argv[0], "uid": os.getuid(), "pid": os.getpid(),
    "env": {k: v for k, v in os.environ.items() if k != "NNFS_FORK_KERNELS"},
    "limits": {n: resource.getrlimit(getattr(resource, n)) for n in dir(resource) if n.startswith("RLIMIT_")},
    "fds": sorted(os.listdir("/proc/self/fd")), "modules": sorted(sys.modules), "tmp": sorted(os.listdir("/tmp/work")),
    "signals": {s.name: str(signal.getsignal(s)) for s in signal.Signals if s.name not in ("SIGKILL", "SIGSTOP")},
}
if "matplotlib" in sys.modules:
    import matplotlib
    described["matplotlib"] = [matplotlib.get_configdir(), matplotlib.get_cachedir(), matplotlib.get_backend(),
                               sorted((k, str(v)) for k, v in matplotlib.rcParams.items())]
print(json.dumps(described))
"""


@pytest.mark.parametrize("preload", [(), ("matplotlib", "sklearn.datasets", "sklearn.model_selection")])
def test_a_forked_kernel_looks_like_a_kernel_started_anew(tmp_path, monkeypatch, preload):
    described = {}
    for mode in ("1", "0"):
        monkeypatch.setenv("NNFS_FORK_KERNELS", mode)
        pair = warm.start_now(tmp_path / f"mode{mode}", Limits(), True, preload)
        try:
            assert isinstance(pair[1][0], forkserver.ForkedKernelManager) == (mode == "1")
            described[mode] = json.loads(_run(pair, f"PRELOAD = {list(preload)!r}\n" + DESCRIBE)[0])
        finally:
            pair[0].close()
    forked, started = described["1"], described["0"]
    assert forked.keys() == started.keys()
    # The memory limit allows on top what the fork server's preloads take (none of it is the student's).
    extra = forked["limits"].pop("RLIMIT_AS")[0] - started["limits"].pop("RLIMIT_AS")[0]
    assert extra == 0 if not preload else 0 < extra < 1024**3
    for key in forked:
        assert forked[key] == started[key], key


def _imported_by(notebook_path) -> set:
    """Every module a notebook's code cells import (``matplotlib.pyplot`` also gives ``matplotlib``)."""
    import ast

    found = set()
    for cell in json.loads(notebook_path.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        try:
            tree = ast.parse("".join(cell["source"]))
        except SyntaxError:  # magics
            continue
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            for name in names:
                parts = name.split(".")
                found.update(".".join(parts[: i + 1]) for i in range(len(parts)))
    return found


@pytest.mark.parametrize("name", list(all_specs()))
def test_each_assignments_preloads_are_what_its_notebook_imports_and_can_be_imported_ahead(name):
    """A spec's preloads are imported by its release notebook anyway (a preload of anything else would put a
    module in a student's kernel that the notebook never asked for), are never the grading package, and import
    outside IPython (matplotlib.pyplot and tqdm.auto do not belong here: they set themselves up for a kernel)."""
    spec = all_specs()[name]
    imported = _imported_by(ROOT / "release" / name / f"{name}.ipynb")
    for module in spec.preload:
        assert module in imported, f"{name} preloads {module}, which its notebook does not import"
        assert not module.startswith("autograder") and module not in ("matplotlib.pyplot", "tqdm.auto"), module
    out = subprocess.run([sys.executable, "-c", f"import {', '.join(spec.preload) or 'sys'}"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


STATUS = "print(open('/proc/self/status').read())"

LEAVE_TRACES = r"""
import os, socket, subprocess
open('/tmp/trace-of-a', 'w').write('a'); open('/dev/shm/trace-of-a', 'w').write('a')
listener = socket.socket(socket.AF_UNIX); listener.bind('\0abstract-of-a'); listener.listen()
sleeper = subprocess.Popen(['sleep', '300'])
print(os.listdir('/tmp'), sleeper.pid)
"""

LOOK_FOR_TRACES = r"""
import json, os, socket, subprocess
sockets = os.path.dirname(json.load(open('/tmp/kernel.json'))['ip'])
seen = {
    'tmp': sorted(os.listdir('/tmp')), 'shm': sorted(os.listdir('/dev/shm')),
    'kernel folders': sorted(os.listdir(os.path.dirname(os.path.dirname(sockets)))),
    'processes': sorted(open(f'/proc/{p}/cmdline').read().replace('\0', ' ')[:40] for p in os.listdir('/proc') if p.isdigit()),
}
try:
    socket.socket(socket.AF_UNIX).connect('\0abstract-of-a'); seen['abstract socket'] = 'CONNECTED'
except OSError as exc:
    seen['abstract socket'] = type(exc).__name__
# A new user namespace gives capabilities inside it, but the mounts it inherits are locked: the private
# /tmp cannot be taken away to show the fork server's.
done = subprocess.run(['unshare', '-Um', 'sh', '-c', 'umount /tmp && echo UNMOUNTED; ls /tmp'], capture_output=True, text=True)
seen['umount /tmp'] = done.stdout + done.stderr
print(seen)
"""


@pytest.fixture(params=["under /tmp", "elsewhere"])
def server_folder(request, monkeypatch, tmp_path):
    """Where a fork server keeps its kernels' folders: the system's temporary folder, wherever that is
    (under /tmp each kernel's private /tmp hides it anyway; elsewhere it must be hidden on its own)."""
    if request.param == "elsewhere":
        import tempfile
        from pathlib import Path

        elsewhere = Path("/var/tmp")
        if not elsewhere.is_dir():
            pytest.skip("no /var/tmp here")
        monkeypatch.setattr(tempfile, "tempdir", str(elsewhere))
        monkeypatch.setattr(forkserver, "_SERVERS", {})  # a server of its own, made there
        monkeypatch.setattr(forkserver, "_FAILED", {})
    return request.param


def test_two_kernels_of_one_fork_server_share_nothing(tmp_path, server_folder):
    a, b = _start(tmp_path, "a"), _start(tmp_path, "b")
    if server_folder == "elsewhere":
        assert str(a[0].root).startswith("/var/tmp/")
    try:
        assert isinstance(a[1][0], forkserver.ForkedKernelManager) and isinstance(b[1][0], forkserver.ForkedKernelManager)
        a_traces = _run_and_keep(a, LEAVE_TRACES)
        assert "trace-of-a" in a_traces
        (b_status, b_seen) = _run(b, STATUS, LOOK_FOR_TRACES)
        # a is still running, with its file, process and socket (so b saw nothing because it could not)
        assert "trace-of-a" in _run_and_keep(a, "import os; print(os.listdir('/tmp'), os.listdir('/dev/shm'))")
        assert "sleep 300" in _run_and_keep(a, "import os; print([open(f'/proc/{p}/cmdline').read() for p in os.listdir('/proc') if p.isdigit()])").replace("\\x00", " ")
    finally:
        a[0].close()
        b[0].close()
    status = dict(line.split(":\t", 1) for line in b_status.splitlines() if ":\t" in line)
    assert int(status["CapEff"], 16) == int(status["CapBnd"], 16) == int(status["CapPrm"], 16) == 0
    assert status["NoNewPrivs"].strip() == "1"
    assert "trace-of-a" not in b_seen  # neither in /tmp nor in /dev/shm
    assert "sleep 300" not in b_seen  # nor its processes
    assert "'abstract socket': 'ConnectionRefusedError'" in b_seen  # nor its socket (abstract sockets are per network namespace)
    assert "UNMOUNTED" not in b_seen
    assert str(a[0].root.name) not in b_seen  # the server's other kernel folders are hidden


def test_each_forked_kernel_draws_its_own_random_numbers(tmp_path):
    draws = []
    for name in ("a", "b"):
        pair = _start(tmp_path, name)
        try:
            draws.append(_run(pair, "import numpy as np, random\nprint(np.random.rand(), random.random())")[0])
        finally:
            pair[0].close()
    assert draws[0] != draws[1]


# Where a 48 MB array lands: glibc puts a block above its mmap threshold (at most 32 MB by default) in a
# mapping of its own, which free() hands back to the OS, so the next step faults every page in again.
IN_HEAP = r"""
import numpy as np
a = np.empty(6_000_000)
heap = [line.split()[0] for line in open("/proc/self/maps") if line.rstrip().endswith("[heap]")]
print(any(int(lo, 16) <= a.ctypes.data < int(hi, 16) for lo, hi in (r.split("-") for r in heap)))
"""


@pytest.mark.parametrize("mode", ["1", "0"])
def test_a_graded_kernel_keeps_training_sized_arrays_in_its_heap(tmp_path, monkeypatch, mode):
    """sandbox.MALLOC_ENV reaches the kernel's allocator, forked (inherited from the fork server) or started anew."""
    monkeypatch.setenv("NNFS_FORK_KERNELS", mode)
    pair = _start(tmp_path, f"mode{mode}")
    try:
        assert _run(pair, IN_HEAP) == ["True\n"]
    finally:
        pair[0].close()
    # The control: glibc's defaults, in a plain process, put the same array elsewhere.
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("MALLOC_")}
    plain = subprocess.run([sys.executable, "-c", IN_HEAP], env=env, capture_output=True, text=True, check=True)
    assert plain.stdout == "False\n"


def test_a_forked_kernel_is_held_in_its_process_cap(tmp_path):
    if not support().pids_cgroup:
        pytest.skip("no pids cgroup here")
    pair = _start(tmp_path, "bomb")
    forked = pair[1][0].provisioner.process.pid
    bomb = (
        "import os, time\nchildren = []\ntry:\n    while len(children) < 10000:\n        pid = os.fork()\n"
        "        if pid == 0:\n            time.sleep(60)\n            os._exit(0)\n        children.append(pid)\n"
        "except OSError:\n    print(len(children))\n"
    )
    try:
        members = open(f"{pair[0].cgroup}/cgroup.procs").read().split()
        (forks,) = _run(pair, bomb)
    finally:
        pair[0].close()
    assert str(forked) in members  # put there before it ran anything, so all it starts is counted
    assert 0 < int(forks) < Limits().processes


def test_kernels_start_the_usual_way_when_the_fork_server_cannot(tmp_path, monkeypatch, capfd):
    broken = tmp_path / "broken_server.py"
    broken.write_text("import sys\nsys.exit('no fork server today')\n")
    monkeypatch.setattr(forkserver, "SOURCE", broken)
    monkeypatch.setattr(forkserver, "_SERVERS", {})
    monkeypatch.setattr(forkserver, "_FAILED", {})
    pair = _start(tmp_path, "fallback")
    try:
        assert not isinstance(pair[1][0], forkserver.ForkedKernelManager)
        assert _run(pair, "print(6 * 7)") == ["42\n"]
    finally:
        pair[0].close()
    assert "without the fork server" in capfd.readouterr().err


def test_kernels_are_forked_from_two_threads_at_once(tmp_path):
    """A worker starts nbgrader's kernel and the verification kernel from two threads."""
    pairs, errors = [], []

    def start(name, with_package):
        try:
            pairs.append(_start(tmp_path, name, with_package))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(f"t{i}", i % 2 == 0)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors
        assert [_run(p, "print(1 + 1)") for p in pairs] == [["2\n"]] * 4
        assert all(isinstance(p[1][0], forkserver.ForkedKernelManager) for p in pairs)
    finally:
        for p in pairs:
            p[0].close()


def test_read_only_binds_under_tmp_stay_visible_and_read_only(tmp_path, monkeypatch):
    """A checkout under /tmp (CI's, say) has its virtual environment and package there: a forked kernel's
    fresh /tmp must not hide them, nor make them writable."""
    shared = tmp_path / "shared-data"  # tmp_path is under /tmp here
    shared.mkdir()
    (shared / "public.txt").write_text("public")
    if not str(shared).startswith("/tmp/"):
        pytest.skip("the temporary folder is not under /tmp here")
    real = forkserver.course_environment

    def with_shared_folder(data=()):
        env, binds = real(data)
        return env, binds + [str(shared)]

    monkeypatch.setattr(forkserver, "course_environment", with_shared_folder)
    monkeypatch.setattr(forkserver, "_SERVERS", {})  # a server of its own, with that bind
    monkeypatch.setattr(forkserver, "_FAILED", {})
    pair = _start(tmp_path, "k")
    try:
        assert isinstance(pair[1][0], forkserver.ForkedKernelManager)
        (out,) = _run(
            pair,
            f"print(open({str(shared / 'public.txt')!r}).read())\n"
            f"try:\n    open({str(shared / 'public.txt')!r}, 'w')\nexcept OSError as exc:\n    print(exc.strerror)\n",
        )
    finally:
        pair[0].close()
    assert out.split("\n")[:2] == ["public", "Read-only file system"]
    assert (shared / "public.txt").read_text() == "public"

"""Kernels forked from a warm process inside the sandbox, instead of started from nothing.

Starting a kernel costs about 0.3 s of CPU (Python, IPython, ipykernel, zmq, numpy), twice per
submission; with every core busy that was a third of a small notebook's grading. Each worker therefore
keeps one fork server per kind of kernel (with the grading package, for nbgrader's run; without, for
verification): a Python process in a bubblewrap sandbox, like a kernel's, that has imported all that
once (forkserver_main.py). For each kernel it forks a process which, before any student code runs, leaves
the server's namespaces for new ones of its own, mounts a private /tmp, /dev/shm, /dev/pts and /proc,
binds only its own kernel folder, drops every capability and applies the limits. The grader puts it in
the kernel's pids cgroup while it waits. What kernels share is the server's read-only system view and
the memory pages of what it imported (copy-on-write): no file, process, socket or IPC of another kernel.

When the server cannot start or a fork fails, the kernel is started the usual way (sandbox.py), which
isolates the same but costs the CPU again. ``NNFS_FORK_KERNELS=0`` turns forking off.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

from .sandbox import PACKAGE_DIR, course_environment, fork_server_bwrap_argv, remove_at_exit, stop_process, support

SOURCE = Path(__file__).with_name("forkserver_main.py")

def enabled() -> bool:
    return os.environ.get("NNFS_FORK_KERNELS", "1") != "0" and support().bwrap and hasattr(os, "pidfd_open")


def _ns_pid(host_pid: int) -> int | None:
    """A process's pid in its innermost PID namespace, from the host's view of it."""
    try:
        for line in Path(f"/proc/{host_pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    except (OSError, ValueError):
        return None
    return None


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class ForkedProcess:
    """What jupyter_client's provisioner needs of a kernel process (a Popen's poll/wait/kill), for a
    process that is not our child: followed through a pidfd, so a reused pid is never signalled."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int, pidfd: int):
        self.pid = pid
        self._pidfd = pidfd
        self.returncode = None

    def poll(self):
        if self.returncode is None and select.select([self._pidfd], [], [], 0)[0]:
            self._ended()
        return self.returncode

    def wait(self, timeout=None):
        if self.returncode is None:
            if not select.select([self._pidfd], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout)
            self._ended()
        return self.returncode

    def _ended(self):
        self.returncode = -signal.SIGKILL  # its exit status went to the fork server, which reaped it
        self._close()

    def _close(self):
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None

    def __del__(self):  # a kernel dropped without a shutdown (killed with its sandbox): no pidfd left open
        self._close()

    def send_signal(self, signum: int) -> None:
        if self.returncode is None and self._pidfd is not None:
            try:
                signal.pidfd_send_signal(self._pidfd, signum)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class ForkServer:
    """One fork server (one kind of kernel) and the folder its kernels' folders live in."""

    def __init__(self, with_package: bool, preload: tuple = (), data: tuple = ()):
        self.base = Path(tempfile.mkdtemp(prefix="nnfs-fork-"))
        remove_at_exit(self.base)
        env, binds = course_environment(data)
        readonly = ([str(PACKAGE_DIR)] if with_package else []) + binds
        argv = fork_server_bwrap_argv(str(self.base), readonly, env) + [sys.executable, "-c", SOURCE.read_text(), ",".join(preload)]
        self._lock = threading.Lock()
        self._buffer = b""
        self._count = 0
        with open(self.base / "server.log", "ab") as log:
            # bwrap dies with the thread that started it: start it from one that lives as long as the process.
            self._proc = _KEEPER.submit(
                subprocess.Popen, argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, close_fds=True,
                # os.environ, as jupyter_client gives a kernel it starts, not the C-level environment
                # (where, for one, GNU readline leaves LINES and COLUMNS).
                env=dict(os.environ),
            ).result()
        try:
            ready = self._read(timeout=60)
            if ready.get("threads") != 1:
                raise RuntimeError(f"the fork server runs {ready.get('threads')} threads after its imports: unsafe to fork")
            self._host = self._find([self._proc.pid], ready["ready"], depth=3)
            if self._host is None:
                raise RuntimeError("the fork server's process was not found")
        except BaseException:
            self.close()
            raise

    def _find(self, roots: list[int], ns_pid: int, depth: int) -> int | None:
        """The host pid of the descendant of ``roots`` (within ``depth`` generations) whose own pid is ns_pid."""
        level = roots
        for _ in range(depth):
            level = [c for p in level for c in _children(p)]
            for pid in level:
                if _ns_pid(pid) == ns_pid:
                    return pid
        return None

    def _read(self, timeout: float) -> dict:
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._buffer:
            if not select.select([fd], [], [], timeout)[0]:
                raise TimeoutError("the fork server did not answer")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise RuntimeError(f"the fork server ended (see {self.base / 'server.log'})")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def _send(self, message: dict) -> None:
        self._proc.stdin.write(json.dumps(message).encode() + b"\n")
        self._proc.stdin.flush()

    def alive(self) -> bool:
        return self._proc.poll() is None

    def kernel_root(self) -> Path:
        with self._lock:
            self._count += 1
            return self.base / f"k{self._count}"

    def fork(self, root: Path, connection: dict, limits: dict, cgroups: list) -> ForkedProcess:
        """A new kernel process for ``root`` (under self.base), in ``cgroups`` before it runs anything."""
        with self._lock:
            self._send({"root": str(root), "connection": connection, "limits": limits})
            ns_pid = self._read(timeout=30)["pid"]
            ok = False
            try:
                host = self._find([self._host], ns_pid, depth=1)
                if host is None:
                    raise RuntimeError("the forked kernel's process was not found")
                pidfd = os.pidfd_open(host)
                for cgroup in cgroups:
                    Path(cgroup, "cgroup.procs").write_text(str(host))
                ok = True
            finally:
                self._send({"go": ns_pid, "ok": ok})
        return ForkedProcess(host, pidfd)

    def close(self) -> None:
        stop_process(self._proc)


def _fresh_state() -> None:
    """This process's fork servers: none yet. Also run in a child made by os.fork (a process pool's
    worker): the parent's servers, lock and keeper thread are not the child's (the thread does not even
    exist there), and using them would hang."""
    global _KEEPER, _SERVERS, _FAILED, _LOCK
    _KEEPER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fork-server-keeper")
    _SERVERS, _FAILED, _LOCK = {}, {}, threading.Lock()


_fresh_state()
os.register_at_fork(after_in_child=_fresh_state)


def fork_server(with_package: bool, preload: tuple = (), data: tuple = ()) -> ForkServer | None:
    """This process's fork server for one kind of kernel, started on first use; None when forking is
    off or the server would not start (said once on stderr: kernels then start the usual way). Servers
    with other preloads or data (another assignment's spec) are kept: a worker may grade two at once."""
    if not enabled():
        return None
    key = (with_package, tuple(preload), tuple(data))
    with _LOCK:
        server = _SERVERS.get(key)
        if server is not None and server.alive():
            return server
        if with_package in _FAILED:
            return None
        try:
            server = _SERVERS[key] = ForkServer(with_package, key[1], key[2])
            return server
        except Exception as exc:  # noqa: BLE001
            _FAILED[with_package] = f"{type(exc).__name__}: {exc}"
            print(f"nnfs grade: kernels are started without the fork server ({_FAILED[with_package]})", file=sys.stderr)
            return None


def failed(with_package: bool, exc: BaseException) -> None:
    """A fork that went wrong: this kind of kernel starts the usual way from now on, said once."""
    with _LOCK:
        for key in [k for k in _SERVERS if k[0] == with_package]:
            _SERVERS.pop(key).close()
        if with_package not in _FAILED:
            _FAILED[with_package] = f"{type(exc).__name__}: {exc}"
            print(f"nnfs grade: kernels are started without the fork server ({_FAILED[with_package]})", file=sys.stderr)


class ForkedKernelManager(AsyncKernelManager):
    """jupyter_client's kernel manager, whose kernel process comes from a fork server."""

    def __init__(self, *args, server: ForkServer, root: Path, limits: dict, cgroups: list, **kwargs):
        super().__init__(*args, **kwargs)
        self._server, self._root, self._limits, self._cgroups = server, root, limits, cgroups

    async def _async_launch_kernel(self, kernel_cmd, **kw) -> None:
        provisioner = self.provisioner
        connection = json.loads(Path(self.connection_file).read_text())
        process = self._server.fork(self._root, connection, self._limits, self._cgroups)
        provisioner.process, provisioner.pid, provisioner.pgid = process, process.pid, None
        self._reconcile_connection_info(provisioner.connection_info)

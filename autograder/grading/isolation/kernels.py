"""Sandboxed kernels started ahead of need, each used for one notebook and then thrown away.

Starting a kernel (a sandbox, a Python process, IPython, the handshake) took about 0.9 s of mostly
idle waiting, twice per submission (nbgrader's run and the verification run): the largest share of
a small notebook's grading time. A worker therefore starts the next two kernels in a background
thread while it grades the current submission, and nbgrader's executor takes a started one instead
of starting its own. Every kernel still serves exactly one notebook in its own sandbox: nothing is
shared between students but the code that starts them. Kernels are forked by the worker's fork servers
where they can be (forkserver.py), else started anew (sandbox.py).
"""

from __future__ import annotations

import asyncio
import atexit
import shutil
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import astuple
from pathlib import Path

from nbgrader.preprocessors import Execute

from .sandbox import KERNEL_NAME, Limits, Sandbox
from ..judging.wire import ANSWER_MIME

WORKDIR = Path("/tmp/work")  # where a kernel finds itself inside its sandbox, whoever it serves


def _start(root: Path, limits: Limits, with_package: bool, preload: tuple = (), data: tuple = ()):
    from . import forkserver

    server = forkserver.fork_server(with_package, preload, data)
    if server is not None:
        try:
            return _start_kernel(server.kernel_root(), limits, with_package, server, data)
        except Exception as exc:  # noqa: BLE001  (the usual start below isolates the same, at more CPU)
            forkserver.failed(with_package, exc)
    return _start_kernel(root, limits, with_package, None, data)


def _start_kernel(root: Path, limits: Limits, with_package: bool, server, data: tuple = ()):
    """A kernel in a new sandbox in ``root``: forked by ``server`` (whose folder holds ``root``) or started anew."""
    from dataclasses import asdict

    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    from . import forkserver

    sandbox = Sandbox(root, WORKDIR, limits, with_package=with_package, data=data)
    options = dict(
        kernel_name=KERNEL_NAME,
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(root / "kernels")]),
        transport="ipc",
        ip=str(sandbox.sockets / "kernel"),
        # In the kernel's own folder, removed with it: jupyter_client's default (the temporary folder)
        # kept one file for every kernel that was not shut down politely.
        connection_file=str(root / "connection.json"),
    )
    if server is not None:
        km = forkserver.ForkedKernelManager(server=server, root=root, limits=asdict(limits), cgroups=sandbox.cgroups, **options)
    else:
        km = AsyncKernelManager(**options)

    async def start():
        await km.start_kernel()
        # The client too, and its wait for the kernel's first replies: a new client's IOPub subscription
        # often misses the first status messages and retries (0.3 s on average, up to 1.5 s, measured), an
        # idle wait that is better spent here, ahead of need, than in the grading run.
        kc = km.client()
        kc.start_channels()
        await kc.wait_for_ready(timeout=60)
        kc.allow_stdin = False
        return kc

    try:
        kc = asyncio.run(start())
    except BaseException:
        sandbox.close()
        raise
    return sandbox, (km, kc)


def start_now(root: Path, limits: Limits, with_package: bool, preload: tuple = (), data: tuple = ()):
    """(sandbox, (kernel manager, client)) started in the caller's thread, when no started-ahead kernel is ready.
    ``preload``: modules a fork server may import ahead, ``data``: data sets bound in (the assignment's spec)."""
    return _start(root, limits, with_package, preload, data)


class KernelsStartedAhead:
    """At most one started kernel per kind (with or without the grading package) and set of limits.
    Thread-safe: a worker takes its two kernels from two threads (nbgrader's run and verification)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="warm-kernel")  # both kinds at once
        self._ready: dict[tuple, Future] = {}
        self._base = Path(tempfile.mkdtemp(prefix="nnfs-warm-"))
        self._count = 0
        atexit.register(self.close)
        # Pool workers leave through multiprocessing, which runs its finalizers but not atexit.
        from multiprocessing import util

        util.Finalize(self, self.close, exitpriority=10)

    def _key(self, limits: Limits, with_package: bool, preload: tuple, data: tuple) -> tuple:
        return (astuple(limits), with_package, tuple(preload), tuple(data))

    def prepare(self, limits: Limits, with_package: bool, preload: tuple = (), data: tuple = ()) -> None:
        key = self._key(limits, with_package, preload, data)
        with self._lock:
            if key not in self._ready:
                self._count += 1
                self._ready[key] = self._pool.submit(_start, self._base / f"k{self._count}", limits, with_package, preload, data)

    def take(self, limits: Limits, with_package: bool, preload: tuple = (), data: tuple = ()):
        """(sandbox, (kernel manager, client)) with a running kernel, or None; the next one starts at once."""
        with self._lock:
            future = self._ready.pop(self._key(limits, with_package, preload, data), None)
        self.prepare(limits, with_package, preload, data)
        if future is None:
            return None
        try:
            sandbox, (km, kc) = future.result(timeout=60)
        except Exception:  # a kernel that would not start: the caller starts one the usual way
            return None
        if not km.has_kernel:
            sandbox.close()
            return None
        return sandbox, (km, kc)

    def close(self) -> None:
        self._pool.shutdown(wait=True)  # a kernel still starting finishes, and is then closed below
        for future in self._ready.values():
            try:
                sandbox, _ = future.result(timeout=60)
                sandbox.close()
            except Exception:
                pass
        self._ready.clear()
        shutil.rmtree(self._base, ignore_errors=True)


# What one notebook's run may send back, kept as it arrives (nbgrader's LimitOutput cuts by lines, after the
# run, and a 400 MB print had filled the worker's memory by then). The course's own notebooks, with their
# plots, make under 1 MB of output in all; a plot is about 50 kB. Past a bound the rest is dropped, once
# said in the cell. The hidden tests' answers (check inputs echoed back: a4's add up to about 9 MB) have a
# budget of their own, for the whole notebook.
OUTPUT_MAX_BYTES = 2 * 1024 * 1024  # one output (a print's stream, a plot)
CELL_MAX_BYTES = 4 * 1024 * 1024
NOTEBOOK_MAX_BYTES = 16 * 1024 * 1024
ANSWER_MAX_BYTES = 64 * 1024 * 1024
CUT_NOTE = "[output cut by the grader: {what}; the rest of this cell's output was dropped]\n"


def _shortened(msg: dict, limit: int = 64 * 1024) -> dict:
    """An error or result message with its text cut to ``limit`` characters per field (a copy)."""
    content = dict(msg["content"])
    if "traceback" in content:
        lines, kept, total = content["traceback"], [], 0
        for line in lines:
            if total + len(line) > limit:
                kept.append("[traceback cut by the grader]")
                break
            kept.append(line)
            total += len(line)
        content["traceback"] = kept
        content["evalue"] = str(content.get("evalue", ""))[:limit]
    if "data" in content:
        data = {}
        for key, value in content["data"].items():
            if not isinstance(value, str):
                value = value if len(str(value)) <= OUTPUT_MAX_BYTES else None
            elif len(value) > OUTPUT_MAX_BYTES:
                value = value[:limit] + "\n[cut by the grader]" if key.startswith("text/") else None
            if value is not None:
                data[key] = value
        content["data"] = data
    return {**msg, "content": content}


def _size(out) -> int:
    if out.get("output_type") == "stream":
        return len(out.get("text", ""))
    if out.get("output_type") == "error":
        return sum(len(line) for line in out.get("traceback", [])) + len(str(out.get("evalue", "")))
    return sum(len(v) if isinstance(v, str) else len(str(v)) for v in out.get("data", {}).values())


class SandboxedExecute(Execute):
    """nbgrader's executor, taking the kernel manager it is handed instead of starting a kernel.

    nbgrader makes its executor itself (from the config's class list), so for its run the manager is
    handed over on the class, by the one thread that runs nbgrader; an executor made directly (the
    verification run, in another thread) gets its own with ``SandboxedExecute(kernel=(km, kc), ...)``.
    """

    handed_over = None  # (kernel manager, client), set by the worker for nbgrader's next notebook; used once

    cut = threading.local()  # .cells: the cells whose output the last run in this thread cut

    def __init__(self, *args, kernel=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._given = kernel
        self._bytes = {"notebook": 0}  # kept so far, and per cell index
        self._cut_cells: set = set()
        SandboxedExecute.cut.cells = []

    def output(self, outs, msg, display_id, cell_index):
        """nbclient's output handler, with the bounds above: an output past them is dropped on arrival."""
        from nbformat.v4 import output_from_msg

        try:
            size = _size(output_from_msg(msg))
        except ValueError:
            size = 0
        if msg["msg_type"] in ("error", "execute_result"):
            # Never dropped: an error is what fails a test cell, and a test cell's result is its partial
            # credit (a cell with neither scores full marks). Only their length is bounded.
            return super().output(outs, _shortened(msg), display_id, cell_index)
        answer = msg["msg_type"] == "display_data" and ANSWER_MIME in msg["content"].get("data", {})
        if answer:
            fits = self._bytes.get("answers", 0) + size <= ANSWER_MAX_BYTES
            what = f"hidden tests' answers over {ANSWER_MAX_BYTES // 2**20} MB"
        else:
            cell = self._bytes.get(cell_index, 0)
            fits = size <= OUTPUT_MAX_BYTES and cell + size <= CELL_MAX_BYTES and self._bytes["notebook"] + size <= NOTEBOOK_MAX_BYTES
            what = f"over {OUTPUT_MAX_BYTES // 2**20} MB in one output, {CELL_MAX_BYTES // 2**20} MB in a cell or {NOTEBOOK_MAX_BYTES // 2**20} MB in the notebook"
        if not fits or (cell_index in self._cut_cells and not answer):
            from nbformat.v4 import new_output

            if cell_index not in self._cut_cells:
                self._cut_cells.add(cell_index)
                SandboxedExecute.cut.cells = sorted(self._cut_cells)
                outs.append(new_output("stream", name="stdout", text=CUT_NOTE.format(what=what)))
            stderr = msg["msg_type"] == "stream" and msg["content"].get("name") == "stderr"
            if stderr and not any(o.get("name") == "stderr" for o in outs):
                # What nbgrader would have seen stays: a test cell with output on stderr scores 0.
                outs.append(new_output("stream", name="stderr", text="[output on stderr cut by the grader]\n"))
            return None  # once cut, the cell keeps nothing more (a stream of small prints included)
        out = super().output(outs, msg, display_id, cell_index)
        if out is not None and answer:
            self._bytes["answers"] = self._bytes.get("answers", 0) + size
        elif out is not None:
            self._bytes[cell_index] = self._bytes.get(cell_index, 0) + size
            self._bytes["notebook"] += size
        return out

    def _update_display_id(self, display_id, msg):
        """update_display_data replaces an output's content in place: the same bound per output."""
        data = msg.get("content", {}).get("data", {})
        if sum(len(v) if isinstance(v, str) else len(str(v)) for v in data.values()) > OUTPUT_MAX_BYTES:
            return
        super()._update_display_id(display_id, msg)

    def create_kernel_manager(self):
        if self._given is not None:
            kernel, self._given = self._given, None
        else:
            kernel, SandboxedExecute.handed_over = SandboxedExecute.handed_over, None
        if kernel is None:
            raise RuntimeError("no sandboxed kernel was handed over: refusing to start an unsandboxed one")
        # nbclient starts a client only when it has none: this one is connected and ready.
        self.km, self.kc = kernel
        return self.km

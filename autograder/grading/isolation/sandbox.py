"""Run a student's Jupyter kernel in a sandbox: bubblewrap, resource limits and a process cap.

The kernel sees a minimal read-only system (/usr, /lib*, /etc's few files Python needs, the Python
installation and the virtual environment), a private /tmp, an empty scratch folder as its working
directory, its connection file and socket folder, and nothing else: not the course root, not
``source/``, not any gradebook, not other students. All namespaces are unshared (no network; the
kernel talks over IPC sockets in a bound folder). Limits: address space (a 50 GB allocation is a
MemoryError), CPU seconds, file size, and the number of processes (a pids cgroup where the OS lets
us make one, else RLIMIT_NPROC, which binds only non-root users).

Jupyter starts the kernel through a kernelspec whose argv is this module:
``python -m autograder.grading.isolation.sandbox SPEC.json {connection_file}``; it applies the limits to
itself and execs bwrap, so every process the student starts inherits them.
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import resource
import shutil
import subprocess
import sys
import sysconfig
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[2]  # autograder/
KERNEL_NAME = "nnfs-sandbox"


def remove_at_exit(folder: Path) -> None:
    """Delete a process's scratch folder when it exits, also when it is a pool worker: those leave
    through multiprocessing, which runs its own finalizers but not atexit (hundreds of folders piled up)."""
    from multiprocessing import util

    atexit.register(shutil.rmtree, folder, True)
    util.Finalize(None, shutil.rmtree, args=(folder, True), exitpriority=10)


def stop_process(proc) -> None:
    """Kill a helper process we started with pipes (a fork server, a feedback child), reap it, close its pipes."""
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for stream in (proc.stdin, proc.stdout):
        try:
            if stream is not None:
                stream.close()
        except OSError:
            pass


@dataclass
class Limits:
    """Every bound on one graded notebook, in one place (`nnfs grade`'s options override them per run)."""

    # nbgrader's per-cell timeout: None leaves the course's c.Execute.timeout (nbgrader_config.py) in force, as
    # plain nbgrader does; a number (`--cell-timeout`) overrides it for one run, and the run says so.
    cell_seconds: int | None = None
    notebook_seconds: int = 600  # wall clock for one whole autograde
    memory_mb: int = 4096  # address space per process
    cpu_seconds: int = 900  # CPU time per process
    processes: int = 128  # per sandbox
    file_mb: int = 256  # largest file a student may write
    # Everything a student can write lives in memory inside the sandbox, sized, and goes with it: /tmp
    # (which holds the working folder /tmp/work) and /dev/shm. With a memory cgroup these pages count in
    # memory_mb, the whole sandbox's budget; without one they come on top of it.
    tmp_mb: int = 512
    shm_mb: int = 64
    feedback_seconds: int = 60  # making one feedback page (feedback.py), in a child process of 2 GB


# Settings of nbgrader's executor the sandbox owns: it starts the kernel itself, over IPC sockets in its own
# folder, and kills it after the notebook. A course that sets one is told it is not used, not silently overridden.
SANDBOX_OWNS = {("Execute", "kernel_name"), ("Execute", "shutdown_kernel"), ("KernelManager", "transport"), ("KernelManager", "ip")}


def say_overrides(config, limits: Limits, log) -> None:
    """Say where a run does not do what the course's nbgrader_config.py says: a ``--cell-timeout`` other than
    its ``c.Execute.timeout``, and the executor settings the sandbox owns."""
    for section, name in sorted(SANDBOX_OWNS):
        if section in config and name in config[section]:
            log(f"note: nbgrader_config.py sets c.{section}.{name}; nnfs grade does not use it (the sandbox starts and "
                "owns each kernel); plain nbgrader autograde still does")
    course = config.Execute.get("timeout") if "Execute" in config else None
    if limits.cell_seconds is not None and course is not None and course != limits.cell_seconds:
        log(f"note: cells time out after {limits.cell_seconds} s in this run (--cell-timeout); nbgrader_config.py says {course} s")


@dataclass
class SandboxSpec:
    """Everything the kernel wrapper needs, written to a JSON file next to the kernelspec."""

    scratch: str  # bound read-write as the working directory
    sockets: str  # IPC socket folder, bound read-write at the same path
    workdir: str  # the path the kernel sees as its working directory
    limits: dict = field(default_factory=lambda: asdict(Limits()))
    readonly: list = field(default_factory=list)  # extra read-only binds (same path inside)
    cgroups: list = field(default_factory=list)  # cgroup folders to join (pids, memory)
    matplotlib: str | None = None  # its files are bound read-only into matplotlib's config folder (the font cache)
    isolation: str = "bwrap"  # "bwrap" or "none"
    env: dict = field(default_factory=dict)


# glibc's allocator, for a kernel that trains on arrays of a few to a few tens of MB. By default glibc hands
# a freed block above its (dynamic, at most 32 MB) mmap threshold back to the OS, and trims the heap's free
# top beyond twice that, so a training loop that allocates and frees the same temporaries every step faults
# every page of them in again, zeroed by the kernel: Ada's a5 notebook took 453,000 minor faults and 4.4 s
# of system time for 23-35 s of its own work (the same with these settings: 32,000 and 0.3-0.7 s; its user
# time unchanged). With blocks up to 256 MB kept in the heap and up to 1 GB of free heap kept, a step reuses
# the last step's pages. The memory a kernel holds is its peak either way (capped by Limits.memory_mb); the
# variables are glibc's documented tunables (ignored elsewhere) and are read when a process starts, so a
# fork server passes them on to every kernel it forks. Reported by benchmarks/bench_grading.py.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(256 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}


def course_environment(data: tuple = ()) -> tuple[dict, list]:
    """(environment, read-only binds) a graded kernel gets, for an assignment that reads ``data`` (its spec's).

    One BLAS thread: a worker grades one notebook per core, and a multithreaded BLAS whose threads wait
    for each other on a busy machine is 10-100x slower on small products. The allocator settings above. Quick mode, and each prepared data
    folder the assignment declares (read-only; public data, not a secret): only that assignment's.
    """
    from ...data import DATASETS, MnistError

    env = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NNFS_QUICK": "1", **MALLOC_ENV}
    binds = []
    for name in data:
        try:
            folder = DATASETS[name].folder()
        except MnistError:
            continue  # not prepared: the notebook's data cell says so when it runs
        if folder.is_dir():
            env.update(DATASETS[name].environment(folder))
            binds.append(str(folder))
    return env, binds


# ------------------------------------------------------------------------------------- probing


@dataclass
class Support:
    bwrap: bool
    pids_cgroup: str | None  # the parent folder under which per-sandbox cgroups are made
    warnings: list
    memory_cgroup: str | None = None  # the same for memory cgroups (the whole sandbox's memory, tmpfs included)


_SUPPORT: Support | None = None


def _pids_cgroup_root() -> str | None:
    """A folder where we may create pids cgroups (cgroup v1's pids hierarchy, or v2 with pids), or None."""
    candidates = []
    if Path("/sys/fs/cgroup/pids/cgroup.procs").exists():
        candidates.append(Path("/sys/fs/cgroup/pids"))
    controllers = Path("/sys/fs/cgroup/cgroup.controllers")
    if controllers.exists() and "pids" in controllers.read_text().split():
        candidates.append(Path("/sys/fs/cgroup"))
    return _first_usable([(base, "pids.max", 8) for base in candidates])


def _memory_cgroup_root() -> str | None:
    """A folder where we may create memory cgroups with a limit (cgroup v1's memory hierarchy, or v2 with
    the memory controller enabled for children), or None."""
    candidates = []
    if Path("/sys/fs/cgroup/memory/cgroup.procs").exists():
        candidates.append((Path("/sys/fs/cgroup/memory"), "memory.limit_in_bytes"))
    subtree = Path("/sys/fs/cgroup/cgroup.subtree_control")
    if subtree.exists() and "memory" in subtree.read_text().split():
        candidates.append((Path("/sys/fs/cgroup"), "memory.max"))
    return _first_usable([(base, limit_file, 64 * 1024 * 1024) for base, limit_file in candidates])


def _first_usable(candidates: list) -> str | None:
    """The first (folder, limit file, limit) where a probe cgroup can be made and limited, or None."""
    for base, limit_file, limit in candidates:
        probe = _make_cgroup(str(base), f"nnfs-probe-{os.getpid()}", limit_file, limit)
        if probe is not None:
            try:
                os.rmdir(probe)
            except OSError:
                pass
            return str(base)
    return None


def _memory_limit_file(base: str) -> str:
    return "memory.limit_in_bytes" if Path(base, "memory.limit_in_bytes").exists() or base.endswith("/memory") else "memory.max"


def support() -> Support:
    """What isolation this machine offers, probed once per process."""
    global _SUPPORT
    if _SUPPORT is None:
        warnings = []
        bwrap = shutil.which("bwrap") is not None
        if bwrap:
            try:
                done = subprocess.run(
                    ["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"],
                    capture_output=True,
                    timeout=20,
                )
                bwrap = done.returncode == 0
                if not bwrap:
                    warnings.append(f"bubblewrap cannot create namespaces here ({done.stderr.decode().strip()})")
            except (OSError, subprocess.TimeoutExpired) as exc:
                bwrap = False
                warnings.append(f"bubblewrap failed to start ({exc})")
        else:
            warnings.append("bubblewrap (bwrap) is not installed: apt-get install bubblewrap")
        if not bwrap:
            warnings.append(
                "students' code will run WITHOUT a sandbox: it can read and write anything this user can "
                "(other submissions, source/, the gradebook) and reach the network. Resource limits still apply."
            )
        cgroup = _pids_cgroup_root()
        if cgroup is None:
            if os.geteuid() == 0:
                warnings.append("no writable pids cgroup and running as root: the process cap is not enforced")
        _SUPPORT = Support(bwrap, cgroup, warnings, _memory_cgroup_root())
    return _SUPPORT


# ------------------------------------------------------------------------------ the kernel side


def _system_binds() -> list[str]:
    paths = ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"]
    paths += ["/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/fonts", "/etc/localtime", "/etc/passwd", "/etc/group"]
    # The Python that runs the kernel: its installation and the virtual environment.
    paths += [sys.base_prefix, sys.prefix, sysconfig.get_paths()["purelib"]]
    return list(dict.fromkeys(paths))


def _bwrap_view(readonly: list, env: dict) -> list[str]:
    """bwrap's options for the system view and environment every sandbox shares (after /proc, /dev, /tmp)."""
    argv = []
    for path in _system_binds() + list(readonly):
        argv += ["--ro-bind-try", path, path]
    argv += ["--unsetenv", "JPY_PARENT_PID", "--setenv", "HOME", "/tmp", "--setenv", "MPLCONFIGDIR", "/tmp"]
    argv += ["--setenv", "MPLBACKEND", "Agg"]
    for key, value in env.items():
        argv += ["--setenv", key, value]
    return argv


def bwrap_argv(spec: SandboxSpec, connection_file: str) -> list[str]:
    mb = 1024 * 1024
    argv = ["bwrap", "--die-with-parent", "--unshare-all", "--new-session"]
    # The private /tmp first: the binds below may live under the host's /tmp (a course checked out
    # there, a worker's scratch folders) and must stay visible on top of it. /tmp and /dev/shm are sized
    # (Limits.tmp_mb, shm_mb); the working folder is a folder of /tmp, so nothing a student writes
    # reaches the host's disk.
    argv += ["--proc", "/proc", "--dev", "/dev", "--size", str(spec.limits["shm_mb"] * mb), "--tmpfs", "/dev/shm"]
    argv += ["--size", str(spec.limits["tmp_mb"] * mb), "--tmpfs", "/tmp"]
    argv += _bwrap_view(spec.readonly, spec.env)
    argv += ["--bind", spec.sockets, spec.sockets]
    argv += ["--ro-bind", connection_file, connection_file]
    argv += ["--dir", spec.workdir, "--chdir", spec.workdir]
    if spec.matplotlib:
        # The font cache files read-only in a folder of the sized /tmp: matplotlib needs the folder
        # writable (else it warns on stderr, which zeroes a test cell), never the cache itself.
        argv += ["--dir", MATPLOTLIB_DIR, "--setenv", "MPLCONFIGDIR", MATPLOTLIB_DIR]
        for cache in sorted(Path(spec.matplotlib).iterdir()):
            argv += ["--ro-bind", str(cache), f"{MATPLOTLIB_DIR}/{cache.name}"]
    # bwrap builds the view on a tmpfs; make it and /dev read-only so the only writable places are the
    # sized /tmp and /dev/shm and the socket folder (a write to '../../../gradebook.db' gets EROFS).
    argv += ["--remount-ro", "/", "--remount-ro", "/dev"]
    return argv


def fork_server_bwrap_argv(base: str, readonly: list, env: dict) -> list[str]:
    """bwrap's options for a fork server (forkserver.py): the kernels' view, less what is each kernel's own.

    The host's /proc is bound rather than a new one mounted: each forked kernel mounts its own /proc for
    its own PID namespace before any student code runs, which the kernel allows only where a full /proc
    is visible (bwrap's --proc covers parts of it). The server runs only our code. ``base`` holds the
    kernels' folders; each kernel hides it and binds back only its own."""
    argv = ["bwrap", "--die-with-parent", "--unshare-all", "--new-session"]
    # A writable /dev/shm as a kernel has: libraries probe it when imported (joblib makes a semaphore there
    # and, failing, decides multiprocessing is unavailable). Each kernel mounts its own over it.
    argv += ["--bind", "/proc", "/proc", "--dev", "/dev", "--tmpfs", "/dev/shm", "--tmpfs", "/tmp"]
    argv += _bwrap_view(readonly, env) + ["--setenv", "MPLCONFIGDIR", MATPLOTLIB_DIR]
    argv += ["--bind", base, base, "--chdir", "/"]
    argv += ["--remount-ro", "/", "--remount-ro", "/dev"]
    return argv


MATPLOTLIB_DIR = "/tmp/matplotlib"  # inside the sandbox
_FONT_CACHE: list | None = None  # this process's prebuilt matplotlib font cache files, made on first use
_FONT_CACHE_LOCK = threading.Lock()


def matplotlib_font_cache() -> list[Path]:
    """matplotlib's font cache, built once per grading process and copied into every sandbox.

    A sandbox's /tmp starts empty, so each kernel's first pyplot import rebuilt the cache (running
    fc-list, reading every system font): about 0.25 s of CPU, in both of a submission's kernels. The
    cache names fonts by path, and the sandbox sees /usr and the Python installation at the same paths.
    Nothing here is secret or shared back: each sandbox gets its own copy. [] when it cannot be built."""
    global _FONT_CACHE
    with _FONT_CACHE_LOCK:  # a worker starts its two kernels from two threads
        if _FONT_CACHE is None:
            _FONT_CACHE = _build_font_cache()
    return _FONT_CACHE


def _build_font_cache() -> list[Path]:
    import tempfile


    folder = Path(tempfile.mkdtemp(prefix="nnfs-matplotlib-"))
    remove_at_exit(folder)
    env = {**os.environ, "MPLCONFIGDIR": str(folder), "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1"}
    try:
        subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], env=env, capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        pass
    return sorted(folder.glob("fontlist-*.json"))


def _apply_limits(limits: dict) -> None:
    # forkserver_main._limits sets the same for forked kernels (it runs where this module is not importable);
    # tests/test_forked_kernels.py compares every limit of both kinds of kernel.
    mb = 1024 * 1024
    for name, value in (
        ("RLIMIT_AS", limits["memory_mb"] * mb),
        ("RLIMIT_CPU", limits["cpu_seconds"]),
        ("RLIMIT_FSIZE", limits["file_mb"] * mb),
        ("RLIMIT_NPROC", limits["processes"]),
        ("RLIMIT_CORE", 0),
    ):
        resource.setrlimit(getattr(resource, name), (value, value))


# ipykernel_launcher, without the debugger: ipykernel imports debugpy whenever it is installed, about
# 0.1 s of CPU in each of a submission's two kernels (a tenth of its grading), for a feature grading never uses.
KERNEL_BOOT = (
    "import sys; sys.modules['debugpy'] = None; sys.path[0] == '' and sys.path.pop(0); "
    "from ipykernel.kernelapp import launch_new_instance; launch_new_instance()"
)


def kernel_main(spec_path: str, connection_file: str) -> None:
    """The kernelspec's entry point: limits on this process, then exec the sandboxed kernel."""
    spec = SandboxSpec(**json.loads(Path(spec_path).read_text()))
    # The kernel's own chatter (banners, crashes) goes to a log beside the spec, not the grader's terminal.
    log = os.open(str(Path(spec_path).with_name("kernel.log")), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    for cgroup in spec.cgroups:
        Path(cgroup, "cgroup.procs").write_text(str(os.getpid()))  # children inherit the cgroup
    _apply_limits(spec.limits)
    kernel = [sys.executable, "-c", KERNEL_BOOT, "-f", connection_file, "--HistoryManager.hist_file=:memory:"]
    # Import numpy while the kernel starts (a started-ahead kernel does this before any student needs
    # it); the name is deleted at once, so the student's namespace is as usual.
    kernel += ["--IPKernelApp.exec_lines=['import numpy as _nnfs_numpy', 'del _nnfs_numpy']"]
    if spec.isolation == "bwrap":
        os.execvp("bwrap", bwrap_argv(spec, connection_file) + kernel)
    os.chdir(spec.workdir)
    for key, value in spec.env.items():
        os.environ[key] = value
    os.execv(sys.executable, kernel)


# ----------------------------------------------------------------------------- the grader side


_CGROUP_NUMBERS = itertools.count(1)


class Sandbox:
    """One sandbox for one submission: a kernelspec, a scratch folder, a socket folder and a cgroup."""

    def __init__(self, root: Path, workdir: Path, limits: Limits, with_package: bool, env: dict | None = None, data: tuple = ()):
        self.root = root
        self.limits = limits
        sup = support()
        self.isolation = "bwrap" if sup.bwrap else "none"
        self.scratch = root / "scratch"
        self.sockets = root / "sockets"
        for folder in (self.scratch, self.sockets, root / "kernels" / KERNEL_NAME):
            folder.mkdir(parents=True, exist_ok=True)
        # Named by process and a counter, not by folder: two sandboxes must never share one.
        name = f"nnfs-{os.getpid()}-{next(_CGROUP_NUMBERS)}"
        self.cgroup = _make_cgroup(sup.pids_cgroup, name, "pids.max", limits.processes)
        # The whole sandbox's memory, its tmpfs pages and anything it writes into the socket folder included.
        memory_file = _memory_limit_file(sup.memory_cgroup) if sup.memory_cgroup else ""
        self.memory_cgroup = _make_cgroup(sup.memory_cgroup, name, memory_file, limits.memory_mb * 1024 * 1024)
        if self.memory_cgroup and memory_file == "memory.limit_in_bytes":
            _write_quietly(Path(self.memory_cgroup, "memory.swappiness"), "0")
        self.cgroups = [c for c in (self.cgroup, self.memory_cgroup) if c]
        matplotlib = None
        if self.isolation == "bwrap":
            matplotlib = root / "matplotlib"
            matplotlib.mkdir(exist_ok=True)
            for cache in matplotlib_font_cache():
                shutil.copyfile(cache, matplotlib / cache.name)
        base_env, data_binds = course_environment(data)
        readonly = ([str(PACKAGE_DIR)] if with_package else []) + data_binds
        spec = SandboxSpec(
            scratch=str(self.scratch),
            sockets=str(self.sockets),
            workdir=str(workdir) if self.isolation == "bwrap" else str(self.scratch),
            limits=asdict(limits),
            readonly=readonly,
            cgroups=self.cgroups,
            matplotlib=str(matplotlib) if matplotlib else None,
            isolation=self.isolation,
            env={**base_env, **(env or {})},
        )
        spec_path = root / "sandbox.json"
        spec_path.write_text(json.dumps(asdict(spec)))
        kernelspec = {
            "argv": [sys.executable, "-m", "autograder.grading.isolation.sandbox", str(spec_path), "{connection_file}"],
            "display_name": "Python 3 (nnfs sandbox)",
            "language": "python",
            # SIGINT does not cross into bwrap's session: interrupts travel as control messages.
            "interrupt_mode": "message",
        }
        (root / "kernels" / KERNEL_NAME / "kernel.json").write_text(json.dumps(kernelspec))

    def configure(self, config) -> None:
        """nbgrader's executor settings for this sandbox (its kernel is handed over already started)."""
        config.Execute.kernel_name = KERNEL_NAME
        if self.limits.cell_seconds is not None:  # else the course's own setting (say_overrides)
            config.Execute.timeout = self.limits.cell_seconds
        # The kernel serves one notebook and its sandbox is killed right after: no graceful goodbye.
        config.Execute.shutdown_kernel = "immediate"
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = str(self.sockets / "kernel")

    def kill_all(self) -> None:
        """Kill every process left in this sandbox's cgroup (a kernel that outlived its notebook)."""
        if not self.cgroups:
            return
        for _ in range(5):
            try:
                pids = [int(p) for p in Path(self.cgroups[0], "cgroup.procs").read_text().split()]
            except OSError:
                return
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, 9)
                except OSError:
                    pass

    def close(self) -> None:
        """Kill what is left, remove the cgroups and this sandbox's folder: whatever the student's processes
        wrote that the host can see is freed now, not when the worker exits."""
        self.kill_all()
        shutil.rmtree(self.root, ignore_errors=True)
        for cgroup in self.cgroups:
            for _ in range(50):
                try:
                    os.rmdir(cgroup)
                    break
                except OSError:
                    import time

                    time.sleep(0.05)
                    self.kill_all()

    def oom_killed(self) -> bool:
        """Whether the memory cgroup killed a process of this sandbox for going over memory_mb."""
        if not self.memory_cgroup:
            return False
        for name, key in (("memory.oom_control", "oom_kill"), ("memory.events", "oom_kill")):
            try:
                for line in Path(self.memory_cgroup, name).read_text().splitlines():
                    field_name, _, value = line.partition(" ")
                    if field_name == key and int(value or 0) > 0:
                        return True
            except (OSError, ValueError):
                continue
        return False


def _write_quietly(path: Path, text: str) -> None:
    try:
        path.write_text(text)
    except OSError:
        pass


def _make_cgroup(base: str | None, name: str, limit_file: str, limit: int) -> str | None:
    """A new cgroup under ``base`` with ``limit`` written to ``limit_file``, or None where we may not."""
    if not base:
        return None
    cgroup = Path(base) / name
    try:
        cgroup.mkdir()
        (cgroup / limit_file).write_text(str(limit))
        return str(cgroup)
    except OSError:
        try:
            cgroup.rmdir()
        except OSError:
            pass
        return None


if __name__ == "__main__":
    kernel_main(sys.argv[1], sys.argv[2])

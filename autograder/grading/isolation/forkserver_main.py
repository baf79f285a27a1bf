"""The fork server that runs inside a worker's sandbox (see forkserver.py), as a standalone script.

Run as ``python -c <this file's text> MODULES`` by bubblewrap, so that it works without the grading
package on the path (the verification kernels must not see it). It imports what every kernel imports
and the assignment's MODULES (comma-separated: the assignment spec's ``preload``), then serves requests on stdin, one JSON object per line, replying on stdout:

    {"root": FOLDER, "connection": {...}, "limits": {...}}  ->  {"pid": PID of the new kernel's process}
    {"go": PID, "ok": true|false}                           ->  (the process goes on, or is killed)

Between the two, the grader puts the new process in its pids cgroup. The process then leaves this
sandbox's namespaces for new ones of its own (user, mount, PID, network, IPC, UTS), mounts a private
/tmp (holding its working folder) and /dev/shm, both sized, /dev/pts and /proc and binds only its own kernel
folder's socket folder (and copies its font cache), drops every capability, applies the resource limits and becomes the kernel.
Nothing of another kernel is visible or reachable from it: not its files, processes, sockets or IPC.
"""

import ctypes
import json
import os
import signal
import sys
import time

sys.modules["debugpy"] = None  # ipykernel's debugger: never used for grading, and 0.1 s of CPU
if sys.path and sys.path[0] == "":
    sys.path.pop(0)  # as ipykernel's launcher does; the kernel's sys.path is as usual

import numpy  # noqa: E402,F401  (what every kernel imports; the point of forking)
from ipykernel.kernelapp import launch_new_instance  # noqa: E402


def _address_space() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _preload(names: list) -> int:
    """Import what this assignment's kernels will import (argv[1], the assignment spec's ``preload``); the
    address space that took, which each kernel's memory limit allows on top (it is not the student's)."""
    import importlib

    before = _address_space()
    for name in names:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001  (not installed, say: the student's import will say so)
            pass
    return max(0, _address_space() - before)


PRELOADED = _preload([n for n in (sys.argv[1] if len(sys.argv) > 1 else "").split(",") if n])

_LIBC = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 8, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 24, 38
WORKDIR, MATPLOTLIB_DIR = "/tmp/work", "/tmp/matplotlib"


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source, target: str, fstype, flags: int, data=None) -> None:
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    _check(_LIBC.mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def _drop_capabilities() -> None:
    """No capability now or after any exec (empty bounding set), and no way to gain one (no_new_privs)."""
    for cap in range(64):
        _LIBC.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # EINVAL past the last capability this kernel knows

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    _check(_LIBC.capset(ctypes.byref(Header(0x20080522, 0)), (Data * 2)()), "capset")
    _check(_LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def _read_only_binds_under_tmp(base: str) -> list:
    """The server's read-only binds that live under /tmp (a checkout, its virtual environment or the data
    folder there): a fresh /tmp would hide them. Outermost first; a bind inside another comes with it."""
    found = []
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            point = line.split()[4]
            for escaped, char in ((r"\040", " "), (r"\011", "\t"), (r"\012", "\n"), (r"\134", "\\")):
                point = point.replace(escaped, char)  # mountinfo's four escapes (no codec import: see the tests)
            if point.startswith("/tmp/") and point != base and not point.startswith(base + "/"):
                found.append(point)
    outermost = []
    for point in sorted(set(found), key=len):
        if not any(point.startswith(kept + "/") for kept in outermost):
            outermost.append(point)
    return outermost


def _private_view(root: str, limits: dict) -> None:
    """This process's own mounts: fresh, sized /tmp (holding the working folder) and /dev/shm, /dev/pts
    and /proc; the kernel folder's socket folder and font cache bound (the cache read-only)."""
    folders = {name: os.open(os.path.join(root, name), os.O_PATH | os.O_DIRECTORY) for name in ("sockets", "matplotlib")}
    caches = sorted(os.listdir(os.path.join(root, "matplotlib")))
    sockets = os.path.join(root, "sockets")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    kept = [(point, os.open(point, os.O_PATH)) for point in _read_only_binds_under_tmp(os.path.dirname(root))]
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777,size={int(limits['tmp_mb'])}m")
    for point, fd in kept:  # back on top of the fresh /tmp, read-only as they were (a bind keeps its flags)
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            os.makedirs(point, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(point), exist_ok=True)
            open(point, "a").close()
        _mount(f"/proc/self/fd/{fd}", point, None, MS_BIND | MS_REC)
        os.close(fd)
    # The kernel folders' parent (wherever it is) is hidden under an empty tmpfs; only this kernel's
    # socket folder is bound back, at its own path (the connection file names it).
    parent = os.path.dirname(os.path.dirname(sockets))
    os.makedirs(parent, exist_ok=True)
    _mount("tmpfs", parent, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755")
    os.makedirs(sockets, exist_ok=True)
    _mount(f"/proc/self/fd/{folders['sockets']}", sockets, None, MS_BIND | MS_REC)
    os.close(folders["sockets"])
    os.makedirs(WORKDIR, exist_ok=True)  # in the sized /tmp: nothing a student writes reaches the host
    # The font cache copied into the sized /tmp: the kernel's own copy, not a window onto the host.
    os.makedirs(MATPLOTLIB_DIR, exist_ok=True)
    for name in caches:
        source = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=folders["matplotlib"])
        with os.fdopen(source, "rb") as src, open(os.path.join(MATPLOTLIB_DIR, name), "wb") as dst:
            dst.write(src.read())
    os.close(folders["matplotlib"])
    _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777,size={int(limits['shm_mb'])}m")
    _mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620")
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)


def _limits(limits: dict) -> None:
    # sandbox._apply_limits for kernels started anew, plus PRELOADED; tests/test_forked_kernels.py compares them.
    import resource

    mb = 1024 * 1024
    for name, value in (
        ("RLIMIT_AS", limits["memory_mb"] * mb + PRELOADED),
        ("RLIMIT_CPU", limits["cpu_seconds"]),
        ("RLIMIT_FSIZE", limits["file_mb"] * mb),
        ("RLIMIT_NPROC", limits["processes"]),
        ("RLIMIT_CORE", 0),
    ):
        resource.setrlimit(getattr(resource, name), (value, value))


def _kernel(request: dict, log: int) -> None:
    """pid 1's child: the student's kernel, in its own session, working folder and limits."""
    os.setsid()
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.closerange(3, 65536)
    os.chdir(WORKDIR)
    os.environ.update(HOME="/tmp", PWD=WORKDIR)
    os.environ.pop("JPY_PARENT_PID", None)
    connection_file = "/tmp/kernel.json"
    with open(connection_file, "w") as out:
        json.dump(request["connection"], out)
    _limits(request["limits"])
    if "numpy.random" in sys.modules:  # seeded once, in this server, if it was imported there: reseed
        sys.modules["numpy.random"].seed()
    sys.argv = ["-c", "-f", connection_file, "--HistoryManager.hist_file=:memory:"]
    launch_new_instance(argv=sys.argv[1:])


def _child(request: dict, go: int) -> None:
    """The forked process: wait for the grader, then namespaces, mounts, no capabilities, the kernel."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # as in any Python process (the server ignores it)
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.read(go, 1) != b"1":  # the grader could not put it in its cgroup
        os._exit(70)
    os.close(go)
    log = os.open(os.path.join(request["root"], "kernel.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(os.open("/dev/null", os.O_RDONLY), 0)  # the server's pipes to the grader are not this process's
    os.dup2(log, 1)
    os.dup2(log, 2)
    uid, gid = os.geteuid(), os.getegid()
    _check(_LIBC.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS), "unshare")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"0 {uid} 1")
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"0 {gid} 1")
    init = os.fork()
    if init:  # this process stays outside the new PID namespace and ends with it
        _, status = os.waitpid(init, 0)
        os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
    # pid 1 of the new namespace: when it ends, the kernel and everything the student started end too.
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    _private_view(request["root"], request["limits"])
    _drop_capabilities()
    kernel = os.fork()
    if kernel == 0:
        try:
            _kernel(request, log)
        finally:
            os._exit(1)
    os.closerange(0, 65536)
    while True:  # reap orphans (a student's subprocesses) until the kernel itself ends
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(1)
        if pid == kernel:
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def _reply(message: dict) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def serve() -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # forked processes are reaped by the system
    waiting = {}  # pid -> the write end of its go pipe
    import threading

    # Forking copies only the calling thread: a lock another thread held would stay held in every kernel.
    _reply({"ready": os.getpid(), "threads": threading.active_count()})
    for line in sys.stdin:
        request = json.loads(line)
        if "go" in request:
            go = waiting.pop(request["go"], None)
            if go is not None:
                try:
                    os.write(go, b"1" if request.get("ok") else b"0")
                except OSError:
                    pass
                os.close(go)
            continue
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(write_end)
                for fd in waiting.values():
                    os.close(fd)
                sys.stdin.close()
                os.closerange(3, read_end)
                os.closerange(read_end + 1, 65536)
                _child(request, read_end)
            except BaseException as exc:  # noqa: BLE001  (a child must never return into the server loop)
                try:
                    os.write(2, f"kernel set-up failed: {type(exc).__name__}: {exc}\n".encode())
                finally:
                    os._exit(71)
            os._exit(72)
        os.close(read_end)
        waiting[pid] = write_end
        _reply({"pid": pid})


if __name__ == "__main__":
    serve()

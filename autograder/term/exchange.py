"""``nnfs exchange init``: nbgrader's exchange folder, made so that formgrader and students' nbgrader find it.

nbgrader's exchange (``release_assignment``, ``fetch_assignment``, ``submit``, ``collect``) is one folder,
``Exchange.root``: nbgrader's default is ``/usr/local/share/nbgrader/exchange``, and its docs say it "must
exist before running nbgrader" and be "readable and writable by all users" (managing_assignment_files;
``chmod ugo+rw`` in advanced.rst). ``release_assignment`` makes it 0777 when it can; we add the sticky bit
(1777, as /tmp): everyone may create their entries in it, and nobody may delete or rename another's. Below
it nbgrader's ``release_assignment`` makes ``<course>/outbound`` 0755 and ``<course>/inbound`` 2733 itself
(others may write and search, not read: a student can put a submission in but not list anyone's, and a
submission's name ends in a random string, so it cannot be guessed either). Without the sticky bit on
inbound, a student who did learn another's entry name could rename or delete it; nbgrader never resets the
mode of a folder that exists, so ``init`` run by the instructor after the first release adds the sticky bit
there too (3733).

Students run nbgrader from their own folders: it reads ``nbgrader_config.py`` from Jupyter's config path
(``jupyter --paths``: the environment's, ``~/.jupyter``, ``/usr/local/etc/jupyter``, ``/etc/jupyter``) and
their working folder, never the course's. So a root set only in the course's ``nbgrader_config.py`` would
part the instructor from the students; ``init`` refuses that. With ``--root`` it writes the root into a
config folder on that path (``/etc/jupyter`` by default: every user reads it), in a block of its own that a
second run replaces, then checks, as nbgrader loads config, that both sides now see the same folder.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import sys
import tempfile
from pathlib import Path

from ..files import atomic_write

ROOT_MODE = 0o1777  # world-writable (nbgrader's 0777) with the sticky bit
SYSTEM_CONFIG_DIR = "/etc/jupyter"
BLOCK_START = "# --- nnfs exchange init: the exchange, for instructors and students alike (a second run replaces this) ---"
BLOCK_END = "# --- end nnfs exchange init ---"


class ExchangeProblem(SystemExit):
    pass


def nbgrader_config(cwd: Path | None):
    """The config nbgrader's own apps load when run in ``cwd`` (formgrader: the course root), or from
    Jupyter's config path alone (``cwd`` None: a student's view, whose folder has no nbgrader_config.py)."""
    from nbgrader.apps.baseapp import NbGrader

    app = NbGrader()
    app.log.setLevel(logging.ERROR)  # "No nbgrader_config.py file found" is a normal student's case
    app.load_cwd_config = cwd is not None
    with tempfile.TemporaryDirectory(prefix="nnfs-student-") as empty, _working_folder(cwd or Path(empty)):
        app.load_config_file()
    return app.config


@contextlib.contextmanager
def _working_folder(folder: Path):
    """nbgrader reads the working folder's config from os.getcwd() (contextlib.chdir is Python 3.11+)."""
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def root_in(config) -> Path:
    from nbgrader.exchange.default.exchange import Exchange

    return Path(Exchange(config=config).root)


def exchange_missing(course_root: Path) -> bool:
    """formgrader's warning, worked out as formgrader does (NbGraderAPI lists the exchange; an ExchangeError
    means "The exchange directory ... does not exist and could not be created")."""
    from nbgrader.apps import NbGraderAPI

    return bool(NbGraderAPI(config=nbgrader_config(course_root)).exchange_missing)


def write_config_block(config_dir: Path, root: Path) -> Path:
    """``c.Exchange.root = root`` in config_dir/nbgrader_config.py, replacing an earlier block; other lines kept."""
    path = config_dir / "nbgrader_config.py"
    block = f"{BLOCK_START}\nget_config().Exchange.root = {str(root)!r}\n{BLOCK_END}\n"
    if path.is_file():
        text = path.read_text()
        start, end = text.find(BLOCK_START), text.find(BLOCK_END)
        if start >= 0 and end > start:
            text = text[:start] + block + text[end + len(BLOCK_END):].lstrip("\n")
        else:
            text = text.rstrip("\n") + ("\n\n" if text.strip() else "") + block
        mode = stat.S_IMODE(path.stat().st_mode)
    else:
        text, mode = "c = get_config()  # noqa: F821\n\n" + block, 0o644  # every user must be able to read it
    config_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(path, text)
    os.chmod(path, mode | 0o444)
    return path


def make_root(root: Path) -> str:
    """The folder, made or put right (mode 1777); what was done, for the instructor."""
    try:
        if not root.is_dir():
            root.mkdir(parents=True)
            os.chmod(root, ROOT_MODE)
            return f"made {root} (mode 1777: everyone may add entries; only an entry's owner may remove or rename it)"
        mode = stat.S_IMODE(root.stat().st_mode)
        if mode == ROOT_MODE:
            return f"{root} is ready (mode 1777)"
        os.chmod(root, ROOT_MODE)
        return f"{root}: mode {mode:o} -> 1777"
    except PermissionError:
        raise ExchangeProblem(f"cannot make {root} world-writable (permission denied): run this command as root "
                              f"(sudo {Path(sys.executable).parent / 'nnfs'} exchange init ...), or choose a folder "
                              "you may create with --root PATH") from None
    except OSError as exc:
        raise ExchangeProblem(f"cannot make {root}: {exc.strerror}; choose another folder with --root PATH") from None


def _sticky_inbound(inbound: Path) -> list[str]:
    """The sticky bit on the course's inbound folder, once release_assignment has made it (as its owner)."""
    if not inbound.is_dir():
        return []
    mode = stat.S_IMODE(inbound.stat().st_mode)
    if mode & stat.S_ISVTX:
        return [f"{inbound} is ready (mode {mode:o})"]
    if os.geteuid() not in (0, inbound.stat().st_uid):
        return [f"{inbound}: mode {mode:o}; run nnfs exchange init as its owner (the instructor) to add the sticky bit"]
    os.chmod(inbound, mode | stat.S_ISVTX)
    return [f"{inbound}: mode {mode:o} -> {mode | stat.S_ISVTX:o} (the sticky bit: a student cannot rename or delete another's submission)"]


def init(course, root: str | None = None, config_dir: str | None = None) -> list[str]:
    """Make the exchange; return what was done, line by line. Raises ExchangeProblem with what to do."""
    lines = []
    if root is not None:
        root_path = Path(root).expanduser().absolute()
        folder = Path(config_dir or SYSTEM_CONFIG_DIR).expanduser().absolute()
        from jupyter_core.paths import jupyter_config_path

        read_by_nbgrader = {Path(p).absolute() for p in jupyter_config_path()}
        if folder not in read_by_nbgrader:
            raise ExchangeProblem(f"nbgrader does not read config from {folder}; choose one of: "
                                  + ", ".join(str(p) for p in jupyter_config_path()))
        try:
            lines.append(f"{write_config_block(folder, root_path)}: Exchange.root = {root_path}")
        except PermissionError:
            raise ExchangeProblem(f"cannot write {folder / 'nbgrader_config.py'} (permission denied): run this command as root, "
                                  "or give --config-dir ~/.jupyter on a machine where you are the only user") from None
    students, instructor = root_in(nbgrader_config(None)), root_in(nbgrader_config(course.root))
    if root is not None and students != root_path:
        raise ExchangeProblem(f"students' nbgrader still sees the exchange at {students}: a config folder that "
                              f"takes precedence over {folder} sets it (jupyter --paths lists them, first wins); set it there, or remove it")
    if students != instructor:
        raise ExchangeProblem(f"the course's nbgrader_config.py puts the exchange at {instructor}, but students' nbgrader does "
                              f"not read that file and uses {students}: remove Exchange.root from the course's config and "
                              f"run nnfs exchange init --root {instructor}")
    lines.append(make_root(students))
    course_id = str(nbgrader_config(course.root).CourseDirectory.get("course_id", ""))
    if course_id:
        lines += _sticky_inbound(students / course_id / "inbound")
    if exchange_missing(course.root):
        raise ExchangeProblem(f"nbgrader still cannot use {students} (formgrader would warn): check that you may write to it")
    lines.append("formgrader and students' nbgrader both use it")
    return lines

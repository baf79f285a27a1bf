"""The nbgrader course directory: where things live, and nbgrader's Python API bound to it."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..isolation.sandbox import remove_at_exit

_SOCKETS: Path | None = None


def quiet_library_warnings() -> None:
    """nbgrader's gradebook and nbformat warn about their own internals on every submission."""
    import warnings

    warnings.filterwarnings("ignore", message=".*not in session.*")  # SQLAlchemy, from nbgrader.api
    warnings.filterwarnings("ignore", message="Cell is missing an id field")  # nbformat, restored cells


def _socket_dir() -> Path:
    """One private folder per process for IPC kernel sockets (sandboxes bring their own)."""
    global _SOCKETS
    if _SOCKETS is None:
        _SOCKETS = Path(tempfile.mkdtemp(prefix="nnfs-kernels-"))
        remove_at_exit(_SOCKETS)
    return _SOCKETS


def _find_environment_tools() -> None:
    """nbgrader shells out to `alembic` (gradebook migrations) by name: make sure the one beside this
    interpreter is found even when the virtual environment is not activated."""
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


@dataclass
class Course:
    root: Path
    _api: object = field(default=None, repr=False)

    def __post_init__(self):
        self.root = Path(self.root).resolve()

    # ------------------------------------------------------------------------------- layout
    def assignments(self) -> list[str]:
        """Assignments with a source notebook, in course order (their names sort by number)."""
        src = self.root / "source"
        from ...assignments import course_order

        found = [p.name for p in src.iterdir() if (p / f"{p.name}.ipynb").is_file()] if src.is_dir() else []
        return sorted(found, key=course_order)

    def source_notebook(self, assignment: str) -> Path:
        return self.root / "source" / assignment / f"{assignment}.ipynb"

    def release_notebook(self, assignment: str) -> Path:
        return self.root / "release" / assignment / f"{assignment}.ipynb"

    def submitted_notebook(self, student: str, assignment: str) -> Path:
        return self.root / "submitted" / student / assignment / f"{assignment}.ipynb"

    def autograded_notebook(self, student: str, assignment: str) -> Path:
        return self.root / "autograded" / student / assignment / f"{assignment}.ipynb"

    def feedback_html(self, student: str, assignment: str) -> Path:
        return self.root / "feedback" / student / assignment / f"{assignment}.html"

    def students(self, assignment: str) -> list[str]:
        """Students with a submission folder for this assignment: real folders (not links) named by a
        valid id. `nnfs grade` reports the others, refused (untrusted.submission_folders)."""
        from .untrusted import is_valid_student_id, submission_folders

        return [name for name, refusal in submission_folders(self.root / "submitted", assignment) if refusal is None and is_valid_student_id(name)]

    @property
    def gradebook_path(self) -> Path:
        return self.root / "gradebook.db"

    @property
    def gradebook_url(self) -> str:
        return f"sqlite:///{self.gradebook_path}"

    # ------------------------------------------------------------------------------ nbgrader
    def file_config(self):
        """What the course's nbgrader_config.py itself sets (nothing of what this package adds)."""
        from traitlets.config import Config
        from traitlets.config.loader import PyFileConfigLoader

        config = Config()
        if (self.root / "nbgrader_config.py").is_file():
            config.merge(PyFileConfigLoader("nbgrader_config.py", path=str(self.root)).load_config())
        return config

    def config(self):
        """The course's nbgrader_config.py, with the root pinned to this folder."""
        config = self.file_config()
        config.CourseDirectory.root = str(self.root)
        config.CourseDirectory.db_url = self.gradebook_url
        # nbgrader's apps log every step at INFO; the pipeline reports what matters itself.
        config.Application.log_level = logging.WARNING
        # Kernels talk over IPC sockets in a private folder rather than TCP on loopback: no open ports,
        # and no "running over TCP without encryption" warning from every kernel.
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = str(_socket_dir() / "kernel")
        return config

    def api(self):
        """One NbGraderAPI for the whole run: nbgrader's ~3 s start-up is paid once, not per student."""
        if self._api is None:
            from nbgrader.apps import NbGraderAPI

            _find_environment_tools()

            api = NbGraderAPI(config=self.config())
            api.log.setLevel(logging.WARNING)
            self._api = api
        return self._api

    def gradebook(self):
        from nbgrader.api import Gradebook

        _find_environment_tools()
        return Gradebook(self.gradebook_url)

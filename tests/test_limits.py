"""One source for a run's limits: the course's nbgrader_config.py is honoured or the run says why not."""

import copy
from pathlib import Path

from traitlets.config import Config

from autograder.grading.isolation.sandbox import Limits, Sandbox, say_overrides


def _configured(limits: Limits, course: Config) -> Config:
    config = copy.deepcopy(course)
    sandbox = Sandbox.__new__(Sandbox)  # configure() reads only these two
    sandbox.limits, sandbox.sockets = limits, Path("/nowhere")
    sandbox.configure(config)
    return config


def test_the_courses_cell_timeout_is_kept_unless_the_run_sets_one():
    course = Config()
    course.Execute.timeout = 45
    assert _configured(Limits(), course).Execute.timeout == 45
    assert _configured(Limits(cell_seconds=10), course).Execute.timeout == 10
    said = []
    say_overrides(course, Limits(cell_seconds=10), said.append)
    assert said == ["note: cells time out after 10 s in this run (--cell-timeout); nbgrader_config.py says 45 s"]
    said.clear()
    say_overrides(course, Limits(), said.append)
    say_overrides(course, Limits(cell_seconds=45), said.append)
    assert said == []


def test_executor_settings_the_sandbox_owns_are_named_not_silently_replaced():
    course = Config()
    course.Execute.kernel_name = "julia-1.9"
    course.KernelManager.transport = "tcp"
    said = []
    say_overrides(course, Limits(), said.append)
    assert len(said) == 2 and "c.Execute.kernel_name" in said[0] and "c.KernelManager.transport" in said[1]
    assert all("plain nbgrader autograde still does" in line for line in said)


def test_the_courses_nbgrader_config_sets_the_timeout_nnfs_grade_uses(tmp_path):
    from notebooks import copy_course

    config = copy_course(tmp_path).config()
    assert config.Execute.timeout == 120  # nbgrader_config.py
    assert _configured(Limits(), config).Execute.timeout == 120


def test_the_courses_own_config_sets_nothing_the_sandbox_owns(tmp_path):
    """The notes name only what the instructor wrote: the course's nbgrader_config.py as shipped gives none
    (Course.config adds IPC sockets of its own, which are not the instructor's)."""
    from notebooks import copy_course

    said = []
    say_overrides(copy_course(tmp_path).file_config(), Limits(), said.append)
    assert said == []

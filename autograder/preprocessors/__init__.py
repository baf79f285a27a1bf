"""nbgrader preprocessors that the course's nbgrader_config.py puts in ``c.Autograde.autograde_preprocessors``.

They run in the grading process (plain ``nbgrader autograde`` and ``nnfs grade`` alike: the worker runs the
configured list, its own executor in Execute's place), on the executed notebook, never in a student's kernel.
"""

from .stderr import StderrAsText

__all__ = ["StderrAsText"]

"""Warnings in a test cell reach the student as text instead of scoring the cell 0.

nbgrader scores a test cell 0 when any of its outputs is a ``stream`` on ``stderr``
(``nbgrader.utils.determine_grade``). The hidden checks keep the student's warnings and prints off stderr, but the
visible asserts call the student's functions directly, so a correct function that makes numpy warn (a deprecated
alias, an overflow in a partial-credit case) or that prints to stderr zeroes the whole cell.

``StderrAsText`` runs right after ``Execute`` and, in autograded test cells only, turns each stderr stream into a
stdout stream whose every line starts with ``[stderr] ``: the student still sees the warning in the autograded
notebook and the feedback, and it no longer costs the cell. It never makes a failing cell pass:

* failures in this course are ``error`` outputs (a failed assert, a check's Failure, an exception, nbgrader's
  CellTimeoutError), which it leaves untouched, and determine_grade scores those 0 whatever the streams say;
* a test cell whose stderr holds a Python traceback (``traceback.print_exc()``, unittest's report, an exception in a
  thread) is left exactly as it was, so a test that reports a failure on stderr still scores 0 as nbgrader intends;
* answer cells and manually graded cells are not touched (their stderr does not decide a score).

What students' own code writes to stderr could only ever lower their score, so moving it to stdout takes nothing
from a grader: a student who wanted to hide a failure could already suppress the output altogether, which the
out-of-process verification of ``nnfs grade`` is there for.

Why not nbgrader's ``IgnorePattern``: it deletes the stderr outputs matching one regular expression, in every code
cell, so the student never sees the warning that slowed or broke their code, anything the pattern misses (a print
to stderr, a warning worded differently) still zeroes the cell, and a pattern broad enough to catch every warning
("Warning") also deletes a traceback that mentions one.
"""

from __future__ import annotations

from nbformat.notebooknode import NotebookNode
from traitlets import Unicode

from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor

TRACEBACK = "Traceback (most recent call last)"


class StderrAsText(NbGraderPreprocessor):
    """In autograded test cells, show stderr output as stdout text with a prefix, unless it holds a traceback."""

    prefix = Unicode("[stderr] ", help="Put before every line of stderr text moved to stdout").tag(config=True)

    def preprocess_cell(self, cell: NotebookNode, resources: dict, cell_index: int):
        if cell.cell_type != "code" or not utils.is_grade(cell) or utils.is_solution(cell):
            return cell, resources
        streams = [o for o in cell.get("outputs", []) if o.get("output_type") == "stream" and o.get("name") == "stderr"]
        # All of the cell's stderr text together: a traceback written in several chunks is still found.
        if not streams or TRACEBACK in "".join(_text(o) for o in streams):
            return cell, resources
        at_line_start = True  # stderr often arrives in chunks that end mid-line: prefix lines, not chunks
        for output in streams:
            text, lines = _text(output), []
            for line in text.splitlines(keepends=True):
                lines.append((self.prefix if at_line_start else "") + line)
                at_line_start = line.endswith(("\n", "\r"))
            output["name"] = "stdout"
            output["text"] = "".join(lines)
        return cell, resources


def _text(output) -> str:
    text = output.get("text", "")
    return "".join(text) if isinstance(text, list) else text


__all__ = ["StderrAsText", "TRACEBACK"]

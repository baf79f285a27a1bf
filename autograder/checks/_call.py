"""Calling a student's function: quietly, and with whatever it raises as the one line a check reports.

The single source of this for both places a student's function is called: ``_core.run_case`` (the checks, in
the grading process or, under plain ``nbgrader autograde``, in the student's kernel) and the stand-in that
``nnfs grade`` puts into the student's kernel (grading/judging/standin.py sends this file's source there, as it
sends wire.py's). So this module imports only the standard library and numpy, and holds nothing but this code:
no reference, no judge.
"""

import contextlib
import io
import warnings

import numpy as np

# Bound at import, as _core binds numpy's attributes: a student's later ``np.errstate = ...`` does not reach it.
_errstate = np.errstate


def call_quietly(call):
    """``call()`` with numpy's warnings, ``warnings.warn`` and the student's prints kept off stdout and stderr
    (nbgrader scores a test cell that writes to stderr as 0): ``(what it returned, None)``, or
    ``(None, "raised <Type>: <first line of its message>")`` for whatever it raised. KeyboardInterrupt (nbgrader's
    timeout) is not caught: it must stop the cell."""
    sink = io.StringIO()
    try:
        with warnings.catch_warnings(), _errstate(all="ignore"), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            warnings.simplefilter("ignore")
            return call(), None
    except (Exception, SystemExit) as exc:
        text = str(exc).strip()
        first = text.splitlines()[0] if text else ""
        return None, ("raised " + type(exc).__name__ + ": " + first).rstrip(": ")


def not_a_function(name, obj):
    """What a check says when the name a student's notebook binds is not a function (a stub left as a value,
    a variable with a function's name), or None for a function."""
    if callable(obj):
        return None
    return name + " is not a function (got " + type(obj).__name__ + "); define it with def " + name + "(...)"

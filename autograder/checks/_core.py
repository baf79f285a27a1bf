"""The machinery every check shares: run a student function on fixed cases, judge the outcomes.

A check is split in two so the same judgement can run in or out of the student's kernel:

* ``run_cases(fn, cases)`` calls the student's function on copies of each case's inputs, with numpy
  warnings and the student's prints kept away from stderr (nbgrader scores any test cell that writes
  to stderr as 0), and turns whatever comes back into plain data: an ``Outcome``.
* a judge turns ``{case name: Outcome}`` into a score, raising ``Failure`` for a mistake that is
  worth no points and recording deductions for lesser ones (edge cases, inputs modified in place).

``Check.__call__`` does both and is what a hidden-test cell calls: it prints what was deducted and
returns a plain Python ``float`` in [0, points] (nbgrader reads the cell's last expression as partial
credit; a numpy scalar would score full marks and a value above the points would fail the notebook).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

# Bound when the package is imported, so that later rebinding of numpy's attributes in the student's
# namespace (``np.allclose = lambda *a, **k: True``) does not reach the comparisons below. This is a
# speed bump, not a wall: out-of-process verification is what makes a score trustworthy.
_ndarray = np.ndarray
_array = np.array
_isfinite = np.isfinite
_isnan = np.isnan
_abs = np.abs
_max = np.max
_all = np.all
_any = np.any
_array_equal = np.array_equal
_errstate = np.errstate
_floating = np.floating
_integer = np.integer
_bool_ = np.bool_
_float64 = np.float64


class Failure(AssertionError):
    """A mistake serious enough that the function earns no points; the message names it."""


@dataclass(frozen=True)
class Case:
    """One call of the student's function: positional arguments (arrays are copied per call)."""

    name: str
    args: tuple


@dataclass
class Outcome:
    """What one call produced, as plain data (no object from the student survives in here)."""

    value: np.ndarray | None = None  # always a plain ndarray (0-d for scalars) of a numeric dtype
    was_scalar: bool = False  # the function returned a number rather than an ndarray
    error: str | None = None  # "TypeError: ..." when the call raised or returned something unusable
    mutated: tuple = ()  # indices of the arguments the function changed in place

    @property
    def ok(self) -> bool:
        return self.error is None


@contextlib.contextmanager
def quiet():
    """Keep numpy warnings, ``warnings.warn`` and the student's prints off stdout and stderr."""
    sink = io.StringIO()
    with warnings.catch_warnings(), _errstate(all="ignore"), contextlib.redirect_stdout(
        sink
    ), contextlib.redirect_stderr(sink):
        warnings.simplefilter("ignore")
        yield sink


def to_plain(obj) -> tuple[np.ndarray | None, bool, str | None]:
    """Convert a student's return value into (plain ndarray, was_scalar, error message)."""
    kind = type(obj)
    if kind is bool or kind is _bool_:
        return None, True, "returned a bool where a number or an array was expected"
    if kind in (int, float) or isinstance(obj, (_floating, _integer)) and kind.__module__ == "numpy":
        return _array(float(obj), dtype=_float64), True, None
    if kind is _ndarray:
        if obj.dtype.kind not in "fiub":
            return None, False, f"returned an array of dtype {obj.dtype}; expected numbers (float)"
        return _array(obj, copy=True), False, None
    if obj is None:
        return None, False, "returned None: did you forget the return statement?"
    if isinstance(obj, _ndarray):
        return None, False, (
            f"returned a {kind.__module__}.{kind.__name__}, a subclass of numpy.ndarray; "
            "return a plain numpy.ndarray (np.asarray(...))"
        )
    if kind in (list, tuple):
        return None, False, f"returned a {kind.__name__}; return a numpy array instead"
    return None, False, f"returned an object of type {kind.__name__}; expected a number or a numpy array"


def run_case(fn: Callable, case: Case) -> Outcome:
    """Call ``fn`` on copies of ``case.args``; never raises for anything the student's code does."""
    originals = case.args
    copies = tuple(a.copy() if isinstance(a, _ndarray) else a for a in originals)
    try:
        with quiet():
            result = fn(*copies)
            value, was_scalar, error = to_plain(result)
    except (Exception, SystemExit) as exc:  # KeyboardInterrupt (nbgrader's timeout) must propagate
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return Outcome(error=f"raised {type(exc).__name__}: {message}".rstrip(": "))
    mutated = tuple(
        i
        for i, (orig, copy) in enumerate(zip(originals, copies))
        if isinstance(orig, _ndarray)
        and not (type(copy) is _ndarray and copy.shape == orig.shape and _array_equal(copy, orig, equal_nan=True))
    )
    return Outcome(value=value, was_scalar=was_scalar, error=error, mutated=mutated)


def run_cases(fn: Callable, cases: list[Case]) -> dict[str, Outcome]:
    return {case.name: run_case(fn, case) for case in cases}


def fmt(a, digits: int = 4) -> str:
    """A short, readable rendering of an array for messages."""
    with np.printoptions(precision=digits, suppress=True, threshold=12, edgeitems=2, linewidth=100):
        return np.array2string(np.asarray(a), separator=", ")


def close(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> bool:
    """Same shape, same non-finite pattern, finite entries within atol + rtol * |expected|."""
    if actual.shape != expected.shape:
        return False
    with _errstate(all="ignore"):
        a = actual.astype(_float64)
        e = expected.astype(_float64)
        if not _array_equal(_isfinite(a), _isfinite(e)):
            return False
        ok = _isfinite(e)
        return bool(_all(_abs(a[ok] - e[ok]) <= atol + rtol * _abs(e[ok])))


def ratio(actual: np.ndarray, expected: np.ndarray) -> float | None:
    """actual / expected when one number relates them (for 'N times too large' style messages)."""
    a = actual.astype(_float64).ravel()
    e = expected.astype(_float64).ravel()
    if a.shape != e.shape or not (_all(_isfinite(a)) and _all(_isfinite(e))):
        return None
    big = _abs(e) > 1e-12
    if not _any(big):
        return None
    r = a[big] / e[big]
    if _max(_abs(r - r[0])) > 1e-6 * max(1.0, abs(r[0])):
        return None
    if not _all(_abs(a[~big]) <= 1e-9):
        return None
    return float(r[0])


@dataclass
class Report:
    """Points and the reasons for every deduction, built up by a judge."""

    points: float
    notes: list = field(default_factory=list)
    lost: float = 0.0

    def deduct(self, amount: float, message: str) -> None:
        self.lost += amount
        self.notes.append(f"-{amount:g} point{'s' if amount != 1 else ''}: {message}")

    @property
    def score(self) -> float:
        return max(0.0, self.points - self.lost)


Judge = Callable[[list, dict, Report], None]  # (cases, {case name: Outcome}, report)


@dataclass
class Check:
    """A graded function: its name, its points, how to build its cases and how to judge them."""

    name: str
    points: float
    make_cases: Callable[[], list]
    judge: Judge
    _cases: list | None = field(default=None, repr=False)

    def cases(self) -> list[Case]:
        # Built once per process from fixed seeds, so every student meets the same inputs.
        if self._cases is None:
            self._cases = self.make_cases()
        return self._cases

    def evaluate(self, outcomes: dict[str, Outcome]) -> Report:
        """Judge outcomes (from this process or from a sandbox); Failure means 0 points."""
        report = Report(points=float(self.points))
        try:
            self.judge(self.cases(), outcomes, report)
        except Failure as failure:
            report.lost = report.points
            report.notes.insert(0, str(failure))
        return report

    def __call__(self, fn: Callable) -> float:
        if not callable(fn):
            raise Failure(f"{self.name} is not a function (got {type(fn).__name__}); define it with def {self.name}(...)")
        report = self.evaluate(run_cases(fn, self.cases()))
        if report.score <= 0:
            raise Failure("\n".join(report.notes))
        for note in report.notes:
            print(note)
        # Round to hundredths and force a plain float: this is the text nbgrader parses as the score.
        return float(round(report.score, 2))


def expect_ok(name: str, outcome: Outcome, case: Case) -> None:
    if not outcome.ok:
        raise Failure(f"{name} {outcome.error} (on test input '{case.name}')")


def mutation_note(name: str, case: Case, outcome: Outcome, arg_names: tuple[str, ...]) -> str:
    which = ", ".join(arg_names[i] for i in outcome.mutated)
    return (
        f"{name} changed its input {which} in place (test input '{case.name}'); "
        "work on a new array (e.g. np.maximum(x, 0) rather than np.maximum(x, 0, out=x), "
        "x = x - m rather than x -= m) so callers keep their data"
    )


def isnan_any(a: np.ndarray) -> bool:
    return bool(_any(~_isfinite(a)))


__all__ = [
    "Case",
    "Check",
    "Failure",
    "Outcome",
    "Report",
    "close",
    "expect_ok",
    "fmt",
    "isnan_any",
    "mutation_note",
    "quiet",
    "ratio",
    "run_case",
    "run_cases",
    "to_plain",
]

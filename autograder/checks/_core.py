"""The machinery every check shares: run a student function on fixed cases, judge the outcomes.

A check is split in two so the same judgement can run in or out of the student's kernel:

* ``run_cases(fn, cases)`` calls the student's function on copies of each case's inputs, with numpy
  warnings and the student's prints kept away from stderr (nbgrader scores any test cell that writes
  to stderr as 0), and turns whatever comes back into plain data: an ``Outcome``. The call itself is
  ``_call.call_quietly``, which the stand-in of ``nnfs grade`` runs in the student's kernel too.
* a judge turns ``{case name: Outcome}`` into a score, raising ``Failure`` for a mistake that is
  worth no points and recording deductions for lesser ones (edge cases, inputs modified in place).

``Check.__call__`` does both and is what a hidden-test cell calls: it prints what was deducted and
returns a plain Python ``float`` in [0, points] (nbgrader reads the cell's last expression as partial
credit; a numpy scalar would score full marks and a value above the points would fail the notebook).

Drivers. A case's ``call`` is a trusted driver that calls the student's functions several times (an optimizer
over steps, a forward pass then a backward pass on its cache). Marked ``@shippable`` (or made by
``watch_backward``), its source is also what the verification stand-in runs in the student's kernel, so it uses
only its arguments, ``np``, ``math`` and ``functools``. An assignment ships the helpers its own cases reach
(``shippable_helpers``): their names need be unique within one assignment only. Errors, one convention:

* whatever the student's code raises, the driver lets through: ``run_case`` (or the stand-in) records
  ``raised <Type>: <message>`` as the outcome's error, and ``expect_ok``/``driver_value`` name it;
* when the student's function returns something the driver cannot go on with (not the pair it must return),
  the driver does not raise: it returns ``{"returned a list instead of the pair (out, cache)": np.zeros(0)}``,
  one key saying what came back (``"its forward pass returned ..."`` for the forward pass of a backward
  check), and the judge reads its value with ``driver_value``: ``<name>.wrong_return`` and that text;
* a driver that can hand the unusable value on as it is does that instead (a2's and a3's init drivers return
  the first value when it is not a dict), and the converter or ``expect_ok`` names its type.

Deductions every check makes the same way live here too: ``deduct_modified_input`` (an argument changed in place,
``<function>.modified_input``) and, for ``Check.watch``, a backward pass writing into the forward pass's arrays.
"""

from __future__ import annotations

import copy
import functools
import inspect
import math
import textwrap
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ._call import call_quietly, not_a_function

# Bound when the package is imported, so that later rebinding of numpy's attributes in the student's
# namespace (``np.allclose = lambda *a, **k: True``) does not reach the comparisons below. This is a
# speed bump, not a wall: out-of-process verification is what makes a score trustworthy.
_ndarray = np.ndarray
_array = np.array
_isfinite = np.isfinite
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


def shippable(fn: Callable) -> Callable:
    """Mark a case helper (a driver, or a function handed to the student) as safe to send into the
    verification sandbox by its source: it may use only its arguments, ``np``, ``math`` and ``functools``.
    The source goes with the function (``shipped_source``); an assignment ships the helpers its own cases
    reach (``shippable_helpers``), so names need be unique only within one assignment."""
    fn.shipped_source = textwrap.dedent(inspect.getsource(fn)).split("\n", 1)[1]  # without the decorator
    return fn


def shippable_helpers(checks: dict) -> dict[str, str]:
    """{qualname: source} of the shippable helpers the cases of these checks (one assignment's ``CHECKS``) use:
    their drivers and the functions among their arguments (also inside lists, tuples, dicts and partials)."""
    found: dict[str, str] = {}

    def collect(obj, depth=0):
        if depth > 6:
            return
        if type(obj) is functools.partial:
            collect(obj.func, depth + 1)
            collect(obj.keywords, depth + 1)
        elif type(obj) in (list, tuple):
            for item in obj:
                collect(item, depth + 1)
        elif type(obj) is dict:
            for item in obj.values():
                collect(item, depth + 1)
        elif callable(obj) and isinstance(getattr(obj, "shipped_source", None), str):
            if found.setdefault(obj.__qualname__, obj.shipped_source) != obj.shipped_source:
                raise RuntimeError(f"two shippable helpers are called {obj.__qualname__}")

    for check in checks.values():
        for case in check.cases():
            collect(case.call)
            collect(case.args)
    return found


def _watch_pair(forward, backward):
    """The student's forward and backward passes, wrapped so that every array among the forward pass's arguments
    (also inside lists, tuples and str-keyed dicts) is copied when the forward pass returns and compared with that
    copy whenever a backward pass returns; ``changed`` collects the path ([argument position or keyword, key, ...]) of
    each one a backward pass changed. This function's source runs in the verification sandbox too (see watch_backward):
    it uses only numpy and ndarray methods."""
    watched, changed = [], []

    def arrays(obj, path, depth=0):
        if type(obj) is np.ndarray:
            watched.append((path, obj, obj.copy()))
        elif depth < 4 and type(obj) in (list, tuple):
            for i, item in enumerate(obj):
                arrays(item, path + [i], depth + 1)
        elif depth < 4 and type(obj) is dict:
            for key, item in obj.items():
                if type(key) is str:
                    arrays(item, path + [key], depth + 1)

    def forward_pass(*args, **kwargs):
        result = forward(*args, **kwargs)
        for i, arg in enumerate(args):
            arrays(arg, [i])
        for key, arg in kwargs.items():
            arrays(arg, [key])
        return result

    def backward_pass(*args, **kwargs):
        result = backward(*args, **kwargs)
        for path, array, kept in watched:
            if path not in changed and (array.shape != kept.shape or array.dtype != kept.dtype or array.tobytes() != kept.tobytes()):
                changed.append(path)
        return result

    return forward_pass, backward_pass, changed


_WATCHED, _CHANGED = "$watched", "$changed"


def watch_backward(driver: Callable) -> Callable:
    """Decorator for the driver of a backward check (``driver((forward, backward), *args)``, which calls the
    student's forward pass and hands its cache to their backward pass): the driver is also shipped, and every array
    the forward pass was given is watched (``_watch_pair``), so the judge learns when the backward pass wrote into
    the caller's data through the cache. Returns the watched driver, built from the very source that is shipped; its
    value is ``{"$watched": what the driver returned, "$changed": paths}``, which ``Check`` (with ``watch`` set)
    unpacks into ``Outcome.value`` and ``Outcome.cache_writes``."""
    name = driver.__qualname__
    inner = f"_{name}_unwatched"
    body = textwrap.dedent(inspect.getsource(driver)).split("\n", 1)[1]  # without the decorator
    if not body.startswith(f"def {name}("):
        raise RuntimeError(f"watch_backward: {name} must be a plain function with one decorator")
    source = (
        textwrap.dedent(inspect.getsource(_watch_pair))
        + "\n\n"
        + body.replace(f"def {name}(", f"def {inner}(", 1)
        + "\n\n"
        + f"def {name}(fns, *args, _watch=_watch_pair, _driver={inner}):\n"
        + "    forward, backward, changed = _watch(*fns)\n"
        + f"    return {{{_WATCHED!r}: _driver((forward, backward), *args), {_CHANGED!r}: changed}}\n"
    )
    namespace: dict = {}
    exec(source, {"np": np, "math": math, "functools": functools}, namespace)  # as the probe does
    namespace[name].shipped_source = source
    return namespace[name]


@dataclass(frozen=True)
class _Watched:
    """A watched driver's converted value and the paths of the forward pass's arrays its backward pass changed."""

    value: object
    changed: tuple


def _unwatching(convert: Callable) -> Callable:
    """A converter for a watched driver's value: the driver's own value through ``convert``, the paths kept."""

    def unwatch(result):
        if type(result) is not dict or set(result) != {_WATCHED, _CHANGED}:
            return convert(result)
        value, was_scalar, error = convert(result[_WATCHED])
        if error:
            return value, was_scalar, error
        paths = result[_CHANGED] if type(result[_CHANGED]) is list else []
        changed = tuple(tuple(p) for p in paths if type(p) is list and p and all(type(k) in (int, str) for k in p))
        return _Watched(value, changed), was_scalar, None

    return unwatch


def _path_name(arg_names: tuple, path: tuple) -> str:
    """("params", ...) and (1, 0, 1) -> "params[0][1]"."""
    head, *keys = path
    name = arg_names[head] if type(head) is int and 0 <= head < len(arg_names) else str(head)
    return name + "".join(f"[{k!r}]" for k in keys)


def cache_write_note(backward: str, forward: str, arg_names: tuple, case_name: str, paths: tuple) -> str:
    """What a student reads when their backward pass changed the arrays they passed to the forward pass."""
    what = ", ".join(_path_name(arg_names, p) for p in paths)
    return (
        f"{backward} changed the {what} you passed to {forward} (through the cache: it holds the caller's arrays, "
        f"not copies; test input '{case_name}'): copy before writing (mask = x > 0 or x = x.copy(), "
        "not x[x <= 0] = 0), so the caller keeps its data"
    )


class Failure(AssertionError):
    """A mistake serious enough that the function earns no points; the message names it (it is what the student
    reads) and ``mistake`` is its stable id, ``<function>.<snake_case_mistake>`` (e.g. "softmax.axis0"): the same
    mistake always has the same id, whatever values the message quotes, so a class's mistakes can be counted."""

    def __init__(self, message: str, mistake: str | None = None):
        super().__init__(message)
        self.mistake = mistake


@dataclass(frozen=True)
class Case:
    """One call of the student's function: positional arguments (copied for every call).

    ``call(fn, *args)``, when given, is a trusted driver that calls the student's function several
    times (an optimizer over a few steps) and returns what should be judged. For a check that needs
    several of the student's functions (a layer's backward pass needs its forward pass to make the
    cache), ``fn`` is the tuple of them, in the order of ``Check.needs``.
    """

    name: str
    args: tuple
    call: Callable | None = None


@dataclass
class Outcome:
    """What one call produced, as plain data (no object from the student survives in here)."""

    value: object = None  # a plain ndarray (0-d for numbers), or a tuple/dict of them (see to_plain)
    was_scalar: bool = False  # the function returned a number rather than an ndarray
    error: str | None = None  # "TypeError: ..." when the call raised or returned something unusable
    mutated: tuple = ()  # indices of the arguments the function changed in place
    # For a check whose driver is made by watch_backward: where, in the forward pass's arguments, the backward pass
    # changed an array (through the cache, which holds the caller's arrays), e.g. ((0,), (1, "W1")).
    cache_writes: tuple = ()

    @property
    def ok(self) -> bool:
        return self.error is None


def _convert_leaf(obj):
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


def to_plain(obj, depth: int = 0) -> tuple:
    """Convert a student's return value into (plain value, was_scalar, error message).

    A plain value is an ndarray (0-d for numbers), or, one level deep, a tuple of them (functions that
    return several arrays) or a dict of them with string keys (gradients keyed like the model).
    """
    kind = type(obj)
    if depth == 0 and kind is tuple:
        items = []
        for i, item in enumerate(obj):
            value, _, error = to_plain(item, depth + 1)
            if error:
                return None, False, f"item {i} of the returned tuple: {error.removeprefix('returned ')}"
            items.append(value)
        return tuple(items), False, None
    if depth == 0 and kind is dict:
        values = {}
        for key, item in obj.items():
            if type(key) is not str:
                return None, False, f"returned a dict with a key of type {type(key).__name__}; use the model's names"
            value, _, error = to_plain(item, depth + 1)
            if error:
                return None, False, f"entry '{key}' of the returned dict: {error.removeprefix('returned ')}"
            values[key] = value
        return values, False, None
    return _convert_leaf(obj)


def numbers(series, flatten: bool = False):
    """A 1-D float array from a list or tuple of Python or numpy numbers (or one-entry numeric arrays), or from a
    1-D numeric array (of any shape when ``flatten``), else None: a training history's per-epoch series."""
    if type(series) is _ndarray and series.dtype.kind in "fiu" and (flatten or series.ndim == 1):
        return _array(series, dtype=_float64).ravel()
    if type(series) not in (list, tuple):
        return None
    out = []
    for v in series:
        if type(v) in (int, float) or isinstance(v, (_floating, _integer)) and type(v).__module__ == "numpy":
            out.append(float(v))
        elif type(v) is _ndarray and v.size == 1 and v.dtype.kind in "fiu":
            out.append(float(v.reshape(())))
        else:
            return None
    return _array(out, dtype=_float64)


def dict_pair(result, pair: str, first: str) -> tuple:
    """A train function's (dict of arrays, something) pair as (plain dict, something, None), else (None, None, error).
    ``pair`` names the pair in the message, e.g. "(params, history)"; ``first`` the dict, e.g. "params that are"."""
    if type(result) is not tuple or len(result) != 2:
        return None, None, f"returned something other than a {pair} pair"
    value, _, error = to_plain(result[0])
    if error or type(value) is not dict:
        return None, None, f"returned {first} not a dict of arrays ({error or type(result[0]).__name__})"
    return value, result[1], None


def _copy(arg):
    """A private copy of an argument, so the student's function cannot change the case's data."""
    if isinstance(arg, _ndarray):
        return arg.copy()
    if isinstance(arg, dict):
        return {k: _copy(v) for k, v in arg.items()}
    if isinstance(arg, (list, tuple)):
        return type(arg)(_copy(v) for v in arg)
    if isinstance(arg, np.random.Generator):
        return copy.deepcopy(arg)
    return arg


def unchanged(original, now) -> bool:
    """Is the argument the student received still equal to the case's original?"""
    if isinstance(original, _ndarray):
        return type(now) is _ndarray and now.shape == original.shape and bool(_array_equal(now, original, equal_nan=True))
    if isinstance(original, dict):
        return type(now) is dict and now.keys() == original.keys() and all(unchanged(original[k], now[k]) for k in original)
    if isinstance(original, (list, tuple)):
        return type(now) is type(original) and len(now) == len(original) and all(map(unchanged, original, now))
    if type(original) in (int, float):
        return type(now) is type(original) and (now == original or (now != now and original != original))
    return True  # functions, generators, None: nothing the caller could lose


def run_case(fn: Callable, case: Case, convert: Callable = to_plain) -> Outcome:
    """Call ``fn`` on copies of ``case.args``; never raises for anything the student's code does."""
    originals = case.args
    copies = tuple(_copy(a) for a in originals)
    # The conversion is quiet too: it may run the student's code (iterating a returned object).
    converted, raised = call_quietly(lambda: convert(case.call(fn, *copies) if case.call else fn(*copies)))
    if raised is not None:
        return Outcome(error=raised)
    value, was_scalar, error = converted
    mutated = tuple(i for i, (orig, now) in enumerate(zip(originals, copies)) if not unchanged(orig, now))
    return Outcome(value=value, was_scalar=was_scalar, error=error, mutated=mutated)


def run_cases(fn: Callable, cases: list[Case], convert: Callable = to_plain) -> dict[str, Outcome]:
    return {case.name: run_case(fn, case, convert) for case in cases}


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
    """Points and the reasons for every deduction, built up by a judge.

    ``mistakes`` holds one ``(mistake id, points lost, message)`` per deduction or failure, as data: the notes are
    what the student reads, the ids are what a class report counts. A Failure's points lost are whatever the
    deductions before it had left."""

    points: float
    notes: list = field(default_factory=list)
    lost: float = 0.0
    mistakes: list = field(default_factory=list)

    def deduct(self, amount: float, message: str, mistake: str | None = None) -> None:
        self.lost += amount
        self.notes.append(f"-{amount:g} point{'s' if amount != 1 else ''}: {message}")
        self.mistakes.append((mistake, float(amount), message))

    def fail(self, message: str, mistake: str | None) -> None:
        """No points: the message goes first among the notes (what the student reads first)."""
        self.mistakes.insert(0, (mistake, max(0.0, self.points - self.lost), message))
        self.lost = self.points
        self.notes.insert(0, message)

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
    convert: Callable = to_plain  # how a return value becomes plain data (see to_plain)
    # The student's functions the check calls, in order; empty means just the one called `name`.
    # With several, the hidden cell is check_<name>(f1, f2, ...) and every case needs a driver.
    needs: tuple = ()
    # For a backward check whose drivers are made by watch_backward: the names of the forward pass's arguments, in
    # the order the drivers pass them. The backward pass then also loses `watch_points` (once) if it changed any of
    # them, e.g. writing its mask into the cached x. The judge sees Outcome.cache_writes too.
    watch: tuple = ()
    watch_points: float = 0.5
    _cases: list | None = field(default=None, repr=False)

    def __post_init__(self):
        if self.watch:
            self.convert = _unwatching(self.convert)

    def cases(self) -> list[Case]:
        # Built once per process from fixed seeds, so every student meets the same inputs.
        if self._cases is None:
            self._cases = self.make_cases()
        return self._cases

    def evaluate(self, outcomes: dict[str, Outcome]) -> Report:
        """Judge outcomes (from this process or from a sandbox); Failure means 0 points."""
        report = Report(points=float(self.points))
        outcomes = {name: _unwatched(outcome) for name, outcome in outcomes.items()}
        try:
            self.judge(self.cases(), outcomes, report)
            if self.watch:
                written = next((case for case in self.cases() if case.name in outcomes and outcomes[case.name].cache_writes), None)
                if written is not None:
                    note = cache_write_note(self.name, self.functions[0], self.watch, written.name, outcomes[written.name].cache_writes)
                    report.deduct(self.watch_points, note, f"{self.name}.modified_forward_input")
        except Failure as failure:
            report.fail(str(failure), failure.mistake)
        except Exception as exc:  # an output of a shape the judge did not foresee: still a clear 0
            report.fail(f"{self.name}: its output could not be checked ({type(exc).__name__}: {exc})", f"{self.name}.uncheckable_output")
        # A judge that names no id still says which function it was about (tests/test_catalogues.py finds these).
        report.mistakes = [(mistake or f"{self.name}.{UNNAMED}", lost, message) for mistake, lost, message in report.mistakes]
        return report

    @property
    def functions(self) -> tuple:
        """The names of the student's functions this check calls."""
        return tuple(self.needs) or (self.name,)

    def run(self, *fns: Callable) -> Report:
        """The check's report on the student's functions, with its mistakes as data (``Report.mistakes``); the
        hidden-test cell calls ``__call__``, which turns this into a plain float or an AssertionError."""
        names = self.functions
        if len(fns) != len(names):
            raise TypeError(f"check_{self.name} takes the functions {', '.join(names)}")
        for name, fn in zip(names, fns):
            if not_a_function(name, fn):
                report = Report(points=float(self.points))
                report.fail(not_a_function(name, fn), f"{name}.not_a_function")
                return report
        fn = fns[0] if len(fns) == 1 else tuple(fns)
        return self.evaluate(run_cases(fn, self.cases(), self.convert))

    def __call__(self, *fns: Callable) -> float:
        return self.verdict(self.run(*fns))

    @staticmethod
    def verdict(report: Report) -> float:
        """What a hidden-test cell shows for a report: its notes printed and its score, or a Failure (nbgrader's 0)."""
        if report.score <= 0:
            raise Failure("\n".join(report.notes), report.mistakes[0][0] if report.mistakes else None)
        for note in report.notes:
            print(note)
        # Round to hundredths and force a plain float: this is the text nbgrader parses as the score.
        return float(round(report.score, 2))


def _unwatched(outcome: Outcome) -> Outcome:
    """The outcome of a watched driver as a judge reads it: its own value, and the backward pass's cache writes."""
    if not isinstance(outcome.value, _Watched):
        return outcome
    watched = outcome.value
    return Outcome(value=watched.value, was_scalar=outcome.was_scalar, error=outcome.error, mutated=outcome.mutated, cache_writes=watched.changed)


UNNAMED = "unnamed"  # the id's second half for a failure or deduction whose judge named no mistake (a bug to fix)


def error_mistake(name: str, error: str) -> str:
    """The id of an Outcome's error: the function was not a function, the call raised (numpy's broadcasting error,
    or any other), returned None, or returned something of the wrong type. The id is always one of these
    constants: the error's text (which quotes the student's exception) only picks among them."""
    if not error.startswith("raised ") and " is not a function (got " in error:  # the stand-in's row for Check.run's not_a_function
        return f"{name}.not_a_function"
    if error.startswith("raised ") and "could not be broadcast" in error:
        return f"{name}.broadcast_error"  # often a sum or max without keepdims=True
    if error.startswith("raised "):
        return f"{name}.raised"
    if error.startswith("returned None"):
        return f"{name}.returned_none"
    return f"{name}.wrong_type"


def expect_ok(name: str, outcome: Outcome, case: Case, returns: type = np.ndarray) -> None:
    """Fail unless the call succeeded and returned the expected kind of plain value."""
    if not outcome.ok:
        raise Failure(f"{name} {outcome.error} (on test input '{case.name}')", error_mistake(name, outcome.error))
    if not isinstance(outcome.value, returns):
        wanted = {np.ndarray: "a numpy array or a number", tuple: "a tuple", dict: "a dict"}.get(returns, returns.__name__)
        raise Failure(f"{name} returned a {type(outcome.value).__name__} on test input '{case.name}'; expected {wanted}", f"{name}.wrong_type")


def driver_value(name: str, outcome: Outcome, case: Case, hint: str = "") -> object:
    """The plain value of a driver's call, or the Failure its outcome stands for (see "Drivers" above): the call
    raised (``hint`` follows that message), or the driver returned its ``{"returned ...": ...}`` note
    (``<name>.wrong_return``) or ``{"its forward pass returned ...": ...}`` (``<name>.forward_wrong_return``)."""
    if not outcome.ok:
        raise Failure(f"{name} {outcome.error} (on test input '{case.name}'){hint}", error_mistake(name, outcome.error))
    if isinstance(outcome.value, dict):
        for key in outcome.value:
            if key.startswith("returned "):
                raise Failure(f"{name} {key} (on test input '{case.name}')", f"{name}.wrong_return")
            if key.startswith("its forward pass returned "):
                raise Failure(f"{name}: {key} (on test input '{case.name}')", f"{name}.forward_wrong_return")
    return outcome.value


def mutation_note(name: str, case: Case, outcome: Outcome, arg_names: tuple[str, ...]) -> str:
    which = ", ".join(arg_names[i] for i in outcome.mutated)
    return (
        f"{name} changed its input {which} in place (test input '{case.name}'); "
        "work on a new array (e.g. np.maximum(x, 0) rather than np.maximum(x, 0, out=x), "
        "x = x - m rather than x -= m) so callers keep their data"
    )


def deduct_modified_input(report: Report, name: str, cases, outcomes: dict, arg_names: tuple, points: float = 0.5, *,
                          only: tuple | None = None, note: Callable | None = None, mistake: str | None = None) -> None:
    """Deduct ``points`` once, for the first case whose call changed one of its arguments in place.

    ``only``: the argument indices that count (a backward check's dout, not the forward pass's inputs, which the
    forward check judges; an optimizer's w and dw, not its config, which is state). The note is ``mutation_note``'s
    unless ``note(case, changed argument names)`` words it; the id is ``<name>.modified_input`` unless ``mistake``."""
    for case in cases:
        changed = tuple(i for i in outcomes[case.name].mutated if only is None or i in only)
        if changed:
            if note:
                message = note(case, tuple(arg_names[i] for i in changed))
            else:
                message = mutation_note(name, case, Outcome(mutated=changed), arg_names)
            report.deduct(points, message, mistake or f"{name}.modified_input")
            return


def isnan_any(a: np.ndarray) -> bool:
    return bool(_any(~_isfinite(a)))


__all__ = [
    "Case",
    "Check",
    "Failure",
    "Outcome",
    "Report",
    "cache_write_note",
    "close",
    "deduct_modified_input",
    "dict_pair",
    "driver_value",
    "error_mistake",
    "expect_ok",
    "fmt",
    "isnan_any",
    "mutation_note",
    "numbers",
    "ratio",
    "run_case",
    "run_cases",
    "shippable",
    "shippable_helpers",
    "to_plain",
    "unchanged",
    "watch_backward",
]

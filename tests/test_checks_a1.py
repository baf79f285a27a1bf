"""The a1 checks: plain-float scores, quiet stderr, untrusted outputs, student exceptions (no notebooks)."""

import numpy as np
import pytest

from autograder.checks import a1_helpers as checks
from autograder.reference import a1_helpers as ref
from catalogue_a1 import softmax_without_max_shift


@pytest.mark.parametrize("name", list(checks.POINTS))
def test_reference_gets_full_marks_as_a_plain_float(name):
    score = checks.CHECKS[name](getattr(ref, name))
    assert type(score) is float and score == checks.POINTS[name]


def test_partial_credit_is_a_plain_float_within_the_points():
    score = checks.check_softmax(softmax_without_max_shift)
    assert type(score) is float and 0 < score < checks.POINTS["softmax"]
    assert repr(score) == "1.5"  # the text nbgrader parses as the cell's score


def test_no_warning_or_student_print_reaches_stderr(capfd):
    import sys
    import warnings

    def noisy_softmax(x):
        print("debugging", file=sys.stderr)
        warnings.warn("student warning")
        e = np.exp(x)  # overflows on the large-logit cases
        return e / e.sum(axis=1, keepdims=True)

    checks.check_softmax(noisy_softmax)
    out, err = capfd.readouterr()
    assert err == ""


class _AlwaysEqual(np.ndarray):
    def __eq__(self, other):
        return True


class _FloatThatLies(float):
    def __eq__(self, other):
        return True


@pytest.mark.parametrize(
    "function, fake",
    [
        ("softmax", lambda x: np.zeros_like(x).view(_AlwaysEqual)),
        ("average_ce", lambda t, p: _FloatThatLies(0.0)),
        ("accuracy", lambda t, p: _FloatThatLies(0.0)),
        ("relu", lambda x: np.ma.masked_array(np.maximum(x, 0))),
        ("relu", lambda x: np.maximum(x, 0).astype(object)),
        ("softmax", lambda x: ref.softmax(x).tolist()),
    ],
)
def test_outputs_that_are_not_plain_arrays_or_numbers_are_rejected(function, fake):
    with pytest.raises(AssertionError, match="returned"):
        checks.CHECKS[function](fake)


def test_a_student_function_that_raises_is_reported_not_propagated():
    def broken(x):
        raise NotImplementedError("todo")

    with pytest.raises(AssertionError, match="NotImplementedError"):
        checks.check_relu(broken)


def test_sys_exit_in_student_code_is_a_failure_not_an_exit():
    import sys

    with pytest.raises(AssertionError, match="SystemExit"):
        checks.check_relu(lambda x: sys.exit(0))


def test_a_non_function_is_a_clear_failure():
    with pytest.raises(AssertionError, match="not a function"):
        checks.check_relu(None)


def test_patching_numpy_after_import_does_not_fool_the_comparison(monkeypatch):
    monkeypatch.setattr(np, "allclose", lambda *a, **k: True)
    monkeypatch.setattr(np, "array_equal", lambda *a, **k: True)
    monkeypatch.setattr(np, "isclose", lambda *a, **k: np.ones(np.shape(a[0]), dtype=bool))
    with pytest.raises(AssertionError):
        checks.check_softmax(lambda x: np.full(x.shape, 0.5))


def test_cases_are_deterministic():
    fresh = checks._softmax_cases()
    for a, b in zip(fresh, checks.check_softmax.cases()):
        assert a.name == b.name and all(np.array_equal(x, y) for x, y in zip(a.args, b.args))

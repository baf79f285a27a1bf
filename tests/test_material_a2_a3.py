"""What a careful student meets in a2_backprop and a3_moons (issue #15), checked against the code.

The gradient-check cell works with both ways of writing numerical_gradient; the visible tests (the plain
asserts in the released test cells) fail on common mistakes and pass the reference and every correct
alternative; the numbers and claims in the text (the sigmoid overflow, init_weights' rng=None, the 50-epoch
run, the final table, relative_error's normalisation) are what the code does.
"""

import importlib
import re
import warnings

import matplotlib
import numpy as np
import pytest

import catalogue_a2
import catalogue_a3
from notebooks import by_id, nbgrader_meta, read, solution_text

matplotlib.use("Agg")

A2, A3 = "a2_backprop", "a3_moons"


def _cell(assignment, cell_id, kind="source"):
    (cell,) = [c for c in read(kind, assignment).cells if c.get("id") == cell_id]
    return cell


def _solutions(assignment, overrides=None):
    """A namespace holding what the source notebook's solution and locked code cells define (test cells and
    unmarked cells left out), with `overrides` in place of the named functions."""
    namespace = {}
    for cell in read("source", assignment).cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type == "code" and meta and (meta.get("solution") or (meta.get("locked") and not meta.get("grade"))):
            exec(compile(solution_text(cell.source), meta["grade_id"], "exec"), namespace)
            namespace.update(overrides or {})
    return namespace


def _run_visible_tests(assignment, function, fn):
    """Run the released test cell of `function` (its visible asserts, all a student has) with `fn` in place
    of the solution; what it printed."""
    import contextlib
    import io

    namespace = _solutions(assignment, {function: fn})
    test = by_id(read("release", assignment))[f"{function}_tests"]
    assert "HIDDEN" not in test.source and "autograder" not in test.source
    out = io.StringIO()
    with contextlib.redirect_stdout(out), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a mistake may overflow; its asserts are what this is about
        exec(compile(test.source, f"{function}_tests", "exec"), namespace)
    return out.getvalue()


# ------------------------------------------------------------- 1. a2's gradient check, both styles


def _numerical_gradient_copying_with_ndindex(f, x, eps=1e-6):
    """A correct checker that never touches x: each entry is perturbed in a fresh copy."""
    grad = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        grad[i] = (f(up) - f(down)) / (2 * eps)
    return grad


@pytest.mark.parametrize(
    "numerical_gradient",
    [
        None,  # the source notebook's solution: in place, restored
        catalogue_a2.numerical_gradient_nditer,  # in place, restored
        catalogue_a2.numerical_gradient_copies_and_flat_index,  # copies
        _numerical_gradient_copying_with_ndindex,  # copies
    ],
    ids=["solution-in-place", "nditer-in-place", "copies-flat-index", "copies-ndindex"],
)
def test_a2_gradient_check_cell_works_with_in_place_and_copying_checkers(numerical_gradient):
    overrides = {"numerical_gradient": numerical_gradient} if numerical_gradient else {}
    namespace = _solutions(A2, overrides)
    cell = _cell(A2, "cell-26-text")
    exec(compile(cell.source, "gradient check", "exec"), namespace)
    errors = namespace["gradient_errors"]
    assert set(errors) == {"w_h", "b_h", "w_o", "b_o"}
    assert all(e < 1e-6 for e in errors.values()), errors  # the text: "about 1e-7 or smaller"
    assert max(errors.values()) > 1e-8  # ...and not vacuously 0


def test_a2_gradient_check_cell_would_fail_a_copying_checker_with_the_old_call():
    """The cell used to hand numerical_gradient a function that ignored its argument: a correct copying
    checker then showed relative error 1.0 everywhere. This is the trap the test above guards against."""
    namespace = _solutions(A2, {"numerical_gradient": _numerical_gradient_copying_with_ndindex})
    source = _cell(A2, "cell-26-text").source.replace(
        "numerical_gradient(loss_of, p_small[name].copy())",
        "numerical_gradient(lambda _: loss(x_small, t_small, p_small), p_small[name])",
    )
    exec(compile(source, "old gradient check", "exec"), namespace)
    assert all(e == 1.0 for e in namespace["gradient_errors"].values())


# ------------------------------------------------------------------- 2. a3's sigmoid and init text


def test_a3_sigmoid_text_matches_what_numpy_does():
    text = _cell(A3, "cell-06-part-b").source
    assert "`1 / (1 + np.exp(-x))`" in text and "`np.exp(x) / (1 + np.exp(x))`" in text and "$x = +800$" in text
    x = np.array([-800.0, 800.0])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        naive = 1 / (1 + np.exp(-x))
    assert naive.tolist() == [0.0, 1.0]  # right values...
    assert any("overflow encountered in exp" in str(w.message) for w in caught)  # ...with the warning
    with np.errstate(all="ignore"):
        ratio = np.exp(x) / (1 + np.exp(x))
    assert ratio[0] == 0.0 and np.isnan(ratio[1])  # nan at +800, not at -800
    with np.errstate(over="ignore"):
        assert np.isfinite(np.exp(709.0)) and np.isinf(np.exp(710.0))  # "above about 709 is inf"
    checks = importlib.import_module("autograder.checks.a3_moons")
    assert checks.check_sigmoid(lambda v: 1 / (1 + np.exp(-v))) == checks.POINTS["sigmoid"]
    with pytest.raises(AssertionError), np.errstate(all="ignore"):
        checks.check_sigmoid(lambda v: np.exp(v) / (1 + np.exp(v)))


def test_a3_init_weights_text_states_the_signature_and_what_none_means():
    text = _cell(A3, "cell-09-text").source
    signature = by_id(read("release", A3))["init_weights"].source.splitlines()[0]
    assert signature == "def init_weights(n_hidden=100, rng=None):"
    assert "`init_weights(n_hidden=100, rng=None)`" in text and "`np.random.default_rng(0)`" in text
    namespace = _solutions(A3)
    reference = importlib.import_module("autograder.reference.a3_moons")
    for init in (namespace["init_weights"], reference.init_weights):
        default, seeded = init(), init(100, np.random.default_rng(0))
        assert all(np.array_equal(default[k], seeded[k]) for k in seeded)
        assert all(np.array_equal(default[k], init()[k]) for k in seeded)  # "the same model every time"


# --------------------------------------------------------------- 6. relative_error's normalisation


def test_a2_says_relative_error_is_per_element_and_a5_differs():
    text = _cell(A2, "cell-20-part-c").source
    assert "**per element**" in text and "Assignment 5 uses a different, global normalisation" in text
    a, b = np.array([1000.0, 1e-3]), np.array([1000.0, 2e-3])  # one small entry wrong by a factor of 2
    namespace = _solutions(A2)
    reference = importlib.import_module("autograder.reference.a2_backprop")
    for relative_error in (namespace["relative_error"], reference.relative_error):
        assert np.isclose(relative_error(a, b), 1 / 3)  # per element: counts fully
    (setup,) = [c for c in read("source", "a5_cnn").cells if "def relative_error(" in c.source]
    a5 = {}
    exec(compile(solution_text(setup.source), "a5 setup", "exec"), a5)
    assert a5["relative_error"](a, b) < 1e-5  # global: hardly at all

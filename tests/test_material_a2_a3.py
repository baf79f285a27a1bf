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
from autograder.assignments import spec
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
    test_cell = spec(assignment).test_cell(function)
    test = by_id(read("release", assignment))[test_cell]
    assert "HIDDEN" not in test.source and "autograder" not in test.source
    out = io.StringIO()
    with contextlib.redirect_stdout(out), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a mistake may overflow; its asserts are what this is about
        exec(compile(test.source, test_cell, "exec"), namespace)
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


# ------------------------------------------------------------------------- 3. the visible tests


def _init_weights_random_b2(n_hidden=100, rng=None):
    m = catalogue_a3.init_weights_output_layer_first_row_biases(n_hidden, rng)
    return {**m, "b2": rng.standard_normal(n_hidden)}


def _init_weights_xavier(n_hidden=100, rng=None):
    scale = lambda a, b: np.sqrt(2 / (a + b))  # noqa: E731
    return {"W1": rng.normal(0, scale(2, n_hidden), (2, n_hidden)), "b1": np.zeros(n_hidden),
            "W2": rng.normal(0, scale(n_hidden, n_hidden), (n_hidden, n_hidden)), "b2": np.zeros(n_hidden),
            "W3": rng.normal(0, scale(n_hidden, 2), (n_hidden, 2)), "b3": np.zeros(2)}


def _init_weights_times_0_01(n_hidden=100, rng=None):
    return {k: 0.01 * v for k, v in catalogue_a3.init_weights_output_layer_first_row_biases(n_hidden, rng).items()}


def _init_weights_own_seed(n_hidden=100, rng=None):
    return catalogue_a3.init_weights_output_layer_first_row_biases(n_hidden, np.random.default_rng(0))


def _backward_biases_averaged(model, xs, h1s, h2s, errs):
    g = catalogue_a3._backward(model, xs, h1s, h2s, errs)
    return {k: (v / len(xs) if k.startswith("b") else v) for k, v in g.items()}


def _backward_divides_by_n_twice(model, xs, h1s, h2s, errs):
    return catalogue_a3._backward(model, xs, h1s, h2s, errs, scale=1 / len(xs))


def _backward_derivatives_swapped(model, xs, h1s, h2s, errs):
    d3 = errs / len(xs)
    d2 = d3 @ model["W3"].T * h1s * (1 - h1s)
    d1 = d2 @ model["W2"].T * h2s * (1 - h2s)
    return {"W3": h2s.T @ d3, "b3": d3.sum(0), "W2": h1s.T @ d2, "b2": d2.sum(0), "W1": xs.T @ d1, "b1": d1.sum(0)}


def _grad_wrt_wo_over_n_times_k(h, target, logits):
    return h.T @ (catalogue_a2._softmax(logits) - target) / target.size


def _grad_wrt_bh_over_n_times_k(z_h, w_o, target, logits):
    return np.sum(((catalogue_a2._softmax(logits) - target) / target.size) @ w_o.T * (z_h > 0), axis=0)


# Mistakes beyond the catalogues (which already earn 0 there) that the visible tests must catch too.
EXTRA_MISTAKES = [
    (A3, "init_weights", _init_weights_random_b2),
    (A3, "init_weights", _init_weights_xavier),
    (A3, "init_weights", _init_weights_times_0_01),
    (A3, "init_weights", _init_weights_own_seed),
    (A3, "backward", _backward_biases_averaged),
    (A3, "backward", _backward_divides_by_n_twice),
    (A3, "backward", _backward_derivatives_swapped),
    (A2, "grad_wrt_wo", _grad_wrt_wo_over_n_times_k),
    (A2, "grad_wrt_bh", _grad_wrt_bh_over_n_times_k),
]
FUNCTIONS = {A2: ("grad_wrt_wo", "grad_wrt_bo", "grad_wrt_wh", "grad_wrt_bh"), A3: ("init_weights", "backward")}
CATALOGUES = {A2: catalogue_a2, A3: catalogue_a3}
# Catalogue mistakes (each earns 0 there) that the visible tests must catch: forgetting 1/N, transposes,
# signs, masks, sums, keys, the rng and the distribution.
CATALOGUED_MISTAKES = {
    A2: ["grad_wrt_wo_missing_one_over_n", "grad_wrt_wo_transposed", "grad_wrt_wo_uses_logits_as_probabilities",
         "grad_wrt_wo_target_minus_p", "grad_wrt_bo_not_summed_over_batch", "grad_wrt_bo_mean_after_dividing_by_n",
         "grad_wrt_bo_summed_over_classes", "grad_wrt_wh_without_relu_mask", "grad_wrt_wh_mask_is_h",
         "grad_wrt_wh_sigmoid_derivative_of_h", "grad_wrt_wh_missing_one_over_n", "grad_wrt_wh_forgets_to_transpose_w_o",
         "grad_wrt_wh_transposed", "grad_wrt_bh_not_summed", "grad_wrt_bh_inverted_mask", "grad_wrt_bh_without_mask"],
    A3: ["init_weights_global_random", "init_weights_uniform", "init_weights_lowercase_keys",
         "backward_sums_instead_of_averaging", "backward_without_sigmoid_derivative", "backward_sigmoid_derivative_of_h",
         "backward_target_minus_prediction", "backward_biases_from_first_sample", "backward_returns_dw_names"],
}
MISTAKES = [
    (a, function, fn) for a, catalogue in CATALOGUES.items() for function, fn, _, _, _ in catalogue.MUTANTS
    if fn.__name__ in CATALOGUED_MISTAKES[a]
] + EXTRA_MISTAKES
# Partly right (inputs changed in place, relu'(0) = 1): the visible tests pass them, with a warning.
PARTIAL = [
    (a, function, fn) for a, catalogue in CATALOGUES.items() for function, fn, score, fragment, _ in catalogue.MUTANTS
    if function in FUNCTIONS[a] and score > 0 and ("in place" in fragment or "z_h >= 0" in fragment)
]
CORRECT = [(a, function, fn) for a, catalogue in CATALOGUES.items() for function, fn in catalogue.CORRECT if function in FUNCTIONS[a]]
REFERENCE = [(a, function, getattr(importlib.import_module(spec(a).reference_module), function)) for a in FUNCTIONS for function in FUNCTIONS[a]]


def test_the_mistakes_cover_n_ge_2_and_every_function():
    names = {fn.__name__ for _, _, fn in MISTAKES}
    assert names >= {n for listed in CATALOGUED_MISTAKES.values() for n in listed}  # none renamed away
    assert {(a, f) for a, f, _ in MISTAKES} == {(a, f) for a in FUNCTIONS for f in FUNCTIONS[a]}


@pytest.mark.parametrize("assignment, function, fn", MISTAKES, ids=[fn.__name__ for _, _, fn in MISTAKES])
def test_visible_tests_catch_the_mistake(assignment, function, fn):
    checks = importlib.import_module(spec(assignment).checks_module)
    check = checks.CHECKS[function]
    reference = importlib.import_module(spec(assignment).reference_module)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            hidden = check(*(fn if name == function else getattr(reference, name) for name in check.functions))
        except AssertionError:
            hidden = 0.0
    assert hidden == 0.0, "a visible assert may only fail where the hidden check gives 0 too"
    with pytest.raises(Exception):  # an AssertionError, or the error a wrong shape raises
        _run_visible_tests(assignment, function, fn)


@pytest.mark.parametrize("assignment, function, fn", CORRECT + REFERENCE, ids=[f"{f}:{fn.__module__}.{fn.__name__}" for _, f, fn in CORRECT + REFERENCE])
def test_visible_tests_pass_correct_code_without_warnings(assignment, function, fn):
    out = _run_visible_tests(assignment, function, fn)
    assert f"{function}: visible tests passed" in out and "Warning" not in out, out


@pytest.mark.parametrize("assignment, function, fn", PARTIAL, ids=[fn.__name__ for _, _, fn in PARTIAL])
def test_visible_tests_warn_where_the_hidden_check_deducts(assignment, function, fn):
    out = _run_visible_tests(assignment, function, fn)
    assert f"{function}: visible tests passed" in out and "Warning" in out, out


# ------------------------------------------------------ 4 and 5. a2's 50-epoch run and final table


def _run_training():
    """The notebook's training cell (the default run) and its final table, with the solutions; the
    namespace and what the table printed."""
    import contextlib
    import io

    namespace = _solutions(A2)
    training = _cell(A2, "cell-42-text").source
    assert training.startswith("LONG_RUN = False")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(training, "training", "exec"), namespace)
    table = io.StringIO()
    with contextlib.redirect_stdout(table):
        exec(compile(_cell(A2, "cell-42b-table").source, "table", "exec"), namespace)
    return namespace, table.getvalue()


@pytest.fixture(scope="module")
def default_run():
    return _run_training()


def test_a2_closing_question_describes_the_default_run(default_run):
    history = default_run[0]["history"]
    text = _cell(A2, "cell-43-outro").source
    assert "lowest around\nepoch 40" in text and "rises by about a third" in text and "within two images (of 300)" in text
    val_loss, val_acc, train_loss = (np.array(history[k]) for k in ("val_loss", "val_acc", "train_loss"))
    assert len(val_loss) == 50
    best = int(np.argmin(val_loss))
    assert 38 <= best + 1 <= 42  # "lowest around epoch 40"
    assert 1.25 <= val_loss[-1] / val_loss[best] <= 1.45  # "rises by about a third"
    assert train_loss[-1] < train_loss[best] and np.all(np.diff(train_loss[best:]) < 0.01)  # "keeps falling"
    assert val_acc.max() - val_acc[best:].min() <= 2 / 300 + 1e-9  # "within two images (of 300) of its best"


def test_a2_final_table_has_train_validation_and_test(default_run):
    namespace, table = default_run
    lines = table.strip().splitlines()
    assert lines[0].split() == ["set", "images", "loss", "accuracy"]
    rows = {line.split()[0]: [float(v) for v in line.split()[1:]] for line in lines[1:]}
    assert list(rows) == ["train", "validation", "test"]
    assert [r[0] for r in rows.values()] == [1200, 300, 297]
    history = namespace["history"]
    assert rows["train"][1:] == [round(history["train_loss"][-1], 3), round(history["train_acc"][-1], 3)]
    assert rows["validation"][1:] == [round(history["val_loss"][-1], 3), round(history["val_acc"][-1], 3)]
    assert 0.85 < rows["test"][2] <= 1 and 0 < rows["test"][1] < 1


def test_a2_test_set_is_used_once_at_the_end():
    cells = read("source", A2).cells
    using = [c.get("id") for c in cells if "test_idx" in c.source]
    assert using == ["cell-42-text", "cell-42b-table"]
    training = _cell(A2, "cell-42-text").source
    assert training.count("test_idx") == 1  # where the split is made
    ids = [c.get("id") for c in cells]
    assert all(c.cell_type == "markdown" for c in cells[ids.index("cell-42b-table") + 1 :])


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

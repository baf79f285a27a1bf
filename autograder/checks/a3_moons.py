"""Hidden-test checks for a3_moons: sigmoid, init_weights, forward, backward, gradient_step, train.

backward is compared with the trusted reference and with central finite differences of the trusted
average loss on random models. train starts from a fixed model the check provides (so the result does
not depend on the order in which a student draws initial weights) and must reach the handout's accuracy
on the held-out moons.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..reference import a3_moons as ref
from ..reference.a2_backprop import numerical_gradient
from ._core import Case, Check, Failure, close, deduct_modified_input, dict_pair, expect_ok, fmt, numbers, ratio, shippable

POINTS = {"sigmoid": 1, "init_weights": 1, "forward": 2, "backward": 4, "gradient_step": 1, "train": 2}
KEYS = ref.KEYS


def _model(rng, hidden, scale=1.0):
    return {
        "W1": rng.normal(scale=scale, size=(2, hidden)),
        "b1": rng.normal(scale=0.5, size=hidden),
        "W2": rng.normal(scale=scale, size=(hidden, hidden)),
        "b2": rng.normal(scale=0.5, size=hidden),
        "W3": rng.normal(scale=scale, size=(hidden, 2)),
        "b3": rng.normal(scale=0.5, size=2),
    }


@functools.lru_cache(maxsize=None)
def _networks():
    """name -> (x, target, model): small random problems of several sizes."""
    rng = np.random.default_rng(909)
    out = {}
    for name, n, hidden in (("1 sample, 3 hidden", 1, 3), ("8 samples, 5 hidden", 8, 5), ("32 samples, 16 hidden", 32, 16), ("2 samples, 2 hidden", 2, 2)):
        x = rng.normal(size=(n, 2))
        target = np.eye(2)[rng.integers(0, 2, size=n)]
        out[name] = (x, target, _model(rng, hidden))
    return out


_FD_NET = "8 samples, 5 hidden"


def _check_model_dict(name, value, shapes, what):
    if type(value) is not dict:
        raise Failure(f"{name} returned a {type(value).__name__}; expected a dict with keys {', '.join(KEYS)}", f"{name}.wrong_type")
    missing = [k for k in KEYS if k not in value]
    extra = [k for k in value if k not in KEYS]
    if missing or extra:
        raise Failure(f"{name} must return {what} with exactly the model's keys {', '.join(KEYS)} (missing {missing}, extra {extra})", f"{name}.wrong_keys")
    for k in KEYS:
        got = value[k]
        if got.shape != shapes[k] and not (k.startswith("b") and got.shape == (1,) + shapes[k]):
            raise Failure(f"{name}: {k} has shape {got.shape}, expected {shapes[k]}", f"{name}.wrong_shape")


def _shapes(model):
    return {k: np.shape(v) for k, v in model.items()}


# ------------------------------------------------------------------------------------ sigmoid


def _sigmoid_cases():
    rng = np.random.default_rng(910)
    return [
        Case("known", (np.array([[0.0, 2.0, -2.0]]),)),
        Case("random 6x4", (rng.normal(scale=3, size=(6, 4)),)),
        Case("large magnitudes", (np.array([[-800.0, -50.0, 50.0, 800.0]]),)),
    ]


def _judge_sigmoid(cases, outcomes, report):
    for case in cases:
        out = outcomes[case.name]
        expect_ok("sigmoid", out, case)
        (x,) = case.args
        want = ref.sigmoid(x)
        if close(out.value, want, 1e-9, 1e-12):
            continue
        if out.value.shape != want.shape:
            raise Failure(f"sigmoid returned shape {out.value.shape} for an input of shape {x.shape}", "sigmoid.wrong_shape")
        if close(out.value, 1.0 / (1.0 + np.exp(x)), 1e-9, 1e-12):
            raise Failure("sigmoid has the wrong sign in the exponent: sigmoid(x) = 1 / (1 + exp(-x))", "sigmoid.wrong_sign")
        if case.name == "large magnitudes" and not np.isfinite(out.value).all():
            raise Failure("sigmoid returns nan/inf for large |x| (e.g. exp(x) / (1 + exp(x)) at x = +800): compute it without overflowing", "sigmoid.overflows")
        if close(out.value, np.tanh(x), 1e-9, 1e-12):
            raise Failure("sigmoid returned tanh(x), which lies in (-1, 1): sigmoid(x) = 1 / (1 + exp(-x)) lies in (0, 1)", "sigmoid.tanh")
        raise Failure(f"sigmoid returned wrong values on '{case.name}': expected {fmt(want)}, got {fmt(out.value)}", "sigmoid.wrong_values")


# ------------------------------------------------------------------------------- init_weights


@shippable
def _init_three(fn, n_hidden, seed):
    models = [fn(n_hidden, np.random.default_rng(s)) for s in (seed, seed, seed + 1)]
    if not all(type(m) is dict for m in models):
        return models[0]
    return {f"{k}@{i}": v for i, m in enumerate(models) for k, v in m.items()}


def _init_weights_cases():
    return [Case("hidden 100", (100, 0), call=_init_three), Case("hidden 7", (7, 1), call=_init_three)]


def _judge_init_weights(cases, outcomes, report):
    for case in cases:
        out = outcomes[case.name]
        expect_ok("init_weights", out, case, returns=dict)
        hidden = case.args[0]
        first = {k.removesuffix("@0"): v for k, v in out.value.items() if k.endswith("@0")}
        shapes = {"W1": (2, hidden), "b1": (hidden,), "W2": (hidden, hidden), "b2": (hidden,), "W3": (hidden, 2), "b3": (2,)}
        _check_model_dict("init_weights", first, shapes, "a model")
        for k in KEYS:
            if not np.array_equal(out.value[f"{k}@0"], out.value[f"{k}@1"]):
                raise Failure("init_weights gives different weights for the same rng seed: draw from the rng argument", "init_weights.ignores_rng")
        if np.array_equal(out.value["W2@0"], out.value["W2@2"]):
            raise Failure("init_weights ignores the rng argument: different seeds give the same weights", "init_weights.ignores_rng")
        for k in ("b1", "b2", "b3"):
            if np.any(first[k] != 0):
                raise Failure(f"init_weights: the biases start at 0, but {k} does not", "init_weights.nonzero_biases")
        if hidden >= 100:
            w = first["W2"]
            if not math.isclose(float(np.std(w)), 1.0, rel_tol=0.05) or abs(float(np.mean(w))) > 0.05:
                raise Failure(
                    f"init_weights: W2 has mean {np.mean(w):.3f} and std {np.std(w):.3f}; the handout draws every "
                    "weight from a standard normal distribution (mean 0, std 1)",
                    "init_weights.not_standard_normal",
                )


# ------------------------------------------------------------------------------------ forward


def _forward_cases():
    return [Case(name, (x, model)) for name, (x, _, model) in _networks().items()]


def _judge_forward(cases, outcomes, report):
    for case in cases:
        out = outcomes[case.name]
        if out.ok and type(out.value) is not tuple:
            raise Failure("forward must return three arrays, (h1, h2, y_hat): the hidden layers are needed by backward", "forward.not_three_arrays")
        expect_ok("forward", out, case, returns=tuple)
        x, model = case.args
        want = ref.forward(x, model)
        if len(out.value) != 3:
            raise Failure(f"forward returned {len(out.value)} values; expected three: (h1, h2, y_hat)", "forward.not_three_arrays")
        for label, got, expected in zip(("h1", "h2", "y_hat"), out.value, want):
            if got.shape != expected.shape:
                raise Failure(f"forward: {label} has shape {got.shape}, expected {expected.shape} on '{case.name}'", "forward.wrong_shape")
            if close(got, expected, 1e-7, 1e-10):
                continue
            if label == "y_hat" and close(got, ref.sigmoid(want[1] @ model["W3"] + model["b3"]), 1e-7, 1e-10):
                raise Failure("forward: the output layer uses a sigmoid; it is a softmax over the two classes", "forward.sigmoid_output")
            if label == "y_hat" and not np.allclose(got.sum(axis=1), 1):
                raise Failure(
                    "forward: the rows of y_hat do not sum to 1: the softmax runs over each row (axis 1, the two "
                    "classes of one sample), not over the samples",
                    "forward.softmax_axis0",
                )
            if label == "h2" and close(got, out.value[0] @ model["W2"] + model["b2"], 1e-7, 1e-10):
                raise Failure("forward: h2 is missing its sigmoid: h2 = sigmoid(h1 W2 + b2)", "forward.h2_no_sigmoid")
            raise Failure(f"forward: {label} is wrong on '{case.name}': expected {fmt(expected)}, got {fmt(got)}", f"forward.wrong_{label}")
    deduct_modified_input(report, "forward", cases, outcomes, ("x", "model"))


# ----------------------------------------------------------------------------------- backward


def _backward_args(x, target, model):
    h1, h2, y_hat = ref.forward(x, model)
    return model, x, h1, h2, y_hat - target


def _backward_cases():
    return [Case(name, _backward_args(x, t, m)) for name, (x, t, m) in _networks().items()]


def _finite_differences(x, target, model):
    grads = {}
    for k in KEYS:
        params = {name: v.copy() for name, v in model.items()}
        grads[k] = numerical_gradient(lambda _: ref.loss(x, target, params), params[k])
    return grads


def _backward_mistake(got, model, xs, h1s, h2s, errs):
    """(message, mistake id) for a known mistake that explains got (a dict of gradients), or None."""
    n = xs.shape[0]
    want = ref.backward(model, xs, h1s, h2s, errs)
    r = ratio(np.concatenate([got[k].ravel() for k in KEYS]), np.concatenate([want[k].ravel() for k in KEYS]))
    if r is not None and n > 1 and math.isclose(r, n, rel_tol=1e-6):
        return f"the gradients are {n}x too large: the loss is an average over N samples, divide by N", "backward.not_divided_by_n"
    if r is not None and math.isclose(r, -1, rel_tol=1e-6):
        return "the gradients have the wrong sign: errs = y_hat - target, and the gradient points uphill", "backward.wrong_sign"
    d3 = errs / n
    variants = {
        ("the sigmoid derivative is missing: multiply the back-propagated error by h (1 - h) at each hidden layer", "backward.no_sigmoid_derivative"): (
            lambda h: np.ones_like(h)
        ),
        ("h is already sigmoid(z), so its derivative is h (1 - h), not sigmoid(h) (1 - sigmoid(h))", "backward.sigmoid_of_h_derivative"): (
            lambda h: ref.sigmoid(h) * (1 - ref.sigmoid(h))
        ),
    }
    for (message, mistake), derivative in variants.items():
        d2 = (d3 @ model["W3"].T) * derivative(h2s)
        d1 = (d2 @ model["W2"].T) * derivative(h1s)
        if close(got["W1"], xs.T @ d1, 1e-6, 1e-10):
            return message, mistake
    return None


def _judge_backward(cases, outcomes, report):
    for case in cases:
        out = outcomes[case.name]
        expect_ok("backward", out, case, returns=dict)
        model, xs, h1s, h2s, errs = case.args
        _check_model_dict("backward", out.value, _shapes(model), "gradients")
        got = {k: out.value[k].reshape(np.shape(model[k])) for k in KEYS}
        want = ref.backward(*case.args)
        wrong = [k for k in KEYS if not close(got[k], want[k], 1e-6, 1e-10)]
        if wrong:
            known = _backward_mistake(got, *case.args)
            if known:
                message, mistake = known
                raise Failure(f"backward: {message}", mistake)
            if wrong == ["b1", "b2", "b3"] or set(wrong) <= {"b1", "b2", "b3"}:
                raise Failure(f"backward: the bias gradients {', '.join(wrong)} are wrong: sum the per-sample deltas over the batch", "backward.bias_not_summed")
            k = wrong[0]
            raise Failure(f"backward: {', '.join(wrong)} wrong on '{case.name}'; e.g. {k}: expected {fmt(want[k])}, got {fmt(got[k])}", "backward.wrong_values")
        if case.name == _FD_NET:
            x, target, _ = _networks()[case.name]
            numeric = _finite_differences(x, target, model)
            off = [k for k in KEYS if not close(got[k], numeric[k], 1e-5, 1e-8)]
            if off:
                raise Failure(f"backward disagrees with finite differences of the loss for {', '.join(off)}", "backward.disagrees_with_finite_differences")
    deduct_modified_input(report, "backward", cases, outcomes, ("model", "xs", "h1s", "h2s", "errs"), 1.0)


# ------------------------------------------------------------------------------ gradient_step


def _step_cases():
    rng = np.random.default_rng(911)
    model = _model(rng, 4)
    grads = {k: rng.normal(size=v.shape) for k, v in model.items()}
    return [Case("hidden 4, lr 0.1", (model, grads, 0.1)), Case("hidden 4, lr 2.5", (model, grads, 2.5))]


def _judge_gradient_step(cases, outcomes, report):
    for case in cases:
        out = outcomes[case.name]
        expect_ok("gradient_step", out, case, returns=dict)
        model, grads, lr = case.args
        _check_model_dict("gradient_step", out.value, _shapes(model), "a model")
        want = ref.gradient_step(model, grads, lr)
        for k in KEYS:
            got = out.value[k].reshape(model[k].shape)
            if close(got, want[k], 1e-12, 1e-12):
                continue
            if close(got, model[k] + lr * grads[k], 1e-12, 1e-12):
                raise Failure("gradient_step goes uphill: subtract lr * gradient", "gradient_step.uphill")
            if close(got, model[k] - grads[k], 1e-12, 1e-12):
                raise Failure("gradient_step ignores the learning rate: w - lr * gradient", "gradient_step.ignores_lr")
            raise Failure(f"gradient_step: {k} is wrong with lr {lr}: expected {fmt(want[k])}, got {fmt(got)}", "gradient_step.wrong_values")
    deduct_modified_input(report, "gradient_step", cases, outcomes, ("model", "grads", "lr"))


# -------------------------------------------------------------------------------------- train

_TRAIN_SEED = 4  # reference test accuracy with this start: 0.963 (the handout reports 0.939)
_MIN_ACCURACY = 0.93


@functools.lru_cache(maxsize=None)
def moons_split():
    """The handout's data: make_moons(5000, noise 0.1, seed 42), 30% held out (seed 42)."""
    from sklearn.datasets import make_moons
    from sklearn.model_selection import train_test_split

    x, y = make_moons(n_samples=5000, noise=0.1, random_state=42)
    return train_test_split(x, y, test_size=0.3, random_state=42)


@shippable
def _train_call(fn, model, x, target, lr, steps):
    return fn(model, x, target, lr=lr, steps=steps)


def _train_convert(result):
    value, losses, error = dict_pair(result, "(model, losses)", "a model that is")
    if error:
        return None, False, error
    curve = numbers(losses)
    if curve is None:
        return None, False, "returned losses that are not a list of numbers"
    return {**value, "losses": curve}, False, None


def _train_cases():
    x_train, _, y_train, _ = moons_split()
    model = ref.init_weights(100, np.random.default_rng(_TRAIN_SEED))
    return [Case("handout: 50 steps, lr 0.1, hidden 100", (model, x_train, np.eye(2)[y_train], 0.1, 50), call=_train_call)]


def _judge_train(cases, outcomes, report):
    case = cases[0]
    out = outcomes[case.name]
    expect_ok("train", out, case, returns=dict)
    model = case.args[0]
    trained = {k: v for k, v in out.value.items() if k != "losses"}
    _check_model_dict("train", trained, _shapes(model), "a model")
    losses = out.value["losses"]
    if losses.shape != (case.args[4],):
        raise Failure(f"train returned {losses.size} losses for {case.args[4]} steps: one per step", "train.wrong_losses_length")
    _, x_test, _, y_test = moons_split()
    accuracy = float(np.mean(ref.forward(x_test, trained)[2].argmax(axis=1) == y_test))
    if not accuracy >= _MIN_ACCURACY:
        raise Failure(
            f"after 50 steps from the check's starting model the test accuracy is {accuracy:.3f}; a correct "
            f"implementation reaches {_MIN_ACCURACY} or more (the handout: 0.939). Check backward and gradient_step",
            "train.low_accuracy",
        )
    if not losses[-1] < losses[0]:
        raise Failure("train's losses do not go down: record the loss at every step", "train.loss_not_decreasing")
    deduct_modified_input(report, "train", cases, outcomes, ("model", "x", "target", "lr", "steps"))


check_sigmoid = Check("sigmoid", POINTS["sigmoid"], _sigmoid_cases, _judge_sigmoid)
check_init_weights = Check("init_weights", POINTS["init_weights"], _init_weights_cases, _judge_init_weights)
check_forward = Check("forward", POINTS["forward"], _forward_cases, _judge_forward)
check_backward = Check("backward", POINTS["backward"], _backward_cases, _judge_backward)
check_gradient_step = Check("gradient_step", POINTS["gradient_step"], _step_cases, _judge_gradient_step)
check_train = Check("train", POINTS["train"], _train_cases, _judge_train, _train_convert)

CHECKS = {c.name: c for c in (check_sigmoid, check_init_weights, check_forward, check_backward, check_gradient_step, check_train)}

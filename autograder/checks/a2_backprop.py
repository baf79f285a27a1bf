"""Hidden-test checks for a2_backprop.

Gradient functions are compared with the trusted reference on several network shapes (one of them
square, so a transposed product gives wrong values rather than an error, and one with pre-activations
exactly 0) and, on one network, with central finite differences of the trusted loss. The gradient
checker is checked against exact answers, the scalar network against the handout's numbers, and
training against a loss threshold on a small fixed problem.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..reference import a2_backprop as ref
from ..reference.a1_helpers import relu, softmax
from ._core import Case, Check, Failure, close, deduct_modified_input, dict_pair, error_mistake, expect_ok, fmt, numbers, ratio, shippable
from ._momentum import MomentumWords, momentum_judge, momentum_steps

POINTS = {
    "grad_wrt_wo": 2,
    "grad_wrt_bo": 1,
    "grad_wrt_wh": 3,
    "grad_wrt_bh": 2,
    "numerical_gradient": 2,
    "relative_error": 1,
    "scalar_forward": 1,
    "scalar_backward": 2,
    "init_params": 1,
    "momentum_update": 2,
    "train": 2,
}

# ------------------------------------------------------------------------------- networks

# (name, N, D, H, K); "square" makes every transposition shape-compatible, "zeros" has rows whose
# pre-activations are exactly 0, where relu'(0) = 0 matters.
_SHAPES = [
    ("one sample 1x3 -> 4 -> 2", 1, 3, 4, 2),
    ("batch 5x4 -> 6 -> 3", 5, 4, 6, 3),
    ("batch 16x8 -> 10 -> 5", 16, 8, 10, 5),
    ("square 6x6 -> 6 -> 6", 6, 6, 6, 6),
    ("exact zeros 7x3 -> 5 -> 4", 7, 3, 5, 4),
]
_FD_NET = "batch 5x4 -> 6 -> 3"  # also checked against finite differences of the loss
_ZEROS_NET = "exact zeros 7x3 -> 5 -> 4"


@functools.lru_cache(maxsize=None)
def _nets():
    rng = np.random.default_rng(707)
    nets = {}
    for name, n, d, h, k in _SHAPES:
        x = rng.normal(size=(n, d))
        params = {
            "w_h": rng.normal(size=(d, h)),
            "b_h": rng.normal(scale=0.5, size=h),
            "w_o": rng.normal(size=(h, k)),
            "b_o": rng.normal(size=k),
        }
        target = np.eye(k)[rng.integers(0, k, size=n)]
        z_h, hidden, logits = ref.forward(x, params)
        if name == _ZEROS_NET:
            # Pre-activations exactly 0 (as ReLU nets produce, e.g. after a zeroed input), with h and the
            # logits recomputed from them: only relu'(0) separates > 0 from >= 0 here.
            z_h[:4, :3] = 0.0
            hidden = relu(z_h)
            logits = hidden @ params["w_o"] + params["b_o"]
        nets[name] = dict(x=x, target=target, z_h=z_h, h=hidden, logits=logits, **params)
    return nets


def _finite_difference(net, param):
    params = {k: net[k].copy() for k in ("w_h", "b_h", "w_o", "b_o")}
    return ref.numerical_gradient(lambda _: ref.loss(net["x"], net["target"], params), params[param], eps=1e-6)


def _as_shape(value, shape, allow_row=False):
    """The value in the expected shape, accepting (1, H) for a bias of shape (H,)."""
    if allow_row and len(shape) == 1 and value.shape == (1, shape[0]):
        return value.reshape(shape)
    return value


def _gradient_check(name, param, arg_names, make_args, wrong_forms):
    """A Check for one parameter gradient; wrong_forms is [(net -> value, mistake, message)] of known mistakes (the
    mistake's id is "<name>.<mistake>")."""
    is_bias = param.startswith("b_")

    def make_cases():
        return [Case(n, make_args(net)) for n, net in _nets().items()]

    def judge(cases, outcomes, report):
        for case in cases:
            if case.name == _ZEROS_NET:
                continue
            net = _nets()[case.name]
            want = getattr(ref, name)(*case.args)
            if not outcomes[case.name].ok:
                shapes = ", ".join(f"{a} {v.shape}" for a, v in zip(arg_names, case.args))
                raise Failure(
                    f"{name} {outcomes[case.name].error} on network '{case.name}' (shapes here: {shapes}; "
                    f"the result should be {want.shape}, the shape of {param})",
                    error_mistake(name, outcomes[case.name].error),
                )
            expect_ok(name, outcomes[case.name], case)
            got = _as_shape(outcomes[case.name].value, want.shape, allow_row=is_bias)
            if not close(got, want, 1e-6, 1e-10):
                raise Failure(*_diagnose(name, param, got, want, net, wrong_forms, case.name))
            if case.name == _FD_NET and not close(got, _finite_difference(net, param), 1e-5, 1e-8):
                raise Failure(f"{name} disagrees with finite differences of the loss on '{case.name}'", f"{name}.disagrees_with_finite_differences")

        if _ZEROS_NET in outcomes:
            case = next(c for c in cases if c.name == _ZEROS_NET)
            out = outcomes[_ZEROS_NET]
            want = getattr(ref, name)(*case.args)
            got = _as_shape(out.value, want.shape, allow_row=is_bias) if out.ok and isinstance(out.value, np.ndarray) else None
            if got is None or not close(got, want, 1e-6, 1e-10):
                report.deduct(
                    0.5,
                    f"{name} is wrong where a pre-activation z_h is exactly 0: relu'(0) is taken as 0 in this "
                    "course, so use (z_h > 0), not (z_h >= 0)",
                    f"{name}.relu_derivative_at_zero",
                )

        deduct_modified_input(report, name, cases, outcomes, arg_names)

    return Check(name, POINTS[name], make_cases, judge)


def _diagnose(name, param, got, want, net, wrong_forms, case_name):
    """(message, mistake id) for a gradient that is not the reference's."""
    n = net["x"].shape[0]
    if got.shape != want.shape:
        if got.shape == want.shape[::-1] and len(want.shape) == 2:
            return f"{name} returned the transpose (shape {got.shape}, expected {want.shape}): check the order of the product", f"{name}.transposed"
        if param.startswith("b_") and got.shape == (n, want.shape[0]):
            return (
                f"{name} returned one row per sample {got.shape}: sum the per-sample gradients over the batch (axis 0)",
                f"{name}.not_summed_over_batch",
            )
        return f"{name} returned shape {got.shape}; expected {want.shape} (the shape of {param})", f"{name}.wrong_shape"
    r = ratio(got, want)
    if r is not None and n > 1:
        if math.isclose(r, n, rel_tol=1e-6):
            return f"{name} is {n}x too large: the loss is an average over N samples, so the gradient carries 1/N", f"{name}.not_divided_by_n"
        if math.isclose(r, 1 / n, rel_tol=1e-6):
            return f"{name} is {n}x too small: divide by N once (did you average over the batch after dividing by N?)", f"{name}.divided_by_n_twice"
    if r is not None and math.isclose(r, -1, rel_tol=1e-6):
        return f"{name} has the wrong sign: the output error is p - t, not t - p", f"{name}.wrong_sign"
    for form, mistake, message in wrong_forms:
        try:
            value = form(net)
        except ValueError:  # this mistake is shape-incompatible with this network
            continue
        if value.shape == got.shape and close(got, value, 1e-6, 1e-10):
            return f"{name}: {message}", f"{name}.{mistake}"
    return f"{name} returned wrong values on network '{case_name}': expected {fmt(want)}, got {fmt(got)}", f"{name}.wrong_values"


def _error(net):
    return (softmax(net["logits"]) - net["target"]) / net["x"].shape[0]


def _masked(mask):
    return lambda net: (_error(net) @ net["w_o"].T) * mask(net)


_HIDDEN_ERROR_MISTAKES = [
    (_masked(lambda net: 1.0), "no_relu_derivative", "the ReLU derivative is missing: multiply the back-propagated error by (z_h > 0)"),
    (_masked(lambda net: relu(net["z_h"])), "multiplied_by_h", "you multiplied by h itself; the ReLU derivative is the indicator (z_h > 0)"),
    (
        _masked(lambda net: relu(net["z_h"]) * (1 - relu(net["z_h"]))),
        "sigmoid_derivative",
        "you used the sigmoid's derivative h(1 - h); ReLU's derivative is 1 where z_h > 0, else 0",
    ),
    (_masked(lambda net: net["z_h"] < 0), "inverted_relu_mask", "the ReLU mask is inverted: keep the error where z_h > 0"),
    (
        lambda net: (_error(net) @ net["w_o"]) * (net["z_h"] > 0),
        "w_o_not_transposed",
        "use w_o.T to send the error back from the outputs to the hidden units",
    ),
]
_NO_SOFTMAX = "apply softmax to the logits before subtracting the target"


def _n(net):
    return net["x"].shape[0]


check_grad_wrt_wo = _gradient_check(
    "grad_wrt_wo",
    "w_o",
    ("h", "target", "logits"),
    lambda net: (net["h"], net["target"], net["logits"]),
    [
        (lambda net: _error(net).T @ net["h"], "transposed_product", "the product is transposed: it is h.T @ (p - t) / N"),
        (lambda net: net["h"].T @ (net["logits"] - net["target"]) / _n(net), "no_softmax", _NO_SOFTMAX),
    ],
)
check_grad_wrt_bo = _gradient_check(
    "grad_wrt_bo",
    "b_o",
    ("target", "logits"),
    lambda net: (net["target"], net["logits"]),
    [(lambda net: np.sum(net["logits"] - net["target"], axis=0) / _n(net), "no_softmax", _NO_SOFTMAX)],
)
check_grad_wrt_wh = _gradient_check(
    "grad_wrt_wh",
    "w_h",
    ("x", "z_h", "w_o", "target", "logits"),
    lambda net: (net["x"], net["z_h"], net["w_o"], net["target"], net["logits"]),
    [(lambda net, form=form: net["x"].T @ form(net), mistake, message) for form, mistake, message in _HIDDEN_ERROR_MISTAKES]
    + [
        (
            lambda net: ((_error(net) @ net["w_o"].T) * (net["z_h"] > 0)).T @ net["x"],
            "transposed_product",
            "the product is transposed: it is x.T @ delta_h",
        )
    ],
)
check_grad_wrt_bh = _gradient_check(
    "grad_wrt_bh",
    "b_h",
    ("z_h", "w_o", "target", "logits"),
    lambda net: (net["z_h"], net["w_o"], net["target"], net["logits"]),
    [(lambda net, form=form: np.sum(form(net), axis=0), mistake, message) for form, mistake, message in _HIDDEN_ERROR_MISTAKES],
)

# ----------------------------------------------------------------------- gradient checking


@shippable
def _cubic(x):
    return float(np.sum(x**3))


@shippable
def _sin_weighted(w, a):
    return float(np.sum(np.sin(w) * a))


@shippable
def _network_loss(w_o, x, target, w_h, b_h, b_o):
    """The average cross-entropy of the a2 network as a function of w_o (self-contained: it is shipped)."""
    logits = np.maximum(x @ w_h + b_h, 0) @ w_o + b_o
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-np.sum(target * log_p) / x.shape[0])


_A = np.random.default_rng(808).normal(size=(3, 4))


def _numerical_gradient_cases():
    rng = np.random.default_rng(809)
    net = _nets()[_FD_NET]
    network_loss = functools.partial(
        _network_loss, x=net["x"], target=net["target"], w_h=net["w_h"], b_h=net["b_h"], b_o=net["b_o"]
    )
    return [
        Case("cubic, 1-D x", (_cubic, rng.normal(size=5))),
        Case("sin weighted, 2-D x", (functools.partial(_sin_weighted, a=_A), rng.normal(size=(3, 4)))),
        Case("cubic, eps = 1e-3", (_cubic, rng.normal(size=(2, 3)), 1e-3)),
        Case("network loss w.r.t. w_o", (network_loss, net["w_o"].copy())),
    ]


def _judge_numerical_gradient(cases, outcomes, report):
    exact = {
        "cubic, 1-D x": lambda x: 3 * x**2,
        "sin weighted, 2-D x": lambda x: np.cos(x) * _A,
        # Central differences of a cubic are exactly 3x^2 + eps^2: this pins both the formula and the
        # use of the eps argument (a forward difference is off by 3 x eps).
        "cubic, eps = 1e-3": lambda x: 3 * x**2 + 1e-6,
        "network loss w.r.t. w_o": lambda _: ref.grad_wrt_wo(*(_nets()[_FD_NET][k] for k in ("h", "target", "logits"))),
    }
    for case in cases:
        out = outcomes[case.name]
        expect_ok("numerical_gradient", out, case)
        x = case.args[1]
        want = exact[case.name](x)
        got = out.value
        if got.shape != want.shape:
            raise Failure(f"numerical_gradient returned shape {got.shape} for x of shape {x.shape}: one entry per entry of x", "numerical_gradient.wrong_shape")
        tol = (1e-9, 1e-12) if case.name == "cubic, eps = 1e-3" else (1e-5, 1e-7)
        if close(got, want, *tol):
            continue
        r = ratio(got, want)
        if r is not None and math.isclose(r, 2, rel_tol=1e-3):
            raise Failure("numerical_gradient is 2x too large: central differences divide by 2 * eps", "numerical_gradient.twice_too_large")
        if r is not None and math.isclose(r, 0.5, rel_tol=1e-3):
            raise Failure("numerical_gradient is 2x too small: divide (f(x + eps) - f(x - eps)) by 2 * eps", "numerical_gradient.twice_too_small")
        if case.name == "cubic, eps = 1e-3":
            forward = 3 * x**2 + 3 * x * 1e-3 + 1e-6
            if close(got, forward, 1e-6, 1e-9) or close(got, 3 * x**2 - 3 * x * 1e-3 + 1e-6, 1e-6, 1e-9):
                raise Failure("numerical_gradient uses a one-sided difference: use central differences (f(x+eps) - f(x-eps)) / (2 eps)", "numerical_gradient.one_sided_difference")
            raise Failure(
                "numerical_gradient ignores its eps argument or does not use central differences: with eps = 1e-3 "
                f"expected {fmt(want, 8)}, got {fmt(got, 8)}",
                "numerical_gradient.ignores_eps",
            )
        if out.mutated:
            raise Failure("numerical_gradient leaves x perturbed: restore x[i] after evaluating f(x + eps) and f(x - eps)", "numerical_gradient.leaves_x_perturbed")
        raise Failure(f"numerical_gradient returned wrong values on '{case.name}': expected {fmt(want)}, got {fmt(got)}", "numerical_gradient.wrong_values")
    deduct_modified_input(
        report, "numerical_gradient", cases, outcomes, ("f", "x", "eps"),
        note=lambda case, changed: "numerical_gradient does not leave x as it found it: restore every entry after perturbing it",
    )


def _pair(a, b):
    return np.asarray(a, dtype=float), np.asarray(b, dtype=float)


def _relative_error_cases():
    rng = np.random.default_rng(810)
    a = rng.normal(size=(4, 5))
    b = a * (1 + rng.uniform(0.05, 0.2, size=a.shape))
    return [
        Case("equal", _pair(a, a)),
        Case("tiny difference", _pair(a, a * (1 + 1e-7))),
        Case("10% apart", (a, b)),
        Case("10% apart, scaled 1e6", (a * 1e6, b * 1e6)),
        Case("10% apart, scaled 1e-6", (a * 1e-6, b * 1e-6)),
        Case("10% apart, swapped", (b, a)),
        Case("1 and 2", _pair([[1.0, 1.0]], [[2.0, 2.0]])),
        Case("both zero", _pair(np.zeros(3), np.zeros(3))),
    ]


def _judge_relative_error(cases, outcomes, report):
    values = {}
    for case in cases:
        out = outcomes[case.name]
        if case.name == "both zero":
            continue
        expect_ok("relative_error", out, case)
        if out.value.size != 1:
            raise Failure(f"relative_error returned an array of shape {out.value.shape}: return one number (e.g. the max)", "relative_error.not_one_number")
        values[case.name] = float(out.value.reshape(()))
    if not all(math.isfinite(v) for v in values.values()):
        raise Failure(f"relative_error returned nan/inf: {values}", "relative_error.nonfinite")
    if min(values.values()) < 0:
        raise Failure("relative_error is negative for some inputs: take the absolute value of a - b", "relative_error.negative")
    if values["equal"] > 1e-12:
        raise Failure(f"relative_error of two equal arrays should be 0, got {values['equal']:.3g}", "relative_error.nonzero_for_equal_arrays")
    base = values["10% apart"]
    for scaled in ("10% apart, scaled 1e6", "10% apart, scaled 1e-6"):
        if not math.isclose(values[scaled], base, rel_tol=1e-6):
            raise Failure(
                "relative_error changes when both arrays are scaled (got "
                f"{base:.3g} and {values[scaled]:.3g}): divide |a - b| by the size of a and b, or it is an absolute error",
                "relative_error.absolute_error",
            )
    if not 1e-9 <= values["tiny difference"] <= 2e-7:
        raise Failure(f"relative_error of arrays that differ by 1e-7 (relative) should be about 1e-7, got {values['tiny difference']:.3g}", "relative_error.wrong_for_tiny_difference")
    if not 0.3 <= values["1 and 2"] <= 1.0:
        raise Failure(f"relative_error(1, 2) should be between 1/3 and 1 depending on the definition, got {values['1 and 2']:.3g}", "relative_error.wrong_values")
    if not 0.02 <= values["10% apart, swapped"] <= 0.25 or not 0.02 <= base <= 0.25:
        raise Failure(f"relative_error of arrays 5-20% apart should be about 0.05-0.2, got {base:.3g}", "relative_error.wrong_values")
    zero = outcomes["both zero"]
    if not zero.ok or zero.value.size != 1 or not np.isfinite(zero.value).all() or float(zero.value.reshape(())) > 1e-12:
        report.deduct(
            0.5,
            "relative_error of two zero arrays is not 0 (nan from 0/0?): divide by max(|a| + |b|, 1e-8) or similar",
            "relative_error.nan_for_zeros",
        )


# ----------------------------------------------------------------------- the scalar network

_HANDOUT = ([1.0, -1.0], [[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0]], [0.0, 0.0, 0.0], [[1.0, 1.0], [-1.0, -1.0], [-1.0, -1.0]], [0.0, 0.0])


def _random_scalar_net(rng, n_in, n_hidden, n_out):
    def mat(r, c):
        return [[float(v) for v in row] for row in rng.normal(size=(r, c))]

    return (
        [float(v) for v in rng.normal(size=n_in)],
        mat(n_in, n_hidden),
        [float(v) for v in rng.normal(size=n_hidden)],
        mat(n_hidden, n_out),
        [float(v) for v in rng.normal(size=n_out)],
    )


def _scalar_cases(with_target):
    rng = np.random.default_rng(811)
    nets = [
        ("handout network", _HANDOUT, 0),
        ("random 2 -> 3 -> 2", _random_scalar_net(rng, 2, 3, 2), 1),
        ("random 3 -> 4 -> 3", _random_scalar_net(rng, 3, 4, 3), 2),
        ("random 4 -> 2 -> 5", _random_scalar_net(rng, 4, 2, 5), 0),
    ]
    return [Case(name, net + ((target,) if with_target else ())) for name, net, target in nets]


def _not_plain_python(obj):
    """The first leaf that is not a Python int or float (None when everything is plain Python)."""
    if type(obj) in (int, float):
        return None
    if type(obj) in (list, tuple):
        for v in obj:
            leaf = _not_plain_python(v)
            if leaf is not None:
                return leaf
        return None
    return obj


def _lists_to_plain(result):
    """(tuple of arrays, False, error) from a tuple of (nested) lists of Python floats."""
    if type(result) not in (tuple, list):
        return None, False, f"returned a {type(result).__name__}; expected a tuple of lists"
    items = []
    for i, item in enumerate(result):
        leaf = _not_plain_python(item)
        if leaf is not None:
            kind = type(leaf)
            return None, False, (
                f"returned item {i} containing a {kind.__module__}.{kind.__name__}, not Python floats: this network "
                "is written with lists, loops and the math module only (no numpy)"
            )
        try:
            items.append(np.array(item, dtype=np.float64))
        except ValueError:
            return None, False, f"returned item {i} as a ragged list: every row must have the same length"
    return tuple(items), False, None


def _judge_scalar(name, outputs, cases, outcomes):
    for case in cases:
        out = outcomes[case.name]
        expect_ok(name, out, case, returns=tuple)
        want = getattr(ref, name)(*case.args)
        if len(out.value) != len(want):
            raise Failure(f"{name} returned {len(out.value)} items; expected {len(want)}: ({', '.join(outputs)})", f"{name}.wrong_item_count")
        for label, got, expected in zip(outputs, out.value, want):
            expected = np.array(expected)
            if got.shape != expected.shape:
                transposed = got.shape == expected.shape[::-1]
                hint = " (transposed?)" if transposed else ""
                raise Failure(
                    f"{name}: {label} has shape {got.shape}, expected {expected.shape}{hint} on '{case.name}'",
                    f"{name}.transposed" if transposed else f"{name}.wrong_shape",
                )
            if not close(got, expected, 1e-9, 1e-12):
                raise Failure(
                    f"{name}: {label} is wrong on '{case.name}': expected {fmt(expected, 6)}, got {fmt(got, 6)}"
                    + _scalar_hint(label),
                    f"{name}.wrong_{label.lower()}",
                )


def _scalar_hint(label):
    hints = {
        "dV": " (dV[j][k] = h_j (p_k - y_k))",
        "dc": " (dc = p - y with y one-hot for the target class)",
        "dW": " (dW[i][j] = x_i * dh_j * h_j (1 - h_j): the sigmoid's derivative is h(1 - h))",
        "p": " (p = softmax(h V + c))",
        "h": " (h = sigmoid(x W + b))",
    }
    return hints.get(label, "")


def _judge_scalar_forward(cases, outcomes, report):
    _judge_scalar("scalar_forward", ("h", "p"), cases, outcomes)


def _judge_scalar_backward(cases, outcomes, report):
    _judge_scalar("scalar_backward", ("dW", "db", "dV", "dc"), cases, outcomes)
    deduct_modified_input(report, "scalar_backward", cases, outcomes, ("x", "W", "b", "V", "c", "target"))


# ------------------------------------------------------------------------------- training


@shippable
def _init_twice(fn, n_in, n_hidden, n_out, seed):
    """Two calls with generators of the same seed: the result must depend on the rng, nothing else."""
    first = fn(n_in, n_hidden, n_out, np.random.default_rng(seed))
    second = fn(n_in, n_hidden, n_out, np.random.default_rng(seed))
    third = fn(n_in, n_hidden, n_out, np.random.default_rng(seed + 1))
    if type(first) is not dict or type(second) is not dict or type(third) is not dict:
        return first
    return {f"{k}@{i}": v for i, d in enumerate((first, second, third)) for k, v in d.items()}


def _init_params_cases():
    return [
        Case("784 -> 1000 -> 10", (784, 1000, 10, 0), call=_init_twice),
        Case("3 -> 5 -> 2", (3, 5, 2, 1), call=_init_twice),
    ]


def _judge_init_params(cases, outcomes, report):
    keys = ("w_h", "b_h", "w_o", "b_o")
    for case in cases:
        out = outcomes[case.name]
        expect_ok("init_params", out, case, returns=dict)
        n_in, n_hidden, n_out, _ = case.args
        got = out.value
        missing = [k for k in keys if f"{k}@0" not in got]
        if missing:
            raise Failure(f"init_params must return a dict with keys {', '.join(keys)}; missing {', '.join(missing)}", "init_params.missing_keys")
        shapes = {"w_h": (n_in, n_hidden), "b_h": (n_hidden,), "w_o": (n_hidden, n_out), "b_o": (n_out,)}
        for k, shape in shapes.items():
            value = got[f"{k}@0"]
            if value.shape != shape and not (k.startswith("b_") and value.shape == (1,) + shape):
                raise Failure(f"init_params: {k} has shape {value.shape}, expected {shape}", "init_params.wrong_shape")
        for k in ("b_h", "b_o"):
            if np.any(got[f"{k}@0"] != 0):
                raise Failure(f"init_params: the biases start at zero, but {k} does not", "init_params.nonzero_biases")
        for k in keys:
            if not np.array_equal(got[f"{k}@0"], got[f"{k}@1"]):
                raise Failure("init_params gives different weights for the same rng seed: draw from the rng argument, not np.random", "init_params.ignores_rng")
        if np.array_equal(got["w_h@0"], got["w_h@2"]):
            raise Failure("init_params ignores the rng argument: different seeds give the same weights", "init_params.ignores_rng")
        if n_hidden >= 1000:
            for k, fan_in, fan_out in (("w_h", n_in, n_hidden), ("w_o", n_hidden, n_out)):
                w = got[f"{k}@0"]
                want_std = math.sqrt(2.0 / (fan_in + fan_out))
                std, mean = float(np.std(w)), float(np.mean(w))
                if not math.isclose(std, want_std, rel_tol=0.03):
                    hint, std_mistake = "", "init_params.wrong_std"
                    if math.isclose(std, want_std**2, rel_tol=0.03):
                        hint, std_mistake = ": you used the variance as the standard deviation; take its square root", "init_params.variance_as_std"
                    elif math.isclose(std, math.sqrt(2.0 / fan_in), rel_tol=0.03):
                        hint, std_mistake = ": that is He initialisation (2 / fan_in); Xavier uses both fans", "init_params.he_init"
                    raise Failure(
                        f"init_params: {k} has standard deviation {std:.4g}; Xavier-normal uses variance "
                        f"2 / (fan_in + fan_out), i.e. std {want_std:.4g}{hint}",
                        std_mistake,
                    )
                if abs(mean) > 5 * want_std / math.sqrt(w.size):
                    raise Failure(f"init_params: {k} has mean {mean:.3g}; the weights are drawn with mean 0", "init_params.nonzero_mean")


def _momentum_cases():
    rng = np.random.default_rng(812)

    def grads(shape, n=4):
        return tuple(rng.normal(size=shape) for _ in range(n))

    return [
        Case("weights 3x4, alpha 0.1, gamma 0.9", (rng.normal(size=(3, 4)), grads((3, 4)), {"learning_rate": 0.1, "momentum": 0.9}), call=momentum_steps),
        Case("bias (5,), alpha 0.01, gamma 0.99", (rng.normal(size=5), grads(5), {"learning_rate": 0.01, "momentum": 0.99}), call=momentum_steps),
        Case("gamma 0 (plain gradient descent)", (rng.normal(size=(2, 2)), grads((2, 2)), {"learning_rate": 0.5, "momentum": 0.0}), call=momentum_steps),
    ]


_judge_momentum_update = momentum_judge(
    "momentum_update",
    ref.momentum_update,
    lambda w: (1e-9, 1e-12),
    MomentumWords(
        rule="v = gamma * v + alpha * dw; w = w - v",
        carry="keep the velocity in config['velocity'] and return that config so the next call uses it",
        no_velocity=(
            "momentum_update moves w by alpha * dw only: the velocity is ignored or not carried to the next "
            "call. Use v = gamma * v + alpha * dw, keep v in config['velocity'] and return that config"
        ),
        new_array="return a new array (w = w - v, not w -= v) so the caller's weights only change when it assigns the result",
    ),
)


def _train_problem():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = digits.data / 16.0
    t = np.eye(10)[digits.target]
    return x[:300], t[:300], x[300:400], t[300:400]


_TRAIN_SETTINGS = dict(n_hidden=32, epochs=100, alpha=0.1, gamma=0.9, seed=0)
_TRAIN_LOSS_LIMIT = 0.1  # the reference reaches about 0.02 here; without momentum the loss stays above 0.3


@shippable
def _call_train(fn, x, t, x_val, t_val, settings):
    return fn(x, t, x_val, t_val, **settings)


def _train_convert(result):
    value, history, error = dict_pair(result, "(params, history)", "params that are")
    if error:
        return None, False, error
    if type(history) is not dict:
        return None, False, f"returned a history of type {type(history).__name__}; expected a dict of per-epoch lists"
    curves = {}
    for key, series in history.items():
        values = numbers(series, flatten=True)
        if type(key) is not str or values is None:
            return None, False, f"history['{key}'] is not a list of numbers"
        curves[f"history:{key}"] = values
    return {**value, **curves}, False, None


def _train_cases():
    return [Case("300 digits, hidden 32, 100 epochs", (*_train_problem(), dict(_TRAIN_SETTINGS)), call=_call_train)]


def _judge_train(cases, outcomes, report):
    case = cases[0]
    out = outcomes[case.name]
    expect_ok("train", out, case, returns=dict)
    got = out.value
    missing = [k for k in ("w_h", "b_h", "w_o", "b_o") if k not in got]
    if missing:
        raise Failure(f"train must return params with keys w_h, b_h, w_o, b_o; missing {', '.join(missing)}", "train.missing_keys")
    for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
        series = got.get(f"history:{key}")
        if series is None:
            raise Failure(f"train's history has no '{key}'", "train.missing_history")
        if series.shape != (_TRAIN_SETTINGS["epochs"],):
            raise Failure(f"history['{key}'] has {series.size} entries for {_TRAIN_SETTINGS['epochs']} epochs: one per epoch", "train.history_wrong_length")
    x, t = case.args[0], case.args[1]
    params = {k: got[k] for k in ("w_h", "b_h", "w_o", "b_o")}
    try:
        final = float(ref.loss(x, t, params))
    except ValueError as exc:
        raise Failure(f"train returned parameters of the wrong shapes ({exc})", "train.wrong_shapes") from None
    if not math.isfinite(final) or final > _TRAIN_LOSS_LIMIT:
        raise Failure(
            f"after {_TRAIN_SETTINGS['epochs']} epochs (hidden {_TRAIN_SETTINGS['n_hidden']}, alpha 0.1, gamma 0.9) the "
            f"training loss of the returned parameters is {final:.3g}; a correct implementation reaches below "
            f"{_TRAIN_LOSS_LIMIT}. Check your gradients and that every parameter gets a momentum update",
            "train.loss_too_high",
        )
    losses = got["history:train_loss"]
    if not losses[-1] < losses[0]:
        raise Failure("history['train_loss'] does not go down: record the loss of each epoch", "train.loss_not_decreasing")


# ---------------------------------------------------------------------------------- checks

check_numerical_gradient = Check("numerical_gradient", POINTS["numerical_gradient"], _numerical_gradient_cases, _judge_numerical_gradient)
check_relative_error = Check("relative_error", POINTS["relative_error"], _relative_error_cases, _judge_relative_error)
check_scalar_forward = Check("scalar_forward", POINTS["scalar_forward"], lambda: _scalar_cases(False), _judge_scalar_forward, _lists_to_plain)
check_scalar_backward = Check("scalar_backward", POINTS["scalar_backward"], lambda: _scalar_cases(True), _judge_scalar_backward, _lists_to_plain)
check_init_params = Check("init_params", POINTS["init_params"], _init_params_cases, _judge_init_params)
check_momentum_update = Check("momentum_update", POINTS["momentum_update"], _momentum_cases, _judge_momentum_update)
check_train = Check("train", POINTS["train"], _train_cases, _judge_train, _train_convert)

CHECKS = {
    c.name: c
    for c in (
        check_grad_wrt_wo,
        check_grad_wrt_bo,
        check_grad_wrt_wh,
        check_grad_wrt_bh,
        check_numerical_gradient,
        check_relative_error,
        check_scalar_forward,
        check_scalar_backward,
        check_init_params,
        check_momentum_update,
        check_train,
    )
}

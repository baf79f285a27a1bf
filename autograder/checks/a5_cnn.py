"""Hidden-test checks for a5_cnn: TensorFlow-style layers (NHWC, HWIO, SAME/VALID), Adam, the network, training.

Oracles: forward values come from the loop implementations in ``reference/a5_naive.py``; every backward pass is
judged against central finite differences (float64) of the trusted forward pass, with ``reference/a5_cnn.py``'s
backward used only to name mistakes. A backward check calls the student's own forward pass to make the cache it
hands to their backward pass (``needs``), and first makes sure that forward pass is right on the input.

The cases are small, of odd and non-square sizes, channel counts that differ, strides 1 to 3 and both paddings
(SAME with the extra padding row/column at the bottom/right, as TensorFlow), so a naive loop implementation is
checked in well under a second. Dropout is random, so it is judged by properties (identity at inference, every
output 0 or x / keep_prob, the kept fraction, the rng argument is used, the backward pass reuses the mask). The
network is checked on a small instance of the handout architecture (7x7 images, 4 filters, 6 hidden units),
and the training loop both against the reference on a deterministic epoch and by learning a toy problem.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..reference import a5_cnn as ref
from ..reference import a5_naive as naive
from ..reference.a2_backprop import numerical_gradient
from ._core import Case, Check, Failure, deduct_modified_input, driver_value, expect_ok, fmt, shippable, watch_backward

POINTS = {
    "tf_padding": 1,
    "conv2d_forward": 3,
    "conv2d_backward": 4,
    "relu_forward": 1,
    "relu_backward": 1,
    "batch_norm_forward": 3,
    "batch_norm_backward": 3,
    "max_pool_forward": 2,
    "max_pool_backward": 2,
    "dropout_forward": 2,
    "dropout_backward": 1,
    "dense_forward": 1,
    "dense_backward": 2,
    "softmax_cross_entropy_with_logits": 2,
    "l2_loss": 1,
    "adam_update": 3,
    "cnn_forward": 2,
    "cnn_backward": 3,
    "train_epoch": 3,
}

# Largest |got - expected| relative to the largest |expected|: float64 code is within 1e-13 of the oracles and
# finite differences within 1e-9 here, every mistake below is off by more than 1e-3, and a student who computes
# in float32 somewhere (1e-7) still passes.
VALUE_TOL = 1e-6
GRAD_TOL = 1e-5
SAME_NOTE = "TensorFlow's SAME padding puts the extra row/column of an odd pad_total at the bottom/right"


# ------------------------------------------------------------------------------------------- helpers


def _scale_error(got, want):
    """max |got - want| / max |want| (inf when the shapes differ or a non-finite value appears)."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape or not np.all(np.isfinite(got)):
        return math.inf
    scale = max(float(np.max(np.abs(want), initial=0.0)), 1e-12)
    return float(np.max(np.abs(got - want), initial=0.0)) / scale


def _agree(got, want, tol=VALUE_TOL):
    return _scale_error(got, want) <= tol


def _spread(rng, shape):
    """Values in (-1, 1), all at least 0.8 / n apart and away from 0: no max-pool tie and no ReLU kink is within
    reach of a finite-difference step."""
    n = int(np.prod(shape))
    return ((rng.permutation(n) - n / 2 + rng.uniform(0.2, 0.8, n)) * (2 / n)).reshape(shape)


def _numeric(forward, arrays, dout):
    """Central differences of sum(forward(*arrays) * dout) with respect to each of the arrays (float64)."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    return [numerical_gradient(lambda _: float(np.sum(forward(*arrays) * dout)), a) for a in arrays]


# Drivers: trusted code sent into the verification sandbox by its source; only their arguments, np, math and
# functools are available there, so each is self-contained. What they return when the student's function returns
# something they cannot use: see "Drivers" in _core's docstring (driver_value reads it).


@shippable
def _forward_output(fn, *args):
    """The output of a forward pass that must return (out, cache)."""
    result = fn(*args)
    if type(result) is not tuple or len(result) != 2:
        return {"returned a " + type(result).__name__ + " instead of the pair (out, cache)": np.zeros(0)}
    return result[0]


@watch_backward
def _forward_then_backward(fns, dout, *args):
    """(out, gradients...) of a forward/backward pair: the backward pass gets the cache its forward pass made."""
    forward, backward = fns
    result = forward(*args)
    if type(result) is not tuple or len(result) < 2:
        return {"its forward pass returned a " + type(result).__name__ + " instead of a tuple (out, cache, ...)": np.zeros(0)}
    grads = backward(dout, result[1])
    return (result[0],) + (grads if type(grads) is tuple else (grads,))


# --------------------------------------------------------------------------------------- tf_padding

# (size, k, stride, padding), judged by ref.tf_padding, which tests/test_reference_a5.py holds to hand-worked values;
# odd totals (pad 0 above, 1 below), a window larger than the input, and a stride larger than the window.
_PADDING_ROWS = [
    (28, 3, 1, "SAME"), (6, 3, 2, "SAME"), (7, 3, 2, "SAME"), (8, 4, 1, "SAME"), (5, 2, 2, "SAME"),
    (28, 2, 2, "SAME"), (3, 5, 1, "SAME"), (4, 1, 3, "SAME"), (9, 4, 3, "SAME"), (8, 1, 3, "SAME"),
    (28, 3, 1, "VALID"), (7, 3, 2, "VALID"), (6, 3, 2, "VALID"), (5, 5, 3, "VALID"), (9, 2, 4, "VALID"),
]


@shippable
def _padding_table(fn, rows):
    """One row (out, before, after) per (size, k, stride, padding)."""
    table = []
    for row in rows:
        values = fn(*row)
        if type(values) not in (tuple, list) or len(values) != 3:
            return {"returned " + repr(values)[:40] + " instead of the three numbers (out, pad_before, pad_after)": np.zeros(0)}
        table.append([float(v) for v in values])
    return np.array(table)


def _padding_cases():
    return [Case("TF's rule on 15 sizes", ([list(r) for r in _PADDING_ROWS],), call=_padding_table)]


def _judge_tf_padding(cases, outcomes, report):
    case = cases[0]
    got = driver_value("tf_padding", outcomes[case.name], case)
    rows = case.args[0]
    for row, values in zip(rows, got):
        size, k, stride, padding = row
        want = ref.tf_padding(size, k, stride, padding)
        if tuple(values) == want:
            continue
        out, before, after = (int(v) for v in values)
        where = f"size {size}, window {k}, stride {stride}, {padding}"
        if padding == "VALID":
            if before or after:
                raise Failure(f"tf_padding({where}) gave padding ({before}, {after}): VALID means no padding at all", "tf_padding.valid_padded")
            raise Failure(f"tf_padding({where}) gave out = {out}; VALID: out = ceil((size - k + 1) / stride) = {want[0]}", "tf_padding.valid_wrong_out")
        if out != want[0]:
            raise Failure(f"tf_padding({where}) gave out = {out}; SAME: out = ceil(size / stride) = {want[0]}", "tf_padding.same_wrong_out")
        if (before, after) == want[::-1][:2]:
            raise Failure(f"tf_padding({where}) gave ({before}, {after}), expected {want[1:]}: {SAME_NOTE}", "tf_padding.same_padding_swapped")
        if before + after != want[1] + want[2]:
            raise Failure(
                f"tf_padding({where}) pads {before + after} in total, expected {want[1] + want[2]}: "
                "pad_total = max((out - 1) * stride + k - size, 0)",
                "tf_padding.wrong_pad_total",
            )
        raise Failure(f"tf_padding({where}) gave {(out, before, after)}, expected {want}", "tf_padding.wrong_values")


# -------------------------------------------------------------------------------------- convolution

# (N, H, W, C_in, KH, KW, C_out, stride, padding): odd and even sizes, non-square images and kernels,
# C_in == C_out once (so a transposed filter gives wrong values rather than an error).
_CONV_SHAPES = [
    (2, 6, 6, 1, 3, 3, 4, 1, "SAME"),
    (2, 6, 7, 2, 3, 3, 3, 2, "SAME"),  # 6 with stride 2: pad 0 above and 1 below
    (1, 8, 5, 2, 4, 3, 2, 1, "SAME"),  # even kernel: pad 1 above, 2 below
    (3, 7, 6, 2, 2, 2, 2, 2, "SAME"),  # C_in == C_out
    (2, 7, 9, 3, 3, 2, 4, 2, "VALID"),
    (1, 9, 8, 1, 2, 3, 2, 3, "VALID"),
    (2, 4, 5, 3, 1, 1, 2, 1, "SAME"),
]


def _conv_name(shape):
    n, h, w, c, kh, kw, co, s, p = shape
    return f"x {(n, h, w, c)}, w {(kh, kw, c, co)}, stride {s}, {p}"


@functools.lru_cache(maxsize=None)
def _conv_problems():
    rng = np.random.default_rng(5001)
    problems = {}
    for shape in _CONV_SHAPES:
        n, h, w, c, kh, kw, co, s, p = shape
        x, wt, b = rng.normal(size=(n, h, w, c)), rng.normal(size=(kh, kw, c, co)), rng.normal(size=co)
        out_shape = naive.conv2d_forward(x, wt, b, s, p)[0].shape
        problems[_conv_name(shape)] = ((x, wt, b, s, p), rng.normal(size=out_shape))
    return problems


def _pad(x, top, bottom, left, right):
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))


def _conv_variants(x, w, b, stride, padding):
    """{(message, mistake): output} of mistakes in conv2d_forward; the mistake's id is "conv2d_forward.<mistake>"."""
    kh, kw, c_in, c_out = w.shape
    want = naive.conv2d_forward(x, w, b, stride, padding)[0]
    _, top, bottom = ref.tf_padding(x.shape[1], kh, stride, padding)
    _, left, right = ref.tf_padding(x.shape[2], kw, stride, padding)
    variants = {}
    if (top, left) != (bottom, right):
        variants[(f"SAME padding on the wrong side: {SAME_NOTE} (pad_top = pad_total // 2)", "padding_on_wrong_side")] = naive.conv2d_forward(
            _pad(x, bottom, top, right, left), w, b, stride, "VALID"
        )[0]
    if padding == "SAME":
        variants[(
            "SAME padding of k // 2 on every side is right only for odd kernels and stride 1: "
            "pad_total = max((out - 1) * stride + k - in, 0), pad_top = pad_total // 2, the rest at the bottom",
            "padding_k_over_2",
        )] = naive.conv2d_forward(_pad(x, kh // 2, kh // 2, kw // 2, kw // 2), w, b, stride, "VALID")[0]
    variants[("the bias b is missing: add b[c_out] to every output", "no_bias")] = want - b
    variants[("the kernel is flipped: tf.nn.conv2d is a cross-correlation, use w[i, j] as it is", "kernel_flipped")] = naive.conv2d_forward(
        x, w[::-1, ::-1], b, stride, padding
    )[0]
    if c_in == c_out:
        variants[("channel order: filters are HWIO, w[kh, kw, c_in, c_out]; you swapped c_in and c_out", "channels_swapped")] = (
            naive.conv2d_forward(x, w.transpose(0, 1, 3, 2), b, stride, padding)[0]
        )
    return variants


def _shape_hint(got, want, stride, padding):
    if padding == "SAME":
        rule = "SAME: out = ceil(in / stride)"
    else:
        rule = "VALID: out = ceil((in - k + 1) / stride)"
    return f"returned shape {got.shape}, expected {want.shape} ({rule}, stride {stride}; NHWC in, NHWC out)"


_CONV_ARGS = ("x", "w", "b", "stride", "padding")
_CONV_HINT = ": x is NHWC (N, H, W, C_in), w is HWIO (KH, KW, C_in, C_out), b is (C_out,) and stride an int"


def _conv_forward_cases():
    return [Case(name, args, call=_forward_output) for name, (args, _) in _conv_problems().items()]


def _judge_conv2d_forward(cases, outcomes, report):
    for case in cases:
        got = driver_value("conv2d_forward", outcomes[case.name], case, _CONV_HINT)
        x, w, b, stride, padding = case.args
        want = naive.conv2d_forward(x, w, b, stride, padding)[0]
        if _agree(got, want):
            continue
        if got.shape != want.shape:
            raise Failure(f"conv2d_forward {_shape_hint(got, want, stride, padding)} on '{case.name}'", "conv2d_forward.wrong_shape")
        for (message, mistake), value in _conv_variants(x, w, b, stride, padding).items():
            if value.shape == got.shape and _agree(got, value):
                raise Failure(f"conv2d_forward: {message} (test input '{case.name}')", f"conv2d_forward.{mistake}")
        raise Failure(f"conv2d_forward is wrong on '{case.name}': expected {fmt(want)}, got {fmt(got)}", "conv2d_forward.wrong_values")
    deduct_modified_input(report, "conv2d_forward", cases, outcomes, _CONV_ARGS)


@functools.lru_cache(maxsize=None)
def _conv_expected(name):
    """(dx, dw, db) by central differences of the trusted forward pass."""
    (x, w, b, stride, padding), dout = _conv_problems()[name]
    return _numeric(lambda x, w, b: ref.conv2d_forward(x, w, b, stride, padding)[0], (x, w, b), dout)


def _conv_backward_cases():
    return [Case(name, (dout, *args), call=_forward_then_backward) for name, (args, dout) in _conv_problems().items()]


def _conv_dx_variants(x, w, b, stride, padding, dout):
    kh, kw = w.shape[:2]
    _, top, bottom = ref.tf_padding(x.shape[1], kh, stride, padding)
    _, left, right = ref.tf_padding(x.shape[2], kw, stride, padding)
    xp = _pad(x, top, bottom, left, right)
    dxp = naive.conv2d_backward(dout, naive.conv2d_forward(xp, w, b, stride, "VALID")[1])[0]
    h, wd = x.shape[1:3]
    variants = {}
    if (top, left) != (bottom, right):
        variants[(f"dx is cropped out of the padded gradient at the wrong offset: {SAME_NOTE}, so crop "
                  "dx_padded[:, pad_top:pad_top + H, pad_left:pad_left + W]", "dx_cropped_at_wrong_offset")] = dxp[:, bottom : bottom + h, right : right + wd]
    variants[("dx uses the kernel flipped: send dout * w[i, j] back to the cell the forward pass read", "dx_kernel_flipped")] = naive.conv2d_backward(
        dout, naive.conv2d_forward(xp, w[::-1, ::-1], b, stride, "VALID")[1]
    )[0][:, top : top + h, left : left + wd]
    return variants


def _judge_conv2d_backward(cases, outcomes, report):
    for case in cases:
        value = driver_value("conv2d_backward", outcomes[case.name], case, _CONV_HINT)
        dout, x, w, b, stride, padding = case.args
        if not isinstance(value, tuple) or len(value) != 4:
            raise Failure(f"conv2d_backward must return three gradients (dx, dw, db); got {len(value) - 1} on '{case.name}'", "conv2d_backward.wrong_return")
        out, dx, dw, db = value
        if not _agree(out, naive.conv2d_forward(x, w, b, stride, padding)[0]):
            raise Failure(
                f"conv2d_backward is checked with the cache of your conv2d_forward, which is wrong on '{case.name}': "
                "fix conv2d_forward first",
                "conv2d_backward.forward_wrong",
            )
        want_dx, want_dw, want_db = _conv_expected(case.name)
        if db.shape == (1, b.size) or db.shape == (1, 1, 1, b.size):
            db = db.reshape(b.shape)
        if _agree(dx, want_dx, GRAD_TOL) and _agree(dw, want_dw, GRAD_TOL) and _agree(db, want_db, GRAD_TOL):
            continue
        where = f"(test input '{case.name}', checked against finite differences of the forward pass)"
        if not _agree(db, want_db, GRAD_TOL):
            if db.shape != b.shape:
                raise Failure(f"conv2d_backward: db has shape {db.shape}, expected {b.shape}: sum dout over N, H and W {where}", "conv2d_backward.db_wrong_shape")
            if _agree(db, want_db / dout.shape[0], GRAD_TOL):
                raise Failure(f"conv2d_backward: db is divided by the batch size: sum dout over N, H and W, no mean {where}", "conv2d_backward.db_divided_by_n")
            raise Failure(f"conv2d_backward: db is wrong: it is the sum of dout over N, H and W {where}", "conv2d_backward.db_wrong")
        if not _agree(dw, want_dw, GRAD_TOL):
            if dw.shape != w.shape:
                raise Failure(f"conv2d_backward: dw has shape {dw.shape}, expected the filters' {w.shape} (HWIO) {where}", "conv2d_backward.dw_wrong_shape")
            if _agree(dw, want_dw / x.shape[0], GRAD_TOL):
                raise Failure(f"conv2d_backward: dw is divided by the batch size: sum over the batch, no mean {where}", "conv2d_backward.dw_divided_by_n")
            if _agree(dw, want_dw[::-1, ::-1], GRAD_TOL):
                raise Failure(f"conv2d_backward: dw is flipped: dw[i, j] collects dout times the input cell that w[i, j] met {where}", "conv2d_backward.dw_flipped")
            raise Failure(f"conv2d_backward: dw is wrong {where}: expected {fmt(want_dw)}, got {fmt(dw)}", "conv2d_backward.dw_wrong")
        if dx.shape != x.shape:
            raise Failure(
                f"conv2d_backward: dx has shape {dx.shape} but x has {x.shape}: the gradient with respect to the "
                f"padded input must be cropped back to x (remove the padding) {where}",
                "conv2d_backward.dx_not_cropped",
            )
        for (message, mistake), variant in _conv_dx_variants(x, w, b, stride, padding, dout).items():
            if _agree(dx, variant, GRAD_TOL):
                raise Failure(f"conv2d_backward: {message} {where}", f"conv2d_backward.{mistake}")
        raise Failure(f"conv2d_backward: dx is wrong {where}: expected {fmt(want_dx)}, got {fmt(dx)}", "conv2d_backward.dx_wrong")
    deduct_modified_input(report, "conv2d_backward", cases, outcomes, ("dout", *_CONV_ARGS), only=(0,))


# --------------------------------------------------------------------------------------------- ReLU


@functools.lru_cache(maxsize=None)
def _relu_problems():
    rng = np.random.default_rng(5002)
    with_zeros = rng.normal(size=(3, 4, 4, 2))
    with_zeros[0, :2] = 0.0  # exact zeros, as a ReLU network produces: relu'(0) is taken as 0
    problems = {
        "x (2, 5, 5, 3)": _spread(rng, (2, 5, 5, 3)),
        "x (6, 10)": _spread(rng, (6, 10)),
        "x (3, 4, 4, 2) with exact zeros": with_zeros,
    }
    return {name: (x, rng.uniform(0.5, 1.5, size=x.shape) * rng.choice([-1, 1], size=x.shape)) for name, x in problems.items()}


_RELU_ZEROS = "x (3, 4, 4, 2) with exact zeros"


def _relu_forward_cases():
    return [Case(name, (x,), call=_forward_output) for name, (x, _) in _relu_problems().items()]


def _judge_relu_forward(cases, outcomes, report):
    for case in cases:
        got = driver_value("relu_forward", outcomes[case.name], case)
        (x,) = case.args
        want = np.maximum(x, 0)
        if _agree(got, want):
            continue
        if got.shape != want.shape:
            raise Failure(f"relu_forward returned shape {got.shape} for x of shape {x.shape}", "relu_forward.wrong_shape")
        if np.any(got[x < 0] < 0):
            raise Failure(
                f"relu_forward returned negative values for negative x (test input '{case.name}'): relu(x) = max(x, 0) "
                "is never negative (a leaky ReLU is another function)",
                "relu_forward.negative_values",
            )
        raise Failure(f"relu_forward is wrong on '{case.name}': max(x, 0) elementwise; expected {fmt(want)}, got {fmt(got)}", "relu_forward.wrong_values")
    deduct_modified_input(report, "relu_forward", cases, outcomes, ("x",))


def _relu_backward_cases():
    return [Case(name, (dout, x), call=_forward_then_backward) for name, (x, dout) in _relu_problems().items()]


def _judge_relu_backward(cases, outcomes, report):
    for case in cases:
        value = driver_value("relu_backward", outcomes[case.name], case)
        dout, x = case.args
        if not isinstance(value, tuple) or len(value) != 2:
            raise Failure(f"relu_backward must return one array, dx; got {len(value) - 1} values", "relu_backward.wrong_return")
        out, dx = value
        if not _agree(out, np.maximum(x, 0)):
            raise Failure(f"relu_backward is checked with the cache of your relu_forward, which is wrong on '{case.name}': fix relu_forward first", "relu_backward.forward_wrong")
        want = dout * (x > 0)
        if _agree(dx, want):
            continue
        if case.name == _RELU_ZEROS and _agree(dx, dout * (x >= 0)):
            report.deduct(0.5, "relu_backward passes the gradient where x == 0: the derivative at 0 is taken as 0 (use x > 0)", "relu_backward.gradient_at_zero")
            continue
        if dx.shape != x.shape:
            raise Failure(f"relu_backward: dx has shape {dx.shape}, expected x's {x.shape}", "relu_backward.wrong_shape")
        if _agree(dx, dout * np.maximum(x, 0)):
            raise Failure("relu_backward multiplies dout by relu(x); multiply by the 0/1 mask (x > 0)", "relu_backward.multiplied_by_relu")
        if _agree(dx, dout * (dout > 0)) or _agree(dx, np.maximum(dout, 0)):
            raise Failure("relu_backward masks with the sign of dout; the mask is where the forward's input was positive", "relu_backward.mask_from_dout")
        raise Failure(f"relu_backward is wrong on '{case.name}': dx = dout where x > 0, else 0", "relu_backward.wrong_values")
    deduct_modified_input(report, "relu_backward", cases, outcomes, ("dout", "x"), only=(0,))


# ------------------------------------------------------------------------------- batch normalisation

_BN_SHAPES = {  # name: (shape, training, momentum or None for the default)
    "training, x (4, 3, 5, 2)": ((4, 3, 5, 2), True, None),
    "training, momentum 0.9, x (2, 4, 4, 3)": ((2, 4, 4, 3), True, 0.9),
    "training, x (6, 2, 3, 4)": ((6, 2, 3, 4), True, None),
    "inference, x (3, 4, 4, 3)": ((3, 4, 4, 3), False, None),
    "inference, one sample (1, 3, 3, 2)": ((1, 3, 3, 2), False, None),
}


@functools.lru_cache(maxsize=None)
def _bn_problems():
    rng = np.random.default_rng(5003)
    problems = {}
    for name, (shape, training, momentum) in _BN_SHAPES.items():
        c = shape[-1]
        # every channel, sample and row has its own offset and scale, so moments over a wrong axis are far off
        x = rng.normal(size=shape) * rng.uniform(0.5, 3, size=(shape[0], 1, 1, c)) + rng.uniform(-2, 2, size=(1, shape[1], 1, c))
        if name.startswith("training, x (6"):
            x[..., 0] *= 0.01  # a channel of variance ~1e-4, where the place of eps (1e-5) matters
        running = {"mean": rng.normal(size=c), "var": rng.uniform(0.5, 2.0, size=c)}
        args = (x, running, training) if momentum is None else (x, running, training, momentum)
        problems[name] = (args, rng.normal(size=shape))
    return problems


@shippable
def _batch_norm_outputs(fn, *args):
    """(y, new running mean, new running var) of batch_norm_forward(x, running, training[, momentum])."""
    result = fn(*args)
    if type(result) is not tuple or len(result) != 3:
        return {"returned a " + type(result).__name__ + " instead of the triple (y, cache, new_running)": np.zeros(0)}
    y, _, new = result
    if type(new) is not dict or "mean" not in new or "var" not in new:
        return {"returned new_running as a " + type(new).__name__ + " instead of a dict with 'mean' and 'var'": np.zeros(0)}
    return y, new["mean"], new["var"]


def _bn_forward_cases():
    return [Case(name, args, call=_batch_norm_outputs) for name, (args, _) in _bn_problems().items()]


def _bn_normalise(x, axes, ddof=0, eps=ref.BN_EPSILON, eps_outside=False):
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, ddof=ddof, keepdims=True)
    return (x - mean) / (np.sqrt(var) + eps if eps_outside else np.sqrt(var + eps))


_WRONG_AXES = "wrong axis for the batch-norm moments: one mean and one variance per channel, over N, H and W"


def _bn_variants(x):
    """{(message, mistake): y} of mistakes in batch_norm_forward; the mistake's id is "batch_norm_forward.<mistake>"."""
    return {
        (f"{_WRONG_AXES} (axes 0, 1, 2); you averaged over the batch axis only", "batch_axis_only"): _bn_normalise(x, (0,)),
        (f"{_WRONG_AXES} (axes 0, 1, 2); you averaged over H and W of each sample", "per_sample"): _bn_normalise(x, (1, 2)),
        (f"{_WRONG_AXES} (axes 0, 1, 2); you averaged over the channels", "over_channels"): _bn_normalise(x, (3,)),
        (f"{_WRONG_AXES} (axes 0, 1, 2); you took one mean and variance of the whole batch", "whole_batch"): _bn_normalise(x, (0, 1, 2, 3)),
        ("use the biased variance (divide by the count, as tf.nn.moments), not ddof=1", "unbiased_variance"): _bn_normalise(x, (0, 1, 2), ddof=1),
        ("epsilon goes inside the square root: (x - mean) / sqrt(var + eps)", "eps_outside_sqrt"): _bn_normalise(x, (0, 1, 2), eps_outside=True),
    }


def _judge_batch_norm_forward(cases, outcomes, report):
    deductions = {}
    for case in cases:
        got = driver_value("batch_norm_forward", outcomes[case.name], case)
        x, running, training = case.args[:3]
        momentum = case.args[3] if len(case.args) > 3 else ref.BN_MOMENTUM
        y, new_mean, new_var = got
        if training:
            want, cache = naive.batch_norm_forward(x)
            if not _agree(y, want):
                if y.shape != x.shape:
                    raise Failure(f"batch_norm_forward returned y of shape {y.shape} for x of shape {x.shape}", "batch_norm_forward.wrong_shape")
                for (message, mistake), variant in _bn_variants(x).items():
                    if _agree(y, variant):
                        raise Failure(f"batch_norm_forward (training): {message} (test input '{case.name}')", f"batch_norm_forward.{mistake}")
                raise Failure(f"batch_norm_forward (training) is wrong on '{case.name}': expected {fmt(want)}, got {fmt(y)}", "batch_norm_forward.wrong_values")
            batch_mean, batch_var = cache["mean"], cache["var"]
            want_mean = momentum * running["mean"] + (1 - momentum) * batch_mean
            want_var = momentum * running["var"] + (1 - momentum) * batch_var
            if _agree(new_mean, want_mean) and _agree(new_var, want_var):
                continue
            if _agree(new_mean, running["mean"]) and _agree(new_var, running["var"]):
                deductions["stale"] = (1, "the running averages are not updated in training mode")
            elif _agree(new_mean, (1 - momentum) * running["mean"] + momentum * batch_mean):
                deductions["momentum"] = (1, "running averages: Keras's convention is running = momentum * running + "
                                             "(1 - momentum) * batch, with momentum 0.99 (PyTorch's momentum is 1 minus this)")
            elif _agree(new_mean, want_mean) and _agree(new_var, momentum * running["var"] + (1 - momentum) * x.var(axis=(0, 1, 2), ddof=1)):
                deductions["unbiased"] = (0.5, "the running variance averages the biased batch variance (as tf.nn.moments), not ddof=1")
            else:
                deductions["running"] = (1, f"the running averages are wrong on '{case.name}': running = momentum * running + "
                                            "(1 - momentum) * batch moments, for the mean and the variance")
        else:
            want = naive.batch_norm_inference(x, running["mean"], running["var"])
            if not _agree(y, want):
                if y.shape == x.shape and _agree(y, naive.batch_norm_forward(x)[0]):
                    deductions["inference"] = (1, "inference mode (training=False) must normalise with the running averages, "
                                                  "not with the batch's own moments")
                else:
                    raise Failure(f"batch_norm_forward (inference) is wrong on '{case.name}': (x - running mean) / "
                                  f"sqrt(running var + eps); expected {fmt(want)}, got {fmt(y)}", "batch_norm_forward.wrong_inference")
            if not (_agree(new_mean, running["mean"]) and _agree(new_var, running["var"])):
                deductions["inference update"] = (0.5, "inference mode must return the running averages unchanged")
    mistakes = {"stale": "running_not_updated", "momentum": "pytorch_momentum", "unbiased": "unbiased_running_var",
                "running": "wrong_running_averages", "inference": "batch_moments_at_inference",
                "inference update": "running_changed_at_inference"}
    for key, (points, message) in deductions.items():
        report.deduct(points, f"batch_norm_forward: {message}", f"batch_norm_forward.{mistakes[key]}")
    deduct_modified_input(report, "batch_norm_forward", cases, outcomes, ("x", "running", "training", "momentum"))


def _bn_backward_cases():
    return [Case(name, (dout, *args), call=_forward_then_backward) for name, (args, dout) in _bn_problems().items() if "one sample" not in name]


@functools.lru_cache(maxsize=None)
def _bn_expected(name):
    (x, running, training, *rest), dout = _bn_problems()[name]
    (dx,) = _numeric(lambda x: ref.batch_norm_forward(x, running, training)[0], (x,), dout)
    return dx


def _judge_batch_norm_backward(cases, outcomes, report):
    for case in cases:
        value = driver_value("batch_norm_backward", outcomes[case.name], case)
        dout, x, running, training = case.args[:4]
        if not isinstance(value, tuple) or len(value) != 2:
            raise Failure(f"batch_norm_backward must return one array, dx; got {len(value) - 1} values", "batch_norm_backward.wrong_return")
        y, dx = value
        want_y = naive.batch_norm_forward(x)[0] if training else naive.batch_norm_inference(x, running["mean"], running["var"])
        if not _agree(y, want_y):
            raise Failure(
                f"batch_norm_backward is checked with the cache of your batch_norm_forward, which is wrong on "
                f"'{case.name}': fix batch_norm_forward first",
                "batch_norm_backward.forward_wrong",
            )
        want = _bn_expected(case.name)
        if _agree(dx, want, GRAD_TOL):
            continue
        where = f"(test input '{case.name}', checked against finite differences of the forward pass)"
        if dx.shape != x.shape:
            raise Failure(f"batch_norm_backward: dx has shape {dx.shape}, expected x's {x.shape}", "batch_norm_backward.wrong_shape")
        if not training:
            inv_std = 1 / np.sqrt(running["var"] + ref.BN_EPSILON)
            xhat = (x - running["mean"]) * inv_std
            if _agree(dx, inv_std * (dout - dout.mean(axis=(0, 1, 2)) - xhat * (dout * xhat).mean(axis=(0, 1, 2))), GRAD_TOL):
                report.deduct(1, "batch_norm_backward: in inference mode the normaliser is a constant, so dx = dout / "
                                 "sqrt(running var + eps); you used the training-mode formula", "batch_norm_backward.training_formula_at_inference")
                continue
            raise Failure(f"batch_norm_backward (inference) is wrong {where}: dx = dout / sqrt(running var + eps)", "batch_norm_backward.wrong_inference")
        inv_std = 1 / np.sqrt(x.var(axis=(0, 1, 2)) + ref.BN_EPSILON)
        xhat = naive.batch_norm_forward(x)[0]
        if _agree(dx, dout * inv_std, GRAD_TOL):
            raise Failure(
                "batch_norm_backward treats the batch mean and variance as constants, but they depend on x too: "
                f"dx = inv_std * (dout - mean(dout) - xhat * mean(dout * xhat)), means over N, H and W {where}",
                "batch_norm_backward.moments_as_constants",
            )
        if _agree(dx, inv_std * (dout - dout.mean(axis=(0, 1, 2))), GRAD_TOL):
            raise Failure(f"batch_norm_backward is missing the variance's term, - xhat * mean(dout * xhat) {where}", "batch_norm_backward.no_variance_term")
        wrong_axes = inv_std * (dout - dout.mean(axis=0) - xhat * (dout * xhat).mean(axis=0))
        if _agree(dx, wrong_axes, GRAD_TOL):
            raise Failure(f"batch_norm_backward: {_WRONG_AXES}: the means in dx are over N, H and W too {where}", "batch_norm_backward.wrong_axes")
        raise Failure(f"batch_norm_backward is wrong {where}: expected {fmt(want)}, got {fmt(dx)}", "batch_norm_backward.wrong_values")
    deduct_modified_input(report, "batch_norm_backward", cases, outcomes, ("dout", "x", "running", "training", "momentum"), only=(0,))


# -------------------------------------------------------------------------------------- max pooling

_POOL_SHAPES = {  # name: (x shape, size, stride, padding, values)
    "2x2 stride 2 SAME, x (2, 6, 6, 3)": ((2, 6, 6, 3), 2, 2, "SAME", "spread"),
    "2x2 stride 2 SAME, odd x (1, 7, 5, 2)": ((1, 7, 5, 2), 2, 2, "SAME", "spread"),
    "2x2 stride 2 SAME, all negative, x (2, 5, 5, 2)": ((2, 5, 5, 2), 2, 2, "SAME", "negative"),
    "3x3 stride 2 SAME, x (1, 6, 6, 2)": ((1, 6, 6, 2), 3, 2, "SAME", "negative"),
    "3x3 stride 1 SAME (overlapping), x (1, 5, 4, 2)": ((1, 5, 4, 2), 3, 1, "SAME", "spread"),
    "2x2 stride 1 VALID, x (2, 4, 5, 3)": ((2, 4, 5, 3), 2, 1, "VALID", "spread"),
    "3x3 stride 3 VALID, x (1, 7, 8, 1)": ((1, 7, 8, 1), 3, 3, "VALID", "spread"),
    "ties, 2x2 stride 2, x (2, 4, 6, 2)": ((2, 4, 6, 2), 2, 2, "SAME", "ties"),
    "all equal, 2x2 stride 2, x (1, 4, 4, 1)": ((1, 4, 4, 1), 2, 2, "VALID", "zeros"),
}
_TIES = ("ties, 2x2 stride 2, x (2, 4, 6, 2)", "all equal, 2x2 stride 2, x (1, 4, 4, 1)")


@functools.lru_cache(maxsize=None)
def _pool_problems():
    rng = np.random.default_rng(5004)
    problems = {}
    for name, (shape, size, stride, padding, values) in _POOL_SHAPES.items():
        if values == "spread":
            x = _spread(rng, shape)
        elif values == "negative":
            x = -np.abs(_spread(rng, shape)) - 0.1
        elif values == "ties":
            x = rng.integers(0, 3, size=shape).astype(np.float64)  # many windows with two or more maxima
        else:
            x = np.zeros(shape)
        out_shape = naive.max_pool_forward(x, size, stride, padding)[0].shape
        dout = rng.uniform(0.5, 1.5, size=out_shape)  # never 0, so every window's gradient is visible
        problems[name] = ((x, size, stride, padding), dout)
    return problems


def _pool_variants(x, size, stride, padding):
    _, top, bottom = ref.tf_padding(x.shape[1], size, stride, padding)
    _, left, right = ref.tf_padding(x.shape[2], size, stride, padding)
    variants = {}
    if top + bottom + left + right:
        variants[("SAME padding for max pooling is -inf (a padded cell must never be the maximum); with zeros, "
                  "a pad wins over windows of negative values", "zero_padding")] = naive.max_pool_forward(
            _pad(x, top, bottom, left, right), size, stride, "VALID")[0]
    if (top, left) != (bottom, right):
        variants[(f"SAME padding on the wrong side: {SAME_NOTE}", "padding_on_wrong_side")] = naive.max_pool_forward(
            np.pad(x, ((0, 0), (bottom, top), (right, left), (0, 0)), constant_values=-np.inf), size, stride, "VALID")[0]
    if padding == "SAME":
        variants[("SAME pooling keeps the last, partial window: out = ceil(in / stride) (TF pads at the bottom/right)", "partial_window_dropped")] = (
            naive.max_pool_forward(x, size, stride, "VALID")[0]
        )
    return variants


def _pool_forward_cases():
    return [Case(name, args, call=_forward_output) for name, (args, _) in _pool_problems().items()]


def _judge_max_pool_forward(cases, outcomes, report):
    for case in cases:
        got = driver_value("max_pool_forward", outcomes[case.name], case)
        x, size, stride, padding = case.args
        want = naive.max_pool_forward(x, size, stride, padding)[0]
        if _agree(got, want):
            continue
        for (message, mistake), value in _pool_variants(x, size, stride, padding).items():
            if value.shape == got.shape and _agree(got, value):
                raise Failure(f"max_pool_forward: {message} (test input '{case.name}')", f"max_pool_forward.{mistake}")
        if got.shape != want.shape:
            raise Failure(f"max_pool_forward {_shape_hint(got, want, stride, padding)} on '{case.name}'", "max_pool_forward.wrong_shape")
        if _agree(got, np.broadcast_to(want.max(axis=3, keepdims=True), want.shape)):
            raise Failure("max_pool_forward takes the maximum over the channels too: pool each channel on its own (over H and W)", "max_pool_forward.over_channels")
        raise Failure(f"max_pool_forward is wrong on '{case.name}': expected {fmt(want)}, got {fmt(got)}", "max_pool_forward.wrong_values")
    deduct_modified_input(report, "max_pool_forward", cases, outcomes, ("x", "size", "stride", "padding"))


def _pool_backward_cases():
    return [Case(name, (dout, *args), call=_forward_then_backward) for name, (args, dout) in _pool_problems().items()]


@functools.lru_cache(maxsize=None)
def _pool_expected(name):
    (x, size, stride, padding), dout = _pool_problems()[name]
    if name in _TIES:  # no derivative at a tie: the convention (one maximum gets it all) is judged instead
        return naive.max_pool_backward(dout, naive.max_pool_forward(x, size, stride, padding)[1])
    (dx,) = _numeric(lambda x: ref.max_pool_forward(x, size, stride, padding)[0], (x,), dout)
    return dx


def _tie_verdict(x, size, dout, dx):
    """None when every window of the tiling (stride == size, sizes divisible) sends its whole gradient to exactly
    one of its maxima, else (message, mistake) naming what happened (the id is "max_pool_backward.<mistake>")."""
    n, h, w, c = x.shape
    tiles = lambda a: a.reshape(n, h // size, size, w // size, size, c).transpose(0, 1, 3, 5, 2, 4).reshape(n, h // size, w // size, c, -1)
    xt, gt = tiles(x), tiles(dx)
    is_max = xt == xt.max(axis=-1, keepdims=True)
    receivers = np.count_nonzero(gt, axis=-1)
    to_max = np.all((gt == 0) | is_max, axis=-1)
    total = np.isclose(gt.sum(axis=-1), dout, rtol=1e-9, atol=1e-12)
    tied = is_max.sum(axis=-1) > 1
    if np.all(to_max & (receivers == 1) & total):
        return None
    if np.any(tied & (receivers > 1) & np.all(np.isclose(gt, np.where(is_max, dout[..., None], 0)), axis=-1)):
        return "the gradient is sent to every tied maximum of a window; it must go to ONE of them (e.g. the first, np.argmax)", "every_tied_max"
    if np.any(tied & (receivers > 1) & total):
        return "the gradient of a window is split among its tied maxima; send all of it to ONE of them (e.g. the first)", "split_among_ties"
    if not np.all(to_max):
        return "gradient reaches cells that are not the maximum of their window", "gradient_to_non_max"
    return "each window's gradient must go, whole, to exactly one of its maxima", "wrong_tie_gradient"


def _pool_overwriting(x, size, stride, padding, dout):
    """dx when each window assigns its gradient (=) instead of adding it (+=): later windows overwrite."""
    winner, padded_shape, (top, left), x_shape = naive.max_pool_forward(x, size, stride, padding)[1]
    dxp = np.zeros(padded_shape)
    for index in np.ndindex(dout.shape):
        r, q = winner[index]
        dxp[index[0], r, q, index[3]] = dout[index]
    return dxp[:, top : top + x_shape[1], left : left + x_shape[2]]


def _judge_max_pool_backward(cases, outcomes, report):
    for case in cases:
        value = driver_value("max_pool_backward", outcomes[case.name], case)
        dout, x, size, stride, padding = case.args
        if not isinstance(value, tuple) or len(value) != 2:
            raise Failure(f"max_pool_backward must return one array, dx; got {len(value) - 1} values", "max_pool_backward.wrong_return")
        out, dx = value
        if not _agree(out, naive.max_pool_forward(x, size, stride, padding)[0]):
            raise Failure(
                f"max_pool_backward is checked with the cache of your max_pool_forward, which is wrong on "
                f"'{case.name}': fix max_pool_forward first",
                "max_pool_backward.forward_wrong",
            )
        if dx.shape != x.shape:
            raise Failure(f"max_pool_backward: dx has shape {dx.shape}, expected x's {x.shape} (crop the padding off)", "max_pool_backward.wrong_shape")
        if case.name in _TIES:
            verdict = _tie_verdict(x, size, dout, dx)
            if verdict:
                message, mistake = verdict
                raise Failure(f"max_pool_backward: {message} (test input '{case.name}')", f"max_pool_backward.{mistake}")
            continue
        want = _pool_expected(case.name)
        if _agree(dx, want, GRAD_TOL):
            continue
        where = f"(test input '{case.name}', checked against finite differences of the forward pass)"
        if size > stride and _agree(dx, _pool_overwriting(x, size, stride, padding, dout), GRAD_TOL):
            raise Failure(f"max_pool_backward: overlapping windows must ADD their gradients into dx (+=, not =) {where}", "max_pool_backward.overlaps_overwritten")
        raise Failure(f"max_pool_backward is wrong {where}: each window's dout goes to the cell holding its maximum; "
                      f"expected {fmt(want)}, got {fmt(dx)}", "max_pool_backward.wrong_values")
    deduct_modified_input(report, "max_pool_backward", cases, outcomes, ("dout", "x", "size", "stride", "padding"), only=(0,))


# ------------------------------------------------------------------------------------------ dropout


@shippable
def _dropout_three_seeds(fn, x, keep_prob, seed, training):
    """Outputs for rng seeds (seed, seed, seed + 1): the same seed must give the same mask."""
    outs = []
    for s in (seed, seed, seed + 1):
        result = fn(x, keep_prob, np.random.default_rng(s), training)
        if type(result) is not tuple or len(result) != 2:
            return {"returned a " + type(result).__name__ + " instead of the pair (out, cache)": np.zeros(0)}
        outs.append(result[0])
    return tuple(outs)


@functools.lru_cache(maxsize=None)
def _dropout_problems():
    rng = np.random.default_rng(5005)
    x = lambda shape: rng.uniform(0.5, 1.5, size=shape) * rng.choice([-1, 1], size=shape)  # never 0
    return {
        "inference, keep_prob 0.5": (x((40, 50)), 0.5, 11, False),
        "training, keep_prob 1.0": (x((40, 50)), 1.0, 12, True),
        "training, keep_prob 0.8, x (80, 150)": (x((80, 150)), 0.8, 13, True),
        "training, keep_prob 0.3, x (2, 40, 30, 5)": (x((2, 40, 30, 5)), 0.3, 14, True),
    }


def _dropout_forward_cases():
    return [Case(name, args, call=_dropout_three_seeds) for name, args in _dropout_problems().items()]


_KEEP_NOTE = "keep_prob is the probability of KEEPING a unit (TF1's argument; TF2's rate = 1 - keep_prob)"


def _judge_dropout_forward(cases, outcomes, report):
    deductions = {}
    for case in cases:
        got = driver_value("dropout_forward", outcomes[case.name], case)
        x, keep_prob, _, training = case.args
        first, same_seed, other_seed = got
        if first.shape != x.shape:
            raise Failure(f"dropout_forward returned shape {first.shape} for x of shape {x.shape}", "dropout_forward.wrong_shape")
        if not training or keep_prob == 1:
            if np.array_equal(first, x):
                continue
            if np.allclose(first, x * keep_prob):
                raise Failure("dropout_forward scales by keep_prob at inference: inverted dropout scales the kept units by "
                              "1 / keep_prob at training, so inference is the identity", "dropout_forward.scaled_at_inference")
            mode = "inference (training=False)" if not training else "keep_prob = 1"
            raise Failure(f"dropout_forward must return x unchanged for {mode}", "dropout_forward.changed_at_inference")
        kept = first != 0
        fraction = float(np.mean(kept))
        sigma = math.sqrt(keep_prob * (1 - keep_prob) / x.size)
        if abs(fraction - keep_prob) > 6 * sigma:
            if abs(fraction - (1 - keep_prob)) <= 6 * sigma:
                raise Failure(f"dropout_forward kept {fraction:.1%} of the units with keep_prob = {keep_prob}: {_KEEP_NOTE}", "dropout_forward.keep_prob_inverted")
            raise Failure(f"dropout_forward kept {fraction:.1%} of the units; expected about keep_prob = {keep_prob:.0%}", "dropout_forward.wrong_keep_fraction")
        if np.array_equal(first[kept], x[kept]):
            raise Failure("dropout not rescaled: inverted dropout divides the kept units by keep_prob at training time "
                          "(out = x * mask / keep_prob), so the expected output equals x", "dropout_forward.not_rescaled")
        if np.allclose(first[kept], x[kept] * keep_prob):
            raise Failure("dropout_forward multiplies the kept units by keep_prob; divide by it (inverted dropout)", "dropout_forward.multiplied_by_keep_prob")
        if not np.allclose(first[kept], x[kept] / keep_prob, rtol=1e-6, atol=0):
            raise Failure(f"dropout_forward: every output must be 0 or x / keep_prob (test input '{case.name}')", "dropout_forward.wrong_values")
        if not np.array_equal(first, same_seed) or np.array_equal(first, other_seed):
            deductions["rng"] = "dropout_forward must draw its mask from the rng argument (a numpy Generator), e.g. " \
                                "rng.random(x.shape) < keep_prob: the same rng seed must give the same mask"
    for message in deductions.values():
        report.deduct(1, message, "dropout_forward.ignores_rng")
    deduct_modified_input(report, "dropout_forward", cases, outcomes, ("x",))


@watch_backward
def _dropout_forward_then_backward(fns, x, keep_prob, seed, training, dout):
    forward, backward = fns
    result = forward(x, keep_prob, np.random.default_rng(seed), training)
    if type(result) is not tuple or len(result) != 2:
        return {"its forward pass returned a " + type(result).__name__ + " instead of the pair (out, cache)": np.zeros(0)}
    return result[0], backward(dout, result[1])


def _dropout_backward_cases():
    rng = np.random.default_rng(5006)
    cases = []
    for name, (x, keep_prob, seed, training) in _dropout_problems().items():
        cases.append(Case(name, (x, keep_prob, seed, training, rng.normal(size=x.shape)), call=_dropout_forward_then_backward))
    return cases


def _judge_dropout_backward(cases, outcomes, report):
    for case in cases:
        value = driver_value("dropout_backward", outcomes[case.name], case)
        x, keep_prob, _, training, dout = case.args
        out, dx = value
        valid = out.shape == x.shape and (
            np.array_equal(out, x) if not training or keep_prob == 1
            else np.allclose(out[out != 0], x[out != 0] / keep_prob, rtol=1e-6, atol=0)
        )
        if not valid:
            raise Failure(f"dropout_backward is checked with the cache of your dropout_forward, which is wrong on "
                          f"'{case.name}': fix dropout_forward first", "dropout_backward.forward_wrong")
        scaled_mask = out / x  # 0 or 1 / keep_prob, x is never 0 here
        if dx.shape == x.shape and np.allclose(dx, dout * scaled_mask, rtol=1e-9, atol=1e-12):
            continue
        if dx.shape == x.shape and np.allclose(dx, dout * (scaled_mask != 0), rtol=1e-9, atol=1e-12):
            raise Failure("dropout_backward applies the mask but not the 1 / keep_prob scale: use the same scaled mask as the forward pass", "dropout_backward.not_rescaled")
        if dx.shape == x.shape and np.allclose(dx, dout) and training and keep_prob < 1:
            raise Failure("dropout_backward returns dout unchanged: the dropped units get no gradient (dout * mask / keep_prob)", "dropout_backward.no_mask")
        raise Failure(f"dropout_backward must use the very same mask and scale as the forward pass (keep it in the cache); "
                      f"test input '{case.name}'", "dropout_backward.wrong_mask")
    deduct_modified_input(report, "dropout_backward", cases, outcomes, ("x", "keep_prob", "seed", "training", "dout"), only=(4,))


# -------------------------------------------------------------------------------------------- dense


@functools.lru_cache(maxsize=None)
def _dense_problems():
    rng = np.random.default_rng(5007)
    shapes = {"x (5, 7), w (7, 3)": ((5, 7), 3), "images x (2, 3, 4, 5), w (60, 4)": ((2, 3, 4, 5), 4),
              "square x (6, 6), w (6, 6)": ((6, 6), 6), "one sample x (1, 2, 2, 3), w (12, 5)": ((1, 2, 2, 3), 5)}
    problems = {}
    for name, (shape, out) in shapes.items():
        d = int(np.prod(shape[1:]))
        x, w, b = rng.normal(size=shape), rng.normal(size=(d, out)), rng.normal(size=out)
        problems[name] = ((x, w, b), rng.normal(size=(shape[0], out)))
    return problems


def _dense_forward_cases():
    return [Case(name, args, call=_forward_output) for name, (args, _) in _dense_problems().items()]


def _judge_dense_forward(cases, outcomes, report):
    for case in cases:
        got = driver_value("dense_forward", outcomes[case.name], case)
        x, w, b = case.args
        want = naive.dense_forward(x, w, b)
        if _agree(got, want):
            continue
        if got.shape != want.shape:
            raise Failure(f"dense_forward returned shape {got.shape}, expected {want.shape} on '{case.name}': flatten x to "
                          "(N, D) first, then x @ w + b", "dense_forward.wrong_shape")
        if x.ndim == 4 and _agree(got, naive.dense_forward(x.transpose(0, 3, 1, 2), w, b)):
            raise Failure("dense_forward flattens the images channels-first (NCHW); flatten them in their NHWC order, "
                          "x.reshape(N, -1), as tf.reshape does", "dense_forward.flattened_channels_first")
        if _agree(got, want - b):
            raise Failure("dense_forward: the bias b is missing", "dense_forward.no_bias")
        if w.shape[0] == w.shape[1] and _agree(got, naive.dense_forward(x, w.T, b)):
            raise Failure("dense_forward uses w transposed: out = x @ w + b with w of shape (D_in, D_out)", "dense_forward.w_transposed")
        raise Failure(f"dense_forward is wrong on '{case.name}': expected {fmt(want)}, got {fmt(got)}", "dense_forward.wrong_values")
    deduct_modified_input(report, "dense_forward", cases, outcomes, ("x", "w", "b"))


def _dense_backward_cases():
    return [Case(name, (dout, *args), call=_forward_then_backward) for name, (args, dout) in _dense_problems().items()]


@functools.lru_cache(maxsize=None)
def _dense_expected(name):
    (x, w, b), dout = _dense_problems()[name]
    return _numeric(lambda x, w, b: ref.dense_forward(x, w, b)[0], (x, w, b), dout)


def _judge_dense_backward(cases, outcomes, report):
    for case in cases:
        value = driver_value("dense_backward", outcomes[case.name], case)
        dout, x, w, b = case.args
        if not isinstance(value, tuple) or len(value) != 4:
            raise Failure(f"dense_backward must return three gradients (dx, dw, db); got {len(value) - 1}", "dense_backward.wrong_return")
        out, dx, dw, db = value
        if not _agree(out, naive.dense_forward(x, w, b)):
            raise Failure(f"dense_backward is checked with the cache of your dense_forward, which is wrong on '{case.name}': "
                          "fix dense_forward first", "dense_backward.forward_wrong")
        want_dx, want_dw, want_db = _dense_expected(case.name)
        if db.shape == (1, b.size):
            db = db.reshape(b.shape)
        where = f"(test input '{case.name}', checked against finite differences of the forward pass)"
        n = x.shape[0]
        if not _agree(db, want_db, GRAD_TOL):
            if n > 1 and _agree(db, want_db / n, GRAD_TOL):
                raise Failure(f"dense_backward: db is divided by N: sum dout over the batch (dout already holds the 1/N of the mean loss) {where}", "dense_backward.db_divided_by_n")
            raise Failure(f"dense_backward: db is wrong: the sum of dout over the batch, shape {b.shape} {where}", "dense_backward.db_wrong")
        if not _agree(dw, want_dw, GRAD_TOL):
            if n > 1 and _agree(dw, want_dw / n, GRAD_TOL):
                raise Failure(f"dense_backward: dw is divided by N: dw = x_flat.T @ dout, no mean {where}", "dense_backward.dw_divided_by_n")
            if dw.shape != w.shape:
                raise Failure(f"dense_backward: dw has shape {dw.shape}, expected w's {w.shape} {where}", "dense_backward.dw_wrong_shape")
            raise Failure(f"dense_backward: dw is wrong: x_flat.T @ dout {where}", "dense_backward.dw_wrong")
        if _agree(dx, want_dx, GRAD_TOL):
            continue
        if dx.shape != x.shape and dx.size == x.size and _agree(dx.reshape(x.shape), want_dx, GRAD_TOL):
            raise Failure(f"dense_backward: dx has shape {dx.shape}; give it the shape of the forward's x, {x.shape} (reshape it back)", "dense_backward.dx_wrong_shape")
        raise Failure(f"dense_backward: dx is wrong: (dout @ w.T) in the shape of x {where}", "dense_backward.dx_wrong")
    deduct_modified_input(report, "dense_backward", cases, outcomes, ("dout", "x", "w", "b"), only=(0,))


# ----------------------------------------------------------------------------------------- the loss


@functools.lru_cache(maxsize=None)
def _loss_problems():
    rng = np.random.default_rng(5008)
    big = np.array([[1e4, 0.0, -1e4, 3.0], [-2e4, -2e4 + 1.0, -2e4 - 1.0, -2e4], [1.0, 2.0, 3.0, 4.0]])
    soft = rng.dirichlet(np.ones(5), size=4)
    return {
        "random (6, 10), one-hot": (rng.normal(scale=3, size=(6, 10)), np.eye(10)[rng.integers(0, 10, 6)]),
        "one sample (1, 10)": (rng.normal(size=(1, 10)), np.eye(10)[[7]]),
        "soft labels (4, 5)": (rng.normal(size=(4, 5)), soft),
        "logits of 1e4 and -2e4": (big, np.eye(4)[[2, 1, 0]]),
    }


_BIG_LOGITS = "logits of 1e4 and -2e4"


def _loss_cases():
    return [Case(name, args) for name, args in _loss_problems().items()]


def _judge_softmax_cross_entropy(cases, outcomes, report):
    name = "softmax_cross_entropy_with_logits"
    for case in cases:
        out = outcomes[case.name]
        expect_ok(name, out, case, returns=tuple)
        if len(out.value) != 2:
            raise Failure(f"{name} must return (loss, dlogits); got {len(out.value)} values", f"{name}.wrong_return")
        loss, dlogits = out.value
        logits, labels = case.args
        want_loss, want_d = naive.softmax_cross_entropy(logits, labels)
        n = logits.shape[0]
        if loss.shape != ():
            if loss.shape == (n,) and np.allclose(loss.mean(), want_loss, rtol=1e-9):
                raise Failure(f"{name} returns one loss per sample (as tf.nn.softmax_cross_entropy_with_logits does); "
                              "return their mean over the batch, a single number", f"{name}.loss_per_sample")
            raise Failure(f"{name}: the loss must be a single number, got an array of shape {loss.shape}", f"{name}.loss_not_one_number")
        loss_ok = math.isclose(float(loss), want_loss, rel_tol=1e-9, abs_tol=1e-12)
        d_ok = _agree(dlogits, want_d)
        if loss_ok and d_ok:
            continue
        if case.name == _BIG_LOGITS:  # the other cases are right: an edge case, worth one point
            if not (np.isfinite(float(loss)) and np.all(np.isfinite(dlogits))):
                report.deduct(1, f"{name} gives nan/inf for logits of 1e4 and -2e4: subtract each row's maximum before "
                                 "exp (log-sum-exp), so nothing overflows", f"{name}.nonfinite_for_large_logits")
            else:
                report.deduct(1, f"{name}: for logits of 1e4 and -2e4 the loss is {float(loss):.6g}, expected {want_loss:.6g}: "
                                 "take log softmax as (logits - max) - log(sum(exp(logits - max))); a clipped log or an "
                                 "epsilon inside it caps the loss", f"{name}.wrong_for_large_logits")
            continue
        if not loss_ok:
            if n > 1 and math.isclose(float(loss), want_loss * n, rel_tol=1e-9):
                raise Failure(f"{name}: the loss is summed over the batch; take the mean (divide by N)", f"{name}.loss_summed")
            if math.isclose(float(loss), -want_loss, rel_tol=1e-9):
                raise Failure(f"{name}: the loss has the wrong sign: -mean(sum(labels * log softmax(logits)))", f"{name}.loss_wrong_sign")
            raise Failure(f"{name}: the loss is wrong on '{case.name}': expected {want_loss:.6g}, got {float(loss):.6g}", f"{name}.wrong_loss")
        if dlogits.shape != logits.shape:
            raise Failure(f"{name}: dlogits has shape {dlogits.shape}, expected the logits' {logits.shape}", f"{name}.dlogits_wrong_shape")
        if n > 1 and _agree(dlogits, want_d * n):
            raise Failure(f"{name}: dlogits is N times too large: the gradient of the MEAN loss is (softmax - labels) / N", f"{name}.dlogits_not_divided_by_n")
        if _agree(dlogits, -want_d):
            raise Failure(f"{name}: dlogits has the wrong sign: (softmax(logits) - labels) / N", f"{name}.dlogits_wrong_sign")
        raise Failure(f"{name}: dlogits is wrong on '{case.name}': expected {fmt(want_d)}, got {fmt(dlogits)}", f"{name}.wrong_dlogits")
    deduct_modified_input(report, name, cases, outcomes, ("logits", "labels"))


def _l2_cases():
    rng = np.random.default_rng(5009)
    return [Case("w [[3, -4]]", (np.array([[3.0, -4.0]]),)), Case("w (7, 5)", (rng.normal(size=(7, 5)),)),
            Case("filters (3, 3, 2, 4)", (rng.normal(size=(3, 3, 2, 4)),))]


def _judge_l2_loss(cases, outcomes, report):
    for case in cases:
        out = outcomes[case.name]
        expect_ok("l2_loss", out, case)
        (w,) = case.args
        want = naive.l2_loss(w)
        if out.value.size != 1:
            raise Failure(f"l2_loss must return a single number, got an array of shape {out.value.shape}", "l2_loss.not_one_number")
        got = float(out.value.reshape(()))
        if math.isclose(got, want, rel_tol=1e-9):
            continue
        if math.isclose(got, 2 * want, rel_tol=1e-9):
            raise Failure("l2_loss is sum(w ** 2) without the 1/2: tf.nn.l2_loss(w) = sum(w ** 2) / 2", "l2_loss.missing_half")
        if math.isclose(got, math.sqrt(2 * want), rel_tol=1e-9) or math.isclose(got, math.sqrt(2 * want) / 2, rel_tol=1e-9):
            raise Failure("l2_loss takes a square root: it is half the SQUARED norm, sum(w ** 2) / 2", "l2_loss.square_root")
        if math.isclose(got, want / w.size, rel_tol=1e-9) or math.isclose(got, 2 * want / w.size, rel_tol=1e-9):
            raise Failure("l2_loss averages over the entries; it sums them: sum(w ** 2) / 2", "l2_loss.averaged")
        raise Failure(f"l2_loss is wrong on '{case.name}': expected {want:.6g}, got {got:.6g}", "l2_loss.wrong_values")
    deduct_modified_input(report, "l2_loss", cases, outcomes, ("w",))


# --------------------------------------------------------------------------------------------- Adam


@shippable
def _adam_steps(fn, w, grads, config):
    """The weights after each call, the config passed from one call to the next (a copy first)."""
    ws = []
    config = dict(config)
    for dw in grads:
        result = fn(w, dw, config)
        if type(result) is not tuple or len(result) != 2:
            return {"returned a " + type(result).__name__ + " instead of the pair (w, config)": np.zeros(0)}
        w, config = result
        ws.append(np.array(w, dtype=np.float64, copy=True))
    return np.stack(ws)


@functools.lru_cache(maxsize=None)
def _adam_problems():
    rng = np.random.default_rng(5010)
    grads = lambda shape, k: [rng.normal(scale=0.5, size=shape) for _ in range(k)]
    return {
        "TF's defaults (config {}), w (4, 3), 4 steps": (rng.normal(size=(4, 3)), grads((4, 3), 4), {}),
        "handout: learning_rate 1e-4, w (6,), 3 steps": (rng.normal(size=6), grads(6, 3), {"learning_rate": 1e-4}),
        "learning_rate 0.01, beta1 0.8, beta2 0.99, epsilon 0.1, w (2, 5), 5 steps": (
            rng.normal(size=(2, 5)), grads((2, 5), 5), {"learning_rate": 0.01, "beta1": 0.8, "beta2": 0.99, "epsilon": 0.1}),
    }


_ADAM_DEFAULTS = {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}


def _adam_variants(w, grads, config):
    """{(message, mistake): trajectory} of mistakes, computed with loops like the oracle (id "adam_update.<mistake>")."""
    h = {**_ADAM_DEFAULTS, **config}
    lr, b1, b2, eps = h["learning_rate"], h["beta1"], h["beta2"], h["epsilon"]

    def run(correct_m=True, correct_v=True, eps_inside=False, t_fixed=None, lr_=lr, b1_=b1, b2_=b2):
        m, v, cur, out = np.zeros_like(w), np.zeros_like(w), w.copy(), []
        for t, g in enumerate(grads, start=1):
            t = t if t_fixed is None else t_fixed
            m = b1_ * m + (1 - b1_) * g
            v = b2_ * v + (1 - b2_) * g * g
            m_hat = m / (1 - b1_**t) if correct_m else m
            v_hat = v / (1 - b2_**t) if correct_v else v
            cur = cur - lr_ * m_hat / (np.sqrt(v_hat + eps) if eps_inside else np.sqrt(v_hat) + eps)
            out.append(cur)
        return np.stack(out)

    variants = {
        ("Adam bias correction missing: divide m by (1 - beta1**t) and v by (1 - beta2**t), t counted from 1 "
         "(or use lr_t = lr * sqrt(1 - beta2**t) / (1 - beta1**t))", "no_bias_correction"): run(False, False),
        ("Adam bias correction is applied to m only: v needs its (1 - beta2**t) too", "v_not_corrected"): run(True, False),
        ("Adam bias correction is applied to v only: m needs its (1 - beta1**t) too", "m_not_corrected"): run(False, True),
        ("Adam's epsilon is added outside the square root: w -= lr * m_hat / (sqrt(v_hat) + epsilon)", "eps_placement"): run(eps_inside=True),
        ("Adam's step counter t is not carried between calls: keep it in config and return that config", "t_not_carried"): run(t_fixed=1),
    }
    if "learning_rate" not in config:
        variants[("TF's default learning rate is 1e-3 (tf.keras.optimizers.Adam; the handout passes 1e-4)", "wrong_default_lr")] = run(lr_=1e-4)
    else:
        variants[("adam_update ignores config['learning_rate']", "ignores_lr")] = run(lr_=1e-3)
    if "beta1" in config:
        variants[("adam_update ignores config['beta1'] / config['beta2'] (defaults 0.9 and 0.999)", "ignores_betas")] = run(b1_=0.9, b2_=0.999)
    return variants


def _adam_cases():
    return [Case(name, args, call=_adam_steps) for name, args in _adam_problems().items()]


def _judge_adam_update(cases, outcomes, report):
    for case in cases:
        got = driver_value("adam_update", outcomes[case.name], case)
        w, grads, config = case.args
        h = {**_ADAM_DEFAULTS, **config}
        forms = [naive.adam_steps(w, grads, h["learning_rate"], h["beta1"], h["beta2"], h["epsilon"], form) for form in ("tf", "paper")]
        if got.shape != forms[0].shape:
            raise Failure(f"adam_update returned w of shape {got.shape[1:]}, expected {w.shape}", "adam_update.wrong_shape")
        if any(_agree(got, want, 1e-9) for want in forms):
            continue
        for (message, mistake), variant in _adam_variants(w, grads, config).items():
            if _agree(got, variant, 1e-9):
                raise Failure(f"{message} (test input '{case.name}')", f"adam_update.{mistake}")
        step = next(i for i in range(len(grads)) if not any(_agree(got[i], f[i], 1e-9) for f in forms))
        if step > 0:
            raise Failure(f"adam_update is right on the first step but wrong from step {step + 1} on '{case.name}': "
                          "m, v and t must be kept in config and passed on", "adam_update.state_not_carried")
        raise Failure(f"adam_update: after one step on '{case.name}' expected w = {fmt(forms[0][0])}, got {fmt(got[0])}", "adam_update.wrong_values")
    deduct_modified_input(
        report, "adam_update", cases, outcomes, ("w", "grads", "config"), only=(0, 1),
        note=lambda case, changed: (
            f"adam_update changed its input w or dw in place (test input '{case.name}'): return a new "
            "array (w = w - step, not w -= step) so the caller's weights change only when it assigns them"
        ),
    )


# -------------------------------------------------------------------------------------- the network

# A small instance of the handout network: 7x7x1 images (the pool's SAME padding is then asymmetric), 4 filters,
# 6 hidden units, 10 classes; the student's cnn_forward takes every size from params and x.
_NET = dict(n=5, size=7, filters=4, hidden=6)
_DROPOUT_KEEP = 0.5
_NET_HINT = (": the test network is the handout's on 7x7x1 images with 4 filters and 6 hidden units, so take every "
             "size from x and params (reshape only 2-d x, as (N, 28, 28, 1))")
_NET_SEED = 31


@functools.lru_cache(maxsize=None)
def _network():
    """(x, labels, params, state, dlogits), float64."""
    rng = np.random.default_rng(5011)
    n, size, f, hidden = _NET["n"], _NET["size"], _NET["filters"], _NET["hidden"]
    pooled = -(-size // 2)
    params = {
        "W_conv": rng.normal(scale=0.5, size=(3, 3, 1, f)),
        "b_conv": rng.normal(scale=0.1, size=f),
        "W1": rng.normal(scale=0.3, size=(pooled * pooled * f, hidden)),
        "b1": rng.normal(scale=0.1, size=hidden),
        "W2": rng.normal(scale=0.5, size=(hidden, 10)),
        "b2": rng.normal(scale=0.1, size=10),
    }
    state = {"bn": {"mean": rng.normal(scale=0.2, size=f), "var": rng.uniform(0.5, 1.5, size=f)}}
    x = rng.uniform(0, 1, size=(n, size, size, 1))
    labels = np.eye(10)[rng.integers(0, 10, n)]
    return x, labels, params, state, rng.normal(size=(n, 10)) / n


def _naive_network(x, params, state, training, order=("conv", "relu", "bn", "pool"), keep_bn=True):
    """The network from the loop oracles (no dropout: inference, or keep_prob = 1); order permutes the first
    block to name mistakes. Returns (logits, batch mean, batch var) (the moments are None at inference)."""
    a, mean, var = x, None, None
    for layer in order:
        if layer == "conv":
            a = naive.conv2d_forward(a, params["W_conv"], params["b_conv"], 1, "SAME")[0]
        elif layer == "relu":
            a = np.maximum(a, 0)
        elif layer == "bn" and keep_bn:
            if training:
                a, cache = naive.batch_norm_forward(a)
                mean, var = cache["mean"], cache["var"]
            else:
                a = naive.batch_norm_inference(a, state["bn"]["mean"], state["bn"]["var"])
        elif layer == "pool":
            a = naive.max_pool_forward(a, 2, 2, "SAME")[0]
    a = np.maximum(naive.dense_forward(a, params["W1"], params["b1"]), 0)
    return naive.dense_forward(a, params["W2"], params["b2"]), mean, var


@shippable
def _cnn_forward_modes(fn, x, params, state, keep_prob, seed):
    """Logits and batch-norm state at inference, at training without dropout, and twice with dropout (same seed)."""
    calls = {
        "inference": fn(x, params, state, False),
        "training": fn(x, params, state, True, np.random.default_rng(seed), 1.0),
        "dropout": fn(x, params, state, True, np.random.default_rng(seed), keep_prob),
        "dropout again": fn(x, params, state, True, np.random.default_rng(seed), keep_prob),
    }
    out = {}
    for key, result in calls.items():
        if type(result) is not tuple or len(result) != 3:
            return {"returned a " + type(result).__name__ + " instead of the triple (logits, cache, new_state)": np.zeros(0)}
        out[key] = result[0]
        out[key + " mean"] = result[2]["bn"]["mean"]
        out[key + " var"] = result[2]["bn"]["var"]
    return out


def _cnn_forward_cases():
    x, _, params, state, _ = _network()
    return [Case(f"{_NET['n']} images 7x7x1, 4 filters, 6 hidden units", (x, params, state, _DROPOUT_KEEP, _NET_SEED), call=_cnn_forward_modes)]


def _judge_cnn_forward(cases, outcomes, report):
    case = cases[0]
    got = driver_value("cnn_forward", outcomes[case.name], case, _NET_HINT)
    x, params, state, keep_prob, _ = case.args
    want_inf, _, _ = _naive_network(x, params, state, False)
    want_train, mean, var = _naive_network(x, params, state, True)
    m = ref.BN_MOMENTUM
    order = "conv -> ReLU -> batch norm -> max pool 2x2 (stride 2, SAME) -> dense -> dropout -> ReLU -> dense"
    for mode, want in (("training", want_train), ("inference", want_inf)):
        if _agree(got[mode], want):
            continue
        if got[mode].shape != want.shape:
            raise Failure(f"cnn_forward returned logits of shape {got[mode].shape}, expected {want.shape}; take every size "
                          "from x and params (the test network is smaller than the handout's)", "cnn_forward.wrong_shape")
        training = mode == "training"
        if mode == "inference" and _agree(got[mode], want_train):
            raise Failure("cnn_forward at inference (training=False) uses the batch's moments: batch norm must use the running averages", "cnn_forward.batch_moments_at_inference")
        for label, mistake, variant in (("batch norm comes after the ReLU", "bn_before_relu", ("conv", "bn", "relu", "pool")),
                                        ("max pooling comes after batch norm", "pool_before_bn", ("conv", "relu", "pool", "bn"))):
            if _agree(got[mode], _naive_network(x, params, state, training, variant)[0]):
                raise Failure(f"cnn_forward: {label}; the handout network is {order}", f"cnn_forward.{mistake}")
        if _agree(got[mode], _naive_network(x, params, state, training, keep_bn=False)[0]):
            raise Failure(f"cnn_forward skips batch norm; the handout network is {order}", "cnn_forward.no_batch_norm")
        raise Failure(f"cnn_forward ({mode}) gives the wrong logits: the handout network is {order}; expected "
                      f"{fmt(want)}, got {fmt(got[mode])}", "cnn_forward.wrong_values")
    if not (_agree(got["training mean"], m * state["bn"]["mean"] + (1 - m) * mean)
            and _agree(got["training var"], m * state["bn"]["var"] + (1 - m) * var)):
        report.deduct(0.5, "cnn_forward (training) must return the batch-norm running averages batch_norm_forward "
                           "updated, in new_state['bn']", "cnn_forward.running_averages_not_returned")
    if not (_agree(got["inference mean"], state["bn"]["mean"]) and _agree(got["inference var"], state["bn"]["var"])):
        report.deduct(0.5, "cnn_forward at inference must return the running averages unchanged", "cnn_forward.running_changed_at_inference")
    if _agree(got["dropout"], want_train):
        report.deduct(1, f"cnn_forward ignores keep_prob in training: apply dropout (keep_prob {keep_prob}) after the first dense layer", "cnn_forward.no_dropout")
    elif not np.array_equal(got["dropout"], got["dropout again"]):
        report.deduct(0.5, "cnn_forward with dropout gives different logits for the same rng seed: draw the mask from "
                           "the rng argument", "cnn_forward.dropout_ignores_rng")
    deduct_modified_input(report, "cnn_forward", cases, outcomes, ("x", "params", "state"))


_PROBES = (("W_conv", 3), ("W_conv", 20), ("b_conv", 1), ("W1", 5), ("W1", 40), ("W1", 77), ("b1", 2), ("W2", 13), ("b2", 4))


@watch_backward
def _cnn_backward_probes(fns, x, params, state, dlogits, keep_prob, seed, probes):
    """Gradients at training without dropout; with dropout, the gradients at a few entries, and sum(logits *
    dlogits) of the student's own forward pass with the same rng seed (so the same dropout mask) at each of those
    entries moved by +1e-6 and -1e-6, for central differences (taken by the judge: the sums are what any two
    right implementations agree on to rounding)."""
    forward, backward = fns
    result = forward(x, params, state, True, np.random.default_rng(seed), 1.0)
    if type(result) is not tuple or len(result) != 3:
        return {"its forward pass returned a " + type(result).__name__ + " instead of (logits, cache, new_state)": np.zeros(0)}
    grads = backward(dlogits, result[1])
    if type(grads) is not dict:
        return {"returned a " + type(grads).__name__ + " instead of a dict of gradients keyed like params": np.zeros(0)}
    out = {"logits": result[0]}
    out.update({"d" + key: value for key, value in grads.items()})
    logits, cache, _ = forward(x, params, state, True, np.random.default_rng(seed), keep_prob)
    again = forward(x, params, state, True, np.random.default_rng(seed), keep_prob)[0]
    dropped = backward(dlogits, cache)
    analytic, sums = [], []
    for name, index in probes:
        analytic.append(np.asarray(dropped[name], dtype=np.float64).reshape(-1)[index])
        bumped = {key: np.array(value, dtype=np.float64, copy=True) for key, value in params.items()}
        flat = bumped[name].reshape(-1)
        saved = flat[index]
        for step in (1e-6, -1e-6):
            flat[index] = saved + step
            sums.append(float(np.sum(forward(x, bumped, state, True, np.random.default_rng(seed), keep_prob)[0] * dlogits)))
    out.update({"dropout logits": logits, "dropout again": again, "dropout analytic": np.array(analytic),
                "dropout sums": np.array(sums).reshape(-1, 2)})
    return out


def _cnn_backward_cases():
    x, _, params, state, dlogits = _network()
    probes = [list(p) for p in _PROBES]
    return [Case(f"{_NET['n']} images 7x7x1, 4 filters, 6 hidden units", (x, params, state, dlogits, _DROPOUT_KEEP, _NET_SEED, probes),
                 call=_cnn_backward_probes)]


@functools.lru_cache(maxsize=None)
def _network_gradients():
    """Central differences of sum(logits * dlogits) of the trusted network (training, keep_prob 1) for every
    parameter entry."""
    x, _, params, state, dlogits = _network()
    params = {k: v.copy() for k, v in params.items()}

    def total(_):
        return float(np.sum(ref.cnn_forward(x, params, state, True, None, 1.0)[0] * dlogits))

    return {k: numerical_gradient(total, params[k]) for k in ref.PARAM_KEYS}


def _judge_cnn_backward(cases, outcomes, report):
    case = cases[0]
    got = driver_value("cnn_backward", outcomes[case.name], case, _NET_HINT)
    x, params, state, dlogits, *_ = case.args
    if not _agree(got["logits"], _naive_network(x, params, state, True)[0]):
        raise Failure("cnn_backward is checked with the cache of your cnn_forward, which gives wrong logits: fix cnn_forward first", "cnn_backward.forward_wrong")
    keys = sorted(k[1:] for k in got if k.startswith("d") and not k.startswith("dropout"))
    if keys != sorted(params):
        raise Failure(f"cnn_backward must return one gradient per parameter, keyed like params ({', '.join(params)}); got {', '.join(keys)}", "cnn_backward.wrong_keys")
    want = _network_gradients()
    wrong = [k for k in ref.PARAM_KEYS if not _agree(got["d" + k].reshape(params[k].shape) if got["d" + k].size == params[k].size
                                                     else got["d" + k], want[k], GRAD_TOL)]
    if wrong:
        layers = {"W_conv": "the conv layer", "b_conv": "the conv layer", "W1": "the first dense layer", "b1": "the first dense layer",
                  "W2": "the output layer", "b2": "the output layer"}
        first = layers[wrong[-1]]
        first_id = {"W_conv": "conv", "b_conv": "conv", "W1": "dense1", "b1": "dense1", "W2": "output", "b2": "output"}[wrong[-1]]
        raise Failure(f"cnn_backward: the gradients of {', '.join(wrong)} are wrong (checked against finite differences of "
                      f"the network): go backwards through every layer in reverse order, each backward pass with its own "
                      f"forward's cache; the first wrong one from the output is {first}", f"cnn_backward.wrong_{first_id}_gradients")
    analytic, numeric = got["dropout analytic"], (got["dropout sums"][:, 0] - got["dropout sums"][:, 1]) / 2e-6
    if not np.array_equal(got["dropout logits"], got["dropout again"]):
        return  # dropout not drawn from rng: the gradient with dropout cannot be checked (cnn_forward's check says so)
    if _scale_error(analytic, numeric) > 1e-5:
        raise Failure("cnn_backward with dropout disagrees with finite differences of your cnn_forward (same rng seed): "
                      "the backward pass must use the dropout mask of that forward pass (from the cache)", "cnn_backward.dropout_mask_not_reused")
    deduct_modified_input(report, "cnn_backward", cases, outcomes, ("x", "params", "state", "dlogits"))


# ------------------------------------------------------------------------------------ the training loop


@shippable
def _train_epoch_runs(fn, x, labels, params, state, learning_rate, seed, settings, epochs):
    """Run the student's train_epoch `epochs` times (Adam configs made here); return the params, the batch-norm
    state and the per-batch losses of every epoch."""
    configs = {key: {"learning_rate": learning_rate} for key in params}
    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(epochs):
        result = fn(x, labels, params, state, configs, rng, **settings)
        if type(result) is not tuple or len(result) != 4:
            return {"returned a " + type(result).__name__ + " instead of (params, state, adam_configs, losses)": np.zeros(0)}
        params, state, configs, epoch_losses = result
        losses.append([float(v) for v in epoch_losses])
    out = {"param " + key: value for key, value in params.items()}
    out.update({"bn mean": state["bn"]["mean"], "bn var": state["bn"]["var"], "losses": np.array(losses, dtype=np.float64)})
    return out


_DETERMINISTIC = "one epoch, 20 images, batch 8, keep_prob 1, no shuffling, l2 0.01"
_LEARNING = "3 epochs on a toy problem (96 images, 4 classes), batch 16, keep_prob 0.75, shuffled"


@functools.lru_cache(maxsize=None)
def _toy_problem():
    """96 8x8 images: class k has a bright 3x3 square in quadrant k, on noise."""
    rng = np.random.default_rng(5012)
    n, size, f, hidden = 96, 8, 4, 16
    classes = np.arange(n) % 4
    x = rng.uniform(0, 0.3, size=(n, size, size, 1))
    for i, k in enumerate(classes):
        r, c = 1 + 4 * (k // 2), 1 + 4 * (k % 2)
        x[i, r : r + 3, c : c + 3] += 0.7
    params = {
        "W_conv": rng.normal(scale=0.3, size=(3, 3, 1, f)), "b_conv": np.zeros(f),
        "W1": rng.normal(scale=np.sqrt(2 / (16 * f)), size=(16 * f, hidden)), "b1": np.zeros(hidden),
        "W2": rng.normal(scale=np.sqrt(1 / hidden), size=(hidden, 10)), "b2": np.zeros(10),
    }
    return x, np.eye(10)[classes], params, {"bn": ref.init_running(f, np.float64)}


def _train_cases():
    x, labels, params, state, _ = _network()
    rng = np.random.default_rng(5013)
    xs = rng.uniform(0, 1, size=(20,) + x.shape[1:])
    ys = np.eye(10)[rng.integers(0, 10, 20)]
    deterministic = dict(batch_size=8, keep_prob=1.0, l2_lambda=0.01, shuffle=False)
    tx, ty, tparams, tstate = _toy_problem()
    learning = dict(batch_size=16, keep_prob=0.75, l2_lambda=5e-4, shuffle=True)
    return [
        Case(_DETERMINISTIC, (xs, ys, params, state, 1e-3, 5, deterministic, 1), call=_train_epoch_runs),
        Case(_LEARNING, (tx, ty, tparams, tstate, 1e-2, 6, learning, 3), call=_train_epoch_runs),
    ]


def _adam_paper(w, dw, config):
    """Adam as the paper writes it (epsilon added to sqrt(v_hat)); TF1's form is ref.adam_update."""
    lr, b1, b2, eps = (config[k] for k in ("learning_rate", "beta1", "beta2", "epsilon"))
    t = config.get("t", 0) + 1
    m = b1 * config.get("m", np.zeros_like(w)) + (1 - b1) * dw
    v = b2 * config.get("v", np.zeros_like(w)) + (1 - b2) * dw * dw
    return w - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps), {**config, "m": m, "v": v, "t": t}


def _reference_epoch(x, labels, params, state, learning_rate, settings, l2=True, adam=ref.adam_update):
    """One epoch in order without dropout, from the reference layers: (params, state, cross-entropies, L2 terms).
    Where a gradient is as small as epsilon, the two placements of Adam's epsilon give visibly different steps,
    so a loop is compared with a run in each form."""
    params, configs = dict(params), ref.init_adam(params, learning_rate)
    lam = settings["l2_lambda"] if l2 else 0.0
    ce, l2_terms = [], []
    for start in range(0, len(x), settings["batch_size"]):
        batch = slice(start, start + settings["batch_size"])
        logits, cache, state = ref.cnn_forward(x[batch], params, state, True, None, 1.0)
        loss, dlogits = ref.softmax_cross_entropy_with_logits(logits, labels[batch])
        grads = ref.cnn_backward(dlogits, cache)
        ce.append(loss)
        l2_terms.append(lam * sum(ref.l2_loss(params[k]) for k in ref.L2_KEYS))
        for k in ref.L2_KEYS:
            grads[k] = grads[k] + lam * params[k]
        for k in params:
            params[k], configs[k] = adam(params[k], grads[k], configs[k])
    return params, state, np.array([ce]), np.array([l2_terms])


def _judge_train_epoch(cases, outcomes, report):
    for case in cases:
        got = driver_value("train_epoch", outcomes[case.name], case)
        x, labels, params, state, learning_rate, _, settings, epochs = case.args
        keys = sorted(k.removeprefix("param ") for k in got if k.startswith("param "))
        if keys != sorted(params):
            raise Failure(f"train_epoch must return params with the same keys ({', '.join(params)}); got {', '.join(keys)}", "train_epoch.wrong_keys")
        losses = got["losses"]
        batches = -(-len(x) // settings["batch_size"])
        if losses.ndim != 2 or losses.shape[1] != batches:
            raise Failure(f"train_epoch must return one loss per batch: {len(x)} images in batches of {settings['batch_size']} "
                          f"make {batches} batches (the last one smaller), got {losses.shape[-1]} losses", "train_epoch.wrong_losses_length")
        if case.name == _DETERMINISTIC:  # one epoch, in order, keep_prob 1: the reference's numbers exactly
            runs = [_reference_epoch(x, labels, params, state, learning_rate, settings, adam=adam) for adam in (ref.adam_update, _adam_paper)]
            matching = [run for run in runs if all(_agree(got["param " + k], run[0][k], 1e-6) for k in params)]
            params_ok = bool(matching)
            want_params, want_state, ce, l2_terms = (matching or runs)[0]
            want_losses = ce + l2_terms
            state_ok = _agree(got["bn mean"], want_state["bn"]["mean"]) and _agree(got["bn var"], want_state["bn"]["var"])
            if params_ok and state_ok and _agree(losses, want_losses):
                continue
            no_l2 = _reference_epoch(x, labels, params, state, learning_rate, settings, l2=False)[0]
            if all(_agree(got["param " + k], no_l2[k], 1e-4) for k in params):
                raise Failure("train_epoch leaves out the L2 term: loss += l2_lambda * (l2_loss(W1) + l2_loss(W2)), and "
                              "l2_lambda * W is added to the gradients of W1 and W2", "train_epoch.no_l2")
            if params_ok and _agree(losses, ce):
                raise Failure("train_epoch: the recorded losses leave out the L2 term l2_lambda * (l2_loss(W1) + l2_loss(W2))", "train_epoch.l2_not_in_losses")
            if params_ok:
                if not _agree(losses, want_losses):
                    raise Failure(f"train_epoch: the losses are wrong on '{case.name}': record each batch's loss (cross-entropy "
                                  f"plus the L2 term) before its Adam step; expected {fmt(want_losses)}, got {fmt(losses)}", "train_epoch.wrong_losses")
                raise Failure("train_epoch must carry the batch-norm state from batch to batch and return it", "train_epoch.state_not_carried")
            raise Failure(f"train_epoch gives different weights than the reference after {_DETERMINISTIC} (with shuffle=False "
                          "the batches come in order; each: forward with keep_prob, loss + L2, backward, + L2 gradients, "
                          "adam_update for every parameter); make sure cnn_forward, cnn_backward and adam_update pass their "
                          "tests first", "train_epoch.wrong_weights")
        first, last = float(np.mean(losses[0])), float(np.mean(losses[-1]))
        accuracy = float(np.mean(np.argmax(ref.cnn_forward(
            x, {k: got["param " + k] for k in params}, {"bn": {"mean": got["bn mean"], "var": got["bn var"]}}, False)[0], axis=1)
            == np.argmax(labels, axis=1)))
        if not (np.all(np.isfinite(losses)) and last < 0.6 * first and accuracy >= 0.9):
            raise Failure(f"train_epoch does not learn the toy problem ({_LEARNING}): mean loss {first:.3f} in the first epoch, "
                          f"{last:.3f} in the last, training accuracy {accuracy:.0%} (the reference: below 0.2 and 100%)", "train_epoch.does_not_learn")


# ---------------------------------------------------------------------------------------- the checks

check_tf_padding = Check("tf_padding", POINTS["tf_padding"], _padding_cases, _judge_tf_padding)
check_conv2d_forward = Check("conv2d_forward", POINTS["conv2d_forward"], _conv_forward_cases, _judge_conv2d_forward)
check_conv2d_backward = Check("conv2d_backward", POINTS["conv2d_backward"], _conv_backward_cases, _judge_conv2d_backward,
                              needs=("conv2d_forward", "conv2d_backward"), watch=_CONV_ARGS)
check_relu_forward = Check("relu_forward", POINTS["relu_forward"], _relu_forward_cases, _judge_relu_forward)
check_relu_backward = Check("relu_backward", POINTS["relu_backward"], _relu_backward_cases, _judge_relu_backward,
                            needs=("relu_forward", "relu_backward"), watch=("x",))
check_batch_norm_forward = Check("batch_norm_forward", POINTS["batch_norm_forward"], _bn_forward_cases, _judge_batch_norm_forward)
check_batch_norm_backward = Check("batch_norm_backward", POINTS["batch_norm_backward"], _bn_backward_cases,
                                  _judge_batch_norm_backward, needs=("batch_norm_forward", "batch_norm_backward"),
                                  watch=("x", "running", "training", "momentum"))
check_max_pool_forward = Check("max_pool_forward", POINTS["max_pool_forward"], _pool_forward_cases, _judge_max_pool_forward)
check_max_pool_backward = Check("max_pool_backward", POINTS["max_pool_backward"], _pool_backward_cases, _judge_max_pool_backward,
                                needs=("max_pool_forward", "max_pool_backward"), watch=("x", "size", "stride", "padding"))
check_dropout_forward = Check("dropout_forward", POINTS["dropout_forward"], _dropout_forward_cases, _judge_dropout_forward)
check_dropout_backward = Check("dropout_backward", POINTS["dropout_backward"], _dropout_backward_cases, _judge_dropout_backward,
                               needs=("dropout_forward", "dropout_backward"), watch=("x", "keep_prob", "rng", "training"))
check_dense_forward = Check("dense_forward", POINTS["dense_forward"], _dense_forward_cases, _judge_dense_forward)
check_dense_backward = Check("dense_backward", POINTS["dense_backward"], _dense_backward_cases, _judge_dense_backward,
                             needs=("dense_forward", "dense_backward"), watch=("x", "w", "b"))
check_softmax_cross_entropy_with_logits = Check("softmax_cross_entropy_with_logits", POINTS["softmax_cross_entropy_with_logits"],
                                                _loss_cases, _judge_softmax_cross_entropy)
check_l2_loss = Check("l2_loss", POINTS["l2_loss"], _l2_cases, _judge_l2_loss)
check_adam_update = Check("adam_update", POINTS["adam_update"], _adam_cases, _judge_adam_update)
check_cnn_forward = Check("cnn_forward", POINTS["cnn_forward"], _cnn_forward_cases, _judge_cnn_forward)
check_cnn_backward = Check("cnn_backward", POINTS["cnn_backward"], _cnn_backward_cases, _judge_cnn_backward,
                           needs=("cnn_forward", "cnn_backward"), watch=("x", "params", "state", "training", "rng", "keep_prob"))
check_train_epoch = Check("train_epoch", POINTS["train_epoch"], _train_cases, _judge_train_epoch)

CHECKS = {
    c.name: c
    for c in (
        check_tf_padding, check_conv2d_forward, check_conv2d_backward, check_relu_forward, check_relu_backward,
        check_batch_norm_forward, check_batch_norm_backward, check_max_pool_forward, check_max_pool_backward,
        check_dropout_forward, check_dropout_backward, check_dense_forward, check_dense_backward,
        check_softmax_cross_entropy_with_logits, check_l2_loss, check_adam_update, check_cnn_forward,
        check_cnn_backward, check_train_epoch,
    )
}

"""Hidden-test checks for a1_helpers: relu, softmax, compute_layer, average_ce, grad_ce, accuracy.

Each ``check_<name>(student_fn)`` returns the points earned as a plain float or raises an
AssertionError whose message names the mistake. Inputs, edge cases and tolerances live here (not in
the notebook), so ``nbgrader generate_feedback`` shows students a call, never the test data.
Tolerances accept every correct style (loops, np.where, log-sum-exp, an epsilon inside the log,
float32 arithmetic) and still sit orders of magnitude below the smallest mistake they must catch.
"""

from __future__ import annotations

import math

import numpy as np

from ..reference import a1_helpers as ref
from ._core import Case, Check, Failure, close, deduct_modified_input, expect_ok, fmt, isnan_any, ratio

POINTS = {"relu": 1, "softmax": 3, "compute_layer": 1, "average_ce": 2, "grad_ce": 2, "accuracy": 1}


def _rng(seed):
    return np.random.default_rng(seed)


def _one_hot(labels, k):
    return np.eye(k)[np.asarray(labels)]


def _random_targets(rng, n, k):
    return _one_hot(rng.integers(0, k, size=n), k)


def _tolerance(*arrays):
    """(rtol, atol) for a result computed from these inputs: looser when any of them is float32."""
    if any(isinstance(a, np.ndarray) and a.dtype == np.float32 for a in arrays):
        return 1e-4, 1e-6
    return 1e-6, 1e-10


def _by_name(cases):
    return {c.name: c for c in cases}


# ----------------------------------------------------------------------------------------- relu


def _relu_cases():
    rng = _rng(101)
    with_zeros = rng.normal(size=(5, 7))
    with_zeros[0, :3] = 0.0
    with_zeros[1, 2] = -0.0
    return [
        Case("known", (np.array([[-2.0, -0.5, 0.0, 0.5, 3.0]]),)),
        Case("random 5x7 with exact zeros", (with_zeros,)),
        Case("float32 3x4", (rng.normal(size=(3, 4)).astype(np.float32),)),
        Case("one row 1x100", (rng.normal(scale=10, size=(1, 100)),)),
        Case("integers", (np.array([[-3, 0, 2], [4, -1, 0]]),)),
    ]


def _judge_relu(cases, outcomes, report):
    for case in cases:
        out = outcomes[case.name]
        expect_ok("relu", out, case)
        (x,) = case.args
        got, want = out.value, ref.relu(x)
        if got.shape != want.shape:
            raise Failure(f"relu returned shape {got.shape} for an input of shape {x.shape}; it must keep the shape", "relu.wrong_shape")
        if x.dtype.kind == "f" and got.dtype.kind != "f":
            raise Failure(f"relu returned {got.dtype} values for a float input: keep the input's float dtype", "relu.int_dtype")
        if not close(got, want, 1e-6, 0.0):
            if (got < 0).any():
                raise Failure(f"relu returned negative values (input '{case.name}'): relu(x) = max(x, 0) is never negative", "relu.negative_values")
            if (x < 0).any() and close(got, np.abs(x), 1e-6, 0):
                raise Failure("relu returned |x|: negative inputs must become 0, not change sign", "relu.abs")
            if ((x > 0) & (got == 0)).any():
                raise Failure(
                    f"relu set some positive inputs to 0 (input '{case.name}'): keep x where x > 0 and use 0 elsewhere",
                    "relu.zeroes_positive_inputs",
                )
            raise Failure(f"relu returned wrong values on input '{case.name}': expected {fmt(want)}, got {fmt(got)}", "relu.wrong_values")
    deduct_modified_input(report, "relu", cases, outcomes, ("x",))


# -------------------------------------------------------------------------------------- softmax

_SOFTMAX_CORE = ("known", "random 8x5", "one row 1x6", "square 4x4", "batch 64x10", "float32 5x7", "one class 3x1")


def _softmax_cases():
    rng = _rng(202)
    return [
        Case("known", (np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]),)),
        Case("random 8x5", (rng.normal(scale=2.0, size=(8, 5)),)),
        Case("one row 1x6", (rng.normal(size=(1, 6)),)),
        Case("square 4x4", (rng.normal(scale=3.0, size=(4, 4)),)),
        Case("batch 64x10", (rng.normal(scale=5.0, size=(64, 10)),)),
        Case("float32 5x7", (rng.normal(scale=2.0, size=(5, 7)).astype(np.float32),)),
        Case("one class 3x1", (rng.normal(size=(3, 1)),)),
        # Every row near 1e4: exp overflows unless the logits are shifted first.
        Case("large logits near 1e4", (np.array([[1e4, 1e4 - 1, 1e4 - 3], [1e4 - 2, 1e4, 1e4 - 1]]),)),
        # Rows 2e4 apart: a shift by the batch's global max sends the low rows to 0/0.
        Case(
            "rows far apart (1e4 and -1e4)",
            (np.array([[1e4, 1e4 - 1, 1e4 - 3], [-1e4, -1e4 + 2, -1e4 + 1], [1000.0, 0.0, -1000.0]]),),
        ),
    ]


def _softmax_mismatch(x, got, want, case_name):
    """(message, mistake id) for softmax values that are not the reference's."""
    if got.shape != want.shape:
        return (
            f"softmax returned shape {got.shape} for logits of shape {x.shape}; it must keep the shape "
            "(use keepdims=True when you sum or take the max over axis 1)",
            "softmax.wrong_shape",
        )
    if isnan_any(got):
        return f"softmax returned nan/inf for ordinary logits (input '{case_name}')", "softmax.nonfinite"
    row_sums = got.sum(axis=1)
    if x.shape[0] > 1 and np.allclose(got.sum(axis=0), 1.0, atol=1e-6) and not np.allclose(row_sums, 1.0, atol=1e-6):
        return "softmax rows do not sum to 1 but its columns do: did you normalise over axis 0? Each row is one sample", "softmax.axis0"
    if x.shape[0] > 1 and np.isclose(got.sum(), 1.0, atol=1e-6):
        return (
            "softmax sums to 1 over the whole batch: normalise each row separately "
            "(np.sum(..., axis=1, keepdims=True))",
            "softmax.whole_batch",
        )
    if not np.allclose(row_sums, 1.0, atol=1e-5):
        return (
            f"softmax rows do not sum to 1 (input '{case_name}', row sums {fmt(row_sums)}): divide exp(x) by its row sum",
            "softmax.rows_not_normalised",
        )
    return f"softmax returned wrong values on input '{case_name}': expected {fmt(want)}, got {fmt(got)}", "softmax.wrong_values"


def _judge_softmax(cases, outcomes, report):
    cases = _by_name(cases)
    for name in _SOFTMAX_CORE:
        case, out = cases[name], outcomes[name]
        expect_ok("softmax", out, case)
        (x,) = case.args
        want = ref.softmax(x.astype(np.float64))
        if not close(out.value, want, 1e-5, 1e-8):
            raise Failure(*_softmax_mismatch(x, out.value, want, name))

    unstable = []
    for name in ("large logits near 1e4", "rows far apart (1e4 and -1e4)"):
        out = outcomes[name]
        if not out.ok or not close(out.value, ref.softmax(cases[name].args[0]), 1e-5, 1e-8):
            unstable.append((name, out))
    if unstable:
        names = [n for n, _ in unstable]
        nonfinite = all(o.ok and o.value.shape == cases[n].args[0].shape and isnan_any(o.value) for n, o in unstable)
        if nonfinite and len(names) == 2:
            message = (
                "softmax returns nan/inf for large logits (rows near 1e4): np.exp overflows. "
                "Subtract each row's maximum before np.exp (softmax(x) = softmax(x - c) for any c per row)"
            )
            mistake = "softmax.no_max_shift"
        elif nonfinite and names == ["rows far apart (1e4 and -1e4)"]:
            message = (
                "softmax returns nan for rows far below the batch's largest logit: you shifted by the global "
                "max, so those rows underflow to 0/0. Shift each row by its own max: x.max(axis=1, keepdims=True)"
            )
            mistake = "softmax.global_max_shift"
        else:
            details = "; ".join(o.error if not o.ok else f"got {fmt(o.value)}" for _, o in unstable)
            message = f"softmax is wrong for large logits ({', '.join(names)}): {details}"
            mistake = "softmax.wrong_for_large_logits"
        report.deduct(1.5, message, mistake)

    deduct_modified_input(report, "softmax", cases.values(), outcomes, ("x",), 1.0)


# -------------------------------------------------------------------------------- compute_layer


def _compute_layer_cases():
    rng = _rng(303)

    def layer(n, d, h, dtype=np.float64, bias_row=False):
        b = rng.normal(size=(1, h) if bias_row else (h,))
        return tuple(a.astype(dtype) for a in (rng.normal(size=(n, d)), rng.normal(size=(d, h)), b))

    return [
        Case(
            "known",
            (np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.0, 0.0, -1.0], [0.5, 1.0, 2.0]]), np.array([0.1, 0.2, 0.3])),
        ),
        Case("random 6x4 -> 3", layer(6, 4, 3)),
        Case("bias of shape (1, H)", layer(5, 3, 4, bias_row=True)),
        Case("one sample 1x8 -> 2", layer(1, 8, 2)),
        Case("one input feature 7x1 -> 5", layer(7, 1, 5)),
        Case("float32 16x10 -> 6", layer(16, 10, 6, dtype=np.float32)),
    ]


def _judge_compute_layer(cases, outcomes, report):
    for case in cases:
        out = outcomes[case.name]
        expect_ok("compute_layer", out, case)
        x, w, b = case.args
        want = ref.compute_layer(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64))
        got = out.value
        rtol, atol = _tolerance(x)
        if close(got, want, rtol, atol):
            continue
        if got.shape != want.shape:
            raise Failure(
                f"compute_layer returned shape {got.shape} for x {x.shape}, w {w.shape}, b {b.shape}; "
                f"expected {want.shape} = (samples, outputs): x @ w + b",
                "compute_layer.wrong_shape",
            )
        xw = x.astype(np.float64) @ w.astype(np.float64)
        if close(got, xw, rtol, atol):
            raise Failure("compute_layer does not add the bias: it should return x @ w + b", "compute_layer.no_bias")
        if close(got, xw - b, rtol, atol):
            raise Failure("compute_layer subtracts the bias: it should return x @ w + b", "compute_layer.subtracts_bias")
        if close(got, x * 0 + xw + b.reshape(-1)[0], rtol, atol) and b.size > 1:
            raise Failure("compute_layer adds only the first bias entry to every output", "compute_layer.first_bias_only")
        raise Failure(
            f"compute_layer returned wrong values on input '{case.name}': expected {fmt(want)}, got {fmt(got)}",
            "compute_layer.wrong_values",
        )
    deduct_modified_input(report, "compute_layer", cases, outcomes, ("x", "w", "b"))


# ----------------------------------------------------------------------------------- average_ce

_CE_CORE = ("known", "random 6x4", "one sample 1x3", "batch 32x10", "float32 8x5", "two classes 10x2")


def _ce_inputs(rng, n, k, dtype=np.float64):
    # Mild logits keep every target probability above ~1e-3, so an epsilon inside the log (a common,
    # correct style) moves the loss by far less than the tolerance.
    logits = rng.normal(scale=1.0, size=(n, k))
    return _random_targets(rng, n, k).astype(dtype), ref.softmax(logits).astype(dtype)


def _average_ce_cases():
    rng = _rng(404)
    return [
        Case("known", (np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]), np.array([[0.2, 0.7, 0.1], [0.5, 0.25, 0.25]]))),
        Case("random 6x4", _ce_inputs(rng, 6, 4)),
        Case("one sample 1x3", _ce_inputs(rng, 1, 3)),
        Case("batch 32x10", _ce_inputs(rng, 32, 10)),
        Case("float32 8x5", _ce_inputs(rng, 8, 5, np.float32)),
        Case("two classes 10x2", _ce_inputs(rng, 10, 2)),
        Case(
            "predictions exactly 0 where the target is 0",
            (
                np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]),
                np.array([[0.0, 1.0, 0.0], [0.5, 0.0, 0.5], [0.25, 0.0, 0.75]]),
            ),
        ),
    ]


def _scalar_value(name, out, case):
    expect_ok(name, out, case)
    if out.value.size != 1:
        raise Failure(
            f"{name} returned an array of shape {out.value.shape} (input '{case.name}'); "
            "return one number: the average over all samples",
            f"{name}.not_one_number",
        )
    return out.value.reshape(())


def _ce_mismatch(target, prediction, got, want, case_name):
    """(message, mistake id) for a loss that is not the reference's."""
    n, k = target.shape
    if not np.isfinite(got):
        return (
            f"average_ce returned {float(got)} for ordinary predictions (input '{case_name}'): check the argument "
            "order average_ce(target, prediction) and take the log of the predictions, not of the targets",
            "average_ce.nonfinite",
        )
    r = ratio(np.asarray(got), np.asarray(want))
    if r is not None:
        if math.isclose(r, 1 / k, rel_tol=1e-3) and k > 1:
            return f"average_ce is {k}x too small: you averaged over N*K entries; divide the sum by N (samples) only", "average_ce.divided_by_nk"
        if math.isclose(r, n, rel_tol=1e-3) and n > 1:
            return f"average_ce is {n}x too large: divide the summed loss by the number of samples N", "average_ce.not_divided_by_n"
        if math.isclose(r, -1, rel_tol=1e-3):
            return "average_ce has the wrong sign: cross-entropy is -(1/N) sum t log p, which is never negative", "average_ce.wrong_sign"
        if math.isclose(r, 1 / math.log(10), rel_tol=1e-3):
            return "average_ce uses log10: cross-entropy uses the natural log (np.log)", "average_ce.log10"
        if math.isclose(r, 1 / math.log(2), rel_tol=1e-3):
            return "average_ce uses log2: cross-entropy uses the natural log (np.log)", "average_ce.log2"
    with np.errstate(all="ignore"):
        binary = -np.sum(target * np.log(prediction) + (1 - target) * np.log(1 - prediction)) / n
    if np.isfinite(binary) and math.isclose(float(got), float(binary), rel_tol=1e-4):
        return (
            "average_ce adds (1 - t) log(1 - p) terms: that is binary cross-entropy; categorical CE sums only t log p",
            "average_ce.binary_cross_entropy",
        )
    return f"average_ce returned {float(got):.6g} on input '{case_name}', expected {float(want):.6g}", "average_ce.wrong_values"


def _judge_average_ce(cases, outcomes, report):
    cases = _by_name(cases)
    for name in _CE_CORE:
        case, out = cases[name], outcomes[name]
        target, prediction = case.args
        got = _scalar_value("average_ce", out, case)
        want = np.asarray(ref.average_ce(target.astype(np.float64), prediction.astype(np.float64)))
        if not close(got, want, 1e-4, 1e-7):
            raise Failure(*_ce_mismatch(target.astype(float), prediction.astype(float), got, want, name))

    name = "predictions exactly 0 where the target is 0"
    case, out = cases[name], outcomes[name]
    want = np.asarray(ref.average_ce(*case.args))
    if not out.ok or out.value.size != 1 or not close(out.value.reshape(()), want, 1e-4, 1e-7):
        if out.ok and out.value.size == 1 and not np.isfinite(out.value).all():
            message = (
                "average_ce returns nan when a prediction is exactly 0 where the target is 0: 0 * log(0) is nan in "
                "numpy. Those entries must contribute 0: take the log only where the target is 1 (or use np.where)"
            )
            mistake = "average_ce.nan_for_zero_predictions"
        else:
            message = f"average_ce is wrong when some predictions are exactly 0 ({out.error or fmt(out.value)})"
            mistake = "average_ce.wrong_for_zero_predictions"
        report.deduct(1.0, message, mistake)

    deduct_modified_input(report, "average_ce", cases.values(), outcomes, ("target", "prediction"))


# -------------------------------------------------------------------------------------- grad_ce

_GRAD_CORE = ("known", "random 6x4", "one sample 1x3", "batch 32x10", "float32 8x5", "two classes 10x2")


def _grad_inputs(rng, n, k, dtype=np.float64, scale=2.0):
    return _random_targets(rng, n, k).astype(dtype), rng.normal(scale=scale, size=(n, k)).astype(dtype)


def _grad_ce_cases():
    rng = _rng(505)
    return [
        Case("known", (np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]), np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]))),
        Case("random 6x4", _grad_inputs(rng, 6, 4)),
        Case("one sample 1x3", _grad_inputs(rng, 1, 3)),
        Case("batch 32x10", _grad_inputs(rng, 32, 10)),
        Case("float32 8x5", _grad_inputs(rng, 8, 5, np.float32)),
        Case("two classes 10x2", _grad_inputs(rng, 10, 2)),
        Case(
            "large logits (800 and above)",
            (np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), np.array([[800.0, 0.0, -800.0], [1000.0, 999.0, 0.0]])),
        ),
    ]


def _grad_mismatch(target, logits, got, want, case_name):
    """(message, mistake id) for a gradient that is not the reference's."""
    n, k = target.shape
    if got.shape != want.shape:
        return f"grad_ce returned shape {got.shape}; the gradient has the logits' shape {want.shape}", "grad_ce.wrong_shape"
    if isnan_any(got):
        return f"grad_ce returned nan/inf for ordinary logits (input '{case_name}')", "grad_ce.nonfinite"
    r = ratio(got, want)
    if r is not None:
        if math.isclose(r, n, rel_tol=1e-3) and n > 1:
            return f"grad_ce is {n}x too large: the gradient of the *average* loss carries a factor 1/N", "grad_ce.not_divided_by_n"
        if math.isclose(r, -1, rel_tol=1e-3):
            return "grad_ce has the wrong sign: it is (softmax(logits) - target) / N", "grad_ce.wrong_sign"
        if math.isclose(r, 1 / k, rel_tol=1e-3) and k > 1:
            return f"grad_ce is {k}x too small: divide by N (samples), not N*K", "grad_ce.divided_by_nk"
    if close(got, (logits - target) / n, 1e-5, 1e-9) or close(got, logits - target, 1e-5, 1e-9):
        return "grad_ce treats the logits as probabilities: apply softmax to the logits first, (softmax(z) - t) / N", "grad_ce.no_softmax"
    if n > 1:
        e = np.exp(logits - logits.max(axis=0, keepdims=True))
        wrong_axis = e / e.sum(axis=0, keepdims=True)
        if close(got, (wrong_axis - target) / n, 1e-5, 1e-9):
            return "grad_ce's softmax normalises over axis 0: each row (sample) must sum to 1", "grad_ce.softmax_axis0"
    return f"grad_ce returned wrong values on input '{case_name}': expected {fmt(want)}, got {fmt(got)}", "grad_ce.wrong_values"


def _judge_grad_ce(cases, outcomes, report):
    cases = _by_name(cases)
    for name in _GRAD_CORE:
        case, out = cases[name], outcomes[name]
        expect_ok("grad_ce", out, case)
        target, logits = (a.astype(np.float64) for a in case.args)
        want = ref.grad_ce(target, logits)
        rtol, atol = _tolerance(*case.args)
        if not close(out.value, want, rtol, atol * 0.1):
            raise Failure(*_grad_mismatch(target, logits, out.value, want, name))

    name = "large logits (800 and above)"
    case, out = cases[name], outcomes[name]
    if not out.ok or not close(out.value, ref.grad_ce(*case.args), 1e-6, 1e-10):
        detail = out.error if not out.ok else fmt(out.value)
        report.deduct(
            0.5,
            f"grad_ce is wrong for large logits (800 and above; got {detail}): exp overflows unless the softmax "
            "inside subtracts each row's max first",
            "grad_ce.wrong_for_large_logits",
        )

    deduct_modified_input(report, "grad_ce", cases.values(), outcomes, ("target", "logits"))


# ------------------------------------------------------------------------------------- accuracy


def _accuracy_cases():
    rng = _rng(606)
    labels = rng.integers(0, 5, size=50)
    logits = rng.normal(size=(50, 5))
    logits[np.arange(50)[:30], labels[:30]] += 10.0  # 30 of 50 certainly right, the rest by chance
    probs = ref.softmax(logits)
    three = rng.normal(size=(20, 3))
    return [
        Case("known", (_one_hot([0, 1, 2, 1], 3), np.array([[0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.1, 0.1, 0.8], [0.3, 0.6, 0.1]]))),
        Case("probabilities 50x5", (_one_hot(labels, 5), probs)),
        Case("logits 20x3", (_random_targets(rng, 20, 3), three)),
        Case("all right", (_one_hot([2, 0, 1], 3), np.array([[0.1, 0.2, 0.7], [0.9, 0.05, 0.05], [0.3, 0.4, 0.3]]))),
        Case("all wrong", (_one_hot([0, 0], 2), np.array([[0.4, 0.6], [0.1, 0.9]]))),
        Case("one sample", (_one_hot([1], 4), np.array([[0.1, 0.6, 0.2, 0.1]]))),
    ]


def _judge_accuracy(cases, outcomes, report):
    for case in cases:
        out = outcomes[case.name]
        target, prediction = case.args
        got = _scalar_value("accuracy", out, case)
        want = float(ref.accuracy(target, prediction))
        if close(got, np.asarray(want), 0.0, 1e-9):
            continue
        g, n = float(got), target.shape[0]
        if math.isclose(g, 100 * want, abs_tol=1e-6) and want > 0:
            raise Failure("accuracy is a percentage: return a fraction in [0, 1]", "accuracy.percentage")
        if math.isclose(g, n * want, abs_tol=1e-6) and n > 1 and want > 0:
            raise Failure("accuracy returns the number of correct samples: divide by the number of samples N", "accuracy.count_not_fraction")
        if math.isclose(g, 1 - want, abs_tol=1e-9):
            raise Failure("accuracy returns the error rate (fraction wrong): return the fraction of correct rows", "accuracy.error_rate")
        raise Failure(
            f"accuracy returned {g:.6g} on input '{case.name}', expected {want:.6g}: compare np.argmax over axis 1 "
            "(the class of each sample) of the target and of the prediction",
            "accuracy.wrong_values",
        )
    deduct_modified_input(report, "accuracy", cases, outcomes, ("target", "prediction"))


# ---------------------------------------------------------------------------------- the checks

check_relu = Check("relu", POINTS["relu"], _relu_cases, _judge_relu)
check_softmax = Check("softmax", POINTS["softmax"], _softmax_cases, _judge_softmax)
check_compute_layer = Check("compute_layer", POINTS["compute_layer"], _compute_layer_cases, _judge_compute_layer)
check_average_ce = Check("average_ce", POINTS["average_ce"], _average_ce_cases, _judge_average_ce)
check_grad_ce = Check("grad_ce", POINTS["grad_ce"], _grad_ce_cases, _judge_grad_ce)
check_accuracy = Check("accuracy", POINTS["accuracy"], _accuracy_cases, _judge_accuracy)

CHECKS = {c.name: c for c in (check_relu, check_softmax, check_compute_layer, check_average_ce, check_grad_ce, check_accuracy)}

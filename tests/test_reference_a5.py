"""The a5_cnn references: the fast layers (autograder/reference/a5_cnn.py) against the loop oracles
(a5_naive.py) and against central finite differences, the conventions (TF padding, keep_prob, tie rule,
running averages, Adam's bias correction), and a short training run on real MNIST.

Gradient checks run in float64 on tiny shapes; the error measure is max |a - b| / max(max|a|, max|b|).
"""

import math
import os
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

from autograder.data import MnistError, load_mnist, prepare_mnist
from autograder.reference import a5_cnn as fast
from autograder.reference import a5_naive as naive
from autograder.reference.a2_backprop import numerical_gradient
from notebooks import ROOT

GRAD_TOL = 1e-6


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    """These shapes are small: one BLAS thread is as fast, and immune to the 10-100x slow-down of OpenBLAS's
    spinning threads when the machine's cores are already busy (parallel test runs, other users)."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def rel_error(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    scale = max(np.max(np.abs(a), initial=0.0), np.max(np.abs(b), initial=0.0), 1e-12)
    return float(np.max(np.abs(a - b), initial=0.0) / scale)


def spread(rng, shape):
    """Random values in (-1, 1), at least 0.8 / n apart and 0.4 / n from 0: no max-pool tie and no ReLU kink
    is within reach of a finite-difference step."""
    n = int(np.prod(shape))
    return ((rng.permutation(n) - n / 2 + rng.uniform(0.2, 0.8, n)) * (2 / n)).reshape(shape)


def check_grad(f, x, analytic, eps=1e-6):
    """Central differences of the scalar f at x against the analytic gradient."""
    err = rel_error(numerical_gradient(f, x, eps), analytic)
    assert err < GRAD_TOL, f"relative error {err:.2e}"


# ------------------------------------------------------------------------------------------------ padding

# (in, k, stride) -> (out, top, bottom), worked out by hand from TensorFlow's documented rule.
SAME_CASES = {(28, 3, 1): (28, 1, 1), (6, 3, 2): (3, 0, 1), (7, 3, 2): (4, 1, 1), (8, 4, 1): (8, 1, 2),
              (5, 2, 2): (3, 0, 1), (28, 2, 2): (14, 0, 0), (3, 5, 1): (3, 2, 2), (4, 1, 3): (2, 0, 0)}
VALID_CASES = {(28, 3, 1): 26, (7, 3, 2): 3, (6, 3, 2): 2, (5, 5, 3): 1, (9, 2, 4): 2}


def test_tf_padding_matches_tensorflows_rule():
    for (n, k, s), expected in SAME_CASES.items():
        assert fast.tf_padding(n, k, s, "SAME") == expected
    for (n, k, s), out in VALID_CASES.items():
        assert fast.tf_padding(n, k, s, "VALID") == (out, 0, 0)
    with pytest.raises(ValueError, match="SAME"):
        fast.tf_padding(5, 3, 1, "same")
    with pytest.raises(ValueError, match="does not fit"):
        fast.tf_padding(2, 3, 1, "VALID")


def test_same_padding_puts_the_extra_row_and_column_at_the_bottom_right():
    x = np.arange(1.0, 5.0).reshape(1, 2, 2, 1)  # [[1, 2], [3, 4]]; 2x2 kernel, SAME: pad 0 above, 1 below
    w = np.ones((2, 2, 1, 1))
    for module in (fast, naive):
        out, _ = module.conv2d_forward(x, w, np.zeros(1), 1, "SAME")
        np.testing.assert_allclose(out[0, :, :, 0], [[10, 6], [7, 4]])  # top-left padding would give [[1, 3], [4, 10]]
    x = -np.arange(1.0, 10.0).reshape(1, 3, 3, 1)  # all negative: a zero pad would win, a -inf pad never does
    for module in (fast, naive):
        out, _ = module.max_pool_forward(x, 2, 2, "SAME")
        np.testing.assert_array_equal(out[0, :, :, 0], [[-1, -3], [-7, -9]])


# ------------------------------------------------------------------------------------- fast vs naive

CONV_CASES = [  # (N, H, W, C_in, KH, KW, C_out, stride, padding)
    (2, 5, 5, 1, 3, 3, 4, 1, "SAME"),
    (3, 6, 7, 2, 3, 3, 3, 2, "SAME"),  # 6 with stride 2: pad 0 above, 1 below
    (1, 7, 6, 3, 2, 2, 2, 2, "SAME"),
    (2, 8, 5, 2, 4, 3, 5, 1, "SAME"),  # even kernel, stride 1: pad 1 above, 2 below
    (4, 6, 6, 1, 3, 3, 2, 1, "VALID"),
    (2, 7, 9, 3, 3, 2, 4, 2, "VALID"),
    (1, 9, 7, 2, 3, 3, 3, (2, 1), "SAME"),
    (5, 4, 4, 1, 1, 1, 3, 3, "SAME"),
    (2, 3, 3, 2, 5, 5, 2, 1, "SAME"),  # kernel larger than the image
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "x".join(map(str, c[:7])) + f"-s{c[7]}-{c[8]}")
def test_conv_fast_agrees_with_the_loops(case):
    n, h, w, c_in, kh, kw, c_out, stride, padding = case
    rng = np.random.default_rng(CONV_CASES.index(case))
    x, wt, b = (rng.standard_normal(shape) for shape in ((n, h, w, c_in), (kh, kw, c_in, c_out), (c_out,)))
    originals = [a.copy() for a in (x, wt, b)]
    out, cache = fast.conv2d_forward(x, wt, b, stride, padding)
    expected, naive_cache = naive.conv2d_forward(x, wt, b, stride, padding)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    for got, want in zip(fast.conv2d_backward(dout, cache), naive.conv2d_backward(dout, naive_cache), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert fast.conv2d_backward(dout, cache, need_dx=False)[0] is None
    for a, original in zip((x, wt, b), originals, strict=True):
        np.testing.assert_array_equal(a, original)  # inputs untouched

    x32, w32, b32 = (a.astype(np.float32) for a in (x, wt, b))
    out32, cache32 = fast.conv2d_forward(x32, w32, b32, stride, padding)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, expected, rtol=1e-4, atol=1e-4)
    assert all(g.dtype == np.float32 for g in fast.conv2d_backward(dout.astype(np.float32), cache32))


POOL_CASES = [  # (N, H, W, C, size, stride, padding)
    (2, 6, 6, 3, 2, 2, "SAME"),
    (1, 7, 5, 2, 2, 2, "SAME"),  # odd sizes: the last row / column is a window of its own
    (3, 7, 7, 1, 3, 2, "SAME"),  # overlapping windows
    (2, 5, 6, 2, 3, 1, "SAME"),
    (2, 6, 7, 2, 2, 2, "VALID"),  # the last column belongs to no window
    (1, 8, 8, 3, 3, 3, "VALID"),
    (2, 5, 7, 2, (2, 3), (1, 2), "SAME"),
    (1, 4, 4, 2, 1, 1, "SAME"),
]


@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: "x".join(map(str, c[:4])) + f"-k{c[4]}-s{c[5]}-{c[6]}")
@pytest.mark.parametrize("values", ["distinct", "ties"])
def test_max_pool_fast_agrees_with_the_loops(case, values):
    n, h, w, c, size, stride, padding = case
    rng = np.random.default_rng(POOL_CASES.index(case))
    shape = (n, h, w, c)
    x = rng.standard_normal(shape) if values == "distinct" else rng.integers(-2, 1, shape).astype(np.float64)
    before = x.copy()
    out, cache = fast.max_pool_forward(x, size, stride, padding)
    expected, naive_cache = naive.max_pool_forward(x, size, stride, padding)
    np.testing.assert_array_equal(out, expected)
    dout = rng.standard_normal(out.shape)
    np.testing.assert_allclose(fast.max_pool_backward(dout, cache), naive.max_pool_backward(dout, naive_cache),
                               rtol=1e-14, atol=1e-14)  # the same element wins every tie
    np.testing.assert_array_equal(x, before)
    out32, cache32 = fast.max_pool_forward(x.astype(np.float32), size, stride, padding)
    assert out32.dtype == np.float32 and fast.max_pool_backward(dout.astype(np.float32), cache32).dtype == np.float32


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (7, 3), (1, 5, 5, 1), (3, 1, 2, 4)])
def test_batch_norm_fast_agrees_with_the_loops(shape):
    rng = np.random.default_rng(len(shape) * 10 + shape[-1])
    x = rng.standard_normal(shape) * 3 + 2
    before = x.copy()
    running = fast.init_running(shape[-1], np.float64)
    y, cache, new_running = fast.batch_norm_forward(x, running, training=True)
    expected, naive_cache = naive.batch_norm_forward(x)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(shape)
    np.testing.assert_allclose(fast.batch_norm_backward(dout, cache), naive.batch_norm_backward(dout, naive_cache),
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(x, before)
    np.testing.assert_array_equal(running["mean"], 0)  # the old running averages are not modified
    y32, cache32, _ = fast.batch_norm_forward(x.astype(np.float32), fast.init_running(shape[-1]), True)
    assert y32.dtype == np.float32 and fast.batch_norm_backward(dout.astype(np.float32), cache32).dtype == np.float32
    np.testing.assert_allclose(y32, expected, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------------- finite differences (float64)


@pytest.mark.parametrize("case", [
    (2, 5, 5, 2, 3, 3, 3, 1, "SAME"),
    (2, 6, 5, 2, 3, 3, 2, 2, "SAME"),  # asymmetric padding
    (1, 6, 7, 3, 2, 3, 2, 2, "VALID"),
    (1, 8, 5, 1, 4, 4, 2, 1, "SAME"),
])
@pytest.mark.parametrize("module", [fast, naive], ids=["fast", "naive"])
def test_conv_backward_matches_finite_differences(case, module):
    n, h, w, c_in, kh, kw, c_out, stride, padding = case
    rng = np.random.default_rng(3)
    x, wt, b = (rng.standard_normal(shape) for shape in ((n, h, w, c_in), (kh, kw, c_in, c_out), (c_out,)))
    out, cache = module.conv2d_forward(x, wt, b, stride, padding)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = module.conv2d_backward(dout, cache)

    def loss(_):
        return float(np.sum(module.conv2d_forward(x, wt, b, stride, padding)[0] * dout))

    check_grad(loss, x, dx)
    check_grad(loss, wt, dw)
    check_grad(loss, b, db)


@pytest.mark.parametrize("case", [(2, 4, 4, 2, 2, 2, "SAME"), (1, 5, 7, 2, 3, 2, "SAME"), (2, 5, 5, 1, 2, 1, "VALID")])
@pytest.mark.parametrize("module", [fast, naive], ids=["fast", "naive"])
def test_max_pool_backward_matches_finite_differences(case, module):
    n, h, w, c, size, stride, padding = case
    rng = np.random.default_rng(5)
    x = spread(rng, (n, h, w, c))
    out, cache = module.max_pool_forward(x, size, stride, padding)
    dout = rng.standard_normal(out.shape)
    check_grad(lambda _: float(np.sum(module.max_pool_forward(x, size, stride, padding)[0] * dout)), x,
               module.max_pool_backward(dout, cache))


@pytest.mark.parametrize("shape", [(3, 2, 3, 4), (6, 3)])
def test_batch_norm_backward_matches_finite_differences(shape):
    rng = np.random.default_rng(11)
    x = rng.standard_normal(shape) * 2 + 1
    dout = rng.standard_normal(shape)
    running = {"mean": rng.standard_normal(shape[-1]), "var": rng.uniform(0.5, 2, shape[-1])}
    for training in (True, False):
        _, cache, _ = fast.batch_norm_forward(x, running, training)
        check_grad(lambda _: float(np.sum(fast.batch_norm_forward(x, running, training)[0] * dout)), x,
                   fast.batch_norm_backward(dout, cache))
    _, naive_cache = naive.batch_norm_forward(x)
    check_grad(lambda _: float(np.sum(naive.batch_norm_forward(x)[0] * dout)), x,
               naive.batch_norm_backward(dout, naive_cache))


def test_relu_dense_dropout_softmax_and_l2_backward_match_finite_differences():
    rng = np.random.default_rng(13)
    x = spread(rng, (3, 2, 2, 2))  # no entry within reach of the kink at 0
    dout = rng.standard_normal(x.shape)
    out, cache = fast.relu_forward(x)
    check_grad(lambda _: float(np.sum(fast.relu_forward(x)[0] * dout)), x, fast.relu_backward(dout, cache))

    w, b = rng.standard_normal((8, 5)), rng.standard_normal(5)
    dout = rng.standard_normal((3, 5))
    out, cache = fast.dense_forward(x, w, b)
    assert out.shape == (3, 5)
    dx, dw, db = fast.dense_backward(dout, cache)
    assert dx.shape == x.shape
    f = lambda _: float(np.sum(fast.dense_forward(x, w, b)[0] * dout))  # noqa: E731
    check_grad(f, x, dx)
    check_grad(f, w, dw)
    check_grad(f, b, db)

    h = rng.standard_normal((4, 6))
    dout = rng.standard_normal(h.shape)
    _, cache = fast.dropout_forward(h, 0.6, np.random.default_rng(99), True)
    f = lambda _: float(np.sum(fast.dropout_forward(h, 0.6, np.random.default_rng(99), True)[0] * dout))  # noqa: E731
    check_grad(f, h, fast.dropout_backward(dout, cache))

    logits = rng.standard_normal((4, 3)) * 3
    labels = np.eye(3)[[0, 2, 1, 2]]
    _, dlogits = fast.softmax_cross_entropy_with_logits(logits, labels)
    check_grad(lambda _: fast.softmax_cross_entropy_with_logits(logits, labels)[0], logits, dlogits)

    w = rng.standard_normal((3, 4))
    check_grad(fast.l2_loss, w, fast.l2_loss_grad(w))


# --------------------------------------------------------------------------------------- conventions


def test_max_pool_ties_send_the_gradient_to_exactly_one_element_the_first_in_row_major_order():
    x = np.zeros((1, 4, 4, 1))
    for module in (fast, naive):
        out, cache = module.max_pool_forward(x, 2, 2, "SAME")
        dx = module.max_pool_backward(np.ones(out.shape), cache)
        np.testing.assert_array_equal(dx[0, :, :, 0], [[1, 0, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]])
        assert dx.sum() == out.size  # nothing duplicated, nothing lost
    x = np.array([[1, 3, 3], [3, 0, 3], [2, 3, 1]], dtype=float).reshape(1, 3, 3, 1)
    for module in (fast, naive):
        out, cache = module.max_pool_forward(x, 3, 1, "SAME")  # overlapping 3x3 windows, padded with -inf
        dx = module.max_pool_backward(np.ones(out.shape), cache)
        # each window's first 3 in row-major order: (0, 1) for the six windows reaching row 0, (1, 0) for the
        # bottom-left two, (1, 2) for the bottom-right one (its row 1 is 0, 3: the 3 at (1, 2) comes first)
        np.testing.assert_array_equal(dx[0, :, :, 0], [[0, 6, 0], [2, 0, 1], [0, 0, 0]])


def test_dropout_keep_prob_inverted_scaling_and_explicit_randomness():
    x = np.random.default_rng(0).standard_normal((64, 50)).astype(np.float32)
    for keep_prob, training in ((1.0, True), (0.5, False), (1.0, False)):
        rng = np.random.default_rng(1)
        state = rng.bit_generator.state
        out, cache = fast.dropout_forward(x, keep_prob, rng, training)
        np.testing.assert_array_equal(out, x)  # the identity ...
        assert rng.bit_generator.state == state  # ... and no random numbers drawn
        np.testing.assert_array_equal(fast.dropout_backward(x, cache), x)
    out1, mask1 = fast.dropout_forward(x, 0.7, np.random.default_rng(5), True)
    out2, _ = fast.dropout_forward(x, 0.7, np.random.default_rng(5), True)
    out3, _ = fast.dropout_forward(x, 0.7, np.random.default_rng(6), True)
    np.testing.assert_array_equal(out1, out2)  # same seed, same mask
    assert not np.array_equal(out1, out3)
    assert out1.dtype == np.float32
    kept = out1 != 0
    np.testing.assert_allclose(out1[kept], x[kept] / np.float32(0.7), rtol=1e-6)  # kept units scaled by 1/keep_prob

    ones = np.ones((1000, 1000))
    for keep_prob in (0.5, 0.8, 0.1):
        out, _ = fast.dropout_forward(ones, keep_prob, np.random.default_rng(7), True)
        p = np.mean(out != 0)
        sigma = math.sqrt(keep_prob * (1 - keep_prob) / ones.size)
        assert abs(p - keep_prob) < 5 * sigma  # keep_prob is the probability of KEEPING a unit
        assert abs(out.mean() - 1) < 5 * sigma / keep_prob  # the expected value is preserved
    for bad in (0, -0.1, 1.5):
        with pytest.raises(ValueError, match="keep_prob"):
            fast.dropout_forward(x, bad, np.random.default_rng(0), True)
    with pytest.raises(ValueError, match="rng"):
        fast.dropout_forward(x, 0.5, None, True)


def test_batch_norm_running_averages_and_inference_mode():
    rng = np.random.default_rng(21)
    x = (rng.standard_normal((8, 3, 3, 4)) * [1, 2, 3, 4] + [0, 1, -1, 5]).astype(np.float32)
    running = {"mean": np.array([0.5, 0, 0, 1], np.float32), "var": np.array([1, 2, 3, 4], np.float32)}
    y, _, new = fast.batch_norm_forward(x, running, training=True, momentum=0.9)
    mean, var = x.astype(np.float64).mean(axis=(0, 1, 2)), x.astype(np.float64).var(axis=(0, 1, 2))  # biased
    np.testing.assert_allclose(new["mean"], 0.9 * running["mean"] + 0.1 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new["var"], 0.9 * running["var"] + 0.1 * var, rtol=1e-5)
    np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=(0, 1, 2)), var / (var + 1e-5), rtol=1e-4)
    _, _, default = fast.batch_norm_forward(x, running, training=True)
    np.testing.assert_allclose(default["mean"], 0.99 * running["mean"] + 0.01 * mean, rtol=1e-5, atol=1e-6)

    y_inf, cache, same = fast.batch_norm_forward(x, running, training=False)
    np.testing.assert_allclose(y_inf, (x - running["mean"]) / np.sqrt(running["var"] + 1e-5), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(same["mean"], running["mean"])
    np.testing.assert_array_equal(same["var"], running["var"])
    one, _, _ = fast.batch_norm_forward(x[:1], running, training=False)  # per-sample: the batch does not matter
    np.testing.assert_allclose(one, y_inf[:1], rtol=1e-6)
    np.testing.assert_allclose(fast.batch_norm_backward(np.ones_like(x), cache)[0, 0, 0],
                               1 / np.sqrt(running["var"] + 1e-5), rtol=1e-6)

    state = fast.init_running(4)
    for _ in range(2000):  # the running averages converge to the moments of a repeated batch
        _, _, state = fast.batch_norm_forward(x, state, training=True)
    np.testing.assert_allclose(state["mean"], mean, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(state["var"], var, rtol=1e-3)


def test_adam_first_steps_match_a_hand_computation_with_bias_correction():
    w0 = np.array([1.0, -2.0, 0.5])
    grads = [np.array([0.1, -0.2, 0.0]), np.array([0.3, 0.1, -0.4]), np.array([-0.1, 0.2, 0.05])]
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    # by hand: m1 = 0.1 g1, v1 = 0.001 g1^2, lr_1 = lr sqrt(1 - 0.999) / (1 - 0.9), ...
    m, v, w, expected = np.zeros(3), np.zeros(3), w0.copy(), []
    for t, g in enumerate(grads, start=1):
        m = [b1 * mi + (1 - b1) * gi for mi, gi in zip(m, g, strict=True)]
        v = [b2 * vi + (1 - b2) * gi * gi for vi, gi in zip(v, g, strict=True)]
        lr_t = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        w = [wi - lr_t * mi / (math.sqrt(vi) + eps) for wi, mi, vi in zip(w, m, v, strict=True)]
        expected.append(list(w))
    # step 1 is lr * sign(g) up to epsilon: the bias correction makes the first step the full learning rate
    np.testing.assert_allclose(expected[0], w0 - lr * np.sign(grads[0]), atol=1e-6)

    config = {"learning_rate": lr}
    w_pure, w_inplace, config_inplace = w0.copy(), w0.copy(), {"learning_rate": lr}
    for t, g in enumerate(grads):
        w_in, snapshot = w_pure, w_pure.copy()
        m_in = config.get("m")
        m_snapshot = None if m_in is None else m_in.copy()
        w_pure, new_config = fast.adam_update(w_in, g, config)
        np.testing.assert_array_equal(w_in, snapshot)  # pure: neither w nor the old config is modified
        if m_in is not None:
            np.testing.assert_array_equal(m_in, m_snapshot)
            assert config["t"] == new_config["t"] - 1
        config = new_config
        fast.adam_update_inplace(w_inplace, g, config_inplace)
        np.testing.assert_allclose(w_pure, expected[t], rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(w_inplace, w_pure)
    assert config["t"] == config_inplace["t"] == 3

    w, cfg = fast.adam_update(np.array([1.0]), np.array([2.0]), {})  # TF's defaults: lr 1e-3
    np.testing.assert_allclose(w, [1 - 1e-3], rtol=1e-9)
    assert (cfg["t"], cfg.get("learning_rate")) == (1, None)


def test_adam_inplace_is_the_pure_update_bit_for_bit_across_blocks_in_float32():
    rng = np.random.default_rng(4)
    w = rng.standard_normal((300, 700)).astype(np.float32)  # 210,000 entries: several blocks and a partial one
    pure_w, pure_cfg = w.copy(), {"learning_rate": 1e-3}
    cfg = {"learning_rate": 1e-3}
    for _ in range(3):
        g = rng.standard_normal(w.shape).astype(np.float32)
        pure_w, pure_cfg = fast.adam_update(pure_w, g, pure_cfg)
        same, cfg = fast.adam_update_inplace(w, g, cfg)
        assert same is w and pure_w.dtype == np.float32 and cfg["m"].dtype == np.float32
        np.testing.assert_array_equal(w, pure_w)
        np.testing.assert_array_equal(cfg["v"], pure_cfg["v"])


def test_l2_loss_is_half_the_sum_of_squares():
    assert fast.l2_loss(np.array([[3.0, -4.0]])) == 12.5
    w = np.random.default_rng(8).standard_normal((513, 300)).astype(np.float32)
    exact = np.sum(w.astype(np.float64) ** 2) / 2
    assert isinstance(fast.l2_loss(w), float)
    assert abs(fast.l2_loss(w) - exact) < 1e-6 * exact
    np.testing.assert_array_equal(fast.l2_loss_grad(w), w)


def test_softmax_cross_entropy_is_a_stable_batch_mean():
    logits = np.array([[1e4, 0.0, -1e4], [2.0, 1.0, 0.5]], dtype=np.float32)
    labels = np.array([[0, 1, 0], [1, 0, 0]], dtype=np.float32)
    loss, dlogits = fast.softmax_cross_entropy_with_logits(logits, labels)
    second = -(2.0 - np.log(np.exp(2.0) + np.exp(1.0) + np.exp(0.5)))
    assert isinstance(loss, float) and math.isclose(loss, (1e4 + second) / 2, rel_tol=1e-6)
    assert np.all(np.isfinite(dlogits)) and dlogits.dtype == np.float32
    np.testing.assert_allclose(dlogits[0], np.array([1, -1, 0]) / 2, atol=1e-7)
    np.testing.assert_allclose(dlogits.sum(axis=1), 0, atol=1e-6)


# -------------------------------------------------------------------------------------- the network


def _tiny_batch(rng, n=4):
    x = rng.random((n, 784))
    return x, np.eye(10)[rng.integers(0, 10, n)]


def test_the_network_is_the_composition_of_the_layers_and_its_gradients_are_right():
    rng = np.random.default_rng(17)
    params, state = fast.init_cnn(rng, dtype=np.float64)
    shapes = {"W_conv": (3, 3, 1, 32), "b_conv": (32,), "W1": (6272, 784), "b1": (784,), "W2": (784, 10), "b2": (10,)}
    assert {k: v.shape for k, v in params.items()} == shapes
    x, y = _tiny_batch(rng)
    lam = 1e-2

    logits, _, new_state = fast.cnn_forward(x, params, state, True, np.random.default_rng(1), 0.5)
    a, _ = fast.conv2d_forward(x.reshape(-1, 28, 28, 1), params["W_conv"], params["b_conv"], 1, "SAME")
    a, _, running = fast.batch_norm_forward(fast.relu_forward(a)[0], state["bn"], True)
    a, _ = fast.max_pool_forward(a, 2, 2, "SAME")
    a, _ = fast.dense_forward(a, params["W1"], params["b1"])
    a, _ = fast.dropout_forward(a, 0.5, np.random.default_rng(1), True)
    expected, _ = fast.dense_forward(fast.relu_forward(a)[0], params["W2"], params["b2"])
    np.testing.assert_array_equal(logits, expected)
    np.testing.assert_array_equal(new_state["bn"]["var"], running["var"])

    loss, grads, _ = fast.cnn_loss_and_grads(x, y, params, state, np.random.default_rng(2), 0.5, lam)
    ce, _ = fast.softmax_cross_entropy_with_logits(
        fast.cnn_forward(x, params, state, True, np.random.default_rng(2), 0.5)[0], y)
    assert math.isclose(loss, ce + lam * (fast.l2_loss(params["W1"]) + fast.l2_loss(params["W2"])), rel_tol=1e-12)

    def total(_):
        logits, _, _ = fast.cnn_forward(x, params, state, True, np.random.default_rng(2), 0.5)
        ce, _ = fast.softmax_cross_entropy_with_logits(logits, y)
        return ce + lam * (fast.l2_loss(params["W1"]) + fast.l2_loss(params["W2"]))

    pick = np.random.default_rng(3)
    for name, p in params.items():  # central differences on 6 entries of every parameter
        flat, g = p.reshape(-1), grads[name].reshape(-1)
        idx = pick.choice(flat.size, 6, replace=False)
        if name == "W1":  # make sure some of them reach a unit that is alive
            idx[:3] = np.argsort(-np.abs(g))[:3]
        numeric = []
        for i in idx:
            saved = flat[i]
            flat[i] = saved + 1e-6
            up = total(None)
            flat[i] = saved - 1e-6
            down = total(None)
            flat[i] = saved
            numeric.append((up - down) / 2e-6)
        err = rel_error(numeric, g[idx])
        assert err < GRAD_TOL, f"{name}: relative error {err:.2e}"

    inference, _, unchanged = fast.cnn_forward(x, params, state, False)
    again, _, _ = fast.cnn_forward(x, params, state, False, np.random.default_rng(123))
    np.testing.assert_array_equal(inference, again)  # no dropout, no batch statistics
    assert unchanged["bn"]["mean"] is not state["bn"]["mean"]


def test_train_step_is_cnn_loss_and_grads_then_adam():
    rng = np.random.default_rng(19)
    params, state = fast.init_cnn(rng)
    x, y = _tiny_batch(rng, 8)
    x, y = x.astype(np.float32), y.astype(np.float32)
    lam = 5e-4
    pure, pure_cfg = dict(params), fast.init_adam(params)
    w1_before = params["W1"].copy()
    inplace = {k: v.copy() for k, v in params.items()}
    cfg = fast.init_adam(inplace)
    for step in range(2):
        loss, grads, pure_state = fast.cnn_loss_and_grads(x, y, pure, state, np.random.default_rng(step), 0.5, lam)
        for name in pure:
            pure[name], pure_cfg[name] = fast.adam_update(pure[name], grads[name], pure_cfg[name])
        loss2, state = fast.train_step(x, y, inplace, state, cfg, np.random.default_rng(step), 0.5, lam)
        assert loss2 == loss
        for name in pure:
            assert inplace[name].dtype == np.float32
            np.testing.assert_array_equal(inplace[name], pure[name], err_msg=name)
        np.testing.assert_array_equal(state["bn"]["mean"], pure_state["bn"]["mean"])
    np.testing.assert_array_equal(params["W1"], w1_before)  # adam_update left the original arrays alone
    assert pure_cfg["W1"]["t"] == cfg["W1"]["t"] == 2


# ------------------------------------------------------------------------------- training on MNIST


@pytest.fixture(scope="module")
def quick_mnist(tmp_path_factory):
    """A few hundred quick-MNIST training images: from the data folder, else built from the MNIST files in
    $NNFS_MNIST_SOURCE or ../shared/data/mnist, else skip."""
    try:
        return load_mnist("train", quick=True)
    except MnistError:
        pass
    source = os.environ.get("NNFS_MNIST_SOURCE") or str(ROOT.parent / "shared" / "data" / "mnist")
    if not os.environ.get("NNFS_MNIST_SOURCE") and not Path(source).is_dir():
        pytest.skip("no MNIST here: run `python data_scripts/prepare_mnist.py --quick`, or set NNFS_DATA_DIR to a "
                    "folder holding quick/mnist_traindata.hdf5, or NNFS_MNIST_SOURCE to the four MNIST files")
    out = tmp_path_factory.mktemp("mnist")
    prepare_mnist(out, source=source, quick=True, mirrors=(), log=lambda message: None)
    return load_mnist("train", quick=True, data_dir=out)


def test_a_short_training_run_on_quick_mnist_reduces_the_loss(quick_mnist):
    x, y = quick_mnist
    rng = np.random.default_rng(0)
    pick = rng.choice(len(x), 320, replace=False)
    x, y = x[pick], y[pick]
    params, state = fast.init_cnn(rng)
    configs = fast.init_adam(params, learning_rate=fast.LEARNING_RATE)
    _, state = fast.train_step(x[:32], y[:32], params, state, configs, rng)  # a step so the running averages move
    before_loss, before_acc = fast.evaluate(x, y, params, state)
    losses = []
    for _ in range(3):
        params, state, configs, epoch_losses = fast.train_epoch(x, y, params, state, configs, rng)
        losses += epoch_losses
    assert len(losses) == 30 and all(np.isfinite(losses))
    assert np.mean(losses[-10:]) < 0.7 * np.mean(losses[:10])
    _, acc = fast.evaluate(x, y, params, state)
    assert acc > max(before_acc, 0.5), (before_acc, acc)
    assert params["W1"].dtype == np.float32 and state["bn"]["mean"].dtype == np.float32

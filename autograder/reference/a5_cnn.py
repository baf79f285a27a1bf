"""Reference for a5_cnn: a TensorFlow-style convolutional network in NumPy, fast enough to train on MNIST.

The handout network (``cnn_forward``)::

    x (N, 28, 28, 1) -> conv 3x3, 32 filters, stride 1, SAME -> ReLU -> batch norm (training: moments over
    N, H, W) -> max pool 2x2, stride 2, SAME -> flatten (14*14*32 = 6272) -> dense 784 -> dropout (training
    only) -> ReLU -> dense 10 = logits
    loss = mean softmax cross-entropy + l2_lambda * (l2_loss(W1) + l2_loss(W2)),  l2_loss(w) = sum(w**2) / 2
    Adam (learning rate 1e-4, beta1 0.9, beta2 0.999, epsilon 1e-8), batches of 32.

Conventions, TensorFlow's throughout:

* images NHWC ``(N, H, W, C)``, filters HWIO ``(KH, KW, C_in, C_out)``, dense weights ``(D_in, D_out)``;
* ``stride`` (and a pool's ``size``) is an int or a pair ``(h, w)``; ``padding`` is ``"SAME"`` or ``"VALID"``.
  SAME: ``out = ceil(in / stride)``, ``pad_total = max((out - 1) * stride + k - in, 0)``,
  ``pad_top = pad_total // 2`` and the rest at the bottom (the extra row/column of an odd total goes at the
  bottom/right). VALID: no padding, ``out = ceil((in - k + 1) / stride)``. Convolutions pad with zeros, max
  pooling with -inf (a padded cell never wins);
* max-pool ties: the whole gradient goes to ONE element, the first maximum in row-major window order;
* dropout takes ``keep_prob`` (TF1's argument; TF2's ``rate`` is ``1 - keep_prob``), is inverted (kept units are
  scaled by ``1 / keep_prob`` at training, so inference is the identity) and draws from an explicit
  ``numpy.random.Generator``;
* batch norm has no scale or offset. Training mode normalises with the batch's mean and biased variance over
  every axis but the last (``tf.nn.moments(x, [0, 1, 2])``) and returns updated running averages
  ``running = momentum * running + (1 - momentum) * batch`` (Keras's convention, default momentum 0.99; the
  running variance is the biased batch variance); inference mode normalises with the running averages;
* Adam is TF's ``AdamOptimizer`` / ``tf.keras.optimizers.Adam``: ``lr_t = lr * sqrt(1 - beta2**t) / (1 -
  beta1**t)``, ``w -= lr_t * m / (sqrt(v) + epsilon)``, i.e. epsilon is added to the square root of the
  *uncorrected* v (the paper's "epsilon hat"; PyTorch adds it to sqrt(v / (1 - beta2**t)) instead).

A layer is a pair of pure functions, ``*_forward(x, ...) -> (out, cache)`` and ``*_backward(dout, cache)`` ->
the gradients of the loss with respect to the forward's array inputs (``batch_norm_forward`` also returns
the new running averages). Inputs are never modified. Everything keeps the input dtype, float32 included.
The loop oracles are ``a5_naive.py``; tests/test_reference_a5.py holds the two together.

Speed (benchmarks/bench_cnn.py): no Python loop over samples or pixels; loops over kernel offsets only. What
the profile of a training step asked for: the per-channel sums of batch norm are BLAS products with a ones
vector (sum(axis=0) over N*H*W rows is ~10x slower); max pooling takes np.maximum over the window offsets
and resolves ties in the backward pass (masked copies on strided views were 20x slower); l2_loss sums BLAS
dot products of blocks (no float64 copy of W1); and Adam, with the L2 term folded in (``train_step``), runs
block by block in place, so no 20 MB temporary is made per step and each weight array is read once.
"""

import math
import time
from contextlib import contextmanager

import numpy as np

# The handout's hyper-parameters.
IMAGE_SHAPE = (28, 28, 1)
CONV_FILTERS = 32
HIDDEN = 784
CLASSES = 10
BATCH_SIZE = 32
LEARNING_RATE = 1e-4
KEEP_PROB = 0.5
L2_LAMBDA = 5e-4
BN_MOMENTUM = 0.99
BN_EPSILON = 1e-5
PARAM_KEYS = ("W_conv", "b_conv", "W1", "b1", "W2", "b2")
L2_KEYS = ("W1", "W2")  # the weights in the L2 term

# ------------------------------------------------------------------------------------------- padding


def _pair(v, what):
    if isinstance(v, (int, np.integer)):
        v = (int(v), int(v))
    v = tuple(int(e) for e in v)
    if len(v) != 2 or min(v) < 1:
        raise ValueError(f"{what} must be a positive int or a pair of positive ints, not {v!r}")
    return v


def tf_padding(size, k, stride, padding):
    """(output size, pad before, pad after) along one axis of length ``size`` for a window ``k``, TF's rule."""
    if padding == "SAME":
        out = -(-size // stride)
        total = max((out - 1) * stride + k - size, 0)
        return out, total // 2, total - total // 2
    if padding == "VALID":
        out = -(-(size - k + 1) // stride)
        if out < 1:
            raise ValueError(f"VALID padding: a window of {k} does not fit in {size}")
        return out, 0, 0
    raise ValueError(f"padding must be 'SAME' or 'VALID', not {padding!r}")


def _geometry(x_shape, window, stride, padding):
    """Output (OH, OW) and pads (top, bottom, left, right) for an NHWC input."""
    (kh, kw), (sh, sw) = window, stride
    oh, top, bottom = tf_padding(x_shape[1], kh, sh, padding)
    ow, left, right = tf_padding(x_shape[2], kw, sw, padding)
    return (oh, ow), (top, bottom, left, right)


def _padded(x, pads, value):
    top, bottom, left, right = pads
    if not any(pads):
        return x
    n, h, w, c = x.shape
    xp = np.full((n, top + h + bottom, left + w + right, c), value, dtype=x.dtype)
    xp[:, top : top + h, left : left + w] = x
    return xp


def _window_view(xp, i, j, stride, out_hw):
    """The (N, OH, OW, C) view of the padded input seen by kernel offset (i, j) of every window."""
    (sh, sw), (oh, ow) = stride, out_hw
    return xp[:, i : i + sh * (oh - 1) + 1 : sh, j : j + sw * (ow - 1) + 1 : sw, :]


# -------------------------------------------------------------------------------------- convolution


def conv2d_forward(x, w, b, stride=1, padding="SAME"):
    """tf.nn.conv2d(x, w, strides, padding) + b for x (N, H, W, C_in), w (KH, KW, C_in, C_out), b (C_out,).

    im2col: every window becomes a row of ``cols`` (N*OH*OW, KH*KW*C_in + 1), in the order of w's first
    three axes, plus a column of ones; the convolution and the bias are then one matrix product with
    [w reshaped to (KH*KW*C_in, C_out); b]. cols is filled by one strided copy per kernel offset (4x faster
    here than copying a transposed ``sliding_window_view``).
    """
    stride = _pair(stride, "stride")
    kh, kw, c_in, c_out = w.shape
    if x.ndim != 4 or x.shape[3] != c_in:
        raise ValueError(f"x must be (N, H, W, {c_in}) for these filters, not {x.shape}")
    (oh, ow), pads = _geometry(x.shape, (kh, kw), stride, padding)
    dtype = np.result_type(x.dtype, w.dtype, b.dtype)
    xp = _padded(x, pads, 0)
    k = kh * kw * c_in
    cols = np.empty((x.shape[0], oh, ow, k + 1), dtype=dtype)
    for i in range(kh):
        for j in range(kw):
            at = (i * kw + j) * c_in
            cols[..., at : at + c_in] = _window_view(xp, i, j, stride, (oh, ow))
    cols[..., k] = 1
    cols = cols.reshape(-1, k + 1)
    wb = np.concatenate([w.reshape(k, c_out), b.reshape(1, c_out)]).astype(dtype, copy=False)
    out = cols @ wb
    cache = (cols, wb, w.shape, x.shape, xp.shape, pads, stride, (oh, ow))
    return out.reshape(x.shape[0], oh, ow, c_out), cache


def conv2d_backward(dout, cache, need_dx=True):
    """(dx, dw, db) for conv2d_forward; ``need_dx=False`` skips dx (returned as None), e.g. for the first layer.

    [dw; db] = cols^T dout (the ones column gives db); dx = col2im(dout w^T): each of the KH*KW kernel
    offsets adds its slice of the window gradients into the padded input gradient, which is then cropped.
    """
    cols, wb, w_shape, x_shape, padded_shape, pads, stride, (oh, ow) = cache
    kh, kw, c_in, c_out = w_shape
    d2 = dout.reshape(-1, c_out)
    dwb = cols.T @ d2
    dw, db = dwb[:-1].reshape(w_shape), dwb[-1]
    if not need_dx:
        return None, dw, db
    dcols = (d2 @ wb[:-1].T).reshape(x_shape[0], oh, ow, kh * kw * c_in)
    dxp = np.zeros(padded_shape, dtype=dcols.dtype)
    for i in range(kh):
        for j in range(kw):
            at = (i * kw + j) * c_in
            _window_view(dxp, i, j, stride, (oh, ow))[...] += dcols[..., at : at + c_in]
    top, _, left, _ = pads
    return dxp[:, top : top + x_shape[1], left : left + x_shape[2]], dw, db


# ---------------------------------------------------------------------------------------------- ReLU


def relu_forward(x):
    """max(x, 0); the cache is the output (positive exactly where x is)."""
    out = np.maximum(x, 0)
    return out, out


def relu_backward(dout, cache):
    """dout where the input was positive, 0 elsewhere (the derivative at 0 is taken as 0)."""
    return dout * (cache > 0)


# ------------------------------------------------------------------------------- batch normalisation


def _channel_mean(a2):
    """Column means of a2 (M, C) by a BLAS matrix-vector product (several times faster than sum(axis=0))."""
    return (np.ones(a2.shape[0], dtype=a2.dtype) @ a2) / a2.dtype.type(a2.shape[0])


def init_running(channels, dtype=np.float32):
    """Running averages before any batch: mean 0, variance 1 (Keras's moving_mean / moving_variance)."""
    return {"mean": np.zeros(channels, dtype=dtype), "var": np.ones(channels, dtype=dtype)}


def batch_norm_forward(x, running, training, momentum=BN_MOMENTUM, eps=BN_EPSILON):
    """y = (x - mean) / sqrt(var + eps) per channel (the last axis), without scale or offset.

    training=True: mean and biased variance of this batch over every other axis (N, H, W for images; two
    passes, so no cancellation); the returned running averages are ``momentum * running + (1 - momentum) *
    batch`` for both (Keras's convention; PyTorch's momentum is 1 - this one, and PyTorch stores the unbiased
    variance). training=False: the running averages are used and returned unchanged (copies). ``running``
    is a dict with "mean" and "var" of shape (C,) and is not modified.

    Returns (y, cache, new_running).
    """
    c = x.shape[-1]
    if training:
        x2 = x.reshape(-1, c)
        mean = _channel_mean(x2)
        centred = x2 - mean
        var = _channel_mean(centred * centred)
        inv_std = 1 / np.sqrt(var + eps)
        xhat = np.multiply(centred, inv_std, out=centred).reshape(x.shape)
        new_running = {
            "mean": momentum * running["mean"] + (1 - momentum) * mean.astype(running["mean"].dtype),
            "var": momentum * running["var"] + (1 - momentum) * var.astype(running["var"].dtype),
        }
        return xhat, (True, xhat, inv_std), new_running
    inv_std = (1 / np.sqrt(running["var"] + eps)).astype(x.dtype)
    y = (x - running["mean"].astype(x.dtype)) * inv_std
    return y, (False, None, inv_std), {"mean": running["mean"].copy(), "var": running["var"].copy()}


def batch_norm_backward(dout, cache):
    """dx. Training: inv_std * (dout - mean(dout) - xhat * mean(dout * xhat)), means over N, H, W (the batch
    moments depend on x too). Inference: a fixed affine map, so dx = dout * inv_std.
    """
    training, xhat, inv_std = cache
    if not training:
        return dout * inv_std
    c = dout.shape[-1]
    d2, xhat2 = dout.reshape(-1, c), xhat.reshape(-1, c)
    tmp = d2 * xhat2
    mean_d, mean_dx = _channel_mean(d2), _channel_mean(tmp)
    np.multiply(xhat2, mean_dx, out=tmp)
    np.subtract(d2, tmp, out=tmp)
    tmp -= mean_d
    tmp *= inv_std
    return tmp.reshape(dout.shape)


# -------------------------------------------------------------------------------------- max pooling


def max_pool_forward(x, size=2, stride=2, padding="SAME"):
    """tf.nn.max_pool2d(x, size, stride, padding) for x (N, H, W, C); SAME pads with -inf (never the max)."""
    window, stride = _pair(size, "size"), _pair(stride, "stride")
    out_hw, pads = _geometry(x.shape, window, stride, padding)
    xp = _padded(x, pads, -np.inf)
    out = _window_view(xp, 0, 0, stride, out_hw)
    for k in range(1, window[0] * window[1]):
        out = np.maximum(out, _window_view(xp, k // window[1], k % window[1], stride, out_hw))
    if window == (1, 1):
        out = out.copy()
    return out, (xp, out, window, stride, out_hw, pads, x.shape)


def max_pool_backward(dout, cache):
    """dx: each window's gradient goes to ONE element, its first maximum in row-major window order.

    The kernel offsets are visited in row-major order; a window still "free" gives its gradient to the
    first offset whose value equals its maximum, then is no longer free. Overlapping windows add up.
    """
    xp, out, window, stride, out_hw, pads, x_shape = cache
    kh, kw = window
    tiles = stride == window and xp.shape[1] == out_hw[0] * kh and xp.shape[2] == out_hw[1] * kw
    dxp = (np.empty if tiles else np.zeros)(xp.shape, dtype=dout.dtype)  # tiling windows write every cell once
    free = np.ones(out.shape, dtype=bool)
    for k in range(kh * kw):
        view = _window_view(xp, k // kw, k % kw, stride, out_hw)
        hit = view == out
        hit &= free
        free &= ~hit
        target = _window_view(dxp, k // kw, k % kw, stride, out_hw)
        if tiles:
            np.multiply(dout, hit, out=target)
        else:
            target += dout * hit
    top, _, left, _ = pads
    return dxp[:, top : top + x_shape[1], left : left + x_shape[2]]


# ------------------------------------------------------------------------------------------ dropout


def dropout_forward(x, keep_prob, rng, training):
    """Inverted dropout with TF1's ``keep_prob`` (the probability of KEEPING a unit; TF2's rate = 1 - keep_prob).

    Training: each unit is kept with probability keep_prob, drawn from ``rng`` (a numpy Generator), and kept
    units are multiplied by 1 / keep_prob so the expected output equals x. Inference, or keep_prob == 1: the
    identity, and rng is not used. The cache is the scaled mask (None for the identity).
    """
    if not 0 < keep_prob <= 1:
        raise ValueError(f"keep_prob is the probability of keeping a unit, in (0, 1], not {keep_prob!r}")
    if not training or keep_prob == 1:
        return x, None
    if rng is None:
        raise ValueError("dropout at training needs rng, a numpy.random.Generator")
    mask = (rng.random(x.shape, dtype=np.float32) < keep_prob).astype(x.dtype) / x.dtype.type(keep_prob)
    return x * mask, mask


def dropout_backward(dout, cache):
    """dout times the scaled mask (the identity when the forward was)."""
    return dout if cache is None else dout * cache


# -------------------------------------------------------------------------------------------- dense


def dense_forward(x, w, b):
    """x @ w + b; x (N, ...) is flattened to (N, D_in) first (row-major, as tf.reshape(x, [N, -1]))."""
    x2 = x.reshape(x.shape[0], -1)
    out = x2 @ w
    out += b
    return out, (x2, w, x.shape)


def dense_backward(dout, cache):
    """(dx in the shape of the forward's x, dw, db)."""
    x2, w, x_shape = cache
    return (dout @ w.T).reshape(x_shape), x2.T @ dout, dout.sum(axis=0)


# ---------------------------------------------------------------------------------------- the loss


def softmax_cross_entropy_with_logits(logits, labels):
    """(loss, dlogits): the batch MEAN of tf.nn.softmax_cross_entropy_with_logits and its gradient.

    labels (N, K) are one-hot (any rows of probabilities summing to 1). loss = -mean_n sum_k labels log
    softmax(logits), computed by log-sum-exp after subtracting each row's max, so no logit overflows;
    dlogits = (softmax(logits) - labels) / N. loss is a Python float.
    """
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = logits.shape[0]
    loss = -float(np.sum(labels * log_p, dtype=np.float64)) / n
    return loss, (np.exp(log_p) - labels) / logits.dtype.type(n)


def l2_loss(w):
    """tf.nn.l2_loss: sum(w**2) / 2, as a Python float.

    Summed in blocks of _BLOCK entries (a BLAS dot product each, added up in float64): accurate to ~1e-8
    relative in float32 without a float64 copy of w.
    """
    flat = np.asarray(w).reshape(-1)
    return sum(float(np.dot(flat[i : i + _BLOCK], flat[i : i + _BLOCK])) for i in range(0, flat.size, _BLOCK)) / 2


def l2_loss_grad(w):
    """The gradient of l2_loss(w) with respect to w: w itself (a copy)."""
    return np.array(w, copy=True)


# -------------------------------------------------------------------------------------------- Adam

# Elementwise work on the big dense weights is done in blocks of this many entries, so that a block of
# w, dw, m, v and the temporaries stays in the L2 cache and each array is read and written once per step.
_BLOCK = 1 << 16


def _adam_hyper(config):
    """(learning_rate, beta1, beta2, epsilon) as Python floats, which never promote float32 arrays."""
    return tuple(
        float(config.get(key, default))
        for key, default in (("learning_rate", 1e-3), ("beta1", 0.9), ("beta2", 0.999), ("epsilon", 1e-8))
    )


def _adam_lr_t(lr, b1, b2, t):
    return lr * math.sqrt(1 - b2**t) / (1 - b1**t)


def adam_update(w, dw, config):
    """One Adam step, TF's AdamOptimizer / tf.keras Adam. Returns (new w, new config); nothing is modified.

    config: "learning_rate" (default 1e-3), "beta1" (0.9), "beta2" (0.999), "epsilon" (1e-8) and, after the
    first call, "m", "v" (moment estimates, like w) and "t" (steps taken). With t counted from 1:
        m = beta1 m + (1 - beta1) dw;   v = beta2 v + (1 - beta2) dw**2
        lr_t = learning_rate * sqrt(1 - beta2**t) / (1 - beta1**t)      (the bias corrections)
        w = w - lr_t * m / (sqrt(v) + epsilon)                          (epsilon outside the correction)
    """
    lr, b1, b2, eps = _adam_hyper(config)
    t = config.get("t", 0) + 1
    m = config.get("m", np.zeros_like(w))
    v = config.get("v", np.zeros_like(w))
    m = b1 * m + (1 - b1) * dw
    v = b2 * v + (1 - b2) * (dw * dw)
    lr_t = _adam_lr_t(lr, b1, b2, t)
    w = w - m / (np.sqrt(v) + eps) * lr_t  # the same operations, in the same order, as _adam_blocks
    return w, {**config, "m": m, "v": v, "t": t}


def adam_update_inplace(w, dw, config):
    """adam_update, bit for bit, but overwriting w and config["m"], config["v"] (made on the first call) and
    bumping config["t"], block by block without full-size temporaries. Returns (w, config), the same objects.
    """
    _adam_blocks(w, dw, config, 0.0)
    return w, config


def _adam_blocks(w, dw, config, l2_lambda, scratch=None):
    """Adam on w in place with gradient dw + l2_lambda * w; returns l2_loss(w) before the step if l2_lambda.

    The L2 term's gradient and value are folded into the same pass over w (cnn_loss_and_grads's numbers).
    """
    lr, b1, b2, eps = _adam_hyper(config)
    if "m" not in config:
        config["m"], config["v"] = np.zeros_like(w), np.zeros_like(w)
    config["t"] = t = config.get("t", 0) + 1
    lr_t = _adam_lr_t(lr, b1, b2, t)
    if not all(a.flags.c_contiguous for a in (w, config["m"], config["v"])):
        raise ValueError("adam_update_inplace needs C-contiguous w, m and v")
    wf, gf, mf, vf = (a.reshape(-1) for a in (w, dw, config["m"], config["v"]))
    n = wf.size
    if scratch is None or scratch.dtype != w.dtype or scratch.shape[1] < min(n, _BLOCK):
        scratch = np.empty((3, min(n, _BLOCK)), dtype=w.dtype)
    squares = 0.0
    for i in range(0, n, _BLOCK):
        j = min(i + _BLOCK, n)
        wc, mc, vc = wf[i:j], mf[i:j], vf[i:j]
        g, t1, t2 = scratch[0, : j - i], scratch[1, : j - i], scratch[2, : j - i]
        if l2_lambda:
            squares += float(np.dot(wc, wc))
            np.multiply(wc, l2_lambda, out=g)
            np.add(gf[i:j], g, out=g)
        else:
            g[...] = gf[i:j]
        mc *= b1  # m = b1 m + (1 - b1) g
        np.multiply(g, 1 - b1, out=t1)
        mc += t1
        vc *= b2  # v = b2 v + (1 - b2) g g
        np.multiply(g, g, out=t1)
        t1 *= 1 - b2
        vc += t1
        np.sqrt(vc, out=t2)  # w = w - m / (sqrt(v) + eps) * lr_t
        t2 += eps
        np.divide(mc, t2, out=t2)
        t2 *= lr_t
        wc -= t2
    return squares / 2


# ------------------------------------------------------------------------------------- the network


def _glorot_uniform(rng, shape, fan_in, fan_out, dtype):
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def init_cnn(rng, dtype=np.float32):
    """(params, state) for the handout network: Glorot-uniform weights and zero biases (tf.keras's defaults;
    for the conv, fan_in = 3*3*1 and fan_out = 3*3*32), batch-norm running mean 0 and variance 1.
    """
    h, w, c = IMAGE_SHAPE
    flat = (h // 2) * (w // 2) * CONV_FILTERS
    params = {
        "W_conv": _glorot_uniform(rng, (3, 3, c, CONV_FILTERS), 9 * c, 9 * CONV_FILTERS, dtype),
        "b_conv": np.zeros(CONV_FILTERS, dtype=dtype),
        "W1": _glorot_uniform(rng, (flat, HIDDEN), flat, HIDDEN, dtype),
        "b1": np.zeros(HIDDEN, dtype=dtype),
        "W2": _glorot_uniform(rng, (HIDDEN, CLASSES), HIDDEN, CLASSES, dtype),
        "b2": np.zeros(CLASSES, dtype=dtype),
    }
    return params, {"bn": init_running(CONV_FILTERS, dtype)}


@contextmanager
def _timed(timings, name):
    """Adds the seconds spent in the block to timings[name] (nothing when timings is None)."""
    if timings is None:
        yield
        return
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - start


def cnn_forward(x, params, state, training, rng=None, keep_prob=KEEP_PROB, timings=None):
    """(logits, cache, new_state) of the handout network for images x (N, H, W, C), or rows (N, 784) of 28x28x1
    images. The layer sizes come from params, so the same code runs a smaller network on smaller images.

    training=True: batch-norm batch statistics (state's running averages are updated into new_state) and
    dropout with keep_prob drawn from rng; training=False: running averages, no dropout, rng unused.
    ``timings``: an optional dict to which the seconds spent in each layer are added.
    """
    if x.ndim == 2:
        x = x.reshape(x.shape[0], *IMAGE_SHAPE)
    with _timed(timings, "conv"):
        a, conv_cache = conv2d_forward(x, params["W_conv"], params["b_conv"], 1, "SAME")
    with _timed(timings, "relu"):
        a, relu1_cache = relu_forward(a)
    with _timed(timings, "batch_norm"):
        a, bn_cache, bn_running = batch_norm_forward(a, state["bn"], training)
    with _timed(timings, "max_pool"):
        a, pool_cache = max_pool_forward(a, 2, 2, "SAME")
    with _timed(timings, "dense1"):
        a, fc1_cache = dense_forward(a, params["W1"], params["b1"])
    with _timed(timings, "dropout"):
        a, drop_cache = dropout_forward(a, keep_prob, rng, training)
    with _timed(timings, "relu"):
        a, relu2_cache = relu_forward(a)
    with _timed(timings, "dense2"):
        logits, fc2_cache = dense_forward(a, params["W2"], params["b2"])
    cache = (conv_cache, relu1_cache, bn_cache, pool_cache, fc1_cache, drop_cache, relu2_cache, fc2_cache)
    return logits, cache, {**state, "bn": bn_running}


def cnn_backward(dlogits, cache, timings=None):
    """Gradients of the loss with respect to every parameter, keyed like params, given dlogits."""
    conv_cache, relu1_cache, bn_cache, pool_cache, fc1_cache, drop_cache, relu2_cache, fc2_cache = cache
    grads = {}
    with _timed(timings, "dense2"):
        d, grads["W2"], grads["b2"] = dense_backward(dlogits, fc2_cache)
    with _timed(timings, "relu"):
        d = relu_backward(d, relu2_cache)
    with _timed(timings, "dropout"):
        d = dropout_backward(d, drop_cache)
    with _timed(timings, "dense1"):
        d, grads["W1"], grads["b1"] = dense_backward(d, fc1_cache)
    with _timed(timings, "max_pool"):
        d = max_pool_backward(d, pool_cache)
    with _timed(timings, "batch_norm"):
        d = batch_norm_backward(d, bn_cache)
    with _timed(timings, "relu"):
        d = relu_backward(d, relu1_cache)
    with _timed(timings, "conv"):
        _, grads["W_conv"], grads["b_conv"] = conv2d_backward(d, conv_cache, need_dx=False)
    return grads


def cnn_loss_and_grads(
    x, labels, params, state, rng=None, keep_prob=KEEP_PROB, l2_lambda=L2_LAMBDA, training=True, timings=None
):
    """(loss, grads, new_state): loss = mean cross-entropy + l2_lambda * (l2_loss(W1) + l2_loss(W2)) and its
    gradients (the L2 term adds l2_lambda * W to dW1 and dW2). training as in cnn_forward.
    """
    logits, cache, new_state = cnn_forward(x, params, state, training, rng, keep_prob, timings)
    with _timed(timings, "loss"):
        loss, dlogits = softmax_cross_entropy_with_logits(logits, labels)
    grads = cnn_backward(dlogits, cache, timings)
    with _timed(timings, "l2"):
        for name in L2_KEYS:
            loss += l2_lambda * l2_loss(params[name])
            grads[name] += l2_lambda * params[name]
    return loss, grads, new_state


def init_adam(params, learning_rate=LEARNING_RATE, beta1=0.9, beta2=0.999, epsilon=1e-8):
    """One Adam config per parameter (the moments are made by the first update)."""
    return {
        name: {"learning_rate": learning_rate, "beta1": beta1, "beta2": beta2, "epsilon": epsilon} for name in params
    }


def train_step(
    x, labels, params, state, adam_configs, rng, keep_prob=KEEP_PROB, l2_lambda=L2_LAMBDA, timings=None, scratch=None
):
    """One Adam step on one batch: (loss, new_state), with params' arrays and the configs updated IN PLACE.

    The same numbers as cnn_loss_and_grads followed by adam_update on every parameter, but the L2 term's
    gradient and value are computed inside the blocked Adam pass over W1 and W2 instead of in two more passes.
    ``scratch`` is an optional (3, _BLOCK) work array reused between steps.
    """
    logits, cache, new_state = cnn_forward(x, params, state, True, rng, keep_prob, timings)
    with _timed(timings, "loss"):
        loss, dlogits = softmax_cross_entropy_with_logits(logits, labels)
    grads = cnn_backward(dlogits, cache, timings)
    with _timed(timings, "adam"):
        for name in params:
            decay = l2_lambda if name in L2_KEYS else 0.0
            loss += decay * _adam_blocks(params[name], grads[name], adam_configs[name], decay, scratch)
    return loss, new_state


def train_epoch(
    x,
    labels,
    params,
    state,
    adam_configs,
    rng,
    batch_size=BATCH_SIZE,
    keep_prob=KEEP_PROB,
    l2_lambda=L2_LAMBDA,
    shuffle=True,
    max_batches=None,
    timings=None,
):
    """One pass over (x, labels) in batches of batch_size (the last one may be smaller), shuffled by rng.

    Updates params' arrays and the Adam configs IN PLACE (train_step) and returns (params, state,
    adam_configs, losses) with the new batch-norm state and the loss of every batch (before its step).
    rng draws the order and the dropout masks. ``max_batches`` stops early (benchmarks, tests).
    """
    n = x.shape[0]
    order = rng.permutation(n) if shuffle else np.arange(n)
    scratch = np.empty((3, _BLOCK), dtype=params["W1"].dtype)
    losses = []
    for batch, start in enumerate(range(0, n, batch_size)):
        if max_batches is not None and batch >= max_batches:
            break
        with _timed(timings, "data"):
            idx = order[start : start + batch_size]
            xb, yb = x[idx], labels[idx]
        loss, state = train_step(xb, yb, params, state, adam_configs, rng, keep_prob, l2_lambda, timings, scratch)
        losses.append(loss)
    return params, state, adam_configs, losses


def evaluate(x, labels, params, state, batch_size=1000):
    """(mean cross-entropy, accuracy) in inference mode (running averages, no dropout), as Python floats."""
    total, correct, n = 0.0, 0, x.shape[0]
    for start in range(0, n, batch_size):
        logits, _, _ = cnn_forward(x[start : start + batch_size], params, state, training=False)
        yb = labels[start : start + batch_size]
        loss, _ = softmax_cross_entropy_with_logits(logits, yb)
        total += loss * logits.shape[0]
        correct += int(np.sum(np.argmax(logits, axis=1) == np.argmax(yb, axis=1)))
    return total / n, correct / n

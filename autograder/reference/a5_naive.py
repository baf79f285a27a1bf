"""Oracles for a5_cnn: the layers written as plain loops, for clarity rather than speed.

Used only on small shapes, by tests/test_reference_a5.py and the hidden checks, to judge the fast reference
(``a5_cnn.py``) and the students' code. Everything is computed in float64 whatever the input dtype, and
nothing here is shared with ``a5_cnn.py`` (the padding rule included), so the two are independent.

Conventions (TensorFlow's):

* images are NHWC ``(N, H, W, C)``; filters are HWIO ``(KH, KW, C_in, C_out)``; biases ``(C_out,)``;
* ``stride`` is an int or a pair ``(stride_h, stride_w)``; the pool ``size`` likewise;
* ``padding="VALID"``: no padding, ``out = ceil((in - k + 1) / stride)``;
  ``padding="SAME"``: ``out = ceil(in / stride)`` and
  ``pad_total = max((out - 1) * stride + k - in, 0)``, ``pad_top = pad_total // 2``, ``pad_bottom = pad_total -
  pad_top`` (so an odd total puts the extra row at the bottom and the extra column on the right);
* convolutions pad with zeros; max pooling pads with ``-inf``, so a padded cell is never the maximum;
* max-pool ties: the gradient goes to exactly one element, the first maximum in row-major window order;
* batch norm (training mode): per channel, the mean and the biased variance over every axis but the last
  (N, H, W for images, as ``tf.nn.moments(x, axes=[0, 1, 2])``), ``y = (x - mean) / sqrt(var + eps)``, no scale
  or offset; inference mode uses the running averages instead;
* dense layers flatten each sample in row-major (NHWC) order; the loss is the batch mean of
  ``tf.nn.softmax_cross_entropy_with_logits``; ``l2_loss(w) = sum(w**2) / 2``; Adam as TF1's AdamOptimizer or as
  the paper writes it (they differ only in where epsilon sits).

Every ``*_forward`` returns ``(out, cache)`` and every ``*_backward(dout, cache)`` the gradients of a scalar
loss with respect to the forward's array inputs, given ``dout`` = its gradient with respect to ``out``.
"""

import math

import numpy as np

# ------------------------------------------------------------------------------------------- helpers


def _pair(v, what):
    """(v, v) for an int, the pair itself for a pair of ints."""
    if isinstance(v, (int, np.integer)):
        v = (int(v), int(v))
    v = tuple(int(e) for e in v)
    if len(v) != 2 or min(v) < 1:
        raise ValueError(f"{what} must be a positive int or a pair of positive ints, not {v!r}")
    return v


def _out_size_and_pads(size, k, stride, padding):
    """(output size, padding before, padding after) along one spatial axis, by TensorFlow's rule."""
    if padding == "VALID":
        out = -(-(size - k + 1) // stride)  # ceil((size - k + 1) / stride)
        if out < 1:
            raise ValueError(f"VALID padding: a window of {k} does not fit in {size}")
        return out, 0, 0
    if padding == "SAME":
        out = -(-size // stride)  # ceil(size / stride)
        total = max((out - 1) * stride + k - size, 0)
        return out, total // 2, total - total // 2
    raise ValueError(f"padding must be 'SAME' or 'VALID', not {padding!r}")


def _pad(x, pads, value):
    """x (N, H, W, C) padded on H and W by pads = (top, bottom, left, right) cells of ``value``."""
    top, bottom, left, right = pads
    n, h, w, c = x.shape
    out = np.full((n, top + h + bottom, left + w + right, c), value, dtype=np.float64)
    out[:, top : top + h, left : left + w, :] = x
    return out


# -------------------------------------------------------------------------------------- convolution


def conv2d_forward(x, w, b, stride=1, padding="SAME"):
    """out[n, i, j, f] = b[f] + sum_{di, dj, c} xpad[n, i*sh + di, j*sw + dj, c] * w[di, dj, c, f]."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    sh, sw = _pair(stride, "stride")
    kh, kw, c_in, c_out = w.shape
    n, h, wd, c = x.shape
    if c != c_in:
        raise ValueError(f"x has {c} channels but the filters expect {c_in}")
    oh, top, bottom = _out_size_and_pads(h, kh, sh, padding)
    ow, left, right = _out_size_and_pads(wd, kw, sw, padding)
    xp = _pad(x, (top, bottom, left, right), 0.0)
    out = np.zeros((n, oh, ow, c_out))
    for s in range(n):
        for i in range(oh):
            for j in range(ow):
                window = xp[s, i * sh : i * sh + kh, j * sw : j * sw + kw, :]
                for f in range(c_out):
                    out[s, i, j, f] = np.sum(window * w[:, :, :, f]) + b[f]
    cache = (xp, w, (sh, sw), (top, bottom, left, right), x.shape)
    return out, cache


def conv2d_backward(dout, cache):
    """(dx, dw, db): each output cell sends dout * w back to its window and dout * window to w."""
    xp, w, (sh, sw), (top, bottom, left, right), x_shape = cache
    dout = np.asarray(dout, dtype=np.float64)
    kh, kw, _, c_out = w.shape
    n, oh, ow, _ = dout.shape
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    db = np.zeros(c_out)
    for s in range(n):
        for i in range(oh):
            for j in range(ow):
                window = xp[s, i * sh : i * sh + kh, j * sw : j * sw + kw, :]
                for f in range(c_out):
                    g = dout[s, i, j, f]
                    dxp[s, i * sh : i * sh + kh, j * sw : j * sw + kw, :] += g * w[:, :, :, f]
                    dw[:, :, :, f] += g * window
                    db[f] += g
    h, wd = x_shape[1], x_shape[2]
    dx = dxp[:, top : top + h, left : left + wd, :]
    return dx, dw, db


# -------------------------------------------------------------------------------------- max pooling


def max_pool_forward(x, size=2, stride=2, padding="SAME"):
    """out[n, i, j, c] = max of the window; padding cells are -inf, so they never win."""
    x = np.asarray(x, dtype=np.float64)
    kh, kw = _pair(size, "size")
    sh, sw = _pair(stride, "stride")
    n, h, wd, c = x.shape
    oh, top, bottom = _out_size_and_pads(h, kh, sh, padding)
    ow, left, right = _out_size_and_pads(wd, kw, sw, padding)
    xp = _pad(x, (top, bottom, left, right), -np.inf)
    out = np.zeros((n, oh, ow, c))
    winner = np.zeros((n, oh, ow, c, 2), dtype=np.int64)  # padded (row, col) of the maximum that gets the gradient
    for s in range(n):
        for i in range(oh):
            for j in range(ow):
                for ch in range(c):
                    best, best_at = -np.inf, None
                    for di in range(kh):  # row-major window order; a later equal value does not replace it
                        for dj in range(kw):
                            v = xp[s, i * sh + di, j * sw + dj, ch]
                            if best_at is None or v > best:
                                best, best_at = v, (i * sh + di, j * sw + dj)
                    out[s, i, j, ch] = best
                    winner[s, i, j, ch] = best_at
    cache = (winner, xp.shape, (top, left), x.shape)
    return out, cache


def max_pool_backward(dout, cache):
    """dx: each window's dout goes to its one winning element (overlapping windows add up)."""
    winner, padded_shape, (top, left), x_shape = cache
    dout = np.asarray(dout, dtype=np.float64)
    dxp = np.zeros(padded_shape)
    n, oh, ow, c = dout.shape
    for s in range(n):
        for i in range(oh):
            for j in range(ow):
                for ch in range(c):
                    r, q = winner[s, i, j, ch]
                    dxp[s, r, q, ch] += dout[s, i, j, ch]
    return dxp[:, top : top + x_shape[1], left : left + x_shape[2], :]


# ------------------------------------------------------------------------------- batch normalisation


def batch_norm_forward(x, eps=1e-5):
    """Training mode: y = (x - mean) / sqrt(var + eps) per channel (last axis), moments over all other axes.

    Returns (y, cache); the batch moments are cache["mean"] and cache["var"] (biased: divided by the count).
    """
    x = np.asarray(x, dtype=np.float64)
    c = x.shape[-1]
    rows = x.reshape(-1, c)  # one row per (n, h, w) position
    m = rows.shape[0]
    mean = np.zeros(c)
    var = np.zeros(c)
    for ch in range(c):
        total = 0.0
        for r in range(m):
            total += rows[r, ch]
        mean[ch] = total / m
        total = 0.0
        for r in range(m):
            total += (rows[r, ch] - mean[ch]) ** 2
        var[ch] = total / m
    y = (x - mean) / np.sqrt(var + eps)
    return y, {"x": x, "mean": mean, "var": var, "eps": eps}


def batch_norm_backward(dout, cache):
    """dx, by walking the forward's computational graph backwards one stage at a time, per channel:

    mu = sum(x) / m;  d = x - mu;  var = sum(d**2) / m;  s = sqrt(var + eps);  y = d / s.
    """
    x, mean, var, eps = cache["x"], cache["mean"], cache["var"], cache["eps"]
    dout = np.asarray(dout, dtype=np.float64)
    c = x.shape[-1]
    rows = x.reshape(-1, c)
    grows = dout.reshape(-1, c)
    m = rows.shape[0]
    dx = np.zeros_like(rows)
    for ch in range(c):
        d = rows[:, ch] - mean[ch]
        s = np.sqrt(var[ch] + eps)
        g = grows[:, ch]
        dd = g / s  # through y = d / s, holding s
        ds = -np.sum(g * d) / s**2  # through y = d / s, holding d
        dvar = ds / (2 * s)  # s = sqrt(var + eps)
        dd = dd + dvar * 2 * d / m  # var = sum(d**2) / m
        dmu = -np.sum(dd)  # d = x - mu
        dx[:, ch] = dd + dmu / m  # x reaches y through d directly and through mu = sum(x) / m
    return dx.reshape(x.shape)


def batch_norm_inference(x, running_mean, running_var, eps=1e-5):
    """Inference mode: y = (x - running_mean) / sqrt(running_var + eps), channel by channel (the last axis)."""
    x = np.asarray(x, dtype=np.float64)
    rows = x.reshape(-1, x.shape[-1])
    y = np.zeros_like(rows)
    for r in range(rows.shape[0]):
        for ch in range(rows.shape[1]):
            y[r, ch] = (rows[r, ch] - running_mean[ch]) / np.sqrt(running_var[ch] + eps)
    return y.reshape(x.shape)


# -------------------------------------------------------------------------------- dense and the loss


def dense_forward(x, w, b):
    """out[n, j] = b[j] + sum_i xflat[n, i] w[i, j], xflat = x flattened per sample in row-major (NHWC) order."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    n = x.shape[0]
    flat = x.reshape(n, -1)
    out = np.zeros((n, w.shape[1]))
    for s in range(n):
        for j in range(w.shape[1]):
            total = b[j]
            for i in range(w.shape[0]):
                total += flat[s, i] * w[i, j]
            out[s, j] = total
    return out


def softmax_cross_entropy(logits, labels):
    """(loss, dlogits): -mean_n sum_k labels[n, k] log softmax(logits[n])_k, and (softmax - labels) / N.

    Row by row in Python floats, with each row's maximum subtracted before exp (log-sum-exp).
    """
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    n, k = logits.shape
    total = 0.0
    dlogits = np.zeros((n, k))
    for s in range(n):
        top = max(float(v) for v in logits[s])
        log_norm = top + math.log(sum(math.exp(float(v) - top) for v in logits[s]))
        for j in range(k):
            log_p = float(logits[s, j]) - log_norm
            total -= float(labels[s, j]) * log_p
            dlogits[s, j] = (math.exp(log_p) - float(labels[s, j])) / n
    return total / n, dlogits


def l2_loss(w):
    """tf.nn.l2_loss: half the sum of the squares of every entry."""
    total = 0.0
    for v in np.asarray(w, dtype=np.float64).ravel():
        total += float(v) * float(v)
    return total / 2


# ---------------------------------------------------------------------------------------------- Adam


def adam_steps(w, grads, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8, form="tf"):
    """The weights after each of len(grads) Adam steps from w, entry by entry in Python floats.

    With t counted from 1: m = beta1 m + (1 - beta1) g, v = beta2 v + (1 - beta2) g^2, and
    form="tf" (TF1's AdamOptimizer): w -= lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + epsilon);
    form="paper" (Kingma & Ba, Algorithm 1): w -= lr * m_hat / (sqrt(v_hat) + epsilon), m_hat = m / (1 - beta1^t),
    v_hat = v / (1 - beta2^t). The two differ only in where epsilon sits. Returns an array (steps, *w.shape).
    """
    w = [float(v) for v in np.asarray(w, dtype=np.float64).ravel()]
    m, v = [0.0] * len(w), [0.0] * len(w)
    out = []
    for t, g in enumerate(grads, start=1):
        g = [float(e) for e in np.asarray(g, dtype=np.float64).ravel()]
        for i, gi in enumerate(g):
            m[i] = beta1 * m[i] + (1 - beta1) * gi
            v[i] = beta2 * v[i] + (1 - beta2) * gi * gi
            if form == "tf":
                lr_t = learning_rate * math.sqrt(1 - beta2**t) / (1 - beta1**t)
                w[i] -= lr_t * m[i] / (math.sqrt(v[i]) + epsilon)
            elif form == "paper":
                m_hat, v_hat = m[i] / (1 - beta1**t), v[i] / (1 - beta2**t)
                w[i] -= learning_rate * m_hat / (math.sqrt(v_hat) + epsilon)
            else:
                raise ValueError(f"form must be 'tf' or 'paper', not {form!r}")
        out.append(list(w))
    return np.array(out).reshape((len(grads),) + np.shape(grads[0]))

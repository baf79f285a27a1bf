"""a5_cnn as students write it: realistic mistakes and correct alternatives, as data.

A backward-pass entry is either the backward function alone (it then gets the reference forward pass and its
cache: see autograder/reference/a5_cnn.py for the cache layouts) or a (forward, backward) pair with its own cache.
"""

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from autograder.reference import a5_cnn as ref
from catalogue import registry

MUTANTS, CORRECT, wrong, right = registry()


# ------------------------------------------------------------------------------------ shared pieces


def _same_pads(size, k, stride):
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return out, total // 2, total - total // 2


def _pads(x_shape, kh, kw, stride, padding):
    """(oh, ow, top, bottom, left, right), TF's rule."""
    if padding == "VALID":
        return (x_shape[1] - kh) // stride + 1, (x_shape[2] - kw) // stride + 1, 0, 0, 0, 0
    oh, top, bottom = _same_pads(x_shape[1], kh, stride)
    ow, left, right = _same_pads(x_shape[2], kw, stride)
    return oh, ow, top, bottom, left, right


def _pad(x, top, bottom, left, right, value=0.0):
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=value)


def _conv_loops(x, w, b, stride, top, bottom, left, right, oh, ow):
    kh, kw, _, c_out = w.shape
    xp = _pad(x, top, bottom, left, right)
    out = np.zeros((x.shape[0], oh, ow, c_out))
    for i in range(oh):
        for j in range(ow):
            window = xp[:, i * stride : i * stride + kh, j * stride : j * stride + kw, :]
            out[:, i, j, :] = np.tensordot(window, w, axes=([1, 2, 3], [0, 1, 2])) + b
    return out


def _bn_train(x, axes, ddof=0, eps=1e-5):
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, ddof=ddof, keepdims=True)
    return (x - mean) / np.sqrt(var + eps)


# --------------------------------------------------------------------------------------- tf_padding


@wrong("tf_padding", 0, "bottom/right", "tf_padding.same_padding_swapped")
def tf_padding_extra_row_on_top(size, k, stride, padding):
    if padding == "VALID":
        return (size - k) // stride + 1, 0, 0
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + k - size, 0)
    return out, total - total // 2, total // 2


@wrong("tf_padding", 0, "pad_total = max(", "tf_padding.wrong_pad_total")
def tf_padding_without_max_zero(size, k, stride, padding):
    if padding == "VALID":
        return (size - k) // stride + 1, 0, 0
    out = math.ceil(size / stride)
    total = (out - 1) * stride + k - size
    return out, total // 2, total - total // 2


@wrong("tf_padding", 0, "pads", "tf_padding.wrong_pad_total")
def tf_padding_always_k_minus_1(size, k, stride, padding):
    if padding == "VALID":
        return (size - k) // stride + 1, 0, 0
    return math.ceil(size / stride), (k - 1) // 2, k - 1 - (k - 1) // 2


@right("tf_padding")
def tf_padding_with_math_ceil(size, k, stride, padding):
    if padding == "SAME":
        out = math.ceil(size / stride)
        total = max((out - 1) * stride + k - size, 0)
        return out, total // 2, total - total // 2
    return math.ceil((size - k + 1) / stride), 0, 0


@right("tf_padding")
def tf_padding_floor_formulas_as_numpy_ints(size, k, stride, padding):
    if padding == "VALID":
        return np.int64((size - k) // stride + 1), np.int64(0), np.int64(0)
    out = (size + stride - 1) // stride
    total = np.maximum((out - 1) * stride + k - size, 0)
    return out, total // 2, total - total // 2


# -------------------------------------------------------------------------------------- convolution


@wrong("conv2d_forward", 0, "wrong side", "conv2d_forward.padding_on_wrong_side")
def conv2d_forward_extra_padding_on_top(x, w, b, stride=1, padding="SAME"):
    kh, kw = w.shape[:2]
    oh, ow, top, bottom, left, right = _pads(x.shape, kh, kw, stride, padding)
    return _conv_loops(x, w, b, stride, bottom, top, right, left, oh, ow), None


@wrong("conv2d_forward", 0, "flipped", "conv2d_forward.kernel_flipped")
def conv2d_forward_flips_the_kernel(x, w, b, stride=1, padding="SAME"):
    kh, kw = w.shape[:2]
    oh, ow, top, bottom, left, right = _pads(x.shape, kh, kw, stride, padding)
    return _conv_loops(x, w[::-1, ::-1], b, stride, top, bottom, left, right, oh, ow), None


@wrong("conv2d_forward", 0, "bias", "conv2d_forward.no_bias")
def conv2d_forward_without_bias(x, w, b, stride=1, padding="SAME"):
    kh, kw = w.shape[:2]
    oh, ow, top, bottom, left, right = _pads(x.shape, kh, kw, stride, padding)
    return _conv_loops(x, w, np.zeros_like(b), stride, top, bottom, left, right, oh, ow), None


@wrong("conv2d_forward", 0, "w is HWIO", "conv2d_forward.raised")
def conv2d_forward_contracts_the_output_channels(x, w, b, stride=1, padding="SAME"):
    kh, kw = w.shape[:2]
    oh, ow, top, bottom, left, right = _pads(x.shape, kh, kw, stride, padding)
    xp = _pad(x, top, bottom, left, right)
    out = np.zeros((x.shape[0], oh, ow, w.shape[3]))
    for i in range(oh):
        for j in range(ow):
            window = xp[:, i * stride : i * stride + kh, j * stride : j * stride + kw, :]
            out[:, i, j, :] = np.tensordot(window, w, axes=([1, 2, 3], [0, 1, 3])) + b  # w's channels read as OI
    return out, None


@wrong("conv2d_forward", 0, "ceil(in / stride)", "conv2d_forward.wrong_shape")
def conv2d_forward_ignores_stride(x, w, b, stride=1, padding="SAME"):
    return ref.conv2d_forward(x, w, b, 1, padding)


def _conv_backward_reference_like(dout, cache, crop=True, offset=None, db_mean=False):
    cols, wb, w_shape, x_shape, padded_shape, pads, stride, (oh, ow) = cache
    kh, kw, c_in, c_out = w_shape
    d2 = dout.reshape(-1, c_out)
    dwb = cols.T @ d2
    dw, db = dwb[:-1].reshape(w_shape), dwb[-1]
    if db_mean:
        db = db / dout.shape[0]
    dcols = (d2 @ wb[:-1].T).reshape(x_shape[0], oh, ow, kh * kw * c_in)
    dxp = np.zeros(padded_shape)
    for i in range(kh):
        for j in range(kw):
            at = (i * kw + j) * c_in
            dxp[:, i : i + stride[0] * (oh - 1) + 1 : stride[0], j : j + stride[1] * (ow - 1) + 1 : stride[1]] += dcols[..., at : at + c_in]
    if not crop:
        return dxp, dw, db
    top, bottom, left, right = pads if offset is None else offset(pads)
    return dxp[:, top : top + x_shape[1], left : left + x_shape[2]], dw, db


@wrong("conv2d_backward", 0, "db is divided by the batch size", "conv2d_backward.db_divided_by_n")
def conv2d_backward_db_mean_over_batch(dout, cache):
    return _conv_backward_reference_like(dout, cache, db_mean=True)


@wrong("conv2d_backward", 0, "cropped back to x", "conv2d_backward.dx_not_cropped")
def conv2d_backward_dx_keeps_the_padding(dout, cache):
    return _conv_backward_reference_like(dout, cache, crop=False)


@wrong("conv2d_backward", 0, "wrong offset", "conv2d_backward.dx_cropped_at_wrong_offset")
def conv2d_backward_crops_with_the_bottom_padding(dout, cache):
    return _conv_backward_reference_like(dout, cache, offset=lambda p: (p[1], p[0], p[3], p[2]))


def conv2d_forward_loops(x, w, b, stride=1, padding="SAME"):
    kh, kw = w.shape[:2]
    oh, ow, top, bottom, left, right = _pads(x.shape, kh, kw, stride, padding)
    xp = _pad(x, top, bottom, left, right)
    n, c_out = x.shape[0], w.shape[3]
    out = np.zeros((n, oh, ow, c_out))
    for s in range(n):
        for i in range(oh):
            for j in range(ow):
                for f in range(c_out):
                    out[s, i, j, f] = np.sum(xp[s, i * stride : i * stride + kh, j * stride : j * stride + kw, :] * w[..., f]) + b[f]
    return out, (xp, w, stride, (top, left), x.shape)


def conv2d_backward_loops(dout, cache):
    xp, w, stride, (top, left), x_shape = cache
    kh, kw = w.shape[:2]
    dxp, dw, db = np.zeros_like(xp), np.zeros_like(w), np.zeros(w.shape[3])
    n, oh, ow, c_out = dout.shape
    for s in range(n):
        for i in range(oh):
            for j in range(ow):
                window = xp[s, i * stride : i * stride + kh, j * stride : j * stride + kw, :]
                for f in range(c_out):
                    dxp[s, i * stride : i * stride + kh, j * stride : j * stride + kw, :] += dout[s, i, j, f] * w[..., f]
                    dw[..., f] += dout[s, i, j, f] * window
                    db[f] += dout[s, i, j, f]
    return dxp[:, top : top + x_shape[1], left : left + x_shape[2], :], dw, db


def conv2d_backward_loops_flipping_dw(dout, cache):
    dx, dw, db = conv2d_backward_loops(dout, cache)
    return dx, dw[::-1, ::-1], db


wrong("conv2d_backward", 0, "dw is flipped", "conv2d_backward.dw_flipped")((conv2d_forward_loops, conv2d_backward_loops_flipping_dw))
right("conv2d_forward")(conv2d_forward_loops)
right("conv2d_backward")((conv2d_forward_loops, conv2d_backward_loops))


def conv2d_forward_sliding_window(x, w, b, stride=1, padding="SAME"):
    """im2col with sliding_window_view: every window becomes a row, the convolution one matrix product."""
    kh, kw, c_in, c_out = w.shape
    oh, ow, top, bottom, left, right = _pads(x.shape, kh, kw, stride, padding)
    xp = _pad(x, top, bottom, left, right)
    windows = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, ::stride, ::stride][:, :oh, :ow]  # (N, OH, OW, C, KH, KW)
    cols = windows.transpose(0, 1, 2, 4, 5, 3).reshape(-1, kh * kw * c_in)
    out = (cols @ w.reshape(-1, c_out) + b).reshape(x.shape[0], oh, ow, c_out)
    return out, (cols, w, xp.shape, (top, left), stride, x.shape, (oh, ow))


def conv2d_backward_col2im(dout, cache):
    cols, w, padded_shape, (top, left), stride, x_shape, (oh, ow) = cache
    kh, kw, c_in, c_out = w.shape
    d2 = dout.reshape(-1, c_out)
    dw = (cols.T @ d2).reshape(w.shape)
    dcols = (d2 @ w.reshape(-1, c_out).T).reshape(x_shape[0], oh, ow, kh, kw, c_in)
    dxp = np.zeros(padded_shape)
    for i in range(kh):
        for j in range(kw):
            dxp[:, i : i + stride * oh : stride, j : j + stride * ow : stride, :] += dcols[:, :, :, i, j, :]
    return dxp[:, top : top + x_shape[1], left : left + x_shape[2]], dw, d2.sum(axis=0)


right("conv2d_forward")(conv2d_forward_sliding_window)
right("conv2d_backward")((conv2d_forward_sliding_window, conv2d_backward_col2im))


@right("conv2d_forward")
def conv2d_forward_einsum_float32_buffer(x, w, b, stride=1, padding="SAME"):
    """Per kernel offset, with an output buffer in float32 (as a student might, for MNIST)."""
    kh, kw, _, c_out = w.shape
    oh, ow, top, bottom, left, right = _pads(x.shape, kh, kw, stride, padding)
    xp = _pad(x, top, bottom, left, right)
    out = np.zeros((x.shape[0], oh, ow, c_out), dtype=np.float32)
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("nhwc,cf->nhwf", xp[:, i : i + stride * oh : stride, j : j + stride * ow : stride], w[i, j])
    return out + b.astype(np.float32), None


# --------------------------------------------------------------------------------------------- ReLU


@wrong("relu_forward", 0.5, "changed its input x in place", "relu_forward.modified_input")
def relu_forward_in_place(x):
    out = np.maximum(x, 0, out=x)
    return out, out


@wrong("relu_forward", 0, "is never negative", "relu_forward.negative_values")
def relu_forward_leaky(x):
    out = np.where(x > 0, x, 0.01 * x)
    return out, x


@wrong("relu_backward", 0, "multiplies dout by relu(x)", "relu_backward.multiplied_by_relu")
def relu_backward_times_the_output(dout, cache):
    return dout * cache


@wrong("relu_backward", 0.5, "changed its input dout in place", "relu_backward.modified_input")
def relu_backward_zeroes_dout_in_place(dout, cache):
    dout[cache <= 0] = 0
    return dout


def relu_forward_keeps_x(x):
    return np.where(x > 0, x, 0.0), x


def relu_backward_from_x(dout, x):
    dx = dout.copy()
    dx[x <= 0] = 0
    return dx


def relu_backward_passes_the_gradient_at_zero(dout, x):
    return dout * (x >= 0)


wrong("relu_backward", 0.5, "derivative at 0", "relu_backward.gradient_at_zero")((relu_forward_keeps_x, relu_backward_passes_the_gradient_at_zero))


def relu_backward_writes_its_mask_into_x(dout, x):
    np.greater(x, 0, out=x)  # the 0/1 mask, in the cached x's memory: the caller's x
    return dout * x


wrong("relu_backward", 0.5, "relu_backward changed the x you passed to relu_forward", "relu_backward.modified_forward_input")(
    (relu_forward_keeps_x, relu_backward_writes_its_mask_into_x)
)
right("relu_forward")(relu_forward_keeps_x)
right("relu_backward")((relu_forward_keeps_x, relu_backward_from_x))


# ------------------------------------------------------------------------------- batch normalisation


def _bn_forward_with(normalise, running_update=None, inference_batch=False):
    def batch_norm_forward(x, running, training, momentum=0.99, eps=1e-5):
        if training or inference_batch:
            y = normalise(x)
            mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
            update = running_update or (lambda r, b: momentum * r + (1 - momentum) * b)
            new = {"mean": update(running["mean"], mean), "var": update(running["var"], var)} if training else dict(running)
            return y, None, new
        return (x - running["mean"]) / np.sqrt(running["var"] + eps), None, dict(running)

    return batch_norm_forward


def batch_norm_forward_over_batch_axis_only(x, running, training, momentum=0.99, eps=1e-5):
    return _bn_forward_with(lambda x: _bn_train(x, (0,)))(x, running, training, momentum, eps)


def batch_norm_forward_per_sample(x, running, training, momentum=0.99, eps=1e-5):
    return _bn_forward_with(lambda x: _bn_train(x, (1, 2)))(x, running, training, momentum, eps)


def batch_norm_forward_unbiased_variance(x, running, training, momentum=0.99, eps=1e-5):
    return _bn_forward_with(lambda x: _bn_train(x, (0, 1, 2), ddof=1))(x, running, training, momentum, eps)


def batch_norm_forward_eps_outside_the_sqrt(x, running, training, momentum=0.99, eps=1e-5):
    normalise = lambda x: (x - x.mean(axis=(0, 1, 2))) / (x.std(axis=(0, 1, 2)) + eps)
    return _bn_forward_with(normalise)(x, running, training, momentum, eps)


def batch_norm_forward_pytorch_momentum(x, running, training, momentum=0.99, eps=1e-5):
    update = lambda r, b: (1 - momentum) * r + momentum * b
    return _bn_forward_with(lambda x: _bn_train(x, (0, 1, 2)), update)(x, running, training, momentum, eps)


def batch_norm_forward_batch_moments_at_inference(x, running, training, momentum=0.99, eps=1e-5):
    return _bn_forward_with(lambda x: _bn_train(x, (0, 1, 2)), inference_batch=True)(x, running, training, momentum, eps)


wrong("batch_norm_forward", 0, "averaged over the batch axis only", "batch_norm_forward.batch_axis_only")(batch_norm_forward_over_batch_axis_only)
wrong("batch_norm_forward", 0, "over H and W of each sample", "batch_norm_forward.per_sample")(batch_norm_forward_per_sample)
wrong("batch_norm_forward", 0, "biased variance", "batch_norm_forward.unbiased_variance")(batch_norm_forward_unbiased_variance)
wrong("batch_norm_forward", 0, "inside the square root", "batch_norm_forward.eps_outside_sqrt")(batch_norm_forward_eps_outside_the_sqrt)
wrong("batch_norm_forward", 2, "Keras's convention", "batch_norm_forward.pytorch_momentum")(batch_norm_forward_pytorch_momentum)
wrong("batch_norm_forward", 2, "running averages, not with the batch's own moments", "batch_norm_forward.batch_moments_at_inference")(batch_norm_forward_batch_moments_at_inference)


@wrong("batch_norm_backward", 0, "constants", "batch_norm_backward.moments_as_constants")
def batch_norm_backward_moments_as_constants(dout, cache):
    training, xhat, inv_std = cache
    return dout * inv_std


@wrong("batch_norm_backward", 0, "variance's term", "batch_norm_backward.no_variance_term")
def batch_norm_backward_without_the_variance_term(dout, cache):
    training, xhat, inv_std = cache
    if not training:
        return dout * inv_std
    return inv_std * (dout - dout.mean(axis=(0, 1, 2)))


def batch_norm_forward_caching_xhat(x, running, training, momentum=0.99, eps=1e-5):
    if training:
        mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
        new = {"mean": momentum * running["mean"] + (1 - momentum) * mean, "var": momentum * running["var"] + (1 - momentum) * var}
    else:
        mean, var, new = running["mean"], running["var"], dict(running)
    inv_std = 1 / np.sqrt(var + eps)
    xhat = (x - mean) * inv_std
    return xhat, (xhat, inv_std), new


def batch_norm_backward_training_formula_at_inference(dout, cache):
    xhat, inv_std = cache  # the mode is not in the cache, so inference gets the training formula too
    return inv_std * (dout - dout.mean(axis=(0, 1, 2)) - xhat * (dout * xhat).mean(axis=(0, 1, 2)))


wrong("batch_norm_backward", 2, "inference mode the normaliser is a constant", "batch_norm_backward.training_formula_at_inference")(
    (batch_norm_forward_caching_xhat, batch_norm_backward_training_formula_at_inference)
)
right("batch_norm_forward")(batch_norm_forward_caching_xhat)


def batch_norm_forward_caching_x(x, running, training, momentum=0.99, eps=1e-5):
    out, (xhat, inv_std), new = batch_norm_forward_caching_xhat(x, running, training, momentum, eps)
    return out, (x, training, x.mean(axis=(0, 1, 2)) if training else running["mean"], inv_std), new


def batch_norm_backward_centres_x_in_place(dout, cache):
    x, training, mean, inv_std = cache
    if not training:
        return dout * inv_std
    x -= mean  # centred in the cached x's memory: the caller's x
    xhat = x * inv_std
    return inv_std * (dout - dout.mean(axis=(0, 1, 2)) - xhat * (dout * xhat).mean(axis=(0, 1, 2)))


wrong("batch_norm_backward", 2.5, "batch_norm_backward changed the x you passed to batch_norm_forward", "batch_norm_backward.modified_forward_input")(
    (batch_norm_forward_caching_x, batch_norm_backward_centres_x_in_place)
)


def batch_norm_forward_graph(x, running, training, momentum=0.99, eps=1e-5):
    """CS231n style: every stage of the computation kept for a stage-by-stage backward pass."""
    if not training:
        std = np.sqrt(running["var"] + eps)
        return (x - running["mean"]) / std, ("inference", std), {"mean": running["mean"].copy(), "var": running["var"].copy()}
    m = x.shape[0] * x.shape[1] * x.shape[2]
    mu = x.sum(axis=(0, 1, 2)) / m
    d = x - mu
    var = (d**2).sum(axis=(0, 1, 2)) / m
    std = np.sqrt(var + eps)
    new = {"mean": momentum * running["mean"] + (1 - momentum) * mu, "var": momentum * running["var"] + (1 - momentum) * var}
    return d / std, ("training", d, std, m), new


def batch_norm_backward_graph(dout, cache):
    if cache[0] == "inference":
        return dout / cache[1]
    _, d, std, m = cache
    dd = dout / std
    dstd = -(dout * d).sum(axis=(0, 1, 2)) / std**2
    dvar = dstd / (2 * std)
    dd = dd + dvar * 2 * d / m
    dmu = -dd.sum(axis=(0, 1, 2))
    return dd + dmu / m


right("batch_norm_forward")(batch_norm_forward_graph)
right("batch_norm_backward")((batch_norm_forward_graph, batch_norm_backward_graph))


# -------------------------------------------------------------------------------------- max pooling


def _pool_windows(x, size, stride, padding, pad_value=-np.inf, flip_side=False):
    oh, ow, top, bottom, left, right = _pads(x.shape, size, size, stride, padding)
    if flip_side:
        top, bottom, left, right = bottom, top, right, left
    return _pad(x, top, bottom, left, right, pad_value), oh, ow, top, left


def _pool_forward_loops(x, size=2, stride=2, padding="SAME", pad_value=-np.inf, flip_side=False):
    xp, oh, ow, top, left = _pool_windows(x, size, stride, padding, pad_value, flip_side)
    out = np.zeros((x.shape[0], oh, ow, x.shape[3]))
    for i in range(oh):
        for j in range(ow):
            out[:, i, j, :] = xp[:, i * stride : i * stride + size, j * stride : j * stride + size, :].max(axis=(1, 2))
    return out, (xp, out, size, stride, top, left, x.shape)


@wrong("max_pool_forward", 0, "-inf", "max_pool_forward.zero_padding")
def max_pool_forward_pads_with_zeros(x, size=2, stride=2, padding="SAME"):
    return _pool_forward_loops(x, size, stride, padding, pad_value=0.0)


@wrong("max_pool_forward", 0, "wrong side", "max_pool_forward.padding_on_wrong_side")
def max_pool_forward_extra_padding_on_top(x, size=2, stride=2, padding="SAME"):
    return _pool_forward_loops(x, size, stride, padding, flip_side=True)


@wrong("max_pool_forward", 0, "partial window", "max_pool_forward.partial_window_dropped")
def max_pool_forward_drops_the_partial_window(x, size=2, stride=2, padding="SAME"):
    return _pool_forward_loops(x, size, stride, "VALID")


def max_pool_backward_loops(dout, cache, rule="first"):
    """Each window sends its dout to one maximum: the first in row-major order (np.argmax), or the last."""
    xp, out, size, stride, top, left, x_shape = cache
    dxp = np.zeros(xp.shape)
    n, oh, ow, c = dout.shape
    for s in range(n):
        for i in range(oh):
            for j in range(ow):
                for ch in range(c):
                    window = xp[s, i * stride : i * stride + size, j * stride : j * stride + size, ch].ravel()
                    k = np.argmax(window) if rule == "first" else len(window) - 1 - np.argmax(window[::-1])
                    dxp[s, i * stride + k // size, j * stride + k % size, ch] += dout[s, i, j, ch]
    return dxp[:, top : top + x_shape[1], left : left + x_shape[2]]


def max_pool_backward_last_maximum(dout, cache):
    return max_pool_backward_loops(dout, cache, rule="last")


def max_pool_backward_every_tied_max(dout, cache):
    xp, out, size, stride, top, left, x_shape = cache
    dxp = np.zeros(xp.shape)
    for i in range(out.shape[1]):
        for j in range(out.shape[2]):
            window = xp[:, i * stride : i * stride + size, j * stride : j * stride + size, :]
            mask = window == out[:, i : i + 1, j : j + 1, :]
            dxp[:, i * stride : i * stride + size, j * stride : j * stride + size, :] += mask * dout[:, i : i + 1, j : j + 1, :]
    return dxp[:, top : top + x_shape[1], left : left + x_shape[2]]


def max_pool_backward_splits_ties(dout, cache):
    xp, out, size, stride, top, left, x_shape = cache
    dxp = np.zeros(xp.shape)
    for i in range(out.shape[1]):
        for j in range(out.shape[2]):
            window = xp[:, i * stride : i * stride + size, j * stride : j * stride + size, :]
            mask = window == out[:, i : i + 1, j : j + 1, :]
            share = mask / mask.sum(axis=(1, 2), keepdims=True)
            dxp[:, i * stride : i * stride + size, j * stride : j * stride + size, :] += share * dout[:, i : i + 1, j : j + 1, :]
    return dxp[:, top : top + x_shape[1], left : left + x_shape[2]]


def max_pool_backward_overwrites_overlaps(dout, cache):
    xp, out, size, stride, top, left, x_shape = cache
    dxp = np.zeros(xp.shape)
    n, oh, ow, c = dout.shape
    for s in range(n):
        for i in range(oh):
            for j in range(ow):
                for ch in range(c):
                    k = np.argmax(xp[s, i * stride : i * stride + size, j * stride : j * stride + size, ch])
                    dxp[s, i * stride + k // size, j * stride + k % size, ch] = dout[s, i, j, ch]
    return dxp[:, top : top + x_shape[1], left : left + x_shape[2]]


wrong("max_pool_backward", 0, "every tied maximum", "max_pool_backward.every_tied_max")((_pool_forward_loops, max_pool_backward_every_tied_max))
wrong("max_pool_backward", 0, "split among its tied maxima", "max_pool_backward.split_among_ties")((_pool_forward_loops, max_pool_backward_splits_ties))
wrong("max_pool_backward", 0, "ADD their gradients", "max_pool_backward.overlaps_overwritten")((_pool_forward_loops, max_pool_backward_overwrites_overlaps))
right("max_pool_forward")(_pool_forward_loops)
right("max_pool_backward")((_pool_forward_loops, max_pool_backward_loops))
right("max_pool_backward")((_pool_forward_loops, max_pool_backward_last_maximum))


# ------------------------------------------------------------------------------------------ dropout


@wrong("dropout_forward", 0, "not rescaled", "dropout_forward.not_rescaled")
def dropout_forward_not_rescaled(x, keep_prob, rng, training):
    if not training:
        return x, None
    mask = rng.random(x.shape) < keep_prob
    return x * mask, mask


@wrong("dropout_forward", 0, "KEEPING", "dropout_forward.keep_prob_inverted")
def dropout_forward_keep_prob_used_as_rate(x, keep_prob, rng, training):
    if not training:
        return x, None
    mask = (rng.random(x.shape) >= keep_prob) / (1 - keep_prob) if keep_prob < 1 else np.ones_like(x)
    return x * mask, mask


@wrong("dropout_forward", 0, "inverted dropout", "dropout_forward.scaled_at_inference")
def dropout_forward_scales_at_inference(x, keep_prob, rng, training):
    if not training:
        return x * keep_prob, None
    mask = rng.random(x.shape) < keep_prob
    return x * mask, mask


@wrong("dropout_forward", 1, "rng argument", "dropout_forward.ignores_rng")
def dropout_forward_global_random_state(x, keep_prob, rng, training):
    if not training:
        return x, None
    mask = (np.random.rand(*x.shape) < keep_prob).astype(x.dtype) / keep_prob
    return x * mask, mask


@wrong("dropout_backward", 0, "1 / keep_prob scale", "dropout_backward.not_rescaled")
def dropout_backward_mask_without_the_scale(dout, cache):
    return dout if cache is None else dout * (cache != 0)


@wrong("dropout_backward", 0, "same mask and scale", "dropout_backward.wrong_mask")
def dropout_backward_draws_a_new_mask(dout, cache):
    if cache is None:
        return dout
    keep_prob = 1 / cache.max()
    return dout * (np.random.default_rng().random(dout.shape) < keep_prob) / keep_prob


def dropout_forward_binomial(x, keep_prob, rng, training):
    if not training or keep_prob == 1:
        return x, None
    mask = rng.binomial(1, keep_prob, size=x.shape)
    return x * mask / keep_prob, (mask, keep_prob)


def dropout_backward_binomial(dout, cache):
    if cache is None:
        return dout
    mask, keep_prob = cache
    return dout * mask / keep_prob


right("dropout_forward")(dropout_forward_binomial)
right("dropout_backward")((dropout_forward_binomial, dropout_backward_binomial))


# -------------------------------------------------------------------------------------------- dense


@wrong("dense_forward", 0, "NCHW", "dense_forward.flattened_channels_first")
def dense_forward_flattens_channels_first(x, w, b):
    flat = x.transpose(0, 3, 1, 2).reshape(x.shape[0], -1) if x.ndim == 4 else x
    return flat @ w + b, (flat, w, x.shape)


@wrong("dense_forward", 0, "bias", "dense_forward.no_bias")
def dense_forward_without_bias(x, w, b):
    flat = x.reshape(x.shape[0], -1)
    return flat @ w, (flat, w, x.shape)


@wrong("dense_backward", 0, "reshape it back", "dense_backward.dx_wrong_shape")
def dense_backward_keeps_dx_flat(dout, cache):
    x2, w, x_shape = cache
    return dout @ w.T, x2.T @ dout, dout.sum(axis=0)


def dense_forward_caching_x(x, w, b):
    return x.reshape(x.shape[0], -1) @ w + b, (x, w)


def dense_backward_flattens_x_in_place(dout, cache):
    x, w = cache
    shape = x.shape
    x.shape = (shape[0], -1)  # reshapes the caller's x itself
    return (dout @ w.T).reshape(shape), x.T @ dout, dout.sum(axis=0)


wrong("dense_backward", 1.5, "dense_backward changed the x you passed to dense_forward", "dense_backward.modified_forward_input")(
    (dense_forward_caching_x, dense_backward_flattens_x_in_place)
)


@wrong("dense_backward", 0, "db is divided by N", "dense_backward.db_divided_by_n")
def dense_backward_averages_db(dout, cache):
    x2, w, x_shape = cache
    return (dout @ w.T).reshape(x_shape), x2.T @ dout, dout.mean(axis=0)


def dense_forward_einsum(x, w, b):
    return np.einsum("nd,dk->nk", x.reshape(len(x), -1), w) + b, (x, w)


def dense_backward_einsum(dout, cache):
    x, w = cache
    dx = np.einsum("nk,dk->nd", dout, w).reshape(x.shape)
    return dx, np.einsum("nd,nk->dk", x.reshape(len(x), -1), dout), np.einsum("nk->k", dout)


right("dense_forward")(dense_forward_einsum)
right("dense_backward")((dense_forward_einsum, dense_backward_einsum))


# ----------------------------------------------------------------------------------------- the loss


@wrong("softmax_cross_entropy_with_logits", 0, "summed over the batch", "softmax_cross_entropy_with_logits.loss_summed")
def softmax_cross_entropy_summed(logits, labels):
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -np.sum(labels * log_p), (np.exp(log_p) - labels) / len(logits)


@wrong("softmax_cross_entropy_with_logits", 1, "nan/inf", "softmax_cross_entropy_with_logits.nonfinite_for_large_logits")
def softmax_cross_entropy_without_max_shift(logits, labels):
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return -np.mean(np.sum(labels * np.log(p), axis=1)), (p - labels) / len(logits)


@wrong("softmax_cross_entropy_with_logits", 1, "a clipped log", "softmax_cross_entropy_with_logits.wrong_for_large_logits")
def softmax_cross_entropy_clipped_log(logits, labels):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    return -np.mean(np.sum(labels * np.log(np.clip(p, 1e-12, 1.0)), axis=1)), (p - labels) / len(logits)


@wrong("softmax_cross_entropy_with_logits", 0, "N times too large", "softmax_cross_entropy_with_logits.dlogits_not_divided_by_n")
def softmax_cross_entropy_gradient_without_1_over_n(logits, labels):
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -np.mean(np.sum(labels * log_p, axis=1)), np.exp(log_p) - labels


@wrong("softmax_cross_entropy_with_logits", 0, "one loss per sample", "softmax_cross_entropy_with_logits.loss_per_sample")
def softmax_cross_entropy_per_sample_like_tf(logits, labels):
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -np.sum(labels * log_p, axis=1), (np.exp(log_p) - labels) / len(logits)


@right("softmax_cross_entropy_with_logits")
def softmax_cross_entropy_row_loop_with_math(logits, labels):
    n, k = logits.shape
    loss, d = 0.0, np.zeros(logits.shape)
    for i in range(n):
        top = max(logits[i])
        z = sum(math.exp(v - top) for v in logits[i])
        for j in range(k):
            p = math.exp(logits[i, j] - top) / z
            loss -= labels[i, j] * (logits[i, j] - top - math.log(z))
            d[i, j] = (p - labels[i, j]) / n
    return loss / n, d


@right("softmax_cross_entropy_with_logits")
def softmax_cross_entropy_logaddexp(logits, labels):
    log_z = np.logaddexp.reduce(logits, axis=1, keepdims=True)
    return float(-np.sum(labels * (logits - log_z)) / len(logits)), (np.exp(logits - log_z) - labels) / len(logits)


@wrong("l2_loss", 0, "without the 1/2", "l2_loss.missing_half")
def l2_loss_without_half(w):
    return np.sum(w**2)


@wrong("l2_loss", 0, "square root", "l2_loss.square_root")
def l2_loss_as_the_norm(w):
    return np.linalg.norm(w)


@right("l2_loss")
def l2_loss_squared_norm(w):
    return np.linalg.norm(w.ravel()) ** 2 / 2


@right("l2_loss")
def l2_loss_vdot(w):
    return 0.5 * np.vdot(w, w)


# --------------------------------------------------------------------------------------------- Adam


def _adam(w, dw, config, correct=True, eps_inside=False, keep_t=True, default_lr=1e-3, fixed_betas=False, in_place=False):
    lr = config.get("learning_rate", default_lr)
    b1, b2 = (0.9, 0.999) if fixed_betas else (config.get("beta1", 0.9), config.get("beta2", 0.999))
    eps = config.get("epsilon", 1e-8)
    t = config.get("t", 0) + 1 if keep_t else 1
    m = b1 * config.get("m", np.zeros_like(w)) + (1 - b1) * dw
    v = b2 * config.get("v", np.zeros_like(w)) + (1 - b2) * dw**2
    m_hat, v_hat = (m / (1 - b1**t), v / (1 - b2**t)) if correct else (m, v)
    step = lr * m_hat / (np.sqrt(v_hat + eps) if eps_inside else np.sqrt(v_hat) + eps)
    if in_place:
        w -= step
    else:
        w = w - step
    return w, {**config, "m": m, "v": v, "t": t}


@wrong("adam_update", 0, "bias correction missing", "adam_update.no_bias_correction")
def adam_update_without_bias_correction(w, dw, config):
    return _adam(w, dw, config, correct=False)


@wrong("adam_update", 0, "epsilon is added outside the square root", "adam_update.eps_placement")
def adam_update_epsilon_inside_the_sqrt(w, dw, config):
    return _adam(w, dw, config, eps_inside=True)


@wrong("adam_update", 0, "not carried", "adam_update.t_not_carried")
def adam_update_forgets_t(w, dw, config):
    return _adam(w, dw, config, keep_t=False)


@wrong("adam_update", 0, "default learning rate is 1e-3", "adam_update.wrong_default_lr")
def adam_update_defaults_to_the_handout_rate(w, dw, config):
    return _adam(w, dw, config, default_lr=1e-4)


@wrong("adam_update", 0, "ignores config['beta1']", "adam_update.ignores_betas")
def adam_update_hard_coded_betas(w, dw, config):
    return _adam(w, dw, config, fixed_betas=True)


@wrong("adam_update", 2.5, "changed its input w or dw in place", "adam_update.modified_input")
def adam_update_in_place(w, dw, config):
    return _adam(w, dw, config, in_place=True)


@right("adam_update")
def adam_update_paper_form(w, dw, config):
    """Kingma & Ba's Algorithm 1: epsilon added to sqrt(v_hat) (PyTorch's placement)."""
    return _adam(w, dw, config)


@right("adam_update")
def adam_update_cs231n_style(w, dw, config):
    """TF1's form, keeping the state in the config it was given (setdefault), as CS231n's optim.py does."""
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("m", np.zeros_like(w))
    config.setdefault("v", np.zeros_like(w))
    config.setdefault("t", 0)
    config["t"] += 1
    config["m"] = config["beta1"] * config["m"] + (1 - config["beta1"]) * dw
    config["v"] = config["beta2"] * config["v"] + (1 - config["beta2"]) * dw * dw
    lr_t = config["learning_rate"] * math.sqrt(1 - config["beta2"] ** config["t"]) / (1 - config["beta1"] ** config["t"])
    return w - lr_t * config["m"] / (np.sqrt(config["v"]) + config["epsilon"]), config


# -------------------------------------------------------------------------------------- the network


def _cnn(x, params, state, training, rng=None, keep_prob=0.5, order=("conv", "relu", "bn", "pool"), bn_training=None, dropout=True):
    bn_training = training if bn_training is None else bn_training
    a = x if x.ndim == 4 else x.reshape(-1, 28, 28, 1)
    caches, new_state = {}, dict(state)
    for layer in order:
        if layer == "conv":
            a, caches["conv"] = ref.conv2d_forward(a, params["W_conv"], params["b_conv"], 1, "SAME")
        elif layer == "relu":
            a, caches["relu1"] = ref.relu_forward(a)
        elif layer == "bn":
            a, caches["bn"], new_state["bn"] = ref.batch_norm_forward(a, state["bn"], bn_training)
        else:
            a, caches["pool"] = ref.max_pool_forward(a, 2, 2, "SAME")
    a, caches["fc1"] = ref.dense_forward(a, params["W1"], params["b1"])
    a, caches["drop"] = ref.dropout_forward(a, keep_prob, rng, training and dropout)
    a, caches["relu2"] = ref.relu_forward(a)
    logits, caches["fc2"] = ref.dense_forward(a, params["W2"], params["b2"])
    return logits, caches, new_state


@wrong("cnn_forward", 0, "batch norm comes after the ReLU", "cnn_forward.bn_before_relu")
def cnn_forward_batch_norm_before_relu(x, params, state, training, rng=None, keep_prob=0.5):
    return _cnn(x, params, state, training, rng, keep_prob, order=("conv", "bn", "relu", "pool"))


@wrong("cnn_forward", 0, "running averages", "cnn_forward.batch_moments_at_inference")
def cnn_forward_batch_statistics_at_inference(x, params, state, training, rng=None, keep_prob=0.5):
    return _cnn(x, params, state, training, rng, keep_prob, bn_training=True)


@wrong("cnn_forward", 1, "ignores keep_prob", "cnn_forward.no_dropout")
def cnn_forward_without_dropout(x, params, state, training, rng=None, keep_prob=0.5):
    return _cnn(x, params, state, training, rng, keep_prob, dropout=False)


@wrong("cnn_forward", 0, "raised ValueError", "cnn_forward.raised")
def cnn_forward_hard_coded_28x28(x, params, state, training, rng=None, keep_prob=0.5):
    return _cnn(x.reshape(-1, 28, 28, 1), params, state, training, rng, keep_prob)


def cnn_backward_dict_cache(dlogits, caches, skip=()):
    grads = {}
    d, grads["W2"], grads["b2"] = ref.dense_backward(dlogits, caches["fc2"])
    d = ref.relu_backward(d, caches["relu2"])
    if "dropout" not in skip:
        d = ref.dropout_backward(d, caches["drop"])
    d, grads["W1"], grads["b1"] = ref.dense_backward(d, caches["fc1"])
    d = ref.max_pool_backward(d, caches["pool"])
    if "bn" not in skip:
        d = ref.batch_norm_backward(d, caches["bn"])
    d = ref.relu_backward(d, caches["relu1"])
    _, grads["W_conv"], grads["b_conv"] = ref.conv2d_backward(d, caches["conv"])
    return grads


def cnn_backward_skips_batch_norm(dlogits, caches):
    return cnn_backward_dict_cache(dlogits, caches, skip=("bn",))


def cnn_backward_skips_the_dropout_mask(dlogits, caches):
    return cnn_backward_dict_cache(dlogits, caches, skip=("dropout",))


def cnn_forward_dict_cache(x, params, state, training, rng=None, keep_prob=0.5):
    return _cnn(x, params, state, training, rng, keep_prob)


wrong("cnn_backward", 0, "the first wrong one from the output is the conv layer", "cnn_backward.wrong_conv_gradients")((cnn_forward_dict_cache, cnn_backward_skips_batch_norm))
wrong("cnn_backward", 0, "dropout mask", "cnn_backward.dropout_mask_not_reused")((cnn_forward_dict_cache, cnn_backward_skips_the_dropout_mask))
right("cnn_forward")(cnn_forward_dict_cache)
right("cnn_backward")((cnn_forward_dict_cache, cnn_backward_dict_cache))


# ------------------------------------------------------------------------------------ the training loop


def _train_epoch(x, labels, params, state, adam_configs, rng, batch_size=32, keep_prob=0.5, l2_lambda=5e-4, shuffle=True,
                 l2_in_grads=True, l2_in_loss=True, drop_last=False, adam=ref.adam_update):
    n = len(x)
    order = rng.permutation(n) if shuffle else np.arange(n)
    params, adam_configs, losses = dict(params), dict(adam_configs), []
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = order[start : start + batch_size]
        logits, cache, state = ref.cnn_forward(x[idx], params, state, True, rng, keep_prob)
        loss, dlogits = ref.softmax_cross_entropy_with_logits(logits, labels[idx])
        grads = ref.cnn_backward(dlogits, cache)
        for name in ("W1", "W2"):
            if l2_in_loss:
                loss += l2_lambda * ref.l2_loss(params[name])
            if l2_in_grads:
                grads[name] = grads[name] + l2_lambda * params[name]
        for name in params:
            params[name], adam_configs[name] = adam(params[name], grads[name], adam_configs[name])
        losses.append(loss)
    return params, state, adam_configs, losses


@wrong("train_epoch", 0, "leaves out the L2 term", "train_epoch.no_l2")
def train_epoch_without_l2(x, labels, params, state, adam_configs, rng, batch_size=32, keep_prob=0.5, l2_lambda=5e-4, shuffle=True):
    return _train_epoch(x, labels, params, state, adam_configs, rng, batch_size, keep_prob, l2_lambda, shuffle, False, False)


@wrong("train_epoch", 0, "recorded losses leave out the L2 term", "train_epoch.l2_not_in_losses")
def train_epoch_losses_without_l2(x, labels, params, state, adam_configs, rng, batch_size=32, keep_prob=0.5, l2_lambda=5e-4,
                                  shuffle=True):
    return _train_epoch(x, labels, params, state, adam_configs, rng, batch_size, keep_prob, l2_lambda, shuffle, l2_in_loss=False)


@wrong("train_epoch", 0, "one loss per batch", "train_epoch.wrong_losses_length")
def train_epoch_drops_the_last_small_batch(x, labels, params, state, adam_configs, rng, batch_size=32, keep_prob=0.5,
                                           l2_lambda=5e-4, shuffle=True):
    return _train_epoch(x, labels, params, state, adam_configs, rng, batch_size, keep_prob, l2_lambda, shuffle, drop_last=True)


@wrong("train_epoch", 0, "carry the batch-norm state", "train_epoch.state_not_carried")
def train_epoch_forgets_the_batch_norm_state(x, labels, params, state, adam_configs, rng, batch_size=32, keep_prob=0.5,
                                             l2_lambda=5e-4, shuffle=True):
    n, params, losses = len(x), dict(params), []
    order = rng.permutation(n) if shuffle else np.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        logits, cache, _ = ref.cnn_forward(x[idx], params, state, True, rng, keep_prob)  # state never advances
        loss, dlogits = ref.softmax_cross_entropy_with_logits(logits, labels[idx])
        grads = ref.cnn_backward(dlogits, cache)
        loss += l2_lambda * (ref.l2_loss(params["W1"]) + ref.l2_loss(params["W2"]))
        for name in params:
            g = grads[name] + (l2_lambda * params[name] if name in ("W1", "W2") else 0)
            params[name], adam_configs[name] = ref.adam_update(params[name], g, adam_configs[name])
        losses.append(loss)
    return params, state, adam_configs, losses


@right("train_epoch")
def train_epoch_composition(x, labels, params, state, adam_configs, rng, batch_size=32, keep_prob=0.5, l2_lambda=5e-4, shuffle=True):
    return _train_epoch(x, labels, params, state, adam_configs, rng, batch_size, keep_prob, l2_lambda, shuffle)


@right("train_epoch")
def train_epoch_with_the_papers_adam(x, labels, params, state, adam_configs, rng, batch_size=32, keep_prob=0.5, l2_lambda=5e-4,
                                     shuffle=True):
    """Where a gradient is as small as epsilon, this Adam's steps differ visibly from TF1's: still right."""
    return _train_epoch(x, labels, params, state, adam_configs, rng, batch_size, keep_prob, l2_lambda, shuffle, adam=adam_update_paper_form)


# ------------------------------------------------------------------------------------------ graded end to end
# What tests/test_grading_assignments.py expects when the course grades a5_cnn: the bundled example students,
# the source notebook (as e2e-solution) and the entries below typed into the solution (as e2e-mutants).
END_TO_END = {
    "manual": {"results_regularisation": 4.0},  # Q1, the L2 and dropout studies, graded by hand
    "total_points": 44,
    # The grades the bundled examples must get, cell by cell (the demo prints these); a cell not listed under
    # partial_marks gets full marks.
    "full_marks": ("e2e-solution", "example-ada"),
    "no_marks": ("example-carol",),
    "partial_marks": {
        "example-bob": {
            "conv2d_backward_tests": 0.0,  # crops dx at the bottom padding's offset
            "relu_forward_tests": 0.5,  # np.maximum(x, 0, out=x)
            "batch_norm_forward_tests": 0.0,  # moments over the batch axis only
            "batch_norm_backward_tests": 0.0,  # judged with that forward pass
            "max_pool_backward_tests": 0.0,  # the gradient to every tied maximum
            "dropout_forward_tests": 0.0,  # not rescaled
            "dropout_backward_tests": 0.0,  # judged with that forward pass
            "softmax_cross_entropy_with_logits_tests": 1.0,  # no max shift: nan for logits of 1e4
            "adam_update_tests": 0.0,  # no bias correction
            "cnn_forward_tests": 0.0,  # built on those layers
            "cnn_backward_tests": 0.0,
            "train_epoch_tests": 0.0,
        },
    },
    "written_answers_wait": ("e2e-solution", "example-ada", "example-bob"),  # their manual points are not in yet
    "written_answers_left_blank": ("example-carol",),  # 0 at once, no grader needed
    "integrity_declared": ("example-ada",),
    "integrity_left_blank": ("example-bob", "example-carol"),
    # Typed into the source notebook's solutions (entries that keep float32, so the training cells run as fast as the
    # solution's): partial credit with overflow warnings in the test cell (which must not zero it), an input changed
    # in place, a config changed in place (allowed), dropout from the global random state (judged by its properties,
    # so the two runs agree although their masks differ; it costs cnn_forward too), and a forward/backward pair with
    # its own cache: batch norm whose backward uses the training formula at inference.
    "typed_into_the_solution": {
        "softmax_cross_entropy_with_logits": softmax_cross_entropy_without_max_shift,
        "relu_forward": relu_forward_in_place,
        "adam_update": adam_update_cs231n_style,
        "batch_norm_forward": batch_norm_forward_caching_xhat,
        "batch_norm_backward": batch_norm_backward_training_formula_at_inference,
        "dropout_forward": dropout_forward_global_random_state,
    },
    "typed_into_the_solution_partial_marks": {
        "softmax_cross_entropy_with_logits_tests": 1.0,
        "relu_forward_tests": 0.5,
        "batch_norm_backward_tests": 2.0,
        "dropout_forward_tests": 1.0,
        "cnn_forward_tests": 1.5,  # with dropout, the same rng seed gives different logits
    },
    "direct_checks_skip": (),
    "feedback_student": "example-bob",
    "feedback_contains": (
        # Hidden checks say why they fail or deduct ...
        "wrong axis for the batch-norm moments",
        "you averaged over the batch axis only",
        "-1 point: softmax_cross_entropy_with_logits gives nan/inf",
        "-0.5 points: relu_forward changed its input x in place",
        # ... and where a visible test fails first (the hidden check then does not run), its message names the mistake
        "against finite differences (stride 2; SAME pads 0 above, 1 below)",  # conv2d_backward
        "ties: each window's gradient goes, whole, to ONE of its maxima",
        "inverted dropout rescales the kept units",
        "with the bias corrections the first step is the learning rate",
    ),
    "feedback_lacks": ("default_rng(50", "_a5_"),  # test data and drivers stay in the package
}

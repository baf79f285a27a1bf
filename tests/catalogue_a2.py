"""a2_backprop as students write it: realistic mistakes and correct alternatives, as data.

``wrong(function, score, fragment)``: the points the check must give and a fragment of its message.
"""

import math

import numpy as np

from catalogue import registry

MUTANTS, CORRECT, wrong, right = registry()


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _delta_h(z_h, w_o, target, logits):
    return ((_softmax(logits) - target) / len(target)) @ w_o.T * (z_h > 0)


# ---------------------------------------------------------------------------- output layer


@wrong("grad_wrt_wo", 0, "1/N", "grad_wrt_wo.not_divided_by_n")
def grad_wrt_wo_missing_one_over_n(h, target, logits):
    return h.T @ (_softmax(logits) - target)


@wrong("grad_wrt_wo", 0, "transpose", "grad_wrt_wo.transposed")
def grad_wrt_wo_transposed(h, target, logits):
    return (_softmax(logits) - target).T @ h / len(target)


@wrong("grad_wrt_wo", 0, "apply softmax", "grad_wrt_wo.no_softmax")
def grad_wrt_wo_uses_logits_as_probabilities(h, target, logits):
    return h.T @ (logits - target) / len(target)


@wrong("grad_wrt_wo", 0, "wrong sign", "grad_wrt_wo.wrong_sign")
def grad_wrt_wo_target_minus_p(h, target, logits):
    return h.T @ (target - _softmax(logits)) / len(target)


@wrong("grad_wrt_bo", 0, "one row per sample", "grad_wrt_bo.not_summed_over_batch")
def grad_wrt_bo_not_summed_over_batch(target, logits):
    return (_softmax(logits) - target) / len(target)


@wrong("grad_wrt_bo", 0, "too small", "grad_wrt_bo.divided_by_n_twice")
def grad_wrt_bo_mean_after_dividing_by_n(target, logits):
    return np.mean((_softmax(logits) - target) / len(target), axis=0)


@wrong("grad_wrt_bo", 0, "shape", "grad_wrt_bo.wrong_shape")
def grad_wrt_bo_summed_over_classes(target, logits):
    return np.sum(_softmax(logits) - target, axis=1) / len(target)


@wrong("grad_wrt_bo", 0.5, "changed its input logits in place", "grad_wrt_bo.modified_input")
def grad_wrt_bo_softmax_in_place_in_logits(target, logits):
    """Softmax computed in the logits' own memory: right values, the caller's logits are gone."""
    logits -= logits.max(axis=1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=1, keepdims=True)
    return np.sum(logits - target, axis=0) / len(target)


@right("grad_wrt_wo")
def grad_wrt_wo_einsum(h, target, logits):
    return np.einsum("nh,nk->hk", h, _softmax(logits) - target) / h.shape[0]


@right("grad_wrt_wo")
def grad_wrt_wo_sum_of_outer_products(h, target, logits):
    err = _softmax(logits) - target
    total = np.zeros((h.shape[1], err.shape[1]))
    for n in range(h.shape[0]):
        total += np.outer(h[n], err[n])
    return total / h.shape[0]


@right("grad_wrt_bo")
def grad_wrt_bo_mean_of_errors_as_row(target, logits):
    return np.mean(_softmax(logits) - target, axis=0, keepdims=True)


# ---------------------------------------------------------------------------- hidden layer


@wrong("grad_wrt_wh", 0, "ReLU derivative is missing", "grad_wrt_wh.no_relu_derivative")
def grad_wrt_wh_without_relu_mask(x, z_h, w_o, target, logits):
    return x.T @ (((_softmax(logits) - target) / len(target)) @ w_o.T)


@wrong("grad_wrt_wh", 0, "multiplied by h itself", "grad_wrt_wh.multiplied_by_h")
def grad_wrt_wh_mask_is_h(x, z_h, w_o, target, logits):
    return x.T @ (((_softmax(logits) - target) / len(target)) @ w_o.T * np.maximum(z_h, 0))


@wrong("grad_wrt_wh", 0, "sigmoid's derivative", "grad_wrt_wh.sigmoid_derivative")
def grad_wrt_wh_sigmoid_derivative_of_h(x, z_h, w_o, target, logits):
    h = np.maximum(z_h, 0)
    return x.T @ (((_softmax(logits) - target) / len(target)) @ w_o.T * h * (1 - h))


@wrong("grad_wrt_wh", 2.5, "not (z_h >= 0)", "grad_wrt_wh.relu_derivative_at_zero")
def grad_wrt_wh_relu_derivative_one_at_zero(x, z_h, w_o, target, logits):
    return x.T @ (((_softmax(logits) - target) / len(target)) @ w_o.T * (z_h >= 0))


@wrong("grad_wrt_wh", 0, "1/N", "grad_wrt_wh.not_divided_by_n")
def grad_wrt_wh_missing_one_over_n(x, z_h, w_o, target, logits):
    return x.T @ ((_softmax(logits) - target) @ w_o.T * (z_h > 0))


@wrong("grad_wrt_wh", 0, "shapes here", "grad_wrt_wh.raised")
def grad_wrt_wh_forgets_to_transpose_w_o(x, z_h, w_o, target, logits):
    return x.T @ (((_softmax(logits) - target) / len(target)) @ w_o * (z_h > 0))


@wrong("grad_wrt_wh", 0, "transpose", "grad_wrt_wh.transposed")
def grad_wrt_wh_transposed(x, z_h, w_o, target, logits):
    return _delta_h(z_h, w_o, target, logits).T @ x


@wrong("grad_wrt_wh", 2.5, "in place", "grad_wrt_wh.modified_input")
def grad_wrt_wh_masks_z_h_in_place(x, z_h, w_o, target, logits):
    z_h[z_h <= 0] = 0
    return x.T @ (((_softmax(logits) - target) / len(target)) @ w_o.T * (z_h > 0))


@wrong("grad_wrt_bh", 0, "one row per sample", "grad_wrt_bh.not_summed_over_batch")
def grad_wrt_bh_not_summed(z_h, w_o, target, logits):
    return _delta_h(z_h, w_o, target, logits)


@wrong("grad_wrt_bh", 0, "inverted", "grad_wrt_bh.inverted_relu_mask")
def grad_wrt_bh_inverted_mask(z_h, w_o, target, logits):
    return np.sum(((_softmax(logits) - target) / len(target)) @ w_o.T * (z_h < 0), axis=0)


@wrong("grad_wrt_bh", 0, "ReLU derivative is missing", "grad_wrt_bh.no_relu_derivative")
def grad_wrt_bh_without_mask(z_h, w_o, target, logits):
    return np.sum(((_softmax(logits) - target) / len(target)) @ w_o.T, axis=0)


@right("grad_wrt_wh")
def grad_wrt_wh_np_where_mask(x, z_h, w_o, target, logits):
    back = np.dot((_softmax(logits) - target) / x.shape[0], w_o.T)
    return np.dot(x.T, np.where(z_h > 0, back, 0.0))


@right("grad_wrt_wh")
def grad_wrt_wh_loops(x, z_h, w_o, target, logits):
    n, d = x.shape
    hdim = z_h.shape[1]
    err = (_softmax(logits) - target) / n
    grad = np.zeros((d, hdim))
    for i in range(n):
        for j in range(hdim):
            if z_h[i, j] > 0:
                back = float(np.dot(err[i], w_o[j]))
                grad[:, j] += x[i] * back
    return grad


@wrong("grad_wrt_bh", 1.5, "changed its input z_h in place", "grad_wrt_bh.modified_input")
def grad_wrt_bh_writes_its_mask_into_z_h(z_h, w_o, target, logits):
    """The ReLU mask written over the caller's pre-activations."""
    np.greater(z_h, 0, out=z_h)
    return np.sum(((_softmax(logits) - target) / len(target)) @ w_o.T * z_h, axis=0)


@right("grad_wrt_bh")
def grad_wrt_bh_heaviside_row(z_h, w_o, target, logits):
    back = ((_softmax(logits) - target) / len(target)) @ w_o.T
    return np.sum(back * np.heaviside(z_h, 0.0), axis=0, keepdims=True)


# ------------------------------------------------------------------------ gradient checking


@wrong("numerical_gradient", 0, "2x too large", "numerical_gradient.twice_too_large")
def numerical_gradient_divides_by_eps(f, x, eps=1e-6):
    grad = np.zeros_like(x, dtype=float)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        plus = f(x)
        x[i] = old - eps
        minus = f(x)
        x[i] = old
        grad[i] = (plus - minus) / eps
    return grad


@wrong("numerical_gradient", 0, "one-sided", "numerical_gradient.one_sided_difference")
def numerical_gradient_forward_difference(f, x, eps=1e-6):
    grad = np.zeros_like(x, dtype=float)
    base = f(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        grad[i] = (f(x) - base) / eps
        x[i] = old
    return grad


@wrong("numerical_gradient", 1.5, "restore", "numerical_gradient.modified_input")
def numerical_gradient_never_restores_x(f, x, eps=1e-6):
    grad = np.zeros_like(x, dtype=float)
    for i in np.ndindex(x.shape):
        x[i] += eps
        plus = f(x)
        x[i] -= 2 * eps
        minus = f(x)
        grad[i] = (plus - minus) / (2 * eps)
    return grad


@wrong("numerical_gradient", 0, "eps", "numerical_gradient.ignores_eps")
def numerical_gradient_ignores_eps_argument(f, x, eps=1e-6):
    h = 1e-5
    grad = np.zeros_like(x, dtype=float)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        grad[i] = (f(xp) - f(xm)) / (2 * h)
    return grad


@wrong("numerical_gradient", 0, "raised", "numerical_gradient.raised")
def numerical_gradient_only_for_matrices(f, x, eps=1e-6):
    grad = np.zeros_like(x, dtype=float)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            xp, xm = x.copy(), x.copy()
            xp[i, j] += eps
            xm[i, j] -= eps
            grad[i, j] = (f(xp) - f(xm)) / (2 * eps)
    return grad


@right("numerical_gradient")
def numerical_gradient_copies_and_flat_index(f, x, eps=1e-6):
    grad = np.zeros(x.size)
    for k in range(x.size):
        xp, xm = x.copy().ravel(), x.copy().ravel()
        xp[k] += eps
        xm[k] -= eps
        grad[k] = (f(xp.reshape(x.shape)) - f(xm.reshape(x.shape))) / (2 * eps)
    return grad.reshape(x.shape)


@right("numerical_gradient")
def numerical_gradient_nditer(f, x, eps=1e-6):
    grad = np.zeros_like(x, dtype=float)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        plus = f(x)
        x[i] = old - eps
        minus = f(x)
        x[i] = old
        grad[i] = (plus - minus) / (2 * eps)
        it.iternext()
    return grad


@wrong("relative_error", 0, "absolute error", "relative_error.absolute_error")
def relative_error_is_absolute(a, b):
    return np.max(np.abs(a - b))


@wrong("relative_error", 0, "absolute value", "relative_error.negative")
def relative_error_signed(a, b):
    return np.max((a - b) / (np.abs(a) + np.abs(b) + 1e-12))


@wrong("relative_error", 0.5, "two zero arrays", "relative_error.nan_for_zeros")
def relative_error_nan_for_zeros(a, b):
    return np.max(np.abs(a - b) / (np.abs(a) + np.abs(b)))


@wrong("relative_error", 0, "one number", "relative_error.not_one_number")
def relative_error_elementwise_array(a, b):
    return np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))


@right("relative_error")
def relative_error_norms(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-12)


@right("relative_error")
def relative_error_over_max(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), np.max(np.abs(b)), 1e-12))


# ------------------------------------------------------------------------ the scalar network


def _sigmoid(s):
    return 1.0 / (1.0 + math.exp(-s))


def _scalar_forward(x, W, b, V, c):
    h = [_sigmoid(b[j] + sum(x[i] * W[i][j] for i in range(len(x)))) for j in range(len(b))]
    o = [c[k] + sum(h[j] * V[j][k] for j in range(len(h))) for k in range(len(c))]
    m = max(o)
    e = [math.exp(v - m) for v in o]
    return h, [v / sum(e) for v in e]


@right("scalar_forward")
def scalar_forward_comprehensions(x, W, b, V, c):
    return _scalar_forward(x, W, b, V, c)


@wrong("scalar_forward", 0, "no numpy", "scalar_forward.wrong_type")
def scalar_forward_with_numpy(x, W, b, V, c):
    h = 1 / (1 + np.exp(-(np.array(x) @ np.array(W) + np.array(b))))
    o = h @ np.array(V) + np.array(c)
    e = np.exp(o - o.max())
    return list(h), list(e / e.sum())


@wrong("scalar_forward", 0, "p is wrong", "scalar_forward.wrong_p")
def scalar_forward_without_softmax(x, W, b, V, c):
    h, _ = _scalar_forward(x, W, b, V, c)
    return h, [c[k] + sum(h[j] * V[j][k] for j in range(len(h))) for k in range(len(c))]


@wrong("scalar_backward", 0, "sigmoid's derivative", "scalar_backward.wrong_dw")
def scalar_backward_forgets_sigmoid_derivative(x, W, b, V, c, target):
    h, p = _scalar_forward(x, W, b, V, c)
    do = [p[k] - (k == target) for k in range(len(p))]
    dV = [[h[j] * do[k] for k in range(len(p))] for j in range(len(h))]
    dh = [sum(V[j][k] * do[k] for k in range(len(p))) for j in range(len(h))]
    dW = [[x[i] * dh[j] for j in range(len(h))] for i in range(len(x))]
    return dW, dh, dV, do


@wrong("scalar_backward", 0, "transposed", "scalar_backward.transposed")
def scalar_backward_dv_transposed(x, W, b, V, c, target):
    h, p = _scalar_forward(x, W, b, V, c)
    do = [p[k] - (1.0 if k == target else 0.0) for k in range(len(p))]
    dV = [[h[j] * do[k] for j in range(len(h))] for k in range(len(p))]
    ds = [sum(V[j][k] * do[k] for k in range(len(p))) * h[j] * (1 - h[j]) for j in range(len(h))]
    dW = [[x[i] * ds[j] for j in range(len(h))] for i in range(len(x))]
    return dW, ds, dV, do


@wrong("scalar_backward", 0, "p_k - y_k", "scalar_backward.wrong_dv")
def scalar_backward_y_minus_p(x, W, b, V, c, target):
    h, p = _scalar_forward(x, W, b, V, c)
    do = [(1.0 if k == target else 0.0) - p[k] for k in range(len(p))]
    dV = [[h[j] * do[k] for k in range(len(p))] for j in range(len(h))]
    ds = [sum(V[j][k] * do[k] for k in range(len(p))) * h[j] * (1 - h[j]) for j in range(len(h))]
    dW = [[x[i] * ds[j] for j in range(len(h))] for i in range(len(x))]
    return dW, ds, dV, do


@right("scalar_backward")
def scalar_backward_explicit_loops(x, W, b, V, c, target):
    h, p = _scalar_forward(x, W, b, V, c)
    do = []
    for k in range(len(p)):
        do.append(p[k] - (1.0 if k == target else 0.0))
    dV = []
    for j in range(len(h)):
        dV.append([h[j] * do[k] for k in range(len(do))])
    ds = []
    for j in range(len(h)):
        dh = 0.0
        for k in range(len(do)):
            dh += V[j][k] * do[k]
        ds.append(dh * h[j] * (1.0 - h[j]))
    dW = [[x[i] * ds[j] for j in range(len(ds))] for i in range(len(x))]
    return dW, list(ds), dV, list(do)


# -------------------------------------------------------------------------------- training


@wrong("init_params", 0, "std", "init_params.variance_as_std")
def init_params_variance_used_as_std(n_in, n_hidden, n_out, rng):
    return {
        "w_h": rng.normal(0, 2 / (n_in + n_hidden), size=(n_in, n_hidden)),
        "b_h": np.zeros(n_hidden),
        "w_o": rng.normal(0, 2 / (n_hidden + n_out), size=(n_hidden, n_out)),
        "b_o": np.zeros(n_out),
    }


@wrong("init_params", 0, "std", "init_params.he_init")
def init_params_he_instead_of_xavier(n_in, n_hidden, n_out, rng):
    return {
        "w_h": rng.normal(0, np.sqrt(2 / n_in), size=(n_in, n_hidden)),
        "b_h": np.zeros(n_hidden),
        "w_o": rng.normal(0, np.sqrt(2 / n_hidden), size=(n_hidden, n_out)),
        "b_o": np.zeros(n_out),
    }


@wrong("init_params", 0, "rng argument", "init_params.ignores_rng")
def init_params_uses_global_random_state(n_in, n_hidden, n_out, rng):
    return {
        "w_h": np.random.normal(0, np.sqrt(2 / (n_in + n_hidden)), size=(n_in, n_hidden)),
        "b_h": np.zeros(n_hidden),
        "w_o": np.random.normal(0, np.sqrt(2 / (n_hidden + n_out)), size=(n_hidden, n_out)),
        "b_o": np.zeros(n_out),
    }


@right("init_params")
def init_params_standard_normal_scaled_row_biases(n_in, n_hidden, n_out, rng):
    w_h = rng.standard_normal((n_in, n_hidden)) * math.sqrt(2 / (n_in + n_hidden))
    w_o = rng.standard_normal((n_hidden, n_out)) * math.sqrt(2 / (n_hidden + n_out))
    return {"w_h": w_h, "b_h": np.zeros((1, n_hidden)), "w_o": w_o, "b_o": np.zeros((1, n_out))}


@wrong("momentum_update", 0, "velocity is ignored", "momentum_update.no_velocity")
def momentum_update_plain_gradient_step(w, dw, config):
    return w - config["learning_rate"] * dw, config


@wrong("momentum_update", 0, "not carried to the next call", "momentum_update.no_velocity")
def momentum_update_forgets_to_store_velocity(w, dw, config):
    v = config.get("velocity", np.zeros_like(w))
    v = config["momentum"] * v + config["learning_rate"] * dw
    return w - v, config


@wrong("momentum_update", 0, "expected w", "momentum_update.wrong_values")
def momentum_update_inconsistent_signs(w, dw, config):
    v = config.get("velocity", np.zeros_like(w))
    v = config["momentum"] * v - config["learning_rate"] * dw
    config["velocity"] = v
    return w - v, config


@wrong("momentum_update", 1.5, "in place", "momentum_update.modified_input")
def momentum_update_in_place(w, dw, config):
    v = config.get("velocity", np.zeros_like(w))
    v = config["momentum"] * v + config["learning_rate"] * dw
    config["velocity"] = v
    w -= v
    return w, config


@right("momentum_update")
def momentum_update_cs231n_convention(w, dw, config):
    v = config.get("velocity", np.zeros_like(w))
    v = config["momentum"] * v - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config


@right("momentum_update")
def momentum_update_pytorch_convention(w, dw, config):
    buf = config.get("buffer")
    buf = dw.copy() if buf is None else config["momentum"] * buf + dw
    return w - config["learning_rate"] * buf, {**config, "buffer": buf}


def _forward(x, p):
    z = x @ p["w_h"] + p["b_h"]
    return z, np.maximum(z, 0), np.maximum(z, 0) @ p["w_o"] + p["b_o"]


def _ce(t, logits):
    logp = logits - logits.max(1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(1, keepdims=True))
    return float(-np.sum(t * logp) / len(t))


def _train(x, target, x_val, t_val, n_hidden, epochs, alpha, gamma, seed, use_momentum=True, scale=1.0):
    rng = np.random.default_rng(seed)
    d, k = x.shape[1], target.shape[1]
    p = {
        "w_h": rng.normal(0, math.sqrt(2 / (d + n_hidden)), (d, n_hidden)),
        "b_h": np.zeros(n_hidden),
        "w_o": rng.normal(0, math.sqrt(2 / (n_hidden + k)), (n_hidden, k)),
        "b_o": np.zeros(k),
    }
    v = {name: np.zeros_like(a) for name, a in p.items()}
    hist = {"train_loss": [], "train_acc": [], "val_loss": [], "val_acc": []}
    for _ in range(epochs):
        z, h, o = _forward(x, p)
        err = (_softmax(o) - target) / len(x) * scale
        dh = err @ p["w_o"].T * (z > 0)
        grads = {"w_h": x.T @ dh, "b_h": dh.sum(0), "w_o": h.T @ err, "b_o": err.sum(0)}
        for name in p:
            v[name] = (gamma if use_momentum else 0.0) * v[name] + alpha * grads[name]
            p[name] = p[name] - v[name]
        for split, (xs, ts) in (("train", (x, target)), ("val", (x_val, t_val))):
            logits = _forward(xs, p)[2]
            hist[f"{split}_loss"].append(np.float64(_ce(ts, logits)))
            hist[f"{split}_acc"].append(np.mean(logits.argmax(1) == ts.argmax(1)))
    return p, hist


@right("train")
def train_vectorised_with_numpy_scalars_in_history(x, target, x_val, t_val, n_hidden=100, epochs=50, alpha=0.1, gamma=0.99, seed=0):
    return _train(x, target, x_val, t_val, n_hidden, epochs, alpha, gamma, seed)


@wrong("train", 0, "every parameter gets a momentum update", "train.loss_too_high")
def train_without_momentum(x, target, x_val, t_val, n_hidden=100, epochs=50, alpha=0.1, gamma=0.99, seed=0):
    return _train(x, target, x_val, t_val, n_hidden, epochs, alpha, gamma, seed, use_momentum=False)


@wrong("train", 0, "entries", "train.history_wrong_length")
def train_records_history_once(x, target, x_val, t_val, n_hidden=100, epochs=50, alpha=0.1, gamma=0.99, seed=0):
    p, hist = _train(x, target, x_val, t_val, n_hidden, epochs, alpha, gamma, seed)
    return p, {key: values[-1:] for key, values in hist.items()}

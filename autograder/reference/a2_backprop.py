"""Reference for a2_backprop: a one-hidden-layer ReLU network, its gradients, a gradient checker,
a scalar network in plain Python, and full-batch gradient descent with momentum.

Network: z_h = x @ w_h + b_h, h = relu(z_h), o = h @ w_o + b_o, p = softmax(o), loss = average CE.
Every gradient is of the *average* loss. The source notebook's solution cells are this code.
"""

import math

import numpy as np

from .a1_helpers import average_ce, relu, softmax

# ------------------------------------------------------------------------------- the network


def forward(x, params):
    """(z_h, h, logits) for a batch x (N, D) and params with keys w_h, b_h, w_o, b_o."""
    z_h = x @ params["w_h"] + params["b_h"]
    h = relu(z_h)
    logits = h @ params["w_o"] + params["b_o"]
    return z_h, h, logits


def loss(x, target, params):
    """Average cross-entropy of the network on (x, target)."""
    return average_ce(target, softmax(forward(x, params)[2]))


# ---------------------------------------------------------------------------- the gradients


def grad_wrt_wo(h, target, logits):
    """dL/dW_o = h^T (p - t) / N, shape (H, K)."""
    return h.T @ (softmax(logits) - target) / target.shape[0]


def grad_wrt_bo(target, logits):
    """dL/db_o = sum over samples of (p - t) / N, shape (K,)."""
    return np.sum(softmax(logits) - target, axis=0) / target.shape[0]


def grad_wrt_wh(x, z_h, w_o, target, logits):
    """dL/dW_h = x^T [((p - t) / N) W_o^T * relu'(z_h)], shape (D, H); relu'(0) = 0."""
    delta_h = ((softmax(logits) - target) / target.shape[0]) @ w_o.T * (z_h > 0)
    return x.T @ delta_h


def grad_wrt_bh(z_h, w_o, target, logits):
    """dL/db_h = sum over samples of ((p - t) / N) W_o^T * relu'(z_h), shape (H,)."""
    delta_h = ((softmax(logits) - target) / target.shape[0]) @ w_o.T * (z_h > 0)
    return np.sum(delta_h, axis=0)


# ------------------------------------------------------------------------ gradient checking


def numerical_gradient(f, x, eps=1e-6):
    """Central differences (f(x + eps e_i) - f(x - eps e_i)) / (2 eps) for every entry of x.

    x is perturbed in place one entry at a time and restored exactly (even if f raises), so f may
    read x directly, as a loss closed over a weight matrix does.
    """
    grad = np.zeros(x.shape, dtype=np.float64)
    for i in np.ndindex(x.shape):
        saved = x[i]
        try:
            x[i] = saved + eps
            f_plus = f(x)
            x[i] = saved - eps
            f_minus = f(x)
        finally:
            x[i] = saved
        grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def relative_error(a, b):
    """max |a - b| / max(|a| + |b|, 1e-8) over all entries: 0 when equal, scale-free otherwise."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)))


# -------------------------------------------------------------- a scalar network, by hand


def scalar_forward(x, W, b, V, c):
    """Plain-Python forward pass: h_j = sigmoid(sum_i x_i W_ij + b_j), p = softmax(sum_j h_j V_jk + c_k).

    Returns (h, p) as lists of floats.
    """
    h = []
    for j in range(len(b)):
        s = b[j]
        for i in range(len(x)):
            s += x[i] * W[i][j]
        h.append(1.0 / (1.0 + math.exp(-s)))
    o = []
    for k in range(len(c)):
        total = c[k]
        for j in range(len(h)):
            total += h[j] * V[j][k]
        o.append(total)
    m = max(o)
    e = [math.exp(v - m) for v in o]
    p = [v / sum(e) for v in e]
    return h, p


def scalar_backward(x, W, b, V, c, target):
    """Gradients of -log p[target] for one sample: (dW, db, dV, dc) as lists (of lists) of floats."""
    h, p = scalar_forward(x, W, b, V, c)
    do = [p[k] - (1.0 if k == target else 0.0) for k in range(len(p))]
    dV = [[h[j] * do[k] for k in range(len(do))] for j in range(len(h))]
    dc = list(do)
    dh = [sum(V[j][k] * do[k] for k in range(len(do))) for j in range(len(h))]
    ds = [dh[j] * h[j] * (1.0 - h[j]) for j in range(len(h))]
    dW = [[x[i] * ds[j] for j in range(len(ds))] for i in range(len(x))]
    db = list(ds)
    return dW, db, dV, dc


# ------------------------------------------------------------------------------- training


def init_params(n_in, n_hidden, n_out, rng):
    """Xavier-normal weights (variance 2 / (fan_in + fan_out)) and zero biases."""
    return {
        "w_h": rng.normal(0.0, np.sqrt(2.0 / (n_in + n_hidden)), size=(n_in, n_hidden)),
        "b_h": np.zeros(n_hidden),
        "w_o": rng.normal(0.0, np.sqrt(2.0 / (n_hidden + n_out)), size=(n_hidden, n_out)),
        "b_o": np.zeros(n_out),
    }


def momentum_update(w, dw, config):
    """One step of gradient descent with momentum: v = gamma v + alpha dw; w = w - v.

    config holds "learning_rate" (alpha), "momentum" (gamma) and, after the first call, "velocity".
    Returns (new w, config).
    """
    v = config.get("velocity", np.zeros_like(w))
    v = config["momentum"] * v + config["learning_rate"] * dw
    return w - v, {**config, "velocity": v}


def gradients(x, target, params):
    """All four parameter gradients of the average loss, keyed like params."""
    z_h, h, logits = forward(x, params)
    return {
        "w_h": grad_wrt_wh(x, z_h, params["w_o"], target, logits),
        "b_h": grad_wrt_bh(z_h, params["w_o"], target, logits),
        "w_o": grad_wrt_wo(h, target, logits),
        "b_o": grad_wrt_bo(target, logits),
    }


def train(x, target, x_val, t_val, n_hidden=100, epochs=50, alpha=0.1, gamma=0.99, seed=0):
    """Full-batch gradient descent with momentum. Returns (params, history of per-epoch metrics)."""
    from .a1_helpers import accuracy

    params = init_params(x.shape[1], n_hidden, target.shape[1], np.random.default_rng(seed))
    configs = {name: {"learning_rate": alpha, "momentum": gamma} for name in params}
    history = {"train_loss": [], "train_acc": [], "val_loss": [], "val_acc": []}
    for _ in range(epochs):
        grads = gradients(x, target, params)
        for name in params:
            params[name], configs[name] = momentum_update(params[name], grads[name], configs[name])
        for split, (xs, ts) in (("train", (x, target)), ("val", (x_val, t_val))):
            p = softmax(forward(xs, params)[2])
            history[f"{split}_loss"].append(float(average_ce(ts, p)))
            history[f"{split}_acc"].append(float(accuracy(ts, p)))
    return params, history

"""a3_moons as students write it: realistic mistakes and correct alternatives, as data."""

import numpy as np

from catalogue import registry

MUTANTS, CORRECT, wrong, right = registry()
KEYS = ("W1", "b1", "W2", "b2", "W3", "b3")


def _sig(x):
    return 1 / (1 + np.exp(-x))


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _forward(x, m):
    h1 = _sig(x @ m["W1"] + m["b1"])
    h2 = _sig(h1 @ m["W2"] + m["b2"])
    return h1, h2, _softmax(h2 @ m["W3"] + m["b3"])


def _backward(model, xs, h1s, h2s, errs, scale=1.0, derivative=lambda h: h * (1 - h)):
    d3 = errs / len(xs) * scale
    d2 = d3 @ model["W3"].T * derivative(h2s)
    d1 = d2 @ model["W2"].T * derivative(h1s)
    return {"W3": h2s.T @ d3, "b3": d3.sum(0), "W2": h1s.T @ d2, "b2": d2.sum(0), "W1": xs.T @ d1, "b1": d1.sum(0)}


# ------------------------------------------------------------------------------------ sigmoid


@wrong("sigmoid", 0, "wrong sign", "sigmoid.wrong_sign")
def sigmoid_wrong_sign(x):
    return 1 / (1 + np.exp(x))


@wrong("sigmoid", 0, "returned tanh(x)", "sigmoid.tanh")
def sigmoid_is_tanh(x):
    return np.tanh(x)


@right("sigmoid")
def sigmoid_naive_overflowing(x):
    return 1 / (1 + np.exp(-x))  # overflows to inf for x = -800, giving the right 0.0 (quietly here)


@right("sigmoid")
def sigmoid_via_tanh(x):
    return 0.5 * (1 + np.tanh(x / 2))


# ------------------------------------------------------------------------------- init_weights


@wrong("init_weights", 0, "rng argument", "init_weights.ignores_rng")
def init_weights_global_random(n_hidden=100, rng=None):
    return {"W1": np.random.randn(2, n_hidden), "b1": np.zeros(n_hidden), "W2": np.random.randn(n_hidden, n_hidden),
            "b2": np.zeros(n_hidden), "W3": np.random.randn(n_hidden, 2), "b3": np.zeros(2)}


@wrong("init_weights", 0, "standard normal", "init_weights.not_standard_normal")
def init_weights_uniform(n_hidden=100, rng=None):
    return {"W1": rng.random((2, n_hidden)), "b1": np.zeros(n_hidden), "W2": rng.random((n_hidden, n_hidden)),
            "b2": np.zeros(n_hidden), "W3": rng.random((n_hidden, 2)), "b3": np.zeros(2)}


@wrong("init_weights", 0, "keys", "init_weights.wrong_keys")
def init_weights_lowercase_keys(n_hidden=100, rng=None):
    return {"w1": rng.standard_normal((2, n_hidden)), "b1": np.zeros(n_hidden), "w2": rng.standard_normal((n_hidden, n_hidden)),
            "b2": np.zeros(n_hidden), "w3": rng.standard_normal((n_hidden, 2)), "b3": np.zeros(2)}


@right("init_weights")
def init_weights_output_layer_first_row_biases(n_hidden=100, rng=None):
    w3 = rng.normal(size=(n_hidden, 2))
    w2 = rng.normal(size=(n_hidden, n_hidden))
    w1 = rng.normal(size=(2, n_hidden))
    return {"W1": w1, "b1": np.zeros((1, n_hidden)), "W2": w2, "b2": np.zeros((1, n_hidden)), "W3": w3, "b3": np.zeros((1, 2))}


# ------------------------------------------------------------------------------------ forward


@wrong("forward", 0, "missing its sigmoid", "forward.h2_no_sigmoid")
def forward_no_second_sigmoid(x, m):
    h1 = _sig(x @ m["W1"] + m["b1"])
    h2 = h1 @ m["W2"] + m["b2"]
    return h1, h2, _softmax(h2 @ m["W3"] + m["b3"])


@wrong("forward", 0, "uses a sigmoid", "forward.sigmoid_output")
def forward_sigmoid_output(x, m):
    h1, h2, _ = _forward(x, m)
    return h1, h2, _sig(h2 @ m["W3"] + m["b3"])


@wrong("forward", 0, "each row", "forward.softmax_axis0")
def forward_softmax_over_samples(x, m):
    h1, h2, _ = _forward(x, m)
    z = h2 @ m["W3"] + m["b3"]
    e = np.exp(z - z.max(axis=0))
    return h1, h2, e / e.sum(axis=0)


@wrong("forward", 0, "three", "forward.not_three_arrays")
def forward_returns_only_y_hat(x, m):
    return _forward(x, m)[2]


@right("forward")
def forward_with_np_dot(x, m):
    h1 = 1 / (1 + np.exp(-(np.dot(x, m["W1"]) + m["b1"])))
    h2 = 1 / (1 + np.exp(-(np.dot(h1, m["W2"]) + m["b2"])))
    z = np.dot(h2, m["W3"]) + m["b3"]
    return h1, h2, np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)


# ----------------------------------------------------------------------------------- backward


@wrong("backward", 0, "too large", "backward.not_divided_by_n")
def backward_sums_instead_of_averaging(model, xs, h1s, h2s, errs):
    return _backward(model, xs, h1s, h2s, errs, scale=len(xs))


@wrong("backward", 0, "derivative is missing", "backward.no_sigmoid_derivative")
def backward_without_sigmoid_derivative(model, xs, h1s, h2s, errs):
    return _backward(model, xs, h1s, h2s, errs, derivative=lambda h: 1.0)


@wrong("backward", 0, "not sigmoid(h)", "backward.sigmoid_of_h_derivative")
def backward_sigmoid_derivative_of_h(model, xs, h1s, h2s, errs):
    return _backward(model, xs, h1s, h2s, errs, derivative=lambda h: _sig(h) * (1 - _sig(h)))


@wrong("backward", 0, "wrong sign", "backward.wrong_sign")
def backward_target_minus_prediction(model, xs, h1s, h2s, errs):
    return _backward(model, xs, h1s, h2s, -errs)


@wrong("backward", 0, "bias gradients", "backward.bias_not_summed")
def backward_biases_from_first_sample(model, xs, h1s, h2s, errs):
    g = _backward(model, xs, h1s, h2s, errs)
    d3 = errs / len(xs)
    d2 = d3 @ model["W3"].T * h2s * (1 - h2s)
    d1 = d2 @ model["W2"].T * h1s * (1 - h1s)
    return {**g, "b3": d3[0] * len(xs), "b2": d2[0] * len(xs), "b1": d1[0] * len(xs)}


@wrong("backward", 0, "keys", "backward.wrong_keys")
def backward_returns_dw_names(model, xs, h1s, h2s, errs):
    return {"d" + k: v for k, v in _backward(model, xs, h1s, h2s, errs).items()}


@wrong("backward", 3.0, "in place", "backward.modified_input")
def backward_scales_errs_in_place(model, xs, h1s, h2s, errs):
    errs /= len(xs)
    return _backward(model, xs, h1s, h2s, errs * len(xs))


@right("backward")
def backward_per_sample_loop(model, xs, h1s, h2s, errs):
    grads = {k: np.zeros(np.shape(v)) for k, v in model.items()}
    n = len(xs)
    for i in range(n):
        d3 = errs[i] / n
        d2 = (model["W3"] @ d3) * h2s[i] * (1 - h2s[i])
        d1 = (model["W2"] @ d2) * h1s[i] * (1 - h1s[i])
        grads["W3"] += np.outer(h2s[i], d3)
        grads["b3"] += d3
        grads["W2"] += np.outer(h1s[i], d2)
        grads["b2"] += d2
        grads["W1"] += np.outer(xs[i], d1)
        grads["b1"] += d1
    return grads


@wrong("backward", 3.0, "changed its input h1s, h2s in place", "backward.modified_input")
def backward_sigmoid_derivative_in_place(model, xs, h1s, h2s, errs):
    """h (1 - h) computed in the hidden activations' own memory, after their last use as activations."""
    d3 = errs / len(xs)
    grads = {"W3": h2s.T @ d3, "b3": d3.sum(0)}
    h2s *= 1 - h2s
    d2 = d3 @ model["W3"].T * h2s
    grads.update({"W2": h1s.T @ d2, "b2": d2.sum(0)})
    h1s *= 1 - h1s
    d1 = d2 @ model["W2"].T * h1s
    return {**grads, "W1": xs.T @ d1, "b1": d1.sum(0)}


@right("backward")
def backward_einsum_keepdims(model, xs, h1s, h2s, errs):
    d3 = errs / xs.shape[0]
    d2 = np.einsum("nk,hk->nh", d3, model["W3"]) * h2s * (1 - h2s)
    d1 = np.einsum("nk,hk->nh", d2, model["W2"]) * h1s * (1 - h1s)
    return {"W1": np.einsum("nd,nh->dh", xs, d1), "b1": d1.sum(0, keepdims=True), "W2": np.einsum("nd,nh->dh", h1s, d2),
            "b2": d2.sum(0, keepdims=True), "W3": np.einsum("nd,nh->dh", h2s, d3), "b3": d3.sum(0, keepdims=True)}


# ------------------------------------------------------------------------------ gradient_step


@wrong("gradient_step", 0, "uphill", "gradient_step.uphill")
def gradient_step_adds(model, grads, lr):
    return {k: model[k] + lr * grads[k] for k in model}


@wrong("gradient_step", 0, "learning rate", "gradient_step.ignores_lr")
def gradient_step_ignores_lr(model, grads, lr):
    return {k: model[k] - grads[k] for k in model}


@wrong("gradient_step", 0.5, "in place", "gradient_step.modified_input")
def gradient_step_in_place(model, grads, lr):
    for k in model:
        model[k] -= lr * grads[k]
    return model


@right("gradient_step")
def gradient_step_loop_copy(model, grads, lr):
    new = {}
    for key, value in model.items():
        new[key] = value - lr * grads[key]
    return new


# -------------------------------------------------------------------------------------- train


def _train(model, x, target, lr, steps, scale=1.0):
    losses = []
    for _ in range(steps):
        h1, h2, y_hat = _forward(x, model)
        losses.append(-np.sum(target * np.log(y_hat)) / len(x))
        grads = _backward(model, x, h1, h2, y_hat - target, scale=scale)
        model = {k: model[k] - lr * grads[k] for k in model}
    return model, losses


@right("train")
def train_numpy_losses(model, x, target, lr=0.1, steps=50):
    return _train(model, x, target, lr, steps)


@wrong("train", 0, "test accuracy", "train.low_accuracy")
def train_with_summed_gradients(model, x, target, lr=0.1, steps=50):
    return _train(model, x, target, lr, steps, scale=len(x))


@wrong("train", 0, "one per step", "train.wrong_losses_length")
def train_returns_final_loss_only(model, x, target, lr=0.1, steps=50):
    model, losses = _train(model, x, target, lr, steps)
    return model, losses[-1:]


@wrong("train", 0, "returned losses that are not a list of numbers", "train.wrong_type")
def train_records_per_sample_losses(model, x, target, lr=0.1, steps=50):
    """Each step's loss kept as the vector of per-sample losses, not their average."""
    losses = []
    for _ in range(steps):
        h1, h2, y_hat = _forward(x, model)
        losses.append(-np.sum(target * np.log(y_hat), axis=1))
        grads = _backward(model, x, h1, h2, y_hat - target)
        model = {k: model[k] - lr * grads[k] for k in model}
    return model, losses


@right("train")
def train_losses_as_one_entry_arrays(model, x, target, lr=0.1, steps=50):
    """Each loss a (1, 1) array (np.sum(..., keepdims=True) / N)."""
    model, losses = _train(model, x, target, lr, steps)
    return model, [np.full((1, 1), loss) for loss in losses]

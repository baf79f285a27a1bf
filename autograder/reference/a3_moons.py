"""Reference for a3_moons: two sigmoid hidden layers of equal width and a softmax output.

model = {"W1": (2, H), "b1": (H,), "W2": (H, H), "b2": (H,), "W3": (H, 2), "b3": (2,)}
h1 = sigmoid(x W1 + b1), h2 = sigmoid(h1 W2 + b2), y_hat = softmax(h2 W3 + b3); the loss is the
average cross-entropy. The source notebook's solution cells are this code.
"""

import numpy as np

from .a1_helpers import average_ce, softmax

KEYS = ("W1", "b1", "W2", "b2", "W3", "b3")


def sigmoid(x):
    """1 / (1 + exp(-x)), without overflow for large |x| (exp only ever sees non-positive numbers)."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def init_weights(n_hidden=100, rng=None):
    """Standard-normal weights, zero biases (the handout's initialisation)."""
    rng = np.random.default_rng(0) if rng is None else rng
    return {
        "W1": rng.standard_normal((2, n_hidden)),
        "b1": np.zeros(n_hidden),
        "W2": rng.standard_normal((n_hidden, n_hidden)),
        "b2": np.zeros(n_hidden),
        "W3": rng.standard_normal((n_hidden, 2)),
        "b3": np.zeros(2),
    }


def forward(x, model):
    """(h1, h2, y_hat) for a batch x of shape (N, 2)."""
    h1 = sigmoid(x @ model["W1"] + model["b1"])
    h2 = sigmoid(h1 @ model["W2"] + model["b2"])
    y_hat = softmax(h2 @ model["W3"] + model["b3"])
    return h1, h2, y_hat


def backward(model, xs, h1s, h2s, errs):
    """Gradients of the average cross-entropy, keyed like the model; errs = y_hat - target, (N, 2)."""
    n = xs.shape[0]
    d3 = errs / n
    d2 = (d3 @ model["W3"].T) * h2s * (1 - h2s)  # sigmoid'(z) = sigmoid(z) (1 - sigmoid(z)) = h (1 - h)
    d1 = (d2 @ model["W2"].T) * h1s * (1 - h1s)
    return {
        "W3": h2s.T @ d3,
        "b3": d3.sum(axis=0),
        "W2": h1s.T @ d2,
        "b2": d2.sum(axis=0),
        "W1": xs.T @ d1,
        "b1": d1.sum(axis=0),
    }


def gradient_step(model, grads, lr):
    """A new model, one gradient-descent step from the old one."""
    return {k: model[k] - lr * grads[k] for k in model}


def loss(x, target, model):
    return average_ce(target, forward(x, model)[2])


def train(model, x, target, lr=0.1, steps=50):
    """Full-batch gradient descent from the given model; returns (model, loss before each step)."""
    losses = []
    for _ in range(steps):
        h1, h2, y_hat = forward(x, model)
        losses.append(float(average_ce(target, y_hat)))
        model = gradient_step(model, backward(model, x, h1, h2, y_hat - target), lr)
    return model, losses

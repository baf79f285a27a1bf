"""Reference implementations of the a1_helpers building blocks (one sample per row).

The source notebook's solution cells are this code, word for word (tests/test_notebooks.py).
"""

import numpy as np


def relu(x):
    """max(x, 0) elementwise, as a new array."""
    return np.maximum(x, 0)


def softmax(x):
    """Row-wise softmax; each row is shifted by its own max so no logit can overflow."""
    shifted = x - np.max(x, axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=1, keepdims=True)


def compute_layer(x, w, b):
    """Affine layer x @ w + b for x (N, D), w (D, H), b (H,) or (1, H)."""
    return x @ w + b


def average_ce(target, prediction):
    """-(1/N) sum_n sum_k t_nk log p_nk; entries with t_nk == 0 contribute 0 even where p_nk == 0."""
    safe = np.where(target != 0, prediction, 1.0)  # log(1) = 0 where the target is 0
    return -np.sum(target * np.log(safe)) / target.shape[0]


def grad_ce(target, logits):
    """Gradient of average_ce(target, softmax(logits)) with respect to the logits."""
    return (softmax(logits) - target) / target.shape[0]


def accuracy(target, prediction):
    """Fraction of rows whose largest prediction is the target class, in [0, 1]."""
    return np.mean(np.argmax(prediction, axis=1) == np.argmax(target, axis=1))

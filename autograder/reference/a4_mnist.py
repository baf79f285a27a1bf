"""Reference for a4_mnist: a multilayer perceptron on MNIST, trained by minibatch SGD with momentum.

Network, for hidden sizes (H_1, ..., H_m) (m = 0 is plain softmax regression):

    a_0 = x                                  (N, 784)
    z_l = a_{l-1} W_l + b_l,  a_l = f(z_l)   for the hidden layers l = 1..m, f = tanh or relu
    logits = a_m W_{m+1} + b_{m+1}           (N, 10)
    loss = average softmax cross-entropy of the logits against the one-hot targets

``params`` is a list of (W, b) pairs, one per layer from the input to the output: W is (fan_in, fan_out), b is
(fan_out,). Gradients have the same layout. Every gradient is of the *average* loss over the batch.

The pure functions (``mlp_forward``, ``mlp_backward``, ``softmax_cross_entropy``, ``sgd_momentum_update``) are
the reference the checks compare against. ``train`` is the fast path used by the benchmark and the companion
notebooks: it computes the same step (tests/test_reference_a4.py proves the two agree) but reuses preallocated
buffers, applies the activation in place, folds the learning rate into the output delta, and updates the
weights in place. NumPy only.
"""

import numpy as np

from .a1_helpers import accuracy

# ----------------------------------------------------------------------------------- activations


def tanh(x):
    """tanh(x) elementwise (np.tanh: exact, and cannot overflow the way (e^x - e^-x) / (e^x + e^-x) does)."""
    return np.tanh(x)


def tanh_derivative(x):
    """d tanh(x) / dx = 1 - tanh(x)^2, as a function of the pre-activation x."""
    t = np.tanh(x)
    return 1 - t * t


def relu(x):
    """max(x, 0) elementwise, as a new array of x's dtype."""
    return np.maximum(x, 0)


def relu_derivative(x):
    """1 where x > 0 and 0 elsewhere, including at exactly 0 (the convention the course uses), in x's dtype."""
    return (x > 0).astype(x.dtype)


def sigmoid(x):
    """The logistic sigmoid 1 / (1 + e^-x) elementwise, with exp only ever seeing non-positive numbers (no overflow)."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_derivative(x):
    """d sigmoid(x) / dx = sigmoid(x) (1 - sigmoid(x)), as a function of the pre-activation x."""
    s = sigmoid(x)
    return s * (1 - s)


ACTIVATIONS = {"tanh": (tanh, tanh_derivative), "relu": (relu, relu_derivative)}


def _activation(name):
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, not {name!r}")
    return ACTIVATIONS[name]


# ------------------------------------------------------------------------------ the network


def init_mlp(sizes, rng, activation="relu", dtype=np.float32):
    """[(W_1, b_1), ..., (W_L, b_L)] for layer sizes [n_in, H_1, ..., H_m, n_out]; biases are zero.

    W_l is normal with standard deviation sqrt(gain / fan_in): gain 2 for a layer followed by ReLU (He et al.,
    2015: keeps the variance of the pre-activations constant through ReLU layers), gain 1 for a layer followed
    by tanh and for the output layer (Xavier/LeCun: tanh is close to the identity near 0). rng is a
    np.random.Generator; the draws happen layer by layer in float64, then are cast to dtype.
    """
    _activation(activation)
    if len(sizes) < 2 or any(int(s) != s or s < 1 for s in sizes):
        raise ValueError(f"sizes must be at least [n_in, n_out], all positive integers, not {sizes!r}")
    params = []
    for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        hidden = layer < len(sizes) - 2
        gain = 2.0 if hidden and activation == "relu" else 1.0
        w = rng.normal(0.0, np.sqrt(gain / fan_in), size=(fan_in, fan_out)).astype(dtype)
        params.append((w, np.zeros(fan_out, dtype=dtype)))
    return params


def mlp_forward(x, params, activation):
    """(logits, cache) for a batch x (N, n_in); cache is what mlp_backward needs.

    cache["inputs"][l] is the input of layer l (x, then each hidden activation a_l) and
    cache["pre_activations"][l] is z_{l+1} of hidden layer l + 1 (one per hidden layer).
    """
    f, _ = _activation(activation)
    inputs, pre_activations = [x], []
    a = x
    for w, b in params[:-1]:
        z = a @ w + b
        a = f(z)
        pre_activations.append(z)
        inputs.append(a)
    w, b = params[-1]
    return a @ w + b, {"inputs": inputs, "pre_activations": pre_activations}


def softmax_cross_entropy(logits, y):
    """(average cross-entropy, its gradient with respect to the logits) for targets y whose rows sum to 1.

    loss = -(1/N) sum_n sum_k y_nk log softmax(logits)_nk, from the log-softmax z - max - log sum exp(z - max):
    no exp overflows and no log(0) appears, however large the logits. dlogits = (softmax(logits) - y) / N.
    """
    n = logits.shape[0]
    shifted = logits - np.max(logits, axis=1, keepdims=True)
    log_sum = np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    log_p = shifted - log_sum
    loss = -np.sum(y * log_p) / n
    return float(loss), (np.exp(log_p) - y) / n


def mlp_backward(dlogits, cache, params, activation):
    """[(dW_1, db_1), ..., (dW_L, db_L)] from dlogits = dL/dlogits (already divided by N) and mlp_forward's cache.

    Layer by layer from the output: dW_l = a_{l-1}^T delta_l, db_l = sum over rows of delta_l, and
    delta_{l-1} = (delta_l W_l^T) * f'(z_{l-1}).
    """
    _, derivative = _activation(activation)
    inputs, pre_activations = cache["inputs"], cache["pre_activations"]
    grads = [None] * len(params)
    delta = dlogits
    for layer in reversed(range(len(params))):
        grads[layer] = (inputs[layer].T @ delta, np.sum(delta, axis=0))
        if layer > 0:
            delta = (delta @ params[layer][0].T) * derivative(pre_activations[layer - 1])
    return grads


def evaluate(x, y, params, activation, batch_size=5000):
    """(average cross-entropy, accuracy in [0, 1]) of the network on (x, y), batch_size rows at a time."""
    n = x.shape[0]
    total_loss, correct = 0.0, 0.0
    for start in range(0, n, batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        logits, _ = mlp_forward(xb, params, activation)
        loss, _ = softmax_cross_entropy(logits, yb)
        total_loss += loss * xb.shape[0]
        correct += accuracy(yb, logits) * xb.shape[0]
    return total_loss / n, correct / n


# ------------------------------------------------------------------------------- optimisation


def sgd_momentum_update(w, dw, config):
    """One step of SGD with momentum: v = momentum * v + learning_rate * dw; w = w - v. Pure: w is not changed.

    config holds "learning_rate", "momentum" (0 for plain SGD) and, after the first call, "velocity" (zeros
    before it). Returns (new w, new config); the a2 convention (a2_backprop.momentum_update).
    """
    v = config.get("velocity")
    v = np.zeros_like(w) if v is None else v
    v = config["momentum"] * v + config["learning_rate"] * dw
    return w - v, {**config, "velocity": v}


def learning_rate(initial, epoch, decay_epochs):
    """The rate for epoch (counted from 0): initial halved once for every listed epoch <= epoch.

    With two decay epochs the rate goes initial, initial / 2, initial / 4 and stays there; it changes only
    between epochs. Halving is exact in floating point, so the final rate is exactly initial / 4.
    """
    return initial * 0.5 ** sum(1 for e in decay_epochs if epoch >= e)


def default_decay_epochs(epochs):
    """(epochs // 2, 3 * epochs // 4): halved half-way and again three quarters of the way (once for 2 epochs)."""
    return tuple(sorted({e for e in (epochs // 2, 3 * epochs // 4) if 0 < e < epochs}))


# -------------------------------------------------------------------------------- the trainer


class _Step:
    """One minibatch SGD step of an MLP, in place, with every large array allocated once.

    Per step it writes the batch into ``x``/``y``, computes each layer's output into its own buffer (the
    activation in place: ReLU keeps only a = max(z, 0), whose mask a > 0 is f'(z) > 0; tanh keeps a = tanh(z)
    and uses f'(z) = 1 - a^2), scales dlogits by the learning rate so every gradient comes out already
    multiplied by it, and updates each layer as soon as its delta has been passed down (v *= momentum;
    v += lr * grad; W -= v). Mathematically the same step as mlp_forward, softmax_cross_entropy,
    mlp_backward and sgd_momentum_update; only the rounding differs.
    """

    def __init__(self, params, batch_size, activation, momentum):
        _activation(activation)
        self.params, self.activation, self.momentum = params, activation, momentum
        dtype = params[0][0].dtype
        widths = [params[0][0].shape[0]] + [w.shape[1] for w, _ in params]
        self.x = np.empty((batch_size, widths[0]), dtype)
        self.y = np.empty((batch_size, widths[-1]), dtype)
        self.outputs = [self.x] + [np.empty((batch_size, h), dtype) for h in widths[1:]]  # a_0 .. a_m, logits
        self.deltas = [None] + [np.empty((batch_size, h), dtype) for h in widths[1:-1]]  # delta_1 .. delta_m
        self.scratch = [None] + [np.empty((batch_size, h), dtype) for h in widths[1:-1]]  # f'(z_l)
        self.grad_w = [np.empty_like(w) for w, _ in params]
        self.grad_b = [np.empty_like(b) for _, b in params]
        self.velocity = [(np.zeros_like(w), np.zeros_like(b)) for w, b in params]

    def __call__(self, rate):
        """One step on the batch already in self.x / self.y; returns (loss, number correct) before the step."""
        params, outs = self.params, self.outputs
        last = len(params)
        for layer, (w, b) in enumerate(params, start=1):
            out = outs[layer]
            np.matmul(outs[layer - 1], w, out=out)
            out += b
            if layer < last:
                if self.activation == "relu":
                    np.maximum(out, 0, out=out)
                else:
                    np.tanh(out, out=out)
        logits = outs[last]
        loss, delta = softmax_cross_entropy(logits, self.y)  # (batch, n_out): small
        correct = int(np.count_nonzero(np.argmax(logits, axis=1) == np.argmax(self.y, axis=1)))
        delta *= rate
        for layer in range(last, 0, -1):
            w, b = params[layer - 1]
            gw, gb = self.grad_w[layer - 1], self.grad_b[layer - 1]
            np.matmul(outs[layer - 1].T, delta, out=gw)
            np.sum(delta, axis=0, out=gb)
            if layer > 1:  # pass the delta down before W changes
                below, a, fprime = self.deltas[layer - 1], outs[layer - 1], self.scratch[layer - 1]
                np.matmul(delta, w.T, out=below)
                if self.activation == "relu":
                    np.greater(a, 0, out=fprime)
                else:
                    np.multiply(a, a, out=fprime)
                    np.subtract(1, fprime, out=fprime)
                below *= fprime
                delta = below
            for p, g, v in ((w, gw, self.velocity[layer - 1][0]), (b, gb, self.velocity[layer - 1][1])):
                if self.momentum:
                    v *= self.momentum
                    v += g
                    p -= v
                else:
                    p -= g
        return loss, correct


def _progress_bar(total, enabled):
    """A tqdm bar over every batch of the run, or None when progress is off or tqdm is not installed."""
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="training", unit="batch")


def train(
    x,
    y,
    x_val=None,
    y_val=None,
    hidden=(1000,),
    activation="relu",
    lr=0.1,
    batch_size=100,
    epochs=12,
    momentum=0.9,
    decay_epochs=None,
    seed=0,
    progress=False,
):
    """Minibatch SGD with momentum on (x, y); returns (params, history).

    x: (N, n_in) inputs, y: (N, n_out) one-hot targets; x_val, y_val: an optional validation set evaluated at
    the end of every epoch. hidden: the hidden layer sizes, () for softmax regression. lr: the initial rate,
    halved at each epoch of decay_epochs (default default_decay_epochs(epochs), so the last epochs use lr / 4).
    batch_size must divide N: every epoch is N / batch_size steps over a fresh permutation of the rows. seed
    fixes everything random (the initial weights, then one permutation per epoch): the same seed gives the
    same history. Training runs in float32. progress=True shows a tqdm bar when tqdm is installed.

    The defaults are the best configuration of benchmarks/bench_mlp.py: on all 60,000 MNIST training images
    they reach 98.45% test accuracy (chosen on 50,000 with the last 10,000 as validation: 98.38%).

    history has one entry per epoch in each list:
      "train_loss", "train_acc": the mean over the epoch's batches of each batch's loss and accuracy, measured
        on the batch just before its step (free: the forward pass computes them; since the weights move during
        the epoch they are slightly worse than a full evaluation at the end of the epoch would be);
      "val_loss", "val_acc": evaluate() on the validation set after the epoch (empty without one);
      "lr": the rate used in the epoch.
    """
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.float32)
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must be 2-d with the same number of rows, not {x.shape} and {y.shape}")
    n = x.shape[0]
    if int(batch_size) != batch_size or batch_size < 1 or n % batch_size:
        raise ValueError(
            f"batch_size={batch_size} does not divide the {n} training rows: choose a divisor of {n} "
            f"(every epoch is a whole number of equal batches)"
        )
    batch_size = int(batch_size)
    decay_epochs = tuple(default_decay_epochs(epochs) if decay_epochs is None else decay_epochs)
    if len(set(decay_epochs)) != len(decay_epochs) or any(not 0 < e < epochs for e in decay_epochs):
        raise ValueError(
            f"decay_epochs={decay_epochs} must be distinct epochs between 1 and epochs - 1 = {epochs - 1}, so that "
            f"each halving happens between two epochs; pass decay_epochs=() for a constant rate"
        )
    if (x_val is None) != (y_val is None):
        raise ValueError("give both x_val and y_val, or neither")
    if x_val is not None:
        x_val, y_val = np.asarray(x_val, dtype=np.float32), np.asarray(y_val, dtype=np.float32)

    rng = np.random.default_rng(seed)
    params = init_mlp([x.shape[1], *hidden, y.shape[1]], rng, activation, np.float32)
    step = _Step(params, batch_size, activation, momentum)
    history = {key: [] for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr")}
    batches = n // batch_size
    bar = _progress_bar(epochs * batches, progress)
    for epoch in range(epochs):
        rate = learning_rate(lr, epoch, decay_epochs)
        order = rng.permutation(n)
        total_loss, correct = 0.0, 0
        for first in range(0, n, batch_size):
            rows = order[first : first + batch_size]
            np.take(x, rows, axis=0, out=step.x, mode="clip")  # "clip": rows are valid, and "raise" would
            np.take(y, rows, axis=0, out=step.y, mode="clip")  # gather into a fresh buffer, then copy it
            loss, right = step(rate)
            total_loss += loss
            correct += right
            if bar is not None:
                bar.update()
        history["train_loss"].append(total_loss / batches)
        history["train_acc"].append(correct / n)
        history["lr"].append(rate)
        if x_val is not None:
            val_loss, val_acc = evaluate(x_val, y_val, params, activation)
            history["val_loss"].append(float(val_loss))
            history["val_acc"].append(float(val_acc))
        if bar is not None:
            shown = {"epoch": epoch + 1, "loss": f"{history['train_loss'][-1]:.4f}"}
            if x_val is not None:
                shown["val_acc"] = f"{history['val_acc'][-1]:.4f}"
            bar.set_postfix(shown)
    if bar is not None:
        bar.close()
    return params, history

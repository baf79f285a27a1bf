"""a4_mnist as students write it: realistic mistakes and correct alternatives, as data.

An mlp_backward entry is either the backward function alone (it then gets the reference mlp_forward and its
cache: {"inputs": [x, a_1, ...], "pre_activations": [z_1, ...]}) or an (mlp_forward, mlp_backward) pair with
its own cache. train entries are self-contained: they use the reference's pieces or their own.
"""

import math

import numpy as np

from autograder.reference import a4_mnist as ref
from catalogue import registry

MUTANTS, CORRECT, wrong, right = registry()


def _textbook_tanh(x):
    return (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x))


# ------------------------------------------------------------------------------------------ tanh


@wrong("tanh", 0, "logistic sigmoid", "tanh.is_sigmoid")
def tanh_is_the_sigmoid(x):
    return 1 / (1 + np.exp(-x))


@wrong("tanh", 0, "2x", "tanh.sigmoid_of_x_not_2x")
def tanh_sigmoid_of_x_not_2x(x):
    return 2 / (1 + np.exp(-x)) - 1


@wrong("tanh", 0.5, "large |x|", "tanh.wrong_for_large_inputs")
def tanh_textbook_formula_overflows(x):
    return _textbook_tanh(x)  # inf / inf = nan for |x| > 710


@wrong("tanh", 0.5, "in place", "tanh.modified_input")
def tanh_in_place_with_out(x):
    return np.tanh(x, out=x)


@right("tanh")
def tanh_via_sigmoid_of_2x(x):
    return 2 / (1 + np.exp(-2 * x)) - 1  # exp overflows to inf for x = -1000: 2 / inf - 1 = -1, right


@right("tanh")
def tanh_exponentiating_only_non_positive_numbers(x):
    e = np.exp(-2 * np.abs(x))
    return np.sign(x) * (1 - e) / (1 + e)


# ------------------------------------------------------------------------------- tanh_derivative


@wrong("tanh_derivative", 0, "as if x were already tanh(x)", "tanh_derivative.of_the_activation")
def tanh_derivative_of_the_activation(x):
    return 1 - x**2


@wrong("tanh_derivative", 0, "square the tanh", "tanh_derivative.tanh_not_squared")
def tanh_derivative_without_the_square(x):
    return 1 - np.tanh(x)


@wrong("tanh_derivative", 0, "sigmoid's pattern", "tanh_derivative.sigmoid_pattern")
def tanh_derivative_sigmoid_style(x):
    t = np.tanh(x)
    return t * (1 - t)


@wrong("tanh_derivative", 0.5, "large |x|", "tanh_derivative.wrong_for_large_inputs")
def tanh_derivative_from_the_textbook_tanh(x):
    return 1 - _textbook_tanh(x) ** 2


@right("tanh_derivative")
def tanh_derivative_sech_squared(x):
    return 1 / np.cosh(x) ** 2  # cosh(1000) overflows to inf, and 1 / inf = 0 is right


@right("tanh_derivative")
def tanh_derivative_with_np_square(x):
    return 1.0 - np.square(np.tanh(x))


# ------------------------------------------------------------------------------------------ relu


@wrong("relu", 0, "keep the shape", "relu.wrong_shape")
def relu_with_np_max(x):
    return np.max(x, 0)  # a reduction over axis 0, not the elementwise np.maximum


@wrong("relu", 0.5, "in place", "relu.modified_input")
def relu_masks_in_place(x):
    x[x < 0] = 0
    return x


@right("relu")
def relu_multiplies_by_the_mask(x):
    return x * (x > 0)


# ------------------------------------------------------------------------------- relu_derivative


@wrong("relu_derivative", 0.5, "relu'(0) = 0", "relu_derivative.one_at_zero")
def relu_derivative_one_at_zero(x):
    return (x >= 0).astype(float)


@wrong("relu_derivative", 0, "inverted", "relu_derivative.inverted")
def relu_derivative_inverted(x):
    return (x < 0).astype(float)


@wrong("relu_derivative", 0, "the activation itself", "relu_derivative.returned_relu")
def relu_derivative_returns_relu(x):
    return np.maximum(x, 0)


@wrong("relu_derivative", 0, "np.sign", "relu_derivative.sign")
def relu_derivative_sign(x):
    return np.sign(x)


@wrong("relu_derivative", 0.5, "in place", "relu_derivative.modified_input")
def relu_derivative_overwrites_x(x):
    x[x <= 0] = 0
    x[x > 0] = 1
    return x


@right("relu_derivative")
def relu_derivative_bool_mask(x):
    return x > 0  # multiplies like 0/1 in the backward pass


@right("relu_derivative")
def relu_derivative_heaviside(x):
    return np.heaviside(x, 0.0)


@right("relu_derivative")
def relu_derivative_where(x):
    return np.where(x > 0, 1.0, 0.0)


# ------------------------------------------------------------------------------------------ sigmoid


def _naive_sigmoid(x):
    return 1 / (1 + np.exp(-x))  # np.exp(1000) overflows to inf for x = -1000: 1 / inf = 0, right


@wrong("sigmoid", 0, "tanh", "sigmoid.is_tanh")
def sigmoid_is_tanh(x):
    return np.tanh(x)


@wrong("sigmoid", 0, "sigmoid(-x)", "sigmoid.wrong_sign")
def sigmoid_sign_of_the_exponent(x):
    return 1 / (1 + np.exp(x))


@wrong("sigmoid", 0, "sigmoid(2x)", "sigmoid.sigmoid_of_2x")
def sigmoid_of_2x_as_in_tanh(x):
    return 1 / (1 + np.exp(-2 * x))


@wrong("sigmoid", 0.5, "large |x|", "sigmoid.wrong_for_large_inputs")
def sigmoid_exp_x_over_one_plus_exp_x(x):
    return np.exp(x) / (1 + np.exp(x))  # inf / inf = nan for x = 1000


@wrong("sigmoid", 0.5, "in place", "sigmoid.modified_input")
def sigmoid_in_place(x):
    np.negative(x, out=x)
    np.exp(x, out=x)
    x += 1
    return np.reciprocal(x, out=x)


@right("sigmoid")
def sigmoid_textbook(x):
    return _naive_sigmoid(x)


@right("sigmoid")
def sigmoid_via_tanh(x):
    return 0.5 * (1 + np.tanh(x / 2))


@right("sigmoid")
def sigmoid_via_logaddexp(x):
    return np.exp(-np.logaddexp(0, -x))


# ------------------------------------------------------------------------------- sigmoid_derivative


@wrong("sigmoid_derivative", 0, "as if x were already sigmoid(x)", "sigmoid_derivative.of_the_activation")
def sigmoid_derivative_of_the_activation(x):
    return x * (1 - x)


@wrong("sigmoid_derivative", 0, "tanh's pattern", "sigmoid_derivative.tanh_pattern")
def sigmoid_derivative_tanh_style(x):
    s = _naive_sigmoid(x)
    return 1 - s**2


@wrong("sigmoid_derivative", 0, "the sigmoid itself", "sigmoid_derivative.returned_sigmoid")
def sigmoid_derivative_returns_the_sigmoid(x):
    return _naive_sigmoid(x)


@wrong("sigmoid_derivative", 0, "multiply by s", "sigmoid_derivative.missing_factor_s")
def sigmoid_derivative_forgets_s(x):
    return 1 - _naive_sigmoid(x)


@wrong("sigmoid_derivative", 0.5, "large |x|", "sigmoid_derivative.wrong_for_large_inputs")
def sigmoid_derivative_from_exponentials(x):
    e = np.exp(-x)
    return e / (1 + e) ** 2  # inf / inf = nan for x = -1000


@right("sigmoid_derivative")
def sigmoid_derivative_textbook(x):
    s = _naive_sigmoid(x)
    return s * (1 - s)


@right("sigmoid_derivative")
def sigmoid_derivative_via_cosh(x):
    return 0.25 / np.cosh(np.clip(x, -700, 700) / 2) ** 2


# -------------------------------------------------------------------------------------- init_mlp


def _init(sizes, rng, activation, dtype, std, draw=None):
    draw = draw or (lambda shape, s: rng.normal(0.0, s, size=shape))
    params = []
    for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        hidden = layer < len(sizes) - 2
        params.append((draw((fan_in, fan_out), std(fan_in, fan_out, hidden)).astype(dtype), np.zeros(fan_out, dtype)))
    return params


def _course_std(activation):
    return lambda fan_in, fan_out, hidden: math.sqrt((2.0 if hidden and activation == "relu" else 1.0) / fan_in)


@wrong("init_mlp", 0, "variance", "init_mlp.variance_as_std")
def init_mlp_variance_as_std(sizes, rng, activation="relu", dtype=np.float32):
    return _init(sizes, rng, activation, dtype, lambda a, b, hidden: (2.0 if hidden and activation == "relu" else 1.0) / a)


@wrong("init_mlp", 0, "gain is 2 only", "init_mlp.wrong_gain")
def init_mlp_he_everywhere(sizes, rng, activation="relu", dtype=np.float32):
    return _init(sizes, rng, activation, dtype, lambda a, b, hidden: math.sqrt(2.0 / a))


@wrong("init_mlp", 0, "Xavier", "init_mlp.xavier")
def init_mlp_xavier(sizes, rng, activation="relu", dtype=np.float32):
    return _init(sizes, rng, activation, dtype, lambda a, b, hidden: math.sqrt(2.0 / (a + b)))


@wrong("init_mlp", 0, "rng argument", "init_mlp.ignores_rng")
def init_mlp_global_random(sizes, rng, activation="relu", dtype=np.float32):
    return _init(sizes, rng, activation, dtype, _course_std(activation), draw=lambda shape, s: np.random.normal(0, s, shape))


@wrong("init_mlp", 0, "transposed", "init_mlp.transposed")
def init_mlp_transposed_weights(sizes, rng, activation="relu", dtype=np.float32):
    return [(w.T, b) for w, b in _init(sizes, rng, activation, dtype, _course_std(activation))]


@wrong("init_mlp", 0.5, "float32", "init_mlp.wrong_dtype")
def init_mlp_ignores_dtype(sizes, rng, activation="relu", dtype=np.float32):
    return _init(sizes, rng, activation, np.float64, _course_std(activation))


@right("init_mlp")
def init_mlp_scaled_standard_normal_row_biases(sizes, rng, activation="relu", dtype=np.float32):
    params = []
    for i in range(len(sizes) - 1):
        gain = 2.0 if activation == "relu" and i < len(sizes) - 2 else 1.0
        w = rng.standard_normal((sizes[i], sizes[i + 1])) * np.sqrt(gain / sizes[i])
        params.append([w.astype(dtype), np.zeros((1, sizes[i + 1]), dtype=dtype)])
    return params


@right("init_mlp")
def init_mlp_uniform_with_the_same_variance(sizes, rng, activation="relu", dtype=np.float32):
    def draw(shape, std):
        limit = math.sqrt(3) * std  # U(-a, a) has variance a^2 / 3
        return rng.uniform(-limit, limit, size=shape)

    return _init(sizes, rng, activation, dtype, _course_std(activation), draw=draw)


# ----------------------------------------------------------------------------------- mlp_forward


def _act(name):
    return {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0)}[name]


def _forward(x, params, activation, output=None, bias=True):
    f = _act(activation)
    inputs, pre = [x], []
    a = x
    for w, b in params[:-1]:
        z = a @ w + (b if bias else 0)
        a = f(z)
        pre.append(z)
        inputs.append(a)
    w, b = params[-1]
    logits = a @ w + (b if bias else 0)
    return (output(logits) if output else logits), {"inputs": inputs, "pre_activations": pre}


@wrong("mlp_forward", 0, "output layer has no activation", "mlp_forward.activation_on_output")
def mlp_forward_activation_on_the_output(x, params, activation):
    return _forward(x, params, activation, output=_act(activation))


@wrong("mlp_forward", 0, "return the logits", "mlp_forward.returned_softmax")
def mlp_forward_returns_probabilities(x, params, activation):
    def softmax(z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    return _forward(x, params, activation, output=softmax)


@wrong("mlp_forward", 0, "biases are missing", "mlp_forward.no_bias")
def mlp_forward_without_biases(x, params, activation):
    return _forward(x, params, activation, bias=False)


@wrong("mlp_forward", 0, "the hidden layers use relu", "mlp_forward.wrong_activation")
def mlp_forward_always_relu(x, params, activation):
    return _forward(x, params, "relu")


@wrong("mlp_forward", 0, "returned a ndarray instead of the pair (logits, cache)", "mlp_forward.wrong_return")
def mlp_forward_returns_only_the_logits(x, params, activation):
    return _forward(x, params, activation)[0]


@wrong("mlp_forward", 1.5, "without hidden layers", "mlp_forward.fails_without_hidden_layers")
def mlp_forward_assumes_a_hidden_layer(x, params, activation):
    f = _act(activation)
    z = x @ params[0][0] + params[0][1]
    inputs, pre, a = [x, f(z)], [z], f(z)
    for w, b in params[1:-1]:
        pre.append(a @ w + b)
        a = f(pre[-1])
        inputs.append(a)
    w, b = params[-1]
    return a @ w + b, {"inputs": inputs, "pre_activations": pre}


@right("mlp_forward")
def mlp_forward_indexing_layers_with_np_dot(x, params, activation):
    f = np.tanh if activation == "tanh" else (lambda z: np.where(z > 0, z, 0.0))
    cache = []
    a = x
    for i in range(len(params)):
        w, b = params[i]
        z = np.dot(a, w) + b
        cache.append((a, z))
        a = z if i == len(params) - 1 else f(z)
    return a, cache


# ------------------------------------------------------------------------- softmax_cross_entropy


def _log_softmax(z):
    s = z - z.max(axis=1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=1, keepdims=True))


@wrong("softmax_cross_entropy", 0, "N*K", "softmax_cross_entropy.loss_divided_by_nk")
def softmax_cross_entropy_mean_over_all_entries(logits, y):
    log_p = _log_softmax(logits)
    return -np.mean(y * log_p), (np.exp(log_p) - y) / len(y)


@wrong("softmax_cross_entropy", 0, "N times too large", "softmax_cross_entropy.dlogits_not_divided_by_n")
def softmax_cross_entropy_gradient_not_averaged(logits, y):
    log_p = _log_softmax(logits)
    return -np.sum(y * log_p) / len(y), np.exp(log_p) - y


@wrong("softmax_cross_entropy", 0, "subtract the targets", "softmax_cross_entropy.dlogits_without_target")
def softmax_cross_entropy_gradient_forgets_the_targets(logits, y):
    log_p = _log_softmax(logits)
    return -np.sum(y * log_p) / len(y), np.exp(log_p) / len(y)


@wrong("softmax_cross_entropy", 1.0, "+-800", "softmax_cross_entropy.wrong_for_large_logits")
def softmax_cross_entropy_without_max_shift(logits, y):
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return -np.sum(y * np.log(p)) / len(y), (p - y) / len(y)


@wrong("softmax_cross_entropy", 1.0, "each row's max", "softmax_cross_entropy.wrong_for_large_logits")
def softmax_cross_entropy_shift_by_the_batch_max(logits, y):
    e = np.exp(logits - logits.max())
    p = e / e.sum(axis=1, keepdims=True)
    return -np.sum(y * np.log(p)) / len(y), (p - y) / len(y)


@wrong("softmax_cross_entropy", 1.5, "in place", "softmax_cross_entropy.modified_input")
def softmax_cross_entropy_shifts_in_place(logits, y):
    logits -= logits.max(axis=1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return -np.sum(y * log_p) / len(y), (np.exp(log_p) - y) / len(y)


@right("softmax_cross_entropy")
def softmax_cross_entropy_clipped_log(logits, y):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    return -np.mean(np.sum(y * np.log(p + 1e-12), axis=1)), (p - y) / logits.shape[0]


@right("softmax_cross_entropy")
def softmax_cross_entropy_picks_the_target_class(logits, y):
    log_p = _log_softmax(logits)
    rows = np.arange(len(y))
    return np.float64(-np.mean(log_p[rows, np.argmax(y, axis=1)])), (np.exp(log_p) - y) / len(y)


@right("softmax_cross_entropy")
def softmax_cross_entropy_logaddexp(logits, y):
    log_sum = np.logaddexp.reduce(logits, axis=1, keepdims=True)
    p = np.exp(logits - log_sum)
    return float(np.sum(y * (log_sum - logits)) / len(y)), (p - y) / len(y)


# ---------------------------------------------------------------------------------- mlp_backward


def _backward(dlogits, cache, params, activation, derivative=None, scale=1.0, bias=np.sum, at_output=False):
    f_prime = derivative or (lambda z: 1 - np.tanh(z) ** 2 if activation == "tanh" else (z > 0).astype(float))
    inputs, pre = cache["inputs"], cache["pre_activations"]
    grads, delta = [None] * len(params), dlogits * scale
    for layer in reversed(range(len(params))):
        grads[layer] = (inputs[layer].T @ delta, bias(delta, axis=0))
        if layer > 0:
            delta = delta @ params[layer][0].T * f_prime(inputs[layer] if at_output else pre[layer - 1])
    return grads


@wrong("mlp_backward", 0, "do not divide by N again", "mlp_backward.divided_by_n_again")
def mlp_backward_divides_by_n_again(dlogits, cache, params, activation):
    return _backward(dlogits, cache, params, activation, scale=1 / len(dlogits))


@wrong("mlp_backward", 0, "derivative is missing", "mlp_backward.no_activation_derivative")
def mlp_backward_without_the_derivative(dlogits, cache, params, activation):
    return _backward(dlogits, cache, params, activation, derivative=lambda z: 1.0)


@wrong("mlp_backward", 0, "a = tanh(z)", "mlp_backward.derivative_at_activation")
def mlp_backward_tanh_derivative_at_the_activation(dlogits, cache, params, activation):
    return _backward(dlogits, cache, params, activation, at_output=True)


@wrong("mlp_backward", 0, "reverse order", "mlp_backward.reverse_order")
def mlp_backward_output_layer_first(dlogits, cache, params, activation):
    return _backward(dlogits, cache, params, activation)[::-1]


@wrong("mlp_backward", 0, "averaged over the batch", "mlp_backward.bias_averaged")
def mlp_backward_averages_the_bias_gradients(dlogits, cache, params, activation):
    return _backward(dlogits, cache, params, activation, bias=np.mean)


@wrong("mlp_backward", 3.0, "without hidden layers", "mlp_backward.fails_without_hidden_layers")
def mlp_backward_output_layer_unrolled(dlogits, cache, params, activation):
    inputs, pre = cache["inputs"], cache["pre_activations"]
    f_prime = (lambda z: 1 - np.tanh(z) ** 2) if activation == "tanh" else (lambda z: (z > 0) * 1.0)
    grads = [(inputs[-1].T @ dlogits, dlogits.sum(axis=0))]
    delta = dlogits @ params[-1][0].T * f_prime(pre[-1])  # there is no pre[-1] without hidden layers
    for layer in range(len(params) - 2, -1, -1):
        grads.insert(0, (inputs[layer].T @ delta, delta.sum(axis=0)))
        if layer > 0:
            delta = delta @ params[layer][0].T * f_prime(pre[layer - 1])
    return grads


wrong("mlp_backward", 0, "fix mlp_forward first", "mlp_backward.forward_wrong")((mlp_forward_without_biases, ref.mlp_backward))
wrong("mlp_backward", 0, "its forward pass returned a ndarray instead of the pair (logits, cache)", "mlp_backward.forward_wrong_return")(
    (mlp_forward_returns_only_the_logits, ref.mlp_backward)
)


def _derivative_in_place(a, activation):
    """f'(z) from the activation a = f(z), written into a's own memory (ReLU: a > 0; tanh: 1 - a^2)."""
    if activation == "relu":
        np.greater(a, 0, out=a)
    else:
        np.multiply(a, a, out=a)
        np.subtract(1, a, out=a)
    return a


@wrong("mlp_backward", 3.0, "mlp_backward changed the x you passed to mlp_forward", "mlp_backward.modified_forward_input")
def mlp_backward_derivative_in_place_down_to_x(dlogits, cache, params, activation):
    """The derivative computed in place in every cached layer input once its gradient is taken, the first one too:
    that one is the caller's x."""
    inputs, grads, delta = cache["inputs"], [None] * len(params), dlogits
    for layer in reversed(range(len(params))):
        grads[layer] = (inputs[layer].T @ delta, delta.sum(axis=0))
        delta = delta @ params[layer][0].T * _derivative_in_place(inputs[layer], activation)
    return grads


@right("mlp_backward")
def mlp_backward_derivative_in_place_in_hidden_activations(dlogits, cache, params, activation):
    """The same in place, but only in the hidden activations, which mlp_forward made: nobody else holds them."""
    inputs, grads, delta = cache["inputs"], [None] * len(params), dlogits
    for layer in reversed(range(len(params))):
        grads[layer] = (inputs[layer].T @ delta, delta.sum(axis=0))
        if layer > 0:
            delta = delta @ params[layer][0].T * _derivative_in_place(inputs[layer], activation)
    return grads


@right("mlp_backward")
def mlp_backward_per_sample_loop(dlogits, cache, params, activation):
    inputs, pre = cache["inputs"], cache["pre_activations"]
    grads = [(np.zeros_like(w), np.zeros_like(b)) for w, b in params]
    for n in range(dlogits.shape[0]):
        delta = dlogits[n]
        for layer in range(len(params) - 1, -1, -1):
            grads[layer][0][...] += np.outer(inputs[layer][n], delta)
            grads[layer][1][...] += delta
            if layer > 0:
                z = pre[layer - 1][n]
                delta = (params[layer][0] @ delta) * (1 - np.tanh(z) ** 2 if activation == "tanh" else (z > 0))
    return grads


@right("mlp_backward")
def mlp_backward_einsum_row_biases(dlogits, cache, params, activation):
    inputs, pre = cache["inputs"], cache["pre_activations"]
    out, delta = [], dlogits
    for layer in range(len(params) - 1, -1, -1):
        out.append([np.einsum("ni,nj->ij", inputs[layer], delta), delta.sum(axis=0, keepdims=True)])
        if layer > 0:
            t = np.tanh(pre[layer - 1])
            delta = np.einsum("nj,ij->ni", delta, params[layer][0]) * (1 - t * t if activation == "tanh" else pre[layer - 1] > 0)
    return out[::-1]


def mlp_backward_for_a_list_of_pairs_cache(dlogits, cache, params, activation):
    """The backward pass for mlp_forward_indexing_layers_with_np_dot's cache [(a_{l-1}, z_l), ...]."""
    grads, delta = [None] * len(params), dlogits
    for layer in range(len(params) - 1, -1, -1):
        a_prev, _ = cache[layer]
        grads[layer] = (a_prev.T @ delta, delta.sum(axis=0))
        if layer > 0:
            z = cache[layer - 1][1]
            delta = delta @ params[layer][0].T * (1 - np.tanh(z) ** 2 if activation == "tanh" else np.where(z > 0, 1.0, 0.0))
    return grads


right("mlp_backward")((mlp_forward_indexing_layers_with_np_dot, mlp_backward_for_a_list_of_pairs_cache))

# --------------------------------------------------------------------------- sgd_momentum_update


@wrong("sgd_momentum_update", 0, "velocity is ignored", "sgd_momentum_update.no_velocity")
def sgd_momentum_update_plain_sgd(w, dw, config):
    return w - config["learning_rate"] * dw, config


@wrong("sgd_momentum_update", 0, "not carried to the next call", "sgd_momentum_update.no_velocity")
def sgd_momentum_update_forgets_the_velocity(w, dw, config):
    v = config.get("velocity", np.zeros_like(w))
    v = config["momentum"] * v + config["learning_rate"] * dw
    return w - v, config


@wrong("sgd_momentum_update", 0, "uphill", "sgd_momentum_update.uphill")
def sgd_momentum_update_adds_the_velocity(w, dw, config):
    v = config["momentum"] * config.get("velocity", np.zeros_like(w)) + config["learning_rate"] * dw
    return w + v, {**config, "velocity": v}


@wrong("sgd_momentum_update", 0, "wrong from step 2", "sgd_momentum_update.velocity_not_carried")
def sgd_momentum_update_momentum_on_the_gradient(w, dw, config):
    v = config["momentum"] * config.get("velocity", np.zeros_like(w)) + config["learning_rate"] * dw
    return w - v, {**config, "velocity": dw}  # stores the gradient, not the velocity


@wrong("sgd_momentum_update", 1.5, "in place", "sgd_momentum_update.modified_input")
def sgd_momentum_update_in_place(w, dw, config):
    v = config["momentum"] * config.get("velocity", np.zeros_like(w)) + config["learning_rate"] * dw
    config["velocity"] = v
    w -= v
    return w, config


@right("sgd_momentum_update")
def sgd_momentum_update_cs231n_sign_convention(w, dw, config):
    v = config["momentum"] * config.get("velocity", np.zeros_like(w)) - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config


@right("sgd_momentum_update")
def sgd_momentum_update_pytorch_convention(w, dw, config):
    buf = config.get("buffer")
    buf = dw.copy() if buf is None else config["momentum"] * buf + dw
    return w - config["learning_rate"] * buf, {**config, "buffer": buf}


# --------------------------------------------------------------------------------- learning_rate


@wrong("learning_rate", 0, "one epoch late", "learning_rate.one_epoch_late")
def learning_rate_halves_after_the_decay_epoch(initial, epoch, decay_epochs):
    return initial * 0.5 ** sum(epoch > d for d in decay_epochs)


@wrong("learning_rate", 0, "divided by 10", "learning_rate.divided_by_10")
def learning_rate_divides_by_ten(initial, epoch, decay_epochs):
    return initial * 0.1 ** sum(epoch >= d for d in decay_epochs)


@wrong("learning_rate", 0, "halved only once", "learning_rate.halved_once")
def learning_rate_halves_once(initial, epoch, decay_epochs):
    return initial / 2 if any(epoch >= d for d in decay_epochs) else initial


@wrong("learning_rate", 0, "keeps halving every epoch", "learning_rate.halves_every_epoch_after_first_decay")
def learning_rate_halves_every_epoch_after_the_first_decay(initial, epoch, decay_epochs):
    rate = initial
    for e in range(1, epoch + 1):
        if decay_epochs and e >= decay_epochs[0]:
            rate /= 2
    return rate


@wrong("learning_rate", 0, "decay_epochs argument", "learning_rate.wrong_values")
def learning_rate_hard_coded_epochs(initial, epoch, decay_epochs):
    return initial * 0.5 ** sum(epoch >= d for d in (6, 9))


@right("learning_rate")
def learning_rate_loop(initial, epoch, decay_epochs):
    rate = initial
    for d in decay_epochs:
        if epoch >= d:
            rate = rate / 2
    return rate


@right("learning_rate")
def learning_rate_power_of_two(initial, epoch, decay_epochs):
    return initial / 2 ** len([d for d in decay_epochs if d <= epoch])


# ------------------------------------------------------------------------------------------ train


def _train(x, y, x_val, y_val, hidden, activation, lr, batch_size, epochs, momentum, decay_epochs, seed,
           use_momentum=True, record_rate=True, shuffle=None, percent=False, loss_scale=1.0, per_batch=False):
    """Minibatch SGD built from the reference's pieces, with switches for the mistakes below."""
    decay_epochs = ref.default_decay_epochs(epochs) if decay_epochs is None else decay_epochs
    rng = np.random.default_rng(seed)
    params = ref.init_mlp([x.shape[1], *hidden, y.shape[1]], rng, activation)
    velocity = [(np.zeros_like(w), np.zeros_like(b)) for w, b in params]
    history = {"train_loss": [], "train_acc": [], "val_loss": [], "val_acc": [], "lr": []}
    n = len(x)
    for epoch in range(epochs):
        rate = ref.learning_rate(lr, epoch, decay_epochs)
        order = shuffle(n) if shuffle else rng.permutation(n)
        losses, hits = [], 0
        for first in range(0, n, batch_size):
            rows = order[first : first + batch_size]
            logits, cache = ref.mlp_forward(x[rows], params, activation)
            loss, dlogits = ref.softmax_cross_entropy(logits, y[rows])
            losses.append(loss)
            hits += np.sum(logits.argmax(1) == y[rows].argmax(1))
            if per_batch:
                history["train_loss"].append(loss)
            grads = ref.mlp_backward(dlogits * loss_scale, cache, params, activation)
            for layer, ((w, b), (dw, db), (vw, vb)) in enumerate(zip(params, grads, velocity)):
                mu = momentum if use_momentum else 0.0
                vw, vb = mu * vw + rate * dw, mu * vb + rate * db
                params[layer], velocity[layer] = (w - vw, b - vb), (vw, vb)
        if not per_batch:
            history["train_loss"].append(np.mean(losses))
        history["train_acc"].append(hits / n)
        history["lr"].append(rate if record_rate else lr)
        if x_val is not None:
            val_loss, val_acc = ref.evaluate(x_val, y_val, params, activation)
            history["val_loss"].append(val_loss)
            history["val_acc"].append(100 * val_acc if percent else val_acc)
    return params, history


@wrong("train", 0, "with momentum", "train.low_accuracy")
def train_without_momentum(x, y, x_val=None, y_val=None, hidden=(1000,), activation="relu", lr=0.1, batch_size=100,
                           epochs=12, momentum=0.9, decay_epochs=None, seed=0, progress=False):
    return _train(x, y, x_val, y_val, hidden, activation, lr, batch_size, epochs, momentum, decay_epochs, seed, use_momentum=False)


@wrong("train", 0, "a correct implementation reaches", "train.low_accuracy")
def train_on_the_summed_loss(x, y, x_val=None, y_val=None, hidden=(1000,), activation="relu", lr=0.1, batch_size=100,
                             epochs=12, momentum=0.9, decay_epochs=None, seed=0, progress=False):
    return _train(x, y, x_val, y_val, hidden, activation, lr, batch_size, epochs, momentum, decay_epochs, seed, loss_scale=batch_size)


@wrong("train", 0, "one per epoch", "train.history_wrong_length")
def train_records_every_batch(x, y, x_val=None, y_val=None, hidden=(1000,), activation="relu", lr=0.1, batch_size=100,
                              epochs=12, momentum=0.9, decay_epochs=None, seed=0, progress=False):
    return _train(x, y, x_val, y_val, hidden, activation, lr, batch_size, epochs, momentum, decay_epochs, seed, per_batch=True)


@wrong("train", 2.0, "history['lr']", "train.wrong_lr_history")
def train_records_the_initial_rate(x, y, x_val=None, y_val=None, hidden=(1000,), activation="relu", lr=0.1, batch_size=100,
                                   epochs=12, momentum=0.9, decay_epochs=None, seed=0, progress=False):
    return _train(x, y, x_val, y_val, hidden, activation, lr, batch_size, epochs, momentum, decay_epochs, seed, record_rate=False)


@wrong("train", 2.5, "a fraction in [0, 1]", "train.wrong_val_acc_history")
def train_validation_accuracy_in_percent(x, y, x_val=None, y_val=None, hidden=(1000,), activation="relu", lr=0.1,
                                         batch_size=100, epochs=12, momentum=0.9, decay_epochs=None, seed=0, progress=False):
    return _train(x, y, x_val, y_val, hidden, activation, lr, batch_size, epochs, momentum, decay_epochs, seed, percent=True)


@wrong("train", 2.5, "same seed", "train.not_reproducible")
def train_shuffles_with_the_global_generator(x, y, x_val=None, y_val=None, hidden=(1000,), activation="relu", lr=0.1,
                                             batch_size=100, epochs=12, momentum=0.9, decay_epochs=None, seed=0, progress=False):
    return _train(x, y, x_val, y_val, hidden, activation, lr, batch_size, epochs, momentum, decay_epochs, seed,
                  shuffle=np.random.permutation)


@wrong("train", 0, "pair (params, history)", "train.wrong_type")
def train_returns_only_the_history(x, y, x_val=None, y_val=None, hidden=(1000,), activation="relu", lr=0.1, batch_size=100,
                                   epochs=12, momentum=0.9, decay_epochs=None, seed=0, progress=False):
    return _train(x, y, x_val, y_val, hidden, activation, lr, batch_size, epochs, momentum, decay_epochs, seed)[1]


@right("train")
def train_velocities_by_hand_numpy_numbers_in_history(x, y, x_val=None, y_val=None, hidden=(1000,), activation="relu", lr=0.1,
                                                      batch_size=100, epochs=12, momentum=0.9, decay_epochs=None, seed=0,
                                                      progress=False):
    return _train(x, y, x_val, y_val, hidden, activation, lr, batch_size, epochs, momentum, decay_epochs, seed)


@right("train")
def train_float64_xavier_pytorch_momentum(x, y, x_val=None, y_val=None, hidden=(1000,), activation="relu", lr=0.1,
                                          batch_size=100, epochs=12, momentum=0.9, decay_epochs=None, seed=0, progress=False):
    """Another student's choices throughout: float64, Xavier weights, momentum on the raw gradient (PyTorch), the
    rows shuffled in place, validation in one batch, the history as arrays."""
    rng = np.random.default_rng(seed)
    sizes = [x.shape[1], *hidden, y.shape[1]]
    ws = [rng.normal(0, math.sqrt(2 / (a + b)), (a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [np.zeros(b) for b in sizes[1:]]
    buffers = [np.zeros_like(p) for p in ws + bs]
    decay = ref.default_decay_epochs(epochs) if decay_epochs is None else decay_epochs
    rows = np.arange(len(x))
    hist = {key: np.zeros(epochs) for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr")}
    for epoch in range(epochs):
        rate = lr / 2 ** sum(epoch >= d for d in decay)
        rng.shuffle(rows)
        for first in range(0, len(x), batch_size):
            batch = rows[first : first + batch_size]
            params = list(zip(ws, bs))
            logits, cache = ref.mlp_forward(x[batch].astype(np.float64), params, activation)
            loss, dlogits = ref.softmax_cross_entropy(logits, y[batch].astype(np.float64))
            hist["train_loss"][epoch] += loss * batch_size / len(x)
            hist["train_acc"][epoch] += np.sum(logits.argmax(1) == y[batch].argmax(1)) / len(x)
            grads = ref.mlp_backward(dlogits, cache, params, activation)
            for i, g in enumerate([dw for dw, _ in grads] + [db for _, db in grads]):
                buffers[i] = momentum * buffers[i] + g
                (ws + bs)[i][...] -= rate * buffers[i]
        hist["lr"][epoch] = rate
        if x_val is not None:
            logits, _ = ref.mlp_forward(x_val, list(zip(ws, bs)), activation)
            hist["val_loss"][epoch], _ = ref.softmax_cross_entropy(logits, y_val)
            hist["val_acc"][epoch] = np.mean(logits.argmax(1) == y_val.argmax(1))
    return [(w, b) for w, b in zip(ws, bs)], hist


# ------------------------------------------------------------------------------------------ graded end to end
# What tests/test_grading_assignments.py expects when the course grades a4_mnist: the bundled example students,
# the source notebook (as e2e-solution) and the entries below typed into the solution (as e2e-mutants).
END_TO_END = {
    "manual": {"results_configurations": 2.0, "results_units_early_stopping": 2.0, "results_batch_seeds_sigmoid": 3.0},
    "total_points": 28,  # 21 autograded + 7 by hand
    # The grades the bundled examples must get, cell by cell (the demo prints these); a cell not listed under
    # partial_marks gets full marks.
    "full_marks": ("e2e-solution", "example-ada"),
    "no_marks": ("example-carol",),
    "partial_marks": {
        "example-bob": {
            "tanh_tests": 0.5,  # the textbook formula: nan at |x| = 1000
            "tanh_derivative_tests": 0.5,  # right, but built on that tanh
            "relu_derivative_tests": 0.5,  # 1 at exactly 0
            "sigmoid_tests": 0.5,  # e^x / (1 + e^x): nan at x = 1000
            "sigmoid_derivative_tests": 0.5,  # right, but built on that sigmoid
            "init_mlp_tests": 0.5,  # float64 biases
            "softmax_cross_entropy_tests": 1.0,  # no max shift
            "sgd_momentum_update_tests": 0.0,  # goes uphill
            "learning_rate_tests": 0.0,  # keeps halving
            "train_tests": 0.0,  # fails with that momentum step
        },
    },
    "written_answers_wait": ("e2e-solution", "example-ada"),  # their manual points are not in yet
    "written_answers_left_blank": ("example-carol",),  # 0 at once, no grader needed
    "integrity_declared": ("example-ada",),
    "integrity_left_blank": ("example-bob", "example-carol"),
    # Typed into the source notebook's solutions: partial credit with numpy warnings in the test cell (which must not
    # zero it), a backward pass that fails only without hidden layers, relu'(0) = 1.
    "typed_into_the_solution": {
        "softmax_cross_entropy": softmax_cross_entropy_without_max_shift,
        "mlp_backward": mlp_backward_output_layer_unrolled,
        "relu_derivative": relu_derivative_one_at_zero,
    },
    "typed_into_the_solution_partial_marks": {"softmax_cross_entropy_tests": 1.0, "mlp_backward_tests": 3.0, "relu_derivative_tests": 0.5},
    "direct_checks_skip": ("data",),  # the release's data cell (it loads MNIST): no check needs what it loads
    "feedback_student": "example-bob",
    "feedback_contains": (
        "-0.5 points: relu_derivative is 1 at exactly x = 0",  # hidden checks say why they deduct
        "-0.5 points: init_mlp returned float64 arrays",
        "-1 point: softmax_cross_entropy returns nan/inf or wrong values for logits near +-800",
        "-0.5 points: sigmoid returns nan/inf or wrong values for large |x|",
        "after one step w should be [0.9, 2.1]; got [1.1 1.9]",  # and failed visible tests say why
        "check_train(train)",
        "check_mlp_backward(mlp_forward, mlp_backward)",
    ),
    "feedback_lacks": ("mlxtend", "default_rng(4"),  # test data stays in the package
}

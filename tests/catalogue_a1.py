"""a1_helpers as students write it: realistic mistakes and correct alternatives, as data.

Each mutant is a short function whose name says the mistake; ``wrong(function, score, fragment)``
records which graded function it replaces, the points it must earn (0 = the check fails outright)
and a fragment the message must contain so the student learns *which* mistake it is.
Each correct alternative must earn full marks.
"""

import math

import numpy as np

from catalogue import registry

MUTANTS, CORRECT, wrong, right = registry()


def _stable_softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# ----------------------------------------------------------------------------------------- relu


@wrong("relu", 0, "|x|", "relu.abs")
def relu_returns_abs(x):
    return np.abs(x)


@wrong("relu", 0.5, "in place", "relu.modified_input")
def relu_in_place_with_out(x):
    return np.maximum(x, 0, out=x)


@wrong("relu", 0.5, "in place", "relu.modified_input")
def relu_in_place_masking(x):
    x[x < 0] = 0
    return x


@wrong("relu", 0, "negative", "relu.negative_values")
def relu_keeps_the_negative_side(x):
    return x * (x < 0)


@wrong("relu", 0, "negative", "relu.negative_values")
def relu_uses_minimum(x):
    return np.minimum(x, 0)


@wrong("relu", 0, "dtype", "relu.int_dtype")
def relu_casts_to_int(x):
    return np.maximum(x, 0).astype(int)


@wrong("relu", 0, "forget the return", "relu.returned_none")
def relu_forgets_return(x):
    np.maximum(x, 0)


@right("relu")
def relu_np_where(x):
    return np.where(x > 0, x, 0)


@right("relu")
def relu_mask_multiply(x):
    return x * (x > 0)


@right("relu")
def relu_clip(x):
    return np.clip(x, 0, None)


@right("relu")
def relu_python_loops(x):
    out = np.zeros(x.shape, dtype=float)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[i, j] = x[i, j] if x[i, j] > 0 else 0.0
    return out


@right("relu")
def relu_copy_then_mask(x):
    out = x.copy()
    out[out < 0] = 0
    return out


# -------------------------------------------------------------------------------------- softmax


@wrong("softmax", 0, "axis 0", "softmax.axis0")
def softmax_over_axis_0(x):
    e = np.exp(x - x.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


@wrong("softmax", 0, "whole batch", "softmax.whole_batch")
def softmax_over_whole_batch(x):
    e = np.exp(x - x.max())
    return e / e.sum()


@wrong("softmax", 1.5, "Subtract each row's maximum", "softmax.no_max_shift")
def softmax_without_max_shift(x):
    e = np.exp(x)
    return e / e.sum(axis=1, keepdims=True)


@wrong("softmax", 1.5, "global max", "softmax.global_max_shift")
def softmax_shift_by_global_max(x):
    e = np.exp(x - np.max(x))
    return e / e.sum(axis=1, keepdims=True)


@wrong("softmax", 2.0, "in place", "softmax.modified_input")
def softmax_shifts_input_in_place(x):
    x -= x.max(axis=1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=1, keepdims=True)


@wrong("softmax", 0, "broadcast", "softmax.broadcast_error")
def softmax_sum_without_keepdims(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1)


@wrong("softmax", 0, "do not sum to 1", "softmax.rows_not_normalised")
def softmax_forgets_to_normalise(x):
    return np.exp(x - x.max(axis=1, keepdims=True))


@wrong("softmax", 0, "do not sum to 1", "softmax.rows_not_normalised")
def softmax_is_sigmoid(x):
    return 1 / (1 + np.exp(-x))


@wrong("softmax", 0.5, "in place", ("softmax.no_max_shift", "softmax.modified_input"))  # 3 - 1.5 (no shift) - 1 (in place)
def softmax_exp_in_place_without_shift(x):
    np.exp(x, out=x)
    return x / x.sum(axis=1, keepdims=True)


@right("softmax")
def softmax_log_sum_exp(x):
    m = x.max(axis=1, keepdims=True)
    lse = m + np.log(np.sum(np.exp(x - m), axis=1, keepdims=True))
    return np.exp(x - lse)


@right("softmax")
def softmax_row_by_row_loop(x):
    out = np.empty(x.shape, dtype=float)
    for i, row in enumerate(x):
        e = np.exp(row - row.max())
        out[i] = e / e.sum()
    return out


@right("softmax")
def softmax_pure_python_math(x):
    rows = []
    for row in x.tolist():
        m = max(row)
        e = [math.exp(v - m) for v in row]
        s = sum(e)
        rows.append([v / s for v in e])
    return np.array(rows)


@right("softmax")
def softmax_index_with_newaxis_in_float32(x):
    z = x.astype(np.float32)
    e = np.exp(z - z.max(axis=1)[:, np.newaxis])
    return e / e.sum(axis=1)[:, np.newaxis]


@right("softmax")
def softmax_epsilon_in_denominator(x):
    e = np.exp(x - np.amax(x, axis=-1, keepdims=True))
    return e / (np.sum(e, axis=-1, keepdims=True) + 1e-12)


# -------------------------------------------------------------------------------- compute_layer


@wrong("compute_layer", 0, "does not add the bias", "compute_layer.no_bias")
def compute_layer_forgets_bias(x, w, b):
    return x @ w


@wrong("compute_layer", 0, "subtracts the bias", "compute_layer.subtracts_bias")
def compute_layer_subtracts_bias(x, w, b):
    return x @ w - b


@wrong("compute_layer", 0, "matmul", "compute_layer.raised")
def compute_layer_transposes_w(x, w, b):
    return x @ w.T + b


@wrong("compute_layer", 0, "broadcast", "compute_layer.broadcast_error")
def compute_layer_elementwise_product(x, w, b):
    return x * w + b


@right("compute_layer")
def compute_layer_einsum(x, w, b):
    return np.einsum("nd,dh->nh", x, w) + b


@right("compute_layer")
def compute_layer_np_dot_with_row_bias(x, w, b):
    return np.dot(x, w) + np.reshape(b, (1, -1))


@right("compute_layer")
def compute_layer_triple_loop(x, w, b):
    b = np.asarray(b).reshape(-1)
    out = np.zeros((x.shape[0], w.shape[1]))
    for n in range(x.shape[0]):
        for h in range(w.shape[1]):
            out[n, h] = sum(x[n, d] * w[d, h] for d in range(x.shape[1])) + b[h]
    return out


# ----------------------------------------------------------------------------------- average_ce


@wrong("average_ce", 0, "divide the sum by N", "average_ce.divided_by_nk")
def average_ce_mean_over_n_times_k(target, prediction):
    return -np.mean(target * np.log(np.where(target > 0, prediction, 1)))


@wrong("average_ce", 0, "number of samples", "average_ce.not_divided_by_n")
def average_ce_sum_instead_of_mean(target, prediction):
    return -np.sum(target * np.log(np.where(target > 0, prediction, 1)))


@wrong("average_ce", 0, "wrong sign", "average_ce.wrong_sign")
def average_ce_forgets_minus(target, prediction):
    return np.sum(target * np.log(np.where(target > 0, prediction, 1))) / target.shape[0]


@wrong("average_ce", 0, "log10", "average_ce.log10")
def average_ce_uses_log10(target, prediction):
    return -np.sum(target * np.log10(np.where(target > 0, prediction, 1))) / target.shape[0]


@wrong("average_ce", 1.0, "0 * log(0)", "average_ce.nan_for_zero_predictions")
def average_ce_naive_nan_on_zero_prediction(target, prediction):
    return -np.sum(target * np.log(prediction)) / target.shape[0]


@wrong("average_ce", 0, "binary cross-entropy", "average_ce.binary_cross_entropy")
def average_ce_adds_binary_terms(target, prediction):
    return -np.sum(target * np.log(prediction) + (1 - target) * np.log(1 - prediction)) / target.shape[0]


@wrong("average_ce", 0, "argument order", "average_ce.nonfinite")
def average_ce_arguments_swapped(prediction, target):
    return -np.sum(target * np.log(prediction)) / target.shape[0]


@wrong("average_ce", 0, "return one number", "average_ce.not_one_number")
def average_ce_returns_per_sample_losses(target, prediction):
    return -np.sum(target * np.log(np.where(target > 0, prediction, 1)), axis=1)


@wrong("average_ce", 0, "returned a list", "average_ce.wrong_type")
def average_ce_returns_list(target, prediction):
    return [-np.sum(target * np.log(np.where(target > 0, prediction, 1))) / target.shape[0]]


@right("average_ce")
def average_ce_pick_target_probability(target, prediction):
    n = target.shape[0]
    return -np.mean(np.log(prediction[np.arange(n), np.argmax(target, axis=1)]))


@right("average_ce")
def average_ce_clip_epsilon(target, prediction):
    return -np.sum(target * np.log(np.clip(prediction, 1e-12, 1.0))) / len(target)


@right("average_ce")
def average_ce_keras_epsilon(target, prediction):
    return -np.sum(target * np.log(prediction + 1e-7)) / target.shape[0]


@right("average_ce")
def average_ce_python_loops(target, prediction):
    total = 0.0
    for t_row, p_row in zip(target, prediction):
        for t, p in zip(t_row, p_row):
            if t != 0:
                total -= t * math.log(p)
    return total / len(target)


@right("average_ce")
def average_ce_keepdims_array(target, prediction):
    logs = np.log(prediction, out=np.zeros(prediction.shape), where=target > 0)
    return -np.sum(target * logs, keepdims=True) / target.shape[0]


# -------------------------------------------------------------------------------------- grad_ce


@wrong("grad_ce", 0, "too large", "grad_ce.not_divided_by_n")
def grad_ce_missing_one_over_n(target, logits):
    return _stable_softmax(logits) - target


@wrong("grad_ce", 0, "treats the logits as probabilities", "grad_ce.no_softmax")
def grad_ce_takes_logits_as_probabilities(target, logits):
    return (logits - target) / target.shape[0]


@wrong("grad_ce", 0, "wrong sign", "grad_ce.wrong_sign")
def grad_ce_target_minus_softmax(target, logits):
    return (target - _stable_softmax(logits)) / target.shape[0]


@wrong("grad_ce", 1.5, "large logits", "grad_ce.wrong_for_large_logits")
def grad_ce_with_unstable_softmax(target, logits):
    e = np.exp(logits)
    return (e / e.sum(axis=1, keepdims=True) - target) / target.shape[0]


@wrong("grad_ce", 0, "axis 0", "grad_ce.softmax_axis0")
def grad_ce_softmax_over_axis_0(target, logits):
    e = np.exp(logits - logits.max(axis=0, keepdims=True))
    return (e / e.sum(axis=0, keepdims=True) - target) / target.shape[0]


@wrong("grad_ce", 0, "not N*K", "grad_ce.divided_by_nk")
def grad_ce_divides_by_n_times_k(target, logits):
    return (_stable_softmax(logits) - target) / target.size


@wrong("grad_ce", 1.5, "in place", "grad_ce.modified_input")
def grad_ce_shifts_logits_in_place(target, logits):
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return (e / e.sum(axis=1, keepdims=True) - target) / target.shape[0]


@right("grad_ce")
def grad_ce_log_sum_exp(target, logits):
    m = logits.max(axis=1, keepdims=True)
    log_p = logits - m - np.log(np.exp(logits - m).sum(axis=1, keepdims=True))
    return (np.exp(log_p) - target) / len(logits)


@right("grad_ce")
def grad_ce_row_loops(target, logits):
    n = target.shape[0]
    out = np.zeros(logits.shape)
    for i in range(n):
        e = np.exp(logits[i] - np.max(logits[i]))
        out[i] = (e / np.sum(e) - target[i]) / n
    return out


# ------------------------------------------------------------------------------------- accuracy


@wrong("accuracy", 0, "percentage", "accuracy.percentage")
def accuracy_as_percentage(target, prediction):
    return 100 * np.mean(np.argmax(prediction, axis=1) == np.argmax(target, axis=1))


@wrong("accuracy", 0, "number of correct samples", "accuracy.count_not_fraction")
def accuracy_counts_correct(target, prediction):
    return np.sum(np.argmax(prediction, axis=1) == np.argmax(target, axis=1))


@wrong("accuracy", 0, "error rate", "accuracy.error_rate")
def accuracy_is_error_rate(target, prediction):
    return np.mean(np.argmax(prediction, axis=1) != np.argmax(target, axis=1))


@wrong("accuracy", 0, "np.argmax over axis 1", "accuracy.wrong_values")
def accuracy_compares_raw_values(target, prediction):
    return np.mean(np.round(prediction) == target)


@wrong("accuracy", 0, "returned a bool", "accuracy.wrong_type")
def accuracy_returns_a_comparison(target, prediction):
    return np.all(np.argmax(prediction, axis=1) == np.argmax(target, axis=1))


@right("accuracy")
def accuracy_python_loop(target, prediction):
    hits = 0
    for t, p in zip(target, prediction):
        hits += int(np.argmax(t) == np.argmax(p))
    return hits / len(target)


@right("accuracy")
def accuracy_sum_over_len_as_0d_array(target, prediction):
    return np.array(np.sum(prediction.argmax(-1) == target.argmax(-1)) / len(target))

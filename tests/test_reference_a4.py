"""The a4_mnist reference: gradients by finite differences, the schedule, the optimiser, the fast trainer.

Everything runs on tiny random data except the last tests, which train on the real MNIST quick subset
(5,000 / 1,000 images), prepared into a temporary folder from $NNFS_MNIST_SOURCE or the shared data folder.
"""

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

from autograder.data import load_mnist, prepare_mnist
from autograder.reference import a2_backprop
from autograder.reference import a4_mnist as ref
from notebooks import ROOT

SOURCE = os.environ.get("NNFS_MNIST_SOURCE")
HIDDEN_SIZES = [(), (7,), (5, 4)]


def tiny_problem(hidden, activation, seed=0, n=6, n_in=5, n_out=3):
    """float64 (x, one-hot y, params) with non-zero biases, so every gradient is exercised."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, n_in))
    y = np.eye(n_out)[rng.integers(0, n_out, n)]
    params = ref.init_mlp([n_in, *hidden, n_out], rng, activation, dtype=np.float64)
    params = [(w, rng.normal(0, 0.5, b.shape)) for w, b in params]
    return x, y, params


def loss_of(x, y, params, activation):
    return ref.softmax_cross_entropy(ref.mlp_forward(x, params, activation)[0], y)[0]


# ------------------------------------------------------------------------------------ activations
def test_activations_and_their_derivatives():
    x = np.array([-3.0, -0.5, 0.0, 0.5, 3.0])
    np.testing.assert_array_equal(ref.relu(x), [0, 0, 0, 0.5, 3])
    np.testing.assert_array_equal(ref.relu_derivative(x), [0, 0, 0, 1, 1])
    assert ref.relu_derivative(np.array([0.0]))[0] == 0.0  # the convention at the kink
    assert ref.relu_derivative(np.zeros(3, np.float32)).dtype == np.float32
    np.testing.assert_allclose(ref.tanh(x), np.tanh(x))
    assert np.all(np.isfinite(ref.tanh(np.array([-1e4, 1e4])))) and ref.tanh_derivative(np.array([1e4]))[0] == 0
    smooth = x[x != 0]
    for f, df in ((ref.tanh, ref.tanh_derivative), (ref.relu, ref.relu_derivative)):
        numerical = (f(smooth + 1e-6) - f(smooth - 1e-6)) / 2e-6
        np.testing.assert_allclose(df(smooth), numerical, atol=1e-8)
    assert set(ref.ACTIVATIONS) == {"tanh", "relu"}


def test_softmax_cross_entropy_is_stable_and_correct():
    rng = np.random.default_rng(1)
    logits, y = rng.normal(size=(4, 5)), np.eye(5)[[0, 3, 3, 1]]
    loss, dlogits = ref.softmax_cross_entropy(logits, y)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert loss == pytest.approx(-np.mean(np.log(p[y == 1])), rel=1e-12)
    np.testing.assert_allclose(dlogits, (p - y) / 4, rtol=1e-12)
    huge = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]])  # exp overflows and softmax underflows to 0
    loss, dlogits = ref.softmax_cross_entropy(huge, np.eye(3)[[1, 1]])
    assert loss == pytest.approx(1e4, rel=1e-12) and np.all(np.isfinite(dlogits))


# ---------------------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("hidden", HIDDEN_SIZES, ids=str)
def test_backward_matches_central_differences(hidden, activation):
    x, y, params = tiny_problem(hidden, activation)
    logits, cache = ref.mlp_forward(x, params, activation)
    if activation == "relu":  # no pre-activation within reach of the kink, or the differences would cross it
        assert all(np.min(np.abs(z)) > 1e-3 for z in cache["pre_activations"])
    _, dlogits = ref.softmax_cross_entropy(logits, y)
    grads = ref.mlp_backward(dlogits, cache, params, activation)
    assert len(grads) == len(params) == len(hidden) + 1
    for (w, b), (dw, db) in zip(params, grads):
        assert dw.shape == w.shape and db.shape == b.shape
        for array, analytic in ((w, dw), (b, db)):
            # eps = 1e-5 balances truncation (eps^2) against rounding (1e-16 / eps): worst case 5e-8 here
            loss = lambda _: loss_of(x, y, params, activation)  # noqa: E731 (reads the perturbed params)
            numerical = a2_backprop.numerical_gradient(loss, array, eps=1e-5)
            assert a2_backprop.relative_error(analytic, numerical) < 1e-6


def test_init_scales_the_weights_for_the_activation():
    rng = np.random.default_rng(0)
    relu = ref.init_mlp([784, 1000, 1000, 10], rng, "relu")
    tanh = ref.init_mlp([784, 1000, 10], rng, "tanh", dtype=np.float64)
    assert [w.shape for w, _ in relu] == [(784, 1000), (1000, 1000), (1000, 10)]
    assert all(w.dtype == b.dtype == np.float32 for w, b in relu) and tanh[0][0].dtype == np.float64
    assert all(np.all(b == 0) for _, b in relu + tanh)
    assert np.std(relu[0][0]) == pytest.approx(np.sqrt(2 / 784), rel=0.01)  # He: followed by ReLU
    assert np.std(relu[2][0]) == pytest.approx(np.sqrt(1 / 1000), rel=0.05)  # the output layer
    assert np.std(tanh[0][0]) == pytest.approx(np.sqrt(1 / 784), rel=0.01)
    with pytest.raises(ValueError, match="activation must be one of"):
        ref.init_mlp([3, 2], rng, "sigmoid")


def test_evaluate_agrees_with_one_big_batch():
    x, y, params = tiny_problem((7,), "tanh", n=23)
    loss, acc = ref.evaluate(x, y, params, "tanh", batch_size=5)
    logits, _ = ref.mlp_forward(x, params, "tanh")
    assert loss == pytest.approx(ref.softmax_cross_entropy(logits, y)[0], rel=1e-12)
    assert acc == np.mean(np.argmax(logits, axis=1) == np.argmax(y, axis=1))


# ------------------------------------------------------------------------------------ optimisation
def test_learning_rate_halves_exactly_twice_at_the_listed_epochs():
    rates = [ref.learning_rate(0.1, epoch, (3, 7)) for epoch in range(10)]
    assert rates == [0.1] * 3 + [0.05] * 4 + [0.025] * 3
    changes = [epoch for epoch in range(1, 10) if rates[epoch] != rates[epoch - 1]]
    assert changes == [3, 7] and rates[-1] == 0.1 / 4  # exactly
    assert ref.learning_rate(0.1, 0, ()) == 0.1
    assert ref.default_decay_epochs(20) == (10, 15) and ref.default_decay_epochs(3) == (1, 2)
    assert ref.default_decay_epochs(2) == (1,) and ref.default_decay_epochs(1) == ()  # too short for two


@pytest.mark.parametrize("momentum", [0.9, 0.0])
def test_sgd_momentum_update_matches_a2_and_is_pure(momentum):
    rng = np.random.default_rng(2)
    w = rng.normal(size=(4, 3))
    ours, theirs = {"learning_rate": 0.1, "momentum": momentum}, {"learning_rate": 0.1, "momentum": momentum}
    w_ours, w_theirs = w.copy(), w.copy()
    for _ in range(5):
        dw = rng.normal(size=w.shape)
        passed, before = w_ours, w_ours.copy()
        w_ours, ours = ref.sgd_momentum_update(w_ours, dw, ours)
        w_theirs, theirs = a2_backprop.momentum_update(w_theirs, dw, theirs)
        np.testing.assert_allclose(w_ours, w_theirs, rtol=0, atol=1e-15)
        np.testing.assert_allclose(ours["velocity"], theirs["velocity"], rtol=0, atol=1e-15)
        np.testing.assert_array_equal(passed, before)  # pure: the argument is left alone
    if momentum == 0:
        np.testing.assert_allclose(w_ours - before, -0.1 * dw, atol=1e-15)


@pytest.mark.parametrize("momentum", [0.9, 0.0])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("hidden", HIDDEN_SIZES, ids=str)
def test_the_fast_training_step_is_the_pure_one(hidden, activation, momentum):
    """train()'s in-place step = mlp_forward + softmax_cross_entropy + mlp_backward + sgd_momentum_update."""
    x, y, params = tiny_problem(hidden, activation, n=8)
    fast = [(w.copy(), b.copy()) for w, b in params]
    step = ref._Step(fast, batch_size=8, activation=activation, momentum=momentum)
    configs = [[{"learning_rate": 0.3, "momentum": momentum} for _ in pair] for pair in params]
    rng = np.random.default_rng(3)
    for _ in range(3):
        rows = rng.permutation(8)
        step.x[...], step.y[...] = x[rows], y[rows]
        loss, correct = step(0.3)
        logits, cache = ref.mlp_forward(x[rows], params, activation)
        expected_loss, dlogits = ref.softmax_cross_entropy(logits, y[rows])
        assert loss == pytest.approx(expected_loss, rel=1e-12)
        assert correct == np.sum(np.argmax(logits, axis=1) == np.argmax(y[rows], axis=1))
        grads = ref.mlp_backward(dlogits, cache, params, activation)
        updated = [
            [ref.sgd_momentum_update(p, g, config) for p, g, config in zip(pair, grad, layer_configs)]
            for pair, grad, layer_configs in zip(params, grads, configs)
        ]
        params = [tuple(p for p, _ in layer) for layer in updated]
        configs = [[config for _, config in layer] for layer in updated]
        for (w, b), (fw, fb) in zip(params, fast):
            np.testing.assert_allclose(fw, w, rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(fb, b, rtol=1e-12, atol=1e-14)


def test_train_refuses_a_batch_size_that_does_not_divide_the_rows():
    x, y, _ = tiny_problem((), "relu", n=10)
    with pytest.raises(ValueError, match="batch_size=4 does not divide the 10 training rows"):
        ref.train(x, y, hidden=(), batch_size=4, epochs=1, decay_epochs=())
    with pytest.raises(ValueError, match="decay_epochs"):
        ref.train(x, y, hidden=(), batch_size=5, epochs=3, decay_epochs=(1, 3))
    with pytest.raises(ValueError, match="activation must be one of"):
        ref.train(x, y, hidden=(), batch_size=5, epochs=1, decay_epochs=(), activation="sigmoid")


def test_train_history_follows_the_schedule():
    x, y, _ = tiny_problem((3,), "relu", n=20)
    params, history = ref.train(x, y, x, y, hidden=(3,), lr=0.08, batch_size=5, epochs=5, decay_epochs=(2, 4))
    assert history["lr"] == [0.08, 0.08, 0.04, 0.04, 0.02]
    assert all(len(values) == 5 for values in history.values())
    assert [w.shape for w, _ in params] == [(5, 3), (3, 3)] and params[0][0].dtype == np.float32


@pytest.mark.parametrize("tqdm_installed", [True, False], ids=["tqdm", "no-tqdm"])
def test_progress_is_a_tqdm_bar_or_nothing(monkeypatch, capsys, tqdm_installed):
    x, y, _ = tiny_problem((3,), "relu", n=20)
    run = {"hidden": (3,), "batch_size": 5, "epochs": 2, "decay_epochs": ()}
    _, quiet = ref.train(x, y, **run)
    if tqdm_installed:
        pytest.importorskip("tqdm")
    else:
        monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # import tqdm.auto now raises ImportError
    _, history = ref.train(x, y, progress=True, **run)
    assert history == quiet
    err = capsys.readouterr().err
    assert ("8/8" in err and "epoch=2" in err) if tqdm_installed else err == ""


# ------------------------------------------------------------------------------ the real quick subset
@pytest.fixture(scope="module")
def quick_mnist(tmp_path_factory):
    source = SOURCE or str(ROOT.parent / "shared" / "data" / "mnist")
    if not SOURCE and not Path(source).is_dir():
        pytest.skip("the real MNIST files are not here: set NNFS_MNIST_SOURCE to a folder or URL holding them")
    out = tmp_path_factory.mktemp("mnist")
    prepare_mnist(out, source=source, quick=True, mirrors=(), log=lambda message: None)
    return load_mnist("train", quick=True, data_dir=out) + load_mnist("test", quick=True, data_dir=out)


QUICK_RUN = {"hidden": (100,), "activation": "relu", "lr": 0.1, "batch_size": 100, "epochs": 10, "seed": 0}
QUICK_THRESHOLD = 0.88  # measured: 0.921 (seeds 0-3: 0.920-0.931); a broken step or schedule lands far below


def test_a_short_run_on_the_quick_subset_learns_and_is_deterministic(quick_mnist):
    x, y, x_test, y_test = quick_mnist
    # One BLAS thread: these small products gain nothing from two, and on a busy machine the threads of a
    # multithreaded BLAS wait for each other (measured: 0.3 s with one thread, 2.4 s with two, per run).
    with threadpool_limits(limits=1):
        params, history = ref.train(x, y, x_test, y_test, **QUICK_RUN)
        _, again = ref.train(x, y, x_test, y_test, **QUICK_RUN)
    assert again == history  # same seed, same history, to the last bit
    assert history["lr"] == [0.1] * 5 + [0.05] * 2 + [0.025] * 3  # halved at epochs 10 // 2 and 3 * 10 // 4
    assert history["train_loss"][-1] < history["train_loss"][0] / 3
    loss, acc = ref.evaluate(x_test, y_test, params, "relu")
    assert acc == history["val_acc"][-1] and loss == history["val_loss"][-1]
    assert acc >= QUICK_THRESHOLD, f"quick-subset test accuracy {acc:.4f} < {QUICK_THRESHOLD}"

"""Assignment 4: MLPs on real MNIST, SGD with momentum and a halving schedule."""

from . import Assignment

SPEC = Assignment(
    name="a4_mnist",
    checks_module="autograder.checks.a4_mnist",
    reference_module="autograder.reference.a4_mnist",
    catalogue_module="catalogue_a4",
    test_cells={
        "tanh": "tanh_tests",
        "tanh_derivative": "tanh_derivative_tests",
        "relu": "relu_tests",
        "relu_derivative": "relu_derivative_tests",
        "sigmoid": "sigmoid_tests",
        "sigmoid_derivative": "sigmoid_derivative_tests",
        "init_mlp": "init_mlp_tests",
        "mlp_forward": "mlp_forward_tests",
        "softmax_cross_entropy": "softmax_cross_entropy_tests",
        "mlp_backward": "mlp_backward_tests",
        "sgd_momentum_update": "sgd_momentum_update_tests",
        "learning_rate": "learning_rate_tests",
        "train": "train_tests",
    },
    data=('mnist',),
    preload=('h5py', 'matplotlib'),
    expected_seconds=9,
    catalogue_minimum=(50, 20),
)

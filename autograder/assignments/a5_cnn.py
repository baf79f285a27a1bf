"""Assignment 5: a TensorFlow-style CNN in NumPy."""

from . import Assignment

SPEC = Assignment(
    name="a5_cnn",
    checks_module="autograder.checks.a5_cnn",
    reference_module="autograder.reference.a5_cnn",
    catalogue_module="catalogue_a5",
    test_cells={
        "tf_padding": "tf_padding_tests",
        "conv2d_forward": "conv2d_forward_tests",
        "conv2d_backward": "conv2d_backward_tests",
        "relu_forward": "relu_forward_tests",
        "relu_backward": "relu_backward_tests",
        "batch_norm_forward": "batch_norm_forward_tests",
        "batch_norm_backward": "batch_norm_backward_tests",
        "max_pool_forward": "max_pool_forward_tests",
        "max_pool_backward": "max_pool_backward_tests",
        "dropout_forward": "dropout_forward_tests",
        "dropout_backward": "dropout_backward_tests",
        "dense_forward": "dense_forward_tests",
        "dense_backward": "dense_backward_tests",
        "softmax_cross_entropy_with_logits": "softmax_cross_entropy_with_logits_tests",
        "l2_loss": "l2_loss_tests",
        "adam_update": "adam_update_tests",
        "cnn_forward": "cnn_forward_tests",
        "cnn_backward": "cnn_backward_tests",
        "train_epoch": "train_epoch_tests",
    },
    data=('mnist',),
    preload=('h5py', 'matplotlib'),
    expected_seconds=27,
    catalogue_minimum=(25, 8),
)

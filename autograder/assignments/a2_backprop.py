"""Assignment 2: backpropagation by hand, a gradient checker, a scalar network and momentum."""

from . import Assignment

SPEC = Assignment(
    name="a2_backprop",
    checks_module="autograder.checks.a2_backprop",
    reference_module="autograder.reference.a2_backprop",
    catalogue_module="catalogue_a2",
    test_cells={
        "grad_wrt_wo": "grad_wrt_wo_tests",
        "grad_wrt_bo": "grad_wrt_bo_tests",
        "grad_wrt_wh": "grad_wrt_wh_tests",
        "grad_wrt_bh": "grad_wrt_bh_tests",
        "numerical_gradient": "numerical_gradient_tests",
        "relative_error": "relative_error_tests",
        "scalar_forward": "scalar_forward_tests",
        "scalar_backward": "scalar_backward_tests",
        "init_params": "init_params_tests",
        "momentum_update": "momentum_update_tests",
        "train": "train_tests",
    },
    preload=('matplotlib', 'sklearn.datasets'),
    expected_seconds=8,
    catalogue_minimum=(20, 8),
)

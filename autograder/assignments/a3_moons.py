"""Assignment 3: an MLP with two sigmoid hidden layers on make_moons."""

from . import Assignment

SPEC = Assignment(
    name="a3_moons",
    checks_module="autograder.checks.a3_moons",
    reference_module="autograder.reference.a3_moons",
    catalogue_module="catalogue_a3",
    test_cells={
        "sigmoid": "sigmoid_tests",
        "init_weights": "init_weights_tests",
        "forward": "forward_tests",
        "backward": "backward_tests",
        "gradient_step": "gradient_step_tests",
        "train": "train_tests",
    },
    preload=('matplotlib', 'sklearn.datasets', 'sklearn.model_selection'),
    expected_seconds=7,
    catalogue_minimum=(20, 8),
)

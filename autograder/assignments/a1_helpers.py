"""Assignment 1: the helpers of a classifier (relu, softmax, a layer, cross-entropy and its gradient, accuracy)."""

from . import Assignment

SPEC = Assignment(
    name="a1_helpers",
    checks_module="autograder.checks.a1_helpers",
    reference_module="autograder.reference.a1_helpers",
    catalogue_module="catalogue_a1",
    test_cells={
        "relu": "relu_tests",
        "softmax": "softmax_tests",
        "compute_layer": "compute_layer_tests",
        "average_ce": "average_ce_tests",
        "grad_ce": "grad_ce_tests",
        "accuracy": "accuracy_tests",
    },
    expected_seconds=0.7,
    catalogue_minimum=(25, 10),
)

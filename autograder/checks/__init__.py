"""Hidden-test checks: ``check_<function>(student_fn) -> points`` or AssertionError naming the mistake.

Hidden-test cells call these, e.g. ``from autograder.checks import check_softmax; check_softmax(softmax)``.
"""

from .a1_helpers import (
    check_accuracy,
    check_average_ce,
    check_compute_layer,
    check_grad_ce,
    check_relu,
    check_softmax,
)

__all__ = [
    "check_accuracy",
    "check_average_ce",
    "check_compute_layer",
    "check_grad_ce",
    "check_relu",
    "check_softmax",
]

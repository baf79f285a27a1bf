"""The check of an SGD-with-momentum update, shared by a2 (momentum_update) and a4 (sgd_momentum_update).

The student's ``update(w, dw, config) -> (w, config)`` is called once per gradient with the config it returned
the step before (``momentum_steps``, the cases' driver), and every step's w is compared with the reference's.
Each assignment words the rule in its own handout's terms (``MomentumWords``); the judging is the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ._core import Failure, close, deduct_modified_input, expect_ok, fmt, shippable


@shippable
def momentum_steps(fn, w, grads, config):
    """Call the student's update once per gradient, passing the config along; return every w."""
    ws = []
    for dw in grads:
        w, config = fn(w, dw, config)
        ws.append(w.copy() if type(w) is np.ndarray else w)
    return tuple(ws)


@dataclass(frozen=True)
class MomentumWords:
    """What the messages say, in the handout's terms."""

    rule: str  # the update, after a wrong first step
    carry: str  # why a later step is wrong
    no_velocity: str  # the whole message for plain gradient descent
    new_array: str  # how to leave w and dw alone
    uphill: str | None = None  # the whole message for a step up the gradient; None: not diagnosed


def momentum_judge(name: str, reference: Callable, tolerance: Callable, words: MomentumWords) -> Callable:
    """The judge of ``name``, an update judged over the steps of ``momentum_steps`` against ``reference``;
    ``tolerance(w)`` is the (rtol, atol) for a case's weights."""

    def judge(cases, outcomes, report):
        for case in cases:
            out = outcomes[case.name]
            expect_ok(name, out, case, returns=tuple)
            w, grads, config = case.args
            want = momentum_steps(reference, w, grads, dict(config))
            lr, momentum = config["learning_rate"], config["momentum"]
            rtol, atol = tolerance(w)
            for step, (g, e) in enumerate(zip(out.value, want)):
                if g.shape != e.shape:
                    raise Failure(f"{name} returned w of shape {g.shape} at step {step + 1}; expected {e.shape}", f"{name}.wrong_shape")
                if close(g, e, rtol, atol):
                    continue
                if words.uphill:
                    uphill = momentum_steps(lambda p, d, c: reference(p, -d, c), w, grads, dict(config))
                    if close(g, uphill[step], rtol, atol):
                        raise Failure(words.uphill, f"{name}.uphill")
                plain = w.astype(np.float64) - lr * np.sum(grads[: step + 1], axis=0)
                if momentum > 0 and close(g, plain, rtol, atol):
                    raise Failure(words.no_velocity, f"{name}.no_velocity")
                if step > 0:
                    raise Failure(
                        f"{name} is right on the first step but wrong from step {step + 1} ('{case.name}'): {words.carry}",
                        f"{name}.velocity_not_carried",
                    )
                raise Failure(f"{name}: after one step on '{case.name}' expected w = {fmt(e)}, got {fmt(g)} ({words.rule})", f"{name}.wrong_values")
        deduct_modified_input(
            report, name, cases, outcomes, ("w", "dw", "config"), only=(0, 1),  # config is state: updating it is fine
            note=lambda case, changed: f"{name} changed its input {', '.join(changed)} in place (test input '{case.name}'): {words.new_array}",
        )

    return judge

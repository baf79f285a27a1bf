"""The package-free stand-in for the grading package, run inside a student's kernel.

Hidden-test cells call ``check_softmax(softmax)``. Under plain ``nbgrader autograde`` that is the real
check (autograder/checks), judging in the student's kernel. Under ``nnfs grade`` the kernel holds no
grading package at all: a first cell (added by InjectStandIn, removed again by JudgeOutside, judging.py)
defines the modules the hidden-test cells import (the assignment spec's ``checks_module``, e.g.
``autograder.checks.a1_helpers``, and its parent packages) whose
``check_<name>`` functions only call the student's functions on this assignment's check inputs and hand
back what they returned as plain data, as one output of the test cell (``ANSWER_MIME``). Nothing of the
references, of the judges or of another assignment is in the kernel.

This file's STANDIN source runs in the kernel: it may use only the standard library, numpy and IPython. With it go
the sources of two modules of the same kind: wire.py (the data's encoding) and checks/_call.py (how a student's
function is called, the same code ``_core.run_case`` uses).
"""

from __future__ import annotations

import functools
import inspect
import json

from ...assignments import spec
from ...checks import _call
from . import wire
from .wire import ANSWER_MIME


STANDIN = r'''
def install(request, module_name, answer_mime, wire_source, call_source, modules, publish=None):
    """Put the module ``module_name`` and its parent packages into ``modules`` (sys.modules in a kernel),
    with one check_<name> per check of the request in it and in its parent."""
    import json, math, types, functools
    import numpy as np

    wire, call = {}, {}
    exec(wire_source, wire)
    exec(call_source, call)
    shipped = {}
    for source in request["functions"].values():
        exec(source, {"np": np, "math": math, "functools": functools}, shipped)

    def send(answer):
        text = json.dumps(answer)  # a string: NaN is not valid JSON in Jupyter's messages
        if publish is not None:
            return publish(text)
        from IPython import get_ipython
        from IPython.display import publish_display_data
        shell = get_ipython()
        kernel = getattr(shell, "kernel", None)
        if kernel is not None:
            # Sent copied: pyzmq sends a large frame zero-copy, which starts a thread, and a student who
            # used up the process cap (threads count) would otherwise silence the answer.
            kernel.session.copy_threshold = 1 << 62
        publish_display_data({answer_mime: text})

    def run(name, fns):
        needs = request["needs"][name]
        cases = request["checks"][name]
        if len(fns) != len(needs):
            return [{"error": "check_" + name + " was called with " + str(len(fns)) + " functions; it takes "
                     + ", ".join(needs)}] * len(cases)
        wrong = [text for text in map(call["not_a_function"], needs, fns) if text]
        if wrong:
            return [{"error": "; ".join(wrong)}] * len(cases)
        fn = fns[0] if len(fns) == 1 else tuple(fns)
        out = []
        for case in cases:
            args = wire["decode"](case["args"], shipped)
            driver = shipped[case["call"]] if case["call"] else None
            # Encoded inside the call, as _core.run_case converts inside it: encoding can run the student's code.
            row, error = call["call_quietly"](lambda: {
                "value": wire["encode"](driver(fn, *args) if driver else fn(*args)),
                "args": wire["encode"](tuple(args)),
            })
            out.append(row if error is None else {"error": error})
        return out

    def make(name):
        def check(*fns):
            send({"check": name, "rows": run(name, fns)})
        check.__name__ = check.__qualname__ = "check_" + name
        check.__doc__ = "Runs " + name + " on the hidden tests' inputs; the grader judges what it returned."
        return check

    parts = module_name.split(".")
    made = []
    for i, part in enumerate(parts):
        module = types.ModuleType(".".join(parts[: i + 1]))
        if i < len(parts) - 1:
            module.__path__ = []  # a package
        if made:
            setattr(made[-1], part, module)
        made.append(module)
    for name in request["checks"]:
        function = make(name)
        for module in made[-2:]:  # ``from autograder.checks import check_softmax`` works too
            setattr(module, function.__name__, function)
    modules.update({module.__name__: module for module in made})
'''


def request(assignment: str) -> dict:
    """This assignment's check inputs, encoded, and the trusted helper functions its cases use."""
    from ...checks import _core

    checks = spec(assignment).checks()
    helpers = _core.shippable_helpers(checks)  # {qualname: source}, this assignment's only
    out = {"checks": {}, "functions": {}, "needs": {}}
    for name, check in checks.items():
        out["needs"][name] = list(check.functions)
        if len(check.functions) > 1 and not all(case.call for case in check.cases()):
            raise RuntimeError(f"{assignment}.{name}: a check that needs several functions needs a driver for every case")
        cases = []
        for case in check.cases():
            call = case.call.__qualname__ if case.call else None
            if call and call not in helpers:
                raise RuntimeError(f"{assignment}.{name}: case driver {call} is not @shippable")
            cases.append({"args": wire.encode(tuple(case.args), helpers)["$tuple"], "call": call})
        out["checks"][name] = cases
    # Only the helpers this assignment's cases use: another assignment's (and their code) stay out.
    used = set()
    _helpers_named(out["checks"], used)
    out["functions"] = {name: helpers[name] for name in sorted(used)}
    return out


def _helpers_named(obj, found: set) -> None:
    """The trusted helpers an encoded request names ($fn, $partial, a case's driver), into ``found``."""
    if isinstance(obj, dict):
        for key in ("$fn", "$partial", "call"):
            if isinstance(obj.get(key), str):
                found.add(obj[key])
        for value in obj.values():
            _helpers_named(value, found)
    elif isinstance(obj, list):
        for value in obj:
            _helpers_named(value, found)


@functools.lru_cache(maxsize=8)
def cell_source(assignment: str) -> str:
    """The first cell's source: the stand-in with this assignment's request written into it. Made once
    per assignment and process: inputs are deterministic."""
    text = json.dumps(request(assignment))
    wire_source, call_source = inspect.getsource(wire), inspect.getsource(_call)
    return (
        "import sys as _nnfs_sys, json as _nnfs_json\n_nnfs_standin = {}\n"
        f"exec({STANDIN!r}, _nnfs_standin)\n"
        f"_nnfs_standin['install'](_nnfs_json.loads({text!r}), {spec(assignment).checks_module!r}, {ANSWER_MIME!r}, {wire_source!r}, {call_source!r}, _nnfs_sys.modules)\n"
        "del _nnfs_sys, _nnfs_json, _nnfs_standin\n"
    )


def run_in_process(assignment: str, name: str, fns: tuple) -> list:
    """The rows check_<name> of the stand-in sends for these functions, run in this process (for tests:
    the same source, wire and encoding as in a kernel; the real package's modules are left alone)."""
    answers, modules, namespace = [], {}, {}
    exec(STANDIN, namespace)
    module = spec(assignment).checks_module
    namespace["install"](request(assignment), module, ANSWER_MIME, inspect.getsource(wire), inspect.getsource(_call), modules, answers.append)
    getattr(modules[module], f"check_{name}")(*fns)
    (answer,) = answers
    return json.loads(answer)["rows"]

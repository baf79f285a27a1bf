"""One way to call a student's function: ``_core.run_case`` and the stand-in that ``nnfs grade`` puts into the
student's kernel both use checks/_call.py, whose source the stand-in receives as it receives wire.py's."""

import ast
import inspect
import sys
import warnings

import numpy as np
import pytest

from autograder.checks import _call, check_relu
from autograder.grading.judging import judge as judging, standin, wire


def _imports(source: str) -> set:
    """The top-level packages a source imports; a relative import shows as "." (the grading package)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add("." if node.level else node.module.split(".")[0])
    return found


@pytest.mark.parametrize("source, allowed", [
    (inspect.getsource(_call), {"numpy"}),
    (inspect.getsource(wire), {"numpy"}),
    (standin.STANDIN, {"numpy", "IPython"}),
])
def test_what_goes_into_the_kernel_imports_only_the_standard_library_and_numpy(source, allowed):
    imported = _imports(source)
    assert "numpy" in imported or "IPython" in imported  # the walk sees imports at all
    assert imported - set(sys.stdlib_module_names) <= allowed, imported


def test_the_import_walk_sees_relative_and_package_imports():
    assert _imports("from . import wire\nfrom ..checks import _core\nimport autograder.reference") == {".", "autograder"}


def _raise(exc):
    def fn(*_):
        raise exc

    return fn


@pytest.mark.parametrize("exc, error", [
    (ValueError("operands could not be broadcast together with shapes (3,) (4,) "), "raised ValueError: operands could not be broadcast together with shapes (3,) (4,)"),
    (RuntimeError("first line:\nsecond line"), "raised RuntimeError: first line"),
    (KeyError("W1"), "raised KeyError: 'W1'"),
    (NotImplementedError(), "raised NotImplementedError"),
    (SystemExit(0), "raised SystemExit: 0"),
])
def test_a_raise_is_one_line_and_reads_the_same_in_process_and_through_the_stand_in(exc, error):
    assert _call.call_quietly(_raise(exc)) == (None, error)
    in_process = check_relu.run(_raise(exc))
    through_the_stand_in = judging.judge_rows(check_relu, standin.run_in_process("a1_helpers", "relu", (_raise(exc),)))
    assert in_process.notes == through_the_stand_in.notes and in_process.score == through_the_stand_in.score == 0
    assert error in in_process.notes[0], in_process.notes


def test_keyboard_interrupt_stops_the_check_both_ways():
    """nbgrader's timeout interrupts the kernel: that must stop the cell, not be graded as a raise."""
    with pytest.raises(KeyboardInterrupt):
        check_relu.run(_raise(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        standin.run_in_process("a1_helpers", "relu", (_raise(KeyboardInterrupt()),))


def test_the_stand_in_keeps_prints_and_warnings_off_stderr(capfd):
    def noisy_relu(x):
        print("debugging", file=sys.stderr)
        warnings.warn("student warning")
        np.log(np.zeros(1))  # a numpy warning
        return np.maximum(x, 0)

    rows = standin.run_in_process("a1_helpers", "relu", (noisy_relu,))
    assert judging.judge_rows(check_relu, rows).score == check_relu.points
    out, err = capfd.readouterr()
    assert err == "" and "debugging" not in out



def test_numpy_rebound_by_the_student_does_not_reach_the_quiet_call(monkeypatch, capfd):
    """A notebook whose earlier cell replaces np.errstate runs after the package is imported and after the
    stand-in's cell has installed itself: the quiet call still silences numpy's warnings, both ways."""
    import json

    def relu_with_a_warning(x):
        np.log(np.zeros(1))
        return np.maximum(x, 0)

    answers, modules, namespace = [], {}, {}
    exec(standin.STANDIN, namespace)  # as the stand-in's first cell does, before any of the student's cells
    namespace["install"](standin.request("a1_helpers"), "autograder.checks.a1_helpers", wire.ANSWER_MIME,
                         inspect.getsource(wire), inspect.getsource(_call), modules, answers.append)
    monkeypatch.setattr(np, "errstate", None)
    assert check_relu.run(relu_with_a_warning).score == check_relu.points
    modules["autograder.checks.a1_helpers"].check_relu(relu_with_a_warning)
    rows = json.loads(answers[0])["rows"]
    assert all("error" not in row for row in rows), rows
    monkeypatch.undo()
    assert judging.judge_rows(check_relu, rows).score == check_relu.points
    assert capfd.readouterr().err == ""

"""Out-of-process verification: re-run the hidden checks where the student's code cannot reach them.

Student code shares a kernel with nbgrader's test cells, so it can patch numpy, the grading package or
IPython and make a wrong answer score. Verification runs the student's own cells again in a fresh
sandboxed kernel in which the ``autograder`` package does not exist (so nothing in it can be imported,
patched or copied), then a self-contained probe calls each graded function on the checks' inputs and
writes back what it returned as plain data (arrays as .npy bytes, numbers, lists, dicts; never pickles).
Here, in the grading process, that data is turned into Outcomes and judged by the same judges as the
hidden tests. Inputs are deterministic, so the two runs must agree; when they do not, the verified
score is the one reported and the difference is flagged.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json

from ..checks._core import SHIPPABLE, Outcome, _unchanged
from . import wire

PROBE_MAIN = r'''
def _nnfs_probe():
    import contextlib, io, json, math, warnings, functools
    import numpy as np

    request = _nnfs_request
    shipped = {}
    for source in request["functions"].values():
        exec(source, {"np": np, "math": math, "functools": functools}, shipped)
    results = {}
    for name, cases in request["checks"].items():
        needs = request["needs"][name]
        fns = [globals().get(n) for n in needs]
        missing = [n for n, f in zip(needs, fns) if not callable(f)]
        fn = fns[0] if len(fns) == 1 else tuple(fns)
        out = []
        for case in cases:
            if missing:
                out.append({"error": "is not defined (run its cell, and keep its name)" if missing == [name] else
                            "cannot be checked: " + ", ".join(missing) + " is not defined (run its cell, and keep its name)"})
                continue
            args = _nnfs_wire["decode"](case["args"], shipped)
            call = shipped[case["call"]] if case["call"] else None
            sink = io.StringIO()
            try:
                with warnings.catch_warnings(), np.errstate(all="ignore"), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                    warnings.simplefilter("ignore")
                    value = call(fn, *args) if call else fn(*args)
                out.append({"value": _nnfs_wire["encode"](value), "args": _nnfs_wire["encode"](tuple(args))})
            except (Exception, SystemExit) as exc:
                text = str(exc).strip()
                out.append({"error": "raised " + type(exc).__name__ + (": " + text.splitlines()[0] if text else "")})
        results[name] = out
    # The answer leaves through this cell's own output, never a file: nothing a student's earlier cells
    # left behind (a pre-written, read-only or linked file) can stand in for it. A string, as JSON with
    # NaN in it is not valid JSON for Jupyter's messages.
    # Sent copied: pyzmq sends a large frame zero-copy, which starts a thread, and a student who used up
    # the process cap (threads count) would otherwise silence the answer.
    from IPython import get_ipython
    from IPython.display import publish_display_data
    get_ipython().kernel.session.copy_threshold = 1 << 62
    publish_display_data({ANSWER_MIME: json.dumps(results)})


_nnfs_probe()
'''.replace("ANSWER_MIME", repr("text/x-nnfs-probe-answer"))

ANSWER_MIME = "text/x-nnfs-probe-answer"  # the probe's one output that is read as its answer

# The probe cell, less its request: the wire module's own source (run in a private namespace) and the loop above.
PROBE = f"_nnfs_wire = {{}}\nexec({inspect.getsource(wire)!r}, _nnfs_wire)\n" + PROBE_MAIN


@functools.lru_cache(maxsize=8)
def probe_cell(assignment: str) -> str:
    """The probe cell's source with its request (this assignment's check inputs, and nothing of another
    assignment's) written into it. Made once per assignment and process: inputs are deterministic."""
    request = json.dumps(probe_request(assignment))
    return f"import json as _nnfs_json\n_nnfs_request = _nnfs_json.loads({request!r})\ndel _nnfs_json\n" + PROBE


def probe_answer(cell) -> tuple[dict | None, str]:
    """(answer, problem) from the executed probe cell: its one output of ANSWER_MIME, parsed."""
    answers = [o for o in cell.get("outputs", []) if o.get("output_type") == "display_data" and ANSWER_MIME in o.get("data", {})]
    if not answers:
        return None, "the verification run produced no results (its kernel died or was stopped)"
    if len(answers) > 1:
        return None, "the verification run's answer appeared more than once (something printed in its place)"
    text = answers[0]["data"][ANSWER_MIME]
    try:
        answer = json.loads("".join(text) if isinstance(text, list) else text)
    except (ValueError, TypeError):
        return None, "the verification run's answer was not readable"
    if not isinstance(answer, dict):
        return None, "the verification run's answer was not readable"
    return answer, ""


def probe_request(assignment: str) -> dict:
    """The probe's input: every check's cases (encoded) and the trusted helper functions they use."""
    checks = importlib.import_module(f"autograder.checks.{assignment}").CHECKS
    request = {"checks": {}, "functions": {}, "needs": {}}
    for name, check in checks.items():
        request["needs"][name] = list(check.functions)
        if len(check.functions) > 1 and not all(case.call for case in check.cases()):
            raise RuntimeError(f"{assignment}.{name}: a check that needs several functions needs a driver for every case")
        cases = []
        for case in check.cases():
            call = case.call.__qualname__ if case.call else None
            if call and call not in SHIPPABLE:
                raise RuntimeError(f"{assignment}.{name}: case driver {call} is not @shippable")
            cases.append({"args": wire.encode(tuple(case.args), SHIPPABLE)["$tuple"], "call": call})
        request["checks"][name] = cases
    # Only the helpers this assignment's cases use: another assignment's (and their code) stay out.
    used = set()
    _helpers_named(request["checks"], used)
    request["functions"] = {name: SHIPPABLE[name] for name in sorted(used)}
    return request


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


def judge_probe(assignment: str, probe_out: dict) -> dict:
    """{function: (score, max, notes)} from the probe's output, judged here with the trusted checks."""
    checks = importlib.import_module(f"autograder.checks.{assignment}").CHECKS
    verdicts = {}
    for name, check in checks.items():
        outcomes = {}
        rows = probe_out.get(name, [])
        for case, row in zip(check.cases(), rows):
            if "error" in row:
                outcomes[case.name] = Outcome(error=row["error"])
                continue
            value = wire.decode(row["value"])
            after = wire.decode(row["args"])
            try:
                plain, was_scalar, error = check.convert(value)
            except Exception as exc:  # a converter meeting a shape it did not expect
                plain, was_scalar, error = None, False, f"returned something unusable ({type(exc).__name__})"
            mutated = tuple(
                i for i, (orig, now) in enumerate(zip(case.args, after)) if not callable(orig) and not _unchanged(orig, now)
            )
            outcomes[case.name] = Outcome(value=plain, was_scalar=was_scalar, error=error, mutated=mutated)
        if len(outcomes) < len(check.cases()):
            verdicts[name] = (0.0, float(check.points), ["the verification run did not reach this function"])
            continue
        report = check.evaluate(outcomes)
        verdicts[name] = (float(round(report.score, 2)), float(check.points), report.notes)
    return verdicts


def verification_notebook(release_nb, submitted_nb, assignment: str):
    """The student's notebook without its test cells, locked cells restored from the release, the
    instructor's unchanged demo cells left out (they only cost time), and the probe at the end."""
    import nbformat

    released = {}
    demo_sources = set()
    for cell in release_nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if "grade_id" in meta:
            released[meta["grade_id"]] = cell
        elif cell.cell_type == "code":
            demo_sources.add(cell.source.strip())
    cells = []
    for cell in submitted_nb.cells:
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id")
        if grade_id in released and released[grade_id].metadata["nbgrader"].get("grade"):
            continue  # test cells: nothing to verify there, and students could have edited them
        if grade_id in released and released[grade_id].metadata["nbgrader"].get("locked"):
            cells.append(nbformat.v4.new_code_cell(released[grade_id].source))
        elif grade_id is None and cell.source.strip() in demo_sources:
            continue
        else:
            cells.append(nbformat.v4.new_code_cell(cell.source))
    cells.append(nbformat.v4.new_code_cell(probe_cell(assignment)))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


__all__ = ["ANSWER_MIME", "PROBE", "judge_probe", "probe_answer", "probe_cell", "probe_request", "verification_notebook"]

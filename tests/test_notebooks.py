"""Static checks on every source/release notebook pair: structure, points, leaks, dependencies."""

import ast
import importlib
import re
import sys

import numpy as np
import pytest

from autograder.assignments import spec
from autograder.checks._core import _Watched, run_case
from notebooks import HIDDEN, SOLUTION, assignments, by_id, cells, nbgrader_meta, read, solution_text

ASSIGNMENTS = assignments()
# What a student has: numpy, matplotlib, scikit-learn, h5py, and the standard library.
STUDENT_PACKAGES = {"numpy", "matplotlib", "sklearn", "h5py"}
# Nice to have (progress bars); a release may import them only where it works on without them.
OPTIONAL_PACKAGES = {"tqdm"}


def _checks_module(assignment):
    return importlib.import_module(spec(assignment).checks_module)


def test_every_assignment_has_a_release():
    assert ASSIGNMENTS, "no source notebooks found"
    for a in ASSIGNMENTS:
        read("release", a)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_cells_have_unique_ids_and_schema_3(assignment):
    nb = read("source", assignment)
    ids = [nbgrader_meta(c)["grade_id"] for c in nb.cells if nbgrader_meta(c)]
    assert len(ids) == len(set(ids))
    assert all(nbgrader_meta(c)["schema_version"] == 3 for c in nb.cells if nbgrader_meta(c))


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_each_autograded_function_has_a_test_cell_with_visible_and_hidden_tests(assignment):
    nb = read("source", assignment)
    points = _checks_module(assignment).POINTS
    cell_of = by_id(nb)
    for name, pts in points.items():
        assert name in cell_of, f"no solution cell '{name}'"
        test = cell_of.get(spec(assignment).test_cell(name))
        assert test is not None, f"no test cell '{spec(assignment).test_cell(name)}'"
        meta = nbgrader_meta(test)
        assert meta["grade"] and meta["locked"] and not meta["solution"]
        assert meta["points"] == pts, f"{name}: the notebook gives {meta['points']} points, the check {pts}"
        visible = HIDDEN.sub("", test.source)
        assert "assert " in visible, f"{name}: the test cell has no visible asserts"
        hidden = HIDDEN.findall(test.source)
        assert len(hidden) == 1, f"{name}: expected one hidden block"
        # The hidden block is a call, so feedback shows no test data; it is the cell's last expression.
        importing, calling = hidden[0].strip().splitlines()
        assert re.fullmatch(rf"from autograder\.checks(\.{assignment})? import check_{name}", importing), importing
        assert calling == f"check_{name}({', '.join(_checks_module(assignment).CHECKS[name].functions)})"
        assert test.source.rstrip().endswith("### END HIDDEN TESTS")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_total_points_and_integrity_declaration(assignment):
    nb = read("source", assignment)
    graded = cells(nb, grade=True)
    total = sum(nbgrader_meta(c)["points"] for c in graded)
    assert total == sum(_checks_module(assignment).POINTS.values()) + sum(
        nbgrader_meta(c)["points"] for c in graded if nbgrader_meta(c)["solution"]
    )
    integrity = by_id(nb)["integrity"]
    assert integrity.cell_type == "markdown" and nbgrader_meta(integrity)["points"] == 0
    assert nbgrader_meta(integrity)["grade"] and nbgrader_meta(integrity)["solution"]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_has_no_solutions_and_no_hidden_tests(assignment):
    source, release = read("source", assignment), read("release", assignment)
    text = "\n".join(c.source for c in release.cells)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "autograder", "check_"):
        assert marker not in text, f"release/{assignment} contains {marker!r}"
    public = "\n".join(SOLUTION.sub("", c.source) for c in source.cells)  # text students may see anyway
    for cell in source.cells:
        for block in SOLUTION.findall(cell.source):
            for line in block.splitlines():
                line = line.strip()
                if len(line) > 12 and not line.startswith(("#", '"""')) and line not in public:
                    assert line not in text, f"solution line leaked into the release: {line!r}"
    release_ids = by_id(release)
    for grade_id, cell in by_id(source).items():
        assert grade_id in release_ids, f"release lost cell {grade_id}"
        if nbgrader_meta(cell).get("solution") and cell.cell_type == "code":
            assert "raise NotImplementedError()" in release_ids[grade_id].source


def _guarded_imports(tree):
    """Import nodes inside a `try:` whose handler catches ImportError: the notebook works without them."""
    guarded = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try):
            caught = {getattr(h.type, "id", None) for h in node.handlers}
            if caught & {"ImportError", "ModuleNotFoundError"}:
                guarded |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return guarded


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_needs_only_the_students_packages(assignment):
    release = read("release", assignment)
    stdlib = set(sys.stdlib_module_names)
    for cell in release.cells:
        if cell.cell_type != "code":
            continue
        tree = ast.parse(cell.source)
        guarded = _guarded_imports(tree)
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in OPTIONAL_PACKAGES and id(node) in guarded:
                    continue  # try: from tqdm.auto import tqdm / except ImportError: a plain loop instead
                assert top in STUDENT_PACKAGES or top in stdlib, f"release/{assignment} imports {name}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_has_no_outputs(assignment):
    for cell in read("release", assignment).cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_cells_agree_with_the_reference(assignment):
    """The source notebook's solutions are the student-facing version of autograder.reference."""
    nb = read("source", assignment)
    reference = importlib.import_module(spec(assignment).reference_module)
    checks = _checks_module(assignment)
    namespace = {}
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type == "code" and (meta.get("solution") or (meta.get("locked") and not meta.get("grade"))):
            exec(compile(solution_text(cell.source), f"<{assignment}:{meta['grade_id']}>", "exec"), namespace)
    for name, points in checks.POINTS.items():
        check = checks.CHECKS[name]
        ours_fns = tuple(namespace[n] for n in check.functions)
        theirs_fns = tuple(getattr(reference, n) for n in check.functions)
        assert check(*ours_fns) == points
        for case in check.cases():
            ours = run_case(ours_fns if len(ours_fns) > 1 else ours_fns[0], case, check.convert)
            theirs = run_case(theirs_fns if len(theirs_fns) > 1 else theirs_fns[0], case, check.convert)
            assert ours.ok and theirs.ok, (ours.error, theirs.error)
            _assert_same(ours.value, theirs.value, f"{name} on {case.name}")


def _assert_same(a, b, where):
    assert type(a) is type(b), where
    if isinstance(a, _Watched):  # a watched backward driver's value, with what it changed in the forward's inputs
        assert a.changed == b.changed, where
        a, b = a.value, b.value
        assert type(a) is type(b), where
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}[{k}]")
    elif isinstance(a, tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
    else:
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15, err_msg=where)


def test_hidden_blocks_call_only_checks():
    for a in ASSIGNMENTS:
        for cell in cells(read("source", a), grade=True, solution=False):
            for block in HIDDEN.findall(cell.source):
                assert not re.search(r"np\.|\[|assert", block), f"{a}: hidden block has test data: {block!r}"


def _mutant_name(fn):
    return "+".join(f.__name__ for f in fn) if isinstance(fn, tuple) else fn.__name__


def _partially_right_mutants():
    from test_catalogues import MUTANTS  # (assignment, function, mutant, score, fragment, mistake ids)

    return [m[:5] for m in MUTANTS if m[3] > 0]


@pytest.mark.parametrize(
    "assignment, function, mutant, score, fragment", _partially_right_mutants(), ids=[_mutant_name(m[2]) for m in _partially_right_mutants()]
)
def test_visible_tests_pass_code_that_earns_partial_credit(assignment, function, mutant, score, fragment, capsys):
    """A visible assert that fails zeroes the whole cell, so it must never fail where the hidden check
    gives partial credit (an input changed in place, an edge case): that must be a printed warning."""
    import matplotlib

    matplotlib.use("Agg")
    check = _checks_module(assignment).CHECKS[function]
    # A tuple entry replaces every function the check needs (a forward/backward pair), else just one.
    overrides = dict(zip(check.functions, mutant)) if isinstance(mutant, tuple) else {function: mutant}
    namespace = {}
    for cell in read("source", assignment).cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type != "code" or not meta:
            continue
        if meta.get("solution") or meta.get("locked") and not meta.get("grade"):
            exec(compile(solution_text(cell.source), meta["grade_id"], "exec"), namespace)
            namespace.update(overrides)
        elif meta.get("grade"):
            visible = HIDDEN.sub("", cell.source)
            exec(compile(visible, meta["grade_id"], "exec"), namespace)
            if meta["grade_id"] == spec(assignment).test_cell(function):
                break
    else:
        pytest.fail(f"no test cell for {function}")

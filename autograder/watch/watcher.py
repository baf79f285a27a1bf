"""The watcher's loop: read inbound, grade practice fairly and within the rate limit, grade finals after
the deadline, release every page. One ``step()`` is one pass; ``run()`` repeats it.

Order of a step, chosen so that a kill at any point loses nothing and grades nothing twice (state.py):
1. new inbound entries are copied (inbound.keep) and only then recorded;
2. for each student and assignment still before their deadline, only the latest submission is graded
   (older ones waiting are ``superseded``): a student who submits twenty times in a minute is one
   submission in the queue, like everyone else; students are taken oldest-waiting first, one each per round;
3. over the rate limit, a submission waits (``not_before``) and its page says when it will be graded;
4. a batch is marked ``grading`` and saved, graded by ``coordinator.grade`` in the practice course, and each
   result is released and recorded at once;
5. after a student's deadline, their last on-time submission (else their latest) is put in the real course's
   ``submitted/`` and graded there, the usual way; its page is that grading's feedback page.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from pathlib import Path

from ..grading.orchestration import pipeline
from ..grading.orchestration.course import Course
from ..grading.orchestration.untrusted import for_terminal
from ..term import deadlines, penalties, store
from . import feedback, inbound, settings
from .state import MAX_ATTEMPTS, State

WATCH_DIR = "watch"
# How much later than the deadline a submission's files may have been written (their ctime) and it still be on
# time when its timestamp.txt says so: the clocks of a student's server and of the exchange's file server may
# differ by this much. A student backdating timestamp.txt gains at most this.
CLOCK_TOLERANCE = dt.timedelta(seconds=60)
FINAL_NOTE = "final grade from the submission of "


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(dt.timezone.utc).isoformat()


def _moment(text: str | None) -> dt.datetime | None:
    return None if not text else deadlines.from_iso(text)


def is_late(entry: dict, deadline: dt.datetime | None, check_written_at: bool = True) -> bool:
    """After the student's deadline: by its timestamp.txt (nbgrader's rule; at the deadline is on time), or by
    when its files were written, if that is later than the deadline by more than CLOCK_TOLERANCE (a backdated
    timestamp). A submission without a readable timestamp is never late, as in nnfs grade."""
    if deadline is None:
        return False
    stamp, written = _moment(entry.get("timestamp")), _moment(entry.get("written_at"))
    if stamp is not None and stamp > deadline:
        return True
    return check_written_at and stamp is not None and written is not None and written > deadline + CLOCK_TOLERANCE


class Watcher:
    def __init__(self, course: Course, exchange_root: Path, course_id: str, assignments: list[str], *, jobs=None,
                 scheduler=None, limits=None, now=utc_now, log=print, allow_unsandboxed=False):
        self.course, self.assignments = course, list(assignments)
        self.exchange_course = Path(exchange_root) / course_id
        self.jobs, self.scheduler, self.limits = jobs, scheduler, limits
        self.now, self.log, self.allow_unsandboxed = now, log, allow_unsandboxed
        self._said: set[str] = set()
        self.folder = course.root / WATCH_DIR
        self.folder.mkdir(exist_ok=True)
        self._lock = self._only_watcher()
        self.settings = settings.load(course)
        self.check_owner = bool(course.config().CollectApp.get("check_owner", True))
        self.state = State(self.folder / "state.json")
        self.practice = self._practice_course()
        for key in self.state.resume():
            self.log(for_terminal(f"resuming: {self._who(self.state.entries[key])} was being graded when the watcher stopped; graded again"))
        self.state.save()

    # ---------------------------------------------------------------------------- set-up
    def _only_watcher(self):
        """An exclusive lock on watch/lock for this process's life (the OS drops it when the process dies, kill -9
        included): two watchers on one course would grade the same submissions twice."""
        import fcntl

        handle = open(self.folder / "lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise SystemExit(f"another nnfs watch is running on {self.course.root} (it holds {self.folder / 'lock'}): stop it first") from None
        return handle

    def _practice_course(self) -> Course:
        """watch/practice/: a course of its own (source, config, gradebook), so that practice grading never
        writes the real gradebook, grading_status.json or feedback/. Its source is refreshed at start-up."""
        root = self.folder / "practice"
        for assignment in self.assignments:
            dest = root / "source" / assignment
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(self.course.root / "source" / assignment, dest)
        config = self.course.root / "nbgrader_config.py"
        if config.is_file():
            shutil.copy2(config, root / "nbgrader_config.py")
        return Course(root)

    # ---------------------------------------------------------------------------- time
    def deadline(self, term: dict, student: str, assignment: str) -> dt.datetime | None:
        """The student's deadline (the due date plus their extension), aware UTC, or None (no due date)."""
        due = term["due"].get(assignment, {}).get("utc")
        if not due:
            return None
        due_utc = deadlines.from_iso(due)
        ext = deadlines.extension_delta(term["extensions"].get(assignment, {}).get(student), due_utc)
        return due_utc + (ext or dt.timedelta(0))

    def _show(self, term: dict, assignment: str, moment: dt.datetime | None) -> str:
        if moment is None:
            return ""
        return deadlines.show(moment, term["due"].get(assignment, {}).get("tz", "UTC"))

    def _who(self, entry: dict) -> str:
        return f"{entry['student']} {entry['assignment']} (submitted {entry['timestamp'] or 'at an unknown time'})"

    # ---------------------------------------------------------------------------- 1. read inbound
    def scan(self, term: dict) -> int:
        inbox = self.exchange_course / "inbound"
        new = 0
        for name in inbound.entry_names(inbox):
            key = inbound.entry_key(name)
            if key in self.state.entries:
                continue
            parsed = inbound.parse_name(name, self.assignments)
            if parsed is None:
                continue
            student, assignment = parsed
            tz_name = term["due"].get(assignment, {}).get("tz", "UTC")
            sub = inbound.read(inbox, name, student, assignment, self.check_owner, tz_name)
            inbound.keep(self.folder / "submissions", sub)
            entry = {
                "student": sub.student, "assignment": assignment, "name": sub.name, "timestamp": _iso(sub.timestamp),
                "written_at": _iso(sub.written_at),
                "seen": _iso(self.now()), "secret_hash": feedback.page_name(sub.secret, assignment) if sub.secret else "",
                "attempts": 0, "reason": sub.refusal, "note": sub.note, "page": "",
            }
            late = is_late(entry, self.deadline(term, sub.student, assignment), self.settings.check_written_at)
            entry["status"] = "refused" if sub.refusal else ("late" if late else "queued")
            self.state.entries[key] = entry
            self.state.save()  # kept, then recorded: a kill between the two copies it again, under the same key
            new += 1
            self.log(for_terminal(f"{self._clock()} received {self._who(entry)}: {entry['status']}" + (f" ({sub.refusal})" if sub.refusal else "")))
            if sub.refusal:
                self._release(entry, feedback.notice_page(assignment, "Not graded", self._show(term, assignment, sub.timestamp), "",
                                                          f"This submission cannot be graded: {sub.refusal}.", "Submit again."), "refused")
        return new

    # ---------------------------------------------------------------------------- 2-3. plan
    def _practice_times(self, student: str, assignment: str, since: dt.datetime) -> list[dt.datetime]:
        return sorted(t for e in self.state.entries.values()
                      if e["student"] == student and e["assignment"] == assignment and e["status"] == "practice"
                      and (t := _moment(e.get("graded_at"))) is not None and t > since)

    def plan(self, term: dict) -> list[str]:
        """The keys to grade as practice now: at most one per student and assignment, oldest waiting first."""
        now = self.now()
        window = dt.timedelta(hours=self.settings.window_hours)
        by_student: dict[tuple, list[str]] = {}
        for e in self.state.entries.values():
            if e["status"] == "late" and not e.get("page"):  # an extension granted since: on time after all
                deadline = self.deadline(term, e["student"], e["assignment"])
                if deadline is not None and now <= deadline and not is_late(e, deadline, self.settings.check_written_at):
                    e["status"] = "queued"
        for key, e in self.state.entries.items():
            if e["status"] in ("queued", "waiting"):
                by_student.setdefault((e["student"], e["assignment"]), []).append(key)
        chosen = []
        for (student, assignment), keys in by_student.items():
            keys.sort(key=lambda k: (self.state.entries[k]["timestamp"] or "", self.state.entries[k]["seen"]))
            latest = keys[-1]
            for older in keys[:-1]:
                self._supersede(term, older, latest)
            entry = self.state.entries[latest]
            deadline = self.deadline(term, student, assignment)
            if deadline is not None and now > deadline:
                entry["status"] = "closed"  # on time, but its turn came after the deadline: the final grading decides
                continue
            if entry["attempts"] >= MAX_ATTEMPTS:
                entry["status"], entry["reason"] = "error", f"grading stopped {MAX_ATTEMPTS} times on this submission"
                self._release(entry, feedback.notice_page(assignment, "Not graded", self._show(term, assignment, _moment(entry["timestamp"])), "",
                                                          "Grading this submission failed repeatedly; your instructor has been told. Submit again."), "error")
                self.log(for_terminal(f"{self._clock()} {self._who(entry)}: {entry['reason']}"))
                continue
            recent = self._practice_times(student, assignment, now - window)
            if len(recent) >= self.settings.practice_feedbacks:
                next_at = recent[-self.settings.practice_feedbacks] + window
                if entry["status"] != "waiting" or entry.get("not_before") != _iso(next_at):
                    entry["status"], entry["not_before"] = "waiting", _iso(next_at)
                    self._release(entry, self._limited_page(term, entry, len(recent), next_at), "waiting")
                    self.log(for_terminal(f"{self._clock()} {self._who(entry)}: over the rate limit, next feedback at {_iso(next_at)}"))
                continue
            chosen.append(latest)
        self.state.save()
        chosen.sort(key=lambda k: self.state.entries[k]["seen"])
        return chosen

    def _supersede(self, term: dict, older: str, latest: str) -> None:
        entry, newer = self.state.entries[older], self.state.entries[latest]
        entry["status"] = "superseded"
        self._release(entry, feedback.notice_page(
            entry["assignment"], "Not graded", self._show(term, entry["assignment"], _moment(entry["timestamp"])), "",
            f"A later submission of yours (submitted {self._show(term, entry['assignment'], _moment(newer['timestamp']))}) arrived before "
            "this one's turn, so only the later one is graded: fetch its feedback."), "superseded")

    def _limited_page(self, term: dict, entry: dict, used: int, next_at: dt.datetime) -> str:
        a = entry["assignment"]
        return feedback.notice_page(
            a, "Practice feedback limit reached", self._show(term, a, _moment(entry["timestamp"])),
            self._show(term, a, self.deadline(term, entry["student"], a)),
            f"You have had {used} practice feedbacks on {a} in the last {self.settings.window_hours:g} hours "
            f"(at most {self.settings.practice_feedbacks}). This submission is kept.",
            f"Next feedback at {self._show(term, a, next_at)}: your latest submission then is graded "
            "(before your deadline; your final grade comes from your last submission before it, whatever the limit).")

    # ---------------------------------------------------------------------------- 4. practice
    def grade_practice(self, term: dict, keys: list[str]) -> int:
        from ..grading.orchestration import coordinator

        for assignment in self.assignments:
            batch = [k for k in keys if self.state.entries[k]["assignment"] == assignment]
            if not batch:
                continue
            for key in batch:
                entry = self.state.entries[key]
                entry["status"], entry["attempts"] = "grading", entry["attempts"] + 1
                self._place(self.practice, entry, key)
            self.state.save()  # marked before grading: a kill now grades them again at the next start
            results = coordinator.grade(self.practice, assignment, [self.state.entries[k]["student"] for k in batch],
                                        jobs=self.jobs, scheduler=self.scheduler, limits=self.limits, force=True,
                                        progress=False, log=self._grading_log, allow_unsandboxed=self.allow_unsandboxed)
            by_student = {r.student: r for r in results}
            for key in batch:
                entry = self.state.entries[key]
                result = by_student.get(entry["student"])
                if result is None:
                    entry["status"] = "queued"  # no result (should not happen): tried again, MAX_ATTEMPTS at most
                    continue
                self._record_practice(term, entry, result)
            self.state.save()
        return len(keys)

    def _record_practice(self, term: dict, entry: dict, result) -> None:
        a, now = entry["assignment"], self.now()
        window = dt.timedelta(hours=self.settings.window_hours)
        used = len(self._practice_times(entry["student"], a, now - window)) + 1
        left = (f"Practice feedbacks on {a}: {used} of {self.settings.practice_feedbacks} in the last "
                f"{self.settings.window_hours:g} hours.")
        html = feedback.practice_page(result, self._show(term, a, _moment(entry["timestamp"])),
                                      self._show(term, a, self.deadline(term, entry["student"], a)),
                                      a not in self.settings.hide_points, left,
                                      feedback.visible_errors(self.practice.autograded_notebook(entry["student"], a)))
        entry.update(status="practice", graded_at=_iso(now), score=result.score, max_score=result.max_score,
                     reason=result.reason, mistakes=sorted({m.get("id", "") for m in result.mistakes}))
        self._release(entry, html, "practice")
        self._progress(entry, "practice", result)

    def _place(self, course: Course, entry: dict, key: str) -> None:
        """The kept submission into course's submitted/<student>/<assignment>/, replacing what was there
        (a temporary folder, then renamed: nnfs grade never sees half a submission)."""
        kept = self.folder / "submissions" / entry["student"] / entry["assignment"] / key
        dest = course.root / "submitted" / entry["student"] / entry["assignment"]
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.parent / f".{entry['assignment']}.watch-tmp"
        if tmp.exists():
            shutil.rmtree(tmp)
        shutil.copytree(kept, tmp)
        (tmp / "submission_secret.txt").unlink(missing_ok=True)  # nbgrader's release_feedback is not ours to drive
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)

    # ---------------------------------------------------------------------------- 5. finals
    def finals_due(self, term: dict) -> dict[str, list[tuple[str, str]]]:
        """assignment -> [(student, key)] whose deadline has passed and whose final grade is not from that key."""
        now = self.now()
        todo: dict[str, list] = {}
        groups: dict[tuple, list] = {}  # one pass over the entries: a term has thousands
        for k, e in self.state.entries.items():
            if e["status"] != "refused":
                groups.setdefault((e["student"], e["assignment"]), []).append((k, e))
        for (student, assignment), mine in sorted(groups.items()):
            deadline = self.deadline(term, student, assignment)
            if deadline is None or now <= deadline:
                continue
            on_time = [(k, e) for k, e in mine if not is_late(e, deadline, self.settings.check_written_at)]
            pool = on_time or mine  # no on-time submission: the latest, under the late policy
            key = max(pool, key=lambda ke: (ke[1]["timestamp"] or "", ke[1]["seen"]))[0]
            if self.state.finals.get(f"{assignment}/{student}", {}).get("key") != key:
                todo.setdefault(assignment, []).append((student, key))
        return todo

    def grade_finals(self, term: dict) -> int:
        from ..grading.orchestration import coordinator

        done = 0
        for assignment, pairs in self.finals_due(term).items():
            for student, key in pairs:
                self._place(self.course, self.state.entries[key], key)
            results = coordinator.grade(self.course, assignment, [s for s, _ in pairs], jobs=self.jobs, scheduler=self.scheduler,
                                        limits=self.limits, force=True, progress=False, log=self._grading_log,
                                        allow_unsandboxed=self.allow_unsandboxed)
            by_student = {r.student: r for r in results}
            for student, key in pairs:
                if student not in by_student:  # not expected (grade() answers for each): recorded as an error, not retried forever
                    by_student[student] = pipeline.StudentResult(student, assignment, status="error", reason="the final grading gave no result")
                    results.append(by_student[student])
                result = by_student[student]
                entry = self.state.entries[key]
                count = sorted(e["timestamp"] or "" for e in self.state.entries.values()
                               if e["student"] == student and e["assignment"] == assignment and e["status"] != "refused")
                result.notes = [n for n in result.notes if not n.startswith(FINAL_NOTE)]
                result.notes.append(f"{FINAL_NOTE}{self._show(term, assignment, _moment(entry['timestamp']))} "
                                    f"({count.index(entry['timestamp'] or '') + 1} of {len(count)}, by nnfs watch)")
            # The gradebook's scores and late penalties, as nnfs grade's export works them out (cli._export).
            saved = pipeline.save_results(self.course, results)
            pipeline.save_results(self.course, penalties.apply(self.course, pipeline.with_gradebook_scores(self.course, saved)))
            for student, key in pairs:
                result = by_student[student]
                entry = self.state.entries[key]
                page = self.course.feedback_html(student, assignment)
                html = page.read_text(encoding="utf-8", errors="replace") if page.is_file() else feedback.notice_page(
                    assignment, "Final grade", self._show(term, assignment, _moment(entry["timestamp"])), "",
                    f"Your notebook could not be graded: {result.reason}")
                self.state.finals[f"{assignment}/{student}"] = {"key": key, "graded_at": _iso(self.now()),
                                                               "score": pipeline.final_score(result), "max_score": result.max_score}
                self._release(entry, html, "final")
                self._progress(entry, "FINAL", result)
                done += 1
            self.state.save()
        self._note_late(term)
        return done

    def _note_late(self, term: dict) -> None:
        """A late submission that is not the final one is told where the grade comes from (once)."""
        for key, e in self.state.entries.items():
            if e["status"] != "late" or e.get("page"):
                continue
            final = self.state.finals.get(f"{e['assignment']}/{e['student']}")
            if final is None or final["key"] == key:
                continue
            chosen = self.state.entries[final["key"]]
            a = e["assignment"]
            self._release(e, feedback.notice_page(
                a, "Not graded", self._show(term, a, _moment(e["timestamp"])), self._show(term, a, self.deadline(term, e["student"], a)),
                "This submission arrived after your deadline, so it is not graded.",
                f"Your grade comes from your last submission before the deadline, submitted {self._show(term, a, _moment(chosen['timestamp']))}."),
                "late")
        self.state.save()

    # ---------------------------------------------------------------------------- release, progress
    def _release(self, entry: dict, html: str, kind: str) -> None:
        if entry["secret_hash"]:
            feedback.release(self.exchange_course, entry["secret_hash"], html)
            entry["page"] = kind
            entry["released_at"] = _iso(self.now())

    def _grading_log(self, line: str) -> None:
        """What coordinator.grade prints (warnings, config notes): once per watcher, not once per submission."""
        if line not in self._said:
            self._said.add(line)
            self.log(line)

    def _clock(self) -> str:
        return f"{self.now():%H:%M:%S}"

    def _progress(self, entry: dict, kind: str, result) -> None:
        if result.status == "graded":
            outcome = f"{result.score:g} / {result.max_score:g}"
            ids = sorted({m.get("id", "") for m in result.mistakes})
            if ids:
                outcome += f" ({', '.join(ids)})"
        else:
            outcome = f"error: {result.reason}"
        stamp = _moment(entry["timestamp"])
        latency = f"; feedback {max(0.0, (utc_now() - stamp).total_seconds()):.1f} s after submitting" if stamp else ""
        self.log(for_terminal(f"{self._clock()} {kind} {entry['student']} {entry['assignment']}: {outcome}{latency}"))

    # ---------------------------------------------------------------------------- loop
    def step(self) -> dict:
        term = store.load(self.course)  # again each pass: due dates and extensions change during a term
        new = self.scan(term)
        practice = self.grade_practice(term, self.plan(term))
        finals = self.grade_finals(term)
        return {"new": new, "practice": practice, "finals": finals}

    def run(self, once: bool = False) -> None:
        while True:
            counts = self.step()
            if once:
                return
            if not counts["new"] and not counts["practice"] and not counts["finals"]:
                time.sleep(self.settings.poll_seconds)


def status_table(course: Course) -> str:
    """For the instructor: per student and assignment, what the watcher saw and where the final grade came from."""
    state = State(course.root / WATCH_DIR / "state.json")
    rows = {}
    for key, e in state.entries.items():
        row = rows.setdefault((e["student"], e["assignment"]), {"submissions": 0, "practice": 0, "waiting": "", "last": ""})
        row["submissions"] += 1
        row["practice"] += e["status"] == "practice"
        row["last"] = max(row["last"], e["timestamp"] or "")
        if e["status"] == "waiting":
            row["waiting"] = e.get("not_before", "")
    lines = [["student", "assignment", "submissions", "practice", "last submitted", "final from", "final score"]]
    for (student, assignment), row in sorted(rows.items()):
        final = state.finals.get(f"{assignment}/{student}")
        chosen = state.entries.get(final["key"], {}) if final else {}
        score = "" if not final or final.get("score") is None else f"{final['score']:g} / {final['max_score']:g}"
        lines.append([student, assignment, str(row["submissions"]), str(row["practice"]) + (f" (next {row['waiting']})" if row["waiting"] else ""),
                      row["last"], chosen.get("timestamp") or ("-" if not final else "unknown time"), score])
    widths = [max(len(r[i]) for r in lines) for i in range(len(lines[0]))]

    return "\n".join(for_terminal("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()) for r in lines)

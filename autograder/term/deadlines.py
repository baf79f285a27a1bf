"""Due dates, extensions and the late policy.

A due date is given as local wall time in a named time zone (``nnfs due a1_helpers "2026-12-10 23:59"
--tz Europe/London``) and stored in the gradebook as nbgrader stores it (``Assignment.duedate``, naive
UTC), with the wall time and zone kept in term.json for showing it. A wall time that does not exist (the
hour skipped when clocks go forward) is refused; one that happens twice (the hour repeated when they go
back) is taken at its second, later occurrence: the reading kinder to students.

An extension is ``--hours N`` (N real hours after the due date, whatever the clocks do) or ``--until
DATE`` (a wall time, converted like a due date). It is kept in term.json as given and copied onto the
submission's ``extension`` in the gradebook (nbgrader's place, which formgrader uses) once it exists.

Lateness is nbgrader's: ``max(0, timestamp - (duedate + extension))`` in seconds, the timestamp being
the submission's ``timestamp.txt`` (nbgrader's exchange writes it; the coordinator reads it as untrusted
data). Submitted exactly at the deadline is on time; one second after is late.

The penalty is nbgrader's ``LateSubmissionPlugin``, extended (``LatePenalty``, configured in
nbgrader_config.py): ``late_submission_penalty(student_id, score, seconds_late)`` per notebook, clamped to
``[0, score]`` as nbgrader's ``AssignLatePenalties`` does. It is always computed from the raw (verified)
score, never from a score already reduced, so regrading or exporting again never applies it twice.
"""

from __future__ import annotations

import datetime as dt
import math
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Enum, Float

DAY = 86400.0


class LatePenalty(LateSubmissionPlugin):
    """nbgrader's late-submission methods and two more, with an optional hard cut-off.

    ``penalty_method``:
      - ``none``: no penalty (nbgrader's);
      - ``zero``: the whole score (nbgrader's);
      - ``subtract``: ``subtract_points`` once, for any lateness;
      - ``per_day``: ``percent_per_day`` percent of the score for every started day late (1 second late is
        one day, 24 h 1 s two), at most ``max_percent`` percent.
    ``cutoff_days`` (0: none): later than that many days, the penalty is the whole score, whatever the method.
    """

    penalty_method = Enum(("none", "zero", "subtract", "per_day"), default_value="none",
                          help="none, zero, subtract (a fixed number of points) or per_day (a percentage per started day)").tag(config=True)
    subtract_points = Float(0.0, help="points taken off a late notebook (penalty_method 'subtract')").tag(config=True)
    percent_per_day = Float(0.0, help="percent of the score taken off per started day late ('per_day')").tag(config=True)
    max_percent = Float(100.0, help="the most a 'per_day' penalty takes, in percent of the score").tag(config=True)
    cutoff_days = Float(0.0, help="later than this many days the score is 0 (0: no cut-off)").tag(config=True)

    def late_submission_penalty(self, student_id, score, total_seconds_late):
        if not total_seconds_late or total_seconds_late <= 0 or score is None:
            return None
        score = float(score)
        if self.cutoff_days and total_seconds_late > self.cutoff_days * DAY:
            return score
        if self.penalty_method == "zero":
            return score
        if self.penalty_method == "subtract":
            return self.subtract_points
        if self.penalty_method == "per_day":
            days = math.ceil(total_seconds_late / DAY)
            return score * min(self.max_percent, days * self.percent_per_day) / 100.0
        return None

    def describe(self) -> str:
        if self.penalty_method == "zero":
            text = "a late notebook scores 0"
        elif self.penalty_method == "subtract":
            text = f"-{self.subtract_points:g} points if late"
        elif self.penalty_method == "per_day":
            text = f"-{self.percent_per_day:g}% per started day late, at most {self.max_percent:g}%"
        else:
            text = "no late penalty"
        if self.cutoff_days:
            text += f"; 0 after {self.cutoff_days:g} days"
        return text


def clamp(penalty, score) -> float:
    """nbgrader's AssignLatePenalties: never below 0, never more than the score."""
    if penalty is None or score is None:
        return 0.0
    return float(min(max(0.0, float(penalty)), max(0.0, float(score))))


def policy(course) -> LatePenalty:
    return LatePenalty(config=course.config())


# --------------------------------------------------------------------------------------- times


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SystemExit(f"unknown time zone {name!r}: use an IANA name such as Europe/London or America/New_York") from None


FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d")


def parse_local(text: str, tz_name: str) -> dt.datetime:
    """A wall time in a zone -> an aware UTC datetime. A date alone means 23:59:59 that day."""
    text = text.strip()
    for fmt in FORMATS:
        try:
            naive = dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
        if fmt == "%Y-%m-%d":
            naive = naive.replace(hour=23, minute=59, second=59)
        break
    else:
        raise SystemExit(f"cannot read the date {text!r}: write it as YYYY-MM-DD HH:MM (24-hour clock)")
    tz = zone(tz_name)
    first, second = naive.replace(tzinfo=tz, fold=0), naive.replace(tzinfo=tz, fold=1)
    if first.utcoffset() != second.utcoffset():
        # Either the hour repeated (both are real: take the later) or the hour skipped (neither is).
        back = first.astimezone(dt.timezone.utc).astimezone(tz).replace(tzinfo=None)
        if back != naive:
            raise SystemExit(f"{text} does not exist in {tz_name} (the clocks go forward then): choose another time")
        return max(first, second, key=lambda t: t.astimezone(dt.timezone.utc)).astimezone(dt.timezone.utc)
    return first.astimezone(dt.timezone.utc)


def as_naive_utc(moment: dt.datetime) -> dt.datetime:
    """nbgrader's form: naive, in UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return moment


def from_iso(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def show(moment: dt.datetime, tz_name: str = "UTC") -> str:
    local = moment.replace(tzinfo=moment.tzinfo or dt.timezone.utc).astimezone(zone(tz_name))
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()}"


def extension_delta(ext: dict | None, due_utc: dt.datetime | None) -> dt.timedelta | None:
    """An extension as given (term.json) -> the interval after the due date nbgrader stores."""
    if not ext or due_utc is None:
        return None
    if "hours" in ext:
        return dt.timedelta(hours=float(ext["hours"]))
    if "until_utc" in ext:
        return max(dt.timedelta(0), from_iso(ext["until_utc"]) - due_utc.replace(tzinfo=due_utc.tzinfo or dt.timezone.utc))
    return None


def seconds_late(timestamp: dt.datetime | None, due: dt.datetime | None, extension: dt.timedelta | None = None) -> float:
    """nbgrader's SubmittedAssignment.total_seconds_late, for aware or naive-UTC datetimes."""
    if timestamp is None or due is None:
        return 0.0
    deadline = as_naive_utc(due) + (extension or dt.timedelta(0))
    return max(0.0, (as_naive_utc(timestamp) - deadline).total_seconds())


def read_timestamp(text: str, tz_name: str = "UTC") -> tuple[dt.datetime | None, str]:
    """A submission's timestamp.txt -> (aware UTC datetime or None, a note for the instructor or "").

    nbgrader writes it as ``Exchange.timestamp_format`` ("%Y-%m-%d %H:%M:%S.%f %Z") in ``Exchange.timezone``
    (UTC unless configured) and reads it with ``nbgrader.utils.parse_utc``, which takes a zone name that
    ``dateutil.tz.gettz`` does not know (BST, CEST, EDT, JST: most summer-time names) as UTC: an hour or more
    off, enough to make an on-time student late. This reads it as nbgrader does, except such a name: it is
    read in the assignment's due-date zone when that zone uses the name at that moment (BST in Europe/London
    in summer), else as UTC with a note saying so. Unreadable text gives None (never late) and a note."""
    from dateutil.tz import gettz
    from nbgrader.utils import parse_utc

    text = text.strip()
    try:
        moment = parse_utc(text)
    except (ValueError, TypeError, OverflowError):
        return None, f"submission time unreadable ({text[:40]!r}): taken as on time"
    parts = text.split(" ")
    if len(parts) != 3 or not parts[2].isalpha() or gettz(parts[2]) is not None:
        return moment.replace(tzinfo=dt.timezone.utc), ""
    name = parts[2]
    try:
        local_zone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        local_zone = None
    for fold in (0, 1):
        local = moment.replace(tzinfo=local_zone, fold=fold) if local_zone else None
        if local is not None and local.tzname() == name:
            return local.astimezone(dt.timezone.utc), ""
    return moment.replace(tzinfo=dt.timezone.utc), f"submission time zone {name} unknown: read as UTC, as nbgrader does"


def describe_lateness(seconds: float) -> str:
    days, rest = divmod(int(math.ceil(seconds)), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{minutes} min" if minutes and not days else "",
             f"{secs} s" if secs and not days and not hours else ""]
    return " ".join(p for p in parts if p) or "0 s"

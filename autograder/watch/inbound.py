"""Reading the exchange's inbound folder, where ``nbgrader submit`` puts each submission.

Everything here is hostile data: the entry names (a student makes their own folder and may name it
anything), the files in it, their sizes and the times in them. So, as ``nnfs grade`` reads ``submitted/``
(grading/untrusted.py): files are opened one folder at a time with O_NOFOLLOW, only regular files are read,
with bounded sizes; a student id must match STUDENT_ID; an entry name is never used as a path of ours
(a submission is kept under a key hashed from it). A copy is kept before anything else happens, so that
nothing a student does to their inbound folder later (it is 0777, theirs) changes what was graded.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import pwd
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..grading.orchestration import untrusted
from ..term import deadlines


@dataclass
class Submission:
    key: str  # sha256 of the entry name, 16 hex digits: our name for it, safe as a path
    name: str  # the entry name, as printable ASCII (untrusted.describe), for messages only
    student: str  # a valid id, or a stand-in id where refused
    assignment: str
    timestamp: dt.datetime | None  # aware UTC, from timestamp.txt; None where unreadable
    notebook: bytes | None = None
    timestamp_text: str = ""
    secret: str = ""  # submission_secret.txt: names the feedback page (nbgrader.utils.notebook_hash)
    refusal: str = ""  # why it is not graded; the student reads this on their page
    written_at: dt.datetime | None = None  # the latest change time (ctime) of the folder and its notebook: see written_at()
    note: str = ""  # for the instructor (a timestamp read as UTC, say)


def entry_key(name: str) -> str:
    return hashlib.sha256(os.fsencode(name)).hexdigest()[:16]


def _owner(inbound: Path, name: str) -> str | None:
    """The account that made the entry (lstat: a link is not followed), or None where it has no name."""
    try:
        uid = os.lstat(inbound / name).st_uid
        return pwd.getpwuid(uid).pw_name
    except (KeyError, OSError):
        return None


def entry_names(inbound: Path) -> list[str]:
    """The names in inbound (the instructor may list it; students may not)."""
    try:
        return sorted(e.name for e in os.scandir(inbound))
    except FileNotFoundError:
        return []


def parse_name(name: str, assignments) -> tuple[str, str] | None:
    """(student, assignment) from ``<student>+<assignment>+<timestamp>[+<random>]`` as nbgrader submit names
    it; None for an entry of another assignment (not ours to read). nbgrader collect splits from the right,
    so an id could hold '+': ours cannot (STUDENT_ID), and such an entry is refused below."""
    parts = name.rsplit("+", 3)
    if len(parts) == 4 and parts[1] in assignments:
        return parts[0], parts[1]
    parts = name.rsplit("+", 2)
    if len(parts) == 3 and parts[1] in assignments:
        return parts[0], parts[1]
    return None


def read(inbound: Path, name: str, student: str, assignment: str, check_owner: bool, tz_name: str) -> Submission:
    """One inbound entry, read as untrusted data. A refusal is a reason, never an exception."""
    sub = Submission(key=entry_key(name), name=untrusted.describe(name), student=student, assignment=assignment, timestamp=None)
    if not untrusted.is_valid_student_id(student):
        sub.student = untrusted.stand_in_id(student)
        sub.refusal = f"the user name in {sub.name} is not a valid student id"
    elif check_owner:
        # nbgrader collect only warns when the folder's owner is not the student it names (CollectApp.check_owner);
        # here a forged name would spend another student's practice feedbacks or replace their final grade.
        owner = _owner(inbound, name)
        if owner != student:
            sub.refusal = f"submitted as {student} by the account {owner or 'with no name'}: refused (c.CollectApp.check_owner)"

    def small(file: str) -> str:
        try:
            return untrusted.read_regular_file(inbound, [name, file], untrusted.SMALL_FILE_MAX_BYTES).decode("utf-8", "replace")
        except untrusted.RefusedFile:
            return ""

    sub.secret = small("submission_secret.txt").strip()
    sub.timestamp_text = small("timestamp.txt")
    if sub.timestamp_text:
        sub.timestamp, sub.note = deadlines.read_timestamp(sub.timestamp_text, tz_name)
    else:
        sub.note = "no timestamp.txt in the submission"
    sub.written_at = written_at(inbound, name, assignment)
    if not sub.refusal:
        try:
            sub.notebook = untrusted.read_regular_file(inbound, [name, f"{assignment}.ipynb"], untrusted.NOTEBOOK_MAX_BYTES)
        except untrusted.RefusedFile as exc:
            sub.refusal = str(exc)
    return sub


def keep(kept_root: Path, sub: Submission) -> Path:
    """The submission's files under ``kept_root/<student>/<assignment>/<key>/``, written to a temporary folder
    and renamed, so that a folder there is always whole. A second call (after a crash) replaces it."""
    dest = kept_root / sub.student / sub.assignment / sub.key
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{sub.key}-", dir=dest.parent))
    try:
        if sub.notebook is not None:
            (tmp / f"{sub.assignment}.ipynb").write_bytes(sub.notebook)
        if sub.timestamp_text:
            (tmp / "timestamp.txt").write_text(sub.timestamp_text)
        if sub.secret:
            (tmp / "submission_secret.txt").write_text(sub.secret)
        os.chmod(tmp, 0o700)
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def written_at(inbound: Path, name: str, assignment: str) -> dt.datetime | None:
    """When the submission's files were last written, by the file system's clock: the latest ctime of the
    folder and its notebook. timestamp.txt is written by the student's own nbgrader, so it can be backdated;
    a ctime cannot be set back by its owner (touch sets mtime and atime only), so a submission made after the
    deadline and dated before it still shows a ctime after it (watcher.is_late)."""
    times = []
    for path in (inbound / name, inbound / name / f"{assignment}.ipynb"):
        try:
            times.append(os.lstat(path).st_ctime)
        except OSError:
            pass
    return dt.datetime.fromtimestamp(max(times), dt.timezone.utc) if times else None


def is_directory(inbound: Path, name: str) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(inbound / name).st_mode)
    except OSError:
        return False

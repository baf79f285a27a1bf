"""Reading what students control, and showing it: submission folders, files, ids and text.

A submission folder is hostile data. It may hold links (``unzip``, ``tar``, ``cp -a`` and ``rsync -a``
keep them) to the instructor's ``source/`` notebook, a classmate's notebook or a device; its name (the
student id) may be markup, a spreadsheet formula or terminal control codes. So:

- files are read, never followed: every folder on the way is opened with ``O_NOFOLLOW`` relative to the
  one before (no path is resolved twice), and only a regular file is read, up to a stated size;
- a student id is a plain token (``STUDENT_ID``). Other folder names are refused, not renamed: a renamed
  id would grade a submission under an identity no roster or LMS knows, and nbgrader's formgrader shows
  ids unescaped. A refused folder is reported under a stand-in id made from its name's hash;
- text that reaches a medium is escaped for that medium: ``for_terminal`` (no control characters, no
  bidirectional overrides), ``for_csv`` (no cell a spreadsheet would run as a formula); HTML is escaped by
  the templates that render it (Jinja2 with autoescape) and by the sanitizer for notebooks.

Written by hand because it is specific to this course's layout; the primitives are the OS's (openat
with O_NOFOLLOW, fstat).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import unicodedata
from pathlib import Path

# Letters, digits and . _ - @ (JupyterHub names, e-mail-like ids, SIS ids), starting with a letter or
# digit, at most 64 characters. Nothing here means anything to HTML, CSV, a shell or a terminal.
STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")

NOTEBOOK_MAX_BYTES = 32 * 1024 * 1024  # a course notebook with its outputs is under 3 MB (a5 with plots)
SMALL_FILE_MAX_BYTES = 4096  # timestamp.txt, submission_secret.txt


class RefusedFile(Exception):
    """A submission file that is not read: its message says why, for that student's row."""


def is_valid_student_id(name: str) -> bool:
    return isinstance(name, str) and STUDENT_ID.fullmatch(name) is not None


def stand_in_id(name: str) -> str:
    """A safe, stable id under which a refused folder is reported (the same folder gets the same one)."""
    raw = os.fsencode(name) if isinstance(name, str) else bytes(name)
    return "invalid-id-" + hashlib.sha256(raw).hexdigest()[:10]


def describe(name: str) -> str:
    """A folder or file name as plain printable ASCII, quoted: safe in any medium once HTML-escaped."""
    text = os.fsdecode(name) if isinstance(name, bytes) else name
    shown = ascii(text)
    return shown if len(shown) <= 120 else shown[:117] + "...'"


def _open_dir(name: str, dir_fd: int | None) -> int:
    return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)


def read_regular_file(root: Path, parts: list[str], max_bytes: int) -> bytes:
    """The bytes of root/parts[0]/.../parts[-1], refusing links (at any step below ``root``), anything that
    is not a regular file, and files over ``max_bytes``. ``root`` is the instructor's (e.g. submitted/)."""
    fds = []
    try:
        fd = os.open(str(root), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fds.append(fd)
        for part in parts[:-1]:
            try:
                fd = _open_dir(part, fd)
            except OSError as exc:
                raise RefusedFile(_why(part, fds[-1], exc, "folder")) from None
            fds.append(fd)
        name = parts[-1]
        try:
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            raise RefusedFile(f"no {describe(name)} in the submission folder") from None
        if not stat.S_ISREG(info.st_mode):
            raise RefusedFile(f"{describe(name)} is {_kind(info.st_mode)}, not a file: it was not read")
        if info.st_size > max_bytes:
            raise RefusedFile(f"{describe(name)} is {info.st_size / 2**20:.1f} MB, over the {max_bytes / 2**20:g} MB limit: it was not read")
        # O_NOFOLLOW and O_NONBLOCK: if the entry was swapped for a link or a FIFO since the stat, the open
        # fails or returns at once, and the fstat below refuses it.
        file_fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=fd)
        fds.append(file_fd)
        info = os.fstat(file_fd)
        if not stat.S_ISREG(info.st_mode):
            raise RefusedFile(f"{describe(name)} is {_kind(info.st_mode)}, not a file: it was not read")
        chunks, size = [], 0
        while size <= max_bytes:
            chunk = os.read(file_fd, min(1 << 20, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > max_bytes:
            raise RefusedFile(f"{describe(name)} is over the {max_bytes / 2**20:g} MB limit: it was not read")
        return b"".join(chunks)
    except OSError as exc:  # EIO from a broken file system, say: that student's problem, not the class's
        raise RefusedFile(f"{describe(parts[-1])} could not be read ({os.strerror(exc.errno) if exc.errno else exc})") from None
    finally:
        for fd in reversed(fds):
            os.close(fd)


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a link"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _why(part: str, dir_fd: int, exc: OSError, what: str) -> str:
    try:
        info = os.stat(part, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return f"no {what} {describe(part)} in the submission"
    if stat.S_ISLNK(info.st_mode):
        return f"the {what} {describe(part)} is a link: links in submissions are not followed"
    return f"the {what} {describe(part)} is {_kind(info.st_mode)}, not a {what}"


def submission_folders(submitted: Path, assignment: str) -> list[tuple[str, str | None]]:
    """[(folder name, refusal or None)] for every entry of submitted/ that has this assignment, without
    following links: a folder that is a link, or whose assignment folder is one, is listed refused."""
    try:
        entries = sorted(os.listdir(submitted))
    except FileNotFoundError:
        return []
    found = []
    for name in entries:
        try:
            info = os.stat(submitted / name, follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISLNK(info.st_mode):
            # Listed only if the link leads to something with this assignment (it would have been graded).
            if (submitted / name / assignment).is_dir():
                found.append((name, f"the submission folder {describe(name)} is a link: links are not followed"))
            continue
        if not stat.S_ISDIR(info.st_mode):
            continue
        try:
            inner = os.stat(submitted / name / assignment, follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISLNK(inner.st_mode):
            found.append((name, f"the folder {describe(name)}/{describe(assignment)} is a link: links are not followed"))
        elif stat.S_ISDIR(inner.st_mode):
            found.append((name, None))
    return found


# ------------------------------------------------------------------------------------- escaping

_BIDI = {"\u061c", "\u200e", "\u200f", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"}


def for_terminal(text) -> str:
    """Text with every control character (C0, DEL, C1: escape sequences, carriage returns, bells) and
    bidirectional override shown as an escape, so a string cannot move the cursor, recolour or reorder
    what a terminal shows."""
    text = str(text)
    if text.isprintable() and not (_BIDI & set(text)):
        return text
    out = []
    for char in text:
        if char in _BIDI or unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
            out.append(ascii(char)[1:-1])
        else:
            out.append(char)
    return "".join(out)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def for_csv(value) -> str:
    """A cell that no spreadsheet runs as a formula (OWASP's CSV injection advice: a leading quote),
    with control characters escaped. Numbers pass unchanged."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:g}" if isinstance(value, float) else str(value)
    text = for_terminal(value)
    if text.startswith(_FORMULA_START):
        return "'" + text
    return text

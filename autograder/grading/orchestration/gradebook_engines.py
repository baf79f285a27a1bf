"""One database engine per gradebook file while a grading step runs, instead of one per ``Gradebook(...)``.

Autograding one notebook opens nbgrader's ``Gradebook`` eleven times (each preprocessor and each step of
``init_assignment`` opens its own), and every opening makes a new SQLAlchemy engine, lists the tables, runs
``create_all`` over every table and compiles every query afresh (an engine's compiled-query cache dies
with it).  Inside
``shared_engines()``, every ``Gradebook`` of the same URL after the first reuses the first one's engine and
skips the table checks, which the first opening made true; everything else (sessions, ``check_course``,
``close``) is nbgrader's. nbgrader has no setting for this, so it is done here, for nbgrader 0.9 (pinned in
pyproject.toml), and only while a block runs: the engines are disposed and nbgrader's own ``__init__`` is
back when it ends. The grading tests check that a notebook graded inside it gets the same records.
"""

from __future__ import annotations

import contextlib
import os
import threading

_LOCK = threading.Lock()
_PATCHED = None  # nbgrader's own Gradebook.__init__ while a block runs in this process


def _in_forked_child() -> None:
    """A process forked inside a block (a pool's new worker) starts with nbgrader's own __init__ and a lock
    nobody holds: the block, its engines and its lock belong to the parent."""
    global _LOCK, _PATCHED
    _LOCK = threading.Lock()
    if _PATCHED is not None:
        from nbgrader import api

        api.Gradebook.__init__, _PATCHED = _PATCHED, None


os.register_at_fork(after_in_child=_in_forked_child)


@contextlib.contextmanager
def shared_engines(keep: dict | None = None):
    """Inside the block, one engine per gradebook URL. ``keep`` (a dict the caller holds) keeps the engines for
    later blocks, for their compiled queries: only for a URL whose file is always a copy of one template (the
    worker's throwaway course, at the same path for every task), whose tables are known to exist. Each engine's
    connections are closed when a block ends, so the next block opens the file that is there then."""
    from nbgrader import api
    from sqlalchemy.orm import scoped_session, sessionmaker

    original = api.Gradebook.__init__
    engines: dict = {} if keep is None else keep  # db_url -> the engine of its first Gradebook

    def init(self, db_url, course_id="default_course", authenticator=None):
        engine = engines.get(db_url)
        if engine is None:
            original(self, db_url, course_id, authenticator)
            engines[db_url] = self.engine
            return
        # nbgrader's __init__ without the engine's creation and the table checks (api.Gradebook.__init__)
        self.engine = engine
        self.db = scoped_session(sessionmaker(autoflush=True, bind=engine, future=True))
        self.check_course(course_id=course_id)
        self.course_id = course_id
        self.authenticator = authenticator

    global _PATCHED
    with _LOCK:  # one block at a time per process: the patch is process-wide
        api.Gradebook.__init__, _PATCHED = init, original
        try:
            yield
        finally:
            api.Gradebook.__init__, _PATCHED = original, None
            for engine in engines.values():
                engine.dispose()

"""The watcher's settings, read from the course's ``nbgrader_config.py`` like nbgrader's own.

In nbgrader_config.py rather than term.json: they are course policy, committed with the course, while
term.json holds this term's people (git-ignored)::

    c.Watch.practice_feedbacks = 3      # practice feedbacks per student and assignment ...
    c.Watch.window_hours = 24           # ... in any window of this many hours
    c.Watch.hide_points = ["a4_mnist"]  # assignments whose practice feedback names mistakes but shows no points
    c.Watch.poll_seconds = 5            # how often the exchange is read
    c.Watch.check_written_at = True     # a submission written after the deadline is late whatever timestamp.txt says
"""

from __future__ import annotations

from traitlets import Bool, Float, Int, List, Unicode
from traitlets.config import Configurable


class Watch(Configurable):
    practice_feedbacks = Int(3, help="practice feedbacks per student and assignment in any window of window_hours").tag(config=True)
    window_hours = Float(24.0, help="the rate limit's window, in hours").tag(config=True)
    hide_points = List(Unicode(), help="assignments whose practice feedback shows no points").tag(config=True)
    poll_seconds = Float(5.0, help="seconds between two reads of the exchange").tag(config=True)
    check_written_at = Bool(True, help="also take a submission as late when its files were written (ctime) after the deadline; "
                                       "turn off after copying an exchange to another file system (a copy gets new ctimes)").tag(config=True)


def load(course) -> Watch:
    return Watch(config=course.config())

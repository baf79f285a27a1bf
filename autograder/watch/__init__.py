"""``nnfs watch``: feedback before the deadline, through nbgrader's own exchange.

A long-running instructor command (autograder/watch/watcher.py) that

- reads the exchange's ``inbound/`` as ``nbgrader collect`` does (inbound.py: every entry is hostile data),
  keeps a copy of each submission under ``watch/submissions/`` before anything else happens to it;
- grades a student's latest submission as *practice* while their deadline (with an extension) has not
  passed, with the same sandboxed pipeline as ``nnfs grade`` (``coordinator.grade``) in a course of its own,
  ``watch/practice/``, so practice never touches the real gradebook; rate-limited per student and assignment;
- after the deadline grades the last on-time submission once more in the real course, the usual way: that
  is the final grade (``grading_status.json`` notes which submission it came from);
- hands every page back through nbgrader's feedback exchange (feedback.py), where ``nbgrader
  fetch_feedback`` and the Assignments tab look for it;
- keeps its state in ``watch/state.json`` (state.py), written atomically after every step, so that a
  killed watcher started again goes on exactly where it was.
"""

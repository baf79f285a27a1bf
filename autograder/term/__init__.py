"""A term's bookkeeping: the roster, due dates and extensions, late penalties, LMS exports, the audit trail.

State lives in nbgrader's gradebook where it has a place for it (a student's first/last name, email and
``lms_user_id``; an assignment's ``duedate``; a submission's ``extension``; a notebook's
``late_submission_penalty``) and the rest in the course file ``term.json`` (store.py): the roster's
sections and LMS ids, the time zone a due date was given in, extensions as the instructor gave them.
The late policy is configured in ``nbgrader_config.py`` (deadlines.LatePenalty). Every score change is
appended to ``audit.jsonl`` (audit.py).
"""

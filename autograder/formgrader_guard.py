"""Formgrader, made safe for student ids a student chose (nbgrader 0.9.6).

nbgrader's formgrader lists every folder of ``submitted/`` as a student, whatever its name, and its page
templates (a Jinja2 environment without autoescape) write the id into the page as it is, inside a script
(``var student_id = "{{ student_id }}"``) and in links. A submission folder named like markup, or a link
crafted to ``/formgrader/manage_students/<markup>``, ran its script in the instructor's session, which can
write any file of the course through the Jupyter server (tests/test_browser.py shows it did). `nnfs grade`
refuses such folders (grading/orchestration/untrusted.py), but formgrader reads the folder itself. So, when formgrader
loads the course's nbgrader_config.py (which calls ``install()``), its page templates get autoescape (every
variable is HTML-escaped: the ids' characters show as text, and a valid id is unchanged) and the folders it
lists as students are those with a valid id.

Written by hand because it patches two of nbgrader's own functions; it does nothing unless formgrader is
loading (its module already imported), so nbgrader's commands and `nnfs` pay nothing for it.
"""

from __future__ import annotations

import sys

FORMGRADER = "nbgrader.server_extensions.formgrader.formgrader"


def install() -> bool:
    """Patch formgrader if it is loading in this process; True when it is patched (now or before)."""
    module = sys.modules.get(FORMGRADER)
    if module is None:
        return False
    extension = module.FormgradeExtension
    if getattr(extension, "_nnfs_guarded", False):
        return True
    from jinja2 import Environment, FileSystemLoader
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.server_extensions.formgrader import handlers

    from .grading.orchestration.untrusted import is_valid_student_id

    original_settings = extension.init_tornado_settings

    def init_tornado_settings(self, webapp):
        original_settings(self, webapp)
        webapp.settings["nbgrader_jinja2_env"] = Environment(loader=FileSystemLoader([handlers.template_path]), autoescape=True)

    original_submitted = NbGraderAPI.get_submitted_students

    def get_submitted_students(self, assignment_id):
        return {student for student in original_submitted(self, assignment_id) if is_valid_student_id(student)}

    extension.init_tornado_settings = init_tornado_settings
    NbGraderAPI.get_submitted_students = get_submitted_students
    extension._nnfs_guarded = True
    return True

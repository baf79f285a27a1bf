import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pytest


@pytest.fixture(scope="session")
def released_course(tmp_path_factory):
    """One copy of the course (source/ and nbgrader_config.py) with every assignment released by nbgrader,
    shared by the end-to-end grading tests; each grades its own assignment's students in it."""
    import shutil

    from autograder.grading.orchestration import pipeline
    from autograder.grading.orchestration.course import Course

    root = tmp_path_factory.mktemp("course")
    shutil.copytree(ROOT / "source", root / "source")
    shutil.copy(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    course = Course(root)
    for assignment in course.assignments():
        pipeline.generate_release(course, assignment)
    return course

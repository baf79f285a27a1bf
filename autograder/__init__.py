"""nnfs-course: trusted reference implementations, hidden-test checks and the grading pipeline."""

__version__ = "0.1.0"
